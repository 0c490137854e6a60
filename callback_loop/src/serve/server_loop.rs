//! The server's event loop: the listener, the shutdown signal and every
//! connection registered with one selector, each with its callback; the
//! timers beside them. The fetch side's `EventLoop`, serving.

use std::io;
use std::net::{TcpListener, TcpStream};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};
use std::time::{Duration, Instant};

use workload::serve::{after_accept_error, AfterAcceptError, Serving, Shutdown};
use workload::FetchError;

use super::refused::Refused;
use super::timeouts::{Alarm, ConnTimer};
use super::{Callback, Connection, Next, Shared};
use crate::timers::Timers;
use crate::{Interest, Selector};

/// Connections accepted in one callback at most. LEVEL-TRIGGERED: those
/// still in the backlog keep the listener readable, so the next wait
/// reports it again, after the others' callbacks have had their turn.
const ACCEPTS_PER_CALLBACK: usize = 64;

/// A connection registered with the loop: the tutorial's `key.data`.
struct Registered {
    conn: Connection,
    /// What its socket is watched for; `None` while it is not in the
    /// selector at all (its think time).
    interest: Option<Interest>,
    on_ready: Callback,
    timer: ConnTimer,
}

/// (Field order is drop order: the selector goes before the sockets it
/// may still name, and before `shutdown`, whose descriptor it watches.)
pub struct ServerLoop<S: Selector> {
    selector: S,
    /// Indexed by descriptor number, as the crawler's pages.
    connections: Vec<Option<Box<Registered>>>,
    open: usize,
    timers: Timers<Alarm>,
    listener: TcpListener,
    /// The listener is in the selector (not during a backoff, nor once
    /// stopping).
    accepting: bool,
    shutdown: Shutdown,
    shared: Shared,
    /// Numbers the connections, so that a timer of a closed one is not
    /// taken for the next one given the same descriptor.
    accepted: usize,
    refused: Refused,
    /// The ready descriptors of the current turn (kept to reuse its memory).
    ready: Vec<RawFd>,
}

impl<S: Selector> ServerLoop<S> {
    pub fn new(serving: Serving, selector: S) -> io::Result<Self> {
        let Serving {
            listener,
            config,
            pages,
            shutdown,
        } = serving;
        // Non-blocking: an accept with nothing in the backlog (another
        // wake-up got there first) says WouldBlock instead of sleeping.
        listener.set_nonblocking(true)?;
        let mut server = ServerLoop {
            selector,
            connections: Vec::new(),
            open: 0,
            timers: Timers::with_capacity(64),
            listener,
            accepting: false,
            shutdown,
            shared: Shared {
                pages,
                config,
                stopping: false,
            },
            accepted: 0,
            refused: Refused::default(),
            ready: Vec::with_capacity(1024),
        };
        // Ctrl-C makes this descriptor readable: the loop hears of it in
        // the same wait as of the sockets.
        // SAFETY: the descriptor belongs to `server.shutdown`, which the
        // loop holds (and drops after the selector); it is unregistered in
        // `stop` and never closed before.
        unsafe {
            server
                .selector
                .register(server.shutdown.fd(), Interest::Read)
        }
        .map_err(io::Error::other)?;
        server.start_accepting()?;
        Ok(server)
    }

    /// Stopping, and the last connection is gone.
    pub fn finished(&self) -> bool {
        self.shared.stopping && self.open == 0
    }

    // ANCHOR: turn
    /// One turn: due timers, one wait no longer than the nearest of them,
    /// then the callbacks of the ready descriptors.
    pub fn turn(&mut self) -> io::Result<()> {
        let now = Instant::now();
        self.run_due_timers(now)?;
        if self.finished() {
            return Ok(()); // the timers closed the last connection
        }
        let timeout = self.timers.wait_limit(now, None);

        // The one blocking call. Meanwhile the kernel completes handshakes
        // into the listener's backlog, and queues the clients' bytes.
        let mut ready = std::mem::take(&mut self.ready);
        match self.selector.wait(timeout, &mut ready) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
        for fd in ready.drain(..) {
            if fd == self.listener.as_raw_fd() {
                if self.accepting {
                    self.accept()?;
                }
            } else if fd == self.shutdown.fd().as_raw_fd() {
                self.stop();
            } else if let Some(reg) = self
                .connections
                .get_mut(fd as usize)
                .and_then(|r| r.as_mut())
            {
                // A connection's callback: read a head, or write the rest
                // of a response. (It may have been closed and its number
                // given to a new connection earlier in this turn: then the
                // call finds nothing to do and says so, `WouldBlock`.)
                let next = (reg.on_ready)(&mut reg.conn, &self.shared);
                self.apply(fd, next);
            }
        }
        self.ready = ready;
        Ok(())
    }
    // ANCHOR_END: turn

    // ANCHOR: accept
    /// Callback of the listener: take the new connections.
    fn accept(&mut self) -> io::Result<()> {
        for _ in 0..ACCEPTS_PER_CALLBACK {
            let stream = match self.listener.accept() {
                Ok((stream, _)) => stream,
                // The backlog is empty: the listener's callback is done.
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) => match after_accept_error(&e, &self.shutdown) {
                    AfterAcceptError::Retry => continue,
                    AfterAcceptError::BackOff(pause) => return self.pause_accepting(pause),
                    AfterAcceptError::Stop(Ok(())) => {
                        self.stop();
                        return Ok(());
                    }
                    AfterAcceptError::Stop(Err(e)) => return Err(e),
                },
            };
            self.add(stream);
        }
        Ok(())
    }

    /// Out of descriptors (EMFILE): the connection we could not take is
    /// still in the backlog, so the listener stays readable. LEVEL-
    /// TRIGGERED: left in the selector, it would end every wait at once
    /// and the loop would spin at 100% CPU while nothing can be done. So it
    /// leaves the selector, and a timer brings it back.
    fn pause_accepting(&mut self, pause: Duration) -> io::Result<()> {
        self.selector.unregister(self.listener.as_fd());
        self.accepting = false;
        let fd = self.listener.as_raw_fd();
        self.timers
            .push(Instant::now() + pause, fd, 0, Alarm::Accept);
        Ok(())
    }
    // ANCHOR_END: accept

    fn start_accepting(&mut self) -> io::Result<()> {
        if self.accepting || self.shared.stopping {
            return Ok(());
        }
        // SAFETY: the listener is a field of the loop, dropped after the
        // selector, and unregistered before any pause; it is never closed
        // while registered.
        unsafe {
            self.selector
                .register(self.listener.as_fd(), Interest::Read)
        }
        .map_err(io::Error::other)?;
        self.accepting = true;
        Ok(())
    }

    /// A new connection, non-blocking, with its first callback: wait for
    /// a head.
    fn add(&mut self, stream: TcpStream) {
        if stream.set_nonblocking(true).is_err() {
            return; // dropped: closed
        }
        // One write per response: nothing for Nagle to gather.
        let _ = stream.set_nodelay(true);
        self.accepted += 1;
        let fd = stream.as_raw_fd();
        let (conn, next) = Connection::accepted(stream, self.accepted, &self.shared);
        let slot = fd as usize;
        if self.connections.len() <= slot {
            self.connections.resize_with(slot + 1, || None);
        }
        self.connections[slot] = Some(Box::new(Registered {
            conn,
            interest: None,
            on_ready: Connection::read_request,
            timer: ConnTimer::default(),
        }));
        self.open += 1;
        self.apply(fd, next);
    }

    // ANCHOR: apply
    /// Do what a connection's callback asked.
    fn apply(&mut self, fd: RawFd, mut next: Next) {
        let slot = fd as usize;
        loop {
            let Some(reg) = self.connections[slot].as_mut() else {
                return;
            };
            let id = reg.conn.id;
            match next {
                // A think time of zero, or already over: no need to ask
                // the selector, the next step runs now.
                Next::Sleep(at, then) if at <= Instant::now() => {
                    next = then(&mut reg.conn, &self.shared);
                    continue;
                }
                Next::Sleep(at, then) => {
                    // Not watched while it thinks: bytes the client sends
                    // meanwhile (its next request) would keep a level-
                    // triggered selector waking us for nothing.
                    if reg.interest.take().is_some() {
                        self.selector.unregister(reg.conn.stream.as_fd());
                    }
                    reg.timer.set(Some((at, then)), &mut self.timers, fd, id);
                }
                Next::Wait {
                    interest,
                    then,
                    deadline,
                } => {
                    reg.on_ready = then;
                    let close = deadline.map(|at| (at, Connection::too_slow as Callback));
                    reg.timer.set(close, &mut self.timers, fd, id);
                    if reg.interest != Some(interest) {
                        // Only a change costs a system call: "read again"
                        // keeps the registration as it is.
                        let watched = watch(&mut self.selector, reg, interest);
                        if let Err(why) = watched {
                            // select's FD_SETSIZE ends up here: this
                            // connection is closed, named; the others go on.
                            self.refused.note(&why);
                            self.close(slot);
                        }
                    }
                }
                Next::Close => self.close(slot),
            }
            return;
        }
    }

    /// Unregister, then close: in that order, so the selector never
    /// watches a closed (or reused) descriptor number.
    fn close(&mut self, slot: usize) {
        if let Some(reg) = self.connections[slot].take() {
            if reg.interest.is_some() {
                self.selector.unregister(reg.conn.stream.as_fd());
            }
            self.open -= 1;
            // `reg` is dropped here: close(2).
        }
    }
    // ANCHOR_END: apply

    /// Fire the due timers: think times over (the response goes out),
    /// waits past their deadline (the connection is closed), the end of an
    /// accept backoff.
    fn run_due_timers(&mut self, now: Instant) -> io::Result<()> {
        while let Some(timer) = self.timers.pop_due(now) {
            if let Alarm::Accept = timer.then {
                self.start_accepting()?;
                continue;
            }
            let Some(reg) = self
                .connections
                .get_mut(timer.fd as usize)
                .and_then(|r| r.as_mut())
                .filter(|r| r.conn.id == timer.id)
            else {
                continue; // closed since
            };
            let fd = timer.fd;
            if let Some(then) = reg
                .timer
                .fired(timer.at, now, &mut self.timers, fd, timer.id)
            {
                let next = then(&mut reg.conn, &self.shared);
                self.apply(fd, next);
            }
        }
        Ok(())
    }

    /// Ctrl-C: stop accepting, close the connections that wait for a head,
    /// and let those with a request in flight finish it (its think time
    /// and its response), then close; the loop ends with the last one.
    fn stop(&mut self) {
        if self.shared.stopping {
            return;
        }
        self.shared.stopping = true;
        // Readable from now on: it must leave the selector, or every wait
        // would return at once.
        self.selector.unregister(self.shutdown.fd());
        if self.accepting {
            self.selector.unregister(self.listener.as_fd());
            self.accepting = false;
        }
        for slot in 0..self.connections.len() {
            if self.connections[slot]
                .as_ref()
                .is_some_and(|r| r.conn.waiting_for_head)
            {
                self.close(slot);
            }
        }
    }
}

/// Put a connection's socket in the selector for `interest`, or change
/// what it is watched for.
fn watch<S: Selector>(
    selector: &mut S,
    reg: &mut Registered,
    interest: Interest,
) -> Result<(), FetchError> {
    let fd: BorrowedFd<'_> = reg.conn.stream.as_fd();
    match reg.interest {
        Some(_) => selector.modify(fd, interest)?,
        // SAFETY: the socket is owned by `reg`, which lives in the loop's
        // table until `close`, and `close` unregisters it before dropping
        // it.
        None => unsafe { selector.register(fd, interest)? },
    }
    reg.interest = Some(interest);
    Ok(())
}
