//! wrk, the anchor: where `wrk` is on PATH, `--with-wrk` runs it against
//! the same URL with the same connections and duration, after the
//! generator's own run (never at the same time), and reads its `--latency`
//! output back.

use serde::Serialize;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

/// What wrk reported.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WrkResult {
    /// The command that ran, as a shell would take it.
    pub command: String,
    /// `wrk -v`'s first words, e.g. "wrk debian/4.1.0-3+b2 [epoll]".
    pub version: String,
    pub requests: u64,
    pub seconds: f64,
    pub requests_per_s: f64,
    pub latency_ms: WrkLatency,
    /// "Socket errors: connect, read, write, timeout", in that order.
    pub socket_errors: [u64; 4],
    /// "Non-2xx or 3xx responses".
    pub bad_status: u64,
}

/// wrk's latency figures: its thread-stats mean and max, and the
/// percentiles of `--latency` (wrk prints no 99.9th).
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize)]
pub struct WrkLatency {
    pub mean: f64,
    pub max: f64,
    pub p50: f64,
    pub p75: f64,
    pub p90: f64,
    pub p99: f64,
}

impl WrkResult {
    pub fn errors(&self) -> u64 {
        self.socket_errors.iter().sum::<u64>() + self.bad_status
    }
}

/// wrk's path, when it is on PATH.
pub fn find() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join("wrk"))
        .find(|p| p.is_file())
}

/// The run wrk is asked for.
#[derive(Debug, Clone)]
pub struct WrkRun<'a> {
    pub url: &'a str,
    pub threads: usize,
    pub connections: usize,
    pub duration: Duration,
    pub timeout: Duration,
    /// Send `Connection: close` (wrk then connects anew for each request).
    pub close: bool,
}

/// Whole seconds, at least one: wrk's -d and --timeout take no ms.
fn whole_seconds(d: Duration) -> u64 {
    d.as_secs_f64().ceil().max(1.0) as u64
}

impl WrkRun<'_> {
    /// wrk's arguments (its threads at most its connections, as it demands).
    pub fn args(&self) -> Vec<String> {
        let mut args = vec![
            format!("-t{}", self.threads.clamp(1, self.connections.max(1))),
            format!("-c{}", self.connections),
            format!("-d{}s", whole_seconds(self.duration)),
            format!("--timeout={}s", whole_seconds(self.timeout)),
            "--latency".to_string(),
        ];
        if self.close {
            args.extend(["-H".to_string(), "Connection: close".to_string()]);
        }
        args.push(self.url.to_string());
        args
    }

    /// Run wrk and parse what it prints; `Err` says why there is no figure.
    pub fn run(&self) -> Result<WrkResult, String> {
        let wrk = find().ok_or("wrk is not on PATH")?;
        let args = self.args();
        let command = std::iter::once("wrk".to_string())
            .chain(args.iter().map(|a| {
                if a.contains(' ') {
                    format!("'{a}'")
                } else {
                    a.clone()
                }
            }))
            .collect::<Vec<_>>()
            .join(" ");
        let out = Command::new(&wrk)
            .args(&args)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("{command}: {e}"))?;
        let text = String::from_utf8_lossy(&out.stdout);
        if !out.status.success() {
            let err = String::from_utf8_lossy(&out.stderr);
            let why = format!("{text}{err}");
            return Err(format!("`{command}` failed: {}", why.trim()));
        }
        let mut result = parse(&text)?;
        result.command = command;
        result.version = version(&wrk);
        Ok(result)
    }
}

/// `wrk -v`'s first words up to "Copyright".
fn version(wrk: &std::path::Path) -> String {
    let out = Command::new(wrk).arg("-v").stdin(Stdio::null()).output();
    let text = out
        .map(|o| {
            String::from_utf8_lossy(&o.stdout).into_owned() + &String::from_utf8_lossy(&o.stderr)
        })
        .unwrap_or_default();
    let first = text.lines().next().unwrap_or("wrk").trim();
    first
        .split(" Copyright")
        .next()
        .unwrap_or(first)
        .trim()
        .to_string()
}

/// A time as wrk prints it ("456.78us", "6.32ms", "1.23s", "2.00m",
/// "1.00h"), in ms.
pub fn time_ms(text: &str) -> Option<f64> {
    let t = text.trim();
    let split = t.find(|c: char| c.is_ascii_alphabetic())?;
    let (number, unit) = t.split_at(split);
    let v: f64 = number.parse().ok()?;
    let scale = match unit {
        "us" => 1e-3,
        "ms" => 1.0,
        "s" => 1e3,
        "m" => 60e3,
        "h" => 3600e3,
        _ => return None,
    };
    Some(v * scale)
}

/// Parse the output of `wrk --latency`.
pub fn parse(text: &str) -> Result<WrkResult, String> {
    let mut result = WrkResult {
        command: String::new(),
        version: String::new(),
        requests: 0,
        seconds: 0.0,
        requests_per_s: f64::NAN,
        latency_ms: WrkLatency::default(),
        socket_errors: [0; 4],
        bad_status: 0,
    };
    let (mut percentiles, mut stats) = (0, false);
    for line in text.lines().map(str::trim) {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            ["Latency", avg, _stdev, max, _] => {
                result.latency_ms.mean =
                    time_ms(avg).ok_or(format!("bad latency line '{line}'"))?;
                result.latency_ms.max = time_ms(max).ok_or(format!("bad latency line '{line}'"))?;
                stats = true;
            }
            [p @ ("50%" | "75%" | "90%" | "99%"), v] => {
                let v = time_ms(v).ok_or(format!("bad percentile line '{line}'"))?;
                let l = &mut result.latency_ms;
                *match *p {
                    "50%" => &mut l.p50,
                    "75%" => &mut l.p75,
                    "90%" => &mut l.p90,
                    _ => &mut l.p99,
                } = v;
                percentiles += 1;
            }
            [n, "requests", "in", secs, ..] => {
                result.requests = n.parse().map_err(|_| format!("bad line '{line}'"))?;
                let secs = secs.trim_end_matches(',');
                result.seconds = time_ms(secs).ok_or(format!("bad line '{line}'"))? / 1e3;
            }
            ["Requests/sec:", v] => {
                result.requests_per_s = v.parse().map_err(|_| format!("bad line '{line}'"))?;
            }
            ["Socket", "errors:", rest @ ..] => {
                // connect 0, read 0, write 0, timeout 0
                for (i, pair) in rest.chunks(2).take(4).enumerate() {
                    result.socket_errors[i] = pair
                        .get(1)
                        .map(|v| v.trim_end_matches(','))
                        .and_then(|v| v.parse().ok())
                        .ok_or(format!("bad line '{line}'"))?;
                }
            }
            ["Non-2xx", "or", "3xx", "responses:", n] => {
                result.bad_status = n.parse().map_err(|_| format!("bad line '{line}'"))?;
            }
            _ => {}
        }
    }
    if result.requests_per_s.is_nan() || !stats || percentiles < 4 {
        return Err(format!(
            "wrk's output lacks Requests/sec, its latency line or the --latency percentiles:\n{}",
            text.trim()
        ));
    }
    Ok(result)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `wrk -t1 -c4 -d2s --latency http://127.0.0.1:18099/` (wrk 4.1.0),
    /// with the two error lines wrk prints when there were errors.
    const OUTPUT: &str = "Running 2s test @ http://127.0.0.1:18099/
  1 threads and 4 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     6.32ms    3.68ms  21.52ms   68.68%
    Req/Sec   639.40    111.04   840.00     70.00%
  Latency Distribution
     50%    6.05ms
     75%    8.61ms
     90%   11.08ms
     99%   17.25ms
  1277 requests in 2.01s, 3.27MB read
  Socket errors: connect 1, read 2, write 3, timeout 12
  Non-2xx or 3xx responses: 5
Requests/sec:    636.30
Transfer/sec:      1.63MB
";

    #[test]
    fn wrk_latency_output_is_read() {
        let r = parse(OUTPUT).unwrap();
        assert_eq!(r.requests, 1277);
        assert_eq!(r.seconds, 2.01);
        assert_eq!(r.requests_per_s, 636.30);
        assert_eq!(r.latency_ms.mean, 6.32);
        assert_eq!(r.latency_ms.max, 21.52);
        assert_eq!(r.latency_ms.p50, 6.05);
        assert_eq!(r.latency_ms.p75, 8.61);
        assert_eq!(r.latency_ms.p90, 11.08);
        assert_eq!(r.latency_ms.p99, 17.25);
        assert_eq!(r.socket_errors, [1, 2, 3, 12]);
        assert_eq!(r.bad_status, 5);
        assert_eq!(r.errors(), 23);
    }

    #[test]
    fn units_and_broken_output() {
        assert!((time_ms("456.78us").unwrap() - 0.45678).abs() < 1e-9);
        assert_eq!(time_ms("1.50s"), Some(1500.0));
        assert_eq!(time_ms("2.00m"), Some(120_000.0));
        assert_eq!(time_ms("12"), None);
        assert_eq!(time_ms("3.0xs"), None);
        assert!(parse("unable to connect to 127.0.0.1:1 Connection refused").is_err());
        let cut = OUTPUT.replace("     99%   17.25ms\n", "");
        assert!(parse(&cut).is_err());
    }

    #[test]
    fn arguments_follow_the_run() {
        let run = WrkRun {
            url: "http://127.0.0.1:1/",
            threads: 4,
            connections: 2,
            duration: Duration::from_millis(2500),
            timeout: Duration::from_millis(200),
            close: true,
        };
        assert_eq!(
            run.args(),
            [
                "-t2",
                "-c2",
                "-d3s",
                "--timeout=1s",
                "--latency",
                "-H",
                "Connection: close",
                "http://127.0.0.1:1/"
            ]
        );
    }
}
