//! Variant `reqwest`: what production code writes (the tutorial's aiohttp).
//!
//! No socket, no reader loop: one shared `reqwest::Client` (its settings,
//! a connection pool, hyper speaking the HTTP underneath) and
//! `client.get(url).send()`. The tutorial's last listing opens a new
//! `aiohttp.ClientSession` per request; the client is meant to be built
//! once and cloned (a clone shares the pool), which is what [`fetch_all`]
//! does. Against a server that closes every connection the pool has
//! nothing to keep, so `client` below turns it off.
//!
//! The price of not owning the bytes: reqwest decodes the response itself,
//! so the workload's [`workload::ResponseReader`] never sees the wire. The
//! checks it would make are made here on what reqwest hands back (status,
//! transfer coding, `--max-bytes` while streaming, CRC-32 of the body), and
//! reqwest's and hyper's errors are mapped to the workload's named kinds in
//! [`name_error`]. One thing is lost: reqwest does not say when the
//! connection was established, so a page's `connected` and `first_byte`
//! marks are both the moment the response head arrived.

use std::error::Error as _;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use workload::{Body, Clock, ErrorKind, FetchError, Page, Plan, Trace};

/// Build the one client and the runtime, then one task per page.
pub fn fetch_all(plan: &Plan) -> Vec<Trace> {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            let e = FetchError::new(ErrorKind::Resource, format!("cannot start tokio: {e}"));
            return workload::fail_every_page(plan, &e);
        }
    };
    let client = match client(plan) {
        Ok(c) => c,
        Err(e) => {
            let e = FetchError::new(ErrorKind::Io, format!("cannot build the client: {e}"));
            return workload::fail_every_page(plan, &e);
        }
    };
    let save = match crate::save::Dir::of(plan) {
        Ok(dir) => dir,
        Err(e) => return workload::fail_every_page(plan, &e),
    };
    runtime.block_on(crawl(plan, client, save))
}

// ANCHOR: client
/// The client every page shares. Left at its defaults, reqwest would follow
/// redirects and honour `http_proxy` from the environment; the workload
/// reports a redirect as the page's result and only ever talks to the URL
/// it was given.
///
/// The other settings switch off defaults made for long-lived connections
/// to a server that keeps them open. Here every connection carries one
/// request and is closed (the page server answers `Connection: close`).
fn client(plan: &Plan) -> reqwest::Result<reqwest::Client> {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        // No pool: no connection is ever idle, so there is nothing to hand
        // out. With the pool on, every request still queues for an idle
        // one, and each request that got its own connection instead scans
        // the whole queue to leave it: work that grows with the square of
        // the pages in flight to one host.
        .pool_max_idle_per_host(0)
        // Keepalive probes and TCP_USER_TIMEOUT notice a peer that vanished
        // from a connection kept for minutes; here the page's own timeout
        // below bounds a stuck page, and each option is one more
        // setsockopt on every new socket.
        .tcp_keepalive(None)
        .tcp_keepalive_interval(None)
        .tcp_keepalive_retries(None)
        .tcp_user_timeout(None)
        // reqwest retries only refused HTTP/2 streams, which this HTTP/1.1
        // client never meets, but the retry layer still copies every request
        // (headers, URI) in case it has to send it again; zero retries, no copy.
        .retry(reqwest::retry::never().max_retries_per_request(0))
        // The whole request, connect to last body byte, counted from send().
        .timeout(plan.timeout)
        .build()
}
// ANCHOR_END: client

async fn crawl(plan: &Plan, client: reqwest::Client, save: Option<crate::save::Dir>) -> Vec<Trace> {
    let clock = Clock::start();
    let limit = Arc::new(Semaphore::new(plan.in_flight()));
    let plan = Arc::new(plan.clone());
    let save = save.map(Arc::new);
    let mut tasks = JoinSet::new();
    for page in plan.all_pages() {
        // Let the pages already spawned run now and then (see the tokio
        // variant's crawl for why), and more often than there: a reqwest
        // page is two tasks (the request and hyper's connection) and takes
        // more turns of the runtime, so at one yield per 16 spawns new pages
        // start faster than started ones finish, and nearly every page's
        // connection, with hyper's buffers, is alive at once.
        if page.index % 4 == 3 {
            tokio::task::yield_now().await;
        }
        let (client, plan, limit, save) =
            (client.clone(), plan.clone(), limit.clone(), save.clone());
        tasks.spawn(async move {
            let mut trace = Trace::pending(&page, clock);
            let _permit = limit.acquire().await;
            trace.started();
            let mut result = fetch(&client, &plan, &page, &mut trace, save.is_some()).await;
            if let (Some(dir), Ok(body)) = (&save, &mut result) {
                // The tokio variant's save: on the blocking pool
                // (spawn_blocking), never through a symlink.
                if let Err(e) = crate::tokio_ct::save_page(dir, page.index, body).await {
                    result = Err(e);
                }
            }
            trace.finish(result)
        });
    }
    let mut traces = Vec::with_capacity(plan.pages);
    while let Some(finished) = tasks.join_next().await {
        if let Ok(trace) = finished {
            traces.push(trace);
        }
    }
    let lost = FetchError::new(ErrorKind::Io, "the page's task panicked");
    workload::every_page_once(&plan, clock, traces, &lost)
}

// ANCHOR: fetch
/// One page through the shared client, checked the way the workload's
/// reader checks the wire.
async fn fetch(
    client: &reqwest::Client,
    plan: &Plan,
    page: &Page,
    trace: &mut Trace,
    keep_body: bool,
) -> Result<Body, FetchError> {
    let named = |e| name_error(e, plan.timeout);
    // Connect (or take a pooled connection), send, and wait for the head.
    let mut response = client.get(&page.url).send().await.map_err(named)?;
    trace.connected();
    trace.first_byte();

    let status = response.status();
    if !status.is_success() {
        return Err(status_error(&response));
    }
    // hyper reads a body whose Transfer-Encoding is not chunked until EOF
    // and hands back the coded bytes; the workload refuses to count those.
    if let Some(te) = response.headers().get(reqwest::header::TRANSFER_ENCODING) {
        let te = String::from_utf8_lossy(te.as_bytes()).to_ascii_lowercase();
        if te.trim() != "chunked" {
            return Err(FetchError::new(
                ErrorKind::Unsupported,
                format!("Transfer-Encoding '{te}' is not decoded by this workload"),
            ));
        }
    }
    if response
        .content_length()
        .is_some_and(|n| n > plan.max_bytes)
    {
        return Err(FetchError::too_large(plan.max_bytes));
    }
    // Stream the body chunk by chunk, so --max-bytes holds even when the
    // server announced nothing: `response.bytes()` would buffer it all.
    let mut crc = crc32fast::Hasher::new();
    let mut bytes = 0u64;
    let mut kept = keep_body.then(Vec::new);
    while let Some(chunk) = response.chunk().await.map_err(named)? {
        bytes += chunk.len() as u64;
        if bytes > plan.max_bytes {
            return Err(FetchError::too_large(plan.max_bytes));
        }
        crc.update(&chunk);
        if let Some(kept) = &mut kept {
            kept.extend_from_slice(&chunk);
        }
    }
    let body = Body {
        status: status.as_u16(),
        bytes,
        crc32: crc.finalize(),
        body: kept,
    };
    // `--cpu-us`: the page's computing, inside its task.
    workload::cpu::spend(plan.cpu, &body);
    Ok(body)
}
// ANCHOR_END: fetch

/// A non-2xx answer, worded like the workload's reader words it.
fn status_error(response: &reqwest::Response) -> FetchError {
    let status = response.status();
    let location = response.headers().get(reqwest::header::LOCATION);
    FetchError::status(
        status.as_u16(),
        status.canonical_reason().unwrap_or(""),
        location
            .map(|l| String::from_utf8_lossy(l.as_bytes()))
            .as_deref(),
    )
}

// ANCHOR: name_error
/// Give a reqwest error one of the workload's names.
///
/// reqwest wraps hyper, which wraps the socket's `io::Error`; the most
/// specific layer decides. An `io::Error` anywhere in the chain names the
/// failure the way every other lesson names it (refused, reset, a body cut
/// short is `UnexpectedEof` = truncated); hyper's own errors say whether the
/// bytes were not HTTP (a parse error: malformed) or stopped before a whole
/// response (incomplete message: truncated).
pub fn name_error(e: reqwest::Error, timeout: Duration) -> FetchError {
    if e.is_timeout() {
        return FetchError::timeout(timeout.as_millis());
    }
    let mut io = None;
    let mut hyper = None;
    let mut source = e.source();
    while let Some(err) = source {
        if let Some(i) = err.downcast_ref::<std::io::Error>() {
            io = io.or(Some(i));
        }
        if let Some(h) = err.downcast_ref::<hyper::Error>() {
            hyper = hyper.or(Some(h));
        }
        source = err.source();
    }
    let detail = chain(&e);
    let kind = match (io, hyper) {
        // hyper's body decoder reports bad framing (a chunk size line that
        // is not hex) as InvalidInput / InvalidData: bytes that are not HTTP.
        (Some(io), _)
            if matches!(
                io.kind(),
                std::io::ErrorKind::InvalidInput | std::io::ErrorKind::InvalidData
            ) =>
        {
            ErrorKind::Malformed
        }
        (Some(io), _) => FetchError::from_io(io).kind,
        (None, Some(h)) if h.is_parse() || h.is_parse_too_large() || h.is_parse_status() => {
            ErrorKind::Malformed
        }
        (None, Some(h)) if h.is_incomplete_message() => ErrorKind::Truncated,
        (None, Some(h)) if h.is_timeout() => ErrorKind::Timeout,
        _ if e.is_connect() => ErrorKind::Refused,
        _ => ErrorKind::Io,
    };
    FetchError::new(kind, detail)
}
// ANCHOR_END: name_error

/// Every layer's words ("error sending request: client error (Connect):
/// tcp connect error: Connection refused"), without the URL: the trace has it.
fn chain(e: &reqwest::Error) -> String {
    let mut text = e.to_string();
    if let Some(url) = e.url() {
        text = text.replace(&format!(" for url ({url})"), "");
    }
    let mut source = e.source();
    while let Some(err) = source {
        let words = err.to_string();
        if !text.contains(&words) {
            text.push_str(": ");
            text.push_str(&words);
        }
        source = err.source();
    }
    text
}
