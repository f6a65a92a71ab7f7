//! The exit-status table: the one place outcomes become process exit codes.

use crate::cli::journals::{Visit, Visited};
use cluster_client::engine::{
    NodeState, OperationReport, Outcome, PlanReport, PlanVerdict, ReplayReport, StatusReport,
};

/// The process exit status. The README and `--help` document this table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum ExitStatus {
    /// 0: create/delete: every node is in the requested state (also when it
    /// already was); status: every node answered and they agree; rollback:
    /// nothing is left pending.
    Done,
    /// 4: status only: every group is absent from every node.
    Absent,
    /// 1: the operation failed and was fully rolled back, so the cluster is
    /// as it was; for status: mixed or unknown (the nodes disagree, one did
    /// not answer, or some groups are present and others absent).
    Failed,
    /// 3: repairs are pending in the journal: an operation could not undo
    /// all its changes yet, it was refused because its group has pending
    /// repairs, or `rollback` left repairs pending (over several journals,
    /// also one it did not replay; see [`ExitStatus::of_journals`]).
    RepairsPending,
    /// 2: bad input or a local problem (usage, hosts file, group id, an
    /// unreadable or unwritable journal, the journal's lock held by another
    /// run past `--lock-wait`), or interrupted (SIGINT/SIGTERM) before any
    /// change was sent; no change was sent.
    BadInput,
}

impl ExitStatus {
    /// The numeric code.
    pub fn code(self) -> u8 {
        match self {
            Self::Done => 0,
            Self::Failed => 1,
            Self::BadInput => 2,
            Self::RepairsPending => 3,
            Self::Absent => 4,
        }
    }

    /// The status of one create or delete. A verification left for the
    /// group (a node that may still apply a write of ours late) is pending
    /// work, so the status is 3 whatever the outcome.
    pub fn of_operation(report: &OperationReport) -> Self {
        let status = match report.outcome {
            Outcome::Done => Self::Done,
            Outcome::RolledBack | Outcome::Skipped => Self::Failed,
            Outcome::RepairsPending | Outcome::Refused => Self::RepairsPending,
        };
        if report.verifying.is_empty() {
            status
        } else {
            status.max(Self::RepairsPending)
        }
    }

    /// The worst status of several operations (bulk runs). No operations is
    /// done. A skipped group (the journal could not be written, or a signal
    /// came first) is 2 when this process sent no change at all
    /// (`changes_sent` false), and 1 otherwise: changes were sent, so 2
    /// would claim too much. When a signal interrupted a run that sent no
    /// change, a group rolled back (one that failed before the signal) is 2
    /// as well: the table's "interrupted before any change was sent".
    pub fn of_operations(reports: &[OperationReport], changes_sent: bool) -> Self {
        let interrupted_before_any_change = !changes_sent && reports.iter().any(|r| r.interrupted);
        reports
            .iter()
            .map(|report| match report.outcome {
                Outcome::Skipped if !changes_sent => Self::BadInput,
                Outcome::RolledBack if interrupted_before_any_change => Self::BadInput,
                _ => Self::of_operation(report),
            })
            .max()
            .unwrap_or(Self::Done)
    }

    /// The status of `status` of one group: 0 present on every node, 4
    /// absent from every node, 1 mixed or unknown.
    pub fn of_status(report: &StatusReport) -> Self {
        Self::of_statuses(std::slice::from_ref(report))
    }

    /// The status of `status` of several groups: 0 when every group is
    /// present on every node, 4 when every group is absent from every
    /// node, and 1 otherwise (a group mixed or unknown, or groups that
    /// differ). No group is 0.
    pub fn of_statuses(reports: &[StatusReport]) -> Self {
        let verdicts: Vec<Verdict> = reports.iter().map(verdict).collect();
        if verdicts.iter().all(|v| *v == Verdict::Present) {
            Self::Done
        } else if verdicts.iter().all(|v| *v == Verdict::Absent) {
            Self::Absent
        } else {
            Self::Failed
        }
    }

    /// The status of a `--dry-run`: 0 when the plan could run (every group
    /// would be changed or has nothing to do), 3 when a group would be
    /// refused for pending repairs, 1 when a node could not be read (a run
    /// would stop before any change); the worst of them.
    pub fn of_plan(reports: &[PlanReport]) -> Self {
        reports
            .iter()
            .map(|report| match report.verdict {
                PlanVerdict::Change | PlanVerdict::NothingToDo => Self::Done,
                PlanVerdict::Blocked => Self::Failed,
                PlanVerdict::Refused => Self::RepairsPending,
            })
            .max()
            .unwrap_or(Self::Done)
    }

    /// The status of `journal list`: 0 when nothing is pending, 3 when
    /// something is (a monitoring check).
    pub fn of_journal_list(pending: usize) -> Self {
        if pending == 0 {
            Self::Done
        } else {
            Self::RepairsPending
        }
    }

    /// The status of `journal forget`: 0 when repairs were removed (or,
    /// with `--dry-run`, would be), 2 when nothing matched or when neither
    /// `--host` nor `--all-hosts` said where (bad input: retrying will not
    /// help).
    ///
    /// `removed` counts the repairs removed, `would` those a run with a
    /// scope would remove, and `scoped` says whether a scope was given.
    pub fn of_journal_forget(removed: usize, would: usize, scoped: bool) -> Self {
        if removed > 0 || (scoped && would > 0) {
            Self::Done
        } else {
            Self::BadInput
        }
    }

    /// The status of `rollback`.
    pub fn of_replay(report: &ReplayReport) -> Self {
        if report.pending == 0 {
            Self::Done
        } else {
            Self::RepairsPending
        }
    }
}

impl ExitStatus {
    /// The status of `rollback` or `journal list` over several journals:
    /// the worst of them. A journal that was opened counts as on its own
    /// (0 when nothing is left pending, 3 when something is). One that
    /// another run holds is 3: it may hold repairs, which that run replays.
    /// One that could not be opened, or was not reached after a signal, is
    /// 2 when this process sent no change at all (`changes_sent` false),
    /// and 3 otherwise: repairs were sent, so 2 would claim too much. No
    /// journal at all is done.
    pub fn of_journals(visited: &[Visited], changes_sent: bool) -> Self {
        visited
            .iter()
            .map(|one| match &one.visit {
                Visit::Opened(opened) => Self::of_replay(&opened.report),
                Visit::Missing => Self::Done,
                Visit::Busy(_) => Self::RepairsPending,
                Visit::Refused(_) | Visit::Interrupted if changes_sent => Self::RepairsPending,
                Visit::Refused(_) | Visit::Interrupted => Self::BadInput,
            })
            .max()
            .unwrap_or(Self::Done)
    }
}

/// What `status` found for one group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Every node answered that the group is there.
    Present,
    /// Every node answered that it is not.
    Absent,
    /// Every node answered, and they disagree.
    Mixed,
    /// A node gave no usable answer.
    Unknown,
}

/// The verdict of a status report.
pub fn verdict(report: &StatusReport) -> Verdict {
    let mut states = report.nodes.iter().map(|n| n.state);
    let all = |wanted| report.nodes.iter().all(|n| n.state == wanted);
    if states.any(|s| matches!(s, NodeState::Unreachable | NodeState::Unreadable)) {
        Verdict::Unknown
    } else if all(NodeState::Present) {
        Verdict::Present
    } else if all(NodeState::Absent) {
        Verdict::Absent
    } else {
        Verdict::Mixed
    }
}

impl From<ExitStatus> for std::process::ExitCode {
    fn from(status: ExitStatus) -> Self {
        Self::from(status.code())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cluster_client::{GroupId, Operation};

    fn report(outcome: Outcome) -> OperationReport {
        OperationReport {
            operation: Operation::Create,
            group: GroupId::new("g").expect("group"),
            outcome,
            nodes: Vec::new(),
            interrupted: false,
            pending: Vec::new(),
            verifying: Vec::new(),
            refused_by: None,
            journal_error: None,
        }
    }

    #[test]
    fn a_group_skipped_after_changes_were_sent_is_not_exit_2() {
        let reports = [report(Outcome::Done), report(Outcome::Skipped)];
        assert_eq!(
            ExitStatus::of_operations(&reports, true),
            ExitStatus::Failed,
            "changes were sent, so 2 would claim too much"
        );
        assert_eq!(
            ExitStatus::of_operations(&[report(Outcome::Skipped)], false),
            ExitStatus::BadInput,
            "nothing at all was sent"
        );
        assert_eq!(
            ExitStatus::of_operations(
                &[report(Outcome::RepairsPending), report(Outcome::Done)],
                true
            ),
            ExitStatus::RepairsPending
        );
    }

    #[test]
    fn a_signal_before_any_change_is_exit_2_and_after_one_is_not() {
        let interrupted = |outcome| OperationReport {
            interrupted: true,
            ..report(outcome)
        };
        for outcome in [Outcome::Skipped, Outcome::RolledBack] {
            assert_eq!(
                ExitStatus::of_operations(&[report(Outcome::Done), interrupted(outcome)], false),
                ExitStatus::BadInput,
                "{outcome:?}: nothing was sent"
            );
            assert_eq!(
                ExitStatus::of_operations(&[interrupted(outcome)], true),
                ExitStatus::Failed,
                "{outcome:?}: changes were sent, so 2 would claim too much"
            );
        }
        assert_eq!(
            ExitStatus::of_operations(&[report(Outcome::RolledBack)], false),
            ExitStatus::Failed,
            "no signal: a failure before any change is 1"
        );
        assert_eq!(
            ExitStatus::of_operations(&[interrupted(Outcome::Done)], false),
            ExitStatus::Done,
            "every group done before the signal"
        );
    }

    #[test]
    fn several_journals_give_the_worst_status_without_claiming_too_much() {
        use cluster_client::error::JournalError;
        use std::path::PathBuf;
        let visited = |visit| Visited {
            path: PathBuf::from("j.json"),
            visit,
        };
        let opened = |pending: usize| {
            visited(Visit::Opened(crate::cli::journals::Replayed {
                report: ReplayReport {
                    pending,
                    ..ReplayReport::default()
                },
                pending: Vec::new(),
            }))
        };
        let clean = || opened(0);
        let pending = || opened(1);
        let busy = || {
            visited(Visit::Busy(JournalError::Busy {
                path: PathBuf::from("j.json"),
            }))
        };
        let refused = || {
            visited(Visit::Refused(JournalError::Corrupt {
                path: PathBuf::from("j.json"),
                reason: "x".to_owned(),
            }))
        };
        assert_eq!(ExitStatus::of_journals(&[], false), ExitStatus::Done);
        assert_eq!(
            ExitStatus::of_journals(&[clean(), clean()], true),
            ExitStatus::Done
        );
        assert_eq!(
            ExitStatus::of_journals(&[clean(), pending()], true),
            ExitStatus::RepairsPending
        );
        assert_eq!(
            ExitStatus::of_journals(&[clean(), busy()], false),
            ExitStatus::RepairsPending,
            "a busy journal is not a local problem"
        );
        assert_eq!(
            ExitStatus::of_journals(&[clean(), refused()], false),
            ExitStatus::BadInput,
            "nothing was sent"
        );
        assert_eq!(
            ExitStatus::of_journals(&[refused(), clean()], true),
            ExitStatus::RepairsPending,
            "repairs were sent, so not 2"
        );
        assert_eq!(
            ExitStatus::of_journals(&[visited(Visit::Interrupted)], false),
            ExitStatus::BadInput
        );
    }

    #[test]
    fn codes_match_the_documented_table() {
        for (status, code) in [
            (ExitStatus::Done, 0),
            (ExitStatus::Failed, 1),
            (ExitStatus::BadInput, 2),
            (ExitStatus::RepairsPending, 3),
            (ExitStatus::Absent, 4),
        ] {
            assert_eq!(status.code(), code);
            assert!(
                crate::cli::args::EXIT_STATUS_HELP.contains(&format!("\n  {code}  ")),
                "{code}"
            );
        }
    }

    #[test]
    fn pending_repairs_are_worse_than_a_clean_rollback() {
        assert!(ExitStatus::RepairsPending > ExitStatus::Failed);
        assert!(ExitStatus::Failed > ExitStatus::Done);
    }
}
