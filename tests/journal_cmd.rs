//! Black-box tests of `journal list` and `journal forget`: they read and edit the
//! journal under its lock, and never replay it nor send anything.

mod support;

use std::time::Duration;

use predicates::prelude::*;
use serde_json::{Value, json};
use support::{TestEnv, entry, hold_journal_lock, json_stdout};

const WAIT: Duration = Duration::from_secs(10);

/// An entry that has failed `failed` replays with `error`.
fn failed_entry(group: &str, host: &str, action: &str, failed: u32, error: &str) -> Value {
    let mut e = entry(group, host, action);
    e["failed_replays"] = json!(failed);
    e["last_error"] = json!(error);
    e["recorded_at"] = json!("2026-11-23T16:19:31Z");
    e
}

/// A check of a write of ours that may still land: `kind` is `verify` or `watch`.
fn check(kind: &str, group: &str, host: &str, action: &str, until: &str) -> Value {
    let mut e = support::unsettled(group, host, action);
    e["kind"] = json!(kind);
    e["until"] = json!(until);
    e
}

/// A command with no hosts file anywhere: the journal commands need none.
fn journal_cmd(env: &TestEnv) -> assert_cmd::Command {
    std::fs::remove_file(env.hosts_path()).ok();
    let mut cmd = env.cmd();
    cmd.env_remove("CLUSTER_CLIENT_HOSTS");
    cmd
}

#[test]
fn journal_list_shows_every_pending_repair_and_exits_3_without_replaying() {
    let env = TestEnv::new(2);
    let urls = env.urls();
    env.write_journal(&[
        entry("g1", &urls[0], "delete"),
        failed_entry("g2", &urls[1], "create", 4, "HTTP 503"),
        check("verify", "g3", &urls[1], "delete", "2026-12-01T00:05:01Z"),
        check("watch", "g4", &urls[0], "create", "2026-12-01T00:05:02Z"),
    ]);
    let before = std::fs::read(env.journal_path()).expect("journal");
    let output = journal_cmd(&env)
        .args(["journal", "list"])
        .output()
        .expect("run");
    assert_eq!(
        output.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8(output.stdout).expect("utf8");
    let lines: Vec<&str> = stdout.lines().collect();
    // A repair and a verification are pending; a watch is listed but is not.
    assert!(
        lines[0].ends_with(": 3 pending, 1 watch(es) (not pending)"),
        "{stdout}"
    );
    assert!(lines[1].split_whitespace().eq([
        "GROUP", "HOST", "KIND", "REPAIR", "SINCE", "UNTIL", "FAILED", "LAST", "ERROR"
    ]));
    let row = |line: &str| {
        line.split_whitespace()
            .map(str::to_owned)
            .collect::<Vec<_>>()
    };
    let since = "2026-12-01T00:00:01Z";
    assert_eq!(
        row(lines[2]),
        ["g1", &urls[0], "repair", "delete", since, "-", "0", "-"]
    );
    assert_eq!(
        row(lines[3]),
        [
            "g2",
            &urls[1],
            "repair",
            "create",
            "2026-11-23T16:19:31Z",
            "-",
            "4",
            "HTTP",
            "503"
        ]
    );
    assert_eq!(
        row(lines[4]),
        [
            "g3",
            &urls[1],
            "verify",
            "delete",
            since,
            "2026-12-01T00:05:01Z",
            "0",
            "-"
        ]
    );
    assert_eq!(
        row(lines[5]),
        [
            "g4",
            &urls[0],
            "watch",
            "create",
            since,
            "2026-12-01T00:05:02Z",
            "0",
            "-"
        ]
    );
    assert_eq!(lines.len(), 6, "{stdout}");
    assert_eq!(env.total_requests(), 0, "nothing is replayed or sent");
    assert_eq!(std::fs::read(env.journal_path()).expect("journal"), before);
}

#[test]
fn journal_list_json_is_one_object_with_the_documented_fields() {
    let env = TestEnv::new(1);
    let url = env.nodes[0].url();
    env.write_journal(&[
        entry("g1", &url, "delete"),
        failed_entry("g2", &url, "create", 2, "connection refused"),
    ]);
    let output = journal_cmd(&env)
        .args(["journal", "list", "--output", "json"])
        .output()
        .expect("run");
    assert_eq!(output.status.code(), Some(3));
    let journal = env.journal_path().display().to_string();
    assert_eq!(
        json_stdout(&output),
        json!({"journal": journal, "found": true, "pending": [
            {"group": "g1", "host": url, "repair": "delete", "since": "2026-12-01T00:00:01Z",
             "failed_replays": 0, "last_error": null, "kind": "repair"},
            {"group": "g2", "host": url, "repair": "create", "since": "2026-11-23T16:19:31Z",
             "failed_replays": 2, "last_error": "connection refused", "kind": "repair"},
        ]})
    );
    assert_eq!(env.total_requests(), 0);
}

#[test]
fn journal_list_counts_a_verification_as_pending_and_a_watch_not() {
    let env = TestEnv::new(1);
    let url = env.nodes[0].url();
    let until = "2026-12-01T00:05:01Z";
    env.write_journal(&[check("watch", "g", &url, "create", until)]);
    let output = journal_cmd(&env)
        .args(["journal", "list", "--output", "json"])
        .output()
        .expect("run");
    assert_eq!(output.status.code(), Some(0), "a watch is not pending");
    let listed = json_stdout(&output);
    assert_eq!(listed["pending"][0]["kind"], "watch");
    assert_eq!(listed["pending"][0]["until"], until);

    env.write_journal(&[
        check("watch", "g", &url, "create", until),
        check("verify", "h", &url, "delete", until),
    ]);
    let output = journal_cmd(&env)
        .args(["journal", "list", "--output", "json"])
        .output()
        .expect("run");
    assert_eq!(output.status.code(), Some(3), "a verification is pending");
    let listed = json_stdout(&output);
    assert_eq!(listed["pending"][1]["kind"], "verify");
    assert_eq!(listed["pending"][1]["group"], "h");
    assert_eq!(listed["pending"][1]["until"], until);
    assert_eq!(env.total_requests(), 0, "nothing is read or replayed");
}

#[test]
fn journal_list_exits_0_when_nothing_is_pending() {
    let env = TestEnv::new(1);
    let output = journal_cmd(&env)
        .args(["journal", "list", "--output", "json"])
        .output()
        .expect("run");
    assert_eq!(output.status.code(), Some(0));
    let journal = env.journal_path().display().to_string();
    assert_eq!(
        json_stdout(&output),
        json!({"journal": journal, "found": false, "pending": []})
    );
    journal_cmd(&env)
        .args(["journal", "list"])
        .assert()
        .code(0)
        .stdout(predicate::str::contains(format!("no journal at {journal}")));
    env.write_journal(&[]);
    journal_cmd(&env)
        .args(["journal", "list"])
        .assert()
        .code(0)
        .stdout(predicate::str::contains(format!(
            "journal {journal}: nothing pending"
        )));
}

/// Every file and directory under `dir`, relative, sorted.
fn tree(dir: &std::path::Path) -> Vec<String> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(next) = stack.pop() {
        for entry in std::fs::read_dir(&next).expect("list") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                stack.push(path.clone());
            }
            found.push(path.strip_prefix(dir).expect("under").display().to_string());
        }
    }
    found.sort();
    found
}

#[test]
fn read_only_commands_on_a_mistyped_journal_exit_2_name_it_and_create_nothing() {
    let env = TestEnv::new(1);
    env.write_journal(&[entry("g", &env.nodes[0].url(), "delete")]);
    let before = tree(env.dir());
    // The typo: a directory that does not exist.
    let typo = env.dir().join("x/jornal.json");
    let typo = typo.to_str().expect("utf8");
    for args in [
        &["rollback", "--journal", typo][..],
        &["journal", "list", "--journal", typo],
        &["journal", "forget", "g", "--all-hosts", "--journal", typo],
        &["status", "g", "--journal", typo],
        &["create", "g", "--dry-run", "--journal", typo],
    ] {
        let output = env.cmd().args(args).output().expect("run");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(
            stderr.contains(&format!(
                "journal directory {}",
                env.dir().join("x").display()
            )),
            "{args:?}: {stderr}"
        );
        assert_eq!(tree(env.dir()), before, "{args:?} created something");
    }
    assert_eq!(env.total_requests(), 0);
}

#[test]
fn read_only_commands_tell_no_journal_from_nothing_pending_and_create_nothing() {
    let env = TestEnv::new(1);
    let other = env.journal_path().with_file_name("jornal.json");
    let other = other.to_str().expect("utf8");
    let before = tree(env.dir());
    for (args, needle) in [
        (&["rollback", "--journal", other][..], "no journal at"),
        (&["journal", "list", "--journal", other], "no journal at"),
        (
            &["journal", "forget", "g", "--all-hosts", "--journal", other],
            "no journal at",
        ),
    ] {
        let output = env.cmd().args(args).output().expect("run");
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            stdout.contains(needle) && stdout.contains(other),
            "{args:?}: {stdout}"
        );
        assert_eq!(tree(env.dir()), before, "{args:?} created something");
    }
    let report = env.json(&["rollback", "--journal", other], 0);
    assert_eq!(report["found"], false, "{report}");
    assert_eq!(report["journal"], other, "{report}");
    env.cmd()
        .args(["status", "g", "--journal", other])
        .assert()
        .code(4);
    assert_eq!(tree(env.dir()), before, "status created something");
    // With a journal there, rollback takes its lock beside it, and says so.
    env.write_journal(&[]);
    let report = env.json(&["rollback"], 0);
    assert_eq!(report["found"], true, "{report}");
}

#[test]
fn journal_list_escapes_text_from_nodes_and_the_journal() {
    let env = TestEnv::new(1);
    let url = env.nodes[0].url();
    env.write_journal(&[failed_entry(
        "g",
        &url,
        "delete",
        1,
        "\u{1b}[2J\u{1b}[31mFAKE\nforged line\u{202e}",
    )]);
    let output = journal_cmd(&env)
        .args(["journal", "list"])
        .output()
        .expect("run");
    let stdout = String::from_utf8(output.stdout).expect("utf8");
    assert!(
        !stdout.contains('\u{1b}') && !stdout.contains('\u{202e}'),
        "{stdout:?}"
    );
    assert!(
        stdout.contains("\\u{1b}[2J\\u{1b}[31mFAKE\\nforged line\\u{202e}"),
        "{stdout}"
    );
    assert_eq!(
        stdout.lines().count(),
        3,
        "one headline, one header, one row"
    );
}

#[test]
fn journal_forget_removes_the_group_on_every_node_durably_and_prints_each() {
    let env = TestEnv::new(2);
    let urls = env.urls();
    env.write_journal(&[
        entry("g", &urls[0], "delete"),
        entry("h", &urls[0], "delete"),
        failed_entry("g", &urls[1], "create", 3, "HTTP 500"),
    ]);
    let output = journal_cmd(&env)
        .args(["journal", "forget", "g", "--all-hosts"])
        .output()
        .expect("run");
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8(output.stdout).expect("utf8");
    assert!(stdout.contains("removed 2 pending repair(s)"), "{stdout}");
    assert!(
        stdout.contains(&urls[0]) && stdout.contains(&urls[1]),
        "{stdout}"
    );
    let stderr = String::from_utf8(output.stderr).expect("utf8");
    assert_eq!(
        stderr.matches("forgot the pending repair").count(),
        2,
        "{stderr}"
    );
    assert_eq!(
        env.pending(),
        [("h".to_owned(), urls[0].clone(), "delete".to_owned())]
    );
    assert_eq!(env.total_requests(), 0);
}

#[test]
fn journal_forget_with_host_compares_normalised_urls_and_keeps_other_nodes() {
    let env = TestEnv::new(2);
    let urls = env.urls();
    env.write_journal(&[
        entry("g", &urls[0], "delete"),
        entry("g", &urls[1], "delete"),
    ]);
    // `127.0.0.1:PORT/` is the same node as `http://127.0.0.1:PORT`.
    let bare = format!("127.0.0.1:{}/", env.nodes[1].port());
    let report = {
        let output = journal_cmd(&env)
            .args([
                "journal", "forget", "g", "--host", &bare, "--output", "json",
            ])
            .output()
            .expect("run");
        assert_eq!(output.status.code(), Some(0));
        json_stdout(&output)
    };
    let forgotten = report["forgotten"].as_array().expect("forgotten");
    assert_eq!(forgotten.len(), 1, "{report}");
    assert_eq!(forgotten[0]["host"], urls[1].as_str());
    assert_eq!(forgotten[0]["repair"], "delete");
    assert_eq!(report["would_forget"], json!([]));
    assert_eq!(
        env.pending(),
        [("g".to_owned(), urls[0].clone(), "delete".to_owned())]
    );
}

#[test]
fn journal_forget_exits_2_and_writes_nothing_when_nothing_matches() {
    let env = TestEnv::new(2);
    let urls = env.urls();
    env.write_journal(&[entry("g", &urls[0], "delete")]);
    let before = std::fs::read(env.journal_path()).expect("journal");
    for args in [
        &["journal", "forget", "other", "--all-hosts"][..],
        &["journal", "forget", "g", "--host", &urls[1]],
    ] {
        journal_cmd(&env)
            .args(args)
            .assert()
            .code(2)
            .stdout(predicate::str::contains("matched"));
        assert_eq!(std::fs::read(env.journal_path()).expect("journal"), before);
    }
    journal_cmd(&env)
        .args(["journal", "forget", "g", "--host", "http://user:pw@x/"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("--host"));
    assert_eq!(env.total_requests(), 0);
}

#[test]
fn forgetting_a_decommissioned_nodes_repair_lets_the_group_go_ahead() {
    let env = TestEnv::new(2);
    // A node that is gone for good: nothing listens on its port any more.
    let gone = cluster_client_gone_node();
    env.write_journal(&[entry("g", &gone, "delete")]);
    env.cmd()
        .args(["create", "g"])
        .assert()
        .code(3)
        .stdout(predicate::str::contains("refused"));
    journal_cmd(&env)
        .args(["journal", "forget", "g", "--host", &gone])
        .assert()
        .code(0);
    env.write_hosts(&env.urls().join("\n"));
    env.cmd().args(["create", "g"]).assert().code(0);
    assert_eq!(env.holders("g"), [0, 1]);
    assert!(env.pending().is_empty());
}

/// The base URL of a node that was started and stopped: connections to it are refused.
fn cluster_client_gone_node() -> String {
    let node = support::TestNode::start();
    let url = node.url();
    node.stop();
    url
}

#[test]
fn journal_commands_wait_for_the_lock_like_every_run() {
    let env = TestEnv::new(1);
    env.write_journal(&[entry("g", &env.nodes[0].url(), "delete")]);
    let lock = hold_journal_lock(&env);
    let mut run = env.spawn_watched(&["journal", "forget", "g", "--all-hosts"]);
    run.wait_for_line("waiting for it to finish", WAIT);
    assert_eq!(
        env.pending().len(),
        1,
        "nothing is removed while the lock is held"
    );
    drop(lock);
    let (code, stderr) = run.wait_exit(WAIT);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(env.pending().is_empty());
}

#[test]
fn journal_commands_refuse_a_journal_others_may_write() {
    use std::os::unix::fs::PermissionsExt;
    let env = TestEnv::new(1);
    env.write_journal(&[entry("g", &env.nodes[0].url(), "delete")]);
    std::fs::set_permissions(env.journal_path(), std::fs::Permissions::from_mode(0o666))
        .expect("chmod");
    let before = std::fs::read(env.journal_path()).expect("journal");
    for args in [&["journal", "list"][..], &["journal", "forget", "g"]] {
        journal_cmd(&env).args(args).assert().code(2);
        assert_eq!(std::fs::read(env.journal_path()).expect("journal"), before);
    }
}

#[test]
fn journal_forget_without_host_or_all_hosts_lists_and_removes_nothing() {
    let env = TestEnv::new(2);
    let urls = env.urls();
    env.write_journal(&[
        entry("g", &urls[0], "delete"),
        entry("g", &urls[1], "delete"),
    ]);
    let before = std::fs::read(env.journal_path()).expect("journal");
    let output = journal_cmd(&env)
        .args(["journal", "forget", "g"])
        .output()
        .expect("run");
    assert_eq!(output.status.code(), Some(2));
    let stdout = String::from_utf8(output.stdout).expect("utf8");
    assert!(
        stdout.contains("removed nothing") && stdout.contains("--all-hosts"),
        "{stdout}"
    );
    assert!(
        stdout.contains(&urls[0]) && stdout.contains(&urls[1]),
        "{stdout}"
    );
    let report = env.json(&["journal", "forget", "g"], 2);
    assert_eq!(report["forgotten"], json!([]));
    assert_eq!(report["would_forget"].as_array().map(Vec::len), Some(2));
    assert_eq!(std::fs::read(env.journal_path()).expect("journal"), before);
}

#[test]
fn journal_forget_dry_run_prints_what_it_would_remove_and_changes_nothing() {
    let env = TestEnv::new(2);
    let urls = env.urls();
    env.write_journal(&[
        entry("g", &urls[0], "delete"),
        entry("g", &urls[1], "delete"),
    ]);
    let before = std::fs::read(env.journal_path()).expect("journal");
    journal_cmd(&env)
        .args(["journal", "forget", "g", "--host", &urls[1], "--dry-run"])
        .assert()
        .code(0)
        .stdout(predicate::str::contains("would remove 1 pending repair(s)"));
    let report = env.json(&["journal", "forget", "g", "--all-hosts", "--dry-run"], 0);
    assert_eq!(report["would_forget"].as_array().map(Vec::len), Some(2));
    assert_eq!(std::fs::read(env.journal_path()).expect("journal"), before);
}

#[test]
fn a_hosts_url_where_host_was_meant_removes_nothing_and_points_at_host() {
    let env = TestEnv::new(2);
    let urls = env.urls();
    env.write_journal(&[
        entry("fg", &urls[0], "delete"),
        entry("fg", &urls[1], "delete"),
    ]);
    let before = std::fs::read(env.journal_path()).expect("journal");
    // The typo of the issue: `--hosts URL` meant `--host URL`.
    journal_cmd(&env)
        .args(["journal", "forget", "fg", "--hosts", &urls[1]])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("--host"));
    journal_cmd(&env)
        .args(["--hosts", &urls[1], "journal", "forget", "fg"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("--hosts"));
    assert_eq!(std::fs::read(env.journal_path()).expect("journal"), before);
    // Where --hosts is taken, a URL is refused with the same hint.
    env.cmd()
        .args(["status", "fg", "--hosts", &urls[1]])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("did you mean --host?"));
    assert_eq!(env.total_requests(), 0);
}
