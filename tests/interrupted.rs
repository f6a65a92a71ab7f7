//! A signal that comes before any change was sent: exit 2, and reports that claim no rollback.

mod support;

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;
use support::{Fault, Rule, TestEnv, sigterm};

const WAIT: Duration = Duration::from_secs(60);

/// Runs `args` (a create) with node 2 holding every GET, sends SIGTERM once
/// node 2 has received one, and returns the exit code, stdout and stderr.
fn signalled_during_the_reads(env: &TestEnv, args: &[&str]) -> (Option<i32>, String, String) {
    env.nodes[1].add_rule(Rule::new(Fault::Hang).method("GET"));
    let child = env
        .std_cmd()
        .args(args)
        .args(["--timeout", "60s"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    assert!(
        env.nodes[1].wait_for_requests(1, WAIT),
        "node 2's GET never arrived"
    );
    sigterm(&child);
    let output = child.wait_with_output().expect("wait");
    env.nodes[1].release_hangs();
    (
        output.status.code(),
        String::from_utf8(output.stdout).expect("utf-8"),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// Nothing was sent and nothing was recorded.
fn assert_untouched(env: &TestEnv, groups: &[&str]) {
    assert_eq!(env.total_writes(), 0, "no POST or DELETE reached a node");
    assert!(env.pending().is_empty(), "{:?}", env.pending());
    for group in groups {
        assert!(env.holders(group).is_empty(), "{group}");
    }
}

fn assert_valid(schema: &str, document: &Value) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("schemas")
        .join(schema);
    let mut schemas = boon::Schemas::new();
    let index = boon::Compiler::new()
        .compile(path.to_str().expect("utf-8 path"), &mut schemas)
        .unwrap_or_else(|e| panic!("{schema}: {e:#}"));
    if let Err(e) = schemas.validate(document, index) {
        panic!("{document:#} does not match {schema}: {e:#}");
    }
}

#[test]
fn a_signal_during_the_reads_exits_2_and_reports_the_group_skipped_not_rolled_back() {
    let env = TestEnv::new(3);
    let (code, stdout, stderr) =
        signalled_during_the_reads(&env, &["create", "g", "--output", "json"]);
    assert_eq!(code, Some(2), "{stdout}{stderr}");
    let report: Value = serde_json::from_str(&stdout).expect("one JSON document");
    assert_valid("operation.schema.json", &report);
    assert_eq!(report["outcome"], "skipped", "{report}");
    assert_eq!(report["interrupted"], true, "{report}");
    assert!(report.get("journal_error").is_none(), "{report}");
    assert_eq!(report["pending"], Value::Array(Vec::new()), "{report}");
    let results = support::results(&report);
    assert!(
        !results.iter().any(|r| r == "rolled_back"),
        "nothing was changed, so nothing was rolled back: {report}"
    );
    assert_untouched(&env, &["g"]);
}

#[test]
fn a_signal_during_the_reads_says_so_in_words_and_skips_every_group_of_a_list() {
    let env = TestEnv::new(3);
    let (code, stdout, stderr) = signalled_during_the_reads(&env, &["create", "a", "b"]);
    assert_eq!(code, Some(2), "{stdout}{stderr}");
    for group in ["a", "b"] {
        let headline = format!(
            "create {group:?}: interrupted before any change; nothing was sent for this group, \
             it is as it was"
        );
        assert!(stdout.contains(&headline), "{headline:?} in:\n{stdout}");
    }
    assert!(
        !stdout
            .lines()
            .any(|l| l.contains("rolled back") && !l.starts_with("summary:")),
        "{stdout}"
    );
    assert!(stdout.contains("summary: 2 group(s)"), "{stdout}");
    assert_untouched(&env, &["a", "b"]);

    let env = TestEnv::new(3);
    let (code, stdout, stderr) =
        signalled_during_the_reads(&env, &["create", "a", "b", "--output", "json"]);
    assert_eq!(code, Some(2), "{stdout}{stderr}");
    let reports: Value = serde_json::from_str(&stdout).expect("one JSON document");
    assert_valid("operations.schema.json", &reports);
    let outcomes: Vec<&Value> = reports["groups"]
        .as_array()
        .expect("array")
        .iter()
        .map(|r| &r["outcome"])
        .collect();
    assert_eq!(outcomes, ["skipped", "skipped"], "{reports}");
    assert_untouched(&env, &["a", "b"]);
}
