//! `cargo run --release -p bench-report -- <command>`:
//!
//! - `sweep`: every lesson binary against one `page-server` process, from 10
//!   to 10,000 pages (see `src/sweep.rs`);
//! - `cpu`: every lesson binary on pages that also cost CPU (`--cpu-us`):
//!   which models serialise the work and which spread it over the cores
//!   (see `src/cpu.rs`);
//! - `load`: the HTTP load generator, optionally beside wrk (see
//!   `src/load/`);
//! - `serve`: every server of every lesson under load, 1 to 10,000
//!   connections (see `src/serve/`);
//! - `latency`: the tutorial's "CPU's sense of time" table, measured on this
//!   machine (see `latency.rs`).

#![forbid(unsafe_code)]

use bench_report::{cpu, load, serve, sweep};
use clap::{Parser, Subcommand};
use std::process::ExitCode;

mod latency;

#[derive(Debug, Parser)]
#[command(name = "bench-report", about = "Measure the lessons side by side")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run every lesson binary against a separate page-server, over N pages.
    Sweep(sweep::Args),
    /// Run every lesson binary on pages that each cost CPU: serialised or parallel?
    Cpu(cpu::Args),
    /// Load one server: requests/s, latency percentiles, errors by kind (and wrk beside it).
    Load(load::Args),
    /// Load every lesson's servers, 1 to 10,000 connections: requests/s, p99, CPU and memory.
    Serve(serve::Args),
    /// Measure the latency table (mutex, syscall, context switch, ...) on this machine.
    Latency(latency::Args),
}

fn main() -> ExitCode {
    match Cli::parse().command {
        Command::Sweep(args) => sweep::run(args),
        Command::Cpu(args) => cpu::run(args),
        Command::Latency(args) => latency::run(args),
        Command::Load(args) => load::run(args),
        Command::Serve(args) => serve::run(args),
    }
}
