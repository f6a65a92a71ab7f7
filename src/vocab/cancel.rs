//! The run's cancel flag and the little shared state a second signal reads; knows nothing of signals.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// A shared "stop starting new changes" flag that sleeps can wait on, and
/// the little run state a second signal needs to pick an honest exit code:
/// whether a change was sent, and how many repairs the journal holds.
///
/// Cloning shares the flag and the state. A fresh token is not cancelled,
/// has sent nothing and has nothing pending.
#[derive(Debug, Clone, Default)]
pub struct Cancel {
    inner: Arc<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    /// `Some` once cancelled: when the first signal arrived.
    cancelled_at: Mutex<Option<Instant>>,
    wake: Condvar,
    /// Set once a create or delete (forward or undo) is about to be sent.
    change_sent: AtomicBool,
    /// How many repairs the journal held after its last load or write.
    pending: AtomicUsize,
    /// Repairs in journals this run is done with (a rollback over several
    /// journals), counting 1 for each it could not read.
    pending_elsewhere: AtomicUsize,
    /// Held while the journal file is being replaced, so a second signal
    /// exits between journal writes, never inside one.
    journal_io: Mutex<()>,
}

impl Cancel {
    /// A token that is not cancelled.
    pub fn new() -> Self {
        Self::default()
    }

    /// Cancels the run and wakes every sleeper.
    pub fn cancel(&self) {
        let mut at = self
            .inner
            .cancelled_at
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        at.get_or_insert_with(Instant::now);
        self.inner.wake.notify_all();
    }

    /// When the run was first cancelled; `None` while it is not.
    pub fn cancelled_at(&self) -> Option<Instant> {
        *self
            .inner
            .cancelled_at
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }

    /// Whether [`Cancel::cancel`] has been called.
    pub fn is_cancelled(&self) -> bool {
        self.cancelled_at().is_some()
    }

    /// Holds off a second signal's exit while the journal is written; the
    /// pending count is then always the file's.
    pub fn journal_write_guard(&self) -> std::sync::MutexGuard<'_, ()> {
        self.inner
            .journal_io
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }

    /// Sleeps for `duration` unless cancelled first. Returns `true` when the
    /// whole duration passed, `false` when the token was (or became) cancelled.
    pub fn sleep(&self, duration: Duration) -> bool {
        let deadline = Instant::now() + duration;
        let mut guard = self
            .inner
            .cancelled_at
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        loop {
            if guard.is_some() {
                return false;
            }
            let now = Instant::now();
            if now >= deadline {
                return true;
            }
            guard = self
                .inner
                .wake
                .wait_timeout(guard, deadline - now)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }

    /// Records that a create or delete is about to be sent to a node.
    pub fn note_change_sent(&self) {
        self.inner.change_sent.store(true, Ordering::SeqCst);
    }

    /// Whether [`Cancel::note_change_sent`] has been called.
    pub fn change_sent(&self) -> bool {
        self.inner.change_sent.load(Ordering::SeqCst)
    }

    /// Records how many repairs the journal holds now.
    pub fn set_pending(&self, n: usize) {
        self.inner.pending.store(n, Ordering::SeqCst);
    }

    /// Records `n` repairs in a journal this run is done with, when it goes
    /// through several (1 for a journal it could not read, which may hold
    /// some): [`Cancel::pending`] counts them from now on.
    pub fn add_pending_elsewhere(&self, n: usize) {
        self.inner.pending_elsewhere.fetch_add(n, Ordering::SeqCst);
    }

    /// How many repairs the journal held at its last load or write (0
    /// before it is opened), plus those [`Cancel::add_pending_elsewhere`]
    /// recorded.
    pub fn pending(&self) -> usize {
        self.inner.pending.load(Ordering::SeqCst)
            + self.inner.pending_elsewhere.load(Ordering::SeqCst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sleep_returns_early_when_cancelled_from_another_thread() {
        let cancel = Cancel::new();
        let sleeper = cancel.clone();
        let handle = std::thread::spawn(move || sleeper.sleep(Duration::from_secs(600)));
        cancel.cancel();
        assert!(!handle.join().expect("sleeper thread"));
    }

    #[test]
    fn sleep_completes_when_not_cancelled() {
        assert!(Cancel::new().sleep(Duration::from_millis(1)));
    }

    #[test]
    fn repairs_in_journals_already_closed_stay_counted() {
        let cancel = Cancel::new();
        cancel.set_pending(2);
        cancel.add_pending_elsewhere(2);
        cancel.set_pending(0);
        assert_eq!(cancel.pending(), 2, "the first journal's repairs");
        cancel.set_pending(1);
        assert_eq!(cancel.pending(), 3);
    }

    #[test]
    fn cancelled_token_does_not_sleep() {
        let cancel = Cancel::new();
        cancel.cancel();
        assert!(!cancel.sleep(Duration::from_secs(600)));
    }
}
