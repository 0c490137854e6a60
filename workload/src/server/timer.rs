//! The hold clock: one thread that wakes each held response at its deadline
//! to within microseconds.
//!
//! tokio's timer wheel ticks in whole milliseconds and rounds a sleep up to
//! the next tick, so a 100 ms sleep ends one to two milliseconds late: a
//! floor under every measured figure that hides the cost of the client.
//! Here every deadline goes into one heap, ordered by deadline, and a plain
//! thread sleeps on a futex until the earliest (an hrtimer, with the
//! thread's timer slack cut from the default 50 µs to 1 ns), then wakes
//! every response that is due. It never spins, so holding 10,000 responses
//! costs one wake-up per distinct deadline and O(log n) per push and pop.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::Instant;
use tokio::sync::oneshot;

/// The thread; stops when dropped.
pub(super) struct HoldClock {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

/// What the server's tasks hold to register their deadlines.
#[derive(Clone)]
pub(super) struct Handle {
    shared: Arc<Shared>,
}

struct Shared {
    state: Mutex<State>,
    earlier: Condvar,
}

#[derive(Default)]
struct State {
    due: BinaryHeap<Reverse<Entry>>,
    next_seq: u64,
    stop: bool,
}

struct Entry {
    at: Instant,
    seq: u64,
    wake: oneshot::Sender<()>,
}

impl PartialEq for Entry {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}
impl Eq for Entry {}
impl PartialOrd for Entry {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Entry {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.at, self.seq).cmp(&(other.at, other.seq))
    }
}

impl HoldClock {
    /// Start the thread; `on_start` runs on it first (the server records
    /// its thread ids to account for its CPU time).
    pub(super) fn start(on_start: impl FnOnce() + Send + 'static) -> std::io::Result<HoldClock> {
        let shared = Arc::new(Shared {
            state: Mutex::new(State::default()),
            earlier: Condvar::new(),
        });
        let thread = std::thread::Builder::new()
            .name("page-server-clock".into())
            .spawn({
                let shared = shared.clone();
                move || {
                    on_start();
                    run(&shared)
                }
            })?;
        Ok(HoldClock {
            shared,
            thread: Some(thread),
        })
    }

    pub(super) fn handle(&self) -> Handle {
        Handle {
            shared: self.shared.clone(),
        }
    }
}

impl Drop for HoldClock {
    fn drop(&mut self) {
        lock(&self.shared).stop = true;
        self.shared.earlier.notify_one();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Handle {
    /// Resolves at `at` or, if the clock has stopped, never (the server is
    /// shutting down and drops the task).
    pub(super) async fn sleep_until(&self, at: Instant) {
        let (wake, woken) = oneshot::channel();
        {
            let mut state = lock(&self.shared);
            let seq = state.next_seq;
            state.next_seq += 1;
            state.due.push(Reverse(Entry { at, seq, wake }));
            let first = state.due.peek().is_some_and(|e| e.0.seq == seq);
            drop(state);
            if first {
                self.shared.earlier.notify_one();
            }
        }
        if woken.await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

fn run(shared: &Shared) {
    // The kernel may fire a sleeping thread's timer up to its slack late, to
    // batch wake-ups; this thread's whole job is to be on time.
    let _ = nix::sys::prctl::set_timerslack(1);
    let mut due_now = Vec::new();
    let mut state = lock(shared);
    while !state.stop {
        let now = Instant::now();
        while state.due.peek().is_some_and(|e| e.0.at <= now) {
            if let Some(Reverse(entry)) = state.due.pop() {
                due_now.push(entry.wake);
            }
        }
        if !due_now.is_empty() {
            drop(state);
            for wake in due_now.drain(..) {
                // A receiver that is gone was a connection that closed.
                let _ = wake.send(());
            }
            state = lock(shared);
            continue;
        }
        state = match state.due.peek().map(|e| e.0.at) {
            None => shared
                .earlier
                .wait(state)
                .unwrap_or_else(|e| e.into_inner()),
            Some(at) => {
                shared
                    .earlier
                    .wait_timeout(state, at - now)
                    .unwrap_or_else(|e| e.into_inner())
                    .0
            }
        };
    }
}

fn lock(shared: &Shared) -> std::sync::MutexGuard<'_, State> {
    shared.state.lock().unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn wakes_in_deadline_order_and_never_early() {
        let clock = HoldClock::start(|| {}).unwrap();
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let order = rt.block_on(async {
            let start = Instant::now();
            let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
            for ms in [30u64, 10, 20, 0] {
                let (handle, tx) = (clock.handle(), tx.clone());
                tokio::spawn(async move {
                    let at = start + Duration::from_millis(ms);
                    handle.sleep_until(at).await;
                    assert!(Instant::now() >= at);
                    tx.send(ms).unwrap();
                });
            }
            drop(tx);
            let mut order = Vec::new();
            while let Some(ms) = rx.recv().await {
                order.push(ms);
            }
            order
        });
        assert_eq!(order, [0, 10, 20, 30]);
    }
}
