//! Who could have written a file we act on: ssh's StrictModes for every file that steers a run
//! (the journal and its lock, the hosts file, the token file, the CA bundle), checked on what
//! was opened.
//!
//! The journal decides which groups are changed on which hosts, and with the
//! operator's token; the hosts file decides where the token goes; the CA
//! bundle decides whom https trusts; the token file is the token. Each is
//! refused unless every directory from `/` down to it, every symbolic link on
//! the way and the file itself could only have been written by the current
//! user or by root ([`read_checked`], [`check_dirs_to`]). On Linux the path is
//! walked one component at a time with `openat(O_PATH | O_NOFOLLOW)` from the
//! directory already checked, so what is checked is what is opened.

use std::fs::{File, Metadata, OpenOptions};
use std::io::{self, Read};
use std::path::Path;
use std::sync::OnceLock;

/// What a refused file is, for messages: "journal", "lock file", ...
pub type Role = &'static str;

/// Why a file or directory is not trusted, and how to fix it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Distrust {
    /// What was found: the owner, the mode or the file type.
    pub problem: String,
    /// The command or step that fixes it.
    pub fix: String,
}

/// Why [`read_checked`] or [`check_dirs_to`] gave nothing.
#[derive(Debug)]
pub enum CheckedError {
    /// The file or a directory on its way could not be opened or read (it
    /// does not exist, say); nothing about its trust is known.
    Unreadable(io::Error),
    /// It was opened, and someone other than the user or root could have
    /// written it or something on its way.
    Untrusted(Distrust),
}

impl From<Distrust> for CheckedError {
    fn from(distrust: Distrust) -> Self {
        Self::Untrusted(distrust)
    }
}

/// The effective user id of this process; `None` where there is none (not Unix).
pub fn euid() -> Option<u32> {
    #[cfg(unix)]
    {
        Some(rustix::process::geteuid().as_raw())
    }
    #[cfg(not(unix))]
    {
        None
    }
}

/// Whether a file or link owned by `uid` may steer this process: its own, or root's.
pub fn owner_is_trusted(uid: u32) -> bool {
    uid == 0 || euid().is_none_or(|euid| euid == uid)
}

/// Makes `options` refuse to open a symbolic link as the last path component
/// (`O_NOFOLLOW`: the open fails with `ELOOP`).
pub fn no_follow(options: &mut OpenOptions) -> &mut OpenOptions {
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        // Note: the flag's bits fit an i32 on every Unix rustix supports.
        options.custom_flags(rustix::fs::OFlags::NOFOLLOW.bits() as i32);
    }
    options
}

/// Whether `path` itself (not what it points to) is a symbolic link.
pub fn is_symlink(path: &Path) -> bool {
    std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink())
}

/// The explanation for a path that was refused because it is a symbolic link.
pub fn symlink_refused(path: &Path) -> Distrust {
    Distrust {
        problem: "it is a symbolic link, and cluster-client does not follow links here \
                  (another user could point it anywhere)"
            .to_owned(),
        fix: format!(
            "remove the link (`rm {}`) and let cluster-client create the file, or point \
             --journal at the real location",
            path.display()
        ),
    }
}

/// Checks an opened regular file that must be ours and private, as ssh
/// checks a private key: owned by the current euid, and neither readable nor
/// writable by group or others (mode 0600 or 0400). For the journal and its
/// lock file, which name every node and group this user touched.
pub fn private_file(path: &Path, meta: &Metadata) -> Result<(), Distrust> {
    if !meta.is_file() {
        return Err(Distrust {
            problem: "it is not a regular file".to_owned(),
            fix: format!("move it aside (`mv {0} {0}.bad`)", path.display()),
        });
    }
    owned_by_us(path, meta)?;
    let mode = mode_of(meta);
    if mode & 0o077 == 0 {
        return Ok(());
    }
    Err(Distrust {
        problem: format!(
            "its mode {mode:04o} lets group or others {} it, and it is private: it names \
             every node and group this user changed",
            if mode & 0o022 == 0 {
                "read"
            } else {
                "read or write"
            }
        ),
        fix: format!("`chmod 600 {}`", path.display()),
    })
}

/// Checks an opened directory that must be ours: owned by the current euid,
/// writable by no one else. A sticky bit does not make group or other write
/// acceptable: whoever may create files in the directory could plant a
/// journal or a lock file before our first run.
pub fn private_dir(path: &Path, meta: &Metadata) -> Result<(), Distrust> {
    if !meta.is_dir() {
        return Err(Distrust {
            problem: "it is not a directory".to_owned(),
            fix: "point --journal at a file inside a directory of your own".to_owned(),
        });
    }
    // Note: a directory is never to be chowned or chmodded on our advice
    // unless it is ours and private by intent: /tmp and shared team
    // directories are someone else's to set up, so the fix is a directory
    // of one's own.
    owned_by_us(path, meta).map_err(|distrust| Distrust {
        fix: OWN_DIRECTORY.to_owned(),
        ..distrust
    })?;
    let mode = mode_of(meta);
    if mode & 0o022 == 0 {
        return Ok(());
    }
    // Note: a sticky or world-writable directory (/tmp) is meant to be shared.
    let fix = if mode & 0o1002 != 0 {
        format!("it is a shared directory: {OWN_DIRECTORY}")
    } else {
        format!("`chmod 700 {}`, or {OWN_DIRECTORY}", path.display())
    };
    Err(Distrust {
        problem: format!("its mode {mode:04o} lets group or others write it"),
        fix,
    })
}

/// How to fix a journal directory that is not the user's own: use one that is.
const OWN_DIRECTORY: &str = "keep the journal in a directory only you can write, for example \
                             the default one (~/.local/share/cluster-client/, used when no \
                             --journal is given) or one made with `mkdir -m 700 DIR`, and point \
                             --journal at a file in it";

fn owned_by_us(path: &Path, meta: &Metadata) -> Result<(), Distrust> {
    let (Some(euid), Some(uid)) = (euid(), uid_of(meta)) else {
        return Ok(());
    };
    if uid == euid {
        return Ok(());
    }
    Err(Distrust {
        problem: format!(
            "it is owned by uid {uid}, not by the user running cluster-client (uid {euid}), \
             so that user decides what it says"
        ),
        fix: format!(
            "if you trust its contents, take it over (`chown {euid} {}`); otherwise move it \
             aside and use a journal in a directory of your own",
            path.display()
        ),
    })
}

/// The permission bits (with setuid, setgid and sticky); 0 where there are none.
pub(crate) fn mode_of(meta: &Metadata) -> u32 {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        meta.permissions().mode() & 0o7777
    }
    #[cfg(not(unix))]
    {
        let _ = meta;
        0
    }
}

/// The owner's uid; `None` where there is none (not Unix).
pub(crate) fn uid_of(meta: &Metadata) -> Option<u32> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        Some(meta.uid())
    }
    #[cfg(not(unix))]
    {
        let _ = meta;
        None
    }
}

/// The rules for a file read through [`read_checked`].
#[derive(Debug, Clone, Copy)]
pub struct FileRules {
    /// What the file is, for messages: "hosts file", "CA file", "token file".
    pub role: Role,
    /// The option that names it, for fixes: "--hosts".
    pub option: &'static str,
    /// The largest file accepted; a bigger one is more likely a wrong path.
    pub max_bytes: u64,
    /// Whether its contents are a secret: then others may not read it, and
    /// its group only in a Kubernetes Secret volume (see [`read_checked`]).
    pub secret: bool,
}

/// Reads the file at `path` if it, every directory above it and every
/// symbolic link on the way could only have been written by the current
/// user or by root.
///
/// The rules, like ssh's StrictModes:
/// - Every directory from `/` down (the working directory's too, for a
///   relative path) is owned by the user or root, and writable by no one
///   else, except: a sticky directory (`/tmp`) above an entry owned by the
///   user or root, which no one else can rename; a directory on a read-only
///   mount, which no one can write through (a Kubernetes ConfigMap volume's
///   root is `0777` on a read-only mount); and the one directory named by
///   [`accept_group_writable`], if any.
/// - Every symbolic link on the way is owned by the user or root (the
///   kubelet's `..data` links are root's), at most 40 of them.
/// - The file is a regular file of at most `rules.max_bytes`, owned by the
///   user or root, that no one else may write. A secret's file may not be
///   read by others either, nor by its group, except in the atomic-writer
///   layout of a Kubernetes Secret volume (root-owned, reached through a
///   root-owned `..data` link), where the group is the pod's own `fsGroup`.
///
/// # Errors
/// [`CheckedError::Unreadable`] when the file or a directory on its way
/// cannot be opened or read; [`CheckedError::Untrusted`] naming what was
/// found (the directory, link or mode) and the fix.
pub fn read_checked(path: &Path, rules: &FileRules) -> Result<Vec<u8>, CheckedError> {
    let reached = walk::open(path, walk::Want::File)?;
    check_file(path, &reached.meta, reached.secret_volume, rules)?;
    let Some(file) = reached.file else {
        return Err(not_a_file(rules));
    };
    let mut bytes = Vec::new();
    (&file)
        .take(rules.max_bytes + 1)
        .read_to_end(&mut bytes)
        .map_err(CheckedError::Unreadable)?;
    if bytes.len() as u64 > rules.max_bytes {
        return Err(too_large(rules).into());
    }
    Ok(bytes)
}

/// Checks every directory from `/` down to `dir` by [`read_checked`]'s rules
/// for the directories above a file, and returns `dir`'s own metadata for
/// the caller's rule (the journal's directory must be private).
///
/// # Errors
/// As [`read_checked`].
pub fn check_dirs_to(dir: &Path) -> Result<Metadata, CheckedError> {
    Ok(walk::open(dir, walk::Want::Dir)?.meta)
}

fn not_a_file(rules: &FileRules) -> CheckedError {
    CheckedError::Untrusted(Distrust {
        problem: "it is not a regular file".to_owned(),
        fix: format!("point {} at the {} itself", rules.option, rules.role),
    })
}

fn too_large(rules: &FileRules) -> Distrust {
    Distrust {
        problem: format!(
            "it is larger than {} KiB, far more than any {}",
            rules.max_bytes / 1024,
            rules.role
        ),
        fix: format!(
            "check that {} names the {} and not some other file",
            rules.option, rules.role
        ),
    }
}

/// The rules of [`read_checked`] for the opened file itself.
fn check_file(
    path: &Path,
    meta: &Metadata,
    secret_volume: bool,
    rules: &FileRules,
) -> Result<(), Distrust> {
    if !meta.is_file() {
        return Err(Distrust {
            problem: "it is not a regular file".to_owned(),
            fix: format!("point {} at the {} itself", rules.option, rules.role),
        });
    }
    if meta.len() > rules.max_bytes {
        return Err(too_large(rules));
    }
    if let Some(uid) = uid_of(meta).filter(|uid| !owner_is_trusted(*uid)) {
        return Err(Distrust {
            problem: format!(
                "it is owned by uid {uid}, neither you nor root, so that user decides what \
                 it says"
            ),
            fix: format!(
                "if you trust it, take it over (`chown {} {}`); otherwise point {} at a {} \
                 of your own",
                euid().unwrap_or_default(),
                path.display(),
                rules.option,
                rules.role
            ),
        });
    }
    let mode = mode_of(meta);
    let group_read_ok = secret_volume && uid_of(meta) == Some(0);
    let refused = if rules.secret {
        !mode_is_private(mode, group_read_ok)
    } else {
        mode & 0o022 != 0
    };
    if !refused {
        return Ok(());
    }
    let who = if rules.secret {
        "group or others read or write"
    } else {
        "group or others write"
    };
    let private = if rules.secret { "600" } else { "644" };
    let mut fix = format!("`chmod {private} {}`", path.display());
    if rules.secret {
        fix.push_str(
            " (in a Kubernetes Secret volume, defaultMode: 0440 together with the pod's \
             fsGroup is accepted)",
        );
    }
    Err(Distrust {
        problem: format!("its mode {mode:04o} lets {who} the {}", rules.role),
        fix,
    })
}

/// Whether a secret's file with `mode` is private enough: no one but the
/// owner may write it, others may not read it, and the group may read it
/// only when `group_read_ok` (a Kubernetes Secret volume).
fn mode_is_private(mode: u32, group_read_ok: bool) -> bool {
    let others = mode & 0o077;
    others == 0 || (group_read_ok && others == 0o040)
}

/// The one directory whose group write is accepted above a checked file:
/// its device and inode.
static GROUP_WRITABLE: OnceLock<(u64, u64)> = OnceLock::new();

/// Accepts group write (never other write) on the one directory `dir` when
/// it is above a checked file, for the root of a Kubernetes volume with
/// `fsGroup` (the kubelet makes it group-writable, setgid). Call it once,
/// before anything is checked; later calls change nothing.
///
/// Only for a directory whose group is trusted as much as the user: its
/// members can rename the journal's directory away and put it back later.
///
/// # Errors
/// When `dir` cannot be opened or is not a directory.
// Note: process-wide, like the euid it sits beside: it is a fact about the
// host, set once from the configuration, and every check (journal, hosts,
// token, CA) must see the same one.
pub fn accept_group_writable(dir: &Path) -> io::Result<()> {
    let meta = File::open(dir)?.metadata()?;
    if !meta.is_dir() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "it is not a directory",
        ));
    }
    if let Some(identity) = identity(&meta) {
        let _ = GROUP_WRITABLE.set(identity);
    }
    Ok(())
}

fn identity(meta: &Metadata) -> Option<(u64, u64)> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        Some((meta.dev(), meta.ino()))
    }
    #[cfg(not(unix))]
    {
        let _ = meta;
        None
    }
}

fn group_writable_accepted(meta: &Metadata) -> bool {
    GROUP_WRITABLE
        .get()
        .is_some_and(|accepted| identity(meta) == Some(*accepted))
}

#[cfg(any(target_os = "linux", target_os = "android"))]
#[path = "trust_walk.rs"]
mod walk;

#[cfg(not(any(target_os = "linux", target_os = "android")))]
mod walk {
    //! Elsewhere: the path is opened as the system resolves it, and only the
    //! file itself is checked.
    use super::*;

    pub(super) enum Want {
        File,
        Dir,
    }

    pub(super) struct Reached {
        pub(super) file: Option<File>,
        pub(super) meta: Metadata,
        pub(super) secret_volume: bool,
    }

    pub(super) fn open(path: &Path, want: Want) -> Result<Reached, CheckedError> {
        let file = File::open(path).map_err(CheckedError::Unreadable)?;
        let meta = file.metadata().map_err(CheckedError::Unreadable)?;
        let file = matches!(want, Want::File).then_some(file);
        Ok(Reached {
            file,
            meta,
            secret_volume: false,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_may_be_read_by_its_group_only_in_a_secret_volume() {
        assert!(mode_is_private(0o600, false));
        assert!(mode_is_private(0o400, false));
        for mode in [0o644, 0o640, 0o620, 0o604, 0o602, 0o660, 0o440] {
            assert!(!mode_is_private(mode, false), "{mode:o}");
        }
        assert!(mode_is_private(0o440, true));
        assert!(mode_is_private(0o640, true));
        for mode in [0o460, 0o444, 0o442, 0o470] {
            assert!(!mode_is_private(mode, true), "{mode:o}");
        }
    }
}
