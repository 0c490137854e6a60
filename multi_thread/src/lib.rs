//! # Lesson 3: threads, and what they cost
//!
//! The seed's `thread_way()`: the same `blocking_way()` as lesson 1, handed
//! to a `ThreadPoolExecutor(10)`. Each page still blocks in `connect` and
//! `read` exactly as before, but it blocks *its own thread*: while one
//! thread sleeps in the kernel waiting for its server, the scheduler runs
//! another, which sends its request and goes to sleep too. Ten waits now
//! overlap, and ten pages take about one latency instead of ten.
//!
//! Lesson 2 got the same overlap from processes and paid for it with a
//! process start per worker, a copy of every page through a pipe and a whole
//! address space each. A thread shares the address space of its process:
//! starting one is a `clone()` and a stack (2 MiB of address space reserved,
//! a few KiB of it actually touched), and a page it fetches is already in
//! the memory the main thread reads. Python needs the GIL released around
//! `connect`/`recv` for this to work; Rust has no GIL, but here it makes no
//! difference: the threads have nothing to compute, they all wait.
//!
//! What threads bring instead is *shared state*. The seed names it: when
//! several crawler threads take URLs from one work queue, which thread gets
//! which URL? The three variants show three answers, in three files:
//!
//! - [`pool`] (default): W threads take pages from a crossbeam channel and
//!   send their traces back over another one. The channel is the
//!   synchronised queue the seed asks for.
//! - [`scoped`]: no queue at all, one thread per page, started in a
//!   `std::thread::scope`. Simple, until the process runs out of threads
//!   (about 16,000 here): then the page that cannot get one fails as
//!   `resource`, and the run goes on.
//! - [`rayon`]: `par_iter` on rayon's pool. Rayon is built for CPU work and
//!   sizes its pool to the cores; a thread that blocks in `read` holds one
//!   of those few threads for the whole latency. On two cores, ten pages
//!   take five latencies.
//!
//! ## Why an unsynchronised `Vec` is not a work queue
//!
//! The obvious queue is a `Vec` of pages that every worker pops from. Two
//! threads popping at the same moment both read the same length, both take
//! the same last page (fetched twice) and both store `len - 1`, so two
//! takes shrink the queue by one; other interleavings read a slot after the
//! other thread has moved the page out of it. That is a *data race*,
//! undefined behaviour in Rust as in C, and Rust refuses to compile it: a
//! `&mut Vec` can be lent to one thread at a time, so this does not build:
//!
//! ```compile_fail,E0499
//! let mut queue: Vec<usize> = (0..10).collect();
//! std::thread::scope(|s| {
//!     for _ in 0..2 {
//!         // error[E0499]: cannot borrow `queue` as mutable more than once
//!         s.spawn(|| while let Some(page) = queue.pop() { let _ = page; });
//!     }
//! });
//! ```
//!
//! The data race is therefore not the pitfall a Rust programmer meets. The
//! *race condition* is: a queue whose every access is atomic but whose
//! "look at the next page, then take it" is two steps. Another thread can
//! run between the two, and both threads take the same page.
//! `tests/race.rs` forces that interleaving and shows the duplicate, then
//! shows the two cures: one indivisible step (`fetch_add`) and the channel,
//! whose `recv` hands every message to exactly one receiver.

use workload::{Clock, Concurrency, ErrorKind, FetchError, OsTask, Page, Plan, Trace};

pub mod pool;
pub mod rayon;
pub mod scoped;

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
};

/// The lesson's own flag.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct ThreadFlags {
    /// Stack size of each thread the pool and scoped variants start, in KiB
    /// (default: Rust's 2048, at least 64). One the OS cannot map
    /// (e.g. 1125899906842624, 1 EiB) makes every spawn fail: the pages fail as resource
    #[arg(long = "stack-kb", value_name = "KIB", value_parser = parse_stack_kb)]
    pub stack_bytes: Option<usize>,
}

// ANCHOR: blocking_way
/// The seed's `blocking_way()`, unchanged: lesson 1's own function, as the
/// seed's `thread_way` reuses it. Whatever thread calls it is the one that
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

/// The smallest `--stack-kb` accepted. A fetch fits in 16 KiB of stack in
/// a release build but needs between 24 and 32 KiB in a debug build (found
/// with `--stack-kb`); a thread that overflows its stack aborts the whole
/// process, so sizes below twice that are refused rather than tried.
pub const MIN_STACK_KB: u64 = 64;

/// `--stack-kb` in bytes, or a sentence saying why the text is not a
/// stack size this lesson can use.
pub fn parse_stack_kb(text: &str) -> Result<usize, String> {
    let kb: u64 = text
        .parse()
        .map_err(|_| format!("--stack-kb '{text}' is not a size in KiB"))?;
    if kb < MIN_STACK_KB {
        return Err(format!(
            "--stack-kb '{text}' is below the {MIN_STACK_KB} KiB a thread of this lesson needs"
        ));
    }
    kb.checked_mul(1024)
        .and_then(|b| usize::try_from(b).ok())
        .ok_or_else(|| format!("--stack-kb '{text}' does not fit in this machine's address space"))
}

/// A thread builder with the `--stack-kb` of the plan, named for `ps -L`
/// and for panic messages. A plan that did not come through `main` (a test,
/// the benchmark) can still hold a bad size: its pages fail with the reason.
pub fn thread_builder(plan: &Plan, name: String) -> std::thread::Builder {
    let builder = std::thread::Builder::new().name(name);
    match plan.options::<ThreadFlags>().stack_bytes {
        None => builder,
        Some(bytes) => builder.stack_size(bytes),
    }
}

// ANCHOR: thread_room
/// The memory mappings one thread costs, counted in `/proc/self/maps`: the
/// stack and its guard page (glibc's), and the alternate signal stack and
/// its guard page that Rust's std maps in every new thread so it can report
/// a stack overflow instead of dying silently.
pub const MAPS_PER_THREAD: usize = 4;

/// Mappings kept for everything else the process may map while it runs
/// (allocator arenas, a thread started by someone else).
const SPARE_MAPS: usize = 1024;

/// How many more threads this process can start before it runs out of
/// memory mappings (`vm.max_map_count`, 65,530 by default: about 16,000
/// threads). `None` where the counts cannot be read.
///
/// This wall has to be checked *before* spawning. `pthread_create` maps
/// the stack and succeeds; then the new thread, already running, asks for
/// its signal stack, the kernel refuses the mapping, and Rust's std, which
/// has no caller to return an error to at that point, aborts the whole
/// process: every page lost, not just the one.
pub fn thread_room() -> Option<usize> {
    workload::room::map_room(MAPS_PER_THREAD, SPARE_MAPS)
}

/// The error of a page that would have been one thread too many.
pub fn no_room(room: usize) -> FetchError {
    FetchError::new(
        ErrorKind::Resource,
        format!(
            "no thread for this page: this run had room for {room} threads \
             (vm.max_map_count limits the memory mappings, {MAPS_PER_THREAD} per thread)"
        ),
    )
}

/// The error of a page whose thread could not be started. `pthread_create`
/// fails with EAGAIN when the process or the machine is out of threads
/// (`kernel.threads-max`, `kernel.pid_max`, `RLIMIT_NPROC`) or cannot map
/// another stack (`vm.max_map_count`, memory). Rust reports it as an
/// `io::Error` of kind `WouldBlock`, which for a socket would mean "timed
/// out", so it is named here instead of going through `FetchError::from_io`.
pub fn spawn_failed(e: &std::io::Error) -> FetchError {
    FetchError::new(
        ErrorKind::Resource,
        format!("no thread could be started for this page: {e}"),
    )
}
// ANCHOR_END: thread_room
