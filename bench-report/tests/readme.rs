//! The docs show the reports' tables as the runs wrote them: the table
//! after a marker such as `<!-- bench-table: docs/report/bench.md -->` (in
//! README.md or a walkthrough chapter) must equal the first table of the
//! file it names, line for line; `docs/report/serve.md#3` names its third.

use std::path::{Path, PathBuf};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("bench-report sits in the workspace")
}

/// The first Markdown table at or after line `from`.
fn table(text: &str, from: usize) -> Vec<&str> {
    nth_table(text, from, 1)
}

/// The `n`-th Markdown table (from 1) at or after line `from`.
fn nth_table(text: &str, from: usize, n: usize) -> Vec<&str> {
    let mut lines = text.lines().skip(from).peekable();
    let mut found = Vec::new();
    for _ in 0..n {
        while lines.next_if(|l| !l.starts_with('|')).is_some() {}
        found = std::iter::from_fn(|| lines.next_if(|l| l.starts_with('|'))).collect();
    }
    found
}

/// A marker's report and which of its tables: `file#n`, or the first.
fn report_and_table(marker: &str) -> (&str, usize) {
    match marker.rsplit_once('#') {
        Some((file, n)) => (file, n.parse().expect("#n names a table by number")),
        None => (marker, 1),
    }
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
        for (line, marker) in markers(&text) {
            let (report, n) = report_and_table(&marker);
            let written = std::fs::read_to_string(root().join(report))
                .unwrap_or_else(|e| panic!("{}: {report}: {e}", file.display()));
            let written = nth_table(&written, 0, n);
            assert!(written.len() > 2, "{marker} has a table");
            assert_eq!(
                table(&text, line + 1),
                written,
                "{} line {}: the table differs from {marker}: copy it over",
                file.display(),
                line + 1
            );
            shown_tables += 1;
        }
    }
    assert!(
        shown_tables >= 4,
        "README.md, chapter 9 and chapter 10 show the reports"
    );
}

#[test]
fn markers_name_their_report() {
    let text = "a\n<!-- bench-table: docs/report/bench.md -->\n| x |\n<!-- snippet: a.rs#b -->\n";
    assert_eq!(markers(text), [(1, "docs/report/bench.md".to_string())]);
    assert_eq!(table(text, 2), ["| x |"]);
    let two = "| a |\n| b |\ntext\n| c |\n";
    assert_eq!(nth_table(two, 0, 2), ["| c |"]);
    assert_eq!(report_and_table("x.md#2"), ("x.md", 2));
    assert_eq!(report_and_table("x.md"), ("x.md", 1));
}
