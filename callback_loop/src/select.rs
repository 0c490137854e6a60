//! The select backend: the oldest of the three.
//!
//! select takes bitmaps: bit `fd` of the read set means "tell me when
//! descriptor `fd` is readable". The bitmaps have a fixed size, FD_SETSIZE
//! bits (1024 on Linux), and the C macros that set a bit do not check it:
//! `FD_SET(1500, &set)` writes past the end of the bitmap, over whatever
//! memory follows. So a descriptor numbered 1024 or more cannot be watched
//! at all, however few sockets there are; this backend refuses it with an
//! error the page reports as `resource`. nix's `FdSet` checks the bound
//! with an assertion (a panic); we check first, so it never fires.
//!
//! Like poll, select keeps nothing between calls: the bitmaps are rebuilt,
//! copied into the kernel, scanned up to the highest descriptor, and
//! overwritten with the answer on every wait.

use crate::{Interest, Selector};
use nix::sys::select::{select, FdSet};
use nix::sys::time::{TimeVal, TimeValLike};
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, RawFd};
use std::time::Duration;
use workload::{ErrorKind, FetchError};

/// The size of select's bitmaps: descriptors `0..FD_SETSIZE` only.
pub const FD_SETSIZE: usize = nix::sys::select::FD_SETSIZE;

pub struct SelectSelector {
    /// What each descriptor below FD_SETSIZE waits for.
    interest: Vec<Option<Interest>>,
    /// The highest registered descriptor: select's first argument is
    /// `highest + 1`, and the kernel scans every bit up to it.
    highest: Option<RawFd>,
}

impl Default for SelectSelector {
    fn default() -> Self {
        SelectSelector::new()
    }
}

impl SelectSelector {
    pub fn new() -> SelectSelector {
        SelectSelector {
            interest: vec![None; FD_SETSIZE],
            highest: None,
        }
    }

    fn recompute_highest(&mut self) {
        self.highest = self
            .interest
            .iter()
            .rposition(Option::is_some)
            .map(|i| i as RawFd);
    }
}

// ANCHOR: fd_setsize
/// The check that keeps select defined: a descriptor at or above
/// FD_SETSIZE has no bit in the bitmaps.
fn check_fd(fd: RawFd) -> Result<usize, FetchError> {
    match usize::try_from(fd) {
        Ok(i) if i < FD_SETSIZE => Ok(i),
        _ => Err(FetchError::new(
            ErrorKind::Resource,
            format!(
                "descriptor {fd} is at or above FD_SETSIZE ({FD_SETSIZE}): select() cannot watch it \
                 (its bitmaps have {FD_SETSIZE} bits); use --variant poll or epoll"
            ),
        )),
    }
}
// ANCHOR_END: fd_setsize

impl Selector for SelectSelector {
    unsafe fn register(
        &mut self,
        fd: BorrowedFd<'_>,
        interest: Interest,
    ) -> Result<(), FetchError> {
        // Only the number is kept; the caller promised it stays open until
        // it is unregistered.
        let raw = fd.as_raw_fd();
        let i = check_fd(raw)?;
        self.interest[i] = Some(interest);
        self.highest = self.highest.max(Some(raw));
        Ok(())
    }

    fn modify(&mut self, fd: BorrowedFd<'_>, interest: Interest) -> Result<(), FetchError> {
        let i = check_fd(fd.as_raw_fd())?;
        match &mut self.interest[i] {
            Some(wanted) => {
                *wanted = interest;
                Ok(())
            }
            None => Err(FetchError::new(
                ErrorKind::Io,
                format!("select: descriptor {i} is not registered"),
            )),
        }
    }

    fn unregister(&mut self, fd: BorrowedFd<'_>) {
        if let Ok(i) = check_fd(fd.as_raw_fd()) {
            self.interest[i] = None;
            if self.highest == Some(fd.as_raw_fd()) {
                self.recompute_highest();
            }
        }
    }

    // ANCHOR: select_wait
    fn wait(&mut self, timeout: Option<Duration>, ready: &mut Vec<RawFd>) -> io::Result<()> {
        let Some(highest) = self.highest else {
            // Nothing to watch: just sleep until the timeout.
            std::thread::sleep(timeout.unwrap_or(Duration::from_millis(10)));
            return Ok(());
        };
        // Rebuild both bitmaps from scratch: select overwrites them with
        // its answer, so nothing of the last call can be reused.
        let mut readable = FdSet::new();
        let mut writable = FdSet::new();
        for (i, interest) in self.interest[..=highest as usize].iter().enumerate() {
            let Some(interest) = interest else { continue };
            // SAFETY: `i` is registered, and `register`'s contract keeps a
            // registered descriptor open until it is unregistered, which
            // cannot happen during this call. The borrow lasts only for the
            // call. (`i` passed `check_fd`: below FD_SETSIZE, so `insert`
            // cannot panic.)
            let fd = unsafe { BorrowedFd::borrow_raw(i as RawFd) };
            match interest {
                Interest::Read => readable.insert(fd),
                Interest::Write => writable.insert(fd),
            }
        }
        let mut tv = timeout.map(|t| {
            // Round up to whole microseconds, like the others round to ms.
            TimeVal::microseconds(t.as_nanos().div_ceil(1000).min(i64::MAX as u128) as i64)
        });
        select(highest + 1, &mut readable, &mut writable, None, tv.as_mut())?;
        // The kernel left a bit set for each ready descriptor: read them all.
        ready.extend(readable.fds(Some(highest)).map(|fd| fd.as_raw_fd()));
        ready.extend(writable.fds(Some(highest)).map(|fd| fd.as_raw_fd()));
        Ok(())
    }
    // ANCHOR_END: select_wait
}
