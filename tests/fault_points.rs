//! Abort the real binary at every journal-write boundary, on every write it makes, then
//! check that `rollback` restores all-or-nothing and empties the journal.
//!
//! The binary must be built with the `fault-points` feature, which makes
//! `CLUSTER_CLIENT_FAULT_POINT=<name>[:<n>]` abort it the n-th time it reaches `<name>`:
//!
//! ```sh
//! cargo test --workspace --features fault-points --test fault_points
//! ```
#![cfg(feature = "fault-points")]

mod support;

use std::process::Output;

use cluster_client::journal::fault_point;
use support::{Fault, Rule, TestEnv};

/// More writes than any scenario below makes: the search for the last `n` must stop.
const MAX_WRITES: usize = 8;

/// The settle horizon of every command here: short, so the verifications an abort leaves
/// (its changes may have been in flight) can be awaited past it.
const HORIZON: &str = "1s";

/// One command to abort, and what the cluster looked like before it.
struct Scenario {
    name: &'static str,
    /// `create` or `delete`, and the groups; `rollback` replays what `setup` left.
    args: &'static [&'static str],
    /// Per group, the nodes that hold it beforehand.
    initial: &'static [(&'static str, &'static [usize])],
    /// Faults and earlier commands, run before the aborted command.
    setup: fn(&TestEnv),
}

const NODES: usize = 3;

fn scenarios() -> Vec<Scenario> {
    vec![
        Scenario {
            name: "create that succeeds, the group already on node 0",
            args: &["create", "g"],
            initial: &[("g", &[0])],
            setup: |_| {},
        },
        Scenario {
            name: "create of two groups that both succeed",
            args: &["create", "a", "b"],
            initial: &[("a", &[]), ("b", &[1])],
            setup: |_| {},
        },
        Scenario {
            name: "create that fails on node 2 and rolls back",
            args: &["create", "g"],
            initial: &[("g", &[])],
            setup: |env| env.nodes[2].add_rule(Rule::new(Fault::Status(500)).method("POST")),
        },
        Scenario {
            name: "delete that fails on node 1 and restores node 0 only",
            args: &["delete", "g"],
            initial: &[("g", &[0, 1])],
            setup: |env| env.nodes[1].add_rule(Rule::new(Fault::Status(500)).method("DELETE")),
        },
        Scenario {
            name: "create whose rollback fails on node 0",
            args: &["create", "g"],
            initial: &[("g", &[])],
            setup: |env| {
                env.nodes[2].add_rule(Rule::new(Fault::Status(500)).method("POST"));
                env.nodes[0].add_rule(Rule::new(Fault::Status(503)).method("DELETE"));
            },
        },
        Scenario {
            name: "delete whose rollback fails on node 1",
            args: &["delete", "g"],
            initial: &[("g", &[0, 1, 2])],
            setup: |env| {
                env.nodes[2].add_rule(Rule::new(Fault::Reset).method("DELETE"));
                env.nodes[1].add_rule(Rule::new(Fault::Status(500)).method("POST"));
            },
        },
        Scenario {
            name: "rollback of a create whose own rollback failed",
            args: &["rollback"],
            initial: &[("g", &[])],
            setup: |env| {
                env.nodes[2].add_rule(Rule::new(Fault::Status(500)).method("POST"));
                env.nodes[0].add_rule(Rule::new(Fault::Status(500)).method("DELETE"));
                env.nodes[1].add_rule(Rule::new(Fault::Status(500)).method("DELETE"));
                env.cmd()
                    .args(["create", "g", "--settle-horizon", HORIZON])
                    .assert()
                    .code(3);
                assert_eq!(env.pending().len(), 2, "setup leaves two repairs");
                clear_faults(env);
            },
        },
    ]
}

fn clear_faults(env: &TestEnv) {
    for node in &env.nodes {
        node.clear_rules();
        node.release_hangs();
    }
}

fn aborted(output: &Output) -> bool {
    use std::os::unix::process::ExitStatusExt;
    // Note: 6 is SIGABRT on every unix this runs on.
    output.status.signal() == Some(6)
}

/// Every node whose state differs from `initial` must be covered by a journal
/// entry whose repair undoes it, unless the group is already everywhere (or
/// nowhere) with nothing pending: the command finished its work.
fn differences_are_journaled(env: &TestEnv, group: &str, initial: &[usize], when: &str) {
    let pending = env.pending();
    let holders = env.holders(group);
    let pending_here: Vec<_> = pending.iter().filter(|(g, _, _)| g == group).collect();
    let all = holders.len() == NODES;
    if pending_here.is_empty() && (all || holders.is_empty()) {
        return;
    }
    for i in 0..NODES {
        let was = initial.contains(&i);
        let is = holders.contains(&i);
        if was == is {
            continue;
        }
        let repair = if is { "delete" } else { "create" };
        let entry = (group.to_owned(), env.nodes[i].url(), repair.to_owned());
        assert!(
            pending.contains(&entry),
            "{when}: {group} on node {i} went from {was} to {is} with no {repair} repair \
             pending: {pending:?}"
        );
    }
}

fn check_after_rollback(env: &TestEnv, scenario: &Scenario, when: &str) {
    assert!(
        env.pending().is_empty(),
        "{when}: rollback left {:?}",
        env.pending()
    );
    for &(group, initial) in scenario.initial {
        let holders = env.holders(group);
        let everywhere: Vec<usize> = (0..NODES).collect();
        let initial = initial.to_vec();
        assert!(
            holders == initial || holders == everywhere || holders.is_empty(),
            "{when}: {group} is on {holders:?}; it was on {initial:?}"
        );
        if scenario.args[0] == "create" {
            assert!(
                initial.iter().all(|i| holders.contains(i)),
                "{when}: the create removed {group} from where it was: {holders:?}"
            );
        }
        if scenario.args[0] == "delete" {
            assert!(
                holders.iter().all(|i| initial.contains(i)),
                "{when}: the delete put {group} where it was not: {holders:?}"
            );
        }
    }
}

/// Aborts `scenario` at `point` on its n-th journal write, for every n the
/// command reaches; returns how many writes reached the point. The
/// environments whose journals still hold checks after the rollback go to
/// `unsettled`, to be awaited past the horizon all at once.
fn abort_everywhere(scenario: &Scenario, point: &str, unsettled: &mut Vec<TestEnv>) -> usize {
    for nth in 1..=MAX_WRITES {
        let when = format!("{}: abort at {point}:{nth}", scenario.name);
        let env = TestEnv::new(NODES);
        for &(group, on) in scenario.initial {
            env.seed(group, on);
        }
        (scenario.setup)(&env);
        let output = env
            .std_cmd()
            .args(scenario.args)
            .args(["--settle-horizon", HORIZON])
            .env(fault_point::VAR, format!("{point}:{nth}"))
            .output()
            .expect("run the binary");
        if !aborted(&output) {
            // The command made fewer writes than `nth`: it ran to its end.
            assert!(
                output.status.code().is_some(),
                "{when}: died from {:?}",
                output.status
            );
            return nth - 1;
        }

        // The journal is never torn: `journal()` parses it (when it exists).
        let _ = env.journal();
        for &(group, initial) in scenario.initial {
            differences_are_journaled(&env, group, initial, &when);
        }

        // Healthy nodes, then the cron job's `rollback`: it applies every repair, and
        // verifies the nodes whose change may still have been in flight (exit 3 while any
        // verification is left).
        let in_flight = env.written_ahead();
        clear_faults(&env);
        let rollback = env
            .cmd()
            .args(["rollback", "--settle-horizon", HORIZON])
            .output()
            .expect("rollback");
        let verifying = env.verifying();
        for entry in &in_flight {
            assert!(
                verifying.contains(entry),
                "{when}: {entry:?} was written ahead, yet is not verified: {verifying:?}"
            );
        }
        assert_eq!(
            rollback.status.code(),
            Some(if verifying.is_empty() { 0 } else { 3 }),
            "{when}: rollback failed: {}",
            String::from_utf8_lossy(&rollback.stderr)
        );
        check_after_rollback(&env, scenario, &when);
        if !env.entries().is_empty() {
            unsettled.push(env);
        }
    }
    panic!(
        "{}: still aborting at {point} after {MAX_WRITES} writes",
        scenario.name
    );
}

#[test]
fn aborting_at_every_journal_write_boundary_then_rollback_restores_all_or_nothing() {
    let mut removed_somewhere = false;
    let mut unsettled = Vec::new();
    for scenario in scenarios() {
        let writes: Vec<usize> = fault_point::NAMES
            .iter()
            .map(|point| abort_everywhere(&scenario, point, &mut unsettled))
            .collect();
        // Every journal write passes every boundary of its kind once.
        assert!(
            writes.iter().all(|&w| w == writes[0]),
            "{}: boundaries reached {writes:?} times",
            scenario.name
        );
        let removals: Vec<usize> = fault_point::REMOVE_NAMES
            .iter()
            .map(|point| abort_everywhere(&scenario, point, &mut unsettled))
            .collect();
        assert!(
            removals.iter().all(|&r| r == removals[0]),
            "{}: removal boundaries reached {removals:?} times",
            scenario.name
        );
        assert!(
            writes[0] + removals[0] >= 1,
            "{}: no journal write",
            scenario.name
        );
        removed_somewhere |= removals[0] >= 1;
        // Past the horizon every journal empties, and each group stays all-or-nothing.
        for env in unsettled.drain(..) {
            env.rollback_past_the_horizon(std::time::Duration::from_secs(60));
            check_after_rollback(
                &env,
                &scenario,
                &format!("{}: past the horizon", scenario.name),
            );
        }
    }
    assert!(removed_somewhere, "no scenario emptied the journal");
}

#[test]
fn without_an_armed_point_the_binary_runs_normally() {
    let env = TestEnv::new(NODES);
    env.std_cmd()
        .args(["create", "g"])
        .env(fault_point::VAR, "no-such-point")
        .output()
        .expect("run");
    assert_eq!(env.holders("g"), vec![0, 1, 2]);
    assert!(env.pending().is_empty());
}
