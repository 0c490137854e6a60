//! # Lesson 5: one thread, many sockets: a selector, callbacks and an event loop
//!
//! The tutorial's epoll crawler. Every socket is registered with a
//! *selector* (epoll, poll or select) together with the function to call
//! when it is ready, its *callback*; one thread sleeps in the selector's
//! wait and runs the callbacks of the sockets the kernel reports ready.
//! Every backend is level-triggered; the places where that matters are
//! marked LEVEL-TRIGGERED. The chapter is `walkthrough/05-callback_loop.md`.

// The `unsafe` code is where descriptors are handed to the kernel by
// number: `Selector::register`'s contract, the loop that keeps it
// (`event_loop`, `serve`), the backends that rely on it (`epoll`, `poll`,
// `select`) and signal-driven I/O's system calls (`sigio`). Everything
// else is safe.
#![deny(unsafe_code)]

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::os::fd::{BorrowedFd, RawFd};
use std::time::Duration;

use socket2::{Domain, Protocol, Socket, Type};
use workload::serve::ServeVariant;
use workload::{Body, Clock, Concurrency, Deadline, ErrorKind, FetchError, Page, Plan};
use workload::{Progress, ResponseReader, Trace};

#[allow(unsafe_code)]
mod epoll;
#[allow(unsafe_code)]
mod event_loop;
#[allow(unsafe_code)]
mod poll;
#[allow(unsafe_code)]
mod select;
#[allow(unsafe_code)]
mod sigio;
mod timers;

pub mod serve;

pub use epoll::EpollSelector;
pub use event_loop::EventLoop;
pub use poll::PollSelector;
pub use select::{SelectSelector, FD_SETSIZE};

/// The lesson's table: the three selectors the tutorials compare, then
/// signal-driven I/O, which has none (`sigio.rs`).
pub const LESSON: workload::Lesson = workload::Lesson {
    name: "callback_loop",
    about: "Lesson 5: one thread, a readiness selector (epoll / poll / select), callbacks and an event loop",
    variants: &[
        workload::Variant::new(
            "epoll",
            "the tutorial's DefaultSelector on Linux: the kernel keeps the interest list",
            Concurrency::All,
            fetch_all_epoll,
        )
        .tutorial("epoll + callbacks", 0.45),
        workload::Variant::new(
            "poll",
            "the whole array of descriptors handed to the kernel on every wait",
            Concurrency::All,
            fetch_all_poll,
        ),
        workload::Variant::new(
            "select",
            "bitmaps of FD_SETSIZE (1024) bits; a descriptor above that fails as 'resource'",
            Concurrency::All,
            fetch_all_select,
        )
        .fd_ceiling(FD_SETSIZE),
        workload::Variant::new(
            "sigio",
            "signal-driven I/O: each socket raises a real-time signal, taken with sigtimedwait",
            Concurrency::All,
            fetch_all_sigio,
        ),
    ],
    flags: workload::Flags::NONE,
    // The same three selectors, serving: one thread, every connection at
    // once, the think time a timer (`serve.rs`).
    servers: &[
        ServeVariant::new(
            "epoll",
            "one thread, epoll and callbacks; the think time is a timer",
            serve::serve_epoll,
        ),
        ServeVariant::new(
            "poll",
            "the same loop over poll: every wait hands the kernel every connection",
            serve::serve_poll,
        ),
        ServeVariant::new(
            "select",
            "the same loop over select: a connection numbered FD_SETSIZE (1024) or above is closed",
            serve::serve_select,
        )
        .fd_ceiling(FD_SETSIZE),
    ],
    worker: None,
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
            let error = FetchError::new(
                ErrorKind::Resource,
                format!("cannot create the selector: {e}"),
            );
            workload::fail_every_page(plan, &error)
        }
    }
}

// ANCHOR: selector
/// What a page waits for: the tutorial's `EVENT_READ` / `EVENT_WRITE`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Interest {
    /// Bytes (or end of file, or an error) to read.
    Read,
    /// Room to write; on a connecting socket: the handshake is over.
    Write,
}

/// A readiness selector: the tutorial's `selector` object, over one of the
/// kernel's three interfaces (`epoll.rs`, `poll.rs`, `select.rs`). It only
/// watches: it never reads, never closes, and knows nothing about pages.
pub trait Selector {
    /// Start watching `fd` (the tutorial's `selector.register`). A
    /// descriptor the backend cannot watch is refused with the reason.
    ///
    /// # Safety
    ///
    /// `fd` must stay open for as long as it is registered: until
    /// `unregister(fd)`, or until the selector is dropped. poll and select
    /// keep only the number and hand it to the kernel on every wait; closed
    /// behind their back, the number may already name another file.
    #[allow(unsafe_code)]
    unsafe fn register(&mut self, fd: BorrowedFd<'_>, interest: Interest)
        -> Result<(), FetchError>;
    /// Watch a registered `fd` for something else (register again, in the
    /// tutorial). A descriptor that is not registered is refused.
    fn modify(&mut self, fd: BorrowedFd<'_>, interest: Interest) -> Result<(), FetchError>;
    /// Stop watching `fd` (the tutorial's `selector.unregister`).
    fn unregister(&mut self, fd: BorrowedFd<'_>);
    /// Sleep until some descriptor is ready or `timeout` passes (`None`:
    /// no limit), then put the ready descriptors in `ready`. Errors and
    /// hang-ups count as ready: the callback's own call then reports them.
    /// This is the only call in the lesson that blocks.
    fn wait(&mut self, timeout: Option<Duration>, ready: &mut Vec<RawFd>) -> io::Result<()>;
}
// ANCHOR_END: selector

/// A callback: what to run when the page's socket is ready (or its timer
/// fires). The tutorial registers bound methods, `self.connected`; here a
/// plain function that gets its own crawler.
pub type Callback = fn(&mut Crawler) -> Next;

/// What a callback asks the loop to do next.
pub enum Next {
    /// Call `Callback` when the socket is ready for `Interest`: the
    /// tutorial's `selector.register(fd, EVENT_READ, self.read_response)`.
    Wait(Interest, Callback),
    /// The page is over (the tutorial's `selector.unregister(fd)` and
    /// `urls_todo.remove(url)`), with its body or its error.
    Done(Result<Body, FetchError>),
}

// ANCHOR: crawler
/// One page in flight: the tutorial's `Crawler`. Everything the blocking
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
    cpu: Duration,
}

impl Crawler {
    /// The tutorial's `fetch()`: a non-blocking socket, a connect that
    /// returns at once ("in progress"), and the first callback registered:
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
            cpu: plan.cpu,
        };
        // The tutorial's `selector.register(fd, EVENT_WRITE, self.connected)`.
        event_loop.register(crawler, Interest::Write, Crawler::connected);
    }

    // ANCHOR: crawler_callbacks
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

    /// Callback: bytes (or EOF) arrived. The tutorial's `read_response`:
    /// read once, feed the reader, and either wait for more or end the page.
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
            Ok(Progress::Done) => Next::Done(self.complete()),
            Err(e) => Next::Done(Err(e)),
        }
    }
    // ANCHOR_END: crawler_callbacks

    /// The response is whole. `--cpu-us`: the page's own computing runs
    /// here, inside the callback, on the loop's one thread; while it runs,
    /// no other page's callback can.
    fn complete(&mut self) -> Result<Body, FetchError> {
        let reader = std::mem::replace(&mut self.response, ResponseReader::new(0));
        let body = reader.finish()?;
        workload::cpu::spend(self.cpu, &body);
        Ok(body)
    }

    /// Timer callback: `--timeout-ms` has passed and the page is not done.
    pub fn timed_out(&mut self) -> Next {
        Next::Done(Err(self.deadline.error()))
    }

    /// The page is over: its trace, with the body or the error.
    pub fn finish(self, outcome: Result<Body, FetchError>) -> Trace {
        self.trace.finish(outcome)
        // `self.stream` is dropped here: close(2).
    }

    pub fn page(&self) -> usize {
        self.trace.page
    }
}
// ANCHOR_END: crawler

/// "Not ready after all": the selector said ready, but another wake-up got
/// there first, or a signal interrupted the call. Wait again.
pub(crate) fn retry(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
    )
}

/// A TCP socket in non-blocking mode with its connect under way.
pub fn connect_nonblocking(page: &Page) -> io::Result<TcpStream> {
    // SOCK_NONBLOCK: the tutorial's `sock.setblocking(False)`, set as the
    // socket is created.
    let socket = Socket::new(
        Domain::for_address(page.addr),
        Type::STREAM.nonblocking(),
        Some(Protocol::TCP),
    )?;
    // The kernel sends the SYN and returns EINPROGRESS without waiting for
    // the answer (the tutorial's `except BlockingIOError: pass`).
    match socket.connect(&page.addr.into()) {
        Ok(()) => {}
        Err(e) if e.raw_os_error() == Some(nix::libc::EINPROGRESS) => {}
        Err(e) => return Err(e),
    }
    Ok(socket.into())
}

/// Pages started between two quick turns of the loop (see `crawl`).
pub(crate) const START_BATCH: usize = 256;

// ANCHOR: crawl
/// The tutorial's `__main__`: start every page (`Crawler(url).fetch()`),
/// then run the loop until none is left.
pub fn crawl<S: Selector>(plan: &Plan, selector: S) -> Vec<Trace> {
    let clock = Clock::start();
    let mut event_loop = EventLoop::new(selector, plan.pages);
    for page in plan.all_pages() {
        Crawler::fetch(plan, &page, clock, &mut event_loop);
        // Starting a page costs a socket() and a connect() that the kernel
        // turns into a whole loopback handshake, so starting thousands
        // takes a while. The tutorial starts every page before its loop
        // runs, and page 0's request would wait for all of them. Instead,
        // every START_BATCH pages the loop takes one turn without sleeping,
        // and the pages already connected send their requests. One thread:
        // the loop must never be held up, not even by its own start-up.
        if page.index % START_BATCH == START_BATCH - 1 {
            event_loop.run_once(Some(Duration::ZERO));
        }
    }
    event_loop.run();
    event_loop.done
}
// ANCHOR_END: crawl
