//! The parent's side of the workers: start them, talk to them, bury them.
//!
//! A [`Pool`] owns W child processes, each with two pipes: the parent writes
//! jobs into the child's stdin and reads frames from the child's stdout.
//! One thread (the caller's) serves every pipe: it sleeps in `poll(2)`
//! until some worker has written something, or died, or a watchdog is due.
//! That is what CPython's pool does too: its manager thread waits on every
//! result pipe and every process "sentinel" at once.
//!
//! The pool's promise: every child it started is waited for (reaped) before
//! the pool is gone, on every path (a normal end, a killed worker, a panic
//! in the parent, via `Drop`), so a run leaves no zombie behind; and each
//! worker asks the kernel to kill it if the parent dies, so none is orphaned.

use crate::frame::{self, FromWorker, Inbox, Job, WorkerUsage, PROTOCOL};
use crate::worker::{WorkerArgs, WORKER_FLAG};
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use std::collections::VecDeque;
use std::io::Read;
use std::os::fd::AsFd;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Child, ChildStdin, ChildStdout, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};
use workload::{Clock, ErrorKind, FetchError, Page, Plan, Trace};

/// A worker that has not said "ready" after this long is killed.
pub const STARTUP_LIMIT: Duration = Duration::from_secs(10);
/// A worker enforces the page's `--timeout-ms` itself; the parent gives it
/// this much more before it decides the worker is stuck and kills it.
pub const GRACE: Duration = Duration::from_secs(1);
/// After stdin is closed, a worker has this long to say goodbye and exit.
pub const EXIT_LIMIT: Duration = Duration::from_secs(5);

/// Where a worker is in its life.
#[derive(Debug, Clone, PartialEq)]
pub enum State {
    /// Spawned; its "ready" frame has not arrived yet.
    Starting,
    /// Ready; `job` says whether it has a page.
    Ready,
    /// Its stdin is closed: it is saying goodbye.
    Closing,
    /// Exited (or killed) and waited for; how it ended.
    Gone(String),
}

/// A page handed to a worker and not yet back.
#[derive(Debug, Clone)]
pub struct InFlight {
    pub page: Page,
    /// When the parent handed it over, on the run's clock.
    pub sent_ms: f64,
    /// When the watchdog's count started (the hand-over, or the moment the
    /// worker said ready, whichever is later).
    since: Instant,
}

/// One worker process as the parent sees it.
#[derive(Debug)]
pub struct Worker {
    pub id: usize,
    pub pid: u32,
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: ChildStdout,
    inbox: Inbox,
    /// Set once the child has been waited for: its exit status, or `None`
    /// if someone else collected it (a host that ignores SIGCHLD).
    reaped: Option<Option<ExitStatus>>,
    pub state: State,
    pub job: Option<InFlight>,
    /// Parent's clock just before `spawn()`, and how long `spawn()` took.
    pub spawn_ms: f64,
    pub spawn_took_ms: f64,
    /// The worker's own stamp when it was ready (same clock).
    pub ready_ms: Option<f64>,
    pub exit_ms: Option<f64>,
    pub pages: usize,
    /// Body bytes received from this worker through its pipe.
    pub piped_bytes: u64,
    /// For each page: parent had it - worker finished it, in ms.
    pub pipe_delays_ms: Vec<f64>,
    pub usage: Option<WorkerUsage>,
    spawned_at: Instant,
    closing_at: Option<Instant>,
}

/// What the parent learns from its workers.
#[derive(Debug)]
pub enum Event {
    /// A page came back (ok or failed, as the worker saw it).
    Done { worker: usize, trace: Trace },
    /// A worker is gone before its work was over: the page it was fetching,
    /// if any, failed with `error`.
    Lost {
        worker: usize,
        job: Option<InFlight>,
        error: FetchError,
    },
    /// A worker is gone before it said ready: the page waiting in its stdin,
    /// if any, was never started and goes back to the queue.
    Unstarted {
        worker: usize,
        page: Option<Page>,
        error: FetchError,
    },
}

/// W worker processes and the pipes to them.
pub struct Pool {
    pub workers: Vec<Worker>,
    /// Why starting a worker failed, when it did.
    pub spawn_error: Option<String>,
    /// The last reason a worker was lost, for pages no one is left to fetch.
    pub last_loss: Option<String>,
    clock: Clock,
    max_bytes: u64,
    timeout: Duration,
    events: VecDeque<Event>,
    /// Where read() puts what a pipe holds (a pipe holds 64 KiB at most).
    buf: Vec<u8>,
}

impl Pool {
    // ANCHOR: spawn
    /// Start `count` workers: the running binary again, with the worker
    /// flag, stdin and stdout piped to us. Each one gets its first page from
    /// `queue` as soon as it exists (the job waits in its stdin pipe until
    /// it is up), so early workers fetch while later ones are being started.
    /// Stops at the first failure; the pool then works with what it has.
    pub fn start(plan: &Plan, clock: Clock, count: usize, queue: &mut VecDeque<Page>) -> Pool {
        let mut pool = Pool {
            workers: Vec::with_capacity(count),
            spawn_error: None,
            last_loss: None,
            clock,
            max_bytes: plan.max_bytes,
            timeout: plan.timeout,
            events: VecDeque::new(),
            buf: vec![0; 64 * 1024],
        };
        // Python's "spawn" start method: a fresh interpreter that re-imports
        // the main module. Ours: a fresh process that re-runs this binary's
        // main. /proc/self/exe is the binary this process runs, even if the
        // file was rebuilt or deleted since. std's spawn() uses posix_spawn
        // (a vfork-style clone followed at once by exec), never a fork() that
        // would copy this multi-threaded process with its locks held.
        let exe = "/proc/self/exe";
        let name = std::env::args_os().next().unwrap_or_else(|| exe.into());
        for id in 0..count {
            let args = WorkerArgs {
                worker: id,
                parent_pid: std::process::id(),
                origin_ns: clock.origin_ns(),
                timeout: plan.timeout,
                max_bytes: plan.max_bytes,
            };
            let spawn_ms = clock.now_ms();
            let spawned_at = Instant::now();
            // ANCHOR: command
            let spawned = Command::new(exe)
                .arg0(&name)
                .arg(WORKER_FLAG)
                .args(args.to_args())
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::inherit())
                .spawn();
            // ANCHOR_END: command
            let mut child = match spawned {
                Ok(c) => c,
                Err(e) => {
                    pool.spawn_error =
                        Some(format!("cannot start worker {id} ({count} asked for): {e}"));
                    break;
                }
            };
            // Rust opens every pipe with O_CLOEXEC, so worker 5 does not
            // inherit worker 3's pipes: when we close worker 3's stdin, the
            // write end really is closed and worker 3 sees end of file.
            let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
                unreachable!("stdin and stdout were asked for as pipes")
            };
            pool.workers.push(Worker {
                id,
                pid: child.id(),
                child,
                stdin: Some(stdin),
                stdout,
                inbox: Inbox::default(),
                reaped: None,
                state: State::Starting,
                job: None,
                spawn_ms,
                spawn_took_ms: spawned_at.elapsed().as_secs_f64() * 1e3,
                ready_ms: None,
                exit_ms: None,
                pages: 0,
                piped_bytes: 0,
                pipe_delays_ms: Vec::new(),
                usage: None,
                spawned_at,
                closing_at: None,
            });
            if let Some(page) = queue.pop_front() {
                if let Err(page) = pool.submit(id, page) {
                    queue.push_front(page);
                }
            }
        }
        pool
    }
    // ANCHOR_END: spawn

    /// Workers still running (or starting).
    pub fn alive(&self) -> usize {
        self.workers
            .iter()
            .filter(|w| matches!(w.state, State::Starting | State::Ready))
            .count()
    }

    /// A worker that can take a page now: alive, with no page in hand.
    /// A starting worker counts: the job waits in its stdin pipe, and it
    /// finds it the moment it is up, without a round trip to the parent.
    pub fn idle(&self) -> Option<usize> {
        self.workers.iter().position(|w| {
            matches!(w.state, State::Starting | State::Ready)
                && w.job.is_none()
                && w.stdin.is_some()
        })
    }

    // ANCHOR: submit
    /// Hand `page` to worker `id`: one small frame into its stdin pipe. A
    /// pipe holds 64 KiB and a worker never has more than one job waiting,
    /// so this write never blocks. Gives the page back if the pipe is
    /// broken (the worker is dying; we will hear about it).
    pub fn submit(&mut self, id: usize, page: Page) -> Result<(), Page> {
        let now_ms = self.clock.now_ms();
        let w = &mut self.workers[id];
        let Some(stdin) = w.stdin.as_mut() else {
            return Err(page);
        };
        if frame::write_frame(stdin, &Job::new(&page), b"").is_err() {
            w.stdin = None;
            return Err(page);
        }
        w.job = Some(InFlight {
            page,
            sent_ms: now_ms,
            since: Instant::now(),
        });
        Ok(())
    }
    // ANCHOR_END: submit

    // ANCHOR: next_event
    /// Sleep until some worker has something to say, then say it.
    ///
    /// The one blocking call of the parent is `poll()` over the stdout pipes
    /// of all live workers: the kernel wakes us when one of them has bytes
    /// for us, or has closed its end (it exited, or was killed), or when
    /// the nearest watchdog is due. `None` when no worker is left to wait for.
    pub fn next_event(&mut self) -> Option<Event> {
        loop {
            if let Some(e) = self.events.pop_front() {
                return Some(e);
            }
            let watched: Vec<usize> = (0..self.workers.len())
                .filter(|&i| !matches!(self.workers[i].state, State::Gone(_)))
                .collect();
            if watched.is_empty() {
                return None;
            }
            let wait = self
                .next_watchdog()
                .saturating_duration_since(Instant::now());
            let timeout = PollTimeout::try_from(wait).unwrap_or(PollTimeout::MAX);
            let mut fds: Vec<PollFd> = watched
                .iter()
                .map(|&i| PollFd::new(self.workers[i].stdout.as_fd(), PollFlags::POLLIN))
                .collect();
            if let Err(e) = poll(&mut fds, timeout) {
                drop(fds);
                if e != nix::errno::Errno::EINTR {
                    // Cannot happen with valid pipes; if it does, the pool
                    // cannot watch its workers any more: end them all.
                    for i in watched {
                        self.lose(
                            i,
                            ErrorKind::Io,
                            format!("could not be watched: poll(): {e}"),
                            true,
                        );
                    }
                }
                continue;
            }
            let ready: Vec<usize> = fds
                .iter()
                .zip(&watched)
                .filter(|(fd, _)| fd.revents().is_some_and(|r| !r.is_empty()))
                .map(|(_, &i)| i)
                .collect();
            drop(fds);
            for i in ready {
                self.read_from(i);
            }
            self.watchdogs();
        }
    }
    // ANCHOR_END: next_event

    /// One read() from worker `i`'s pipe (poll said it will not block),
    /// then every whole frame in it.
    fn read_from(&mut self, i: usize) {
        let n = match self.workers[i].stdout.read(&mut self.buf) {
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => return,
            Err(e) => return self.lose(i, ErrorKind::Io, format!("its pipe failed: {e}"), false),
        };
        if n == 0 {
            // End of file: the worker closed its stdout, which in practice
            // means it exited or was killed.
            return self.ended(i);
        }
        self.workers[i].inbox.push(&self.buf[..n]);
        loop {
            let max = self.max_bytes;
            match self.workers[i].inbox.next::<FromWorker>(max) {
                Ok(Some((msg, body))) => {
                    if let Err(why) = self.handle(i, msg, body) {
                        return self.lose(i, ErrorKind::Io, why, true);
                    }
                }
                Ok(None) => return,
                Err(why) => {
                    return self.lose(i, ErrorKind::Io, format!("sent bytes that are {why}"), true)
                }
            }
        }
    }

    // ANCHOR: handle
    /// One message from worker `i`.
    fn handle(&mut self, i: usize, msg: FromWorker, body: Vec<u8>) -> Result<(), String> {
        let now_ms = self.clock.now_ms();
        let w = &mut self.workers[i];
        match msg {
            FromWorker::Ready {
                protocol,
                worker,
                pid,
                ready_ms,
            } => {
                if protocol != PROTOCOL || worker != w.id || pid != w.pid {
                    return Err(format!(
                        "said ready as {protocol} worker {worker} pid {pid}"
                    ));
                }
                w.state = State::Ready;
                w.ready_ms = Some(ready_ms);
                if let Some(job) = &mut w.job {
                    job.since = Instant::now();
                }
            }
            FromWorker::Done { trace } => {
                let Some(job) = w.job.take() else {
                    return Err(format!("sent page {} that it was not given", trace.page));
                };
                if trace.page != job.page.index {
                    return Err(format!(
                        "sent page {} for page {}",
                        trace.page, job.page.index
                    ));
                }
                // The page crossed the pipe; check it arrived as it left.
                let mut trace = trace.with_clock(self.clock);
                if trace.is_ok()
                    && (Some(body.len() as u64) != trace.bytes
                        || Some(crc32fast::hash(&body)) != trace.crc32)
                {
                    return Err(format!("sent page {} damaged through the pipe", trace.page));
                }
                trace.worker = Some(w.id);
                w.pages += 1;
                w.piped_bytes += body.len() as u64;
                if let Some(done) = trace.done_ms {
                    w.pipe_delays_ms.push((now_ms - done).max(0.0));
                }
                self.events.push_back(Event::Done { worker: i, trace });
            }
            FromWorker::Bye { usage } => w.usage = Some(usage),
        }
        Ok(())
    }
    // ANCHOR_END: handle

    /// Worker `i` closed its stdout. After a goodbye that is the normal end;
    /// otherwise it died, and its page with it.
    fn ended(&mut self, i: usize) {
        let status = self.reap(i, Duration::from_millis(500));
        let w = &mut self.workers[i];
        if w.state == State::Closing && w.usage.is_some() && status.is_some_and(|s| s.success()) {
            w.state = State::Gone(describe(status));
            return;
        }
        let before_ready = w.state == State::Starting;
        let mut why = format!("died: {}", describe(status));
        if before_ready {
            why = format!(
                "{} before it said ready (a binary that starts a pool must call \
                 multi_process::serve_if_worker() first in main)",
                describe(status)
            );
        }
        self.lose(i, ErrorKind::Io, why, false);
    }

    /// Worker `i` is lost: kill it if asked, reap it, fail its page.
    fn lose(&mut self, i: usize, kind: ErrorKind, why: String, kill: bool) {
        if kill {
            let _ = self.workers[i].child.kill();
        }
        let status = self.reap(i, Duration::ZERO);
        let w = &mut self.workers[i];
        let detail = format!("worker {} (pid {}) {why}", w.id, w.pid);
        w.state = State::Gone(describe(status));
        self.last_loss = Some(detail.clone());
        let job = w.job.take();
        let event = if w.ready_ms.is_none() {
            // It never said ready, so it never started the page waiting in
            // its stdin: that page is not lost, only not begun.
            Event::Unstarted {
                worker: i,
                page: job.map(|j| j.page),
                error: FetchError::new(ErrorKind::Resource, detail),
            }
        } else {
            Event::Lost {
                worker: i,
                job,
                error: FetchError::new(kind, detail),
            }
        };
        self.events.push_back(event);
    }

    // ANCHOR: reap
    /// Wait for worker `i` to exit and collect its status, so the kernel
    /// can free its process entry: a child that exits and is never waited
    /// for stays a zombie. `patience` is how long it may take to exit on its
    /// own before we kill it.
    fn reap(&mut self, i: usize, patience: Duration) -> Option<ExitStatus> {
        let w = &mut self.workers[i];
        w.stdin = None;
        if let Some(status) = w.reaped {
            return status;
        }
        // A worker that closed its pipe is exiting: its status is usually
        // there within microseconds, so look again soon, then less often.
        let until = Instant::now() + patience;
        let mut nap = Duration::from_micros(20);
        let status = loop {
            match w.child.try_wait() {
                Ok(Some(status)) => break Some(status),
                Ok(None) if Instant::now() < until => {
                    std::thread::sleep(nap);
                    nap = (nap * 2).min(Duration::from_millis(2));
                }
                Ok(None) => {
                    let _ = w.child.kill();
                    break w.child.wait().ok();
                }
                Err(_) => break None,
            }
        };
        w.reaped = Some(status);
        w.exit_ms = Some(self.clock.now_ms());
        status
    }
    // ANCHOR_END: reap

    /// The soonest moment some worker has overstayed.
    fn next_watchdog(&self) -> Instant {
        self.workers
            .iter()
            .filter_map(|w| self.limit_of(w))
            .min()
            .unwrap_or_else(|| Instant::now() + Duration::from_secs(3600))
    }

    fn limit_of(&self, w: &Worker) -> Option<Instant> {
        match (&w.state, &w.job) {
            (State::Starting, _) => Some(w.spawned_at + STARTUP_LIMIT),
            (State::Ready, Some(job)) => Some(job.since + self.timeout + GRACE),
            (State::Closing, _) => w.closing_at.map(|t| t + EXIT_LIMIT),
            _ => None,
        }
    }

    /// Kill the workers that are overdue: stuck starting, stuck on a page
    /// past its timeout (stopped with SIGSTOP, say), or not exiting.
    fn watchdogs(&mut self) {
        let now = Instant::now();
        for i in 0..self.workers.len() {
            let w = &self.workers[i];
            match self.limit_of(w) {
                Some(limit) if limit <= now => {}
                _ => continue,
            }
            let (kind, why) = match w.state {
                State::Starting => (
                    ErrorKind::Resource,
                    format!(
                        "was not ready within {} ms; killed",
                        STARTUP_LIMIT.as_millis()
                    ),
                ),
                State::Closing => (ErrorKind::Io, "did not exit when told to; killed".into()),
                _ => (
                    ErrorKind::Timeout,
                    format!(
                        "did not report its page within --timeout-ms {} (+{} ms); killed",
                        self.timeout.as_millis(),
                        GRACE.as_millis()
                    ),
                ),
            };
            if w.state == State::Closing {
                let _ = self.workers[i].child.kill();
                let status = self.reap(i, Duration::ZERO);
                self.workers[i].state = State::Gone(describe(status));
            } else {
                self.lose(i, kind, why, true);
            }
        }
    }

    // ANCHOR: shutdown
    /// The end of the `with ProcessPoolExecutor(...)` block: close every
    /// stdin (a worker reads end of file, says goodbye, exits), then wait
    /// for each one. Returns once every child is reaped.
    pub fn shutdown(&mut self) {
        for w in &mut self.workers {
            if matches!(w.state, State::Starting | State::Ready) {
                w.stdin = None;
                w.state = State::Closing;
                w.closing_at = Some(Instant::now());
            }
        }
        while self.next_event().is_some() {
            // Nothing is in flight any more: only goodbyes and exits come.
        }
    }
    // ANCHOR_END: shutdown
}

/// Whatever happens (even a panic in the loop above), no child outlives the
/// pool unreaped.
impl Drop for Pool {
    fn drop(&mut self) {
        for w in &mut self.workers {
            if w.reaped.is_none() {
                let _ = w.child.kill();
                w.reaped = Some(w.child.wait().ok());
            }
        }
    }
}

/// "exited with status 3", "killed by SIGKILL".
pub fn describe(status: Option<ExitStatus>) -> String {
    let Some(status) = status else {
        return "ended (its exit status was collected by someone else)".into();
    };
    if let Some(code) = status.code() {
        return format!("exited with status {code}");
    }
    match status.signal() {
        Some(sig) => match nix::sys::signal::Signal::try_from(sig) {
            Ok(s) => format!("killed by {s}"),
            Err(_) => format!("killed by signal {sig}"),
        },
        None => format!("ended ({status})"),
    }
}
