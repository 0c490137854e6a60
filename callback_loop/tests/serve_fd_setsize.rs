//! select's FD_SETSIZE on the serving side: a connection accepted with a
//! descriptor numbered 1024 or above cannot be put in select's bitmaps, so
//! the server closes it (and says why on stderr) instead of writing past
//! them, and goes on serving the others.
//!
//! Alone in its own test binary (= its own process): the test fills the
//! process's descriptor table, shared by every thread.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::fd::{AsRawFd, OwnedFd};
use std::time::Duration;

use callback_loop::FD_SETSIZE;
use workload::serve::{ServeConfig, Serving};
use workload::server::page_body;

fn get(addr: std::net::SocketAddr, page: usize) -> Vec<u8> {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    // The server may have closed it already: then the write fails.
    let _ = write!(s, "GET /{page} HTTP/1.1\r\nConnection: close\r\n\r\n");
    let mut all = Vec::new();
    // EOF, or a reset from a connection closed with the request unread.
    let _ = s.read_to_end(&mut all);
    all
}

#[test]
fn select_closes_connections_past_fd_setsize_and_serves_the_others() {
    let limit = workload::raise_fd_limit();
    assert!(
        limit > (FD_SETSIZE + 64) as u64,
        "needs an open-file limit above {FD_SETSIZE}, have {limit}"
    );
    let serving = Serving::bind_local(ServeConfig {
        size: 100,
        ..ServeConfig::default()
    })
    .unwrap();
    let addr = serving.listener.local_addr().unwrap();
    let shutdown = serving.shutdown.clone();
    let server = std::thread::spawn(move || callback_loop::serve::serve_select(serving));
    // Served while numbers are free.
    assert!(get(addr, 1).ends_with(&page_body(1, 100)));

    // Every free number below FD_SETSIZE taken: from here on, both ends of
    // a new connection are numbered 1024 or more.
    let null = std::fs::File::open("/dev/null").unwrap();
    let mut filler: Vec<OwnedFd> = Vec::new();
    loop {
        let fd = OwnedFd::from(null.try_clone().unwrap());
        if fd.as_raw_fd() as usize >= FD_SETSIZE {
            break;
        }
        filler.push(fd);
    }
    for page in 0..3 {
        let answer = get(addr, page);
        assert!(
            answer.is_empty(),
            "closed without an answer, got {answer:?}"
        );
    }

    // Numbers free again: served again.
    drop(filler);
    assert!(get(addr, 2).ends_with(&page_body(2, 100)));
    shutdown.trigger();
    server.join().unwrap().unwrap();
}
