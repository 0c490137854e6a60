//! The shared conformance suite, run against every variant of this lesson.
conformance::tests!(async_await::LESSON);
