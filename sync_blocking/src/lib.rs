//! # Lesson 1: blocking, one page after another
//!
//! The seed's `blocking_way()` and `sync_way()`: open a socket, connect,
//! send the request, read until the server closes; then the next page.
//!
//! Two calls here do nothing useful for a long time: `connect` (the kernel
//! sends a SYN and puts this thread to sleep until the SYN-ACK comes back)
//! and `read` (the thread sleeps until the server's bytes are in the socket's
//! receive buffer). While the thread sleeps the CPU runs someone else, or
//! nothing; our program gets nothing done. Ten pages therefore take
//! ten times the latency: the waits add up, because nothing overlaps them.
//! That sum is what the following six lessons try to beat.

use std::io::{Read, Write};
use std::net::TcpStream;
use workload::{Clock, Concurrency, Deadline, FetchError, Page, Plan, ResponseReader, Trace};

/// The lesson's table: its one variant, for the binary, the tests and the
/// benchmark.
pub const LESSON: workload::Lesson = workload::Lesson {
    name: "sync_blocking",
    about: "Lesson 1: one socket after another, blocking connect and read (the seed's sync_way)",
    variants: &[workload::Variant {
        name: "blocking",
        about: "the seed's blocking_way, ten times in a row",
        concurrency: Concurrency::One,
        fetch: fetch_all,
    }],
    flags: &[],
};

// ANCHOR: sync_way
/// The seed's `sync_way()`: fetch the pages one after another. Each call
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
/// The seed's `blocking_way()`: one page over one blocking socket.
pub fn blocking_way(plan: &Plan, page: &Page, clock: Clock) -> Trace {
    let mut trace = Trace::start(page, clock);
    let deadline = Deadline::after(plan.timeout);
    let result = fetch(plan, page, &deadline, &mut trace).map_err(|e| deadline.name(e));
    trace.finish(result)
}

fn fetch(
    plan: &Plan,
    page: &Page,
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
    // the connection: the seed's `while chunk:`.
    let mut response = ResponseReader::new(plan.max_bytes);
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
    response.finish()
}
// ANCHOR_END: blocking_way
