//! SIGINT/SIGTERM handling: the first signal cancels the run, a second exits at once.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// The exit status when a second signal ends the process at once. The
/// journal already covers every change that may have been made.
pub const SECOND_SIGNAL_EXIT: i32 = 3;

/// A shared "stop starting new changes" flag that sleeps can wait on.
///
/// Cloning shares the flag. A fresh token is not cancelled.
#[derive(Debug, Clone, Default)]
pub struct Cancel {
    inner: Arc<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    /// `Some` once cancelled: when the first signal arrived.
    cancelled_at: Mutex<Option<Instant>>,
    wake: Condvar,
    /// Whether a change (POST or DELETE) has been sent by this run.
    change_sent: AtomicBool,
    /// How many repairs the journal on disk holds, as last written or read.
    pending: AtomicUsize,
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

    /// Records that a change is about to be sent to a node.
    pub fn note_change_sent(&self) {
        self.inner.change_sent.store(true, Ordering::SeqCst);
    }

    /// Whether this run has sent (or started to send) any change.
    pub fn change_sent(&self) -> bool {
        self.inner.change_sent.load(Ordering::SeqCst)
    }

    /// Records how many repairs the journal on disk now holds.
    pub fn set_pending(&self, n: usize) {
        self.inner.pending.store(n, Ordering::SeqCst);
    }

    /// How many repairs the journal on disk held when last written or read.
    pub fn pending(&self) -> usize {
        self.inner.pending.load(Ordering::SeqCst)
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
}

/// Routes SIGINT and SIGTERM to `cancel` from a background thread.
///
/// The first signal cancels the token and logs what happens next. A second
/// signal exits the process at once with [`SECOND_SIGNAL_EXIT`].
pub fn install(cancel: &Cancel) -> std::io::Result<()> {
    use signal_hook::consts::{SIGINT, SIGTERM};
    let mut signals = signal_hook::iterator::Signals::new([SIGINT, SIGTERM])?;
    let cancel = cancel.clone();
    std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            for signal in signals.forever() {
                if cancel.is_cancelled() {
                    log::error!(
                        "second signal ({signal}): exiting now; the journal holds every \
                         change that may need undoing, and the next run replays it"
                    );
                    std::process::exit(SECOND_SIGNAL_EXIT);
                }
                log::warn!(
                    "signal {signal}: starting no new changes and rolling back this \
                     run's changes; send it again to exit at once"
                );
                cancel.cancel();
            }
        })?;
    Ok(())
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
    fn cancelled_token_does_not_sleep() {
        let cancel = Cancel::new();
        cancel.cancel();
        assert!(!cancel.sleep(Duration::from_secs(600)));
    }
}
