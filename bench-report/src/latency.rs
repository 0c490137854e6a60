//! The CPU's sense of time: not written yet (issue #7).

use std::process::ExitCode;

#[derive(Debug, clap::Args)]
pub struct Args {}

pub fn run(_args: Args) -> ExitCode {
    eprintln!("bench-report latency: not written yet");
    ExitCode::from(2)
}
