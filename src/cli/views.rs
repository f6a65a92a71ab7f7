//! Views of the commands that only read: `status` of one or several groups with their pending
//! journal entries, and the plan of a `--dry-run`, for people and as JSON.

use std::io::{self, Write};
use std::path::Path;
use std::time::Duration;

use serde_json::Value;

use crate::cli::args::OutputFormat;
use crate::cli::exit::{Verdict, verdict};
use crate::cli::output::{self, escape};
use crate::cli::wire;
use cluster_client::engine::{NodeState, PlanReport, PlanVerdict, PlannedStep, StatusReport};
use cluster_client::journal::{Entry, Kind};
use cluster_client::vocab::change::Operation;
use cluster_client::vocab::time::rfc3339;

/// What `status` shows.
#[derive(Debug)]
pub struct Statuses<'a> {
    /// One report per group, in the order named.
    pub reports: &'a [StatusReport],
    /// Every entry of the journal (each group shows its own).
    pub pending: &'a [Entry],
    /// The journal read.
    pub journal: &'a Path,
    /// Whether the command named a list: JSON is then an object of all
    /// the groups and a summary.
    pub list: bool,
    /// How long the reads took.
    pub elapsed: Duration,
}

/// Prints `status`: for people, each group's nodes and pending entries,
/// then (for several groups) one summary line; as JSON, one object per
/// group (`schemas/status.schema.json`), an array when the command named a
/// list.
pub fn statuses(out: &mut dyn Write, format: OutputFormat, shown: &Statuses<'_>) -> io::Result<()> {
    if format != OutputFormat::Human {
        let groups: Vec<wire::Status<'_>> = shown
            .reports
            .iter()
            .map(|report| {
                let pending = entries_of(shown.pending, report).map(generic).collect();
                wire::Status::new(report, wire::verdict(verdict(report)), pending)
            })
            .collect();
        return match (shown.list, groups.as_slice()) {
            (false, [single]) => output::json(out, format, single),
            _ => {
                let summary = status_summary(shown.reports, shown.elapsed);
                let document = wire::Statuses { groups, summary };
                output::json(out, format, &document)
            }
        };
    }
    for report in shown.reports {
        status(out, format, report)?;
        let mut entries = entries_of(shown.pending, report)
            .filter(|e| e.is_pending())
            .peekable();
        if entries.peek().is_some() {
            writeln!(
                out,
                "  pending in {} (status applies none; the next create, delete or \
                 `cluster-client rollback` does):",
                escape(&shown.journal.display().to_string())
            )?;
        }
        for entry in entries {
            writeln!(out, "    {}", pending_line(entry))?;
        }
    }
    if shown.list {
        let summary = status_summary(shown.reports, shown.elapsed);
        writeln!(
            out,
            "status: {} group(s) in {:.1}s: {} present on every node, {} absent from every \
             node, {} mixed or unknown",
            summary.groups,
            summary.seconds,
            summary.present,
            summary.absent,
            summary.mixed + summary.unknown,
        )?;
    }
    Ok(())
}

/// Prints a status report.
pub fn status(out: &mut dyn Write, format: OutputFormat, report: &StatusReport) -> io::Result<()> {
    if format != OutputFormat::Human {
        let state = wire::verdict(verdict(report));
        return output::json(out, format, &wire::Status::new(report, state, Vec::new()));
    }
    let summary = status_headline(report);
    writeln!(out, "group {:?}: {summary}", report.group.as_str())?;
    let width = output::host_width(report.nodes.iter().map(|n| &n.host));
    for node in &report.nodes {
        let state = match node.state {
            NodeState::Present => "present",
            NodeState::Absent => "absent",
            NodeState::Unreachable => "unreachable",
            NodeState::Unreadable => "unreadable",
        };
        output::node_line(out, width, &node.host, state, node.error.as_deref())?;
    }
    Ok(())
}

/// What a status report says of its group, in one line.
fn status_headline(report: &StatusReport) -> String {
    let states: Vec<NodeState> = report.nodes.iter().map(|n| n.state).collect();
    let count = |s| states.iter().filter(|x| **x == s).count();
    let (silent, unusable) = (count(NodeState::Unreachable), count(NodeState::Unreadable));
    if silent + unusable > 0 {
        // Note: a node that did not answer (or answered nothing usable) says
        // nothing about the group; "present on 0, absent on 0" would read as
        // a verdict.
        let mut unknown = Vec::new();
        if silent > 0 {
            unknown.push(format!("{silent} of {} nodes did not answer", states.len()));
        }
        if unusable > 0 {
            unknown.push(format!(
                "{unusable} of {} nodes gave no usable answer",
                states.len()
            ));
        }
        let (present, absent) = (count(NodeState::Present), count(NodeState::Absent));
        let mut known = Vec::new();
        if present > 0 {
            known.push(format!("present on {present}"));
        }
        if absent > 0 {
            known.push(format!("absent on {absent}"));
        }
        let known = if known.is_empty() {
            String::new()
        } else {
            format!("; {}", known.join(", "))
        };
        format!("UNKNOWN: {}{known}", unknown.join(", "))
    } else if !report.consistent {
        format!(
            "INCONSISTENT: present on {}, absent on {} of {} nodes",
            count(NodeState::Present),
            count(NodeState::Absent),
            states.len()
        )
    } else if states.first() == Some(&NodeState::Present) {
        format!("present on all {} nodes", states.len())
    } else {
        format!("absent from all {} nodes", states.len())
    }
}

/// The entries of the journal for `report`'s group.
fn entries_of<'a>(
    pending: &'a [Entry],
    report: &'a StatusReport,
) -> impl Iterator<Item = &'a Entry> {
    pending.iter().filter(move |e| e.group == report.group)
}

/// An entry as the journal stores it, every field by its own name: a kind
/// of entry added later shows up with its fields, unchanged here.
fn generic(entry: &Entry) -> Value {
    serde_json::to_value(entry).unwrap_or(Value::Null)
}

/// One pending entry for people: a repair and why its last try failed, or a
/// verification and until when.
fn pending_line(entry: &Entry) -> String {
    let host = escape(entry.host.base());
    match entry.kind {
        Kind::Verify => format!(
            "verify  {host}: a {} of ours may still land until {}; if it does, {} it",
            entry.action.opposite().name(),
            entry.until.map(rfc3339).unwrap_or_default(),
            entry.action.name()
        ),
        _ => match entry.last_error.as_deref() {
            Some(error) => format!(
                "repair  {host}: {} (failed {} time(s): {})",
                entry.action,
                entry.failed_replays,
                escape(error)
            ),
            None => format!("repair  {host}: {}", entry.action),
        },
    }
}

/// How many of `reports` are in which state, read in `elapsed`.
fn status_summary(reports: &[StatusReport], elapsed: Duration) -> wire::StatusSummary {
    let count = |wanted: Verdict| reports.iter().filter(|r| verdict(r) == wanted).count();
    wire::StatusSummary {
        groups: reports.len(),
        present: count(Verdict::Present),
        absent: count(Verdict::Absent),
        mixed: count(Verdict::Mixed),
        unknown: count(Verdict::Unknown),
        seconds: seconds(elapsed),
    }
}

/// `elapsed` in seconds, to the millisecond.
fn seconds(elapsed: Duration) -> f64 {
    (elapsed.as_millis() as f64) / 1000.0
}

/// What a `--dry-run` shows.
#[derive(Debug)]
pub struct Plan<'a> {
    /// The operation planned.
    pub operation: Operation,
    /// One report per group, in order.
    pub reports: &'a [PlanReport],
    /// Every entry the journal holds now.
    pub pending: &'a [Entry],
    /// The journal read.
    pub journal: &'a Path,
    /// How long the reads took.
    pub elapsed: Duration,
}

/// Prints the plan of a `--dry-run`: per group, what each node would get
/// (or why the group would be refused or could not start), then one line
/// for the whole plan and one for what the journal holds. JSON is
/// [`wire::DryRun`], always an object.
pub fn plan(out: &mut dyn Write, format: OutputFormat, shown: &Plan<'_>) -> io::Result<()> {
    let journal = escape(&shown.journal.display().to_string()).into_owned();
    let count = |verdict| {
        shown
            .reports
            .iter()
            .filter(|r| r.verdict == verdict)
            .count()
    };
    let summary = wire::PlanSummary {
        groups: shown.reports.len(),
        change: count(PlanVerdict::Change),
        nothing_to_do: count(PlanVerdict::NothingToDo),
        refused: count(PlanVerdict::Refused),
        blocked: count(PlanVerdict::Blocked),
        seconds: seconds(shown.elapsed),
    };
    if format != OutputFormat::Human {
        let document = wire::DryRun {
            dry_run: true,
            operation: shown.operation.name(),
            groups: shown.reports.iter().map(wire::PlannedGroup::new).collect(),
            journal: shown.journal.display().to_string(),
            pending: wire::PendingList(shown.pending),
            summary,
        };
        return output::json(out, format, &document);
    }
    for report in shown.reports {
        plan_group(out, report)?;
    }
    writeln!(
        out,
        "dry run: {} group(s) in {:.1}s: {} would change, {} nothing to do, {} refused, {} \
         blocked; only reads were sent, and nothing was replayed",
        summary.groups,
        summary.seconds,
        summary.change,
        summary.nothing_to_do,
        summary.refused,
        summary.blocked,
    )?;
    match cluster_client::journal::pending_count(shown.pending) {
        0 => writeln!(out, "journal {journal}: nothing pending"),
        n => writeln!(
            out,
            "journal {journal}: {n} pending, which a run replays first \
             (`cluster-client journal list` shows them)"
        ),
    }
}

/// One group's plan, for people.
fn plan_group(out: &mut dyn Write, report: &PlanReport) -> io::Result<()> {
    let name = report.operation.name();
    let group = escape(report.group.as_str());
    let verb = report.operation.action().method();
    let sends = report
        .nodes
        .iter()
        .filter(|n| matches!(n.step, PlannedStep::Send(_)))
        .count();
    let headline = match report.verdict {
        PlanVerdict::Change => format!(
            "would send {verb} to {sends} of {} node(s)",
            report.nodes.len()
        ),
        PlanVerdict::NothingToDo => {
            "nothing to do: every node is in the requested state".to_owned()
        }
        PlanVerdict::Refused => {
            let mut hosts: Vec<&str> = report.pending.iter().map(|e| e.host.base()).collect();
            hosts.dedup();
            format!(
                "would be refused: repairs are pending on {}",
                escape(&hosts.join(", "))
            )
        }
        PlanVerdict::Blocked => "would fail before any change: a node could not be read".to_owned(),
    };
    writeln!(out, "dry run: {name} \"{group}\": {headline}")?;
    for node in &report.nodes {
        let step = match node.step {
            PlannedStep::Send(action) => format!("would {action}"),
            other => wire::planned_state(other).replace('_', " "),
        };
        let error = node.error.as_ref().map(crate::cli::words::node_error);
        let line = format!("  {}  {step}", escape(node.host.base()));
        match error {
            Some(error) => writeln!(out, "{line}  ({})", escape(&error))?,
            None => writeln!(out, "{line}")?,
        }
    }
    Ok(())
}
