//! The JSON wire types of the journal documents: `rollback`, `journal list` and `journal
//! forget`, over one journal or several (`schemas/`).

use std::path::Path;

use serde::Serialize;

use crate::cli::journals::{Replayed, Visit, Visited};
use crate::cli::wire::{Pending, PendingList};
use cluster_client::engine::ReplayReport;
use cluster_client::journal::Entry;

/// The result of `rollback` (`schemas/rollback.schema.json`).
#[derive(Debug, Serialize)]
pub struct Rollback<'a> {
    /// The journal file.
    pub journal: String,
    /// Whether there was a journal there; `false`: nothing was pending and
    /// nothing was created.
    pub found: bool,
    /// Repairs applied.
    pub repaired: PendingList<'a>,
    /// Repairs still pending.
    pub pending: PendingList<'a>,
    /// Why the journal could not be rewritten, when it could not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub journal_error: Option<&'a str>,
}

/// The result of `rollback` over several journals
/// (`schemas/rollback.schema.json`): every journal's repairs, each naming
/// its journal, and one line per journal.
#[derive(Debug, Serialize)]
pub struct Rollbacks<'a> {
    /// Repairs applied, in every journal.
    pub repaired: Vec<Pending<'a>>,
    /// Repairs still pending, in every journal that was opened.
    pub pending: Vec<Pending<'a>>,
    /// One line per journal, in the order they were gone through.
    pub journals: Vec<JournalLine<'a>>,
}

/// The result of `journal list` over several journals
/// (`schemas/journal-list.schema.json`).
#[derive(Debug, Serialize)]
pub struct JournalLists<'a> {
    /// Every pending repair of every journal that was read, each naming its journal.
    pub pending: Vec<Pending<'a>>,
    /// One line per journal, in the order they were read.
    pub journals: Vec<JournalLine<'a>>,
}

/// What became of one of several journals.
#[derive(Debug, Serialize)]
pub struct JournalLine<'a> {
    /// The journal file.
    pub journal: String,
    /// `replayed` (rollback) or `read` (journal list); `busy` (another run
    /// holds it), `refused` (it could not be opened, see `error`) or
    /// `interrupted` (a signal came first).
    pub state: &'static str,
    /// Repairs applied (rollback only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub repaired: Option<usize>,
    /// Repairs it still holds; 0 when it was not opened.
    pub pending: usize,
    /// Why it was not opened.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Why it could not be rewritten after its replay, when it could not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub journal_error: Option<&'a str>,
}

/// The result of `journal list` (`schemas/journal-list.schema.json`).
#[derive(Debug, Serialize)]
pub struct JournalList<'a> {
    /// The journal file.
    pub journal: String,
    /// Whether there is a journal there.
    pub found: bool,
    /// Every pending repair, oldest first.
    pub pending: PendingList<'a>,
}

/// The result of `journal forget` (`schemas/journal-forget.schema.json`).
#[derive(Debug, Serialize)]
pub struct JournalForget<'a> {
    /// The journal file.
    pub journal: String,
    /// Whether there is a journal there.
    pub found: bool,
    /// The repairs removed from the journal.
    pub forgotten: PendingList<'a>,
    /// The repairs that would be removed: with `--dry-run`, or without
    /// `--host`/`--all-hosts` (then nothing was removed).
    pub would_forget: PendingList<'a>,
}

/// The entries `pick` chooses from the report of every journal that was
/// opened, each naming its journal.
fn in_journals<'a>(visited: &'a [Visited], pick: fn(&Replayed) -> &[Entry]) -> Vec<Pending<'a>> {
    visited
        .iter()
        .filter_map(|one| one.report().map(|report| (one, report)))
        .flat_map(|(one, report)| {
            pick(report)
                .iter()
                .map(|entry| Pending::in_journal(entry, &one.path))
        })
        .collect()
}

impl<'a> Rollbacks<'a> {
    /// The wire form of a rollback over several journals.
    pub fn new(visited: &'a [Visited]) -> Self {
        Self {
            repaired: in_journals(visited, |opened| &opened.report.repaired),
            pending: in_journals(visited, |report| &report.pending),
            journals: visited
                .iter()
                .map(|one| JournalLine::new(one, "replayed"))
                .collect(),
        }
    }
}

impl<'a> JournalLists<'a> {
    /// The wire form of `journal list` over several journals.
    pub fn new(visited: &'a [Visited]) -> Self {
        Self {
            pending: in_journals(visited, |report| &report.pending),
            journals: visited
                .iter()
                .map(|one| JournalLine {
                    repaired: None,
                    ..JournalLine::new(one, "read")
                })
                .collect(),
        }
    }
}

impl<'a> JournalLine<'a> {
    /// The line of `one`; `opened` is the state of a journal that was.
    fn new(one: &'a Visited, opened: &'static str) -> Self {
        let (state, error) = match &one.visit {
            Visit::Opened(_) => (opened, None),
            Visit::Busy(error) => ("busy", Some(error.to_string())),
            Visit::Refused(error) => ("refused", Some(error.to_string())),
            Visit::Interrupted => ("interrupted", None),
            Visit::Missing => ("missing", None),
        };
        let report = one.report();
        Self {
            journal: one.path.display().to_string(),
            state,
            repaired: Some(report.map_or(0, |r| r.report.repaired.len())),
            pending: report.map_or(0, |r| cluster_client::journal::pending_count(&r.pending)),
            error,
            journal_error: report.and_then(|r| r.report.journal_error.as_deref()),
        }
    }
}

impl<'a> Rollback<'a> {
    /// The wire form of `report`, with the journal's entries after the
    /// replay as its pending repairs.
    pub fn new(report: &'a ReplayReport, pending: &'a [Entry], path: &Path, found: bool) -> Self {
        Self {
            journal: path.display().to_string(),
            found,
            repaired: PendingList(&report.repaired),
            pending: PendingList(pending),
            journal_error: report.journal_error.as_deref(),
        }
    }
}
