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
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::journal::{self, Entry, Journal, JournalError};
use crate::retry::{Exchange, Mode, Retrier, RetryPolicy};
use crate::transport::Transport;
use crate::vocab::cancel::Cancel;
use crate::vocab::change::{Action, Operation};
use crate::vocab::fanout::fan_out;
use crate::vocab::group::GroupId;
use crate::vocab::hosts::Node;

mod apply;
mod batch;
mod compensate;
mod dry_run;
mod read;
mod replay;
mod report;
mod status;
#[cfg(test)]
mod tests;

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
    /// Nodes that gave no answer to a read in this run: later groups fail
    /// at once instead of spending a round of retries on each.
    silent: Mutex<HashSet<Node>>,
}

/// How many nodes are read at a time, whatever `--concurrency` is: reads
/// change nothing, so a group's read phase costs one round trip (a few for
/// more nodes than this), not one per node. It is also the most threads a
/// read round starts (each read has one, and its request a worker).
// Note: measured (docs/benchmarks.md): with 64, 200 nodes took 4 read rounds per
// command, and the run was slower than a POST-first client; 256 reads them
// in one round but its 400 threads pushed peak RSS to 17.7 MB; 128 (two
// rounds) beats the POST-first client and stays under 15 MB.
pub const READ_WIDTH: usize = 128;

/// The most changes in flight at once: `--parallel-groups` ×
/// `--concurrency`. With reads (at most about [`READ_WIDTH`] more) and the
/// two threads each request holds, a run stays under about
/// 2 × (1024 + 128) threads.
// Note: a thread per request keeps a signal able to abandon any of them;
// the bound keeps that inside a container's usual pids limit of a few
// thousand.
pub const MAX_IN_FLIGHT: usize = 1024;

/// The default time allowed for rolling back after a signal.
pub const DEFAULT_SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

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
            nodes,
            transport,
            policy,
            cancel: Cancel::new(),
            grace: DEFAULT_SHUTDOWN_GRACE,
            concurrency: 1,
            parallel_groups: 1,
            read_width: READ_WIDTH,
            silent: Mutex::new(HashSet::new()),
        }
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
    /// [`Cluster::with_read_width`]); each request in flight holds two
    /// threads (the caller and the attempt's worker).
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
                    let skipped: Vec<OperationReport> = rest
                        .iter()
                        .map(|group| {
                            let pending = pending.remove(group).unwrap_or_default();
                            GroupWork::new(self, operation, group).skipped(&reason, pending)
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
    /// cannot say. Returns the verdict and the reads sent.
    ///
    /// 2xx: done. A final 4xx (400 "already exists", 404 for an absent
    /// group, or a node's own refusal) and an answer that may have been
    /// applied (5xx, time-out, reset) are settled by reading the node: only
    /// a read that sees the wanted state counts. No read is sent once the
    /// run is cancelled.
    fn holds(
        &self,
        node: &Node,
        group: &GroupId,
        want_present: bool,
        exchange: &Exchange,
    ) -> (bool, u32) {
        match exchange.status() {
            Some(status) if (200..300).contains(&status) => return (true, 0),
            _ if exchange.stopped || !needs_read_back(exchange) => return (false, 0),
            _ => {}
        }
        let read = self
            .retrier()
            .call(node, Action::Read, group, Mode::Forward);
        (presence(&read) == Some(want_present), read.attempts)
    }
}

/// The repairs the journal lists for each of `groups` that has any, oldest
/// first, in one pass over the journal.
fn pending_of(journal: &Journal, groups: &[GroupId]) -> HashMap<GroupId, Vec<Entry>> {
    let named: HashSet<&GroupId> = groups.iter().collect();
    let mut pending: HashMap<GroupId, Vec<Entry>> = HashMap::new();
    for entry in journal
        .entries()
        .iter()
        .filter(|e| named.contains(&e.group))
    {
        pending
            .entry(entry.group.clone())
            .or_default()
            .push(entry.clone());
    }
    pending
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

/// A group in a batch: finished early (refused, unreadable or nothing to
/// do), or a run with the nodes it changes.
enum Step<'c, T> {
    Finished(OperationReport),
    Working(GroupWork<'c, T>, Vec<usize>),
}

/// Whether this run changed a node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ownership {
    /// Not changed by this run: never undone.
    No,
    /// Changed by this run: undone on failure.
    Yes,
    /// May have been changed: undone on failure (undos are idempotent).
    Unknown,
}

/// The journal while a group's changes are sent: lets a worker drop the
/// write-ahead entry of a node that turned out not to be this run's.
struct Ledger<'j> {
    commits: &'j Commits<'j>,
    batch: &'j str,
    group: &'j GroupId,
}

/// The journal shared by the groups in flight, with group commit: the
/// removals that groups ask for while a write is in progress all go into
/// the next write, one for all of them.
struct Commits<'j> {
    journal: Mutex<&'j mut Journal>,
    queue: Mutex<CommitQueue>,
    written: std::sync::Condvar,
}

/// Removals waiting for a write, and the results of finished ones.
#[derive(Default)]
struct CommitQueue {
    waiting: Vec<Removal>,
    /// Whether a worker is writing the journal now.
    writing: bool,
    /// Results of written removals, by ticket, until their worker takes them.
    finished: HashMap<u64, Result<(), String>>,
    next_ticket: u64,
}

/// One worker's request: drop its group's entries for these nodes.
struct Removal {
    ticket: u64,
    group: GroupId,
    nodes: Vec<Node>,
}

/// One node's state within a run.
#[derive(Debug)]
struct Slot {
    result: NodeResult,
    attempts: u32,
    error: Option<NodeError>,
    ownership: Ownership,
    /// Whether a signal cut this node's work short.
    interrupted: bool,
    /// Why the undo failed, as the journal keeps it.
    undo_error: Option<String>,
    /// Why the journal could not forget this node's entry.
    forget_error: Option<String>,
}

/// The state of one create or delete while it runs.
struct GroupWork<'c, T> {
    cluster: &'c Cluster<T>,
    operation: Operation,
    group: &'c GroupId,
    slots: Vec<Slot>,
    interrupted: bool,
    /// How the changes ended, before the journal's clean-up.
    outcome: Outcome,
}

impl Slot {
    fn new() -> Self {
        Self {
            result: NodeResult::NotAttempted,
            attempts: 0,
            error: None,
            ownership: Ownership::No,
            interrupted: false,
            undo_error: None,
            forget_error: None,
        }
    }

    /// Whether the change did not reach the requested state.
    fn failed(&self) -> bool {
        matches!(self.result, NodeResult::Failed | NodeResult::NotAttempted)
    }
}

impl<'c, T: Transport> GroupWork<'c, T> {
    fn new(cluster: &'c Cluster<T>, operation: Operation, group: &'c GroupId) -> Self {
        Self {
            cluster,
            operation,
            group,
            slots: cluster.nodes.iter().map(|_| Slot::new()).collect(),
            interrupted: false,
            outcome: Outcome::Done,
        }
    }

    fn node(&self, index: usize) -> &'c Node {
        &self.cluster.nodes[index]
    }

    fn already_result(&self) -> NodeResult {
        match self.operation {
            Operation::Create => NodeResult::AlreadyPresent,
            Operation::Delete => NodeResult::AlreadyAbsent,
        }
    }

    fn done_result(&self) -> NodeResult {
        match self.operation {
            Operation::Create => NodeResult::Created,
            Operation::Delete => NodeResult::Deleted,
        }
    }

    /// The report of a group that was not started because the journal
    /// could not be written: nothing was sent for it. When the journal
    /// still lists repairs for it (a write-ahead that failed after its
    /// rename and could not be taken back), they are pending.
    fn skipped(self, reason: &str, pending: Vec<Entry>) -> OperationReport {
        let outcome = if pending.is_empty() {
            Outcome::Skipped
        } else {
            Outcome::RepairsPending
        };
        self.finish(outcome, pending, Some(reason.to_owned()))
    }

    fn finish(
        self,
        outcome: Outcome,
        pending: Vec<Entry>,
        journal_error: Option<String>,
    ) -> OperationReport {
        let interrupted = self.interrupted
            || self.slots.iter().any(|s| s.interrupted)
            || self.cluster.cancel.is_cancelled();
        let journal_error =
            journal_error.or_else(|| self.slots.iter().find_map(|s| s.forget_error.clone()));
        let nodes = self
            .cluster
            .nodes
            .iter()
            .zip(self.slots)
            .map(|(node, slot)| NodeReport {
                host: node.clone(),
                result: slot.result,
                attempts: slot.attempts,
                error: slot.error,
            })
            .collect();
        OperationReport {
            operation: self.operation,
            group: self.group.clone(),
            outcome,
            nodes,
            interrupted,
            pending,
            journal_error,
        }
    }
}
