//! The file format: its versions, an entry as stored, and the writer of the one layout this
//! build writes (one compact entry per line).

use std::borrow::Cow;
use std::io::{self, Write};

use serde::Deserialize;

use super::Entry;
use crate::vocab::change::{Operation, Repair};

/// The only journal format version this build reads and writes.
pub const JOURNAL_VERSION: u32 = 2;

/// The older format this build still reads (timestamps in Unix seconds); a
/// journal in it is rewritten in [`JOURNAL_VERSION`] when opened.
pub const JOURNAL_VERSION_READ: u32 = 1;

/// An entry as stored, before its group and host are validated; its text
/// borrowed from the line it was parsed from, where it can be.
#[derive(Deserialize)]
pub(super) struct RawEntry<'a> {
    #[serde(borrow)]
    pub(super) group: Cow<'a, str>,
    #[serde(borrow)]
    pub(super) host: Cow<'a, str>,
    pub(super) action: Repair,
    pub(super) operation: Operation,
    #[serde(alias = "run", borrow)]
    pub(super) batch: Cow<'a, str>,
    #[serde(with = "stamp")]
    pub(super) recorded_at: u64,
    #[serde(default)]
    pub(super) failed_replays: u32,
    #[serde(default, borrow)]
    pub(super) last_error: Option<Cow<'a, str>>,
}

/// `recorded_at` as the file holds it: RFC 3339 UTC (`2026-12-02T01:20:00Z`)
/// since format 2; Unix seconds in format 1, still read.
pub(super) mod stamp {
    use std::fmt;

    use serde::de::{self, Visitor};
    use serde::{Deserializer, Serializer};

    use crate::vocab::time;

    pub fn serialize<S: Serializer>(secs: &u64, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(&time::rfc3339_display(*secs))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<u64, D::Error> {
        deserializer.deserialize_any(Stamp)
    }

    /// Unix seconds (format 1) or RFC 3339 UTC text (format 2), read
    /// without buffering the value first.
    struct Stamp;

    impl Visitor<'_> for Stamp {
        type Value = u64;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("an RFC 3339 UTC time such as 2026-12-02T01:20:00Z")
        }

        fn visit_u64<E: de::Error>(self, secs: u64) -> Result<u64, E> {
            Ok(secs)
        }

        fn visit_str<E: de::Error>(self, text: &str) -> Result<u64, E> {
            time::parse_rfc3339(text).ok_or_else(|| {
                E::custom(format!(
                    "recorded_at {text:?} is not an RFC 3339 UTC time such as \
                         2026-12-02T01:20:00Z"
                ))
            })
        }
    }
}

/// Writes `entries` in the file's format: `{"version":2,"entries":[`, one
/// compact entry per line, then `]}`. It is one JSON document, as the
/// pretty-printed files of earlier releases were, and reads back the same.
pub(super) fn write_entries(out: &mut dyn Write, entries: &[Entry]) -> io::Result<()> {
    write!(out, "{{\"version\":{JOURNAL_VERSION},\"entries\":[")?;
    for (index, entry) in entries.iter().enumerate() {
        out.write_all(if index == 0 { b"\n" } else { b",\n" })?;
        serde_json::to_writer(&mut *out, entry)?;
    }
    out.write_all(b"\n]}\n")
}
