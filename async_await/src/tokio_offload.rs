//! Variant `tokio-offload`: the tokio variant, with each page's `--cpu-us`
//! work handed to tokio's blocking pool.
//!
//! On the current-thread runtime a page that computes holds the one thread:
//! no socket is served and no other page computes until it is done. The
//! tutorial's answer for work that would block the loop is
//! `loop.run_in_executor(None, ..)`; tokio's is `spawn_blocking`, which runs
//! a closure on a pool of threads kept apart from the event loop and gives
//! back a future of its result (see `compute` in [`crate::tokio_ct`]). The
//! sockets stay on one thread; the computing spreads over the cores.

use crate::tokio_ct::CpuWork;
use workload::{Plan, Trace};

// ANCHOR: fetch_all
/// Build a current-thread runtime and run the tokio variant's crawl on it,
/// the pages' CPU work on the blocking pool.
pub fn fetch_all(plan: &Plan) -> Vec<Trace> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build();
    crate::tokio_ct::run_on(runtime, plan, CpuWork::Offloaded)
}
// ANCHOR_END: fetch_all
