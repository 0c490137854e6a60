//! Lesson 3: thread pools and their pitfalls (the seed's ThreadPoolExecutor).
//!
//! Not written yet (issue #3): the table has no variants, so the
//! binary says so and the benchmark leaves the lesson out.

pub const LESSON: workload::Lesson = workload::Lesson {
    name: "multi_thread",
    about: "Lesson 3: thread pools and their pitfalls (the seed's ThreadPoolExecutor)",
    variants: &[],
    flags: &[],
};
