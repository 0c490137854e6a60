//! What the four `mini_stage*` examples share: the page's program (lesson
//! 1's fetch with `.await`), its futures over non-blocking sockets, and the
//! lesson binary around a stage's `fetch_all`. The stages differ only in
//! how a future that answered `Pending` gets polled again: the
//! [`Readiness`] they hand the futures, and their executor.

// Stage 4 brings its own `page` (with a deadline).
#![allow(dead_code)]

use std::future::{poll_fn, Future};
use std::io::{self, Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::process::ExitCode;
use std::task::{Poll, Waker};

use nix::errno::Errno;
use workload::{Body, Clock, Concurrency, FetchError, Flags, Lesson, Page, Plan, Trace, Variant};

/// The stage as a lesson binary: the shared flags (`--pages`, `--cpu-us`,
/// ...), the timeline and the CPU it used.
pub fn main(
    stage: &'static str,
    variant: &'static str,
    about: &'static str,
    fetch_all: fn(&Plan) -> Vec<Trace>,
) -> ExitCode {
    // A lesson's table is `'static`; this one lives until the program ends.
    let variants = Box::leak(Box::new([Variant::new(
        variant,
        about,
        Concurrency::All,
        fetch_all,
    )]));
    workload::cli::main(&Lesson {
        name: stage,
        about,
        variants,
        flags: Flags::NONE,
        servers: &[],
        worker: None,
    })
}

#[derive(Clone, Copy)]
pub enum Direction {
    Read,
    Write,
}

// ANCHOR: readiness
/// How a stage's runtime learns that a socket is ready, so that it can
/// poll the task waiting on it again.
pub trait Readiness {
    /// A new socket (a reactor adds it to its epoll set).
    fn add(&self, _stream: &TcpStream) -> io::Result<()> {
        Ok(())
    }
    /// The socket is about to close.
    fn remove(&self, _stream: &TcpStream) {}
    /// "Wake this task when this socket is ready this way."
    fn wake_when_ready(&self, stream: &TcpStream, direction: Direction, waker: &Waker);
}
// ANCHOR_END: readiness

pub struct Socket<'r, R: Readiness> {
    stream: TcpStream,
    runtime: &'r R,
}

impl<R: Readiness> Drop for Socket<'_, R> {
    fn drop(&mut self) {
        self.runtime.remove(&self.stream);
    }
}

// ANCHOR: fetch
/// One page, reading like lesson 1, every wait an `.await`.
pub async fn fetch<R: Readiness>(
    runtime: &R,
    plan: &Plan,
    page: &Page,
    trace: &mut Trace,
) -> Result<Body, FetchError> {
    let socket = connect(runtime, page.addr).await?;
    trace.connected();
    let request = page.request();
    let mut sent = 0;
    while sent < request.len() {
        sent +=
            try_until_ready(&socket, Direction::Write, |mut s| s.write(&request[sent..])).await?;
    }
    let mut response = workload::ResponseReader::new(plan.max_bytes);
    let mut buf = [0u8; 4096];
    loop {
        let n = try_until_ready(&socket, Direction::Read, |mut s| s.read(&mut buf)).await?;
        if n > 0 {
            trace.first_byte();
        }
        if response.feed(&buf[..n])?.is_done() {
            return response.finish();
        }
    }
}
// ANCHOR_END: fetch

// ANCHOR: try_until_ready
/// The one future every wait is made of: try the non-blocking call; if the
/// kernel says "would block", leave the waker with the runtime and answer
/// `Pending`. Whoever is woken tries the call again.
async fn try_until_ready<R: Readiness, T>(
    socket: &Socket<'_, R>,
    direction: Direction,
    mut call: impl FnMut(&TcpStream) -> io::Result<T>,
) -> io::Result<T> {
    poll_fn(|cx| loop {
        match call(&socket.stream) {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                socket
                    .runtime
                    .wake_when_ready(&socket.stream, direction, cx.waker());
                return Poll::Pending;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            result => return Poll::Ready(result),
        }
    })
    .await
}
// ANCHOR_END: try_until_ready

/// Send the SYN, then wait until the handshake is over (the socket turns
/// writable); a failed one leaves its errno in SO_ERROR.
async fn connect<R: Readiness>(runtime: &R, addr: SocketAddr) -> io::Result<Socket<'_, R>> {
    use socket2::{Domain, Type};
    let raw = socket2::Socket::new(Domain::for_address(addr), Type::STREAM, None)?;
    raw.set_nonblocking(true)?;
    match raw.connect(&addr.into()) {
        Err(e) if e.raw_os_error() != Some(Errno::EINPROGRESS as i32) => return Err(e),
        _ => {}
    }
    let stream: TcpStream = raw.into();
    runtime.add(&stream)?;
    let socket = Socket { stream, runtime };
    try_until_ready(&socket, Direction::Write, |s| match s.take_error()? {
        Some(e) => Err(e),
        None => s.peer_addr().map_err(|e| match e.raw_os_error() {
            Some(code) if code == Errno::ENOTCONN as i32 => io::ErrorKind::WouldBlock.into(),
            _ => e,
        }),
    })
    .await?;
    Ok(socket)
}

/// A page's task, from its start to its trace: the fetch, then its CPU
/// work (`--cpu-us`) on the executor's thread.
pub async fn page<R: Readiness>(runtime: &R, plan: &Plan, page: Page, clock: Clock) -> Trace {
    let mut trace = Trace::start(&page, clock);
    let result = fetch(runtime, plan, &page, &mut trace).await;
    finish(plan, trace, result)
}

pub fn finish(plan: &Plan, trace: Trace, result: Result<Body, FetchError>) -> Trace {
    if let Ok(body) = &result {
        workload::cpu::spend(plan.cpu, body);
    }
    trace.finish(result)
}

/// Every page's trace, in page order, a page with none failed by name.
pub fn traces(plan: &Plan, clock: Clock, traces: Vec<Trace>) -> Vec<Trace> {
    let lost = FetchError::new(workload::ErrorKind::Io, "the task ended without a trace");
    workload::every_page_once(plan, clock, traces, &lost)
}

/// A task: a page's future, boxed and pinned so the executor can keep many
/// of different types in one list and poll them where they lie.
pub type Task<'a> = std::pin::Pin<Box<dyn Future<Output = ()> + 'a>>;
