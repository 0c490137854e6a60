//! Lesson 7: futures and async/await: tokio, reqwest, and a runtime built by hand.
//!
//! Not written yet (issue #5): the table has no variants, so the
//! binary says so and the benchmark leaves the lesson out.

pub const LESSON: workload::Lesson = workload::Lesson {
    name: "async_await",
    about: "Lesson 7: futures and async/await: tokio, reqwest, and a runtime built by hand",
    variants: &[],
    flags: &[],
};
