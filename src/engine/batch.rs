//! A batch of groups, in four steps: plan (read), write ahead, apply, clean up.

use std::collections::HashMap;
use std::sync::Mutex;

use super::*;

impl<T: Transport> Cluster<T> {
    pub(super) fn change_batch(
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

    /// Step 1: refuses groups with pending repairs and reads every node of
    /// the others, so pre-existing state is known exactly.
    pub(super) fn plan<'c>(
        &'c self,
        operation: Operation,
        groups: &'c [GroupId],
        journal: &Journal,
    ) -> Vec<Step<'c, T>> {
        groups
            .iter()
            .map(|group| {
                let mut work = GroupWork::new(self, operation, group);
                let blocking: Vec<Entry> = journal.pending_for(group).cloned().collect();
                if !blocking.is_empty() {
                    return Step::Finished(work.finish(Outcome::Refused, blocking, None));
                }
                match work.read_all() {
                    None => Step::Finished(work.finish(Outcome::RolledBack, Vec::new(), None)),
                    Some(to_change) if to_change.is_empty() => {
                        Step::Finished(work.finish(Outcome::Done, Vec::new(), None))
                    }
                    Some(to_change) => Step::Working(work, to_change),
                }
            })
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
        let recorded_at = journal::now_unix();
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

    /// Step 3: changes each group's nodes; on a failure, undoes that
    /// group's changes in reverse order.
    pub(super) fn apply_batch<'c>(
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
                Step::Working(mut work, to_change) => {
                    let ledger = Ledger {
                        journal: &journal,
                        batch,
                        group: work.group,
                    };
                    work.outcome = if work.apply_all(&to_change, &ledger) {
                        Outcome::Done
                    } else {
                        work.forget_untouched(&to_change, &ledger);
                        work.compensate();
                        work.forget_undone(&ledger);
                        Outcome::RolledBack
                    };
                    Step::Working(work, to_change)
                }
            })
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

impl Ledger<'_> {
    /// Removes the batch's entries for `nodes` durably. On failure the
    /// entries stay (and the error is logged): the clean-up tries again.
    pub(super) fn forget(&self, nodes: &[&Node]) -> Result<(), String> {
        let mut journal = self.journal.lock().unwrap_or_else(|e| e.into_inner());
        journal
            .update(|entries| {
                entries.retain(|e| {
                    !(e.batch == self.batch && &e.group == self.group && nodes.contains(&&e.host))
                });
            })
            .map_err(|e| {
                log::error!("{e}");
                e.to_string()
            })
    }
}
