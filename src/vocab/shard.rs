//! Shards: which groups of a bulk run one of COUNT processes keeps, by a fixed hash of the id.
//!
//! The hash is part of the interface and never changes: 64-bit FNV-1a of the
//! id's UTF-8 bytes (offset basis `0xcbf29ce484222325`, prime
//! `0x100000001b3`, arithmetic modulo 2^64), and a group belongs to shard
//! `hash % COUNT`. It depends on nothing but the bytes, so every version and
//! platform agrees on which shard owns a group, and each group belongs to
//! exactly one shard of COUNT.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use crate::vocab::group::GroupId;

/// The largest shard count accepted: Kubernetes' own limit on the
/// completions of an Indexed Job.
pub const MAX_SHARDS: u32 = 100_000;

/// The text in a journal path that is replaced by the shard index.
pub const PLACEHOLDER: &str = "{shard}";

/// The environment variable Kubernetes sets to the pod's index in an
/// Indexed Job.
pub const JOB_INDEX_VAR: &str = "JOB_COMPLETION_INDEX";

/// 64-bit FNV-1a of `bytes`: for each byte, XOR it into the hash, then
/// multiply by the FNV prime, modulo 2^64.
pub fn fnv1a_64(bytes: &[u8]) -> u64 {
    const OFFSET_BASIS: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    bytes.iter().fold(OFFSET_BASIS, |hash, &byte| {
        (hash ^ u64::from(byte)).wrapping_mul(PRIME)
    })
}

/// A bad shard, shard count, Job index or shard placeholder; nothing was sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ShardError {
    /// The text is not two whole numbers separated by `/`.
    #[error(
        "not INDEX/COUNT: {problem}; write two whole numbers such as 0/4 (shard 0 of 4; \
         shards are numbered from 0)"
    )]
    Malformed {
        /// What is wrong with it.
        problem: &'static str,
    },

    /// The index is not below the count.
    #[error(
        "INDEX {index} is not below COUNT {count}: the shards of {count} are numbered 0 to {}, \
         so write {}/{count} for the last one",
        count - 1,
        count - 1
    )]
    IndexTooLarge {
        /// The index as given.
        index: String,
        /// The count given.
        count: u32,
    },

    /// The count is 0, larger than [`MAX_SHARDS`], or not a number.
    #[error("COUNT must be a whole number from 1 to {MAX_SHARDS} (1 keeps every group)")]
    Count,

    /// `--shard-count` outside an Indexed Job.
    #[error(
        "--shard-count {count} takes this process's shard from {JOB_INDEX_VAR}, which \
         Kubernetes sets only in the pods of an Indexed Job, and it is not set; outside \
         one, give the whole shard: --shard INDEX/{count}"
    )]
    NoJobIndex {
        /// The count given.
        count: u32,
    },

    /// `JOB_COMPLETION_INDEX` is not an index below the count.
    #[error(
        "{JOB_INDEX_VAR} {value:?} is not a shard index below --shard-count {count}; \
         keep the Indexed Job's completions equal to --shard-count"
    )]
    BadJobIndex {
        /// The variable's value.
        value: String,
        /// The count given.
        count: u32,
    },

    /// `--shard` and `--shard-count` (with the Job index) disagree.
    #[error("--shard {shard} disagrees with {other}; give one of them, or make them agree")]
    Conflict {
        /// The shard given with `--shard`.
        shard: Shard,
        /// What it disagrees with: `--shard-count N` or the Job index.
        other: String,
    },

    /// A path has the placeholder but no shard is in effect.
    #[error(
        "{} contains the {PLACEHOLDER} placeholder, but no shard is in effect; give \
         --shard INDEX/COUNT (or --shard-count COUNT in an Indexed Job), or name the \
         journal itself",
        path.display()
    )]
    NoShardForPlaceholder {
        /// The path as given.
        path: PathBuf,
    },

    /// A path with the placeholder that is not UTF-8.
    #[error(
        "{} contains the {PLACEHOLDER} placeholder but is not UTF-8; use a UTF-8 path",
        path.display()
    )]
    PlaceholderNotUtf8 {
        /// The path as given.
        path: PathBuf,
    },
}

/// One shard of a bulk run: shard `index` of `count`, numbered from 0.
///
/// A group belongs to the shard [`Shard::of`] names; `1` as the count keeps
/// every group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Shard {
    index: u32,
    count: u32,
}

impl Shard {
    /// Shard `index` of `count`.
    ///
    /// # Errors
    /// [`ShardError::Count`] when `count` is 0 or above [`MAX_SHARDS`];
    /// [`ShardError::IndexTooLarge`] when `index` is not below `count`.
    pub fn new(index: u32, count: u32) -> Result<Self, ShardError> {
        Self::checked(u64::from(index), u64::from(count), &index)
    }

    /// [`Shard::new`] for numbers as read, which may not even fit a `u32`;
    /// `shown` is the index as the error names it.
    fn checked(index: u64, count: u64, shown: &dyn fmt::Display) -> Result<Self, ShardError> {
        let count = check_count(count)?;
        match u32::try_from(index) {
            Ok(index) if index < count => Ok(Self { index, count }),
            _ => Err(ShardError::IndexTooLarge {
                index: shown.to_string(),
                count,
            }),
        }
    }

    /// The shard's index, from 0 to `count - 1`.
    pub fn index(self) -> u32 {
        self.index
    }

    /// How many shards there are.
    pub fn count(self) -> u32 {
        self.count
    }

    /// The index of the shard of `count` that owns `group`:
    /// [`fnv1a_64`] of its UTF-8 bytes, modulo `count`. A `count` of 0 is
    /// taken as 1.
    pub fn of(group: &GroupId, count: u32) -> u32 {
        let owner = fnv1a_64(group.as_str().as_bytes()) % u64::from(count.max(1));
        // Note: the remainder is below `count`, so it fits.
        u32::try_from(owner).unwrap_or(0)
    }

    /// Whether `group` belongs to this shard.
    pub fn owns(self, group: &GroupId) -> bool {
        Self::of(group, self.count) == self.index
    }

    /// The shard in effect, from what the command line and the environment
    /// give: `shard` (`--shard`), `count` (`--shard-count`) and `job_index`
    /// (the value of [`JOB_INDEX_VAR`], when set).
    ///
    /// `--shard` alone wins, and the Job index is then not read. `--shard-count`
    /// alone takes the index from the Job index, which must then be set and
    /// below the count. Both together must agree: the same count, and the
    /// same index as the Job index when that is set. Neither: no shard.
    ///
    /// # Errors
    /// [`ShardError::NoJobIndex`], [`ShardError::BadJobIndex`] or
    /// [`ShardError::Conflict`], as above.
    pub fn resolve(
        shard: Option<Self>,
        count: Option<u32>,
        job_index: Option<&str>,
    ) -> Result<Option<Self>, ShardError> {
        let Some(count) = count else {
            return Ok(shard);
        };
        let count = check_count(count)?;
        let from_job = match job_index {
            Some(value) => Some(job_shard(value, count)?),
            None if shard.is_none() => return Err(ShardError::NoJobIndex { count }),
            None => None,
        };
        match (shard, from_job) {
            (Some(shard), _) if shard.count != count => Err(ShardError::Conflict {
                shard,
                other: format!("--shard-count {count}"),
            }),
            (Some(shard), Some(job)) if shard != job => Err(ShardError::Conflict {
                shard,
                other: format!("{JOB_INDEX_VAR} {} (with --shard-count {count})", job.index),
            }),
            (Some(shard), _) => Ok(Some(shard)),
            (None, job) => Ok(job),
        }
    }

    /// `path` with every [`PLACEHOLDER`] replaced by this shard's index.
    ///
    /// # Errors
    /// [`ShardError::PlaceholderNotUtf8`] for a path with the placeholder
    /// that is not UTF-8.
    pub fn fill(self, path: &Path) -> Result<PathBuf, ShardError> {
        fill(path, Some(self))
    }
}

/// `path` with every [`PLACEHOLDER`] replaced by the index of `shard`; a
/// path without the placeholder is returned as it is, shard or not.
///
/// # Errors
/// [`ShardError::NoShardForPlaceholder`] when `path` has the placeholder
/// and `shard` is `None`; [`ShardError::PlaceholderNotUtf8`] when a path
/// with the placeholder is not UTF-8.
pub fn fill(path: &Path, shard: Option<Shard>) -> Result<PathBuf, ShardError> {
    if !has_placeholder(path) {
        return Ok(path.to_owned());
    }
    let Some(text) = path.to_str() else {
        return Err(ShardError::PlaceholderNotUtf8 {
            path: path.to_owned(),
        });
    };
    match shard {
        Some(shard) => Ok(PathBuf::from(
            text.replace(PLACEHOLDER, &shard.index.to_string()),
        )),
        None => Err(ShardError::NoShardForPlaceholder {
            path: path.to_owned(),
        }),
    }
}

/// Whether `path` contains [`PLACEHOLDER`].
pub fn has_placeholder(path: &Path) -> bool {
    path.to_string_lossy().contains(PLACEHOLDER)
}

/// Parses a shard count (`--shard-count`): a whole number from 1 to
/// [`MAX_SHARDS`].
///
/// # Errors
/// [`ShardError::Count`] for anything else.
pub fn parse_count(text: &str) -> Result<u32, ShardError> {
    let count = whole_number(text).ok_or(ShardError::Count)?;
    check_count(count)
}

/// `count` as a shard count: from 1 to [`MAX_SHARDS`].
fn check_count(count: impl Into<u64>) -> Result<u32, ShardError> {
    match u32::try_from(count.into()) {
        Ok(count) if (1..=MAX_SHARDS).contains(&count) => Ok(count),
        _ => Err(ShardError::Count),
    }
}

/// Shard `value` (the Job index) of `count`.
fn job_shard(value: &str, count: u32) -> Result<Shard, ShardError> {
    let bad = || ShardError::BadJobIndex {
        value: value.to_owned(),
        count,
    };
    let index = whole_number(value).ok_or_else(bad)?;
    Shard::checked(index, u64::from(count), &value).map_err(|_| bad())
}

/// ASCII digits only (no sign, no blanks); a number too large for a `u64`
/// is `u64::MAX`, which is too large for any use here.
fn whole_number(text: &str) -> Option<u64> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(text.parse().unwrap_or(u64::MAX))
}

/// `INDEX/COUNT`, for example `0/4`: two whole numbers, no blanks.
impl FromStr for Shard {
    type Err = ShardError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let malformed = |problem| ShardError::Malformed { problem };
        let Some((index_text, count)) = text.split_once('/') else {
            return Err(malformed("there is no `/`"));
        };
        let index = whole_number(index_text).ok_or(malformed("INDEX is not a whole number"))?;
        let count = whole_number(count).ok_or(malformed("COUNT is not a whole number"))?;
        Self::checked(index, count, &index_text)
    }
}

/// `INDEX/COUNT`, as [`Shard::from_str`] reads it.
impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn group(id: &str) -> GroupId {
        GroupId::new(id).expect("valid id")
    }

    // Note: these pin the hash. docs/sharding.md documents it and shards of
    // earlier versions rely on it: if one of them fails, the change broke
    // which shard owns a group, not the test.
    #[test]
    fn the_hash_is_64_bit_fnv_1a_of_the_utf8_bytes() {
        for (id, hash) in [
            // The published FNV-1a 64 test vectors.
            ("", 0xcbf2_9ce4_8422_2325),
            ("a", 0xaf63_dc4c_8601_ec8c),
            ("foobar", 0x8594_4171_f739_67e8),
            // Group ids, non-ASCII ones among them.
            ("team-a", 0xde90_a371_7d12_52d6),
            ("team-b", 0xde90_a271_7d12_5123),
            ("tenant-0042", 0xf1b4_7914_887b_a222),
            ("café", 0x48e8_823a_cfa4_0d89),
            ("日本", 0x121d_7e35_a6d3_ce91),
        ] {
            assert_eq!(fnv1a_64(id.as_bytes()), hash, "{id:?}");
        }
    }

    #[test]
    fn a_group_belongs_to_the_hash_modulo_the_count() {
        for (id, of_3, of_4, of_7) in [
            ("a", 1, 0, 5),
            ("foobar", 0, 0, 6),
            ("team-a", 1, 2, 0),
            ("team-b", 0, 3, 4),
            ("g1", 1, 1, 0),
            ("tenant-0042", 0, 2, 3),
            ("café", 2, 1, 0),
            ("日本", 0, 1, 1),
        ] {
            let g = group(id);
            assert_eq!(
                [Shard::of(&g, 3), Shard::of(&g, 4), Shard::of(&g, 7)],
                [of_3, of_4, of_7],
                "{id:?}"
            );
            assert_eq!(Shard::of(&g, 1), 0);
        }
    }

    #[test]
    fn every_group_belongs_to_exactly_one_shard() {
        for count in [1, 2, 3, 5, 16] {
            for n in 0..200 {
                let g = group(&format!("tenant-{n}"));
                let owners = (0..count)
                    .filter(|&i| Shard::new(i, count).expect("shard").owns(&g))
                    .count();
                assert_eq!(owners, 1, "{g:?} of {count}");
            }
        }
    }

    #[test]
    fn index_slash_count_parses_and_prints_back() {
        for text in ["0/1", "0/4", "3/4", "99999/100000"] {
            let shard: Shard = text.parse().expect(text);
            assert_eq!(shard.to_string(), text);
        }
        let shard: Shard = "2/5".parse().expect("2/5");
        assert_eq!((shard.index(), shard.count()), (2, 5));
    }

    #[test]
    fn malformed_shards_say_what_to_write() {
        for (text, needle) in [
            ("3/2", "INDEX 3 is not below COUNT 2"),
            ("2/2", "write 1/2 for the last one"),
            ("a/b", "INDEX is not a whole number"),
            ("1/b", "COUNT is not a whole number"),
            ("1", "there is no `/`"),
            ("/4", "INDEX is not a whole number"),
            ("4/", "COUNT is not a whole number"),
            ("-1/4", "INDEX is not a whole number"),
            (" 1/4", "INDEX is not a whole number"),
            ("1/4/2", "COUNT is not a whole number"),
            ("0/0", "from 1 to 100000"),
            ("0/100001", "from 1 to 100000"),
            ("0/99999999999", "from 1 to 100000"),
            (
                "99999999999999999999999/4",
                "INDEX 99999999999999999999999 is not below COUNT 4",
            ),
        ] {
            let err = text.parse::<Shard>().expect_err(text).to_string();
            assert!(err.contains(needle), "{text}: {err}");
        }
        let err = "a/b".parse::<Shard>().expect_err("a/b").to_string();
        assert!(err.contains("such as 0/4"), "{err}");
    }

    #[test]
    fn counts_are_whole_numbers_from_1_to_the_limit() {
        assert_eq!(parse_count("1"), Ok(1));
        assert_eq!(parse_count("100000"), Ok(MAX_SHARDS));
        for bad in [
            "0",
            "100001",
            "",
            "x",
            "-3",
            "+3",
            "4 ",
            "99999999999999999999999",
        ] {
            assert_eq!(parse_count(bad), Err(ShardError::Count), "{bad:?}");
        }
    }

    #[test]
    fn the_shard_comes_from_the_flag_or_from_the_count_and_the_job_index() {
        let shard = |text: &str| text.parse::<Shard>().expect(text);
        assert_eq!(Shard::resolve(None, None, None), Ok(None));
        assert_eq!(Shard::resolve(None, None, Some("3")), Ok(None));
        assert_eq!(
            Shard::resolve(Some(shard("1/4")), None, Some("3")),
            Ok(Some(shard("1/4"))),
            "--shard alone wins over the Job index"
        );
        assert_eq!(
            Shard::resolve(None, Some(4), Some("3")),
            Ok(Some(shard("3/4")))
        );
        assert_eq!(
            Shard::resolve(Some(shard("3/4")), Some(4), Some("3")),
            Ok(Some(shard("3/4"))),
            "consistent"
        );
        assert_eq!(
            Shard::resolve(Some(shard("3/4")), Some(4), None),
            Ok(Some(shard("3/4")))
        );
    }

    #[test]
    fn a_count_without_a_job_index_or_with_a_bad_one_is_named() {
        let err = Shard::resolve(None, Some(4), None).expect_err("no index");
        assert_eq!(err, ShardError::NoJobIndex { count: 4 });
        let text = err.to_string();
        assert!(
            text.contains("JOB_COMPLETION_INDEX") && text.contains("--shard INDEX/4"),
            "{text}"
        );
        for value in ["4", "x", "-1", "", " 1"] {
            let err = Shard::resolve(None, Some(4), Some(value)).expect_err(value);
            assert_eq!(
                err,
                ShardError::BadJobIndex {
                    value: value.to_owned(),
                    count: 4
                }
            );
            assert!(
                err.to_string()
                    .contains(&format!("JOB_COMPLETION_INDEX {value:?}")),
                "{err}"
            );
        }
        assert_eq!(
            Shard::resolve(None, Some(0), Some("0")),
            Err(ShardError::Count)
        );
    }

    #[test]
    fn a_shard_that_disagrees_with_the_count_or_the_job_index_conflicts() {
        let shard: Shard = "1/4".parse().expect("1/4");
        let err = Shard::resolve(Some(shard), Some(5), Some("1")).expect_err("count");
        assert!(
            err.to_string()
                .contains("--shard 1/4 disagrees with --shard-count 5"),
            "{err}"
        );
        let err = Shard::resolve(Some(shard), Some(4), Some("2")).expect_err("index");
        assert!(
            err.to_string()
                .contains("--shard 1/4 disagrees with JOB_COMPLETION_INDEX 2"),
            "{err}"
        );
    }

    #[test]
    fn the_placeholder_is_replaced_by_the_index_everywhere_in_the_path() {
        let shard: Shard = "7/12".parse().expect("7/12");
        assert_eq!(
            shard
                .fill(Path::new("/v/{shard}/journal-{shard}.json"))
                .expect("fill"),
            PathBuf::from("/v/7/journal-7.json")
        );
        assert_eq!(
            fill(Path::new("/v/journal.json"), None).expect("no placeholder"),
            PathBuf::from("/v/journal.json")
        );
        assert_eq!(
            fill(Path::new("/v/journal.json"), Some(shard)).expect("no placeholder"),
            PathBuf::from("/v/journal.json")
        );
        let err = fill(Path::new("/v/journal-{shard}.json"), None).expect_err("no shard");
        assert!(
            err.to_string()
                .starts_with("/v/journal-{shard}.json contains the {shard} placeholder"),
            "{err}"
        );
    }

    #[cfg(unix)]
    #[test]
    fn a_placeholder_in_a_path_that_is_not_utf8_is_refused() {
        use std::os::unix::ffi::OsStrExt;
        let path = Path::new(std::ffi::OsStr::from_bytes(b"/v/\xff-{shard}.json"));
        let shard: Shard = "0/2".parse().expect("0/2");
        assert!(matches!(
            shard.fill(path),
            Err(ShardError::PlaceholderNotUtf8 { .. })
        ));
    }
}
