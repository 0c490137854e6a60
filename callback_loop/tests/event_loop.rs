//! The loop's own behaviour, beyond the shared conformance suite.

use callback_loop::LESSON;
use conformance::{check_pages, run_checked, Expect, ScenarioServer};
use std::time::Duration;
use workload::server::page_crc;
use workload::{ErrorKind, Plan, Server, ServerConfig};

/// The CPU time this thread has used so far.
fn thread_cpu() -> Duration {
    use nix::time::{clock_gettime, ClockId};
    let t = clock_gettime(ClockId::CLOCK_THREAD_CPUTIME_ID).unwrap();
    Duration::new(t.tv_sec() as u64, t.tv_nsec() as u32)
}

/// Pages many times larger than the read buffer: level triggering brings
/// each socket back until it is drained, one read per callback.
#[test]
fn large_pages_arrive_whole_one_read_per_callback() {
    const SIZE: usize = 300_000;
    for variant in LESSON.variants {
        let server = Server::start(ServerConfig {
            latency: Duration::from_millis(5),
            size: SIZE,
            ..ServerConfig::default()
        })
        .unwrap();
        let report = run_checked(&LESSON, variant, Plan::new(&server.url(), 4).unwrap());
        check_pages(&report, |i| Expect::Ok {
            bytes: SIZE as u64,
            crc32: page_crc(i, SIZE),
        });
    }
}

/// The timer, not the socket, ends a silent page: never before its
/// deadline, and the other pages are not held up by it.
#[test]
fn a_silent_page_ends_by_its_timer_not_before() {
    for variant in LESSON.variants {
        let server = ScenarioServer::start(|c| {
            if c.page == 0 {
                c.hold();
            } else {
                c.send(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
            }
        });
        let mut plan = Plan::new(&server.url(), 3).unwrap();
        plan.timeout = Duration::from_millis(300);
        let report = run_checked(&LESSON, variant, plan);
        let silent = &report.traces[0];
        assert_eq!(silent.error_kind(), Some(ErrorKind::Timeout), "{silent:?}");
        let took = silent.done_ms.unwrap() - silent.start_ms.unwrap();
        assert!(took >= 300.0, "{}: timed out after {took} ms", variant.name);
        for t in &report.traces[1..] {
            assert!(t.is_ok(), "{t:?}");
            assert!(t.done_ms.unwrap() < silent.done_ms.unwrap());
        }
    }
}

/// The thread sleeps in the selector while it waits: over a long latency
/// it uses a small fraction of the wall time, unlike lesson 4's spinning.
/// (Thread CPU time only counts this thread, so other tests running
/// beside it cannot inflate it.)
#[test]
fn waiting_costs_no_cpu() {
    let cpu = thread_cpu;
    let server = Server::start(ServerConfig {
        latency: Duration::from_millis(600),
        ..ServerConfig::default()
    })
    .unwrap();
    for variant in LESSON.variants {
        let plan = Plan::new(&server.url(), 20).unwrap();
        let before = cpu();
        let report = LESSON.run(variant, &plan, None);
        let used = cpu() - before;
        assert_eq!(report.ok, 20, "{}", variant.name);
        assert!(report.wall_ms >= 600.0);
        assert!(
            used.as_secs_f64() * 1e3 < report.wall_ms / 4.0,
            "{}: {used:?} of CPU in {} ms: the loop spins",
            variant.name,
            report.wall_ms
        );
    }
}

/// `--cpu-us`: the work runs inline in the callback that completes a page,
/// on the loop's own thread (here the test's thread, which runs the
/// variant), and every page still ends ok. This thread's CPU clock, which
/// other threads and processes cannot move, must show at least half of the
/// work asked for.
#[test]
fn cpu_work_runs_on_the_loop_thread_and_every_page_ends_ok() {
    const PAGES: usize = 4;
    const CPU: Duration = Duration::from_millis(20);
    let server = Server::start(ServerConfig {
        latency: Duration::from_millis(5),
        ..ServerConfig::default()
    })
    .unwrap();
    for variant in LESSON.variants {
        let mut plan = Plan::new(&server.url(), PAGES).unwrap();
        plan.cpu = CPU;
        let before = thread_cpu();
        let report = LESSON.run(variant, &plan, None);
        let used = thread_cpu() - before;
        assert_eq!(
            report.ok,
            PAGES,
            "{}: {:?}",
            variant.name,
            report.failures().next()
        );
        assert!(
            used >= CPU * PAGES as u32 / 2,
            "{}: {used:?} of this thread's CPU for {PAGES} pages of {CPU:?}",
            variant.name
        );
    }
}
