//! Sick and silent nodes through the real binary (issue 16 item 3): a node that cannot serve
//! costs a replay one round of retries, not one per repair; a node that blips during a bulk
//! run fails only the group in flight, because later groups wait for it to come back.

mod support;

use std::time::{Duration, Instant};

use support::{Fault, Rule, TestEnv, entry};

/// A bound no run here comes near, unless something hangs.
const WIDE: Duration = Duration::from_secs(60);

#[test]
fn a_node_answering_503_costs_a_replay_one_round_of_retries_not_one_per_repair() {
    let env = TestEnv::new(2);
    let sick = &env.nodes[1];
    sick.add_rule(Rule::new(Fault::TooManyRequests {
        retry_after: Some("1".to_owned()),
    }));
    sick.add_rule(Rule::new(Fault::Status(503)));
    let entries: Vec<_> = (0..10)
        .map(|i| entry(&format!("g{i}"), &sick.url(), "delete"))
        .collect();
    env.write_journal(&entries);
    let started = Instant::now();
    let output = env
        .cmd()
        .args(["rollback", "--retries", "3", "--timeout", "1s"])
        .output()
        .expect("run");
    let took = started.elapsed();
    assert_eq!(output.status.code(), Some(3), "{output:?}");
    // One round: the first repair's four attempts (the first a 429 with
    // Retry-After 1s), then every other repair on the node is skipped.
    let sent: Vec<String> = sick
        .requests()
        .iter()
        .map(|r| format!("{} {}", r.method, r.group.as_deref().unwrap_or("-")))
        .collect();
    assert_eq!(sent.len(), 4, "{sent:?}");
    assert!(took < Duration::from_secs(20), "took {took:?}");
    assert_eq!(env.pending().len(), 10, "every repair stays pending");
    let journal = env.journal().expect("journal");
    let skipped = journal["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .filter(|e| {
            e["last_error"]
                .as_str()
                .is_some_and(|why| why.contains("could not serve"))
        })
        .count();
    assert_eq!(skipped, 9, "{journal}");
}

#[test]
fn a_node_that_blips_during_a_bulk_run_fails_only_the_group_in_flight() {
    let env = TestEnv::new(3);
    let groups: String = (0..20).map(|i| format!("g{i:02}\n")).collect();
    std::fs::write(env.dir().join("groups.txt"), groups).expect("write groups");
    let blip = &env.nodes[1];
    blip.stop();
    let mut run = env.spawn_watched(&[
        "create",
        "--from-file",
        "groups.txt",
        "--output",
        "json",
        "--retries",
        "1",
        "--timeout",
        "2s",
        "--backoff",
        "10ms",
        "--max-backoff",
        "500ms",
        "-v",
    ]);
    // The first group finds the node down; it comes back while the next waits.
    run.wait_for_line("cannot read \"g00\"", WIDE);
    blip.restart();
    let (code, stderr) = run.wait_exit(WIDE);
    assert_eq!(code, Some(1), "{stderr}");
    for i in 1..20 {
        assert_eq!(
            env.holders(&format!("g{i:02}")),
            [0, 1, 2],
            "g{i:02} waited for the node instead of failing; stderr: {stderr}"
        );
    }
    assert!(env.holders("g00").is_empty());
}
