//! Variant `uring` (the default): completion I/O by hand, on one io_uring.
//!
//! Lesson 5's loop asked the kernel *which sockets are ready* and then did
//! each read itself. This loop asks the kernel to *do the operations*: it
//! writes "create a socket", "connect it", "send these bytes", "receive into
//! a buffer" as entries in the submission queue, enters the kernel once for
//! the whole batch, and later finds each result as an entry in the
//! completion queue. Meanwhile the kernel does the work itself: it runs the
//! handshake, waits for the bytes and copies them into our memory. The
//! program only reacts to what has *finished*.
//!
//! Read it in this order: [`fetch_with`] (set up the ring), `Crawl::run`
//! (submit, wait, reap), `Crawl::complete` (one page's state machine,
//! driven by completions).

use crate::ring::{Completion, Ring, RingSize, Stats};
use io_uring::{cqueue, opcode, squeue, types};
use socket2::SockAddr;
use std::collections::VecDeque;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, IntoRawFd, OwnedFd};
use std::time::{Duration, Instant};
use workload::{Clock, Deadline, ErrorKind, FetchError, Plan, Progress, ResponseReader, Trace};

/// The default variant: every page in flight on a ring of the default size.
pub fn fetch_all(plan: &Plan) -> Vec<Trace> {
    fetch_with(plan, RingSize::default()).0
}

// ANCHOR: fetch_with
/// Fetch every page of the plan on one ring of `size`, and say what the
/// ring did. A ring much smaller than the number of pages is fine: pages
/// wait in a backlog, and operations wait for room in the submission queue.
pub(crate) fn fetch_with(plan: &Plan, size: RingSize) -> (Vec<Trace>, Stats) {
    let clock = Clock::start();
    let ring = match Ring::new(size) {
        Ok(ring) => ring,
        Err(e) => {
            // No ring, no loop: every page fails, with the reason.
            let error = FetchError::new(
                ErrorKind::Resource,
                format!(
                    "cannot set up an io_uring: {}",
                    crate::availability::explain(&e)
                ),
            );
            return (workload::fail_every_page(plan, &error), Stats::default());
        }
    };
    let mut crawl = Crawl {
        plan,
        clock,
        backlog: 0..plan.pages,
        start_batch: (size.entries as usize).clamp(1, START_BATCH),
        holding: 0,
        pages: (0..plan.pages).map(|_| None).collect(),
        done: Vec::with_capacity(plan.pages),
        completions: Vec::new(),
        short_of_buffers: VecDeque::new(),
        ring,
    };
    crawl.run();
    (std::mem::take(&mut crawl.done), crawl.ring.stats)
}
// ANCHOR_END: fetch_with

// ---------------------------------------------------------------------------
// One page: what the program keeps, and what the kernel holds.
// ---------------------------------------------------------------------------

// ANCHOR: fetch
/// One page in flight.
///
/// THE OWNERSHIP RULE. With readiness (lessons 4 and 5) a buffer is only
/// *lent* to the kernel for the length of one `read` call: the call
/// returns, the kernel is done with it, and the buffer can live on the
/// loop's stack. Here an operation is *submitted* and the call returns at
/// once, while the kernel still has the operation's pointers: the address
/// to connect to, the request to send, the deadline, the socket. It uses
/// them at some later moment, on its own, until the completion arrives.
/// So everything an operation points to lives here, in a heap allocation
/// owned by the page (boxed: it does not move when the table grows), and
/// the page is freed only when `in_kernel`, the count of its operations
/// not yet completed, is back to zero - even after the page has ended,
/// even when it timed out and its operation was cancelled: a cancel is a
/// request too, and the cancelled operation still completes (with
/// `-ECANCELED`) before its memory is ours again.
///
/// The receive buffer is the one exception: the page has none. Its recv
/// says "any buffer of group 0", and the kernel takes one from the shared
/// pool (see `bufring.rs`) only when bytes arrive. A page that waits a
/// second for its first byte costs no buffer during that second, so ten
/// thousand waiting pages cost what ten thousand of these structs cost.
struct Fetch {
    /// The program's side; `None` once the page has ended.
    live: Option<Live>,
    /// The socket, from the `socket` completion until `close` is submitted.
    socket: Option<OwnedFd>,
    /// Read by the kernel for `connect`.
    addr: SockAddr,
    /// Read by the kernel for `send`; `sent` bytes of it are out.
    request: Vec<u8>,
    sent: usize,
    /// The page's deadline as a point on the kernel's clock
    /// (CLOCK_MONOTONIC), read by every linked timeout of the page.
    timeout_at: types::Timespec,
    /// Operations of this page submitted and not yet completed.
    in_kernel: usize,
}

/// What only the program looks at.
struct Live {
    trace: Trace,
    deadline: Deadline,
    response: ResponseReader,
    /// `--cpu-us`: computing on the body once it is whole, on this thread.
    cpu: std::time::Duration,
}
// ANCHOR_END: fetch

/// Which operation a completion belongs to. `user_data` carries it in
/// its low byte and the page's index above it: the kernel hands the
/// number back untouched with the completion.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
enum Step {
    Socket = 1,
    Connect,
    Send,
    Recv,
    /// The linked timeout that guards a connect, send or recv.
    Timeout,
    Close,
}

impl Step {
    fn user_data(self, page: usize) -> u64 {
        (page as u64) << 8 | self as u64
    }

    fn of(user_data: u64) -> (usize, Option<Step>) {
        let step = match user_data as u8 {
            1 => Some(Step::Socket),
            2 => Some(Step::Connect),
            3 => Some(Step::Send),
            4 => Some(Step::Recv),
            5 => Some(Step::Timeout),
            6 => Some(Step::Close),
            _ => None,
        };
        ((user_data >> 8) as usize, step)
    }
}

// ---------------------------------------------------------------------------
// The loop.
// ---------------------------------------------------------------------------

/// Pages started per turn of the loop. Each start ends in a connect that
/// the kernel runs, handshake and all, inside the next `io_uring_enter`;
/// starting every page in one go would hold the first pages' requests back
/// until the last page has connected. Lesson 5 starts pages in batches of
/// the same size, for the same reason.
const START_BATCH: usize = 256;

struct Crawl<'p> {
    plan: &'p Plan,
    clock: Clock,
    /// Pages not started yet.
    backlog: std::ops::Range<usize>,
    /// Pages started per turn: START_BATCH, or fewer for a small ring.
    start_batch: usize,
    /// Pages the kernel still holds something of (a socket, from its
    /// creation to the completion of its close): never more than
    /// `plan.in_flight()`, the pages the open-file limit has room for
    /// (or `--workers`). A page beyond waits in the backlog for one to end.
    holding: usize,
    /// Indexed by page: `None` before the start and once the kernel holds
    /// nothing of the page any more.
    pages: Vec<Option<Box<Fetch>>>,
    done: Vec<Trace>,
    /// Reaped completions of the current turn (kept to reuse its memory).
    completions: Vec<Completion>,
    /// Pages whose bytes arrived when no buffer was free, in order.
    short_of_buffers: VecDeque<usize>,
    ring: Ring,
}

impl Crawl<'_> {
    // ANCHOR: run
    /// Submit, wait, reap, advance: until every page has ended and the
    /// kernel holds nothing.
    fn run(&mut self) {
        loop {
            self.start_pages();
            self.retry_recvs();
            if self.backlog.is_empty() && self.ring.in_kernel() == 0 {
                return;
            }
            // One system call: the kernel takes every entry queued since
            // the last turn (tens or thousands, for any pages), and this
            // thread sleeps until at least one operation has completed.
            // While pages are still waiting to start, and there is room
            // for them, it does not sleep: it collects what is ready and
            // goes on starting pages.
            let want = if self.room_to_start() { 0 } else { 1 };
            if let Err(e) = self.ring.submit_and_wait(want) {
                return self.abandon(e);
            }
            // Reap: the kernel has written each result into the
            // completion queue; no system call is needed to read them.
            let mut completions = std::mem::take(&mut self.completions);
            self.ring.reap(&mut completions);
            for completion in completions.drain(..) {
                self.complete(completion);
            }
            self.completions = completions;
        }
    }
    // ANCHOR_END: run

    // ANCHOR: start
    /// Start the next pages: the clock of each page (its deadline) starts
    /// now, and its first operation, `socket`, is queued. The kernel does
    /// not even create the socket before the next submit.
    fn start_pages(&mut self) {
        for _ in 0..self.start_batch {
            if !self.room_to_start() {
                return;
            }
            let Some(index) = self.backlog.next() else {
                return;
            };
            let page = self.plan.page(index);
            let deadline = Deadline::after(self.plan.timeout);
            let mut fetch = Box::new(Fetch {
                live: Some(Live {
                    trace: Trace::start(&page, self.clock),
                    deadline,
                    response: ResponseReader::new(self.plan.max_bytes),
                    cpu: self.plan.cpu,
                }),
                socket: None,
                addr: SockAddr::from(page.addr),
                request: page.request(),
                sent: 0,
                timeout_at: types::Timespec::from(kernel_time(&deadline)),
                in_kernel: 0,
            });
            let socket = opcode::Socket::new(
                fetch.addr.domain().into(),
                libc::SOCK_STREAM | libc::SOCK_CLOEXEC,
                libc::IPPROTO_TCP,
            )
            .build();
            fetch.submit(&mut self.ring, index, Step::Socket, socket);
            self.pages[index] = Some(fetch);
            self.holding += 1;
        }
    }

    /// A page waits to start, and a descriptor is free for it. Every page
    /// started holds a socket until its close completes; starting more
    /// than the open-file limit has room for would fail the extra pages'
    /// `socket` with EMFILE, and leave the page server (in this process,
    /// unless `--url` names one) no descriptor to accept them with.
    fn room_to_start(&self) -> bool {
        !self.backlog.is_empty() && self.holding < self.plan.in_flight()
    }
    // ANCHOR_END: start

    // ANCHOR: complete
    /// One completion: advance its page by one step. Each arm reads the
    /// result of what the kernel did and submits the page's next
    /// operation, or ends the page.
    fn complete(&mut self, c: Completion) {
        let (index, step) = Step::of(c.user_data);
        let Some(fetch) = self.pages.get_mut(index).and_then(Option::as_mut) else {
            return;
        };
        fetch.in_kernel -= 1;
        let ring = &mut self.ring;
        let next = match step {
            // The page ended earlier; this is the last word on one of its
            // operations (a cancelled timeout, the close).
            _ if fetch.live.is_none() => Next::Wait,
            Some(Step::Socket) => fetch.socket_created(ring, index, c.result),
            Some(Step::Connect) => fetch.connected(ring, index, c.result),
            Some(Step::Send) => fetch.sent(ring, index, c.result),
            Some(Step::Recv) => fetch.received(ring, index, c.result, c.flags),
            // A timeout that fired (-ETIME) has cancelled the operation it
            // guards, which completes on its own with -ECANCELED; one that
            // did not fire completes with -ECANCELED once its operation is
            // done. Either way there is nothing to do here.
            Some(Step::Timeout) | Some(Step::Close) | None => Next::Wait,
        };
        match next {
            Next::Wait => {}
            Next::BufferWanted => {
                ring.stats.buffer_waits += 1;
                self.short_of_buffers.push_back(index);
            }
            Next::Done(outcome) => fetch.end(ring, index, outcome, &mut self.done),
        }
        if fetch.live.is_none() && fetch.in_kernel == 0 {
            // The kernel holds nothing of this page any more: only now
            // may its memory go, and its place go to a page waiting.
            self.pages[index] = None;
            self.holding -= 1;
        }
    }
    // ANCHOR_END: complete

    /// Submit the recvs of pages whose bytes found the pool empty, as many
    /// as there are buffers: by now every buffer is back in the pool (a
    /// buffer is given back as soon as its completion has been read), and
    /// asking for more at once would only run the pool dry again.
    fn retry_recvs(&mut self) {
        for _ in 0..self.ring.buffers.count() {
            let Some(index) = self.short_of_buffers.pop_front() else {
                return;
            };
            if let Some(fetch) = self.pages[index].as_mut().filter(|f| f.live.is_some()) {
                if let Next::Done(outcome) = fetch.recv(&mut self.ring, index) {
                    fetch.end(&mut self.ring, index, outcome, &mut self.done);
                }
            }
        }
    }

    /// The ring itself failed: no completion will come, so every page
    /// still running fails with the reason. Their memory is left to the
    /// guard in `Drop` below.
    fn abandon(&mut self, e: io::Error) {
        let error = FetchError::new(ErrorKind::Io, format!("the io_uring failed: {e}"));
        for fetch in self.pages.iter_mut().flatten() {
            if let Some(live) = fetch.live.take() {
                self.done.push(live.trace.finish(Err(error.clone())));
            }
        }
        for index in self.backlog.by_ref() {
            let trace = Trace::start(&self.plan.page(index), self.clock);
            self.done.push(trace.finish(Err(error.clone())));
        }
    }
}

impl Drop for Crawl<'_> {
    fn drop(&mut self) {
        if self.ring.in_kernel() > 0 {
            // The loop stopped (an error, a panic) with operations still in
            // the kernel, which may yet write into or read from the pages'
            // memory: leak it rather than free it under the kernel's feet.
            // The ring leaks its buffers for the same reason.
            std::mem::forget(std::mem::take(&mut self.pages));
        }
    }
}

// ---------------------------------------------------------------------------
// One page's steps, each run when the previous operation has completed.
// ---------------------------------------------------------------------------

/// What a page does after a step.
enum Next {
    /// Its next operation is in the kernel (or nothing is left to do but
    /// collect completions): wait.
    Wait,
    /// Bytes arrived for it when the pool had no free buffer.
    BufferWanted,
    /// The page is over.
    Done(Result<(), FetchError>),
}

impl Fetch {
    // ANCHOR: steps
    /// `socket` completed: its result is the new descriptor. Submit the
    /// connect; the kernel sends the SYN and completes the operation when
    /// the handshake is over (or refused, or past the deadline).
    fn socket_created(&mut self, ring: &mut Ring, index: usize, result: i32) -> Next {
        if result < 0 {
            return Next::Done(Err(self.error(result)));
        }
        // SAFETY: a successful IORING_OP_SOCKET returns a new descriptor
        // that nothing else in the process knows about: it is ours to own.
        let socket = unsafe { OwnedFd::from_raw_fd(result) };
        let connect = opcode::Connect::new(
            types::Fd(socket.as_raw_fd()),
            self.addr.as_ptr().cast(),
            self.addr.len(),
        )
        .build();
        self.socket = Some(socket);
        self.submit_guarded(ring, index, Step::Connect, connect);
        Next::Wait
    }

    /// `connect` completed: 0, or why the handshake failed.
    fn connected(&mut self, ring: &mut Ring, index: usize, result: i32) -> Next {
        if result < 0 {
            return Next::Done(Err(self.error(result)));
        }
        if let Some(live) = self.live.as_mut() {
            live.trace.connected();
        }
        self.send(ring, index)
    }

    /// Submit a send of what is left of the request. The kernel copies
    /// the bytes into the socket's send buffer whenever there is room.
    fn send(&mut self, ring: &mut Ring, index: usize) -> Next {
        let fd = match self.fd() {
            Ok(fd) => fd,
            Err(e) => return Next::Done(Err(e)),
        };
        let rest = &self.request[self.sent..];
        let send = opcode::Send::new(fd, rest.as_ptr(), rest.len() as u32).build();
        self.submit_guarded(ring, index, Step::Send, send);
        Next::Wait
    }

    /// `send` completed: the number of bytes sent (a short send sends the
    /// rest). Then submit the first recv.
    fn sent(&mut self, ring: &mut Ring, index: usize, result: i32) -> Next {
        if result < 0 {
            return Next::Done(Err(self.error(result)));
        }
        self.sent += result as usize;
        if self.sent < self.request.len() {
            return self.send(ring, index);
        }
        self.recv(ring, index)
    }

    /// Submit a recv that names no buffer, only the group to take one from
    /// (`BUFFER_SELECT`): the kernel waits for bytes, then picks a free
    /// buffer, copies the bytes in and completes the operation.
    fn recv(&mut self, ring: &mut Ring, index: usize) -> Next {
        let fd = match self.fd() {
            Ok(fd) => fd,
            Err(e) => return Next::Done(Err(e)),
        };
        let recv = opcode::Recv::new(fd, std::ptr::null_mut(), ring.buffers.buffer_size())
            .buf_group(ring.buffers.group())
            .build()
            .flags(squeue::Flags::BUFFER_SELECT);
        self.submit_guarded(ring, index, Step::Recv, recv);
        Next::Wait
    }

    /// `recv` completed: `result` bytes are in the buffer the completion
    /// names; 0 is the end of the response (the server closed). Feed the
    /// reader, give the buffer back to the pool at once, and receive again
    /// unless the response is over.
    fn received(&mut self, ring: &mut Ring, index: usize, result: i32, flags: u32) -> Next {
        let buffer = cqueue::buffer_select(flags);
        if result == -libc::ENOBUFS {
            // Bytes arrived while every buffer of the pool was taken by
            // other pages' bytes not yet reaped. Nothing is lost: the bytes
            // wait in the socket until the recv is submitted again, once
            // buffers are back (`Crawl::retry_recvs`).
            return Next::BufferWanted;
        }
        if result < 0 {
            return Next::Done(Err(self.error(result)));
        }
        let n = result as usize;
        let Some(live) = self.live.as_mut() else {
            return Next::Wait;
        };
        if n > 0 {
            live.trace.first_byte();
        }
        let fed = match buffer {
            // SAFETY: the id and the length are this recv completion's: the
            // kernel has finished writing the buffer and handed it to us.
            Some(bid) => match unsafe { ring.buffers.filled(bid, n) } {
                Some(bytes) => live.response.feed(bytes),
                None => Err(impossible_buffer(bid, n)),
            },
            None if n == 0 => live.response.feed(&[]),
            None => Err(impossible_buffer(u16::MAX, n)),
        };
        if let Some(bid) = buffer {
            ring.buffers.give_back(bid);
        }
        match fed {
            Ok(Progress::More) => self.recv(ring, index),
            Ok(Progress::Done) => Next::Done(Ok(())),
            Err(e) => Next::Done(Err(e)),
        }
    }
    // ANCHOR_END: steps

    // ANCHOR: submit
    /// Queue one operation of this page.
    fn submit(&mut self, ring: &mut Ring, index: usize, step: Step, op: squeue::Entry) {
        let op = op.user_data(step.user_data(index));
        self.in_kernel += 1;
        // SAFETY: the entry points only into this boxed `Fetch` (address,
        // request, deadline) and to its socket, all kept until `in_kernel`
        // is back to zero (`Crawl::complete`), or leaked (`Crawl`'s Drop).
        unsafe { ring.push(&[op]) };
    }

    /// Queue `op` with a linked timeout behind it (`IO_LINK` +
    /// `IORING_OP_LINK_TIMEOUT`): if the page's deadline comes before the
    /// operation completes, the kernel cancels the operation, which then
    /// completes with `-ECANCELED`. The deadline is absolute (`ABS`), so
    /// every wait of the page shares the one limit from the page's start.
    fn submit_guarded(&mut self, ring: &mut Ring, index: usize, step: Step, op: squeue::Entry) {
        let op = op
            .user_data(step.user_data(index))
            .flags(squeue::Flags::IO_LINK);
        let timeout = opcode::LinkTimeout::new(&self.timeout_at)
            .flags(types::TimeoutFlags::ABS)
            .build()
            .user_data(Step::Timeout.user_data(index));
        self.in_kernel += 2;
        // SAFETY: as in `submit`; the timeout points to `self.timeout_at`.
        unsafe { ring.push(&[op, timeout]) };
    }
    // ANCHOR_END: submit

    /// The page is over: stamp its trace with the outcome, and submit the
    /// close (the kernel closes the descriptor; nothing of ours to wait
    /// for). The page's memory stays until its last completion.
    fn end(
        &mut self,
        ring: &mut Ring,
        index: usize,
        outcome: Result<(), FetchError>,
        done: &mut Vec<Trace>,
    ) {
        let Some(live) = self.live.take() else {
            return;
        };
        let result = outcome.and_then(|()| live.response.finish());
        if let Ok(body) = &result {
            workload::cpu::spend(live.cpu, body);
        }
        done.push(live.trace.finish(result));
        if let Some(socket) = self.socket.take() {
            // No other operation on the socket is in flight: the page has
            // one at a time, and this one has completed.
            let close = opcode::Close::new(types::Fd(socket.into_raw_fd())).build();
            self.submit(ring, index, Step::Close, close);
        }
    }

    /// The socket, for an operation on it.
    fn fd(&self) -> Result<types::Fd, FetchError> {
        match &self.socket {
            Some(socket) => Ok(types::Fd(socket.as_raw_fd())),
            None => Err(FetchError::new(
                ErrorKind::Io,
                "the page's socket is already closed",
            )),
        }
    }

    /// Name a failed operation. `-ECANCELED` is the linked timeout's work
    /// (nothing else cancels here): the page's timeout.
    fn error(&self, result: i32) -> FetchError {
        let Some(live) = &self.live else {
            return FetchError::new(ErrorKind::Io, "the page had already ended");
        };
        if result == -libc::ECANCELED || live.deadline.expired() {
            return live.deadline.error();
        }
        FetchError::from_io(&io::Error::from_raw_os_error(-result))
    }
}

fn impossible_buffer(bid: u16, n: usize) -> FetchError {
    FetchError::new(
        ErrorKind::Io,
        format!(
            "a recv completion named buffer {bid} with {n} bytes, which the pool does not have"
        ),
    )
}

/// `deadline` as a time on CLOCK_MONOTONIC, the clock of io_uring's
/// timeouts (and of `Instant`).
fn kernel_time(deadline: &Deadline) -> Duration {
    let now = nix::time::clock_gettime(nix::time::ClockId::CLOCK_MONOTONIC)
        .map(|t| Duration::new(t.tv_sec() as u64, t.tv_nsec() as u32))
        .unwrap_or_default();
    now + deadline.at().saturating_duration_since(Instant::now())
}

#[cfg(test)]
mod tests;
