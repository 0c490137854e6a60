//! The Python seed's own results (`../shared/seeds/004_*.txt`): ten pages of
//! example.com over the real Internet, each version timed by its author.
//! They are printed beside ours, normalised the same way, so a reader can
//! compare the shape of the two tables although the latencies differ.

use workload::Lesson;

/// Pages the seed fetched.
pub const PAGES: usize = 10;

/// One of the seed's timings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SeedFigure {
    /// What the seed called it.
    pub label: &'static str,
    /// Its total time for the ten pages, in seconds.
    pub seconds: f64,
    /// It fetched one page after another (its ideal is ten latencies).
    pub sequential: bool,
    /// The lesson that ports it.
    pub lesson: &'static str,
    /// The variant it corresponds to, when the lesson has such a variant;
    /// otherwise the figure goes beside the lesson's default variant.
    pub variant: Option<&'static str>,
}

/// The seed's table. The generator-coroutine version (hand-made Future,
/// Task and event loop) is the ancestor of both the stackful `coroutine`
/// lesson and the hand-built `mini` runtime of `async_await`.
pub const FIGURES: [SeedFigure; 7] = [
    fig("blocking", 4.5, true, "sync_blocking", None),
    fig("processes", 0.6, false, "multi_process", None),
    fig("threads", 0.43, false, "multi_thread", Some("pool")),
    fig(
        "busy-poll",
        4.3,
        true,
        "nonblocking_poll",
        Some("sequential"),
    ),
    fig(
        "epoll + callbacks",
        0.45,
        false,
        "callback_loop",
        Some("epoll"),
    ),
    fig("generator coroutines", 0.43, false, "coroutine", None),
    fig(
        "generator coroutines",
        0.43,
        false,
        "async_await",
        Some("mini"),
    ),
];

const fn fig(
    label: &'static str,
    seconds: f64,
    sequential: bool,
    lesson: &'static str,
    variant: Option<&'static str>,
) -> SeedFigure {
    SeedFigure {
        label,
        seconds,
        sequential,
        lesson,
        variant,
    }
}

/// The seed's blocking time.
pub fn blocking_s() -> f64 {
    FIGURES[0].seconds
}

/// The seed's latency per page, inferred from its blocking run: ten pages
/// one after another took 4.5 s, so one page took 0.45 s.
pub fn latency_s() -> f64 {
    blocking_s() / PAGES as f64
}

impl SeedFigure {
    /// The seed version's ideal, as ours: ten latencies one after another,
    /// or one latency with every page in flight.
    pub fn ideal_s(&self) -> f64 {
        if self.sequential {
            latency_s() * PAGES as f64
        } else {
            latency_s()
        }
    }

    /// time / ideal (below 1 where the Internet was kinder than average).
    pub fn x_ideal(&self) -> f64 {
        self.seconds / self.ideal_s()
    }

    /// time / the seed's blocking time.
    pub fn x_blocking(&self) -> f64 {
        self.seconds / blocking_s()
    }
}

/// The seed figure to print beside `variant` of `lesson`, if any.
pub fn for_variant(lesson: &Lesson, variant: &str) -> Option<&'static SeedFigure> {
    FIGURES.iter().find(|f| {
        f.lesson == lesson.name
            && match f.variant {
                Some(v) if lesson.variant(v).is_some() => v == variant,
                _ => lesson.variants.first().is_some_and(|d| d.name == variant),
            }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_seed_normalises_like_ours() {
        let blocking = &FIGURES[0];
        assert!((blocking.x_ideal() - 1.0).abs() < 1e-9);
        assert!((blocking.x_blocking() - 1.0).abs() < 1e-9);
        let processes = &FIGURES[1];
        assert!((processes.x_ideal() - 0.6 / 0.45).abs() < 1e-9);
        assert!((processes.x_blocking() - 0.6 / 4.5).abs() < 1e-9);
        let busy = &FIGURES[3];
        assert!((busy.ideal_s() - 4.5).abs() < 1e-9);
    }

    #[test]
    fn figures_go_beside_the_matching_variant_or_the_default() {
        let blocking = crate::lesson("sync_blocking").unwrap();
        let first = blocking.variants[0].name;
        assert_eq!(for_variant(blocking, first).unwrap().label, "blocking");
        assert!(for_variant(blocking, "no-such-variant").is_none());
        // every figure names a real lesson
        for f in &FIGURES {
            assert!(crate::lesson(f.lesson).is_some(), "{}", f.lesson);
        }
    }
}
