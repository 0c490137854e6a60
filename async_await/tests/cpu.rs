//! `--cpu-us`: every variant still ends every page ok when each page also
//! computes once its body is in, and the work runs where the variant says
//! (the amount of CPU is the conformance suite's and the benchmark's
//! business).

use std::time::Duration;
use workload::{Plan, Server, ServerConfig};

fn server() -> Server {
    Server::start(ServerConfig {
        latency: Duration::from_millis(5),
        ..Default::default()
    })
    .unwrap()
}

#[test]
fn pages_that_compute_still_end_ok_on_every_variant() {
    let server = server();
    for variant in async_await::LESSON.variants {
        let mut plan = Plan::new(&server.url(), 6).unwrap();
        plan.cpu = Duration::from_millis(2);
        let report = async_await::LESSON.run(variant, &plan, None);
        assert_eq!(report.ok, 6, "{}: {:?}", variant.name, report.traces);
    }
}

/// CPU time of the calling thread (not wall time: waiting does not count).
fn this_thread_cpu() -> Duration {
    nix::time::clock_gettime(nix::time::ClockId::CLOCK_THREAD_CPUTIME_ID)
        .map(Duration::from)
        .unwrap()
}

/// Both variants run their event loop on the calling thread (a
/// current-thread runtime). `tokio` computes there, in the page's task;
/// `tokio-offload` hands the work to the blocking pool, so the loop's
/// thread spends almost none of it.
#[test]
fn offload_computes_off_the_loop_thread_and_tokio_on_it() {
    const PAGES: u32 = 6;
    const CPU: Duration = Duration::from_millis(20);
    let asked = CPU * PAGES;
    let server = server();
    let mut spent = Vec::new();
    for name in ["tokio", "tokio-offload"] {
        let mut plan = Plan::new(&server.url(), PAGES as usize).unwrap();
        plan.cpu = CPU;
        let variant = async_await::LESSON.variant(name).unwrap();
        let before = this_thread_cpu();
        let report = async_await::LESSON.run(variant, &plan, None);
        spent.push(this_thread_cpu().saturating_sub(before));
        assert_eq!(report.ok, PAGES as usize, "{name}: {:?}", report.traces);
    }
    assert!(spent[0] >= asked / 2, "tokio's loop thread spent {spent:?}");
    assert!(
        spent[1] < asked / 4,
        "tokio-offload's loop thread spent {spent:?}"
    );
}
