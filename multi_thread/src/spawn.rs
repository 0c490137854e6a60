//! Starting a thread without taking the process down.
//!
//! A thread is a kernel task, a stack and a few memory mappings. Past the
//! machine's limits `pthread_create` fails, which a page can report; but
//! past `vm.max_map_count` the new thread, already running, cannot map its
//! signal stack and Rust's std aborts the whole process. So the variants
//! that start a thread per page count the room first ([`thread_room`]) and
//! name every failure ([`no_room`], [`spawn_failed`]): the page without a
//! thread fails as `resource`, the others go on.

use crate::ThreadFlags;
use workload::{ErrorKind, FetchError, Plan};

/// The smallest `--stack-kb` accepted. A debug build's fetch needs several
/// times the stack of a release build, and a thread that overflows its
/// stack aborts the whole process, so small sizes are refused, not tried.
pub const MIN_STACK_KB: u64 = 64;

/// `--stack-kb` in bytes, or a sentence saying why the text is not a
/// stack size this lesson can use.
pub fn parse_stack_kb(text: &str) -> Result<usize, String> {
    let kb: u64 = text
        .parse()
        .map_err(|_| format!("--stack-kb '{text}' is not a size in KiB"))?;
    if kb < MIN_STACK_KB {
        return Err(format!(
            "--stack-kb '{text}' is below the {MIN_STACK_KB} KiB a thread of this lesson needs"
        ));
    }
    kb.checked_mul(1024)
        .and_then(|b| usize::try_from(b).ok())
        .ok_or_else(|| format!("--stack-kb '{text}' does not fit in this machine's address space"))
}

/// A thread builder with the `--stack-kb` of the plan, named for `ps -L`
/// and for panic messages. A size the OS cannot map makes the spawn fail,
/// and the page with it, by name.
pub fn thread_builder(plan: &Plan, name: String) -> std::thread::Builder {
    let builder = std::thread::Builder::new().name(name);
    match plan.options::<ThreadFlags>().stack_bytes {
        None => builder,
        Some(bytes) => builder.stack_size(bytes),
    }
}

// ANCHOR: thread_room
/// The memory mappings one thread costs, counted in `/proc/self/maps`: the
/// stack and its guard page (glibc's), and the alternate signal stack and
/// its guard page that Rust's std maps in every new thread so it can report
/// a stack overflow instead of dying silently.
pub const MAPS_PER_THREAD: usize = 4;

/// Mappings kept for everything else the process may map while it runs
/// (allocator arenas, a thread started by someone else).
const SPARE_MAPS: usize = 1024;

/// How many more threads this process can start before it runs out of
/// memory mappings (`vm.max_map_count`). `None` where the counts cannot be
/// read.
///
/// This wall has to be checked *before* spawning. `pthread_create` maps
/// the stack and succeeds; then the new thread, already running, asks for
/// its signal stack, the kernel refuses the mapping, and Rust's std, which
/// has no caller to return an error to at that point, aborts the whole
/// process: every page lost, not just the one.
pub fn thread_room() -> Option<usize> {
    workload::room::map_room(MAPS_PER_THREAD, SPARE_MAPS)
}

/// The error of a page that would have been one thread too many.
pub fn no_room(room: usize) -> FetchError {
    FetchError::new(
        ErrorKind::Resource,
        format!(
            "no thread for this page: this run had room for {room} threads \
             (vm.max_map_count limits the memory mappings, {MAPS_PER_THREAD} per thread)"
        ),
    )
}

/// The error of a page whose thread could not be started. `pthread_create`
/// fails with EAGAIN when the process or the machine is out of threads
/// (`kernel.threads-max`, `kernel.pid_max`, `RLIMIT_NPROC`) or cannot map
/// another stack (`vm.max_map_count`, memory). Rust reports it as an
/// `io::Error` of kind `WouldBlock`, which for a socket would mean "timed
/// out", so it is named here instead of going through `FetchError::from_io`.
pub fn spawn_failed(e: &std::io::Error) -> FetchError {
    FetchError::new(
        ErrorKind::Resource,
        format!("no thread could be started for this page: {e}"),
    )
}
// ANCHOR_END: thread_room
