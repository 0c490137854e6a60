//! asyncio's `create_task`: a coroutine does nothing until something runs
//! it; a task is run by the loop, whether anyone awaits it or not.
//!
//! `cargo run --release -p async_await --example create_task`

#[path = "asyncio/common.rs"]
mod common;

use std::sync::Arc;

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let pages = Arc::new(common::Pages::new(2, false));

    // ANCHOR: create_task
    // `coro = fetch(url)`: calling an async function runs none of its
    // code. This future has not printed, connected or sent anything.
    let (p, page) = (pages.clone(), pages.plan.page(0));
    let lazy = async move {
        println!("{:>4} ms  page 0's code starts", p.ms());
        common::fetch(&p.plan, &page).await
    };

    // `task = asyncio.create_task(fetch(url))`: the task is queued on the
    // runtime and starts the next time this task waits.
    let (p, page) = (pages.clone(), pages.plan.page(1));
    let task = tokio::spawn(async move {
        println!("{:>4} ms  page 1's code starts", p.ms());
        common::fetch(&p.plan, &page).await
    });

    println!("{:>4} ms  main sleeps 150 ms", pages.ms());
    tokio::time::sleep(common::ms(150)).await;
    println!("{:>4} ms  main wakes up", pages.ms());
    let line = common::outcome(&task.await.expect("the task panicked"));
    println!("{:>4} ms  page 1 (the task): {line}", pages.ms());
    let line = common::outcome(&lazy.await);
    println!("{:>4} ms  page 0 (the bare future): {line}", pages.ms());
    // ANCHOR_END: create_task
}
