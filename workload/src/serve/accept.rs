//! What a server does when `accept` fails.
//!
//! At the open-file limit `accept` fails with EMFILE and the connection
//! stays in the backlog, the listener still readable: a loop that only
//! retries spins at 100% CPU while its clients time out. A server backs
//! off instead (here: [`ACCEPT_BACKOFF`]), keeps serving the connections it
//! has, and accepts again once descriptors are free; it says so on
//! stderr, at most once a second.

use super::Shutdown;
use std::io;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long to stop accepting after the kernel ran out of something
/// (descriptors, memory): the backlog keeps the connections meanwhile.
pub const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);

/// One stderr line per `EVERY` at most.
const EVERY: Duration = Duration::from_secs(1);

/// What to do after `accept` failed.
#[derive(Debug)]
pub enum AfterAcceptError {
    /// That one connection went away before it was accepted: accept again.
    Retry,
    /// Out of descriptors or memory: stop accepting for this long (and
    /// serve the connections already open meanwhile).
    BackOff(Duration),
    /// The server is stopping (`Ok`) or the listener is broken (`Err`).
    Stop(io::Result<()>),
}

/// Classify a failed `accept` (and say it on stderr when it is the
/// machine's limits, at most once a second).
pub fn after_accept_error(e: &io::Error, shutdown: &Shutdown) -> AfterAcceptError {
    static FAILURES: Failures = Failures::new();
    if shutdown.is_triggered() {
        return AfterAcceptError::Stop(Ok(()));
    }
    match e.kind() {
        io::ErrorKind::WouldBlock
        | io::ErrorKind::Interrupted
        | io::ErrorKind::ConnectionAborted
        | io::ErrorKind::ConnectionReset
        | io::ErrorKind::ConnectionRefused => return AfterAcceptError::Retry,
        _ => {}
    }
    match e.raw_os_error() {
        Some(nix::libc::EPROTO | nix::libc::EPERM) => AfterAcceptError::Retry,
        Some(nix::libc::EMFILE | nix::libc::ENFILE | nix::libc::ENOBUFS | nix::libc::ENOMEM) => {
            FAILURES.note("serve", e);
            AfterAcceptError::BackOff(ACCEPT_BACKOFF)
        }
        _ => AfterAcceptError::Stop(Err(io::Error::new(e.kind(), format!("accept failed: {e}")))),
    }
}

/// Failed `accept`s, counted between two stderr lines.
#[derive(Default)]
pub(crate) struct Failures {
    state: Mutex<Window>,
}

#[derive(Default)]
struct Window {
    last_line: Option<Instant>,
    since: u64,
}

impl Failures {
    pub(crate) const fn new() -> Failures {
        Failures {
            state: Mutex::new(Window {
                last_line: None,
                since: 0,
            }),
        }
    }

    pub(crate) fn note(&self, who: &str, e: &io::Error) {
        let mut w = self.state.lock().unwrap_or_else(|e| e.into_inner());
        w.since += 1;
        let now = Instant::now();
        if w.last_line.is_some_and(|t| now.duration_since(t) < EVERY) {
            return;
        }
        let times = std::mem::take(&mut w.since);
        let window = w.last_line.map(|t| now.duration_since(t));
        w.last_line = Some(now);
        drop(w);
        eprintln!("{who}: accept failed: {}", describe(e, times, window));
    }
}

/// The line for `times` failures over `window` (none for the first line).
fn describe(e: &io::Error, times: u64, window: Option<Duration>) -> String {
    let times = match window {
        Some(w) => format!(" ({times} times in the last {:.1} s)", w.as_secs_f64()),
        None => String::new(),
    };
    match e.raw_os_error() {
        Some(nix::libc::EMFILE) => {
            let limit = nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE)
                .map_or_else(|_| "?".to_string(), |(soft, _)| soft.to_string());
            format!("too many open files{times}; raise ulimit -n (now {limit})")
        }
        Some(nix::libc::ENFILE) => {
            format!("the system's open-file table is full{times}; raise fs.file-max")
        }
        _ => format!("{e}{times}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn out_of_descriptors_backs_off_and_a_stop_stops() {
        let shutdown = Shutdown::new().unwrap();
        let emfile = io::Error::from_raw_os_error(nix::libc::EMFILE);
        assert!(matches!(
            after_accept_error(&emfile, &shutdown),
            AfterAcceptError::BackOff(_)
        ));
        let aborted = io::Error::from_raw_os_error(nix::libc::ECONNABORTED);
        assert!(matches!(
            after_accept_error(&aborted, &shutdown),
            AfterAcceptError::Retry
        ));
        let einval = io::Error::from_raw_os_error(nix::libc::EINVAL);
        assert!(matches!(
            after_accept_error(&einval, &shutdown),
            AfterAcceptError::Stop(Err(_))
        ));
        shutdown.trigger();
        assert!(matches!(
            after_accept_error(&einval, &shutdown),
            AfterAcceptError::Stop(Ok(()))
        ));
    }

    #[test]
    fn names_the_limit_and_the_count() {
        let emfile = io::Error::from_raw_os_error(nix::libc::EMFILE);
        let line = describe(&emfile, 1, None);
        assert!(
            line.starts_with("too many open files; raise ulimit -n (now "),
            "{line}"
        );
        let line = describe(&emfile, 7, Some(Duration::from_millis(1200)));
        assert!(
            line.starts_with("too many open files (7 times in the last 1.2 s);"),
            "{line}"
        );
        let enfile = io::Error::from_raw_os_error(nix::libc::ENFILE);
        assert!(describe(&enfile, 1, None).contains("fs.file-max"));
    }
}
