//! # Serving with processes: a prefork server
//!
//! The oldest way to serve many clients with blocking code (Apache's
//! "prefork"): a parent starts W worker processes and hands each the one
//! listening socket. Every worker runs lesson 1's iterative server: it
//! sleeps in `accept`, serves the connection it got to the end with
//! blocking reads, a sleep for the think time and a blocking write, then
//! sleeps in `accept` again. W processes asleep in `accept` on one socket:
//! the kernel gives each new connection to one of them. At most W clients
//! are served at once; client W+1 waits in the listener's backlog.
//!
//! The parent serves nobody. It starts the workers, sleeps until one of
//! them dies (and starts another in its place) or the server is stopped
//! (and stops them all, waits for each, and returns). The defences sit
//! next door: [`stop`] (how a worker hears it must stop), [`starts`] (a
//! worker that keeps dying before it is ready does not make the parent
//! spin), and [`crate::children`] (every child waited for, none outliving
//! the parent).

pub mod starts;
pub mod stop;

use crate::children::{self, Child};
use crate::frame::{self, FromWorker, PROTOCOL};
use crate::worker::{Role, WORKER_FLAG};
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use serde::{Deserialize, Serialize};
use starts::Starts;
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::process::{ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};
use workload::serve::{after_accept_error, AfterAcceptError, Pages, ServeConfig, Serving};

/// Worker processes without `--workers`.
pub const DEFAULT_WORKERS: usize = 8;

/// What the parent tells a serving worker (its [`Role`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorkerArgs {
    pub worker: usize,
    pub parent_pid: u32,
    pub latency: Duration,
    pub size: usize,
    pub header_timeout: Duration,
}

/// One worker process, as the parent sees it.
struct Worker {
    child: Child,
    /// The worker's stdout: it says "serving" there once, then keeps it
    /// open until it exits. End of file on it means the worker is gone.
    pipe: ChildStdout,
    serving: bool,
}

// ANCHOR: prefork
/// The `prefork` server: W worker processes on one listener, replaced when
/// they die, until the shutdown.
pub fn prefork(serving: Serving) -> io::Result<()> {
    // The workers are this program again: it must hand them the start of
    // `main` (see crate::worker), or they would not know what they are.
    if !workload::entered() {
        return Err(io::Error::other(
            "multi_process re-runs this program as its workers: call \
             workload::enter(&[...]) with its lesson first thing in main",
        ));
    }
    let mut workers: Vec<Option<Worker>> = Vec::new();
    let mut starts = Starts::default();
    for id in 0..serving.config.workers {
        workers.push(start_or_note(id, &serving, &mut starts));
    }

    let stopped = loop {
        // The parent's one wait: poll() over the shutdown descriptor and
        // every worker's pipe. It sleeps until Ctrl-C, or until a worker
        // says it is serving or closes its pipe by dying (a SIGKILL too:
        // the kernel closes a dead process's descriptors).
        let pipes: Vec<usize> = (0..workers.len())
            .filter(|&i| workers[i].is_some())
            .collect();
        let mut fds = vec![PollFd::new(serving.shutdown.fd(), PollFlags::POLLIN)];
        for &i in &pipes {
            let w = workers[i].as_ref().expect("listed as alive");
            fds.push(PollFd::new(w.pipe.as_fd(), PollFlags::POLLIN));
        }
        let empty = workers.iter().any(Option::is_none);
        let wait = starts
            .next_retry()
            .filter(|_| empty)
            .map(|at| at.saturating_duration_since(Instant::now()));
        let timeout = wait.map_or(PollTimeout::NONE, |d| {
            PollTimeout::try_from(d).unwrap_or(PollTimeout::MAX)
        });
        match poll(&mut fds, timeout) {
            Ok(_) | Err(nix::errno::Errno::EINTR) => {}
            Err(e) => break Err(io::Error::other(format!("poll(): {e}"))),
        }
        let woke: Vec<usize> = fds[1..]
            .iter()
            .zip(&pipes)
            .filter(|(fd, _)| fd.revents().is_some_and(|r| !r.is_empty()))
            .map(|(_, &i)| i)
            .collect();
        drop(fds);
        if serving.shutdown.is_triggered() {
            break Ok(());
        }
        for i in woke {
            heard_from(i, &mut workers[i], &mut starts);
        }
        // A worker gone: another in its place (now, or after a pause if
        // workers keep dying before they are ready).
        for (i, slot) in workers.iter_mut().enumerate() {
            if slot.is_none() && starts.may_retry() {
                *slot = start_or_note(i, &serving, &mut starts);
            }
        }
        if let Some(why) = starts.given_up() {
            break Err(io::Error::other(why));
        }
    };

    // Stopping. The shutdown has already shut down the listener every
    // worker shares, and that reaches every copy of it: a worker asleep in
    // accept() wakes with EINVAL and exits. A worker in the middle of a
    // connection is told by SIGTERM: it finishes the request in flight,
    // closes the connection and exits. Then each one is waited for.
    for w in workers.iter().flatten() {
        let _ = kill(Pid::from_raw(w.child.id() as i32), Signal::SIGTERM);
    }
    let patience = serving.config.latency + serving.config.header_timeout + Duration::from_secs(1);
    let until = Instant::now() + patience;
    for mut w in workers.into_iter().flatten() {
        // Killed if it has not exited by then (see Child::reap).
        w.child
            .reap(until.saturating_duration_since(Instant::now()));
    }
    stopped
}
// ANCHOR_END: prefork

/// Worker `i`'s pipe is readable: it says it is serving, or it is gone.
fn heard_from(i: usize, slot: &mut Option<Worker>, starts: &mut Starts) {
    let Some(w) = slot else { return };
    // What a worker writes is one small frame, written at once: when the
    // pipe is readable, the whole of it is there, and this read does not
    // block.
    match frame::read_frame::<FromWorker>(&mut w.pipe, 0) {
        Ok(Some((FromWorker::Serving { protocol, pid, .. }, _)))
            if protocol == PROTOCOL && pid == w.child.id() =>
        {
            w.serving = true;
            starts.ready();
            return;
        }
        // End of file (or bytes that are not ours: it is killed below).
        _ => {}
    }
    let Some(mut w) = slot.take() else { return };
    w.child.kill();
    let status = w.child.reap(Duration::from_millis(500));
    let how = children::describe(status);
    if w.serving {
        eprintln!(
            "prefork: worker {i} (pid {}) {how}; starting another",
            w.child.id()
        );
    } else {
        starts.failed(format!(
            "worker {i} (pid {}) {how} before it was serving",
            w.child.id()
        ));
    }
}

/// Start worker `id`, or note why it could not be (the parent tries again
/// later).
fn start_or_note(id: usize, serving: &Serving, starts: &mut Starts) -> Option<Worker> {
    match start(id, serving) {
        Ok(w) => Some(w),
        Err(e) => {
            starts.failed(format!("cannot start worker {id}: {e}"));
            None
        }
    }
}

// ANCHOR: start
/// Start worker `id`: this program again, with the listener as its stdin.
fn start(id: usize, serving: &Serving) -> io::Result<Worker> {
    let role = Role::Serve(WorkerArgs {
        worker: id,
        parent_pid: std::process::id(),
        latency: serving.config.latency,
        size: serving.config.size,
        header_timeout: serving.config.header_timeout,
    });
    // Every descriptor Rust opens is close-on-exec, the listener included,
    // so no child inherits it by accident. This one child must: a copy of
    // the listener becomes its stdin (fd 0), the way inetd hands a socket
    // to the program it starts. Making a descriptor a child's stdin
    // (dup2 in the child) clears close-on-exec for that child only; the
    // parent's own descriptors stay as they were.
    let listener = OwnedFd::from(serving.listener.try_clone()?);
    let mut command = Command::new("/proc/self/exe");
    command
        .arg0(std::env::args_os().next().unwrap_or_default())
        .arg(WORKER_FLAG)
        .arg(role.to_arg())
        .stdin(Stdio::from(listener))
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    let mut child = command.spawn()?;
    let pipe = child.stdout.take().expect("stdout is piped");
    Ok(Worker {
        child: Child::from(child),
        pipe,
        serving: false,
    })
}
// ANCHOR_END: start

// ANCHOR: worker
/// A serving worker's life, from start to exit: lesson 1's iterative
/// server on the inherited listener.
pub fn worker(args: WorkerArgs) -> io::Result<()> {
    if !children::die_with_parent(args.parent_pid)? {
        return Ok(());
    }
    crate::worker::name_this_process(&format!("prefork-{}", args.worker));
    // First, before any thread: SIGTERM and Ctrl-C stop this worker.
    let shutdown = stop::on_stop_signals()?;
    let serving = Serving {
        listener: stop::inherited_listener()?,
        config: ServeConfig {
            latency: args.latency,
            size: args.size,
            workers: 1,
            header_timeout: args.header_timeout,
        },
        pages: Pages::new(args.size),
        shutdown,
    };
    let serving_now = FromWorker::Serving {
        protocol: PROTOCOL.to_string(),
        worker: args.worker,
        pid: std::process::id(),
    };
    frame::write_frame(&mut io::stdout().lock(), &serving_now, b"")?;

    while !serving.shutdown.is_triggered() {
        // accept() blocks: this process sleeps with its siblings on the
        // listener's wait queue. Each waits "exclusively": one connection
        // wakes one worker, not the whole herd.
        match serving.listener.accept() {
            // Lesson 1's code, unchanged: this worker serves this client
            // alone, to the end, while its siblings take the others.
            Ok((stream, _peer)) => sync_blocking::serve::connection(stream, &serving),
            // The parent stopped the server: it shut down the listener we
            // share, and accept fails with EINVAL in every worker at once.
            Err(e) if e.raw_os_error() == Some(nix::libc::EINVAL) => return Ok(()),
            Err(e) => match after_accept_error(&e, &serving.shutdown) {
                AfterAcceptError::Retry => {}
                AfterAcceptError::BackOff(pause) => std::thread::sleep(pause),
                AfterAcceptError::Stop(result) => return result,
            },
        }
    }
    Ok(())
}
// ANCHOR_END: worker
