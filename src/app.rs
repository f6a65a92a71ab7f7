//! One run of the binary: lock and replay the journal, do the task, print the result.

use std::io::{IsTerminal, Write};

use clap::CommandFactory;

use crate::cli::Cli;
use crate::config::{Config, Task};
use crate::engine::{Cluster, Outcome, ReplayReport};
use crate::error::Error;
use crate::exit::{EXIT_STATUS_HELP, ExitStatus};
use crate::journal::Journal;
use crate::output::{self, OutputFormat};
use crate::signals::Cancel;
use crate::transport::{HttpTransport, Transport};

/// Runs a validated configuration and prints its result to `out`.
///
/// Every task first takes the journal's lock and replays its pending
/// repairs. An `Err` is a local problem found before anything was sent
/// (HTTP client setup, the journal); everything after that is folded into
/// the exit status by [`run`].
pub fn execute(config: &Config, cancel: &Cancel, out: &mut dyn Write) -> Result<ExitStatus, Error> {
    // Note: the HTTP client first: it reads and checks the --cacert file, so
    // a bad one is reported before the journal is locked or anything is sent.
    let transport = HttpTransport::new(&config.http)?;
    let mut journal = Journal::open(&config.journal, cancel)?;
    let nodes = match &config.task {
        Task::Change { nodes, .. } | Task::Status { nodes, .. } => nodes.clone(),
        Task::Rollback => Vec::new(),
    };
    let cluster = Cluster::new(nodes, transport, config.policy.clone())
        .with_cancel(cancel.clone())
        .with_shutdown_grace(config.shutdown_grace)
        .with_concurrency(config.concurrency);
    Ok(run(
        &cluster,
        cancel,
        &mut journal,
        &config.task,
        config.output,
        out,
    ))
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
    let replay = cluster.replay(journal);
    if !matches!(task, Task::Rollback) {
        log_replay(&replay, journal);
    }
    let (status, printed) = match task {
        Task::Rollback => (
            ExitStatus::of_replay(&replay),
            output::replay(out, format, &replay),
        ),
        Task::Status { group, .. } => {
            let report = cluster.status(group);
            (
                ExitStatus::of_status(&report),
                output::status(out, format, &report),
            )
        }
        Task::Change {
            operation,
            groups,
            list,
            ..
        } => {
            let mut progress = Progress::new(groups.len());
            let reports = cluster.run_many_reporting(*operation, groups, journal, |r| {
                progress.advance(r.outcome == Outcome::Done);
            });
            progress.finish();
            (
                ExitStatus::of_operations(&reports, cancel.change_sent()),
                output::operations(out, format, &reports, *list, journal.path()),
            )
        }
    };
    if let Err(error) = printed.and_then(|()| out.flush()) {
        log::error!(
            "cannot write the result to stdout: {error}; the exit status still reports the run"
        );
    }
    match &replay.journal_error {
        // Note: the journal still lists repairs the next run will send again.
        Some(_) if !journal.entries().is_empty() => status.max(ExitStatus::RepairsPending),
        _ => status,
    }
}

/// A one-line `done/total` counter for bulk runs, drawn on stderr only when
/// stderr is a terminal: cron logs and pipes stay quiet.
struct Progress {
    total: usize,
    done: usize,
    failed: usize,
    visible: bool,
}

impl Progress {
    fn new(total: usize) -> Self {
        Self {
            total,
            done: 0,
            failed: 0,
            visible: total > 1 && std::io::stderr().is_terminal(),
        }
    }

    fn advance(&mut self, succeeded: bool) {
        self.done += 1;
        self.failed += usize::from(!succeeded);
        if self.visible {
            // Note: progress is best effort; a closed stderr must not fail the run.
            let _ = write!(
                std::io::stderr(),
                "\r{}/{} groups, {} not done",
                self.done,
                self.total,
                self.failed
            );
        }
    }

    fn finish(&self) {
        if self.visible {
            let _ = writeln!(std::io::stderr());
        }
    }
}

fn log_replay(replay: &ReplayReport, journal: &Journal) {
    if !replay.repaired.is_empty() {
        log::warn!(
            "applied {} pending repair(s) from {}",
            replay.repaired.len(),
            journal.path().display()
        );
    }
    if !replay.pending.is_empty() {
        log::warn!(
            "{} repair(s) in {} are still pending; `cluster-client rollback` retries them",
            replay.pending.len(),
            journal.path().display()
        );
    }
}

/// Prints a completion script for `shell`.
pub fn completions(shell: clap_complete::Shell, out: &mut dyn Write) {
    clap_complete::generate(shell, &mut Cli::command(), "cluster-client", out);
}

/// Prints the man page, exit-status table included.
pub fn man(out: &mut dyn Write) -> std::io::Result<()> {
    let command = Cli::command()
        .after_help(None::<&str>)
        .after_long_help(None::<&str>);
    let page = clap_mangen::Man::new(command);
    page.render_title(out)?;
    page.render_name_section(out)?;
    page.render_synopsis_section(out)?;
    page.render_description_section(out)?;
    page.render_options_section(out)?;
    page.render_subcommands_section(out)?;
    let mut exit = roff_section("EXIT STATUS");
    for line in EXIT_STATUS_HELP.lines().skip(1) {
        exit.push_str(line.trim_start());
        exit.push('\n');
    }
    out.write_all(exit.as_bytes())?;
    page.render_version_section(out)
}

fn roff_section(title: &str) -> String {
    format!(".SH \"{title}\"\n.nf\n")
}
