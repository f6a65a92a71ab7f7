//! Step 1 for one group: read every node at once, waiting for silent nodes as the breaker says.

use std::sync::atomic::{AtomicBool, Ordering};

use super::breaker::Verdict;
use super::*;

impl<'c, T: Transport> GroupWork<'c, T> {
    /// Reads every node, `width` at a time. Returns the indexes of the
    /// nodes to change, or `None` when a node could not be read (or the run
    /// was interrupted).
    pub(super) fn read_all(&mut self, width: usize) -> Option<Vec<usize>> {
        let probes = self.wait_for_silent_nodes()?;
        let reads = self.read_round(width, &probes);
        let mut to_change = Vec::new();
        let mut readable = true;
        let already = self.already_result();
        for (index, exchange) in reads.into_iter().enumerate() {
            let Some(exchange) = exchange else {
                if probes.contains(&index) {
                    self.cluster.breaker.abandoned(self.node(index));
                }
                continue;
            };
            self.tell_breaker(index, &exchange);
            let slot = &mut self.slots[index];
            slot.attempts += exchange.attempts;
            let Some(present) = presence(&exchange) else {
                readable = false;
                self.interrupted |= exchange.stopped;
                self.unread(index, &exchange);
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

    /// The reads of one group, `width` at a time, in node order: `None`
    /// for a node not read, because one before it was unreadable.
    fn read_round(&self, width: usize, probes: &[usize]) -> Vec<Option<Exchange>> {
        let retrier = self.cluster.retrier();
        let unreadable = |exchange: &Exchange| presence(exchange).is_none();
        if probes.is_empty() {
            // Note: the reads of a round go to the transport together, with
            // no thread per node (only a read that is retried gets one).
            let requests: Vec<(&Node, Action, &GroupId)> = (0..self.slots.len())
                .map(|index| (self.node(index), Action::Read, self.group))
                .collect();
            return retrier.call_each(&requests, Mode::Forward, width, unreadable);
        }
        // Note: a probe of a silent node may wait and ask again, so while
        // one is due every read keeps a thread of its own.
        let stop = AtomicBool::new(false);
        let indexes: Vec<usize> = (0..self.slots.len()).collect();
        fan_out(
            &indexes,
            width,
            || stop.load(Ordering::SeqCst),
            |&index| {
                let exchange = self.read_node(index, probes.contains(&index), &retrier);
                if unreadable(&exchange) {
                    stop.store(true, Ordering::SeqCst);
                }
                exchange
            },
        )
    }

    /// Reads node `index`. A probe of a silent node that gets no answer
    /// waits and probes again, as the breaker says, until the node answers
    /// or has been silent for a whole retry budget: a node that comes back
    /// within it fails no group that was waiting for it. The exchange counts
    /// every attempt.
    fn read_node(&self, index: usize, probe: bool, retrier: &Retrier<'_, T>) -> Exchange {
        let node = self.node(index);
        let mut sent = 0;
        loop {
            let mut exchange = retrier.call(node, Action::Read, self.group, Mode::Forward);
            sent += exchange.attempts;
            exchange.attempts = sent;
            if !probe || exchange.last.is_ok() || exchange.stopped {
                return exchange;
            }
            self.cluster.breaker.silent(node);
            match self.cluster.breaker.before_read(node, &self.cluster.cancel) {
                Verdict::Probe | Verdict::Ask => {}
                Verdict::GiveUp | Verdict::Stop => return exchange,
            }
        }
    }

    /// What a read of node `index` tells the breaker: it answered, it is
    /// silent (no answer to any attempt), or nothing (cut short).
    fn tell_breaker(&self, index: usize, exchange: &Exchange) {
        let node = self.node(index);
        let breaker = &self.cluster.breaker;
        if exchange.last.is_ok() {
            breaker.answered(node);
        } else if !exchange.stopped && exchange.attempts > 0 {
            breaker.silent(node);
        } else {
            breaker.abandoned(node);
        }
    }

    /// Records a node whose read got no usable answer.
    fn unread(&mut self, index: usize, exchange: &Exchange) {
        if exchange.attempts == 0 {
            return;
        }
        let slot = &mut self.slots[index];
        slot.result = if exchange.last.is_ok() {
            NodeResult::Unreadable
        } else {
            NodeResult::Unreachable
        };
        slot.error = Some(NodeError::Read(exchange.error()));
        let node = &self.cluster.nodes[index];
        log::warn!(
            host = node.base(), group = self.group.as_str(), operation = self.operation.name();
            "{node}: cannot read {:?}; nothing was changed on any node",
            self.group
        );
    }

    /// Waits, as the breaker says, for each node that gave no answer
    /// earlier in this run. Returns the nodes this group's read probes, or
    /// `None` when the group fails at once, sending nothing: a node has
    /// been silent for a whole retry budget, or the run was cancelled.
    fn wait_for_silent_nodes(&mut self) -> Option<Vec<usize>> {
        let breaker = &self.cluster.breaker;
        let mut probes = Vec::new();
        for index in 0..self.slots.len() {
            match breaker.before_read(self.node(index), &self.cluster.cancel) {
                Verdict::Ask => {}
                Verdict::Probe => probes.push(index),
                verdict => {
                    // Note: the probes this group took are someone else's to make now.
                    for &probe in &probes {
                        breaker.abandoned(self.node(probe));
                    }
                    self.interrupted |= verdict == Verdict::Stop;
                    self.give_up_on_silent(verdict);
                    return None;
                }
            }
        }
        Some(probes)
    }

    /// Marks every node the breaker gives up on as not asked.
    fn give_up_on_silent(&mut self, verdict: Verdict) {
        if verdict != Verdict::GiveUp {
            return;
        }
        for index in 0..self.slots.len() {
            if self.cluster.breaker.gives_up_on(self.node(index)) {
                self.slots[index].result = NodeResult::Unreachable;
                self.slots[index].error = Some(NodeError::NotAsked);
            }
        }
    }
}
