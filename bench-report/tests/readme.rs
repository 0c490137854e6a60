//! The docs show the reports' tables as the runs wrote them: the table
//! after a marker such as `<!-- bench-table: docs/report/bench.md -->` (in
//! README.md or a walkthrough chapter) must equal the first table of the
//! file it names, line for line.

use std::path::{Path, PathBuf};

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

/// `(line, report path)` of every table marker in `text`.
fn markers(text: &str) -> Vec<(usize, String)> {
    text.lines()
        .enumerate()
        .filter_map(|(i, l)| {
            let inner = l.trim().strip_prefix("<!-- ")?.strip_suffix(" -->")?;
            let (name, path) = inner.split_once(": ")?;
            name.ends_with("-table")
                .then(|| (i, path.trim().to_string()))
        })
        .collect()
}

fn docs() -> Vec<PathBuf> {
    let mut files = vec![root().join("README.md")];
    for e in std::fs::read_dir(root().join("walkthrough"))
        .unwrap()
        .flatten()
    {
        if e.path().extension().is_some_and(|x| x == "md") {
            files.push(e.path());
        }
    }
    files
}

#[test]
fn every_table_shown_is_the_reports() {
    let mut shown_tables = 0;
    for file in docs() {
        let text = std::fs::read_to_string(&file).unwrap();
        for (line, report) in markers(&text) {
            let written = std::fs::read_to_string(root().join(&report))
                .unwrap_or_else(|e| panic!("{}: {report}: {e}", file.display()));
            let written = table(&written, 0);
            assert!(written.len() > 2, "{report} has a table");
            assert_eq!(
                table(&text, line + 1),
                written,
                "{} line {}: the table differs from {report}: copy it over",
                file.display(),
                line + 1
            );
            shown_tables += 1;
        }
    }
    assert!(
        shown_tables >= 2,
        "README.md and chapter 9 show the reports"
    );
}

#[test]
fn markers_name_their_report() {
    let text = "a\n<!-- bench-table: docs/report/bench.md -->\n| x |\n<!-- snippet: a.rs#b -->\n";
    assert_eq!(markers(text), [(1, "docs/report/bench.md".to_string())]);
    assert_eq!(table(text, 2), ["| x |"]);
}
