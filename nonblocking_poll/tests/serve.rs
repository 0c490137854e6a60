//! The hostile-client suite, against every server of this lesson.
conformance::serve_tests!(
    env!("CARGO_BIN_EXE_nonblocking_poll"),
    nonblocking_poll::LESSON
);
