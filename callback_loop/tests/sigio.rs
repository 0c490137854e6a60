//! The `sigio` variant beyond the conformance suite: signals that stay with
//! their thread, and a signal queue that overflows.

use callback_loop::LESSON;
use conformance::{check_pages, run_checked, Expect, HANG_LIMIT};
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use workload::server::page_crc;
use workload::{ErrorKind, Plan, Report, Server, ServerConfig};

/// Two runs at once, in two threads of this process, both on sockets that
/// signal the same real-time signal number: each thread is named as its
/// sockets' owner (F_OWNER_TID), so each gets its own signals and every
/// page of both runs arrives. Were the signals sent to the process, the
/// kernel would hand some to the other thread, which does not know the
/// descriptor, and those pages would wait until their timeout.
#[test]
fn two_runs_in_parallel_threads_each_get_their_own_signals() {
    const PAGES: usize = 40;
    let server = Server::start(ServerConfig {
        latency: Duration::from_millis(100),
        ..ServerConfig::default()
    })
    .unwrap();
    let sigio = LESSON.variant("sigio").unwrap();
    let mut plan = Plan::new(&server.url(), PAGES).unwrap();
    plan.timeout = Duration::from_secs(10);
    let runs: Vec<_> = (0..2)
        .map(|_| {
            let plan = plan.clone();
            std::thread::spawn(move || run_checked(&LESSON, sigio, plan))
        })
        .collect();
    let size = ServerConfig::default().size;
    for run in runs {
        let report = run.join().unwrap();
        check_pages(&report, |i| Expect::Ok {
            bytes: size as u64,
            crc32: page_crc(i, size),
        });
    }
}

/// The lesson binary as a child process, its RLIMIT_SIGPENDING set to
/// `limit` (if given) between fork and exec, so that this test binary's
/// own limit stays as it is. Its JSON report, and whether it exited 0.
fn run_child(limit: Option<u64>, pages: usize) -> (Report, bool) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_callback_loop"));
    command
        .args(["--variant", "sigio", "--json", "--latency-ms", "50"])
        .args(["--pages", &pages.to_string()])
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    if let Some(limit) = limit {
        // SAFETY: the closure runs in the forked child before exec; it
        // makes one system call (setrlimit, async-signal-safe) and
        // allocates nothing, touching no lock another thread may hold.
        unsafe {
            command.pre_exec(move || {
                use nix::sys::resource::{setrlimit, Resource};
                setrlimit(Resource::RLIMIT_SIGPENDING, limit, limit).map_err(std::io::Error::from)
            });
        }
    }
    let mut child = command.spawn().expect("the lesson binary starts");
    // Read while it runs: a report larger than the pipe would block it.
    let mut stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut out = String::new();
        std::io::Read::read_to_string(&mut stdout, &mut out).map(|_| out)
    });
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > HANG_LIMIT {
            let _ = child.kill();
            let _ = child.wait();
            panic!("sigio did not end within {HANG_LIMIT:?} (limit {limit:?})");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let out = reader.join().unwrap().unwrap();
    let report: Report = serde_json::from_str(&out).unwrap_or_else(|e| {
        panic!("no JSON report ({e}), exit {status}: {out:?}");
    });
    (report, status.success())
}

/// RLIMIT_SIGPENDING far below the number of sockets: the connects of the
/// first batch of pages complete before the loop takes a signal, their
/// real-time signals do not all fit, and the kernel falls back to SIGIO.
/// Every page still ends, each ok or as `resource` naming the limit; at
/// least one fails that way; nothing hangs. The same run with the limit as
/// it is fetches every page.
#[test]
fn a_full_signal_queue_fails_pages_as_resource_naming_the_limit() {
    const PAGES: usize = 200;
    let (report, success) = run_child(Some(8), PAGES);
    assert!(!success, "pages failed, so the exit status is not 0");
    assert_eq!(report.traces.len(), PAGES, "one trace per page");
    let mut resource = 0;
    for t in &report.traces {
        assert!(t.done_ms.is_some(), "page {} never ended", t.page);
        match t.error_kind() {
            None => assert_eq!(t.status, Some(200), "{t:?}"),
            Some(ErrorKind::Resource) => {
                let e = t.error.as_ref().map_or(String::new(), |e| e.to_string());
                assert!(
                    e.contains("RLIMIT_SIGPENDING") && e.contains("ulimit -i"),
                    "page {}: {e}",
                    t.page
                );
                resource += 1;
            }
            Some(other) => panic!("page {} failed as {other}: {:?}", t.page, t.error),
        }
    }
    assert!(resource > 0, "no page saw the queue overflow");

    let (control, success) = run_child(None, PAGES);
    assert!(success, "{:?}", control.failures().next());
    assert_eq!(control.ok, PAGES);
}
