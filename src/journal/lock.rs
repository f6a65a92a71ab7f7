//! The exclusive lock beside the journal (`<journal>.lock`) that serialises every run sharing it.

use std::fs::{self, File, OpenOptions};
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::JournalError;
use super::files::untrusted;
use crate::vocab::cancel::Cancel;
use crate::vocab::trust;

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
pub(super) fn acquire_lock(
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
