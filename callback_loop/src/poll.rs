//! The poll backend.
//!
//! poll takes an array of `{descriptor, events wanted, events seen}` and
//! no limit on the descriptor numbers. But the kernel keeps nothing between
//! calls: every wait copies the whole array into the kernel, which checks
//! every socket in it and hooks itself onto each one's wait queue, sleeps,
//! unhooks from all of them, and copies the array back; then we scan all of
//! it for the few entries with something in `revents`. Every wait costs
//! O(watched descriptors), however few are ready: with ten thousand sockets
//! open and one byte arriving at a time, that is the cost the CPU column of
//! the measurements shows.

use crate::{timeout_ms, Interest, Selector};
use nix::poll::{PollFd, PollFlags, PollTimeout};
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};
use std::time::Duration;
use workload::FetchError;

/// No position: the descriptor is not registered.
const NONE: usize = usize::MAX;

#[derive(Default)]
pub struct PollSelector {
    /// The array handed to `poll(2)`, in no particular order.
    fds: Vec<PollFd<'static>>,
    /// Descriptor number -> its position in `fds`, for O(1) modify and
    /// unregister.
    position: Vec<usize>,
}

impl PollSelector {
    pub fn new() -> PollSelector {
        PollSelector::default()
    }
}

/// poll is level-triggered, always: it reports what is true at the time
/// of the call.
fn flags(interest: Interest) -> PollFlags {
    match interest {
        Interest::Read => PollFlags::POLLIN,
        Interest::Write => PollFlags::POLLOUT,
    }
}

impl Selector for PollSelector {
    fn register(&mut self, fd: BorrowedFd<'_>, interest: Interest) -> Result<(), FetchError> {
        let raw = fd.as_raw_fd() as usize;
        if self.position.len() <= raw {
            self.position.resize(raw + 1, NONE);
        }
        // SAFETY: the array outlives this borrow of `fd`, so the entry
        // holds the number with a 'static lifetime. That is sound because
        // of the `Selector` contract: the event loop unregisters (removes
        // the entry) before it closes the socket, so the array only ever
        // names open descriptors.
        let fd = unsafe { BorrowedFd::borrow_raw(fd.as_raw_fd()) };
        self.position[raw] = self.fds.len();
        self.fds.push(PollFd::new(fd, flags(interest)));
        Ok(())
    }

    fn modify(&mut self, fd: BorrowedFd<'_>, interest: Interest) -> Result<(), FetchError> {
        match self.position.get(fd.as_raw_fd() as usize) {
            Some(&at) if at != NONE => {
                self.fds[at].set_events(flags(interest));
                Ok(())
            }
            _ => self.register(fd, interest),
        }
    }

    fn unregister(&mut self, fd: BorrowedFd<'_>) {
        let raw = fd.as_raw_fd() as usize;
        let Some(&at) = self.position.get(raw) else {
            return;
        };
        if at == NONE {
            return;
        }
        // Move the last entry into the hole: O(1), order does not matter.
        self.fds.swap_remove(at);
        self.position[raw] = NONE;
        if let Some(moved) = self.fds.get(at) {
            self.position[number(moved) as usize] = at;
        }
    }

    // ANCHOR: poll_wait
    fn wait(&mut self, timeout: Option<Duration>, ready: &mut Vec<RawFd>) -> io::Result<()> {
        let timeout = PollTimeout::try_from(timeout_ms(timeout)).unwrap_or(PollTimeout::MAX);
        // The whole array goes in, every time...
        let n = nix::poll::poll(&mut self.fds, timeout)?;
        if n == 0 {
            return Ok(());
        }
        // ...and we look at every entry to find the n that are ready.
        // POLLERR, POLLHUP and POLLNVAL come back without being asked for:
        // they count as ready, and the callback's own call reports them.
        for pfd in &self.fds {
            if pfd.revents().is_some_and(|r| !r.is_empty()) {
                ready.push(number(pfd));
            }
        }
        Ok(())
    }
    // ANCHOR_END: poll_wait
}

/// The descriptor number of an entry.
fn number(entry: &PollFd<'_>) -> RawFd {
    entry.as_fd().as_raw_fd()
}
