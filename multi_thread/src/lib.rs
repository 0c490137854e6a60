//! # Lesson 3: a pool of threads
//!
//! The tutorial's `thread_way()`: lesson 1's `blocking_way()`, unchanged,
//! handed to a pool of threads. Each page still blocks in `connect` and
//! `read`, but it blocks its *own* thread; while it sleeps the kernel runs
//! the others, so the waits overlap and ten pages take about one latency.
//! Three variants, one file each: [`pool`] (W threads fed by a channel, the
//! default), [`scoped`] (a thread per page), [`rayon`] (a CPU pool: the
//! wrong tool for waiting). [`spawn`] keeps a thread that cannot be started
//! from taking the process down. The chapter is
//! `walkthrough/03-multi_thread.md`. The other side, serving with a thread
//! per connection or a pool of threads, is [`serve`].

#![forbid(unsafe_code)]

use workload::serve::{Capacity, ServeVariant};
use workload::{Clock, Concurrency, OsTask, Page, Plan, Trace};

pub mod pool;
pub mod rayon;
pub mod scoped;
pub mod serve;
pub mod spawn;

pub use spawn::{parse_stack_kb, thread_room, MAPS_PER_THREAD, MIN_STACK_KB};

/// The lesson's table: its variants and its one flag, for the binary, the
/// tests and the benchmark.
pub const LESSON: workload::Lesson = workload::Lesson {
    name: "multi_thread",
    about: "Lesson 3: thread pools and their pitfalls (the tutorial's ThreadPoolExecutor)",
    variants: &[
        workload::Variant::new(
            "pool",
            "the tutorial's thread_way: W threads fed by a channel (--workers, default <= 100)",
            Concurrency::Workers { default_max: 100 },
            pool::thread_way,
        )
        .tutorial("threads", 0.43)
        .task_per_page(OsTask::Thread),
        workload::Variant::new(
            "scoped",
            "one thread per page in std::thread::scope; no thread: the page fails as resource",
            Concurrency::All,
            scoped::thread_per_page,
        )
        .task_per_page(OsTask::Thread),
        workload::Variant::new(
            "rayon",
            "par_iter on rayon's pool, a thread per core: the wrong tool for blocking I/O",
            Concurrency::Cores,
            rayon::par_iter_way,
        ),
    ],
    flags: workload::Flags::of::<ThreadFlags>(),
    servers: &[
        ServeVariant::new(
            "thread",
            "a thread per connection (64 KiB stacks), started when it is accepted",
            serve::thread::thread_per_connection,
        )
        .task_per_connection(OsTask::Thread),
        ServeVariant::new(
            "pool",
            "W threads (--workers, default 64), each accepting and serving one connection at a time",
            serve::pool::pool,
        )
        .capacity(Capacity::Workers {
            default: serve::pool::DEFAULT_WORKERS,
        })
        .task_per_connection(OsTask::Thread),
    ],
    worker: None,
};

/// The lesson's own flag.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct ThreadFlags {
    /// Stack size of each thread the pool and scoped variants start, in KiB
    /// (default: Rust's 2048, at least 64). One the OS cannot map
    /// (e.g. 1125899906842624, 1 EiB) makes every spawn fail: the pages fail as resource
    #[arg(long = "stack-kb", value_name = "KIB", value_parser = spawn::parse_stack_kb)]
    pub stack_bytes: Option<usize>,
}

// ANCHOR: blocking_way
/// The tutorial's `blocking_way()`, unchanged: lesson 1's own function, as
/// the tutorial's `thread_way` reuses it. Whatever thread calls it is the one that
/// sleeps in its `connect()` and `read()`, while the kernel runs the other
/// threads, each of which gets as far as its own `read()` and sleeps too:
/// with W threads, W of these waits overlap, which is the whole trick of
/// this lesson. The page's deadline starts when a thread takes it, not when
/// the run began: a page still waiting in the queue is not late yet.
/// `worker` is recorded, so the timeline can say which thread fetched it.
pub fn blocking_way(plan: &Plan, page: &Page, clock: Clock, worker: Option<usize>) -> Trace {
    let mut trace = sync_blocking::blocking_way(plan, page, clock);
    trace.worker = worker;
    trace
}
// ANCHOR_END: blocking_way
