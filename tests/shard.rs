//! Sharded bulk runs of the real binary: COUNT processes over one groups file, and one rollback over every shard's journal.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Stdio;

use predicates::prelude::*;
use serde_json::Value;
use support::{Fault, Rule, TestEnv, json_stdout};

const COUNT: u32 = 3;

/// The hash of docs/sharding.md, written out again: 64-bit FNV-1a of the id's UTF-8
/// bytes, modulo the shard count.
fn documented_shard(id: &str, count: u32) -> u32 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in id.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    (hash % u64::from(count)) as u32
}

/// `tenant-000` to `tenant-<n-1>`, written one per line (with a comment) to
/// `groups.txt`.
fn groups_file(env: &TestEnv, n: usize) -> (Vec<String>, PathBuf) {
    let groups: Vec<String> = (0..n).map(|i| format!("tenant-{i:03}")).collect();
    let path = env.dir().join("groups.txt");
    std::fs::write(&path, format!("# tenants\n{}\n", groups.join("\n"))).expect("write groups");
    (groups, path)
}

/// `(group, host, action)` of every pending entry (repairs and verifications,
/// not watches) of the journal at `path`; empty when there is no journal.
fn pending_in(path: &Path) -> Vec<(String, String, String)> {
    entries_in(path)
        .into_iter()
        .filter(|(.., kind)| kind != "watch")
        .map(|(group, host, action, _)| (group, host, action))
        .collect()
}

/// `(group, host, action, kind)` of every entry of the journal at `path`;
/// empty when there is no journal.
fn entries_in(path: &Path) -> Vec<(String, String, String, String)> {
    let Ok(bytes) = std::fs::read(path) else {
        return Vec::new();
    };
    let journal: Value = serde_json::from_slice(&bytes).expect("journal is JSON");
    journal["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .map(|e| {
            let field = |name: &str| e[name].as_str().expect(name).to_owned();
            let kind = e["kind"].as_str().unwrap_or("repair").to_owned();
            (field("group"), field("host"), field("action"), kind)
        })
        .collect()
}

/// The entries of a document's `pending` list that are pending: not watches.
fn not_watches(document: &Value) -> Vec<&Value> {
    document["pending"]
        .as_array()
        .expect("pending")
        .iter()
        .filter(|p| p["kind"] != "watch")
        .collect()
}

/// The `state` of each journal line of a document over several journals.
fn states(document: &Value) -> Vec<&str> {
    document["journals"]
        .as_array()
        .expect("journals")
        .iter()
        .map(|line| line["state"].as_str().expect("state"))
        .collect()
}

#[test]
fn shards_split_one_file_and_one_rollback_over_their_journals_repairs_every_group() {
    let env = TestEnv::new(3);
    let (groups, file) = groups_file(&env, 60);
    let bulk = env.dir().join("bulk");
    // Faults by group, so each shard meets each kind whatever runs when:
    // - every 5th from 1: node 3 refuses the create, and the others roll back;
    // - every 5th from 2: the same, and node 1 refuses the undo, which stays pending;
    // - every 5th from 3: node 2 resets the first create, which a retry carries.
    // Note: the refusals are final 4xx (nothing applied, so nothing to verify);
    // the reset may still land, which the journal watches (not pending).
    let mut expect_pending = BTreeSet::new();
    let mut expect_watched = BTreeSet::new();
    for (n, group) in groups.iter().enumerate() {
        match n % 5 {
            1 => env.nodes[2].add_rule(Rule::new(Fault::Status(422)).method("POST").group(group)),
            2 => {
                env.nodes[2].add_rule(Rule::new(Fault::Status(422)).method("POST").group(group));
                env.nodes[0].add_rule(Rule::new(Fault::Status(422)).method("DELETE").group(group));
                expect_pending.insert(group.clone());
            }
            3 => {
                env.nodes[1].add_rule(Rule::new(Fault::Reset).method("POST").group(group).times(1));
                expect_watched.insert(group.clone());
            }
            _ => {}
        }
    }

    // COUNT processes at once, against the same nodes.
    let journal = bulk.join("journal-{shard}.json");
    let children: Vec<_> = (0..COUNT)
        .map(|index| {
            env.std_cmd()
                .args(["create", "--from-file"])
                .arg(&file)
                .args(["--shard", &format!("{index}/{COUNT}"), "--output", "json"])
                .arg("--journal")
                .arg(&journal)
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("spawn a shard")
        })
        .collect();
    let mut handled: BTreeMap<String, u32> = BTreeMap::new();
    let mut outcome: BTreeMap<String, String> = BTreeMap::new();
    for (index, child) in (0..COUNT).zip(children) {
        let output = child.wait_with_output().expect("wait for a shard");
        let reports = json_stdout(&output);
        let reports = reports["groups"]
            .as_array()
            .expect("a sharded run prints a list");
        let mut worst = 0;
        for report in reports {
            let group = report["group"].as_str().expect("group").to_owned();
            assert_eq!(
                documented_shard(&group, COUNT),
                index,
                "shard {index} handled {group}, which the documented hash gives another shard"
            );
            let previous = handled.insert(group.clone(), index);
            assert_eq!(
                previous, None,
                "{group} handled by shards {previous:?} and {index}"
            );
            let code = match report["outcome"].as_str().expect("outcome") {
                "done" => 0,
                "rolled_back" => 1,
                "repairs_pending" => 3,
                other => panic!("{group}: unexpected outcome {other}"),
            };
            // Note: among 0, 1 and 3 the worst is the largest.
            worst = worst.max(code);
            outcome.insert(
                group,
                report["outcome"].as_str().expect("outcome").to_owned(),
            );
        }
        assert_eq!(
            output.status.code(),
            Some(worst),
            "shard {index}: the worst of its groups; stderr:\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
        // Its journal holds its own groups only.
        let path = bulk.join(format!("journal-{index}.json"));
        for (group, ..) in entries_in(&path) {
            assert_eq!(
                documented_shard(&group, COUNT),
                index,
                "{group} in journal {index}"
            );
        }
        let own: BTreeSet<String> = pending_in(&path).into_iter().map(|(g, ..)| g).collect();
        let wanted: BTreeSet<String> = expect_pending
            .iter()
            .filter(|g| documented_shard(g, COUNT) == index)
            .cloned()
            .collect();
        assert!(
            !wanted.is_empty(),
            "shard {index} met no undo fault: the test proves nothing"
        );
        assert_eq!(own, wanted, "shard {index}'s journal");
    }
    let all: BTreeSet<&String> = groups.iter().collect();
    assert_eq!(
        handled.keys().collect::<BTreeSet<_>>(),
        all,
        "every group was handled by exactly one shard"
    );

    // Before any rollback, every group is all-or-nothing, or its journal covers it.
    let urls = env.urls();
    for group in &groups {
        let holders = env.holders(group);
        match outcome[group].as_str() {
            "done" => assert_eq!(holders, [0, 1, 2], "{group}"),
            "rolled_back" => assert!(holders.is_empty(), "{group} on {holders:?}"),
            _ => {
                assert_eq!(holders, [0], "{group}");
                let path = bulk.join(format!("journal-{}.json", handled[group]));
                let entry = (group.clone(), urls[0].clone(), "delete".to_owned());
                assert!(
                    pending_in(&path).contains(&entry),
                    "{group}: {entry:?} not journaled"
                );
            }
        }
    }

    // A rollback over every journal, named one by one, while node 1 still refuses: all stay
    // pending, each journal is reported, and the exit status says so.
    let mut repeated = vec!["rollback".to_owned()];
    for index in 0..COUNT {
        repeated.push("--journal".to_owned());
        repeated.push(
            bulk.join(format!("journal-{index}.json"))
                .display()
                .to_string(),
        );
    }
    let repeated: Vec<&str> = repeated.iter().map(String::as_str).collect();
    let still = env.json(&repeated, 3);
    assert_eq!(still["repaired"], serde_json::json!([]));
    assert_eq!(not_watches(&still).len(), expect_pending.len());
    let lines = still["journals"].as_array().expect("journals");
    assert_eq!(lines.len(), COUNT as usize);
    for (index, line) in (0..COUNT).zip(lines) {
        assert_eq!(line["state"], "replayed", "{line}");
        assert_eq!(
            line["journal"],
            bulk.join(format!("journal-{index}.json"))
                .display()
                .to_string()
        );
    }

    // Node 1 answers again: one rollback over the directory repairs every shard's journal.
    env.nodes[0].clear_rules();
    let repaired = env.json(&["rollback", "--journal", bulk.to_str().expect("utf-8")], 0);
    let mut repaired_groups: Vec<String> = repaired["repaired"]
        .as_array()
        .expect("repaired")
        .iter()
        .map(|r| {
            let group = r["group"].as_str().expect("group");
            let journal = format!("journal-{}.json", handled[group]);
            assert!(
                r["journal"].as_str().is_some_and(|j| j.ends_with(&journal)),
                "{r} names the wrong journal"
            );
            group.to_owned()
        })
        .collect();
    repaired_groups.sort();
    assert_eq!(
        repaired_groups,
        expect_pending.iter().cloned().collect::<Vec<_>>()
    );
    assert_eq!(not_watches(&repaired), Vec::<&Value>::new());
    assert_eq!(states(&repaired), ["replayed"; COUNT as usize]);

    // Every group all-or-nothing, and every journal empty (so gone).
    for group in &groups {
        let holders = env.holders(group);
        let expected: &[usize] = if outcome[group] == "done" {
            &[0, 1, 2]
        } else {
            &[]
        };
        assert_eq!(holders, expected, "{group} after the rollback");
    }
    // What stays is the watches of the resets, in their own shard's journal.
    let mut watched = BTreeSet::new();
    for index in 0..COUNT {
        for (group, host, action, kind) in entries_in(&bulk.join(format!("journal-{index}.json"))) {
            assert_eq!(
                (kind.as_str(), host.as_str(), action.as_str()),
                ("watch", urls[1].as_str(), "delete"),
                "{group} in journal {index}"
            );
            watched.insert(group);
        }
    }
    assert_eq!(watched, expect_watched);
    let list = env.json(
        &[
            "journal",
            "list",
            "--journal",
            bulk.to_str().expect("utf-8"),
        ],
        0,
    );
    assert_eq!(not_watches(&list), Vec::<&Value>::new());
}

#[test]
fn a_pod_of_an_indexed_job_takes_its_shard_from_the_job_index() {
    let env = TestEnv::new(1);
    let (groups, file) = groups_file(&env, 12);
    let mut by_index = Vec::new();
    for index in 0..COUNT {
        let report = env
            .cmd()
            .env("JOB_COMPLETION_INDEX", index.to_string())
            .args(["delete", "--from-file"])
            .arg(&file)
            .args(["--shard-count", &COUNT.to_string(), "--output", "json"])
            .args(["--journal", "j-{shard}.json"])
            .output()
            .expect("run");
        assert_eq!(report.status.code(), Some(0));
        let report = json_stdout(&report);
        let mine: Vec<String> = report["groups"]
            .as_array()
            .expect("array")
            .iter()
            .map(|r| r["group"].as_str().expect("group").to_owned())
            .collect();
        let wanted: Vec<String> = groups
            .iter()
            .filter(|g| documented_shard(g, COUNT) == index)
            .cloned()
            .collect();
        assert_eq!(mine, wanted, "index {index}");
        by_index.push(mine);
    }
    assert_eq!(by_index.concat().len(), groups.len());
}

#[test]
fn a_shard_that_owns_none_of_the_groups_succeeds_and_says_so() {
    let env = TestEnv::new(2);
    // `team-a` is shard 2 of 4 (src/vocab/shard.rs pins it).
    env.cmd()
        .args(["create", "team-a", "--shard", "0/4"])
        .assert()
        .code(0)
        .stdout("shard 0/4: 0 of 1 groups are this shard's; nothing to do\n");
    let report = env.json(&["create", "team-a", "--shard", "0/4"], 0);
    assert_eq!(report["groups"], serde_json::json!([]));
    assert_eq!(report["summary"]["groups"], 0);
    assert_eq!(env.total_requests(), 0);
    // The owner says which shard it is and what it kept, and does the work.
    env.cmd()
        .args(["create", "team-a", "team-b", "--shard", "2/4"])
        .assert()
        .code(0)
        .stdout(predicate::str::starts_with(
            "shard 2/4: 1 of 2 groups are this shard's\ncreate \"team-a\": done\n",
        ));
    assert_eq!(env.holders("team-a"), [0, 1]);
    assert!(env.holders("team-b").is_empty());
}

/// Runs `args`, expects exit 2 with every needle on stderr, and no request sent.
fn refused(env: &TestEnv, args: &[&str], vars: &[(&str, &str)], needles: &[&str]) {
    let output = env
        .cmd()
        .args(args)
        .envs(vars.iter().copied())
        .output()
        .expect("run");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
    for needle in needles {
        assert!(
            stderr.contains(needle),
            "{args:?}: no {needle:?} in:\n{stderr}"
        );
    }
    assert_eq!(env.total_requests(), 0, "{args:?} sent something");
}

#[test]
fn bad_shards_are_refused_naming_the_value_and_what_to_write() {
    let env = TestEnv::new(1);
    let create = |shard: &'static str| ["create", "g", "--shard", shard];
    refused(
        &env,
        &create("3/2"),
        &[],
        &[
            "'3/2'",
            "--shard",
            "INDEX 3 is not below COUNT 2",
            "write 1/2",
        ],
    );
    refused(
        &env,
        &create("a/b"),
        &[],
        &["'a/b'", "INDEX is not a whole number", "such as 0/4"],
    );
    refused(&env, &create("1"), &[], &["'1'", "there is no `/`"]);
    refused(
        &env,
        &create("/4"),
        &[],
        &["'/4'", "INDEX is not a whole number"],
    );
    refused(&env, &create("0/0"), &[], &["'0/0'", "from 1 to 100000"]);
    refused(&env, &create("0/200000"), &[], &["from 1 to 100000"]);
    refused(
        &env,
        &["create", "g"],
        &[("CLUSTER_CLIENT_SHARD", "5/5")],
        &["'5/5'", "INDEX 5"],
    );
    refused(
        &env,
        &["create", "g", "--shard-count", "3"],
        &[],
        &["--shard-count 3", "JOB_COMPLETION_INDEX", "--shard INDEX/3"],
    );
    refused(
        &env,
        &["create", "g", "--shard-count", "3"],
        &[("JOB_COMPLETION_INDEX", "7")],
        &[
            "JOB_COMPLETION_INDEX \"7\"",
            "completions equal to --shard-count",
        ],
    );
    refused(
        &env,
        &["create", "g", "--shard-count", "4"],
        &[("CLUSTER_CLIENT_SHARD", "1/3")],
        &["--shard 1/3 disagrees with --shard-count 4"],
    );
    refused(
        &env,
        &["create", "g", "--shard", "1/3", "--shard-count", "3"],
        &[("JOB_COMPLETION_INDEX", "2")],
        &["--shard 1/3 disagrees with JOB_COMPLETION_INDEX 2"],
    );
    refused(
        &env,
        &["rollback", "--journal", "bulk/journal-{shard}.json"],
        &[],
        &[
            "bulk/journal-{shard}.json contains the {shard} placeholder",
            "--shard INDEX/COUNT",
        ],
    );
    refused(
        &env,
        &["create", "g", "--journal", "bulk/"],
        &[],
        &[
            "--journal names the directory bulk/",
            "only rollback and journal list",
        ],
    );
}

#[test]
fn a_rollback_over_a_directory_reports_a_busy_and_a_corrupt_journal_and_replays_the_rest() {
    let env = TestEnv::new(2);
    let urls = env.urls();
    let dir = env.dir().join("bulk");
    // journal-0 holds a repair, journal-1 is corrupt, journal-2 is held by a live run.
    let write = |name: &str, text: &str| {
        use std::os::unix::fs::PermissionsExt;
        std::fs::create_dir_all(&dir).expect("mkdir");
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).expect("chmod");
        let path = dir.join(name);
        std::fs::write(&path, text).expect("write");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    };
    env.seed("g", &[0]);
    let entry = support::entry("g", &urls[0], "delete");
    write(
        "journal-0.json",
        &serde_json::json!({"version": 2, "entries": [entry]}).to_string(),
    );
    write("journal-1.json", "{ not a journal");
    let held = support::entry("h", &urls[1], "delete");
    write(
        "journal-2.json",
        &serde_json::json!({"version": 2, "entries": [held]}).to_string(),
    );
    let lock = support::private_file(&dir.join("journal-2.json.lock"));
    lock.lock().expect("hold the lock");
    let dir_arg = format!("{}/", dir.display());

    let report = env.json(&["rollback", "--journal", &dir_arg], 3);
    assert_eq!(states(&report), ["replayed", "refused", "busy"], "{report}");
    assert_eq!(report["repaired"][0]["group"], "g");
    assert!(
        report["journals"][1]["error"]
            .as_str()
            .is_some_and(|e| e.contains("unreadable"))
    );
    assert!(env.holders("g").is_empty(), "journal-0 was replayed");
    assert_eq!(
        std::fs::read_to_string(dir.join("journal-1.json")).expect("read"),
        "{ not a journal",
        "the corrupt journal is left byte for byte"
    );

    assert_eq!(
        report["journals"][2]["error"],
        format!(
            "journal {0}journal-2.json is in use: another cluster-client run holds \
             {0}journal-2.json.lock, so it was skipped rather than waited for; a create, \
             delete, status or rollback that holds it replays it first, and the next rollback \
             tries again",
            dir_arg
        )
    );

    // The live run is gone: its journal is replayed, and the corrupt one is reported again,
    // by name, to people too.
    drop(lock);
    env.cmd()
        .args(["rollback", "--journal", &dir_arg])
        .assert()
        .code(3)
        .stdout(predicate::str::contains(
            "rollback: 2 journal(s), 1 repaired, 0 still pending, 1 journal(s) not replayed",
        ))
        .stdout(predicate::str::contains(
            "journal-1.json: NOT REPLAYED: journal",
        ))
        .stdout(predicate::str::contains(
            "journal-2.json: 1 repaired, 0 still pending",
        ));
    assert!(env.holders("h").is_empty());
    // Nothing left to send: the corrupt journal alone is a local problem (2).
    env.cmd()
        .args(["rollback", "--journal", &dir_arg])
        .assert()
        .code(2);
    env.cmd()
        .args(["journal", "list", "--journal", &dir_arg])
        .assert()
        .code(2)
        .stdout(predicate::str::contains("journal-1.json: NOT READ"));
}

#[test]
fn a_journal_directory_others_may_write_is_refused_before_anything_is_sent() {
    use std::os::unix::fs::PermissionsExt;
    let env = TestEnv::new(1);
    let dir = env.dir().join("shared");
    std::fs::create_dir(&dir).expect("mkdir");
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777)).expect("chmod");
    let shown = dir.to_str().expect("utf-8").to_owned();
    refused(
        &env,
        &["rollback", "--journal", &shown],
        &[],
        &[
            "refusing journal directory",
            "a directory only you can write",
        ],
    );
    let names: Vec<_> = std::fs::read_dir(&dir)
        .expect("list")
        .map(|e| e.expect("entry").file_name())
        .collect();
    assert!(names.is_empty(), "nothing created in it: {names:?}");
}

#[test]
fn the_docs_table_of_shards_follows_the_hash() {
    let docs = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/sharding.md");
    let docs = std::fs::read_to_string(&docs).expect("docs/sharding.md");
    let mut rows = 0;
    for line in docs.lines() {
        // | `team-a` | `0xde90a3717d1252d6` | 0 | 1 | 2 |
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        let [_, id, hash, of_2, of_3, of_4, _] = cells.as_slice() else {
            continue;
        };
        let Some(hash) = hash.strip_prefix("`0x").and_then(|h| h.strip_suffix('`')) else {
            continue;
        };
        let id = id.trim_matches('`');
        let hash = u64::from_str_radix(hash, 16).expect("hex");
        assert_eq!(
            cluster_client::vocab::shard::fnv1a_64(id.as_bytes()),
            hash,
            "docs/sharding.md: {id}"
        );
        for (count, cell) in [(2, of_2), (3, of_3), (4, of_4)] {
            assert_eq!(
                cell.parse::<u32>().ok(),
                Some(documented_shard(id, count)),
                "{id} of {count}"
            );
        }
        rows += 1;
    }
    assert!(
        rows >= 4,
        "the table of shards in docs/sharding.md has {rows} rows"
    );
}
