//! Replaying the journal: apply every pending repair, newest first.

use std::collections::HashSet;
use std::sync::Mutex;

use super::*;

/// What one repair's attempt came to: applied, failed (with the reason), or
/// never started (`None` in the slot), because the replay was cancelled.
type Attempted = Option<Result<(), String>>;

impl<T: Transport> Cluster<T> {
    /// Applies the journal's pending repairs, newest first, and removes the
    /// ones that succeed. Needs nothing but the journal: each entry names
    /// its node.
    ///
    /// A node that gives no answer to one repair is skipped for the rest of
    /// this replay, so a dead node costs one round of retries, not one per
    /// entry. A cancel stops the replay; what is left stays pending.
    ///
    /// A journal that cannot be rewritten afterwards is reported in
    /// [`ReplayReport::journal_error`]; the repairs were sent all the same.
    pub fn replay(&self, journal: &mut Journal) -> ReplayReport {
        let entries = journal.entries().to_vec();
        if entries.is_empty() {
            return ReplayReport::default();
        }
        log::info!(
            "replaying {} pending repair(s) from {}",
            entries.len(),
            journal.path().display()
        );
        let attempted = self.attempt_repairs(&entries);
        let mut report = sort_out(entries, attempted);
        // Note: one durable write for the whole replay; repairs are
        // idempotent, so a crash before it only means they are applied again.
        let pending = report.pending.clone();
        if let Err(error) = journal.update(|entries| *entries = pending) {
            log::error!(
                "{error}; it still lists the {} repair(s) just applied, and the next run \
                 sends them again (repairs are idempotent)",
                report.repaired.len()
            );
            report.journal_error = Some(error.to_string());
            report.pending = journal.entries().to_vec();
        }
        report
    }

    /// Sends every repair, newest first, up to the concurrency at a time;
    /// one slot per entry, in the journal's order.
    fn attempt_repairs(&self, entries: &[Entry]) -> Vec<Attempted> {
        let silent: Mutex<HashSet<&Node>> = Mutex::new(HashSet::new());
        let newest_first: Vec<usize> = (0..entries.len()).rev().collect();
        let outcomes = fan_out(
            &newest_first,
            self.concurrency,
            || self.cancel.is_cancelled(),
            |&index| self.repair_one(&entries[index], &silent),
        );
        let mut attempted: Vec<Attempted> = vec![None; entries.len()];
        for (&index, outcome) in newest_first.iter().zip(outcomes) {
            attempted[index] = outcome;
        }
        attempted
    }

    /// Applies one repair, unless its node gave no answer earlier in this
    /// replay; a node that gives none now joins `silent`.
    fn repair_one<'e>(
        &self,
        entry: &'e Entry,
        silent: &Mutex<HashSet<&'e Node>>,
    ) -> Result<(), String> {
        let lock = || silent.lock().unwrap_or_else(|e| e.into_inner());
        if lock().contains(&entry.host) {
            return Err("skipped: the node did not answer an earlier repair in this replay".into());
        }
        let repair = entry.action;
        let exchange =
            self.retrier()
                .call(&entry.host, repair.action(), &entry.group, Mode::Forward);
        let (applied, _) = self.holds(
            &entry.host,
            &entry.group,
            repair.leaves_present(),
            &exchange,
        );
        if applied {
            log::info!(
                host = entry.host.base(), group = entry.group.as_str();
                "{}: repaired: {} {:?}", entry.host, repair, entry.group
            );
            return Ok(());
        }
        let error = exchange.error();
        log::warn!(
            host = entry.host.base(), group = entry.group.as_str();
            "{}: repair ({} {:?}) failed ({error}); it stays in the journal",
            entry.host,
            repair,
            entry.group
        );
        if exchange.last.is_err() {
            lock().insert(&entry.host);
        }
        Err(error)
    }
}

/// Splits the entries into repaired and still pending; a failed repair
/// counts one more failed replay and keeps its reason.
fn sort_out(entries: Vec<Entry>, attempted: Vec<Attempted>) -> ReplayReport {
    let mut report = ReplayReport::default();
    for (mut entry, result) in entries.into_iter().zip(attempted) {
        match result {
            Some(Ok(())) => {
                report.repaired.push(entry);
                continue;
            }
            Some(Err(error)) => {
                entry.failed_replays += 1;
                entry.last_error = Some(error);
            }
            None => {}
        }
        report.pending.push(entry);
    }
    report
}
