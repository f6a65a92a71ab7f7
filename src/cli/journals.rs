//! Several journals (`rollback`, `journal list`): the files a directory holds, and what became of each.

use std::collections::{HashMap, HashSet};
use std::io;
use std::path::{Path, PathBuf};

use crate::cli::config::JournalSource;
use cluster_client::engine::ReplayReport;
use cluster_client::error::JournalError;
use cluster_client::journal::{self, Entry, Journal};
use cluster_client::vocab::cancel::Cancel;
use cluster_client::vocab::group::GroupId;
use cluster_client::vocab::trust;

/// What became of one journal.
#[derive(Debug)]
pub enum Visit {
    /// Opened under its lock. For `rollback`, what its replay did; for
    /// `journal list`, nothing repaired. Either way, what it still lists.
    Opened(Replayed),
    /// Another run holds its lock ([`JournalError::Busy`]): left to that
    /// run, which replays it first. It may hold repairs.
    Busy(JournalError),
    /// It could not be opened: refused by the trust checks, unreadable,
    /// corrupt or of another format. Left as it is; it may hold repairs.
    Refused(JournalError),
    /// A signal arrived before it was reached; it was not opened.
    Interrupted,
    /// There is no journal file there (named by `--journal`): nothing is
    /// pending there, and nothing was created.
    Missing,
}

/// A journal that was opened: what its replay did, and the repairs it
/// still lists (kept, since its lock is released before the next is opened).
#[derive(Debug)]
pub struct Replayed {
    /// What the replay did; nothing for `journal list`.
    pub report: ReplayReport,
    /// The repairs the journal lists afterwards.
    pub pending: Vec<Entry>,
}

/// One journal and what became of it.
#[derive(Debug)]
pub struct Visited {
    /// The journal file.
    pub path: PathBuf,
    /// What became of it.
    pub visit: Visit,
}

impl Visited {
    /// What its replay did and what it still lists, when it was opened.
    pub fn report(&self) -> Option<&Replayed> {
        match &self.visit {
            Visit::Opened(report) => Some(report),
            Visit::Busy(_) | Visit::Refused(_) | Visit::Interrupted | Visit::Missing => None,
        }
    }
}

/// The journal files `sources` name, in order, each once. A directory
/// contributes every entry whose name ends in `.json` and does not start
/// with `.`, in byte order of the names: that leaves out the lock files
/// (`*.json.lock`) and temp files (`.*.tmp`) the journal keeps beside it.
/// Symbolic links are listed, for the journal's own checks to refuse by
/// name; subdirectories and other special files are left out (the latter
/// with a warning).
///
/// # Errors
/// A directory that does not exist ([`JournalError::MissingDirectory`]: a
/// typo is not "nothing pending"), that someone else could write
/// ([`JournalError::Untrusted`], checked as a journal's own directory is)
/// or that cannot be read ([`JournalError::Read`]).
pub fn list(sources: &[JournalSource]) -> Result<Vec<PathBuf>, JournalError> {
    let mut seen = HashSet::new();
    let mut paths = Vec::new();
    for source in sources {
        let found = match source {
            JournalSource::File(path) => vec![path.clone()],
            JournalSource::Dir(dir) => in_directory(dir)?,
        };
        for path in found {
            if seen.insert(path.clone()) {
                paths.push(path);
            }
        }
    }
    Ok(paths)
}

/// The repairs for `groups` that the other journals of `journal`'s set hold:
/// every journal in its directory (as `rollback --journal DIR/` lists them)
/// but `journal` itself, read as it is on disk, without its lock (a run
/// holding it replaces it by a rename, so a read sees a whole file). A
/// journal that cannot be read is named in a warning; it refuses nothing,
/// and stops nothing else either.
pub fn repairs_elsewhere(
    journal: &Path,
    groups: &[GroupId],
) -> HashMap<GroupId, (PathBuf, Vec<Entry>)> {
    let named: HashSet<&GroupId> = groups.iter().collect();
    let dir = match journal.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    let mut found: HashMap<GroupId, (PathBuf, Vec<Entry>)> = HashMap::new();
    let Ok(paths) = in_directory(dir) else {
        return found;
    };
    for path in paths.into_iter().filter(|p| !same_file(p, journal)) {
        match journal::read_snapshot(&path) {
            Ok(entries) => {
                let repairs = entries
                    .into_iter()
                    .flatten()
                    .filter(|e| e.kind == journal::Kind::Repair && named.contains(&e.group));
                for entry in repairs {
                    let held = found
                        .entry(entry.group.clone())
                        .or_insert_with(|| (path.clone(), Vec::new()));
                    if held.0 == path {
                        held.1.push(entry);
                    }
                }
            }
            Err(error) => log::warn!(
                "another journal of this set could not be read, so it refuses no group of \
                 this run: {error}"
            ),
        }
    }
    found
}

/// Whether `a` and `b` name the same file (the journal itself, however named).
fn same_file(a: &Path, b: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (std::fs::metadata(a), std::fs::metadata(b)) {
        (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
        _ => a == b,
    }
}

fn in_directory(dir: &Path) -> Result<Vec<PathBuf>, JournalError> {
    let read_error = |cause| JournalError::Read {
        path: dir.to_owned(),
        cause,
    };
    let opened = match std::fs::File::open(dir) {
        Ok(opened) => opened,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Err(JournalError::MissingDirectory {
                path: dir.join("*.json"),
                dir: dir.to_owned(),
            });
        }
        Err(e) => return Err(read_error(e)),
    };
    let meta = opened.metadata().map_err(read_error)?;
    trust::private_dir(dir, &meta).map_err(|distrust| JournalError::Untrusted {
        path: dir.to_owned(),
        role: "journal directory",
        problem: distrust.problem,
        fix: distrust.fix,
    })?;
    let mut names = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(read_error)? {
        let entry = entry.map_err(read_error)?;
        let name = entry.file_name();
        let text = name.to_string_lossy();
        if text.starts_with('.') || !text.ends_with(".json") {
            continue;
        }
        let kind = entry.file_type().map_err(read_error)?;
        if kind.is_file() || kind.is_symlink() {
            names.push(name);
        } else if !kind.is_dir() {
            log::warn!(
                "{} is not a regular file, so it is not a journal; left out",
                entry.path().display()
            );
        }
    }
    names.sort();
    Ok(names.into_iter().map(|name| dir.join(name)).collect())
}

/// Opens each journal in turn, without waiting for a lock another run
/// holds, and gives it to `work` (a replay, or a listing). Each one's lock
/// is released before the next is opened. A journal that is busy or cannot
/// be opened is logged and recorded, and the others are still gone
/// through; after a signal, the rest are not opened.
///
/// `cancel` counts the repairs of every journal done with (1 for one that
/// was not opened), so a second signal's exit status covers them all.
pub fn visit_all(
    paths: Vec<PathBuf>,
    cancel: &Cancel,
    mut work: impl FnMut(&mut Journal) -> ReplayReport,
) -> Vec<Visited> {
    let mut visited = Vec::with_capacity(paths.len());
    for path in paths {
        let visit = if cancel.is_cancelled() {
            Visit::Interrupted
        } else if let Some(visit) = not_there(&path) {
            visit
        } else {
            match Journal::open_unless_busy(&path, cancel) {
                Ok(mut journal) => {
                    let report = work(&mut journal);
                    cancel.add_pending_elsewhere(journal.pending());
                    cancel.set_pending(0);
                    Visit::Opened(Replayed {
                        report,
                        pending: journal.entries().to_vec(),
                    })
                }
                Err(error @ JournalError::Busy { .. }) => {
                    log::warn!("{error}");
                    Visit::Busy(error)
                }
                Err(error) => {
                    // Note: its message speaks of this journal alone; the others are still
                    // gone through, and may send repairs.
                    log::error!("skipping one of several journals: {error}");
                    Visit::Refused(error)
                }
            }
        };
        if !matches!(visit, Visit::Opened(_) | Visit::Missing) {
            cancel.add_pending_elsewhere(1);
        }
        visited.push(Visited { path, visit });
    }
    visited
}

/// What became of a journal file that is not there: [`Visit::Missing`],
/// or [`Visit::Refused`] when its directory is not there either; `None`
/// when there is a file to open.
fn not_there(path: &Path) -> Option<Visit> {
    match std::fs::symlink_metadata(path) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Some(match journal::read_snapshot(path) {
            Ok(_) => Visit::Missing,
            Err(error) => {
                log::error!("skipping one of several journals: {error}");
                Visit::Refused(error)
            }
        }),
        _ => None,
    }
}

/// Reads each journal in turn as it is on disk, without its lock and
/// without creating anything (`journal list`): each is
/// [`Visit::Opened`] with nothing repaired, [`Visit::Missing`] or
/// [`Visit::Refused`]; after a signal, the rest are
/// [`Visit::Interrupted`].
pub fn read_all(paths: Vec<PathBuf>, cancel: &Cancel) -> Vec<Visited> {
    paths
        .into_iter()
        .map(|path| {
            let visit = if cancel.is_cancelled() {
                Visit::Interrupted
            } else {
                match journal::read_snapshot(&path) {
                    Ok(Some(pending)) => Visit::Opened(Replayed {
                        report: ReplayReport::counting(&pending),
                        pending,
                    }),
                    Ok(None) => Visit::Missing,
                    Err(error) => {
                        log::error!("skipping one of several journals: {error}");
                        Visit::Refused(error)
                    }
                }
            };
            Visited { path, visit }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn private_dir() -> tempfile::TempDir {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700))
            .expect("chmod");
        dir
    }

    #[test]
    fn a_directory_lists_its_json_files_but_not_the_lock_and_temp_files() {
        let dir = private_dir();
        for name in [
            "journal-1.json",
            "journal-0.json",
            "journal-0.json.lock",
            ".journal-0.json.a1b2.tmp",
            ".hidden.json",
            "notes.txt",
            "journal-10.json",
        ] {
            std::fs::write(dir.path().join(name), "").expect("write");
        }
        std::fs::create_dir(dir.path().join("sub.json")).expect("mkdir");
        std::os::unix::fs::symlink("/nonexistent", dir.path().join("planted.json"))
            .expect("symlink");
        let listed = list(&[JournalSource::Dir(dir.path().to_owned())]).expect("list");
        let names: Vec<_> = listed
            .iter()
            .map(|p| p.file_name().expect("name").to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            names,
            [
                "journal-0.json",
                "journal-1.json",
                "journal-10.json",
                "planted.json"
            ]
        );
    }

    #[test]
    fn a_journal_named_twice_is_listed_once_and_a_missing_directory_is_an_error() {
        let dir = private_dir();
        let journal = dir.path().join("j.json");
        std::fs::write(&journal, "").expect("write");
        let listed = list(&[
            JournalSource::File(journal.clone()),
            JournalSource::Dir(dir.path().to_owned()),
        ])
        .expect("list");
        assert_eq!(listed, [journal]);
        let missing = dir.path().join("missing");
        let err = list(&[JournalSource::Dir(missing.clone())]).expect_err("missing");
        assert!(matches!(err, JournalError::MissingDirectory { dir, .. } if dir == missing));
        assert!(!missing.exists());
    }

    #[test]
    fn journals_that_are_not_there_are_missing_and_nothing_is_created() {
        let dir = private_dir();
        let path = dir.path().join("j.json");
        let cancel = Cancel::new();
        let visited = visit_all(vec![path.clone()], &cancel, |_| panic!("opened"));
        assert!(matches!(visited[0].visit, Visit::Missing), "{visited:?}");
        let read = read_all(vec![path, dir.path().join("typo/j.json")], &cancel);
        assert!(matches!(read[0].visit, Visit::Missing), "{read:?}");
        assert!(matches!(
            read[1].visit,
            Visit::Refused(JournalError::MissingDirectory { .. })
        ));
        assert_eq!(std::fs::read_dir(dir.path()).expect("list").count(), 0);
        assert_eq!(cancel.pending(), 0);
    }

    #[test]
    fn a_directory_others_may_write_is_refused_like_a_journals_own() {
        use std::os::unix::fs::PermissionsExt;
        let dir = private_dir();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777))
            .expect("chmod");
        let err = list(&[JournalSource::Dir(dir.path().to_owned())]).expect_err("refused");
        let text = err.to_string();
        assert!(
            text.contains("refusing journal directory")
                && text.contains("a directory only you can write")
                && !text.contains("chmod"),
            "{text}"
        );
    }

    #[test]
    fn every_journal_is_visited_though_one_is_busy_and_one_refused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = private_dir();
        let path = |name: &str| dir.path().join(name);
        std::fs::write(path("b-corrupt.json"), "not json").expect("write");
        for name in ["a-busy.json", "c.json"] {
            std::fs::write(path(name), "{\"version\":2,\"entries\":[]}").expect("write");
            std::fs::set_permissions(path(name), std::fs::Permissions::from_mode(0o600))
                .expect("chmod");
        }
        let held = Journal::open(&path("a-busy.json"), &Cancel::new()).expect("open");
        let cancel = Cancel::new();
        let mut worked = Vec::new();
        let visited = visit_all(
            vec![path("a-busy.json"), path("b-corrupt.json"), path("c.json")],
            &cancel,
            |journal| {
                worked.push(journal.path().to_owned());
                ReplayReport::default()
            },
        );
        drop(held);
        assert_eq!(worked, [path("c.json")]);
        assert!(matches!(visited[0].visit, Visit::Busy(_)), "{visited:?}");
        assert!(matches!(visited[1].visit, Visit::Refused(_)), "{visited:?}");
        assert!(matches!(visited[2].visit, Visit::Opened(_)), "{visited:?}");
        assert_eq!(cancel.pending(), 2, "one each for what was not read");
        assert_eq!(
            std::fs::read_to_string(path("b-corrupt.json")).expect("read"),
            "not json",
            "left as it was"
        );
    }

    #[test]
    fn after_a_signal_no_further_journal_is_opened() {
        let dir = private_dir();
        let cancel = Cancel::new();
        cancel.cancel();
        let visited = visit_all(vec![dir.path().join("j.json")], &cancel, |_| {
            panic!("opened after the signal")
        });
        assert!(matches!(visited[0].visit, Visit::Interrupted));
        assert!(!dir.path().join("j.json.lock").exists());
    }
}
