//! The coroutines' stacks: their size (`--stack-kb`), the kernel's limit
//! on how many can be mapped, may's global configuration, and naming an
//! overflow. A stack is the price of a stackful coroutine: allocated up
//! front, of a fixed size, unable to grow.

use crate::failed;
use may::coroutine::JoinHandle;
use std::sync::Once;
use workload::{Clock, ErrorKind, FetchError, Page, Trace};

/// Stack of each coroutine when `--stack-kb` is not given, in KiB. Room to
/// spare for a debug build (which needs several times the stack of a
/// release build); the README measures what a page really uses.
pub const DEFAULT_STACK_KB: usize = 32;
/// The smallest stack accepted: above the deepest use of a release build
/// with room to spare (coroutine/README.md measures it); a debug build
/// needs several times more, so its floor is the default. A stack that
/// overflows inside `malloc` (an error path formats a message) leaves the
/// allocator's lock held and hangs the process, however well may's guard
/// page catches the fault, so sizes that could overflow are refused, not
/// tried.
pub const MIN_STACK_KB: usize = if cfg!(debug_assertions) { 32 } else { 8 };
/// The largest: as much as a thread's default main stack.
pub const MAX_STACK_KB: usize = 8 * 1024;

/// A coroutine stack size the lesson can use, in KiB: only
/// [`StackKb::parse`] makes one, so a plan cannot hold a bad size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StackKb(usize);

impl Default for StackKb {
    fn default() -> StackKb {
        StackKb(DEFAULT_STACK_KB)
    }
}

impl StackKb {
    pub fn get(self) -> usize {
        self.0
    }

    /// A `--stack-kb` value: a whole number of KiB between the limits.
    pub fn parse(text: &str) -> Result<StackKb, String> {
        match text.parse::<usize>() {
            Ok(kb) if (MIN_STACK_KB..=MAX_STACK_KB).contains(&kb) => Ok(StackKb(kb)),
            _ => Err(format!(
                "--stack-kb '{text}': give a whole number of KiB from {MIN_STACK_KB} to {MAX_STACK_KB}"
            )),
        }
    }
}

// ANCHOR: configure_may
/// may's configuration is global to the process and is read when its
/// scheduler starts, at the first spawn; later calls have no effect on the
/// worker threads. So it is set once, here, before the first spawn.
pub(crate) fn configure_may() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let config = may::config();
        // may keeps a pool of ready-made coroutines (1000 by default,
        // created when the scheduler starts) for the ones spawned with the
        // config's stack size, and puts such a stack back in the pool when
        // its coroutine ends. Every coroutine here gets its size from the
        // Builder instead (so that runs with different --stack-kb can share
        // the process, as the tests do), in whole KiB, never the config's
        // 4098 words: so no stack goes back to the pool (not even one that
        // overflowed, which must not be reused), and the pool holds one.
        config.set_stack_size(POOL_STACK_WORDS);
        config.set_pool_capacity(1);
        // One worker thread per core (may's default), not pinned to a core:
        // the page server and other programs share the cores, and a pinned
        // worker cannot move away from a busy one.
        config.set_worker_pin(false);
    });
}
// ANCHOR_END: configure_may

/// may measures stack sizes in machine words.
pub(crate) const WORD: usize = std::mem::size_of::<usize>();
/// The config's stack size: a size no Builder here asks for (see
/// `configure_may`). Even, because an odd size makes may fill the whole
/// stack to measure it (README.md, "Measuring the stack").
const POOL_STACK_WORDS: usize = 4096 + 2;

// ANCHOR: joined
/// Wait for one coroutine and take its trace. A coroutine that did not
/// return a trace panicked; the one way that happens here is a stack
/// overflow: the coroutine touched the guard page below its stack, may's
/// SIGSEGV handler printed "coroutine in thread '<unknown>' has overflowed
/// its stack", and may ended the coroutine with a `StackErr` instead of
/// letting the signal kill the process.
pub(crate) fn joined(
    handle: JoinHandle<Trace>,
    page: &Page,
    clock: Clock,
    stack_kb: usize,
) -> Trace {
    match handle.join() {
        Ok(trace) => trace,
        Err(panic) => {
            let detail = match panic.downcast_ref::<generator::Error>() {
                Some(generator::Error::StackErr) => format!(
                    "the coroutine overflowed its {stack_kb} KiB stack; give a larger --stack-kb"
                ),
                _ => "the coroutine panicked".to_string(),
            };
            failed(page, clock, FetchError::new(ErrorKind::Resource, detail))
        }
    }
}
// ANCHOR_END: joined

/// How many more coroutine stacks the kernel will map. Each stack is its
/// own mapping plus a guard page, two entries in the process's memory map,
/// and Linux caps the entries at `vm.max_map_count`. Running out makes may
/// panic, so the pages past the limit fail as `resource` instead.
pub(crate) struct StackBudget(usize);

/// Mappings kept for the allocator, the runtime and the other runs of this
/// process (the tests run several at once).
const SPARE_MAPS: usize = 4096;

impl StackBudget {
    pub(crate) fn now() -> StackBudget {
        StackBudget(workload::room::map_room(2, SPARE_MAPS).unwrap_or(usize::MAX))
    }

    /// Room for one more stack, or the page's error.
    pub(crate) fn take(&mut self) -> Result<(), FetchError> {
        if self.0 == 0 {
            return Err(FetchError::new(
                ErrorKind::Resource,
                "no coroutine started: its stack would pass the kernel's limit on memory maps \
                 (vm.max_map_count)",
            ));
        }
        self.0 -= 1;
        Ok(())
    }
}
