//! # Lesson 5: one thread, many sockets: a selector, callbacks and an event loop
//!
//! The seed's epoll crawler. Lesson 4 made the sockets non-blocking and then
//! asked them, over and over, "are you ready yet?", burning a core. Here the
//! asking moves into the kernel: every socket is registered with a
//! *selector* (epoll, poll or select), and the one thread sleeps in a single
//! system call until the kernel says which sockets can go on. For each ready
//! socket the loop calls the function that was stored with it, the page's
//! *callback*: `connected` once the handshake is over, then `read_response`
//! every time bytes arrive. A callback does a little non-blocking I/O,
//! names the callback to call next, and returns at once. Nothing ever
//! blocks except the selector's wait, so ten thousand pages overlap on one
//! thread with no thread stacks and no context switches between pages.
//!
//! Read it in this order:
//! - [`Selector`]: what the loop needs from the kernel (the seed's
//!   `DefaultSelector`), with one backend per file: `epoll.rs` (default),
//!   `poll.rs`, `select.rs`.
//! - [`Crawler`]: one page's state and its callbacks (the seed's `Crawler`
//!   with `fetch`, `connected`, `read_response`).
//! - [`EventLoop::run`]: the seed's `loop()`, plus timers (asyncio's
//!   `call_later`) so that every page ends within `--timeout-ms`.
//!
//! **Triggering.** Every backend here is *level-triggered*: a socket is
//! reported ready on every wait for as long as it *is* ready (data unread,
//! room to write), not only when it *becomes* ready. select and poll can do
//! nothing else; epoll is asked for the same (no `EPOLLET`) so the same
//! callbacks serve all three. It matters in two places, marked
//! "LEVEL-TRIGGERED" below: `read_response` may read just once per call,
//! and `send_request` must stop asking for "writable" once the request is
//! out, or the loop would spin.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};
use std::time::{Duration, Instant};

use socket2::{Domain, Protocol, Socket, Type};
use workload::{Clock, Concurrency, Deadline, ErrorKind, FetchError, Page, Plan, ResponseReader};
use workload::{Progress, Trace};

mod epoll;
mod poll;
mod select;
mod sigio;

pub use epoll::EpollSelector;
pub use poll::PollSelector;
pub use select::{SelectSelector, FD_SETSIZE};

/// The lesson's table: the three selectors the seeds compare, then signal-driven
/// I/O, which has none (`sigio.rs`).
pub const LESSON: workload::Lesson = workload::Lesson {
    name: "callback_loop",
    about: "Lesson 5: one thread, a readiness selector (epoll / poll / select), callbacks and an event loop",
    variants: &[
        workload::Variant {
            name: "epoll",
            about: "the seed's DefaultSelector on Linux: the kernel keeps the interest list",
            concurrency: Concurrency::All,
            fetch: fetch_all_epoll,
        },
        workload::Variant {
            name: "poll",
            about: "the whole array of descriptors handed to the kernel on every wait",
            concurrency: Concurrency::All,
            fetch: fetch_all_poll,
        },
        workload::Variant {
            name: "select",
            about: "bitmaps of FD_SETSIZE (1024) bits; a descriptor above that fails as 'resource'",
            concurrency: Concurrency::All,
            fetch: fetch_all_select,
        },
        workload::Variant {
            name: "sigio",
            about: "signal-driven I/O: each socket raises a real-time signal, taken with sigtimedwait",
            concurrency: Concurrency::All,
            fetch: fetch_all_sigio,
        },
    ],
    flags: &[],
};

pub fn fetch_all_epoll(plan: &Plan) -> Vec<Trace> {
    with_selector(plan, EpollSelector::new())
}

pub fn fetch_all_poll(plan: &Plan) -> Vec<Trace> {
    with_selector(plan, Ok(PollSelector::new()))
}

pub fn fetch_all_select(plan: &Plan) -> Vec<Trace> {
    with_selector(plan, Ok(SelectSelector::new()))
}

/// No selector: the sockets signal this thread (`sigio.rs`).
pub fn fetch_all_sigio(plan: &Plan) -> Vec<Trace> {
    sigio::fetch_all(plan)
}

fn with_selector<S: Selector>(plan: &Plan, selector: io::Result<S>) -> Vec<Trace> {
    match selector {
        Ok(selector) => crawl(plan, selector),
        Err(e) => {
            // Without a selector there is no loop: every page fails, named.
            let clock = Clock::start();
            let error = FetchError::new(
                ErrorKind::Resource,
                format!("cannot create the selector: {e}"),
            );
            plan.all_pages()
                .map(|p| Trace::start(&p, clock).finish(Err(error.clone())))
                .collect()
        }
    }
}

// ---------------------------------------------------------------------------
// The selector: what the loop asks of the kernel.
// ---------------------------------------------------------------------------

// ANCHOR: selector
/// What a page waits for: the seed's `EVENT_READ` / `EVENT_WRITE`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Interest {
    /// Bytes (or end of file, or an error) to read.
    Read,
    /// Room to write; on a connecting socket: the handshake is over.
    Write,
}

/// A readiness selector: the seed's `selector` object, over one of the
/// kernel's three interfaces. It only watches: it never reads, never
/// closes, and knows nothing about pages.
///
/// Contract: a descriptor stays open from `register` until `unregister`
/// (the event loop below always unregisters before it closes a socket).
/// poll and select remember plain descriptor numbers between calls; a
/// number closed behind their back could be reused by another socket.
pub trait Selector {
    /// Start watching `fd` (the seed's `selector.register`). A descriptor
    /// the backend cannot watch is refused with the reason.
    fn register(&mut self, fd: BorrowedFd<'_>, interest: Interest) -> Result<(), FetchError>;
    /// Watch `fd` for something else (register again, in the seed).
    fn modify(&mut self, fd: BorrowedFd<'_>, interest: Interest) -> Result<(), FetchError>;
    /// Stop watching `fd` (the seed's `selector.unregister`).
    fn unregister(&mut self, fd: BorrowedFd<'_>);
    /// Sleep until some descriptor is ready or `timeout` passes (`None`:
    /// no limit), then put the ready descriptors in `ready`. Errors and
    /// hang-ups count as ready: the callback's own call then reports them.
    /// This is the only call in the lesson that blocks.
    fn wait(&mut self, timeout: Option<Duration>, ready: &mut Vec<RawFd>) -> io::Result<()>;
}
// ANCHOR_END: selector

/// `timeout` in whole milliseconds for poll and epoll_wait, rounded up so the
/// loop never wakes just before a deadline and has to spin to reach it.
/// `-1` is "no timeout".
pub(crate) fn timeout_ms(timeout: Option<Duration>) -> i32 {
    match timeout {
        None => -1,
        Some(t) => t.as_nanos().div_ceil(1_000_000).min(i32::MAX as u128) as i32,
    }
}

// ---------------------------------------------------------------------------
// The crawler: one page, cut into callbacks.
// ---------------------------------------------------------------------------

/// A callback: what to run when the page's socket is ready (or its timer
/// fires). The seed registers bound methods, `self.connected`; here a
/// plain function that gets its own crawler.
pub type Callback = fn(&mut Crawler) -> Next;

/// What a callback asks the loop to do next.
pub enum Next {
    /// Call `Callback` when the socket is ready for `Interest`: the seed's
    /// `selector.register(fd, EVENT_READ, self.read_response)`.
    Wait(Interest, Callback),
    /// The page is over (the seed's `selector.unregister(fd)` and
    /// `urls_todo.remove(url)`): `Ok` when the response is complete.
    Done(Result<(), FetchError>),
}

// ANCHOR: crawler
/// One page in flight: the seed's `Crawler`. Everything the blocking
/// version kept in local variables (the socket, how much of the request is
/// out, what has been read) must live here, because each callback returns
/// to the loop and its locals are gone.
pub struct Crawler {
    stream: TcpStream,
    request: Vec<u8>,
    sent: usize,
    response: ResponseReader,
    trace: Trace,
    deadline: Deadline,
}

impl Crawler {
    /// The seed's `fetch()`: a non-blocking socket, a connect that returns
    /// at once ("in progress"), and the first callback registered:
    /// `connected`, to run when the socket becomes writable.
    pub fn fetch<S: Selector>(
        plan: &Plan,
        page: &Page,
        clock: Clock,
        event_loop: &mut EventLoop<S>,
    ) {
        let trace = Trace::start(page, clock);
        let deadline = Deadline::after(plan.timeout);
        let stream = match connect_nonblocking(page) {
            Ok(stream) => stream,
            Err(e) => return event_loop.done.push(trace.finish(Err(e.into()))),
        };
        let crawler = Crawler {
            stream,
            request: page.request(),
            sent: 0,
            response: ResponseReader::new(plan.max_bytes),
            trace,
            deadline,
        };
        // The seed's `selector.register(fd, EVENT_WRITE, self.connected)`.
        event_loop.register(crawler, Interest::Write, Crawler::connected);
    }

    /// Callback: the socket is writable, so the handshake has ended, well
    /// or badly. SO_ERROR says which (a refused connect is "writable" too).
    pub fn connected(&mut self) -> Next {
        match self.stream.take_error() {
            Ok(None) => {}
            Ok(Some(e)) | Err(e) => return Next::Done(Err(e.into())),
        }
        self.trace.connected();
        self.send_request()
    }

    /// Callback: write what is left of the request. A few dozen bytes fit
    /// in an empty send buffer, so this almost always finishes at once.
    pub fn send_request(&mut self) -> Next {
        while self.sent < self.request.len() {
            match self.stream.write(&self.request[self.sent..]) {
                Ok(n) => self.sent += n,
                Err(e) if retry(&e) => return Next::Wait(Interest::Write, Crawler::send_request),
                Err(e) => return Next::Done(Err(e.into())),
            }
        }
        // LEVEL-TRIGGERED: the socket stays writable for the rest of its
        // life. Still registered for Write, it would be reported ready on
        // every wait and the loop would spin like lesson 4. So from here
        // on we ask for Read only.
        Next::Wait(Interest::Read, Crawler::read_response)
    }

    /// Callback: bytes (or EOF) arrived. The seed's `read_response`: read
    /// once, feed the reader, and either wait for more or end the page.
    pub fn read_response(&mut self) -> Next {
        // On the loop's stack, not in the crawler: ten thousand waiting
        // pages do not each hold a buffer.
        let mut buf = [0u8; 16 * 1024];
        // LEVEL-TRIGGERED: one read per call is enough. If more bytes are
        // waiting than fit in `buf`, the socket is still readable and the
        // next wait reports it again. With edge triggering (EPOLLET) the
        // kernel would not say it twice: this callback would have to read
        // until WouldBlock, or the rest of the page would sit unread until
        // the timeout.
        let n = match self.stream.read(&mut buf) {
            Ok(n) => n,
            Err(e) if retry(&e) => return Next::Wait(Interest::Read, Crawler::read_response),
            Err(e) => return Next::Done(Err(e.into())),
        };
        if n > 0 {
            self.trace.first_byte();
        }
        match self.response.feed(&buf[..n]) {
            Ok(Progress::More) => Next::Wait(Interest::Read, Crawler::read_response),
            Ok(Progress::Done) => Next::Done(Ok(())),
            Err(e) => Next::Done(Err(e)),
        }
    }

    /// Timer callback: `--timeout-ms` has passed and the page is not done.
    pub fn timed_out(&mut self) -> Next {
        Next::Done(Err(self.deadline.error()))
    }

    /// The page is over: its trace, with the body or the error.
    pub fn finish(self, outcome: Result<(), FetchError>) -> Trace {
        let result = outcome.and_then(|()| self.response.finish());
        self.trace.finish(result)
        // `self.stream` is dropped here: close(2).
    }

    pub fn page(&self) -> usize {
        self.trace.page
    }
}
// ANCHOR_END: crawler

/// "Not ready after all": the selector said ready, but another wake-up got
/// there first, or a signal interrupted the call. Wait again.
fn retry(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
    )
}

/// A TCP socket in non-blocking mode with its connect under way.
pub fn connect_nonblocking(page: &Page) -> io::Result<TcpStream> {
    // SOCK_NONBLOCK: the seed's `sock.setblocking(False)`, set as the
    // socket is created.
    let socket = Socket::new(
        Domain::for_address(page.addr),
        Type::STREAM.nonblocking(),
        Some(Protocol::TCP),
    )?;
    // The kernel sends the SYN and returns EINPROGRESS without waiting for
    // the answer (the seed's `except BlockingIOError: pass`).
    match socket.connect(&page.addr.into()) {
        Ok(()) => {}
        Err(e) if e.raw_os_error() == Some(nix::libc::EINPROGRESS) => {}
        Err(e) => return Err(e),
    }
    Ok(socket.into())
}

// ---------------------------------------------------------------------------
// The event loop.
// ---------------------------------------------------------------------------

/// A page registered with the loop: its crawler and the callback to run
/// when its socket is ready (the seed keeps the callback in `key.data`).
struct Registered {
    crawler: Crawler,
    interest: Interest,
    callback: Callback,
}

/// A timer: asyncio's `call_at(when, callback)` (`call_later` is the same
/// with `when = now + delay`), for one page.
struct Timer {
    at: Instant,
    fd: RawFd,
    page: usize,
    callback: Callback,
}

// Timers are ordered by when they fire (the page breaks ties).
impl Ord for Timer {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.at, self.page, self.fd).cmp(&(other.at, other.page, other.fd))
    }
}
impl PartialOrd for Timer {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl PartialEq for Timer {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other).is_eq()
    }
}
impl Eq for Timer {}

/// The event loop: a selector, the pages registered with it, and the timers.
pub struct EventLoop<S: Selector> {
    selector: S,
    /// Indexed by descriptor number: descriptors are small integers, the
    /// lowest free one each time, so a vector is the natural table.
    pages: Vec<Option<Box<Registered>>>,
    /// Soonest first.
    timers: BinaryHeap<Reverse<Timer>>,
    in_flight: usize,
    done: Vec<Trace>,
    /// The ready descriptors of the current turn (kept to reuse its memory).
    ready: Vec<RawFd>,
}

/// Pages started between two quick turns of the loop (see `crawl`).
const START_BATCH: usize = 256;

// ANCHOR: crawl
/// The seed's `__main__`: start every page (`Crawler(url).fetch()`), then
/// run the loop until none is left.
pub fn crawl<S: Selector>(plan: &Plan, selector: S) -> Vec<Trace> {
    let clock = Clock::start();
    let mut event_loop = EventLoop::new(selector, plan.pages);
    for page in plan.all_pages() {
        Crawler::fetch(plan, &page, clock, &mut event_loop);
        // Starting a page costs a socket() and a connect() that the kernel
        // turns into a whole loopback handshake: about 40 us, so starting
        // 10,000 takes 0.4 s. The seed starts every page before its loop
        // runs, and page 0's request would wait for all of them. Instead,
        // every START_BATCH pages the loop takes one turn without sleeping,
        // and the pages already connected send their requests (the latency
        // clock starts only then). One thread: the loop must never be held
        // up, not even by its own start-up.
        if page.index % START_BATCH == START_BATCH - 1 {
            event_loop.run_once(Some(Duration::ZERO));
        }
    }
    event_loop.run();
    event_loop.done
}
// ANCHOR_END: crawl

impl<S: Selector> EventLoop<S> {
    pub fn new(selector: S, pages: usize) -> Self {
        EventLoop {
            selector,
            pages: Vec::with_capacity(pages + 16),
            timers: BinaryHeap::with_capacity(pages),
            in_flight: 0,
            done: Vec::with_capacity(pages),
            ready: Vec::with_capacity(1024),
        }
    }

    // ANCHOR: register
    /// Register a page's socket with the selector and the callback to run
    /// when it is ready; and its deadline as a timer.
    pub fn register(&mut self, crawler: Crawler, interest: Interest, callback: Callback) {
        let fd = crawler.stream.as_raw_fd();
        if let Err(e) = self.selector.register(crawler.stream.as_fd(), interest) {
            // select's FD_SETSIZE ends up here: this page fails, named,
            // and the others go on.
            self.done.push(crawler.finish(Err(e)));
            return;
        }
        self.call_at(
            crawler.deadline.at(),
            fd,
            crawler.page(),
            Crawler::timed_out,
        );
        let slot = fd as usize;
        if self.pages.len() <= slot {
            self.pages.resize_with(slot + 1, || None);
        }
        self.pages[slot] = Some(Box::new(Registered {
            crawler,
            interest,
            callback,
        }));
        self.in_flight += 1;
    }

    /// asyncio's `call_at`: run `callback` on the page at `fd` at time
    /// `at`, unless the page has ended by then.
    pub fn call_at(&mut self, at: Instant, fd: RawFd, page: usize, callback: Callback) {
        self.timers.push(Reverse(Timer {
            at,
            fd,
            page,
            callback,
        }));
    }
    // ANCHOR_END: register

    // ANCHOR: run
    /// The seed's `loop()`: wait for events, run their callbacks, until
    /// every page is done.
    pub fn run(&mut self) {
        while self.in_flight > 0 {
            self.run_once(None);
        }
    }

    /// One turn of the loop: due timers, one wait (at most `max_wait`,
    /// and never past the nearest deadline), the ready callbacks.
    pub fn run_once(&mut self, max_wait: Option<Duration>) {
        // Timers first. The wait below may sleep only until the soonest
        // one, so a silent server cannot hold a page past its timeout.
        let now = Instant::now();
        self.run_due_timers(now);
        if self.in_flight == 0 {
            return;
        }
        let until_timer = self
            .timers
            .peek()
            .map(|Reverse(t)| t.at.saturating_duration_since(now));
        let timeout = match (until_timer, max_wait) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };

        // The one blocking call: the thread sleeps in the kernel until a
        // socket is ready or the nearest deadline comes. Meanwhile the
        // kernel completes handshakes and queues incoming bytes for
        // every socket, with no help from us.
        let mut ready = std::mem::take(&mut self.ready);
        match self.selector.wait(timeout, &mut ready) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return self.abandon(e),
        }

        // The seed's `for key, mask in events: key.data(key, mask)`.
        for fd in ready.drain(..) {
            let Some(page) = self.pages.get_mut(fd as usize).and_then(|p| p.as_mut()) else {
                continue; // ended earlier in this round
            };
            let next = (page.callback)(&mut page.crawler);
            self.apply(fd, next);
        }
        self.ready = ready;
    }
    // ANCHOR_END: run

    /// Fire the timers that are due. A page that ended before its timer
    /// came simply is not there any more (or its descriptor now belongs to
    /// another page): the timer is dropped, nothing to cancel.
    fn run_due_timers(&mut self, now: Instant) {
        while let Some(Reverse(timer)) = self.timers.peek() {
            if timer.at > now {
                break;
            }
            let Some(Reverse(timer)) = self.timers.pop() else {
                break;
            };
            let Some(page) = self
                .pages
                .get_mut(timer.fd as usize)
                .and_then(|p| p.as_mut())
            else {
                continue;
            };
            if page.crawler.page() == timer.page {
                let next = (timer.callback)(&mut page.crawler);
                self.apply(timer.fd, next);
            }
        }
    }

    // ANCHOR: apply
    /// Do what a callback asked: wait for something else, or end the page.
    fn apply(&mut self, fd: RawFd, next: Next) {
        let slot = fd as usize;
        let Some(page) = self.pages[slot].as_mut() else {
            return;
        };
        match next {
            Next::Wait(interest, callback) => {
                page.callback = callback;
                if interest != page.interest {
                    // Only a change of interest costs a system call;
                    // "read again" keeps the registration as it is.
                    page.interest = interest;
                    if let Err(e) = self.selector.modify(page.crawler.stream.as_fd(), interest) {
                        self.end(slot, Err(e));
                    }
                }
            }
            Next::Done(outcome) => self.end(slot, outcome),
        }
    }

    /// Unregister, then close: in that order, so the selector never
    /// watches a closed (or reused) descriptor number.
    fn end(&mut self, slot: usize, outcome: Result<(), FetchError>) {
        if let Some(page) = self.pages[slot].take() {
            self.selector.unregister(page.crawler.stream.as_fd());
            self.done.push(page.crawler.finish(outcome));
            self.in_flight -= 1;
        }
    }
    // ANCHOR_END: apply

    /// The selector itself failed: no page can make progress any more, so
    /// each one still in flight fails with the reason.
    fn abandon(&mut self, e: io::Error) {
        let error = FetchError::new(ErrorKind::Io, format!("the selector's wait failed: {e}"));
        for slot in 0..self.pages.len() {
            if self.pages[slot].is_some() {
                self.end(slot, Err(error.clone()));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeouts_round_up_to_whole_milliseconds() {
        assert_eq!(timeout_ms(None), -1);
        assert_eq!(timeout_ms(Some(Duration::ZERO)), 0);
        assert_eq!(timeout_ms(Some(Duration::from_micros(1))), 1);
        assert_eq!(timeout_ms(Some(Duration::from_micros(1500))), 2);
        assert_eq!(timeout_ms(Some(Duration::from_secs(1 << 40))), i32::MAX);
    }

    #[test]
    fn timers_come_out_soonest_first() {
        let now = Instant::now();
        let mut heap = BinaryHeap::new();
        for (i, ms) in [30u64, 10, 20].into_iter().enumerate() {
            heap.push(Reverse(Timer {
                at: now + Duration::from_millis(ms),
                fd: i as RawFd,
                page: i,
                callback: Crawler::timed_out,
            }));
        }
        let order: Vec<usize> =
            std::iter::from_fn(|| heap.pop().map(|Reverse(t)| t.page)).collect();
        assert_eq!(order, [1, 2, 0]);
    }
}
