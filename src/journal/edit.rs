//! The entries while an update changes them, noting whether anything changed.

use std::ops::Deref;

use super::Entry;

/// The entries while [`Journal::update`] changes them. It offers the
/// changes a `Vec` would, reads like a slice, and notes whether a change
/// changed anything, so that an update that leaves the entries as they
/// were writes nothing. It never copies the entries.
#[derive(Debug)]
pub struct Edit<'j> {
    pub(super) entries: &'j mut Vec<Entry>,
    pub(super) changed: bool,
}

impl Deref for Edit<'_> {
    type Target = [Entry];

    fn deref(&self) -> &[Entry] {
        self.entries
    }
}

impl Edit<'_> {
    /// Appends `entry`.
    pub fn push(&mut self, entry: Entry) {
        self.entries.push(entry);
        self.changed = true;
    }

    /// Appends `entries`; appending none changes nothing.
    pub fn extend(&mut self, entries: impl IntoIterator<Item = Entry>) {
        let before = self.entries.len();
        self.entries.extend(entries);
        self.changed |= self.entries.len() != before;
    }

    /// Keeps the entries for which `keep` is true, in order; removing none
    /// changes nothing.
    pub fn retain(&mut self, keep: impl FnMut(&Entry) -> bool) {
        let before = self.entries.len();
        self.entries.retain(keep);
        self.changed |= self.entries.len() != before;
    }

    /// Like [`Edit::retain`], but `keep` may also change the entries it
    /// keeps. An entry counts as changed only when it ends up different
    /// from what it was: setting a field to the value it has changes nothing.
    pub fn retain_mut(&mut self, mut keep: impl FnMut(&mut Entry) -> bool) {
        let mut changed = false;
        self.entries.retain_mut(|entry| {
            // Note: a clone of one entry at a time is a few reference counts
            // (every text in an entry is shared), never a copy of the journal.
            let before = entry.clone();
            let kept = keep(entry);
            changed |= !kept || *entry != before;
            kept
        });
        self.changed |= changed;
    }

    /// Removes every entry; clearing an empty journal changes nothing.
    pub fn clear(&mut self) {
        self.changed |= !self.entries.is_empty();
        self.entries.clear();
    }
}
