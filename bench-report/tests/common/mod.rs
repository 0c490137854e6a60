//! What the binary's end-to-end tests share: a fresh output folder, a run of
//! one subcommand, and its output for an assertion message.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A fresh, empty-to-be folder under cargo's per-target temp dir.
pub fn out_dir(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// `bench-report <command> <args> --out <out>`.
pub fn run(command: &str, args: &[&str], out: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_bench-report"))
        .arg(command)
        .args(args)
        .arg("--out")
        .arg(out)
        .output()
        .expect("the bench-report binary runs")
}

/// The status and both streams, for a failed assertion's message.
pub fn text(o: &Output) -> String {
    format!(
        "status {:?}\n--- stdout\n{}\n--- stderr\n{}",
        o.status,
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}
