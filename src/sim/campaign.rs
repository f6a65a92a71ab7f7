//! A property-based fault campaign: the real engine and a real on-disk journal against the
//! simulated cluster, under random faults, signals and client crashes, checked against the
//! all-or-nothing guarantees after every run and again after a healthy replay.
//!
//! Each case draws 1 to 7 nodes; which of them hold each of two groups beforehand; one or
//! more creates or deletes; how many nodes the engine works on at a time; a fault schedule
//! (5xx, timeouts and resets before or after the node applies the change, 408, 429 with or
//! without `Retry-After`, a node down for a window of its requests); an optional signal (a
//! cancel) at a random request; an optional client crash at a random request (the sim
//! panics, the journal handle is dropped while unwinding, the journal stays on disk as it
//! was); and an optional replay while the faults still apply. Then every fault stops, the
//! journal is reopened from disk and replayed. Retries never sleep: the policy has zero
//! backoff and caps `Retry-After` at zero.
//!
//! An ordinary `cargo test` runs 2,000 cases (1,500 single operations, 500 sequences on one
//! group) in a few seconds. For a long campaign, set `CLUSTER_CLIENT_CAMPAIGN_CASES` to the
//! number of cases per property:
//!
//! ```sh
//! CLUSTER_CLIENT_CAMPAIGN_CASES=100000 cargo test --lib campaign
//! ```
//!
//! Every failure the campaign found is kept at the end of this file as a named `#[test]`
//! with its exact schedule; proptest also replays the seeds in
//! `proptest-regressions/campaign.txt` first.

use std::path::Path;
use std::time::Duration;

use proptest::prelude::*;
use proptest::test_runner::TestCaseError;

use crate::engine::{Cluster, NodeResult, OperationReport, Outcome};
use crate::journal::{self, Entry, Journal, Kind};
use crate::retry::RetryPolicy;
use crate::sim::{Crash, Fault, SimCluster, cases, load_entries, temp_dir};
use crate::transport::{Failure, Reply, Transport};
use crate::vocab::cancel::Cancel;
use crate::vocab::change::{Action, Operation, Repair};
use crate::vocab::group::GroupId;
use crate::vocab::hosts::Node;

const MAX_NODES: usize = 7;
/// Groups `g0` and `g1`: operations pick one, the other shows what a run must not touch.
const GROUPS: usize = 2;
/// Scheduled faults start at one of a node's first requests.
const SCHEDULE_LEN: usize = 8;

/// One drawn case.
#[derive(Debug, Clone)]
struct Scenario {
    /// How many nodes (`http://node1` ...).
    nodes: usize,
    /// `RetryPolicy::retries`; backoff is always zero.
    retries: u32,
    /// Per group, per node: whether the group is there beforehand.
    initial: Vec<Vec<bool>>,
    /// Operations in order, each on a group index. They share one `Cluster`, as the groups
    /// of one `cluster-client create a b` invocation do.
    ops: Vec<(Operation, usize)>,
    /// `(node, from, len, fault)`: the node's requests `from..from + len`
    /// (0-based, over every request the node receives) fail so.
    faults: Vec<(usize, usize, usize, Fault)>,
    /// `(node, from, len)`: the node is down (connection refused) for its requests
    /// `from..from + len`; this wins over `faults`.
    down: Vec<(usize, usize, usize)>,
    /// `(node, n, when)`: the client crashes at the node's n-th request.
    crash: Option<(usize, usize, Crash)>,
    /// `(node, n)`: a signal cancels the run when the node receives its n-th request.
    cancel: Option<(usize, usize)>,
    /// How many nodes the engine works on at a time.
    concurrency: usize,
    /// Whether the journal is replayed once while the faults still apply.
    faulty_replay: bool,
}

fn fault() -> impl Strategy<Value = Fault> {
    let five_xx = || prop::sample::select(vec![500_u16, 501, 502, 503, 504]);
    prop_oneof![
        five_xx().prop_map(Fault::StatusBefore),
        five_xx().prop_map(Fault::StatusAfter),
        Just(Fault::StatusBefore(408)),
        Just(Fault::TimeoutBefore),
        Just(Fault::TimeoutAfter),
        Just(Fault::ResetBefore),
        Just(Fault::ResetAfter),
        Just(Fault::Throttle(None)),
        Just(Fault::SignIn),
        // Note: the policy caps Retry-After at a zero max_backoff, so this never sleeps.
        (0_u64..=3600).prop_map(|s| Fault::Throttle(Some(Duration::from_secs(s)))),
    ]
}

/// How many consecutive requests a fault hits: mostly one, sometimes enough
/// to exhaust the retries.
fn burst() -> impl Strategy<Value = usize> {
    prop_oneof![6 => Just(1_usize), 3 => 2_usize..=4]
}

fn operation() -> impl Strategy<Value = Operation> {
    prop_oneof![Just(Operation::Create), Just(Operation::Delete)]
}

/// Scenarios with `ops` operations, each on one of the first `op_groups` groups.
fn scenario(
    ops: std::ops::RangeInclusive<usize>,
    op_groups: usize,
) -> impl Strategy<Value = Scenario> {
    (1..=MAX_NODES).prop_flat_map(move |n| {
        (
            0_u32..=3,
            prop::collection::vec(prop::collection::vec(any::<bool>(), n), GROUPS),
            prop::collection::vec((operation(), 0..op_groups), ops.clone()),
            prop::collection::vec((0..n, 0..SCHEDULE_LEN, burst(), fault()), 0..=3 * n),
            prop::collection::vec((0..n, 0..SCHEDULE_LEN, 1_usize..=6), 0..=2),
            prop::option::weighted(
                0.5,
                (
                    0..n,
                    0_usize..6,
                    prop_oneof![Just(Crash::Before), Just(Crash::After)],
                ),
            ),
            any::<bool>(),
            prop_oneof![Just(1_usize), 2_usize..=4],
            prop::option::weighted(0.15, (0..n, 0_usize..6)),
        )
            .prop_map(
                move |(
                    retries,
                    initial,
                    ops,
                    faults,
                    down,
                    crash,
                    faulty_replay,
                    concurrency,
                    cancel,
                )| {
                    Scenario {
                        nodes: n,
                        retries,
                        initial,
                        ops,
                        faults,
                        down,
                        crash,
                        cancel,
                        concurrency,
                        faulty_replay,
                    }
                },
            )
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases(1500)))]

    #[test]
    fn one_operation_under_random_faults_and_crashes_keeps_all_or_nothing(
        scenario in scenario(1..=1, 1),
    ) {
        run_case(&scenario)?;
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases(500)))]

    /// Later operations on a group meet what earlier ones left: refusals
    /// while repairs are pending, or the state a done run made.
    #[test]
    fn several_operations_on_one_group_keep_all_or_nothing(scenario in scenario(2..=3, 1)) {
        run_case(&scenario)?;
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases(500)))]

    /// Several groups through one `Cluster`, as `cluster-client create a b`
    /// and `--from-file` run them.
    #[test]
    fn several_groups_in_one_invocation_keep_all_or_nothing(scenario in scenario(2..=3, GROUPS)) {
        run_case(&scenario)?;
    }
}

/// The sim behind a reference, as the engine's `Transport`.
struct Shared<'s>(&'s SimCluster);

impl Transport for Shared<'_> {
    fn send(&self, node: &Node, action: Action, group: &GroupId) -> Result<Reply, Failure> {
        self.0.send(node, action, group)
    }
}

/// Per group, per node: whether the node has the group.
type State = Vec<Vec<bool>>;

struct Case<'s> {
    sim: &'s SimCluster,
    nodes: &'s [Node],
    groups: &'s [GroupId],
    path: &'s Path,
}

impl Case<'_> {
    fn state(&self) -> State {
        self.sim.states(self.nodes, self.groups)
    }

    fn show(&self, state: &[bool]) -> Vec<usize> {
        (0..self.nodes.len()).filter(|&i| state[i]).collect()
    }

    /// Whether a repair or a verification of `entries` brings `node` back with `repair`
    /// (a watch does nothing).
    fn has_entry(entries: &[Entry], group: &GroupId, node: &Node, repair: Repair) -> bool {
        entries
            .iter()
            .any(|e| &e.group == group && &e.host == node && e.action == repair && e.is_pending())
    }

    /// Every node that differs from `expected` has a journal entry whose
    /// repair brings it back.
    fn differences_are_journaled(
        &self,
        expected: &State,
        entries: &[Entry],
        when: &str,
    ) -> Result<(), TestCaseError> {
        let now = self.state();
        for (g, group) in self.groups.iter().enumerate() {
            for (i, node) in self.nodes.iter().enumerate() {
                if now[g][i] == expected[g][i] {
                    continue;
                }
                let repair = if now[g][i] {
                    Repair::Delete
                } else {
                    Repair::Create
                };
                prop_assert!(
                    Self::has_entry(entries, group, node, repair),
                    "{when}: {group:?} on {node} is {} but should be {}, and no journal entry \
                     ({repair:?}) restores it; journal: {entries:?}",
                    now[g][i],
                    expected[g][i],
                );
            }
        }
        Ok(())
    }

    /// The writes sent since request `since` were all journaled first and
    /// only went to nodes the operation had to change.
    fn writes_are_journaled_and_targeted(
        &self,
        since: usize,
        group: &GroupId,
        to_change: &[bool],
        when: &str,
    ) -> Result<(), TestCaseError> {
        for seen in self.sim.seen().iter().skip(since) {
            if seen.action == Action::Read {
                continue;
            }
            prop_assert_eq!(
                seen.journaled,
                Some(true),
                "{}: {} {} on {} was sent before its undo was journaled",
                when,
                seen.action,
                seen.group,
                seen.node
            );
            prop_assert_eq!(&seen.group, group.as_str(), "{}: wrong group", when);
            let index = self
                .nodes
                .iter()
                .position(|n| n.base() == seen.node)
                .expect("known node");
            prop_assert!(
                to_change[index],
                "{when}: {} sent to {} which was already in the requested state",
                seen.action,
                seen.node
            );
        }
        Ok(())
    }

    /// A create never removes a group that was there before; a delete never
    /// puts one where it was not.
    fn pre_existing_state_is_respected(
        &self,
        operation: Operation,
        g: usize,
        before: &[bool],
        when: &str,
    ) -> Result<(), TestCaseError> {
        let now = &self.state()[g];
        for i in 0..self.nodes.len() {
            match operation {
                Operation::Create => prop_assert!(
                    !before[i] || now[i],
                    "{when}: the create removed {:?} from {}, where it was beforehand",
                    self.groups[g],
                    self.nodes[i]
                ),
                Operation::Delete => prop_assert!(
                    before[i] || !now[i],
                    "{when}: the delete put {:?} on {}, where it was not beforehand",
                    self.groups[g],
                    self.nodes[i]
                ),
            }
        }
        Ok(())
    }

    /// Checks one finished (not crashed) run.
    #[allow(clippy::too_many_arguments)]
    fn check_run(
        &self,
        step: usize,
        operation: Operation,
        g: usize,
        before: &State,
        entries_before: &[Entry],
        sent_before: usize,
        report: &OperationReport,
        journal: &Journal,
    ) -> Result<(), TestCaseError> {
        let when = format!(
            "after run {step} ({operation:?} g{g}, {:?})",
            report.outcome
        );
        let group = &self.groups[g];
        let want = operation == Operation::Create;
        let now = self.state();
        let entries = journal.entries();
        let to_change: Vec<bool> = before[g].iter().map(|&b| b != want).collect();

        // The journal on disk is the one in memory.
        let on_disk = load_entries(self.path);
        prop_assert_eq!(&on_disk, entries, "{}: journal on disk differs", when);

        // A run refuses exactly when its group has pending repairs (not
        // verifications or watches), and then sends nothing.
        let had_pending = entries_before
            .iter()
            .any(|e| &e.group == group && e.kind == Kind::Repair);
        prop_assert_eq!(
            report.outcome == Outcome::Refused,
            had_pending,
            "{}: refused iff repairs were pending",
            when
        );
        if had_pending {
            prop_assert_eq!(
                self.sim.seen().len(),
                sent_before,
                "{}: sent requests",
                when
            );
            prop_assert_eq!(entries, entries_before, "{}: journal changed", when);
            return Ok(());
        }

        // Other groups are untouched, and no earlier entry is lost.
        for other in (0..self.groups.len()).filter(|&o| o != g) {
            prop_assert_eq!(
                &now[other],
                &before[other],
                "{}: g{} changed during a run on g{}",
                when,
                other,
                g
            );
        }
        for old in entries_before {
            prop_assert!(
                entries.iter().any(|e| e.same_repair(old)),
                "{when}: the run dropped an earlier journal entry {old:?}; journal: {entries:?}"
            );
        }
        self.writes_are_journaled_and_targeted(sent_before, group, &to_change, &when)?;
        self.pre_existing_state_is_respected(operation, g, &before[g], &when)?;

        // The outcome says what the cluster looks like.
        let pending_here: Vec<&Entry> = entries
            .iter()
            .filter(|e| &e.group == group && e.kind == Kind::Repair)
            .collect();
        let mut verifying: Vec<&Entry> = entries
            .iter()
            .filter(|e| &e.group == group && e.kind == Kind::Verify)
            .collect();
        let mut reported: Vec<&Entry> = report.verifying.iter().collect();
        verifying.sort_by_key(|e| (e.host.base().to_owned(), e.action.name()));
        reported.sort_by_key(|e| (e.host.base().to_owned(), e.action.name()));
        prop_assert_eq!(
            verifying,
            reported,
            "{}: the report's verifications are not the journal's",
            when
        );
        match report.outcome {
            Outcome::Done => {
                prop_assert!(
                    now[g].iter().all(|&p| p == want),
                    "{when}: exit 0 but {group:?} is on {:?}",
                    self.show(&now[g])
                );
                prop_assert!(
                    pending_here.is_empty(),
                    "{when}: done, yet {pending_here:?}"
                );
            }
            Outcome::RolledBack => {
                prop_assert_eq!(
                    &now[g],
                    &before[g],
                    "{}: rolled back, but the cluster is not as it was",
                    when
                );
                prop_assert!(
                    pending_here.is_empty(),
                    "{when}: rolled back, yet {pending_here:?}"
                );
            }
            Outcome::RepairsPending => {
                prop_assert!(!report.pending.is_empty(), "{when}: nothing pending");
                for pending in &report.pending {
                    prop_assert!(
                        entries.contains(pending),
                        "{when}: reported pending {pending:?} is not in the journal"
                    );
                }
            }
            Outcome::Refused => prop_assert!(false, "{when}: refused without pending repairs"),
            Outcome::Skipped => {
                prop_assert!(
                    report.interrupted,
                    "{when}: skipped with a working journal and no signal"
                );
                prop_assert_eq!(
                    &now[g],
                    &before[g],
                    "{}: skipped after a signal, but the cluster is not as it was",
                    when
                );
                prop_assert!(
                    pending_here.is_empty(),
                    "{when}: skipped, yet {pending_here:?}"
                );
            }
        }
        if report.outcome != Outcome::Done {
            self.differences_are_journaled(before, entries, &when)?;
        }

        // Each node's line says what happened to it.
        for (i, line) in report.nodes.iter().enumerate() {
            prop_assert_eq!(&line.host, &self.nodes[i]);
            let (was, is) = (before[g][i], now[g][i]);
            let ok = match line.result {
                NodeResult::Created => want && is,
                NodeResult::Deleted => !want && !is,
                NodeResult::AlreadyPresent => want && was && is,
                NodeResult::AlreadyAbsent => !want && !was && !is,
                NodeResult::RolledBack
                | NodeResult::Failed
                | NodeResult::Unreachable
                | NodeResult::Unreadable
                | NodeResult::NotAttempted => was == is,
                NodeResult::RollbackPending => {
                    Self::has_entry(entries, group, &self.nodes[i], operation.repair())
                }
            };
            prop_assert!(
                ok,
                "{when}: {} reported {:?}, but {group:?} was there: {was}, is there: {is}; \
                 journal: {entries:?}",
                self.nodes[i],
                line.result
            );
        }
        Ok(())
    }
}

/// Fails (instead of hanging in `Journal::open`) when a dead run's handle
/// still holds the journal's lock.
fn lock_is_free(path: &Path) -> Result<(), TestCaseError> {
    let lock = std::fs::File::open(journal::lock_path(path)).expect("lock file");
    prop_assert!(
        lock.try_lock().is_ok(),
        "the journal lock is still held after the run ended"
    );
    Ok(())
}

/// Runs one scenario and checks every invariant; `Err` names the first broken one.
fn run_case(s: &Scenario) -> Result<(), TestCaseError> {
    let dir = temp_dir();
    let path = dir.path().join("journal.json");
    let (sim, nodes) = SimCluster::new(s.nodes);
    let sim = sim.watch_journal(path.clone());
    let groups: Vec<GroupId> = (0..GROUPS)
        .map(|g| GroupId::new(format!("g{g}")).expect("group"))
        .collect();
    for (g, on) in s.initial.iter().enumerate() {
        for (i, &present) in on.iter().enumerate() {
            if present {
                sim.seed(&nodes[i], groups[g].as_str());
            }
        }
    }
    for &(node, from, len, fault) in &s.faults {
        for nth in from..from + len {
            sim.fault_at(&nodes[node], nth, fault);
        }
    }
    for &(node, from, len) in &s.down {
        sim.down(&nodes[node], from, len);
    }
    if let Some((node, nth, when)) = s.crash {
        sim.crash_at(&nodes[node], nth, when);
    }
    let policy = RetryPolicy {
        retries: s.retries,
        backoff: Duration::ZERO,
        max_backoff: Duration::ZERO,
    };
    let case = Case {
        sim: &sim,
        nodes: &nodes,
        groups: &groups,
        path: &path,
    };

    // Every operation goes through one cluster, as the groups of one invocation do.
    let cancel = Cancel::new();
    if let Some((node, nth)) = s.cancel {
        sim.cancel_at(&nodes[node], nth, &cancel);
    }
    // Note: a node silent once is probed for a millisecond-sized budget, so the
    // breaker's probes and waits run in the campaign too (down windows).
    let cluster = Cluster::new(nodes.clone(), Shared(&sim), policy.clone())
        .with_concurrency(s.concurrency)
        .with_cancel(cancel)
        .with_attempt_timeout(Duration::from_millis(1));
    let mut expected: State = s.initial.clone();
    let mut journal = Some(Journal::open(&path, &Cancel::new()).expect("open journal"));
    let mut crashed = false;
    for (step, &(operation, g)) in s.ops.iter().enumerate() {
        let before = case.state();
        let entries_before = journal.as_ref().expect("journal").entries().to_vec();
        let sent_before = sim.seen().len();
        let owned = journal.take().expect("journal");
        let run = |mut journal: Journal| {
            let report = cluster.change(operation, &groups[g], &mut journal);
            (report, journal)
        };
        // Note: the journal moves into the closure, so a crash drops it while
        // unwinding and releases its lock, as a dying process would.
        let ran = sim.catch_crash(move || run(owned));
        let Some((report, owned)) = ran else {
            crashed = true;
            check_crash(&case, step, operation, g, &before, &expected, sent_before)?;
            break;
        };
        journal = Some(owned);
        let report = match report {
            Ok(report) => report,
            Err(e) => return Err(TestCaseError::fail(format!("run {step}: {e}"))),
        };
        case.check_run(
            step,
            operation,
            g,
            &before,
            &entries_before,
            sent_before,
            &report,
            journal.as_ref().expect("journal"),
        )?;
        if report.outcome == Outcome::Done {
            expected[g] = vec![operation == Operation::Create; s.nodes];
        }
    }

    // A replay while the faults still apply (and may crash it) must lose nothing.
    if !crashed && s.faulty_replay {
        let owned = journal.take().expect("journal");
        let replay = |mut journal: Journal| {
            let report = cluster.replay(&mut journal);
            (report, journal)
        };
        let replayed = sim.catch_crash(move || replay(owned));
        match replayed {
            Some((report, owned)) => {
                prop_assert_eq!(
                    report.pending,
                    owned.pending(),
                    "faulty replay: report and journal disagree"
                );
                case.differences_are_journaled(&expected, owned.entries(), "after faulty replay")?;
                journal = Some(owned);
            }
            None => {
                let entries = load_entries(&path);
                case.differences_are_journaled(&expected, &entries, "after a crashed replay")?;
            }
        }
    }

    // Faults stop; reopen the journal from disk and replay it on healthy nodes.
    drop(journal);
    sim.heal();
    lock_is_free(&path)?;
    let mut journal = Journal::open(&path, &Cancel::new()).expect("reopen journal");
    let repairs = journal
        .entries()
        .iter()
        .filter(|e| e.kind == Kind::Repair)
        .count();
    let replay = Cluster::new(nodes.clone(), Shared(&sim), policy.clone())
        .with_concurrency(s.concurrency)
        .replay(&mut journal);
    prop_assert!(
        replay.pending == replay.verifying,
        "a healthy replay left repairs: {:?}",
        journal.entries()
    );
    prop_assert_eq!(replay.repaired.len(), repairs);
    // Past the settle horizon, a replay finds no late write and drops every check.
    let later = crate::vocab::time::Clock::new(|| crate::vocab::time::now_unix() + 86_400);
    let replay = Cluster::new(nodes.clone(), Shared(&sim), policy)
        .with_clock(later)
        .replay(&mut journal);
    prop_assert!(
        replay.pending == 0 && journal.entries().is_empty(),
        "a healthy replay past the horizon left {:?}",
        journal.entries()
    );
    prop_assert!(load_entries(&path).is_empty(), "journal on disk not empty");
    let now = case.state();
    for (g, group) in groups.iter().enumerate() {
        prop_assert!(
            now[g].iter().all(|&p| p) || now[g] == s.initial[g] || now[g].iter().all(|&p| !p),
            "after the replay, {group:?} is on {:?}: neither all, none, nor as it was ({:?})",
            case.show(&now[g]),
            case.show(&s.initial[g])
        );
        prop_assert_eq!(
            &now[g],
            &expected[g],
            "after the replay, {:?} is on {:?}, expected {:?}",
            group,
            case.show(&now[g]),
            case.show(&expected[g])
        );
    }
    Ok(())
}

/// Checks the journal a crashed run left on disk.
fn check_crash(
    case: &Case<'_>,
    step: usize,
    operation: Operation,
    g: usize,
    before: &State,
    expected: &State,
    sent_before: usize,
) -> Result<(), TestCaseError> {
    let when = format!("after a crash in run {step} ({operation:?} g{g})");
    let group = &case.groups[g];
    let want = operation == Operation::Create;
    // The crashed run's handle is gone: the journal must open (no lock left behind).
    lock_is_free(case.path)?;
    let journal = Journal::open(case.path, &Cancel::new()).expect("reopen after a crash");
    let entries = journal.entries();
    let to_change: Vec<bool> = before[g].iter().map(|&b| b != want).collect();
    case.writes_are_journaled_and_targeted(sent_before, group, &to_change, &when)?;
    case.pre_existing_state_is_respected(operation, g, &before[g], &when)?;
    case.differences_are_journaled(expected, entries, &when)?;
    Ok(())
}

// Failures the campaign found, with their exact schedules.

fn group(id: &str) -> GroupId {
    GroupId::new(id).expect("group")
}

/// The repairs in the journal: group, host and action.
fn pending(journal: &Journal) -> Vec<(String, String, Repair)> {
    journal
        .entries()
        .iter()
        .filter(|e| e.kind == Kind::Repair)
        .map(|e| {
            (
                e.group.as_str().to_owned(),
                e.host.base().to_owned(),
                e.action,
            )
        })
        .collect()
}

/// Two nodes; group `a` is created, fails on node 2 and its undo on node 1
/// is refused three times, so it ends with a repair pending on node 1.
fn after_a_create_with_a_pending_repair(
    path: &Path,
) -> (SimCluster, Vec<Node>, Journal, RetryPolicy) {
    let (sim, nodes) = SimCluster::new(2);
    sim.fault(
        &nodes[1],
        Some(Action::Create),
        Fault::StatusBefore(500),
        Some(3),
    );
    sim.fault(&nodes[0], Some(Action::Delete), Fault::Refused, Some(3));
    let policy = RetryPolicy {
        retries: 2,
        backoff: Duration::ZERO,
        max_backoff: Duration::ZERO,
    };
    let journal = Journal::open(path, &Cancel::new()).expect("journal");
    (sim, nodes, journal, policy)
}

const ENGINE_BUG: &str = "regression: Cluster::run once cleaned the journal by run id only, \
                          and every group of one invocation shares it";

#[test]
fn a_later_group_that_succeeds_keeps_an_earlier_groups_pending_repair() {
    let dir = temp_dir();
    let path = dir.path().join("journal.json");
    let (sim, nodes, mut journal, policy) = after_a_create_with_a_pending_repair(&path);
    // One cluster for both groups, as `cluster-client create a b` runs them.
    let cluster = Cluster::new(nodes.clone(), Shared(&sim), policy.clone());
    let a = cluster.create(&group("a"), &mut journal).expect("journal");
    assert_eq!(a.outcome, Outcome::RepairsPending);
    assert_eq!(sim.holders(&nodes, "a"), vec![0]);

    let b = cluster.create(&group("b"), &mut journal).expect("journal");
    assert_eq!(b.outcome, Outcome::Done);
    assert_eq!(
        pending(&journal),
        vec![("a".to_owned(), "http://node1".to_owned(), Repair::Delete)],
        "{ENGINE_BUG}: b's clean-up dropped a's pending undo"
    );

    drop(journal);
    let mut journal = Journal::open(&path, &Cancel::new()).expect("reopen");
    Cluster::new(nodes.clone(), Shared(&sim), policy).replay(&mut journal);
    assert!(sim.holders(&nodes, "a").is_empty(), "a stays half-created");
}

#[test]
fn a_later_group_that_rolls_back_keeps_an_earlier_groups_pending_repair() {
    let dir = temp_dir();
    let path = dir.path().join("journal.json");
    let (sim, nodes, mut journal, policy) = after_a_create_with_a_pending_repair(&path);
    let cluster = Cluster::new(nodes.clone(), Shared(&sim), policy);
    let a = cluster.create(&group("a"), &mut journal).expect("journal");
    assert_eq!(a.outcome, Outcome::RepairsPending);

    // `b` fails on node 2 too, and its own undo on node 1 works.
    sim.fault(
        &nodes[1],
        Some(Action::Create),
        Fault::StatusBefore(500),
        Some(3),
    );
    let b = cluster.create(&group("b"), &mut journal).expect("journal");
    assert_eq!(b.outcome, Outcome::RolledBack);
    assert!(b.pending.is_empty(), "{:?}", b.pending);
    assert_eq!(
        pending(&journal),
        vec![("a".to_owned(), "http://node1".to_owned(), Repair::Delete)],
        "{ENGINE_BUG}: b's rollback dropped a's pending undo"
    );
}

/// The campaign's own minimal case for the bug above, exactly as proptest shrank it.
#[test]
fn campaign_case_a_done_run_drops_another_groups_pending_repair() {
    let scenario = Scenario {
        nodes: 1,
        retries: 1,
        initial: vec![vec![false], vec![false]],
        ops: vec![(Operation::Create, 1), (Operation::Create, 0)],
        faults: vec![(0, 1, 2, Fault::StatusBefore(502))],
        down: vec![(0, 4, 3), (0, 2, 2)],
        crash: None,
        cancel: None,
        concurrency: 1,
        faulty_replay: false,
    };
    if let Err(e) = run_case(&scenario) {
        panic!("{e}");
    }
}
