//! The commands that change nothing on the nodes: `status`, `journal list`, `journal forget`
//! (which edits only the journal) and the first look of `rollback`. Each reads the journal
//! without its lock and creates nothing: no directory, no lock file, no journal.

use std::io::Write;
use std::path::Path;
use std::time::Instant;

use crate::cli::args::OutputFormat;
use crate::cli::config::{Config, ForgetScope, Task};
use crate::cli::exit::ExitStatus;
use crate::cli::journals;
use crate::cli::metrics::Backlog;
use crate::cli::output;
use crate::cli::tables::{self, Forget};
use crate::cli::views;
use cluster_client::engine::{Cluster, StatusReport};
use cluster_client::error::{Error, InputError, JournalError};
use cluster_client::journal::{self, Entry, Journal};
use cluster_client::transport::Transport;
use cluster_client::vocab::cancel::Cancel;
use cluster_client::vocab::fanout::fan_out;
use cluster_client::vocab::group::GroupId;

/// The journal at `path` as a command that only reads sees it: `None` when
/// there is no journal file, and also when the default journal's directory
/// does not exist yet (no run of this user has written one). A directory
/// named by `--journal` that does not exist is an error: a typo there is
/// not "nothing pending".
pub fn snapshot(config: &Config, path: &Path) -> Result<Option<Vec<Entry>>, JournalError> {
    match journal::read_snapshot(path) {
        Err(JournalError::MissingDirectory { .. }) if config.default_journal => Ok(None),
        read => read,
    }
}

/// The commands of one journal that need no node: `journal list`,
/// `journal forget`, and `rollback` when there is no journal (it then says
/// so and creates nothing). `None`: the command needs the nodes.
pub fn without_nodes(
    config: &Config,
    path: &Path,
    cancel: &Cancel,
    format: OutputFormat,
    out: &mut dyn Write,
    journal_after: &mut Option<Backlog>,
) -> Result<Option<ExitStatus>, Error> {
    Ok(Some(match &config.task {
        Task::JournalList => journal_list(config, path, format, out, journal_after)?,
        Task::JournalForget {
            group,
            scope,
            dry_run,
        } => {
            let request = ForgetRequest {
                group,
                scope,
                dry_run: *dry_run,
            };
            journal_forget(config, path, request, cancel, format, out, journal_after)?
        }
        Task::Rollback if !rollback_has_journal(config, path, format, out, journal_after)? => {
            ExitStatus::Done
        }
        _ => return Ok(None),
    }))
}

/// `journal list` of one journal: read without its lock; exit 0 when
/// nothing is pending (no journal included), 3 when something is.
pub fn journal_list(
    config: &Config,
    path: &Path,
    format: OutputFormat,
    out: &mut dyn Write,
    journal_after: &mut Option<Backlog>,
) -> Result<ExitStatus, Error> {
    let entries = snapshot(config, path)?;
    let listed = entries.as_deref().unwrap_or_default();
    *journal_after = Some(Backlog::of(listed));
    let status = ExitStatus::of_journal_list(journal::pending_count(listed));
    let printed = tables::journal_list(out, format, listed, path, entries.is_some());
    output::report_unprinted(printed, out);
    Ok(status)
}

/// What `journal forget` asks for.
#[derive(Debug, Clone, Copy)]
pub struct ForgetRequest<'a> {
    /// The group.
    pub group: &'a GroupId,
    /// On which nodes.
    pub scope: &'a ForgetScope,
    /// Whether only to print what would be removed.
    pub dry_run: bool,
}

/// `journal forget`: reads the journal without its lock; only when there
/// is something to remove and a scope says where (and not `--dry-run`)
/// does it take the lock and remove it durably.
pub fn journal_forget(
    config: &Config,
    path: &Path,
    request: ForgetRequest<'_>,
    cancel: &Cancel,
    format: OutputFormat,
    out: &mut dyn Write,
    journal_after: &mut Option<Backlog>,
) -> Result<ExitStatus, Error> {
    let scoped = *request.scope != ForgetScope::Unspecified;
    let entries = snapshot(config, path)?;
    let found = entries.is_some();
    let entries = entries.unwrap_or_default();
    let matching: Vec<Entry> = entries
        .iter()
        .filter(|e| matches(e, request.group, request.scope))
        .cloned()
        .collect();
    let forget = if request.dry_run || !scoped || matching.is_empty() {
        *journal_after = Some(Backlog::of(&entries));
        Forget {
            removed: Vec::new(),
            would_remove: matching,
            scoped,
            found,
        }
    } else {
        drop(entries);
        let mut journal = Journal::open_waiting(path, cancel, config.lock_wait)?;
        let removed = remove(&mut journal, request.group, request.scope)?;
        *journal_after = Some(Backlog::of(journal.entries()));
        Forget {
            removed,
            would_remove: Vec::new(),
            scoped,
            found,
        }
    };
    let status = ExitStatus::of_journal_forget(
        forget.removed.len(),
        forget.would_remove.len(),
        forget.scoped,
    );
    let printed = tables::journal_forget(out, format, &forget, request.group, path);
    output::report_unprinted(printed, out);
    Ok(status)
}

/// Whether `journal forget` of `group` on `scope` covers `entry`.
fn matches(entry: &Entry, group: &GroupId, scope: &ForgetScope) -> bool {
    &entry.group == group
        && match scope {
            ForgetScope::Hosts(hosts) => hosts.contains(&entry.host),
            ForgetScope::AllHosts | ForgetScope::Unspecified => true,
        }
}

/// Removes the repairs of `group` on `scope` from the locked `journal`,
/// durably, logs each, and returns them (as the journal held them once the
/// lock was taken).
fn remove(
    journal: &mut Journal,
    group: &GroupId,
    scope: &ForgetScope,
) -> Result<Vec<Entry>, JournalError> {
    let removed: Vec<Entry> = journal
        .pending_for(group)
        .filter(|e| matches(e, group, scope))
        .cloned()
        .collect();
    journal.update(|entries| entries.retain(|e| !matches(e, group, scope)))?;
    for entry in &removed {
        log::warn!(
            host = entry.host.base(), group = entry.group.as_str(),
            operation = entry.operation.name();
            "{}: forgot the pending repair ({} {:?}) from {}; the node keeps whatever state it has",
            entry.host,
            entry.action,
            entry.group,
            journal.path().display()
        );
    }
    Ok(removed)
}

/// `status`: reads every group on every node (up to `--parallel-groups`
/// groups at a time) and shows each group's pending journal entries. Sends
/// no write and replays nothing; the journal is read before any request, so
/// a journal that cannot be read stops the run before anything is sent.
pub fn status<T: Transport>(
    cluster: &Cluster<T>,
    config: &Config,
    path: &Path,
    format: OutputFormat,
    out: &mut dyn Write,
    journal_after: &mut Option<Backlog>,
) -> Result<ExitStatus, Error> {
    let Task::Status { groups, list, .. } = &config.task else {
        return Err(InputError::Invalid("status: not a status task".to_owned()).into());
    };
    let started = Instant::now();
    let entries = snapshot(config, path)?.unwrap_or_default();
    *journal_after = Some(Backlog::of(&entries));
    let reports: Vec<StatusReport> = fan_out(
        groups,
        config.parallel_groups,
        || false,
        |group| cluster.status(group),
    )
    .into_iter()
    .flatten()
    .collect();
    let status = ExitStatus::of_statuses(&reports);
    let shown = views::Statuses {
        reports: &reports,
        pending: &entries,
        journal: path,
        list: *list,
        elapsed: started.elapsed(),
    };
    let printed = views::statuses(out, format, &shown);
    output::report_unprinted(printed, out);
    Ok(status)
}

/// `create` or `delete` with `--dry-run`: reads the journal without its
/// lock (before any request, so a journal that cannot be read stops the
/// run before anything is sent), reads every node of each group, and
/// prints the plan. Sends no write, replays nothing, creates nothing.
pub fn dry_run<T: Transport>(
    cluster: &Cluster<T>,
    config: &Config,
    path: &Path,
    format: OutputFormat,
    out: &mut dyn Write,
    journal_after: &mut Option<Backlog>,
) -> Result<ExitStatus, Error> {
    let Task::Change {
        operation, groups, ..
    } = &config.task
    else {
        return Err(InputError::Invalid("--dry-run: not a create or delete".to_owned()).into());
    };
    let started = Instant::now();
    let pending = snapshot(config, path)?.unwrap_or_default();
    *journal_after = Some(Backlog::of(&pending));
    // Note: a run refuses the groups with repairs in any journal of the set;
    // so does its plan.
    let mut refusing = pending.clone();
    refusing.extend(
        journals::repairs_elsewhere(path, groups)
            .into_values()
            .flat_map(|(_, entries)| entries),
    );
    let reports = cluster.plan_only(*operation, groups, &refusing);
    let status = ExitStatus::of_plan(&reports);
    let shown = views::Plan {
        operation: *operation,
        reports: &reports,
        pending: &pending,
        journal: path,
        elapsed: started.elapsed(),
    };
    let printed = views::plan(out, format, &shown);
    output::report_unprinted(printed, out);
    Ok(status)
}

/// `rollback` of one journal, before anything is opened: `true` when
/// there is a journal to replay. When there is none, says so (and what
/// the metrics show) and creates nothing.
pub fn rollback_has_journal(
    config: &Config,
    path: &Path,
    format: OutputFormat,
    out: &mut dyn Write,
    journal_after: &mut Option<Backlog>,
) -> Result<bool, Error> {
    let missing = match std::fs::symlink_metadata(path) {
        Ok(_) => false,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => true,
        // Note: anything else is for the journal's own checks to word.
        Err(_) => false,
    };
    if !missing {
        return Ok(true);
    }
    // Note: a journal that is not there may still sit in a directory that
    // is not there (a typo): the snapshot says which, and checks the
    // directory as a run would.
    if snapshot(config, path)?.is_some() {
        return Ok(true);
    }
    *journal_after = Some(Backlog::of(&[]));
    let printed = tables::replay(out, format, &Default::default(), &[], path, false);
    output::report_unprinted(printed, out);
    Ok(false)
}
