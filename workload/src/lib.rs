//! What every lesson shares, and nothing model specific: the plan of a run,
//! the HTTP bytes, the page server, the traces, the command line and the
//! conformance suite.
//!
//! A lesson crate describes itself with one [`Lesson`] table; its binary,
//! its tests and the benchmark all take the variants from that table:
//!
//! ```ignore
//! pub const LESSON: workload::Lesson = workload::Lesson {
//!     name: "sync_blocking",
//!     about: "one socket after another, blocking connect and read",
//!     variants: &[workload::Variant {
//!         name: "blocking",
//!         about: "the seed's blocking_way",
//!         concurrency: workload::Concurrency::One,
//!         fetch: fetch_all,
//!     }],
//!     flags: &[],
//! };
//! fn main() -> std::process::ExitCode { workload::cli::main(&sync_blocking::LESSON) }
//! ```

pub mod cli;
pub mod conformance;
pub mod http;
pub mod plan;
pub mod server;
pub mod trace;

pub use http::{Body, ErrorKind, FetchError, Progress, ResponseReader};
pub use plan::{BaseUrl, Deadline, Page, Plan};
pub use server::{Server, ServerConfig};
pub use trace::{Clock, Report, Trace, Usage};

use std::time::Instant;

/// A lesson: one crate, one concurrency model, one or more variants.
#[derive(Debug)]
pub struct Lesson {
    pub name: &'static str,
    /// One line for `--help`.
    pub about: &'static str,
    /// The first is the default.
    pub variants: &'static [Variant],
    /// Flags of this lesson only, beyond the shared contract.
    pub flags: &'static [Flag],
}

/// One way a lesson fetches the pages.
#[derive(Debug)]
pub struct Variant {
    pub name: &'static str,
    pub about: &'static str,
    /// How many pages it lets be in flight: decides `plan.in_flight()`
    /// and so the ideal time.
    pub concurrency: Concurrency,
    /// Fetch every page of the plan; one trace per page, in any order.
    pub fetch: fn(&Plan) -> Vec<Trace>,
}

/// How many pages a variant lets be in flight at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Concurrency {
    /// One page after another.
    One,
    /// As many as the machine has cores (a CPU pool such as rayon's).
    Cores,
    /// `--workers`, by default every page up to `default_max`.
    Workers { default_max: usize },
    /// Every page at once; `--workers` does not apply.
    All,
}

impl Concurrency {
    /// The number of pages in flight for this plan.
    pub fn limit(self, plan: &Plan) -> usize {
        let n = match self {
            Concurrency::One => 1,
            Concurrency::Cores => std::thread::available_parallelism().map_or(1, |n| n.get()),
            Concurrency::Workers { default_max } => {
                plan.workers.unwrap_or(plan.pages.min(default_max))
            }
            Concurrency::All => plan.pages,
        };
        n.clamp(1, plan.pages.max(1))
    }
}

/// A flag that only one lesson has (e.g. `--stack-kb`). Its value reaches
/// the lesson as `plan.option::<T>(name)`.
#[derive(Debug)]
pub struct Flag {
    pub name: &'static str,
    pub value_name: &'static str,
    pub help: &'static str,
    /// Checks a value given on the command line; an `Err` is a usage error
    /// (exit 2) with that message, before anything runs.
    pub check: Option<FlagCheck>,
}

/// A lesson flag's check: `Err(why)` refuses the value.
pub type FlagCheck = fn(&str) -> Result<(), String>;

impl Lesson {
    pub fn variant(&self, name: &str) -> Option<&'static Variant> {
        self.variants.iter().find(|v| v.name == name)
    }

    pub fn default_variant(&self) -> &'static Variant {
        &self.variants[0]
    }

    /// Run one variant on the plan and account for it: the traces sorted by
    /// page, wall time, the ideal, CPU and memory from the OS. With the
    /// embedded `server` given, its threads' CPU is left out of `cpu_ms`.
    pub fn run(&self, variant: &Variant, plan: &Plan, server: Option<&Server>) -> Report {
        let mut plan = plan.clone();
        plan.variant = variant.name.to_string();
        plan.workers = Some(variant.concurrency.limit(&plan));

        let server_before = server.map(Server::cpu_time);
        let before = Usage::now();
        let started = Instant::now();
        let mut traces = (variant.fetch)(&plan);
        let wall = started.elapsed();
        let usage = Usage::now().since(&before);
        let server_cpu = server
            .zip(server_before)
            .map(|(s, b)| s.cpu_time().saturating_sub(b));

        traces.sort_by_key(|t| t.page);
        let ok = traces.iter().filter(|t| t.is_ok()).count();
        let cpu = (usage.user + usage.sys).saturating_sub(server_cpu.unwrap_or_default());
        let ms = |d: std::time::Duration| d.as_secs_f64() * 1e3;
        Report {
            model: self.name.to_string(),
            variant: variant.name.to_string(),
            pages: plan.pages,
            ok,
            failed: plan.pages.saturating_sub(ok),
            in_flight: plan.in_flight(),
            latency_ms: plan.latency.map(ms),
            wall_ms: ms(wall),
            ideal_ms: plan.ideal().map(ms),
            cpu_ms: ms(cpu),
            user_ms: ms(usage.user),
            sys_ms: ms(usage.sys),
            server_cpu_ms: server_cpu.map(ms),
            max_rss_kb: usage.max_rss_kb,
            voluntary_switches: usage.voluntary_switches,
            involuntary_switches: usage.involuntary_switches,
            traces,
        }
    }
}

/// Raise the open-file soft limit to the hard limit, so a run of thousands
/// of sockets is limited by the machine, not by a conservative default.
/// Returns the limit now in force.
pub fn raise_fd_limit() -> u64 {
    use nix::sys::resource::{getrlimit, setrlimit, Resource};
    match getrlimit(Resource::RLIMIT_NOFILE) {
        Ok((soft, hard)) if soft < hard => {
            if setrlimit(Resource::RLIMIT_NOFILE, hard, hard).is_ok() {
                hard
            } else {
                soft
            }
        }
        Ok((soft, _)) => soft,
        Err(_) => 1024,
    }
}
