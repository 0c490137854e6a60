//! `serve.md`, `serve.json` and the charts of the serve command.
//!
//! The tables are stable for quoting: one row per cell in "Every cell",
//! whose header starts `| lesson | server | mode | L ms | C |`, and a
//! reason in a footnote wherever a cell did not run.

use super::{Cell, Config, Mode};
use crate::charts::{self, Series};
use crate::load::ms3;
use crate::machine;
use crate::outdir::OutDir;
use crate::reporting::{self, Conditions};
use crate::table::Table;
use crate::LESSONS;
use anyhow::Result;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// The header of the "Every cell" table, up to the optional wrk columns.
pub const EVERY_CELL: [&str; 14] = [
    "lesson",
    "server",
    "mode",
    ">L ms",
    ">C",
    "status",
    ">requests/s",
    ">p50 ms",
    ">p99 ms",
    ">errors",
    ">server µs/request",
    ">peak RSS KB",
    ">KB/connection",
    ">client cores",
];

pub struct ServeReport<'a> {
    pub config: &'a Config,
    pub cells: &'a [Cell],
    pub conditions: Conditions,
}

/// Fill in `marginal_kb_per_connection` from each server's smallest
/// measured C at the same think time and mode.
pub fn marginal_memory(cells: &mut [Cell]) {
    type Key = (&'static str, &'static str, Mode, u64);
    let mut base: BTreeMap<Key, (usize, u64)> = BTreeMap::new();
    for c in cells.iter() {
        if let (true, Some(rss)) = (c.measured(), c.peak_rss_kb) {
            let e = base
                .entry((c.lesson, c.server, c.mode, c.latency_ms))
                .or_insert((c.connections, rss));
            if c.connections < e.0 {
                *e = (c.connections, rss);
            }
        }
    }
    for c in cells.iter_mut() {
        let key = (c.lesson, c.server, c.mode, c.latency_ms);
        if let (true, Some(rss), Some(&(c0, rss0))) = (c.measured(), c.peak_rss_kb, base.get(&key))
        {
            if c.connections > c0 {
                c.marginal_kb_per_connection =
                    Some((rss as f64 - rss0 as f64) / (c.connections - c0) as f64);
            }
        }
    }
}

fn opt(v: Option<f64>, f: impl Fn(f64) -> String) -> String {
    v.map_or_else(|| "-".to_string(), f)
}

impl ServeReport<'_> {
    fn wrk(&self) -> bool {
        self.config.with_wrk
    }

    /// Footnotes: every cell with a reason, numbered in table order.
    fn reasons(&self) -> Vec<(usize, String)> {
        self.cells
            .iter()
            .enumerate()
            .filter_map(|(i, c)| c.status.reason().map(|r| (i, r)))
            .collect()
    }

    fn note(&self, index: usize) -> Option<usize> {
        self.reasons()
            .iter()
            .position(|(i, _)| *i == index)
            .map(|p| p + 1)
    }

    /// What a cell shows in a summary table: `value`, or its status with
    /// its footnote.
    fn shown(
        &self,
        index: usize,
        value: impl Fn(&Cell) -> Option<f64>,
        f: fn(f64) -> String,
    ) -> String {
        let c = &self.cells[index];
        let note = self
            .note(index)
            .map(|n| format!(" [{n}]"))
            .unwrap_or_default();
        match (c.measured(), value(c)) {
            (true, Some(v)) => format!("{}{note}", f(v)),
            _ => format!("{}{note}", c.status.label()),
        }
    }

    fn servers(&self) -> Vec<(&'static str, &'static str)> {
        let mut out: Vec<(&'static str, &'static str)> = Vec::new();
        for c in self.cells {
            if !out.contains(&(c.lesson, c.server)) {
                out.push((c.lesson, c.server));
            }
        }
        out
    }

    /// Rows: servers; columns: C; keep-alive at think time `latency_ms`.
    pub fn by_connections(
        &self,
        latency_ms: u64,
        value: impl Fn(&Cell) -> Option<f64> + Copy,
        f: fn(f64) -> String,
    ) -> Table {
        let mut header: Vec<String> = vec!["lesson".into(), "server".into()];
        header.extend(self.config.connections.iter().map(|c| format!(">C={c}")));
        let refs: Vec<&str> = header.iter().map(String::as_str).collect();
        let mut t = Table::new(&refs);
        for (lesson, server) in self.servers() {
            let mut row = vec![lesson.to_string(), server.to_string()];
            for &c in &self.config.connections {
                let found = self.cells.iter().position(|x| {
                    x.lesson == lesson
                        && x.server == server
                        && x.mode == Mode::KeepAlive
                        && x.latency_ms == latency_ms
                        && x.connections == c
                });
                row.push(found.map_or("-".into(), |i| self.shown(i, value, f)));
            }
            t.row(row);
        }
        t
    }

    /// The new-connection-per-request cells.
    fn new_connection_table(&self) -> Table {
        let mut t = Table::new(&[
            "lesson",
            "server",
            ">C",
            ">requests/s",
            ">p50 ms",
            ">p99 ms",
            ">errors",
            ">server µs/request",
        ]);
        for (i, c) in self.cells.iter().enumerate() {
            if c.mode != Mode::NewConnection {
                continue;
            }
            t.row([
                c.lesson.to_string(),
                c.server.to_string(),
                c.connections.to_string(),
                self.shown(i, |c| c.requests_per_s, rate),
                opt(c.latency.map(|l| l.p50), ms3),
                opt(c.latency.map(|l| l.p99), ms3),
                opt(c.errors.map(|e| e as f64), |e| format!("{e:.0}")),
                opt(c.server_cpu_us_per_request, |v| format!("{v:.1}")),
            ]);
        }
        t
    }

    pub fn every_cell_table(&self) -> Table {
        let mut header: Vec<&str> = EVERY_CELL.to_vec();
        if self.wrk() {
            header.extend([">wrk requests/s", ">wrk p99 ms"]);
        }
        let mut t = Table::new(&header);
        for (i, c) in self.cells.iter().enumerate() {
            let note = self.note(i).map(|n| format!(" [{n}]")).unwrap_or_default();
            let errors = match (c.errors, c.errors_by_kind.is_empty()) {
                (None, _) => "-".to_string(),
                (Some(n), true) => n.to_string(),
                (Some(n), false) => format!(
                    "{n} ({})",
                    c.errors_by_kind
                        .iter()
                        .map(|(k, n)| format!("{k} {n}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            };
            let mut row = vec![
                c.lesson.to_string(),
                c.server.to_string(),
                c.mode.as_str().to_string(),
                c.latency_ms.to_string(),
                c.connections.to_string(),
                format!("{}{note}", c.status.label()),
                opt(c.requests_per_s, rate),
                opt(c.latency.map(|l| l.p50), ms3),
                opt(c.latency.map(|l| l.p99), ms3),
                errors,
                opt(c.server_cpu_us_per_request, |v| format!("{v:.1}")),
                opt(c.peak_rss_kb.map(|v| v as f64), |v| format!("{v:.0}")),
                opt(c.marginal_kb_per_connection, |v| format!("{v:.1}")),
                opt(c.client_cores, |v| format!("{v:.2}")),
            ];
            if self.wrk() {
                row.push(match (&c.wrk, &c.wrk_skipped) {
                    (Some(w), _) => rate(w.requests_per_s),
                    (None, Some(_)) => "skipped".into(),
                    _ => "-".into(),
                });
                row.push(opt(c.wrk.as_ref().map(|w| w.latency_ms.p99), ms3));
            }
            t.row(row);
        }
        t
    }

    /// The tables printed on the terminal at the end.
    pub fn summary_tables(&self) -> String {
        if self.cells.is_empty() {
            return "no server to measure\n".into();
        }
        let mut out = String::new();
        for &l in &self.config.latencies {
            out += &format!("requests/s, keep-alive, think time {l} ms\n");
            out += &self.by_connections(l, |c| c.requests_per_s, rate).render();
            out.push('\n');
        }
        out
    }

    fn markdown(&self) -> String {
        let c = self.config;
        let warmups: Vec<String> = c
            .latencies
            .iter()
            .map(|&l| {
                let (few, many) = (c.warmup(l, 1), c.warmup(l, 1000));
                if few == many {
                    format!("{} ms at L = {l} ms", few.as_millis())
                } else {
                    format!(
                        "{} ms at L = {l} ms, {} ms from 1,000 connections",
                        few.as_millis(),
                        many.as_millis()
                    )
                }
            })
            .collect();
        let mut out = format!(
            "# Serving: every lesson's servers under load\n\n\
             {}\n\n\
             Each cell starts the lesson's binary as a child process \
             (`target/release/<lesson> serve --variant V --port 0 --latency-ms L`) and loads it with \
             `bench-report load`'s generator ({} thread(s)): C connections, `GET /i` over 100 pages, \
             a warm-up ({}) and then {} ms measured. Think time L is how long the server holds every \
             response. The server's CPU comes from `wait4`, its peak RSS from /proc.\n\n\
             Reproduce: `{}`\n\n",
            self.conditions.sentence(),
            c.threads,
            warmups.join(", "),
            c.duration.as_millis(),
            c.command.trim_end(),
        );
        if self.cells.is_empty() {
            out +=
                "No lesson has a server in its `servers` table yet: there is nothing to measure.\n";
            return out;
        }
        for &l in &c.latencies {
            out += &format!("## Requests/s, keep-alive, think time {l} ms\n\n");
            out += &self.by_connections(l, |c| c.requests_per_s, rate).render();
            out.push('\n');
        }
        for &l in &c.latencies {
            out += &format!("## p99 latency (ms), keep-alive, think time {l} ms\n\n");
            out += &self
                .by_connections(l, |c| c.latency.map(|p| p.p99), ms3)
                .render();
            out.push('\n');
        }
        if let Some(n) = c.new_connection_at {
            out += &format!(
                "## A new connection per request, C = {n}, think time 0 ms\n\n\
                 Every request on a fresh connection with `Connection: close`: the accept-heavy case.\n\n"
            );
            out += &self.new_connection_table().render();
            out.push('\n');
        }
        out += "## Every cell\n\n";
        out += &self.every_cell_table().render();
        out.push('\n');
        let reasons = self.reasons();
        for (n, (i, why)) in reasons.iter().enumerate() {
            let cell = &self.cells[*i];
            out += &format!(
                "[{}] {} / {}, {}, L = {} ms, C = {}: {why}  \n",
                n + 1,
                cell.lesson,
                cell.server,
                cell.mode.as_str(),
                cell.latency_ms,
                cell.connections
            );
        }
        if !reasons.is_empty() {
            out.push('\n');
        }
        out += "- **requests/s**: good responses (status 200, whole body) in the measured window, \
                per second; **p50**, **p99**: their latency, from the request's send to the last body \
                byte, from an HDR histogram.\n\
                - **errors**: failed requests in the window, by kind (see `bench-report load --help`).\n\
                - **server µs/request**: the server's user + system CPU over its whole life (from \
                `wait4`, its waited-for children included) per good response over the whole run, \
                warm-up included.\n\
                - **peak RSS**: the peak resident set (VmHWM) of every process of the server, summed, \
                read from /proc at the end of the window; **KB/connection**: its growth from the \
                same server's smallest C, per connection more.\n\
                - **client cores**: the load generator's own CPU over the cell, in cores.\n";
        if self.wrk() {
            out += "- **wrk**: `wrk -t<threads> -c<C> -d<seconds> --latency` on the same server right \
                    after the generator's window (wrk has no warm-up; its duration is whole seconds).\n";
        }
        out += "\n## Charts\n\n\
                ![requests/s against C](serve-rps.svg)\n\n\
                ![p99 latency against C](serve-p99.svg)\n\n\
                ![memory per connection against C](serve-memory.svg)\n";
        out
    }

    fn charts(&self) -> Result<Vec<(String, String)>> {
        let series = |y: &dyn Fn(&Cell) -> Option<f64>| -> Vec<Series> {
            let mut out = Vec::new();
            for (lesson, server) in self.servers() {
                for (k, &l) in self.config.latencies.iter().enumerate() {
                    let points: Vec<(f64, f64)> = self
                        .cells
                        .iter()
                        .filter(|c| {
                            c.lesson == lesson
                                && c.server == server
                                && c.mode == Mode::KeepAlive
                                && c.latency_ms == l
                                && c.measured()
                        })
                        .filter_map(|c| {
                            y(c).filter(|v| *v > 0.0).map(|v| (c.connections as f64, v))
                        })
                        .collect();
                    if points.is_empty() {
                        continue;
                    }
                    let lesson_index = LESSONS.iter().position(|x| x.name == lesson).unwrap_or(0);
                    let server_index = LESSONS
                        .get(lesson_index)
                        .and_then(|x| x.servers.iter().position(|s| s.name == server))
                        .unwrap_or(0);
                    out.push(Series {
                        name: format!("{lesson} / {server}, L={l} ms"),
                        color: lesson_index,
                        marker: server_index + k,
                        measured: points,
                        estimated: Vec::new(),
                    });
                }
            }
            out
        };
        Ok(vec![
            (
                "serve-rps.svg".to_string(),
                charts::loglog(
                    "Requests/s against connections (keep-alive)",
                    "C connections",
                    "requests/s",
                    &series(&|c| c.requests_per_s),
                    &[],
                )?,
            ),
            (
                "serve-p99.svg".to_string(),
                charts::loglog(
                    "p99 latency against connections (keep-alive)",
                    "C connections",
                    "p99 latency, ms",
                    &series(&|c| c.latency.map(|p| p.p99)),
                    &[],
                )?,
            ),
            (
                "serve-memory.svg".to_string(),
                charts::loglog(
                    "Server memory per connection against connections (growth of the peak RSS)",
                    "C connections",
                    "KB per connection",
                    &series(&|c| c.marginal_kb_per_connection),
                    &[],
                )?,
            ),
        ])
    }

    fn json(&self) -> serde_json::Value {
        let c = self.config;
        serde_json::json!({
            "machine": self.conditions.machine,
            "date": machine::today(),
            "command": c.command,
            "load_before": self.conditions.load_before,
            "load_after": self.conditions.load_after,
            "took_s": self.conditions.took.as_secs_f64(),
            "duration_ms": c.duration.as_millis() as u64,
            "threads": c.threads,
            "cells": self.cells,
        })
    }

    /// Write `serve.md`, `serve.json` and the charts into `out`.
    pub fn write(&self, out: &OutDir) -> Result<Vec<PathBuf>> {
        reporting::write(out, "serve", self.markdown(), &self.json(), || {
            self.charts()
        })
    }
}

/// Requests per second for a table cell: whole numbers.
fn rate(v: f64) -> String {
    format!("{v:.0}")
}
