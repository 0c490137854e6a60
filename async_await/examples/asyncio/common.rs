//! What the asyncio examples share: where the pages come from, and the
//! tutorial's `fetch(url)` for one page, in plain `read().await` style.
//!
//! Every example fetches from the embedded page server (each page held
//! 100 ms before its first byte; with `stagger`, page i of N is held
//! 100 × (N − i) / N ms, so the last page answers first), or from a page
//! server of your own: `--url http://127.0.0.1:PORT`.

// Each example uses a part of this module.
#![allow(dead_code)]

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use workload::{Body, FetchError, Page, Plan, ResponseReader, Server, ServerConfig};

/// The pages to fetch and the clock every line is printed against.
pub struct Pages {
    pub plan: Plan,
    start: Instant,
    // Keeps the embedded server running until the example ends.
    _server: Option<Server>,
}

impl Pages {
    /// `n` pages from `--url URL`, or from an embedded page server.
    pub fn new(n: usize, stagger: bool) -> Pages {
        let args: Vec<String> = std::env::args().collect();
        let url = args
            .iter()
            .position(|a| a == "--url")
            .and_then(|i| args.get(i + 1).cloned());
        let (server, url) = match url {
            Some(url) => (None, url),
            None => {
                let config = ServerConfig {
                    stagger: stagger.then_some(n),
                    ..ServerConfig::default()
                };
                let server = Server::start(config).expect("start the embedded page server");
                let url = server.url();
                (Some(server), url)
            }
        };
        let plan = Plan::new(&url, n).expect("a page server's URL");
        Pages {
            plan,
            start: Instant::now(),
            _server: server,
        }
    }

    /// Milliseconds since the example started.
    pub fn ms(&self) -> u128 {
        self.start.elapsed().as_millis()
    }

    /// Print `line` after the milliseconds since the example started.
    pub fn say(&self, line: impl std::fmt::Display) {
        println!("{:>4} ms  {line}", self.ms());
    }

    /// Start the clock again.
    pub fn restart(&mut self) {
        self.start = Instant::now();
    }
}

/// What one page ended as, in one short line.
pub fn outcome(result: &Result<Body, FetchError>) -> String {
    match result {
        Ok(body) => format!("{} {}B", body.status, body.bytes),
        Err(e) => format!("failed: {e}"),
    }
}

/// A pause of `ms` milliseconds, as a `Duration`.
pub fn ms(ms: u64) -> Duration {
    Duration::from_millis(ms)
}

// ANCHOR: fetch
/// The tutorial's `fetch(url)` in asyncio's style: lesson 1's code, with
/// `.await` after every call that blocked there.
pub async fn fetch(plan: &Plan, page: &Page) -> Result<Body, FetchError> {
    // `await asyncio.open_connection(..)`: start the connect (EINPROGRESS)
    // and park this task until epoll says the socket is writable.
    let mut stream = TcpStream::connect(page.addr).await?;
    // `writer.write(..); await writer.drain()`: the request fits in the
    // send buffer, so this `.await` is ready at once.
    stream.write_all(&page.request()).await?;
    let mut response = ResponseReader::new(plan.max_bytes);
    let mut buf = [0u8; 4096];
    loop {
        // `await reader.read(4096)`: try the socket; on "would block", park
        // until epoll says readable, and try again. 0 bytes: end of file.
        let n = stream.read(&mut buf).await?;
        if response.feed(&buf[..n])?.is_done() {
            return response.finish();
        }
    }
}
// ANCHOR_END: fetch
