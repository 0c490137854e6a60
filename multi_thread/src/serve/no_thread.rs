//! A connection without a thread: refused by name, and the server goes on.
//!
//! Past the machine's limits a thread cannot be started. `pthread_create`
//! failing (too many tasks, no memory for a stack) is an error the accept
//! loop gets back; but past `vm.max_map_count` the new thread, already
//! running, cannot map its signal stack and Rust's std aborts the whole
//! process, every connection with it. So the room is counted before each
//! thread is started, as on the fetching side (`crate::spawn`): a
//! connection beyond it gets a 503 that says why, and is closed.

use crate::spawn::{thread_room, MAPS_PER_THREAD};
use std::io::Write;
use std::net::TcpStream;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The threads this process may still start, and how many are alive.
#[derive(Debug)]
pub struct Room {
    /// Threads the process had room for when the server started
    /// (`usize::MAX` where it cannot be told).
    room: usize,
    alive: AtomicUsize,
}

/// One thread's place in the [`Room`], given back when dropped.
#[derive(Debug)]
pub struct Seat<'a>(&'a AtomicUsize);

impl Drop for Seat<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Room {
    /// Count the room once, at the start: reading `/proc/self/maps` for
    /// every connection would cost more as the threads grow. A thread that
    /// has ended gives its mappings back (or glibc keeps its stack for the
    /// next thread), so the threads alive are what counts.
    pub fn measure() -> Room {
        Room::of(thread_room().unwrap_or(usize::MAX))
    }

    pub fn of(room: usize) -> Room {
        Room {
            room,
            alive: AtomicUsize::new(0),
        }
    }

    /// A seat for one more thread, if there is room.
    pub fn take(&self) -> Option<Seat<'_>> {
        let before = self.alive.fetch_add(1, Ordering::SeqCst);
        let seat = Seat(&self.alive);
        (before < self.room).then_some(seat)
    }

    /// Why there is no seat.
    pub fn full(&self) -> String {
        format!(
            "no thread for this connection: the server had room for {} threads \
             (vm.max_map_count limits the memory mappings, {MAPS_PER_THREAD} per thread)",
            self.room
        )
    }
}

/// Answer 503 with `why`, close, and say it on stderr (at most once a
/// second). The write never blocks the accept loop: on a new connection
/// the kernel's send buffer is empty and takes the few bytes at once.
pub fn refuse(stream: TcpStream, why: &str) {
    let body = format!("503 Service Unavailable: {why}\n");
    let response = format!(
        "HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain; charset=utf-8\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = stream.set_nonblocking(true);
    let _ = (&stream).write(response.as_bytes());
    say(why);
}

/// A thread could not be started (`pthread_create` failed: too many tasks
/// for `kernel.threads-max`, `kernel.pid_max` or `RLIMIT_NPROC`, or no
/// memory for a stack): its connection was closed unanswered.
pub fn spawn_failed(e: &std::io::Error) {
    say(&format!(
        "no thread could be started for a connection ({e}); it was closed"
    ));
}

/// One stderr line a second at most, with the count since the last.
fn say(what: &str) {
    static LAST: Mutex<(Option<Instant>, u64)> = Mutex::new((None, 0));
    let mut last = LAST.lock().unwrap_or_else(|e| e.into_inner());
    last.1 += 1;
    let now = Instant::now();
    if last
        .0
        .is_some_and(|t| now.duration_since(t) < Duration::from_secs(1))
    {
        return;
    }
    let times = std::mem::take(&mut last.1);
    last.0 = Some(now);
    eprintln!("serve: {what} ({times} time(s) since the last such line)");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seats_are_counted_and_given_back() {
        let room = Room::of(2);
        let a = room.take().unwrap();
        let b = room.take().unwrap();
        assert!(room.take().is_none(), "a third thread has no room");
        drop(a);
        let c = room.take().expect("a seat given back is free again");
        drop((b, c));
        assert_eq!(room.alive.load(Ordering::SeqCst), 0);
        assert!(room.full().contains("room for 2 threads"));
    }
}
