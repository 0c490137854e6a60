//! What the commands' reports share: the conditions of the measuring (the
//! machine, the load average before and after, the time it took), said in
//! a report's first lines; the writing of `<name>.md`, `<name>.json` and
//! the charts; and what the terminal is told at the end.

use crate::machine;
use crate::outdir::OutDir;
use crate::paths;
use anyhow::Result;
use std::path::PathBuf;
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

/// Write `<name>.md`, then `<name>.json` (pretty), then the charts (file
/// name, SVG) into `out`; the paths written.
pub fn write(
    out: &OutDir,
    name: &str,
    markdown: String,
    json: &serde_json::Value,
    charts: impl FnOnce() -> Result<Vec<(String, String)>>,
) -> Result<Vec<PathBuf>> {
    let mut files = vec![
        out.write(&format!("{name}.md"), markdown)?,
        out.write(&format!("{name}.json"), serde_json::to_string_pretty(json)?)?,
    ];
    for (file, svg) in charts()? {
        files.push(out.write(&file, svg)?);
    }
    Ok(files)
}

/// Print `table`, then a "wrote PATH" line for every file.
pub fn announce(table: &str, files: &[PathBuf]) {
    println!("{table}");
    for f in files {
        println!("wrote {}", paths::display(f));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_conditions_make_one_sentence() {
        let c = Conditions {
            machine: "a machine".into(),
            load_before: None,
            load_after: Some(1.25),
            took: Duration::from_millis(98_765),
        };
        let s = c.sentence();
        assert!(s.starts_with("Measured on a machine on "), "{s}");
        assert!(
            s.ends_with("; load average ? at the start and 1.25 at the end; 99 s in all."),
            "{s}"
        );
    }
}
