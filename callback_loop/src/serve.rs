//! # Serving: the same event loop, turned around
//!
//! One thread, one selector, every connection at once. The listener is
//! registered for "readable" with an accept callback; every connection it
//! gives is registered with the callback for its next step: read the
//! request head, wait out the think time (a *timer*, not a sleep: the
//! thread goes back to the selector and serves the others meanwhile),
//! write the response (registered for "writable" only if the socket's send
//! buffer fills), then wait for the next head on the same connection.
//! Each step is a callback that returns what to wait for next, as
//! `Crawler`'s do; the loop (`serve/server_loop.rs`) owns the sockets, the
//! selector and the timers.
//!
//! Level-triggered, as on the fetch side: a callback reads or accepts once
//! and returns; what is left is reported again on the next wait.

use std::io::{self, Read, Write};
use std::net::{Shutdown as Half, TcpStream};
use std::time::{Duration, Instant};

use bytes::Bytes;
use workload::serve::{parse_request, Pages, ServeConfig, Serving};

use crate::{retry, EpollSelector, Interest, PollSelector, SelectSelector, Selector};

mod refused;
#[allow(unsafe_code)]
mod server_loop;
mod timeouts;

pub use server_loop::ServerLoop;

pub fn serve_epoll(serving: Serving) -> io::Result<()> {
    serve(serving, EpollSelector::new()?)
}

pub fn serve_poll(serving: Serving) -> io::Result<()> {
    serve(serving, PollSelector::new())
}

/// A connection numbered FD_SETSIZE or above cannot be watched: it is
/// closed, and stderr says why (`serve/refused.rs`).
pub fn serve_select(serving: Serving) -> io::Result<()> {
    serve(serving, SelectSelector::new())
}

// ANCHOR: serve
/// Serve until Ctrl-C, on this thread: register the listener and the
/// shutdown signal, then turn the loop until the last connection is gone.
pub fn serve<S: Selector>(serving: Serving, selector: S) -> io::Result<()> {
    let mut server = ServerLoop::new(serving, selector)?;
    while !server.finished() {
        // Due timers (think times over, heads too slow), one wait in the
        // selector, the callbacks of what is ready: accept, read, write.
        server.turn()?;
    }
    Ok(())
}
// ANCHOR_END: serve

/// What every connection's callbacks share: the ready-made responses and
/// the configuration, and whether the server is stopping.
pub struct Shared {
    pub pages: Pages,
    pub config: ServeConfig,
    pub stopping: bool,
}

/// A connection's callback: its next step, run when its socket is ready
/// or its timer fires.
pub type Callback = fn(&mut Connection, &Shared) -> Next;

/// What a callback asks the loop to do next.
pub enum Next {
    /// Call `then` when the socket is ready for `interest`; if `deadline`
    /// comes first, close the connection.
    Wait {
        interest: Interest,
        then: Callback,
        deadline: Option<Instant>,
    },
    /// Stop watching the socket and call `then` at this time (asyncio's
    /// `call_at`): the think time.
    Sleep(Instant, Callback),
    /// Close the connection.
    Close,
}

/// At most this much is read in one callback: a whole head fits (the
/// largest accepted is `MAX_REQUEST_HEAD`, 8 KiB).
const READ_CHUNK: usize = 8 * 1024;

/// How long a connection being closed may take to say goodbye (see
/// `linger`), at most.
const LINGER: Duration = Duration::from_secs(1);

// ANCHOR: connection
/// One connection: everything its steps need between two callbacks, as
/// `Crawler` keeps a page's.
pub struct Connection {
    pub(crate) stream: TcpStream,
    /// Tells this connection from a later one given the same descriptor.
    pub(crate) id: usize,
    /// Bytes read and not yet used: part of a head, or the next request
    /// already sent behind this one (pipelining).
    buf: Vec<u8>,
    /// When the current wait for the client ends: the header timeout while
    /// a head is awaited or a response waits for the client to read, the
    /// end of the goodbye when closing.
    deadline: Instant,
    /// Waiting for a head (none started, or part of one): what a stopping
    /// server closes at once.
    pub(crate) waiting_for_head: bool,
    /// The request whose think time is running.
    request: Option<workload::serve::Request>,
    /// The response going out, and how much of it is out.
    response: Bytes,
    written: usize,
    /// Close once the response is out (`Connection: close`, a refusal).
    close_after: bool,
}

impl Connection {
    /// A connection just accepted: its first callback waits for a head.
    pub fn accepted(stream: TcpStream, id: usize, shared: &Shared) -> (Connection, Next) {
        let mut conn = Connection {
            stream,
            id,
            buf: Vec::new(),
            deadline: Instant::now(),
            waiting_for_head: true,
            request: None,
            response: Bytes::new(),
            written: 0,
            close_after: false,
        };
        let next = conn.await_head(shared);
        (conn, next)
    }

    /// The server starts waiting for a head: the header timeout runs from
    /// now. A head already in the buffer (pipelined) is taken at once.
    fn await_head(&mut self, shared: &Shared) -> Next {
        self.waiting_for_head = true;
        self.deadline = Instant::now() + shared.config.header_timeout;
        self.next_request(shared)
    }

    /// Callback: bytes (or end of file) arrived. Read once, then see
    /// whether the head is whole.
    pub fn read_request(&mut self, shared: &Shared) -> Next {
        let mut chunk = [0u8; READ_CHUNK];
        match self.stream.read(&mut chunk) {
            // The client has gone (or closed between two requests).
            Ok(0) => Next::Close,
            Ok(n) => {
                self.buf.extend_from_slice(&chunk[..n]);
                self.next_request(shared)
            }
            Err(e) if retry(&e) => self.wait_for_more(),
            Err(_) => Next::Close,
        }
    }

    // ANCHOR: next_request
    /// The head so far: whole (start its think time), not yet (wait for
    /// more, no later than the deadline), or bad (refuse it).
    fn next_request(&mut self, shared: &Shared) -> Next {
        match parse_request(&self.buf) {
            Ok(None) => self.wait_for_more(),
            Ok(Some(request)) => {
                self.buf.drain(..request.len);
                self.waiting_for_head = false;
                self.request = Some(request);
                // The think time runs from now, the moment the head was
                // read. A timer, not a sleep: the loop's one thread goes
                // back to the selector and serves the others meanwhile.
                Next::Sleep(Instant::now() + shared.config.latency, Connection::respond)
            }
            Err(bad) => {
                self.waiting_for_head = false;
                self.close_after = true;
                self.start_writing(shared.pages.refusal(&bad), shared)
            }
        }
    }
    // ANCHOR_END: next_request

    fn wait_for_more(&self) -> Next {
        Next::Wait {
            interest: Interest::Read,
            then: Connection::read_request,
            deadline: Some(self.deadline),
        }
    }

    /// Timer callback: the think time is over; the response goes out.
    pub fn respond(&mut self, shared: &Shared) -> Next {
        let Some(request) = self.request.take() else {
            return Next::Close;
        };
        self.close_after = !request.keep_alive;
        self.start_writing(shared.pages.response(&request), shared)
    }

    fn start_writing(&mut self, response: Bytes, shared: &Shared) -> Next {
        self.response = response;
        self.written = 0;
        // Most responses fit in the socket's send buffer: written at once,
        // without waiting for "writable" first.
        self.write_response(shared)
    }

    /// Callback (when the send buffer was full): write what is left.
    pub fn write_response(&mut self, shared: &Shared) -> Next {
        let before = self.written;
        while self.written < self.response.len() {
            match self.stream.write(&self.response[self.written..]) {
                Ok(n) => self.written += n,
                // Full: ask to be called back when it drains. LEVEL-
                // TRIGGERED: "writable" is asked for only now, and given up
                // as soon as the response is out; a socket with room is
                // writable all the time and would wake every wait.
                Err(e) if retry(&e) => {
                    // A client that reads nothing keeps the buffer full
                    // for ever: it gets the header timeout's patience from
                    // the last time any of the response went out.
                    if self.written > before || before == 0 {
                        self.deadline = Instant::now() + shared.config.header_timeout;
                    }
                    return Next::Wait {
                        interest: Interest::Write,
                        then: Connection::write_response,
                        deadline: Some(self.deadline),
                    };
                }
                // The client closed mid-response: this connection ends,
                // the server goes on (Rust ignores SIGPIPE: EPIPE here).
                Err(_) => return Next::Close,
            }
        }
        self.after_response(shared)
    }

    /// The response is out: keep the connection for the next request, or
    /// say goodbye.
    fn after_response(&mut self, shared: &Shared) -> Next {
        self.response = Bytes::new();
        if self.close_after || shared.stopping {
            return self.linger();
        }
        self.await_head(shared)
    }

    /// Close after a response, politely: send our FIN (shutdown write),
    /// then wait for the client's, reading and dropping whatever it still
    /// sends, for at most `LINGER`. Closing with unread bytes would send a
    /// reset instead, and the client could lose the response it has not
    /// read yet (the 400 or 431 above all, sent while it is still writing).
    fn linger(&mut self) -> Next {
        if self.stream.shutdown(Half::Write).is_err() {
            return Next::Close;
        }
        self.buf = Vec::new();
        self.deadline = Instant::now() + LINGER;
        Next::Wait {
            interest: Interest::Read,
            then: Connection::drain,
            deadline: Some(self.deadline),
        }
    }

    /// Timer callback: the client did not send what it was waited for in
    /// time (a whole head within the header timeout, or its goodbye).
    pub fn too_slow(&mut self, _: &Shared) -> Next {
        Next::Close
    }

    /// Callback: the closing connection sent more, or its FIN.
    pub fn drain(&mut self, _: &Shared) -> Next {
        let mut chunk = [0u8; READ_CHUNK];
        match self.stream.read(&mut chunk) {
            Ok(n) if n > 0 => Next::Wait {
                interest: Interest::Read,
                then: Connection::drain,
                deadline: Some(self.deadline),
            },
            Err(e) if retry(&e) => Next::Wait {
                interest: Interest::Read,
                then: Connection::drain,
                deadline: Some(self.deadline),
            },
            _ => Next::Close,
        }
    }
}
// ANCHOR_END: connection
