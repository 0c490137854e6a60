//! What the busy loop costs, said on stderr when the server stops: how
//! many passes it made, how many found nothing to do and slept a tick, how
//! many tries the kernel answered "not now", and the CPU the process used,
//! as a share of one core over the time it served.

use std::time::Instant;
use workload::Usage;

pub(crate) struct Passes {
    started: Instant,
    cpu_before: Usage,
    passes: u64,
    empty: u64,
    not_now: u64,
}

impl Passes {
    pub(crate) fn start() -> Passes {
        Passes {
            started: Instant::now(),
            cpu_before: Usage::now(),
            passes: 0,
            empty: 0,
            not_now: 0,
        }
    }

    /// One pass done; `progress`: something moved in it.
    pub(crate) fn count(&mut self, progress: bool) {
        self.passes += 1;
        if !progress {
            self.empty += 1;
        }
    }

    /// A try the kernel (or the clock) answered "not now".
    pub(crate) fn not_now(&mut self) {
        self.not_now += 1;
    }

    pub(crate) fn report(&self) {
        let wall = self.started.elapsed();
        let now = Usage::now();
        let cpu = (now.user + now.sys).saturating_sub(self.cpu_before.user + self.cpu_before.sys);
        let share = 100.0 * cpu.as_secs_f64() / wall.as_secs_f64().max(1e-9);
        eprintln!(
            "busy: {} passes in {:.1} s, {} of them found nothing and slept {} ms; \
             {} tries answered \"not now\"; CPU {:.2} s ({share:.0}% of one core)",
            self.passes,
            wall.as_secs_f64(),
            self.empty,
            super::TICK.as_millis(),
            self.not_now,
            cpu.as_secs_f64(),
        );
    }
}
