//! What the journal keeps for a node once a group's work there is over: the undo that failed,
//! and the verifications and watches of writes that may still land.
//!
//! A write of ours that timed out, broke or answered 5xx may be applied by the node later,
//! after every read of this run. Until its settle horizon (`until`) the journal keeps a check
//! of it: the repair that would restore the node if the write landed. The check is a
//! verification while the group is meant to be as that repair leaves it (a landing would break
//! it, so every replay reads the node), and a watch while a landing would change nothing the
//! group is meant to be. A run that ends with the group done turns its checks over: those
//! whose repair leaves the group as the run left it become verifications, the others watches.

use std::collections::HashMap;

use super::*;
use crate::journal::{BatchId, Edit};
use crate::vocab::change::Repair;

/// What the journal keeps for one node of one group, once this batch's work there is over.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct NodeFate {
    /// Keep the batch's repair (an undo that failed): why it failed, and
    /// whether the change it undoes can no longer land.
    pub repair: Option<(String, bool)>,
    /// Checks to keep: the repair that restores the node if a write of ours
    /// lands late, and whether it is a verification (or a watch).
    pub checks: Vec<(Repair, Kind)>,
}

impl NodeFate {
    /// Nothing kept: the node's entry leaves the journal.
    pub fn forget() -> Self {
        Self::default()
    }

    /// The check for a change of `operation` that may still land: the undo
    /// of the change, a verification unless the group is now meant to be as
    /// the change leaves it (`done`).
    pub fn change_may_land(&mut self, operation: Operation, done: bool) {
        let kind = if done { Kind::Watch } else { Kind::Verify };
        self.checks.push((operation.repair(), kind));
    }

    /// The check for an undo of `operation` that may still land: a watch,
    /// since the group is meant to be as the undo leaves it.
    pub fn undo_may_land(&mut self, operation: Operation) {
        self.checks
            .push((operation.repair().opposite(), Kind::Watch));
    }
}

/// One batch's settlement of some nodes of some groups: what replaces their write-ahead
/// repairs, and which groups the batch left done (wanted present or absent).
#[derive(Debug, Default)]
pub(super) struct Settlement<'a> {
    /// The batch whose write-ahead repairs are settled.
    pub batch: &'a str,
    /// Per group and node: what the journal keeps.
    pub fates: HashMap<(GroupId, Node), NodeFate>,
    /// Groups the batch left done, with whether they are meant to be present.
    pub done: HashMap<GroupId, bool>,
    /// Metadata for new checks.
    pub operation: Option<Operation>,
    pub recorded_at: u64,
    pub until: u64,
}

impl Settlement<'_> {
    /// Applies the settlement to the journal's entries in one pass: the
    /// batch's repairs for the settled nodes go (or stay, updated), checks
    /// are added or have their horizon moved on, and the checks of groups
    /// left done are turned over.
    pub fn apply(&self, entries: &mut Edit<'_>) {
        let mut new_checks: HashMap<(GroupId, Node, Repair), Kind> = self
            .fates
            .iter()
            .flat_map(|((group, node), fate)| {
                fate.checks
                    .iter()
                    .map(move |(repair, kind)| ((group.clone(), node.clone(), *repair), *kind))
            })
            .collect();
        entries.retain_mut(|entry| {
            let key = (entry.group.clone(), entry.host.clone());
            if entry.kind == Kind::Repair {
                if entry.batch != self.batch {
                    return true;
                }
                return match self.fates.get(&key) {
                    None => true,
                    Some(fate) => keep_repair(entry, fate.repair.as_ref()),
                };
            }
            let check = (entry.group.clone(), entry.host.clone(), entry.action);
            if let Some(kind) = new_checks.remove(&check) {
                entry.kind = kind;
                entry.until = entry.until.max(Some(self.until));
            }
            self.turn_over(entry);
            true
        });
        let mut added: Vec<Entry> = new_checks
            .into_iter()
            .map(|((group, node, action), kind)| self.check(&group, &node, action, kind))
            .collect();
        added.iter_mut().for_each(|entry| self.turn_over(entry));
        entries.extend(added);
    }

    /// A check of the group's intended state, if the batch left it done.
    fn turn_over(&self, entry: &mut Entry) {
        if let Some(&present) = self.done.get(&entry.group) {
            entry.kind = if entry.action.leaves_present() == present {
                Kind::Verify
            } else {
                Kind::Watch
            };
        }
    }

    fn check(&self, group: &GroupId, node: &Node, action: Repair, kind: Kind) -> Entry {
        let operation = self.operation.unwrap_or(if action.leaves_present() {
            Operation::Delete
        } else {
            Operation::Create
        });
        Entry {
            group: group.clone(),
            host: node.clone(),
            action,
            operation,
            batch: BatchId::from(self.batch),
            recorded_at: self.recorded_at,
            failed_replays: 0,
            last_error: None,
            kind,
            until: Some(self.until),
            settled: false,
        }
    }
}

/// Whether a batch's repair stays, given what its node's fate says of it;
/// a repair that stays keeps the reason its undo failed.
fn keep_repair(entry: &mut Entry, repair: Option<&(String, bool)>) -> bool {
    let Some((error, settled)) = repair else {
        return false;
    };
    entry.last_error = Some(error.as_str().into());
    entry.settled = *settled;
    true
}

/// Merges the checks that name the same node, group and repair into one:
/// the latest horizon, and a verification when either was one. A replay
/// that turns a repair into a verification may meet an earlier one.
pub(super) fn merge_checks(entries: &mut Edit<'_>) {
    let mut first: HashMap<(GroupId, Node, Repair), (Kind, Option<u64>)> = HashMap::new();
    let mut repeated = false;
    for entry in entries.iter().filter(|e| e.kind != Kind::Repair) {
        let key = (entry.group.clone(), entry.host.clone(), entry.action);
        match first.get_mut(&key) {
            None => {
                first.insert(key, (entry.kind, entry.until));
            }
            Some((kind, until)) => {
                repeated = true;
                *until = (*until).max(entry.until);
                if entry.kind == Kind::Verify {
                    *kind = Kind::Verify;
                }
            }
        }
    }
    if !repeated {
        return;
    }
    entries.retain_mut(|entry| {
        if entry.kind == Kind::Repair {
            return true;
        }
        let key = (entry.group.clone(), entry.host.clone(), entry.action);
        match first.remove(&key) {
            Some((kind, until)) => {
                entry.kind = kind;
                entry.until = until;
                true
            }
            None => false,
        }
    });
}
