//! Command-line types, and nothing else of the face: their doc comments are the `--help`
//! text, and the value enums (`--output`, `--log-format`) and the exit table of `--help` are
//! defined here so that this module imports no other.

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
    /// where known, `host`, `group`, `method` and `attempt`.
    Json,
}

/// The help text for the table above; shown by `--help` and the man page.
pub const EXIT_STATUS_HELP: &str = "\
Exit status:
  0  done: every node is in the requested state (create/delete), every node
     answered and they agree (status), nothing is left pending (rollback,
     journal list), repairs were removed (journal forget)
  1  the operation failed and was fully rolled back: the cluster is as it was;
     for status: the nodes disagree, or a node did not answer
  2  bad input or a local problem, and no change was sent: usage, hosts file,
     group id, or an unreadable or unwritable journal; another run held the
     journal's lock for longer than --lock-wait; or interrupted before any
     change was sent; journal forget: no pending repair matched
  3  repairs pending in the journal: undos that could not be applied yet, an
     operation refused because its group has pending repairs, a rollback
     that left repairs pending, or journal list found repairs pending; over
     several journals also one that another run holds, or one that could not
     be read once repairs were sent";

/// Create, delete and check groups on every node of a cluster, all or nothing.
///
/// Each request is retried; a change that fails on one node is rolled back
/// on the others; undos that cannot be applied yet are kept in a journal
/// that every later run (and `cluster-client rollback`) replays first.
#[derive(Debug, Parser)]
#[command(name = "cluster-client", version, after_help = EXIT_STATUS_HELP)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,

    /// Options shared by every command.
    #[command(flatten)]
    pub options: Options,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Make GROUP exist on every node; on failure, undo this run's changes.
    Create(Groups),

    /// Remove GROUP from every node; on failure, restore it where this run removed it.
    Delete(Groups),

    /// Show per node whether GROUP is present (only reads, after the journal replay every command does).
    Status {
        /// The group to look up.
        #[arg(value_name = "GROUP")]
        group: String,
    },

    /// Replay the journal's pending repairs, and nothing else (for cron).
    Rollback,

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

    /// Print the man page (roff) to stdout.
    Man,
}

/// The `journal` subcommands. Neither replays the journal nor sends any
/// request; both take the journal's lock like every other command.
#[derive(Debug, Subcommand)]
pub enum JournalCommand {
    /// List every pending repair: group, node, repair, since when, failed replays, last error.
    ///
    /// Exits 0 when nothing is pending and 3 when something is, so it works as a
    /// monitoring check.
    List,

    /// Remove the pending repairs of GROUP, on every node or only on --host, and print them.
    ///
    /// For a node that left the cluster for good: its repairs could never be applied, and
    /// they keep GROUP refused and cost every run a round of retries. The node is then left
    /// as it is, with or without GROUP. Exits 0 when something was removed, 2 when nothing
    /// matched.
    Forget {
        /// The group whose pending repairs to remove.
        #[arg(value_name = "GROUP")]
        group: String,

        /// Only the repairs on this node (base URL or host[:port], as in the hosts file).
        #[arg(long, value_name = "URL")]
        host: Option<String>,
    },
}

/// The groups a create or delete works on; each is its own all-or-nothing operation.
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

/// Options shared by every command; each may come before or after it.
#[derive(Debug, Args)]
pub struct Options {
    /// Hosts file: one base URL or host[:port] per line, worked on in file order
    /// [default: hosts.txt]. The token goes only to these nodes. `rollback` reads it
    /// only when given; without it, the journal names the nodes. `journal` never reads it.
    #[arg(long, global = true, value_name = "FILE", env = "CLUSTER_CLIENT_HOSTS")]
    pub hosts: Option<PathBuf>,

    /// Journal of pending repairs [default: journal.json in the per-user data
    /// directory, e.g. ~/.local/share/cluster-client/]. A lock file sits beside it.
    ///
    /// `{shard}` in it is replaced by the shard's INDEX, so that shards never share a
    /// journal. `rollback` and `journal list` take several: repeat --journal, or name a
    /// directory (an existing one, or a path ending in `/`) for every `*.json` file in it.
    #[arg(
        long,
        global = true,
        value_name = "FILE",
        env = "CLUSTER_CLIENT_JOURNAL",
        action = clap::ArgAction::Append
    )]
    pub journal: Vec<PathBuf>,

    /// Work only on this shard's groups: those whose FNV-1a 64 hash of the id, modulo
    /// COUNT, is INDEX (from 0). For create and delete; other commands use it only for
    /// `{shard}` in --journal.
    #[arg(
        long,
        global = true,
        value_name = "INDEX/COUNT",
        env = "CLUSTER_CLIENT_SHARD",
        value_parser = Shard::from_str
    )]
    pub shard: Option<Shard>,

    /// In a Kubernetes Indexed Job: shard JOB_COMPLETION_INDEX of COUNT (keep the Job's
    /// completions equal to COUNT). With --shard, both must agree.
    #[arg(
        long,
        global = true,
        value_name = "COUNT",
        env = "CLUSTER_CLIENT_SHARD_COUNT",
        value_parser = shard::parse_count
    )]
    pub shard_count: Option<u32>,

    /// Time limit for each request attempt, e.g. 500ms, 2s, 1m30s.
    #[arg(
        long,
        global = true,
        value_name = "DURATION",
        env = "CLUSTER_CLIENT_TIMEOUT",
        default_value = "5s",
        value_parser = humantime::parse_duration
    )]
    pub timeout: Duration,

    /// Retries after the first attempt of each request.
    #[arg(
        long,
        global = true,
        value_name = "N",
        env = "CLUSTER_CLIENT_RETRIES",
        default_value_t = 3
    )]
    pub retries: u32,

    /// First retry delay ceiling; it doubles per retry, with full jitter.
    #[arg(
        long,
        global = true,
        value_name = "DURATION",
        env = "CLUSTER_CLIENT_BACKOFF",
        default_value = "200ms",
        value_parser = humantime::parse_duration
    )]
    pub backoff: Duration,

    /// Longest retry delay; also caps a node's Retry-After.
    #[arg(
        long,
        global = true,
        value_name = "DURATION",
        env = "CLUSTER_CLIENT_MAX_BACKOFF",
        default_value = "10s",
        value_parser = humantime::parse_duration
    )]
    pub max_backoff: Duration,

    /// After SIGINT/SIGTERM, how long rolling back this run's changes may take.
    #[arg(
        long,
        global = true,
        value_name = "DURATION",
        env = "CLUSTER_CLIENT_SHUTDOWN_GRACE",
        default_value = "10s",
        value_parser = humantime::parse_duration
    )]
    pub shutdown_grace: Duration,

    /// How long after an ambiguous write (time-out, reset, 5xx) a node may
    /// still apply it late. Until then the journal keeps a verification of
    /// the node, and every run and `rollback` reads it and undoes the write
    /// if it landed.
    #[arg(
        long,
        global = true,
        value_name = "DURATION",
        env = "CLUSTER_CLIENT_SETTLE_HORIZON",
        default_value = "5m",
        value_parser = humantime::parse_duration
    )]
    pub settle_horizon: Duration,

    /// How long to wait for another run holding the journal's lock, then exit 2 naming it.
    ///
    /// The default covers a normal run holding the lock (a one-group change whose requests
    /// time out and are undone takes about 90 s with the default retries), and stays well
    /// under a 5-minute cron interval, so runs do not pile up behind a stopped one.
    /// `rollback` and `journal list` over several journals never wait.
    #[arg(
        long,
        global = true,
        value_name = "DURATION",
        env = "CLUSTER_CLIENT_LOCK_WAIT",
        default_value = "2m",
        value_parser = humantime::parse_duration
    )]
    pub lock_wait: Duration,

    /// Work on up to N nodes at a time (threads); 1 keeps strict hosts-file order.
    #[arg(
        long,
        global = true,
        value_name = "N",
        env = "CLUSTER_CLIENT_CONCURRENCY",
        default_value_t = 1
    )]
    pub concurrency: usize,

    /// In a bulk run, work on up to N groups at a time, each still all-or-nothing.
    ///
    /// Output and exit status are the same as with 1. N × --concurrency may be
    /// at most 1024 (requests in flight; each holds two threads).
    #[arg(
        long,
        global = true,
        value_name = "N",
        env = "CLUSTER_CLIENT_PARALLEL_GROUPS",
        default_value_t = 1
    )]
    pub parallel_groups: usize,

    /// Trust this PEM CA certificate (bundle) for https:// nodes, besides the built-in roots.
    #[arg(
        long,
        global = true,
        value_name = "FILE",
        env = "CLUSTER_CLIENT_CACERT"
    )]
    pub cacert: Option<PathBuf>,

    /// A --cacert that is not there means the built-in roots only, as if it were not given.
    ///
    /// For a Kubernetes Secret mounted with `optional: true`, as --token-file-optional.
    #[arg(
        long,
        global = true,
        env = "CLUSTER_CLIENT_CACERT_OPTIONAL",
        value_parser = clap::builder::BoolishValueParser::new()
    )]
    pub cacert_optional: bool,

    /// Send the bearer token in FILE (mode 0600, at most 64 KiB) to the configured nodes.
    ///
    /// CLUSTER_CLIENT_TOKEN sets the token itself; the file wins.
    #[arg(
        long,
        global = true,
        value_name = "FILE",
        env = "CLUSTER_CLIENT_TOKEN_FILE"
    )]
    pub token_file: Option<PathBuf>,

    /// A --token-file that is not there means no token, as if it were not given.
    ///
    /// For a Kubernetes Secret mounted with `optional: true`: without the Secret, its
    /// directory is there and empty. Only that case is let through: a file that exists is
    /// checked as always, and a missing directory is still an error (a wrong path).
    #[arg(
        long,
        global = true,
        env = "CLUSTER_CLIENT_TOKEN_FILE_OPTIONAL",
        value_parser = clap::builder::BoolishValueParser::new()
    )]
    pub token_file_optional: bool,

    /// Also send the token to hosts the journal names that are not in the hosts file.
    ///
    /// Without it, a repair for such a host is sent without the token, and a warning
    /// names the host.
    #[arg(
        long,
        global = true,
        env = "CLUSTER_CLIENT_TRUST_JOURNAL_HOSTS",
        value_parser = clap::builder::BoolishValueParser::new()
    )]
    pub trust_journal_hosts: bool,

    /// Accept group write on DIR, a directory above the journal or another checked file.
    ///
    /// Only for the root of a Kubernetes volume with fsGroup, which the kubelet makes
    /// group-writable: members of its group could hide the journal and bring it back.
    /// Others may still not write DIR.
    #[arg(
        long,
        global = true,
        value_name = "DIR",
        env = "CLUSTER_CLIENT_TRUST_GROUP_WRITABLE"
    )]
    pub trust_group_writable: Option<PathBuf>,

    /// Result format on stdout; logs always go to stderr.
    #[arg(
        long,
        global = true,
        value_name = "FORMAT",
        env = "CLUSTER_CLIENT_OUTPUT",
        value_enum,
        default_value_t = OutputFormat::Human
    )]
    pub output: OutputFormat,

    /// Write run metrics (Prometheus text format) to FILE at the end of every run, atomically.
    ///
    /// For the node_exporter textfile collector: pending repairs, the oldest one's age,
    /// the exit status, time and duration of the run, requests and retries. A failure to
    /// write it is logged and does not change the exit status.
    #[arg(
        long,
        global = true,
        value_name = "FILE",
        env = "CLUSTER_CLIENT_METRICS_FILE"
    )]
    pub metrics_file: Option<PathBuf>,

    /// Log format on stderr: text, or json (one object per line, for log collectors).
    #[arg(
        long,
        global = true,
        value_name = "FORMAT",
        env = "CLUSTER_CLIENT_LOG_FORMAT",
        value_enum,
        default_value_t = LogFormat::Text
    )]
    pub log_format: LogFormat,

    /// More logging (-v info, -vv debug, -vvv trace); RUST_LOG overrides.
    #[arg(short, long, global = true, action = clap::ArgAction::Count, conflicts_with = "quiet")]
    pub verbose: u8,

    /// Less logging (-q errors only, -qq nothing).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub quiet: u8,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn options_may_follow_the_subcommand() {
        let cli = Cli::try_parse_from([
            "cluster-client",
            "create",
            "g1",
            "--retries",
            "7",
            "--output",
            "json",
        ])
        .expect("parses");
        assert_eq!(cli.options.retries, 7);
        assert_eq!(cli.options.output, OutputFormat::Json);
    }

    #[test]
    fn durations_accept_compound_values() {
        let cli = Cli::try_parse_from(["cluster-client", "--timeout", "1m30s", "rollback"])
            .expect("parses");
        assert_eq!(cli.options.timeout, Duration::from_secs(90));
    }

    #[test]
    fn journal_forget_takes_a_group_and_an_optional_host() {
        let cli = Cli::try_parse_from([
            "cluster-client",
            "journal",
            "forget",
            "g1",
            "--host",
            "node1:8080",
            "--log-format",
            "json",
        ])
        .expect("parses");
        assert_eq!(cli.options.log_format, LogFormat::Json);
        let Command::Journal {
            command: JournalCommand::Forget { group, host },
        } = cli.command
        else {
            panic!("not journal forget: {:?}", cli.command);
        };
        assert_eq!(
            (group.as_str(), host.as_deref()),
            ("g1", Some("node1:8080"))
        );
        assert!(Cli::try_parse_from(["cluster-client", "journal", "forget"]).is_err());
    }

    #[test]
    fn journals_repeat_and_shards_parse_where_given() {
        let cli = Cli::try_parse_from([
            "cluster-client",
            "rollback",
            "--journal",
            "a.json",
            "--journal",
            "dir/",
            "--shard",
            "2/5",
        ])
        .expect("parses");
        assert_eq!(
            cli.options.journal,
            [PathBuf::from("a.json"), PathBuf::from("dir/")]
        );
        assert_eq!(
            cli.options.shard.map(|s| s.to_string()).as_deref(),
            Some("2/5")
        );
        let cli = Cli::try_parse_from(["cluster-client", "--shard-count", "4", "create", "g"])
            .expect("parses");
        assert_eq!(cli.options.shard_count, Some(4));
        for (flag, value, needle) in [
            ("--shard", "3/2", "INDEX 3 is not below COUNT 2"),
            ("--shard", "a/b", "INDEX is not a whole number"),
            ("--shard", "1", "there is no `/`"),
            ("--shard", "/4", "INDEX is not a whole number"),
            ("--shard-count", "0", "from 1 to 100000"),
        ] {
            let err = Cli::try_parse_from(["cluster-client", flag, value, "create", "g"])
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
        let cli = Cli::try_parse_from(["cluster-client", "rollback"]).expect("parses");
        assert_eq!(
            cli.options.lock_wait,
            cluster_client::journal::DEFAULT_LOCK_WAIT
        );
        let cli = Cli::try_parse_from(["cluster-client", "rollback", "--lock-wait", "0s"])
            .expect("parses");
        assert_eq!(cli.options.lock_wait, Duration::ZERO);
    }

    #[test]
    fn create_needs_a_group_or_a_file() {
        assert!(Cli::try_parse_from(["cluster-client", "create"]).is_err());
        assert!(Cli::try_parse_from(["cluster-client", "create", "--from-file", "-"]).is_ok());
    }
}
