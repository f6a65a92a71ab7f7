//! Benchmark: the real binary against local nodes with a set latency, compared with the network's own cost.
//!
//! Run with `cargo bench --bench scale`. `BENCH_RUNS` sets the runs per
//! scenario (default 5; the median is reported); `BENCH_ONLY=3,5` picks
//! scenarios. The table it prints is the one in BENCHMARKS.md.
#![allow(
    clippy::print_stdout,
    reason = "printing the results is this program's job"
)]

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use cluster_client::Journal;
use cluster_testnode::TestNode;

const BIN: &str = env!("CARGO_BIN_EXE_cluster-client");

/// One measured run of the binary.
struct Run {
    wall: Duration,
}

/// Runs the binary and times it. Fails the benchmark if the binary fails.
fn run_binary(args: &[&str], dir: &Path, hosts: &Path, journal: &Path) -> Run {
    let start = Instant::now();
    let status = command(BIN, args, dir, hosts, journal)
        .status()
        .expect("run the binary");
    let wall = start.elapsed();
    assert!(status.success(), "{args:?} failed: {status}");
    Run { wall }
}

/// Peak RSS of one run, in KiB, measured by `/usr/bin/time`; `None` where
/// that program is missing.
///
/// Note: `getrusage` on a child spawned from this process would report this
/// benchmark's own resident pages (a forked or vforked child shares them
/// until it execs), so the binary is started by a small process instead.
fn peak_rss_kib(args: &[&str], dir: &Path, hosts: &Path, journal: &Path) -> Option<u64> {
    let time = Path::new("/usr/bin/time");
    if !time.exists() {
        return None;
    }
    let report = dir.join("rss.txt");
    let mut full = vec!["-f", "%M", "-o", report.to_str().expect("utf8 path"), BIN];
    full.extend(args);
    let status = command(time.to_str().expect("utf8"), &full, dir, hosts, journal)
        .status()
        .expect("run /usr/bin/time");
    assert!(
        status.success(),
        "{args:?} failed under /usr/bin/time: {status}"
    );
    std::fs::read_to_string(&report).ok()?.trim().parse().ok()
}

fn command(program: &str, args: &[&str], dir: &Path, hosts: &Path, journal: &Path) -> Command {
    let mut command = Command::new(program);
    command
        .args(args)
        .env("CLUSTER_CLIENT_HOSTS", hosts)
        .env("CLUSTER_CLIENT_JOURNAL", journal)
        .env_remove("RUST_LOG")
        .current_dir(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::inherit());
    command
}

struct Cluster {
    nodes: Vec<TestNode>,
    dir: tempfile::TempDir,
}

impl Cluster {
    fn new(n: usize, latency: Duration) -> Self {
        Self::new_in(n, latency, &std::env::temp_dir())
    }

    /// Like `new`, with the hosts file and journal in a directory under `base`.
    fn new_in(n: usize, latency: Duration, base: &Path) -> Self {
        let nodes = cluster_testnode::cluster(n);
        for node in &nodes {
            node.set_latency(latency);
        }
        let dir = tempfile::tempdir_in(base).expect("tempdir");
        let hosts: String = nodes.iter().map(|n| format!("{}\n", n.url())).collect();
        std::fs::write(dir.path().join("hosts.txt"), hosts).expect("hosts");
        Self { nodes, dir }
    }

    fn hosts(&self) -> PathBuf {
        self.dir.path().join("hosts.txt")
    }

    fn journal(&self) -> PathBuf {
        self.dir.path().join("journal.json")
    }

    fn run(&self, args: &[&str]) -> Run {
        run_binary(args, self.dir.path(), &self.hosts(), &self.journal())
    }

    fn rss(&self, args: &[&str]) -> Option<u64> {
        peak_rss_kib(args, self.dir.path(), &self.hosts(), &self.journal())
    }
}

/// A measured round trip: one GET to one node, from this process.
fn measured_rtt(latency: Duration) -> Duration {
    let node = TestNode::start();
    node.set_latency(latency);
    let client = reqwest::blocking::Client::new();
    let url = format!("{}/v1/group/x/", node.url());
    let mut samples: Vec<Duration> = (0..20)
        .map(|_| {
            let start = Instant::now();
            let _ = client.get(&url).send().map(|r| r.status());
            start.elapsed()
        })
        .collect();
    samples.sort();
    samples[samples.len() / 2]
}

struct Row {
    name: String,
    wall: Duration,
    ideal: Duration,
    target: String,
    rss_kib: Option<u64>,
}

fn median(mut runs: Vec<Run>) -> Duration {
    runs.sort_by_key(|r| r.wall);
    runs[runs.len() / 2].wall
}

/// Create then delete of one group, `runs` times; returns the median wall
/// time of the pair, the ideal, and the larger peak RSS of one pair.
fn create_delete(
    n: usize,
    latency_ms: u64,
    concurrency: usize,
    runs: usize,
    base: &Path,
) -> (Duration, Duration, Option<u64>) {
    let cluster = Cluster::new_in(n, Duration::from_millis(latency_ms), base);
    let rtt = measured_rtt(Duration::from_millis(latency_ms));
    let c = concurrency.to_string();
    let mut pairs = Vec::new();
    for i in 0..runs {
        let group = format!("bench-{i}");
        let create = cluster.run(&["create", &group, "--concurrency", &c, "-q"]);
        let delete = cluster.run(&["delete", &group, "--concurrency", &c, "-q"]);
        pairs.push(Run {
            wall: create.wall + delete.wall,
        });
    }
    let rss = cluster
        .rss(&["create", "bench-rss", "--concurrency", &c, "-q"])
        .max(cluster.rss(&["delete", "bench-rss", "--concurrency", &c, "-q"]));
    // Note: both commands read every node first (GET), then write where
    // needed: create is 2 rounds, delete is 2 rounds, per batch of nodes.
    let batches = u32::try_from(n.div_ceil(concurrency)).expect("small");
    let ideal = rtt * 4 * batches;
    (median(pairs), ideal, rss)
}

fn write_journal(path: &Path, groups: usize, nodes: &[TestNode]) {
    let mut text = String::from("{\"version\": 1, \"entries\": [\n");
    let mut first = true;
    for g in 0..groups {
        for node in nodes {
            if !first {
                text.push_str(",\n");
            }
            first = false;
            write!(
                text,
                "{{\"group\": \"g{g}\", \"host\": \"{}\", \"action\": \"delete\", \"operation\": \"create\", \"run\": \"bench\", \"recorded_at\": 0}}",
                node.url()
            )
            .expect("write to string");
        }
    }
    text.push_str("\n]}\n");
    std::fs::write(path, text).expect("journal");
}

fn main() {
    let runs: usize = std::env::var("BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5);
    let only: Option<Vec<u32>> = std::env::var("BENCH_ONLY")
        .ok()
        .map(|v| v.split(',').filter_map(|s| s.trim().parse().ok()).collect());
    let wanted = |n: u32| only.as_ref().is_none_or(|o| o.contains(&n));
    let mut rows = Vec::new();

    let disk = std::env::temp_dir();
    if wanted(1) {
        let (wall, ideal, rss) = create_delete(3, 0, 1, runs.max(11), &disk);
        rows.push(Row {
            name: format!(
                "1. create+delete, 3 nodes, 0 ms (journal in {})",
                disk.display()
            ),
            wall,
            ideal,
            target: "< 15 ms wall".into(),
            rss_kib: rss,
        });
        // Note: the same on tmpfs, where fsync is free, separates the
        // process's own cost from the disk's price for durability.
        let shm = Path::new("/dev/shm");
        if shm.is_dir() {
            let (wall, ideal, rss) = create_delete(3, 0, 1, runs.max(11), shm);
            rows.push(Row {
                name: "1b. the same, journal on tmpfs (/dev/shm)".into(),
                wall,
                ideal,
                target: "< 15 ms wall".into(),
                rss_kib: rss,
            });
        }
    }
    if wanted(2) {
        let (wall, ideal, rss) = create_delete(50, 10, 1, runs, &disk);
        rows.push(Row {
            name: "2. create+delete, 50 nodes, 10 ms".into(),
            wall,
            ideal,
            target: "<= 1.15x".into(),
            rss_kib: rss,
        });
    }
    if wanted(3) {
        let (wall, ideal, rss) = create_delete(50, 10, 16, runs, &disk);
        rows.push(Row {
            name: "3. same, --concurrency 16".into(),
            wall,
            ideal,
            target: "<= 1.5x".into(),
            rss_kib: rss,
        });
    }
    if wanted(4) {
        let (wall, ideal, rss) = create_delete(200, 20, 32, runs, &disk);
        rows.push(Row {
            name: "4. create+delete, 200 nodes, 20 ms, --concurrency 32".into(),
            wall,
            ideal,
            target: "<= 1.5x".into(),
            rss_kib: rss,
        });
    }
    if wanted(5) {
        let cluster = Cluster::new(10, Duration::from_millis(1));
        let rtt = measured_rtt(Duration::from_millis(1));
        let mut samples = Vec::new();
        for _ in 0..runs.min(3) {
            write_journal(&cluster.journal(), 1000, &cluster.nodes);
            samples.push(cluster.run(&["rollback", "-q"]));
            assert!(
                Journal::open(&cluster.journal(), &cluster_client::Cancel::new())
                    .expect("journal")
                    .entries()
                    .is_empty()
            );
        }
        write_journal(&cluster.journal(), 1000, &cluster.nodes);
        let rss = cluster.rss(&["rollback", "-q"]);
        let wall = median(samples);
        rows.push(Row {
            name: "5. replay 10,000 repairs (1,000 groups x 10 nodes), 1 ms".into(),
            wall,
            ideal: rtt * 10_000,
            target: "<= 1.15x".into(),
            rss_kib: rss,
        });
    }
    if wanted(6) {
        let cluster = Cluster::new(3, Duration::from_millis(1));
        let rtt = measured_rtt(Duration::from_millis(1));
        let groups: String = (0..1000).map(|g| format!("bulk-{g}\n")).collect();
        let mut samples = Vec::new();
        for run in 0..runs.min(3) {
            let file = cluster.dir.path().join(format!("groups-{run}.txt"));
            let text = groups.replace("bulk-", &format!("bulk{run}-"));
            std::fs::write(&file, text).expect("groups");
            samples.push(cluster.run(&[
                "create",
                "--from-file",
                file.to_str().expect("utf8"),
                "-q",
            ]));
        }
        let file = cluster.dir.path().join("groups-rss.txt");
        std::fs::write(&file, groups.replace("bulk-", "bulkrss-")).expect("groups");
        let rss = cluster.rss(&["create", "--from-file", file.to_str().expect("utf8"), "-q"]);
        let wall = median(samples);
        rows.push(Row {
            name: "6. create 1,000 groups, 3 nodes, 1 ms".into(),
            wall,
            // Note: per group, a GET and a POST to each of the 3 nodes.
            ideal: rtt * 6 * 1000,
            target: "<= 1.15x".into(),
            rss_kib: rss,
        });
    }
    if wanted(7) {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("journal.json");
        let nodes = cluster_testnode::cluster(10);
        write_journal(&path, 10_000, &nodes);
        let mut samples: Vec<Duration> = (0..runs)
            .map(|_| {
                let start = Instant::now();
                let journal = Journal::open(&path, &cluster_client::Cancel::new()).expect("load");
                assert_eq!(journal.entries().len(), 100_000);
                start.elapsed()
            })
            .collect();
        samples.sort();
        rows.push(Row {
            name: "load a 100,000-entry journal (in process)".into(),
            wall: samples[samples.len() / 2],
            ideal: Duration::ZERO,
            target: "< 200 ms".into(),
            rss_kib: None,
        });
    }

    println!("runs per scenario: {runs} (median wall time; peak RSS is the max over runs)\n");
    println!("| scenario | median wall | ideal | ratio | target | peak RSS |");
    println!("|---|---:|---:|---:|---|---:|");
    for row in rows {
        let ratio = if row.ideal.is_zero() {
            "-".to_owned()
        } else {
            format!("{:.2}x", row.wall.as_secs_f64() / row.ideal.as_secs_f64())
        };
        let rss = row.rss_kib.map_or_else(
            || "-".to_owned(),
            |kib| format!("{:.1} MB", kib as f64 / 1024.0),
        );
        println!(
            "| {} | {:.1} ms | {:.1} ms | {ratio} | {} | {rss} |",
            row.name,
            row.wall.as_secs_f64() * 1000.0,
            row.ideal.as_secs_f64() * 1000.0,
            row.target,
        );
    }
}
