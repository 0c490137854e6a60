//! The sum behind the scoped variant's guard against the mapping wall,
//! checked in a process of its own (no other test starts threads here).

use multi_thread::{thread_room, MAPS_PER_THREAD};

#[test]
fn every_thread_uses_up_room_for_one_more() {
    const THREADS: usize = 100;
    let before = thread_room().expect("Linux has /proc/sys/vm/max_map_count and /proc/self/maps");
    assert!(
        before > 1000,
        "a fresh process has room for thousands: {before}"
    );
    let (stop, parked) = crossbeam_channel::bounded::<()>(0);
    let threads: Vec<_> = (0..THREADS)
        .map(|_| {
            let parked = parked.clone();
            std::thread::spawn(move || parked.recv())
        })
        .collect();
    let after = thread_room().unwrap();
    drop(stop);
    for t in threads {
        let _ = t.join();
    }
    // Each parked thread holds its mappings: between one (the kernel merges
    // neighbouring mappings, so the count varies from run to run) and
    // MAPS_PER_THREAD, the figure the guard divides by. New threads may also
    // get malloc arenas of their own (glibc makes at most 8 per core, each a
    // reserved region and its header: two mappings), which the guard's
    // spare room covers. More than that per thread and the guard would let
    // the process run into the wall.
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let arena_maps = 8 * cores * 2;
    let used = before - after;
    assert!(
        (THREADS / MAPS_PER_THREAD..=THREADS + arena_maps.div_ceil(MAPS_PER_THREAD)).contains(&used),
        "{THREADS} threads of at most {MAPS_PER_THREAD} mappings each (+ {arena_maps} for malloc arenas): \
         room {before} -> {after}"
    );
}
