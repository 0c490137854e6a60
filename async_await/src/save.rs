//! `--save DIR`: a page's body written to `DIR/page-<i>.html`, and nothing
//! else touched. A path that is already there, a plain file or a symlink
//! (live or dangling), is never followed and never replaced by surprise:
//! the page fails by name unless `--force` was given, and then the file is
//! replaced whole by a rename, which replaces a symlink itself, never its
//! target.

use std::fs::{self, OpenOptions};
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};
use workload::{ErrorKind, FetchError, Plan};

/// The lesson's own flags.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct SaveFlags {
    /// Write every page's body to DIR/page-N.html (DIR is created if
    /// missing). tokio, tokio-mt, tokio-offload and reqwest write off the
    /// event loop; mini writes on it (a shortcut its source explains)
    #[arg(long, value_name = "DIR", value_parser = dir_arg)]
    pub save: Option<PathBuf>,
    /// With --save: replace page files that already exist (a symlink is
    /// replaced, never followed)
    #[arg(long, requires = "save")]
    pub force: bool,
}

/// The `--save` value, checked while the command line is parsed, so that a
/// folder that cannot take the pages is a usage error (exit 2) before any
/// page is fetched, not a failure of every page afterwards.
fn dir_arg(dir: &str) -> Result<PathBuf, String> {
    if dir.is_empty() {
        return Err("needs a directory (an empty path would mean the current one)".into());
    }
    let dir = PathBuf::from(dir);
    create(&dir)?;
    // Can a file be made in it? Make one, then take it away.
    let probe = dir.join(format!(".async_await-probe-{}", std::process::id()));
    match OpenOptions::new().write(true).create_new(true).open(&probe) {
        Ok(_) => {
            let _ = fs::remove_file(&probe);
            Ok(dir)
        }
        Err(e) => Err(format!("cannot write in {}: {e}", dir.display())),
    }
}

fn create(dir: &Path) -> Result<(), String> {
    if fs::metadata(dir).is_ok_and(|m| !m.is_dir()) {
        return Err(format!("{} exists and is not a directory", dir.display()));
    }
    fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))
}

/// Where the pages go, and whether existing files may be replaced.
#[derive(Debug, Clone)]
pub struct Dir {
    pub path: PathBuf,
    pub force: bool,
}

impl Dir {
    /// The plan's `--save` directory, created if missing; `None` without
    /// `--save`. (The command line has checked it already; a plan built by
    /// a test or a benchmark is checked here.)
    pub fn of(plan: &Plan) -> Result<Option<Dir>, FetchError> {
        let flags = plan.options::<SaveFlags>();
        let Some(path) = flags.save else {
            return Ok(None);
        };
        create(&path).map_err(|e| FetchError::new(ErrorKind::Io, format!("--save: {e}")))?;
        Ok(Some(Dir {
            path,
            force: flags.force,
        }))
    }

    /// Write page `index`'s body; blocks for as long as the disk takes.
    pub fn write(&self, index: usize, bytes: &[u8]) -> Result<(), FetchError> {
        let path = path(&self.path, index);
        write_file(&path, bytes, self.force).map_err(|e| error(&path, e))
    }
}

/// Where `--save` puts page `index`.
pub fn path(dir: &Path, index: usize) -> PathBuf {
    dir.join(format!("page-{index}.html"))
}

/// The error of a page whose file could not be written.
fn error(path: &Path, e: impl std::fmt::Display) -> FetchError {
    FetchError::new(
        ErrorKind::Io,
        format!("--save: cannot write {}: {e}", path.display()),
    )
}

/// Write `bytes` to a new file at `path`. Without `force`, anything already
/// at `path` is an error. With it, the bytes go to a fresh file beside it,
/// which is then renamed over `path`: a reader sees the old file or the new
/// one, never half of one, and a symlink at `path` is replaced, not followed.
pub fn write_file(path: &Path, bytes: &[u8], force: bool) -> io::Result<()> {
    if !force {
        // O_CREAT | O_EXCL: fails on any existing path, a symlink included,
        // even a dangling one, without following it.
        return write_new(path, bytes).map_err(|e| match e.kind() {
            io::ErrorKind::AlreadyExists => {
                io::Error::new(e.kind(), "it exists; give --force to replace it")
            }
            _ => e,
        });
    }
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    let mut attempt = 0;
    let temp = loop {
        let temp = path.with_file_name(format!(".{name}.{}.{attempt}.tmp", std::process::id()));
        match write_new(&temp, bytes) {
            Ok(()) => break temp,
            // Left over from a run that died between write and rename.
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists && attempt < 8 => attempt += 1,
            Err(e) => return Err(e),
        }
    };
    fs::rename(&temp, path).inspect_err(|_| {
        let _ = fs::remove_file(&temp);
    })
}

fn write_new(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut file = OpenOptions::new().write(true).create_new(true).open(path)?;
    file.write_all(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("async_await-unit-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn an_existing_file_is_kept_without_force_and_replaced_with_it() {
        let dir = scratch("exists");
        let page = dir.join("page-0.html");
        fs::write(&page, b"old").unwrap();
        let e = write_file(&page, b"new", false).unwrap_err();
        assert!(e.to_string().contains("exists; give --force"), "{e}");
        assert_eq!(fs::read(&page).unwrap(), b"old");
        write_file(&page, b"new", true).unwrap();
        assert_eq!(fs::read(&page).unwrap(), b"new");
        // No temporary file is left behind.
        assert_eq!(fs::read_dir(&dir).unwrap().count(), 1);
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_dangling_symlink_is_not_followed() {
        let dir = scratch("dangling");
        let page = dir.join("page-0.html");
        let target = dir.join("not-there");
        std::os::unix::fs::symlink(&target, &page).unwrap();
        assert!(write_file(&page, b"new", false).is_err());
        assert!(!target.exists(), "the write followed the link");
        write_file(&page, b"new", true).unwrap();
        assert!(!target.exists(), "the forced write followed the link");
        assert!(!fs::symlink_metadata(&page).unwrap().is_symlink());
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn the_value_parser_refuses_what_cannot_take_a_page() {
        assert!(dir_arg("").is_err());
        assert!(dir_arg("/proc/nope").is_err());
        let dir = scratch("parser");
        let file = dir.join("a-file");
        fs::write(&file, b"").unwrap();
        assert!(dir_arg(file.to_str().unwrap()).is_err());
        // A usable one is created, and the probe leaves nothing in it.
        let fresh = dir.join("fresh");
        assert_eq!(dir_arg(fresh.to_str().unwrap()).unwrap(), fresh);
        assert_eq!(fs::read_dir(&fresh).unwrap().count(), 0);
        let _ = fs::remove_dir_all(&dir);
    }
}
