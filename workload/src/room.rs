//! Room under the kernel's limit on memory mappings.
//!
//! Every thread stack, and every coroutine stack, is a mapping of its own
//! (plus guard pages), and Linux caps a process's mappings at
//! `vm.max_map_count` (65,530 by default). Running into the cap does not
//! fail cleanly: Rust's std aborts the process when a new thread cannot map
//! its signal stack, and `may` panics when it cannot map a coroutine's
//! stack. So the lessons that start a stack per page count the room first
//! and fail the pages beyond it as `resource`.

/// How many more things of `maps_each` mappings this process can map,
/// keeping `spare` mappings for everything else (allocator arenas, other
/// runs in the same process). `None` where the counts cannot be read.
pub fn map_room(maps_each: usize, spare: usize) -> Option<usize> {
    let max = std::fs::read_to_string("/proc/sys/vm/max_map_count").ok()?;
    let max: usize = max.trim().parse().ok()?;
    let used = std::fs::read_to_string("/proc/self/maps")
        .ok()?
        .lines()
        .count();
    Some(max.saturating_sub(used + spare) / maps_each.max(1))
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_room_shrinks_as_mappings_are_added() {
        let before = super::map_room(1, 0).expect("Linux has /proc/sys/vm/max_map_count");
        let spare = super::map_room(1, 100).unwrap();
        assert!(spare + 100 <= before + 8, "{spare} + 100 vs {before}");
        assert!(super::map_room(4, 0).unwrap() <= before / 4 + 1);
    }
}
