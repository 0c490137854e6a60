//! # Serving with threads
//!
//! Lesson 1's server serves one connection at a time because its one
//! thread is asleep in that connection's `read` or `sleep`. Give every
//! connection a thread of its own and the sleeps overlap, exactly as the
//! pages' waits did on the fetching side. Two ways to get the threads, one
//! file each, both running lesson 1's own per-connection code
//! (`sync_blocking::serve::connection`), unchanged:
//!
//! - [`thread`]: a thread per connection, started when it is accepted;
//! - [`pool`]: W threads started up front, each accepting and serving one
//!   connection at a time on the shared listener.
//!
//! [`no_thread`] keeps a thread that cannot be started from taking the
//! process down.

pub mod no_thread;
pub mod pool;
pub mod thread;

/// The stack of every serving thread. A stack is address space reserved
/// when the thread starts (Rust's default is 2 MiB); only the pages the
/// thread touches become memory, and serving a connection touches a few
/// KiB (the read buffer is 4 KiB, the rest is on the heap). 10,000
/// connections with the default would reserve 20 GiB of address space,
/// which a `ulimit -v` or `vm.overcommit_memory=2` refuses; with 64 KiB it
/// is 640 MiB. Much smaller is not safe: a thread that overflows its stack
/// aborts the whole process, and a debug build needs several times the
/// stack of a release build.
pub const STACK_BYTES: usize = 64 * 1024;
