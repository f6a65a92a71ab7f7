//! Nodes that gave no answer in this run, as a circuit breaker: later groups wait for one probe
//! after a cool-down, and fail fast only once a node has been silent for a whole retry budget.
//!
//! A node that answers none of a read's attempts is marked silent. A group that needs it then
//! waits: after a cool-down one group's own read of the node is the probe (half-open), and the
//! other groups wait for its verdict. An answer closes the breaker and every group goes on; no
//! answer starts another cool-down. Once the node has been silent for longer than one
//! request's whole retry budget, groups stop waiting and fail at once, sending nothing to it.
//! So a short blip fails at most the groups in flight, and a dead node costs one budget, not
//! one per group.

use std::collections::HashMap;
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::vocab::cancel::Cancel;
use crate::vocab::hosts::Node;

/// The longest cool-down between probes of a silent node.
const MAX_COOLDOWN: Duration = Duration::from_secs(1);

/// How often a waiting group looks at the run's cancel flag.
const CANCEL_POLL: Duration = Duration::from_millis(50);

/// What a group does about a node before reading it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Verdict {
    /// Read it: it is not silent.
    Ask,
    /// Read it: it is silent, and this group's read is the probe that
    /// decides for every group (report what it came to).
    Probe,
    /// Do not: it has been silent for a whole retry budget.
    GiveUp,
    /// The run was cancelled while the group waited.
    Stop,
}

/// One silent node.
#[derive(Debug, Clone, Copy)]
struct Silence {
    /// When it first gave no answer.
    since: Instant,
    /// When the next probe may start.
    probe_at: Instant,
    /// Whether a group's read is probing it now.
    probing: bool,
}

/// The silent nodes of one run.
#[derive(Debug)]
pub(super) struct Breaker {
    silent: Mutex<HashMap<Node, Silence>>,
    changed: Condvar,
    /// How long a node may stay silent before groups fail fast.
    budget: Duration,
    /// The pause between probes.
    cooldown: Duration,
}

impl Breaker {
    /// A breaker whose nodes may stay silent for `budget` (one request's
    /// whole retry budget) before groups give up on them, probed every
    /// `cooldown` (at most a second) meanwhile. A zero budget gives up at
    /// once, as soon as a node is silent.
    pub(super) fn new(budget: Duration, cooldown: Duration) -> Self {
        Self {
            silent: Mutex::new(HashMap::new()),
            changed: Condvar::new(),
            budget,
            cooldown: cooldown.min(MAX_COOLDOWN),
        }
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<Node, Silence>> {
        self.silent.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Before a group reads `node`: waits while it cools down or another
    /// group probes it, then says whether to read it. Returns at once for a
    /// node that is not silent.
    pub(super) fn before_read(&self, node: &Node, cancel: &Cancel) -> Verdict {
        let mut silent = self.lock();
        loop {
            if cancel.is_cancelled() {
                return Verdict::Stop;
            }
            let Some(silence) = silent.get_mut(node) else {
                return Verdict::Ask;
            };
            let now = Instant::now();
            let given_up_at = silence.since + self.budget;
            if now >= given_up_at {
                return Verdict::GiveUp;
            }
            if !silence.probing && now >= silence.probe_at {
                silence.probing = true;
                return Verdict::Probe;
            }
            let until = if silence.probing {
                given_up_at
            } else {
                silence.probe_at.min(given_up_at)
            };
            let wait = until.saturating_duration_since(now).min(CANCEL_POLL);
            silent = self
                .changed
                .wait_timeout(silent, wait)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }

    /// Whether groups give up on `node` now: it has been silent for a whole
    /// retry budget.
    pub(super) fn gives_up_on(&self, node: &Node) -> bool {
        self.lock()
            .get(node)
            .is_some_and(|silence| silence.since.elapsed() >= self.budget)
    }

    /// `node` gave no answer to a read: it is silent (since now, or since
    /// it first was), and the next probe waits one cool-down.
    pub(super) fn silent(&self, node: &Node) {
        let now = Instant::now();
        let mut silent = self.lock();
        let silence = silent.entry(node.clone()).or_insert(Silence {
            since: now,
            probe_at: now,
            probing: false,
        });
        silence.probing = false;
        silence.probe_at = now + self.cooldown;
        drop(silent);
        self.changed.notify_all();
    }

    /// `node` answered: every group may read it again.
    pub(super) fn answered(&self, node: &Node) {
        if self.lock().remove(node).is_some() {
            self.changed.notify_all();
        }
    }

    /// A read of `node` ended without a verdict (it was cut short by a
    /// cancel): another group may probe it.
    pub(super) fn abandoned(&self, node: &Node) {
        if let Some(silence) = self.lock().get_mut(node) {
            silence.probing = false;
        }
        self.changed.notify_all();
    }
}
