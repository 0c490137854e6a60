//! The `pool` variant: the tutorial's `ThreadPoolExecutor(workers)`.
//!
//! W threads are started up front. They share one work queue, a crossbeam
//! channel holding every page, and each one loops: take a page, fetch it,
//! send the trace back, take the next. The main thread meanwhile collects
//! the traces from a second channel as they complete (the tutorial's
//! `fut.result()`, in completion order rather than submission order).
//! With fewer workers than pages the pages go in rounds: sizing the pool is
//! the first pitfall of this model.
//!
//! Why a channel and not a shared `Vec` to pop from: two threads popping at
//! once would race, and safe Rust refuses to compile it, because a
//! `&mut Vec` can be lent to one thread at a time:
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
//! What does compile, and still hands one page to two threads, is a queue
//! whose "look, then take" is two atomic steps: `tests/race.rs`
//! demonstrates it.

use crate::blocking_way;
use crate::spawn::{no_room, spawn_failed, thread_builder, thread_room};
use crossbeam_channel::{unbounded, Receiver, Sender};
use workload::{Clock, FetchError, Page, Plan, Trace};

// ANCHOR: thread_way
/// The tutorial's `thread_way()`: a pool of `plan.in_flight()` threads.
pub fn thread_way(plan: &Plan) -> Vec<Trace> {
    let clock = Clock::start();
    let bar = workload::progress::bar(plan);

    // The work queue, filled before any worker exists and then closed
    // (`drop(to_do)`): a worker that finds it empty and closed knows the
    // run is over and returns. This is the tutorial's `executor.submit(...)`
    // for every page.
    let (to_do, work) = unbounded::<Page>();
    for page in plan.all_pages() {
        let _ = to_do.send(page); // cannot fail: `work` is alive
    }
    drop(to_do);
    let (done, results) = unbounded::<Trace>();

    // A scope lets the workers borrow `plan` and joins them all before it
    // returns, like the tutorial's `with ThreadPoolExecutor(...)` block.
    let traces = std::thread::scope(|s| {
        let started = start_workers(s, plan, clock, &work, &done);
        // The workers hold their own clones of `done`; dropping ours makes
        // `results` end once the last worker has finished. Until then the
        // main thread sleeps here, woken once per completed page.
        drop(done);
        let mut traces: Vec<Trace> = results.iter().inspect(|_| bar.inc(1)).collect();
        // No worker could be started at all: the pages are still in the
        // queue, and each fails with the reason instead of going missing.
        if let Err(error) = started {
            let failed = |page: Page| Trace::start(&page, clock).finish(Err(error.clone()));
            traces.extend(work.try_iter().map(failed));
        }
        traces
    });
    bar.finish_and_clear();
    traces
}

/// One worker: take pages until the queue is empty and closed.
fn worker(plan: &Plan, clock: Clock, id: usize, work: &Receiver<Page>, done: &Sender<Trace>) {
    // `recv` is the answer to the tutorial's "which thread gets this URL?".
    // Taking a message out of the channel is one indivisible step: when two
    // idle workers call it at the same moment, each gets a different page
    // (or one of them goes to sleep until there is another), and no page
    // is handed out twice or lost. `iter()` ends when the queue is empty
    // and every sender is gone.
    for page in work.iter() {
        let trace = blocking_way(plan, &page, clock, Some(id));
        if done.send(trace).is_err() {
            return; // nobody collects any more: stop fetching
        }
    }
}
// ANCHOR_END: thread_way

/// Start the pool's workers; how many started, or why none could.
///
/// A worker that cannot be started is not fatal: the pool runs with the
/// ones that did. A pool of 20,000 threads meets the same walls as a thread
/// per page (see `scoped.rs`), so it never starts more than the process has
/// room for.
fn start_workers<'scope>(
    s: &'scope std::thread::Scope<'scope, '_>,
    plan: &'scope Plan,
    clock: Clock,
    work: &Receiver<Page>,
    done: &Sender<Trace>,
) -> Result<usize, FetchError> {
    let room = thread_room().unwrap_or(usize::MAX);
    let mut started = 0;
    let mut last_error = None;
    for id in 0..plan.in_flight() {
        if id >= room {
            last_error = Some(no_room(room));
            break;
        }
        let (work, done) = (work.clone(), done.clone());
        let spawned = thread_builder(plan, format!("pool-{id}"))
            .spawn_scoped(s, move || worker(plan, clock, id, &work, &done))
            .map_err(|e| spawn_failed(&e));
        match spawned {
            Ok(_) => started += 1,
            Err(e) => last_error = Some(e),
        }
    }
    match (started, last_error) {
        (0, Some(error)) => Err(error),
        (n, _) => Ok(n),
    }
}
