//! Group ids: which ids can be addressed safely on every node.

use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Serialize, Serializer};

use crate::error::InputError;

/// The longest id accepted, in bytes of UTF-8.
pub const MAX_GROUP_ID_BYTES: usize = 1024;

/// The characters refused anywhere in an id, each with the reason its error
/// gives. They are the URL's own syntax in a path (`/` and `\` separate
/// segments, `?` starts the query, `#` the fragment, `%` an escape): the id
/// is percent-encoded in the GET path, but a node server or a hop in front
/// that decodes the path once and then routes or re-serialises it without
/// escaping them again reads another path, so the read answers 404 while the
/// group is there. `tests/real_nodes.rs` finds which of them the real node
/// servers (FastAPI, Flask, Go net/http) do not round-trip, and fails if this
/// list and that finding drift apart.
pub const ROUTED_DIFFERENTLY: [(char, &str); 5] = [
    (
        '/',
        "the character `/` (U+002F) is routed differently by common node servers: \
         Flask, FastAPI and Go net/http decode %2F before routing, so the read finds \
         no group",
    ),
    (
        '\\',
        "the character `\\` (U+005C) is routed differently by common node servers: \
         URL parsers that follow the WHATWG URL standard (browsers, Node.js, Rust's \
         url) read it as `/` in an http path, so a hop that decodes it and parses the \
         path again reads another path",
    ),
    (
        '%',
        "the character `%` (U+0025) is routed differently by common node servers: \
         FastAPI's trailing-slash redirect decodes the path once more, so `%41` is \
         read as `A` and `%25` as `%`",
    ),
    (
        '?',
        "the character `?` (U+003F) is routed differently by common node servers: \
         FastAPI 0.115 (Starlette 0.38) redirects to the path with it decoded, where \
         it starts the query",
    ),
    (
        '#',
        "the character `#` (U+0023) is routed differently by common node servers: \
         FastAPI 0.115 (Starlette 0.38) redirects to the path with it decoded, where \
         it starts a fragment",
    ),
];

/// A validated group id.
///
/// The id is sent verbatim in JSON bodies and percent-encoded as one path
/// segment in GET URLs, so spaces, `;`, `+`, `.` inside an id and non-ASCII
/// characters are all fine. Rejected: the empty id, `.` and `..` (a URL
/// normaliser would collapse them into a different path), any character of
/// [`ROUTED_DIFFERENTLY`] (`/ \ % ? #`: node servers read another path),
/// any control character (it could not be logged or typed back), and ids
/// longer than [`MAX_GROUP_ID_BYTES`].
///
/// Cloning is cheap: clones share one copy of the id.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize)]
#[serde(try_from = "String")]
pub struct GroupId(Arc<str>);

impl GroupId {
    /// Validates `id`, returning an error that names the id and the rule it breaks.
    pub fn new(id: impl Into<String>) -> Result<Self, InputError> {
        let id = id.into();
        Self::checked(id, true)
    }

    /// An id read back from a journal: every rule of [`GroupId::new`] but
    /// the characters node servers route differently, which earlier
    /// releases accepted. A journal that names such a group stays readable,
    /// so its repairs are not lost: they are sent with the id in the JSON
    /// body, as every write is.
    pub fn stored(id: impl Into<String>) -> Result<Self, InputError> {
        Self::checked(id.into(), false)
    }

    fn checked(id: String, routable: bool) -> Result<Self, InputError> {
        let problem = if id.is_empty() {
            Some("it is empty")
        } else if id == "." || id == ".." {
            Some("`.` and `..` cannot be addressed as a path segment")
        } else if let Some(reason) = routable.then(|| routed_differently(&id)).flatten() {
            Some(reason)
        } else if id.chars().any(char::is_control) {
            Some("it contains a control character")
        } else if id.len() > MAX_GROUP_ID_BYTES {
            Some("it is longer than 1024 bytes")
        } else {
            None
        };
        match problem {
            Some(reason) => Err(InputError::GroupId {
                // Note: escaped for one line, and cut when long: a 2,000-byte id
                // is not echoed whole.
                id: crate::vocab::text::cut(&id.escape_debug().to_string(), id.len()).into_owned(),
                reason,
            }),
            None => Ok(Self(id.into())),
        }
    }

    /// An id with no check at all, for tests that send ids [`GroupId::new`]
    /// refuses (`tests/real_nodes.rs` finds which characters real node servers
    /// route differently). Built only for tests (feature `sim`).
    #[cfg(any(test, feature = "sim"))]
    #[doc(hidden)]
    pub fn unchecked(id: &str) -> Self {
        Self(id.into())
    }

    /// The id exactly as the user gave it.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Why `id` would be routed differently, for its first character of
/// [`ROUTED_DIFFERENTLY`], or `None` when it has none.
fn routed_differently(id: &str) -> Option<&'static str> {
    let first = id
        .chars()
        .find_map(|c| ROUTED_DIFFERENTLY.iter().find(|(refused, _)| *refused == c));
    first.map(|(_, reason)| *reason)
}

/// Quoted and escaped like a string, so logs show `"team a"`.
impl fmt::Debug for GroupId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

impl fmt::Display for GroupId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for GroupId {
    type Error = InputError;

    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::new(value)
    }
}

impl From<GroupId> for String {
    fn from(value: GroupId) -> Self {
        value.as_str().to_owned()
    }
}

impl Serialize for GroupId {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_ids_that_need_percent_encoding() {
        for id in [
            "g1", "a b", " lead", "trail ", "a;b=c", "a+b", "[x]", "café", "..a", ". .", "日本",
        ] {
            assert_eq!(
                GroupId::new(id).map(|g| g.to_string()).ok(),
                Some(id.to_owned())
            );
        }
    }

    #[test]
    fn rejects_ids_that_cannot_be_addressed() {
        let too_long = "x".repeat(MAX_GROUP_ID_BYTES + 1);
        for id in [
            "",
            ".",
            "..",
            "a\nb",
            "tab\there",
            "\u{7f}",
            too_long.as_str(),
        ] {
            let err = GroupId::new(id).expect_err(id).to_string();
            assert!(err.contains("group id"), "{err}");
        }
    }

    #[test]
    fn refuses_characters_routed_differently_wherever_they_are_and_names_them() {
        for (c, _) in ROUTED_DIFFERENTLY {
            for id in [
                format!("{c}"),
                format!("{c}a"),
                format!("a{c}"),
                format!("a{c}b"),
            ] {
                let err = GroupId::new(id.as_str()).expect_err(&id).to_string();
                let named = format!("the character `{c}` (U+{:04X})", u32::from(c));
                assert!(err.contains(&named), "{id:?}: {err}");
                assert!(err.contains("routed differently"), "{id:?}: {err}");
            }
        }
        let err = GroupId::new("team/a").expect_err("slash").to_string();
        assert!(
            err.starts_with("invalid group id \"team/a\": the character `/`"),
            "{err}"
        );
        assert!(err.contains("decode %2F"), "{err}");
    }

    #[test]
    fn the_first_refused_character_is_the_one_named() {
        let err = GroupId::new("a?b/c").expect_err("two").to_string();
        assert!(err.contains("`?` (U+003F)"), "{err}");
        assert!(!err.contains("`/` (U+002F)"), "{err}");
    }

    #[test]
    fn accepts_exactly_the_byte_limit() {
        // Note: 'é' is two bytes, so 512 of them sit exactly on the limit.
        assert!(GroupId::new("é".repeat(512)).is_ok());
        assert!(GroupId::new(format!("{}x", "é".repeat(512))).is_err());
    }

    #[test]
    fn clones_share_the_id_and_it_serialises_as_a_string() {
        let id = GroupId::new("team-a").expect("valid");
        assert!(std::ptr::eq(id.as_str(), id.clone().as_str()));
        let json = serde_json::to_string(&id).expect("serialise");
        assert_eq!(json, "\"team-a\"");
        assert_eq!(
            serde_json::from_str::<GroupId>(&json).expect("deserialise"),
            id
        );
        assert!(serde_json::from_str::<GroupId>("\"..\"").is_err());
    }

    #[test]
    fn error_names_the_id_escaped() {
        let err = GroupId::new("a\nb").expect_err("control char").to_string();
        assert!(err.contains(r"a\nb"), "{err}");
    }
}
