//! The cpu command: pages that also cost CPU. Every lesson variant runs as
//! a child process (as in the sweep) with `--cpu-us`, so each page, once
//! its body has arrived, spends that much CPU on the model's own thread of
//! control. A model with one thread runs the pages' work one after another;
//! one with threads or processes spreads it over the cores:
//!
//! ```text
//! cargo run --release -p bench-report -- cpu [--pages 100] [--latency-ms 100] [--cpu-us 5000]
//!     [--models multi_thread,callback_loop] [--repeat 1] [--out target/report]
//! ```
//!
//! Writes `cpu.md` (wall, CPU, wall / (N × cpu), and whether the work was
//! serialised or ran in parallel) and `cpu.svg` (a bar of wall time per
//! variant against the two reference lines N × cpu and N × cpu / cores).

use crate::charts::{self, Bar, Line};
use crate::decide::{decide, Budget, Limits};
use crate::jobs::{seconds, Job, Setup, Shared};
use crate::numbers::{median, ms, opt, ratio, to_ms};
use crate::outdir::OutDir;
use crate::page_server::PageServer;
use crate::runner::{self, Batch, Run};
use crate::status::Status;
use crate::table::Table;
use crate::{cli, machine, reporting};
use anyhow::{anyhow, Result};
use std::process::ExitCode;
use std::time::Duration;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Pages per run.
    #[arg(long, value_name = "N", default_value_t = 100,
          value_parser = clap::value_parser!(u64).range(1..=workload::cli::MAX_PAGES))]
    pages: u64,

    /// Latency of the page server, in ms.
    #[arg(long, value_name = "MS", default_value_t = 100,
          value_parser = clap::value_parser!(u64).range(0..=600_000))]
    latency_ms: u64,

    /// CPU each page spends on its body once it has arrived, in µs (the lessons' --cpu-us).
    #[arg(long, value_name = "US", default_value_t = 5000,
          value_parser = clap::value_parser!(u64).range(1..=10_000_000))]
    cpu_us: u64,

    /// Runs of every variant; the table shows the median.
    #[arg(long, value_name = "R", default_value_t = 1,
          value_parser = clap::value_parser!(u64).range(1..=100))]
    repeat: u64,

    /// Run a variant only if its expected time (latency × rounds + N × cpu) is at
    /// most this many seconds; longer ones are estimated and marked [default: 30].
    #[arg(long, value_name = "S")]
    run_up_to_s: Option<f64>,

    #[command(flatten)]
    shared: Shared,
}

/// The command's settings, with the defaults resolved.
#[derive(Debug)]
pub struct Config {
    pub pages: usize,
    pub latency_ms: u64,
    pub cpu: Duration,
    pub repeat: usize,
    pub run_up_to: Duration,
    pub cores: usize,
    pub setup: Setup,
}

impl Config {
    pub fn from_args(a: Args) -> Result<Config> {
        Ok(Config {
            pages: a.pages as usize,
            latency_ms: a.latency_ms,
            cpu: Duration::from_micros(a.cpu_us),
            repeat: a.repeat as usize,
            run_up_to: seconds("run-up-to-s", a.run_up_to_s)?.unwrap_or(Duration::from_secs(30)),
            cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
            setup: a.shared.resolve()?,
        })
    }

    /// N × cpu: the work done one page after another.
    pub fn serial_ms(&self) -> f64 {
        to_ms(self.cpu) * self.pages as f64
    }

    /// N × cpu / cores: the work spread over every core.
    pub fn parallel_ms(&self) -> f64 {
        self.serial_ms() / self.cores as f64
    }
}

pub fn run(args: Args) -> ExitCode {
    let prepare =
        |c: &Config| OutDir::prepare(&c.setup.out, &["cpu.md", "cpu.svg"].map(String::from));
    let (config, out) = match cli::start("cpu", Config::from_args(args), prepare) {
        Ok(started) => started,
        Err(code) => return code,
    };
    let measured = measure(&config).and_then(|rows| {
        write(&config, &rows, &out)?;
        Ok(rows.iter().filter(|r| r.wall_ms.is_some()).count())
    });
    cli::finish(
        "cpu",
        measured,
        "no variant produced a figure; cpu.md says why for each",
    )
}

/// One variant's runs and what they show.
#[derive(Debug, Clone)]
pub struct Row {
    pub job: Job,
    pub in_flight: usize,
    /// latency × rounds: the run's time with no CPU work.
    pub ideal_ms: f64,
    pub status: Status,
    pub wall_ms: Option<f64>,
    pub cpu_ms: Option<f64>,
}

impl Row {
    fn new(config: &Config, job: &Job, status: Status, runs: &[Run]) -> Row {
        let (in_flight, ideal_ms) = job.shape(config.pages, config.latency_ms);
        let good: Vec<&Run> = runs.iter().filter(|r| r.problem.is_none()).collect();
        let status = match (status, runs.iter().find_map(|r| r.problem.clone())) {
            (Status::Ran(_), Some(p)) if good.is_empty() => Status::Failed(p),
            (Status::Ran(_), Some(p)) => Status::Ran(Some(format!(
                "{} of {} runs left out: {p}",
                runs.len() - good.len(),
                runs.len()
            ))),
            (s, _) => s,
        };
        Row {
            job: *job,
            in_flight,
            ideal_ms,
            status,
            wall_ms: median(&good.iter().filter_map(|r| r.wall_ms).collect::<Vec<_>>()),
            cpu_ms: median(&good.iter().map(|r| r.cpu_ms()).collect::<Vec<_>>()),
        }
    }

    /// The part of the wall time beyond the I/O alone.
    pub fn beyond_io_ms(&self) -> Option<f64> {
        self.wall_ms.map(|w| (w - self.ideal_ms).max(0.0))
    }

    /// "serialised" when the time beyond the I/O is nearer N × cpu than
    /// N × cpu / cores, "parallel" when nearer the latter; and where the
    /// figures cannot say: the CPU measured is well below the work asked
    /// for (the variant did not spend it), or the time beyond the I/O is
    /// well above even N × cpu (start-up and other costs drown the work).
    pub fn verdict(&self, config: &Config) -> &'static str {
        let Some(beyond) = self.beyond_io_ms() else {
            return "-";
        };
        if self.cpu_ms.is_some_and(|c| c < config.serial_ms() / 2.0) {
            return "not spent: cpu below N x cpu";
        }
        if config.cores < 2 {
            return "one core: cannot tell";
        }
        if beyond > 2.0 * config.serial_ms() {
            return "cannot tell: other costs exceed the work";
        }
        let middle = (config.serial_ms() + config.parallel_ms()) / 2.0;
        if beyond >= middle {
            "serialised"
        } else {
            "parallel"
        }
    }
}

/// Run every variant; a row for each.
fn measure(config: &Config) -> Result<Vec<Row>> {
    let ready = config
        .setup
        .bins
        .ready(&config.setup.jobs, "cpu")
        .map_err(|e| anyhow!(e))?;
    let limits = Limits::now();
    let budget = Budget {
        run_up_to: config.run_up_to,
        time_limit: config.setup.time_limit,
    };
    let work = config.cpu * config.pages as u32;
    let plan = runner::schedule(
        &ready,
        config.setup.jobs.iter().map(|job| (*job, config.pages)),
        |job, n| decide(&limits, &budget, job, n, config.latency_ms, work),
    );
    let mut server = PageServer::start(&ready.page_server, config.setup.port, config.latency_ms)?;
    let batch = Batch {
        url: &server.url,
        latency_ms: config.latency_ms,
        cpu_us: config.cpu.as_micros() as u64,
        repeat: config.repeat,
    };
    eprintln!(
        "cpu: page-server at {} ({} ms), {} pages of {} µs CPU each, {} variants: {} runs",
        server.url,
        config.latency_ms,
        config.pages,
        config.cpu.as_micros(),
        plan.len(),
        runner::count(&plan, &batch)
    );
    let runs = runner::run_scheduled(&plan, &batch, &config.setup.extra);
    server.stop();
    Ok(plan
        .into_iter()
        .zip(runs)
        .map(|(s, runs)| Row::new(config, &s.job, s.status, &runs))
        .collect())
}

/// The table, with a footnote number for each row's reason.
pub fn table(config: &Config, rows: &[Row]) -> (Table, Vec<String>) {
    let mut t = Table::new(&[
        "lesson",
        "variant",
        ">in flight",
        "status",
        ">wall ms",
        ">cpu ms",
        ">wall / (N x cpu)",
        ">ideal I/O ms",
        ">beyond I/O ms",
        "the work",
    ]);
    let mut notes = Vec::new();
    for r in rows {
        let mut status = r.status.label().to_string();
        if let Some(why) = r.status.reason() {
            notes.push(why);
            status.push_str(&format!(" [{}]", notes.len()));
        }
        t.row([
            r.job.lesson.name.to_string(),
            r.job.variant.name.to_string(),
            r.in_flight.to_string(),
            status,
            opt(r.wall_ms, ms),
            opt(r.cpu_ms, ms),
            opt(r.wall_ms.map(|w| w / config.serial_ms()), ratio),
            ms(r.ideal_ms),
            opt(r.beyond_io_ms(), ms),
            r.verdict(config).to_string(),
        ]);
    }
    (t, notes)
}

pub fn markdown(config: &Config, rows: &[Row]) -> String {
    let (t, notes) = table(config, rows);
    let load = machine::load_average().map_or(String::new(), |l| format!(", load average {l:.2}"));
    let mut out = format!(
        "# CPU-bound pages: serialised or parallel (`bench-report cpu`)\n\n\
         {} pages from one `page-server` process answering after {} ms; once its body has arrived, each \
         page spends {} µs of CPU (`--cpu-us`) on the model's own thread of control. Every lesson variant \
         ran as a child process, median of {} run(s). Measured on {} on {}{load}.\n\n\
         Reproduce: `{}`\n\n\
         N × cpu = {} ms (the work one page after another); N × cpu / cores = {} ms (spread over {} cores).\n\n",
        config.pages,
        config.latency_ms,
        config.cpu.as_micros(),
        config.repeat,
        machine::describe(),
        machine::today(),
        config.setup.command.trim_end(),
        ms(config.serial_ms()),
        ms(config.parallel_ms()),
        config.cores,
    );
    for (lesson, flags) in &config.setup.extra {
        out.push_str(&format!("`{lesson}` ran with `{}`.\n\n", flags.join(" ")));
    }
    out.push_str(&t.render());
    out.push('\n');
    for (i, why) in notes.iter().enumerate() {
        out.push_str(&format!("[{}] {why}  \n", i + 1));
    }
    if !notes.is_empty() {
        out.push('\n');
    }
    out.push_str(
        "- **wall ms**: the lesson's own time from the first connect to the last page; **cpu ms**: user + \
         system of the lesson process and every process it waited for, from `wait4`.\n\
         - **ideal I/O ms**: latency × ceil(N / pages in flight), the run's time without CPU work; \
         **beyond I/O ms** = wall - ideal I/O. The chart's bars are whole wall times (the latency \
         included); bars that run past its end are the variants with many rounds of latency.\n\
         - **the work**: *serialised* when beyond I/O is nearer N × cpu than N × cpu / cores, *parallel* \
         when nearer the latter; *not spent* when the cpu measured is below half of N × cpu (the variant \
         did not do the work), *cannot tell* when beyond I/O is over twice N × cpu (other costs drown it).\n\n",
    );
    out.push_str("![wall time per variant](cpu.svg)\n");
    out
}

pub fn chart(config: &Config, rows: &[Row]) -> Result<String> {
    let bars: Vec<Bar> = rows
        .iter()
        .map(|r| Bar {
            label: r.job.name(),
            value: r.wall_ms,
            note: match (r.wall_ms, r.verdict(config)) {
                (Some(w), v @ ("serialised" | "parallel")) => format!("{} ms, {v}", ms(w)),
                (Some(w), _) => format!("{} ms (see the table)", ms(w)),
                (None, _) => r.status.label().to_string(),
            },
            tutorial: None,
            tutorial_note: String::new(),
        })
        .collect();
    let latency = config.latency_ms as f64;
    charts::bars(
        &format!(
            "{} pages at {} ms latency, {} µs of CPU each: wall time",
            config.pages,
            config.latency_ms,
            config.cpu.as_micros()
        ),
        "wall time, ms",
        ["wall time", ""],
        &bars,
        // A variant with every page in flight waits one latency, then
        // computes: the lines sit at that latency plus the work.
        &[
            Line {
                label: format!(
                    "one latency + N x cpu = {} ms (serialised)",
                    ms(latency + config.serial_ms())
                ),
                value: latency + config.serial_ms(),
            },
            Line {
                label: format!(
                    "one latency + N x cpu / cores = {} ms (parallel)",
                    ms(latency + config.parallel_ms())
                ),
                value: latency + config.parallel_ms(),
            },
        ],
        Some(axis_end(config, rows)),
    )
}

/// The chart's axis ends past the slowest variant that needs at most two
/// rounds of latency (and past N × cpu): the variants that fetch a page or
/// two at a time take N × latency and run past the end.
fn axis_end(config: &Config, rows: &[Row]) -> f64 {
    let two_rounds = 2.0 * config.latency_ms as f64;
    rows.iter()
        .filter(|r| r.ideal_ms <= two_rounds)
        .filter_map(|r| r.wall_ms)
        .fold(1.2 * config.serial_ms(), f64::max)
        * 1.05
}

fn write(config: &Config, rows: &[Row], out: &OutDir) -> Result<()> {
    let (t, _) = table(config, rows);
    let files = [
        out.write("cpu.md", markdown(config, rows))?,
        out.write("cpu.svg", chart(config, rows)?)?,
    ];
    reporting::announce(&t.render(), &files);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::binaries::Binaries;
    use std::collections::BTreeMap;

    fn config(cores: usize) -> Config {
        Config {
            pages: 100,
            latency_ms: 100,
            cpu: Duration::from_millis(5),
            repeat: 1,
            run_up_to: Duration::from_secs(30),
            cores,
            setup: Setup {
                jobs: crate::jobs::every_job(),
                extra: BTreeMap::new(),
                time_limit: None,
                port: 0,
                out: "/nonexistent".into(),
                bins: Binaries {
                    dir: "/nonexistent".into(),
                    build: false,
                },
                command: "test".into(),
            },
        }
    }

    fn ran(config: &Config, job: &Job, wall_ms: f64) -> Row {
        let run = Run {
            wall_ms: Some(wall_ms),
            usage: crate::child::Usage {
                user: Duration::from_millis(510),
                ..Default::default()
            },
            ..Run::default()
        };
        Row::new(config, job, Status::Ran(None), &[run])
    }

    #[test]
    fn the_verdict_comes_from_the_figures() {
        let c = config(2);
        assert_eq!(c.serial_ms(), 500.0);
        assert_eq!(c.parallel_ms(), 250.0);
        let job = c.setup.jobs[0];
        let ideal = job.shape(100, 100).1;
        assert_eq!(ran(&c, &job, ideal + 510.0).verdict(&c), "serialised");
        assert_eq!(ran(&c, &job, ideal + 260.0).verdict(&c), "parallel");
        assert_eq!(
            ran(&c, &job, ideal + 1200.0).verdict(&c),
            "cannot tell: other costs exceed the work"
        );
        assert_eq!(
            ran(&config(1), &job, ideal).verdict(&config(1)),
            "one core: cannot tell"
        );
        let mut idle = ran(&c, &job, ideal + 260.0);
        idle.cpu_ms = Some(12.0);
        assert_eq!(idle.verdict(&c), "not spent: cpu below N x cpu");
        let failed = Row::new(
            &c,
            &job,
            Status::Ran(None),
            &[Run {
                problem: Some("boom".into()),
                ..Run::default()
            }],
        );
        assert_eq!(failed.status, Status::Failed("boom".into()));
        assert_eq!(failed.verdict(&c), "-");
    }

    #[test]
    fn the_table_has_a_row_per_variant_and_notes_for_reasons() {
        let c = config(2);
        let rows: Vec<Row> = c
            .setup
            .jobs
            .iter()
            .enumerate()
            .map(|(i, j)| match i {
                0 => ran(&c, j, 12_000.0),
                _ => Row::new(&c, j, Status::Estimated("too long".into()), &[]),
            })
            .collect();
        let md = markdown(&c, &rows);
        let parsed = crate::table::parse(&md, &["lesson", "variant"]);
        assert_eq!(parsed.len(), rows.len(), "{md}");
        assert_eq!(parsed[0][4], "12000");
        assert_eq!(parsed[0][6], "24.00");
        assert_eq!(parsed[1][3], "estimated [1]");
        assert!(md.contains("[1] too long"), "{md}");
        assert!(chart(&c, &rows).unwrap().contains("N x cpu / cores"));
    }
}
