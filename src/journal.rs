//! The write-ahead journal: pending compensations, written atomically under an exclusive lock.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufRead, BufReader, BufWriter, Read, Seek, Write};
use std::ops::Deref;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Serialize};

use crate::cancel::Cancel;
use crate::change::{Operation, Repair};
use crate::group::GroupId;
use crate::hosts::Node;
use crate::trust;

/// The only journal format version this build reads and writes.
pub const JOURNAL_VERSION: u32 = 2;

/// The older format this build still reads (timestamps in Unix seconds); a
/// journal in it is rewritten in [`JOURNAL_VERSION`] when opened.
pub const JOURNAL_VERSION_READ: u32 = 1;

/// A problem with the journal or its lock; the cluster is not touched.
#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    /// The journal exists but is not a journal this program can read.
    #[error(
        "journal {} is unreadable: {reason}. It may hold pending repairs, so it was \
         left untouched and nothing was sent to any node. Inspect the file; repair it, \
         or move it aside once you have reconciled the groups it names by hand",
        path.display()
    )]
    Corrupt {
        /// The journal file.
        path: PathBuf,
        /// What the parser said.
        reason: String,
    },

    /// The journal was written by a newer (or unknown) format.
    #[error(
        "journal {} has format version {found}, but this cluster-client reads only \
         version {supported}. It was left untouched and nothing was sent; replay it \
         with the cluster-client release that wrote it",
        path.display()
    )]
    UnsupportedVersion {
        /// The journal file.
        path: PathBuf,
        /// The version found in the file.
        found: u64,
        /// The version this build understands.
        supported: u32,
    },

    /// Reading the journal failed at the operating-system level.
    #[error(
        "cannot read journal {}: {cause}; check its permissions, or point --journal \
         / CLUSTER_CLIENT_JOURNAL at a readable file",
        path.display()
    )]
    Read {
        /// The journal file.
        path: PathBuf,
        /// The I/O error (in the message, not the `source()`).
        cause: io::Error,
    },

    /// Writing the journal (or its directory) failed.
    #[error(
        "cannot write journal {}: {cause}; free disk space or fix the directory's \
         permissions (the journal's directory must be writable)",
        path.display()
    )]
    Write {
        /// The journal file.
        path: PathBuf,
        /// The I/O error (in the message, not the `source()`).
        cause: io::Error,
    },

    /// A write failed before the file was replaced, and reading the
    /// untouched file back failed too: this run no longer knows what the
    /// file holds, so it writes it no more.
    #[error(
        "journal {} was not rewritten by this run after a failed write, because reading it \
         back failed too ({reason}); it still holds what it held before that write, and \
         the next run reads it. Free disk space or fix the file's permissions, then run \
         `cluster-client journal list`",
        path.display()
    )]
    Unsynced {
        /// The journal file.
        path: PathBuf,
        /// Why the write failed, and why reading the file back failed.
        reason: String,
    },

    /// The journal, its directory or its lock file could have been written by
    /// someone else: another owner, group or other write permission, or a
    /// symbolic link. Nothing was read from it and nothing was sent.
    #[error(
        "refusing {role} {}: {problem}. Nothing was read from it and nothing was sent \
         to any node; fix: {fix}",
        path.display()
    )]
    Untrusted {
        /// The refused path.
        path: PathBuf,
        /// What it is: "journal", "journal directory" or "lock file".
        role: &'static str,
        /// What was found: the owner uid, the mode or the file type.
        problem: String,
        /// How to fix it (a `chown`, `chmod` or `rm` command).
        fix: String,
    },

    /// The lock file beside the journal could not be opened or locked.
    #[error(
        "cannot lock {}: {cause}; the journal's directory must be writable and on a \
         filesystem that supports file locks",
        path.display()
    )]
    Lock {
        /// The lock file.
        path: PathBuf,
        /// The I/O error (in the message, not the `source()`).
        cause: io::Error,
    },

    /// Another run holds the lock, and the caller asked not to wait
    /// ([`Journal::open_unless_busy`]). Nothing was read or sent.
    #[error(
        "journal {} is in use: another cluster-client run holds {}, so it was skipped \
         rather than waited for; a create, delete, status or rollback that holds it replays \
         it first, and the next rollback tries again",
        path.display(),
        lock_path(path).display()
    )]
    Busy {
        /// The journal file.
        path: PathBuf,
    },

    /// A signal arrived while waiting for another run to release the lock.
    #[error(
        "interrupted while waiting for another cluster-client run to release {}; \
         nothing was sent to any node and the journal was not read",
        path.display()
    )]
    Interrupted {
        /// The lock file.
        path: PathBuf,
    },
}

/// One pending compensation. It carries the node's base URL, so replaying
/// it needs nothing but the journal.
///
/// Cloning is cheap: the group, the node, the batch and the error are
/// shared, and a loaded journal holds one copy of each distinct one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// The group to repair.
    pub group: GroupId,
    /// The node's base URL.
    pub host: Node,
    /// What to do on that node.
    pub action: Repair,
    /// The operation whose change this undoes.
    pub operation: Operation,
    /// The batch that recorded the entry: `pid@unix-millis.n`. Format 1
    /// called it `run`.
    #[serde(alias = "run")]
    pub batch: BatchId,
    /// When the entry was recorded, in seconds since the Unix epoch. The
    /// file stores it as RFC 3339 UTC (format 1 stored the seconds).
    #[serde(with = "stamp")]
    pub recorded_at: u64,
    /// How many replays have failed to apply it so far.
    #[serde(default)]
    pub failed_replays: u32,
    /// Why the last attempt to apply it failed; `None` before any failure.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<Arc<str>>,
}

impl Entry {
    /// Whether this entry is the same repair (group, node, action) as `other`.
    pub fn same_repair(&self, other: &Self) -> bool {
        self.group == other.group && self.host == other.host && self.action == other.action
    }
}

/// The id of the batch that recorded an entry (`pid@unix-millis.n`).
///
/// Cloning is cheap: clones share the text. It compares equal to the same
/// text as a `str` or a `String`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct BatchId(Arc<str>);

impl BatchId {
    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl From<&str> for BatchId {
    fn from(id: &str) -> Self {
        Self(id.into())
    }
}

impl From<String> for BatchId {
    fn from(id: String) -> Self {
        Self(id.into())
    }
}

impl fmt::Display for BatchId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl PartialEq<str> for BatchId {
    fn eq(&self, other: &str) -> bool {
        *self.0 == *other
    }
}

impl PartialEq<&str> for BatchId {
    fn eq(&self, other: &&str) -> bool {
        *self.0 == **other
    }
}

impl PartialEq<String> for BatchId {
    fn eq(&self, other: &String) -> bool {
        *self.0 == **other
    }
}

/// An entry as stored, before its group and host are validated; its text
/// borrowed from the line it was parsed from, where it can be.
#[derive(Deserialize)]
struct RawEntry<'a> {
    #[serde(borrow)]
    group: Cow<'a, str>,
    #[serde(borrow)]
    host: Cow<'a, str>,
    action: Repair,
    operation: Operation,
    #[serde(alias = "run", borrow)]
    batch: Cow<'a, str>,
    #[serde(with = "stamp")]
    recorded_at: u64,
    #[serde(default)]
    failed_replays: u32,
    #[serde(default, borrow)]
    last_error: Option<Cow<'a, str>>,
}

/// `recorded_at` as the file holds it: RFC 3339 UTC (`2026-12-02T01:20:00Z`)
/// since format 2; Unix seconds in format 1, still read.
mod stamp {
    use std::fmt;
    use std::time::{Duration, UNIX_EPOCH};

    use serde::de::{self, Visitor};
    use serde::{Deserializer, Serializer};

    pub fn serialize<S: Serializer>(secs: &u64, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(&rfc3339(*secs))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<u64, D::Error> {
        deserializer.deserialize_any(Stamp)
    }

    /// Unix seconds (format 1) or RFC 3339 UTC text (format 2), read
    /// without buffering the value first.
    struct Stamp;

    impl Visitor<'_> for Stamp {
        type Value = u64;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("an RFC 3339 UTC time such as 2026-12-02T01:20:00Z")
        }

        fn visit_u64<E: de::Error>(self, secs: u64) -> Result<u64, E> {
            Ok(secs)
        }

        fn visit_str<E: de::Error>(self, text: &str) -> Result<u64, E> {
            humantime::parse_rfc3339(text)
                .ok()
                .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
                .map(|d| d.as_secs())
                .ok_or_else(|| {
                    E::custom(format!(
                        "recorded_at {text:?} is not an RFC 3339 UTC time such as \
                         2026-12-02T01:20:00Z"
                    ))
                })
        }
    }

    /// `secs` since the Unix epoch as RFC 3339 UTC, to the second.
    pub fn rfc3339(secs: u64) -> humantime::Rfc3339Timestamp {
        humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_secs(secs))
    }
}

/// `secs` since the Unix epoch as RFC 3339 UTC (`2026-12-02T01:20:00Z`), as
/// the journal and the JSON output show times.
pub fn rfc3339(secs: u64) -> String {
    stamp::rfc3339(secs).to_string()
}

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
    _lock: File,
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

/// A test's hook, called with the name of each journal-write boundary (see
/// [`fault_point::NAMES`]): `Err` fails the write there, as a full disk or
/// an I/O error would; a panic is a client crash there.
#[cfg(any(test, feature = "sim"))]
pub type WriteHook = Arc<dyn Fn(&'static str) -> io::Result<()> + Send + Sync>;

/// A write that failed, and whether the file had already been replaced (or
/// removed) when it did: only its durability is then in doubt.
struct WriteFailure {
    source: io::Error,
    applied: bool,
}

impl From<io::Error> for WriteFailure {
    fn from(source: io::Error) -> Self {
        Self {
            source,
            applied: false,
        }
    }
}

impl Journal {
    /// Creates missing directories (mode 0700), checks that the journal's
    /// directory is ours, takes the lock (waiting, and saying so, while
    /// another run holds it), then checks and loads the journal.
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
    /// current user, is writable by group or others, or (lock and journal)
    /// is a symbolic link.
    pub fn open(path: &Path, cancel: &Cancel) -> Result<Self, JournalError> {
        Self::open_locking(path, cancel, true)
    }

    /// [`Journal::open`], but never waiting for the lock: while another run
    /// holds it, [`JournalError::Busy`]. For a command that goes through
    /// several journals and must not stall behind one that a long run holds.
    pub fn open_unless_busy(path: &Path, cancel: &Cancel) -> Result<Self, JournalError> {
        Self::open_locking(path, cancel, false)
    }

    fn open_locking(path: &Path, cancel: &Cancel, wait: bool) -> Result<Self, JournalError> {
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
        cancel.set_pending(entries.len());
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

    /// Every pending entry, oldest first.
    pub fn entries(&self) -> &[Entry] {
        &self.entries
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
            self.cancel.set_pending(self.entries.len());
            return Ok(());
        };
        if !failure.applied {
            self.read_back(&failure.source)?;
        }
        self.cancel.set_pending(self.entries.len());
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
                self.cancel.set_pending(self.entries.len());
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

/// The entries while [`Journal::update`] changes them. It offers the
/// changes a `Vec` would, reads like a slice, and notes whether a change
/// changed anything, so that an update that leaves the entries as they
/// were writes nothing. It never copies the entries.
#[derive(Debug)]
pub struct Edit<'j> {
    entries: &'j mut Vec<Entry>,
    changed: bool,
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

/// The first pause between polls of a lock another run holds.
const LOCK_POLL_FIRST: Duration = Duration::from_millis(20);
/// The longest pause between polls: how late a waiting run may notice that
/// the lock was released.
const LOCK_POLL_MAX: Duration = Duration::from_millis(200);

/// `<journal>.lock`, beside the journal.
pub fn lock_path(journal: &Path) -> PathBuf {
    let mut name = journal.file_name().unwrap_or_default().to_os_string();
    name.push(".lock");
    journal.with_file_name(name)
}

/// An id for this process, unique enough to tell invocations apart in the
/// journal: `pid@unix-millis`; each batch appends its own number.
pub fn invocation_id() -> String {
    let millis = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis());
    format!("{}@{millis}", std::process::id())
}

/// Seconds since the Unix epoch, for `recorded_at`.
pub fn now_unix() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// `.<journal file name>.`: the start of this journal's temp file names, so
/// journals sharing a directory never touch each other's temp files.
fn temp_prefix(journal: &Path) -> String {
    format!(
        ".{}.",
        journal.file_name().unwrap_or_default().to_string_lossy()
    )
}

/// Replaces `path` with `contents` atomically and durably: a temp file in
/// the same directory (`.<name>.*.tmp`, mode 0600 unless `mode` says
/// otherwise), `sync_all`, rename over the target, then fsync the directory
/// so the rename itself survives a power cut. A reader sees the old file or
/// the new one, never a part. Used for the journal and the metrics file.
pub fn replace_durably(path: &Path, contents: &[u8], mode: Option<u32>) -> io::Result<()> {
    replace(path, &mut |out| out.write_all(contents), mode, &|_| Ok(()))
        .map_err(|failure| failure.source)
}

/// [`replace_durably`] with the contents that `write` streams into the
/// temp file (buffered), calling `boundary` at each named write boundary
/// (see [`fault_point::NAMES`]); the failure says whether the rename had
/// happened.
fn replace(
    path: &Path,
    write: &mut dyn FnMut(&mut dyn Write) -> io::Result<()>,
    mode: Option<u32>,
    boundary: &dyn Fn(&'static str) -> io::Result<()>,
) -> Result<(), WriteFailure> {
    let dir = parent_dir(path);
    boundary("journal-before-temp")?;
    // Note: tempfile creates the file with mode 0600 and removes it again if
    // anything below fails before the rename.
    let mut temp = tempfile::Builder::new()
        .prefix(&temp_prefix(path))
        .suffix(".tmp")
        .tempfile_in(dir)?;
    let mut out = BufWriter::with_capacity(WRITE_BUFFER, temp.as_file_mut());
    write(&mut out)?;
    out.flush()?;
    drop(out);
    #[cfg(unix)]
    if let Some(mode) = mode {
        use std::os::unix::fs::PermissionsExt;
        temp.as_file()
            .set_permissions(fs::Permissions::from_mode(mode))?;
    }
    boundary("journal-after-temp-write")?;
    temp.as_file().sync_all()?;
    boundary("journal-after-temp-sync")?;
    temp.persist(path).map_err(|e| e.error)?;
    let applied = |source| WriteFailure {
        source,
        applied: true,
    };
    boundary("journal-after-rename").map_err(applied)?;
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(applied)?;
    boundary("journal-after-dir-sync").map_err(applied)?;
    Ok(())
}

/// The buffer between the journal's serialiser and its file, either way.
const WRITE_BUFFER: usize = 64 * 1024;

/// Removes temp files that a run killed mid-write left behind. Holding the
/// lock means no live run of this journal is writing one. Best effort: a
/// file that cannot be removed is only logged.
fn remove_stale_temp_files(journal: &Path) {
    let prefix = temp_prefix(journal);
    let Ok(listing) = fs::read_dir(parent_dir(journal)) else {
        return;
    };
    for entry in listing.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with(&prefix) && name.ends_with(".tmp") {
            match fs::remove_file(entry.path()) {
                Ok(()) => log::info!(
                    "removed {}, left by an interrupted journal write",
                    entry.path().display()
                ),
                Err(e) => log::warn!("cannot remove stale {}: {e}", entry.path().display()),
            }
        }
    }
}

fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    }
}

/// Creates `dir` and any missing parent, each with mode 0700 and each
/// fsynced into its parent, so a directory that a crash could lose is never
/// relied on. Existing directories are not changed here; [`check_dir`]
/// decides whether the journal's own one is acceptable.
fn create_private_dir(dir: &Path) -> io::Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
        create_private_dir(parent)?;
    }
    let mut builder = fs::DirBuilder::new();
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        // Note: the journal names every node and group this user touched;
        // directories we create are private to the user (0700).
        builder.mode(0o700);
    }
    match builder.create(dir) {
        Ok(()) => {}
        // Note: another run may have created it since the check above.
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => return Ok(()),
        Err(e) => return Err(e),
    }
    File::open(parent_dir(dir))?.sync_all()
}

/// Refuses a journal directory that someone else could write: another
/// owner, or group or other write permission (sticky or not). Checked on the
/// opened directory. The directory may be reached through a symbolic link
/// (a home directory often is); what counts is the directory itself.
fn check_dir(dir: &Path) -> Result<(), JournalError> {
    let meta = File::open(dir)
        .and_then(|d| d.metadata())
        .map_err(|source| JournalError::Read {
            path: dir.to_owned(),
            cause: source,
        })?;
    trust::private_dir(dir, &meta).map_err(|d| untrusted(dir, "journal directory", d))
}

fn untrusted(path: &Path, role: trust::Role, distrust: trust::Distrust) -> JournalError {
    JournalError::Untrusted {
        path: path.to_owned(),
        role,
        problem: distrust.problem,
        fix: distrust.fix,
    }
}

/// Opens (creating it, 0600) the lock file without following a symbolic
/// link, and refuses one that is not ours or that others may write: such a
/// file could be held locked by its owner forever.
fn open_lock_file(lock_path: &Path) -> Result<File, JournalError> {
    let mut options = OpenOptions::new();
    options.create(true).truncate(false).write(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let file = match trust::no_follow(&mut options).open(lock_path) {
        Ok(file) => file,
        Err(_) if trust::is_symlink(lock_path) => {
            return Err(untrusted(
                lock_path,
                "lock file",
                trust::symlink_refused(lock_path),
            ));
        }
        Err(source) => {
            return Err(JournalError::Lock {
                path: lock_path.to_owned(),
                cause: source,
            });
        }
    };
    let meta = file.metadata().map_err(|source| JournalError::Lock {
        path: lock_path.to_owned(),
        cause: source,
    })?;
    trust::private_file(lock_path, &meta).map_err(|d| untrusted(lock_path, "lock file", d))?;
    Ok(file)
}

/// The locked lock file; `None` when another run holds it and `wait` is false.
fn acquire_lock(
    lock_path: &Path,
    cancel: &Cancel,
    wait: bool,
) -> Result<Option<File>, JournalError> {
    let lock_error = |source| JournalError::Lock {
        path: lock_path.to_owned(),
        cause: source,
    };
    let file = open_lock_file(lock_path)?;
    match file.try_lock() {
        Ok(()) => return Ok(Some(file)),
        Err(fs::TryLockError::WouldBlock) if !wait => return Ok(None),
        Err(fs::TryLockError::WouldBlock) => {}
        Err(fs::TryLockError::Error(e)) => return Err(lock_error(e)),
    }
    log::warn!(
        "another cluster-client run holds {}; waiting for it to finish",
        lock_path.display()
    );
    // Note: polling instead of a blocking `lock()`, so that a signal ends
    // the wait at once: `cancel.sleep` wakes as soon as it fires.
    let mut pause = LOCK_POLL_FIRST;
    loop {
        if !cancel.sleep(pause) {
            return Err(JournalError::Interrupted {
                path: lock_path.to_owned(),
            });
        }
        match file.try_lock() {
            Ok(()) => break,
            Err(fs::TryLockError::WouldBlock) => {}
            Err(fs::TryLockError::Error(e)) => return Err(lock_error(e)),
        }
        pause = (pause * 2).min(LOCK_POLL_MAX);
    }
    log::info!("lock {} acquired", lock_path.display());
    Ok(Some(file))
}

/// The entries and the format version they were stored in.
///
/// The file is parsed as it is read, and each entry is validated and
/// stored as soon as it is parsed, sharing one copy of each distinct group,
/// node, batch and error: a journal is never held twice, as text and as
/// entries.
fn load(path: &Path) -> Result<(Vec<Entry>, u32), JournalError> {
    let read_error = |cause| JournalError::Read {
        path: path.to_owned(),
        cause,
    };
    let Some(file) = open_private(path)? else {
        return Ok((Vec::new(), JOURNAL_VERSION));
    };
    let mut reader = BufReader::with_capacity(WRITE_BUFFER, file);
    let mut loading = Loading::default();
    // Note: the journal's own layout is read a line at a time, each entry
    // parsed from a slice, which is several times faster than parsing from
    // a reader. Any other layout (an earlier release's pretty file, a hand
    // edit) and any error is read again from the start by the general
    // parser, which also words the errors.
    if read_own_layout(&mut reader, &mut loading).is_some() {
        return Ok(loading.finish(JOURNAL_VERSION));
    }
    reader.rewind().map_err(read_error)?;
    loading = Loading::default();
    let mut parser = serde_json::Deserializer::from_reader(&mut reader);
    let parsed = FileSeed(&mut loading)
        .deserialize(&mut parser)
        .and_then(|()| parser.end());
    if let Err(error) = parsed {
        let mut file = reader.into_inner();
        file.rewind().map_err(read_error)?;
        return Err(explain(path, file, &loading, &error).map_err(read_error)?);
    }
    let version = loading.version.unwrap_or(u64::MAX);
    if !readable_version(version) {
        return Err(unsupported(path, version));
    }
    Ok(loading.finish(u32::try_from(version).unwrap_or(JOURNAL_VERSION)))
}

/// Reads a journal laid out as [`write_entries`] writes it: the header
/// line, one entry per line (each but the last ending in a comma), the
/// closing line, and nothing after. `None` as soon as anything differs or
/// does not parse; the caller then reads the file again.
fn read_own_layout(reader: &mut impl BufRead, loading: &mut Loading) -> Option<()> {
    let mut line = Vec::new();
    reader.read_until(b'\n', &mut line).ok()?;
    if line != format!("{{\"version\":{JOURNAL_VERSION},\"entries\":[\n").as_bytes() {
        return None;
    }
    loading.version = Some(u64::from(JOURNAL_VERSION));
    let mut more = true;
    loop {
        line.clear();
        reader.read_until(b'\n', &mut line).ok()?;
        if line == b"]}\n" {
            break;
        }
        let entry = line.strip_suffix(b"\n")?;
        let (entry, comma) = match entry.strip_suffix(b",") {
            Some(entry) => (entry, true),
            None => (entry, false),
        };
        if !more {
            return None;
        }
        more = comma;
        let raw: RawEntry<'_> = serde_json::from_slice(entry).ok()?;
        let entry = loading.entry(raw).ok()?;
        loading.entries.push(entry);
    }
    (!more || loading.entries.is_empty()).then_some(())?;
    reader.fill_buf().ok()?.is_empty().then_some(())
}

/// Why a journal did not parse (`error`), from what was read and, where
/// that is not enough, from the file read again: it is empty, it is from
/// another format version, an entry is bad (named by its number), or it is
/// not a cluster-client journal at all.
// Note: only this error path reads the file twice: a journal whose version
// came after its entries is told to be from a newer format, instead of by
// whichever of its fields no longer parses.
fn explain(
    path: &Path,
    file: File,
    loading: &Loading,
    error: &serde_json::Error,
) -> io::Result<JournalError> {
    let corrupt = |reason: String| JournalError::Corrupt {
        path: path.to_owned(),
        reason,
    };
    let mut reader = BufReader::new(file);
    let mut blank = true;
    for byte in reader.by_ref().bytes() {
        if !byte?.is_ascii_whitespace() {
            blank = false;
            break;
        }
    }
    if blank {
        return Ok(corrupt(
            "the file is empty, and cluster-client never writes an empty journal".to_owned(),
        ));
    }
    let reason = match loading.at_entry {
        Some(number) => format!("entry {number}: {error}"),
        None => error.to_string(),
    };
    let version = match loading.version {
        Some(version) => version,
        None => {
            reader.rewind()?;
            match serde_json::from_reader::<_, VersionProbe>(reader) {
                Ok(probe) => probe.version,
                Err(_) => {
                    return Ok(corrupt(format!(
                        "it is not a cluster-client journal ({error})"
                    )));
                }
            }
        }
    };
    Ok(if readable_version(version) {
        corrupt(reason)
    } else {
        unsupported(path, version)
    })
}

fn readable_version(version: u64) -> bool {
    version == u64::from(JOURNAL_VERSION) || version == u64::from(JOURNAL_VERSION_READ)
}

#[derive(Deserialize)]
struct VersionProbe {
    version: u64,
}

/// A journal while it loads: what the file has said so far.
#[derive(Default)]
struct Loading {
    version: Option<u64>,
    entries: Vec<Entry>,
    /// The number (from 1) of the entry being read, while entries are read.
    at_entry: Option<usize>,
    groups: Interned<GroupId>,
    hosts: Interned<Node>,
    batches: Interned<BatchId>,
    errors: Interned<Arc<str>>,
}

impl Loading {
    /// Validates `raw`, sharing the values already seen.
    fn entry(&mut self, raw: RawEntry<'_>) -> Result<Entry, String> {
        let last_error = match raw.last_error {
            Some(text) => Some(self.errors.get(&text, |t| Ok(t.into()))?),
            None => None,
        };
        Ok(Entry {
            group: self
                .groups
                .get(&raw.group, |id| GroupId::new(id).map_err(|e| e.to_string()))?,
            host: self.hosts.get(&raw.host, |host| {
                Node::parse(host).map_err(|e| format!("bad host: {e}"))
            })?,
            action: raw.action,
            operation: raw.operation,
            batch: self.batches.get(&raw.batch, |id| Ok(id.into()))?,
            recorded_at: raw.recorded_at,
            failed_replays: raw.failed_replays,
            last_error,
        })
    }
}

impl Loading {
    /// The entries read, with no spare capacity, and `version`.
    fn finish(self, version: u32) -> (Vec<Entry>, u32) {
        let mut entries = self.entries;
        entries.shrink_to_fit();
        (entries, version)
    }
}

/// One shared value per distinct text: a journal names few nodes, groups,
/// batches and errors, each many times, and each is parsed once.
struct Interned<T>(HashMap<String, T>);

impl<T> Default for Interned<T> {
    fn default() -> Self {
        Self(HashMap::new())
    }
}

impl<T: Clone> Interned<T> {
    /// The value for `text`, made by `make` the first time it is seen.
    fn get(
        &mut self,
        text: &str,
        make: impl FnOnce(&str) -> Result<T, String>,
    ) -> Result<T, String> {
        if let Some(value) = self.0.get(text) {
            return Ok(value.clone());
        }
        let value = make(text)?;
        self.0.insert(text.to_owned(), value.clone());
        Ok(value)
    }
}

/// The file's top level, `{"version": .., "entries": [..]}` in any key
/// order, read into a [`Loading`].
struct FileSeed<'l>(&'l mut Loading);

#[derive(Deserialize)]
#[serde(field_identifier, rename_all = "lowercase")]
enum Field {
    Version,
    Entries,
    #[serde(other)]
    Other,
}

impl<'de> DeserializeSeed<'de> for FileSeed<'_> {
    type Value = ();

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for FileSeed<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a cluster-client journal, {\"version\": 2, \"entries\": [...]}")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let loading = self.0;
        let mut entries_seen = false;
        while let Some(field) = map.next_key::<Field>()? {
            match field {
                Field::Version if loading.version.is_some() => {
                    return Err(de::Error::duplicate_field("version"));
                }
                Field::Version => {
                    let version: u64 = map.next_value()?;
                    loading.version = Some(version);
                    if !readable_version(version) {
                        // Note: entries of another format are not read at all.
                        return Err(de::Error::custom("unsupported format version"));
                    }
                }
                Field::Entries if entries_seen => {
                    return Err(de::Error::duplicate_field("entries"));
                }
                Field::Entries => {
                    entries_seen = true;
                    map.next_value_seed(EntriesSeed(&mut *loading))?;
                }
                Field::Other => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        if loading.version.is_none() {
            return Err(de::Error::missing_field("version"));
        }
        if !entries_seen {
            return Err(de::Error::missing_field("entries"));
        }
        Ok(())
    }
}

/// The `entries` array, each entry validated and stored as it is read.
struct EntriesSeed<'l>(&'l mut Loading);

impl<'de> DeserializeSeed<'de> for EntriesSeed<'_> {
    type Value = ();

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for EntriesSeed<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a list of journal entries")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let loading = self.0;
        loop {
            loading.at_entry = Some(loading.entries.len() + 1);
            let Some(raw) = seq.next_element::<RawEntry<'_>>()? else {
                break;
            };
            let entry = loading.entry(raw).map_err(de::Error::custom)?;
            loading.entries.push(entry);
        }
        loading.at_entry = None;
        Ok(())
    }
}

/// Writes `entries` in the file's format: `{"version":2,"entries":[`, one
/// compact entry per line, then `]}`. It is one JSON document, as the
/// pretty-printed files of earlier releases were, and reads back the same.
fn write_entries(out: &mut dyn Write, entries: &[Entry]) -> io::Result<()> {
    write!(out, "{{\"version\":{JOURNAL_VERSION},\"entries\":[")?;
    for (index, entry) in entries.iter().enumerate() {
        out.write_all(if index == 0 { b"\n" } else { b",\n" })?;
        serde_json::to_writer(&mut *out, entry)?;
    }
    out.write_all(b"\n]}\n")
}

/// The journal, opened without following a symbolic link and checked to be
/// ours before anything is read from it; `None` when there is no journal.
fn open_private(path: &Path) -> Result<Option<File>, JournalError> {
    let read_error = |source| JournalError::Read {
        path: path.to_owned(),
        cause: source,
    };
    let file = match trust::no_follow(OpenOptions::new().read(true)).open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(_) if trust::is_symlink(path) => {
            return Err(untrusted(path, "journal", trust::symlink_refused(path)));
        }
        Err(source) => return Err(read_error(source)),
    };
    let meta = file.metadata().map_err(read_error)?;
    trust::private_file(path, &meta).map_err(|d| untrusted(path, "journal", d))?;
    Ok(Some(file))
}

fn unsupported(path: &Path, found: u64) -> JournalError {
    JournalError::UnsupportedVersion {
        path: path.to_owned(),
        found,
        supported: JOURNAL_VERSION,
    }
}

/// Fault points: with the `fault-points` feature, the process aborts itself
/// at a named journal-write boundary, to leave the torn states that random
/// kills rarely hit. Without the feature, [`reach`](fault_point::reach) is
/// an empty inline function and the environment is never read.
///
/// `CLUSTER_CLIENT_FAULT_POINT=<name>[:<n>]` aborts the n-th time (default:
/// the first) this process reaches the point `<name>`, one of
/// [`NAMES`](fault_point::NAMES) or [`REMOVE_NAMES`](fault_point::REMOVE_NAMES).
pub mod fault_point {
    /// The environment variable that arms a fault point.
    pub const VAR: &str = "CLUSTER_CLIENT_FAULT_POINT";

    /// The fault points of a journal write that leaves it empty and so
    /// removes the file, in the order such a write reaches them.
    pub const REMOVE_NAMES: [&str; 3] = [
        "journal-before-remove",
        "journal-after-remove",
        "journal-after-remove-dir-sync",
    ];

    /// Whether `name` is a fault point: one of [`NAMES`] or [`REMOVE_NAMES`].
    pub fn is_known(name: &str) -> bool {
        NAMES.contains(&name) || REMOVE_NAMES.contains(&name)
    }

    /// Every fault point of a journal write that replaces the file, in the
    /// order one write reaches them. (A write that leaves the journal empty
    /// removes the file instead and passes [`REMOVE_NAMES`].)
    pub const NAMES: [&str; 5] = [
        "journal-before-temp",
        "journal-after-temp-write",
        "journal-after-temp-sync",
        "journal-after-rename",
        "journal-after-dir-sync",
    ];

    /// Marks the boundary `name`; does nothing unless the build has the
    /// `fault-points` feature and `CLUSTER_CLIENT_FAULT_POINT` arms it.
    #[cfg(not(feature = "fault-points"))]
    #[inline(always)]
    pub(crate) fn reach(name: &'static str) {
        let _ = name;
    }

    /// Marks the boundary `name`, aborting the process when
    /// `CLUSTER_CLIENT_FAULT_POINT` arms it and this is its n-th time.
    #[cfg(feature = "fault-points")]
    pub(crate) fn reach(name: &'static str) {
        use std::sync::OnceLock;
        use std::sync::atomic::{AtomicUsize, Ordering};

        static ARMED: OnceLock<Option<(String, usize)>> = OnceLock::new();
        static HITS: AtomicUsize = AtomicUsize::new(0);

        debug_assert!(is_known(name), "unknown fault point {name}");
        let armed = ARMED.get_or_init(|| {
            let spec = std::env::var(VAR).ok()?;
            let parsed = parse(&spec);
            if parsed.is_none() {
                log::error!(
                    "{VAR}={spec:?} is not <name>[:<n>] with n >= 1 and a name among {NAMES:?} or {REMOVE_NAMES:?}; \
                     no fault point is armed"
                );
            }
            parsed
        });
        let Some((armed, nth)) = armed else { return };
        if armed == name && HITS.fetch_add(1, Ordering::SeqCst) + 1 == *nth {
            log::error!("fault point {name} (hit {nth}): aborting");
            std::process::abort();
        }
    }

    /// Parses `<name>[:<n>]`; `None` for an unknown name or an n below 1.
    #[cfg(any(test, feature = "fault-points"))]
    fn parse(spec: &str) -> Option<(String, usize)> {
        let (name, nth) = match spec.trim().split_once(':') {
            Some((name, nth)) => (name, nth.parse().ok().filter(|&n| n >= 1)?),
            None => (spec.trim(), 1),
        };
        is_known(name).then(|| (name.to_owned(), nth))
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn specs_name_a_known_point_and_an_optional_positive_count() {
            assert_eq!(
                parse("journal-after-rename"),
                Some(("journal-after-rename".to_owned(), 1))
            );
            assert_eq!(
                parse("journal-before-temp:3"),
                Some(("journal-before-temp".to_owned(), 3))
            );
            assert_eq!(parse("journal-before-temp:0"), None);
            assert_eq!(parse("journal-before-temp:x"), None);
            assert_eq!(parse("somewhere-else"), None);
            assert_eq!(parse(""), None);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(group: &str, host: &str) -> Entry {
        Entry {
            group: GroupId::new(group).expect("group"),
            host: Node::parse(host).expect("host"),
            action: Repair::Delete,
            operation: Operation::Create,
            batch: "1@2".into(),
            recorded_at: 3,
            failed_replays: 0,
            last_error: None,
        }
    }

    #[test]
    fn missing_file_is_an_empty_journal_and_is_not_created_by_opening() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("deep/er/journal.json");
        let journal = Journal::open(&path, &Cancel::new()).expect("open");
        assert!(journal.entries().is_empty());
        assert!(!path.exists());
        assert!(lock_path(&path).exists());
    }

    #[test]
    fn update_persists_a_versioned_file_that_reloads() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("journal.json");
        let mut journal = Journal::open(&path, &Cancel::new()).expect("open");
        journal
            .update(|entries| entries.push(entry("g1", "http://a:1")))
            .expect("update");
        drop(journal);

        let value: serde_json::Value =
            serde_json::from_slice(&fs::read(&path).expect("read")).expect("json");
        assert_eq!(value["version"], 2);
        assert_eq!(value["entries"][0]["recorded_at"], "1970-01-01T00:00:03Z");
        assert_eq!(value["entries"][0]["group"], "g1");
        assert_eq!(value["entries"][0]["host"], "http://a:1");
        assert_eq!(value["entries"][0]["action"], "delete");

        let journal = Journal::open(&path, &Cancel::new()).expect("reopen");
        assert_eq!(journal.entries(), &[entry("g1", "http://a:1")]);
    }

    #[test]
    fn unchanged_update_writes_nothing() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("journal.json");
        let mut journal = Journal::open(&path, &Cancel::new()).expect("open");
        journal.update(|_| {}).expect("update");
        assert!(!path.exists());
    }

    #[test]
    fn leaves_no_temp_files_behind() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("journal.json");
        let mut journal = Journal::open(&path, &Cancel::new()).expect("open");
        for i in 0..5 {
            journal
                .update(|entries| entries.push(entry(&format!("g{i}"), "a:1")))
                .expect("update");
        }
        let mut names: Vec<_> = fs::read_dir(dir.path())
            .expect("dir")
            .map(|e| e.expect("entry").file_name().into_string().expect("utf8"))
            .collect();
        names.sort();
        assert_eq!(names, ["journal.json", "journal.json.lock"]);
    }

    #[test]
    fn opening_removes_only_this_journals_stale_temp_files() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("journal.json");
        let stale = dir.path().join(".journal.json.abc123.tmp");
        let other = dir.path().join(".other.json.abc123.tmp");
        fs::write(&stale, "torn").expect("write");
        fs::write(&other, "someone else's").expect("write");
        drop(Journal::open(&path, &Cancel::new()).expect("open"));
        assert!(!stale.exists());
        assert!(other.exists());
    }

    #[cfg(unix)]
    #[test]
    fn journal_and_new_directories_are_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("state/journal.json");
        let mut journal = Journal::open(&path, &Cancel::new()).expect("open");
        journal
            .update(|entries| entries.push(entry("g", "a:1")))
            .expect("update");
        let mode = |p: &Path| fs::metadata(p).expect("meta").permissions().mode() & 0o777;
        assert_eq!(mode(&path), 0o600);
        assert_eq!(mode(&dir.path().join("state")), 0o700);
    }

    #[test]
    fn unreadable_journals_are_refused_and_left_untouched() {
        let cases: &[(&str, &str)] = &[
            ("", "empty"),
            ("{\"version\": 1, \"entries\": [", "EOF"),
            ("[1, 2]", "not a cluster-client journal"),
            ("{\"entries\": []}", "missing field `version`"),
            (
                "{\"version\": \"1\", \"entries\": []}",
                "not a cluster-client journal",
            ),
            (
                "{\"version\": 1, \"entries\": [{\"group\": 5}]}",
                "invalid type",
            ),
            ("{\"version\": 1}", "missing field `entries`"),
            ("{\"version\": 3, \"entries\": []}", "format version 3"),
            ("{\"version\": 2, \"entries\": []} x", "trailing characters"),
            (
                "{\"version\": 2, \"version\": 2, \"entries\": []}",
                "duplicate field `version`",
            ),
            ("  \n\t ", "the file is empty"),
        ];
        for (text, needle) in cases {
            let dir = tempfile::tempdir().expect("tempdir");
            let path = dir.path().join("journal.json");
            fs::write(&path, text).expect("write");
            let err = Journal::open(&path, &Cancel::new())
                .expect_err(text)
                .to_string();
            assert!(err.contains(needle), "{text:?}: {err}");
            assert!(err.contains(&path.display().to_string()), "{err}");
            assert_eq!(fs::read_to_string(&path).expect("read"), *text);
        }
    }

    #[test]
    fn entries_with_invalid_ids_or_hosts_are_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("journal.json");
        let text = r#"{"version":1,"entries":[{"group":"..","host":"http://a:1","action":"delete","operation":"create","run":"x","recorded_at":1}]}"#;
        fs::write(&path, text).expect("write");
        let err = Journal::open(&path, &Cancel::new())
            .expect_err("invalid id")
            .to_string();
        assert!(err.contains("invalid group id"), "{err}");
    }

    /// A logger for this test binary that keeps the journal's own log lines,
    /// so a test can await "waiting for the lock" as proof that another
    /// thread is blocked there.
    mod captured_log {
        use std::sync::{Condvar, Mutex};
        use std::time::{Duration, Instant};

        struct Captured {
            lines: Mutex<Vec<String>>,
            added: Condvar,
        }

        static LOG: Captured = Captured {
            lines: Mutex::new(Vec::new()),
            added: Condvar::new(),
        };

        impl log::Log for Captured {
            fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
                metadata.target() == "cluster_client::journal"
            }

            fn log(&self, record: &log::Record<'_>) {
                if self.enabled(record.metadata()) {
                    let mut lines = self.lines.lock().unwrap_or_else(|e| e.into_inner());
                    lines.push(record.args().to_string());
                    self.added.notify_all();
                }
            }

            fn flush(&self) {}
        }

        /// Installs the logger (once per test binary) at level info.
        pub fn install() {
            if log::set_logger(&LOG).is_ok() {
                log::set_max_level(log::LevelFilter::Info);
            }
        }

        /// Waits until a journal log line contains `needle`; `false` after `timeout`.
        pub fn wait_for(needle: &str, timeout: Duration) -> bool {
            let deadline = Instant::now() + timeout;
            let mut lines = LOG.lines.lock().unwrap_or_else(|e| e.into_inner());
            loop {
                if lines.iter().any(|line| line.contains(needle)) {
                    return true;
                }
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return false;
                }
                lines = LOG
                    .added
                    .wait_timeout(lines, left)
                    .unwrap_or_else(|e| e.into_inner())
                    .0;
            }
        }
    }

    /// Awaits the waiter's "waiting" log line for the lock of `path`.
    fn await_waiting(path: &Path) {
        let needle = format!(
            "another cluster-client run holds {}",
            lock_path(path).display()
        );
        assert!(
            captured_log::wait_for(&needle, Duration::from_secs(10)),
            "the second open never said it was waiting for the lock"
        );
    }

    #[test]
    fn second_open_waits_for_the_first_to_release_the_lock() {
        captured_log::install();
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("journal.json");
        let mut first = Journal::open(&path, &Cancel::new()).expect("open");
        let (tx, rx) = std::sync::mpsc::channel();
        let waiter_path = path.clone();
        let waiter = std::thread::spawn(move || {
            let journal = Journal::open(&waiter_path, &Cancel::new()).expect("second open");
            tx.send(journal.entries().len()).expect("send");
        });
        await_waiting(&path);
        // Note: the waiter is now provably inside the wait, and cannot finish
        // while `first` holds the lock, so the entry written here must be
        // visible to it.
        first
            .update(|entries| entries.push(entry("g", "a:1")))
            .expect("update");
        assert!(
            rx.try_recv().is_err(),
            "the second open finished while the first held the lock"
        );
        drop(first);
        assert_eq!(
            rx.recv_timeout(Duration::from_secs(10))
                .expect("the waiter finishes once the lock is released"),
            1
        );
        waiter.join().expect("waiter");
    }

    #[test]
    fn open_unless_busy_does_not_wait_for_a_lock_another_run_holds() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("journal.json");
        let mut first = Journal::open(&path, &Cancel::new()).expect("open");
        first
            .update(|entries| entries.push(entry("g", "a:1")))
            .expect("update");
        let err = Journal::open_unless_busy(&path, &Cancel::new()).expect_err("busy");
        assert!(
            matches!(&err, JournalError::Busy { path: p } if p == &path),
            "{err}"
        );
        let text = err.to_string();
        assert!(
            text.contains("is in use") && text.contains("journal.json.lock"),
            "{text}"
        );
        drop(first);
        let second = Journal::open_unless_busy(&path, &Cancel::new()).expect("free again");
        assert_eq!(second.entries().len(), 1);
    }

    #[test]
    fn a_cancel_ends_the_wait_for_the_lock_at_once() {
        captured_log::install();
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("journal.json");
        let first = Journal::open(&path, &Cancel::new()).expect("open");
        let cancel = Cancel::new();
        let (tx, rx) = std::sync::mpsc::channel();
        let (waiter_path, waiter_cancel) = (path.clone(), cancel.clone());
        let waiter = std::thread::spawn(move || {
            let result = Journal::open(&waiter_path, &waiter_cancel).map(|_| ());
            tx.send(result).expect("send");
        });
        await_waiting(&path);
        cancel.cancel();
        let result = rx
            .recv_timeout(Duration::from_secs(10))
            .expect("the cancelled wait ends while the lock is still held");
        let err = result.expect_err("interrupted");
        assert!(matches!(err, JournalError::Interrupted { .. }), "{err}");
        assert!(err.to_string().contains("nothing was sent"), "{err}");
        waiter.join().expect("waiter");
        drop(first);
    }

    #[test]
    fn the_cancel_token_learns_how_many_repairs_are_pending() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("journal.json");
        let cancel = Cancel::new();
        let mut journal = Journal::open(&path, &cancel).expect("open");
        assert_eq!(cancel.pending(), 0);
        journal
            .update(|entries| {
                entries.push(entry("g", "a:1"));
                entries.push(entry("g", "b:1"));
            })
            .expect("update");
        assert_eq!(cancel.pending(), 2);
        drop(journal);
        let reopened = Cancel::new();
        let mut journal = Journal::open(&path, &reopened).expect("reopen");
        assert_eq!(reopened.pending(), 2, "after load");
        journal.update(|entries| entries.clear()).expect("update");
        assert_eq!(reopened.pending(), 0);
    }

    #[test]
    fn a_version_1_journal_is_read_and_rewritten_in_version_2() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("journal.json");
        let text = r#"{"version":1,"entries":[{"group":"g","host":"http://a:1","action":"delete","operation":"create","run":"7@8","recorded_at":1795450771,"failed_replays":2,"last_error":"x"}]}"#;
        fs::write(&path, text).expect("write");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).expect("chmod");
        }
        let journal = Journal::open(&path, &Cancel::new()).expect("open");
        assert_eq!(journal.entries()[0].recorded_at, 1_795_450_771);
        assert_eq!(journal.entries()[0].failed_replays, 2);
        drop(journal);
        let value: serde_json::Value =
            serde_json::from_slice(&fs::read(&path).expect("read")).expect("json");
        assert_eq!(value["version"], 2);
        assert_eq!(value["entries"][0]["recorded_at"], "2026-11-23T16:19:31Z");
        let journal = Journal::open(&path, &Cancel::new()).expect("reopen");
        assert_eq!(journal.entries()[0].recorded_at, 1_795_450_771);
    }

    #[test]
    fn a_time_that_is_not_rfc_3339_is_refused_naming_the_entry() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("journal.json");
        let text = r#"{"version":2,"entries":[{"group":"g","host":"http://a:1","action":"delete","operation":"create","run":"7@8","recorded_at":"yesterday"}]}"#;
        fs::write(&path, text).expect("write");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).expect("chmod");
        }
        let err = Journal::open(&path, &Cancel::new())
            .expect_err("bad time")
            .to_string();
        assert!(err.contains("RFC 3339"), "{err}");
        assert_eq!(fs::read_to_string(&path).expect("read"), text);
    }

    /// A hook that fails the write with ENOSPC at the boundary `at`.
    fn fail_at(at: &'static str) -> WriteHook {
        Arc::new(move |point| {
            if point == at {
                Err(io::Error::from_raw_os_error(28))
            } else {
                Ok(())
            }
        })
    }

    /// A journal at `path` holding two entries, and a copy of them.
    fn two_entries(path: &Path) -> (Journal, Vec<Entry>) {
        let mut journal = Journal::open(path, &Cancel::new()).expect("open");
        journal
            .update(|entries| {
                entries.push(entry("g1", "a:1"));
                entries.push(entry("g2", "b:1"));
            })
            .expect("update");
        let before = journal.entries().to_vec();
        (journal, before)
    }

    fn on_disk(path: &Path) -> Vec<Entry> {
        load(path).expect("load").0
    }

    #[test]
    fn a_write_that_fails_before_the_rename_leaves_memory_as_the_file_and_copies_nothing() {
        for (at, change) in [
            ("journal-before-temp", false),
            ("journal-after-temp-write", false),
            ("journal-after-temp-sync", false),
            ("journal-before-remove", true),
        ] {
            let dir = tempfile::tempdir().expect("tempdir");
            let path = dir.path().join("journal.json");
            let (mut journal, before) = two_entries(&path);
            journal.set_write_hook(fail_at(at));
            let shared = Arc::strong_count(&journal.entries()[0].batch.0);
            let err = journal
                .update(|entries| {
                    assert_eq!(
                        Arc::strong_count(&entries[0].batch.0),
                        shared,
                        "{at}: the update copied the entries"
                    );
                    if change {
                        entries.clear();
                    } else {
                        entries.retain(|e| e.group.as_str() != "g1");
                        entries.push(entry("g3", "c:1"));
                    }
                })
                .expect_err(at);
            assert!(matches!(err, JournalError::Write { .. }), "{at}: {err}");
            assert_eq!(journal.entries(), before.as_slice(), "{at}");
            assert_eq!(on_disk(&path), before, "{at}");
        }
    }

    #[test]
    fn a_write_that_fails_after_the_rename_keeps_the_new_entries() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("journal.json");
        let (mut journal, _) = two_entries(&path);
        journal.set_write_hook(fail_at("journal-after-rename"));
        let err = journal
            .update(|entries| entries.retain(|e| e.group.as_str() != "g1"))
            .expect_err("EIO");
        assert!(matches!(err, JournalError::Write { .. }), "{err}");
        assert_eq!(journal.entries(), [entry("g2", "b:1")]);
        assert_eq!(on_disk(&path), [entry("g2", "b:1")]);
    }

    #[test]
    fn an_update_that_changes_nothing_writes_nothing_and_one_that_does_writes() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("journal.json");
        let (mut journal, before) = two_entries(&path);
        journal.set_write_hook(Arc::new(|_| Err(io::Error::other("no write expected"))));
        journal.update(|_| {}).expect("nothing");
        journal.update(|e| e.retain(|_| true)).expect("retain all");
        journal
            .update(|e| e.extend(Vec::new()))
            .expect("extend by none");
        journal
            .update(|e| {
                e.retain_mut(|entry| {
                    entry.failed_replays = 0;
                    entry.last_error = None;
                    true
                });
            })
            .expect("fields set to what they were");
        assert_eq!(journal.entries(), before.as_slice());
        for change in [
            |e: &mut Edit<'_>| e.retain_mut(|entry| entry.host.base() == "http://b:1"),
            |e: &mut Edit<'_>| {
                e.retain_mut(|entry| {
                    entry.last_error = Some("refused".into());
                    true
                });
            },
            |e: &mut Edit<'_>| e.clear(),
        ] {
            journal.update(change).expect_err("a change is written");
            assert_eq!(journal.entries(), before.as_slice());
        }
        let dir = tempfile::tempdir().expect("tempdir");
        let mut empty = Journal::open(&dir.path().join("j.json"), &Cancel::new()).expect("open");
        empty.set_write_hook(Arc::new(|_| Err(io::Error::other("no write expected"))));
        empty.update(|e| e.clear()).expect("clearing nothing");
    }

    #[test]
    fn the_file_holds_one_compact_entry_per_line_and_reads_back() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("journal.json");
        let mut journal = Journal::open(&path, &Cancel::new()).expect("open");
        let mut failed = entry("g2", "https://b/api");
        failed.failed_replays = 2;
        failed.last_error = Some("refused \"x\"\n".into());
        let written = vec![entry("g1", "a:1"), failed, entry("g 3", "a:1")];
        journal
            .update(|entries| entries.extend(written.clone()))
            .expect("update");
        let text = fs::read_to_string(&path).expect("read");
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 5, "{text}");
        assert_eq!(lines[0], "{\"version\":2,\"entries\":[");
        assert!(
            lines[1..4].iter().all(|l| l.starts_with("{\"group\":")),
            "{text}"
        );
        assert!(
            lines[1].ends_with("},") && lines[3].ends_with('}'),
            "{text}"
        );
        assert_eq!(lines[4], "]}");
        assert!(text.ends_with("]}\n"));
        let value: serde_json::Value = serde_json::from_str(&text).expect("one JSON document");
        assert_eq!(value["entries"][1]["last_error"], "refused \"x\"\n");
        drop(journal);
        let journal = Journal::open(&path, &Cancel::new()).expect("reopen");
        assert_eq!(journal.entries(), written.as_slice());
    }

    #[test]
    fn a_pretty_printed_journal_of_an_earlier_release_loads_in_any_key_order() {
        let stored = serde_json::json!({
            "group": "g",
            "host": "http://a:1",
            "action": "delete",
            "operation": "create",
            "batch": "1@2",
            "recorded_at": "1970-01-01T00:00:03Z",
            "failed_replays": 0,
            "future_field": [1, {"x": null}]
        });
        let texts = [
            serde_json::to_string_pretty(&serde_json::json!({"version": 2, "entries": [stored]})),
            serde_json::to_string_pretty(
                &serde_json::json!({"entries": [stored], "extra": {"a": 1}, "version": 2}),
            ),
        ];
        for text in texts {
            let text = text.expect("json");
            let dir = tempfile::tempdir().expect("tempdir");
            let path = dir.path().join("journal.json");
            fs::write(&path, &text).expect("write");
            let journal = Journal::open(&path, &Cancel::new()).expect(&text);
            assert_eq!(journal.entries(), [entry("g", "http://a:1")], "{text}");
            assert_eq!(
                fs::read_to_string(&path).expect("read"),
                text,
                "not rewritten"
            );
        }
    }

    #[test]
    fn loading_shares_each_distinct_host_group_batch_and_error() {
        let line = |group: &str, host: &str| {
            format!(
                r#"{{"group":"{group}","host":"{host}","action":"delete","operation":"create","batch":"7@8.0","recorded_at":"1970-01-01T00:00:03Z","failed_replays":1,"last_error":"refused"}}"#
            )
        };
        let lines = [
            line("g1", "http://a:1"),
            line("g1", "http://b:1"),
            line("g2", "http://a:1"),
            line("g2", "http://b:1/"),
        ];
        // Note: the journal's own layout (one entry per line) and any other.
        for text in [
            format!(
                "{{\"version\":2,\"entries\":[\n{}\n]}}\n",
                lines.join(",\n")
            ),
            format!("{{\"version\":2,\"entries\":[{}]}}", lines.join(",")),
        ] {
            let dir = tempfile::tempdir().expect("tempdir");
            let path = dir.path().join("journal.json");
            fs::write(&path, &text).expect("write");
            let journal = Journal::open(&path, &Cancel::new()).expect("open");
            let e = journal.entries();
            assert!(std::ptr::eq(e[0].host.base(), e[2].host.base()), "{text}");
            assert!(std::ptr::eq(e[0].group.as_str(), e[1].group.as_str()));
            assert!(std::ptr::eq(e[2].group.as_str(), e[3].group.as_str()));
            assert!(
                e.iter()
                    .all(|x| std::ptr::eq(x.batch.as_str(), e[0].batch.as_str()))
            );
            let error = e[0].last_error.as_ref().expect("error");
            assert!(
                e.iter()
                    .all(|x| x.last_error.as_ref().is_some_and(|y| Arc::ptr_eq(y, error)))
            );
            assert!(!std::ptr::eq(e[0].host.base(), e[1].host.base()));
            // Note: "http://b:1/" is another text for the same node: equal, not shared.
            assert_eq!(e[1].host, e[3].host);
        }
    }

    #[test]
    fn a_bad_entry_is_named_by_its_number_and_the_file_left_untouched() {
        let good = r#"{"group":"g","host":"http://a:1","action":"delete","operation":"create","batch":"1","recorded_at":"1970-01-01T00:00:03Z"}"#;
        let bad_host = good.replace("http://a:1", "ftp://a");
        let bad_type = good.replace("\"g\"", "5");
        for (entries, needles) in [
            ([good, good, bad_host.as_str()], ["entry 3:", "bad host"]),
            (
                [good, bad_type.as_str(), good],
                ["entry 2:", "invalid type"],
            ),
        ] {
            let dir = tempfile::tempdir().expect("tempdir");
            let path = dir.path().join("journal.json");
            let text = format!(
                "{{\"version\":2,\"entries\":[\n{}\n]}}\n",
                entries.join(",\n")
            );
            fs::write(&path, &text).expect("write");
            let err = Journal::open(&path, &Cancel::new()).expect_err(&text);
            assert!(matches!(err, JournalError::Corrupt { .. }), "{err}");
            let err = err.to_string();
            for needle in needles {
                assert!(err.contains(needle), "{needle}: {err}");
            }
            assert_eq!(fs::read_to_string(&path).expect("read"), text);
        }
    }

    #[test]
    fn a_file_that_departs_from_the_own_layout_anywhere_is_read_all_the_same() {
        let good = r#"{"group":"g","host":"http://a:1","action":"delete","operation":"create","batch":"1@2","recorded_at":"1970-01-01T00:00:03Z"}"#;
        let expected = vec![entry("g", "http://a:1"); 2];
        for text in [
            format!("{{\"version\":2,\"entries\":[\n{good},\n{good}\n]}}\n"),
            format!("{{\"version\":2,\"entries\":[\n{good},\n{good}\n]}}\n\n"),
            format!("{{\"version\":2,\"entries\":[\n{good} ,\n{good}\n]}}"),
            format!("{{\"version\":2,\"entries\":[\n{good}\n,{good}\n]}}\n"),
            format!("{{\"version\": 2,\"entries\":[\n{good},\n{good}\n]}}\n"),
        ] {
            let dir = tempfile::tempdir().expect("tempdir");
            let path = dir.path().join("journal.json");
            fs::write(&path, &text).expect("write");
            let journal = Journal::open(&path, &Cancel::new()).expect(&text);
            assert_eq!(journal.entries(), expected.as_slice(), "{text}");
        }
        for text in [
            format!("{{\"version\":2,\"entries\":[\n{good},\n{good},\n]}}\n"),
            format!("{{\"version\":2,\"entries\":[\n{good}\n{good}\n]}}\n"),
            format!("{{\"version\":2,\"entries\":[\n{good},\n{good}\n]}}\nx"),
            format!("{{\"version\":2,\"entries\":[\n{good},\n{good}\n]"),
        ] {
            let dir = tempfile::tempdir().expect("tempdir");
            let path = dir.path().join("journal.json");
            fs::write(&path, &text).expect("write");
            let err = Journal::open(&path, &Cancel::new()).expect_err(&text);
            assert!(matches!(err, JournalError::Corrupt { .. }), "{text}: {err}");
        }
    }

    #[test]
    fn a_newer_format_is_told_as_such_wherever_its_version_stands() {
        for text in [
            r#"{"version": 3, "entries": [{"shape": "new"}]}"#,
            r#"{"entries": [{"shape": "new"}], "version": 3}"#,
        ] {
            let dir = tempfile::tempdir().expect("tempdir");
            let path = dir.path().join("journal.json");
            fs::write(&path, text).expect("write");
            let err = Journal::open(&path, &Cancel::new()).expect_err(text);
            assert!(
                matches!(err, JournalError::UnsupportedVersion { found: 3, .. }),
                "{text}: {err}"
            );
        }
    }

    #[test]
    fn a_failed_write_that_cannot_be_read_back_stops_every_later_write() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("journal.json");
        let (mut journal, _) = two_entries(&path);
        let spoiled = path.clone();
        journal.set_write_hook(Arc::new(move |point| {
            if point == "journal-after-temp-sync" {
                fs::write(&spoiled, "garbage").expect("spoil the file");
                return Err(io::Error::from_raw_os_error(28));
            }
            Ok(())
        }));
        let err = journal
            .update(|entries| entries.push(entry("g3", "c:1")))
            .expect_err("ENOSPC");
        assert!(matches!(err, JournalError::Unsynced { .. }), "{err}");
        let message = err.to_string();
        assert!(message.contains(&path.display().to_string()), "{message}");
        assert!(
            message.contains("No space left") && message.contains("unreadable"),
            "{message}"
        );
        assert_eq!(journal.entries().len(), 3, "the changed entries stay");
        let writes = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counted = Arc::clone(&writes);
        journal.set_write_hook(Arc::new(move |_| {
            counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            Ok(())
        }));
        let err = journal
            .update(|entries| entries.clear())
            .expect_err("no more writes");
        assert!(matches!(err, JournalError::Unsynced { .. }), "{err}");
        assert_eq!(writes.load(std::sync::atomic::Ordering::SeqCst), 0);
        assert_eq!(fs::read_to_string(&path).expect("read"), "garbage");
    }
}
