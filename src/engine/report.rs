//! What a create, delete, status or replay returns: plain data, no wire format.

use std::path::PathBuf;

use crate::journal::{Entry, Kind};
use crate::vocab::change::Operation;
use crate::vocab::group::GroupId;
use crate::vocab::hosts::Node;

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
    pub error: Option<NodeError>,
}

/// Why a node failed: data for the face to word, never a sentence. The
/// strings are the transport's own one-line descriptions of an answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NodeError {
    /// The read before any change got no usable answer.
    Read(String),
    /// Not asked: the node gave no answer to a read earlier in this run.
    NotAsked,
    /// The change got this answer (or none) and may have been applied.
    Change(String),
    /// The change got this answer, and a read shows it was not applied.
    NotApplied(String),
    /// The undo got this answer (or none) and is pending in the journal.
    Undo(String),
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
    /// Not started: nothing was sent for it, and the group is as it was.
    /// Either the journal could not be written before the group's first
    /// change (the report's `journal_error` says why), or a signal came
    /// during its reads or before its first change (`interrupted`).
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
    /// For a group refused because another journal of the set holds
    /// repairs for it (see [`Cluster::with_repairs_elsewhere`]): that
    /// journal. `None` for every other report.
    ///
    /// [`Cluster::with_repairs_elsewhere`]: super::Cluster::with_repairs_elsewhere
    pub refused_by: Option<PathBuf>,
    /// The group's verifications in the journal after the run, this run's
    /// and earlier ones: nodes that may still apply a write of ours late,
    /// each until its `until`, which the next replay reads and undoes if it
    /// lands. Pending work, though the outcome stands: the exit status
    /// counts them as pending.
    pub verifying: Vec<Entry>,
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
    /// How many entries still ask for work after the replay: repairs and
    /// verifications, which
    /// [`Journal::entries`](crate::journal::Journal::entries) lists with the
    /// watches. The report holds no copy of them: a backlog can be millions.
    pub pending: usize,
    /// How many of the `pending` are verifications: nodes that may still
    /// apply a write of ours until their settle horizon.
    pub verifying: usize,
    /// Watches left: writes that may still land but would change nothing
    /// the group is meant to be. Not pending.
    pub watching: usize,
    /// Set when the journal could not be rewritten after the repairs: the
    /// file then still lists the repairs applied, and the next replay sends
    /// them again (they are idempotent).
    pub journal_error: Option<String>,
}

impl ReplayReport {
    /// The report of a journal that was not replayed: what its `entries` hold.
    pub fn counting(entries: &[Entry]) -> Self {
        let mut report = Self::default();
        report.count(entries);
        report
    }

    /// Counts what `entries` (the journal after the replay) still hold.
    pub(super) fn count(&mut self, entries: &[Entry]) {
        self.pending = entries.iter().filter(|e| e.is_pending()).count();
        self.verifying = entries.iter().filter(|e| e.kind == Kind::Verify).count();
        self.watching = entries.len() - self.pending;
    }
}
