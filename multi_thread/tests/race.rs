//! A demonstration, run as tests: the tutorial's race condition, "which
//! thread gets this URL?", made visible, then its two cures.
//!
//! A work queue is a shared position ("the next page to fetch") that
//! several threads advance. Safe Rust will not let two threads touch a
//! plain `Vec` or `usize` at once (see the `compile_fail` example in
//! `src/pool.rs`), so every version below is free of data races. The first
//! one still hands the same page to two threads: each of its steps is
//! atomic, but "read the position, then store position + 1" is two steps,
//! and the scheduler may run the other thread in between. A `Barrier`
//! forces that interleaving here, so the test shows it every time instead
//! of once in a thousand runs.

use crossbeam_channel::unbounded;
use std::collections::BTreeSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Barrier, Mutex};

// ANCHOR: check_then_act
/// Two workers take "the next page" in two steps, read then write, and the
/// scheduler switches between the steps (forced by the barrier).
#[test]
fn check_then_act_gives_one_page_to_two_threads() {
    let next = AtomicUsize::new(0);
    let between_the_steps = Barrier::new(2);
    let taken = Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for _ in 0..2 {
            s.spawn(|| {
                let page = next.load(Ordering::SeqCst); // "which page is next?"
                between_the_steps.wait(); // the other thread runs here
                next.store(page + 1, Ordering::SeqCst); // "I took it"
                taken.lock().unwrap().push(page);
            });
        }
    });
    // Both threads fetch page 0, and the position moved by one, not two:
    // one page is fetched twice and, at the end of the queue, another one
    // is never fetched at all.
    assert_eq!(*taken.lock().unwrap(), vec![0, 0]);
    assert_eq!(next.load(Ordering::SeqCst), 1);
}
// ANCHOR_END: check_then_act

// ANCHOR: one_step
/// The same interleaving with one indivisible step, `fetch_add`: the read
/// and the write cannot be separated, so the threads get different pages.
#[test]
fn one_atomic_step_gives_each_thread_its_own_page() {
    let next = AtomicUsize::new(0);
    let between_the_steps = Barrier::new(2);
    let taken = Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for _ in 0..2 {
            s.spawn(|| {
                let page = next.fetch_add(1, Ordering::SeqCst);
                between_the_steps.wait();
                taken.lock().unwrap().push(page);
            });
        }
    });
    let mut taken = taken.into_inner().unwrap();
    taken.sort();
    assert_eq!(taken, vec![0, 1]);
    assert_eq!(next.load(Ordering::SeqCst), 2);
}
// ANCHOR_END: one_step

/// The pool's queue, as `pool.rs` uses it: many workers, many pages, and
/// every page comes out of the channel exactly once.
#[test]
fn the_channel_hands_out_every_page_exactly_once() {
    const PAGES: usize = 20_000;
    const WORKERS: usize = 8;
    let (to_do, work) = unbounded::<usize>();
    for page in 0..PAGES {
        to_do.send(page).unwrap();
    }
    drop(to_do);
    let per_worker: Vec<Vec<usize>> = std::thread::scope(|s| {
        let workers: Vec<_> = (0..WORKERS)
            .map(|_| {
                let work = work.clone();
                s.spawn(move || work.iter().collect::<Vec<usize>>())
            })
            .collect();
        workers.into_iter().map(|w| w.join().unwrap()).collect()
    });
    let total: usize = per_worker.iter().map(Vec::len).sum();
    let distinct: BTreeSet<usize> = per_worker.iter().flatten().copied().collect();
    assert_eq!(total, PAGES, "no page handed out twice");
    assert_eq!(distinct.len(), PAGES, "no page lost");
    assert_eq!(distinct.last(), Some(&(PAGES - 1)));
}
