//! The `rayon` variant: the right library for the wrong job.
//!
//! Rayon is the Rust answer to "spread this computation over my cores". Its
//! global pool has one thread per core, because a CPU-bound task that has a
//! core to itself is as fast as it will get, and more threads than cores
//! only add switching. `par_iter` splits the pages between those threads,
//! and each thread fetches its share one page after another.
//!
//! For blocking I/O that sizing is exactly wrong. A thread asleep in
//! `read()` uses no CPU, yet it holds one of the pool's few threads for the
//! whole latency. On two cores two pages are in flight at a time: ten pages
//! take five latencies, a thousand take five hundred. The cores sit idle
//! while the pool is "full". (`Concurrency::Cores` in the lesson table makes
//! `ideal_ms` say the same: latency × ceil(pages / cores).)
//!
//! The cure inside rayon would be a pool built with many more threads than
//! cores (`ThreadPoolBuilder::num_threads`), which is the `pool` variant
//! with extra steps; the real cure for waiting is the event loop of lesson 5 and after.

use crate::blocking_way;
use ::rayon::prelude::*;
use workload::{Clock, Plan, Trace};

// ANCHOR: par_iter_way
/// Fetch the pages with `par_iter` on rayon's global pool.
pub fn par_iter_way(plan: &Plan) -> Vec<Trace> {
    let clock = Clock::start();
    let bar = workload::progress::bar(plan);
    let traces = (0..plan.pages)
        .into_par_iter()
        .map(|i| {
            // The thread running this closure is one of rayon's, and while
            // blocking_way sleeps in read() no other page can use it. Its
            // index goes into the trace: the timeline shows each of the few
            // threads working through its pages in turn.
            let trace = blocking_way(plan, &plan.page(i), clock, ::rayon::current_thread_index());
            bar.inc(1);
            trace
        })
        .collect();
    bar.finish_and_clear();
    traces
}
// ANCHOR_END: par_iter_way
