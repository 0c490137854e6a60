//! # Lesson 2: a pool of worker processes
//!
//! The seed's `process_way()`: lesson 1 waited for ten pages one after the
//! other, so "start ten copies of the program and let each wait for one
//! page". Each copy is a process with its own memory; the kernel puts each
//! to sleep in its own `connect()`/`read()`, and the ten waits overlap.
//! Ten pages now take about one latency, plus what the processes cost:
//! starting them, the memory each one holds, and the copy of every page
//! from the worker that fetched it to the parent that wants it, through a
//! pipe. The lesson's README measures those three costs.
//!
//! How the pool works (Python's `ProcessPoolExecutor` with the "spawn"
//! start method, written out):
//!
//! - [`process_way`] starts W workers (`--workers`, default one per page,
//!   at most 100) by running *this same binary* again with the argument
//!   `--multi-process-worker`, stdin and stdout piped ([`pool::Pool::start`]);
//! - it writes one page (a small frame, [`frame`]) into each worker's stdin;
//! - a worker fetches it with lesson 1's blocking sockets and writes back a
//!   frame with the page's trace and its body ([`worker::run`]);
//! - the parent sleeps in `poll()` over all the workers' stdout pipes, takes
//!   whichever result comes first and hands that worker the next page;
//! - at the end it closes every stdin (the workers exit) and waits for every
//!   child, so their CPU time and memory are in the report.
//!
//! ## The one rule for every binary that uses this crate
//!
//! A worker is the running binary started again, so **every `main` that can
//! start a pool must call [`serve_if_worker`] first**: in a normal process it
//! returns at once; in a worker it runs the worker and exits. That is the
//! lesson's `main.rs`, the harness-less test files in `tests/`, and the
//! criterion benchmark's `main`:
//!
//! ```ignore
//! fn main() -> std::process::ExitCode {
//!     multi_process::serve_if_worker();
//!     workload::cli::main(&multi_process::LESSON)
//! }
//! ```
//!
//! A binary that forgets it (a libtest test binary, whose `main` is
//! generated) rejects the unknown `--multi-process-worker` option and exits;
//! the pool says so in every page's error instead of hanging.

pub mod frame;
pub mod pool;
mod show;
pub mod worker;

use pool::{Event, Pool};
use std::collections::VecDeque;
use workload::{Clock, Concurrency, ErrorKind, FetchError, Page, Plan, Trace};

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
        process_way,
    )
    .tutorial("processes", 0.6)
    .task_per_page(workload::OsTask::Process)],
    flags: workload::Flags::of::<PoolFlags>(),
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

// ANCHOR: serve_if_worker
/// Call this first in `main`. In a normal process it returns at once. In a
/// process the pool started as a worker (first argument
/// `--multi-process-worker`), it serves pages until its stdin closes and
/// then exits the process: it never returns.
pub fn serve_if_worker() {
    let mut args = std::env::args();
    if args.nth(1).as_deref() != Some(worker::WORKER_FLAG) {
        return;
    }
    let rest: Vec<String> = args.collect();
    let code = match worker::WorkerArgs::parse(&rest) {
        Ok(a) => match worker::run(a) {
            Ok(()) => 0,
            Err(e) => {
                eprintln!("multi_process worker {}: {e}", std::process::id());
                3
            }
        },
        Err(e) => {
            eprintln!("{}: {e}", worker::WORKER_FLAG);
            2
        }
    };
    std::process::exit(code);
}
// ANCHOR_END: serve_if_worker

// ANCHOR: process_way
/// The seed's `process_way()`: W workers, every page handed to whichever is
/// free, every result collected. One trace per page, in completion order.
pub fn process_way(plan: &Plan) -> Vec<Trace> {
    let clock = Clock::start();
    let mut queue: VecDeque<Page> = plan.all_pages().collect();
    let mut traces = Vec::with_capacity(plan.pages);
    if queue.is_empty() {
        return traces;
    }

    // `with futures.ProcessPoolExecutor(workers) as executor:` - starting
    // the processes is part of the run, and of its measured time. Each new
    // worker is handed its first page at once.
    let mut pool = Pool::start(plan, clock, CONCURRENCY.limit(plan), &mut queue);

    while traces.len() < plan.pages {
        // `executor.submit(blocking_way)`: every free worker gets a page.
        while let Some(id) = pool.idle() {
            let Some(page) = queue.pop_front() else { break };
            if let Err(page) = pool.submit(id, page) {
                queue.push_front(page);
            }
        }
        // `fut.result()`: sleep until some worker reports.
        match pool.next_event() {
            Some(Event::Done { trace, .. }) => traces.push(trace),
            Some(Event::Lost {
                job: Some(job),
                error,
                worker,
            }) => {
                let mut trace = Trace::pending(&job.page, clock);
                trace.start_ms = Some(job.sent_ms);
                trace.worker = Some(worker);
                traces.push(trace.finish(Err(error)));
            }
            Some(Event::Unstarted {
                page: Some(page), ..
            }) => queue.push_front(page),
            Some(_) => {}
            None => {
                // Every worker is gone: the pages still queued have no one
                // to fetch them. They fail, by name; the run still ends.
                let why = pool.last_loss.clone().or(pool.spawn_error.clone());
                let why = why.unwrap_or_else(|| "the pool is empty".into());
                for page in queue.drain(..) {
                    let error = FetchError::new(
                        ErrorKind::Resource,
                        format!("no worker process left to fetch it; {why}"),
                    );
                    traces.push(Trace::start(&page, clock).finish(Err(error)));
                }
                break;
            }
        }
    }

    // The end of the `with` block: close the pipes, wait for every child.
    pool.shutdown();
    show::show_pool(plan, &pool, &traces);
    traces
}
// ANCHOR_END: process_way
