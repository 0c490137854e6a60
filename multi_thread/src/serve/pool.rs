//! The `pool` server: W threads started up front, each one lesson 1's
//! iterative server, all on the same listener.
//!
//! Every thread runs `sync_blocking::serve::accept_loop`: it sleeps in
//! `accept`, serves the connection it got to the end, and sleeps in
//! `accept` again. W threads blocked in `accept` on one socket: the kernel
//! wakes one of them per connection (each waits "exclusively", so one
//! connection does not wake the whole herd). At most W connections are
//! served at once. Client W+1 is not refused: the kernel completes its
//! handshake and keeps it in the listener's backlog until one of the W
//! threads is done with its client and back in `accept`. A client that
//! keeps its connection open and says nothing holds a thread until the
//! header timeout closes it; W such clients hold the whole pool.

use super::STACK_BYTES;
use crate::spawn::thread_room;
use std::io;
use workload::serve::Serving;

/// Threads in the pool without `--workers`.
pub const DEFAULT_WORKERS: usize = 64;

// ANCHOR: pool
/// W threads (`--workers`), each accepting and serving one connection at
/// a time, until the shutdown.
pub fn pool(serving: Serving) -> io::Result<()> {
    let serving = &serving;
    let wanted = serving.config.workers;
    // Never more threads than the process has room for (see no_thread).
    let room = thread_room().unwrap_or(usize::MAX);
    let workers = wanted.min(room);
    if workers < wanted {
        eprintln!("serve: room for {room} threads only: a pool of {workers}, not {wanted}");
    }
    std::thread::scope(|s| {
        let mut threads = Vec::with_capacity(workers);
        for id in 0..workers {
            let started = std::thread::Builder::new()
                .name(format!("pool-{id}"))
                .stack_size(STACK_BYTES)
                .spawn_scoped(s, || sync_blocking::serve::accept_loop(serving));
            match started {
                Ok(thread) => threads.push(thread),
                // The pool goes on with the threads it has.
                Err(e) => {
                    eprintln!("serve: pool thread {id} could not be started: {e}");
                    break;
                }
            }
        }
        if threads.is_empty() {
            return Err(io::Error::other("not one pool thread could be started"));
        }
        // On shutdown every thread's accept fails with EINVAL and each
        // returns once its connection, if any, is done.
        let mut result = Ok(());
        for thread in threads {
            let ended = thread
                .join()
                .unwrap_or_else(|_| Err(io::Error::other("a pool thread panicked")));
            if let Err(e) = ended {
                // A broken listener: make the others let go of their
                // connections too.
                serving.shutdown.trigger();
                result = result.and(Err(e));
            }
        }
        result
    })
}
// ANCHOR_END: pool
