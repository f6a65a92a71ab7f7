//! Black-box tests of the command line: usage, bad input, help, completions, man page.

mod support;

use predicates::prelude::*;
use support::TestEnv;

#[test]
fn help_documents_every_exit_status() {
    let env = TestEnv::new(0);
    let assert = env.cmd().arg("--help").assert().success();
    let help = String::from_utf8_lossy(&assert.get_output().stdout).into_owned();
    for needle in [
        "Exit status:",
        "  0  done",
        "  1  the operation failed",
        "  2  bad input",
        "  3  work pending",
    ] {
        assert!(help.contains(needle), "missing {needle:?} in:\n{help}");
    }
}

#[test]
fn unknown_flag_is_a_usage_error_and_sends_nothing() {
    let env = TestEnv::new(2);
    env.cmd()
        .args(["create", "g", "--no-such-flag"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("--no-such-flag"));
    assert_eq!(env.total_requests(), 0);
}

#[test]
fn bad_durations_name_the_value() {
    let env = TestEnv::new(1);
    env.cmd()
        .args(["status", "g", "--timeout", "5 parsecs"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("5 parsecs"));
    assert_eq!(env.total_requests(), 0);
}

#[test]
fn bad_group_ids_are_rejected_before_anything_is_sent() {
    let env = TestEnv::new(2);
    let long = "x".repeat(1025);
    for id in ["", ".", "..", "a\tb", long.as_str()] {
        env.cmd()
            .args(["create", id])
            .assert()
            .code(2)
            .stderr(predicate::str::contains("invalid group id"));
    }
    assert_eq!(env.total_requests(), 0);
    assert!(!env.journal_path().exists());
}

#[test]
fn ids_with_characters_nodes_route_differently_are_refused_before_anything_is_sent() {
    let env = TestEnv::new(2);
    for (id, named) in [
        ("team/a", "the character `/` (U+002F)"),
        ("team\\a", "the character `\\` (U+005C)"),
        ("50%25", "the character `%` (U+0025)"),
        ("what?", "the character `?` (U+003F)"),
        ("#tag", "the character `#` (U+0023)"),
    ] {
        let quoted = format!("invalid group id \"{}\": {named}", id.escape_debug());
        env.cmd()
            .args(["create", id])
            .assert()
            .code(2)
            .stderr(predicate::str::contains(quoted))
            .stderr(predicate::str::contains("routed differently"));
    }
    assert_eq!(env.total_requests(), 0);
    assert!(!env.journal_path().exists());
}

#[test]
fn a_group_file_line_with_a_character_nodes_route_differently_names_file_and_line() {
    let env = TestEnv::new(2);
    std::fs::write(
        env.dir().join("groups.txt"),
        "team-b\n# a comment\nteam/a\n",
    )
    .expect("write");
    env.cmd()
        .args(["create", "--from-file", "groups.txt"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "groups.txt:3: invalid group id \"team/a\": the character `/` (U+002F)",
        ));
    assert_eq!(env.total_requests(), 0);
    assert!(!env.journal_path().exists());
}

#[test]
fn missing_hosts_file_names_the_file_the_cause_once_and_an_inline_example() {
    let env = TestEnv::new(1);
    let assert = env
        .cmd()
        .args(["status", "g", "--hosts", "nowhere.txt"])
        .assert()
        .code(2);
    let stderr = String::from_utf8_lossy(&assert.get_output().stderr).into_owned();
    assert!(
        stderr.contains("cannot read hosts file nowhere.txt"),
        "{stderr}"
    );
    // The cause once: not again as the error's source in the printed chain.
    let cause = "No such file or directory";
    assert_eq!(stderr.matches(cause).count(), 1, "{stderr}");
    // The format inline: hosts.example.txt is in neither the binary nor the image.
    assert!(!stderr.contains("hosts.example.txt"), "{stderr}");
    assert!(stderr.contains("node2:8080"), "{stderr}");
    assert!(stderr.contains("--hosts"), "{stderr}");
}

#[test]
fn unreadable_group_list_shows_its_cause_once() {
    let env = TestEnv::new(1);
    let assert = env
        .cmd()
        .args(["create", "--from-file", "no-such-list.txt"])
        .assert()
        .code(2);
    let stderr = String::from_utf8_lossy(&assert.get_output().stderr).into_owned();
    assert!(stderr.contains("no-such-list.txt"), "{stderr}");
    assert_eq!(
        stderr.matches("No such file or directory").count(),
        1,
        "{stderr}"
    );
    assert_eq!(env.total_requests(), 0);
}

#[test]
fn bad_hosts_lines_name_file_and_line_and_send_nothing() {
    let env = TestEnv::new(2);
    let good = env.nodes[0].url();
    for (text, needle) in [
        (format!("{good}\n# comment\nftp://x\n"), "hosts.txt:3:"),
        (format!("{good}\n{good}/\n"), "hosts.txt:2:"),
        ("# only comments\n\n".to_owned(), "lists no nodes"),
    ] {
        env.write_hosts(&text);
        env.cmd()
            .args(["create", "g"])
            .assert()
            .code(2)
            .stderr(predicate::str::contains(needle));
    }
    assert_eq!(env.total_requests(), 0);
}

#[test]
fn options_work_before_and_after_the_subcommand_and_from_the_environment() {
    let env = TestEnv::new(1);
    env.seed("g", &[0]);
    env.cmd()
        .args(["--output", "json", "status", "g"])
        .assert()
        .code(0)
        .stdout(predicate::str::starts_with("{"));
    env.cmd()
        .args(["status", "g", "--output", "json"])
        .assert()
        .code(0)
        .stdout(predicate::str::starts_with("{"));
    env.cmd()
        .env("CLUSTER_CLIENT_OUTPUT", "json")
        .args(["status", "g"])
        .assert()
        .code(0)
        .stdout(predicate::str::starts_with("{"));
}

#[test]
fn default_journal_lives_in_the_per_user_data_directory() {
    let env = TestEnv::new(1);
    let data = env.dir().join("home/.local/share/cluster-client");
    // The commands that only read create nothing, there or anywhere.
    for args in [
        &["status", "g"][..],
        &["rollback"],
        &["journal", "list"],
        &["journal", "forget", "g", "--all-hosts"],
        &["create", "g", "--dry-run"],
    ] {
        let output = env
            .cmd()
            .env_remove("CLUSTER_CLIENT_JOURNAL")
            .args(args)
            .output()
            .expect("run");
        assert!(
            !env.dir().join("home").exists(),
            "{args:?} created {}: {}",
            data.display(),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    env.cmd()
        .env_remove("CLUSTER_CLIENT_JOURNAL")
        .args(["create", "g"])
        .assert()
        .code(0);
    assert!(
        data.join("journal.json.lock").exists(),
        "{} missing",
        data.display()
    );
}

#[test]
fn completions_are_generated_for_every_shell() {
    let env = TestEnv::new(0);
    for shell in ["bash", "zsh", "fish", "powershell", "elvish"] {
        env.cmd()
            .args(["completions", shell])
            .assert()
            .success()
            .stdout(predicate::str::contains("rollback"));
    }
}

#[test]
fn man_page_covers_options_and_exit_status() {
    let env = TestEnv::new(0);
    let assert = env.cmd().arg("man").assert().success();
    let page = String::from_utf8_lossy(&assert.get_output().stdout).into_owned();
    for needle in [
        ".TH",
        "EXIT STATUS",
        "\\-\\-max\\-backoff",
        "\\-\\-journal",
        "work pending",
    ] {
        assert!(page.contains(needle), "missing {needle:?}");
    }
}

#[test]
fn a_node_the_run_stopped_before_is_shown_as_read_not_as_a_change_attempted() {
    let env = TestEnv::new(3);
    // A final 4xx: node 2 definitely applied nothing (a 500 would leave it verified, exit 3).
    env.nodes[1].add_rule(support::Rule::new(support::Fault::Status(422)).method("POST"));
    let output = env.cmd().args(["create", "g"]).output().expect("run");
    assert_eq!(output.status.code(), Some(1));
    let stdout = String::from_utf8(output.stdout).expect("utf8");
    let third = stdout
        .lines()
        .find(|l| l.contains(&env.urls()[2]))
        .unwrap_or_else(|| panic!("{stdout}"));
    assert!(
        third.contains("not changed") && third.ends_with("1 read"),
        "{stdout}"
    );
    assert!(!stdout.contains("not attempted"), "{stdout}");
    assert_eq!(env.nodes[2].writes(), 0);
}

#[test]
fn a_huge_group_id_is_cut_in_the_error_and_a_hosts_directory_is_named_as_one() {
    let env = TestEnv::new(1);
    let huge = "x".repeat(2000);
    let output = env.cmd().args(["create", &huge]).output().expect("run");
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("… (2000 bytes)"), "{stderr}");
    assert!(!stderr.contains(&huge) && stderr.len() < 600, "{stderr}");

    let output = env
        .cmd()
        .args(["status", "g", "--hosts", "/tmp"])
        .output()
        .expect("run");
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("hosts file /tmp is a directory"),
        "{stderr}"
    );
    assert!(!stderr.contains("create it"), "{stderr}");
    assert_eq!(env.total_requests(), 0);
}
