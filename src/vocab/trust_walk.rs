//! The StrictModes walk on Linux: from `/` down to a file, one `openat(O_PATH | O_NOFOLLOW)`
//! per component from the directory already checked, symbolic links followed by hand.

use std::collections::VecDeque;
use std::ffi::{OsStr, OsString};
use std::fs::{File, Metadata};
use std::io;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::fs::MetadataExt;
use std::path::{Component, Path, PathBuf};

use rustix::fs::{Mode, OFlags, StatVfsMountFlags};

use super::{CheckedError, Distrust, group_writable_accepted, mode_of, owner_is_trusted};

/// Symbolic links followed while resolving one path, as Linux allows.
const MAX_LINKS: usize = 40;

/// What the path must end on.
pub(super) enum Want {
    /// A file to read: the walk opens it for reading when it is a regular file.
    File,
    /// A directory: the walk only checks it and everything above it.
    Dir,
}

/// Where a walk ended.
pub(super) struct Reached {
    /// The file, opened for reading; `None` for [`Want::Dir`] and for
    /// anything that is not a regular file.
    pub(super) file: Option<File>,
    /// What the path ended on (not followed: never a link).
    pub(super) meta: Metadata,
    /// Whether the file sits in a Kubernetes Secret or ConfigMap volume's
    /// atomic-writer layout: reached through a root-owned `..data` link, in
    /// the `..<timestamp>` directory that link names.
    pub(super) secret_volume: bool,
}

/// One component of a path still to walk.
enum Step {
    Root,
    Up,
    Name(OsString),
}

/// A directory on the way, checked before anything in it is looked up.
struct Dir {
    /// An `O_PATH` handle: enough to look up entries, stat and statfs it.
    handle: File,
    meta: Metadata,
    /// Where it is, as walked (links resolved), for messages.
    path: PathBuf,
}

/// Walks `path` (from the working directory, itself walked from `/`, when it
/// is relative) and checks every directory, link and the end by the rules of
/// [`super::read_checked`].
pub(super) fn open(path: &Path, want: Want) -> Result<Reached, CheckedError> {
    let mut walk = Walk {
        steps: VecDeque::new(),
        stack: vec![Dir::root()?],
        links: 0,
        data_link: None,
    };
    if path.is_relative() {
        let cwd = std::env::current_dir().map_err(CheckedError::Unreadable)?;
        walk.steps.extend(steps_of(&cwd));
    }
    walk.steps.extend(steps_of(path));
    while let Some(step) = walk.steps.pop_front() {
        match step {
            Step::Root => walk.stack.truncate(1),
            Step::Up if walk.stack.len() > 1 => drop(walk.stack.pop()),
            Step::Up => {}
            Step::Name(name) => {
                if let Some(reached) = walk.enter(&name, &want)? {
                    return Ok(reached);
                }
            }
        }
    }
    let end = walk.stack.pop().expect("the root is never popped");
    Ok(Reached {
        file: None,
        meta: end.meta,
        secret_volume: false,
    })
}

/// A walk in progress.
struct Walk {
    /// What is left of the path, links expanded in place.
    steps: VecDeque<Step>,
    /// The directories from `/` to where the walk is, each checked.
    stack: Vec<Dir>,
    /// The symbolic links followed so far.
    links: usize,
    /// The depth of the directory holding a root-owned `..data` link that
    /// was followed, to recognise the kubelet's atomic-writer layout.
    data_link: Option<usize>,
}

impl Walk {
    /// Looks up `name` in the current directory and checks the directory
    /// for it: a link is expanded, a directory entered, and the end of the
    /// path returned (opened for reading when a file is wanted).
    fn enter(&mut self, name: &OsStr, want: &Want) -> Result<Option<Reached>, CheckedError> {
        let dir = self.stack.last().expect("the root is never popped");
        let (handle, meta) = dir.lookup(name)?;
        let entry = dir.path.join(name);
        dir.allows(&entry, &meta)?;
        if meta.file_type().is_symlink() {
            self.links += 1;
            check_link(&entry, &meta, self.links)?;
            if name.as_bytes() == b"..data" && meta.uid() == 0 {
                self.data_link = Some(self.stack.len());
            }
            let target = read_link(&handle)?;
            for step in steps_of(&target).into_iter().rev() {
                self.steps.push_front(step);
            }
            return Ok(None);
        }
        if self.steps.is_empty() && matches!(want, Want::File) {
            let secret_volume = self.data_link == Some(self.stack.len() - 1)
                && dir
                    .path
                    .file_name()
                    .is_some_and(|n| n.as_bytes().starts_with(b".."));
            let file = if meta.is_file() {
                Some(dir.open_file(name, &meta)?)
            } else {
                None
            };
            return Ok(Some(Reached {
                file,
                meta,
                secret_volume,
            }));
        }
        self.stack.push(Dir {
            handle,
            meta,
            path: entry,
        });
        Ok(None)
    }
}

fn steps_of(path: &Path) -> Vec<Step> {
    path.components()
        .filter_map(|component| match component {
            Component::RootDir | Component::Prefix(_) => Some(Step::Root),
            Component::CurDir => None,
            Component::ParentDir => Some(Step::Up),
            Component::Normal(name) => Some(Step::Name(name.to_owned())),
        })
        .collect()
}

impl Dir {
    fn root() -> Result<Self, CheckedError> {
        let flags = OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC;
        let handle = rustix::fs::openat(rustix::fs::CWD, "/", flags, Mode::empty())
            .map(File::from)
            .map_err(|e| CheckedError::Unreadable(e.into()))?;
        let meta = handle.metadata().map_err(CheckedError::Unreadable)?;
        Ok(Self {
            handle,
            meta,
            path: PathBuf::from("/"),
        })
    }

    /// `name` in this directory, itself and not what it points to.
    fn lookup(&self, name: &OsStr) -> Result<(File, Metadata), CheckedError> {
        let flags = OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        let handle = rustix::fs::openat(&self.handle, name, flags, Mode::empty())
            .map(File::from)
            .map_err(|e| CheckedError::Unreadable(e.into()))?;
        let meta = handle.metadata().map_err(CheckedError::Unreadable)?;
        Ok((handle, meta))
    }

    /// Opens the regular file `name` for reading, and makes sure it is the
    /// one that was looked up and checked.
    fn open_file(&self, name: &OsStr, checked: &Metadata) -> Result<File, CheckedError> {
        let flags = OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC;
        let file = rustix::fs::openat(&self.handle, name, flags, Mode::empty())
            .map(File::from)
            .map_err(|e| CheckedError::Unreadable(e.into()))?;
        let meta = file.metadata().map_err(CheckedError::Unreadable)?;
        if (meta.dev(), meta.ino()) != (checked.dev(), checked.ino()) {
            return Err(Distrust {
                problem: "it was replaced while it was being checked".to_owned(),
                fix: "run the command again once nothing changes the file".to_owned(),
            }
            .into());
        }
        Ok(file)
    }

    /// Whether no one but the user or root can rename `entry` (found in this
    /// directory) away or put something else in its place.
    fn allows(&self, entry: &Path, found: &Metadata) -> Result<(), Distrust> {
        let dir = self.path.display();
        let owner = self.meta.uid();
        if !owner_is_trusted(owner) {
            return Err(Distrust {
                problem: format!(
                    "the directory {dir} on its way is owned by uid {owner}, neither you nor \
                     root, so that user decides what it holds"
                ),
                fix: "keep the file in directories owned by you or by root".to_owned(),
            });
        }
        let mode = mode_of(&self.meta);
        if mode & 0o022 == 0 || self.is_read_only() {
            return Ok(());
        }
        if mode & 0o1000 != 0 {
            if owner_is_trusted(found.uid()) {
                return Ok(());
            }
            return Err(Distrust {
                problem: format!(
                    "{} is owned by uid {}, neither you nor root, in the directory {dir} \
                     that others may write (mode {mode:04o}), so that user decides what it is",
                    entry.display(),
                    found.uid()
                ),
                fix: format!("use a path that does not go through {}", entry.display()),
            });
        }
        if mode & 0o002 == 0 && group_writable_accepted(&self.meta) {
            return Ok(());
        }
        let mut fix = format!(
            "`chmod go-w {dir}`, or keep the file in a directory that only you or root can \
             write"
        );
        if mode & 0o002 == 0 {
            fix.push_str(&format!(
                "; only for the root of a Kubernetes volume with fsGroup: \
                 --trust-group-writable {dir}"
            ));
        }
        Err(Distrust {
            problem: format!(
                "the directory {dir} on its way has mode {mode:04o}: group or others may \
                 write it, so another user could rename {} away and put another one, or an \
                 old one, in its place",
                entry
                    .file_name()
                    .map_or_else(|| entry.display().to_string(), |n| n.display().to_string())
            ),
            fix,
        })
    }

    /// Whether the directory is on a read-only mount, which no one can
    /// write through (not even its owner).
    fn is_read_only(&self) -> bool {
        rustix::fs::fstatvfs(&self.handle)
            .is_ok_and(|stat| stat.f_flag.contains(StatVfsMountFlags::RDONLY))
    }
}

fn check_link(link: &Path, meta: &Metadata, links: usize) -> Result<(), Distrust> {
    if links > MAX_LINKS {
        return Err(Distrust {
            problem: format!("it goes through more than {MAX_LINKS} symbolic links"),
            fix: "point the option at the real file".to_owned(),
        });
    }
    if owner_is_trusted(meta.uid()) {
        return Ok(());
    }
    Err(Distrust {
        problem: format!(
            "it goes through the symbolic link {}, owned by uid {}; only links owned by you \
             or by root are followed, as anyone else could point it at another file",
            link.display(),
            meta.uid()
        ),
        fix: "point the option at the real file, or replace the link with one of your own"
            .to_owned(),
    })
}

/// The target of the link `handle` (an `O_PATH | O_NOFOLLOW` handle) names.
fn read_link(handle: &File) -> Result<PathBuf, CheckedError> {
    let target = rustix::fs::readlinkat(handle, "", Vec::new())
        .map_err(|e| CheckedError::Unreadable(io::Error::from(e)))?;
    Ok(PathBuf::from(OsString::from_vec(target.into_bytes())))
}
