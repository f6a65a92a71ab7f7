//! Replaying the journal: apply every pending repair, newest first, and check every
//! verification.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use super::*;
use crate::journal::BatchId;

/// What one entry's replay came to.
#[derive(Debug, Clone)]
enum Replayed {
    /// Never started, because the replay was cancelled: the entry stays.
    NotStarted,
    /// Nothing to do now (a watch, or a verification whose node shows no
    /// landing): the entry stays unless its horizon has passed.
    Unchanged,
    /// The repair (or, for a verification, the restore after a late
    /// landing) was applied. `verify` when the write it undoes may still
    /// land; `watch` when an attempt of the repair itself may.
    Applied { verify: bool, watch: bool },
    /// The repair or the verification's read failed, for this reason.
    Failed(Arc<str>),
}

/// The nodes that gave no answer earlier in this replay, and the reason
/// every later repair on them is skipped with (one copy for all of them).
struct Silent<'e> {
    nodes: Mutex<HashSet<&'e Node>>,
    skipped: Arc<str>,
}

impl<T: Transport> Cluster<T> {
    /// Applies the journal's pending repairs and checks its verifications,
    /// newest first; needs nothing but the journal, as each entry names its
    /// node.
    ///
    /// - A repair is applied. When the change it undoes may still land (it
    ///   was written ahead of a change whose answer never came), it then
    ///   becomes a verification until one settle horizon from now.
    /// - A verification reads its node: a write of ours that landed late is
    ///   undone; once the horizon has passed and the node shows no landing,
    ///   it goes.
    /// - A watch sends nothing, and goes once its horizon has passed.
    ///
    /// A node that gives no answer is skipped for the rest of this replay,
    /// so a dead node costs one round of retries, not one per entry. A
    /// cancel stops the replay; what is left stays. The replay rewrites the
    /// journal once, whatever its size; a journal that cannot be rewritten
    /// is reported in [`ReplayReport::journal_error`].
    pub fn replay(&self, journal: &mut Journal) -> ReplayReport {
        let entries = journal.entries();
        if entries.is_empty() {
            return ReplayReport::default();
        }
        log::info!(
            "replaying {} journal entr(ies) from {}",
            entries.len(),
            journal.path().display()
        );
        let now = self.clock.now();
        let replayed = self.replay_entries(entries);
        let repaired = entries
            .iter()
            .zip(&replayed)
            .filter(|(_, r)| matches!(r, Replayed::Applied { .. }))
            .map(|(entry, _)| entry.clone())
            .collect();
        let mut report = ReplayReport {
            repaired,
            ..ReplayReport::default()
        };
        let watches = self.watches(entries, &replayed);
        // Note: one durable write for the whole replay; repairs are
        // idempotent, so a crash before it only means they are applied again.
        let until = self.settle_until();
        let mut replayed = replayed.into_iter();
        let written = journal.update(|entries| {
            entries.retain_mut(|entry| stays(entry, replayed.next(), now, until));
            entries.extend(watches);
            checks::merge_checks(entries);
        });
        if let Err(error) = written {
            log::error!(
                "{error}; it still lists the {} repair(s) just applied, and the next run \
                 sends them again (repairs are idempotent)",
                report.repaired.len()
            );
            report.journal_error = Some(error.to_string());
        }
        report.count(journal.entries());
        report
    }

    /// Replays every entry, newest first, up to the concurrency at a time;
    /// one result per entry, in the journal's order.
    fn replay_entries(&self, entries: &[Entry]) -> Vec<Replayed> {
        let silent = Silent {
            nodes: Mutex::new(HashSet::new()),
            skipped: "skipped: the node did not answer, or could not serve, an earlier repair in \
                      this replay"
                .into(),
        };
        let newest_first: Vec<usize> = (0..entries.len()).rev().collect();
        let mut replayed: Vec<Replayed> = fan_out(
            &newest_first,
            self.concurrency,
            || self.cancel.is_cancelled(),
            |&index| self.replay_one(&entries[index], &silent),
        )
        .into_iter()
        .map(|r| r.unwrap_or(Replayed::NotStarted))
        .collect();
        replayed.reverse();
        replayed
    }

    /// Replays one entry, unless its node gave no answer earlier in this
    /// replay; a node that gives none now joins `silent`.
    fn replay_one<'e>(&self, entry: &'e Entry, silent: &Silent<'e>) -> Replayed {
        if entry.kind == Kind::Watch {
            return Replayed::Unchanged;
        }
        let lock = || silent.nodes.lock().unwrap_or_else(|e| e.into_inner());
        if lock().contains(&entry.host) {
            return Replayed::Failed(Arc::clone(&silent.skipped));
        }
        if entry.kind == Kind::Verify {
            let read = self
                .retrier()
                .call(&entry.host, Action::Read, &entry.group, Mode::Forward);
            match presence(&read) {
                Some(present) if present == entry.action.leaves_present() => {
                    return Replayed::Unchanged;
                }
                Some(_) => log::warn!(
                    host = entry.host.base(), group = entry.group.as_str();
                    "{}: a write of ours to {:?} landed late; undoing it ({})",
                    entry.host, entry.group, entry.action
                ),
                None => {
                    if read.last.is_err()
                        || read.status().is_some_and(RetryPolicy::is_retryable_status)
                    {
                        lock().insert(&entry.host);
                    }
                    return Replayed::Failed(format!("could not read it: {}", read.error()).into());
                }
            }
        }
        self.apply_repair(entry, || {
            lock().insert(&entry.host);
        })
    }

    /// Sends `entry`'s repair and settles whether it holds; `silence` marks
    /// the node silent when the repair got no answer.
    fn apply_repair(&self, entry: &Entry, silence: impl FnOnce()) -> Replayed {
        let repair = entry.action;
        let exchange =
            self.retrier()
                .call(&entry.host, repair.action(), &entry.group, Mode::Forward);
        // Note: whether the node needed the repair is not known, so a read
        // that finds it repaired does not show that an attempt landed.
        let settled = self.holds(
            &entry.host,
            &entry.group,
            repair.leaves_present(),
            &exchange,
            false,
        );
        if settled.applied {
            log::info!(
                host = entry.host.base(), group = entry.group.as_str(),
                operation = entry.operation.name();
                "{}: repaired: {} {:?}", entry.host, repair, entry.group
            );
            // Note: an unsettled repair was written ahead by a run that may
            // have crashed mid-rollback, with its own undo still in flight.
            let in_doubt = entry.kind == Kind::Repair && !entry.settled;
            return Replayed::Applied {
                verify: entry.kind == Kind::Verify || in_doubt,
                watch: settled.may_land || in_doubt,
            };
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
        // Note: a node that gave no answer, or answered that it cannot serve
        // (5xx, 429, 408) after every retry, would cost each later repair
        // on it the same round of retries: one round per sick node.
        if exchange.last.is_err()
            || exchange
                .status()
                .is_some_and(RetryPolicy::is_retryable_status)
        {
            silence();
        }
        Replayed::Failed(error.into())
    }

    /// Watches of the repairs this replay sent whose attempts may still
    /// land: moot while the group stays as the repair left it.
    fn watches(&self, entries: &[Entry], replayed: &[Replayed]) -> Vec<Entry> {
        let now = self.clock.now();
        let until = self.settle_until();
        entries
            .iter()
            .zip(replayed)
            .filter(|(_, r)| matches!(r, Replayed::Applied { watch: true, .. }))
            .map(|(entry, _)| Entry {
                action: entry.action.opposite(),
                batch: BatchId::from(format!("{}.replay", journal::invocation_id())),
                recorded_at: now,
                failed_replays: 0,
                last_error: None,
                kind: Kind::Watch,
                until: Some(until),
                settled: false,
                ..entry.clone()
            })
            .collect()
    }
}

/// Whether `entry` stays in the journal after its replay, and as what:
/// - a repair applied goes, or becomes a verification until `until` when
///   the change it undoes may still land;
/// - a verification or a watch goes once its horizon has passed (at `now`)
///   and nothing is left to do, and stays otherwise;
/// - a failed one stays, counting one more failed replay with its reason;
/// - one never started stays as it was.
fn stays(entry: &mut Entry, replayed: Option<Replayed>, now: u64, until: u64) -> bool {
    match replayed.unwrap_or(Replayed::NotStarted) {
        Replayed::NotStarted => true,
        Replayed::Unchanged => !entry.expired(now),
        Replayed::Applied { verify, .. } => {
            if entry.kind == Kind::Repair && verify {
                entry.kind = Kind::Verify;
                entry.until = Some(until);
                entry.settled = false;
                entry.failed_replays = 0;
                entry.last_error = None;
                return true;
            }
            entry.kind != Kind::Repair && !entry.expired(now)
        }
        Replayed::Failed(reason) => {
            entry.failed_replays += 1;
            entry.last_error = Some(reason);
            true
        }
    }
}
