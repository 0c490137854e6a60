//! Past the open-file limit, and past the point where starting pages
//! outruns finishing them. Each test runs the lesson's binary as a child
//! against a page server in this process.

use std::time::Duration;
use workload::{Report, Server, ServerConfig};

const LIMIT: usize = 200;

/// Run `variant` on `pages` pages, against the page server at `url` (or
/// the lesson's own, in its process), under an open-file limit of `nofile`
/// (through `prlimit`, from util-linux) if given; its exit code and report.
fn run(
    variant: &str,
    url: Option<&str>,
    pages: usize,
    nofile: Option<usize>,
) -> (Option<i32>, Report) {
    let pages = pages.to_string();
    let mut args = vec![
        "--variant",
        variant,
        "--pages",
        &pages,
        "--timeout-ms",
        "10000",
    ];
    args.extend(url.map(|url| ["--url", url]).into_iter().flatten());
    conformance::run_for_report(env!("CARGO_BIN_EXE_completion"), &args, nofile)
}

fn server(latency_ms: u64) -> Server {
    Server::start(ServerConfig {
        latency: Duration::from_millis(latency_ms),
        ..ServerConfig::default()
    })
    .expect("the page server starts")
}

/// Both variants hold the pages they have no descriptor for until a page
/// ends: every page succeeds, and the report says how many were in flight.
#[test]
fn past_the_open_file_limit_pages_wait_for_room() {
    if completion::probe().is_err() {
        return eprintln!("io_uring is not available here; nothing to check");
    }
    let server = server(200);
    for variant in ["uring", "compio"] {
        let (code, report) = run(variant, Some(&server.url()), 600, Some(LIMIT));
        if let Some(t) = report.failures().next() {
            panic!(
                "{variant}: {} of 600 pages failed, e.g. page {}: {:?}",
                report.failed, t.page, t.error
            );
        }
        assert_eq!((report.ok, code), (600, Some(0)), "{variant}");
        assert!(
            report.in_flight < LIMIT,
            "{variant}: {} in flight",
            report.in_flight
        );
    }
}

/// With no `--url` the page server runs in the lesson's own process and
/// needs a descriptor to accept each page with. When the ring started
/// every page at once, its sockets took every descriptor, the server could
/// accept none of them, and the pages it had sockets for waited out their
/// timeouts: no page of 600 was ok. Counting two descriptors a page, every
/// page is.
#[test]
fn past_the_open_file_limit_with_the_page_server_in_process() {
    if completion::probe().is_err() {
        return eprintln!("io_uring is not available here; nothing to check");
    }
    let (code, report) = run("uring", None, 600, Some(LIMIT));
    if let Some(t) = report.failures().next() {
        panic!(
            "{} of 600 pages failed, e.g. page {}: {:?}",
            report.failed, t.page, t.error
        );
    }
    assert_eq!((report.ok, code), (600, Some(0)));
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
    let (_, report) = run("compio", Some(&server.url()), PAGES, None);
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
