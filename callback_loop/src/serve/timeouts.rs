//! The connections' timers, kept few.
//!
//! A connection has at most one timer that counts at a time: the end of
//! its think time, or the deadline of a wait for the client (the header
//! timeout, the goodbye). It moves on every request, so pushing a new heap
//! entry each time would leave the heap full of stale ones on a busy
//! keep-alive connection (a request every 100 us and a 5 s header timeout:
//! 50,000 entries for one connection). Instead the heap holds at most one
//! entry per connection at or before the time that counts; when it fires
//! early, the connection's real time is queued then (lazily, as many
//! timer wheels do).

use std::os::fd::RawFd;
use std::time::Instant;

use super::Callback;
use crate::timers::Timers;

/// What a heap entry is for.
pub(crate) enum Alarm {
    /// The connection at its descriptor (if its number still matches).
    Connection,
    /// Accept again: the listener's backoff is over.
    Accept,
}

/// One connection's timer, kept with its registration.
#[derive(Default)]
pub(crate) struct ConnTimer {
    /// The time that counts, and the callback to run then.
    wake: Option<(Instant, Callback)>,
    /// The earliest entry for this connection still in the heap.
    queued: Option<Instant>,
}

impl ConnTimer {
    /// Set the connection's timer (`None`: no timer), queueing an entry
    /// only if none is queued at or before it.
    pub(crate) fn set(
        &mut self,
        wake: Option<(Instant, Callback)>,
        timers: &mut Timers<Alarm>,
        fd: RawFd,
        id: usize,
    ) {
        self.wake = wake;
        if let Some((at, _)) = wake {
            if self.queued.is_none_or(|q| q > at) {
                timers.push(at, fd, id, Alarm::Connection);
                self.queued = Some(at);
            }
        }
    }

    /// An entry for this connection, queued for `at`, has come due: the
    /// callback to run now if the connection's time has come; otherwise
    /// its later time is queued.
    pub(crate) fn fired(
        &mut self,
        at: Instant,
        now: Instant,
        timers: &mut Timers<Alarm>,
        fd: RawFd,
        id: usize,
    ) -> Option<Callback> {
        if self.queued == Some(at) {
            self.queued = None;
        }
        match self.wake {
            Some((due, then)) if due <= now => {
                self.wake = None;
                Some(then)
            }
            Some(later) => {
                self.set(Some(later), timers, fd, id);
                None
            }
            None => None,
        }
    }
}
