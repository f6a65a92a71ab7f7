//! Who holds a journal's lock: the record a holder writes into its lock file, checked against
//! the kernel's lock table (`/proc/locks`) where there is one.

use std::fs::{File, Metadata};
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::path::Path;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::vocab::time;

/// The most of a lock file that is read for a holder's record.
const RECORD_MAX: u64 = 1024;

/// The run holding a journal's lock, as far as it can be known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LockHolder {
    /// Its process id. With a `host` other than this machine's, the id is
    /// that host's (or that container's) own.
    pub pid: u32,
    /// The host name its record names (a pod's name in Kubernetes); `None`
    /// when the pid comes from this machine's lock table instead.
    pub host: Option<String>,
    /// How long it has held the lock, when its record says since when.
    pub held_for: Option<Duration>,
}

/// What a holder writes into the lock file once it holds the lock: one
/// JSON line. The lock file is private (0600), and a record is only ever
/// written by the run holding the lock.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Record {
    pid: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    host: Option<String>,
    /// RFC 3339, UTC.
    since: String,
}

/// Writes this process's record into `file`, whose lock it holds: in
/// place (the file is never replaced, which would lose the lock), the old
/// content cut off after it. Best effort: the record only helps a waiting
/// run say who it waits for.
pub(super) fn write_record(file: &File) {
    let record = Record {
        pid: std::process::id(),
        host: this_host(),
        since: time::rfc3339(time::now_unix()),
    };
    let mut line = serde_json::to_vec(&record).unwrap_or_default();
    line.push(b'\n');
    let mut out = file;
    let written = out
        .seek(SeekFrom::Start(0))
        .and_then(|_| out.write_all(&line))
        .and_then(|()| file.set_len(line.len() as u64));
    if let Err(e) = written {
        log::debug!("cannot record this run as the lock's holder: {e}");
    }
}

/// Empties the record, while the lock is still held: a record is then
/// only found while its writer holds the lock (or after it was killed).
pub(super) fn clear_record(file: &File) {
    if let Err(e) = file.set_len(0) {
        log::debug!("cannot clear this run's record from the lock file: {e}");
    }
}

/// Who holds the lock on `file`, which this process could not lock.
///
/// On Linux the kernel's lock table names the holder's pid when it runs on
/// this machine (in this pid namespace); the record adds since when, when
/// it names the same pid. Where the table does not list the holder (NFS
/// with the holder on another machine, a holder in another container, or
/// no `/proc`), the record is taken at its word, unless it names a process
/// of this host that is gone. `None` when neither says: no record (an
/// older cluster-client, or a lock taken by another program) and nothing
/// in the table.
pub(super) fn find(file: &File) -> Option<LockHolder> {
    let record = read_record(file);
    let meta = file.metadata().ok()?;
    if let Some(pid) = kernel_holder(Path::new("/proc/locks"), &meta) {
        return Some(match record {
            Some(record) if record.pid == pid && record.host == this_host() => {
                LockHolder::from(record)
            }
            _ => LockHolder {
                pid,
                host: None,
                held_for: None,
            },
        });
    }
    let record = record?;
    let here = record.host.is_some() && record.host == this_host();
    if here && Path::new("/proc/self").exists() && !process_exists(record.pid) {
        return None;
    }
    Some(LockHolder::from(record))
}

impl From<Record> for LockHolder {
    fn from(record: Record) -> Self {
        let held_for = time::parse_rfc3339(&record.since)
            .map(|since| Duration::from_secs(time::now_unix().saturating_sub(since)));
        Self {
            pid: record.pid,
            host: record.host,
            held_for,
        }
    }
}

fn read_record(file: &File) -> Option<Record> {
    let mut text = Vec::new();
    let mut from = file;
    from.seek(SeekFrom::Start(0)).ok()?;
    from.take(RECORD_MAX).read_to_end(&mut text).ok()?;
    let line = text.split(|&b| b == b'\n').next()?;
    serde_json::from_slice(line).ok()
}

/// This machine's host name (Linux); `None` where it cannot be read.
fn this_host() -> Option<String> {
    let name = std::fs::read_to_string("/proc/sys/kernel/hostname").ok()?;
    Some(name.trim().to_owned()).filter(|n| !n.is_empty())
}

fn process_exists(pid: u32) -> bool {
    Path::new("/proc").join(pid.to_string()).exists()
}

/// The pid of the process holding a `flock` on the file of `meta`, from a
/// `/proc/locks`-format table at `table`; `None` when the table cannot be
/// read or lists no holder of that file visible from here (a holder in
/// another pid namespace is listed with pid 0).
fn kernel_holder(table: &Path, meta: &Metadata) -> Option<u32> {
    let (major, minor, inode) = file_id(meta)?;
    let table = BufReader::new(File::open(table).ok()?);
    table.lines().map_while(Result::ok).find_map(|line| {
        // Note: "1: FLOCK  ADVISORY  WRITE 4242 fd:01:131077 0 EOF"; a
        // waiter's line has "->" after the number, and is not a holder.
        let fields: Vec<&str> = line.split_whitespace().collect();
        let [_, "FLOCK", _, _, pid, id, ..] = fields.as_slice() else {
            return None;
        };
        let mut parts = id.split(':');
        let same_file = parts.next().and_then(|m| u32::from_str_radix(m, 16).ok()) == Some(major)
            && parts.next().and_then(|m| u32::from_str_radix(m, 16).ok()) == Some(minor)
            && parts.next().and_then(|i| i.parse::<u64>().ok()) == Some(inode);
        pid.parse::<u32>().ok().filter(|&p| same_file && p != 0)
    })
}

#[cfg(unix)]
fn file_id(meta: &Metadata) -> Option<(u32, u32, u64)> {
    use std::os::unix::fs::MetadataExt;
    let dev = meta.dev();
    Some((rustix::fs::major(dev), rustix::fs::minor(dev), meta.ino()))
}

#[cfg(not(unix))]
fn file_id(_: &Metadata) -> Option<(u32, u32, u64)> {
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lock_file(dir: &Path) -> File {
        std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(dir.join("journal.json.lock"))
            .expect("open")
    }

    #[test]
    fn a_record_names_this_process_and_reads_back_in_place_of_a_longer_one() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = lock_file(dir.path());
        (&file).write_all(&[b'x'; 300]).expect("old content");
        write_record(&file);
        let text = std::fs::read_to_string(dir.path().join("journal.json.lock")).expect("read");
        assert_eq!(text.lines().count(), 1, "{text:?}");
        let record = read_record(&file).expect("a record");
        assert_eq!(record.pid, std::process::id());
        assert_eq!(record.host, this_host());
        let holder = LockHolder::from(record);
        assert!(
            holder.held_for.expect("since when") < Duration::from_secs(60),
            "{holder:?}"
        );
        clear_record(&file);
        assert_eq!(read_record(&file), None);
        assert_eq!(file.metadata().expect("meta").len(), 0);
    }

    #[test]
    fn a_record_that_does_not_parse_names_nobody() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = lock_file(dir.path());
        for text in [
            "",
            "4242\n",
            "{\"pid\": -1, \"since\": \"x\"}\n",
            "{\"pid\": 7}",
        ] {
            file.set_len(0).expect("truncate");
            (&file).seek(SeekFrom::Start(0)).expect("seek");
            (&file).write_all(text.as_bytes()).expect("write");
            assert_eq!(read_record(&file), None, "{text:?}");
        }
    }

    #[cfg(unix)]
    #[test]
    fn the_kernel_table_names_the_holder_of_this_file_only() {
        use std::os::unix::fs::MetadataExt;
        let dir = tempfile::tempdir().expect("tempdir");
        let meta = lock_file(dir.path()).metadata().expect("meta");
        let (major, minor) = (rustix::fs::major(meta.dev()), rustix::fs::minor(meta.dev()));
        let id = format!("{major:02x}:{minor:02x}:{}", meta.ino());
        let other = format!("{major:02x}:{minor:02x}:{}", meta.ino() + 1);
        let table = dir.path().join("locks");
        let write = |text: String| std::fs::write(&table, text).expect("write table");
        write(format!(
            "1: POSIX  ADVISORY  WRITE 11 {id} 0 EOF\n\
             2: FLOCK  ADVISORY  WRITE 22 {other} 0 EOF\n\
             3: FLOCK  ADVISORY  WRITE 4242 {id} 0 EOF\n\
             3: -> FLOCK  ADVISORY  WRITE 33 {id} 0 EOF\n"
        ));
        assert_eq!(kernel_holder(&table, &meta), Some(4242));
        write(format!("1: FLOCK  ADVISORY  WRITE 0 {id} 0 EOF\n"));
        assert_eq!(kernel_holder(&table, &meta), None, "not visible from here");
        write(format!("1: FLOCK  ADVISORY  WRITE 22 {other} 0 EOF\n"));
        assert_eq!(kernel_holder(&table, &meta), None);
        assert_eq!(kernel_holder(&dir.path().join("missing"), &meta), None);
    }
}
