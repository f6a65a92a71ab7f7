//! A simulated cluster behind the `Transport` trait, for deterministic engine tests.
//!
//! Faults come from rules (the next N matching requests), from a per-node
//! schedule (the node's n-th request), and from a simulated client crash: the
//! sim panics with a [`SimCrash`] payload at a chosen request, before or after
//! the node applied it, so a test can stop the engine mid-run and look at the
//! journal it left on disk.
//!
//! The folder holds every test-only world, and nothing here ships: this file
//! and `campaign.rs` are the library's (feature `sim`, or its own tests);
//! `world.rs`, `exhaustive.rs` and `manifests.rs` are the binary's tests,
//! declared by `src/cli/mod.rs`, since they run the binary's own modules.

#[cfg(test)]
mod campaign;

use std::cell::Cell;
use std::collections::{BTreeSet, HashMap};
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, Once, PoisonError};
use std::time::Duration;

use crate::journal::Entry;
use crate::transport::{Failure, FailureKind, Reply, Transport};
use crate::vocab::cancel::Cancel;
use crate::vocab::change::Action;
use crate::vocab::group::GroupId;
use crate::vocab::hosts::Node;

/// What one simulated request does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Serve the request normally (used to let the first N through).
    Pass,
    /// Answer with this status without applying.
    StatusBefore(u16),
    /// Apply, then answer with this status.
    StatusAfter(u16),
    /// Time out without applying.
    TimeoutBefore,
    /// Apply, then time out.
    TimeoutAfter,
    /// Refuse the connection (nothing sent).
    Refused,
    /// 429 with this Retry-After.
    Throttle(Option<Duration>),
    /// Break the connection (a reset) without applying.
    ResetBefore,
    /// Apply, then break the connection.
    ResetAfter,
    /// Time out without applying now; the node applies the write later,
    /// when [`SimCluster::land_late`] (or a scripted choice) says so: a
    /// handler that waits on a lock and commits after the client gave up.
    TimeoutLate,
    /// The node refuses the request for reasons of its own (a validation
    /// rule, a proxy in front): it answers this status and applies nothing.
    /// A read never gets 200 or 404 from it (that would be a lie about the
    /// group, which no client can see through); it gets 400 instead.
    Refuse(u16),
    /// A proxy in front answers for the node (an auth proxy's sign-in
    /// page): a read gets a 200 whose body is that page, not JSON naming the
    /// group, and a write a 302 to it, which the client does not follow.
    /// Nothing is applied.
    SignIn,
}

/// What a request got back, as the campaign's checks need it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    /// An HTTP status.
    Status(u16),
    /// No answer: timed out, reset, or refused.
    Failed(FailureKind),
    /// The client crashed after the node served it.
    Lost,
    /// A write that had timed out, applied by the node late.
    Late,
}

impl Answer {
    /// Whether the answer leaves open that the node applied the request:
    /// 5xx, a time-out or reset, or an answer the client never read.
    pub fn ambiguous(self) -> bool {
        match self {
            Self::Status(status) => status >= 500,
            Self::Failed(kind) => kind != FailureKind::Connect,
            Self::Lost | Self::Late => true,
        }
    }
}

/// A write by another client, made just before our request number `at`
/// (an index into [`SimCluster::seen`]) was served.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThirdParty {
    /// Our request it came just before.
    pub at: usize,
    /// The node written to.
    pub node: String,
    /// The group.
    pub group: String,
    /// Created (true) or deleted (false).
    pub create: bool,
}

/// Picks one of `arity` options at a choice point; 0 is the fault-free one.
pub type Chooser = Box<dyn FnMut(usize) -> usize + Send>;

/// Options at a scripted request, in order; option 0 serves it normally.
const SCRIPTED_WRITE: [Choice; 15] = [
    Choice::Fault(Fault::Pass),
    Choice::Fault(Fault::StatusBefore(500)),
    Choice::Fault(Fault::StatusAfter(500)),
    Choice::Fault(Fault::TimeoutBefore),
    Choice::Fault(Fault::TimeoutAfter),
    Choice::Fault(Fault::ResetBefore),
    Choice::Fault(Fault::ResetAfter),
    Choice::Fault(Fault::Refuse(400)),
    Choice::ThirdPartyHere,
    Choice::ThirdPartyElsewhere,
    Choice::Crash(Crash::Before),
    Choice::Crash(Crash::After),
    Choice::Signal,
    // Note: last, so that the numbers of the options before it stay as tests name them.
    Choice::Fault(Fault::TimeoutLate),
    Choice::Stretch(Fault::Throttle(Some(STRETCH_RETRY_AFTER))),
];

/// A read has no "applied" variants.
// Note: one stretch per kind keeps the ordinary exhaustive run under a
// minute: 429s with Retry-After for writes (where no single 429 is
// offered), silence for reads (where a node that stays silent meets the
// breaker); the library's campaign (campaign.rs) draws 429s and nodes
// down for a window on any request.
const SCRIPTED_READ: [Choice; 10] = [
    Choice::Fault(Fault::Pass),
    Choice::Fault(Fault::StatusBefore(500)),
    Choice::Fault(Fault::TimeoutBefore),
    Choice::Fault(Fault::ResetBefore),
    Choice::Fault(Fault::Refuse(400)),
    Choice::ThirdPartyHere,
    Choice::ThirdPartyElsewhere,
    Choice::Crash(Crash::Before),
    Choice::Signal,
    Choice::Stretch(Fault::TimeoutBefore),
];

/// How many of a node's requests in a row a stretch fails, the one that
/// starts it included: with the world's retries, enough to use up a
/// request's attempts and to meet the next request to that node.
const STRETCH: usize = 3;

/// The `Retry-After` of a sick node's stretch (the policy caps it at zero).
const STRETCH_RETRY_AFTER: Duration = Duration::from_secs(2);

/// What happens to one scripted request.
#[derive(Debug, Clone, Copy)]
enum Choice {
    Fault(Fault),
    /// Another client flips the group on this node, then it is served.
    ThirdPartyHere,
    /// Another client flips the group on the next node, then it is served.
    ThirdPartyElsewhere,
    Crash(Crash),
    /// The first signal arrives as this request does; it is served.
    Signal,
    /// The node fails this request and its next [`STRETCH`] - 1 ones with
    /// the fault, then comes back: a load balancer answering 429 with
    /// `Retry-After` for a while, or a node gone silent. The requests inside
    /// the stretch are no choice points.
    Stretch(Fault),
}

/// When a simulated client crash happens, relative to the node's work.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Crash {
    /// The client dies before the request leaves it: the node sees nothing.
    Before,
    /// The node serves the request (applying it), then the client dies
    /// before it reads the answer.
    After,
}

/// The panic payload of a simulated crash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SimCrash;

thread_local! {
    /// Set while [`SimCluster::catch_crash`] runs on this thread.
    static CATCHING: Cell<bool> = const { Cell::new(false) };
}

/// The message `std::thread::scope` panics with when a thread it spawned panicked.
const SCOPED_THREAD_PANICKED: &str = "a scoped thread panicked";

/// Installs, once per process, a panic hook that stays quiet for simulated
/// crashes and defers to the previous hook for every other panic, so real
/// test failures are still reported.
fn silence_crashes() {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let payload = info.payload();
            // Note: a crash on a fan-out worker reaches the caller as
            // `thread::scope`'s own panic; only that one, and only on a
            // thread inside `catch_crash`, is a crash.
            let rethrown =
                CATCHING.get() && payload.downcast_ref::<&str>() == Some(&SCOPED_THREAD_PANICKED);
            if !payload.is::<SimCrash>() && !rethrown {
                previous(info);
            }
        }));
    });
}

#[derive(Debug)]
struct Rule {
    node: String,
    action: Option<Action>,
    fault: Fault,
    remaining: Option<usize>,
}

/// One request the simulated cluster received, with whether the journal on
/// disk held an undo for that node and group at that moment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seen {
    /// The node's base URL.
    pub node: String,
    /// The request.
    pub action: Action,
    /// The group id.
    pub group: String,
    /// For writes when a journal path is watched: whether an entry for
    /// (group, node) was on disk when the request arrived.
    pub journaled: Option<bool>,
    /// Whether the request changed the node's groups.
    pub changed: bool,
    /// What the client got back.
    pub answer: Answer,
}

#[derive(Debug, Default)]
struct State {
    groups: HashMap<String, BTreeSet<String>>,
    rules: Vec<Rule>,
    /// Faults for a node's n-th request: `(node, n)`.
    scheduled: HashMap<(String, usize), Fault>,
    /// Requests each node has received so far.
    received: HashMap<String, usize>,
    /// The node and its request number at which the client crashes.
    crash: Option<(String, usize, Crash)>,
    /// Whether the client has crashed: every later request panics too,
    /// because a dead process sends nothing.
    crashed: bool,
    /// The node and its request number at which a signal cancels the run.
    cancel: Option<(String, usize, Cancel)>,
    seen: Vec<Seen>,
    /// Writes by another client, in order.
    third_party: Vec<ThirdParty>,
    /// How many requests had been served when the client crashed.
    crashed_at: Option<usize>,
    /// The same for every crash.
    crashes: Vec<usize>,
    /// The cancel a scripted signal fires.
    signal: Option<Cancel>,
    /// Writes the nodes will apply late: node, action, group.
    late: Vec<(String, Action, GroupId)>,
}

/// A cluster of in-memory nodes with scripted faults.
#[derive(Default)]
pub struct SimCluster {
    state: Mutex<State>,
    watch_journal: Option<PathBuf>,
    /// When set, every request is a choice point (see [`SimCluster::script`]).
    chooser: Option<Mutex<Chooser>>,
}

impl std::fmt::Debug for SimCluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimCluster")
            .field("state", &self.state)
            .finish_non_exhaustive()
    }
}

impl SimCluster {
    /// `n` empty nodes named `http://nodeN`.
    pub fn new(n: usize) -> (Self, Vec<Node>) {
        let nodes: Vec<Node> = (1..=n)
            .map(|i| Node::parse(&format!("http://node{i}")).expect("valid node"))
            .collect();
        let sim = Self::default();
        {
            let mut state = sim.lock();
            for node in &nodes {
                state.groups.insert(node.base().to_owned(), BTreeSet::new());
            }
        }
        (sim, nodes)
    }

    /// Records, for every write, whether `journal` held its undo at that moment.
    pub fn watch_journal(mut self, journal: PathBuf) -> Self {
        self.watch_journal = Some(journal);
        self
    }

    /// Makes every request a choice point: `chooser` picks what happens to
    /// it (a fault, a write by another client first, a crash, a signal),
    /// and a signal cancels `signal`. Rules and schedules still apply to
    /// requests it serves normally.
    pub fn script(mut self, chooser: Chooser, signal: &Cancel) -> Self {
        self.chooser = Some(Mutex::new(chooser));
        self.lock().signal = Some(signal.clone());
        self
    }

    /// From now on, a scripted signal cancels `signal` (the next invocation's).
    pub fn signal_to(&self, signal: &Cancel) {
        self.lock().signal = Some(signal.clone());
    }

    /// Asks the script (if any) to pick one of `arity` options.
    pub fn choose(&self, arity: usize) -> usize {
        match &self.chooser {
            Some(chooser) => (chooser.lock().unwrap_or_else(PoisonError::into_inner))(arity),
            None => 0,
        }
    }

    /// The simulated client dies here, between requests (a crash at a
    /// journal write): nothing more is sent.
    pub fn crash_now(&self) -> ! {
        {
            let mut state = self.lock();
            state.crashed = true;
            let served = state.seen.len();
            state.crashed_at.get_or_insert(served);
            state.crashes.push(served);
        }
        std::panic::panic_any(SimCrash)
    }

    /// Whether `node` is inside a scripted stretch of failures.
    fn in_stretch(&self, node: &Node) -> bool {
        self.lock()
            .rules
            .iter()
            .any(|r| r.node == node.base() && r.remaining.is_some_and(|n| n > 0))
    }

    /// How many requests had been served when the client crashed.
    pub fn crashed_at(&self) -> Option<usize> {
        self.lock().crashed_at
    }

    /// How many requests had been served at each crash, the ones before a
    /// [`SimCluster::revive`] included, in order.
    pub fn crashes(&self) -> Vec<usize> {
        self.lock().crashes.clone()
    }

    /// Every write by another client so far.
    pub fn third_party(&self) -> Vec<ThirdParty> {
        self.lock().third_party.clone()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // Note: a crash panics with the lock released, but a failing assert
        // elsewhere must not turn every later call into a poison error.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Puts `group` on `node` beforehand.
    pub fn seed(&self, node: &Node, group: &str) {
        self.lock()
            .groups
            .get_mut(node.base())
            .expect("known node")
            .insert(group.to_owned());
    }

    /// Takes `group` off `node` beforehand.
    pub fn unseed(&self, node: &Node, group: &str) {
        self.lock()
            .groups
            .get_mut(node.base())
            .expect("known node")
            .remove(group);
    }

    /// Whether `node` has `group`.
    pub fn has(&self, node: &Node, group: &str) -> bool {
        self.lock().groups[node.base()].contains(group)
    }

    /// Per group, per node: whether the node has the group.
    pub fn states(&self, nodes: &[Node], groups: &[GroupId]) -> Vec<Vec<bool>> {
        groups
            .iter()
            .map(|g| nodes.iter().map(|n| self.has(n, g.as_str())).collect())
            .collect()
    }

    /// The nodes that have `group`, by index.
    pub fn holders(&self, nodes: &[Node], group: &str) -> Vec<usize> {
        (0..nodes.len())
            .filter(|&i| self.has(&nodes[i], group))
            .collect()
    }

    /// Adds a fault for `action` (any action when `None`) on `node`, for the
    /// next `times` matching requests (forever when `None`).
    pub fn fault(&self, node: &Node, action: Option<Action>, fault: Fault, times: Option<usize>) {
        self.lock().rules.push(Rule {
            node: node.base().to_owned(),
            action,
            fault,
            remaining: times,
        });
    }

    /// Makes `node`'s `nth` request (0-based, counting every request the
    /// node has received since the sim started) fail with `fault`. A
    /// scheduled fault wins over rules.
    pub fn fault_at(&self, node: &Node, nth: usize, fault: Fault) {
        self.lock()
            .scheduled
            .insert((node.base().to_owned(), nth), fault);
    }

    /// Takes `node` down for its requests `from..from + len`: they are
    /// refused (nothing sent).
    pub fn down(&self, node: &Node, from: usize, len: usize) {
        for nth in from..from + len {
            self.fault_at(node, nth, Fault::Refused);
        }
    }

    /// Crashes the client at `node`'s `nth` request (0-based, as in
    /// [`SimCluster::fault_at`]): `send` panics with a [`SimCrash`] payload,
    /// and so does every later `send` until [`SimCluster::heal`], since a
    /// dead client sends nothing more.
    pub fn crash_at(&self, node: &Node, nth: usize, when: Crash) {
        self.lock().crash = Some((node.base().to_owned(), nth, when));
    }

    /// Cancels `cancel` (as a SIGTERM would) when `node` receives its `nth`
    /// request; that request is then served as usual.
    pub fn cancel_at(&self, node: &Node, nth: usize, cancel: &Cancel) {
        self.lock().cancel = Some((node.base().to_owned(), nth, cancel.clone()));
    }

    /// Whether the simulated client has crashed (and not been healed since).
    pub fn crashed(&self) -> bool {
        self.lock().crashed
    }

    /// Runs `f` (which drives the engine through this sim); `None` when the
    /// simulated client crashed in it. Any other panic goes on unwinding.
    /// Crashes print nothing, whichever thread they happen on.
    pub fn catch_crash<R>(&self, f: impl FnOnce() -> R) -> Option<R> {
        silence_crashes();
        let was_catching = CATCHING.replace(true);
        let result = catch_unwind(AssertUnwindSafe(f));
        CATCHING.set(was_catching);
        match result {
            Ok(value) => Some(value),
            Err(payload) if payload.is::<SimCrash>() => None,
            Err(payload)
                if self.crashed()
                    && payload.downcast_ref::<&str>() == Some(&SCOPED_THREAD_PANICKED) =>
            {
                None
            }
            Err(payload) => resume_unwind(payload),
        }
    }

    /// Removes every fault, scheduled fault and pending crash, and brings a
    /// crashed client back.
    pub fn heal(&self) {
        let mut state = self.lock();
        state.rules.clear();
        state.scheduled.clear();
        state.crash = None;
        state.crashed = false;
        state.cancel = None;
        state.signal = None;
        drop(state);
        if let Some(chooser) = &self.chooser {
            *chooser.lock().unwrap_or_else(PoisonError::into_inner) = Box::new(|_| 0);
        }
    }

    /// The nodes apply every write they were holding ([`Fault::TimeoutLate`]),
    /// as if they committed it now; each is recorded in [`SimCluster::seen`]
    /// with the answer [`Answer::Late`].
    pub fn land_late(&self) {
        let mut state = self.lock();
        let late = std::mem::take(&mut state.late);
        for (node, action, group) in late {
            let groups = state.groups.get_mut(&node).expect("known node");
            let changed = match action {
                Action::Create => groups.insert(group.as_str().to_owned()),
                Action::Delete => groups.remove(group.as_str()),
                Action::Read => false,
            };
            state.seen.push(Seen {
                node,
                action,
                group: group.as_str().to_owned(),
                journaled: None,
                changed,
                answer: Answer::Late,
            });
        }
    }

    /// Whether some node still holds a write it will apply late.
    pub fn holds_late_writes(&self) -> bool {
        !self.lock().late.is_empty()
    }

    /// A crashed client starts again (a new process), with the same script:
    /// unlike [`SimCluster::heal`], faults and choices go on.
    pub fn revive(&self) {
        let mut state = self.lock();
        state.crash = None;
        state.crashed = false;
    }

    /// Every request so far.
    pub fn seen(&self) -> Vec<Seen> {
        self.lock().seen.clone()
    }

    /// Requests so far as `(node index + 1, action)`, for compact asserts.
    pub fn trace(&self, nodes: &[Node]) -> Vec<(usize, Action)> {
        self.seen()
            .iter()
            .map(|s| {
                let index = nodes
                    .iter()
                    .position(|n| n.base() == s.node)
                    .expect("known");
                (index + 1, s.action)
            })
            .collect()
    }

    /// Requests of `action` that `node` received so far.
    pub fn sent(&self, node: &Node, action: Action) -> usize {
        self.lock()
            .seen
            .iter()
            .filter(|s| s.node == node.base() && s.action == action)
            .count()
    }

    /// Writes (POST and DELETE) so far.
    pub fn writes(&self) -> usize {
        self.seen()
            .iter()
            .filter(|s| s.action != Action::Read)
            .count()
    }

    /// A choice point whenever a node holds a late write (and the script
    /// runs): option 1 makes the nodes apply them now.
    pub fn maybe_land_late(&self) {
        if self.chooser.is_some()
            && !self.crashed()
            && self.holds_late_writes()
            && self.choose(2) == 1
        {
            self.land_late();
        }
    }

    fn journaled(&self, node: &Node, group: &GroupId) -> Option<bool> {
        let path = self.watch_journal.as_ref()?;
        let Ok(bytes) = std::fs::read(path) else {
            return Some(false);
        };
        let value: serde_json::Value = serde_json::from_slice(&bytes).expect("journal is JSON");
        let entries = value["entries"].as_array().cloned().unwrap_or_default();
        Some(
            entries
                .iter()
                .any(|e| e["host"] == node.base() && e["group"] == group.as_str()),
        )
    }
}

impl Transport for SimCluster {
    fn send(&self, node: &Node, action: Action, group: &GroupId) -> Result<Reply, Failure> {
        self.maybe_land_late();
        let journaled = if action == Action::Read {
            None
        } else {
            self.journaled(node, group)
        };
        let scripted = {
            let options: &[Choice] = if action == Action::Read {
                &SCRIPTED_READ
            } else {
                &SCRIPTED_WRITE
            };
            match &self.chooser {
                Some(_) if !self.crashed() && !self.in_stretch(node) => {
                    Some(options[self.choose(options.len())])
                }
                _ => None,
            }
        };
        let mut state = self.lock();
        if state.crashed {
            drop(state);
            std::panic::panic_any(SimCrash);
        }
        let nth = state.received.get(node.base()).copied().unwrap_or(0);
        let mut crash = match &state.crash {
            Some((at, n, when)) if at == node.base() && *n == nth => Some(*when),
            _ => None,
        };
        let mut scripted_fault = None;
        match scripted {
            Some(Choice::Fault(fault)) => scripted_fault = Some(fault),
            Some(Choice::Crash(when)) => crash = Some(when),
            Some(Choice::Stretch(fault)) => {
                scripted_fault = Some(fault);
                state.rules.push(Rule {
                    node: node.base().to_owned(),
                    action: None,
                    fault,
                    remaining: Some(STRETCH - 1),
                });
            }
            Some(Choice::Signal) => {
                if let Some(signal) = &state.signal {
                    signal.cancel();
                }
            }
            Some(Choice::ThirdPartyHere | Choice::ThirdPartyElsewhere) => {
                let mut names: Vec<&String> = state.groups.keys().collect();
                names.sort();
                let here = names.iter().position(|n| *n == node.base()).expect("known");
                let target = match scripted {
                    Some(Choice::ThirdPartyHere) => names[here].clone(),
                    _ => names[(here + 1) % names.len()].clone(),
                };
                let at = state.seen.len();
                let groups = state.groups.get_mut(&target).expect("known node");
                let create = !groups.contains(group.as_str());
                if create {
                    groups.insert(group.as_str().to_owned());
                } else {
                    groups.remove(group.as_str());
                }
                state.third_party.push(ThirdParty {
                    at,
                    node: target,
                    group: group.as_str().to_owned(),
                    create,
                });
            }
            None => {}
        }
        if crash.is_some() {
            let served = state.seen.len() + usize::from(crash == Some(Crash::After));
            state.crashed_at.get_or_insert(served);
            state.crashes.push(served);
        }
        if crash.is_some() {
            state.crash = None;
            state.crashed = true;
        }
        if crash == Some(Crash::Before) {
            drop(state);
            std::panic::panic_any(SimCrash);
        }
        *state.received.entry(node.base().to_owned()).or_default() += 1;
        if let Some((at, n, cancel)) = &state.cancel
            && at == node.base()
            && *n == nth
        {
            cancel.cancel();
            state.cancel = None;
        }
        let scheduled = state.scheduled.remove(&(node.base().to_owned(), nth));
        let rule = state
            .rules
            .iter_mut()
            .find(|r| {
                r.node == node.base()
                    && r.action.is_none_or(|a| a == action)
                    && r.remaining != Some(0)
            })
            .map(|rule| {
                if let Some(n) = rule.remaining.as_mut() {
                    *n -= 1;
                }
                rule.fault
            });
        // Note: a crash "after" is a node that served the request normally
        // and a client that died before it read the answer.
        let fault = if crash.is_some() {
            None
        } else {
            scripted_fault.or(scheduled).or(rule)
        };
        let mut late = None;
        let groups = state.groups.get_mut(node.base()).expect("known node");
        let before = groups.contains(group.as_str());
        let apply = |groups: &mut BTreeSet<String>| -> u16 {
            match action {
                Action::Create if groups.insert(group.as_str().to_owned()) => 201,
                Action::Create => 400,
                Action::Delete => {
                    groups.remove(group.as_str());
                    200
                }
                Action::Read if groups.contains(group.as_str()) => 200,
                Action::Read => 404,
            }
        };
        let reply = |status| Ok(Reply::status(status));
        let fail = |kind| {
            Err(Failure {
                kind,
                message: format!("simulated {kind:?}"),
            })
        };
        let result = match fault {
            None | Some(Fault::Pass) => reply(apply(groups)),
            Some(Fault::StatusBefore(status)) => reply(status),
            Some(Fault::StatusAfter(status)) => {
                apply(groups);
                reply(status)
            }
            Some(Fault::TimeoutBefore) => fail(FailureKind::Timeout),
            Some(Fault::TimeoutAfter) => {
                apply(groups);
                fail(FailureKind::Timeout)
            }
            Some(Fault::ResetBefore) => fail(FailureKind::Broken),
            Some(Fault::ResetAfter) => {
                apply(groups);
                fail(FailureKind::Broken)
            }
            Some(Fault::Refused) => fail(FailureKind::Connect),
            Some(Fault::TimeoutLate) if action == Action::Read => fail(FailureKind::Timeout),
            Some(Fault::TimeoutLate) => {
                late = Some((node.base().to_owned(), action, group.clone()));
                fail(FailureKind::Timeout)
            }
            Some(Fault::Throttle(retry_after)) => Ok(Reply {
                retry_after,
                ..Reply::status(429)
            }),
            Some(Fault::Refuse(status))
                if action == Action::Read && matches!(status, 200 | 404) =>
            {
                reply(400)
            }
            Some(Fault::Refuse(status)) => reply(status),
            Some(Fault::SignIn) if action == Action::Read => Ok(Reply {
                unconfirmed: Some("its body is not JSON: \"<html>Sign in</html>\"".to_owned()),
                ..Reply::status(200)
            }),
            Some(Fault::SignIn) => Ok(Reply {
                redirect: Some("to `/oauth2/sign_in`: not followed".to_owned()),
                ..Reply::status(302)
            }),
        };
        let answer = match (&result, crash) {
            (_, Some(Crash::After)) => Answer::Lost,
            (Ok(reply), _) => Answer::Status(reply.status),
            (Err(failure), _) => Answer::Failed(failure.kind),
        };
        let changed = groups.contains(group.as_str()) != before;
        state.late.extend(late);
        state.seen.push(Seen {
            node: node.base().to_owned(),
            action,
            group: group.as_str().to_owned(),
            journaled,
            changed,
            answer,
        });
        if crash == Some(Crash::After) {
            drop(state);
            std::panic::panic_any(SimCrash);
        }
        result
    }
}

pub fn temp_dir() -> tempfile::TempDir {
    // Note: every journal write fsyncs a file and a directory, which costs
    // milliseconds on a disk and nothing on tmpfs; thousands of cases only
    // stay within seconds on tmpfs.
    let shm = Path::new("/dev/shm");
    if shm.is_dir()
        && let Ok(dir) = tempfile::Builder::new()
            .prefix("cluster-client-campaign-")
            .tempdir_in(shm)
    {
        return dir;
    }
    tempfile::tempdir().expect("tempdir")
}

pub fn load_entries(path: &Path) -> Vec<Entry> {
    if !path.exists() {
        return Vec::new();
    }
    // Note: read the file itself: reopening would wait for the lock that
    // this case's own open journal holds.
    let bytes = std::fs::read(path).expect("read journal");
    let value: serde_json::Value = serde_json::from_slice(&bytes).expect("journal is JSON");
    serde_json::from_value(value["entries"].clone()).expect("journal entries")
}

/// A transport that answers from a script, one entry per attempt, whatever
/// the node, action or group; for tests of the retry policy and of what
/// wraps a transport. Panics when the script runs out.
#[derive(Debug)]
pub struct Scripted(Mutex<std::collections::VecDeque<Result<Reply, Failure>>>);

impl Scripted {
    /// A transport that gives these answers, in order.
    pub fn new(script: Vec<Result<Reply, Failure>>) -> Self {
        Self(Mutex::new(script.into()))
    }

    /// How many answers are left.
    pub fn left(&self) -> usize {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).len()
    }
}

impl Transport for Scripted {
    fn send(&self, _: &Node, _: Action, _: &GroupId) -> Result<Reply, Failure> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop_front()
            .expect("script ran out")
    }
}

/// The environment variable that sets the cases per property for a long campaign.
pub const CASES_VAR: &str = "CLUSTER_CLIENT_CAMPAIGN_CASES";

/// `default` cases per property, unless [`CASES_VAR`] asks for a long campaign.
pub fn cases(default: u32) -> u32 {
    match std::env::var(CASES_VAR) {
        Ok(value) => value
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("{CASES_VAR} must be a number of cases, not {value:?}")),
        Err(_) => default,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn group() -> GroupId {
        GroupId::new("g").expect("group")
    }

    #[test]
    fn scheduled_faults_hit_the_nodes_nth_request_and_win_over_rules() {
        let (sim, nodes) = SimCluster::new(1);
        sim.fault(&nodes[0], None, Fault::StatusBefore(503), None);
        sim.fault_at(&nodes[0], 1, Fault::ResetAfter);
        let first = sim.send(&nodes[0], Action::Create, &group());
        assert_eq!(first.map(|r| r.status), Ok(503));
        let second = sim.send(&nodes[0], Action::Create, &group());
        assert_eq!(second.map_err(|f| f.kind), Err(FailureKind::Broken));
        assert!(sim.has(&nodes[0], "g"), "applied before the reset");
        assert_eq!(
            sim.seen().iter().map(|s| s.changed).collect::<Vec<_>>(),
            [false, true]
        );
    }

    #[test]
    fn a_crash_before_sends_nothing_and_one_after_applies_then_the_client_stays_dead() {
        for (when, applied) in [(Crash::Before, false), (Crash::After, true)] {
            let (sim, nodes) = SimCluster::new(2);
            sim.crash_at(&nodes[1], 0, when);
            let outcome = sim.catch_crash(|| {
                for node in &nodes {
                    drop(sim.send(node, Action::Create, &group()));
                }
            });
            assert_eq!(outcome, None, "{when:?}");
            assert!(sim.crashed());
            assert_eq!(
                sim.holders(&nodes, "g"),
                if applied { vec![0, 1] } else { vec![0] }
            );
            let dead = sim.catch_crash(|| sim.send(&nodes[0], Action::Read, &group()));
            assert!(dead.is_none(), "a crashed client sends nothing more");
            sim.heal();
            assert!(sim.send(&nodes[0], Action::Read, &group()).is_ok());
        }
    }

    #[test]
    fn a_crash_on_a_scoped_worker_thread_is_caught_as_a_crash() {
        let (sim, nodes) = SimCluster::new(2);
        sim.crash_at(&nodes[1], 0, Crash::After);
        let outcome = sim.catch_crash(|| {
            std::thread::scope(|scope| {
                for node in &nodes {
                    scope.spawn(|| drop(sim.send(node, Action::Read, &group())));
                }
            });
        });
        assert_eq!(outcome, None);
    }

    #[test]
    fn other_panics_are_not_taken_for_crashes() {
        let (sim, _) = SimCluster::new(1);
        let result = catch_unwind(AssertUnwindSafe(|| {
            sim.catch_crash(|| std::panic::panic_any(7_u8))
        }));
        let payload = result.expect_err("the panic goes on");
        assert_eq!(payload.downcast_ref::<u8>(), Some(&7));
    }

    #[test]
    fn cancel_fires_at_the_chosen_request_and_the_request_is_served() {
        let (sim, nodes) = SimCluster::new(1);
        let cancel = Cancel::new();
        sim.cancel_at(&nodes[0], 1, &cancel);
        drop(sim.send(&nodes[0], Action::Read, &group()));
        assert!(!cancel.is_cancelled());
        let reply = sim.send(&nodes[0], Action::Create, &group());
        assert!(cancel.is_cancelled());
        assert_eq!(reply.map(|r| r.status), Ok(201));
    }
}
