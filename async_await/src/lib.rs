//! # Lesson 7: futures and async/await
//!
//! Lesson 5 waited for many sockets with one `epoll_wait` and ran a callback
//! for each event; the code that fetches one page was cut into callbacks,
//! with its state kept by hand between them. Lesson 6 gave every page a
//! coroutine with a stack of its own, so the code read top to bottom again,
//! at the price of a stack per page. This lesson keeps the one thread and
//! the readable code, and pays neither: an `async fn` is compiled into a
//! state machine (a "stackless coroutine") that holds only the variables that
//! live across an `.await`. Ten thousand pages in flight are ten thousand of
//! those small structs on the heap, and one epoll set in the kernel.
//!
//! The seed (004) builds the same thing in Python in three steps: a `Future`
//! that a callback fills in, a `Task` that resumes a generator when its
//! future is done, and an event loop around `selector.select()`. Then it
//! swaps them for asyncio and aiohttp. Rust's version of those three pieces:
//!
//! | seed (Python)                          | Rust                                             |
//! |----------------------------------------|--------------------------------------------------|
//! | `Future` + `add_done_callback`         | the `Future` trait: `poll` + the `Waker` it is given |
//! | `Task.step` resumes the generator      | the executor polls the task when its waker fires  |
//! | `selector.register(fd, EVENT_READ, cb)`| the reactor remembers (fd, waker), epoll watches  |
//! | `loop()` around `selector.select()`    | the executor's loop around `epoll_wait`           |
//! | `yield from read(sock)`                | `read(&sock).await`                               |
//! | asyncio / aiohttp                      | tokio / reqwest                                   |
//!
//! The variants, one file each:
//!
//! * [`tokio_ct`] (`tokio`, the default): the seed's asyncio program on
//!   tokio's current-thread runtime and raw `tokio::net::TcpStream`, plus the
//!   asyncio tour of the seeds 001 and 003: results handled as they complete
//!   (`JoinSet`, the seed's `as_completed`) with a progress bar, `--workers`
//!   as a `Semaphore`, `--save DIR` off the loop (`spawn_blocking`, the seed's
//!   `run_in_executor`), `tokio::time::timeout`, and Ctrl-C.
//! * [`tokio_mt`] (`tokio-mt`): the very same async code on the
//!   multi-thread runtime: only the executor changes.
//! * [`reqwest_client`] (`reqwest`): what production code writes (the seed's
//!   aiohttp): one shared HTTP client, no socket in sight.
//! * [`mini`] (`mini`): the seed's hand-made Future / Task / event loop in
//!   Rust: three futures over non-blocking sockets, a reactor on epoll, wakers
//!   and a single-threaded executor, with no tokio in it.

use std::path::{Path, PathBuf};
use workload::{Concurrency, ErrorKind, FetchError, Plan};

pub mod mini;
pub mod reqwest_client;
pub mod tokio_ct;
pub mod tokio_mt;

/// The lesson's own flag.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct SaveFlags {
    /// Write every page's body to DIR/page-<i>.html (created if missing). tokio,
    /// tokio-mt and reqwest write off the event loop; mini writes on it (a shortcut
    /// its source explains)
    #[arg(long, value_name = "DIR", value_parser = save_dir_arg)]
    pub save: Option<PathBuf>,
}

fn save_dir_arg(dir: &str) -> Result<PathBuf, String> {
    match std::fs::metadata(dir) {
        Ok(m) if !m.is_dir() => Err(format!("--save '{dir}' exists and is not a directory")),
        _ => Ok(PathBuf::from(dir)),
    }
}

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
            "the same code on tokio's multi-thread runtime (one worker per core)",
            Concurrency::Workers {
                default_max: usize::MAX,
            },
            tokio_mt::fetch_all,
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
            Concurrency::All,
            mini::fetch_all,
        )
        .tutorial("generator coroutines", 0.43),
    ],
    flags: workload::Flags::of::<SaveFlags>(),
};

/// The `--save` directory, created if it is missing; `None` without `--save`.
pub fn save_dir(plan: &Plan) -> Result<Option<PathBuf>, FetchError> {
    let Some(dir) = plan.options::<SaveFlags>().save else {
        return Ok(None);
    };
    std::fs::create_dir_all(&dir).map_err(|e| {
        FetchError::new(
            ErrorKind::Io,
            format!("--save: cannot create {}: {e}", dir.display()),
        )
    })?;
    Ok(Some(dir))
}

/// Where `--save` puts page `index`.
pub fn save_path(dir: &Path, index: usize) -> PathBuf {
    dir.join(format!("page-{index}.html"))
}

/// The error of a page whose file could not be written.
pub fn save_error(path: &Path, e: impl std::fmt::Display) -> FetchError {
    FetchError::new(
        ErrorKind::Io,
        format!("--save: cannot write {}: {e}", path.display()),
    )
}

/// Ctrl-C for the tokio variants, and putting it back afterwards.
///
/// `tokio::signal::ctrl_c()` installs a SIGINT handler for the rest of the
/// process's life: after the run, Ctrl-C would no longer stop a benchmark or
/// a test binary that called us. So the run saves SIGINT's disposition
/// before it listens and restores it when the last run of the process ends;
/// a later run in the same process is then stopped by Ctrl-C instead of
/// cancelled (tokio installs its handler only once per process).
pub mod sigint {
    use nix::libc;
    use std::sync::Mutex;

    /// Runs in progress, and SIGINT's disposition from before the first.
    static ACTIVE: Mutex<(usize, Option<libc::sigaction>)> = Mutex::new((0, None));

    /// While a `Listen` lives, SIGINT may be tokio's; dropping the last one
    /// restores what was there before.
    pub struct Listen {
        /// SIGINT was ignored (`nohup`, a background job): leave it so and
        /// do not listen.
        pub ignored: bool,
    }

    impl Listen {
        pub fn start() -> Listen {
            let mut active = ACTIVE.lock().unwrap_or_else(|p| p.into_inner());
            if active.0 == 0 {
                // SAFETY: `sigaction` is plain C data, for which all zeroes
                // is a valid value; called with a null new action, the
                // syscall only reads the current disposition into `old`, a
                // valid, writable struct that lives across the call.
                let (read, old) = unsafe {
                    let mut old: libc::sigaction = std::mem::zeroed();
                    let read = libc::sigaction(libc::SIGINT, std::ptr::null(), &mut old) == 0;
                    (read, old)
                };
                active.1 = read.then_some(old);
            }
            active.0 += 1;
            let ignored = active
                .1
                .as_ref()
                .is_some_and(|old| old.sa_sigaction == libc::SIG_IGN);
            Listen { ignored }
        }
    }

    impl Drop for Listen {
        fn drop(&mut self) {
            let mut active = ACTIVE.lock().unwrap_or_else(|p| p.into_inner());
            active.0 -= 1;
            if active.0 == 0 {
                if let Some(old) = active.1.take() {
                    // SAFETY: `old` is the disposition the kernel gave us
                    // before any run started (default, ignore, or a handler
                    // still installed in this process); putting it back
                    // cannot run code that was not already allowed to run.
                    unsafe { libc::sigaction(libc::SIGINT, &old, std::ptr::null_mut()) };
                }
            }
        }
    }
}
