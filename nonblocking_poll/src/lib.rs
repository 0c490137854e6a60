//! # Lesson 4: non-blocking sockets, and nothing to wait with
//!
//! The tutorial's `nonblocking_way()`: lesson 1's socket calls on a socket
//! switched to non-blocking mode, so that no call ever sleeps. Nothing says
//! *when* to try again, so the program tries again at once, in a loop: busy
//! polling, at 100% of a core. The chapter is
//! `walkthrough/04-nonblocking_poll.md`.

#![forbid(unsafe_code)]

use std::io::{self, Read};

use socket2::{Domain, Protocol, SockAddr, Socket, Type};
use workload::{Concurrency, FetchError, Page};

pub mod round_robin;
pub mod sequential;
pub mod serve;
mod spins;

pub use spins::{spin_report, ShowSpins, SpinFlags, Spins};

/// The lesson's table: its variants, for the binary, the tests and the
/// benchmark.
pub const LESSON: workload::Lesson = workload::Lesson {
    name: "nonblocking_poll",
    about: "Lesson 4: non-blocking sockets and busy polling (the tutorial's nonblocking_way)",
    variants: &[
        workload::Variant::new(
            "sequential",
            "the tutorial's: one page after another, spinning on each call (as slow as blocking, 100% CPU)",
            Concurrency::One,
            sequential::fetch_all,
        )
        .tutorial("busy-poll", 4.3),
        workload::Variant::new(
            "round-robin",
            "every socket at once, each given one try per lap of a spinning loop (concurrent, 100% CPU)",
            Concurrency::All,
            round_robin::fetch_all,
        ),
    ],
    flags: workload::Flags::of::<SpinFlags>(),
    // Every connection at once, each asked in turn on every pass: O(n)
    // system calls per pass, idle or not (`serve.rs`).
    servers: &[workload::serve::ServeVariant::new(
        "busy",
        "one thread asks the listener and every connection in turn, WouldBlock everywhere,          and sleeps 1 ms after a pass with nothing to do",
        serve::serve,
    )],
    worker: None,
};

// Both variants are built from the four single tries below, one
// non-blocking system call each, and nothing else:
// - `sequential.rs` is the tutorial's program: one page after another,
//   each call repeated until it goes through;
// - `round_robin.rs` keeps every socket open and gives each one try per
//   lap of a single loop.
// Every "not now" answer is counted per page (`Spins`, in `spins.rs`) for
// `--spins`.

// ANCHOR: attempt
/// The answer to one non-blocking try: done (with its result), or "not
/// now" - the kernel had nothing for us and we must ask again. (Rust's
/// futures, lesson 7, call the same two answers `Poll::Ready` and
/// `Poll::Pending`.)
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attempt<T> {
    Ready(T),
    NotYet,
}
// ANCHOR_END: attempt

// ANCHOR: open
/// Create a non-blocking socket and start connecting it: the tutorial's
/// `sock.setblocking(False)` and `sock.connect(...)` inside `try`.
///
/// `connect` on a non-blocking socket sends the SYN and returns at once;
/// the handshake goes on in the kernel without us. The "error"
/// EINPROGRESS is the normal answer and means exactly that. On the loopback
/// interface the handshake sometimes finishes before `connect` returns, so
/// success, or a refusal, can come back at once too.
pub fn open(page: &Page) -> Result<Socket, FetchError> {
    let sock = Socket::new(
        Domain::for_address(page.addr),
        Type::STREAM,
        Some(Protocol::TCP),
    )?;
    sock.set_nonblocking(true)?;
    match sock.connect(&SockAddr::from(page.addr)) {
        Ok(()) => Ok(sock),
        Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => Ok(sock),
        Err(e) => Err(FetchError::from_io(&e)),
    }
}
// ANCHOR_END: open

// ANCHOR: try_connected
/// One try at "is the connection up yet?": `connect` asked again.
///
/// The tutorial never asks; it starts sending at once and lets the failing
/// `send`s double as the question. We ask it directly, and the kernel's
/// answers to a repeated `connect` tell every case apart: EALREADY "still
/// shaking hands", success (or EISCONN, on a later call) "connected",
/// ECONNREFUSED "nothing listens there". (`SO_ERROR` alone could not: it
/// reads 0 both during the handshake and after it has succeeded.)
pub fn try_connected(sock: &Socket, page: &Page) -> Result<Attempt<()>, FetchError> {
    match sock.connect(&SockAddr::from(page.addr)) {
        Ok(()) => Ok(Attempt::Ready(())),
        Err(e) => match e.raw_os_error() {
            Some(libc::EISCONN) => Ok(Attempt::Ready(())),
            Some(libc::EALREADY | libc::EINPROGRESS) => Ok(Attempt::NotYet),
            Some(libc::EINTR) => Ok(Attempt::NotYet),
            _ => Err(FetchError::from_io(&e)),
        },
    }
}
// ANCHOR_END: try_connected

// ANCHOR: try_send_recv
/// One try at sending: how many bytes the kernel took into the socket's
/// send buffer, or "not now" when the buffer is full (or the handshake has
/// not finished). It may take fewer bytes than offered; the caller keeps
/// the rest for its next try.
pub fn try_send(sock: &Socket, bytes: &[u8]) -> Result<Attempt<usize>, FetchError> {
    // MSG_NOSIGNAL: a peer that has gone away gives an EPIPE error, not a
    // SIGPIPE signal that would kill the process.
    match sock.send_with_flags(bytes, libc::MSG_NOSIGNAL) {
        Ok(n) => Ok(Attempt::Ready(n)),
        Err(e) => not_yet_or_error(e),
    }
}

/// One try at receiving: the bytes the kernel had queued for us (0 means
/// the server closed the connection: end of file), or "not now" when the
/// queue is empty - which, for as long as the server is silent, is the
/// answer every time.
pub fn try_recv(sock: &Socket, buf: &mut [u8]) -> Result<Attempt<usize>, FetchError> {
    let mut sock = sock;
    match sock.read(buf) {
        Ok(n) => Ok(Attempt::Ready(n)),
        Err(e) => not_yet_or_error(e),
    }
}

/// "Would block" (EAGAIN) is the non-blocking socket's "not now"; an
/// interrupted call (EINTR) is simply asked again. Anything else is the
/// page's error, named (refused, reset...).
fn not_yet_or_error<T>(e: io::Error) -> Result<Attempt<T>, FetchError> {
    match e.kind() {
        io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted => Ok(Attempt::NotYet),
        _ => Err(FetchError::from_io(&e)),
    }
}
// ANCHOR_END: try_send_recv
