//! One run of one lesson variant as a child process, with `--json`: its
//! wall time, pages and peak memory from its own report, its CPU and
//! context switches from the kernel (`wait4`, see `child.rs`), and why the
//! run does not count when it does not.

use crate::binaries::Ready;
use crate::child::{self, Exit, Usage};
use crate::decide::Decision;
use crate::jobs::Job;
use crate::numbers::to_ms;
use crate::status::Status;
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;
use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::path::Path;
use std::process::Command;
use std::time::Duration;
use workload::{Report, Trace};

/// How to run a lesson binary.
#[derive(Debug, Clone, Copy)]
pub struct Launch<'a> {
    /// The page server's URL.
    pub url: &'a str,
    pub latency_ms: u64,
    pub pages: usize,
    /// `--cpu-us`, when not zero.
    pub cpu_us: u64,
    /// `--lesson-args` for this lesson.
    pub extra: &'a [String],
    pub limit: Duration,
}

impl Launch<'_> {
    /// A page's `--timeout-ms`: the default 10 s, or more for long
    /// latencies and for CPU work that may all come before a page's read.
    pub fn page_timeout_ms(&self) -> u64 {
        let work_ms = self.pages as u64 * self.cpu_us / 1000;
        (2 * self.latency_ms + 5_000 + 2 * work_ms).max(10_000)
    }
}

/// One run, as measured.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Run {
    pub exit: String,
    /// The lesson's own wall time (its report's `wall_ms`).
    pub wall_ms: Option<f64>,
    /// Spawn to exit, as this program saw it.
    pub process_wall_ms: f64,
    /// From wait4: the child and every process it waited for. Its
    /// ru_maxrss also counts this program's own peak, carried across exec:
    /// kept for reference, not shown in the tables.
    #[serde(flatten)]
    pub usage: Usage,
    /// The lesson's peak RSS (its VmHWM, or its largest worker's), from its report.
    pub max_rss_kb: Option<u64>,
    pub in_flight: Option<usize>,
    pub ok: Option<usize>,
    pub failed: Option<usize>,
    /// Why this run does not count, when it does not.
    pub problem: Option<String>,
    #[serde(skip)]
    pub traces: Vec<Trace>,
}

impl Run {
    pub fn cpu_ms(&self) -> f64 {
        to_ms(self.usage.cpu())
    }

    /// "1234 ms", or why the run does not count: a progress line.
    pub fn summary(&self) -> String {
        match (&self.problem, self.wall_ms) {
            (None, Some(w)) => format!("{} ms", crate::numbers::ms(w)),
            (Some(p), _) => p.clone(),
            (None, None) => "no time".into(),
        }
    }
}

/// One cell to run: a variant at N pages, within a time limit.
#[derive(Debug, Clone, Copy)]
pub struct Slot<'a> {
    pub job: Job,
    pub bin: &'a Path,
    pub pages: usize,
    pub limit: Duration,
}

/// One cell of a table, decided: its status (`Ran(None)` while it is yet
/// to run) and, when it runs, its slot.
#[derive(Debug, Clone)]
pub struct Scheduled<'a> {
    pub job: Job,
    pub pages: usize,
    pub status: Status,
    pub slot: Option<Slot<'a>>,
}

/// Decide every (job, pages) by `rule`; a job whose binary is missing is
/// not run, and says why.
pub fn schedule<'a>(
    ready: &'a Ready,
    cells: impl IntoIterator<Item = (Job, usize)>,
    rule: impl Fn(&Job, usize) -> Decision,
) -> Vec<Scheduled<'a>> {
    cells
        .into_iter()
        .map(|(job, pages)| {
            let (decision, bin) = match ready.lesson(&job) {
                Err(why) => (Decision::NotRun(why.to_string()), None),
                Ok(bin) => (rule(&job, pages), Some(bin)),
            };
            let slot = match (&decision, bin) {
                (Decision::Run { limit }, Some(bin)) => Some(Slot {
                    job,
                    bin,
                    pages,
                    limit: *limit,
                }),
                _ => None,
            };
            Scheduled {
                job,
                pages,
                status: decision.status().unwrap_or(Status::Ran(None)),
                slot,
            }
        })
        .collect()
}

/// Runs to make: slots × repeats.
pub fn count(cells: &[Scheduled], batch: &Batch) -> usize {
    cells.iter().filter(|c| c.slot.is_some()).count() * batch.repeat
}

/// Run the cells that run (see [`run_all`]); the runs of every cell, none
/// for a cell not run.
pub fn run_scheduled(
    cells: &[Scheduled],
    batch: &Batch,
    extra: &BTreeMap<&'static str, Vec<String>>,
) -> Vec<Vec<Run>> {
    let slots: Vec<Slot> = cells.iter().filter_map(|c| c.slot).collect();
    let mut runs = run_all(&slots, batch, extra).into_iter();
    cells
        .iter()
        .map(|c| match c.slot {
            Some(_) => runs.next().unwrap_or_default(),
            None => Vec::new(),
        })
        .collect()
}

/// What every run of a batch shares.
#[derive(Debug, Clone, Copy)]
pub struct Batch<'a> {
    pub url: &'a str,
    pub latency_ms: u64,
    pub cpu_us: u64,
    pub repeat: usize,
}

/// Run every slot `batch.repeat` times (slots of the same N next to each
/// other), the runs of one N interleaved (a
/// burst of load on the machine spreads over every variant instead of
/// spoiling one), with a progress bar on a terminal and a line per run
/// otherwise, each lesson with its `extra` flags. Returns the runs of
/// each slot.
pub fn run_all(
    slots: &[Slot],
    batch: &Batch,
    extra: &BTreeMap<&'static str, Vec<String>>,
) -> Vec<Vec<Run>> {
    let total = slots.len() * batch.repeat;
    let bar = if std::io::stderr().is_terminal() {
        let bar = ProgressBar::new(total as u64);
        bar.set_style(
            ProgressStyle::with_template(
                "{bar:30.cyan/blue} {pos}/{len} [{elapsed_precise}] {msg}",
            )
            .expect("a valid template"),
        );
        bar
    } else {
        ProgressBar::hidden()
    };
    let mut runs: Vec<Vec<Run>> = slots.iter().map(|_| Vec::new()).collect();
    let mut done = 0;
    let mut start = 0;
    while start < slots.len() {
        let n = slots[start].pages;
        let end = start + slots[start..].iter().take_while(|s| s.pages == n).count();
        for rep in 0..batch.repeat {
            for (k, slot) in slots.iter().enumerate().take(end).skip(start) {
                let label = format!("N={n} {} run {}/{}", slot.job.name(), rep + 1, batch.repeat);
                bar.set_message(label.clone());
                let launch = Launch {
                    url: batch.url,
                    latency_ms: batch.latency_ms,
                    pages: n,
                    cpu_us: batch.cpu_us,
                    extra: extra.get(slot.job.lesson.name).map_or(&[], Vec::as_slice),
                    limit: slot.limit,
                };
                let run = run_once(slot.bin, &slot.job, &launch);
                done += 1;
                let line = format!("[{done:>4}/{total}] {label}: {}", run.summary());
                if bar.is_hidden() {
                    eprintln!("{line}");
                } else if run.problem.is_some() {
                    bar.println(line);
                }
                bar.inc(1);
                runs[k].push(run);
                if n >= 1000 {
                    // Let the last run's sockets close before the next.
                    std::thread::sleep(Duration::from_millis(200));
                }
            }
        }
        start = end;
    }
    bar.finish_and_clear();
    runs
}

/// Run `job`'s binary `bin` as `launch` says.
pub fn run_once(bin: &Path, job: &Job, launch: &Launch) -> Run {
    let mut c = Command::new(bin);
    c.args(["--json", "--url", launch.url])
        .args(["--latency-ms", &launch.latency_ms.to_string()])
        .args(["--pages", &launch.pages.to_string()])
        .args(["--variant", job.variant.name])
        .args(["--timeout-ms", &launch.page_timeout_ms().to_string()]);
    if launch.cpu_us > 0 {
        c.args(["--cpu-us", &launch.cpu_us.to_string()]);
    }
    c.args(launch.extra);
    let f = match child::run(c, launch.limit) {
        Ok(f) => f,
        Err(e) => {
            return Run {
                exit: "not started".into(),
                problem: Some(format!("could not start {}: {e}", bin.display())),
                ..Run::default()
            }
        }
    };
    let mut run = Run {
        exit: match f.exit {
            Exit::Code(c) => format!("exit {c}"),
            Exit::Signal(s) => format!("signal {s}"),
            Exit::TimedOut => "killed".into(),
        },
        process_wall_ms: to_ms(f.wall),
        usage: f.usage,
        ..Run::default()
    };
    let report: Option<Report> = serde_json::from_slice(&f.stdout).ok();
    if let Some(r) = &report {
        run.wall_ms = Some(r.wall_ms);
        run.max_rss_kb = Some(r.max_rss_kb);
        run.in_flight = Some(r.in_flight);
        run.ok = Some(r.ok);
        run.failed = Some(r.failed);
        run.traces = r.traces.clone();
    }
    run.problem = match (f.exit, &report) {
        (Exit::TimedOut, _) => Some(format!(
            "killed at the {:.0} s time limit",
            launch.limit.as_secs_f64()
        )),
        (Exit::Signal(s), _) => Some(format!("killed by signal {s}")),
        (Exit::Code(0), Some(r)) if r.failed == 0 && r.ok == launch.pages => None,
        (Exit::Code(_), Some(r)) => Some(failures(r)),
        (Exit::Code(c), None) => Some(format!(
            "exit {c} without a report: {}",
            f.first_error_line().unwrap_or_else(|| "no message".into())
        )),
    };
    run
}

/// "12 of 10000 pages failed: timeout (3), refused (9)".
pub fn failures(r: &Report) -> String {
    let mut kinds: BTreeMap<String, usize> = BTreeMap::new();
    for t in r.failures() {
        let kind = t
            .error_kind()
            .map_or_else(|| "not finished".to_string(), |k| k.to_string());
        *kinds.entry(kind).or_default() += 1;
    }
    let missing = r.pages.saturating_sub(r.traces.len());
    if missing > 0 {
        kinds.insert("no trace".into(), missing);
    }
    let list: Vec<String> = kinds.iter().map(|(k, n)| format!("{k} ({n})")).collect();
    let first = r
        .failures()
        .next()
        .and_then(|t| t.error.clone())
        .map(|e| {
            format!(
                "; first: {}",
                e.to_string().chars().take(100).collect::<String>()
            )
        })
        .unwrap_or_default();
    format!(
        "{} of {} pages failed: {}{first}",
        r.pages - r.ok.min(r.pages),
        r.pages,
        list.join(", ")
    )
}
