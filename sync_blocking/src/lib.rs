//! # Lesson 1: blocking, one page after another
//!
//! The tutorial's `blocking_way()` and `sync_way()`: open a socket,
//! connect, send the request, read until the server closes; then the next
//! page. Two calls wait: `connect` and `read`. Nothing overlaps the waits,
//! so ten pages take ten times the latency: the sum the next lessons beat.
//! The chapter is `walkthrough/01-sync_blocking.md`. The other side, a
//! server that serves one connection at a time, is [`serve`].

#![forbid(unsafe_code)]

pub mod serve;

use std::io::{Read, Write};
use std::net::TcpStream;
use workload::serve::{Capacity, ServeVariant};
use workload::{Clock, Deadline, FetchError, Page, Plan, ResponseReader, Trace};
use workload::{Concurrency, Flags, Variant};

/// The lesson's table: its one variant, for the binary, the tests and the
/// benchmark.
pub const LESSON: workload::Lesson = workload::Lesson {
    name: "sync_blocking",
    about:
        "Lesson 1: one socket after another, blocking connect and read (the tutorial's sync_way)",
    variants: &[Variant::new(
        "blocking",
        "the tutorial's blocking_way, once per page, in a row",
        Concurrency::One,
        fetch_all,
    )
    .tutorial("blocking", 4.5)
    .baseline()],
    flags: Flags::NONE,
    servers: &[ServeVariant::new(
        "iterative",
        "one connection at a time: blocking accept, read, sleep, write; the next client waits in the backlog",
        serve::iterative,
    )
    .capacity(Capacity::One)],
    worker: None,
};

// ANCHOR: sync_way
/// The tutorial's `sync_way()`: fetch the pages one after another. Each call
/// returns only when its page is complete (or failed), so page i+1 cannot
/// start before page i has ended.
pub fn fetch_all(plan: &Plan) -> Vec<Trace> {
    let clock = Clock::start();
    plan.all_pages()
        .map(|page| blocking_way(plan, &page, clock))
        .collect()
}
// ANCHOR_END: sync_way

// ANCHOR: blocking_way
/// The tutorial's `blocking_way()`: one page over one blocking socket.
pub fn blocking_way(plan: &Plan, page: &Page, clock: Clock) -> Trace {
    let mut trace = Trace::start(page, clock);
    let deadline = Deadline::after(plan.timeout);
    let response = ResponseReader::new(plan.max_bytes);
    let result = fetch(plan, page, response, &deadline, &mut trace).map_err(|e| deadline.name(e));
    trace.finish(result)
}

fn fetch(
    plan: &Plan,
    page: &Page,
    mut response: ResponseReader,
    deadline: &Deadline,
    trace: &mut Trace,
) -> Result<workload::Body, FetchError> {
    // connect() blocks: the kernel sends a SYN and parks this thread until
    // the SYN-ACK arrives (one round trip) or the timeout passes.
    let mut sock = TcpStream::connect_timeout(&page.addr, deadline.remaining()?)?;
    trace.connected();

    // write() returns as soon as the request is copied into the kernel's
    // send buffer; it does not wait for the server. A few dozen bytes always
    // fit, so this is the one call here that does not really wait.
    sock.set_write_timeout(Some(deadline.remaining()?))?;
    sock.write_all(&page.request())?;

    // read() blocks until bytes arrive. The first read is where the latency
    // is spent: the server says nothing until its delay has passed, and all
    // that time this thread sleeps in the kernel, in state S, using no CPU
    // and doing nothing else. `read` returns 0 when the server has closed
    // the connection: the tutorial's `while chunk:`.
    let mut buf = [0u8; 4096];
    loop {
        // A socket timeout bounds each wait; giving it what is left of the
        // page's deadline bounds the whole page, even if the server drips
        // one byte at a time.
        sock.set_read_timeout(Some(deadline.remaining()?))?;
        let n = sock.read(&mut buf)?;
        if n > 0 {
            trace.first_byte();
        }
        if response.feed(&buf[..n])?.is_done() {
            break;
        }
    }
    let body = response.finish()?;
    // `--cpu-us`: the page's own computing, on this same thread.
    workload::cpu::spend(plan.cpu, &body);
    Ok(body)
}
// ANCHOR_END: blocking_way

/// [`blocking_way`], keeping the page's body too: the tutorial's
/// `return response`, for a caller that wants the page itself (lesson 2's
/// workers send it back to their parent).
pub fn blocking_way_keeping_body(plan: &Plan, page: &Page, clock: Clock) -> (Trace, Vec<u8>) {
    let mut trace = Trace::start(page, clock);
    let deadline = Deadline::after(plan.timeout);
    let response = ResponseReader::new(plan.max_bytes).keep_body();
    let mut result =
        fetch(plan, page, response, &deadline, &mut trace).map_err(|e| deadline.name(e));
    let body = result.as_mut().ok().and_then(|b| b.body.take());
    (trace.finish(result), body.unwrap_or_default())
}
