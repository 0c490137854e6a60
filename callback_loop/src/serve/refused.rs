//! Connections the selector cannot watch: select's bitmaps stop at
//! FD_SETSIZE, so a connection given descriptor 1024 or above is closed at
//! once (never written into memory past the bitmaps). stderr says so, at
//! most once a second, with the count.

use std::time::{Duration, Instant};
use workload::FetchError;

const EVERY: Duration = Duration::from_secs(1);

#[derive(Default)]
pub(crate) struct Refused {
    last_line: Option<Instant>,
    since: u64,
}

impl Refused {
    pub(crate) fn note(&mut self, why: &FetchError) {
        self.since += 1;
        let now = Instant::now();
        if self
            .last_line
            .is_some_and(|t| now.duration_since(t) < EVERY)
        {
            return;
        }
        let times = std::mem::take(&mut self.since);
        self.last_line = Some(now);
        eprintln!("serve: closed {times} connection(s) the selector cannot watch: {why}");
    }
}
