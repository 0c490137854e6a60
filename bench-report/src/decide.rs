//! Run it, estimate it, or say why it cannot run: the rules for one cell
//! (a variant at N pages), read from the variant's table entry and this
//! machine's limits. Nothing here waits for a run that cannot end well.

use crate::jobs::Job;
use crate::machine;
use crate::status::Status;
use std::time::Duration;
use workload::{Concurrency, OsTask};

/// What to do with one (variant, N).
#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    Run {
        limit: Duration,
    },
    /// Too long to run: its ideal time is shown instead.
    Estimate(String),
    /// Cannot be run on this machine.
    NotRun(String),
    /// The variant's `available` check said no.
    NotAvailable(String),
}

impl Decision {
    /// The cell's status when it is not run.
    pub fn status(&self) -> Option<Status> {
        match self {
            Decision::Run { .. } => None,
            Decision::Estimate(why) => Some(Status::Estimated(why.clone())),
            Decision::NotRun(why) => Some(Status::NotRun(why.clone())),
            Decision::NotAvailable(why) => Some(Status::NotAvailable(why.clone())),
        }
    }
}

/// How long a cell may take.
#[derive(Debug, Clone, Copy)]
pub struct Budget {
    /// Run a cell only if its expected time is at most this.
    pub run_up_to: Duration,
    /// Kill a run after this [default: twice its expected time plus 30 s].
    pub time_limit: Option<Duration>,
}

/// The machine's limits that decide whether a cell can run.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub fd_hard: u64,
    pub task_headroom: u64,
    pub mem_available_kb: u64,
}

impl Limits {
    pub fn now() -> Limits {
        use nix::sys::resource::{getrlimit, Resource};
        Limits {
            fd_hard: getrlimit(Resource::RLIMIT_NOFILE).map_or(1024, |(_, hard)| hard),
            task_headroom: machine::task_headroom(),
            mem_available_kb: machine::mem_available_kb().unwrap_or(u64::MAX),
        }
    }
}

/// The rules, in order: the variant is available here; its sockets fit
/// the open-file limit and its descriptor ceiling; its tasks (a thread or a
/// process per page) fit the machine; its expected time, the ideal plus
/// `work` (CPU the pages spend one after another), fits the budget.
pub fn decide(
    limits: &Limits,
    budget: &Budget,
    job: &Job,
    pages: usize,
    latency_ms: u64,
    work: Duration,
) -> Decision {
    if let Err(why) = (job.variant.available)() {
        return Decision::NotAvailable(why);
    }
    let (in_flight, ideal_ms) = job.shape(pages, latency_ms);
    let flying = in_flight as u64;
    if flying + 32 > limits.fd_hard {
        return Decision::NotRun(format!(
            "{in_flight} sockets at once; the open-file hard limit is {}",
            limits.fd_hard
        ));
    }
    if let Some(ceiling) = job.variant.fd_ceiling {
        if in_flight + 8 > ceiling {
            return Decision::NotRun(format!(
                "it watches only descriptors below {ceiling} (FD_SETSIZE for select()); \
                 {in_flight} sockets in flight go past it"
            ));
        }
    }
    if let Some(task) = job.variant.task_per_page {
        if flying + 64 > limits.task_headroom {
            return Decision::NotRun(format!(
                "{in_flight} {task} at once; this machine allows about {} more tasks \
                 (the least of ulimit -u, kernel.threads-max and kernel.pid_max, minus those running)",
                limits.task_headroom
            ));
        }
        // A process costs megabytes of its own; keep half the memory free.
        if task == OsTask::Process && flying * 4096 > limits.mem_available_kb / 2 {
            return Decision::NotRun(format!(
                "{in_flight} processes of a few MB each would need more than half of the {} MB available",
                limits.mem_available_kb / 1024
            ));
        }
    }
    let expected = Duration::from_secs_f64(ideal_ms / 1e3) + work;
    if expected > budget.run_up_to {
        let why = match job.variant.concurrency {
            Concurrency::One => "one page at a time".to_string(),
            _ => format!("{in_flight} pages at a time"),
        };
        let work = if work.is_zero() {
            String::new()
        } else {
            format!(" + {:.1} s of CPU", work.as_secs_f64())
        };
        return Decision::Estimate(format!(
            "estimated, not run: {why} makes it {pages} / {in_flight} rounds × {latency_ms} ms{work} = {:.0} s (over --run-up-to-s {})",
            expected.as_secs_f64(),
            budget.run_up_to.as_secs_f64()
        ));
    }
    let limit = budget
        .time_limit
        .unwrap_or(expected * 2 + Duration::from_secs(30));
    Decision::Run { limit }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jobs::{every_job, select};

    fn roomy() -> Limits {
        Limits {
            fd_hard: 20_000,
            task_headroom: 30_000,
            mem_available_kb: 16 << 20,
        }
    }

    const BUDGET: Budget = Budget {
        run_up_to: Duration::from_secs(30),
        time_limit: None,
    };

    fn sequential() -> Job {
        *every_job()
            .iter()
            .find(|j| j.variant.concurrency == Concurrency::One)
            .expect("a one-page-at-a-time variant")
    }

    #[test]
    fn one_page_at_a_time_is_estimated_at_large_n() {
        let job = sequential();
        let d = |n| decide(&roomy(), &BUDGET, &job, n, 1000, Duration::ZERO);
        assert!(matches!(d(10), Decision::Run { .. }));
        match d(100) {
            Decision::Estimate(why) => assert!(why.contains("one page at a time"), "{why}"),
            d => panic!("{d:?}"),
        }
        assert_eq!(job.shape(100, 1000).1, 100_000.0);
        // CPU work counts toward the expected time
        match decide(&roomy(), &BUDGET, &job, 10, 1000, Duration::from_secs(25)) {
            Decision::Estimate(why) => assert!(why.contains("25.0 s of CPU"), "{why}"),
            d => panic!("{d:?}"),
        }
    }

    #[test]
    fn machine_limits_give_reasons() {
        let tight = Limits {
            fd_hard: 1024,
            task_headroom: 500,
            mem_available_kb: 1 << 20,
        };
        for job in &select(&[]).unwrap() {
            let (in_flight, _) = job.shape(10_000, 1000);
            match decide(&tight, &BUDGET, job, 10_000, 1000, Duration::ZERO) {
                Decision::NotRun(why) => assert!(in_flight > 900, "{}: {why}", job.name()),
                Decision::Estimate(_) | Decision::NotAvailable(_) => {}
                Decision::Run { .. } => panic!("{} ran with {in_flight} in flight", job.name()),
            }
        }
        // a descriptor ceiling (select's FD_SETSIZE) even where descriptors are plenty
        let capped: Vec<Job> = every_job()
            .into_iter()
            .filter(|j| j.variant.fd_ceiling.is_some())
            .collect();
        assert!(!capped.is_empty(), "some variant has an fd ceiling");
        for job in &capped {
            match decide(&roomy(), &BUDGET, job, 10_000, 1000, Duration::ZERO) {
                Decision::NotRun(why) => assert!(why.contains("FD_SETSIZE"), "{why}"),
                d => panic!("{d:?}"),
            }
        }
    }

    #[test]
    fn a_given_time_limit_wins() {
        let budget = Budget {
            time_limit: Some(Duration::from_secs(2)),
            ..BUDGET
        };
        assert_eq!(
            decide(&roomy(), &budget, &sequential(), 10, 1000, Duration::ZERO),
            Decision::Run {
                limit: Duration::from_secs(2)
            }
        );
    }

    #[test]
    fn an_unavailable_variant_says_why_instead_of_running() {
        static V: workload::Variant =
            workload::Variant::new("v", "", Concurrency::One, |_| Vec::new())
                .available(|| Err("io_uring is disabled".into()));
        let job = Job {
            lesson: crate::LESSONS[0],
            variant: &V,
        };
        let d = decide(&roomy(), &BUDGET, &job, 10, 1, Duration::ZERO);
        assert_eq!(d, Decision::NotAvailable("io_uring is disabled".into()));
        assert_eq!(
            d.status().unwrap().reason().unwrap(),
            "not available here: io_uring is disabled"
        );
    }
}
