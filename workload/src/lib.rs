//! What every lesson shares, and nothing model specific: the plan of a run,
//! the HTTP bytes, the page server, the traces and the command line.
//!
//! A lesson crate describes itself with one [`Lesson`] table; its binary,
//! its tests and the benchmark all take the variants from that table:
//!
//! ```
//! use workload::{Concurrency, Flags, Lesson, Plan, Trace, Variant};
//!
//! fn fetch_all(plan: &Plan) -> Vec<Trace> {
//!     // ... the lesson's own I/O, one trace per page ...
//! #   Vec::new()
//! }
//!
//! pub const LESSON: Lesson = Lesson {
//!     name: "sync_blocking",
//!     about: "one socket after another, blocking connect and read",
//!     variants: &[Variant::new("blocking", "one page after another", Concurrency::One, fetch_all)
//!         .tutorial("blocking", 4.5)
//!         .baseline()],
//!     flags: Flags::NONE,
//!     servers: &[],
//!     worker: None,
//! };
//! // and in main.rs:
//! // fn main() -> std::process::ExitCode { workload::cli::main(&LESSON) }
//! ```
//!
//! See `docs/ARCHITECTURE.md` for the path of one run.

#![forbid(unsafe_code)]

pub mod cli;
pub mod cpu;
pub mod http;
pub mod lesson;
pub mod plan;
pub mod progress;
pub mod room;
pub mod serve;
pub mod server;
pub mod stats;
pub mod trace;

pub use http::{Body, ErrorKind, FetchError, Progress, ResponseReader};
pub use lesson::{Concurrency, Flags, Lesson, NoFlags, Options, OsTask, TutorialFigure, Variant};
pub use plan::{BaseUrl, Deadline, Page, Plan};
pub use server::{Holds, Server, ServerConfig};
pub use trace::{every_page_once, fail_every_page, Clock, Report, Trace, Usage};

static ENTERED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// First thing in every `main` that may run these lessons: a process that
/// one of them started as its worker (see [`Lesson::worker`]) serves as
/// that worker here and exits; any other process returns at once.
/// [`cli::main`] calls it; a runner of its own (a benchmark, a test with
/// its own `main`) must, or [`Lesson::run`] refuses the lessons that need it.
pub fn enter(lessons: &[&Lesson]) {
    for worker in lessons.iter().filter_map(|l| l.worker) {
        worker();
    }
    ENTERED.store(true, std::sync::atomic::Ordering::SeqCst);
}

/// Whether [`enter`] has been called in this process.
pub fn entered() -> bool {
    ENTERED.load(std::sync::atomic::Ordering::SeqCst)
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
