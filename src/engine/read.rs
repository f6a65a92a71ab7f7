//! Step 1 for one group: read every node at once, and skip nodes that gave no answer.

use std::sync::atomic::{AtomicBool, Ordering};

use super::*;

impl<'c, T: Transport> GroupWork<'c, T> {
    /// Reads every node, `width` at a time. Returns the indexes of the
    /// nodes to change, or `None` when a node could not be read (or the run
    /// was interrupted).
    pub(super) fn read_all(&mut self, width: usize) -> Option<Vec<usize>> {
        if self.skip_silent_nodes() {
            return None;
        }
        let retrier = self.cluster.retrier();
        let unreadable = AtomicBool::new(false);
        let indexes: Vec<usize> = (0..self.slots.len()).collect();
        let reads = fan_out(
            &indexes,
            width,
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
                    slot.error = Some(NodeError::Read(exchange.error()));
                    self.warn_unreadable(index);
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

    /// Says that node `index` could not be read, so nothing is changed.
    fn warn_unreadable(&self, index: usize) {
        let node = &self.cluster.nodes[index];
        log::warn!(
            host = node.base(), group = self.group.as_str(), operation = self.operation.name();
            "{node}: cannot read {:?}; nothing was changed on any node",
            self.group
        );
    }

    /// Fails the group at once, sending nothing, when a node gave no answer
    /// to a read earlier in this run. Returns whether it did.
    pub(super) fn skip_silent_nodes(&mut self) -> bool {
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
                slot.error = Some(NodeError::NotAsked);
                skipped = true;
            }
        }
        skipped
    }
}
