//! The tutorial's `nonblocking_way()` and `sync_way()`: one non-blocking
//! socket at a time, spinning on each call until it goes through.
//!
//! The shape is lesson 1's `blocking_way` (connect, send, receive until end
//! of file, next page), but each call that used to sleep in the kernel is
//! now a `loop` that asks again and again. The pages still go one after
//! another, so the waits still add up, and the CPU is busy for all of them.

use workload::{Body, Clock, Deadline, FetchError, Page, Plan, ResponseReader, Trace};

use crate::{open, spins, try_connected, try_recv, try_send, Attempt, Spins};

// ANCHOR: sync_way
/// The tutorial's `sync_way()` with `nonblocking_way()` inside: the pages
/// one after another (the spin counts printed when `--spins` asks).
pub fn fetch_all(plan: &Plan) -> Vec<Trace> {
    spins::shown(plan, fetch_all_counted)
}

/// The same, returning how many "would block" answers each page got.
pub fn fetch_all_counted(plan: &Plan) -> (Vec<Trace>, Vec<Spins>) {
    let clock = Clock::start();
    plan.all_pages()
        .map(|page| {
            let mut spins = Spins::new(page.index);
            let trace = nonblocking_way(plan, &page, clock, &mut spins);
            (trace, spins)
        })
        .unzip()
}
// ANCHOR_END: sync_way

/// The tutorial's `nonblocking_way()`: one page over one non-blocking
/// socket. Returns only when the page is complete or failed, after spinning
/// for all of its latency.
pub fn nonblocking_way(plan: &Plan, page: &Page, clock: Clock, spins: &mut Spins) -> Trace {
    let mut trace = Trace::start(page, clock);
    let deadline = Deadline::after(plan.timeout);
    let result = fetch(plan, page, &deadline, &mut trace, spins);
    trace.finish(result)
}

// ANCHOR: nonblocking_way
fn fetch(
    plan: &Plan,
    page: &Page,
    deadline: &Deadline,
    trace: &mut Trace,
    spins: &mut Spins,
) -> Result<Body, FetchError> {
    // socket(), setblocking(False), connect(): returns at once, the SYN is
    // on its way and the kernel finishes the handshake by itself.
    let sock = open(page)?;

    // Spin until the handshake is done. Every turn is a connect() system
    // call answered "already in progress", then a look at the clock: the
    // only thing that can end a wait here is the deadline we check ourselves.
    while let Attempt::NotYet = try_connected(&sock, page)? {
        spins.connect += 1;
        deadline.remaining()?;
    }
    trace.connected();

    // The tutorial's `while True: try: sock.send(data); break`. On a
    // connected socket the few dozen bytes of the request fit in the send
    // buffer at the first try, so this loop rarely turns; it still must
    // handle a send that takes only part of the bytes.
    let request = page.request();
    let mut sent = 0;
    while sent < request.len() {
        match try_send(&sock, &request[sent..])? {
            Attempt::Ready(n) => sent += n,
            Attempt::NotYet => spins.send += 1,
        }
        deadline.remaining()?;
    }

    // The tutorial's recv loop, and the heart of the lesson. The server
    // says nothing for its whole latency, and all that time this loop asks
    // the kernel "any bytes for me?" - a system call, a switch into kernel
    // mode, a look at an empty receive queue, EAGAIN, back to user mode -
    // as fast as the CPU can go. Lesson 1 slept through the same wait and
    // used no CPU; this loop uses a whole core and gets the bytes no sooner.
    let mut response = ResponseReader::new(plan.max_bytes);
    let mut buf = [0u8; 4096];
    loop {
        match try_recv(&sock, &mut buf)? {
            Attempt::NotYet => spins.recv += 1,
            Attempt::Ready(n) => {
                if n > 0 {
                    trace.first_byte();
                }
                // n == 0 is end of file, fed as an empty slice: the
                // tutorial's `while chunk:` ends there.
                if response.feed(&buf[..n])?.is_done() {
                    break;
                }
            }
        }
        // No socket timeout can help a call that never blocks: the page's
        // --timeout-ms is our own clock, read on every turn.
        deadline.remaining()?;
    }
    let body = response.finish()?;
    // `--cpu-us`: the page's own computing, on this one thread, before the
    // next page can start.
    workload::cpu::spend(plan.cpu, &body);
    Ok(body)
}
// ANCHOR_END: nonblocking_way
