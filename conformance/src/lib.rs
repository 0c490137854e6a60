//! The conformance suite: every lesson, every variant, the same scenarios.
//!
//! Each scenario starts a small server inside the test that misbehaves in
//! one way (a 404, a reset in the middle of the body, a black hole...) and
//! says what outcome every page must end with. A lesson's
//! `tests/conformance.rs` is one line:
//!
//! ```ignore
//! conformance::tests!(sync_blocking::LESSON);
//! ```
//!
//! which makes one `#[test]` per scenario, each run against every variant
//! of the lesson. Tests assert behaviour, never timings: a run that does not
//! end at all within [`HANG_LIMIT`] fails as a hang, which no timeout in a
//! scenario comes near.

#![forbid(unsafe_code)]

pub mod serving;

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use workload::server::page_crc;
use workload::{ErrorKind, Lesson, Plan, Report, Server, ServerConfig, Variant};

/// A run that has not returned after this long has hung: a test failure.
pub const HANG_LIMIT: Duration = Duration::from_secs(30);
/// The per-page timeout of the scenarios that must time out.
pub const SHORT_TIMEOUT: Duration = Duration::from_millis(400);

/// What a misbehaving server does with one connection, after it has read the
/// request. It gets the page index (from the path) and the stop flag.
pub type Behaviour = fn(&mut Conn);

/// One accepted connection of a scenario server.
pub struct Conn {
    pub stream: TcpStream,
    pub page: usize,
    stop: Arc<AtomicBool>,
}

impl Conn {
    /// Write, ignoring the client having gone away.
    pub fn send(&mut self, bytes: &[u8]) -> bool {
        self.stream.write_all(bytes).is_ok()
    }

    /// Hold the connection open, silent, until the scenario server stops or
    /// the client goes away.
    pub fn hold(&mut self) {
        let _ = self
            .stream
            .set_read_timeout(Some(Duration::from_millis(20)));
        let mut buf = [0u8; 64];
        while !self.stopped() {
            match self.stream.read(&mut buf) {
                Ok(0) => return,
                Ok(_) => {}
                Err(e) if is_timeout(&e) => {}
                Err(_) => return,
            }
        }
    }

    pub fn stopped(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }

    /// Make the coming close a RST instead of a FIN (SO_LINGER with a zero
    /// timeout): the connection is reset when the behaviour returns.
    pub fn reset_on_close(&mut self) {
        let _ = socket2::SockRef::from(&self.stream).set_linger(Some(Duration::ZERO));
    }
}

fn is_timeout(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
    )
}

/// A server on 127.0.0.1 that runs one [`Behaviour`] per connection, on a
/// thread each. It stops (and releases every held connection) when dropped.
pub struct ScenarioServer {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    requests: Arc<AtomicUsize>,
}

impl ScenarioServer {
    pub fn start(behaviour: Behaviour) -> ScenarioServer {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let requests = Arc::new(AtomicUsize::new(0));
        let (stop2, requests2) = (stop.clone(), requests.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                if stop2.load(Ordering::Relaxed) {
                    return;
                }
                let Ok(mut stream) = stream else { continue };
                let stop = stop2.clone();
                let requests = requests2.clone();
                std::thread::spawn(move || {
                    let Some(page) = read_request(&mut stream) else {
                        return;
                    };
                    requests.fetch_add(1, Ordering::Relaxed);
                    let _ = stream.set_read_timeout(None);
                    behaviour(&mut Conn { stream, page, stop });
                });
            }
        });
        ScenarioServer {
            addr,
            stop,
            requests,
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Requests that reached the server.
    pub fn requests(&self) -> usize {
        self.requests.load(Ordering::Relaxed)
    }
}

impl Drop for ScenarioServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        // Wake the accept loop so it sees the flag.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
    }
}

/// Read the request head; the page index comes from the path (`/` is 0).
fn read_request(stream: &mut TcpStream) -> Option<usize> {
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .ok()?;
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = stream.read(&mut buf).ok()?;
        if n == 0 || head.len() > 16 * 1024 {
            return None;
        }
        head.extend_from_slice(&buf[..n]);
    }
    let line = String::from_utf8_lossy(&head);
    let path = line.split_whitespace().nth(1)?;
    Some(path.rsplit('/').next()?.parse().unwrap_or(0))
}

/// What every page of a scenario must end as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    /// Status 200 with exactly this body length and CRC-32.
    Ok { bytes: u64, crc32: u32 },
    /// The named error; for `Status`, with this code.
    Fails(ErrorKind, Option<u16>),
}

impl Expect {
    fn ok(body: &[u8]) -> Expect {
        Expect::Ok {
            bytes: body.len() as u64,
            crc32: crc32fast::hash(body),
        }
    }
}

/// Run `variant` of `lesson` on `plan`, in a thread, failing the test if it
/// hangs; then check the traces' shape: one per page, times in order.
pub fn run_checked(lesson: &'static Lesson, variant: &'static Variant, plan: Plan) -> Report {
    let (tx, rx) = std::sync::mpsc::channel();
    let pages = plan.pages;
    std::thread::spawn(move || {
        let _ = tx.send(lesson.run(variant, &plan, None));
    });
    let report = rx.recv_timeout(HANG_LIMIT).unwrap_or_else(|_| {
        panic!(
            "{}/{} did not return within {HANG_LIMIT:?} (hung or panicked)",
            lesson.name, variant.name
        )
    });
    let who = format!("{}/{}", lesson.name, variant.name);
    assert_eq!(report.traces.len(), pages, "{who}: one trace per page");
    for (i, t) in report.traces.iter().enumerate() {
        assert_eq!(t.page, i, "{who}: every page exactly once");
        assert!(t.done_ms.is_some(), "{who}: page {i} never ended: {t:?}");
        let stamps = [t.start_ms, t.connected_ms, t.first_byte_ms, t.done_ms];
        let stamps: Vec<f64> = stamps.into_iter().flatten().collect();
        assert!(
            stamps.windows(2).all(|w| w[0] <= w[1]),
            "{who}: page {i}'s times are out of order: {t:?}"
        );
    }
    assert_eq!(report.ok + report.failed, pages, "{who}: ok + failed");
    report
}

/// Check every page of the report against what was expected of it.
pub fn check_pages(report: &Report, expect: impl Fn(usize) -> Expect) {
    let who = format!("{}/{}", report.model, report.variant);
    for t in &report.traces {
        match expect(t.page) {
            Expect::Ok { bytes, crc32 } => {
                assert!(
                    t.is_ok(),
                    "{who}: page {} should be ok, got {:?}",
                    t.page,
                    t.error
                );
                assert_eq!(t.status, Some(200), "{who}: page {}", t.page);
                assert_eq!(t.bytes, Some(bytes), "{who}: page {} length", t.page);
                assert_eq!(t.crc32, Some(crc32), "{who}: page {} body", t.page);
                assert!(t.connected_ms.is_some() && t.first_byte_ms.is_some());
            }
            Expect::Fails(kind, status) => {
                assert_eq!(
                    t.error_kind(),
                    Some(kind),
                    "{who}: page {} should fail as {kind}, got {:?}",
                    t.page,
                    t.error
                );
                if status.is_some() {
                    assert_eq!(t.status, status, "{who}: page {}", t.page);
                }
            }
        }
    }
}

/// Run every variant on a scenario server and check each page.
pub fn scenario(
    lesson: &'static Lesson,
    behaviour: Behaviour,
    pages: usize,
    tune: impl Fn(&mut Plan),
    expect: impl Fn(usize) -> Expect,
) {
    for variant in lesson.variants {
        let server = ScenarioServer::start(behaviour);
        let mut plan = Plan::new(&server.url(), pages).unwrap();
        plan.timeout = Duration::from_secs(10);
        tune(&mut plan);
        let report = run_checked(lesson, variant, plan);
        check_pages(&report, &expect);
    }
}

// ---------------------------------------------------------------------------
// The scenarios. Each is a function taking the lesson, called by one test.
// ---------------------------------------------------------------------------

/// Good pages from the real page server, staggered so they complete out of
/// order: each arrives whole, byte for byte.
pub fn good_pages(lesson: &'static Lesson) {
    const PAGES: usize = 6;
    const SIZE: usize = 3000;
    for variant in lesson.variants {
        let server = Server::start(ServerConfig {
            latency: Duration::from_millis(20),
            size: SIZE,
            stagger: Some(PAGES),
            ..ServerConfig::default()
        })
        .expect("page server");
        let mut plan = Plan::new(&server.url(), PAGES).unwrap();
        plan.latency = Some(Duration::from_millis(20));
        plan.stagger = true;
        let report = run_checked(lesson, variant, plan);
        check_pages(&report, |i| Expect::Ok {
            bytes: SIZE as u64,
            crc32: page_crc(i, SIZE),
        });
        assert_eq!(report.ok, PAGES);
        assert!(report.ideal_ms.is_some());
        for (i, t) in report.traces.iter().enumerate() {
            let url = if i == 0 {
                server.url()
            } else {
                format!("{}/{i}", server.url())
            };
            assert_eq!(t.url, url);
        }
        assert_eq!(server.served(), PAGES as u64, "one request per page");
    }
}

/// `--cpu-us`: every page spends its CPU on its body once it has arrived,
/// and still ends ok. The CPU is the process's own (and its waited-for
/// children's): a lower bound that a noisy machine can only raise.
pub fn cpu_work(lesson: &'static Lesson) {
    const PAGES: usize = 4;
    const CPU: Duration = Duration::from_millis(25);
    for variant in lesson.variants {
        let server = Server::start(ServerConfig {
            latency: Duration::from_millis(5),
            size: 500,
            ..ServerConfig::default()
        })
        .expect("page server");
        let mut plan = Plan::new(&server.url(), PAGES).unwrap();
        plan.cpu = CPU;
        let report = run_checked(lesson, variant, plan);
        check_pages(&report, |i| Expect::Ok {
            bytes: 500,
            crc32: page_crc(i, 500),
        });
        let asked = (CPU * PAGES as u32).as_secs_f64() * 1e3;
        assert!(
            report.user_ms + report.sys_ms >= asked / 2.0,
            "{}/{}: {PAGES} pages of {CPU:?} each used only {:.1} ms of CPU",
            lesson.name,
            variant.name,
            report.user_ms + report.sys_ms
        );
    }
}

/// An empty page from the real server is fine too.
pub fn empty_pages(lesson: &'static Lesson) {
    for variant in lesson.variants {
        let server = Server::start(ServerConfig {
            latency: Duration::ZERO,
            size: 0,
            ..ServerConfig::default()
        })
        .expect("page server");
        let report = run_checked(lesson, variant, Plan::new(&server.url(), 2).unwrap());
        check_pages(&report, |_| Expect::ok(b""));
    }
}

pub fn not_found(lesson: &'static Lesson) {
    scenario(
        lesson,
        |c| {
            c.send(b"HTTP/1.1 404 Not Found\r\nContent-Length: 9\r\n\r\nnot found");
        },
        2,
        |_| {},
        |_| Expect::Fails(ErrorKind::Status, Some(404)),
    );
}

pub fn server_error(lesson: &'static Lesson) {
    scenario(
        lesson,
        |c| {
            c.send(b"HTTP/1.0 500 Internal Server Error\r\n\r\noops");
        },
        2,
        |_| {},
        |_| Expect::Fails(ErrorKind::Status, Some(500)),
    );
}

/// A redirect is a failed page with its code; it is not followed.
pub fn redirect(lesson: &'static Lesson) {
    for variant in lesson.variants {
        let server = ScenarioServer::start(|c| {
            c.send(b"HTTP/1.1 301 Moved Permanently\r\nLocation: /99\r\nContent-Length: 0\r\n\r\n");
        });
        let report = run_checked(lesson, variant, Plan::new(&server.url(), 2).unwrap());
        check_pages(&report, |_| Expect::Fails(ErrorKind::Status, Some(301)));
        assert_eq!(server.requests(), 2, "the redirect must not be followed");
    }
}

pub fn reset_mid_body(lesson: &'static Lesson) {
    scenario(
        lesson,
        |c| {
            c.send(b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n");
            c.send(&[b'a'; 1000]);
            std::thread::sleep(Duration::from_millis(30));
            c.reset_on_close();
        },
        2,
        |_| {},
        |_| Expect::Fails(ErrorKind::Reset, None),
    );
}

pub fn short_body(lesson: &'static Lesson) {
    scenario(
        lesson,
        |c| {
            c.send(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n");
            c.send(&[b'a'; 500]);
        },
        2,
        |_| {},
        |_| Expect::Fails(ErrorKind::Truncated, None),
    );
}

pub fn no_content_length(lesson: &'static Lesson) {
    scenario(
        lesson,
        |c| {
            c.send(b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\n");
            for _ in 0..10 {
                c.send(&[b'z'; 700]);
            }
        },
        2,
        |_| {},
        |_| Expect::ok(&[b'z'; 7000]),
    );
}

pub fn chunked(lesson: &'static Lesson) {
    scenario(
        lesson,
        |c| {
            c.send(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n");
            c.send(b"6;name=value\r\nhello \r\n");
            std::thread::sleep(Duration::from_millis(5));
            c.send(b"6\r\nchunks\r\n0\r\nX-Trailer: yes\r\n\r\n");
        },
        2,
        |_| {},
        |_| Expect::ok(b"hello chunks"),
    );
}

/// The response arrives one byte per write: the reads must add up.
pub fn drip(lesson: &'static Lesson) {
    scenario(
        lesson,
        |c| {
            let _ = c.stream.set_nodelay(true);
            let wire = b"HTTP/1.1 200 OK\r\nContent-Length: 40\r\n\r\n0123456789012345678901234567890123456789";
            for b in wire {
                if !c.send(&[*b]) {
                    return;
                }
                std::thread::sleep(Duration::from_millis(1));
            }
        },
        2,
        |_| {},
        |_| Expect::ok(b"0123456789012345678901234567890123456789"),
    );
}

/// Each byte comes quickly enough for any per-read timeout, but the page as
/// a whole takes far longer than its timeout: the page must time out.
pub fn drip_past_timeout(lesson: &'static Lesson) {
    scenario(
        lesson,
        |c| {
            let _ = c.stream.set_nodelay(true);
            c.send(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n");
            for _ in 0..1000 {
                if c.stopped() || !c.send(b"x") {
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        },
        2,
        |p| p.timeout = SHORT_TIMEOUT,
        |_| Expect::Fails(ErrorKind::Timeout, None),
    );
}

pub fn garbage(lesson: &'static Lesson) {
    scenario(
        lesson,
        |c| {
            let noise: Vec<u8> = (0..4096u32).map(|i| (i * 7919 % 251) as u8).collect();
            c.send(&noise);
        },
        2,
        |_| {},
        |_| Expect::Fails(ErrorKind::Malformed, None),
    );
}

pub fn bad_status_line(lesson: &'static Lesson) {
    scenario(
        lesson,
        |c| {
            c.send(b"HTTP/1.1 two-hundred OK\r\nContent-Length: 2\r\n\r\nhi");
        },
        2,
        |_| {},
        |_| Expect::Fails(ErrorKind::Malformed, None),
    );
}

/// Headers that never end: the reader must give up, not grow.
pub fn endless_headers(lesson: &'static Lesson) {
    scenario(
        lesson,
        |c| {
            c.send(b"HTTP/1.1 200 OK\r\n");
            let mut i = 0u64;
            while !c.stopped() && c.send(format!("X-Header-{i}: still going\r\n").as_bytes()) {
                i += 1;
            }
        },
        2,
        |_| {},
        |_| Expect::Fails(ErrorKind::Malformed, None),
    );
}

/// A body far over `--max-bytes`, announced and unannounced.
pub fn huge_body(lesson: &'static Lesson) {
    fn stream_forever(c: &mut Conn) {
        let block = [b'h'; 64 * 1024];
        while !c.stopped() && c.send(&block) {}
    }
    scenario(
        lesson,
        |c| {
            c.send(b"HTTP/1.1 200 OK\r\nContent-Length: 1000000000000\r\n\r\n");
            stream_forever(c);
        },
        2,
        |p| p.max_bytes = 1 << 20,
        |_| Expect::Fails(ErrorKind::TooLarge, None),
    );
    scenario(
        lesson,
        |c| {
            c.send(b"HTTP/1.0 200 OK\r\n\r\n");
            stream_forever(c);
        },
        2,
        |p| p.max_bytes = 1 << 20,
        |_| Expect::Fails(ErrorKind::TooLarge, None),
    );
}

/// Accepts, reads the request, and never answers.
pub fn black_hole(lesson: &'static Lesson) {
    scenario(
        lesson,
        Conn::hold,
        2,
        |p| p.timeout = SHORT_TIMEOUT,
        |_| Expect::Fails(ErrorKind::Timeout, None),
    );
}

/// Closes the connection without sending a byte.
pub fn silent_close(lesson: &'static Lesson) {
    scenario(
        lesson,
        |_| {},
        2,
        |_| {},
        |_| Expect::Fails(ErrorKind::Truncated, None),
    );
}

pub fn unsupported_coding(lesson: &'static Lesson) {
    scenario(
        lesson,
        |c| {
            c.send(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n\x1f\x8b");
        },
        1,
        |_| {},
        |_| Expect::Fails(ErrorKind::Unsupported, None),
    );
}

/// Nothing listens on the port.
pub fn refused(lesson: &'static Lesson) {
    for variant in lesson.variants {
        let port = {
            let l = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
            l.local_addr().unwrap().port()
        };
        let plan = Plan::new(&format!("http://127.0.0.1:{port}"), 2).unwrap();
        let report = run_checked(lesson, variant, plan);
        check_pages(&report, |_| Expect::Fails(ErrorKind::Refused, None));
    }
}

/// One bad page among good ones fails alone.
pub fn one_bad_page(lesson: &'static Lesson) {
    scenario(
        lesson,
        |c| {
            if c.page == 2 {
                c.send(b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\n\r\n");
            } else {
                let body = workload::server::page_body(c.page, 500);
                c.send(
                    format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", body.len()).as_bytes(),
                );
                c.send(&body);
            }
        },
        5,
        |_| {},
        |i| match i {
            2 => Expect::Fails(ErrorKind::Status, Some(500)),
            i => Expect::Ok {
                bytes: 500,
                crc32: page_crc(i, 500),
            },
        },
    );
}

/// One black-holed page among good ones: it times out alone, the others
/// arrive.
pub fn one_silent_page(lesson: &'static Lesson) {
    scenario(
        lesson,
        |c| {
            if c.page == 1 {
                c.hold();
            } else {
                c.send(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
            }
        },
        3,
        |p| p.timeout = SHORT_TIMEOUT * 2,
        |i| match i {
            1 => Expect::Fails(ErrorKind::Timeout, None),
            _ => Expect::ok(b"ok"),
        },
    );
}

/// A scenario: runs against every variant of a lesson, panics on failure.
pub type Scenario = fn(&'static Lesson);

/// The one list of scenarios: both [`SCENARIOS`] and
/// [`tests!`](crate::tests) are made from it.
#[doc(hidden)]
#[macro_export]
macro_rules! __with_scenarios {
    ($macro:ident! ($($args:tt)*)) => {
        $crate::$macro!($($args)*
            good_pages empty_pages not_found server_error redirect reset_mid_body
            short_body no_content_length chunked drip drip_past_timeout garbage
            bad_status_line endless_headers huge_body black_hole silent_close
            unsupported_coding refused one_bad_page one_silent_page cpu_work);
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __scenario_table {
    ($($name:ident)*) => {
        /// Every scenario, by name.
        pub const SCENARIOS: &[(&str, Scenario)] = &[$((stringify!($name), $name)),*];
    };
}

crate::__with_scenarios!(__scenario_table!());

/// One `#[test]` per scenario, each run against every variant of the lesson.
#[macro_export]
macro_rules! tests {
    ($lesson:expr) => {
        $crate::__with_scenarios!(__conformance_test_fns!($lesson;));
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __conformance_test_fns {
    ($lesson:expr; $($name:ident)*) => {
        $(
            #[test]
            fn $name() {
                $crate::$name(&$lesson);
            }
        )*
    };
}

/// The suite for a test with `harness = false` (a lesson whose test binary
/// needs its own `main`, like `multi_process`, whose workers are the test
/// binary itself): every scenario against every variant, through
/// [`run_named`].
pub fn run_all(lesson: &'static Lesson) -> std::process::ExitCode {
    let names: Vec<&str> = SCENARIOS.iter().map(|(name, _)| *name).collect();
    run_named(
        &format!("conformance against {}", lesson.name),
        &names,
        |i| (SCENARIOS[i].1)(lesson),
    )
}

/// A small test runner for `harness = false` test binaries: runs check `i`
/// for every name that contains each non-flag argument (as libtest's
/// filter), catching its panic; prints a line per check and
/// `N passed, M failed`, and fails if any failed.
pub fn run_named(
    title: &str,
    names: &[&str],
    run: impl Fn(usize) + std::panic::RefUnwindSafe,
) -> std::process::ExitCode {
    let filters: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let chosen: Vec<usize> = (0..names.len())
        .filter(|&i| filters.iter().all(|f| names[i].contains(f.as_str())))
        .collect();
    println!("{title}: {} checks", chosen.len());
    let (mut passed, mut failed) = (0, 0);
    for i in chosen {
        let started = std::time::Instant::now();
        // A check fails by panicking (assert!); the default hook prints
        // the message on stderr.
        let outcome = std::panic::catch_unwind(|| run(i));
        let took = started.elapsed().as_millis();
        if outcome.is_ok() {
            passed += 1;
            println!("test {} ... ok ({took} ms)", names[i]);
        } else {
            failed += 1;
            println!("test {} ... FAILED ({took} ms)", names[i]);
        }
    }
    println!("{passed} passed, {failed} failed");
    if failed == 0 {
        std::process::ExitCode::SUCCESS
    } else {
        std::process::ExitCode::FAILURE
    }
}

/// Run the lesson binary `bin` with `args` and `--json`, under an
/// open-file limit of `nofile` descriptors (through `prlimit`, from
/// util-linux) when given: its exit code and its report. A run that
/// prints no report fails the test, with its stderr.
pub fn run_for_report(
    bin: &str,
    args: &[&str],
    nofile: Option<usize>,
) -> (Option<i32>, workload::Report) {
    let mut command = match nofile {
        Some(n) => {
            let mut c = std::process::Command::new("prlimit");
            c.arg(format!("--nofile={n}:{n}")).arg(bin);
            c
        }
        None => std::process::Command::new(bin),
    };
    let out = command
        .args(args)
        .arg("--json")
        .output()
        .expect("the lesson (under prlimit, from util-linux) starts");
    let report = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{bin} {args:?}: no report ({e}); stderr:\n{}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out.status.code(), report)
}
