//! The event loop: the tutorial's `loop()` and its `selector`, with the
//! pages registered in it. A page's socket is registered together with the
//! callback to run when it is ready; one thread sleeps in the selector's
//! wait and runs the callbacks of the sockets the kernel reports.

use std::io;
use std::os::fd::{AsFd, AsRawFd, RawFd};
use std::time::{Duration, Instant};

use workload::{Body, ErrorKind, FetchError, Trace};

use crate::timers::Timers;
use crate::{Callback, Crawler, Interest, Next, Selector};

/// A page registered with the loop: its crawler and the callback to run
/// when its socket is ready (the tutorial keeps the callback in `key.data`).
struct Registered {
    crawler: Crawler,
    interest: Interest,
    callback: Callback,
}

/// The event loop: a selector, the pages registered with it, and the timers.
/// (Field order is drop order: the selector goes before the sockets.)
pub struct EventLoop<S: Selector> {
    selector: S,
    /// Indexed by descriptor number: descriptors are small integers, the
    /// lowest free one each time, so a vector is the natural table. A page
    /// stays here, owning its socket, for as long as it is registered.
    pages: Vec<Option<Box<Registered>>>,
    timers: Timers<Callback>,
    in_flight: usize,
    /// The pages that have ended, with their outcome.
    pub(crate) done: Vec<Trace>,
    /// The ready descriptors of the current turn (kept to reuse its memory).
    ready: Vec<RawFd>,
}

impl<S: Selector> EventLoop<S> {
    pub fn new(selector: S, pages: usize) -> Self {
        EventLoop {
            selector,
            pages: Vec::with_capacity(pages + 16),
            timers: Timers::with_capacity(pages),
            in_flight: 0,
            done: Vec::with_capacity(pages),
            ready: Vec::with_capacity(1024),
        }
    }

    // ANCHOR: register
    /// Register a page's socket with the selector and the callback to run
    /// when it is ready; and its deadline as a timer.
    pub fn register(&mut self, crawler: Crawler, interest: Interest, callback: Callback) {
        let fd = crawler.stream.as_raw_fd();
        // SAFETY: the socket stays open while it is registered. The crawler
        // that owns it moves into `pages[fd]` just below, and leaves only
        // through `end`, which unregisters the socket before dropping it.
        let registered = unsafe { self.selector.register(crawler.stream.as_fd(), interest) };
        if let Err(e) = registered {
            // select's FD_SETSIZE ends up here: this page fails, named,
            // and the others go on.
            self.done.push(crawler.finish(Err(e)));
            return;
        }
        self.call_at(
            crawler.deadline.at(),
            fd,
            crawler.page(),
            Crawler::timed_out,
        );
        let slot = fd as usize;
        if self.pages.len() <= slot {
            self.pages.resize_with(slot + 1, || None);
        }
        self.pages[slot] = Some(Box::new(Registered {
            crawler,
            interest,
            callback,
        }));
        self.in_flight += 1;
    }

    /// asyncio's `call_at`: run `callback` on the page at `fd` at time
    /// `at`, unless the page has ended by then (`timers.rs`).
    pub fn call_at(&mut self, at: Instant, fd: RawFd, page: usize, callback: Callback) {
        self.timers.push(at, fd, page, callback);
    }
    // ANCHOR_END: register

    // ANCHOR: run
    /// The tutorial's `loop()`: wait for events, run their callbacks, until
    /// every page is done.
    pub fn run(&mut self) {
        while self.in_flight > 0 {
            self.run_once(None);
        }
    }

    /// One turn of the loop: due timers, one wait (at most `max_wait`,
    /// and never past the nearest deadline), the ready callbacks.
    pub fn run_once(&mut self, max_wait: Option<Duration>) {
        // Timers first: the pages past their deadline end here, and the
        // wait below sleeps no longer than until the soonest of the others,
        // so a silent server cannot hold a page past its timeout.
        let now = Instant::now();
        self.run_due_timers(now);
        if self.in_flight == 0 {
            return;
        }
        let timeout = self.timers.wait_limit(now, max_wait);

        // The one blocking call: the thread sleeps in the kernel until a
        // socket is ready or the nearest deadline comes. Meanwhile the
        // kernel completes handshakes and queues incoming bytes for
        // every socket, with no help from us.
        let mut ready = std::mem::take(&mut self.ready);
        match self.selector.wait(timeout, &mut ready) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return self.abandon(e),
        }

        // The tutorial's `for key, mask in events: key.data(key, mask)`.
        for fd in ready.drain(..) {
            let Some(page) = self.pages.get_mut(fd as usize).and_then(|p| p.as_mut()) else {
                continue; // ended earlier in this round
            };
            let next = (page.callback)(&mut page.crawler);
            self.apply(fd, next);
        }
        self.ready = ready;
    }
    // ANCHOR_END: run

    // ANCHOR: apply
    /// Do what a callback asked: wait for something else, or end the page.
    fn apply(&mut self, fd: RawFd, next: Next) {
        let slot = fd as usize;
        let Some(page) = self.pages[slot].as_mut() else {
            return;
        };
        match next {
            Next::Wait(interest, callback) => {
                page.callback = callback;
                if interest != page.interest {
                    // Only a change of interest costs a system call;
                    // "read again" keeps the registration as it is.
                    page.interest = interest;
                    if let Err(e) = self.selector.modify(page.crawler.stream.as_fd(), interest) {
                        self.end(slot, Err(e));
                    }
                }
            }
            Next::Done(outcome) => self.end(slot, outcome),
        }
    }

    /// Unregister, then close: in that order, so the selector never
    /// watches a closed (or reused) descriptor number.
    fn end(&mut self, slot: usize, outcome: Result<Body, FetchError>) {
        if let Some(page) = self.pages[slot].take() {
            self.selector.unregister(page.crawler.stream.as_fd());
            self.done.push(page.crawler.finish(outcome));
            self.in_flight -= 1;
        }
    }
    // ANCHOR_END: apply

    /// Fire the timers that are due (`timers.rs`). A page that ended
    /// before its timer came simply is not there any more (or its
    /// descriptor now belongs to another page): the timer is dropped,
    /// nothing to cancel.
    fn run_due_timers(&mut self, now: Instant) {
        while let Some(timer) = self.timers.pop_due(now) {
            let Some(page) = self
                .pages
                .get_mut(timer.fd as usize)
                .and_then(|p| p.as_mut())
            else {
                continue;
            };
            if page.crawler.page() == timer.id {
                let next = (timer.then)(&mut page.crawler);
                self.apply(timer.fd, next);
            }
        }
    }

    /// The selector itself failed: no page can make progress any more, so
    /// each one still in flight fails with the reason.
    fn abandon(&mut self, e: io::Error) {
        let error = FetchError::new(ErrorKind::Io, format!("the selector's wait failed: {e}"));
        for slot in 0..self.pages.len() {
            if self.pages[slot].is_some() {
                self.end(slot, Err(error.clone()));
            }
        }
    }
}
