//! # Lesson 7: futures and async/await
//!
//! Every page in flight at once, and code that reads like lesson 1: an
//! `async fn` is compiled into a state machine that keeps only what lives
//! across an `.await`, and a runtime polls it when epoll says its socket is
//! ready. The tutorial builds a `Future`, a `Task` and an event loop by hand,
//! then swaps them for asyncio and aiohttp; the variants below do the same in
//! Rust. The chapter is `walkthrough/07-async_await.md`.
//!
//! The lesson also serves the pages (`async_await serve`): a task per
//! connection, on tokio, on the hand-made runtime, and through hyper; see
//! `serve`.

// The only `unsafe` code is in `sigint` (reading and restoring SIGINT's
// disposition); everything else is safe.
#![deny(unsafe_code)]

use workload::serve::ServeVariant;
use workload::Concurrency;

pub use save::SaveFlags;

/// The lesson's table: its variants, for the binary, the tests and the
/// benchmark.
pub const LESSON: workload::Lesson = workload::Lesson {
    name: "async_await",
    about: "Lesson 7: futures and async/await: tokio, reqwest, and a runtime built by hand",
    variants: &[
        workload::Variant::new(
            "tokio",
            "the tutorial's asyncio version: current-thread runtime, raw TcpStream, \
             JoinSet + Semaphore + progress bar + Ctrl-C",
            Concurrency::Workers {
                default_max: usize::MAX,
            },
            tokio_ct::fetch_all,
        ),
        workload::Variant::new(
            "tokio-mt",
            "the same code on tokio's multi-thread runtime (one worker thread per core)",
            Concurrency::Workers {
                default_max: usize::MAX,
            },
            tokio_mt::fetch_all,
        ),
        workload::Variant::new(
            "tokio-offload",
            "the tokio variant with each page's --cpu-us work on tokio's blocking pool \
             (spawn_blocking, the tutorial's run_in_executor)",
            Concurrency::Workers {
                default_max: usize::MAX,
            },
            tokio_offload::fetch_all,
        ),
        workload::Variant::new(
            "reqwest",
            "the tutorial's aiohttp: one shared reqwest client, what production code writes",
            Concurrency::Workers {
                default_max: usize::MAX,
            },
            reqwest_client::fetch_all,
        ),
        workload::Variant::new(
            "mini",
            "the tutorial's hand-made Future/Task/event loop: a reactor on epoll and a \
             tiny executor, no tokio",
            Concurrency::Workers {
                default_max: usize::MAX,
            },
            mini::fetch_all,
        )
        .tutorial("generator coroutines", 0.43),
        workload::Variant::new(
            "handmade",
            "mini with its fetch written by hand: the future an async fn compiles to, \
             an enum of states with a poll",
            Concurrency::Workers {
                default_max: usize::MAX,
            },
            handmade::fetch_all,
        ),
    ],
    flags: workload::Flags::of::<SaveFlags>(),
    servers: &[
        ServeVariant::new(
            "tokio",
            "a task per connection, written by hand on tokio's current-thread runtime: \
             read a head, sleep the think time, write; one thread",
            serve::tokio_tasks::serve,
        ),
        ServeVariant::new(
            "tokio-mt",
            "the same tasks on tokio's multi-thread runtime (one worker thread per core)",
            serve::tokio_tasks::serve_mt,
        ),
        ServeVariant::new(
            "mini",
            "the same program on the hand-made runtime: mini's reactor and timers, an \
             executor whose tasks spawn tasks; no tokio",
            serve::mini::serve,
        ),
        ServeVariant::new(
            "hyper",
            "hyper's HTTP/1 server on tokio, what production code writes; also the \
             tutorial's aiohttp lookup, GET /<name> answered with JSON",
            serve::hyper_server::serve,
        ),
    ],
    worker: None,
};

// `tokio` (the default): lesson 1's fetch with `.await` where it blocked,
// one task per page on tokio's current-thread runtime, and the asyncio
// toolbox around it (as_completed, Semaphore, run_in_executor, Ctrl-C).
pub mod tokio_ct;

// `tokio-mt`: the very same async code on the multi-thread runtime: only
// the executor changes.
pub mod tokio_mt;

// `tokio-offload`: the tokio variant, with each page's CPU work handed to
// the blocking pool so the event loop's thread stays free for the sockets.
pub mod tokio_offload;

// `reqwest`: the tutorial's aiohttp, one shared HTTP client and no socket
// in sight.
pub mod reqwest_client;

// `mini`: the tutorial's hand-made Future / Task / event loop: futures over
// non-blocking sockets, a reactor on epoll, wakers and a single-threaded
// executor, with no tokio in it.
pub mod mini;

// `handmade`: mini's fetch as the enum the compiler makes of an `async fn`,
// written out by hand with its `poll`.
pub mod handmade;

// Pin, shown: a future that borrows its own buffer across an `.await`.
pub mod pinning;

// `--save DIR` and `--force`: writing the pages without following or
// overwriting what is already there.
pub mod save;

// The servers: `<lesson> serve --variant tokio | tokio-mt | mini | hyper`.
pub mod serve;

// Ctrl-C for the tokio variants, and SIGINT given back after the run.
#[allow(unsafe_code)]
pub mod sigint;
