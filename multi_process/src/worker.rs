//! The worker's side: what runs in each child process.
//!
//! A worker is this very binary, started again by the parent with
//! [`WORKER_FLAG`] as its first argument. `main` calls
//! [`crate::serve_if_worker`] before anything else; in a worker that call
//! never returns: it reads jobs from stdin, fetches each page with plain
//! blocking sockets (lesson 1's `blocking_way`, nothing new), writes the
//! result to its private copy of stdout, and exits when stdin closes.

use crate::frame::{self, FromWorker, Job, WorkerUsage, PROTOCOL};
use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Write};
use std::net::TcpStream;
use std::time::Duration;
use workload::{Clock, Deadline, FetchError, Page, ResponseReader, Trace, Usage};

/// The first argument that turns the binary into a worker. It starts with
/// `--` on purpose: a binary that does not call `serve_if_worker` (a libtest
/// test binary, say) rejects it as an unknown option and exits at once,
/// instead of running its own program with our pipes as its stdio.
pub const WORKER_FLAG: &str = "--multi-process-worker";

/// What the parent tells a worker on its command line (visible in `ps`).
#[derive(Debug, Clone, PartialEq)]
pub struct WorkerArgs {
    pub worker: usize,
    pub parent_pid: u32,
    pub origin_ns: u64,
    pub timeout: Duration,
    pub max_bytes: u64,
}

impl WorkerArgs {
    /// The arguments after [`WORKER_FLAG`].
    pub fn to_args(&self) -> Vec<String> {
        vec![
            self.worker.to_string(),
            self.parent_pid.to_string(),
            self.origin_ns.to_string(),
            self.timeout.as_millis().to_string(),
            self.max_bytes.to_string(),
        ]
    }

    pub fn parse(args: &[String]) -> Result<WorkerArgs, String> {
        let [worker, parent_pid, origin_ns, timeout_ms, max_bytes] = args else {
            return Err(format!("expected 5 worker arguments, got {args:?}"));
        };
        let num = |s: &String| s.parse::<u64>().map_err(|e| format!("'{s}': {e}"));
        Ok(WorkerArgs {
            worker: num(worker)? as usize,
            parent_pid: num(parent_pid)? as u32,
            origin_ns: num(origin_ns)?,
            timeout: Duration::from_millis(num(timeout_ms)?),
            max_bytes: num(max_bytes)?,
        })
    }
}

// ANCHOR: worker_loop
/// The worker process, from start to exit: the body of the seed's
/// `executor.submit(blocking_way)`, seen from inside the pool.
pub fn run(args: WorkerArgs) -> std::io::Result<()> {
    // If the parent dies (even by SIGKILL), the kernel kills us too: no
    // orphan keeps fetching for nobody. Asked for after exec, so check that
    // the parent did not die before we asked.
    nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGKILL)?;
    if nix::unistd::getppid().as_raw() as u32 != args.parent_pid {
        return Ok(());
    }
    // Started as /proc/self/exe, the process would be called "exe" in ps
    // and top; give it a name that says what it is: mp-worker-3.
    if let Ok(name) = std::ffi::CString::new(format!("mp-worker-{}", args.worker)) {
        let _ = nix::sys::prctl::set_name(&name);
    }

    // The pipe to the parent must carry frames and nothing else. Keep a
    // private handle on it and point fd 1 at stderr, so a stray println!
    // from any library ends up on the terminal instead of corrupting a frame.
    let to_parent = File::from(nix::unistd::dup(std::io::stdout())?);
    nix::unistd::dup2_stdout(std::io::stderr())?;
    let mut to_parent = BufWriter::with_capacity(64 * 1024, to_parent);
    let mut from_parent = BufReader::new(std::io::stdin().lock());

    // Our clock reads the same CLOCK_MONOTONIC as the parent's, from the
    // parent's zero: every time we stamp is on the run's time axis.
    let clock = Clock::from_origin_ns(args.origin_ns);
    let ready = FromWorker::Ready {
        protocol: PROTOCOL.to_string(),
        worker: args.worker,
        pid: std::process::id(),
        ready_ms: clock.now_ms(),
    };
    frame::write_frame(&mut to_parent, &ready, b"")?;

    // Here the worker sleeps in read() on its stdin until the parent hands
    // it a page; end of file means the pool is shutting down.
    while let Some((job, _)) = frame::read_frame::<Job>(&mut from_parent, 0)? {
        let page = job.page();
        let (mut trace, body) = blocking_way(&page, &args, clock);
        trace.worker = Some(args.worker);
        // The page goes back whole, through the pipe: the kernel copies
        // it from our memory into the pipe, and again into the parent's.
        frame::write_frame(&mut to_parent, &FromWorker::Done { trace }, &body)?;
    }
    let bye = FromWorker::Bye { usage: own_usage() };
    frame::write_frame(&mut to_parent, &bye, b"")
}
// ANCHOR_END: worker_loop

// ANCHOR: blocking_way
/// Lesson 1's `blocking_way`, run inside a worker: the one difference is
/// that it keeps the body, because the parent wants the page (the seed's
/// `return response`), not just its length.
fn blocking_way(page: &Page, args: &WorkerArgs, clock: Clock) -> (Trace, Vec<u8>) {
    let mut trace = Trace::start(page, clock);
    let deadline = Deadline::after(args.timeout);
    let mut result =
        fetch(page, args.max_bytes, &deadline, &mut trace).map_err(|e| deadline.name(e));
    let body = match &mut result {
        Ok(b) => b.body.take().unwrap_or_default(),
        Err(_) => Vec::new(),
    };
    (trace.finish(result), body)
}

fn fetch(
    page: &Page,
    max_bytes: u64,
    deadline: &Deadline,
    trace: &mut Trace,
) -> Result<workload::Body, FetchError> {
    // Blocking connect: this process sleeps until the SYN-ACK. Only this
    // process: its nine siblings are sleeping in their own connect() or
    // read() meanwhile, and that is the whole trick of the pool.
    let mut sock = TcpStream::connect_timeout(&page.addr, deadline.remaining()?)?;
    trace.connected();
    sock.set_write_timeout(Some(deadline.remaining()?))?;
    sock.write_all(&page.request())?;

    let mut response = ResponseReader::new(max_bytes).keep_body();
    let mut buf = [0u8; 16 * 1024];
    loop {
        // The latency is spent here, asleep in read(), exactly as in
        // lesson 1; the deadline bounds the whole page, not each read.
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
// ANCHOR_END: blocking_way

/// This process's CPU time and memory, from the kernel (getrusage and
/// /proc/self/smaps_rollup).
fn own_usage() -> WorkerUsage {
    let u = Usage::now();
    let rollup = std::fs::read_to_string("/proc/self/smaps_rollup").unwrap_or_default();
    let field = |name: &str| {
        rollup
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
    };
    let private = field("Private_Clean:")
        .zip(field("Private_Dirty:"))
        .map(|(c, d)| c + d);
    WorkerUsage {
        user_ms: u.user.as_secs_f64() * 1e3,
        sys_ms: u.sys.as_secs_f64() * 1e3,
        max_rss_kb: u.max_rss_kb,
        pss_kb: field("Pss:"),
        private_kb: private,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn worker_args_round_trip() {
        let a = WorkerArgs {
            worker: 7,
            parent_pid: 4242,
            origin_ns: 123_456_789_000,
            timeout: Duration::from_millis(1500),
            max_bytes: 1 << 20,
        };
        assert_eq!(WorkerArgs::parse(&a.to_args()).unwrap(), a);
        assert!(WorkerArgs::parse(&["1".into()]).is_err());
        let mut bad = a.to_args();
        bad[2] = "soon".into();
        assert!(WorkerArgs::parse(&bad).unwrap_err().contains("soon"));
    }
}
