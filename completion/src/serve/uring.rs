//! Server `uring`: the page server by hand on one io_uring.
//!
//! Every wait is an operation handed to the kernel: one multishot accept
//! for the listener, and per connection a recv (the kernel picks a buffer
//! from the shared pool when bytes arrive) guarded by a linked timeout for
//! the header timeout, a timeout op for the think time, a send, a close.
//! One thread submits them in batches, sleeps in `io_uring_enter` until
//! something has *finished*, and advances each connection by one step per
//! completion. Ten thousand connections waiting out their think time are
//! ten thousand timeout operations in the kernel and ten thousand small
//! structs here: no stack, no buffer, no thread each.
//!
//! Read it in this order: [`serve`] (set up), `Server::run` (submit, wait,
//! reap), `Server::complete` (which operation finished), then one
//! connection's steps in `impl Server` below it. Stopping (Ctrl-C) and the
//! accept's backoff are in [`stop`](super::stop).

use super::stop::Stopping;
use crate::ring::{Completion, Ring, RingSize};
use bytes::Bytes;
use io_uring::{cqueue, opcode, squeue, types};
use std::collections::VecDeque;
use std::io;
use std::net::TcpListener;
use std::os::fd::{AsRawFd, FromRawFd, IntoRawFd, OwnedFd};
use std::time::Duration;
use workload::serve::{parse_request, Pages, ServeConfig, Serving, Shutdown};

/// The ring of the server: room for many operations per turn, and a pool
/// of receive buffers that only requests arriving at the same moment share
/// (a request head is a few hundred bytes).
const RING: RingSize = RingSize {
    entries: 4096,
    buffers: 1024,
    buffer_size: 2048,
};

// ANCHOR: serve
/// Serve until Ctrl-C on one ring and this one thread.
pub fn serve(serving: Serving) -> io::Result<()> {
    let Serving {
        listener,
        config,
        pages,
        shutdown,
    } = serving;
    let ring = Ring::new(RING).map_err(|e| {
        io::Error::new(
            e.kind(),
            format!(
                "cannot set up an io_uring: {}",
                crate::availability::explain(&e)
            ),
        )
    })?;
    let mut server = Server {
        ring,
        listener,
        shutdown,
        pages,
        think: types::Timespec::from(config.latency),
        // The longest a send may wait for the client to read: the same
        // patience as for a head.
        stall: types::Timespec::from(config.header_timeout),
        config,
        conns: Vec::new(),
        free: Vec::new(),
        stopping: Stopping::default(),
        completions: Vec::new(),
        short_of_buffers: VecDeque::new(),
    };
    server.run()
}
// ANCHOR_END: serve

/// One connection: what the kernel's operations point to lives here, in
/// a box that stays put until the last of them has completed (the rule of
/// the fetch side's `Fetch`).
struct Conn {
    /// From the accept until the close is submitted.
    fd: Option<OwnedFd>,
    phase: Phase,
    /// Bytes received and not yet parsed: a head arriving in pieces, or
    /// the next pipelined request.
    unread: Vec<u8>,
    /// The request being answered, and its response (read by the kernel
    /// for `send`; `sent` bytes of it are out).
    request: Option<workload::serve::Request>,
    response: Bytes,
    sent: usize,
    /// Close after this response (a refusal, `Connection: close`).
    close_after: bool,
    /// The header deadline, on the kernel's clock (CLOCK_MONOTONIC):
    /// read by every linked timeout of the recvs of one head.
    head_by: types::Timespec,
    /// A recv of this connection is in the kernel.
    receiving: bool,
    /// Operations of this connection submitted and not yet completed.
    in_kernel: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Waiting for a whole request head.
    Reading,
    /// Waiting out the think time.
    Thinking,
    Sending,
    /// The close is submitted, or nothing is left to do.
    Closing,
}

/// Which operation a completion belongs to: `user_data` carries it in its
/// low byte, and above it the connection's slot plus one (0 for the
/// server's own operations: the accept, its backoff, the shutdown watch).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub(super) enum Op {
    Accept = 1,
    /// The pause after the accept ran out of descriptors.
    AcceptPause,
    /// The poll on the shutdown's descriptor.
    ShutdownWatch,
    /// A cancel request (its target completes on its own).
    Cancel,
    Recv,
    /// The linked timeout of a recv (the header timeout) or of a send.
    Deadline,
    Think,
    Send,
    Close,
}

impl Op {
    pub(super) fn user_data(self, conn: Option<usize>) -> u64 {
        (conn.map_or(0, |c| c as u64 + 1)) << 8 | self as u64
    }

    fn of(user_data: u64) -> (Option<usize>, Option<Op>) {
        let op = match user_data as u8 {
            1 => Some(Op::Accept),
            2 => Some(Op::AcceptPause),
            3 => Some(Op::ShutdownWatch),
            4 => Some(Op::Cancel),
            5 => Some(Op::Recv),
            6 => Some(Op::Deadline),
            7 => Some(Op::Think),
            8 => Some(Op::Send),
            9 => Some(Op::Close),
            _ => None,
        };
        let conn = (user_data >> 8).checked_sub(1).map(|c| c as usize);
        (conn, op)
    }
}

pub(super) struct Server {
    pub(super) ring: Ring,
    pub(super) listener: TcpListener,
    pub(super) shutdown: Shutdown,
    config: ServeConfig,
    pages: Pages,
    /// The think time and the send's stall limit, read by the kernel (it
    /// copies a timeout's time when it takes the entry; they also live as
    /// long as the server, which does not move while it runs).
    think: types::Timespec,
    stall: types::Timespec,
    /// Indexed by slot; `None` once the kernel holds nothing of it.
    conns: Vec<Option<Box<Conn>>>,
    free: Vec<usize>,
    /// The listener's operations, and the stop.
    pub(super) stopping: Stopping,
    completions: Vec<Completion>,
    /// Connections whose bytes arrived when no buffer was free, in order.
    short_of_buffers: VecDeque<usize>,
}

impl Server {
    // ANCHOR: run
    /// Submit, wait, reap, advance: until the server is stopping and the
    /// kernel holds nothing of it.
    fn run(&mut self) -> io::Result<()> {
        // The first two operations: "tell me when Ctrl-C has come" (a
        // poll on the shutdown's descriptor) and "accept every connection
        // as it comes" (one multishot accept: one completion per
        // connection, for as long as it stays armed).
        self.watch_shutdown();
        self.accept();
        loop {
            self.retry_recvs();
            if self.stopping.done(self.ring.in_kernel()) {
                return self.stopping.outcome();
            }
            // One system call: the kernel takes every entry queued since
            // the last turn, and this thread sleeps until at least one
            // operation has completed: a connection accepted, bytes
            // received, a think time over, a response sent.
            self.ring.submit_and_wait(1)?;
            let mut completions = std::mem::take(&mut self.completions);
            self.ring.reap(&mut completions);
            for completion in completions.drain(..) {
                self.complete(completion);
            }
            self.completions = completions;
        }
    }
    // ANCHOR_END: run

    // ANCHOR: complete
    /// One completion: the server's own operation, or one step of a
    /// connection.
    fn complete(&mut self, c: Completion) {
        let (slot, op) = Op::of(c.user_data);
        let Some(slot) = slot else {
            return match op {
                Some(Op::Accept) => self.accepted(c),
                Some(Op::AcceptPause) => self.pause_over(),
                Some(Op::ShutdownWatch) => self.stop_watch_fired(),
                _ => {}
            };
        };
        let Some(conn) = self.conns.get_mut(slot).and_then(Option::as_mut) else {
            return;
        };
        conn.in_kernel -= 1;
        match op {
            Some(Op::Recv) => self.received(slot, c.result, c.flags),
            Some(Op::Think) => self.thought(slot),
            Some(Op::Send) => self.sent(slot, c.result),
            // A linked timeout that fired has cancelled its recv or send,
            // which completes on its own with -ECANCELED; one that did not
            // fire completes with -ECANCELED once its operation is done.
            // A cancel request and a close: nothing to do.
            _ => {}
        }
        self.free_if_done(slot);
    }
    // ANCHOR_END: complete

    // ANCHOR: accept
    /// Arm the multishot accept. `SOCK_CLOEXEC` for every descriptor it
    /// makes.
    pub(super) fn accept(&mut self) {
        let accept = opcode::AcceptMulti::new(types::Fd(self.listener.as_raw_fd()))
            .flags(libc::SOCK_CLOEXEC)
            .build()
            .user_data(Op::Accept.user_data(None));
        self.stopping.accepting = true;
        // SAFETY: the entry points to nothing of ours but the listener,
        // which the server keeps open until the loop is over.
        unsafe { self.ring.push(&[accept]) };
    }

    /// An accept completed: a new connection's descriptor, or why not.
    /// `IORING_CQE_F_MORE` says the multishot accept is still armed.
    fn accepted(&mut self, c: Completion) {
        if !cqueue::more(c.flags) {
            self.stopping.accepting = false;
        }
        if c.result >= 0 {
            // SAFETY: a successful accept returns a new descriptor nothing
            // else in the process knows about: it is ours to own.
            let fd = unsafe { OwnedFd::from_raw_fd(c.result) };
            if !self.stopping.stopping {
                self.open(fd);
            }
        } else {
            self.accept_failed(-c.result);
        }
        if self.stopping.should_rearm() {
            self.accept();
        }
    }
    // ANCHOR_END: accept

    // ANCHOR: steps
    /// A new connection: keep its state in a box, and wait for its first
    /// request head.
    fn open(&mut self, fd: OwnedFd) {
        let conn = Box::new(Conn {
            fd: Some(fd),
            phase: Phase::Reading,
            unread: Vec::new(),
            request: None,
            response: Bytes::new(),
            sent: 0,
            close_after: false,
            head_by: types::Timespec::new(),
            receiving: false,
            in_kernel: 0,
        });
        let slot = match self.free.pop() {
            Some(slot) => {
                self.conns[slot] = Some(conn);
                slot
            }
            None => {
                self.conns.push(Some(conn));
                self.conns.len() - 1
            }
        };
        self.wait_for_head(slot);
    }

    /// Start waiting for a request head: the header timeout counts from
    /// now, as one deadline for every recv of this head.
    fn wait_for_head(&mut self, slot: usize) {
        let header_timeout = self.config.header_timeout;
        let conn = self.conn(slot);
        conn.phase = Phase::Reading;
        conn.head_by = types::Timespec::from(monotonic_now() + header_timeout);
        self.next_request(slot);
    }

    /// A whole head already read (a pipelined request) is answered at
    /// once; otherwise receive more.
    fn next_request(&mut self, slot: usize) {
        let stopping = self.stopping.stopping;
        let conn = self.conn(slot);
        match parse_request(&conn.unread) {
            Ok(Some(request)) => {
                conn.unread.drain(..request.len);
                if conn.unread.is_empty() {
                    conn.unread = Vec::new();
                }
                self.think(slot, request)
            }
            // Stopping: a connection between requests is closed.
            Ok(None) if stopping => self.close(slot),
            Ok(None) => self.recv(slot),
            Err(bad) => {
                let refusal = self.pages.refusal(&bad);
                let conn = self.conn(slot);
                conn.close_after = true;
                conn.response = refusal;
                conn.sent = 0;
                self.send(slot);
            }
        }
    }

    /// Submit a recv that names no buffer, only the pool (`BUFFER_SELECT`),
    /// linked to the header deadline (`IO_LINK` + `LINK_TIMEOUT`, absolute):
    /// if no whole head has come by then, the kernel cancels the recv.
    fn recv(&mut self, slot: usize) {
        let (group, size) = (self.ring.buffers.group(), self.ring.buffers.buffer_size());
        let conn = self.conn(slot);
        let Some(fd) = conn.fd.as_ref().map(|fd| types::Fd(fd.as_raw_fd())) else {
            return;
        };
        let recv = opcode::Recv::new(fd, std::ptr::null_mut(), size)
            .buf_group(group)
            .build()
            .flags(squeue::Flags::BUFFER_SELECT | squeue::Flags::IO_LINK)
            .user_data(Op::Recv.user_data(Some(slot)));
        let deadline = opcode::LinkTimeout::new(&conn.head_by)
            .flags(types::TimeoutFlags::ABS)
            .build()
            .user_data(Op::Deadline.user_data(Some(slot)));
        conn.receiving = true;
        conn.in_kernel += 2;
        // SAFETY: the timeout points to `head_by` in this boxed `Conn`,
        // kept until its `in_kernel` is back to zero (`free_if_done`).
        unsafe { self.ring.push(&[recv, deadline]) };
    }

    /// The recv completed: bytes in the buffer the completion names (copied
    /// out, the buffer given back at once), 0 if the client closed, or
    /// -ECANCELED if the header deadline (or the stop) came first.
    fn received(&mut self, slot: usize, result: i32, flags: u32) {
        self.conn(slot).receiving = false;
        if result == -libc::ENOBUFS {
            // Every buffer of the pool is taken by bytes not reaped yet: the
            // bytes wait in the socket until the recv is submitted again.
            self.short_of_buffers.push_back(slot);
            return;
        }
        let buffer = cqueue::buffer_select(flags);
        if result <= 0 {
            if let Some(bid) = buffer {
                self.ring.buffers.give_back(bid);
            }
            return self.close(slot);
        }
        let n = result as usize;
        let bytes = match buffer {
            // SAFETY: the id and the length are this recv completion's: the
            // kernel has finished writing the buffer and handed it to us.
            Some(bid) => unsafe { self.ring.buffers.filled(bid, n) },
            None => None,
        };
        let Some(bytes) = bytes else {
            return self.close(slot);
        };
        let conns = &mut self.conns;
        if let Some(conn) = conns.get_mut(slot).and_then(Option::as_mut) {
            conn.unread.extend_from_slice(bytes);
        }
        if let Some(bid) = buffer {
            self.ring.buffers.give_back(bid);
        }
        self.next_request(slot);
    }

    /// A whole request head: wait out the think time, from now. The
    /// timeout is an operation like the others; the kernel completes it
    /// (with -ETIME) when the time is up, and meanwhile this thread serves
    /// everyone else.
    fn think(&mut self, slot: usize, request: workload::serve::Request) {
        let zero = self.config.latency.is_zero();
        let think = &self.think as *const types::Timespec;
        let conn = self.conn(slot);
        conn.request = Some(request);
        if zero {
            return self.thought(slot);
        }
        conn.phase = Phase::Thinking;
        conn.in_kernel += 1;
        let timeout = opcode::Timeout::new(think)
            .build()
            .user_data(Op::Think.user_data(Some(slot)));
        // SAFETY: the timeout points to the server's `think`, which lives
        // (unmoved) until the loop is over, and the kernel copies it when
        // it takes the entry.
        unsafe { self.ring.push(&[timeout]) };
    }

    /// The think time is over: send the response.
    fn thought(&mut self, slot: usize) {
        let conn = self.conns[slot].as_mut().expect("a live connection");
        let Some(request) = conn.request else {
            return self.close(slot);
        };
        conn.response = self.pages.response(&request);
        conn.sent = 0;
        conn.close_after = !request.keep_alive;
        self.send(slot);
    }

    /// Submit a send of what is left of the response, linked to a stall
    /// limit: a client that stops reading cannot hold it forever.
    fn send(&mut self, slot: usize) {
        let stall = &self.stall as *const types::Timespec;
        let conn = self.conn(slot);
        let Some(fd) = conn.fd.as_ref().map(|fd| types::Fd(fd.as_raw_fd())) else {
            return;
        };
        conn.phase = Phase::Sending;
        let rest = &conn.response[conn.sent..];
        let send = opcode::Send::new(fd, rest.as_ptr(), rest.len() as u32)
            .flags(libc::MSG_NOSIGNAL)
            .build()
            .flags(squeue::Flags::IO_LINK)
            .user_data(Op::Send.user_data(Some(slot)));
        let deadline = opcode::LinkTimeout::new(stall)
            .build()
            .user_data(Op::Deadline.user_data(Some(slot)));
        conn.in_kernel += 2;
        // SAFETY: the send reads `response`, owned by this boxed `Conn`
        // and not replaced until this send has completed; the timeout
        // points to the server's `stall`, as `think` above.
        unsafe { self.ring.push(&[send, deadline]) };
    }

    /// The send completed: bytes sent (a short send sends the rest), or
    /// an error (the client left: EPIPE, ECONNRESET). A whole response:
    /// the next request on a kept-alive connection, else close.
    fn sent(&mut self, slot: usize, result: i32) {
        if result < 0 {
            return self.close(slot);
        }
        let stopping = self.stopping.stopping;
        let conn = self.conn(slot);
        conn.sent += result as usize;
        if conn.sent < conn.response.len() {
            return self.send(slot);
        }
        conn.response = Bytes::new();
        conn.request = None;
        if conn.close_after || stopping {
            return self.close(slot);
        }
        self.wait_for_head(slot);
    }

    /// Submit the close: the kernel closes the descriptor. The box stays
    /// until its last operation has completed.
    pub(super) fn close(&mut self, slot: usize) {
        let conn = self.conn(slot);
        conn.phase = Phase::Closing;
        if let Some(fd) = conn.fd.take() {
            conn.in_kernel += 1;
            let close = opcode::Close::new(types::Fd(fd.into_raw_fd()))
                .build()
                .user_data(Op::Close.user_data(Some(slot)));
            // SAFETY: nothing of ours; no other operation of this
            // connection uses the descriptor any more (one at a time, and
            // the last one has completed).
            unsafe { self.ring.push(&[close]) };
        }
    }
    // ANCHOR_END: steps

    /// The connection in `slot`, which is live.
    fn conn(&mut self, slot: usize) -> &mut Conn {
        self.conns[slot].as_mut().expect("a live connection")
    }

    /// Free the slot once the connection is closed and the kernel holds
    /// nothing of it.
    fn free_if_done(&mut self, slot: usize) {
        if let Some(conn) = &self.conns[slot] {
            if conn.phase == Phase::Closing && conn.fd.is_none() && conn.in_kernel == 0 {
                self.conns[slot] = None;
                self.free.push(slot);
            }
        }
    }

    /// Submit the recvs that found the pool empty, as many as there are
    /// buffers (the pool is full again by now).
    fn retry_recvs(&mut self) {
        for _ in 0..self.ring.buffers.count() {
            let Some(slot) = self.short_of_buffers.pop_front() else {
                return;
            };
            let waiting = |c: &Conn| c.phase == Phase::Reading && !c.receiving;
            if self.conns[slot].as_deref().is_some_and(waiting) {
                self.next_request(slot);
                self.free_if_done(slot);
            }
        }
    }

    /// At a stop, the connections waiting for a head are done: a recv in
    /// the kernel is cancelled (it completes with -ECANCELED, and the
    /// connection closes); one waiting for a buffer is closed now.
    pub(super) fn close_idle(&mut self) {
        let receiving: Vec<usize> = (self.conns.iter().enumerate())
            .filter(|(_, c)| {
                c.as_ref()
                    .is_some_and(|c| c.phase == Phase::Reading && c.receiving)
            })
            .map(|(slot, _)| slot)
            .collect();
        for slot in receiving {
            let conn = self.conn(slot);
            conn.in_kernel += 1;
            let cancel = opcode::AsyncCancel::new(Op::Recv.user_data(Some(slot)))
                .build()
                .user_data(Op::Cancel.user_data(Some(slot)));
            // SAFETY: a cancel points to nothing; it names its target by
            // user_data.
            unsafe { self.ring.push(&[cancel]) };
        }
        for slot in std::mem::take(&mut self.short_of_buffers) {
            if self.conns[slot]
                .as_ref()
                .is_some_and(|c| c.phase == Phase::Reading)
            {
                self.close(slot);
                self.free_if_done(slot);
            }
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if self.ring.in_kernel() > 0 {
            // The loop stopped on an error with operations still in the
            // kernel, which may yet use the connections' memory: leak it
            // rather than free it under the kernel's feet.
            std::mem::forget(std::mem::take(&mut self.conns));
        }
    }
}

/// CLOCK_MONOTONIC now, the clock of io_uring's timeouts.
fn monotonic_now() -> Duration {
    nix::time::clock_gettime(nix::time::ClockId::CLOCK_MONOTONIC)
        .map(|t| Duration::new(t.tv_sec() as u64, t.tv_nsec() as u32))
        .unwrap_or_default()
}
