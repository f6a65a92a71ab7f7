//! A batch of groups, in four steps: plan (read), write ahead, apply, clean up.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;

use super::*;

impl<T: Transport> Cluster<T> {
    pub(super) fn change_batch(
        &self,
        operation: Operation,
        groups: &[GroupId],
        journal: &mut Journal,
        blocked: &HashMap<GroupId, Vec<Entry>>,
    ) -> Result<Vec<OperationReport>, JournalError> {
        let batch = batch_id();
        let steps = self.plan(operation, groups, blocked);
        if let Err(error) = self.write_ahead(operation, &batch, &steps, journal) {
            // Note: a write that failed after its rename left the undos of
            // changes never sent; take them out again if the disk lets us.
            let _ = journal.update(|entries| entries.retain(|e| e.batch != batch));
            return Err(error);
        }
        let steps = self.apply_batch(&batch, steps, journal);
        let journal_error = self.clean_up(&batch, &steps, journal);
        Ok(steps
            .into_iter()
            .map(|step| match step {
                Step::Finished(report) => report,
                Step::Working(work, _) => {
                    let pending: Vec<Entry> = journal
                        .entries()
                        .iter()
                        .filter(|e| e.batch == batch && &e.group == work.group)
                        .cloned()
                        .collect();
                    // Note: a failed clean-up that had already replaced the
                    // file leaves nothing pending: only its durability is in
                    // doubt, and the report still carries the error.
                    let outcome = if !pending.is_empty() {
                        Outcome::RepairsPending
                    } else {
                        work.outcome
                    };
                    work.finish(outcome, pending, journal_error.clone())
                }
            })
            .collect())
    }

    /// Step 1: refuses groups with pending repairs (`blocked` holds them)
    /// and reads every node of the others, so pre-existing state is known
    /// exactly. Up to the groups in flight read at a time.
    pub(super) fn plan<'c>(
        &'c self,
        operation: Operation,
        groups: &'c [GroupId],
        blocked: &HashMap<GroupId, Vec<Entry>>,
    ) -> Vec<Step<'c, T>> {
        let in_flight = self.groups_in_flight().min(groups.len());
        let width = self.reads_at_a_time(in_flight);
        let indexes: Vec<usize> = (0..groups.len()).collect();
        fan_out(
            &indexes,
            in_flight,
            || false,
            |&index| {
                let group = &groups[index];
                let mut work = GroupWork::new(self, operation, group);
                if let Some(pending) = blocked.get(group) {
                    return Step::Finished(work.finish(Outcome::Refused, pending.clone(), None));
                }
                match work.read_all(width) {
                    None => {
                        let outcome = work.unchanged_outcome(&[]);
                        Step::Finished(work.finish(outcome, Vec::new(), None))
                    }
                    Some(to_change) if to_change.is_empty() => {
                        Step::Finished(work.finish(Outcome::Done, Vec::new(), None))
                    }
                    Some(to_change) => Step::Working(work, to_change),
                }
            },
        )
        .into_iter()
        .map(|step| step.expect("plan never stops early"))
        .collect()
    }

    /// Step 2: writes ahead, durably and in one journal write, the undo of
    /// every change the batch is about to make.
    pub(super) fn write_ahead(
        &self,
        operation: Operation,
        batch: &str,
        steps: &[Step<'_, T>],
        journal: &mut Journal,
    ) -> Result<(), JournalError> {
        let recorded_at = crate::vocab::time::now_unix();
        let batch = &journal::BatchId::from(batch);
        let intents: Vec<Entry> = steps
            .iter()
            .filter_map(|step| match step {
                Step::Working(work, to_change) => Some((work.group, to_change)),
                Step::Finished(_) => None,
            })
            .flat_map(|(group, to_change)| {
                to_change.iter().map(move |&index| Entry {
                    group: group.clone(),
                    host: self.nodes[index].clone(),
                    action: operation.repair(),
                    operation,
                    batch: batch.clone(),
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

    /// Step 3: changes each group's nodes, up to the groups in flight at a
    /// time; on a failure, undoes that group's changes in reverse order.
    /// Every group is worked on, also after a cancel: one that has not
    /// started then sends nothing and records why.
    pub(super) fn apply_batch<'c>(
        &'c self,
        batch: &str,
        steps: Vec<Step<'c, T>>,
        journal: &mut Journal,
    ) -> Vec<Step<'c, T>> {
        let commits = Commits::new(journal);
        let steps: Vec<Mutex<Step<'c, T>>> = steps.into_iter().map(Mutex::new).collect();
        let in_flight = self.groups_in_flight().min(steps.len());
        fan_out(
            &steps,
            in_flight,
            || false,
            |cell| {
                let mut cell = cell.lock().unwrap_or_else(|e| e.into_inner());
                if let Step::Working(work, to_change) = &mut *cell {
                    let ledger = Ledger {
                        commits: &commits,
                        batch,
                        group: work.group,
                    };
                    work.outcome = if work.apply_all(to_change, &ledger) {
                        Outcome::Done
                    } else {
                        work.forget_untouched(to_change, &ledger);
                        work.compensate();
                        work.forget_undone(&ledger);
                        work.unchanged_outcome(to_change)
                    };
                }
            },
        );
        steps
            .into_iter()
            .map(|cell| cell.into_inner().unwrap_or_else(|e| e.into_inner()))
            .collect()
    }

    /// Step 4: clears the batch's entries but the undos that failed, which
    /// keep their reason. Returns why the journal could not be written.
    pub(super) fn clean_up(
        &self,
        batch: &str,
        steps: &[Step<'_, T>],
        journal: &mut Journal,
    ) -> Option<String> {
        let failed_undos: HashMap<(&GroupId, &Node), &str> = steps
            .iter()
            .filter_map(|step| match step {
                Step::Working(work, _) => Some(work),
                Step::Finished(_) => None,
            })
            .flat_map(|work| {
                work.slots
                    .iter()
                    .zip(&self.nodes)
                    .filter_map(move |(slot, node)| {
                        Some(((work.group, node), slot.undo_error.as_deref()?))
                    })
            })
            .collect();
        let result = journal.update(|entries| {
            entries.retain_mut(|entry| {
                if entry.batch != batch {
                    return true;
                }
                match failed_undos.get(&(&entry.group, &entry.host)) {
                    Some(error) => {
                        entry.last_error = Some((*error).into());
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
}

impl<'j> Commits<'j> {
    pub(super) fn new(journal: &'j mut Journal) -> Self {
        Self {
            journal: Mutex::new(journal),
            queue: Mutex::new(CommitQueue::default()),
            written: std::sync::Condvar::new(),
        }
    }

    fn queue(&self) -> std::sync::MutexGuard<'_, CommitQueue> {
        self.queue.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Removes `batch`'s entries for `nodes` of `group` durably, in one
    /// write with every removal other workers ask for meanwhile. Returns
    /// once a write that includes it is over.
    pub(super) fn remove(
        &self,
        batch: &str,
        group: &GroupId,
        nodes: &[&Node],
    ) -> Result<(), String> {
        let ticket = {
            let mut queue = self.queue();
            let ticket = queue.next_ticket;
            queue.next_ticket += 1;
            queue.waiting.push(Removal {
                ticket,
                group: group.clone(),
                nodes: nodes.iter().map(|&n| n.clone()).collect(),
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
            leader.result = self.write_removals(batch, &leader.taken);
            drop(leader);
            queue = self.queue();
        }
    }

    fn write_removals(&self, batch: &str, removals: &[Removal]) -> Result<(), String> {
        let doomed: HashSet<(&GroupId, &Node)> = removals
            .iter()
            .flat_map(|r| r.nodes.iter().map(move |node| (&r.group, node)))
            .collect();
        let mut journal = self.journal.lock().unwrap_or_else(|e| e.into_inner());
        journal
            .update(|entries| {
                entries.retain(|e| !(e.batch == batch && doomed.contains(&(&e.group, &e.host))));
            })
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
struct Leader<'c, 'j> {
    commits: &'c Commits<'j>,
    taken: Vec<Removal>,
    result: Result<(), String>,
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

impl Ledger<'_> {
    /// Removes the batch's entries for `nodes` durably (with group commit:
    /// see [`Commits`]). On failure the entries stay (and the error is
    /// logged): the clean-up tries again.
    pub(super) fn forget(&self, nodes: &[&Node]) -> Result<(), String> {
        self.commits.remove(self.batch, self.group, nodes)
    }
}
