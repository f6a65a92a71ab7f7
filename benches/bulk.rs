//! Benchmark: bulk creates with groups in flight (`--parallel-groups`), against the
//! network's limit for each setting and a naive client with as many groups in flight.
//!
//! Run with `cargo bench --bench bulk`. `BULK_ONLY=a` or `b` picks a case,
//! `BULK_IN_FLIGHT=1,8,32` the settings, `BULK_RUNS` the runs per setting
//! (default 3; 1 for the slow N = 1 runs). `BENCH_BEFORE_BIN=PATH` measures
//! another build of the binary too (the one before a change), run for run with
//! this one, so both see the same load. Each row gives the best and the median
//! wall time and the CPU (user + system) per request the nodes received. All
//! traffic goes to test nodes on 127.0.0.1. The table it prints is the one in
//! docs/benchmarks.md.
#![allow(
    clippy::print_stdout,
    reason = "printing the results is this program's job"
)]

use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use cluster_testnode::TestNode;

// Note: a directory of its own, so cargo does not take it for a benchmark.
#[path = "scale/baseline.rs"]
#[allow(
    dead_code,
    reason = "only bulk creates here; the scale bench uses the rest"
)]
mod baseline;
use baseline::{Baseline, measured_rtt, median, timed};

const BIN: &str = env!("CARGO_BIN_EXE_cluster-client");

/// One case: `groups` groups created on `nodes` nodes that each add `latency`.
struct Case {
    name: &'static str,
    key: &'static str,
    groups: usize,
    nodes: usize,
    latency: Duration,
}

const CASES: [Case; 2] = [
    Case {
        name: "10,000 groups, 3 nodes, 1 ms",
        key: "a",
        groups: 10_000,
        nodes: 3,
        latency: Duration::from_millis(1),
    },
    Case {
        name: "1,000 groups, 50 nodes, 10 ms",
        key: "b",
        groups: 1_000,
        nodes: 50,
        latency: Duration::from_millis(10),
    },
];

/// A binary under test: this tree's, or another build named by
/// `BENCH_BEFORE_BIN` (measured in the same session, run for run).
struct Binary {
    label: &'static str,
    path: String,
}

fn binaries() -> Vec<Binary> {
    let mut list = Vec::new();
    if let Ok(path) = std::env::var("BENCH_BEFORE_BIN") {
        assert!(
            Path::new(&path).exists(),
            "BENCH_BEFORE_BIN={path}: no such file"
        );
        list.push(Binary {
            label: "before",
            path,
        });
    }
    list.push(Binary {
        label: if list.is_empty() { "this" } else { "after" },
        path: BIN.to_owned(),
    });
    list
}

/// One run of a binary: wall time, and peak RSS (KiB) and CPU seconds
/// (user + system) from `/usr/bin/time`.
fn run(bin: &str, args: &[&str], dir: &Path) -> (Duration, Option<(u64, f64)>) {
    let report = dir.join("rss.txt");
    let time = Path::new("/usr/bin/time");
    let mut command = if time.exists() {
        let mut c = Command::new(time);
        c.args(["-f", "%M %U %S", "-o", report.to_str().expect("utf8"), bin]);
        c
    } else {
        Command::new(bin)
    };
    let start = Instant::now();
    let status = command
        .args(args)
        .env("CLUSTER_CLIENT_HOSTS", dir.join("hosts.txt"))
        .env("CLUSTER_CLIENT_JOURNAL", dir.join("journal.json"))
        .env_remove("RUST_LOG")
        .current_dir(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .status()
        .expect("run the binary");
    let wall = start.elapsed();
    assert!(status.success(), "{args:?} failed: {status}");
    let usage = std::fs::read_to_string(&report).ok().and_then(|s| {
        let mut fields = s.split_whitespace();
        let kib = fields.next()?.parse().ok()?;
        let user: f64 = fields.next()?.parse().ok()?;
        let system: f64 = fields.next()?.parse().ok()?;
        Some((kib, user + system))
    });
    (wall, usage)
}

/// The naive client with `in_flight` groups at a time: each group is one
/// POST per node in hosts-file order, no read, no journal, no rollback.
fn naive(urls: &[String], groups: &[String], in_flight: usize) -> Duration {
    let client = Baseline::new(urls, 1);
    let next = AtomicUsize::new(0);
    timed(|| {
        std::thread::scope(|scope| {
            for _ in 0..in_flight {
                scope.spawn(|| {
                    while let Some(group) = groups.get(next.fetch_add(1, Ordering::SeqCst)) {
                        client.create(group);
                    }
                });
            }
        });
    })
}

fn median_f64(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied().unwrap_or(f64::NAN)
}

/// CPU seconds (user + system) this process has used so far: the test
/// nodes' and the naive client's, which run in it.
fn own_cpu() -> f64 {
    let text = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Note: fields 14 and 15 (utime, stime, in clock ticks of 1/100 s)
    // follow the command name, which is in parentheses.
    let after = text.rsplit(')').next().unwrap_or_default();
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<f64>().ok());
    ticks(11)
        .zip(ticks(12))
        .map_or(f64::NAN, |(u, s)| (u + s) / 100.0)
}

/// Requests every node has received so far.
fn requests(nodes: &[TestNode]) -> usize {
    nodes
        .iter()
        .map(|n| n.count("GET") + n.count("POST") + n.count("DELETE"))
        .sum()
}

/// What the runs of one binary at one setting gave.
#[derive(Default)]
struct Runs {
    walls: Vec<Duration>,
    rss: Option<u64>,
    cpu: Vec<f64>,
    /// CPU seconds per request sent, one per run.
    per_request: Vec<f64>,
    /// The test nodes' CPU seconds per request, one per run.
    nodes_per_request: Vec<f64>,
}

/// One setting of one case: every binary and the naive client in turn,
/// `runs` times, so that all of them see the same machine load.
fn measure(
    case: &Case,
    nodes: &[TestNode],
    dir: &Path,
    binaries: &[Binary],
    (setting, n, runs): (usize, usize, usize),
) -> (Vec<Runs>, Vec<Duration>) {
    let urls: Vec<String> = nodes.iter().map(TestNode::url).collect();
    let mut results: Vec<Runs> = binaries.iter().map(|_| Runs::default()).collect();
    let mut naive_walls = Vec::new();
    for r in 0..runs {
        for (b, (binary, out)) in binaries.iter().zip(&mut results).enumerate() {
            let ids: Vec<String> = (0..case.groups)
                .map(|g| format!("t{setting}-{r}-{b}-{g}"))
                .collect();
            std::fs::write(dir.join("groups.txt"), ids.join("\n")).expect("groups");
            let n_text = n.to_string();
            let (sent, nodes_cpu) = (requests(nodes), own_cpu());
            let args = ["create", "--from-file", "groups.txt", "-q"];
            let (wall, usage) = run(
                &binary.path,
                &[&args[..], &["--parallel-groups", &n_text]].concat(),
                dir,
            );
            let sent = requests(nodes) - sent;
            out.nodes_per_request
                .push((own_cpu() - nodes_cpu) / sent as f64);
            // Every group is on every node: the run did all its work.
            for node in nodes {
                let held = node.groups();
                assert!(ids.iter().all(|id| held.contains(id)), "a group is missing");
            }
            out.walls.push(wall);
            out.rss = out.rss.max(usage.map(|u| u.0));
            out.cpu.extend(usage.map(|u| u.1));
            out.per_request.extend(usage.map(|u| u.1 / sent as f64));
        }
        let naive_ids: Vec<String> = (0..case.groups)
            .map(|g| format!("n{setting}-{r}-{g}"))
            .collect();
        let (sent, cpu) = (requests(nodes), own_cpu());
        naive_walls.push(naive(&urls, &naive_ids, n));
        let per_request = (own_cpu() - cpu) / (requests(nodes) - sent) as f64;
        println!(
            "(naive client and nodes, N = {n}: {:.0} us of CPU per request)",
            per_request * 1e6
        );
    }
    (results, naive_walls)
}

fn main() {
    let only = std::env::var("BULK_ONLY").unwrap_or_default();
    let in_flight: Vec<usize> = std::env::var("BULK_IN_FLIGHT")
        .unwrap_or_else(|_| "1,8,32".to_owned())
        .split(',')
        .map(|n| n.trim().parse().expect("BULK_IN_FLIGHT: numbers"))
        .collect();
    let runs: usize = std::env::var("BULK_RUNS").map_or(3, |r| r.parse().expect("BULK_RUNS"));
    let binaries = binaries();
    println!("machine load before: {}", load_average());
    println!(
        "| case | binary | groups in flight | best wall | median wall | groups/s (best) | network limit | best / limit | naive best | best / naive | peak RSS | CPU (user+sys, median) | CPU per request (median) | nodes' CPU per request | vs N = 1 |"
    );
    println!("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for case in CASES
        .iter()
        .filter(|c| only.is_empty() || only.contains(c.key))
    {
        let rtt = measured_rtt(case.latency);
        let nodes = cluster_testnode::cluster(case.nodes);
        for node in &nodes {
            node.set_latency(case.latency);
        }
        let dir = tempfile::tempdir().expect("tempdir");
        let hosts: String = nodes.iter().map(|n| format!("{}\n", n.url())).collect();
        std::fs::write(dir.path().join("hosts.txt"), hosts).expect("hosts");
        // Note: N = 1 is measured first (whatever the order asked), so the
        // others can be compared with it.
        let mut settings = in_flight.clone();
        settings.sort_unstable();
        let mut one: Vec<Option<f64>> = binaries.iter().map(|_| None).collect();
        for (setting, &n) in settings.iter().enumerate() {
            let runs = if n == 1 { 1 } else { runs };
            let (results, naive_walls) =
                measure(case, &nodes, dir.path(), &binaries, (setting, n, runs));
            let naive_best = naive_walls.iter().min().copied().expect("a run");
            // Note: per group, one read round (every node at once) and then
            // one write per node in order; N groups overlap.
            let per_group = u32::try_from(1 + case.nodes).expect("small");
            let waves = u32::try_from(case.groups.div_ceil(n)).expect("small");
            let limit = rtt * per_group * waves;
            for ((binary, out), one) in binaries.iter().zip(results).zip(&mut one) {
                let best = out.walls.iter().min().copied().expect("a run");
                let rate = case.groups as f64 / best.as_secs_f64();
                if n == 1 {
                    *one = Some(rate);
                }
                let speedup = one.map_or("-".to_owned(), |base| format!("{:.1}x", rate / base));
                println!(
                    "| {} | {} | {n} | {:.2} s | {:.2} s | {rate:.0} | {:.2} s | {:.2}x | {:.2} s | {:.2}x | {} | {:.2} s | {:.0} us | {:.0} us | {speedup} |",
                    case.name,
                    binary.label,
                    best.as_secs_f64(),
                    median(out.walls).as_secs_f64(),
                    limit.as_secs_f64(),
                    best.as_secs_f64() / limit.as_secs_f64(),
                    naive_best.as_secs_f64(),
                    best.as_secs_f64() / naive_best.as_secs_f64(),
                    out.rss
                        .map_or("-".to_owned(), |k| format!("{:.1} MB", k as f64 / 1024.0)),
                    median_f64(out.cpu),
                    median_f64(out.per_request) * 1e6,
                    median_f64(out.nodes_per_request) * 1e6,
                );
            }
        }
        println!(
            "(measured RTT for {}: {:.2} ms)",
            case.name,
            rtt.as_secs_f64() * 1e3
        );
    }
    println!("machine load after: {}", load_average());
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".to_owned())
}
