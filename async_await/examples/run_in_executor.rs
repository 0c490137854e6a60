//! asyncio's `run_in_executor`: a call that blocks (a slow disk write, a
//! long computation) run on the loop's thread stops the whole loop; handed
//! to a pool thread, it leaves the loop free.
//!
//! `cargo run --release -p async_await --example run_in_executor`

#[path = "asyncio/common.rs"]
mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A blocking call: it holds its thread for 200 ms, like a write to a disk
/// that is busy. (Computing for 200 ms would hold it the same way.)
fn save_page(bytes: u64) -> u64 {
    std::thread::sleep(Duration::from_millis(200));
    bytes
}

/// Run `work` while a ticker task tries to run every 10 ms; return how long
/// the ticker waited at most between two of its turns.
async fn longest_pause<F: std::future::Future<Output = u64>>(work: F) -> Duration {
    let stop = Arc::new(AtomicBool::new(false));
    let ticker = tokio::spawn({
        let stop = stop.clone();
        async move {
            let (mut last, mut longest) = (Instant::now(), Duration::ZERO);
            while !stop.load(Ordering::SeqCst) {
                tokio::time::sleep(Duration::from_millis(10)).await;
                longest = longest.max(last.elapsed());
                last = Instant::now();
            }
            longest
        }
    });
    tokio::time::sleep(Duration::from_millis(30)).await; // the ticker is running
    work.await;
    stop.store(true, Ordering::SeqCst);
    ticker.await.expect("the ticker panicked")
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let pages = common::Pages::new(1, false);
    let body = common::fetch(&pages.plan, &pages.plan.page(0)).await;
    let bytes = body.map(|b| b.bytes).unwrap_or(0);

    // ANCHOR: run_in_executor
    // `save_page(body)` called right in the coroutine: the loop's one
    // thread sleeps in it, and no other task runs meanwhile.
    let inline = longest_pause(async { save_page(bytes) }).await;

    // `await loop.run_in_executor(None, save_page, body)`: the call runs on
    // tokio's blocking pool; this task awaits it like any other future.
    let offloaded = longest_pause(async {
        tokio::task::spawn_blocking(move || save_page(bytes))
            .await
            .expect("save_page panicked")
    })
    .await;
    // ANCHOR_END: run_in_executor

    println!("the loop's ticker (every 10 ms) waited at most:");
    println!(
        "  {:>4} ms  with save_page on the loop's thread",
        inline.as_millis()
    );
    println!(
        "  {:>4} ms  with save_page on the blocking pool",
        offloaded.as_millis()
    );
}
