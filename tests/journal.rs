//! Black-box tests of the journal: unreadable journals, locking and concurrent runs.

mod support;

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::time::{Duration, Instant};

use predicates::prelude::*;
use support::{Fault, Rule, TestEnv, hold_journal_lock, sigterm};

#[test]
fn unreadable_journal_is_left_byte_for_byte_and_nothing_is_sent() {
    let env = TestEnv::new(2);
    std::fs::create_dir_all(env.journal_path().parent().expect("dir")).expect("mkdir");
    let cases: [&[u8]; 4] = [
        b"{\"version\": 1, \"entries\": [{\"group\": \"g\", \"host\"",
        b"\xff\xfe not json at all",
        b"{\"version\": 1, \"entries\": [{\"group\": 7}]}",
        b"",
    ];
    for bytes in cases {
        support::write_private(&env.journal_path(), bytes);
        for args in [
            &["create", "g"][..],
            &["delete", "g"],
            &["status", "g"],
            &["rollback"],
        ] {
            env.cmd().args(args).assert().code(2).stderr(
                predicate::str::contains(env.journal_path().display().to_string())
                    .and(predicate::str::contains("left untouched")),
            );
            assert_eq!(
                std::fs::read(env.journal_path()).expect("read"),
                bytes,
                "{args:?}"
            );
        }
    }
    assert_eq!(env.total_requests(), 0);
}

#[test]
fn journal_from_a_newer_version_is_refused_unchanged() {
    let env = TestEnv::new(1);
    std::fs::create_dir_all(env.journal_path().parent().expect("dir")).expect("mkdir");
    let text = r#"{"version": 4, "entries": [], "future": true}"#;
    support::write_private(&env.journal_path(), text.as_bytes());
    env.cmd()
        .arg("rollback")
        .assert()
        .code(2)
        .stderr(predicate::str::contains("format version 4"));
    assert_eq!(
        std::fs::read_to_string(env.journal_path()).expect("read"),
        text
    );
    assert_eq!(env.total_requests(), 0);
}

#[test]
fn a_run_that_has_to_wait_for_the_lock_says_so() {
    let env = TestEnv::new(1);
    let dir = env.journal_path().parent().expect("dir").to_owned();
    std::fs::create_dir_all(&dir).expect("mkdir");
    let lock = support::private_file(&dir.join("journal.json.lock"));
    lock.lock().expect("hold the lock");

    let mut child = env
        .std_cmd()
        .args(["create", "g"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut stderr = BufReader::new(child.stderr.take().expect("stderr"));
    let mut line = String::new();
    stderr.read_line(&mut line).expect("read stderr");
    assert!(line.contains("waiting for it to finish"), "{line}");
    assert_eq!(env.total_requests(), 0, "nothing is sent while waiting");

    lock.unlock().expect("release");
    assert_eq!(child.wait().expect("wait").code(), Some(0));
    assert_eq!(env.holders("g"), vec![0]);
}

#[test]
fn concurrent_runs_lose_no_journal_entry() {
    let env = TestEnv::new(3);
    // Every create fails on node 3, and every undo on node 1 fails: each
    // run leaves exactly one pending entry for its own group. Note: node 3
    // answers a final 4xx, so it applied nothing and is not verified.
    env.nodes[2].add_rule(Rule::new(Fault::Status(422)).method("POST"));
    env.nodes[0].add_rule(Rule::new(Fault::Status(500)).method("DELETE"));
    let groups: Vec<String> = (0..8).map(|i| format!("g{i}")).collect();
    let children: Vec<_> = groups
        .iter()
        .map(|g| env.spawn_quiet(&["create", g]))
        .collect();
    for mut child in children {
        assert_eq!(child.wait().expect("wait").code(), Some(3));
    }
    let mut pending = env.pending();
    pending.sort();
    let expected: Vec<_> = groups
        .iter()
        .map(|g| (g.clone(), env.nodes[0].url(), "delete".to_owned()))
        .collect();
    assert_eq!(pending, expected);
    assert!(env.verifying().is_empty());

    env.nodes[0].clear_rules();
    env.cmd().arg("rollback").assert().code(0);
    assert!(env.pending().is_empty());
    for g in &groups {
        assert!(env.holders(g).is_empty(), "{g}");
    }
}

#[test]
fn a_signal_while_waiting_for_the_lock_ends_the_run_with_2_and_sends_nothing() {
    const WAIT: Duration = Duration::from_secs(30);
    let env = TestEnv::new(2);
    // Note: rollback waits only for a journal that is there; status reads it without the lock.
    env.write_journal(&[]);
    let _lock = hold_journal_lock(&env);
    for args in [&["create", "g"][..], &["rollback"]] {
        let mut run = env.spawn_watched(args);
        run.wait_for_line("waiting for it to finish", WAIT);
        let signalled = Instant::now();
        sigterm(&run.child);
        let (code, stderr) = run.wait_exit(WAIT);
        assert_eq!(code, Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains("nothing was sent"), "{args:?}: {stderr}");
        // Note: a wide margin; the wait polls at most every 200 ms.
        assert!(
            signalled.elapsed() < Duration::from_secs(10),
            "{args:?} took {:?} to stop",
            signalled.elapsed()
        );
    }
    assert_eq!(
        env.total_requests(),
        0,
        "nothing is sent by an interrupted wait"
    );
    assert!(env.holders("g").is_empty());
    assert!(env.pending().is_empty());
}
