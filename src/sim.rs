//! A simulated cluster behind the `Transport` trait, for deterministic engine tests.
//!
//! Faults come from rules (the next N matching requests), from a per-node
//! schedule (the node's n-th request), and from a simulated client crash: the
//! sim panics with a [`SimCrash`] payload at a chosen request, before or after
//! the node applied it, so a test can stop the engine mid-run and look at the
//! journal it left on disk.

use std::cell::Cell;
use std::collections::{BTreeSet, HashMap};
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::path::PathBuf;
use std::sync::{Mutex, MutexGuard, Once, PoisonError};
use std::time::Duration;

use crate::group::GroupId;
use crate::hosts::Node;
use crate::signals::Cancel;
use crate::transport::{Action, Failure, FailureKind, Reply, Transport};

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
}

/// A cluster of in-memory nodes with scripted faults.
#[derive(Debug, Default)]
pub struct SimCluster {
    state: Mutex<State>,
    watch_journal: Option<PathBuf>,
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

    /// Whether `node` has `group`.
    pub fn has(&self, node: &Node, group: &str) -> bool {
        self.lock().groups[node.base()].contains(group)
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
        let journaled = if action == Action::Read {
            None
        } else {
            self.journaled(node, group)
        };
        let mut state = self.lock();
        if state.crashed {
            drop(state);
            std::panic::panic_any(SimCrash);
        }
        let nth = state.received.get(node.base()).copied().unwrap_or(0);
        let crash = match &state.crash {
            Some((at, n, when)) if at == node.base() && *n == nth => Some(*when),
            _ => None,
        };
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
            scheduled.or(rule)
        };
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
        let reply = |status| {
            Ok(Reply {
                status,
                retry_after: None,
            })
        };
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
            Some(Fault::Throttle(retry_after)) => Ok(Reply {
                status: 429,
                retry_after,
            }),
        };
        let changed = groups.contains(group.as_str()) != before;
        state.seen.push(Seen {
            node: node.base().to_owned(),
            action,
            group: group.as_str().to_owned(),
            journaled,
            changed,
        });
        if crash == Some(Crash::After) {
            drop(state);
            std::panic::panic_any(SimCrash);
        }
        result
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
