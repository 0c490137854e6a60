//! The open connections: what guards the server, not what it teaches.
//!
//! - Room for the stacks: each connection's coroutine has a stack of its
//!   own, two memory mappings, and may panics when the kernel refuses one
//!   more (`vm.max_map_count`). The accept loop waits for room instead.
//! - Shutdown: a coroutine blocked in `read` cannot be told anything, but
//!   its socket can. At Ctrl-C every open connection is shut down for
//!   reading: an idle connection's `read` returns 0 and it closes; one in
//!   its think time finishes it, writes its response, sees the server
//!   stopping and closes.
//! - A client that stops reading: a write that makes no progress for the
//!   header timeout fails, so a coroutine cannot wait on it forever.

use may::net::TcpStream;
use std::collections::HashSet;
use std::os::fd::{AsRawFd, BorrowedFd, RawFd};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Duration;
use workload::serve::{Shutdown, ACCEPT_BACKOFF};

/// Every connection with a coroutine, by descriptor.
pub struct Open {
    table: Mutex<Table>,
    emptied: Condvar,
    /// How many stacks fit under the kernel's mapping limit.
    room: usize,
}

struct Table {
    fds: HashSet<RawFd>,
    stopping: bool,
}

/// A connection in the table. It leaves the table when dropped, *before*
/// its socket is closed (a struct's fields are dropped after its `drop`),
/// so the table never names a closed (and maybe reused) descriptor.
pub struct Admitted {
    pub stream: TcpStream,
    open: Arc<Open>,
}

impl Default for Open {
    fn default() -> Open {
        Open {
            table: Mutex::new(Table {
                fds: HashSet::new(),
                stopping: false,
            }),
            emptied: Condvar::new(),
            room: crate::stacks::room_for_stacks(),
        }
    }
}

impl Open {
    fn table(&self) -> MutexGuard<'_, Table> {
        self.table.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Sleep (this coroutine only) while the table is as full as the
    /// kernel's mapping limit allows; the connections wait in the backlog.
    pub fn wait_for_room(&self, shutdown: &Shutdown) {
        let mut said = false;
        while self.table().fds.len() >= self.room && !shutdown.is_triggered() {
            if !said {
                eprintln!(
                    "serve: {} connections, as many coroutine stacks as vm.max_map_count allows; \
                     accepting again when one closes",
                    self.room
                );
                said = true;
            }
            may::coroutine::sleep(ACCEPT_BACKOFF);
        }
    }

    /// Put a new connection in the table, its writes limited to `stall`
    /// without progress. A connection admitted after the shutdown is shut
    /// down for reading at once.
    pub fn admit(self: &Arc<Open>, stream: TcpStream, stall: Duration) -> Admitted {
        let _ = stream.set_write_timeout(Some(stall));
        let mut table = self.table();
        if table.stopping {
            stop_reading(stream.as_raw_fd());
        }
        table.fds.insert(stream.as_raw_fd());
        drop(table);
        Admitted {
            stream,
            open: self.clone(),
        }
    }

    /// Shutdown: every connection's socket stops reading.
    pub fn stop_reading_all(&self) {
        let mut table = self.table();
        table.stopping = true;
        for &fd in &table.fds {
            stop_reading(fd);
        }
    }

    /// Block this thread (not a coroutine) until every connection has
    /// ended.
    pub fn wait_until_empty(&self) {
        let mut table = self.table();
        while !table.fds.is_empty() {
            table = self.emptied.wait(table).unwrap_or_else(|e| e.into_inner());
        }
    }
}

impl Admitted {
    /// Whether the server is stopping: close instead of reading again.
    pub fn stopping(&self) -> bool {
        self.open.table().stopping
    }
}

impl Drop for Admitted {
    fn drop(&mut self) {
        let mut table = self.open.table();
        table.fds.remove(&self.stream.as_raw_fd());
        if table.fds.is_empty() {
            self.open.emptied.notify_all();
        }
    }
}

/// `shutdown(fd, SHUT_RD)`: a `read` blocked on it (here: a coroutine
/// parked on may's epoll registration) wakes and returns 0.
fn stop_reading(fd: RawFd) {
    // SAFETY: called with the table's lock held, on a descriptor in the
    // table: its `Admitted` has not been dropped (it leaves the table under
    // the same lock before its socket closes), so the descriptor is open
    // and still this connection's.
    let fd = unsafe { BorrowedFd::borrow_raw(fd) };
    let _ = socket2::SockRef::from(&fd).shutdown(std::net::Shutdown::Read);
}
