//! Credentials that must never reach logs, errors, the journal or JSON output, and the
//! checks on the token file they are read from.

use std::collections::VecDeque;
use std::fmt;
use std::fs::{Metadata, OpenOptions};
use std::io::Read;
use std::path::{Component, Path, PathBuf};

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

/// Symbolic links followed while resolving one path, as Linux allows.
const MAX_LINKS: usize = 40;

/// Reads the token from `path`, refusing a file that someone else could
/// read or replace.
///
/// The rules:
/// - Every symbolic link on the way (the path's own components and the
///   targets' components) must be owned by the current user or by root.
///   Root-owned links are how Kubernetes mounts Secret files
///   (`token -> ..data/token`, `..data -> ..2026_01_01...`).
/// - The file must be a regular file of at most [`MAX_TOKEN_FILE_BYTES`],
///   owned by the current user or by root.
/// - No one but the owner may write it, and others may not read it. Group
///   read is accepted only when a non-root user reads a root-owned file
///   through its group: a Kubernetes Secret volume with `fsGroup`, which
///   the kubelet makes `0440 root:<fsGroup>`.
///
/// # Errors
/// [`InputError::TokenFile`], naming the file, what was found and the fix.
pub fn read_token_file(path: &Path) -> Result<Token, InputError> {
    let refuse = |problem: String, fix: String| InputError::TokenFile {
        path: path.to_owned(),
        problem,
        fix,
    };
    let real = resolve_links(path).map_err(|(problem, fix)| refuse(problem, fix))?;
    let mut file = trust::no_follow(OpenOptions::new().read(true))
        .open(&real)
        .map_err(|e| {
            refuse(
                format!("cannot read it: {e}"),
                "point --token-file (CLUSTER_CLIENT_TOKEN_FILE) at a readable file that holds \
                 the token"
                    .to_owned(),
            )
        })?;
    let meta = file
        .metadata()
        .map_err(|e| refuse(format!("cannot read it: {e}"), "check the file".to_owned()))?;
    check_token_file(path, &meta).map_err(|(problem, fix)| refuse(problem, fix))?;
    let mut bytes = Vec::new();
    (&mut file)
        .take(MAX_TOKEN_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| refuse(format!("cannot read it: {e}"), "check the file".to_owned()))?;
    if bytes.len() as u64 > MAX_TOKEN_FILE_BYTES {
        return Err(too_large(path));
    }
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

fn too_large(path: &Path) -> InputError {
    InputError::TokenFile {
        path: path.to_owned(),
        problem: format!(
            "it is larger than {} KiB, far more than any bearer token",
            MAX_TOKEN_FILE_BYTES / 1024
        ),
        fix: "check that --token-file names the token and not some other file".to_owned(),
    }
}

type Refusal = (String, String);

/// `path` with every symbolic link resolved, each one checked to be owned
/// by the current user or by root before it is followed.
fn resolve_links(path: &Path) -> Result<PathBuf, Refusal> {
    let mut pending: VecDeque<PathBuf> = path
        .components()
        .map(|c| PathBuf::from(c.as_os_str()))
        .collect();
    let mut resolved = if path.is_absolute() {
        PathBuf::new()
    } else {
        std::env::current_dir().map_err(|e| {
            (
                format!("cannot resolve it: {e}"),
                "give an absolute path".to_owned(),
            )
        })?
    };
    let mut links = 0;
    while let Some(part) = pending.pop_front() {
        match part.components().next() {
            Some(Component::RootDir | Component::Prefix(_)) => resolved.push(&part),
            Some(Component::CurDir) | None => {}
            Some(Component::ParentDir) => {
                resolved.pop();
            }
            Some(Component::Normal(name)) => {
                let next = resolved.join(name);
                let Ok(meta) = std::fs::symlink_metadata(&next) else {
                    // Note: the open that follows reports the missing file.
                    resolved = next;
                    continue;
                };
                if !meta.file_type().is_symlink() {
                    resolved = next;
                    continue;
                }
                links += 1;
                if links > MAX_LINKS {
                    return Err((
                        "it goes through too many symbolic links".to_owned(),
                        "point --token-file at the real file".to_owned(),
                    ));
                }
                check_link_owner(&next, &meta)?;
                let target = std::fs::read_link(&next).map_err(|e| {
                    (
                        format!("cannot read the symbolic link {}: {e}", next.display()),
                        "point --token-file at the real file".to_owned(),
                    )
                })?;
                for component in target.components().rev() {
                    pending.push_front(PathBuf::from(component.as_os_str()));
                }
            }
        }
    }
    Ok(resolved)
}

#[cfg(unix)]
fn check_link_owner(link: &Path, meta: &Metadata) -> Result<(), Refusal> {
    use std::os::unix::fs::MetadataExt;
    if owner_is_trusted(meta.uid()) {
        return Ok(());
    }
    Err((
        format!(
            "it goes through the symbolic link {}, owned by uid {}; only links owned by you \
             or by root are followed, as anyone else could point it at another file",
            link.display(),
            meta.uid()
        ),
        "point --token-file at the real file, or replace the link with one of your own".to_owned(),
    ))
}

#[cfg(not(unix))]
fn check_link_owner(_: &Path, _: &Metadata) -> Result<(), Refusal> {
    Ok(())
}

fn owner_is_trusted(uid: u32) -> bool {
    uid == 0 || trust::euid().is_none_or(|euid| euid == uid)
}

#[cfg(unix)]
fn check_token_file(path: &Path, meta: &Metadata) -> Result<(), Refusal> {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    if !meta.is_file() {
        return Err((
            "it is not a regular file".to_owned(),
            "point --token-file at the file that holds the token".to_owned(),
        ));
    }
    if meta.len() > MAX_TOKEN_FILE_BYTES {
        return Err((
            format!(
                "it is larger than {} KiB, far more than any bearer token",
                MAX_TOKEN_FILE_BYTES / 1024
            ),
            "check that --token-file names the token and not some other file".to_owned(),
        ));
    }
    if !owner_is_trusted(meta.uid()) {
        return Err((
            format!(
                "it is owned by uid {}, neither you nor root, so that user decides which \
                 token is sent",
                meta.uid()
            ),
            format!(
                "`chown {} {}`",
                trust::euid().unwrap_or_default(),
                path.display()
            ),
        ));
    }
    let mode = meta.permissions().mode() & 0o777;
    if !mode_is_private(mode, meta.uid(), trust::euid()) {
        return Err((
            format!("its mode {mode:04o} lets group or others read or write the token"),
            format!(
                "`chmod 600 {}` (for a Kubernetes Secret volume, set defaultMode: 0440 \
                 together with the pod's fsGroup)",
                path.display()
            ),
        ));
    }
    Ok(())
}

/// Whether a token file with `mode`, owned by `owner`, is private enough
/// for a process running as `euid`: no one but the owner may write it, and
/// others may not read it. Group read is accepted only when a non-root user
/// reads a root-owned file through its group, the way a Kubernetes Secret
/// volume with `fsGroup` is mounted (`0440 root:<fsGroup>`).
fn mode_is_private(mode: u32, owner: u32, euid: Option<u32>) -> bool {
    let through_group = owner == 0 && euid.is_some_and(|euid| euid != 0);
    mode & 0o007 == 0 && mode & 0o020 == 0 && (mode & 0o040 == 0 || through_group)
}

#[cfg(not(unix))]
fn check_token_file(_: &Path, meta: &Metadata) -> Result<(), Refusal> {
    if meta.len() > MAX_TOKEN_FILE_BYTES {
        return Err((
            "it is larger than 64 KiB".to_owned(),
            "check the path".to_owned(),
        ));
    }
    Ok(())
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
    fn token_files_others_may_read_or_group_may_write_are_not_private() {
        let (me, root) = (Some(1000), Some(0));
        assert!(mode_is_private(0o600, 1000, me));
        assert!(mode_is_private(0o400, 1000, me));
        assert!(!mode_is_private(0o644, 1000, me));
        assert!(!mode_is_private(0o640, 1000, me));
        assert!(!mode_is_private(0o620, 1000, me));
        assert!(!mode_is_private(0o604, 1000, me));
        // A Kubernetes Secret with fsGroup, read by the pod's non-root user.
        assert!(mode_is_private(0o440, 0, me));
        assert!(!mode_is_private(0o460, 0, me));
        assert!(!mode_is_private(0o444, 0, me));
        // Root's own file gets no group exception: root can make it 0600.
        assert!(!mode_is_private(0o640, 0, root));
        assert!(mode_is_private(0o600, 0, root));
    }

    #[test]
    fn blank_tokens_are_none() {
        assert_eq!(Token::new(" \n"), None);
    }
}
