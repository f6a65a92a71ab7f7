//! Command-line types, and nothing else of the face: their doc comments are the `--help`
//! text, and the value enums (`--output`, `--log-format`) and the exit table of `--help` are
//! defined here so that this module imports no other.
//!
//! Each subcommand takes only the options it uses, in groups per concern (`Nodes`,
//! `Requests`, `Report`, ...), so its `--help` offers nothing it would ignore. Options may
//! still come before the subcommand: `argv` moves them after it.

use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use cluster_client::vocab::shard::{self, Shard};

/// How results are printed on stdout. Logs always go to stderr.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum OutputFormat {
    /// Aligned text for people.
    #[default]
    Human,
    /// One JSON document; field names are stable (see schemas/).
    Json,
    /// JSON, indented for a person: what `json` becomes on a terminal.
    #[value(skip)]
    JsonPretty,
}

impl OutputFormat {
    /// The format for a stream that is (or is not) a terminal: JSON is
    /// indented on a terminal, and one compact line per document otherwise,
    /// so line-based log collectors keep each document whole.
    pub fn for_stream(self, terminal: bool) -> Self {
        match (self, terminal) {
            (Self::Json, true) => Self::JsonPretty,
            _ => self,
        }
    }
}

/// How log lines (and the binary's own error line) are written on stderr.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum LogFormat {
    /// `[timestamp LEVEL] message`, with control characters escaped.
    #[default]
    Text,
    /// One JSON object per line: `ts` (RFC 3339, UTC), `level`, `msg`, and,
    /// where known, `host`, `group`, `operation`, `method` and `attempt`.
    Json,
}

/// The help text for the table above; shown by `--help` and the man page.
pub const EXIT_STATUS_HELP: &str = "\
Exit status:
  0  done: every node is in the requested state (create/delete), the plan
     could run (--dry-run), every group is present on every node (status),
     nothing is left pending (rollback, journal list), repairs were removed
     or would be (journal forget)
  1  the operation failed and was fully rolled back: the cluster is as it was;
     for status: mixed or unknown (the nodes disagree, a node did not answer,
     or some groups are present and others absent)
  2  bad input or a local problem, and no change was sent: usage, hosts file,
     group id, a journal directory that does not exist, or an unreadable or
     unwritable journal; another run held the journal's lock for longer than
     --lock-wait; or interrupted before any change was sent; journal forget:
     nothing matched, or neither --host nor --all-hosts was given
  3  work pending in the journal: undos that could not be applied yet, nodes
     that may still apply a write of ours late (verifications, until the
     settle horizon), an operation refused because its group has pending
     repairs (in this journal or another in its directory), a rollback that
     left repairs or verifications pending, or journal list found some; over
     several journals also one that another run holds, or one that could not
     be read once repairs were sent
  4  status: every group is absent from every node";

/// Create, delete and check groups on every node of a cluster, all or nothing.
///
/// Each request is retried; a change that fails on one node is rolled back
/// on the others; undos that cannot be applied yet are kept in a journal
/// that every later run (and `cluster-client rollback`) replays first.
///
/// Options may come before or after the command; `cluster-client COMMAND --help`
/// lists the ones COMMAND takes.
#[derive(Debug, Parser)]
#[command(
    name = "cluster-client",
    version,
    after_help = EXIT_STATUS_HELP,
    override_usage = "cluster-client [OPTIONS] <COMMAND> [ARGS]"
)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Make GROUP exist on every node; on failure, undo this run's changes.
    Create(Change),

    /// Remove GROUP from every node; on failure, restore it where this run removed it.
    Delete(Change),

    /// Show per node whether each GROUP is present, and its pending repairs; only reads.
    ///
    /// Sends no write and replays nothing: the journal's repairs for the groups are
    /// shown, not applied. Exits 0 when every group is present on every node, 4 when
    /// every group is absent from every node, and 1 otherwise (mixed, or a node did not
    /// answer).
    Status(StatusArgs),

    /// Replay the journal's pending repairs, and nothing else (for cron).
    Rollback(RollbackArgs),

    /// Inspect or clean up the journal's pending repairs; sends nothing and needs no hosts file.
    Journal {
        /// What to do with the journal.
        #[command(subcommand)]
        command: JournalCommand,
    },

    /// Print a shell completion script to stdout.
    Completions {
        /// The shell to complete for.
        #[arg(value_name = "SHELL")]
        shell: clap_complete::Shell,
    },

    /// Print the man page (roff) to stdout, or write every page to --dir.
    Man {
        /// Write cluster-client.1 and one page per subcommand (cluster-client-create.1,
        /// ...) into DIR instead.
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
    },
}

/// The `journal` subcommands. Neither replays the journal nor sends any
/// request.
#[derive(Debug, Subcommand)]
pub enum JournalCommand {
    /// List every pending repair: group, node, repair, since when, failed replays, last error.
    ///
    /// Exits 0 when nothing is pending and 3 when something is, so it works as a
    /// monitoring check. Reads only: a journal that does not exist is reported, not
    /// created.
    List(JournalListArgs),

    /// Remove the pending repairs of GROUP on the nodes named, and print them.
    ///
    /// For a node that left the cluster for good: its repairs could never be applied, and
    /// they keep GROUP refused and cost every run a round of retries. The node is then left
    /// as it is, with or without GROUP. Removes nothing unless told where: --host URL (once
    /// per node) or --all-hosts; without either it lists what it would remove and exits 2.
    /// Exits 0 when something was removed, 2 when nothing matched.
    Forget(ForgetArgs),
}

/// `create` and `delete`.
#[derive(Debug, Args)]
pub struct Change {
    #[command(flatten)]
    pub groups: Groups,

    /// Read every node and print the plan (which node would get which request, which
    /// groups are refused for pending repairs); send no write and replay nothing.
    #[arg(long)]
    pub dry_run: bool,

    #[command(flatten)]
    pub nodes: Nodes,
    #[command(flatten)]
    pub journal: JournalOptions,
    #[command(flatten)]
    pub lock: LockWait,
    #[command(flatten)]
    pub shard: ShardOptions,
    #[command(flatten)]
    pub requests: Requests,
    #[command(flatten)]
    pub credentials: Credentials,
    #[command(flatten)]
    pub writes: Writes,
    #[command(flatten)]
    pub bulk: Bulk,
    #[command(flatten)]
    pub report: Report,
    #[command(flatten)]
    pub logging: Logging,
}

/// `status`.
#[derive(Debug, Args)]
pub struct StatusArgs {
    #[command(flatten)]
    pub groups: Groups,
    #[command(flatten)]
    pub nodes: Nodes,
    #[command(flatten)]
    pub journal: JournalOptions,
    #[command(flatten)]
    pub shard: ShardOptions,
    #[command(flatten)]
    pub requests: Requests,
    #[command(flatten)]
    pub credentials: Credentials,
    #[command(flatten)]
    pub bulk: Bulk,
    #[command(flatten)]
    pub report: Report,
    #[command(flatten)]
    pub logging: Logging,
}

/// `rollback`.
#[derive(Debug, Args)]
pub struct RollbackArgs {
    #[command(flatten)]
    pub nodes: Nodes,
    #[command(flatten)]
    pub journal: JournalOptions,
    #[command(flatten)]
    pub lock: LockWait,
    #[command(flatten)]
    pub shard: ShardOptions,
    #[command(flatten)]
    pub requests: Requests,
    #[command(flatten)]
    pub credentials: Credentials,
    #[command(flatten)]
    pub writes: Writes,
    #[command(flatten)]
    pub report: Report,
    #[command(flatten)]
    pub logging: Logging,
}

/// `journal list`.
#[derive(Debug, Args)]
pub struct JournalListArgs {
    #[command(flatten)]
    pub journal: JournalOptions,
    #[command(flatten)]
    pub shard: ShardOptions,
    #[command(flatten)]
    pub report: Report,
    #[command(flatten)]
    pub logging: Logging,
}

/// `journal forget`.
#[derive(Debug, Args)]
pub struct ForgetArgs {
    /// The group whose pending repairs to remove.
    #[arg(value_name = "GROUP")]
    pub group: String,

    /// Remove the repairs on this node (base URL or host[:port], as in the hosts file);
    /// repeat for several nodes.
    #[arg(long, value_name = "URL", action = clap::ArgAction::Append)]
    pub host: Vec<String>,

    /// Remove the group's repairs on every node.
    #[arg(long, conflicts_with = "host")]
    pub all_hosts: bool,

    /// Print what would be removed, and change nothing.
    #[arg(long)]
    pub dry_run: bool,

    #[command(flatten)]
    pub journal: JournalOptions,
    #[command(flatten)]
    pub lock: LockWait,
    #[command(flatten)]
    pub shard: ShardOptions,
    #[command(flatten)]
    pub report: Report,
    #[command(flatten)]
    pub logging: Logging,
}

/// The groups a command works on; for create and delete each is its own all-or-nothing
/// operation.
#[derive(Debug, Args)]
pub struct Groups {
    /// Group ids, sent verbatim; one or more.
    #[arg(value_name = "GROUP", required_unless_present = "from_file")]
    pub groups: Vec<String>,

    /// Read more group ids from FILE, one per line, verbatim (`-` for stdin).
    /// Blank lines and lines starting with `#` (after leading whitespace) are skipped.
    #[arg(long, value_name = "FILE")]
    pub from_file: Option<PathBuf>,
}

/// Where the nodes are listed.
#[derive(Debug, Args)]
#[command(next_help_heading = "Nodes")]
pub struct Nodes {
    /// Hosts file: one base URL or host[:port] per line, worked on in file order
    /// [default: hosts.txt]. The token goes only to these nodes. `rollback` reads it
    /// only when given; without it, the journal names the nodes.
    #[arg(long, value_name = "FILE", env = "CLUSTER_CLIENT_HOSTS")]
    pub hosts: Option<PathBuf>,
}

/// Which journal.
#[derive(Debug, Args)]
#[command(next_help_heading = "Journal")]
pub struct JournalOptions {
    /// Journal of pending repairs [default: journal.json in the per-user data
    /// directory, e.g. ~/.local/share/cluster-client/]. A lock file sits beside it.
    ///
    /// `{shard}` in it is replaced by the shard's INDEX, so that shards never share a
    /// journal. `rollback` and `journal list` take several: repeat --journal, or name a
    /// directory (an existing one, or a path ending in `/`) for every `*.json` file in it.
    #[arg(
        long,
        value_name = "FILE",
        env = "CLUSTER_CLIENT_JOURNAL",
        action = clap::ArgAction::Append
    )]
    pub journal: Vec<PathBuf>,

    /// Accept group write on DIR, a directory above the journal or another checked file.
    ///
    /// Only for the root of a Kubernetes volume with fsGroup, which the kubelet makes
    /// group-writable: members of its group could hide the journal and bring it back.
    /// Others may still not write DIR.
    #[arg(long, value_name = "DIR", env = "CLUSTER_CLIENT_TRUST_GROUP_WRITABLE")]
    pub trust_group_writable: Option<PathBuf>,
}

/// Which shard of a bulk run.
#[derive(Debug, Args)]
#[command(next_help_heading = "Sharding")]
pub struct ShardOptions {
    /// Work only on this shard's groups: those whose FNV-1a 64 hash of the id, modulo
    /// COUNT, is INDEX (from 0). For create and delete; other commands use it only for
    /// `{shard}` in --journal.
    #[arg(
        long,
        value_name = "INDEX/COUNT",
        env = "CLUSTER_CLIENT_SHARD",
        value_parser = Shard::from_str
    )]
    pub shard: Option<Shard>,

    /// In a Kubernetes Indexed Job: shard JOB_COMPLETION_INDEX of COUNT (keep the Job's
    /// completions equal to COUNT). With --shard, both must agree.
    #[arg(
        long,
        value_name = "COUNT",
        env = "CLUSTER_CLIENT_SHARD_COUNT",
        value_parser = shard::parse_count
    )]
    pub shard_count: Option<u32>,
}

/// How requests are sent and retried.
#[derive(Debug, Args)]
#[command(next_help_heading = "Requests")]
pub struct Requests {
    /// Time limit for each request attempt, e.g. 500ms, 2s, 1m30s.
    #[arg(
        long,
        value_name = "DURATION",
        env = "CLUSTER_CLIENT_TIMEOUT",
        default_value = "5s",
        value_parser = humantime::parse_duration
    )]
    pub timeout: Duration,

    /// Retries after the first attempt of each request.
    #[arg(
        long,
        value_name = "N",
        env = "CLUSTER_CLIENT_RETRIES",
        default_value_t = 3
    )]
    pub retries: u32,

    /// First retry delay ceiling; it doubles per retry, with full jitter.
    #[arg(
        long,
        value_name = "DURATION",
        env = "CLUSTER_CLIENT_BACKOFF",
        default_value = "200ms",
        value_parser = humantime::parse_duration
    )]
    pub backoff: Duration,

    /// Longest retry delay; also caps a node's Retry-After.
    #[arg(
        long,
        value_name = "DURATION",
        env = "CLUSTER_CLIENT_MAX_BACKOFF",
        default_value = "10s",
        value_parser = humantime::parse_duration
    )]
    pub max_backoff: Duration,

    /// Work on up to N nodes at a time (threads); 1 keeps strict hosts-file order.
    #[arg(
        long,
        value_name = "N",
        env = "CLUSTER_CLIENT_CONCURRENCY",
        default_value_t = 1
    )]
    pub concurrency: usize,
}

/// TLS and the token.
#[derive(Debug, Args)]
#[command(next_help_heading = "Credentials")]
pub struct Credentials {
    /// Trust this PEM CA certificate (bundle) for https:// nodes, besides the built-in roots.
    #[arg(long, value_name = "FILE", env = "CLUSTER_CLIENT_CACERT")]
    pub cacert: Option<PathBuf>,

    /// Send the bearer token in FILE (mode 0600, at most 64 KiB) to the configured nodes.
    ///
    /// CLUSTER_CLIENT_TOKEN sets the token itself; the file wins.
    #[arg(long, value_name = "FILE", env = "CLUSTER_CLIENT_TOKEN_FILE")]
    pub token_file: Option<PathBuf>,

    /// A --token-file that is not there means no token, as if it were not given.
    ///
    /// For a Kubernetes Secret mounted with `optional: true`: without the Secret, its
    /// directory is there and empty. Only that case is let through: a file that exists is
    /// checked as always, and a missing directory is still an error (a wrong path).
    #[arg(
        long,
        env = "CLUSTER_CLIENT_TOKEN_FILE_OPTIONAL",
        value_parser = clap::builder::BoolishValueParser::new()
    )]
    pub token_file_optional: bool,

    /// A --cacert that is not there means the built-in roots only, as if it were not given.
    ///
    /// For a Kubernetes Secret mounted with `optional: true`, as --token-file-optional.
    #[arg(
        long,
        env = "CLUSTER_CLIENT_CACERT_OPTIONAL",
        value_parser = clap::builder::BoolishValueParser::new()
    )]
    pub cacert_optional: bool,
}

/// How long a command that takes the journal's lock waits for it.
#[derive(Debug, Args)]
#[command(next_help_heading = "Journal")]
pub struct LockWait {
    /// How long to wait for another run holding the journal's lock, then exit 2 naming it.
    ///
    /// The default covers a normal run holding the lock (a one-group change whose requests
    /// time out and are undone takes about 90 s with the default retries), and stays well
    /// under a 5-minute cron interval, so runs do not pile up behind a stopped one.
    /// `rollback` and `journal list` over several journals never wait.
    #[arg(
        long,
        value_name = "DURATION",
        env = "CLUSTER_CLIENT_LOCK_WAIT",
        default_value = "2m",
        value_parser = humantime::parse_duration
    )]
    pub lock_wait: Duration,
}

/// Options of the commands that send changes (and replay the journal).
#[derive(Debug, Args)]
#[command(next_help_heading = "Changes")]
pub struct Writes {
    /// After SIGINT/SIGTERM, how long rolling back this run's changes may take.
    #[arg(
        long,
        value_name = "DURATION",
        env = "CLUSTER_CLIENT_SHUTDOWN_GRACE",
        default_value = "10s",
        value_parser = humantime::parse_duration
    )]
    pub shutdown_grace: Duration,

    /// How long after an ambiguous write (time-out, reset, 5xx) a node may still apply it late.
    ///
    /// Until then the journal keeps a verification of the node: every run and `rollback`
    /// reads it and undoes the write if it landed, and the exit status counts it as pending.
    #[arg(
        long,
        value_name = "DURATION",
        env = "CLUSTER_CLIENT_SETTLE_HORIZON",
        default_value = "5m",
        value_parser = humantime::parse_duration
    )]
    pub settle_horizon: Duration,

    /// Also send the token to hosts the journal names that are not in the hosts file.
    ///
    /// Without it, a repair for such a host is sent without the token, and a warning
    /// names the host.
    #[arg(
        long,
        env = "CLUSTER_CLIENT_TRUST_JOURNAL_HOSTS",
        value_parser = clap::builder::BoolishValueParser::new()
    )]
    pub trust_journal_hosts: bool,
}

/// Options of a run over many groups.
#[derive(Debug, Args)]
#[command(next_help_heading = "Requests")]
pub struct Bulk {
    /// Work on up to N groups at a time, each still all-or-nothing.
    ///
    /// Output and exit status are the same as with 1. N × --concurrency may be
    /// at most 1024 (requests in flight; each holds two threads).
    #[arg(
        long,
        value_name = "N",
        env = "CLUSTER_CLIENT_PARALLEL_GROUPS",
        default_value_t = 1
    )]
    pub parallel_groups: usize,
}

/// What a run prints on stdout and writes for monitoring.
#[derive(Debug, Args)]
#[command(next_help_heading = "Output")]
pub struct Report {
    /// Result format on stdout; logs always go to stderr.
    #[arg(
        long,
        value_name = "FORMAT",
        env = "CLUSTER_CLIENT_OUTPUT",
        value_enum,
        default_value_t = OutputFormat::Human
    )]
    pub output: OutputFormat,

    /// Write run metrics (Prometheus text format) to FILE at the end of every run, atomically.
    ///
    /// For the node_exporter textfile collector: pending repairs, the oldest one's age,
    /// whether the journal could be read, the exit status, time and duration of the run,
    /// the last run's requests and retries. A failure to write it is logged and does not
    /// change the exit status.
    #[arg(long, value_name = "FILE", env = "CLUSTER_CLIENT_METRICS_FILE")]
    pub metrics_file: Option<PathBuf>,
}

/// Logging on stderr.
#[derive(Debug, Args, Default, Clone, Copy)]
#[command(next_help_heading = "Output")]
pub struct Logging {
    /// Log format on stderr: text, or json (one object per line, for log collectors).
    #[arg(
        long,
        value_name = "FORMAT",
        env = "CLUSTER_CLIENT_LOG_FORMAT",
        value_enum,
        default_value_t = LogFormat::Text
    )]
    pub log_format: LogFormat,

    /// More logging (-v info, -vv debug, -vvv trace); RUST_LOG overrides.
    #[arg(short, long, action = clap::ArgAction::Count, conflicts_with = "quiet")]
    pub verbose: u8,

    /// Less logging (-q errors only, -qq nothing).
    #[arg(short, long, action = clap::ArgAction::Count)]
    pub quiet: u8,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(crate::cli::argv::hoist(
            &Cli::command(),
            std::iter::once("cluster-client")
                .chain(args.iter().copied())
                .map(std::ffi::OsString::from)
                .collect(),
        ))
    }

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn durations_accept_compound_values() {
        let cli = parse(&["--timeout", "1m30s", "rollback"]).expect("parses");
        let requests = cli.command.parts().requests.expect("requests");
        assert_eq!(requests.timeout, Duration::from_secs(90));
    }

    #[test]
    fn a_subcommand_refuses_options_it_does_not_use_before_or_after_it() {
        for args in [
            &["journal", "forget", "g", "--hosts", "http://127.0.0.1:1"][..],
            &["--hosts", "hosts.txt", "journal", "list"],
            &["--timeout", "1s", "journal", "forget", "g", "--all-hosts"],
            &["man", "--output", "json"],
        ] {
            let err = parse(args).expect_err("refused").to_string();
            assert!(err.contains("unexpected argument"), "{args:?}: {err}");
        }
        let err = parse(&["journal", "forget", "g", "--hosts", "http://x"])
            .expect_err("refused")
            .to_string();
        assert!(err.contains("--host"), "clap points at --host: {err}");
    }

    #[test]
    fn help_offers_only_the_options_a_subcommand_takes() {
        let mut command = Cli::command();
        let mut help = |path: &[&str]| {
            let mut sub = &mut command;
            for name in path {
                sub = sub.find_subcommand_mut(name).expect("subcommand");
            }
            sub.render_long_help().to_string()
        };
        let forget = help(&["journal", "forget"]);
        for absent in [
            "--hosts",
            "--timeout",
            "--retries",
            "--cacert",
            "--token-file",
        ] {
            assert!(!forget.contains(absent), "journal forget offers {absent}");
        }
        for present in ["--host", "--all-hosts", "--dry-run", "--journal"] {
            assert!(forget.contains(present), "journal forget lacks {present}");
        }
        let man = help(&["man"]);
        assert!(
            !man.contains("--hosts") && !man.contains("--output"),
            "{man}"
        );
        let create = help(&["create"]);
        assert!(create.contains("--hosts") && create.contains("--dry-run"));
    }

    #[test]
    fn journal_forget_takes_hosts_or_all_hosts_but_not_both() {
        let cli = parse(&[
            "journal",
            "forget",
            "g1",
            "--host",
            "node1:8080",
            "--host",
            "node2:8080",
        ])
        .expect("parses");
        let Command::Journal {
            command: JournalCommand::Forget(forget),
        } = cli.command
        else {
            panic!("not journal forget: {:?}", cli.command);
        };
        assert_eq!(forget.group, "g1");
        assert_eq!(forget.host, ["node1:8080", "node2:8080"]);
        assert!(!forget.all_hosts);
        assert!(parse(&["journal", "forget", "g", "--all-hosts"]).is_ok());
        assert!(parse(&["journal", "forget", "g", "--all-hosts", "--host", "a:1"]).is_err());
        assert!(parse(&["journal", "forget"]).is_err());
    }

    #[test]
    fn journals_repeat_and_shards_parse_where_given() {
        let cli = parse(&[
            "rollback",
            "--journal",
            "a.json",
            "--journal",
            "dir/",
            "--shard",
            "2/5",
        ])
        .expect("parses");
        let parts = cli.command.parts();
        assert_eq!(
            parts.journal.expect("journal").journal,
            [PathBuf::from("a.json"), PathBuf::from("dir/")]
        );
        let shard = parts.shard.expect("shard").shard;
        assert_eq!(shard.map(|s| s.to_string()).as_deref(), Some("2/5"));
        let cli = parse(&["--shard-count", "4", "create", "g"]).expect("parses");
        assert_eq!(
            cli.command.parts().shard.expect("shard").shard_count,
            Some(4)
        );
        for (flag, value, needle) in [
            ("--shard", "3/2", "INDEX 3 is not below COUNT 2"),
            ("--shard", "a/b", "INDEX is not a whole number"),
            ("--shard", "1", "there is no `/`"),
            ("--shard", "/4", "INDEX is not a whole number"),
            ("--shard-count", "0", "from 1 to 100000"),
        ] {
            let err = parse(&[flag, value, "create", "g"])
                .expect_err(value)
                .to_string();
            assert!(
                err.contains(&format!("'{value}'")) && err.contains(flag) && err.contains(needle),
                "{err}"
            );
        }
    }

    #[test]
    fn the_lock_wait_defaults_to_the_journals_own() {
        let lock = |args: &[&str]| {
            let cli = parse(args).expect("parses");
            cli.command.parts().lock.expect("takes the lock").lock_wait
        };
        assert_eq!(
            lock(&["rollback"]),
            cluster_client::journal::DEFAULT_LOCK_WAIT
        );
        assert_eq!(lock(&["rollback", "--lock-wait", "0s"]), Duration::ZERO);
        assert_eq!(
            lock(&["--lock-wait", "1s", "create", "g"]),
            Duration::from_secs(1)
        );
        assert!(
            parse(&["status", "g", "--lock-wait", "1s"]).is_err(),
            "status takes no lock"
        );
    }

    #[test]
    fn create_and_status_need_a_group_or_a_file() {
        for command in ["create", "status"] {
            assert!(parse(&[command]).is_err());
            assert!(parse(&[command, "--from-file", "-"]).is_ok());
            assert!(parse(&[command, "a", "b"]).is_ok());
        }
    }
}
