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
use std::rc::Rc;
use std::task::Poll;
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
        Ok(runtime) => runtime.block_on(crawl(plan, clock)),
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
async fn crawl(plan: &Plan, clock: Clock) -> Vec<Trace> {
    let plan = Rc::new(plan.clone());
    let mut tasks = Vec::with_capacity(plan.pages);
    for page in plan.all_pages() {
        // As in lesson 7: a spawned task runs only once this one yields.
        // Yielding every START_BATCH pages lets the runtime run the new
        // tasks, submit what they asked for and reap what has completed,
        // so the first pages send their requests while later ones are
        // still being created (without it, every connect is submitted
        // before the first request).
        if page.index % START_BATCH == START_BATCH - 1 {
            yield_now().await;
        }
        tasks.push(compio::runtime::spawn(page_task(plan.clone(), page, clock)));
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

// ANCHOR: page_task
/// One page's task: the fetch under the page's deadline.
async fn page_task(plan: Rc<Plan>, page: Page, clock: Clock) -> Trace {
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
