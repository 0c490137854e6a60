//! The plan of a run: which pages, from where, with which limits.

use crate::http::{ErrorKind, FetchError};
use crate::lesson::Options;
use std::net::{SocketAddr, ToSocketAddrs};
use std::time::{Duration, Instant};

/// Default size of a page: example.com's page, which the tutorial fetched.
pub const DEFAULT_SIZE: usize = 1256;
/// Default `--max-bytes`: 16 MiB.
pub const DEFAULT_MAX_BYTES: u64 = 16 * 1024 * 1024;
/// Default per-page `--timeout-ms`.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// Where the pages come from: an `http://host:port/path` URL, resolved once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BaseUrl {
    /// The URL as given, without a trailing slash.
    pub url: String,
    /// The `Host:` header value (`host` or `host:port`).
    pub host: String,
    /// The address the lessons connect to.
    pub addr: SocketAddr,
    /// The path of page 0, without a trailing slash ("" for the root).
    pub path: String,
}

impl BaseUrl {
    /// Parse and resolve an `http://` URL. HTTPS, user info, queries and
    /// fragments are refused with a sentence saying why.
    pub fn parse(text: &str) -> Result<BaseUrl, String> {
        let url = url::Url::parse(text).map_err(|e| format!("'{text}' is not a URL: {e}"))?;
        if url.scheme() != "http" {
            return Err(format!(
                "'{text}': only http:// URLs are fetched (the lessons speak plain HTTP on raw sockets)"
            ));
        }
        if url.query().is_some() || url.fragment().is_some() || !url.username().is_empty() {
            return Err(format!(
                "'{text}': give a base URL without query, fragment or user; pages are BASE, BASE/1, BASE/2, ..."
            ));
        }
        let host = url
            .host_str()
            .ok_or_else(|| format!("'{text}' has no host"))?
            .to_string();
        let port = url.port_or_known_default().unwrap_or(80);
        let addrs: Vec<SocketAddr> = (host.trim_matches(['[', ']']), port)
            .to_socket_addrs()
            .map_err(|e| format!("cannot resolve '{host}': {e}"))?
            .collect();
        let addr = addrs
            .iter()
            .find(|a| a.is_ipv4())
            .or(addrs.first())
            .copied()
            .ok_or_else(|| format!("'{host}' resolves to no address"))?;
        let host_header = match url.port() {
            Some(p) => format!("{host}:{p}"),
            None => host,
        };
        let path = url.path().trim_end_matches('/').to_string();
        Ok(BaseUrl {
            url: text.trim_end_matches('/').to_string(),
            host: host_header,
            addr,
            path,
        })
    }
}

/// One page of the plan: page 0 is the base URL, page i is `BASE/i`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    pub index: usize,
    pub url: String,
    pub host: String,
    pub path: String,
    pub addr: SocketAddr,
}

impl Page {
    /// The bytes of this page's GET request.
    pub fn request(&self) -> Vec<u8> {
        crate::http::request(&self.host, &self.path)
    }
}

/// Everything a lesson needs to know to fetch its pages.
#[derive(Debug, Clone)]
pub struct Plan {
    pub base: BaseUrl,
    pub pages: usize,
    /// The simulated latency, when known (the embedded server's, or
    /// `--latency-ms` given with `--url`); used for the ideal time only.
    pub latency: Option<Duration>,
    /// The server staggers its delays (page i waits latency × (N-i)/N).
    pub stagger: bool,
    /// Page size asked of the embedded server.
    pub size: usize,
    /// Each page must end within this time from its own start.
    pub timeout: Duration,
    pub max_bytes: u64,
    /// How many pages may be in flight at once. `None` until the variant's
    /// concurrency resolves it (see [`crate::Concurrency`]); read it with
    /// [`Plan::in_flight`].
    pub workers: Option<usize>,
    /// Draw a progress bar (a terminal, and not `--json`).
    pub progress: bool,
    /// CPU each page spends on its body once it has arrived (`--cpu-us`):
    /// the knob that separates concurrency from parallelism.
    pub cpu: Duration,
    /// The lesson's own flags, parsed (see [`crate::Flags`]).
    pub options: Options,
}

impl Plan {
    /// A plan of `pages` pages from `base_url` with the default limits.
    pub fn new(base_url: &str, pages: usize) -> Result<Plan, String> {
        Ok(Plan {
            base: BaseUrl::parse(base_url)?,
            pages,
            latency: None,
            stagger: false,
            size: DEFAULT_SIZE,
            timeout: DEFAULT_TIMEOUT,
            max_bytes: DEFAULT_MAX_BYTES,
            workers: None,
            progress: false,
            cpu: Duration::ZERO,
            options: Options::default(),
        })
    }

    /// Page `index` of the plan.
    pub fn page(&self, index: usize) -> Page {
        let path = match (index, self.base.path.as_str()) {
            (0, "") => "/".to_string(),
            (0, p) => p.to_string(),
            (i, p) => format!("{p}/{i}"),
        };
        let url = match index {
            0 => self.base.url.clone(),
            i => format!("{}/{i}", self.base.url),
        };
        Page {
            index,
            url,
            host: self.base.host.clone(),
            path,
            addr: self.base.addr,
        }
    }

    /// Every page, in order.
    pub fn all_pages(&self) -> impl Iterator<Item = Page> + '_ {
        (0..self.pages).map(|i| self.page(i))
    }

    /// Pages in flight at once: `--workers` as resolved for the variant,
    /// at least 1 and at most the number of pages.
    pub fn in_flight(&self) -> usize {
        self.workers
            .unwrap_or(self.pages)
            .clamp(1, self.pages.max(1))
    }

    /// The lesson's own flags as the command line gave them, or their
    /// defaults (a plan made by a test or the benchmark).
    pub fn options<T: std::any::Any + Clone + Default>(&self) -> T {
        self.options.get()
    }

    /// The same plan with the lesson's flags set to `options`.
    pub fn with_options<T: std::any::Any + Send + Sync + std::panic::RefUnwindSafe>(
        mut self,
        options: T,
    ) -> Plan {
        self.options = Options::new(options);
        self
    }

    /// The time the plan cannot beat: the pages' delays laid out on
    /// `in_flight()` lanes, each page taking the next free lane in page
    /// order. Without stagger that is latency × ceil(pages / in flight).
    pub fn ideal(&self) -> Option<Duration> {
        let latency = self.latency?;
        let lanes = self.in_flight();
        if !self.stagger {
            return Some(latency * self.pages.div_ceil(lanes) as u32);
        }
        let n = self.pages as u32;
        let mut free = vec![Duration::ZERO; lanes];
        for i in 0..n {
            let lane = (0..lanes).min_by_key(|&l| free[l]).unwrap_or(0);
            free[lane] += latency * (n - i) / n;
        }
        free.into_iter().max()
    }
}

/// A page's deadline: `--timeout-ms` from the moment it started.
#[derive(Debug, Clone, Copy)]
pub struct Deadline {
    at: Instant,
    limit: Duration,
}

impl Deadline {
    pub fn after(limit: Duration) -> Deadline {
        Deadline {
            at: Instant::now() + limit,
            limit,
        }
    }

    pub fn at(&self) -> Instant {
        self.at
    }

    pub fn expired(&self) -> bool {
        Instant::now() >= self.at
    }

    /// Time left, or the page's timeout error when there is none.
    pub fn remaining(&self) -> Result<Duration, FetchError> {
        let left = self.at.saturating_duration_since(Instant::now());
        if left.is_zero() {
            Err(self.error())
        } else {
            Ok(left)
        }
    }

    /// The timeout error for this page.
    pub fn error(&self) -> FetchError {
        FetchError::timeout(self.limit.as_millis())
    }

    /// Turn a timeout-like I/O error into this page's timeout message.
    pub fn name(&self, e: FetchError) -> FetchError {
        if e.kind == ErrorKind::Timeout {
            self.error()
        } else {
            e
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_urls_follow_the_seed() {
        let plan = Plan::new("http://127.0.0.1:8080", 3).unwrap();
        let pages: Vec<Page> = plan.all_pages().collect();
        assert_eq!(pages[0].url, "http://127.0.0.1:8080");
        assert_eq!(pages[0].path, "/");
        assert_eq!(pages[2].url, "http://127.0.0.1:8080/2");
        assert_eq!(pages[2].path, "/2");
        assert_eq!(pages[2].host, "127.0.0.1:8080");
        assert_eq!(pages[1].addr, "127.0.0.1:8080".parse().unwrap());
    }

    #[test]
    fn a_base_path_is_kept() {
        let plan = Plan::new("http://localhost:9/docs/", 2).unwrap();
        assert_eq!(plan.page(0).path, "/docs");
        assert_eq!(plan.page(1).path, "/docs/1");
        assert_eq!(plan.page(1).url, "http://localhost:9/docs/1");
        assert_eq!(plan.page(1).host, "localhost:9");
    }

    #[test]
    fn bad_urls_are_refused_with_a_reason() {
        for (url, why) in [
            ("https://example.com", "only http://"),
            ("example.com", "not a URL"),
            ("http://127.0.0.1/?q=1", "without query"),
            ("http://no-such-host.invalid", "cannot resolve"),
        ] {
            let e = Plan::new(url, 1).unwrap_err();
            assert!(e.contains(why), "{url}: {e}");
        }
    }

    #[test]
    fn ideal_is_latency_times_rounds() {
        let mut plan = Plan::new("http://127.0.0.1:1", 10).unwrap();
        assert_eq!(plan.ideal(), None);
        plan.latency = Some(Duration::from_millis(100));
        plan.workers = Some(1);
        assert_eq!(plan.ideal(), Some(Duration::from_millis(1000)));
        plan.workers = Some(3);
        assert_eq!(plan.ideal(), Some(Duration::from_millis(400)));
        plan.workers = Some(50);
        assert_eq!(plan.in_flight(), 10);
        assert_eq!(plan.ideal(), Some(Duration::from_millis(100)));
    }

    #[test]
    fn staggered_ideal_follows_the_delays() {
        let mut plan = Plan::new("http://127.0.0.1:1", 4).unwrap();
        plan.latency = Some(Duration::from_millis(100));
        plan.stagger = true;
        plan.workers = Some(1);
        // 100 + 75 + 50 + 25
        assert_eq!(plan.ideal(), Some(Duration::from_millis(250)));
        plan.workers = Some(4);
        assert_eq!(plan.ideal(), Some(Duration::from_millis(100)));
        plan.workers = Some(2);
        // lanes: 100 | 75 then 50 -> 125, then 25 on the 100 lane -> 125
        assert_eq!(plan.ideal(), Some(Duration::from_millis(125)));
    }

    #[test]
    fn deadline_names_its_limit() {
        let d = Deadline::after(Duration::ZERO);
        assert!(d.expired());
        let e = d.remaining().unwrap_err();
        assert_eq!(e.kind, ErrorKind::Timeout);
        assert!(e.detail.contains("0 ms"));
    }
}
