//! On a failure: forget what was never sent, undo in reverse, forget what was undone.

use super::*;

impl<'c, T: Transport> GroupWork<'c, T> {
    /// Before undoing anything, drops (in one durable write) the entries of
    /// the nodes this run never changed: changes never sent, or that
    /// failed without effect. Entries already dropped are not written again.
    pub(super) fn forget_untouched(&mut self, to_change: &[usize], ledger: &Ledger<'_>) {
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
    /// (up to the cluster's concurrency at a time). An undo that fails
    /// stays pending, with its reason in the node's slot.
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

    /// Once the group is rolled back, drops (in one durable write) the
    /// entries whose undo was applied, so that a crash later in the batch
    /// cannot make a replay undo them again after another client created
    /// the group there. Failed undos stay.
    pub(super) fn forget_undone(&self, ledger: &Ledger<'_>) {
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
}
