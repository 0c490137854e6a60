//! Server `mini`: the `tokio` server's program on the lesson's hand-made
//! runtime, with no tokio in it.
//!
//! mini's reactor (epoll, one waker per socket and direction, a heap of
//! timers) and its `Sleep` do the waiting, as they did for the fetch; the
//! executor is mini's grown for a server (`executor`: tasks spawn tasks,
//! slots are reused). What a server adds is in this file: a future that
//! accepts, one that reads whatever arrived into the connection's buffer,
//! and the connection's loop: read a head, sleep the think time, write.
//!
//! The SHORTCUT mini takes with timers shows here: a `Sleep` stays in the
//! reactor's heap until its deadline even when the wait it bounded ended
//! long before. Every request's header timeout leaves one behind, so the
//! heap holds requests/s x header timeout entries (and each wakes its task
//! once for nothing); tokio removes a timer when its `Sleep` is dropped.

mod closing;
mod executor;

use std::future::{poll_fn, Future};
use std::io::{self, Read as _};
use std::net::{Shutdown as Both, TcpListener, TcpStream};
use std::task::Poll;
use std::time::{Duration, Instant};

use crate::mini::{with_deadline, Direction, Reactor, Sleep, Socket};
use closing::{Connections, Ticket};
use executor::{Executor, Spawner};
use workload::serve::{
    after_accept_error, parse_request, AfterAcceptError, BadRequest, Request, Serving, Shutdown,
};

// ANCHOR: serve
/// Build the reactor and the executor, and run the accept loop on them
/// until Ctrl-C: the tutorial's `loop.run_forever()`.
pub fn serve(serving: Serving) -> io::Result<()> {
    serving.listener.set_nonblocking(true)?;
    let reactor = Reactor::new()?;
    // The listener and the shutdown descriptor join the epoll set: the
    // accept loop waits on both at once.
    reactor.register(&serving.listener)?;
    reactor.register(&serving.shutdown.fd())?;
    let connections = Connections::default();
    let mut executor = Executor::new();
    let spawner = executor.spawner();
    let result = executor.block_on(
        &reactor,
        accept_loop(&reactor, &serving, &connections, spawner),
    );
    drop(executor); // the connections' sockets leave the epoll set first
    reactor.deregister(&serving.shutdown.fd());
    reactor.deregister(&serving.listener);
    result
}
// ANCHOR_END: serve

// ANCHOR: accept_loop
/// Accept, spawn a task for the connection, accept again; after Ctrl-C,
/// close the idle connections and wait for the others' requests.
async fn accept_loop<'a>(
    reactor: &'a Reactor,
    serving: &'a Serving,
    connections: &'a Connections,
    spawner: Spawner<'a>,
) -> io::Result<()> {
    let result = loop {
        let stream = match accept(reactor, &serving.listener, &serving.shutdown).await {
            Ok(Some(stream)) => stream,
            Ok(None) => break Ok(()), // Ctrl-C
            Err(e) => match after_accept_error(&e, &serving.shutdown) {
                AfterAcceptError::Retry => continue,
                // Out of descriptors: sleep on a timer. The listener stays
                // in the epoll set, but edge-triggered and with no waker
                // behind it, so a waiting connection wakes nobody.
                AfterAcceptError::BackOff(pause) => {
                    sleep(reactor, Instant::now() + pause).await;
                    continue;
                }
                AfterAcceptError::Stop(result) => break result,
            },
        };
        let socket = match accepted(reactor, stream) {
            Ok(socket) => socket,
            Err(_) => continue, // the epoll set refused it: drop that one
        };
        // asyncio's `loop.create_task(handle(reader, writer))`.
        let ticket = connections.open();
        spawner.spawn(connection(reactor, serving, socket, ticket));
    };
    // A server that stops stays a few more moments for the requests in
    // flight: at most their think time and a second.
    connections.close_idle();
    let grace = serving.config.latency + Duration::from_secs(1);
    with_deadline(reactor, Instant::now() + grace, connections.all_closed()).await;
    result
}
// ANCHOR_END: accept_loop

// ANCHOR: connection
/// One connection's task: the `tokio` server's loop, on mini.
async fn connection(reactor: &Reactor, serving: &Serving, socket: Socket<'_>, ticket: Ticket<'_>) {
    let config = &serving.config;
    let mut buf = Vec::new();
    loop {
        // 1. A whole request head within the header timeout: a select of
        //    the read and a timer, by hand (mini's `with_deadline`).
        let deadline = Instant::now() + config.header_timeout;
        let head = with_deadline(reactor, deadline, read_head(&socket, &mut buf, &ticket)).await;
        let request = match head {
            Some(Ok(Head::Request(request))) => request,
            Some(Ok(Head::Bad(bad))) => return refuse(reactor, &socket, serving, &bad).await,
            // Closed, broken, Ctrl-C while idle, or too slow (`None`).
            _ => return,
        };
        let read_at = Instant::now();

        // 2. The think time: a deadline in the reactor's heap. The thread
        //    goes back to the loop, which sleeps in epoll_wait no longer
        //    than the soonest deadline.
        sleep(reactor, read_at + config.latency).await;

        // 3. The page, whole, a non-blocking write at a time; a client
        //    that reads none of it within the header timeout is given up on.
        let response = serving.pages.response(&request);
        if write_all_within(reactor, &socket, &response, config.header_timeout)
            .await
            .is_err()
        {
            return;
        }
        buf.drain(..request.len);
        if !request.keep_alive {
            return;
        }
    }
    // Returning drops `socket` (out of the epoll set, closed) and `ticket`.
}
// ANCHOR_END: connection

/// mini's `write_all`, giving up when none of `data` goes out for `stall`:
/// a client that reads nothing keeps the send buffer full, and the task
/// would wait on it for ever. Each write races a timer (`with_deadline`),
/// which goes into the reactor's heap only when the write has to wait.
async fn write_all_within(
    reactor: &Reactor,
    socket: &Socket<'_>,
    mut data: &[u8],
    stall: Duration,
) -> io::Result<()> {
    while !data.is_empty() {
        let n = with_deadline(reactor, Instant::now() + stall, socket.write(data))
            .await
            .ok_or_else(|| io::Error::new(io::ErrorKind::TimedOut, "the client read nothing"))??;
        if n == 0 {
            return Err(io::ErrorKind::WriteZero.into());
        }
        data = &data[n..];
    }
    Ok(())
}

/// The end of a request head, or why there is none.
enum Head {
    Request(Request),
    Bad(BadRequest),
    Closed,
}

/// Read until `buf` starts with a whole request head (it may already), or
/// until the server closes while this connection waits.
async fn read_head(
    socket: &Socket<'_>,
    buf: &mut Vec<u8>,
    ticket: &Ticket<'_>,
) -> io::Result<Head> {
    loop {
        match parse_request(buf) {
            Ok(Some(request)) => return Ok(Head::Request(request)),
            Ok(None) => {}
            Err(bad) => return Ok(Head::Bad(bad)),
        }
        match read_some(socket, buf, Some(ticket)).await? {
            Some(0) | None => return Ok(Head::Closed),
            Some(_) => {}
        }
    }
}

// ANCHOR: read_some
/// Append what has arrived to `buf`: `Some(0)` at end of stream, `None`
/// once the server is closing. Unlike mini's `Read` (a fresh `Vec` per
/// chunk) it reads into the caller's buffer, through a chunk on the stack
/// of the poll.
fn read_some<'a>(
    socket: &'a Socket<'_>,
    buf: &'a mut Vec<u8>,
    ticket: Option<&'a Ticket<'_>>,
) -> impl Future<Output = io::Result<Option<usize>>> + 'a {
    poll_fn(move |cx| {
        if ticket.is_some_and(|t| t.is_closing()) {
            return Poll::Ready(Ok(None));
        }
        let mut chunk = [0u8; 4096];
        loop {
            match socket.stream().read(&mut chunk) {
                Ok(n) => {
                    buf.extend_from_slice(&chunk[..n]);
                    return Poll::Ready(Ok(Some(n)));
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    // Wake me when bytes come, or when the server closes:
                    // two waits at once, each told the same waker.
                    socket.wake_when_ready(Direction::Read, cx);
                    if let Some(ticket) = ticket {
                        ticket.wake_when_closing(cx);
                    }
                    return Poll::Pending;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
    })
}
// ANCHOR_END: read_some

// ANCHOR: accept
/// The next connection, or `None` once Ctrl-C came: a future over the
/// listener and the shutdown descriptor together.
fn accept<'a>(
    reactor: &'a Reactor,
    listener: &'a TcpListener,
    shutdown: &'a Shutdown,
) -> impl Future<Output = io::Result<Option<TcpStream>>> + 'a {
    poll_fn(move |cx| {
        if shutdown.is_triggered() {
            return Poll::Ready(Ok(None));
        }
        match listener.accept() {
            Ok((stream, _peer)) => Poll::Ready(Ok(Some(stream))),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                // The backlog is empty: wait for a connection or Ctrl-C.
                reactor.wake_when_ready(listener, Direction::Read, cx.waker());
                reactor.wake_when_ready(&shutdown.fd(), Direction::Read, cx.waker());
                Poll::Pending
            }
            Err(e) => Poll::Ready(Err(e)),
        }
    })
}
// ANCHOR_END: accept

/// An accepted connection as a mini `Socket`: non-blocking, in the epoll
/// set, sent without Nagle's delay.
fn accepted(reactor: &Reactor, stream: TcpStream) -> io::Result<Socket<'_>> {
    stream.set_nonblocking(true)?;
    stream.set_nodelay(true)?;
    reactor.register(&stream)?;
    Ok(Socket { stream, reactor })
}

/// mini's `Sleep`, until `at`.
fn sleep(reactor: &Reactor, at: Instant) -> Sleep<'_> {
    Sleep {
        reactor,
        at,
        registered: false,
    }
}

/// How long a refused connection is drained before it is closed.
const LINGER: Duration = Duration::from_secs(1);

/// 400 or 431, then close; as in the `tokio` server, the client's unread
/// bytes are drained for a second at most first, so that closing does not
/// reset the connection under the response.
async fn refuse(reactor: &Reactor, socket: &Socket<'_>, serving: &Serving, bad: &BadRequest) {
    let response = serving.pages.refusal(bad);
    let stall = serving.config.header_timeout;
    if write_all_within(reactor, socket, &response, stall)
        .await
        .is_err()
    {
        return;
    }
    let _ = socket.stream().shutdown(Both::Write);
    let mut scratch = Vec::new();
    let drain = async {
        while let Ok(Some(n)) = read_some(socket, &mut scratch, None).await {
            if n == 0 {
                break;
            }
            scratch.clear();
        }
    };
    with_deadline(reactor, Instant::now() + LINGER, drain).await;
}
