//! Variant `tokio-mt`: the same async code on tokio's multi-thread runtime.
//!
//! Nothing in [`crate::tokio_ct::crawl`] or [`crate::tokio_ct::fetch`]
//! changes: a future does not know which executor polls it. Only the
//! runtime does: one worker thread per core, each with its own run queue,
//! idle workers stealing tasks from busy ones, and the epoll reactor shared.
//! A task may be polled on one worker before an `.await` and on another
//! after it, which is why `JoinSet::spawn` wants futures that are `Send`
//! (the current-thread runtime asks the same, so the code already complies).
//! A page's `--cpu-us` work runs in its task, so here it runs on every
//! worker at once.

use crate::tokio_ct::CpuWork;
use workload::{Plan, Trace};

// ANCHOR: fetch_all
/// Build a multi-thread runtime and run the tokio variant's crawl on it.
pub fn fetch_all(plan: &Plan) -> Vec<Trace> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build();
    crate::tokio_ct::run_on(runtime, plan, CpuWork::InTask)
}
// ANCHOR_END: fetch_all
