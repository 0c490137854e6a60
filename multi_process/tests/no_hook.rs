//! What happens when a binary forgets `serve_if_worker()`: this is an
//! ordinary libtest binary, whose generated `main` cannot call it. The pool
//! starts its workers (this binary again, with `--multi-process-worker`),
//! libtest rejects the unknown option and exits, and the run must end with
//! every page failed by name, saying what to fix, and no child left behind.

use multi_process::LESSON;
use std::time::Duration;
use workload::{ErrorKind, Plan, Server, ServerConfig};

#[test]
fn a_binary_without_the_hook_fails_every_page_clearly() {
    let server = Server::start(ServerConfig {
        latency: Duration::ZERO,
        ..ServerConfig::default()
    })
    .unwrap();
    let plan = Plan::new(&server.url(), 3).unwrap();
    let report = conformance::run_checked(&LESSON, LESSON.default_variant(), plan);
    assert_eq!(report.failed, 3);
    for t in &report.traces {
        assert_eq!(t.error_kind(), Some(ErrorKind::Resource), "{t:?}");
        let e = t.error.as_ref().map(|e| e.detail.as_str()).unwrap();
        assert!(e.contains("before it said ready"), "{e}");
        assert!(e.contains("serve_if_worker"), "{e}");
    }
    assert_eq!(server.served(), 0, "no worker ever fetched");
    // Every worker was waited for: no zombie child of this process.
    let me = std::process::id().to_string();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        if let Ok(stat) = std::fs::read_to_string(e.path().join("stat")) {
            let after = &stat[stat.rfind(')').map_or(0, |i| i + 1)..];
            assert_ne!(
                after.split_whitespace().nth(1),
                Some(me.as_str()),
                "child left: {stat}"
            );
        }
    }
}
