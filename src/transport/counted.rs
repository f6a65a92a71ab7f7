//! Counting what a transport sends: attempts by method and outcome, and retries, for a
//! caller's metrics. The counts are plain labels and numbers, so a reader needs none of the
//! transport's own types.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use super::{Abandon, Failure, FailureKind, Reply, Transport};
use crate::vocab::change::Action;
use crate::vocab::group::GroupId;
use crate::vocab::hosts::Node;

/// The request methods counted, in the order [`RequestCounts::METHODS`] lists them.
const ACTIONS: [Action; 3] = [Action::Read, Action::Create, Action::Delete];

/// Attempt and retry counts, shared by every thread that sends through a [`Counted`].
#[derive(Debug, Default)]
pub struct RequestCounts {
    /// Attempts by method (index into [`ACTIONS`]) and outcome (index into
    /// [`RequestCounts::OUTCOMES`]).
    requests: [[AtomicU64; RequestCounts::OUTCOMES.len()]; ACTIONS.len()],
    retries: AtomicU64,
}

impl RequestCounts {
    /// The HTTP methods counted.
    pub const METHODS: [&'static str; 3] = ["GET", "POST", "DELETE"];

    /// The outcomes of one attempt: a status class, or why no answer came.
    pub const OUTCOMES: [&'static str; 10] = [
        "1xx",
        "2xx",
        "3xx",
        "4xx",
        "5xx",
        "timeout",
        "connect",
        "broken",
        "abandoned",
        "permanent",
    ];

    /// Attempts sent so far with `method` (one of [`Self::METHODS`]) that ended in `outcome`
    /// (one of [`Self::OUTCOMES`]); 0 for a label that is neither.
    pub fn requests(&self, method: &str, outcome: &str) -> u64 {
        let m = Self::METHODS.iter().position(|x| *x == method);
        let o = Self::OUTCOMES.iter().position(|x| *x == outcome);
        match (m, o) {
            (Some(m), Some(o)) => self.requests[m][o].load(Ordering::Relaxed),
            _ => 0,
        }
    }

    /// Attempts beyond the first of each request, as the retry policy sent them.
    pub fn retries(&self) -> u64 {
        self.retries.load(Ordering::Relaxed)
    }

    fn record(&self, action: Action, result: &Result<Reply, Failure>) {
        let method = ACTIONS.iter().position(|a| *a == action).unwrap_or(0);
        let outcome = match result {
            Ok(reply) => match reply.status {
                100..=199 => 0,
                200..=299 => 1,
                300..=399 => 2,
                400..=499 => 3,
                // Note: a status outside 100..=599 is a broken answer; it is
                // counted with the 5xx, as the retry policy treats it.
                _ => 4,
            },
            Err(failure) => match failure.kind {
                FailureKind::Timeout => 5,
                FailureKind::Connect => 6,
                FailureKind::Broken => 7,
                FailureKind::Abandoned => 8,
                FailureKind::Permanent => 9,
            },
        };
        self.requests[method][outcome].fetch_add(1, Ordering::Relaxed);
    }
}

/// A [`Transport`] that counts every attempt, and every retry the retry policy announces, into
/// shared [`RequestCounts`], and passes each on unchanged.
#[derive(Debug)]
pub struct Counted<T> {
    inner: T,
    counts: Arc<RequestCounts>,
}

impl<T: Transport> Counted<T> {
    /// Wraps `inner`; what it sends is counted into `counts`.
    pub fn new(inner: T, counts: Arc<RequestCounts>) -> Self {
        Self { inner, counts }
    }
}

impl<T: Transport> Transport for Counted<T> {
    fn send(&self, node: &Node, action: Action, group: &GroupId) -> Result<Reply, Failure> {
        let result = self.inner.send(node, action, group);
        self.counts.record(action, &result);
        result
    }

    fn send_abandoning(
        &self,
        node: &Node,
        action: Action,
        group: &GroupId,
        abandon: Abandon<'_>,
    ) -> Result<Reply, Failure> {
        let result = self.inner.send_abandoning(node, action, group, abandon);
        self.counts.record(action, &result);
        result
    }

    fn send_each(
        &self,
        requests: &[(&Node, Action, &GroupId)],
        abandon: Abandon<'_>,
        answered: &(dyn Fn(usize, Result<Reply, Failure>) + Sync),
    ) {
        self.inner.send_each(requests, abandon, &|index, result| {
            self.counts.record(requests[index].1, &result);
            answered(index, result);
        });
    }

    fn note_retry(&self) {
        self.counts.retries.fetch_add(1, Ordering::Relaxed);
        self.inner.note_retry();
    }
}
