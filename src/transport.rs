//! The network seam: one request attempt to one node, and its reqwest implementation.

use std::fmt;
use std::io::Read;
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use reqwest::blocking::{Client, Response};
use reqwest::header::{HeaderMap, RETRY_AFTER};
use serde::{Deserialize, Serialize};

use crate::error::Error;
use crate::group::GroupId;
use crate::hosts::Node;
use crate::secret::Token;

/// The most bytes of a response body that are read; the rest is discarded
/// with the connection. Bodies are only logged, never trusted.
pub const MAX_BODY_BYTES: u64 = 64 * 1024;

/// What one request asks a node to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// `POST {base}/v1/group/`: 201 when created, 400 when it already exists.
    Create,
    /// `DELETE {base}/v1/group/`: 200, also when the group is absent.
    Delete,
    /// `GET {base}/v1/group/{id}/`: 200 when present, 404 when absent.
    Read,
}

impl Action {
    /// The HTTP method, as logs show it.
    pub fn method(self) -> &'static str {
        match self {
            Self::Create => "POST",
            Self::Delete => "DELETE",
            Self::Read => "GET",
        }
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.method())
    }
}

/// A response that arrived, whatever its status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// The HTTP status code.
    pub status: u16,
    /// The `Retry-After` header turned into a delay from now; `None` when it
    /// was absent or unparseable, `Some(ZERO)` for a date in the past.
    pub retry_after: Option<Duration>,
}

/// Why no response arrived.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureKind {
    /// No connection was made (refused, DNS, connect timeout): nothing was sent.
    Connect,
    /// The connection was made but no answer came in time.
    Timeout,
    /// The connection broke (reset, closed early, garbled response).
    Broken,
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
        self.kind != FailureKind::Connect
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
}

/// Settings for [`HttpTransport`].
#[derive(Debug, Clone)]
pub struct HttpSettings {
    /// The limit for one attempt: connecting, sending and reading the answer.
    pub timeout: Duration,
    /// Extra PEM CA certificates to trust for https nodes; `None` trusts
    /// only the built-in Mozilla roots.
    pub ca_certificate: Option<PathBuf>,
    /// A bearer token sent to every node; `None` sends no credentials.
    pub token: Option<Token>,
}

impl HttpSettings {
    /// Plain settings: this timeout, built-in roots, no credentials.
    pub fn with_timeout(timeout: Duration) -> Self {
        Self {
            timeout,
            ca_certificate: None,
            token: None,
        }
    }
}

/// The real transport: one blocking reqwest client with connection reuse.
#[derive(Debug, Clone)]
pub struct HttpTransport {
    client: Client,
}

#[derive(Serialize)]
struct GroupBody<'a> {
    #[serde(rename = "groupId")]
    group_id: &'a str,
}

impl HttpTransport {
    /// Builds the client. Redirects are off: a redirected POST would
    /// silently become a GET, and the node would never see the change.
    pub fn new(settings: &HttpSettings) -> Result<Self, Error> {
        let client = Client::builder()
            .timeout(settings.timeout)
            .connect_timeout(settings.timeout)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("cluster-client/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| Error::Http(error_chain(&e)))?;
        Ok(Self { client })
    }
}

impl Transport for HttpTransport {
    fn send(&self, node: &Node, action: Action, group: &GroupId) -> Result<Reply, Failure> {
        let body = GroupBody {
            group_id: group.as_str(),
        };
        let request = match action {
            Action::Create => self.client.post(node.collection_url()).json(&body),
            Action::Delete => self.client.delete(node.collection_url()).json(&body),
            Action::Read => self.client.get(node.group_url(group)),
        };
        let response = request.send().map_err(classify)?;
        let status = response.status().as_u16();
        let retry_after = parse_retry_after(response.headers(), SystemTime::now());
        let body = read_bounded(response).map_err(classify)?;
        log::debug!(
            "{node}: {action} {group:?} -> {status} {}",
            String::from_utf8_lossy(&body)
        );
        Ok(Reply {
            status,
            retry_after,
        })
    }
}

/// Reads at most [`MAX_BODY_BYTES`]; a larger body is cut off there.
fn read_bounded(response: Response) -> Result<Vec<u8>, reqwest::Error> {
    let mut body = Vec::new();
    // Note: reading into the Vec drains the body so the connection can be
    // reused; a body over the limit just closes the connection instead.
    match response.take(MAX_BODY_BYTES).read_to_end(&mut body) {
        Ok(_) => Ok(body),
        Err(e) => match e
            .into_inner()
            .map(|inner| inner.downcast::<reqwest::Error>())
        {
            Some(Ok(reqwest_error)) => Err(*reqwest_error),
            // Note: any other read error is a broken body; report what we have.
            _ => Ok(body),
        },
    }
}

fn classify(error: reqwest::Error) -> Failure {
    // Note: the node's URL is already in every log line; without it the
    // message leads with what went wrong.
    let error = error.without_url();
    let kind = if error.is_connect() {
        FailureKind::Connect
    } else if error.is_timeout() {
        FailureKind::Timeout
    } else {
        FailureKind::Broken
    };
    Failure {
        kind,
        message: error_chain(&error),
    }
}

/// Joins an error and its sources: "error sending request: connection reset".
fn error_chain(error: &dyn std::error::Error) -> String {
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

/// Parses `Retry-After` as delta-seconds or an HTTP date relative to `now`.
pub fn parse_retry_after(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let date = httpdate::parse_http_date(value).ok()?;
    Some(date.duration_since(now).unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    fn headers(value: &str) -> HeaderMap {
        let mut map = HeaderMap::new();
        map.insert(RETRY_AFTER, HeaderValue::from_str(value).expect("header"));
        map
    }

    #[test]
    fn retry_after_accepts_seconds_and_http_dates() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        assert_eq!(
            parse_retry_after(&headers("7"), now),
            Some(Duration::from_secs(7))
        );
        let later = httpdate::fmt_http_date(now + Duration::from_secs(30));
        assert_eq!(
            parse_retry_after(&headers(&later), now),
            Some(Duration::from_secs(30))
        );
        let earlier = httpdate::fmt_http_date(now - Duration::from_secs(30));
        assert_eq!(
            parse_retry_after(&headers(&earlier), now),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after(&headers("soon"), now), None);
        assert_eq!(parse_retry_after(&HeaderMap::new(), now), None);
    }

    #[test]
    fn only_connect_failures_are_known_not_applied() {
        let failure = |kind| Failure {
            kind,
            message: String::new(),
        };
        assert!(!failure(FailureKind::Connect).may_have_applied());
        assert!(failure(FailureKind::Timeout).may_have_applied());
        assert!(failure(FailureKind::Broken).may_have_applied());
    }

    mod http {
        use super::super::*;
        use crate::retry::{Mode, Retrier, RetryPolicy};
        use crate::signals::Cancel;
        use mockito::Matcher;

        fn transport(timeout_ms: u64) -> HttpTransport {
            HttpTransport::new(&HttpSettings::with_timeout(Duration::from_millis(
                timeout_ms,
            )))
            .expect("client")
        }

        fn node(url: &str) -> Node {
            Node::parse(url).expect("node")
        }

        fn group(id: &str) -> GroupId {
            GroupId::new(id).expect("group")
        }

        fn policy(retries: u32) -> RetryPolicy {
            RetryPolicy {
                retries,
                backoff: Duration::ZERO,
                max_backoff: Duration::ZERO,
            }
        }

        #[test]
        fn sends_the_id_verbatim_in_json_bodies() {
            let mut server = mockito::Server::new();
            let id = "a/b c?#é";
            let post = server
                .mock("POST", "/v1/group/")
                .match_header("content-type", "application/json")
                .match_body(Matcher::Json(serde_json::json!({ "groupId": id })))
                .with_status(201)
                .expect(1)
                .create();
            let delete = server
                .mock("DELETE", "/v1/group/")
                .match_body(Matcher::Json(serde_json::json!({ "groupId": id })))
                .with_status(200)
                .expect(1)
                .create();
            let t = transport(2000);
            let n = node(&server.url());
            assert_eq!(
                t.send(&n, Action::Create, &group(id)).map(|r| r.status),
                Ok(201)
            );
            assert_eq!(
                t.send(&n, Action::Delete, &group(id)).map(|r| r.status),
                Ok(200)
            );
            post.assert();
            delete.assert();
        }

        #[test]
        fn get_encodes_the_id_as_one_path_segment() {
            let mut server = mockito::Server::new();
            let get = server
                .mock("GET", "/api/v1/group/a%2Fb%20c%3F%23%C3%A9/")
                .with_status(200)
                .with_body(r#"{"groupId":"a/b c?#é"}"#)
                .expect(1)
                .create();
            let n = node(&format!("{}/api/", server.url()));
            let reply = transport(2000).send(&n, Action::Read, &group("a/b c?#é"));
            assert_eq!(reply.map(|r| r.status), Ok(200));
            get.assert();
        }

        #[test]
        fn retries_only_transient_statuses() {
            for (status, expected_attempts) in [
                (500, 4),
                (502, 4),
                (503, 4),
                (504, 4),
                (408, 4),
                (429, 4),
                (404, 1),
                (409, 1),
                (501, 1),
            ] {
                let mut server = mockito::Server::new();
                let mock = server
                    .mock("POST", "/v1/group/")
                    .with_status(status)
                    .expect(expected_attempts)
                    .create();
                let t = transport(2000);
                let (p, cancel) = (policy(3), Cancel::new());
                let exchange = Retrier::new(&t, &p, &cancel).call(
                    &node(&server.url()),
                    Action::Create,
                    &group("g"),
                    Mode::Forward,
                );
                assert_eq!(
                    exchange.attempts as usize, expected_attempts,
                    "status {status}"
                );
                mock.assert();
            }
        }

        #[test]
        fn retry_after_reaches_the_retry_policy() {
            let mut server = mockito::Server::new();
            server
                .mock("POST", "/v1/group/")
                .with_status(429)
                .with_header("retry-after", "120")
                .create();
            let reply = transport(2000).send(&node(&server.url()), Action::Create, &group("g"));
            assert_eq!(
                reply,
                Ok(Reply {
                    status: 429,
                    retry_after: Some(Duration::from_secs(120)),
                })
            );
        }

        #[test]
        fn redirects_are_not_followed() {
            let mut server = mockito::Server::new();
            server
                .mock("POST", "/v1/group/")
                .with_status(307)
                .with_header("location", "/elsewhere/")
                .create();
            let elsewhere = server.mock("GET", "/elsewhere/").expect(0).create();
            let reply = transport(2000).send(&node(&server.url()), Action::Create, &group("g"));
            assert_eq!(reply.map(|r| r.status), Ok(307));
            elsewhere.assert();
        }

        #[test]
        fn a_silent_node_times_out_as_possibly_applied() {
            // Note: the kernel completes the handshake for a listener that
            // never accepts, so the request is sent and never answered.
            let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
            let url = format!("http://{}", listener.local_addr().expect("addr"));
            let failure = transport(200)
                .send(&node(&url), Action::Create, &group("g"))
                .expect_err("no answer");
            assert_eq!(failure.kind, FailureKind::Timeout, "{failure}");
            assert!(failure.may_have_applied());
            drop(listener);
        }

        #[test]
        fn a_closed_port_is_a_connect_failure_that_sent_nothing() {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
            let url = format!("http://{}", listener.local_addr().expect("addr"));
            drop(listener);
            let failure = transport(2000)
                .send(&node(&url), Action::Create, &group("g"))
                .expect_err("refused");
            assert_eq!(failure.kind, FailureKind::Connect, "{failure}");
            assert!(!failure.may_have_applied());
        }

        #[test]
        fn huge_bodies_are_read_only_up_to_the_limit() {
            let mut server = mockito::Server::new();
            server
                .mock("GET", "/v1/group/g/")
                .with_status(200)
                .with_body(vec![b'x'; 4 * 1024 * 1024])
                .create();
            let reply = transport(5000).send(&node(&server.url()), Action::Read, &group("g"));
            assert_eq!(reply.map(|r| r.status), Ok(200));
        }
    }
}
