//! Output rendering: human-readable tables, or exactly one JSON document.

use std::borrow::Cow;
use std::io::{self, BufWriter, Write};
use std::path::Path;

use serde::Serialize;

use crate::cli::args::OutputFormat;
use crate::cli::config::Sharded;
use crate::cli::journals::{Replayed, Visit, Visited};
use crate::cli::wire;
use crate::cli::words::node_error;
use cluster_client::engine::{NodeResult, OperationReport, Outcome, ReplayReport};
use cluster_client::journal::Entry;
use cluster_client::vocab::group::GroupId;
use cluster_client::vocab::hosts::Node;
pub use cluster_client::vocab::text::escape;

/// What a create or delete printed: its reports, and how the run went.
#[derive(Debug, Clone, Copy)]
pub struct Run<'a> {
    /// Whether the command named a list (several groups, `--from-file` or
    /// a shard).
    pub list: bool,
    /// The shard, when one is in effect.
    pub shard: Option<&'a Sharded>,
    /// The journal.
    pub journal: &'a Path,
    /// How long the run took.
    pub elapsed: std::time::Duration,
}

/// Prints the results of a create or delete: one report per group.
/// The JSON shape follows the command's form, never the count: a list (the
/// command named several groups, used `--from-file` or a shard) prints
/// `{"groups": [...], "summary": {...}}`, even of one group or none; a
/// single positional group prints its object. A list ends, for people, with
/// one summary line. With a shard, people first read which shard it is and
/// how many of the groups named it kept.
pub fn operations(
    out: &mut dyn Write,
    format: OutputFormat,
    reports: &[OperationReport],
    run: Run<'_>,
) -> io::Result<()> {
    let Run {
        list,
        shard,
        journal,
        elapsed,
    } = run;
    let summary = || wire::Summary::of(reports, elapsed);
    match (format, reports) {
        (OutputFormat::Human, reports) => {
            if let Some(Sharded { shard, named }) = shard {
                let nothing = if reports.is_empty() {
                    "; nothing to do"
                } else {
                    ""
                };
                writeln!(
                    out,
                    "shard {shard}: {} of {named} groups are this shard's{nothing}",
                    reports.len()
                )?;
            }
            for report in reports {
                operation_human(out, report, journal)?;
            }
            // Note: a shard that owns none of the groups has said so already.
            if list && !reports.is_empty() {
                summary_line(out, &summary())?;
            }
            Ok(())
        }
        (_, [single]) if !list => json(out, format, &wire::Operation::new(single)),
        (_, _) => {
            let document = wire::Operations {
                groups: reports.iter().map(wire::Operation::new).collect(),
                summary: summary(),
            };
            json(out, format, &document)
        }
    }
}

/// "summary: 60 group(s) in 12.3s: 50 done, 4 rolled back, 2 repairs
/// pending, 3 refused, 1 skipped".
fn summary_line(out: &mut dyn Write, summary: &wire::Summary) -> io::Result<()> {
    writeln!(
        out,
        "summary: {} group(s) in {:.1}s: {} done, {} rolled back, {} repairs pending, {} \
         refused, {} skipped",
        summary.groups,
        summary.seconds,
        summary.done,
        summary.rolled_back,
        summary.repairs_pending,
        summary.refused,
        summary.skipped
    )
}

/// Logs a result that could not be printed (or flushed); the exit status
/// still reports the run.
pub fn report_unprinted(printed: io::Result<()>, out: &mut dyn Write) {
    if let Err(error) = printed.and_then(|()| out.flush()) {
        log::error!(
            "cannot write the result to stdout: {error}; the exit status still reports the run"
        );
    }
}

/// Prints the result of `rollback` of the journal `path`; `pending` is the
/// journal after it. `found` false: there was no journal there, and nothing
/// was created.
pub fn replay(
    out: &mut dyn Write,
    format: OutputFormat,
    report: &ReplayReport,
    pending: &[Entry],
    path: &Path,
    found: bool,
) -> io::Result<()> {
    if format != OutputFormat::Human {
        return json(
            out,
            format,
            &wire::Rollback::new(report, pending, path, found),
        );
    }
    if !found {
        return writeln!(
            out,
            "rollback: no journal at {}, so nothing is pending there; nothing was created",
            shown_path(path)
        );
    }
    replay_human(
        out,
        &format!("rollback of journal {}", shown_path(path)),
        &report.repaired,
        pending,
    )
}

/// Prints the result of `rollback` over several journals: a summary line,
/// then each journal's repairs, or why it was not replayed. JSON is
/// [`wire::Rollbacks`].
pub fn replays(out: &mut dyn Write, format: OutputFormat, visited: &[Visited]) -> io::Result<()> {
    if format != OutputFormat::Human {
        return json(out, format, &wire::Rollbacks::new(visited));
    }
    let count = |pick: fn(&Replayed) -> usize| -> usize {
        visited.iter().filter_map(Visited::report).map(pick).sum()
    };
    writeln!(
        out,
        "rollback: {} journal(s), {} repaired, {} still pending{}",
        visited.len(),
        count(|r| r.report.repaired.len()),
        count(|r| cluster_client::journal::pending_count(&r.pending)),
        not_opened_count(visited, "replayed")
    )?;
    for one in visited {
        let title = format!("journal {}", shown_path(&one.path));
        match one.report() {
            Some(opened) => replay_human(out, &title, &opened.report.repaired, &opened.pending)?,
            None => not_opened(out, &title, one, "replayed")?,
        }
    }
    Ok(())
}

/// ", 2 journal(s) not replayed", or nothing when every one was opened.
fn not_opened_count(visited: &[Visited], verb: &str) -> String {
    let not_opened =
        |one: &&Visited| one.report().is_none() && !matches!(one.visit, Visit::Missing);
    match visited.iter().filter(not_opened).count() {
        0 => String::new(),
        n => format!(", {n} journal(s) not {verb}"),
    }
}

/// The line of a journal that was not opened, and why.
fn not_opened(out: &mut dyn Write, title: &str, one: &Visited, verb: &str) -> io::Result<()> {
    if let Visit::Missing = one.visit {
        return writeln!(
            out,
            "{title}: no journal there, so nothing is pending there"
        );
    }
    let why = match &one.visit {
        Visit::Busy(_) => "another cluster-client run holds its lock, and replays it first; \
                           the next rollback tries again"
            .to_owned(),
        Visit::Refused(error) => escape(&error.to_string()).into_owned(),
        Visit::Interrupted | Visit::Opened(_) | Visit::Missing => {
            "interrupted before it was reached".to_owned()
        }
    };
    writeln!(out, "{title}: NOT {}: {why}", verb.to_uppercase())
}

/// A path as people see it, escaped.
fn shown_path(path: &Path) -> String {
    escape(&path.display().to_string()).into_owned()
}

/// `title: N repaired, M still pending` and one line per repair.
fn replay_human(
    out: &mut dyn Write,
    title: &str,
    repaired: &[Entry],
    pending: &[Entry],
) -> io::Result<()> {
    if repaired.is_empty() && pending.is_empty() {
        return writeln!(out, "{title}: nothing pending");
    }
    writeln!(
        out,
        "{title}: {} repaired, {} still pending",
        repaired.len(),
        pending.len()
    )?;
    for entry in repaired {
        writeln!(out, "  repaired  {}", describe(entry))?;
    }
    for entry in pending {
        let error = entry.last_error.as_deref().unwrap_or("not attempted");
        writeln!(out, "  pending   {}  ({})", describe(entry), escape(error))?;
    }
    Ok(())
}

/// Prints `journal list` of the journal `path`: every pending repair,
/// oldest first. JSON is `{"journal", "found", "pending": [{"group",
/// "host", "repair", "since", "failed_replays", "last_error"}]}`; people get
/// a table. Both are written as the entries are read, never built whole
/// first. `found` false: there is no journal at `path`.
pub fn journal_list(
    out: &mut dyn Write,
    format: OutputFormat,
    entries: &[Entry],
    journal: &Path,
    found: bool,
) -> io::Result<()> {
    if format != OutputFormat::Human {
        let pending = wire::PendingList(entries);
        let document = wire::JournalList {
            journal: journal.display().to_string(),
            found,
            pending,
        };
        return json(out, format, &document);
    }
    let path = shown_path(journal);
    if !found {
        return writeln!(out, "no journal at {path}, so nothing is pending there");
    }
    if entries.is_empty() {
        return writeln!(out, "journal {path}: nothing pending");
    }
    let pending = cluster_client::journal::pending_count(entries);
    match entries.len() - pending {
        0 => writeln!(out, "journal {path}: {pending} pending")?,
        watches => writeln!(
            out,
            "journal {path}: {pending} pending, {watches} watch(es) (not pending)"
        )?,
    }
    pending_table(out, entries)
}

/// Prints `journal list` over several journals: a summary line, then each
/// journal's table, or why it was not read. JSON is [`wire::JournalLists`].
pub fn journal_lists(
    out: &mut dyn Write,
    format: OutputFormat,
    visited: &[Visited],
) -> io::Result<()> {
    if format != OutputFormat::Human {
        return json(out, format, &wire::JournalLists::new(visited));
    }
    let pending: usize = visited
        .iter()
        .filter_map(Visited::report)
        .map(|report| cluster_client::journal::pending_count(&report.pending))
        .sum();
    writeln!(
        out,
        "journal list: {} journal(s), {pending} pending{}",
        visited.len(),
        not_opened_count(visited, "read")
    )?;
    for one in visited {
        match one.report() {
            Some(report) => journal_list(out, format, &report.pending, &one.path, true)?,
            None => {
                let title = format!("journal {}", shown_path(&one.path));
                not_opened(out, &title, one, "read")?;
            }
        }
    }
    Ok(())
}

/// What `journal forget` did, or would do.
#[derive(Debug)]
pub struct Forget {
    /// The repairs removed from the journal.
    pub removed: Vec<Entry>,
    /// The repairs a run with a scope (and without `--dry-run`) removes.
    pub would_remove: Vec<Entry>,
    /// Whether `--host` or `--all-hosts` said where; without either,
    /// nothing is removed.
    pub scoped: bool,
    /// Whether there is a journal at all.
    pub found: bool,
}

/// Prints `journal forget`: the repairs removed, or those it would remove.
/// JSON is `{"forgotten": [...], "would_forget": [...]}` with the items of
/// [`journal_list`].
pub fn journal_forget(
    out: &mut dyn Write,
    format: OutputFormat,
    forget: &Forget,
    group: &GroupId,
    journal: &Path,
) -> io::Result<()> {
    if format != OutputFormat::Human {
        let document = wire::JournalForget {
            journal: journal.display().to_string(),
            found: forget.found,
            forgotten: wire::PendingList(&forget.removed),
            would_forget: wire::PendingList(&forget.would_remove),
        };
        return json(out, format, &document);
    }
    let group = escape(group.as_str()).into_owned();
    let journal = shown_path(journal);
    if !forget.found {
        return writeln!(
            out,
            "journal forget: no journal at {journal}, so no pending repair of group \"{group}\""
        );
    }
    if !forget.removed.is_empty() {
        writeln!(
            out,
            "journal forget: removed {} pending repair(s) of group \"{group}\" from {journal}; \
             those nodes keep whatever state they have (check with `cluster-client status`)",
            forget.removed.len()
        )?;
        return pending_table(out, &forget.removed);
    }
    if forget.would_remove.is_empty() {
        return writeln!(
            out,
            "journal forget: no pending repair of group \"{group}\" matched in {journal}"
        );
    }
    if forget.scoped {
        writeln!(
            out,
            "journal forget --dry-run: would remove {} pending repair(s) of group \"{group}\" \
             from {journal}; nothing was changed",
            forget.would_remove.len()
        )?;
    } else {
        writeln!(
            out,
            "journal forget: removed nothing; name the nodes with --host URL (once per node) \
             or --all-hosts. Group \"{group}\" has {} pending repair(s) in {journal}:",
            forget.would_remove.len()
        )?;
    }
    pending_table(out, &forget.would_remove)
}

/// The aligned table of `journal list` and `journal forget`; text from the
/// journal is escaped. Two passes over the entries, one to measure the
/// columns and one to print the rows, so no row is kept.
fn pending_table(out: &mut dyn Write, entries: &[Entry]) -> io::Result<()> {
    let header = [
        "GROUP",
        "HOST",
        "KIND",
        "REPAIR",
        "SINCE",
        "UNTIL",
        "FAILED",
        "LAST ERROR",
    ];
    let mut widths = header.map(str::len);
    for entry in entries {
        for (width, cell) in widths.iter_mut().zip(table_cells(entry)) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let line = |out: &mut dyn Write, cells: [&str; 8]| {
        let mut text = String::new();
        for (i, cell) in cells.iter().enumerate() {
            let pad = widths[i].saturating_sub(cell.chars().count());
            text.push_str("  ");
            text.push_str(cell);
            text.push_str(&" ".repeat(pad));
        }
        writeln!(out, "{}", text.trim_end())
    };
    line(out, header)?;
    for entry in entries {
        line(out, table_cells(entry).each_ref().map(|cell| cell.as_ref()))?;
    }
    Ok(())
}

/// One entry's cells in the table of [`pending_table`].
fn table_cells(entry: &Entry) -> [Cow<'_, str>; 8] {
    let until = entry.until.map(cluster_client::vocab::time::rfc3339);
    [
        escape(entry.group.as_str()),
        escape(entry.host.base()),
        Cow::Borrowed(entry.kind.name()),
        Cow::Borrowed(entry.action.name()),
        Cow::Owned(cluster_client::vocab::time::rfc3339(entry.recorded_at)),
        Cow::Owned(until.unwrap_or_else(|| "-".to_owned())),
        Cow::Owned(entry.failed_replays.to_string()),
        escape(entry.last_error.as_deref().unwrap_or("-")),
    ]
}

/// "delete "g1" on http://node1:8080".
fn describe(entry: &Entry) -> String {
    format!(
        "{} {:?} on {}",
        entry.action,
        entry.group.as_str(),
        escape(entry.host.base())
    )
}

fn operation_human(
    out: &mut dyn Write,
    report: &OperationReport,
    journal: &Path,
) -> io::Result<()> {
    let name = report.operation.name();
    let group = report.group.as_str();
    writeln!(out, "{name} {group:?}: {}", headline(report, journal))?;
    if let Some(error) = &report.journal_error {
        writeln!(out, "  journal: {}", escape(&error.to_string()))?;
    }
    // Note: a group the journal kept from starting has no node to show; one
    // a signal stopped shows what its reads found.
    let nothing_to_show = match report.outcome {
        Outcome::Refused => true,
        Outcome::Skipped => report.journal_error.is_some(),
        _ => false,
    };
    if nothing_to_show {
        return Ok(());
    }
    let width = host_width(report.nodes.iter().map(|n| &n.host));
    for node in &report.nodes {
        // Note: a node the run stopped before changing was only read; its
        // count says so, and one never asked says that instead of "not
        // attempted" with a count that reads as a change sent.
        let (word, noun) = match (node.result, node.attempts) {
            (NodeResult::NotAttempted, 0) => ("not asked", "request"),
            (NodeResult::NotAttempted, _) => ("not changed", "read"),
            (result, _) => (result_word(result), "request"),
        };
        let requests = match node.attempts {
            0 => String::new(),
            1 => format!("1 {noun}"),
            n => format!("{n} {noun}s"),
        };
        let text = format!("{word:15}  {requests}");
        let error = node.error.as_ref().map(node_error);
        node_line(out, width, &node.host, &text, error.as_deref())?;
    }
    for entry in &report.verifying {
        writeln!(out, "  verifying {}", verification(entry))?;
    }
    Ok(())
}

/// "http://node2: a create of ours may still land until 2026-12-03T08:20:00Z; ...".
fn verification(entry: &Entry) -> String {
    let until = entry
        .until
        .map_or_else(String::new, cluster_client::vocab::time::rfc3339);
    format!(
        "{}: a {} of ours may still land there until {until}; the next run (or `cluster-client \
         rollback`) reads the node and {}s the group if it did",
        escape(entry.host.base()),
        entry.action.opposite().name(),
        entry.action.name()
    )
}

/// What a create or delete came to, in one line for a person.
fn headline(report: &OperationReport, journal: &Path) -> String {
    let hosts = |entries: &[Entry]| {
        let mut hosts: Vec<&str> = entries.iter().map(|e| e.host.base()).collect();
        hosts.dedup();
        escape(&hosts.join(", ")).into_owned()
    };
    let journal = shown_path(journal);
    let undid_something = report
        .nodes
        .iter()
        .any(|n| n.result == NodeResult::RolledBack);
    let why = if report.interrupted {
        "interrupted"
    } else {
        "failed"
    };
    match report.outcome {
        Outcome::Done => "done".to_owned(),
        Outcome::RolledBack if undid_something => {
            format!("{why}; every change was rolled back, the cluster is as it was")
        }
        Outcome::RolledBack => format!("{why} before any change; the cluster is as it was"),
        Outcome::RepairsPending if report.journal_error.is_some() => {
            let listed: Vec<String> = report.pending.iter().map(describe).collect();
            let it = if listed.len() == 1 { "it" } else { "them" };
            format!(
                "the journal {journal} could not be updated, and it still lists {}; the next \
                 run (or `cluster-client rollback`) applies {it}",
                listed.join(", ")
            )
        }
        Outcome::RepairsPending => format!(
            "failed; undo still pending on {} (kept in {journal}; `cluster-client rollback` \
             retries it)",
            hosts(&report.pending)
        ),
        Outcome::Skipped if report.journal_error.is_none() => {
            "interrupted before any change; nothing was sent for this group, it is as it was"
                .to_owned()
        }
        Outcome::Skipped => {
            "not started, nothing was sent for this group: the journal could not be written"
                .to_owned()
        }
        Outcome::Refused => format!(
            "refused: repairs for this group are still pending on {}; run `cluster-client \
             rollback` once those nodes answer, then try again",
            hosts(&report.pending)
        ),
    }
}

/// A node's result, as the human table shows it.
fn result_word(result: NodeResult) -> &'static str {
    match result {
        NodeResult::Created => "created",
        NodeResult::Deleted => "deleted",
        NodeResult::AlreadyPresent => "already present",
        NodeResult::AlreadyAbsent => "already absent",
        NodeResult::RolledBack => "rolled back",
        NodeResult::RollbackPending => "UNDO PENDING",
        NodeResult::Failed => "failed",
        NodeResult::Unreachable => "unreachable",
        NodeResult::Unreadable => "unreadable",
        NodeResult::NotAttempted => "not attempted",
    }
}

/// The width of the widest base URL as printed, to align the node tables.
pub fn host_width<'a>(hosts: impl Iterator<Item = &'a Node>) -> usize {
    hosts.map(|h| escape(h.base()).len()).max().unwrap_or(0)
}

/// "  http://node1:8080  <text>  (<error>)", with trailing blanks trimmed.
pub fn node_line(
    out: &mut dyn Write,
    width: usize,
    host: &Node,
    text: &str,
    error: Option<&str>,
) -> io::Result<()> {
    let line = format!("  {:width$}  {text}", escape(host.base()));
    let line = line.trim_end();
    match error {
        Some(error) => writeln!(out, "{line}  ({})", escape(error)),
        None => writeln!(out, "{line}"),
    }
}

/// Writes `value` as one JSON document, through a buffer: a document of a
/// million items is written in large blocks as it is serialised.
pub fn json(out: &mut dyn Write, format: OutputFormat, value: &impl Serialize) -> io::Result<()> {
    let mut out = BufWriter::new(out);
    if format == OutputFormat::JsonPretty {
        serde_json::to_writer_pretty(&mut out, value)?;
    } else {
        serde_json::to_writer(&mut out, value)?;
    }
    writeln!(out)?;
    out.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_is_indented_on_a_terminal_and_one_line_elsewhere() {
        assert_eq!(
            OutputFormat::Json.for_stream(true),
            OutputFormat::JsonPretty
        );
        assert_eq!(OutputFormat::Json.for_stream(false), OutputFormat::Json);
        assert_eq!(OutputFormat::Human.for_stream(true), OutputFormat::Human);
        let value = serde_json::json!({"a": [1, 2]});
        let mut compact = Vec::new();
        json(&mut compact, OutputFormat::Json, &value).expect("write");
        assert_eq!(compact, b"{\"a\":[1,2]}\n");
        let mut pretty = Vec::new();
        json(&mut pretty, OutputFormat::JsonPretty, &value).expect("write");
        assert!(pretty.iter().filter(|&&b| b == b'\n').count() > 1);
    }

    const HOSTILE: &str = "\u{1b}[2J\u{1b}[31mFAKE: all repairs applied\n\u{202e}";

    #[test]
    fn control_characters_in_stored_and_node_errors_are_escaped_for_people_and_exact_in_json() {
        use cluster_client::engine::{NodeState, NodeStatus, ReplayReport, StatusReport};
        use cluster_client::journal::Entry;
        use cluster_client::vocab::change::Repair;
        use cluster_client::{GroupId, Node, Operation};

        let host = Node::parse("http://node1:8080").expect("node");
        let group = GroupId::new("g").expect("group");
        let pending = [Entry {
            group: group.clone(),
            host: host.clone(),
            action: Repair::Delete,
            operation: Operation::Create,
            batch: "1@1".into(),
            recorded_at: 1,
            failed_replays: 1,
            kind: cluster_client::journal::Kind::Repair,
            until: None,
            settled: false,
            last_error: Some(HOSTILE.into()),
        }];
        let replay = ReplayReport {
            pending: pending.len(),
            ..ReplayReport::default()
        };
        let status = StatusReport {
            group,
            consistent: false,
            nodes: vec![NodeStatus {
                host,
                state: NodeState::Unreachable,
                attempts: 1,
                error: Some(HOSTILE.to_owned()),
            }],
        };
        let render = |format| {
            let mut replay_out = Vec::new();
            super::replay(
                &mut replay_out,
                format,
                &replay,
                &pending,
                Path::new("j.json"),
                true,
            )
            .expect("render");
            let mut status_out = Vec::new();
            crate::cli::views::status(&mut status_out, format, &status).expect("render");
            [replay_out, status_out].map(|b| String::from_utf8(b).expect("utf8"))
        };
        for human in render(OutputFormat::Human) {
            assert!(
                !human.contains('\u{1b}') && !human.contains('\u{202e}'),
                "{human:?}"
            );
            assert!(
                human.contains("\\u{1b}[2J\\u{1b}[31mFAKE: all repairs applied\\n"),
                "{human}"
            );
            assert_eq!(
                human.lines().filter(|l| l.contains("FAKE")).count(),
                1,
                "{human}"
            );
        }
        let [replay_json, status_json] = render(OutputFormat::Json);
        let replay_json: serde_json::Value = serde_json::from_str(&replay_json).expect("json");
        assert_eq!(replay_json["pending"][0]["last_error"], HOSTILE);
        let status_json: serde_json::Value = serde_json::from_str(&status_json).expect("json");
        assert_eq!(status_json["nodes"][0]["error"], HOSTILE);
    }
}
