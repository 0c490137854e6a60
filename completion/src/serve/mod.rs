//! The other side: the page server on io_uring.
//!
//! - [`uring`]: by hand on one ring: a multishot accept, recvs into the
//!   shared buffer pool, a timeout op for each think time, sends and
//!   closes, all driven by completions on one thread.
//! - `stop`: Ctrl-C and the accept's pause when out of descriptors.

pub mod uring;

mod stop;
