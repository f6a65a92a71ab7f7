//! The binary's face: arguments (`args`) → a checked configuration (`config`) → one invocation
//! (`app`, `journals`, `signals`, `metrics`, `logging`) → rendering (`output` for people,
//! `wire` for JSON, `exit` for the status). Nothing in the library imports this folder, and
//! each module here imports only modules listed before it in that flow (`tests/architecture.rs`).

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
mod metrics;
mod output;
mod signals;
mod views;
mod wire;
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
pub fn main() -> ExitCode {
    let cli = match argv::parse(std::env::args_os()) {
        Ok(cli) => cli,
        Err(error) => error.exit(),
    };
    let logging = cli.command.logging();
    logging::init(
        logging::level(logging.verbose, logging.quiet),
        logging.log_format,
    );
    match run(&cli) {
        Ok(status) => status.into(),
        Err(err) => {
            logging::fatal(logging.log_format, &format!("{err:#}"));
            ExitStatus::BadInput.into()
        }
    }
}

fn run(cli: &Cli) -> anyhow::Result<ExitStatus> {
    // Note: results are written whole at the end of a run, and flushed
    // there; a buffer turns a list of a million lines into large writes
    // instead of one write per line.
    let mut stdout = std::io::BufWriter::with_capacity(64 * 1024, std::io::stdout().lock());
    match &cli.command {
        Command::Completions { shell } => app::completions(*shell, &mut stdout),
        Command::Man { dir: None } => app::man(&mut stdout).context("cannot write the man page")?,
        Command::Man { dir: Some(_) } => {
            app::man(&mut stdout).context("cannot write the man page")?
        }
        _ => return app::run_cli(cli, &mut stdout),
    }
    stdout.flush().context("cannot write to stdout")?;
    Ok(ExitStatus::Done)
}
