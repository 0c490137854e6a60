//! The load generator against small servers of known behaviour (a thread
//! per connection, written here): a known delay gives that latency and
//! the right count; a stall shows in an open loop's percentiles and hides
//! in a closed loop's; failures are counted by kind; the JSON object is one
//! object; wrk runs beside it where it is installed. No timing upper bound
//! is asserted.

use bench_report::load::engine::{self, Config, Outcome};
use bench_report::load::response::Failure;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const SIZE: usize = workload::plan::DEFAULT_SIZE;

/// How the test server answers a request.
#[derive(Debug, Clone, Copy)]
enum Behaviour {
    /// Page i's body after `delay`; from `stall.0` after the first request
    /// on, for `stall.1`, nothing is answered (held until the stall ends).
    Pages {
        delay: Duration,
        stall: Option<(Duration, Duration)>,
    },
    /// A reset (SO_LINGER 0, then close) instead of an answer.
    Reset,
    /// A close without an answer.
    Close,
    /// HTTP 500 with an empty body.
    Status500,
    /// Bytes that are not HTTP.
    Garbage,
    /// A 200 whose body is not the page's.
    WrongBody,
    /// No answer at all, the connection left open.
    Silent,
}

/// A keep-alive server on 127.0.0.1, a thread per connection; stops when
/// dropped.
struct TestServer {
    addr: SocketAddr,
    requests: Arc<AtomicU64>,
    connections: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
}

impl TestServer {
    fn start(behaviour: Behaviour) -> TestServer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let requests = Arc::new(AtomicU64::new(0));
        let connections = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let first: Arc<Mutex<Option<Instant>>> = Arc::default();
        let (r, c, s) = (requests.clone(), connections.clone(), stop.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                if s.load(Ordering::Relaxed) {
                    break;
                }
                let Ok(stream) = stream else { continue };
                c.fetch_add(1, Ordering::Relaxed);
                let (r, s, first) = (r.clone(), s.clone(), first.clone());
                std::thread::spawn(move || serve(stream, behaviour, &r, &s, &first));
            }
        });
        TestServer {
            addr,
            requests,
            connections,
            stop,
        }
    }

    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        let _ = TcpStream::connect(self.addr);
    }
}

/// One connection: requests until the client closes or the server stops.
fn serve(
    mut stream: TcpStream,
    behaviour: Behaviour,
    requests: &AtomicU64,
    stop: &AtomicBool,
    first: &Mutex<Option<Instant>>,
) {
    let _ = stream.set_nodelay(true);
    let _ = stream.set_read_timeout(Some(Duration::from_millis(100)));
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        // One request head.
        let end = loop {
            if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            match stream.read(&mut chunk) {
                Ok(0) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
                Err(_) if !stop.load(Ordering::Relaxed) => continue,
                Err(_) => return,
            }
        };
        let head = String::from_utf8_lossy(&buf[..end]).to_string();
        buf.drain(..end);
        requests.fetch_add(1, Ordering::Relaxed);
        let now = Instant::now();
        let started = *first.lock().unwrap().get_or_insert(now);
        let page: usize = head
            .split_whitespace()
            .nth(1)
            .map(|p| p.trim_start_matches('/'))
            .and_then(|p| {
                if p.is_empty() {
                    Some(0)
                } else {
                    p.parse().ok()
                }
            })
            .unwrap_or(0);
        let close = head.to_ascii_lowercase().contains("connection: close");
        let response: Vec<u8> = match behaviour {
            Behaviour::Pages { delay, stall } => {
                std::thread::sleep(delay);
                if let Some((after, length)) = stall {
                    let (from, to) = (started + after, started + after + length);
                    let t = Instant::now();
                    if t >= from && t < to {
                        std::thread::sleep(to - t);
                    }
                }
                page_response(&workload::server::page_body(page, SIZE), close)
            }
            Behaviour::WrongBody => page_response(&vec![b'x'; SIZE], close),
            Behaviour::Status500 => {
                b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\n\r\n".to_vec()
            }
            Behaviour::Garbage => b"HELLO THERE\r\n\r\n".to_vec(),
            Behaviour::Reset => {
                let _ = socket2::SockRef::from(&stream).set_linger(Some(Duration::ZERO));
                return;
            }
            Behaviour::Close => return,
            Behaviour::Silent => {
                while !stop.load(Ordering::Relaxed) {
                    std::thread::sleep(Duration::from_millis(20));
                }
                return;
            }
        };
        if stream.write_all(&response).is_err() || close {
            return;
        }
    }
}

fn page_response(body: &[u8], close: bool) -> Vec<u8> {
    let connection = if close { "Connection: close\r\n" } else { "" };
    let mut r = format!(
        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n{connection}\r\n",
        body.len()
    )
    .into_bytes();
    r.extend_from_slice(body);
    r
}

fn config(server: &TestServer, connections: usize) -> Config {
    Config {
        addr: server.addr,
        host: server.addr.to_string(),
        path: String::new(),
        connections,
        threads: 2,
        warmup: Duration::ZERO,
        duration: Duration::from_secs(60),
        requests: None,
        pages: 10,
        new_connection: false,
        rate: None,
        timeout: Duration::from_secs(10),
        size: Some(SIZE),
        check_bodies: true,
    }
}

fn run(config: &Config) -> Outcome {
    engine::run(config).expect("the generator runs")
}

fn errors(o: &Outcome) -> Vec<(Failure, u64, String)> {
    o.error_kinds()
        .map(|(f, n, e)| (f, n, e.to_string()))
        .collect()
}

/// Latencies at or above `ms`, counted from the histogram.
fn at_least(o: &Outcome, ms: u64) -> u64 {
    o.latency_us
        .iter_recorded()
        .filter(|v| v.value_iterated_to() >= ms * 1000)
        .map(|v| v.count_at_value())
        .sum()
}

#[test]
fn a_known_delay_gives_that_latency_and_the_count_is_exact() {
    let server = TestServer::start(Behaviour::Pages {
        delay: Duration::from_millis(40),
        stall: None,
    });
    let mut c = config(&server, 4);
    c.requests = Some(40);
    let o = run(&c);
    assert_eq!(errors(&o), []);
    assert_eq!((o.ok, o.ok_total), (40, 40));
    assert_eq!(o.latency_us.len(), 40);
    assert_eq!(server.requests.load(Ordering::Relaxed), 40);
    // keep-alive: one connection each
    assert_eq!(server.connections.load(Ordering::Relaxed), 4);
    assert!(
        o.latency_us.min() >= 40_000,
        "min {} µs",
        o.latency_us.min()
    );
    assert!(o.latency_us.value_at_quantile(0.5) >= 40_000);
    assert!(o.window > Duration::ZERO);
}

#[test]
fn new_connection_mode_connects_for_every_request() {
    let server = TestServer::start(Behaviour::Pages {
        delay: Duration::ZERO,
        stall: None,
    });
    let mut c = config(&server, 3);
    c.requests = Some(30);
    c.new_connection = true;
    let o = run(&c);
    assert_eq!(errors(&o), []);
    assert_eq!(o.ok, 30);
    assert_eq!(server.requests.load(Ordering::Relaxed), 30);
    assert_eq!(server.connections.load(Ordering::Relaxed), 30);
}

#[test]
fn a_stall_shows_in_an_open_loop_and_hides_in_a_closed_one() {
    const STALL_MS: u64 = 600;
    let stalling = || {
        TestServer::start(Behaviour::Pages {
            delay: Duration::ZERO,
            stall: Some((Duration::from_millis(500), Duration::from_millis(STALL_MS))),
        })
    };
    let connections = 10;

    // Open loop, 200 requests/s: the ~120 requests due during the stall are
    // late by up to the whole stall, and each of them counts.
    let server = stalling();
    let mut open = config(&server, connections);
    open.duration = Duration::from_secs(2);
    open.rate = Some(200.0);
    let o = run(&open);
    assert_eq!(errors(&o), []);
    assert!(o.ok > 100, "{} requests", o.ok);
    let max_ms = o.latency_us.max() / 1000;
    let p99_ms = o.latency_us.value_at_quantile(0.99) / 1000;
    assert!(max_ms >= STALL_MS * 8 / 10, "max {max_ms} ms");
    assert!(p99_ms >= STALL_MS / 2, "p99 {p99_ms} ms");
    let open_slow = at_least(&o, STALL_MS / 2);
    assert!(
        open_slow > 2 * connections as u64,
        "{open_slow} slow requests"
    );

    // Closed loop: each connection waits once, sends nothing meanwhile, and
    // the stall is one slow request per connection among thousands.
    let server = stalling();
    let mut closed = config(&server, connections);
    closed.duration = Duration::from_secs(2);
    let o = run(&closed);
    assert_eq!(errors(&o), []);
    let closed_slow = at_least(&o, STALL_MS / 2);
    assert!(
        closed_slow <= connections as u64,
        "{closed_slow} slow requests over {connections} connections"
    );
    assert!(o.ok > closed_slow * 10, "{} requests", o.ok);
}

/// A short run against `behaviour`, and its failures.
fn failures(behaviour: Behaviour, timeout: Duration) -> (Outcome, Vec<Failure>) {
    let server = TestServer::start(behaviour);
    let mut c = config(&server, 2);
    c.duration = Duration::from_millis(600);
    c.timeout = timeout;
    let o = run(&c);
    let kinds = o.error_kinds().map(|(f, _, _)| f).collect();
    (o, kinds)
}

#[test]
fn failures_are_counted_by_kind() {
    let long = Duration::from_secs(10);
    for (behaviour, kind) in [
        (Behaviour::Reset, Failure::Reset),
        (Behaviour::Close, Failure::Closed),
        (Behaviour::Status500, Failure::Status),
        (Behaviour::Garbage, Failure::Malformed),
        (Behaviour::WrongBody, Failure::Body),
    ] {
        let (o, kinds) = failures(behaviour, long);
        assert_eq!(o.ok, 0, "{behaviour:?}");
        assert!(kinds.contains(&kind), "{behaviour:?}: {:?}", errors(&o));
        assert!(o.error_count() > 0);
    }
    let (o, kinds) = failures(Behaviour::Silent, Duration::from_millis(150));
    assert_eq!((o.ok, kinds), (0, vec![Failure::Timeout]));
}

#[test]
fn a_port_nobody_listens_on_is_refused() {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let c = Config {
        addr: port,
        host: port.to_string(),
        duration: Duration::from_millis(300),
        ..config_for(port)
    };
    let o = run(&c);
    assert_eq!(o.ok, 0);
    let kinds: Vec<Failure> = o.error_kinds().map(|(f, _, _)| f).collect();
    assert_eq!(kinds, [Failure::Refused]);
}

fn config_for(addr: SocketAddr) -> Config {
    Config {
        addr,
        host: addr.to_string(),
        path: String::new(),
        connections: 2,
        threads: 1,
        warmup: Duration::ZERO,
        duration: Duration::from_secs(1),
        requests: None,
        pages: 1,
        new_connection: false,
        rate: None,
        timeout: Duration::from_secs(1),
        size: None,
        check_bodies: false,
    }
}

fn load(args: &[&str], path: Option<&str>) -> std::process::Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_bench-report"));
    c.arg("load").args(args);
    if let Some(p) = path {
        c.env("PATH", p);
    }
    c.output().expect("bench-report runs")
}

fn text(o: &std::process::Output) -> String {
    format!(
        "status {:?}\n--- stdout\n{}\n--- stderr\n{}",
        o.status,
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[test]
fn json_is_one_object_and_the_text_names_the_figures() {
    let server = TestServer::start(Behaviour::Pages {
        delay: Duration::from_millis(5),
        stall: None,
    });
    let url = server.url();
    let base = ["--url", &url, "-c", "3", "-d", "400ms", "--warmup", "100ms"];
    let o = load(&[&base[..], &["--json", "--check-bodies"]].concat(), None);
    assert!(o.status.success(), "{}", text(&o));
    let stdout = String::from_utf8(o.stdout.clone()).unwrap();
    assert_eq!(stdout.trim().lines().count(), 1, "{}", text(&o));
    let v: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(v["connections"], 3);
    assert_eq!(v["loop_kind"], "closed");
    assert_eq!(v["errors"], 0);
    assert!(v["ok"].as_u64().unwrap() > 0);
    assert!(v["requests_per_s"].as_f64().unwrap() > 0.0);
    assert!(v["latency_ms"]["p50"].as_f64().unwrap() >= 5.0);
    assert!(v.get("wrk").is_none());

    let o = load(&base, None);
    assert!(o.status.success(), "{}", text(&o));
    let stdout = String::from_utf8_lossy(&o.stdout);
    for word in ["requests/s", "p99.9", "errors       none", "client CPU"] {
        assert!(stdout.contains(word), "{word}: {}", text(&o));
    }

    // a usage error before anything runs
    let o = load(&["--url", "http://192.0.2.1:80/"], None);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
}

#[test]
fn without_wrk_on_path_the_comparison_says_so_and_skips() {
    let server = TestServer::start(Behaviour::Pages {
        delay: Duration::ZERO,
        stall: None,
    });
    let url = server.url();
    let o = load(
        &[
            "--url",
            &url,
            "-c",
            "2",
            "-d",
            "200ms",
            "--warmup",
            "0s",
            "--with-wrk",
        ],
        Some(""),
    );
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("wrk is not on PATH"),
        "{}",
        text(&o)
    );
}

#[test]
fn wrk_runs_beside_the_generator_where_it_is_installed() {
    if bench_report::load::wrk::find().is_none() {
        eprintln!("skipped: wrk is not on PATH (apt-get install wrk to run this test)");
        return;
    }
    let server = TestServer::start(Behaviour::Pages {
        delay: Duration::ZERO,
        stall: None,
    });
    let url = server.url();
    let o = load(
        &[
            "--url",
            &url,
            "-c",
            "2",
            "-d",
            "1s",
            "--warmup",
            "0s",
            "--with-wrk",
            "--json",
        ],
        None,
    );
    assert!(o.status.success(), "{}", text(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(v["wrk"]["requests_per_s"].as_f64().unwrap() > 0.0, "{v}");
    assert!(v["wrk"]["latency_ms"]["p99"].as_f64().unwrap() > 0.0, "{v}");
    assert!(v["wrk"]["command"].as_str().unwrap().contains("-c2"), "{v}");
}
