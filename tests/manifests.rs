//! The Dockerfile and the Kubernetes manifests must agree with the real CLI definition.
//!
//! Every `args:`/`command:` list, every `CLUSTER_CLIENT_*` variable and the
//! image's entrypoint is parsed with the same clap `Cli` the binary uses, so
//! renaming a flag breaks this test rather than production.

use std::path::{Path, PathBuf};

use clap::error::ErrorKind;
use clap::{CommandFactory, Parser};
use cluster_client::cli::Cli;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn manifests() -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).expect("read kubernetes/") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|e| e == "yaml" || e == "yml") {
                out.push(path);
            }
        }
    }
    let mut out = Vec::new();
    walk(&root().join("kubernetes"), &mut out);
    out.sort();
    out
}

/// The long flag (`--timeout`) that reads environment variable `name`.
fn flag_for_env(name: &str) -> Option<String> {
    Cli::command()
        .get_arguments()
        .find(|arg| arg.get_env().is_some_and(|env| env == name))
        .and_then(|arg| arg.get_long().map(|long| format!("--{long}")))
}

/// Variables the binary reads that are not tied to one flag.
const OTHER_VARIABLES: &[&str] = &["CLUSTER_CLIENT_TOKEN"];

/// `(name, value)` of every `CLUSTER_CLIENT_*` entry in a container's `env:`.
fn env_entries(text: &str) -> Vec<(String, Option<String>)> {
    let lines: Vec<&str> = text.lines().collect();
    let mut entries = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let Some(name) = line.trim().strip_prefix("- name:").map(str::trim) else {
            continue;
        };
        if !name.starts_with("CLUSTER_CLIENT_") {
            continue;
        }
        let value = lines
            .get(i + 1)
            .and_then(|next| next.trim().strip_prefix("value:"))
            .map(|v| v.trim().trim_matches('"').to_owned());
        entries.push((name.to_owned(), value));
    }
    entries
}

/// Parses the argument lists of every container; each must be a flow-style
/// JSON-compatible list, e.g. `args: ["create", "example-group"]`.
fn arg_lists(path: &Path, text: &str) -> Vec<Vec<String>> {
    let mut lists = Vec::new();
    for (number, line) in text.lines().enumerate() {
        let trimmed = line.trim_start();
        if trimmed.starts_with('#') {
            continue;
        }
        for key in ["args:", "command:"] {
            let Some(rest) = trimmed.strip_prefix(key) else {
                continue;
            };
            let list: Vec<String> = serde_json::from_str(rest.trim()).unwrap_or_else(|e| {
                panic!(
                    "{}:{}: write `{key}` as a one-line list like [\"rollback\"] so this test can check it ({e})",
                    path.display(),
                    number + 1
                )
            });
            if key == "command:" {
                assert_eq!(
                    list.first().map(String::as_str),
                    Some("cluster-client"),
                    "{}:{}: command must start with the binary",
                    path.display(),
                    number + 1
                );
                lists.push(list[1..].to_vec());
            } else {
                lists.push(list);
            }
        }
    }
    lists
}

fn parse(args: &[String]) -> Result<Cli, clap::Error> {
    Cli::try_parse_from(std::iter::once("cluster-client".to_owned()).chain(args.iter().cloned()))
}

#[test]
fn every_manifest_argument_list_parses_with_the_real_cli() {
    let mut checked = 0;
    for path in manifests() {
        let text = std::fs::read_to_string(&path).expect("read manifest");
        for args in arg_lists(&path, &text) {
            if let Err(e) = parse(&args) {
                panic!("{}: {args:?} does not parse: {e}", path.display());
            }
            checked += 1;
        }
    }
    // The create/delete Job and the rollback CronJob at least.
    assert!(
        checked >= 2,
        "found only {checked} argument lists in kubernetes/"
    );
}

#[test]
fn every_cluster_client_variable_in_the_manifests_is_one_the_binary_reads() {
    let mut checked = 0;
    for path in manifests() {
        let text = std::fs::read_to_string(&path).expect("read manifest");
        for (name, value) in env_entries(&text) {
            checked += 1;
            if OTHER_VARIABLES.contains(&name.as_str()) {
                continue;
            }
            let flag = flag_for_env(&name).unwrap_or_else(|| {
                panic!("{}: {name} is not read by cluster-client", path.display())
            });
            if let Some(value) = value {
                let args = vec![flag, value, "rollback".to_owned()];
                if let Err(e) = parse(&args) {
                    panic!(
                        "{}: {name} has a value the binary rejects: {e}",
                        path.display()
                    );
                }
            }
        }
    }
    assert!(
        checked >= 1,
        "no CLUSTER_CLIENT_* variables found in kubernetes/"
    );
}

#[test]
fn dockerfile_entrypoint_env_and_cmd_agree_with_the_binary() {
    let text = std::fs::read_to_string(root().join("Dockerfile")).expect("Dockerfile");
    let json_list = |instruction: &str| -> Option<Vec<String>> {
        text.lines()
            .rev()
            .find_map(|line| line.strip_prefix(instruction))
            .map(|rest| serde_json::from_str(rest.trim()).expect("exec-form JSON list"))
    };
    assert_eq!(
        json_list("ENTRYPOINT").as_deref(),
        Some(&["cluster-client".to_owned()][..]),
        "the image must run the binary directly, so `docker run IMAGE create g1` works"
    );
    if let Some(cmd) = json_list("CMD") {
        match parse(&cmd) {
            Ok(_) => {}
            Err(e) if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) => {}
            Err(e) => panic!("Dockerfile CMD {cmd:?} does not parse: {e}"),
        }
    }
    let variables: Vec<&str> = text
        .split_whitespace()
        .filter(|word| word.starts_with("CLUSTER_CLIENT_") && word.contains('='))
        .collect();
    assert!(
        !variables.is_empty(),
        "the image sets CLUSTER_CLIENT_HOSTS and CLUSTER_CLIENT_JOURNAL"
    );
    for variable in variables {
        let (name, _) = variable.split_once('=').expect("NAME=value");
        assert!(
            flag_for_env(name).is_some(),
            "Dockerfile sets {name}, which the binary does not read"
        );
    }
}

#[test]
fn renamed_flags_would_be_caught() {
    // Note: guards the checks above against passing vacuously.
    assert!(parse(&["rollback".to_owned(), "--no-such-flag".to_owned()]).is_err());
    assert_eq!(
        flag_for_env("CLUSTER_CLIENT_TIMEOUT").as_deref(),
        Some("--timeout")
    );
    assert_eq!(flag_for_env("CLUSTER_CLIENT_NO_SUCH_VARIABLE"), None);
}
