//! The shared conformance suite, run against every variant of this lesson.
conformance::tests!(nonblocking_poll::LESSON);
