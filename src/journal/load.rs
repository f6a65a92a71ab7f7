//! Reading a journal: streamed, each entry validated as it is parsed, one shared copy of each
//! distinct text; and the words for a file that does not parse.

use std::collections::HashMap;
use std::fmt;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Seek};
use std::path::Path;
use std::sync::Arc;

use serde::Deserialize;
use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};

use super::durable::WRITE_BUFFER;
use super::files::open_private;
use super::format::{JOURNAL_VERSION, JOURNAL_VERSION_READ, RawEntry};
use super::{BatchId, Entry, JournalError, Kind};
use crate::vocab::group::GroupId;
use crate::vocab::hosts::Node;

/// The entries and the format version they were stored in.
///
/// The file is parsed as it is read, and each entry is validated and
/// stored as soon as it is parsed, sharing one copy of each distinct group,
/// node, batch and error: a journal is never held twice, as text and as
/// entries.
pub(super) fn load(path: &Path) -> Result<(Vec<Entry>, u32), JournalError> {
    let read_error = |cause| JournalError::Read {
        path: path.to_owned(),
        cause,
    };
    let Some(file) = open_private(path)? else {
        return Ok((Vec::new(), JOURNAL_VERSION));
    };
    let mut reader = BufReader::with_capacity(WRITE_BUFFER, file);
    let mut loading = Loading::default();
    // Note: the journal's own layout is read a line at a time, each entry
    // parsed from a slice, which is several times faster than parsing from
    // a reader. Any other layout (an earlier release's pretty file, a hand
    // edit) and any error is read again from the start by the general
    // parser, which also words the errors.
    if read_own_layout(&mut reader, &mut loading).is_some() {
        return Ok(loading.finish(JOURNAL_VERSION));
    }
    reader.rewind().map_err(read_error)?;
    loading = Loading::default();
    let mut parser = serde_json::Deserializer::from_reader(&mut reader);
    let parsed = FileSeed(&mut loading)
        .deserialize(&mut parser)
        .and_then(|()| parser.end());
    if let Err(error) = parsed {
        let mut file = reader.into_inner();
        file.rewind().map_err(read_error)?;
        return Err(explain(path, file, &loading, &error).map_err(read_error)?);
    }
    let version = loading.version.unwrap_or(u64::MAX);
    if !readable_version(version) {
        return Err(unsupported(path, version));
    }
    Ok(loading.finish(u32::try_from(version).unwrap_or(JOURNAL_VERSION)))
}

/// Reads a journal laid out as [`write_entries`] writes it: the header
/// line, one entry per line (each but the last ending in a comma), the
/// closing line, and nothing after. `None` as soon as anything differs or
/// does not parse; the caller then reads the file again.
fn read_own_layout(reader: &mut impl BufRead, loading: &mut Loading) -> Option<()> {
    let mut line = Vec::new();
    reader.read_until(b'\n', &mut line).ok()?;
    if line != format!("{{\"version\":{JOURNAL_VERSION},\"entries\":[\n").as_bytes() {
        return None;
    }
    loading.version = Some(u64::from(JOURNAL_VERSION));
    let mut more = true;
    loop {
        line.clear();
        reader.read_until(b'\n', &mut line).ok()?;
        if line == b"]}\n" {
            break;
        }
        let entry = line.strip_suffix(b"\n")?;
        let (entry, comma) = match entry.strip_suffix(b",") {
            Some(entry) => (entry, true),
            None => (entry, false),
        };
        if !more {
            return None;
        }
        more = comma;
        let raw: RawEntry<'_> = serde_json::from_slice(entry).ok()?;
        let entry = loading.entry(raw).ok()?;
        loading.entries.push(entry);
    }
    (!more || loading.entries.is_empty()).then_some(())?;
    reader.fill_buf().ok()?.is_empty().then_some(())
}

/// Why a journal did not parse (`error`), from what was read and, where
/// that is not enough, from the file read again: it is empty, it is from
/// another format version, an entry is bad (named by its number), or it is
/// not a cluster-client journal at all.
// Note: only this error path reads the file twice: a journal whose version
// came after its entries is told to be from a newer format, instead of by
// whichever of its fields no longer parses.
fn explain(
    path: &Path,
    file: File,
    loading: &Loading,
    error: &serde_json::Error,
) -> io::Result<JournalError> {
    let corrupt = |reason: String| JournalError::Corrupt {
        path: path.to_owned(),
        reason,
    };
    let mut reader = BufReader::new(file);
    let mut blank = true;
    for byte in reader.by_ref().bytes() {
        if !byte?.is_ascii_whitespace() {
            blank = false;
            break;
        }
    }
    if blank {
        return Ok(corrupt(
            "the file is empty, and cluster-client never writes an empty journal".to_owned(),
        ));
    }
    let reason = match loading.at_entry {
        Some(number) => format!("entry {number}: {error}"),
        None => error.to_string(),
    };
    let version = match loading.version {
        Some(version) => version,
        None => {
            reader.rewind()?;
            match serde_json::from_reader::<_, VersionProbe>(reader) {
                Ok(probe) => probe.version,
                Err(_) => {
                    return Ok(corrupt(format!(
                        "it is not a cluster-client journal ({error})"
                    )));
                }
            }
        }
    };
    Ok(if readable_version(version) {
        corrupt(reason)
    } else {
        unsupported(path, version)
    })
}

fn readable_version(version: u64) -> bool {
    (u64::from(JOURNAL_VERSION_READ)..=u64::from(JOURNAL_VERSION)).contains(&version)
}

#[derive(Deserialize)]
struct VersionProbe {
    version: u64,
}

/// A journal while it loads: what the file has said so far.
#[derive(Default)]
struct Loading {
    version: Option<u64>,
    entries: Vec<Entry>,
    /// The number (from 1) of the entry being read, while entries are read.
    at_entry: Option<usize>,
    groups: Interned<GroupId>,
    hosts: Interned<Node>,
    batches: Interned<BatchId>,
    errors: Interned<Arc<str>>,
}

impl Loading {
    /// Validates `raw`, sharing the values already seen.
    fn entry(&mut self, raw: RawEntry<'_>) -> Result<Entry, String> {
        let last_error = match raw.last_error {
            Some(text) => Some(self.errors.get(&text, |t| Ok(t.into()))?),
            None => None,
        };
        Ok(Entry {
            group: self.groups.get(&raw.group, |id| {
                GroupId::stored(id).map_err(|e| e.to_string())
            })?,
            host: self.hosts.get(&raw.host, |host| {
                Node::parse(host).map_err(|e| format!("bad host: {e}"))
            })?,
            action: raw.action,
            operation: raw.operation,
            batch: self.batches.get(&raw.batch, |id| Ok(id.into()))?,
            recorded_at: raw.recorded_at,
            failed_replays: raw.failed_replays,
            last_error,
            kind: raw.kind,
            until: checked_until(raw.kind, raw.until)?,
            settled: raw.settled,
        })
    }
}

/// A verification and a watch need their `until`; a repair has none.
fn checked_until(kind: Kind, until: Option<u64>) -> Result<Option<u64>, String> {
    match (kind, until) {
        (Kind::Repair, Some(_)) => Err("a repair has no `until`".to_owned()),
        (Kind::Verify | Kind::Watch, None) => Err(format!(
            "a {} needs `until`, the time its settle horizon ends",
            kind.name()
        )),
        _ => Ok(until),
    }
}

impl Loading {
    /// The entries read, with no spare capacity, and `version`.
    fn finish(self, version: u32) -> (Vec<Entry>, u32) {
        let mut entries = self.entries;
        entries.shrink_to_fit();
        (entries, version)
    }
}

/// One shared value per distinct text: a journal names few nodes, groups,
/// batches and errors, each many times, and each is parsed once.
struct Interned<T>(HashMap<String, T>);

impl<T> Default for Interned<T> {
    fn default() -> Self {
        Self(HashMap::new())
    }
}

impl<T: Clone> Interned<T> {
    /// The value for `text`, made by `make` the first time it is seen.
    fn get(
        &mut self,
        text: &str,
        make: impl FnOnce(&str) -> Result<T, String>,
    ) -> Result<T, String> {
        if let Some(value) = self.0.get(text) {
            return Ok(value.clone());
        }
        let value = make(text)?;
        self.0.insert(text.to_owned(), value.clone());
        Ok(value)
    }
}

/// The file's top level, `{"version": .., "entries": [..]}` in any key
/// order, read into a [`Loading`].
struct FileSeed<'l>(&'l mut Loading);

#[derive(Deserialize)]
#[serde(field_identifier, rename_all = "lowercase")]
enum Field {
    Version,
    Entries,
    #[serde(other)]
    Other,
}

impl<'de> DeserializeSeed<'de> for FileSeed<'_> {
    type Value = ();

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for FileSeed<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a cluster-client journal, {\"version\": 2, \"entries\": [...]}")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let loading = self.0;
        let mut entries_seen = false;
        while let Some(field) = map.next_key::<Field>()? {
            match field {
                Field::Version if loading.version.is_some() => {
                    return Err(de::Error::duplicate_field("version"));
                }
                Field::Version => {
                    let version: u64 = map.next_value()?;
                    loading.version = Some(version);
                    if !readable_version(version) {
                        // Note: entries of another format are not read at all.
                        return Err(de::Error::custom("unsupported format version"));
                    }
                }
                Field::Entries if entries_seen => {
                    return Err(de::Error::duplicate_field("entries"));
                }
                Field::Entries => {
                    entries_seen = true;
                    map.next_value_seed(EntriesSeed(&mut *loading))?;
                }
                Field::Other => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        if loading.version.is_none() {
            return Err(de::Error::missing_field("version"));
        }
        if !entries_seen {
            return Err(de::Error::missing_field("entries"));
        }
        Ok(())
    }
}

/// The `entries` array, each entry validated and stored as it is read.
struct EntriesSeed<'l>(&'l mut Loading);

impl<'de> DeserializeSeed<'de> for EntriesSeed<'_> {
    type Value = ();

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for EntriesSeed<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a list of journal entries")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let loading = self.0;
        loop {
            loading.at_entry = Some(loading.entries.len() + 1);
            let Some(raw) = seq.next_element::<RawEntry<'_>>()? else {
                break;
            };
            let entry = loading.entry(raw).map_err(de::Error::custom)?;
            loading.entries.push(entry);
        }
        loading.at_entry = None;
        Ok(())
    }
}

fn unsupported(path: &Path, found: u64) -> JournalError {
    JournalError::UnsupportedVersion {
        path: path.to_owned(),
        found,
        supported: JOURNAL_VERSION,
    }
}
