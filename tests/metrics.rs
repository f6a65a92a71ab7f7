//! Black-box tests of what cron and Kubernetes observe: the `--metrics-file`
//! (checked with the reference Prometheus text parser) and `--log-format json`.

mod support;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use serde_json::Value;
use support::{Fault, Rule, TestEnv, entry, sigterm};

const WAIT: Duration = Duration::from_secs(20);

/// One sample: metric name and labels.
type Key = (String, BTreeMap<String, String>);

/// Parses `path` with `prometheus_client.parser.text_string_to_metric_families`
/// and returns every sample. `None` (after saying why) when the parser cannot
/// be imported, unless `CLUSTER_CLIENT_REQUIRE_PROM_PARSER=1` (CI), which fails.
fn parse_with_prometheus_client(path: &Path) -> Option<BTreeMap<Key, f64>> {
    const SCRIPT: &str = r#"
import json, math, sys
try:
    from prometheus_client.parser import text_string_to_metric_families
except ImportError as e:
    print(f"cannot import prometheus_client: {e}", file=sys.stderr)
    sys.exit(77)
samples = []
for family in text_string_to_metric_families(open(sys.argv[1], encoding="utf-8").read()):
    if family.type == "unknown" or not family.documentation:
        sys.exit(f"{family.name}: no TYPE or no HELP line")
    for s in family.samples:
        # NaN is no JSON number: sent as text.
        samples.append([s.name, s.labels, "NaN" if math.isnan(s.value) else s.value])
print(json.dumps(samples))
"#;
    let python = std::env::var("CLUSTER_CLIENT_TEST_PYTHON").unwrap_or_else(|_| "python3".into());
    let required = std::env::var("CLUSTER_CLIENT_REQUIRE_PROM_PARSER").is_ok_and(|v| v == "1");
    let skip = |why: String| {
        assert!(!required, "CLUSTER_CLIENT_REQUIRE_PROM_PARSER=1, but {why}");
        #[allow(clippy::print_stderr)]
        {
            eprintln!("skipping the prometheus_client check: {why}");
        }
        None
    };
    let output = match std::process::Command::new(&python)
        .args(["-c", SCRIPT])
        .arg(path)
        .output()
    {
        Ok(output) => output,
        Err(e) => return skip(format!("cannot run {python}: {e}")),
    };
    let stderr = String::from_utf8_lossy(&output.stderr);
    if output.status.code() == Some(77) {
        return skip(stderr.trim().to_owned());
    }
    assert!(
        output.status.success(),
        "prometheus_client rejects the metrics file: {stderr}\n{}",
        std::fs::read_to_string(path).unwrap_or_default()
    );
    let samples: Vec<(String, BTreeMap<String, String>, Value)> =
        serde_json::from_slice(&output.stdout).expect("samples as JSON");
    Some(
        samples
            .into_iter()
            .map(|(name, labels, value)| {
                let value = value.as_f64().unwrap_or(f64::NAN);
                ((name, labels), value)
            })
            .collect(),
    )
}

/// The samples of the metrics file: from the reference parser when it is
/// available, else from a plain reading of the simple lines this binary
/// writes (`name{a="b",c="d"} value`), so the values are checked either way.
fn samples(path: &Path) -> BTreeMap<Key, f64> {
    let text = std::fs::read_to_string(path).expect("metrics file");
    let plain = plain_samples(&text);
    match parse_with_prometheus_client(path) {
        Some(parsed) => {
            // Note: NaN (a value not known) is equal to itself here.
            let bits = |m: &BTreeMap<Key, f64>| -> Vec<(Key, u64)> {
                let bits = |v: &f64| if v.is_nan() { f64::NAN } else { *v }.to_bits();
                m.iter().map(|(k, v)| (k.clone(), bits(v))).collect()
            };
            assert_eq!(
                bits(&parsed),
                bits(&plain),
                "the reference parser reads other values"
            );
            parsed
        }
        None => plain,
    }
}

fn plain_samples(text: &str) -> BTreeMap<Key, f64> {
    let mut samples = BTreeMap::new();
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let (series, value) = line.rsplit_once(' ').expect("name value");
        let (name, labels) = match series.split_once('{') {
            Some((name, rest)) => {
                let labels = rest
                    .trim_end_matches('}')
                    .split(',')
                    .map(|pair| {
                        let (k, v) = pair.split_once('=').expect("label=value");
                        (k.to_owned(), v.trim_matches('"').to_owned())
                    })
                    .collect();
                (name, labels)
            }
            None => (series, BTreeMap::new()),
        };
        let previous = samples.insert((name.to_owned(), labels), value.parse().expect("number"));
        assert!(previous.is_none(), "{series} twice");
    }
    samples
}

fn get(samples: &BTreeMap<Key, f64>, name: &str, labels: &[(&str, &str)]) -> f64 {
    let key = (
        name.to_owned(),
        labels
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
    );
    *samples
        .get(&key)
        .unwrap_or_else(|| panic!("no sample {key:?} in {samples:#?}"))
}

fn requests(samples: &BTreeMap<Key, f64>, method: &str, outcome: &str) -> f64 {
    get(
        samples,
        "cluster_client_last_run_requests",
        &[("method", method), ("outcome", outcome)],
    )
}

#[test]
fn metrics_file_counts_the_requests_and_retries_of_a_create() {
    let env = TestEnv::new(2);
    env.nodes[1].add_rule(Rule::new(Fault::Status(503)).method("POST").times(1));
    env.nodes[0].add_rule(Rule::new(Fault::Reset).method("GET").times(1));
    let metrics = env.dir().join("cluster_client.prom");
    env.cmd()
        .args(["create", "g", "--metrics-file"])
        .arg(&metrics)
        .assert()
        .code(0);
    let s = samples(&metrics);
    let create = [("command", "create")];
    assert_eq!(get(&s, "cluster_client_last_run_exit_status", &create), 0.0);
    assert_eq!(get(&s, "cluster_client_pending_repairs", &[]), 0.0);
    assert_eq!(
        get(&s, "cluster_client_oldest_pending_repair_age_seconds", &[]),
        0.0
    );
    assert_eq!(requests(&s, "GET", "2xx") + requests(&s, "GET", "4xx"), 2.0);
    assert_eq!(requests(&s, "GET", "broken"), 1.0);
    assert_eq!(requests(&s, "POST", "2xx"), 2.0);
    assert_eq!(requests(&s, "POST", "5xx"), 1.0);
    assert_eq!(requests(&s, "DELETE", "2xx"), 0.0);
    assert_eq!(get(&s, "cluster_client_last_run_retries", &[]), 2.0);
    let total: f64 = s
        .iter()
        .filter(|((name, _), _)| name == "cluster_client_last_run_requests")
        .map(|(_, v)| v)
        .sum();
    assert_eq!(
        total as usize,
        env.total_requests(),
        "every request counted once"
    );
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs_f64();
    let at = get(&s, "cluster_client_last_run_timestamp_seconds", &create);
    assert!((now - 60.0..=now + 1.0).contains(&at), "{at} vs {now}");
    let took = get(&s, "cluster_client_last_run_duration_seconds", &create);
    assert!((0.0..60.0).contains(&took), "{took}");
    let leftovers: Vec<_> = std::fs::read_dir(env.dir())
        .expect("list")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn metrics_after_a_rollback_report_the_pending_repairs_and_the_oldest_age() {
    let env = TestEnv::new(1);
    let node = support::TestNode::start();
    let gone = node.url();
    node.stop();
    let two_hours_ago = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs()
        - 7200;
    let mut old = entry("g", &gone, "delete");
    old["recorded_at"] = two_hours_ago.into();
    env.write_journal(&[old, entry("h", &env.nodes[0].url(), "delete")]);
    let metrics = env.dir().join("rollback.prom");
    env.cmd()
        .args(["rollback", "--metrics-file"])
        .arg(&metrics)
        .assert()
        .code(3);
    let s = samples(&metrics);
    let rollback = [("command", "rollback")];
    assert_eq!(
        get(&s, "cluster_client_last_run_exit_status", &rollback),
        3.0
    );
    assert_eq!(get(&s, "cluster_client_pending_repairs", &[]), 1.0);
    let age = get(&s, "cluster_client_oldest_pending_repair_age_seconds", &[]);
    assert!((7200.0..7300.0).contains(&age), "{age}");
    // Retries 2: three attempts at the gone node, whose connections are refused.
    assert_eq!(requests(&s, "DELETE", "connect"), 3.0);
    assert_eq!(requests(&s, "DELETE", "2xx"), 1.0);
    assert_eq!(get(&s, "cluster_client_last_run_retries", &[]), 2.0);
}

#[test]
fn metrics_over_several_journals_count_them_all_or_claim_nothing() {
    let env = TestEnv::new(1);
    let gone = support::TestNode::start();
    let url = gone.url();
    gone.stop();
    // The test journal's directory holds two journals, each with a repair for a node that is gone.
    env.write_journal(&[entry("g", &url, "delete")]);
    let dir = env.journal_path().parent().expect("dir").to_owned();
    std::fs::copy(env.journal_path(), dir.join("other.json")).expect("copy");
    let metrics = env.dir().join("m.prom");
    let rollback = |code| {
        env.cmd()
            .args(["rollback", "--journal"])
            .arg(&dir)
            .arg("--metrics-file")
            .arg(&metrics)
            .assert()
            .code(code);
        samples(&metrics)
    };
    assert_eq!(
        get(&rollback(3), "cluster_client_pending_repairs", &[]),
        2.0
    );
    // One that cannot be read: the total is not known, so it is not claimed (NaN), and the
    // unreadable journal is counted.
    std::fs::write(dir.join("corrupt.json"), "not a journal").expect("write");
    let s = rollback(3);
    assert!(
        get(&s, "cluster_client_pending_repairs", &[]).is_nan(),
        "{s:#?}"
    );
    assert_eq!(get(&s, "cluster_client_journal_unreadable", &[]), 1.0);
}

#[test]
fn metrics_are_written_for_journal_commands_and_early_failures() {
    let env = TestEnv::new(1);
    env.write_journal(&[entry("g", &env.nodes[0].url(), "delete")]);
    let metrics = env.dir().join("m.prom");
    env.cmd()
        .args(["journal", "list", "--metrics-file"])
        .arg(&metrics)
        .assert()
        .code(3);
    let s = samples(&metrics);
    let list = [("command", "journal list")];
    assert_eq!(get(&s, "cluster_client_last_run_exit_status", &list), 3.0);
    assert_eq!(get(&s, "cluster_client_pending_repairs", &[]), 1.0);
    assert_eq!(env.total_requests(), 0);

    // A hosts file that cannot be read: exit 2, and the journal is read all the same.
    env.cmd()
        .args([
            "status",
            "g",
            "--hosts",
            "/nonexistent/hosts.txt",
            "--metrics-file",
        ])
        .arg(&metrics)
        .assert()
        .code(2);
    let s = samples(&metrics);
    let status = [("command", "status")];
    assert_eq!(get(&s, "cluster_client_last_run_exit_status", &status), 2.0);
    assert_eq!(get(&s, "cluster_client_pending_repairs", &[]), 1.0);
    assert_eq!(get(&s, "cluster_client_journal_unreadable", &[]), 0.0);
}

#[test]
fn metrics_that_cannot_be_written_are_logged_and_leave_the_exit_status_alone() {
    let env = TestEnv::new(1);
    env.cmd()
        .args(["create", "g", "--metrics-file", "/nonexistent/dir/m.prom"])
        .assert()
        .code(0)
        .stderr(predicates::str::contains("cannot write the metrics file"));
    assert_eq!(env.holders("g"), [0]);
}

#[test]
fn metrics_are_written_after_a_first_signals_rollback() {
    let env = TestEnv::new(2);
    env.nodes[1].add_rule(Rule::new(Fault::Hang).method("POST"));
    let metrics = env.dir().join("m.prom");
    let metrics_arg = metrics.to_str().expect("utf8").to_owned();
    let mut run = env.spawn_watched(&[
        "create",
        "g",
        "--timeout",
        "60s",
        "--metrics-file",
        &metrics_arg,
    ]);
    // Node 2's POST is the 2nd request it sees (after its GET); it hangs.
    assert!(env.nodes[1].wait_for_requests(2, WAIT));
    sigterm(&run.child);
    run.wait_for_line("starting no new changes", WAIT);
    let (code, stderr) = run.wait_exit(WAIT);
    // Note: the abandoned POST may still land after its undo, so node 2 is
    // verified (exit 3), and the gauges count it apart from the repairs.
    assert_eq!(code, Some(3), "{stderr}");
    let s = samples(&metrics);
    assert_eq!(
        get(
            &s,
            "cluster_client_last_run_exit_status",
            &[("command", "create")]
        ),
        3.0
    );
    assert_eq!(requests(&s, "POST", "abandoned"), 1.0);
    assert_eq!(requests(&s, "DELETE", "2xx"), 2.0);
    assert_eq!(get(&s, "cluster_client_pending_repairs", &[]), 0.0);
    assert_eq!(get(&s, "cluster_client_pending_verifications", &[]), 1.0);
    env.nodes[1].release_hangs();
}

#[test]
fn json_logs_are_one_object_per_stderr_line_with_the_required_keys() {
    let env = TestEnv::new(2);
    env.nodes[1].add_rule(
        Rule::new(Fault::Body {
            status: 503,
            content_type: "text/plain".into(),
            body: b"\x1b[2J\nforged line".to_vec(),
        })
        .method("POST")
        .times(1),
    );
    let output = env
        .cmd()
        .args(["create", "g", "--log-format", "json", "-vv"])
        .output()
        .expect("run");
    assert_eq!(output.status.code(), Some(0));
    let stderr = String::from_utf8(output.stderr).expect("utf8");
    let lines: Vec<Value> = stderr
        .lines()
        .map(|line| {
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line:?}"))
        })
        .collect();
    assert!(lines.len() >= 4, "{stderr}");
    for line in &lines {
        let ts = line["ts"].as_str().expect("ts");
        humantime::parse_rfc3339(ts).unwrap_or_else(|e| panic!("ts {ts:?}: {e}"));
        assert!(ts.ends_with('Z'), "{ts}");
        assert!(
            ["error", "warn", "info", "debug", "trace"]
                .contains(&line["level"].as_str().expect("level"))
        );
        assert!(line["msg"].is_string(), "{line}");
    }
    let retry = lines
        .iter()
        .find(|l| l["msg"].as_str().is_some_and(|m| m.contains("retrying in")))
        .unwrap_or_else(|| panic!("no retry line: {stderr}"));
    assert_eq!(retry["level"], "warn");
    assert_eq!(retry["host"], env.nodes[1].url().as_str());
    assert_eq!(retry["group"], "g");
    assert_eq!(retry["method"], "POST");
    assert_eq!(retry["attempt"], 1);
    // The node's body reaches the debug line, and still cannot drive a terminal.
    assert!(
        lines.iter().any(|l| l["msg"]
            .as_str()
            .is_some_and(|m| m.contains("[2J") && m.contains("forged line"))),
        "{stderr}"
    );
    assert!(
        !stderr.contains('\u{1b}'),
        "raw control characters on stderr"
    );
}

#[test]
fn json_logs_carry_the_binarys_own_error_line_too() {
    let env = TestEnv::new(1);
    let output = env
        .cmd()
        .env("CLUSTER_CLIENT_LOG_FORMAT", "json")
        .args(["status", "g", "--hosts", "/nonexistent/hosts.txt"])
        .output()
        .expect("run");
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8(output.stderr).expect("utf8");
    let line: Value = serde_json::from_str(stderr.trim_end()).expect("one JSON object");
    assert_eq!(line["level"], "error");
    assert!(
        line["msg"]
            .as_str()
            .is_some_and(|m| m.contains("/nonexistent/hosts.txt")),
        "{line}"
    );
}

#[test]
fn json_log_lines_about_a_node_carry_group_host_and_operation_as_fields() {
    let env = TestEnv::new(2);
    env.nodes[1].add_rule(Rule::new(Fault::Status(500)).method("POST"));
    env.nodes[0].add_rule(Rule::new(Fault::Status(500)).method("DELETE"));
    let output = env
        .cmd()
        .args(["create", "g", "--log-format", "json"])
        .output()
        .expect("run");
    assert_eq!(output.status.code(), Some(3));
    let stderr = String::from_utf8(output.stderr).expect("utf8");
    let lines: Vec<Value> = stderr
        .lines()
        .map(|line| serde_json::from_str(line).expect("a JSON line"))
        .collect();
    let undo = lines
        .iter()
        .find(|l| {
            l["msg"]
                .as_str()
                .is_some_and(|m| m.contains("could not undo the create"))
        })
        .unwrap_or_else(|| panic!("no undo line: {stderr}"));
    assert_eq!(undo["group"], "g", "{undo}");
    assert_eq!(undo["host"], env.nodes[0].url().as_str(), "{undo}");
    assert_eq!(undo["operation"], "create", "{undo}");
    // Every line that names a node in its message names it as a field too.
    for line in &lines {
        let msg = line["msg"].as_str().expect("msg");
        for node in &env.nodes {
            if msg.starts_with(&format!("{}:", node.url())) {
                assert_eq!(line["host"], node.url().as_str(), "{line}");
                assert_eq!(line["group"], "g", "{line}");
            }
        }
    }
}

// --- The documented alerts, run by promtool against real metrics files ---

/// The `groups:` block of docs/guide.md's Metrics section: the ready-made alerts.
fn documented_alert_rules() -> String {
    let guide =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/guide.md"))
            .expect("docs/guide.md");
    let metrics = guide
        .split("\n## Metrics")
        .nth(1)
        .expect("a Metrics section");
    let block = metrics
        .split("```yaml\n")
        .nth(1)
        .and_then(|rest| rest.split("\n```").next())
        .expect("a yaml block of alerts");
    assert!(block.starts_with("groups:"), "{block}");
    block.to_owned()
}

/// The rules without their annotations: promtool compares annotations too, and
/// the templated ones are for people; the expressions, `for` and labels are what
/// is tested.
fn without_annotations(rules: &str) -> String {
    let mut kept = Vec::new();
    let mut skipping: Option<usize> = None;
    for line in rules.lines() {
        let indent = line.len() - line.trim_start().len();
        if let Some(at) = skipping {
            if indent > at || line.trim().is_empty() {
                continue;
            }
            skipping = None;
        }
        if line.trim() == "annotations:" {
            skipping = Some(indent);
            continue;
        }
        kept.push(line);
    }
    kept.join("\n") + "\n"
}

/// The samples of a metrics file as promtool input series, one value a minute for 60
/// minutes. The test clock starts at the Unix epoch, so the run's end time is mapped to
/// t=0 and a `time() - timestamp` expression sees the time since the run.
fn input_series(samples: &BTreeMap<Key, f64>) -> String {
    let mut out = String::from("    input_series:\n");
    for ((name, labels), value) in samples {
        let value = if name == "cluster_client_last_run_timestamp_seconds" {
            0.0
        } else {
            *value
        };
        let shown = if value.is_nan() {
            "NaN".to_owned()
        } else {
            value.to_string()
        };
        let labels: Vec<String> = labels.iter().map(|(k, v)| format!("{k}={v:?}")).collect();
        out.push_str(&format!(
            "      - series: '{name}{{{}}}'\n        values: '{}'\n",
            labels.join(","),
            vec![shown; 61].join(" ")
        ));
    }
    out
}

/// `promtool test rules` on `rules` with `cases`: (metrics file samples, minutes into the
/// test, alerts expected to fire then with their labels). `None` when promtool is not
/// installed, unless CLUSTER_CLIENT_REQUIRE_PROMTOOL=1 (CI), which fails.
/// One promtool case: a metrics file's samples, the minute to evaluate at, and the alerts
/// (with their extra labels) that fire then.
type AlertCase<'a> = (BTreeMap<Key, f64>, u32, Vec<(&'a str, &'a str)>);

fn promtool(rules: &str, cases: &[AlertCase<'_>]) -> Option<()> {
    let required = std::env::var("CLUSTER_CLIENT_REQUIRE_PROMTOOL").is_ok_and(|v| v == "1");
    if std::process::Command::new("promtool")
        .arg("--version")
        .output()
        .is_err()
    {
        assert!(
            !required,
            "CLUSTER_CLIENT_REQUIRE_PROMTOOL=1, but promtool is not installed"
        );
        #[allow(clippy::print_stderr)]
        {
            eprintln!("skipping the alert rules: no promtool (Debian: prometheus)");
        }
        return None;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("rules.yml"), rules).expect("write rules");
    let alerts = [
        "ClusterClientRepairsPending",
        "ClusterClientJournalUnreadable",
        "ClusterClientMetricsStale",
    ];
    let mut tests = String::from("rule_files: [rules.yml]\nevaluation_interval: 1m\ntests:\n");
    for (samples, minutes, firing) in cases {
        tests.push_str("  - interval: 1m\n");
        tests.push_str(&input_series(samples));
        tests.push_str("    alert_rule_test:\n");
        for alert in alerts {
            tests.push_str(&format!(
                "      - eval_time: {minutes}m\n        alertname: {alert}\n        exp_alerts:"
            ));
            let fires: Vec<&str> = firing
                .iter()
                .filter(|(name, _)| *name == alert)
                .map(|(_, labels)| *labels)
                .collect();
            if fires.is_empty() {
                tests.push_str(" []\n");
            }
            for labels in fires {
                tests.push_str(&format!(
                    "\n          - exp_labels: {{severity: warning{labels}}}\n"
                ));
            }
        }
    }
    std::fs::write(dir.path().join("tests.yml"), &tests).expect("write tests");
    let output = std::process::Command::new("promtool")
        .args(["test", "rules", "tests.yml"])
        .current_dir(dir.path())
        .output()
        .expect("run promtool");
    assert!(
        output.status.success(),
        "promtool: {}{}\n{rules}\n{tests}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    Some(())
}

#[test]
fn the_documented_alerts_fire_on_pending_repairs_and_an_unreadable_journal_only() {
    let rules = documented_alert_rules();
    // Every documented expression is about a series the binary writes.
    for expected in [
        "cluster_client_oldest_pending_repair_age_seconds > 3600",
        "cluster_client_journal_unreadable > 0",
        "time() - cluster_client_last_run_timestamp_seconds{command=\"rollback\"} > 1800",
    ] {
        assert!(rules.contains(&format!("expr: {expected}")), "{rules}");
    }
    let rollback = |env: &TestEnv, code: i32| {
        let metrics = env.dir().join("rollback.prom");
        env.cmd()
            .args(["rollback", "--metrics-file"])
            .arg(&metrics)
            .assert()
            .code(code);
        samples(&metrics)
    };
    // A healthy run: nothing pending.
    let healthy = rollback(&TestEnv::new(1), 0);
    // Repairs pending for two hours on a node that is gone.
    let pending_env = TestEnv::new(1);
    let gone = support::TestNode::start();
    let url = gone.url();
    gone.stop();
    let mut old = entry("g", &url, "delete");
    old["recorded_at"] = (std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs()
        - 7200)
        .into();
    pending_env.write_journal(&[old]);
    let pending = rollback(&pending_env, 3);
    // A journal that cannot be read.
    let unreadable_env = TestEnv::new(1);
    std::fs::write(unreadable_env.journal_path(), "not a journal").expect("write");
    let unreadable = rollback(&unreadable_env, 2);
    assert!(get(&unreadable, "cluster_client_pending_repairs", &[]).is_nan());
    let stale = ("ClusterClientMetricsStale", ", command: rollback");
    let cases = [
        (healthy.clone(), 15, vec![]),
        (pending, 15, vec![("ClusterClientRepairsPending", "")]),
        (unreadable, 15, vec![("ClusterClientJournalUnreadable", "")]),
        // The same healthy file, 40 minutes on, with no run since: the cron stopped.
        (healthy, 40, vec![stale]),
    ];
    promtool(&without_annotations(&rules), &cases);
}
