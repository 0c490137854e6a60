//! Variant `compio`: the same fetch with async/await, on compio, a
//! runtime whose driver is an io_uring (the `uring` variant's loop, with
//! futures on top).
//!
//! Put `fetch` below beside lesson 7's tokio version: the same lines, the
//! same `.await`s, one task per page, a timeout per page. One thing
//! differs, in every I/O call: tokio's `read(&mut buf)` *borrows* the
//! buffer, because tokio reads only after epoll has said "ready" and the
//! read is over when the call returns. compio's `read(buf)` *takes* the
//! buffer, by value, and gives it back with the result:
//! `BufResult(result, buf)`. The kernel writes into the buffer at some
//! moment between submission and completion, so for all that time nobody
//! else may hold it, not even the task that asked - Rust's ownership says
//! so in the types. And when a timeout drops a task's future in the
//! middle of a read, the buffer is not freed with it: compio cancels the
//! operation in the kernel and keeps the buffer until the cancelled
//! operation has completed.

use compio::io::{AsyncRead, AsyncWriteExt};
use compio::net::TcpStream;
use compio::BufResult;
use std::cell::Cell;
use std::rc::Rc;
use std::task::{Poll, Waker};
use workload::{Body, Clock, Deadline, ErrorKind, FetchError, Page, Plan, ResponseReader, Trace};

/// The buffer each page hands to the kernel for each recv. It is held by
/// the kernel while the page waits for its first byte, so pages in flight
/// times this is memory the run holds (the `uring` variant, with its
/// shared pool of provided buffers, holds none while pages wait).
const READ_BUF: usize = 2048;

// ANCHOR: fetch_all
/// Start a compio runtime on this thread (it sets up its io_uring) and run
/// the crawl on it: `loop.run_until_complete(main())` again.
pub fn fetch_all(plan: &Plan) -> Vec<Trace> {
    let clock = Clock::start();
    match compio::runtime::Runtime::new() {
        Ok(runtime) => {
            let plan = Rc::new(plan.clone());
            // The crawl runs as a task of its own, not as the future
            // block_on drives: see `crawl` for why.
            let crawl = crawl(plan.clone(), clock);
            let outcome = runtime.block_on(async { compio::runtime::spawn(crawl).await });
            outcome.unwrap_or_else(|_| {
                let lost = FetchError::new(ErrorKind::Io, "the crawl task panicked");
                workload::fail_every_page(&plan, &lost)
            })
        }
        Err(e) => {
            let error = FetchError::new(
                ErrorKind::Resource,
                format!(
                    "cannot start the compio runtime: {}",
                    crate::availability::explain(&e)
                ),
            );
            workload::fail_every_page(plan, &error)
        }
    }
}
// ANCHOR_END: fetch_all

// ANCHOR: crawl
/// One task per page, their traces collected in page order. compio's
/// runtime is one thread, like tokio's current-thread runtime: tasks need
/// not be `Send`, so they share the plan through an `Rc`.
///
/// The crawl is a spawned task, and that matters past a few thousand
/// pages. `block_on` polls the future it was given on *every* turn of
/// its loop, woken or not, and a turn runs at most 61 tasks before it
/// looks at the ring. A crawl polled there would start 256 pages a turn
/// while the runtime ran 61: thousands of pages never polled would pile
/// up ahead of the pages whose connect had completed, whose requests
/// would go out seconds after the page server accepted them (at 15,000
/// pages, later than its 5 s header timeout: the server closed them
/// unanswered). A spawned task waits its turn in the queue like any
/// other: after its yield it runs again only once the pages ahead of it,
/// new or woken, have run.
async fn crawl(plan: Rc<Plan>, clock: Clock) -> Vec<Trace> {
    // `--workers`, and the open-file limit: at most this many pages hold
    // a socket at once (tokio's variant uses a Semaphore).
    let slots = Slots::new(plan.in_flight());
    let mut tasks = Vec::with_capacity(plan.pages);
    for page in plan.all_pages() {
        // As in lesson 7: a spawned task runs only once this one yields.
        // Yielding every START_BATCH pages lets the runtime run the new
        // tasks, submit what they asked for and reap what has completed,
        // so the first pages send their requests while later ones are
        // still being created.
        if page.index % START_BATCH == START_BATCH - 1 {
            yield_now().await;
        }
        // No room: wait here until a page ends and gives its slot back.
        let slot = slots.take().await;
        let task = page_task(plan.clone(), page, clock, slot);
        tasks.push(compio::runtime::spawn(task));
    }
    let mut traces = Vec::with_capacity(tasks.len());
    for (index, task) in tasks.into_iter().enumerate() {
        let trace = task.await.unwrap_or_else(|_| {
            let lost = FetchError::new(ErrorKind::Io, "the page's task panicked");
            Trace::start(&plan.page(index), clock).finish(Err(lost))
        });
        traces.push(trace);
    }
    traces
}
// ANCHOR_END: crawl

/// Pages spawned between two yields of the crawl task (lesson 5's loop
/// starts pages in batches of the same size).
const START_BATCH: usize = 256;

/// tokio's `yield_now`, which compio does not have: go back to the
/// runtime's queue once, behind the tasks already there.
async fn yield_now() {
    let mut yielded = false;
    std::future::poll_fn(|cx| {
        if std::mem::replace(&mut yielded, true) {
            return Poll::Ready(());
        }
        cx.waker().wake_by_ref();
        Poll::Pending
    })
    .await
}

/// Room for pages in flight: tokio's `Semaphore`, cut down to one thread
/// and one waiter (the crawl).
struct Slots {
    free: Cell<usize>,
    crawl: Cell<Option<Waker>>,
}

/// A page's room; given back when the page's task drops it.
struct Slot(Rc<Slots>);

impl Slots {
    fn new(room: usize) -> Rc<Slots> {
        Rc::new(Slots {
            free: Cell::new(room.max(1)),
            crawl: Cell::new(None),
        })
    }

    /// A slot, as soon as one is free.
    async fn take(self: &Rc<Self>) -> Slot {
        std::future::poll_fn(|cx| match self.free.get() {
            0 => {
                self.crawl.set(Some(cx.waker().clone()));
                Poll::Pending
            }
            n => {
                self.free.set(n - 1);
                Poll::Ready(Slot(self.clone()))
            }
        })
        .await
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.free.set(self.0.free.get() + 1);
        if let Some(crawl) = self.0.crawl.take() {
            crawl.wake();
        }
    }
}

// ANCHOR: page_task
/// One page's task: the fetch under the page's deadline, holding its slot
/// until it returns (its socket is closed by then).
async fn page_task(plan: Rc<Plan>, page: Page, clock: Clock, _slot: Slot) -> Trace {
    let mut trace = Trace::start(&page, clock);
    let deadline = Deadline::after(plan.timeout);
    let result = match compio::time::timeout(plan.timeout, fetch(&plan, &page, &mut trace)).await {
        Ok(result) => result.map_err(|e| deadline.name(e)),
        // The timeout dropped the unfinished fetch. Its operation in the
        // kernel is cancelled, and the buffer it took stays with the
        // runtime until the cancellation has completed.
        Err(_elapsed) => Err(deadline.error()),
    };
    trace.finish(result)
}
// ANCHOR_END: page_task

// ANCHOR: fetch
/// Lesson 1's code with `.await` where it blocked, as in lesson 7, but
/// every buffer goes to the kernel by value and comes back.
async fn fetch(plan: &Plan, page: &Page, trace: &mut Trace) -> Result<Body, FetchError> {
    // The runtime submits a connect and parks this task until its
    // completion arrives: the kernel does the whole handshake.
    let mut stream = TcpStream::connect(page.addr).await?;
    trace.connected();

    // The request is moved into the send operation; it comes back (unused
    // here) once the kernel has sent every byte.
    let BufResult(sent, _request) = stream.write_all(page.request()).await;
    sent?;

    let mut response = ResponseReader::new(plan.max_bytes);
    let mut buf = Vec::with_capacity(READ_BUF);
    loop {
        // tokio: `stream.read(&mut buf).await`. Here `buf` moves into the
        // recv: the kernel fills its spare capacity, whenever bytes come,
        // and the completion hands it back with the byte count.
        let BufResult(n, filled) = stream.read(buf).await;
        buf = filled;
        let n = n?;
        if n > 0 {
            trace.first_byte();
        }
        if response.feed(&buf[..n])?.is_done() {
            break;
        }
        // compio reads into the capacity past `len`: empty it, or the
        // next read would find no room and look like the end of file.
        buf.clear();
    }
    let body = response.finish()?;
    // `--cpu-us`: the page's computing, on the runtime's one thread.
    workload::cpu::spend(plan.cpu, &body);
    Ok(body)
}
// ANCHOR_END: fetch
