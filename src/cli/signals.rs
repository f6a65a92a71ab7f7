//! SIGINT/SIGTERM handling: the first signal cancels the run, a second exits at once.

use crate::cli::exit::ExitStatus;
use cluster_client::vocab::cancel::Cancel;

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
                        ExitStatus::Done | ExitStatus::Absent | ExitStatus::BadInput => {
                            "nothing was sent to any node"
                        }
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
}
