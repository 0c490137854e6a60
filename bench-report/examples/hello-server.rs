//! A fast keep-alive page server, the load generator's test bench: hyper's
//! HTTP/1.1 on a multi-threaded tokio runtime, no think time, page i's body
//! built once and shared.
//!
//! ```text
//! cargo run --release -p bench-report --example hello-server -- [--port 0] [--threads 1] [--size 1256]
//! ```
//!
//! Its first stdout line is `serving http://127.0.0.1:PORT`; it serves until
//! it is killed. `docs/LOAD.md` measures `load` against wrk on it.

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use std::convert::Infallible;
use std::io::Write;
use std::sync::Arc;

/// Pages whose bodies are built before the first request.
const PAGES: usize = 1000;

fn flag(args: &[String], name: &str, default: usize) -> usize {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .map(|v| {
            v.parse()
                .unwrap_or_else(|_| panic!("{name} takes a number"))
        })
        .unwrap_or(default)
}

fn main() -> std::io::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let port = flag(&args, "--port", 0) as u16;
    let threads = flag(&args, "--threads", 1).max(1);
    let size = flag(&args, "--size", workload::plan::DEFAULT_SIZE);
    let bodies: Arc<Vec<Bytes>> = Arc::new(
        (0..PAGES)
            .map(|i| Bytes::from(workload::server::page_body(i, size)))
            .collect(),
    );
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
        println!("serving http://{}", listener.local_addr()?);
        std::io::stdout().flush()?;
        loop {
            let (stream, _) = listener.accept().await?;
            let _ = stream.set_nodelay(true);
            let bodies = Arc::clone(&bodies);
            tokio::spawn(async move {
                let service = service_fn(move |req: Request<Incoming>| {
                    let bodies = Arc::clone(&bodies);
                    async move { Ok::<_, Infallible>(page(&req, &bodies, size)) }
                });
                let _ = http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    })
}

/// `/` is page 0, `/i` page i; anything else is a 404.
fn page(req: &Request<Incoming>, bodies: &[Bytes], size: usize) -> Response<Full<Bytes>> {
    let path = req.uri().path().trim_start_matches('/');
    let index = if path.is_empty() {
        Some(0)
    } else {
        path.parse::<usize>().ok()
    };
    match index {
        Some(i) => {
            let body = bodies
                .get(i)
                .cloned()
                .unwrap_or_else(|| Bytes::from(workload::server::page_body(i, size)));
            Response::new(Full::new(body))
        }
        None => {
            let mut r = Response::new(Full::new(Bytes::from_static(b"no such page\n")));
            *r.status_mut() = StatusCode::NOT_FOUND;
            r
        }
    }
}
