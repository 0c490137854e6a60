//! What the commands' reports share: the conditions of the measuring (the
//! machine, the load average before and after, the time it took), said in
//! a report's first lines.

use crate::machine;
use std::time::{Duration, Instant};

/// The start of the measuring: when, and the load average then.
#[derive(Debug)]
pub struct Start {
    at: Instant,
    load_before: Option<f64>,
}

/// Where and how the measuring ran, for the report.
#[derive(Debug, Clone)]
pub struct Conditions {
    /// [`machine::describe`].
    pub machine: String,
    pub load_before: Option<f64>,
    pub load_after: Option<f64>,
    pub took: Duration,
}

impl Start {
    pub fn now() -> Start {
        Start {
            at: Instant::now(),
            load_before: machine::load_average(),
        }
    }

    /// The conditions, read at the end of the measuring.
    pub fn end(self) -> Conditions {
        Conditions {
            machine: machine::describe(),
            load_before: self.load_before,
            load_after: machine::load_average(),
            took: self.at.elapsed(),
        }
    }
}

impl Conditions {
    /// "Measured on MACHINE on DATE; load average B at the start and A at
    /// the end; S s in all."
    pub fn sentence(&self) -> String {
        let load = |l: Option<f64>| l.map_or("?".into(), |l| format!("{l:.2}"));
        format!(
            "Measured on {} on {}; load average {} at the start and {} at the end; {:.0} s in all.",
            self.machine,
            machine::today(),
            load(self.load_before),
            load(self.load_after),
            self.took.as_secs_f64(),
        )
    }
}
