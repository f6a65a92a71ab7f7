//! The operation engine: read, journal, change, and compensate, node by node.
//!
//! Every create or delete runs in four steps. It first reads every node
//! (GET), so it knows exactly where the group already was: an unreachable
//! node stops the run before anything is written, and nothing this run did
//! not create is ever deleted by its rollback. It then records the
//! compensation for every node it is about to change in the journal,
//! durably, before the first change. It then changes the nodes in order;
//! on the first failure it undoes what it changed, in reverse order, and
//! leaves only the undos it could not apply in the journal.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::journal::{self, Entry, Journal, JournalError, Kind};
use crate::retry::{Exchange, Mode, Retrier, RetryPolicy};
use crate::transport::Transport;
use crate::vocab::cancel::Cancel;
use crate::vocab::change::{Action, Operation};
use crate::vocab::fanout::fan_out;
use crate::vocab::group::GroupId;
use crate::vocab::hosts::Node;
use crate::vocab::time::Clock;

mod apply;
mod batch;
mod breaker;
mod checks;
mod commits;
mod compensate;
mod dry_run;
mod read;
mod replay;
mod report;
mod status;
#[cfg(test)]
mod tests;
mod work;

use commits::{Commits, Ledger};
use work::{GroupWork, Ownership, Slot, Step};

pub use dry_run::{PlanReport, PlanVerdict, PlannedNode, PlannedStep};
pub use report::{
    NodeError, NodeReport, NodeResult, NodeState, NodeStatus, OperationReport, Outcome,
    ReplayReport, StatusReport,
};

/// A cluster: its nodes, how to reach them, and how to retry.
///
/// This is the reusable client. Build it with [`Cluster::new`], open a
/// [`Journal`], then call [`Cluster::replay`], [`Cluster::create`],
/// [`Cluster::delete`] or [`Cluster::status`].
///
/// One `Cluster` may run any number of operations: every batch of groups
/// journals its undos under an id of its own, so no run can clear, or
/// count as its own, the entries of another.
#[derive(Debug)]
pub struct Cluster<T> {
    nodes: Vec<Node>,
    transport: T,
    policy: RetryPolicy,
    cancel: Cancel,
    grace: Duration,
    concurrency: usize,
    parallel_groups: usize,
    read_width: usize,
    /// How many undos go out at once after a signal.
    undo_width_after_signal: usize,
    /// Repairs for groups of this run that other journals hold.
    elsewhere: HashMap<GroupId, (PathBuf, Vec<Entry>)>,
    /// How long after an ambiguous write the node may still apply it.
    settle_horizon: Duration,
    /// The time for `recorded_at` and `until`.
    clock: Clock,
    /// Nodes that gave no answer to a read in this run (see [`breaker`]).
    breaker: breaker::Breaker,
}

/// How many nodes are read at a time, whatever `--concurrency` is: reads
/// change nothing, so a group's read phase costs one round trip (a few for
/// more nodes than this), not one per node. A read round starts no thread
/// of its own (`Retrier::call_each`); only a read that is retried does.
// Note: measured (docs/benchmarks.md): with 64, 200 nodes took 4 read rounds per
// command, and the run was slower than a POST-first client; 256 reads them
// in one round but its 400 threads pushed peak RSS to 17.7 MB; 128 (two
// rounds) beats the POST-first client and stays under 15 MB.
pub const READ_WIDTH: usize = 128;

/// The most changes in flight at once: `--parallel-groups` ×
/// `--concurrency`. A change in flight holds one thread (its caller's), a
/// read none, so a run stays under about 1024 threads and a few.
// Note: the bound keeps that inside a container's usual pids limit of a
// few thousand.
pub const MAX_IN_FLIGHT: usize = 1024;

/// The time one attempt is assumed to take at most when
/// [`Cluster::with_attempt_timeout`] is not called: the CLI's `--timeout` default.
pub const DEFAULT_ATTEMPT_TIMEOUT: Duration = Duration::from_secs(5);

/// The breaker of a run under `policy`, with attempts of `timeout`: a node
/// may stay silent for one request's whole budget, probed every
/// `max_backoff` (at most a second) meanwhile.
fn breaker_for(policy: &RetryPolicy, timeout: Duration) -> breaker::Breaker {
    breaker::Breaker::new(policy.budget(timeout), policy.max_backoff)
}

/// The default time allowed for rolling back after a signal.
pub const DEFAULT_SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// The default settle horizon: how long after an ambiguous write (a time-out,
/// a reset, a 5xx, a request abandoned on a signal) a node is assumed to be
/// able to apply it late.
// Note: the usual limits that let a request outlive its answer are a
// proxy's or gateway's upstream time-out (nginx and cloud load balancers:
// 60 s) and a database lock wait (MySQL: 50 s); five minutes covers them
// with a wide margin, and a verification costs one read per replay until
// then.
pub const DEFAULT_SETTLE_HORIZON: Duration = Duration::from_secs(300);

/// A journal id for one batch, unique within the process and across runs:
/// `pid@unix-millis.n`.
fn batch_id() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    format!(
        "{}.{}",
        journal::invocation_id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

impl<T: Transport> Cluster<T> {
    /// A cluster of `nodes` (worked on in this order) reached through `transport`.
    pub fn new(nodes: Vec<Node>, transport: T, policy: RetryPolicy) -> Self {
        Self {
            breaker: breaker_for(&policy, DEFAULT_ATTEMPT_TIMEOUT),
            nodes,
            transport,
            policy,
            cancel: Cancel::new(),
            grace: DEFAULT_SHUTDOWN_GRACE,
            concurrency: 1,
            parallel_groups: 1,
            read_width: READ_WIDTH,
            undo_width_after_signal: compensate::UNDO_WIDTH_AFTER_SIGNAL,
            elsewhere: HashMap::new(),
            settle_horizon: DEFAULT_SETTLE_HORIZON,
            clock: Clock::system(),
        }
    }

    /// How long after an ambiguous write of ours a node is assumed to be
    /// able to apply it late ([`DEFAULT_SETTLE_HORIZON`] by default). Until
    /// then the journal keeps a verification for the node: every replay
    /// reads it and undoes the write if it has landed.
    pub fn with_settle_horizon(mut self, horizon: Duration) -> Self {
        self.settle_horizon = horizon;
        self
    }

    /// After a signal, undoes up to `n` nodes at once (at least 1, and at
    /// least the concurrency; 64 by default). A test world that needs its
    /// requests in a fixed order sets 1.
    pub fn with_undo_width_after_signal(mut self, n: usize) -> Self {
        self.undo_width_after_signal = n.max(1);
        self
    }

    /// Says how long one attempt may take (`--timeout`; 5 s by default), so
    /// that a node silent for longer than one request's whole retry budget
    /// (see [`RetryPolicy::budget`]) makes later groups fail fast instead of
    /// waiting for it. Zero makes them fail fast as soon as it is silent.
    pub fn with_attempt_timeout(mut self, timeout: Duration) -> Self {
        self.breaker = breaker_for(&self.policy, timeout);
        self
    }

    /// Refuses, as it refuses a group with repairs pending in the journal a
    /// run holds, every group that `elsewhere` names: repairs for it that
    /// other journals of the same set hold (by group: that journal and its
    /// repairs). Such a group is reported [`Outcome::Refused`] with
    /// [`OperationReport::refused_by`] naming the journal; nothing is sent
    /// for it. Otherwise a run could, say, find the group on a node that a
    /// repair in another journal is about to delete, count it as already
    /// there, and exit 0 just before that replay leaves it half there.
    pub fn with_repairs_elsewhere(
        mut self,
        elsewhere: HashMap<GroupId, (PathBuf, Vec<Entry>)>,
    ) -> Self {
        self.elsewhere = elsewhere;
        self
    }

    /// Reads the time from `clock` (the system clock by default).
    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    /// The end of the settle horizon of a write sent now, in Unix seconds.
    fn settle_until(&self) -> u64 {
        let horizon =
            self.settle_horizon.as_secs() + u64::from(self.settle_horizon.subsec_nanos() > 0);
        self.clock.now().saturating_add(horizon)
    }

    /// Reads up to `n` nodes at a time (at least 1; [`READ_WIDTH`] by
    /// default). Reads are never fewer at a time than the concurrency.
    pub fn with_read_width(mut self, n: usize) -> Self {
        self.read_width = n.max(1);
        self
    }

    /// How many nodes one group reads at a time while `groups` groups read
    /// at once: the read width is shared between them, so a batch never
    /// has more than about [`READ_WIDTH`] reads in flight (or the
    /// concurrency, or one per group, when that is more).
    fn reads_at_a_time(&self, groups: usize) -> usize {
        self.read_width
            .div_ceil(groups.max(1))
            .max(self.concurrency)
    }

    /// Uses `cancel` to stop the run: once it fires, no new change starts,
    /// requests in flight are abandoned, and this run's changes are rolled
    /// back within the grace period.
    pub fn with_cancel(mut self, cancel: Cancel) -> Self {
        self.cancel = cancel;
        self
    }

    /// How long compensation may continue after a cancel.
    pub fn with_shutdown_grace(mut self, grace: Duration) -> Self {
        self.grace = grace;
        self
    }

    /// Works on up to `n` nodes at a time (at least 1). With 1, nodes are
    /// worked on one after another in hosts-file order; with more, they are
    /// started in that order and every guarantee still holds: write-ahead
    /// before any change, no new change after a failure, and reports in
    /// hosts-file order.
    ///
    /// `n` is clamped to [`MAX_IN_FLIGHT`].
    pub fn with_concurrency(mut self, n: usize) -> Self {
        self.concurrency = n.clamp(1, MAX_IN_FLIGHT);
        self
    }

    /// Works on up to `n` groups at a time (at least 1) in
    /// [`Cluster::change_many`]. Each group keeps every guarantee on its
    /// own: it reads every node first, its undos are durable before its
    /// first change, its changes go in hosts-file order (or the concurrency
    /// at a time), and a failure undoes them in reverse. Reports stay in
    /// input order whatever the finishing order.
    ///
    /// Requests in flight are at most `n` × the concurrency for changes
    /// and undos, and about [`READ_WIDTH`] for reads (see
    /// [`Cluster::with_read_width`]); each change in flight holds one
    /// thread (its caller's), a read none.
    ///
    /// `n` is clamped so that `n` × the concurrency stays within
    /// [`MAX_IN_FLIGHT`].
    pub fn with_parallel_groups(mut self, n: usize) -> Self {
        self.parallel_groups = n.max(1);
        self
    }

    /// How many groups a bulk run works on at a time (see
    /// [`Cluster::with_parallel_groups`]).
    pub fn groups_at_a_time(&self) -> usize {
        self.groups_in_flight()
    }

    /// The groups worked on at a time: `--parallel-groups`, lowered so that
    /// it × the concurrency stays within [`MAX_IN_FLIGHT`], in whatever
    /// order the builders were called.
    fn groups_in_flight(&self) -> usize {
        self.parallel_groups.min(MAX_IN_FLIGHT / self.concurrency)
    }

    /// How many groups share one write-ahead and one clean-up: at least
    /// [`BATCH_GROUPS`], and 4 rounds of the groups in flight.
    // Note: with N groups in flight, a batch of N groups would wait for its
    // slowest group before the next write-ahead; 4 rounds keep the window
    // full most of the time, for two durable writes per 4N groups.
    fn batch_len(&self) -> usize {
        BATCH_GROUPS.max(self.groups_in_flight() * 4)
    }

    /// The nodes, in hosts-file order.
    pub fn nodes(&self) -> &[Node] {
        &self.nodes
    }

    fn retrier(&self) -> Retrier<'_, T> {
        Retrier::new(&self.transport, &self.policy, &self.cancel)
    }

    /// Makes `group` exist on every node, or on none. See [`Cluster::change`].
    pub fn create(
        &self,
        group: &GroupId,
        journal: &mut Journal,
    ) -> Result<OperationReport, JournalError> {
        self.change(Operation::Create, group, journal)
    }

    /// Removes `group` from every node, or restores it where it was. See [`Cluster::change`].
    pub fn delete(
        &self,
        group: &GroupId,
        journal: &mut Journal,
    ) -> Result<OperationReport, JournalError> {
        self.change(Operation::Delete, group, journal)
    }

    /// Runs `operation` all-or-nothing.
    ///
    /// Node failures are not errors: they are in the report's outcome. An
    /// `Err` means the journal could not be written before any change, so
    /// no node was changed.
    pub fn change(
        &self,
        operation: Operation,
        group: &GroupId,
        journal: &mut Journal,
    ) -> Result<OperationReport, JournalError> {
        let groups = std::slice::from_ref(group);
        let blocked = pending_of(journal, groups);
        self.change_batch(operation, groups, journal, &blocked)
            .map(|mut reports| reports.pop().expect("one report per group"))
    }

    /// Runs `operation` on each group, each its own all-or-nothing
    /// operation, and returns one report per group, in order.
    ///
    /// Groups go in batches of [`BATCH_GROUPS`] (or 4 × the groups in
    /// flight, when that is more; see [`Cluster::with_parallel_groups`]):
    /// every group of a batch is read, then the undos of the whole batch
    /// are written ahead in one journal write, the groups are changed (one
    /// after another, or up to the groups in flight at a time), and one
    /// more journal write clears what completed. A crash mid-batch leaves
    /// the undos of every group in the batch, so a replay restores each of
    /// them all-or-nothing (groups that had completed are undone too).
    ///
    /// When a batch's write-ahead fails, nothing of that batch was sent: its
    /// groups and every later one are reported [`Outcome::Skipped`], and
    /// the run stops. Groups of earlier batches keep their reports.
    pub fn change_many(
        &self,
        operation: Operation,
        groups: &[GroupId],
        journal: &mut Journal,
    ) -> Vec<OperationReport> {
        self.change_many_reporting(operation, groups, journal, |_| {})
    }

    /// [`Cluster::change_many`], calling `on_report` with each group's report
    /// as soon as its batch is over (for progress displays).
    pub fn change_many_reporting(
        &self,
        operation: Operation,
        groups: &[GroupId],
        journal: &mut Journal,
        mut on_report: impl FnMut(&OperationReport),
    ) -> Vec<OperationReport> {
        let mut reports = Vec::with_capacity(groups.len());
        let batch_len = self.batch_len();
        // Note: one pass over the journal for the whole run, not one per
        // group: a backlog can hold a million entries.
        let mut blocked = pending_of(journal, groups);
        for (index, batch) in groups.chunks(batch_len).enumerate() {
            match self.change_batch(operation, batch, journal, &blocked) {
                Ok(done) => {
                    blocked.extend(
                        done.iter()
                            .filter(|r| !r.pending.is_empty())
                            .map(|r| (r.group.clone(), r.pending.clone())),
                    );
                    done.iter().for_each(&mut on_report);
                    reports.extend(done);
                }
                Err(error) => {
                    log::error!("{error}");
                    let reason = error.to_string();
                    let rest = &groups[index * batch_len..];
                    let mut pending = pending_of(journal, rest);
                    let mut verifying = verifying_of(journal, rest);
                    let skipped: Vec<OperationReport> = rest
                        .iter()
                        .map(|group| {
                            let pending = pending.remove(group).unwrap_or_default();
                            let mut report =
                                GroupWork::new(self, operation, group).skipped(&reason, pending);
                            report.verifying = verifying.remove(group).unwrap_or_default();
                            report
                        })
                        .collect();
                    for report in skipped {
                        on_report(&report);
                        reports.push(report);
                    }
                    break;
                }
            }
        }
        reports
    }

    /// Whether a write's `exchange` left `node` with `group` present
    /// (`want_present`) or absent, reading the node when the answer alone
    /// cannot say; and whether an attempt of it may still land later.
    ///
    /// 2xx: done. A final 4xx (400 "already exists", 404 for an absent
    /// group, or a node's own refusal) and an answer that may have been
    /// applied (5xx, time-out, reset) are settled by reading the node: only
    /// a read that sees the wanted state counts. No read is sent once the
    /// run is cancelled.
    ///
    /// `was_other` says the node was the other way before the write (this
    /// run changed it): a read that then sees the wanted state shows that an
    /// attempt landed, so one fewer may still land later. Otherwise the read
    /// proves nothing of the kind (the group may have been there all along).
    fn holds(
        &self,
        node: &Node,
        group: &GroupId,
        want_present: bool,
        exchange: &Exchange,
        was_other: bool,
    ) -> Settled {
        let mut settled = Settled {
            applied: exchange.status().is_some_and(|s| (200..300).contains(&s)),
            reads: 0,
            may_land: exchange.may_land_later(false),
        };
        if settled.applied || exchange.stopped || !needs_read_back(exchange) {
            return settled;
        }
        let read = self
            .retrier()
            .call(node, Action::Read, group, Mode::Forward);
        settled.reads = read.attempts;
        settled.applied = presence(&read) == Some(want_present);
        settled.may_land = exchange.may_land_later(settled.applied && was_other);
        settled
    }
}

/// What a write came to on one node: whether it holds, the reads that
/// settled it, and whether an attempt of it may still land later.
#[derive(Debug, Clone, Copy)]
struct Settled {
    applied: bool,
    reads: u32,
    may_land: bool,
}

/// The repairs the journal lists for each of `groups` that has any, oldest
/// first, in one pass over the journal. Verifications and watches are left
/// out: they block no run.
fn pending_of(journal: &Journal, groups: &[GroupId]) -> HashMap<GroupId, Vec<Entry>> {
    entries_of(journal, groups, Kind::Repair)
}

/// The verifications the journal lists for each of `groups` that has any.
fn verifying_of(journal: &Journal, groups: &[GroupId]) -> HashMap<GroupId, Vec<Entry>> {
    entries_of(journal, groups, Kind::Verify)
}

/// The entries of `kind` for each of `groups` that has any, oldest first,
/// in one pass over the journal.
fn entries_of(journal: &Journal, groups: &[GroupId], kind: Kind) -> HashMap<GroupId, Vec<Entry>> {
    let named: HashSet<&GroupId> = groups.iter().collect();
    let mut found: HashMap<GroupId, Vec<Entry>> = HashMap::new();
    for entry in journal
        .entries()
        .iter()
        .filter(|e| e.kind == kind && named.contains(&e.group))
    {
        found
            .entry(entry.group.clone())
            .or_default()
            .push(entry.clone());
    }
    found
}

/// What a read says: `Some(true)` for a 200 whose body does not contradict
/// it (present; see [`crate::transport::Reply::unconfirmed`]), `Some(false)` for 404
/// (absent), `None` for any other answer or no answer (a 200 with a sign-in
/// page or another id included: the node is unreadable).
fn presence(read: &Exchange) -> Option<bool> {
    match &read.last {
        Ok(reply) if reply.confirms_presence() => Some(true),
        Ok(reply) if reply.status == 404 => Some(false),
        _ => None,
    }
}

/// Whether a write that did not answer 2xx needs a read to say where the
/// group is: a final 4xx (whose meaning depends on it), or an attempt that
/// may have been applied.
fn needs_read_back(exchange: &Exchange) -> bool {
    let client_error = exchange
        .status()
        .is_some_and(|s| (400..500).contains(&s) && !RetryPolicy::is_retryable_status(s));
    client_error || exchange.may_have_applied()
}

/// How many groups of a bulk run share one write-ahead and one clean-up
/// journal write.
pub const BATCH_GROUPS: usize = 32;
