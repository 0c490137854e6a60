//! Variant `mini`: the tutorial's hand-made Future / Task / event loop, in Rust.
//!
//! The tutorial builds asyncio's skeleton by hand before it reaches for the
//! real thing. This file does the same, with no tokio in it, top to bottom:
//!
//! 0. **The program** ([`fetch_all`], `fetch`): lesson 1's blocking code with
//!    `.await` after each call. The compiler turns `fetch` into a state
//!    machine whose `poll` runs from one `.await` to the next: the
//!    tutorial's generator with `yield from`.
//! 1. **The futures** ([`Connect`], [`Write`], [`Read`], [`Sleep`]): the
//!    tutorial's `Future` objects. Each `poll` tries the non-blocking system
//!    call; if the kernel says "would block", it gives its waker to the
//!    reactor and answers `Pending`.
//! 2. **The reactor** ([`Reactor`]): the tutorial's `selector`. It owns an
//!    epoll set, remembers which task waits on which socket (and a list of
//!    timers), sleeps in `epoll_wait` and wakes whoever an event concerns.
//! 3. **The executor** ([`Executor`]): the tutorial's `Task` plus `loop()`.
//!    A task's waker puts its number on a ready queue; the loop polls the
//!    ready tasks, a few dozen at a time, and turns the reactor in between
//!    (sleeping in it only when no task is ready). It starts new tasks a
//!    few at a time too, and never more at once than it was told (the
//!    pages the open-file limit has room for, or `--workers`).
//!
//! Shortcuts, each one flagged where it is taken (search for "SHORTCUT"):
//! one thread only; no task can spawn another; a timer stays in the heap
//! after its page ends; a waker is stored once and never checked for
//! change; a `Read` allocates a fresh `Vec` per chunk; `--save` writes on
//! the loop. tokio does each of these properly.

use std::cell::RefCell;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::future::Future;
use std::io::{self, Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::os::fd::{AsFd, AsRawFd, RawFd};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};
use std::time::Instant;

use nix::errno::Errno;
use nix::sys::epoll::{Epoll, EpollCreateFlags, EpollEvent, EpollFlags, EpollTimeout};
use workload::{Body, Clock, ErrorKind, FetchError, Page, Plan, ResponseReader, Trace};

// ---------------------------------------------------------------------------
// 0. The program: lesson 1's fetch, with .await.
// ---------------------------------------------------------------------------

// ANCHOR: fetch_all
/// Build the reactor and the executor, spawn one task per page, run the
/// loop until every task is done: the tutorial's `__main__`.
pub fn fetch_all(plan: &Plan) -> Vec<Trace> {
    every_page_through(plan, fetch)
}

/// The loop of [`fetch_all`], with the future each page runs passed in:
/// `mini` passes its `async fn fetch`, and the `handmade` variant passes
/// the same future written out by hand.
pub fn every_page_through(
    plan: &Plan,
    fetch: impl AsyncFn(&Reactor, &Plan, &Page, &mut Trace, bool) -> Result<Body, FetchError>,
) -> Vec<Trace> {
    let (reactor, save) = match start(plan) {
        Ok(started) => started,
        Err(failed) => return failed,
    };
    let clock = Clock::start();
    // The tasks borrow these; the executor is done with them before they go.
    let finished = RefCell::new(Vec::with_capacity(plan.pages));
    let (reactor, save, finished_ref, fetch) = (&reactor, save.as_ref(), &finished, &fetch);
    // At most `plan.in_flight()` pages at once (every page, unless the
    // open-file limit has room for fewer, or `--workers` says so): the
    // others wait in the executor, not started, until a page ends.
    let mut executor = Executor::with_limit(plan.in_flight());
    for page in plan.all_pages() {
        executor.spawn(async move {
            // The page's clock starts when the executor starts its task.
            let mut trace = Trace::start(&page, clock);
            let deadline = Instant::now() + plan.timeout;
            let fetched = with_deadline(
                reactor,
                deadline,
                fetch(reactor, plan, &page, &mut trace, save.is_some()),
            )
            .await;
            let result = fetched.and_then(|r| after_fetch(plan, save, page.index, r));
            let result =
                result.unwrap_or_else(|| Err(FetchError::timeout(plan.timeout.as_millis())));
            finished_ref.borrow_mut().push(trace.finish(result));
        });
    }
    let outcome = executor.run(reactor);
    drop(executor);
    every_page_once(plan, clock, outcome, finished.into_inner())
}
// ANCHOR_END: fetch_all

/// The reactor, and the `--save` folder if asked for; or every page
/// failed, named, when either cannot be had.
pub fn start(plan: &Plan) -> Result<(Reactor, Option<crate::save::Dir>), Vec<Trace>> {
    let reactor = Reactor::new().map_err(|e| {
        let e = FetchError::new(ErrorKind::Resource, format!("epoll_create: {e}"));
        workload::fail_every_page(plan, &e)
    })?;
    let save = crate::save::Dir::of(plan).map_err(|e| workload::fail_every_page(plan, &e))?;
    Ok((reactor, save))
}

/// What a page does once its body is in, on the loop's one thread.
/// `None` (a page past its deadline) stays `None`.
pub fn after_fetch(
    plan: &Plan,
    save: Option<&crate::save::Dir>,
    index: usize,
    mut result: Result<Body, FetchError>,
) -> Option<Result<Body, FetchError>> {
    if let Ok(body) = &mut result {
        // `--cpu-us`: on the loop's one thread, so the pages' computing
        // runs one page after another, and no socket is looked at
        // meanwhile.
        workload::cpu::spend(plan.cpu, body);
        if let Some(dir) = save {
            // SHORTCUT, and the tutorial's warning: this write blocks the
            // loop, and every page with it, for as long as the disk takes.
            // mini has no thread pool to hand it to; the tokio variant uses
            // spawn_blocking.
            if let Err(e) = dir.write(index, &body.body.take().unwrap_or_default()) {
                result = Err(e);
            }
        }
    }
    Some(result)
}

/// One trace per page once the loop has ended: a page whose task left none
/// is named with the reason the loop gives.
pub fn every_page_once(
    plan: &Plan,
    clock: Clock,
    outcome: io::Result<()>,
    finished: Vec<Trace>,
) -> Vec<Trace> {
    let error = match outcome {
        Ok(()) => FetchError::new(ErrorKind::Io, "the task ended without a trace"),
        Err(e) => FetchError::new(ErrorKind::Io, format!("the event loop failed: {e}")),
    };
    workload::every_page_once(plan, clock, finished, &error)
}

// ANCHOR: fetch
/// The tutorial's `Crawler.fetch()` after its `yield from` rewrite: one page,
/// reading like lesson 1, every wait an `.await`.
pub async fn fetch(
    reactor: &Reactor,
    plan: &Plan,
    page: &Page,
    trace: &mut Trace,
    keep_body: bool,
) -> Result<Body, FetchError> {
    let socket = connect(reactor, page.addr)?.await?; // yield from connect(sock, addr)
    trace.connected();
    write_all(&socket, &page.request()).await?; // sock.send(get)
    let mut response = ResponseReader::new(plan.max_bytes);
    if keep_body {
        response = response.keep_body();
    }
    loop {
        let chunk = Read { socket: &socket }.await?; // chunk = yield from read(sock)
        if !chunk.is_empty() {
            trace.first_byte();
        }
        if response.feed(&chunk)?.is_done() {
            break;
        }
    }
    // Returning drops `socket`: out of the epoll set, then closed.
    response.finish()
}
// ANCHOR_END: fetch

/// Write all of `data`, a `Write` at a time.
pub(crate) async fn write_all(socket: &Socket<'_>, mut data: &[u8]) -> io::Result<()> {
    while !data.is_empty() {
        let n = socket.write(data).await?;
        if n == 0 {
            return Err(io::ErrorKind::WriteZero.into());
        }
        data = &data[n..];
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// 1. The futures: connect, write, read (and sleep) on non-blocking sockets.
// ---------------------------------------------------------------------------

/// A non-blocking socket in the reactor's epoll set; leaving it is part of
/// closing it.
pub struct Socket<'r> {
    pub(crate) stream: TcpStream,
    pub(crate) reactor: &'r Reactor,
}

impl Drop for Socket<'_> {
    fn drop(&mut self) {
        self.reactor.deregister(&self.stream);
    }
}

impl<'r> Socket<'r> {
    /// A non-blocking socket, registered with the reactor, its connect
    /// started: the SYN is sent and the call returns at once with "in
    /// progress"; the handshake completes while the loop does other things.
    pub fn connect(reactor: &'r Reactor, addr: SocketAddr) -> io::Result<Socket<'r>> {
        use socket2::{Domain, Socket as RawSocket, Type};
        let socket = RawSocket::new(Domain::for_address(addr), Type::STREAM, None)?;
        socket.set_nonblocking(true)?;
        match socket.connect(&addr.into()) {
            Ok(()) => {}
            Err(e) if e.raw_os_error() == Some(Errno::EINPROGRESS as i32) => {}
            Err(e) => return Err(e),
        }
        let stream: TcpStream = socket.into();
        reactor.register(&stream)?;
        Ok(Socket { stream, reactor })
    }

    /// Has the handshake finished? A failed one leaves its errno in
    /// SO_ERROR (connection refused arrives this way). Asking the kernel
    /// each time is what keeps a spurious poll (the timer woke the task)
    /// harmless.
    pub fn connected(&self) -> io::Result<bool> {
        if let Some(e) = self.stream.take_error()? {
            return Err(e);
        }
        match self.stream.peer_addr() {
            Ok(_) => Ok(true),
            Err(e) if e.raw_os_error() == Some(Errno::ENOTCONN as i32) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Ask the reactor to wake this task when the socket is ready.
    pub fn wake_when_ready(&self, direction: Direction, cx: &Context<'_>) {
        self.reactor
            .wake_when_ready(&self.stream, direction, cx.waker());
    }

    /// Write some of `data`: ready with the count once the kernel has
    /// taken any of it.
    pub fn write<'a>(&'a self, data: &'a [u8]) -> Write<'a, 'r> {
        Write { socket: self, data }
    }

    /// The socket itself, for its non-blocking reads and writes.
    pub fn stream(&self) -> &TcpStream {
        &self.stream
    }
}

/// Start a connect and return the future that finishes it: the tutorial's
/// `connect(sock, address)` before its `yield from f`.
pub fn connect(reactor: &Reactor, addr: SocketAddr) -> io::Result<Connect<'_>> {
    Ok(Connect {
        socket: Some(Socket::connect(reactor, addr)?),
    })
}

// ANCHOR: connect
/// Finishes a connect: ready when the socket is connected (or has failed).
pub struct Connect<'r> {
    socket: Option<Socket<'r>>,
}

impl<'r> Future for Connect<'r> {
    type Output = io::Result<Socket<'r>>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let Some(socket) = &self.socket else {
            return Poll::Ready(Err(io::Error::other("Connect polled after it finished")));
        };
        match socket.connected() {
            // Connected: hand the socket to the caller.
            Ok(true) => Poll::Ready(self.socket.take().ok_or_else(|| io::Error::other("gone"))),
            // Still in progress: writable is what a finished handshake looks
            // like to epoll, so wait for that.
            Ok(false) => {
                socket.wake_when_ready(Direction::Write, cx);
                Poll::Pending
            }
            Err(e) => Poll::Ready(Err(e)),
        }
    }
}
// ANCHOR_END: connect

/// Writes some of `data`: ready with the count, once the kernel took any.
pub struct Write<'a, 'r> {
    socket: &'a Socket<'r>,
    data: &'a [u8],
}

impl Future for Write<'_, '_> {
    type Output = io::Result<usize>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        loop {
            match (&self.socket.stream).write(self.data) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    // The send buffer is full: wait until it drains.
                    let s = self.socket;
                    s.reactor
                        .wake_when_ready(&s.stream, Direction::Write, cx.waker());
                    return Poll::Pending;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                result => return Poll::Ready(result),
            }
        }
    }
}

// ANCHOR: read
/// Reads one chunk: the tutorial's `read(sock)`, whose callback did
/// `f.set_result(sock.recv(4096))`. An empty chunk is end of file.
pub struct Read<'a, 'r> {
    socket: &'a Socket<'r>,
}

impl Future for Read<'_, '_> {
    type Output = io::Result<Vec<u8>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut buf = [0u8; 4096];
        loop {
            match (&self.socket.stream).read(&mut buf) {
                // SHORTCUT: a fresh Vec per chunk, like Python's recv(); a
                // real runtime reads into a buffer the caller lends it.
                Ok(n) => return Poll::Ready(Ok(buf[..n].to_vec())),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    // Nothing yet: "call me when there is". The task goes
                    // back to the executor; only this waker remembers it.
                    let s = self.socket;
                    s.reactor
                        .wake_when_ready(&s.stream, Direction::Read, cx.waker());
                    return Poll::Pending;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
    }
}
// ANCHOR_END: read

/// Ready at `at`.
pub struct Sleep<'r> {
    pub(crate) reactor: &'r Reactor,
    pub(crate) at: Instant,
    pub(crate) registered: bool,
}

impl Future for Sleep<'_> {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if Instant::now() >= self.at {
            return Poll::Ready(());
        }
        if !self.registered {
            // SHORTCUT: registered once with the first waker, and left in
            // the heap if the page ends first (it then wakes a finished
            // task, which the executor ignores). tokio removes a timer when
            // its Sleep is dropped and re-registers when the waker changes.
            self.reactor.wake_at(self.at, cx.waker());
            self.registered = true;
        }
        Poll::Pending
    }
}

// ANCHOR: with_deadline
/// `fut`, or `None` if `at` comes first: a select of two futures, by hand.
/// Whoever woke the task, both are asked again; the first ready one wins,
/// and returning drops the other - which is how a future is cancelled.
pub async fn with_deadline<F: Future>(reactor: &Reactor, at: Instant, fut: F) -> Option<F::Output> {
    let mut fut = std::pin::pin!(fut);
    let mut sleep = Sleep {
        reactor,
        at,
        registered: false,
    };
    std::future::poll_fn(|cx| {
        if let Poll::Ready(out) = fut.as_mut().poll(cx) {
            return Poll::Ready(Some(out));
        }
        match Pin::new(&mut sleep).poll(cx) {
            Poll::Ready(()) => Poll::Ready(None),
            Poll::Pending => Poll::Pending,
        }
    })
    .await
}
// ANCHOR_END: with_deadline

// ---------------------------------------------------------------------------
// 2. The reactor: epoll, and who waits for what.
// ---------------------------------------------------------------------------

// ANCHOR: reactor
/// The tutorial's `selector`, plus a timer list.
pub struct Reactor {
    epoll: Epoll,
    /// For each registered socket: the task waiting to read, and the one
    /// waiting to write (the same task here, but the two waits are separate).
    waiting: RefCell<HashMap<RawFd, Waiters>>,
    /// Deadlines, soonest first.
    timers: RefCell<BinaryHeap<Timer>>,
    events: RefCell<Vec<EpollEvent>>,
}

#[derive(Default)]
struct Waiters {
    read: Option<Waker>,
    write: Option<Waker>,
}

#[derive(Clone, Copy)]
pub enum Direction {
    Read,
    Write,
}
// ANCHOR_END: reactor

struct Timer {
    at: Instant,
    waker: Waker,
}

// BinaryHeap is a max-heap: order timers backwards so the soonest is on top.
impl Ord for Timer {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        other.at.cmp(&self.at)
    }
}
impl PartialOrd for Timer {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl PartialEq for Timer {
    fn eq(&self, other: &Self) -> bool {
        self.at == other.at
    }
}
impl Eq for Timer {}

impl Reactor {
    pub fn new() -> io::Result<Reactor> {
        Ok(Reactor {
            epoll: Epoll::new(EpollCreateFlags::EPOLL_CLOEXEC)?,
            waiting: RefCell::new(HashMap::new()),
            timers: RefCell::new(BinaryHeap::new()),
            events: RefCell::new(vec![EpollEvent::empty(); 1024]),
        })
    }

    /// Put a socket in the epoll set, once, for its whole life.
    ///
    /// Edge-triggered (`EPOLLET`): the kernel reports a socket when it
    /// *becomes* readable or writable, not for as long as it is. That is
    /// enough because every future below tries its system call first and
    /// only waits after "would block"; an edge nobody was waiting for is
    /// harmless, the next try sees the data. The tutorial instead registers
    /// before each wait and unregisters after it: two more system calls per
    /// wait, which tokio (like this file) does without.
    pub fn register(&self, stream: &impl AsFd) -> io::Result<()> {
        let fd = stream.as_fd().as_raw_fd();
        let interest = EpollFlags::EPOLLIN
            | EpollFlags::EPOLLOUT
            | EpollFlags::EPOLLRDHUP
            | EpollFlags::EPOLLET;
        self.epoll
            .add(stream.as_fd(), EpollEvent::new(interest, fd as u64))?;
        self.waiting.borrow_mut().insert(fd, Waiters::default());
        Ok(())
    }

    /// Take a socket out of the set before it is closed, and forget its
    /// wakers (its fd number will be reused by the next socket).
    pub fn deregister(&self, stream: &impl AsFd) {
        let _ = self.epoll.delete(stream.as_fd());
        self.waiting
            .borrow_mut()
            .remove(&stream.as_fd().as_raw_fd());
    }

    /// The tutorial's `selector.register(fd, EVENT_READ, on_readable)`: when
    /// this socket is ready in this direction, wake this task.
    pub fn wake_when_ready(&self, stream: &impl AsFd, direction: Direction, waker: &Waker) {
        if let Some(w) = self
            .waiting
            .borrow_mut()
            .get_mut(&stream.as_fd().as_raw_fd())
        {
            let slot = match direction {
                Direction::Read => &mut w.read,
                Direction::Write => &mut w.write,
            };
            *slot = Some(waker.clone());
        }
    }

    /// Wake this task at `at` (or soon after).
    fn wake_at(&self, at: Instant, waker: &Waker) {
        self.timers.borrow_mut().push(Timer {
            at,
            waker: waker.clone(),
        });
    }

    // ANCHOR: turn
    /// One turn of the tutorial's `loop()`: sleep in `epoll_wait` until a socket
    /// is ready or the next timer is due, then wake the tasks concerned.
    /// The thread spends nearly all of its life in here, in the kernel,
    /// using no CPU - lesson 5's loop, now waking tasks instead of calling
    /// callbacks.
    ///
    /// With `wait` false (tasks are still ready to run) it only looks:
    /// `epoll_wait` with a zero timeout.
    pub(crate) fn turn(&self, wait: bool) -> io::Result<()> {
        let timeout = match self.timers.borrow().peek() {
            _ if !wait => EpollTimeout::ZERO,
            // Round up: waking a millisecond early would only turn again.
            Some(t) => {
                let left = t.at.saturating_duration_since(Instant::now());
                let ms = left.as_micros().div_ceil(1000).min(i32::MAX as u128) as i32;
                EpollTimeout::try_from(ms).unwrap_or(EpollTimeout::MAX)
            }
            None if self
                .waiting
                .borrow()
                .values()
                .all(|w| w.read.is_none() && w.write.is_none()) =>
            {
                // Tasks remain, but no socket and no timer can ever wake
                // them: waiting would hang forever. A bug, not a network
                // state; the executor fails the pages left.
                return Err(io::Error::other("tasks wait, but nothing can wake them"));
            }
            None => EpollTimeout::NONE,
        };
        let mut events = self.events.borrow_mut();
        let n = match self.epoll.wait(&mut events, timeout) {
            Ok(n) => n,
            Err(Errno::EINTR) => 0, // a signal arrived: just look again
            Err(e) => return Err(e.into()),
        };
        for event in &events[..n] {
            let fd = event.data() as RawFd;
            let flags = event.events();
            let mut waiting = self.waiting.borrow_mut();
            let Some(w) = waiting.get_mut(&fd) else {
                continue;
            };
            // An error or hang-up concerns both directions: whoever waits
            // will retry its call and get the error (or EOF).
            let broken = flags.intersects(EpollFlags::EPOLLERR | EpollFlags::EPOLLHUP);
            if broken || flags.intersects(EpollFlags::EPOLLIN | EpollFlags::EPOLLRDHUP) {
                if let Some(waker) = w.read.take() {
                    waker.wake();
                }
            }
            if broken || flags.contains(EpollFlags::EPOLLOUT) {
                if let Some(waker) = w.write.take() {
                    waker.wake();
                }
            }
        }
        let now = Instant::now();
        let mut timers = self.timers.borrow_mut();
        while timers.peek().is_some_and(|t| t.at <= now) {
            if let Some(t) = timers.pop() {
                t.waker.wake();
            }
        }
        Ok(())
    }
    // ANCHOR_END: turn
}

// ---------------------------------------------------------------------------
// 3. The executor: tasks, wakers, and the loop.
// ---------------------------------------------------------------------------

// ANCHOR: waker
/// A waker that puts its task's number on the ready queue: the tutorial's
/// `future.add_done_callback(task.step)`, reduced to "step me again".
struct TaskWaker {
    task: usize,
    /// Already on the queue: a second wake before the poll adds nothing.
    queued: AtomicBool,
    ready: Arc<Mutex<VecDeque<usize>>>,
}

impl Wake for TaskWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        if !self.queued.swap(true, Ordering::AcqRel) {
            // SHORTCUT: a Mutex and an atomic on one thread, because the
            // standard Waker must be Send + Sync; an executor that stays on
            // one thread may build its wakers by hand (an unsafe RawWaker
            // vtable) and skip both.
            let mut ready = self.ready.lock().unwrap_or_else(|p| p.into_inner());
            ready.push_back(self.task);
        }
    }
}
// ANCHOR_END: waker

/// A task: the tutorial's `Task(crawler.fetch())`, a future driven to the end.
pub(crate) struct Task<'a> {
    future: Pin<Box<dyn Future<Output = ()> + 'a>>,
    waker: Arc<TaskWaker>,
}

impl<'a> Task<'a> {
    /// Task number `id`, its waker counted as called: once the executor
    /// puts `id` on the `ready` queue, its first step runs.
    pub(crate) fn new(
        id: usize,
        future: Pin<Box<dyn Future<Output = ()> + 'a>>,
        ready: &Arc<Mutex<VecDeque<usize>>>,
    ) -> Task<'a> {
        let waker = Arc::new(TaskWaker {
            task: id,
            queued: AtomicBool::new(true),
            ready: ready.clone(),
        });
        Task { future, waker }
    }

    /// The tutorial's `Task.step()`: run the coroutine to its next `yield
    /// from` - here, to the next `.await` that is Pending. `true` once the
    /// future has finished.
    pub(crate) fn step(&mut self) -> bool {
        self.waker.queued.store(false, Ordering::Release);
        let waker = Waker::from(self.waker.clone());
        let mut cx = Context::from_waker(&waker);
        self.future.as_mut().poll(&mut cx).is_ready()
    }
}

/// The next task on the `ready` queue. The lock is held only to pop: a
/// task being polled may wake itself or others.
pub(crate) fn next_ready(ready: &Mutex<VecDeque<usize>>) -> Option<usize> {
    ready.lock().unwrap_or_else(|p| p.into_inner()).pop_front()
}

/// The tutorial's `loop()`: run ready tasks; when none is ready, turn the
/// reactor, which makes some ready.
///
/// Unlike `tokio::spawn`, tasks here may borrow (`'a`): the executor runs
/// them all to the end before `run` returns, so nothing they borrow can go
/// away first. SHORTCUT: tasks cannot spawn tasks (`spawn` needs `&mut`).
pub struct Executor<'a> {
    tasks: Vec<Option<Task<'a>>>,
    ready: Arc<Mutex<VecDeque<usize>>>,
    /// Tasks spawned and not started yet, in spawn order.
    held: VecDeque<usize>,
    /// Tasks started and not finished: at most `limit` (tokio's variant
    /// does this with a Semaphore).
    running: usize,
    limit: usize,
}

/// Tasks polled between two looks at the reactor: tokio's number (its
/// `event_interval`). Polling every ready task first would let a task
/// that keeps waking itself starve every socket.
const EVENT_INTERVAL: usize = 61;

/// New tasks started per turn of the loop, at most, and only while fewer
/// than EVENT_INTERVAL tasks are ready: the tokio variant's crawl spawns 16
/// pages, then yields. Starting every task at once would queue a page
/// whose socket is ready behind every page not started yet: at 30,000
/// pages, its response read tens of seconds after it came.
const START_BATCH: usize = 16;

impl Default for Executor<'_> {
    fn default() -> Self {
        Self::new()
    }
}

impl<'a> Executor<'a> {
    /// An executor that runs every task it is given at once.
    pub fn new() -> Executor<'a> {
        Executor::with_limit(usize::MAX)
    }

    /// An executor that runs at most `limit` tasks at once; the others wait,
    /// not started, in the order they were spawned.
    pub fn with_limit(limit: usize) -> Executor<'a> {
        Executor {
            tasks: Vec::new(),
            ready: Arc::new(Mutex::new(VecDeque::new())),
            held: VecDeque::new(),
            running: 0,
            limit: limit.max(1),
        }
    }

    /// Add a task. `run` starts it (makes it ready for its first step)
    /// when its turn and its room come; a future does nothing until
    /// polled, so a held page has no socket yet.
    pub fn spawn(&mut self, future: impl Future<Output = ()> + 'a) {
        let id = self.tasks.len();
        self.tasks
            .push(Some(Task::new(id, Box::pin(future), &self.ready)));
        self.held.push_back(id);
    }

    /// Whether a held task may start: there is one, and room for it.
    fn can_start(&self) -> bool {
        self.running < self.limit && !self.held.is_empty()
    }

    /// Start up to START_BATCH held tasks, if there is room and the loop
    /// has caught up with the tasks already ready.
    fn start_held(&mut self) {
        let mut ready = self.ready.lock().unwrap_or_else(|p| p.into_inner());
        if ready.len() >= EVENT_INTERVAL {
            return;
        }
        for _ in 0..START_BATCH {
            if !self.can_start() {
                return;
            }
            if let Some(task) = self.held.pop_front() {
                self.running += 1;
                ready.push_back(task);
            }
        }
    }

    // ANCHOR: run
    /// Run every task to its end. An error means the reactor failed; the
    /// tasks not finished then are dropped (their pages never end).
    pub fn run(&mut self, reactor: &Reactor) -> io::Result<()> {
        let mut live = self.tasks.iter().filter(|t| t.is_some()).count();
        while live > 0 {
            // A few new pages, if there is room for them.
            self.start_held();
            // Poll the tasks whose waker was called, at most EVENT_INTERVAL
            // of them.
            for _ in 0..EVENT_INTERVAL {
                let Some(id) = next_ready(&self.ready) else {
                    break;
                };
                // A wake for a task that has finished (a stale timer): skip.
                let Some(task) = &mut self.tasks[id] else {
                    continue;
                };
                // The tutorial's Task.step(), to the next Pending `.await`.
                if task.step() {
                    self.tasks[id] = None; // frees the task's state machine
                    live -= 1;
                    self.running -= 1; // its room goes to a held task
                }
            }
            if live > 0 {
                // Then look at the sockets and timers: sleep in epoll_wait
                // if there is nothing to do, only look if there is.
                let ready = !self
                    .ready
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .is_empty();
                reactor.turn(!ready && !self.can_start())?;
            }
        }
        Ok(())
    }
    // ANCHOR_END: run
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// A task that waits on nothing that can wake it makes the loop fail,
    /// instead of sleeping forever.
    #[test]
    fn a_task_nobody_can_wake_is_an_error_not_a_hang() {
        let reactor = Reactor::new().unwrap();
        let mut executor = Executor::new();
        executor.spawn(std::future::pending::<()>());
        let e = executor.run(&reactor).unwrap_err();
        assert!(e.to_string().contains("nothing can wake"), "{e}");
    }

    /// Timers wake tasks in deadline order, whatever the spawn order.
    #[test]
    fn sleeps_end_in_deadline_order() {
        let reactor = Reactor::new().unwrap();
        let order = RefCell::new(Vec::new());
        let start = Instant::now();
        let mut executor = Executor::new();
        for (name, ms) in [("c", 30), ("a", 10), ("b", 20)] {
            let (reactor, order) = (&reactor, &order);
            executor.spawn(async move {
                Sleep {
                    reactor,
                    at: start + Duration::from_millis(ms),
                    registered: false,
                }
                .await;
                order.borrow_mut().push(name);
            });
        }
        executor.run(&reactor).unwrap();
        drop(executor);
        assert_eq!(order.into_inner(), ["a", "b", "c"]);
        assert!(start.elapsed() >= Duration::from_millis(30));
    }

    /// A task that wakes itself on every poll does not keep the loop from
    /// the reactor: a sleeping task still wakes on time, because the
    /// executor looks at epoll and the timers every EVENT_INTERVAL polls.
    #[test]
    fn a_task_that_never_waits_does_not_starve_the_others() {
        let reactor = Reactor::new().unwrap();
        let slept = std::cell::Cell::new(false);
        let spins = std::cell::Cell::new(0u64);
        // Far more polls than 5 ms take: reached only if the timer is
        // never looked at (the spinner then gives up, so no hang).
        const GIVE_UP: u64 = 5_000_000;
        let mut executor = Executor::new();
        let (reactor_ref, slept_ref, spins_ref) = (&reactor, &slept, &spins);
        executor.spawn(async move {
            Sleep {
                reactor: reactor_ref,
                at: Instant::now() + Duration::from_millis(5),
                registered: false,
            }
            .await;
            slept_ref.set(true);
        });
        executor.spawn(std::future::poll_fn(move |cx| {
            if slept_ref.get() || spins_ref.get() >= GIVE_UP {
                return Poll::Ready(());
            }
            spins_ref.set(spins_ref.get() + 1);
            cx.waker().wake_by_ref();
            Poll::Pending
        }));
        executor.run(&reactor).unwrap();
        drop(executor);
        assert!(slept.get(), "the sleeper never woke");
        assert!(
            spins.get() < GIVE_UP,
            "{} polls of the spinner",
            spins.get()
        );
    }

    /// With a limit, tasks start in spawn order and never more than the
    /// limit run at once; the held ones start as the running ones end.
    #[test]
    fn a_limit_holds_tasks_back_until_others_end() {
        let reactor = Reactor::new().unwrap();
        let running = std::cell::Cell::new(0usize);
        let most = std::cell::Cell::new(0usize);
        let order = RefCell::new(Vec::new());
        let start = Instant::now();
        let mut executor = Executor::with_limit(3);
        for i in 0..10u64 {
            let (reactor, running, most, order) = (&reactor, &running, &most, &order);
            executor.spawn(async move {
                order.borrow_mut().push(i);
                running.set(running.get() + 1);
                most.set(most.get().max(running.get()));
                Sleep {
                    reactor,
                    at: start + Duration::from_millis(1 + i % 4),
                    registered: false,
                }
                .await;
                running.set(running.get() - 1);
            });
        }
        executor.run(&reactor).unwrap();
        drop(executor);
        assert_eq!(most.get(), 3);
        assert_eq!(order.into_inner(), (0..10).collect::<Vec<_>>());
    }

    /// A wake before the task's poll queues it once, not twice.
    #[test]
    fn double_wakes_queue_a_task_once() {
        let ready = Arc::new(Mutex::new(VecDeque::new()));
        let w = Arc::new(TaskWaker {
            task: 7,
            queued: AtomicBool::new(false),
            ready: ready.clone(),
        });
        let waker = Waker::from(w);
        waker.wake_by_ref();
        waker.wake_by_ref();
        assert_eq!(
            ready.lock().unwrap().iter().copied().collect::<Vec<_>>(),
            [7]
        );
    }
}
