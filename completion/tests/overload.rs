//! Past the open-file limit, and past the point where starting pages
//! outruns finishing them. Each test runs the lesson's binary as a child
//! against a page server in this process.

use std::process::Command;
use std::time::Duration;
use workload::{ErrorKind, Report, Server, ServerConfig};

const LIMIT: usize = 200;

/// Run `variant` on `pages` pages, under an open-file limit of `nofile`
/// (through `prlimit`, from util-linux) if given; its exit code and report.
fn run(variant: &str, url: &str, pages: usize, nofile: Option<usize>) -> (Option<i32>, Report) {
    let bin = env!("CARGO_BIN_EXE_completion");
    let mut command = match nofile {
        Some(n) => {
            let mut c = Command::new("prlimit");
            c.arg(format!("--nofile={n}:{n}")).arg(bin);
            c
        }
        None => Command::new(bin),
    };
    let out = command
        .args(["--variant", variant, "--url", url, "--json"])
        .args(["--pages", &pages.to_string(), "--timeout-ms", "30000"])
        .output()
        .expect("the lesson (under prlimit, from util-linux) starts");
    let report = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{variant}: no report ({e}); stderr:\n{}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out.status.code(), report)
}

fn server(latency_ms: u64) -> Server {
    Server::start(ServerConfig {
        latency: Duration::from_millis(latency_ms),
        ..ServerConfig::default()
    })
    .expect("the page server starts")
}

/// compio holds the pages it has no descriptor for until a page ends:
/// every page succeeds, and the report says how many were in flight.
#[test]
fn compio_past_the_open_file_limit_pages_wait_for_room() {
    if completion::probe().is_err() {
        return eprintln!("io_uring is not available here; nothing to check");
    }
    let server = server(200);
    let (code, report) = run("compio", &server.url(), 600, Some(LIMIT));
    if let Some(t) = report.failures().next() {
        panic!(
            "{} of 600 pages failed, e.g. page {}: {:?}",
            report.failed, t.page, t.error
        );
    }
    assert_eq!((report.ok, code), (600, Some(0)));
    assert!(report.in_flight < LIMIT, "{} in flight", report.in_flight);
}

/// The hand-written ring starts every page: the pages it has no descriptor
/// for fail at once, each named as `resource`, and nothing else fails.
#[test]
fn uring_past_the_open_file_limit_fails_exactly_the_pages_without_room() {
    if completion::probe().is_err() {
        return eprintln!("io_uring is not available here; nothing to check");
    }
    let server = server(200);
    let (code, report) = run("uring", &server.url(), 600, Some(LIMIT));
    assert_eq!(report.traces.len(), 600);
    for t in report.failures() {
        let kind = t.error.as_ref().map(|e| e.kind);
        assert_eq!(
            kind,
            Some(ErrorKind::Resource),
            "page {}: {:?}",
            t.page,
            t.error
        );
    }
    assert!(report.ok >= LIMIT / 2, "only {} pages succeeded", report.ok);
    assert_eq!(code, Some(if report.failed == 0 { 0 } else { 1 }));
}

/// A page whose connect has completed runs again before thousands more
/// pages are started. Counted from the traces: the pages started between a
/// page's start and the moment its task saw the connect done. When the
/// crawl ran as `block_on`'s own future it started 256 pages on every turn
/// of compio's loop while the loop ran 61 tasks, and that count grew with
/// the run (thousands at 4,000 pages; at 15,000 pages the requests went
/// out after the page server's 5 s header timeout).
#[test]
fn compio_connected_pages_do_not_wait_behind_pages_not_started() {
    if completion::probe().is_err() {
        return eprintln!("io_uring is not available here; nothing to check");
    }
    const PAGES: usize = 4000;
    let server = server(100);
    let (_, report) = run("compio", &server.url(), PAGES, None);
    let mut starts: Vec<f64> = report.traces.iter().filter_map(|t| t.start_ms).collect();
    starts.sort_by(f64::total_cmp);
    let started_before = |ms: f64| starts.partition_point(|&s| s < ms);
    let (page, most) = report
        .traces
        .iter()
        .filter_map(|t| {
            let (start, connected) = (t.start_ms?, t.connected_ms?);
            let between = started_before(connected).saturating_sub(started_before(start) + 1);
            Some((t.page, between))
        })
        .max_by_key(|&(_, n)| n)
        .expect("some page connected");
    assert!(
        most < 1500,
        "page {page}: {most} pages were started between its start and its connect"
    );
}
