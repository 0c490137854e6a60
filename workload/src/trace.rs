//! What happened to each page, and to the run as a whole.

use crate::http::{Body, ErrorKind, FetchError};
use crate::plan::{Page, Plan};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// The run's clock: milliseconds since the run started, on the system's
/// monotonic clock (CLOCK_MONOTONIC), which every process on the machine
/// shares, so a worker process can stamp times on its parent's axis.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Clock {
    origin_ns: u64,
}

impl Clock {
    /// A clock whose zero is now.
    pub fn start() -> Clock {
        Clock {
            origin_ns: monotonic_ns(),
        }
    }

    /// A clock whose zero is another process's `origin_ns()`.
    pub fn from_origin_ns(origin_ns: u64) -> Clock {
        Clock { origin_ns }
    }

    pub fn origin_ns(&self) -> u64 {
        self.origin_ns
    }

    /// Milliseconds since the clock's zero.
    pub fn now_ms(&self) -> f64 {
        monotonic_ns().saturating_sub(self.origin_ns) as f64 / 1e6
    }
}

fn monotonic_ns() -> u64 {
    let t = nix::time::clock_gettime(nix::time::ClockId::CLOCK_MONOTONIC)
        .expect("CLOCK_MONOTONIC is always available on Linux");
    t.tv_sec() as u64 * 1_000_000_000 + t.tv_nsec() as u64
}

/// The life of one page, stamped as it happens.
///
/// In JSON a failure is two fields, `error` (`"kind: detail"`) and
/// `error_kind`; here it is one value, so the two cannot disagree.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(into = "TraceJson", from = "TraceJson")]
pub struct Trace {
    pub page: usize,
    pub url: String,
    pub status: Option<u16>,
    pub bytes: Option<u64>,
    pub start_ms: Option<f64>,
    pub connected_ms: Option<f64>,
    pub first_byte_ms: Option<f64>,
    pub done_ms: Option<f64>,
    /// Why the page failed; `None` for a good page (or one not finished).
    pub error: Option<FetchError>,
    /// CRC-32 of the body, for checking it byte for byte.
    pub crc32: Option<u32>,
    /// Which worker (thread, process, coroutine...) fetched it, where the
    /// model has such a thing.
    pub worker: Option<usize>,
    clock: Clock,
}

/// A trace as the JSON contract spells it.
#[derive(Serialize, Deserialize)]
struct TraceJson {
    page: usize,
    url: String,
    status: Option<u16>,
    bytes: Option<u64>,
    start_ms: Option<f64>,
    connected_ms: Option<f64>,
    first_byte_ms: Option<f64>,
    done_ms: Option<f64>,
    error: Option<String>,
    error_kind: Option<ErrorKind>,
    crc32: Option<u32>,
    worker: Option<usize>,
}

impl From<Trace> for TraceJson {
    fn from(t: Trace) -> TraceJson {
        TraceJson {
            page: t.page,
            url: t.url,
            status: t.status,
            bytes: t.bytes,
            start_ms: t.start_ms,
            connected_ms: t.connected_ms,
            first_byte_ms: t.first_byte_ms,
            done_ms: t.done_ms,
            error_kind: t.error.as_ref().map(|e| e.kind),
            error: t.error.map(|e| e.to_string()),
            crc32: t.crc32,
            worker: t.worker,
        }
    }
}

impl From<TraceJson> for Trace {
    fn from(j: TraceJson) -> Trace {
        let error = match (j.error_kind, j.error) {
            (None, None) => None,
            (kind, text) => {
                let kind = kind.unwrap_or(ErrorKind::Io);
                let text = text.unwrap_or_default();
                let prefix = format!("{kind}: ");
                let detail = text.strip_prefix(&prefix).unwrap_or(&text).to_string();
                Some(FetchError {
                    kind,
                    status: j.status,
                    detail,
                })
            }
        };
        Trace {
            page: j.page,
            url: j.url,
            status: j.status,
            bytes: j.bytes,
            start_ms: j.start_ms,
            connected_ms: j.connected_ms,
            first_byte_ms: j.first_byte_ms,
            done_ms: j.done_ms,
            error,
            crc32: j.crc32,
            worker: j.worker,
            clock: Clock::default(),
        }
    }
}

impl Trace {
    /// A page that has not started (yet).
    pub fn pending(page: &Page, clock: Clock) -> Trace {
        Trace {
            page: page.index,
            url: page.url.clone(),
            status: None,
            bytes: None,
            start_ms: None,
            connected_ms: None,
            first_byte_ms: None,
            done_ms: None,
            error: None,
            crc32: None,
            worker: None,
            clock,
        }
    }

    /// The page starts now.
    pub fn start(page: &Page, clock: Clock) -> Trace {
        let mut t = Trace::pending(page, clock);
        t.start_ms = Some(clock.now_ms());
        t
    }

    /// Stamp the start on a pending trace.
    pub fn started(&mut self) {
        self.start_ms.get_or_insert(self.clock.now_ms());
    }

    pub fn connected(&mut self) {
        self.connected_ms.get_or_insert(self.clock.now_ms());
    }

    /// The first response byte arrived (only the first call counts).
    pub fn first_byte(&mut self) {
        if self.first_byte_ms.is_none() {
            self.first_byte_ms = Some(self.clock.now_ms());
        }
    }

    /// The page ended, with its body or its error.
    pub fn finish(mut self, result: Result<Body, FetchError>) -> Trace {
        self.done_ms = Some(self.clock.now_ms());
        match result {
            Ok(body) => {
                self.status = Some(body.status);
                self.bytes = Some(body.bytes);
                self.crc32 = Some(body.crc32);
            }
            Err(e) => {
                self.status = e.status;
                self.error = Some(e);
            }
        }
        self
    }

    pub fn is_ok(&self) -> bool {
        self.done_ms.is_some() && self.error.is_none()
    }

    /// The kind of the failure, `None` for a good page.
    pub fn error_kind(&self) -> Option<ErrorKind> {
        self.error.as_ref().map(|e| e.kind)
    }

    /// Re-base a trace stamped in another process on this run's clock.
    pub fn with_clock(mut self, clock: Clock) -> Trace {
        self.clock = clock;
        self
    }
}

/// Every page of the plan fails with the same error, for a model that
/// could not start at all (no selector, no runtime, no stack).
pub fn fail_every_page(plan: &Plan, error: &FetchError) -> Vec<Trace> {
    let clock = Clock::start();
    plan.all_pages()
        .map(|page| Trace::start(&page, clock).finish(Err(error.clone())))
        .collect()
}

/// One trace per page, in page order: the pages `traces` has no trace for
/// (a task that panicked, a loop that stopped early) end with `error`.
pub fn every_page_once(
    plan: &Plan,
    clock: Clock,
    traces: Vec<Trace>,
    error: &FetchError,
) -> Vec<Trace> {
    let mut slots: Vec<Option<Trace>> = vec![None; plan.pages];
    for t in traces {
        if let Some(slot) = slots.get_mut(t.page) {
            *slot = Some(t);
        }
    }
    slots
        .into_iter()
        .zip(plan.all_pages())
        .map(|(slot, page)| {
            slot.unwrap_or_else(|| Trace::pending(&page, clock).finish(Err(error.clone())))
        })
        .collect()
}

/// CPU, memory and scheduling as the OS accounts them (getrusage).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Usage {
    pub user: Duration,
    pub sys: Duration,
    /// Peak resident set, of this process or of its largest child.
    pub max_rss_kb: u64,
    /// The largest waited-for child's peak, as the kernel keeps it.
    pub children_max_rss_kb: u64,
    pub voluntary_switches: u64,
    pub involuntary_switches: u64,
}

impl Usage {
    /// This process plus its waited-for children, so far.
    ///
    /// The peak RSS of this process is the kernel's `VmHWM`, not
    /// `getrusage`'s `ru_maxrss`: the latter survives `exec`, so a lesson
    /// started by `cargo run` would report cargo's own peak (tens of MB).
    pub fn now() -> Usage {
        use nix::sys::resource::{getrusage, UsageWho};
        let mut total = Usage::default();
        for who in [UsageWho::RUSAGE_SELF, UsageWho::RUSAGE_CHILDREN] {
            if let Ok(u) = getrusage(who) {
                total.user += tv(u.user_time());
                total.sys += tv(u.system_time());
                match who {
                    UsageWho::RUSAGE_SELF => {
                        total.max_rss_kb = peak_rss_kb().unwrap_or(u.max_rss() as u64)
                    }
                    _ => total.children_max_rss_kb = u.max_rss() as u64,
                }
                total.voluntary_switches += u.voluntary_context_switches() as u64;
                total.involuntary_switches += u.involuntary_context_switches() as u64;
            }
        }
        total
    }

    /// What happened between `before` and `self`. Peaks cannot be
    /// subtracted: the result's `max_rss_kb` is this process's peak, or a
    /// child's if a child waited for during the run went higher. (The
    /// children's figure is inherited across fork and exec too: a lesson run
    /// by `cargo run` starts with rustc's peak in it, so a child's peak
    /// counts only if it rose during the run.)
    pub fn since(&self, before: &Usage) -> Usage {
        let children = if self.children_max_rss_kb > before.children_max_rss_kb {
            self.children_max_rss_kb
        } else {
            0
        };
        Usage {
            user: self.user.saturating_sub(before.user),
            sys: self.sys.saturating_sub(before.sys),
            max_rss_kb: self.max_rss_kb.max(children),
            children_max_rss_kb: children,
            voluntary_switches: self
                .voluntary_switches
                .saturating_sub(before.voluntary_switches),
            involuntary_switches: self
                .involuntary_switches
                .saturating_sub(before.involuntary_switches),
        }
    }
}

/// This process's peak resident set since its last `exec`, in KiB.
pub fn peak_rss_kb() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn tv(t: nix::sys::time::TimeVal) -> Duration {
    Duration::from_secs(t.tv_sec() as u64) + Duration::from_micros(t.tv_usec() as u64)
}

/// One run of one lesson variant: the contract's JSON object.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    pub model: String,
    pub variant: String,
    pub pages: usize,
    pub ok: usize,
    pub failed: usize,
    /// Pages the variant lets be in flight at once.
    pub in_flight: usize,
    pub latency_ms: Option<f64>,
    pub wall_ms: f64,
    pub ideal_ms: Option<f64>,
    /// User + system CPU of the model (and its child processes), without
    /// the embedded page server's threads.
    pub cpu_ms: f64,
    /// User and system CPU of the whole process and its children, the
    /// embedded server's threads included (only the total can be split).
    pub user_ms: f64,
    pub sys_ms: f64,
    /// CPU the embedded page server used meanwhile (already left out of `cpu_ms`).
    pub server_cpu_ms: Option<f64>,
    /// How long the embedded page server actually held its longest
    /// response (the simulated latency, measured from the request head).
    #[serde(default)]
    pub server_hold_max_ms: Option<f64>,
    /// The embedded server's holds, added up.
    #[serde(default)]
    pub server_hold_total_ms: Option<f64>,
    pub max_rss_kb: u64,
    pub voluntary_switches: u64,
    pub involuntary_switches: u64,
    pub traces: Vec<Trace>,
}

impl Report {
    /// The failed traces.
    pub fn failures(&self) -> impl Iterator<Item = &Trace> {
        self.traces.iter().filter(|t| !t.is_ok())
    }

    /// The client's own time beyond the server's holds: wall minus the
    /// longest hold when every page was in flight at once, wall minus all
    /// the holds when pages went one at a time; `None` otherwise (the holds
    /// of a run in rounds do not add up to a known floor) or without the
    /// embedded server.
    pub fn client_overhead_ms(&self) -> Option<f64> {
        if self.in_flight >= self.pages {
            self.server_hold_max_ms.map(|h| self.wall_ms - h)
        } else if self.in_flight == 1 {
            self.server_hold_total_ms.map(|h| self.wall_ms - h)
        } else {
            None
        }
    }

    /// wall / ideal, when the ideal is known.
    pub fn ratio(&self) -> Option<f64> {
        self.ideal_ms
            .filter(|i| *i > 0.0)
            .map(|ideal| self.wall_ms / ideal)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failure_is_two_json_fields_that_come_back_as_one_value() {
        let plan = Plan::new("http://127.0.0.1:1", 1).unwrap();
        let error = FetchError {
            kind: ErrorKind::Status,
            status: Some(404),
            detail: "HTTP 404 Not Found".into(),
        };
        let trace = Trace::start(&plan.page(0), Clock::start()).finish(Err(error.clone()));
        let json = serde_json::to_value(&trace).unwrap();
        assert_eq!(json["error"], "status: HTTP 404 Not Found");
        assert_eq!(json["error_kind"], "status");
        assert_eq!(json["status"], 404);
        let back: Trace = serde_json::from_value(json).unwrap();
        assert_eq!(back.error, Some(error));
    }

    #[test]
    fn a_good_page_has_no_error_fields() {
        let plan = Plan::new("http://127.0.0.1:1", 1).unwrap();
        let body = Body {
            status: 200,
            bytes: 3,
            crc32: 9,
            body: None,
        };
        let trace = Trace::start(&plan.page(0), Clock::start()).finish(Ok(body));
        let json = serde_json::to_value(&trace).unwrap();
        assert!(json["error"].is_null() && json["error_kind"].is_null());
        assert!(serde_json::from_value::<Trace>(json).unwrap().is_ok());
    }

    #[test]
    fn the_client_overhead_is_wall_beyond_the_holds() {
        let plan = Plan::new("http://127.0.0.1:1", 4).unwrap();
        let server = crate::Server::start(crate::ServerConfig {
            latency: Duration::from_millis(5),
            ..Default::default()
        })
        .unwrap();
        let mut plan = plan;
        plan.base = crate::BaseUrl::parse(&server.url()).unwrap();
        let fetch_none = crate::Variant::new("x", "x", crate::Concurrency::All, |_| Vec::new());
        let lesson = crate::Lesson {
            name: "t",
            about: "t",
            variants: &[],
            flags: crate::Flags::NONE,
            servers: &[],
            worker: None,
        };
        let mut report = lesson.run(&fetch_none, &plan, Some(&server));
        assert_eq!(report.server_hold_max_ms, Some(0.0), "no page was served");
        report.wall_ms = 50.0;
        report.server_hold_max_ms = Some(20.0);
        report.server_hold_total_ms = Some(45.0);
        report.in_flight = 4;
        assert_eq!(report.client_overhead_ms(), Some(30.0));
        report.in_flight = 1;
        assert_eq!(report.client_overhead_ms(), Some(5.0));
        report.in_flight = 2;
        assert_eq!(report.client_overhead_ms(), None);
    }

    #[test]
    fn missing_pages_are_filled_in_with_the_error() {
        let plan = Plan::new("http://127.0.0.1:1", 3).unwrap();
        let clock = Clock::start();
        let lost = FetchError::new(ErrorKind::Io, "lost");
        let one = Trace::start(&plan.page(1), clock).finish(Err(FetchError::timeout(5)));
        let all = every_page_once(&plan, clock, vec![one], &lost);
        let kinds: Vec<_> = all.iter().map(|t| t.error_kind()).collect();
        assert_eq!(
            kinds,
            [
                Some(ErrorKind::Io),
                Some(ErrorKind::Timeout),
                Some(ErrorKind::Io)
            ]
        );
        assert_eq!(fail_every_page(&plan, &lost).len(), 3);
    }
}
