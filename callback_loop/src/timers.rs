//! Timers: asyncio's `call_at`. The crawler keeps one per page, so that
//! every page ends within `--timeout-ms` even if its server never says a
//! word; the server one per connection, for its think time or for the head
//! it is waiting for. A loop fires the due ones at the start of every turn,
//! and never sleeps in the selector past the soonest of the others.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::os::fd::RawFd;
use std::time::{Duration, Instant};

/// A timer: at `at`, do `then` to whatever has descriptor `fd` and number
/// `id`, if it is still there. (The number tells a page, or a connection,
/// from a later one that was given the same descriptor.)
pub(crate) struct Timer<T> {
    pub(crate) at: Instant,
    pub(crate) fd: RawFd,
    pub(crate) id: usize,
    pub(crate) then: T,
}

// Timers are ordered by when they fire (the id breaks ties).
impl<T> Ord for Timer<T> {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.at, self.id, self.fd).cmp(&(other.at, other.id, other.fd))
    }
}
impl<T> PartialOrd for Timer<T> {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl<T> PartialEq for Timer<T> {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other).is_eq()
    }
}
impl<T> Eq for Timer<T> {}

/// The pending timers, soonest first. `T` is what a timer does: a page's
/// callback in the crawler, a connection's in the server.
pub(crate) struct Timers<T>(BinaryHeap<Reverse<Timer<T>>>);

impl<T> Timers<T> {
    pub(crate) fn with_capacity(n: usize) -> Timers<T> {
        Timers(BinaryHeap::with_capacity(n))
    }

    pub(crate) fn push(&mut self, at: Instant, fd: RawFd, id: usize, then: T) {
        self.0.push(Reverse(Timer { at, fd, id, then }));
    }

    /// How long the selector may sleep from `now`: until the soonest timer,
    /// and no longer than `max_wait` (`None` for both: no limit).
    pub(crate) fn wait_limit(&self, now: Instant, max_wait: Option<Duration>) -> Option<Duration> {
        let until_timer = self
            .0
            .peek()
            .map(|Reverse(t)| t.at.saturating_duration_since(now));
        sooner(until_timer, max_wait)
    }

    /// The soonest timer, if it is due at `now`.
    pub(crate) fn pop_due(&mut self, now: Instant) -> Option<Timer<T>> {
        if self.0.peek()?.0.at > now {
            return None;
        }
        self.0.pop().map(|Reverse(t)| t)
    }
}

/// The shorter of two waits, `None` being "no limit".
pub(crate) fn sooner(a: Option<Duration>, b: Option<Duration>) -> Option<Duration> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
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
            timers.push(at, i as RawFd, i, ());
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
            std::iter::from_fn(|| timers.pop_due(later).map(|t| t.id)).collect();
        assert_eq!(order, [1, 2, 0]);
        assert_eq!(timers.wait_limit(later, None), None);
    }
}
