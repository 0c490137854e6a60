//! The worker's side: what runs in each child process.
//!
//! A worker is this very binary, started again by the pool with
//! [`WORKER_FLAG`] as its first argument. `main` calls [`serve_if_worker`]
//! before anything else; in a worker that call never returns: it reads jobs
//! from stdin, fetches each page with lesson 1's `blocking_way`, writes the
//! result to the parent, and exits when stdin closes.

use crate::children;
use crate::frame::{self, FromWorker, Job, PROTOCOL};
use std::time::Duration;
use workload::{Clock, Plan};

/// The first argument that turns the binary into a worker. It starts with
/// `--` on purpose: a binary that does not call `serve_if_worker` (a libtest
/// test binary, say) rejects it as an unknown option and exits at once,
/// instead of running its own program with our pipes as its stdio.
pub const WORKER_FLAG: &str = "--multi-process-worker";

// ANCHOR: serve_if_worker
/// Call this first in `main`. In a normal process it returns at once. In a
/// process the pool started as a worker (first argument
/// `--multi-process-worker`), it serves pages until its stdin closes and
/// then exits the process: it never returns.
pub fn serve_if_worker() {
    let mut args = std::env::args();
    if args.nth(1).as_deref() != Some(WORKER_FLAG) {
        return;
    }
    let rest: Vec<String> = args.collect();
    let code = match WorkerArgs::parse(&rest) {
        Ok(a) => match run(a) {
            Ok(()) => 0,
            Err(e) => {
                eprintln!("multi_process worker {}: {e}", std::process::id());
                3
            }
        },
        Err(e) => {
            eprintln!("{WORKER_FLAG}: {e}");
            2
        }
    };
    std::process::exit(code);
}
// ANCHOR_END: serve_if_worker

// ANCHOR: worker_loop
/// The worker process, from start to exit: the body of the tutorial's
/// `executor.submit(blocking_way, url)`, seen from inside the pool.
pub fn run(args: WorkerArgs) -> std::io::Result<()> {
    if !children::die_with_parent(args.parent_pid)? {
        return Ok(());
    }
    name_this_process(args.worker);
    let plan = args.plan().map_err(std::io::Error::other)?;
    // The parent's clock: same CLOCK_MONOTONIC, same zero, so every time
    // this process stamps lands on the run's time axis.
    let clock = Clock::from_origin_ns(args.origin_ns);
    let (mut to_parent, mut from_parent) = frame::worker_ends()?;
    let ready = FromWorker::Ready {
        protocol: PROTOCOL.to_string(),
        worker: args.worker,
        pid: std::process::id(),
        ready_ms: clock.now_ms(),
    };
    frame::write_frame(&mut to_parent, &ready, b"")?;

    // This process sleeps in read() on its stdin until the parent hands it
    // a page; end of file means the pool is closing.
    while let Some((job, _)) = frame::read_frame::<Job>(&mut from_parent, 0)? {
        // Lesson 1's code, unchanged: this process alone sleeps in its
        // connect() and read(), while its siblings sleep in theirs, and
        // spends the page's --cpu-us here, on its own core if one is free.
        let page = plan.page(job.page);
        let (mut trace, body) = sync_blocking::blocking_way_keeping_body(&plan, &page, clock);
        trace.worker = Some(args.worker);
        // `return response`: the page goes back whole. The kernel copies it
        // from this process's memory into the pipe, and on into the parent's.
        frame::write_frame(&mut to_parent, &FromWorker::Done { trace }, &body)?;
    }
    let bye = FromWorker::Bye {
        usage: crate::stats::own_usage(),
    };
    frame::write_frame(&mut to_parent, &bye, b"")
}
// ANCHOR_END: worker_loop

/// Started as /proc/self/exe, the process would be called "exe" in `ps` and
/// `top`; call it what it is: mp-worker-3.
fn name_this_process(worker: usize) {
    if let Ok(name) = std::ffi::CString::new(format!("mp-worker-{worker}")) {
        let _ = nix::sys::prctl::set_name(&name);
    }
}

/// What the parent tells a worker on its command line (visible in `ps`):
/// who it is, and the plan as far as a page's fetch reads it.
#[derive(Debug, Clone, PartialEq)]
pub struct WorkerArgs {
    pub worker: usize,
    pub parent_pid: u32,
    pub origin_ns: u64,
    pub timeout: Duration,
    pub max_bytes: u64,
    pub cpu: Duration,
    /// The plan's base URL: job `i` is the plan's page `i`.
    pub url: String,
}

impl WorkerArgs {
    /// The arguments for a worker of `plan`'s run (worker 0).
    pub fn for_plan(plan: &Plan, clock: Clock) -> WorkerArgs {
        WorkerArgs {
            worker: 0,
            parent_pid: std::process::id(),
            origin_ns: clock.origin_ns(),
            timeout: plan.timeout,
            max_bytes: plan.max_bytes,
            cpu: plan.cpu,
            url: plan.base.url.clone(),
        }
    }

    /// The arguments after [`WORKER_FLAG`].
    pub fn to_args(&self) -> Vec<String> {
        vec![
            self.worker.to_string(),
            self.parent_pid.to_string(),
            self.origin_ns.to_string(),
            self.timeout.as_millis().to_string(),
            self.max_bytes.to_string(),
            self.cpu.as_micros().to_string(),
            self.url.clone(),
        ]
    }

    pub fn parse(args: &[String]) -> Result<WorkerArgs, String> {
        let [worker, parent_pid, origin_ns, timeout_ms, max_bytes, cpu_us, url] = args else {
            return Err(format!("expected 7 worker arguments, got {args:?}"));
        };
        let num = |s: &String| s.parse::<u64>().map_err(|e| format!("'{s}': {e}"));
        Ok(WorkerArgs {
            worker: num(worker)? as usize,
            parent_pid: num(parent_pid)? as u32,
            origin_ns: num(origin_ns)?,
            timeout: Duration::from_millis(num(timeout_ms)?),
            max_bytes: num(max_bytes)?,
            cpu: Duration::from_micros(num(cpu_us)?),
            url: url.clone(),
        })
    }

    /// The worker's plan: the parent's pages and limits. Its page count is
    /// left at zero: the pages come one at a time, from the parent.
    pub fn plan(&self) -> Result<Plan, String> {
        let mut plan = Plan::new(&self.url, 0)?;
        plan.timeout = self.timeout;
        plan.max_bytes = self.max_bytes;
        plan.cpu = self.cpu;
        Ok(plan)
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
            cpu: Duration::from_micros(250),
            url: "http://127.0.0.1:9/base".into(),
        };
        assert_eq!(WorkerArgs::parse(&a.to_args()).unwrap(), a);
        assert!(WorkerArgs::parse(&["1".into()]).is_err());
        let mut bad = a.to_args();
        bad[2] = "soon".into();
        assert!(WorkerArgs::parse(&bad).unwrap_err().contains("soon"));
    }

    #[test]
    fn a_workers_plan_has_the_parents_pages_and_limits() {
        let mut parent = Plan::new("http://127.0.0.1:9/base", 5).unwrap();
        parent.timeout = Duration::from_millis(700);
        parent.max_bytes = 1234;
        parent.cpu = Duration::from_micros(90);
        let args = WorkerArgs::for_plan(&parent, Clock::start());
        let plan = WorkerArgs::parse(&args.to_args()).unwrap().plan().unwrap();
        assert_eq!(plan.page(3), parent.page(3));
        assert_eq!(
            (plan.timeout, plan.max_bytes, plan.cpu),
            (parent.timeout, parent.max_bytes, parent.cpu)
        );
    }
}
