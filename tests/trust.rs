//! Trust boundaries: a journal, journal directory or lock file someone else could have written
//! is refused before anything is sent; the token goes only to configured hosts; the token
//! file must be private; text from nodes and the journal cannot drive the terminal.

mod support;

use std::os::unix::fs::{PermissionsExt, chown, lchown, symlink};
use std::path::Path;

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

fn token_env() -> (TestEnv, std::path::PathBuf) {
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
fn empty_secret_mount(env: &TestEnv) -> std::path::PathBuf {
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
    token_file: std::path::PathBuf,
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
fn a_proxy_that_would_carry_the_token_is_named_unless_no_proxy_excludes_the_nodes() {
    let env = TestEnv::new(1);
    let token_file = env.dir().join("token");
    support::write_secret(&token_file, TOKEN);
    // Nothing listens on port 9: a proxied request fails, which is fine here.
    let assert = env
        .cmd()
        .env("ALL_PROXY", "http://127.0.0.1:9")
        .args(["status", "g", "--retries", "0", "--token-file"])
        .arg(&token_file)
        .assert();
    let stderr = String::from_utf8_lossy(&assert.get_output().stderr).into_owned();
    assert!(
        stderr.contains("through the proxy set in ALL_PROXY") && stderr.contains(&env.urls()[0]),
        "{stderr}"
    );
    assert!(
        env.nodes[0].requests().is_empty(),
        "ALL_PROXY was not honoured"
    );

    let assert = env
        .cmd()
        .env("all_proxy", "http://127.0.0.1:9")
        .env("NO_PROXY", "localhost,127.0.0.0/8")
        .args(["status", "g", "--token-file"])
        .arg(&token_file)
        .assert()
        .code(4);
    let stderr = String::from_utf8_lossy(&assert.get_output().stderr).into_owned();
    assert!(!stderr.contains("proxy"), "{stderr}");
}

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
    // The case: `--journal /tmp/journal.json`, whatever user runs it.
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
