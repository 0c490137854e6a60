//! The accept loop, and what it says when the kernel refuses a connection.
//!
//! At the open-file limit `accept` fails with EMFILE and the connection
//! stays in the backlog; a server that only retries goes silent while its
//! clients time out. This one says so on stderr, at most once a second,
//! and keeps serving the connections it has, retrying the backlog shortly.

use std::io;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long to wait before accepting again after a refused `accept`: the
/// backlog keeps the connection, and retrying at once would only spin.
const RETRY_AFTER: Duration = Duration::from_millis(20);

/// One stderr line per `EVERY` at most, however many listeners fail.
const EVERY: Duration = Duration::from_secs(1);

/// Accept connections on `listener` forever, handing each to `serve`.
pub(super) async fn accept_loop(
    listener: tokio::net::TcpListener,
    failures: &Failures,
    mut serve: impl FnMut(tokio::net::TcpStream),
) {
    loop {
        match listener.accept().await {
            Ok((stream, _)) => serve(stream),
            Err(e) if is_connection_error(&e) => {}
            Err(e) => {
                failures.note(&e);
                tokio::time::sleep(RETRY_AFTER).await;
            }
        }
    }
}

/// Errors of one connection that ended before it was accepted: nothing is
/// wrong with the server.
fn is_connection_error(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    )
}

/// Failed `accept`s, counted between two stderr lines.
#[derive(Default)]
pub(super) struct Failures {
    state: Mutex<Window>,
}

#[derive(Default)]
struct Window {
    last_line: Option<Instant>,
    since: u64,
}

impl Failures {
    fn note(&self, e: &io::Error) {
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
        eprintln!("page-server: accept failed: {}", describe(e, times, window));
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
