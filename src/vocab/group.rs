//! Group ids: which ids can be addressed safely on every node.

use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Serialize, Serializer};

use crate::error::InputError;

/// The longest id accepted, in bytes of UTF-8.
pub const MAX_GROUP_ID_BYTES: usize = 1024;

/// A validated group id.
///
/// The id is sent verbatim in JSON bodies and percent-encoded as one path
/// segment in GET URLs, so spaces, `/`, `?`, `#` and non-ASCII characters are
/// all fine. Rejected: the empty id, `.` and `..` (a URL normaliser would
/// collapse them into a different path), any control character (it could not
/// be logged or typed back), and ids longer than [`MAX_GROUP_ID_BYTES`].
///
/// Cloning is cheap: clones share one copy of the id.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize)]
#[serde(try_from = "String")]
pub struct GroupId(Arc<str>);

impl GroupId {
    /// Validates `id`, returning an error that names the id and the rule it breaks.
    pub fn new(id: impl Into<String>) -> Result<Self, InputError> {
        let id = id.into();
        let problem = if id.is_empty() {
            Some("it is empty")
        } else if id == "." || id == ".." {
            Some("`.` and `..` cannot be addressed as a path segment")
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
                id: crate::vocab::text::shorten(&id).into_owned(),
                reason,
            }),
            None => Ok(Self(id.into())),
        }
    }

    /// The id exactly as the user gave it.
    pub fn as_str(&self) -> &str {
        &self.0
    }
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
            "g1", "a b", "a/b", "what?", "#tag", "café", "..a", ". .", "日本",
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
