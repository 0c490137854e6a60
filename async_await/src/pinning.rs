//! Pin, shown: a future that borrows its own buffer across an `.await`.
//!
//! [`borrow_across_await`] keeps a buffer and a reference to that buffer
//! alive across one `.await`, so both are stored in the future the compiler
//! makes of it: the reference points into the future itself. Polled once,
//! the buffer's address lies inside the future:
//!
//! ```
//! use std::cell::Cell;
//! use std::future::Future;
//! use std::task::{Context, Poll, Waker};
//! use async_await::pinning::borrow_across_await;
//!
//! let seen = Cell::new(0);
//! let mut future = Box::pin(borrow_across_await(&seen));
//! let start = &*future as *const _ as usize;
//! let size = std::mem::size_of_val(&*future);
//!
//! let mut cx = Context::from_waker(Waker::noop());
//! assert!(future.as_mut().poll(&mut cx).is_pending());
//! let buffer = seen.get();
//! assert!(start <= buffer && buffer < start + size, "the buffer lives in the future");
//! assert_eq!(future.as_mut().poll(&mut cx), Poll::Ready(64));
//! ```
//!
//! Moving the future before its first poll is fine: nothing borrows
//! anything yet. `std::pin::pin!` pins it on the stack instead of the heap:
//!
//! ```
//! use std::cell::Cell;
//! use std::future::Future;
//! use std::task::{Context, Waker};
//! use async_await::pinning::borrow_across_await;
//!
//! let seen = Cell::new(0);
//! let future = borrow_across_await(&seen);
//! let moved = future; // not polled yet: it may move
//! let mut pinned = std::pin::pin!(moved);
//! let mut cx = Context::from_waker(Waker::noop());
//! while pinned.as_mut().poll(&mut cx).is_pending() {}
//! ```
//!
//! Once pinned, it cannot be taken out again: `Pin::into_inner` (like
//! `&mut *pinned`, or `std::mem::swap`) needs `Unpin`, and the compiler
//! marks this future `!Unpin` because it may borrow itself. This does not
//! compile ("`{async fn body ..}` cannot be unpinned"):
//!
//! ```compile_fail,E0277
//! use std::cell::Cell;
//! use std::future::Future;
//! use std::task::{Context, Waker};
//! use async_await::pinning::borrow_across_await;
//!
//! let seen = Cell::new(0);
//! let mut pinned = Box::pin(borrow_across_await(&seen));
//! let _ = pinned.as_mut().poll(&mut Context::from_waker(Waker::noop()));
//! let moved = *std::pin::Pin::into_inner(pinned); // the borrow would dangle
//! ```
//!
//! The same line compiles for a future that holds no borrow of itself,
//! such as `handmade`'s `Fetch` or `std::future::ready`:
//!
//! ```
//! let pinned = Box::pin(std::future::ready(7));
//! let moved = *std::pin::Pin::into_inner(pinned);
//! # drop(moved);
//! ```

use std::cell::Cell;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

// ANCHOR: borrow_across_await
/// A buffer, and a borrow of it, both alive across an `.await`: the future
/// this compiles to holds the buffer and a pointer into itself. Before it
/// waits, it tells `seen` where the buffer is.
pub async fn borrow_across_await(seen: &Cell<usize>) -> usize {
    let buffer = [0u8; 64];
    let view: &[u8] = &buffer; // points at `buffer`, inside this future
    seen.set(view.as_ptr() as usize);
    not_yet().await; // suspended here: `buffer` and `view` are stored
    view.len() // still valid only if the future has not moved
}
// ANCHOR_END: borrow_across_await

/// A future that is pending once, then ready: a socket that had nothing the
/// first time it was asked.
pub fn not_yet() -> NotYet {
    NotYet { asked: false }
}

/// See [`not_yet`].
pub struct NotYet {
    asked: bool,
}

impl Future for NotYet {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.asked {
            return Poll::Ready(());
        }
        self.asked = true;
        // Ready next time: ask to be polled again.
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}
