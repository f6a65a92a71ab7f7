//! A resolver that never answers does not hold the process past its result: the journal's lock
//! is free as soon as the result is printed, and the process exits at once after it.
//!
//! The binary runs in a mount namespace of its own (`unshare --mount`) where `/etc/resolv.conf`
//! names a local UDP socket that never answers, and `/etc/nsswitch.conf` sends host names to
//! DNS; that needs root, and the test is skipped, saying so, without it.

mod support;

use std::io::{BufRead, BufReader};
use std::net::UdpSocket;
use std::os::fd::AsFd;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::Value;
use support::TestEnv;

/// How long the fake resolver stalls one lookup: glibc waits this long for
/// an answer (and asks once).
const STALL: Duration = Duration::from_secs(60);

/// How soon after the result the lock must be free and the process gone: a
/// wide margin, far below the stall.
const PROMPTLY: Duration = Duration::from_secs(10);

/// Why this machine cannot run the test, if it cannot.
fn cannot_run() -> Option<String> {
    if !rustix::process::geteuid().is_root() {
        return Some("needs root for a mount namespace (unshare --mount)".to_owned());
    }
    ["unshare", "mount", "sh"]
        .iter()
        .find(|tool| {
            Command::new(tool)
                .arg("--version")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_err()
        })
        .map(|tool| format!("needs {tool}"))
}

/// A UDP socket on port 53 of a loopback address of its own, never read: a
/// name server that never answers.
fn silent_name_server() -> UdpSocket {
    let pid = std::process::id();
    let address = format!("127.53.{}.{}:53", (pid >> 8) % 250 + 1, pid % 250 + 1);
    UdpSocket::bind(&address).unwrap_or_else(|e| panic!("bind {address}: {e}"))
}

/// Runs the binary with `args` in a mount namespace where host names go to
/// `server` only, with `env`'s environment; stdout piped.
fn spawn_with_resolver(env: &TestEnv, server: &UdpSocket, args: &[&str]) -> Child {
    let ip = server.local_addr().expect("address").ip();
    let resolv = env.dir().join("resolv.conf");
    let timeout = STALL.as_secs();
    std::fs::write(
        &resolv,
        format!("nameserver {ip}\noptions timeout:{timeout} attempts:1\n"),
    )
    .expect("resolv.conf");
    let nsswitch = env.dir().join("nsswitch.conf");
    std::fs::write(&nsswitch, "hosts: files dns\n").expect("nsswitch.conf");
    let base = env.std_cmd();
    let mut command = Command::new("unshare");
    command
        .args(["--mount", "--propagation", "private", "sh", "-c"])
        .arg(
            "mount --bind \"$1\" /etc/resolv.conf && mount --bind \"$2\" /etc/nsswitch.conf \
             && shift 2 && exec \"$@\"",
        )
        .arg("sh")
        .args([&resolv, &nsswitch])
        .arg(base.get_program())
        .args(args);
    for (key, value) in base.get_envs() {
        match value {
            Some(value) => command.env(key, value),
            None => command.env_remove(key),
        };
    }
    if let Some(dir) = base.get_current_dir() {
        command.current_dir(dir);
    }
    command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn unshare")
}

/// Waits until the lock beside `env`'s journal can be taken; whether it
/// could within `within`.
fn lock_taken_within(env: &TestEnv, within: Duration) -> bool {
    let mut path = env.journal_path().into_os_string();
    path.push(".lock");
    let (taken, lock) = mpsc::channel();
    std::thread::spawn(move || {
        let file = std::fs::File::open(&path).expect("the lock file exists");
        let result = rustix::fs::flock(file.as_fd(), rustix::fs::FlockOperation::LockExclusive);
        let _ = taken.send(result.is_ok());
        // Note: held until the test reads the answer; dropped with the thread.
        drop(file);
    });
    lock.recv_timeout(within).unwrap_or(false)
}

#[test]
fn the_lock_is_free_and_the_process_gone_right_after_the_result_whatever_the_resolver() {
    if let Some(why) = cannot_run() {
        #[allow(clippy::print_stderr, reason = "a skipped test says why")]
        {
            eprintln!("skipped: {why}");
        }
        return;
    }
    let env = TestEnv::new(1);
    let named = "http://never-resolves.cluster-client.example:8080";
    env.write_hosts(&format!("{}\n{named}\n", env.nodes[0].url()));
    let server = silent_name_server();
    let mut child = spawn_with_resolver(
        &env,
        &server,
        &[
            "create",
            "g",
            "--timeout",
            "1s",
            "--retries",
            "0",
            "--output",
            "json",
            "--metrics-file",
            "metrics.prom",
        ],
    );
    let stdout = child.stdout.take().expect("stdout");
    // Note: the document is read as soon as it is whole; stdout closes only
    // when the process exits.
    let report: Value = serde_json::Deserializer::from_reader(BufReader::new(stdout))
        .into_iter()
        .next()
        .expect("a result")
        .expect("JSON");
    let printed = Instant::now();
    let free = lock_taken_within(&env, PROMPTLY);
    let pid = child.id();
    let (exited, exit) = mpsc::channel();
    let waiter = std::thread::spawn(move || {
        let status = child.wait();
        let _ = exited.send(());
        (status, child)
    });
    let gone = exit.recv_timeout(PROMPTLY.saturating_sub(printed.elapsed()));
    if gone.is_err() {
        // Note: do not leave it behind (unshare and sh exec it: same pid);
        // the wait thread then ends too.
        let _ = Command::new("sh")
            .args(["-c", &format!("kill -KILL {pid}")])
            .status();
    }
    let (_, mut child) = waiter.join().expect("waiter");
    let mut stderr = String::new();
    if let Some(err) = child.stderr.take() {
        for line in BufReader::new(err).lines().map_while(Result::ok) {
            stderr.push_str(&line);
            stderr.push('\n');
        }
    }
    // The named node's read timed out: its lookup really was stuck.
    let nodes = report["nodes"].as_array().expect("nodes");
    assert_eq!(nodes.len(), 2, "{report}");
    let error = nodes[1].to_string();
    assert!(
        error.contains("timed out"),
        "the lookup did not stall: {error}\n{stderr}"
    );
    assert!(
        free,
        "the journal's lock was still held {PROMPTLY:?} after the result"
    );
    assert!(
        gone.is_ok(),
        "the process was still running {PROMPTLY:?} after its result\n{stderr}"
    );
    assert!(
        env.dir().join("metrics.prom").exists(),
        "no metrics file when the process ended"
    );
    drop(server);
}
