//! A group-API dev node to start by hand, with optional latency and seeded random write faults.

use std::io::{self, Write};
use std::time::{Duration, SystemTime};

use anyhow::Context;
use clap::Parser;
use cluster_testnode::{Exchange, Fault, TestNode};

/// Serve the group API on 127.0.0.1 and log one line per request until Ctrl-C.
#[derive(Debug, Parser)]
#[command(
    name = "node",
    after_help = "Example:\n  cargo run --example node -- --port 9001 --fail-rate 0.3 --latency 50ms \\\n    --seed 7 --group existing1 --group existing2"
)]
struct Args {
    /// Port to listen on; 0 picks a free one
    #[arg(long, value_name = "PORT", default_value_t = 0)]
    port: u16,

    /// Probability (0 to 1) that a POST or DELETE fails: 500 before applying, 500 after
    /// applying, or a connection reset after applying, chosen at random
    #[arg(long, value_name = "RATE", default_value_t = 0.0, value_parser = parse_rate)]
    fail_rate: f64,

    /// Delay added before every response, e.g. 50ms or 1s
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration)]
    latency: Option<Duration>,

    /// Seed for the random faults; the same seed and the same writes give the same faults
    #[arg(long, value_name = "SEED", default_value_t = 0)]
    seed: u64,

    /// A group the node already holds at start; repeat for several
    #[arg(long = "group", value_name = "ID")]
    groups: Vec<String>,
}

fn parse_rate(raw: &str) -> Result<f64, String> {
    let rate: f64 = raw.parse().map_err(|e| format!("{e}"))?;
    if (0.0..=1.0).contains(&rate) {
        Ok(rate)
    } else {
        Err(format!("{rate} is not between 0 and 1"))
    }
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let node = TestNode::start_on(args.port)
        .with_context(|| format!("cannot listen on 127.0.0.1:{}", args.port))?;
    for id in &args.groups {
        node.insert_group(id);
    }
    node.set_fail_rate(args.fail_rate, args.seed);
    node.set_latency(args.latency.unwrap_or(Duration::ZERO));
    let events = node.subscribe();

    let mut out = io::stdout().lock();
    writeln!(out, "listening on {} (Ctrl-C to stop)", node.url())?;
    for exchange in events {
        writeln!(out, "{}", describe(&exchange))?;
    }
    Ok(())
}

/// One log line: time, method, path, decoded group, and what the node answered and why.
fn describe(exchange: &Exchange) -> String {
    let request = &exchange.request;
    let group = request
        .group
        .as_ref()
        .map_or_else(|| "-".to_owned(), |id| format!("{id:?}"));
    let answer = match exchange.status {
        Some(status) => status.to_string(),
        None if matches!(exchange.fault, Some(Fault::Hang | Fault::ApplyThenHang)) => {
            "no answer".to_owned()
        }
        None => "reset".to_owned(),
    };
    let fault = exchange
        .fault
        .as_ref()
        .map_or_else(String::new, |fault| format!(" [fault: {fault}]"));
    format!(
        "{} {} {} group={group} -> {answer}{fault}",
        humantime::format_rfc3339_millis(SystemTime::now()),
        request.method,
        request.path,
    )
}
