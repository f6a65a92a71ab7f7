//! Trust boundaries, as ssh's StrictModes draws them: the journal, its lock, the hosts file,
//! the CA file and the token file, and every directory and link on their way, are refused
//! before anything is sent when someone other than the user or root could have written them
//! (or, for the private ones, read them); the token goes only to the configured base URLs;
//! text from nodes and the journal cannot drive the terminal.
//!
//! Tests that need another user chown to `nobody` or run the binary as a user made with
//! useradd; both need root (as CI runs), and each says so when it skips.

mod support;

use std::os::unix::fs::{PermissionsExt, chown, lchown, symlink};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use predicates::prelude::*;
use support::{OTHER_UID, TestEnv, entry, running_as_root};

fn chmod(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
}

fn skip_unless_root(test: &str) -> bool {
    if running_as_root() {
        return false;
    }
    #[allow(clippy::print_stderr)]
    {
        eprintln!("skipping {test}: only root can chown a file to another user (CI runs as root)");
    }
    true
}

/// Every command reads the journal; each must refuse it with exit 2, naming `path` and
/// `words`, and send nothing to any node.
fn assert_refused_before_any_request(env: &TestEnv, path: &Path, words: &[&str]) {
    assert_refused_by(
        env,
        path,
        words,
        &[&["status", "g"][..], &["journal", "list"]],
    );
}

/// As [`assert_refused_before_any_request`], for a lock file: only the commands that take the
/// lock read it (status and journal list read the journal without it).
fn assert_lock_refused_before_any_request(env: &TestEnv, path: &Path, words: &[&str]) {
    assert_refused_by(env, path, words, &[]);
}

fn assert_refused_by(env: &TestEnv, path: &Path, words: &[&str], readers: &[&[&str]]) {
    let writers: [&[&str]; 3] = [&["create", "h"], &["delete", "h"], &["rollback"]];
    for args in writers.iter().chain(readers) {
        let assert = env.cmd().args(*args).assert().code(2).stderr(
            predicate::str::contains(path.display().to_string())
                .and(predicate::str::contains("refusing")),
        );
        let stderr = String::from_utf8_lossy(&assert.get_output().stderr).into_owned();
        for word in words {
            assert!(stderr.contains(word), "{args:?}: no {word:?} in {stderr}");
        }
        assert_eq!(env.total_requests(), 0, "{args:?} sent requests");
    }
}

/// A cluster of two nodes and a journal with one pending delete of `g` on node 0.
fn env_with_pending_delete() -> TestEnv {
    let env = TestEnv::new(2);
    env.seed("g", &[0]);
    env.write_journal(&[entry("g", &env.urls()[0], "delete")]);
    env
}

// --- The journal, its directory and the lock file are ours or refused ---

#[test]
fn a_journal_owned_by_another_user_is_refused_before_any_request() {
    if skip_unless_root("a_journal_owned_by_another_user_is_refused_before_any_request") {
        return;
    }
    let env = env_with_pending_delete();
    chown(env.journal_path(), Some(OTHER_UID), None).expect("chown");
    assert_refused_before_any_request(&env, &env.journal_path(), &["owned by uid 65534", "chown"]);
    assert!(
        env.nodes[0].has_group("g"),
        "the planted delete was applied"
    );
}

#[test]
fn a_group_or_world_writable_journal_is_refused_before_any_request() {
    for mode in [0o620, 0o602, 0o666] {
        let env = env_with_pending_delete();
        chmod(&env.journal_path(), mode);
        assert_refused_before_any_request(
            &env,
            &env.journal_path(),
            &[&format!("{mode:04o}"), "chmod 600"],
        );
    }
}

#[test]
fn a_group_or_world_writable_journal_directory_is_refused_even_when_sticky() {
    for (mode, fix) in [
        (0o770, "`chmod 700"),
        (0o707, "a directory only you can write"),
        (0o1777, "a directory only you can write"),
    ] {
        let env = env_with_pending_delete();
        let dir = env.journal_path().parent().expect("dir").to_owned();
        chmod(&dir, mode);
        assert_refused_before_any_request(&env, &dir, &[&format!("{mode:04o}"), fix]);
    }
}

#[test]
fn a_journal_directory_owned_by_another_user_is_refused() {
    if skip_unless_root("a_journal_directory_owned_by_another_user_is_refused") {
        return;
    }
    let env = env_with_pending_delete();
    let dir = env.journal_path().parent().expect("dir").to_owned();
    chown(&dir, Some(OTHER_UID), None).expect("chown");
    assert_refused_before_any_request(&env, &dir, &["owned by uid 65534"]);
}

#[test]
fn a_sticky_world_writable_parent_of_our_own_directory_is_accepted() {
    let env = env_with_pending_delete();
    // Like /tmp: anyone may create entries in it, but not in our 0700 directory inside.
    chmod(env.dir(), 0o1777);
    env.cmd().args(["rollback"]).assert().success();
    assert!(!env.nodes[0].has_group("g"));
}

#[test]
fn directories_cluster_client_creates_are_0700_and_the_lock_file_0600() {
    let env = TestEnv::new(1);
    let journal = env.dir().join("a").join("b").join("journal.json");
    env.cmd()
        .args(["create", "g", "--journal"])
        .arg(&journal)
        .assert()
        .code(0);
    for dir in [env.dir().join("a"), env.dir().join("a").join("b")] {
        let mode = std::fs::metadata(&dir).expect("dir").permissions().mode() & 0o7777;
        assert_eq!(mode, 0o700, "{}", dir.display());
    }
    let lock = journal.with_file_name("journal.json.lock");
    let mode = std::fs::metadata(&lock).expect("lock").permissions().mode() & 0o7777;
    assert_eq!(mode, 0o600);
}

#[test]
fn a_symlinked_lock_file_is_refused_and_its_target_is_not_created() {
    let env = env_with_pending_delete();
    let victim = env.dir().join("victim");
    let lock = env.journal_path().with_file_name("journal.json.lock");
    symlink(&victim, &lock).expect("symlink");
    assert_lock_refused_before_any_request(&env, &lock, &["symbolic link", "rm "]);
    assert!(!victim.exists(), "the lock's symlink target was created");
}

#[test]
fn a_lock_file_owned_by_another_user_is_refused() {
    if skip_unless_root("a_lock_file_owned_by_another_user_is_refused") {
        return;
    }
    let env = env_with_pending_delete();
    let lock = env.journal_path().with_file_name("journal.json.lock");
    std::fs::write(&lock, "").expect("lock");
    chmod(&lock, 0o600);
    chown(&lock, Some(OTHER_UID), None).expect("chown");
    assert_lock_refused_before_any_request(&env, &lock, &["owned by uid 65534"]);
}

#[test]
fn a_symlinked_journal_is_refused_even_when_the_link_is_ours() {
    let env = env_with_pending_delete();
    let real = env.dir().join("elsewhere.json");
    std::fs::rename(env.journal_path(), &real).expect("move");
    symlink(&real, env.journal_path()).expect("symlink");
    assert_refused_before_any_request(&env, &env.journal_path(), &["symbolic link"]);
    if running_as_root() {
        // Note: a link owned by another user is refused the same way.
        lchown(env.journal_path(), Some(OTHER_UID), None).expect("lchown");
        assert_refused_before_any_request(&env, &env.journal_path(), &["symbolic link"]);
    }
}

// --- The token file ---

const TOKEN: &str = "trust-test-token-0123456789";

fn token_env() -> (TestEnv, PathBuf) {
    let env = TestEnv::new(1);
    let file = env.dir().join("token");
    support::write_secret(&file, &format!("{TOKEN}\n"));
    (env, file)
}

fn assert_token_refused(env: &TestEnv, file: &Path, words: &[&str]) {
    let assert = env
        .cmd()
        .args(["status", "g", "--token-file"])
        .arg(file)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("refusing --token-file"));
    let stderr = String::from_utf8_lossy(&assert.get_output().stderr).into_owned();
    for word in words {
        assert!(stderr.contains(word), "no {word:?} in {stderr}");
    }
    assert!(!stderr.contains(TOKEN), "{stderr}");
    assert_eq!(env.total_requests(), 0);
}

#[test]
fn a_token_file_group_or_others_may_read_or_write_is_refused() {
    for mode in [0o644, 0o640, 0o604, 0o620, 0o602] {
        let (env, file) = token_env();
        chmod(&file, mode);
        assert_token_refused(
            &env,
            &file,
            &[
                &format!("{mode:04o}"),
                &format!("chmod 600 {}", file.display()),
            ],
        );
    }
}

#[test]
fn a_private_token_file_is_read_and_sent() {
    for mode in [0o600, 0o400] {
        let (env, file) = token_env();
        chmod(&file, mode);
        env.cmd()
            .args(["status", "g", "--token-file"])
            .arg(&file)
            .assert()
            .code(4);
        let expected = format!("Bearer {TOKEN}");
        assert_eq!(
            env.nodes[0].requests()[0].header("authorization"),
            Some(expected.as_str())
        );
    }
}

#[test]
fn a_token_file_larger_than_64_kib_is_refused() {
    let (env, file) = token_env();
    support::write_secret(&file, &"x".repeat(64 * 1024 + 1));
    assert_token_refused(&env, &file, &["64 KiB"]);
}

#[test]
fn a_token_file_reached_through_our_own_symlinks_is_accepted() {
    // The shape of a Kubernetes Secret mount: token -> ..data/token, ..data -> ..v1.
    let (env, file) = token_env();
    let mount = env.dir().join("mount");
    std::fs::create_dir_all(mount.join("..v1")).expect("mkdir");
    std::fs::rename(&file, mount.join("..v1").join("token")).expect("move");
    symlink("..v1", mount.join("..data")).expect("symlink");
    symlink("..data/token", mount.join("token")).expect("symlink");
    env.cmd()
        .args(["status", "g", "--token-file"])
        .arg(mount.join("token"))
        .assert()
        .code(4);
    assert_eq!(env.total_requests(), 1);
}

/// An optional Kubernetes Secret volume without its Secret: the mount directory, empty.
fn empty_secret_mount(env: &TestEnv) -> PathBuf {
    let mount = env.dir().join("secret-mount");
    std::fs::create_dir(&mount).expect("mkdir");
    mount
}

#[test]
fn an_optional_token_file_missing_from_its_directory_means_no_token() {
    let env = TestEnv::new(1);
    let token = empty_secret_mount(&env).join("token");
    // As the pods set it: both variables, and -v to see the info line.
    env.cmd()
        .env("CLUSTER_CLIENT_TOKEN_FILE", &token)
        .env("CLUSTER_CLIENT_TOKEN_FILE_OPTIONAL", "true")
        .args(["-v", "status", "g"])
        .assert()
        .code(4)
        .stderr(predicate::str::contains(format!(
            "--token-file {} is not there",
            token.display()
        )));
    let requests = env.nodes[0].requests();
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].header("authorization"), None);
}

#[test]
fn an_optional_token_file_that_is_there_is_read_and_checked_as_always() {
    let (env, file) = token_env();
    env.cmd()
        .args(["status", "g", "--token-file-optional", "--token-file"])
        .arg(&file)
        .assert()
        .code(4);
    let expected = format!("Bearer {TOKEN}");
    assert_eq!(
        env.nodes[0].requests()[0].header("authorization"),
        Some(expected.as_str())
    );
    chmod(&file, 0o644);
    let assert = env
        .cmd()
        .args(["status", "g", "--token-file-optional", "--token-file"])
        .arg(&file)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("refusing --token-file"));
    assert!(!String::from_utf8_lossy(&assert.get_output().stderr).contains(TOKEN));
    assert_eq!(env.total_requests(), 1, "nothing sent after the refusal");
}

#[test]
fn a_missing_token_file_is_an_error_unless_optional_and_its_directory_exists() {
    let env = TestEnv::new(1);
    let in_mount = empty_secret_mount(&env).join("token");
    let wrong_directory = env.dir().join("no-such-dir").join("token");
    for (file, optional) in [
        (&in_mount, false),
        (&wrong_directory, false),
        (&wrong_directory, true),
    ] {
        let mut cmd = env.cmd();
        if optional {
            cmd.arg("--token-file-optional");
        }
        cmd.args(["status", "g", "--token-file"])
            .arg(file)
            .assert()
            .code(2)
            .stderr(predicate::str::contains(file.display().to_string()));
    }
    // The flag alone, without a token file to make optional, is a usage error.
    env.cmd()
        .args(["status", "g", "--token-file-optional"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("--token-file"));
    assert_eq!(env.total_requests(), 0);
}

#[test]
fn a_token_file_symlink_owned_by_another_user_is_refused() {
    if skip_unless_root("a_token_file_symlink_owned_by_another_user_is_refused") {
        return;
    }
    let (env, file) = token_env();
    // The final link and, separately, a directory link on the way.
    let link = env.dir().join("token-link");
    symlink(&file, &link).expect("symlink");
    lchown(&link, Some(OTHER_UID), None).expect("lchown");
    assert_token_refused(&env, &link, &["owned by uid 65534", "token-link"]);

    let dir_link = env.dir().join("secrets");
    symlink(env.dir(), &dir_link).expect("symlink");
    lchown(&dir_link, Some(OTHER_UID), None).expect("lchown");
    assert_token_refused(&env, &dir_link.join("token"), &["owned by uid 65534"]);
}

#[test]
fn a_token_file_owned_by_another_user_is_refused() {
    if skip_unless_root("a_token_file_owned_by_another_user_is_refused") {
        return;
    }
    let (env, file) = token_env();
    chown(&file, Some(OTHER_UID), None).expect("chown");
    assert_token_refused(&env, &file, &["owned by uid 65534", "chown"]);
}

// --- Replay sends the token only where the configuration sends it ---

/// One node in the hosts file and one `foreign` node that only the journal names (with a
/// pending delete of `g`), and a private token file.
struct Foreign {
    env: TestEnv,
    foreign: support::TestNode,
    token_file: PathBuf,
}

fn foreign_journal() -> Foreign {
    let env = TestEnv::new(1);
    let foreign = support::TestNode::start();
    foreign.insert_group("g");
    env.write_journal(&[entry("g", &foreign.url(), "delete")]);
    let token_file = env.dir().join("token");
    support::write_secret(&token_file, TOKEN);
    Foreign {
        env,
        foreign,
        token_file,
    }
}

fn bearer() -> String {
    format!("Bearer {TOKEN}")
}

#[test]
fn a_planted_journal_naming_a_foreign_host_sends_it_nothing() {
    // Whoever could write the journal: another user (when we are root and can chown), or
    // anyone at all when the journal is world-writable.
    let f = foreign_journal();
    chmod(&f.env.journal_path(), 0o666);
    if running_as_root() {
        chown(f.env.journal_path(), Some(OTHER_UID), None).expect("chown");
    }
    for args in [&["status", "g"][..], &["rollback"], &["create", "h"]] {
        f.env
            .cmd()
            .args(args)
            .arg("--token-file")
            .arg(&f.token_file)
            .assert()
            .code(2);
    }
    assert!(
        f.foreign.requests().is_empty(),
        "the foreign host was contacted"
    );
    assert!(f.foreign.has_group("g"));
    assert_eq!(f.env.total_requests(), 0);
}

#[test]
fn a_repair_for_a_host_not_in_the_hosts_file_is_named_and_sent_without_the_token() {
    let f = foreign_journal();
    let assert = f
        .env
        .cmd()
        .args(["create", "h", "--token-file"])
        .arg(&f.token_file)
        .assert();
    let stderr = String::from_utf8_lossy(&assert.get_output().stderr).into_owned();
    assert!(
        stderr.contains(&f.foreign.url()) && stderr.contains("not in the hosts file"),
        "{stderr}"
    );
    assert!(stderr.contains("--trust-journal-hosts"), "{stderr}");
    let requests = f.foreign.requests();
    assert_eq!(requests.len(), 1, "the repair itself is still sent");
    assert_eq!(requests[0].method, "DELETE");
    assert_eq!(
        requests[0].header("authorization"),
        None,
        "the token leaked"
    );
    // The configured node still gets the token.
    let own = f.env.nodes[0].requests();
    assert_eq!(own[0].header("authorization"), Some(bearer().as_str()));
}

#[test]
fn trust_journal_hosts_sends_the_token_to_hosts_the_journal_names() {
    for via_env in [false, true] {
        let f = foreign_journal();
        let mut cmd = f.env.cmd();
        cmd.args(["create", "h", "--token-file"]).arg(&f.token_file);
        if via_env {
            cmd.env("CLUSTER_CLIENT_TRUST_JOURNAL_HOSTS", "true");
        } else {
            cmd.arg("--trust-journal-hosts");
        }
        cmd.assert().code(0);
        let requests = f.foreign.requests();
        assert_eq!(requests[0].header("authorization"), Some(bearer().as_str()));
        assert!(!f.foreign.has_group("g"));
    }
}

#[test]
fn rollback_without_a_hosts_file_sends_the_token_to_the_journals_hosts() {
    // Cron's case: no hosts file, so the (checked, private) journal names the nodes.
    let f = foreign_journal();
    f.env
        .cmd()
        .env_remove("CLUSTER_CLIENT_HOSTS")
        .args(["rollback", "--token-file"])
        .arg(&f.token_file)
        .assert()
        .code(0);
    let requests = f.foreign.requests();
    assert_eq!(requests[0].header("authorization"), Some(bearer().as_str()));
    assert!(!f.foreign.has_group("g"));
}

#[test]
fn rollback_with_a_hosts_file_keeps_the_token_to_its_nodes() {
    let f = foreign_journal();
    f.foreign
        .add_rule(support::Rule::new(support::Fault::Status(401)).method("DELETE"));
    f.env
        .cmd()
        .args(["rollback", "--token-file"])
        .arg(&f.token_file)
        .assert()
        .code(3)
        .stderr(predicate::str::contains("not in the hosts file"));
    assert_eq!(f.foreign.requests()[0].header("authorization"), None);
    assert_eq!(f.env.pending().len(), 1, "the repair stays pending");
}

#[test]
fn the_plain_http_warning_comes_once_and_names_every_node() {
    let env = TestEnv::new(2);
    let token_file = env.dir().join("token");
    support::write_secret(&token_file, TOKEN);
    let assert = env
        .cmd()
        .args(["create", "g", "--token-file"])
        .arg(&token_file)
        .assert()
        .code(0);
    let stderr = String::from_utf8_lossy(&assert.get_output().stderr).into_owned();
    let lines: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains("plain http://"))
        .collect();
    assert_eq!(lines.len(), 1, "{stderr}");
    for url in env.urls() {
        assert!(lines[0].contains(&url), "{url} not named: {stderr}");
    }
}

#[test]
fn the_token_goes_to_the_listed_base_urls_and_not_to_other_paths_of_their_host() {
    // Two nodes behind one path-routed gateway: /a is in the hosts file, /b only in the
    // journal. They share scheme, host and port, and are still two nodes.
    let env = TestEnv::new(1);
    let gateway = env.nodes[0].url();
    env.write_hosts(&format!("{gateway}/a\n"));
    env.write_journal(&[entry("g", &format!("{gateway}/b"), "delete")]);
    let token_file = env.dir().join("token");
    support::write_secret(&token_file, TOKEN);
    // Note: a create replays the journal first; status only reads.
    let assert = env
        .cmd()
        .args(["create", "h", "--token-file"])
        .arg(&token_file)
        .assert();
    let stderr = String::from_utf8_lossy(&assert.get_output().stderr).into_owned();
    assert!(
        stderr.contains(&format!("{gateway}/b: not in the hosts file")),
        "{stderr}"
    );
    let requests = env.nodes[0].requests();
    let to = |prefix: &str| {
        requests
            .iter()
            .filter(|r| r.path.starts_with(prefix))
            .map(|r| r.header("authorization").map(str::to_owned))
            .collect::<Vec<_>>()
    };
    let to_b = to("/b/");
    assert!(
        !to_b.is_empty() && to_b.iter().all(Option::is_none),
        "the repair for /b went without the token: {to_b:?}"
    );
    let to_a = to("/a/");
    assert!(
        !to_a.is_empty() && to_a.iter().all(|t| t.as_deref() == Some(bearer().as_str())),
        "every request to /a carried it: {to_a:?}"
    );
}

#[test]
fn a_redirect_to_another_nodes_path_on_the_same_gateway_is_not_followed() {
    // /a answers its DELETE with 307 to /b's collection: following it would send our DELETE
    // and our token to node /b, which the hosts file does not name.
    let env = TestEnv::new(1);
    let gateway = env.nodes[0].url();
    env.write_hosts(&format!("{gateway}/a\n"));
    let present = support::Fault::Body {
        status: 200,
        content_type: "application/json".to_owned(),
        body: br#"{"groupId":"g"}"#.to_vec(),
    };
    env.nodes[0].add_rule(support::Rule::new(present).method("GET"));
    env.nodes[0].add_rule(
        support::Rule::new(support::Fault::RedirectStatus {
            status: 307,
            location: "/b/v1/group/".to_owned(),
        })
        .method("DELETE"),
    );
    let token_file = env.dir().join("token");
    support::write_secret(&token_file, TOKEN);
    let output = env
        .cmd()
        .args(["delete", "g", "--output", "json", "--token-file"])
        .arg(&token_file)
        .output()
        .expect("run");
    assert_eq!(output.status.code(), Some(1));
    let report = support::json_stdout(&output);
    assert_eq!(support::results(&report), ["failed"]);
    let error = report["nodes"][0]["error"].as_str().unwrap_or_default();
    assert!(error.contains("leads away from the path asked"), "{error}");
    let paths: Vec<String> = env.nodes[0]
        .requests()
        .into_iter()
        .map(|r| r.path)
        .collect();
    assert_eq!(
        paths,
        ["/a/v1/group/g/", "/a/v1/group/"],
        "nothing went to /b"
    );
}

// Note: where the token goes through a proxy, tests/proxy.rs.

// --- Terminal safety ---

const HOSTILE: &str = "\u{1b}[2J\u{1b}[31mFAKE: all repairs applied\n\u{202e}";

#[test]
fn a_stored_last_error_never_reaches_stderr_raw() {
    // The binary's own logs and errors: a journal entry's text is escaped wherever it is
    // quoted, and JSON keeps it exact.
    let env = TestEnv::new(1);
    // Note: every request fails, so that the read that could settle a 500
    // answer to the DELETE fails too and the repair stays pending.
    env.nodes[0].add_rule(support::Rule::new(support::Fault::Status(500)));
    let mut stored = entry("g", &env.urls()[0], "delete");
    stored["last_error"] = serde_json::Value::from(HOSTILE);
    env.write_journal(&[stored]);
    let output = env.cmd().args(["-vvv", "rollback"]).output().expect("run");
    assert_eq!(output.status.code(), Some(3));
    for stream in [&output.stdout, &output.stderr] {
        let text = String::from_utf8_lossy(stream);
        assert!(
            !text.contains('\u{1b}') && !text.contains('\u{202e}'),
            "{text:?}"
        );
    }
}

#[test]
fn a_journal_in_tmp_is_refused_with_a_private_directory_never_a_chmod_of_tmp() {
    // The issue's case: `--journal /tmp/journal.json`, whatever user runs it.
    let env = TestEnv::new(1);
    let assert = env
        .cmd()
        .args(["create", "g", "--journal", "/tmp/journal.json"])
        .assert()
        .code(2);
    let stderr = String::from_utf8_lossy(&assert.get_output().stderr).into_owned();
    assert!(
        stderr.contains("refusing journal directory /tmp"),
        "{stderr}"
    );
    assert!(
        !stderr.contains("chmod 700 /tmp") && !stderr.contains("chown"),
        "{stderr}"
    );
    assert!(
        stderr.contains("a directory only you can write"),
        "{stderr}"
    );
    assert_eq!(env.total_requests(), 0);
}

// --- Helpers for the checks on every file and directory on the way ---

/// Skips (saying so) unless `unshare` can make a mount namespace, which needs root.
fn skip_unless_mount_namespaces(test: &str) -> bool {
    let works = running_as_root()
        && std::process::Command::new("unshare")
            .args(["--mount", "true"])
            .status()
            .is_ok_and(|s| s.success());
    if !works {
        #[allow(clippy::print_stderr)]
        {
            eprintln!(
                "skipping {test}: it needs root and `unshare --mount` for a read-only bind \
                 mount (CI runs as root)"
            );
        }
    }
    !works
}

/// A second local user, `(uid, gid)`, made with useradd the first time (CI runs as root);
/// `None`, saying so, when the tests do not run as root.
fn second_user(test: &str) -> Option<(u32, u32)> {
    if skip_unless_root(test) {
        return None;
    }
    static USER: OnceLock<(u32, u32)> = OnceLock::new();
    Some(*USER.get_or_init(|| {
        const NAME: &str = "cc-trust-test";
        let id = |flag: &str| {
            let out = std::process::Command::new("id")
                .args([flag, NAME])
                .output()
                .expect("run id");
            out.status
                .success()
                .then(|| {
                    String::from_utf8_lossy(&out.stdout)
                        .trim()
                        .parse::<u32>()
                        .ok()
                })
                .flatten()
        };
        if id("-u").is_none() {
            let status = std::process::Command::new("useradd")
                .args(["--system", "--user-group", "--no-create-home", "--shell"])
                .args(["/usr/sbin/nologin", NAME])
                .status()
                .expect("run useradd");
            // Note: 9 is "already exists": another test binary made it first.
            assert!(
                status.success() || status.code() == Some(9),
                "useradd: {status}"
            );
        }
        (id("-u").expect("uid"), id("-g").expect("gid"))
    }))
}

/// Runs the binary with `args` and asserts a refusal: exit 2, stderr naming each of
/// `words`, nothing sent to any node, and the token never shown.
fn assert_refused(env: &TestEnv, cmd: &mut assert_cmd::Command, words: &[&str]) {
    let before = env.total_requests();
    let assert = cmd.assert().code(2);
    let stderr = String::from_utf8_lossy(&assert.get_output().stderr).into_owned();
    for word in words {
        assert!(stderr.contains(word), "no {word:?} in {stderr}");
    }
    assert!(stderr.contains("refusing"), "{stderr}");
    assert!(!stderr.contains(TOKEN), "{stderr}");
    assert_eq!(env.total_requests(), before, "something was sent: {stderr}");
}

/// `cmd` with the environment and working directory the binary's own command gets.
fn like_the_binary(env: &TestEnv, mut cmd: std::process::Command) -> std::process::Command {
    let binary = env.std_cmd();
    for (key, value) in binary.get_envs() {
        match value {
            Some(value) => cmd.env(key, value),
            None => cmd.env_remove(key),
        };
    }
    cmd.current_dir(env.dir());
    cmd
}

/// A directory `name` in the test directory with `mode`, and its path.
fn dir_with_mode(env: &TestEnv, name: &str, mode: u32) -> PathBuf {
    let dir = env.dir().join(name);
    std::fs::create_dir_all(&dir).expect("mkdir");
    chmod(&dir, mode);
    dir
}

/// The test's hosts file moved to `dir`, and its new path.
fn hosts_in(env: &TestEnv, dir: &Path) -> PathBuf {
    let hosts = dir.join("hosts.txt");
    std::fs::rename(env.hosts_path(), &hosts).expect("move the hosts file");
    hosts
}

// --- The hosts file decides where the token goes: ours or root's, or refused ---

#[test]
fn a_hosts_file_others_may_write_is_refused_before_the_token_is_sent() {
    for mode in [0o664, 0o646, 0o666] {
        let (env, token) = token_env();
        let hosts = env.hosts_path();
        chmod(&hosts, mode);
        for args in [&["status", "g"][..], &["create", "g"], &["rollback"]] {
            let mut cmd = env.cmd();
            cmd.args(args).arg("--token-file").arg(&token);
            assert_refused(
                &env,
                &mut cmd,
                &[
                    &format!("refusing hosts file {}", hosts.display()),
                    &format!("{mode:04o}"),
                    &format!("`chmod 644 {}`", hosts.display()),
                ],
            );
        }
    }
}

#[test]
fn a_hosts_file_another_user_owns_or_links_to_is_refused() {
    if skip_unless_root("a_hosts_file_another_user_owns_or_links_to_is_refused") {
        return;
    }
    let (env, token) = token_env();
    chown(env.hosts_path(), Some(OTHER_UID), None).expect("chown");
    let mut cmd = env.cmd();
    cmd.args(["status", "g", "--token-file"]).arg(&token);
    assert_refused(&env, &mut cmd, &["owned by uid 65534", "chown"]);

    chown(env.hosts_path(), Some(0), None).expect("chown back");
    let link = env.dir().join("team-hosts.txt");
    symlink(env.hosts_path(), &link).expect("symlink");
    lchown(&link, Some(OTHER_UID), None).expect("lchown");
    let mut cmd = env.cmd();
    cmd.env("CLUSTER_CLIENT_HOSTS", &link)
        .args(["status", "g", "--token-file"])
        .arg(&token);
    assert_refused(
        &env,
        &mut cmd,
        &["symbolic link", "team-hosts.txt", "owned by uid 65534"],
    );
}

#[test]
fn a_hosts_file_planted_in_a_shared_working_directory_is_refused() {
    // The default path is hosts.txt in the working directory. In a directory others may
    // write, another user can plant it (or replace ours): the run is refused either way.
    let (env, token) = token_env();
    let shared = dir_with_mode(&env, "shared", 0o777);
    hosts_in(&env, &shared);
    let mut cmd = env.cmd();
    cmd.env_remove("CLUSTER_CLIENT_HOSTS")
        .current_dir(&shared)
        .args(["create", "g", "--token-file"])
        .arg(&token);
    assert_refused(
        &env,
        &mut cmd,
        &[
            "refusing hosts file hosts.txt",
            &format!(
                "the directory {} on its way has mode 0777",
                shared.display()
            ),
            &format!("`chmod go-w {}`", shared.display()),
        ],
    );
    if running_as_root() {
        // Sticky like /tmp, but the file is another user's.
        chmod(&shared, 0o1777);
        chown(shared.join("hosts.txt"), Some(OTHER_UID), None).expect("chown");
        let mut cmd = env.cmd();
        cmd.env_remove("CLUSTER_CLIENT_HOSTS")
            .current_dir(&shared)
            .args(["create", "g", "--token-file"])
            .arg(&token);
        assert_refused(&env, &mut cmd, &["owned by uid 65534"]);
    }
}

#[test]
fn a_hosts_file_in_a_group_writable_team_directory_is_refused() {
    let (env, token) = token_env();
    let team = dir_with_mode(&env, "team", 0o2775);
    let hosts = hosts_in(&env, &team);
    let mut cmd = env.cmd();
    cmd.env("CLUSTER_CLIENT_HOSTS", &hosts)
        .args(["create", "g", "--token-file"])
        .arg(&token);
    assert_refused(&env, &mut cmd, &["has mode 2775", "rename hosts.txt away"]);

    // A directory above a directory above counts as much.
    let deeper = dir_with_mode(&env, "team/cluster", 0o755);
    let moved = deeper.join("hosts.txt");
    std::fs::rename(&hosts, &moved).expect("move");
    let mut cmd = env.cmd();
    cmd.env("CLUSTER_CLIENT_HOSTS", &moved)
        .args(["create", "g", "--token-file"])
        .arg(&token);
    assert_refused(&env, &mut cmd, &["has mode 2775", "rename cluster away"]);
}

#[test]
fn a_cacert_file_others_may_write_or_own_is_refused_before_anything_is_sent() {
    let env = TestEnv::new(1);
    let ca = env.dir().join("ca.pem");
    std::fs::write(&ca, "-----BEGIN CERTIFICATE-----\n").expect("write");
    chmod(&ca, 0o666);
    let mut cmd = env.cmd();
    cmd.args(["status", "g", "--cacert"]).arg(&ca);
    assert_refused(
        &env,
        &mut cmd,
        &[&format!("refusing --cacert file {}", ca.display()), "0666"],
    );
    let shared = dir_with_mode(&env, "shared", 0o777);
    let moved = shared.join("ca.pem");
    std::fs::rename(&ca, &moved).expect("move");
    chmod(&moved, 0o644);
    let mut cmd = env.cmd();
    cmd.env("CLUSTER_CLIENT_CACERT", &moved)
        .args(["status", "g"]);
    assert_refused(&env, &mut cmd, &["has mode 0777"]);
    if running_as_root() {
        chmod(&shared, 0o755);
        chown(&moved, Some(OTHER_UID), None).expect("chown");
        let mut cmd = env.cmd();
        cmd.env("CLUSTER_CLIENT_CACERT", &moved)
            .args(["status", "g"]);
        assert_refused(&env, &mut cmd, &["owned by uid 65534"]);
    }
}

// --- Every directory above the journal, as ssh's StrictModes checks ---

#[test]
fn a_group_writable_directory_above_the_journal_is_refused_for_every_command() {
    // Whoever may write the team directory can rename the journal's own directory away (a
    // run then sees no pending repair) and bring it back later (cron's rollback then replays
    // a stale repair against a live group).
    for mode in [0o770, 0o2775, 0o777] {
        let env = TestEnv::new(2);
        env.seed("g", &[0]);
        let team = dir_with_mode(&env, "team", mode);
        let journal = team.join("state").join("journal.json");
        std::fs::create_dir_all(journal.parent().expect("dir")).expect("mkdir");
        chmod(journal.parent().expect("dir"), 0o700);
        support::write_private(
            &journal,
            serde_json::json!({"version": 2, "entries": [entry("g", &env.urls()[0], "delete")]})
                .to_string()
                .as_bytes(),
        );
        for args in [
            &["status", "g"][..],
            &["create", "h"],
            &["rollback"],
            &["journal", "list"],
            &["journal", "forget", "g"],
        ] {
            let mut cmd = env.cmd();
            cmd.env("CLUSTER_CLIENT_JOURNAL", &journal).args(args);
            assert_refused(
                &env,
                &mut cmd,
                &[
                    "refusing journal directory",
                    &format!(
                        "the directory {} on its way has mode {mode:04o}",
                        team.display()
                    ),
                ],
            );
        }
        assert!(env.nodes[0].has_group("g"), "the stale repair was replayed");
    }
}

#[test]
fn a_directory_above_the_journal_owned_by_another_user_is_refused() {
    if skip_unless_root("a_directory_above_the_journal_owned_by_another_user_is_refused") {
        return;
    }
    let env = env_with_pending_delete();
    let parent = env.dir().join("team");
    std::fs::create_dir(&parent).expect("mkdir");
    chown(&parent, Some(OTHER_UID), None).expect("chown");
    let journal = parent.join("journal").join("journal.json");
    let mut cmd = env.cmd();
    cmd.env("CLUSTER_CLIENT_JOURNAL", &journal)
        .args(["rollback"]);
    assert_refused(
        &env,
        &mut cmd,
        &["is owned by uid 65534, neither you nor root"],
    );
}

#[test]
fn trust_group_writable_accepts_one_volume_root_and_never_others_write() {
    // A Kubernetes volume with fsGroup: the kubelet makes its root group-writable (setgid),
    // and the journal sits in a private directory one level down.
    let env = TestEnv::new(2);
    let volume = dir_with_mode(&env, "volume", 0o2775);
    // Note: the journal's own directory is there, as a first create leaves it; status
    // reads through it and creates nothing.
    let journal = dir_with_mode(&env, "volume/journal", 0o700).join("journal.json");
    let run = |trusted: Option<&Path>| {
        let mut cmd = env.cmd();
        cmd.env("CLUSTER_CLIENT_JOURNAL", &journal)
            .args(["status", "g"]);
        if let Some(dir) = trusted {
            cmd.env("CLUSTER_CLIENT_TRUST_GROUP_WRITABLE", dir);
        }
        cmd
    };
    assert_refused(
        &env,
        &mut run(None),
        &[&format!("--trust-group-writable {}", volume.display())],
    );
    let other = dir_with_mode(&env, "other", 0o755);
    assert_refused(&env, &mut run(Some(&other)), &["has mode 2775"]);
    run(Some(&volume)).assert().code(4);
    assert_eq!(
        env.total_requests(),
        2,
        "the status of g (absent) on both nodes"
    );

    chmod(&volume, 0o2777);
    assert_refused(&env, &mut run(Some(&volume)), &["has mode 2777"]);
}

// --- The journal and its lock are private, as ssh's private keys ---

#[test]
fn a_journal_or_lock_file_others_may_read_is_refused() {
    for mode in [0o640, 0o604, 0o644, 0o400 | 0o040] {
        let env = env_with_pending_delete();
        chmod(&env.journal_path(), mode);
        assert_refused_before_any_request(
            &env,
            &env.journal_path(),
            &[&format!("{mode:04o}"), "read", "chmod 600"],
        );
    }
    let env = env_with_pending_delete();
    let lock = env.journal_path().with_file_name("journal.json.lock");
    std::fs::write(&lock, "").expect("lock");
    chmod(&lock, 0o644);
    assert_lock_refused_before_any_request(&env, &lock, &["0644", "chmod 600"]);
}

#[test]
fn files_cluster_client_creates_are_private_whatever_the_umask() {
    // A failed create leaves a journal; with umask 000 every file and directory it made is
    // still the user's alone.
    let env = TestEnv::new(2);
    env.nodes[1].add_rule(support::Rule::new(support::Fault::Status(500)).method("POST"));
    env.nodes[0].add_rule(support::Rule::new(support::Fault::Status(500)).method("DELETE"));
    let journal = env.dir().join("a").join("b").join("journal.json");
    let mut cmd = std::process::Command::new("sh");
    cmd.arg("-c")
        .arg("umask 000; exec \"$@\"")
        .arg("sh")
        .arg(support::BIN)
        .args(["create", "g", "--journal"])
        .arg(&journal);
    let mut cmd = like_the_binary(&env, cmd);
    let output = cmd.output().expect("run");
    assert_eq!(
        output.status.code(),
        Some(3),
        "the undo on node 0 stays pending: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let mode = |path: &Path| {
        std::fs::metadata(path)
            .expect("exists")
            .permissions()
            .mode()
            & 0o777
    };
    assert_eq!(mode(&journal), 0o600);
    assert_eq!(mode(&journal.with_file_name("journal.json.lock")), 0o600);
    for dir in [env.dir().join("a"), env.dir().join("a").join("b")] {
        assert_eq!(mode(&dir), 0o700, "{}", dir.display());
    }
    for entry in std::fs::read_dir(journal.parent().expect("dir")).expect("list") {
        let path = entry.expect("entry").path();
        assert_eq!(mode(&path) & 0o077, 0, "{}", path.display());
    }
}

// --- The token file: read by its group only in a Kubernetes Secret volume ---

/// A test directory others can traverse, holding a root-owned token `0440 root:gid`, the
/// hosts file (root's, 0644) and a home and journal directory owned by `uid`.
fn env_for_user(uid: u32) -> (TestEnv, PathBuf) {
    let (env, token) = token_env();
    chmod(env.dir(), 0o755);
    chmod(&env.hosts_path(), 0o644);
    let own = env.dir().join("own");
    std::fs::create_dir(&own).expect("mkdir");
    chown(&own, Some(uid), None).expect("chown");
    chmod(&own, 0o700);
    (env, token)
}

/// The binary as `uid`:`gid`, its journal and home in the directory `uid` owns. It runs a
/// copy of the binary in the test directory, which that user can reach wherever the build is.
fn cmd_as(env: &TestEnv, (uid, gid): (u32, u32)) -> assert_cmd::Command {
    let copy = env.dir().join("cluster-client");
    if !copy.exists() {
        // Note: copied by `cp`, not `std::fs::copy`: a file this process had
        // open for writing could be inherited by a child another test forks
        // meanwhile, and executing it would then fail with "text file busy".
        let copied = std::process::Command::new("cp")
            .arg(support::BIN)
            .arg(&copy)
            .status()
            .expect("run cp");
        assert!(copied.success(), "copy the binary");
        chmod(&copy, 0o755);
    }
    let mut cmd = like_the_binary(env, std::process::Command::new(copy));
    cmd.env(
        "CLUSTER_CLIENT_JOURNAL",
        env.dir().join("own/state/journal.json"),
    )
    .env("HOME", env.dir().join("own"))
    .uid(uid)
    .gid(gid);
    assert_cmd::Command::from_std(cmd)
}

#[test]
fn a_root_owned_token_file_its_group_may_read_is_refused_outside_a_secret_volume() {
    let Some(user) = second_user(
        "a_root_owned_token_file_its_group_may_read_is_refused_outside_a_secret_volume",
    ) else {
        return;
    };
    let (env, token) = env_for_user(user.0);
    chown(&token, Some(0), Some(user.1)).expect("chown");
    chmod(&token, 0o440);
    let mut cmd = cmd_as(&env, user);
    cmd.args(["status", "g", "--token-file"]).arg(&token);
    assert_refused(
        &env,
        &mut cmd,
        &[
            "refusing --token-file",
            "0440",
            "chmod 600",
            "Secret volume",
        ],
    );
}

#[test]
fn a_token_in_a_kubernetes_secret_volume_layout_may_be_read_through_its_group() {
    // What the kubelet makes of a Secret with defaultMode 0440 and fsGroup: a sticky tmpfs
    // root, a timestamped directory, and root-owned links `..data` and `token`.
    let Some(user) =
        second_user("a_token_in_a_kubernetes_secret_volume_layout_may_be_read_through_its_group")
    else {
        return;
    };
    let (env, token) = env_for_user(user.0);
    let volume = dir_with_mode(&env, "secret", 0o3777);
    let stamped = volume.join("..2026_01_01_00_00_00.000000001");
    std::fs::create_dir(&stamped).expect("mkdir");
    chmod(&stamped, 0o2755);
    std::fs::rename(&token, stamped.join("token")).expect("move");
    chown(stamped.join("token"), Some(0), Some(user.1)).expect("chown");
    chmod(&stamped.join("token"), 0o440);
    symlink("..2026_01_01_00_00_00.000000001", volume.join("..data")).expect("symlink");
    symlink("..data/token", volume.join("token")).expect("symlink");
    // Note: a create, which makes the user's journal directory; status creates nothing.
    cmd_as(&env, user)
        .args(["create", "g", "--token-file"])
        .arg(volume.join("token"))
        .assert()
        .code(0);
    assert_eq!(
        env.nodes[0].requests()[0].header("authorization"),
        Some(bearer().as_str())
    );

    // The same file reached another way than through `..data` is not in the layout.
    let mut cmd = cmd_as(&env, user);
    cmd.args(["status", "g", "--token-file"])
        .arg(stamped.join("token"));
    let before = env.total_requests();
    let assert = cmd.assert().code(2);
    assert!(String::from_utf8_lossy(&assert.get_output().stderr).contains("0440"));
    assert_eq!(env.total_requests(), before);
}

#[test]
fn a_token_file_below_a_directory_others_may_write_is_refused() {
    // Whoever may write a directory on the token's way can swap the file or a link.
    let (env, token) = token_env();
    let shared = dir_with_mode(&env, "shared", 0o777);
    std::fs::rename(&token, shared.join("token")).expect("move");
    let mut cmd = env.cmd();
    cmd.args(["status", "g", "--token-file"])
        .arg(shared.join("token"));
    assert_refused(&env, &mut cmd, &["refusing --token-file", "has mode 0777"]);
}

// --- Kubernetes ConfigMap mounts: root's links on a read-only mount ---

/// Makes `volume` look like a ConfigMap volume holding `file` (its text), as the kubelet
/// lays it out: a `0777` root, a timestamped `0755` directory, and root-owned links.
fn configmap_layout(volume: &Path, file: &str, text: &str) {
    std::fs::create_dir_all(volume).expect("mkdir");
    chmod(volume, 0o777);
    let stamped = volume.join("..2026_01_01_00_00_00.000000001");
    std::fs::create_dir(&stamped).expect("mkdir");
    chmod(&stamped, 0o755);
    std::fs::write(stamped.join(file), text).expect("write");
    chmod(&stamped.join(file), 0o444);
    symlink("..2026_01_01_00_00_00.000000001", volume.join("..data")).expect("symlink");
    symlink(format!("..data/{file}"), volume.join(file)).expect("symlink");
}

/// The binary with `args`, run with `volume` bind-mounted read-only in a mount namespace of
/// its own (as the kubelet mounts a ConfigMap), or as it is when `read_only` is false.
fn in_mount_namespace(env: &TestEnv, volume: &Path, read_only: bool) -> assert_cmd::Command {
    let script = if read_only {
        "mount --bind \"$1\" \"$1\" && mount -o remount,bind,ro \"$1\" && shift && exec \"$@\""
    } else {
        "shift && exec \"$@\""
    };
    let mut cmd = std::process::Command::new("unshare");
    cmd.args([
        "--mount",
        "--propagation",
        "private",
        "sh",
        "-c",
        script,
        "sh",
    ])
    .arg(volume)
    .arg(support::BIN);
    assert_cmd::Command::from_std(like_the_binary(env, cmd))
}

#[test]
fn a_hosts_file_in_a_kubernetes_configmap_volume_is_accepted_on_its_read_only_mount() {
    if skip_unless_mount_namespaces(
        "a_hosts_file_in_a_kubernetes_configmap_volume_is_accepted_on_its_read_only_mount",
    ) {
        return;
    }
    let (env, token) = token_env();
    let volume = env.dir().join("etc-cluster-client");
    let hosts = std::fs::read_to_string(env.hosts_path()).expect("hosts");
    configmap_layout(&volume, "hosts.txt", &hosts);
    let run = |read_only: bool| {
        let mut cmd = in_mount_namespace(&env, &volume, read_only);
        cmd.env("CLUSTER_CLIENT_HOSTS", volume.join("hosts.txt"))
            .args(["status", "g", "--token-file"])
            .arg(&token);
        cmd
    };
    // Writable, the 0777 volume root would let anyone swap the links: refused.
    assert_refused(&env, &mut run(false), &["has mode 0777"]);
    run(true).assert().code(4);
    assert_eq!(
        env.nodes[0].requests()[0].header("authorization"),
        Some(bearer().as_str())
    );
}

#[test]
fn a_groups_file_others_may_write_is_refused_before_anything_is_sent() {
    // Note: the list decides what a delete deletes, as the hosts file decides
    // where the token goes.
    for mode in [0o664, 0o666] {
        let env = TestEnv::new(2);
        env.seed("payroll", &[0, 1]);
        let groups = env.dir().join("groups.txt");
        std::fs::write(&groups, "payroll\n").expect("write groups");
        chmod(&groups, mode);
        let mut cmd = env.cmd();
        cmd.args(["delete", "--from-file"]).arg(&groups);
        assert_refused(
            &env,
            &mut cmd,
            &[
                &format!("refusing groups file {}", groups.display()),
                &format!("{mode:04o}"),
            ],
        );
        assert_eq!(env.holders("payroll"), [0, 1]);
    }
    let env = TestEnv::new(1);
    let groups = env.dir().join("groups.txt");
    std::fs::write(&groups, "payroll\n").expect("write groups");
    chmod(&groups, 0o644);
    env.cmd()
        .args(["create", "--from-file"])
        .arg(&groups)
        .assert()
        .code(0);
}
