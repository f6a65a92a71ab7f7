//! The cluster-client binary: parse, run the library, map the outcome to an exit code.

use std::io::Write;
use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;
use cluster_client::cli::{Cli, Command};
use cluster_client::config::Config;
use cluster_client::{ExitStatus, app, output, signals};

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.options.verbose, cli.options.quiet);
    match run(&cli) {
        Ok(status) => status.into(),
        Err(err) => {
            #[allow(clippy::print_stderr)]
            {
                eprintln!(
                    "cluster-client: error: {}",
                    output::escape(&format!("{err:#}"))
                );
            }
            ExitStatus::BadInput.into()
        }
    }
}

fn run(cli: &Cli) -> anyhow::Result<ExitStatus> {
    let mut stdout = std::io::stdout().lock();
    match &cli.command {
        Command::Completions { shell } => app::completions(*shell, &mut stdout),
        Command::Man => app::man(&mut stdout).context("cannot write the man page")?,
        _ => {
            let config = Config::from_cli(cli)?;
            let cancel = cluster_client::Cancel::new();
            signals::install(&cancel).context("cannot install the SIGINT/SIGTERM handlers")?;
            return Ok(app::execute(&config, &cancel, &mut stdout)?);
        }
    }
    stdout.flush().context("cannot write to stdout")?;
    Ok(ExitStatus::Done)
}

/// Warnings by default; -v/-q move the level; RUST_LOG, when set, wins.
fn init_logging(verbose: u8, quiet: u8) {
    let level = match (i16::from(verbose) - i16::from(quiet)).clamp(-2, 3) {
        -2 => log::LevelFilter::Off,
        -1 => log::LevelFilter::Error,
        0 => log::LevelFilter::Warn,
        1 => log::LevelFilter::Info,
        2 => log::LevelFilter::Debug,
        _ => log::LevelFilter::Trace,
    };
    env_logger::Builder::new()
        .filter_level(level)
        .parse_env("RUST_LOG")
        // Note: log lines quote node answers, errors and journal text; each
        // message is escaped so none of it can drive the terminal or forge lines.
        .format(|buf, record| {
            let style = buf.default_level_style(record.level());
            writeln!(
                buf,
                "[{} {style}{:<5}{style:#}] {}",
                buf.timestamp(),
                record.level(),
                output::escape(&record.args().to_string())
            )
        })
        .init();
}
