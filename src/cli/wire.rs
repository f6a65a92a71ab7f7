//! The JSON output's wire types: stable field names for scripts, built from the engine's reports.
//!
//! These structs are the contract documented by the JSON Schemas in
//! `schemas/`; the engine's and the journal's own types can change without
//! changing them. No run ids, pids or other internals appear, and every
//! time is RFC 3339 UTC.

use std::path::Path;

use serde::{Serialize, Serializer};

use crate::cli::exit::Verdict;

use cluster_client::engine::{
    NodeReport, NodeResult, NodeState, NodeStatus, OperationReport, Outcome, PlanReport,
    PlanVerdict, PlannedStep, StatusReport,
};
use cluster_client::journal::Entry;

/// One create or delete (`schemas/operation.schema.json`).
#[derive(Debug, Serialize)]
pub struct Operation<'a> {
    /// `create` or `delete`.
    pub operation: &'static str,
    /// The group id.
    pub group: &'a str,
    /// `done`, `rolled_back`, `repairs_pending`, `refused` or `skipped`.
    pub outcome: &'static str,
    /// Whether a signal stopped the run early.
    pub interrupted: bool,
    /// One line per node, in hosts-file order.
    pub nodes: Vec<NodeLine<'a>>,
    /// The group's repairs left in the journal.
    pub pending: PendingList<'a>,
    /// The group's verifications left in the journal.
    pub verifying: PendingList<'a>,
    /// For a group refused because another journal of the set holds
    /// repairs for it: that journal.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refused_by: Option<String>,
    /// Why the journal could not be written, when it could not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub journal_error: Option<&'a str>,
}

/// The results of a create or delete of a list of groups
/// (`schemas/operations.schema.json`).
#[derive(Debug, Serialize)]
pub struct Operations<'a> {
    /// One result per group, in the order given.
    pub groups: Vec<Operation<'a>>,
    /// What the run came to, in counts.
    pub summary: Summary,
}

/// What a run of several groups came to: how many groups ended how, and
/// how long it took.
#[derive(Debug, Default, Serialize)]
pub struct Summary {
    /// Groups in the run.
    pub groups: usize,
    /// Done: every node in the requested state.
    pub done: usize,
    /// Failed and rolled back: as they were.
    pub rolled_back: usize,
    /// Failed with undos pending in the journal.
    pub repairs_pending: usize,
    /// Refused for pending repairs.
    pub refused: usize,
    /// Not started: nothing was sent for them.
    pub skipped: usize,
    /// Seconds the run took, from its start to its result.
    pub seconds: f64,
}

impl Summary {
    /// The summary of `reports`, a run that took `elapsed`.
    pub fn of(reports: &[OperationReport], elapsed: std::time::Duration) -> Self {
        let count = |outcome| reports.iter().filter(|r| r.outcome == outcome).count();
        Self {
            groups: reports.len(),
            done: count(Outcome::Done),
            rolled_back: count(Outcome::RolledBack),
            repairs_pending: count(Outcome::RepairsPending),
            refused: count(Outcome::Refused),
            skipped: count(Outcome::Skipped),
            seconds: (elapsed.as_millis() as f64) / 1000.0,
        }
    }
}

/// The results of `status` of a list of groups (`schemas/status.schema.json`).
#[derive(Debug, Serialize)]
pub struct Statuses<'a> {
    /// One result per group, in the order named.
    pub groups: Vec<Status<'a>>,
    /// How many groups are in which state, and how long the reads took.
    pub summary: StatusSummary,
}

/// What `status` of several groups found.
#[derive(Debug, Serialize)]
pub struct StatusSummary {
    /// Groups read.
    pub groups: usize,
    /// Present on every node.
    pub present: usize,
    /// Absent from every node.
    pub absent: usize,
    /// On some nodes only.
    pub mixed: usize,
    /// A node gave no usable answer.
    pub unknown: usize,
    /// Seconds the reads took.
    pub seconds: f64,
}

/// What a `--dry-run` found, in counts.
#[derive(Debug, Serialize)]
pub struct PlanSummary {
    /// Groups planned.
    pub groups: usize,
    /// Groups some nodes of which would get the change.
    pub change: usize,
    /// Groups already in the requested state everywhere.
    pub nothing_to_do: usize,
    /// Groups that would be refused for pending repairs.
    pub refused: usize,
    /// Groups a node of which could not be read.
    pub blocked: usize,
    /// Seconds the reads took.
    pub seconds: f64,
}

/// A node's line in an [`Operation`].
#[derive(Debug, Serialize)]
pub struct NodeLine<'a> {
    /// The node's base URL.
    pub host: &'a str,
    /// What happened there (see the schema for the values).
    pub result: &'static str,
    /// Requests sent to the node, reads and undos included.
    pub attempts: u32,
    /// Why the node failed, if it did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// A pending repair, as every document shows it.
#[derive(Debug, Serialize)]
pub struct Pending<'a> {
    /// The group to repair.
    pub group: &'a str,
    /// The node's base URL.
    pub host: &'a str,
    /// `create` or `delete`: what the repair does on the node.
    pub repair: &'static str,
    /// When the repair was recorded, RFC 3339 UTC.
    pub since: String,
    /// How many replays have failed to apply it.
    pub failed_replays: u32,
    /// Why the last attempt failed; `null` before any failure.
    pub last_error: Option<&'a str>,
    /// `repair`, `verify` or `watch`.
    pub kind: &'static str,
    /// Verifications and watches: until when the write may still land.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub until: Option<String>,
    /// The journal that holds it, in the documents of several journals.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub journal: Option<String>,
}

/// The result of `status` for one group (`schemas/status.schema.json`).
#[derive(Debug, Serialize)]
pub struct Status<'a> {
    /// The group id.
    pub group: &'a str,
    /// `present` (on every node), `absent` (from every node), `mixed` or
    /// `unknown` (a node gave no usable answer).
    pub state: &'static str,
    /// True when every node answered and all agree.
    pub consistent: bool,
    /// One line per node, in hosts-file order.
    pub nodes: Vec<StateLine<'a>>,
    /// The group's journal entries, each with every field the journal
    /// stores (so a later kind of entry shows up as it is); not applied.
    pub pending: Vec<serde_json::Value>,
}

/// A node's line in a [`Status`].
#[derive(Debug, Serialize)]
pub struct StateLine<'a> {
    /// The node's base URL.
    pub host: &'a str,
    /// `present`, `absent`, `unreachable` (no answer) or `unreadable` (an
    /// answer other than 200 or 404).
    pub state: &'static str,
    /// Requests sent.
    pub attempts: u32,
    /// Why the node could not be read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<&'a str>,
}

/// Journal entries as a JSON array of [`Pending`] items, each built as it
/// is written: a list of a million repairs is never held a second time.
#[derive(Debug, Clone, Copy)]
pub struct PendingList<'a>(pub &'a [Entry]);

impl Serialize for PendingList<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.0.iter().map(Pending::new))
    }
}

impl<'a> Operation<'a> {
    /// The wire form of `report`.
    pub fn new(report: &'a OperationReport) -> Self {
        Self {
            operation: report.operation.name(),
            group: report.group.as_str(),
            outcome: outcome(report.outcome),
            interrupted: report.interrupted,
            nodes: report.nodes.iter().map(NodeLine::new).collect(),
            pending: PendingList(&report.pending),
            verifying: PendingList(&report.verifying),
            refused_by: report.refused_by.as_ref().map(|p| p.display().to_string()),
            journal_error: report.journal_error.as_deref(),
        }
    }
}

impl<'a> NodeLine<'a> {
    fn new(node: &'a NodeReport) -> Self {
        Self {
            host: node.host.base(),
            result: result(node.result),
            attempts: node.attempts,
            error: node.error.as_ref().map(crate::cli::words::node_error),
        }
    }
}

impl<'a> Pending<'a> {
    /// The wire form of a journal entry.
    pub fn new(entry: &'a Entry) -> Self {
        Self {
            group: entry.group.as_str(),
            host: entry.host.base(),
            repair: entry.action.name(),
            since: cluster_client::vocab::time::rfc3339(entry.recorded_at),
            failed_replays: entry.failed_replays,
            last_error: entry.last_error.as_deref(),
            kind: entry.kind.name(),
            until: entry.until.map(cluster_client::vocab::time::rfc3339),
            journal: None,
        }
    }

    /// The wire form of an entry of the journal `path`, naming it.
    pub fn in_journal(entry: &'a Entry, path: &Path) -> Self {
        Self {
            journal: Some(path.display().to_string()),
            ..Self::new(entry)
        }
    }
}

impl<'a> Status<'a> {
    /// The wire form of `report`, whose verdict is `state`, with the
    /// group's journal entries `pending`.
    pub fn new(
        report: &'a StatusReport,
        state: &'static str,
        pending: Vec<serde_json::Value>,
    ) -> Self {
        Self {
            group: report.group.as_str(),
            state,
            consistent: report.consistent,
            nodes: report.nodes.iter().map(StateLine::new).collect(),
            pending,
        }
    }
}

impl<'a> StateLine<'a> {
    fn new(node: &'a NodeStatus) -> Self {
        Self {
            host: node.host.base(),
            state: match node.state {
                NodeState::Present => "present",
                NodeState::Absent => "absent",
                NodeState::Unreachable => "unreachable",
                NodeState::Unreadable => "unreadable",
            },
            attempts: node.attempts,
            error: node.error.as_deref(),
        }
    }
}

/// The one document of a run that could not start (`schemas/error.schema.json`).
#[derive(Debug, Serialize)]
pub struct ErrorDocument<'a> {
    /// What went wrong.
    pub error: ErrorBody<'a>,
}

/// The body of an [`ErrorDocument`].
#[derive(Debug, Serialize)]
pub struct ErrorBody<'a> {
    /// `usage` (the command line), `input` (hosts file, group ids, a
    /// setting), `journal` (the journal could not be used), `setup` (the
    /// HTTP client, such as a CA file) or `local` (anything else local).
    pub kind: &'static str,
    /// The message stderr shows, as plain text.
    pub message: &'a str,
    /// The process exit status: 2.
    pub exit_status: u8,
}

/// The plan of a `--dry-run` (`schemas/dry-run.schema.json`).
#[derive(Debug, Serialize)]
pub struct DryRun<'a> {
    /// Always true: nothing but reads was sent.
    pub dry_run: bool,
    /// `create` or `delete`.
    pub operation: &'static str,
    /// One plan per group, in order.
    pub groups: Vec<PlannedGroup<'a>>,
    /// The journal read.
    pub journal: String,
    /// Every repair the journal holds now: a run would replay them first.
    pub pending: PendingList<'a>,
    /// How many groups would go which way, and how long the reads took.
    pub summary: PlanSummary,
}

/// One group's plan in a [`DryRun`].
#[derive(Debug, Serialize)]
pub struct PlannedGroup<'a> {
    /// The group id.
    pub group: &'a str,
    /// `change`, `nothing_to_do`, `refused` (pending repairs) or `blocked`
    /// (a node could not be read, so a run would stop before any change).
    pub plan: &'static str,
    /// One line per node, in hosts-file order; none for a refused group.
    pub nodes: Vec<PlannedLine<'a>>,
    /// The group's pending repairs (those that refuse it).
    pub pending: PendingList<'a>,
}

/// A node's line in a [`PlannedGroup`].
#[derive(Debug, Serialize)]
pub struct PlannedLine<'a> {
    /// The node's base URL.
    pub host: &'a str,
    /// `would_change`, `already`, `unreachable`, `unreadable` or `not_read`.
    pub state: &'static str,
    /// The request a run would send: `POST` or `DELETE`; absent when none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request: Option<&'static str>,
    /// Reads sent.
    pub attempts: u32,
    /// Why the node could not be read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl<'a> PlannedGroup<'a> {
    /// The wire form of `report`.
    pub fn new(report: &'a PlanReport) -> Self {
        Self {
            group: report.group.as_str(),
            plan: match report.verdict {
                PlanVerdict::Change => "change",
                PlanVerdict::NothingToDo => "nothing_to_do",
                PlanVerdict::Refused => "refused",
                PlanVerdict::Blocked => "blocked",
            },
            nodes: report
                .nodes
                .iter()
                .map(|node| PlannedLine {
                    host: node.host.base(),
                    state: planned_state(node.step),
                    request: match node.step {
                        PlannedStep::Send(action) => Some(action.method()),
                        _ => None,
                    },
                    attempts: node.attempts,
                    error: node.error.as_ref().map(crate::cli::words::node_error),
                })
                .collect(),
            pending: PendingList(&report.pending),
        }
    }
}

/// The word for what a run would do on a node.
pub fn planned_state(step: PlannedStep) -> &'static str {
    match step {
        PlannedStep::Send(_) => "would_change",
        PlannedStep::Already => "already",
        PlannedStep::Unreachable => "unreachable",
        PlannedStep::Unreadable => "unreadable",
        PlannedStep::NotRead => "not_read",
    }
}

/// The word for a group's verdict in `status`.
pub fn verdict(verdict: Verdict) -> &'static str {
    match verdict {
        Verdict::Present => "present",
        Verdict::Absent => "absent",
        Verdict::Mixed => "mixed",
        Verdict::Unknown => "unknown",
    }
}

fn outcome(outcome: Outcome) -> &'static str {
    match outcome {
        Outcome::Done => "done",
        Outcome::RolledBack => "rolled_back",
        Outcome::RepairsPending => "repairs_pending",
        Outcome::Refused => "refused",
        Outcome::Skipped => "skipped",
    }
}

fn result(result: NodeResult) -> &'static str {
    match result {
        NodeResult::Created => "created",
        NodeResult::Deleted => "deleted",
        NodeResult::AlreadyPresent => "already_present",
        NodeResult::AlreadyAbsent => "already_absent",
        NodeResult::RolledBack => "rolled_back",
        NodeResult::RollbackPending => "rollback_pending",
        NodeResult::Failed => "failed",
        NodeResult::Unreachable => "unreachable",
        NodeResult::Unreadable => "unreadable",
        NodeResult::NotAttempted => "not_attempted",
    }
}
