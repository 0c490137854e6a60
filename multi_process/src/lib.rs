//! Lesson 2: a pool of worker processes (the seed's ProcessPoolExecutor).
//!
//! Not written yet (issue #3): the table has no variants, so the
//! binary says so and the benchmark leaves the lesson out.

pub const LESSON: workload::Lesson = workload::Lesson {
    name: "multi_process",
    about: "Lesson 2: a pool of worker processes (the seed's ProcessPoolExecutor)",
    variants: &[],
    flags: &[],
};
