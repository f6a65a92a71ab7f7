//! The write-ahead journal: pending repairs, written atomically under an exclusive lock.
//!
//! One file per job: `format` (versions, the stored entry, the writer), `load` (the streaming
//! reader and its errors), `entry` (an entry and its batch id), `edit` (changes that know
//! whether they changed anything), `durable` (temp file, fsync, rename), `lock` (and how long
//! to wait for it), `holder` (who holds it), `files` (the private directory and the trust
//! checks), `snapshot` (a read that takes no lock and creates nothing), `fault_point`
//! (test-only aborts at write boundaries) and `error`. Imports only the vocabulary: never the
//! transport or the engine.

use std::fmt;
use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};
#[cfg(any(test, feature = "sim"))]
use std::sync::Arc;

mod durable;
mod edit;
mod entry;
mod error;
pub mod fault_point;
mod files;
mod format;
mod holder;
mod load;
mod lock;
mod snapshot;
#[cfg(test)]
mod tests;

use crate::vocab::cancel::Cancel;
use crate::vocab::group::GroupId;
use crate::vocab::hosts::Node;
pub use durable::replace_durably;
use durable::{WriteFailure, remove_stale_temp_files, replace};
pub use edit::Edit;
pub use entry::{BatchId, Entry, Kind, invocation_id};
pub use error::JournalError;
use files::{check_dir, create_private_dir, parent_dir};
use format::write_entries;
pub use format::{JOURNAL_VERSION, JOURNAL_VERSION_READ};
pub use holder::LockHolder;
use load::load;
pub use lock::{DEFAULT_LOCK_WAIT, lock_path};
use lock::{HeldLock, acquire_lock};
pub use snapshot::read_snapshot;

/// An open journal. Holding it holds the exclusive lock on `<journal>.lock`,
/// so every run that shares the journal is serialised and no live run's
/// entries can be mistaken for a crashed run's.
pub struct Journal {
    path: PathBuf,
    entries: Vec<Entry>,
    /// Told how many entries are pending after every load and write.
    cancel: Cancel,
    /// Set when a failed write could not be undone in memory by reading the
    /// file back: why. Every later update then fails without writing.
    unsynced: Option<String>,
    _lock: HeldLock,
    /// A test's hook at every write boundary (see [`Journal::set_write_hook`]).
    #[cfg(any(test, feature = "sim"))]
    hook: Option<WriteHook>,
}

impl fmt::Debug for Journal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Journal")
            .field("path", &self.path)
            .field("entries", &self.entries.len())
            .finish_non_exhaustive()
    }
}

impl Journal {
    /// Creates missing directories (mode 0700), checks that the journal's
    /// directory is ours, takes the lock (waiting, and saying so, while
    /// another run holds it, for up to [`DEFAULT_LOCK_WAIT`]), then checks
    /// and loads the journal. [`Journal::open_waiting`] says how long to
    /// wait.
    ///
    /// A missing journal file is an empty journal. A file that cannot be
    /// parsed or has another version is an error and is never rewritten.
    /// When `cancel` fires while waiting for the lock, the wait ends at once
    /// with [`JournalError::Interrupted`]. The journal keeps a clone of
    /// `cancel` and tells it ([`Cancel::set_pending`]) how many entries are
    /// pending after the load and after every write.
    ///
    /// # Errors
    /// [`JournalError::Untrusted`], before anything is read, when the
    /// journal's directory, the lock file or the journal is not owned by the
    /// current user, is writable by group or others, (lock and journal) is
    /// readable by group or others or is a symbolic link, or when a
    /// directory above could be written by someone else (see
    /// [`crate::vocab::trust::read_checked`] for the rules of the walk).
    pub fn open(path: &Path, cancel: &Cancel) -> Result<Self, JournalError> {
        Self::open_waiting(path, cancel, DEFAULT_LOCK_WAIT)
    }

    /// [`Journal::open`], waiting up to `lock_wait` (zero: not at all) for
    /// another run to release the lock. Once the lock is held, this
    /// process's pid, host name and the time are recorded in the lock file
    /// (emptied again on release), so that a run that waits can name it.
    ///
    /// # Errors
    /// As [`Journal::open`], and [`JournalError::LockTimeout`] when the
    /// lock is still held after `lock_wait`: it names the lock file and,
    /// when known, the holder (see [`LockHolder`]).
    pub fn open_waiting(
        path: &Path,
        cancel: &Cancel,
        lock_wait: std::time::Duration,
    ) -> Result<Self, JournalError> {
        Self::open_locking(path, cancel, Some(lock_wait))
    }

    /// [`Journal::open`], but never waiting for the lock: while another run
    /// holds it, [`JournalError::Busy`]. For a command that goes through
    /// several journals and must not stall behind one that a long run holds.
    pub fn open_unless_busy(path: &Path, cancel: &Cancel) -> Result<Self, JournalError> {
        Self::open_locking(path, cancel, None)
    }

    /// Opens under the lock, waiting up to `wait` for it (`None`: not at
    /// all, [`JournalError::Busy`]).
    fn open_locking(
        path: &Path,
        cancel: &Cancel,
        wait: Option<std::time::Duration>,
    ) -> Result<Self, JournalError> {
        let dir = parent_dir(path);
        create_private_dir(dir).map_err(|source| JournalError::Write {
            path: path.to_owned(),
            cause: source,
        })?;
        check_dir(dir)?;
        let lock_path = lock_path(path);
        let lock = match acquire_lock(&lock_path, cancel, wait)? {
            Some(lock) => lock,
            None => {
                return Err(JournalError::Busy {
                    path: path.to_owned(),
                });
            }
        };
        remove_stale_temp_files(path);
        let (entries, version) = load(path)?;
        cancel.set_pending(pending_count(&entries));
        let journal = Self {
            path: path.to_owned(),
            entries,
            cancel: cancel.clone(),
            unsynced: None,
            _lock: lock,
            #[cfg(any(test, feature = "sim"))]
            hook: None,
        };
        if version != JOURNAL_VERSION && !journal.entries.is_empty() {
            journal.rewrite()?;
            log::info!(
                "rewrote journal {} from format {version} to format {JOURNAL_VERSION}",
                path.display()
            );
        }
        Ok(journal)
    }

    /// Writes the entries again, durably, in this build's format.
    fn rewrite(&self) -> Result<(), JournalError> {
        self.write_atomic().map_err(|failure| JournalError::Write {
            path: self.path.clone(),
            cause: failure.source,
        })
    }

    /// Calls `hook` at every write boundary from now on (tests only).
    #[cfg(any(test, feature = "sim"))]
    #[doc(hidden)]
    pub fn set_write_hook(&mut self, hook: WriteHook) {
        self.hook = Some(hook);
    }

    /// Marks a write boundary: a `fault-points` build may abort here, and a
    /// test's hook may fail the write or crash.
    fn boundary(&self, name: &'static str) -> io::Result<()> {
        fault_point::reach(name);
        #[cfg(any(test, feature = "sim"))]
        if let Some(hook) = &self.hook {
            return hook(name);
        }
        Ok(())
    }

    /// The journal file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Every entry, oldest first: repairs, verifications and watches.
    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    /// How many entries ask for work: repairs and verifications, not watches.
    pub fn pending(&self) -> usize {
        pending_count(&self.entries)
    }

    /// The pending entries for `group`.
    pub fn pending_for<'a>(&'a self, group: &'a GroupId) -> impl Iterator<Item = &'a Entry> {
        self.entries.iter().filter(move |e| &e.group == group)
    }

    /// Applies `change` to the entries and makes the result durable before
    /// returning: one full rewrite of the file (or its removal, when no
    /// entry is left). Nothing is written when `change` leaves the entries
    /// as they were (see [`Edit`]).
    ///
    /// On error the in-memory copy is what the file now holds: unchanged
    /// when the write failed before the file was replaced (the untouched
    /// file is read back), the new entries when only the final directory
    /// sync failed (the file was replaced; whether that survives a power
    /// cut is not known).
    ///
    /// # Errors
    /// [`JournalError::Write`] when the write failed. When it failed before
    /// the file was replaced and reading the file back failed too, the
    /// error is [`JournalError::Unsynced`]: the changed entries then stay in
    /// memory although the file does not hold them, and every later update
    /// fails with that error at once, without writing, so the file keeps
    /// what it held before the change for the next run to read.
    pub fn update(&mut self, change: impl FnOnce(&mut Edit<'_>)) -> Result<(), JournalError> {
        if let Some(reason) = &self.unsynced {
            return Err(self.unsynced_error(reason.clone()));
        }
        let mut edit = Edit {
            entries: &mut self.entries,
            changed: false,
        };
        change(&mut edit);
        if !edit.changed {
            return Ok(());
        }
        let cancel = self.cancel.clone();
        let _writing = cancel.journal_write_guard();
        let written = if self.entries.is_empty() {
            // Note: an empty journal is no journal: removing the file and
            // fsyncing the directory is as durable as replacing it, and
            // costs one fsync less on every successful run.
            self.remove_durably()
        } else {
            self.write_atomic()
        };
        let Err(failure) = written else {
            self.cancel.set_pending(pending_count(&self.entries));
            return Ok(());
        };
        if !failure.applied {
            self.read_back(&failure.source)?;
        }
        self.cancel.set_pending(pending_count(&self.entries));
        Err(JournalError::Write {
            path: self.path.clone(),
            cause: failure.source,
        })
    }

    /// After a write that failed before the file was replaced: reads the
    /// untouched file back, so memory holds what the file does again.
    fn read_back(&mut self, cause: &io::Error) -> Result<(), JournalError> {
        // Note: the changed entries stay until the file has been read, so a
        // read that fails leaves them (the error path holds two copies for a
        // moment; the happy path never copies the entries).
        match load(&self.path) {
            Ok((entries, _)) => {
                self.entries = entries;
                Ok(())
            }
            Err(error) => {
                let reason = format!("the write failed: {cause}; reading it back failed: {error}");
                self.unsynced = Some(reason.clone());
                self.cancel.set_pending(pending_count(&self.entries));
                Err(self.unsynced_error(reason))
            }
        }
    }

    fn unsynced_error(&self, reason: String) -> JournalError {
        JournalError::Unsynced {
            path: self.path.clone(),
            reason,
        }
    }

    /// Removes the pending repairs of `group` (only those on `host` when it
    /// is given) durably, and returns them, oldest first. Nothing matching
    /// is not an error: the result is empty and nothing is written.
    ///
    /// # Errors
    /// [`JournalError::Write`] as for [`Journal::update`]; the entries are
    /// then still pending unless the file had already been replaced.
    pub fn forget(
        &mut self,
        group: &GroupId,
        host: Option<&Node>,
    ) -> Result<Vec<Entry>, JournalError> {
        let matches = |e: &Entry| &e.group == group && host.is_none_or(|h| &e.host == h);
        let removed: Vec<Entry> = self
            .pending_for(group)
            .filter(|e| matches(e))
            .cloned()
            .collect();
        self.update(|entries| entries.retain(|e| !matches(e)))?;
        Ok(removed)
    }

    /// Replaces the file atomically and durably with the entries, streamed
    /// into the temp file: temp file in the same directory, `sync_all`,
    /// rename over the target, then fsync the directory so the rename
    /// itself survives a power cut.
    fn write_atomic(&self) -> Result<(), WriteFailure> {
        replace(
            &self.path,
            &mut |out| write_entries(out, &self.entries),
            None,
            &|name| self.boundary(name),
        )
    }

    /// Removes the file durably: unlink, then fsync the directory so the
    /// removal survives a power cut. A file that is already gone is fine.
    fn remove_durably(&self) -> Result<(), WriteFailure> {
        let path = &self.path;
        self.boundary("journal-before-remove")?;
        match fs::remove_file(path) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e.into()),
        }
        let applied = |source| WriteFailure {
            source,
            applied: true,
        };
        self.boundary("journal-after-remove").map_err(applied)?;
        File::open(parent_dir(path))
            .and_then(|d| d.sync_all())
            .map_err(applied)?;
        self.boundary("journal-after-remove-dir-sync")
            .map_err(applied)?;
        Ok(())
    }
}

/// A test's hook, called with the name of each journal-write boundary (see
/// [`fault_point::NAMES`]): `Err` fails the write there, as a full disk or
/// an I/O error would; a panic is a client crash there.
#[cfg(any(test, feature = "sim"))]
pub type WriteHook = Arc<dyn Fn(&'static str) -> io::Result<()> + Send + Sync>;

/// How many of `entries` ask for work: repairs and verifications, not
/// watches. What the exit statuses and counts call pending.
pub fn pending_count(entries: &[Entry]) -> usize {
    entries.iter().filter(|e| e.is_pending()).count()
}
