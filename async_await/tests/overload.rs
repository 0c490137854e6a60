//! Many pages, more than the open-file limit has room for. Every page in
//! flight holds a socket, and a process may hold only so many descriptors
//! (`RLIMIT_NOFILE`); a variant that started more pages than that would see
//! `socket()` fail with EMFILE. The tests run the lesson's binary against a
//! page server in this process: under a limit of 200 descriptors with 600
//! pages (`prlimit`, from util-linux), where the variants hold the pages
//! they have no room for until a page ends, so every page succeeds and the
//! report says how many were in flight; and with 4,000 pages, where a page
//! whose response has come must not wait behind pages not started.

use std::process::Command;
use std::time::Duration;
use workload::{Report, Server, ServerConfig};

const LIMIT: usize = 200;
const PAGES: usize = 600;

/// Run `variant` under the lowered limit; its exit code and its report.
fn run_limited(variant: &str, url: &str) -> (Option<i32>, Report) {
    let pages = PAGES.to_string();
    let args = [
        "--variant",
        variant,
        "--url",
        url,
        "--pages",
        &pages,
        "--timeout-ms",
        "30000",
    ];
    conformance::run_for_report(env!("CARGO_BIN_EXE_async_await"), &args, Some(LIMIT))
}

#[test]
fn past_the_open_file_limit_pages_wait_for_room_and_none_fails() {
    let server = Server::start(ServerConfig {
        latency: Duration::from_millis(200),
        ..ServerConfig::default()
    })
    .expect("the page server starts");
    for variant in ["mini", "handmade", "tokio"] {
        let (code, report) = run_limited(variant, &server.url());
        if let Some(t) = report.failures().next() {
            panic!(
                "{variant}: {} of {PAGES} pages failed, e.g. page {}: {:?}",
                report.failed, t.page, t.error
            );
        }
        assert_eq!(report.ok, PAGES, "{variant}");
        assert_eq!(code, Some(0), "{variant}");
        assert!(
            report.in_flight < LIMIT,
            "{variant}: {} pages in flight under a limit of {LIMIT} descriptors",
            report.in_flight
        );
    }
}

/// A page whose response has come reads it while later pages are still
/// starting. When mini's executor made every page ready at once and
/// polled every ready task before it looked at epoll, no response was read
/// before the last of 4,000 pages had started (at 30,000 pages, the first
/// responses were read tens of seconds after they came); now a few pages
/// start per turn of the loop, between looks at epoll. The page server
/// answers at once, so many pages' first bytes come before the last page
/// starts (most of them in a release build; hundreds in a debug build,
/// whose server is slower to answer); before, none did.
#[test]
fn responses_are_read_while_later_pages_start() {
    const PAGES: usize = 4000;
    let server = Server::start(ServerConfig {
        latency: Duration::ZERO,
        ..ServerConfig::default()
    })
    .expect("the page server starts");
    for variant in ["mini", "handmade"] {
        let out = Command::new(env!("CARGO_BIN_EXE_async_await"))
            .args(["--variant", variant, "--url", &server.url(), "--json"])
            .args(["--pages", &PAGES.to_string(), "--timeout-ms", "30000"])
            .output()
            .expect("the lesson starts");
        let report: Report = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!(
                "{variant}: no report ({e}); stderr:\n{}",
                String::from_utf8_lossy(&out.stderr)
            )
        });
        let last_start = report
            .traces
            .iter()
            .filter_map(|t| t.start_ms)
            .fold(0.0, f64::max);
        let early = report
            .traces
            .iter()
            .filter(|t| t.first_byte_ms.is_some_and(|ms| ms < last_start))
            .count();
        println!("{variant}: {early} of {PAGES} first bytes before the last start");
        assert!(
            early >= PAGES / 40,
            "{variant}: {early} of {PAGES} pages read their first byte before the last page \
             started ({last_start:.1} ms)"
        );
    }
}
