//! The man pages: one per subcommand, each rendered by man(1) and groff without a warning,
//! with the variables, files and exit table a reader looks for.

mod support;

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

use support::TestEnv;

/// Whether man and groff can be run; missing ones fail under CLUSTER_CLIENT_REQUIRE_MAN=1 (CI).
fn have_man() -> bool {
    let found = ["man", "groff"]
        .iter()
        .all(|tool| Command::new(tool).arg("--version").output().is_ok());
    if !found {
        let required = std::env::var("CLUSTER_CLIENT_REQUIRE_MAN").is_ok_and(|v| v == "1");
        assert!(
            !required,
            "CLUSTER_CLIENT_REQUIRE_MAN=1, but man or groff is missing"
        );
        #[allow(clippy::print_stderr)]
        {
            eprintln!("skipping the man page rendering: no man or groff");
        }
    }
    found
}

/// Every `CLUSTER_CLIENT_*` variable some subcommand's `--help` names.
fn variables_in_help(env: &TestEnv) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    for command in [
        &["create"][..],
        &["delete"],
        &["status"],
        &["rollback"],
        &["journal", "list"],
        &["journal", "forget"],
    ] {
        let output = env.cmd().args(command).arg("--help").output().expect("run");
        let help = String::from_utf8(output.stdout).expect("utf8");
        for word in help.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')) {
            if word.starts_with("CLUSTER_CLIENT_") {
                found.insert(word.to_owned());
            }
        }
    }
    found
}

/// The page rendered by man(1), as a reader sees it; panics on any warning.
fn rendered(page: &Path) -> String {
    let output = Command::new("man")
        .args(["--warnings=w", "-E", "UTF-8", "-l"])
        .arg(page)
        .env("MANWIDTH", "100")
        .env("MAN_KEEP_FORMATTING", "0")
        .output()
        .expect("run man");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success() && stderr.is_empty(),
        "{}: {stderr}",
        page.display()
    );
    let groff = Command::new("groff")
        .args(["-k", "-man", "-Tutf8", "-ww", "-z"])
        .arg(page)
        .output()
        .expect("run groff");
    let warnings = String::from_utf8_lossy(&groff.stderr);
    assert!(
        groff.status.success() && warnings.is_empty(),
        "{}: {warnings}",
        page.display()
    );
    // Note: man's output may still carry overstrike for bold; drop it.
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    let mut plain = String::with_capacity(text.len());
    for c in text.chars() {
        if c == '\u{8}' {
            plain.pop();
        } else {
            plain.push(c);
        }
    }
    plain
}

#[test]
fn man_dir_writes_one_page_per_subcommand_each_rendered_without_warnings() {
    let env = TestEnv::new(0);
    let dir = env.dir().join("man1");
    let output = env
        .cmd()
        .args(["man", "--dir"])
        .arg(&dir)
        .output()
        .expect("run");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let names: BTreeSet<String> = std::fs::read_dir(&dir)
        .expect("list")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    let expected: BTreeSet<String> = [
        "cluster-client",
        "cluster-client-create",
        "cluster-client-delete",
        "cluster-client-status",
        "cluster-client-rollback",
        "cluster-client-journal",
        "cluster-client-journal-list",
        "cluster-client-journal-forget",
        "cluster-client-completions",
        "cluster-client-man",
    ]
    .iter()
    .map(|n| format!("{n}.1"))
    .collect();
    assert_eq!(names, expected);
    // `man` alone prints the first of them.
    let stdout = env.cmd().arg("man").output().expect("run").stdout;
    assert_eq!(
        stdout,
        std::fs::read(dir.join("cluster-client.1")).expect("read")
    );
    if !have_man() {
        return;
    }
    let variables = variables_in_help(&env);
    assert!(variables.len() >= 20, "{variables:?}");
    for name in &names {
        let text = rendered(&dir.join(name));
        for section in [
            "NAME",
            "SYNOPSIS",
            "ENVIRONMENT",
            "FILES",
            "EXIT STATUS",
            "SEE ALSO",
        ] {
            assert!(
                text.contains(&format!("\n{section}\n")),
                "{name}: no {section}"
            );
        }
        assert!(
            text.contains("journal.json") && text.contains("hosts.txt"),
            "{name}"
        );
        assert!(
            text.contains("absent from every node"),
            "{name}: the exit table"
        );
    }
    let top = rendered(&dir.join("cluster-client.1"));
    for variable in &variables {
        assert!(
            top.contains(variable.as_str()),
            "cluster-client(1) lacks {variable}"
        );
    }
    for also in [
        "cluster-client-create(1)",
        "cluster-client-journal-forget(1)",
    ] {
        assert!(
            top.contains(also),
            "cluster-client(1) does not point at {also}"
        );
    }
    let forget = rendered(&dir.join("cluster-client-journal-forget.1"));
    assert!(
        forget.contains("--host <URL>") && forget.contains("--all-hosts"),
        "{forget}"
    );
    assert!(
        !forget.contains("--timeout"),
        "journal forget offers --timeout"
    );
    let create = rendered(&dir.join("cluster-client-create.1"));
    assert!(create.contains("--from-file") && create.contains("CLUSTER_CLIENT_HOSTS"));
}
