//! The network seam: one request attempt to one node, and its reqwest implementation.

use std::collections::{BTreeSet, HashSet};
use std::fmt;
use std::io::Read;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use reqwest::Method;
use reqwest::blocking::{Client, Response};
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, HeaderMap, HeaderValue, LOCATION, RETRY_AFTER};
use reqwest::{Certificate, Url};

use crate::cancel::Cancel;
use crate::change::Action;
use crate::group::GroupId;
use crate::hosts::Node;
use crate::secret::Token;

/// The most bytes of a response body that are read; the rest is discarded
/// with the connection. Bodies are only logged, never trusted.
pub const MAX_BODY_BYTES: u64 = 64 * 1024;

/// The most characters of a response body that one debug log line shows.
const LOGGED_BODY_CHARS: usize = 200;

/// A response that arrived, whatever its status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// The HTTP status code.
    pub status: u16,
    /// The `Retry-After` header turned into a delay from now; `None` when it
    /// was absent or unparseable, `Some(ZERO)` for a date in the past.
    pub retry_after: Option<Duration>,
    /// For a redirect (3xx) that was not followed, why not, naming the
    /// `Location` (escaped): another origin, a loop, too many hops, or a
    /// method it may not be followed for. `None` for every other answer.
    pub redirect: Option<String>,
}

impl Reply {
    /// A plain answer with this status: no `Retry-After`, no refused redirect.
    pub fn status(status: u16) -> Self {
        Self {
            status,
            retry_after: None,
            redirect: None,
        }
    }

    /// "HTTP 307 Temporary Redirect", with the reason the redirect was not
    /// followed when there is one.
    pub fn describe(&self) -> String {
        let mut text = describe_status(self.status);
        if let Some(redirect) = &self.redirect {
            text.push_str(": ");
            text.push_str(redirect);
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

/// How often a waiting request looks at the cancel flag.
const ABANDON_POLL: Duration = Duration::from_millis(20);

fn abandoned() -> Failure {
    Failure {
        kind: FailureKind::Abandoned,
        message: "abandoned: the run was interrupted while the request was in flight".to_owned(),
    }
}

/// The HTTP client could not be built: an unusable CA file, or a token an
/// HTTP header cannot carry. The message names the file (never the token)
/// and says what to fix.
#[derive(Debug, thiserror::Error)]
#[error("cannot set up the HTTP client: {0}")]
pub struct SetupError(String);

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
    /// only to their origins (scheme, host and port), and a request to any
    /// other node (a journal entry for a host no longer listed) is logged
    /// once per node. `None` when no hosts file was given (`rollback` from
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
/// What a node's answer means is decided by its status code alone; the
/// body is read (up to [`MAX_BODY_BYTES`]) only to be logged. In particular
/// a `GET` that answers 200 means "present" whatever the body says, even
/// when it names another `groupId`, is not JSON, or has another content type.
///
/// `Debug` shows no credential: the token prints as `<redacted>`, and the
/// `Authorization` header inside the client is marked sensitive.
// Note: checking the body's groupId was considered and left out. The API's
// contract is the status code; nodes are not required to echo the id, so a
// check would turn honest nodes with other bodies into failed reads; and a
// node (or proxy) that answers 200 wrongly can just as well echo the id.
// tests/hostile.rs holds this rule.
#[derive(Debug, Clone)]
pub struct HttpTransport {
    /// One client per core (at most [`MAX_CLIENTS`]); each node has one.
    clients: Arc<[Client]>,
    /// The limit for a whole attempt, body included.
    timeout: Duration,
    /// Kept to redact it from logged bodies.
    token: Option<Arc<Token>>,
    /// `Authorization: Bearer <token>`, marked sensitive; added per request
    /// to the nodes the token may go to.
    authorization: Option<HeaderValue>,
    /// The origins of the configured nodes; `None` when no set is configured.
    configured: Option<Arc<HashSet<String>>>,
    /// Whether nodes outside `configured` get the token as well.
    trust_unlisted: bool,
    /// Warnings already logged, as `(what, origin)`: each is logged once per run.
    warned: Arc<Mutex<HashSet<(Warning, String)>>>,
    /// The threads that carry abandonable attempts.
    workers: Arc<Workers>,
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

/// One attempt, run on a worker thread.
type Job = Box<dyn FnOnce() + Send>;

/// Long-lived threads for abandonable attempts: one per attempt in flight,
/// reused once it is answered, so a run does not start a thread per
/// request. A job never waits behind another: a worker is reserved for it,
/// or started.
#[derive(Debug)]
struct Workers {
    jobs: Mutex<mpsc::Sender<Job>>,
    queue: Arc<Mutex<mpsc::Receiver<Job>>>,
    /// Workers waiting for a job, not yet reserved.
    idle: Arc<AtomicUsize>,
}

impl Workers {
    fn new() -> Self {
        let (jobs, queue) = mpsc::channel();
        Self {
            jobs: Mutex::new(jobs),
            queue: Arc::new(Mutex::new(queue)),
            idle: Arc::new(AtomicUsize::new(0)),
        }
    }

    /// Runs `job` on a worker: an idle one, reserved now, or a new one.
    fn run(&self, job: Job) -> std::io::Result<()> {
        let reserved = self
            .idle
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok();
        if !reserved {
            let (queue, idle) = (Arc::clone(&self.queue), Arc::clone(&self.idle));
            std::thread::Builder::new()
                .name("request".to_owned())
                .spawn(move || {
                    loop {
                        let next = queue.lock().unwrap_or_else(|e| e.into_inner()).recv();
                        let Ok(job) = next else { break };
                        job();
                        idle.fetch_add(1, Ordering::SeqCst);
                    }
                })?;
        }
        self.jobs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .send(job)
            .map_err(|_| std::io::Error::other("the request workers are gone"))
    }
}

/// What a once-per-node warning is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Warning {
    /// The node is not in the configured set.
    Unlisted,
    /// The token goes to the node over plain http.
    Plaintext,
    /// The token goes to the node through a proxy.
    Proxied,
    /// Not a warning: the node's exposure (http, proxy) has been checked.
    Checked,
}

impl HttpTransport {
    /// Builds the client. reqwest's own redirect policy is off: it would
    /// turn a redirected POST into a GET (the node would never see the
    /// change) and cannot keep the token to the node's origin. `send`
    /// follows redirects itself, within the node's origin only.
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
    /// [`SetupError`] when the CA file cannot be read, holds no PEM
    /// certificate or an unusable one (the message names the file), or when
    /// the token holds a character an HTTP header cannot carry (the message
    /// never shows the token).
    pub fn new(settings: &HttpSettings) -> Result<Self, SetupError> {
        let certificates = match &settings.ca_certificate {
            Some(path) => read_ca_bundle(path)?,
            None => Vec::new(),
        };
        let authorization = settings.token.as_ref().map(bearer_header).transpose()?;
        // Note: a blocking client drives all its connections from one
        // runtime thread; with many requests in flight that thread was a
        // whole core, so requests are spread over one client per core.
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let nodes = settings.configured.as_ref().map_or(1, Vec::len).max(1);
        let idle_per_node = (IDLE_CONNECTIONS / nodes).clamp(4, 64);
        let clients = (0..cores.clamp(1, MAX_CLIENTS))
            .map(|_| {
                let mut builder = Client::builder()
                    .pool_max_idle_per_host(idle_per_node)
                    .timeout(settings.timeout)
                    .connect_timeout(settings.timeout)
                    .redirect(reqwest::redirect::Policy::none())
                    .user_agent(concat!("cluster-client/", env!("CARGO_PKG_VERSION")));
                for certificate in &certificates {
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
            })
            .collect::<Result<Vec<Client>, SetupError>>()?;
        let transport = Self {
            clients: clients.into(),
            timeout: settings.timeout,
            token: settings.token.clone().map(Arc::new),
            authorization,
            configured: settings
                .configured
                .as_ref()
                .map(|nodes| Arc::new(nodes.iter().map(origin).collect())),
            trust_unlisted: settings.trust_unlisted,
            warned: Arc::new(Mutex::new(HashSet::new())),
            workers: Arc::new(Workers::new()),
        };
        if let Some(nodes) = &settings.configured {
            transport.warn_exposure(nodes);
        }
        Ok(transport)
    }
}

/// `scheme://host:port` of a node: the unit the token is scoped to.
fn origin(node: &Node) -> String {
    node.collection_url().origin().ascii_serialization()
}

/// What to do about an unusable `--cacert` file.
const CA_HINT: &str = "give --cacert (CLUSTER_CLIENT_CACERT) a PEM file with one or more \
                       -----BEGIN CERTIFICATE----- blocks, such as your CA's ca.crt";

/// Every certificate in the PEM file at `path`.
fn read_ca_bundle(path: &Path) -> Result<Vec<Certificate>, SetupError> {
    let pem = std::fs::read(path).map_err(|e| {
        SetupError(format!(
            "cannot read the CA certificate file {}: {e}; {CA_HINT}",
            path.display()
        ))
    })?;
    let certificates = Certificate::from_pem_bundle(&pem).map_err(|e| {
        SetupError(format!(
            "the CA certificate file {} is not valid PEM: {}; {CA_HINT}",
            path.display(),
            error_chain(&e)
        ))
    })?;
    if certificates.is_empty() {
        return Err(SetupError(format!(
            "the CA certificate file {} holds no certificate; {CA_HINT}",
            path.display()
        )));
    }
    Ok(certificates)
}

/// `Authorization: Bearer <token>`, marked sensitive so that neither
/// reqwest nor hyper ever logs or formats its value.
fn bearer_header(token: &Token) -> Result<HeaderValue, SetupError> {
    let mut value = HeaderValue::from_str(&format!("Bearer {}", token.expose())).map_err(|_| {
        // Note: the parse error is not shown, in case a future version quotes the value.
        SetupError(
            "the bearer token cannot be sent in an HTTP header: it holds a character other \
             than printable ASCII (for example a line break inside it); check the token file \
             or CLUSTER_CLIENT_TOKEN"
                .to_owned(),
        )
    })?;
    value.set_sensitive(true);
    Ok(value)
}

impl Transport for HttpTransport {
    // Note: reqwest's redirect policy stays `none` and redirects are
    // followed here, hop by hop: only to the node's own origin, re-sending
    // the same method and body for 307/308 (a POST must never silently
    // become a GET), and 301/302/303 only for a GET. Every hop shares the
    // node's origin, so the token goes exactly where it would go without
    // the redirect, and never anywhere else.
    fn send(&self, node: &Node, action: Action, group: &GroupId) -> Result<Reply, Failure> {
        let (outgoing, mut url) = self.prepare(node, action, group);
        let home = url.origin().ascii_serialization();
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
            match next_hop(method, status, &url, &home, location.as_ref(), &visited) {
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
        if abandon.due().is_some_and(|due| Instant::now() >= due) {
            return Err(abandoned());
        }
        let (answer, answered) = mpsc::sync_channel(1);
        let worker = self.clone();
        let (node, group) = (node.clone(), group.clone());
        self.workers
            .run(Box::new(move || {
                let _ = answer.send(worker.send(&node, action, &group));
            }))
            .map_err(|e| Failure {
                kind: FailureKind::Connect,
                message: format!("cannot start a request thread: {e}"),
            })?;
        loop {
            let wait = match abandon.due() {
                Some(due) => match due.checked_duration_since(Instant::now()) {
                    Some(left) if !left.is_zero() => left.min(ABANDON_POLL),
                    _ => return Err(abandoned()),
                },
                None => ABANDON_POLL,
            };
            match answered.recv_timeout(wait) {
                Ok(result) => return result,
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    return Err(Failure {
                        kind: FailureKind::Broken,
                        message: "the request ended without an answer".to_owned(),
                    });
                }
            }
        }
    }
}

/// One attempt as every hop of it sends it: the same method, body and
/// `Authorization`, to URLs that share the node's origin.
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
        let hash = crate::shard::fnv1a_64(node.base().as_bytes());
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
        let reply = Reply {
            status,
            retry_after,
            redirect: None,
        };
        Ok((reply, location))
    }
}

impl HttpTransport {
    /// The `Authorization` value to send to `node`, if any; logs (once per
    /// node) a node outside the configured set, and where the token goes
    /// over plain http or a proxy to a node not warned about yet.
    fn authorization_for(&self, node: &Node) -> Option<&HeaderValue> {
        let listed = self
            .configured
            .as_ref()
            .is_none_or(|origins| origins.contains(&origin(node)));
        let sent = self
            .authorization
            .as_ref()
            .filter(|_| listed || self.trust_unlisted);
        if !listed && self.first_warning(Warning::Unlisted, node) {
            let what = match (&self.authorization, sent) {
                (None, _) => "",
                (Some(_), Some(_)) => {
                    ", and gets the bearer token because --trust-journal-hosts is set"
                }
                (Some(_), None) => {
                    "; it is sent without the bearer token. Add the node to the hosts file, \
                     or pass --trust-journal-hosts (CLUSTER_CLIENT_TRUST_JOURNAL_HOSTS=true) \
                     to send the token to the hosts the journal names"
                }
            };
            log::warn!(
                "{}: not in the hosts file, but the journal holds a repair for it{what}",
                escape_for_log(node.base())
            );
        }
        // Note: the exposure checks read the environment, so each node is
        // checked once per run, not on every request.
        if sent.is_some() && self.first_warning(Warning::Checked, node) {
            self.warn_exposure(std::slice::from_ref(node));
        }
        sent
    }

    /// Warns, once per node and naming all of `nodes` that qualify in one
    /// line, when the token will cross plain http or a proxy to them.
    fn warn_exposure(&self, nodes: &[Node]) {
        if self.authorization.is_none() {
            return;
        }
        let listed = |node: &&Node| {
            self.trust_unlisted
                || self
                    .configured
                    .as_ref()
                    .is_none_or(|origins| origins.contains(&origin(node)))
        };
        let plaintext: Vec<&Node> = nodes
            .iter()
            .filter(listed)
            .filter(|n| n.base().starts_with("http://"))
            .filter(|n| self.first_warning(Warning::Plaintext, n))
            .collect();
        // Note: the token is still sent: the operator chose both the token and
        // the http:// URL, and a node behind a TLS-terminating sidecar on the
        // same host is a legitimate setup.
        if !plaintext.is_empty() {
            log::warn!(
                "the bearer token is sent over plain http:// to {}, where anyone on the path \
                 can read it; use https:// for these nodes",
                names(&plaintext)
            );
        }
        let mut proxied: Vec<(&Node, &'static str)> = Vec::new();
        for node in nodes.iter().filter(listed) {
            if let Some(variable) =
                proxy_variable(&node.collection_url(), &|name| std::env::var(name).ok())
                && self.first_warning(Warning::Proxied, node)
            {
                proxied.push((node, variable));
            }
        }
        if !proxied.is_empty() {
            let variables: BTreeSet<&str> = proxied.iter().map(|(_, v)| *v).collect();
            let nodes: Vec<&Node> = proxied.iter().map(|(n, _)| *n).collect();
            log::warn!(
                "the bearer token goes to {} through the proxy set in {}: the proxy sees which \
                 hosts are contacted, and reads the token on http://; list the nodes in \
                 NO_PROXY if the proxy should not carry them",
                names(&nodes),
                variables.into_iter().collect::<Vec<_>>().join(", ")
            );
        }
    }

    /// Whether `warning` about `node` is due: true the first time only.
    fn first_warning(&self, warning: Warning, node: &Node) -> bool {
        // Note: a poisoned lock only means another thread panicked mid-insert;
        // the set is still usable, and a repeated warning is harmless.
        self.warned
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert((warning, origin(node)))
    }
}

/// Node base URLs for a log line, comma-separated and escaped.
fn names(nodes: &[&Node]) -> String {
    nodes
        .iter()
        .map(|n| escape_for_log(n.base()).into_owned())
        .collect::<Vec<_>>()
        .join(", ")
}

/// The proxy environment variable reqwest would use for `url`, or `None`
/// when the URL goes direct: `HTTP_PROXY` for http and `HTTPS_PROXY` for
/// https (each lower case first, then upper case), then `ALL_PROXY`, unless
/// `NO_PROXY` matches the host. `NO_PROXY` entries are `*`, domain names
/// (matching the name and its subdomains, with or without a leading dot),
/// and IP addresses or CIDR blocks.
fn proxy_variable(url: &Url, var: &dyn Fn(&str) -> Option<String>) -> Option<&'static str> {
    let set = |name: &str| var(name).is_some_and(|v| !v.trim().is_empty());
    let candidates: &[&'static str] = match url.scheme() {
        "https" => &["https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"],
        _ => &["http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY"],
    };
    let variable = candidates.iter().copied().find(|name| set(name))?;
    let no_proxy = var("no_proxy")
        .or_else(|| var("NO_PROXY"))
        .unwrap_or_default();
    let host = url
        .host_str()?
        .trim_start_matches('[')
        .trim_end_matches(']');
    let excluded = no_proxy
        .split(',')
        .map(str::trim)
        .filter(|entry| !entry.is_empty())
        .any(|entry| no_proxy_matches(entry, host));
    (!excluded).then_some(variable)
}

fn no_proxy_matches(entry: &str, host: &str) -> bool {
    if entry == "*" {
        return true;
    }
    if let Ok(ip) = host.parse::<IpAddr>() {
        return match entry.split_once('/') {
            Some((net, bits)) => match (net.parse::<IpAddr>(), bits.parse::<u32>()) {
                (Ok(IpAddr::V4(net)), Ok(bits)) if bits <= 32 => match ip {
                    IpAddr::V4(ip) => {
                        let mask = u32::MAX.checked_shl(32 - bits).unwrap_or(0);
                        u32::from(ip) & mask == u32::from(net) & mask
                    }
                    IpAddr::V6(_) => false,
                },
                (Ok(IpAddr::V6(net)), Ok(bits)) if bits <= 128 => match ip {
                    IpAddr::V6(ip) => {
                        let mask = u128::MAX.checked_shl(128 - bits).unwrap_or(0);
                        u128::from(ip) & mask == u128::from(net) & mask
                    }
                    IpAddr::V4(_) => false,
                },
                _ => false,
            },
            None => entry.parse::<IpAddr>().is_ok_and(|e| e == ip),
        };
    }
    let domain = entry.trim_start_matches('.').to_ascii_lowercase();
    let host = host.to_ascii_lowercase();
    host == domain || host.ends_with(&format!(".{domain}"))
}

/// `text` with control characters shown visibly, for log lines that quote
/// node or journal text; see [`crate::text::escape`].
fn escape_for_log(text: &str) -> std::borrow::Cow<'_, str> {
    crate::text::escape(text)
}

/// A response body as one log line shows it: quoted and escaped (so a
/// hostile body cannot forge log lines or send terminal escapes), the token
/// replaced by `<redacted>` (a node may echo the request), and cut to
/// [`LOGGED_BODY_CHARS`] characters.
fn body_preview(body: &[u8], token: Option<&Token>) -> String {
    let mut text = String::from_utf8_lossy(body).into_owned();
    if let Some(token) = token {
        text = text.replace(token.expose(), "<redacted>");
    }
    let shown: String = text.chars().take(LOGGED_BODY_CHARS).collect();
    if shown.len() == text.len() {
        format!("{shown:?}")
    } else {
        format!("{shown:?}... ({} bytes read)", body.len())
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

/// The most redirects one attempt follows; a sixth is that node's failure.
pub const MAX_REDIRECTS: usize = 5;

/// The most characters of a refused `Location` that a message quotes.
const QUOTED_LOCATION_CHARS: usize = 200;

/// Where a redirect answer leads, or why it is not followed. `visited` holds
/// every URL this attempt asked, the first included; `home` is the node's
/// origin.
fn next_hop(
    method: &Method,
    status: u16,
    from: &Url,
    home: &str,
    location: Option<&HeaderValue>,
    visited: &[Url],
) -> Result<Url, String> {
    if !matches!(status, 301 | 302 | 303 | 307 | 308) {
        return Err("is not a redirect this client follows".to_owned());
    }
    let Some(location) = location else {
        return Err("without a Location header; not followed".to_owned());
    };
    let raw = String::from_utf8_lossy(location.as_bytes());
    let quoted = quote_location(&raw);
    let Ok(target) = from.join(&raw) else {
        return Err(format!("to {quoted}: not a usable URL; not followed"));
    };
    if target.origin().ascii_serialization() != home {
        return Err(format!(
            "to {quoted}: not followed, because it leaves the node's origin (scheme, host \
             and port), and nothing (the bearer token included) was sent there; if that is \
             the node's real address, put it in the hosts file"
        ));
    }
    if matches!(status, 301..=303) && *method != Method::GET {
        return Err(format!(
            "to {quoted}: not followed, because it would turn the {method} into a GET and \
             the change would never reach the node; the node should answer 307 or 308, or \
             the hosts file should name the URL it redirects to"
        ));
    }
    if visited.contains(&target) {
        return Err(format!("to {quoted}: a redirect loop; not followed"));
    }
    if visited.len() > MAX_REDIRECTS {
        return Err(format!(
            "to {quoted}: more than {MAX_REDIRECTS} redirects; not followed"
        ));
    }
    Ok(target)
}

/// A `Location` as a message quotes it: escaped (it is the node's text) and
/// cut to [`QUOTED_LOCATION_CHARS`] characters.
fn quote_location(raw: &str) -> String {
    let escaped = escape_for_log(raw);
    let shown: String = escaped.chars().take(QUOTED_LOCATION_CHARS).collect();
    if shown.len() == escaped.len() {
        format!("`{shown}`")
    } else {
        format!("`{shown}...`")
    }
}

/// A duration as people say it in a time-out: "5s", "1s 500ms", "200ms".
fn seconds(duration: Duration) -> String {
    humantime::format_duration(Duration::from_millis(
        u64::try_from(duration.as_millis()).unwrap_or(u64::MAX),
    ))
    .to_string()
}

impl HttpTransport {
    /// A failed attempt as people say it ("connection refused"); the whole
    /// error chain goes to the debug log (`-vv`).
    fn classify(
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

    #[test]
    fn a_job_never_waits_behind_a_hung_one_and_workers_are_reused() {
        let workers = Workers::new();
        let (release, held) = mpsc::channel::<()>();
        let (done, finished) = mpsc::channel::<&str>();
        let hung_done = done.clone();
        workers
            .run(Box::new(move || {
                let _ = held.recv();
                let _ = hung_done.send("hung");
            }))
            .expect("run");
        workers
            .run(Box::new(move || {
                let _ = done.send("quick");
            }))
            .expect("run");
        let first = finished
            .recv_timeout(Duration::from_secs(10))
            .expect("the second job ran while the first was hung");
        assert_eq!(first, "quick");
        release.send(()).expect("release");
        assert_eq!(
            finished
                .recv_timeout(Duration::from_secs(10))
                .expect("hung job"),
            "hung"
        );
        // Both workers are back, idle: the next jobs reuse them.
        let deadline = Instant::now() + Duration::from_secs(10);
        while workers.idle.load(Ordering::SeqCst) < 2 && Instant::now() < deadline {
            std::thread::yield_now();
        }
        assert_eq!(workers.idle.load(Ordering::SeqCst), 2);
        // Note: the job is held, so its worker cannot come back idle before
        // the count is read; the reservation itself happens inside `run`.
        let (release, held) = mpsc::channel::<()>();
        workers
            .run(Box::new(move || {
                let _ = held.recv();
            }))
            .expect("run");
        assert_eq!(
            workers.idle.load(Ordering::SeqCst),
            1,
            "one worker reserved"
        );
        release.send(()).expect("release");
    }
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
        assert!(!failure(FailureKind::Permanent).may_have_applied());
        assert!(failure(FailureKind::Timeout).may_have_applied());
        assert!(failure(FailureKind::Broken).may_have_applied());
    }

    #[test]
    fn body_preview_escapes_redacts_and_truncates() {
        let token = Token::new("s3cr3t-token").expect("token");
        let preview = body_preview(
            b"{\"echo\":\"Bearer s3cr3t-token\"}\n[ERROR] forged\x1b[2J",
            Some(&token),
        );
        assert!(!preview.contains("s3cr3t"), "{preview}");
        assert!(preview.contains("<redacted>"), "{preview}");
        assert!(
            !preview.contains('\n') && !preview.contains('\x1b'),
            "{preview}"
        );
        let long = body_preview(&[b'x'; 70_000], None);
        assert!(long.len() < LOGGED_BODY_CHARS + 40, "{long}");
        assert!(long.ends_with("(70000 bytes read)"), "{long}");
        assert_eq!(body_preview(b"\xff", None), "\"\u{fffd}\"");
    }

    #[test]
    fn proxy_variables_follow_scheme_and_no_proxy() {
        let url = |u: &str| Url::parse(u).expect("url");
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |name: &str| {
                pairs
                    .iter()
                    .find(|(k, _)| *k == name)
                    .map(|(_, v)| (*v).to_owned())
            }
        };
        let none = env(&[]);
        assert_eq!(proxy_variable(&url("http://n:80/"), &none), None);
        let http = env(&[("HTTP_PROXY", "http://p:3128")]);
        assert_eq!(proxy_variable(&url("http://n/"), &http), Some("HTTP_PROXY"));
        assert_eq!(proxy_variable(&url("https://n/"), &http), None);
        let all = env(&[
            ("all_proxy", "socks5://p"),
            ("no_proxy", ".internal, 10.0.0.0/8,::1"),
        ]);
        assert_eq!(
            proxy_variable(&url("https://n.example/"), &all),
            Some("all_proxy")
        );
        assert_eq!(proxy_variable(&url("https://internal/"), &all), None);
        assert_eq!(proxy_variable(&url("https://a.b.internal/"), &all), None);
        assert_eq!(proxy_variable(&url("http://10.1.2.3:8080/"), &all), None);
        assert_eq!(
            proxy_variable(&url("http://11.1.2.3/"), &all),
            Some("all_proxy")
        );
        assert_eq!(proxy_variable(&url("http://[::1]:8080/"), &all), None);
        assert_eq!(
            proxy_variable(&url("http://notinternal/"), &all),
            Some("all_proxy")
        );
        let star = env(&[("HTTPS_PROXY", "http://p"), ("NO_PROXY", "*")]);
        assert_eq!(proxy_variable(&url("https://n/"), &star), None);
    }

    mod settings {
        use super::super::*;

        fn settings(ca: Option<&Path>, token: Option<&str>) -> HttpSettings {
            HttpSettings {
                token: token.and_then(Token::new),
                ca_certificate: ca.map(Path::to_owned),
                ..HttpSettings::with_timeout(Duration::from_secs(1))
            }
        }

        fn error(settings: &HttpSettings) -> String {
            HttpTransport::new(settings)
                .expect_err("refused")
                .to_string()
        }

        #[test]
        fn debug_never_shows_the_token() {
            let transport =
                HttpTransport::new(&settings(None, Some("s3cr3t-token"))).expect("client");
            let debug = format!("{transport:?} {transport:#?}");
            assert!(!debug.contains("s3cr3t"), "{debug}");
            assert!(debug.contains("<redacted>"), "{debug}");
        }

        #[test]
        fn a_token_that_cannot_be_a_header_is_refused_without_showing_it() {
            let err = error(&settings(None, Some("s3cr3t\nline-two")));
            assert!(err.contains("bearer token"), "{err}");
            assert!(!err.contains("s3cr3t"), "{err}");
        }

        #[test]
        fn unusable_ca_files_are_refused_naming_the_file() {
            let dir = tempfile::tempdir().expect("tempdir");
            let cases: [(&str, &[u8], &str); 4] = [
                ("empty.pem", b"", "holds no certificate"),
                ("text.pem", b"not a certificate\n", "holds no certificate"),
                (
                    "base64.pem",
                    b"-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n",
                    "not valid PEM",
                ),
                (
                    "der.pem",
                    b"-----BEGIN CERTIFICATE-----\naGVsbG8gd29ybGQ=\n-----END CERTIFICATE-----\n",
                    "cannot use the CA certificates",
                ),
            ];
            for (name, bytes, expected) in cases {
                let path = dir.path().join(name);
                std::fs::write(&path, bytes).expect("write");
                let err = error(&settings(Some(&path), None));
                assert!(err.contains(&path.display().to_string()), "{err}");
                assert!(err.contains(expected), "{name}: {err}");
                assert!(err.contains("--cacert"), "{err}");
            }
            let missing = dir.path().join("missing.pem");
            let err = error(&settings(Some(&missing), None));
            assert!(err.contains("cannot read the CA certificate file"), "{err}");
        }
    }

    mod http {
        use super::super::*;
        use crate::cancel::Cancel;
        use crate::retry::{Mode, Retrier, RetryPolicy};
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
            let id = "a \"b\" c;é";
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
                .mock("GET", "/api/v1/group/a%20b%22c%20%C3%A9/")
                .with_status(200)
                .with_body(r#"{"groupId":"a b\"c é"}"#)
                .expect(1)
                .create();
            let n = node(&format!("{}/api/", server.url()));
            let reply = transport(2000).send(&n, Action::Read, &group("a b\"c é"));
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
                    retry_after: Some(Duration::from_secs(120)),
                    ..Reply::status(429)
                })
            );
        }

        #[test]
        fn a_307_is_followed_on_the_same_origin_with_method_and_body() {
            let mut server = mockito::Server::new();
            let first = server
                .mock("POST", "/v1/group/")
                .with_status(307)
                .with_header("location", "/v1/group")
                .expect(1)
                .create();
            let moved = server
                .mock("POST", "/v1/group")
                .match_header("content-type", "application/json")
                .match_body(Matcher::Json(serde_json::json!({ "groupId": "g" })))
                .with_status(201)
                .expect(1)
                .create();
            let reply = transport(2000).send(&node(&server.url()), Action::Create, &group("g"));
            assert_eq!(reply, Ok(Reply::status(201)));
            first.assert();
            moved.assert();
        }

        #[test]
        fn a_303_to_a_write_is_not_followed_and_named_with_its_reason() {
            let mut server = mockito::Server::new();
            server
                .mock("DELETE", "/v1/group/")
                .with_status(303)
                .with_header("location", "/elsewhere/")
                .create();
            let elsewhere = server.mock("GET", "/elsewhere/").expect(0).create();
            let reply = transport(2000)
                .send(&node(&server.url()), Action::Delete, &group("g"))
                .expect("an answer");
            assert_eq!(reply.status, 303);
            let text = reply.describe();
            assert!(
                text.starts_with("HTTP 303 See Other: to `/elsewhere/`: not followed, because"),
                "{text}"
            );
            elsewhere.assert();
        }

        #[test]
        fn a_name_that_does_not_exist_is_a_final_dns_failure() {
            // Note: .invalid never resolves (RFC 6761).
            let failure = transport(5000)
                .send(
                    &node("http://no-such-node.invalid:8080"),
                    Action::Create,
                    &group("g"),
                )
                .expect_err("no such host");
            assert!(failure.message.starts_with("DNS: "), "{failure}");
            assert!(!failure.may_have_applied());
            if failure.message == "DNS: no such host" {
                assert_eq!(failure.kind, FailureKind::Permanent);
                assert!(!failure.is_retryable());
            }
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
            assert_eq!(failure.message, "timed out after 200ms");
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
            assert_eq!(failure.message, "connection refused");
            assert!(!failure.may_have_applied());
            assert!(failure.is_retryable());
        }

        #[test]
        fn the_token_is_sent_as_a_bearer_header_on_every_request() {
            let mut server = mockito::Server::new();
            let mocks: Vec<_> = [
                ("POST", "/v1/group/"),
                ("DELETE", "/v1/group/"),
                ("GET", "/v1/group/g/"),
            ]
            .into_iter()
            .map(|(method, path)| {
                server
                    .mock(method, path)
                    .match_header("authorization", "Bearer s3cr3t-token")
                    .with_status(200)
                    .expect(1)
                    .create()
            })
            .collect();
            let settings = HttpSettings {
                token: Token::new("s3cr3t-token\n"),
                ..HttpSettings::with_timeout(Duration::from_secs(2))
            };
            let t = HttpTransport::new(&settings).expect("client");
            for action in [Action::Create, Action::Delete, Action::Read] {
                let reply = t.send(&node(&server.url()), action, &group("g"));
                assert_eq!(reply.map(|r| r.status), Ok(200), "{action}");
            }
            for mock in mocks {
                mock.assert();
            }
        }

        #[test]
        fn no_authorization_header_without_a_token() {
            let mut server = mockito::Server::new();
            let get = server
                .mock("GET", "/v1/group/g/")
                .match_header("authorization", Matcher::Missing)
                .with_status(404)
                .expect(1)
                .create();
            let reply = transport(2000).send(&node(&server.url()), Action::Read, &group("g"));
            assert_eq!(reply.map(|r| r.status), Ok(404));
            get.assert();
        }

        #[test]
        fn the_timeout_covers_a_body_that_drips() {
            use std::io::Write;
            let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
            let url = format!("http://{}", listener.local_addr().expect("addr"));
            let server = std::thread::spawn(move || {
                let (mut stream, _) = listener.accept().expect("accept");
                let mut request = [0; 4096];
                drop(stream.read(&mut request));
                let head = "HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n";
                if stream.write_all(head.as_bytes()).is_err() {
                    return;
                }
                // One byte every 50 ms: each read is quick, the whole is not.
                for _ in 0..200 {
                    std::thread::sleep(Duration::from_millis(50));
                    if stream.write_all(b" ").is_err() {
                        return;
                    }
                }
            });
            let start = Instant::now();
            let failure = transport(500)
                .send(&node(&url), Action::Read, &group("g"))
                .expect_err("cut off");
            assert_eq!(failure.kind, FailureKind::Timeout, "{failure}");
            assert!(
                start.elapsed() < Duration::from_secs(3),
                "{:?}",
                start.elapsed()
            );
            server.join().expect("server thread");
        }

        #[test]
        fn huge_bodies_are_read_only_up_to_the_limit() {
            use std::io::Write;
            // Note: an endless body (as far as the client can tell): the
            // server writes until the client hangs up, or gives up at
            // `GIVE_UP`, and reports how many body bytes it got out. It
            // paces its writes (4 KiB per ms) so that socket buffers stay
            // nearly empty: what it wrote is then close to what the client
            // read, and `SLACK` covers a client stalled for ~250 ms.
            const GIVE_UP: u64 = 8 * 1024 * 1024;
            const SLACK: u64 = 1024 * 1024;
            let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
            let url = format!("http://{}", listener.local_addr().expect("addr"));
            let server = std::thread::spawn(move || {
                let (mut stream, _) = listener.accept().expect("accept");
                let mut request = [0; 4096];
                drop(stream.read(&mut request));
                let head = format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", 1u64 << 40);
                stream.write_all(head.as_bytes()).expect("head");
                let chunk = [b'x'; 4096];
                let mut written = 0;
                while written < GIVE_UP {
                    match stream.write(&chunk) {
                        Ok(n) => written += n as u64,
                        Err(_) => break,
                    }
                    std::thread::sleep(Duration::from_millis(1));
                }
                written
            });
            let transport = transport(10_000);
            let reply = transport.send(&node(&url), Action::Read, &group("g"));
            drop(transport);
            let written = server.join().expect("server thread");
            assert!(
                written <= MAX_BODY_BYTES + SLACK,
                "the client took {written} bytes of an endless body"
            );
            assert_eq!(reply.map(|r| r.status), Ok(200));
        }
    }
}
