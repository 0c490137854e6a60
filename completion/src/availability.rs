//! Guard: is io_uring there at all? A kernel may be too old, may have it
//! switched off (`kernel.io_uring_disabled`), or a seccomp filter (a
//! container's, a sandbox's) may refuse its system calls. Each case comes
//! back as an errno from the first `io_uring_setup`; this module turns it
//! into a sentence that names the cause.

use crate::ring::{Ring, RingSize};
use io_uring::{opcode, Probe};
use std::io;

/// The operations the lesson submits, with the kernel that brought each.
const NEEDED: &[(u8, &str)] = &[
    (opcode::Socket::CODE, "IORING_OP_SOCKET (Linux 5.19)"),
    (opcode::Connect::CODE, "IORING_OP_CONNECT (Linux 5.5)"),
    (opcode::Send::CODE, "IORING_OP_SEND (Linux 5.6)"),
    (opcode::Recv::CODE, "IORING_OP_RECV (Linux 5.6)"),
    (
        opcode::LinkTimeout::CODE,
        "IORING_OP_LINK_TIMEOUT (Linux 5.5)",
    ),
    (opcode::Close::CODE, "IORING_OP_CLOSE (Linux 5.6)"),
];

/// The operations the server submits (its multishot accept needs Linux
/// 5.19, as the provided buffer ring every ring here registers).
const SERVER_NEEDS: &[(u8, &str)] = &[
    (opcode::Accept::CODE, "IORING_OP_ACCEPT (Linux 5.5)"),
    (opcode::Recv::CODE, "IORING_OP_RECV (Linux 5.6)"),
    (opcode::Send::CODE, "IORING_OP_SEND (Linux 5.6)"),
    (opcode::Timeout::CODE, "IORING_OP_TIMEOUT (Linux 5.4)"),
    (
        opcode::LinkTimeout::CODE,
        "IORING_OP_LINK_TIMEOUT (Linux 5.5)",
    ),
    (opcode::PollAdd::CODE, "IORING_OP_POLL_ADD (Linux 5.1)"),
    (
        opcode::AsyncCancel::CODE,
        "IORING_OP_ASYNC_CANCEL (Linux 5.5)",
    ),
    (opcode::Close::CODE, "IORING_OP_CLOSE (Linux 5.6)"),
];

/// Set up a small ring the way the lesson does, and ask the kernel
/// whether it has every operation the lesson's fetch submits. `Err` names
/// the cause in a sentence.
pub fn probe() -> Result<(), String> {
    probe_for(NEEDED)
}

/// The same for the server's operations.
pub fn probe_server() -> Result<(), String> {
    probe_for(SERVER_NEEDS)
}

/// The probe runs on a thread of its own. When a ring is closed, the
/// kernel's clean-up queues work on every thread that used it, and that
/// interrupts a blocking socket call with a timeout on that thread (the
/// call fails with EINTR): a check must leave its caller's thread alone.
fn probe_for(needed: &[(u8, &str)]) -> Result<(), String> {
    std::thread::scope(|s| s.spawn(|| probe_here(needed)).join())
        .unwrap_or_else(|_| Err("the io_uring probe panicked".to_string()))
}

fn probe_here(needed: &[(u8, &str)]) -> Result<(), String> {
    let ring = Ring::new(RingSize {
        entries: 8,
        buffers: 8,
        buffer_size: 64,
    })
    .map_err(|e| explain(&e))?;
    let mut probe = Probe::new();
    ring.submitter().register_probe(&mut probe).map_err(|e| {
        format!(
            "cannot ask io_uring which operations it has: {}",
            explain(&e)
        )
    })?;
    match needed.iter().find(|(code, _)| !probe.is_supported(*code)) {
        Some((_, name)) => Err(format!("this kernel's io_uring has no {name}")),
        None => Ok(()),
    }
}

/// The sentence for an error from setting up a ring.
pub fn explain(e: &io::Error) -> String {
    match e.raw_os_error() {
        Some(errno) => format!("{} ({e})", cause(errno)),
        None => e.to_string(),
    }
}

/// What an errno from `io_uring_setup` (or from registering the buffer
/// ring) means.
pub fn cause(errno: i32) -> &'static str {
    match errno {
        libc::EPERM => "io_uring is disabled (kernel.io_uring_disabled) or blocked by a seccomp filter",
        libc::ENOSYS => "this kernel has no io_uring",
        libc::EINVAL => {
            "this kernel's io_uring refuses the ring's setup (single issuer and cooperative task running need Linux 6.0, provided buffer rings 5.19)"
        }
        libc::ENOMEM => "not enough memory for the ring (or, before Linux 5.12, the locked-memory limit RLIMIT_MEMLOCK is too low)",
        libc::EMFILE | libc::ENFILE => "no file descriptor is left for the ring",
        _ => "io_uring cannot be set up",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_errno_names_its_cause() {
        let eperm = explain(&io::Error::from_raw_os_error(libc::EPERM));
        assert!(
            eperm.starts_with(
                "io_uring is disabled (kernel.io_uring_disabled) or blocked by a seccomp filter"
            ),
            "{eperm}"
        );
        assert!(eperm.contains("os error 1"), "{eperm}");
        let enosys = explain(&io::Error::from_raw_os_error(libc::ENOSYS));
        assert!(
            enosys.starts_with("this kernel has no io_uring"),
            "{enosys}"
        );
        assert!(cause(libc::EINVAL).contains("Linux 6.0"));
        assert!(cause(libc::ENOMEM).contains("RLIMIT_MEMLOCK"));
        assert_eq!(cause(libc::EMFILE), cause(libc::ENFILE));
        assert_eq!(cause(libc::EIO), "io_uring cannot be set up");
    }

    #[test]
    fn an_error_without_errno_keeps_its_own_words() {
        let e = io::Error::new(io::ErrorKind::InvalidInput, "bad size");
        assert_eq!(explain(&e), "bad size");
    }
}
