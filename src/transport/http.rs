//! The reqwest transport: one blocking client per core, each node kept to one of them, and one
//! attempt with its redirect hops under one deadline.

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use reqwest::Method;
use reqwest::Url;
use reqwest::blocking::Client;
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, HeaderValue, LOCATION};

use super::answer::{body_preview, escape_for_log, parse_retry_after, read_bounded, unconfirmed};
use super::auth::{Warning, bearer_header};
use super::failure::error_chain;
use super::proxy::Proxies;
use super::redirect::next_hop;
use super::tls::{CA_HINT, read_ca_bundle};
use super::workers::{ABANDON_POLL, Workers, abandoned};
use super::{Abandon, Failure, FailureKind, Reply, SetupError, Transport, describe_status};
use crate::vocab::change::Action;
use crate::vocab::group::GroupId;
use crate::vocab::hosts::Node;
use crate::vocab::secret::Token;

/// Settings for [`HttpTransport`].
#[derive(Debug, Clone)]
pub struct HttpSettings {
    /// The limit for one attempt: connecting, sending and reading the answer.
    pub timeout: Duration,
    /// Extra PEM CA certificates to trust for https nodes; `None` trusts
    /// only the built-in Mozilla roots.
    pub ca_certificate: Option<PathBuf>,
    /// A bearer token; `None` sends no credentials. Which nodes receive it
    /// is decided by `configured` and `trust_unlisted`.
    pub token: Option<Token>,
    /// The nodes the configuration names (the hosts file). The token goes
    /// only to them, each a base URL (scheme, host, port and path: `https://gw/a`
    /// and `https://gw/b` are two nodes), and a request to any other node (a
    /// journal entry for a host no longer listed) is logged once per node. `None` when no hosts file was given (`rollback` from
    /// cron): then the journal, already checked to be the user's own and
    /// private, names the nodes, and every one of them receives the token.
    pub configured: Option<Vec<Node>>,
    /// Send the token to nodes outside `configured` too
    /// (`--trust-journal-hosts`).
    pub trust_unlisted: bool,
}

impl HttpSettings {
    /// Plain settings: this timeout, built-in roots, no credentials, no
    /// configured set of nodes.
    pub fn with_timeout(timeout: Duration) -> Self {
        Self {
            timeout,
            ca_certificate: None,
            token: None,
            configured: None,
            trust_unlisted: false,
        }
    }
}

/// The real transport: one blocking reqwest client with connection reuse.
///
/// What a node's answer means is decided by its status code, and for a 200
/// to a read also by its body (read up to [`crate::transport::MAX_BODY_BYTES`]): it means
/// "present" only when the body is empty or JSON naming the same
/// `groupId`, whatever its content type. An HTML page (the sign-in page an
/// auth proxy redirects to), other text, or another id is not the node's
/// word on the group ([`Reply::unconfirmed`]), and the node counts as
/// unreadable. Write answers are judged by their status alone.
///
/// `Debug` shows no credential: the token prints as `<redacted>`, and the
/// `Authorization` header inside the client is marked sensitive.
// Note: the body of a 200 to a read is checked because a 200 is also what
// a page that is not the node's answers: an auth proxy's 302 to its
// sign-in page, a gateway's landing page. The nodes the project knows
// (FastAPI, Flask, Go, tests/real_nodes) answer an empty body or JSON
// naming the id, and both pass; a node that lies with the right id cannot
// be told apart by any client. Writes keep the status alone: their bodies
// vary (201 empty, 200 with the id) and a wrong page there is refused as a
// redirect anyway. tests/hostile.rs holds this rule.
#[derive(Debug, Clone)]
pub struct HttpTransport {
    /// One client per core (at most [`MAX_CLIENTS`]); each node has one.
    pub(super) clients: Arc<[Client]>,
    /// The limit for a whole attempt, body included.
    pub(super) timeout: Duration,
    /// Kept to redact it from logged bodies.
    pub(super) token: Option<Arc<Token>>,
    /// `Authorization: Bearer <token>`, marked sensitive; added per request
    /// to the nodes the token may go to.
    pub(super) authorization: Option<HeaderValue>,
    /// The configured nodes; `None` when no set is configured.
    pub(super) configured: Option<Arc<HashSet<Node>>>,
    /// Whether nodes outside `configured` get the token as well.
    pub(super) trust_unlisted: bool,
    /// The proxy decision the clients were built with, for the warnings.
    pub(super) proxies: Arc<Proxies>,
    /// Warnings already logged, as `(what, node)`: each is logged once per run.
    pub(super) warned: Arc<Mutex<HashSet<(Warning, Node)>>>,
    /// The threads that carry abandonable attempts.
    pub(super) workers: Arc<Workers>,
}

/// The most idle kept-alive connections a transport keeps, shared out
/// between the configured nodes (at least 4 and at most 64 each).
// Note: groups in flight reach the nodes in the same order, so each node
// sees bursts of up to N requests at once; keeping every connection such
// bursts opened held 72 MB for 50 nodes at 32 groups in flight (38 MB with
// 8 per node). A fixed 8 per node made 3 nodes reconnect all the time, at a
// third of the throughput, hence a budget.
const IDLE_CONNECTIONS: usize = 512;

/// The most HTTP clients (each with its own runtime thread) a transport uses.
const MAX_CLIENTS: usize = 4;

impl HttpTransport {
    /// Builds the client. reqwest's own redirect policy is off: it would
    /// turn a redirected POST into a GET (the node would never see the
    /// change) and cannot keep the token to the node. `send` follows a
    /// redirect itself, only to the URL asked with or without its trailing
    /// slash (see `redirect::next_hop`).
    ///
    /// Certificates are always verified. `ca_certificate` adds every
    /// certificate of a PEM file to the built-in Mozilla roots. `token` is
    /// sent as `Authorization: Bearer <token>` on every request to a node in
    /// `configured` (or to every node when that is `None` or
    /// `trust_unlisted` is set).
    ///
    /// When the token will cross plain `http://` or a proxy on the way to a
    /// configured node, one warning names all such nodes here; nodes met
    /// later (from the journal) are warned about once each on first use.
    ///
    /// # Errors
    /// [`SetupError`] when the CA file cannot be read, is refused by the
    /// trust checks, holds no PEM certificate or an unusable one (the message
    /// names the file), when a proxy variable is not an http(s) proxy URL,
    /// or when the token holds a character an HTTP header cannot carry (the
    /// message never shows the token).
    pub fn new(settings: &HttpSettings) -> Result<Self, SetupError> {
        let certificates = match &settings.ca_certificate {
            Some(path) => read_ca_bundle(path)?,
            None => Vec::new(),
        };
        let authorization = settings.token.as_ref().map(bearer_header).transpose()?;
        let proxies = Arc::new(Proxies::from_env(&|name| std::env::var(name).ok())?);
        for (used, ignored) in &proxies.conflicts {
            log::warn!(
                "{used} and {ignored} are both set, to different values; cluster-client uses \
                 {used} (lower case first, as curl does)"
            );
        }
        // Note: a blocking client drives all its connections from one
        // runtime thread; with many requests in flight that thread was a
        // whole core, so requests are spread over one client per core.
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let nodes = settings.configured.as_ref().map_or(1, Vec::len).max(1);
        let idle_per_node = (IDLE_CONNECTIONS / nodes).clamp(4, 64);
        let clients = (0..cores.clamp(1, MAX_CLIENTS))
            .map(|_| build_client(settings, &certificates, idle_per_node, &proxies))
            .collect::<Result<Vec<Client>, SetupError>>()?;
        let transport = Self {
            clients: clients.into(),
            timeout: settings.timeout,
            token: settings.token.clone().map(Arc::new),
            authorization,
            configured: settings
                .configured
                .as_ref()
                .map(|nodes| Arc::new(nodes.iter().cloned().collect())),
            trust_unlisted: settings.trust_unlisted,
            proxies,
            warned: Arc::new(Mutex::new(HashSet::new())),
            workers: Arc::new(Workers::new()),
        };
        if let Some(nodes) = &settings.configured {
            transport.warn_exposure(nodes);
        }
        Ok(transport)
    }
}

/// One blocking client: no redirects of its own, the extra CA certificates,
/// and exactly the proxy decision of `proxies` (reqwest's own reading of the
/// environment is off, so the warnings and the requests agree).
fn build_client(
    settings: &HttpSettings,
    certificates: &[reqwest::Certificate],
    idle_per_node: usize,
    proxies: &Arc<Proxies>,
) -> Result<Client, SetupError> {
    let mut builder = Client::builder()
        .pool_max_idle_per_host(idle_per_node)
        .timeout(settings.timeout)
        .connect_timeout(settings.timeout)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("cluster-client/", env!("CARGO_PKG_VERSION")))
        .no_proxy();
    if proxies.any() {
        let proxies = Arc::clone(proxies);
        builder = builder.proxy(reqwest::Proxy::custom(move |url| {
            proxies.for_url(url).map(|setting| setting.url.clone())
        }));
    }
    for certificate in certificates {
        builder = builder.add_root_certificate(certificate.clone());
    }
    builder.build().map_err(|e| match &settings.ca_certificate {
        // Note: with rustls, adding the extra roots is the only part of
        // building that can fail on input, so name the file.
        Some(path) => SetupError(format!(
            "cannot use the CA certificates in {}: {}; {CA_HINT}",
            path.display(),
            error_chain(&e)
        )),
        None => SetupError(error_chain(&e)),
    })
}

impl Transport for HttpTransport {
    // Note: reqwest's redirect policy stays `none` and redirects are
    // followed here: only to the URL asked with or without its trailing
    // slash, re-sending the same method and body for 307/308 (a POST must
    // never silently become a GET), and 301/302/303 only for a GET. Every
    // hop stays on the node's own path, so the token goes exactly where it
    // would go without the redirect, and never anywhere else.
    fn send(&self, node: &Node, action: Action, group: &GroupId) -> Result<Reply, Failure> {
        let (outgoing, mut url) = self.prepare(node, action, group);
        let asked = url.clone();
        let deadline = Instant::now() + self.timeout;
        let mut visited = vec![url.clone()];
        loop {
            // Note: one attempt has one time limit, whatever its hops.
            let left = self.time_left(deadline)?;
            let (mut reply, location) = self.send_hop(&outgoing, &url, left)?;
            let status = reply.status;
            if !(300..400).contains(&status) {
                return Ok(reply);
            }
            let method = &outgoing.method;
            match next_hop(method, status, &asked, &url, location.as_ref(), &visited) {
                Ok(next) => {
                    log::debug!(
                        "{node}: following {} to {}",
                        describe_status(status),
                        escape_for_log(next.as_str())
                    );
                    visited.push(next.clone());
                    url = next;
                }
                Err(why) => {
                    log::warn!(
                        "{node}: {action} {group:?}: {} {why}",
                        describe_status(status)
                    );
                    reply.redirect = Some(why);
                    return Ok(reply);
                }
            }
        }
    }

    // Note: a blocking reqwest call cannot be interrupted, so the attempt
    // runs on a worker thread and this one stops waiting once `abandon` is
    // due; the worker finishes the attempt by itself within --timeout. This
    // is what lets a signal's rollback start at once, whatever --timeout is.
    fn send_abandoning(
        &self,
        node: &Node,
        action: Action,
        group: &GroupId,
        abandon: Abandon<'_>,
    ) -> Result<Reply, Failure> {
        let answer = Mutex::new(None);
        self.send_each(&[(node, action, group)], abandon, &|_, result| {
            *answer.lock().unwrap_or_else(|e| e.into_inner()) = Some(result);
        });
        let answer = answer.into_inner().unwrap_or_else(|e| e.into_inner());
        answer.unwrap_or_else(|| Err(gone()))
    }

    // Note: every attempt goes straight to a request worker, and this
    // thread waits for all of them on one channel: a round of reads costs
    // no thread start, only the workers' hand-offs.
    fn send_each(
        &self,
        requests: &[(&Node, Action, &GroupId)],
        abandon: Abandon<'_>,
        answered: &(dyn Fn(usize, Result<Reply, Failure>) + Sync),
    ) {
        let (answer, answers) = mpsc::sync_channel(requests.len());
        let mut waiting = vec![false; requests.len()];
        for (index, &(node, action, group)) in requests.iter().enumerate() {
            if next_wait(abandon).is_none() {
                answered(index, Err(abandoned()));
                continue;
            }
            let (worker, answer) = (self.clone(), answer.clone());
            let (node, group) = (node.clone(), group.clone());
            let job = Box::new(move || {
                let _ = answer.send((index, worker.send(&node, action, &group)));
            });
            match self.workers.run(job) {
                Ok(()) => waiting[index] = true,
                Err(e) => answered(
                    index,
                    Err(Failure {
                        kind: FailureKind::Connect,
                        message: format!("cannot start a request thread: {e}"),
                    }),
                ),
            }
        }
        drop(answer);
        let mut missing = gone as fn() -> Failure;
        while waiting.contains(&true) {
            let Some(wait) = next_wait(abandon) else {
                missing = abandoned;
                break;
            };
            match answers.recv_timeout(wait) {
                Ok((index, result)) => {
                    waiting[index] = false;
                    answered(index, result);
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
            }
        }
        for (index, _) in waiting.iter().enumerate().filter(|(_, w)| **w) {
            answered(index, Err(missing()));
        }
    }
}

/// How long to wait for an answer before looking at the cancel again;
/// `None` once `abandon` is due.
fn next_wait(abandon: Abandon<'_>) -> Option<Duration> {
    match abandon.due() {
        None => Some(ABANDON_POLL),
        Some(due) => due
            .checked_duration_since(Instant::now())
            .filter(|left| !left.is_zero())
            .map(|left| left.min(ABANDON_POLL)),
    }
}

/// The failure of an attempt whose worker ended without an answer.
fn gone() -> Failure {
    Failure {
        kind: FailureKind::Broken,
        message: "the request ended without an answer".to_owned(),
    }
}

/// One attempt as every hop of it sends it: the same method, body and
/// `Authorization`, to the URL asked or that URL with its trailing slash
/// toggled.
struct Outgoing<'o> {
    node: &'o Node,
    action: Action,
    group: &'o GroupId,
    method: Method,
    /// The JSON body; `None` for a read.
    body: Option<Vec<u8>>,
    authorization: Option<HeaderValue>,
}

impl HttpTransport {
    /// What one attempt of `action` sends, and the URL of its first hop.
    fn prepare<'o>(
        &self,
        node: &'o Node,
        action: Action,
        group: &'o GroupId,
    ) -> (Outgoing<'o>, Url) {
        let (method, url) = match action {
            Action::Create => (Method::POST, node.collection_url()),
            Action::Delete => (Method::DELETE, node.collection_url()),
            Action::Read => (Method::GET, node.group_url(group)),
        };
        let body = (action != Action::Read).then(|| {
            serde_json::json!({ "groupId": group.as_str() })
                .to_string()
                .into_bytes()
        });
        let authorization = self.authorization_for(node).cloned();
        let outgoing = Outgoing {
            node,
            action,
            group,
            method,
            body,
            authorization,
        };
        (outgoing, url)
    }

    /// The time an attempt has left before `deadline`, or its time-out.
    fn time_left(&self, deadline: Instant) -> Result<Duration, Failure> {
        deadline
            .checked_duration_since(Instant::now())
            .filter(|left| !left.is_zero())
            .ok_or_else(|| Failure {
                kind: FailureKind::Timeout,
                message: format!("timed out after {}", seconds(self.timeout)),
            })
    }

    /// The client that carries every request to `node`.
    // Note: by node, not in turn: a node's kept-alive connections then live
    // in one client's pool, instead of one set per client (with 50 nodes and
    // 32 groups in flight, taking turns held 87 MB of idle connections).
    fn client_for(&self, node: &Node) -> &Client {
        let hash = crate::vocab::shard::fnv1a_64(node.base().as_bytes());
        let turn = usize::try_from(hash % self.clients.len() as u64).unwrap_or(0);
        &self.clients[turn]
    }

    /// Sends one hop of an attempt to `url` and reads its answer within
    /// `left`: the reply (no refused redirect yet) and its `Location`.
    fn send_hop(
        &self,
        outgoing: &Outgoing<'_>,
        url: &Url,
        left: Duration,
    ) -> Result<(Reply, Option<HeaderValue>), Failure> {
        let Outgoing { node, method, .. } = outgoing;
        let mut request = self.client_for(node).request(method.clone(), url.clone());
        if let Some(body) = &outgoing.body {
            request = request
                .header(CONTENT_TYPE, "application/json")
                .body(body.clone());
        }
        if let Some(value) = &outgoing.authorization {
            request = request.header(AUTHORIZATION, value.clone());
        }
        // Note: the client's own timeout limits each read of the body, not
        // the whole body, so a node dripping a byte at a time would hold an
        // attempt for hours. A per-request timeout is a deadline for the
        // whole answer, body included.
        let classified = |error| self.classify(node, outgoing.action, outgoing.group, error);
        let response = request.timeout(left).send().map_err(classified)?;
        let status = response.status().as_u16();
        let retry_after = parse_retry_after(response.headers(), SystemTime::now());
        let location = response.headers().get(LOCATION).cloned();
        let text = read_bounded(response).map_err(classified)?;
        log::debug!(
            "{node}: {method} {} -> {status} {}",
            escape_for_log(url.as_str()),
            body_preview(&text, self.token.as_deref())
        );
        let checked = outgoing.action == Action::Read && status == 200;
        let reply = Reply {
            status,
            retry_after,
            redirect: None,
            unconfirmed: checked
                .then(|| unconfirmed(&text, outgoing.group, self.token.as_deref()))
                .flatten(),
        };
        Ok((reply, location))
    }
}

/// A duration as people say it in a time-out: "5s", "1s 500ms", "200ms".
pub(super) fn seconds(duration: Duration) -> String {
    humantime::format_duration(Duration::from_millis(
        u64::try_from(duration.as_millis()).unwrap_or(u64::MAX),
    ))
    .to_string()
}
