//! The man pages: `cluster-client(1)` and one page per subcommand (`cluster-client-create(1)`,
//! ...), each with the options it takes, the variables it reads, its files and the exit table.

use std::io::{self, Write};
use std::path::{Path, PathBuf};

use clap::CommandFactory;

use crate::cli::args::{Cli, EXIT_STATUS_HELP};
use crate::cli::config::DEFAULT_HOSTS_FILE;

/// Variables read without a flag of their own, and what each does.
const OTHER_VARIABLES: &[(&str, &str)] = &[
    (
        "CLUSTER_CLIENT_TOKEN",
        "The bearer token itself; --token-file (CLUSTER_CLIENT_TOKEN_FILE) wins when both are \
         set.",
    ),
    (
        "JOB_COMPLETION_INDEX",
        "Set by Kubernetes in an Indexed Job: the shard's INDEX with --shard-count.",
    ),
    (
        "HTTP_PROXY, HTTPS_PROXY, ALL_PROXY, NO_PROXY",
        "Proxies, in lower or upper case.",
    ),
    ("HOME, XDG_DATA_HOME", "Where the default journal lives."),
    ("RUST_LOG", "The log filter; wins over -v and -q."),
];

/// The command tree as the pages show it: built, without the `help`
/// subcommand, and without the exit table of `--help` (the pages have their
/// own EXIT STATUS section).
fn tree() -> clap::Command {
    let mut command = Cli::command()
        .disable_help_subcommand(true)
        .after_help(None::<&str>)
        .after_long_help(None::<&str>);
    command.build();
    command
}

/// Writes the page of `cluster-client` itself to `out`.
pub fn page(out: &mut dyn Write) -> io::Result<()> {
    render(&tree(), true, out)
}

/// Writes every page into `dir` (created if needed): `cluster-client.1` and
/// one per subcommand, `cluster-client-journal-forget.1` for instance.
/// Returns the files written, in order.
pub fn write_all(dir: &Path) -> io::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir)?;
    let mut written = Vec::new();
    let top = tree();
    let mut commands = vec![(&top, true)];
    let mut at = 0;
    while let Some(&(command, _)) = commands.get(at) {
        for sub in command.get_subcommands().filter(|s| !s.is_hide_set()) {
            commands.push((sub, false));
        }
        at += 1;
    }
    for (command, top) in commands {
        let name = command.get_display_name().unwrap_or(command.get_name());
        let path = dir.join(format!("{name}.1"));
        let mut file = io::BufWriter::new(std::fs::File::create(&path)?);
        render(command, top, &mut file)?;
        file.flush()?;
        written.push(path);
    }
    Ok(written)
}

/// One page: clap_mangen's sections, then ENVIRONMENT, FILES, EXIT STATUS
/// and SEE ALSO.
fn render(command: &clap::Command, top: bool, out: &mut dyn Write) -> io::Result<()> {
    let page = clap_mangen::Man::new(command.clone());
    page.render_title(out)?;
    page.render_name_section(out)?;
    page.render_synopsis_section(out)?;
    page.render_description_section(out)?;
    if command.get_arguments().any(|a| !a.is_hide_set()) {
        page.render_options_section(out)?;
    }
    if command.has_subcommands() {
        page.render_subcommands_section(out)?;
    }
    out.write_all(environment(command, top).as_bytes())?;
    out.write_all(files().as_bytes())?;
    out.write_all(exit_status().as_bytes())?;
    out.write_all(see_also(command, top).as_bytes())?;
    // Note: only the top command carries the version; clap_mangen's section
    // needs one.
    let version = env!("CARGO_PKG_VERSION");
    writeln!(out, ".SH VERSION\nv{}", roff(version))
}

/// Text made safe for roff: backslashes and hyphens escaped, and a line
/// that would start with a control character protected.
fn roff(text: &str) -> String {
    let escaped = text.replace('\\', "\\e").replace('-', "\\-");
    match escaped.chars().next() {
        Some('.' | '\'') => format!("\\&{escaped}"),
        _ => escaped,
    }
}

/// ENVIRONMENT: every `CLUSTER_CLIENT_*` variable the command (or, for the
/// top page, any command) reads, with its option, then the others.
fn environment(command: &clap::Command, top: bool) -> String {
    let mut variables: Vec<(String, String)> = Vec::new();
    collect_variables(command, top, &mut variables);
    variables.sort();
    variables.dedup_by(|a, b| a.0 == b.0);
    let mut section = String::from(".SH ENVIRONMENT\n");
    if !top && variables.is_empty() {
        section.push_str("None: this command reads no variable.\n");
    }
    for (name, text) in &variables {
        section.push_str(&format!(".TP\n.B {}\n{}\n", roff(name), roff(text)));
    }
    // Note: a command that reads no variable of its own (completions, man)
    // reads none of the others either.
    let reads_any = top || !variables.is_empty();
    let others = OTHER_VARIABLES.iter().filter(|(name, _)| {
        reads_any && (top || command_reads_token(command) || !name.contains("TOKEN"))
    });
    for (name, text) in others {
        section.push_str(&format!(".TP\n.B {}\n{}\n", roff(name), roff(text)));
    }
    section
}

/// Whether the command takes the credentials (and so reads CLUSTER_CLIENT_TOKEN).
fn command_reads_token(command: &clap::Command) -> bool {
    command
        .get_arguments()
        .any(|a| a.get_long() == Some("token-file"))
}

/// Adds `(variable, "Sets --flag: help")` for each argument of `command`
/// with a variable, and of its subcommands when `deep`.
fn collect_variables(command: &clap::Command, deep: bool, into: &mut Vec<(String, String)>) {
    for arg in command.get_arguments() {
        let (Some(env), Some(long)) = (arg.get_env(), arg.get_long()) else {
            continue;
        };
        let help = arg.get_help().map(|h| h.to_string()).unwrap_or_default();
        into.push((
            env.to_string_lossy().into_owned(),
            format!("Sets --{long}: {help}"),
        ));
    }
    if deep {
        for sub in command.get_subcommands() {
            collect_variables(sub, true, into);
        }
    }
}

/// FILES: the default hosts file and journal, and the lock beside it.
fn files() -> String {
    let mut section = String::from(".SH FILES\n");
    for (path, text) in [
        (
            format!("./{DEFAULT_HOSTS_FILE}"),
            "The hosts file when --hosts is not given: one base URL or host[:port] per line, \
             # starting a comment.",
        ),
        (
            "$XDG_DATA_HOME/cluster-client/journal.json".to_owned(),
            "The journal of pending repairs when --journal is not given (XDG_DATA_HOME \
             defaults to ~/.local/share); mode 0600 in a 0700 directory.",
        ),
        (
            "JOURNAL.lock".to_owned(),
            "The lock beside the journal that serialises the runs sharing it.",
        ),
    ] {
        section.push_str(&format!(".TP\n.B {}\n{}\n", roff(&path), roff(text)));
    }
    section
}

/// EXIT STATUS: the table of `--help`, one paragraph per code.
fn exit_status() -> String {
    let mut entries: Vec<(String, String)> = Vec::new();
    for line in EXIT_STATUS_HELP.lines().skip(1) {
        let text = line.trim_start();
        let indent = line.len() - text.len();
        match text.split_once("  ") {
            Some((code, rest)) if indent == 2 && code.parse::<u8>().is_ok() => {
                entries.push((code.to_owned(), rest.to_owned()));
            }
            _ => {
                if let Some((_, so_far)) = entries.last_mut() {
                    so_far.push(' ');
                    so_far.push_str(text);
                }
            }
        }
    }
    let mut section = String::from(".SH \"EXIT STATUS\"\n");
    for (code, text) in entries {
        section.push_str(&format!(".TP\n.B {code}\n{}\n", roff(&text)));
    }
    section
}

/// SEE ALSO: the other pages.
fn see_also(command: &clap::Command, top: bool) -> String {
    let mut names: Vec<String> = Vec::new();
    if !top {
        names.push("cluster-client(1)".to_owned());
    }
    let top_command = tree();
    let mut pending: Vec<&clap::Command> = top_command.get_subcommands().collect();
    while let Some(sub) = pending.pop() {
        let name = sub.get_display_name().unwrap_or(sub.get_name());
        if Some(name) != command.get_display_name() {
            names.push(format!("{name}(1)"));
        }
        pending.extend(sub.get_subcommands());
    }
    names.sort();
    format!(
        ".SH \"SEE ALSO\"\n{}\n",
        names
            .iter()
            .map(|n| roff(n))
            .collect::<Vec<_>>()
            .join(",\n")
    )
}
