//! The hostile-client suite against every server of the lesson (where
//! io_uring cannot be used, each scenario says why and passes).
conformance::serve_tests!(env!("CARGO_BIN_EXE_completion"), completion::LESSON);
