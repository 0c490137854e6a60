//! Which lesson variants to run: `--models` and `--lesson-args`, read
//! against the lesson tables, shared by the sweep and the cpu command.

use crate::LESSONS;
use anyhow::{anyhow, bail, Result};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;
use workload::{Lesson, Plan, Variant};

/// The flags the sweep and the cpu command share: what to run, where the
/// binaries are, where the report goes.
#[derive(Debug, clap::Args)]
pub struct Shared {
    /// Only these lessons, or lesson/variant pairs, comma separated
    /// (e.g. callback_loop,multi_thread/pool) [default: every lesson].
    #[arg(long, value_name = "LESSON[/VARIANT],...", value_delimiter = ',')]
    pub models: Vec<String>,

    /// Kill a run (and its worker processes) after this many seconds
    /// [default: twice its expected time plus 30 s].
    #[arg(long, value_name = "S")]
    pub time_limit_s: Option<f64>,

    /// Port of the page server on 127.0.0.1 [default: a free one].
    #[arg(long)]
    pub port: Option<u16>,

    /// Where to write the report [default: target/report].
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,

    /// Where the lesson binaries and page-server are [default: next to this executable].
    #[arg(long, value_name = "DIR")]
    pub bin_dir: Option<PathBuf>,

    /// Extra flags for one lesson's binary, e.g. --lesson-args coroutine="--stack-kb 8"
    /// (repeat the option for more lessons).
    #[arg(long = "lesson-args", value_name = "LESSON=FLAGS")]
    pub lesson_args: Vec<String>,

    /// Do not run `cargo build` for the binaries first (it is skipped anyway
    /// when cargo did not start this program).
    #[arg(long)]
    pub no_build: bool,
}

/// [`Shared`] with the defaults resolved.
#[derive(Debug)]
pub struct Setup {
    pub jobs: Vec<Job>,
    /// `--lesson-args`, by lesson.
    pub extra: BTreeMap<&'static str, Vec<String>>,
    pub time_limit: Option<Duration>,
    pub port: u16,
    pub out: PathBuf,
    pub bins: crate::binaries::Binaries,
    /// The command line, for "Reproduce:".
    pub command: String,
}

impl Shared {
    pub fn resolve(self) -> Result<Setup> {
        let bins = crate::binaries::Binaries::from_flags(self.bin_dir, self.no_build)?;
        Ok(Setup {
            jobs: select(&self.models)?,
            extra: lesson_args(&self.lesson_args)?,
            time_limit: seconds("time-limit-s", self.time_limit_s)?,
            port: self.port.unwrap_or(0),
            out: self.out.unwrap_or_else(crate::paths::report_dir),
            bins,
            command: this_command(),
        })
    }
}

impl Setup {
    /// The jobs' distinct lessons, in order.
    pub fn lessons(&self) -> Vec<&'static Lesson> {
        let mut out: Vec<&'static Lesson> = Vec::new();
        for j in &self.jobs {
            if !out.iter().any(|l| std::ptr::eq(*l, j.lesson)) {
                out.push(j.lesson);
            }
        }
        out
    }
}

/// `--NAME S`: a number of seconds above 0 and at most a day.
pub fn seconds(name: &str, v: Option<f64>) -> Result<Option<Duration>> {
    match v {
        Some(s) if !(s.is_finite() && s > 0.0 && s <= 86_400.0) => {
            bail!("--{name} {s}: give a number of seconds above 0 and at most 86400")
        }
        Some(s) => Ok(Some(Duration::from_secs_f64(s))),
        None => Ok(None),
    }
}

/// One lesson variant to run.
#[derive(Debug, Clone, Copy)]
pub struct Job {
    pub lesson: &'static Lesson,
    pub variant: &'static Variant,
}

impl Job {
    pub fn name(&self) -> String {
        format!("{} / {}", self.lesson.name, self.variant.name)
    }

    pub fn is(&self, other: &Job) -> bool {
        std::ptr::eq(self.variant, other.variant)
    }

    /// Pages in flight and the ideal time in ms at `pages`, from the
    /// variant's own concurrency.
    pub fn shape(&self, pages: usize, latency_ms: u64) -> (usize, f64) {
        let mut plan = Plan::new("http://127.0.0.1:9", pages).expect("a literal URL");
        plan.latency = Some(Duration::from_millis(latency_ms));
        plan.workers = Some(self.variant.concurrency.limit(&plan));
        let ideal = plan.ideal().map_or(0.0, crate::numbers::to_ms);
        (plan.in_flight(), ideal)
    }
}

/// Every variant of every lesson.
pub fn every_job() -> Vec<Job> {
    LESSONS
        .iter()
        .flat_map(|&lesson| {
            lesson
                .variants
                .iter()
                .map(move |variant| Job { lesson, variant })
        })
        .collect()
}

/// The lesson variants named by `--models` (every one when empty).
pub fn select(models: &[String]) -> Result<Vec<Job>> {
    let names = || {
        LESSONS
            .iter()
            .map(|l| l.name)
            .collect::<Vec<_>>()
            .join(", ")
    };
    if models.is_empty() {
        return Ok(every_job());
    }
    let mut jobs: Vec<Job> = Vec::new();
    for m in models.iter().map(|m| m.trim()).filter(|m| !m.is_empty()) {
        let (lesson, vname) = model(m)?;
        let variants: Vec<&'static Variant> = match vname {
            None => lesson.variants.iter().collect(),
            Some(v) => vec![lesson.variant(v).ok_or_else(|| {
                let list: Vec<&str> = lesson.variants.iter().map(|v| v.name).collect();
                anyhow!(
                    "--models: {} has no variant '{v}'; it has {}",
                    lesson.name,
                    list.join(", ")
                )
            })?],
        };
        for variant in variants {
            let job = Job { lesson, variant };
            if !jobs.iter().any(|j| j.is(&job)) {
                jobs.push(job);
            }
        }
    }
    if jobs.is_empty() {
        bail!("--models: name at least one lesson ({})", names());
    }
    Ok(jobs)
}

/// One name of `--models`, `LESSON` or `LESSON/NAME` (a variant or a
/// server): the lesson and the name after the slash.
pub fn model(m: &str) -> Result<(&'static Lesson, Option<&str>)> {
    let (lname, name) = match m.split_once('/') {
        Some((l, n)) => (l.trim(), Some(n.trim())),
        None => (m, None),
    };
    let lesson = crate::lesson(lname).ok_or_else(|| {
        let names: Vec<&str> = LESSONS.iter().map(|l| l.name).collect();
        anyhow!(
            "--models: no lesson '{lname}'; the lessons are {}",
            names.join(", ")
        )
    })?;
    Ok((lesson, name))
}

/// `--lesson-args LESSON=FLAGS`, by lesson.
pub fn lesson_args(given: &[String]) -> Result<BTreeMap<&'static str, Vec<String>>> {
    let mut extra: BTreeMap<&'static str, Vec<String>> = BTreeMap::new();
    for a in given {
        let (name, flags) = a.split_once('=').ok_or_else(|| {
            anyhow!("--lesson-args '{a}': write LESSON=FLAGS, e.g. coroutine=\"--stack-kb 8\"")
        })?;
        let lesson = crate::lesson(name.trim())
            .ok_or_else(|| anyhow!("--lesson-args: no lesson '{}'", name.trim()))?;
        extra
            .entry(lesson.name)
            .or_default()
            .extend(flags.split_whitespace().map(String::from));
    }
    Ok(extra)
}

/// The command line that started this program, to print as "Reproduce:".
pub fn this_command() -> String {
    let shown: Vec<String> = std::env::args()
        .skip(1)
        .map(|a| if a.contains(' ') { format!("'{a}'") } else { a })
        .collect();
    format!("cargo run --release -p bench-report -- {}", shown.join(" "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn models_select_lessons_and_variants_from_the_tables() {
        let all = select(&[]).unwrap();
        let expected: usize = LESSONS.iter().map(|l| l.variants.len()).sum();
        assert_eq!(all.len(), expected);
        let first = LESSONS[0];
        let jobs = select(&[
            format!("{}/{}", first.name, first.variants[0].name),
            first.name.into(),
        ])
        .unwrap();
        assert_eq!(jobs.len(), first.variants.len(), "no duplicates");
        let e = select(&["nope".into()]).unwrap_err().to_string();
        assert!(
            e.contains("no lesson 'nope'") && e.contains(first.name),
            "{e}"
        );
        let e = select(&[format!("{}/nope", first.name)])
            .unwrap_err()
            .to_string();
        assert!(e.contains("no variant 'nope'"), "{e}");
        assert!(select(&[" ".into()]).is_err());
    }

    #[test]
    fn lesson_args_go_to_their_lesson() {
        let name = LESSONS[0].name;
        let extra = lesson_args(&[format!("{name}=--a 1"), format!("{name}= --b")]).unwrap();
        assert_eq!(extra[name], ["--a", "1", "--b"]);
        assert!(lesson_args(&["nope=--a".into()]).is_err());
        let e = lesson_args(&[name.into()]).unwrap_err().to_string();
        assert!(e.contains("LESSON=FLAGS"), "{e}");
    }
}
