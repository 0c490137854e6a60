//! Past the open-file limit. Every page in flight holds a socket, and a
//! process may hold only so many descriptors (`RLIMIT_NOFILE`); a variant
//! that started more pages than that would see `socket()` fail with EMFILE.
//! These run the lesson's binary under a limit of 200 descriptors with 600
//! pages (`prlimit`, from util-linux) against a page server in this
//! process: the variants hold the pages they have no room for until a page
//! ends, so every page succeeds and the report says how many were in flight.

use std::process::Command;
use std::time::Duration;
use workload::{Report, Server, ServerConfig};

const LIMIT: usize = 200;
const PAGES: usize = 600;

/// Run `variant` under the lowered limit; its exit code and its report.
fn run_limited(variant: &str, url: &str) -> (Option<i32>, Report) {
    let out = Command::new("prlimit")
        .arg(format!("--nofile={LIMIT}:{LIMIT}"))
        .arg(env!("CARGO_BIN_EXE_async_await"))
        .args(["--variant", variant, "--url", url, "--json"])
        .args(["--pages", &PAGES.to_string(), "--timeout-ms", "30000"])
        .output()
        .expect("prlimit (util-linux) starts the lesson under a lowered open-file limit");
    let report = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{variant}: no report ({e}); stderr:\n{}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out.status.code(), report)
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
