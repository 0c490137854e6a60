//! `serve`: every server of every lesson under load, from 1 to 10,000
//! connections.
//!
//! ```text
//! cargo run --release -p bench-report -- serve [--connections 1,10,100,1000,10000]
//!     [--latency-ms 0,1000] [--new-connection-at 100] [--duration 2s] [--warmup MS]
//!     [--models async_await,callback_loop/epoll] [--with-wrk] [--quick] [--out DIR]
//! ```
//!
//! Every server variant comes from the lessons' `servers` tables. For each
//! cell (a server, C connections, think time L, keep-alive or a new
//! connection per request) the lesson's binary is started as a child
//! process (`<lesson> serve --variant V --port 0 --latency-ms L`), the load
//! generator (`crate::load`) runs against the URL on its first line for a
//! warm-up and then the measured window, the server's peak RSS is read
//! from /proc, and SIGINT stops it; `wait4` gives its CPU. A cell that
//! cannot run here says why instead (`decide`). `report.rs` writes
//! `serve.md`, `serve.json` and the charts.

pub mod decide;
pub mod report;

use crate::binaries::Binaries;
use crate::child::{Exit, Running};
use crate::load::engine::{self, Config as LoadConfig};
use crate::load::wrk::{WrkResult, WrkRun};
use crate::load::{self, Percentiles};
use crate::outdir::OutDir;
use crate::status::Status;
use crate::{cli, paths, reporting, LESSONS};
use anyhow::{anyhow, bail, Result};
use decide::Limits;
use serde::Serialize;
use std::path::PathBuf;
use std::process::{Command, ExitCode};
use std::time::Duration;
use workload::serve::ServeVariant;
use workload::Lesson;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Connections, comma separated [default: 1,10,100,1000,10000; with --quick: 1,20].
    #[arg(long, value_name = "C,...", value_delimiter = ',',
          value_parser = clap::value_parser!(u64).range(1..=50_000))]
    connections: Option<Vec<u64>>,

    /// Think times of the server, in ms, comma separated [default: 0,1000; with --quick: 0,50].
    #[arg(long, value_name = "MS,...", value_delimiter = ',',
          value_parser = clap::value_parser!(u64).range(0..=60_000))]
    latency_ms: Option<Vec<u64>>,

    /// Connections of the new-connection-per-request run at think time 0; 0 for none
    /// [default: 100; with --quick: 10].
    #[arg(long, value_name = "C", value_parser = clap::value_parser!(u64).range(0..=50_000))]
    new_connection_at: Option<u64>,

    /// Measured time of each cell, after its warm-up [default: 2s; with --quick: 500ms].
    #[arg(long, value_parser = load::parse_duration)]
    duration: Option<Duration>,

    /// Warm-up of each cell, not measured [default: 500 ms + the think time, twice it from 1,000 connections; with --quick: 200 ms + it].
    #[arg(long, value_parser = load::parse_duration)]
    warmup: Option<Duration>,

    /// The load generator's threads [default: 1].
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=64))]
    threads: Option<u64>,

    /// Only these lessons, or lesson/server pairs, comma separated [default: every server].
    #[arg(long, value_name = "LESSON[/SERVER],...", value_delimiter = ',')]
    models: Vec<String>,

    /// A short run that checks the harness: fewer cells, shorter windows.
    #[arg(long)]
    quick: bool,

    /// Also run wrk on every keep-alive cell, where wrk is on PATH.
    #[arg(long)]
    with_wrk: bool,

    /// Where to write the report [default: target/report].
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,

    /// Where the lesson binaries are [default: next to this executable].
    #[arg(long, value_name = "DIR")]
    bin_dir: Option<PathBuf>,

    /// Do not run `cargo build` for the lesson binaries first.
    #[arg(long)]
    no_build: bool,
}

/// One server of one lesson.
#[derive(Debug, Clone, Copy)]
pub struct ServeJob {
    pub lesson: &'static Lesson,
    pub server: &'static ServeVariant,
}

impl ServeJob {
    pub fn name(&self) -> String {
        format!("{} / {}", self.lesson.name, self.server.name)
    }
}

/// Every server of every lesson, in classroom order.
pub fn every_server() -> Vec<ServeJob> {
    LESSONS
        .iter()
        .flat_map(|&lesson| {
            lesson
                .servers
                .iter()
                .map(move |server| ServeJob { lesson, server })
        })
        .collect()
}

/// The servers named by `--models` (every one when empty).
pub fn select(models: &[String]) -> Result<Vec<ServeJob>> {
    let models: Vec<&str> = models
        .iter()
        .map(|m| m.trim())
        .filter(|m| !m.is_empty())
        .collect();
    if models.is_empty() {
        return Ok(every_server());
    }
    let mut jobs: Vec<ServeJob> = Vec::new();
    for m in models {
        let (lesson, sname) = crate::jobs::model(m)?;
        let servers: Vec<&'static ServeVariant> = match sname {
            None => lesson.servers.iter().collect(),
            Some(s) => vec![lesson.servers.iter().find(|v| v.name == s).ok_or_else(|| {
                let list: Vec<&str> = lesson.servers.iter().map(|v| v.name).collect();
                anyhow!(
                    "--models: {} has no server '{s}'; it has {}",
                    lesson.name,
                    if list.is_empty() {
                        "none".to_string()
                    } else {
                        list.join(", ")
                    }
                )
            })?],
        };
        for server in servers {
            if !jobs.iter().any(|j| std::ptr::eq(j.server, server)) {
                jobs.push(ServeJob { lesson, server });
            }
        }
    }
    Ok(jobs)
}

/// How the load comes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Mode {
    /// Every connection kept open and reused.
    KeepAlive,
    /// A new connection for every request (`Connection: close`).
    NewConnection,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::KeepAlive => "keep-alive",
            Mode::NewConnection => "new-connection",
        }
    }
}

/// One cell's place in the table.
#[derive(Debug, Clone, Copy)]
pub struct Spec {
    pub job: ServeJob,
    pub mode: Mode,
    pub latency_ms: u64,
    pub connections: usize,
}

/// The settings, with the defaults resolved.
#[derive(Debug)]
pub struct Config {
    pub jobs: Vec<ServeJob>,
    pub connections: Vec<usize>,
    pub latencies: Vec<u64>,
    pub new_connection_at: Option<usize>,
    pub duration: Duration,
    /// `None`: 500 ms (200 with --quick) + the think time.
    pub warmup: Option<Duration>,
    pub quick: bool,
    pub threads: usize,
    pub with_wrk: bool,
    pub out: PathBuf,
    pub bins: Binaries,
    pub command: String,
}

impl Config {
    pub fn from_args(a: Args) -> Result<Config> {
        let quick = a.quick;
        let connections: Vec<usize> =
            cli::sorted_list(a.connections, quick, &[1, 20], &[1, 10, 100, 1000, 10_000])
                .into_iter()
                .map(|c| c as usize)
                .collect();
        let latencies = cli::sorted_list(a.latency_ms, quick, &[0, 50], &[0, 1000]);
        let new_connection_at = match a.new_connection_at.unwrap_or(if quick { 10 } else { 100 }) {
            0 => None,
            c => Some(c as usize),
        };
        let duration = a
            .duration
            .unwrap_or(Duration::from_millis(if quick { 500 } else { 2000 }));
        if duration.is_zero() {
            bail!("--duration must be more than 0");
        }
        let bins = Binaries::from_flags(a.bin_dir, a.no_build)?;
        Ok(Config {
            jobs: select(&a.models)?,
            connections,
            latencies,
            new_connection_at,
            duration,
            warmup: a.warmup,
            quick,
            threads: a.threads.map_or(load::DEFAULT_THREADS, |t| t as usize),
            with_wrk: a.with_wrk,
            out: a.out.unwrap_or_else(paths::report_dir),
            bins,
            command: crate::jobs::this_command(),
        })
    }

    /// Every cell, in table order: per server, keep-alive at each think
    /// time and C, then the new-connection run.
    pub fn specs(&self) -> Vec<Spec> {
        let mut out = Vec::new();
        for &job in &self.jobs {
            for &latency_ms in &self.latencies {
                for &connections in &self.connections {
                    out.push(Spec {
                        job,
                        mode: Mode::KeepAlive,
                        latency_ms,
                        connections,
                    });
                }
            }
            if let Some(connections) = self.new_connection_at {
                out.push(Spec {
                    job,
                    mode: Mode::NewConnection,
                    latency_ms: 0,
                    connections,
                });
            }
        }
        out
    }

    /// The warm-up of a cell. With a think time, a thousand connections or
    /// more open in a burst and their first requests come due together:
    /// the first rounds are lumps, not the steady state, so they get two
    /// think times before the measured window instead of one.
    pub fn warmup(&self, latency_ms: u64, connections: usize) -> Duration {
        let rounds = if connections >= 1000 { 2 } else { 1 };
        self.warmup.unwrap_or_else(|| {
            Duration::from_millis(if self.quick { 200 } else { 500 } + rounds * latency_ms)
        })
    }

    pub fn file_names(&self) -> Vec<String> {
        [
            "serve.md",
            "serve.json",
            "serve-rps.svg",
            "serve-p99.svg",
            "serve-memory.svg",
        ]
        .map(String::from)
        .to_vec()
    }
}

/// One cell: what it is, what became of it, and its figures.
#[derive(Debug, Clone, Serialize)]
pub struct Cell {
    pub lesson: &'static str,
    pub server: &'static str,
    pub mode: Mode,
    pub latency_ms: u64,
    pub connections: usize,
    #[serde(flatten)]
    pub status: Status,
    pub requests_per_s: Option<f64>,
    pub latency: Option<Percentiles>,
    pub ok: Option<u64>,
    pub errors: Option<u64>,
    pub errors_by_kind: Vec<(&'static str, u64)>,
    /// The server's CPU (user + system, from wait4) per good response over
    /// its whole life, the warm-up's included, in µs.
    pub server_cpu_us_per_request: Option<f64>,
    /// Summed VmHWM of the server's processes at the end of the window.
    pub peak_rss_kb: Option<u64>,
    /// (peak RSS - the same server's peak RSS at its smallest C at this
    /// think time and mode) / (connections more).
    pub marginal_kb_per_connection: Option<f64>,
    /// The generator's own CPU, in cores.
    pub client_cores: Option<f64>,
    pub window_s: Option<f64>,
    pub wrk: Option<WrkResult>,
    /// Why wrk has no figure for this cell, when it was asked for.
    pub wrk_skipped: Option<String>,
}

impl Cell {
    fn new(spec: &Spec, status: Status) -> Cell {
        Cell {
            lesson: spec.job.lesson.name,
            server: spec.job.server.name,
            mode: spec.mode,
            latency_ms: spec.latency_ms,
            connections: spec.connections,
            status,
            requests_per_s: None,
            latency: None,
            ok: None,
            errors: None,
            errors_by_kind: Vec::new(),
            server_cpu_us_per_request: None,
            peak_rss_kb: None,
            marginal_kb_per_connection: None,
            client_cores: None,
            window_s: None,
            wrk: None,
            wrk_skipped: None,
        }
    }

    pub fn measured(&self) -> bool {
        self.requests_per_s.is_some()
    }
}

pub fn run(args: Args) -> ExitCode {
    let prepare = |c: &Config| OutDir::prepare(&c.out, &c.file_names());
    let (config, out) = match cli::start("serve", Config::from_args(args), prepare) {
        Ok(started) => started,
        Err(code) => return code,
    };
    if config.jobs.is_empty() {
        eprintln!(
            "serve: no lesson has a server yet (every `servers` table is empty): nothing to measure"
        );
    }
    match measure_all(&config, &out) {
        // Nothing to measure is not a failure.
        Ok(0) if config.jobs.is_empty() => ExitCode::SUCCESS,
        measured => cli::finish(
            "serve",
            measured,
            "no cell produced a figure; the report says why for each",
        ),
    }
}

/// Measure every cell and write the report; the number of cells measured.
fn measure_all(config: &Config, out: &OutDir) -> Result<usize> {
    let start = reporting::Start::now();
    let lessons: Vec<&'static str> = {
        let mut l: Vec<&'static str> = config.jobs.iter().map(|j| j.lesson.name).collect();
        l.dedup();
        l
    };
    let broken = if lessons.is_empty() {
        Vec::new()
    } else {
        config.bins.build_lessons(&lessons, "serve")
    };
    let fd_limit = workload::raise_fd_limit();
    let limits = Limits::now(fd_limit);
    let specs = config.specs();
    let bar = progress(specs.len() as u64);
    let mut cells = Vec::with_capacity(specs.len());
    for spec in &specs {
        bar.set_message(format!(
            "{} {} L={} ms C={}",
            spec.job.name(),
            spec.mode.as_str(),
            spec.latency_ms,
            spec.connections
        ));
        let binary = match broken.iter().find(|(p, _)| *p == spec.job.lesson.name) {
            Some((_, why)) => Err(why.clone()),
            None => config.bins.find(spec.job.lesson.name),
        };
        let cell = match (decide::decide(&limits, spec), binary) {
            (Some(status), _) => Cell::new(spec, status),
            (None, Err(why)) => Cell::new(spec, Status::NotRun(why)),
            (None, Ok(bin)) => {
                let mut command = Command::new(bin);
                command.args(server_args(spec));
                measure(command, spec, config)
            }
        };
        cells.push(cell);
        bar.inc(1);
    }
    bar.finish_and_clear();
    report::marginal_memory(&mut cells);
    let report = report::ServeReport {
        config,
        cells: &cells,
        conditions: start.end(),
    };
    let files = report.write(out)?;
    reporting::announce(&report.summary_tables(), &files);
    Ok(cells.iter().filter(|c| c.measured()).count())
}

fn progress(n: u64) -> indicatif::ProgressBar {
    use std::io::IsTerminal;
    if !std::io::stderr().is_terminal() {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(n);
    bar.set_style(
        indicatif::ProgressStyle::with_template("serve [{bar:30}] {pos}/{len} {elapsed} {msg}")
            .expect("a valid template")
            .progress_chars("=> "),
    );
    bar
}

/// The lesson binary's arguments for a cell.
pub fn server_args(spec: &Spec) -> Vec<String> {
    vec![
        "serve".into(),
        "--variant".into(),
        spec.job.server.name.into(),
        "--port".into(),
        "0".into(),
        "--latency-ms".into(),
        spec.latency_ms.to_string(),
    ]
}

/// The base URL on a server's first line: the token that starts with
/// `http://127.0.0.1:`, without trailing punctuation.
pub fn url_in(line: &str) -> Option<String> {
    line.split_whitespace()
        .find(|t| t.starts_with("http://127.0.0.1:"))
        .map(|t| t.trim_end_matches([',', ';', '.', ')', '(']).to_string())
}

/// How long a server has to print its address.
const START_LIMIT: Duration = Duration::from_secs(20);
/// How long a server has to stop after SIGINT.
const STOP_GRACE: Duration = Duration::from_secs(15);

/// Start the server `command`, load it as `spec` says, stop it, and
/// account for it.
pub fn measure(command: Command, spec: &Spec, config: &Config) -> Cell {
    let failed = |why: String| Cell::new(spec, Status::Failed(why));
    let server = match Running::spawn(command) {
        Ok(s) => s,
        Err(e) => return failed(format!("the server did not start: {e}")),
    };
    let Some(url) = server.first_line(START_LIMIT).as_deref().and_then(url_in) else {
        let f = server.stop(nix::sys::signal::Signal::SIGKILL, STOP_GRACE);
        let why = f
            .ok()
            .and_then(|f| f.first_error_line())
            .unwrap_or_else(|| "no error printed".into());
        return failed(format!(
            "no http://127.0.0.1:PORT on the server's first line: {why}"
        ));
    };
    let base = match workload::BaseUrl::parse(&url) {
        Ok(b) => b,
        Err(e) => return failed(e),
    };
    let warmup = config.warmup(spec.latency_ms, spec.connections);
    let load_config = LoadConfig {
        addr: base.addr,
        host: base.host,
        path: base.path,
        connections: spec.connections,
        threads: config.threads,
        warmup,
        duration: config.duration,
        requests: None,
        pages: 100,
        new_connection: spec.mode == Mode::NewConnection,
        rate: None,
        timeout: Duration::from_millis(10_000 + 2 * spec.latency_ms),
        size: Some(workload::plan::DEFAULT_SIZE),
        check_bodies: false,
    };
    let outcome = engine::run(&load_config);
    let peak_rss_kb = server.group_peak_rss_kb();
    let (wrk, wrk_skipped) = if config.with_wrk {
        wrk_cell(&url, &load_config)
    } else {
        (None, None)
    };
    let finished = server.stop(nix::sys::signal::Signal::SIGINT, STOP_GRACE);
    let outcome = match outcome {
        Ok(o) => o,
        Err(e) => return failed(format!("the load generator failed: {e}")),
    };
    let summary = load::Summary::new(&url, &load_config, &outcome);
    let mut cell = Cell::new(spec, Status::Ran(None));
    cell.requests_per_s = Some(summary.requests_per_s);
    cell.latency = summary.latency_ms;
    cell.ok = Some(summary.ok);
    cell.errors = Some(summary.errors);
    cell.errors_by_kind = summary.errors_by_kind.into_iter().collect();
    cell.peak_rss_kb = peak_rss_kb;
    cell.client_cores = Some(summary.cpu_cores);
    cell.window_s = Some(summary.window_s);
    cell.wrk = wrk;
    cell.wrk_skipped = wrk_skipped;
    let mut notes = Vec::new();
    match finished {
        Ok(f) => {
            let cpu = f.usage.cpu().as_secs_f64();
            if outcome.ok_total > 0 {
                cell.server_cpu_us_per_request = Some(cpu * 1e6 / outcome.ok_total as f64);
            }
            match f.exit {
                Exit::Code(0) => {}
                Exit::Code(c) => notes.push(format!("the server exited {c} after SIGINT")),
                Exit::Signal(s) => notes.push(format!("the server died of signal {s}")),
                Exit::TimedOut => notes.push(format!(
                    "the server was killed {} s after SIGINT",
                    STOP_GRACE.as_secs()
                )),
            }
        }
        Err(e) => notes.push(format!("waiting for the server: {e}")),
    }
    if summary.ok == 0 {
        let first = outcome
            .error_kinds()
            .next()
            .map(|(f, n, e)| format!(": {n} × {f} ({e})"))
            .unwrap_or_default();
        cell.status = Status::Failed(format!("no good response in the window{first}"));
        cell.requests_per_s = None;
    } else if !notes.is_empty() {
        cell.status = Status::Ran(Some(notes.join("; ")));
    }
    cell
}

/// wrk on the same server, keep-alive cells only.
fn wrk_cell(url: &str, c: &LoadConfig) -> (Option<WrkResult>, Option<String>) {
    if c.new_connection {
        return (None, Some("wrk runs keep-alive cells only".into()));
    }
    if crate::load::wrk::find().is_none() {
        return (None, Some("wrk is not on PATH".into()));
    }
    let run = WrkRun {
        url,
        threads: c.threads,
        connections: c.connections,
        duration: c.duration,
        timeout: c.timeout,
        close: false,
    };
    match run.run() {
        Ok(r) => (Some(r), None),
        Err(why) => (None, Some(why)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_url_is_read_from_the_first_line() {
        assert_eq!(
            url_in("serving callback_loop/epoll on http://127.0.0.1:4242 (think time 0 ms)")
                .as_deref(),
            Some("http://127.0.0.1:4242")
        );
        assert_eq!(
            url_in("http://127.0.0.1:80/,").as_deref(),
            Some("http://127.0.0.1:80/")
        );
        assert_eq!(url_in("listening on http://10.0.0.1:80"), None);
    }

    #[test]
    fn every_server_comes_from_the_tables() {
        let all = every_server();
        let expected: usize = LESSONS.iter().map(|l| l.servers.len()).sum();
        assert_eq!(all.len(), expected);
        assert!(select(&["no_such_lesson".into()]).is_err());
        assert_eq!(select(&[]).unwrap().len(), expected);
        let e = select(&["sync_blocking/nope".into()])
            .unwrap_err()
            .to_string();
        assert!(e.contains("has no server 'nope'"), "{e}");
    }
}
