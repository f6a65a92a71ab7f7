//! The journal's own error type: every way opening, reading or writing it can fail, each
//! with the fix.

use std::io;
use std::path::PathBuf;

use super::holder::LockHolder;
use super::lock::{holder_words, lock_path};

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

    /// The journal's directory does not exist, and the command only reads:
    /// it creates nothing, and a missing directory is more likely a typo in
    /// the path than a journal with nothing pending.
    #[error(
        "journal directory {} does not exist (for journal {}), so nothing was read and \
         nothing was created; check --journal / CLUSTER_CLIENT_JOURNAL for a typo",
        dir.display(),
        path.display()
    )]
    MissingDirectory {
        /// The journal file.
        path: PathBuf,
        /// Its directory, which does not exist.
        dir: PathBuf,
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
    /// someone else (another owner, group or other write permission, a
    /// symbolic link, or a directory above that someone else may write), or
    /// read by someone else (group or other read on the journal or lock
    /// file). Nothing was read from it and nothing was sent.
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

    /// Another run held the lock for longer than this run would wait
    /// (`--lock-wait`). Nothing was read or sent.
    #[error(
        "gave up after {} waiting for {}, which another cluster-client run holds ({}). \
         Nothing was sent to any node and the journal was not read. If that run is stopped \
         or hung (`kill -STOP`, a stuck mount, a debugger), resume or end it; if it is only \
         slow, wait for it, or raise --lock-wait (CLUSTER_CLIENT_LOCK_WAIT)",
        humantime::format_duration(*.waited),
        .path.display(),
        holder_words(.holder.as_ref())
    )]
    LockTimeout {
        /// The lock file.
        path: PathBuf,
        /// How long this run was to wait (`--lock-wait`), and did.
        waited: std::time::Duration,
        /// Who holds the lock, when that is known (see [`LockHolder`]).
        holder: Option<LockHolder>,
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
