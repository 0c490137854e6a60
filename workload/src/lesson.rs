//! A lesson's table: its variants, the facts callers need about each, and
//! its own command-line flags. The binary, the tests, the benchmark and the
//! sweep all read this table; none of them decides anything by a name.

use crate::plan::Plan;
use crate::serve::ServeVariant;
use crate::server::Server;
use crate::trace::{Report, Trace, Usage};
use std::any::Any;
use std::fmt;
use std::panic::RefUnwindSafe;
use std::sync::Arc;
use std::time::Instant;

/// A lesson: one crate, one concurrency model, one or more variants.
#[derive(Debug)]
pub struct Lesson {
    pub name: &'static str,
    /// One line for `--help`.
    pub about: &'static str,
    /// The first is the default.
    pub variants: &'static [Variant],
    /// Flags of this lesson only, beyond the shared contract.
    pub flags: Flags,
    /// The ways it serves the pages (`<lesson> serve`); the first is the
    /// default.
    pub servers: &'static [ServeVariant],
    /// A lesson that re-runs the current program as its workers (a process
    /// pool) needs the start of every process that may run it: a worker
    /// serves here and exits. Runners give it through [`crate::enter`];
    /// [`Lesson::run`] refuses to run such a lesson in a program that did
    /// not.
    pub worker: Option<fn()>,
}

/// One way a lesson fetches the pages, with the facts about it that the
/// callers need.
#[derive(Debug)]
pub struct Variant {
    pub name: &'static str,
    pub about: &'static str,
    /// How many pages it lets be in flight: decides `plan.in_flight()`
    /// and so the ideal time.
    pub concurrency: Concurrency,
    /// Fetch every page of the plan; one trace per page, in any order.
    pub fetch: fn(&Plan) -> Vec<Trace>,
    /// It starts an OS task (a thread or a process) for every page in
    /// flight, so the machine's task limits bound it.
    pub task_per_page: Option<OsTask>,
    /// The highest descriptor number it can watch (select's FD_SETSIZE);
    /// a run that needs more cannot run.
    pub fd_ceiling: Option<usize>,
    /// The tutorial's own timing of the program this variant ports.
    pub tutorial: Option<TutorialFigure>,
    /// The row the benchmark divides every other row by (blocking).
    pub baseline: bool,
    /// Whether the variant can run on this machine (io_uring may be
    /// disabled, for instance); `Err` says why in a sentence.
    pub available: fn() -> Result<(), String>,
}

/// What kind of OS task a variant starts per page in flight.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OsTask {
    Thread,
    Process,
}

impl fmt::Display for OsTask {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            OsTask::Thread => "threads",
            OsTask::Process => "processes",
        })
    }
}

/// One timing from the tutorial 《深入理解 Python 异步编程（上）》: ten pages of
/// example.com over the Internet, timed by its author.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TutorialFigure {
    /// What the tutorial called it.
    pub label: &'static str,
    /// Its total time for the ten pages, in seconds.
    pub seconds: f64,
}

fn always() -> Result<(), String> {
    Ok(())
}

impl Variant {
    /// A variant with no special facts: no task per page, no descriptor
    /// ceiling, no tutorial figure, not the baseline, always available.
    pub const fn new(
        name: &'static str,
        about: &'static str,
        concurrency: Concurrency,
        fetch: fn(&Plan) -> Vec<Trace>,
    ) -> Variant {
        Variant {
            name,
            about,
            concurrency,
            fetch,
            task_per_page: None,
            fd_ceiling: None,
            tutorial: None,
            baseline: false,
            available: always,
        }
    }

    /// The tutorial timed this program at `seconds` for its ten pages.
    pub const fn tutorial(mut self, label: &'static str, seconds: f64) -> Variant {
        self.tutorial = Some(TutorialFigure { label, seconds });
        self
    }

    /// Every page in flight has an OS task of its own.
    pub const fn task_per_page(mut self, task: OsTask) -> Variant {
        self.task_per_page = Some(task);
        self
    }

    /// Descriptors at or above `ceiling` cannot be watched.
    pub const fn fd_ceiling(mut self, ceiling: usize) -> Variant {
        self.fd_ceiling = Some(ceiling);
        self
    }

    /// The benchmark's baseline row.
    pub const fn baseline(mut self) -> Variant {
        self.baseline = true;
        self
    }

    /// Whether it can run here, checked before a run.
    pub const fn available(mut self, check: fn() -> Result<(), String>) -> Variant {
        self.available = check;
        self
    }
}

/// How many pages a variant lets be in flight at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Concurrency {
    /// One page after another.
    One,
    /// As many as the machine has cores (a CPU pool such as rayon's).
    Cores,
    /// `--workers`, by default every page up to `default_max`; and never
    /// more than the open-file limit has room for (see
    /// [`Concurrency::descriptor_bound`]): the pages beyond wait for a
    /// page to end instead of failing with EMFILE.
    Workers { default_max: usize },
    /// Every page at once; `--workers` does not apply.
    All,
}

impl Concurrency {
    /// The number of pages in flight for this plan.
    pub fn limit(self, plan: &Plan) -> usize {
        let n = match self {
            Concurrency::One => 1,
            Concurrency::Cores => std::thread::available_parallelism().map_or(1, |n| n.get()),
            Concurrency::Workers { default_max } => {
                plan.workers.unwrap_or(plan.pages.min(default_max))
            }
            Concurrency::All => plan.pages,
        };
        n.clamp(1, plan.pages.max(1))
    }

    /// The pages in flight once the open-file limit is counted in: a
    /// variant with workers holds the pages it has no descriptor for
    /// until one ends, so `in_flight` never passes the room
    /// ([`crate::room::fd_room`]). Each page in flight holds a socket, and
    /// the server's end of it too when the page server runs in this
    /// process (`server_here`). The other kinds start every page they
    /// start at once and do not hold pages back: unchanged.
    pub fn descriptor_bound(self, in_flight: usize, server_here: bool) -> usize {
        let Concurrency::Workers { .. } = self else {
            return in_flight;
        };
        let fds_each = if server_here { 2 } else { 1 };
        match crate::room::fd_room(fds_each, crate::room::SPARE_FDS) {
            Some(room) => in_flight.min(room.max(1)),
            None => in_flight,
        }
    }
}

/// A lesson's own flags: a `clap::Args` struct, flattened into the shared
/// command line and checked there once (its value parsers turn a bad value
/// into a usage error, exit 2). The parsed struct reaches the lesson as
/// `plan.options::<T>()`.
#[derive(Clone, Copy)]
pub struct Flags {
    augment: fn(clap::Command) -> clap::Command,
    parse: fn(&clap::ArgMatches) -> Result<Options, clap::Error>,
}

impl fmt::Debug for Flags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Flags")
    }
}

/// The flags of a lesson that has none.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct NoFlags {}

impl Flags {
    /// No flags beyond the shared ones.
    pub const NONE: Flags = Flags::of::<NoFlags>();

    /// The flags of the `clap::Args` struct `T`.
    pub const fn of<T: clap::Args + Clone + Default + Send + Sync + RefUnwindSafe + 'static>(
    ) -> Flags {
        Flags {
            augment: T::augment_args,
            parse: parse_options::<T>,
        }
    }

    /// The shared command with the lesson's flags added. A derived
    /// `Args` struct's doc comment would become the command's about text;
    /// the lesson's own `about` is kept instead.
    pub(crate) fn augment(&self, command: clap::Command) -> clap::Command {
        let about = command.get_about().cloned();
        let long_about = command.get_long_about().cloned();
        let mut command = (self.augment)(command);
        if let Some(about) = about {
            command = command.about(about);
        }
        if let Some(long_about) = long_about {
            command = command.long_about(long_about);
        }
        command
    }

    pub(crate) fn parse(&self, matches: &clap::ArgMatches) -> Result<Options, clap::Error> {
        (self.parse)(matches)
    }
}

fn parse_options<T: clap::Args + Clone + Default + Send + Sync + RefUnwindSafe + 'static>(
    matches: &clap::ArgMatches,
) -> Result<Options, clap::Error> {
    T::from_arg_matches(matches).map(Options::new)
}

/// The parsed values of a lesson's own flags, carried by the plan, with
/// the name of their type.
#[derive(Clone, Default)]
pub struct Options(Option<(Arc<dyn Any + Send + Sync + RefUnwindSafe>, &'static str)>);

impl Options {
    pub fn new<T: Any + Send + Sync + RefUnwindSafe>(value: T) -> Options {
        Options(Some((Arc::new(value), std::any::type_name::<T>())))
    }

    /// The lesson's flags as parsed, or their defaults when the plan did
    /// not come from the command line (a test, the benchmark).
    ///
    /// # Panics
    ///
    /// When the flags are of another type than `T`: the lesson asked for
    /// flags it does not have, a programming error.
    pub fn get<T: Any + Clone + Default>(&self) -> T {
        match &self.0 {
            None => T::default(),
            Some((value, name)) => match (value.as_ref() as &dyn Any).downcast_ref::<T>() {
                Some(v) => v.clone(),
                None => panic!(
                    "the plan carries flags of type {name}, not {}",
                    std::any::type_name::<T>()
                ),
            },
        }
    }
}

impl fmt::Debug for Options {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Some((_, name)) => write!(f, "Options({name})"),
            None => f.write_str("Options(default)"),
        }
    }
}

impl Lesson {
    /// Panic, saying what to do, when this lesson needs [`crate::enter`]
    /// and the program has not called it.
    pub fn check_entered(&self) {
        if self.worker.is_some() && !crate::entered() {
            panic!(
                "{} re-runs this program as its workers: call workload::enter(&[...]) \
                 with its lesson first thing in main",
                self.name
            );
        }
    }

    pub fn variant(&self, name: &str) -> Option<&'static Variant> {
        self.variants.iter().find(|v| v.name == name)
    }

    pub fn default_variant(&self) -> &'static Variant {
        &self.variants[0]
    }

    pub fn server(&self, name: &str) -> Option<&'static ServeVariant> {
        self.servers.iter().find(|s| s.name == name)
    }

    /// Run one variant on the plan and account for it: the traces sorted by
    /// page, wall time, the ideal, CPU and memory from the OS. With the
    /// embedded `server` given, its threads' CPU is left out of `cpu_ms`.
    ///
    /// # Panics
    ///
    /// When the lesson has a [`worker`](Lesson::worker) hook that this
    /// program never gave the process start through [`crate::enter`]: its
    /// workers would start and not know what they are.
    pub fn run(&self, variant: &Variant, plan: &Plan, server: Option<&Server>) -> Report {
        self.check_entered();
        let mut plan = plan.clone();
        let limit = variant.concurrency.limit(&plan);
        plan.workers = Some(
            variant
                .concurrency
                .descriptor_bound(limit, server.is_some()),
        );

        let server_before = server.map(Server::cpu_time);
        if let Some(s) = server {
            s.reset_holds();
        }
        let before = Usage::now();
        let started = Instant::now();
        let mut traces = (variant.fetch)(&plan);
        let wall = started.elapsed();
        let usage = Usage::now().since(&before);
        let server_cpu = server
            .zip(server_before)
            .map(|(s, b)| s.cpu_time().saturating_sub(b));
        let holds = server.map(Server::holds);

        traces.sort_by_key(|t| t.page);
        let ok = traces.iter().filter(|t| t.is_ok()).count();
        let cpu = (usage.user + usage.sys).saturating_sub(server_cpu.unwrap_or_default());
        let ms = |d: std::time::Duration| d.as_secs_f64() * 1e3;
        Report {
            model: self.name.to_string(),
            variant: variant.name.to_string(),
            pages: plan.pages,
            ok,
            failed: plan.pages.saturating_sub(ok),
            in_flight: plan.in_flight(),
            latency_ms: plan.latency.map(ms),
            wall_ms: ms(wall),
            ideal_ms: plan.ideal().map(ms),
            cpu_ms: ms(cpu),
            user_ms: ms(usage.user),
            sys_ms: ms(usage.sys),
            server_cpu_ms: server_cpu.map(ms),
            server_hold_max_ms: holds.map(|h| ms(h.max)),
            server_hold_total_ms: holds.map(|h| ms(h.total)),
            max_rss_kb: usage.max_rss_kb,
            voluntary_switches: usage.voluntary_switches,
            involuntary_switches: usage.involuntary_switches,
            traces,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Clone, Default, PartialEq)]
    struct Mine(u32);
    #[derive(Debug, Clone, Default)]
    struct Other;

    #[test]
    fn options_give_the_flags_or_their_defaults() {
        assert_eq!(Options::new(Mine(7)).get::<Mine>(), Mine(7));
        assert_eq!(Options::default().get::<Mine>(), Mine(0));
    }

    #[test]
    #[should_panic(expected = "not workload::lesson::tests::Other")]
    fn asking_for_flags_of_another_type_is_a_programming_error() {
        let _ = Options::new(Mine(7)).get::<Other>();
    }
}
