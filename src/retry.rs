//! The retry policy: which answers are retried, how long to back off, when to stop.

use std::fmt;
use std::ops::ControlFlow;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::transport::{Abandon, Failure, FailureKind, Reply, Transport};
use crate::vocab::cancel::Cancel;
use crate::vocab::change::Action;
use crate::vocab::group::GroupId;
use crate::vocab::hosts::Node;

/// How each request is retried.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Retries after the first attempt; 0 means one attempt only.
    pub retries: u32,
    /// The ceiling of the first retry's delay; it doubles per retry.
    pub backoff: Duration,
    /// The largest delay, also the cap for a node's `Retry-After`.
    pub max_backoff: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            retries: 3,
            backoff: Duration::from_millis(200),
            max_backoff: Duration::from_secs(10),
        }
    }
}

impl RetryPolicy {
    /// Whether an answer with this status is worth another attempt. Other
    /// 4xx answers are final: repeating the same request cannot change them.
    /// So are 3xx answers: a redirect that reaches the retrier was refused
    /// (another origin, a loop, too many hops), and will be again.
    pub fn is_retryable_status(status: u16) -> bool {
        matches!(status, 408 | 429 | 500 | 502 | 503 | 504)
    }

    /// The longest one request may take when every attempt lasts `attempt`
    /// and every back-off its ceiling (a node's `Retry-After` is capped at
    /// `max_backoff` too): its whole retry budget.
    pub fn budget(&self, attempt: Duration) -> Duration {
        let backoff: Duration = (1..=self.retries)
            .map(|retry| {
                let factor = 2u32.saturating_pow(retry - 1);
                self.backoff.saturating_mul(factor).min(self.max_backoff)
            })
            .sum();
        attempt.saturating_mul(self.retries + 1) + backoff
    }

    /// The delay before retry number `retry` (1 for the first retry).
    ///
    /// A node's `Retry-After` wins, capped at `max_backoff`. Otherwise the
    /// delay is drawn uniformly from zero to `backoff * 2^(retry-1)`, capped
    /// at `max_backoff` ("full jitter"), so clients that failed together do
    /// not retry together.
    pub fn delay(
        &self,
        retry: u32,
        retry_after: Option<Duration>,
        rng: &mut fastrand::Rng,
    ) -> Duration {
        if let Some(asked) = retry_after {
            return asked.min(self.max_backoff);
        }
        let factor = 2u32.saturating_pow(retry.saturating_sub(1));
        let ceiling = self.backoff.saturating_mul(factor).min(self.max_backoff);
        let nanos = u64::try_from(ceiling.as_nanos()).unwrap_or(u64::MAX);
        Duration::from_nanos(rng.u64(0..=nanos))
    }
}

/// When a sequence of attempts must stop early.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// A forward change or a read: stop as soon as the run is cancelled.
    Forward,
    /// Undoing a change: keep going after a cancel, but only until `grace`
    /// has passed since it.
    Compensate {
        /// How long after a cancel compensation may still run.
        grace: Duration,
    },
}

/// The result of one request and its retries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exchange {
    /// Attempts actually sent (0 when the run was stopped before the first).
    pub attempts: u32,
    /// The last attempt's result.
    pub last: Result<Reply, Failure>,
    /// Whether an attempt before the last one may have been applied by the
    /// node (it timed out, broke, or answered 5xx).
    pub earlier_may_have_applied: bool,
    /// How many attempts, the last included, may have been applied without
    /// the node saying so (time-out, reset, 5xx, abandoned): each may still
    /// land on the node later, however this exchange ended.
    pub ambiguous: u32,
    /// Whether retries were cut short by a cancel or the grace deadline.
    pub stopped: bool,
}

impl Exchange {
    /// Whether any attempt, the last included, may have been applied.
    pub fn may_have_applied(&self) -> bool {
        self.earlier_may_have_applied || attempt_may_have_applied(&self.last)
    }

    /// The status of the last attempt, if it got an answer.
    pub fn status(&self) -> Option<u16> {
        self.last.as_ref().ok().map(|reply| reply.status)
    }

    /// Whether an attempt of this exchange may still land on the node later,
    /// when a read has (`observed`) or has not seen the write's effect: the
    /// attempts that may have been applied, but the one that a 2xx or the
    /// read shows landed.
    pub fn may_land_later(&self, observed: bool) -> bool {
        let answered_2xx = self.status().is_some_and(|s| (200..300).contains(&s));
        // Note: a 2xx landed by itself, so every ambiguous attempt before it
        // may still be in flight; a read that sees the effect accounts for
        // one of them.
        let seen_landing = u32::from(observed && !answered_2xx);
        self.ambiguous > seen_landing
    }

    /// A one-line description of why the last attempt failed.
    pub fn error(&self) -> String {
        match &self.last {
            Ok(reply) => reply.describe(),
            Err(failure) => failure.message.clone(),
        }
    }
}

fn attempt_may_have_applied(result: &Result<Reply, Failure>) -> bool {
    match result {
        Ok(reply) => reply.status >= 500,
        Err(failure) => failure.may_have_applied(),
    }
}

/// Sends requests through a [`Transport`] under a [`RetryPolicy`].
#[derive(Debug, Clone)]
pub struct Retrier<'a, T: ?Sized> {
    transport: &'a T,
    policy: &'a RetryPolicy,
    cancel: &'a Cancel,
}

impl<'a, T: Transport + ?Sized> Retrier<'a, T> {
    /// A retrier that stops forward work when `cancel` fires.
    pub fn new(transport: &'a T, policy: &'a RetryPolicy, cancel: &'a Cancel) -> Self {
        Self {
            transport,
            policy,
            cancel,
        }
    }

    /// Sends `action` until it gets a final answer, retries run out, or
    /// `mode` says stop. Each retry is logged with the node, the attempt
    /// number and the reason.
    pub fn call(&self, node: &Node, action: Action, group: &GroupId, mode: Mode) -> Exchange {
        let request = Request {
            node,
            action,
            group,
            mode,
        };
        if !self.may_start(mode) {
            return stopped_before_sending();
        }
        if action != Action::Read {
            self.cancel.note_change_sent();
        }
        let last = self
            .transport
            .send_abandoning(node, action, group, self.abandon(mode));
        match first_answer(&request, last) {
            ControlFlow::Break(exchange) => exchange,
            ControlFlow::Continue((exchange, reason)) => self.retry(&request, exchange, reason),
        }
    }

    /// Sends each of `requests` (node, action, group) as [`Retrier::call`]
    /// does, `width` at a time, and returns their exchanges in order: `None`
    /// for a request never started, because an exchange before it made
    /// `stop` say yes.
    ///
    /// The first attempts of each `width` go out together
    /// ([`Transport::send_each`]: the HTTP transport needs no thread per
    /// attempt); only the requests whose answer is retried go on, each on a
    /// thread of its own, side by side.
    pub fn call_each(
        &self,
        requests: &[(&Node, Action, &GroupId)],
        mode: Mode,
        width: usize,
        stop: impl Fn(&Exchange) -> bool,
    ) -> Vec<Option<Exchange>> {
        let mut exchanges: Vec<Option<Exchange>> = Vec::with_capacity(requests.len());
        for round in requests.chunks(width.max(1)) {
            if exchanges.iter().flatten().any(&stop) {
                break;
            }
            exchanges.extend(self.call_together(round, mode).into_iter().map(Some));
        }
        exchanges.resize(requests.len(), None);
        exchanges
    }

    /// [`Retrier::call`] for each of `round` at once: the first attempts
    /// together, and each request that is retried on a thread of its own
    /// from the moment its first answer comes.
    fn call_together(&self, round: &[(&Node, Action, &GroupId)], mode: Mode) -> Vec<Exchange> {
        if !self.may_start(mode) {
            return vec![stopped_before_sending(); round.len()];
        }
        if round.iter().any(|(_, action, _)| *action != Action::Read) {
            self.cancel.note_change_sent();
        }
        let requests: Vec<Request<'_>> = round
            .iter()
            .map(|&(node, action, group)| Request {
                node,
                action,
                group,
                mode,
            })
            .collect();
        let exchanges = Mutex::new(vec![unsent(); round.len()]);
        let store = |index: usize, exchange| {
            exchanges.lock().unwrap_or_else(|e| e.into_inner())[index] = exchange;
        };
        std::thread::scope(|scope| {
            let answered = |index: usize, last| {
                let request = &requests[index];
                match first_answer(request, last) {
                    ControlFlow::Break(exchange) => store(index, exchange),
                    // Note: a thread only for a request that is retried.
                    ControlFlow::Continue((exchange, reason)) => {
                        scope.spawn(move || store(index, self.retry(request, exchange, reason)));
                    }
                }
            };
            self.transport
                .send_each(round, self.abandon(mode), &answered);
        });
        exchanges.into_inner().unwrap_or_else(|e| e.into_inner())
    }

    /// Retries `request` after an attempt that failed for `reason`, until
    /// an answer is final, retries run out, or its mode says stop.
    fn retry(&self, request: &Request<'_>, mut exchange: Exchange, mut reason: String) -> Exchange {
        let mut rng = fastrand::Rng::new();
        exchange.stopped = loop {
            if let ControlFlow::Break(stopped) =
                self.wait_to_retry(request, &exchange, &reason, &mut rng)
            {
                break stopped;
            }
            if !self.may_start(request.mode) {
                break true;
            }
            self.send_attempt(request, &mut exchange);
            reason = match retry_reason(request, &exchange) {
                ControlFlow::Continue(reason) => reason,
                ControlFlow::Break(stopped) => break stopped,
            };
        };
        exchange
    }

    /// When an attempt sent in `mode` is given up after a cancel.
    fn abandon(&self, mode: Mode) -> Abandon<'a> {
        Abandon {
            cancel: self.cancel,
            after: match mode {
                Mode::Forward => Duration::ZERO,
                Mode::Compensate { grace } => grace,
            },
        }
    }

    /// Sends one more attempt after the first; the one before it becomes
    /// history.
    fn send_attempt(&self, request: &Request<'_>, exchange: &mut Exchange) {
        exchange.earlier_may_have_applied |= attempt_may_have_applied(&exchange.last);
        self.transport.note_retry();
        exchange.attempts += 1;
        if request.action != Action::Read {
            self.cancel.note_change_sent();
        }
        exchange.last = self.transport.send_abandoning(
            request.node,
            request.action,
            request.group,
            self.abandon(request.mode),
        );
        exchange.ambiguous += u32::from(attempt_may_have_applied(&exchange.last));
    }

    /// Sleeps the back-off before the next attempt. `Break(stopped)` ends
    /// the call instead: no retries left, or the run was interrupted
    /// (`stopped` is `true`) before or during the wait.
    fn wait_to_retry(
        &self,
        request: &Request<'_>,
        exchange: &Exchange,
        reason: &str,
        rng: &mut fastrand::Rng,
    ) -> ControlFlow<bool> {
        let Request {
            node,
            action,
            group,
            mode,
        } = *request;
        let attempts = exchange.attempts;
        if let Some((stopped, why)) = self.why_not_retried(mode, attempts) {
            request.warn(
                format_args!(
                    "{node}: {action} {group:?}: attempt {attempts} failed ({reason}); {why}"
                ),
                attempts,
            );
            return ControlFlow::Break(stopped);
        }
        let retry_after = exchange
            .last
            .as_ref()
            .ok()
            .and_then(|reply| reply.retry_after);
        let delay = self.policy.delay(attempts, retry_after, rng);
        request.warn(
            format_args!(
                "{node}: {action} {group:?}: attempt {attempts} of {} failed ({reason}); \
                 retrying in {}",
                self.policy.retries + 1,
                humantime::format_duration(round_to_millis(delay)),
            ),
            attempts,
        );
        if !self.pause(delay, mode) {
            request.warn(
                format_args!("{node}: {action} {group:?}: retry dropped: the run was interrupted"),
                attempts,
            );
            return ControlFlow::Break(true);
        }
        ControlFlow::Continue(())
    }

    /// Why a failed attempt gets no retry, as its log line ends, or `None`
    /// when it does; `true` when a cancel or the grace deadline stops it
    /// rather than the retries running out.
    fn why_not_retried(&self, mode: Mode, attempts: u32) -> Option<(bool, &'static str)> {
        if !self.may_start(mode) {
            Some((true, "not retried: the run was interrupted"))
        } else if attempts > self.policy.retries {
            Some((false, "no retries left"))
        } else {
            None
        }
    }

    fn may_start(&self, mode: Mode) -> bool {
        match mode {
            Mode::Forward => !self.cancel.is_cancelled(),
            Mode::Compensate { grace } => self
                .cancel
                .cancelled_at()
                .is_none_or(|at| at.elapsed() < grace),
        }
    }

    /// Waits `delay`; `false` means stop instead of retrying.
    fn pause(&self, delay: Duration, mode: Mode) -> bool {
        let start = Instant::now();
        if self.cancel.sleep(delay) {
            return true;
        }
        match (mode, self.cancel.cancelled_at()) {
            (Mode::Compensate { grace }, Some(at)) => {
                // Note: a cancel only shortens compensation to the grace
                // period; it must not abandon an undo that still fits.
                let wanted = start + delay;
                if wanted >= at + grace {
                    return false;
                }
                std::thread::sleep(wanted.saturating_duration_since(Instant::now()));
                true
            }
            _ => false,
        }
    }
}

/// One request as [`Retrier::call`] sends it: what, to whom, and how a
/// cancel stops it.
#[derive(Clone, Copy)]
struct Request<'r> {
    node: &'r Node,
    action: Action,
    group: &'r GroupId,
    mode: Mode,
}

impl Request<'_> {
    /// Logs a warning about attempt `attempt` of this request, with the
    /// node, group, method and attempt as fields.
    fn warn(&self, message: fmt::Arguments<'_>, attempt: u32) {
        log::warn!(
            host = self.node.base(), group = self.group.as_str(), method = self.action.method(), attempt = attempt;
            "{message}"
        );
    }
}

/// Why the last attempt is worth another, as the retry log line says it.
/// `Break(stopped)` when its answer is final instead: a success, an answer
/// retrying cannot change, or an attempt abandoned on a cancel (`stopped`
/// is `true`).
fn retry_reason(request: &Request<'_>, exchange: &Exchange) -> ControlFlow<bool, String> {
    let Request {
        node,
        action,
        group,
        ..
    } = *request;
    let attempts = exchange.attempts;
    match &exchange.last {
        Ok(reply) if RetryPolicy::is_retryable_status(reply.status) => {
            ControlFlow::Continue(reply.describe())
        }
        Ok(_) => ControlFlow::Break(false),
        Err(failure) if failure.kind == FailureKind::Abandoned => {
            request.warn(
                format_args!("{node}: {action} {group:?}: {}", failure.message),
                attempts,
            );
            ControlFlow::Break(true)
        }
        Err(failure) if !failure.is_retryable() => {
            log::warn!(
                host = node.base(), group = group.as_str(), method = action.method(),
                attempt = attempts;
                "{node}: {action} {group:?}: attempt {attempts} failed ({}); not \
                 retried: another attempt cannot change it",
                failure.message
            );
            ControlFlow::Break(false)
        }
        Err(failure) => ControlFlow::Continue(failure.message.clone()),
    }
}

/// The exchange after a request's first attempt answered `last`: `Break`
/// with it when that answer is final, `Continue` with it and the reason
/// when it is to be retried.
fn first_answer(
    request: &Request<'_>,
    last: Result<Reply, Failure>,
) -> ControlFlow<Exchange, (Exchange, String)> {
    let exchange = Exchange {
        attempts: 1,
        ambiguous: u32::from(attempt_may_have_applied(&last)),
        last,
        ..unsent()
    };
    match retry_reason(request, &exchange) {
        ControlFlow::Continue(reason) => ControlFlow::Continue((exchange, reason)),
        ControlFlow::Break(stopped) => ControlFlow::Break(Exchange {
            stopped,
            ..exchange
        }),
    }
}

/// The exchange of a request the run's cancel kept from being sent.
fn stopped_before_sending() -> Exchange {
    Exchange {
        stopped: true,
        ..unsent()
    }
}

/// An exchange before its first attempt.
fn unsent() -> Exchange {
    Exchange {
        attempts: 0,
        last: Err(not_sent()),
        earlier_may_have_applied: false,
        ambiguous: 0,
        stopped: false,
    }
}

fn not_sent() -> Failure {
    Failure {
        kind: FailureKind::Connect,
        message: "not sent: the run was interrupted".to_owned(),
    }
}

fn round_to_millis(duration: Duration) -> Duration {
    Duration::from_millis(u64::try_from(duration.as_millis()).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::Scripted;
    use crate::transport::{Counted, RequestCounts};
    use std::sync::Arc;

    fn status(status: u16) -> Result<Reply, Failure> {
        Ok(Reply::status(status))
    }

    fn fail(kind: FailureKind) -> Result<Reply, Failure> {
        Err(Failure {
            kind,
            message: format!("{kind:?}"),
        })
    }

    fn quick() -> RetryPolicy {
        RetryPolicy {
            retries: 3,
            backoff: Duration::ZERO,
            max_backoff: Duration::ZERO,
        }
    }

    fn call(script: &Scripted, policy: &RetryPolicy, cancel: &Cancel, mode: Mode) -> Exchange {
        let node = Node::parse("n:1").expect("node");
        let group = GroupId::new("g").expect("group");
        Retrier::new(script, policy, cancel).call(&node, Action::Create, &group, mode)
    }

    #[test]
    fn call_each_starts_no_round_once_an_exchange_says_stop() {
        let script = Scripted::new(vec![status(200), status(404), status(200)]);
        let nodes: Vec<Node> = ["a:1", "b:1", "c:1"]
            .iter()
            .map(|n| Node::parse(n).expect("node"))
            .collect();
        let group = GroupId::new("g").expect("group");
        let requests: Vec<(&Node, Action, &GroupId)> =
            nodes.iter().map(|n| (n, Action::Read, &group)).collect();
        let cancel = Cancel::new();
        let exchanges = Retrier::new(&script, &quick(), &cancel).call_each(
            &requests,
            Mode::Forward,
            1,
            |exchange| exchange.status() == Some(404),
        );
        let statuses: Vec<Option<u16>> = exchanges
            .iter()
            .map(|e| e.as_ref().and_then(Exchange::status))
            .collect();
        assert_eq!(statuses, [Some(200), Some(404), None]);
        assert_eq!(script.left(), 1, "the third read was never sent");
    }

    #[test]
    fn call_each_retries_each_request_as_call_does() {
        let script = Scripted::new(vec![status(503), status(500), status(404)]);
        let node = Node::parse("n:1").expect("node");
        let group = GroupId::new("g").expect("group");
        let cancel = Cancel::new();
        let exchanges = Retrier::new(&script, &quick(), &cancel).call_each(
            &[(&node, Action::Read, &group)],
            Mode::Forward,
            8,
            |_| false,
        );
        let exchange = exchanges[0].as_ref().expect("started");
        assert_eq!((exchange.attempts, exchange.status()), (3, Some(404)));
        assert!(exchange.earlier_may_have_applied && !exchange.stopped);
    }

    #[test]
    fn a_cancelled_call_each_sends_nothing() {
        let script = Scripted::new(vec![status(200)]);
        let node = Node::parse("n:1").expect("node");
        let group = GroupId::new("g").expect("group");
        let cancel = Cancel::new();
        cancel.cancel();
        let exchanges = Retrier::new(&script, &quick(), &cancel).call_each(
            &[(&node, Action::Read, &group)],
            Mode::Forward,
            8,
            |_| false,
        );
        let exchange = exchanges[0].as_ref().expect("a slot");
        assert_eq!((exchange.attempts, exchange.stopped), (0, true));
        assert_eq!(script.left(), 1);
    }

    #[test]
    fn retries_transient_statuses_and_failures_until_success() {
        let script = Scripted::new(vec![
            status(503),
            fail(FailureKind::Connect),
            status(429),
            status(201),
        ]);
        let exchange = call(&script, &quick(), &Cancel::new(), Mode::Forward);
        assert_eq!(exchange.attempts, 4);
        assert_eq!(exchange.status(), Some(201));
        assert!(exchange.earlier_may_have_applied, "503 may have applied");
    }

    #[test]
    fn other_client_errors_are_final() {
        for code in [400, 401, 403, 404, 409, 422] {
            let script = Scripted::new(vec![status(code), status(201)]);
            let exchange = call(&script, &quick(), &Cancel::new(), Mode::Forward);
            assert_eq!((exchange.attempts, exchange.status()), (1, Some(code)));
            assert_eq!(script.left(), 1, "{code} must not be retried");
        }
    }

    #[test]
    fn permanent_failures_and_refused_redirects_are_not_retried() {
        for first in [fail(FailureKind::Permanent), status(307), status(308)] {
            let script = Scripted::new(vec![first.clone(), status(201)]);
            let exchange = call(&script, &quick(), &Cancel::new(), Mode::Forward);
            assert_eq!(exchange.attempts, 1, "{first:?}");
            assert!(!exchange.may_have_applied(), "{first:?}");
            assert_eq!(script.left(), 1, "{first:?} must not be retried");
        }
    }

    #[test]
    fn gives_up_after_the_configured_retries() {
        let script = Scripted::new(vec![status(500); 5]);
        let policy = RetryPolicy {
            retries: 2,
            ..quick()
        };
        let exchange = call(&script, &policy, &Cancel::new(), Mode::Forward);
        assert_eq!((exchange.attempts, exchange.status()), (3, Some(500)));
        assert!(!exchange.stopped);
    }

    #[test]
    fn connect_refusals_and_throttling_are_known_not_applied() {
        let script = Scripted::new(vec![
            fail(FailureKind::Connect),
            status(429),
            status(408),
            status(400),
        ]);
        let exchange = call(&script, &quick(), &Cancel::new(), Mode::Forward);
        assert!(!exchange.earlier_may_have_applied);
        assert!(!exchange.may_have_applied());
    }

    #[test]
    fn timeouts_and_resets_may_have_applied() {
        for kind in [FailureKind::Timeout, FailureKind::Broken] {
            let script = Scripted::new(vec![fail(kind), status(400)]);
            let exchange = call(&script, &quick(), &Cancel::new(), Mode::Forward);
            assert!(exchange.earlier_may_have_applied, "{kind:?}");
        }
    }

    #[test]
    fn cancelled_forward_call_sends_nothing() {
        let cancel = Cancel::new();
        cancel.cancel();
        let script = Scripted::new(vec![status(201)]);
        let exchange = call(&script, &quick(), &cancel, Mode::Forward);
        assert_eq!(exchange.attempts, 0);
        assert!(exchange.stopped);
        assert!(!exchange.may_have_applied());
        assert_eq!(script.left(), 1);
    }

    #[test]
    fn compensation_continues_within_the_grace_period() {
        let cancel = Cancel::new();
        cancel.cancel();
        let script = Scripted::new(vec![status(500), status(200)]);
        let grace = Duration::from_secs(600);
        let exchange = call(&script, &quick(), &cancel, Mode::Compensate { grace });
        assert_eq!((exchange.attempts, exchange.status()), (2, Some(200)));
    }

    #[test]
    fn compensation_stops_once_the_grace_period_is_over() {
        let cancel = Cancel::new();
        cancel.cancel();
        let script = Scripted::new(vec![status(200)]);
        let exchange = call(
            &script,
            &quick(),
            &cancel,
            Mode::Compensate {
                grace: Duration::ZERO,
            },
        );
        assert_eq!(exchange.attempts, 0);
        assert!(exchange.stopped);
    }

    #[test]
    fn backoff_is_full_jitter_below_a_doubling_ceiling() {
        let policy = RetryPolicy {
            retries: 10,
            backoff: Duration::from_millis(100),
            max_backoff: Duration::from_millis(1000),
        };
        let mut rng = fastrand::Rng::with_seed(7);
        for (retry, ceiling_ms) in [
            (1, 100),
            (2, 200),
            (3, 400),
            (4, 800),
            (5, 1000),
            (30, 1000),
        ] {
            let delays: Vec<_> = (0..200)
                .map(|_| policy.delay(retry, None, &mut rng))
                .collect();
            let ceiling = Duration::from_millis(ceiling_ms);
            assert!(delays.iter().all(|d| *d <= ceiling), "retry {retry}");
            // Note: with 200 uniform draws, all landing in the lower half
            // has probability 2^-200; this checks the spread, not luck.
            assert!(delays.iter().any(|d| *d > ceiling / 2), "retry {retry}");
            assert!(delays.iter().any(|d| *d < ceiling / 2), "retry {retry}");
        }
    }

    #[test]
    fn retry_after_is_honoured_up_to_the_cap() {
        let policy = RetryPolicy {
            retries: 3,
            backoff: Duration::from_millis(1),
            max_backoff: Duration::from_secs(10),
        };
        let mut rng = fastrand::Rng::with_seed(1);
        let asked = |s| {
            policy
                .clone()
                .delay(1, Some(Duration::from_secs(s)), &mut rng.clone())
        };
        assert_eq!(asked(3), Duration::from_secs(3));
        assert_eq!(asked(3600), Duration::from_secs(10));
        assert_eq!(
            policy.delay(1, Some(Duration::ZERO), &mut rng),
            Duration::ZERO
        );
    }
    #[test]
    fn a_counting_transport_counts_each_attempt_and_each_retry_the_policy_sends() {
        let timeout = Err(Failure {
            kind: FailureKind::Timeout,
            message: "timed out".to_owned(),
        });
        let script = vec![
            // A POST: 503, a time-out, then 201: two retries.
            status(503),
            timeout,
            status(201),
            // A GET of the same node and group after it: a new request.
            status(404),
            // Another GET: a new request too, as the last one was final.
            status(200),
            // A DELETE answered 400 (final), then the same DELETE again as a new request.
            status(400),
            status(200),
        ];
        let counters = Arc::new(RequestCounts::default());
        let transport = Counted::new(Scripted::new(script), Arc::clone(&counters));
        let policy = RetryPolicy {
            retries: 3,
            backoff: Duration::ZERO,
            max_backoff: Duration::ZERO,
        };
        let cancel = Cancel::new();
        let retrier = Retrier::new(&transport, &policy, &cancel);
        let node = Node::parse("n1:80").expect("node");
        let group = GroupId::new("g").expect("group");
        for action in [
            Action::Create,
            Action::Read,
            Action::Read,
            Action::Delete,
            Action::Delete,
        ] {
            retrier.call(&node, action, &group, Mode::Forward);
        }
        assert_eq!(counters.retries(), 2);
        assert_eq!(counters.requests("POST", "5xx"), 1);
        assert_eq!(counters.requests("POST", "timeout"), 1);
        assert_eq!(counters.requests("POST", "2xx"), 1);
        assert_eq!(counters.requests("GET", "4xx"), 1);
        assert_eq!(counters.requests("GET", "2xx"), 1);
        assert_eq!(counters.requests("DELETE", "4xx"), 1);
        assert_eq!(counters.requests("DELETE", "2xx"), 1);
    }
}
