//! Shell completion past the first word, in real shells: bash (always), and fish and zsh
//! where they are installed (CI installs them).

mod support;

use std::path::Path;
use std::process::Command;

use support::TestEnv;

/// The completion script the binary prints for `shell`, written into `dir`.
fn script(env: &TestEnv, shell: &str) -> std::path::PathBuf {
    let output = env
        .cmd()
        .args(["completions", shell])
        .output()
        .expect("run");
    assert!(output.status.success());
    let path = env.dir().join(format!("cluster-client.{shell}"));
    std::fs::write(&path, output.stdout).expect("write script");
    path
}

/// `COMPREPLY` after bash's completion function for `words` (the last one being
/// completed), run in `dir`.
fn bash_completes(script: &Path, dir: &Path, words: &[&str]) -> Vec<String> {
    let quoted: Vec<String> = words.iter().map(|w| format!("{w:?}")).collect();
    let cword = words.len() - 1;
    let (cur, prev) = (words[cword], words[cword - 1]);
    let program = format!(
        "source {script:?}\nCOMP_WORDS=({})\nCOMP_CWORD={cword}\n\
         _cluster__client cluster-client {cur:?} {prev:?}\nprintf '%s\\n' \"${{COMPREPLY[@]}}\"",
        quoted.join(" "),
    );
    let output = Command::new("bash")
        .args(["--noprofile", "--norc", "-c", &program])
        .current_dir(dir)
        .output()
        .expect("run bash");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout)
        .expect("utf8")
        .lines()
        .map(str::to_owned)
        .collect()
}

#[test]
fn bash_completes_subcommands_flags_and_files_past_the_first_word() {
    let env = TestEnv::new(0);
    let script = script(&env, "bash");
    let files = env.dir().join("files");
    std::fs::create_dir(&files).expect("mkdir");
    std::fs::write(files.join("hosts.txt"), "").expect("write");
    let journal = bash_completes(&script, &files, &["cluster-client", "journal", ""]);
    assert!(
        journal.contains(&"list".to_owned()) && journal.contains(&"forget".to_owned()),
        "journal <TAB>: {journal:?}"
    );
    let create = bash_completes(&script, &files, &["cluster-client", "create", "--f"]);
    assert_eq!(create, ["--from-file"], "create --f<TAB>");
    let hosts = bash_completes(
        &script,
        &files,
        &["cluster-client", "status", "--hosts", ""],
    );
    assert_eq!(hosts, ["hosts.txt"], "status --hosts <TAB>");
    let forget = bash_completes(
        &script,
        &files,
        &["cluster-client", "journal", "forget", "--a"],
    );
    assert_eq!(forget, ["--all-hosts"], "journal forget --a<TAB>");
    let first = bash_completes(&script, &files, &["cluster-client", "cr"]);
    assert_eq!(first, ["create"], "cr<TAB>");
}

/// Whether `shell` can be run; a missing one fails under CLUSTER_CLIENT_REQUIRE_SHELLS=1 (CI).
fn have(shell: &str) -> bool {
    if Command::new(shell).arg("--version").output().is_ok() {
        return true;
    }
    let required = std::env::var("CLUSTER_CLIENT_REQUIRE_SHELLS").is_ok_and(|v| v == "1");
    assert!(
        !required,
        "CLUSTER_CLIENT_REQUIRE_SHELLS=1, but {shell} is not installed"
    );
    #[allow(clippy::print_stderr)]
    {
        eprintln!("skipping the {shell} check: {shell} is not installed");
    }
    false
}

#[test]
fn fish_completes_subcommands_flags_and_files_past_the_first_word() {
    if !have("fish") {
        return;
    }
    let env = TestEnv::new(0);
    let script = script(&env, "fish");
    std::fs::write(env.dir().join("hosts.txt"), "").expect("write");
    let complete = |line: &str| -> Vec<String> {
        let program = format!("source {script:?}; complete -C {line:?}");
        let output = Command::new("fish")
            .args(["--no-config", "-c", &program])
            .current_dir(env.dir())
            .output()
            .expect("run fish");
        String::from_utf8(output.stdout)
            .expect("utf8")
            .lines()
            .map(|l| l.split('\t').next().unwrap_or_default().to_owned())
            .collect()
    };
    let journal = complete("cluster-client journal ");
    assert!(journal.iter().any(|c| c == "list") && journal.iter().any(|c| c == "forget"));
    assert!(complete("cluster-client create --f").contains(&"--from-file".to_owned()));
    assert!(complete("cluster-client status --hosts ").contains(&"hosts.txt".to_owned()));
}

#[test]
fn zsh_loads_the_completion_function_for_every_subcommand() {
    if !have("zsh") {
        return;
    }
    let env = TestEnv::new(0);
    let script = script(&env, "zsh");
    // Note: zsh's completion widgets need a terminal to run; this loads the script with
    // compinit, checks it defines the function, and that every subcommand has its own
    // state in it (the spelling bash got wrong).
    let program = format!(
        "autoload -U compinit && compinit -u -D && source {script:?} && \
         whence -w _cluster-client"
    );
    let output = Command::new("zsh")
        .args(["-f", "-c", &program])
        .current_dir(env.dir())
        .output()
        .expect("run zsh");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains("_cluster-client: function"),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let text = std::fs::read_to_string(&script).expect("read");
    for state in ["(create)", "(status)", "(journal)", "(forget)", "(list)"] {
        assert!(text.contains(state), "no {state} in the zsh script");
    }
}
