//! Replaying the journal: apply every pending repair, newest first.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use super::*;

/// What one repair's attempt came to: applied, failed (with the reason), or
/// never started (`None`), because the replay was cancelled.
type Attempted = Option<Result<(), Arc<str>>>;

/// The nodes that gave no answer earlier in this replay, and the reason
/// every later repair on them is skipped with (one copy for all of them).
struct Silent<'e> {
    nodes: Mutex<HashSet<&'e Node>>,
    skipped: Arc<str>,
}

impl<T: Transport> Cluster<T> {
    /// Applies the journal's pending repairs, newest first, and removes the
    /// ones that succeed. Needs nothing but the journal: each entry names
    /// its node.
    ///
    /// A node that gives no answer to one repair is skipped for the rest of
    /// this replay, so a dead node costs one round of retries, not one per
    /// entry. A cancel stops the replay; what is left stays pending.
    ///
    /// The replay works on the journal's own entries and rewrites the
    /// journal once, whatever its size. A journal that cannot be rewritten
    /// afterwards is reported in [`ReplayReport::journal_error`]; the
    /// repairs were sent all the same.
    pub fn replay(&self, journal: &mut Journal) -> ReplayReport {
        let entries = journal.entries();
        if entries.is_empty() {
            return ReplayReport::default();
        }
        log::info!(
            "replaying {} pending repair(s) from {}",
            entries.len(),
            journal.path().display()
        );
        let attempted = self.attempt_repairs(entries);
        let repaired = entries
            .iter()
            .zip(&attempted)
            .filter(|(_, attempt)| matches!(attempt, Some(Ok(()))))
            .map(|(entry, _)| entry.clone())
            .collect();
        let mut report = ReplayReport {
            repaired,
            ..ReplayReport::default()
        };
        // Note: one durable write for the whole replay; repairs are
        // idempotent, so a crash before it only means they are applied again.
        let mut attempted = attempted.into_iter();
        let written = journal.update(|entries| {
            entries.retain_mut(|entry| stays(entry, attempted.next().flatten()));
        });
        if let Err(error) = written {
            log::error!(
                "{error}; it still lists the {} repair(s) just applied, and the next run \
                 sends them again (repairs are idempotent)",
                report.repaired.len()
            );
            report.journal_error = Some(error.to_string());
        }
        report.pending = journal.entries().len();
        report
    }

    /// Sends every repair, newest first, up to the concurrency at a time;
    /// one slot per entry, in the journal's order.
    fn attempt_repairs(&self, entries: &[Entry]) -> Vec<Attempted> {
        let silent = Silent {
            nodes: Mutex::new(HashSet::new()),
            skipped: "skipped: the node did not answer an earlier repair in this replay".into(),
        };
        let newest_first: Vec<usize> = (0..entries.len()).rev().collect();
        let mut attempted = fan_out(
            &newest_first,
            self.concurrency,
            || self.cancel.is_cancelled(),
            |&index| self.repair_one(&entries[index], &silent),
        );
        attempted.reverse();
        attempted
    }

    /// Applies one repair, unless its node gave no answer earlier in this
    /// replay; a node that gives none now joins `silent`.
    fn repair_one<'e>(&self, entry: &'e Entry, silent: &Silent<'e>) -> Result<(), Arc<str>> {
        let lock = || silent.nodes.lock().unwrap_or_else(|e| e.into_inner());
        if lock().contains(&entry.host) {
            return Err(Arc::clone(&silent.skipped));
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
                host = entry.host.base(), group = entry.group.as_str(),
                operation = entry.operation.name();
                "{}: repaired: {} {:?}", entry.host, repair, entry.group
            );
            return Ok(());
        }
        let error = exchange.error();
        log::warn!(
            host = entry.host.base(), group = entry.group.as_str(),
            operation = entry.operation.name();
            "{}: repair ({} {:?}) failed ({error}); it stays in the journal",
            entry.host,
            repair,
            entry.group
        );
        if exchange.last.is_err() {
            lock().insert(&entry.host);
        }
        Err(error.into())
    }
}

/// Whether `entry` stays in the journal after its `attempt`: a repair
/// applied leaves; a failed one stays, counting one more failed replay and
/// keeping its reason; one never attempted stays as it was.
fn stays(entry: &mut Entry, attempt: Attempted) -> bool {
    match attempt {
        Some(Ok(())) => false,
        Some(Err(reason)) => {
            entry.failed_replays += 1;
            entry.last_error = Some(reason);
            true
        }
        None => true,
    }
}
