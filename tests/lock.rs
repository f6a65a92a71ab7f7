//! The journal's lock held by a stopped run: later runs give up after --lock-wait and name it.

mod support;

use std::process::{Child, Command as StdCommand, Stdio};
use std::time::{Duration, Instant};

use support::{Fault, Rule, TestEnv, hold_journal_lock};

const WAIT: Duration = Duration::from_secs(60);

/// Sends `signal` (`STOP`, `CONT`) to `child` through sh's builtin `kill`.
fn signal(child: &Child, signal: &str) {
    let status = StdCommand::new("sh")
        .args(["-c", &format!("kill -{signal} {}", child.id())])
        .status()
        .expect("run kill");
    assert!(status.success(), "kill -{signal}");
}

/// A run of the binary that holds the journal's lock, stopped with SIGSTOP;
/// a test that fails early still resumes and ends it.
struct Stopped(Child);

impl Drop for Stopped {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            signal(&self.0, "CONT");
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

/// Runs `args` with `--lock-wait 1s` and returns the exit code, stderr and
/// how long it took; panics when it is still running after [`WAIT`].
fn run_behind_the_lock(env: &TestEnv, args: &[&str]) -> (Option<i32>, String, Duration) {
    let started = Instant::now();
    let args: Vec<&str> = args.iter().copied().chain(["--lock-wait", "1s"]).collect();
    // Note: a run that waited forever is killed after WAIT, failing the test.
    let (code, stderr) = env.spawn_watched(&args).wait_exit(WAIT);
    (code, stderr, started.elapsed())
}

#[test]
fn a_run_stopped_while_holding_the_lock_makes_later_runs_give_up_with_2_naming_it() {
    let env = TestEnv::new(2);
    // Note: rollback waits only for a journal that is there (without one there is nothing
    // to replay, and it creates nothing).
    env.write_journal(&[]);
    env.nodes[0].add_rule(Rule::new(Fault::Hang).method("GET"));
    let holder = env
        .std_cmd()
        .args(["create", "g", "--timeout", "60s"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn the holder");
    let holder = Stopped(holder);
    // Note: a run reads the nodes only once it holds the lock and has
    // recorded itself in the lock file.
    assert!(env.nodes[0].wait_for_requests(1, WAIT), "node 1's GET");
    assert!(env.nodes[1].wait_for_requests(1, WAIT), "node 2's GET");
    signal(&holder.0, "STOP");
    let hits = env.total_requests();
    let lock = env.journal_path().with_file_name("journal.json.lock");

    for args in [&["rollback"][..], &["create", "h"]] {
        let (code, stderr, took) = run_behind_the_lock(&env, args);
        assert_eq!(code, Some(2), "{args:?}: {stderr}");
        // Note: a wide margin: the point is "ends", not "ends on time".
        assert!(
            took >= Duration::from_secs(1) && took < Duration::from_secs(30),
            "{args:?} took {took:?}"
        );
        for needle in [
            format!("gave up after 1s waiting for {}", lock.display()),
            format!("pid {}", holder.0.id()),
            "holding it for".to_owned(),
            "Nothing was sent".to_owned(),
        ] {
            assert!(stderr.contains(&needle), "{args:?}: {needle:?} in {stderr}");
        }
    }
    assert_eq!(env.total_requests(), hits, "nothing reached a node");
    assert!(env.pending().is_empty());
    assert!(env.holders("h").is_empty());

    // Resumed, the holder finishes, and its record leaves with it.
    env.nodes[0].clear_rules();
    signal(&holder.0, "CONT");
    env.nodes[0].release_hangs();
    let mut holder = holder;
    assert_eq!(holder.0.wait().expect("wait").code(), Some(0));
    assert_eq!(env.holders("g"), [0, 1]);
    assert_eq!(std::fs::read_to_string(&lock).expect("read"), "");
    env.cmd().arg("rollback").assert().code(0);
}

#[cfg(target_os = "linux")]
#[test]
fn a_holder_that_wrote_no_record_is_named_from_the_kernels_lock_table() {
    let env = TestEnv::new(1);
    // Held by this test process, as another program (or an older
    // cluster-client) would: no record in the lock file.
    let _lock = hold_journal_lock(&env);
    let (code, stderr, _) = run_behind_the_lock(&env, &["create", "g"]);
    assert_eq!(code, Some(2), "{stderr}");
    let named = format!(
        "pid {}, holding it since a time not known",
        std::process::id()
    );
    assert!(stderr.contains(&named), "{named:?} in {stderr}");
    assert_eq!(env.total_requests(), 0);
}
