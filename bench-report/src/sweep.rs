//! The sweep: not written yet (issue #6).

use std::process::ExitCode;

#[derive(Debug, clap::Args)]
pub struct Args {}

pub fn run(_args: Args) -> ExitCode {
    eprintln!("bench-report sweep: not written yet");
    ExitCode::from(2)
}
