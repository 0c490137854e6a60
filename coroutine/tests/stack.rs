//! The lesson's own flag, `--stack-kb`: checked, honoured, and a stack too
//! small for the code fails its pages by name instead of killing the
//! process.

use conformance::run_checked;
use coroutine::{StackFlags, StackKb, LESSON, MAX_STACK_KB, MIN_STACK_KB};
use std::process::Command;
use std::time::Duration;
use workload::{Plan, Server, ServerConfig};

#[test]
fn stack_sizes_are_checked() {
    assert_eq!(StackKb::parse("4").map(StackKb::get), Ok(MIN_STACK_KB));
    assert_eq!(StackKb::parse("8192").map(StackKb::get), Ok(MAX_STACK_KB));
    for bad in ["0", "3", "8193", "-4", "1.5", "lots", ""] {
        let e = StackKb::parse(bad).unwrap_err();
        assert!(e.contains("whole number of KiB"), "{bad}: {e}");
    }
}

#[test]
fn a_bad_stack_size_on_the_command_line_is_a_usage_error() {
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_coroutine"))
            .args(args)
            .output()
            .unwrap()
    };
    for bad in [
        &["--stack-kb", "2"][..],
        &["--stack-kb=huge", "--pages", "3"],
    ] {
        let out = run(bad);
        assert_eq!(out.status.code(), Some(2), "{bad:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("whole number of KiB"), "{stderr}");
        assert!(out.stdout.is_empty());
    }
    let out = run(&[
        "--stack-kb",
        "64",
        "--pages",
        "2",
        "--latency-ms",
        "0",
        "--json",
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn pages_run_on_the_given_stack_and_on_may_worker_threads() {
    let server = Server::start(ServerConfig {
        latency: Duration::from_millis(20),
        ..ServerConfig::default()
    })
    .expect("page server");
    for kb in ["64", "1024"] {
        let stack_kb = StackKb::parse(kb).unwrap();
        let plan = Plan::new(&server.url(), 8)
            .unwrap()
            .with_options(StackFlags { stack_kb });
        let report = run_checked(&LESSON, LESSON.default_variant(), plan);
        assert_eq!(
            report.ok,
            8,
            "--stack-kb {kb}: {:?}",
            report.failures().next()
        );
        // Each page notes the OS thread that finished it: may's workers (one
        // per core) and its timer thread, never one thread per page.
        for t in &report.traces {
            assert!(t.worker.is_some_and(|w| w < 8), "{t:?}");
        }
    }
}

/// The overflow is run in a child process: the test harness's own threads
/// have nothing to do with it, and a crash would show as a signal here
/// rather than take the tests down. It must not crash: may's guard page
/// and signal handler turn it into one failed page per coroutine.
#[test]
fn a_stack_too_small_fails_the_pages_not_the_process() {
    let out = Command::new(env!("CARGO_BIN_EXE_coroutine"))
        .args(["--pages", "3", "--latency-ms", "0", "--stack-kb", "4"])
        .output()
        .expect("run the coroutine binary");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(1),
        "exit status {:?}: {stderr}",
        out.status
    );
    assert_eq!(
        stderr
            .matches("failed: resource: the coroutine overflowed its 4 KiB stack")
            .count(),
        3,
        "{stderr}"
    );
    assert!(
        stderr.contains("has overflowed its stack"),
        "may's own report: {stderr}"
    );
}
