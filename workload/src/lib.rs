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
pub mod server;
pub mod stats;
pub mod trace;

pub use http::{Body, ErrorKind, FetchError, Progress, ResponseReader};
pub use lesson::{Concurrency, Flags, Lesson, NoFlags, Options, OsTask, TutorialFigure, Variant};
pub use plan::{BaseUrl, Deadline, Page, Plan};
pub use server::{Holds, Server, ServerConfig};
pub use trace::{every_page_once, fail_every_page, Clock, Report, Trace, Usage};

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
