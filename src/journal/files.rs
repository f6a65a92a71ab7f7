//! Where the journal lives, and whose it is: the private directory it is created in, and the
//! trust checks on the directory and the file before anything is read.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::path::Path;

use super::JournalError;
use crate::vocab::trust;

pub(super) fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    }
}

/// Creates `dir` and any missing parent, each with mode 0700 and each
/// fsynced into its parent, so a directory that a crash could lose is never
/// relied on. Existing directories are not changed here; [`check_dir`]
/// decides whether the journal's own one is acceptable.
pub(super) fn create_private_dir(dir: &Path) -> io::Result<()> {
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

/// Refuses a journal directory that someone else could write (another
/// owner, or group or other write permission, sticky or not), or that is
/// reached through a directory or link someone else could change: every
/// directory from `/` down must be ours or root's and writable by no one
/// else, as ssh's StrictModes asks (see [`trust::read_checked`] for the
/// exceptions: a sticky `/tmp`, a read-only mount, the directory given to
/// `--trust-group-writable`). Checked on the opened directories. The
/// directory may be reached through a symbolic link of ours or root's (a
/// home directory often is); what counts is the directory itself.
pub(super) fn check_dir(dir: &Path) -> Result<(), JournalError> {
    let meta = match trust::check_dirs_to(dir) {
        Ok(meta) => meta,
        Err(trust::CheckedError::Unreadable(cause)) => {
            return Err(JournalError::Read {
                path: dir.to_owned(),
                cause,
            });
        }
        Err(trust::CheckedError::Untrusted(distrust)) => {
            return Err(untrusted(dir, "journal directory", distrust));
        }
    };
    trust::private_dir(dir, &meta).map_err(|d| untrusted(dir, "journal directory", d))
}

pub(super) fn untrusted(path: &Path, role: trust::Role, distrust: trust::Distrust) -> JournalError {
    JournalError::Untrusted {
        path: path.to_owned(),
        role,
        problem: distrust.problem,
        fix: distrust.fix,
    }
}

/// The journal, opened without following a symbolic link and checked to be
/// ours before anything is read from it; `None` when there is no journal.
pub(super) fn open_private(path: &Path) -> Result<Option<File>, JournalError> {
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
