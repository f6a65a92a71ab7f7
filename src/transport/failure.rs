//! A failed attempt in the words people use ("connection refused"), and whether it may have
//! reached the node or may pass on a retry.

use std::time::Duration;

use super::answer::escape_for_log;
use super::http::{HttpTransport, seconds};
use super::{Failure, FailureKind};
use crate::vocab::change::Action;
use crate::vocab::group::GroupId;
use crate::vocab::hosts::Node;

impl HttpTransport {
    /// A failed attempt as people say it ("connection refused"); the whole
    /// error chain goes to the debug log (`-vv`).
    pub(super) fn classify(
        &self,
        node: &Node,
        action: Action,
        group: &GroupId,
        error: reqwest::Error,
    ) -> Failure {
        // Note: the node's URL is already in every log line.
        let error = error.without_url();
        let chain = error_chain(&error);
        log::debug!("{node}: {action} {group:?}: {chain}");
        summarise(&error, &chain, self.timeout)
    }
}

/// What went wrong, in the words people use, and whether retrying may help.
/// Looks at the whole source chain: the io::ErrorKind where an io::Error is
/// in it, otherwise the texts hyper, hyper-util and rustls are known to use.
fn summarise(error: &reqwest::Error, chain: &str, timeout: Duration) -> Failure {
    let lower = chain.to_ascii_lowercase();
    let io_kind = io_error_kind(error);
    // Note: a time-out first: reqwest reports its own deadline as a timeout
    // whatever layer it cut short.
    timed_out(error, io_kind, timeout)
        .or_else(|| dns_failure(&lower))
        .or_else(|| untrusted_certificate(chain, &lower))
        .or_else(|| connection_failure(error, io_kind))
        .or_else(|| connect_failure(error, chain, &lower))
        .unwrap_or_else(|| broken_answer(chain, &lower))
}

/// `Connect` when the failure happened while connecting (nothing was sent),
/// otherwise `other`.
fn connect_or(error: &reqwest::Error, other: FailureKind) -> FailureKind {
    if error.is_connect() {
        FailureKind::Connect
    } else {
        other
    }
}

/// A time-out, while connecting or of the whole attempt.
fn timed_out(
    error: &reqwest::Error,
    io_kind: Option<std::io::ErrorKind>,
    timeout: Duration,
) -> Option<Failure> {
    if !(error.is_timeout() || io_kind == Some(std::io::ErrorKind::TimedOut)) {
        return None;
    }
    let kind = connect_or(error, FailureKind::Timeout);
    let what = if kind == FailureKind::Connect {
        "connecting timed out"
    } else {
        "timed out"
    };
    Some(Failure {
        kind,
        message: format!("{what} after {}", seconds(timeout)),
    })
}

/// A host name that did not resolve.
fn dns_failure(lower: &str) -> Option<Failure> {
    if !(lower.contains("dns error") || lower.contains("failed to lookup address")) {
        return None;
    }
    // Note: EAI_AGAIN ("temporary failure in name resolution") may pass;
    // a name that does not exist will not.
    let (kind, message) = if lower.contains("temporary failure") || lower.contains("try again") {
        (
            FailureKind::Connect,
            "DNS: temporary failure in name resolution",
        )
    } else {
        (FailureKind::Permanent, "DNS: no such host")
    };
    Some(Failure {
        kind,
        message: message.to_owned(),
    })
}

/// A node certificate rustls rejected, with what to do about it.
fn untrusted_certificate(chain: &str, lower: &str) -> Option<Failure> {
    let at = lower.find("invalid peer certificate")?;
    let detail = chain[at + "invalid peer certificate".len()..]
        .trim_start_matches([':', ' '])
        .split(": ")
        .next()
        .unwrap_or_default();
    Some(Failure {
        kind: FailureKind::Permanent,
        message: format!(
            "TLS: certificate not trusted ({})",
            certificate_hint(detail)
        ),
    })
}

/// A connection the OS says was refused, reset or closed.
fn connection_failure(
    error: &reqwest::Error,
    io_kind: Option<std::io::ErrorKind>,
) -> Option<Failure> {
    use std::io::ErrorKind;
    let (kind, message) = match io_kind? {
        ErrorKind::ConnectionRefused => (FailureKind::Connect, "connection refused"),
        ErrorKind::ConnectionReset => (
            connect_or(error, FailureKind::Broken),
            "connection reset by peer",
        ),
        ErrorKind::ConnectionAborted | ErrorKind::BrokenPipe => (
            connect_or(error, FailureKind::Broken),
            "connection closed by the node",
        ),
        _ => return None,
    };
    Some(Failure {
        kind,
        message: message.to_owned(),
    })
}

/// Any other failure to connect: a TLS handshake, or what the OS said.
fn connect_failure(error: &reqwest::Error, chain: &str, lower: &str) -> Option<Failure> {
    if !error.is_connect() {
        return None;
    }
    let cause = escape_for_log(last_cause(chain)).into_owned();
    let message = if lower.contains("tls") || lower.contains("alert") {
        format!("TLS: handshake failed ({cause})")
    } else {
        format!("cannot connect ({cause})")
    };
    Some(Failure {
        kind: FailureKind::Connect,
        message,
    })
}

/// A failure once connected: the answer was cut short, is not HTTP, or
/// broke for a reason given by the innermost cause.
fn broken_answer(chain: &str, lower: &str) -> Failure {
    let message = if lower.contains("connection closed before message completed")
        || lower.contains("incomplete message")
        || lower.contains("unexpected end of file")
        || lower.contains("unexpected eof")
    {
        "connection closed before the answer was complete".to_owned()
    } else {
        let cause = escape_for_log(last_cause(chain)).into_owned();
        if lower.contains("invalid http") || lower.contains("parse") {
            format!("the answer is not valid HTTP ({cause})")
        } else {
            cause
        }
    };
    Failure {
        kind: FailureKind::Broken,
        message,
    }
}

/// The first io::ErrorKind in the source chain.
fn io_error_kind(error: &(dyn std::error::Error + 'static)) -> Option<std::io::ErrorKind> {
    let mut next: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(cause) = next {
        if let Some(io) = cause.downcast_ref::<std::io::Error>() {
            return Some(io.kind());
        }
        next = cause.source();
    }
    None
}

/// The innermost cause of a joined chain: what the node or the OS said.
fn last_cause(chain: &str) -> &str {
    chain.rsplit(": ").next().unwrap_or(chain)
}

/// What a rustls certificate error means for the person running the client.
fn certificate_hint(detail: &str) -> String {
    let lower = detail.to_ascii_lowercase();
    if lower.contains("unknownissuer") || lower.contains("unknown issuer") {
        "issued by a CA this client does not trust; give its CA with --cacert".to_owned()
    } else if lower.contains("notvalidforname") || lower.contains("not valid for") {
        "not valid for this host name; use the name it was issued for".to_owned()
    } else if lower.contains("expired") {
        "expired".to_owned()
    } else if lower.contains("notvalidyet") || lower.contains("not valid yet") {
        "not valid yet; check the clocks".to_owned()
    } else if lower.contains("revoked") {
        "revoked".to_owned()
    } else if detail.is_empty() {
        "rejected".to_owned()
    } else {
        escape_for_log(detail).into_owned()
    }
}

/// Joins an error and its sources: "error sending request: connection reset".
pub(super) fn error_chain(error: &dyn std::error::Error) -> String {
    let mut message = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !message.contains(&text) {
            message.push_str(": ");
            message.push_str(&text);
        }
        source = cause.source();
    }
    message
}
