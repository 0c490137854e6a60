//! A lesson that re-runs its program as workers (a process pool) is
//! refused by a program that never gave it the process start with
//! `workload::enter`: the mistake is named instead of breaking the
//! workers silently. Its own test binary, so that no other test has
//! called `enter` in this process first.

use workload::{Concurrency, Flags, Lesson, Plan, Trace, Variant};

fn no_pages(_: &Plan) -> Vec<Trace> {
    Vec::new()
}

fn a_worker_hook() {}

const POOLED: Lesson = Lesson {
    name: "pooled",
    about: "re-runs its program as workers",
    variants: &[Variant::new("v", "v", Concurrency::One, no_pages)],
    flags: Flags::NONE,
    servers: &[],
    worker: Some(a_worker_hook),
};

#[test]
fn a_lesson_with_workers_is_refused_until_the_program_enters() {
    let plan = Plan::new("http://127.0.0.1:1", 1).unwrap();
    let refused = std::panic::catch_unwind(|| POOLED.run(&POOLED.variants[0], &plan, None));
    let message = refused.expect_err("refused before enter");
    let text = message
        .downcast_ref::<String>()
        .cloned()
        .unwrap_or_default();
    assert!(text.contains("pooled re-runs this program"), "{text}");
    assert!(text.contains("workload::enter"), "{text}");

    workload::enter(&[&POOLED]);
    assert_eq!(POOLED.run(&POOLED.variants[0], &plan, None).pages, 1);
}
