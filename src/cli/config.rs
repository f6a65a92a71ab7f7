//! Turns parsed arguments into a validated configuration; deep code never sees `Cli`.

use std::collections::HashSet;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::cli::args::OutputFormat;
use crate::cli::args::{Change, Cli, Command, ForgetArgs, Groups, JournalCommand, Requests};
use crate::cli::credentials;
use cluster_client::engine::{DEFAULT_SETTLE_HORIZON, DEFAULT_SHUTDOWN_GRACE, MAX_IN_FLIGHT};
use cluster_client::error::InputError;
use cluster_client::journal::DEFAULT_LOCK_WAIT;
use cluster_client::retry::RetryPolicy;
use cluster_client::transport::HttpSettings;
use cluster_client::vocab::change::Operation;
use cluster_client::vocab::group::GroupId;
use cluster_client::vocab::hosts::{self, Node};
use cluster_client::vocab::shard::{self, Shard};
use cluster_client::vocab::text::{escape, shorten};
use cluster_client::vocab::trust;

/// Everything a run needs, checked before anything is sent.
#[derive(Debug, Clone)]
pub struct Config {
    /// What to do.
    pub task: Task,
    /// The journal or journals, `{shard}` filled in.
    pub journals: Journals,
    /// Whether the journal is the default one (no `--journal` given): its
    /// directory may not exist yet, before a run of this user wrote one.
    pub default_journal: bool,
    /// How requests are retried (the defaults for a command that sends none).
    pub policy: RetryPolicy,
    /// HTTP client settings.
    pub http: HttpSettings,
    /// How results are printed.
    pub output: OutputFormat,
    /// How long rollback may take after a signal.
    pub shutdown_grace: Duration,
    /// `--settle-horizon`.
    pub settle_horizon: Duration,
    /// How long to wait for another run holding the (one) journal's lock.
    pub lock_wait: Duration,
    /// How many nodes are worked on at a time (at least 1).
    pub concurrency: usize,
    /// How many groups of a bulk run are worked on at a time (at least 1;
    /// times `concurrency` at most [`MAX_IN_FLIGHT`]).
    pub parallel_groups: usize,
}

/// Which journals a run opens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Journals {
    /// One journal file (its directory may not exist yet), opened waiting
    /// for its lock while another run holds it.
    One(PathBuf),
    /// Several, for `rollback` and `journal list`: `--journal` given more
    /// than once, or a directory. Each is opened in turn, without waiting
    /// for a lock another run holds. The output has one entry per journal,
    /// even when a directory holds one journal or none.
    Several(Vec<JournalSource>),
}

/// One `--journal` of [`Journals::Several`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JournalSource {
    /// A journal file.
    File(PathBuf),
    /// A directory: every `*.json` file in it whose name does not start
    /// with `.` (see `journals::list`). A missing directory is an error.
    Dir(PathBuf),
}

/// The shard of a sharded create or delete, and how many groups the
/// command named before the shard kept its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sharded {
    /// The shard in effect.
    pub shard: Shard,
    /// How many groups the command named (arguments and `--from-file`).
    pub named: usize,
}

/// Which nodes `journal forget` removes a group's repairs from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ForgetScope {
    /// Only these nodes (`--host`, normalised as in the hosts file).
    Hosts(Vec<Node>),
    /// Every node (`--all-hosts`).
    AllHosts,
    /// Neither was given: list what would be removed, remove nothing.
    Unspecified,
}

/// A validated command.
#[derive(Debug, Clone)]
pub enum Task {
    /// Create or delete each group, each all-or-nothing.
    Change {
        /// Create or delete.
        operation: Operation,
        /// The groups, in the order given, no duplicates; with a shard,
        /// only the shard's (possibly none).
        groups: Vec<GroupId>,
        /// Whether the command named a list (several groups, `--from-file`
        /// or a shard): its JSON result is then an array, even of one or none.
        list: bool,
        /// The shard, when one is in effect.
        shard: Option<Sharded>,
        /// The nodes, in hosts-file order.
        nodes: Vec<Node>,
        /// `--dry-run`: read every node and print the plan; no write, no replay.
        dry_run: bool,
    },
    /// Read the groups on every node, and show their pending repairs.
    Status {
        /// The groups, in the order given, no duplicates.
        groups: Vec<GroupId>,
        /// Whether the command named a list: its JSON result is then an array.
        list: bool,
        /// The nodes, in hosts-file order.
        nodes: Vec<Node>,
    },
    /// Replay the journal only; needs no hosts file (when one is given, the
    /// token goes only to its nodes).
    Rollback,
    /// List the journal's pending repairs; sends nothing, replays nothing.
    JournalList,
    /// Remove the pending repairs of `group` on the nodes `scope` names;
    /// sends nothing, replays nothing.
    JournalForget {
        /// The group.
        group: GroupId,
        /// Where.
        scope: ForgetScope,
        /// `--dry-run`: print what would be removed, change nothing.
        dry_run: bool,
    },
}

impl Config {
    /// Validates `cli`: parses the hosts file (for `rollback` only when one
    /// is given), reads and checks the token file, checks
    /// every group id and the retry settings, and resolves the journal path.
    ///
    /// `completions` and `man` need no configuration; they are handled
    /// before this is called and yield an error here.
    pub fn from_cli(cli: &Cli) -> Result<Self, InputError> {
        let job_index = std::env::var(shard::JOB_INDEX_VAR).ok();
        Self::from_cli_in(cli, job_index.as_deref())
    }

    /// [`Config::from_cli`] with `job_index` as the value of
    /// `JOB_COMPLETION_INDEX` (`None`: not set).
    pub fn from_cli_in(cli: &Cli, job_index: Option<&str>) -> Result<Self, InputError> {
        let parts = cli.command.parts();
        let requests = parts.requests.map(Settings::of).unwrap_or_default();
        let bulk = parts.bulk.map_or(1, |b| b.parallel_groups);
        check_limits(&requests, bulk)?;
        if let Some(dir) = parts
            .journal
            .and_then(|j| j.trust_group_writable.as_deref())
        {
            trust_group_writable(dir)?;
        }
        if let Some(given) = parts.credentials {
            credentials::check_optional_files(given)?;
        }
        let (shard, shard_count) = parts
            .shard
            .map_or((None, None), |s| (s.shard, s.shard_count));
        let shard = Shard::resolve(shard, shard_count, job_index)?;
        let given_hosts = parts.nodes.and_then(|n| n.hosts.as_deref());
        let hosts_file = given_hosts.unwrap_or(Path::new(DEFAULT_HOSTS_FILE));
        let task = task(&cli.command, hosts_file, shard)?;
        let configured = configured_nodes(&task, given_hosts)?;
        let given_journals = parts.journal.map_or(&[][..], |j| j.journal.as_slice());
        let journals = journals(given_journals, shard, &task)?;
        warn_about_an_unsharded_job(&task, shard, job_index);
        // Note: the journal commands send nothing, so a missing or unsafe
        // token file does not stop an operator cleaning up.
        let (token, ca_certificate) = match parts.credentials {
            Some(given) => (credentials::token(given)?, credentials::ca_file(given)),
            None => (None, None),
        };
        let writes = parts.writes;
        Ok(Self {
            task,
            journals,
            default_journal: given_journals.is_empty(),
            policy: requests.policy,
            http: HttpSettings {
                timeout: requests.timeout,
                ca_certificate,
                token,
                configured,
                trust_unlisted: writes.is_some_and(|w| w.trust_journal_hosts),
            },
            concurrency: requests.concurrency,
            parallel_groups: bulk,
            output: parts.report.map(|r| r.output).unwrap_or_default(),
            shutdown_grace: writes.map_or(DEFAULT_SHUTDOWN_GRACE, |w| w.shutdown_grace),
            lock_wait: parts.lock.map_or(DEFAULT_LOCK_WAIT, |l| l.lock_wait),
            settle_horizon: writes.map_or(DEFAULT_SETTLE_HORIZON, |w| w.settle_horizon),
        })
    }
}

/// The request settings of a command, or the defaults for one that sends none.
struct Settings {
    policy: RetryPolicy,
    timeout: Duration,
    concurrency: usize,
}

impl Settings {
    fn of(requests: &Requests) -> Self {
        Self {
            policy: RetryPolicy {
                retries: requests.retries,
                backoff: requests.backoff,
                max_backoff: requests.max_backoff,
            },
            timeout: requests.timeout,
            concurrency: requests.concurrency,
        }
    }
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            policy: RetryPolicy::default(),
            timeout: Duration::from_secs(5),
            concurrency: 1,
        }
    }
}

/// Refuses settings that are invalid on their own or together.
fn check_limits(requests: &Settings, parallel_groups: usize) -> Result<(), InputError> {
    if requests.timeout.is_zero() {
        return Err(InputError::Invalid(
            "--timeout must be longer than 0; try 5s".to_owned(),
        ));
    }
    if requests.concurrency == 0 {
        return Err(InputError::Invalid(
            "--concurrency must be at least 1 (1 works on one node at a time)".to_owned(),
        ));
    }
    if parallel_groups == 0 {
        return Err(InputError::Invalid(
            "--parallel-groups must be at least 1 (1 works on one group at a time)".to_owned(),
        ));
    }
    let in_flight = parallel_groups.saturating_mul(requests.concurrency);
    if in_flight > MAX_IN_FLIGHT {
        return Err(InputError::Invalid(format!(
            "--parallel-groups {parallel_groups} × --concurrency {} is {in_flight} requests in \
             flight, more than the {MAX_IN_FLIGHT} allowed; lower one of them \
             (throughput stops growing long before that)",
            requests.concurrency,
        )));
    }
    let policy = &requests.policy;
    if policy.backoff > policy.max_backoff {
        return Err(InputError::Invalid(format!(
            "--backoff {} is longer than --max-backoff {}; raise --max-backoff or lower --backoff",
            humantime::format_duration(policy.backoff),
            humantime::format_duration(policy.max_backoff),
        )));
    }
    Ok(())
}

/// The command, checked: group ids, the hosts file where the command needs
/// it, and for create and delete the shard's groups.
fn task(command: &Command, hosts_file: &Path, shard: Option<Shard>) -> Result<Task, InputError> {
    Ok(match command {
        Command::Create(args) => change(Operation::Create, args, hosts_file, shard)?,
        Command::Delete(args) => change(Operation::Delete, args, hosts_file, shard)?,
        Command::Status(args) => {
            let groups = unique_groups(&args.groups)?;
            Task::Status {
                list: groups.several,
                groups: groups.list,
                nodes: read_hosts(hosts_file)?,
            }
        }
        Command::Rollback(_) => Task::Rollback,
        Command::Journal { command } => match command {
            JournalCommand::List(_) => Task::JournalList,
            JournalCommand::Forget(args) => forget(args)?,
        },
        Command::Completions { .. } | Command::Man { .. } => {
            return Err(InputError::Invalid(
                "completions and man take no configuration".to_owned(),
            ));
        }
    })
}

/// `journal forget`, checked: the group id and each `--host`.
fn forget(args: &ForgetArgs) -> Result<Task, InputError> {
    let mut hosts = Vec::with_capacity(args.host.len());
    for raw in &args.host {
        let node = Node::parse(raw)
            .map_err(|e| InputError::Invalid(format!("--host {:?}: {e}", escape(raw))))?;
        if !hosts.contains(&node) {
            hosts.push(node);
        }
    }
    let scope = match (hosts.is_empty(), args.all_hosts) {
        (false, _) => ForgetScope::Hosts(hosts),
        (true, true) => ForgetScope::AllHosts,
        (true, false) => ForgetScope::Unspecified,
    };
    Ok(Task::JournalForget {
        group: GroupId::new(args.group.as_str())?,
        scope,
        dry_run: args.dry_run,
    })
}

/// The nodes of the hosts file `path`. A URL given where a file belongs
/// and a directory are refused with what to do instead.
fn read_hosts(path: &Path) -> Result<Vec<Node>, InputError> {
    let text = path.to_string_lossy();
    if text.contains("://") && !path.exists() {
        return Err(InputError::Invalid(format!(
            "--hosts takes a file that lists the nodes, one per line, but {:?} is a URL; \
             did you mean --host? (journal forget takes --host URL); otherwise write the \
             URL into a file and pass --hosts FILE",
            escape(&text)
        )));
    }
    if path.is_dir() {
        return Err(InputError::Invalid(format!(
            "hosts file {} is a directory; point --hosts (or CLUSTER_CLIENT_HOSTS) at a file \
             inside it that lists the nodes, one per line",
            escape(&path.display().to_string())
        )));
    }
    hosts::read_hosts_file(path)
}

/// The journals `given` (`--journal`, or `CLUSTER_CLIENT_JOURNAL`), with
/// `{shard}` filled in: one file, or the default one when none is given;
/// several (repeated, or a directory) only for `rollback` and `journal list`.
fn journals(given: &[PathBuf], shard: Option<Shard>, task: &Task) -> Result<Journals, InputError> {
    let sources = journal_sources(given, shard)?;
    match sources.as_slice() {
        [] => return Ok(Journals::One(default_journal_path()?)),
        [JournalSource::File(path)] => return Ok(Journals::One(path.clone())),
        _ => {}
    }
    if matches!(task, Task::Rollback | Task::JournalList) {
        return Ok(Journals::Several(sources));
    }
    let what = match sources.as_slice() {
        [JournalSource::Dir(dir)] => format!("the directory {}", dir.display()),
        several => format!("{} journals", several.len()),
    };
    Err(InputError::Invalid(format!(
        "--journal names {what}, but only rollback and journal list go through several \
         journals; give this command one journal file (with {} in it, each shard gets its own)",
        shard::PLACEHOLDER
    )))
}

/// The journals `given` names (`--journal`, or `CLUSTER_CLIENT_JOURNAL`),
/// `{shard}` filled in; none when none is given (the default journal).
pub fn journal_sources(
    given: &[PathBuf],
    shard: Option<Shard>,
) -> Result<Vec<JournalSource>, InputError> {
    let mut sources = Vec::with_capacity(given.len());
    for path in given {
        let path = shard::fill(path, shard)?;
        sources.push(if names_a_directory(&path) {
            JournalSource::Dir(path)
        } else {
            JournalSource::File(path)
        });
    }
    Ok(sources)
}

/// Whether `--journal` names a directory: an existing one, or a path that
/// ends in `/` (a directory that may not exist yet).
fn names_a_directory(path: &Path) -> bool {
    path.as_os_str().to_string_lossy().ends_with('/') || path.is_dir()
}

/// Warns about a create or delete in a pod of an Indexed Job that is not
/// sharded: every pod of the Job then works on every group.
fn warn_about_an_unsharded_job(task: &Task, shard: Option<Shard>, job_index: Option<&str>) {
    if let (Task::Change { .. }, None, Some(index)) = (task, shard, job_index) {
        log::warn!(
            "{} is {index:?} but no --shard-count is given, so this pod works on every \
             group, as every other pod of its Indexed Job does; add --shard-count COUNT \
             (the Job's completions)",
            shard::JOB_INDEX_VAR
        );
    }
}

/// The hosts file used when `--hosts` (or `CLUSTER_CLIENT_HOSTS`) is not given.
pub const DEFAULT_HOSTS_FILE: &str = "hosts.txt";

/// The nodes the token may go to (see [`HttpSettings::configured`]): the
/// hosts file's. `rollback` reads the hosts file only when one is given;
/// without it, `None`: the journal names the nodes.
fn configured_nodes(task: &Task, given: Option<&Path>) -> Result<Option<Vec<Node>>, InputError> {
    Ok(match (task, given) {
        (Task::Change { nodes, .. } | Task::Status { nodes, .. }, _) => Some(nodes.clone()),
        (Task::Rollback, Some(path)) => Some(read_hosts(path)?),
        (Task::Rollback, None) => None,
        (Task::JournalList | Task::JournalForget { .. }, _) => None,
    })
}

/// Accepts group write on `dir` above every checked file (see
/// [`trust::accept_group_writable`]), before any of them is read.
fn trust_group_writable(dir: &Path) -> Result<(), InputError> {
    if !dir.is_absolute() {
        return Err(InputError::Invalid(format!(
            "--trust-group-writable {} is not an absolute path; name the volume's mount \
             point, such as /var/lib/cluster-client",
            dir.display()
        )));
    }
    trust::accept_group_writable(dir).map_err(|e| {
        InputError::Invalid(format!(
            "--trust-group-writable {}: {e}; name the directory a Kubernetes volume is \
             mounted on",
            dir.display()
        ))
    })
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

fn change(
    operation: Operation,
    args: &Change,
    hosts_path: &Path,
    shard: Option<Shard>,
) -> Result<Task, InputError> {
    let groups = unique_groups(&args.groups)?;
    // Note: every shard reads and checks the whole list, so a bad or repeated
    // id stops every shard alike, whichever shard it belongs to.
    let named = groups.list.len();
    let mut kept = groups.list;
    if let Some(shard) = shard {
        kept.retain(|group| shard.owns(group));
    }
    Ok(Task::Change {
        operation,
        list: groups.several || shard.is_some(),
        groups: kept,
        shard: shard.map(|shard| Sharded { shard, named }),
        nodes: read_hosts(hosts_path)?,
        dry_run: args.dry_run,
    })
}

/// The groups named on the command line and in `--from-file`, each once,
/// in order; at least one.
fn unique_groups(args: &Groups) -> Result<UniqueGroups, InputError> {
    let mut groups = UniqueGroups::default();
    for raw in &args.groups {
        groups.push(GroupId::new(raw.as_str())?, || {
            format!("on the command line: {:?}", shorten(raw))
        })?;
    }
    if let Some(path) = &args.from_file {
        read_groups_file(path, &mut groups)?;
    }
    if groups.list.is_empty() {
        return Err(InputError::Invalid(
            "no groups given; name at least one GROUP or a non-empty --from-file".to_owned(),
        ));
    }
    groups.several = args.groups.len() > 1 || args.from_file.is_some();
    Ok(groups)
}

/// Adds the ids of a `--from-file` list (`-` is stdin) to `groups`, naming the file and line
/// of a bad or repeated one.
fn read_groups_file(path: &Path, groups: &mut UniqueGroups) -> Result<(), InputError> {
    let read_error = |source| InputError::GroupsRead {
        path: path.to_owned(),
        cause: source,
    };
    // Note: the list decides what a delete deletes, so a file is read only
    // if no one but the user or root could have written it, as the hosts file.
    let reader: Box<dyn Read> = if path.as_os_str() == "-" {
        Box::new(std::io::stdin())
    } else {
        let bytes = trust::read_checked(path, &GROUPS_FILE).map_err(|e| match e {
            trust::CheckedError::Unreadable(cause) => read_error(cause),
            trust::CheckedError::Untrusted(distrust) => InputError::Untrusted {
                path: path.to_owned(),
                role: GROUPS_FILE.role,
                problem: distrust.problem,
                fix: distrust.fix,
            },
        })?;
        Box::new(std::io::Cursor::new(bytes))
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
            path: path.to_owned(),
            line: index + 1,
            cause: Box::new(source),
        };
        let group = GroupId::new(raw).map_err(line_error)?;
        groups.push(group, || format!("at {}:{}", path.display(), index + 1))?;
    }
    Ok(())
}

/// How a `--from-file` list is checked: it decides which groups a run
/// changes (and a delete deletes), so another user must not be able to
/// have written it.
const GROUPS_FILE: trust::FileRules = trust::FileRules {
    role: "groups file",
    option: "--from-file",
    max_bytes: 256 * 1024 * 1024,
    secret: false,
};

/// Group ids in the order given, each at most once.
#[derive(Default)]
struct UniqueGroups {
    list: Vec<GroupId>,
    /// Whether the command named a list: several ids, or `--from-file`.
    several: bool,
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
                shorten(group.as_str()),
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

    fn config(args: &[&str]) -> Result<Config, String> {
        config_in_job(args, None)
    }

    /// As in a pod whose `JOB_COMPLETION_INDEX` is `job_index`.
    fn config_in_job(args: &[&str], job_index: Option<&str>) -> Result<Config, String> {
        let cli = crate::cli::argv::parse(args).map_err(|e| e.to_string())?;
        Config::from_cli_in(&cli, job_index).map_err(|e| e.to_string())
    }

    #[test]
    fn rollback_needs_no_hosts_file() {
        let config = config(&["cluster-client", "--journal", "j.json", "rollback"]).expect("valid");
        assert!(matches!(config.task, Task::Rollback));
        assert_eq!(config.journals, Journals::One(PathBuf::from("j.json")));
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
            "from-args",
            "--from-file",
            file.to_str().expect("utf8"),
        ])
        .expect("valid");
        let Task::Change { groups, .. } = config.task else {
            panic!("not a change: {:?}", config.task);
        };
        let ids: Vec<&str> = groups.iter().map(GroupId::as_str).collect();
        // Other lines stay verbatim, spaces and all.
        assert_eq!(ids, ["from-args", "g1", " g2 "]);
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

    /// A hosts file and a groups file in a temp directory.
    struct Bulk {
        dir: tempfile::TempDir,
        hosts: String,
        file: String,
    }

    impl Bulk {
        /// A groups file of `groups`, one per line.
        fn new(groups: &[&str]) -> Self {
            let dir = tempfile::tempdir().expect("tempdir");
            let hosts = dir.path().join("hosts.txt");
            std::fs::write(&hosts, "a:1\n").expect("write hosts");
            let file = dir.path().join("groups.txt");
            std::fs::write(&file, groups.join("\n")).expect("write groups");
            let [hosts, file] = [hosts, file].map(|p| p.to_str().expect("utf8").to_owned());
            Self { dir, hosts, file }
        }

        /// The configuration of `cluster-client --hosts <hosts> <args>`.
        fn config(&self, args: &[&str]) -> Result<Config, String> {
            let mut all = vec!["cluster-client", "--hosts", &self.hosts];
            all.extend(args);
            config(&all)
        }
    }

    fn kept(config: &Config) -> (Vec<&str>, bool, Option<Sharded>) {
        let Task::Change {
            groups,
            list,
            shard,
            ..
        } = &config.task
        else {
            panic!("not a change: {:?}", config.task);
        };
        (groups.iter().map(GroupId::as_str).collect(), *list, *shard)
    }

    #[test]
    fn a_shard_keeps_only_the_groups_whose_hash_it_owns() {
        // Shards of 4 (see src/vocab/shard.rs): team-a 2, team-b 3, g1 1, foobar 0, a 0.
        let bulk = Bulk::new(&["team-a", "team-b", "g1", "foobar"]);
        let mut seen = Vec::new();
        for index in 0..4 {
            let shard = format!("{index}/4");
            let config = bulk
                .config(&["create", "a", "--from-file", &bulk.file, "--shard", &shard])
                .expect("valid");
            let (groups, list, sharded) = kept(&config);
            assert!(list, "a sharded run prints an array");
            let sharded = sharded.expect("sharded");
            assert_eq!((sharded.shard.index(), sharded.named), (index, 5));
            seen.push(groups.into_iter().map(str::to_owned).collect::<Vec<_>>());
        }
        assert_eq!(
            seen,
            [
                vec!["a", "foobar"],
                vec!["g1"],
                vec!["team-a"],
                vec!["team-b"]
            ]
        );
    }

    #[test]
    fn a_shard_that_keeps_no_group_is_valid() {
        let config = Bulk::new(&[])
            .config(&["delete", "team-a", "--shard", "0/4"])
            .expect("valid");
        let (groups, list, _) = kept(&config);
        assert!(groups.is_empty() && list);
    }

    #[test]
    fn every_shard_checks_the_whole_list() {
        // `team-b` is shard 3's, and its repeat still stops shard 0.
        let bulk = Bulk::new(&["foobar", "team-b", "team-b"]);
        let err = bulk
            .config(&["create", "--from-file", &bulk.file, "--shard", "0/4"])
            .expect_err("repeated");
        assert!(err.contains("listed twice"), "{err}");
    }

    #[test]
    fn an_indexed_job_pod_takes_its_index_from_the_job() {
        let bulk = Bulk::new(&["team-a", "team-b", "g1", "foobar"]);
        let args = [
            "cluster-client",
            "--hosts",
            &bulk.hosts,
            "create",
            "--from-file",
            &bulk.file,
            "--shard-count",
            "4",
            "--journal",
            "/v/bulk/journal-{shard}.json",
        ];
        let config = config_in_job(&args, Some("2")).expect("valid");
        assert_eq!(kept(&config).0, ["team-a"]);
        assert_eq!(
            config.journals,
            Journals::One(PathBuf::from("/v/bulk/journal-2.json"))
        );
        let err = config_in_job(&args, None).expect_err("no index");
        assert!(err.contains("JOB_COMPLETION_INDEX"), "{err}");
        let err = config_in_job(&args, Some("4")).expect_err("bad index");
        assert!(err.contains("JOB_COMPLETION_INDEX \"4\""), "{err}");
    }

    #[test]
    fn status_is_not_filtered_by_the_shard_but_its_journal_is_the_shards() {
        let config = Bulk::new(&[])
            .config(&[
                "status",
                "team-a",
                "--shard",
                "0/4",
                "--journal",
                "j-{shard}.json",
            ])
            .expect("valid");
        assert!(
            matches!(&config.task, Task::Status { groups, .. } if groups[0].as_str() == "team-a")
        );
        assert_eq!(config.journals, Journals::One(PathBuf::from("j-0.json")));
    }

    #[test]
    fn a_shard_placeholder_without_a_shard_is_named() {
        for command in ["rollback", "list"] {
            let mut args = vec!["cluster-client", "--journal", "/v/journal-{shard}.json"];
            if command == "list" {
                args.push("journal");
            }
            args.push(command);
            let err = config(&args).expect_err("no shard");
            assert!(
                err.contains("/v/journal-{shard}.json contains the {shard} placeholder"),
                "{err}"
            );
        }
    }

    #[test]
    fn rollback_and_journal_list_take_several_journals_and_directories() {
        let dir = tempfile::tempdir().expect("tempdir");
        let existing = dir.path().to_str().expect("utf8");
        for command in [&["rollback"][..], &["journal", "list"]] {
            let mut args = vec![
                "cluster-client",
                "--journal",
                "a.json",
                "--journal",
                "missing/",
            ];
            args.extend(command);
            let several = config(&args).expect("valid");
            assert_eq!(
                several.journals,
                Journals::Several(vec![
                    JournalSource::File(PathBuf::from("a.json")),
                    JournalSource::Dir(PathBuf::from("missing/")),
                ])
            );
            let mut args = vec!["cluster-client", "--journal", existing];
            args.extend(command);
            let directory = config(&args).expect("valid");
            assert_eq!(
                directory.journals,
                Journals::Several(vec![JournalSource::Dir(dir.path().to_owned())]),
                "one directory is still several journals"
            );
        }
    }

    #[test]
    fn other_commands_take_one_journal_file() {
        let bulk = Bulk::new(&[]);
        let existing = bulk.dir.path().to_str().expect("utf8");
        for (journals, named) in [
            (&["a.json", "b.json"][..], "--journal names 2 journals"),
            (&[existing], "--journal names the directory"),
            (&["d/"], "--journal names the directory d/"),
        ] {
            for command in [
                &["create", "g"][..],
                &["delete", "g"],
                &["status", "g"],
                &["journal", "forget", "g"],
            ] {
                let mut args = Vec::new();
                for journal in journals {
                    args.extend(["--journal", journal]);
                }
                args.extend(command);
                let err = if command[0] == "journal" {
                    args.insert(0, "cluster-client");
                    config(&args).expect_err("several")
                } else {
                    bulk.config(&args).expect_err("several")
                };
                assert!(
                    err.contains(named) && err.contains("only rollback and journal list"),
                    "{command:?}: {err}"
                );
            }
        }
    }
}
