//! The shared conformance suite against every variant of the lesson. Where
//! io_uring cannot be used, each test says why and passes without running
//! (there is no lesson to check there).

conformance::tests!(*match completion::probe() {
    Ok(()) => &completion::LESSON,
    Err(why) => {
        eprintln!("skipped: {why}");
        return;
    }
});
