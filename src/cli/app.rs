//! One run of the binary: lock and replay the journal, do the task, print the result, write metrics.

use std::io::{IsTerminal, Write};
use std::path::Path;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use anyhow::Context;
use clap::CommandFactory;

use crate::cli::args::Cli;
use crate::cli::args::OutputFormat;
use crate::cli::config::{self, Config, JournalSource, Journals, Sharded, Task};
use crate::cli::exit::ExitStatus;
use crate::cli::inspect;
use crate::cli::journals;
use crate::cli::metrics::{Backlog, RunMetrics};
use crate::cli::output;
use crate::cli::progress::Progress;
use crate::cli::signals;
use crate::cli::tables;
use cluster_client::engine::{Cluster, OperationReport, Outcome, ReplayReport};
use cluster_client::error::Error;
use cluster_client::journal::Journal;
use cluster_client::transport::{Counted, RequestCounts};
use cluster_client::transport::{HttpTransport, Transport};
use cluster_client::vocab::cancel::Cancel;
use cluster_client::vocab::change::Operation;
use cluster_client::vocab::group::GroupId;
use cluster_client::vocab::hosts::Node;
use cluster_client::vocab::shard::{self, Shard};

/// The binary's whole run for every command but `completions` and `man`:
/// validates `cli`, installs the SIGINT/SIGTERM handlers, executes, and at
/// the end writes the `--metrics-file`, also when the run failed early
/// (then with exit status 2 and without the journal's gauges, which are
/// not known). A metrics file that cannot be written is logged and changes
/// nothing in the status.
pub fn run_cli(cli: &Cli, out: &mut dyn Write) -> anyhow::Result<ExitStatus> {
    let started = Instant::now();
    let counters = Arc::new(RequestCounts::default());
    let mut journal_after = None;
    let result = validate_and_execute(cli, out, &counters, &mut journal_after);
    let metrics_file = cli
        .command
        .parts()
        .report
        .and_then(|r| r.metrics_file.as_ref());
    if let Some(path) = metrics_file {
        let status = result.as_ref().map_or(ExitStatus::BadInput, |s| *s);
        let metrics = RunMetrics {
            command: cli.command.name(),
            exit_status: status.code(),
            finished: SystemTime::now(),
            duration: started.elapsed(),
            pending: journal_after.unwrap_or_else(|| backlog_named_by(cli)),
            counters: &counters,
        };
        write_metrics(path, &metrics);
    }
    result
}

fn validate_and_execute(
    cli: &Cli,
    out: &mut dyn Write,
    counters: &Arc<RequestCounts>,
    journal_after: &mut Option<Backlog>,
) -> anyhow::Result<ExitStatus> {
    let config = Config::from_cli(cli)?;
    let cancel = Cancel::new();
    signals::install(&cancel).context("cannot install the SIGINT/SIGTERM handlers")?;
    Ok(execute_counting(
        &config,
        &cancel,
        out,
        counters,
        journal_after,
    )?)
}

/// The backlog of the journals `cli` names, read as they are on disk, for
/// a run that ended before it read them (an early exit 2): a journal that
/// cannot be found or read counts as unreadable, so the pending gauges are
/// never left out.
fn backlog_named_by(cli: &Cli) -> Backlog {
    let parts = cli.command.parts();
    let Some(journal) = parts.journal else {
        return Backlog::of(&[]);
    };
    let job_index = std::env::var(shard::JOB_INDEX_VAR).ok();
    let shard = parts.shard.and_then(|s| {
        Shard::resolve(s.shard, s.shard_count, job_index.as_deref())
            .ok()
            .flatten()
    });
    let sources = match config::journal_sources(&journal.journal, shard) {
        Ok(sources) if sources.is_empty() => match config::default_journal_path() {
            Ok(path) => return Backlog::read(&path, true),
            Err(_) => return Backlog::unreadable(1),
        },
        Ok(sources) => sources,
        Err(_) => return Backlog::unreadable(1),
    };
    match journals::list(&sources) {
        Ok(paths) => Backlog::sum(
            &paths
                .iter()
                .map(|path| Backlog::read(path, false))
                .collect::<Vec<_>>(),
        ),
        Err(_) => Backlog::unreadable(1),
    }
}

fn write_metrics(path: &Path, metrics: &RunMetrics<'_>) {
    if let Err(error) = crate::cli::metrics::write_atomic(path, &metrics.render()) {
        log::error!(
            "cannot write the metrics file {}: {error}; the exit status still reports the run",
            path.display()
        );
    }
}

/// Runs a validated configuration and prints its result to `out`, counting
/// every request into `counters` and leaving the journal's backlog after
/// the run in `journal_after`.
///
/// `create` and `delete` take the journal's lock (creating the journal's
/// directory and lock file when needed) and replay it first; `rollback`
/// does so only when there is a journal; the other commands read the
/// journal without its lock and create nothing (see `inspect`). An `Err`
/// is a local problem found before anything was sent (HTTP client setup,
/// the journal); everything after that is folded into the exit status by
/// [`run`].
fn execute_counting(
    config: &Config,
    cancel: &Cancel,
    out: &mut dyn Write,
    counters: &Arc<RequestCounts>,
    journal_after: &mut Option<Backlog>,
) -> Result<ExitStatus, Error> {
    let format = config.output.for_stream(std::io::stdout().is_terminal());
    let path = match &config.journals {
        Journals::One(path) => path,
        Journals::Several(sources) => {
            return several(
                config,
                sources,
                cancel,
                format,
                out,
                counters,
                journal_after,
            );
        }
    };
    if let Some(status) = inspect::without_nodes(config, path, cancel, format, out, journal_after)?
    {
        return Ok(status);
    }
    // Note: the HTTP client first: it reads and checks the --cacert file, so
    // a bad one is reported before the journal is locked or anything is sent.
    let transport = Counted::new(http_transport(config)?, Arc::clone(counters));
    let nodes = match &config.task {
        Task::Change { nodes, .. } | Task::Status { nodes, .. } => nodes.clone(),
        Task::Rollback | Task::JournalList | Task::JournalForget { .. } => Vec::new(),
    };
    let cluster = cluster(config, nodes, transport, cancel);
    match &config.task {
        Task::Status { .. } => {
            return inspect::status(&cluster, config, path, format, out, journal_after);
        }
        Task::Change { dry_run: true, .. } => {
            return inspect::dry_run(&cluster, config, path, format, out, journal_after);
        }
        _ => {}
    }
    let cluster = match &config.task {
        Task::Change { groups, .. } => {
            cluster.with_repairs_elsewhere(journals::repairs_elsewhere(path, groups))
        }
        _ => cluster,
    };
    let mut journal = Journal::open_waiting(path, cancel, config.lock_wait)?;
    let status = run(&cluster, cancel, &mut journal, &config.task, format, out);
    *journal_after = Some(Backlog::of(journal.entries()));
    // Note: the lock goes as soon as the result is printed, before anything
    // else is dropped.
    drop(journal);
    Ok(status)
}

/// The run's HTTP transport, whose clients are never dropped: the process
/// ends without waiting for them.
// Note: dropping reqwest's blocking client joins its runtime thread, which
// waits for every host name lookup still in the resolver: with a resolver
// that never answered, the result came at 3 s and the process, holding the
// journal's lock, exited at 12 s (22 s with a Kubernetes resolv.conf). A
// clone kept for ever keeps the clients alive until the process exits, on
// every path out of a run.
fn http_transport(config: &Config) -> Result<HttpTransport, Error> {
    let transport = HttpTransport::new(&config.http)?;
    std::mem::forget(transport.clone());
    Ok(transport)
}

/// The cluster of `nodes`, with the run's cancel token and settings.
fn cluster<T: Transport>(
    config: &Config,
    nodes: Vec<Node>,
    transport: T,
    cancel: &Cancel,
) -> Cluster<T> {
    Cluster::new(nodes, transport, config.policy.clone())
        .with_cancel(cancel.clone())
        .with_shutdown_grace(config.shutdown_grace)
        .with_settle_horizon(config.settle_horizon)
        .with_attempt_timeout(config.http.timeout)
        .with_concurrency(config.concurrency)
        .with_parallel_groups(config.parallel_groups)
}

/// `rollback` or `journal list` over several journals: each is opened in
/// turn without waiting for another run's lock, replayed (rollback) or
/// listed, and reported; the exit status is the worst of them. An `Err` is
/// a directory that is refused or unreadable, or an HTTP client that cannot
/// be built, before any journal is opened.
fn several(
    config: &Config,
    sources: &[JournalSource],
    cancel: &Cancel,
    format: OutputFormat,
    out: &mut dyn Write,
    counters: &Arc<RequestCounts>,
    journal_after: &mut Option<Backlog>,
) -> Result<ExitStatus, Error> {
    let replaying = matches!(config.task, Task::Rollback);
    let transport = if replaying {
        Some(Counted::new(http_transport(config)?, Arc::clone(counters)))
    } else {
        None
    };
    let paths = journals::list(sources)?;
    let visited = match transport {
        Some(transport) => {
            let cluster = cluster(config, Vec::new(), transport, cancel);
            journals::visit_all(paths, cancel, |journal| cluster.replay(journal))
        }
        None => journals::read_all(paths, cancel),
    };
    // Note: a journal that was not opened (busy, refused, not reached) is
    // read as it is on disk, so the gauges count it or say it was unreadable.
    let backlogs: Vec<Backlog> = visited
        .iter()
        .map(|one| match one.report() {
            Some(opened) => Backlog::of(&opened.pending),
            None => Backlog::read(&one.path, false),
        })
        .collect();
    *journal_after = Some(Backlog::sum(&backlogs));
    let status = ExitStatus::of_journals(&visited, cancel.change_sent());
    let printed = if replaying {
        tables::replays(out, format, &visited)
    } else {
        tables::journal_lists(out, format, &visited)
    };
    output::report_unprinted(printed, out);
    Ok(status)
}

/// Replays the journal, runs `task` and prints its result to `out`.
///
/// Never fails: once anything may have been sent, a local failure (a
/// journal write, stdout) is reported on stderr and the exit status still
/// says what the cluster and the journal hold. A result that cannot be
/// printed changes nothing in the status.
pub fn run<T: Transport>(
    cluster: &Cluster<T>,
    cancel: &Cancel,
    journal: &mut Journal,
    task: &Task,
    format: OutputFormat,
    out: &mut dyn Write,
) -> ExitStatus {
    let started = Instant::now();
    let replay = cluster.replay(journal);
    if !matches!(task, Task::Rollback) {
        log_replay(&replay, journal);
    }
    let (status, printed) = match task {
        // Note: `execute_counting` runs all but rollback without the lock or
        // a replay (see `inspect`); with a journal already open and
        // replayed, the replay is what is reported.
        Task::Rollback | Task::JournalList | Task::JournalForget { .. } | Task::Status { .. } => (
            ExitStatus::of_replay(&replay),
            tables::replay(
                out,
                format,
                &replay,
                journal.entries(),
                journal.path(),
                true,
            ),
        ),
        Task::Change {
            operation,
            groups,
            list,
            shard,
            ..
        } => {
            if let Some(sharded) = shard {
                log_shard(sharded, groups.len());
            }
            let reports = change(cluster, *operation, groups, journal);
            let run = output::Run {
                list: *list,
                shard: shard.as_ref(),
                journal: journal.path(),
                elapsed: started.elapsed(),
            };
            (
                ExitStatus::of_operations(&reports, cancel.change_sent()),
                output::operations(out, format, &reports, run),
            )
        }
    };
    output::report_unprinted(printed, out);
    match &replay.journal_error {
        // Note: the journal still lists repairs the next run will send again.
        Some(_) if journal.pending() > 0 => status.max(ExitStatus::RepairsPending),
        _ => status,
    }
}

/// Says which shard this run is and how many of the groups named it keeps.
fn log_shard(sharded: &Sharded, kept: usize) {
    let Sharded { shard, named } = sharded;
    log::info!(
        "shard {shard}: {kept} of the {named} groups named are this shard's (FNV-1a 64 of the \
         id, modulo {})",
        shard.count()
    );
}

/// Creates or deletes every group, showing the run's progress (see `progress`).
fn change<T: Transport>(
    cluster: &Cluster<T>,
    operation: Operation,
    groups: &[GroupId],
    journal: &mut Journal,
) -> Vec<OperationReport> {
    let progress = Progress::start(groups.len(), cluster.groups_at_a_time());
    let reports = cluster.change_many_reporting(operation, groups, journal, |r| {
        progress.advance(r.outcome == Outcome::Done);
    });
    progress.finish();
    reports
}

fn log_replay(replay: &ReplayReport, journal: &Journal) {
    if !replay.repaired.is_empty() {
        log::warn!(
            "applied {} pending repair(s) from {}",
            replay.repaired.len(),
            journal.path().display()
        );
    }
    let repairs = replay.pending - replay.verifying;
    if repairs > 0 {
        log::warn!(
            "{repairs} repair(s) in {} are still pending; `cluster-client rollback` retries them",
            journal.path().display()
        );
    }
    if replay.verifying > 0 {
        log::info!(
            "{} node(s) in {} may still apply a write of ours late; every replay reads them \
             until their settle horizon",
            replay.verifying,
            journal.path().display()
        );
    }
}

/// Prints a completion script for `shell`.
pub fn completions(shell: clap_complete::Shell, out: &mut dyn Write) -> std::io::Result<()> {
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), BIN, &mut script);
    if shell == clap_complete::Shell::Bash {
        script = fix_bash_states(&script).into_bytes();
    }
    out.write_all(&script)
}

/// The binary's name, as shells complete it.
const BIN: &str = "cluster-client";

/// clap_complete's bash script with its states spelled one way: for a
/// binary name with a hyphen, the loop over the words builds
/// `cluster__client__subcmd__create` while the `case` arms read
/// `cluster__subcmd__client__subcmd__create`, so nothing past the first
/// word completed (clap-rs/clap#6421, #6529; open upstream).
// Note: the arms are the only place the bin name's hyphen is spelled
// `__subcmd__`; no subcommand of ours has a hyphen, so the replacement
// cannot touch another state.
pub fn fix_bash_states(script: &[u8]) -> String {
    let wrong = format!("{}__", BIN.replace('-', "__subcmd__"));
    let right = format!("{}__", BIN.replace('-', "__"));
    String::from_utf8_lossy(script).replace(&wrong, &right)
}
