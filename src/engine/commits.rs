//! The journal shared by the groups in flight: group commit of the settlements that workers
//! ask for while a write is in progress, and the `Ledger` one group's worker writes through.

use std::collections::HashMap;
use std::sync::Mutex;

use super::*;

/// The journal while a group's changes are sent: lets a worker drop the
/// write-ahead entry of a node that turned out not to be this run's.
pub(super) struct Ledger<'j, T> {
    pub(super) commits: &'j Commits<'j>,
    pub(super) batch: &'j str,
    pub(super) group: &'j GroupId,
    pub(super) cluster: &'j Cluster<T>,
}

/// The journal shared by the groups in flight, with group commit: the
/// removals that groups ask for while a write is in progress all go into
/// the next write, one for all of them.
pub(super) struct Commits<'j> {
    pub(super) journal: Mutex<&'j mut Journal>,
    pub(super) queue: Mutex<CommitQueue>,
    pub(super) written: std::sync::Condvar,
}

/// Removals waiting for a write, and the results of finished ones.
#[derive(Default)]
pub(super) struct CommitQueue {
    pub(super) waiting: Vec<Removal>,
    /// Whether a worker is writing the journal now.
    pub(super) writing: bool,
    /// Results of written removals, by ticket, until their worker takes them.
    pub(super) finished: HashMap<u64, Result<(), String>>,
    pub(super) next_ticket: u64,
}

/// One worker's request: settle its group's entries for these nodes.
pub(super) struct Removal {
    pub(super) ticket: u64,
    pub(super) group: GroupId,
    pub(super) fates: Vec<(Node, checks::NodeFate)>,
}

impl<'j> Commits<'j> {
    pub(super) fn new(journal: &'j mut Journal) -> Self {
        Self {
            journal: Mutex::new(journal),
            queue: Mutex::new(CommitQueue::default()),
            written: std::sync::Condvar::new(),
        }
    }

    pub(super) fn queue(&self) -> std::sync::MutexGuard<'_, CommitQueue> {
        self.queue.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Settles `batch`'s entries for some nodes of `group` durably (see
    /// [`checks::Settlement`]), in one write with every settlement other
    /// workers ask for meanwhile. Returns once a write that includes it is
    /// over.
    pub(super) fn settle(
        &self,
        batch: &str,
        group: &GroupId,
        fates: Vec<(Node, checks::NodeFate)>,
        cluster: &Cluster<impl Transport>,
    ) -> Result<(), String> {
        let ticket = {
            let mut queue = self.queue();
            let ticket = queue.next_ticket;
            queue.next_ticket += 1;
            queue.waiting.push(Removal {
                ticket,
                group: group.clone(),
                fates,
            });
            // Note: wakes only a test that waits for the queue to fill; a
            // worker that wakes here finds its write not done and waits on.
            self.written.notify_all();
            ticket
        };
        let mut queue = self.queue();
        loop {
            if let Some(result) = queue.finished.remove(&ticket) {
                return result;
            }
            if queue.writing {
                queue = self.written.wait(queue).unwrap_or_else(|e| e.into_inner());
                continue;
            }
            // Note: this worker writes for everyone waiting, its own
            // removal included; the others sleep until it is done.
            queue.writing = true;
            let mut leader = Leader {
                commits: self,
                taken: std::mem::take(&mut queue.waiting),
                result: Err("the journal write did not finish".to_owned()),
            };
            drop(queue);
            leader.result = self.write_removals(batch, &leader.taken, cluster);
            drop(leader);
            queue = self.queue();
        }
    }

    pub(super) fn write_removals(
        &self,
        batch: &str,
        removals: &[Removal],
        cluster: &Cluster<impl Transport>,
    ) -> Result<(), String> {
        let mut settlement = cluster.settlement(batch, None);
        for removal in removals {
            for (node, fate) in &removal.fates {
                settlement
                    .fates
                    .insert((removal.group.clone(), node.clone()), fate.clone());
            }
        }
        let mut journal = self.journal.lock().unwrap_or_else(|e| e.into_inner());
        journal
            .update(|entries| settlement.apply(entries))
            .map_err(|e| {
                log::error!("{e}");
                e.to_string()
            })
    }

    /// Waits until `n` removals wait for a write; `false` after `timeout`.
    #[cfg(test)]
    pub(super) fn wait_for_waiting(&self, n: usize, timeout: Duration) -> bool {
        let queue = self.queue();
        let (queue, _) = self
            .written
            .wait_timeout_while(queue, timeout, |q| q.waiting.len() < n)
            .unwrap_or_else(|e| e.into_inner());
        queue.waiting.len() >= n
    }
}

/// The worker writing for everyone: when it is done, or if it panics, the
/// removals it took get their result and the others wake up, so no worker
/// waits for a write that will never come.
pub(super) struct Leader<'c, 'j> {
    pub(super) commits: &'c Commits<'j>,
    pub(super) taken: Vec<Removal>,
    pub(super) result: Result<(), String>,
}

impl Drop for Leader<'_, '_> {
    fn drop(&mut self) {
        let mut queue = self.commits.queue();
        for removal in self.taken.drain(..) {
            queue.finished.insert(removal.ticket, self.result.clone());
        }
        queue.writing = false;
        self.commits.written.notify_all();
    }
}

impl<T: Transport> Ledger<'_, T> {
    /// Removes the batch's entries for `nodes` durably (with group commit:
    /// see [`Commits`]). On failure the entries stay (and the error is
    /// logged): the clean-up tries again.
    pub(super) fn forget(&self, nodes: &[&Node]) -> Result<(), String> {
        let fates = nodes
            .iter()
            .map(|&node| (node.clone(), checks::NodeFate::forget()))
            .collect();
        self.settle(fates)
    }

    /// Settles the batch's entries for some nodes durably, as [`Ledger::forget`] does.
    pub(super) fn settle(&self, fates: Vec<(Node, checks::NodeFate)>) -> Result<(), String> {
        self.commits
            .settle(self.batch, self.group, fates, self.cluster)
    }
}

impl<T: Transport> Cluster<T> {
    /// An empty settlement of `batch`'s entries, its checks recorded now for
    /// `operation` and lasting one settle horizon.
    pub(super) fn settlement<'a>(
        &self,
        batch: &'a str,
        operation: Option<Operation>,
    ) -> checks::Settlement<'a> {
        checks::Settlement {
            batch,
            operation,
            recorded_at: self.clock.now(),
            until: self.settle_until(),
            ..checks::Settlement::default()
        }
    }
}
