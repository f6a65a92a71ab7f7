//! Untrusted input: the hosts-file parser, the journal loader and the group-id validator
//! never panic on arbitrary input, and every refusal names what is wrong. A journal that is
//! refused is left byte for byte, and the binary sends nothing.

mod support;

use std::path::Path;

use cluster_client::vocab::hosts::parse_hosts;
use cluster_client::{Cancel, GroupId, InputError, Journal, Node};
use predicates::prelude::*;
use proptest::prelude::*;
use proptest::test_runner::TestRunner;
use serde_json::{Value, json};
use support::{Fault, Rule, TestEnv};

// --- Strategies ---

/// One hosts-file line built from pieces that reach every branch of the parser: schemes good
/// and bad, hosts with credentials or spaces, odd ports, paths with queries, comments.
fn hosts_line() -> impl Strategy<Value = String> {
    let scheme = prop_oneof![
        Just(""),
        Just("http://"),
        Just("https://"),
        Just("HTTPS://"),
        Just("ftp://"),
        Just("://"),
        Just("http:/"),
        Just("file:///"),
    ];
    let host = prop_oneof![
        prop::sample::select(vec![
            "node1",
            "127.0.0.1",
            "[::1]",
            "[::1",
            "",
            "bad host",
            "ü.example",
            "user:pw@h",
            "%41",
            "a..b",
        ])
        .prop_map(str::to_owned),
        "[a-z0-9.-]{0,12}",
    ];
    let port = prop_oneof![
        Just(""),
        Just(":8080"),
        Just(":80"),
        Just(":0"),
        Just(":65536"),
        Just(":"),
        Just(":x"),
    ];
    let path = prop_oneof![
        Just(""),
        Just("/"),
        Just("/api"),
        Just("/api/"),
        Just("//"),
        Just("/a?b=c"),
        Just("/?"),
        Just("/%zz"),
        Just("/.."),
        Just("/./x/../y"),
    ];
    let tail = prop_oneof![
        Just(""),
        Just(" # comment"),
        Just("#"),
        Just("\t"),
        Just(" second-entry"),
        Just("\r"),
        Just("\u{0}"),
    ];
    (Just("  "), scheme, host, port, path, tail)
        .prop_map(|(indent, a, b, c, d, e)| format!("{indent}{a}{b}{c}{d}{e}"))
}

/// A hosts file: arbitrary text, or lines from [`hosts_line`] (which often repeat a node).
fn hosts_text() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[ -~\t\r\n#]{0,200}",
        prop::collection::vec(hosts_line(), 0..8).prop_map(|lines| lines.join("\n")),
    ]
}

/// JSON values of any shape, with keys and strings a journal uses, to get past the parser
/// into the field checks.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        prop_oneof![
            Just("g"),
            Just(".."),
            Just("http://127.0.0.1:1"),
            Just("ftp://x"),
            Just("delete"),
            Just("create"),
            Just("teleport"),
            Just("1"),
        ]
        .prop_map(Value::from),
        any::<String>().prop_map(Value::from),
    ];
    leaf.prop_recursive(4, 32, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
            prop::collection::btree_map(journal_key(), inner, 0..6)
                .prop_map(|map| Value::Object(map.into_iter().collect())),
        ]
    })
}

fn journal_key() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("version".to_owned()),
        Just("entries".to_owned()),
        Just("group".to_owned()),
        Just("host".to_owned()),
        Just("action".to_owned()),
        Just("operation".to_owned()),
        Just("run".to_owned()),
        Just("recorded_at".to_owned()),
        Just("failed_replays".to_owned()),
        Just("last_error".to_owned()),
        "[a-z_]{1,8}",
    ]
}

/// A journal entry whose fields are each right, wrong, or missing.
fn journal_entry() -> impl Strategy<Value = Value> {
    let field = |good: Value| {
        prop_oneof![
            3 => Just(Some(good)),
            1 => json_value().prop_map(Some),
            1 => Just(None),
        ]
    };
    (
        field(json!("g")),
        field(json!("http://127.0.0.1:1")),
        field(json!("delete")),
        field(json!("create")),
        field(json!("1@2")),
        field(json!(1_700_000_000u64)),
        field(json!(2)),
        field(json!("HTTP 500")),
    )
        .prop_map(
            |(group, host, action, operation, run, recorded_at, failed, last_error)| {
                let mut entry = serde_json::Map::new();
                for (key, value) in [
                    ("group", group),
                    ("host", host),
                    ("action", action),
                    ("operation", operation),
                    ("run", run),
                    ("recorded_at", recorded_at),
                    ("failed_replays", failed),
                    ("last_error", last_error),
                ] {
                    if let Some(value) = value {
                        entry.insert(key.to_owned(), value);
                    }
                }
                Value::Object(entry)
            },
        )
}

/// Journal file contents: arbitrary bytes, arbitrary JSON, or nearly-right journals.
fn journal_bytes() -> impl Strategy<Value = Vec<u8>> {
    let version = prop_oneof![
        4 => Just(json!(1)),
        1 => json_value(),
    ];
    let entries = prop_oneof![
        4 => prop::collection::vec(journal_entry(), 0..4).prop_map(Value::from),
        1 => json_value(),
    ];
    let journal = (version, entries).prop_map(|(version, entries)| {
        json!({ "version": version, "entries": entries })
            .to_string()
            .into_bytes()
    });
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..256),
        json_value().prop_map(|v| v.to_string().into_bytes()),
        journal,
    ]
}

// --- Checks shared by the properties ---

/// Every way a hosts file is refused names the file, and a line error names a real line.
fn check_hosts_error(path: &Path, text: &str, err: &InputError) -> Result<(), TestCaseError> {
    let message = err.to_string();
    let shown = path.display().to_string();
    prop_assert!(message.contains(&shown), "no file name: {message}");
    match err {
        InputError::HostsLine { line, .. } => {
            prop_assert!(
                (1..=text.lines().count()).contains(line),
                "line {line} is not in the file: {message}"
            );
            prop_assert!(
                message.starts_with(&format!("{shown}:{line}: ")),
                "{message}"
            );
        }
        InputError::HostsEmpty { .. } => {}
        other => prop_assert!(false, "unexpected error kind: {other:?}"),
    }
    Ok(())
}

/// What docs/guide.md promises about group ids, written independently of `GroupId::new`.
fn id_is_valid(id: &str) -> bool {
    !id.is_empty()
        && id != "."
        && id != ".."
        && !id.chars().any(char::is_control)
        && !id
            .chars()
            .any(|c| matches!(c, '/' | '\\' | '%' | '?' | '#'))
        && id.len() <= 1024
}

// --- Properties ---

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    #[test]
    fn hosts_parser_never_panics_and_names_the_file_and_line(text in hosts_text()) {
        let path = Path::new("/etc/cluster/hosts file.txt");
        match parse_hosts(path, &text) {
            Ok(nodes) => {
                prop_assert!(!nodes.is_empty());
                for node in &nodes {
                    // A parsed node is in normal form, and its URLs can be built.
                    prop_assert_eq!(&Node::parse(node.base()).expect("re-parses"), node);
                    prop_assert!(!node.base().ends_with('/'));
                    let url = node.group_url(&GroupId::new("g").expect("valid"));
                    prop_assert!(url.path().ends_with("/v1/group/g/"), "{}", url);
                }
            }
            Err(err) => check_hosts_error(path, &text, &err)?,
        }
    }

    #[test]
    fn group_ids_are_checked_without_panicking_and_refusals_name_the_id(
        id in prop_oneof![
            6 => any::<String>(),
            2 => "[.]{0,3}",
            1 => "[ -~]{1020,1030}",
            1 => "[a-z0-9 ;.]{1020,1030}",
            2 => "[a./\\\\%?#]{1,4}",
            1 => "[a-z\u{80}-\u{10ffff}]{510,515}",
        ]
    ) {
        match GroupId::new(id.as_str()) {
            Ok(group) => {
                prop_assert!(id_is_valid(&id), "accepted {id:?}");
                prop_assert_eq!(group.as_str(), id.as_str());
                // The id is one path segment, whatever it holds.
                let node = Node::parse("http://node:1/api").expect("node");
                let url = node.group_url(&group);
                prop_assert_eq!(url.query(), None);
                prop_assert_eq!(url.fragment(), None);
                prop_assert_eq!(url.path_segments().expect("segments").count(), 5, "{}", url);
            }
            Err(err) => {
                prop_assert!(!id_is_valid(&id), "refused {id:?}: {err}");
                let message = err.to_string();
                // Named escaped, and cut with its length when long (a 2,000-byte id is
                // not echoed whole).
                let shown = id.escape_debug().to_string();
                let quoted = format!("\"{}\"", cluster_client::vocab::text::cut(&shown, id.len()));
                prop_assert!(message.contains(&quoted), "id not named: {message}");
                if id.chars().count() > cluster_client::vocab::text::SHORTENED_CHARS {
                    prop_assert!(!message.contains(&shown), "echoed whole: {message}");
                }
                prop_assert!(!message.contains('\n'), "{message}");
            }
        }
    }
}

#[test]
fn journal_loader_never_panics_names_the_path_and_leaves_the_file() {
    // Note: a runner by hand, so that one directory serves every case.
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("journal.json");
    let mut runner = TestRunner::new(ProptestConfig::with_cases(1000));
    let result = runner.run(&journal_bytes(), |bytes| {
        std::fs::write(&path, &bytes).expect("write");
        match Journal::open(&path, &Cancel::new()) {
            Ok(journal) => {
                // Only a well-formed journal of a known version loads.
                let value: Value = serde_json::from_slice(&bytes).expect("loaded, so JSON");
                prop_assert!(
                    value["version"] == json!(1) || value["version"] == json!(2),
                    "loaded version {}",
                    value["version"]
                );
                prop_assert_eq!(
                    Some(journal.entries().len()),
                    value["entries"].as_array().map(Vec::len)
                );
                let upgraded = value["version"] == json!(1) && !journal.entries().is_empty();
                if upgraded {
                    // A version-1 journal is rewritten in version 2, entries kept.
                    let now: Value =
                        serde_json::from_slice(&std::fs::read(&path).expect("read back"))
                            .expect("rewritten as JSON");
                    prop_assert_eq!(&now["version"], &json!(2));
                    prop_assert_eq!(
                        now["entries"].as_array().map(Vec::len),
                        Some(journal.entries().len())
                    );
                } else {
                    prop_assert_eq!(std::fs::read(&path).expect("read back"), bytes);
                }
            }
            Err(err) => {
                let message = err.to_string();
                prop_assert!(
                    message.contains(&path.display().to_string()),
                    "no path: {message}"
                );
                prop_assert_eq!(std::fs::read(&path).expect("read back"), bytes);
            }
        }
        Ok(())
    });
    if let Err(failure) = result {
        panic!("{failure}");
    }
}

// --- Explicit cases ---

#[test]
fn deeply_nested_json_is_refused_without_overflowing_the_stack() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("journal.json");
    let mut bytes = "[".repeat(100_000).into_bytes();
    bytes.extend("]".repeat(100_000).into_bytes());
    std::fs::write(&path, &bytes).expect("write");
    let err = Journal::open(&path, &Cancel::new())
        .expect_err("refused")
        .to_string();
    assert!(err.contains(&path.display().to_string()), "{err}");
    assert_eq!(std::fs::read(&path).expect("read"), bytes);
}

#[test]
fn every_truncation_of_a_real_journal_is_refused_unchanged() {
    let env = journal_with_a_pending_entry();
    let full = std::fs::read(env.journal_path()).expect("journal");
    assert!(full.ends_with(b"}\n"), "{}", String::from_utf8_lossy(&full));
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("journal.json");
    // Without its final newline the file is still a whole journal; any shorter prefix is not.
    for len in 0..full.len() - 1 {
        std::fs::write(&path, &full[..len]).expect("write");
        let err = Journal::open(&path, &Cancel::new())
            .expect_err("truncated")
            .to_string();
        assert!(err.contains(&path.display().to_string()), "{len}: {err}");
        assert_eq!(std::fs::read(&path).expect("read"), &full[..len], "{len}");
    }
}

#[test]
fn a_node_url_never_keeps_a_fragment() {
    for entry in ["http://a#x", "http://a/#", "https://a/api#frag"] {
        assert!(Node::parse(entry).is_err(), "{entry} was accepted");
    }
}

// --- Unreadable journals, black box: exit 2, file unchanged, nothing sent ---

/// A cluster whose node 0 refuses DELETEs and node 1 POSTs, after a create that left one
/// pending repair (delete g on node 0) in the journal. Rules are cleared again.
fn journal_with_a_pending_entry() -> TestEnv {
    let env = TestEnv::new(2);
    // Note: final 4xx, so nothing may land late: the repair is the journal's only entry.
    env.nodes[0].add_rule(Rule::new(Fault::Status(422)).method("DELETE"));
    env.nodes[1].add_rule(Rule::new(Fault::Status(422)).method("POST"));
    env.cmd().args(["create", "g"]).assert().code(3);
    assert_eq!(env.pending().len(), 1);
    assert_eq!(env.entries().len(), 1);
    for node in &env.nodes {
        node.clear_rules();
    }
    env
}

/// Every command that reads the journal.
const EVERY_COMMAND: &[&[&str]] = &[
    &["create", "h"],
    &["delete", "h"],
    &["status", "h"],
    &["rollback"],
    &["rollback", "--output", "json"],
];

/// One command that writes and one that only replays, for the many-case tests.
const TWO_COMMANDS: &[&[&str]] = &[&["create", "h"], &["rollback"]];

/// Writes `bytes` as the journal and checks each of `commands` refuses it unchanged,
/// sending nothing.
fn assert_refused(env: &TestEnv, bytes: &[u8], why: &str, commands: &[&[&str]]) {
    std::fs::write(env.journal_path(), bytes).expect("write journal");
    let before = env.total_requests();
    for &args in commands {
        env.cmd().args(args).assert().code(2).stderr(
            predicate::str::contains(env.journal_path().display().to_string())
                .and(predicate::str::contains(why)),
        );
        assert_eq!(
            std::fs::read(env.journal_path()).expect("read journal"),
            bytes,
            "{args:?} changed the journal"
        );
    }
    assert_eq!(env.total_requests(), before, "something was sent");
}

#[test]
fn a_journal_from_a_newer_version_is_refused_unchanged() {
    let env = journal_with_a_pending_entry();
    let mut journal = env.journal().expect("journal");
    journal["version"] = json!(4);
    journal["entries"][0]["action"] = json!("teleport");
    journal["entries"][0]["priority"] = json!("high");
    let bytes = serde_json::to_vec_pretty(&journal).expect("serialise");
    assert_refused(&env, &bytes, "format version 4", EVERY_COMMAND);
    assert_eq!(env.holders("g"), [0], "the pending repair was not applied");
}

#[test]
fn a_truncated_journal_is_refused_unchanged() {
    let env = journal_with_a_pending_entry();
    let full = std::fs::read(env.journal_path()).expect("journal");
    for len in [1, full.len() / 2, full.len() - 3] {
        assert_refused(&env, &full[..len], "unreadable", EVERY_COMMAND);
    }
    assert_eq!(env.holders("g"), [0]);
}

#[test]
fn a_journal_with_wrong_field_types_is_refused_unchanged() {
    let env = journal_with_a_pending_entry();
    let good = env.journal().expect("journal");
    let cases: [(&str, Value); 9] = [
        ("/version", json!("1")),
        ("/version", json!(-1)),
        ("/version", json!(1.5)),
        ("/entries", json!({})),
        ("/entries/0/group", json!(7)),
        ("/entries/0/recorded_at", json!("yesterday")),
        ("/entries/0/failed_replays", json!(-1)),
        ("/entries/0/host", json!("ftp://node")),
        ("/entries/0/group", json!("..")),
    ];
    for (pointer, value) in cases {
        let mut journal = good.clone();
        *journal.pointer_mut(pointer).expect("field exists") = value;
        let bytes = serde_json::to_vec(&journal).expect("serialise");
        assert_refused(&env, &bytes, "unreadable", TWO_COMMANDS);
    }
    // So are the fields format 3 added, when they hold what no run writes.
    for (field, value) in [
        ("kind", json!("maybe")),
        ("kind", json!(3)),
        ("until", json!("someday")),
        ("settled", json!("yes")),
    ] {
        let mut journal = good.clone();
        journal["entries"][0][field] = value;
        let bytes = serde_json::to_vec(&journal).expect("serialise");
        assert_refused(&env, &bytes, "unreadable", TWO_COMMANDS);
    }
    // A version too large for any integer type is refused the same way.
    let text = serde_json::to_string(&good).expect("serialise");
    let huge = text.replacen("\"version\":3", "\"version\":18446744073709551616", 1);
    assert_ne!(huge, text);
    assert_refused(&env, huge.as_bytes(), "unreadable", TWO_COMMANDS);
    assert_eq!(env.holders("g"), [0]);
}
