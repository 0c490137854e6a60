//! Statistics for `--spins`: how often the kernel answered "not now". The
//! variants count per page; this module adds the counts up and prints them.

use std::time::{Duration, Instant};

use workload::{Plan, Trace};

/// The lesson's own flag.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct SpinFlags {
    /// Print the count of "would block" answers on stderr: auto (when human output
    /// goes to a terminal), always, never
    #[arg(long, value_name = "WHEN", value_enum, default_value_t = ShowSpins::Auto)]
    pub spins: ShowSpins,
}

// ANCHOR: spins
/// How many times one page got "not now" from the kernel, by call. Each
/// one is a system call that did nothing but tell us to ask again.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Spins {
    pub page: usize,
    pub connect: u64,
    pub send: u64,
    pub recv: u64,
}
// ANCHOR_END: spins

impl Spins {
    pub fn new(page: usize) -> Spins {
        Spins {
            page,
            ..Spins::default()
        }
    }

    pub fn total(&self) -> u64 {
        self.connect + self.send + self.recv
    }
}

/// Run a counting fetch, print its spin report on stderr if the plan asks
/// for it, and hand back the traces.
pub(crate) fn shown(plan: &Plan, counted: fn(&Plan) -> (Vec<Trace>, Vec<Spins>)) -> Vec<Trace> {
    let started = Instant::now();
    let (traces, spins) = counted(plan);
    if ShowSpins::of(plan).wanted(plan) {
        eprint!("{}", spin_report(&spins, started.elapsed()));
    }
    traces
}

/// When to print the spin counts (`--spins WHEN`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum ShowSpins {
    /// When the human report goes to a terminal.
    #[default]
    Auto,
    Always,
    Never,
}

impl ShowSpins {
    /// The plan's `--spins` value.
    pub fn of(plan: &Plan) -> ShowSpins {
        plan.options::<SpinFlags>().spins
    }

    pub fn wanted(self, plan: &Plan) -> bool {
        match self {
            ShowSpins::Auto => plan.progress,
            ShowSpins::Always => true,
            ShowSpins::Never => false,
        }
    }
}

/// The spin report: how many questions the kernel answered with "not now",
/// per page, and how often, over a run that took `wall`.
pub fn spin_report(spins: &[Spins], wall: Duration) -> String {
    let pages = spins.len().max(1) as u64;
    let sum = |f: fn(&Spins) -> u64| spins.iter().map(f).sum::<u64>();
    let (total, connect, send, recv) = (
        sum(Spins::total),
        sum(|s| s.connect),
        sum(|s| s.send),
        sum(|s| s.recv),
    );
    let mut per_page: Vec<u64> = spins.iter().map(Spins::total).collect();
    per_page.sort_unstable();
    let pick = |q: usize| per_page.get(q * (per_page.len().max(1) - 1) / 2).copied();
    let every = if total > 0 {
        format!(
            ", one every {:.2} us of wall time",
            wall.as_secs_f64() * 1e6 / total as f64
        )
    } else {
        String::new()
    };
    let mut out = format!(
        "spins: the kernel answered \"would block\" {} times (connect {}, send {}, recv {}){every}\n",
        group(total),
        group(connect),
        group(send),
        group(recv),
    );
    out.push_str(&format!(
        "spins per page: {} on average; fewest {}, median {}, most {}\n",
        group(total / pages),
        group(pick(0).unwrap_or(0)),
        group(pick(1).unwrap_or(0)),
        group(pick(2).unwrap_or(0)),
    ));
    out
}

/// 1234567 -> "1,234,567".
fn group(n: u64) -> String {
    let digits: Vec<char> = n.to_string().chars().collect();
    let groups: Vec<String> = digits
        .rchunks(3)
        .rev()
        .map(|g| g.iter().collect())
        .collect();
    groups.join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_grouped() {
        assert_eq!(group(0), "0");
        assert_eq!(group(999), "999");
        assert_eq!(group(1000), "1,000");
        assert_eq!(group(1234567), "1,234,567");
    }

    #[test]
    fn the_report_adds_up_the_pages() {
        let spins = [
            Spins {
                page: 0,
                connect: 1,
                send: 0,
                recv: 999,
            },
            Spins {
                page: 1,
                connect: 0,
                send: 2,
                recv: 2998,
            },
            Spins {
                page: 2,
                connect: 0,
                send: 0,
                recv: 5000,
            },
        ];
        let text = spin_report(&spins, Duration::from_millis(9));
        assert!(
            text.contains("\"would block\" 9,000 times (connect 1, send 2, recv 8,997)"),
            "{text}"
        );
        assert!(text.contains("one every 1.00 us"), "{text}");
        assert!(
            text.contains("3,000 on average; fewest 1,000, median 3,000, most 5,000"),
            "{text}"
        );
    }

    #[test]
    fn the_spins_flag_is_read() {
        let mut plan = Plan::new("http://127.0.0.1:1", 1).unwrap();
        assert_eq!(ShowSpins::of(&plan), ShowSpins::Auto);
        assert!(!ShowSpins::Auto.wanted(&plan));
        plan.progress = true;
        assert!(ShowSpins::Auto.wanted(&plan));
        for (value, want) in [
            ("always", ShowSpins::Always),
            ("never", ShowSpins::Never),
            ("auto", ShowSpins::Auto),
        ] {
            let spins = <ShowSpins as clap::ValueEnum>::from_str(value, false).unwrap();
            let plan = plan.clone().with_options(SpinFlags { spins });
            assert_eq!(ShowSpins::of(&plan), want, "{value}");
        }
    }
}
