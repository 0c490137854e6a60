//! # Lesson 6: stackful coroutines, one `may` coroutine per page
//!
//! The seed's gevent example (`gevent.spawn(f, url)` for every URL, then
//! `gevent.joinall`) in Rust: every page gets a coroutine, and the
//! coroutine runs *the blocking code of lesson 1*, nearly line for line.
//! `connect`, `write`, `read` look blocking and return only when they are
//! done; what changed is underneath.
//!
//! `may::net::TcpStream` keeps its socket non-blocking and registered with
//! may's epoll. When a `read` would block, it does not put the thread to
//! sleep in the kernel the way `std::net::TcpStream` does: it saves this
//! coroutine's registers, switches to the scheduler (a few dozen
//! instructions, no system call), and the OS thread goes on running some
//! other coroutine. When epoll reports the socket readable (or the timer
//! fires) the coroutine is queued again and resumes inside the very `read`
//! call it was suspended in, with all its local variables where it left
//! them. That is the "stackful" part: the whole call chain, several frames
//! deep, is frozen on the coroutine's own stack. A Python generator (or a
//! Rust `async fn`) can only suspend in its own frame, which is why lesson 7
//! needs `async` and `.await` at every level on the way down (and lesson 5
//! a callback at every wait); a stackful coroutine can suspend anywhere
//! below it, so ordinary-looking code is enough (seed 003's table: "can
//! suspend inside nested functions").
//!
//! The price is also the stack: each coroutine owns a fixed-size stack
//! (`--stack-kb`), allocated up front, that cannot grow. Too small, and it
//! runs into a guard page (see README.md, "When the stack is too small").
//!
//! gevent has to monkey-patch Python's `socket` module to get the switch on
//! I/O; here the switch lives in the `may::net` types, so a call through
//! `std::net` (or any library that uses it) would block the whole worker
//! thread, with every coroutine queued on it. That is the first of may's
//! rules; the `// SAFETY:` comment on the spawn below goes through the others.

use may::coroutine::{Builder, JoinHandle};
use may::net::TcpStream;
use std::io::{Read, Write};
use std::sync::{Arc, Mutex, Once};
use std::thread::ThreadId;
use workload::{
    Clock, Concurrency, Deadline, ErrorKind, FetchError, Page, Plan, ResponseReader, Trace,
};

/// Stack of each coroutine when `--stack-kb` is not given, in KiB. Room to
/// spare for a debug build (which needs several times the stack of a
/// release build); the README measures what a page really uses.
pub const DEFAULT_STACK_KB: usize = 32;
/// The smallest stack: one 4 KiB page (may rounds sizes up to whole pages).
pub const MIN_STACK_KB: usize = 4;
/// The largest: as much as a thread's default main stack.
pub const MAX_STACK_KB: usize = 8 * 1024;

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
};

/// The lesson's own flag.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct StackFlags {
    /// Stack of each coroutine, in KiB (4 to 8192, rounded up to 4 KiB pages)
    #[arg(long = "stack-kb", value_name = "KB", value_parser = StackKb::parse, default_value = "32")]
    pub stack_kb: StackKb,
}

/// A coroutine stack size the lesson can use, in KiB: only
/// [`StackKb::parse`] makes one, so a plan cannot hold a bad size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StackKb(usize);

impl Default for StackKb {
    fn default() -> StackKb {
        StackKb(DEFAULT_STACK_KB)
    }
}

impl StackKb {
    pub fn get(self) -> usize {
        self.0
    }

    /// A `--stack-kb` value: a whole number of KiB between the limits.
    pub fn parse(text: &str) -> Result<StackKb, String> {
        match text.parse::<usize>() {
            Ok(kb) if (MIN_STACK_KB..=MAX_STACK_KB).contains(&kb) => Ok(StackKb(kb)),
            _ => Err(format!(
                "--stack-kb '{text}': give a whole number of KiB from {MIN_STACK_KB} to {MAX_STACK_KB}"
            )),
        }
    }
}

// ANCHOR: fetch_all
/// The seed's `gevent.joinall([gevent.spawn(f, url) for url in urls])`:
/// start one coroutine per page, then wait for all of them.
///
/// Spawning returns at once: the coroutine is only queued. may's worker
/// threads (one per core, started by the first spawn of the process) pick
/// the coroutines up, and each runs until its first socket call that would
/// block; then the worker takes the next one. So every page is in flight
/// within a few milliseconds (a few hundred for 10,000), on two OS threads.
pub fn fetch_all(plan: &Plan) -> Vec<Trace> {
    let clock = Clock::start();
    let stack_kb = plan.options::<StackFlags>().stack_kb.get();
    configure_may();
    let plan = Arc::new(plan.clone());
    let threads = Arc::new(Threads::default());
    let mut stacks_left = stack_budget();

    let handles: Vec<(Page, Result<JoinHandle<Trace>, FetchError>)> = plan
        .all_pages()
        .map(|page| {
            if stacks_left == 0 {
                return (
                    page,
                    Err(FetchError::new(ErrorKind::Resource, NO_MORE_STACKS)),
                );
            }
            stacks_left -= 1;
            let (plan, threads, p) = (plan.clone(), threads.clone(), page.clone());
            let builder = Builder::new().stack_size(stack_kb * 1024 / WORD);
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
            //    is at least one page; the default (32 KiB) is above the
            //    deepest use measured in a debug build (about 22 KiB; 6 KiB in
            //    release, see README.md) and the read buffer is kept small.
            //    An overflow runs into the guard page below the stack (Rust
            //    probes big frames page by page, so none can jump over it):
            //    may reports it and the page fails, see `joined`.
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
/// The same function as `sync_blocking::fetch`, over `may::net::TcpStream`.
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
    // stack is 8 MiB and nobody counts; here every byte on the stack is
    // paid once per page in flight. With 4 KiB the frames up to this read
    // spill onto a third page of the stack: 4 KiB more resident memory per
    // coroutine, 40 MB at 10,000 pages (README.md, "What a stack costs").
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
    response.finish()
}
// ANCHOR_END: fetch

// ANCHOR: configure_may
/// may's configuration is global to the process and is read when its
/// scheduler starts, at the first spawn; later calls have no effect on the
/// worker threads. So it is set once, here, before the first spawn.
fn configure_may() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let config = may::config();
        // may keeps a pool of ready-made coroutines (1000 by default,
        // created when the scheduler starts) for the ones spawned with the
        // config's stack size, and puts such a stack back in the pool when
        // its coroutine ends. Every coroutine here gets its size from the
        // Builder instead (so that runs with different --stack-kb can share
        // the process, as the tests do), in whole KiB, never the config's
        // 4098 words: so no stack goes back to the pool (not even one that
        // overflowed, which must not be reused), and the pool holds one.
        config.set_stack_size(POOL_STACK_WORDS);
        config.set_pool_capacity(1);
        // One worker thread per core (may's default), not pinned to a core:
        // this machine is shared, and a pinned worker cannot move away from
        // a busy core.
        config.set_worker_pin(false);
    });
}
// ANCHOR_END: configure_may

/// may measures stack sizes in machine words.
const WORD: usize = std::mem::size_of::<usize>();
/// The config's stack size: a size no Builder here asks for (see
/// `configure_may`). Even, because an odd size makes may fill the whole
/// stack to measure it (README.md, "Measuring the stack").
const POOL_STACK_WORDS: usize = 4096 + 2;

// ANCHOR: joined
/// Wait for one coroutine and take its trace. A coroutine that did not
/// return a trace panicked; the one way that happens here is a stack
/// overflow: the coroutine touched the guard page below its stack, may's
/// SIGSEGV handler printed "coroutine in thread '<unknown>' has overflowed
/// its stack", and may ended the coroutine with a `StackErr` instead of
/// letting the signal kill the process.
fn joined(handle: JoinHandle<Trace>, page: &Page, clock: Clock, stack_kb: usize) -> Trace {
    match handle.join() {
        Ok(trace) => trace,
        Err(panic) => {
            let detail = match panic.downcast_ref::<generator::Error>() {
                Some(generator::Error::StackErr) => format!(
                    "the coroutine overflowed its {stack_kb} KiB stack; give a larger --stack-kb"
                ),
                _ => "the coroutine panicked".to_string(),
            };
            failed(page, clock, FetchError::new(ErrorKind::Resource, detail))
        }
    }
}
// ANCHOR_END: joined

const NO_MORE_STACKS: &str =
    "no coroutine started: its stack would pass the kernel's limit on memory maps (vm.max_map_count)";

/// How many more coroutine stacks the kernel will map. Each stack is its
/// own mapping plus a guard page, two entries in the process's memory map,
/// and Linux caps the entries at `vm.max_map_count` (65530 by default):
/// about 32,000 coroutines alive at once. Running out makes may panic, so
/// the pages past the limit fail as `resource` instead.
fn stack_budget() -> usize {
    let read = |path: &str| std::fs::read_to_string(path).ok();
    let max = read("/proc/sys/vm/max_map_count").and_then(|s| s.trim().parse::<usize>().ok());
    let used = read("/proc/self/maps").map(|s| s.lines().count());
    match (max, used) {
        // Keep a margin for the allocator, the runtime and the other runs
        // of this process (the tests run several at once).
        (Some(max), Some(used)) => max.saturating_sub(used).saturating_sub(4096) / 2,
        _ => usize::MAX,
    }
}

/// A page that never ran.
fn failed(page: &Page, clock: Clock, e: FetchError) -> Trace {
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
