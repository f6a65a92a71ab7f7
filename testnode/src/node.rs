//! The node: its listener, its connection threads and the state they share.

use std::collections::{BTreeSet, HashMap};
use std::fmt;
use std::io::{self, BufReader, Read, Write};
use std::net::{Ipv4Addr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::{ServerConfig, ServerConnection, StreamOwned};
use socket2::SockRef;

/// The next request sequence number, shared by every node in the process.
static NEXT_SEQ: AtomicU64 = AtomicU64::new(0);

use crate::dice::Dice;
use crate::group::{self, Slashes};
use crate::http::{self, ReadError, Response, WireRequest};
use crate::{Exchange, Fault, Request, Rule};

/// The longest a hanging connection waits to be released before closing on its own.
const HANG_CAP: Duration = Duration::from_secs(60);

/// The body length a [`Fault::Drip`] answer promises in its `Content-Length`.
const DRIP_BODY_BYTES: usize = 1024 * 1024;

/// A group-API server on 127.0.0.1 with its own set of groups, a log of every request, and
/// fault rules.
///
/// Every method takes `&self`, so a node can be shared with other threads by reference or in an
/// `Arc`. Dropping it stops it (see [`TestNode::stop`]) and releases every hanging connection;
/// connection threads then exit on their own.
pub struct TestNode {
    shared: Arc<Shared>,
    /// The running accept loop; `None` while stopped.
    acceptor: Mutex<Option<Acceptor>>,
}

/// State shared by the handle, the accept loop and the connection threads.
struct Shared {
    port: u16,
    /// The TLS settings of an https node; `None` serves plain HTTP.
    tls: Option<Arc<ServerConfig>>,
    state: Mutex<State>,
    /// Signalled whenever a request is recorded.
    recorded: Condvar,
    /// Signalled whenever a hanging or pausing connection should check whether to go on.
    wake: Condvar,
}

struct State {
    groups: BTreeSet<String>,
    rules: Vec<Rule>,
    log: Vec<Exchange>,
    latency: Duration,
    dice: Option<Dice>,
    /// Bumped by `release_hangs`; a hang ends when this differs from its value at the start.
    hang_epoch: u64,
    /// A clone of every open connection's stream, so `stop` can shut them down. A connection
    /// that is no longer in here has been stopped and must close without answering.
    conns: HashMap<u64, TcpStream>,
    next_conn: u64,
    observers: Vec<Sender<Exchange>>,
    /// How the node's framework treats trailing slashes.
    slashes: Slashes,
    /// Changes held by [`Fault::ApplyLate`], applied by `land_late_writes`.
    late: Vec<group::Op>,
}

struct Acceptor {
    stopping: Arc<AtomicBool>,
    thread: JoinHandle<()>,
}

/// What a connection does once a request has been decided.
enum Action {
    Respond(Response),
    Hang,
    Reset,
    /// Send these bytes as they are, then close.
    Raw(Vec<u8>),
    /// Send this head (status line and headers), then the body one byte every `every`.
    Drip {
        status: u16,
        head: Vec<u8>,
        every: Duration,
    },
}

struct Plan {
    action: Action,
    /// Latency plus any `Fault::Delay`, waited before acting.
    delay: Duration,
    close: bool,
    hang_epoch: u64,
}

impl TestNode {
    /// Starts a node on 127.0.0.1 with a free port picked by the OS.
    ///
    /// # Panics
    /// If the OS refuses to open a listening socket or spawn a thread.
    pub fn start() -> TestNode {
        TestNode::start_on(0)
            .unwrap_or_else(|e| panic!("testnode: cannot listen on 127.0.0.1:0: {e}"))
    }

    /// Starts a node on 127.0.0.1:`port`; port 0 picks a free one.
    ///
    /// # Errors
    /// When the port is taken or the listener or its thread cannot be created.
    pub fn start_on(port: u16) -> io::Result<TestNode> {
        TestNode::listen(port, None)
    }

    /// Starts an https node on 127.0.0.1 with a free port, serving the same API over TLS
    /// (1.2 or 1.3, no client certificates) with this certificate chain (leaf first) and its
    /// private key, both PEM. The leaf should name `127.0.0.1` (and `localhost`, for clients
    /// that use that name); [`url`](TestNode::url) is `https://127.0.0.1:PORT`.
    ///
    /// A client that rejects the certificate closes the connection during the handshake, so
    /// no request is recorded for it.
    ///
    /// # Panics
    /// If the PEM holds no certificate or no private key, the key does not match, or the
    /// listener cannot be opened.
    pub fn start_tls(cert_chain_pem: &str, key_pem: &str) -> TestNode {
        let certs = CertificateDer::pem_slice_iter(cert_chain_pem.as_bytes())
            .collect::<Result<Vec<_>, _>>()
            .unwrap_or_else(|e| panic!("testnode: unreadable certificate PEM: {e}"));
        assert!(
            !certs.is_empty(),
            "testnode: the certificate PEM holds no certificate"
        );
        let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes())
            .unwrap_or_else(|e| panic!("testnode: unreadable private key PEM: {e}"));
        // Note: ring, the provider reqwest's rustls already uses, so no second crypto
        // library (and no C build) enters the test build.
        let config =
            ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
                .with_safe_default_protocol_versions()
                .and_then(|builder| builder.with_no_client_auth().with_single_cert(certs, key))
                .unwrap_or_else(|e| panic!("testnode: unusable TLS certificate or key: {e}"));
        TestNode::listen(0, Some(Arc::new(config)))
            .unwrap_or_else(|e| panic!("testnode: cannot listen on 127.0.0.1:0: {e}"))
    }

    fn listen(port: u16, tls: Option<Arc<ServerConfig>>) -> io::Result<TestNode> {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, port))?;
        let shared = Arc::new(Shared {
            port: listener.local_addr()?.port(),
            tls,
            state: Mutex::new(State {
                groups: BTreeSet::new(),
                rules: Vec::new(),
                log: Vec::new(),
                latency: Duration::ZERO,
                dice: None,
                hang_epoch: 0,
                conns: HashMap::new(),
                next_conn: 0,
                observers: Vec::new(),
                slashes: Slashes::default(),
                late: Vec::new(),
            }),
            recorded: Condvar::new(),
            wake: Condvar::new(),
        });
        let acceptor = Acceptor::spawn(&shared, listener)?;
        Ok(TestNode {
            shared,
            acceptor: Mutex::new(Some(acceptor)),
        })
    }

    /// The base URL, `http://127.0.0.1:PORT` (`https://` for a node started with
    /// [`start_tls`](TestNode::start_tls)), without a trailing slash. Stays the same across
    /// [`stop`](TestNode::stop) and [`restart`](TestNode::restart).
    pub fn url(&self) -> String {
        let scheme = if self.shared.tls.is_some() {
            "https"
        } else {
            "http"
        };
        format!("{scheme}://127.0.0.1:{}", self.shared.port)
    }

    /// The port the node listens on (the real one when started on port 0).
    pub fn port(&self) -> u16 {
        self.shared.port
    }

    /// Whether the node is listening, i.e. not stopped.
    pub fn is_running(&self) -> bool {
        lock(&self.acceptor).is_some()
    }

    /// Adds a group as if it had been created earlier; not recorded as a request. Inserting a
    /// group that exists does nothing.
    pub fn insert_group(&self, id: &str) {
        self.shared.lock().groups.insert(id.to_owned());
    }

    /// Removes a group behind the API's back; not recorded as a request. Removing a group that
    /// does not exist does nothing.
    pub fn remove_group(&self, id: &str) {
        self.shared.lock().groups.remove(id);
    }

    /// Whether the node holds this group (compared exactly, after decoding).
    pub fn has_group(&self, id: &str) -> bool {
        self.shared.lock().groups.contains(id)
    }

    /// Applies every change a [`Fault::ApplyLate`] held, in the order they arrived, as if
    /// the node committed them now; returns how many there were.
    pub fn land_late_writes(&self) -> usize {
        let mut state = self.shared.lock();
        let late = std::mem::take(&mut state.late);
        for op in &late {
            op.apply(&mut state.groups);
        }
        late.len()
    }

    /// How many changes a [`Fault::ApplyLate`] holds, not applied yet.
    pub fn late_writes(&self) -> usize {
        self.shared.lock().late.len()
    }

    /// A snapshot of every group the node holds.
    pub fn groups(&self) -> BTreeSet<String> {
        self.shared.lock().groups.clone()
    }

    /// Appends a fault rule. Rules are checked in the order they were added; the first one that
    /// matches and is not spent decides the fault. Requests no rule matches are served normally
    /// (or by the random fail rate, see [`set_fail_rate`](TestNode::set_fail_rate)).
    pub fn add_rule(&self, rule: Rule) {
        self.shared.lock().rules.push(rule);
    }

    /// Answers as a node written with this framework would about trailing slashes: FastAPI's
    /// 307 to the path without one, Flask's 308 to the path with one (see [`Slashes`]).
    /// Applies to requests decided after the call.
    pub fn set_slashes(&self, slashes: Slashes) {
        self.shared.lock().slashes = slashes;
    }

    /// Removes every rule, spent or not. Requests already hanging stay hung.
    pub fn clear_rules(&self) {
        self.shared.lock().rules.clear();
    }

    /// Waits this long before every answer, fault answers and resets included (not before a
    /// hang). `Duration::ZERO` turns it off. Applies to requests decided after the call.
    pub fn set_latency(&self, latency: Duration) {
        self.shared.lock().latency = latency;
    }

    /// Faults each POST and DELETE that no rule matched with probability `rate`, choosing with
    /// a generator seeded by `seed` among [`Fault::Status(500)`](Fault::Status),
    /// [`Fault::ApplyThenStatus(500)`](Fault::ApplyThenStatus) and [`Fault::ApplyThenReset`].
    /// The same seed and the same sequence of writes give the same faults. A rate of 0 turns
    /// it off; GETs are never faulted this way.
    ///
    /// # Panics
    /// If `rate` is not within `0.0..=1.0`.
    pub fn set_fail_rate(&self, rate: f64, seed: u64) {
        assert!(
            (0.0..=1.0).contains(&rate),
            "testnode: fail rate must be within 0..=1, got {rate}"
        );
        self.shared.lock().dice = (rate > 0.0).then(|| Dice::new(rate, seed));
    }

    /// Stops listening: closes the listener, so new connections are refused (ECONNREFUSED),
    /// and shuts down every open connection, keep-alive and hanging ones included, without an
    /// answer. Groups, rules and the request log are kept. Stopping a stopped node does
    /// nothing.
    pub fn stop(&self) {
        if let Some(acceptor) = lock(&self.acceptor).take() {
            acceptor.stopping.store(true, Ordering::SeqCst);
            // Note: accept() blocks, so a throwaway connection wakes the loop, which then sees
            // the flag and returns, dropping the listener. Joining makes the refusal immediate.
            let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, self.shared.port));
            drop(TcpStream::connect_timeout(&addr, Duration::from_secs(1)));
            // The accept loop does not panic; if it did, its listener is gone anyway.
            drop(acceptor.thread.join());
        }
        let conns = std::mem::take(&mut self.shared.lock().conns);
        for stream in conns.values() {
            // An error means the peer already closed, which is what we want.
            drop(stream.shutdown(Shutdown::Both));
        }
        self.shared.wake.notify_all();
    }

    /// Listens again on the same port after [`stop`](TestNode::stop), with the same groups,
    /// rules and log. Does nothing if the node is running.
    ///
    /// # Panics
    /// If the port cannot be bound again (say another process took it meanwhile).
    pub fn restart(&self) {
        let mut acceptor = lock(&self.acceptor);
        if acceptor.is_some() {
            return;
        }
        let port = self.shared.port;
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, port)).unwrap_or_else(|e| {
            panic!("testnode: cannot listen on 127.0.0.1:{port} again after stop: {e}")
        });
        *acceptor = Some(Acceptor::spawn(&self.shared, listener).unwrap_or_else(|e| {
            panic!("testnode: cannot start the accept thread for port {port}: {e}")
        }));
    }

    /// Every request received so far, in arrival order, faulted ones included.
    pub fn requests(&self) -> Vec<Request> {
        let state = self.shared.lock();
        state.log.iter().map(|e| e.request.clone()).collect()
    }

    /// Every request received so far with what the node did about it, in arrival order.
    pub fn exchanges(&self) -> Vec<Exchange> {
        self.shared.lock().log.clone()
    }

    /// How many requests with this method were received (ASCII case-insensitive), faulted ones
    /// included.
    pub fn count(&self, method: &str) -> usize {
        let state = self.shared.lock();
        state
            .log
            .iter()
            .filter(|e| e.request.method.eq_ignore_ascii_case(method))
            .count()
    }

    /// How many POST and DELETE requests were received, to any path, faulted ones included.
    pub fn writes(&self) -> usize {
        self.count("POST") + self.count("DELETE")
    }

    /// Blocks until at least `n` requests have been received in total (counting from the
    /// node's start, not from this call) or `timeout` passes. A request counts once its
    /// headers and body are read, before any fault, latency or delay. Returns whether `n` was
    /// reached.
    pub fn wait_for_requests(&self, n: usize, timeout: Duration) -> bool {
        self.wait_for(timeout, |log| log.len() >= n)
    }

    /// Blocks until `done` returns true for the log of exchanges so far, or `timeout` passes;
    /// `done` is called once now and again after each new request. Returns its last answer.
    pub fn wait_for(&self, timeout: Duration, mut done: impl FnMut(&[Exchange]) -> bool) -> bool {
        let state = self.shared.lock();
        let (state, _) = self
            .shared
            .recorded
            .wait_timeout_while(state, timeout, |state| !done(&state.log))
            .unwrap_or_else(PoisonError::into_inner);
        done(&state.log)
    }

    /// A channel that receives every exchange decided from now on, as it is decided (before
    /// latency, a delay, or the response is written). The channel closes when the node is
    /// dropped; dropping the receiver unsubscribes.
    pub fn subscribe(&self) -> Receiver<Exchange> {
        let (tx, rx) = mpsc::channel();
        self.shared.lock().observers.push(tx);
        rx
    }

    /// Wakes every connection hanging right now; each closes without an answer. Requests that
    /// hang after this call hang until the next release.
    pub fn release_hangs(&self) {
        self.shared.lock().hang_epoch += 1;
        self.shared.wake.notify_all();
    }
}

impl Drop for TestNode {
    fn drop(&mut self) {
        self.stop();
        self.shared.lock().observers.clear();
    }
}

impl fmt::Debug for TestNode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TestNode")
            .field("url", &self.url())
            .field("running", &self.is_running())
            .finish_non_exhaustive()
    }
}

/// Locks a mutex, ignoring poisoning: a test that panicked while holding it must not make every
/// later call panic too.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Acceptor {
    fn spawn(shared: &Arc<Shared>, listener: TcpListener) -> io::Result<Acceptor> {
        let stopping = Arc::new(AtomicBool::new(false));
        let thread = thread::Builder::new()
            .name(format!("testnode-{}-accept", shared.port))
            .spawn({
                let shared = Arc::clone(shared);
                let stopping = Arc::clone(&stopping);
                move || accept_loop(&shared, &listener, &stopping)
            })?;
        Ok(Acceptor { stopping, thread })
    }
}

fn accept_loop(shared: &Arc<Shared>, listener: &TcpListener, stopping: &AtomicBool) {
    for stream in listener.incoming() {
        if stopping.load(Ordering::SeqCst) {
            return;
        }
        match stream {
            Ok(stream) => Shared::spawn_connection(shared, stream),
            // Note: errors such as EMFILE repeat until something closes; back off a little
            // rather than spin.
            Err(_) => thread::sleep(Duration::from_millis(10)),
        }
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        lock(&self.state)
    }

    fn spawn_connection(shared: &Arc<Shared>, stream: TcpStream) {
        let Ok(clone) = stream.try_clone() else {
            return;
        };
        // Responses go out in one write; don't let Nagle hold them back.
        drop(stream.set_nodelay(true));
        let id = {
            let mut state = shared.lock();
            let id = state.next_conn;
            state.next_conn += 1;
            state.conns.insert(id, clone);
            id
        };
        let spawned = thread::Builder::new()
            .name(format!("testnode-{}-conn-{id}", shared.port))
            .spawn({
                let shared = Arc::clone(shared);
                move || match &shared.tls {
                    // Note: the handshake happens on the first read, in this thread, so a
                    // slow or failing handshake never holds up the accept loop.
                    Some(config) => match ServerConnection::new(Arc::clone(config)) {
                        Ok(tls) => shared.serve(id, StreamOwned::new(tls, stream)),
                        Err(_) => shared.unregister(id),
                    },
                    None => shared.serve(id, stream),
                }
            });
        if spawned.is_err() {
            shared.unregister(id);
        }
    }

    /// Serves requests on one connection until it closes, is stopped, hangs or is reset.
    fn serve(&self, id: u64, conn: impl Conn) {
        let mut reader = BufReader::new(conn);
        loop {
            let wire = match http::read_request(&mut reader) {
                Ok(Some(wire)) => wire,
                Ok(None) | Err(ReadError::Io) => break,
                Err(ReadError::Malformed(why)) => {
                    drop(send(
                        reader.get_mut(),
                        &Response::error(400, why).to_bytes(true),
                    ));
                    break;
                }
            };
            let Some(plan) = self.decide(id, wire) else {
                break;
            };
            if !self.pause(id, plan.delay) {
                break;
            }
            match plan.action {
                Action::Respond(response) => {
                    let sent = send(reader.get_mut(), &response.to_bytes(plan.close));
                    if sent.is_err() || plan.close {
                        break;
                    }
                }
                Action::Raw(bytes) => {
                    drop(send(reader.get_mut(), &bytes));
                    break;
                }
                Action::Drip { head, every, .. } => {
                    self.drip(id, reader.get_mut(), &head, every);
                    break;
                }
                Action::Hang => {
                    self.hang(id, plan.hang_epoch);
                    break;
                }
                Action::Reset => {
                    // Note: the registry's clone shares the socket; it must go first, or the
                    // close below would not be the last one and no RST would be sent.
                    self.unregister(id);
                    drop(SockRef::from(reader.get_ref().tcp()).set_linger(Some(Duration::ZERO)));
                    return;
                }
            }
        }
        // Closing our clone in the registry too is what lets the peer see the close.
        self.unregister(id);
    }

    /// Records the request and decides, under one lock, which fault applies, applies the change
    /// if it should, and what to answer. `None` when the connection was stopped meanwhile.
    fn decide(&self, id: u64, wire: WireRequest) -> Option<Plan> {
        let slashes = self.lock().slashes;
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        let host = wire
            .headers
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case("host"))
            .map_or_else(|| format!("127.0.0.1:{}", self.port), |(_, v)| v.clone());
        let origin = format!("{scheme}://{host}");
        let routed = group::route_with(slashes, &origin, &wire.method, &wire.target, &wire.body);
        let request = Request {
            seq: 0,
            method: wire.method,
            path: wire.target,
            group: routed.group,
            headers: wire.headers,
            body: String::from_utf8_lossy(&wire.body).into_owned(),
        };
        let op = routed.op;

        let mut guard = self.lock();
        let state = &mut *guard;
        if !state.conns.contains_key(&id) {
            return None;
        }
        let mut request = request;
        // Note: stamped under the node's lock, so one request's number is
        // taken when it is recorded, in the same step as any change it makes.
        request.seq = NEXT_SEQ.fetch_add(1, Ordering::SeqCst);
        let fault = state.pick_fault(&request);
        let groups = &mut state.groups;
        let mut delay = state.latency;
        let action = match &fault {
            None => Action::Respond(op.apply(groups)),
            Some(Fault::Delay(extra)) => {
                delay += *extra;
                Action::Respond(op.apply(groups))
            }
            Some(Fault::Status(status)) => Action::Respond(injected(*status)),
            Some(Fault::ApplyThenStatus(status)) => {
                op.apply(groups);
                Action::Respond(injected(*status))
            }
            Some(Fault::Hang) => Action::Hang,
            Some(Fault::ApplyLate) => {
                state.late.push(op.clone());
                Action::Hang
            }
            Some(Fault::ApplyThenHang) => {
                op.apply(groups);
                Action::Hang
            }
            Some(Fault::Reset) => Action::Reset,
            Some(Fault::ApplyThenReset) => {
                op.apply(groups);
                Action::Reset
            }
            Some(Fault::TooManyRequests { retry_after }) => {
                let response = Response::error(429, "too many requests (injected)");
                Action::Respond(match retry_after {
                    Some(after) => response.with_header("Retry-After", after.clone()),
                    None => response,
                })
            }
            Some(Fault::Redirect(location)) => Action::Respond(
                Response::error(307, "redirected (injected)")
                    .with_header("Location", location.clone()),
            ),
            Some(Fault::RedirectStatus { status, location }) => Action::Respond(
                Response::error(*status, "redirected (injected)")
                    .with_header("Location", location.clone()),
            ),
            Some(Fault::Drip { status, every }) => {
                let head =
                    Response::json(*status, &serde_json::Value::Null).head(DRIP_BODY_BYTES, true);
                Action::Drip {
                    status: *status,
                    head,
                    every: *every,
                }
            }
            Some(Fault::Body {
                status,
                content_type,
                body,
            }) => Action::Respond(canned(*status, content_type, body)),
            Some(Fault::ApplyThenBody {
                status,
                content_type,
                body,
            }) => {
                op.apply(groups);
                Action::Respond(canned(*status, content_type, body))
            }
            Some(Fault::Raw(bytes)) => Action::Raw(bytes.clone()),
        };

        let exchange = Exchange {
            request,
            applied: op.is_write() && fault.as_ref().is_none_or(Fault::applies),
            fault,
            status: match &action {
                Action::Respond(response) => Some(response.status),
                Action::Drip { status, .. } => Some(*status),
                Action::Hang | Action::Reset | Action::Raw(_) => None,
            },
        };
        state
            .observers
            .retain(|observer| observer.send(exchange.clone()).is_ok());
        state.log.push(exchange);
        self.recorded.notify_all();

        Some(Plan {
            action,
            delay,
            close: wire.close,
            hang_epoch: state.hang_epoch,
        })
    }

    /// Waits `delay`, cut short if the connection is stopped. Returns whether it may go on.
    fn pause(&self, id: u64, delay: Duration) -> bool {
        let state = self.lock();
        if delay.is_zero() {
            return state.conns.contains_key(&id);
        }
        let (state, _) = self
            .wake
            .wait_timeout_while(state, delay, |state| state.conns.contains_key(&id))
            .unwrap_or_else(PoisonError::into_inner);
        state.conns.contains_key(&id)
    }

    /// Waits until the hang is released, the connection stopped, or `HANG_CAP` passes.
    fn hang(&self, id: u64, epoch: u64) {
        let state = self.lock();
        drop(
            self.wake
                .wait_timeout_while(state, HANG_CAP, |state| {
                    state.hang_epoch == epoch && state.conns.contains_key(&id)
                })
                .unwrap_or_else(PoisonError::into_inner),
        );
    }

    /// Writes `head`, then one body byte every `every`, until the peer closes, the connection
    /// is stopped, or `HANG_CAP` passes.
    fn drip(&self, id: u64, conn: &mut impl Write, head: &[u8], every: Duration) {
        if send(conn, head).is_err() {
            return;
        }
        let start = Instant::now();
        for _ in 0..DRIP_BODY_BYTES {
            if start.elapsed() >= HANG_CAP || !self.pause(id, every) || send(conn, b" ").is_err() {
                return;
            }
        }
    }

    fn unregister(&self, id: u64) {
        let clone = self.lock().conns.remove(&id);
        drop(clone);
    }
}

impl State {
    /// The fault for this request: the first live matching rule's (spending one of its
    /// `times`), else the dice's for writes, else none.
    fn pick_fault(&mut self, request: &Request) -> Option<Fault> {
        if let Some(i) = self.rules.iter().position(|rule| rule.matches(request)) {
            let fault = self.rules[i].fault.clone();
            if self.rules[i].fire() {
                self.rules.remove(i);
            }
            return Some(fault);
        }
        let write = matches!(request.method.as_str(), "POST" | "DELETE");
        self.dice.as_mut().filter(|_| write).and_then(Dice::roll)
    }
}

/// A canned answer of a [`Fault::Body`] or [`Fault::ApplyThenBody`].
fn canned(status: u16, content_type: &str, body: &[u8]) -> Response {
    Response {
        status,
        content_type: content_type.to_owned(),
        extra_headers: Vec::new(),
        body: body.to_vec(),
    }
}

/// The body of an injected status answer.
fn injected(status: u16) -> Response {
    Response::error(status, &format!("injected fault: {status}"))
}

/// A served connection: plain TCP, or TLS over TCP.
trait Conn: Read + Write {
    /// The socket underneath, for socket options such as linger.
    fn tcp(&self) -> &TcpStream;
}

impl Conn for TcpStream {
    fn tcp(&self) -> &TcpStream {
        self
    }
}

impl Conn for StreamOwned<ServerConnection, TcpStream> {
    fn tcp(&self) -> &TcpStream {
        &self.sock
    }
}

/// Writes all of `bytes` and flushes them (TLS buffers records until then).
fn send(conn: &mut impl Write, bytes: &[u8]) -> io::Result<()> {
    conn.write_all(bytes)?;
    conn.flush()
}
