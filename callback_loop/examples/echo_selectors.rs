//! The tutorial's `selectors` echo server, on this lesson's epoll selector:
//! a listener registered with an `accept` callback, each connection with a
//! `read` callback that sends back what it read, and a loop that runs the
//! callback of whatever the selector reports ready.
//!
//! ```sh
//! cargo run --release -p callback_loop --example echo_selectors     # port 1234
//! cargo run --release -p callback_loop --example echo_selectors -- 0  # a free port
//! ```
//!
//! (`tests/echo.rs` runs `echo_loop` below against several clients.)

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::fd::{AsFd, AsRawFd, RawFd};

use callback_loop::{EpollSelector, Interest, Selector};

/// `callback(key.fileobj, mask)`: the tutorial stores the function with the
/// socket (`key.data`); here by descriptor, with the sockets beside it.
type Callback = fn(&mut Echo, RawFd);

pub struct Echo {
    selector: EpollSelector,
    listener: TcpListener,
    connections: HashMap<RawFd, TcpStream>,
    callbacks: HashMap<RawFd, Callback>,
}

// ANCHOR: echo
/// `sel.register(sock, EVENT_READ, accept)`, then the tutorial's
/// `while True: events = sel.select(); for key, mask in events: ...`.
pub fn echo_loop(listener: TcpListener) -> io::Result<()> {
    listener.set_nonblocking(true)?;
    let mut echo = Echo {
        selector: EpollSelector::new()?,
        listener,
        connections: HashMap::new(),
        callbacks: HashMap::new(),
    };
    // SAFETY: the listener lives in `echo` as long as the selector does.
    unsafe {
        echo.selector
            .register(echo.listener.as_fd(), Interest::Read)
    }
    .map_err(io::Error::other)?;
    echo.callbacks.insert(echo.listener.as_raw_fd(), accept);

    let mut ready = Vec::new();
    loop {
        echo.selector.wait(None, &mut ready)?;
        for fd in ready.drain(..) {
            if let Some(&callback) = echo.callbacks.get(&fd) {
                callback(&mut echo, fd);
            }
        }
    }
}

/// `conn, addr = sock.accept(); conn.setblocking(False);
/// sel.register(conn, EVENT_READ, read)`.
fn accept(echo: &mut Echo, _listener: RawFd) {
    // WouldBlock (another wake-up took it) or an error: the next wait says
    // whether a connection is still there. (Out of descriptors, it always
    // is: this small loop would spin; `src/serve/server_loop.rs` backs off.)
    let Ok((conn, _)) = echo.listener.accept() else {
        return;
    };
    if conn.set_nonblocking(true).is_err() {
        return;
    }
    let fd = conn.as_raw_fd();
    // SAFETY: the socket moves into `echo.connections` below and leaves it
    // only in `read`, which unregisters it first.
    if unsafe { echo.selector.register(conn.as_fd(), Interest::Read) }.is_ok() {
        echo.connections.insert(fd, conn);
        echo.callbacks.insert(fd, read);
    }
}

/// `data = conn.recv(1000)`: echo it back, or, at end of file,
/// `sel.unregister(conn); conn.close()`.
fn read(echo: &mut Echo, fd: RawFd) {
    let Some(conn) = echo.connections.get_mut(&fd) else {
        return;
    };
    let mut data = [0u8; 1000];
    let keep = match conn.read(&mut data) {
        // "Hope it won't block", says the tutorial: a few bytes fit in an
        // empty send buffer. When they do not, the rest would be lost, so
        // the connection is closed instead (the lesson's server waits for
        // "writable" with a callback of its own: `Connection::write_response`).
        Ok(n) if n > 0 => matches!(conn.write(&data[..n]), Ok(m) if m == n),
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => true,
        _ => false,
    };
    if !keep {
        echo.callbacks.remove(&fd);
        if let Some(conn) = echo.connections.remove(&fd) {
            echo.selector.unregister(conn.as_fd());
        } // `conn` dropped: close(2)
    }
}
// ANCHOR_END: echo

#[allow(dead_code)] // tests/echo.rs includes this file for `echo_loop`
fn main() -> io::Result<()> {
    let port: u16 = match std::env::args().nth(1) {
        Some(p) => p
            .parse()
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, format!("not a port: {p}")))?,
        None => 1234,
    };
    let listener = TcpListener::bind(("127.0.0.1", port))?;
    println!("echo on {}; Ctrl-C stops", listener.local_addr()?);
    echo_loop(listener)
}
