//! The parent's side of the pool: start the workers, hand them pages, hear
//! back from them.
//!
//! Each worker is a child process with two pipes: the parent writes jobs
//! into its stdin and reads frames ([`crate::frame`]) from its stdout. One
//! thread, the caller's, serves every pipe: it sleeps in `poll(2)` until
//! some worker has written something, or died, or a watchdog is due. That
//! is what CPython's pool does too: its manager thread waits on every
//! result pipe and every process "sentinel" at once.
//!
//! The defences are next door: [`crate::children`] (every child reaped,
//! none orphaned), [`crate::watchdog`] (a stuck worker is killed),
//! [`crate::stats`] (what each worker cost).

use crate::children::{self, Child};
use crate::frame::{self, FromWorker, Inbox, Job, PROTOCOL};
use crate::stats::{PoolStats, WorkerStats};
use crate::watchdog::{self, Overdue};
use crate::worker::{Role, WorkerArgs, WORKER_FLAG};
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use std::collections::VecDeque;
use std::ffi::OsString;
use std::io::Read;
use std::os::fd::AsFd;
use std::os::unix::process::CommandExt;
use std::process::{ChildStdin, ChildStdout, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};
use workload::{Clock, ErrorKind, FetchError, Page, Plan, Trace};

/// What the parent hears from its workers, for [`crate::process_way`].
#[derive(Debug)]
pub enum Report {
    /// A page ended: fetched, failed in the worker, or lost with it.
    Page(Trace),
    /// A page a worker never began (it died before it was ready): it goes
    /// back in the queue.
    NotStarted(Page),
}

/// Where a worker is in its life.
#[derive(Debug, Clone, PartialEq)]
pub enum State {
    /// Spawned at `since`; its "ready" frame has not arrived yet.
    Starting { since: Instant },
    /// Ready; its `job` says whether it has a page.
    Ready,
    /// Its stdin was closed at `since`: it is saying goodbye.
    Closing { since: Instant },
    /// Exited (or killed) and waited for.
    Gone,
}

/// A page handed to a worker and not yet back.
#[derive(Debug, Clone)]
pub struct InFlight {
    pub page: Page,
    /// When the parent handed it over, on the run's clock.
    pub sent_ms: f64,
    /// When the watchdog's count started: the hand-over, or the moment the
    /// worker said ready, whichever is later.
    pub since: Instant,
}

/// One worker process as the parent sees it.
struct Worker {
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: ChildStdout,
    inbox: Inbox,
    state: State,
    job: Option<InFlight>,
    stats: WorkerStats,
}

/// W worker processes and the pipes to them.
pub struct Pool {
    workers: Vec<Worker>,
    clock: Clock,
    /// What every worker is told on its command line (its id aside).
    args: WorkerArgs,
    /// argv[0] for the workers: the name this binary was started by.
    name: OsString,
    reports: VecDeque<Report>,
    /// Where read() puts what a pipe holds (a pipe holds 64 KiB at most).
    buf: Vec<u8>,
    spawn_error: Option<String>,
    /// The last reason a worker was lost, for pages no one is left to fetch.
    last_loss: Option<String>,
}

impl Pool {
    /// A pool with no worker yet, for `plan`'s pages on the run's `clock`.
    pub fn new(plan: &Plan, clock: Clock) -> Pool {
        Pool {
            workers: Vec::new(),
            clock,
            args: WorkerArgs::for_plan(plan, clock),
            name: std::env::args_os().next().unwrap_or_default(),
            reports: VecDeque::new(),
            buf: vec![0; 64 * 1024],
            spawn_error: None,
            last_loss: None,
        }
    }

    // ANCHOR: spawn
    /// Start one more worker and hand it `page` at once: the job waits in
    /// its stdin pipe until the worker is up. Gives the page back if the
    /// worker could not be started (the pool keeps the reason).
    pub fn start_worker(&mut self, page: Page) -> Result<(), Page> {
        let id = self.workers.len();
        let args = WorkerArgs {
            worker: id,
            ..self.args.clone()
        };
        let spawn_ms = self.clock.now_ms();
        let since = Instant::now();
        // /proc/self/exe is the binary this process runs, even if the file
        // was rebuilt or deleted since. std spawns with posix_spawn (a
        // vfork-style clone that executes the program at once), never a
        // fork() copying this multi-threaded process with its locks held.
        // ANCHOR: command
        let mut command = Command::new("/proc/self/exe");
        command
            .arg0(&self.name)
            .arg(WORKER_FLAG)
            .arg(Role::Fetch(args).to_arg())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        // ANCHOR_END: command
        // Rust opens every pipe with O_CLOEXEC, so worker 5 does not inherit
        // worker 3's pipes: when worker 3's stdin is closed, it really is.
        let (child, stdin, stdout) = match Child::spawn(&mut command) {
            Ok(spawned) => spawned,
            Err(e) => {
                self.spawn_error = Some(format!("cannot start worker {id}: {e}"));
                return Err(page);
            }
        };
        let stats = WorkerStats {
            id,
            pid: child.id(),
            spawn_ms,
            spawn_took_ms: since.elapsed().as_secs_f64() * 1e3,
            ..WorkerStats::default()
        };
        self.workers.push(Worker {
            child,
            stdin: Some(stdin),
            stdout,
            inbox: Inbox::default(),
            state: State::Starting { since },
            job: None,
            stats,
        });
        self.send(id, page);
        Ok(())
    }
    // ANCHOR_END: spawn

    /// A worker that can take a page now: alive, with no page in hand. A
    /// starting worker counts: the job waits in its stdin pipe.
    pub fn idle(&self) -> Option<usize> {
        self.workers.iter().position(|w| {
            matches!(w.state, State::Starting { .. } | State::Ready)
                && w.job.is_none()
                && w.stdin.is_some()
        })
    }

    // ANCHOR: send
    /// Hand `page` to worker `id`: one small frame into its stdin pipe. A
    /// pipe holds 64 KiB and a worker never has more than one job waiting,
    /// so this write does not block. If the pipe is broken (the worker is
    /// dying), the page comes back as [`Report::NotStarted`].
    pub fn send(&mut self, id: usize, page: Page) {
        let w = &mut self.workers[id];
        let job = Job { page: page.index };
        let sent = w.stdin.as_mut().map(|p| frame::write_frame(p, &job, b""));
        if !matches!(sent, Some(Ok(()))) {
            w.stdin = None;
            self.reports.push_back(Report::NotStarted(page));
            return;
        }
        w.job = Some(InFlight {
            page,
            sent_ms: self.clock.now_ms(),
            since: Instant::now(),
        });
    }
    // ANCHOR_END: send

    // ANCHOR: next_report
    /// Sleep until some worker has something to say, then say it. `None`
    /// when no worker is left to wait for.
    pub fn next_report(&mut self) -> Option<Report> {
        loop {
            if let Some(report) = self.reports.pop_front() {
                return Some(report);
            }
            let watched: Vec<usize> = (0..self.workers.len())
                .filter(|&i| self.workers[i].state != State::Gone)
                .collect();
            if watched.is_empty() {
                return None;
            }
            for i in self.wait_for_pipes(&watched) {
                self.read_from(i);
            }
            self.watchdogs();
        }
    }

    /// The parent's one blocking call: `poll()` over the stdout pipes of
    /// the `watched` workers. The kernel wakes it when one of them has
    /// bytes, or has closed its end (the worker exited, or was killed), or
    /// when the soonest watchdog is due. Returns the pipes to read.
    fn wait_for_pipes(&mut self, watched: &[usize]) -> Vec<usize> {
        let soonest = self
            .workers
            .iter()
            .filter_map(|w| self.due(w))
            .map(|d| d.0)
            .min();
        let wait = soonest.map_or(Duration::from_secs(3600), |at| {
            at.saturating_duration_since(Instant::now())
        });
        let timeout = PollTimeout::try_from(wait).unwrap_or(PollTimeout::MAX);
        let mut fds: Vec<PollFd> = watched
            .iter()
            .map(|&i| PollFd::new(self.workers[i].stdout.as_fd(), PollFlags::POLLIN))
            .collect();
        let polled = poll(&mut fds, timeout);
        let ready: Vec<usize> = fds
            .iter()
            .zip(watched)
            .filter(|(fd, _)| fd.revents().is_some_and(|r| !r.is_empty()))
            .map(|(_, &i)| i)
            .collect();
        drop(fds);
        match polled {
            Ok(_) => ready,
            Err(nix::errno::Errno::EINTR) => Vec::new(),
            Err(e) => {
                // Not with valid pipes; if it does happen, the pool cannot
                // watch its workers any more: end them all.
                for &i in watched {
                    let why = format!("could not be watched: poll(): {e}");
                    self.lose(i, ErrorKind::Io, why, true);
                }
                Vec::new()
            }
        }
    }
    // ANCHOR_END: next_report

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
            match self.workers[i]
                .inbox
                .next::<FromWorker>(self.args.max_bytes)
            {
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
                if protocol != PROTOCOL || worker != w.stats.id || pid != w.stats.pid {
                    return Err(format!(
                        "said ready as {protocol} worker {worker} pid {pid}"
                    ));
                }
                if matches!(w.state, State::Starting { .. }) {
                    w.state = State::Ready;
                }
                w.stats.ready_ms = Some(ready_ms);
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
                trace.worker = Some(w.stats.id);
                w.stats.page_back(body.len(), trace.done_ms, now_ms);
                self.reports.push_back(Report::Page(trace));
            }
            FromWorker::Bye { usage } => w.stats.usage = Some(usage),
            FromWorker::Serving { .. } => return Err("said it serves connections".into()),
        }
        Ok(())
    }
    // ANCHOR_END: handle

    /// Worker `i` closed its stdout. After a goodbye that is the normal end;
    /// otherwise it died, and its page with it.
    fn ended(&mut self, i: usize) {
        let w = &self.workers[i];
        let closing = matches!(w.state, State::Closing { .. });
        let starting = matches!(w.state, State::Starting { .. });
        let said_bye = w.stats.usage.is_some();
        let status = self.bury(i, Duration::from_millis(500));
        if closing && said_bye && status.is_some_and(|s| s.success()) {
            return;
        }
        let why = if starting {
            format!(
                "{} before it said ready (a program that starts a pool must call \
                 workload::enter with this lesson first thing in main)",
                children::describe(status)
            )
        } else {
            format!("died: {}", children::describe(status))
        };
        self.lose(i, ErrorKind::Io, why, false);
    }

    /// Worker `i` is lost: kill it if asked, reap it, and fail its page, or
    /// give the page back if the worker never began it.
    fn lose(&mut self, i: usize, kind: ErrorKind, why: String, kill: bool) {
        if kill {
            self.workers[i].child.kill();
        }
        self.bury(i, Duration::ZERO);
        let w = &mut self.workers[i];
        let detail = format!("worker {} (pid {}) {why}", w.stats.id, w.stats.pid);
        self.last_loss = Some(detail.clone());
        let Some(job) = w.job.take() else { return };
        let report = if w.stats.ready_ms.is_none() {
            // It never said ready, so it never read the job waiting in its
            // stdin: that page is not lost, only not begun.
            Report::NotStarted(job.page)
        } else {
            let mut trace = Trace::pending(&job.page, self.clock);
            trace.start_ms = Some(job.sent_ms);
            trace.worker = Some(w.stats.id);
            Report::Page(trace.finish(Err(FetchError::new(kind, detail))))
        };
        self.reports.push_back(report);
    }

    /// Close worker `i`'s stdin and reap it (see [`Child::reap`]); note
    /// when and how it ended.
    fn bury(&mut self, i: usize, patience: Duration) -> Option<ExitStatus> {
        let now_ms = self.clock.now_ms();
        let w = &mut self.workers[i];
        w.stdin = None;
        let status = w.child.reap(patience);
        if w.state != State::Gone {
            w.state = State::Gone;
            w.stats.exit_ms = Some(now_ms);
            w.stats.ended = Some(children::describe(status));
            w.stats.ended_ok = status.is_some_and(|s| s.success());
        }
        status
    }

    fn due(&self, w: &Worker) -> Option<(Instant, Overdue)> {
        watchdog::due(&w.state, w.job.as_ref(), self.args.timeout)
    }

    /// Kill the workers that are overdue ([`crate::watchdog`]).
    fn watchdogs(&mut self) {
        let now = Instant::now();
        for i in 0..self.workers.len() {
            match self.due(&self.workers[i]) {
                Some((at, Overdue::Exit)) if at <= now => {
                    self.workers[i].child.kill();
                    self.bury(i, Duration::ZERO);
                }
                Some((at, overdue)) if at <= now => {
                    let (kind, why) = overdue.error(self.args.timeout);
                    self.lose(i, kind, why, true);
                }
                _ => {}
            }
        }
    }

    /// A page no worker is left to fetch (they died, or none could start):
    /// it fails, saying why.
    pub fn unfetched(&self, page: &Page) -> Trace {
        let why = self.last_loss.as_ref().or(self.spawn_error.as_ref());
        let why = why.map_or("the pool is empty", String::as_str);
        let error = FetchError::new(
            ErrorKind::Resource,
            format!("no worker process left to fetch it; {why}"),
        );
        Trace::start(page, self.clock).finish(Err(error))
    }

    // ANCHOR: shutdown
    /// The end of the `with ProcessPoolExecutor(...)` block: close every
    /// stdin (a worker reads end of file, says goodbye, exits), then wait
    /// for each one. Returns once every child is reaped, with what the
    /// workers cost.
    pub fn shutdown(mut self) -> PoolStats {
        for w in &mut self.workers {
            if matches!(w.state, State::Starting { .. } | State::Ready) {
                w.stdin = None;
                w.state = State::Closing {
                    since: Instant::now(),
                };
            }
        }
        while self.next_report().is_some() {
            // Nothing is in flight any more: only goodbyes and exits come.
        }
        PoolStats {
            workers: self.workers.into_iter().map(|w| w.stats).collect(),
            spawn_error: self.spawn_error,
        }
    }
    // ANCHOR_END: shutdown
}
