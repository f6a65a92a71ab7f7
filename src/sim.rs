//! A simulated cluster behind the `Transport` trait, for deterministic engine tests.

use std::collections::{BTreeSet, HashMap};
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

use crate::group::GroupId;
use crate::hosts::Node;
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
}

#[derive(Debug, Default)]
struct State {
    groups: HashMap<String, BTreeSet<String>>,
    rules: Vec<Rule>,
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

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().expect("sim state")
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

    /// Removes every fault.
    pub fn heal(&self) {
        self.lock().rules.clear();
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
        state.seen.push(Seen {
            node: node.base().to_owned(),
            action,
            group: group.as_str().to_owned(),
            journaled,
        });
        let fault = state
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
        let groups = state.groups.get_mut(node.base()).expect("known node");
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
        match fault {
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
            Some(Fault::Refused) => fail(FailureKind::Connect),
            Some(Fault::Throttle(retry_after)) => Ok(Reply {
                status: 429,
                retry_after,
            }),
        }
    }
}
