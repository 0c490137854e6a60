//! The poll backend.
//!
//! poll takes an array of `{descriptor, events wanted, events seen}` and
//! no limit on the descriptor numbers. But the kernel keeps nothing between
//! calls: every wait copies the whole array into the kernel, which checks
//! every socket in it and hooks itself onto each one's wait queue, sleeps,
//! unhooks from all of them, and copies the array back; then we scan all of
//! it for the few entries with something in `revents`. Every wait costs
//! O(watched descriptors), however few are ready.

use crate::timers::timeout_ms;
use crate::{Interest, Selector};
use nix::libc::{self, pollfd};
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, RawFd};
use std::time::Duration;
use workload::{ErrorKind, FetchError};

/// No position: the descriptor is not registered.
const NONE: usize = usize::MAX;

#[derive(Default)]
pub struct PollSelector {
    /// The array handed to `poll(2)`, in no particular order: plain
    /// descriptor numbers, as the kernel takes them.
    fds: Vec<pollfd>,
    /// Descriptor number -> its position in `fds`, for O(1) modify and
    /// unregister.
    position: Vec<usize>,
}

impl PollSelector {
    pub fn new() -> PollSelector {
        PollSelector::default()
    }

    fn position(&self, fd: RawFd) -> Option<usize> {
        let at = *self.position.get(usize::try_from(fd).ok()?)?;
        (at != NONE).then_some(at)
    }
}

/// poll is level-triggered, always: it reports what is true at the time
/// of the call.
fn events(interest: Interest) -> i16 {
    match interest {
        Interest::Read => libc::POLLIN,
        Interest::Write => libc::POLLOUT,
    }
}

impl Selector for PollSelector {
    unsafe fn register(
        &mut self,
        fd: BorrowedFd<'_>,
        interest: Interest,
    ) -> Result<(), FetchError> {
        if self.position(fd.as_raw_fd()).is_some() {
            return self.modify(fd, interest);
        }
        let raw = fd.as_raw_fd() as usize;
        if self.position.len() <= raw {
            self.position.resize(raw + 1, NONE);
        }
        // Only the number is kept; the caller promised it stays open until
        // it is unregistered.
        self.position[raw] = self.fds.len();
        self.fds.push(pollfd {
            fd: fd.as_raw_fd(),
            events: events(interest),
            revents: 0,
        });
        Ok(())
    }

    fn modify(&mut self, fd: BorrowedFd<'_>, interest: Interest) -> Result<(), FetchError> {
        let Some(at) = self.position(fd.as_raw_fd()) else {
            return Err(FetchError::new(
                ErrorKind::Io,
                format!("poll: descriptor {} is not registered", fd.as_raw_fd()),
            ));
        };
        self.fds[at].events = events(interest);
        Ok(())
    }

    fn unregister(&mut self, fd: BorrowedFd<'_>) {
        let Some(at) = self.position(fd.as_raw_fd()) else {
            return;
        };
        // Move the last entry into the hole: O(1), order does not matter.
        self.fds.swap_remove(at);
        self.position[fd.as_raw_fd() as usize] = NONE;
        if let Some(moved) = self.fds.get(at) {
            self.position[moved.fd as usize] = at;
        }
    }

    // ANCHOR: poll_wait
    fn wait(&mut self, timeout: Option<Duration>, ready: &mut Vec<RawFd>) -> io::Result<()> {
        // The whole array goes in, every time...
        // SAFETY: the pointer and length are those of our own array, which
        // nothing else touches during the call. Every number in it was
        // registered under `register`'s contract: open until unregistered.
        let n = unsafe {
            libc::poll(
                self.fds.as_mut_ptr(),
                self.fds.len() as libc::nfds_t,
                timeout_ms(timeout),
            )
        };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        if n == 0 {
            return Ok(());
        }
        // ...and we look at every entry to find the n that are ready.
        // POLLERR, POLLHUP and POLLNVAL come back without being asked for:
        // they count as ready, and the callback's own call reports them.
        for entry in &self.fds {
            if entry.revents != 0 {
                ready.push(entry.fd);
            }
        }
        Ok(())
    }
    // ANCHOR_END: poll_wait
}
