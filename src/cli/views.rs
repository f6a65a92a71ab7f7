//! Views of the commands that only read: `status` of one or several groups with their pending
//! journal entries, for people and as JSON.

use std::io::{self, Write};
use std::path::Path;

use serde_json::Value;

use crate::cli::args::OutputFormat;
use crate::cli::exit::{Verdict, verdict};
use crate::cli::output::{self, escape};
use crate::cli::wire;
use cluster_client::engine::StatusReport;
use cluster_client::journal::Entry;

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
