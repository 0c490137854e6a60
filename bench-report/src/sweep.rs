//! The sweep: every lesson binary against one `page-server` process, from
//! 10 to 10,000 pages.
//!
//! ```text
//! cargo run --release -p bench-report -- sweep [--pages 10,100,1000,10000]
//!     [--latency-ms 1000] [--repeat 3] [--models callback_loop,multi_thread/pool] [--quick]
//! ```
//!
//! The page server runs as a process of its own: one process holding both
//! ends of 10,000 connections would need 20,000 descriptors, the hard
//! limit here. Each lesson variant runs as a child process with `--json`;
//! its wall time and traces come from its report, its CPU time (user +
//! system of the child and of every process it waited for) and context
//! switches from the kernel through `wait4`. A cell that cannot be run says
//! why instead of hanging: a one-page-at-a-time variant whose run would
//! take N × latency is estimated, `select` stops at FD_SETSIZE, a thread or
//! process per page stops at the task limit, and any run is killed at its
//! time limit.
//!
//! Writes `sweep.md`, `sweep.json` and the charts (`sweep-wall.svg`,
//! `sweep-cpu.svg`, `sweep-rss.svg`, `timeline-<lesson>.svg`) into
//! `target/report/`.

use anyhow::{anyhow, bail, Context, Result};
use bench_report::charts::{self, Lanes, Series};
use bench_report::child::{self, Exit};
use bench_report::table::{self, Table};
use bench_report::{machine, median, paths, LESSONS};
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, IsTerminal};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};
use workload::{Concurrency, Lesson, Report, Trace, Variant};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Numbers of pages, comma separated [default: 10,100,1000,10000; with --quick: 10,40].
    #[arg(long, value_name = "N,...", value_delimiter = ',',
          value_parser = clap::value_parser!(u64).range(1..=workload::cli::MAX_PAGES))]
    pages: Option<Vec<u64>>,

    /// Latency of the page server, in ms [default: 1000; with --quick: 20].
    #[arg(long, value_name = "MS", value_parser = clap::value_parser!(u64).range(0..=600_000))]
    latency_ms: Option<u64>,

    /// Runs of every cell; the tables show the median [default: 3; with --quick: 1].
    #[arg(long, value_name = "R", value_parser = clap::value_parser!(u64).range(1..=100))]
    repeat: Option<u64>,

    /// Only these lessons, or lesson/variant pairs, comma separated
    /// (e.g. callback_loop,multi_thread/pool) [default: every lesson that has landed].
    #[arg(long, value_name = "LESSON[/VARIANT],...", value_delimiter = ',')]
    models: Vec<String>,

    /// A short sweep that checks the harness itself: small N, short latency, one run each.
    #[arg(long)]
    quick: bool,

    /// Run a cell only if its ideal time (latency × rounds) is at most this many
    /// seconds; longer ones are estimated and marked [default: 30; with --quick: 0.5].
    #[arg(long, value_name = "S")]
    run_up_to_s: Option<f64>,

    /// Kill a run (and its worker processes) after this many seconds
    /// [default: twice its ideal time plus 30 s].
    #[arg(long, value_name = "S")]
    time_limit_s: Option<f64>,

    /// Port of the page server on 127.0.0.1 [default: a free one].
    #[arg(long)]
    port: Option<u16>,

    /// Where to write the report [default: target/report].
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,

    /// Where the lesson binaries and page-server are [default: next to this executable].
    #[arg(long, value_name = "DIR")]
    bin_dir: Option<PathBuf>,

    /// Extra flags for one lesson's binary, e.g. --lesson-args coroutine="--stack-kb 8"
    /// (repeat the option for more lessons).
    #[arg(long = "lesson-args", value_name = "LESSON=FLAGS")]
    lesson_args: Vec<String>,

    /// Do not run `cargo build` for the binaries first (it is skipped anyway
    /// when cargo did not start this program).
    #[arg(long)]
    no_build: bool,
}

/// The sweep's settings, with the defaults resolved.
#[derive(Debug)]
struct Config {
    pages: Vec<usize>,
    latency_ms: u64,
    repeat: usize,
    run_up_to: Duration,
    time_limit: Option<Duration>,
    port: u16,
    out: PathBuf,
    bin_dir: PathBuf,
    build: bool,
    jobs: Vec<Job>,
    /// `--lesson-args`, by lesson.
    extra: BTreeMap<&'static str, Vec<String>>,
    /// Lessons asked for (or all) that have not landed.
    missing: Vec<&'static str>,
    command: String,
}

/// One lesson variant to run at every N.
#[derive(Debug, Clone, Copy)]
struct Job {
    lesson: &'static Lesson,
    variant: &'static Variant,
}

impl Job {
    fn name(&self) -> String {
        format!("{} / {}", self.lesson.name, self.variant.name)
    }
}

pub fn run(args: Args) -> ExitCode {
    let config = match Config::from_args(args) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("sweep: error: {e:#}");
            return ExitCode::from(2);
        }
    };
    match sweep(&config) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("sweep: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

impl Config {
    fn from_args(a: Args) -> Result<Config> {
        let quick = a.quick;
        let mut pages: Vec<usize> = a
            .pages
            .unwrap_or_else(|| {
                if quick {
                    vec![10, 40]
                } else {
                    vec![10, 100, 1000, 10_000]
                }
            })
            .into_iter()
            .map(|n| n as usize)
            .collect();
        pages.sort_unstable();
        pages.dedup();
        let positive = |name: &str, v: Option<f64>| -> Result<Option<Duration>> {
            match v {
                Some(s) if !(s.is_finite() && s > 0.0 && s <= 86_400.0) => {
                    bail!("--{name} {s}: give a number of seconds above 0 and at most 86400")
                }
                Some(s) => Ok(Some(Duration::from_secs_f64(s))),
                None => Ok(None),
            }
        };
        let run_up_to = positive("run-up-to-s", a.run_up_to_s)?
            .unwrap_or(Duration::from_secs_f64(if quick { 0.5 } else { 30.0 }));
        let time_limit = positive("time-limit-s", a.time_limit_s)?;
        let (jobs, missing) = select(&a.models)?;
        let bin_dir = match a.bin_dir {
            Some(d) => d,
            None => std::env::current_exe()
                .context("finding this executable")?
                .parent()
                .map(Path::to_path_buf)
                .ok_or_else(|| anyhow!("this executable has no directory"))?,
        };
        let mut extra: BTreeMap<&'static str, Vec<String>> = BTreeMap::new();
        for a in &a.lesson_args {
            let (name, flags) = a.split_once('=').ok_or_else(|| {
                anyhow!("--lesson-args '{a}': write LESSON=FLAGS, e.g. coroutine=\"--stack-kb 8\"")
            })?;
            let lesson = bench_report::lesson(name.trim())
                .ok_or_else(|| anyhow!("--lesson-args: no lesson '{}'", name.trim()))?;
            extra
                .entry(lesson.name)
                .or_default()
                .extend(flags.split_whitespace().map(String::from));
        }
        let shown: Vec<String> = std::env::args()
            .skip(1)
            .map(|a| if a.contains(' ') { format!("'{a}'") } else { a })
            .collect();
        Ok(Config {
            pages,
            latency_ms: a.latency_ms.unwrap_or(if quick { 20 } else { 1000 }),
            repeat: a.repeat.unwrap_or(if quick { 1 } else { 3 }) as usize,
            run_up_to,
            time_limit,
            port: a.port.unwrap_or(0),
            out: a.out.unwrap_or_else(paths::report_dir),
            bin_dir,
            build: !a.no_build,
            jobs,
            extra,
            missing,
            command: format!("cargo run --release -p bench-report -- {}", shown.join(" ")),
        })
    }

    /// A page's `--timeout-ms`: the default 10 s, or more for long latencies.
    fn page_timeout_ms(&self) -> u64 {
        (2 * self.latency_ms + 5_000).max(10_000)
    }
}

/// The lesson variants named by `--models` (every landed one when empty),
/// and the lessons asked for that have not landed.
fn select(models: &[String]) -> Result<(Vec<Job>, Vec<&'static str>)> {
    let names = || {
        LESSONS
            .iter()
            .map(|l| l.name)
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut jobs: Vec<Job> = Vec::new();
    let mut missing = Vec::new();
    if models.is_empty() {
        for lesson in LESSONS {
            if lesson.variants.is_empty() {
                missing.push(lesson.name);
            }
            jobs.extend(
                lesson
                    .variants
                    .iter()
                    .map(|variant| Job { lesson, variant }),
            );
        }
        return Ok((jobs, missing));
    }
    for m in models.iter().map(|m| m.trim()).filter(|m| !m.is_empty()) {
        let (lname, vname) = match m.split_once('/') {
            Some((l, v)) => (l.trim(), Some(v.trim())),
            None => (m, None),
        };
        let lesson = bench_report::lesson(lname)
            .ok_or_else(|| anyhow!("--models: no lesson '{lname}'; the lessons are {}", names()))?;
        if lesson.variants.is_empty() {
            missing.push(lesson.name);
            continue;
        }
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
            if !jobs.iter().any(|j| std::ptr::eq(j.variant, variant)) {
                jobs.push(Job { lesson, variant });
            }
        }
    }
    missing.dedup();
    if jobs.is_empty() && missing.is_empty() {
        bail!("--models: name at least one lesson ({})", names());
    }
    Ok((jobs, missing))
}

// ---------------------------------------------------------------------------
// Binaries

/// Cargo's profile flags for binaries that live in `dir` (target/release,
/// target/debug, target/<profile>).
fn profile_args(dir: &Path) -> Option<Vec<String>> {
    match dir.file_name()?.to_str()? {
        "release" => Some(vec!["--release".into()]),
        "debug" => Some(Vec::new()),
        "deps" | "examples" => None,
        other => Some(vec!["--profile".into(), other.into()]),
    }
}

/// Build page-server and the lesson binaries with cargo when cargo started
/// us (`cargo run` sets `CARGO`), so the binaries match the lesson tables
/// compiled into this one. Returns the lessons that failed to build.
fn build(config: &Config) -> Vec<(&'static str, String)> {
    let Some(cargo) = std::env::var_os("CARGO").filter(|_| config.build) else {
        return Vec::new();
    };
    let Some(profile) = profile_args(&config.bin_dir) else {
        return Vec::new();
    };
    let mut packages: Vec<&'static str> = vec!["workload"];
    for j in &config.jobs {
        if !packages.contains(&j.lesson.name) {
            packages.push(j.lesson.name);
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
        "sweep: cargo build {}--bins -p {} (to match the lesson tables)",
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

/// The path of binary `name` in the binary directory, or why it is not there.
fn binary(config: &Config, name: &str) -> Result<PathBuf, String> {
    let path = config.bin_dir.join(name);
    if path.is_file() {
        return Ok(path);
    }
    let how = match profile_args(&config.bin_dir) {
        Some(p) if p.is_empty() => format!("cargo build -p {name}"),
        Some(p) => format!("cargo build {} -p {name}", p.join(" ")),
        None => format!("cargo build --release -p {name}"),
    };
    let how = if name == "page-server" {
        how.replace("-p page-server", "-p workload --bin page-server")
    } else {
        how
    };
    Err(format!(
        "{} is missing: run `{how}` (or start the sweep with `cargo run --release -p bench-report -- sweep`, which builds it)",
        paths::display(&path)
    ))
}

// ---------------------------------------------------------------------------
// The page server, as a process of its own

struct PageServer {
    child: std::process::Child,
    url: String,
}

impl PageServer {
    fn start(bin: &Path, port: u16, latency_ms: u64) -> Result<PageServer> {
        let mut child = Command::new(bin)
            .args([
                "--port",
                &port.to_string(),
                "--latency-ms",
                &latency_ms.to_string(),
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("starting {}", bin.display()))?;
        let stdout = child.stdout.take().expect("piped");
        let stderr = child.stderr.take().expect("piped");
        // Its first line on stdout is the URL it serves.
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut lines = BufReader::new(stdout).lines();
            let _ = tx.send(lines.next());
            for _ in lines {}
        });
        let errors = std::thread::spawn(move || {
            use std::io::Read;
            let mut stderr = stderr;
            let mut text = String::new();
            let _ = (&mut stderr).take(64 * 1024).read_to_string(&mut text);
            let _ = std::io::copy(&mut stderr, &mut std::io::sink());
            text
        });
        let mut server = PageServer {
            child,
            url: String::new(),
        };
        match rx.recv_timeout(Duration::from_secs(20)) {
            Ok(Some(Ok(line))) if line.starts_with("http://") => {
                server.url = line.trim().to_string();
                Ok(server)
            }
            _ => {
                server.stop();
                let why = errors.join().unwrap_or_default();
                bail!(
                    "page-server did not print its URL: {}",
                    why.lines().next().unwrap_or("no message")
                )
            }
        }
    }

    fn stop(&mut self) {
        use nix::sys::signal::{kill, Signal};
        let pid = nix::unistd::Pid::from_raw(self.child.id() as i32);
        let _ = kill(pid, Signal::SIGINT);
        let until = Instant::now() + Duration::from_secs(5);
        while Instant::now() < until {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for PageServer {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            self.stop();
        }
    }
}

// ---------------------------------------------------------------------------
// Deciding, running and summing up the cells

/// What to do with one (variant, N).
#[derive(Debug, Clone, PartialEq)]
enum Decision {
    Run {
        limit: Duration,
    },
    /// Too long to run: its ideal time is shown instead.
    Estimate(String),
    /// Cannot be run on this machine.
    NotRun(String),
}

/// What the lesson tables do not say: which lessons start an OS task (a
/// thread or a process) for every page in flight.
fn task_per_page(lesson: &Lesson, variant: &Variant) -> Option<&'static str> {
    if matches!(variant.concurrency, Concurrency::One | Concurrency::Cores) {
        return None;
    }
    match lesson.name {
        "multi_thread" => Some("threads"),
        "multi_process" => Some("processes"),
        _ => None,
    }
}

/// Pages in flight and the ideal time of `job` at `pages`, from the
/// variant's own concurrency.
fn shape(job: &Job, pages: usize, latency_ms: u64) -> (usize, f64) {
    let mut plan = workload::Plan::new("http://127.0.0.1:9", pages).expect("a literal URL");
    plan.latency = Some(Duration::from_millis(latency_ms));
    plan.workers = Some(job.variant.concurrency.limit(&plan));
    let ideal = plan.ideal().map_or(0.0, |d| d.as_secs_f64() * 1e3);
    (plan.in_flight(), ideal)
}

/// The machine's limits that decide whether a cell can run.
#[derive(Debug, Clone, Copy)]
struct Limits {
    fd_hard: u64,
    task_headroom: u64,
    mem_available_kb: u64,
}

impl Limits {
    fn now() -> Limits {
        use nix::sys::resource::{getrlimit, Resource};
        Limits {
            fd_hard: getrlimit(Resource::RLIMIT_NOFILE).map_or(1024, |(_, hard)| hard),
            task_headroom: machine::task_headroom(),
            mem_available_kb: machine::mem_available_kb().unwrap_or(u64::MAX),
        }
    }
}

fn decide(config: &Config, limits: &Limits, job: &Job, pages: usize) -> Decision {
    let (in_flight, ideal_ms) = shape(job, pages, config.latency_ms);
    let flying = in_flight as u64;
    if flying + 32 > limits.fd_hard {
        return Decision::NotRun(format!(
            "{in_flight} sockets at once; the open-file hard limit is {}",
            limits.fd_hard
        ));
    }
    if job.variant.name.contains("select") && in_flight + 8 > libc::FD_SETSIZE {
        return Decision::NotRun(format!(
            "select() watches only descriptors below FD_SETSIZE = {}; {in_flight} sockets in flight go past it",
            libc::FD_SETSIZE
        ));
    }
    if let Some(what) = task_per_page(job.lesson, job.variant) {
        if flying + 64 > limits.task_headroom {
            return Decision::NotRun(format!(
                "{in_flight} {what} at once; this machine allows about {} more tasks \
                 (the least of ulimit -u, kernel.threads-max and kernel.pid_max, minus those running)",
                limits.task_headroom
            ));
        }
        // A process costs megabytes of its own; keep half the memory free.
        if what == "processes" && flying * 4096 > limits.mem_available_kb / 2 {
            return Decision::NotRun(format!(
                "{in_flight} processes of a few MB each would need more than half of the {} MB available",
                limits.mem_available_kb / 1024
            ));
        }
    }
    let ideal = Duration::from_secs_f64(ideal_ms / 1e3);
    if ideal > config.run_up_to {
        let why = match job.variant.concurrency {
            Concurrency::One => "one page at a time".to_string(),
            _ => format!("{in_flight} pages at a time"),
        };
        return Decision::Estimate(format!(
            "estimated, not run: {why} makes it {pages} / {in_flight} rounds × {} ms = {:.0} s (over --run-up-to-s {})",
            config.latency_ms,
            ideal_ms / 1e3,
            config.run_up_to.as_secs_f64()
        ));
    }
    let limit = config
        .time_limit
        .unwrap_or(ideal * 2 + Duration::from_secs(30));
    Decision::Run { limit }
}

/// One run of one cell, as measured.
#[derive(Debug, Clone, Default, Serialize)]
struct Run {
    exit: String,
    /// The lesson's own wall time (its report's `wall_ms`).
    wall_ms: Option<f64>,
    /// Spawn to exit, as the sweep saw it.
    process_wall_ms: f64,
    /// From wait4: the child and every process it waited for.
    cpu_ms: f64,
    user_ms: f64,
    sys_ms: f64,
    /// The lesson's peak RSS (its VmHWM, or its largest worker's), from its report.
    max_rss_kb: Option<u64>,
    /// wait4's ru_maxrss, which also counts this sweep's own peak, carried
    /// across exec: kept for reference, not shown in the tables.
    wait4_max_rss_kb: u64,
    voluntary_switches: u64,
    involuntary_switches: u64,
    in_flight: Option<usize>,
    ok: Option<usize>,
    failed: Option<usize>,
    /// Why this run does not count, when it does not.
    problem: Option<String>,
    #[serde(skip)]
    traces: Vec<Trace>,
}

fn run_once(
    config: &Config,
    bin: &Path,
    url: &str,
    job: &Job,
    pages: usize,
    limit: Duration,
) -> Run {
    let mut c = Command::new(bin);
    c.args(["--json", "--url", url])
        .args(["--latency-ms", &config.latency_ms.to_string()])
        .args(["--pages", &pages.to_string()])
        .args(["--variant", job.variant.name])
        .args(["--timeout-ms", &config.page_timeout_ms().to_string()])
        .args(config.extra.get(job.lesson.name).into_iter().flatten());
    let f = match child::run(c, limit) {
        Ok(f) => f,
        Err(e) => {
            return Run {
                exit: "not started".into(),
                problem: Some(format!("could not start {}: {e}", bin.display())),
                ..Run::default()
            }
        }
    };
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let mut run = Run {
        exit: match f.exit {
            Exit::Code(c) => format!("exit {c}"),
            Exit::Signal(s) => format!("signal {s}"),
            Exit::TimedOut => "killed".into(),
        },
        process_wall_ms: ms(f.wall),
        cpu_ms: ms(f.usage.user + f.usage.sys),
        user_ms: ms(f.usage.user),
        sys_ms: ms(f.usage.sys),
        wait4_max_rss_kb: f.usage.max_rss_kb,
        voluntary_switches: f.usage.voluntary_switches,
        involuntary_switches: f.usage.involuntary_switches,
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
            limit.as_secs_f64()
        )),
        (Exit::Signal(s), _) => Some(format!("killed by signal {s}")),
        (Exit::Code(0), Some(r)) if r.failed == 0 && r.ok == pages => None,
        (Exit::Code(_), Some(r)) => Some(failures(r)),
        (Exit::Code(c), None) => Some(format!(
            "exit {c} without a report: {}",
            f.first_error_line().unwrap_or_else(|| "no message".into())
        )),
    };
    run
}

/// "12 of 10000 pages failed: timeout (3), refused (9)".
fn failures(r: &Report) -> String {
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

/// One (variant, N) of the sweep, its runs and their medians.
#[derive(Debug, Clone, Serialize)]
struct Cell {
    lesson: &'static str,
    variant: &'static str,
    pages: usize,
    in_flight: usize,
    ideal_ms: f64,
    /// "measured", "failed", "estimated" or "not run".
    status: &'static str,
    reason: Option<String>,
    wall_ms: Option<f64>,
    x_ideal: Option<f64>,
    process_wall_ms: Option<f64>,
    cpu_ms: Option<f64>,
    cpu_us_per_page: Option<f64>,
    max_rss_kb: Option<f64>,
    rss_kb_per_in_flight: Option<f64>,
    /// (peak RSS - peak RSS at the smallest N) / (pages in flight more).
    marginal_kb_per_page: Option<f64>,
    voluntary_switches: Option<f64>,
    involuntary_switches: Option<f64>,
    runs: Vec<Run>,
}

impl Cell {
    fn new(job: &Job, pages: usize, latency_ms: u64) -> Cell {
        let (in_flight, ideal_ms) = shape(job, pages, latency_ms);
        Cell {
            lesson: job.lesson.name,
            variant: job.variant.name,
            pages,
            in_flight,
            ideal_ms,
            status: "measured",
            reason: None,
            wall_ms: None,
            x_ideal: None,
            process_wall_ms: None,
            cpu_ms: None,
            cpu_us_per_page: None,
            max_rss_kb: None,
            rss_kb_per_in_flight: None,
            marginal_kb_per_page: None,
            voluntary_switches: None,
            involuntary_switches: None,
            runs: Vec::new(),
        }
    }

    /// Medians over the runs that count; the reason when none does.
    fn sum_up(&mut self) {
        let good: Vec<&Run> = self.runs.iter().filter(|r| r.problem.is_none()).collect();
        let bad: Vec<&Run> = self.runs.iter().filter(|r| r.problem.is_some()).collect();
        let m = |f: &dyn Fn(&Run) -> Option<f64>| {
            median(&good.iter().filter_map(|r| f(r)).collect::<Vec<_>>())
        };
        if let Some(in_flight) = good.first().and_then(|r| r.in_flight) {
            self.in_flight = in_flight;
        }
        self.wall_ms = m(&|r| r.wall_ms);
        self.x_ideal = self
            .wall_ms
            .filter(|_| self.ideal_ms > 0.0)
            .map(|w| w / self.ideal_ms);
        self.process_wall_ms = m(&|r| Some(r.process_wall_ms));
        self.cpu_ms = m(&|r| Some(r.cpu_ms));
        self.cpu_us_per_page = self.cpu_ms.map(|c| c * 1e3 / self.pages as f64);
        self.max_rss_kb = m(&|r| r.max_rss_kb.map(|k| k as f64));
        self.rss_kb_per_in_flight = self.max_rss_kb.map(|k| k / self.in_flight.max(1) as f64);
        self.voluntary_switches = m(&|r| Some(r.voluntary_switches as f64));
        self.involuntary_switches = m(&|r| Some(r.involuntary_switches as f64));
        if let Some(first) = bad.first() {
            let problem = first.problem.clone().unwrap_or_default();
            if good.is_empty() {
                self.status = "failed";
                self.reason = Some(problem);
            } else {
                self.reason = Some(format!(
                    "{} of {} runs left out: {problem}",
                    bad.len(),
                    self.runs.len()
                ));
            }
        }
    }

    fn measured(&self) -> bool {
        self.wall_ms.is_some()
    }
}

/// "1458 ms", "10.0 s", "2.8 h": a duration a reader takes in at a glance.
fn human(ms: f64) -> String {
    let s = ms / 1e3;
    if ms < 10_000.0 {
        format!("{} ms", table::ms(ms))
    } else if s < 100.0 {
        format!("{s:.1} s")
    } else if s < 3600.0 {
        format!("{s:.0} s")
    } else {
        format!("{:.1} h", s / 3600.0)
    }
}

/// Fill in `marginal_kb_per_page` from each variant's smallest measured N.
fn marginal_memory(cells: &mut [Cell]) {
    let mut base: BTreeMap<(&str, &str), (usize, f64)> = BTreeMap::new();
    for c in cells.iter() {
        if let (true, Some(rss)) = (c.measured(), c.max_rss_kb) {
            let e = base
                .entry((c.lesson, c.variant))
                .or_insert((c.in_flight, rss));
            if c.in_flight < e.0 {
                *e = (c.in_flight, rss);
            }
        }
    }
    for c in cells.iter_mut() {
        if let (Some(rss), Some(&(n0, rss0))) = (c.max_rss_kb, base.get(&(c.lesson, c.variant))) {
            if c.measured() && c.in_flight > n0 {
                c.marginal_kb_per_page = Some((rss - rss0) / (c.in_flight - n0) as f64);
            }
        }
    }
}

// ---------------------------------------------------------------------------
// The sweep

fn sweep(config: &Config) -> Result<()> {
    let started = Instant::now();
    let load_before = machine::load_average();
    let broken = build(config);
    let server_bin = binary(config, "page-server").map_err(|e| anyhow!(e))?;
    let mut bins: BTreeMap<&str, Result<PathBuf, String>> = BTreeMap::new();
    for j in &config.jobs {
        bins.entry(j.lesson.name).or_insert_with(|| {
            match broken.iter().find(|(p, _)| *p == j.lesson.name) {
                Some((_, why)) => Err(why.clone()),
                None => binary(config, j.lesson.name),
            }
        });
    }

    let limits = Limits::now();
    let mut cells: Vec<Cell> = Vec::new();
    let mut decisions: Vec<Decision> = Vec::new();
    for &n in &config.pages {
        for job in &config.jobs {
            let mut cell = Cell::new(job, n, config.latency_ms);
            let decision = match &bins[job.lesson.name] {
                Err(why) => Decision::NotRun(why.clone()),
                Ok(_) => decide(config, &limits, job, n),
            };
            match &decision {
                Decision::Run { .. } => {}
                Decision::Estimate(why) => {
                    cell.status = "estimated";
                    cell.reason = Some(why.clone());
                }
                Decision::NotRun(why) => {
                    cell.status = "not run";
                    cell.reason = Some(why.clone());
                }
            }
            cells.push(cell);
            decisions.push(decision);
        }
    }
    let total_runs = decisions
        .iter()
        .filter(|d| matches!(d, Decision::Run { .. }))
        .count()
        * config.repeat;

    let mut server = PageServer::start(&server_bin, config.port, config.latency_ms)?;
    eprintln!(
        "sweep: page-server at {} ({} ms), {} lesson variants, N = {:?}, {} run(s) each: {total_runs} runs",
        server.url,
        config.latency_ms,
        config.jobs.len(),
        config.pages,
        config.repeat
    );
    let bar = if std::io::stderr().is_terminal() {
        let bar = ProgressBar::new(total_runs as u64);
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

    let mut done = 0;
    let per_n = config.jobs.len();
    for (ni, &n) in config.pages.iter().enumerate() {
        // Repeats interleaved: a burst of load on the machine spreads over
        // every variant instead of spoiling one.
        for rep in 0..config.repeat {
            for (ji, job) in config.jobs.iter().enumerate() {
                let k = ni * per_n + ji;
                let Decision::Run { limit } = decisions[k] else {
                    continue;
                };
                let Ok(bin) = &bins[job.lesson.name] else {
                    continue;
                };
                let label = format!("N={n} {} run {}/{}", job.name(), rep + 1, config.repeat);
                bar.set_message(label.clone());
                let run = run_once(config, bin, &server.url, job, n, limit);
                done += 1;
                let line = format!(
                    "[{done:>4}/{total_runs}] {label}: {}",
                    match (&run.problem, run.wall_ms) {
                        (None, Some(w)) => format!("{} ms", table::ms(w)),
                        (Some(p), _) => p.clone(),
                        (None, None) => "no time".into(),
                    }
                );
                if bar.is_hidden() {
                    eprintln!("{line}");
                } else if run.problem.is_some() {
                    bar.println(line);
                }
                bar.inc(1);
                cells[k].runs.push(run);
                if n >= 1000 {
                    // Let the last run's sockets close before the next.
                    std::thread::sleep(Duration::from_millis(200));
                }
            }
        }
    }
    bar.finish_and_clear();
    server.stop();

    for c in cells.iter_mut().filter(|c| !c.runs.is_empty()) {
        c.sum_up();
    }
    marginal_memory(&mut cells);

    let report = SweepReport {
        config,
        cells: &cells,
        machine: machine::describe(),
        load_before,
        load_after: machine::load_average(),
        took: started.elapsed(),
    };
    let files = report.write()?;
    println!("{}", report.wall_table().render());
    for f in files {
        println!("wrote {}", paths::display(&f));
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// The report

struct SweepReport<'a> {
    config: &'a Config,
    cells: &'a [Cell],
    machine: String,
    load_before: Option<f64>,
    load_after: Option<f64>,
    took: Duration,
}

impl SweepReport<'_> {
    fn jobs(&self) -> impl Iterator<Item = &Job> {
        self.config.jobs.iter()
    }

    fn cell(&self, job: &Job, n: usize) -> Option<&Cell> {
        self.cells
            .iter()
            .find(|c| c.lesson == job.lesson.name && c.variant == job.variant.name && c.pages == n)
    }

    /// Footnote numbers for the reasons, in order of first appearance.
    fn reasons(&self) -> Vec<(String, String)> {
        let mut out: Vec<(String, String)> = Vec::new();
        for c in self.cells {
            if let Some(r) = &c.reason {
                let cell = format!("{} / {}, N={}", c.lesson, c.variant, c.pages);
                out.push((cell, r.clone()));
            }
        }
        out
    }

    /// Rows: variants; columns: N; cells: median wall and x ideal.
    fn wall_table(&self) -> Table {
        let mut header: Vec<String> = vec!["lesson".into(), "variant".into()];
        header.extend(self.config.pages.iter().map(|n| format!(">N={n}")));
        let refs: Vec<&str> = header.iter().map(String::as_str).collect();
        let mut t = Table::new(&refs);
        let reasons = self.reasons();
        for job in self.jobs() {
            let mut row = vec![job.lesson.name.to_string(), job.variant.name.to_string()];
            for &n in &self.config.pages {
                let note = |c: &Cell| {
                    let key = format!("{} / {}, N={}", c.lesson, c.variant, c.pages);
                    reasons
                        .iter()
                        .position(|(k, _)| *k == key)
                        .map_or(String::new(), |i| format!(" [{}]", i + 1))
                };
                row.push(match self.cell(job, n) {
                    None => "-".into(),
                    Some(c) if c.measured() => format!(
                        "{} (x{}){}",
                        human(c.wall_ms.unwrap_or_default()),
                        table::opt(c.x_ideal, table::ratio),
                        note(c)
                    ),
                    Some(c) if c.status == "estimated" => {
                        format!("~{} est.{}", human(c.ideal_ms), note(c))
                    }
                    Some(c) => format!("{}{}", c.status, note(c)),
                });
            }
            t.row(row);
        }
        t
    }

    /// Every measured figure, one row per (variant, N).
    fn details_table(&self) -> Table {
        let mut t = Table::new(&[
            "lesson",
            "variant",
            ">N",
            ">in flight",
            "status",
            ">wall ms",
            ">ideal ms",
            ">x ideal",
            ">process ms",
            ">cpu ms",
            ">cpu µs/page",
            ">peak RSS KB",
            ">KB/in-flight page",
            ">marginal KB/page",
            ">voluntary cs",
            ">involuntary cs",
            ">runs",
        ]);
        let f = |v: Option<f64>, fmt: fn(f64) -> String| table::opt(v, fmt);
        let whole = |v: f64| format!("{v:.0}");
        let one = |v: f64| format!("{v:.1}");
        for job in self.jobs() {
            for &n in &self.config.pages {
                let Some(c) = self.cell(job, n) else { continue };
                t.row([
                    c.lesson.to_string(),
                    c.variant.to_string(),
                    c.pages.to_string(),
                    c.in_flight.to_string(),
                    c.status.to_string(),
                    f(c.wall_ms, table::ms),
                    table::ms(c.ideal_ms),
                    f(c.x_ideal, table::ratio),
                    f(c.process_wall_ms, table::ms),
                    f(c.cpu_ms, table::ms),
                    f(c.cpu_us_per_page, one),
                    f(c.max_rss_kb, whole),
                    f(c.rss_kb_per_in_flight, one),
                    f(c.marginal_kb_per_page, one),
                    f(c.voluntary_switches, whole),
                    f(c.involuntary_switches, whole),
                    format!(
                        "{}/{}",
                        c.runs.iter().filter(|r| r.problem.is_none()).count(),
                        c.runs.len()
                    ),
                ]);
            }
        }
        t
    }

    fn markdown(&self) -> String {
        let c = self.config;
        let load = |l: Option<f64>| l.map_or("?".into(), |l| format!("{l:.2}"));
        let mut out = format!(
            "# The sweep: every lesson from {} to {} pages\n\n\
             Measured on {} on {}; load average {} at the start and {} at the end (other work on the machine \
             shows here); {:.0} s in all.\n\n\
             One `page-server` process answering after {} ms; every lesson variant run as a child process with \
             `--json --url`, median of {} run(s) per cell.\n\nReproduce: `{}`\n\n",
            c.pages.first().copied().unwrap_or(0),
            c.pages.last().copied().unwrap_or(0),
            self.machine,
            machine::today(),
            load(self.load_before),
            load(self.load_after),
            self.took.as_secs_f64(),
            c.latency_ms,
            c.repeat,
            c.command.trim_end(),
        );
        for (lesson, flags) in &c.extra {
            out.push_str(&format!("`{lesson}` ran with `{}`.\n\n", flags.join(" ")));
        }
        out.push_str("## Wall time (x ideal)\n\n");
        out.push_str(&self.wall_table().render());
        out.push('\n');
        let reasons = self.reasons();
        if !reasons.is_empty() {
            for (i, (cell, why)) in reasons.iter().enumerate() {
                out.push_str(&format!("[{}] {cell}: {why}  \n", i + 1));
            }
            out.push('\n');
        }
        if !c.missing.is_empty() {
            out.push_str(&format!(
                "Not written yet, so not in the tables: {} (their `LESSON` tables list no variants; they appear \
                 here as soon as they do).\n\n",
                c.missing.iter().map(|m| format!("`{m}`")).collect::<Vec<_>>().join(", ")
            ));
        }
        out.push_str("![wall time against N](sweep-wall.svg)\n\n");
        out.push_str("## Every figure\n\n");
        out.push_str(&self.details_table().render());
        out.push_str(
            "\n- **wall ms**: the lesson's own time from the first connect to the last page (its `--json` \
             `wall_ms`), median of the runs; **process ms**: from spawn to exit as the sweep saw it (start-up \
             and printing the JSON included).\n\
             - **ideal ms**: latency × ceil(N / pages in flight), what the variant could do at best; \
             **x ideal** = wall / ideal.\n\
             - **cpu**: user + system time of the lesson process and of every process it waited for, from \
             `wait4`; per page = cpu / N.\n\
             - **peak RSS**: the lesson process's peak resident set (the kernel's VmHWM, which starts afresh \
             at exec; for a pool of processes, the largest one), from its report; `wait4`'s ru_maxrss is not \
             used because it carries the parent's peak across exec. **KB/in-flight page** = peak / pages in \
             flight; **marginal KB/page** = the growth of the peak from the smallest N, per extra page in \
             flight: the cost of one more page without the process's fixed size.\n\
             - **cs**: voluntary (the process waited) and involuntary (the scheduler took the CPU away) \
             context switches, from `wait4`.\n\n",
        );
        out.push_str("## Charts\n\n");
        out.push_str("![CPU per page against N](sweep-cpu.svg)\n\n");
        out.push_str("![peak RSS per in-flight page against N](sweep-rss.svg)\n\n");
        for lesson in self.timeline_lessons() {
            out.push_str(&format!(
                "![timeline of {lesson} at N={}](timeline-{lesson}.svg)\n\n",
                c.pages.first().copied().unwrap_or(0)
            ));
        }
        out
    }

    fn lessons(&self) -> Vec<&'static Lesson> {
        let mut out: Vec<&'static Lesson> = Vec::new();
        for j in self.jobs() {
            if !out.iter().any(|l| std::ptr::eq(*l, j.lesson)) {
                out.push(j.lesson);
            }
        }
        out
    }

    /// Lessons with at least one run at the smallest N to draw.
    fn timeline_lessons(&self) -> Vec<&'static str> {
        let Some(&n) = self.config.pages.first() else {
            return Vec::new();
        };
        self.lessons()
            .into_iter()
            .filter(|l| {
                self.cells.iter().any(|c| {
                    c.lesson == l.name
                        && c.pages == n
                        && c.runs.iter().any(|r| !r.traces.is_empty())
                })
            })
            .map(|l| l.name)
            .collect()
    }

    fn json(&self) -> serde_json::Value {
        let c = self.config;
        serde_json::json!({
            "machine": self.machine,
            "date": machine::today(),
            "load_average_before": self.load_before,
            "load_average_after": self.load_after,
            "seconds": self.took.as_secs_f64(),
            "command": c.command,
            "latency_ms": c.latency_ms,
            "repeat": c.repeat,
            "pages": c.pages,
            "run_up_to_s": c.run_up_to.as_secs_f64(),
            "not_written_yet": c.missing,
            "lesson_args": c.extra,
            "cells": self.cells,
        })
    }

    fn charts(&self, dir: &Path) -> Result<Vec<PathBuf>> {
        let c = self.config;
        let latency = c.latency_ms as f64;
        let mut files = Vec::new();
        let series = |y: &dyn Fn(&Cell) -> Option<f64>, estimate: bool| -> Vec<Series> {
            self.jobs()
                .map(|job| {
                    let mine: Vec<&Cell> =
                        c.pages.iter().filter_map(|&n| self.cell(job, n)).collect();
                    Series {
                        name: job.name(),
                        color: LESSONS
                            .iter()
                            .position(|l| std::ptr::eq(*l, job.lesson))
                            .unwrap_or(0),
                        marker: job
                            .lesson
                            .variants
                            .iter()
                            .position(|v| std::ptr::eq(v, job.variant))
                            .unwrap_or(0),
                        measured: mine
                            .iter()
                            .filter(|c| c.measured())
                            .filter_map(|c| y(c).map(|v| (c.pages as f64, v)))
                            .collect(),
                        estimated: if estimate {
                            mine.iter()
                                .filter(|c| c.status == "estimated")
                                .map(|c| (c.pages as f64, c.ideal_ms))
                                .collect()
                        } else {
                            Vec::new()
                        },
                    }
                })
                .collect()
        };
        let ns: Vec<f64> = c.pages.iter().map(|&n| n as f64).collect();
        let guides = vec![
            Series {
                name: "ideal, all in flight: latency".into(),
                measured: ns.iter().map(|&n| (n, latency)).collect(),
                ..Series::default()
            },
            Series {
                name: "ideal, one at a time: N × latency".into(),
                measured: ns.iter().map(|&n| (n, n * latency)).collect(),
                ..Series::default()
            },
        ];
        let path = dir.join("sweep-wall.svg");
        charts::loglog(
            &path,
            &format!(
                "Wall time against N at {} ms latency (hollow: estimated, not run)",
                c.latency_ms
            ),
            "N pages",
            "wall time, ms",
            &series(&|c| c.wall_ms, true),
            if latency > 0.0 { &guides } else { &[] },
        )?;
        files.push(path);
        let path = dir.join("sweep-cpu.svg");
        charts::loglog(
            &path,
            "CPU time per page against N (user + system, from wait4)",
            "N pages",
            "CPU µs per page",
            &series(&|c| c.cpu_us_per_page, false),
            &[],
        )?;
        files.push(path);
        let path = dir.join("sweep-rss.svg");
        charts::loglog(
            &path,
            "Peak RSS per page in flight against N",
            "N pages",
            "peak RSS / pages in flight, KB",
            &series(&|c| c.rss_kb_per_in_flight, false),
            &[],
        )?;
        files.push(path);

        let Some(&n) = c.pages.first() else {
            return Ok(files);
        };
        for lesson in self.timeline_lessons() {
            let groups: Vec<Lanes> = self
                .jobs()
                .filter(|j| j.lesson.name == lesson)
                .filter_map(|j| {
                    let cell = self.cell(j, n)?;
                    let run = cell
                        .runs
                        .iter()
                        .find(|r| r.problem.is_none() && !r.traces.is_empty())
                        .or_else(|| cell.runs.iter().find(|r| !r.traces.is_empty()))?;
                    Some(Lanes {
                        name: format!(
                            "{} ({} ms)",
                            j.variant.name,
                            run.wall_ms.map_or("?".into(), table::ms)
                        ),
                        traces: run.traces.clone(),
                    })
                })
                .collect();
            let path = dir.join(format!("timeline-{lesson}.svg"));
            charts::gantt(
                &path,
                &format!(
                    "{lesson}: {n} pages at {} ms latency, one lane per page",
                    c.latency_ms
                ),
                &groups,
            )?;
            files.push(path);
        }
        Ok(files)
    }

    fn write(&self) -> Result<Vec<PathBuf>> {
        let dir = &self.config.out;
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let md = dir.join("sweep.md");
        std::fs::write(&md, self.markdown())
            .with_context(|| format!("writing {}", md.display()))?;
        let json = dir.join("sweep.json");
        std::fs::write(&json, serde_json::to_string_pretty(&self.json())?)
            .with_context(|| format!("writing {}", json.display()))?;
        let mut files = vec![md, json];
        files.extend(self.charts(dir)?);
        Ok(files)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(models: &[&str]) -> Config {
        let models: Vec<String> = models.iter().map(|s| s.to_string()).collect();
        let (jobs, missing) = select(&models).unwrap();
        Config {
            pages: vec![10, 100, 1000, 10_000],
            latency_ms: 1000,
            repeat: 1,
            run_up_to: Duration::from_secs(30),
            time_limit: None,
            port: 0,
            out: PathBuf::from("/nonexistent"),
            bin_dir: PathBuf::from("/nonexistent/release"),
            build: false,
            jobs,
            extra: BTreeMap::new(),
            missing,
            command: "test".into(),
        }
    }

    fn roomy() -> Limits {
        Limits {
            fd_hard: 20_000,
            task_headroom: 30_000,
            mem_available_kb: 16 << 20,
        }
    }

    #[test]
    fn models_select_lessons_and_variants_from_the_tables() {
        let all = select(&[]).unwrap().0;
        let expected: usize = LESSONS.iter().map(|l| l.variants.len()).sum();
        assert_eq!(all.len(), expected);
        let blocking = LESSONS[0].variants[0].name;
        let (jobs, _) =
            select(&[format!("sync_blocking/{blocking}"), "sync_blocking".into()]).unwrap();
        assert_eq!(jobs.len(), LESSONS[0].variants.len(), "no duplicates");
        let e = select(&["nope".into()]).unwrap_err().to_string();
        assert!(
            e.contains("no lesson 'nope'") && e.contains("sync_blocking"),
            "{e}"
        );
        let e = select(&["sync_blocking/nope".into()])
            .unwrap_err()
            .to_string();
        assert!(e.contains("no variant 'nope'"), "{e}");
    }

    #[test]
    fn one_page_at_a_time_is_estimated_at_large_n() {
        let c = config(&["sync_blocking"]);
        let job = c.jobs[0];
        assert!(matches!(
            decide(&c, &roomy(), &job, 10),
            Decision::Run { .. }
        ));
        match decide(&c, &roomy(), &job, 100) {
            Decision::Estimate(why) => assert!(why.contains("one page at a time"), "{why}"),
            d => panic!("{d:?}"),
        }
        let cell = Cell::new(&job, 100, 1000);
        assert_eq!(cell.ideal_ms, 100_000.0);
    }

    #[test]
    fn machine_limits_give_reasons() {
        let c = config(&[]);
        let tight = Limits {
            fd_hard: 1024,
            task_headroom: 500,
            mem_available_kb: 1 << 20,
        };
        for job in &c.jobs {
            let (in_flight, _) = shape(job, 10_000, 1000);
            match decide(&c, &tight, job, 10_000) {
                Decision::NotRun(why) => assert!(in_flight > 900, "{}: {why}", job.name()),
                Decision::Estimate(_) => {}
                Decision::Run { .. } => panic!("{} ran with {in_flight} in flight", job.name()),
            }
        }
        // select beyond FD_SETSIZE even where descriptors are plenty
        for job in c.jobs.iter().filter(|j| j.variant.name == "select") {
            match decide(&c, &roomy(), job, 10_000) {
                Decision::NotRun(why) => assert!(why.contains("FD_SETSIZE"), "{why}"),
                d => panic!("{d:?}"),
            }
        }
    }

    #[test]
    fn a_given_time_limit_wins() {
        let mut c = config(&["sync_blocking"]);
        c.time_limit = Some(Duration::from_secs(2));
        assert_eq!(
            decide(&c, &roomy(), &c.jobs[0], 10),
            Decision::Run {
                limit: Duration::from_secs(2)
            }
        );
    }

    #[test]
    fn cells_take_medians_of_the_good_runs() {
        let c = config(&["sync_blocking"]);
        let mut cell = Cell::new(&c.jobs[0], 10, 1000);
        let run = |wall: f64, problem: Option<&str>| Run {
            wall_ms: Some(wall),
            cpu_ms: 2.0,
            max_rss_kb: Some(3000),
            in_flight: Some(1),
            problem: problem.map(String::from),
            ..Run::default()
        };
        cell.runs = vec![
            run(10_100.0, None),
            run(10_300.0, None),
            run(1.0, Some("boom")),
        ];
        cell.sum_up();
        assert_eq!(cell.status, "measured");
        assert_eq!(cell.wall_ms, Some(10_200.0));
        assert_eq!(cell.x_ideal, Some(1.02));
        assert_eq!(cell.rss_kb_per_in_flight, Some(3000.0));
        assert!(cell
            .reason
            .as_deref()
            .unwrap()
            .contains("1 of 3 runs left out: boom"));

        let mut failed = Cell::new(&c.jobs[0], 10, 1000);
        failed.runs = vec![run(1.0, Some("killed at the 2 s time limit"))];
        failed.sum_up();
        assert_eq!(failed.status, "failed");
        assert!(!failed.measured());
    }

    #[test]
    fn marginal_memory_is_per_extra_page_in_flight() {
        let c = config(&["sync_blocking"]);
        let mut a = Cell::new(&c.jobs[0], 10, 1000);
        a.in_flight = 10;
        a.wall_ms = Some(1.0);
        a.max_rss_kb = Some(3000.0);
        let mut b = a.clone();
        b.pages = 1000;
        b.in_flight = 1000;
        b.max_rss_kb = Some(3000.0 + 990.0 * 2.5);
        let mut cells = vec![a, b];
        marginal_memory(&mut cells);
        assert_eq!(cells[0].marginal_kb_per_page, None);
        assert_eq!(cells[1].marginal_kb_per_page, Some(2.5));
    }

    #[test]
    fn durations_read_at_a_glance() {
        assert_eq!(human(1458.2), "1458 ms");
        assert_eq!(human(10_017.0), "10.0 s");
        assert_eq!(human(500_000.0), "500 s");
        assert_eq!(human(10_000_000.0), "2.8 h");
    }

    #[test]
    fn profiles_follow_the_binary_directory() {
        assert_eq!(
            profile_args(Path::new("target/release")),
            Some(vec!["--release".into()])
        );
        assert_eq!(profile_args(Path::new("target/debug")), Some(vec![]));
        assert_eq!(profile_args(Path::new("target/debug/deps")), None);
        let c = config(&["sync_blocking"]);
        let e = binary(&c, "page-server").unwrap_err();
        assert!(
            e.contains("cargo build --release -p workload --bin page-server"),
            "{e}"
        );
    }
}
