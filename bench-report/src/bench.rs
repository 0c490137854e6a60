//! The table `cargo bench` ends with: every lesson and variant on the same
//! pages, its median time, how far from the ideal, how much of the
//! baseline's (blocking) time is left, and the tutorial's own figure
//! normalised the same way. Written as text (printed), Markdown, JSON and
//! an SVG bar chart.

use crate::charts::{self, Bar};
use crate::numbers::{median, ms, opt, ratio};
use crate::outdir::OutDir;
use crate::table::Table;
use crate::tutorial::{self, Figure};
use crate::LESSONS;
use anyhow::Result;
use std::path::PathBuf;
use workload::{Lesson, Plan, Report, Variant};

/// One lesson variant's runs.
#[derive(Debug)]
pub struct Row {
    pub lesson: &'static Lesson,
    pub variant: &'static Variant,
    /// Pages in flight, from the variant's concurrency.
    pub in_flight: usize,
    pub ideal_ms: f64,
    /// The variant's own check: `Err(why)` and the bench skips it.
    pub available: Result<(), String>,
    /// Every measured run.
    pub runs: Vec<Report>,
}

impl Row {
    /// The runs in which every page was fetched: only they are timed (a
    /// run that failed fast is not a fast run).
    pub fn clean_runs(&self) -> impl Iterator<Item = &Report> {
        self.runs
            .iter()
            .filter(|r| r.failed == 0 && r.ok == r.pages)
    }

    pub fn median_ms(&self) -> Option<f64> {
        median(&self.clean_runs().map(|r| r.wall_ms).collect::<Vec<_>>())
    }

    pub fn cpu_ms(&self) -> Option<f64> {
        median(&self.clean_runs().map(|r| r.cpu_ms).collect::<Vec<_>>())
    }

    pub fn x_ideal(&self) -> Option<f64> {
        self.median_ms().map(|m| m / self.ideal_ms)
    }

    /// Runs in which some page failed, and the first failure seen.
    pub fn failures(&self) -> (usize, Option<String>) {
        let failed: Vec<&Report> = self
            .runs
            .iter()
            .filter(|r| r.failed > 0 || r.ok != r.pages)
            .collect();
        let first = failed.first().map(|r| match r.failures().next() {
            Some(t) => {
                let e = t
                    .error
                    .as_ref()
                    .map_or("not finished".to_string(), |e| e.to_string());
                let short: String = e.chars().take(100).collect();
                if short.len() < e.len() {
                    format!("{short}...")
                } else {
                    short
                }
            }
            None => format!("{} of {} pages reported", r.traces.len(), r.pages),
        });
        (failed.len(), first)
    }

    fn tutorial(&self) -> Option<Figure> {
        Figure::of(self.variant)
    }

    /// Why the row has no time, or which runs were left out; empty for a
    /// clean row.
    pub fn note(&self) -> String {
        let (failed, first) = self.failures();
        if let Err(why) = &self.available {
            format!("not available here: {why}")
        } else if self.runs.is_empty() {
            "not run (filtered out)".to_string()
        } else if failed > 0 {
            format!(
                "{failed} of {} runs had failed pages{}: {}",
                self.runs.len(),
                if failed == self.runs.len() {
                    " (no time shown)"
                } else {
                    ", left out of the median"
                },
                first.unwrap_or_default()
            )
        } else {
            String::new()
        }
    }
}

/// The whole table.
#[derive(Debug)]
pub struct BenchReport {
    pub pages: usize,
    pub latency_ms: f64,
    pub rows: Vec<Row>,
    /// Which machine, and how busy it was.
    pub machine: String,
    pub load: Option<f64>,
}

impl BenchReport {
    /// A row, not yet measured, for every variant of every lesson.
    pub fn new(pages: usize, latency_ms: f64) -> BenchReport {
        let mut rows = Vec::new();
        for lesson in LESSONS {
            for variant in lesson.variants {
                let mut plan = Plan::new("http://127.0.0.1:9", pages).expect("a literal URL");
                plan.latency = Some(std::time::Duration::from_secs_f64(latency_ms / 1e3));
                plan.workers = Some(variant.concurrency.limit(&plan));
                rows.push(Row {
                    lesson,
                    variant,
                    in_flight: plan.in_flight(),
                    ideal_ms: plan.ideal().map_or(latency_ms, |d| d.as_secs_f64() * 1e3),
                    available: (variant.available)(),
                    runs: Vec::new(),
                });
            }
        }
        BenchReport {
            pages,
            latency_ms,
            rows,
            machine: crate::machine::describe(),
            load: crate::machine::load_average(),
        }
    }

    /// The median of the baseline row: what "x blocking" divides by.
    pub fn blocking_ms(&self) -> Option<f64> {
        self.rows
            .iter()
            .find(|r| r.variant.baseline)
            .and_then(Row::median_ms)
    }

    pub fn table(&self) -> Table {
        let mut t = Table::new(&[
            "lesson",
            "variant",
            ">in flight",
            ">median ms",
            ">ideal ms",
            ">x ideal",
            ">x blocking",
            ">cpu ms",
            ">runs",
            "tutorial (Python)",
            ">tutorial s",
            ">tutorial x ideal",
            ">tutorial x blocking",
            "note",
        ]);
        let blocking = self.blocking_ms();
        for r in &self.rows {
            let m = r.median_ms();
            let s = r.tutorial();
            t.row([
                r.lesson.name.to_string(),
                r.variant.name.to_string(),
                r.in_flight.to_string(),
                opt(m, ms),
                ms(r.ideal_ms),
                opt(r.x_ideal(), ratio),
                opt(m.zip(blocking).map(|(m, b)| m / b), ratio),
                opt(r.cpu_ms(), ms),
                r.runs.len().to_string(),
                s.map_or("-".into(), |s| s.figure.label.to_string()),
                s.map_or("-".into(), |s| format!("{:.2}", s.figure.seconds)),
                opt(s.and_then(|s| s.x_ideal()), ratio),
                opt(s.and_then(|s| s.x_blocking()), ratio),
                r.note(),
            ]);
        }
        t
    }

    /// The notes under the table.
    pub fn notes(&self) -> String {
        let mut out = String::new();
        out.push_str(
            "- **median ms**: median wall time of one run of all the pages, over the runs criterion sampled.\n\
             - **ideal ms**: the latency times the rounds the variant needs, latency × ceil(pages / pages in flight); \
             **x ideal** = median / ideal, 1.00 is perfect.\n\
             - **x blocking** = median / the median of the baseline row (blocking): the share of the blocking time that is left.\n\
             - **cpu ms**: user + system CPU of the run, the embedded page server's threads left out.\n",
        );
        out.push_str(&format!(
            "- **tutorial**: the Python tutorial's own time for ten pages of example.com over the Internet \
             (《深入理解 Python 异步编程（上）》). Its ideal assumes {} s per page (its blocking time / {}): \
             {} of them for its one-at-a-time versions, one for the others. Its ratios compare with ours in \
             shape, not in magnitude; below 1.00 means the Internet was kinder during that run than on average.\n",
            opt(tutorial::latency_s(), ratio),
            tutorial::PAGES,
            tutorial::PAGES,
        ));
        out
    }

    /// The Markdown page: header, table, notes, the chart.
    pub fn markdown(&self, command: &str) -> String {
        let load = self.load.map_or(String::new(), |l| {
            format!(", load average {l:.2} at the start")
        });
        format!(
            "# Ten pages, every lesson (`cargo bench`)\n\n\
             {} pages from one embedded page server answering after {} ms, every lesson variant in turn, \
             measured on {} on {}{load}.\n\nReproduce: `{command}`\n\n{}\n{}\n![bar chart]({}.svg)\n\n\
             Criterion's own report, with every sample: `{}`\n",
            self.pages,
            self.latency_ms,
            self.machine,
            crate::machine::today(),
            self.table().render(),
            self.notes(),
            self.stem(),
            crate::paths::display(&crate::paths::criterion_dir().join("report/index.html")),
        )
    }

    pub fn json(&self) -> serde_json::Value {
        let blocking = self.blocking_ms();
        let rows: Vec<serde_json::Value> = self
            .rows
            .iter()
            .map(|r| {
                let m = r.median_ms();
                serde_json::json!({
                    "lesson": r.lesson.name,
                    "variant": r.variant.name,
                    "in_flight": r.in_flight,
                    "ideal_ms": r.ideal_ms,
                    "median_ms": m,
                    "x_ideal": r.x_ideal(),
                    "x_blocking": m.zip(blocking).map(|(m, b)| m / b),
                    "cpu_ms": r.cpu_ms(),
                    "runs": r.runs.len(),
                    "runs_with_failures": r.failures().0,
                    "wall_ms": r.runs.iter().map(|x| x.wall_ms).collect::<Vec<_>>(),
                    "note": r.note(),
                    "tutorial": r.tutorial().map(|s| serde_json::json!({
                        "label": s.figure.label, "seconds": s.figure.seconds,
                        "x_ideal": s.x_ideal(), "x_blocking": s.x_blocking(),
                    })),
                })
            })
            .collect();
        serde_json::json!({
            "pages": self.pages,
            "latency_ms": self.latency_ms,
            "machine": self.machine,
            "load_average": self.load,
            "rows": rows,
        })
    }

    /// The bar chart: time / blocking time, ours beside the tutorial's.
    pub fn chart(&self) -> Result<String> {
        let blocking = self.blocking_ms();
        let bars: Vec<Bar> = self
            .rows
            .iter()
            .map(|r| {
                let m = r.median_ms();
                let s = r.tutorial();
                Bar {
                    label: format!("{} / {}", r.lesson.name, r.variant.name),
                    value: m.zip(blocking).map(|(m, b)| m / b),
                    note: match m {
                        Some(m) => format!("{} ms (x{:.2} ideal)", ms(m), m / r.ideal_ms),
                        None if r.available.is_err() || r.runs.is_empty() => r.note(),
                        None => "every run had failed pages: see the table".into(),
                    },
                    tutorial: s.and_then(|s| s.x_blocking()),
                    tutorial_note: s.map_or(String::new(), |s| {
                        format!("tutorial {}: {:.2} s", s.figure.label, s.figure.seconds)
                    }),
                }
            })
            .collect();
        charts::bars(
            &format!(
                "{} pages at {} ms latency: time as a share of blocking's",
                self.pages, self.latency_ms
            ),
            "time / blocking time (lower is better)",
            [
                "this machine (Rust)",
                "the tutorial (Python, example.com over the Internet)",
            ],
            &bars,
            &[],
            None,
        )
    }

    /// The files' name: `bench` at the default 100 ms, `bench-430ms` at
    /// another latency, so a run at the tutorial's magnitudes does not replace
    /// the default table.
    pub fn stem(&self) -> String {
        if self.latency_ms == 100.0 {
            "bench".into()
        } else {
            format!("bench-{}ms", self.latency_ms)
        }
    }

    /// The files [`BenchReport::write`] writes.
    pub fn file_names(&self) -> Vec<String> {
        let stem = self.stem();
        ["md", "json", "svg"]
            .iter()
            .map(|ext| format!("{stem}.{ext}"))
            .collect()
    }

    /// Write `<stem>.md`, `<stem>.json` and `<stem>.svg` into `out`.
    pub fn write(&self, out: &OutDir, command: &str) -> Result<Vec<PathBuf>> {
        let stem = self.stem();
        Ok(vec![
            out.write(&format!("{stem}.md"), self.markdown(command))?,
            out.write(
                &format!("{stem}.json"),
                serde_json::to_string_pretty(&self.json())?,
            )?,
            out.write(&format!("{stem}.svg"), self.chart()?)?,
        ])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::table;

    fn report(lesson: &str, variant: &str, wall_ms: f64, failed: usize) -> Report {
        Report {
            model: lesson.into(),
            variant: variant.into(),
            pages: 10,
            ok: 10 - failed,
            failed,
            in_flight: 1,
            latency_ms: Some(100.0),
            wall_ms,
            ideal_ms: Some(1000.0),
            cpu_ms: 5.0,
            user_ms: 2.0,
            sys_ms: 3.0,
            server_cpu_ms: None,
            server_hold_max_ms: None,
            server_hold_total_ms: None,
            max_rss_kb: 3000,
            voluntary_switches: 1,
            involuntary_switches: 1,
            traces: Vec::new(),
        }
    }

    #[test]
    fn a_row_per_variant_with_ratios() {
        let mut b = BenchReport::new(10, 100.0);
        let expected: usize = LESSONS.iter().map(|l| l.variants.len()).sum();
        assert_eq!(b.rows.len(), expected);
        let blocking = &mut b.rows[0];
        assert!(blocking.variant.baseline, "the baseline comes first");
        assert_eq!(blocking.ideal_ms, 1000.0);
        blocking.runs = vec![
            report("sync_blocking", "blocking", 1010.0, 0),
            report("sync_blocking", "blocking", 1030.0, 0),
            report("sync_blocking", "blocking", 1020.0, 0),
            report("sync_blocking", "blocking", 5.0, 1),
        ];
        // the run with a failed page is left out of the median
        assert_eq!(b.blocking_ms(), Some(1020.0));
        let rows = table::parse(&b.table().render(), &["lesson"]);
        assert_eq!(rows.len(), expected);
        assert_eq!(rows[0][3], "1020");
        assert_eq!(rows[0][4], "1000");
        assert_eq!(rows[0][5], "1.02");
        assert_eq!(rows[0][6], "1.00");
        assert_eq!(rows[0][9], "blocking");
        assert!(
            rows[0][13].starts_with("1 of 4 runs had failed pages"),
            "{:?}",
            rows[0]
        );
        let md = b.markdown("cargo bench");
        assert!(md.contains("cargo bench"));
        assert!(md.contains("0.45 s per page"), "{md}");
        assert_eq!(b.json()["rows"][0]["median_ms"], 1020.0);
        assert_eq!(b.stem(), "bench");
        assert_eq!(BenchReport::new(10, 430.0).stem(), "bench-430ms");
    }

    #[test]
    fn an_unavailable_variant_says_why_instead_of_a_time() {
        let mut b = BenchReport::new(10, 100.0);
        b.rows[1].available = Err("io_uring is disabled".into());
        let rows = table::parse(&b.table().render(), &["lesson"]);
        assert_eq!(rows[1][3], "-");
        assert_eq!(rows[1][13], "not available here: io_uring is disabled");
        assert_eq!(
            b.json()["rows"][1]["note"],
            "not available here: io_uring is disabled"
        );
        assert!(b.chart().unwrap().contains("not available here"));
    }
}
