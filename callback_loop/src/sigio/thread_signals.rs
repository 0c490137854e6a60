//! What keeps signal-driven I/O from ending the process, and what tells
//! when its events were lost.
//!
//! A blocked signal waits in the thread's queue; an unblocked one runs its
//! default action, which for SIGIO and the real-time signals is to
//! terminate the whole process, every thread of a test binary included.
//! So [`ThreadSignals`] blocks both in this thread for as long as sockets
//! may raise them, and when dropped first drains what is still queued,
//! then gives the thread its previous mask back. It cannot leave the
//! thread (`!Send`): a signal mask belongs to one thread.
//!
//! The queue is bounded by RLIMIT_SIGPENDING; a real-time signal that does
//! not fit becomes a plain SIGIO, [`Woken::Lost`].

use std::io;
use std::marker::PhantomData;
use std::time::Duration;

use nix::libc::{self, c_int, c_long};
use nix::sys::resource::{getrlimit, Resource, RLIM_INFINITY};
use nix::sys::signal::{SigSet, SigmaskHow};
use nix::unistd::{gettid, Pid};
use std::os::fd::RawFd;
use workload::{ErrorKind, FetchError};

use super::{signal_set, sigtimedwait};

/// What a wait brought.
pub(crate) enum Woken {
    /// A socket's state changed: its descriptor and the band (POLLIN,
    /// POLLOUT, POLLERR, POLLHUP) from the signal's `siginfo`.
    Ready { fd: RawFd, band: c_long },
    /// A plain SIGIO: a real-time signal did not fit in the queue, so some
    /// event of some socket is gone.
    Lost,
}

/// This thread's ready signal and SIGIO, blocked until the guard is dropped.
pub(crate) struct ThreadSignals {
    set: SigSet,
    previous: SigSet,
    tid: Pid,
    ready: c_int,
    _one_thread: PhantomData<*const ()>,
}

/// The real-time signal the sockets raise. glibc keeps the first few for
/// itself and says so in SIGRTMIN; a few above it, away from the numbers
/// other libraries tend to take first. Any real-time signal nobody else in
/// the process uses would do.
fn ready_signal() -> c_int {
    libc::SIGRTMIN() + 4
}

impl ThreadSignals {
    pub(crate) fn block() -> io::Result<ThreadSignals> {
        let ready = ready_signal();
        let set = signal_set(&[ready, libc::SIGIO])?;
        let previous = set.thread_swap_mask(SigmaskHow::SIG_BLOCK)?;
        Ok(ThreadSignals {
            set,
            previous,
            tid: gettid(),
            ready,
            _one_thread: PhantomData,
        })
    }

    /// The thread the sockets must signal: this one.
    pub(crate) fn tid(&self) -> Pid {
        self.tid
    }

    pub(crate) fn ready_signal(&self) -> c_int {
        self.ready
    }

    /// The next signal from the queue, waiting at most `timeout` (`None`:
    /// no limit). `Ok(None)`: nothing came.
    pub(crate) fn wait(&self, timeout: Option<Duration>) -> io::Result<Option<Woken>> {
        match sigtimedwait(&self.set, timeout) {
            Ok(Some((signo, fd, band))) if signo == self.ready => {
                Ok(Some(Woken::Ready { fd, band }))
            }
            Ok(Some(_)) => Ok(Some(Woken::Lost)),
            Ok(None) => Ok(None),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => Ok(None),
            Err(e) => Err(e),
        }
    }
}

impl Drop for ThreadSignals {
    fn drop(&mut self) {
        // Every socket is disarmed and closed by now, so nothing new can
        // be queued; what is queued would be delivered, and kill the
        // process, the moment the signals are unblocked. Take it first.
        loop {
            match sigtimedwait(&self.set, Some(Duration::ZERO)) {
                Ok(Some(_)) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Ok(None) | Err(_) => break,
            }
        }
        let _ = self.previous.thread_set_mask();
    }
}

/// The error of every page in flight when signals were lost.
pub(crate) fn lost_signals_error() -> FetchError {
    let limit = match getrlimit(Resource::RLIMIT_SIGPENDING) {
        Ok((RLIM_INFINITY, _)) => "unlimited".to_string(),
        Ok((soft, _)) => soft.to_string(),
        Err(_) => "unknown".to_string(),
    };
    FetchError::new(
        ErrorKind::Resource,
        format!(
            "the real-time signal queue was full (RLIMIT_SIGPENDING, `ulimit -i`, is {limit} \
             signals per user): the kernel sent a plain SIGIO instead, so socket events were \
             lost and no page in flight can tell whether it is ready"
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use nix::sys::signal::Signal;
    use std::io::Write;
    use std::os::fd::{AsFd, AsRawFd, OwnedFd};
    use std::os::unix::net::UnixStream;
    use std::sync::mpsc::{channel, Receiver, Sender};
    use std::thread::JoinHandle;

    /// What one wait found: the descriptor and band of a ready signal (-1
    /// for a SIGIO), or nothing.
    type Seen = Option<(RawFd, c_long)>;

    /// A thread that blocks the signals, arms `socket` if given, says it is
    /// ready, and on "go" reports what one zero-timeout wait finds.
    fn waiter(socket: Option<OwnedFd>) -> (Receiver<()>, Sender<()>, JoinHandle<Seen>) {
        let (ready_tx, ready_rx) = channel();
        let (go_tx, go_rx) = channel::<()>();
        let handle = std::thread::spawn(move || {
            let signals = ThreadSignals::block().unwrap();
            if let Some(socket) = &socket {
                super::super::arm(socket.as_fd(), &signals).unwrap();
            }
            ready_tx.send(()).unwrap();
            go_rx.recv().unwrap();
            let woken = signals.wait(Some(Duration::ZERO)).unwrap();
            if let Some(socket) = &socket {
                super::super::disarm(socket.as_fd()).unwrap();
            }
            drop(socket);
            match woken {
                Some(Woken::Ready { fd, band }) => Some((fd, band)),
                Some(Woken::Lost) => Some((-1, 0)),
                None => None,
            }
        });
        (ready_rx, go_tx, handle)
    }

    /// Two threads block the same signal; a socket armed by the first
    /// raises it: the first finds it queued, the second finds nothing. A
    /// write to a Unix socket queues the peer's signal before it returns,
    /// so no waiting is involved.
    #[test]
    fn a_socket_signals_the_thread_that_armed_it_only() {
        let (ours, mut peer) = UnixStream::pair().unwrap();
        let fd = ours.as_raw_fd();
        let (owner_ready, owner_go, owner) = waiter(Some(ours.into()));
        let (other_ready, other_go, other) = waiter(None);
        owner_ready.recv().unwrap();
        other_ready.recv().unwrap();

        peer.write_all(b"x").unwrap();
        other_go.send(()).unwrap();
        let seen_by_other = other.join().unwrap();
        owner_go.send(()).unwrap();
        let seen_by_owner = owner.join().unwrap();

        assert_eq!(seen_by_other, None, "another thread got the owner's signal");
        let (got_fd, band) = seen_by_owner.expect("the owner thread got no signal");
        assert_eq!(got_fd, fd);
        assert_ne!(band & libc::POLLIN as c_long, 0, "band {band:#x}");
    }

    /// A signal still queued when the guard goes is drained, not delivered
    /// (delivered, its default action would end this test binary), and the
    /// thread gets its mask back.
    #[test]
    fn dropping_the_guard_drains_the_queue_and_unblocks() {
        std::thread::spawn(|| {
            let (ours, mut peer) = UnixStream::pair().unwrap();
            let signals = ThreadSignals::block().unwrap();
            assert!(SigSet::thread_get_mask().unwrap().contains(Signal::SIGIO));
            super::super::arm(ours.as_fd(), &signals).unwrap();
            peer.write_all(b"x").unwrap();
            drop(ours);
            drop(signals);
            assert!(!SigSet::thread_get_mask().unwrap().contains(Signal::SIGIO));
        })
        .join()
        .unwrap();
    }
}
