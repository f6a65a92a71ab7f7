//! Credentials that must never reach logs, errors, the journal or JSON output, and the
//! checks on the token file they are read from.

use std::fmt;
use std::path::Path;

use crate::error::InputError;
use crate::vocab::trust;

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

/// The largest token file read; a bearer token is a few kilobytes at most,
/// and a bigger file is more likely a wrong path than a token.
pub const MAX_TOKEN_FILE_BYTES: u64 = 64 * 1024;

/// How a token file is checked: a secret of at most [`MAX_TOKEN_FILE_BYTES`].
const TOKEN_FILE: trust::FileRules = trust::FileRules {
    role: "token file",
    option: "--token-file",
    max_bytes: MAX_TOKEN_FILE_BYTES,
    secret: true,
};

/// Reads the token from `path`, refusing a file that someone else could
/// read or replace, by the rules of [`trust::read_checked`]:
/// - every directory from `/` down to it is the user's or root's and
///   writable by no one else (a sticky `/tmp`, a read-only mount and the
///   directory given to `--trust-group-writable` excepted), and every
///   symbolic link on the way is owned by the user or by root (Kubernetes
///   mounts Secret files as root-owned links: `token -> ..data/token`,
///   `..data -> ..2026_01_01...`);
/// - the file is a regular file of at most [`MAX_TOKEN_FILE_BYTES`], owned
///   by the user or root, that no one else may write and others may not
///   read. Its group may read it only in a Kubernetes Secret volume (that
///   layout, the file root's), where the group is the pod's own `fsGroup`.
///
/// The file is opened as it is checked, one directory at a time, so it
/// cannot be swapped between the check and the read.
///
/// # Errors
/// [`InputError::TokenFile`], naming the file, what was found and the fix.
pub fn read_token_file(path: &Path) -> Result<Token, InputError> {
    let refuse = |problem: String, fix: String| InputError::TokenFile {
        path: path.to_owned(),
        problem,
        fix,
    };
    let bytes = trust::read_checked(path, &TOKEN_FILE).map_err(|e| match e {
        trust::CheckedError::Unreadable(cause) => refuse(
            format!("cannot read it: {cause}"),
            "point --token-file (CLUSTER_CLIENT_TOKEN_FILE) at a readable file that holds \
             the token"
                .to_owned(),
        ),
        trust::CheckedError::Untrusted(distrust) => refuse(distrust.problem, distrust.fix),
    })?;
    let text = String::from_utf8(bytes).map_err(|_| {
        refuse(
            "it is not UTF-8 text".to_owned(),
            "put the token itself in the file, as text".to_owned(),
        )
    })?;
    Token::new(&text).ok_or_else(|| {
        refuse(
            "it is empty".to_owned(),
            "put the token in it, or drop the option".to_owned(),
        )
    })
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
