//! The measuring harness's shared parts, used by `cargo bench`
//! (`benches/lessons.rs`) and by the `sweep` subcommand (`src/sweep.rs`):
//!
//! - [`LESSONS`]: the seven lesson tables, the only list of lessons; every
//!   variant is read from the tables themselves, so a lesson or a variant
//!   that lands shows up in the tables with no change here;
//! - [`bench`]: the seed-style table of `cargo bench`, as text, Markdown,
//!   JSON and an SVG bar chart;
//! - [`child`]: run a lesson binary as a child process and account for it
//!   from the kernel's side (`wait4`'s rusage), with a time limit;
//! - [`charts`]: the SVG pictures (plotters);
//! - [`seed`]: the Python seed's own figures, normalised like ours;
//! - [`paths`], [`machine`], [`table`]: where reports go, what machine this
//!   is, and Markdown tables.

pub mod bench;
pub mod charts;
pub mod child;
pub mod machine;
pub mod paths;
pub mod seed;
pub mod table;

use workload::Lesson;

/// The seven lessons in classroom order. A lesson that has not landed yet
/// has an empty `variants` table: the tables leave it out with a note.
pub static LESSONS: [&Lesson; 7] = [
    &sync_blocking::LESSON,
    &multi_process::LESSON,
    &multi_thread::LESSON,
    &nonblocking_poll::LESSON,
    &callback_loop::LESSON,
    &coroutine::LESSON,
    &async_await::LESSON,
];

/// The lesson called `name`.
pub fn lesson(name: &str) -> Option<&'static Lesson> {
    LESSONS.iter().copied().find(|l| l.name == name)
}

/// A lesson has landed when its table lists at least one variant.
pub fn landed(lesson: &Lesson) -> bool {
    !lesson.variants.is_empty()
}

/// The lessons that have not landed yet, for the notes under the tables.
pub fn not_landed() -> Vec<&'static str> {
    LESSONS
        .iter()
        .filter(|l| !landed(l))
        .map(|l| l.name)
        .collect()
}

/// The median of some measurements (the mean of the middle two for an even
/// count); `None` for none.
pub fn median(values: &[f64]) -> Option<f64> {
    let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let mid = v.len() / 2;
    Some(if v.len() % 2 == 1 {
        v[mid]
    } else {
        (v[mid - 1] + v[mid]) / 2.0
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_of_odd_even_and_empty() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), Some(2.5));
        assert_eq!(median(&[]), None);
        assert_eq!(median(&[f64::NAN, 5.0]), Some(5.0));
    }

    #[test]
    fn every_lesson_is_listed_once_in_classroom_order() {
        let names: Vec<&str> = LESSONS.iter().map(|l| l.name).collect();
        assert_eq!(names[0], "sync_blocking");
        assert_eq!(names[6], "async_await");
        let mut unique = names.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), 7);
        assert!(landed(lesson("sync_blocking").unwrap()));
        assert!(lesson("no_such_lesson").is_none());
    }
}
