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
/// with room to spare; a debug build needs several times more, so its
/// floor is the default. What keeps it true: the test in `depth` below
/// runs the conformance suite (and the server) on measured stacks and
/// fails when this build's deepest use passes three quarters of it. A stack that
/// overflows inside `malloc` (an error path formats a message) leaves the
/// allocator's lock held and hangs the process, however well may's guard
/// page catches the fault, so sizes that could overflow are refused, not
/// tried.
pub const MIN_STACK_KB: usize = if cfg!(debug_assertions) { 32 } else { 8 };
/// The largest: as much as a thread's default main stack.
pub const MAX_STACK_KB: usize = 8 * 1024;
/// Stack of each coroutine of the server (`coroutine serve`), in KiB. Only
/// the pages a coroutine touches cost memory; the size is the room it
/// may not pass, and the tests below check the server's deepest use
/// against it with a margin.
pub const SERVE_STACK_KB: usize = DEFAULT_STACK_KB;

/// A coroutine stack size the lesson can use, in KiB: only
/// [`StackKb::parse`] makes one, so a plan cannot hold a bad size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StackKb(usize);

impl Default for StackKb {
    fn default() -> StackKb {
        StackKb(DEFAULT_STACK_KB)
    }
}

impl std::fmt::Display for StackKb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl StackKb {
    pub fn get(self) -> usize {
        self.0
    }

    /// The flag's help line, from the limits [`StackKb::parse`] checks.
    pub fn help() -> String {
        format!(
            "Stack of each coroutine, in KiB ({MIN_STACK_KB} to {MAX_STACK_KB}, \
             rounded up to 4 KiB pages)"
        )
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

/// A stack of `kb` KiB in may's unit, machine words. Always even, except
/// in the depth test below, which asks may to measure every stack.
pub(crate) fn words(kb: usize) -> usize {
    let words = kb * 1024 / WORD;
    #[cfg(test)]
    if depth::MEASURING.load(std::sync::atomic::Ordering::Relaxed) {
        return words | 1;
    }
    words
}
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

/// How many more coroutine stacks the kernel will map, keeping
/// `SPARE_MAPS`.
pub(crate) fn room_for_stacks() -> usize {
    workload::room::map_room(2, SPARE_MAPS).unwrap_or(usize::MAX)
}

impl StackBudget {
    pub(crate) fn now() -> StackBudget {
        StackBudget(room_for_stacks())
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

/// The floor's test: how deep the code really goes.
///
/// may can measure a stack: given an odd size (in words), it fills the
/// whole stack with a pattern before the coroutine starts and, when the
/// coroutine ends, counts the words no longer holding the pattern from the
/// far end and prints `stack size = S, used size = U` on stdout. That is
/// the coroutine's high-water mark. The test runs in a child process (a
/// second run of this test binary, made to print on its real stdout): the
/// whole conformance suite on the fetch side, a run of hostile requests on
/// the server side, every coroutine on a measured stack of the default 32
/// KiB (room to measure a use deeper than the floor, instead of
/// overflowing it), then checks the deepest against the floor.
///
/// What it proves, and what not: the mark counts the words written, so
/// it sees every frame the tests reach (a frame's bytes never written
/// are not counted, which is why the margin is a quarter), in this build
/// only: `cargo test -p coroutine` checks the debug floor,
/// `cargo test --release -p coroutine` the release one. A path no test
/// reaches is not measured; the guard page stays the last resort.
#[cfg(test)]
mod depth {
    use super::*;
    use std::process::Command;
    use std::sync::atomic::AtomicBool;

    /// Set in the child: every stack is measured (see `words`).
    pub(crate) static MEASURING: AtomicBool = AtomicBool::new(false);

    /// The child's side, and which one.
    const CHILD: &str = "COROUTINE_STACK_DEPTH_CHILD";

    /// Run `child` (a test of this module) in a child process; the number
    /// of coroutines measured and the deepest use, in bytes.
    fn measure(child: &str) -> (usize, usize) {
        let out = Command::new(std::env::current_exe().expect("the test binary"))
            .args([
                child,
                "--exact",
                "--ignored",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD, child)
            .output()
            .expect("run the test binary again");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{child} failed: {stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let used: Vec<usize> = stdout
            .lines()
            .filter_map(|l| l.split("used size = ").nth(1))
            .filter_map(|n| n.trim().parse().ok())
            .collect();
        let deepest = used.iter().max().copied().unwrap_or(0) * WORD;
        (used.len(), deepest)
    }

    /// Three quarters of `floor_kb`, in bytes.
    fn margin(floor_kb: usize) -> usize {
        floor_kb * 1024 * 3 / 4
    }

    #[test]
    fn fetching_uses_at_most_three_quarters_of_the_floor() {
        let (coroutines, deepest) = measure("stacks::depth::fetch_child");
        // A page or more per scenario.
        let scenarios = conformance::SCENARIOS.len();
        assert!(coroutines >= scenarios, "only {coroutines} stacks measured");
        eprintln!("fetch: deepest use {deepest} bytes over {coroutines} coroutines");
        assert!(
            deepest <= margin(MIN_STACK_KB),
            "the fetch used {deepest} bytes of stack: more than three quarters of the \
             {MIN_STACK_KB} KiB floor; raise MIN_STACK_KB"
        );
    }

    #[test]
    fn serving_uses_at_most_three_quarters_of_its_stack() {
        let (coroutines, deepest) = measure("stacks::depth::serve_child");
        assert!(coroutines >= 8, "only {coroutines} stacks measured");
        eprintln!("serve: deepest use {deepest} bytes over {coroutines} coroutines");
        assert!(
            deepest <= margin(SERVE_STACK_KB),
            "a server coroutine used {deepest} bytes of stack: more than three quarters \
             of its {SERVE_STACK_KB} KiB; raise SERVE_STACK_KB"
        );
    }

    /// Whether this run is the child asked for (and so: measure).
    fn child(name: &str) -> bool {
        let me = std::env::var(CHILD).is_ok_and(|c| c.ends_with(name));
        if me {
            MEASURING.store(true, std::sync::atomic::Ordering::Relaxed);
        }
        me
    }

    #[test]
    #[ignore = "run by fetching_uses_at_most_three_quarters_of_the_floor"]
    fn fetch_child() {
        if !child("fetch_child") {
            return;
        }
        for (_, scenario) in conformance::SCENARIOS {
            scenario(&crate::LESSON);
        }
    }

    #[test]
    #[ignore = "run by serving_uses_at_most_three_quarters_of_its_stack"]
    fn serve_child() {
        if !child("serve_child") {
            return;
        }
        crate::serve::tests::hostile_clients();
        // may prints a coroutine's mark once it has ended, on its worker.
        std::thread::sleep(std::time::Duration::from_millis(300));
    }
}
