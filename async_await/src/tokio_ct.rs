//! Variant `tokio` (the default): the tutorial's asyncio program, on tokio's
//! current-thread runtime.
//!
//! One thread runs everything. [`fetch`] is lesson 1's `blocking_way` with
//! `.await` after each call that used to block: where lesson 1's thread
//! slept in the kernel, this task hands control back to the runtime, which
//! polls another task or, when none is ready, sleeps in `epoll_wait` on
//! every socket at once. The runtime is the tutorial's event loop, its
//! reactor is lesson 5's epoll loop, and `.await` is the tutorial's
//! `yield from`. [`crawl`] around it is asyncio's toolbox in tokio's words:
//! `JoinSet` for `create_task` and `as_completed`, a `Semaphore` for
//! `--workers`, `timeout` for `wait_for`, `spawn_blocking` for
//! `run_in_executor`.

use indicatif::ProgressBar;
use std::future::Future;
use std::io;
use std::sync::Arc;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::sync::{watch, Semaphore};
use tokio::task::JoinSet;
use workload::{Body, Clock, ErrorKind, FetchError, Page, Plan, ResponseReader, Trace};

// ANCHOR: fetch_all
/// Build a current-thread runtime (one thread: this one) and run the crawl
/// on it, the tutorial's `loop.run_until_complete(main())`.
pub fn fetch_all(plan: &Plan) -> Vec<Trace> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all() // the I/O driver (epoll) and the timer wheel
        .build();
    run_on(runtime, plan, CpuWork::InTask)
}
// ANCHOR_END: fetch_all

// ANCHOR: crawl
/// The tutorial's `main()`: one task per page, results handled as they
/// complete.
///
/// `cancel` resolving (Ctrl-C in the binary, anything in a test) tells every
/// task still running to stop; each ends its page as `cancelled` and the
/// pages that had finished keep their results.
pub async fn crawl(
    plan: &Plan,
    cpu: CpuWork,
    bar: ProgressBar,
    cancel: impl Future<Output = ()>,
) -> Vec<Trace> {
    let clock = Clock::start();
    let save = match crate::save::Dir::of(plan) {
        Ok(dir) => dir.map(Arc::new),
        Err(e) => return workload::fail_every_page(plan, &e),
    };
    // `--workers K`: at most K pages between "permit acquired" and "done".
    // By default there are as many permits as pages: nothing waits.
    let limit = Arc::new(Semaphore::new(plan.in_flight()));
    let (stop, stopped) = watch::channel(false);
    let plan = Arc::new(plan.clone());

    // loop.create_task(fetch(url)) for every url. A spawned task does not
    // run yet: it waits in the runtime's queue until this task yields. So
    // every 16 pages this task yields, and the runtime runs the pages queued
    // so far and looks at epoll, so pages already connected send their
    // requests while later ones are still being created. Without the
    // yield, every connect is started before the first request goes out (a
    // connected page re-queues behind every page not yet started); the
    // README shows what that costs at 10,000 pages.
    let mut tasks = JoinSet::new();
    for page in plan.all_pages() {
        let job = Job {
            plan: plan.clone(),
            clock,
            cpu,
            limit: limit.clone(),
            stopped: stopped.clone(),
            save: save.clone(),
        };
        if page.index % 16 == 15 {
            tokio::task::yield_now().await;
        }
        tasks.spawn(job.page(page));
    }

    // as_completed: whichever task ends next, in any order. The select waits
    // on two things at once: the next finished task, and the cancel signal.
    let mut traces = Vec::with_capacity(plan.pages);
    let mut cancel = std::pin::pin!(cancel);
    let mut cancelling = false;
    loop {
        tokio::select! {
            finished = tasks.join_next() => match finished {
                Some(Ok(trace)) => {
                    bar.inc(1);
                    traces.push(trace);
                }
                // A task that panicked: its page is filled in below.
                Some(Err(_)) => bar.inc(1),
                None => break,
            },
            () = &mut cancel, if !cancelling => {
                cancelling = true;
                bar.set_message("cancelling");
                // Every task watches this channel; the send wakes them all.
                let _ = stop.send(true);
            }
        }
    }
    let lost = FetchError::new(ErrorKind::Io, "the page's task panicked");
    workload::every_page_once(&plan, clock, traces, &lost)
}
// ANCHOR_END: crawl

/// What every page task shares: the plan, the clock, the semaphore, the
/// cancel channel and the save directory (all cheap `Arc` clones: a spawned
/// task must own what it uses, since it may outlive any borrow).
struct Job {
    plan: Arc<Plan>,
    clock: Clock,
    cpu: CpuWork,
    limit: Arc<Semaphore>,
    stopped: watch::Receiver<bool>,
    save: Option<Arc<crate::save::Dir>>,
}

impl Job {
    // ANCHOR: page_task
    /// One page's task: wait for a permit, fetch under a timeout, compute,
    /// save; or stop early when the run is cancelled.
    async fn page(self, page: Page) -> Trace {
        let Job {
            plan,
            clock,
            cpu,
            limit,
            mut stopped,
            save,
        } = self;
        let mut trace = Trace::pending(&page, clock);
        let result = tokio::select! {
            // Look at the cancel signal first, so that after a cancel no
            // page still waiting for a permit gets one and starts.
            biased;
            () = cancelled(&mut stopped) => Err(FetchError::new(
                ErrorKind::Cancelled,
                "the run was cancelled (Ctrl-C) before this page finished",
            )),
            result = async {
                // `async with semaphore:` - the permit is given back when
                // `_permit` is dropped, however this block ends.
                let _permit = limit.acquire().await;
                trace.started();
                let keep = save.is_some();
                let fetched = tokio::time::timeout(
                    plan.timeout,
                    fetch(&plan, &page, &mut trace, keep),
                )
                .await;
                // The timeout dropped the unfinished fetch, and with it the
                // socket: that is all it takes to cancel a future.
                let body = fetched
                    .unwrap_or_else(|_elapsed| Err(FetchError::timeout(plan.timeout.as_millis())))?;
                let mut body = compute(&plan, cpu, body).await?;
                if let Some(dir) = &save {
                    save_page(dir, page.index, &mut body).await?;
                }
                Ok(body)
            } => result,
        };
        trace.finish(result)
    }
    // ANCHOR_END: page_task
}

// ANCHOR: fetch
/// The tutorial's `fetch(url)`: lesson 1's code, with `.await` where it blocked.
pub async fn fetch(
    plan: &Plan,
    page: &Page,
    trace: &mut Trace,
    keep_body: bool,
) -> Result<Body, FetchError> {
    // `yield from connect(sock, addr)`: tokio creates a non-blocking socket,
    // starts the connect (EINPROGRESS), registers the socket with its epoll
    // set and parks this task until the socket turns writable.
    let mut stream = TcpStream::connect(page.addr).await?;
    trace.connected();

    // `sock.send(get)`: a few dozen bytes fit in the send buffer at once, so
    // this write does not park in practice; if it did, `.await` would.
    stream.write_all(&page.request()).await?;

    let mut response = ResponseReader::new(plan.max_bytes);
    if keep_body {
        response = response.keep_body();
    }
    loop {
        // The tutorial's `on_readable`: wait until epoll says there are bytes
        // (or EOF), then read them. While parked here the task is a few
        // hundred bytes on the heap; no thread, no stack waits for it.
        stream.readable().await?;
        // This buffer lives only until the next `.await`, so it is on the
        // stack of the thread polling the task, not in the task itself
        // (see the `futures_are_small` test).
        let mut buf = [0u8; 4096];
        let n = match stream.try_read(&mut buf) {
            Ok(n) => n,
            // Readiness can be stale (another read drained the socket):
            // tokio has cleared it, so the next `readable()` really waits.
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
            Err(e) => return Err(e.into()),
        };
        if n > 0 {
            trace.first_byte();
        }
        // n == 0 is EOF: the server closed the connection (HTTP/1.0).
        if response.feed(&buf[..n])?.is_done() {
            break;
        }
    }
    response.finish()
}
// ANCHOR_END: fetch

/// Where a page's `--cpu-us` work runs once its body is in.
#[derive(Debug, Clone, Copy)]
pub enum CpuWork {
    /// In the page's own task, on the thread polling it: the current-thread
    /// runtime does the pages' work one after another (no socket is served
    /// meanwhile), the multi-thread runtime on all its workers at once.
    InTask,
    /// On tokio's blocking pool (`spawn_blocking`): the event loop's thread
    /// goes back to the sockets while other threads compute.
    Offloaded,
}

// ANCHOR: compute
/// `--cpu-us`: the page's own computing, once its body is complete.
async fn compute(plan: &Plan, cpu: CpuWork, body: Body) -> Result<Body, FetchError> {
    match cpu {
        CpuWork::InTask => {
            // Nothing else runs on this thread until it returns.
            workload::cpu::spend(plan.cpu, &body);
            Ok(body)
        }
        CpuWork::Offloaded if plan.cpu.is_zero() => Ok(body),
        CpuWork::Offloaded => {
            // The tutorial's `loop.run_in_executor(None, work, ...)`: a pool
            // thread computes, and this task waits for it like for a socket.
            let cpu = plan.cpu;
            tokio::task::spawn_blocking(move || {
                workload::cpu::spend(cpu, &body);
                body
            })
            .await
            .map_err(|e| FetchError::new(ErrorKind::Io, format!("the CPU work failed: {e}")))
        }
    }
}
// ANCHOR_END: compute

// ANCHOR: save_page
/// `--save`: write the body to a file without blocking the loop. A file
/// write can stall for as long as the disk likes, and on this one thread
/// that would stall every page; `spawn_blocking` runs it on tokio's pool of
/// blocking threads (the tutorial's `loop.run_in_executor(None, saveFile,
/// ...)`) and this task awaits the result like any other future. The
/// reqwest variant saves through here too.
pub(crate) async fn save_page(
    dir: &Arc<crate::save::Dir>,
    index: usize,
    body: &mut Body,
) -> Result<(), FetchError> {
    let bytes = body.body.take().unwrap_or_default();
    let dir = dir.clone();
    tokio::task::spawn_blocking(move || dir.write(index, &bytes))
        .await
        .unwrap_or_else(|e| {
            Err(FetchError::new(
                ErrorKind::Io,
                format!("--save: the write failed: {e}"),
            ))
        })
}
// ANCHOR_END: save_page

/// Run [`crawl`] on a runtime (current-thread or multi-thread: the async
/// code does not care), with a progress bar on a terminal and Ctrl-C as the
/// cancel signal.
pub fn run_on(
    runtime: io::Result<tokio::runtime::Runtime>,
    plan: &Plan,
    cpu: CpuWork,
) -> Vec<Trace> {
    let runtime = match runtime {
        Ok(rt) => rt,
        Err(e) => {
            let e = FetchError::new(
                ErrorKind::Resource,
                format!("cannot start the tokio runtime: {e}"),
            );
            return workload::fail_every_page(plan, &e);
        }
    };
    let bar = workload::progress::bar(plan);
    let sigint = crate::sigint::Listen::start();
    let traces = runtime.block_on(crawl(plan, cpu, bar.clone(), sigint.ctrl_c()));
    // Drop the runtime (its reactor and timer) before SIGINT is restored.
    drop(runtime);
    drop(sigint);
    bar.finish_and_clear();
    traces
}

/// Resolves once the run is cancelled.
async fn cancelled(stopped: &mut watch::Receiver<bool>) {
    if stopped.wait_for(|stop| *stop).await.is_err() {
        // The sender is gone, so no cancel can come any more.
        std::future::pending::<()>().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use conformance::{Conn, ScenarioServer};

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    }

    /// The stackless point, checked: a fetch in flight is a small struct.
    /// Its 4 KiB read buffer is not in it, because no `.await` happens while
    /// the buffer is alive.
    #[test]
    fn futures_are_small() {
        let plan = Plan::new("http://127.0.0.1:9", 1).unwrap();
        let page = plan.page(0);
        let mut trace = Trace::pending(&page, Clock::start());
        let fut = fetch(&plan, &page, &mut trace, false);
        let size = std::mem::size_of_val(&fut);
        assert!(size < 1024, "a fetch future is {size} bytes");

        // The same read with the buffer alive across the `.await`: now the
        // buffer is part of the state machine, in every task.
        async fn holds_its_buffer(stream: &mut TcpStream) -> io::Result<usize> {
            use tokio::io::AsyncReadExt;
            let mut buf = [0u8; 4096];
            let n = stream.read(&mut buf).await?;
            Ok(n + usize::from(buf[0]))
        }
        async fn caller() {
            let mut stream = TcpStream::connect("127.0.0.1:9").await.unwrap();
            let _ = holds_its_buffer(&mut stream).await;
        }
        let big = std::mem::size_of_val(&caller());
        assert!(big > 4096, "{big} bytes, {size} without the buffer");
    }

    fn answer_or_hold(c: &mut Conn) {
        if c.page == 2 {
            c.hold();
        } else {
            c.send(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
        }
    }

    /// Cancelling keeps what finished and ends the rest as `cancelled`.
    #[test]
    fn cancel_keeps_finished_pages() {
        let server = ScenarioServer::start(answer_or_hold);
        let plan = Plan::new(&server.url(), 3).unwrap();
        let bar = ProgressBar::hidden();
        let seen = bar.clone();
        // Cancel as soon as two pages are done: the held page is still
        // waiting (its timeout is the default 10 s).
        let cancel = async move {
            while seen.position() < 2 {
                tokio::time::sleep(std::time::Duration::from_millis(5)).await;
            }
        };
        let traces = runtime().block_on(crawl(&plan, CpuWork::InTask, bar, cancel));
        assert_eq!(traces.len(), 3);
        assert!(traces[0].is_ok() && traces[1].is_ok(), "{traces:?}");
        assert_eq!(traces[2].error_kind(), Some(ErrorKind::Cancelled));
        assert!(traces[2].connected_ms.is_some(), "it was in flight");
    }

    /// A cancel before anything finished: every page, running or still
    /// waiting for a permit, ends as cancelled, and nothing hangs.
    #[test]
    fn cancel_reaches_pages_waiting_for_a_permit() {
        let server = ScenarioServer::start(Conn::hold);
        let mut plan = Plan::new(&server.url(), 4).unwrap();
        plan.workers = Some(1);
        let bar = ProgressBar::hidden();
        let cancel = async {
            while server.requests() < 1 {
                tokio::time::sleep(std::time::Duration::from_millis(5)).await;
            }
        };
        let traces = runtime().block_on(crawl(&plan, CpuWork::InTask, bar.clone(), cancel));
        assert!(traces
            .iter()
            .all(|t| t.error_kind() == Some(ErrorKind::Cancelled)));
        // Only the page holding the one permit had started.
        assert_eq!(traces.iter().filter(|t| t.start_ms.is_some()).count(), 1);
        assert_eq!(bar.position(), 4, "every page counted on the bar");
    }

    /// `--workers K`: never more than K pages between start and done.
    #[test]
    fn workers_cap_pages_in_flight() {
        let server = ScenarioServer::start(|c| {
            std::thread::sleep(std::time::Duration::from_millis(20));
            c.send(b"HTTP/1.0 200 OK\r\n\r\nslow");
        });
        let mut plan = Plan::new(&server.url(), 7).unwrap();
        plan.workers = Some(2);
        let traces = fetch_all(&plan);
        assert!(traces.iter().all(Trace::is_ok), "{traces:?}");
        let mut events: Vec<(f64, i32)> = Vec::new();
        for t in &traces {
            events.push((t.start_ms.unwrap(), 1));
            events.push((t.done_ms.unwrap(), -1));
        }
        // Ends sort before starts at the same instant.
        events.sort_by(|a, b| a.partial_cmp(b).unwrap());
        let mut now = 0;
        let most = events
            .iter()
            .map(|(_, d)| {
                now += d;
                now
            })
            .max();
        assert!(most <= Some(2), "{most:?} pages in flight with --workers 2");
    }
}
