//! mini, stage 3 of 4: a reactor on epoll. The watcher threads go: one
//! epoll set holds every socket, and the executor's own thread sleeps in
//! `epoll_wait` when no task is ready, then calls the wakers of the sockets
//! it reports. `cargo run --release -p async_await --example mini_stage3`

#[path = "stages/common.rs"]
mod common;

use std::cell::RefCell;
use std::collections::{HashMap, VecDeque};
use std::io;
use std::net::TcpStream;
use std::os::fd::{AsFd, AsRawFd, RawFd};
use std::sync::{Arc, Mutex};
use std::task::{Context, Wake, Waker};

use common::{Direction, Readiness, Task};
use nix::errno::Errno;
use nix::sys::epoll::{Epoll, EpollCreateFlags, EpollEvent, EpollFlags, EpollTimeout};
use workload::{Clock, FetchError, Plan, Trace};

// ANCHOR: readiness
/// The tutorial's `selector`: an epoll set, and who waits for which socket.
struct Reactor {
    epoll: Epoll,
    waiting: RefCell<HashMap<RawFd, [Option<Waker>; 2]>>,
}

impl Readiness for Reactor {
    /// In the set once, for the socket's whole life. Edge-triggered: the
    /// kernel reports a change, which is enough because every future tries
    /// its call first and waits only after "would block".
    fn add(&self, stream: &TcpStream) -> io::Result<()> {
        let flags = EpollFlags::EPOLLIN | EpollFlags::EPOLLOUT | EpollFlags::EPOLLET;
        let fd = stream.as_raw_fd();
        self.epoll
            .add(stream.as_fd(), EpollEvent::new(flags, fd as u64))?;
        self.waiting.borrow_mut().insert(fd, [None, None]);
        Ok(())
    }

    fn remove(&self, stream: &TcpStream) {
        let _ = self.epoll.delete(stream.as_fd());
        self.waiting.borrow_mut().remove(&stream.as_raw_fd());
    }

    fn wake_when_ready(&self, stream: &TcpStream, direction: Direction, waker: &Waker) {
        if let Some(slots) = self.waiting.borrow_mut().get_mut(&stream.as_raw_fd()) {
            slots[direction as usize] = Some(waker.clone());
        }
    }
}

// ANCHOR: turn
impl Reactor {
    /// Sleep in the kernel until some socket is ready, then wake whoever
    /// waits on it: an error or hang-up wakes both directions, whose retry
    /// then meets the error (or the end of the file).
    fn turn(&self) -> io::Result<()> {
        let mut events = [EpollEvent::empty(); 64];
        let n = match self.epoll.wait(&mut events, EpollTimeout::NONE) {
            Err(Errno::EINTR) => 0,
            other => other?,
        };
        for event in &events[..n] {
            let flags = event.events();
            let broken = flags.intersects(EpollFlags::EPOLLERR | EpollFlags::EPOLLHUP);
            let mut waiting = self.waiting.borrow_mut();
            let Some(slots) = waiting.get_mut(&(event.data() as RawFd)) else {
                continue;
            };
            for (direction, ready) in [(0, EpollFlags::EPOLLIN), (1, EpollFlags::EPOLLOUT)] {
                if broken || flags.contains(ready) {
                    if let Some(waker) = slots[direction].take() {
                        waker.wake();
                    }
                }
            }
        }
        Ok(())
    }
}
// ANCHOR_END: turn
// ANCHOR_END: readiness

// ANCHOR: waker
/// A task's waker: put the task's number on the ready queue. The reactor
/// calls it on the executor's own thread, so nobody sleeps to be woken.
struct TaskWaker {
    task: usize,
    ready: Arc<Mutex<VecDeque<usize>>>,
}

impl Wake for TaskWaker {
    fn wake(self: Arc<Self>) {
        self.ready.lock().unwrap().push_back(self.task);
    }
}
// ANCHOR_END: waker

// ANCHOR: run
fn fetch_all(plan: &Plan) -> Vec<Trace> {
    let clock = Clock::start();
    let done = RefCell::new(Vec::new());
    let runtime = match Epoll::new(EpollCreateFlags::EPOLL_CLOEXEC) {
        Ok(epoll) => Reactor {
            epoll,
            waiting: RefCell::new(HashMap::new()),
        },
        Err(e) => {
            let e = FetchError::new(workload::ErrorKind::Resource, format!("epoll_create: {e}"));
            return workload::fail_every_page(plan, &e);
        }
    };
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
            // Nothing to do until a socket is ready: sleep in epoll_wait.
            if let Err(e) = runtime.turn() {
                drop(tasks);
                let e = FetchError::new(workload::ErrorKind::Io, format!("epoll_wait: {e}"));
                return workload::every_page_once(plan, clock, done.into_inner(), &e);
            }
            continue;
        };
        // ANCHOR_END: sleep
        let Some(task) = &mut tasks[id] else {
            continue; // woken after it finished
        };
        let waker = Waker::from(Arc::new(TaskWaker {
            task: id,
            ready: ready.clone(),
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
    let about = "a reactor on epoll: the executor's thread sleeps in epoll_wait";
    common::main("mini_stage3", "epoll", about, fetch_all)
}
