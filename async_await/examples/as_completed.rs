//! asyncio's `as_completed`: start every page at once, and handle each
//! result the moment it arrives, with a progress count (the tutorial's
//! `tqdm` bar).
//!
//! `cargo run --release -p async_await --example as_completed`
//!
//! The embedded server answers page 9 first and page 0 last (100 ms).

#[path = "asyncio/common.rs"]
mod common;

use std::sync::Arc;
use tokio::task::JoinSet;

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let pages = Arc::new(common::Pages::new(10, true));

    // ANCHOR: as_completed
    // One task per page, in a set that hands back whichever ends next.
    let mut tasks = JoinSet::new();
    for page in pages.plan.all_pages() {
        let pages = pages.clone();
        tasks.spawn(async move { (page.index, common::fetch(&pages.plan, &page).await) });
    }

    // `for fut in asyncio.as_completed(tasks): result = await fut`
    let mut done = 0;
    while let Some(finished) = tasks.join_next().await {
        let (index, result) = finished.expect("the page's task panicked");
        done += 1;
        let total = pages.plan.pages;
        let line = common::outcome(&result);
        println!(
            "{:>4} ms  [{done}/{total}] page {index}: {line}",
            pages.ms()
        );
    }
    // ANCHOR_END: as_completed
}
