//! The shared conformance suite, run against every variant of this lesson.
//!
//! Why not `workload::conformance_tests!(multi_process::LESSON);` like the
//! other lessons: the pool's workers are *this test binary*, started again
//! with `--multi-process-worker`. Only a `main` of our own can call
//! `serve_if_worker()` before anything else; libtest's generated `main`
//! would instead reject the flag (and, were it to run, print "running N
//! tests" into the pipe that carries our frames). So this file is a test
//! with `harness = false` (see Cargo.toml): it serves as a worker when asked
//! to, and otherwise runs each scenario in turn, catching its panic, and
//! prints one line per scenario and `N passed, M failed` at the end.
//!
//! `cargo test -p multi_process --test conformance -- drip` runs only the
//! scenarios whose name contains "drip".

use std::process::ExitCode;
use std::time::Instant;
use workload::conformance as c;
use workload::Lesson;

type Scenario = (&'static str, fn(&'static Lesson));

const SCENARIOS: &[Scenario] = &[
    ("good_pages", c::good_pages),
    ("empty_pages", c::empty_pages),
    ("not_found", c::not_found),
    ("server_error", c::server_error),
    ("redirect", c::redirect),
    ("reset_mid_body", c::reset_mid_body),
    ("short_body", c::short_body),
    ("no_content_length", c::no_content_length),
    ("chunked", c::chunked),
    ("drip", c::drip),
    ("drip_past_timeout", c::drip_past_timeout),
    ("garbage", c::garbage),
    ("bad_status_line", c::bad_status_line),
    ("endless_headers", c::endless_headers),
    ("huge_body", c::huge_body),
    ("black_hole", c::black_hole),
    ("silent_close", c::silent_close),
    ("unsupported_coding", c::unsupported_coding),
    ("refused", c::refused),
    ("one_bad_page", c::one_bad_page),
    ("one_silent_page", c::one_silent_page),
];

fn main() -> ExitCode {
    multi_process::serve_if_worker();
    run_all("conformance", SCENARIOS, &multi_process::LESSON)
}

/// Run the scenarios whose names contain every filter argument; one line each.
fn run_all(suite: &str, scenarios: &[Scenario], lesson: &'static Lesson) -> ExitCode {
    let filters: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let chosen: Vec<&Scenario> = scenarios
        .iter()
        .filter(|(name, _)| filters.iter().all(|f| name.contains(f.as_str())))
        .collect();
    println!(
        "{suite}: {} scenarios against {}",
        chosen.len(),
        lesson.name
    );
    let (mut passed, mut failed) = (0, 0);
    for (name, scenario) in chosen {
        let started = Instant::now();
        // A scenario reports failure by panicking (assert!); the panic
        // message is printed by the default hook on stderr.
        let outcome = std::panic::catch_unwind(|| scenario(lesson));
        let took = started.elapsed().as_millis();
        match outcome {
            Ok(()) => {
                passed += 1;
                println!("test {name} ... ok ({took} ms)");
            }
            Err(_) => {
                failed += 1;
                println!("test {name} ... FAILED ({took} ms)");
            }
        }
    }
    println!("{passed} passed, {failed} failed");
    if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
