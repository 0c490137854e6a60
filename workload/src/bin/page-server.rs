//! The page server as its own process, for classrooms and for the sweep:
//!
//! ```text
//! cargo run --release -p workload --bin page-server -- --port 8080 --latency-ms 100
//! ```
//!
//! It prints the URL it serves, then serves until Ctrl-C (or SIGTERM).

use clap::Parser;
use std::process::ExitCode;
use std::time::Duration;
use workload::{Server, ServerConfig};

/// Serve deterministic pages on 127.0.0.1 after a simulated network latency.
#[derive(Debug, Parser)]
#[command(name = "page-server")]
struct Args {
    /// Port on 127.0.0.1 (0 picks a free one).
    #[arg(long, default_value_t = 8080)]
    port: u16,
    /// Delay before the first byte of every response, in ms.
    #[arg(long, value_name = "MS", default_value_t = 100)]
    latency_ms: u64,
    /// Body size of every page, in bytes.
    #[arg(long, value_name = "BYTES", default_value_t = workload::plan::DEFAULT_SIZE,
          value_parser = clap::value_parser!(usize))]
    size: usize,
    /// Page i of an N-page plan waits latency × (N-i)/N, so completions arrive in reverse order.
    #[arg(long, value_name = "N")]
    stagger: Option<usize>,
    /// Listening sockets sharing the port with SO_REUSEPORT.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=64))]
    listeners: u16,
    /// Accept backlog of each listener (capped by net.core.somaxconn).
    #[arg(long, default_value_t = 4096, value_parser = clap::value_parser!(i32).range(1..=65535))]
    backlog: i32,
    /// Runtime worker threads.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u16).range(1..=256))]
    threads: u16,
    /// Close a connection that has not sent its whole request head this many ms after it was accepted.
    #[arg(long, value_name = "MS", default_value_t = 5000,
          value_parser = clap::value_parser!(u64).range(1..))]
    header_timeout_ms: u64,
}

fn main() -> ExitCode {
    let args = Args::parse();
    if args.size > 64 * 1024 * 1024 {
        eprintln!("error: --size is at most 64 MiB");
        return ExitCode::from(2);
    }
    // Block SIGINT and SIGTERM before any thread starts (threads inherit the
    // mask), so they queue for `wait_for_signal` instead of killing us.
    let signals = stop_signals();
    let _ = signals.thread_block();
    let fd_limit = workload::raise_fd_limit();
    let config = ServerConfig {
        port: args.port,
        latency: Duration::from_millis(args.latency_ms),
        size: args.size,
        stagger: args.stagger,
        listeners: args.listeners as usize,
        backlog: args.backlog,
        threads: args.threads as usize,
        header_timeout: Duration::from_millis(args.header_timeout_ms),
    };
    let server = match Server::start(config) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    // The URL goes first and alone on stdout, so a script can read it.
    println!("{}", server.url());
    eprintln!(
        "serving{} pages of {} bytes after {} ms on {} listeners (open-file limit {fd_limit}); Ctrl-C stops",
        if args.stagger.is_some() { " staggered" } else { "" },
        args.size,
        args.latency_ms,
        args.listeners,
    );
    let _ = signals.wait();
    let served = server.served();
    let holds = server.holds();
    server.stop();
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    match holds.mean() {
        Some(mean) => eprintln!(
            "stopped after serving {served} pages, held {:.3} ms on average, {:.3} ms at most",
            ms(mean),
            ms(holds.max)
        ),
        None => eprintln!("stopped after serving {served} pages"),
    }
    ExitCode::SUCCESS
}

fn stop_signals() -> nix::sys::signal::SigSet {
    use nix::sys::signal::{SigSet, Signal};
    let mut set = SigSet::empty();
    set.add(Signal::SIGINT);
    set.add(Signal::SIGTERM);
    set
}
