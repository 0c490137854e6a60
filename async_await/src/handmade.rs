//! Variant `handmade`: the future that `mini`'s `async fn fetch` becomes,
//! written out by hand.
//!
//! The compiler turns an `async fn` into an enum with one variant per
//! `.await` (plus "not started" and "finished"), each holding what is alive
//! at that point, and a `poll` that runs from one `.await` to the next.
//! [`Fetch`] is that enum for one page, written the way lesson 5 wrote its
//! callbacks' state, but polled by `mini`'s executor and woken by `mini`'s
//! reactor: the only thing that changes from `--variant mini` is who wrote
//! the state machine. The chapter is `walkthrough/07b-inside-async.md`.

use std::future::Future;
use std::io::{self, Read as _, Write as _};
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};

use workload::{Body, ErrorKind, FetchError, Page, Plan, ResponseReader, Trace};

use crate::mini::{self, Direction, Reactor, Socket};

// ANCHOR: fetch_all
/// `mini`'s loop, with one hand-written [`Fetch`] per page in place of the
/// compiler's `fetch(..)` future: the same executor, reactor, deadline and
/// `--cpu-us` work.
pub fn fetch_all(plan: &Plan) -> Vec<Trace> {
    // The closure only awaits the hand-written future: `Fetch::new` itself
    // cannot be passed, because its one lifetime `'a` is the struct's, not
    // one per argument as `every_page_through` asks.
    mini::every_page_through(plan, async |reactor, plan, page, trace, keep_body| {
        Fetch::new(reactor, plan, page, trace, keep_body).await
    })
}
// ANCHOR_END: fetch_all

// ANCHOR: states
/// One page's fetch, as the state it is in between two polls: a variant
/// per wait, holding what the next step needs. The compiler's enum for
/// `mini::fetch` has a variant per `.await` too, and keeps the arguments
/// in every one.
pub enum Fetch<'a> {
    /// Made, not polled yet: nothing has happened (a future is lazy). The
    /// compiler calls this state "unresumed".
    Start {
        reactor: &'a Reactor,
        addr: SocketAddr,
        request: Vec<u8>,
        response: ResponseReader,
        trace: &'a mut Trace,
    },
    /// The SYN is out; waiting for the handshake (`connect(..)?.await`).
    Connecting {
        socket: Socket<'a>,
        request: Vec<u8>,
        response: ResponseReader,
        trace: &'a mut Trace,
    },
    /// `sent` bytes of the request are in the kernel (`write_all(..).await`).
    Sending {
        socket: Socket<'a>,
        request: Vec<u8>,
        sent: usize,
        response: ResponseReader,
        trace: &'a mut Trace,
    },
    /// Reading the response chunk by chunk (`Read { .. }.await`).
    Receiving {
        socket: Socket<'a>,
        response: ResponseReader,
        trace: &'a mut Trace,
    },
    /// Finished (or failed, or panicked mid-step): "returned".
    Done,
}
// ANCHOR_END: states

impl<'a> Fetch<'a> {
    /// The same arguments as `mini::fetch`, and no I/O yet.
    pub fn new(
        reactor: &'a Reactor,
        plan: &Plan,
        page: &Page,
        trace: &'a mut Trace,
        keep_body: bool,
    ) -> Fetch<'a> {
        let mut response = ResponseReader::new(plan.max_bytes);
        if keep_body {
            response = response.keep_body();
        }
        Fetch::Start {
            reactor,
            addr: page.addr,
            request: page.request(),
            response,
            trace,
        }
    }
}

// ANCHOR: poll
// ANCHOR: poll_head
impl Future for Fetch<'_> {
    type Output = Result<Body, FetchError>;

    /// Take the state out, do its one non-blocking step, and either put the
    /// next state in and go on, or put a state back and answer `Pending`
    /// after leaving the waker with the reactor. No field borrows another,
    /// so `Fetch` may move between polls: it is `Unpin`, and
    /// `Pin<&mut Fetch>` gives its `&mut` away freely.
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        loop {
            match std::mem::replace(this, Fetch::Done) {
                // ANCHOR_END: poll_head
                Fetch::Start {
                    reactor,
                    addr,
                    request,
                    response,
                    trace,
                } => {
                    // The first poll: send the SYN, and go straight on to
                    // ask whether the handshake is done.
                    let socket = Socket::connect(reactor, addr)?;
                    *this = Fetch::Connecting {
                        socket,
                        request,
                        response,
                        trace,
                    };
                }
                Fetch::Connecting {
                    socket,
                    request,
                    response,
                    trace,
                } => {
                    if !socket.connected()? {
                        // The handshake is still on the wire: a finished
                        // one makes the socket writable.
                        socket.wake_when_ready(Direction::Write, cx);
                        *this = Fetch::Connecting {
                            socket,
                            request,
                            response,
                            trace,
                        };
                        return Poll::Pending;
                    }
                    trace.connected();
                    *this = Fetch::Sending {
                        socket,
                        request,
                        sent: 0,
                        response,
                        trace,
                    };
                }
                Fetch::Sending {
                    socket,
                    request,
                    mut sent,
                    response,
                    trace,
                } => {
                    match socket.stream().write(&request[sent..]) {
                        Ok(0) => {
                            return Poll::Ready(Err(
                                io::Error::from(io::ErrorKind::WriteZero).into()
                            ))
                        }
                        Ok(n) => sent += n,
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                            // The send buffer is full: wait until it drains.
                            socket.wake_when_ready(Direction::Write, cx);
                            *this = Fetch::Sending {
                                socket,
                                request,
                                sent,
                                response,
                                trace,
                            };
                            return Poll::Pending;
                        }
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                        Err(e) => return Poll::Ready(Err(e.into())),
                    }
                    *this = if sent == request.len() {
                        Fetch::Receiving {
                            socket,
                            response,
                            trace,
                        }
                    } else {
                        Fetch::Sending {
                            socket,
                            request,
                            sent,
                            response,
                            trace,
                        }
                    };
                }
                // ANCHOR: receiving
                Fetch::Receiving {
                    socket,
                    mut response,
                    trace,
                } => {
                    // A local, not a field: no chunk lives across a wait.
                    let mut buf = [0u8; 4096];
                    match socket.stream().read(&mut buf) {
                        Ok(n) => {
                            if n > 0 {
                                trace.first_byte();
                            }
                            if response.feed(&buf[..n])?.is_done() {
                                // Returning drops `socket`: out of the
                                // epoll set, then closed.
                                return Poll::Ready(response.finish());
                            }
                        }
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                            // Nothing yet: the task goes back to the
                            // executor, and only this waker remembers it.
                            socket.wake_when_ready(Direction::Read, cx);
                            *this = Fetch::Receiving {
                                socket,
                                response,
                                trace,
                            };
                            return Poll::Pending;
                        }
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                        Err(e) => return Poll::Ready(Err(e.into())),
                    }
                    *this = Fetch::Receiving {
                        socket,
                        response,
                        trace,
                    };
                }
                // ANCHOR_END: receiving
                Fetch::Done => {
                    return Poll::Ready(Err(FetchError::new(
                        ErrorKind::Io,
                        "Fetch polled after it finished",
                    )))
                }
            }
        }
    }
}
// ANCHOR_END: poll
