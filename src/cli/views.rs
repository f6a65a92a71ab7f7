//! Views of the commands that only read: `status` of one or several groups with their pending
//! journal entries, and the plan of a `--dry-run`, for people and as JSON.

use std::io::{self, Write};
use std::path::Path;

use serde_json::Value;

use crate::cli::args::OutputFormat;
use crate::cli::exit::{Verdict, verdict};
use crate::cli::output::{self, escape};
use crate::cli::wire;
use cluster_client::engine::{PlanReport, PlanVerdict, PlannedStep, StatusReport};
use cluster_client::journal::Entry;
use cluster_client::vocab::change::Operation;

/// What `status` shows.
#[derive(Debug)]
pub struct Statuses<'a> {
    /// One report per group, in the order named.
    pub reports: &'a [StatusReport],
    /// Every entry of the journal (each group shows its own).
    pub pending: &'a [Entry],
    /// The journal read.
    pub journal: &'a Path,
    /// Whether the command named a list: JSON is then an array.
    pub list: bool,
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
            _ => output::json(out, format, &groups),
        };
    }
    for report in shown.reports {
        output::status(out, format, report)?;
        let mut entries = entries_of(shown.pending, report).peekable();
        if entries.peek().is_some() {
            writeln!(
                out,
                "  pending in {} (not applied by status; `cluster-client rollback` applies them):",
                escape(&shown.journal.display().to_string())
            )?;
        }
        for entry in entries {
            writeln!(out, "    {}", fields_line(&generic(entry)))?;
        }
    }
    if shown.list {
        writeln!(out, "{}", summary(shown.reports))?;
    }
    Ok(())
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

/// `key=value` for every field but the group (the heading names it); text
/// escaped, and quoted when it has a blank.
fn fields_line(value: &Value) -> String {
    let Value::Object(fields) = value else {
        return escape(&value.to_string()).into_owned();
    };
    fields
        .iter()
        .filter(|(key, _)| key.as_str() != "group")
        .map(|(key, value)| {
            let text = match value {
                Value::String(text) if text.contains(char::is_whitespace) => format!("{text:?}"),
                Value::String(text) => text.clone(),
                other => other.to_string(),
            };
            format!("{key}={}", escape(&text))
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// "status: 10 groups: 7 present on every node, 2 absent from every node,
/// 1 mixed or unknown".
fn summary(reports: &[StatusReport]) -> String {
    let count = |pick: fn(Verdict) -> bool| reports.iter().filter(|r| pick(verdict(r))).count();
    format!(
        "status: {} group(s): {} present on every node, {} absent from every node, {} mixed \
         or unknown",
        reports.len(),
        count(|v| v == Verdict::Present),
        count(|v| v == Verdict::Absent),
        count(|v| matches!(v, Verdict::Mixed | Verdict::Unknown)),
    )
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
}

/// Prints the plan of a `--dry-run`: per group, what each node would get
/// (or why the group would be refused or could not start), then one line
/// for the whole plan and one for what the journal holds. JSON is
/// [`wire::DryRun`], always an object.
pub fn plan(out: &mut dyn Write, format: OutputFormat, shown: &Plan<'_>) -> io::Result<()> {
    let journal = escape(&shown.journal.display().to_string()).into_owned();
    if format != OutputFormat::Human {
        let document = wire::DryRun {
            dry_run: true,
            operation: shown.operation.name(),
            groups: shown.reports.iter().map(wire::PlannedGroup::new).collect(),
            journal: shown.journal.display().to_string(),
            pending: wire::PendingList(shown.pending),
        };
        return output::json(out, format, &document);
    }
    for report in shown.reports {
        plan_group(out, report)?;
    }
    let count = |verdict| {
        shown
            .reports
            .iter()
            .filter(|r| r.verdict == verdict)
            .count()
    };
    writeln!(
        out,
        "dry run: {} group(s): {} would change, {} nothing to do, {} refused, {} blocked; \
         only reads were sent, and nothing was replayed",
        shown.reports.len(),
        count(PlanVerdict::Change),
        count(PlanVerdict::NothingToDo),
        count(PlanVerdict::Refused),
        count(PlanVerdict::Blocked),
    )?;
    match shown.pending.len() {
        0 => writeln!(out, "journal {journal}: nothing pending"),
        n => writeln!(
            out,
            "journal {journal}: {n} pending repair(s), which a run replays first \
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
