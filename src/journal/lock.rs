//! The exclusive lock beside the journal (`<journal>.lock`) that serialises every run sharing it.

use std::fs::{self, File, OpenOptions};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::JournalError;
use super::files::untrusted;
use super::holder::{self, LockHolder};
use crate::vocab::cancel::Cancel;
use crate::vocab::trust;

/// How long a run waits for another run to release the lock before it
/// gives up (exit 2, nothing sent), unless told otherwise (`--lock-wait`).
// Note: long enough for a normal run holding the lock to finish: with the
// default retry settings one request's budget is 4 attempts of 5 s plus
// back-off (about 22 s), and a one-group run whose change times out reads,
// settles and undoes within about four such budgets (90 s). Short enough
// that runs from cron every 5 minutes do not pile up behind a stopped one:
// each gives up well before the next is due, with room left for its own
// replay within the rollback CronJob's 240 s deadline.
pub const DEFAULT_LOCK_WAIT: Duration = Duration::from_secs(120);

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

/// Opens (creating it, 0600) the lock file without following a symbolic
/// link, and refuses one that is not ours or that others may write: such a
/// file could be held locked by its owner forever.
fn open_lock_file(lock_path: &Path) -> Result<File, JournalError> {
    let mut options = OpenOptions::new();
    // Note: read too, for the holder's record (see `holder`).
    options.create(true).truncate(false).read(true).write(true);
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

/// The held lock: the lock file, with this run's record in it (see
/// `holder`). Dropping it empties the record, then closing the file
/// releases the lock.
pub(super) struct HeldLock {
    file: File,
}

impl HeldLock {
    fn take(file: File) -> Self {
        holder::write_record(&file);
        Self { file }
    }
}

impl Drop for HeldLock {
    fn drop(&mut self) {
        holder::clear_record(&self.file);
    }
}

/// The held lock; `None` when another run holds it and `wait` is `None`.
/// With `Some(limit)`, waits up to `limit` for it (and says so, naming the
/// holder when it is known), then gives up with
/// [`JournalError::LockTimeout`].
pub(super) fn acquire_lock(
    lock_path: &Path,
    cancel: &Cancel,
    wait: Option<Duration>,
) -> Result<Option<HeldLock>, JournalError> {
    let file = open_lock_file(lock_path)?;
    if try_lock(&file, lock_path)? {
        return Ok(Some(HeldLock::take(file)));
    }
    let Some(limit) = wait else {
        return Ok(None);
    };
    log::warn!(
        "another cluster-client run holds {} ({}); waiting for it to finish, for at most {}",
        lock_path.display(),
        holder_words(holder::find(&file).as_ref()),
        humantime::format_duration(limit)
    );
    wait_for_lock(&file, lock_path, cancel, limit)?;
    log::info!("lock {} acquired", lock_path.display());
    Ok(Some(HeldLock::take(file)))
}

/// Polls the lock until it is ours, `limit` has passed, or `cancel` fires.
fn wait_for_lock(
    file: &File,
    lock_path: &Path,
    cancel: &Cancel,
    limit: Duration,
) -> Result<(), JournalError> {
    let started = Instant::now();
    // Note: polling instead of a blocking `lock()`, so that a signal ends
    // the wait at once: `cancel.sleep` wakes as soon as it fires.
    let mut pause = LOCK_POLL_FIRST;
    loop {
        let left = limit.saturating_sub(started.elapsed());
        if left.is_zero() {
            return Err(JournalError::LockTimeout {
                path: lock_path.to_owned(),
                waited: limit,
                holder: holder::find(file),
            });
        }
        if !cancel.sleep(pause.min(left)) {
            return Err(JournalError::Interrupted {
                path: lock_path.to_owned(),
            });
        }
        if try_lock(file, lock_path)? {
            return Ok(());
        }
        pause = (pause * 2).min(LOCK_POLL_MAX);
    }
}

/// Takes the lock if it is free: `false` when another run holds it.
fn try_lock(file: &File, lock_path: &Path) -> Result<bool, JournalError> {
    match file.try_lock() {
        Ok(()) => Ok(true),
        Err(fs::TryLockError::WouldBlock) => Ok(false),
        Err(fs::TryLockError::Error(cause)) => Err(JournalError::Lock {
            path: lock_path.to_owned(),
            cause,
        }),
    }
}

/// The holder in words: "pid 4242 on host web-1, holding it for 3m 20s",
/// or why it is not known.
pub(super) fn holder_words(holder: Option<&LockHolder>) -> String {
    let Some(holder) = holder else {
        return "its pid is not known: the lock file holds no record of a live holder and \
                this machine's /proc/locks names none, as when the holder runs on another \
                machine over NFS, or is not a cluster-client that records itself"
            .to_owned();
    };
    let mut words = format!("pid {}", holder.pid);
    if let Some(host) = &holder.host {
        words.push_str(&format!(" on host {}", crate::vocab::text::escape(host)));
    }
    match holder.held_for {
        Some(held) => words.push_str(&format!(
            ", holding it for {}",
            humantime::format_duration(Duration::from_secs(held.as_secs()))
        )),
        None => words.push_str(", holding it since a time not known"),
    }
    words
}
