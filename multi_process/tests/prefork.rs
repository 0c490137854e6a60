//! The prefork server's own promises, beyond the hostile-client suite: W
//! workers, each a child of the server; a worker killed with SIGKILL is
//! replaced by a new process and the server goes on serving; Ctrl-C stops
//! the workers too (the response in flight completes), and none outlives
//! the server.

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Processes whose parent is `parent`.
fn children_of(parent: u32) -> Vec<u32> {
    let mut kids = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        let after = &stat[stat.rfind(')').map_or(0, |i| i + 1)..];
        if after.split_whitespace().nth(1) == Some(parent.to_string().as_str()) {
            kids.push(pid);
        }
    }
    kids.sort();
    kids
}

fn wait_for<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let until = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < until, "gave up waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// One `GET /n` on a new connection, closed after the response.
fn get(port: u16, n: usize) -> String {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    write!(s, "GET /{n} HTTP/1.1\r\nConnection: close\r\n\r\n").unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

fn start(latency_ms: &str) -> (Child, u16) {
    let mut server = Command::new(env!("CARGO_BIN_EXE_multi_process"))
        .args([
            "serve",
            "--variant",
            "prefork",
            "--port",
            "0",
            "--workers",
            "3",
        ])
        .args(["--latency-ms", latency_ms])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(server.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let port = line
        .split_whitespace()
        .find_map(|w| w.strip_prefix("http://127.0.0.1:"))
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("no address in {line}"));
    (server, port)
}

#[test]
fn a_killed_worker_is_replaced_and_ctrl_c_stops_them_all() {
    let (mut server, port) = start("300");
    let pid = server.id();
    let workers = wait_for("three workers", || {
        let kids = children_of(pid);
        (kids.len() == 3).then_some(kids)
    });
    assert!(get(port, 1).starts_with("HTTP/1.1 200 OK"));

    kill(Pid::from_raw(workers[0] as i32), Signal::SIGKILL).unwrap();
    let now = wait_for("a worker in place of the killed one", || {
        let kids = children_of(pid);
        (kids.len() == 3 && !kids.contains(&workers[0])).then_some(kids)
    });
    assert!(now.contains(&workers[1]) && now.contains(&workers[2]));
    // Four clients at once, three workers: every one is answered.
    let clients: Vec<_> = (0..4)
        .map(|n| std::thread::spawn(move || get(port, n)))
        .collect();
    for c in clients {
        assert!(c.join().unwrap().starts_with("HTTP/1.1 200 OK"));
    }

    // Ctrl-C while a request is in its think time: its response comes,
    // then the server and every worker are gone, the server with status 0.
    let in_flight = std::thread::spawn(move || get(port, 7));
    std::thread::sleep(Duration::from_millis(150));
    kill(Pid::from_raw(pid as i32), Signal::SIGINT).unwrap();
    assert!(in_flight.join().unwrap().starts_with("HTTP/1.1 200 OK"));
    let status = wait_for("the server to exit", || server.try_wait().unwrap());
    assert_eq!(status.code(), Some(0));
    for worker in now {
        assert!(
            !std::path::Path::new(&format!("/proc/{worker}")).exists(),
            "worker {worker} outlived the server"
        );
    }
}
