//! The server's HTTP: parse a request head, and the response bytes for it.
//!
//! A lesson reads from its connection however its model waits, appends
//! what it read to its buffer, and asks [`parse_request`] whether a whole
//! head has arrived. The answer says which page, whether the connection
//! stays open, and how many bytes the head took (what follows is the next,
//! pipelined request). [`Pages`] gives the bytes to write back, built once
//! and shared, so a server spends its time waiting and writing, not
//! formatting.

use bytes::Bytes;
use std::fmt;
use std::sync::{Arc, OnceLock};

/// The largest request head accepted: a head still incomplete at this size
/// is refused with 431.
pub const MAX_REQUEST_HEAD: usize = 8 * 1024;
/// The most header lines accepted in a request head.
const MAX_HEADERS: usize = 32;
/// Responses of pages below this index are built once and kept.
const CACHED_PAGES: usize = 4096;

/// A whole request head.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Request {
    pub route: Route,
    /// Whether the connection stays open after the response: HTTP/1.1
    /// unless `Connection: close`, HTTP/1.0 only with
    /// `Connection: keep-alive`.
    pub keep_alive: bool,
    /// Bytes the head took; whatever follows is the next request.
    pub len: usize,
}

/// What a request asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// `GET /N` (`/` is page 0).
    Page(usize),
    /// A path that is no page: 404.
    NotFound,
    /// A method other than GET: 405.
    NotAllowed,
}

/// A request head that cannot be served: the connection gets an error
/// response and is closed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BadRequest {
    /// Not HTTP, or HTTP we do not take (a request body): 400.
    Malformed(String),
    /// Still no end of head after [`MAX_REQUEST_HEAD`] bytes: 431.
    TooLarge,
}

impl BadRequest {
    pub fn status(&self) -> u16 {
        match self {
            BadRequest::Malformed(_) => 400,
            BadRequest::TooLarge => 431,
        }
    }
}

impl fmt::Display for BadRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BadRequest::Malformed(why) => write!(f, "malformed request: {why}"),
            BadRequest::TooLarge => write!(f, "request head larger than {MAX_REQUEST_HEAD} bytes"),
        }
    }
}

impl std::error::Error for BadRequest {}

/// Parse the request head at the start of `buf`: `Ok(None)` while it is
/// incomplete (read more), `Ok(Some(request))` once it is whole.
pub fn parse_request(buf: &[u8]) -> Result<Option<Request>, BadRequest> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    let len = match req.parse(buf) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) if buf.len() >= MAX_REQUEST_HEAD => {
            return Err(BadRequest::TooLarge)
        }
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(httparse::Error::TooManyHeaders) => return Err(BadRequest::TooLarge),
        Err(e) => return Err(BadRequest::Malformed(e.to_string())),
    };
    if len > MAX_REQUEST_HEAD {
        return Err(BadRequest::TooLarge);
    }
    let version = req.version.unwrap_or(1);
    let mut keep_alive = version >= 1;
    for h in req.headers.iter() {
        if h.name.eq_ignore_ascii_case("connection") {
            let value = String::from_utf8_lossy(h.value);
            for token in value.split(',').map(str::trim) {
                if token.eq_ignore_ascii_case("close") {
                    keep_alive = false;
                } else if token.eq_ignore_ascii_case("keep-alive") {
                    keep_alive = true;
                }
            }
        } else if h.name.eq_ignore_ascii_case("transfer-encoding")
            || (h.name.eq_ignore_ascii_case("content-length") && h.value != b"0")
        {
            // A body we would have to skip to find the next request: refuse
            // rather than misread it as one.
            return Err(BadRequest::Malformed("a GET with a body".into()));
        }
    }
    let route = match (req.method, req.path) {
        (Some("GET"), Some(path)) => page_of(path).map_or(Route::NotFound, Route::Page),
        _ => Route::NotAllowed,
    };
    Ok(Some(Request {
        route,
        keep_alive,
        len,
    }))
}

/// `/` is page 0, `/N` page N.
fn page_of(path: &str) -> Option<usize> {
    let rest = path.strip_prefix('/')?;
    if rest.is_empty() {
        return Some(0);
    }
    if !rest.bytes().all(|b| b.is_ascii_digit()) || rest.len() > 9 {
        return None;
    }
    rest.parse().ok()
}

/// The response bytes (head and body) for every request, the first pages'
/// built once and shared. Cloning is cheap.
#[derive(Clone)]
pub struct Pages {
    size: usize,
    /// `[keep-alive, close]` responses of the first pages.
    cached: Arc<[[OnceLock<Bytes>; 2]]>,
}

impl fmt::Debug for Pages {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Pages {{ size: {} }}", self.size)
    }
}

impl Pages {
    /// Pages whose bodies are `size` bytes (see [`crate::server::page_body`]).
    pub fn new(size: usize) -> Pages {
        Pages {
            size,
            cached: (0..CACHED_PAGES).map(|_| Default::default()).collect(),
        }
    }

    /// The whole response to `request`.
    pub fn response(&self, request: &Request) -> Bytes {
        match request.route {
            Route::Page(n) => self.page(n, request.keep_alive),
            Route::NotFound => error_response(404, "Not Found", request.keep_alive),
            Route::NotAllowed => error_response(405, "Method Not Allowed", request.keep_alive),
        }
    }

    /// The response to a head that cannot be served; the connection is
    /// closed after it.
    pub fn refusal(&self, bad: &BadRequest) -> Bytes {
        match bad {
            BadRequest::Malformed(_) => error_response(400, "Bad Request", false),
            BadRequest::TooLarge => error_response(431, "Request Header Fields Too Large", false),
        }
    }

    /// Page `n`'s response.
    pub fn page(&self, n: usize, keep_alive: bool) -> Bytes {
        let build = || {
            let body = crate::server::page_body(n, self.size);
            let mut out = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\n\
                 Content-Length: {}\r\nConnection: {}\r\n\r\n",
                body.len(),
                connection(keep_alive)
            )
            .into_bytes();
            out.extend_from_slice(&body);
            Bytes::from(out)
        };
        match self.cached.get(n) {
            Some(slots) => slots[usize::from(!keep_alive)].get_or_init(build).clone(),
            None => build(),
        }
    }
}

fn connection(keep_alive: bool) -> &'static str {
    if keep_alive {
        "keep-alive"
    } else {
        "close"
    }
}

fn error_response(status: u16, reason: &str, keep_alive: bool) -> Bytes {
    let body = format!("{status} {reason}: pages are /, /1, /2, ...\n");
    Bytes::from(format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: text/plain; charset=utf-8\r\n\
         Content-Length: {}\r\nConnection: {}\r\n\r\n{body}",
        body.len(),
        connection(keep_alive)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Option<Request>, BadRequest> {
        parse_request(text.as_bytes())
    }

    #[test]
    fn pages_and_keep_alive() {
        let r = parse("GET /7 HTTP/1.1\r\nHost: x\r\n\r\n")
            .unwrap()
            .unwrap();
        assert_eq!(r.route, Route::Page(7));
        assert!(r.keep_alive);
        let r = parse("GET / HTTP/1.1\r\nConnection: close\r\n\r\n")
            .unwrap()
            .unwrap();
        assert_eq!((r.route, r.keep_alive), (Route::Page(0), false));
        // The lessons' own clients: HTTP/1.0, closed after the response.
        let r = parse_request(&crate::http::request("h", "/3"))
            .unwrap()
            .unwrap();
        assert_eq!((r.route, r.keep_alive), (Route::Page(3), false));
        let r = parse("GET /3 HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n")
            .unwrap()
            .unwrap();
        assert!(r.keep_alive);
    }

    #[test]
    fn routes_that_are_not_pages() {
        let route = |t: &str| parse(t).unwrap().unwrap().route;
        assert_eq!(route("GET /nope HTTP/1.1\r\n\r\n"), Route::NotFound);
        assert_eq!(route("GET /1/2 HTTP/1.1\r\n\r\n"), Route::NotFound);
        assert_eq!(route("GET /99999999999 HTTP/1.1\r\n\r\n"), Route::NotFound);
        assert_eq!(route("POST /1 HTTP/1.1\r\n\r\n"), Route::NotAllowed);
    }

    #[test]
    fn partial_pipelined_bad_and_large_heads() {
        assert_eq!(parse("GET /1 HTTP/1.1\r\nHost:"), Ok(None));
        let two = "GET /1 HTTP/1.1\r\n\r\nGET /2 HTTP/1.1\r\n\r\n";
        let first = parse(two).unwrap().unwrap();
        assert_eq!(first.route, Route::Page(1));
        let second = parse(&two[first.len..]).unwrap().unwrap();
        assert_eq!(second.route, Route::Page(2));
        assert_eq!(first.len + second.len, two.len());

        assert!(matches!(
            parse("\x16\x03\x01garbage\r\n\r\n"),
            Err(BadRequest::Malformed(_))
        ));
        let long = format!("GET /1 HTTP/1.1\r\nX: {}", "a".repeat(MAX_REQUEST_HEAD));
        assert_eq!(parse(&long), Err(BadRequest::TooLarge));
        let body = "GET /1 HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello";
        assert!(matches!(parse(body), Err(BadRequest::Malformed(_))));
    }

    #[test]
    fn responses_carry_the_page_and_say_whether_they_close() {
        let pages = Pages::new(300);
        let r = pages.page(5, true);
        assert!(r.starts_with(b"HTTP/1.1 200 OK\r\n"));
        assert!(r.ends_with(&crate::server::page_body(5, 300)));
        let text = String::from_utf8_lossy(&r);
        assert!(text.contains("Content-Length: 300\r\n"), "{text}");
        assert!(text.contains("Connection: keep-alive\r\n"), "{text}");
        assert!(String::from_utf8_lossy(&pages.page(5, false)).contains("Connection: close"));
        // Beyond the cache, built on demand, the same bytes.
        assert!(pages
            .page(10_000, true)
            .ends_with(&crate::server::page_body(10_000, 300)));
        let refusal = pages.refusal(&BadRequest::TooLarge);
        assert!(refusal.starts_with(b"HTTP/1.1 431 "));
        assert!(String::from_utf8_lossy(&refusal).contains("Connection: close"));
    }
}
