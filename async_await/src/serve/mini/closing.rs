//! Ctrl-C, passed on to the connections by hand (tokio's `watch` channel
//! and `JoinSet` in the `tokio` server): the accept loop says "closing",
//! which wakes every connection waiting for a request head (an idle one
//! closes, one busy with a request finishes it first), then waits until the
//! last connection has gone.
//!
//! mini's reactor keeps one waker per descriptor and direction, so the
//! connections cannot all wait on the shutdown descriptor: they wait here.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::future::poll_fn;
use std::task::{Context, Poll, Waker};

/// The connections open, and whether the server is closing.
#[derive(Default)]
pub struct Connections {
    open: Cell<usize>,
    next: Cell<u64>,
    closing: Cell<bool>,
    /// The tasks to wake when closing, by connection number.
    waiting: RefCell<HashMap<u64, Waker>>,
    /// The accept loop, waiting for the last connection to end.
    last: RefCell<Option<Waker>>,
}

/// One open connection; dropping it (the task ended) counts it out.
pub struct Ticket<'c> {
    id: u64,
    connections: &'c Connections,
}

impl Connections {
    /// Count a new connection in.
    pub fn open(&self) -> Ticket<'_> {
        let id = self.next.get();
        self.next.set(id + 1);
        self.open.set(self.open.get() + 1);
        Ticket {
            id,
            connections: self,
        }
    }

    pub fn is_closing(&self) -> bool {
        self.closing.get()
    }

    /// Ctrl-C: wake every connection that waits for a request head.
    pub fn close_idle(&self) {
        self.closing.set(true);
        for (_, waker) in self.waiting.borrow_mut().drain() {
            waker.wake();
        }
    }

    /// Resolves once no connection is open.
    pub async fn all_closed(&self) {
        poll_fn(|cx| {
            if self.open.get() == 0 {
                return Poll::Ready(());
            }
            *self.last.borrow_mut() = Some(cx.waker().clone());
            Poll::Pending
        })
        .await
    }
}

impl Ticket<'_> {
    pub fn is_closing(&self) -> bool {
        self.connections.is_closing()
    }

    /// Wake this task when the server starts closing (besides whatever
    /// else it waits for).
    pub fn wake_when_closing(&self, cx: &Context<'_>) {
        self.connections
            .waiting
            .borrow_mut()
            .insert(self.id, cx.waker().clone());
    }
}

impl Drop for Ticket<'_> {
    fn drop(&mut self) {
        let c = self.connections;
        c.waiting.borrow_mut().remove(&self.id);
        c.open.set(c.open.get() - 1);
        if c.open.get() == 0 {
            if let Some(waker) = c.last.borrow_mut().take() {
                waker.wake();
            }
        }
    }
}
