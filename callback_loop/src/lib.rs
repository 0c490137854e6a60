//! Lesson 5: a readiness selector, callbacks and an event loop (select / poll / epoll).
//!
//! Not written yet (issue #4): the table has no variants, so the
//! binary says so and the benchmark leaves the lesson out.

pub const LESSON: workload::Lesson = workload::Lesson {
    name: "callback_loop",
    about: "Lesson 5: a readiness selector, callbacks and an event loop (select / poll / epoll)",
    variants: &[],
    flags: &[],
};
