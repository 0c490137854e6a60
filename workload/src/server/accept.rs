//! The accept loop, and what it says when the kernel refuses a connection.
//!
//! At the open-file limit `accept` fails with EMFILE and the connection
//! stays in the backlog; a server that only retries goes silent while its
//! clients time out. This one says so on stderr, at most once a second,
//! and keeps serving the connections it has, retrying the backlog shortly.

pub(super) use crate::serve::accept::Failures;
use std::io;
use std::time::Duration;

/// How long to wait before accepting again after a refused `accept`: the
/// backlog keeps the connection, and retrying at once would only spin.
const RETRY_AFTER: Duration = Duration::from_millis(20);

/// Accept connections on `listener` forever, handing each to `serve`.
pub(super) async fn accept_loop(
    listener: tokio::net::TcpListener,
    failures: &Failures,
    mut serve: impl FnMut(tokio::net::TcpStream),
) {
    loop {
        match listener.accept().await {
            Ok((stream, _)) => serve(stream),
            Err(e) if is_connection_error(&e) => {}
            Err(e) => {
                failures.note("page-server", &e);
                tokio::time::sleep(RETRY_AFTER).await;
            }
        }
    }
}

/// Errors of one connection that ended before it was accepted: nothing is
/// wrong with the server.
fn is_connection_error(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    )
}
