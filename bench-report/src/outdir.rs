//! The folder a report goes to, checked before anything is measured: a
//! sweep that can only fail at the end throws its minutes away.
//!
//! [`OutDir::prepare`] creates the folder, refuses one that is a symlink or
//! a file, proves it writable with a probe file, and refuses to replace a
//! file that bench-report did not write there. Reports are then written
//! to a temporary file and renamed into place, so a symlink at a report's
//! name is never written through. The files bench-report wrote are listed
//! in `.bench-report` inside the folder; in the default folder
//! (`target/report/`) every report name is bench-report's own.

use anyhow::{bail, Context, Result};
use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};

/// The list of files bench-report wrote in a folder.
const MANIFEST: &str = ".bench-report";

/// A report folder that was checked to be writable.
#[derive(Debug)]
pub struct OutDir {
    dir: PathBuf,
    /// The report names that may be replaced here.
    ours: BTreeSet<String>,
}

impl OutDir {
    /// Check `dir` for writing the files `names` (see the module doc).
    pub fn prepare(dir: &Path, names: &[String]) -> Result<OutDir> {
        let shown = dir.display();
        match std::fs::symlink_metadata(dir) {
            Ok(m) if m.file_type().is_symlink() => {
                bail!("--out {shown} is a symlink: give the folder it points to, or another one")
            }
            Ok(m) if !m.is_dir() => bail!("--out {shown} is not a folder"),
            Ok(_) => {}
            Err(_) => std::fs::create_dir_all(dir)
                .with_context(|| format!("--out {shown}: cannot create the folder"))?,
        }
        let probe = dir.join(format!(".bench-report-probe-{}", std::process::id()));
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&probe)
            .and_then(|mut f| f.write_all(b"probe"))
            .with_context(|| format!("--out {shown}: cannot write a file there"))?;
        let _ = std::fs::remove_file(&probe);

        let default = same_dir(dir, &crate::paths::report_dir());
        let mut ours: BTreeSet<String> = std::fs::read_to_string(dir.join(MANIFEST))
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect();
        for name in names {
            let path = dir.join(name);
            let Ok(m) = std::fs::symlink_metadata(&path) else {
                continue;
            };
            if m.file_type().is_symlink() {
                bail!(
                    "{} is a symlink: reports are not written through one (remove it, or choose another --out)",
                    path.display()
                );
            }
            if !m.is_file() {
                bail!("{} is in the way and not a file", path.display());
            }
            if !default && !ours.contains(name) {
                bail!(
                    "{} was not written by bench-report: it is left alone (move it, or choose another --out)",
                    path.display()
                );
            }
        }
        ours.extend(names.iter().cloned());
        Ok(OutDir {
            dir: dir.to_path_buf(),
            ours,
        })
    }

    pub fn path(&self) -> &Path {
        &self.dir
    }

    /// Write `name` (one of the names given to `prepare`): to a temporary
    /// file, then renamed over the old report, never through a symlink.
    pub fn write(&self, name: &str, contents: impl AsRef<[u8]>) -> Result<PathBuf> {
        debug_assert!(self.ours.contains(name), "{name} was not prepared");
        let path = self.dir.join(name);
        let tmp = self.dir.join(format!(".{name}.{}.tmp", std::process::id()));
        let _ = std::fs::remove_file(&tmp);
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)
            .and_then(|mut f| f.write_all(contents.as_ref()))
            .and_then(|()| std::fs::rename(&tmp, &path))
            .with_context(|| format!("writing {}", path.display()))?;
        let manifest: String = self.ours.iter().map(|n| format!("{n}\n")).collect();
        let list = self.dir.join(MANIFEST);
        if !std::fs::symlink_metadata(&list).is_ok_and(|m| m.file_type().is_symlink()) {
            let _ = std::fs::write(&list, manifest);
        }
        Ok(path)
    }
}

fn same_dir(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("bench-report-outdir-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn a_new_folder_is_created_and_reports_replace_only_their_own() {
        let dir = scratch("new").join("deeper");
        let names = vec!["a.md".to_string()];
        let out = OutDir::prepare(&dir, &names).unwrap();
        out.write("a.md", "one").unwrap();
        // the second run may replace what the first wrote
        let out = OutDir::prepare(&dir, &names).unwrap();
        out.write("a.md", "two").unwrap();
        assert_eq!(std::fs::read_to_string(dir.join("a.md")).unwrap(), "two");
        // a file bench-report did not write is left alone
        std::fs::write(dir.join("b.md"), "mine").unwrap();
        let e = OutDir::prepare(&dir, &["b.md".to_string()]).unwrap_err();
        assert!(e.to_string().contains("not written by bench-report"), "{e}");
        assert_eq!(std::fs::read_to_string(dir.join("b.md")).unwrap(), "mine");
        let _ = std::fs::remove_dir_all(dir.parent().unwrap());
    }

    #[test]
    fn symlinks_and_files_are_refused() {
        let dir = scratch("links");
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("file");
        std::fs::write(&file, "x").unwrap();
        let e = OutDir::prepare(&file, &[]).unwrap_err();
        assert!(e.to_string().contains("not a folder"), "{e}");
        assert!(OutDir::prepare(&file.join("sub"), &[]).is_err());
        let link = dir.join("link");
        std::os::unix::fs::symlink(&dir, &link).unwrap();
        let e = OutDir::prepare(&link, &[]).unwrap_err();
        assert!(e.to_string().contains("symlink"), "{e}");
        // a report name that is a symlink is not written through
        let reports = dir.join("reports");
        std::fs::create_dir_all(&reports).unwrap();
        std::os::unix::fs::symlink(&file, reports.join("a.md")).unwrap();
        let e = OutDir::prepare(&reports, &["a.md".to_string()]).unwrap_err();
        assert!(e.to_string().contains("symlink"), "{e}");
        assert_eq!(std::fs::read_to_string(&file).unwrap(), "x");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
