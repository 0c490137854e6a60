//! What the measuring commands (`sweep`, `cpu`, `serve`) share on the
//! command line: list options with a `--quick` and a full default, and how
//! a command starts and ends: exit 2 for bad input, found before anything
//! is measured; 1 when no cell produced a figure or on an error; 0
//! otherwise.

use crate::outdir::OutDir;
use anyhow::Result;
use std::process::ExitCode;

/// A comma-separated option: the values given, or else the default
/// (`quick_default` with `--quick`, `full_default` without), sorted and
/// each once.
pub fn sorted_list(
    given: Option<Vec<u64>>,
    quick: bool,
    quick_default: &[u64],
    full_default: &[u64],
) -> Vec<u64> {
    let mut list =
        given.unwrap_or_else(|| if quick { quick_default } else { full_default }.to_vec());
    list.sort_unstable();
    list.dedup();
    list
}

/// A command's settings and its checked report folder (`out`), or, for bad
/// input in either, the usage error said on stderr and exit 2.
pub fn start<C>(
    command: &str,
    config: Result<C>,
    out: impl FnOnce(&C) -> Result<OutDir>,
) -> Result<(C, OutDir), ExitCode> {
    let started = config.and_then(|c| {
        let dir = out(&c)?;
        Ok((c, dir))
    });
    started.map_err(|e| {
        eprintln!("{command}: error: {e:#}");
        ExitCode::from(2)
    })
}

/// How a command ends, from the number of cells it measured: 0 when some
/// cell has a figure; 1 when none has (`none` says so on stderr) or on an
/// error.
pub fn finish(command: &str, measured: Result<usize>, none: &str) -> ExitCode {
    match measured {
        Ok(0) => {
            eprintln!("{command}: {none}");
            ExitCode::FAILURE
        }
        Ok(_) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{command}: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_are_sorted_once_each_with_the_right_default() {
        assert_eq!(
            sorted_list(Some(vec![100, 1, 10, 1]), true, &[2], &[3]),
            [1, 10, 100]
        );
        assert_eq!(sorted_list(None, true, &[1, 20], &[1, 10]), [1, 20]);
        assert_eq!(sorted_list(None, false, &[1, 20], &[1, 10]), [1, 10]);
    }
}
