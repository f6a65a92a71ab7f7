//! Fault rules: which requests to sabotage, how, and how many times.

use std::fmt;
use std::time::Duration;

use crate::Request;

/// What a node does instead of (or after) serving a request normally.
///
/// "Applied" means the request's change (create or delete) is made to the node's groups, exactly
/// as a normal request would; for GET there is nothing to apply. Faults that are "not applied"
/// leave the groups untouched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// Answer this status with `{"error": ...}` without applying the change (e.g. 500, 503, 408).
    Status(u16),
    /// Apply the change, then answer this status instead of the normal one (e.g. 500), so the
    /// client cannot know its write landed.
    ApplyThenStatus(u16),
    /// Read the request and never answer, without applying. The connection is closed (no
    /// response bytes) when [`TestNode::release_hangs`](crate::TestNode::release_hangs),
    /// [`TestNode::stop`](crate::TestNode::stop) or drop wakes it, or after 60 s at the latest.
    Hang,
    /// Apply the change, then hang as [`Fault::Hang`] does.
    ApplyThenHang,
    /// Hang as [`Fault::Hang`] does without applying now, and apply the change later, when
    /// [`TestNode::land_late_writes`](crate::TestNode::land_late_writes) says so, whatever
    /// the client did meanwhile: a handler that waits on a lock and commits after the client
    /// gave up.
    ApplyLate,
    /// Close the connection with a TCP RST (linger 0) without applying; the client's read fails
    /// with "connection reset".
    Reset,
    /// Apply the change, then reset as [`Fault::Reset`] does.
    ApplyThenReset,
    /// Answer 429 without applying, with a `Retry-After` header carrying this exact value (seconds
    /// or an HTTP date) when it is `Some`, and no such header when it is `None`.
    TooManyRequests {
        /// The raw `Retry-After` header value.
        retry_after: Option<String>,
    },
    /// Serve normally (applying the change) but only after this extra delay, on top of any
    /// latency set with [`TestNode::set_latency`](crate::TestNode::set_latency).
    Delay(Duration),
    /// Answer 307 Temporary Redirect with this `Location`, without applying.
    Redirect(String),
    /// Answer this redirect status (301, 302, 303, 307 or 308) with this `Location`, without
    /// applying.
    RedirectStatus {
        /// Status code to send.
        status: u16,
        /// The `Location` header value.
        location: String,
    },
    /// Send the status line and headers at once, promising a 1 MiB body with `Content-Length`,
    /// then dribble that body one byte every `every`, without applying. The drip stops when the
    /// peer closes, the node is stopped or dropped, or after 60 s at the latest; the connection
    /// is then closed with the body unfinished. Tests a client's time limit on a whole answer.
    Drip {
        /// Status code to send.
        status: u16,
        /// The pause before each body byte.
        every: Duration,
    },
    /// Answer this canned response without applying: any status, any content type, any bytes
    /// (which need not be JSON or even UTF-8).
    Body {
        /// Status code to send.
        status: u16,
        /// `Content-Type` header value.
        content_type: String,
        /// Raw body bytes; `Content-Length` is set to their length.
        body: Vec<u8>,
    },
    /// Apply the change, then answer this canned response as [`Fault::Body`] does: a node
    /// whose status tells the truth while its body is odd (wrong type, not JSON, another id).
    ApplyThenBody {
        /// Status code to send.
        status: u16,
        /// `Content-Type` header value.
        content_type: String,
        /// Raw body bytes; `Content-Length` is set to their length.
        body: Vec<u8>,
    },
    /// Send these bytes verbatim instead of a response, without applying, then close the
    /// connection: an answer that is not HTTP at all, or HTTP no client should accept.
    Raw(Vec<u8>),
}

impl Fault {
    /// Whether this fault makes the request's change before misbehaving.
    pub fn applies(&self) -> bool {
        matches!(
            self,
            Fault::ApplyThenStatus(_)
                | Fault::ApplyThenHang
                | Fault::ApplyThenReset
                | Fault::ApplyThenBody { .. }
                | Fault::Delay(_)
        )
    }
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Fault::Status(code) => write!(f, "{code} without applying"),
            Fault::ApplyThenStatus(code) => write!(f, "{code} after applying"),
            Fault::Hang => f.write_str("hang without applying"),
            Fault::ApplyThenHang => f.write_str("hang after applying"),
            Fault::ApplyLate => f.write_str("hang, and apply later"),
            Fault::Reset => f.write_str("reset without applying"),
            Fault::ApplyThenReset => f.write_str("reset after applying"),
            Fault::TooManyRequests { retry_after: None } => f.write_str("429"),
            Fault::TooManyRequests {
                retry_after: Some(after),
            } => write!(f, "429 with Retry-After: {after}"),
            Fault::Delay(d) => write!(f, "delay {d:?}"),
            Fault::Redirect(location) => write!(f, "307 to {location}"),
            Fault::RedirectStatus { status, location } => write!(f, "{status} to {location}"),
            Fault::Drip { status, every } => write!(f, "{status} dripping a byte every {every:?}"),
            Fault::Body {
                status,
                content_type,
                body,
            } => write!(f, "{status} canned {content_type} ({} bytes)", body.len()),
            Fault::ApplyThenBody {
                status,
                content_type,
                body,
            } => write!(
                f,
                "{status} canned {content_type} ({} bytes) after applying",
                body.len()
            ),
            Fault::Raw(bytes) => write!(f, "{} raw bytes, then close", bytes.len()),
        }
    }
}

/// A fault plus the requests it applies to. Built with [`Rule::new`] and narrowed with the
/// builder methods; filters combine with AND.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    pub(crate) fault: Fault,
    method: Option<String>,
    group: Option<String>,
    remaining: Option<usize>,
}

impl Rule {
    /// A rule that injects `fault` into every request, forever (including requests to unknown
    /// paths and unparseable bodies).
    pub fn new(fault: Fault) -> Rule {
        Rule {
            fault,
            method: None,
            group: None,
            remaining: None,
        }
    }

    /// Only requests with this method, compared ASCII case-insensitively (`"post"` matches
    /// `POST`).
    pub fn method(mut self, method: &str) -> Rule {
        self.method = Some(method.to_owned());
        self
    }

    /// Only requests whose decoded group id (see [`Request::group`]) equals `id` exactly.
    /// Requests without a group id (bad JSON, unknown paths) never match.
    pub fn group(mut self, id: &str) -> Rule {
        self.group = Some(id.to_owned());
        self
    }

    /// Only the next `n` matching requests; after that the rule is spent and skipped.
    /// `times(0)` makes a rule that never fires.
    pub fn times(mut self, n: usize) -> Rule {
        self.remaining = Some(n);
        self
    }

    /// Whether the rule is still live and its filters accept `request`.
    pub(crate) fn matches(&self, request: &Request) -> bool {
        self.remaining != Some(0)
            && self
                .method
                .as_ref()
                .is_none_or(|m| m.eq_ignore_ascii_case(&request.method))
            && self
                .group
                .as_ref()
                .is_none_or(|g| request.group.as_ref() == Some(g))
    }

    /// Counts one firing; returns whether the rule is now spent.
    pub(crate) fn fire(&mut self) -> bool {
        if let Some(n) = &mut self.remaining {
            *n = n.saturating_sub(1);
        }
        self.remaining == Some(0)
    }
}
