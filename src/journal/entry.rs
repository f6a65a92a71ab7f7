//! One pending repair as the journal holds it, and the id of the batch that recorded it.

use std::fmt;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use super::format::stamp;
use crate::vocab::change::{Operation, Repair};
use crate::vocab::group::GroupId;
use crate::vocab::hosts::Node;

/// One pending compensation. It carries the node's base URL, so replaying
/// it needs nothing but the journal.
///
/// Cloning is cheap: the group, the node, the batch and the error are
/// shared, and a loaded journal holds one copy of each distinct one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// The group to repair.
    pub group: GroupId,
    /// The node's base URL.
    pub host: Node,
    /// What to do on that node.
    pub action: Repair,
    /// The operation whose change this undoes.
    pub operation: Operation,
    /// The batch that recorded the entry: `pid@unix-millis.n`. Format 1
    /// called it `run`.
    #[serde(alias = "run")]
    pub batch: BatchId,
    /// When the entry was recorded, in seconds since the Unix epoch. The
    /// file stores it as RFC 3339 UTC (format 1 stored the seconds).
    #[serde(with = "stamp")]
    pub recorded_at: u64,
    /// How many replays have failed to apply it so far.
    #[serde(default)]
    pub failed_replays: u32,
    /// Why the last attempt to apply it failed; `None` before any failure.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<Arc<str>>,
}

impl Entry {
    /// Whether this entry is the same repair (group, node, action) as `other`.
    pub fn same_repair(&self, other: &Self) -> bool {
        self.group == other.group && self.host == other.host && self.action == other.action
    }
}

/// The id of the batch that recorded an entry (`pid@unix-millis.n`).
///
/// Cloning is cheap: clones share the text. It compares equal to the same
/// text as a `str` or a `String`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct BatchId(pub(super) Arc<str>);

impl BatchId {
    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl From<&str> for BatchId {
    fn from(id: &str) -> Self {
        Self(id.into())
    }
}

impl From<String> for BatchId {
    fn from(id: String) -> Self {
        Self(id.into())
    }
}

impl fmt::Display for BatchId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl PartialEq<str> for BatchId {
    fn eq(&self, other: &str) -> bool {
        *self.0 == *other
    }
}

impl PartialEq<&str> for BatchId {
    fn eq(&self, other: &&str) -> bool {
        *self.0 == **other
    }
}

impl PartialEq<String> for BatchId {
    fn eq(&self, other: &String) -> bool {
        *self.0 == **other
    }
}

/// An id for this process, unique enough to tell invocations apart in the
/// journal: `pid@unix-millis`; each batch appends its own number.
pub fn invocation_id() -> String {
    let millis = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis());
    format!("{}@{millis}", std::process::id())
}
