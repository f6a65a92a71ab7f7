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
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use crate::cancel::Cancel;
use crate::change::{Action, Operation};
use crate::fanout::fan_out;
use crate::group::GroupId;
use crate::hosts::Node;
use crate::journal::{self, Entry, Journal, JournalError};
use crate::retry::{Exchange, Mode, Retrier, RetryPolicy};
use crate::transport::Transport;

/// What happened on one node during a create or delete.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NodeResult {
    /// This run created the group here, and it stays.
    Created,
    /// This run deleted the group here, and it stays deleted.
    Deleted,
    /// The group was already here (create); this run did not touch it and
    /// will never delete it.
    AlreadyPresent,
    /// The group was already absent (delete); nothing to do.
    AlreadyAbsent,
    /// This run changed (or may have changed) the node and undid it.
    RolledBack,
    /// This run changed (or may have changed) the node, could not undo it
    /// yet, and left the undo in the journal.
    RollbackPending,
    /// The change failed here and the node was left as it was.
    Failed,
    /// The node did not answer the read (refused, timed out, DNS, TLS), so
    /// the run stopped before any change.
    Unreachable,
    /// The node answered the read, but neither 200 nor 404 (a 500, a 422, a
    /// redirect not followed; `error` says which), so the run stopped before
    /// any change.
    Unreadable,
    /// The run stopped before it reached this node.
    NotAttempted,
}

/// One node's line in an [`OperationReport`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeReport {
    /// The node's base URL.
    pub host: Node,
    /// What happened there.
    pub result: NodeResult,
    /// Requests sent to the node by this run, reads and undos included.
    pub attempts: u32,
    /// Why the node failed, if it did.
    pub error: Option<String>,
}

/// How a create or delete ended; it decides the exit status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// Every node is in the requested state.
    Done,
    /// The operation failed and every change was undone: the cluster is as it was.
    RolledBack,
    /// The operation failed and some undos are waiting in the journal.
    RepairsPending,
    /// The group had pending repairs, so nothing was attempted.
    Refused,
    /// Not started: the journal could not be written before the group's
    /// first change (see the report's `journal_error`). Nothing was sent
    /// for it, and the group is as it was.
    Skipped,
}

/// The result of one create or delete.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OperationReport {
    /// Which operation ran.
    pub operation: Operation,
    /// The group it ran on.
    pub group: GroupId,
    /// How it ended.
    pub outcome: Outcome,
    /// One line per node, in hosts-file order.
    pub nodes: Vec<NodeReport>,
    /// Whether a signal stopped the run early.
    pub interrupted: bool,
    /// The group's repairs left in the journal: this run's failed undos, or
    /// (for `refused`) the earlier repairs that blocked it.
    pub pending: Vec<Entry>,
    /// Set when the journal could not be updated after the nodes were; the
    /// journal then still holds undos that the next run will apply.
    pub journal_error: Option<String>,
}

/// Whether a node has the group, as `status` reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NodeState {
    /// GET answered 200.
    Present,
    /// GET answered 404.
    Absent,
    /// No answer after the retries: refused, timed out, DNS, TLS.
    Unreachable,
    /// An answer, but neither 200 nor 404 (a 500, a 422, a redirect not
    /// followed; `error` says which): whether the group is there is unknown.
    Unreadable,
}

/// One node's line in a [`StatusReport`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeStatus {
    /// The node's base URL.
    pub host: Node,
    /// Whether the group is there.
    pub state: NodeState,
    /// Requests sent.
    pub attempts: u32,
    /// Why the node is unreachable or unreadable.
    pub error: Option<String>,
}

/// The result of `status`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusReport {
    /// The group that was looked up.
    pub group: GroupId,
    /// True when every node answered and all agree.
    pub consistent: bool,
    /// One line per node, in hosts-file order.
    pub nodes: Vec<NodeStatus>,
}

/// The result of replaying the journal.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReplayReport {
    /// Repairs applied and removed from the journal (or, when
    /// `journal_error` is set, applied but still listed in it).
    pub repaired: Vec<Entry>,
    /// Repairs still in the journal: every entry the journal on disk holds
    /// after the replay.
    pub pending: Vec<Entry>,
    /// Whether the replay sent any request.
    pub sent: bool,
    /// Set when the journal could not be rewritten after the repairs: the
    /// file then still lists the repairs applied, and the next replay sends
    /// them again (they are idempotent).
    pub journal_error: Option<String>,
}

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
    read_width: usize,
    /// Nodes that gave no answer to a read in this run: later groups fail
    /// at once instead of spending a round of retries on each.
    silent: Mutex<HashSet<Node>>,
}

/// How many nodes are read at a time, whatever `--concurrency` is: reads
/// change nothing, so a group's read phase costs one round trip (up to a
/// few for more nodes than this), not one per node.
pub const READ_WIDTH: usize = 64;

/// The default time allowed for rolling back after a signal.
pub const DEFAULT_SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// A journal id for one batch, unique within the process and across runs:
/// `pid@unix-millis.n`.
fn batch_id() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    format!(
        "{}.{}",
        journal::run_id(),
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

    fn reads_at_a_time(&self) -> usize {
        self.read_width.max(self.concurrency)
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
    pub fn with_concurrency(mut self, n: usize) -> Self {
        self.concurrency = n.max(1);
        self
    }

    /// The nodes, in hosts-file order.
    pub fn nodes(&self) -> &[Node] {
        &self.nodes
    }

    fn retrier(&self) -> Retrier<'_, T> {
        Retrier::new(&self.transport, &self.policy, &self.cancel)
    }

    /// Makes `group` exist on every node, or on none. See [`Cluster::run`].
    pub fn create(
        &self,
        group: &GroupId,
        journal: &mut Journal,
    ) -> Result<OperationReport, JournalError> {
        self.run(Operation::Create, group, journal)
    }

    /// Removes `group` from every node, or restores it where it was. See [`Cluster::run`].
    pub fn delete(
        &self,
        group: &GroupId,
        journal: &mut Journal,
    ) -> Result<OperationReport, JournalError> {
        self.run(Operation::Delete, group, journal)
    }

    /// Runs `operation` all-or-nothing.
    ///
    /// Node failures are not errors: they are in the report's outcome. An
    /// `Err` means the journal could not be written before any change, so
    /// no node was changed.
    pub fn run(
        &self,
        operation: Operation,
        group: &GroupId,
        journal: &mut Journal,
    ) -> Result<OperationReport, JournalError> {
        self.run_batch(operation, std::slice::from_ref(group), journal)
            .map(|mut reports| reports.pop().expect("one report per group"))
    }

    /// Runs `operation` on each group, each its own all-or-nothing
    /// operation, and returns one report per group, in order.
    ///
    /// Groups go in batches of [`BATCH_GROUPS`]: every group of a batch is
    /// read, then the undos of the whole batch are written ahead in one
    /// journal write, the groups are changed one after another, and one
    /// more journal write clears what completed. A crash mid-batch leaves
    /// the undos of every group in the batch, so a replay restores each of
    /// them all-or-nothing (groups that had completed are undone too).
    ///
    /// When a batch's write-ahead fails, nothing of that batch was sent: its
    /// groups and every later one are reported [`Outcome::Skipped`], and
    /// the run stops. Groups of earlier batches keep their reports.
    pub fn run_many(
        &self,
        operation: Operation,
        groups: &[GroupId],
        journal: &mut Journal,
    ) -> Vec<OperationReport> {
        self.run_many_reporting(operation, groups, journal, |_| {})
    }

    /// [`Cluster::run_many`], calling `on_report` with each group's report
    /// as soon as its batch is over (for progress displays).
    pub fn run_many_reporting(
        &self,
        operation: Operation,
        groups: &[GroupId],
        journal: &mut Journal,
        mut on_report: impl FnMut(&OperationReport),
    ) -> Vec<OperationReport> {
        let mut reports = Vec::with_capacity(groups.len());
        for (index, batch) in groups.chunks(BATCH_GROUPS).enumerate() {
            match self.run_batch(operation, batch, journal) {
                Ok(done) => {
                    done.iter().for_each(&mut on_report);
                    reports.extend(done);
                }
                Err(error) => {
                    log::error!("{error}");
                    let reason = error.to_string();
                    let skipped: Vec<OperationReport> = groups[index * BATCH_GROUPS..]
                        .iter()
                        .map(|group| {
                            let pending: Vec<Entry> = journal.pending_for(group).cloned().collect();
                            Run::new(self, operation, group).skipped(&reason, pending)
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

    fn run_batch(
        &self,
        operation: Operation,
        groups: &[GroupId],
        journal: &mut Journal,
    ) -> Result<Vec<OperationReport>, JournalError> {
        let batch = batch_id();
        let steps = self.plan(operation, groups, journal);
        if let Err(error) = self.write_ahead(operation, &batch, &steps, journal) {
            // Note: a write that failed after its rename left the undos of
            // changes never sent; take them out again if the disk lets us.
            let _ = journal.update(|entries| entries.retain(|e| e.run != batch));
            return Err(error);
        }
        let steps = self.apply_batch(&batch, steps, journal);
        let journal_error = self.clean_up(&batch, &steps, journal);
        Ok(steps
            .into_iter()
            .map(|step| match step {
                Step::Finished(report) => report,
                Step::Change(run, _) => {
                    let pending: Vec<Entry> = journal
                        .entries()
                        .iter()
                        .filter(|e| e.run == batch && &e.group == run.group)
                        .cloned()
                        .collect();
                    // Note: a failed clean-up that had already replaced the
                    // file leaves nothing pending: only its durability is in
                    // doubt, and the report still carries the error.
                    let outcome = if !pending.is_empty() {
                        Outcome::RepairsPending
                    } else {
                        run.outcome
                    };
                    run.finish(outcome, pending, journal_error.clone())
                }
            })
            .collect())
    }

    /// Step 1: refuses groups with pending repairs and reads every node of
    /// the others, so pre-existing state is known exactly.
    fn plan<'c>(
        &'c self,
        operation: Operation,
        groups: &'c [GroupId],
        journal: &Journal,
    ) -> Vec<Step<'c, T>> {
        groups
            .iter()
            .map(|group| {
                let mut run = Run::new(self, operation, group);
                let blocking: Vec<Entry> = journal.pending_for(group).cloned().collect();
                if !blocking.is_empty() {
                    return Step::Finished(run.finish(Outcome::Refused, blocking, None));
                }
                match run.read_all() {
                    None => Step::Finished(run.finish(Outcome::RolledBack, Vec::new(), None)),
                    Some(to_change) if to_change.is_empty() => {
                        Step::Finished(run.finish(Outcome::Done, Vec::new(), None))
                    }
                    Some(to_change) => Step::Change(run, to_change),
                }
            })
            .collect()
    }

    /// Step 2: writes ahead, durably and in one journal write, the undo of
    /// every change the batch is about to make.
    fn write_ahead(
        &self,
        operation: Operation,
        batch: &str,
        steps: &[Step<'_, T>],
        journal: &mut Journal,
    ) -> Result<(), JournalError> {
        let recorded_at = journal::now_unix();
        let intents: Vec<Entry> = steps
            .iter()
            .filter_map(|step| match step {
                Step::Change(run, to_change) => Some((run.group, to_change)),
                Step::Finished(_) => None,
            })
            .flat_map(|(group, to_change)| {
                to_change.iter().map(move |&index| Entry {
                    group: group.clone(),
                    host: self.nodes[index].clone(),
                    action: operation.repair(),
                    operation,
                    run: batch.to_owned(),
                    recorded_at,
                    failed_replays: 0,
                    last_error: None,
                })
            })
            .collect();
        if intents.is_empty() {
            return Ok(());
        }
        journal.update(|entries| entries.extend(intents))
    }

    /// Step 3: changes each group's nodes; on a failure, undoes that
    /// group's changes in reverse order.
    fn apply_batch<'c>(
        &'c self,
        batch: &str,
        steps: Vec<Step<'c, T>>,
        journal: &mut Journal,
    ) -> Vec<Step<'c, T>> {
        let journal = Mutex::new(journal);
        steps
            .into_iter()
            .map(|step| match step {
                Step::Finished(report) => Step::Finished(report),
                Step::Change(mut run, to_change) => {
                    let ledger = Ledger {
                        journal: &journal,
                        batch,
                        group: run.group,
                    };
                    run.outcome = if run.apply_all(&to_change, &ledger) {
                        Outcome::Done
                    } else {
                        run.forget_untouched(&to_change, &ledger);
                        run.compensate();
                        run.forget_undone(&ledger);
                        Outcome::RolledBack
                    };
                    Step::Change(run, to_change)
                }
            })
            .collect()
    }

    /// Step 4: clears the batch's entries but the undos that failed, which
    /// keep their reason. Returns why the journal could not be written.
    fn clean_up(
        &self,
        batch: &str,
        steps: &[Step<'_, T>],
        journal: &mut Journal,
    ) -> Option<String> {
        let failed_undos: HashMap<(&GroupId, &Node), &str> = steps
            .iter()
            .filter_map(|step| match step {
                Step::Change(run, _) => Some(run),
                Step::Finished(_) => None,
            })
            .flat_map(|run| {
                run.slots
                    .iter()
                    .zip(&self.nodes)
                    .filter_map(move |(slot, node)| {
                        Some(((run.group, node), slot.undo_error.as_deref()?))
                    })
            })
            .collect();
        let result = journal.update(|entries| {
            entries.retain_mut(|entry| {
                if entry.run != batch {
                    return true;
                }
                match failed_undos.get(&(&entry.group, &entry.host)) {
                    Some(error) => {
                        entry.last_error = Some((*error).to_owned());
                        true
                    }
                    None => false,
                }
            });
        });
        result.err().map(|e| {
            log::error!("{e}; the next run will apply the undos it still lists");
            e.to_string()
        })
    }

    /// Reads `group` on every node. Sends no writes.
    pub fn status(&self, group: &GroupId) -> StatusReport {
        let retrier = self.retrier();
        let reads = fan_out(
            &self.nodes,
            self.reads_at_a_time(),
            || false,
            |node| retrier.call(node, Action::Read, group, Mode::Forward),
        );
        let nodes: Vec<NodeStatus> = self
            .nodes
            .iter()
            .zip(reads)
            .map(|(node, exchange)| {
                let exchange = exchange.expect("status reads every node");
                let (state, error) = match presence(&exchange) {
                    Some(true) => (NodeState::Present, None),
                    Some(false) => (NodeState::Absent, None),
                    None if exchange.last.is_ok() => {
                        (NodeState::Unreadable, Some(exchange.error()))
                    }
                    None => (NodeState::Unreachable, Some(exchange.error())),
                };
                NodeStatus {
                    host: node.clone(),
                    state,
                    attempts: exchange.attempts,
                    error,
                }
            })
            .collect();
        let consistent = nodes
            .iter()
            .all(|n| matches!(n.state, NodeState::Present | NodeState::Absent))
            && nodes.windows(2).all(|pair| pair[0].state == pair[1].state);
        StatusReport {
            group: group.clone(),
            consistent,
            nodes,
        }
    }

    /// Applies the journal's pending repairs, newest first, and removes the
    /// ones that succeed. Needs nothing but the journal: each entry names
    /// its node.
    ///
    /// A node that gives no answer to one repair is skipped for the rest of
    /// this replay, so a dead node costs one round of retries, not one per
    /// entry. A cancel stops the replay; what is left stays pending.
    ///
    /// A journal that cannot be rewritten afterwards is reported in
    /// [`ReplayReport::journal_error`]; the repairs were sent all the same.
    pub fn replay(&self, journal: &mut Journal) -> ReplayReport {
        let entries = journal.entries().to_vec();
        if entries.is_empty() {
            return ReplayReport::default();
        }
        log::info!(
            "replaying {} pending repair(s) from {}",
            entries.len(),
            journal.path().display()
        );
        let retrier = self.retrier();
        let dead: Mutex<HashSet<&Node>> = Mutex::new(HashSet::new());
        let newest_first: Vec<usize> = (0..entries.len()).rev().collect();
        let outcomes = fan_out(
            &newest_first,
            self.concurrency,
            || self.cancel.is_cancelled(),
            |&index| -> Result<(), String> {
                let entry = &entries[index];
                let is_dead = dead
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .contains(&entry.host);
                if is_dead {
                    return Err(
                        "skipped: the node did not answer an earlier repair in this replay"
                            .to_owned(),
                    );
                }
                let repair = entry.action;
                let exchange =
                    retrier.call(&entry.host, repair.action(), &entry.group, Mode::Forward);
                let (applied, _) = self.holds(
                    &entry.host,
                    &entry.group,
                    repair.leaves_present(),
                    &exchange,
                );
                if applied {
                    log::info!(
                        host = entry.host.base(), group = entry.group.as_str();
                        "{}: repaired: {} {:?}", entry.host, repair, entry.group
                    );
                    return Ok(());
                }
                let error = exchange.error();
                log::warn!(
                    host = entry.host.base(), group = entry.group.as_str();
                    "{}: repair ({} {:?}) failed ({error}); it stays in the journal",
                    entry.host,
                    repair,
                    entry.group
                );
                if exchange.last.is_err() {
                    dead.lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .insert(&entry.host);
                }
                Err(error)
            },
        );
        let mut results: Vec<Option<Result<(), String>>> = vec![None; entries.len()];
        for (&index, outcome) in newest_first.iter().zip(outcomes) {
            results[index] = outcome;
        }
        let mut report = ReplayReport {
            sent: results.iter().any(Option::is_some),
            ..ReplayReport::default()
        };
        for (mut entry, result) in entries.into_iter().zip(results) {
            match result {
                Some(Ok(())) => {
                    report.repaired.push(entry);
                    continue;
                }
                Some(Err(error)) => {
                    entry.failed_replays += 1;
                    entry.last_error = Some(error);
                }
                None => {}
            }
            report.pending.push(entry);
        }
        // Note: one durable write for the whole replay; repairs are
        // idempotent, so a crash before it only means they are applied again.
        let pending = report.pending.clone();
        if let Err(error) = journal.update(|entries| *entries = pending) {
            log::error!(
                "{error}; it still lists the {} repair(s) just applied, and the next run \
                 sends them again (repairs are idempotent)",
                report.repaired.len()
            );
            report.journal_error = Some(error.to_string());
            report.pending = journal.entries().to_vec();
        }
        report
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

/// What a read says: `Some(true)` for 200 (present), `Some(false)` for 404
/// (absent), `None` for any other answer or no answer.
fn presence(read: &Exchange) -> Option<bool> {
    match read.status() {
        Some(200) => Some(true),
        Some(404) => Some(false),
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
    Change(Run<'c, T>, Vec<usize>),
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
    journal: &'j Mutex<&'j mut Journal>,
    batch: &'j str,
    group: &'j GroupId,
}

impl Ledger<'_> {
    /// Removes the batch's entries for `nodes` durably. On failure the
    /// entries stay (and the error is logged): the clean-up tries again.
    fn forget(&self, nodes: &[&Node]) -> Result<(), String> {
        let mut journal = self.journal.lock().unwrap_or_else(|e| e.into_inner());
        journal
            .update(|entries| {
                entries.retain(|e| {
                    !(e.run == self.batch && &e.group == self.group && nodes.contains(&&e.host))
                });
            })
            .map_err(|e| {
                log::error!("{e}");
                e.to_string()
            })
    }
}

/// One node's state within a run.
#[derive(Debug)]
struct Slot {
    result: NodeResult,
    attempts: u32,
    error: Option<String>,
    ownership: Ownership,
    /// Whether a signal cut this node's work short.
    interrupted: bool,
    /// Why the undo failed, as the journal keeps it.
    undo_error: Option<String>,
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
        }
    }

    /// Whether the change did not reach the requested state.
    fn failed(&self) -> bool {
        matches!(self.result, NodeResult::Failed | NodeResult::NotAttempted)
    }
}

/// The state of one create or delete while it runs.
struct Run<'c, T> {
    cluster: &'c Cluster<T>,
    operation: Operation,
    group: &'c GroupId,
    slots: Vec<Slot>,
    interrupted: bool,
    /// How the changes ended, before the journal's clean-up.
    outcome: Outcome,
}

impl<'c, T: Transport> Run<'c, T> {
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

    /// Reads every node. Returns the indexes of the nodes to change, or
    /// `None` when a node could not be read (or the run was interrupted).
    fn read_all(&mut self) -> Option<Vec<usize>> {
        if self.skip_silent_nodes() {
            return None;
        }
        let retrier = self.cluster.retrier();
        let unreadable = AtomicBool::new(false);
        let indexes: Vec<usize> = (0..self.slots.len()).collect();
        let reads = fan_out(
            &indexes,
            self.cluster.reads_at_a_time(),
            || unreadable.load(Ordering::SeqCst),
            |&index| {
                let exchange =
                    retrier.call(self.node(index), Action::Read, self.group, Mode::Forward);
                if presence(&exchange).is_none() {
                    unreadable.store(true, Ordering::SeqCst);
                }
                exchange
            },
        );
        let mut to_change = Vec::new();
        let mut readable = true;
        let already = self.already_result();
        for (index, exchange) in reads.into_iter().enumerate() {
            let Some(exchange) = exchange else { continue };
            let slot = &mut self.slots[index];
            slot.attempts += exchange.attempts;
            let Some(present) = presence(&exchange) else {
                readable = false;
                self.interrupted |= exchange.stopped;
                if exchange.last.is_err() && !exchange.stopped && exchange.attempts > 0 {
                    self.cluster
                        .silent
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .insert(self.cluster.nodes[index].clone());
                }
                if exchange.attempts > 0 {
                    slot.result = if exchange.last.is_ok() {
                        NodeResult::Unreadable
                    } else {
                        NodeResult::Unreachable
                    };
                    slot.error = Some(format!("could not read the group: {}", exchange.error()));
                    log::warn!(
                        "{}: cannot read {:?}; nothing was changed on any node",
                        self.cluster.nodes[index],
                        self.group
                    );
                }
                continue;
            };
            if present == self.operation.wants_present() {
                slot.result = already;
            } else {
                to_change.push(index);
            }
        }
        readable.then_some(to_change)
    }

    /// Fails the group at once, sending nothing, when a node gave no answer
    /// to a read earlier in this run. Returns whether it did.
    fn skip_silent_nodes(&mut self) -> bool {
        let silent = self
            .cluster
            .silent
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        if silent.is_empty() {
            return false;
        }
        let mut skipped = false;
        for (slot, node) in self.slots.iter_mut().zip(&self.cluster.nodes) {
            if silent.contains(node) {
                slot.result = NodeResult::Unreachable;
                slot.error = Some(
                    "not asked: the node gave no answer to a read earlier in this run".to_owned(),
                );
                skipped = true;
            }
        }
        skipped
    }

    /// Changes each node in `to_change`, starting them in order, up to the
    /// cluster's concurrency at a time. Once one fails (or the run is
    /// cancelled) no new change starts; changes in flight finish or are
    /// abandoned. Returns whether all of them are now in the requested state.
    fn apply_all(&mut self, to_change: &[usize], ledger: &Ledger<'_>) -> bool {
        let failed = AtomicBool::new(false);
        let cancel = &self.cluster.cancel;
        let changes = fan_out(
            to_change,
            self.cluster.concurrency,
            || failed.load(Ordering::SeqCst) || cancel.is_cancelled(),
            |&index| {
                let mut slot = self.apply_one(index);
                if slot.failed() {
                    failed.store(true, Ordering::SeqCst);
                }
                // Note: not ours after all: it leaves the journal durably
                // before this worker sends anything else, so no later crash
                // can make a replay undo what someone else did there.
                if slot.ownership == Ownership::No
                    && let Err(error) = ledger.forget(&[self.node(index)])
                {
                    slot.error = Some(match slot.error.take() {
                        Some(e) => format!("{e}; the journal could not be updated: {error}"),
                        None => format!("the journal could not be updated: {error}"),
                    });
                }
                slot
            },
        );
        let mut completed = true;
        for (&index, change) in to_change.iter().zip(changes) {
            let Some(change) = change else {
                completed = false;
                self.interrupted |= cancel.is_cancelled();
                continue;
            };
            completed &= !change.failed();
            self.interrupted |= change.interrupted;
            let reads = self.slots[index].attempts;
            self.slots[index] = Slot {
                attempts: reads + change.attempts,
                ..change
            };
        }
        completed
    }

    /// Sends the change to one node and decides what it did.
    fn apply_one(&self, index: usize) -> Slot {
        let node = self.node(index);
        let cluster = self.cluster;
        let exchange =
            cluster
                .retrier()
                .call(node, self.operation.action(), self.group, Mode::Forward);
        let mut slot = Slot {
            result: self.done_result(),
            attempts: exchange.attempts,
            error: None,
            ownership: Ownership::Yes,
            interrupted: exchange.stopped,
            undo_error: None,
        };
        let ambiguous = exchange.may_have_applied();
        if exchange.status().is_some_and(|s| (200..300).contains(&s)) {
            return slot;
        }
        if exchange.attempts == 0 {
            // Note: cancelled before the first attempt: nothing was sent.
            slot.result = NodeResult::NotAttempted;
            slot.ownership = Ownership::No;
        } else if exchange.stopped || !needs_read_back(&exchange) {
            slot.result = NodeResult::Failed;
            slot.error = Some(exchange.error());
            slot.ownership = if ambiguous {
                Ownership::Unknown
            } else {
                Ownership::No
            };
        } else {
            let read = cluster
                .retrier()
                .call(node, Action::Read, self.group, Mode::Forward);
            slot.attempts += read.attempts;
            slot.interrupted |= read.stopped;
            match presence(&read) {
                Some(present) if present == self.operation.wants_present() => {
                    if ambiguous {
                        log::info!("{node}: the change landed although the request failed");
                    } else {
                        // Note: a final 4xx applied nothing, yet the group is
                        // in the wanted state: another client got there
                        // first. It is not ours to undo.
                        log::warn!(
                            "{node}: {:?} changed since it was read ({}); leaving it alone",
                            self.group,
                            exchange.error()
                        );
                        slot.result = self.already_result();
                        slot.ownership = Ownership::No;
                    }
                }
                Some(_) => {
                    slot.result = NodeResult::Failed;
                    slot.ownership = Ownership::No;
                    slot.error = Some(format!(
                        "{}, and a read shows the change was not applied",
                        exchange.error()
                    ));
                }
                None => {
                    log::warn!(
                        "{node}: outcome unknown ({}); it will be undone to be safe",
                        read.error()
                    );
                    slot.result = NodeResult::Failed;
                    slot.error = Some(exchange.error());
                    slot.ownership = if ambiguous {
                        Ownership::Unknown
                    } else {
                        Ownership::No
                    };
                }
            }
        }
        slot
    }

    /// Before undoing anything, drops (in one durable write) the entries of
    /// the nodes this run never changed: changes never sent, or that
    /// failed without effect. Entries already dropped are not written again.
    fn forget_untouched(&mut self, to_change: &[usize], ledger: &Ledger<'_>) {
        let untouched: Vec<&Node> = to_change
            .iter()
            .filter(|&&i| {
                self.slots[i].ownership == Ownership::No
                    && self.slots[i].result == NodeResult::NotAttempted
            })
            .map(|&i| self.node(i))
            .collect();
        if !untouched.is_empty() {
            // Note: a failed write leaves the entries; the clean-up retries it.
            let _ = ledger.forget(&untouched);
        }
    }

    /// Once the group is rolled back, drops (in one durable write) the
    /// entries whose undo was applied, so that a crash later in the batch
    /// cannot make a replay undo them again after another client created
    /// the group there. Failed undos stay.
    fn forget_undone(&self, ledger: &Ledger<'_>) {
        let undone: Vec<&Node> = self
            .slots
            .iter()
            .zip(&self.cluster.nodes)
            .filter(|(slot, _)| slot.result == NodeResult::RolledBack)
            .map(|(_, node)| node)
            .collect();
        if !undone.is_empty() {
            // Note: a failed write leaves the entries; the clean-up retries it.
            let _ = ledger.forget(&undone);
        }
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

    /// Undoes every change this run made or may have made, newest first
    /// (up to the cluster's concurrency at a time). An undo that fails
    /// stays pending, with its reason in the node's slot.
    fn compensate(&mut self) {
        let cluster = self.cluster;
        let retrier = cluster.retrier();
        let repair = self.operation.repair();
        let mode = Mode::Compensate {
            grace: cluster.grace,
        };
        let targets: Vec<usize> = (0..self.slots.len())
            .rev()
            .filter(|&i| self.slots[i].ownership != Ownership::No)
            .collect();
        let undos = fan_out(
            &targets,
            cluster.concurrency,
            || false,
            |&index| {
                let node = self.node(index);
                let exchange = retrier.call(node, repair.action(), self.group, mode);
                let (applied, reads) =
                    cluster.holds(node, self.group, repair.leaves_present(), &exchange);
                (exchange, applied, reads)
            },
        );
        for (&index, undo) in targets.iter().zip(undos) {
            let Some((exchange, applied, reads)) = undo else {
                continue;
            };
            let node = self.node(index);
            let slot = &mut self.slots[index];
            slot.attempts += exchange.attempts + reads;
            if applied {
                slot.result = NodeResult::RolledBack;
                slot.error = None;
            } else {
                let error = exchange.error();
                log::error!(
                    "{node}: could not undo the {} ({error}); kept in the journal",
                    self.operation.name()
                );
                slot.result = NodeResult::RollbackPending;
                slot.error = Some(format!("undo failed: {error}"));
                slot.undo_error = Some(error);
            }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::change::Repair;
    use crate::exit::ExitStatus;
    use crate::sim::{Crash, Fault, SimCluster};
    use Action::{Create as Post, Delete as Del, Read as Get};
    use std::sync::Arc;

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
    fn cluster<'s>(sim: &'s SimCluster, nodes: &[Node]) -> Cluster<&'s SimCluster> {
        Cluster::new(nodes.to_vec(), sim, policy()).with_read_width(1)
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
                .run(operation, &group(id), &mut self.journal)
                .expect("journal ok")
        }
        fn results(report: &OperationReport) -> Vec<NodeResult> {
            report.nodes.iter().map(|n| n.result).collect()
        }
        fn pending(&self) -> Vec<(String, Repair)> {
            self.journal
                .entries()
                .iter()
                .map(|e| (e.host.base().to_owned(), e.action))
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
        assert!(f.journal.entries().is_empty());
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
        f.sim
            .fault(&f.nodes[2], Some(Post), Fault::StatusBefore(500), None);
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
        assert!(replay.pending.is_empty());
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
        f.sim
            .fault(&f.nodes[2], Some(Post), Fault::StatusBefore(500), None);
        f.sim.fault(&f.nodes[0], Some(Del), Fault::Refused, None);
        for id in ["a", "b", "c"] {
            f.run(Operation::Create, id);
        }
        assert_eq!(f.journal.entries().len(), 3);
        let before = f.sim.seen().len();
        let replay = cluster(&f.sim, &f.nodes).replay(&mut f.journal);
        assert_eq!(replay.pending.len(), 3);
        assert_eq!(
            f.sim.seen().len() - before,
            3,
            "one request and two retries, then skipped"
        );
        assert!(f.journal.entries().iter().all(|e| e.failed_replays == 1));
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
            let handle =
                scope.spawn(|| cluster.run(Operation::Create, &group("g"), &mut f.journal));
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
    fn parallel_create_keeps_every_guarantee() {
        let mut f = fixture(7);
        f.sim.seed(&f.nodes[1], "g");
        f.sim
            .fault(&f.nodes[3], Some(Post), Fault::StatusAfter(500), None);
        f.sim
            .fault(&f.nodes[4], Some(Post), Fault::StatusBefore(503), None);
        let report = cluster(&f.sim, &f.nodes)
            .with_concurrency(4)
            .run(Operation::Create, &group("g"), &mut f.journal)
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
        assert!(f.journal.entries().is_empty());
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
        f.sim
            .fault(&f.nodes[2], Some(Post), Fault::StatusBefore(500), None);
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
        assert_eq!((replay.repaired.len(), replay.pending.len()), (8, 0));
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
        let reports = cluster(&f.sim, &f.nodes).run_many(
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
            let mut reports = cluster.run_many(Operation::Create, &ids(&["a"]), &mut f.journal);
            sim.fault(&f.nodes[2], Some(Post), Fault::StatusBefore(500), None);
            reports.extend(cluster.run_many(Operation::Create, &ids(&["b"]), &mut f.journal));
            sim.heal();
            sim.fault(&f.nodes[0], Some(Del), Fault::Refused, None);
            reports.extend(cluster.run_many(
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
                            cluster(&sim, &nodes).run_many(Operation::Create, &groups, &mut journal)
                        })
                        .is_none();
                    assert!(crashed, "node {node} request {nth} was never reached");
                    sim.heal();
                    let mut journal = Journal::open(&path, &Cancel::new()).expect("reopen");
                    let replay = cluster(&sim, &nodes).replay(&mut journal);
                    assert!(replay.pending.is_empty());
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
        assert!(
            report.nodes[1]
                .error
                .as_deref()
                .is_some_and(|e| e.contains("not applied")),
            "{:?}",
            report.nodes[1].error
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
        let reports = cluster(&f.sim, &f.nodes).run_many(Operation::Create, &ids, &mut f.journal);
        assert_eq!(reports.len(), 40, "every group is reported");
        assert!(reports[..32].iter().all(|r| r.outcome == Outcome::Done));
        assert!(reports[32..].iter().all(|r| r.outcome == Outcome::Skipped));
        assert!(f.sim.holders(&f.nodes, "g33").is_empty());
        assert_eq!(f.sim.holders(&f.nodes, "g31"), vec![0, 1]);
        assert_eq!(
            ExitStatus::of_operations(&reports, true),
            ExitStatus::Failed,
            "changes were sent, so not 2"
        );
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
        let reports = cluster.run_many(Operation::Create, &ids(&["a", "b"]), &mut f.journal);
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
        let reports = cluster(&f.sim, &f.nodes).run_many(Operation::Create, &ids, &mut f.journal);
        assert!(reports.iter().all(|r| r.outcome == Outcome::RolledBack));
        assert_eq!(
            f.sim.sent(&f.nodes[1], Get),
            3,
            "one round of retries for the whole run, not one per group"
        );
        assert_eq!(f.sim.writes(), 0);
        assert!(
            reports[39].nodes[1]
                .error
                .as_deref()
                .is_some_and(|e| e.contains("not asked"))
        );
    }
}
