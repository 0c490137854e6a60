//! Lesson 6: stackful coroutines with may.
//!
//! Not written yet (issue #5): the table has no variants, so the
//! binary says so and the benchmark leaves the lesson out.

pub const LESSON: workload::Lesson = workload::Lesson {
    name: "coroutine",
    about: "Lesson 6: stackful coroutines with may",
    variants: &[],
    flags: &[],
};
