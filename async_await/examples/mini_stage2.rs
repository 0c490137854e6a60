//! mini, stage 2 of 4: wakers. The executor polls only the tasks whose
//! waker was called, and sleeps while none was. Who calls them is still
//! crude: one thread per wait, blocked in poll(2) on the socket.
//! `cargo run --release -p async_await --example mini_stage2`

#[path = "stages/common.rs"]
mod common;

use std::cell::RefCell;
use std::collections::VecDeque;
use std::net::TcpStream;
use std::os::fd::AsFd;
use std::sync::{Arc, Mutex};
use std::task::{Context, Wake, Waker};
use std::thread::{self, Thread};

use common::{Direction, Readiness, Task};
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use workload::{Clock, Plan, Trace};

// ANCHOR: readiness
/// A thread per wait: it sleeps in poll(2) until the socket is ready, then
/// calls the waker. It works, but a wait now costs a thread, as in lesson 3.
struct WatcherThreads;

impl Readiness for WatcherThreads {
    fn wake_when_ready(&self, stream: &TcpStream, direction: Direction, waker: &Waker) {
        let flags = match direction {
            Direction::Read => PollFlags::POLLIN,
            Direction::Write => PollFlags::POLLOUT,
        };
        let watcher = waker.clone();
        // Its own descriptor, so the page may close the socket meanwhile.
        let watched = stream.try_clone().and_then(|socket| {
            thread::Builder::new().spawn(move || {
                let _ = poll(&mut [PollFd::new(socket.as_fd(), flags)], PollTimeout::NONE);
                watcher.wake();
            })
        });
        if watched.is_err() {
            waker.wake_by_ref(); // no watcher: poll again at once, as stage 1 did
        }
    }
}
// ANCHOR_END: readiness

// ANCHOR: waker
/// A task's waker: put the task's number on the ready queue, and wake the
/// executor's thread if it sleeps.
struct TaskWaker {
    task: usize,
    ready: Arc<Mutex<VecDeque<usize>>>,
    executor: Thread,
}

impl Wake for TaskWaker {
    fn wake(self: Arc<Self>) {
        self.ready.lock().unwrap().push_back(self.task);
        self.executor.unpark();
    }
}
// ANCHOR_END: waker

// ANCHOR: run
fn fetch_all(plan: &Plan) -> Vec<Trace> {
    let clock = Clock::start();
    let done = RefCell::new(Vec::new());
    let runtime = WatcherThreads;
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
    // Every task is ready to make its first step.
    let ready = Arc::new(Mutex::new((0..tasks.len()).collect::<VecDeque<_>>()));
    let mut live = tasks.len();
    while live > 0 {
        let next = ready.lock().unwrap().pop_front();
        // ANCHOR: sleep
        let Some(id) = next else {
            // Nothing to do until some waker is called: sleep (a spurious
            // wake-up only looks at the queue again).
            thread::park();
            continue;
        };
        // ANCHOR_END: sleep
        let Some(task) = &mut tasks[id] else {
            continue; // woken after it finished
        };
        let waker = Waker::from(Arc::new(TaskWaker {
            task: id,
            ready: ready.clone(),
            executor: thread::current(),
        }));
        if task
            .as_mut()
            .poll(&mut Context::from_waker(&waker))
            .is_ready()
        {
            tasks[id] = None;
            live -= 1;
        }
    }
    drop(tasks);
    common::traces(plan, clock, done.into_inner())
}
// ANCHOR_END: run

fn main() -> std::process::ExitCode {
    let about = "wakers: the executor sleeps until a watcher thread wakes a task";
    common::main("mini_stage2", "wakers", about, fetch_all)
}
