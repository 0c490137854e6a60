//! A burst of simultaneous connections against a page server, to check that
//! the server is never the bottleneck:
//!
//! ```text
//! cargo run --release -p workload --bin page-server -- --port 8080 --latency-ms 1000 &
//! cargo run --release -p workload --example burst -- http://127.0.0.1:8080 10000
//! ```
//!
//! Every connection is opened at once (tokio, one task each), sends its
//! request and reads to EOF. It prints the wall time, the slowest page and
//! how many pages failed. With 1000 ms latency a healthy server answers
//! 10,000 pages in a little over 1 s; SYN drops show up as pages taking
//! 2 s or 4 s (the kernel's 1 s, then 3 s, SYN retransmissions). When it
//! is stopped with Ctrl-C, `page-server` says how long it held the
//! responses on average and at most: a page slower than that waited for
//! the client, or for a CPU.

use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn main() {
    let mut args = std::env::args().skip(1);
    let url = args
        .next()
        .unwrap_or_else(|| "http://127.0.0.1:8080".into());
    let pages: usize = args.next().and_then(|n| n.parse().ok()).unwrap_or(10_000);
    workload::raise_fd_limit();
    let plan = match workload::Plan::new(&url, pages) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(2);
        }
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let started = Instant::now();
    let times: Vec<Result<Duration, String>> = rt.block_on(async {
        let tasks: Vec<_> = plan
            .all_pages()
            .map(|page| {
                tokio::spawn(async move {
                    let t = Instant::now();
                    let mut s = tokio::net::TcpStream::connect(page.addr)
                        .await
                        .map_err(|e| e.to_string())?;
                    s.write_all(&page.request())
                        .await
                        .map_err(|e| e.to_string())?;
                    let mut body = Vec::new();
                    s.read_to_end(&mut body).await.map_err(|e| e.to_string())?;
                    if !body.starts_with(b"HTTP/1.1 200") && !body.starts_with(b"HTTP/1.0 200") {
                        return Err("not a 200 response".to_string());
                    }
                    Ok(t.elapsed())
                })
            })
            .collect();
        let mut out = Vec::with_capacity(tasks.len());
        for t in tasks {
            out.push(t.await.unwrap_or_else(|e| Err(e.to_string())));
        }
        out
    });
    let wall = started.elapsed();
    let ok: Vec<Duration> = times
        .iter()
        .filter_map(|t| t.as_ref().ok().copied())
        .collect();
    let failed = times.len() - ok.len();
    let slowest = ok.iter().max().copied().unwrap_or_default();
    let over_1_5s = ok
        .iter()
        .filter(|t| **t > Duration::from_millis(1500))
        .count();
    println!(
        "{pages} pages: wall {:.3} s, slowest page {:.3} s, {} pages over 1.5 s, {failed} failed",
        wall.as_secs_f64(),
        slowest.as_secs_f64(),
        over_1_5s
    );
    if let Some(e) = times.iter().find_map(|t| t.as_ref().err()) {
        println!("first error: {e}");
    }
}
