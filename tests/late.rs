//! Writes that land late (issue 16, hole 1), black box: a node that commits a write after
//! the client gave up on it is verified until the settle horizon, undone if the write lands,
//! and the group ends on every node or on none.

mod support;

use std::time::{Duration, SystemTime};

use serde_json::Value;
use support::{Fault, Rule, TestEnv};

/// The settle horizon of the runs that leave verifications.
///
/// Note: the checks between a run and the landing must happen before the horizon passes,
/// and a horizon counts whole seconds (a 1 s horizon may pass 1 s after the run): 3 s leaves
/// room on a loaded machine while keeping the wait for it short.
const HORIZON: &str = "3s";

/// How long a test awaits the settle horizon: wide.
const HORIZON_WAIT: Duration = Duration::from_secs(60);

/// The arguments of a change that gives up on a node after one attempt of 1 s.
fn impatient<'a>(operation: &'a str, group: &'a str) -> [&'a str; 8] {
    [
        operation,
        group,
        "--timeout",
        "1s",
        "--retries",
        "0",
        "--settle-horizon",
        HORIZON,
    ]
}

/// `(group, host, action)` as the support functions list journal entries.
fn row(group: &str, host: &str, action: &str) -> (String, String, String) {
    (group.to_owned(), host.to_owned(), action.to_owned())
}

/// Asserts that a report's `verifying` list names exactly `host`, as a verification of
/// `repair` until a time after `before` and no later than the horizon from now.
fn assert_verifying(report: &Value, host: &str, repair: &str, before: SystemTime) {
    let verifying = report["verifying"].as_array().expect("verifying");
    assert_eq!(verifying.len(), 1, "{report}");
    assert_eq!(verifying[0]["host"], host, "{report}");
    assert_eq!(verifying[0]["kind"], "verify", "{report}");
    assert_eq!(verifying[0]["repair"], repair, "{report}");
    let until = verifying[0]["until"].as_str().expect("until");
    let until = humantime::parse_rfc3339(until).expect("until is RFC 3339");
    // Note: `until` is whole seconds, rounded down from the end of the run plus the horizon.
    let latest = SystemTime::now() + Duration::from_secs(4);
    assert!(until > before && until <= latest, "{report}");
}

/// Case 1 up to the landing: node 2 holds the POST of `g` and commits it only when the test
/// says so; the create gives up on it, rolls back, and keeps verifying node 2.
fn create_with_a_late_post(env: &TestEnv) {
    env.nodes[1].add_rule(Rule::new(Fault::ApplyLate).method("POST"));
    let before = SystemTime::now();
    let report = env.json(&impatient("create", "g"), 3);
    assert_eq!(report["outcome"], "rolled_back", "{report}");
    assert_eq!(
        support::results(&report),
        ["rolled_back", "failed", "not_attempted"]
    );
    let node2 = env.nodes[1].url();
    assert_verifying(&report, &node2, "delete", before);
    assert!(env.holders("g").is_empty());
    assert_eq!(
        env.nodes[1].late_writes(),
        1,
        "the POST is held, not applied"
    );
    assert!(env.pending().is_empty());
    assert_eq!(env.verifying(), [row("g", &node2, "delete")]);
    env.nodes[1].clear_rules();
}

#[test]
fn a_create_that_lands_late_is_verified_and_undone_by_the_next_replay() {
    let env = TestEnv::new(3);
    create_with_a_late_post(&env);
    let node2 = env.nodes[1].url();

    let list = env.json(&["journal", "list"], 3);
    let listed = list["pending"].as_array().expect("pending");
    assert_eq!(listed.len(), 1, "{list}");
    assert_eq!(listed[0]["kind"], "verify");
    assert_eq!(listed[0]["host"], node2.as_str());
    assert_eq!(listed[0]["repair"], "delete");
    assert!(listed[0]["until"].is_string(), "{list}");

    // Node 2 commits the POST it held: the group is on node 2 alone.
    assert_eq!(env.nodes[1].land_late_writes(), 1);
    assert_eq!(env.holders("g"), [1]);

    let replay = env.json(&["rollback"], 3);
    assert_eq!(replay["repaired"][0]["host"], node2.as_str(), "{replay}");
    assert_eq!(replay["repaired"][0]["repair"], "delete", "{replay}");
    assert!(env.holders("g").is_empty(), "the late create is undone");
    assert!(env.pending().is_empty());
    assert_eq!(
        env.verifying(),
        [row("g", &node2, "delete")],
        "verified until the horizon"
    );

    env.rollback_past_the_horizon(HORIZON_WAIT);
    assert_eq!(env.entries(), Vec::<Value>::new());
    assert!(env.holders("g").is_empty());
}

#[test]
fn a_delete_that_lands_late_after_its_rollback_is_verified_and_undone() {
    let env = TestEnv::new(3);
    env.seed("g", &[0, 1, 2]);
    env.nodes[1].add_rule(Rule::new(Fault::ApplyLate).method("DELETE"));
    let output = env
        .cmd()
        .args(impatient("delete", "g"))
        .output()
        .expect("run");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(3), "{stdout}");
    let node2 = env.nodes[1].url();
    let line = format!("verifying {node2}: a delete of ours may still land there until ");
    assert!(stdout.contains(&line), "{stdout}");
    assert_eq!(env.holders("g"), [0, 1, 2], "the delete was rolled back");
    assert_eq!(env.verifying(), [row("g", &node2, "create")]);
    env.nodes[1].clear_rules();

    // Node 2 commits the DELETE it held: the group is missing on node 2 alone.
    assert_eq!(env.nodes[1].land_late_writes(), 1);
    assert_eq!(env.holders("g"), [0, 2]);

    let replay = env.json(&["rollback"], 3);
    assert_eq!(replay["repaired"][0]["host"], node2.as_str(), "{replay}");
    assert_eq!(replay["repaired"][0]["repair"], "create", "{replay}");
    assert_eq!(env.holders("g"), [0, 1, 2], "the late delete is undone");
    assert_eq!(env.verifying(), [row("g", &node2, "create")]);

    env.rollback_past_the_horizon(HORIZON_WAIT);
    assert_eq!(env.entries(), Vec::<Value>::new());
    assert_eq!(env.holders("g"), [0, 1, 2]);
}

#[test]
fn a_later_create_makes_the_verification_a_watch_and_the_late_create_changes_nothing() {
    let env = TestEnv::new(3);
    create_with_a_late_post(&env);
    let node2 = env.nodes[1].url();

    // The group is now meant to be present, which a late create leaves it: nothing pending.
    let report = env.json(&["create", "g", "--settle-horizon", HORIZON], 0);
    assert_eq!(report["outcome"], "done", "{report}");
    assert_eq!(report["verifying"], serde_json::json!([]), "{report}");
    assert_eq!(env.holders("g"), [0, 1, 2]);
    assert!(env.pending().is_empty() && env.verifying().is_empty());
    assert_eq!(env.watching(), [row("g", &node2, "delete")]);

    assert_eq!(env.nodes[1].land_late_writes(), 1);
    let deletes = env.total_writes();
    env.cmd().arg("rollback").assert().code(0);
    assert_eq!(env.total_writes(), deletes, "nothing to undo");
    assert_eq!(env.holders("g"), [0, 1, 2]);

    env.rollback_past_the_horizon(HORIZON_WAIT);
    assert_eq!(env.entries(), Vec::<Value>::new());
    assert_eq!(env.holders("g"), [0, 1, 2]);
}

#[test]
fn a_later_delete_keeps_the_verification_and_the_late_create_is_undone() {
    let env = TestEnv::new(3);
    create_with_a_late_post(&env);
    let node2 = env.nodes[1].url();

    // The group is meant to be absent, which a late create would break: still verified.
    let before = SystemTime::now();
    let report = env.json(&["delete", "g", "--settle-horizon", HORIZON], 3);
    assert_eq!(report["outcome"], "done", "{report}");
    assert_verifying(&report, &node2, "delete", before - Duration::from_secs(10));
    assert!(env.holders("g").is_empty());
    assert_eq!(env.verifying(), [row("g", &node2, "delete")]);

    assert_eq!(env.nodes[1].land_late_writes(), 1);
    assert_eq!(env.holders("g"), [1]);
    let replay = env.json(&["rollback"], 3);
    assert_eq!(replay["repaired"][0]["host"], node2.as_str(), "{replay}");
    assert!(
        env.holders("g").is_empty(),
        "the late create is undone again"
    );

    env.rollback_past_the_horizon(HORIZON_WAIT);
    assert_eq!(env.entries(), Vec::<Value>::new());
    assert!(env.holders("g").is_empty());
}

#[test]
fn a_create_then_a_delete_turn_the_watch_back_into_a_verification() {
    let env = TestEnv::new(3);
    create_with_a_late_post(&env);
    let node2 = env.nodes[1].url();
    env.json(&["create", "g", "--settle-horizon", HORIZON], 0);
    assert_eq!(env.watching(), [row("g", &node2, "delete")]);

    // Absent again, which the late create would break: verified again, pending.
    let report = env.json(&["delete", "g", "--settle-horizon", HORIZON], 3);
    assert_eq!(report["outcome"], "done", "{report}");
    assert!(env.holders("g").is_empty());
    assert!(env.watching().is_empty());
    assert_eq!(env.verifying(), [row("g", &node2, "delete")]);

    assert_eq!(env.nodes[1].land_late_writes(), 1);
    assert_eq!(env.holders("g"), [1]);
    env.json(&["rollback"], 3);
    assert!(env.holders("g").is_empty(), "the late create is undone");

    env.rollback_past_the_horizon(HORIZON_WAIT);
    assert_eq!(env.entries(), Vec::<Value>::new());
    assert!(env.holders("g").is_empty());
}

#[test]
fn a_500_after_applying_that_a_read_shows_landed_leaves_nothing_to_verify() {
    // One attempt, applied, answered 500; the read shows it: it cannot land again.
    let env = TestEnv::new(3);
    env.nodes[1].add_rule(Rule::new(Fault::ApplyThenStatus(500)).method("POST"));
    let report = env.json(&["create", "g", "--retries", "0"], 0);
    assert_eq!(support::results(&report), ["created"; 3]);
    assert_eq!(report["verifying"], serde_json::json!([]));
    assert_eq!(env.entries(), Vec::<Value>::new(), "not even a watch");

    // The same answer, then a node that refuses: node 2 is undone, and nothing else of
    // ours is in flight there, so the run is rolled back with nothing pending.
    let env = TestEnv::new(3);
    env.nodes[1].add_rule(Rule::new(Fault::ApplyThenStatus(500)).method("POST"));
    env.nodes[2].add_rule(Rule::new(Fault::Status(422)).method("POST"));
    let report = env.json(&["create", "g", "--retries", "0"], 1);
    assert_eq!(
        support::results(&report),
        ["rolled_back", "rolled_back", "failed"]
    );
    assert_eq!(report["verifying"], serde_json::json!([]));
    assert!(env.holders("g").is_empty());
    assert_eq!(env.entries(), Vec::<Value>::new());
}

#[test]
fn retried_500s_after_the_read_shows_one_landed_are_still_verified() {
    // Three attempts answered 500 (the first applied): the read accounts for one of them,
    // and the other two may still land after the undo.
    let env = TestEnv::new(3);
    env.nodes[1].add_rule(Rule::new(Fault::ApplyThenStatus(500)).method("POST"));
    env.nodes[2].add_rule(Rule::new(Fault::Status(422)).method("POST"));
    let before = SystemTime::now();
    let args = ["create", "g", "--retries", "2", "--settle-horizon", HORIZON];
    let report = env.json(&args, 3);
    assert_eq!(env.nodes[1].count("POST"), 3);
    assert_eq!(
        support::results(&report),
        ["rolled_back", "rolled_back", "failed"]
    );
    let node2 = env.nodes[1].url();
    assert_verifying(&report, &node2, "delete", before);
    assert!(env.holders("g").is_empty());

    env.rollback_past_the_horizon(HORIZON_WAIT);
    assert_eq!(env.entries(), Vec::<Value>::new());
    assert!(env.holders("g").is_empty());
}
