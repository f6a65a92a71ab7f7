//! Command-line types, and nothing else of the face: their doc comments are the `--help`
//! text, and the value enums (`--output`, `--log-format`) and the exit table of `--help` are
//! defined here so that this module imports no other.
//!
//! Each subcommand takes only the options it uses, in groups per concern (`Nodes`,
//! `Requests`, `Report`, ...), so its `--help` offers nothing it would ignore. Options may
//! still come before the subcommand: [`Cli::try_parse_args`] moves them after it.

use std::ffi::OsString;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use clap::{Args, CommandFactory, Parser, Subcommand};
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
     group id, or an unreadable or unwritable journal; or interrupted before
     any change was sent; journal forget: no pending repair matched
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

/// The option groups a command takes; `None` for a group it does not.
#[derive(Debug, Clone, Copy, Default)]
pub struct Parts<'a> {
    /// The hosts file.
    pub nodes: Option<&'a Nodes>,
    /// The journal.
    pub journal: Option<&'a JournalOptions>,
    /// The shard.
    pub shard: Option<&'a ShardOptions>,
    /// Requests and retries.
    pub requests: Option<&'a Requests>,
    /// TLS and the token.
    pub credentials: Option<&'a Credentials>,
    /// Options of commands that send changes.
    pub writes: Option<&'a Writes>,
    /// Groups in flight.
    pub bulk: Option<&'a Bulk>,
    /// Output and metrics.
    pub report: Option<&'a Report>,
    /// Logging.
    pub logging: Option<&'a Logging>,
}

impl Command {
    /// The option groups this command takes.
    pub fn parts(&self) -> Parts<'_> {
        match self {
            Self::Create(c) | Self::Delete(c) => Parts {
                nodes: Some(&c.nodes),
                journal: Some(&c.journal),
                shard: Some(&c.shard),
                requests: Some(&c.requests),
                credentials: Some(&c.credentials),
                writes: Some(&c.writes),
                bulk: Some(&c.bulk),
                report: Some(&c.report),
                logging: Some(&c.logging),
            },
            Self::Status(s) => Parts {
                nodes: Some(&s.nodes),
                journal: Some(&s.journal),
                shard: Some(&s.shard),
                requests: Some(&s.requests),
                credentials: Some(&s.credentials),
                bulk: Some(&s.bulk),
                report: Some(&s.report),
                logging: Some(&s.logging),
                writes: None,
            },
            Self::Rollback(r) => Parts {
                nodes: Some(&r.nodes),
                journal: Some(&r.journal),
                shard: Some(&r.shard),
                requests: Some(&r.requests),
                credentials: Some(&r.credentials),
                writes: Some(&r.writes),
                report: Some(&r.report),
                logging: Some(&r.logging),
                bulk: None,
            },
            Self::Journal { command } => match command {
                JournalCommand::List(l) => Parts {
                    journal: Some(&l.journal),
                    shard: Some(&l.shard),
                    report: Some(&l.report),
                    logging: Some(&l.logging),
                    ..Parts::default()
                },
                JournalCommand::Forget(f) => Parts {
                    journal: Some(&f.journal),
                    shard: Some(&f.shard),
                    report: Some(&f.report),
                    logging: Some(&f.logging),
                    ..Parts::default()
                },
            },
            Self::Completions { .. } | Self::Man { .. } => Parts::default(),
        }
    }

    /// The command's name as people type it: `create`, `journal list`, ...
    pub fn name(&self) -> &'static str {
        match self {
            Self::Create(_) => "create",
            Self::Delete(_) => "delete",
            Self::Status(_) => "status",
            Self::Rollback(_) => "rollback",
            Self::Journal {
                command: JournalCommand::List(_),
            } => "journal list",
            Self::Journal {
                command: JournalCommand::Forget(_),
            } => "journal forget",
            Self::Completions { .. } => "completions",
            Self::Man { .. } => "man",
        }
    }

    /// The logging options; the defaults for a command that takes none.
    pub fn logging(&self) -> Logging {
        self.parts().logging.copied().unwrap_or_default()
    }
}

impl Cli {
    /// Parses `args` (the program's name first) as the binary does: options
    /// given before the subcommand are moved after it, so `cluster-client
    /// --hosts h.txt create g` and `cluster-client create g --hosts h.txt`
    /// mean the same, and an option the subcommand does not take is refused
    /// either way.
    pub fn try_parse_args<I, T>(args: I) -> Result<Self, clap::Error>
    where
        I: IntoIterator<Item = T>,
        T: Into<OsString>,
    {
        let args: Vec<OsString> = args.into_iter().map(Into::into).collect();
        Self::try_parse_from(hoist(&Self::command(), args))
    }
}

/// `args` with the options that come before the subcommand (or between
/// `journal` and its subcommand) moved after it. An option no subcommand
/// knows, `--help`, `--version`, `--` or anything that is neither an option
/// nor a subcommand ends the move where it is; without a subcommand,
/// `args` is returned as it was.
// Note: clap's `global = true` would offer every option in every
// subcommand's help, and clap has no option that is global to some
// subcommands only; each option is defined once, in the subcommands that
// take it, and this lets it come first as before.
pub fn hoist(command: &clap::Command, args: Vec<OsString>) -> Vec<OsString> {
    let arity = Arity::of(command);
    let mut path = Vec::new();
    let mut moved = Vec::new();
    let mut level = command;
    let mut at = 1;
    loop {
        while let Some(words) = args.get(at).and_then(|word| arity.words(word)) {
            let end = (at + words).min(args.len());
            moved.extend_from_slice(&args[at..end]);
            at = end;
        }
        let Some(name) = args.get(at).and_then(|w| w.to_str()) else {
            break;
        };
        let Some(sub) = level.find_subcommand(name) else {
            break;
        };
        path.push(args[at].clone());
        level = sub;
        at += 1;
    }
    if path.is_empty() || moved.is_empty() {
        return args;
    }
    let mut out = Vec::with_capacity(args.len());
    out.push(args[0].clone());
    out.extend(path);
    out.extend(moved);
    out.extend_from_slice(&args[at..]);
    out
}

/// How many words each option of any subcommand takes.
struct Arity {
    /// Long names (without `--`) and whether each takes a value.
    long: Vec<(String, bool)>,
    /// Short names that take no value (`-v`, `-q`).
    short_flags: Vec<char>,
}

impl Arity {
    fn of(command: &clap::Command) -> Self {
        let mut arity = Self {
            long: Vec::new(),
            short_flags: Vec::new(),
        };
        arity.add(command);
        arity
    }

    fn add(&mut self, command: &clap::Command) {
        for arg in command.get_arguments() {
            let action = arg.get_action();
            if matches!(
                action,
                clap::ArgAction::Help
                    | clap::ArgAction::HelpShort
                    | clap::ArgAction::HelpLong
                    | clap::ArgAction::Version
            ) {
                continue;
            }
            let takes = action.takes_values();
            if let Some(long) = arg.get_long() {
                self.long.push((long.to_owned(), takes));
            }
            if let (Some(short), false) = (arg.get_short(), takes) {
                self.short_flags.push(short);
            }
        }
        for sub in command.get_subcommands() {
            self.add(sub);
        }
    }

    /// The words an option starting at `word` spans (1 or 2); `None` when
    /// `word` is not an option some subcommand knows.
    fn words(&self, word: &OsString) -> Option<usize> {
        let word = word.to_str()?;
        if let Some(long) = word.strip_prefix("--") {
            let (name, inline) = match long.split_once('=') {
                Some((name, _)) => (name, true),
                None => (long, false),
            };
            let (_, takes) = self.long.iter().find(|(known, _)| known == name)?;
            return Some(if *takes && !inline { 2 } else { 1 });
        }
        let shorts = word.strip_prefix('-')?;
        let known = !shorts.is_empty() && shorts.chars().all(|c| self.short_flags.contains(&c));
        known.then_some(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_args(std::iter::once("cluster-client").chain(args.iter().copied()))
    }

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn every_option_has_one_arity_in_every_subcommand() {
        let arity = Arity::of(&Cli::command());
        for (name, takes) in &arity.long {
            assert!(
                arity.long.iter().all(|(n, t)| n != name || t == takes),
                "--{name} takes a value in one subcommand and not in another"
            );
        }
    }

    #[test]
    fn options_may_come_before_or_after_the_subcommand() {
        for args in [
            &["create", "g1", "--retries", "7", "--output", "json"][..],
            &["--retries", "7", "--output=json", "create", "g1"],
            &["--retries", "7", "create", "--output", "json", "g1"],
        ] {
            let cli = parse(args).expect("parses");
            let parts = cli.command.parts();
            assert_eq!(parts.requests.expect("requests").retries, 7, "{args:?}");
            assert_eq!(parts.report.expect("report").output, OutputFormat::Json);
        }
        let cli = parse(&["-vv", "--journal", "journal", "journal", "list"]).expect("parses");
        assert_eq!(cli.command.name(), "journal list");
        assert_eq!(cli.command.logging().verbose, 2);
        assert_eq!(
            cli.command.parts().journal.expect("journal").journal,
            [PathBuf::from("journal")]
        );
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
    fn create_and_status_need_a_group_or_a_file() {
        for command in ["create", "status"] {
            assert!(parse(&[command]).is_err());
            assert!(parse(&[command, "--from-file", "-"]).is_ok());
            assert!(parse(&[command, "a", "b"]).is_ok());
        }
    }

    #[test]
    fn words_that_are_not_options_stop_the_move() {
        let args = |words: &[&str]| -> Vec<OsString> {
            std::iter::once("cluster-client")
                .chain(words.iter().copied())
                .map(OsString::from)
                .collect()
        };
        let command = Cli::command();
        for unchanged in [
            &["--help"][..],
            &["--no-such", "create", "g"],
            &["--output", "json"],
            &["create", "g"],
        ] {
            assert_eq!(hoist(&command, args(unchanged)), args(unchanged));
        }
        assert_eq!(
            hoist(&command, args(&["-v", "journal", "-q", "list", "--x"])),
            args(&["journal", "list", "-v", "-q", "--x"])
        );
    }
}
