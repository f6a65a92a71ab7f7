//! Run metrics in the Prometheus text format, for the node_exporter textfile collector.
//!
//! [`RunMetrics`] renders one run's numbers, the request counts as the
//! transport reports them ([`RequestCounts`]); [`write_atomic`] replaces the
//! metrics file the way the textfile collector expects (never half-written).
//!
//! The pending series are always written, so an alert on them cannot go
//! silent: when the run did not read the journal itself (it failed before),
//! [`Backlog::read`] reads it without its lock, and a journal that cannot be
//! read shows as `cluster_client_journal_unreadable` with the pending series
//! NaN. The request counts are the last run's, and are gauges named so.

use std::fmt::Write as _;
use std::io;
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use cluster_client::journal::{Entry, Kind};
use cluster_client::transport::RequestCounts;

/// What the pending gauges show of the journal (or journals) after a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backlog {
    /// How many repairs are pending in the journals that were read.
    pub count: usize,
    /// How many verifications are pending (nodes that may still apply a
    /// write of ours late).
    pub verifying: usize,
    /// When the oldest repair or verification was recorded (Unix seconds);
    /// `None` when none is pending.
    pub oldest: Option<u64>,
    /// How many journals could not be read; while any could not, the
    /// pending gauges claim nothing (NaN).
    pub unreadable: usize,
}

impl Backlog {
    /// The backlog of the journal's `entries` (watches are not pending).
    pub fn of(entries: &[Entry]) -> Self {
        Self {
            count: entries.iter().filter(|e| e.kind == Kind::Repair).count(),
            verifying: entries.iter().filter(|e| e.kind == Kind::Verify).count(),
            oldest: entries
                .iter()
                .filter(|e| e.is_pending())
                .map(|e| e.recorded_at)
                .min(),
            unreadable: 0,
        }
    }

    /// The backlog of `journals` journals that could not be read.
    pub fn unreadable(journals: usize) -> Self {
        Self {
            count: 0,
            verifying: 0,
            oldest: None,
            unreadable: journals,
        }
    }

    /// The backlog of several journals together.
    pub fn sum(backlogs: &[Self]) -> Self {
        Self {
            count: backlogs.iter().map(|b| b.count).sum(),
            verifying: backlogs.iter().map(|b| b.verifying).sum(),
            oldest: backlogs.iter().filter_map(|b| b.oldest).min(),
            unreadable: backlogs.iter().map(|b| b.unreadable).sum(),
        }
    }

    /// The backlog of the journal at `path`, read as it is on disk,
    /// without its lock and creating nothing. No journal file is an empty
    /// backlog, and so is the default journal's directory that does not
    /// exist yet (`default`); anything that cannot be read is one
    /// unreadable journal.
    pub fn read(path: &Path, default: bool) -> Self {
        match cluster_client::journal::read_snapshot(path) {
            Ok(entries) => Self::of(entries.as_deref().unwrap_or_default()),
            Err(cluster_client::error::JournalError::MissingDirectory { .. }) if default => {
                Self::of(&[])
            }
            Err(_) => Self::unreadable(1),
        }
    }
}

/// What the metrics file says about one run.
#[derive(Debug, Clone)]
pub struct RunMetrics<'a> {
    /// The subcommand: `create`, `delete`, `status`, `rollback`, `journal list`, ...
    pub command: &'a str,
    /// The process exit status.
    pub exit_status: u8,
    /// When the run ended.
    pub finished: SystemTime,
    /// How long it took.
    pub duration: Duration,
    /// The journal's backlog after the run.
    pub pending: Backlog,
    /// Requests and retries sent.
    pub counters: &'a RequestCounts,
}

impl RunMetrics<'_> {
    /// The Prometheus text exposition format (version 0.0.4), HELP and TYPE
    /// lines included; ends with a newline.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let now = unix_seconds(self.finished);
        self.render_pending(&mut out, now);
        self.render_last_run(&mut out, now);
        self.render_requests(&mut out);
        out
    }

    /// The journal's gauges: always written; NaN while a journal could not
    /// be read, which `cluster_client_journal_unreadable` counts.
    fn render_pending(&self, out: &mut String, now: f64) {
        let backlog = self.pending;
        let known = backlog.unreadable == 0;
        let (count, verifying, age) = if known {
            let age = backlog
                .oldest
                .map_or(0, |at| (now as u64).saturating_sub(at));
            (
                backlog.count.to_string(),
                backlog.verifying.to_string(),
                age.to_string(),
            )
        } else {
            ("NaN".to_owned(), "NaN".to_owned(), "NaN".to_owned())
        };
        for (name, help, value) in [
            (
                "cluster_client_pending_repairs",
                "Repairs pending in the journal after the last run; NaN when a journal could \
                 not be read.",
                count,
            ),
            (
                "cluster_client_pending_verifications",
                "Nodes that may still apply a write of ours late (until the settle horizon) \
                 after the last run, which every replay reads; NaN when a journal could not be \
                 read.",
                verifying,
            ),
            (
                "cluster_client_oldest_pending_repair_age_seconds",
                "Age of the oldest pending repair or verification after the last run; 0 when \
                 none is pending, NaN when a journal could not be read.",
                age,
            ),
            (
                "cluster_client_journal_unreadable",
                "Journals the last run could not read (refused, corrupt, or a directory that \
                 does not exist); 0 when every one was read.",
                backlog.unreadable.to_string(),
            ),
        ] {
            family(out, name, "gauge", help);
            let _ = writeln!(out, "{name} {value}");
        }
    }

    /// The last run's exit status, end time and duration, by command.
    fn render_last_run(&self, out: &mut String, now: f64) {
        let command = format!("command=\"{}\"", escape_label(self.command));
        for (name, help, value) in [
            (
                "cluster_client_last_run_exit_status",
                "Exit status of the last run.",
                f64::from(self.exit_status),
            ),
            (
                "cluster_client_last_run_timestamp_seconds",
                "When the last run ended, in seconds since the Unix epoch.",
                now,
            ),
            (
                "cluster_client_last_run_duration_seconds",
                "How long the last run took.",
                self.duration.as_secs_f64(),
            ),
        ] {
            family(out, name, "gauge", help);
            let _ = writeln!(out, "{name}{{{command}}} {value}");
        }
    }

    /// The last run's request attempts by method and outcome, and its
    /// retries.
    // Note: gauges of the last run, not counters: the file is rewritten by
    // every run, so a counter would reset each time and `increase()` would
    // miscount; one that accumulated would have to read the previous file
    // back (state beside the journal, racing runs that share the file).
    fn render_requests(&self, out: &mut String) {
        family(
            out,
            "cluster_client_last_run_requests",
            "gauge",
            "Request attempts the last run sent, by method and outcome.",
        );
        for method in RequestCounts::METHODS {
            for outcome in RequestCounts::OUTCOMES {
                let _ = writeln!(
                    out,
                    "cluster_client_last_run_requests{{method=\"{}\",outcome=\"{}\"}} {}",
                    escape_label(method),
                    escape_label(outcome),
                    self.counters.requests(method, outcome)
                );
            }
        }
        family(
            out,
            "cluster_client_last_run_retries",
            "gauge",
            "Attempts beyond the first of each request in the last run.",
        );
        let _ = writeln!(
            out,
            "cluster_client_last_run_retries {}",
            self.counters.retries()
        );
    }
}

fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

fn unix_seconds(at: SystemTime) -> f64 {
    at.duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| (d.as_millis() as f64) / 1000.0)
}

/// A label value as the text format wants it: backslash, double quote and
/// line feed escaped.
pub fn escape_label(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

/// Replaces `path` with `contents` atomically and durably, mode 0644 (the
/// collector usually runs as another user; the file holds no secret). A
/// reader sees the old file or the new one, never a part.
// Note: the textfile collector reads only `*.prom`, so a temp file that a
// crash leaves behind (`.<name>.*.tmp`) is never read as metrics.
pub fn write_atomic(path: &Path, contents: &str) -> io::Result<()> {
    cluster_client::journal::replace_durably(path, contents.as_bytes(), Some(0o644))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(escape_label("a\\b\"c\nd"), "a\\\\b\\\"c\\nd");
    }

    #[test]
    fn pending_gauges_are_nan_and_named_unreadable_when_the_journal_is_unknown() {
        let counters = RequestCounts::default();
        let metrics = RunMetrics {
            command: "rollback",
            exit_status: 2,
            finished: UNIX_EPOCH + Duration::from_millis(1_500),
            duration: Duration::from_millis(250),
            pending: Backlog::unreadable(1),
            counters: &counters,
        };
        let text = metrics.render();
        assert!(
            text.contains("\ncluster_client_pending_repairs NaN\n"),
            "{text}"
        );
        assert!(
            text.contains("\ncluster_client_journal_unreadable 1\n"),
            "{text}"
        );
        assert!(text.contains("cluster_client_last_run_exit_status{command=\"rollback\"} 2\n"));
        assert!(
            text.contains("cluster_client_last_run_timestamp_seconds{command=\"rollback\"} 1.5\n")
        );
        assert!(
            text.contains("cluster_client_last_run_duration_seconds{command=\"rollback\"} 0.25\n")
        );
        assert!(
            text.ends_with("cluster_client_last_run_retries 0\n"),
            "{text}"
        );
    }

    #[test]
    fn write_atomic_replaces_the_file_and_leaves_no_temp_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("cluster_client.prom");
        std::fs::write(&path, "old").expect("write");
        write_atomic(&path, "new\n").expect("write metrics");
        assert_eq!(std::fs::read_to_string(&path).expect("read"), "new\n");
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .expect("list")
            .map(|e| e.expect("entry").file_name())
            .collect();
        assert_eq!(names, [std::ffi::OsString::from("cluster_client.prom")]);
    }
}
