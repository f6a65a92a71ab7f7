//! A batch of groups, in four steps: plan (read), write ahead, apply, clean up.

use std::collections::HashMap;
use std::sync::Mutex;

use super::*;

/// Per group of the batch: its repairs of this batch left in the journal,
/// and its verifications (of any batch), in one pass over the journal.
fn left_for(
    journal: &Journal,
    batch: &str,
    steps: &[Step<'_, impl Transport>],
) -> HashMap<GroupId, (Vec<Entry>, Vec<Entry>)> {
    let mut left: HashMap<GroupId, (Vec<Entry>, Vec<Entry>)> = steps
        .iter()
        .map(|step| match step {
            Step::Working(work, _) => (work.group.clone(), Default::default()),
            Step::Finished(report) => (report.group.clone(), Default::default()),
        })
        .collect();
    for entry in journal.entries() {
        let Some((pending, verifying)) = left.get_mut(&entry.group) else {
            continue;
        };
        match entry.kind {
            Kind::Repair if entry.batch == batch => pending.push(entry.clone()),
            Kind::Verify => verifying.push(entry.clone()),
            _ => {}
        }
    }
    left
}

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
        let journal_error = self.clean_up(&batch, operation, &steps, journal);
        let mut left = left_for(journal, &batch, &steps);
        Ok(steps
            .into_iter()
            .map(|step| match step {
                Step::Finished(mut report) => {
                    report.verifying = left.remove(&report.group).unwrap_or_default().1;
                    report
                }
                Step::Working(work, _) => {
                    let (pending, verifying) = left.remove(work.group).unwrap_or_default();
                    // Note: a failed clean-up that had already replaced the
                    // file leaves nothing pending: only its durability is in
                    // doubt, and the report still carries the error.
                    let outcome = if !pending.is_empty() {
                        Outcome::RepairsPending
                    } else {
                        work.outcome
                    };
                    work.finish_verifying(outcome, pending, verifying, journal_error.clone())
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
                if let Some((journal, pending)) = self.elsewhere.get(group) {
                    let mut report = work.finish(Outcome::Refused, pending.clone(), None);
                    report.refused_by = Some(journal.clone());
                    return Step::Finished(report);
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
        let recorded_at = self.clock.now();
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
                    kind: Kind::Repair,
                    until: None,
                    settled: false,
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
                        cluster: self,
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

    /// Step 4: settles the batch's entries in one durable write: the undos
    /// that failed stay (with their reason), writes that may still land
    /// become verifications or watches, the rest go; groups left done turn
    /// their checks over (see [`checks`]). Returns why the journal could not
    /// be written.
    pub(super) fn clean_up(
        &self,
        batch: &str,
        operation: Operation,
        steps: &[Step<'_, T>],
        journal: &mut Journal,
    ) -> Option<String> {
        let mut settlement = self.settlement(batch, Some(operation));
        for step in steps {
            match step {
                Step::Working(work, to_change) => {
                    let done = work.outcome == Outcome::Done;
                    for &index in to_change {
                        let fate = work.fate(&work.slots[index], done);
                        settlement
                            .fates
                            .insert((work.group.clone(), self.nodes[index].clone()), fate);
                    }
                    if done {
                        settlement
                            .done
                            .insert(work.group.clone(), operation.wants_present());
                    }
                }
                Step::Finished(report) if report.outcome == Outcome::Done => {
                    settlement
                        .done
                        .insert(report.group.clone(), operation.wants_present());
                }
                Step::Finished(_) => {}
            }
        }
        let result = journal.update(|entries| settlement.apply(entries));
        result.err().map(|e| {
            log::error!("{e}; the next run will apply the undos it still lists");
            e.to_string()
        })
    }
}
