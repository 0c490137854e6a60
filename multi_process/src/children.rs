//! No zombie, no orphan: every worker process is waited for on every path
//! (a normal end, a killed worker, a panic in the parent), and every worker
//! dies with its parent.
//!
//! A child that has exited keeps its entry in the kernel's process table,
//! a zombie, until its parent waits for it; waiting is also what adds the
//! child's CPU time and memory to the parent's `getrusage(RUSAGE_CHILDREN)`,
//! so the report's figures include the workers only once they are reaped.

use std::io;
use std::os::unix::process::ExitStatusExt;
use std::process::{ChildStdin, ChildStdout, Command, ExitStatus};
use std::time::{Duration, Instant};

/// A child process that is always waited for: by [`Child::reap`], or else
/// (killed first) when it is dropped.
#[derive(Debug)]
pub struct Child {
    child: std::process::Child,
    /// Set once waited for: the exit status, or `None` if someone else
    /// collected it (a host that ignores SIGCHLD).
    reaped: Option<Option<ExitStatus>>,
}

impl Child {
    /// Start `command`, whose stdin and stdout must be piped, and take
    /// both ends of the pipes.
    pub fn spawn(command: &mut Command) -> io::Result<(Child, ChildStdin, ChildStdout)> {
        let mut child = command.spawn()?;
        let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
            let _ = child.kill();
            let _ = child.wait();
            return Err(io::Error::other(
                "the command did not pipe stdin and stdout",
            ));
        };
        let child = Child {
            child,
            reaped: None,
        };
        Ok((child, stdin, stdout))
    }

    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// SIGKILL (nothing if it is already reaped).
    pub fn kill(&mut self) {
        if self.reaped.is_none() {
            let _ = self.child.kill();
        }
    }

    // ANCHOR: reap
    /// Wait for the child to exit and collect its status, so the kernel
    /// can free its process entry. `patience` is how long it may take to
    /// exit on its own before it is killed. Calling it again returns the
    /// status collected the first time.
    pub fn reap(&mut self, patience: Duration) -> Option<ExitStatus> {
        if let Some(status) = self.reaped {
            return status;
        }
        // A worker that closed its pipe is exiting: its status is usually
        // there within microseconds, so look again soon, then less often.
        let until = Instant::now() + patience;
        let mut nap = Duration::from_micros(20);
        let status = loop {
            match self.child.try_wait() {
                Ok(Some(status)) => break Some(status),
                Ok(None) if Instant::now() < until => {
                    std::thread::sleep(nap);
                    nap = (nap * 2).min(Duration::from_millis(2));
                }
                Ok(None) => {
                    let _ = self.child.kill();
                    break self.child.wait().ok();
                }
                Err(_) => break None,
            }
        };
        self.reaped = Some(status);
        status
    }
    // ANCHOR_END: reap
}

/// Take charge of a child the caller started (its stdio as it needs).
impl From<std::process::Child> for Child {
    fn from(child: std::process::Child) -> Child {
        Child {
            child,
            reaped: None,
        }
    }
}

/// Whatever happens (even a panic in the parent's loop), no child outlives
/// its handle unreaped.
impl Drop for Child {
    fn drop(&mut self) {
        if self.reaped.is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// "exited with status 3", "killed by SIGKILL".
pub fn describe(status: Option<ExitStatus>) -> String {
    let Some(status) = status else {
        return "ended (its exit status was collected by someone else)".into();
    };
    if let Some(code) = status.code() {
        return format!("exited with status {code}");
    }
    match status.signal() {
        Some(sig) => match nix::sys::signal::Signal::try_from(sig) {
            Ok(s) => format!("killed by {s}"),
            Err(_) => format!("killed by signal {sig}"),
        },
        None => format!("ended ({status})"),
    }
}

/// The worker's side: ask the kernel to kill this process if its parent
/// dies (even by SIGKILL, when it cannot clean up), so no orphan keeps
/// fetching for nobody. It is asked for after exec, so check that the
/// parent did not die before: `false` means it has, and the worker should
/// exit at once.
pub fn die_with_parent(parent_pid: u32) -> io::Result<bool> {
    nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGKILL)?;
    Ok(nix::unistd::getppid().as_raw() as u32 == parent_pid)
}
