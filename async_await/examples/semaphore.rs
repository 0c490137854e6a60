//! asyncio's `Semaphore`: ten pages, at most three in flight.
//!
//! `cargo run --release -p async_await --example semaphore`
//!
//! Every page is held 100 ms by the embedded server: four rounds.

#[path = "asyncio/common.rs"]
mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use tokio::sync::Semaphore;

/// How many pages may be in flight at once: change it and run again.
const LIMIT: usize = 3;

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let pages = Arc::new(common::Pages::new(10, false));
    // How many pages are between "permit acquired" and "done", and the most.
    let (in_flight, most) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));

    // ANCHOR: semaphore
    // `sem = asyncio.Semaphore(3)`
    let limit = Arc::new(Semaphore::new(LIMIT));
    let mut tasks = Vec::new();
    for page in pages.plan.all_pages() {
        let (pages, limit) = (pages.clone(), limit.clone());
        let (in_flight, most) = (in_flight.clone(), most.clone());
        tasks.push(tokio::spawn(async move {
            // `async with sem:` wait here for a permit; it is given back
            // when `_permit` is dropped, however the block ends.
            let _permit = limit
                .acquire()
                .await
                .expect("the semaphore is never closed");
            let now = in_flight.fetch_add(1, Ordering::SeqCst) + 1;
            most.fetch_max(now, Ordering::SeqCst);
            let started = pages.ms();
            let result = common::fetch(&pages.plan, &page).await;
            in_flight.fetch_sub(1, Ordering::SeqCst);
            let line = common::outcome(&result);
            println!(
                "page {}: {started:>3} to {:>3} ms, {line}",
                page.index,
                pages.ms()
            );
        }));
    }
    // ANCHOR_END: semaphore
    for task in tasks {
        task.await.expect("the page's task panicked");
    }
    let most = most.load(Ordering::SeqCst);
    println!(
        "all {} pages in {} ms, at most {most} in flight",
        pages.plan.pages,
        pages.ms()
    );
}
