//! Step 3 for one group: change the nodes in order and settle what each answer means.

use std::sync::atomic::{AtomicBool, Ordering};

use super::*;

impl<'c, T: Transport> GroupWork<'c, T> {
    /// Changes each node in `to_change`, starting them in order, up to the
    /// cluster's concurrency at a time. Once one fails (or the run is
    /// cancelled) no new change starts; changes in flight finish or are
    /// abandoned. Returns whether all of them are now in the requested state.
    pub(super) fn apply_all(&mut self, to_change: &[usize], ledger: &Ledger<'_, T>) -> bool {
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
                // can make a replay undo what someone else did there. A
                // change that may still land keeps its entry: the clean-up
                // makes it a verification.
                if slot.ownership == Ownership::No
                    && !slot.may_land
                    && let Err(error) = ledger.forget(&[self.node(index)])
                {
                    slot.forget_error = Some(error);
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
    pub(super) fn apply_one(&self, index: usize) -> Slot {
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
            forget_error: None,
            may_land: exchange.may_land_later(false),
            undo_may_land: false,
        };
        if exchange.status().is_some_and(|s| (200..300).contains(&s)) {
            return slot;
        }
        if exchange.attempts == 0 {
            // Note: cancelled before the first attempt: nothing was sent.
            slot.result = NodeResult::NotAttempted;
            slot.ownership = Ownership::No;
        } else if exchange.stopped || !needs_read_back(&exchange) {
            slot.fail_unsettled(&exchange);
        } else {
            self.settle_by_read(node, &exchange, &mut slot);
        }
        slot
    }

    /// Decides what a write that did not answer 2xx did, by reading the
    /// node: the change landed (ambiguous answers), someone else got there
    /// first (a final 4xx), or nothing was applied.
    fn settle_by_read(&self, node: &Node, exchange: &Exchange, slot: &mut Slot) {
        let ambiguous = exchange.may_have_applied();
        let read = self
            .cluster
            .retrier()
            .call(node, Action::Read, self.group, Mode::Forward);
        slot.attempts += read.attempts;
        slot.interrupted |= read.stopped;
        match presence(&read) {
            Some(present) if present == self.operation.wants_present() => {
                slot.may_land = exchange.may_land_later(true);
                if ambiguous {
                    log::info!(
                        host = node.base(), group = self.group.as_str(),
                        operation = self.operation.name();
                        "{node}: the change landed although the request failed"
                    );
                } else {
                    // Note: a final 4xx applied nothing, yet the group is in
                    // the wanted state: another client got there first. It
                    // is not ours to undo.
                    log::warn!(
                        host = node.base(), group = self.group.as_str(),
                        operation = self.operation.name();
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
                slot.error = Some(NodeError::NotApplied(exchange.error()));
            }
            None => {
                log::warn!(
                    host = node.base(), group = self.group.as_str(),
                    operation = self.operation.name();
                    "{node}: outcome unknown ({}); it will be undone to be safe",
                    read.error()
                );
                slot.fail_unsettled(exchange);
            }
        }
    }
}

impl Slot {
    /// The change failed and nothing settles whether it landed: undone on
    /// a rollback when an attempt may have been applied, left alone when
    /// none was.
    fn fail_unsettled(&mut self, exchange: &Exchange) {
        self.result = NodeResult::Failed;
        self.error = Some(NodeError::Change(exchange.error()));
        self.ownership = if exchange.may_have_applied() {
            Ownership::Unknown
        } else {
            Ownership::No
        };
    }
}
