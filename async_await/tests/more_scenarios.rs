//! Scenarios beyond the shared suite, where reqwest (hyper) and the
//! workload's own reader could disagree: every variant must name them alike.

use conformance::{scenario, Expect};
use workload::ErrorKind;

/// A chunk size line that is not hex: hyper reports it as an I/O error of
/// kind InvalidInput, which the reqwest variant must call malformed.
#[test]
fn bad_chunk_size_is_malformed_everywhere() {
    scenario(
        &async_await::LESSON,
        |c| {
            c.send(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n");
        },
        2,
        |_| {},
        |_| Expect::Fails(ErrorKind::Malformed, None),
    );
}

/// Two different Content-Length headers.
#[test]
fn conflicting_lengths_are_malformed_everywhere() {
    scenario(
        &async_await::LESSON,
        |c| {
            c.send(b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab");
        },
        2,
        |_| {},
        |_| Expect::Fails(ErrorKind::Malformed, None),
    );
}

/// A chunked body cut before its last chunk.
#[test]
fn chunked_body_cut_short_is_truncated_everywhere() {
    scenario(
        &async_await::LESSON,
        |c| {
            c.send(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n");
        },
        2,
        |_| {},
        |_| Expect::Fails(ErrorKind::Truncated, None),
    );
}
