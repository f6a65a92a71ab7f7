//! The journal at scale: `journal list`, `journal forget` and `rollback` on a backlog of
//! 100,000 and 1,000,000 pending repairs, with wall time and peak RSS.
//!
//! Each journal is a realistic backlog: every group failed on every node of a
//! 100-node cluster, was replayed twice without success, and kept the node's
//! last error. The binary runs as in production; only the journal is generated.

use std::fmt::Write as _;
use std::io::Write as _;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::time::Duration;

use cluster_testnode::TestNode;

use super::{Row, median, run_measured};

/// The nodes of every generated backlog.
pub const NODES: usize = 100;

/// A generated journal and the hosts file that goes with it.
pub struct Backlog {
    dir: tempfile::TempDir,
    groups: usize,
    hosts: Vec<String>,
}

impl Backlog {
    /// `groups` x [`NODES`] pending repairs on `hosts` (one per node).
    pub fn new(groups: usize, hosts: Vec<String>) -> Self {
        assert_eq!(hosts.len(), NODES);
        let dir = tempfile::tempdir().expect("tempdir");
        let list: String = hosts.iter().map(|h| format!("{h}\n")).collect();
        std::fs::write(dir.path().join("hosts.txt"), list).expect("hosts");
        Self { dir, groups, hosts }
    }

    /// Realistic node names, never contacted (for `journal list` and `forget`).
    pub fn named(groups: usize) -> Self {
        let hosts = (0..NODES)
            .map(|i| format!("https://node-{i:03}.prod.example.internal:8443"))
            .collect();
        Self::new(groups, hosts)
    }

    /// Nodes that refuse every connection: one closed port on 127.0.0.1,
    /// a path of its own per node.
    pub fn dead(groups: usize) -> Self {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let hosts = (0..NODES)
            .map(|i| format!("http://127.0.0.1:{port}/node-{i:03}"))
            .collect();
        Self::new(groups, hosts)
    }

    /// The local test nodes, which hold every group of the backlog.
    pub fn healthy(groups: usize, nodes: &[TestNode]) -> Self {
        for node in nodes {
            (0..groups).for_each(|g| node.insert_group(&group(g)));
        }
        Self::new(groups, nodes.iter().map(TestNode::url).collect())
    }

    fn journal(&self) -> PathBuf {
        self.dir.path().join("journal.json")
    }

    fn hosts_file(&self) -> PathBuf {
        self.dir.path().join("hosts.txt")
    }

    /// Writes the journal afresh, one compact entry per line (format 2).
    pub fn write(&self) {
        let file = std::fs::File::create(self.journal()).expect("journal");
        let mut out = std::io::BufWriter::new(file);
        out.write_all(b"{\"version\":2,\"entries\":[\n")
            .expect("write");
        let mut line = String::new();
        for g in 0..self.groups {
            // Note: batches of 32 groups, as a bulk run journals them.
            let batch = format!("48213@1795450771662.{}", g / 32);
            let since = cluster_client::vocab::time::rfc3339(1_795_450_771 + (g / 32) as u64);
            for (n, host) in self.hosts.iter().enumerate() {
                line.clear();
                if g + n > 0 {
                    line.push_str(",\n");
                }
                write!(
                    line,
                    "{{\"group\":\"{}\",\"host\":\"{host}\",\"action\":\"delete\",\
                     \"operation\":\"create\",\"batch\":\"{batch}\",\"recorded_at\":\"{since}\",\
                     \"failed_replays\":2,\"last_error\":\"error sending request for url \
                     ({host}/v1/group/): connection refused\"}}",
                    group(g)
                )
                .expect("write to string");
                out.write_all(line.as_bytes()).expect("write");
            }
        }
        out.write_all(b"\n]}\n").expect("write");
        out.flush().expect("flush");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(self.journal(), std::fs::Permissions::from_mode(0o600))
                .expect("chmod");
        }
    }

    /// Runs the binary `runs` times on a fresh copy of the journal, expecting
    /// exit `code`; the median wall time and the largest peak RSS.
    pub fn measure(&self, args: &[&str], code: i32, runs: usize) -> (Duration, Option<u64>) {
        let mut walls = Vec::new();
        let mut rss = None;
        for _ in 0..runs {
            self.write();
            let (wall, kib) = run_measured(
                args,
                self.dir.path(),
                &self.hosts_file(),
                &self.journal(),
                code,
            );
            walls.push(wall);
            rss = rss.max(kib);
        }
        (median(walls), rss)
    }
}

/// The id of group `g`: a team's name and a number, as a bulk run creates them.
fn group(g: usize) -> String {
    const TEAMS: [&str; 8] = [
        "analytics",
        "billing",
        "checkout",
        "data-eng",
        "identity",
        "mobile",
        "search",
        "web",
    ];
    format!("{}-{g:05}", TEAMS[g % TEAMS.len()])
}

fn row(name: String, (wall, rss_kib): (Duration, Option<u64>), rss_target_mib: u64) -> Row {
    Row {
        name,
        wall,
        best: None,
        cpu_per_request: None,
        limit: Duration::ZERO,
        baseline: None,
        beat_baseline: None,
        wall_target: None,
        rss_target_kib: Some(rss_target_mib * 1024),
        rss_kib,
    }
}

/// `journal list` (human and JSON), `journal forget` of one group and a
/// `rollback` against nodes that refuse every connection, on `groups` x
/// [`NODES`] entries (`size` says how many); `tag` numbers the rows.
pub fn scenarios(
    tag: u32,
    groups: usize,
    size: &str,
    runs: usize,
    rss_target_mib: u64,
) -> Vec<Row> {
    let named = Backlog::named(groups);
    let forget = group(groups / 2);
    let mut rows = vec![
        row(
            format!("{tag}a. journal list, {size} entries (human, to /dev/null)"),
            named.measure(&["journal", "list", "-q"], 3, runs),
            rss_target_mib,
        ),
        row(
            format!("{tag}b. journal list --output json, {size} entries"),
            named.measure(&["journal", "list", "--output", "json", "-q"], 3, runs),
            rss_target_mib,
        ),
        row(
            format!("{tag}c. journal forget of one group (a rewrite), {size} entries"),
            named.measure(
                &["journal", "forget", &forget, "--all-hosts", "-q"],
                0,
                runs,
            ),
            rss_target_mib,
        ),
    ];
    drop(named);
    // Note: every node refuses, so each costs one round of retries and its
    // other repairs are skipped; the replay then rewrites every entry with
    // one more failed replay and its reason.
    let dead = Backlog::dead(groups);
    rows.push(row(
        format!("{tag}d. rollback, {size} entries, every node refusing, --concurrency 16"),
        dead.measure(&["rollback", "--concurrency", "16", "-q"], 3, runs),
        rss_target_mib,
    ));
    rows
}

/// A `rollback` that applies `groups` x [`NODES`] repairs (`size` says how
/// many) on healthy local test nodes (0 ms latency).
pub fn healthy_replay(
    tag: u32,
    groups: usize,
    size: &str,
    runs: usize,
    rss_target_mib: u64,
) -> Row {
    let nodes = cluster_testnode::cluster(NODES);
    let backlog = Backlog::healthy(groups, &nodes);
    let mut walls = Vec::new();
    let mut rss = None;
    for _ in 0..runs {
        // Note: the repairs delete the groups; put them back for the next run.
        for node in &nodes {
            (0..groups).for_each(|g| node.insert_group(&group(g)));
        }
        let (wall, kib) = backlog.measure(&["rollback", "--concurrency", "16", "-q"], 0, 1);
        walls.push(wall);
        rss = rss.max(kib);
    }
    row(
        format!("{tag}. rollback applying {size} repairs on 100 healthy nodes, --concurrency 16"),
        (median(walls), rss),
        rss_target_mib,
    )
}

/// Parses a 40,000-line hosts file in process: the duplicate check must stay
/// linear (it took 1.5 s when every line was compared with every earlier one).
pub fn hosts_file(runs: usize) -> Row {
    let text: String = (0..40_000)
        .map(|i| format!("https://node-{i:05}.prod.example.internal:8443\n"))
        .collect();
    let path = Path::new("hosts.txt");
    let walls = (0..runs)
        .map(|_| {
            super::timed(|| {
                let nodes =
                    cluster_client::vocab::hosts::parse_hosts(path, &text).expect("distinct hosts");
                assert_eq!(nodes.len(), 40_000);
            })
        })
        .collect();
    super::in_process(
        "11. parse a 40,000-line hosts file (in process)",
        median(walls),
    )
}
