//! The tutorial's own figures (《深入理解 Python 异步编程（上）》: ten pages
//! of example.com over the Internet, each version timed by its author),
//! normalised like ours so a reader can compare the shape of the two
//! tables although the latencies differ.
//!
//! The figures themselves sit on the variants that port them
//! (`variant.tutorial`); all this module knows is the tutorial's page
//! count and its latency per page, inferred from the baseline's figure.

use crate::LESSONS;
use workload::{Concurrency, TutorialFigure, Variant};

/// Pages the tutorial fetched.
pub const PAGES: usize = 10;

/// The tutorial's time for the baseline (blocking) program, from the table.
pub fn baseline_s() -> Option<f64> {
    LESSONS
        .iter()
        .flat_map(|l| l.variants)
        .find(|v| v.baseline)
        .and_then(|v| v.tutorial)
        .map(|f| f.seconds)
}

/// The tutorial's latency per page: its baseline fetched the pages one
/// after another, so each took baseline / pages (4.5 s / 10 = 0.45 s).
pub fn latency_s() -> Option<f64> {
    baseline_s().map(|b| b / PAGES as f64)
}

/// A tutorial figure beside the variant that ports it.
#[derive(Debug, Clone, Copy)]
pub struct Figure {
    pub figure: TutorialFigure,
    /// It fetched one page after another (its ideal is ten latencies).
    pub sequential: bool,
}

impl Figure {
    /// The tutorial's figure for `variant`, if its table entry has one.
    pub fn of(variant: &Variant) -> Option<Figure> {
        variant.tutorial.map(|figure| Figure {
            figure,
            sequential: variant.concurrency == Concurrency::One,
        })
    }

    /// The tutorial program's ideal, as ours: ten latencies one after
    /// another, or one latency with every page in flight.
    pub fn ideal_s(&self) -> Option<f64> {
        let rounds = if self.sequential { PAGES } else { 1 };
        latency_s().map(|l| l * rounds as f64)
    }

    /// time / ideal (below 1 where the Internet was kinder than average).
    pub fn x_ideal(&self) -> Option<f64> {
        self.ideal_s().map(|i| self.figure.seconds / i)
    }

    /// time / the tutorial's blocking time.
    pub fn x_blocking(&self) -> Option<f64> {
        baseline_s().map(|b| self.figure.seconds / b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn figure(label: &'static str, seconds: f64, concurrency: Concurrency) -> Figure {
        let v = Variant::new("v", "", concurrency, |_| Vec::new()).tutorial(label, seconds);
        Figure::of(&v).unwrap()
    }

    #[test]
    fn the_tutorial_normalises_like_ours() {
        let base = baseline_s().expect("the baseline variant carries the tutorial's figure");
        let blocking = figure("blocking", base, Concurrency::One);
        assert!((blocking.x_ideal().unwrap() - 1.0).abs() < 1e-9);
        assert!((blocking.x_blocking().unwrap() - 1.0).abs() < 1e-9);
        let processes = figure("processes", 0.6, Concurrency::Workers { default_max: 100 });
        let latency = base / PAGES as f64;
        assert!((processes.x_ideal().unwrap() - 0.6 / latency).abs() < 1e-9);
        assert!((processes.x_blocking().unwrap() - 0.6 / base).abs() < 1e-9);
        let busy = figure("busy-poll", 4.3, Concurrency::One);
        assert!((busy.ideal_s().unwrap() - base).abs() < 1e-9);
        let none = Variant::new("v", "", Concurrency::All, |_| Vec::new());
        assert!(Figure::of(&none).is_none());
    }

    #[test]
    fn exactly_one_variant_is_the_baseline() {
        let baselines = LESSONS
            .iter()
            .flat_map(|l| l.variants)
            .filter(|v| v.baseline)
            .count();
        assert_eq!(baselines, 1);
    }
}
