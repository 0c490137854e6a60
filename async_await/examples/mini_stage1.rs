//! mini, stage 1 of 4: an executor that polls every future, again and
//! again. It works, and it burns a core doing it: lesson 4's busy polling,
//! now with futures. `cargo run --release -p async_await --example mini_stage1`

#[path = "stages/common.rs"]
mod common;

use std::cell::RefCell;
use std::net::TcpStream;
use std::task::{Context, Waker};

use common::{Direction, Readiness, Task};
use workload::{Clock, Plan, Trace};

// ANCHOR: readiness
/// Nobody listens for the sockets: a pending future is polled again anyway,
/// on the loop's next round, so the waker it leaves is dropped.
struct NoOne;

impl Readiness for NoOne {
    fn wake_when_ready(&self, _: &TcpStream, _: Direction, _: &Waker) {}
}
// ANCHOR_END: readiness

// ANCHOR: run
fn fetch_all(plan: &Plan) -> Vec<Trace> {
    let clock = Clock::start();
    let done = RefCell::new(Vec::new());
    let runtime = NoOne;
    let mut tasks: Vec<Option<Task>> = plan
        .all_pages()
        .map(|page| {
            let (runtime, done) = (&runtime, &done);
            Some(Box::pin(async move {
                let trace = common::page(runtime, plan, page, clock).await;
                done.borrow_mut().push(trace);
            }) as Task)
        })
        .collect();
    // ANCHOR: loop
    // Nobody says which task can move on, so ask every one, round after
    // round, until all are done: the thread never sleeps.
    let mut cx = Context::from_waker(Waker::noop());
    while tasks.iter().any(Option::is_some) {
        for slot in &mut tasks {
            if let Some(task) = slot {
                if task.as_mut().poll(&mut cx).is_ready() {
                    *slot = None;
                }
            }
        }
    }
    // ANCHOR_END: loop
    drop(tasks);
    common::traces(plan, clock, done.into_inner())
}
// ANCHOR_END: run

fn main() -> std::process::ExitCode {
    let about = "an executor that polls every future in a loop";
    common::main("mini_stage1", "busy-poll", about, fetch_all)
}
