//! What the `uring` variant promises beyond the shared suite: more pages
//! than ring entries are queued, not failed; a page past its deadline is
//! cancelled and every cancelled operation completes before the run
//! returns; a ring that cannot be set up fails every page with the reason.
//! Where io_uring cannot be used at all, each test says why and passes.
//!
//! Also: the user data of a completion names its page and step, and
//! deadlines are set on the kernel's clock.

use super::*;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, TcpListener, TcpStream};

macro_rules! skip_without_io_uring {
    () => {
        if let Err(why) = crate::probe() {
            eprintln!("skipped: {why}");
            return;
        }
    };
}

/// The body of page `i`: its own bytes, so a mix-up between pages or
/// buffers shows in the CRC.
fn body(i: usize, len: usize) -> Vec<u8> {
    format!("page {i};").bytes().cycle().take(len).collect()
}

/// A server on 127.0.0.1 that answers each request with its page's body,
/// one connection after another, for `connections` connections.
fn serve(connections: usize, len: usize) -> String {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for stream in listener.incoming().take(connections) {
            let Ok(mut stream) = stream else { continue };
            let page = read_page_index(&mut stream);
            let body = body(page, len);
            let head = format!("HTTP/1.0 200 OK\r\nContent-Length: {}\r\n\r\n", body.len());
            let _ = stream.write_all(head.as_bytes());
            let _ = stream.write_all(&body);
        }
    });
    url
}

/// The page index from `GET /i HTTP/1.0` (`/` is page 0).
fn read_page_index(stream: &mut TcpStream) -> usize {
    let mut head = Vec::new();
    let mut buf = [0u8; 512];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
    }
    let head = String::from_utf8_lossy(&head);
    let path = head.split_whitespace().nth(1).unwrap_or("/");
    path.trim_start_matches('/').parse().unwrap_or(0)
}

#[test]
fn more_pages_than_ring_entries_are_queued_not_failed() {
    skip_without_io_uring!();
    const PAGES: usize = 100;
    const LEN: usize = 1500;
    let plan = Plan::new(&serve(PAGES, LEN), PAGES).unwrap();
    // 8 entries for 100 pages (about a thousand operations), and 2 receive
    // buffers smaller than a page: operations wait for queue room, recvs
    // for a free buffer, and every page still arrives whole.
    let size = RingSize {
        entries: 8,
        buffers: 2,
        buffer_size: 512,
    };
    let (traces, stats) = fetch_with(&plan, size);
    assert_eq!(traces.len(), PAGES);
    for t in &traces {
        assert!(t.is_ok(), "page {}: {:?}", t.page, t.error);
        assert_eq!(t.bytes, Some(LEN as u64), "page {}", t.page);
        assert_eq!(
            t.crc32,
            Some(crc32fast::hash(&body(t.page, LEN))),
            "page {}",
            t.page
        );
    }
    assert!(stats.full > 0, "the queue never filled: {stats:?}");
    // The answers pile up in the sockets while the loop is busy, so recvs
    // complete several at a time and find the two buffers taken: those
    // waited for a buffer, and their pages still arrived whole (above).
    assert!(stats.buffer_waits > 0, "the pool never ran dry: {stats:?}");
    assert_eq!(
        stats.submitted, stats.reaped,
        "every operation completed: {stats:?}"
    );
    assert!(
        stats.submitted > stats.enters,
        "several entries per io_uring_enter: {stats:?}"
    );
}

#[test]
fn a_page_past_its_deadline_is_cancelled_and_its_operations_complete() {
    skip_without_io_uring!();
    const PAGES: usize = 20;
    // Accepts and reads, never answers: every recv waits until the linked
    // timeout cancels it.
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for mut stream in listener.incoming().take(PAGES).flatten() {
            read_page_index(&mut stream);
            held.push(stream);
        }
        std::thread::sleep(Duration::from_secs(5));
    });
    let mut plan = Plan::new(&url, PAGES).unwrap();
    plan.timeout = Duration::from_millis(200);
    let size = RingSize {
        entries: 8,
        ..RingSize::default()
    };
    let (traces, stats) = fetch_with(&plan, size);
    assert_eq!(traces.len(), PAGES);
    for t in &traces {
        assert_eq!(
            t.error_kind(),
            Some(ErrorKind::Timeout),
            "page {}: {:?}",
            t.page,
            t.error
        );
        assert!(t.connected_ms.is_some(), "page {} connected first", t.page);
    }
    // The run returned only after the last cancelled recv (and its close)
    // had completed: nothing was left in the kernel to write into freed
    // memory.
    assert_eq!(stats.submitted, stats.reaped, "{stats:?}");
}

#[test]
fn a_ring_that_cannot_be_set_up_fails_every_page_with_the_reason() {
    let plan = Plan::new("http://127.0.0.1:9", 3).unwrap();
    // One entry: an operation and its linked timeout would never fit in
    // the submission queue together. A pool of three buffers: the buffer
    // ring needs a power of two.
    for size in [
        RingSize {
            entries: 1,
            ..RingSize::default()
        },
        RingSize {
            buffers: 3,
            ..RingSize::default()
        },
    ] {
        let (traces, stats) = fetch_with(&plan, size);
        assert_eq!(traces.len(), 3);
        for t in &traces {
            assert_eq!(t.error_kind(), Some(ErrorKind::Resource), "{size:?}: {t:?}");
            let error = t
                .error
                .as_ref()
                .map(|e| e.detail.as_str())
                .unwrap_or_default();
            assert!(error.contains("cannot set up an io_uring"), "{error}");
        }
        assert_eq!(stats.enters, 0);
    }
}

#[test]
fn the_probe_agrees_with_the_ring() {
    // Where the probe says yes, a default ring can be set up too; where
    // it says no, its reason is a sentence, not an empty string.
    match crate::probe() {
        Ok(()) => assert!(Ring::new(RingSize::default()).is_ok()),
        Err(why) => assert!(why.len() > 10, "{why}"),
    }
}

#[test]
fn user_data_names_page_and_step() {
    for step in [
        Step::Socket,
        Step::Connect,
        Step::Send,
        Step::Recv,
        Step::Timeout,
        Step::Close,
    ] {
        for page in [0, 1, 255, 256, 999_999] {
            assert_eq!(Step::of(step.user_data(page)), (page, Some(step)));
        }
    }
    assert_eq!(Step::of(7 << 8), (7, None));
}

#[test]
fn the_kernel_deadline_is_on_the_monotonic_clock() {
    let deadline = Deadline::after(Duration::from_secs(5));
    let at = kernel_time(&deadline);
    let now = nix::time::clock_gettime(nix::time::ClockId::CLOCK_MONOTONIC).unwrap();
    let now = Duration::new(now.tv_sec() as u64, now.tv_nsec() as u32);
    assert!(
        at > now && at <= now + Duration::from_secs(5),
        "{at:?} vs {now:?}"
    );
}
