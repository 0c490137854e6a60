//! Servers `tokio` (the default) and `tokio-mt`: a task per connection,
//! written by hand on tokio.
//!
//! The accept loop spawns one task per connection, and each task is a
//! blocking server's loop with `.await` where a thread would block: wait
//! for a whole request head, sleep the think time, write the page, and
//! again while the client keeps the connection. A task parked on its
//! socket or its timer is a small state machine on the heap; the thread
//! sleeps in `epoll_wait` until some socket is readable or the timer
//! wheel's next deadline comes, so 10,000 connections thinking at once cost
//! 10,000 small values, not 10,000 stacks.
//!
//! `tokio` runs everything on one thread (the current-thread runtime, as
//! the fetch side's default does): what one event loop can serve. `tokio-mt`
//! runs the very same code on the multi-thread runtime, one worker thread
//! per core, which steal tasks from each other: only the executor changes.

use std::io;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream, UnixStream};
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio::time::{sleep, sleep_until, timeout, Instant};
use workload::serve::{
    after_accept_error, parse_request, AfterAcceptError, BadRequest, Pages, Request, ServeConfig,
    Serving,
};

/// `tokio`: one thread, the tutorial's `loop.run_until_complete(...)`.
pub fn serve(serving: Serving) -> io::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all() // the I/O driver (epoll) and the timer wheel
        .build()?;
    runtime.block_on(accept_loop(serving))
}

/// `tokio-mt`: the same tasks on one worker thread per core.
pub fn serve_mt(serving: Serving) -> io::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(accept_loop(serving))
}

/// The listener handed to tokio (non-blocking, in the runtime's epoll
/// set), and the shutdown descriptor beside it: Ctrl-C makes it readable,
/// and tokio can wait for that like for any socket. The hyper server
/// starts the same way.
pub(super) fn on_tokio(
    listener: std::net::TcpListener,
    shutdown: &workload::serve::Shutdown,
) -> io::Result<(TcpListener, UnixStream)> {
    listener.set_nonblocking(true)?;
    let stopped = shutdown.stream()?;
    stopped.set_nonblocking(true)?;
    Ok((
        TcpListener::from_std(listener)?,
        UnixStream::from_std(stopped)?,
    ))
}

/// What every connection's task reads: a spawned task must own what it
/// uses (it may outlive any borrow), so they share it through an `Arc`.
struct Shared {
    config: ServeConfig,
    pages: Pages,
}

// ANCHOR: accept_loop
/// The tutorial's `asyncio.start_server(handle, ...)`: accept, spawn a task
/// for the connection, accept again. Until Ctrl-C: then stop accepting,
/// close the idle connections and let the others finish their request.
async fn accept_loop(serving: Serving) -> io::Result<()> {
    let Serving {
        listener,
        config,
        pages,
        shutdown,
    } = serving;
    let (listener, stopped) = on_tokio(listener, &shutdown)?;

    let shared = Arc::new(Shared { config, pages });
    // Tells the tasks waiting for a request head to close their connection.
    let (close_idle, closing) = watch::channel(false);
    let mut connections = JoinSet::new();
    let result = loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _peer)) => {
                    // asyncio's `loop.create_task(handle(reader, writer))`.
                    connections.spawn(connection(stream, shared.clone(), closing.clone()));
                }
                Err(e) => match after_accept_error(&e, &shutdown) {
                    AfterAcceptError::Retry => {}
                    // Out of descriptors: the connection waits in the
                    // backlog and the listener stays readable, so accepting
                    // again at once would spin. Stop looking at it for a
                    // while; the connections already open go on meanwhile.
                    AfterAcceptError::BackOff(pause) => tokio::select! {
                        () = sleep(pause) => {}
                        _ = stopped.readable() => {}
                    },
                    AfterAcceptError::Stop(result) => break result,
                },
            },
            _ = stopped.readable() => break Ok(()),
            // Collect the tasks that ended, so the set holds live ones only.
            Some(_) = connections.join_next() => {}
        }
    };
    // No new connections from here: the kernel refuses them.
    drop(listener);
    let _ = close_idle.send(true);
    finish(connections, shared.config.latency).await;
    result
}
// ANCHOR_END: accept_loop

// ANCHOR: connection
/// One connection's task: a blocking server's loop, with `.await` where it
/// blocked.
async fn connection(
    mut stream: TcpStream,
    shared: Arc<Shared>,
    mut closing: watch::Receiver<bool>,
) {
    // A response goes out as soon as it is written, even right after the
    // previous one (pipelined requests): no Nagle delay.
    let _ = stream.set_nodelay(true);
    let config = &shared.config;
    let mut buf = Vec::new();
    loop {
        // 1. A whole request head, within the header timeout counted from
        //    now (a new connection, or the last response written). While it
        //    waits here the task is parked on its socket in tokio's epoll
        //    set. Ctrl-C ends the wait too: an idle connection is closed,
        //    not served.
        let head = tokio::select! {
            biased;
            head = timeout(config.header_timeout, read_head(&stream, &mut buf)) => head,
            _ = closing.wait_for(|closing| *closing) => return,
        };
        let request = match head {
            Ok(Ok(Head::Request(request))) => request,
            Ok(Ok(Head::Bad(bad))) => return refuse(stream, &shared, &bad).await,
            // The client closed or broke the connection, or was too slow.
            Ok(Ok(Head::Closed) | Err(_)) | Err(_) => return,
        };
        let read_at = Instant::now();

        // 2. The think time. The task gives its deadline to tokio's timer
        //    wheel and parks; the thread serves the other connections, and
        //    sleeps in epoll_wait no longer than the next deadline. None
        //    at all when it is zero: the wheel counts whole milliseconds,
        //    and even a deadline already past waits for its next tick.
        if !config.latency.is_zero() {
            sleep_until(read_at + config.latency).await;
        }

        // 3. The page, whole. A slow reader parks the task until its send
        //    buffer drains; one that went away is a write error here, and
        //    one that reads nothing at all is given up on.
        let response = shared.pages.response(&request);
        if write_all_within(&mut stream, &response, config.header_timeout)
            .await
            .is_err()
        {
            return;
        }
        // What followed the head is the next (pipelined) request.
        buf.drain(..request.len);
        if !request.keep_alive {
            return;
        }
    }
}
// ANCHOR_END: connection

/// `write_all`, giving up when none of `data` goes out for `stall`: a
/// client that reads nothing keeps the send buffer full, and the task
/// would wait on it for ever.
async fn write_all_within(
    stream: &mut TcpStream,
    mut data: &[u8],
    stall: Duration,
) -> io::Result<()> {
    while !data.is_empty() {
        // One write: ready as soon as the kernel takes any of it.
        let n = timeout(stall, stream.write(data))
            .await
            .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "the client read nothing"))??;
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

/// Read until `buf` starts with a whole request head (it may already).
async fn read_head(stream: &TcpStream, buf: &mut Vec<u8>) -> io::Result<Head> {
    loop {
        match parse_request(buf) {
            Ok(Some(request)) => return Ok(Head::Request(request)),
            Ok(None) => {}
            Err(bad) => return Ok(Head::Bad(bad)),
        }
        if read_some(stream, buf).await? == 0 {
            return Ok(Head::Closed);
        }
    }
}

// ANCHOR: read_some
/// Append what has arrived to `buf`; 0 at end of stream.
///
/// The 4 KiB chunk lives only between two `.await`s, so it is on the stack
/// of the thread polling the task, not in the task: a connection waiting
/// for its next request holds its few unparsed bytes and nothing more
/// (`stream.read(&mut chunk).await` would keep the chunk in every task).
async fn read_some(stream: &TcpStream, buf: &mut Vec<u8>) -> io::Result<usize> {
    loop {
        stream.readable().await?;
        let mut chunk = [0u8; 4096];
        match stream.try_read(&mut chunk) {
            Ok(n) => {
                buf.extend_from_slice(&chunk[..n]);
                return Ok(n);
            }
            // Stale readiness: tokio has cleared it, the next wait is real.
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
            Err(e) => return Err(e),
        }
    }
}
// ANCHOR_END: read_some

/// How long a refused connection is drained before it is closed.
const LINGER: Duration = Duration::from_secs(1);

/// A head that cannot be served: 400 or 431, then close. Closing a socket
/// with unread bytes makes the kernel send a reset, which can destroy the
/// response before the client has read it; so the server says it is done
/// (FIN) and reads what the client still sends, for a second at most.
async fn refuse(mut stream: TcpStream, shared: &Shared, bad: &BadRequest) {
    let response = shared.pages.refusal(bad);
    let stall = shared.config.header_timeout;
    if write_all_within(&mut stream, &response, stall)
        .await
        .is_err()
    {
        return;
    }
    let _ = stream.shutdown().await;
    let mut scratch = Vec::new();
    let _ = timeout(LINGER, async {
        while read_some(&stream, &mut scratch).await? > 0 {
            scratch.clear();
        }
        io::Result::Ok(())
    })
    .await;
}

/// After Ctrl-C: wait for the connections still serving a request (the
/// idle ones are closing). A client that stops reading cannot hold the
/// server for more than a second past the think time: then the tasks left
/// are dropped, which closes their sockets.
async fn finish(mut connections: JoinSet<()>, latency: Duration) {
    let all_done = async { while connections.join_next().await.is_some() {} };
    if timeout(latency + Duration::from_secs(1), all_done)
        .await
        .is_err()
    {
        connections.shutdown().await;
    }
}
