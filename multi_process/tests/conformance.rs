//! The shared conformance suite, run against every variant of this lesson.
//!
//! Why not `conformance::tests!(multi_process::LESSON);` like the
//! other lessons: the pool's workers are *this test binary*, started again
//! with `--multi-process-worker`. Only a `main` of our own can hand the
//! start of the process to the lesson's worker hook (`workload::enter`)
//! before anything else; libtest's generated `main` would instead reject
//! the flag (and, were it to run, print "running N tests" into the pipe
//! that carries our frames), and `Lesson::run` refuses to start a pool in
//! a program that never called `enter`. So this file is a test with
//! `harness = false` (see Cargo.toml): it serves as a worker when asked
//! to, and otherwise runs workload's runner, which prints one line per
//! scenario and `N passed, M failed` at the end.
//!
//! `cargo test -p multi_process --test conformance -- drip` runs only the
//! scenarios whose name contains "drip".

fn main() -> std::process::ExitCode {
    workload::enter(&[&multi_process::LESSON]);
    conformance::run_all(&multi_process::LESSON)
}
