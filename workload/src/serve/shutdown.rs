//! Stopping a server: Ctrl-C (or a test) triggers one [`Shutdown`], and
//! every model can notice it in its own way of waiting.
//!
//! - A model blocked in `accept` is woken: the listeners handed to
//!   [`Shutdown::wake_on`] are shut down for reading, and Linux then fails
//!   the blocked (and every later) `accept` with EINVAL.
//! - A model that waits on descriptors (select, poll, epoll, io_uring, a
//!   runtime's reactor) can also watch [`Shutdown::fd`], which becomes
//!   readable when the shutdown is triggered and stays readable.
//! - A thread blocked in `read` on one connection cannot be told anything:
//!   it reads with a timeout and looks at [`Shutdown::is_triggered`]
//!   between reads.

use nix::sys::signal::{SigSet, Signal};
use std::io::{self, Write};
use std::net::TcpListener;
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

/// The stop signal of one server. Clones share it.
#[derive(Clone, Debug)]
pub struct Shutdown {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    triggered: AtomicBool,
    /// A byte is written here once triggered...
    tx: UnixStream,
    /// ...and this end stays readable from then on (nobody reads it).
    rx: UnixStream,
    /// Copies of the listeners to shut down (the same sockets, so shutting
    /// a copy down reaches the listener the model holds).
    listeners: Mutex<Vec<TcpListener>>,
}

impl Shutdown {
    pub fn new() -> io::Result<Shutdown> {
        let (tx, rx) = UnixStream::pair()?;
        tx.set_nonblocking(true)?;
        Ok(Shutdown {
            inner: Arc::new(Inner {
                triggered: AtomicBool::new(false),
                tx,
                rx,
                listeners: Mutex::new(Vec::new()),
            }),
        })
    }

    /// Stop: wake the listeners and make [`fd`](Self::fd) readable. Later
    /// calls do nothing.
    pub fn trigger(&self) {
        if self.inner.triggered.swap(true, Ordering::SeqCst) {
            return;
        }
        let _ = (&self.inner.tx).write(b"!");
        for l in self.inner.listeners.lock().unwrap().iter() {
            let _ = socket2::SockRef::from(l).shutdown(std::net::Shutdown::Read);
        }
    }

    pub fn is_triggered(&self) -> bool {
        self.inner.triggered.load(Ordering::SeqCst)
    }

    /// Readable once triggered, and from then on.
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.inner.rx.as_fd()
    }

    /// A copy of the readable end, for a model that wants to own what it
    /// waits on (a runtime's stream type).
    pub fn stream(&self) -> io::Result<UnixStream> {
        self.inner.rx.try_clone()
    }

    /// When triggered, make `accept` on `listener` (and on every copy of
    /// it, in this process or a child) fail with EINVAL.
    pub fn wake_on(&self, listener: &TcpListener) -> io::Result<()> {
        let copy = listener.try_clone()?;
        if self.is_triggered() {
            let _ = socket2::SockRef::from(&copy).shutdown(std::net::Shutdown::Read);
        }
        self.inner.listeners.lock().unwrap().push(copy);
        Ok(())
    }

    /// Trigger on SIGINT (Ctrl-C) or SIGTERM; a second one ends the process
    /// at once. Call it before any other thread starts: the signals are
    /// blocked in the calling thread, and every thread started later
    /// inherits that, so only the watcher thread ever takes them.
    pub fn on_signals(&self) -> io::Result<()> {
        let mut set = SigSet::empty();
        set.add(Signal::SIGINT);
        set.add(Signal::SIGTERM);
        set.thread_block().map_err(io::Error::from)?;
        let me = self.clone();
        std::thread::Builder::new()
            .name("shutdown".into())
            .spawn(move || {
                let mut seen = 0;
                while let Ok(signal) = set.wait() {
                    seen += 1;
                    if seen > 1 {
                        eprintln!("{signal} again: stopping now");
                        std::process::exit(130);
                    }
                    eprintln!("{signal}: no new connections; finishing the requests in flight");
                    me.trigger();
                }
            })?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;
    use std::time::Duration;

    #[test]
    fn a_blocked_accept_is_woken_with_einval() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let shutdown = Shutdown::new().unwrap();
        shutdown.wake_on(&listener).unwrap();
        let waiter = std::thread::spawn(move || listener.accept().map(|_| ()));
        std::thread::sleep(Duration::from_millis(50));
        shutdown.trigger();
        let e = waiter
            .join()
            .unwrap()
            .expect_err("accept fails once stopped");
        assert_eq!(e.raw_os_error(), Some(nix::libc::EINVAL), "{e}");
        assert!(shutdown.is_triggered());
    }

    #[test]
    fn the_fd_turns_readable_and_stays_so() {
        let shutdown = Shutdown::new().unwrap();
        let mut rx = shutdown.stream().unwrap();
        rx.set_nonblocking(true).unwrap();
        let mut byte = [0u8; 1];
        assert_eq!(
            rx.read(&mut byte).unwrap_err().kind(),
            io::ErrorKind::WouldBlock
        );
        shutdown.trigger();
        shutdown.clone().trigger();
        let mut fds = [nix::poll::PollFd::new(
            shutdown.fd(),
            nix::poll::PollFlags::POLLIN,
        )];
        assert_eq!(nix::poll::poll(&mut fds, 1000u16).unwrap(), 1);
        assert_eq!(nix::poll::poll(&mut fds, 1000u16).unwrap(), 1);
    }
}
