//! asyncio's `wait(..., return_when=FIRST_COMPLETED)` and `wait_for`: wait
//! for whichever of several things happens first, with `tokio::select!`.
//!
//! `cargo run --release -p async_await --example first_completed`
//!
//! The embedded server holds page 0 for 100 ms and page 9 for 10 ms.

#[path = "asyncio/common.rs"]
mod common;

use std::pin::pin;
use std::sync::Arc;
use workload::Page;

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let mut pages = common::Pages::new(10, true);
    let (slow_page, fast_page) = (pages.plan.page(0), pages.plan.page(9));

    // ANCHOR: first_completed
    let plan = Arc::new(pages.plan.clone());
    let spawn = |page: Page| {
        let plan = plan.clone();
        tokio::spawn(async move { common::fetch(&plan, &page).await })
    };
    let (mut slow, mut fast) = (spawn(slow_page.clone()), spawn(fast_page.clone()));
    // `done, pending = await asyncio.wait({slow, fast}, return_when=FIRST_COMPLETED)`
    let ((index, result), (other, pending)) = tokio::select! {
        result = &mut slow => ((0, result), (9, fast)),
        result = &mut fast => ((9, result), (0, slow)),
    };
    let line = common::outcome(&result.expect("task panicked"));
    pages.say(format!("first completed: page {index}, {line}"));
    // The other task is still running, like asyncio's `pending`.
    let line = common::outcome(&pending.await.expect("task panicked"));
    pages.say(format!("then the pending one, page {other}: {line}"));
    // ANCHOR_END: first_completed

    pages.restart();
    // ANCHOR: wait_for
    // `asyncio.wait_for(fetch(url), 0.05)` for two pages, one deadline for
    // both: the timer is polled by reference in each select, so `pin!`
    // fixes it in this function's frame.
    let mut deadline = pin!(tokio::time::sleep(common::ms(50)));
    for page in [fast_page, slow_page] {
        let i = page.index;
        tokio::select! {
            r = common::fetch(&plan, &page) => pages.say(format!("page {i}: {}", common::outcome(&r))),
            // The losing fetch is dropped: its socket closes, the page is cancelled.
            () = &mut deadline => pages.say(format!("page {i}: past the deadline, dropped")),
        }
    }
    // ANCHOR_END: wait_for
}
