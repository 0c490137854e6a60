//! # Lesson 5, variant `sigio`: the socket sends a signal when it is ready
//!
//! The fourth of the five I/O models in 《Python(线程进程3)》, signal-driven
//! I/O. No selector is asked which sockets are ready: each socket is told
//! to *raise a signal* when its state changes. `F_SETOWN_EX` names the
//! thread to signal, `F_SETSIG` picks a real-time signal (real-time
//! signals queue, one instance per event, and each carries the descriptor
//! and the band - POLLIN, POLLOUT, POLLERR - in its `siginfo`), and
//! `O_ASYNC` switches it on. The thread keeps that signal blocked, so the
//! kernel queues it instead of interrupting anything, and collects it
//! synchronously with `sigtimedwait`: the thread's queue of pending signals
//! plays the part of epoll's ready list.
//!
//! It fetches every page on one thread. Why nobody serves sockets this way:
//! - Signals belong to the process. A stray one whose default action is
//!   "terminate" ends every thread, so the signals must be blocked, owned by
//!   one thread and drained before they are unblocked (`thread_signals.rs`);
//!   and no library can be sure nobody else uses the same signal number.
//! - A signal says the state *changed* (edge-like): every handler must read
//!   until `WouldBlock`, or the rest of the page is never announced again.
//! - One system call per event (`sigtimedwait` returns one signal), and
//!   three `fcntl` calls per socket to arm it, one to disarm it.
//! - The queue is bounded: RLIMIT_SIGPENDING (`ulimit -i`), per real user,
//!   shared by all of that user's processes. When a real-time signal cannot
//!   be queued the kernel sends a plain SIGIO instead, which says only
//!   "events were lost". Recovering means polling every descriptor, that
//!   is, having a selector after all; here the pages in flight fail, named.
//! - A signal queued for a socket that has closed since still arrives, and
//!   its descriptor number may belong to a newer page by then: readiness
//!   is a hint that every handler must be ready to find untrue.

use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};
use std::time::{Duration, Instant};

use nix::fcntl::{fcntl, FcntlArg, OFlag};
use nix::libc::{self, c_int, c_long};
use nix::sys::signal::SigSet;
use socket2::{Domain, Protocol, SockAddr, Socket, Type};
use workload::Trace;
use workload::{Clock, Deadline, ErrorKind, FetchError, Page, Plan, Progress, ResponseReader};

mod thread_signals;
use thread_signals::{ThreadSignals, Woken};

use crate::timers::sooner;
use crate::{retry, START_BATCH};

/// Signals taken in one turn before the deadlines are looked at again.
const SIGNALS_PER_TURN: usize = 1024;

// ANCHOR: sigio_fetch
/// Every page on this thread, each socket announcing itself by a signal.
pub fn fetch_all(plan: &Plan) -> Vec<Trace> {
    let clock = Clock::start();
    // Before the first socket is armed: from here on the kernel queues
    // our signals for this thread instead of delivering them.
    let signals = match ThreadSignals::block() {
        Ok(signals) => signals,
        Err(e) => {
            let error = FetchError::new(
                ErrorKind::Resource,
                format!("cannot block the I/O signals in this thread: {e}"),
            );
            return workload::fail_every_page(plan, &error);
        }
    };
    let mut run = SignalLoop::new(signals, plan.pages);
    for page in plan.all_pages() {
        run.start(plan, &page, clock);
        // A quick turn every START_BATCH pages, as in `crawl`: the pages
        // already connected send their requests while the rest start, and
        // their signals leave the queue before the next batch adds more.
        if page.index % START_BATCH == START_BATCH - 1 {
            run.turn(Some(Duration::ZERO));
        }
    }
    while run.in_flight > 0 {
        run.turn(None);
    }
    run.finish()
}
// ANCHOR_END: sigio_fetch

// ---------------------------------------------------------------------------
// One page: a small state machine driven by its socket's signals.
// ---------------------------------------------------------------------------

enum Step {
    Connecting,
    Sending,
    Receiving,
}

struct SigPage {
    socket: Socket,
    addr: SockAddr,
    step: Step,
    request: Vec<u8>,
    sent: usize,
    response: ResponseReader,
    trace: Trace,
    /// `--cpu-us`: computing on the body, on this one thread.
    cpu: Duration,
}

// ANCHOR: sigio_page
impl SigPage {
    /// The socket raised its signal (or the page has just started): go as
    /// far as the socket lets us. `None`: wait for the next signal.
    fn on_signal(&mut self, band: c_long) -> Option<Result<(), FetchError>> {
        // Reached Receiving in this call: the bytes may have come while the
        // request was still going out, their signal already spent, so read
        // whatever the band says.
        let mut just_sent = false;
        loop {
            match self.step {
                Step::Connecting => {
                    // The first connect sends the SYN and returns "in
                    // progress"; when the handshake ends, well or badly,
                    // the socket raises POLLOUT (or POLLERR). The signal
                    // may be a stale one, so ask the socket itself, with
                    // the same call: connect again says "done" (0 or
                    // EISCONN), "not yet" (EALREADY) or why it failed.
                    match self.socket.connect(&self.addr) {
                        Ok(()) => {}
                        Err(e) if e.raw_os_error() == Some(libc::EISCONN) => {}
                        Err(e) if in_progress(&e) => return None,
                        Err(e) => return Some(Err(e.into())),
                    }
                    self.trace.connected();
                    self.step = Step::Sending;
                }
                Step::Sending => {
                    while self.sent < self.request.len() {
                        match (&self.socket).write(&self.request[self.sent..]) {
                            Ok(n) => self.sent += n,
                            // A full send buffer raises POLLOUT when it drains.
                            Err(e) if retry(&e) => return None,
                            Err(e) => return Some(Err(e.into())),
                        }
                    }
                    self.step = Step::Receiving;
                    just_sent = true;
                }
                Step::Receiving => {
                    // The band says what changed: "room to write" brings
                    // nothing to read.
                    let readable = (libc::POLLIN | libc::POLLERR | libc::POLLHUP) as c_long;
                    if band & readable == 0 && !just_sent {
                        return None;
                    }
                    return self.read_until_would_block();
                }
            }
        }
    }

    /// EDGE-LIKE: a signal is sent when bytes *arrive*, not while they sit
    /// unread. Reading once and waiting for the next signal would leave the
    /// rest of a large page unannounced until the timeout; so read until
    /// the socket says `WouldBlock`.
    fn read_until_would_block(&mut self) -> Option<Result<(), FetchError>> {
        let mut buf = [0u8; 16 * 1024];
        loop {
            let n = match (&self.socket).read(&mut buf) {
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return None,
                Err(e) => return Some(Err(e.into())),
            };
            if n > 0 {
                self.trace.first_byte();
            }
            match self.response.feed(&buf[..n]) {
                Ok(Progress::More) => {}
                Ok(Progress::Done) => return Some(Ok(())),
                Err(e) => return Some(Err(e)),
            }
        }
    }

    fn finish(self, outcome: Result<(), FetchError>) -> Trace {
        let result = outcome.and_then(|()| self.response.finish());
        if let Ok(body) = &result {
            workload::cpu::spend(self.cpu, body);
        }
        self.trace.finish(result)
    }
}
// ANCHOR_END: sigio_page

fn in_progress(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EINPROGRESS | libc::EALREADY | libc::EINTR)
    )
}

// ---------------------------------------------------------------------------
// The loop: sigtimedwait instead of a selector.
// ---------------------------------------------------------------------------

/// A deadline, in the order the pages started: every page has the same
/// timeout, so the queue is sorted by construction and the nearest
/// deadline is always at its front.
struct Due {
    fd: RawFd,
    page: usize,
    deadline: Deadline,
}

struct SignalLoop {
    /// Indexed by descriptor number, as in the event loop.
    pages: Vec<Option<SigPage>>,
    deadlines: VecDeque<Due>,
    in_flight: usize,
    done: Vec<Trace>,
    /// Set once signals were lost: the pages not yet started fail at once.
    broken: Option<FetchError>,
    /// Last, so that it is dropped after every socket is closed.
    signals: ThreadSignals,
}

impl SignalLoop {
    fn new(signals: ThreadSignals, pages: usize) -> Self {
        SignalLoop {
            pages: Vec::with_capacity(pages + 16),
            deadlines: VecDeque::with_capacity(pages),
            in_flight: 0,
            done: Vec::with_capacity(pages),
            broken: None,
            signals,
        }
    }

    // ANCHOR: sigio_start
    /// A socket armed to signal this thread, then its connect.
    fn start(&mut self, plan: &Plan, page: &Page, clock: Clock) {
        let trace = Trace::start(page, clock);
        if let Some(e) = &self.broken {
            return self.done.push(trace.finish(Err(e.clone())));
        }
        let deadline = Deadline::after(plan.timeout);
        // Armed *before* the connect: a handshake on loopback can end
        // before connect() even returns, and its signal must not be missed.
        let socket = match armed_socket(page, &self.signals) {
            Ok(socket) => socket,
            Err(e) => return self.done.push(trace.finish(Err(e.into()))),
        };
        let fd = socket.as_raw_fd();
        let mut sig_page = SigPage {
            socket,
            addr: page.addr.into(),
            step: Step::Connecting,
            request: page.request(),
            sent: 0,
            response: ResponseReader::new(plan.max_bytes),
            trace,
            cpu: plan.cpu,
        };
        if let Some(outcome) = sig_page.on_signal(0) {
            return self.close(sig_page, outcome);
        }
        let slot = fd as usize;
        if self.pages.len() <= slot {
            self.pages.resize_with(slot + 1, || None);
        }
        self.pages[slot] = Some(sig_page);
        self.deadlines.push_back(Due {
            fd,
            page: page.index,
            deadline,
        });
        self.in_flight += 1;
    }
    // ANCHOR_END: sigio_start

    // ANCHOR: sigio_turn
    /// One turn: the expired pages, one wait until the nearest deadline (at
    /// most `max_wait`), then every signal already queued.
    fn turn(&mut self, max_wait: Option<Duration>) {
        let now = Instant::now();
        self.expire(now);
        if self.in_flight == 0 {
            return;
        }
        let until_deadline = self
            .deadlines
            .front()
            .map(|d| d.deadline.at().saturating_duration_since(now));
        let timeout = sooner(until_deadline, max_wait);

        // ANCHOR: sigio_wait
        // The one blocking call: the thread sleeps until one of its
        // signals is pending or the nearest deadline comes. Meanwhile each
        // socket's wake-up in the kernel (handshake done, bytes in, FIN)
        // queues a signal for this thread, with the descriptor in it.
        let mut timeout = timeout;
        for _ in 0..SIGNALS_PER_TURN {
            match self.signals.wait(timeout) {
                Ok(Some(Woken::Ready { fd, band })) => self.ready(fd, band),
                Ok(Some(Woken::Lost)) => return self.lost_signals(),
                Ok(None) => return,
                Err(e) => return self.abandon(e),
            }
            // A signal per system call: take the rest without sleeping.
            timeout = Some(Duration::ZERO);
        }
        // ANCHOR_END: sigio_wait
    }
    // ANCHOR_END: sigio_turn

    fn ready(&mut self, fd: RawFd, band: c_long) {
        // No page there: a signal still queued for a socket already closed.
        let Some(page) = self.pages.get_mut(fd as usize).and_then(|p| p.as_mut()) else {
            return;
        };
        if let Some(outcome) = page.on_signal(band) {
            self.end(fd as usize, outcome);
        }
    }

    /// Fail the pages past their deadline; forget the deadlines of pages
    /// that ended, so that the front is the nearest one still to come.
    fn expire(&mut self, now: Instant) {
        while let Some(due) = self.deadlines.front() {
            let live = self
                .pages
                .get(due.fd as usize)
                .and_then(|p| p.as_ref())
                .is_some_and(|p| p.trace.page == due.page);
            if live && due.deadline.at() > now {
                break;
            }
            if let Some(due) = self.deadlines.pop_front() {
                if live {
                    self.end(due.fd as usize, Err(due.deadline.error()));
                }
            }
        }
    }

    fn end(&mut self, slot: usize, outcome: Result<(), FetchError>) {
        if let Some(page) = self.pages[slot].take() {
            self.in_flight -= 1;
            self.close(page, outcome);
        }
    }

    /// Disarm, then close. Closing alone would stop the signals only when
    /// the last descriptor for the socket goes, and a process forked by
    /// another thread holds a copy of every descriptor until its exec.
    fn close(&mut self, page: SigPage, outcome: Result<(), FetchError>) {
        let _ = disarm(page.socket.as_fd());
        self.done.push(page.finish(outcome));
    }

    /// The kernel sent SIGIO instead of a queued signal: an event of some
    /// page was lost, and nothing says which. Every page in flight fails.
    fn lost_signals(&mut self) {
        let error = thread_signals::lost_signals_error();
        self.broken = Some(error.clone());
        self.fail_all(error);
    }

    /// The wait itself failed: no page can hear from its socket any more.
    fn abandon(&mut self, e: io::Error) {
        self.fail_all(FetchError::new(
            ErrorKind::Io,
            format!("sigtimedwait failed: {e}"),
        ));
    }

    fn fail_all(&mut self, error: FetchError) {
        for slot in 0..self.pages.len() {
            self.end(slot, Err(error.clone()));
        }
    }

    /// The traces. Dropping `signals` then drains what is still queued and
    /// gives the thread its signal mask back.
    fn finish(mut self) -> Vec<Trace> {
        std::mem::take(&mut self.done)
    }
}

/// Pages still in flight when the loop goes (a panic in the middle of a
/// run, or a caller that stops early) are disarmed as `close` does, before
/// their sockets close: a copy of the descriptor held elsewhere (a child
/// forked by another thread, until its exec) would otherwise keep raising
/// signals for a thread that no longer takes them.
impl Drop for SignalLoop {
    fn drop(&mut self) {
        for page in self.pages.iter().flatten() {
            let _ = disarm(page.socket.as_fd());
        }
    }
}

// ---------------------------------------------------------------------------
// Arming a socket: three fcntl calls.
// ---------------------------------------------------------------------------

// ANCHOR: sigio_arm
/// A non-blocking TCP socket that raises the ready signal in this thread.
/// Taking `ThreadSignals` proves the signal is blocked here: armed
/// otherwise, the first event would run the signal's default action.
fn armed_socket(page: &Page, signals: &ThreadSignals) -> io::Result<Socket> {
    let socket = Socket::new(
        Domain::for_address(page.addr),
        Type::STREAM.nonblocking(),
        Some(Protocol::TCP),
    )?;
    arm(socket.as_fd(), signals)?;
    Ok(socket)
}

fn arm(fd: BorrowedFd<'_>, signals: &ThreadSignals) -> io::Result<()> {
    // Who: this thread, not the process (F_SETOWN would let the kernel
    // pick any thread of the process, one that has the signal unblocked).
    set_owner_thread(fd, signals.tid())?;
    // What: a real-time signal, queued once per event with fd and band,
    // instead of the default plain SIGIO that only says "something".
    set_signal(fd, signals.ready_signal())?;
    // When: from now on, at every change of the socket's state.
    set_async(fd, true)
}
// ANCHOR_END: sigio_arm

fn disarm(fd: BorrowedFd<'_>) -> io::Result<()> {
    set_async(fd, false)
}

fn set_async(fd: BorrowedFd<'_>, on: bool) -> io::Result<()> {
    let mut flags = OFlag::from_bits_retain(fcntl(fd, FcntlArg::F_GETFL)?);
    flags.set(OFlag::O_ASYNC, on);
    fcntl(fd, FcntlArg::F_SETFL(flags))?;
    Ok(())
}

// ---------------------------------------------------------------------------
// The system calls nix does not wrap (nor the libc crate's constants, on
// glibc). Each unsafe block is a single call whose arguments are checked
// by the types of the safe function around it.
// ---------------------------------------------------------------------------

// `<asm-generic/fcntl.h>` and the generic `siginfo_t` layout read below.
// A few architectures (alpha, mips, parisc, sparc) number or lay these out
// differently, where these numbers would name other commands: refuse to
// build there rather than guess.
#[cfg(not(any(
    target_arch = "x86",
    target_arch = "x86_64",
    target_arch = "arm",
    target_arch = "aarch64",
    target_arch = "riscv64",
    target_arch = "loongarch64"
)))]
compile_error!("sigio: the fcntl numbers and siginfo layout are checked only for x86, arm, riscv64 and loongarch64");

const F_SETSIG: c_int = 10;
const F_SETOWN_EX: c_int = 15;
const F_OWNER_TID: c_int = 0;

/// `struct f_owner_ex`.
#[repr(C)]
struct FOwnerEx {
    kind: c_int,
    pid: libc::pid_t,
}

/// `fcntl(F_SETOWN_EX, {F_OWNER_TID, tid})`: signal thread `tid` only.
fn set_owner_thread(fd: BorrowedFd<'_>, tid: nix::unistd::Pid) -> io::Result<()> {
    let owner = FOwnerEx {
        kind: F_OWNER_TID,
        pid: tid.as_raw(),
    };
    // SAFETY: `fd` is open for the call (BorrowedFd); the kernel reads one
    // `struct f_owner_ex` from `&owner`, which lives until the call returns.
    let r = unsafe { libc::fcntl(fd.as_raw_fd(), F_SETOWN_EX, &owner as *const FOwnerEx) };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// `fcntl(F_SETSIG, signal)`: which signal the socket raises.
fn set_signal(fd: BorrowedFd<'_>, signal: c_int) -> io::Result<()> {
    // SAFETY: `fd` is open for the call (BorrowedFd); F_SETSIG takes a
    // plain integer, and the kernel refuses a number that is no signal.
    let r = unsafe { libc::fcntl(fd.as_raw_fd(), F_SETSIG, signal) };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// A signal set of any signal numbers: nix's `SigSet::add` takes only the
/// standard signals, not the real-time ones.
fn signal_set(signals: &[c_int]) -> io::Result<SigSet> {
    let mut set = MaybeUninit::<libc::sigset_t>::uninit();
    // SAFETY: sigemptyset initialises the whole set that `set` points to.
    if unsafe { libc::sigemptyset(set.as_mut_ptr()) } != 0 {
        return Err(io::Error::last_os_error());
    }
    for &signal in signals {
        // SAFETY: the set was initialised above; sigaddset writes inside it
        // and refuses (EINVAL) a number out of range.
        if unsafe { libc::sigaddset(set.as_mut_ptr(), signal) } != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    // SAFETY: initialised by sigemptyset and sigaddset above.
    Ok(unsafe { SigSet::from_sigset_t_unchecked(set.assume_init()) })
}

/// The start of `siginfo_t` as the kernel fills it for an I/O signal: three
/// ints, then the `_sigpoll` member of the union (`si_band`, `si_fd`).
#[repr(C)]
#[derive(Clone, Copy)]
struct SigPollInfo {
    _signo: c_int,
    _errno: c_int,
    _code: c_int,
    band: c_long,
    fd: c_int,
}

const _: () = assert!(
    std::mem::size_of::<SigPollInfo>() <= std::mem::size_of::<libc::siginfo_t>()
        && std::mem::align_of::<SigPollInfo>() <= std::mem::align_of::<libc::siginfo_t>()
);

/// One pending signal of `set`, as (signal, fd, band): sigtimedwait, which
/// takes it out of the queue. `None`: nothing came within `timeout` (or a
/// handler of another signal ran; the caller looks again). `timeout: None`
/// waits without limit.
fn sigtimedwait(
    set: &SigSet,
    timeout: Option<Duration>,
) -> io::Result<Option<(c_int, RawFd, c_long)>> {
    let ts = timeout.map(|t| libc::timespec {
        tv_sec: t.as_secs().min(libc::time_t::MAX as u64) as libc::time_t,
        tv_nsec: t.subsec_nanos() as _,
    });
    let ts_ptr = ts
        .as_ref()
        .map_or(std::ptr::null(), |t| t as *const libc::timespec);
    let mut info = MaybeUninit::<libc::siginfo_t>::zeroed();
    // SAFETY: the set and the timespec (or null: no timeout) are live for
    // the call; the kernel writes at most one `siginfo_t` into `info`.
    let signo = unsafe { libc::sigtimedwait(set.as_ref(), info.as_mut_ptr(), ts_ptr) };
    if signo < 0 {
        let e = io::Error::last_os_error();
        return match e.raw_os_error() {
            Some(libc::EAGAIN | libc::EINTR) => Ok(None),
            _ => Err(e),
        };
    }
    // SAFETY: `info` was zeroed, then filled by the kernel; `SigPollInfo`
    // is a prefix of its layout (checked in size and alignment above), and
    // every field is a plain integer, valid for any bits. For a signal that
    // was not raised by a socket, fd and band are meaningless numbers that
    // the loop looks up and ignores.
    let poll = unsafe { *(info.as_ptr() as *const SigPollInfo) };
    Ok(Some((signo, poll.fd, poll.band)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    fn armed(fd: BorrowedFd<'_>) -> bool {
        let flags = OFlag::from_bits_retain(fcntl(fd, FcntlArg::F_GETFL).unwrap());
        flags.contains(OFlag::O_ASYNC)
    }

    /// A loop dropped with a page still in flight disarms its socket: a
    /// copy of the descriptor (what a child forked meanwhile would hold)
    /// no longer has O_ASYNC once the loop is gone.
    #[test]
    fn dropping_the_loop_disarms_the_sockets_in_flight() {
        // Listening but never answering: the page stays in flight.
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let plan = Plan::new(&url, 1).unwrap();
        let signals = ThreadSignals::block().unwrap();
        let mut run = SignalLoop::new(signals, 1);
        let page = plan.all_pages().next().unwrap();
        run.start(&plan, &page, Clock::start());
        assert_eq!(run.in_flight, 1, "the page is in flight");
        let copy = run
            .pages
            .iter()
            .flatten()
            .next()
            .unwrap()
            .socket
            .try_clone()
            .unwrap();
        assert!(armed(copy.as_fd()), "armed while in flight");
        drop(run);
        assert!(!armed(copy.as_fd()), "disarmed when the loop was dropped");
    }
}
