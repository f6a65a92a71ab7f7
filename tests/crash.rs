//! Kill the real binary mid-run (SIGKILL, SIGTERM) and check that the journal restores all-or-nothing.

mod support;

use std::process::Stdio;
use std::time::{Duration, Instant};

use support::{Fault, Rule, TestEnv, sigterm};

const WAIT: Duration = Duration::from_secs(30);

/// How long a test awaits the settle horizon (1 s) of its verifications: wide.
const HORIZON_WAIT: Duration = Duration::from_secs(60);

/// Asserts that each of `groups` is on every node or on none.
fn all_or_nothing(env: &TestEnv, groups: &[String], when: &str) {
    for group in groups {
        let holders = env.holders(group);
        assert!(
            holders.is_empty() || holders == [0, 1, 2],
            "{group} is on {holders:?} {when}"
        );
    }
}

#[test]
fn sigkill_at_random_points_then_replay_restores_all_or_nothing() {
    kill_loop("1", 0x5eed_c0de_u64);
}

#[test]
fn sigkill_at_random_points_with_concurrency_then_replay_restores_all_or_nothing() {
    kill_loop("3", 0x0c0f_fee0_u64);
}

#[test]
fn sigkill_amid_a_bulk_run_with_groups_in_flight_then_replay_restores_all_or_nothing() {
    let env = TestEnv::new(3);
    for node in &env.nodes {
        node.set_latency(Duration::from_millis(2));
    }
    let mut rng = fastrand::Rng::with_seed(0x9a11_e1ed_u64);
    let mut torn = 0;
    let mut all = Vec::new();
    for round in 0..16 {
        let groups: Vec<String> = (0..12).map(|i| format!("b{round}-{i}")).collect();
        let delete = rng.bool();
        for group in groups.iter().filter(|_| delete) {
            env.seed(group, &[0, 1, 2]);
        }
        // Sometimes the last node fails its writes, so kills also land in rollbacks.
        if rng.u8(0..3) == 0 {
            let method = if delete { "DELETE" } else { "POST" };
            env.nodes[2].add_rule(Rule::new(Fault::Status(500)).method(method).times(6));
        }
        let victim = rng.usize(0..3);
        let seen = env.nodes[victim].requests().len();
        // Note: each group sends every node a read and a write, so 1 to 20
        // more requests are always reached: no timeout is waited out.
        let after = rng.usize(1..=20);
        let operation = if delete { "delete" } else { "create" };
        let mut args = vec![
            operation,
            "--parallel-groups",
            "4",
            "--settle-horizon",
            "1s",
        ];
        args.extend(groups.iter().map(String::as_str));
        let child = env.spawn_quiet(&args);
        torn += usize::from(kill_replay_and_check(
            &env,
            child,
            victim,
            seen + after,
            &groups,
        ));
        all.extend(groups);
    }
    assert!(torn > 0, "no kill landed mid-run");
    settled_and_all_or_nothing(&env, &all);
}

#[test]
fn sigkill_during_rollback_then_replay_restores_all_or_nothing() {
    let env = TestEnv::new(3);
    for node in &env.nodes {
        node.set_latency(Duration::from_millis(3));
    }
    let mut rng = fastrand::Rng::with_seed(0x0bad_cafe_u64);
    for round in 0..12 {
        // Three groups whose creates fail on node 3 and whose undos fail on
        // nodes 1 and 2: six repairs pending. Note: node 3 answers a final 4xx
        // (it applied nothing, so nothing is verified there); the undos' 500s
        // leave watches (a late undo changes nothing the group is meant to be).
        let groups: Vec<String> = (0..3).map(|i| format!("r{round}-{i}")).collect();
        env.nodes[2].add_rule(Rule::new(Fault::Status(422)).method("POST"));
        for node in &env.nodes[..2] {
            node.add_rule(Rule::new(Fault::Status(500)).method("DELETE"));
        }
        for group in &groups {
            env.cmd().args(["create", group]).assert().code(3);
        }
        assert_eq!(env.pending().len(), 6);
        for node in &env.nodes {
            node.clear_rules();
        }

        // Kill the replay after a random node has applied 1 to 3 of its repairs.
        let victim = rng.usize(0..2);
        let seen = env.nodes[victim].requests().len();
        let after = rng.usize(1..=3);
        let mut child = env.spawn_quiet(&["rollback"]);
        assert!(env.nodes[victim].wait_for_requests(seen + after, WAIT));
        child.kill().expect("kill");
        child.wait().expect("reap");
        // No entry was lost: every node still holding a group has its undo pending.
        let pending = env.pending();
        for group in &groups {
            for i in env.holders(group) {
                let entry = (group.clone(), env.nodes[i].url(), "delete".to_owned());
                assert!(pending.contains(&entry), "round {round}: {entry:?} lost");
            }
        }

        // Note: the repairs were settled (their creates answered 2xx), so
        // applying them leaves nothing to verify: exit 0.
        env.cmd().arg("rollback").assert().code(0);
        for group in &groups {
            assert!(
                env.holders(group).is_empty(),
                "round {round}: {group} left behind"
            );
        }
        assert!(env.pending().is_empty(), "round {round}");
        assert!(env.verifying().is_empty(), "round {round}");
    }
}

/// Kills `child` (SIGKILL) once node `victim` has seen `requests` requests,
/// heals the nodes, replays, and checks that each of `groups` is on every
/// node or none and that no repair is left: a crashed run's write-ahead
/// repairs become verifications (its changes may still have been in
/// flight), and the replay exits 3 exactly while some remain. Returns
/// whether the kill left repairs pending (it landed mid-run).
fn kill_replay_and_check(
    env: &TestEnv,
    mut child: std::process::Child,
    victim: usize,
    requests: usize,
    groups: &[String],
) -> bool {
    assert!(env.nodes[victim].wait_for_requests(requests, WAIT));
    child.kill().expect("kill");
    child.wait().expect("reap");
    let torn = !env.pending().is_empty();
    let in_flight = env.written_ahead();
    for node in &env.nodes {
        node.clear_rules();
    }
    let replay = env
        .cmd()
        .args(["rollback", "--settle-horizon", "1s"])
        .output()
        .expect("run rollback");
    all_or_nothing(env, groups, "after replay");
    assert!(env.pending().is_empty(), "{groups:?}: a repair is left");
    let verifying = env.verifying();
    for entry in &in_flight {
        assert!(
            verifying.contains(entry),
            "{entry:?} was written ahead of a change that may still land, yet is not \
             verified: {verifying:?}"
        );
    }
    let verifying = !verifying.is_empty();
    assert_eq!(
        replay.status.code(),
        Some(if verifying { 3 } else { 0 }),
        "{groups:?}: {}",
        String::from_utf8_lossy(&replay.stdout)
    );
    torn
}

/// Once every verification's horizon has passed, a replay leaves the
/// journal empty and each of `groups` on every node or on none.
fn settled_and_all_or_nothing(env: &TestEnv, groups: &[String]) {
    env.rollback_past_the_horizon(HORIZON_WAIT);
    assert_eq!(env.entries(), Vec::<serde_json::Value>::new());
    all_or_nothing(env, groups, "past the horizon");
}

/// Runs 40 seeded rounds of create/delete at `concurrency`, each killed
/// with SIGKILL when a random node has seen 1 or 2 more requests, then
/// replays and checks all-or-nothing and an empty journal.
fn kill_loop(concurrency: &str, seed: u64) {
    let env = TestEnv::new(3);
    for node in &env.nodes {
        node.set_latency(Duration::from_millis(3));
    }
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut torn = 0;
    let mut all = Vec::new();
    for round in 0..40 {
        let group = format!("g{round}");
        let delete = rng.bool();
        if delete {
            env.seed(&group, &[0, 1, 2]);
        }
        // Sometimes make the last node fail, so kills also land in rollbacks.
        if rng.u8(0..3) == 0 {
            env.nodes[2].add_rule(Rule::new(Fault::Status(500)).method(if delete {
                "DELETE"
            } else {
                "POST"
            }));
        }
        let victim = rng.usize(0..3);
        let seen = env.nodes[victim].requests().len();
        // Note: every run sends each node a GET and then a write, so a
        // target of 1 or 2 requests is always reached: no timeout is waited out.
        let after = rng.usize(1..=2);

        let operation = if delete { "delete" } else { "create" };
        let child = env.spawn_quiet(&[
            operation,
            &group,
            "--concurrency",
            concurrency,
            "--settle-horizon",
            "1s",
        ]);
        let groups = [group];
        torn += usize::from(kill_replay_and_check(
            &env,
            child,
            victim,
            seen + after,
            &groups,
        ));
        all.extend(groups);
    }
    // Note: the kill lands while a node is answering (3 ms latency), so most
    // rounds leave a journal to replay; none at all would mean this test
    // only ever killed finished runs.
    assert!(torn > 0, "no kill landed mid-run");
    settled_and_all_or_nothing(&env, &all);
}

#[test]
fn sigterm_rolls_back_this_runs_changes_and_verifies_the_abandoned_node() {
    let env = TestEnv::new(3);
    for node in &env.nodes {
        node.set_latency(Duration::from_millis(100));
    }
    let start = Instant::now();
    let child = env
        .std_cmd()
        .args(["create", "g", "--settle-horizon", "1s"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    // Node 2's POST is the 2nd request it sees (after its GET).
    assert!(env.nodes[1].wait_for_requests(2, WAIT));
    sigterm(&child);
    let output = child.wait_with_output().expect("wait");
    // Note: the signal abandoned node 2's POST in flight, which may still
    // land after its undo: node 2 is verified, and that is pending (3).
    assert_eq!(
        output.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(String::from_utf8_lossy(&output.stderr).contains("rolling back"));
    assert!(env.holders("g").is_empty());
    assert!(env.pending().is_empty());
    let node2 = env.nodes[1].url();
    assert_eq!(
        env.verifying(),
        [("g".to_owned(), node2, "delete".to_owned())]
    );
    assert_eq!(
        env.nodes[2].count("POST"),
        0,
        "no new change after the signal"
    );
    // Note: a wide margin; the point is "bounded", not "fast".
    assert!(start.elapsed() < Duration::from_secs(20));
    env.rollback_past_the_horizon(HORIZON_WAIT);
    assert_eq!(env.entries(), Vec::<serde_json::Value>::new());
    assert!(env.holders("g").is_empty());
}

#[test]
fn second_signal_exits_at_once_and_the_journal_covers_it() {
    let env = TestEnv::new(3);
    env.nodes[1].add_rule(Rule::new(Fault::Hang).method("POST"));
    // Note: the first signal abandons the hanging POST and starts the
    // rollback; node 1's undo hangs too, so the rollback is still running
    // when the second signal arrives.
    env.nodes[0].add_rule(Rule::new(Fault::Hang).method("DELETE"));
    let mut run = env.spawn_watched(&["create", "g", "--timeout", "60s", "--settle-horizon", "1s"]);
    assert!(env.nodes[1].wait_for_requests(2, WAIT));
    sigterm(&run.child);
    // Note: two back-to-back signals can merge into one; the second is sent
    // only once the first has provably been handled.
    run.wait_for_line("starting no new changes", WAIT);
    sigterm(&run.child);
    let (code, stderr) = run.wait_exit(WAIT);
    assert_eq!(code, Some(3), "{stderr}");
    assert!(stderr.contains("second signal"), "{stderr}");
    // The in-flight POST never answered; the journal lists the undo of
    // every change that may have been made (node 3's was never sent, and
    // may already be gone).
    let pending = env.pending();
    for i in [0, 1] {
        let entry = ("g".to_owned(), env.nodes[i].url(), "delete".to_owned());
        assert!(pending.contains(&entry), "{entry:?} missing: {pending:?}");
    }
    for node in &env.nodes {
        node.clear_rules();
        node.release_hangs();
    }
    // Note: the repairs were written ahead of changes that may still be in
    // flight (the run exited at once), so applying them leaves verifications
    // of both nodes: pending (3) until the horizon.
    env.cmd()
        .args(["rollback", "--settle-horizon", "1s"])
        .assert()
        .code(3);
    assert!(env.holders("g").is_empty());
    assert!(env.pending().is_empty());
    let verifying = env.verifying();
    for i in [0, 1] {
        let entry = ("g".to_owned(), env.nodes[i].url(), "delete".to_owned());
        assert!(
            verifying.contains(&entry),
            "{entry:?} missing: {verifying:?}"
        );
    }
    env.rollback_past_the_horizon(HORIZON_WAIT);
    assert_eq!(env.entries(), Vec::<serde_json::Value>::new());
    assert!(env.holders("g").is_empty());
}

#[test]
fn second_signal_during_a_read_only_status_exits_2() {
    let env = TestEnv::new(2);
    env.nodes[0].add_rule(Rule::new(Fault::Hang).method("GET"));
    let mut run = env.spawn_watched(&["status", "g", "--timeout", "60s"]);
    assert!(env.nodes[0].wait_for_requests(1, WAIT));
    sigterm(&run.child);
    run.wait_for_line("starting no new changes", WAIT);
    sigterm(&run.child);
    let (code, stderr) = run.wait_exit(WAIT);
    // Nothing was written anywhere, so nothing may be claimed pending.
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("nothing was sent"), "{stderr}");
    assert_eq!(env.total_writes(), 0);
    assert!(env.pending().is_empty());
    env.nodes[0].release_hangs();
}

#[test]
fn a_signal_during_a_hanging_change_rolls_back_within_the_grace_whatever_the_timeout() {
    let env = TestEnv::new(2);
    env.nodes[1].add_rule(Rule::new(Fault::Hang).method("POST").times(1));
    let run = env.spawn_watched(&[
        "create",
        "g",
        "--timeout",
        "120s",
        "--shutdown-grace",
        "3s",
        "--settle-horizon",
        "1s",
    ]);
    assert!(env.nodes[1].wait_for_requests(2, WAIT));
    let signalled = Instant::now();
    sigterm(&run.child);
    let (code, stderr) = run.wait_exit(WAIT);
    // Note: the bound is the --timeout the old code waited out (120 s),
    // with a wide margin below it; the grace itself is 3 s.
    assert!(signalled.elapsed() < Duration::from_secs(60), "{stderr}");
    // Note: the abandoned POST may still land after its undo: node 2 is
    // verified until the horizon, which is pending (3).
    assert_eq!(code, Some(3), "{stderr}");
    assert!(stderr.contains("abandoned"), "{stderr}");
    assert_eq!(env.nodes[0].count("DELETE"), 1, "the healthy node's undo");
    assert_eq!(
        env.nodes[1].count("DELETE"),
        1,
        "the abandoned node is undone too"
    );
    assert!(env.holders("g").is_empty());
    assert!(env.pending().is_empty());
    let node2 = env.nodes[1].url();
    assert_eq!(
        env.verifying(),
        [("g".to_owned(), node2, "delete".to_owned())]
    );
    assert!(!stderr.contains("retrying in"), "{stderr}");
    env.nodes[1].release_hangs();
    env.rollback_past_the_horizon(HORIZON_WAIT);
    assert_eq!(env.entries(), Vec::<serde_json::Value>::new());
    assert!(env.holders("g").is_empty());
}
