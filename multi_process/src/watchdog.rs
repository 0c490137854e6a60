//! The parent's watchdogs: a worker that is stuck - never ready, never
//! reporting its page (stopped with SIGSTOP, say), never exiting when told
//! to - is killed, so every page ends within its timeout and the run ends.
//! [`crate::pool::Pool`] sleeps in `poll()` no longer than the soonest
//! [`due`] and, once awake, kills whatever is overdue.

use crate::pool::{InFlight, State};
use std::time::{Duration, Instant};
use workload::ErrorKind;

/// A worker that has not said "ready" after this long is killed.
pub const STARTUP_LIMIT: Duration = Duration::from_secs(10);
/// A worker enforces the page's `--timeout-ms` itself; the parent gives it
/// this much more before it decides the worker is stuck.
pub const GRACE: Duration = Duration::from_secs(1);
/// After its stdin is closed, a worker has this long to say goodbye and exit.
pub const EXIT_LIMIT: Duration = Duration::from_secs(5);

/// What a worker is late for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Overdue {
    Ready,
    Page,
    Exit,
}

/// When a worker in `state`, holding `job`, is overdue, and for what.
pub fn due(state: &State, job: Option<&InFlight>, timeout: Duration) -> Option<(Instant, Overdue)> {
    match (state, job) {
        (State::Starting { since }, _) => Some((*since + STARTUP_LIMIT, Overdue::Ready)),
        (State::Ready, Some(job)) => Some((job.since + timeout + GRACE, Overdue::Page)),
        (State::Closing { since }, _) => Some((*since + EXIT_LIMIT, Overdue::Exit)),
        _ => None,
    }
}

impl Overdue {
    /// The error its page fails with (after "worker N (pid P) ").
    pub fn error(self, timeout: Duration) -> (ErrorKind, String) {
        match self {
            Overdue::Ready => (
                ErrorKind::Resource,
                format!(
                    "was not ready within {} ms; killed",
                    STARTUP_LIMIT.as_millis()
                ),
            ),
            Overdue::Page => (
                ErrorKind::Timeout,
                format!(
                    "did not report its page within --timeout-ms {} (+{} ms); killed",
                    timeout.as_millis(),
                    GRACE.as_millis()
                ),
            ),
            Overdue::Exit => (ErrorKind::Io, "did not exit when told to; killed".into()),
        }
    }
}
