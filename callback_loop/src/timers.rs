//! Timers: asyncio's `call_at`, so that every page ends within
//! `--timeout-ms` even if its server never says a word. The loop keeps one
//! timer per page, fires the due ones at the start of every turn, and never
//! sleeps in the selector past the soonest of the others.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::os::fd::RawFd;
use std::time::{Duration, Instant};

use crate::{Callback, EventLoop, Selector};

/// A timer: run `callback` on the page at `fd` at `at`, if that page is
/// still there.
struct Timer {
    at: Instant,
    fd: RawFd,
    page: usize,
    callback: Callback,
}

// Timers are ordered by when they fire (the page breaks ties).
impl Ord for Timer {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.at, self.page, self.fd).cmp(&(other.at, other.page, other.fd))
    }
}
impl PartialOrd for Timer {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl PartialEq for Timer {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other).is_eq()
    }
}
impl Eq for Timer {}

/// The pending timers, soonest first.
pub(crate) struct Timers(BinaryHeap<Reverse<Timer>>);

impl Timers {
    pub(crate) fn with_capacity(n: usize) -> Timers {
        Timers(BinaryHeap::with_capacity(n))
    }

    pub(crate) fn push(&mut self, at: Instant, fd: RawFd, page: usize, callback: Callback) {
        self.0.push(Reverse(Timer {
            at,
            fd,
            page,
            callback,
        }));
    }

    /// How long the selector may sleep from `now`: until the soonest timer,
    /// and no longer than `max_wait` (`None` for both: no limit).
    pub(crate) fn wait_limit(&self, now: Instant, max_wait: Option<Duration>) -> Option<Duration> {
        let until_timer = self
            .0
            .peek()
            .map(|Reverse(t)| t.at.saturating_duration_since(now));
        match (until_timer, max_wait) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// The soonest timer, if it is due at `now`.
    fn pop_due(&mut self, now: Instant) -> Option<Timer> {
        if self.0.peek()?.0.at > now {
            return None;
        }
        self.0.pop().map(|Reverse(t)| t)
    }
}

impl<S: Selector> EventLoop<S> {
    /// Fire the timers that are due. A page that ended before its timer
    /// came simply is not there any more (or its descriptor now belongs to
    /// another page): the timer is dropped, nothing to cancel.
    pub(crate) fn run_due_timers(&mut self, now: Instant) {
        while let Some(timer) = self.timers.pop_due(now) {
            let Some(page) = self
                .pages
                .get_mut(timer.fd as usize)
                .and_then(|p| p.as_mut())
            else {
                continue;
            };
            if page.crawler.page() == timer.page {
                let next = (timer.callback)(&mut page.crawler);
                self.apply(timer.fd, next);
            }
        }
    }
}

/// `timeout` in whole milliseconds for poll and epoll_wait, rounded up so the
/// loop never wakes just before a deadline and has to spin to reach it.
/// `-1` is "no timeout".
pub(crate) fn timeout_ms(timeout: Option<Duration>) -> i32 {
    match timeout {
        None => -1,
        Some(t) => t.as_nanos().div_ceil(1_000_000).min(i32::MAX as u128) as i32,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Crawler;

    #[test]
    fn timeouts_round_up_to_whole_milliseconds() {
        assert_eq!(timeout_ms(None), -1);
        assert_eq!(timeout_ms(Some(Duration::ZERO)), 0);
        assert_eq!(timeout_ms(Some(Duration::from_micros(1))), 1);
        assert_eq!(timeout_ms(Some(Duration::from_micros(1500))), 2);
        assert_eq!(timeout_ms(Some(Duration::from_secs(1 << 40))), i32::MAX);
    }

    #[test]
    fn timers_come_out_soonest_first_and_only_when_due() {
        let now = Instant::now();
        let mut timers = Timers::with_capacity(3);
        for (i, ms) in [30u64, 10, 20].into_iter().enumerate() {
            let at = now + Duration::from_millis(ms);
            timers.push(at, i as RawFd, i, Crawler::timed_out);
        }
        assert_eq!(
            timers.wait_limit(now, None),
            Some(Duration::from_millis(10))
        );
        assert_eq!(
            timers.wait_limit(now, Some(Duration::ZERO)),
            Some(Duration::ZERO)
        );
        assert!(timers.pop_due(now).is_none(), "none is due yet");
        let later = now + Duration::from_millis(30);
        let order: Vec<usize> =
            std::iter::from_fn(|| timers.pop_due(later).map(|t| t.page)).collect();
        assert_eq!(order, [1, 2, 0]);
        assert_eq!(timers.wait_limit(later, None), None);
    }
}
