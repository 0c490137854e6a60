//! Provided buffers: one pool of receive buffers for every page, lent to
//! the kernel through a ring (`IORING_REGISTER_PBUF_RING`, Linux 5.19).
//!
//! A recv submitted with `IOSQE_BUFFER_SELECT` names no buffer. The kernel
//! takes one from this ring only when bytes arrive, writes them into it,
//! and names the buffer in the completion (`IORING_CQE_F_BUFFER` and its
//! id). From then on the buffer is the program's, until it is put back on
//! the ring. So ten thousand pages waiting for their first byte hold no
//! buffer at all: the pool's size follows the completions being handled,
//! not the pages in flight.
//!
//! The ring is an array of `struct io_uring_buf` shared with the kernel.
//! The program writes entries past the tail and then moves the tail; the
//! kernel consumes entries from its own head (kept on its side) and never
//! writes to the array.

use io_uring::Submitter;
use std::alloc::{alloc, alloc_zeroed, dealloc, Layout};
use std::io;
use std::sync::atomic::{AtomicU16, Ordering};

/// `struct io_uring_buf` from `<linux/io_uring.h>`. In entry 0 the last
/// field is the ring's tail (`struct io_uring_buf_ring` overlays it).
#[repr(C)]
struct RingEntry {
    addr: u64,
    len: u32,
    bid: u16,
    resv: u16,
}

/// The pool: `count` buffers of `size` bytes, and the ring that lends them.
pub struct BufRing {
    entries: *mut RingEntry,
    entries_layout: Layout,
    memory: *mut u8,
    memory_layout: Layout,
    count: u16,
    size: u32,
    group: u16,
    /// Our copy of the tail: entries before it are the kernel's to take.
    tail: u16,
    /// Which buffers the kernel has handed back and we have not returned.
    ours: Vec<bool>,
    registered: bool,
}

impl BufRing {
    /// Allocate `count` buffers (a power of two, at most 32768) of `size`
    /// bytes, put every one on the ring and register the ring as buffer
    /// group `group`.
    pub fn register(
        submitter: &Submitter<'_>,
        group: u16,
        count: u16,
        size: u32,
    ) -> io::Result<BufRing> {
        if !count.is_power_of_two() || count > 1 << 15 || size == 0 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "a buffer ring needs a power-of-two count up to 32768 and buffers of at least one byte",
            ));
        }
        let invalid = |_| io::Error::from(io::ErrorKind::InvalidInput);
        // The kernel wants the ring page-aligned.
        let entries_layout =
            Layout::from_size_align(count as usize * std::mem::size_of::<RingEntry>(), 4096)
                .map_err(invalid)?;
        let memory_layout =
            Layout::from_size_align(count as usize * size as usize, 16).map_err(invalid)?;
        // SAFETY: the layout has a non-zero size (count >= 1).
        let entries = unsafe { alloc_zeroed(entries_layout) }.cast::<RingEntry>();
        if entries.is_null() {
            return Err(io::Error::from(io::ErrorKind::OutOfMemory));
        }
        // Not zeroed: zeroing would touch every page of the pool up front,
        // and only bytes the kernel has written are ever read (`filled`).
        // SAFETY: the layout has a non-zero size (count >= 1, size >= 1).
        let memory = unsafe { alloc(memory_layout) };
        if memory.is_null() {
            // SAFETY: allocated just above with this layout, never shared.
            unsafe { dealloc(entries.cast(), entries_layout) };
            return Err(io::Error::from(io::ErrorKind::OutOfMemory));
        }
        let mut ring = BufRing {
            entries,
            entries_layout,
            memory,
            memory_layout,
            count,
            size,
            group,
            tail: 0,
            ours: vec![true; count as usize],
            registered: false,
        };
        for bid in 0..count {
            ring.give_back(bid);
        }
        // SAFETY: the ring array and the buffers stay allocated until
        // `drop`, which unregisters the group before freeing them (or leaks
        // them; see `Drop`).
        unsafe {
            submitter.register_buf_ring_with_flags(entries as u64, count, group, 0)?;
        }
        ring.registered = true;
        Ok(ring)
    }

    pub fn group(&self) -> u16 {
        self.group
    }

    pub fn count(&self) -> usize {
        self.count as usize
    }

    pub fn buffer_size(&self) -> u32 {
        self.size
    }

    /// The first `len` bytes of buffer `bid`, which a completion has just
    /// handed back. The buffer is ours until [`BufRing::give_back`]; `None`
    /// for an id or a length the pool cannot have produced.
    ///
    /// # Safety
    /// `bid` and `len` must come from a completion of a recv that selected
    /// from this ring's group (its `IORING_CQE_F_BUFFER` id and its result):
    /// only then has the kernel finished writing into the buffer.
    pub unsafe fn filled(&mut self, bid: u16, len: usize) -> Option<&[u8]> {
        if bid >= self.count || len > self.size as usize {
            return None;
        }
        self.ours[bid as usize] = true;
        // SAFETY: in bounds (checked above); the kernel wrote these bytes
        // and, by the caller's contract, no longer touches the buffer.
        Some(unsafe {
            std::slice::from_raw_parts(self.memory.add(bid as usize * self.size as usize), len)
        })
    }

    /// Put buffer `bid` back on the ring: the kernel may fill it again with
    /// any page's bytes. Giving back a buffer the kernel already has does
    /// nothing.
    pub fn give_back(&mut self, bid: u16) {
        if bid >= self.count || !std::mem::replace(&mut self.ours[bid as usize], false) {
            return;
        }
        let slot = (self.tail & (self.count - 1)) as usize;
        // SAFETY: `slot < count`, inside the array. The slot is past the
        // tail, so the kernel does not read it until the tail moves; the
        // fields are written one by one, never the `resv` of entry 0, which
        // is the tail the kernel reads meanwhile.
        unsafe {
            let entry = self.entries.add(slot);
            std::ptr::addr_of_mut!((*entry).addr)
                .write(self.memory.add(bid as usize * self.size as usize) as u64);
            std::ptr::addr_of_mut!((*entry).len).write(self.size);
            std::ptr::addr_of_mut!((*entry).bid).write(bid);
        }
        self.tail = self.tail.wrapping_add(1);
        // SAFETY: entry 0's `resv` is the ring's `tail`, a u16 the kernel
        // reads with acquire ordering; it lives as long as `self`.
        let tail = unsafe { AtomicU16::from_ptr(std::ptr::addr_of_mut!((*self.entries).resv)) };
        // Release: the entry's fields are visible before the new tail is.
        tail.store(self.tail, Ordering::Release);
    }

    /// Unregister the group, so that the kernel forgets the ring. Called by
    /// the ring's owner only when no operation is in flight.
    pub fn unregister(&mut self, submitter: &Submitter<'_>) {
        if self.registered && submitter.unregister_buf_ring(self.group).is_ok() {
            self.registered = false;
        }
    }
}

impl Drop for BufRing {
    fn drop(&mut self) {
        if self.registered {
            // The kernel may still pick from this memory (the owner could
            // not unregister it): leaking it is the only safe choice.
            return;
        }
        // SAFETY: allocated in `register` with these layouts; unregistered,
        // so the kernel no longer reads the ring or writes the buffers.
        unsafe {
            dealloc(self.entries.cast(), self.entries_layout);
            dealloc(self.memory, self.memory_layout);
        }
    }
}
