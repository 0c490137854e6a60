//! What the pool's processes cost, worker by worker: the statistics that
//! [`crate::process_way`] returns and `--show-pool` prints.

use serde::{Deserialize, Serialize};

/// The pool's account of one run.
#[derive(Debug, Clone, Default)]
pub struct PoolStats {
    /// Every worker started, in the order they were started.
    pub workers: Vec<WorkerStats>,
    /// Why starting a worker failed, when it did.
    pub spawn_error: Option<String>,
}

/// One worker process, from its spawn to its exit. Times are on the run's
/// clock, in ms.
#[derive(Debug, Clone, Default)]
pub struct WorkerStats {
    pub id: usize,
    pub pid: u32,
    /// Just before `spawn()`, and how long `spawn()` held the parent.
    pub spawn_ms: f64,
    pub spawn_took_ms: f64,
    /// The worker's own stamp when it was ready.
    pub ready_ms: Option<f64>,
    /// When the parent had waited for it.
    pub exit_ms: Option<f64>,
    /// How it ended ("exited with status 0", "killed by SIGKILL"), and
    /// whether that was a clean exit.
    pub ended: Option<String>,
    pub ended_ok: bool,
    /// Pages it sent back, and their body bytes through its pipe.
    pub pages: usize,
    pub piped_bytes: u64,
    /// For each page: worker finished it -> parent has it checked, in ms.
    pub pipe_delays_ms: Vec<f64>,
    /// Its own bill, sent just before it exited.
    pub usage: Option<WorkerUsage>,
}

impl WorkerStats {
    /// A page came back: `bytes` of body, finished in the worker at
    /// `done_ms`, in the parent's hands at `now_ms`.
    pub fn page_back(&mut self, bytes: usize, done_ms: Option<f64>, now_ms: f64) {
        self.pages += 1;
        self.piped_bytes += bytes as u64;
        if let Some(done) = done_ms {
            self.pipe_delays_ms.push((now_ms - done).max(0.0));
        }
    }
}

/// What one worker process cost, measured by itself just before exiting.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct WorkerUsage {
    pub user_ms: f64,
    pub sys_ms: f64,
    /// Peak resident set (VmHWM): every page of memory it touched,
    /// including the binary and libraries it shares with the others.
    pub max_rss_kb: u64,
    /// Proportional set size: shared pages divided among their users.
    pub pss_kb: Option<u64>,
    /// Pages only this worker has: what one more worker really adds.
    pub private_kb: Option<u64>,
}

/// The worker's side: this process's CPU time and memory, from the kernel
/// (getrusage and /proc/self/smaps_rollup).
pub fn own_usage() -> WorkerUsage {
    let u = workload::Usage::now();
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
