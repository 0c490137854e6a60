//! The pool's own promises, beyond the shared suite: a worker killed in the
//! middle of a run costs its page and nothing else; a stuck worker is
//! killed by the parent's watchdog; no run leaves a zombie or an orphan,
//! not even when the parent itself is killed; `--cpu-us` is spent in the
//! workers; `process_way` accounts for every worker it started; the
//! binary's `--json` stays one object with `--show-pool` talking on stderr.
//!
//! `harness = false` for the same reason as `conformance.rs`: this binary is
//! also the pool's worker, so its `main` must call `workload::enter` first.
//! The checks run one after another (never two pools at once), which is what
//! lets them count this process's children.

use conformance::{run_checked, Conn, ScenarioServer};
use multi_process::worker::Role;
use multi_process::LESSON;
use std::process::{Command, ExitCode, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use workload::{ErrorKind, Plan, Report, Server, ServerConfig};

type Check = (&'static str, fn());

const CHECKS: &[Check] = &[
    ("every_worker_gets_work", every_worker_gets_work),
    ("pages_with_cpu_work_end_ok", pages_with_cpu_work_end_ok),
    (
        "stats_account_for_every_worker",
        stats_account_for_every_worker,
    ),
    (
        "killed_worker_fails_only_its_page",
        killed_worker_fails_only_its_page,
    ),
    (
        "stopped_worker_is_killed_by_the_watchdog",
        stopped_worker_is_killed_by_the_watchdog,
    ),
    ("failed_runs_leave_no_child", failed_runs_leave_no_child),
    ("no_worker_can_start", no_worker_can_start),
    (
        "killed_parent_leaves_no_orphan",
        killed_parent_leaves_no_orphan,
    ),
    ("binary_json_and_show_pool", binary_json_and_show_pool),
];

fn main() -> ExitCode {
    workload::enter(&[&LESSON]);
    let names: Vec<&str> = CHECKS.iter().map(|(name, _)| *name).collect();
    conformance::run_named("pool", &names, |i| (CHECKS[i].1)())
}

// --- /proc helpers -----------------------------------------------------------

/// Processes whose parent is `parent` (zombies included: they keep their
/// entry, and their parent, until waited for).
fn children_of(parent: u32) -> Vec<u32> {
    let mut kids = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        // "pid (comm) state ppid ...": comm may hold spaces, so go from ')'.
        let after = &stat[stat.rfind(')').map_or(0, |i| i + 1)..];
        let ppid = after.split_whitespace().nth(1).and_then(|p| p.parse().ok());
        if ppid == Some(parent) {
            kids.push(pid);
        }
    }
    kids
}

/// Live worker processes started by `parent`, wherever they are now (an
/// orphan is adopted by another process, but its command line still names
/// the parent that started it).
fn workers_of(parent: u32) -> Vec<u32> {
    let mut found = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(cmdline) = std::fs::read(format!("/proc/{pid}/cmdline")) else {
            continue;
        };
        let args: Vec<&[u8]> = cmdline.split(|&b| b == 0).collect();
        if args.get(1) != Some(&multi_process::worker::WORKER_FLAG.as_bytes()) {
            continue;
        }
        let role = args
            .get(2)
            .map(|a| Role::parse(&String::from_utf8_lossy(a)));
        if role.is_some_and(|r| r.is_ok_and(|r| r.parent_pid() == parent)) {
            found.push(pid);
        }
    }
    found
}

/// After a run: this process has no child, and no worker it started lives on.
fn assert_no_child_left(context: &str) {
    let me = std::process::id();
    assert_eq!(
        children_of(me),
        Vec::<u32>::new(),
        "{context}: a child (zombie?) is left"
    );
    assert_eq!(
        workers_of(me),
        Vec::<u32>::new(),
        "{context}: a worker outlived its run"
    );
}

/// Wait (bounded) until `f` returns something non-empty.
fn wait_for<T>(what: &str, limit: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let until = Instant::now() + limit;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < until, "gave up waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn run(plan: Plan) -> Report {
    run_checked(&LESSON, LESSON.default_variant(), plan)
}

// --- a server that holds every page until told to answer ---------------------

static RELEASE: AtomicBool = AtomicBool::new(false);

/// Answers "ok" once RELEASE is set; until then the page is in flight.
fn held_until_release(c: &mut Conn) {
    while !RELEASE.load(Ordering::SeqCst) {
        if c.stopped() {
            return;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    c.send(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
}

/// Start a run of `pages` pages, each held by the server, on a thread; once
/// every page is in flight (one request per worker reached the server),
/// call `act` with this process's worker pids, then release the pages.
fn with_every_page_in_flight(
    pages: usize,
    timeout: Duration,
    act: impl FnOnce(&[u32]) -> u32,
) -> (Report, u32) {
    RELEASE.store(false, Ordering::SeqCst);
    let server = ScenarioServer::start(held_until_release);
    let mut plan = Plan::new(&server.url(), pages).unwrap();
    plan.timeout = timeout;
    let runner = std::thread::spawn(move || run(plan));
    wait_for(
        "every page to reach the server",
        Duration::from_secs(20),
        || (server.requests() == pages).then_some(()),
    );
    let workers = workers_of(std::process::id());
    assert_eq!(workers.len(), pages, "one worker per page");
    let victim = act(&workers);
    RELEASE.store(true, Ordering::SeqCst);
    let report = runner.join().expect("the run ends");
    (report, victim)
}

// --- the checks ------------------------------------------------------------------

/// 12 pages, 3 workers: each worker fetches several pages; all arrive.
fn every_worker_gets_work() {
    let server = Server::start(ServerConfig {
        latency: Duration::from_millis(20),
        ..ServerConfig::default()
    })
    .unwrap();
    let mut plan = Plan::new(&server.url(), 12).unwrap();
    plan.workers = Some(3);
    let report = run(plan);
    assert_eq!(report.ok, 12, "{:?}", report.failures().collect::<Vec<_>>());
    assert_eq!(report.in_flight, 3);
    let mut used: Vec<usize> = report.traces.iter().filter_map(|t| t.worker).collect();
    used.sort();
    used.dedup();
    assert_eq!(
        used,
        vec![0, 1, 2],
        "every worker fetched, and only they did"
    );
    assert_no_child_left("a good run");
}

/// `--cpu-us`: each page's work runs in the worker that fetched it (the
/// worker's plan carries `plan.cpu`, and lesson 1's fetch spends it); every
/// page still ends ok.
fn pages_with_cpu_work_end_ok() {
    let server = Server::start(ServerConfig {
        latency: Duration::from_millis(5),
        ..ServerConfig::default()
    })
    .unwrap();
    let mut plan = Plan::new(&server.url(), 6).unwrap();
    plan.workers = Some(2);
    plan.cpu = Duration::from_millis(3);
    let report = run(plan);
    assert_eq!(report.ok, 6, "{:?}", report.failures().collect::<Vec<_>>());
    assert!(report.traces.iter().all(|t| t.worker.is_some()));
    assert_no_child_left("a run with --cpu-us");
}

/// The model returns the pool's statistics: one entry per worker started,
/// every page and every body byte that came back through a pipe, and a
/// clean exit with the worker's own bill for each.
fn stats_account_for_every_worker() {
    let server = Server::start(ServerConfig {
        latency: Duration::from_millis(5),
        ..ServerConfig::default()
    })
    .unwrap();
    let mut plan = Plan::new(&server.url(), 7).unwrap();
    plan.workers = Some(3);
    let (traces, stats) = multi_process::process_way(&plan);
    assert_eq!(traces.iter().filter(|t| t.is_ok()).count(), 7);
    assert_eq!(stats.spawn_error, None);
    let ids: Vec<usize> = stats.workers.iter().map(|w| w.id).collect();
    assert_eq!(ids, vec![0, 1, 2]);
    assert_eq!(stats.workers.iter().map(|w| w.pages).sum::<usize>(), 7);
    let piped: u64 = stats.workers.iter().map(|w| w.piped_bytes).sum();
    let fetched: u64 = traces.iter().filter_map(|t| t.bytes).sum();
    assert_eq!(piped, fetched);
    for w in &stats.workers {
        assert!(w.ended_ok, "{w:?}");
        assert!(w.usage.is_some(), "worker {} sent no goodbye", w.id);
        assert!(w.ready_ms.is_some() && w.exit_ms.is_some(), "{w:?}");
    }
    assert_no_child_left("process_way");
}

/// SIGKILL one worker while every page is in flight: its page fails with a
/// named error that says which worker died and how; the others arrive.
fn killed_worker_fails_only_its_page() {
    let (report, victim) = with_every_page_in_flight(4, Duration::from_secs(10), |workers| {
        let victim = workers[2];
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(victim as i32),
            nix::sys::signal::Signal::SIGKILL,
        )
        .unwrap();
        victim
    });
    let failed: Vec<_> = report.failures().collect();
    assert_eq!(
        failed.len(),
        1,
        "only the killed worker's page fails: {failed:?}"
    );
    let t = failed[0];
    assert_eq!(t.error_kind(), Some(ErrorKind::Io), "{t:?}");
    let error = t.error.as_ref().map(|e| e.detail.as_str()).unwrap();
    assert!(
        error.contains(&format!("(pid {victim}) died: killed by SIGKILL")),
        "{error}"
    );
    assert_eq!(report.ok, 3);
    assert_no_child_left("a run with a killed worker");
}

/// SIGSTOP one worker: it can no longer keep its own deadline, so the
/// parent's watchdog kills it and its page fails as a timeout.
fn stopped_worker_is_killed_by_the_watchdog() {
    let (report, victim) = with_every_page_in_flight(3, Duration::from_millis(1500), |workers| {
        let victim = workers[0];
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(victim as i32),
            nix::sys::signal::Signal::SIGSTOP,
        )
        .unwrap();
        victim
    });
    let failed: Vec<_> = report.failures().collect();
    assert_eq!(failed.len(), 1, "{failed:?}");
    let t = failed[0];
    assert_eq!(t.error_kind(), Some(ErrorKind::Timeout), "{t:?}");
    let error = t.error.as_ref().map(|e| e.detail.as_str()).unwrap();
    assert!(
        error.contains(&format!("(pid {victim}) did not report its page")),
        "{error}"
    );
    assert_eq!(report.ok, 2);
    assert_no_child_left("a run with a stopped worker");
}

/// Runs where every page fails still reap every worker.
fn failed_runs_leave_no_child() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let report = run(Plan::new(&format!("http://127.0.0.1:{port}"), 5).unwrap());
    assert_eq!(report.failed, 5);
    assert_no_child_left("a refused run");

    let server = ScenarioServer::start(Conn::hold);
    let mut plan = Plan::new(&server.url(), 3).unwrap();
    plan.timeout = Duration::from_millis(300);
    let report = run(plan);
    assert!(report
        .traces
        .iter()
        .all(|t| t.error_kind() == Some(ErrorKind::Timeout)));
    assert_no_child_left("a run of timeouts");
}

/// With no descriptor left for the pipes, not one worker starts: every page
/// fails as `resource`, saying why, and the run still ends.
fn no_worker_can_start() {
    use nix::sys::resource::{getrlimit, setrlimit, Resource};
    let plan = Plan::new("http://127.0.0.1:9", 3).unwrap();
    let open: Vec<u64> = std::fs::read_dir("/proc/self/fd")
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_string_lossy().parse().ok())
        .collect();
    let lowest_free = (0..).find(|n| !open.contains(n)).unwrap();
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE).unwrap();
    // A new descriptor must be below the limit, and every one below it is
    // taken: pipe() fails with EMFILE.
    setrlimit(Resource::RLIMIT_NOFILE, lowest_free, hard).unwrap();
    let report = std::panic::catch_unwind(|| run(plan));
    setrlimit(Resource::RLIMIT_NOFILE, soft, hard).unwrap();
    let report = report.unwrap();
    assert_eq!(report.failed, 3);
    for t in &report.traces {
        assert_eq!(t.error_kind(), Some(ErrorKind::Resource), "{t:?}");
        let e = t.error.as_ref().map(|e| e.detail.as_str()).unwrap();
        assert!(e.contains("cannot start worker 0"), "{e}");
    }
    assert_no_child_left("a pool that could not start");
}

/// SIGKILL the lesson's binary in the middle of a run: it cannot clean up,
/// so its workers must go by themselves (the kernel's parent-death signal).
/// The server is ours and holds every page, so nothing else would wake them.
///
/// Orphans are adopted by the nearest "subreaper", normally PID 1. This
/// test makes itself one, so the orphaned workers become its children: it
/// sees them exit and reaps them itself instead of leaving them to PID 1.
fn killed_parent_leaves_no_orphan() {
    use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
    nix::sys::prctl::set_child_subreaper(true).unwrap();
    let server = ScenarioServer::start(Conn::hold);
    let mut parent = Command::new(env!("CARGO_BIN_EXE_multi_process"))
        .args([
            "--pages",
            "3",
            "--timeout-ms",
            "60000",
            "--json",
            "--url",
            &server.url(),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let pid = parent.id();
    wait_for(
        "the binary's three pages in flight",
        Duration::from_secs(20),
        || (server.requests() == 3).then_some(()),
    );
    assert_eq!(workers_of(pid).len(), 3);
    parent.kill().unwrap();
    parent.wait().unwrap();
    let mut reaped = 0;
    wait_for(
        "the orphaned workers to go",
        Duration::from_secs(10),
        || {
            // Adopted workers that have exited: collect them.
            while let Ok(WaitStatus::Signaled(..) | WaitStatus::Exited(..)) =
                waitpid(None, Some(WaitPidFlag::WNOHANG))
            {
                reaped += 1;
            }
            (workers_of(pid).is_empty() && children_of(std::process::id()).is_empty()).then_some(())
        },
    );
    nix::sys::prctl::set_child_subreaper(false).unwrap();
    assert_eq!(
        reaped, 3,
        "the three workers were adopted by this test and reaped"
    );
    assert_no_child_left("a killed parent");
}

/// The binary: exactly one JSON object on stdout, the pool's story on stderr.
fn binary_json_and_show_pool() {
    let out = Command::new(env!("CARGO_BIN_EXE_multi_process"))
        .args([
            "--pages",
            "4",
            "--latency-ms",
            "10",
            "--json",
            "--show-pool",
            "workers",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Report = serde_json::from_slice(&out.stdout).expect("stdout is one JSON report");
    assert_eq!((report.ok, report.in_flight), (4, 4));
    assert!(report.traces.iter().all(|t| t.worker.is_some()));
    let stderr = String::from_utf8_lossy(&out.stderr);
    for needle in [
        "pool: 4 worker processes",
        "start-up:",
        "memory per worker",
        "pipe: 4 results",
    ] {
        assert!(
            stderr.contains(needle),
            "stderr lacks '{needle}':\n{stderr}"
        );
    }
    assert_no_child_left("the binary");
}
