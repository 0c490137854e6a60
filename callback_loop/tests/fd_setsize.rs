//! select's FD_SETSIZE in a whole run, without a thousand real pages:
//! the test first fills the descriptor table with copies of /dev/null, so
//! that only a few numbers below FD_SETSIZE are free when the run starts.
//! The pages that get one of them complete; the pages whose socket is
//! numbered FD_SETSIZE or more fail as `resource`, named, and nothing else
//! goes wrong. poll and epoll, in the same crowded table, fetch every page.
//!
//! Alone in its own test binary (= its own process): the descriptor table
//! is shared by every thread of a process, so no other test may run
//! beside it.

use callback_loop::{FD_SETSIZE, LESSON};
use std::os::fd::{AsRawFd, OwnedFd};
use std::time::Duration;
use workload::{ErrorKind, Plan, Server, ServerConfig};

/// Free numbers left below FD_SETSIZE when the run starts.
const FREE_BELOW: usize = 8;
const PAGES: usize = 24;

#[test]
fn select_fails_only_the_pages_past_fd_setsize() {
    let limit = workload::raise_fd_limit();
    assert!(
        limit > (FD_SETSIZE + 4 * PAGES) as u64,
        "needs an open-file limit above {FD_SETSIZE}, have {limit}"
    );
    let server = Server::start(ServerConfig {
        latency: Duration::from_millis(20),
        ..ServerConfig::default()
    })
    .expect("page server");

    // Occupy every free number up to FD_SETSIZE - FREE_BELOW.
    let null = std::fs::File::open("/dev/null").unwrap();
    let mut filler: Vec<OwnedFd> = Vec::new();
    loop {
        let fd = OwnedFd::from(null.try_clone().unwrap());
        if fd.as_raw_fd() as usize >= FD_SETSIZE - FREE_BELOW {
            break; // dropped: that number is free again
        }
        filler.push(fd);
    }

    let mut plan = Plan::new(&server.url(), PAGES).unwrap();
    plan.timeout = Duration::from_secs(10);
    let select = LESSON.variant("select").unwrap();
    let report = conformance::run_checked(&LESSON, select, plan.clone());

    let mut ok = 0;
    let mut refused = 0;
    for t in &report.traces {
        match t.error_kind() {
            None => {
                assert_eq!(t.status, Some(200), "{t:?}");
                ok += 1;
            }
            Some(ErrorKind::Resource) => {
                let e = t.error.as_ref().map(|e| e.detail.as_str()).unwrap_or("");
                assert!(e.contains("FD_SETSIZE"), "page {}: {e}", t.page);
                refused += 1;
            }
            Some(other) => panic!("page {} failed as {other}: {:?}", t.page, t.error),
        }
    }
    // The client creates its sockets before the server can accept their
    // connections, so at least half of the free low numbers are ours; at
    // most FREE_BELOW pages can be below FD_SETSIZE.
    assert!(ok >= FREE_BELOW / 2, "{ok} ok, {refused} refused");
    assert!(refused >= PAGES - FREE_BELOW, "{ok} ok, {refused} refused");

    for name in ["poll", "epoll"] {
        let variant = LESSON.variant(name).unwrap();
        let report = conformance::run_checked(&LESSON, variant, plan.clone());
        assert_eq!(report.ok, PAGES, "{name}: {:?}", report.failures().next());
    }
    drop(filler);
}
