//! The command line around clap: before it reads the words, options given before the
//! subcommand are moved after it, since each subcommand defines only the options it takes;
//! after, the option groups each command took ([`Parts`]).

use std::ffi::OsString;

use clap::{CommandFactory, Parser};

use crate::cli::args::{
    Bulk, Cli, Command, Credentials, JournalCommand, JournalOptions, LockWait, Logging, Nodes,
    Report, Requests, ShardOptions, Writes,
};

/// Parses `args` (the program's name first) as the binary does: options
/// given before the subcommand are moved after it, so `cluster-client
/// --hosts h.txt create g` and `cluster-client create g --hosts h.txt`
/// mean the same, and an option the subcommand does not take is refused
/// either way.
pub fn parse<I, T>(args: I) -> Result<Cli, clap::Error>
where
    I: IntoIterator<Item = T>,
    T: Into<OsString>,
{
    let args: Vec<OsString> = args.into_iter().map(Into::into).collect();
    Cli::try_parse_from(hoist(&Cli::command(), args))
}

/// `error` (from parsing `args`) with a tip naming the environment
/// variable its value came from, when it came from one: clap words an empty
/// or bad `CLUSTER_CLIENT_HOSTS` as a bad `--hosts` value, which the
/// command line does not hold.
pub fn explain(mut error: clap::Error, args: &[OsString]) -> clap::Error {
    use clap::error::{ContextKind, ContextValue};
    let Some(ContextValue::String(invalid)) = error.get(ContextKind::InvalidArg) else {
        return error;
    };
    let Some(long) = invalid
        .strip_prefix("--")
        .and_then(|rest| rest.split([' ', '=']).next())
    else {
        return error;
    };
    let on_the_line = args.iter().filter_map(|a| a.to_str()).any(|word| {
        word.strip_prefix("--")
            .is_some_and(|w| w == long || w.starts_with(&format!("{long}=")))
    });
    let variable = find_arg(&Cli::command(), long).and_then(|arg| {
        arg.get_env()
            .map(|name| name.to_string_lossy().into_owned())
    });
    if let (false, Some(variable)) = (on_the_line, variable)
        && std::env::var_os(&variable).is_some()
    {
        let tip = format!(
            "the value comes from the environment variable {variable}; set it to a valid \
             value, or unset it"
        );
        error.insert(
            ContextKind::Suggested,
            ContextValue::StyledStrs(vec![tip.into()]),
        );
    }
    error
}

/// The argument `--long` of `command` or of any of its subcommands.
fn find_arg(command: &clap::Command, long: &str) -> Option<clap::Arg> {
    command
        .get_arguments()
        .find(|arg| arg.get_long() == Some(long))
        .cloned()
        .or_else(|| {
            command
                .get_subcommands()
                .find_map(|sub| find_arg(sub, long))
        })
}

/// Whether `args` (or `CLUSTER_CLIENT_OUTPUT`) ask for JSON on stdout, for
/// a command line that could not be parsed: `--output json` or
/// `--output=json`; the last one given wins, and the variable only counts
/// when no `--output` is given.
pub fn wants_json(args: &[OsString]) -> bool {
    let words: Vec<&str> = args.iter().filter_map(|a| a.to_str()).collect();
    let mut chosen = None;
    for (at, word) in words.iter().enumerate() {
        if let Some(value) = word.strip_prefix("--output=") {
            chosen = Some(value);
        } else if *word == "--output" {
            chosen = words.get(at + 1).copied();
        }
    }
    match chosen {
        Some(value) => value == "json",
        None => std::env::var("CLUSTER_CLIENT_OUTPUT").is_ok_and(|v| v == "json"),
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

/// The option groups a command takes; `None` for a group it does not.
#[derive(Debug, Clone, Copy, Default)]
pub struct Parts<'a> {
    /// The hosts file.
    pub nodes: Option<&'a Nodes>,
    /// The journal.
    pub journal: Option<&'a JournalOptions>,
    /// How long to wait for the journal's lock (the commands that take it).
    pub lock: Option<&'a LockWait>,
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
                lock: Some(&c.lock),
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
                lock: None,
            },
            Self::Rollback(r) => Parts {
                nodes: Some(&r.nodes),
                journal: Some(&r.journal),
                lock: Some(&r.lock),
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
                    lock: Some(&f.lock),
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::args::OutputFormat;
    use std::path::PathBuf;

    fn parse_words(args: &[&str]) -> Result<Cli, clap::Error> {
        parse(std::iter::once("cluster-client").chain(args.iter().copied()))
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
            let cli = parse_words(args).expect("parses");
            let parts = cli.command.parts();
            assert_eq!(parts.requests.expect("requests").retries, 7, "{args:?}");
            assert_eq!(parts.report.expect("report").output, OutputFormat::Json);
        }
        let cli = parse_words(&["-vv", "--journal", "journal", "journal", "list"]).expect("parses");
        assert_eq!(cli.command.name(), "journal list");
        assert_eq!(cli.command.logging().verbose, 2);
        assert_eq!(
            cli.command.parts().journal.expect("journal").journal,
            [PathBuf::from("journal")]
        );
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
