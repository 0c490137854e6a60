//! The README shows `cargo bench`'s table as the run wrote it: the block
//! after its `<!-- bench-table: docs/report/bench.md -->` marker must equal
//! the table in that file, line for line.

use std::path::Path;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("bench-report sits in the workspace")
}

/// The first Markdown table at or after line `from`.
fn table(text: &str, from: usize) -> Vec<&str> {
    text.lines()
        .skip(from)
        .skip_while(|l| !l.starts_with('|'))
        .take_while(|l| l.starts_with('|'))
        .collect()
}

#[test]
fn the_readme_table_is_the_benchs() {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let marker = "<!-- bench-table: docs/report/bench.md -->";
    let at = readme
        .lines()
        .position(|l| l.trim() == marker)
        .expect("README.md marks the bench table");
    let shown = table(&readme, at + 1);
    let report = std::fs::read_to_string(root().join("docs/report/bench.md")).unwrap();
    let written = table(&report, 0);
    assert!(written.len() > 2, "docs/report/bench.md has a table");
    assert_eq!(
        shown, written,
        "README.md's bench table differs from docs/report/bench.md: copy the table over"
    );
}
