//! Run metrics in the Prometheus text format, for the node_exporter textfile collector.
//!
//! [`Counting`] wraps a [`Transport`] and counts every attempt it sends;
//! [`RunMetrics`] renders one run's numbers; [`write_atomic`] replaces the
//! metrics file the way the textfile collector expects (never half-written).

use std::fmt::Write as _;
use std::io;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use cluster_client::journal::Entry;
use cluster_client::retry::RetryPolicy;
use cluster_client::transport::{Abandon, Failure, FailureKind, Reply, Transport};
use cluster_client::vocab::change::Action;
use cluster_client::vocab::group::GroupId;
use cluster_client::vocab::hosts::Node;

/// The request methods counted, in the order they are written.
const METHODS: [Action; 3] = [Action::Read, Action::Create, Action::Delete];

/// The outcomes of one attempt, in the order they are written: a status
/// class, or why no answer came.
const OUTCOMES: [&str; 10] = [
    "1xx",
    "2xx",
    "3xx",
    "4xx",
    "5xx",
    "timeout",
    "connect",
    "broken",
    "abandoned",
    "permanent",
];

/// Request and retry counts of one run, shared by every thread that sends.
#[derive(Debug, Default)]
pub struct Counters {
    /// Attempts by method (index into [`METHODS`]) and outcome (index into [`OUTCOMES`]).
    requests: [[AtomicU64; OUTCOMES.len()]; METHODS.len()],
    retries: AtomicU64,
}

impl Counters {
    fn record(&self, action: Action, result: &Result<Reply, Failure>) {
        let method = METHODS.iter().position(|m| *m == action).unwrap_or(0);
        let outcome = match result {
            Ok(reply) => match reply.status {
                100..=199 => 0,
                200..=299 => 1,
                300..=399 => 2,
                400..=499 => 3,
                // Note: a status outside 100..=599 is a broken answer; it is
                // counted with the 5xx, as the retry policy treats it.
                _ => 4,
            },
            Err(failure) => match failure.kind {
                FailureKind::Timeout => 5,
                FailureKind::Connect => 6,
                FailureKind::Broken => 7,
                FailureKind::Abandoned => 8,
                FailureKind::Permanent => 9,
            },
        };
        self.requests[method][outcome].fetch_add(1, Ordering::Relaxed);
    }

    /// Attempts sent so far with `method` that ended in `outcome`.
    pub fn requests(&self, method: &str, outcome: &str) -> u64 {
        let m = METHODS.iter().position(|a| a.method() == method);
        let o = OUTCOMES.iter().position(|x| *x == outcome);
        match (m, o) {
            (Some(m), Some(o)) => self.requests[m][o].load(Ordering::Relaxed),
            _ => 0,
        }
    }

    /// Attempts beyond the first of each request.
    pub fn retries(&self) -> u64 {
        self.retries.load(Ordering::Relaxed)
    }
}

/// A [`Transport`] that counts every attempt into shared [`Counters`] and
/// passes it on unchanged.
#[derive(Debug)]
pub struct Counting<T> {
    inner: T,
    counters: Arc<Counters>,
}

/// The last attempt a thread sent: into which counters, what it asked, and
/// whether the retry policy would try it again.
type LastAttempt = Option<(usize, Node, Action, GroupId, bool)>;

thread_local! {
    static LAST: std::cell::RefCell<LastAttempt> = const { std::cell::RefCell::new(None) };
}

impl<T: Transport> Counting<T> {
    /// Wraps `inner`; its attempts are counted into `counters`.
    pub fn new(inner: T, counters: Arc<Counters>) -> Self {
        Self { inner, counters }
    }

    // Note: a retry is an attempt that follows, on the same thread, an
    // attempt of the same request (node, method, group) whose outcome the
    // retry policy retries. The retrier sends every attempt of one request
    // from one thread, and the engine never sends the same request twice in
    // a row on its own (a failed write is followed by a read, a failed repair
    // by a read or another entry), so this counts retries exactly without
    // changing the Transport trait.
    fn count(&self, node: &Node, action: Action, group: &GroupId, result: &Result<Reply, Failure>) {
        self.counters.record(action, result);
        let retryable = match result {
            Ok(reply) => RetryPolicy::is_retryable_status(reply.status),
            Err(failure) => failure.kind != FailureKind::Abandoned,
        };
        let counters = Arc::as_ptr(&self.counters) as usize;
        LAST.with(|last| {
            let mut last = last.borrow_mut();
            if let Some((c, n, a, g, true)) = last.as_ref()
                && *c == counters
                && n == node
                && *a == action
                && g == group
            {
                self.counters.retries.fetch_add(1, Ordering::Relaxed);
            }
            *last = Some((counters, node.clone(), action, group.clone(), retryable));
        });
    }
}

impl<T: Transport> Transport for Counting<T> {
    fn send(&self, node: &Node, action: Action, group: &GroupId) -> Result<Reply, Failure> {
        let result = self.inner.send(node, action, group);
        self.count(node, action, group, &result);
        result
    }

    fn send_abandoning(
        &self,
        node: &Node,
        action: Action,
        group: &GroupId,
        abandon: Abandon<'_>,
    ) -> Result<Reply, Failure> {
        let result = self.inner.send_abandoning(node, action, group, abandon);
        self.count(node, action, group, &result);
        result
    }
}

/// What the pending gauges show of the journal after a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backlog {
    /// How many repairs are pending.
    pub count: usize,
    /// When the oldest was recorded (Unix seconds); `None` when none is.
    pub oldest: Option<u64>,
}

impl Backlog {
    /// The backlog of the journal's `entries`.
    pub fn of(entries: &[Entry]) -> Self {
        Self {
            count: entries.len(),
            oldest: entries.iter().map(|e| e.recorded_at).min(),
        }
    }

    /// The backlog of several journals together.
    pub fn sum(backlogs: &[Self]) -> Self {
        Self {
            count: backlogs.iter().map(|b| b.count).sum(),
            oldest: backlogs.iter().filter_map(|b| b.oldest).min(),
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
    /// The journal's backlog after the run; `None` when the journal could
    /// not be opened or read (the pending gauges are then left out rather
    /// than claimed to be 0).
    pub pending: Option<Backlog>,
    /// Requests and retries sent.
    pub counters: &'a Counters,
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

    /// The journal's gauges, when the run read the journal.
    fn render_pending(&self, out: &mut String, now: f64) {
        let Some(backlog) = self.pending else { return };
        let age = backlog
            .oldest
            .map_or(0, |at| (now as u64).saturating_sub(at));
        family(
            out,
            "cluster_client_pending_repairs",
            "gauge",
            "Repairs pending in the journal after the last run.",
        );
        let _ = writeln!(out, "cluster_client_pending_repairs {}", backlog.count);
        family(
            out,
            "cluster_client_oldest_pending_repair_age_seconds",
            "gauge",
            "Age of the oldest pending repair after the last run; 0 when none is pending.",
        );
        let _ = writeln!(
            out,
            "cluster_client_oldest_pending_repair_age_seconds {age}"
        );
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

    /// Request attempts by method and outcome, and retries.
    fn render_requests(&self, out: &mut String) {
        family(
            out,
            "cluster_client_requests_total",
            "counter",
            "Request attempts the last run sent, by method and outcome.",
        );
        for action in METHODS {
            for outcome in OUTCOMES {
                let _ = writeln!(
                    out,
                    "cluster_client_requests_total{{method=\"{}\",outcome=\"{}\"}} {}",
                    escape_label(action.method()),
                    escape_label(outcome),
                    self.counters.requests(action.method(), outcome)
                );
            }
        }
        family(
            out,
            "cluster_client_retries_total",
            "counter",
            "Attempts beyond the first of each request in the last run.",
        );
        let _ = writeln!(
            out,
            "cluster_client_retries_total {}",
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

    use cluster_client::retry::{Mode, Retrier};
    use cluster_client::sim::Scripted;
    use cluster_client::vocab::cancel::Cancel;

    fn reply(status: u16) -> Result<Reply, Failure> {
        Ok(Reply::status(status))
    }

    #[test]
    fn retries_are_attempts_beyond_the_first_of_each_request() {
        let timeout = Err(Failure {
            kind: FailureKind::Timeout,
            message: "timed out".to_owned(),
        });
        let script = vec![
            // A POST: 503, a time-out, then 201: two retries.
            reply(503),
            timeout,
            reply(201),
            // A GET of the same node and group after it: a new request.
            reply(404),
            // Another GET: a new request too, as the last one was final.
            reply(200),
            // A DELETE answered 400 (final), then the same DELETE again as a new request.
            reply(400),
            reply(200),
        ];
        let counters = Arc::new(Counters::default());
        let transport = Counting::new(Scripted::new(script), Arc::clone(&counters));
        let policy = RetryPolicy {
            retries: 3,
            backoff: Duration::ZERO,
            max_backoff: Duration::ZERO,
        };
        let cancel = Cancel::new();
        let retrier = Retrier::new(&transport, &policy, &cancel);
        let node = Node::parse("n1:80").expect("node");
        let group = GroupId::new("g").expect("group");
        for action in [
            Action::Create,
            Action::Read,
            Action::Read,
            Action::Delete,
            Action::Delete,
        ] {
            retrier.call(&node, action, &group, Mode::Forward);
        }
        assert_eq!(counters.retries(), 2);
        assert_eq!(counters.requests("POST", "5xx"), 1);
        assert_eq!(counters.requests("POST", "timeout"), 1);
        assert_eq!(counters.requests("POST", "2xx"), 1);
        assert_eq!(counters.requests("GET", "4xx"), 1);
        assert_eq!(counters.requests("GET", "2xx"), 1);
        assert_eq!(counters.requests("DELETE", "4xx"), 1);
        assert_eq!(counters.requests("DELETE", "2xx"), 1);
    }

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(escape_label("a\\b\"c\nd"), "a\\\\b\\\"c\\nd");
    }

    #[test]
    fn pending_gauges_are_left_out_when_the_journal_is_unknown() {
        let counters = Counters::default();
        let metrics = RunMetrics {
            command: "rollback",
            exit_status: 2,
            finished: UNIX_EPOCH + Duration::from_millis(1_500),
            duration: Duration::from_millis(250),
            pending: None,
            counters: &counters,
        };
        let text = metrics.render();
        assert!(!text.contains("cluster_client_pending_repairs"), "{text}");
        assert!(text.contains("cluster_client_last_run_exit_status{command=\"rollback\"} 2\n"));
        assert!(
            text.contains("cluster_client_last_run_timestamp_seconds{command=\"rollback\"} 1.5\n")
        );
        assert!(
            text.contains("cluster_client_last_run_duration_seconds{command=\"rollback\"} 0.25\n")
        );
        assert!(text.ends_with("cluster_client_retries_total 0\n"), "{text}");
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
