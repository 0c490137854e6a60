//! The lesson binaries and `page-server`: where they are, the nested
//! `cargo build` that makes them match the lesson tables compiled into this
//! program, and what to do when one is missing.

use crate::jobs::Job;
use crate::paths;
use anyhow::anyhow;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The page server's binary, in the `workload` package.
pub const PAGE_SERVER: &str = "page-server";

/// Where the binaries are, and whether this program may build them.
#[derive(Debug, Clone)]
pub struct Binaries {
    pub dir: PathBuf,
    /// `--no-build` was not given.
    pub build: bool,
}

/// Cargo's profile flags for binaries that live in `dir` (target/release,
/// target/debug, target/<profile>); `None` when no cargo profile builds
/// into `dir`.
pub fn profile_args(dir: &Path) -> Option<Vec<String>> {
    match dir.file_name()?.to_str()? {
        "release" => Some(vec!["--release".into()]),
        "debug" => Some(Vec::new()),
        "deps" | "examples" => None,
        // target/<profile>: its parent is cargo's target directory.
        other if dir.parent()?.join("CACHEDIR.TAG").is_file() => {
            Some(vec!["--profile".into(), other.into()])
        }
        _ => None,
    }
}

/// The package a binary comes from.
fn package(bin: &str) -> &str {
    if bin == PAGE_SERVER {
        "workload"
    } else {
        bin
    }
}

impl Binaries {
    /// From `--bin-dir` (by default the folder of this executable) and
    /// `--no-build`.
    pub fn from_flags(bin_dir: Option<PathBuf>, no_build: bool) -> anyhow::Result<Binaries> {
        let dir = match bin_dir {
            Some(d) => d,
            None => std::env::current_exe()
                .map_err(|e| anyhow!("finding this executable: {e}"))?
                .parent()
                .map(Path::to_path_buf)
                .ok_or_else(|| anyhow!("this executable has no directory"))?,
        };
        Ok(Binaries {
            dir,
            build: !no_build,
        })
    }

    /// Build page-server and the jobs' lesson binaries with cargo when cargo
    /// started us (`cargo run` sets `CARGO`) and `dir` is a cargo profile's
    /// folder. Returns the lessons that failed to build, with why.
    pub fn build(&self, jobs: &[Job], who: &str) -> Vec<(&'static str, String)> {
        let lessons: Vec<&'static str> = jobs.iter().map(|j| j.lesson.name).collect();
        self.build_lessons(&lessons, who)
    }

    /// [`Binaries::build`] for the binaries of the lessons named.
    pub fn build_lessons(
        &self,
        lessons: &[&'static str],
        who: &str,
    ) -> Vec<(&'static str, String)> {
        let Some(cargo) = std::env::var_os("CARGO").filter(|_| self.build) else {
            return Vec::new();
        };
        let Some(profile) = profile_args(&self.dir) else {
            return Vec::new();
        };
        let mut packages: Vec<&'static str> = vec!["workload"];
        for l in lessons {
            if !packages.contains(l) {
                packages.push(l);
            }
        }
        let cargo_build = |pkgs: &[&str]| -> bool {
            let mut c = Command::new(&cargo);
            c.arg("build").args(&profile).arg("--bins").arg("--quiet");
            for p in pkgs {
                c.args(["-p", p]);
            }
            c.current_dir(paths::workspace_root()).stdin(Stdio::null());
            c.status().is_ok_and(|s| s.success())
        };
        eprintln!(
            "{who}: cargo build {}--bins -p {} (to match the lesson tables)",
            profile.iter().map(|p| format!("{p} ")).collect::<String>(),
            packages.join(" -p ")
        );
        if cargo_build(&packages) {
            return Vec::new();
        }
        // One at a time, to find which one does not build.
        packages
            .iter()
            .filter(|p| !cargo_build(&[p]))
            .map(|p| {
                (
                    *p,
                    format!(
                        "`cargo build {}-p {p}` failed: run it to see why",
                        profile.join(" ") + " "
                    ),
                )
            })
            .collect()
    }

    /// The path of binary `name`, or why it is not there and what to do.
    pub fn find(&self, name: &str) -> Result<PathBuf, String> {
        let path = self.dir.join(name);
        if path.is_file() {
            return Ok(path);
        }
        let target = match package(name) {
            p if p == name => format!("-p {p}"),
            p => format!("-p {p} --bin {name}"),
        };
        let how = match profile_args(&self.dir) {
            Some(p) if p.is_empty() => format!("run `cargo build {target}`"),
            Some(p) => format!("run `cargo build {} {target}`", p.join(" ")),
            None => format!(
                "no cargo profile builds into {}: build the lesson binaries into it, or {}",
                self.dir.display(),
                if self.build {
                    "leave out --bin-dir"
                } else {
                    "drop --no-build and --bin-dir"
                }
            ),
        };
        let or = if profile_args(&self.dir).is_some() {
            if self.build {
                " (or start this command with `cargo run --release -p bench-report -- ...`, which builds it)"
            } else {
                " (or drop --no-build)"
            }
        } else {
            ""
        };
        Err(format!("{} is missing: {how}{or}", paths::display(&path)))
    }
}

/// The binaries, built and found: page-server, and each lesson's binary or
/// why it is missing.
#[derive(Debug)]
pub struct Ready {
    pub page_server: PathBuf,
    lessons: BTreeMap<&'static str, Result<PathBuf, String>>,
}

impl Ready {
    /// `job`'s lesson binary, or why there is none.
    pub fn lesson(&self, job: &Job) -> Result<&Path, &str> {
        match self.lessons.get(job.lesson.name) {
            Some(Ok(p)) => Ok(p),
            Some(Err(why)) => Err(why),
            None => Err("not asked for"),
        }
    }
}

impl Binaries {
    /// Build (see [`Binaries::build`]) and find every binary `jobs` need;
    /// `Err` when page-server itself is missing.
    pub fn ready(&self, jobs: &[Job], who: &str) -> Result<Ready, String> {
        let broken = self.build(jobs, who);
        let page_server = self.find(PAGE_SERVER)?;
        let mut lessons = BTreeMap::new();
        for j in jobs {
            lessons.entry(j.lesson.name).or_insert_with(|| {
                match broken.iter().find(|(p, _)| *p == j.lesson.name) {
                    Some((_, why)) => Err(why.clone()),
                    None => self.find(j.lesson.name),
                }
            });
        }
        Ok(Ready {
            page_server,
            lessons,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn profiles_follow_the_binary_directory() {
        assert_eq!(
            profile_args(Path::new("target/release")),
            Some(vec!["--release".into()])
        );
        assert_eq!(profile_args(Path::new("target/debug")), Some(vec![]));
        assert_eq!(profile_args(Path::new("target/debug/deps")), None);
        assert_eq!(profile_args(Path::new("/nonexistent")), None);
        let b = Binaries {
            dir: PathBuf::from("/nonexistent/release"),
            build: true,
        };
        let e = b.find(PAGE_SERVER).unwrap_err();
        assert!(
            e.contains("cargo build --release -p workload --bin page-server"),
            "{e}"
        );
    }

    #[test]
    fn a_folder_no_profile_builds_into_gets_no_cargo_profile_advice() {
        let b = Binaries {
            dir: PathBuf::from("/nonexistent"),
            build: false,
        };
        let e = b.find(PAGE_SERVER).unwrap_err();
        assert!(!e.contains("--profile"), "{e}");
        assert!(
            e.contains("build the lesson binaries into it, or drop --no-build"),
            "{e}"
        );
    }
}
