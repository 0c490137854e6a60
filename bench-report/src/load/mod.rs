//! `load`: the project's HTTP/1.1 load generator.
//!
//! ```text
//! cargo run --release -p bench-report -- load --url http://127.0.0.1:8080 \
//!     [--connections 100] [--duration 10s] [--warmup 1s] [--requests N] [--pages 100]
//!     [--new-connection] [--rate R] [--timeout-ms 10000] [--size BYTES] [--check-bodies]
//!     [--threads T] [--json] [--with-wrk]
//! ```
//!
//! It keeps `--connections` connections busy for `--duration` after a
//! `--warmup`, `GET /i` cycling over `--pages` pages, and prints requests
//! per second, the latency percentiles from an HDR histogram, the failures
//! by kind and its own CPU (or one JSON object with `--json`). How it is
//! built: `engine.rs`; the response head: `response.rs`; wrk, the anchor:
//! `wrk.rs`. It sends to addresses of this machine only (127.0.0.0/8,
//! ::1).

pub mod engine;
pub mod response;
pub mod wrk;

use crate::numbers;
use crate::table::Table;
use anyhow::{bail, Result};
use engine::{Config, Outcome};
use serde::Serialize;
use std::collections::BTreeMap;
use std::process::ExitCode;
use std::time::Duration;
use wrk::{WrkResult, WrkRun};

#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// The server's base URL: page 0 is URL, page i is URL/i. Only this machine's addresses.
    #[arg(long)]
    pub url: String,

    /// Connections kept open at once (each carries one request at a time).
    #[arg(long, short = 'c', default_value_t = 100,
          value_parser = clap::value_parser!(u64).range(1..=60_000))]
    pub connections: u64,

    /// How long to measure, after the warm-up: 10s, 500ms, 1m.
    #[arg(long, short = 'd', default_value = "10s", value_parser = parse_duration)]
    pub duration: Duration,

    /// Requests sent before the measurement starts, not counted: 1s, 0s
    /// [default: 1s; with --requests: 0s].
    #[arg(long, value_parser = parse_duration)]
    pub warmup: Option<Duration>,

    /// Stop after this many requests in total (the warm-up's included).
    #[arg(long, short = 'n', value_parser = clap::value_parser!(u64).range(1..))]
    pub requests: Option<u64>,

    /// Requests cycle over pages 0..P (GET /, /1, ..., /P-1).
    #[arg(long, default_value_t = 100,
          value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    pub pages: u64,

    /// A fresh connection for every request, with `Connection: close` (the accept-heavy case).
    #[arg(long)]
    pub new_connection: bool,

    /// Open loop: R requests per second in total, latency from each request's intended send time.
    #[arg(long, short = 'R', value_name = "R", value_parser = positive)]
    pub rate: Option<f64>,

    /// A request with no whole response this long after its send is a timeout.
    #[arg(long, default_value_t = 10_000,
          value_parser = clap::value_parser!(u64).range(1..=3_600_000))]
    pub timeout_ms: u64,

    /// Every Content-Length must be this many bytes [default with --check-bodies: the page size of the lessons].
    #[arg(long, value_name = "BYTES")]
    pub size: Option<usize>,

    /// Every body must equal its page's bytes (workload::server::page_body).
    #[arg(long)]
    pub check_bodies: bool,

    /// Threads, each with its own event loop [default: 1].
    #[arg(long, short = 't', value_parser = clap::value_parser!(u64).range(1..=64))]
    pub threads: Option<u64>,

    /// Print one JSON object instead of the text report.
    #[arg(long)]
    pub json: bool,

    /// Also run wrk, where it is on PATH, with the same connections and duration.
    #[arg(long)]
    pub with_wrk: bool,

    /// wrk's -t [default: the generator's --threads].
    #[arg(long, value_name = "T", value_parser = clap::value_parser!(u64).range(1..=64))]
    pub wrk_threads: Option<u64>,
}

/// The generator's default thread count. One thread keeps up with a
/// server on the other core of a two-core machine (see docs/LOAD.md);
/// more threads only pay off with more cores.
pub const DEFAULT_THREADS: usize = 1;

fn positive(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v.is_finite() && v > 0.0 => Ok(v),
        _ => Err(format!("'{s}' is not a positive number")),
    }
}

/// "10s", "500ms", "2m", "1.5s"; a plain number is seconds.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let t = s.trim();
    let split = t.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let v: f64 = number
        .parse()
        .map_err(|_| format!("'{s}' is not a duration (10s, 500ms, 1m)"))?;
    let scale = match unit {
        "" | "s" => 1.0,
        "ms" => 1e-3,
        "m" => 60.0,
        _ => return Err(format!("'{s}': the units are ms, s and m")),
    };
    let secs = v * scale;
    if !(0.0..=86_400.0).contains(&secs) {
        return Err(format!("'{s}' is out of range (0 to 24 h)"));
    }
    Ok(Duration::from_secs_f64(secs))
}

impl Args {
    /// The engine's configuration; a usage error for a URL that is not on
    /// this machine or not http.
    pub fn config(&self) -> Result<Config> {
        let base = workload::BaseUrl::parse(&self.url).map_err(anyhow::Error::msg)?;
        if !base.addr.ip().is_loopback() {
            bail!(
                "'{}' is {}: load sends requests only to this machine (127.0.0.0/8, ::1, localhost)",
                self.url,
                base.addr.ip()
            );
        }
        if self.duration.is_zero() {
            bail!("--duration must be more than 0");
        }
        let size = match (self.size, self.check_bodies) {
            (None, true) => Some(workload::plan::DEFAULT_SIZE),
            (s, _) => s,
        };
        Ok(Config {
            addr: base.addr,
            host: base.host,
            path: base.path,
            connections: self.connections as usize,
            threads: self.threads.map_or(DEFAULT_THREADS, |t| t as usize),
            warmup: self.warmup.unwrap_or(if self.requests.is_some() {
                Duration::ZERO
            } else {
                Duration::from_secs(1)
            }),
            duration: self.duration,
            requests: self.requests,
            pages: self.pages as usize,
            new_connection: self.new_connection,
            rate: self.rate,
            timeout: Duration::from_millis(self.timeout_ms),
            size,
            check_bodies: self.check_bodies,
        })
    }

    fn wrk_run(&self, config: &Config) -> WrkRun<'_> {
        WrkRun {
            url: &self.url,
            threads: self.wrk_threads.map_or(config.threads, |t| t as usize),
            connections: config.connections,
            duration: config.duration,
            timeout: config.timeout,
            close: config.new_connection,
        }
    }
}

/// Latency percentiles in ms.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Percentiles {
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub p999: f64,
    pub max: f64,
    pub mean: f64,
}

/// One run, summed up: what the text report and the JSON object show.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    pub url: String,
    /// "closed" (the next request when the last one is answered) or "open" (`--rate`).
    pub loop_kind: &'static str,
    pub keep_alive: bool,
    pub connections: usize,
    pub threads: usize,
    pub rate: Option<f64>,
    pub warmup_s: f64,
    pub duration_s: f64,
    /// The measured window (shorter than duration when --requests ended the run).
    pub window_s: f64,
    pub ok: u64,
    pub ok_total: u64,
    pub requests_per_s: f64,
    /// In ms; absent when no request succeeded in the window.
    pub latency_ms: Option<Percentiles>,
    pub errors: u64,
    pub errors_by_kind: BTreeMap<&'static str, u64>,
    pub error_examples: BTreeMap<&'static str, String>,
    pub cpu_user_ms: f64,
    pub cpu_sys_ms: f64,
    /// The generator's CPU per good request, in µs.
    pub cpu_us_per_request: Option<f64>,
    /// The generator's CPU as a share of one core over the run.
    pub cpu_cores: f64,
}

/// Latency percentiles of a histogram of µs, in ms.
pub fn percentiles(h: &hdrhistogram::Histogram<u64>) -> Option<Percentiles> {
    if h.is_empty() {
        return None;
    }
    let ms = |q: f64| h.value_at_quantile(q) as f64 / 1e3;
    Some(Percentiles {
        p50: ms(0.5),
        p90: ms(0.9),
        p99: ms(0.99),
        p999: ms(0.999),
        max: h.max() as f64 / 1e3,
        mean: h.mean() / 1e3,
    })
}

impl Summary {
    pub fn new(url: &str, config: &Config, o: &Outcome) -> Summary {
        let window = o.window.as_secs_f64();
        let cpu = o.user + o.sys;
        let run = (config.warmup + config.duration).as_secs_f64();
        Summary {
            url: url.to_string(),
            loop_kind: if config.rate.is_some() {
                "open"
            } else {
                "closed"
            },
            keep_alive: !config.new_connection,
            connections: config.connections,
            threads: config.threads.clamp(1, config.connections.max(1)),
            rate: config.rate,
            warmup_s: config.warmup.as_secs_f64(),
            duration_s: config.duration.as_secs_f64(),
            window_s: window,
            ok: o.ok,
            ok_total: o.ok_total,
            requests_per_s: if window > 0.0 {
                o.ok as f64 / window
            } else {
                0.0
            },
            latency_ms: percentiles(&o.latency_us),
            errors: o.error_count(),
            errors_by_kind: o.error_kinds().map(|(f, n, _)| (f.as_str(), n)).collect(),
            error_examples: o
                .error_kinds()
                .map(|(f, _, e)| (f.as_str(), e.to_string()))
                .collect(),
            cpu_user_ms: o.user.as_secs_f64() * 1e3,
            cpu_sys_ms: o.sys.as_secs_f64() * 1e3,
            cpu_us_per_request: (o.ok_total > 0)
                .then(|| cpu.as_secs_f64() * 1e6 / o.ok_total as f64),
            cpu_cores: if run > 0.0 {
                cpu.as_secs_f64() / run
            } else {
                0.0
            },
        }
    }

    /// "none", or "refused 12, timeout 3".
    pub fn errors_text(&self) -> String {
        if self.errors_by_kind.is_empty() {
            return "none".into();
        }
        self.errors_by_kind
            .iter()
            .map(|(k, n)| format!("{k} {n}"))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// The text report.
    pub fn render(&self) -> String {
        let mode = match self.rate {
            Some(r) => format!("open loop at {r} requests/s (latency from the intended send time)"),
            None => "closed loop".into(),
        };
        let conn = if self.keep_alive {
            "keep-alive"
        } else {
            "a new connection per request"
        };
        let mut out = format!(
            "load: {} for {} after {} of warm-up, {} connections on {} thread(s), {conn}, {mode}\n",
            self.url,
            numbers::duration(self.duration_s * 1e3),
            numbers::duration(self.warmup_s * 1e3),
            self.connections,
            self.threads,
        );
        out += &format!(
            "  requests/s   {:.1} ({} good responses in {:.2} s)\n",
            self.requests_per_s, self.ok, self.window_s
        );
        match &self.latency_ms {
            Some(p) => {
                out += &format!(
                    "  latency      p50 {} ms, p90 {} ms, p99 {} ms, p99.9 {} ms, max {} ms (mean {} ms)\n",
                    ms3(p.p50), ms3(p.p90), ms3(p.p99), ms3(p.p999), ms3(p.max), ms3(p.mean)
                )
            }
            None => out += "  latency      - (no good response in the window)\n",
        }
        out += &format!("  errors       {}\n", self.errors_text());
        for (k, e) in &self.error_examples {
            out += &format!("    {k}: {e}\n");
        }
        out += &format!(
            "  client CPU   {:.0} ms user + {:.0} ms sys = {:.2} cores{}\n",
            self.cpu_user_ms,
            self.cpu_sys_ms,
            self.cpu_cores,
            self.cpu_us_per_request
                .map(|u| format!(", {u:.1} µs per request"))
                .unwrap_or_default()
        );
        out
    }
}

/// A latency in ms with three significant figures.
pub fn ms3(v: f64) -> String {
    if v >= 100.0 {
        format!("{v:.0}")
    } else if v >= 10.0 {
        format!("{v:.1}")
    } else if v >= 1.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.3}")
    }
}

/// The generator's and wrk's figures side by side.
pub fn side_by_side(ours: &Summary, wrk: &WrkResult) -> String {
    let mut t = Table::new(&[" ", ">bench-report load", ">wrk", ">load / wrk"]);
    let ratio = |a: f64, b: f64| {
        if b > 0.0 {
            format!("{:.2}", a / b)
        } else {
            "-".into()
        }
    };
    t.row([
        "requests/s".to_string(),
        format!("{:.0}", ours.requests_per_s),
        format!("{:.0}", wrk.requests_per_s),
        ratio(ours.requests_per_s, wrk.requests_per_s),
    ]);
    let l = ours.latency_ms;
    let w = wrk.latency_ms;
    for (name, a, b) in [
        ("p50 ms", l.map(|p| p.p50), Some(w.p50)),
        ("p90 ms", l.map(|p| p.p90), Some(w.p90)),
        ("p99 ms", l.map(|p| p.p99), Some(w.p99)),
        ("p99.9 ms", l.map(|p| p.p999), None),
        ("max ms", l.map(|p| p.max), Some(w.max)),
    ] {
        t.row([
            name.to_string(),
            a.map_or("-".into(), ms3),
            b.map_or("- (not printed)".into(), ms3),
            String::new(),
        ]);
    }
    t.row([
        "errors".to_string(),
        ours.errors.to_string(),
        wrk.errors().to_string(),
        String::new(),
    ]);
    format!("{}\nwrk: `{}` ({})\n", t.render(), wrk.command, wrk.version)
}

/// wrk's part of the JSON object.
#[derive(Debug, Serialize)]
#[serde(untagged)]
enum WrkJson {
    Ran(WrkResult),
    Skipped { skipped: String },
}

pub fn run(args: Args) -> ExitCode {
    let config = match args.config() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("load: error: {e:#}");
            return ExitCode::from(2);
        }
    };
    workload::raise_fd_limit();
    let outcome = match engine::run(&config) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("load: error: {e}");
            return ExitCode::FAILURE;
        }
    };
    let summary = Summary::new(&args.url, &config, &outcome);
    let wrk = args.with_wrk.then(|| {
        if config.rate.is_some() {
            return Err("wrk has no open loop (that is wrk2's -R): it was not run".to_string());
        }
        if wrk::find().is_none() {
            return Err("wrk is not on PATH: it was not run".to_string());
        }
        if !args.json {
            eprintln!("load: now wrk, on the same URL with the same connections and duration");
        }
        args.wrk_run(&config).run()
    });
    if args.json {
        let mut value = serde_json::to_value(&summary).expect("a summary serialises");
        if let Some(w) = &wrk {
            value["wrk"] = serde_json::to_value(match w {
                Ok(r) => WrkJson::Ran(r.clone()),
                Err(why) => WrkJson::Skipped {
                    skipped: why.clone(),
                },
            })
            .expect("wrk's result serialises");
        }
        println!("{value}");
    } else {
        print!("{}", summary.render());
        match &wrk {
            Some(Ok(r)) => print!("\n{}", side_by_side(&summary, r)),
            Some(Err(why)) => println!("\nwrk: {why}"),
            None => {}
        }
    }
    if summary.ok == 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: Args,
    }

    fn args(a: &[&str]) -> Result<Args, clap::Error> {
        Cli::try_parse_from(std::iter::once("load").chain(a.iter().copied())).map(|c| c.args)
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("1.5"), Ok(Duration::from_millis(1500)));
        assert!(parse_duration("10x").is_err());
        assert!(parse_duration("-1s").is_err());
    }

    #[test]
    fn only_this_machine_is_a_target() {
        let ok = args(&["--url", "http://127.0.0.1:9/x/"])
            .unwrap()
            .config()
            .unwrap();
        assert_eq!((ok.path.as_str(), ok.host.as_str()), ("/x", "127.0.0.1:9"));
        assert_eq!(ok.threads, DEFAULT_THREADS);
        assert_eq!(ok.warmup, Duration::from_secs(1));
        let bounded = args(&["--url", "http://127.0.0.1:9/", "-n", "5"]).unwrap();
        assert_eq!(bounded.config().unwrap().warmup, Duration::ZERO);
        let far = args(&["--url", "http://10.1.2.3:80/"]).unwrap().config();
        assert!(far
            .unwrap_err()
            .to_string()
            .contains("only to this machine"));
        assert!(args(&["--url", "https://127.0.0.1/"])
            .unwrap()
            .config()
            .is_err());
        assert!(args(&["--url", "http://127.0.0.1:9/", "--rate", "0"]).is_err());
        let sized = args(&["--url", "http://127.0.0.1:9/", "--check-bodies"]).unwrap();
        assert_eq!(
            sized.config().unwrap().size,
            Some(workload::plan::DEFAULT_SIZE)
        );
    }
}
