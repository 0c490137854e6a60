//! Variant `tokio-mt`: the same async code on tokio's multi-thread runtime.
//!
//! Nothing in [`crate::tokio_ct::crawl`] or [`crate::tokio_ct::fetch`]
//! changes: a future does not know which executor polls it. Only the
//! runtime does: one worker thread per core, each with its own run queue,
//! idle workers stealing tasks from busy ones, and the epoll reactor shared.
//! A task may be polled on one worker before an `.await` and on another
//! after it, which is why `JoinSet::spawn` wants futures that are `Send`
//! (everything they hold may cross threads) - the current-thread runtime
//! asks the same, so the code already complies.
//!
//! What it buys for this workload is little: the work per page is a few
//! system calls and a CRC, and the waiting is the kernel's. A second core
//! helps only when there are enough pages for that little work to add up
//! (compare the two at 10,000 pages in the README), and costs some
//! cross-thread wake-ups and locking when there are not.

use workload::{Plan, Trace};

// ANCHOR: fetch_all
/// Build a multi-thread runtime and run the tokio variant's crawl on it.
pub fn fetch_all(plan: &Plan) -> Vec<Trace> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build();
    crate::tokio_ct::run_on(runtime, plan)
}
// ANCHOR_END: fetch_all
