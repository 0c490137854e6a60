//! The same fetch as `Crawler`, written the way callback code tends to grow:
//! each step is a closure nested inside the step before it.
//!
//! ```text
//! cargo run --release -p callback_loop --example callback_hell
//! ```
//!
//! It fetches three pages from an embedded page server on one thread,
//! with the crate's epoll selector, and prints what each page became.
//! Compare `nested_fetch` below with `Crawler` in `src/lib.rs` and with
//! `blocking_way` in `sync_blocking/src/lib.rs`: the same five steps
//! (connect, check, send, read until EOF, report), three shapes.

use callback_loop::{connect_nonblocking, EpollSelector, Interest, Selector};
use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::fd::{AsFd, AsRawFd, RawFd};
use std::process::ExitCode;
use std::time::{Duration, Instant};
use workload::{Body, FetchError, Page, Plan, Progress, ResponseReader, Server, ServerConfig};

/// What a step gets when the loop calls it: its socket back, ready, or the
/// reason it could not be watched.
type Ready = Result<TcpStream, FetchError>;
/// The last callback of all: what to do with the page.
type Done = Box<dyn FnOnce(Result<Body, FetchError>)>;
/// A step waiting for its socket.
type Then = Box<dyn FnOnce(&mut Loop, Ready)>;

/// A loop of one-shot continuations: `when(socket, interest, then)` runs
/// `then` once, the next time the socket is ready. The loop holds the
/// socket meanwhile and hands it to `then`: state travels from step to step
/// like a relay baton.
struct Loop {
    selector: EpollSelector,
    waiting: HashMap<RawFd, (TcpStream, Then)>,
}

impl Loop {
    fn when(
        &mut self,
        stream: TcpStream,
        interest: Interest,
        then: impl FnOnce(&mut Loop, Ready) + 'static,
    ) {
        // SAFETY: the stream moves into `waiting` below and leaves it only
        // in `run`, which unregisters it first; on an error it is not
        // registered. (`selector` is the first field: dropped first.)
        match unsafe { self.selector.register(stream.as_fd(), interest) } {
            Ok(()) => {
                self.waiting
                    .insert(stream.as_raw_fd(), (stream, Box::new(then)));
            }
            Err(e) => then(self, Err(e)),
        }
    }

    fn run(&mut self) -> std::io::Result<()> {
        let mut ready = Vec::new();
        while !self.waiting.is_empty() {
            self.selector.wait(None, &mut ready)?;
            for fd in ready.drain(..) {
                if let Some((stream, then)) = self.waiting.remove(&fd) {
                    // One shot: nobody waits on it now, so stop watching
                    // (level-triggered, it would be reported forever).
                    self.selector.unregister(stream.as_fd());
                    then(self, Ok(stream));
                }
            }
        }
        Ok(())
    }
}

// ANCHOR: nested
/// One page as nested callbacks. Every level must check for the error of
/// the level before and pass `done` further down by hand; the request
/// cannot be a local the next step sees unless a closure captures it.
fn nested_fetch(lp: &mut Loop, page: Page, max_bytes: u64, done: Done) {
    let stream = match connect_nonblocking(&page) {
        Ok(s) => s,
        Err(e) => return done(Err(e.into())),
    };
    lp.when(stream, Interest::Write, move |lp, ready| {
        let mut stream = match ready {
            Ok(s) => s,
            Err(e) => return done(Err(e)),
        };
        match stream.take_error() {
            Ok(None) => {}
            Ok(Some(e)) | Err(e) => return done(Err(e.into())),
        }
        // A short write would need one more level of nesting; here it is
        // treated as a failure to keep the pyramid this size.
        let request = page.request();
        match stream.write(&request) {
            Ok(n) if n == request.len() => {}
            Ok(_) => return done(Err(FetchError::new(workload::ErrorKind::Io, "short write"))),
            Err(e) => return done(Err(e.into())),
        }
        lp.when(stream, Interest::Read, move |lp, ready| {
            // "Read until EOF" cannot be a loop any more: every read must
            // return to the event loop, so the loop becomes recursion
            // through the loop, and the reader rides along in each closure.
            read_more(lp, ready, ResponseReader::new(max_bytes), done)
        });
    });
}

fn read_more(lp: &mut Loop, ready: Ready, mut reader: ResponseReader, done: Done) {
    let mut stream = match ready {
        Ok(s) => s,
        Err(e) => return done(Err(e)),
    };
    let mut buf = [0u8; 16 * 1024];
    let n = match stream.read(&mut buf) {
        Ok(n) => n,
        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
            return lp.when(stream, Interest::Read, move |lp, r| {
                read_more(lp, r, reader, done)
            })
        }
        Err(e) => return done(Err(e.into())),
    };
    match reader.feed(&buf[..n]) {
        Ok(Progress::More) => lp.when(stream, Interest::Read, move |lp, r| {
            read_more(lp, r, reader, done)
        }),
        Ok(Progress::Done) => done(reader.finish()),
        Err(e) => done(Err(e)),
    }
}
// ANCHOR_END: nested

fn main() -> ExitCode {
    let server = match Server::start(ServerConfig {
        latency: Duration::from_millis(100),
        ..ServerConfig::default()
    }) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("cannot start the page server: {e}");
            return ExitCode::FAILURE;
        }
    };
    let plan = match Plan::new(&server.url(), 3) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    };
    let selector = match EpollSelector::new() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("cannot create the epoll selector: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut lp = Loop {
        selector,
        waiting: HashMap::new(),
    };
    let started = Instant::now();
    for page in plan.all_pages() {
        let url = page.url.clone();
        nested_fetch(
            &mut lp,
            page,
            plan.max_bytes,
            Box::new(move |result| match result {
                Ok(body) => println!(
                    "{url}: {} {} bytes after {:.0} ms",
                    body.status,
                    body.bytes,
                    started.elapsed().as_secs_f64() * 1e3
                ),
                Err(e) => println!("{url}: {e}"),
            }),
        );
    }
    if let Err(e) = lp.run() {
        eprintln!("the selector failed: {e}");
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}
