//! On a failure: forget what was never sent, undo in reverse, forget what was undone.

use super::*;

/// How many undos go out at once after a signal, whatever `--concurrency`:
/// each has its own shutdown grace then, and in reverse order one node that
/// hangs would use up the grace of every node after it.
// Note: the order of undos only matters while the run goes on; after a
// signal every node is undone within the same grace, so a fixed width,
// bounded like the reads, replaces the reverse order.
pub const UNDO_WIDTH_AFTER_SIGNAL: usize = 64;

impl<'c, T: Transport> GroupWork<'c, T> {
    /// Before undoing anything, drops (in one durable write) the entries of
    /// the nodes this run never changed: changes never sent, or that
    /// failed without effect. Entries already dropped are not written again.
    pub(super) fn forget_untouched(&mut self, to_change: &[usize], ledger: &Ledger<'_, T>) {
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

    /// Undoes every change this run made or may have made, newest first
    /// (up to the cluster's concurrency at a time; after a signal, to every
    /// node at once, up to [`UNDO_WIDTH_AFTER_SIGNAL`], so that one node
    /// that hangs cannot use up the shutdown grace of the others). An undo
    /// that fails stays pending, with its reason in the node's slot.
    pub(super) fn compensate(&mut self) {
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
        let width = if cluster.cancel.is_cancelled() {
            cluster.concurrency.max(cluster.undo_width_after_signal)
        } else {
            cluster.concurrency
        };
        let undos = fan_out(
            &targets,
            width,
            || false,
            |&index| {
                let node = self.node(index);
                let exchange = retrier.call(node, repair.action(), self.group, mode);
                let changed = self.slots[index].ownership == Ownership::Yes;
                let settled = cluster.holds(
                    node,
                    self.group,
                    repair.leaves_present(),
                    &exchange,
                    changed,
                );
                (exchange, settled)
            },
        );
        for (&index, undo) in targets.iter().zip(undos) {
            let Some((exchange, settled)) = undo else {
                continue;
            };
            let node = self.node(index);
            let slot = &mut self.slots[index];
            slot.attempts += exchange.attempts + settled.reads;
            slot.undo_may_land = settled.may_land;
            if settled.applied {
                slot.result = NodeResult::RolledBack;
                slot.error = None;
            } else {
                let error = exchange.error();
                log::error!(
                    host = node.base(), group = self.group.as_str(),
                    operation = self.operation.name();
                    "{node}: could not undo the {} ({error}); kept in the journal",
                    self.operation.name()
                );
                slot.result = NodeResult::RollbackPending;
                slot.error = Some(NodeError::Undo(error.clone()));
                slot.undo_error = Some(error);
            }
        }
    }

    /// How a group that did not reach the requested state ended, once its
    /// changes are undone: [`Outcome::Skipped`] when a signal stopped it
    /// before any change in `to_change` was sent (in its reads, or before
    /// its first change), so nothing was sent for it and nothing was undone;
    /// [`Outcome::RolledBack`] otherwise. Pending undos are decided later,
    /// by the journal.
    pub(super) fn unchanged_outcome(&self, to_change: &[usize]) -> Outcome {
        let nothing_sent = to_change
            .iter()
            .all(|&i| self.slots[i].result == NodeResult::NotAttempted);
        if self.interrupted && nothing_sent {
            Outcome::Skipped
        } else {
            Outcome::RolledBack
        }
    }

    /// Once the group is rolled back, settles (in one durable write) the
    /// entries whose undo was applied, so that a crash later in the batch
    /// cannot make a replay undo them again after another client created
    /// the group there: each goes, or becomes a verification when the
    /// change may still land late. Failed undos stay.
    pub(super) fn forget_undone(&self, ledger: &Ledger<'_, T>) {
        let undone: Vec<(Node, checks::NodeFate)> = self
            .slots
            .iter()
            .zip(&self.cluster.nodes)
            .filter(|(slot, _)| slot.result == NodeResult::RolledBack)
            .map(|(slot, node)| (node.clone(), self.fate(slot, false)))
            .collect();
        if !undone.is_empty() {
            // Note: a failed write leaves the entries; the clean-up retries it.
            let _ = ledger.settle(undone);
        }
    }

    /// What the journal keeps for a node once the group's work is over
    /// (`done`: every node is in the requested state): the undo that
    /// failed, and checks of the writes that may still land.
    pub(super) fn fate(&self, slot: &Slot, done: bool) -> checks::NodeFate {
        let mut fate = checks::NodeFate::forget();
        if let Some(error) = &slot.undo_error {
            // Note: the repair that stays covers a change that may still
            // land: a replay that applies it verifies the node afterwards.
            fate.repair = Some((error.clone(), !slot.may_land));
        } else if slot.may_land {
            fate.change_may_land(self.operation, done);
        }
        if slot.undo_may_land {
            fate.undo_may_land(self.operation);
        }
        fate
    }
}
