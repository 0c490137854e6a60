//! asyncio's `gather`: start every page at once, and get the results back
//! in the order the pages were asked for, whatever order they finish in.
//!
//! `cargo run --release -p async_await --example gather`
//!
//! The embedded server answers page 9 first and page 0 last (100 ms), so
//! the pages end in reverse order; the results still come back 0 to 9.

#[path = "asyncio/common.rs"]
mod common;

use std::sync::Arc;

// `asyncio.run(main())`, or `loop.run_until_complete(main())`: build a
// runtime on this thread and run `main` on it until it returns.
#[tokio::main(flavor = "current_thread")]
async fn main() {
    let pages = Arc::new(common::Pages::new(10, true));

    // ANCHOR: gather
    // `tasks = [asyncio.create_task(fetch(url)) for url in urls]`
    let tasks: Vec<_> = pages
        .plan
        .all_pages()
        .map(|page| {
            let pages = pages.clone();
            tokio::spawn(async move {
                let result = common::fetch(&pages.plan, &page).await;
                println!("{:>4} ms  page {} finished", pages.ms(), page.index);
                result
            })
        })
        .collect();
    // `results = await asyncio.gather(*tasks)`: await each in list order;
    // a task that finished earlier is simply ready.
    let mut results = Vec::new();
    for task in tasks {
        results.push(task.await.expect("the page's task panicked"));
    }
    // ANCHOR_END: gather

    println!("{:>4} ms  gather returned, in page order:", pages.ms());
    for (index, result) in results.iter().enumerate() {
        println!("          page {index}: {}", common::outcome(result));
    }
}
