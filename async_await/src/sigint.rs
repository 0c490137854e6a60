//! Ctrl-C for the tokio variants, and putting SIGINT back afterwards.
//!
//! `tokio::signal::ctrl_c()` installs a SIGINT handler for the rest of the
//! process's life: after the run, Ctrl-C would no longer stop a benchmark or
//! a test binary that called us. So the run saves SIGINT's disposition
//! before it listens and restores it when the last run of the process ends;
//! a later run in the same process is then stopped by Ctrl-C instead of
//! cancelled (tokio installs its handler only once per process).

use nix::libc;
use std::future::Future;
use std::sync::Mutex;

/// Runs in progress, and SIGINT's disposition from before the first.
static ACTIVE: Mutex<(usize, Option<libc::sigaction>)> = Mutex::new((0, None));

/// While a `Listen` lives, SIGINT may be tokio's; dropping the last one
/// restores what was there before.
pub struct Listen {
    /// SIGINT was ignored (`nohup`, a background job): leave it so and
    /// do not listen.
    ignored: bool,
}

impl Listen {
    pub fn start() -> Listen {
        let mut active = ACTIVE.lock().unwrap_or_else(|p| p.into_inner());
        if active.0 == 0 {
            // SAFETY: `sigaction` is plain C data, for which all zeroes
            // is a valid value; called with a null new action, the
            // syscall only reads the current disposition into `old`, a
            // valid, writable struct that lives across the call.
            let (read, old) = unsafe {
                let mut old: libc::sigaction = std::mem::zeroed();
                let read = libc::sigaction(libc::SIGINT, std::ptr::null(), &mut old) == 0;
                (read, old)
            };
            active.1 = read.then_some(old);
        }
        active.0 += 1;
        let ignored = active
            .1
            .as_ref()
            .is_some_and(|old| old.sa_sigaction == libc::SIG_IGN);
        Listen { ignored }
    }

    /// Resolves at the first Ctrl-C; never, when SIGINT is ignored or
    /// cannot be listened to. Poll it inside the runtime, while `self` lives.
    pub fn ctrl_c(&self) -> impl Future<Output = ()> {
        let listen = !self.ignored;
        async move {
            if listen && tokio::signal::ctrl_c().await.is_ok() {
                return;
            }
            std::future::pending::<()>().await
        }
    }
}

impl Drop for Listen {
    fn drop(&mut self) {
        let mut active = ACTIVE.lock().unwrap_or_else(|p| p.into_inner());
        active.0 -= 1;
        if active.0 == 0 {
            if let Some(old) = active.1.take() {
                // SAFETY: `old` is the disposition the kernel gave us
                // before any run started (default, ignore, or a handler
                // still installed in this process); putting it back
                // cannot run code that was not already allowed to run.
                unsafe { libc::sigaction(libc::SIGINT, &old, std::ptr::null_mut()) };
            }
        }
    }
}
