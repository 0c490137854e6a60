//! Lesson 4: non-blocking sockets and busy polling.
//!
//! Not written yet (issue #4): the table has no variants, so the
//! binary says so and the benchmark leaves the lesson out.

pub const LESSON: workload::Lesson = workload::Lesson {
    name: "nonblocking_poll",
    about: "Lesson 4: non-blocking sockets and busy polling",
    variants: &[],
    flags: &[],
};
