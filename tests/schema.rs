//! The JSON output, validated against the schemas in `schemas/` with a real validator.

mod support;

use std::path::Path;

use serde_json::Value;
use support::{Fault, Rule, TestEnv};

/// Compiles `schemas/<name>` and validates `document` against it; `Err` is
/// the validator's report.
fn validate(name: &str, document: &Value) -> Result<(), String> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("schemas")
        .join(name);
    let mut schemas = boon::Schemas::new();
    let mut compiler = boon::Compiler::new();
    compiler.enable_format_assertions();
    let index = compiler
        .compile(path.to_str().expect("utf-8 path"), &mut schemas)
        .unwrap_or_else(|e| panic!("{name} does not compile: {e:#}"));
    schemas
        .validate(document, index)
        .map_err(|e| format!("{e:#}"))
}

fn assert_valid(name: &str, document: &Value) {
    if let Err(report) = validate(name, document) {
        panic!("{document:#} does not match {name}: {report}");
    }
}

/// Runs `args` with `--output json`, checks the exit code, and returns the
/// one document stdout holds, which must be one compact line.
fn document(env: &TestEnv, args: &[&str], code: i32) -> Value {
    let output = env
        .cmd()
        .args(args)
        .args(["--output", "json"])
        .output()
        .expect("run");
    let stdout = String::from_utf8(output.stdout).expect("utf-8");
    assert_eq!(
        output.status.code(),
        Some(code),
        "{args:?}: {stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(
        stdout.lines().count(),
        1,
        "not a terminal, so one compact line: {stdout}"
    );
    serde_json::from_str(&stdout).expect("JSON")
}

#[test]
fn one_positional_group_prints_an_object_that_matches_its_schema() {
    let env = TestEnv::new(2);
    let report = document(&env, &["create", "g"], 0);
    assert!(report.is_object(), "{report}");
    assert_valid("operation.schema.json", &report);
    let report = document(&env, &["delete", "g"], 0);
    assert_valid("operation.schema.json", &report);
}

#[test]
fn a_dry_run_plan_matches_its_schema() {
    let env = TestEnv::new(2);
    env.seed("g", &[0]);
    let plan = document(&env, &["create", "g", "h", "--dry-run"], 0);
    assert_valid("dry-run.schema.json", &plan);
    assert_eq!(plan["groups"][0]["nodes"][1]["request"], "POST", "{plan}");
    env.write_journal(&[support::entry("h", &env.urls()[0], "delete")]);
    let plan = document(&env, &["delete", "h", "--dry-run"], 3);
    assert_valid("dry-run.schema.json", &plan);
}

#[test]
fn a_list_prints_its_groups_and_a_summary_even_for_one_group() {
    let env = TestEnv::new(2);
    let report = document(&env, &["create", "a", "b"], 0);
    assert_eq!(
        report["groups"].as_array().map(Vec::len),
        Some(2),
        "{report}"
    );
    assert_eq!(report["summary"]["done"], 2, "{report}");
    assert_valid("operations.schema.json", &report);

    let list = env.dir().join("groups.txt");
    std::fs::write(&list, "# one group\nc\n").expect("write");
    let path = list.to_str().expect("utf-8");
    let report = document(&env, &["create", "--from-file", path], 0);
    assert_eq!(
        report["groups"].as_array().map(Vec::len),
        Some(1),
        "{report}"
    );
    assert_valid("operations.schema.json", &report);
}

#[test]
fn pending_repairs_status_and_rollback_match_their_schemas() {
    let env = TestEnv::new(2);
    // Node 2 fails the create with 500s and node 1 the undo: a repair stays
    // pending, node 2 is verified (its 500s may still land) and node 1's
    // undo watched, so the documents show every kind of entry.
    env.nodes[1].add_rule(Rule::new(Fault::Status(500)).method("POST"));
    env.nodes[0].add_rule(Rule::new(Fault::Status(500)).method("DELETE"));
    let report = document(&env, &["create", "g", "--settle-horizon", "1s"], 3);
    assert_valid("operation.schema.json", &report);
    let pending = &report["pending"][0];
    assert_eq!(pending["repair"], "delete");
    assert_eq!(pending["kind"], "repair");
    assert!(
        pending.get("run").is_none() && pending.get("recorded_at").is_none(),
        "no internals in the output: {pending}"
    );
    let verifying = &report["verifying"][0];
    assert_eq!(verifying["kind"], "verify", "{report}");
    assert_eq!(verifying["host"], env.nodes[1].url().as_str());
    assert!(verifying["until"].is_string(), "{report}");

    let status = document(&env, &["status", "g"], 1);
    assert_valid("status.schema.json", &status);
    assert!(
        status["pending"].as_array().is_some_and(|p| !p.is_empty()),
        "{status}"
    );
    let several = document(&env, &["status", "g", "h"], 1);
    assert_eq!(
        several["groups"].as_array().map(Vec::len),
        Some(2),
        "{several}"
    );
    assert_valid("status.schema.json", &several);

    let rollback = document(&env, &["rollback"], 3);
    assert_valid("rollback.schema.json", &rollback);
    assert_eq!(kinds(&rollback["pending"]), ["repair", "verify", "watch"]);
    // The first replay: status showed the repair and did not apply it.
    assert_eq!(rollback["pending"][0]["failed_replays"], 1, "{rollback}");

    for node in &env.nodes {
        node.clear_rules();
    }
    // The verification stays until its horizon: still pending.
    let rollback = document(&env, &["rollback"], 3);
    assert_valid("rollback.schema.json", &rollback);
    assert_eq!(rollback["repaired"].as_array().map(Vec::len), Some(1));
    assert_eq!(kinds(&rollback["pending"]), ["verify", "watch"]);

    env.rollback_past_the_horizon(std::time::Duration::from_secs(60));
    let rollback = document(&env, &["rollback"], 0);
    assert_valid("rollback.schema.json", &rollback);
    assert_eq!(rollback["pending"], serde_json::json!([]));
}

/// The sorted `kind`s of a list of entries.
fn kinds(entries: &Value) -> Vec<String> {
    let mut kinds: Vec<String> = entries
        .as_array()
        .expect("entries")
        .iter()
        .map(|e| e["kind"].as_str().expect("kind").to_owned())
        .collect();
    kinds.sort();
    kinds
}

#[test]
fn the_validator_rejects_what_the_schemas_forbid() {
    let env = TestEnv::new(1);
    let good = document(&env, &["create", "g"], 0);
    assert_valid("operation.schema.json", &good);
    let mut missing = good.clone();
    missing.as_object_mut().expect("object").remove("outcome");
    assert!(validate("operation.schema.json", &missing).is_err());
    let mut unknown = good.clone();
    unknown["run"] = Value::from("4242@1");
    assert!(validate("operation.schema.json", &unknown).is_err());
    let mut odd = good.clone();
    odd["outcome"] = Value::from("maybe");
    assert!(validate("operation.schema.json", &odd).is_err());
    let mut unverified = good;
    unverified
        .as_object_mut()
        .expect("object")
        .remove("verifying");
    assert!(validate("operation.schema.json", &unverified).is_err());
    let pending = serde_json::json!({
        "group": "g", "host": "http://n:1", "repair": "delete",
        "since": "2026-12-01T00:00:01Z", "failed_replays": 0, "last_error": null,
        "kind": "verify", "until": "2026-12-01T00:05:01Z"
    });
    assert_valid("pending.schema.json", &pending);
    let mut yesterday = pending.clone();
    yesterday["since"] = Value::from("yesterday");
    assert!(validate("pending.schema.json", &yesterday).is_err());
    let mut kindless = pending.clone();
    kindless.as_object_mut().expect("object").remove("kind");
    assert!(validate("pending.schema.json", &kindless).is_err());
    let mut maybe = pending.clone();
    maybe["kind"] = Value::from("maybe");
    assert!(validate("pending.schema.json", &maybe).is_err());
    let mut someday = pending;
    someday["until"] = Value::from("someday");
    assert!(validate("pending.schema.json", &someday).is_err());
}

#[test]
fn journal_list_and_forget_match_their_schemas() {
    let env = TestEnv::new(2);
    env.nodes[1].add_rule(Rule::new(Fault::Status(500)).method("POST"));
    env.nodes[0].add_rule(Rule::new(Fault::Status(500)).method("DELETE"));
    document(&env, &["create", "g"], 3);
    let list = document(&env, &["journal", "list"], 3);
    assert_valid("journal-list.schema.json", &list);
    assert_eq!(
        kinds(&list["pending"]),
        ["repair", "verify", "watch"],
        "{list}"
    );
    let forgotten = document(&env, &["journal", "forget", "g", "--all-hosts"], 0);
    assert_valid("journal-forget.schema.json", &forgotten);
    let list = document(&env, &["journal", "list"], 0);
    assert_valid("journal-list.schema.json", &list);
}

#[test]
fn several_journals_match_the_rollback_and_journal_list_schemas() {
    let env = TestEnv::new(2);
    // Shards 0 and 1 of 2 each leave a repair pending in their own journal.
    env.nodes[1].add_rule(Rule::new(Fault::Status(500)).method("POST"));
    env.nodes[0].add_rule(Rule::new(Fault::Status(500)).method("DELETE"));
    let bulk = env.dir().join("bulk");
    let journal = bulk.join("journal-{shard}.json");
    let journal = journal.to_str().expect("utf-8");
    for shard in ["0/2", "1/2"] {
        // `a` is shard 0 of 2, `team-b` shard 1 (their hashes are even and odd; src/vocab/shard.rs).
        let report = document(
            &env,
            &[
                "create",
                "a",
                "team-b",
                "--shard",
                shard,
                "--journal",
                journal,
            ],
            3,
        );
        assert_valid("operations.schema.json", &report);
    }
    std::fs::write(bulk.join("journal-9.json"), "corrupt").expect("write");
    let dir = bulk.to_str().expect("utf-8");

    let list = document(&env, &["journal", "list", "--journal", dir], 2);
    assert_valid("journal-list.schema.json", &list);
    assert_eq!(list["journals"].as_array().map(Vec::len), Some(3), "{list}");
    assert!(list["pending"][0]["journal"].is_string(), "{list}");

    let rollback = document(&env, &["rollback", "--journal", dir], 3);
    assert_valid("rollback.schema.json", &rollback);
    assert_eq!(rollback["journals"][2]["state"], "refused", "{rollback}");

    for node in &env.nodes {
        node.clear_rules();
    }
    let rollback = document(&env, &["rollback", "--journal", dir], 3);
    assert_valid("rollback.schema.json", &rollback);
    assert_eq!(rollback["repaired"].as_array().map(Vec::len), Some(2));

    let mut odd = rollback;
    odd["journals"][0]["state"] = Value::from("maybe");
    assert!(validate("rollback.schema.json", &odd).is_err());
}

#[test]
fn every_kind_of_bad_input_prints_one_error_document_on_stdout() {
    let env = TestEnv::new(1);
    let url = env.urls()[0].clone();
    let dir = env.dir().to_str().expect("utf-8").to_owned();
    std::fs::write(env.dir().join("bad.pem"), "not a certificate").expect("write");
    let missing_journal = format!("{dir}/typo/journal.json");
    type Case<'a> = (Vec<&'a str>, Vec<(&'a str, &'a str)>, &'a str);
    let cases: Vec<Case<'_>> = vec![
        (vec!["create", "g", "--no-such-flag"], vec![], "usage"),
        (
            vec!["status", "g", "--timeout", "5 parsecs"],
            vec![],
            "usage",
        ),
        (
            vec!["status", "g"],
            vec![("CLUSTER_CLIENT_HOSTS", "")],
            "usage",
        ),
        (
            vec!["status", "g"],
            vec![("CLUSTER_CLIENT_TIMEOUT", "soon")],
            "usage",
        ),
        (
            vec!["journal", "forget", "g", "--hosts", &url],
            vec![],
            "usage",
        ),
        (vec!["create", ".."], vec![], "input"),
        (
            vec!["create", "g", "--hosts", "/nonexistent/hosts.txt"],
            vec![],
            "input",
        ),
        (vec!["status", "g", "--hosts", &url], vec![], "input"),
        (vec!["status", "g", "--hosts", &dir], vec![], "input"),
        (vec!["create", "g", "--backoff", "20s"], vec![], "input"),
        (
            vec!["status", "g", "--journal", &missing_journal],
            vec![],
            "journal",
        ),
        (vec!["create", "g", "--cacert", "bad.pem"], vec![], "setup"),
    ];
    for (args, vars, kind) in cases {
        let mut cmd = env.cmd();
        for (name, value) in &vars {
            cmd.env(name, value);
        }
        let output = cmd
            .args(&args)
            .args(["--output", "json"])
            .output()
            .expect("run");
        let stdout = String::from_utf8(output.stdout).expect("utf-8");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {stdout}{stderr}");
        assert_eq!(
            stdout.lines().count(),
            1,
            "{args:?}: one document: {stdout}"
        );
        let document: Value = serde_json::from_str(&stdout).expect("JSON");
        assert_valid("error.schema.json", &document);
        assert_eq!(document["error"]["kind"], kind, "{args:?}: {document}");
        assert!(!stderr.is_empty(), "{args:?}: stderr says why too");
    }
    // A variable's bad value is named as the variable's.
    let output = env
        .cmd()
        .env("CLUSTER_CLIENT_HOSTS", "")
        .args(["status", "g"])
        .output()
        .expect("run");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("environment variable CLUSTER_CLIENT_HOSTS"),
        "{stderr}"
    );
    assert!(output.stdout.is_empty(), "no JSON asked for, none printed");
    assert_eq!(env.total_requests(), 0);
}
