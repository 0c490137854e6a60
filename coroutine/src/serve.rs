//! The server: one may coroutine per connection, written like a blocking
//! thread-per-connection server.
//!
//! `accept`, `read`, `sleep` and `write` below look like lesson 1's calls,
//! and each one that would wait suspends only its coroutine: may's worker
//! thread (one per core) runs the next ready coroutine, and its epoll loop
//! and timer wheel resume this one when its socket is ready or its time is
//! up. Ten thousand connections waiting out their think time are ten
//! thousand small stacks and timer entries, not ten thousand threads.
//! What guards the server (room for the stacks, the idle connections
//! closed at shutdown) is in [`open`].

use crate::stacks::{configure_may, words, SERVE_STACK_KB};
use may::coroutine::Builder;
use may::net::{TcpListener, TcpStream};
use std::io::{self, Read, Write};
use std::os::fd::{FromRawFd, IntoRawFd};
use std::sync::Arc;
use std::time::{Duration, Instant};
use workload::serve::{
    after_accept_error, parse_request, AfterAcceptError, BadRequest, Request, Serving,
};

pub mod open;

use open::{Admitted, Open};

/// Bytes read at a time. The request head is kept on the heap (see
/// `next_request`); only this chunk is on the coroutine's stack.
const CHUNK: usize = 512;

// ANCHOR: serve
/// Serve until Ctrl-C: the accept loop runs in a coroutine of its own,
/// and every connection it accepts gets a coroutine too. This thread (the
/// program's main thread) only waits for the accept loop to stop, then for
/// the last connection to end.
pub fn serve(serving: Serving) -> io::Result<()> {
    configure_may();
    let Serving {
        listener,
        config,
        pages,
        shutdown,
    } = serving;
    // SAFETY: `into_raw_fd` hands over the listening socket, which nothing
    // else in the process owns now; may makes it non-blocking and adds it
    // to its epoll instance (a copy of it stays in `shutdown`, to wake the
    // accept at Ctrl-C).
    let listener = unsafe { TcpListener::from_raw_fd(listener.into_raw_fd()) };
    let open = Arc::new(Open::default());
    let server = Arc::new(Server { config, pages });

    let acceptor = {
        let open = open.clone();
        move || accept_loop(&listener, &server, &open, &shutdown)
    };
    // SAFETY: as for a connection's coroutine (`accept_loop`): the closure
    // owns what it uses (`Send`, checked by the bounds), holds no thread
    // local and no lock across a call that suspends, and its frames are
    // those of the connections' coroutines minus the request handling.
    let accepting = unsafe { stack().spawn(acceptor) }?;
    let stopped = accepting
        .join()
        .unwrap_or_else(|_| Err(io::Error::other("the accept loop panicked")));

    // No new connections. The idle ones are told to stop reading (their
    // blocked read returns 0 and they close); the ones in their think time
    // finish it, write their response and close. Then the server is done.
    open.stop_reading_all();
    open.wait_until_empty();
    stopped
}
// ANCHOR_END: serve

/// What every connection's coroutine reads.
struct Server {
    config: workload::serve::ServeConfig,
    pages: workload::serve::Pages,
}

/// A coroutine's stack for the server's coroutines (see `stacks`).
fn stack() -> Builder {
    Builder::new().stack_size(words(SERVE_STACK_KB))
}

// ANCHOR: accept_loop
/// Accept connections and give each one a coroutine, until the listener
/// is shut down.
fn accept_loop(
    listener: &TcpListener,
    server: &Arc<Server>,
    open: &Arc<Open>,
    shutdown: &workload::serve::Shutdown,
) -> io::Result<()> {
    loop {
        // Each connection's stack is two memory mappings: wait for room
        // under the kernel's limit before taking one more.
        open.wait_for_room(shutdown);
        // accept() tries the non-blocking accept; with nobody waiting in
        // the backlog, it suspends this coroutine until epoll says the
        // listener is readable. At Ctrl-C the listener is shut down, epoll
        // wakes it, and accept fails with EINVAL: the loop stops.
        match listener.accept() {
            Ok((stream, _peer)) => {
                // A client that stops reading gets the header timeout's
                // patience too: then its write fails.
                let admitted = open.admit(stream, server.config.header_timeout);
                let server = server.clone();
                // The tutorial's `gevent.spawn(handle, conn)`, which may
                // spells `go!(builder, || ...)`: the same unsafe call.
                // SAFETY: may's two rules for a coroutine (see `fetch_all`):
                // 1. Thread locals: the coroutine may resume on another
                //    worker thread after any socket call or sleep, so it
                //    must not hold a thread local, or a lock, across one.
                //    The coroutine uses thread locals only inside calls that
                //    do not suspend (the allocator's caches) and locks
                //    `Open`'s table only for a few instructions in `Drop`.
                //    Everything it owns (`Admitted`, `Arc<Server>`) is
                //    `Send`, which the Builder's bounds check.
                // 2. The stack cannot grow: `SERVE_STACK_KB` is above the
                //    deepest use of this code, which `stacks`' tests measure
                //    with a margin; the request head lives on the heap.
                if let Err(e) = unsafe { stack().spawn(move || connection(admitted, &server)) } {
                    eprintln!("serve: no coroutine for a connection: {e}");
                }
            }
            Err(e) => match after_accept_error(&e, shutdown) {
                AfterAcceptError::Retry => {}
                // Out of descriptors: this coroutine sleeps (a timer in
                // may's wheel; nothing spins), the others go on serving,
                // and the connections wait in the backlog meanwhile.
                AfterAcceptError::BackOff(pause) => may::coroutine::sleep(pause),
                AfterAcceptError::Stop(result) => return result,
            },
        }
    }
}
// ANCHOR_END: accept_loop

// ANCHOR: connection
/// One connection, start to end: lesson 1's blocking server loop. Read a
/// request head, wait out the think time, write the response, and again
/// while the client keeps the connection alive.
fn connection(mut connection: Admitted, server: &Server) {
    let config = &server.config;
    // Bytes read and not yet used: a head arriving in pieces, or the next
    // pipelined request behind the current one.
    let mut unread = Vec::new();
    loop {
        let request = match next_request(&mut connection.stream, &mut unread, config.header_timeout)
        {
            Ok(Head::Request(request)) => request,
            Ok(Head::Refused(bad)) => {
                let _ = connection.stream.write_all(&server.pages.refusal(&bad));
                return;
            }
            // Closed by the client, silent past the header timeout, told
            // to stop at shutdown, or a socket error: close.
            Ok(Head::Gone) | Err(_) => return,
        };
        // The think time, from the moment the head was read. The coroutine
        // sleeps: may puts it on its timer wheel and the worker thread runs
        // other coroutines; when the time is up, the timer makes it ready
        // again, on whichever worker is free.
        if !config.latency.is_zero() {
            may::coroutine::sleep(config.latency);
        }
        // write_all() copies the response into the socket's send buffer;
        // a response larger than the buffer suspends the coroutine until
        // the client has read enough (or the write timeout passes).
        let response = server.pages.response(&request);
        if connection.stream.write_all(&response).is_err() {
            return;
        }
        unread.drain(..request.len);
        if !request.keep_alive || connection.stopping() {
            return;
        }
    }
}
// ANCHOR_END: connection

/// What came in instead of the next request.
enum Head {
    Request(Request),
    /// Not a request we serve: it gets a refusal (400 or 431).
    Refused(BadRequest),
    /// The connection is over.
    Gone,
}

// ANCHOR: next_request
/// Read until `unread` starts with a whole request head, for at most
/// `header_timeout`. A pipelined request already read is parsed without
/// reading.
fn next_request(
    stream: &mut TcpStream,
    unread: &mut Vec<u8>,
    header_timeout: Duration,
) -> io::Result<Head> {
    let deadline = Instant::now() + header_timeout;
    let mut chunk = [0u8; CHUNK];
    loop {
        match parse_request(unread) {
            Ok(Some(request)) => return Ok(Head::Request(request)),
            Ok(None) => {}
            Err(bad) => return Ok(Head::Refused(bad)),
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Ok(Head::Gone);
        }
        // may's read timeout: a timer for this one read. With no bytes
        // there, the coroutine is suspended on the socket's epoll
        // registration and on the timer; whichever comes first resumes it
        // (a timeout as a TimedOut error).
        stream.set_read_timeout(Some(left))?;
        match stream.read(&mut chunk)? {
            0 => return Ok(Head::Gone),
            n => unread.extend_from_slice(&chunk[..n]),
        }
    }
}
// ANCHOR_END: next_request

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::net::{SocketAddr, TcpStream as StdStream};
    use workload::serve::ServeConfig;

    const SIZE: usize = 300;

    /// Read one response (head and `Content-Length` body) from `s`.
    fn response(s: &mut StdStream) -> (String, Vec<u8>) {
        let mut bytes = Vec::new();
        let mut byte = [0u8; 1];
        while !bytes.ends_with(b"\r\n\r\n") {
            match s.read(&mut byte) {
                Ok(1) => bytes.push(byte[0]),
                _ => return (String::from_utf8_lossy(&bytes).into_owned(), Vec::new()),
            }
        }
        let head = String::from_utf8_lossy(&bytes).into_owned();
        let len = head
            .lines()
            .find_map(|l| l.strip_prefix("Content-Length: "))
            .and_then(|n| n.trim().parse().ok())
            .unwrap_or(0);
        let mut body = vec![0u8; len];
        s.read_exact(&mut body).expect("the whole body");
        (head, body)
    }

    fn connect(addr: SocketAddr) -> StdStream {
        let s = StdStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        s
    }

    /// Whether the server closed `s` (a read returns 0 or a reset).
    fn closed(s: &mut StdStream) -> bool {
        matches!(s.read(&mut [0u8; 16]), Ok(0) | Err(_))
    }

    /// Requests good and bad against the server, then a shutdown while a
    /// request waits out its think time. Also run on measured stacks by
    /// `stacks::depth`.
    pub(crate) fn hostile_clients() {
        let serving = Serving::bind_local(ServeConfig {
            latency: Duration::from_millis(50),
            size: SIZE,
            header_timeout: Duration::from_millis(300),
            ..ServeConfig::default()
        })
        .unwrap();
        let addr = serving.listener.local_addr().unwrap();
        let shutdown = serving.shutdown.clone();
        let server = std::thread::spawn(move || serve(serving));

        // Keep-alive, then two pipelined requests in one write.
        let mut s = connect(addr);
        s.write_all(b"GET /3 HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
        let (head, body) = response(&mut s);
        assert!(head.starts_with("HTTP/1.1 200"), "{head}");
        assert_eq!(body, workload::server::page_body(3, SIZE));
        s.write_all(b"GET /4 HTTP/1.1\r\n\r\nGET /5 HTTP/1.1\r\nConnection: close\r\n\r\n")
            .unwrap();
        assert_eq!(response(&mut s).1, workload::server::page_body(4, SIZE));
        assert_eq!(response(&mut s).1, workload::server::page_body(5, SIZE));
        assert!(closed(&mut s), "Connection: close");

        // Garbage: 400; a head too large: 431; both closed.
        for (request, status) in [
            (b"\x16\x03\x01 hello\r\n\r\n".to_vec(), "400"),
            (
                [b"GET / HTTP/1.1\r\nX: ".as_slice(), &[b'a'; 9000]].concat(),
                "431",
            ),
        ] {
            let mut s = connect(addr);
            let _ = s.write_all(&request);
            let (head, _) = response(&mut s);
            assert!(head.starts_with(&format!("HTTP/1.1 {status}")), "{head}");
            assert!(closed(&mut s));
        }

        // Half a head, then silence past the header timeout: closed.
        let mut s = connect(addr);
        s.write_all(b"GET /1 HTTP/1.1\r\n").unwrap();
        assert!(closed(&mut s), "closed after the header timeout");

        // A client that leaves during its think time: the server goes on.
        let mut s = connect(addr);
        s.write_all(b"GET /6 HTTP/1.1\r\n\r\n").unwrap();
        drop(s);

        // Ctrl-C while a request waits out its think time: it is answered,
        // an idle connection is closed, and the server returns.
        let mut idle = connect(addr);
        let mut busy = connect(addr);
        busy.write_all(b"GET /7 HTTP/1.1\r\n\r\n").unwrap();
        std::thread::sleep(Duration::from_millis(10));
        shutdown.trigger();
        assert_eq!(response(&mut busy).1, workload::server::page_body(7, SIZE));
        assert!(closed(&mut busy));
        assert!(closed(&mut idle));
        server.join().unwrap().expect("the server stops with Ok");
    }

    #[test]
    fn serves_keep_alive_pipelined_and_refusals_and_stops() {
        hostile_clients();
    }
}
