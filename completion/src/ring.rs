//! The ring: the submission and completion queues shared with the kernel,
//! the provided buffers, and the count of operations the kernel holds.
//!
//! The count is what makes completion I/O safe to write: memory that an
//! operation points to (a buffer, an address, a deadline) is the kernel's
//! from submission until its completion is reaped. `Ring` knows how many
//! operations are out; it frees its buffers only when none is, and leaks
//! them otherwise (say, the loop stopped on an error).

use crate::bufring::BufRing;
use io_uring::{squeue, IoUring};
use std::collections::VecDeque;
use std::io;

/// The completion queue may hold this many entries per submission entry:
/// completions of many batches pile up while the program is busy.
const CQ_PER_SQ: u32 = 8;

/// How the ring is sized.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RingSize {
    /// Submission queue entries (a power of two; the kernel rounds up).
    pub entries: u32,
    /// Provided receive buffers (a power of two, at most 32768).
    pub buffers: u16,
    /// Bytes per receive buffer: the most one recv completion can carry.
    pub buffer_size: u32,
}

impl Default for RingSize {
    fn default() -> Self {
        RingSize {
            entries: 1024,
            buffers: 512,
            buffer_size: 4096,
        }
    }
}

/// One completion queue entry, copied out of the ring.
#[derive(Debug, Clone, Copy)]
pub struct Completion {
    pub user_data: u64,
    /// The operation's return value: what the system call would have
    /// returned, or `-errno`.
    pub result: i32,
    pub flags: u32,
}

/// What the ring did, counted for the crate's tests (not part of the
/// lesson's interface).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Stats {
    /// `io_uring_enter` calls.
    pub enters: u64,
    /// Submission entries the kernel took.
    pub submitted: u64,
    /// Completions reaped.
    pub reaped: u64,
    /// Times the submission queue was full and handed to the kernel early.
    pub full: u64,
    /// Recvs that found every provided buffer taken, and waited for one.
    pub buffer_waits: u64,
    /// The most groups of entries that had to wait for room in the queue
    /// (when the kernel was too busy to take the full queue at once).
    pub max_unsent: usize,
}

pub struct Ring {
    uring: IoUring,
    pub(crate) buffers: BufRing,
    /// Entries that found the submission queue full, each group of linked
    /// entries kept together, in order.
    unsent: VecDeque<Vec<squeue::Entry>>,
    /// Entries pushed whose completion has not been reaped yet.
    in_kernel: usize,
    pub(crate) stats: Stats,
}

impl Ring {
    pub fn new(size: RingSize) -> io::Result<Ring> {
        if size.entries < 2 {
            // A linked pair must fit in the submission queue at once.
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "a ring needs at least 2 submission entries (an operation and its linked timeout)",
            ));
        }
        let uring = IoUring::builder()
            .setup_cqsize(size.entries.saturating_mul(CQ_PER_SQ))
            .setup_clamp()
            // Completions are posted when this thread next enters the
            // kernel, not by interrupting it while it runs.
            .setup_coop_taskrun()
            .setup_single_issuer()
            // An entry the kernel refuses (it completes with the error)
            // does not hold back the rest of its batch.
            .setup_submit_all()
            .build(size.entries)?;
        let buffers = BufRing::register(&uring.submitter(), 0, size.buffers, size.buffer_size)?;
        Ok(Ring {
            uring,
            buffers,
            unsent: VecDeque::new(),
            in_kernel: 0,
            stats: Stats::default(),
        })
    }

    /// Queue `group` for the kernel: one entry, or entries linked with
    /// `IO_LINK`, which go into the submission queue together (a link
    /// split across two submissions would be cut). When the queue is full,
    /// what is in it is handed to the kernel first, without waiting.
    ///
    /// # Safety
    /// Everything the entries point to must stay valid, and unmoved, until
    /// their completions have been reaped.
    pub unsafe fn push(&mut self, group: &[squeue::Entry]) {
        self.in_kernel += group.len();
        if self.unsent.is_empty() {
            // SAFETY: the caller's contract.
            if unsafe { self.uring.submission().push_multiple(group) }.is_ok() {
                return;
            }
            self.stats.full += 1;
            if self.enter(0).is_ok() {
                // SAFETY: the caller's contract.
                if unsafe { self.uring.submission().push_multiple(group) }.is_ok() {
                    return;
                }
            }
        }
        self.unsent.push_back(group.to_vec());
        self.stats.max_unsent = self.stats.max_unsent.max(self.unsent.len());
    }

    pub(crate) fn submitter(&self) -> io_uring::Submitter<'_> {
        self.uring.submitter()
    }

    /// Entries pushed and not yet completed.
    pub fn in_kernel(&self) -> usize {
        self.in_kernel
    }

    /// Hand every queued entry to the kernel and sleep until at least
    /// `want` completions are ready: one `io_uring_enter` for the whole
    /// batch, however many pages it concerns.
    pub fn submit_and_wait(&mut self, want: usize) -> io::Result<()> {
        while let Some(group) = self.unsent.front() {
            // SAFETY: pushed with `push`, whose caller keeps the memory valid.
            if unsafe { self.uring.submission().push_multiple(group) }.is_ok() {
                self.unsent.pop_front();
                continue;
            }
            // The queue is full and more is waiting: submit, then refill
            // (unless the kernel took nothing: then reap first).
            self.stats.full += 1;
            if !self.enter(0)? || self.uring.submission().is_full() {
                break;
            }
        }
        self.enter(want).map(drop)
    }

    /// One `io_uring_enter`. `Ok(false)`: the kernel is busy (its
    /// completion queue overflowed, or it is short of memory for new
    /// requests) and wants completions reaped first.
    fn enter(&mut self, want: usize) -> io::Result<bool> {
        self.stats.enters += 1;
        match self.uring.submitter().submit_and_wait(want) {
            Ok(n) => {
                self.stats.submitted += n as u64;
                Ok(true)
            }
            Err(e) if e.raw_os_error() == Some(libc::EINTR) => Ok(true),
            Err(e) if matches!(e.raw_os_error(), Some(libc::EBUSY | libc::EAGAIN)) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Copy every ready completion into `out`.
    pub fn reap(&mut self, out: &mut Vec<Completion>) {
        let before = out.len();
        out.extend(self.uring.completion().map(|cqe| Completion {
            user_data: cqe.user_data(),
            result: cqe.result(),
            flags: cqe.flags(),
        }));
        let n = out.len() - before;
        // A multishot operation (the server's accept) posts a completion
        // per result and stays in the kernel while `IORING_CQE_F_MORE` is
        // set: only its last completion ends it.
        let ended = out[before..]
            .iter()
            .filter(|c| !io_uring::cqueue::more(c.flags))
            .count();
        self.in_kernel = self.in_kernel.saturating_sub(ended);
        self.stats.reaped += n as u64;
    }
}

impl Drop for Ring {
    fn drop(&mut self) {
        if self.in_kernel == 0 {
            // Nothing can select a buffer any more: let the kernel forget
            // the pool, so that `BufRing` may free it.
            self.buffers.unregister(&self.uring.submitter());
        }
    }
}
