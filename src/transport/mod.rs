//! The network seam: one request attempt to one node (the `Transport` trait), and its reqwest
//! implementation.
//!
//! One file per job: `http` (the clients, one attempt and its hops), `workers` (threads that
//! let a caller abandon an attempt on a signal), `redirect` (which hops are followed), `auth`
//! (where the token goes, and the warnings when it crosses http or a proxy), `proxy` (the
//! proxy decision), `tls` (the CA bundle), `answer` (reading and logging a response),
//! `failure` (a failed attempt in people's words) and `counted` (attempt and retry counts for
//! a caller's metrics). Imports only the vocabulary: never the journal or the engine.

use std::fmt;
use std::time::{Duration, Instant};

use crate::vocab::cancel::Cancel;
use crate::vocab::change::Action;
use crate::vocab::group::GroupId;
use crate::vocab::hosts::Node;

mod answer;
mod auth;
mod counted;
mod failure;
mod http;
mod proxy;
mod redirect;
#[cfg(test)]
mod tests;
mod tls;
mod workers;

pub use answer::parse_retry_after;
pub use counted::{Counted, RequestCounts};
pub use http::{HttpSettings, HttpTransport};

/// The most bytes of a response body that are read; the rest is discarded
/// with the connection. Bodies are logged, and a 200 to a read is checked to
/// name the group (see [`Reply::unconfirmed`]); nothing else is taken from them.
pub const MAX_BODY_BYTES: u64 = 64 * 1024;

/// A response that arrived, whatever its status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// The HTTP status code.
    pub status: u16,
    /// The `Retry-After` header turned into a delay from now; `None` when it
    /// was absent or unparseable, `Some(ZERO)` for a date in the past.
    pub retry_after: Option<Duration>,
    /// For a redirect (3xx) that was not followed, why not, naming the
    /// `Location` (escaped): another origin or path, a loop, or a method it
    /// may not be followed for. `None` for every other answer.
    pub redirect: Option<String>,
    /// For a 200 to a read whose body does not show the group is there (it
    /// is neither empty nor JSON naming the same `groupId`: an HTML sign-in
    /// page, another id), why, quoting the body (escaped). Such an answer
    /// says nothing about the group, so the node counts as unreadable.
    /// `None` for every other answer.
    pub unconfirmed: Option<String>,
}

impl Reply {
    /// A plain answer with this status: no `Retry-After`, no refused
    /// redirect, a body that does not contradict it.
    pub fn status(status: u16) -> Self {
        Self {
            status,
            retry_after: None,
            redirect: None,
            unconfirmed: None,
        }
    }

    /// Whether this answers a read with "the group is there": a 200 whose
    /// body does not say otherwise.
    pub fn confirms_presence(&self) -> bool {
        self.status == 200 && self.unconfirmed.is_none()
    }

    /// "HTTP 307 Temporary Redirect", with the reason the redirect was not
    /// followed, or why a 200 does not count, when there is one.
    pub fn describe(&self) -> String {
        let mut text = describe_status(self.status);
        for why in [&self.redirect, &self.unconfirmed].into_iter().flatten() {
            text.push_str(": ");
            text.push_str(why);
        }
        text
    }
}

/// "HTTP 500 Internal Server Error": the status with its standard reason
/// phrase, or just the number for a status that has none.
pub fn describe_status(status: u16) -> String {
    match reqwest::StatusCode::from_u16(status)
        .ok()
        .and_then(|code| code.canonical_reason())
    {
        Some(reason) => format!("HTTP {status} {reason}"),
        None => format!("HTTP {status}"),
    }
}

/// Why no response arrived.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureKind {
    /// No connection was made (refused, a DNS failure that may pass, connect
    /// timeout): nothing was sent.
    Connect,
    /// No connection was made, and retrying cannot help: the host name does
    /// not exist, or the node's TLS certificate was rejected. Nothing was
    /// sent; not retried.
    Permanent,
    /// The connection was made but no answer came in time.
    Timeout,
    /// The connection broke (reset, closed early, garbled response).
    Broken,
    /// The run was interrupted while the request was in flight, and the
    /// client stopped waiting for the answer: the node may have applied it.
    Abandoned,
}

/// A failed attempt with no HTTP response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// What kind of failure this was.
    pub kind: FailureKind,
    /// The error chain, for logs and reports.
    pub message: String,
}

impl Failure {
    /// Whether the node may have received and applied the request.
    pub fn may_have_applied(&self) -> bool {
        !matches!(self.kind, FailureKind::Connect | FailureKind::Permanent)
    }

    /// Whether another attempt could turn out differently.
    pub fn is_retryable(&self) -> bool {
        !matches!(self.kind, FailureKind::Permanent | FailureKind::Abandoned)
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// Sends single request attempts. Retrying is not its job (see `retry`).
///
/// The engine talks only to this trait, so tests can drive it with a
/// scripted cluster instead of the network.
pub trait Transport: Send + Sync {
    /// Sends one attempt of `action` for `group` to `node`.
    fn send(&self, node: &Node, action: Action, group: &GroupId) -> Result<Reply, Failure>;

    /// Sends one attempt like [`Transport::send`], but stops waiting for the
    /// answer once `abandon` is due and returns a [`FailureKind::Abandoned`]
    /// failure. The default waits for `send`: right for a transport that
    /// answers at once, such as a simulated one.
    fn send_abandoning(
        &self,
        node: &Node,
        action: Action,
        group: &GroupId,
        abandon: Abandon<'_>,
    ) -> Result<Reply, Failure> {
        let _ = abandon;
        self.send(node, action, group)
    }

    /// Sends one attempt of each of `requests` (node, action, group) at
    /// once, each like [`Transport::send_abandoning`], and calls `answered`
    /// with a request's index and result as soon as it has one (from any
    /// thread, in any order); returns once every request is answered.
    ///
    /// The default sends each on a thread of its own (see
    /// [`crate::vocab::fanout`]), so attempts that block still run side by
    /// side; a transport that can send without a thread per attempt does so.
    fn send_each(
        &self,
        requests: &[(&Node, Action, &GroupId)],
        abandon: Abandon<'_>,
        answered: &(dyn Fn(usize, Result<Reply, Failure>) + Sync),
    ) {
        let indexes: Vec<usize> = (0..requests.len()).collect();
        crate::vocab::fanout::fan_out(
            &indexes,
            indexes.len(),
            || false,
            |&index| {
                let (node, action, group) = requests[index];
                answered(index, self.send_abandoning(node, action, group, abandon));
            },
        );
    }

    /// Told by the retry policy just before it sends an attempt that retries
    /// the one before it (same node, action and group), so that a counting
    /// transport counts retries exactly. The default does nothing.
    fn note_retry(&self) {}
}

/// When a request in flight is given up: `after` has passed since `cancel`
/// fired. Never while the run is not cancelled.
#[derive(Debug, Clone, Copy)]
pub struct Abandon<'a> {
    /// The run's cancel flag.
    pub cancel: &'a Cancel,
    /// How long after the cancel the request may still run.
    pub after: Duration,
}

impl Abandon<'_> {
    /// When the request must be given up; `None` while the run is not cancelled.
    pub fn due(&self) -> Option<Instant> {
        self.cancel.cancelled_at().map(|at| at + self.after)
    }
}

/// The HTTP client could not be built: an unusable CA file, or a token an
/// HTTP header cannot carry. The message names the file (never the token)
/// and says what to fix.
#[derive(Debug, thiserror::Error)]
#[error("cannot set up the HTTP client: {0}")]
pub struct SetupError(String);
