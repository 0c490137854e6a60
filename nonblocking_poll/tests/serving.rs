//! The busy server (`serve.rs`) on a real 127.0.0.1 listener, in-process:
//! pages over keep-alive, pipelined requests answered in order, many
//! connections at once during a think time, a response larger than the
//! socket's send buffer (written over several passes), a client that
//! leaves mid-response, bad heads and a head that never ends, and Ctrl-C
//! with a request in flight. Behaviour only; the bounds are generous.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::thread::JoinHandle;
use std::time::Duration;

use nonblocking_poll::LESSON;
use workload::serve::{ServeConfig, ServeVariant, Serving, Shutdown};
use workload::server::page_body;

/// Nothing here should take this long; a hang fails instead of blocking.
const BOUND: Duration = Duration::from_secs(10);

struct Running {
    addr: SocketAddr,
    shutdown: Shutdown,
    thread: JoinHandle<io::Result<()>>,
}

impl Running {
    fn stop(self) -> io::Result<()> {
        self.shutdown.trigger();
        self.thread.join().expect("the server thread panicked")
    }
}

fn start(server: &ServeVariant, config: ServeConfig) -> Running {
    let serving = Serving::bind_local(config).unwrap();
    let addr = serving.listener.local_addr().unwrap();
    let shutdown = serving.shutdown.clone();
    let serve = server.serve;
    let thread = std::thread::spawn(move || serve(serving));
    Running {
        addr,
        shutdown,
        thread,
    }
}

fn connect(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(BOUND)).unwrap();
    s
}

/// One response: its status line and its body (by Content-Length).
fn read_response(s: &mut TcpStream) -> (String, Vec<u8>) {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        assert_eq!(
            s.read(&mut byte).unwrap(),
            1,
            "closed inside a head: {head:?}"
        );
        head.push(byte[0]);
    }
    let head = String::from_utf8(head).unwrap();
    let len: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("Content-Length: "))
        .expect("Content-Length")
        .parse()
        .unwrap();
    let mut body = vec![0u8; len];
    s.read_exact(&mut body).unwrap();
    (head.lines().next().unwrap().to_string(), body)
}

/// The connection ends (EOF, or a reset) without another byte.
fn assert_closed(s: &mut TcpStream) {
    let mut buf = [0u8; 64];
    match s.read(&mut buf) {
        Ok(0) | Err(_) => {}
        Ok(n) => panic!(
            "expected the end, got {:?}",
            String::from_utf8_lossy(&buf[..n])
        ),
    }
}

fn config(latency_ms: u64, size: usize) -> ServeConfig {
    ServeConfig {
        latency: Duration::from_millis(latency_ms),
        size,
        header_timeout: Duration::from_millis(300),
        ..ServeConfig::default()
    }
}

#[test]
fn pages_over_keep_alive_and_pipelined_in_order() {
    for server in LESSON.servers {
        let running = start(server, config(0, 500));
        let mut s = connect(running.addr);
        for page in [3, 0, 12] {
            write!(s, "GET /{page} HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
            let (status, body) = read_response(&mut s);
            assert_eq!(status, "HTTP/1.1 200 OK", "{}", server.name);
            assert_eq!(body, page_body(page, 500), "{}: page {page}", server.name);
        }
        // Two requests in one write: both answered, in order.
        s.write_all(b"GET /1 HTTP/1.1\r\n\r\nGET /2 HTTP/1.1\r\nConnection: close\r\n\r\n")
            .unwrap();
        assert_eq!(
            read_response(&mut s).1,
            page_body(1, 500),
            "{}",
            server.name
        );
        assert_eq!(
            read_response(&mut s).1,
            page_body(2, 500),
            "{}",
            server.name
        );
        assert_closed(&mut s);
        running.stop().unwrap();
    }
}

#[test]
fn many_connections_wait_their_think_time_together() {
    for server in LESSON.servers {
        let running = start(server, config(200, 300));
        let clients: Vec<_> = (0..40)
            .map(|page| {
                let addr = running.addr;
                std::thread::spawn(move || {
                    let mut s = connect(addr);
                    write!(s, "GET /{page} HTTP/1.1\r\n\r\n").unwrap();
                    (page, read_response(&mut s).1)
                })
            })
            .collect();
        for client in clients {
            let (page, body) = client.join().unwrap();
            assert_eq!(body, page_body(page, 300), "{}: page {page}", server.name);
        }
        running.stop().unwrap();
    }
}

/// 4 MB does not fit in a socket's send buffer: the rest goes out over
/// the following passes. A client that leaves halfway is only that connection's
/// end.
#[test]
fn large_responses_and_a_client_that_leaves_mid_response() {
    const SIZE: usize = 4 << 20;
    for server in LESSON.servers {
        let running = start(server, config(0, SIZE));
        let mut leaver = connect(running.addr);
        leaver.write_all(b"GET /1 HTTP/1.1\r\n\r\n").unwrap();
        let mut some = [0u8; 1000];
        leaver.read_exact(&mut some).unwrap();
        drop(leaver);

        let mut s = connect(running.addr);
        for page in [2, 3] {
            write!(s, "GET /{page} HTTP/1.1\r\n\r\n").unwrap();
            let body = read_response(&mut s).1;
            assert!(
                body == page_body(page, SIZE),
                "{}: page {page}",
                server.name
            );
        }
        running.stop().unwrap();
    }
}

#[test]
fn bad_heads_are_refused_and_slow_ones_closed() {
    for server in LESSON.servers {
        let running = start(server, config(0, 100));
        let mut s = connect(running.addr);
        s.write_all(b"\x16\x03\x01 not http\r\n\r\n").unwrap();
        assert!(
            read_response(&mut s).0.starts_with("HTTP/1.1 400 "),
            "{}",
            server.name
        );
        assert_closed(&mut s);

        let mut s = connect(running.addr);
        let mut big = b"GET /1 HTTP/1.1\r\nX: ".to_vec();
        big.resize(20_000, b'a');
        s.write_all(&big).unwrap();
        assert!(
            read_response(&mut s).0.starts_with("HTTP/1.1 431 "),
            "{}",
            server.name
        );
        assert_closed(&mut s);

        // Part of a head, then nothing: closed at the header timeout.
        let mut s = connect(running.addr);
        s.write_all(b"GET /1 HT").unwrap();
        assert_closed(&mut s);
        // And the server still serves.
        let mut s = connect(running.addr);
        s.write_all(b"GET /4 HTTP/1.1\r\n\r\n").unwrap();
        assert_eq!(
            read_response(&mut s).1,
            page_body(4, 100),
            "{}",
            server.name
        );
        running.stop().unwrap();
    }
}

/// Ctrl-C: the request in flight gets its whole response after its think
/// time, the idle connection is closed, and `serve` returns Ok.
#[test]
fn shutdown_finishes_the_request_in_flight() {
    for server in LESSON.servers {
        let running = start(server, config(300, 200));
        let mut idle = connect(running.addr);
        let mut busy = connect(running.addr);
        busy.write_all(b"GET /9 HTTP/1.1\r\n\r\n").unwrap();
        std::thread::sleep(Duration::from_millis(50));
        running.shutdown.trigger();
        assert_eq!(
            read_response(&mut busy).1,
            page_body(9, 200),
            "{}",
            server.name
        );
        assert_closed(&mut busy);
        assert_closed(&mut idle);
        running.stop().unwrap();
    }
}
