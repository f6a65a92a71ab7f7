//! Typed library errors; each message says what went wrong and how to fix it.
//!
//! Each message names its cause once: a cause written into the message is a
//! plain field (`cause`), never the error's `source()`, because the binary
//! prints the whole chain (`{:#}`) and would repeat it.

use std::io;
use std::path::PathBuf;

pub use crate::journal::JournalError;
pub use crate::transport::SetupError;
pub use crate::vocab::shard::ShardError;

/// Bad input found before anything is sent to any node.
#[derive(Debug, thiserror::Error)]
pub enum InputError {
    /// A group id that cannot be addressed safely.
    #[error(
        "invalid group id \"{id}\": {reason}; use a non-empty id of at most 1024 bytes \
         without control characters or any of `/ \\ % ? #`, other than `.` or `..`"
    )]
    GroupId {
        /// The id, with control characters escaped so it prints on one line,
        /// cut after 64 characters with its length (`vocab::text::shorten`).
        id: String,
        /// Which rule the id breaks.
        reason: &'static str,
    },

    /// The hosts file could not be read at all.
    #[error(
        "cannot read hosts file {}: {cause}; create it with one node per line, for \
         example `https://node1.example:8443` or `node2:8080` (http:// is assumed), \
         `#` starting a comment, or point --hosts / CLUSTER_CLIENT_HOSTS at it",
        path.display()
    )]
    HostsRead {
        /// The file that was tried.
        path: PathBuf,
        /// Why it could not be read. Part of the message, so not the
        /// error's `source()`: a printed chain shows it once.
        cause: io::Error,
    },

    /// One line of the hosts file is wrong.
    #[error("{}:{line}: {message}", path.display())]
    HostsLine {
        /// The hosts file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// What is wrong with the line and what to write instead.
        message: String,
    },

    /// The hosts file lists no node.
    #[error(
        "hosts file {} lists no nodes; add one base URL (http://node1:8080) \
         or host:port per line",
        path.display()
    )]
    HostsEmpty {
        /// The hosts file.
        path: PathBuf,
    },

    /// A list of groups (`--from-file`) could not be read.
    #[error("cannot read group list {}: {cause}", path.display())]
    GroupsRead {
        /// The file that was tried; `-` is standard input.
        path: PathBuf,
        /// Why it could not be read (in the message, not the `source()`).
        cause: io::Error,
    },

    /// One line of a group list is wrong.
    #[error("{}:{line}: {cause}", path.display())]
    GroupsLine {
        /// The group list.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// The validation error of the id on that line (in the message,
        /// not the `source()`).
        cause: Box<InputError>,
    },

    /// The token file is unreadable, empty, too large, or could be read or
    /// replaced by someone else; the message says which and how to fix it.
    #[error("refusing --token-file {}: {problem}; fix: {fix}", path.display())]
    TokenFile {
        /// The token file as given.
        path: PathBuf,
        /// What was found.
        problem: String,
        /// How to fix it (a `chmod 600`, say).
        fix: String,
    },

    /// A file that steers the run (the hosts file) could have been written
    /// by someone other than the user or root; nothing was sent.
    #[error(
        "refusing {role} {}: {problem}. Nothing was sent to any node; fix: {fix}",
        path.display()
    )]
    Untrusted {
        /// The refused file, as given.
        path: PathBuf,
        /// What it is: "hosts file".
        role: &'static str,
        /// What was found: the directory, link, owner or mode.
        problem: String,
        /// How to fix it.
        fix: String,
    },

    /// A bad shard, shard count, Job index or `{shard}` placeholder.
    #[error(transparent)]
    Shard(#[from] ShardError),

    /// A value that is valid on its own but not in this combination.
    #[error("{0}")]
    Invalid(String),
}

/// Any error the library returns. Operation failures on nodes are not errors:
/// they are outcomes in the reports.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Bad input; nothing was sent.
    #[error(transparent)]
    Input(#[from] InputError),

    /// A journal problem; see [`JournalError`].
    #[error(transparent)]
    Journal(#[from] JournalError),

    /// The HTTP client could not be built (for example, an unusable CA file).
    #[error(transparent)]
    Http(#[from] SetupError),

    /// The result could not be written to stdout (for example, a closed pipe).
    // Note: the cause is in the message, so it is not also the `source()`:
    // the binary prints the whole chain, and would show it twice.
    #[error("cannot write the result to stdout: {0}")]
    Output(io::Error),
}
