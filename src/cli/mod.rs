//! The binary's face: arguments (`args`) → a checked configuration (`config`) → one invocation
//! (`app`, `journals`, `signals`, `metrics`, `logging`) → rendering (`output` for people,
//! `wire` for JSON, `exit` for the status). Nothing in the library imports this folder, and
//! each module here imports only modules listed before it in that flow (`tests/architecture.rs`).

use std::ffi::OsString;
use std::io::Write;
use std::process::ExitCode;

use anyhow::Context;

mod app;
mod args;
mod argv;
mod config;
mod credentials;
mod exit;
mod inspect;
mod journals;
mod logging;
mod manual;
mod metrics;
mod output;
mod progress;
mod signals;
mod tables;
mod views;
mod wire;
mod wire_journal;
mod words;

// Note: the binary's test worlds live with the library's in src/sim/, the one folder of
// test-only code; they are declared here because they run the binary's own modules.
#[cfg(test)]
#[path = "../sim/exhaustive.rs"]
mod exhaustive;
#[cfg(test)]
#[path = "../sim/manifests.rs"]
mod manifests;
#[cfg(test)]
#[path = "../sim/world.rs"]
mod world;

use args::{Cli, Command};
use exit::ExitStatus;

/// Parses the command line, runs it, and maps the outcome to the process's exit status.
///
/// With `--output json`, stdout holds exactly one JSON document whatever
/// the exit status: a run that could not start (a usage error, bad input,
/// an unusable journal) prints an error document
/// (`schemas/error.schema.json`), and stderr still says why.
pub fn main() -> ExitCode {
    let args: Vec<OsString> = std::env::args_os().collect();
    let cli = match argv::parse(args.iter().cloned()) {
        Ok(cli) => cli,
        Err(error) => return usage_error(argv::explain(error, &args), &args),
    };
    let logging = cli.command.logging();
    logging::init(
        logging::level(logging.verbose, logging.quiet),
        logging.log_format,
    );
    let mut printed = false;
    match run(&cli, &mut printed) {
        Ok(status) => status.into(),
        Err(err) => {
            let message = format!("{err:#}");
            logging::fatal(logging.log_format, &message);
            let json = cli
                .command
                .parts()
                .report
                .is_some_and(|r| r.output == args::OutputFormat::Json);
            if json && !printed {
                error_document(error_kind(&err), &message);
            }
            ExitStatus::BadInput.into()
        }
    }
}

/// A command line clap refused: help and version as clap prints them; an
/// error on stderr, and with `--output json` an error document on stdout.
fn usage_error(error: clap::Error, args: &[OsString]) -> ExitCode {
    use clap::error::ErrorKind;
    if matches!(
        error.kind(),
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion
    ) {
        error.exit();
    }
    if argv::wants_json(args) {
        let message = error.render().to_string();
        error_document("usage", message.trim_end());
    }
    // Note: nothing is left to report a failed write of the error to.
    let _ = error.print();
    ExitCode::from(ExitStatus::BadInput.code())
}

/// What kind of problem stopped a run before it started, as the error document names it.
fn error_kind(err: &anyhow::Error) -> &'static str {
    use cluster_client::error::{Error, InputError, JournalError};
    match err.downcast_ref::<Error>() {
        Some(Error::Input(_)) => "input",
        Some(Error::Journal(_)) => "journal",
        Some(Error::Http(_)) => "setup",
        Some(Error::Output(_)) => "local",
        None if err.downcast_ref::<InputError>().is_some() => "input",
        None if err.downcast_ref::<JournalError>().is_some() => "journal",
        None => "local",
    }
}

/// Prints the one JSON document of a run that could not start.
fn error_document(kind: &'static str, message: &str) {
    let document = wire::ErrorDocument {
        error: wire::ErrorBody {
            kind,
            message,
            exit_status: ExitStatus::BadInput.code(),
        },
    };
    let mut stdout = std::io::stdout().lock();
    // Note: a stdout that cannot be written leaves only stderr, which has the message.
    let _ = output::json(&mut stdout, args::OutputFormat::Json, &document);
}

fn run(cli: &Cli, printed: &mut bool) -> anyhow::Result<ExitStatus> {
    // Note: results are written whole at the end of a run, and flushed
    // there; a buffer turns a list of a million lines into large writes
    // instead of one write per line.
    let stdout = std::io::BufWriter::with_capacity(64 * 1024, std::io::stdout().lock());
    let mut stdout = Counting {
        inner: stdout,
        wrote: printed,
    };
    match &cli.command {
        Command::Completions { shell } => {
            app::completions(*shell, &mut stdout).context("cannot write the completion script")?
        }
        Command::Man { dir: None } => {
            manual::page(&mut stdout).context("cannot write the man page")?
        }
        Command::Man { dir: Some(dir) } => {
            let written = manual::write_all(dir)
                .with_context(|| format!("cannot write the man pages into {}", dir.display()))?;
            for path in written {
                writeln!(stdout, "{}", path.display()).context("cannot write to stdout")?;
            }
        }
        _ => return app::run_cli(cli, &mut stdout),
    }
    stdout.flush().context("cannot write to stdout")?;
    Ok(ExitStatus::Done)
}

/// Stdout, noting whether anything was written to it: a run that fails
/// after printing its document prints no error document after it.
struct Counting<'a, W> {
    inner: W,
    wrote: &'a mut bool,
}

impl<W: Write> Write for Counting<'_, W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        *self.wrote |= !buf.is_empty();
        self.inner.write(buf)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}
