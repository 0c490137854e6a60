//! # Lesson 2: a pool of worker processes
//!
//! The tutorial's `process_way()`: `with ProcessPoolExecutor(10)`, submit
//! lesson 1's `blocking_way` once per page, collect every result. Each
//! worker is a process of its own, asleep in its own `connect()` or
//! `read()`; the kernel runs them all, so the waits overlap. The price is
//! starting the processes, their memory, and a copy of every page through
//! a pipe: `--show-pool` prints it. The chapter is
//! `walkthrough/02-multi_process.md`.
//!
//! A worker is this same binary started again, like Python's "spawn" start
//! method: a fresh program that must start up (the tutorial's pool, on
//! Linux, forked instead: "fork" was Python's default there until 3.14).
//! So the table names the worker's entry, [`worker::run_if_worker`], and
//! every program that runs the lesson calls it through `workload::enter`
//! first thing in `main`.
//!
//! The other side, a prefork server (W worker processes accepting on one
//! inherited listener), is [`serve`].

#![forbid(unsafe_code)]

pub mod children;
pub mod frame;
pub mod pool;
pub mod serve;
mod show;
pub mod stats;
pub mod watchdog;
pub mod worker;

pub use stats::PoolStats;

use pool::{Pool, Report};
use std::collections::VecDeque;
use workload::{Clock, Concurrency, Page, Plan, Trace};

/// The lesson's table: its one variant, for the binary, the tests and the
/// benchmark.
pub const LESSON: workload::Lesson = workload::Lesson {
    name: "multi_process",
    about:
        "Lesson 2: a pool of worker processes fed over pipes (the tutorial's ProcessPoolExecutor)",
    variants: &[workload::Variant::new(
        "pool",
        "W worker processes (this binary re-run as workers), pages and results over pipes",
        CONCURRENCY,
        show::process_way_then_show,
    )
    .tutorial("processes", 0.6)
    .task_per_page(workload::OsTask::Process)],
    flags: workload::Flags::of::<PoolFlags>(),
    servers: &[workload::serve::ServeVariant::new(
        "prefork",
        "W worker processes (--workers, default 8) accepting on one inherited listener, one connection each at a time",
        serve::prefork,
    )
    .capacity(workload::serve::Capacity::Workers {
        default: serve::DEFAULT_WORKERS,
    })
    .task_per_connection(workload::OsTask::Process)],
    worker: Some(worker::run_if_worker),
};

/// The lesson's own flags.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct PoolFlags {
    /// Also print the pool's own story on stderr: 'summary' (start-up, memory, CPU
    /// and pipe cost per worker) or 'workers' (the same plus one timeline row per worker)
    #[arg(long, value_name = "WHAT", value_enum)]
    pub show_pool: Option<ShowPool>,
}

/// What `--show-pool` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ShowPool {
    Summary,
    Workers,
}

/// `--workers` pages in flight, by default one worker per page up to 100:
/// a process is too dear to start thousands of them.
pub const CONCURRENCY: Concurrency = Concurrency::Workers { default_max: 100 };

// ANCHOR: process_way
/// The tutorial's `process_way()`: W workers, each page handed to whichever
/// is free, every result collected. One trace per page, in completion
/// order, and what the workers cost.
pub fn process_way(plan: &Plan) -> (Vec<Trace>, PoolStats) {
    let clock = Clock::start();
    let mut pages: VecDeque<Page> = plan.all_pages().collect();
    let mut traces = Vec::with_capacity(plan.pages);

    // `with ProcessPoolExecutor(W) as executor:` start W processes, one
    // after another, and hand each its first page at once. The page waits
    // in the worker's stdin pipe, so the first workers fetch while the last
    // are still starting. If one cannot be started (no file descriptor left
    // for its pipes, say), the pool goes on with those it has.
    let mut pool = Pool::new(plan, clock);
    for _ in 0..CONCURRENCY.limit(plan) {
        let Some(page) = pages.pop_front() else { break };
        if let Err(page) = pool.start_worker(page) {
            pages.push_front(page);
            break;
        }
    }

    while traces.len() < plan.pages {
        // `executor.submit(blocking_way, url)`: every idle worker gets the
        // next page, one small frame written into its stdin pipe.
        while let Some(worker) = pool.idle() {
            let Some(page) = pages.pop_front() else { break };
            pool.send(worker, page);
        }
        // `future.result()`: the parent sleeps in poll() over every worker's
        // stdout pipe until one has written a result (or died). Meanwhile
        // each worker sleeps in its own connect() or read(), and the kernel
        // runs whichever process has something to do.
        match pool.next_report() {
            Some(Report::Page(trace)) => traces.push(trace),
            // Its worker died before it began the page: it goes back.
            Some(Report::NotStarted(page)) => pages.push_front(page),
            // No worker is left: the pages still queued fail, by name.
            None => {
                traces.extend(pages.drain(..).map(|page| pool.unfetched(&page)));
                break;
            }
        }
    }

    // The end of the `with` block: close every worker's stdin (each one
    // reads end of file and exits) and wait for every child, so their CPU
    // time and memory count in the report.
    let stats = pool.shutdown();
    (traces, stats)
}
// ANCHOR_END: process_way
