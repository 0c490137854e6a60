//! The shared conformance suite, run against every variant of this lesson.
conformance::tests!(sync_blocking::LESSON);
