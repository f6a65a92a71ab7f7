//! Credentials that must never reach logs, errors, the journal or JSON output.

use std::fmt;

/// A bearer token for the nodes. `Debug` and `Display` print `<redacted>`;
/// only [`Token::expose`] gives the value, for the `Authorization` header.
#[derive(Clone, PartialEq, Eq)]
pub struct Token(String);

impl Token {
    /// Wraps a token; surrounding whitespace (such as a file's final newline) is dropped.
    /// Returns `None` for an empty token.
    pub fn new(value: &str) -> Option<Self> {
        let value = value.trim();
        (!value.is_empty()).then(|| Self(value.to_owned()))
    }

    /// The secret value. Call it only where the value leaves the process on purpose.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Token(<redacted>)")
    }
}

impl fmt::Display for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formatting_never_shows_the_value() {
        let token = Token::new(" s3cr3t\n").expect("non-empty");
        assert_eq!(token.expose(), "s3cr3t");
        assert!(!format!("{token:?} {token} {token:#?}").contains("s3cr3t"));
    }

    #[test]
    fn blank_tokens_are_none() {
        assert_eq!(Token::new(" \n"), None);
    }
}
