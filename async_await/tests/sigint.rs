//! Ctrl-C is tokio's only while a run lasts: afterwards SIGINT's disposition
//! is what it was before, so a test binary or a benchmark that ran the
//! lesson can still be stopped with Ctrl-C. (Its own test binary: the check
//! must not see another test's run in progress.)

use nix::libc;

fn sigint_handler() -> libc::sighandler_t {
    // SAFETY: a null new action only reads the disposition into `old`, a
    // zero-initialised plain C struct that outlives the call.
    unsafe {
        let mut old: libc::sigaction = std::mem::zeroed();
        assert_eq!(libc::sigaction(libc::SIGINT, std::ptr::null(), &mut old), 0);
        old.sa_sigaction
    }
}

#[test]
fn sigint_is_given_back_after_a_run() {
    let server = workload::Server::start(workload::ServerConfig {
        latency: std::time::Duration::ZERO,
        ..Default::default()
    })
    .unwrap();
    let before = sigint_handler();
    for name in ["tokio", "tokio-mt"] {
        let variant = async_await::LESSON.variant(name).unwrap();
        let plan = workload::Plan::new(&server.url(), 2).unwrap();
        let report = async_await::LESSON.run(variant, &plan, None);
        assert_eq!(report.ok, 2, "{name}");
        assert_eq!(sigint_handler(), before, "{name} left its SIGINT handler");
    }
}
