//! The page server: the "internet" the lessons fetch from.
//!
//! It serves page 0 at `/` and page i at `/i`, each after a simulated
//! network latency and with a deterministic body that tests can check byte
//! for byte. It runs on its own tokio runtime on its own threads, so a
//! lesson can embed it and still be the only thing on its own threads, and
//! it is built to never be the bottleneck: several `SO_REUSEPORT`
//! listeners, each with a deep accept backlog, so that a burst of 10,000
//! connections is not met with SYN drops (each drop costs the client a 1 s,
//! then 3 s, retransmission and would poison every figure).
//!
//! The latency is kept to within microseconds, from the moment the request
//! head has been read to the moment the response is handed to the
//! connection, by a clock thread of its own (tokio's timer would add up to
//! a couple of milliseconds), and every hold is recorded
//! ([`Server::holds`]), so a report can tell the server's time from the
//! client's. A connection that has not sent its whole request head within
//! [`ServerConfig::header_timeout`] is closed.

mod accept;
mod timer;

use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use socket2::{Domain, Socket, Type};
use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use tokio::sync::oneshot;

/// How the server behaves.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Port on 127.0.0.1; 0 picks a free one.
    pub port: u16,
    /// Delay before the first byte of every response.
    pub latency: Duration,
    /// Body size of every page.
    pub size: usize,
    /// `Some(n)`: page i waits latency × (n - i) / n instead, so the pages of
    /// an n-page plan complete in reverse order.
    pub stagger: Option<usize>,
    /// Listening sockets sharing the port with `SO_REUSEPORT`.
    pub listeners: usize,
    /// Accept backlog of each listener (the kernel caps it at somaxconn).
    pub backlog: i32,
    /// Runtime worker threads.
    pub threads: usize,
    /// A connection that has not sent its whole request head this long
    /// after it was accepted is closed.
    pub header_timeout: Duration,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            port: 0,
            latency: Duration::from_millis(100),
            size: crate::plan::DEFAULT_SIZE,
            stagger: None,
            listeners: 4,
            backlog: 4096,
            threads: 2,
            header_timeout: Duration::from_secs(5),
        }
    }
}

impl ServerConfig {
    /// The delay of page `index`.
    pub fn delay(&self, index: usize) -> Duration {
        match self.stagger {
            Some(n) if n > 0 => {
                let left = n.saturating_sub(index.min(n)) as u32;
                self.latency * left / n as u32
            }
            _ => self.latency,
        }
    }
}

/// The body of page `index`: readable, deterministic text of `size` bytes.
pub fn page_body(index: usize, size: usize) -> Vec<u8> {
    const LINE: &[u8] = b"The quick brown fox waits 100 ms for every page it fetches. ";
    let mut body = format!("page {index}\n").into_bytes();
    body.truncate(size);
    let mut k = index;
    while body.len() < size {
        let b = LINE[k % LINE.len()];
        body.push(if body.len() % 64 == 63 { b'\n' } else { b });
        k += 1;
    }
    body
}

/// CRC-32 of page `index`'s body, what a correct fetch must report.
pub fn page_crc(index: usize, size: usize) -> u32 {
    crc32fast::hash(&page_body(index, size))
}

/// How long the server held its responses: from the moment a request head
/// had been read to the moment its response was handed to the connection.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Holds {
    /// Responses held (every page served; not the 404s).
    pub count: u64,
    /// The longest hold.
    pub max: Duration,
    /// All holds added up.
    pub total: Duration,
}

impl Holds {
    /// The mean hold, if any response was held.
    pub fn mean(&self) -> Option<Duration> {
        let n = u32::try_from(self.count).ok().filter(|&n| n > 0)?;
        Some(self.total / n)
    }
}

/// [`Holds`] as counters that any worker thread can add to.
#[derive(Default)]
struct HoldCounters {
    count: AtomicU64,
    max_ns: AtomicU64,
    total_ns: AtomicU64,
}

impl HoldCounters {
    fn record(&self, hold: Duration) {
        let ns = u64::try_from(hold.as_nanos()).unwrap_or(u64::MAX);
        self.count.fetch_add(1, Ordering::Relaxed);
        self.max_ns.fetch_max(ns, Ordering::Relaxed);
        self.total_ns.fetch_add(ns, Ordering::Relaxed);
    }

    fn read(&self) -> Holds {
        Holds {
            count: self.count.load(Ordering::Relaxed),
            max: Duration::from_nanos(self.max_ns.load(Ordering::Relaxed)),
            total: Duration::from_nanos(self.total_ns.load(Ordering::Relaxed)),
        }
    }

    fn reset(&self) {
        self.count.store(0, Ordering::Relaxed);
        self.max_ns.store(0, Ordering::Relaxed);
        self.total_ns.store(0, Ordering::Relaxed);
    }
}

struct Shared {
    config: ServerConfig,
    served: AtomicU64,
    holds: HoldCounters,
    clock: timer::Handle,
}

/// A running page server; stops when dropped.
pub struct Server {
    addr: SocketAddr,
    shared: Arc<Shared>,
    threads: Arc<Mutex<Vec<i32>>>,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
    clock: Option<timer::HoldClock>,
}

impl Server {
    /// Bind the listeners on 127.0.0.1 and start serving on new threads.
    pub fn start(config: ServerConfig) -> io::Result<Server> {
        crate::raise_fd_limit();
        let listeners = bind(config.port, config.listeners.max(1), config.backlog)?;
        let addr = listeners[0].local_addr()?;
        let threads = Arc::new(Mutex::new(Vec::new()));
        let record = {
            let threads = threads.clone();
            move || threads.lock().unwrap().push(nix::unistd::gettid().as_raw())
        };
        let clock = timer::HoldClock::start(record.clone())?;
        let shared = Arc::new(Shared {
            config,
            served: AtomicU64::new(0),
            holds: HoldCounters::default(),
            clock: clock.handle(),
        });
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(shared.config.threads.max(1))
            .thread_name("page-server")
            .on_thread_start(record.clone())
            .enable_all()
            .build()?;
        let (stop, stopped) = oneshot::channel::<()>();
        let app = Router::new()
            .route("/", get(root))
            .route("/{page}", get(page))
            .fallback(not_found)
            .with_state(shared.clone());
        let mut http = hyper::server::conn::http1::Builder::new();
        http.timer(TokioTimer::new())
            .header_read_timeout(shared.config.header_timeout);
        let thread = std::thread::Builder::new()
            .name("page-server-main".into())
            .spawn(move || {
                record();
                runtime.block_on(async move {
                    let failures = Arc::new(accept::Failures::default());
                    for listener in listeners {
                        let listener = tokio::net::TcpListener::from_std(listener)
                            .expect("a bound, listening, non-blocking socket");
                        let (app, http, failures) = (app.clone(), http.clone(), failures.clone());
                        tokio::spawn(async move {
                            accept::accept_loop(listener, &failures, |stream| {
                                let service = TowerToHyperService::new(app.clone());
                                let connection =
                                    http.serve_connection(TokioIo::new(stream), service);
                                tokio::spawn(connection);
                            })
                            .await
                        });
                    }
                    let _ = stopped.await;
                });
                // In-flight responses are dropped: the clients see the
                // connection close, which is what stopping a server means.
                runtime.shutdown_background();
            })?;
        Ok(Server {
            addr,
            shared,
            threads,
            stop: Some(stop),
            thread: Some(thread),
            clock: Some(clock),
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT`, the base URL of page 0.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn config(&self) -> &ServerConfig {
        &self.shared.config
    }

    /// Responses sent so far.
    pub fn served(&self) -> u64 {
        self.shared.served.load(Ordering::Relaxed)
    }

    /// How long the responses served since the start (or the last
    /// [`reset_holds`](Self::reset_holds)) were held.
    pub fn holds(&self) -> Holds {
        self.shared.holds.read()
    }

    /// Start counting [`holds`](Self::holds) afresh, e.g. before a run.
    /// Responses held across the reset count in the new figure.
    pub fn reset_holds(&self) {
        self.shared.holds.reset();
    }

    /// CPU time used so far by the server's own threads (from the kernel's
    /// per-thread scheduler statistics), so a lesson that embeds the
    /// server can leave it out of its own figure.
    pub fn cpu_time(&self) -> Duration {
        let tids = self.threads.lock().unwrap().clone();
        let ns: u64 = tids
            .iter()
            .filter_map(|tid| {
                std::fs::read_to_string(format!("/proc/self/task/{tid}/schedstat")).ok()
            })
            .filter_map(|s| s.split_whitespace().next()?.parse::<u64>().ok())
            .sum();
        Duration::from_nanos(ns)
    }

    /// Stop serving and wait for the threads to end.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        self.clock.take();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// `count` listeners on 127.0.0.1:`port`, sharing it with `SO_REUSEPORT`:
/// the kernel spreads incoming connections over them, each with its own
/// accept queue of `backlog`.
fn bind(port: u16, count: usize, backlog: i32) -> io::Result<Vec<std::net::TcpListener>> {
    if port != 0 {
        // SO_REUSEPORT would let us share the port with another of our own
        // servers still running on it; make sure it is really free first.
        std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, port)).map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("port {port} on 127.0.0.1 is not free: {e}"),
            )
        })?;
    }
    let mut listeners: Vec<std::net::TcpListener> = Vec::with_capacity(count);
    for _ in 0..count {
        let port = listeners
            .first()
            .map_or(Ok(port), |l| l.local_addr().map(|a| a.port()))?;
        let socket = Socket::new(Domain::IPV4, Type::STREAM, None)?;
        socket.set_reuse_address(true)?;
        socket.set_reuse_port(true)?;
        socket.set_tcp_nodelay(true)?;
        socket.bind(&SocketAddr::from((Ipv4Addr::LOCALHOST, port)).into())?;
        socket.listen(backlog)?;
        socket.set_nonblocking(true)?;
        listeners.push(socket.into());
    }
    Ok(listeners)
}

async fn root(State(shared): State<Arc<Shared>>) -> Response {
    serve_page(&shared, 0).await
}

async fn page(State(shared): State<Arc<Shared>>, Path(page): Path<String>) -> Response {
    match page.parse::<usize>() {
        Ok(index) => serve_page(&shared, index).await,
        Err(_) => not_found().await,
    }
}

async fn serve_page(shared: &Shared, index: usize) -> Response {
    let head_read = Instant::now();
    let response = (
        [
            (header::CONTENT_TYPE, "text/plain; charset=utf-8"),
            (header::CONNECTION, "close"),
        ],
        page_body(index, shared.config.size),
    )
        .into_response();
    // The simulated network: nothing is sent until the latency has passed
    // (a latency past the end of the clock's range never passes).
    match head_read.checked_add(shared.config.delay(index)) {
        Some(deadline) => shared.clock.sleep_until(deadline).await,
        None => std::future::pending().await,
    }
    shared.holds.record(head_read.elapsed());
    shared.served.fetch_add(1, Ordering::Relaxed);
    response
}

async fn not_found() -> Response {
    (
        StatusCode::NOT_FOUND,
        [(header::CONNECTION, "close")],
        "no such page: pages are /, /1, /2, ...\n",
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};

    fn get(addr: SocketAddr, path: &str) -> Vec<u8> {
        let mut s = std::net::TcpStream::connect(addr).unwrap();
        s.write_all(&crate::http::request("x", path)).unwrap();
        let mut out = Vec::new();
        s.read_to_end(&mut out).unwrap();
        out
    }

    #[test]
    fn bodies_are_deterministic_and_sized() {
        assert_eq!(page_body(3, 1256), page_body(3, 1256));
        assert_ne!(page_body(3, 1256), page_body(4, 1256));
        for size in [0, 1, 5, 1256, 70_000] {
            assert_eq!(page_body(7, size).len(), size);
        }
        assert!(page_body(2, 100).starts_with(b"page 2\n"));
    }

    #[test]
    fn stagger_reverses_the_order() {
        let c = ServerConfig {
            latency: Duration::from_millis(100),
            stagger: Some(10),
            ..Default::default()
        };
        assert_eq!(c.delay(0), Duration::from_millis(100));
        assert_eq!(c.delay(9), Duration::from_millis(10));
        assert!(c.delay(3) > c.delay(4));
    }

    #[test]
    fn serves_pages_and_closes() {
        let server = Server::start(ServerConfig {
            latency: Duration::from_millis(5),
            size: 300,
            ..Default::default()
        })
        .unwrap();
        assert!(server.url().starts_with("http://127.0.0.1:"));
        let response = get(server.addr(), "/4");
        let text = String::from_utf8_lossy(&response);
        assert!(text.starts_with("HTTP/1."), "{text}");
        assert!(text.contains(" 200 "), "{text}");
        assert!(response.ends_with(&page_body(4, 300)));
        let response = get(server.addr(), "/nope");
        assert!(String::from_utf8_lossy(&response).contains(" 404 "));
        assert_eq!(server.served(), 1);
        server.stop();
    }

    #[test]
    fn every_hold_is_recorded_and_lasts_the_latency() {
        let latency = Duration::from_millis(20);
        let server = Server::start(ServerConfig {
            latency,
            size: 10,
            stagger: Some(4),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(server.holds(), Holds::default());
        for path in ["/", "/1", "/nope"] {
            get(server.addr(), path);
        }
        let holds = server.holds();
        assert_eq!(holds.count, 2, "{holds:?}");
        assert!(
            holds.max >= latency,
            "page 0 waits the whole latency: {holds:?}"
        );
        // Staggered: page 1 of 4 waits three quarters of it.
        assert!(holds.total >= latency + latency * 3 / 4, "{holds:?}");
        assert!(holds.mean().unwrap() <= holds.max);

        server.reset_holds();
        assert_eq!(server.holds(), Holds::default());
        assert_eq!(server.holds().mean(), None);
        get(server.addr(), "/3");
        let holds = server.holds();
        assert_eq!(holds.count, 1);
        assert!(holds.max >= latency / 4, "{holds:?}");
        assert_eq!(holds.max, holds.total);
    }

    #[test]
    fn a_request_head_that_never_ends_is_closed() {
        let timeout = Duration::from_millis(200);
        let server = Server::start(ServerConfig {
            header_timeout: timeout,
            ..Default::default()
        })
        .unwrap();
        let mut s = std::net::TcpStream::connect(server.addr()).unwrap();
        s.write_all(b"G").unwrap();
        // A hang check, not a timing: the server must close well before this.
        s.set_read_timeout(Some(timeout + Duration::from_secs(5)))
            .unwrap();
        match s.read_to_end(&mut Vec::new()) {
            Ok(_) => {}
            Err(e) => assert_eq!(e.kind(), std::io::ErrorKind::ConnectionReset, "{e}"),
        }
        assert_eq!(server.served(), 0);
    }

    #[test]
    fn a_taken_port_is_refused() {
        let server = Server::start(ServerConfig::default()).unwrap();
        let e = Server::start(ServerConfig {
            port: server.addr().port(),
            ..Default::default()
        })
        .err()
        .expect("the port is in use");
        assert!(e.to_string().contains("not free"), "{e}");
    }
}
