//! The journal's unit tests: format, load, edits, durable writes, lock and trust checks.
use super::*;
use std::time::Duration;

use crate::vocab::change::{Operation, Repair};

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

/// Writes a journal file as cluster-client would: mode 0600 (it refuses one others may read).
fn write_private(path: &Path, contents: impl AsRef<[u8]>) -> io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    fs::OpenOptions::new()
        .create(true)
        .truncate(true)
        .write(true)
        .mode(0o600)
        .open(path)?
        .write_all(contents.as_ref())
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

/// The names of the two journals of each pair start alike: the first's
/// name, a dot, more.
const NAME_PAIRS: [(&str, &str); 3] = [
    ("prod", "prod.eu"),
    ("prod.json", "prod.json.eu.json"),
    ("prod.json", "prod.eu.json"),
];

#[test]
fn opening_a_journal_leaves_the_temp_files_of_a_journal_whose_name_extends_its_own() {
    for (short, long) in NAME_PAIRS {
        let dir = tempfile::tempdir().expect("tempdir");
        let theirs = dir.path().join(format!(".{long}.AbC123.tmp"));
        let stale = dir.path().join(format!(".{short}.XyZ789.tmp"));
        fs::write(&theirs, "live").expect("write");
        fs::write(&stale, "torn").expect("write");
        drop(Journal::open(&dir.path().join(short), &Cancel::new()).expect("open"));
        assert!(theirs.exists(), "{short} removed {long}'s temp file");
        assert!(!stale.exists(), "{short} kept its own stale temp file");
        // And the other way round: the longer name's open leaves the shorter's.
        fs::write(&stale, "live").expect("write");
        drop(Journal::open(&dir.path().join(long), &Cancel::new()).expect("open"));
        assert!(stale.exists(), "{long} removed {short}'s temp file");
        assert!(!theirs.exists(), "{long} kept its own stale temp file");
    }
}

#[test]
fn a_write_in_progress_survives_another_journals_open_in_the_same_directory() {
    use std::sync::mpsc;
    for (short, long) in NAME_PAIRS {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut writer = Journal::open(&dir.path().join(long), &Cancel::new()).expect("open");
        let (at_temp, temp_written) = mpsc::channel::<()>();
        let (go, wait_for_go) = mpsc::channel::<()>();
        let wait_for_go = std::sync::Mutex::new(wait_for_go);
        writer.set_write_hook(Arc::new(move |point| {
            if point == "journal-after-temp-write" {
                at_temp.send(()).expect("test waits");
                wait_for_go
                    .lock()
                    .expect("lock")
                    .recv()
                    .expect("test says go");
            }
            Ok(())
        }));
        let writing = std::thread::spawn(move || {
            writer.update(|entries| entries.push(entry("g", "http://a:1")))
        });
        temp_written
            .recv_timeout(Duration::from_secs(60))
            .expect("the write reaches its temp file");
        drop(Journal::open(&dir.path().join(short), &Cancel::new()).expect("open"));
        go.send(()).expect("writer waits");
        let written = writing.join().expect("writer thread");
        assert!(written.is_ok(), "{long} after {short}'s open: {written:?}");
        let reopened = Journal::open(&dir.path().join(long), &Cancel::new()).expect("reopen");
        assert_eq!(reopened.entries(), &[entry("g", "http://a:1")]);
    }
}

#[test]
fn the_temp_files_a_write_makes_have_the_shape_clean_up_removes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("prod");
    let listing = dir.path().to_owned();
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let names = Arc::clone(&seen);
    let mut journal = Journal::open(&path, &Cancel::new()).expect("open");
    journal.set_write_hook(Arc::new(move |point| {
        if point == "journal-after-temp-sync" {
            let found = fs::read_dir(&listing)
                .expect("dir")
                .map(|e| e.expect("entry").file_name().into_string().expect("utf8"))
                .filter(|n| n.ends_with(".tmp"));
            names.lock().expect("lock").extend(found);
        }
        Ok(())
    }));
    for i in 0..20 {
        journal
            .update(|entries| entries.push(entry(&format!("g{i}"), "a:1")))
            .expect("update");
    }
    let seen = seen.lock().expect("lock");
    assert_eq!(seen.len(), 20, "{seen:?}");
    for name in seen.iter() {
        assert!(durable::is_temp_of(&path, name), "{name}");
        assert!(!durable::is_temp_of(Path::new("pro"), name), "{name}");
        assert!(!durable::is_temp_of(Path::new("prod.eu"), name), "{name}");
    }
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
        write_private(&path, text).expect("write");
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
    write_private(&path, text).expect("write");
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
            metadata.target().starts_with("cluster_client::journal")
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
fn a_lock_wait_that_runs_out_names_the_lock_file_and_the_holder_and_leaves_its_record() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("journal.json");
    let lock = lock_path(&path);
    let first = Journal::open(&path, &Cancel::new()).expect("open");
    let record = fs::read_to_string(&lock).expect("read the lock file");
    let value: serde_json::Value = serde_json::from_str(&record).expect("one JSON line");
    assert_eq!(value["pid"], std::process::id(), "{record}");
    assert!(
        value["since"].as_str().is_some_and(|t| t.ends_with('Z')),
        "{record}"
    );
    for wait in [Duration::ZERO, Duration::from_millis(300)] {
        let started = std::time::Instant::now();
        let err = Journal::open_waiting(&path, &Cancel::new(), wait).expect_err("busy");
        assert!(
            started.elapsed() >= wait,
            "gave up early: {:?}",
            started.elapsed()
        );
        let JournalError::LockTimeout {
            path: named,
            holder,
            ..
        } = &err
        else {
            panic!("not a time-out: {err}");
        };
        assert_eq!(named, &lock);
        let holder = holder.as_ref().expect("the holder is known");
        assert_eq!(holder.pid, std::process::id());
        assert!(holder.held_for.is_some(), "{holder:?}");
        let text = err.to_string();
        for needle in [
            lock.display().to_string(),
            format!("pid {}", std::process::id()),
            "holding it for".to_owned(),
            "--lock-wait".to_owned(),
            "Nothing was sent".to_owned(),
        ] {
            assert!(text.contains(&needle), "{needle:?} in {text}");
        }
        assert_eq!(
            fs::read_to_string(&lock).expect("read"),
            record,
            "a run that waits never touches the holder's record"
        );
    }
    drop(first);
    assert_eq!(
        fs::read_to_string(&lock).expect("read"),
        "",
        "the record leaves with its holder"
    );
    let second = Journal::open_waiting(&path, &Cancel::new(), Duration::ZERO).expect("free");
    drop(second);
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
    write_private(&path, text).expect("write");
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
    write_private(&path, text).expect("write");
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
        write_private(&path, &text).expect("write");
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
        write_private(&path, &text).expect("write");
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
        write_private(&path, &text).expect("write");
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
        write_private(&path, &text).expect("write");
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
        write_private(&path, &text).expect("write");
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
        write_private(&path, text).expect("write");
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
