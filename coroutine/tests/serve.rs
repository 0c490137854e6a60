//! The hostile-client suite against every server of the lesson.
conformance::serve_tests!(env!("CARGO_BIN_EXE_coroutine"), coroutine::LESSON);
