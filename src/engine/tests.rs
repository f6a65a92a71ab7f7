//! The engine against the simulated cluster: traces, outcomes and the journal, deterministically.

use super::*;
use crate::sim::{Crash, Fault, SimCluster};
use crate::vocab::change::Repair;
use Action::{Create as Post, Delete as Del, Read as Get};
use std::sync::{Arc, Mutex};

struct Fixture {
    sim: SimCluster,
    nodes: Vec<Node>,
    journal: Journal,
    _dir: tempfile::TempDir,
}

fn fixture(n: usize) -> Fixture {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("journal.json");
    let (sim, nodes) = SimCluster::new(n);
    let sim = sim.watch_journal(path.clone());
    let journal = Journal::open(&path, &Cancel::new()).expect("journal");
    Fixture {
        sim,
        nodes,
        journal,
        _dir: dir,
    }
}

fn policy() -> RetryPolicy {
    RetryPolicy {
        retries: 2,
        backoff: Duration::ZERO,
        max_backoff: Duration::ZERO,
    }
}

/// Reads one node at a time, so that request traces are deterministic;
/// `reads_go_to_every_node_at_once` covers the parallel reads.
/// A node silent once is given up on at once (a zero attempt time-out);
/// `a_silent_node_*` tests the breaker's waits.
fn cluster<'s>(sim: &'s SimCluster, nodes: &[Node]) -> Cluster<&'s SimCluster> {
    Cluster::new(nodes.to_vec(), sim, policy())
        .with_read_width(1)
        .with_attempt_timeout(Duration::ZERO)
}

/// A clock a day ahead: every settle horizon recorded now has passed.
fn past_the_horizon() -> Clock {
    Clock::new(|| crate::vocab::time::now_unix() + 86_400)
}

fn group(id: &str) -> GroupId {
    GroupId::new(id).expect("group")
}

impl Fixture {
    fn cluster(&self) -> Cluster<&SimCluster> {
        cluster(&self.sim, &self.nodes)
    }
    fn run(&mut self, operation: Operation, id: &str) -> OperationReport {
        let cluster = cluster(&self.sim, &self.nodes);
        cluster
            .change(operation, &group(id), &mut self.journal)
            .expect("journal ok")
    }
    fn results(report: &OperationReport) -> Vec<NodeResult> {
        report.nodes.iter().map(|n| n.result).collect()
    }
    /// The repairs in the journal: host and action.
    fn pending(&self) -> Vec<(String, Repair)> {
        self.journal
            .entries()
            .iter()
            .filter(|e| e.kind == Kind::Repair)
            .map(|e| (e.host.base().to_owned(), e.action))
            .collect()
    }
    /// The verifications and watches in the journal: host, action and kind.
    fn checks(&self) -> Vec<(String, Repair, Kind)> {
        self.journal
            .entries()
            .iter()
            .filter(|e| e.kind != Kind::Repair)
            .map(|e| (e.host.base().to_owned(), e.action, e.kind))
            .collect()
    }
}

impl Transport for &SimCluster {
    fn send(
        &self,
        node: &Node,
        action: Action,
        group: &GroupId,
    ) -> Result<crate::transport::Reply, crate::transport::Failure> {
        (**self).send(node, action, group)
    }
}

#[test]
fn create_on_a_healthy_cluster_reads_then_writes_in_file_order() {
    let mut f = fixture(3);
    let report = f.run(Operation::Create, "g");
    assert_eq!(report.outcome, Outcome::Done);
    assert_eq!(Fixture::results(&report), vec![NodeResult::Created; 3]);
    assert_eq!(
        f.sim.trace(&f.nodes),
        vec![
            (1, Get),
            (2, Get),
            (3, Get),
            (1, Post),
            (2, Post),
            (3, Post)
        ]
    );
    assert_eq!(f.sim.holders(&f.nodes, "g"), vec![0, 1, 2]);
    assert!(f.journal.entries().is_empty());
}

#[test]
fn every_write_is_journaled_before_it_is_sent() {
    let mut f = fixture(3);
    f.sim
        .fault(&f.nodes[2], Some(Post), Fault::StatusBefore(500), None);
    f.run(Operation::Create, "g");
    let writes: Vec<_> = f
        .sim
        .seen()
        .into_iter()
        .filter(|s| s.action == Post)
        .collect();
    assert!(!writes.is_empty());
    assert!(
        writes.iter().all(|s| s.journaled == Some(true)),
        "{writes:?}"
    );
}

#[test]
fn create_of_a_group_already_everywhere_sends_no_writes() {
    let mut f = fixture(3);
    for node in &f.nodes {
        f.sim.seed(node, "g");
    }
    let report = f.run(Operation::Create, "g");
    assert_eq!(report.outcome, Outcome::Done);
    assert_eq!(
        Fixture::results(&report),
        vec![NodeResult::AlreadyPresent; 3]
    );
    assert_eq!(f.sim.writes(), 0);
    assert!(!f.journal.path().exists(), "no journal write needed");
}

#[test]
fn delete_of_a_group_on_no_node_sends_no_writes() {
    let mut f = fixture(3);
    let report = f.run(Operation::Delete, "g");
    assert_eq!(report.outcome, Outcome::Done);
    assert_eq!(
        Fixture::results(&report),
        vec![NodeResult::AlreadyAbsent; 3]
    );
    assert_eq!(f.sim.writes(), 0);
}

#[test]
fn failure_rolls_back_in_reverse_order() {
    let mut f = fixture(4);
    f.sim
        .fault(&f.nodes[2], Some(Post), Fault::StatusBefore(503), None);
    let report = f.run(Operation::Create, "g");
    assert_eq!(report.outcome, Outcome::RolledBack);
    assert_eq!(
        Fixture::results(&report),
        vec![
            NodeResult::RolledBack,
            NodeResult::RolledBack,
            NodeResult::Failed,
            NodeResult::NotAttempted
        ]
    );
    let writes: Vec<_> = f
        .sim
        .trace(&f.nodes)
        .into_iter()
        .filter(|(_, a)| *a != Get)
        .collect();
    // Node 3 is read to settle its outcome, but 503 "before" left it absent.
    assert_eq!(
        writes,
        vec![
            (1, Post),
            (2, Post),
            (3, Post),
            (3, Post),
            (3, Post),
            (2, Del),
            (1, Del)
        ]
    );
    assert!(f.sim.holders(&f.nodes, "g").is_empty());
    // Node 3's 503s may still land: it is verified until the settle horizon.
    assert!(f.pending().is_empty());
    assert_eq!(
        f.checks(),
        [("http://node3".to_owned(), Repair::Delete, Kind::Verify)]
    );
    assert_eq!(report.verifying.len(), 1);
}

#[test]
fn rollback_keeps_group_that_existed_before() {
    let mut f = fixture(3);
    f.sim.seed(&f.nodes[1], "g");
    f.sim
        .fault(&f.nodes[2], Some(Post), Fault::StatusBefore(500), None);
    let report = f.run(Operation::Create, "g");
    assert_eq!(report.outcome, Outcome::RolledBack);
    assert_eq!(report.nodes[1].result, NodeResult::AlreadyPresent);
    assert_eq!(f.sim.holders(&f.nodes, "g"), vec![1]);
    assert_eq!(f.sim.sent(&f.nodes[1], Del), 0);
}

#[test]
fn pre_existing_group_is_kept_even_when_its_node_answers_500_first() {
    // Note: a POST-first client would take the 400 after a 500 as its own
    // create and delete the pre-existing group in the rollback.
    let mut f = fixture(3);
    f.sim.seed(&f.nodes[1], "g");
    f.sim
        .fault(&f.nodes[2], Some(Post), Fault::StatusBefore(500), None);
    f.sim
        .fault(&f.nodes[1], Some(Get), Fault::StatusBefore(500), Some(1));
    f.run(Operation::Create, "g");
    assert_eq!(f.sim.holders(&f.nodes, "g"), vec![1]);
}

#[test]
fn post_400_after_an_ambiguous_attempt_is_this_runs_create() {
    let mut f = fixture(3);
    f.sim
        .fault(&f.nodes[1], Some(Post), Fault::StatusAfter(500), Some(1));
    f.sim
        .fault(&f.nodes[2], Some(Post), Fault::StatusBefore(500), None);
    let report = f.run(Operation::Create, "g");
    assert_eq!(
        report.nodes[1].result,
        NodeResult::RolledBack,
        "it was ours to undo"
    );
    assert!(f.sim.holders(&f.nodes, "g").is_empty());
}

#[test]
fn post_400_after_an_ambiguous_attempt_counts_as_created() {
    let mut f = fixture(2);
    f.sim
        .fault(&f.nodes[0], Some(Post), Fault::TimeoutAfter, Some(1));
    let report = f.run(Operation::Create, "g");
    assert_eq!(report.outcome, Outcome::Done);
    assert_eq!(report.nodes[0].result, NodeResult::Created);
    assert_eq!(
        report.nodes[0].attempts, 4,
        "GET, POST timeout, POST 400, GET that sees the group"
    );
}

#[test]
fn exhausted_ambiguous_create_is_read_back_and_counts_when_it_landed() {
    let mut f = fixture(2);
    f.sim
        .fault(&f.nodes[1], Some(Post), Fault::StatusAfter(502), None);
    let report = f.run(Operation::Create, "g");
    assert_eq!(report.outcome, Outcome::Done);
    assert_eq!(report.nodes[1].result, NodeResult::Created);
    assert_eq!(f.sim.holders(&f.nodes, "g"), vec![0, 1]);
}

#[test]
fn exhausted_ambiguous_create_is_read_back_and_undone_when_a_later_node_fails() {
    let mut f = fixture(3);
    f.sim
        .fault(&f.nodes[1], Some(Post), Fault::StatusAfter(502), None);
    f.sim
        .fault(&f.nodes[2], Some(Post), Fault::StatusBefore(500), None);
    let report = f.run(Operation::Create, "g");
    assert_eq!(report.outcome, Outcome::RolledBack);
    assert_eq!(report.nodes[1].result, NodeResult::RolledBack);
    assert!(f.sim.holders(&f.nodes, "g").is_empty());
}

#[test]
fn unknown_outcome_is_undone_because_undos_are_idempotent() {
    let mut f = fixture(2);
    f.sim
        .fault(&f.nodes[1], Some(Post), Fault::TimeoutAfter, None);
    // The read phase gets through; the read that would settle the POST does not.
    f.sim.fault(&f.nodes[1], Some(Get), Fault::Pass, Some(1));
    f.sim
        .fault(&f.nodes[1], Some(Get), Fault::TimeoutBefore, Some(3));
    let report = f.run(Operation::Create, "g");
    assert_eq!(report.outcome, Outcome::RolledBack);
    assert_eq!(report.nodes[1].result, NodeResult::RolledBack);
    assert_eq!(
        report.nodes[1].attempts,
        1 + 3 + 3 + 1,
        "read, 3 POSTs, 3 reads, 1 undo"
    );
    assert!(f.sim.holders(&f.nodes, "g").is_empty());
}

#[test]
fn unreachable_node_stops_the_run_before_any_write() {
    let mut f = fixture(3);
    f.sim.fault(&f.nodes[1], None, Fault::Refused, None);
    let report = f.run(Operation::Create, "g");
    assert_eq!(report.outcome, Outcome::RolledBack);
    assert_eq!(
        Fixture::results(&report),
        vec![
            NodeResult::NotAttempted,
            NodeResult::Unreachable,
            NodeResult::NotAttempted
        ]
    );
    assert_eq!(f.sim.writes(), 0);
    assert!(!f.journal.path().exists());
}

#[test]
fn failed_undo_stays_in_the_journal_until_a_replay_applies_it() {
    let mut f = fixture(3);
    f.sim.fault(&f.nodes[2], Some(Post), Fault::Refused, None);
    f.sim.fault(&f.nodes[0], Some(Del), Fault::Refused, None);
    let report = f.run(Operation::Create, "g");
    assert_eq!(report.outcome, Outcome::RepairsPending);
    assert_eq!(report.nodes[0].result, NodeResult::RollbackPending);
    assert_eq!(
        f.pending(),
        vec![("http://node1".to_owned(), Repair::Delete)]
    );
    assert_eq!(
        f.journal.entries()[0].last_error.as_deref(),
        Some("simulated Connect")
    );

    // The group is refused while its repair is pending; others go ahead.
    assert_eq!(f.run(Operation::Create, "g").outcome, Outcome::Refused);
    f.sim.heal();
    assert_eq!(f.run(Operation::Create, "other").outcome, Outcome::Done);

    let replay = cluster(&f.sim, &f.nodes).replay(&mut f.journal);
    assert_eq!(replay.repaired.len(), 1);
    assert_eq!(replay.pending, 0);
    assert!(f.journal.entries().is_empty());
    assert!(f.sim.holders(&f.nodes, "g").is_empty());
}

#[test]
fn delete_restores_the_group_only_where_it_was() {
    let mut f = fixture(4);
    for i in [0, 1, 3] {
        f.sim.seed(&f.nodes[i], "g");
    }
    f.sim
        .fault(&f.nodes[3], Some(Del), Fault::StatusBefore(500), None);
    let report = f.run(Operation::Delete, "g");
    assert_eq!(report.outcome, Outcome::RolledBack);
    assert_eq!(
        Fixture::results(&report),
        vec![
            NodeResult::RolledBack,
            NodeResult::RolledBack,
            NodeResult::AlreadyAbsent,
            NodeResult::Failed
        ]
    );
    assert_eq!(f.sim.holders(&f.nodes, "g"), vec![0, 1, 3]);
    assert_eq!(f.sim.sent(&f.nodes[2], Post), 0);
}

#[test]
fn delete_that_landed_despite_an_error_is_restored() {
    let mut f = fixture(3);
    for node in &f.nodes {
        f.sim.seed(node, "g");
    }
    f.sim
        .fault(&f.nodes[1], Some(Del), Fault::TimeoutAfter, None);
    f.sim
        .fault(&f.nodes[2], Some(Del), Fault::StatusBefore(500), None);
    let report = f.run(Operation::Delete, "g");
    assert_eq!(report.outcome, Outcome::RolledBack);
    assert_eq!(report.nodes[1].result, NodeResult::RolledBack);
    assert_eq!(f.sim.holders(&f.nodes, "g"), vec![0, 1, 2]);
}

#[test]
fn replay_skips_a_dead_node_after_its_first_failure() {
    let mut f = fixture(3);
    f.sim.fault(&f.nodes[2], Some(Post), Fault::Refused, None);
    f.sim.fault(&f.nodes[0], Some(Del), Fault::Refused, None);
    for id in ["a", "b", "c"] {
        f.run(Operation::Create, id);
    }
    assert_eq!(f.journal.entries().len(), 3);
    let writes = Arc::new(AtomicU64::new(0));
    let counter = Arc::clone(&writes);
    f.journal.set_write_hook(Arc::new(move |point| {
        if matches!(point, "journal-before-temp" | "journal-before-remove") {
            counter.fetch_add(1, Ordering::SeqCst);
        }
        Ok(())
    }));
    let before = f.sim.seen().len();
    let replay = cluster(&f.sim, &f.nodes).replay(&mut f.journal);
    assert_eq!(replay.pending, 3);
    assert_eq!(
        f.sim.seen().len() - before,
        3,
        "one request and two retries, then skipped"
    );
    assert_eq!(writes.load(Ordering::SeqCst), 1, "one rewrite per replay");
    let entries = f.journal.entries();
    assert!(entries.iter().all(|e| e.failed_replays == 1));
    let reason = |i: usize| entries[i].last_error.as_ref().expect("a reason");
    assert!(!reason(2).starts_with("skipped"), "{}", reason(2));
    assert!(reason(0).starts_with("skipped"), "{}", reason(0));
    assert!(
        Arc::ptr_eq(reason(0), reason(1)),
        "every skipped repair shares one copy of its reason"
    );
}

#[test]
fn cancel_stops_new_changes_and_rolls_back() {
    let mut f = fixture(3);
    let cancel = Cancel::new();
    let cluster = Cluster::new(f.nodes.clone(), &f.sim, policy()).with_cancel(cancel.clone());
    // Node 2 is throttled with a long Retry-After; cancel while it waits.
    f.sim.fault(
        &f.nodes[1],
        Some(Post),
        Fault::Throttle(Some(Duration::from_secs(600))),
        None,
    );
    let policy = RetryPolicy {
        max_backoff: Duration::from_secs(600),
        ..policy()
    };
    let cluster = Cluster { policy, ..cluster };
    let report = std::thread::scope(|scope| {
        let handle = scope.spawn(|| cluster.change(Operation::Create, &group("g"), &mut f.journal));
        while f.sim.seen().iter().filter(|s| s.action == Post).count() < 2 {
            std::thread::yield_now();
        }
        cancel.cancel();
        handle.join().expect("run").expect("journal")
    });
    assert!(report.interrupted);
    assert_eq!(report.outcome, Outcome::RolledBack);
    assert_eq!(
        Fixture::results(&report),
        vec![
            NodeResult::RolledBack,
            NodeResult::Failed,
            NodeResult::NotAttempted
        ]
    );
    assert!(f.sim.holders(&f.nodes, "g").is_empty());
}

#[test]
fn a_signal_before_any_change_skips_the_group_and_claims_no_rollback() {
    // The signal comes with node 2's read (served): node 3 is never read.
    // With node 3's read: every node is read, and no change starts.
    for (signal_at, read_by_all) in [(1, false), (2, true)] {
        let mut f = fixture(3);
        let cancel = Cancel::new();
        f.sim.cancel_at(&f.nodes[signal_at], 0, &cancel);
        let report = cluster(&f.sim, &f.nodes)
            .with_cancel(cancel.clone())
            .change(Operation::Create, &group("g"), &mut f.journal)
            .expect("journal");
        assert!(report.interrupted);
        assert_eq!(report.outcome, Outcome::Skipped, "signal at {signal_at}");
        assert_eq!(report.journal_error, None);
        assert!(report.pending.is_empty());
        assert_eq!(f.sim.writes(), 0);
        assert!(!cancel.change_sent());
        assert!(f.journal.entries().is_empty());
        let reads = f.sim.seen().len();
        assert_eq!(
            reads,
            if read_by_all { 3 } else { 2 },
            "signal at {signal_at}"
        );
    }
}

#[test]
fn status_reports_agreement_and_unreachable_nodes() {
    let f = fixture(3);
    let report = f.cluster().status(&group("g"));
    assert!(report.consistent);
    f.sim.seed(&f.nodes[0], "g");
    let report = f.cluster().status(&group("g"));
    assert!(!report.consistent);
    assert_eq!(report.nodes[0].state, NodeState::Present);
    f.sim.seed(&f.nodes[1], "g");
    f.sim.seed(&f.nodes[2], "g");
    f.sim.fault(&f.nodes[2], None, Fault::Refused, None);
    let report = f.cluster().status(&group("g"));
    assert!(!report.consistent);
    assert_eq!(report.nodes[2].state, NodeState::Unreachable);
    assert_eq!(report.nodes[2].attempts, 3);
    assert_eq!(f.sim.writes(), 0);
}

#[test]
fn a_page_answering_for_a_node_makes_it_unreadable_and_nothing_is_written() {
    // An auth proxy's sign-in page: a 200 to a read that does not name the group.
    let mut f = fixture(3);
    f.sim.seed(&f.nodes[1], "g");
    f.sim.fault(&f.nodes[1], Some(Get), Fault::SignIn, Some(1));
    let report = f.cluster().status(&group("g"));
    assert!(!report.consistent);
    assert_eq!(report.nodes[1].state, NodeState::Unreadable);
    assert_eq!(report.nodes[1].attempts, 1, "a 200 is final, not retried");
    let error = report.nodes[1].error.as_deref().unwrap_or_default();
    assert!(
        error.starts_with("HTTP 200 OK: its body is not JSON"),
        "{error}"
    );

    f.sim.fault(&f.nodes[2], Some(Get), Fault::SignIn, None);
    let report = f.run(Operation::Delete, "g");
    assert_eq!(report.nodes[2].result, NodeResult::Unreadable);
    assert_eq!(f.sim.writes(), 0);
    assert_eq!(f.sim.holders(&f.nodes, "g"), [1]);
    assert!(f.pending().is_empty());
}

#[test]
fn parallel_create_keeps_every_guarantee() {
    let mut f = fixture(7);
    f.sim.seed(&f.nodes[1], "g");
    f.sim
        .fault(&f.nodes[3], Some(Post), Fault::StatusAfter(500), None);
    f.sim
        .fault(&f.nodes[4], Some(Post), Fault::StatusBefore(503), None);
    let report = cluster(&f.sim, &f.nodes)
        .with_concurrency(4)
        .change(Operation::Create, &group("g"), &mut f.journal)
        .expect("journal");
    assert_eq!(report.outcome, Outcome::RolledBack);
    assert_eq!(report.nodes[1].result, NodeResult::AlreadyPresent);
    assert_eq!(
        f.sim.holders(&f.nodes, "g"),
        vec![1],
        "pre-existing kept, the rest undone"
    );
    let writes: Vec<_> = f
        .sim
        .seen()
        .into_iter()
        .filter(|s| s.action != Get)
        .collect();
    assert!(
        writes
            .iter()
            .filter(|s| s.action == Post)
            .all(|s| s.journaled == Some(true))
    );
    assert!(f.pending().is_empty());
    assert_eq!(
        f.checks(),
        [
            ("http://node4".to_owned(), Repair::Delete, Kind::Verify),
            ("http://node5".to_owned(), Repair::Delete, Kind::Verify)
        ],
        "the 500s and 503s may still land: each retry was a POST the node may apply late"
    );
    let hosts: Vec<&Node> = report.nodes.iter().map(|n| &n.host).collect();
    assert_eq!(
        hosts,
        f.nodes.iter().collect::<Vec<_>>(),
        "hosts-file order"
    );
}

#[test]
fn parallel_replay_applies_every_repair() {
    let mut f = fixture(3);
    f.sim.fault(&f.nodes[2], Some(Post), Fault::Refused, None);
    f.sim.fault(&f.nodes[0], Some(Del), Fault::Refused, None);
    f.sim.fault(&f.nodes[1], Some(Del), Fault::Refused, None);
    for id in ["a", "b", "c", "d"] {
        f.run(Operation::Create, id);
    }
    assert_eq!(f.journal.entries().len(), 8);
    f.sim.heal();
    let replay = cluster(&f.sim, &f.nodes)
        .with_concurrency(4)
        .replay(&mut f.journal);
    assert_eq!((replay.repaired.len(), replay.pending), (8, 0));
    for id in ["a", "b", "c", "d"] {
        assert!(f.sim.holders(&f.nodes, id).is_empty(), "{id}");
    }
}

fn ids(names: &[&str]) -> Vec<GroupId> {
    names.iter().map(|n| group(n)).collect()
}

#[test]
fn bulk_groups_share_write_ahead_and_keep_pre_existing_groups() {
    let mut f = fixture(3);
    f.sim.seed(&f.nodes[0], "b");
    let reports = cluster(&f.sim, &f.nodes).change_many(
        Operation::Create,
        &ids(&["a", "b", "d"]),
        &mut f.journal,
    );
    let outcomes: Vec<Outcome> = reports.iter().map(|r| r.outcome).collect();
    assert_eq!(outcomes, vec![Outcome::Done; 3]);
    assert_eq!(reports[1].nodes[0].result, NodeResult::AlreadyPresent);
    for id in ["a", "b", "d"] {
        assert_eq!(f.sim.holders(&f.nodes, id), vec![0, 1, 2], "{id}");
    }
    assert!(f.journal.entries().is_empty());
    let writes: Vec<_> = f
        .sim
        .seen()
        .into_iter()
        .filter(|s| s.action == Post)
        .collect();
    assert!(
        writes.iter().all(|s| s.journaled == Some(true)),
        "write-ahead for every group"
    );
}

#[test]
fn a_failed_group_in_a_batch_keeps_only_its_own_pending_undo() {
    let mut f = fixture(3);
    // Node 3 refuses group "b"; node 1 cannot undo anything.
    f.sim.fault(&f.nodes[0], Some(Del), Fault::Refused, None);
    let reports = {
        let sim = &f.sim;
        let cluster = cluster(sim, &f.nodes);
        let mut reports = cluster.change_many(Operation::Create, &ids(&["a"]), &mut f.journal);
        sim.fault(&f.nodes[2], Some(Post), Fault::StatusBefore(500), None);
        reports.extend(cluster.change_many(Operation::Create, &ids(&["b"]), &mut f.journal));
        sim.heal();
        sim.fault(&f.nodes[0], Some(Del), Fault::Refused, None);
        reports.extend(cluster.change_many(
            Operation::Create,
            &ids(&["c", "d", "e"]),
            &mut f.journal,
        ));
        reports
    };
    let outcomes: Vec<Outcome> = reports.iter().map(|r| r.outcome).collect();
    assert_eq!(
        outcomes,
        vec![
            Outcome::Done,
            Outcome::RepairsPending,
            Outcome::Done,
            Outcome::Done,
            Outcome::Done
        ]
    );
    assert_eq!(
        f.pending(),
        vec![("http://node1".to_owned(), Repair::Delete)]
    );
    assert_eq!(f.journal.entries()[0].group.as_str(), "b");
    assert_eq!(reports[1].pending.len(), 1);
    assert!(reports[2].pending.is_empty(), "c must not claim b's undo");
}

#[test]
fn a_crash_anywhere_in_a_batch_leaves_every_group_all_or_nothing_after_replay() {
    let groups = ids(&["a", "b", "c", "d"]);
    // Each node sees a GET and a POST per group (8 requests), but node 2
    // already has "c", so it gets no POST for it.
    for node in 0..3 {
        let requests = if node == 1 { 7 } else { 8 };
        for nth in 0..requests {
            for when in [Crash::Before, Crash::After] {
                let f = fixture(3);
                f.sim.seed(&f.nodes[1], "c");
                f.sim.crash_at(&f.nodes[node], nth, when);
                let path = f.journal.path().to_owned();
                let Fixture {
                    sim,
                    nodes,
                    journal,
                    _dir,
                } = f;
                let crashed = sim
                    .catch_crash(|| {
                        let mut journal = journal;
                        cluster(&sim, &nodes).change_many(Operation::Create, &groups, &mut journal)
                    })
                    .is_none();
                assert!(crashed, "node {node} request {nth} was never reached");
                sim.heal();
                let mut journal = Journal::open(&path, &Cancel::new()).expect("reopen");
                let replay = cluster(&sim, &nodes).replay(&mut journal);
                assert_eq!(
                    replay.pending, replay.verifying,
                    "only verifications are left"
                );
                // Note: the changes in flight at the crash may still land,
                // so the repairs became verifications; past the settle
                // horizon, a replay drops them.
                let later = cluster(&sim, &nodes).with_clock(past_the_horizon());
                assert_eq!(later.replay(&mut journal).pending, 0);
                assert!(journal.entries().is_empty());
                for id in ["a", "b", "d"] {
                    let holders = sim.holders(&nodes, id);
                    assert!(
                        holders.is_empty() || holders == [0, 1, 2],
                        "crash at node {node} #{nth} {when:?}: {id} on {holders:?}"
                    );
                }
                assert!(sim.has(&nodes[1], "c"), "pre-existing c must survive");
            }
        }
    }
}

// Regressions for the holes a hostile world showed (issue 8). Each
// failed on the engine before this change.

/// A sim whose requests take `choices` in order (option numbers as in
/// `sim.rs`: 8 = another client flips the group here first, 10 = the
/// client crashes before sending), then are served normally.
fn scripted(n: usize, choices: Vec<usize>) -> (SimCluster, Vec<Node>) {
    let (sim, nodes) = SimCluster::new(n);
    let mut choices = choices.into_iter();
    let sim = sim.script(
        Box::new(move |_| choices.next().unwrap_or(0)),
        &Cancel::new(),
    );
    (sim, nodes)
}

#[test]
fn another_clients_group_leaves_the_journal_before_the_next_request() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("journal.json");
    // Reads, then another client creates g on node 1 just before our
    // POST there (400); the read that confirms it; then the client dies
    // before its POST to node 2.
    let (sim, nodes) = scripted(2, vec![0, 0, 8, 0, 10]);
    let mut journal = Journal::open(&path, &Cancel::new()).expect("journal");
    let crashed = sim
        .catch_crash(|| cluster(&sim, &nodes).create(&group("g"), &mut journal))
        .is_none();
    assert!(crashed);
    drop(journal);
    sim.heal();
    let mut journal = Journal::open(&path, &Cancel::new()).expect("reopen");
    assert!(
        journal.entries().iter().all(|e| e.host != nodes[0]),
        "node 1's undo outlived the 400: {:?}",
        journal.entries()
    );
    cluster(&sim, &nodes).replay(&mut journal);
    assert_eq!(
        sim.holders(&nodes, "g"),
        vec![0],
        "the replay deleted the other client's group"
    );
}

#[test]
fn a_400_that_a_read_does_not_confirm_fails_the_node_and_rolls_back() {
    let mut f = fixture(3);
    f.sim
        .fault(&f.nodes[1], Some(Post), Fault::Refuse(400), None);
    let report = f.run(Operation::Create, "g");
    assert_eq!(report.outcome, Outcome::RolledBack);
    assert_eq!(report.nodes[1].result, NodeResult::Failed);
    assert_eq!(
        report.nodes[1].error,
        Some(NodeError::NotApplied("HTTP 400 Bad Request".to_owned()))
    );
    assert!(f.sim.holders(&f.nodes, "g").is_empty());
    assert!(f.journal.entries().is_empty());
}

#[test]
fn an_undo_answered_400_counts_only_when_a_read_sees_it() {
    let mut f = fixture(2);
    f.sim.seed(&f.nodes[0], "g");
    f.sim.seed(&f.nodes[1], "g");
    f.sim
        .fault(&f.nodes[1], Some(Del), Fault::StatusBefore(500), None);
    // Node 1's re-create is refused for a reason of its own.
    f.sim
        .fault(&f.nodes[0], Some(Post), Fault::Refuse(400), None);
    let report = f.run(Operation::Delete, "g");
    assert_eq!(report.outcome, Outcome::RepairsPending);
    assert_eq!(report.nodes[0].result, NodeResult::RollbackPending);
    assert_eq!(
        f.pending(),
        vec![("http://node1".to_owned(), Repair::Create)]
    );
}

#[test]
fn a_delete_answered_404_is_already_absent_when_a_read_agrees() {
    let mut f = fixture(2);
    f.sim.seed(&f.nodes[0], "g");
    f.sim.seed(&f.nodes[1], "g");
    // Another client deletes g on node 2 just before our DELETE, which
    // this node answers 404.
    f.sim
        .fault(&f.nodes[1], Some(Del), Fault::StatusAfter(404), Some(1));
    let report = f.run(Operation::Delete, "g");
    assert_eq!(report.outcome, Outcome::Done);
    assert!(f.sim.holders(&f.nodes, "g").is_empty());
}

#[test]
fn a_failed_write_ahead_in_a_later_batch_keeps_the_earlier_reports() {
    let mut f = fixture(2);
    let writes = Arc::new(AtomicU64::new(0));
    let counter = Arc::clone(&writes);
    // The third journal write is batch 2's write-ahead: the disk is full.
    f.journal.set_write_hook(Arc::new(move |point| {
        if matches!(point, "journal-before-temp" | "journal-before-remove")
            && counter.fetch_add(1, Ordering::SeqCst) == 2
        {
            return Err(std::io::Error::from_raw_os_error(28));
        }
        Ok(())
    }));
    let ids: Vec<GroupId> = (0..40).map(|i| group(&format!("g{i}"))).collect();
    let reports = cluster(&f.sim, &f.nodes).change_many(Operation::Create, &ids, &mut f.journal);
    assert_eq!(reports.len(), 40, "every group is reported");
    assert!(reports[..32].iter().all(|r| r.outcome == Outcome::Done));
    assert!(reports[32..].iter().all(|r| r.outcome == Outcome::Skipped));
    assert!(f.sim.holders(&f.nodes, "g33").is_empty());
    assert_eq!(f.sim.holders(&f.nodes, "g31"), vec![0, 1]);
}

#[test]
fn one_cluster_reused_for_create_then_a_bulk_run_keeps_the_pending_undo() {
    let mut f = fixture(2);
    f.sim
        .fault(&f.nodes[1], Some(Post), Fault::StatusBefore(500), Some(3));
    f.sim.fault(&f.nodes[0], Some(Del), Fault::Refused, Some(3));
    let cluster = cluster(&f.sim, &f.nodes);
    let a = cluster
        .create(&group("a"), &mut f.journal)
        .expect("journal");
    assert_eq!(a.outcome, Outcome::RepairsPending);
    let reports = cluster.change_many(Operation::Create, &ids(&["a", "b"]), &mut f.journal);
    assert_eq!(reports[0].outcome, Outcome::Refused);
    assert_eq!(reports[1].outcome, Outcome::Done);
    assert_eq!(
        f.pending(),
        vec![("http://node1".to_owned(), Repair::Delete)],
        "a's pending undo was dropped by the bulk run's clean-up"
    );
}

/// The sim, with every read held until `want` reads are in flight at
/// once (or 10 s pass); records the most seen at once.
struct Gate<'s> {
    sim: &'s SimCluster,
    want: usize,
    state: Arc<(Mutex<(usize, usize)>, std::sync::Condvar)>,
}

impl Transport for Gate<'_> {
    fn send(
        &self,
        node: &Node,
        action: Action,
        group: &GroupId,
    ) -> Result<crate::transport::Reply, crate::transport::Failure> {
        if action == Action::Read {
            let (lock, changed) = &*self.state;
            let mut state = lock.lock().expect("gate");
            state.0 += 1;
            state.1 = state.1.max(state.0);
            changed.notify_all();
            let (mut state, _) = changed
                .wait_timeout_while(state, Duration::from_secs(10), |s| s.1 < self.want)
                .expect("gate");
            state.0 -= 1;
        }
        self.sim.send(node, action, group)
    }
}

#[test]
fn reads_go_to_every_node_at_once_whatever_the_concurrency() {
    let (sim, nodes) = SimCluster::new(5);
    let state = Arc::new((Mutex::new((0, 0)), std::sync::Condvar::new()));
    let gate = Gate {
        sim: &sim,
        want: 5,
        state: Arc::clone(&state),
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let mut journal =
        Journal::open(&dir.path().join("journal.json"), &Cancel::new()).expect("journal");
    let report = Cluster::new(nodes.clone(), gate, policy())
        .create(&group("g"), &mut journal)
        .expect("journal");
    assert_eq!(report.outcome, Outcome::Done);
    assert_eq!(state.0.lock().expect("gate").1, 5, "all five reads at once");
    // Writes keep their order with --concurrency 1.
    let writes: Vec<(usize, Action)> = sim
        .trace(&nodes)
        .into_iter()
        .filter(|(_, a)| *a != Get)
        .collect();
    assert_eq!(writes, (1..=5).map(|i| (i, Post)).collect::<Vec<_>>());
}

#[test]
fn a_node_that_gave_no_answer_is_not_asked_again_in_the_same_run() {
    let mut f = fixture(3);
    f.sim.fault(&f.nodes[1], None, Fault::Refused, None);
    let ids: Vec<GroupId> = (0..40).map(|i| group(&format!("g{i}"))).collect();
    let reports = cluster(&f.sim, &f.nodes).change_many(Operation::Create, &ids, &mut f.journal);
    assert!(reports.iter().all(|r| r.outcome == Outcome::RolledBack));
    assert_eq!(
        f.sim.sent(&f.nodes[1], Get),
        3,
        "one round of retries for the whole run, not one per group"
    );
    assert_eq!(f.sim.writes(), 0);
    assert_eq!(reports[39].nodes[1].error, Some(NodeError::NotAsked));
}

/// Holds every create until the test opens it, counting those in flight.
struct Holding<'s> {
    sim: &'s SimCluster,
    /// Creates in flight, and whether the gate is open.
    state: Arc<(Mutex<(usize, bool)>, std::sync::Condvar)>,
}

impl Transport for Holding<'_> {
    fn send(
        &self,
        node: &Node,
        action: Action,
        group: &GroupId,
    ) -> Result<crate::transport::Reply, crate::transport::Failure> {
        if action == Post {
            let (lock, changed) = &*self.state;
            let mut state = lock.lock().expect("gate");
            state.0 += 1;
            changed.notify_all();
            let mut state = changed.wait_while(state, |s| !s.1).expect("gate");
            state.0 -= 1;
        }
        self.sim.send(node, action, group)
    }
}

#[test]
fn parallel_groups_change_up_to_n_groups_at_once_and_no_more() {
    let (sim, nodes) = SimCluster::new(2);
    let state = Arc::new((Mutex::new((0, false)), std::sync::Condvar::new()));
    let holding = Holding {
        sim: &sim,
        state: Arc::clone(&state),
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let mut journal =
        Journal::open(&dir.path().join("journal.json"), &Cancel::new()).expect("journal");
    let groups: Vec<GroupId> = (0..12).map(|i| group(&format!("g{i}"))).collect();
    let cluster = Cluster::new(nodes.clone(), holding, policy()).with_parallel_groups(4);
    let reports = std::thread::scope(|scope| {
        let run = scope.spawn(|| cluster.change_many(Operation::Create, &groups, &mut journal));
        let (lock, changed) = &*state;
        let state = lock.lock().expect("gate");
        let (state, _) = changed
            .wait_timeout_while(state, Duration::from_secs(10), |s| s.0 < 4)
            .expect("gate");
        let at_first = state.0;
        // Note: nothing can let a fifth in while these four are held; a
        // wrong limit shows up within microseconds, so the wait is generous.
        let (mut state, _) = changed
            .wait_timeout_while(state, Duration::from_millis(300), |s| s.0 <= 4)
            .expect("gate");
        let most = state.0;
        // The gate opens before any assertion, so a failure cannot hang the run.
        state.1 = true;
        changed.notify_all();
        drop(state);
        assert_eq!(at_first, 4, "four groups' creates in flight at once");
        assert_eq!(most, 4, "never more than four groups at once");
        run.join().expect("run")
    });
    assert!(reports.iter().all(|r| r.outcome == Outcome::Done));
    for g in &groups {
        assert_eq!(sim.holders(&nodes, g.as_str()), vec![0, 1], "{g}");
    }
}

/// Runs one bulk create of 24 groups on 3 nodes with `parallel` groups in
/// flight: `b3` is already on node 1, `b7` everywhere, node 3 refuses
/// every create of a group whose id ends in 5 and cannot undo anything.
/// Returns the reports, where every group ended, and whether every write
/// found its undo durable.
fn bulk_run(parallel: usize) -> (Vec<OperationReport>, Vec<Vec<usize>>, bool) {
    let mut f = fixture(3);
    f.sim.seed(&f.nodes[0], "b3");
    for node in &f.nodes {
        f.sim.seed(node, "b7");
    }
    let ids: Vec<GroupId> = (0..24).map(|i| group(&format!("b{i}"))).collect();
    f.sim.fault(&f.nodes[0], Some(Del), Fault::Refused, None);
    let refusing = Refusing {
        sim: &f.sim,
        node: f.nodes[2].clone(),
    };
    let reports = Cluster::new(f.nodes.clone(), refusing, policy())
        .with_read_width(1)
        .with_parallel_groups(parallel)
        .change_many(Operation::Create, &ids, &mut f.journal);
    let holders = ids
        .iter()
        .map(|g| f.sim.holders(&f.nodes, g.as_str()))
        .collect();
    let journaled = f
        .sim
        .seen()
        .iter()
        .filter(|s| s.action != Get)
        .filter(|s| s.action == Post || s.changed)
        .all(|s| s.journaled == Some(true));
    (reports, holders, journaled)
}

/// The simulated cluster, but one node answers 400 to any create of a
/// group whose id ends in 5, whatever the order the groups arrive in.
struct Refusing<'s> {
    sim: &'s SimCluster,
    node: Node,
}

impl Transport for Refusing<'_> {
    fn send(
        &self,
        node: &Node,
        action: Action,
        group: &GroupId,
    ) -> Result<crate::transport::Reply, crate::transport::Failure> {
        if node == &self.node && action == Post && group.as_str().ends_with('5') {
            return Ok(crate::transport::Reply::status(400));
        }
        self.sim.send(node, action, group)
    }
}

#[test]
fn parallel_groups_report_and_leave_the_same_as_one_group_at_a_time() {
    let (one, one_holders, one_journaled) = bulk_run(1);
    let (eight, eight_holders, eight_journaled) = bulk_run(8);
    assert!(
        one_journaled && eight_journaled,
        "every change written ahead"
    );
    let summary = |reports: &[OperationReport]| -> Vec<(String, Outcome, Vec<NodeResult>)> {
        reports
            .iter()
            .map(|r| (r.group.to_string(), r.outcome, Fixture::results(r)))
            .collect()
    };
    assert_eq!(
        summary(&eight),
        summary(&one),
        "same reports, in input order"
    );
    assert_eq!(eight_holders, one_holders);
    // The refused groups rolled back with node 1's undo pending; the rest are everywhere.
    assert_eq!(one[5].outcome, Outcome::RepairsPending);
    assert_eq!(one[15].outcome, Outcome::RepairsPending);
    assert_eq!(one[3].nodes[0].result, NodeResult::AlreadyPresent);
    assert_eq!(one[7].outcome, Outcome::Done);
    assert_eq!(one_holders[4], vec![0, 1, 2]);
    assert_eq!(
        one_holders[5],
        vec![0],
        "node 1's undo could not be applied"
    );
}

#[test]
fn removals_asked_for_during_a_write_share_the_next_one() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut journal =
        Journal::open(&dir.path().join("journal.json"), &Cancel::new()).expect("journal");
    let (_, nodes) = SimCluster::new(1);
    let groups: Vec<GroupId> = (0..9).map(|i| group(&format!("g{i}"))).collect();
    let entry = |group: &GroupId, batch: &str| Entry {
        group: group.clone(),
        host: nodes[0].clone(),
        action: Repair::Delete,
        operation: Operation::Create,
        batch: batch.into(),
        recorded_at: 0,
        failed_replays: 0,
        last_error: None,
        kind: Kind::Repair,
        until: None,
        settled: false,
    };
    journal
        .update(|entries| {
            entries.extend(groups.iter().map(|g| entry(g, "b")));
            entries.push(entry(&group("other"), "another-batch"));
        })
        .expect("write");
    // The first write holds until the test opens the gate.
    let writes = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let gate = Arc::new((Mutex::new((false, false)), std::sync::Condvar::new()));
    let hook = {
        let (writes, gate) = (Arc::clone(&writes), Arc::clone(&gate));
        Arc::new(move |name: &'static str| {
            if name == "journal-before-temp" && writes.fetch_add(1, Ordering::SeqCst) == 0 {
                let (lock, changed) = &*gate;
                let mut state = lock.lock().expect("gate");
                state.0 = true;
                changed.notify_all();
                let _ = changed
                    .wait_timeout_while(state, Duration::from_secs(10), |s| !s.1)
                    .expect("gate");
            }
            Ok(())
        })
    };
    journal.set_write_hook(hook);
    let commits = Commits::new(&mut journal);
    let (sim, _) = SimCluster::new(1);
    let cluster = Cluster::new(nodes.clone(), sim, RetryPolicy::default());
    let forget = || vec![(nodes[0].clone(), checks::NodeFate::forget())];
    let results = std::thread::scope(|scope| {
        let first = scope.spawn(|| commits.settle("b", &groups[0], forget(), &cluster));
        let (lock, changed) = &*gate;
        let state = lock.lock().expect("gate");
        let (state, _) = changed
            .wait_timeout_while(state, Duration::from_secs(10), |s| !s.0)
            .expect("gate");
        drop(state);
        let others: Vec<_> = groups[1..]
            .iter()
            .map(|g| scope.spawn(|| commits.settle("b", g, forget(), &cluster)))
            .collect();
        let queued = commits.wait_for_waiting(8, Duration::from_secs(10));
        lock.lock().expect("gate").1 = true;
        changed.notify_all();
        assert!(queued, "eight removals wait while the first is written");
        std::iter::once(first)
            .chain(others)
            .map(|h| h.join().expect("remove"))
            .collect::<Vec<_>>()
    });
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    assert_eq!(
        writes.load(Ordering::SeqCst),
        2,
        "one write, then one for all eight"
    );
    let left: Vec<&str> = journal.entries().iter().map(|e| e.group.as_str()).collect();
    assert_eq!(left, ["other"]);
}

/// The simulated cluster, but every write to `node` hangs until the caller
/// gives it up (as a real request does once a signal's grace runs out), and
/// the signal comes as its first write arrives.
struct HangingNode<'s> {
    sim: &'s SimCluster,
    node: Node,
    signal: Cancel,
}

impl Transport for HangingNode<'_> {
    fn send(
        &self,
        node: &Node,
        action: Action,
        group: &GroupId,
    ) -> Result<crate::transport::Reply, crate::transport::Failure> {
        self.sim.send(node, action, group)
    }

    fn send_abandoning(
        &self,
        node: &Node,
        action: Action,
        group: &GroupId,
        abandon: crate::transport::Abandon<'_>,
    ) -> Result<crate::transport::Reply, crate::transport::Failure> {
        if *node != self.node || action == Get {
            return self.sim.send(node, action, group);
        }
        self.signal.cancel();
        while abandon
            .due()
            .is_none_or(|due| std::time::Instant::now() < due)
        {
            abandon.cancel.sleep(Duration::from_millis(5));
        }
        Err(crate::transport::Failure {
            kind: crate::transport::FailureKind::Abandoned,
            message: "abandoned".to_owned(),
        })
    }
}

#[test]
fn after_a_signal_one_hanging_undo_does_not_use_up_the_grace_of_the_others() {
    let mut f = fixture(3);
    let cancel = Cancel::new();
    let transport = HangingNode {
        sim: &f.sim,
        node: f.nodes[2].clone(),
        signal: cancel.clone(),
    };
    let report = Cluster::new(f.nodes.clone(), transport, policy())
        .with_read_width(1)
        .with_cancel(cancel)
        .with_shutdown_grace(Duration::from_millis(300))
        .create(&group("g"), &mut f.journal)
        .expect("journal");
    // Undone in reverse, node 3 would hold the whole grace and nodes 2 and 1
    // would keep the group; after a signal every undo goes at once.
    assert!(f.sim.holders(&f.nodes, "g").is_empty());
    assert_eq!(
        Fixture::results(&report),
        vec![
            NodeResult::RolledBack,
            NodeResult::RolledBack,
            NodeResult::RollbackPending
        ]
    );
    assert_eq!(f.pending(), [("http://node3".to_owned(), Repair::Delete)]);
}

/// Retries with short back-offs, so the breaker's cool-down is 20 ms.
fn breaker_policy() -> RetryPolicy {
    RetryPolicy {
        retries: 2,
        backoff: Duration::from_millis(1),
        max_backoff: Duration::from_millis(20),
    }
}

#[test]
fn a_silent_node_that_comes_back_fails_only_the_group_in_flight() {
    let mut f = fixture(3);
    let groups: Vec<GroupId> = (0..20).map(|i| group(&format!("g{i}"))).collect();
    // Node 2 refuses its first six requests: the first group's read (three
    // attempts) and one probe (three more); then it answers again.
    f.sim.down(&f.nodes[1], 0, 6);
    let reports = Cluster::new(f.nodes.clone(), &f.sim, breaker_policy())
        .with_read_width(1)
        .with_attempt_timeout(Duration::from_secs(5))
        .change_many(Operation::Create, &groups, &mut f.journal);
    let outcomes: Vec<Outcome> = reports.iter().map(|r| r.outcome).collect();
    let mut expected = vec![Outcome::Done; 20];
    expected[0] = Outcome::RolledBack;
    // Before the breaker, every group after the first failed at once, not asked.
    assert_eq!(outcomes, expected);
    assert_eq!(reports[0].nodes[1].result, NodeResult::Unreachable);
    assert_eq!(
        reports[1].nodes[1].attempts,
        3 + 1 + 1,
        "a probe that fails (three attempts) waits and probes again (one), then creates"
    );
}

#[test]
fn a_dead_node_costs_one_retry_budget_not_one_per_group() {
    let mut f = fixture(3);
    let groups: Vec<GroupId> = (0..40).map(|i| group(&format!("g{i}"))).collect();
    f.sim.fault(&f.nodes[1], None, Fault::Refused, None);
    let timeout = Duration::from_millis(100);
    let budget = breaker_policy().budget(timeout);
    let started = std::time::Instant::now();
    let reports = Cluster::new(f.nodes.clone(), &f.sim, breaker_policy())
        .with_read_width(1)
        .with_attempt_timeout(timeout)
        .change_many(Operation::Create, &groups, &mut f.journal);
    let took = started.elapsed();
    assert!(reports.iter().all(|r| r.outcome == Outcome::RolledBack));
    let not_asked = reports
        .iter()
        .filter(|r| r.nodes[1].error == Some(NodeError::NotAsked))
        .count();
    assert!(
        not_asked >= 30,
        "groups after the budget fail at once: {not_asked}"
    );
    // Probes every 20 ms during a budget of about 320 ms, three attempts each:
    // far fewer than the 120 reads of one round per group.
    let reads = f.sim.sent(&f.nodes[1], Get);
    assert!(
        reads <= 3 * (2 + budget.as_millis() as usize / 20),
        "{reads} reads"
    );
    assert!(
        took < budget + Duration::from_secs(5),
        "the run waits about one budget, not one per group: {took:?}"
    );
    assert_eq!(f.sim.writes(), 0);
}
