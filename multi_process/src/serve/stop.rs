//! How a prefork worker hears that it must stop, and where its listener
//! comes from.
//!
//! A worker asleep in `accept` is woken by the parent's shutdown of the
//! listener they all share (EINVAL). A worker asleep in a connection's
//! `read` cannot be woken by anything: it reads with a timeout and looks
//! at its [`Shutdown`] between reads (lesson 1's `SHUTDOWN_TICK`). What
//! triggers that `Shutdown` is a signal: SIGTERM from the parent, or
//! SIGINT from the terminal, which sends Ctrl-C to every process of the
//! foreground group, the workers included.

use nix::sys::signal::{SigSet, Signal};
use std::io;
use std::net::TcpListener;
use std::os::fd::AsFd;
use workload::serve::Shutdown;

/// A [`Shutdown`] triggered by SIGTERM or SIGINT. Call it before any other
/// thread starts.
///
/// The parent blocked both signals before it started its threads (its
/// command line waits for them on a thread of its own), and a blocked
/// signal stays blocked through `exec`: a worker that did nothing would
/// never see its SIGTERM. So it blocks them again here, in case it was
/// started some other way, and waits for them on a thread of its own, as
/// the parent does. Unlike the parent, a second signal does not end the
/// worker at once: a normal stop sends two (the terminal's SIGINT, then
/// the parent's SIGTERM). A second Ctrl-C ends the parent at once, and
/// with it every worker (they die with their parent).
pub fn on_stop_signals() -> io::Result<Shutdown> {
    let shutdown = Shutdown::new()?;
    let mut signals = SigSet::empty();
    signals.add(Signal::SIGTERM);
    signals.add(Signal::SIGINT);
    signals.thread_block().map_err(io::Error::from)?;
    let stop = shutdown.clone();
    std::thread::Builder::new()
        .name("stop".into())
        .stack_size(64 * 1024)
        .spawn(move || {
            while signals.wait().is_ok() {
                stop.trigger();
            }
        })?;
    Ok(shutdown)
}

/// The listening socket the parent handed down as this process's stdin.
pub fn inherited_listener() -> io::Result<TcpListener> {
    // A copy of fd 0 that this process owns (taking fd 0 itself over would
    // need `unsafe`); fd 0 stays open and unused.
    let listener = TcpListener::from(io::stdin().as_fd().try_clone_to_owned()?);
    let listening = nix::sys::socket::getsockopt(&listener, nix::sys::socket::sockopt::AcceptConn)
        .unwrap_or(false);
    if !listening {
        return Err(io::Error::other(
            "stdin is not a listening socket: a prefork worker is started by its parent",
        ));
    }
    Ok(listener)
}
