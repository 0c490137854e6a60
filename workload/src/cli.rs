//! The command line every lesson binary shares: the flags, the timeline
//! and the summary, the JSON object (see `docs/ARCHITECTURE.md`).
//!
//! Exit status: 0 when every page is ok, 1 when some page failed (each one
//! named on stderr), 2 for a usage error.

use crate::plan::{BaseUrl, Plan, DEFAULT_MAX_BYTES, DEFAULT_SIZE};
use crate::serve::{self, ServeConfig, Serving, Shutdown};
use crate::server::{Server, ServerConfig};
use crate::trace::{Report, Trace};
use crate::{ErrorKind, Lesson};
use clap::builder::PossibleValuesParser;
use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};
use std::fmt::Write as _;
use std::io::{IsTerminal, Write as _};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::process::ExitCode;
use std::time::Duration;

/// The most pages one run accepts: bounded so a typo cannot ask for a
/// billion traces.
pub const MAX_PAGES: u64 = 1_000_000;

/// The shared flags.
#[derive(Debug, Clone, Parser)]
#[command(disable_version_flag = true, args_conflicts_with_subcommands = true)]
pub struct Args {
    /// Number of pages to fetch: page 0 is the base URL, page i is BASE/i.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=MAX_PAGES))]
    pub pages: u64,

    /// Simulated network latency of the embedded server, in ms, before the first
    /// byte of every page. With --url it only tells the report the ideal time.
    #[arg(long, value_name = "MS", value_parser = clap::value_parser!(u64).range(0..=600_000))]
    pub latency_ms: Option<u64>,

    /// Body size of every page served by the embedded server, in bytes.
    #[arg(long, value_name = "BYTES", default_value_t = DEFAULT_SIZE as u64,
          value_parser = clap::value_parser!(u64).range(0..=64 * 1024 * 1024))]
    pub size: u64,

    /// Fetch from this base URL (http:// only) instead of starting the embedded
    /// server, e.g. http://127.0.0.1:8080 from `page-server` or a lesson's `serve`.
    #[arg(long, value_name = "BASE_URL", value_parser = BaseUrl::parse)]
    pub url: Option<BaseUrl>,

    /// Pages in flight at once, for the variants that have workers
    /// (default: the lesson's own, usually every page).
    #[arg(long, value_name = "W", value_parser = clap::value_parser!(u64).range(1..=100_000))]
    pub workers: Option<u64>,

    /// Each page must end within this many ms of its start, or it fails as a timeout.
    #[arg(long, value_name = "MS", default_value_t = 10_000,
          value_parser = clap::value_parser!(u64).range(1..=3_600_000))]
    pub timeout_ms: u64,

    /// A body larger than this fails as too_large instead of filling memory.
    #[arg(long, value_name = "BYTES", default_value_t = DEFAULT_MAX_BYTES,
          value_parser = clap::value_parser!(u64).range(0..=1 << 40))]
    pub max_bytes: u64,

    /// Which variant of the lesson to run (listed below; the first is the default).
    #[arg(long, value_name = "NAME")]
    pub variant: Option<String>,

    /// Name every failed page on stderr, one line each, instead of one line
    /// per kind of failure with its count and an example.
    #[arg(long)]
    pub each_failure: bool,

    /// Print exactly one JSON object on stdout instead of the timeline.
    #[arg(long)]
    pub json: bool,

    /// Embedded server only: page i waits latency × (N-i)/N, so pages complete in
    /// reverse order and out-of-order completion shows in the timeline.
    #[arg(long)]
    pub stagger: bool,

    /// Each page also spends this many microseconds of real CPU on its body once it
    /// has arrived (a calibrated hash, never a sleep): concurrency vs parallelism.
    #[arg(long, value_name = "US", default_value_t = 0,
          value_parser = clap::value_parser!(u64).range(0..=10_000_000))]
    pub cpu_us: u64,

    #[command(subcommand)]
    pub command: Option<Command>,
}

/// What else a lesson binary does besides fetching.
#[derive(Debug, Clone, Subcommand)]
pub enum Command {
    /// Serve the pages in this lesson's model: HTTP/1.1 keep-alive, `GET /N` is
    /// page N, each response held --latency-ms first. Ctrl-C stops it.
    Serve(ServeArgs),
}

/// The flags of `<lesson> serve`.
#[derive(Debug, Clone, clap::Args)]
pub struct ServeArgs {
    /// Which server of the lesson to run (listed below; the first is the default).
    #[arg(long, value_name = "NAME")]
    pub variant: Option<String>,

    /// Port to listen on; 0 picks a free one (printed at start).
    #[arg(long, default_value_t = 8080)]
    pub port: u16,

    /// Address to listen on. Only loopback unless you ask for another.
    #[arg(long, value_name = "ADDR", default_value_t = IpAddr::V4(Ipv4Addr::LOCALHOST))]
    pub bind: IpAddr,

    /// Think time: every response is held this long after its request head has
    /// been read, as if the server waited on a database.
    #[arg(long, value_name = "MS", default_value_t = 0,
          value_parser = clap::value_parser!(u64).range(0..=600_000))]
    pub latency_ms: u64,

    /// Body size of every page, in bytes.
    #[arg(long, value_name = "BYTES", default_value_t = DEFAULT_SIZE as u64,
          value_parser = clap::value_parser!(u64).range(0..=64 * 1024 * 1024))]
    pub size: u64,

    /// Connections served at once, for the servers that have workers
    /// (a pool of threads or processes).
    #[arg(long, value_name = "W", value_parser = clap::value_parser!(u64).range(1..=100_000))]
    pub workers: Option<u64>,

    /// A connection that has not sent a whole request head this long after the
    /// server began waiting for it is closed; so is one that takes none of its
    /// response for this long.
    #[arg(long, value_name = "MS", default_value_t = serve::DEFAULT_HEADER_TIMEOUT.as_millis() as u64,
          value_parser = clap::value_parser!(u64).range(1..=3_600_000))]
    pub header_timeout_ms: u64,

    /// Lower the open-file limit to N descriptors (default: raise it to the
    /// hard limit), to watch what the server does when it runs out.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(8..=1 << 20))]
    pub max_fds: Option<u64>,
}

/// Run a lesson's binary: parse the command line, start the embedded
/// server unless `--url` is given, run the variant, print the report.
pub fn main(lesson: &Lesson) -> ExitCode {
    main_from(lesson, std::env::args_os())
}

/// [`main`] with explicit arguments (the first is the program name).
pub fn main_from<I, T>(lesson: &Lesson, args: I) -> ExitCode
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    crate::enter(&[lesson]);
    let mut command = command(lesson);
    let matches = match command.try_get_matches_from_mut(args) {
        Ok(m) => m,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                ExitCode::from(2)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    let args = match Args::from_arg_matches(&matches) {
        Ok(a) => a,
        Err(e) => return usage_error(&mut command, &e.to_string()),
    };
    if let Some(Command::Serve(serve_args)) = args.command {
        return serve_main(lesson, &serve_args);
    }
    let options = match lesson.flags.parse(&matches) {
        Ok(o) => o,
        Err(e) => return usage_error(&mut command, &e.to_string()),
    };
    // clap has checked the name against the table.
    let variant = args
        .variant
        .as_deref()
        .and_then(|name| lesson.variant(name))
        .unwrap_or(lesson.default_variant());
    if let Err(why) = (variant.available)() {
        eprintln!(
            "error: {}/{} cannot run here: {why}",
            lesson.name, variant.name
        );
        return ExitCode::from(2);
    }
    if args.url.is_some() && args.stagger {
        return usage_error(
            &mut command,
            "--stagger shapes the embedded server; with --url, start page-server with --stagger instead",
        );
    }

    crate::raise_fd_limit();
    let pages = args.pages as usize;
    let (server, base) = match args.url {
        Some(url) => (None, url),
        None => {
            let config = ServerConfig {
                latency: Duration::from_millis(args.latency_ms.unwrap_or(100)),
                size: args.size as usize,
                stagger: args.stagger.then_some(pages),
                ..ServerConfig::default()
            };
            let started = Server::start(config).and_then(|s| {
                let url = BaseUrl::parse(&s.url()).map_err(std::io::Error::other)?;
                Ok((s, url))
            });
            match started {
                Ok((s, url)) => (Some(s), url),
                Err(e) => {
                    eprintln!("error: cannot start the embedded page server: {e}");
                    return ExitCode::from(2);
                }
            }
        }
    };
    let latency = match &server {
        Some(s) => Some(s.config().latency),
        None => args.latency_ms.map(Duration::from_millis),
    };
    let plan = Plan {
        base,
        pages,
        latency,
        stagger: args.stagger,
        size: args.size as usize,
        timeout: Duration::from_millis(args.timeout_ms),
        max_bytes: args.max_bytes,
        workers: args.workers.map(|w| w as usize),
        progress: !args.json && std::io::stderr().is_terminal(),
        cpu: Duration::from_micros(args.cpu_us),
        options,
    };

    let report = lesson.run(variant, &plan, server.as_ref());
    drop(server);

    if args.json {
        let json = serde_json::to_string(&report).expect("a report is plain data");
        println!("{json}");
    } else {
        print!("{}", render(&report, &plan));
    }
    eprint!("{}", failures(&report, args.each_failure));
    let _ = std::io::stdout().flush();
    if report.failed == 0 && report.traces.len() == report.pages {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

/// `<lesson> serve`: bind, print the address, serve until Ctrl-C.
fn serve_main(lesson: &Lesson, args: &ServeArgs) -> ExitCode {
    // clap has checked the name against the table.
    let Some(server) = args
        .variant
        .as_deref()
        .and_then(|name| lesson.server(name))
        .or(lesson.servers.first())
    else {
        eprintln!("error: {} has no server", lesson.name);
        return ExitCode::from(2);
    };
    if let Err(why) = (server.available)() {
        eprintln!(
            "error: {}/{} cannot serve here: {why}",
            lesson.name, server.name
        );
        return ExitCode::from(2);
    }
    // First, before any thread starts: Ctrl-C triggers the shutdown.
    let shutdown = match Shutdown::new().and_then(|s| s.on_signals().map(|()| s)) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: cannot watch for Ctrl-C: {e}");
            return ExitCode::from(1);
        }
    };
    let fds = match args.max_fds {
        Some(n) => lower_fd_limit(n),
        None => crate::raise_fd_limit(),
    };
    let listener = match serve::listen(SocketAddr::new(args.bind, args.port))
        .and_then(|l| shutdown.wake_on(&l).map(|()| l))
    {
        Ok(l) => l,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let addr = listener.local_addr().map_or("?".into(), |a| a.to_string());
    let workers = args.workers.map(|w| w as usize);
    let capacity = match server.capacity.limit(workers) {
        Some(n) => format!("{n} connection(s) at once"),
        None => "every connection at once".into(),
    };
    let config = ServeConfig {
        latency: Duration::from_millis(args.latency_ms),
        size: args.size as usize,
        workers: server
            .capacity
            .limit(workers)
            .or(workers)
            .unwrap_or(ServeConfig::default().workers),
        header_timeout: Duration::from_millis(args.header_timeout_ms),
    };
    println!(
        "serving {}/{} on http://{addr} (think time {} ms, {capacity}, {fds} descriptors); Ctrl-C stops",
        lesson.name, server.name, args.latency_ms
    );
    let _ = std::io::stdout().flush();
    let serving = Serving {
        listener,
        pages: serve::Pages::new(config.size),
        config,
        shutdown,
    };
    match (server.serve)(serving) {
        Ok(()) => {
            eprintln!("{}/{}: stopped", lesson.name, server.name);
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {}/{}: {e}", lesson.name, server.name);
            ExitCode::from(1)
        }
    }
}

/// Set the open-file soft limit to `n` (never above the hard limit);
/// returns the limit now in force.
fn lower_fd_limit(n: u64) -> u64 {
    use nix::sys::resource::{getrlimit, setrlimit, Resource};
    match getrlimit(Resource::RLIMIT_NOFILE) {
        Ok((_, hard)) if setrlimit(Resource::RLIMIT_NOFILE, n.min(hard), hard).is_ok() => {
            n.min(hard)
        }
        Ok((soft, _)) => soft,
        Err(_) => n,
    }
}

/// What stderr says of the failed pages: one line per kind of failure, with
/// its count and the first page as an example; with `each`, a line per page.
pub fn failures(report: &Report, each: bool) -> String {
    let mut out = String::new();
    let describe = |t: &Trace| {
        t.error
            .as_ref()
            .map_or("not finished".to_string(), |e| e.to_string())
    };
    if each {
        for t in report.failures() {
            let _ = writeln!(out, "page {} ({}) failed: {}", t.page, t.url, describe(t));
        }
        return out;
    }
    // Kinds in the order their first page appears.
    let mut kinds: Vec<(Option<ErrorKind>, usize, &Trace)> = Vec::new();
    for t in report.failures() {
        match kinds.iter_mut().find(|(k, _, _)| *k == t.error_kind()) {
            Some((_, n, _)) => *n += 1,
            None => kinds.push((t.error_kind(), 1, t)),
        }
    }
    for (_, n, t) in &kinds {
        if *n == 1 {
            let _ = writeln!(out, "page {} ({}) failed: {}", t.page, t.url, describe(t));
        } else {
            let _ = writeln!(
                out,
                "{} pages failed: {}, e.g. page {}",
                thousands(*n),
                describe(t),
                t.page
            );
        }
    }
    if kinds.iter().any(|(_, n, _)| *n > 1) {
        let _ = writeln!(out, "(--each-failure names every page)");
    }
    out
}

/// `12345` as `12,345`.
fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// The clap command of a lesson: the shared flags, the lesson's own flags,
/// and the list of variants in `--help`.
pub fn command(lesson: &Lesson) -> clap::Command {
    let mut variants = String::from("Variants (--variant):\n");
    for (i, v) in lesson.variants.iter().enumerate() {
        let default = if i == 0 { " (default)" } else { "" };
        let _ = writeln!(variants, "  {:<12} {}{default}", v.name, v.about);
    }
    let servers = server_list(lesson);
    if !lesson.servers.is_empty() {
        let _ = write!(variants, "\n{servers}");
    }
    let _ = write!(
        variants,
        "\nExit status: 0 every page ok, 1 some page failed (named on stderr), 2 usage error.\n\
         Without --url an embedded page server is started on 127.0.0.1 (default latency 100 ms)."
    );
    let fetch_names: Vec<&'static str> = lesson.variants.iter().map(|v| v.name).collect();
    let serve_names = serve::names(lesson.servers);
    let cmd = Args::command()
        .name(lesson.name)
        .bin_name(lesson.name)
        .about(lesson.about)
        .after_help(variants)
        .mut_arg("variant", |a| {
            a.value_parser(PossibleValuesParser::new(fetch_names))
        })
        .mut_subcommand("serve", |s| {
            // A later flag wins over an earlier one (scripts append theirs).
            s.after_help(servers)
                .args_override_self(true)
                .mut_arg("variant", |a| {
                    a.value_parser(PossibleValuesParser::new(serve_names))
                })
        });
    lesson.flags.augment(cmd)
}

/// The lesson's servers, for `--help`.
fn server_list(lesson: &Lesson) -> String {
    if lesson.servers.is_empty() {
        return format!("{} has no server yet.", lesson.name);
    }
    let mut out = String::from("Servers (serve --variant):\n");
    for (i, s) in lesson.servers.iter().enumerate() {
        let default = if i == 0 { " (default)" } else { "" };
        let _ = writeln!(out, "  {:<12} {}{default}", s.name, s.about);
    }
    out
}

fn usage_error(command: &mut clap::Command, message: &str) -> ExitCode {
    let e = command.error(clap::error::ErrorKind::InvalidValue, message);
    let _ = e.print();
    ExitCode::from(2)
}

/// Width of the timeline's bars, so a line fits in 80 columns.
const BAR: usize = 46;
/// Timelines longer than this show a sample of the pages.
const MAX_ROWS: usize = 40;

/// The human report: a header, the timeline, the legend, the summary.
pub fn render(report: &Report, plan: &Plan) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{} / {}: {} pages, {} in flight, latency {}\nfrom {}",
        report.model,
        report.variant,
        report.pages,
        report.in_flight,
        report
            .latency_ms
            .map_or("unknown".into(), |l| format!("{l:.0} ms")),
        plan.base.url,
    );
    out.push_str(&timeline(&report.traces, report.wall_ms));
    out.push_str(&summary(report));
    out
}

/// One bar per page on a shared time axis from 0 to `wall_ms`:
/// `-` connecting, `c` connected, `.` waiting for the first byte,
/// `f` first byte, `=` reading, `|` done, `x` failed.
pub fn timeline(traces: &[Trace], wall_ms: f64) -> String {
    let mut out = String::new();
    let end = traces
        .iter()
        .filter_map(|t| t.done_ms)
        .fold(wall_ms, f64::max)
        .max(1e-3);
    let step = traces.len().div_ceil(MAX_ROWS).max(1);
    let col = |ms: f64| (((ms / end) * BAR as f64) as usize).min(BAR - 1);
    let _ = writeln!(
        out,
        "{:>6} 0 ms{:>width$}",
        "page",
        format!("{end:.0} ms"),
        width = BAR - 2
    );
    for t in traces.iter().step_by(step) {
        let mut bar = [b' '; BAR];
        if let Some(start) = t.start_ms {
            let stop = t.done_ms.unwrap_or(end);
            for (c, cell) in bar.iter_mut().enumerate() {
                let mid = (c as f64 + 0.5) * end / BAR as f64;
                if mid < start || mid > stop {
                    continue;
                }
                *cell = match (t.connected_ms, t.first_byte_ms) {
                    (Some(_), Some(f)) if mid >= f => b'=',
                    (Some(c), _) if mid >= c => b'.',
                    _ => b'-',
                };
            }
            bar[col(start)] = b'-';
            if let Some(c) = t.connected_ms {
                bar[col(c)] = b'c';
            }
            if let Some(f) = t.first_byte_ms {
                bar[col(f)] = b'f';
            }
            if let Some(d) = t.done_ms {
                bar[col(d)] = if t.is_ok() { b'|' } else { b'x' };
            }
        }
        let outcome = match (t.error_kind(), t.status) {
            (None, Some(s)) if t.is_ok() => format!("{s} {}B", t.bytes.unwrap_or(0)),
            (Some(crate::ErrorKind::Status), Some(s)) => format!("HTTP {s}"),
            (Some(k), _) => k.to_string(),
            (None, _) => "not finished".into(),
        };
        let took = match (t.start_ms, t.done_ms) {
            (Some(s), Some(d)) => format!("{:.0}ms", d - s),
            _ => "-".into(),
        };
        let _ = writeln!(
            out,
            "{:>6} {} {:>7} {}",
            t.page,
            String::from_utf8_lossy(&bar),
            took,
            outcome
        );
    }
    if step > 1 {
        let _ = writeln!(
            out,
            "{:>6} (every {step}th of {} pages shown)",
            "",
            traces.len()
        );
    }
    let _ = writeln!(
        out,
        "{:>6} -connecting c connected .waiting f first byte =reading |done x failed",
        ""
    );
    out
}

/// The summary lines: wall, ideal, ratio, CPU, memory, switches, outcome.
pub fn summary(r: &Report) -> String {
    let ideal = match (r.ideal_ms, r.ratio()) {
        (Some(i), Some(x)) => format!("ideal {i:.0} ms (x{x:.2})"),
        (Some(_), None) => "ideal 0 ms (no latency to overlap)".into(),
        (None, _) => "ideal unknown (give --latency-ms with --url)".into(),
    };
    let share = if r.wall_ms > 0.0 {
        100.0 * r.cpu_ms / r.wall_ms
    } else {
        0.0
    };
    let mut out = format!(
        "wall {:.1} ms | {ideal} | {} ok, {} failed\n",
        r.wall_ms, r.ok, r.failed
    );
    let _ = writeln!(
        out,
        "cpu {:.1} ms ({share:.0}% of wall) | peak RSS {:.1} MB | ctx switches {} vol, {} invol",
        r.cpu_ms,
        r.max_rss_kb as f64 / 1024.0,
        r.voluntary_switches,
        r.involuntary_switches,
    );
    if let Some(s) = r.server_cpu_ms {
        let _ = writeln!(
            out,
            "(the embedded page server's own cpu, {s:.1} ms, is left out)"
        );
    }
    let held = r.server_hold_max_ms.filter(|h| *h > 0.0);
    if let (Some(hold), Some(own)) = (held, r.client_overhead_ms()) {
        let _ = writeln!(
            out,
            "server holds: up to {hold:.1} ms each; the client's own time beyond them: {own:.1} ms"
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{fail_every_page, Clock, Concurrency, ErrorKind, FetchError, Flags, Variant};

    /// A lesson whose every page fails, with one flag that accepts only "ok"
    /// and one variant that cannot run here.
    fn fail_all(plan: &Plan) -> Vec<Trace> {
        // The flag reaches the lesson parsed.
        let mode = plan.options::<TestFlags>().mode;
        fail_every_page(
            plan,
            &FetchError::new(ErrorKind::Io, format!("mode {mode}")),
        )
    }

    #[derive(Debug, Clone, Default, clap::Args)]
    struct TestFlags {
        /// ok is the only mode
        #[arg(long, default_value = "ok", value_parser = ["ok"])]
        mode: String,
    }

    const LESSON: Lesson = Lesson {
        name: "test",
        about: "a test lesson",
        variants: &[
            Variant::new("only", "fails every page", Concurrency::One, fail_all),
            Variant::new("absent", "never here", Concurrency::One, fail_all)
                .available(|| Err("not on this machine".into())),
        ],
        flags: Flags::of::<TestFlags>(),
        servers: &[],
        worker: None,
    };

    #[test]
    fn clap_checks_the_variant_and_the_url() {
        let e = command(&LESSON)
            .try_get_matches_from(["test", "--variant", "nope"])
            .unwrap_err();
        let text = e.to_string();
        assert!(text.contains("only") && text.contains("absent"), "{text}");
        assert_eq!(
            main_from(&LESSON, ["test", "--variant", "nope"]),
            ExitCode::from(2)
        );
        let e = command(&LESSON)
            .try_get_matches_from(["test", "--url", "https://example.com"])
            .unwrap_err();
        assert!(e.to_string().contains("only http://"), "{e}");
        let help = command(&LESSON).render_long_help().to_string();
        assert!(help.contains("possible values"), "{help}");
    }

    #[test]
    fn a_lesson_without_a_server_says_so() {
        assert_eq!(
            main_from(&LESSON, ["test", "serve", "--port", "0"]),
            ExitCode::from(2)
        );
        assert!(server_list(&LESSON).contains("no server"));
    }

    #[test]
    fn failures_are_grouped_by_kind_with_an_example() {
        let plan = Plan::new("http://127.0.0.1:1", 1).unwrap();
        let mut report = LESSON.run(&LESSON.variants[0], &plan, None);
        let mut failed = report.traces[0].clone();
        failed.error = Some(FetchError::new(
            ErrorKind::Resource,
            "Too many open files (os error 24)",
        ));
        report.traces = (0..12_345)
            .map(|i| {
                let mut t = failed.clone();
                t.page = i;
                t
            })
            .collect();
        let text = failures(&report, false);
        assert_eq!(text.lines().count(), 2, "{text}");
        assert!(
            text.starts_with(
                "12,345 pages failed: resource: Too many open files (os error 24), e.g. page 0\n"
            ),
            "{text}"
        );
        assert_eq!(failures(&report, true).lines().count(), 12_345);
        report.traces.truncate(1);
        let one = failures(&report, false);
        assert!(
            one.starts_with("page 0 (http://127.0.0.1:1) failed: resource: Too many"),
            "{one}"
        );
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(1_234_567), "1,234,567");
    }

    #[test]
    fn a_lesson_flag_that_fails_its_check_is_a_usage_error() {
        assert_eq!(
            main_from(&LESSON, ["test", "--mode", "nope"]),
            ExitCode::from(2)
        );
        let quick = ["--pages", "1", "--latency-ms", "0"];
        let with_mode = ["test", "--mode", "ok"].into_iter().chain(quick);
        assert_eq!(main_from(&LESSON, with_mode), ExitCode::from(1));
    }

    #[test]
    fn a_bad_cpu_us_is_a_usage_error() {
        assert_eq!(
            main_from(&LESSON, ["test", "--cpu-us", "-5"]),
            ExitCode::from(2)
        );
        assert_eq!(
            main_from(&LESSON, ["test", "--cpu-us", "99999999999"]),
            ExitCode::from(2)
        );
    }

    #[test]
    fn a_variant_that_cannot_run_here_is_a_usage_error() {
        let args = ["test", "--variant", "absent", "--pages", "1"];
        assert_eq!(main_from(&LESSON, args), ExitCode::from(2));
    }

    #[test]
    fn a_zero_latency_run_is_not_told_to_give_a_url() {
        let plan = Plan::new("http://127.0.0.1:1", 1).unwrap();
        let mut report = LESSON.run(&LESSON.variants[0], &plan, None);
        report.ideal_ms = Some(0.0);
        let text = summary(&report);
        assert!(!text.contains("--url"), "{text}");
        report.ideal_ms = None;
        assert!(summary(&report).contains("--url"));
    }

    #[test]
    fn timelines_sample_long_runs_and_fit_80_columns() {
        let plan = Plan::new("http://127.0.0.1:1", 1000).unwrap();
        let clock = Clock::start();
        let traces: Vec<Trace> = plan.all_pages().map(|p| Trace::start(&p, clock)).collect();
        let text = timeline(&traces, 1000.0);
        assert!(text.lines().count() < 50, "{text}");
        assert!(text.contains("every 25th of 1000 pages shown"), "{text}");
        assert!(text.lines().all(|l| l.chars().count() <= 80), "{text}");
    }
}
