//! The HTTP bytes every lesson sends and receives.
//!
//! The request is the tutorial's one-liner, `GET /path HTTP/1.0` with a `Host:`
//! header. The response is read by the lesson, however its model waits, and
//! every byte it gets is fed to one [`ResponseReader`]. The reader enforces
//! the limits while the bytes arrive (head size, `--max-bytes`,
//! Content-Length, chunked framing), so no lesson can miscount a body or
//! buffer a gigabyte by accident, and the lesson's own loop stays visible.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::io;

/// The largest response head (status line + headers) accepted.
pub const MAX_HEAD_BYTES: usize = 64 * 1024;
/// The most header lines accepted in a response head.
pub const MAX_HEADERS: usize = 64;
/// Longest chunk-size line (hex digits plus extensions) accepted.
const MAX_CHUNK_LINE: usize = 1024;

/// The request for `path` on `host`: HTTP/1.0, so the server closes the
/// connection after the response and "read until EOF" is a complete answer.
pub fn request(host: &str, path: &str) -> Vec<u8> {
    format!("GET {path} HTTP/1.0\r\nHost: {host}\r\nConnection: close\r\n\r\n").into_bytes()
}

/// What went wrong with one page. Every failure has one of these names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// Nothing listens on the port: the kernel answered the SYN with a RST.
    Refused,
    /// The peer reset the connection.
    Reset,
    /// The page did not complete within `--timeout-ms`.
    Timeout,
    /// The connection closed before the response was complete.
    Truncated,
    /// The bytes are not an HTTP response we can read.
    Malformed,
    /// The body is larger than `--max-bytes`.
    TooLarge,
    /// The server answered with a status outside 2xx (redirects are not followed).
    Status,
    /// A valid response we deliberately do not decode (e.g. gzip transfer coding).
    Unsupported,
    /// The model ran out of something: threads, descriptors, FD_SETSIZE, processes.
    Resource,
    /// The run was cancelled (Ctrl-C) before the page finished.
    Cancelled,
    /// Any other I/O error, with the OS's message.
    Io,
}

impl ErrorKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::Refused => "refused",
            ErrorKind::Reset => "reset",
            ErrorKind::Timeout => "timeout",
            ErrorKind::Truncated => "truncated",
            ErrorKind::Malformed => "malformed",
            ErrorKind::TooLarge => "too_large",
            ErrorKind::Status => "status",
            ErrorKind::Unsupported => "unsupported",
            ErrorKind::Resource => "resource",
            ErrorKind::Cancelled => "cancelled",
            ErrorKind::Io => "io",
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A page's failure: its kind, the HTTP status when there was one, and a
/// sentence for humans.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FetchError {
    pub kind: ErrorKind,
    pub status: Option<u16>,
    pub detail: String,
}

impl FetchError {
    pub fn new(kind: ErrorKind, detail: impl Into<String>) -> Self {
        FetchError {
            kind,
            status: None,
            detail: detail.into(),
        }
    }

    /// A body past `--max-bytes`.
    pub fn too_large(max_bytes: u64) -> Self {
        FetchError::new(
            ErrorKind::TooLarge,
            format!("the body is larger than --max-bytes {max_bytes}"),
        )
    }

    /// A status outside 2xx; a redirect's `Location` is named, not followed.
    pub fn status(code: u16, reason: &str, location: Option<&str>) -> Self {
        let location = location
            .map(|l| format!(" (to {l}, not followed)"))
            .unwrap_or_default();
        FetchError {
            kind: ErrorKind::Status,
            status: Some(code),
            detail: format!("HTTP {code} {reason}{location}")
                .trim_end()
                .to_string(),
        }
    }

    pub fn timeout(limit_ms: u128) -> Self {
        FetchError::new(
            ErrorKind::Timeout,
            format!("no complete response within {limit_ms} ms"),
        )
    }

    /// Classify an error from the socket calls (connect, read, write).
    ///
    /// A read that hits `SO_RCVTIMEO` comes back as `WouldBlock` on Linux,
    /// so `WouldBlock` from a *blocking* socket means "timed out". Lessons
    /// with non-blocking sockets handle `WouldBlock` themselves and never
    /// pass it here.
    pub fn from_io(e: &io::Error) -> Self {
        use io::ErrorKind as K;
        let kind = match e.kind() {
            K::ConnectionRefused => ErrorKind::Refused,
            K::ConnectionReset | K::ConnectionAborted | K::BrokenPipe => ErrorKind::Reset,
            K::TimedOut | K::WouldBlock => ErrorKind::Timeout,
            K::UnexpectedEof => ErrorKind::Truncated,
            _ if e.raw_os_error() == Some(nix::libc::EMFILE)
                || e.raw_os_error() == Some(nix::libc::ENFILE)
                || e.raw_os_error() == Some(nix::libc::EADDRNOTAVAIL) =>
            {
                ErrorKind::Resource
            }
            _ => ErrorKind::Io,
        };
        FetchError::new(kind, e.to_string())
    }
}

impl From<io::Error> for FetchError {
    fn from(e: io::Error) -> Self {
        FetchError::from_io(&e)
    }
}

impl fmt::Display for FetchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.kind, self.detail)
    }
}

impl std::error::Error for FetchError {}

/// A page that arrived whole.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Body {
    pub status: u16,
    /// Length of the body after any chunked decoding.
    pub bytes: u64,
    /// CRC-32 of the body, so tests can check it byte for byte without the
    /// reader having to keep it.
    pub crc32: u32,
    /// The body itself, only when asked for with [`ResponseReader::keep_body`].
    pub body: Option<Vec<u8>>,
}

/// Whether the response is complete.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Progress {
    /// Keep reading.
    More,
    /// The server closed the connection and the response is whole.
    Done,
}

impl Progress {
    pub fn is_done(self) -> bool {
        self == Progress::Done
    }
}

#[derive(Debug)]
enum State {
    Head,
    Body(Framing),
    Done,
    Failed,
}

#[derive(Debug)]
enum Framing {
    Length { remaining: u64 },
    UntilEof,
    Chunked(Chunk),
}

#[derive(Debug)]
enum Chunk {
    SizeLine(Vec<u8>),
    Data(u64),
    DataEnd(Vec<u8>),
    Trailer(Vec<u8>),
    Finished,
}

/// Incremental reader of one HTTP/1.x response.
///
/// Feed it every slice the socket gives, and an empty slice when the socket
/// reports end of file. It answers [`Progress::More`] until the server has
/// closed the connection after a complete response, and an error as soon as
/// the bytes cannot be a good response (so the lesson stops reading).
#[derive(Debug)]
pub struct ResponseReader {
    max_bytes: u64,
    state: State,
    head: Vec<u8>,
    status: u16,
    body_len: u64,
    crc: crc32fast::Hasher,
    keep: Option<Vec<u8>>,
}

impl ResponseReader {
    pub fn new(max_bytes: u64) -> Self {
        ResponseReader {
            max_bytes,
            state: State::Head,
            head: Vec::new(),
            status: 0,
            body_len: 0,
            crc: crc32fast::Hasher::new(),
            keep: None,
        }
    }

    /// Keep the body in memory too (for a lesson that saves pages).
    pub fn keep_body(mut self) -> Self {
        self.keep = Some(Vec::new());
        self
    }

    /// Feed the next bytes from the socket; an empty slice means EOF.
    pub fn feed(&mut self, data: &[u8]) -> Result<Progress, FetchError> {
        let result = if data.is_empty() {
            self.eof()
        } else {
            self.bytes(data)
        };
        match result {
            Ok(()) if matches!(self.state, State::Done) => Ok(Progress::Done),
            Ok(()) => Ok(Progress::More),
            Err(e) => {
                self.state = State::Failed;
                Err(e)
            }
        }
    }

    /// The page, once [`Progress::Done`] was returned; otherwise the
    /// response is incomplete and this says so.
    pub fn finish(self) -> Result<Body, FetchError> {
        match self.state {
            State::Done => Ok(Body {
                status: self.status,
                bytes: self.body_len,
                crc32: self.crc.finalize(),
                body: self.keep,
            }),
            State::Head if self.head.is_empty() => Err(FetchError::new(
                ErrorKind::Truncated,
                "the connection ended before any response byte",
            )),
            State::Failed => Err(FetchError::new(
                ErrorKind::Malformed,
                "the reader already reported an error",
            )),
            _ => Err(FetchError::new(
                ErrorKind::Truncated,
                "the response is not complete",
            )),
        }
    }

    fn eof(&mut self) -> Result<(), FetchError> {
        let truncated = |what: String| Err(FetchError::new(ErrorKind::Truncated, what));
        match &self.state {
            State::Head if self.head.is_empty() => {
                truncated("the server closed the connection without sending a byte".into())
            }
            State::Head => truncated(format!(
                "the connection closed inside the response head after {} bytes",
                self.head.len()
            )),
            State::Body(Framing::Length { remaining: 0 }) | State::Body(Framing::UntilEof) => {
                self.state = State::Done;
                Ok(())
            }
            State::Body(Framing::Length { remaining }) => truncated(format!(
                "the body ended after {} bytes, {} short of its Content-Length",
                self.body_len, remaining
            )),
            State::Body(Framing::Chunked(Chunk::Finished)) => {
                self.state = State::Done;
                Ok(())
            }
            State::Body(Framing::Chunked(_)) => truncated(format!(
                "the chunked body ended after {} bytes without its last chunk",
                self.body_len
            )),
            State::Done => Ok(()),
            State::Failed => Err(FetchError::new(ErrorKind::Malformed, "fed after an error")),
        }
    }

    fn bytes(&mut self, data: &[u8]) -> Result<(), FetchError> {
        match self.state {
            State::Head => self.head_bytes(data),
            State::Body(_) => self.body_bytes(data),
            State::Done => Err(FetchError::new(
                ErrorKind::Malformed,
                "bytes after end of file",
            )),
            State::Failed => Err(FetchError::new(ErrorKind::Malformed, "fed after an error")),
        }
    }

    fn head_bytes(&mut self, data: &[u8]) -> Result<(), FetchError> {
        self.head.extend_from_slice(data);
        // On the heap, not the stack: 64 slots are 2 KiB, a quarter of a
        // small coroutine stack (lesson 6), needed only while the head parses.
        let mut headers = vec![httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut response = httparse::Response::new(&mut headers);
        let head_len = match response.parse(&self.head) {
            Ok(httparse::Status::Complete(n)) => n,
            Ok(httparse::Status::Partial) if self.head.len() > MAX_HEAD_BYTES => {
                return Err(FetchError::new(
                    ErrorKind::Malformed,
                    format!("the response head is larger than {MAX_HEAD_BYTES} bytes"),
                ))
            }
            Ok(httparse::Status::Partial) => return Ok(()),
            Err(httparse::Error::TooManyHeaders) => {
                return Err(FetchError::new(
                    ErrorKind::Malformed,
                    format!("the response has more than {MAX_HEADERS} headers"),
                ))
            }
            Err(e) => {
                return Err(FetchError::new(
                    ErrorKind::Malformed,
                    format!("not an HTTP response: {e}"),
                ))
            }
        };
        if head_len > MAX_HEAD_BYTES {
            return Err(FetchError::new(
                ErrorKind::Malformed,
                format!("the response head is larger than {MAX_HEAD_BYTES} bytes"),
            ));
        }
        let status = response.code.unwrap_or(0);
        if !(200..300).contains(&status) {
            let location = header(response.headers, "location");
            return Err(FetchError::status(
                status,
                response.reason.unwrap_or(""),
                location.map(String::from_utf8_lossy).as_deref(),
            ));
        }
        let framing = framing(response.headers, self.max_bytes)?;
        self.status = status;
        let rest = self.head.split_off(head_len);
        self.head.shrink_to_fit();
        self.state = State::Body(framing);
        if rest.is_empty() {
            Ok(())
        } else {
            self.body_bytes(&rest)
        }
    }

    fn body_bytes(&mut self, mut data: &[u8]) -> Result<(), FetchError> {
        while !data.is_empty() {
            let State::Body(framing) = &mut self.state else {
                unreachable!("body_bytes is only called in the body state")
            };
            match framing {
                Framing::UntilEof => {
                    self.accept(data)?;
                    data = &[];
                }
                Framing::Length { remaining } => {
                    if data.len() as u64 > *remaining {
                        return Err(FetchError::new(
                            ErrorKind::Malformed,
                            "the body is longer than its Content-Length",
                        ));
                    }
                    *remaining -= data.len() as u64;
                    self.accept(data)?;
                    data = &[];
                }
                Framing::Chunked(chunk) => {
                    let used = match chunk {
                        Chunk::SizeLine(line) => {
                            let (used, complete) = take_line(line, data)?;
                            if complete {
                                let size = chunk_size(line)?;
                                *chunk = if size == 0 {
                                    Chunk::Trailer(Vec::new())
                                } else {
                                    Chunk::Data(size)
                                };
                            }
                            used
                        }
                        Chunk::Data(remaining) => {
                            let n = (*remaining).min(data.len() as u64) as usize;
                            *remaining -= n as u64;
                            if *remaining == 0 {
                                *chunk = Chunk::DataEnd(Vec::new());
                            }
                            self.accept(&data[..n])?;
                            n
                        }
                        Chunk::DataEnd(line) => {
                            let (used, complete) = take_line(line, data)?;
                            if complete {
                                if !line.is_empty() {
                                    return Err(FetchError::new(
                                        ErrorKind::Malformed,
                                        "a chunk is longer than its declared size",
                                    ));
                                }
                                *chunk = Chunk::SizeLine(Vec::new());
                            }
                            used
                        }
                        Chunk::Trailer(line) => {
                            let (used, complete) = take_line(line, data)?;
                            if complete {
                                if line.is_empty() {
                                    *chunk = Chunk::Finished;
                                } else {
                                    line.clear(); // a trailer field: ignored
                                }
                            }
                            used
                        }
                        Chunk::Finished => {
                            return Err(FetchError::new(
                                ErrorKind::Malformed,
                                "bytes after the last chunk",
                            ))
                        }
                    };
                    data = &data[used..];
                }
            }
        }
        Ok(())
    }

    /// Count (and check against `--max-bytes`) decoded body bytes.
    fn accept(&mut self, data: &[u8]) -> Result<(), FetchError> {
        self.body_len += data.len() as u64;
        if self.body_len > self.max_bytes {
            return Err(FetchError::too_large(self.max_bytes));
        }
        self.crc.update(data);
        if let Some(keep) = &mut self.keep {
            keep.extend_from_slice(data);
        }
        Ok(())
    }
}

fn header<'a>(headers: &'a [httparse::Header<'_>], name: &str) -> Option<&'a [u8]> {
    headers
        .iter()
        .find(|h| h.name.eq_ignore_ascii_case(name))
        .map(|h| h.value)
}

/// How the body is delimited: chunked, Content-Length, or end of file.
fn framing(headers: &[httparse::Header<'_>], max_bytes: u64) -> Result<Framing, FetchError> {
    let malformed = |what: String| FetchError::new(ErrorKind::Malformed, what);
    if let Some(te) = header(headers, "transfer-encoding") {
        let te = String::from_utf8_lossy(te).to_ascii_lowercase();
        let codings: Vec<&str> = te.split(',').map(str::trim).collect();
        return if codings == ["chunked"] {
            Ok(Framing::Chunked(Chunk::SizeLine(Vec::new())))
        } else {
            Err(FetchError::new(
                ErrorKind::Unsupported,
                format!("Transfer-Encoding '{te}' is not decoded by this workload"),
            ))
        };
    }
    let mut length: Option<u64> = None;
    for h in headers
        .iter()
        .filter(|h| h.name.eq_ignore_ascii_case("content-length"))
    {
        let text = std::str::from_utf8(h.value).unwrap_or("").trim();
        let value: u64 = text
            .parse()
            .map_err(|_| malformed(format!("bad Content-Length '{text}'")))?;
        if length.is_some_and(|l| l != value) {
            return Err(malformed("two different Content-Length headers".into()));
        }
        length = Some(value);
    }
    match length {
        Some(n) if n > max_bytes => Err(FetchError::too_large(max_bytes)),
        Some(n) => Ok(Framing::Length { remaining: n }),
        None => Ok(Framing::UntilEof),
    }
}

/// Append bytes up to and including the next LF to `line`; says how many
/// bytes of `data` it used and whether the line is complete (CRLF removed).
fn take_line(line: &mut Vec<u8>, data: &[u8]) -> Result<(usize, bool), FetchError> {
    let (used, complete) = match data.iter().position(|&b| b == b'\n') {
        Some(i) => (i + 1, true),
        None => (data.len(), false),
    };
    line.extend_from_slice(&data[..used]);
    if line.len() > MAX_CHUNK_LINE {
        return Err(FetchError::new(
            ErrorKind::Malformed,
            "a chunk framing line is too long",
        ));
    }
    if complete {
        line.pop();
        if line.last() == Some(&b'\r') {
            line.pop();
        }
    }
    Ok((used, complete))
}

fn chunk_size(line: &[u8]) -> Result<u64, FetchError> {
    let text = String::from_utf8_lossy(line);
    let digits = text.split(';').next().unwrap_or("").trim();
    u64::from_str_radix(digits, 16).map_err(|_| {
        FetchError::new(
            ErrorKind::Malformed,
            format!("bad chunk size line '{text}'"),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_all(max: u64, pieces: &[&[u8]]) -> Result<Body, FetchError> {
        let mut r = ResponseReader::new(max).keep_body();
        for p in pieces {
            if r.feed(p)?.is_done() {
                break;
            }
        }
        r.finish()
    }

    /// Feed `bytes` one byte at a time, then EOF.
    fn drip(max: u64, bytes: &[u8]) -> Result<Body, FetchError> {
        let mut r = ResponseReader::new(max).keep_body();
        for b in bytes.chunks(1) {
            r.feed(b)?;
        }
        r.feed(&[])?;
        r.finish()
    }

    const OK: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello";

    #[test]
    fn request_is_http10_with_host() {
        let r = request("example.com:8080", "/3");
        assert_eq!(
            r,
            b"GET /3 HTTP/1.0\r\nHost: example.com:8080\r\nConnection: close\r\n\r\n"
        );
    }

    #[test]
    fn content_length_body_completes_at_eof() {
        let mut r = ResponseReader::new(100);
        assert_eq!(r.feed(OK).unwrap(), Progress::More);
        assert_eq!(r.feed(b"").unwrap(), Progress::Done);
        let body = r.finish().unwrap();
        assert_eq!((body.status, body.bytes), (200, 5));
        assert_eq!(body.crc32, crc32fast::hash(b"hello"));
    }

    #[test]
    fn byte_by_byte_gives_the_same_page() {
        let whole = read_all(100, &[OK, b""]).unwrap();
        assert_eq!(drip(100, OK).unwrap(), whole);
        assert_eq!(whole.body.as_deref(), Some(&b"hello"[..]));
    }

    #[test]
    fn short_body_is_truncated() {
        let e = read_all(
            100,
            &[b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhello", b""],
        )
        .unwrap_err();
        assert_eq!(e.kind, ErrorKind::Truncated);
        assert!(e.detail.contains("5 short"), "{e}");
    }

    #[test]
    fn longer_body_than_content_length_is_malformed() {
        let e = read_all(100, &[b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhello"]).unwrap_err();
        assert_eq!(e.kind, ErrorKind::Malformed);
    }

    #[test]
    fn no_content_length_reads_until_eof() {
        let b = read_all(100, &[b"HTTP/1.0 200 OK\r\n\r\nabc", b"def", b""]).unwrap();
        assert_eq!(b.bytes, 6);
        assert_eq!(b.body.unwrap(), b"abcdef");
    }

    #[test]
    fn chunked_is_decoded_in_any_split() {
        let wire: &[u8] = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n\
            5;ext=1\r\nhello\r\n7\r\n, world\r\n0\r\nX-Trailer: y\r\n\r\n";
        let whole = read_all(100, &[wire, b""]).unwrap();
        assert_eq!(whole.body.as_deref(), Some(&b"hello, world"[..]));
        assert_eq!(whole.bytes, 12);
        assert_eq!(drip(100, wire).unwrap(), whole);
    }

    #[test]
    fn chunked_without_last_chunk_is_truncated() {
        let e = read_all(
            100,
            &[
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n",
                b"",
            ],
        )
        .unwrap_err();
        assert_eq!(e.kind, ErrorKind::Truncated);
    }

    #[test]
    fn chunk_longer_than_declared_is_malformed() {
        let e = read_all(
            100,
            &[b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhello\r\n0\r\n\r\n"],
        )
        .unwrap_err();
        assert_eq!(e.kind, ErrorKind::Malformed);
    }

    #[test]
    fn bad_chunk_size_is_malformed() {
        let e = read_all(
            100,
            &[b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"],
        )
        .unwrap_err();
        assert_eq!(e.kind, ErrorKind::Malformed);
    }

    #[test]
    fn other_transfer_codings_are_unsupported() {
        let e = read_all(
            100,
            &[b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"],
        )
        .unwrap_err();
        assert_eq!(e.kind, ErrorKind::Unsupported);
    }

    #[test]
    fn max_bytes_is_enforced_by_content_length_and_while_reading() {
        let e = read_all(4, &[OK]).unwrap_err();
        assert_eq!(e.kind, ErrorKind::TooLarge);
        let mut r = ResponseReader::new(4);
        r.feed(b"HTTP/1.0 200 OK\r\n\r\nabc").unwrap();
        assert_eq!(r.feed(b"de").unwrap_err().kind, ErrorKind::TooLarge);
        let e = read_all(
            4,
            &[b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n9\r\n123456789"],
        )
        .unwrap_err();
        assert_eq!(e.kind, ErrorKind::TooLarge);
    }

    #[test]
    fn non_2xx_is_a_status_error_with_its_code() {
        let e = read_all(
            100,
            &[b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"],
        )
        .unwrap_err();
        assert_eq!((e.kind, e.status), (ErrorKind::Status, Some(404)));
        let e = read_all(
            100,
            &[b"HTTP/1.1 301 Moved Permanently\r\nLocation: /elsewhere\r\n\r\n"],
        )
        .unwrap_err();
        assert_eq!(e.status, Some(301));
        assert!(e.detail.contains("/elsewhere"), "{e}");
    }

    #[test]
    fn garbage_and_bad_status_lines_are_malformed() {
        for wire in [
            &b"\x00\x01\x02garbage\r\n\r\n"[..],
            b"HTTP/1.1 abc OK\r\n\r\n",
            b"SSH-2.0-OpenSSH\r\n\r\n",
        ] {
            let e = read_all(100, &[wire]).unwrap_err();
            assert_eq!(e.kind, ErrorKind::Malformed, "{wire:?}");
        }
    }

    #[test]
    fn bad_content_length_is_malformed() {
        for wire in [
            &b"HTTP/1.1 200 OK\r\nContent-Length: lots\r\n\r\n"[..],
            b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
        ] {
            assert_eq!(
                read_all(100, &[wire]).unwrap_err().kind,
                ErrorKind::Malformed
            );
        }
    }

    #[test]
    fn endless_headers_are_cut_off() {
        let mut r = ResponseReader::new(100);
        r.feed(b"HTTP/1.1 200 OK\r\n").unwrap();
        let line = b"X-Filler: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n";
        let err = (0..10_000)
            .find_map(|_| r.feed(line).err())
            .expect("the reader must give up on an endless head");
        assert_eq!(err.kind, ErrorKind::Malformed);
        // One endless header line, too.
        let mut r = ResponseReader::new(100);
        r.feed(b"HTTP/1.1 200 OK\r\nX-Long: ").unwrap();
        let err = (0..10_000)
            .find_map(|_| r.feed(&[b'a'; 1024]).err())
            .expect("the reader must give up on an endless header line");
        assert_eq!(err.kind, ErrorKind::Malformed);
    }

    #[test]
    fn eof_before_anything_or_inside_the_head_is_truncated() {
        let e = read_all(100, &[b""]).unwrap_err();
        assert_eq!(e.kind, ErrorKind::Truncated);
        assert!(e.detail.contains("without sending a byte"));
        let e = read_all(100, &[b"HTTP/1.1 200 OK\r\nContent-", b""]).unwrap_err();
        assert_eq!(e.kind, ErrorKind::Truncated);
    }

    #[test]
    fn finish_before_eof_is_truncated_not_ok() {
        let mut r = ResponseReader::new(100);
        r.feed(OK).unwrap();
        assert_eq!(r.finish().unwrap_err().kind, ErrorKind::Truncated);
    }

    #[test]
    fn io_errors_get_names() {
        use io::ErrorKind as K;
        let name = |k| FetchError::from_io(&io::Error::from(k)).kind;
        assert_eq!(name(K::ConnectionRefused), ErrorKind::Refused);
        assert_eq!(name(K::ConnectionReset), ErrorKind::Reset);
        assert_eq!(name(K::WouldBlock), ErrorKind::Timeout);
        assert_eq!(name(K::TimedOut), ErrorKind::Timeout);
        let emfile = io::Error::from_raw_os_error(nix::libc::EMFILE);
        assert_eq!(FetchError::from_io(&emfile).kind, ErrorKind::Resource);
    }
}
