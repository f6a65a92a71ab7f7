//! Black-box tests of create, delete, status and rollback against local fault-injecting nodes.

mod support;

use predicates::prelude::*;
use support::{Fault, Rule, TestEnv, hosts, results};

#[test]
fn create_on_healthy_nodes_reaches_every_node() {
    let env = TestEnv::new(3);
    let report = env.json(&["create", "team-a"], 0);
    assert_eq!(report["operation"], "create");
    assert_eq!(report["group"], "team-a");
    assert_eq!(report["outcome"], "done");
    assert_eq!(hosts(&report), env.urls(), "hosts-file order");
    assert!(
        report["nodes"]
            .as_array()
            .expect("nodes")
            .iter()
            .all(|n| n["result"] == "created" && n["attempts"] == 2)
    );
    assert_eq!(env.holders("team-a"), vec![0, 1, 2]);
    assert!(env.pending().is_empty());
}

#[test]
fn creating_a_group_that_is_everywhere_sends_no_writes() {
    let env = TestEnv::new(3);
    env.seed("g", &[0, 1, 2]);
    env.cmd()
        .args(["create", "g"])
        .assert()
        .code(0)
        .stdout(predicate::str::contains("already present"));
    assert_eq!(env.total_writes(), 0);
}

#[test]
fn deleting_a_group_that_is_nowhere_exits_zero_without_writes() {
    let env = TestEnv::new(3);
    env.cmd().args(["delete", "g"]).assert().code(0);
    assert_eq!(env.total_writes(), 0);
}

#[test]
fn a_node_that_is_down_stops_the_run_before_any_change() {
    let env = TestEnv::new(3);
    env.nodes[2].stop();
    let report = env.json(&["create", "g"], 1);
    assert_eq!(report["outcome"], "rolled_back");
    assert_eq!(report["nodes"][2]["result"], "unreachable");
    assert!(
        report["nodes"][2]["error"]
            .as_str()
            .is_some_and(|e| !e.is_empty())
    );
    assert_eq!(env.total_writes(), 0);
    assert!(env.holders("g").is_empty());
}

/// A final 4xx the read then shows not applied: a node that definitely failed, which no
/// late landing can change (a 5xx or a time-out would leave a verification and exit 3).
fn refuse_posts(node: &support::TestNode) {
    node.add_rule(Rule::new(Fault::Status(422)).method("POST"));
}

#[test]
fn a_node_failing_its_write_makes_the_others_roll_back() {
    let env = TestEnv::new(3);
    refuse_posts(&env.nodes[2]);
    let report = env.json(&["create", "g"], 1);
    assert_eq!(report["outcome"], "rolled_back");
    let results = results(&report);
    assert_eq!(results, ["rolled_back", "rolled_back", "failed"]);
    assert_eq!(report["verifying"], serde_json::json!([]));
    assert!(env.holders("g").is_empty());
    assert_eq!(env.entries(), Vec::<serde_json::Value>::new());
}

#[test]
fn failed_rollback_is_journaled_and_replayed_by_rollback() {
    let env = TestEnv::new(3);
    refuse_posts(&env.nodes[2]);
    env.nodes[0].add_rule(Rule::new(Fault::Status(503)).method("DELETE"));
    let report = env.json(&["create", "g"], 3);
    assert_eq!(report["outcome"], "repairs_pending");
    assert_eq!(report["nodes"][0]["result"], "rollback_pending");
    assert_eq!(env.holders("g"), vec![0]);
    assert_eq!(
        env.pending(),
        vec![("g".to_owned(), env.nodes[0].url(), "delete".to_owned())]
    );

    // Still failing: rollback keeps it and says so.
    env.cmd()
        .arg("rollback")
        .assert()
        .code(3)
        .stdout(predicate::str::contains("pending"));
    assert_eq!(env.pending().len(), 1);

    env.nodes[0].clear_rules();
    let replay = env.json(&["rollback"], 0);
    assert_eq!(replay["repaired"][0]["group"], "g");
    assert_eq!(replay["repaired"][0]["host"], env.nodes[0].url());
    assert_eq!(replay["repaired"][0]["repair"], "delete");
    // Note: the 503s to the undo may still land, as the delete it meant: the
    // journal watches node 0 (not pending), and the replay's list shows it.
    let kinds: Vec<&str> = replay["pending"]
        .as_array()
        .expect("pending")
        .iter()
        .map(|p| p["kind"].as_str().expect("kind"))
        .collect();
    assert_eq!(kinds, ["watch"]);
    assert!(env.holders("g").is_empty());
    assert!(env.pending().is_empty());
}

#[test]
fn the_next_ordinary_invocation_replays_the_journal_first() {
    let env = TestEnv::new(3);
    refuse_posts(&env.nodes[2]);
    env.nodes[0].add_rule(Rule::new(Fault::Reset).method("DELETE"));
    env.cmd().args(["create", "g"]).assert().code(3);
    env.nodes[0].clear_rules();
    env.nodes[2].clear_rules();
    // A create of another group replays g's repair before it reads.
    env.cmd().args(["create", "other"]).assert().code(0);
    assert!(env.pending().is_empty() && env.verifying().is_empty());
    // What stays is a watch: node 0's reset DELETE may still land, which
    // would leave it as the group is meant to be (absent).
    let node0 = env.nodes[0].url();
    assert_eq!(
        env.watching(),
        [("g".to_owned(), node0, "create".to_owned())]
    );
    assert!(env.holders("g").is_empty());
}

#[test]
fn status_only_reads_and_shows_the_pending_repairs_instead_of_applying_them() {
    let env = TestEnv::new(3);
    env.nodes[2].add_rule(Rule::new(Fault::Status(500)).method("POST"));
    env.nodes[0].add_rule(Rule::new(Fault::Reset).method("DELETE"));
    env.cmd().args(["create", "g"]).assert().code(3);
    env.nodes[0].clear_rules();
    env.nodes[2].clear_rules();
    let journal = std::fs::read(env.journal_path()).expect("journal");
    let writes = env.total_writes();
    // Another group: absent from every node (4); g's repair is neither sent nor shown.
    env.cmd().args(["status", "other"]).assert().code(4);
    // g itself: on node 0 only (mixed, 1), and its pending repair and node 3's verification
    // (its 500s may still land) are shown.
    let output = env.cmd().args(["status", "g"]).output().expect("run");
    assert_eq!(output.status.code(), Some(1));
    let stdout = String::from_utf8(output.stdout).expect("utf8");
    assert!(stdout.contains("INCONSISTENT"), "{stdout}");
    assert!(stdout.contains("pending in"), "{stdout}");
    assert!(
        stdout.contains(&format!("repair  {}: delete (failed", env.urls()[0])),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!(
            "verify  {}: a create of ours may still land until",
            env.urls()[2]
        )),
        "{stdout}"
    );
    let report = env.json(&["status", "g"], 1);
    assert_eq!(report["state"], "mixed");
    assert_eq!(report["pending"][0]["host"], env.urls()[0].as_str());
    assert_eq!(report["pending"][0]["action"], "delete");
    assert_eq!(env.total_writes(), writes, "status sent a write");
    assert_eq!(std::fs::read(env.journal_path()).expect("journal"), journal);
}

#[test]
fn status_of_several_groups_exits_by_what_every_node_says() {
    let env = TestEnv::new(2);
    env.seed("a", &[0, 1]);
    env.seed("b", &[0, 1]);
    env.seed("half", &[1]);
    let list = env.dir().join("groups.txt");
    std::fs::write(&list, "# present\nb\n").expect("write");
    let list = list.to_str().expect("utf8");
    env.cmd()
        .args(["status", "a", "--from-file", list])
        .assert()
        .code(0);
    env.cmd().args(["status", "x", "y"]).assert().code(4);
    env.cmd().args(["status", "a", "x"]).assert().code(1);
    let output = env
        .cmd()
        .args(["status", "a", "half", "x"])
        .output()
        .expect("run");
    assert_eq!(output.status.code(), Some(1));
    let stdout = String::from_utf8(output.stdout).expect("utf8");
    assert!(
        stdout.contains("status: 3 group(s) in ")
            && stdout.contains(
                "s: 1 present on every node, 1 absent from every node, 1 mixed or unknown"
            ),
        "{stdout}"
    );
    let report = env.json(&["status", "a", "half", "x"], 1);
    let states: Vec<&str> = report["groups"]
        .as_array()
        .expect("a list for several groups")
        .iter()
        .map(|g| g["state"].as_str().expect("state"))
        .collect();
    assert_eq!(states, ["present", "mixed", "absent"]);
    env.nodes[1].stop();
    env.cmd()
        .args(["status", "a", "--retries", "0"])
        .assert()
        .code(1);
    assert_eq!(env.total_writes(), 0);
}

#[test]
fn a_group_with_pending_repairs_is_refused_while_others_go_ahead() {
    let env = TestEnv::new(2);
    env.nodes[1].add_rule(Rule::new(Fault::Status(422)).method("POST").group("g"));
    env.nodes[0].add_rule(Rule::new(Fault::Status(500)).method("DELETE"));
    env.cmd().args(["create", "g"]).assert().code(3);
    let writes_before = env.total_writes();

    let report = env.json(&["create", "g"], 3);
    assert_eq!(report["outcome"], "refused");
    assert_eq!(report["pending"][0]["host"], env.nodes[0].url());
    // Only the replay's DELETE retries were sent; the refused create sent nothing.
    assert_eq!(env.total_writes() - writes_before, 3);

    env.cmd().args(["delete", "g"]).assert().code(3).stdout(
        predicate::str::contains("refused").and(predicate::str::contains(env.nodes[0].url())),
    );
    env.cmd().args(["create", "other"]).assert().code(0);
    assert_eq!(env.holders("other"), vec![0, 1]);
}

#[test]
fn create_that_landed_before_a_500_is_recognised_on_retry() {
    let env = TestEnv::new(3);
    env.nodes[1].add_rule(
        Rule::new(Fault::ApplyThenStatus(500))
            .method("POST")
            .times(1),
    );
    let report = env.json(&["create", "g"], 0);
    assert_eq!(report["nodes"][1]["result"], "created");
    assert_eq!(
        report["nodes"][1]["attempts"], 4,
        "GET, POST 500, POST 400, and the GET that confirms the 400"
    );
    assert_eq!(env.holders("g"), vec![0, 1, 2]);
}

#[test]
fn create_that_landed_before_a_hang_is_undone_when_a_later_node_fails() {
    let env = TestEnv::new(3);
    env.nodes[1].add_rule(Rule::new(Fault::ApplyThenHang).method("POST").times(1));
    refuse_posts(&env.nodes[2]);
    // Note: the read that found node 1's POST landed accounts for its one hung
    // attempt, so nothing of ours may land later: exit 1, nothing to verify.
    let report = env.json(&["create", "g", "--timeout", "300ms"], 1);
    assert_eq!(report["nodes"][1]["result"], "rolled_back");
    assert_eq!(report["verifying"], serde_json::json!([]));
    assert!(env.holders("g").is_empty());
    assert!(env.verifying().is_empty() && env.pending().is_empty());
}

#[test]
fn a_500_that_did_not_apply_is_retried_and_created() {
    let env = TestEnv::new(2);
    env.nodes[0].add_rule(Rule::new(Fault::Status(503)).method("POST").times(2));
    env.cmd().args(["create", "g"]).assert().code(0);
    assert_eq!(env.nodes[0].count("POST"), 3);
    assert_eq!(env.holders("g"), vec![0, 1]);
}

#[test]
fn rollback_keeps_a_group_that_existed_before() {
    let env = TestEnv::new(3);
    env.seed("g", &[1]);
    env.nodes[1].add_rule(Rule::new(Fault::Status(500)).times(1));
    refuse_posts(&env.nodes[2]);
    let report = env.json(&["create", "g"], 1);
    assert_eq!(report["nodes"][1]["result"], "already_present");
    assert_eq!(env.holders("g"), vec![1]);
    assert_eq!(env.nodes[1].count("DELETE"), 0);
}

#[test]
fn delete_restores_the_group_only_where_it_was() {
    let env = TestEnv::new(4);
    env.seed("g", &[0, 1, 3]);
    // A final 4xx: the node definitely kept the group (a 5xx would leave a verification).
    env.nodes[3].add_rule(Rule::new(Fault::Status(422)).method("DELETE"));
    let report = env.json(&["delete", "g"], 1);
    let results = results(&report);
    assert_eq!(
        results,
        ["rolled_back", "rolled_back", "already_absent", "failed"]
    );
    assert_eq!(env.holders("g"), vec![0, 1, 3]);
    assert_eq!(env.nodes[2].count("POST"), 0);
}

#[test]
fn status_exit_codes_and_json() {
    let env = TestEnv::new(3);
    env.seed("g", &[0, 1, 2]);
    let report = env.json(&["status", "g"], 0);
    assert_eq!(report["group"], "g");
    assert_eq!(report["consistent"], true);
    assert!(
        report["nodes"]
            .as_array()
            .expect("nodes")
            .iter()
            .all(|n| n["state"] == "present")
    );

    env.nodes[1].remove_group("g");
    let report = env.json(&["status", "g"], 1);
    assert_eq!(report["consistent"], false);
    assert_eq!(report["nodes"][1]["state"], "absent");

    env.nodes[1].insert_group("g");
    env.nodes[2].stop();
    let report = env.json(&["status", "g"], 1);
    assert_eq!(report["nodes"][2]["state"], "unreachable");
    assert!(report["nodes"][2]["error"].is_string());
    assert_eq!(env.total_writes(), 0, "status sends no writes");
}

#[test]
fn group_ids_needing_encoding_work_end_to_end() {
    let env = TestEnv::new(2);
    let id = " a b;c=é+[x] ";
    env.cmd().args(["create", id]).assert().code(0);
    assert_eq!(env.holders(id), vec![0, 1]);
    env.cmd()
        .args(["status", id])
        .assert()
        .code(0)
        .stdout(predicate::str::contains("present on all 2 nodes"));
    env.cmd().args(["delete", id]).assert().code(0);
    assert!(env.holders(id).is_empty());
}

#[test]
fn throttled_node_is_retried_after_its_retry_after() {
    let env = TestEnv::new(2);
    env.nodes[0].add_rule(
        Rule::new(Fault::TooManyRequests {
            retry_after: Some("0".to_owned()),
        })
        .method("POST")
        .times(2),
    );
    env.cmd()
        .args(["create", "g"])
        .assert()
        .code(0)
        .stderr(predicate::str::contains(
            "attempt 1 of 3 failed (HTTP 429 Too Many Requests)",
        ));
    assert_eq!(env.nodes[0].count("POST"), 3);
}

#[test]
fn a_node_that_comes_back_on_the_same_port_gets_its_repair() {
    let env = TestEnv::new(3);
    refuse_posts(&env.nodes[2]);
    env.nodes[0].add_rule(Rule::new(Fault::Status(500)).method("DELETE"));
    env.cmd().args(["create", "g"]).assert().code(3);
    env.nodes[0].clear_rules();
    env.nodes[0].stop();
    env.cmd().arg("rollback").assert().code(3);
    env.nodes[0].restart();
    env.cmd().arg("rollback").assert().code(0);
    assert!(env.holders("g").is_empty());
}

#[test]
fn human_output_names_nodes_and_results() {
    let env = TestEnv::new(2);
    refuse_posts(&env.nodes[1]);
    env.cmd().args(["create", "g"]).assert().code(1).stdout(
        predicate::str::contains("create \"g\": failed; every change was rolled back")
            .and(predicate::str::contains(env.nodes[0].url()))
            .and(predicate::str::contains("rolled back"))
            .and(predicate::str::contains("HTTP 422"))
            .and(predicate::str::contains("verifying").not()),
    );
}

#[test]
fn comments_and_blank_lines_in_a_group_file_never_reach_a_node() {
    let env = TestEnv::new(2);
    std::fs::write(
        env.dir().join("groups.txt"),
        "# team list\n\nteam-a\n   # indented comment\n\t\nteam-b\r\n#team-c\n",
    )
    .expect("write");
    let report = env.json(&["create", "--from-file", "groups.txt"], 0);
    let created: Vec<&str> = report["groups"]
        .as_array()
        .expect("one report per group")
        .iter()
        .map(|r| r["group"].as_str().expect("group"))
        .collect();
    assert_eq!(created, ["team-a", "team-b"]);
    for (i, node) in env.nodes.iter().enumerate() {
        assert_eq!(
            node.groups().into_iter().collect::<Vec<_>>(),
            ["team-a", "team-b"],
            "node {i}"
        );
        for request in node.requests() {
            let group = request.group.unwrap_or_default();
            assert!(
                !group.trim_start().starts_with('#') && !group.trim().is_empty(),
                "node {i} received {} {} for {group:?}",
                request.method,
                request.path
            );
            assert!(!request.path.contains("%23"), "{}", request.path);
        }
    }
    // Comments still count as lines: a bad id is reported at its own line.
    std::fs::write(env.dir().join("bad.txt"), "# header\nteam-d\n..\n").expect("write");
    let before = env.total_requests();
    env.cmd()
        .args(["create", "--from-file", "bad.txt"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("bad.txt:3:"));
    assert_eq!(env.total_requests(), before);
}

#[test]
fn a_result_that_cannot_be_printed_keeps_the_runs_exit_status() {
    let env = TestEnv::new(2);
    let full = std::fs::File::options()
        .write(true)
        .open("/dev/full")
        .expect("/dev/full");
    let output = env
        .std_cmd()
        .args(["create", "g"])
        .stdout(full)
        .output()
        .expect("run");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("cannot write the result"), "{stderr}");
    assert_eq!(env.holders("g"), vec![0, 1]);
}
