//! The hostile-client suite: every lesson's every server, the same clients.
//!
//! Each scenario starts the lesson's own binary as a child,
//! `<lesson> serve --variant V --port 0 ...`, reads the address from its
//! first line of output, and plays one kind of client: a polite one, a slow
//! one, one that sends garbage or too much, one that leaves in the middle,
//! one that stops reading, a crowd that connects and says nothing, more clients than the server has
//! descriptors, and Ctrl-C. Every scenario ends the same way: the server's
//! open descriptors are back to what they were after its first request (no
//! leak), and SIGINT stops it with exit status 0. A lesson's
//! `tests/serve.rs` is one line:
//!
//! ```ignore
//! conformance::serve_tests!(env!("CARGO_BIN_EXE_sync_blocking"), sync_blocking::LESSON);
//! ```
//!
//! What a server may do depends on the facts in its table entry, never on
//! its name: a server that takes one connection at a time (or a fixed
//! pool) cannot answer a new client while its capacity is held by idle
//! ones, so for it the idle crowd is exactly its capacity, and the check is
//! that the waiting client is answered once the idle ones time out.

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use workload::serve::ServeVariant;
use workload::server::page_body;
use workload::Lesson;

/// A server (or a client read) that has not answered after this long has
/// hung: a test failure. No scenario's own timeout comes near it.
pub const HANG: Duration = Duration::from_secs(20);
/// The header timeout the servers are started with.
pub const HEADER_TIMEOUT: Duration = Duration::from_millis(500);
/// The page size the servers are started with (unless a scenario asks for
/// another with `--size`).
pub const SIZE: usize = 1256;
/// The idle crowd of a server that serves every connection at once.
pub const CROWD: usize = 1000;

/// One server under test: the lesson binary, running `serve`.
pub struct Served {
    child: Option<Child>,
    pub addr: SocketAddr,
    pub name: String,
    /// What the server wrote on stderr, for the failure messages.
    stderr: Arc<Mutex<String>>,
    /// Descriptors open in the server's processes after its first answer.
    baseline_fds: usize,
    /// Body size of its pages.
    size: usize,
}

impl Served {
    /// Start `bin serve --variant <server> --port 0` with the suite's
    /// header timeout, no think time, and `extra` flags (later flags win).
    pub fn start(bin: &str, server: &ServeVariant, extra: &[&str]) -> Served {
        let timeout = HEADER_TIMEOUT.as_millis().to_string();
        let size = SIZE.to_string();
        let mut args = vec!["serve", "--variant", server.name, "--port", "0"];
        args.extend(["--latency-ms", "0", "--header-timeout-ms", &timeout]);
        args.extend(["--size", &size]);
        args.extend(extra);
        let mut child = Command::new(bin)
            .args(&args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {bin}: {e}"));
        let stderr = Arc::new(Mutex::new(String::new()));
        let err_pipe = child.stderr.take().unwrap();
        let sink = stderr.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(err_pipe).lines().map_while(Result::ok) {
                let mut s = sink.lock().unwrap();
                if s.len() < 64 * 1024 {
                    s.push_str(&line);
                    s.push('\n');
                }
            }
        });
        let out_pipe = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut lines = BufReader::new(out_pipe).lines();
            let _ = tx.send(lines.next());
            // Keep reading so the server never blocks on a full pipe.
            for _ in lines {}
        });
        let name = format!("{} serve --variant {}", bin_name(bin), server.name);
        let line = match rx.recv_timeout(HANG) {
            Ok(Some(Ok(line))) => line,
            other => {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "{name} printed no address ({other:?}); stderr:\n{}",
                    stderr.lock().unwrap()
                );
            }
        };
        let addr = line
            .split_whitespace()
            .find_map(|w| w.strip_prefix("http://"))
            .and_then(|a| a.trim_end_matches(['/', ',', ')']).parse().ok())
            .unwrap_or_else(|| panic!("{name}: no http:// address in its first line: {line}"));
        let size = extra
            .iter()
            .rposition(|a| *a == "--size")
            .and_then(|i| extra.get(i + 1)?.parse().ok())
            .unwrap_or(SIZE);
        let mut served = Served {
            child: Some(child),
            addr,
            name,
            stderr,
            baseline_fds: 0,
            size,
        };
        // Warm up: whatever the runtime opens on its first connection
        // (an epoll descriptor, an eventfd) is part of the baseline.
        let mut c = served.connect();
        let r = c.get(1, true);
        served.check_page(&r, 1);
        drop(c);
        served.baseline_fds = served.settled_fds(None);
        served
    }

    pub fn pid(&self) -> Pid {
        Pid::from_raw(self.child.as_ref().unwrap().id() as i32)
    }

    pub fn connect(&self) -> Client {
        Client::connect(self.addr, &self.name)
    }

    /// `panic!` with the server's stderr attached.
    pub fn fail(&self, what: &str) -> ! {
        panic!(
            "{}: {what}\nits stderr:\n{}",
            self.name,
            self.stderr.lock().unwrap()
        )
    }

    /// Check that `r` is page `n`, whole.
    pub fn check_page(&self, r: &Response, n: usize) {
        if r.status != 200 {
            self.fail(&format!("page {n}: status {} ({})", r.status, r.head));
        }
        if r.body != page_body(n, self.size) {
            self.fail(&format!(
                "page {n}: the body is not page {n}'s ({} bytes, starts {:?})",
                r.body.len(),
                String::from_utf8_lossy(&r.body[..r.body.len().min(20)])
            ));
        }
    }

    /// The processes of the server: itself and its descendants.
    fn tree(&self) -> Vec<i32> {
        let mut all = vec![self.pid().as_raw()];
        let mut i = 0;
        while i < all.len() {
            let tasks = std::fs::read_dir(format!("/proc/{}/task", all[i]));
            for t in tasks.into_iter().flatten().flatten() {
                let children =
                    std::fs::read_to_string(t.path().join("children")).unwrap_or_default();
                all.extend(
                    children
                        .split_whitespace()
                        .filter_map(|p| p.parse::<i32>().ok()),
                );
            }
            i += 1;
        }
        all
    }

    /// Descriptors open in the server's processes.
    pub fn fds(&self) -> usize {
        self.tree()
            .iter()
            .filter_map(|p| std::fs::read_dir(format!("/proc/{p}/fd")).ok())
            .map(|d| d.count())
            .sum()
    }

    /// Every thread of the server, with the time it has spent runnable so
    /// far (on a CPU or waiting in a run queue for one: the kernel's
    /// schedstat) and how often it has gone to sleep of its own accord
    /// (voluntary context switches).
    pub fn threads(&self) -> std::collections::HashMap<(i32, u64), (Duration, u64)> {
        let mut out = std::collections::HashMap::new();
        for p in self.tree() {
            let Ok(tasks) = std::fs::read_dir(format!("/proc/{p}/task")) else {
                continue;
            };
            for t in tasks.flatten() {
                let tid: u64 = t.file_name().to_string_lossy().parse().unwrap_or(0);
                let runnable = std::fs::read_to_string(t.path().join("schedstat"))
                    .ok()
                    .map(|s| {
                        s.split_whitespace()
                            .take(2)
                            .filter_map(|f| f.parse::<u64>().ok())
                            .sum::<u64>()
                    });
                let sleeps = std::fs::read_to_string(t.path().join("status"))
                    .ok()
                    .and_then(|s| {
                        s.lines()
                            .find_map(|l| l.strip_prefix("voluntary_ctxt_switches:"))
                            .and_then(|v| v.trim().parse::<u64>().ok())
                    });
                if let (Some(r), Some(v)) = (runnable, sleeps) {
                    out.insert((p, tid), (Duration::from_nanos(r), v));
                }
            }
        }
        out
    }

    /// Wait until the descriptor count stops falling (to `target` when
    /// given), at most [`HANG`]; returns the last count.
    fn settled_fds(&self, target: Option<usize>) -> usize {
        let start = Instant::now();
        let mut last = self.fds();
        let mut steady = 0;
        while start.elapsed() < HANG {
            std::thread::sleep(Duration::from_millis(50));
            let now = self.fds();
            if Some(now) == target {
                return now;
            }
            steady = if now == last { steady + 1 } else { 0 };
            last = now;
            if target.is_none() && steady >= 4 {
                break;
            }
        }
        last
    }

    /// The end of every scenario: the server is still serving, its
    /// descriptors are back to the baseline, and SIGINT stops it cleanly.
    pub fn finish(mut self) {
        let mut c = self.connect();
        let r = c.get(2, false);
        self.check_page(&r, 2);
        drop(c);
        let fds = self.settled_fds(Some(self.baseline_fds));
        if fds != self.baseline_fds {
            self.fail(&format!(
                "{fds} descriptors open after the scenario, {} after its first answer: a leak",
                self.baseline_fds
            ));
        }
        let status = self.interrupt();
        if !status.success() {
            self.fail(&format!("SIGINT ended it with {status}, not 0"));
        }
    }

    /// Send SIGINT and wait for the exit (a hang after [`HANG`]).
    pub fn interrupt(&mut self) -> ExitStatus {
        let _ = kill(self.pid(), Signal::SIGINT);
        let start = Instant::now();
        let child = self.child.as_mut().unwrap();
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                self.child = None;
                return status;
            }
            if start.elapsed() > HANG {
                let _ = child.kill();
                self.fail("still running long after SIGINT");
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        if self.child.is_some() {
            // A failed scenario: take the whole tree down.
            let tree = self.tree();
            let mut child = self.child.take().unwrap();
            for pid in tree.into_iter().rev() {
                let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn bin_name(bin: &str) -> &str {
    bin.rsplit('/').next().unwrap_or(bin)
}

/// One response as read by [`Client`].
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub head: String,
    pub body: Vec<u8>,
    /// The server said `Connection: close`.
    pub close: bool,
}

/// A blocking HTTP/1.1 client on one connection, with a hang limit on
/// every read and write.
pub struct Client {
    pub stream: TcpStream,
    buf: Vec<u8>,
    name: String,
}

impl Client {
    pub fn connect(addr: SocketAddr, name: &str) -> Client {
        let stream = TcpStream::connect_timeout(&addr, HANG)
            .unwrap_or_else(|e| panic!("{name}: cannot connect to {addr}: {e}"));
        stream.set_read_timeout(Some(HANG)).unwrap();
        stream.set_write_timeout(Some(HANG)).unwrap();
        let _ = stream.set_nodelay(true);
        Client {
            stream,
            buf: Vec::new(),
            name: name.to_string(),
        }
    }

    pub fn send(&mut self, bytes: &[u8]) {
        self.stream
            .write_all(bytes)
            .unwrap_or_else(|e| panic!("{}: cannot send: {e}", self.name));
    }

    /// Ask for page `n` and read the answer.
    pub fn get(&mut self, n: usize, keep_alive: bool) -> Response {
        self.send(&request(n, keep_alive));
        self.response()
            .unwrap_or_else(|e| panic!("{}: no answer to GET /{n}: {e}", self.name))
    }

    /// Read one whole response (head and Content-Length body).
    pub fn response(&mut self) -> Result<Response, String> {
        let mut chunk = [0u8; 16 * 1024];
        loop {
            let mut headers = [httparse::EMPTY_HEADER; 32];
            let mut parsed = httparse::Response::new(&mut headers);
            match parsed.parse(&self.buf) {
                Ok(httparse::Status::Complete(head_len)) => {
                    let status = parsed.code.unwrap_or(0);
                    let header = |name: &str| {
                        parsed
                            .headers
                            .iter()
                            .find(|h| h.name.eq_ignore_ascii_case(name))
                            .map(|h| String::from_utf8_lossy(h.value).to_string())
                    };
                    let length: usize = header("content-length")
                        .and_then(|v| v.trim().parse().ok())
                        .ok_or("a response without Content-Length")?;
                    let close = header("connection")
                        .is_some_and(|v| v.to_ascii_lowercase().contains("close"));
                    let head = String::from_utf8_lossy(&self.buf[..head_len]).to_string();
                    while self.buf.len() < head_len + length {
                        let n = self.read(&mut chunk)?;
                        if n == 0 {
                            return Err(format!(
                                "closed after {} of {length} body bytes",
                                self.buf.len() - head_len
                            ));
                        }
                    }
                    let body = self.buf[head_len..head_len + length].to_vec();
                    self.buf.drain(..head_len + length);
                    return Ok(Response {
                        status,
                        head,
                        body,
                        close,
                    });
                }
                Ok(httparse::Status::Partial) => {
                    if self.read(&mut chunk)? == 0 {
                        return Err(format!(
                            "closed before a whole response head ({} bytes)",
                            self.buf.len()
                        ));
                    }
                }
                Err(e) => return Err(format!("not an HTTP response: {e}")),
            }
        }
    }

    fn read(&mut self, chunk: &mut [u8]) -> Result<usize, String> {
        let n = loop {
            // A signal may cut a blocking read short (EINTR): read again.
            match self.stream.read(chunk) {
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                other => break other.map_err(|e| format!("read: {e}"))?,
            }
        };
        self.buf.extend_from_slice(&chunk[..n]);
        Ok(n)
    }

    /// Whether the server has closed the connection: end of file or a
    /// reset, with nothing (more) to read.
    pub fn closed(&mut self) -> bool {
        let mut chunk = [0u8; 4096];
        loop {
            match self.stream.read(&mut chunk) {
                Ok(0) => return true,
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return true,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(_) => return false,
            }
        }
    }
}

/// `GET /n HTTP/1.1`.
pub fn request(n: usize, keep_alive: bool) -> Vec<u8> {
    let connection = if keep_alive {
        ""
    } else {
        "Connection: close\r\n"
    };
    format!("GET /{n} HTTP/1.1\r\nHost: test\r\n{connection}\r\n").into_bytes()
}

/// A scenario: one kind of client against one server of the lesson.
pub type Scenario = fn(bin: &str, server: &ServeVariant);

/// Several pages on one kept-alive connection, then the lessons' own
/// HTTP/1.0 request (answered, then closed), then `Connection: close`.
pub fn keep_alive_pages(bin: &str, server: &ServeVariant) {
    let s = Served::start(bin, server, &[]);
    let mut c = s.connect();
    for n in [0, 7, 3, 1000, 7] {
        let r = c.get(n, true);
        s.check_page(&r, n);
        if r.close {
            s.fail("closed a kept-alive connection after a response");
        }
    }
    drop(c);
    let mut c = s.connect();
    c.send(&workload::http::request("test", "/5"));
    let mut reader = workload::ResponseReader::new(1 << 20).keep_body();
    let mut chunk = [0u8; 4096];
    loop {
        let n = c.stream.read(&mut chunk).unwrap_or(0);
        match reader.feed(&chunk[..n]) {
            Ok(p) if p.is_done() => break,
            Ok(_) => {}
            Err(e) => s.fail(&format!("the lessons' HTTP/1.0 request: {e}")),
        }
        if n == 0 {
            break;
        }
    }
    match reader.finish() {
        Ok(body) if body.body.as_deref() == Some(&page_body(5, s.size)[..]) => {}
        other => s.fail(&format!("the lessons' HTTP/1.0 request got {other:?}")),
    }
    let mut c = s.connect();
    let r = c.get(4, false);
    s.check_page(&r, 4);
    if !r.close || !c.closed() {
        s.fail("Connection: close was not honoured");
    }
    s.finish();
}

/// Twenty clients at once, each asking its own pages on its own
/// connection: every one gets its own.
pub fn concurrent_clients(bin: &str, server: &ServeVariant) {
    let s = Served::start(bin, server, &[]);
    std::thread::scope(|scope| {
        for i in 0..20 {
            let s = &s;
            scope.spawn(move || {
                let mut c = s.connect();
                for k in 0..3 {
                    let n = 100 + i * 3 + k;
                    let r = c.get(n, k < 2);
                    s.check_page(&r, n);
                }
            });
        }
    });
    s.finish();
}

/// A request head sent a byte at a time, slower than the header timeout:
/// the server closes the connection (a 408 first is allowed).
pub fn slow_head(bin: &str, server: &ServeVariant) {
    let s = Served::start(bin, server, &[]);
    let mut c = s.connect();
    let head = request(1, true);
    let step = HEADER_TIMEOUT / 4;
    let started = Instant::now();
    for b in &head {
        if c.stream.write_all(std::slice::from_ref(b)).is_err() {
            break;
        }
        std::thread::sleep(step);
    }
    match c.response() {
        Ok(r) if r.status == 408 => {}
        Ok(r) => s.fail(&format!(
            "a head trickled over {:?} was answered {} instead of closed",
            started.elapsed(),
            r.status
        )),
        Err(_) => {}
    }
    if !c.closed() {
        s.fail("a trickled head was not closed");
    }
    s.finish();
}

/// A head larger than any server takes: 431, then closed.
pub fn oversized_head(bin: &str, server: &ServeVariant) {
    let s = Served::start(bin, server, &[]);
    let mut c = s.connect();
    let filler = "a".repeat(2 * workload::serve::MAX_REQUEST_HEAD);
    let head = format!("GET /1 HTTP/1.1\r\nHost: test\r\nX-Filler: {filler}\r\n\r\n");
    // The server may answer and close before it has read it all.
    let _ = c.stream.write_all(head.as_bytes());
    match c.response() {
        Ok(r) if r.status == 431 => {}
        other => s.fail(&format!("an oversized head got {other:?}, not 431")),
    }
    if !c.closed() {
        s.fail("the connection stayed open after 431");
    }
    s.finish();
}

/// Bytes that are not HTTP: 400, then closed.
pub fn garbage(bin: &str, server: &ServeVariant) {
    let s = Served::start(bin, server, &[]);
    let mut c = s.connect();
    c.send(b"\x16\x03\x01\x02\x00 this is not HTTP\r\n\r\n");
    match c.response() {
        Ok(r) if r.status == 400 => {}
        other => s.fail(&format!("garbage got {other:?}, not 400")),
    }
    if !c.closed() {
        s.fail("the connection stayed open after 400");
    }
    s.finish();
}

/// Two requests in one write: both answered, in order.
pub fn pipelined(bin: &str, server: &ServeVariant) {
    let s = Served::start(bin, server, &[]);
    let mut c = s.connect();
    let mut two = request(11, true);
    two.extend_from_slice(&request(12, true));
    c.send(&two);
    for n in [11, 12] {
        let r = c
            .response()
            .unwrap_or_else(|e| s.fail(&format!("pipelined GET /{n}: {e}")));
        s.check_page(&r, n);
    }
    drop(c);
    s.finish();
}

/// Clients that ask for a large page and leave after its first bytes,
/// some with a reset: the server carries on.
pub fn client_leaves_mid_response(bin: &str, server: &ServeVariant) {
    let big = (4 << 20).to_string();
    let s = Served::start(bin, server, &["--size", &big]);
    for i in 0..6 {
        let mut c = s.connect();
        c.send(&request(3, true));
        let mut chunk = [0u8; 1000];
        let _ = c.stream.read(&mut chunk);
        if i % 2 == 0 {
            let _ = socket2::SockRef::from(&c.stream).set_linger(Some(Duration::ZERO));
        }
    }
    s.finish();
}

/// Clients that ask for a page larger than the kernel's buffers hold and
/// then read nothing, their connections open: the response stops moving
/// and the server's writes go nowhere. The server gives such a client the
/// same patience as one that does not send (the header timeout), then
/// closes its connection; meanwhile, and after, it answers others. A
/// blocking write with no timeout waits for ever, and a server with a
/// fixed capacity is then stopped by as many clients as it has workers.
pub fn stalled_reader(bin: &str, server: &ServeVariant) {
    // 16 MiB: a socket that is never read keeps a window of about 64 KiB,
    // and loopback's send buffer grows to at most 4 MiB.
    let big = (16 << 20).to_string();
    let s = Served::start(bin, server, &["--size", &big, "--workers", "2"]);
    let stalled_count = server.capacity.limit(Some(2)).unwrap_or(2);
    let mut stalled: Vec<Client> = (0..stalled_count)
        .map(|_| {
            let mut c = s.connect();
            c.send(&request(3, true));
            c
        })
        .collect();
    // Served while the stalled ones are held, or (a server with a fixed
    // capacity) once it has given up on them.
    let mut c = s.connect();
    let r = c.get(9, false);
    s.check_page(&r, 9);
    drop(c);
    // Well past the header timeout: the server has given up on them by
    // now. Reading gets what the kernels had buffered, then the end.
    std::thread::sleep(HEADER_TIMEOUT * 4);
    for reader in &mut stalled {
        match reader.response() {
            Err(e) if e.starts_with("closed") => {}
            Ok(_) => s.fail(&format!(
                "a client that read nothing for {:?} still got the whole page: \
                 the server waited on it",
                HEADER_TIMEOUT * 4
            )),
            Err(e) => s.fail(&format!("a stalled client's connection: {e}")),
        }
    }
    drop(stalled);
    s.finish();
}

/// A crowd of connections that never say anything. A server that serves
/// every connection at once keeps answering others while 1,000 idle ones
/// are open; one with a fixed capacity answers the next client once the
/// idle ones have hit the header timeout, and closes them.
pub fn idle_crowd(bin: &str, server: &ServeVariant) {
    match server.capacity.limit(None) {
        None => {
            // The idle ones must outlast the check.
            let s = Served::start(bin, server, &["--header-timeout-ms", "15000"]);
            // Below a descriptor ceiling (select's), or the crowd itself
            // would be refused.
            let crowd_size = server
                .fd_ceiling
                .map_or(CROWD, |c| CROWD.min(c.saturating_sub(100)));
            let crowd: Vec<TcpStream> = (0..crowd_size)
                .map(|_| {
                    TcpStream::connect(s.addr).unwrap_or_else(|e| s.fail(&format!("connect: {e}")))
                })
                .collect();
            std::thread::sleep(Duration::from_millis(200));
            let mut c = s.connect();
            let r = c.get(9, true);
            s.check_page(&r, 9);
            drop(c);
            drop(crowd);
            s.finish();
        }
        Some(capacity) => {
            let s = Served::start(bin, server, &[]);
            let mut crowd: Vec<Client> = (0..capacity.min(200)).map(|_| s.connect()).collect();
            std::thread::sleep(Duration::from_millis(100));
            let mut c = s.connect();
            let r = c.get(9, true);
            s.check_page(&r, 9);
            for idle in &mut crowd {
                if !idle.closed() {
                    s.fail("an idle connection was never closed");
                }
            }
            drop(c);
            s.finish();
        }
    }
}

/// More clients than the server has descriptors: `accept` fails with
/// EMFILE. The server must not spin on it, must serve again once the
/// clients leave, and must have leaked nothing.
pub fn out_of_descriptors(bin: &str, server: &ServeVariant) {
    let s = Served::start(
        bin,
        server,
        &["--max-fds", "64", "--header-timeout-ms", "15000"],
    );
    let crowd: Vec<TcpStream> = (0..100)
        .map(|_| TcpStream::connect(s.addr).unwrap_or_else(|e| s.fail(&format!("connect: {e}"))))
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    let (before, wall) = (s.threads(), Instant::now());
    std::thread::sleep(Duration::from_secs(1));
    let wall = wall.elapsed();
    // A loop that retries accept at once never sleeps, and is runnable the
    // whole second however busy the machine is (its CPU time alone would
    // shrink with the load). A thread that backs off, or waits for its
    // connection, sleeps: it has voluntary switches.
    for (task, (runnable, sleeps)) in s.threads() {
        let Some((runnable0, sleeps0)) = before.get(&task) else {
            continue;
        };
        let runnable = runnable.saturating_sub(*runnable0);
        if runnable > wall / 2 && sleeps.saturating_sub(*sleeps0) <= 2 {
            s.fail(&format!(
                "thread {} was runnable {runnable:?} of {wall:?} without ever sleeping \
                 while out of descriptors: accept spins",
                task.1
            ));
        }
    }
    drop(crowd);
    s.finish();
}

/// SIGINT while a request waits out its think time: that response is
/// finished, then the process exits 0.
pub fn ctrl_c_finishes_in_flight(bin: &str, server: &ServeVariant) {
    let mut s = Served::start(bin, server, &["--latency-ms", "400"]);
    let mut c = s.connect();
    c.send(&request(8, true));
    std::thread::sleep(Duration::from_millis(150));
    let status = s.interrupt_async();
    let r = c
        .response()
        .unwrap_or_else(|e| s.fail(&format!("the request in flight at SIGINT was dropped: {e}")));
    s.check_page(&r, 8);
    drop(c);
    if !status.join().unwrap() {
        s.fail("SIGINT did not end it with status 0");
    }
}

impl Served {
    /// SIGINT now; the returned thread waits for the exit.
    fn interrupt_async(&mut self) -> std::thread::JoinHandle<bool> {
        let _ = kill(self.pid(), Signal::SIGINT);
        let mut child = self.child.take().unwrap();
        let tree_root = child.id();
        self.child = None;
        std::thread::spawn(move || {
            let start = Instant::now();
            loop {
                if let Ok(Some(status)) = child.try_wait() {
                    return status.success();
                }
                if start.elapsed() > HANG {
                    let _ = kill(Pid::from_raw(tree_root as i32), Signal::SIGKILL);
                    let _ = child.wait();
                    return false;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
        })
    }
}

/// Run `scenario` against every server of `lesson` that can run here.
pub fn each_server(bin: &str, lesson: &Lesson, scenario: Scenario) {
    assert!(
        !lesson.servers.is_empty(),
        "{} has no server to test",
        lesson.name
    );
    for server in lesson.servers {
        if let Err(why) = (server.available)() {
            eprintln!("skipped {}/{}: {why}", lesson.name, server.name);
            continue;
        }
        scenario(bin, server);
    }
}

#[doc(hidden)]
#[macro_export]
macro_rules! __with_serve_scenarios {
    ($macro:ident! ($($args:tt)*)) => {
        $crate::$macro!($($args)*
            keep_alive_pages concurrent_clients slow_head oversized_head garbage
            pipelined client_leaves_mid_response stalled_reader idle_crowd
            out_of_descriptors ctrl_c_finishes_in_flight);
    };
}

/// One `#[test]` per hostile-client scenario, each run against every server
/// of the lesson, started from the lesson's binary `$bin`.
#[macro_export]
macro_rules! serve_tests {
    ($bin:expr, $lesson:expr) => {
        $crate::__with_serve_scenarios!(__serve_test_fns!($bin, $lesson;));
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __serve_test_fns {
    ($bin:expr, $lesson:expr; $($name:ident)*) => {
        $(
            #[test]
            fn $name() {
                $crate::serving::each_server($bin, &$lesson, $crate::serving::$name);
            }
        )*
    };
}
