//! The shared conformance suite, run against every variant of this lesson.
workload::conformance_tests!(coroutine::LESSON);
