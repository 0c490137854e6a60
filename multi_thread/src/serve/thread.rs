//! The `thread` server: a thread per connection.
//!
//! The main thread does one thing: it sleeps in `accept`, and for every
//! connection the kernel hands it, starts a thread that serves it with
//! lesson 1's blocking code, then goes back to `accept`. The connection's
//! thread sleeps in its own `read` and its own think time; meanwhile the
//! kernel runs the other threads. A thousand clients are a thousand
//! threads: a thousand kernel tasks, stacks and scheduler entries, most of
//! them asleep.

use super::no_thread::{self, Room};
use super::STACK_BYTES;
use std::io;
use workload::serve::{after_accept_error, AfterAcceptError, Serving};

// ANCHOR: thread_per_connection
/// Accept connections and start a thread for each, until the shutdown;
/// then wait for every connection's thread to finish.
pub fn thread_per_connection(serving: Serving) -> io::Result<()> {
    let serving = &serving;
    // Counts the threads alive against the room the process has for them.
    let room = &Room::measure();
    // A scope lets each thread borrow `serving`, and does not return
    // before every thread started in it has ended: on shutdown that is the
    // wait for the requests in flight.
    std::thread::scope(|s| {
        let result = loop {
            // The main thread sleeps here until a client has connected (or
            // the listener is shut down: EINVAL).
            let stream = match serving.listener.accept() {
                Ok((stream, _peer)) => stream,
                Err(e) => match after_accept_error(&e, &serving.shutdown) {
                    AfterAcceptError::Retry => continue,
                    AfterAcceptError::BackOff(pause) => {
                        // Out of descriptors: the connections' threads go
                        // on serving; only accepting waits.
                        std::thread::sleep(pause);
                        continue;
                    }
                    AfterAcceptError::Stop(result) => break result,
                },
            };
            // One more thread, if the process has room for it; otherwise
            // this connection is refused by name, and the others go on.
            let Some(seat) = room.take() else {
                no_thread::refuse(stream, &room.full());
                continue;
            };
            let started = std::thread::Builder::new()
                .name("conn".into())
                .stack_size(STACK_BYTES)
                .spawn_scoped(s, move || {
                    let _seat = seat; // given back when the thread ends
                    sync_blocking::serve::connection(stream, serving);
                });
            // Dropping the handle detaches the thread (the scope still
            // waits for it); its stack is freed as soon as it ends. If it
            // could not start, the closure, with the connection and the
            // seat, comes back with the error: both are dropped here.
            if let Err(e) = started {
                no_thread::spawn_failed(&e);
            }
        };
        // The listener is broken rather than shut down: make the
        // connections' threads close their idle connections too, so the
        // scope does not wait for them for a header timeout.
        if result.is_err() {
            serving.shutdown.trigger();
        }
        result
    })
}
// ANCHOR_END: thread_per_connection
