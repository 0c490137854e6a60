//! Starting workers again without spinning.
//!
//! A worker that dies while serving is replaced at once: the kernel ended
//! it (SIGKILL, out of memory) and another can take its place. A worker
//! that dies before it says it is serving is another matter: the next one
//! would most likely die the same way, and starting them in a loop would
//! burn a core. So such failures (and workers that cannot be started at
//! all) are counted: each waits a little longer before the next try, and
//! after [`GIVE_UP_AFTER`] in a row the server stops, saying why.

use std::time::{Duration, Instant};

/// Failed starts in a row after which the server gives up.
pub const GIVE_UP_AFTER: u32 = 5;

/// The wait before the next start, per failure in a row.
const PAUSE: Duration = Duration::from_millis(200);

#[derive(Debug, Default)]
pub struct Starts {
    failures: u32,
    last: Option<String>,
    retry_at: Option<Instant>,
}

impl Starts {
    /// A worker could not be started, or ended before it was serving.
    pub fn failed(&mut self, why: String) {
        eprintln!("prefork: {why}");
        self.failures += 1;
        self.retry_at = Some(Instant::now() + PAUSE * self.failures);
        self.last = Some(why);
    }

    /// A worker is serving: starting works.
    pub fn ready(&mut self) {
        self.failures = 0;
        self.retry_at = None;
    }

    /// When the next start may be tried, if starts have failed.
    pub fn next_retry(&self) -> Option<Instant> {
        self.retry_at
    }

    /// Whether a worker may be started now.
    pub fn may_retry(&self) -> bool {
        self.retry_at.is_none_or(|at| Instant::now() >= at)
    }

    /// Why the server gives up, once it does.
    pub fn given_up(&self) -> Option<String> {
        (self.failures >= GIVE_UP_AFTER).then(|| {
            format!(
                "{} worker starts in a row failed; the last: {}",
                self.failures,
                self.last.as_deref().unwrap_or("?")
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_in_a_row_pause_then_give_up_and_a_ready_worker_resets() {
        let mut s = Starts::default();
        assert!(s.may_retry() && s.given_up().is_none());
        s.failed("first".into());
        assert!(!s.may_retry(), "a pause after a failed start");
        s.ready();
        assert!(s.may_retry());
        for i in 0..GIVE_UP_AFTER {
            s.failed(format!("try {i}"));
        }
        let why = s.given_up().expect("gives up");
        assert!(
            why.contains("5 worker starts in a row failed; the last: try 4"),
            "{why}"
        );
    }
}
