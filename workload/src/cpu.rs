//! `--cpu-us`: real CPU work on each page's body once it has arrived.
//!
//! Every page of the plain job is pure waiting, so every model looks
//! equally able to overlap it. A page that also *computes* tells
//! concurrency (overlapping waits) from parallelism (using several cores):
//! a model with one thread runs the pages' work one after another, a model
//! with threads or processes runs it on every core. The work is a hash
//! computed over and over until the calling thread's own CPU clock has
//! advanced by the amount asked: never a sleep, and the same amount of CPU
//! however often the thread is preempted or however busy the other core
//! is (a count of rounds calibrated once would not be: a core shared with
//! its hyperthread sibling runs each round slower).

use crate::http::Body;
use std::time::Duration;

/// Bytes hashed per round.
const BLOCK: usize = 1024;
/// Rounds between two looks at the clock (a few microseconds of work).
const ROUNDS_PER_LOOK: u32 = 16;

/// Spend `cpu` of CPU time on `body` on the calling thread (nothing for
/// zero). Returns the digest, so the compiler cannot drop the work.
pub fn spend(cpu: Duration, body: &Body) -> u32 {
    let mut digest = body.crc32;
    if cpu.is_zero() {
        return digest;
    }
    let mut block = [0u8; BLOCK];
    let start = thread_cpu();
    while thread_cpu().saturating_sub(start) < cpu {
        for _ in 0..ROUNDS_PER_LOOK {
            block[..4].copy_from_slice(&digest.to_le_bytes());
            digest = crc32fast::hash(std::hint::black_box(&block));
        }
    }
    std::hint::black_box(digest)
}

fn thread_cpu() -> Duration {
    nix::time::clock_gettime(nix::time::ClockId::CLOCK_THREAD_CPUTIME_ID)
        .map(Duration::from)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(crc32: u32) -> Body {
        Body {
            status: 200,
            bytes: 0,
            crc32,
            body: None,
        }
    }

    #[test]
    fn no_cpu_is_no_work() {
        assert_eq!(spend(Duration::ZERO, &body(7)), 7);
    }

    #[test]
    fn the_work_is_real_cpu_on_this_thread() {
        let before = thread_cpu();
        let digest = spend(Duration::from_millis(20), &body(7));
        let used = thread_cpu().saturating_sub(before);
        assert_ne!(digest, 7, "the hash ran");
        // CPU time, not wall time: it is this thread's own clock, which a
        // sleep would not move; the work stops once it has moved as far as
        // asked.
        assert!(used >= Duration::from_millis(20), "used {used:?}");
    }

    #[test]
    fn the_hash_runs_over_the_body() {
        let d = Duration::from_micros(50);
        assert_ne!(spend(d, &body(3)), body(3).crc32);
    }
}
