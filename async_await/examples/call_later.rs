//! asyncio's `call_soon`, `call_later` and `call_at`: run a plain function
//! on the loop, now or after a delay, while other work goes on.
//!
//! `cargo run --release -p async_await --example call_later`

#[path = "asyncio/common.rs"]
mod common;

use std::sync::Arc;
use tokio::time::{sleep, sleep_until, Instant};

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let pages = Arc::new(common::Pages::new(1, false));
    let say = |what: &'static str| {
        let pages = pages.clone();
        move || println!("{:>4} ms  {what}", pages.ms())
    };

    // ANCHOR: call_later
    // `loop.call_soon(cb)`: run `cb` at the loop's next turn.
    let cb = say("call_soon's callback");
    let soon = tokio::spawn(async move { cb() });

    // `loop.call_later(0.05, cb)`: a task that sleeps, then calls.
    let cb = say("call_later(0.05)'s callback");
    let later = tokio::spawn(async move {
        sleep(common::ms(50)).await;
        cb()
    });

    // `loop.call_at(loop.time() + 0.2, cb)`: the same, at a point in time.
    let (cb, at) = (
        say("call_at(+0.2)'s callback"),
        Instant::now() + common::ms(200),
    );
    let at = tokio::spawn(async move {
        sleep_until(at).await;
        cb()
    });

    // `handle.cancel()`: a callback that will never run.
    let cb = say("this line is never printed");
    let cancelled = tokio::spawn(async move {
        sleep(common::ms(150)).await;
        cb()
    });
    cancelled.abort();
    // ANCHOR_END: call_later

    // Meanwhile this task fetches a page (held 100 ms by the server).
    let result = common::fetch(&pages.plan, &pages.plan.page(0)).await;
    println!("{:>4} ms  page 0: {}", pages.ms(), common::outcome(&result));
    for handle in [soon, later, at] {
        handle.await.expect("a callback panicked");
    }
}
