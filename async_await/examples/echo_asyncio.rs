//! The tutorial's asyncio echo server, on tokio: `asyncio.start_server(echo,
//! host, port)` accepts connections and runs `echo(reader, writer)` as a
//! task for each; `echo` reads a line and writes it back.
//!
//! ```text
//! cargo run --release -p async_await --example echo_asyncio            # port 9999
//! cargo run --release -p async_await --example echo_asyncio -- 0       # any free port
//! ```
//!
//! Then type lines into `telnet 127.0.0.1 9999` (or any TCP client): each
//! comes back. Ctrl-C stops it. The tutorial's `echo` answers one read and
//! closes; this one answers line after line until the client closes, which
//! is what a reader of `reader.readline()` expects.

use std::future::Future;
use std::io;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

/// The longest line answered in one piece; a longer one comes back in
/// pieces of this size, so a client cannot make the server buffer without
/// end.
pub const MAX_LINE: u64 = 64 * 1024;

/// The tutorial's `echo(reader, writer)`: read a line, write it back, until
/// the client closes.
pub async fn echo(stream: TcpStream) -> io::Result<()> {
    let peer = stream.peer_addr()?;
    let (reader, mut writer) = stream.into_split();
    let mut reader = BufReader::new(reader);
    let mut line = Vec::new();
    loop {
        line.clear();
        // `data = await reader.readline()`: the task parks here until a
        // whole line (or the end of the stream) has arrived.
        let n = (&mut reader)
            .take(MAX_LINE)
            .read_until(b'\n', &mut line)
            .await?;
        if n == 0 {
            return Ok(()); // the client closed
        }
        eprintln!("received {} bytes from {peer}", line.len());
        // `writer.write(data); await writer.drain()`.
        writer.write_all(&line).await?;
    }
}

/// `asyncio.start_server(client_connected_cb, ...)`: accept, and run the
/// callback as a task of its own for every connection, until `stop`
/// resolves. Returns once stopped; connections still open are left to
/// their tasks.
pub async fn start_server<F, Fut>(
    listener: TcpListener,
    client_connected: F,
    stop: impl Future<Output = ()>,
) -> io::Result<()>
where
    F: Fn(TcpStream) -> Fut,
    Fut: Future<Output = io::Result<()>> + Send + 'static,
{
    let mut stop = std::pin::pin!(stop);
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, _peer) = accepted?;
                // `loop.create_task(echo(reader, writer))`.
                let task = client_connected(stream);
                tokio::spawn(async move {
                    if let Err(e) = task.await {
                        eprintln!("connection: {e}");
                    }
                });
            }
            () = &mut stop => return Ok(()),
        }
    }
}

// `asyncio.run(main("127.0.0.1", 9999))`.
#[tokio::main(flavor = "current_thread")]
async fn main() -> io::Result<()> {
    let port: u16 = match std::env::args().nth(1) {
        None => 9999,
        Some(arg) => arg.parse().map_err(|_| {
            io::Error::new(io::ErrorKind::InvalidInput, format!("not a port: {arg}"))
        })?,
    };
    let listener = TcpListener::bind(("127.0.0.1", port)).await?;
    println!("Serving on {}", listener.local_addr()?);
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    start_server(listener, echo, ctrl_c).await
}
