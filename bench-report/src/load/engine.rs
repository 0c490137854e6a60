//! The generator itself: a few OS threads, each with a tokio current-thread
//! runtime of its own that drives its share of the connections as tasks.
//!
//! Why this shape: on a machine of two cores shared with the server under
//! test, the generator must spend as little CPU per request as it can and
//! never wait for itself. A current-thread runtime has no work stealing,
//! no cross-thread wake-ups and no locks: a connection's task, its buffer
//! and its thread's histogram stay on one core, and a thread's counters are
//! a `RefCell`. Each request is bytes built once before the run (one per
//! page); each response is read into the connection's own buffer, its head
//! parsed in place (`response.rs`), and its body counted (or compared with
//! the page's bytes under `--check-bodies`) without a copy. Nothing is
//! allocated per request. The histograms are merged once, at the end.
//! Connections are made at most [`CONNECTS_AT_ONCE`] at a time per
//! thread, so a run of 10,000 does not overflow the server's accept queue
//! in one burst.
//!
//! Closed loop (the default): a connection sends its next request as soon
//! as the last response is whole. Open loop (`--rate R`): connection `c` of
//! `C` has its own schedule, one request every `C / R` seconds starting at
//! `c / R`, and a latency counts from the request's *intended* send time:
//! when the server stalls, the requests that should have been sent during
//! the stall carry the stall in their latency instead of quietly not being
//! sent (the coordinated omission that a closed loop commits, as wrk2
//! explains). A connection has one request in flight at a time (HTTP/1.1
//! without pipelining), so the schedule is kept only while every response
//! takes less than `C / R`.

use super::response::{parse_head, Failure, Parsed};
use hdrhistogram::Histogram;
use std::cell::RefCell;
use std::io;
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Highest latency the histograms hold, in µs (an hour); above it, the
/// value is recorded as this.
const MAX_LATENCY_US: u64 = 3_600_000_000;
/// A connection's read buffer; a head larger than it grows it, up to
/// [`MAX_HEAD`].
const BUFFER: usize = 4096;
const MAX_HEAD: usize = 64 * 1024;
/// The pause after a connection could not be made, before the next try.
const CONNECT_BACKOFF: Duration = Duration::from_millis(10);
/// Connections being made at once, per thread: 10,000 SYNs in one burst
/// overflow the server's accept queue, and every dropped SYN costs its
/// client a one-second retransmission; a few hundred at a time keep the
/// queue short and the warm-up brief.
const CONNECTS_AT_ONCE: usize = 256;

/// One run of the generator.
#[derive(Debug, Clone)]
pub struct Config {
    pub addr: SocketAddr,
    /// `Host:` header value.
    pub host: String,
    /// Path of page 0, without a trailing slash ("" for the root).
    pub path: String,
    pub connections: usize,
    pub threads: usize,
    /// Requests before this are sent but not counted.
    pub warmup: Duration,
    /// The measured time after the warm-up.
    pub duration: Duration,
    /// At most this many requests, the warm-up's included.
    pub requests: Option<u64>,
    /// Requests cycle over pages 0..pages.
    pub pages: usize,
    /// A fresh connection for every request, with `Connection: close`.
    pub new_connection: bool,
    /// Open loop at this many requests per second in total.
    pub rate: Option<f64>,
    pub timeout: Duration,
    /// Every Content-Length must be this.
    pub size: Option<usize>,
    /// Every body must equal `workload::server::page_body(i, size)`.
    pub check_bodies: bool,
}

/// What a run measured.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// Latency of every good response in the window, in µs.
    pub latency_us: Histogram<u64>,
    /// Good responses in the window.
    pub ok: u64,
    /// Good responses over the whole run, the warm-up's included.
    pub ok_total: u64,
    /// Failures in the window, by kind (indexed like [`Failure::ALL`]).
    pub errors: [u64; Failure::ALL.len()],
    /// The first failure of each kind, in words.
    pub examples: Vec<Option<String>>,
    /// The measured window: from the end of the warm-up to the end of the
    /// run (or to the last request, when `--requests` ended it first).
    pub window: Duration,
    /// The generator's own CPU (its loop threads, from `getrusage`).
    pub user: Duration,
    pub sys: Duration,
}

impl Outcome {
    pub fn error_count(&self) -> u64 {
        self.errors.iter().sum()
    }

    /// (kind, count, first example) of each kind that happened.
    pub fn error_kinds(&self) -> impl Iterator<Item = (Failure, u64, &str)> + '_ {
        Failure::ALL
            .iter()
            .zip(self.errors.iter().zip(&self.examples))
            .filter(|(_, (n, _))| **n > 0)
            .map(|(f, (n, e))| (*f, *n, e.as_deref().unwrap_or("")))
    }
}

/// What every connection reads, shared by the threads.
struct Shared {
    config: Config,
    /// The request bytes of each page.
    requests: Vec<Vec<u8>>,
    /// The body of each page, under `--check-bodies`.
    bodies: Option<Vec<Vec<u8>>>,
    start: Instant,
    measure_from: Instant,
    end: Instant,
    /// Requests left to send, under `--requests`.
    left: Option<AtomicU64>,
}

impl Shared {
    fn take_one(&self) -> bool {
        match &self.left {
            None => true,
            Some(left) => left
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1))
                .is_ok(),
        }
    }
}

/// One thread's counts.
struct Tally {
    latency_us: Histogram<u64>,
    ok: u64,
    ok_total: u64,
    errors: [u64; Failure::ALL.len()],
    examples: Vec<Option<String>>,
}

impl Tally {
    fn new() -> Tally {
        Tally {
            latency_us: Histogram::new_with_bounds(1, MAX_LATENCY_US, 3)
                .expect("valid histogram bounds"),
            ok: 0,
            ok_total: 0,
            errors: [0; Failure::ALL.len()],
            examples: vec![None; Failure::ALL.len()],
        }
    }

    fn fail(&mut self, f: Failure, detail: impl FnOnce() -> String) {
        self.errors[f.index()] += 1;
        let example = &mut self.examples[f.index()];
        if example.is_none() {
            *example = Some(detail());
        }
    }

    fn add(&mut self, other: Tally) {
        self.latency_us
            .add(&other.latency_us)
            .expect("histograms of the same bounds");
        self.ok += other.ok;
        self.ok_total += other.ok_total;
        for (a, b) in self.errors.iter_mut().zip(other.errors) {
            *a += b;
        }
        for (a, b) in self.examples.iter_mut().zip(other.examples) {
            if a.is_none() {
                *a = b;
            }
        }
    }
}

/// The request bytes of page `i`.
pub fn request(host: &str, path: &str, i: usize, close: bool) -> Vec<u8> {
    let path = match (i, path) {
        (0, "") => "/".to_string(),
        (0, p) => p.to_string(),
        (i, p) => format!("{p}/{i}"),
    };
    let connection = if close { "Connection: close\r\n" } else { "" };
    format!("GET {path} HTTP/1.1\r\nHost: {host}\r\n{connection}\r\n").into_bytes()
}

/// Run the generator; `Err` only when a thread could not be started.
pub fn run(config: &Config) -> io::Result<Outcome> {
    let threads = config.threads.clamp(1, config.connections.max(1));
    let requests = (0..config.pages)
        .map(|i| request(&config.host, &config.path, i, config.new_connection))
        .collect();
    let bodies = match (config.check_bodies, config.size) {
        (true, Some(size)) => Some(
            (0..config.pages)
                .map(|i| workload::server::page_body(i, size))
                .collect(),
        ),
        _ => None,
    };
    let start = Instant::now();
    let shared = Arc::new(Shared {
        requests,
        bodies,
        start,
        measure_from: start + config.warmup,
        end: start + config.warmup + config.duration,
        left: config.requests.map(AtomicU64::new),
        config: config.clone(),
    });
    let handles = (0..threads)
        .map(|t| {
            let shared = Arc::clone(&shared);
            std::thread::Builder::new()
                .name(format!("load-{t}"))
                .spawn(move || thread_main(&shared, t, threads))
        })
        .collect::<io::Result<Vec<_>>>()?;
    let mut total = Tally::new();
    let (mut user, mut sys) = (Duration::ZERO, Duration::ZERO);
    for h in handles {
        let (tally, u, s) = h
            .join()
            .map_err(|_| io::Error::other("a load thread panicked"))?;
        total.add(tally);
        user += u;
        sys += s;
    }
    let finished = Instant::now().min(shared.end);
    Ok(Outcome {
        latency_us: total.latency_us,
        ok: total.ok,
        ok_total: total.ok_total,
        errors: total.errors,
        examples: total.examples,
        window: finished.saturating_duration_since(shared.measure_from),
        user,
        sys,
    })
}

/// Thread `t` of `threads`: connections t, t + threads, t + 2 threads ...
fn thread_main(shared: &Arc<Shared>, t: usize, threads: usize) -> (Tally, Duration, Duration) {
    let before = thread_cpu();
    let tally = Rc::new(RefCell::new(Tally::new()));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a current-thread runtime");
    let local = tokio::task::LocalSet::new();
    let gate = Rc::new(tokio::sync::Semaphore::new(CONNECTS_AT_ONCE));
    local.block_on(&runtime, async {
        let tasks: Vec<_> = (t..shared.config.connections)
            .step_by(threads)
            .map(|c| {
                tokio::task::spawn_local(connection(
                    Arc::clone(shared),
                    c,
                    Rc::clone(&tally),
                    Rc::clone(&gate),
                ))
            })
            .collect();
        for task in tasks {
            let _ = task.await;
        }
    });
    drop(local);
    drop(runtime);
    let after = thread_cpu();
    let tally = Rc::try_unwrap(tally)
        .map(RefCell::into_inner)
        .unwrap_or_else(|_| unreachable!("every task has ended"));
    (
        tally,
        after.0.saturating_sub(before.0),
        after.1.saturating_sub(before.1),
    )
}

/// This thread's user and system CPU.
fn thread_cpu() -> (Duration, Duration) {
    use nix::sys::resource::{getrusage, UsageWho};
    match getrusage(UsageWho::RUSAGE_THREAD) {
        Ok(u) => {
            let d = |t: nix::sys::time::TimeVal| {
                Duration::from_secs(t.tv_sec().max(0) as u64)
                    + Duration::from_micros(t.tv_usec().max(0) as u64)
            };
            (d(u.user_time()), d(u.system_time()))
        }
        Err(_) => (Duration::ZERO, Duration::ZERO),
    }
}

/// How one exchange ended.
enum Exchange {
    /// A good response; the connection may carry the next one.
    Ok {
        keep: bool,
    },
    Failed(Failure, String),
}

/// One connection's life: requests until the end of the run or of the
/// request budget, reconnecting after a failure or a `Connection: close`.
async fn connection(
    shared: Arc<Shared>,
    c: usize,
    tally: Rc<RefCell<Tally>>,
    gate: Rc<tokio::sync::Semaphore>,
) {
    let config = &shared.config;
    let end = tokio::time::Instant::from_std(shared.end);
    // Open loop: this connection's interval and first send time.
    let schedule = config.rate.map(|rate| {
        let interval = Duration::from_secs_f64(config.connections as f64 / rate);
        let first = shared.start + Duration::from_secs_f64(c as f64 / rate);
        (first, interval)
    });
    let mut stream: Option<TcpStream> = None;
    let mut buf = vec![0u8; BUFFER];
    let mut page = c % config.pages;
    let mut k: u32 = 0;
    let timer = tokio::time::sleep_until(end);
    tokio::pin!(timer);
    loop {
        let intended = match schedule {
            Some((first, interval)) => first + interval * k,
            None => Instant::now(),
        };
        if intended >= shared.end || !shared.take_one() {
            break;
        }
        if schedule.is_some() {
            tokio::time::sleep_until(tokio::time::Instant::from_std(intended)).await;
        }
        let sent = Instant::now();
        let deadline = tokio::time::Instant::from_std(sent + config.timeout).min(end);
        // One timer per connection, moved on for every request: pushing a
        // deadline later does not touch tokio's timer wheel, where a new
        // timeout per request would be registered and removed each time.
        timer.as_mut().reset(deadline);
        let result = tokio::select! {
            biased;
            r = exchange(&shared, &gate, &mut stream, &mut buf, page) => Ok(r),
            () = &mut timer => Err(()),
        };
        let done = Instant::now();
        let counted = done >= shared.measure_from && done < shared.end;
        match result {
            Ok(Exchange::Ok { keep }) => {
                {
                    let mut t = tally.borrow_mut();
                    t.ok_total += 1;
                    if counted {
                        t.ok += 1;
                        let us = done.saturating_duration_since(intended).as_micros() as u64;
                        t.latency_us.saturating_record(us.max(1));
                    }
                }
                if !keep {
                    // Wait for the server's close (its end then keeps the
                    // TIME_WAIT state, and our local ports are not used
                    // up), after the latency was taken.
                    if let Some(mut s) = stream.take() {
                        let _ = tokio::time::timeout_at(deadline, s.read(&mut buf[..])).await;
                    }
                }
            }
            Ok(Exchange::Failed(f, detail)) => {
                stream = None;
                if counted {
                    tally.borrow_mut().fail(f, || detail);
                }
                if f.is_connect() {
                    tokio::time::sleep(CONNECT_BACKOFF).await;
                }
            }
            Err(_) => {
                // The end of the run cuts a request short: not a failure.
                stream = None;
                if counted {
                    tally.borrow_mut().fail(Failure::Timeout, || {
                        format!(
                            "no whole response within --timeout-ms {}",
                            config.timeout.as_millis()
                        )
                    });
                }
            }
        }
        page = (page + 1) % config.pages;
        k += 1;
    }
}

/// Send page `page`'s request on `stream` (connecting first when there is
/// none) and read its response.
async fn exchange(
    shared: &Shared,
    gate: &tokio::sync::Semaphore,
    stream: &mut Option<TcpStream>,
    buf: &mut Vec<u8>,
    page: usize,
) -> Exchange {
    let config = &shared.config;
    let fresh = stream.is_none();
    if fresh {
        let _turn = gate.acquire().await;
        match TcpStream::connect(config.addr).await {
            Ok(s) => {
                let _ = s.set_nodelay(true);
                *stream = Some(s);
            }
            Err(e) => return Exchange::Failed(Failure::from_connect(&e), e.to_string()),
        }
    }
    let s = stream.as_mut().expect("connected above");
    if let Err(e) = s.write_all(&shared.requests[page]).await {
        return Exchange::Failed(Failure::from_io(&e), e.to_string());
    }
    // The head.
    let mut filled = 0;
    let head = loop {
        if filled == buf.len() {
            if buf.len() >= MAX_HEAD {
                return Exchange::Failed(
                    Failure::Malformed,
                    format!("a response head over {MAX_HEAD} bytes"),
                );
            }
            buf.resize(buf.len() * 2, 0);
        }
        match s.read(&mut buf[filled..]).await {
            Ok(0) => {
                let what = if filled == 0 {
                    "the server closed the connection without a response"
                } else {
                    "the server closed the connection in the response head"
                };
                return Exchange::Failed(Failure::Closed, what.into());
            }
            Ok(n) => filled += n,
            Err(e) => return Exchange::Failed(Failure::from_io(&e), e.to_string()),
        }
        match parse_head(&buf[..filled]) {
            Parsed::Partial => continue,
            Parsed::Head(h) => break h,
            Parsed::Malformed(why) => return Exchange::Failed(Failure::Malformed, why.into()),
        }
    };
    if head.status != 200 {
        return Exchange::Failed(Failure::Status, format!("HTTP {}", head.status));
    }
    if let Some(size) = config.size {
        if head.content_length != size as u64 {
            return Exchange::Failed(
                Failure::Length,
                format!(
                    "Content-Length {} where --size is {size}",
                    head.content_length
                ),
            );
        }
    }
    // The body: what came with the head, then reads until it is whole.
    let expected = shared.bodies.as_ref().map(|b| b[page].as_slice());
    let length = head.content_length as usize;
    let mut got = 0usize;
    let mut chunk = head.len..filled;
    loop {
        let bytes = &buf[chunk.clone()];
        if got + bytes.len() > length {
            return Exchange::Failed(
                Failure::Malformed,
                "more bytes than the Content-Length (the generator does not pipeline)".into(),
            );
        }
        if let Some(expected) = expected {
            if bytes != &expected[got..got + bytes.len()] {
                return Exchange::Failed(
                    Failure::Body,
                    format!("page {page}'s body differs from its bytes near byte {got}"),
                );
            }
        }
        got += bytes.len();
        if got == length {
            break;
        }
        match s.read(&mut buf[..]).await {
            Ok(0) => {
                return Exchange::Failed(
                    Failure::Closed,
                    format!("the server closed the connection after {got} of {length} body bytes"),
                )
            }
            Ok(n) => chunk = 0..n,
            Err(e) => return Exchange::Failed(Failure::from_io(&e), e.to_string()),
        }
    }
    Exchange::Ok {
        keep: !(config.new_connection || head.close),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_name_the_page_and_keep_alive_unless_asked() {
        assert_eq!(
            request("127.0.0.1:80", "", 0, false),
            b"GET / HTTP/1.1\r\nHost: 127.0.0.1:80\r\n\r\n"
        );
        assert_eq!(
            request("h", "/base", 3, true),
            b"GET /base/3 HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n"
        );
        assert_eq!(
            request("h", "/base", 0, false),
            b"GET /base HTTP/1.1\r\nHost: h\r\n\r\n"
        );
    }
}
