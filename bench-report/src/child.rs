//! Run one lesson binary as a child process, with a time limit, and account
//! for it from the kernel's side.
//!
//! `wait4` returns, with the child's exit status, its resource usage: user
//! and system CPU of the child and of every descendant it waited for (a
//! worker process of `multi_process` included), the peak resident set of
//! the largest of them, and their context switches. Those are the sweep's
//! CPU, memory and switch figures: the OS's account, not the lesson's own.

use std::io::{self, Read};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Most bytes kept from a child's stdout or stderr (a 10,000-page JSON
/// report is a few MB).
const MAX_OUTPUT: u64 = 256 * 1024 * 1024;

/// A child tree's resource usage, as `wait4` returns it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    pub user: Duration,
    pub sys: Duration,
    /// `ru_maxrss`: the largest peak resident set in the tree, in KiB. It
    /// also holds the parent's peak at the moment of `exec` (the kernel
    /// carries it over), so for a small child it says more about us.
    pub max_rss_kb: u64,
    pub voluntary_switches: u64,
    pub involuntary_switches: u64,
}

/// How a child ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    Code(i32),
    Signal(i32),
    /// Killed (with its whole process group) at the time limit.
    TimedOut,
}

/// A finished child.
#[derive(Debug)]
pub struct Finished {
    pub exit: Exit,
    /// From spawn to exit.
    pub wall: Duration,
    /// The child tree's usage, from `wait4`.
    pub usage: Usage,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
}

/// In a report's JSON: CPU in ms, the peak (named for where it comes from)
/// and the switches.
impl serde::Serialize for Usage {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let ms = |d: Duration| d.as_secs_f64() * 1e3;
        let mut m = s.serialize_map(Some(6))?;
        m.serialize_entry("cpu_ms", &ms(self.cpu()))?;
        m.serialize_entry("user_ms", &ms(self.user))?;
        m.serialize_entry("sys_ms", &ms(self.sys))?;
        m.serialize_entry("wait4_max_rss_kb", &self.max_rss_kb)?;
        m.serialize_entry("voluntary_switches", &self.voluntary_switches)?;
        m.serialize_entry("involuntary_switches", &self.involuntary_switches)?;
        m.end()
    }
}

impl Usage {
    /// User + system.
    pub fn cpu(&self) -> Duration {
        self.user + self.sys
    }
}

impl Finished {
    /// The first non-empty line of stderr, for a table cell.
    pub fn first_error_line(&self) -> Option<String> {
        String::from_utf8_lossy(&self.stderr)
            .lines()
            .map(str::trim)
            .find(|l| !l.is_empty())
            .map(|l| l.chars().take(160).collect())
    }
}

/// Run `command` to its end, or kill it and its process group once `limit`
/// has passed. stdin is closed; stdout and stderr are captured.
pub fn run(command: Command, limit: Duration) -> io::Result<Finished> {
    let (mut child, started) = spawn_in_group(command)?;
    let pid = child.id() as libc::pid_t;
    let stdout = drain(child.stdout.take());
    let stderr = drain(child.stderr.take());
    let (exit, usage, ended) = wait_or_kill(pid, limit)?;
    Ok(Finished {
        exit,
        wall: ended - started,
        usage,
        stdout: stdout.join().unwrap_or_default(),
        stderr: stderr.join().unwrap_or_default(),
    })
}

/// Start `command` with stdin closed, stdout and stderr captured, in a
/// process group of its own (so that a time limit kills the worker
/// processes it started too, and a terminal's Ctrl-C reaches only us);
/// the child and when it started. Its std handle is never waited on:
/// [`wait_or_kill`] reaps it with wait4.
fn spawn_in_group(mut command: Command) -> io::Result<(Child, Instant)> {
    command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    let started = Instant::now();
    Ok((command.spawn()?, started))
}

/// Wait for the child `pid` to end, or kill it and its process group once
/// `limit` has passed; how it ended, its tree's usage, and when it ended.
fn wait_or_kill(pid: libc::pid_t, limit: Duration) -> io::Result<(Exit, Usage, Instant)> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send((wait4(pid), Instant::now()));
    });
    let (result, timed_out) = match rx.recv_timeout(limit) {
        Ok(done) => (done, false),
        Err(_) => {
            kill_group(pid);
            let done = rx
                .recv()
                .map_err(|_| io::Error::other("the waiting thread died"))?;
            (done, true)
        }
    };
    // Whatever the child left behind in its group goes too (normally
    // nothing: a lesson waits for its workers).
    kill_group(pid);
    let ((status, usage), ended) = (result.0?, result.1);
    let exit = if timed_out {
        Exit::TimedOut
    } else if libc::WIFEXITED(status) {
        Exit::Code(libc::WEXITSTATUS(status))
    } else {
        Exit::Signal(libc::WTERMSIG(status))
    };
    Ok((exit, usage, ended))
}

fn drain<R: Read + Send + 'static>(pipe: Option<R>) -> JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut out = Vec::new();
        if let Some(pipe) = pipe {
            let _ = pipe.take(MAX_OUTPUT).read_to_end(&mut out);
        }
        out
    })
}

fn kill_group(pid: libc::pid_t) {
    use nix::sys::signal::{killpg, Signal};
    let _ = killpg(nix::unistd::Pid::from_raw(pid), Signal::SIGKILL);
}

/// Wait for the child `pid` to end; its status and its tree's usage.
fn wait4(pid: libc::pid_t) -> io::Result<(libc::c_int, Usage)> {
    loop {
        let mut status: libc::c_int = 0;
        // SAFETY: rusage is a plain C struct of integers, for which all
        // zero bytes is a valid value.
        let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
        // SAFETY: `pid` is our own child, which nothing else waits for (the
        // std `Child` handle is never waited on), and both pointers are to
        // live, writable locals of the right types.
        let r = unsafe { libc::wait4(pid, &mut status, 0, &mut ru) };
        if r == pid {
            return Ok((status, usage(&ru)));
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
}

fn usage(ru: &libc::rusage) -> Usage {
    let tv = |t: libc::timeval| {
        Duration::from_secs(t.tv_sec.max(0) as u64) + Duration::from_micros(t.tv_usec.max(0) as u64)
    };
    Usage {
        user: tv(ru.ru_utime),
        sys: tv(ru.ru_stime),
        // Linux reports ru_maxrss in KiB.
        max_rss_kb: ru.ru_maxrss.max(0) as u64,
        voluntary_switches: ru.ru_nvcsw.max(0) as u64,
        involuntary_switches: ru.ru_nivcsw.max(0) as u64,
    }
}

/// A child that keeps running (a server): started in a process group of
/// its own, its first stdout lines read while it runs, stopped with a
/// signal and accounted for with `wait4` like [`run`].
#[derive(Debug)]
pub struct Running {
    pid: libc::pid_t,
    started: Instant,
    lines: mpsc::Receiver<String>,
    stderr: Option<JoinHandle<Vec<u8>>>,
}

impl Running {
    /// Start `command` with stdin closed and stdout and stderr captured.
    pub fn spawn(command: Command) -> io::Result<Running> {
        let (mut child, started) = spawn_in_group(command)?;
        let pid = child.id() as libc::pid_t;
        let stderr = Some(drain(child.stderr.take()));
        let (tx, lines) = mpsc::channel();
        if let Some(out) = child.stdout.take() {
            std::thread::spawn(move || {
                use std::io::BufRead;
                for line in io::BufReader::new(out).lines() {
                    let Ok(line) = line else { break };
                    if tx.send(line).is_err() {
                        break;
                    }
                }
            });
        }
        // The std handle is never waited on: `stop` reaps the child with wait4.
        drop(child);
        Ok(Running {
            pid,
            started,
            lines,
            stderr,
        })
    }

    pub fn pid(&self) -> libc::pid_t {
        self.pid
    }

    /// The first stdout line within `limit`, or `None` (it said nothing or
    /// it ended).
    pub fn first_line(&self, limit: Duration) -> Option<String> {
        self.lines.recv_timeout(limit).ok()
    }

    /// The peak resident set of every process in the child's process
    /// group, in KiB, summed (`VmHWM` of each, from /proc): what serving
    /// cost in memory so far. A page shared by several processes counts
    /// once in each.
    pub fn group_peak_rss_kb(&self) -> Option<u64> {
        let mut total = None;
        for entry in std::fs::read_dir("/proc").ok()?.flatten() {
            let Some(pid) = entry
                .file_name()
                .to_str()
                .and_then(|n| n.parse::<i32>().ok())
            else {
                continue;
            };
            // Field 5 of /proc/PID/stat, after the parenthesised name, is the process group.
            let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
                continue;
            };
            let group = stat
                .rsplit_once(')')
                .and_then(|(_, rest)| rest.split_whitespace().nth(2))
                .and_then(|g| g.parse::<i32>().ok());
            if group != Some(self.pid) {
                continue;
            }
            let hwm = std::fs::read_to_string(format!("/proc/{pid}/status"))
                .ok()
                .and_then(|s| {
                    s.lines()
                        .find_map(|l| l.strip_prefix("VmHWM:"))
                        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
                });
            if let Some(kb) = hwm {
                total = Some(total.unwrap_or(0) + kb);
            }
        }
        total
    }

    /// Send `signal` to the child, wait up to `grace` for it to end (then
    /// kill its group), and return how it ended with its usage.
    pub fn stop(
        mut self,
        signal: nix::sys::signal::Signal,
        grace: Duration,
    ) -> io::Result<Finished> {
        use nix::sys::signal::kill;
        let pid = self.pid;
        let _ = kill(nix::unistd::Pid::from_raw(pid), signal);
        let (exit, usage, ended) = wait_or_kill(pid, grace)?;
        let stdout: Vec<u8> = self
            .lines
            .try_iter()
            .flat_map(|l| (l + "\n").into_bytes())
            .collect();
        Ok(Finished {
            exit,
            wall: ended - self.started,
            usage,
            stdout,
            stderr: self
                .stderr
                .take()
                .map(|h| h.join().unwrap_or_default())
                .unwrap_or_default(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sh(script: &str) -> Command {
        let mut c = Command::new("/bin/sh");
        c.args(["-c", script]);
        c
    }

    #[test]
    fn output_status_and_usage() {
        let f = run(
            sh("echo out; echo err >&2; i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done; exit 3"),
            Duration::from_secs(20),
        )
        .unwrap();
        assert_eq!(f.exit, Exit::Code(3));
        assert_eq!(f.stdout, b"out\n");
        assert_eq!(f.first_error_line().as_deref(), Some("err"));
        assert!(f.usage.max_rss_kb > 0);
        assert!(f.usage.user + f.usage.sys > Duration::ZERO);
    }

    #[test]
    fn the_time_limit_kills_the_whole_group() {
        // The shell starts a grandchild that would hold stdout open for a
        // minute: killing only the shell would leave us reading forever.
        let f = run(sh("sleep 60 & sleep 60"), Duration::from_millis(300)).unwrap();
        assert_eq!(f.exit, Exit::TimedOut);
        assert!(f.wall < Duration::from_secs(30));
    }

    #[test]
    fn a_signal_is_reported() {
        let f = run(sh("kill -TERM $$"), Duration::from_secs(20)).unwrap();
        assert_eq!(f.exit, Exit::Signal(libc::SIGTERM));
    }

    #[test]
    fn a_running_child_is_read_measured_and_stopped() {
        let r = Running::spawn(sh("echo ready http://127.0.0.1:1/; exec sleep 60")).unwrap();
        assert_eq!(
            r.first_line(Duration::from_secs(20)).as_deref(),
            Some("ready http://127.0.0.1:1/")
        );
        assert!(r.group_peak_rss_kb().unwrap_or(0) > 0);
        let f = r
            .stop(nix::sys::signal::Signal::SIGTERM, Duration::from_secs(20))
            .unwrap();
        assert_eq!(f.exit, Exit::Signal(libc::SIGTERM));
        // a child that ignores the signal is killed at the end of the grace
        let r = Running::spawn(sh("trap '' INT; echo up; sleep 60")).unwrap();
        assert_eq!(r.first_line(Duration::from_secs(20)).as_deref(), Some("up"));
        let f = r
            .stop(nix::sys::signal::Signal::SIGINT, Duration::from_millis(300))
            .unwrap();
        assert_eq!(f.exit, Exit::TimedOut);
    }

    #[test]
    fn a_missing_program_is_an_error() {
        assert!(run(Command::new("/no/such/program"), Duration::from_secs(1)).is_err());
    }
}
