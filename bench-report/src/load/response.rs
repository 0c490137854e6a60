//! One response as the load generator reads it: the head parsed in place
//! (httparse borrows the connection's buffer, nothing is copied or
//! allocated), the few facts the generator needs from it, and the names of
//! everything that can go wrong with a request.

use serde::Serialize;
use std::fmt;
use std::io;

/// What went wrong with one request. Each failure has one of these names in
/// the report and the JSON object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Failure {
    /// Nothing listens on the port: the kernel answered the SYN with a RST.
    Refused,
    /// The connection could not be made for another reason.
    Connect,
    /// The server reset the connection.
    Reset,
    /// The server closed the connection before the response was whole.
    Closed,
    /// No whole response within `--timeout-ms` of the request's send.
    Timeout,
    /// A status other than 200.
    Status,
    /// Bytes that are not an HTTP/1.x response with a Content-Length.
    Malformed,
    /// A Content-Length other than `--size`.
    Length,
    /// Body bytes other than the page's (`--check-bodies`).
    Body,
    /// The generator ran out of descriptors or local ports.
    Resource,
    /// Any other I/O error.
    Io,
}

impl Failure {
    pub const ALL: [Failure; 11] = [
        Failure::Refused,
        Failure::Connect,
        Failure::Reset,
        Failure::Closed,
        Failure::Timeout,
        Failure::Status,
        Failure::Malformed,
        Failure::Length,
        Failure::Body,
        Failure::Resource,
        Failure::Io,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Failure::Refused => "refused",
            Failure::Connect => "connect",
            Failure::Reset => "reset",
            Failure::Closed => "closed",
            Failure::Timeout => "timeout",
            Failure::Status => "status",
            Failure::Malformed => "malformed",
            Failure::Length => "length",
            Failure::Body => "body",
            Failure::Resource => "resource",
            Failure::Io => "io",
        }
    }

    /// The position in [`Failure::ALL`], for counting in an array.
    pub fn index(self) -> usize {
        self as usize
    }

    /// A connection that could not be made: the next try waits a little,
    /// so a port with nothing behind it is not hammered in a busy loop.
    pub fn is_connect(self) -> bool {
        matches!(
            self,
            Failure::Refused | Failure::Connect | Failure::Resource
        )
    }

    /// An error of `connect(2)`.
    pub fn from_connect(e: &io::Error) -> Failure {
        match Failure::from_io(e) {
            Failure::Io | Failure::Closed => Failure::Connect,
            f => f,
        }
    }

    /// An error of a read or a write on a connected socket.
    pub fn from_io(e: &io::Error) -> Failure {
        use io::ErrorKind as K;
        match e.kind() {
            K::ConnectionRefused => Failure::Refused,
            K::ConnectionReset | K::ConnectionAborted | K::BrokenPipe => Failure::Reset,
            K::TimedOut => Failure::Timeout,
            K::UnexpectedEof => Failure::Closed,
            _ if matches!(
                e.raw_os_error(),
                Some(libc::EMFILE | libc::ENFILE | libc::EADDRNOTAVAIL)
            ) =>
            {
                Failure::Resource
            }
            _ => Failure::Io,
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What the head of a response says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Head {
    /// Bytes of the head, the blank line included: the body starts there.
    pub len: usize,
    pub status: u16,
    pub content_length: u64,
    /// The server closes the connection after this response
    /// (`Connection: close`, or HTTP/1.0 without keep-alive).
    pub close: bool,
}

/// The result of parsing the bytes read so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Parsed {
    /// The head is not whole yet: read more.
    Partial,
    Head(Head),
    /// Not a response the generator reads, and why.
    Malformed(&'static str),
}

/// Most header lines read from one response.
const MAX_HEADERS: usize = 32;

/// Parse the head at the start of `buf`, in place.
pub fn parse_head(buf: &[u8]) -> Parsed {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut response = httparse::Response::new(&mut headers);
    let len = match response.parse(buf) {
        Ok(httparse::Status::Partial) => return Parsed::Partial,
        Ok(httparse::Status::Complete(n)) => n,
        Err(httparse::Error::TooManyHeaders) => return Parsed::Malformed("too many header lines"),
        Err(_) => return Parsed::Malformed("not an HTTP/1.x response head"),
    };
    let mut content_length = None;
    let mut close = response.version == Some(0);
    for h in response.headers.iter() {
        if h.name.eq_ignore_ascii_case("content-length") {
            match digits(h.value) {
                Some(n) if content_length.is_none_or(|c| c == n) => content_length = Some(n),
                _ => return Parsed::Malformed("a bad or repeated Content-Length"),
            }
        } else if h.name.eq_ignore_ascii_case("connection") {
            if contains_token(h.value, b"close") {
                close = true;
            } else if contains_token(h.value, b"keep-alive") {
                close = false;
            }
        } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
            return Parsed::Malformed(
                "Transfer-Encoding: the generator reads Content-Length bodies only",
            );
        }
    }
    let Some(content_length) = content_length else {
        return Parsed::Malformed("no Content-Length");
    };
    Parsed::Head(Head {
        len,
        status: response.code.unwrap_or(0),
        content_length,
        close,
    })
}

/// A decimal number with optional spaces around it.
fn digits(value: &[u8]) -> Option<u64> {
    let v = value.trim_ascii();
    if v.is_empty() || v.len() > 18 || !v.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(v.iter().fold(0, |n, d| n * 10 + u64::from(d - b'0')))
}

/// Whether the comma-separated header value holds `token`, in any case.
fn contains_token(value: &[u8], token: &[u8]) -> bool {
    value
        .split(|&b| b == b',')
        .any(|t| t.trim_ascii().eq_ignore_ascii_case(token))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(text: &str) -> Head {
        match parse_head(text.as_bytes()) {
            Parsed::Head(h) => h,
            p => panic!("{p:?}"),
        }
    }

    #[test]
    fn a_keep_alive_response() {
        let text = "HTTP/1.1 200 OK\r\ncontent-length: 5\r\ndate: x\r\n\r\nhello";
        assert_eq!(
            head(text),
            Head {
                len: text.len() - 5,
                status: 200,
                content_length: 5,
                close: false
            }
        );
    }

    #[test]
    fn close_is_read_from_the_header_and_the_version() {
        assert!(head("HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: Close\r\n\r\n").close);
        assert!(head("HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n").close);
        assert!(
            !head("HTTP/1.0 200 OK\r\nContent-Length: 0\r\nConnection: keep-alive\r\n\r\n").close
        );
        assert_eq!(
            head("HTTP/1.1 500 Oops\r\nContent-Length: 0\r\n\r\n").status,
            500
        );
    }

    #[test]
    fn partial_and_malformed_heads() {
        assert_eq!(parse_head(b"HTTP/1.1 200 OK\r\nConte"), Parsed::Partial);
        assert_eq!(parse_head(b""), Parsed::Partial);
        for bad in [
            "HELLO\r\n\r\n",
            "HTTP/1.1 200 OK\r\n\r\n",
            "HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n",
            "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
        ] {
            assert!(
                matches!(parse_head(bad.as_bytes()), Parsed::Malformed(_)),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn io_errors_get_their_names() {
        let e = |k| io::Error::from(k);
        assert_eq!(
            Failure::from_connect(&e(io::ErrorKind::ConnectionRefused)),
            Failure::Refused
        );
        assert_eq!(
            Failure::from_io(&e(io::ErrorKind::ConnectionReset)),
            Failure::Reset
        );
        assert_eq!(
            Failure::from_io(&io::Error::from_raw_os_error(libc::EMFILE)),
            Failure::Resource
        );
        assert_eq!(
            Failure::from_connect(&e(io::ErrorKind::Other)),
            Failure::Connect
        );
        for (i, f) in Failure::ALL.iter().enumerate() {
            assert_eq!(f.index(), i);
        }
    }
}
