//! Durable file replacement: temp file, `sync_all`, rename, directory fsync; and the clean-up
//! of temp files a killed write left behind.

use std::fs::{self, File};
use std::io::{self, BufWriter, Write};
use std::path::Path;

use super::files::parent_dir;

/// A write that failed, and whether the file had already been replaced (or
/// removed) when it did: only its durability is then in doubt.
pub(super) struct WriteFailure {
    pub(super) source: io::Error,
    pub(super) applied: bool,
}

impl From<io::Error> for WriteFailure {
    fn from(source: io::Error) -> Self {
        Self {
            source,
            applied: false,
        }
    }
}

/// How many random characters a temp file's name carries, from
/// `[A-Za-z0-9]`: tempfile's alphabet, which has no `.` (a unit test checks
/// the names it makes).
const TEMP_RANDOM_LEN: usize = 6;

/// The start of `file`'s temp file names: `.<file name>.`.
fn temp_prefix(file: &Path) -> String {
    format!(
        ".{}.",
        file.file_name().unwrap_or_default().to_string_lossy()
    )
}

/// Whether `name` is a temp file name of `file`: exactly
/// `.<file name>.<TEMP_RANDOM_LEN alphanumerics>.tmp`.
// Note: the random part is fixed in length and holds no `.`, so a name has
// one reading: `.prod.eu.AbC123.tmp` is `prod.eu`'s and never `prod`'s, and
// clean-up under one journal's lock never touches a temp file that another
// journal in the same directory is writing under its own.
pub(super) fn is_temp_of(file: &Path, name: &str) -> bool {
    let Some(rest) = name.strip_prefix(&temp_prefix(file)) else {
        return false;
    };
    let Some(random) = rest.strip_suffix(".tmp") else {
        return false;
    };
    random.len() == TEMP_RANDOM_LEN && random.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// Replaces `path` with `contents` atomically and durably: a temp file in
/// the same directory (`.<name>.<6 alphanumerics>.tmp`, mode 0600 unless `mode` says
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
pub(super) fn replace(
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
        .rand_bytes(TEMP_RANDOM_LEN)
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
pub(super) const WRITE_BUFFER: usize = 64 * 1024;

/// Removes temp files that a run killed mid-write left behind: only this
/// journal's own (see [`is_temp_of`]). Holding the lock means no live run of
/// this journal is writing one. Best effort: a file that cannot be removed
/// is only logged.
pub(super) fn remove_stale_temp_files(journal: &Path) {
    let Ok(listing) = fs::read_dir(parent_dir(journal)) else {
        return;
    };
    for entry in listing.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if is_temp_of(journal, &name) {
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
