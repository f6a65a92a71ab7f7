//! SIGINT/SIGTERM handling: the first signal cancels the run, a second exits at once.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use crate::exit::ExitStatus;

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

    /// How many repairs the journal held at its last load or write; 0
    /// before it is opened.
    pub fn pending(&self) -> usize {
        self.inner.pending.load(Ordering::SeqCst)
    }
}

/// The exit status when a second signal ends the process at once, claiming
/// no more than is true: 3 when the journal holds repairs (it covers every
/// change that may have been made), else 1 when changes were sent (and none
/// is left to undo), else 2 (nothing was sent).
pub fn second_signal_exit(cancel: &Cancel) -> ExitStatus {
    if cancel.pending() > 0 {
        ExitStatus::RepairsPending
    } else if cancel.change_sent() {
        ExitStatus::Failed
    } else {
        ExitStatus::BadInput
    }
}

/// Routes SIGINT and SIGTERM to `cancel` from a background thread.
///
/// The first signal cancels the token and logs what happens next. A second
/// signal exits the process at once with [`second_signal_exit`].
pub fn install(cancel: &Cancel) -> std::io::Result<()> {
    use signal_hook::consts::{SIGINT, SIGTERM};
    let mut signals = signal_hook::iterator::Signals::new([SIGINT, SIGTERM])?;
    let cancel = cancel.clone();
    std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            for signal in signals.forever() {
                if cancel.is_cancelled() {
                    // Note: waits for a journal write in progress (one fsync
                    // or two), so the status below is the file's.
                    let _writing = cancel.journal_write_guard();
                    let status = second_signal_exit(&cancel);
                    let state = match status {
                        ExitStatus::RepairsPending => {
                            "the journal holds every change that may need undoing, \
                             and the next run replays it"
                        }
                        ExitStatus::Failed => {
                            "no repair is pending, but groups this run finished keep its changes"
                        }
                        ExitStatus::Done | ExitStatus::BadInput => "nothing was sent to any node",
                    };
                    let code = status.code();
                    log::error!("second signal ({signal}): exiting now with {code}; {state}");
                    std::process::exit(i32::from(code));
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
    fn second_signal_exit_claims_no_more_than_is_true() {
        let cancel = Cancel::new();
        assert_eq!(
            second_signal_exit(&cancel),
            ExitStatus::BadInput,
            "nothing sent"
        );
        cancel.note_change_sent();
        assert_eq!(
            second_signal_exit(&cancel),
            ExitStatus::Failed,
            "sent, nothing pending"
        );
        cancel.set_pending(2);
        assert_eq!(
            second_signal_exit(&cancel),
            ExitStatus::RepairsPending,
            "repairs pending"
        );
        let clone = cancel.clone();
        clone.set_pending(0);
        assert_eq!(
            second_signal_exit(&cancel),
            ExitStatus::Failed,
            "clones share the state"
        );
    }

    #[test]
    fn pending_repairs_win_even_before_a_change_is_sent() {
        // A replayed journal holds repairs before this run sends anything.
        let cancel = Cancel::new();
        cancel.set_pending(1);
        assert_eq!(second_signal_exit(&cancel), ExitStatus::RepairsPending);
    }

    #[test]
    fn cancelled_token_does_not_sleep() {
        let cancel = Cancel::new();
        cancel.cancel();
        assert!(!cancel.sleep(Duration::from_secs(600)));
    }
}
