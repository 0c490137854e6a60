//! Run a serve cell, or say why it cannot run: the rules read from the
//! server's table entry and this machine's limits, never from its name.

use super::{Mode, Spec};
use crate::machine;
use crate::status::Status;
use workload::serve::Capacity;
use workload::OsTask;

/// The machine's limits that decide whether a cell can run.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// The open-file limit now in force (the generator's and the server's).
    pub fds: u64,
    pub task_headroom: u64,
    pub mem_available_kb: u64,
}

impl Limits {
    pub fn now(fds: u64) -> Limits {
        Limits {
            fds,
            task_headroom: machine::task_headroom(),
            mem_available_kb: machine::mem_available_kb().unwrap_or(u64::MAX),
        }
    }
}

/// `None`: run it. `Some(status)`: why not.
pub fn decide(limits: &Limits, spec: &Spec) -> Option<Status> {
    let server = spec.job.server;
    if let Err(why) = (server.available)() {
        return Some(Status::NotAvailable(why));
    }
    let c = spec.connections;
    // Kept-alive connections hold their place: past its capacity the other
    // clients wait for a connection that is never given back.
    if spec.mode == Mode::KeepAlive {
        if let Some(limit) = server.capacity.limit(None) {
            if c > limit {
                let what = match server.capacity {
                    Capacity::One => "it serves one connection at a time".to_string(),
                    _ => format!("it serves {limit} connections at once (--workers)"),
                };
                return Some(Status::NotRun(format!(
                    "{what}; {} kept-alive clients past it would wait for good, by design",
                    c - limit
                )));
            }
        }
    }
    if c as u64 + 64 > limits.fds {
        return Some(Status::NotRun(format!(
            "{c} connections; the open-file limit is {}",
            limits.fds
        )));
    }
    if let Some(ceiling) = server.fd_ceiling {
        if c + 16 > ceiling {
            return Some(Status::NotRun(format!(
                "it watches only descriptors below {ceiling} (FD_SETSIZE for select()); \
                 {c} connections go past it"
            )));
        }
    }
    if let Some(task) = server.task_per_connection {
        let tasks = match (spec.mode, server.capacity.limit(None)) {
            (_, Some(limit)) => c.min(limit),
            _ => c,
        } as u64;
        if tasks + 64 > limits.task_headroom {
            return Some(Status::NotRun(format!(
                "{tasks} {task} at once; this machine allows about {} more tasks \
                 (the least of ulimit -u, kernel.threads-max and kernel.pid_max, minus those running)",
                limits.task_headroom
            )));
        }
        if task == OsTask::Process && tasks * 4096 > limits.mem_available_kb / 2 {
            return Some(Status::NotRun(format!(
                "{tasks} processes of a few MB each would need more than half of the {} MB available",
                limits.mem_available_kb / 1024
            )));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::serve::ServeJob;
    use std::io;
    use workload::serve::{ServeVariant, Serving};

    fn serve(_: Serving) -> io::Result<()> {
        Ok(())
    }

    static ONE: ServeVariant = ServeVariant::new("one", "", serve).capacity(Capacity::One);
    static POOL: ServeVariant = ServeVariant::new("pool", "", serve)
        .capacity(Capacity::Workers { default: 64 })
        .task_per_connection(OsTask::Thread);
    static SELECT: ServeVariant = ServeVariant::new("select", "", serve).fd_ceiling(1024);
    static EVERY: ServeVariant = ServeVariant::new("every", "", serve);
    static NO_URING: ServeVariant =
        ServeVariant::new("uring", "", serve).available(|| Err("io_uring is disabled".into()));

    fn spec(server: &'static ServeVariant, mode: Mode, connections: usize) -> Spec {
        Spec {
            job: ServeJob {
                lesson: crate::LESSONS[0],
                server,
            },
            mode,
            latency_ms: 0,
            connections,
        }
    }

    const ROOMY: Limits = Limits {
        fds: 20_000,
        task_headroom: 30_000,
        mem_available_kb: 16 << 20,
    };

    fn reason(s: Option<Status>) -> String {
        s.and_then(|s| s.reason()).unwrap_or_default()
    }

    #[test]
    fn capacity_limits_keep_alive_cells_only() {
        assert_eq!(decide(&ROOMY, &spec(&ONE, Mode::KeepAlive, 1)), None);
        let why = reason(decide(&ROOMY, &spec(&ONE, Mode::KeepAlive, 10)));
        assert!(why.contains("one connection at a time"), "{why}");
        assert_eq!(decide(&ROOMY, &spec(&ONE, Mode::NewConnection, 100)), None);
        assert_eq!(decide(&ROOMY, &spec(&POOL, Mode::KeepAlive, 64)), None);
        let why = reason(decide(&ROOMY, &spec(&POOL, Mode::KeepAlive, 100)));
        assert!(why.contains("64 connections at once"), "{why}");
    }

    #[test]
    fn the_machine_and_the_table_give_reasons() {
        let why = reason(decide(&ROOMY, &spec(&SELECT, Mode::KeepAlive, 2000)));
        assert!(why.contains("FD_SETSIZE"), "{why}");
        assert_eq!(decide(&ROOMY, &spec(&SELECT, Mode::KeepAlive, 100)), None);
        let tight = Limits { fds: 1024, ..ROOMY };
        let why = reason(decide(&tight, &spec(&EVERY, Mode::KeepAlive, 10_000)));
        assert!(why.contains("open-file limit is 1024"), "{why}");
        let few_tasks = Limits {
            task_headroom: 500,
            ..ROOMY
        };
        let why = reason(decide(&few_tasks, &spec(&POOL, Mode::KeepAlive, 64)));
        assert_eq!(why, "");
        let why = reason(decide(&ROOMY, &spec(&NO_URING, Mode::KeepAlive, 1)));
        assert_eq!(why, "not available here: io_uring is disabled");
    }
}
