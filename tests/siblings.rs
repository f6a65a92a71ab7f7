//! Journals of one set (every journal in one directory, such as a bulk run's shards) refuse
//! each other's groups (issue 16 item 2): a repair pending in any of them stops a new run of
//! its group, whichever journal that run holds.

mod support;

use serde_json::Value;
use support::{TestEnv, entry};

/// Writes a journal at `path` with `entries`, private as cluster-client writes it.
fn write_journal_at(path: &std::path::Path, entries: &[Value]) {
    let text = serde_json::json!({"version": 3, "entries": entries}).to_string();
    support::write_private(path, text.as_bytes());
}

#[test]
fn a_repair_pending_in_another_journal_of_the_set_refuses_the_group_and_sends_nothing() {
    let env = TestEnv::new(3);
    let dir = env.journal_path().parent().expect("dir").to_owned();
    // Shard 1 of 4 left "delete tenant-0007 on node 1" pending, as in the issue.
    env.write_journal(&[]);
    let other = dir.join("journal-1.json");
    write_journal_at(
        &other,
        &[entry("tenant-0007", &env.nodes[0].url(), "delete")],
    );
    env.seed("tenant-0007", &[0]);
    let mine = dir.join("journal-5.json");
    let report = env.json(
        &[
            "create",
            "tenant-0007",
            "--journal",
            mine.to_str().expect("utf-8"),
        ],
        3,
    );
    assert_eq!(report["outcome"], "refused");
    assert_eq!(report["refused_by"], other.display().to_string());
    assert_eq!(report["pending"][0]["host"], env.nodes[0].url());
    assert_eq!(
        env.total_requests(),
        0,
        "nothing is sent for a refused group"
    );
    // The group stays as the other journal's repair will leave it: that
    // journal's replay deletes it on node 1, and no run claimed it meanwhile.
    assert_eq!(env.holders("tenant-0007"), [0]);
    let human = env
        .cmd()
        .args([
            "create",
            "tenant-0007",
            "--journal",
            mine.to_str().expect("utf-8"),
        ])
        .output()
        .expect("run");
    assert_eq!(human.status.code(), Some(3));
    let text = String::from_utf8_lossy(&human.stdout);
    assert!(text.contains("another journal of this set"), "{text}");
    assert!(text.contains("journal-1.json"), "{text}");
}

#[test]
fn another_journal_that_cannot_be_read_is_named_and_stops_nothing() {
    let env = TestEnv::new(2);
    let dir = env.journal_path().parent().expect("dir").to_owned();
    env.write_journal(&[]);
    let broken = dir.join("journal-2.json");
    support::write_private(&broken, b"{\"version\": 3, \"entries\": [");
    let output = env.cmd().args(["create", "g"]).output().expect("run");
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("journal-2.json") && stderr.contains("refuses no group"),
        "{stderr}"
    );
    assert_eq!(env.holders("g"), [0, 1]);
}

#[test]
fn the_journal_itself_and_verifications_elsewhere_refuse_nothing() {
    let env = TestEnv::new(2);
    let dir = env.journal_path().parent().expect("dir").to_owned();
    env.write_journal(&[]);
    let mut verification = entry("g", &env.nodes[0].url(), "delete");
    verification["kind"] = "verify".into();
    verification["until"] = "2099-01-01T00:00:00Z".into();
    write_journal_at(&dir.join("journal-3.json"), &[verification]);
    let report = env.json(&["create", "g"], 0);
    assert_eq!(report["outcome"], "done");
    assert!(report.get("refused_by").is_none());
}
