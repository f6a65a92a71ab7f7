//! Turns parsed arguments into a validated configuration; deep code never sees `Cli`.

use std::collections::HashSet;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::cli::{Cli, Command, Groups, JournalCommand, Options};
use crate::output::OutputFormat;
use cluster_client::change::Operation;
use cluster_client::engine::MAX_IN_FLIGHT;
use cluster_client::error::InputError;
use cluster_client::group::GroupId;
use cluster_client::hosts::{self, Node};
use cluster_client::retry::RetryPolicy;
use cluster_client::secret::Token;
use cluster_client::transport::HttpSettings;

/// Everything a run needs, checked before anything is sent.
#[derive(Debug, Clone)]
pub struct Config {
    /// What to do.
    pub task: Task,
    /// The journal file (its directory may not exist yet).
    pub journal: PathBuf,
    /// How requests are retried.
    pub policy: RetryPolicy,
    /// HTTP client settings.
    pub http: HttpSettings,
    /// How results are printed.
    pub output: OutputFormat,
    /// How long rollback may take after a signal.
    pub shutdown_grace: Duration,
    /// How many nodes are worked on at a time (at least 1).
    pub concurrency: usize,
    /// How many groups of a bulk run are worked on at a time (at least 1;
    /// times `concurrency` at most [`MAX_IN_FLIGHT`]).
    pub parallel_groups: usize,
}

/// A validated command.
#[derive(Debug, Clone)]
pub enum Task {
    /// Create or delete each group, each all-or-nothing.
    Change {
        /// Create or delete.
        operation: Operation,
        /// The groups, in the order given, no duplicates.
        groups: Vec<GroupId>,
        /// Whether the command named a list (several groups or
        /// `--from-file`): its JSON result is then an array, even of one.
        list: bool,
        /// The nodes, in hosts-file order.
        nodes: Vec<Node>,
    },
    /// Read one group on every node.
    Status {
        /// The group.
        group: GroupId,
        /// The nodes, in hosts-file order.
        nodes: Vec<Node>,
    },
    /// Replay the journal only; needs no hosts file (when one is given, the
    /// token goes only to its nodes).
    Rollback,
    /// List the journal's pending repairs; sends nothing, replays nothing.
    JournalList,
    /// Remove the pending repairs of `group` (only on `host` when given);
    /// sends nothing, replays nothing.
    JournalForget {
        /// The group.
        group: GroupId,
        /// The one node, normalised as in the hosts file; `None`: every node.
        host: Option<Node>,
    },
}

impl Task {
    /// Whether the task only reads or edits the journal: no replay, no
    /// request, no HTTP client and no token.
    pub fn is_journal_only(&self) -> bool {
        matches!(self, Self::JournalList | Self::JournalForget { .. })
    }
}

impl Config {
    /// Validates `cli`: parses the hosts file (for `rollback` only when one
    /// is given), reads and checks the token file, checks
    /// every group id and the retry settings, and resolves the journal path.
    ///
    /// `completions` and `man` need no configuration; they are handled
    /// before this is called and yield an error here.
    pub fn from_cli(cli: &Cli) -> Result<Self, InputError> {
        let options = &cli.options;
        check_limits(options)?;
        let hosts_file = options
            .hosts
            .clone()
            .unwrap_or_else(|| PathBuf::from(DEFAULT_HOSTS_FILE));
        let task = task(&cli.command, &hosts_file)?;
        let configured = configured_nodes(&task, options.hosts.as_deref())?;
        let journal = match &options.journal {
            Some(path) => path.clone(),
            None => default_journal_path()?,
        };
        // Note: the journal commands send nothing, so a missing or unsafe
        // token file does not stop an operator cleaning up.
        let token = if task.is_journal_only() {
            None
        } else {
            read_token(options.token_file.as_deref())?
        };
        Ok(Self {
            task,
            journal,
            policy: RetryPolicy {
                retries: options.retries,
                backoff: options.backoff,
                max_backoff: options.max_backoff,
            },
            http: HttpSettings {
                timeout: options.timeout,
                ca_certificate: options.cacert.clone(),
                token,
                configured,
                trust_unlisted: options.trust_journal_hosts,
            },
            concurrency: options.concurrency,
            parallel_groups: options.parallel_groups,
            output: options.output,
            shutdown_grace: options.shutdown_grace,
        })
    }
}

/// Refuses settings that are invalid on their own or together.
fn check_limits(options: &Options) -> Result<(), InputError> {
    if options.timeout.is_zero() {
        return Err(InputError::Invalid(
            "--timeout must be longer than 0; try 5s".to_owned(),
        ));
    }
    if options.concurrency == 0 {
        return Err(InputError::Invalid(
            "--concurrency must be at least 1 (1 works on one node at a time)".to_owned(),
        ));
    }
    if options.parallel_groups == 0 {
        return Err(InputError::Invalid(
            "--parallel-groups must be at least 1 (1 works on one group at a time)".to_owned(),
        ));
    }
    let in_flight = options.parallel_groups.saturating_mul(options.concurrency);
    if in_flight > MAX_IN_FLIGHT {
        return Err(InputError::Invalid(format!(
            "--parallel-groups {} × --concurrency {} is {in_flight} requests in flight, \
             more than the {MAX_IN_FLIGHT} allowed; lower one of them \
             (throughput stops growing long before that)",
            options.parallel_groups, options.concurrency,
        )));
    }
    if options.backoff > options.max_backoff {
        return Err(InputError::Invalid(format!(
            "--backoff {} is longer than --max-backoff {}; raise --max-backoff or lower --backoff",
            humantime::format_duration(options.backoff),
            humantime::format_duration(options.max_backoff),
        )));
    }
    Ok(())
}

/// The command, checked: group ids, the hosts file where the command needs it.
fn task(command: &Command, hosts_file: &Path) -> Result<Task, InputError> {
    Ok(match command {
        Command::Create(groups) => change(Operation::Create, groups, hosts_file)?,
        Command::Delete(groups) => change(Operation::Delete, groups, hosts_file)?,
        Command::Status { group } => Task::Status {
            group: GroupId::new(group.as_str())?,
            nodes: hosts::read_hosts_file(hosts_file)?,
        },
        Command::Rollback => Task::Rollback,
        Command::Journal { command } => match command {
            JournalCommand::List => Task::JournalList,
            JournalCommand::Forget { group, host } => Task::JournalForget {
                group: GroupId::new(group.as_str())?,
                host: host
                    .as_deref()
                    .map(|raw| {
                        Node::parse(raw)
                            .map_err(|e| InputError::Invalid(format!("--host {raw:?}: {e}")))
                    })
                    .transpose()?,
            },
        },
        Command::Completions { .. } | Command::Man => {
            return Err(InputError::Invalid(
                "completions and man take no configuration".to_owned(),
            ));
        }
    })
}

/// The hosts file used when `--hosts` (or `CLUSTER_CLIENT_HOSTS`) is not given.
pub const DEFAULT_HOSTS_FILE: &str = "hosts.txt";

/// The nodes the token may go to (see [`HttpSettings::configured`]): the
/// hosts file's. `rollback` reads the hosts file only when one is given;
/// without it, `None`: the journal names the nodes.
fn configured_nodes(task: &Task, given: Option<&Path>) -> Result<Option<Vec<Node>>, InputError> {
    Ok(match (task, given) {
        (Task::Change { nodes, .. } | Task::Status { nodes, .. }, _) => Some(nodes.clone()),
        (Task::Rollback, Some(path)) => Some(hosts::read_hosts_file(path)?),
        (Task::Rollback, None) => None,
        (Task::JournalList | Task::JournalForget { .. }, _) => None,
    })
}

/// The bearer token: `--token-file` (or `CLUSTER_CLIENT_TOKEN_FILE`) wins
/// over `CLUSTER_CLIENT_TOKEN`. Neither set means no credentials.
fn read_token(file: Option<&Path>) -> Result<Option<Token>, InputError> {
    if let Some(path) = file {
        return cluster_client::secret::read_token_file(path).map(Some);
    }
    Ok(std::env::var("CLUSTER_CLIENT_TOKEN")
        .ok()
        .and_then(|value| Token::new(&value)))
}

/// `journal.json` in the per-user data directory, for example
/// `~/.local/share/cluster-client/journal.json` on Linux.
pub fn default_journal_path() -> Result<PathBuf, InputError> {
    directories::ProjectDirs::from("", "", "cluster-client")
        .map(|dirs| dirs.data_dir().join("journal.json"))
        .ok_or_else(|| {
            InputError::Invalid(
                "cannot find a per-user data directory for the journal (is $HOME set?); \
                 pass --journal FILE or set CLUSTER_CLIENT_JOURNAL"
                    .to_owned(),
            )
        })
}

fn change(operation: Operation, args: &Groups, hosts_path: &Path) -> Result<Task, InputError> {
    let mut groups = UniqueGroups::default();
    for raw in &args.groups {
        groups.push(GroupId::new(raw.as_str())?, || {
            format!("on the command line: {raw:?}")
        })?;
    }
    if let Some(path) = &args.from_file {
        let read_error = |source| InputError::GroupsRead {
            path: path.clone(),
            cause: source,
        };
        let reader: Box<dyn Read> = if path.as_os_str() == "-" {
            Box::new(std::io::stdin())
        } else {
            Box::new(std::fs::File::open(path).map_err(read_error)?)
        };
        for (index, line) in BufReader::new(reader).lines().enumerate() {
            let line = line.map_err(read_error)?;
            let raw = line.strip_suffix('\r').unwrap_or(&line);
            // Note: like the hosts file, blank lines and `#` comments are
            // skipped (after leading whitespace); every other line is an id,
            // verbatim. An id that starts with `#` can still be given as an
            // argument.
            let content = raw.trim_start();
            if content.is_empty() || content.starts_with('#') {
                continue;
            }
            let line_error = |source| InputError::GroupsLine {
                path: path.clone(),
                line: index + 1,
                cause: Box::new(source),
            };
            let group = GroupId::new(raw).map_err(line_error)?;
            groups.push(group, || format!("at {}:{}", path.display(), index + 1))?;
        }
    }
    if groups.list.is_empty() {
        return Err(InputError::Invalid(
            "no groups given; name at least one GROUP or a non-empty --from-file".to_owned(),
        ));
    }
    Ok(Task::Change {
        operation,
        list: args.groups.len() > 1 || args.from_file.is_some(),
        groups: groups.list,
        nodes: hosts::read_hosts_file(hosts_path)?,
    })
}

/// Group ids in the order given, each at most once.
#[derive(Default)]
struct UniqueGroups {
    list: Vec<GroupId>,
    // Note: a set beside the list, so a --from-file of 100,000 ids is not
    // checked against every earlier one.
    seen: HashSet<GroupId>,
}

impl UniqueGroups {
    /// Adds `group`; a repeat is an error naming `place`.
    fn push(&mut self, group: GroupId, place: impl Fn() -> String) -> Result<(), InputError> {
        if !self.seen.insert(group.clone()) {
            return Err(InputError::Invalid(format!(
                "group {:?} is listed twice ({}); list each group once",
                group.as_str(),
                place()
            )));
        }
        self.list.push(group);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn config(args: &[&str]) -> Result<Config, String> {
        let cli = Cli::try_parse_from(args).map_err(|e| e.to_string())?;
        Config::from_cli(&cli).map_err(|e| e.to_string())
    }

    #[test]
    fn rollback_needs_no_hosts_file() {
        let config = config(&["cluster-client", "--journal", "j.json", "rollback"]).expect("valid");
        assert!(matches!(config.task, Task::Rollback));
        assert_eq!(config.journal, PathBuf::from("j.json"));
        assert_eq!(config.http.configured, None, "the journal names the nodes");
    }

    #[test]
    fn rollback_with_a_hosts_file_scopes_the_token_to_it() {
        let err = config(&[
            "cluster-client",
            "--hosts",
            "/nonexistent/h.txt",
            "rollback",
        ])
        .expect_err("missing");
        assert!(err.contains("/nonexistent/h.txt"), "{err}");
        let dir = tempfile::tempdir().expect("tempdir");
        let hosts = dir.path().join("hosts.txt");
        std::fs::write(&hosts, "node1:8080\n").expect("write");
        let config = config(&[
            "cluster-client",
            "--hosts",
            hosts.to_str().expect("utf8"),
            "rollback",
            "--trust-journal-hosts",
        ])
        .expect("valid");
        let nodes = config.http.configured.expect("configured");
        assert_eq!(nodes, [Node::parse("node1:8080").expect("node")]);
        assert!(config.http.trust_unlisted);
    }

    #[test]
    fn missing_hosts_file_is_named() {
        let err = config(&[
            "cluster-client",
            "--hosts",
            "/nonexistent/h.txt",
            "status",
            "g",
        ])
        .expect_err("missing");
        assert!(err.contains("/nonexistent/h.txt"), "{err}");
    }

    #[test]
    fn group_ids_are_checked_before_the_hosts_file() {
        let err = config(&["cluster-client", "--hosts", "/nonexistent", "create", ".."])
            .expect_err("bad id");
        assert!(err.contains("invalid group id"), "{err}");
    }

    #[test]
    fn duplicate_groups_are_rejected() {
        let err = config(&["cluster-client", "create", "g", "g"]).expect_err("dup");
        assert!(err.contains("listed twice"), "{err}");
    }

    #[test]
    fn group_file_errors_name_the_line() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("groups.txt");
        std::fs::write(&file, "g1\n\ng2\n..\n").expect("write");
        let err = config(&[
            "cluster-client",
            "create",
            "--from-file",
            file.to_str().expect("utf8"),
        ])
        .expect_err("bad line");
        assert!(err.contains("groups.txt:4:"), "{err}");
    }

    #[test]
    fn group_files_skip_blank_lines_and_comments() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("groups.txt");
        let hosts = dir.path().join("hosts.txt");
        std::fs::write(&hosts, "a:1\n").expect("write hosts");
        std::fs::write(
            &file,
            "# team list\n\ng1\n  # indented\n \t \r\n g2 \r\n#g3\n",
        )
        .expect("write");
        let config = config(&[
            "cluster-client",
            "--hosts",
            hosts.to_str().expect("utf8"),
            "create",
            "#from-args",
            "--from-file",
            file.to_str().expect("utf8"),
        ])
        .expect("valid");
        let Task::Change { groups, .. } = config.task else {
            panic!("not a change: {:?}", config.task);
        };
        let ids: Vec<&str> = groups.iter().map(GroupId::as_str).collect();
        // Other lines stay verbatim; `#` is only a comment in the file.
        assert_eq!(ids, ["#from-args", "g1", " g2 "]);
    }

    #[test]
    fn group_file_errors_count_comment_lines() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("groups.txt");
        std::fs::write(&file, "# a\n# b\ng1\ng1\n").expect("write");
        let err = config(&[
            "cluster-client",
            "create",
            "--from-file",
            file.to_str().expect("utf8"),
        ])
        .expect_err("repeated");
        assert!(err.contains("groups.txt:4"), "{err}");
    }

    #[test]
    fn backoff_longer_than_its_cap_is_rejected() {
        let err =
            config(&["cluster-client", "--backoff", "20s", "rollback"]).expect_err("bad backoff");
        assert!(err.contains("--max-backoff"), "{err}");
    }

    #[test]
    fn zero_timeout_is_rejected() {
        let err = config(&["cluster-client", "--timeout", "0s", "rollback"]).expect_err("zero");
        assert!(err.contains("--timeout"), "{err}");
    }
}
