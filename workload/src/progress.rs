//! The progress bar on stderr: drawn when the plan says there is a
//! terminal to draw on and no `--json`; otherwise hidden, still counting.

use crate::plan::Plan;
use indicatif::{ProgressBar, ProgressStyle};

/// A bar of `plan.pages` pages, or a hidden one that costs nothing to tick.
pub fn bar(plan: &Plan) -> ProgressBar {
    if !plan.progress {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(plan.pages as u64);
    if let Ok(style) = ProgressStyle::with_template("{bar:40} {pos}/{len} pages {elapsed} {msg}") {
        bar.set_style(style);
    }
    bar
}
