//! # Lesson 6: stackful coroutines, one `may` coroutine per page
//!
//! The tutorial's gevent example (`gevent.spawn(f, url)` for every URL,
//! then `gevent.joinall`): every page gets a coroutine, and the coroutine
//! runs *lesson 1's blocking code*, nearly line for line. What changed is
//! underneath: `may::net::TcpStream` suspends the coroutine where
//! `std::net::TcpStream` would put the thread to sleep, and the worker
//! thread runs another coroutine meanwhile. Each coroutine has a stack of
//! its own; [`stacks`] sizes and guards them. [`serve`] is the other side:
//! a coroutine per connection. The chapter is
//! `walkthrough/06-coroutine.md`.

// The `unsafe` code is may's spawn (here in `fetch_all`, and in `serve`),
// whose two rules the compiler cannot check; everything else is safe.
#![deny(unsafe_code)]

use may::coroutine::{Builder, JoinHandle};
use may::net::TcpStream;
use std::io::{Read, Write};
use std::sync::{Arc, Mutex};
use std::thread::ThreadId;
use workload::{Clock, Concurrency, Deadline, FetchError, Page, Plan, ResponseReader, Trace};

#[allow(unsafe_code)]
pub mod serve;
pub mod stacks;

use stacks::{configure_may, joined, words, StackBudget};
pub use stacks::{StackKb, DEFAULT_STACK_KB, MAX_STACK_KB, MIN_STACK_KB};

/// The lesson's table: its one variant and its one flag.
pub const LESSON: workload::Lesson = workload::Lesson {
    name: "coroutine",
    about: "Lesson 6: stackful coroutines with may, one per page, written like blocking code",
    variants: &[workload::Variant::new(
        "may",
        "one may coroutine per page over may::net::TcpStream (the tutorial's gevent)",
        Concurrency::All,
        fetch_all,
    )],
    flags: workload::Flags::of::<StackFlags>(),
    servers: &[workload::serve::ServeVariant::new(
        "may",
        "a may coroutine per connection: blocking-looking read, sleep and write",
        serve::serve,
    )],
    worker: None,
};

/// The lesson's own flag. Its help states the range from the same
/// constants the parser checks, so the two cannot disagree.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct StackFlags {
    #[arg(
        long = "stack-kb",
        value_name = "KB",
        value_parser = StackKb::parse,
        default_value_t = StackKb::default(),
        help = StackKb::help(),
    )]
    pub stack_kb: StackKb,
}

#[allow(unsafe_code)]
// ANCHOR: fetch_all
/// The tutorial's `gevent.joinall([gevent.spawn(f, url) for url in urls])`:
/// start one coroutine per page, then wait for all of them.
///
/// Spawning returns at once: the coroutine is only queued. may's worker
/// threads (one per core, started by the first spawn of the process) pick
/// the coroutines up, and each runs until its first socket call that would
/// block; then the worker takes the next one. So every page is soon in
/// flight, on as many OS threads as there are cores.
pub fn fetch_all(plan: &Plan) -> Vec<Trace> {
    let clock = Clock::start();
    let stack_kb = plan.options::<StackFlags>().stack_kb.get();
    configure_may();
    let plan = Arc::new(plan.clone());
    let threads = Arc::new(Threads::default());
    let mut stacks = StackBudget::now();

    let handles: Vec<(Page, Result<JoinHandle<Trace>, FetchError>)> = plan
        .all_pages()
        .map(|page| {
            // One more stack must fit under the kernel's mapping limit.
            if let Err(e) = stacks.take() {
                return (page, Err(e));
            }
            let (plan, threads, p) = (plan.clone(), threads.clone(), page.clone());
            let builder = Builder::new().stack_size(words(stack_kb));
            // SAFETY: may leaves two rules to the caller of spawn.
            // 1. Thread-local storage. A coroutine suspended on one worker
            //    thread may be resumed on another, so a thread local must
            //    not be used across a suspension point, i.e. across a may
            //    socket call. The coroutine below uses thread locals only
            //    inside calls that do not suspend (the allocator's caches,
            //    `thread::current()` in `Threads::index`), never holding one
            //    across a socket call, and it takes no lock across one
            //    either. Everything it owns is `Send` (`Arc<Plan>`, `Page`,
            //    `Clock`, `Arc<Threads>`), which the Builder's bounds check,
            //    so its stack may move between threads.
            // 2. The stack. It has a fixed size and cannot grow. `stack_kb`
            //    is at least `MIN_STACK_KB`, and a test in `stacks` runs
            //    the whole conformance suite on measured stacks and fails
            //    if this build's deepest use passes three quarters of
            //    that floor; the read buffer is kept small. An overflow
            //    runs into the guard page below the stack (Rust probes big
            //    frames page by page, so none can jump over it): may
            //    reports it and the page fails, see `stacks::joined`.
            let spawned =
                unsafe { builder.spawn(move || coroutine_way(&plan, &p, clock, &threads)) };
            (page, spawned.map_err(FetchError::from))
        })
        .collect();

    // gevent.joinall: the calling thread (not a coroutine) blocks on each
    // handle in turn. The order does not matter: the pages finish when they
    // finish, and each trace carries its own times.
    handles
        .into_iter()
        .map(|(page, handle)| match handle {
            Ok(handle) => joined(handle, &page, clock, stack_kb),
            Err(e) => failed(&page, clock, e),
        })
        .collect()
}
// ANCHOR_END: fetch_all

// ANCHOR: coroutine_way
/// One page on one coroutine: lesson 1's `blocking_way`, plus a note of
/// which OS thread finished it.
fn coroutine_way(plan: &Plan, page: &Page, clock: Clock, threads: &Threads) -> Trace {
    let mut trace = Trace::start(page, clock);
    let deadline = Deadline::after(plan.timeout);
    let result = fetch(plan, page, &deadline, &mut trace).map_err(|e| deadline.name(e));
    trace.worker = Some(threads.index());
    trace.finish(result)
}
// ANCHOR_END: coroutine_way

// ANCHOR: fetch
/// The same function as lesson 1's `fetch`, over `may::net::TcpStream`.
/// Every call that waited there suspends this coroutine here instead.
fn fetch(
    plan: &Plan,
    page: &Page,
    deadline: &Deadline,
    trace: &mut Trace,
) -> Result<workload::Body, FetchError> {
    // connect() sends the SYN from a non-blocking socket and, while the
    // handshake is in flight, parks the coroutine on the socket's epoll
    // registration (and on may's timer, for the timeout). The worker
    // thread is not parked: it runs the next coroutine.
    let mut sock = TcpStream::connect_timeout(&page.addr, deadline.remaining()?)?;
    trace.connected();

    // write() copies the request into the kernel's send buffer, which has
    // room: no suspension.
    sock.set_write_timeout(Some(deadline.remaining()?))?;
    sock.write_all(&page.request())?;

    // read() first tries the non-blocking read; with nothing there yet
    // (the server is still sitting on its latency) the coroutine is
    // suspended right here, in the middle of this loop, with `response`
    // and `buf` kept on its own stack, until epoll says "readable" or the
    // timeout passes. A timeout resumes it with a TimedOut error.
    let mut response = ResponseReader::new(plan.max_bytes);
    // The one line that is not lesson 1's: 1 KiB instead of 4. A thread's
    // stack (2 MiB for a thread Rust spawns) is large and nobody counts;
    // here every byte on the stack is paid once per page in flight. With
    // 4 KiB the frames up to this read spill onto one more page of the
    // stack (the chapter measures what that costs).
    let mut buf = [0u8; 1024];
    loop {
        // may's read timeout is a timer per read call; giving it what is
        // left of the page's deadline bounds the whole page, even if the
        // server drips one byte at a time.
        sock.set_read_timeout(Some(deadline.remaining()?))?;
        let n = sock.read(&mut buf)?;
        if n > 0 {
            trace.first_byte();
        }
        if response.feed(&buf[..n])?.is_done() {
            break;
        }
    }
    let body = response.finish()?;
    // `--cpu-us`: the page's computing runs on this coroutine, so on one of
    // may's worker threads: the other coroutines of that thread wait.
    workload::cpu::spend(plan.cpu, &body);
    Ok(body)
}
// ANCHOR_END: fetch

/// A page that never ran.
pub(crate) fn failed(page: &Page, clock: Clock, e: FetchError) -> Trace {
    Trace::start(page, clock).finish(Err(e))
}

/// Small numbers for the OS threads that ran the coroutines (may's worker
/// threads, one per core; each runs its own epoll loop and its own timers),
/// for the traces' `worker` field.
#[derive(Default)]
struct Threads(Mutex<Vec<ThreadId>>);

impl Threads {
    /// This thread's number. The lock is held for a few instructions and
    /// never across a suspension, so it cannot block a worker for long.
    fn index(&self) -> usize {
        let id = std::thread::current().id();
        let mut seen = self.0.lock().unwrap_or_else(|e| e.into_inner());
        match seen.iter().position(|&t| t == id) {
            Some(i) => i,
            None => {
                seen.push(id);
                seen.len() - 1
            }
        }
    }
}
