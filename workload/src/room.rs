//! Room under the kernel's limits: memory mappings, and open descriptors.
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

/// Descriptors kept back from the pages for everything else: the
/// runtime's own (an epoll set, an eventfd, an io_uring), the embedded
/// page server's listeners, a `--save` file, the standard streams.
pub const SPARE_FDS: usize = 64;

/// How many more things of `fds_each` descriptors this process can open
/// under its open-file limit (`RLIMIT_NOFILE`), keeping `spare` for
/// everything else. Every page in flight holds a socket, and past the limit
/// `socket()` fails with EMFILE; so the variants that can hold pages back
/// bound their pages in flight to this room (see
/// [`crate::Lesson::run`]). `None` where the counts cannot be read.
pub fn fd_room(fds_each: usize, spare: usize) -> Option<usize> {
    use nix::sys::resource::{getrlimit, Resource};
    let (soft, _hard) = getrlimit(Resource::RLIMIT_NOFILE).ok()?;
    let limit = usize::try_from(soft).unwrap_or(usize::MAX);
    // The directory being read is itself one open descriptor: counted in,
    // and closed again right after.
    let open = std::fs::read_dir("/proc/self/fd").ok()?.count();
    Some(limit.saturating_sub(open + spare) / fds_each.max(1))
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

    #[test]
    fn the_descriptor_room_shrinks_as_files_are_opened() {
        let before = super::fd_room(1, 0).expect("Linux has /proc/self/fd");
        let files: Vec<_> = (0..100)
            .map(|_| std::fs::File::open("/proc/self/stat").unwrap())
            .collect();
        let after = super::fd_room(1, 0).unwrap();
        // Other tests of this binary open and close descriptors meanwhile.
        assert!(after + 100 <= before + 50, "{before} -> {after}");
        assert!(super::fd_room(2, 0).unwrap() <= after / 2 + 50);
        drop(files);
    }
}
