//! Who could have written a file we act on: owner and mode checks on opened files, like ssh's StrictModes.
//!
//! The journal decides which groups are changed on which hosts, and with the
//! operator's token; the token file is the token. Each is checked on the
//! file actually opened (`fstat` on the descriptor, not `stat` then `open`),
//! and opened without following a symbolic link where the rules say so.

use std::fs::{Metadata, OpenOptions};
use std::path::Path;

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

/// Checks an opened regular file that must be ours: owned by the current
/// euid, writable by no one else (no group or other write bit).
pub fn private_file(path: &Path, meta: &Metadata) -> Result<(), Distrust> {
    if !meta.is_file() {
        return Err(Distrust {
            problem: "it is not a regular file".to_owned(),
            fix: format!("move it aside (`mv {0} {0}.bad`)", path.display()),
        });
    }
    owned_by_us(path, meta)?;
    not_writable_by_others(path, meta, "600")
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
    not_writable_by_others(path, meta, "700").map_err(|distrust| {
        if shared(meta) {
            Distrust {
                fix: format!("it is a shared directory: {OWN_DIRECTORY}"),
                ..distrust
            }
        } else {
            Distrust {
                fix: format!("{}, or {OWN_DIRECTORY}", distrust.fix),
                ..distrust
            }
        }
    })
}

/// How to fix a journal directory that is not the user's own: use one that is.
const OWN_DIRECTORY: &str = "keep the journal in a directory only you can write, for example \
                             the default one (~/.local/share/cluster-client/, used when no \
                             --journal is given) or one made with `mkdir -m 700 DIR`, and point \
                             --journal at a file in it";

/// Whether a directory is meant to be shared (sticky, or writable by
/// anyone, like /tmp): never one to make private.
#[cfg(unix)]
fn shared(meta: &Metadata) -> bool {
    use std::os::unix::fs::PermissionsExt;
    let mode = meta.permissions().mode();
    mode & 0o1000 != 0 || mode & 0o002 != 0
}

#[cfg(not(unix))]
fn shared(_: &Metadata) -> bool {
    false
}

#[cfg(unix)]
fn owned_by_us(path: &Path, meta: &Metadata) -> Result<(), Distrust> {
    use std::os::unix::fs::MetadataExt;
    let Some(euid) = euid() else { return Ok(()) };
    if meta.uid() == euid {
        return Ok(());
    }
    Err(Distrust {
        problem: format!(
            "it is owned by uid {}, not by the user running cluster-client (uid {euid}), \
             so that user decides what it says",
            meta.uid()
        ),
        fix: format!(
            "if you trust its contents, take it over (`chown {euid} {}`); otherwise move it \
             aside and use a journal in a directory of your own",
            path.display()
        ),
    })
}

#[cfg(not(unix))]
fn owned_by_us(_: &Path, _: &Metadata) -> Result<(), Distrust> {
    Ok(())
}

#[cfg(unix)]
fn not_writable_by_others(path: &Path, meta: &Metadata, private: &str) -> Result<(), Distrust> {
    use std::os::unix::fs::PermissionsExt;
    let mode = meta.permissions().mode() & 0o7777;
    if mode & 0o022 == 0 {
        return Ok(());
    }
    Err(Distrust {
        problem: format!("its mode {mode:04o} lets group or others write it"),
        fix: format!("`chmod {private} {}`", path.display()),
    })
}

#[cfg(not(unix))]
fn not_writable_by_others(_: &Path, _: &Metadata, _: &str) -> Result<(), Distrust> {
    Ok(())
}
