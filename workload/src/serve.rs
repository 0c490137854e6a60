//! The other side: what every lesson's server shares, and nothing model
//! specific.
//!
//! A lesson serves the page workload in its own model:
//! `<lesson> serve [--variant V] [--port P] [--latency-ms L]`. The shared
//! command line binds the listening socket on 127.0.0.1, arranges for
//! Ctrl-C to stop the server, and hands the lesson a [`Serving`]: the
//! listener, the [`ServeConfig`], the ready-made responses ([`Pages`]) and
//! the [`Shutdown`] signal. The lesson does the rest: accept, read the
//! request head, wait out the think time, write the response, and how it
//! waits for all of that while serving the others is the lesson.
//!
//! The HTTP is small on purpose: `GET /N` answers page N's bytes (`/` is
//! page 0), HTTP/1.1 keep-alive by default, `Connection: close` honoured,
//! pipelined requests answered in order. A head that is too large gets 431,
//! one that is not HTTP gets 400, and both close the connection.

pub mod accept;
pub mod http;
pub mod shutdown;

pub use accept::{after_accept_error, AfterAcceptError, ACCEPT_BACKOFF};
pub use http::{parse_request, BadRequest, Pages, Request, Route, MAX_REQUEST_HEAD};
pub use shutdown::Shutdown;

use crate::lesson::OsTask;
use socket2::{Domain, Socket, Type};
use std::fmt;
use std::io;
use std::net::{SocketAddr, TcpListener};
use std::time::Duration;

/// Default think time of a server: none, every response as fast as the
/// model can give it.
pub const DEFAULT_THINK: Duration = Duration::ZERO;
/// Default time a connection may take to send a whole request head,
/// counted from the moment the server starts waiting for it (a new
/// connection, or a kept-alive one after its last response).
pub const DEFAULT_HEADER_TIMEOUT: Duration = Duration::from_secs(5);
/// The listen backlog asked for (the kernel caps it at `somaxconn`): deep,
/// so a burst of connections waits in the kernel instead of being dropped.
pub const BACKLOG: i32 = 4096;

/// One way a lesson serves, with the facts about it that callers need
/// (the serve sweep, the hostile-client suite): nothing is decided by a
/// name.
#[derive(Debug)]
pub struct ServeVariant {
    pub name: &'static str,
    pub about: &'static str,
    /// Serve until the [`Shutdown`] is triggered; then stop accepting,
    /// finish the requests in flight, close the rest and return.
    pub serve: fn(Serving) -> io::Result<()>,
    /// How many connections it serves at once.
    pub capacity: Capacity,
    /// It starts an OS task (a thread or a process) for every connection.
    pub task_per_connection: Option<OsTask>,
    /// The highest descriptor number it can watch (select's FD_SETSIZE).
    pub fd_ceiling: Option<usize>,
    /// Whether it can run on this machine; `Err` says why in a sentence.
    pub available: fn() -> Result<(), String>,
}

fn always() -> Result<(), String> {
    Ok(())
}

impl ServeVariant {
    /// A server with no special facts: every connection at once, no task
    /// per connection, no descriptor ceiling, always available.
    pub const fn new(
        name: &'static str,
        about: &'static str,
        serve: fn(Serving) -> io::Result<()>,
    ) -> ServeVariant {
        ServeVariant {
            name,
            about,
            serve,
            capacity: Capacity::Unbounded,
            task_per_connection: None,
            fd_ceiling: None,
            available: always,
        }
    }

    /// It serves at most this many connections at once.
    pub const fn capacity(mut self, capacity: Capacity) -> ServeVariant {
        self.capacity = capacity;
        self
    }

    /// Every connection has an OS task of its own.
    pub const fn task_per_connection(mut self, task: OsTask) -> ServeVariant {
        self.task_per_connection = Some(task);
        self
    }

    /// Descriptors at or above `ceiling` cannot be watched.
    pub const fn fd_ceiling(mut self, ceiling: usize) -> ServeVariant {
        self.fd_ceiling = Some(ceiling);
        self
    }

    /// Whether it can run here, checked before it starts.
    pub const fn available(mut self, check: fn() -> Result<(), String>) -> ServeVariant {
        self.available = check;
        self
    }
}

/// How many connections a server serves at once. The others wait: in the
/// kernel's accept queue, or accepted and unread.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Capacity {
    /// One connection at a time: the next client waits until this one has
    /// gone (an iterative server).
    One,
    /// `--workers` connections at once (a pool of threads or processes),
    /// `default` when not given.
    Workers { default: usize },
    /// As many as the machine's descriptors allow.
    Unbounded,
}

impl Capacity {
    /// The connections served at once with `workers` asked for; `None`
    /// for no bound.
    pub fn limit(self, workers: Option<usize>) -> Option<usize> {
        match self {
            Capacity::One => Some(1),
            Capacity::Workers { default } => Some(workers.unwrap_or(default).max(1)),
            Capacity::Unbounded => None,
        }
    }
}

impl fmt::Display for Capacity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Capacity::One => f.write_str("one connection at a time"),
            Capacity::Workers { default } => write!(f, "--workers connections at once ({default})"),
            Capacity::Unbounded => f.write_str("every connection at once"),
        }
    }
}

/// How a server behaves, from the command line.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    /// Think time: every response is held this long after its request head
    /// has been read (as if the server waited on a database).
    pub latency: Duration,
    /// Body size of every page.
    pub size: usize,
    /// Connections served at once, for [`Capacity::Workers`] servers.
    pub workers: usize,
    /// A connection has this long to send a whole request head, counted
    /// from the moment the server starts waiting for it; then it is closed.
    /// The same patience goes to a client that stops reading: a response
    /// none of which goes out for this long is given up on, and the
    /// connection closed.
    pub header_timeout: Duration,
}

impl Default for ServeConfig {
    fn default() -> Self {
        ServeConfig {
            latency: DEFAULT_THINK,
            size: crate::plan::DEFAULT_SIZE,
            workers: 64,
            header_timeout: DEFAULT_HEADER_TIMEOUT,
        }
    }
}

/// What a lesson's server is handed.
#[derive(Debug)]
pub struct Serving {
    /// Bound and listening (blocking mode; set it non-blocking if the
    /// model needs to). Once the server is to stop, `accept` on it fails
    /// with EINVAL: [`after_accept_error`] then says stop.
    pub listener: TcpListener,
    pub config: ServeConfig,
    /// The response bytes for every request.
    pub pages: Pages,
    /// Triggered by Ctrl-C (or a test).
    pub shutdown: Shutdown,
}

impl Serving {
    /// A server on a fresh 127.0.0.1 port, for tests and examples: the
    /// listener is already woken by `shutdown` when it triggers.
    pub fn bind_local(config: ServeConfig) -> io::Result<Serving> {
        let listener = listen(SocketAddr::from(([127, 0, 0, 1], 0)))?;
        let shutdown = Shutdown::new()?;
        shutdown.wake_on(&listener)?;
        Ok(Serving {
            listener,
            pages: Pages::new(config.size),
            config,
            shutdown,
        })
    }
}

/// A listening socket on `addr` with a deep backlog, `SO_REUSEADDR` (a
/// restarted server does not wait for the old connections' TIME_WAIT),
/// in blocking mode.
pub fn listen(addr: SocketAddr) -> io::Result<TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, None)?;
    socket.set_reuse_address(true)?;
    socket
        .bind(&addr.into())
        .map_err(|e| io::Error::new(e.kind(), format!("cannot listen on {addr}: {e}")))?;
    socket.listen(BACKLOG)?;
    Ok(socket.into())
}

/// Server variants' names, for `--help` and clap's check.
pub(crate) fn names(servers: &[ServeVariant]) -> Vec<&'static str> {
    servers.iter().map(|s| s.name).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capacity_limits() {
        assert_eq!(Capacity::One.limit(Some(10)), Some(1));
        assert_eq!(Capacity::Workers { default: 8 }.limit(None), Some(8));
        assert_eq!(Capacity::Workers { default: 8 }.limit(Some(3)), Some(3));
        assert_eq!(Capacity::Unbounded.limit(Some(3)), None);
    }

    #[test]
    fn listens_on_loopback() {
        let s = Serving::bind_local(ServeConfig::default()).unwrap();
        let addr = s.listener.local_addr().unwrap();
        assert!(addr.ip().is_loopback());
        assert_ne!(addr.port(), 0);
    }
}
