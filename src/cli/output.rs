//! Output rendering: human-readable tables, or exactly one JSON document.

use std::io::{self, BufWriter, Write};
use std::path::Path;

use serde::Serialize;

use crate::cli::args::OutputFormat;
use crate::cli::config::Sharded;
use crate::cli::wire;
use crate::cli::words::node_error;
use cluster_client::engine::{NodeResult, OperationReport, Outcome};
use cluster_client::journal::Entry;
use cluster_client::vocab::hosts::Node;
pub use cluster_client::vocab::text::escape;

/// What a create or delete printed: its reports, and how the run went.
#[derive(Debug, Clone, Copy)]
pub struct Run<'a> {
    /// Whether the command named a list (several groups, `--from-file` or
    /// a shard).
    pub list: bool,
    /// The shard, when one is in effect.
    pub shard: Option<&'a Sharded>,
    /// The journal.
    pub journal: &'a Path,
    /// How long the run took.
    pub elapsed: std::time::Duration,
}

/// Prints the results of a create or delete: one report per group.
/// The JSON shape follows the command's form, never the count: a list (the
/// command named several groups, used `--from-file` or a shard) prints
/// `{"groups": [...], "summary": {...}}`, even of one group or none; a
/// single positional group prints its object. A list ends, for people, with
/// one summary line. With a shard, people first read which shard it is and
/// how many of the groups named it kept.
pub fn operations(
    out: &mut dyn Write,
    format: OutputFormat,
    reports: &[OperationReport],
    run: Run<'_>,
) -> io::Result<()> {
    let Run {
        list,
        shard,
        journal,
        elapsed,
    } = run;
    let summary = || wire::Summary::of(reports, elapsed);
    match (format, reports) {
        (OutputFormat::Human, reports) => {
            if let Some(Sharded { shard, named }) = shard {
                let nothing = if reports.is_empty() {
                    "; nothing to do"
                } else {
                    ""
                };
                writeln!(
                    out,
                    "shard {shard}: {} of {named} groups are this shard's{nothing}",
                    reports.len()
                )?;
            }
            for report in reports {
                operation_human(out, report, journal)?;
            }
            // Note: a shard that owns none of the groups has said so already.
            if list && !reports.is_empty() {
                summary_line(out, &summary())?;
            }
            Ok(())
        }
        (_, [single]) if !list => json(out, format, &wire::Operation::new(single)),
        (_, _) => {
            let document = wire::Operations {
                groups: reports.iter().map(wire::Operation::new).collect(),
                summary: summary(),
            };
            json(out, format, &document)
        }
    }
}

/// "summary: 60 group(s) in 12.3s: 50 done, 4 rolled back, 2 repairs
/// pending, 3 refused, 1 skipped".
fn summary_line(out: &mut dyn Write, summary: &wire::Summary) -> io::Result<()> {
    writeln!(
        out,
        "summary: {} group(s) in {:.1}s: {} done, {} rolled back, {} repairs pending, {} \
         refused, {} skipped",
        summary.groups,
        summary.seconds,
        summary.done,
        summary.rolled_back,
        summary.repairs_pending,
        summary.refused,
        summary.skipped
    )
}

/// Logs a result that could not be printed (or flushed); the exit status
/// still reports the run.
pub fn report_unprinted(printed: io::Result<()>, out: &mut dyn Write) {
    if let Err(error) = printed.and_then(|()| out.flush()) {
        log::error!(
            "cannot write the result to stdout: {error}; the exit status still reports the run"
        );
    }
}

/// A path as people see it, escaped.
pub fn shown_path(path: &Path) -> String {
    escape(&path.display().to_string()).into_owned()
}

/// "delete "g1" on http://node1:8080".
pub fn describe(entry: &Entry) -> String {
    format!(
        "{} {:?} on {}",
        entry.action,
        entry.group.as_str(),
        escape(entry.host.base())
    )
}

fn operation_human(
    out: &mut dyn Write,
    report: &OperationReport,
    journal: &Path,
) -> io::Result<()> {
    let name = report.operation.name();
    let group = report.group.as_str();
    let mut line = headline(report, journal);
    if !report.verifying.is_empty() {
        // Note: the outcome stands, but a write of ours may still land late,
        // which the verifications below undo.
        line.push_str(&format!(
            "; {} node(s) may still apply a write of ours late (verified until the settle \
             horizon, see below)",
            report.verifying.len()
        ));
    }
    writeln!(out, "{name} {group:?}: {line}")?;
    if let Some(error) = &report.journal_error {
        writeln!(out, "  journal: {}", escape(&error.to_string()))?;
    }
    // Note: a group the journal kept from starting has no node to show; one
    // a signal stopped shows what its reads found.
    let nothing_to_show = match report.outcome {
        Outcome::Refused => true,
        Outcome::Skipped => report.journal_error.is_some(),
        _ => false,
    };
    if nothing_to_show {
        return Ok(());
    }
    let width = host_width(report.nodes.iter().map(|n| &n.host));
    for node in &report.nodes {
        // Note: a node the run stopped before changing was only read; its
        // count says so, and one never asked says that instead of "not
        // attempted" with a count that reads as a change sent.
        let (word, noun) = match (node.result, node.attempts) {
            (NodeResult::NotAttempted, 0) => ("not asked", "request"),
            (NodeResult::NotAttempted, _) => ("not changed", "read"),
            (result, _) => (result_word(result), "request"),
        };
        let requests = match node.attempts {
            0 => String::new(),
            1 => format!("1 {noun}"),
            n => format!("{n} {noun}s"),
        };
        let text = format!("{word:15}  {requests}");
        let error = node.error.as_ref().map(node_error);
        node_line(out, width, &node.host, &text, error.as_deref())?;
    }
    for entry in &report.verifying {
        writeln!(out, "  verifying {}", verification(entry))?;
    }
    Ok(())
}

/// "http://node2: a create of ours may still land until 2026-12-03T08:20:00Z; ...".
fn verification(entry: &Entry) -> String {
    let until = entry
        .until
        .map_or_else(String::new, cluster_client::vocab::time::rfc3339);
    format!(
        "{}: a {} of ours may still land there until {until}; the next run (or `cluster-client \
         rollback`) reads the node and {}s the group if it did",
        escape(entry.host.base()),
        entry.action.opposite().name(),
        entry.action.name()
    )
}

/// What a create or delete came to, in one line for a person.
fn headline(report: &OperationReport, journal: &Path) -> String {
    let hosts = |entries: &[Entry]| {
        let mut hosts: Vec<&str> = entries.iter().map(|e| e.host.base()).collect();
        hosts.dedup();
        escape(&hosts.join(", ")).into_owned()
    };
    let journal = shown_path(journal);
    let undid_something = report
        .nodes
        .iter()
        .any(|n| n.result == NodeResult::RolledBack);
    let why = if report.interrupted {
        "interrupted"
    } else {
        "failed"
    };
    match report.outcome {
        Outcome::Done => "done".to_owned(),
        Outcome::RolledBack if undid_something => {
            format!("{why}; every change was rolled back, the cluster is as it was")
        }
        Outcome::RolledBack => format!("{why} before any change; the cluster is as it was"),
        Outcome::RepairsPending if report.journal_error.is_some() => {
            let listed: Vec<String> = report.pending.iter().map(describe).collect();
            let it = if listed.len() == 1 { "it" } else { "them" };
            format!(
                "the journal {journal} could not be updated, and it still lists {}; the next \
                 run (or `cluster-client rollback`) applies {it}",
                listed.join(", ")
            )
        }
        Outcome::RepairsPending => format!(
            "failed; undo still pending on {} (kept in {journal}; `cluster-client rollback` \
             retries it)",
            hosts(&report.pending)
        ),
        Outcome::Skipped if report.journal_error.is_none() => {
            "interrupted before any change; nothing was sent for this group, it is as it was"
                .to_owned()
        }
        Outcome::Skipped => {
            "not started, nothing was sent for this group: the journal could not be written"
                .to_owned()
        }
        Outcome::Refused => refused(report),
    }
}

/// Why a group was refused: repairs pending for it in this journal, or in another of its set.
fn refused(report: &OperationReport) -> String {
    let hosts = {
        let mut hosts: Vec<&str> = report.pending.iter().map(|e| e.host.base()).collect();
        hosts.dedup();
        escape(&hosts.join(", ")).into_owned()
    };
    match &report.refused_by {
        Some(other) => format!(
            "refused: another journal of this set, {}, holds repairs for this group on \
             {hosts}; replay it (`cluster-client rollback --journal {}`) once those nodes \
             answer, then try again",
            shown_path(other),
            shown_path(other)
        ),
        None => format!(
            "refused: repairs for this group are still pending on {hosts}; run \
             `cluster-client rollback` once those nodes answer, then try again"
        ),
    }
}

/// A node's result, as the human table shows it.
fn result_word(result: NodeResult) -> &'static str {
    match result {
        NodeResult::Created => "created",
        NodeResult::Deleted => "deleted",
        NodeResult::AlreadyPresent => "already present",
        NodeResult::AlreadyAbsent => "already absent",
        NodeResult::RolledBack => "rolled back",
        NodeResult::RollbackPending => "UNDO PENDING",
        NodeResult::Failed => "failed",
        NodeResult::Unreachable => "unreachable",
        NodeResult::Unreadable => "unreadable",
        NodeResult::NotAttempted => "not attempted",
    }
}

/// The width of the widest base URL as printed, to align the node tables.
pub fn host_width<'a>(hosts: impl Iterator<Item = &'a Node>) -> usize {
    hosts.map(|h| escape(h.base()).len()).max().unwrap_or(0)
}

/// "  http://node1:8080  <text>  (<error>)", with trailing blanks trimmed.
pub fn node_line(
    out: &mut dyn Write,
    width: usize,
    host: &Node,
    text: &str,
    error: Option<&str>,
) -> io::Result<()> {
    let line = format!("  {:width$}  {text}", escape(host.base()));
    let line = line.trim_end();
    match error {
        Some(error) => writeln!(out, "{line}  ({})", escape(error)),
        None => writeln!(out, "{line}"),
    }
}

/// Writes `value` as one JSON document, through a buffer: a document of a
/// million items is written in large blocks as it is serialised.
pub fn json(out: &mut dyn Write, format: OutputFormat, value: &impl Serialize) -> io::Result<()> {
    let mut out = BufWriter::new(out);
    if format == OutputFormat::JsonPretty {
        serde_json::to_writer_pretty(&mut out, value)?;
    } else {
        serde_json::to_writer(&mut out, value)?;
    }
    writeln!(out)?;
    out.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_is_indented_on_a_terminal_and_one_line_elsewhere() {
        assert_eq!(
            OutputFormat::Json.for_stream(true),
            OutputFormat::JsonPretty
        );
        assert_eq!(OutputFormat::Json.for_stream(false), OutputFormat::Json);
        assert_eq!(OutputFormat::Human.for_stream(true), OutputFormat::Human);
        let value = serde_json::json!({"a": [1, 2]});
        let mut compact = Vec::new();
        json(&mut compact, OutputFormat::Json, &value).expect("write");
        assert_eq!(compact, b"{\"a\":[1,2]}\n");
        let mut pretty = Vec::new();
        json(&mut pretty, OutputFormat::JsonPretty, &value).expect("write");
        assert!(pretty.iter().filter(|&&b| b == b'\n').count() > 1);
    }

    const HOSTILE: &str = "\u{1b}[2J\u{1b}[31mFAKE: all repairs applied\n\u{202e}";

    #[test]
    fn control_characters_in_stored_and_node_errors_are_escaped_for_people_and_exact_in_json() {
        use cluster_client::engine::{NodeState, NodeStatus, ReplayReport, StatusReport};
        use cluster_client::journal::Entry;
        use cluster_client::vocab::change::Repair;
        use cluster_client::{GroupId, Node, Operation};

        let host = Node::parse("http://node1:8080").expect("node");
        let group = GroupId::new("g").expect("group");
        let pending = [Entry {
            group: group.clone(),
            host: host.clone(),
            action: Repair::Delete,
            operation: Operation::Create,
            batch: "1@1".into(),
            recorded_at: 1,
            failed_replays: 1,
            kind: cluster_client::journal::Kind::Repair,
            until: None,
            settled: false,
            last_error: Some(HOSTILE.into()),
        }];
        let replay = ReplayReport {
            pending: pending.len(),
            ..ReplayReport::default()
        };
        let status = StatusReport {
            group,
            consistent: false,
            nodes: vec![NodeStatus {
                host,
                state: NodeState::Unreachable,
                attempts: 1,
                error: Some(HOSTILE.to_owned()),
            }],
        };
        let render = |format| {
            let mut replay_out = Vec::new();
            crate::cli::tables::replay(
                &mut replay_out,
                format,
                &replay,
                &pending,
                Path::new("j.json"),
                true,
            )
            .expect("render");
            let mut status_out = Vec::new();
            crate::cli::views::status(&mut status_out, format, &status).expect("render");
            [replay_out, status_out].map(|b| String::from_utf8(b).expect("utf8"))
        };
        for human in render(OutputFormat::Human) {
            assert!(
                !human.contains('\u{1b}') && !human.contains('\u{202e}'),
                "{human:?}"
            );
            assert!(
                human.contains("\\u{1b}[2J\\u{1b}[31mFAKE: all repairs applied\\n"),
                "{human}"
            );
            assert_eq!(
                human.lines().filter(|l| l.contains("FAKE")).count(),
                1,
                "{human}"
            );
        }
        let [replay_json, status_json] = render(OutputFormat::Json);
        let replay_json: serde_json::Value = serde_json::from_str(&replay_json).expect("json");
        assert_eq!(replay_json["pending"][0]["last_error"], HOSTILE);
        let status_json: serde_json::Value = serde_json::from_str(&status_json).expect("json");
        assert_eq!(status_json["nodes"][0]["error"], HOSTILE);
    }
}
