//! What this lesson promises beyond the shared suite: the concurrency each
//! variant declares is the one it uses, `--stack-kb` reaches the threads,
//! and a thread that cannot be started is a named error, never a panic.

use conformance::{run_checked, ScenarioServer};
use std::collections::BTreeSet;
use std::process::Command;
use std::time::Duration;
use workload::{ErrorKind, Plan, Report, Server, ServerConfig};

fn variant(name: &str) -> &'static workload::Variant {
    multi_thread::LESSON.variant(name).expect("variant exists")
}

fn server(latency_ms: u64) -> Server {
    Server::start(ServerConfig {
        latency: Duration::from_millis(latency_ms),
        ..ServerConfig::default()
    })
    .expect("page server")
}

fn run(name: &str, plan: Plan) -> Report {
    run_checked(&multi_thread::LESSON, variant(name), plan)
}

fn plan(server: &Server, pages: usize) -> Plan {
    let mut plan = Plan::new(&server.url(), pages).unwrap();
    plan.latency = Some(server.config().latency);
    plan
}

fn workers_seen(report: &Report) -> BTreeSet<usize> {
    report
        .traces
        .iter()
        .map(|t| t.worker.expect("every trace names its worker"))
        .collect()
}

#[test]
fn each_variant_declares_the_concurrency_it_has() {
    let cores = std::thread::available_parallelism().unwrap().get();
    let server = server(1);
    let report = run("pool", plan(&server, 120));
    assert_eq!(report.in_flight, 100, "the pool stops at 100 threads");
    assert_eq!(report.ok, 120);
    let report = run("scoped", plan(&server, 120));
    assert_eq!(report.in_flight, 120, "a thread per page");
    assert_eq!(report.ok, 120);
    let report = run("rayon", plan(&server, 12));
    assert_eq!(
        report.in_flight,
        cores.min(12),
        "rayon's pool has a thread per core"
    );
    let rounds = 12usize.div_ceil(cores.min(12)) as f64;
    assert_eq!(report.ideal_ms, Some(rounds * 1.0));
}

#[test]
fn the_pool_uses_exactly_its_workers() {
    let server = server(5);
    let mut plan = plan(&server, 9);
    plan.workers = Some(3);
    let report = run("pool", plan);
    assert_eq!(report.ok, 9);
    assert_eq!(report.in_flight, 3);
    let seen = workers_seen(&report);
    assert!(seen.iter().all(|&w| w < 3), "only workers 0..3: {seen:?}");
    assert_eq!(server.served(), 9, "each page fetched exactly once");
}

#[test]
fn rayon_fetches_on_its_few_threads() {
    let server = server(5);
    let report = run("rayon", plan(&server, 8));
    assert_eq!(report.ok, 8);
    let seen = workers_seen(&report);
    assert!(
        seen.iter().all(|&w| w < rayon::current_num_threads()),
        "only rayon's threads: {seen:?}"
    );
    assert_eq!(server.served(), 8);
}

/// A page waiting in the queue is not timed while it waits: with one
/// worker and a server that never answers, each page still gets its own
/// full timeout and fails as a timeout, one after the other.
#[test]
fn queued_pages_time_out_from_their_own_start() {
    let server = ScenarioServer::start(conformance::Conn::hold);
    let mut plan = Plan::new(&server.url(), 3).unwrap();
    plan.workers = Some(1);
    plan.timeout = Duration::from_millis(200);
    let report = run("pool", plan);
    for t in &report.traces {
        assert_eq!(t.error_kind(), Some(ErrorKind::Timeout), "{t:?}");
        assert_eq!(t.worker, Some(0));
    }
    assert_eq!(server.requests(), 3, "every page reached the server");
}

/// 1 EiB: no machine can map such a stack, so every spawn fails.
const IMPOSSIBLE_STACK_KB: &str = "1125899906842624";

fn with_stack(server: &Server, pages: usize, kb: &str) -> Plan {
    let bytes = multi_thread::parse_stack_kb(kb).expect("a stack size the flag accepts");
    plan(server, pages).with_options(multi_thread::ThreadFlags {
        stack_bytes: Some(bytes),
    })
}

#[test]
fn no_thread_means_resource_errors_not_a_panic() {
    let server = server(1);
    for name in ["pool", "scoped"] {
        let report = run(name, with_stack(&server, 3, IMPOSSIBLE_STACK_KB));
        assert_eq!(report.failed, 3, "{name}");
        for t in &report.traces {
            assert_eq!(t.error_kind(), Some(ErrorKind::Resource), "{name}: {t:?}");
            let error = t
                .error
                .as_ref()
                .map(|e| e.detail.as_str())
                .unwrap_or_default();
            assert!(error.contains("no thread could be started"), "{error}");
        }
    }
    assert_eq!(server.served(), 0);
    // rayon's threads are its own: the flag does not reach them.
    let report = run("rayon", with_stack(&server, 3, IMPOSSIBLE_STACK_KB));
    assert_eq!(report.ok, 3);
}

#[test]
fn a_small_stack_is_enough_for_a_page() {
    let server = server(1);
    for name in ["pool", "scoped"] {
        let report = run(name, with_stack(&server, 4, "64"));
        assert_eq!(report.ok, 4, "{name}: {:?}", report.failures().next());
    }
}

#[test]
fn a_stack_size_that_is_not_usable_is_refused_by_name() {
    for (kb, why) in [
        ("lots", "is not a size in KiB"),
        ("16", "is below the 64 KiB"),
        ("-1", "is not a size in KiB"),
        ("18446744073709551615", "does not fit"),
    ] {
        let error = multi_thread::parse_stack_kb(kb).unwrap_err();
        assert!(
            error.contains(&format!("--stack-kb '{kb}' {why}")),
            "{error}"
        );
    }
}

fn binary(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_multi_thread"))
        .args(args)
        .output()
        .expect("run the lesson binary")
}

#[test]
fn the_binary_reports_spawn_failures_and_exits_1() {
    let out = binary(&[
        "--variant",
        "scoped",
        "--pages",
        "3",
        "--latency-ms",
        "0",
        "--stack-kb",
        IMPOSSIBLE_STACK_KB,
        "--json",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    // One line for the three pages: the kind, the count, an example.
    assert!(
        stderr.contains("3 pages failed: resource: no thread"),
        "{stderr}"
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON object");
    assert_eq!(report["failed"], 3);
    assert_eq!(report["variant"], "scoped");
}

#[test]
fn the_binary_refuses_an_unusable_stack_size_as_a_usage_error() {
    for kb in ["16", "lots", "18446744073709551615"] {
        let out = binary(&["--stack-kb", kb, "--pages", "1", "--latency-ms", "0"]);
        assert_eq!(out.status.code(), Some(2), "--stack-kb {kb}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(&format!("--stack-kb '{kb}'")), "{stderr}");
        assert!(out.stdout.is_empty(), "no run was made");
    }
}

#[test]
fn help_lists_the_variants_and_the_stack_flag() {
    let out = binary(&["--help"]);
    assert_eq!(out.status.code(), Some(0));
    let help = String::from_utf8_lossy(&out.stdout);
    for word in ["pool", "scoped", "rayon", "--stack-kb"] {
        assert!(help.contains(word), "{word} missing from:\n{help}");
    }
    let out = binary(&["--variant", "fibers"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("pool, scoped, rayon"));
}
