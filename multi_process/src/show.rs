//! `--show-pool`: what the processes themselves cost, on stderr (stdout
//! belongs to the report, and to `--json`'s one object).

use crate::stats::{PoolStats, WorkerStats, WorkerUsage};
use crate::{PoolFlags, ShowPool};
use std::fmt::Write as _;
use workload::{Plan, Trace};

/// The variant's entry point: the model, then the pool's story if
/// `--show-pool` asked for it.
pub fn process_way_then_show(plan: &Plan) -> Vec<Trace> {
    let (traces, stats) = crate::process_way(plan);
    if let Some(what) = plan.options::<PoolFlags>().show_pool {
        print(what, &stats, &traces);
    }
    traces
}

/// Print the pool's story on stderr.
pub fn print(what: ShowPool, stats: &PoolStats, traces: &[Trace]) {
    let mut out = summary(stats);
    if what == ShowPool::Workers {
        out.push_str(&worker_rows(stats, traces));
    }
    eprint!("{out}");
}

fn median(v: Vec<f64>) -> f64 {
    workload::stats::median(&v).unwrap_or(f64::NAN)
}

fn max(v: &[f64]) -> f64 {
    v.iter().copied().fold(f64::NAN, f64::max)
}

fn mb(kb: f64) -> f64 {
    kb / 1024.0
}

/// A few lines: start-up, memory, CPU, pipe, per worker.
pub fn summary(stats: &PoolStats) -> String {
    let ws = &stats.workers;
    let mut out = String::new();
    let name = std::env::args().next().unwrap_or_default();
    let plural = if ws.len() == 1 { "" } else { "es" };
    let _ = writeln!(out, "pool: {} worker process{plural} of {name}", ws.len());
    if let Some(e) = &stats.spawn_error {
        let _ = writeln!(out, "  {e}");
    }
    let spawn: Vec<f64> = ws.iter().map(|w| w.spawn_took_ms).collect();
    let up: Vec<f64> = ws
        .iter()
        .filter_map(|w| Some(w.ready_ms? - w.spawn_ms))
        .collect();
    let last_ready = ws
        .iter()
        .filter_map(|w| w.ready_ms)
        .fold(f64::NAN, f64::max);
    let _ = writeln!(
        out,
        "  start-up: spawn() blocks the parent {:.2} ms per worker (median; {:.1} ms for all); \
         spawn to ready {:.2} ms median, {:.2} ms max; the last was ready at {:.1} ms",
        median(spawn.clone()),
        spawn.iter().sum::<f64>(),
        median(up.clone()),
        max(&up),
        last_ready,
    );
    let usage: Vec<_> = ws.iter().filter_map(|w| w.usage).collect();
    if !usage.is_empty() {
        // The median of one figure over the workers that reported it.
        let median_of = |kb: fn(&WorkerUsage) -> Option<u64>| {
            median(usage.iter().filter_map(kb).map(|k| k as f64).collect())
        };
        let rss = median_of(|u| Some(u.max_rss_kb));
        let pss = median_of(|u| u.pss_kb);
        let private = median_of(|u| u.private_kb);
        let cpu: Vec<f64> = usage.iter().map(|u| u.user_ms + u.sys_ms).collect();
        let _ = writeln!(
            out,
            "  memory per worker (median): peak RSS {:.1} MB, of which private {:.2} MB (PSS {:.2} MB); \
             all {} hold {:.1} MB private",
            mb(rss),
            mb(private),
            mb(pss),
            usage.len(),
            mb(usage.iter().filter_map(|u| u.private_kb).sum::<u64>() as f64),
        );
        let _ = writeln!(
            out,
            "  cpu per worker: {:.1} ms median (user + sys, start-up included), {:.1} ms in all",
            median(cpu.clone()),
            cpu.iter().sum::<f64>()
        );
    }
    let delays: Vec<f64> = ws.iter().flat_map(|w| w.pipe_delays_ms.clone()).collect();
    let piped: u64 = ws.iter().map(|w| w.piped_bytes).sum();
    let _ = writeln!(
        out,
        "  pipe: {} results, {} body bytes copied worker -> parent; \
         page done in worker -> parent has it: {:.3} ms median, {:.3} ms max",
        delays.len(),
        piped,
        median(delays.clone()),
        max(&delays),
    );
    let lost: Vec<String> = ws
        .iter()
        .filter(|w| !w.ended_ok)
        .filter_map(|w| {
            Some(format!(
                "worker {} (pid {}) {}",
                w.id,
                w.pid,
                w.ended.as_ref()?
            ))
        })
        .collect();
    if !lost.is_empty() {
        let _ = writeln!(out, "  ended badly: {}", lost.join("; "));
    }
    out
}

const BAR: usize = 46;
const MAX_ROWS: usize = 40;

/// One row per worker on the run's time axis: `-` starting, `R` ready,
/// `=` fetching a page, `.` idle, `|` exited, `x` died or killed.
pub fn worker_rows(stats: &PoolStats, traces: &[Trace]) -> String {
    let ws = &stats.workers;
    let end = ws
        .iter()
        .filter_map(|w| w.exit_ms)
        .chain(traces.iter().filter_map(|t| t.done_ms))
        .fold(1e-3, f64::max);
    let col = |ms: f64| (((ms / end) * BAR as f64) as usize).min(BAR - 1);
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:>6} {:>7} 0 ms{:>w$}  {:>8} {:>5} {:>8} {:>6} {:>6} {:>7}",
        "worker",
        "pid",
        format!("{end:.0} ms"),
        "ready",
        "pages",
        "piped",
        "cpu",
        "RSS",
        "private",
        w = BAR - 2
    );
    let step = ws.len().div_ceil(MAX_ROWS).max(1);
    for w in ws.iter().step_by(step) {
        let _ = writeln!(
            out,
            "{:>6} {:>7} {} {}",
            w.id,
            w.pid,
            bar(w, traces, end, col),
            numbers(w)
        );
    }
    if step > 1 {
        let _ = writeln!(
            out,
            "{:>14} (every {step}th of {} workers shown)",
            "",
            ws.len()
        );
    }
    let _ = writeln!(
        out,
        "{:>14} - starting  R ready  = fetching a page  . idle  | exited  x died or killed",
        ""
    );
    out
}

fn bar(w: &WorkerStats, traces: &[Trace], end: f64, col: impl Fn(f64) -> usize) -> String {
    let mut cells = [b' '; BAR];
    let stop = w.exit_ms.unwrap_or(end);
    let ready = w.ready_ms.unwrap_or(stop);
    for (c, cell) in cells.iter_mut().enumerate() {
        let mid = (c as f64 + 0.5) * end / BAR as f64;
        if mid >= w.spawn_ms && mid <= stop {
            *cell = if mid < ready { b'-' } else { b'.' };
        }
    }
    for t in traces.iter().filter(|t| t.worker == Some(w.id)) {
        if let (Some(s), Some(d)) = (t.start_ms, t.done_ms) {
            for cell in &mut cells[col(s)..=col(d).max(col(s))] {
                *cell = b'=';
            }
        }
    }
    if let Some(r) = w.ready_ms {
        cells[col(r)] = b'R';
    }
    if let Some(x) = w.exit_ms {
        cells[col(x)] = if w.ended_ok { b'|' } else { b'x' };
    }
    String::from_utf8_lossy(&cells).into_owned()
}

fn numbers(w: &WorkerStats) -> String {
    let ready = w
        .ready_ms
        .map_or("-".into(), |r| format!("{:.1}ms", r - w.spawn_ms));
    let (cpu, rss, private) = match w.usage {
        Some(u) => (
            format!("{:.1}ms", u.user_ms + u.sys_ms),
            format!("{:.1}MB", mb(u.max_rss_kb as f64)),
            u.private_kb
                .map_or("-".into(), |k| format!("{:.2}MB", mb(k as f64))),
        ),
        None => ("-".into(), "-".into(), "-".into()),
    };
    format!(
        "{ready:>8} {:>5} {:>7}B {cpu:>6} {rss:>6} {private:>7}",
        w.pages, w.piped_bytes
    )
}
