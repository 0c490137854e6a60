//! `cargo bench`: every lesson and every variant on the same ten pages from
//! one embedded page server, measured by criterion; then the table in the
//! tutorial's style, printed and written under `target/report/` (bench.md, bench.json,
//! bench.svg; bench-430ms.* and so on at another latency). Criterion's own
//! HTML report is `target/criterion/report/index.html`.
//!
//! Environment:
//! - `BENCH_LATENCY_MS` (default 100): the server's latency; 430 gives the
//!   tutorial's magnitudes (its 4.5 s for ten blocking pages);
//! - `BENCH_SAMPLES` (default 10, at least 10): criterion samples per variant.
//!
//! Criterion's own flags work after `--`, e.g. `cargo bench -- callback_loop`
//! runs only that lesson (the others show as "not run" in the table). A
//! variant whose `available` check fails here is skipped, and its row says
//! why.

use bench_report::bench::BenchReport;
use bench_report::outdir::OutDir;
use criterion::{BenchmarkId, Criterion, SamplingMode};
use std::cell::RefCell;
use std::process::ExitCode;
use std::time::Duration;
use workload::{Plan, Report, Server, ServerConfig};

/// The tutorial's ten pages.
const PAGES: usize = bench_report::tutorial::PAGES;
/// Runs per criterion sample while the whole bench fits the budget below.
const RUNS_PER_SAMPLE: u64 = 2;
/// If two runs per sample would take longer than this (a high
/// `BENCH_LATENCY_MS`), one run per sample it is.
const BUDGET: Duration = Duration::from_secs(240);
/// Set in the environment of this process: a copy of it started by a
/// lesson (a worker process re-executing its parent) finds it and stops.
const GUARD: &str = "BENCH_REPORT_BENCH_PID";

fn main() -> ExitCode {
    // Worker processes of lesson 2 re-execute this very binary; the lessons'
    // worker hooks (named in their tables) turn such a copy into a worker
    // (and never return there), and return at once in the normal run. It
    // must come before anything else.
    workload::enter(bench_report::LESSONS);
    // Should a lesson ever re-execute its binary without naming a hook in
    // its table, the copy stops here instead of benchmarking recursively.
    if let Some(parent) = std::env::var_os(GUARD) {
        eprintln!(
            "bench: started again by process {} (a lesson re-executing its binary?) and no worker \
             hook took over; add the lesson's hook at the top of main",
            parent.to_string_lossy()
        );
        return ExitCode::from(3);
    }
    // No other thread runs yet, so changing the environment is sound.
    std::env::set_var(GUARD, std::process::id().to_string());

    let latency_ms = match env_number("BENCH_LATENCY_MS", 100, 1..=60_000) {
        Ok(v) => v,
        Err(e) => return fail(&e),
    };
    let samples = match env_number("BENCH_SAMPLES", 10, 10..=1000) {
        Ok(v) => v as usize,
        Err(e) => return fail(&e),
    };
    let args: Vec<String> = std::env::args().collect();
    let measuring = args.iter().any(|a| a == "--bench")
        && !args
            .iter()
            .any(|a| a == "--test" || a == "--list" || a.starts_with("--profile-time"));

    workload::raise_fd_limit();
    let latency = Duration::from_millis(latency_ms);
    let server = match Server::start(ServerConfig {
        latency,
        ..ServerConfig::default()
    }) {
        Ok(s) => s,
        Err(e) => return fail(&format!("cannot start the embedded page server: {e}")),
    };
    let mut plan = Plan::new(&server.url(), PAGES).expect("the server's own URL");
    plan.latency = Some(latency);

    let mut report = BenchReport::new(PAGES, latency_ms as f64);
    // The report folder is checked before minutes of measuring, not after.
    let out = if measuring {
        let dir = bench_report::paths::report_dir();
        match OutDir::prepare(&dir, &report.file_names()) {
            Ok(out) => Some(out),
            Err(e) => return fail(&format!("{e:#}")),
        }
    } else {
        None
    };
    let expected: f64 = report.rows.iter().map(|r| r.ideal_ms / 1e3).sum();
    let runs_per_sample = if expected * (RUNS_PER_SAMPLE as f64 * samples as f64 + 1.0)
        > BUDGET.as_secs_f64()
    {
        if measuring {
            eprintln!(
                    "bench: at {latency_ms} ms, one run per sample keeps the bench near {:.0} s; \
                     criterion will say it cannot complete {samples} samples in the target time: expected",
                    expected * (samples as f64 + 1.0)
                );
        }
        1
    } else {
        RUNS_PER_SAMPLE
    };

    // Every call criterion makes to a variant, with the reports of its runs.
    let calls: Vec<RefCell<Vec<Vec<Report>>>> =
        report.rows.iter().map(|_| RefCell::default()).collect();
    let mut criterion = Criterion::default()
        .sample_size(samples)
        .warm_up_time(Duration::from_millis(1))
        .nresamples(20_000)
        .configure_from_args();
    {
        // The latency is in the group's name, so criterion compares a run
        // only with earlier runs at the same latency.
        let mut group = criterion.benchmark_group(format!("{PAGES}_pages_{latency_ms}ms"));
        group.sampling_mode(SamplingMode::Flat).sample_size(samples);
        for (row, calls) in report.rows.iter().zip(&calls) {
            if let Err(why) = &row.available {
                eprintln!(
                    "bench: {} / {} skipped: not available here: {why}",
                    row.lesson.name, row.variant.name
                );
                continue;
            }
            // Flat sampling: criterion times one warm-up run, then gives
            // every sample ceil(target / samples / that time) runs; aiming a
            // little under RUNS_PER_SAMPLE ideals lands on RUNS_PER_SAMPLE
            // unless the variant is far slower than its ideal.
            let per_sample = row.ideal_ms / 1e3 * runs_per_sample as f64 * 0.95;
            group.measurement_time(Duration::from_secs_f64(per_sample * samples as f64));
            let (lesson, variant) = (row.lesson, row.variant);
            let plan = &plan;
            let server = &server;
            group.bench_function(BenchmarkId::new(lesson.name, variant.name), move |b| {
                b.iter_custom(|iters| {
                    let mut total = Duration::ZERO;
                    let mut runs = Vec::with_capacity(iters as usize);
                    for _ in 0..iters {
                        let r = lesson.run(variant, plan, Some(server));
                        total += Duration::from_secs_f64(r.wall_ms / 1e3);
                        runs.push(r);
                    }
                    calls.borrow_mut().push(runs);
                    total
                })
            });
        }
        group.finish();
    }
    criterion.final_summary();
    drop(server);

    for (row, calls) in report.rows.iter_mut().zip(calls) {
        let mut calls = calls.into_inner();
        // The first call of a measured variant is criterion's warm-up.
        if calls.len() > 1 {
            calls.remove(0);
        }
        row.runs = calls.into_iter().flatten().collect();
    }

    println!();
    println!(
        "{PAGES} pages at {latency_ms} ms latency, on {}",
        report.machine
    );
    println!();
    print!("{}", report.table().render());
    println!();
    print!("{}", report.notes());
    if !measuring {
        println!(
            "(not a measurement: criterion ran each variant once to test it; no files written)"
        );
        return ExitCode::SUCCESS;
    }
    let command = if latency_ms == 100 {
        "cargo bench".to_string()
    } else {
        format!("BENCH_LATENCY_MS={latency_ms} cargo bench")
    };
    let Some(out) = out else {
        return ExitCode::SUCCESS;
    };
    match report.write(&out, &command) {
        Ok(files) => {
            println!();
            for f in files {
                println!("wrote {}", bench_report::paths::display(&f));
            }
            println!(
                "criterion's report: {}",
                bench_report::paths::display(
                    &bench_report::paths::criterion_dir().join("report/index.html")
                )
            );
            ExitCode::SUCCESS
        }
        Err(e) => fail(&format!("{e:#}")),
    }
}

fn env_number(
    name: &str,
    default: u64,
    range: std::ops::RangeInclusive<u64>,
) -> Result<u64, String> {
    match std::env::var(name) {
        Err(_) => Ok(default),
        Ok(s) => match s.trim().parse::<u64>() {
            Ok(v) if range.contains(&v) => Ok(v),
            _ => Err(format!(
                "{name}={s:?}: give a whole number from {} to {}",
                range.start(),
                range.end()
            )),
        },
    }
}

fn fail(message: &str) -> ExitCode {
    eprintln!("bench: error: {message}");
    ExitCode::from(2)
}
