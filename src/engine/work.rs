//! One group's state while it is worked on: each node's slot, and what the group came to.

use super::*;

/// A group in a batch: finished early (refused, unreadable or nothing to
/// do), or a run with the nodes it changes.
pub(super) enum Step<'c, T> {
    Finished(OperationReport),
    Working(GroupWork<'c, T>, Vec<usize>),
}

/// Whether this run changed a node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Ownership {
    /// Not changed by this run: never undone.
    No,
    /// Changed by this run: undone on failure.
    Yes,
    /// May have been changed: undone on failure (undos are idempotent).
    Unknown,
}

/// One node's state within a run.
#[derive(Debug)]
pub(super) struct Slot {
    pub(super) result: NodeResult,
    pub(super) attempts: u32,
    pub(super) error: Option<NodeError>,
    pub(super) ownership: Ownership,
    /// Whether a signal cut this node's work short.
    pub(super) interrupted: bool,
    /// Why the undo failed, as the journal keeps it.
    pub(super) undo_error: Option<String>,
    /// Why the journal could not forget this node's entry.
    pub(super) forget_error: Option<String>,
    /// Whether an attempt of this run's change may still land on the node
    /// later (see [`Exchange::may_land_later`]).
    pub(super) may_land: bool,
    /// Whether an attempt of this run's undo may still land on the node later.
    pub(super) undo_may_land: bool,
}

/// The state of one create or delete while it runs.
pub(super) struct GroupWork<'c, T> {
    pub(super) cluster: &'c Cluster<T>,
    pub(super) operation: Operation,
    pub(super) group: &'c GroupId,
    pub(super) slots: Vec<Slot>,
    pub(super) interrupted: bool,
    /// How the changes ended, before the journal's clean-up.
    pub(super) outcome: Outcome,
}

impl Slot {
    pub(super) fn new() -> Self {
        Self {
            result: NodeResult::NotAttempted,
            attempts: 0,
            error: None,
            ownership: Ownership::No,
            interrupted: false,
            undo_error: None,
            forget_error: None,
            may_land: false,
            undo_may_land: false,
        }
    }

    /// Whether the change did not reach the requested state.
    pub(super) fn failed(&self) -> bool {
        matches!(self.result, NodeResult::Failed | NodeResult::NotAttempted)
    }
}

impl<'c, T: Transport> GroupWork<'c, T> {
    pub(super) fn new(cluster: &'c Cluster<T>, operation: Operation, group: &'c GroupId) -> Self {
        Self {
            cluster,
            operation,
            group,
            slots: cluster.nodes.iter().map(|_| Slot::new()).collect(),
            interrupted: false,
            outcome: Outcome::Done,
        }
    }

    pub(super) fn node(&self, index: usize) -> &'c Node {
        &self.cluster.nodes[index]
    }

    pub(super) fn already_result(&self) -> NodeResult {
        match self.operation {
            Operation::Create => NodeResult::AlreadyPresent,
            Operation::Delete => NodeResult::AlreadyAbsent,
        }
    }

    pub(super) fn done_result(&self) -> NodeResult {
        match self.operation {
            Operation::Create => NodeResult::Created,
            Operation::Delete => NodeResult::Deleted,
        }
    }

    /// The report of a group that was not started because the journal
    /// could not be written: nothing was sent for it. When the journal
    /// still lists repairs for it (a write-ahead that failed after its
    /// rename and could not be taken back), they are pending.
    pub(super) fn skipped(self, reason: &str, pending: Vec<Entry>) -> OperationReport {
        let outcome = if pending.is_empty() {
            Outcome::Skipped
        } else {
            Outcome::RepairsPending
        };
        self.finish(outcome, pending, Some(reason.to_owned()))
    }

    pub(super) fn finish(
        self,
        outcome: Outcome,
        pending: Vec<Entry>,
        journal_error: Option<String>,
    ) -> OperationReport {
        self.finish_verifying(outcome, pending, Vec::new(), journal_error)
    }

    pub(super) fn finish_verifying(
        self,
        outcome: Outcome,
        pending: Vec<Entry>,
        verifying: Vec<Entry>,
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
            verifying,
            refused_by: None,
            journal_error,
        }
    }
}
