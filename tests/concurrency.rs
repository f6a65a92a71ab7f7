//! Parallel fan-out (`--concurrency`) and bulk groups (several ids, `--from-file`).

mod support;

use std::process::Stdio;
use std::time::Duration;

use predicates::prelude::*;
use support::{Fault, Rule, TestEnv, hosts, json_stdout, results};

#[test]
fn concurrency_sends_to_several_nodes_at_once() {
    let env = TestEnv::new(3);
    // Each node holds its first POST open. Sequentially the run would sit on
    // node 1 until its 60 s timeout; in parallel all three arrive together.
    for node in &env.nodes {
        node.add_rule(Rule::new(Fault::Hang).method("POST").times(1));
    }
    let child = env
        .std_cmd()
        .args([
            "create",
            "g",
            "--concurrency",
            "3",
            "--timeout",
            "60s",
            "--output",
            "json",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    for node in &env.nodes {
        assert!(
            node.wait_for_requests(2, Duration::from_secs(30)),
            "GET and POST in flight"
        );
    }
    for node in &env.nodes {
        node.release_hangs();
    }
    let output = child.wait_with_output().expect("wait");
    assert_eq!(output.status.code(), Some(0));
    let report = json_stdout(&output);
    assert_eq!(
        hosts(&report),
        env.urls(),
        "output stays in hosts-file order"
    );
    assert_eq!(env.holders("g"), vec![0, 1, 2]);
}

#[test]
fn no_new_change_starts_after_a_failure() {
    let env = TestEnv::new(6);
    // A final 4xx: node 1 definitely applied nothing.
    env.nodes[0].add_rule(Rule::new(Fault::Status(422)).method("POST"));
    // Nodes 2..6 hold their POST open until released, so with concurrency 2
    // only node 2's change is in flight when node 1 fails.
    for node in &env.nodes[1..] {
        node.add_rule(Rule::new(Fault::Hang).method("POST").times(1));
    }
    let child = env
        .std_cmd()
        .args([
            "create",
            "g",
            "--concurrency",
            "2",
            "--timeout",
            "60s",
            "--output",
            "json",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    // Node 1 fails (its read, a POST and a settling GET) while node 2's POST is held.
    assert!(env.nodes[0].wait_for(Duration::from_secs(30), |seen| seen.len() >= 3));
    assert!(env.nodes[1].wait_for_requests(2, Duration::from_secs(30)));
    env.nodes[1].release_hangs();
    let output = child.wait_with_output().expect("wait");
    // Note: the released POST closed without an answer, so node 2 may still
    // apply it: the run verifies node 2 (exit 3), and that is all it keeps.
    assert_eq!(output.status.code(), Some(3));
    let node2 = env.nodes[1].url();
    assert_eq!(
        env.verifying(),
        [("g".to_owned(), node2, "delete".to_owned())]
    );
    for node in &env.nodes[2..] {
        assert_eq!(
            node.count("POST"),
            0,
            "{} got a change after the failure",
            node.url()
        );
    }
    assert!(env.holders("g").is_empty());
    assert!(env.pending().is_empty());
    let results = results(&json_stdout(&output));
    assert_eq!(results[0], "failed");
    assert!(
        results[2..].iter().all(|r| r == "not_attempted"),
        "{results:?}"
    );
}

#[test]
fn bulk_create_is_one_all_or_nothing_operation_per_group() {
    let env = TestEnv::new(2);
    // A final 4xx: "bad" definitely failed on node 2, so nothing is left to verify.
    env.nodes[1].add_rule(Rule::new(Fault::Status(422)).method("POST").group("bad"));
    let reports = env.json(&["create", "a", "bad", "c"], 1);
    let outcomes: Vec<_> = reports["groups"]
        .as_array()
        .expect("array")
        .iter()
        .map(|r| (r["group"].clone(), r["outcome"].clone()))
        .collect();
    assert_eq!(
        outcomes,
        vec![
            ("a".into(), "done".into()),
            ("bad".into(), "rolled_back".into()),
            ("c".into(), "done".into())
        ]
    );
    assert_eq!(env.holders("a"), vec![0, 1]);
    assert!(env.holders("bad").is_empty());
    assert_eq!(env.holders("c"), vec![0, 1]);
}

#[test]
fn groups_can_come_from_a_file_or_stdin() {
    let env = TestEnv::new(2);
    std::fs::write(env.dir().join("groups.txt"), "g1\n\ng2 with space\r\n").expect("write");
    env.cmd()
        .args(["create", "--from-file", "groups.txt"])
        .assert()
        .code(0);
    assert_eq!(env.holders("g1"), vec![0, 1]);
    assert_eq!(env.holders("g2 with space"), vec![0, 1]);

    env.cmd()
        .args(["delete", "--from-file", "-"])
        .write_stdin("g1\ng2 with space\n")
        .assert()
        .code(0);
    assert!(env.holders("g1").is_empty());
    assert!(env.holders("g2 with space").is_empty());
}

#[test]
fn a_bad_line_in_a_group_file_stops_everything_before_any_request() {
    let env = TestEnv::new(2);
    std::fs::write(env.dir().join("groups.txt"), "g1\n..\n").expect("write");
    env.cmd()
        .args(["create", "--from-file", "groups.txt"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("groups.txt:2:"));
    assert_eq!(env.total_requests(), 0);
}

#[test]
fn bulk_runs_stay_quiet_on_a_non_terminal_stderr() {
    let env = TestEnv::new(1);
    env.cmd()
        .args(["create", "a", "b", "c", "-q"])
        .assert()
        .code(0)
        .stderr(predicate::str::is_empty());
}
