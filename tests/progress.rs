//! Feedback a person can follow while a run of many groups lasts: progress lines off a
//! terminal (Kubernetes logs), a bar on one, the summary and the `--parallel-groups` hint.

mod support;

use std::process::Command;
use std::time::Duration;

use serde_json::Value;
use support::{Fault, Rule, TestEnv};

/// A groups file of `n` groups in `env`'s directory; its path.
fn groups_file(env: &TestEnv, n: usize) -> String {
    let path = env.dir().join("groups.txt");
    let list: String = (0..n).map(|i| format!("g{i}\n")).collect();
    std::fs::write(&path, list).expect("write groups");
    path.to_str().expect("utf-8").to_owned()
}

#[test]
fn a_long_run_off_a_terminal_says_how_far_it_is_every_10s_and_hints_at_parallel_groups() {
    // 60 groups, a read and a create each at 100 ms a request: about 12 s, so at least one
    // progress line; two runs at once, one per log format.
    let runs: Vec<(TestEnv, &str)> = ["text", "json"]
        .into_iter()
        .map(|format| {
            let env = TestEnv::new(1);
            env.nodes[0].set_latency(Duration::from_millis(100));
            (env, format)
        })
        .collect();
    let children: Vec<_> = runs
        .iter()
        .map(|(env, format)| {
            let list = groups_file(env, 60);
            env.std_cmd()
                .args(["create", "--from-file", &list, "--log-format", format])
                .args(["--output", if *format == "json" { "json" } else { "human" }])
                .args(["--parallel-groups", "1"])
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .expect("spawn")
        })
        .collect();
    let outputs: Vec<_> = children
        .into_iter()
        .map(|child| child.wait_with_output().expect("wait"))
        .collect();
    let text = String::from_utf8_lossy(&outputs[0].stderr).into_owned();
    assert_eq!(outputs[0].status.code(), Some(0), "{text}");
    let progress: Vec<&str> = text.lines().filter(|l| l.contains("progress: ")).collect();
    assert!(
        !progress.is_empty(),
        "no progress line at the default level: {text}"
    );
    assert!(
        progress[0].contains("INFO") && progress[0].contains("/60 groups, 0 not done"),
        "{text}"
    );
    assert!(progress[0].contains("groups/s"), "a rate: {text}");
    assert_eq!(text.matches("hint: 60 groups took").count(), 1, "{text}");
    assert!(text.contains("--parallel-groups 32"), "{text}");
    let stdout = String::from_utf8_lossy(&outputs[0].stdout);
    assert!(stdout.contains("summary: 60 group(s) in "), "{stdout}");
    assert!(stdout.contains(": 60 done, 0 rolled back"), "{stdout}");

    let json = String::from_utf8_lossy(&outputs[1].stderr).into_owned();
    let lines: Vec<Value> = json
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    let line = lines
        .iter()
        .find(|l| {
            l["msg"]
                .as_str()
                .is_some_and(|m| m.starts_with("progress: "))
        })
        .unwrap_or_else(|| panic!("no JSON progress line: {json}"));
    assert_eq!(line["level"], "info");
    assert_eq!(line["total"], 60);
    assert!(
        line["finished"].as_u64().is_some_and(|n| n > 0 && n < 60),
        "{line}"
    );
    let report: Value = serde_json::from_slice(&outputs[1].stdout).expect("JSON");
    assert_eq!(report["summary"]["done"], 60, "{report}");
    assert!(
        report["summary"]["seconds"]
            .as_f64()
            .is_some_and(|s| s >= 10.0)
    );
}

#[test]
fn quiet_runs_and_short_runs_print_no_progress() {
    let env = TestEnv::new(1);
    let list = groups_file(&env, 3);
    let output = env
        .cmd()
        .args(["create", "--from-file", &list, "-q"])
        .output()
        .expect("run");
    assert_eq!(output.status.code(), Some(0));
    assert!(
        output.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn on_a_terminal_a_bar_is_drawn_cleared_at_the_end_and_log_lines_go_above_it() {
    if Command::new("script").arg("--version").output().is_err() {
        #[allow(clippy::print_stderr)]
        {
            eprintln!("skipping the terminal check: no script(1) for a pseudo-terminal");
        }
        return;
    }
    let env = TestEnv::new(2);
    env.nodes[0].set_latency(Duration::from_millis(150));
    // Note: the warnings come with g3, once the bar has been drawn for g0 to g2: two 429s
    // (retried, with a warning each), then a final 4xx that applied nothing, so g3 fails
    // with nothing left to verify (a 5xx may land late, which would make it exit 3).
    let throttled = Fault::TooManyRequests {
        retry_after: Some("0".to_owned()),
    };
    env.nodes[1].add_rule(Rule::new(throttled).method("POST").group("g3").times(2));
    env.nodes[1].add_rule(Rule::new(Fault::Status(422)).method("POST").group("g3"));
    let list = groups_file(&env, 6);
    // script(1) gives the run a pseudo-terminal for stdout and stderr alike.
    let line = format!(
        "{} create --from-file {list} --parallel-groups 1",
        support::BIN
    );
    let mut script = Command::new("script");
    for (key, value) in env.std_cmd().get_envs() {
        match value {
            Some(value) => script.env(key, value),
            None => script.env_remove(key),
        };
    }
    let output = script
        .args(["-qec", &line, "/dev/null"])
        .current_dir(env.dir())
        .env("TERM", "xterm")
        .env("COLUMNS", "120")
        .output()
        .expect("run script");
    let screen = String::from_utf8_lossy(&output.stdout).into_owned();
    // g3 fails on node 2 and is rolled back: exit 1.
    assert_eq!(output.status.code(), Some(1), "{screen}");
    assert!(screen.contains("/6 groups"), "no bar: {screen:?}");
    // The retry warnings are whole lines above the bar, never inside it: on each line
    // (what a carriage return or an erase-line leaves), a warning has no bar beside it.
    let warnings: Vec<&str> = screen
        .split(['\r', '\n'])
        .flat_map(|l| l.split("\u{1b}[2K"))
        .filter(|l| l.contains("WARN"))
        .collect();
    assert!(!warnings.is_empty(), "{screen:?}");
    for warning in warnings {
        let start = warning.trim_start_matches(|c: char| c == '\u{1b}' || !c.is_ascii_graphic());
        assert!(
            !warning.contains("groups") && start.contains("[20"),
            "a log line inside the bar: {warning:?}"
        );
    }
    assert!(screen.contains("summary: 6 group(s)"), "{screen:?}");
    // The bar is cleared at the end: nothing follows its last drawing but an erase.
    let last_bar = screen.rfind("/6 groups").expect("a bar");
    let after = &screen[last_bar..];
    let erased = after.find("\u{1b}[2K").expect("the bar is erased");
    assert!(
        !after[erased..].contains("groups  "),
        "the bar stays after the run: {screen:?}"
    );
}
