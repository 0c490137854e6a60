//! The worker's side: what runs in each child process.
//!
//! A worker is this very binary, started again by its parent with
//! [`WORKER_FLAG`] and one JSON argument, a [`Role`]: a fetching worker of
//! the pool ([`process_way`](crate::process_way)), or a serving worker of
//! the prefork server ([`crate::serve`]). The lesson's table names
//! [`run_if_worker`] as its `worker` hook, and every program that may run
//! the lesson calls it through `workload::enter` first thing in `main`
//! (`workload::cli::main` does): in a worker it never returns.

use crate::children;
use crate::frame::{self, FromWorker, Job, PROTOCOL};
use serde::{Deserialize, Serialize};
use std::time::Duration;
use workload::{Clock, Plan};

/// The first argument that turns the binary into a worker. It starts with
/// `--` on purpose: a binary that does not call the hook (a libtest test
/// binary, say) rejects it as an unknown option and exits at once, instead
/// of running its own program with our pipes as its stdio.
pub const WORKER_FLAG: &str = "--multi-process-worker";

// ANCHOR: run_if_worker
/// The lesson's `worker` hook, called by `workload::enter`. In a normal
/// process it returns at once. In a process started as a worker (first
/// argument `--multi-process-worker`, then its [`Role`] as JSON), it lives
/// the worker's life and exits the process: it never returns.
pub fn run_if_worker() {
    let mut args = std::env::args();
    if args.nth(1).as_deref() != Some(WORKER_FLAG) {
        return;
    }
    let role = match args.next().as_deref().map(Role::parse) {
        Some(Ok(role)) => role,
        Some(Err(e)) => {
            eprintln!("{WORKER_FLAG}: {e}");
            std::process::exit(2);
        }
        None => {
            eprintln!("{WORKER_FLAG}: expected one JSON argument, its role");
            std::process::exit(2);
        }
    };
    let ran = match role {
        Role::Fetch(args) => run(args),
        Role::Serve(args) => crate::serve::worker(args),
    };
    if let Err(e) = ran {
        eprintln!("multi_process worker {}: {e}", std::process::id());
        std::process::exit(3);
    }
    std::process::exit(0);
}
// ANCHOR_END: run_if_worker

/// What a worker is started to do, with everything it needs to know: one
/// typed value, the worker's one argument as JSON (visible in `ps`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "role", rename_all = "snake_case")]
pub enum Role {
    /// Fetch the pages its parent hands it over stdin.
    Fetch(WorkerArgs),
    /// Serve connections from the listener it inherits as its stdin.
    Serve(crate::serve::WorkerArgs),
}

impl Role {
    /// The argument after [`WORKER_FLAG`].
    pub fn to_arg(&self) -> String {
        serde_json::to_string(self).expect("a worker's role is plain data")
    }

    pub fn parse(arg: &str) -> Result<Role, String> {
        serde_json::from_str(arg).map_err(|e| format!("not a worker's role ({e}): {arg}"))
    }

    /// The process that started this worker.
    pub fn parent_pid(&self) -> u32 {
        match self {
            Role::Fetch(a) => a.parent_pid,
            Role::Serve(a) => a.parent_pid,
        }
    }
}

// ANCHOR: worker_loop
/// The worker process, from start to exit: the body of the tutorial's
/// `executor.submit(blocking_way, url)`, seen from inside the pool.
pub fn run(args: WorkerArgs) -> std::io::Result<()> {
    if !children::die_with_parent(args.parent_pid)? {
        return Ok(());
    }
    name_this_process(&format!("mp-worker-{}", args.worker));
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
/// `top`; call it what it is: mp-worker-3, prefork-3.
pub(crate) fn name_this_process(name: &str) {
    if let Ok(name) = std::ffi::CString::new(name) {
        let _ = nix::sys::prctl::set_name(&name);
    }
}

/// What the parent tells a fetching worker: who it is, and the plan as
/// far as a page's fetch reads it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
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
    fn a_role_travels_as_one_json_argument() {
        let a = WorkerArgs {
            worker: 7,
            parent_pid: 4242,
            origin_ns: 123_456_789_000,
            timeout: Duration::from_millis(1500),
            max_bytes: 1 << 20,
            cpu: Duration::from_micros(250),
            url: "http://127.0.0.1:9/base".into(),
        };
        let arg = Role::Fetch(a.clone()).to_arg();
        assert!(
            arg.starts_with(r#"{"role":"fetch","worker":7,"parent_pid":4242,"#),
            "{arg}"
        );
        assert_eq!(Role::parse(&arg).unwrap(), Role::Fetch(a));
        assert_eq!(Role::parse(&arg).unwrap().parent_pid(), 4242);
        assert!(Role::parse("7")
            .unwrap_err()
            .contains("not a worker's role"));
        let bad = arg.replace("4242", "\"soon\"");
        assert!(Role::parse(&bad).unwrap_err().contains("soon"));
    }

    #[test]
    fn a_workers_plan_has_the_parents_pages_and_limits() {
        let mut parent = Plan::new("http://127.0.0.1:9/base", 5).unwrap();
        parent.timeout = Duration::from_millis(700);
        parent.max_bytes = 1234;
        parent.cpu = Duration::from_micros(90);
        let args = Role::Fetch(WorkerArgs::for_plan(&parent, Clock::start()));
        let Ok(Role::Fetch(args)) = Role::parse(&args.to_arg()) else {
            panic!("a fetching worker's role comes back as one");
        };
        let plan = args.plan().unwrap();
        assert_eq!(plan.page(3), parent.page(3));
        assert_eq!(
            (plan.timeout, plan.max_bytes, plan.cpu),
            (parent.timeout, parent.max_bytes, parent.cpu)
        );
    }
}
