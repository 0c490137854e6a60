//! # Lesson 8: completion I/O: submit the operations, reap their results
//!
//! The fifth of the five I/O models in 《Python(线程进程3)》, asynchronous
//! I/O: the program does not wait for a socket to be *ready* and then act
//! (lessons 4 and 5); it hands the kernel the whole operation - connect,
//! send, receive into this memory - and later learns that it is *done*.
//! On Linux that is io_uring: two queues shared with the kernel, one of
//! submissions, one of completions.
//!
//! - [`uring`]: the ten-page fetch by hand on the `io-uring` crate: one
//!   ring, one state machine per page, driven by completions.
//! - [`compio_rt`]: the same fetch with async/await on compio, a runtime
//!   built on io_uring: the code looks like tokio's, but each buffer is
//!   passed to the kernel by value and handed back.
//! - [`probe`]: whether io_uring can be used here at all, and if not, why.
//! - [`serve`]: the other side, a page server on one ring by hand.

// The `unsafe` code is where memory is shared with the kernel: the ring
// and its buffers, and the operations that point into the program's
// memory until they complete. Everything else is safe.
#![deny(unsafe_code)]

pub mod availability;
#[allow(unsafe_code)]
mod bufring;
pub mod compio_rt;
#[allow(unsafe_code)]
pub mod ring;
#[allow(unsafe_code)]
pub mod serve;
#[allow(unsafe_code)]
pub mod uring;

pub use availability::{probe, probe_server};
use workload::serve::ServeVariant;
use workload::Concurrency;

/// The lesson's table: the hand-written loop first, then the runtime.
pub const LESSON: workload::Lesson = workload::Lesson {
    name: "completion",
    about: "Lesson 8: completion I/O on io_uring: submit operations, reap completions",
    variants: &[
        workload::Variant::new(
            "uring",
            "one ring by hand: socket, connect, send, recv, close submitted; completions reaped",
            Concurrency::Workers {
                default_max: usize::MAX,
            },
            uring::fetch_all,
        )
        .available(probe),
        workload::Variant::new(
            "compio",
            "async/await on compio's io_uring driver: a task per page, buffers passed by value",
            Concurrency::Workers {
                default_max: usize::MAX,
            },
            compio_rt::fetch_all,
        )
        .available(probe),
    ],
    flags: workload::Flags::NONE,
    servers: &[ServeVariant::new(
        "uring",
        "one ring by hand: multishot accept, recv into provided buffers, a timeout op per think time",
        serve::uring::serve,
    )
    .available(probe_server)],
    worker: None,
};
