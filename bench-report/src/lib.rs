//! The measuring harness: `cargo bench` (`benches/lessons.rs`) and the
//! `sweep`, `cpu`, `latency`, `load` and `serve` subcommands (`src/main.rs`).
//!
//! Every lesson and variant comes from [`LESSONS`]; what the harness needs
//! to know about a variant (a task per page, a descriptor ceiling, the
//! tutorial's figure, the baseline, whether it runs here) comes from its
//! table entry, never from its name. The parts, by job:
//!
//! - what to run: [`jobs`] (the lessons and variants asked for), [`decide`]
//!   (run it, estimate it, or say why it cannot run);
//! - running: [`binaries`] (the nested `cargo build`), [`page_server`] (the
//!   page server as a process of its own), [`child`] (a child process and
//!   its `wait4` usage), [`runner`] (one lesson run and what it reported);
//! - the commands: [`sweep`] (10 to 10,000 pages), [`cpu`] (CPU-bound
//!   pages), [`bench`] (the table of `cargo bench`), [`load`] (the HTTP
//!   load generator), [`serve`] (every lesson's servers under load), and
//!   what they share on the command line, [`cli`];
//! - reporting: [`reporting`] (what every report shares),
//!   [`sweep_report`], [`table`], [`charts`], [`numbers`]
//!   (the one median and the number formats), [`status`], [`tutorial`]
//!   (the tutorial's figures normalised like ours), [`outdir`] (a report
//!   folder checked before anything is measured), [`paths`], [`machine`].

#![deny(unsafe_code)]

pub mod bench;
pub mod binaries;
pub mod charts;
// wait4 with its rusage: the child's own usage, which std does not give.
#[allow(unsafe_code)]
pub mod child;
pub mod cli;
pub mod cpu;
pub mod decide;
pub mod jobs;
pub mod load;
pub mod machine;
pub mod numbers;
pub mod outdir;
pub mod page_server;
pub mod paths;
pub mod reporting;
pub mod runner;
pub mod serve;
pub mod status;
pub mod sweep;
pub mod sweep_report;
pub mod table;
pub mod tutorial;

pub use numbers::median;

use workload::Lesson;

/// The lessons in classroom order: the only list of lessons.
pub static LESSONS: &[&Lesson] = &[
    &sync_blocking::LESSON,
    &multi_process::LESSON,
    &multi_thread::LESSON,
    &nonblocking_poll::LESSON,
    &callback_loop::LESSON,
    &coroutine::LESSON,
    &async_await::LESSON,
    &completion::LESSON,
];

/// The lesson called `name`.
pub fn lesson(name: &str) -> Option<&'static Lesson> {
    LESSONS.iter().copied().find(|l| l.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lessons_are_found_by_their_own_name_only() {
        for l in LESSONS {
            assert!(std::ptr::eq(lesson(l.name).unwrap(), *l), "{}", l.name);
        }
        assert!(lesson("no_such_lesson").is_none());
    }
}
