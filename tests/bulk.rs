//! Bulk runs with groups in flight (`--parallel-groups`): the same results as one at a time.

mod support;

use predicates::prelude::*;
use serde_json::Value;
use support::{Fault, Rule, TestEnv};

/// 40 groups on 3 nodes: `p3` already on node 1, `p7` on every node; node 3
/// fails every change of `p5` and `p25` with a 500 (but answers reads), so
/// the reports verify it, and node 1 cannot undo `p25`.
/// Runs `operation` with `parallel` groups in flight and returns the JSON
/// report, the exit code, and which nodes hold each group afterwards.
fn bulk(operation: &str, parallel: &str) -> (Value, i32, Vec<Vec<usize>>) {
    let env = TestEnv::new(3);
    let groups: Vec<String> = (0..40).map(|i| format!("p{i}")).collect();
    std::fs::write(env.dir().join("groups.txt"), groups.join("\n")).expect("write");
    if operation == "delete" {
        for group in &groups {
            env.seed(group, &[0, 1, 2]);
        }
    }
    env.seed("p3", &[0]);
    env.seed("p7", &[0, 1, 2]);
    let (change, undo) = if operation == "create" {
        ("POST", "DELETE")
    } else {
        ("DELETE", "POST")
    };
    for group in ["p5", "p25"] {
        env.nodes[2].add_rule(Rule::new(Fault::Status(500)).group(group).method(change));
    }
    env.nodes[0].add_rule(Rule::new(Fault::Status(500)).group("p25").method(undo));
    let output = env
        .cmd()
        .args([operation, "--from-file", "groups.txt", "--output", "json"])
        .args(["--parallel-groups", parallel])
        .output()
        .expect("run");
    let report: Value = serde_json::from_slice(&output.stdout).expect("JSON report");
    let holders = groups.iter().map(|g| env.holders(g)).collect();
    (report, output.status.code().expect("exit code"), holders)
}

/// What a user sees of each group, without what differs between any two
/// runs (node URLs and journal ids).
fn results(report: &Value) -> Vec<(String, String, Vec<String>, usize)> {
    report["groups"]
        .as_array()
        .expect("one report per group")
        .iter()
        .map(|r| {
            let nodes = r["nodes"].as_array().expect("nodes");
            (
                r["group"].as_str().expect("group").to_owned(),
                r["outcome"].as_str().expect("outcome").to_owned(),
                nodes
                    .iter()
                    .map(|n| n["result"].as_str().expect("result").to_owned())
                    .collect(),
                r["verifying"].as_array().expect("verifying").len(),
            )
        })
        .collect()
}

#[test]
fn groups_in_flight_give_the_same_reports_status_and_nodes_as_one_at_a_time() {
    for operation in ["create", "delete"] {
        let (one, one_code, one_holders) = bulk(operation, "1");
        let (many, many_code, many_holders) = bulk(operation, "16");
        assert_eq!(results(&many), results(&one), "{operation}: input order");
        assert_eq!(many_code, one_code, "{operation}");
        assert_eq!(many_holders, one_holders, "{operation}");
        // Not vacuous: the run had groups done, rolled back and pending.
        let outcomes: Vec<String> = results(&one).into_iter().map(|r| r.1).collect();
        // Node 3's 500s to p5 may still land: the reports name it as verifying.
        let verifying: Vec<String> = results(&one)
            .into_iter()
            .filter(|r| r.3 > 0)
            .map(|r| r.0)
            .collect();
        assert!(
            verifying.contains(&"p5".to_owned()),
            "{operation}: {verifying:?}"
        );
        assert_eq!(one_code, 3, "{operation}: a repair is pending");
        for wanted in ["done", "rolled_back", "repairs_pending"] {
            assert!(
                outcomes.iter().any(|o| o == wanted),
                "{operation}: no {wanted} in {outcomes:?}"
            );
        }
    }
}

#[test]
fn groups_in_flight_outside_the_bounds_are_refused_before_anything_is_sent() {
    let env = TestEnv::new(2);
    for (args, says) in [
        (
            vec!["--parallel-groups", "0"],
            "--parallel-groups must be at least 1",
        ),
        (
            vec!["--parallel-groups", "64", "--concurrency", "32"],
            "--parallel-groups 64 × --concurrency 32 is 2048 requests in flight",
        ),
        (vec!["--parallel-groups", "many"], "invalid value 'many'"),
    ] {
        env.cmd()
            .args(["create", "a", "b"])
            .args(&args)
            .assert()
            .code(2)
            .stderr(predicate::str::contains(says));
    }
    env.cmd()
        .args(["create", "a", "b"])
        .env("CLUSTER_CLIENT_PARALLEL_GROUPS", "0")
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "--parallel-groups must be at least 1",
        ));
    assert_eq!(env.total_requests(), 0);
}
