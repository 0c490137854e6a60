//! mini, stage 4 of 4: timers. Every page gets a deadline: the reactor
//! keeps the timers too, sleeps in `epoll_wait` no longer than the soonest
//! one, and wakes its task when it is due; the page's future then loses a
//! race to its `Sleep` and is dropped, which cancels it.
//! `cargo run --release -p async_await --example mini_stage4`

#[path = "stages/common.rs"]
mod common;

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::future::{poll_fn, Future};
use std::io;
use std::net::TcpStream;
use std::os::fd::{AsFd, AsRawFd, RawFd};
use std::pin::{pin, Pin};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};
use std::time::Instant;

use common::{Direction, Readiness, Task};
use nix::errno::Errno;
use nix::sys::epoll::{Epoll, EpollCreateFlags, EpollEvent, EpollFlags, EpollTimeout};
use workload::{Clock, FetchError, Page, Plan, Trace};

// ANCHOR: readiness
/// The tutorial's `selector`: an epoll set, and who waits for which socket.
struct Reactor {
    epoll: Epoll,
    waiting: RefCell<HashMap<RawFd, [Option<Waker>; 2]>>,
    /// Who to wake when, soonest first (the number tells equal times apart).
    timers: RefCell<BTreeMap<(Instant, u64), Waker>>,
    next_timer: Cell<u64>,
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

impl Reactor {
    /// Sleep in the kernel until some socket is ready or the soonest timer
    /// is due, then wake whoever waits on it: an error or hang-up wakes both
    /// directions, whose retry then meets the error (or the end of the file).
    fn turn(&self) -> io::Result<()> {
        let timeout = match self.timers.borrow().first_key_value() {
            // Rounded up: waking a millisecond early would only turn again.
            Some((&(at, _), _)) => {
                let ms = at
                    .saturating_duration_since(Instant::now())
                    .as_micros()
                    .div_ceil(1000);
                EpollTimeout::try_from(ms.min(i32::MAX as u128) as i32).unwrap_or(EpollTimeout::MAX)
            }
            None => EpollTimeout::NONE,
        };
        let mut events = [EpollEvent::empty(); 64];
        let n = match self.epoll.wait(&mut events, timeout) {
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
        let now = Instant::now();
        let mut timers = self.timers.borrow_mut();
        while let Some(entry) = timers.first_entry().filter(|t| t.key().0 <= now) {
            entry.remove().wake();
        }
        Ok(())
    }

    /// Wake this task at `at`; the returned key takes the timer back.
    fn wake_at(&self, at: Instant, waker: &Waker) -> (Instant, u64) {
        let key = (at, self.next_timer.get());
        self.next_timer.set(key.1 + 1);
        self.timers.borrow_mut().insert(key, waker.clone());
        key
    }
}
// ANCHOR_END: readiness

// ANCHOR: deadline
/// Ready at `at`: the timer is set on the first poll and taken back when
/// the `Sleep` is dropped, whether it fired or not.
struct Sleep<'r> {
    reactor: &'r Reactor,
    at: Instant,
    timer: Option<(Instant, u64)>,
}

impl Future for Sleep<'_> {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if Instant::now() >= self.at {
            return Poll::Ready(());
        }
        if self.timer.is_none() {
            self.timer = Some(self.reactor.wake_at(self.at, cx.waker()));
        }
        Poll::Pending
    }
}

impl Drop for Sleep<'_> {
    fn drop(&mut self) {
        if let Some(key) = self.timer {
            self.reactor.timers.borrow_mut().remove(&key);
        }
    }
}

// ANCHOR: page
/// The page's task with a deadline: the fetch and a `Sleep` are asked in
/// turn, whoever woke the task; the first one ready wins, and returning
/// drops the other, which is how a future is cancelled.
async fn page(reactor: &Reactor, plan: &Plan, page: Page, clock: Clock) -> Trace {
    let mut trace = Trace::start(&page, clock);
    // The fetch lives in this block, so `trace` is free again after it.
    let result = {
        let mut fetch = pin!(common::fetch(reactor, plan, &page, &mut trace));
        let mut sleep = Sleep {
            reactor,
            at: Instant::now() + plan.timeout,
            timer: None,
        };
        poll_fn(|cx| match fetch.as_mut().poll(cx) {
            Poll::Ready(result) => Poll::Ready(result),
            Poll::Pending => match Pin::new(&mut sleep).poll(cx) {
                Poll::Ready(()) => Poll::Ready(Err(FetchError::timeout(plan.timeout.as_millis()))),
                Poll::Pending => Poll::Pending,
            },
        })
        .await
    };
    common::finish(plan, trace, result)
}
// ANCHOR_END: page
// ANCHOR_END: deadline

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
            timers: RefCell::new(BTreeMap::new()),
            next_timer: Cell::new(0),
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
                let trace = self::page(runtime, plan, page, clock).await;
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
    let about = "timers: a deadline per page, epoll_wait until the soonest";
    common::main("mini_stage4", "timers", about, fetch_all)
}
