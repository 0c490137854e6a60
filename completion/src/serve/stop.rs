//! What guards the server, not what it teaches: stopping at Ctrl-C, and
//! the accept's pause when the process is out of descriptors.
//!
//! - Stopping: a poll on the shutdown's descriptor completes at Ctrl-C
//!   (and the accept fails with EINVAL, the listener being shut down).
//!   Then the accept and the poll are cancelled, the idle connections'
//!   recvs too; a request in its think time goes on, is answered, and its
//!   connection closes. The loop ends when the kernel holds nothing.
//! - Out of descriptors (EMFILE): the multishot accept ends with the
//!   error. It is armed again only after a timeout op of
//!   [`ACCEPT_BACKOFF`](workload::serve::ACCEPT_BACKOFF): meanwhile the
//!   connections wait in the backlog, the others are served, and nothing
//!   spins.

use super::uring::{Op, Server};
use io_uring::{opcode, types};
use std::io;
use std::os::fd::AsRawFd;
use std::time::Duration;
use workload::serve::{after_accept_error, AfterAcceptError};

/// The listener's operations in the kernel, and whether the server stops.
#[derive(Debug, Default)]
pub(super) struct Stopping {
    pub(super) stopping: bool,
    /// The multishot accept is armed.
    pub(super) accepting: bool,
    /// The pause after EMFILE is in the kernel.
    pausing: bool,
    /// The poll on the shutdown's descriptor is in the kernel.
    watching: bool,
    /// The pause, read by the kernel.
    pause: types::Timespec,
    /// Why the listener failed, if it did.
    failed: Option<io::Error>,
}

impl Stopping {
    /// Whether the accept should be armed again now.
    pub(super) fn should_rearm(&self) -> bool {
        !self.stopping && !self.accepting && !self.pausing
    }

    /// Whether the loop is over: stopping, and nothing in the kernel.
    pub(super) fn done(&self, in_kernel: usize) -> bool {
        self.stopping && in_kernel == 0
    }

    /// What `serve` returns.
    pub(super) fn outcome(&mut self) -> io::Result<()> {
        self.failed.take().map_or(Ok(()), Err)
    }
}

impl Server {
    /// Ask the kernel to complete a poll once Ctrl-C has come.
    pub(super) fn watch_shutdown(&mut self) {
        let fd = types::Fd(self.shutdown.fd().as_raw_fd());
        let poll = opcode::PollAdd::new(fd, libc::POLLIN as u32)
            .build()
            .user_data(Op::ShutdownWatch.user_data(None));
        self.stopping.watching = true;
        // SAFETY: the poll points to nothing of ours but the shutdown's
        // descriptor, open as long as the server.
        unsafe { self.ring.push(&[poll]) };
    }

    /// The poll completed: Ctrl-C (or it was cancelled by the stop).
    pub(super) fn stop_watch_fired(&mut self) {
        self.stopping.watching = false;
        self.stop();
    }

    /// The accept failed with `errno`.
    pub(super) fn accept_failed(&mut self, errno: i32) {
        if errno == libc::ECANCELED {
            // Cancelled here (a pause or the stop): nothing to decide.
            return;
        }
        match after_accept_error(&io::Error::from_raw_os_error(errno), &self.shutdown) {
            AfterAcceptError::Retry => {}
            AfterAcceptError::BackOff(pause) => self.pause_accepting(pause),
            AfterAcceptError::Stop(Ok(())) => self.stop(),
            AfterAcceptError::Stop(Err(e)) => {
                self.stopping.failed = Some(e);
                self.stop();
            }
        }
    }

    /// Stop accepting for `pause`: a timeout op, whose completion arms the
    /// accept again.
    fn pause_accepting(&mut self, pause: Duration) {
        if self.stopping.accepting {
            self.cancel(Op::Accept);
        }
        self.stopping.pause = types::Timespec::from(pause);
        self.stopping.pausing = true;
        let timeout = opcode::Timeout::new(&self.stopping.pause)
            .build()
            .user_data(Op::AcceptPause.user_data(None));
        // SAFETY: the timeout points to `pause`, in the server, which does
        // not move while the loop runs (and the kernel copies it).
        unsafe { self.ring.push(&[timeout]) };
    }

    /// The pause is over (or cancelled by the stop).
    pub(super) fn pause_over(&mut self) {
        self.stopping.pausing = false;
        if self.stopping.should_rearm() {
            self.accept();
        }
    }

    /// Stop: no more accepts, no more waiting for Ctrl-C, the idle
    /// connections closed; requests in their think time finish.
    pub(super) fn stop(&mut self) {
        if std::mem::replace(&mut self.stopping.stopping, true) {
            return;
        }
        if self.stopping.accepting {
            self.cancel(Op::Accept);
        }
        if self.stopping.watching {
            self.cancel(Op::ShutdownWatch);
        }
        if self.stopping.pausing {
            self.cancel(Op::AcceptPause);
        }
        self.close_idle();
    }

    /// Cancel the server's operation `op`; the operation completes on its
    /// own (with -ECANCELED), and so does the cancel.
    fn cancel(&mut self, op: Op) {
        let cancel = opcode::AsyncCancel::new(op.user_data(None))
            .build()
            .user_data(Op::Cancel.user_data(None));
        // SAFETY: a cancel points to nothing; it names its target by
        // user_data.
        unsafe { self.ring.push(&[cancel]) };
    }
}
