//! The other side: the lesson's servers. Every one of them serves the page
//! workload (`GET /N`, keep-alive, a think time per request) with a task per
//! connection: a few hundred bytes of state machine parked on its socket or
//! its timer, never a thread. Run one with
//! `cargo run --release -p async_await -- serve --variant V`.

// `tokio` and `tokio-mt`: a task per connection written by hand on tokio:
// accept, spawn, read a head, sleep the think time, write, again.
pub mod tokio_tasks;

// `mini`: the same program on the lesson's hand-made runtime (its reactor
// and its timers, and an executor grown so that a task can spawn tasks).
pub mod mini;

// `hyper`: the production row. hyper's HTTP/1 server does the reading,
// parsing and keep-alive; the lesson writes only the handler. It also
// answers the tutorial's aiohttp lookup, `GET /<name>`, with JSON.
pub mod hyper_server;

// The tutorial's table of people, as JSON, for `hyper`'s `GET /<name>`.
pub mod people;
