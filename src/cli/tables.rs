//! The journal as people and scripts read it: what `rollback` did, `journal list` and
//! `journal forget`, over one journal or several.

use std::borrow::Cow;
use std::io::{self, Write};
use std::path::Path;

use crate::cli::args::OutputFormat;
use crate::cli::journals::{Replayed, Visit, Visited};
use crate::cli::output::{describe, escape, json, shown_path};
use crate::cli::{wire, wire_journal};
use cluster_client::engine::ReplayReport;
use cluster_client::journal::{Entry, Kind};
use cluster_client::vocab::time::rfc3339;

use cluster_client::vocab::group::GroupId;

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
            &wire_journal::Rollback::new(report, pending, path, found),
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
/// [`wire_journal::Rollbacks`].
pub fn replays(out: &mut dyn Write, format: OutputFormat, visited: &[Visited]) -> io::Result<()> {
    if format != OutputFormat::Human {
        return json(out, format, &wire_journal::Rollbacks::new(visited));
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

/// `title: N repaired, M still pending` and one line per repair.
fn replay_human(
    out: &mut dyn Write,
    title: &str,
    repaired: &[Entry],
    pending: &[Entry],
) -> io::Result<()> {
    let still = cluster_client::journal::pending_count(pending);
    if repaired.is_empty() && still == 0 {
        return writeln!(out, "{title}: nothing pending");
    }
    writeln!(
        out,
        "{title}: {} repaired, {still} still pending",
        repaired.len()
    )?;
    for entry in repaired {
        writeln!(out, "  repaired  {}", describe(entry))?;
    }
    for entry in pending {
        match entry.kind {
            Kind::Repair => {
                let error = entry.last_error.as_deref().unwrap_or("not attempted yet");
                writeln!(out, "  pending   {}  ({})", describe(entry), escape(error))?;
            }
            Kind::Verify => {
                let until = entry.until.map(rfc3339).unwrap_or_default();
                let why = entry.last_error.as_deref().map_or_else(
                    || {
                        format!(
                            "a {} of ours may still land until {until}",
                            entry.action.opposite().name()
                        )
                    },
                    |error| format!("could not be checked: {}", escape(error)),
                );
                writeln!(out, "  verify    {}  ({why})", describe(entry))?;
            }
            Kind::Watch => {}
        }
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
        let document = wire_journal::JournalList {
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
/// journal's table, or why it was not read. JSON is [`wire_journal::JournalLists`].
pub fn journal_lists(
    out: &mut dyn Write,
    format: OutputFormat,
    visited: &[Visited],
) -> io::Result<()> {
    if format != OutputFormat::Human {
        return json(out, format, &wire_journal::JournalLists::new(visited));
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
        let document = wire_journal::JournalForget {
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
    let until = entry.until.map(rfc3339);
    [
        escape(entry.group.as_str()),
        escape(entry.host.base()),
        Cow::Borrowed(entry.kind.name()),
        Cow::Borrowed(entry.action.name()),
        Cow::Owned(rfc3339(entry.recorded_at)),
        Cow::Owned(until.unwrap_or_else(|| "-".to_owned())),
        Cow::Owned(entry.failed_replays.to_string()),
        escape(entry.last_error.as_deref().unwrap_or("-")),
    ]
}
