//! # Serving without waiting: try everything, sleep a tick, try again
//!
//! The tutorial's non-blocking server loop: one thread, the listener and
//! every connection in non-blocking mode, and nothing that says when any
//! of them is ready. So each *pass* tries everything once: accept, every
//! connection's next read or write, every think time's end. A call with
//! nothing to do returns WouldBlock at once; a pass where everything did
//! sleeps one `TICK`, trading up to a millisecond of latency for not
//! burning a whole core. Every connection is served at once, but each
//! pass costs a system call per connection, busy or idle: O(n) work to
//! find the few that are ready, a thousand times a second. On exit, stderr
//! says how many passes found nothing (`serve/passes.rs`).

use std::io::{self, Read, Write};
use std::net::{Shutdown as Half, TcpStream};
use std::time::{Duration, Instant};

use bytes::Bytes;
use workload::serve::{after_accept_error, parse_request, AfterAcceptError, Serving};
use workload::serve::{Pages, Request, ServeConfig};

mod passes;
use passes::Passes;

/// The sleep after a pass that found nothing to do. Shorter: a response
/// starts sooner, and the idle server burns more CPU; longer: the reverse.
pub const TICK: Duration = Duration::from_millis(1);

/// Connections accepted in one pass at most.
const ACCEPTS_PER_PASS: usize = 64;
const READ_CHUNK: usize = 8 * 1024;
/// How long a connection being closed may take to say goodbye, at most.
const LINGER: Duration = Duration::from_secs(1);

// ANCHOR: busy_loop
/// Serve until Ctrl-C, on this thread, asking every socket in turn.
pub fn serve(serving: Serving) -> io::Result<()> {
    let Serving {
        listener,
        config,
        pages,
        shutdown,
    } = serving;
    // The tutorial's `setblocking(False)`: accept now says WouldBlock
    // when no client is waiting, instead of sleeping until one comes.
    listener.set_nonblocking(true)?;
    let mut connections: Vec<Connection> = Vec::new();
    let mut accept_after = Instant::now();
    let mut stopping = false;
    let mut passes = Passes::start();
    loop {
        let mut progress = false;
        let now = Instant::now();

        // One try at the listener (a few accepts, until WouldBlock).
        if !stopping && now >= accept_after {
            for _ in 0..ACCEPTS_PER_PASS {
                match listener.accept() {
                    Ok((stream, _)) => {
                        progress = true;
                        if let Some(conn) = Connection::accepted(stream, &config) {
                            connections.push(conn);
                        }
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                        passes.not_now();
                        break;
                    }
                    Err(e) => match after_accept_error(&e, &shutdown) {
                        AfterAcceptError::Retry => {}
                        // Out of descriptors: the listener would say the
                        // same on every pass; skip it for a while.
                        AfterAcceptError::BackOff(pause) => {
                            accept_after = now + pause;
                            break;
                        }
                        AfterAcceptError::Stop(Ok(())) => break,
                        AfterAcceptError::Stop(Err(e)) => return Err(e),
                    },
                }
            }
        }
        // Ctrl-C: no new connections; those waiting for a head are closed
        // (their next step says so), the others finish their request.
        stopping = stopping || shutdown.is_triggered();

        // One try at every connection's next step: O(connections) system
        // calls, whether or not anything arrived.
        connections.retain_mut(|conn| match conn.step(now, &pages, &config, stopping) {
            Step::Did => {
                progress = true;
                true
            }
            Step::NotNow => {
                passes.not_now();
                true
            }
            Step::Closed => {
                progress = true;
                false // dropped: close(2)
            }
        });
        if stopping && connections.is_empty() {
            passes.report();
            return Ok(());
        }

        // Nothing anywhere: sleep a tick, or this loop spins at 100% CPU
        // asking sockets that have nothing to say.
        passes.count(progress);
        if !progress {
            std::thread::sleep(TICK);
        }
    }
}
// ANCHOR_END: busy_loop

/// What one try at a connection did.
enum Step {
    /// Something moved (bytes in or out, a think time over).
    Did,
    /// The kernel said WouldBlock, or the think time still runs.
    NotNow,
    /// The connection is over.
    Closed,
}

/// Where a connection is: everything its next try needs.
enum State {
    /// Waiting for a head, until `deadline` (the header timeout).
    Head { deadline: Instant },
    /// A request read; its response is due at `until` (the think time).
    Think { request: Request, until: Instant },
    /// A response going out. A client that reads nothing keeps the send
    /// buffer full for ever: some of the response must go out before
    /// `deadline` (the header timeout, from the last bytes that did).
    Write {
        response: Bytes,
        written: usize,
        close_after: bool,
        deadline: Instant,
    },
    /// Closing after a response: our FIN is sent, we wait for the client's
    /// (reading what it still sends), until `deadline`. Closing with unread
    /// bytes would reset the connection, and the client could lose the
    /// response it has not read yet.
    Goodbye { deadline: Instant },
}

struct Connection {
    stream: TcpStream,
    /// Bytes read and not used yet: part of a head, or pipelined requests.
    buf: Vec<u8>,
    state: State,
}

impl Connection {
    fn accepted(stream: TcpStream, config: &ServeConfig) -> Option<Connection> {
        // Accepted sockets do not inherit the listener's non-blocking mode.
        stream.set_nonblocking(true).ok()?;
        let _ = stream.set_nodelay(true);
        Some(Connection {
            stream,
            buf: Vec::new(),
            state: State::Head {
                deadline: Instant::now() + config.header_timeout,
            },
        })
    }

    // ANCHOR: step
    /// One try at this connection's next step.
    fn step(&mut self, now: Instant, pages: &Pages, config: &ServeConfig, stopping: bool) -> Step {
        match &mut self.state {
            State::Head { .. } if stopping => Step::Closed,
            State::Head { deadline } => {
                let deadline = *deadline;
                // A pipelined head may already be here; otherwise one read.
                if let Some(step) = self.take_head(now, pages, config) {
                    return step;
                }
                let mut chunk = [0u8; READ_CHUNK];
                match self.stream.read(&mut chunk) {
                    Ok(0) => Step::Closed,
                    Ok(n) => {
                        self.buf.extend_from_slice(&chunk[..n]);
                        self.take_head(now, pages, config).unwrap_or(Step::Did)
                    }
                    Err(e) if not_now(&e) && now >= deadline => Step::Closed,
                    Err(e) if not_now(&e) => Step::NotNow,
                    Err(_) => Step::Closed,
                }
            }
            // The think time: no system call, only the clock, every pass.
            State::Think { until, .. } if now < *until => Step::NotNow,
            State::Think { request, .. } => {
                let response = pages.response(request);
                let close_after = !request.keep_alive;
                self.state = State::Write {
                    response,
                    written: 0,
                    close_after,
                    deadline: now + config.header_timeout,
                };
                Step::Did
            }
            State::Write {
                response,
                written,
                close_after,
                deadline,
            } => match self.stream.write(&response[*written..]) {
                Ok(n) => {
                    *written += n;
                    *deadline = now + config.header_timeout;
                    if *written == response.len() {
                        let close = *close_after || stopping;
                        self.after_response(close, config);
                    }
                    Step::Did
                }
                Err(e) if not_now(&e) && now >= *deadline => Step::Closed,
                Err(e) if not_now(&e) => Step::NotNow,
                // The client left mid-response: only this connection ends.
                Err(_) => Step::Closed,
            },
            State::Goodbye { deadline } => {
                let mut chunk = [0u8; READ_CHUNK];
                match self.stream.read(&mut chunk) {
                    Ok(n) if n > 0 => Step::Did,
                    Err(e) if not_now(&e) && now < *deadline => Step::NotNow,
                    _ => Step::Closed,
                }
            }
        }
    }
    // ANCHOR_END: step

    /// If the buffer holds a whole head: start its think time (or refuse a
    /// bad one). `None`: not yet.
    fn take_head(&mut self, now: Instant, pages: &Pages, config: &ServeConfig) -> Option<Step> {
        match parse_request(&self.buf) {
            Ok(None) => None,
            Ok(Some(request)) => {
                self.buf.drain(..request.len);
                // The think time runs from now, the moment the head was
                // read; later passes look at the clock until it is over.
                self.state = State::Think {
                    request,
                    until: now + config.latency,
                };
                Some(Step::Did)
            }
            Err(bad) => {
                self.state = State::Write {
                    response: pages.refusal(&bad),
                    written: 0,
                    close_after: true,
                    deadline: now + config.header_timeout,
                };
                Some(Step::Did)
            }
        }
    }

    /// Keep the connection for its next request, or say goodbye.
    fn after_response(&mut self, close: bool, config: &ServeConfig) {
        let now = Instant::now();
        if !close {
            self.state = State::Head {
                deadline: now + config.header_timeout,
            };
            return;
        }
        let _ = self.stream.shutdown(Half::Write);
        self.buf = Vec::new();
        self.state = State::Goodbye {
            deadline: now + LINGER,
        };
    }
}

/// The non-blocking socket's "not now" (or a signal: try again).
fn not_now(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
    )
}
