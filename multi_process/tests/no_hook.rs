//! What happens when a program forgets `workload::enter`: this is an
//! ordinary libtest binary, whose generated `main` cannot call it. Were
//! the pool to start its workers (this binary again, with
//! `--multi-process-worker`), libtest would reject the unknown option and
//! every worker would die at once. Instead the lesson is refused before
//! any worker starts, with a message that says what to fix: `Lesson::run`
//! panics, and the prefork server returns an error.

use multi_process::LESSON;
use std::time::Duration;
use workload::serve::{ServeConfig, Serving};
use workload::{Plan, Server, ServerConfig};

#[test]
fn a_program_without_the_hook_is_told_what_to_fix() {
    let server = Server::start(ServerConfig {
        latency: Duration::ZERO,
        ..ServerConfig::default()
    })
    .unwrap();
    let plan = Plan::new(&server.url(), 3).unwrap();
    let refused = std::panic::catch_unwind(|| LESSON.run(LESSON.default_variant(), &plan, None));
    let message = refused.expect_err("refused before any worker starts");
    let text = message
        .downcast_ref::<String>()
        .cloned()
        .unwrap_or_default();
    assert!(
        text.contains("multi_process re-runs this program as its workers"),
        "{text}"
    );
    assert!(text.contains("workload::enter"), "{text}");
    assert_eq!(server.served(), 0, "no worker ever fetched");

    let serving = Serving::bind_local(ServeConfig::default()).unwrap();
    let e = (LESSON.servers[0].serve)(serving).expect_err("refused before any worker starts");
    assert!(e.to_string().contains("workload::enter"), "{e}");

    // No worker was ever started: this process has no child.
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
