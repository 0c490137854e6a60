//! The `page-server` binary: prints its URL, serves, stops cleanly on Ctrl-C.

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[test]
fn serves_until_sigint_then_exits_cleanly() {
    let (mut child, url) = page_server(&["--latency-ms", "1", "--size", "100"], None);

    let plan = workload::Plan::new(&url, 3).unwrap();
    let page = plan.page(2);
    let mut s = std::net::TcpStream::connect(page.addr).unwrap();
    s.write_all(&page.request()).unwrap();
    let mut response = Vec::new();
    s.read_to_end(&mut response).unwrap();
    assert!(response.ends_with(&workload::server::page_body(2, 100)));

    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGINT,
    )
    .unwrap();
    let status = child.wait().unwrap();
    assert!(status.success(), "{status:?}");
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    assert!(stderr.contains("stopped after serving 1 pages"), "{stderr}");
}

#[test]
fn a_bad_flag_exits_2() {
    let out = Command::new(env!("CARGO_BIN_EXE_page-server"))
        .arg("--latency-ms=soon")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

/// Start `page-server` on a free port with `args`, under `ulimit -n
/// fd_limit` if given (the child's limit, never this test binary's), and
/// return it with the URL it printed.
fn page_server(args: &[&str], fd_limit: Option<u32>) -> (std::process::Child, String) {
    let bin = env!("CARGO_BIN_EXE_page-server");
    let mut command = match fd_limit {
        Some(n) => {
            let mut c = Command::new("sh");
            c.arg("-c")
                .arg(format!("ulimit -n {n} && exec \"$0\" \"$@\""))
                .arg(bin);
            c
        }
        None => Command::new(bin),
    };
    let mut child = command
        .args(["--port", "0"])
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line.trim().to_string();
    assert!(url.starts_with("http://127.0.0.1:"), "{url}");
    (child, url)
}

/// SIGINT, then everything the server wrote on stderr.
fn stop(mut child: std::process::Child) -> String {
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGINT,
    )
    .unwrap();
    let status = child.wait().unwrap();
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    assert!(status.success(), "{status:?}: {stderr}");
    stderr
}

/// True once the server has closed `s` (EOF or reset), false if it is
/// still open when the read times out.
fn closed(s: &mut std::net::TcpStream) -> bool {
    match s.read_to_end(&mut Vec::new()) {
        Ok(_) => true,
        Err(e) => !matches!(
            e.kind(),
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
        ),
    }
}

#[test]
fn a_request_head_that_trickles_in_is_closed_at_the_header_timeout() {
    let (child, url) = page_server(&["--header-timeout-ms", "300"], None);
    let addr = workload::Plan::new(&url, 1).unwrap().page(0).addr;
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
    // One byte every 50 ms of a head that never ends: each byte is progress,
    // but the timeout is on the whole head. The bound is a hang check only.
    let head = b"GET / HTTP/1.0\r\nX-Slow: "
        .iter()
        .chain(std::iter::repeat(&b'a'));
    let started = Instant::now();
    let mut was_closed = false;
    for &byte in head {
        if s.write_all(&[byte]).is_err() || closed(&mut s) {
            was_closed = true;
            break;
        }
        if started.elapsed() > Duration::from_secs(10) {
            break;
        }
    }
    assert!(was_closed, "still open after {:?}", started.elapsed());
    let stderr = stop(child);
    assert!(stderr.contains("stopped after serving 0 pages"), "{stderr}");
}

#[test]
fn at_the_open_file_limit_it_says_so_and_keeps_serving() {
    // About a dozen descriptors are the server's own (stdio, listeners,
    // epoll, wakers), so 32 leaves room for about twenty connections; the
    // 60 clients below hold theirs for the latency, and the rest wait in
    // the backlog while `accept` fails with EMFILE.
    let (child, url) = page_server(&["--latency-ms", "500", "--size", "10"], Some(32));
    let plan = workload::Plan::new(&url, 60).unwrap();
    let clients: Vec<std::net::TcpStream> = plan
        .all_pages()
        .map(|page| {
            let mut s = std::net::TcpStream::connect(page.addr).unwrap();
            s.write_all(&page.request()).unwrap();
            s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
            s
        })
        .collect();
    for (i, mut s) in clients.into_iter().enumerate() {
        let mut response = Vec::new();
        s.read_to_end(&mut response)
            .unwrap_or_else(|e| panic!("page {i}: {e}"));
        assert!(
            response.ends_with(&workload::server::page_body(i, 10)),
            "page {i}: {}",
            String::from_utf8_lossy(&response)
        );
    }
    let stderr = stop(child);
    assert!(
        stderr.contains("page-server: accept failed: too many open files"),
        "{stderr}"
    );
    assert!(stderr.contains("raise ulimit -n (now 32)"), "{stderr}");
    assert!(
        stderr.contains("stopped after serving 60 pages"),
        "{stderr}"
    );
}
