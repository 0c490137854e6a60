//! The sweep's report: the wall-time table (variants by N, with footnotes
//! saying why a cell was not measured), every figure, the JSON, and the
//! charts.

use crate::charts::{self, Lanes, Series};
use crate::jobs::Job;
use crate::machine;
use crate::numbers::{duration, ms, opt, ratio};
use crate::outdir::OutDir;
use crate::reporting::{self, Conditions};
use crate::status::Status;
use crate::sweep::{Cell, Config};
use crate::table::Table;
use crate::LESSONS;
use anyhow::Result;
use std::path::PathBuf;
use workload::Lesson;

/// A finished sweep.
pub struct SweepReport<'a> {
    pub config: &'a Config,
    pub cells: &'a [Cell],
    pub conditions: Conditions,
}

impl SweepReport<'_> {
    fn jobs(&self) -> impl Iterator<Item = &Job> {
        self.config.jobs().iter()
    }

    fn cell(&self, job: &Job, n: usize) -> Option<&Cell> {
        self.cells.iter().find(|c| c.job.is(job) && c.pages == n)
    }

    /// Footnote numbers for the reasons, in order of first appearance.
    fn reasons(&self) -> Vec<(String, String)> {
        let mut out: Vec<(String, String)> = Vec::new();
        for c in self.cells {
            if let Some(r) = c.status.reason() {
                let cell = format!("{} / {}, N={}", c.lesson, c.variant, c.pages);
                out.push((cell, r));
            }
        }
        out
    }

    /// Rows: variants; columns: N; cells: median wall and x ideal.
    pub fn wall_table(&self) -> Table {
        let mut header: Vec<String> = vec!["lesson".into(), "variant".into()];
        header.extend(self.config.pages.iter().map(|n| format!(">N={n}")));
        let refs: Vec<&str> = header.iter().map(String::as_str).collect();
        let mut t = Table::new(&refs);
        let reasons = self.reasons();
        for job in self.jobs() {
            let mut row = vec![job.lesson.name.to_string(), job.variant.name.to_string()];
            for &n in &self.config.pages {
                let note = |c: &Cell| {
                    let key = format!("{} / {}, N={}", c.lesson, c.variant, c.pages);
                    reasons
                        .iter()
                        .position(|(k, _)| *k == key)
                        .map_or(String::new(), |i| format!(" [{}]", i + 1))
                };
                row.push(match self.cell(job, n) {
                    None => "-".into(),
                    Some(c) if c.measured() => format!(
                        "{} (x{}){}",
                        duration(c.wall_ms.unwrap_or_default()),
                        opt(c.x_ideal, ratio),
                        note(c)
                    ),
                    Some(c) if matches!(c.status, Status::Estimated(_)) => {
                        format!("~{} est.{}", duration(c.ideal_ms), note(c))
                    }
                    Some(c) => format!("{}{}", c.status.label(), note(c)),
                });
            }
            t.row(row);
        }
        t
    }

    /// Every measured figure, one row per (variant, N).
    fn details_table(&self) -> Table {
        let mut t = Table::new(&[
            "lesson",
            "variant",
            ">N",
            ">in flight",
            "status",
            ">wall ms",
            ">ideal ms",
            ">x ideal",
            ">process ms",
            ">cpu ms",
            ">cpu µs/page",
            ">peak RSS KB",
            ">KB/in-flight page",
            ">marginal KB/page",
            ">voluntary cs",
            ">involuntary cs",
            ">runs",
        ]);
        let f = |v: Option<f64>, fmt: fn(f64) -> String| opt(v, fmt);
        let whole = |v: f64| format!("{v:.0}");
        let one = |v: f64| format!("{v:.1}");
        for job in self.jobs() {
            for &n in &self.config.pages {
                let Some(c) = self.cell(job, n) else { continue };
                t.row([
                    c.lesson.to_string(),
                    c.variant.to_string(),
                    c.pages.to_string(),
                    c.in_flight.to_string(),
                    c.status.label().to_string(),
                    f(c.wall_ms, ms),
                    ms(c.ideal_ms),
                    f(c.x_ideal, ratio),
                    f(c.process_wall_ms, ms),
                    f(c.cpu_ms, ms),
                    f(c.cpu_us_per_page, one),
                    f(c.max_rss_kb, whole),
                    f(c.rss_kb_per_in_flight, one),
                    f(c.marginal_kb_per_page, one),
                    f(c.voluntary_switches, whole),
                    f(c.involuntary_switches, whole),
                    format!(
                        "{}/{}",
                        c.runs.iter().filter(|r| r.problem.is_none()).count(),
                        c.runs.len()
                    ),
                ]);
            }
        }
        t
    }

    fn markdown(&self) -> String {
        let c = self.config;
        let mut out = format!(
            "# The sweep: every lesson from {} to {} pages\n\n\
             {}\n\n\
             One `page-server` process answering after {} ms; every lesson variant run as a child process with \
             `--json --url`, median of {} run(s) per cell.\n\nReproduce: `{}`\n\n",
            c.pages.first().copied().unwrap_or(0),
            c.pages.last().copied().unwrap_or(0),
            self.conditions.sentence(),
            c.latency_ms,
            c.repeat,
            c.setup.command.trim_end(),
        );
        for (lesson, flags) in &c.setup.extra {
            out.push_str(&format!("`{lesson}` ran with `{}`.\n\n", flags.join(" ")));
        }
        out.push_str("## Wall time (x ideal)\n\n");
        out.push_str(&self.wall_table().render());
        out.push('\n');
        let reasons = self.reasons();
        if !reasons.is_empty() {
            for (i, (cell, why)) in reasons.iter().enumerate() {
                out.push_str(&format!("[{}] {cell}: {why}  \n", i + 1));
            }
            out.push('\n');
        }
        out.push_str("![wall time against N](sweep-wall.svg)\n\n");
        out.push_str("## Every figure\n\n");
        out.push_str(&self.details_table().render());
        out.push_str(
            "\n- **wall ms**: the lesson's own time from the first connect to the last page (its `--json` \
             `wall_ms`), median of the runs; **process ms**: from spawn to exit as the sweep saw it (start-up \
             and printing the JSON included).\n\
             - **ideal ms**: latency × ceil(N / pages in flight), what the variant could do at best; \
             **x ideal** = wall / ideal.\n\
             - **cpu**: user + system time of the lesson process and of every process it waited for, from \
             `wait4`; per page = cpu / N.\n\
             - **peak RSS**: the lesson process's peak resident set (the kernel's VmHWM, which starts afresh \
             at exec; for a pool of processes, the largest one), from its report; `wait4`'s ru_maxrss is not \
             used because it carries the parent's peak across exec. **KB/in-flight page** = peak / pages in \
             flight; **marginal KB/page** = the growth of the peak from the smallest N, per extra page in \
             flight: the cost of one more page without the process's fixed size.\n\
             - **cs**: voluntary (the process waited) and involuntary (the scheduler took the CPU away) \
             context switches, from `wait4`.\n\n",
        );
        out.push_str("## Charts\n\n");
        out.push_str("![CPU per page against N](sweep-cpu.svg)\n\n");
        out.push_str("![peak RSS per in-flight page against N](sweep-rss.svg)\n\n");
        for lesson in self.timeline_lessons() {
            out.push_str(&format!(
                "![timeline of {0} at N={1}](timeline-{0}.svg)\n\n",
                lesson.name,
                c.pages.first().copied().unwrap_or(0)
            ));
        }
        out
    }

    /// Lessons with at least one run at the smallest N to draw.
    fn timeline_lessons(&self) -> Vec<&'static Lesson> {
        let Some(&n) = self.config.pages.first() else {
            return Vec::new();
        };
        self.config
            .setup
            .lessons()
            .into_iter()
            .filter(|l| {
                self.cells.iter().any(|c| {
                    std::ptr::eq(c.job.lesson, *l)
                        && c.pages == n
                        && c.runs.iter().any(|r| !r.traces.is_empty())
                })
            })
            .collect()
    }

    fn json(&self) -> serde_json::Value {
        let c = self.config;
        serde_json::json!({
            "machine": self.conditions.machine,
            "date": machine::today(),
            "load_average_before": self.conditions.load_before,
            "load_average_after": self.conditions.load_after,
            "seconds": self.conditions.took.as_secs_f64(),
            "command": c.setup.command,
            "latency_ms": c.latency_ms,
            "repeat": c.repeat,
            "pages": c.pages,
            "run_up_to_s": c.run_up_to.as_secs_f64(),
            "lesson_args": c.setup.extra,
            "cells": self.cells,
        })
    }

    /// The charts, by file name.
    fn charts(&self) -> Result<Vec<(String, String)>> {
        let c = self.config;
        let latency = c.latency_ms as f64;
        let mut files = Vec::new();
        let series = |y: &dyn Fn(&Cell) -> Option<f64>, estimate: bool| -> Vec<Series> {
            self.jobs()
                .map(|job| {
                    let mine: Vec<&Cell> =
                        c.pages.iter().filter_map(|&n| self.cell(job, n)).collect();
                    Series {
                        name: job.name(),
                        color: LESSONS
                            .iter()
                            .position(|l| std::ptr::eq(*l, job.lesson))
                            .unwrap_or(0),
                        marker: job
                            .lesson
                            .variants
                            .iter()
                            .position(|v| std::ptr::eq(v, job.variant))
                            .unwrap_or(0),
                        measured: mine
                            .iter()
                            .filter(|c| c.measured())
                            .filter_map(|c| y(c).map(|v| (c.pages as f64, v)))
                            .collect(),
                        estimated: if estimate {
                            mine.iter()
                                .filter(|c| matches!(c.status, Status::Estimated(_)))
                                .map(|c| (c.pages as f64, c.ideal_ms))
                                .collect()
                        } else {
                            Vec::new()
                        },
                    }
                })
                .collect()
        };
        let ns: Vec<f64> = c.pages.iter().map(|&n| n as f64).collect();
        let guides = vec![
            Series {
                name: "ideal, all in flight: latency".into(),
                measured: ns.iter().map(|&n| (n, latency)).collect(),
                ..Series::default()
            },
            Series {
                name: "ideal, one at a time: N × latency".into(),
                measured: ns.iter().map(|&n| (n, n * latency)).collect(),
                ..Series::default()
            },
        ];
        let svg = charts::loglog(
            &format!(
                "Wall time against N at {} ms latency (hollow: estimated, not run)",
                c.latency_ms
            ),
            "N pages",
            "wall time, ms",
            &series(&|c| c.wall_ms, true),
            if latency > 0.0 { &guides } else { &[] },
        )?;
        files.push(("sweep-wall.svg".to_string(), svg));
        let svg = charts::loglog(
            "CPU time per page against N (user + system, from wait4)",
            "N pages",
            "CPU µs per page",
            &series(&|c| c.cpu_us_per_page, false),
            &[],
        )?;
        files.push(("sweep-cpu.svg".to_string(), svg));
        let svg = charts::loglog(
            "Peak RSS per page in flight against N",
            "N pages",
            "peak RSS / pages in flight, KB",
            &series(&|c| c.rss_kb_per_in_flight, false),
            &[],
        )?;
        files.push(("sweep-rss.svg".to_string(), svg));

        let Some(&n) = c.pages.first() else {
            return Ok(files);
        };
        for lesson in self.timeline_lessons() {
            let groups: Vec<Lanes> = self
                .jobs()
                .filter(|j| std::ptr::eq(j.lesson, lesson))
                .filter_map(|j| {
                    let cell = self.cell(j, n)?;
                    let run = cell
                        .runs
                        .iter()
                        .find(|r| r.problem.is_none() && !r.traces.is_empty())
                        .or_else(|| cell.runs.iter().find(|r| !r.traces.is_empty()))?;
                    Some(Lanes {
                        name: format!(
                            "{} ({} ms)",
                            j.variant.name,
                            run.wall_ms.map_or("?".into(), ms)
                        ),
                        traces: run.traces.clone(),
                    })
                })
                .collect();
            let svg = charts::gantt(
                &format!(
                    "{}: {n} pages at {} ms latency, one lane per page",
                    lesson.name, c.latency_ms
                ),
                &groups,
            )?;
            files.push((format!("timeline-{}.svg", lesson.name), svg));
        }
        Ok(files)
    }

    /// Write `sweep.md`, `sweep.json` and the charts into `out`.
    pub fn write(&self, out: &OutDir) -> Result<Vec<PathBuf>> {
        reporting::write(out, "sweep", self.markdown(), &self.json(), || {
            self.charts()
        })
    }
}
