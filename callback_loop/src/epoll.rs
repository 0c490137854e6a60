//! The epoll backend (the default, and the tutorial's `DefaultSelector` on
//! Linux).
//!
//! The interest list lives in the kernel: `epoll_ctl` adds, changes or
//! removes one descriptor, once, and `epoll_wait` hands back only the
//! descriptors that are ready. The kernel keeps a ready list that each
//! socket's wake-up appends to, so a wait costs the same with ten sockets
//! or ten thousand: it is paid per *event*, not per *watched descriptor*.
//! That is the difference with poll and select, which pass and scan the
//! whole set on every call. It also keeps the open file itself, not just
//! its number: a socket closed while registered leaves the list by itself.

use crate::timers::timeout_ms;
use crate::{Interest, Selector};
use nix::sys::epoll::{Epoll, EpollCreateFlags, EpollEvent, EpollFlags, EpollTimeout};
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, RawFd};
use std::time::Duration;
use workload::{ErrorKind, FetchError};

/// At most this many events come back from one `epoll_wait`; more ready
/// descriptors simply wait for the next round (level-triggered: they stay
/// ready, nothing is lost).
const EVENTS_PER_WAIT: usize = 1024;

pub struct EpollSelector {
    epoll: Epoll,
    events: Vec<EpollEvent>,
}

impl EpollSelector {
    pub fn new() -> io::Result<EpollSelector> {
        Ok(EpollSelector {
            epoll: Epoll::new(EpollCreateFlags::EPOLL_CLOEXEC)?,
            events: vec![EpollEvent::empty(); EVENTS_PER_WAIT],
        })
    }
}

// ANCHOR: epoll_flags
/// LEVEL-TRIGGERED: no `EPOLLET` here. Adding `EpollFlags::EPOLLET` would
/// make epoll report a socket once per *change* (new bytes arrived) instead
/// of on every wait while it *is* readable; `Crawler::read_response`, which
/// reads once per call, would then leave the rest of a large page unread
/// until the timeout.
fn flags(interest: Interest) -> EpollFlags {
    match interest {
        Interest::Read => EpollFlags::EPOLLIN,
        Interest::Write => EpollFlags::EPOLLOUT,
    }
}
// ANCHOR_END: epoll_flags

fn ctl_error(op: &str, fd: RawFd, e: nix::Error) -> FetchError {
    FetchError::new(
        ErrorKind::Resource,
        format!("epoll_ctl({op}) refused descriptor {fd}: {e}"),
    )
}

impl Selector for EpollSelector {
    unsafe fn register(
        &mut self,
        fd: BorrowedFd<'_>,
        interest: Interest,
    ) -> Result<(), FetchError> {
        // The event's data is the descriptor itself: epoll gives it back
        // with each event, and the loop finds the page by it.
        let raw = fd.as_raw_fd();
        let event = EpollEvent::new(flags(interest), raw as u64);
        self.epoll
            .add(fd, event)
            .map_err(|e| ctl_error("ADD", raw, e))
    }

    fn modify(&mut self, fd: BorrowedFd<'_>, interest: Interest) -> Result<(), FetchError> {
        let raw = fd.as_raw_fd();
        let mut event = EpollEvent::new(flags(interest), raw as u64);
        self.epoll
            .modify(fd, &mut event)
            .map_err(|e| ctl_error("MOD", raw, e))
    }

    fn unregister(&mut self, fd: BorrowedFd<'_>) {
        // Closing the socket would remove it too (when no other descriptor
        // refers to it); saying so keeps the three backends alike.
        let _ = self.epoll.delete(fd);
    }

    // ANCHOR: epoll_wait
    fn wait(&mut self, timeout: Option<Duration>, ready: &mut Vec<RawFd>) -> io::Result<()> {
        let timeout = EpollTimeout::try_from(timeout_ms(timeout)).unwrap_or(EpollTimeout::MAX);
        // Only ready descriptors come back: the work after the call is
        // proportional to what happened, not to what is watched.
        let n = self.epoll.wait(&mut self.events, timeout)?;
        ready.extend(self.events[..n].iter().map(|e| e.data() as RawFd));
        Ok(())
    }
    // ANCHOR_END: epoll_wait
}
