//! The serve command: `serve --quick` end to end against whatever servers
//! the lessons have (skipped with its reason when none has one yet), and
//! one cell measured against a child that serves pages (`page-server`,
//! where it was built). Nothing here asserts a timing.

use bench_report::binaries::Binaries;
use bench_report::serve::{self, Config, Mode, ServeJob, Spec};
use bench_report::{table, LESSONS};
use std::path::Path;
use std::process::Command;
use std::time::Duration;
use workload::serve::ServeVariant;

mod common;
use common::{out_dir, text};

#[test]
fn quick_serve_writes_a_row_for_every_cell_or_says_there_is_none() {
    let out = out_dir("serve-quick");
    let o = common::run("serve", &["--quick"], &out);
    assert!(o.status.success(), "{}", text(&o));
    let md = std::fs::read_to_string(out.join("serve.md")).unwrap();
    let servers: usize = LESSONS.iter().map(|l| l.servers.len()).sum();
    if servers == 0 {
        eprintln!("skipped: no lesson has a server yet");
        assert!(md.contains("nothing to measure"), "{md}");
        return;
    }
    let rows = table::parse(&md, &["lesson", "server", "mode", "L ms", "C"]);
    // --quick: C = 1 and 20 at L = 0 and 50 ms, and one new-connection cell
    assert_eq!(rows.len(), servers * 5, "{md}");
    for row in &rows {
        let status = &row[5];
        if status.starts_with("measured") {
            let rps: f64 = row[6].parse().unwrap_or_else(|_| panic!("{row:?}"));
            assert!(rps > 0.0, "{row:?}");
        } else {
            assert!(
                status.contains('['),
                "a cell that did not run says why: {row:?}"
            );
        }
    }
    for chart in ["serve-rps.svg", "serve-p99.svg", "serve-memory.svg"] {
        assert!(out.join(chart).is_file(), "{chart}");
    }
}

#[test]
fn bad_input_is_a_usage_error() {
    let out = out_dir("serve-bad");
    let o = common::run("serve", &["--models", "no_such_lesson"], &out);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
}

fn page_server(_: workload::serve::Serving) -> std::io::Result<()> {
    unreachable!("the cell runs page-server, a child process")
}

static PAGES: ServeVariant =
    ServeVariant::new("page-server", "workload's page server", page_server);

#[test]
fn a_cell_is_measured_from_a_child_that_serves_pages() {
    let bin = Path::new(env!("CARGO_BIN_EXE_bench-report"))
        .parent()
        .unwrap()
        .join("page-server");
    if !bin.is_file() {
        eprintln!(
            "skipped: {} is not built (cargo build -p workload --bin page-server)",
            bin.display()
        );
        return;
    }
    let config = Config {
        jobs: Vec::new(),
        connections: vec![4],
        latencies: vec![20],
        new_connection_at: None,
        duration: Duration::from_millis(500),
        warmup: Some(Duration::from_millis(200)),
        quick: true,
        threads: 1,
        with_wrk: false,
        out: out_dir("serve-cell"),
        bins: Binaries {
            dir: bin.parent().unwrap().to_path_buf(),
            build: false,
        },
        command: String::new(),
    };
    let spec = Spec {
        job: ServeJob {
            lesson: LESSONS[0],
            server: &PAGES,
        },
        mode: Mode::KeepAlive,
        latency_ms: 20,
        connections: 4,
    };
    let mut command = Command::new(&bin);
    command.args(["--port", "0", "--latency-ms", "20"]);
    let cell = serve::measure(command, &spec, &config);
    assert!(cell.status.ran(), "{cell:?}");
    assert!(cell.requests_per_s.unwrap() > 0.0, "{cell:?}");
    assert_eq!(cell.errors, Some(0), "{cell:?}");
    assert!(cell.latency.unwrap().p50 >= 20.0, "{cell:?}");
    assert!(cell.server_cpu_us_per_request.unwrap() > 0.0, "{cell:?}");
    assert!(cell.peak_rss_kb.unwrap() > 0, "{cell:?}");

    // a child that prints no URL fails the cell with a reason
    let mut silent = Command::new("/bin/sh");
    silent.args(["-c", "echo nothing here; echo oops >&2; sleep 30"]);
    let cell = serve::measure(silent, &spec, &config);
    assert_eq!(cell.status.label(), "failed", "{cell:?}");
    assert!(
        cell.status.reason().unwrap().contains("first line"),
        "{cell:?}"
    );
}
