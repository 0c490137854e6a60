//! The hostile-client suite, against every server of this lesson.
conformance::serve_tests!(env!("CARGO_BIN_EXE_callback_loop"), callback_loop::LESSON);
