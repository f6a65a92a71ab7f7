//! The cluster-client binary: parse, run the library, map the outcome to an exit code.

use std::io::Write;
use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;

mod app;
mod cli;
mod config;
#[cfg(test)]
mod exhaustive;
mod exit;
mod journals;
mod logging;
#[cfg(test)]
mod manifests;
mod metrics;
mod output;
mod signals;
mod wire;
#[cfg(test)]
mod world;

use cli::{Cli, Command};
use exit::ExitStatus;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let options = &cli.options;
    logging::init(
        logging::level(options.verbose, options.quiet),
        options.log_format,
    );
    match run(&cli) {
        Ok(status) => status.into(),
        Err(err) => {
            logging::fatal(options.log_format, &format!("{err:#}"));
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
        Command::Man => app::man(&mut stdout).context("cannot write the man page")?,
        _ => return app::run_cli(cli, &mut stdout),
    }
    stdout.flush().context("cannot write to stdout")?;
    Ok(ExitStatus::Done)
}
