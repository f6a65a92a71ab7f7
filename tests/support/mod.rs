//! Test support: a temp directory, a clean environment and local nodes for the real binary.
#![allow(dead_code, unused_imports)]

use std::path::{Path, PathBuf};
use std::process::Command as StdCommand;

pub use cluster_testnode::{Fault, Rule, TestNode};
use serde_json::Value;

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_cluster-client");

/// Owns a temp directory (working dir, HOME, hosts file, journal) and the
/// nodes. Commands it builds inherit no `CLUSTER_CLIENT_*` or `RUST_LOG`
/// variable from the developer's shell.
pub struct TestEnv {
    dir: tempfile::TempDir,
    pub nodes: Vec<TestNode>,
}

impl TestEnv {
    /// `n` healthy nodes listed in `hosts.txt`, in order.
    pub fn new(n: usize) -> Self {
        let env = Self {
            dir: tempfile::tempdir().expect("tempdir"),
            nodes: cluster_testnode::cluster(n),
        };
        let hosts: String = env
            .nodes
            .iter()
            .map(|node| format!("{}\n", node.url()))
            .collect();
        env.write_hosts(&format!("# test cluster\n{hosts}"));
        // Note: the journal's directory exists, as one named by --journal must for the
        // commands that only read (a missing one is a typo, exit 2); the journal does not.
        {
            use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
            let dir = env.journal_path().parent().expect("journal dir").to_owned();
            std::fs::DirBuilder::new()
                .mode(0o700)
                .create(&dir)
                .expect("mkdir journal dir");
            std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700))
                .expect("chmod journal dir");
        }
        env
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    pub fn hosts_path(&self) -> PathBuf {
        self.dir().join("hosts.txt")
    }

    pub fn journal_path(&self) -> PathBuf {
        self.dir().join("state").join("journal.json")
    }

    pub fn write_hosts(&self, text: &str) {
        std::fs::write(self.hosts_path(), text).expect("write hosts");
    }

    /// A command for the binary with fast, explicit retry settings.
    pub fn cmd(&self) -> assert_cmd::Command {
        assert_cmd::Command::from_std(self.std_cmd())
    }

    /// Starts the binary with `args`, stdout and stderr discarded, for tests
    /// that kill or signal it.
    pub fn spawn_quiet(&self, args: &[&str]) -> std::process::Child {
        self.std_cmd()
            .args(args)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("spawn the binary")
    }

    /// Starts the binary with `args`, stdout discarded and stderr collected
    /// line by line, so a test can await a log line instead of sleeping.
    pub fn spawn_watched(&self, args: &[&str]) -> Watched {
        let mut child = self
            .std_cmd()
            .args(args)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("spawn the binary");
        let stderr = child.stderr.take().expect("stderr");
        let (tx, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            use std::io::BufRead;
            for line in std::io::BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Watched {
            child,
            lines,
            seen: Vec::new(),
        }
    }

    /// The nodes' base URLs, in hosts-file order.
    pub fn urls(&self) -> Vec<String> {
        self.nodes.iter().map(TestNode::url).collect()
    }

    /// The same, as a std command for spawning and killing.
    pub fn std_cmd(&self) -> StdCommand {
        let mut cmd = StdCommand::new(BIN);
        for (key, _) in std::env::vars_os() {
            let key = key.to_string_lossy().into_owned();
            // Note: proxies too, so a developer's proxy never sees loopback test traffic.
            let proxy = key.to_ascii_lowercase().ends_with("_proxy");
            if key.starts_with("CLUSTER_CLIENT_")
                || key == "RUST_LOG"
                || key.starts_with("XDG_")
                || proxy
            {
                cmd.env_remove(key);
            }
        }
        cmd.current_dir(self.dir())
            .env("HOME", self.dir().join("home"))
            .env("CLUSTER_CLIENT_HOSTS", self.hosts_path())
            .env("CLUSTER_CLIENT_JOURNAL", self.journal_path())
            .env("CLUSTER_CLIENT_TIMEOUT", "2s")
            .env("CLUSTER_CLIENT_RETRIES", "2")
            .env("CLUSTER_CLIENT_BACKOFF", "1ms")
            .env("CLUSTER_CLIENT_MAX_BACKOFF", "20ms")
            .env("CLUSTER_CLIENT_CONCURRENCY", concurrency())
            .env("CLUSTER_CLIENT_PARALLEL_GROUPS", parallel_groups());
        cmd
    }

    /// The journal file parsed, or `None` when it does not exist.
    pub fn journal(&self) -> Option<Value> {
        let bytes = std::fs::read(self.journal_path()).ok()?;
        Some(serde_json::from_slice(&bytes).expect("journal is JSON"))
    }

    /// `(group, host, action)` of every pending repair; empty without a journal.
    pub fn pending(&self) -> Vec<(String, String, String)> {
        self.entries_of_kind("repair")
    }

    /// `(group, host, action)` of every verification (a node that may still
    /// apply a write of ours late); empty without a journal.
    pub fn verifying(&self) -> Vec<(String, String, String)> {
        self.entries_of_kind("verify")
    }

    /// `(group, host, action)` of every watch.
    pub fn watching(&self) -> Vec<(String, String, String)> {
        self.entries_of_kind("watch")
    }

    /// Every journal entry of any kind (repairs, verifications, watches), as the
    /// file holds them; empty without a journal.
    pub fn entries(&self) -> Vec<Value> {
        self.journal().map_or_else(Vec::new, |journal| {
            journal["entries"].as_array().expect("entries").clone()
        })
    }

    /// `(group, host, action)` of every repair written ahead of a change and
    /// not settled: a run stopped in the middle may have had that change in
    /// flight.
    pub fn written_ahead(&self) -> Vec<(String, String, String)> {
        self.triples(|e| e.get("kind").is_none() && e.get("settled").is_none())
    }

    fn entries_of_kind(&self, kind: &str) -> Vec<(String, String, String)> {
        self.triples(|e| e["kind"].as_str().unwrap_or("repair") == kind)
    }

    /// `(group, host, action)` of the entries `keep` says yes to; empty
    /// without a journal.
    fn triples(&self, keep: impl Fn(&Value) -> bool) -> Vec<(String, String, String)> {
        let Some(journal) = self.journal() else {
            return Vec::new();
        };
        assert_eq!(journal["version"], 3);
        journal["entries"]
            .as_array()
            .expect("entries")
            .iter()
            .filter(|e| keep(e))
            .map(|e| {
                (
                    e["group"].as_str().expect("group").to_owned(),
                    e["host"].as_str().expect("host").to_owned(),
                    e["action"].as_str().expect("action").to_owned(),
                )
            })
            .collect()
    }

    /// Polls `rollback --settle-horizon 1s` until it exits 0 and leaves the journal
    /// empty (every verification's and watch's horizon has passed), and panics when that
    /// takes longer than `deadline` or a replay exits other than 0 or 3. The writes whose
    /// checks are to expire must have been sent with a short `--settle-horizon` too.
    pub fn rollback_past_the_horizon(&self, deadline: std::time::Duration) {
        let start = std::time::Instant::now();
        loop {
            let output = self
                .cmd()
                .args(["rollback", "--settle-horizon", "1s"])
                .output()
                .expect("run rollback");
            let code = output.status.code();
            let waiting = start.elapsed() < deadline;
            match code {
                Some(0) if self.entries().is_empty() => return,
                Some(0 | 3) if waiting => {}
                _ => panic!(
                    "rollback exited {code:?} after {:?}, leaving {:?}:\n{}{}",
                    start.elapsed(),
                    self.entries(),
                    String::from_utf8_lossy(&output.stdout),
                    String::from_utf8_lossy(&output.stderr)
                ),
            }
            // Note: a poll interval, not a wait for an event: horizons are whole seconds.
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
    }

    /// The indexes of the nodes that hold `group`.
    pub fn holders(&self, group: &str) -> Vec<usize> {
        (0..self.nodes.len())
            .filter(|&i| self.nodes[i].has_group(group))
            .collect()
    }

    /// Requests received by all nodes.
    pub fn total_requests(&self) -> usize {
        self.nodes.iter().map(|n| n.requests().len()).sum()
    }

    /// POSTs and DELETEs received by all nodes.
    pub fn total_writes(&self) -> usize {
        self.nodes.iter().map(TestNode::writes).sum()
    }

    /// Every request the nodes received so far, as `(node index, method)`, in
    /// arrival order (by the process-wide sequence number nodes stamp them with).
    pub fn sequence(&self) -> Vec<(usize, String)> {
        let mut all: Vec<(u64, usize, String)> = self
            .nodes
            .iter()
            .enumerate()
            .flat_map(|(i, node)| {
                node.requests()
                    .into_iter()
                    .map(move |r| (r.seq, i, r.method))
            })
            .collect();
        all.sort();
        all.into_iter().map(|(_, i, method)| (i, method)).collect()
    }

    /// Puts `group` on the nodes with these indexes.
    pub fn seed(&self, group: &str, on: &[usize]) {
        for &i in on {
            self.nodes[i].insert_group(group);
        }
    }
}

/// The concurrency every command runs at: 4 in test binaries named
/// `parallel_*` (which rerun a suite with `#[path]`), 1 everywhere else.
pub fn concurrency() -> &'static str {
    by_test_binary("parallel_", "4")
}

/// The groups in flight of every command: 8 in test binaries named
/// `inflight_*` (which rerun a suite with `#[path]`), 1 everywhere else.
pub fn parallel_groups() -> &'static str {
    by_test_binary("inflight_", "8")
}

/// `value` in test binaries whose name starts with `prefix`, "1" elsewhere.
fn by_test_binary(prefix: &str, value: &'static str) -> &'static str {
    let exe = std::env::current_exe().expect("test binary path");
    let name = exe.file_name().and_then(|n| n.to_str()).unwrap_or_default();
    if name.starts_with(prefix) { value } else { "1" }
}

impl TestEnv {
    /// Runs the binary with `--output json`, asserts its exit code (showing
    /// stderr when it differs), and returns the one JSON document it printed.
    pub fn json(&self, args: &[&str], code: i32) -> Value {
        let output = self
            .cmd()
            .args(args)
            .args(["--output", "json"])
            .output()
            .expect("run the binary");
        assert_eq!(
            output.status.code(),
            Some(code),
            "{args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        json_stdout(&output)
    }
}

/// The `host` of each node of a report, in the order the report lists them.
pub fn hosts(report: &Value) -> Vec<String> {
    report["nodes"]
        .as_array()
        .expect("nodes")
        .iter()
        .map(|n| n["host"].as_str().expect("host").to_owned())
        .collect()
}

/// Each node's `result` (create, delete) or `state` (status), in hosts-file order.
pub fn results(report: &Value) -> Vec<String> {
    report["nodes"]
        .as_array()
        .expect("nodes")
        .iter()
        .map(|n| {
            n.get("result")
                .or_else(|| n.get("state"))
                .and_then(Value::as_str)
                .expect("result or state")
                .to_owned()
        })
        .collect()
}

/// Parses stdout as the one JSON document `--output json` promises.
pub fn json_stdout(output: &std::process::Output) -> Value {
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not one JSON document ({e}):\n{}",
            String::from_utf8_lossy(&output.stdout)
        )
    })
}

/// Sends SIGTERM to a child process.
pub fn sigterm(child: &std::process::Child) {
    // Note: through sh's builtin `kill`, so no signal crate or procps is needed.
    let status = StdCommand::new("sh")
        .args(["-c", &format!("kill -TERM {}", child.id())])
        .status()
        .expect("run kill");
    assert!(status.success());
}

/// A running binary whose stderr is read on a thread: [`Watched::wait_for_line`]
/// awaits a log line, [`Watched::wait_exit`] awaits the exit.
pub struct Watched {
    pub child: std::process::Child,
    lines: std::sync::mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl Watched {
    /// Waits until a stderr line contains `needle` and returns it; panics
    /// with everything seen so far when `timeout` passes or stderr ends first.
    pub fn wait_for_line(&mut self, needle: &str, timeout: std::time::Duration) -> String {
        let deadline = std::time::Instant::now() + timeout;
        if let Some(line) = self.seen.iter().find(|l| l.contains(needle)) {
            return line.clone();
        }
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if line.contains(needle) {
                        return line;
                    }
                }
                Err(e) => panic!(
                    "no stderr line with {needle:?} ({e}); stderr so far:\n{}",
                    self.seen.join("\n")
                ),
            }
        }
    }

    /// Waits until the process closes stderr (it exits) and returns its exit
    /// code and every stderr line; panics when that takes longer than `timeout`.
    pub fn wait_exit(mut self, timeout: std::time::Duration) -> (Option<i32>, String) {
        let deadline = std::time::Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => self.seen.push(line),
                Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => break,
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                    let _ = self.child.kill();
                    let _ = self.child.wait();
                    panic!(
                        "still running after {timeout:?}; stderr:\n{}",
                        self.seen.join("\n")
                    );
                }
            }
        }
        let status = self.child.wait().expect("wait for the binary");
        (status.code(), self.seen.join("\n"))
    }
}

impl Drop for Watched {
    /// A test that fails early leaves no binary running.
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Holds the journal lock of `env` from the test process, as another run
/// would, until dropped.
pub fn hold_journal_lock(env: &TestEnv) -> std::fs::File {
    let path = env.journal_path();
    std::fs::create_dir_all(path.parent().expect("journal dir")).expect("mkdir");
    let lock = private_file(&path.with_file_name("journal.json.lock"));
    lock.lock().expect("hold the lock");
    lock
}

impl TestEnv {
    /// Writes a journal holding `entries` (see [`entry`]) the way cluster-client
    /// would: directory 0700, file 0600, owned by the test's user.
    pub fn write_journal(&self, entries: &[Value]) {
        use std::os::unix::fs::PermissionsExt;
        let path = self.journal_path();
        let dir = path.parent().expect("journal dir");
        std::fs::create_dir_all(dir).expect("mkdir journal dir");
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).expect("chmod dir");
        let text = serde_json::json!({"version": 3, "entries": entries}).to_string();
        std::fs::write(&path, text).expect("write journal");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))
            .expect("chmod journal");
    }
}

/// One pending journal entry: apply `action` (`delete` or `create`) for `group` on `host`.
/// It is settled (the undo of a change whose answer came: a replay that applies it leaves
/// nothing to verify); [`unsettled`] makes one written ahead of a change in flight.
pub fn entry(group: &str, host: &str, action: &str) -> Value {
    let operation = if action == "delete" {
        "create"
    } else {
        "delete"
    };
    serde_json::json!({
        "group": group, "host": host, "action": action, "operation": operation,
        "batch": "1@1", "recorded_at": "2026-12-01T00:00:01Z", "failed_replays": 0,
        "settled": true,
    })
}

/// [`entry`] as a crashed run leaves it: written ahead of a change that may still be in
/// flight, so a replay that applies it then verifies the node until the settle horizon.
pub fn unsettled(group: &str, host: &str, action: &str) -> Value {
    let mut entry = entry(group, host, action);
    entry.as_object_mut().expect("object").remove("settled");
    entry
}

/// Whether the tests run as root, and so can `chown` files to another user
/// (as CI does). Tests that need it print why they skip otherwise.
pub fn running_as_root() -> bool {
    cluster_client::vocab::trust::euid() == Some(0)
}

/// An unprivileged uid other than the test's own (nobody).
pub const OTHER_UID: u32 = 65534;

/// Writes a token file the way the token must be kept: mode 0600.
pub fn write_secret(path: &Path, text: &str) {
    write_private(path, text.as_bytes());
}

/// Writes a file only its owner may read or write (0600), as cluster-client
/// keeps its journal, lock and token files: it refuses them otherwise.
pub fn write_private(path: &Path, bytes: &[u8]) {
    use std::io::Write;
    private_file(path).write_all(bytes).expect("write");
}

/// Creates (or opens) `path` with mode 0600, as cluster-client makes a lock file.
pub fn private_file(path: &Path) -> std::fs::File {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .expect("create a private file")
}
