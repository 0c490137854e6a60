//! The shared conformance suite, run against every variant of this lesson.
conformance::tests!(multi_thread::LESSON);
