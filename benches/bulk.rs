//! Benchmark: bulk creates with groups in flight (`--parallel-groups`), against the
//! network's limit for each setting and a naive client with as many groups in flight.
//!
//! Run with `cargo bench --bench bulk`. `BULK_ONLY=a` or `b` picks a case,
//! `BULK_IN_FLIGHT=1,8,32` the settings, `BULK_RUNS` the runs per setting
//! (default 3, median; 1 for the slow N = 1 runs). All traffic goes to test
//! nodes on 127.0.0.1. The table it prints is the one in docs/benchmarks.md.
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

/// One run of the binary: wall time, and peak RSS (KiB) and CPU seconds
/// (user + system) from `/usr/bin/time`.
fn run(args: &[&str], dir: &Path) -> (Duration, Option<(u64, f64)>) {
    let report = dir.join("rss.txt");
    let time = Path::new("/usr/bin/time");
    let mut command = if time.exists() {
        let mut c = Command::new(time);
        c.args(["-f", "%M %U %S", "-o", report.to_str().expect("utf8"), BIN]);
        c
    } else {
        Command::new(BIN)
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

fn main() {
    let only = std::env::var("BULK_ONLY").unwrap_or_default();
    let in_flight: Vec<usize> = std::env::var("BULK_IN_FLIGHT")
        .unwrap_or_else(|_| "1,8,32".to_owned())
        .split(',')
        .map(|n| n.trim().parse().expect("BULK_IN_FLIGHT: numbers"))
        .collect();
    let runs: usize = std::env::var("BULK_RUNS").map_or(3, |r| r.parse().expect("BULK_RUNS"));
    println!("machine load before: {}", load_average());
    println!(
        "| case | groups in flight | median wall | groups/s | network limit | wall / limit | naive wall | wall / naive | peak RSS | CPU (user+sys) | vs N = 1 |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for case in CASES
        .iter()
        .filter(|c| only.is_empty() || only.contains(c.key))
    {
        let rtt = measured_rtt(case.latency);
        let nodes = cluster_testnode::cluster(case.nodes);
        for node in &nodes {
            node.set_latency(case.latency);
        }
        let urls: Vec<String> = nodes.iter().map(TestNode::url).collect();
        let dir = tempfile::tempdir().expect("tempdir");
        let hosts: String = urls.iter().map(|u| format!("{u}\n")).collect();
        std::fs::write(dir.path().join("hosts.txt"), hosts).expect("hosts");
        // Note: N = 1 is measured first (whatever the order asked), so the
        // others can be compared with it.
        let mut settings = in_flight.clone();
        settings.sort_unstable();
        let mut one: Option<f64> = None;
        for (setting, &n) in settings.iter().enumerate() {
            let runs = if n == 1 { 1 } else { runs };
            let mut walls = Vec::new();
            let mut naive_walls = Vec::new();
            let mut rss = None;
            let mut cpu = Vec::new();
            for r in 0..runs {
                let ids: Vec<String> = (0..case.groups)
                    .map(|g| format!("t{setting}-{r}-{g}"))
                    .collect();
                let file = dir.path().join("groups.txt");
                std::fs::write(&file, ids.join("\n")).expect("groups");
                let n_text = n.to_string();
                let (wall, usage) = run(
                    &[
                        "create",
                        "--from-file",
                        "groups.txt",
                        "-q",
                        "--parallel-groups",
                        &n_text,
                    ],
                    dir.path(),
                );
                // Every group is on every node: the run did all its work.
                for node in &nodes {
                    let held = node.groups();
                    assert!(ids.iter().all(|id| held.contains(id)), "a group is missing");
                }
                walls.push(wall);
                rss = rss.max(usage.map(|u| u.0));
                cpu.extend(usage.map(|u| u.1));
                let naive_ids: Vec<String> = ids.iter().map(|id| format!("n{id}")).collect();
                naive_walls.push(naive(&urls, &naive_ids, n));
            }
            let wall = median(walls);
            let naive_wall = median(naive_walls);
            // Note: per group, one read round (every node at once) and then
            // one write per node in order; N groups overlap.
            let per_group = u32::try_from(1 + case.nodes).expect("small");
            let waves = u32::try_from(case.groups.div_ceil(n)).expect("small");
            let limit = rtt * per_group * waves;
            let rate = case.groups as f64 / wall.as_secs_f64();
            if n == 1 {
                one = Some(rate);
            }
            let speedup = one.map_or("-".to_owned(), |base| format!("{:.1}x", rate / base));
            println!(
                "| {} | {n} | {:.2} s | {rate:.0} | {:.2} s | {:.2}x | {:.2} s | {:.2}x | {} | {:.2} s | {speedup} |",
                case.name,
                wall.as_secs_f64(),
                limit.as_secs_f64(),
                wall.as_secs_f64() / limit.as_secs_f64(),
                naive_wall.as_secs_f64(),
                wall.as_secs_f64() / naive_wall.as_secs_f64(),
                rss.map_or("-".to_owned(), |k| format!("{:.1} MB", k as f64 / 1024.0)),
                median_f64(cpu),
            );
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
