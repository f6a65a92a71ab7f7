//! Reading a journal as it is on disk, without its lock and without creating anything: for
//! commands that only read (status, journal list, dry runs) and for reading other runs'
//! journals.

use std::io;
use std::path::Path;

use super::files::{check_dir, open_private, parent_dir};
use super::load::load;
use super::{Entry, JournalError};

/// The entries of the journal at `path` as the file holds them now, oldest
/// first, read without taking the lock and without creating anything: no
/// directory, no lock file, no journal.
///
/// `Ok(None)` means there is no journal file: nothing is pending there (no
/// run has left a repair, or the last one cleared them). `Ok(Some(empty))`
/// is a journal file with no entry. The same trust checks as
/// [`Journal::open`](super::Journal::open) apply before anything is read:
/// the directory must be the user's own and private, the file the user's
/// own, writable by no one else and not a symbolic link. A journal in the
/// older format is read as it is and not rewritten.
///
/// Another run may hold the lock and write the journal meanwhile: the
/// journal is only ever replaced by a rename (or removed), so this reads
/// one whole version of the file, the one before or the one after such a
/// write, never a part of one.
///
/// # Errors
/// [`JournalError::MissingDirectory`] when the journal's directory does not
/// exist (a typo in `--journal` is not "nothing pending");
/// [`JournalError::Untrusted`], [`JournalError::Read`],
/// [`JournalError::Corrupt`] and [`JournalError::UnsupportedVersion`] as for
/// [`Journal::open`](super::Journal::open).
pub fn read_snapshot(path: &Path) -> Result<Option<Vec<Entry>>, JournalError> {
    let dir = parent_dir(path);
    match std::fs::metadata(dir) {
        Ok(_) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            // Note: the directories that do exist on the way are checked as a
            // run would check them, so a foreign or writable one above is
            // named for what it is, not taken for a typo.
            check_dirs_on_the_way(dir)?;
            return Err(JournalError::MissingDirectory {
                path: path.to_owned(),
                dir: dir.to_owned(),
            });
        }
        Err(cause) => {
            return Err(JournalError::Read {
                path: dir.to_owned(),
                cause,
            });
        }
    }
    check_dir(dir)?;
    // Note: the file is opened (and checked) once here only to tell a
    // missing journal apart; `load` opens and checks it again to read it. A
    // journal removed in between reads as an empty one, which it then is.
    if open_private(path)?.is_none() {
        return Ok(None);
    }
    load(path).map(|(entries, _)| Some(entries))
}

/// Checks the directories that exist on the way to `dir`, which does not,
/// by the rules for the directories above a journal: a foreign directory
/// there is refused for what it is, not taken for a typo.
// Note: the walk checks a directory when it looks up an entry in it, which
// it cannot for an entry that does not exist: the deepest existing
// directory's owner is checked here.
fn check_dirs_on_the_way(dir: &Path) -> Result<(), JournalError> {
    use crate::vocab::trust;
    let refused = |distrust| super::files::untrusted(dir, "journal directory", distrust);
    let Some(existing) = dir.ancestors().skip(1).find(|a| a.is_dir()) else {
        return Ok(());
    };
    let meta = match trust::check_dirs_to(existing) {
        Ok(meta) => meta,
        Err(trust::CheckedError::Unreadable(_)) => return Ok(()),
        Err(trust::CheckedError::Untrusted(distrust)) => return Err(refused(distrust)),
    };
    match trust::uid_of(&meta) {
        Some(uid) if !trust::owner_is_trusted(uid) => Err(refused(trust::Distrust {
            problem: format!(
                "the directory {} on its way is owned by uid {uid}, neither you nor root, so \
                 that user decides what it holds",
                existing.display()
            ),
            fix: "keep the journal in directories owned by you or by root".to_owned(),
        })),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vocab::cancel::Cancel;
    use std::os::unix::fs::PermissionsExt;

    fn private_dir() -> tempfile::TempDir {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700))
            .expect("chmod");
        dir
    }

    fn names(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .expect("list")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn no_journal_is_none_and_nothing_is_created() {
        let dir = private_dir();
        let path = dir.path().join("journal.json");
        assert_eq!(read_snapshot(&path).expect("read"), None);
        assert!(names(dir.path()).is_empty(), "{:?}", names(dir.path()));
    }

    #[test]
    fn a_missing_directory_is_an_error_naming_it_and_is_not_created() {
        let dir = private_dir();
        let missing = dir.path().join("typo");
        let err = read_snapshot(&missing.join("journal.json")).expect_err("missing");
        assert!(matches!(&err, JournalError::MissingDirectory { dir, .. } if *dir == missing));
        assert!(
            err.to_string().contains(&missing.display().to_string()),
            "{err}"
        );
        assert!(!missing.exists());
    }

    #[test]
    fn a_snapshot_reads_what_the_journal_holds_without_its_lock() {
        let dir = private_dir();
        let path = dir.path().join("journal.json");
        let cancel = Cancel::new();
        let mut journal = super::super::Journal::open(&path, &cancel).expect("open");
        let entry: Entry = serde_json::from_value(serde_json::json!({
            "group": "g", "host": "http://n1:1", "action": "delete", "operation": "create",
            "batch": "1@1.0", "recorded_at": "2026-12-01T00:00:01Z"
        }))
        .expect("entry");
        journal
            .update(|entries| entries.push(entry.clone()))
            .expect("write");
        // The lock is held by `journal`: a snapshot neither waits nor fails.
        assert_eq!(read_snapshot(&path).expect("read"), Some(vec![entry]));
        journal.update(|entries| entries.clear()).expect("clear");
        assert_eq!(
            read_snapshot(&path).expect("read"),
            None,
            "an empty journal is removed"
        );
    }

    #[test]
    fn a_snapshot_applies_the_trust_checks() {
        let dir = private_dir();
        let path = dir.path().join("journal.json");
        std::fs::write(&path, "{\"version\":2,\"entries\":[]}").expect("write");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o666)).expect("chmod");
        assert!(matches!(
            read_snapshot(&path),
            Err(JournalError::Untrusted { .. })
        ));
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777))
            .expect("chmod");
        assert!(matches!(
            read_snapshot(&path),
            Err(JournalError::Untrusted {
                role: "journal directory",
                ..
            })
        ));
    }

    #[test]
    fn a_corrupt_journal_is_an_error_and_left_alone() {
        let dir = private_dir();
        let path = dir.path().join("journal.json");
        std::fs::write(&path, "not json").expect("write");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
        assert!(matches!(
            read_snapshot(&path),
            Err(JournalError::Corrupt { .. })
        ));
        assert_eq!(names(dir.path()), ["journal.json"]);
    }
}
