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
    let floor = MIN_STACK_KB.to_string();
    assert_eq!(StackKb::parse(&floor).map(StackKb::get), Ok(MIN_STACK_KB));
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

/// A stack that could overflow is refused before anything runs: an
/// overflow inside `malloc` would leave its lock held and hang the process,
/// so the guard page is a last resort, not a way to find the size.
#[test]
fn a_stack_below_the_floor_is_a_usage_error() {
    let below = (MIN_STACK_KB - 1).to_string();
    let out = Command::new(env!("CARGO_BIN_EXE_coroutine"))
        .args(["--pages", "3", "--latency-ms", "0", "--stack-kb", &below])
        .output()
        .expect("run the coroutine binary");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("--stack-kb"), "{stderr}");
}

/// `--help` states the range the parser accepts, from the same constants.
#[test]
fn the_help_states_the_range_the_parser_accepts() {
    let out = Command::new(env!("CARGO_BIN_EXE_coroutine"))
        .arg("--help")
        .output()
        .expect("run the coroutine binary");
    let help = String::from_utf8_lossy(&out.stdout);
    let range = format!("({MIN_STACK_KB} to {MAX_STACK_KB}, rounded up to 4 KiB pages)");
    assert!(help.contains(&range), "{help}");
    assert!(help.contains("[default: 32]"), "{help}");
    assert!(StackKb::parse(&MIN_STACK_KB.to_string()).is_ok());
    assert!(StackKb::parse(&(MIN_STACK_KB - 1).to_string()).is_err());
}
