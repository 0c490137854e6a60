//! The sweep: every lesson binary against one `page-server` process, from
//! 10 to 10,000 pages.
//!
//! ```text
//! cargo run --release -p bench-report -- sweep [--pages 10,100,1000,10000]
//!     [--latency-ms 1000] [--repeat 3] [--models callback_loop,multi_thread/pool] [--quick]
//! ```
//!
//! The report folder is checked first (`outdir.rs`), then the binaries are
//! built (`binaries.rs`), every cell decided (`decide.rs`: run, estimate,
//! or say why not), the runs made as child processes (`runner.rs`) and
//! summed up here (medians per cell); `sweep_report.rs` writes `sweep.md`,
//! `sweep.json` and the charts (`sweep-wall.svg`, `sweep-cpu.svg`,
//! `sweep-rss.svg`, `timeline-<lesson>.svg`), into `target/report/` by
//! default. Exit 2 for bad input (nothing measured), 1 when no cell
//! produced a figure (the report says why), 0 otherwise.

use crate::decide::{decide, Budget, Limits};
use crate::jobs::{seconds, Job, Setup, Shared};
use crate::numbers::median;
use crate::outdir::OutDir;
use crate::page_server::PageServer;
use crate::runner::{self, Batch, Run};
use crate::status::Status;
use crate::sweep_report::SweepReport;
use crate::{cli, reporting};
use anyhow::{anyhow, Result};
use serde::Serialize;
use std::collections::BTreeMap;
use std::process::ExitCode;
use std::time::Duration;

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

    /// A short sweep that checks the harness itself: small N, short latency, one run each.
    #[arg(long)]
    quick: bool,

    /// Run a cell only if its ideal time (latency × rounds) is at most this many
    /// seconds; longer ones are estimated and marked [default: 30; with --quick: 0.5].
    #[arg(long, value_name = "S")]
    run_up_to_s: Option<f64>,

    #[command(flatten)]
    shared: Shared,
}

/// The sweep's settings, with the defaults resolved.
#[derive(Debug)]
pub struct Config {
    pub pages: Vec<usize>,
    pub latency_ms: u64,
    pub repeat: usize,
    pub run_up_to: Duration,
    pub setup: Setup,
}

impl Config {
    pub fn from_args(a: Args) -> Result<Config> {
        let quick = a.quick;
        let pages: Vec<usize> =
            cli::sorted_list(a.pages, quick, &[10, 40], &[10, 100, 1000, 10_000])
                .into_iter()
                .map(|n| n as usize)
                .collect();
        let run_up_to = seconds("run-up-to-s", a.run_up_to_s)?
            .unwrap_or(Duration::from_secs_f64(if quick { 0.5 } else { 30.0 }));
        Ok(Config {
            pages,
            latency_ms: a.latency_ms.unwrap_or(if quick { 20 } else { 1000 }),
            repeat: a.repeat.unwrap_or(if quick { 1 } else { 3 }) as usize,
            run_up_to,
            setup: a.shared.resolve()?,
        })
    }

    pub fn jobs(&self) -> &[Job] {
        &self.setup.jobs
    }

    fn budget(&self) -> Budget {
        Budget {
            run_up_to: self.run_up_to,
            time_limit: self.setup.time_limit,
        }
    }

    /// The files the report writes.
    pub fn file_names(&self) -> Vec<String> {
        let mut names: Vec<String> = [
            "sweep.md",
            "sweep.json",
            "sweep-wall.svg",
            "sweep-cpu.svg",
            "sweep-rss.svg",
        ]
        .map(String::from)
        .to_vec();
        names.extend(
            self.setup
                .lessons()
                .iter()
                .map(|l| format!("timeline-{}.svg", l.name)),
        );
        names
    }
}

pub fn run(args: Args) -> ExitCode {
    let prepare = |c: &Config| OutDir::prepare(&c.setup.out, &c.file_names());
    let (config, out) = match cli::start("sweep", Config::from_args(args), prepare) {
        Ok(started) => started,
        Err(code) => return code,
    };
    cli::finish(
        "sweep",
        sweep(&config, &out),
        "no cell produced a figure; the report says why for each",
    )
}

/// Measure every cell and write the report; the number of cells measured.
fn sweep(config: &Config, out: &OutDir) -> Result<usize> {
    let start = reporting::Start::now();
    let ready = config
        .setup
        .bins
        .ready(config.jobs(), "sweep")
        .map_err(|e| anyhow!(e))?;

    let limits = Limits::now();
    let every_cell = config
        .pages
        .iter()
        .flat_map(|&n| config.jobs().iter().map(move |job| (*job, n)));
    let plan = runner::schedule(&ready, every_cell, |job, n| {
        let budget = config.budget();
        decide(&limits, &budget, job, n, config.latency_ms, Duration::ZERO)
    });

    let mut server = PageServer::start(&ready.page_server, config.setup.port, config.latency_ms)?;
    let batch = Batch {
        url: &server.url,
        latency_ms: config.latency_ms,
        cpu_us: 0,
        repeat: config.repeat,
    };
    eprintln!(
        "sweep: page-server at {} ({} ms), {} lesson variants, N = {:?}, {} run(s) each: {} runs",
        server.url,
        config.latency_ms,
        config.jobs().len(),
        config.pages,
        config.repeat,
        runner::count(&plan, &batch)
    );
    let runs = runner::run_scheduled(&plan, &batch, &config.setup.extra);
    server.stop();
    let mut cells: Vec<Cell> = plan
        .into_iter()
        .zip(runs)
        .map(|(s, runs)| {
            let mut cell = Cell::new(&s.job, s.pages, config.latency_ms, s.status);
            if !runs.is_empty() {
                cell.runs = runs;
                cell.sum_up();
            }
            cell
        })
        .collect();
    marginal_memory(&mut cells);

    let report = SweepReport {
        config,
        cells: &cells,
        conditions: start.end(),
    };
    let files = report.write(out)?;
    reporting::announce(&report.wall_table().render(), &files);
    Ok(cells.iter().filter(|c| c.measured()).count())
}

/// One (variant, N) of the sweep, its runs and their medians.
#[derive(Debug, Clone, Serialize)]
pub struct Cell {
    #[serde(skip)]
    pub job: Job,
    pub lesson: &'static str,
    pub variant: &'static str,
    pub pages: usize,
    pub in_flight: usize,
    pub ideal_ms: f64,
    #[serde(flatten)]
    pub status: Status,
    pub wall_ms: Option<f64>,
    pub x_ideal: Option<f64>,
    pub process_wall_ms: Option<f64>,
    pub cpu_ms: Option<f64>,
    pub cpu_us_per_page: Option<f64>,
    pub max_rss_kb: Option<f64>,
    pub rss_kb_per_in_flight: Option<f64>,
    /// (peak RSS - peak RSS at the smallest N) / (pages in flight more).
    pub marginal_kb_per_page: Option<f64>,
    pub voluntary_switches: Option<f64>,
    pub involuntary_switches: Option<f64>,
    pub runs: Vec<Run>,
}

impl Cell {
    pub fn new(job: &Job, pages: usize, latency_ms: u64, status: Status) -> Cell {
        let (in_flight, ideal_ms) = job.shape(pages, latency_ms);
        Cell {
            job: *job,
            lesson: job.lesson.name,
            variant: job.variant.name,
            pages,
            in_flight,
            ideal_ms,
            status,
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
    pub fn sum_up(&mut self) {
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
        self.cpu_ms = m(&|r| Some(r.cpu_ms()));
        self.cpu_us_per_page = self.cpu_ms.map(|c| c * 1e3 / self.pages as f64);
        self.max_rss_kb = m(&|r| r.max_rss_kb.map(|k| k as f64));
        self.rss_kb_per_in_flight = self.max_rss_kb.map(|k| k / self.in_flight.max(1) as f64);
        self.voluntary_switches = m(&|r| Some(r.usage.voluntary_switches as f64));
        self.involuntary_switches = m(&|r| Some(r.usage.involuntary_switches as f64));
        self.status = match bad.first() {
            None => Status::Ran(None),
            Some(first) => {
                let problem = first.problem.clone().unwrap_or_default();
                if good.is_empty() {
                    Status::Failed(problem)
                } else {
                    Status::Ran(Some(format!(
                        "{} of {} runs left out: {problem}",
                        bad.len(),
                        self.runs.len()
                    )))
                }
            }
        };
    }

    pub fn measured(&self) -> bool {
        self.wall_ms.is_some()
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::child::Usage;

    fn job() -> Job {
        crate::jobs::every_job()[0]
    }

    #[test]
    fn cells_take_medians_of_the_good_runs() {
        let mut cell = Cell::new(&job(), 10, 1000, Status::Ran(None));
        let run = |wall: f64, problem: Option<&str>| Run {
            wall_ms: Some(wall),
            usage: Usage {
                user: Duration::from_millis(2),
                ..Usage::default()
            },
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
        assert_eq!(cell.status.label(), "measured");
        assert_eq!(cell.wall_ms, Some(10_200.0));
        assert_eq!(cell.x_ideal, Some(1.02));
        assert_eq!(cell.cpu_ms, Some(2.0));
        assert_eq!(cell.rss_kb_per_in_flight, Some(3000.0));
        assert!(cell
            .status
            .reason()
            .unwrap()
            .contains("1 of 3 runs left out: boom"));

        let mut failed = Cell::new(&job(), 10, 1000, Status::Ran(None));
        failed.runs = vec![run(1.0, Some("killed at the 2 s time limit"))];
        failed.sum_up();
        assert_eq!(failed.status.label(), "failed");
        assert!(!failed.measured());
        let json = serde_json::to_value(&failed).unwrap();
        assert_eq!(json["status"], "failed");
        assert_eq!(json["reason"], "killed at the 2 s time limit");
        assert_eq!(json["runs"][0]["cpu_ms"], 2.0);
    }

    #[test]
    fn marginal_memory_is_per_extra_page_in_flight() {
        let mut a = Cell::new(&job(), 10, 1000, Status::Ran(None));
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
}
