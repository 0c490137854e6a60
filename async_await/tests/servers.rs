//! Every server in the lesson's table, through a plain TCP client: pages
//! over keep-alive and pipelined, refusals, the header timeout, and Ctrl-C
//! during a request. And the `hyper` server's JSON lookup.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use workload::serve::{ServeConfig, ServeVariant, Serving, Shutdown};

const SIZE: usize = 700;
/// A generous bound on anything that should take well under a second.
const HANG: Duration = Duration::from_secs(20);

struct Running {
    addr: SocketAddr,
    shutdown: Shutdown,
    thread: Option<JoinHandle<io::Result<()>>>,
}

impl Running {
    fn start(server: &ServeVariant, latency_ms: u64, header_timeout_ms: u64) -> Running {
        let serving = Serving::bind_local(ServeConfig {
            latency: Duration::from_millis(latency_ms),
            size: SIZE,
            header_timeout: Duration::from_millis(header_timeout_ms),
            ..ServeConfig::default()
        })
        .unwrap();
        let addr = serving.listener.local_addr().unwrap();
        let shutdown = serving.shutdown.clone();
        let serve = server.serve;
        let thread = std::thread::spawn(move || serve(serving));
        Running {
            addr,
            shutdown,
            thread: Some(thread),
        }
    }

    fn connect(&self) -> BufReader<TcpStream> {
        let stream = TcpStream::connect(self.addr).unwrap();
        stream.set_read_timeout(Some(HANG)).unwrap();
        BufReader::new(stream)
    }

    /// Ctrl-C, and how the server returned.
    fn stop(mut self) -> io::Result<()> {
        self.shutdown.trigger();
        let thread = self.thread.take().unwrap();
        let start = Instant::now();
        while !thread.is_finished() {
            assert!(start.elapsed() < HANG, "the server did not stop");
            std::thread::sleep(Duration::from_millis(10));
        }
        thread.join().unwrap()
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.shutdown.trigger();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// A response: status, head, body (by Content-Length).
fn response(conn: &mut BufReader<TcpStream>) -> (u16, String, Vec<u8>) {
    let mut head = String::new();
    loop {
        let mut line = String::new();
        assert!(
            conn.read_line(&mut line).unwrap() > 0,
            "EOF in a head: {head}"
        );
        head.push_str(&line);
        if line == "\r\n" {
            break;
        }
    }
    let status = head[9..12].parse().unwrap();
    let length: usize = head
        .lines()
        .find_map(|l| {
            let (name, value) = l.split_once(':')?;
            name.eq_ignore_ascii_case("content-length")
                .then(|| value.trim().parse().unwrap())
        })
        .expect("a Content-Length");
    let mut body = vec![0; length];
    conn.read_exact(&mut body).unwrap();
    (status, head, body)
}

/// The connection ends (EOF, or a reset) without another byte.
fn closed(conn: &mut BufReader<TcpStream>) -> bool {
    let mut rest = Vec::new();
    match conn.read_to_end(&mut rest) {
        Ok(_) => rest.is_empty(),
        Err(e) => e.kind() == io::ErrorKind::ConnectionReset,
    }
}

fn get(path: &str, close: bool) -> String {
    let connection = if close { "Connection: close\r\n" } else { "" };
    format!("GET {path} HTTP/1.1\r\nHost: test\r\n{connection}\r\n")
}

fn servers() -> &'static [ServeVariant] {
    async_await::LESSON.servers
}

#[test]
fn pages_over_keep_alive_and_pipelined() {
    for server in servers() {
        let running = Running::start(server, 0, 5000);
        let mut conn = running.connect();
        for page in [1, 2] {
            conn.get_mut()
                .write_all(get(&format!("/{page}"), false).as_bytes())
                .unwrap();
            let (status, _, body) = response(&mut conn);
            assert_eq!(status, 200, "{}", server.name);
            assert_eq!(
                body,
                workload::server::page_body(page, SIZE),
                "{}",
                server.name
            );
        }
        // Two requests in one write: both answered, in order; the second
        // asked to close.
        let two = get("/3", false) + &get("/4", true);
        conn.get_mut().write_all(two.as_bytes()).unwrap();
        for page in [3, 4] {
            let (status, _, body) = response(&mut conn);
            assert_eq!(status, 200, "{}", server.name);
            assert_eq!(
                body,
                workload::server::page_body(page, SIZE),
                "{}",
                server.name
            );
        }
        assert!(
            closed(&mut conn),
            "{}: not closed after Connection: close",
            server.name
        );
        running.stop().unwrap();
    }
}

#[test]
fn garbage_and_oversized_heads_are_refused_and_closed() {
    for server in servers() {
        let running = Running::start(server, 0, 5000);
        let mut conn = running.connect();
        conn.get_mut()
            .write_all(b"\x16\x03\x01 no http here\r\n\r\n")
            .unwrap();
        let (status, _, _) = response(&mut conn);
        assert_eq!(status, 400, "{}", server.name);
        assert!(closed(&mut conn), "{}", server.name);

        let mut conn = running.connect();
        let big = format!(
            "GET /1 HTTP/1.1\r\nX-Big: {}\r\n\r\n",
            "a".repeat(16 * 1024)
        );
        // The server may close before it has read all of it.
        let _ = conn.get_mut().write_all(big.as_bytes());
        let (status, _, _) = response(&mut conn);
        assert_eq!(status, 431, "{}", server.name);
        assert!(closed(&mut conn), "{}", server.name);
        running.stop().unwrap();
    }
}

#[test]
fn a_silent_connection_is_closed_after_the_header_timeout() {
    for server in servers() {
        let running = Running::start(server, 0, 200);
        let mut silent = running.connect();
        // A kept-alive one, after its response, is closed the same way.
        let mut idle = running.connect();
        idle.get_mut()
            .write_all(get("/1", false).as_bytes())
            .unwrap();
        assert_eq!(response(&mut idle).0, 200);
        assert!(closed(&mut silent), "{}", server.name);
        assert!(closed(&mut idle), "{}", server.name);
        // And the server still serves.
        let mut conn = running.connect();
        conn.get_mut()
            .write_all(get("/2", true).as_bytes())
            .unwrap();
        assert_eq!(response(&mut conn).0, 200, "{}", server.name);
        running.stop().unwrap();
    }
}

#[test]
fn ctrl_c_finishes_the_request_in_flight_and_closes_idle_ones() {
    for server in servers() {
        let running = Running::start(server, 600, 5000);
        let mut idle = running.connect();
        idle.get_mut()
            .write_all(get("/1", false).as_bytes())
            .unwrap();
        assert_eq!(response(&mut idle).0, 200);
        let mut busy = running.connect();
        busy.get_mut()
            .write_all(get("/5", false).as_bytes())
            .unwrap();
        // The head is read well before the think time ends.
        std::thread::sleep(Duration::from_millis(250));
        let stopper = {
            let shutdown = running.shutdown.clone();
            std::thread::spawn(move || shutdown.trigger())
        };
        let (status, _, body) = response(&mut busy);
        assert_eq!(status, 200, "{}", server.name);
        assert_eq!(
            body,
            workload::server::page_body(5, SIZE),
            "{}",
            server.name
        );
        assert!(
            closed(&mut idle),
            "{}: the idle connection stayed open",
            server.name
        );
        stopper.join().unwrap();
        running.stop().unwrap();
    }
}

/// The tutorial's aiohttp lookup on the `hyper` server: a known name's
/// document, and 404 with the "fail" document for anyone else.
#[test]
fn hyper_answers_names_with_json() {
    let hyper = servers().iter().find(|s| s.name == "hyper").unwrap();
    let running = Running::start(hyper, 0, 5000);
    let mut conn = running.connect();
    conn.get_mut()
        .write_all(get("/Brus%20Lee", false).as_bytes())
        .unwrap();
    let (status, head, body) = response(&mut conn);
    assert_eq!(status, 200);
    assert!(
        head.to_ascii_lowercase()
            .contains("content-type: application/json"),
        "{head}"
    );
    let doc: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(doc["status"], "success");
    assert_eq!(doc["result"]["name"], "Brus Lee");
    assert_eq!(doc["result"]["age"], 30);

    conn.get_mut()
        .write_all(get("/Nobody", true).as_bytes())
        .unwrap();
    let (status, _, body) = response(&mut conn);
    assert_eq!(status, 404);
    let doc: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(doc["status"], "fail");
    assert_eq!(doc["result"], serde_json::json!({}));
    running.stop().unwrap();
}
