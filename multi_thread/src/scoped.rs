//! The `scoped` variant: no pool and no queue, one thread per page.
//!
//! Nothing is shared between the threads, so there is nothing to race on:
//! each thread is born with its page number and returns its trace through
//! its join handle. `std::thread::scope` lets the threads borrow the plan
//! and guarantees they have all ended when it returns.
//!
//! The cost moves from the queue to the machine. N pages are N threads at
//! once: N kernel tasks, N stacks (2 MiB of address space each, a few KiB
//! of it touched) and [`MAPS_PER_THREAD`](crate::MAPS_PER_THREAD) memory
//! mappings each (the stack and its guard page, a signal stack and its
//! guard page). Somewhere above ten thousand the process cannot have
//! another thread: `vm.max_map_count` and `kernel.pid_max` are the walls
//! (the chapter measures where they stand). `Builder::spawn_scoped` returns
//! the error where `thread::spawn` would panic, and the mapping wall, which
//! would abort the process from inside the new thread, is checked before
//! spawning ([`crate::spawn`]). Either way the page without a thread fails
//! as `resource` and the others go on.

use crate::blocking_way;
use crate::spawn::{no_room, spawn_failed, thread_builder, thread_room};
use std::thread::Builder;
use workload::{Clock, ErrorKind, FetchError, Plan, Trace};

/// One thread per page, each with the plan's `--stack-kb`.
pub fn thread_per_page(plan: &Plan) -> Vec<Trace> {
    let room = thread_room().unwrap_or(usize::MAX);
    one_thread_each(plan, room, &|i| thread_builder(plan, format!("page-{i}")))
}

// ANCHOR: thread_per_page
/// Start a thread for every page (made by `builder`, at most `room` of
/// them), then collect them.
fn one_thread_each(plan: &Plan, room: usize, builder: &dyn Fn(usize) -> Builder) -> Vec<Trace> {
    let clock = Clock::start();
    let bar = &workload::progress::bar(plan);
    let traces = std::thread::scope(|s| {
        // Every thread is started before any is waited for: that is what
        // lets their connect() and read() sleep at the same time. Joining
        // each one right after starting it would be lesson 1 again.
        let mut threads = Vec::with_capacity(plan.pages);
        for i in 0..plan.pages {
            // Every thread started in this scope keeps its stack mapped
            // until it is joined at the end, so the room is counted once
            // for the whole run, not per thread alive.
            let started = if i >= room {
                Err(no_room(room))
            } else {
                builder(i)
                    .spawn_scoped(s, move || {
                        let trace = blocking_way(plan, &plan.page(i), clock, None);
                        bar.inc(1);
                        trace
                    })
                    .map_err(|e| spawn_failed(&e))
            };
            // No thread for this page: it fails now, on its own. The
            // threads already running are not disturbed.
            threads.push(started.map_err(|error| {
                bar.inc(1);
                Trace::start(&plan.page(i), clock).finish(Err(error))
            }));
        }
        // The tutorial's `fut.result()`, in page order: join() sleeps until
        // that page's thread has returned its trace.
        threads
            .into_iter()
            .enumerate()
            .map(|(i, thread)| match thread {
                Ok(handle) => handle.join().unwrap_or_else(|_| {
                    let error = FetchError::new(ErrorKind::Io, "the page's thread panicked");
                    Trace::start(&plan.page(i), clock).finish(Err(error))
                }),
                Err(failed) => failed,
            })
            .collect()
    });
    bar.finish_and_clear();
    traces
}
// ANCHOR_END: thread_per_page

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;
    use workload::{Server, ServerConfig};

    /// A stack no machine can map (1 EiB is more than a 57-bit address
    /// space): `pthread_create` fails with EAGAIN, as it does when the
    /// process runs out of threads, without having to start 16,000 of them.
    const IMPOSSIBLE_STACK: usize = 1 << 60;

    #[test]
    fn a_page_without_a_thread_fails_alone() {
        let server = Server::start(ServerConfig {
            latency: Duration::from_millis(20),
            ..ServerConfig::default()
        })
        .unwrap();
        let plan = Plan::new(&server.url(), 4).unwrap();
        let traces = one_thread_each(&plan, usize::MAX, &|i| {
            let b = Builder::new();
            if i == 2 {
                b.stack_size(IMPOSSIBLE_STACK)
            } else {
                b
            }
        });
        assert_eq!(traces.len(), 4);
        for (i, t) in traces.iter().enumerate() {
            assert_eq!(t.page, i);
            if i == 2 {
                assert_eq!(t.error_kind(), Some(ErrorKind::Resource), "{t:?}");
                let error = t
                    .error
                    .as_ref()
                    .map(|e| e.detail.as_str())
                    .unwrap_or_default();
                assert!(error.contains("no thread could be started"), "{error}");
                assert!(t.connected_ms.is_none(), "it never got as far as connect");
            } else {
                assert!(t.is_ok(), "page {i}: {t:?}");
            }
        }
        assert_eq!(server.served(), 3, "the page without a thread sent nothing");
    }

    #[test]
    fn pages_beyond_the_room_for_threads_fail_alone() {
        let server = Server::start(ServerConfig::default()).unwrap();
        let plan = Plan::new(&server.url(), 5).unwrap();
        let traces = one_thread_each(&plan, 3, &|_| Builder::new());
        for (i, t) in traces.iter().enumerate() {
            if i < 3 {
                assert!(t.is_ok(), "page {i}: {t:?}");
            } else {
                assert_eq!(t.error_kind(), Some(ErrorKind::Resource), "{t:?}");
                let error = t
                    .error
                    .as_ref()
                    .map(|e| e.detail.as_str())
                    .unwrap_or_default();
                assert!(error.contains("room for 3 threads"), "{error}");
            }
        }
        assert_eq!(server.served(), 3);
    }
}
