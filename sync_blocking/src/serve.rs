//! # Serving, the blocking way: one connection at a time
//!
//! The classic iterative server: `accept` one connection, serve it until
//! the client is done, then `accept` the next. Every call here blocks this
//! one thread: `accept` until a client has connected, `read` until bytes
//! arrive, `sleep` for the think time, `write` until the response is in the
//! kernel's send buffer. While it serves one client, the next one is not
//! ignored: the kernel completes its handshake and keeps it in the
//! listener's accept queue (the backlog) until this thread comes back to
//! `accept`. So two clients at once take twice as long for the second.
//!
//! [`connection`] (one connection, from its first head to its close) is
//! the piece lessons 2 and 3 reuse: a worker process or a thread runs it
//! for the connection it has accepted.

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};
use workload::serve::{
    after_accept_error, parse_request, AfterAcceptError, BadRequest, Request, Serving,
};

/// How often a thread waiting for a request head wakes up to look at the
/// shutdown flag. A thread asleep in `read` cannot be told anything: no
/// other thread can reach into its system call. So it never sleeps longer
/// than this, and when it wakes with nothing read it checks
/// `shutdown.is_triggered()` and goes back to sleep. The price: an idle
/// connection costs its thread four wake-ups a second (with 10,000 idle
/// connections on 10,000 threads, 40,000 a second), and a stop waits up
/// to this long for the idle ones.
pub const SHUTDOWN_TICK: Duration = Duration::from_millis(250);

// ANCHOR: iterative
/// The `iterative` server: this thread accepts and serves every connection
/// itself, one after another, until the shutdown.
pub fn iterative(serving: Serving) -> io::Result<()> {
    accept_loop(&serving)
}

/// Accept a connection, serve it to the end, accept the next; return once
/// the listener is shut down. Lesson 3's pool runs this same loop on each
/// of its threads, all on one listener.
pub fn accept_loop(serving: &Serving) -> io::Result<()> {
    loop {
        // accept() blocks: this thread sleeps until the kernel has a
        // connection whose handshake is complete. Clients that connect
        // meanwhile wait in the listener's backlog, handshake done, until
        // this thread is back here. On shutdown the listener is shut down
        // and this call fails with EINVAL, which wakes the thread.
        let stream = match serving.listener.accept() {
            Ok((stream, _peer)) => stream,
            Err(e) => match after_accept_error(&e, &serving.shutdown) {
                AfterAcceptError::Retry => continue,
                // Out of descriptors: nothing else to do than wait (this
                // thread has no other connection to serve meanwhile).
                AfterAcceptError::BackOff(pause) => {
                    std::thread::sleep(pause);
                    continue;
                }
                AfterAcceptError::Stop(result) => return result,
            },
        };
        connection(stream, serving);
    }
}
// ANCHOR_END: iterative

// ANCHOR: connection
/// Serve one connection to its end: read a request head, hold it for the
/// think time, write the response, and again while the client keeps the
/// connection alive. Whatever goes wrong with this client (it closed, it
/// is too slow, it sent garbage) ends this connection and nothing else.
pub fn connection(mut stream: TcpStream, serving: &Serving) {
    // A client that takes nothing from us for this long is dropped: a
    // blocking write would otherwise wait for it for ever.
    if stream
        .set_write_timeout(Some(serving.config.header_timeout))
        .is_err()
    {
        return;
    }
    // What the client sent and we have not answered yet: the rest of a
    // head, or a whole next request sent without waiting (pipelined).
    let mut unread = Vec::with_capacity(1024);
    loop {
        let request = match read_head(&mut stream, &mut unread, serving) {
            Head::Request(request) => request,
            Head::Bad(bad) => {
                let _ = stream.write_all(&serving.pages.refusal(&bad));
                return linger(stream);
            }
            Head::Gone => return,
        };
        // The think time: this thread sleeps, and so does the whole server
        // (lesson 1) or this one worker of the pool (lessons 2 and 3).
        std::thread::sleep(serving.config.latency);
        // write_all() blocks until the whole response is in the kernel's
        // send buffer (a big page: until the client has read enough of it).
        if stream.write_all(&serving.pages.response(&request)).is_err() {
            return; // the client went away mid-response
        }
        unread.drain(..request.len);
        if !request.keep_alive {
            return;
        }
    }
}

/// What came of waiting for a request head.
enum Head {
    Request(Request),
    /// Not a request we serve: the refusal (400 or 431) goes back, then
    /// the connection closes.
    Bad(BadRequest),
    /// Closed by the client, too slow, broken, or the server is stopping
    /// and this connection is idle: close it.
    Gone,
}

/// Read until `unread` starts with a whole request head. The client has
/// [`header_timeout`](workload::serve::ServeConfig::header_timeout) from
/// now to send it.
fn read_head(stream: &mut TcpStream, unread: &mut Vec<u8>, serving: &Serving) -> Head {
    let deadline = Instant::now() + serving.config.header_timeout;
    let mut chunk = [0u8; 4096];
    loop {
        // A pipelined request may already be here, read with the last one.
        match parse_request(unread) {
            Ok(Some(request)) => return Head::Request(request),
            Ok(None) => {}
            Err(bad) => return Head::Bad(bad),
        }
        // Idle (no request of this connection in flight): on shutdown it
        // is closed.
        if serving.shutdown.is_triggered() {
            return Head::Gone;
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Head::Gone;
        }
        // read() blocks until bytes arrive, the client closes, or the
        // timeout passes; never longer than one tick (see SHUTDOWN_TICK).
        if stream
            .set_read_timeout(Some(left.min(SHUTDOWN_TICK)))
            .is_err()
        {
            return Head::Gone;
        }
        match stream.read(&mut chunk) {
            Ok(0) => return Head::Gone,
            Ok(n) => unread.extend_from_slice(&chunk[..n]),
            Err(e) if is_timeout(&e) => {}
            Err(_) => return Head::Gone,
        }
    }
}

/// Close a connection whose client may still be sending (a head too large,
/// garbage). Closing a socket with unread bytes makes the kernel reset
/// the connection, and a reset can reach the client before it has read
/// the refusal. So say we are done (FIN), then read and drop what still
/// comes, briefly and boundedly, until the client closes too.
fn linger(mut stream: TcpStream) {
    const LINGER: Duration = Duration::from_millis(200);
    const AT_MOST: usize = 256 * 1024;
    let _ = stream.shutdown(std::net::Shutdown::Write);
    let until = Instant::now() + LINGER;
    let mut chunk = [0u8; 4096];
    let mut dropped = 0;
    while dropped < AT_MOST {
        let left = until.saturating_duration_since(Instant::now());
        if left.is_zero() || stream.set_read_timeout(Some(left)).is_err() {
            return;
        }
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => return,
            Ok(n) => dropped += n,
        }
    }
}

/// A socket read timeout: `WouldBlock` (EAGAIN) on Linux.
fn is_timeout(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut | io::ErrorKind::Interrupted
    )
}
// ANCHOR_END: connection
