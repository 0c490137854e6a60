//! Server `hyper`: what production code writes, as `reqwest` is on the
//! fetch side. hyper's HTTP/1 server reads and parses the requests, keeps
//! the connections alive, answers pipelined requests in order, enforces the
//! header timeout and refuses what is not HTTP; the lesson writes the
//! accept loop and the handler, an `async fn` from a request to a response.
//!
//! Like the `tokio` server it runs on tokio's current-thread runtime, one
//! task per connection, so the two rows differ only in who speaks HTTP.
//! Besides the pages it answers the tutorial's aiohttp lookup, `GET
//! /<name>`, with a JSON document (see `people`).

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use std::convert::Infallible;
use std::io;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::{sleep, timeout};
use tokio_io_timeout::TimeoutStream;
use workload::serve::{after_accept_error, AfterAcceptError, Pages, Serving, MAX_REQUEST_HEAD};

/// The runtime (one thread), then the accept loop on it.
pub fn serve(serving: Serving) -> io::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(accept_loop(serving))
    // Dropping the runtime drops the connections still open.
}

/// What the handler needs.
struct App {
    pages: Pages,
    latency: Duration,
}

// ANCHOR: accept_loop
/// Accept, hand each connection to hyper in a task of its own; after
/// Ctrl-C, let hyper close the idle connections and finish the others.
async fn accept_loop(serving: Serving) -> io::Result<()> {
    let Serving {
        listener,
        config,
        pages,
        shutdown,
    } = serving;
    let (listener, stopped) = super::tokio_tasks::on_tokio(listener, &shutdown)?;

    // How hyper serves every connection: HTTP/1.1 with keep-alive, a whole
    // head within the header timeout (from the moment it starts waiting
    // for one, idle keep-alive connections included), heads no larger than
    // the workload's limit (431 beyond it).
    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(config.header_timeout)
        .max_header_size(MAX_REQUEST_HEAD)
        .keep_alive(true);
    let app = Arc::new(App {
        pages,
        latency: config.latency,
    });
    let graceful = GracefulShutdown::new();

    let result = loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _peer)) => {
                    let _ = stream.set_nodelay(true);
                    // hyper times the head but not the response: a client
                    // that stops reading would hold its task for ever. The
                    // wrapper fails a write that makes no progress for the
                    // header timeout.
                    let mut stream = TimeoutStream::new(stream);
                    stream.set_write_timeout(Some(config.header_timeout));
                    let stream = TokioIo::new(Box::pin(stream));
                    let app = app.clone();
                    let service = service_fn(move |request| respond(app.clone(), request));
                    let connection = http.serve_connection(stream, service);
                    // The connection, watched: on shutdown hyper finishes
                    // the request in flight, then closes.
                    let connection = graceful.watch(connection);
                    tokio::spawn(async move {
                        // A client that broke the connection, sent garbage
                        // (hyper has answered 400) or was too slow: its
                        // task ends, nothing else is affected.
                        let _ = connection.await;
                    });
                }
                Err(e) => match after_accept_error(&e, &shutdown) {
                    AfterAcceptError::Retry => {}
                    AfterAcceptError::BackOff(pause) => tokio::select! {
                        () = sleep(pause) => {}
                        _ = stopped.readable() => {}
                    },
                    AfterAcceptError::Stop(result) => break result,
                },
            },
            _ = stopped.readable() => break Ok(()),
        }
    };
    drop(listener);
    // Idle connections close at once; the others get their think time and
    // a second more.
    let _ = timeout(config.latency + Duration::from_secs(1), graceful.shutdown()).await;
    result
}
// ANCHOR_END: accept_loop

// ANCHOR: respond
/// The handler: hyper calls it with a whole request head, and writes what
/// it returns. The think time is a tokio sleep, counted from now (none when
/// it is zero: tokio's timer would still wait for its next millisecond).
async fn respond(
    app: Arc<App>,
    request: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    if !app.latency.is_zero() {
        sleep(app.latency).await;
    }
    if request.method() != Method::GET {
        return Ok(plain(
            StatusCode::METHOD_NOT_ALLOWED,
            Bytes::from_static(b"GET only\n"),
        ));
    }
    let path = request.uri().path();
    Ok(match page_of(path) {
        Some(n) => plain(StatusCode::OK, body(app.pages.page(n, true))),
        // The tutorial's `web.get('/{name}', home)`.
        None => match super::people::lookup(path.trim_start_matches('/')) {
            Some(person) => json(StatusCode::OK, &person),
            None => json(StatusCode::NOT_FOUND, &super::people::not_found()),
        },
    })
}
// ANCHOR_END: respond

/// `/` is page 0, `/N` page N (at most nine digits, as the workload reads it).
fn page_of(path: &str) -> Option<usize> {
    let digits = path.strip_prefix('/')?;
    if digits.is_empty() {
        return Some(0);
    }
    if digits.len() > 9 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// A page's body: the shared response bytes after their head, so every
/// server sends the same page bytes (a slice of the same buffer, no copy).
fn body(response: Bytes) -> Bytes {
    let start = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map_or(0, |end| end + 4);
    response.slice(start..)
}

fn plain(status: StatusCode, body: Bytes) -> Response<Full<Bytes>> {
    with_type(status, body, "text/plain; charset=utf-8")
}

fn json(status: StatusCode, document: &serde_json::Value) -> Response<Full<Bytes>> {
    with_type(
        status,
        Bytes::from(document.to_string()),
        "application/json; charset=utf-8",
    )
}

fn with_type(status: StatusCode, body: Bytes, content_type: &'static str) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(body));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_and_names() {
        assert_eq!(page_of("/"), Some(0));
        assert_eq!(page_of("/42"), Some(42));
        assert_eq!(page_of("/Brus%20Lee"), None);
        assert_eq!(page_of("/1234567890"), None);
        let pages = Pages::new(100);
        assert_eq!(
            body(pages.page(3, true)),
            workload::server::page_body(3, 100)
        );
    }
}
