//! The `page-server` binary: prints its URL, serves, stops cleanly on Ctrl-C.

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Command, Stdio};

#[test]
fn serves_until_sigint_then_exits_cleanly() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_page-server"))
        .args(["--port", "0", "--latency-ms", "1", "--size", "100"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line.trim();
    assert!(url.starts_with("http://127.0.0.1:"), "{url}");

    let plan = workload::Plan::new(url, 3).unwrap();
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
