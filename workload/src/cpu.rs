//! `--cpu-us`: real CPU work on each page's body once it has arrived.
//!
//! Every page of the plain job is pure waiting, so every model looks
//! equally able to overlap it. A page that also *computes* tells
//! concurrency (overlapping waits) from parallelism (using several cores):
//! a model with one thread runs the pages' work one after another, a model
//! with threads or processes runs it on every core. The work is a hash
//! computed over and over, a fixed number of rounds calibrated once per
//! process against this thread's CPU clock: never a sleep, and the same
//! amount of CPU whether the core is shared or not.

use crate::http::Body;
use std::sync::OnceLock;
use std::time::Duration;

/// Bytes hashed per round.
const BLOCK: usize = 1024;

/// Spend `cpu` of CPU time on `body` on the calling thread (nothing for
/// zero). Returns the digest, so the compiler cannot drop the work.
pub fn spend(cpu: Duration, body: &Body) -> u32 {
    if cpu.is_zero() {
        return body.crc32;
    }
    let rounds = (cpu.as_secs_f64() * 1e6 * rounds_per_us()).ceil() as u64;
    hash_rounds(body.crc32, rounds)
}

/// Rounds of [`hash_rounds`] per microsecond of CPU on this machine.
pub fn rounds_per_us() -> f64 {
    static RATE: OnceLock<f64> = OnceLock::new();
    *RATE.get_or_init(calibrate)
}

fn hash_rounds(seed: u32, rounds: u64) -> u32 {
    let mut block = [0u8; BLOCK];
    let mut digest = seed;
    for _ in 0..rounds {
        block[..4].copy_from_slice(&digest.to_le_bytes());
        digest = crc32fast::hash(std::hint::black_box(&block));
    }
    std::hint::black_box(digest)
}

/// Time a batch of rounds on this thread's own CPU clock (so being
/// preempted meanwhile does not count) and keep the fastest of a few tries.
fn calibrate() -> f64 {
    const ROUNDS: u64 = 20_000;
    let mut best = f64::INFINITY;
    for _ in 0..5 {
        let before = thread_cpu();
        hash_rounds(1, ROUNDS);
        let took = thread_cpu().saturating_sub(before).as_secs_f64() * 1e6;
        if took > 0.0 {
            best = best.min(took);
        }
    }
    if best.is_finite() {
        ROUNDS as f64 / best
    } else {
        1.0
    }
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
        // sleep would not move. Calibration keeps the fastest try, so the
        // work is at least about what was asked.
        assert!(used >= Duration::from_millis(10), "used {used:?}");
    }

    #[test]
    fn the_same_body_gives_the_same_digest() {
        let d = Duration::from_micros(50);
        assert_eq!(spend(d, &body(3)), spend(d, &body(3)));
    }
}
