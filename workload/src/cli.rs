//! The command line every lesson binary shares: the flags, the timeline
//! and the summary, the JSON object (see `docs/ARCHITECTURE.md`).
//!
//! Exit status: 0 when every page is ok, 1 when some page failed (each one
//! named on stderr), 2 for a usage error.

use crate::plan::{BaseUrl, Plan, DEFAULT_MAX_BYTES, DEFAULT_SIZE};
use crate::server::{Server, ServerConfig};
use crate::trace::{Report, Trace};
use crate::Lesson;
use clap::{CommandFactory, FromArgMatches, Parser};
use std::fmt::Write as _;
use std::io::{IsTerminal, Write as _};
use std::process::ExitCode;
use std::time::Duration;

/// The most pages one run accepts: bounded so a typo cannot ask for a
/// billion traces.
pub const MAX_PAGES: u64 = 1_000_000;

/// The shared flags.
#[derive(Debug, Clone, Parser)]
#[command(disable_version_flag = true)]
pub struct Args {
    /// Number of pages to fetch: page 0 is the base URL, page i is BASE/i.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=MAX_PAGES))]
    pub pages: u64,

    /// Simulated network latency of the embedded server, in ms, before the first
    /// byte of every page. With --url it only tells the report the ideal time.
    #[arg(long, value_name = "MS", value_parser = clap::value_parser!(u64).range(0..=600_000))]
    pub latency_ms: Option<u64>,

    /// Body size of every page served by the embedded server, in bytes.
    #[arg(long, value_name = "BYTES", default_value_t = DEFAULT_SIZE as u64,
          value_parser = clap::value_parser!(u64).range(0..=64 * 1024 * 1024))]
    pub size: u64,

    /// Fetch from this base URL (http:// only) instead of starting the embedded
    /// server, e.g. http://127.0.0.1:8080 from `page-server`.
    #[arg(long, value_name = "BASE_URL")]
    pub url: Option<String>,

    /// Pages in flight at once, for the variants that have workers
    /// (default: the lesson's own, usually every page).
    #[arg(long, value_name = "W", value_parser = clap::value_parser!(u64).range(1..=100_000))]
    pub workers: Option<u64>,

    /// Each page must end within this many ms of its start, or it fails as a timeout.
    #[arg(long, value_name = "MS", default_value_t = 10_000,
          value_parser = clap::value_parser!(u64).range(1..=3_600_000))]
    pub timeout_ms: u64,

    /// A body larger than this fails as too_large instead of filling memory.
    #[arg(long, value_name = "BYTES", default_value_t = DEFAULT_MAX_BYTES,
          value_parser = clap::value_parser!(u64).range(0..=1 << 40))]
    pub max_bytes: u64,

    /// Which variant of the lesson to run (listed below; the first is the default).
    #[arg(long, value_name = "NAME")]
    pub variant: Option<String>,

    /// Print exactly one JSON object on stdout instead of the timeline.
    #[arg(long)]
    pub json: bool,

    /// Embedded server only: page i waits latency × (N-i)/N, so pages complete in
    /// reverse order and out-of-order completion shows in the timeline.
    #[arg(long)]
    pub stagger: bool,

    /// Each page also spends this many microseconds of real CPU on its body once it
    /// has arrived (a calibrated hash, never a sleep): concurrency vs parallelism.
    #[arg(long, value_name = "US", default_value_t = 0,
          value_parser = clap::value_parser!(u64).range(0..=10_000_000))]
    pub cpu_us: u64,
}

/// Run a lesson's binary: parse the command line, start the embedded
/// server unless `--url` is given, run the variant, print the report.
pub fn main(lesson: &Lesson) -> ExitCode {
    main_from(lesson, std::env::args_os())
}

/// [`main`] with explicit arguments (the first is the program name).
pub fn main_from<I, T>(lesson: &Lesson, args: I) -> ExitCode
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    let mut command = command(lesson);
    let matches = match command.try_get_matches_from_mut(args) {
        Ok(m) => m,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                ExitCode::from(2)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    let args = match Args::from_arg_matches(&matches) {
        Ok(a) => a,
        Err(e) => return usage_error(&mut command, &e.to_string()),
    };
    let options = match lesson.flags.parse(&matches) {
        Ok(o) => o,
        Err(e) => return usage_error(&mut command, &e.to_string()),
    };

    let variant = match &args.variant {
        None => lesson.default_variant(),
        Some(name) => match lesson.variant(name) {
            Some(v) => v,
            None => {
                let names: Vec<&str> = lesson.variants.iter().map(|v| v.name).collect();
                return usage_error(
                    &mut command,
                    &format!(
                        "unknown variant '{name}'; {} has: {}",
                        lesson.name,
                        names.join(", ")
                    ),
                );
            }
        },
    };
    if let Err(why) = (variant.available)() {
        eprintln!(
            "error: {}/{} cannot run here: {why}",
            lesson.name, variant.name
        );
        return ExitCode::from(2);
    }
    if args.url.is_some() && args.stagger {
        return usage_error(
            &mut command,
            "--stagger shapes the embedded server; with --url, start page-server with --stagger instead",
        );
    }

    crate::raise_fd_limit();
    let pages = args.pages as usize;
    let (server, base) = match &args.url {
        Some(url) => (None, url.clone()),
        None => {
            let config = ServerConfig {
                latency: Duration::from_millis(args.latency_ms.unwrap_or(100)),
                size: args.size as usize,
                stagger: args.stagger.then_some(pages),
                ..ServerConfig::default()
            };
            match Server::start(config) {
                Ok(s) => {
                    let url = s.url();
                    (Some(s), url)
                }
                Err(e) => {
                    eprintln!("error: cannot start the embedded page server: {e}");
                    return ExitCode::from(2);
                }
            }
        }
    };
    let base = match BaseUrl::parse(&base) {
        Ok(b) => b,
        Err(e) => return usage_error(&mut command, &format!("--url: {e}")),
    };
    let latency = match &server {
        Some(s) => Some(s.config().latency),
        None => args.latency_ms.map(Duration::from_millis),
    };
    let plan = Plan {
        base,
        pages,
        latency,
        stagger: args.stagger,
        size: args.size as usize,
        timeout: Duration::from_millis(args.timeout_ms),
        max_bytes: args.max_bytes,
        workers: args.workers.map(|w| w as usize),
        variant: variant.name.to_string(),
        progress: !args.json && std::io::stderr().is_terminal(),
        cpu: Duration::from_micros(args.cpu_us),
        options,
    };

    let report = lesson.run(variant, &plan, server.as_ref());
    drop(server);

    if args.json {
        let json = serde_json::to_string(&report).expect("a report is plain data");
        println!("{json}");
    } else {
        print!("{}", render(&report, &plan));
    }
    for t in report.failures() {
        eprintln!(
            "page {} ({}) failed: {}",
            t.page,
            t.url,
            t.error
                .as_ref()
                .map_or("not finished".to_string(), |e| e.to_string())
        );
    }
    let _ = std::io::stdout().flush();
    if report.failed == 0 && report.traces.len() == report.pages {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

/// The clap command of a lesson: the shared flags, the lesson's own flags,
/// and the list of variants in `--help`.
pub fn command(lesson: &Lesson) -> clap::Command {
    let mut variants = String::from("Variants (--variant):\n");
    for (i, v) in lesson.variants.iter().enumerate() {
        let default = if i == 0 { " (default)" } else { "" };
        let _ = writeln!(variants, "  {:<12} {}{default}", v.name, v.about);
    }
    let _ = write!(
        variants,
        "\nExit status: 0 every page ok, 1 some page failed (named on stderr), 2 usage error.\n\
         Without --url an embedded page server is started on 127.0.0.1 (default latency 100 ms)."
    );
    let cmd = Args::command()
        .name(lesson.name)
        .bin_name(lesson.name)
        .about(lesson.about)
        .after_help(variants);
    lesson.flags.augment(cmd)
}

fn usage_error(command: &mut clap::Command, message: &str) -> ExitCode {
    let e = command.error(clap::error::ErrorKind::InvalidValue, message);
    let _ = e.print();
    ExitCode::from(2)
}

/// Width of the timeline's bars, so a line fits in 80 columns.
const BAR: usize = 46;
/// Timelines longer than this show a sample of the pages.
const MAX_ROWS: usize = 40;

/// The human report: a header, the timeline, the legend, the summary.
pub fn render(report: &Report, plan: &Plan) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{} / {}: {} pages, {} in flight, latency {}\nfrom {}",
        report.model,
        report.variant,
        report.pages,
        report.in_flight,
        report
            .latency_ms
            .map_or("unknown".into(), |l| format!("{l:.0} ms")),
        plan.base.url,
    );
    out.push_str(&timeline(&report.traces, report.wall_ms));
    out.push_str(&summary(report));
    out
}

/// One bar per page on a shared time axis from 0 to `wall_ms`:
/// `-` connecting, `c` connected, `.` waiting for the first byte,
/// `f` first byte, `=` reading, `|` done, `x` failed.
pub fn timeline(traces: &[Trace], wall_ms: f64) -> String {
    let mut out = String::new();
    let end = traces
        .iter()
        .filter_map(|t| t.done_ms)
        .fold(wall_ms, f64::max)
        .max(1e-3);
    let step = traces.len().div_ceil(MAX_ROWS).max(1);
    let col = |ms: f64| (((ms / end) * BAR as f64) as usize).min(BAR - 1);
    let _ = writeln!(
        out,
        "{:>6} 0 ms{:>width$}",
        "page",
        format!("{end:.0} ms"),
        width = BAR - 2
    );
    for t in traces.iter().step_by(step) {
        let mut bar = [b' '; BAR];
        if let Some(start) = t.start_ms {
            let stop = t.done_ms.unwrap_or(end);
            for (c, cell) in bar.iter_mut().enumerate() {
                let mid = (c as f64 + 0.5) * end / BAR as f64;
                if mid < start || mid > stop {
                    continue;
                }
                *cell = match (t.connected_ms, t.first_byte_ms) {
                    (Some(_), Some(f)) if mid >= f => b'=',
                    (Some(c), _) if mid >= c => b'.',
                    _ => b'-',
                };
            }
            bar[col(start)] = b'-';
            if let Some(c) = t.connected_ms {
                bar[col(c)] = b'c';
            }
            if let Some(f) = t.first_byte_ms {
                bar[col(f)] = b'f';
            }
            if let Some(d) = t.done_ms {
                bar[col(d)] = if t.is_ok() { b'|' } else { b'x' };
            }
        }
        let outcome = match (t.error_kind(), t.status) {
            (None, Some(s)) if t.is_ok() => format!("{s} {}B", t.bytes.unwrap_or(0)),
            (Some(crate::ErrorKind::Status), Some(s)) => format!("HTTP {s}"),
            (Some(k), _) => k.to_string(),
            (None, _) => "not finished".into(),
        };
        let took = match (t.start_ms, t.done_ms) {
            (Some(s), Some(d)) => format!("{:.0}ms", d - s),
            _ => "-".into(),
        };
        let _ = writeln!(
            out,
            "{:>6} {} {:>7} {}",
            t.page,
            String::from_utf8_lossy(&bar),
            took,
            outcome
        );
    }
    if step > 1 {
        let _ = writeln!(
            out,
            "{:>6} (every {step}th of {} pages shown)",
            "",
            traces.len()
        );
    }
    let _ = writeln!(
        out,
        "{:>6} -connecting c connected .waiting f first byte =reading |done x failed",
        ""
    );
    out
}

/// The summary lines: wall, ideal, ratio, CPU, memory, switches, outcome.
pub fn summary(r: &Report) -> String {
    let ideal = match (r.ideal_ms, r.ratio()) {
        (Some(i), Some(x)) => format!("ideal {i:.0} ms (x{x:.2})"),
        (Some(_), None) => "ideal 0 ms (no latency to overlap)".into(),
        (None, _) => "ideal unknown (give --latency-ms with --url)".into(),
    };
    let share = if r.wall_ms > 0.0 {
        100.0 * r.cpu_ms / r.wall_ms
    } else {
        0.0
    };
    let mut out = format!(
        "wall {:.1} ms | {ideal} | {} ok, {} failed\n",
        r.wall_ms, r.ok, r.failed
    );
    let _ = writeln!(
        out,
        "cpu {:.1} ms ({share:.0}% of wall) | peak RSS {:.1} MB | ctx switches {} vol, {} invol",
        r.cpu_ms,
        r.max_rss_kb as f64 / 1024.0,
        r.voluntary_switches,
        r.involuntary_switches,
    );
    if let Some(s) = r.server_cpu_ms {
        let _ = writeln!(
            out,
            "(the embedded page server's own cpu, {s:.1} ms, is left out)"
        );
    }
    let held = r.server_hold_max_ms.filter(|h| *h > 0.0);
    if let (Some(hold), Some(own)) = (held, r.client_overhead_ms()) {
        let _ = writeln!(
            out,
            "server holds: up to {hold:.1} ms each; the client's own time beyond them: {own:.1} ms"
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{fail_every_page, Clock, Concurrency, ErrorKind, FetchError, Flags, Variant};

    /// A lesson whose every page fails, with one flag that accepts only "ok"
    /// and one variant that cannot run here.
    fn fail_all(plan: &Plan) -> Vec<Trace> {
        // The flag reaches the lesson parsed.
        let mode = plan.options::<TestFlags>().mode;
        fail_every_page(
            plan,
            &FetchError::new(ErrorKind::Io, format!("mode {mode}")),
        )
    }

    #[derive(Debug, Clone, Default, clap::Args)]
    struct TestFlags {
        /// ok is the only mode
        #[arg(long, default_value = "ok", value_parser = ["ok"])]
        mode: String,
    }

    const LESSON: Lesson = Lesson {
        name: "test",
        about: "a test lesson",
        variants: &[
            Variant::new("only", "fails every page", Concurrency::One, fail_all),
            Variant::new("absent", "never here", Concurrency::One, fail_all)
                .available(|| Err("not on this machine".into())),
        ],
        flags: Flags::of::<TestFlags>(),
    };

    #[test]
    fn a_lesson_flag_that_fails_its_check_is_a_usage_error() {
        assert_eq!(
            main_from(&LESSON, ["test", "--mode", "nope"]),
            ExitCode::from(2)
        );
        let quick = ["--pages", "1", "--latency-ms", "0"];
        let with_mode = ["test", "--mode", "ok"].into_iter().chain(quick);
        assert_eq!(main_from(&LESSON, with_mode), ExitCode::from(1));
    }

    #[test]
    fn a_bad_cpu_us_is_a_usage_error() {
        assert_eq!(
            main_from(&LESSON, ["test", "--cpu-us", "-5"]),
            ExitCode::from(2)
        );
        assert_eq!(
            main_from(&LESSON, ["test", "--cpu-us", "99999999999"]),
            ExitCode::from(2)
        );
    }

    #[test]
    fn a_variant_that_cannot_run_here_is_a_usage_error() {
        let args = ["test", "--variant", "absent", "--pages", "1"];
        assert_eq!(main_from(&LESSON, args), ExitCode::from(2));
    }

    #[test]
    fn a_zero_latency_run_is_not_told_to_give_a_url() {
        let plan = Plan::new("http://127.0.0.1:1", 1).unwrap();
        let mut report = LESSON.run(&LESSON.variants[0], &plan, None);
        report.ideal_ms = Some(0.0);
        let text = summary(&report);
        assert!(!text.contains("--url"), "{text}");
        report.ideal_ms = None;
        assert!(summary(&report).contains("--url"));
    }

    #[test]
    fn timelines_sample_long_runs_and_fit_80_columns() {
        let plan = Plan::new("http://127.0.0.1:1", 1000).unwrap();
        let clock = Clock::start();
        let traces: Vec<Trace> = plan.all_pages().map(|p| Trace::start(&p, clock)).collect();
        let text = timeline(&traces, 1000.0);
        assert!(text.lines().count() < 50, "{text}");
        assert!(text.contains("every 25th of 1000 pages shown"), "{text}");
        assert!(text.lines().all(|l| l.chars().count() <= 80), "{text}");
    }
}
