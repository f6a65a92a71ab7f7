//! Black-box tests of `create --dry-run` and `delete --dry-run`: only reads are sent, nothing
//! is replayed or created, and the plan says which node would get which request.

mod support;

use support::{Fault, Rule, TestEnv, entry};

#[test]
fn a_dry_run_reads_every_node_prints_the_plan_and_sends_no_write() {
    let env = TestEnv::new(3);
    env.seed("g", &[1]);
    let output = env
        .cmd()
        .args(["create", "g", "--dry-run"])
        .output()
        .expect("run");
    let stdout = String::from_utf8(output.stdout).expect("utf8");
    assert_eq!(output.status.code(), Some(0), "{stdout}");
    let urls = env.urls();
    assert!(
        stdout.contains("would send POST to 2 of 3 node(s)"),
        "{stdout}"
    );
    for (url, step) in [
        (&urls[0], "would POST"),
        (&urls[1], "already"),
        (&urls[2], "would POST"),
    ] {
        assert!(
            stdout.contains(&format!("  {url}  {step}")),
            "{url} {step}: {stdout}"
        );
    }
    assert!(stdout.contains("only reads were sent"), "{stdout}");
    assert_eq!(env.total_writes(), 0);
    assert_eq!(env.total_requests(), 3, "one read per node");
    assert_eq!(env.holders("g"), [1]);
    assert!(env.journal().is_none(), "no journal was written");
}

#[test]
fn a_dry_run_replays_nothing_and_names_the_groups_pending_repairs_refuse() {
    let env = TestEnv::new(2);
    let urls = env.urls();
    env.seed("held", &[0]);
    env.write_journal(&[entry("held", &urls[0], "delete")]);
    let journal = std::fs::read(env.journal_path()).expect("journal");
    let report = env.json(&["delete", "held", "free", "--dry-run"], 3);
    assert_eq!(report["dry_run"], true);
    assert_eq!(report["groups"][0]["plan"], "refused", "{report}");
    assert_eq!(report["groups"][0]["pending"][0]["host"], urls[0].as_str());
    assert_eq!(report["groups"][1]["plan"], "nothing_to_do", "{report}");
    assert_eq!(report["pending"].as_array().map(Vec::len), Some(1));
    assert_eq!(env.total_writes(), 0, "the pending repair was not replayed");
    assert_eq!(std::fs::read(env.journal_path()).expect("journal"), journal);
    let lock = env.journal_path().with_file_name("journal.json.lock");
    assert!(!lock.exists(), "a dry run takes no lock");
}

#[test]
fn a_dry_run_with_a_node_that_cannot_be_read_says_the_run_would_not_start() {
    let env = TestEnv::new(2);
    env.nodes[1].add_rule(Rule::new(Fault::Status(500)).method("GET"));
    let output = env
        .cmd()
        .args(["delete", "g", "--dry-run"])
        .output()
        .expect("run");
    let stdout = String::from_utf8(output.stdout).expect("utf8");
    assert_eq!(output.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("would fail before any change"), "{stdout}");
    assert!(stdout.contains("unreadable"), "{stdout}");
    assert_eq!(env.total_writes(), 0);
}
