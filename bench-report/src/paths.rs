//! Where the reports go: `target/report/` of this workspace.

use std::path::{Path, PathBuf};

/// Cargo's target directory: `CARGO_TARGET_DIR` when it is set (and
/// absolute), else the directory above the running executable that holds
/// cargo's `CACHEDIR.TAG` (so `cargo bench`, whose binary sits in
/// `target/release/deps/`, and the sweep, in `target/release/`, agree),
/// else `target/` of the workspace this crate was built from.
pub fn target_dir() -> PathBuf {
    let from_env = std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from);
    if let Some(dir) = from_env.as_ref().filter(|d| d.is_absolute()) {
        return dir.clone();
    }
    if let Some(dir) = std::env::current_exe().ok().and_then(|exe| {
        exe.ancestors()
            .skip(1)
            .find(|d| d.join("CACHEDIR.TAG").is_file())
            .map(Path::to_path_buf)
    }) {
        return dir;
    }
    // A relative CARGO_TARGET_DIR is relative to where cargo was started,
    // which we cannot know: the workspace root is the usual place.
    workspace_root().join(from_env.unwrap_or_else(|| "target".into()))
}

/// The workspace root (the parent of this crate's directory).
pub fn workspace_root() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().unwrap_or(manifest).to_path_buf()
}

/// `target/report/`: the Markdown tables and SVG charts.
pub fn report_dir() -> PathBuf {
    target_dir().join("report")
}

/// `target/criterion/`: criterion's own data and HTML report
/// (`report/index.html` inside it).
pub fn criterion_dir() -> PathBuf {
    match std::env::var_os("CRITERION_HOME") {
        Some(home) => PathBuf::from(home),
        None => target_dir().join("criterion"),
    }
}

/// `path` relative to the workspace root when it is inside it, for
/// printing paths a reader can paste.
pub fn display(path: &Path) -> String {
    let root = workspace_root();
    path.strip_prefix(&root)
        .unwrap_or(path)
        .display()
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_report_goes_under_a_target_directory() {
        let dir = report_dir();
        assert!(dir.ends_with("report"));
        assert!(dir.parent().unwrap().exists(), "{}", dir.display());
    }

    #[test]
    fn paths_inside_the_workspace_print_relative() {
        let p = workspace_root().join("target/report/bench.md");
        assert_eq!(display(&p), "target/report/bench.md");
        assert_eq!(display(Path::new("/elsewhere/x")), "/elsewhere/x");
    }
}
