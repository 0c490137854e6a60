//! The walkthrough and the READMEs show code taken from the source, and this
//! test keeps them from drifting apart.
//!
//! In a Markdown file, a fenced block right after a marker line
//!
//! ```text
//! <!-- snippet: sync_blocking/src/lib.rs#blocking_way -->
//! ```
//!
//! must equal the lines between `// ANCHOR: blocking_way` and
//! `// ANCHOR_END: blocking_way` in that file (mdBook's anchor syntax; the
//! anchor lines themselves, and nested ones, are left out). When the source
//! changes, refresh every block with
//!
//! ```text
//! SNIPPETS=bless cargo test -p workload --test snippets
//! ```
//!
//! and `SNIPPETS_ONLY=walkthrough/05` (any part of a path) checks or
//! refreshes only the Markdown files whose path contains it.

use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workload sits in the workspace")
        .to_path_buf()
}

/// Every Markdown file that may show code: the root's, the walkthrough's,
/// and each crate's README.
fn markdown_files(root: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for dir in [root.to_path_buf(), root.join("walkthrough")] {
        if let Ok(entries) = std::fs::read_dir(&dir) {
            for e in entries.flatten() {
                let p = e.path();
                if p.extension().is_some_and(|x| x == "md") {
                    files.push(p);
                }
            }
        }
    }
    if let Ok(entries) = std::fs::read_dir(root) {
        for e in entries.flatten() {
            let readme = e.path().join("README.md");
            if e.path().join("Cargo.toml").exists() && readme.exists() {
                files.push(readme);
            }
        }
    }
    files.sort();
    files
}

/// The lines of `file` between its `ANCHOR: name` and `ANCHOR_END: name`.
fn anchored(root: &Path, file: &str, name: &str) -> Result<String, String> {
    let text =
        std::fs::read_to_string(root.join(file)).map_err(|e| format!("cannot read {file}: {e}"))?;
    let is_marker = |l: &str| l.contains("ANCHOR: ") || l.contains("ANCHOR_END: ");
    let begin = format!("ANCHOR: {name}");
    let end = format!("ANCHOR_END: {name}");
    let mut lines = text.lines().skip_while(|l| !l.trim_end().ends_with(&begin));
    if lines.next().is_none() {
        return Err(format!("{file} has no `// {begin}`"));
    }
    let mut out = String::new();
    for line in lines {
        if line.trim_end().ends_with(&end) {
            return Ok(out);
        }
        if !is_marker(line) {
            out.push_str(line);
            out.push('\n');
        }
    }
    Err(format!("{file}: `// {begin}` has no `// {end}`"))
}

/// Check (or, with `bless`, rewrite) the snippets of one Markdown text.
/// Returns the text as it should be and the problems found.
fn check(root: &Path, md: &str, bless: bool) -> (String, Vec<String>) {
    let lines: Vec<&str> = md.split_inclusive('\n').collect();
    let mut out = String::new();
    let mut problems = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        out.push_str(lines[i]);
        let Some(target) = lines[i]
            .trim()
            .strip_prefix("<!-- snippet:")
            .and_then(|r| r.strip_suffix("-->"))
        else {
            i += 1;
            continue;
        };
        let line_no = i + 1;
        let target = target.trim();
        let Some((file, name)) = target.split_once('#') else {
            problems.push(format!("line {line_no}: `{target}` is not FILE#ANCHOR"));
            i += 1;
            continue;
        };
        if !lines.get(i + 1).is_some_and(|l| l.starts_with("```")) {
            problems.push(format!(
                "line {line_no}: a snippet marker must be followed by a ``` block"
            ));
            i += 1;
            continue;
        }
        out.push_str(lines[i + 1]);
        let body_start = i + 2;
        let Some(len) = lines[body_start..]
            .iter()
            .position(|l| l.starts_with("```"))
        else {
            problems.push(format!("line {line_no}: the code block never closes"));
            break;
        };
        let shown: String = lines[body_start..body_start + len].concat();
        match anchored(root, file, name) {
            Ok(source) if source == shown => out.push_str(&shown),
            Ok(source) => {
                if !bless {
                    problems.push(format!(
                        "line {line_no}: the block differs from {file}#{name}; refresh with SNIPPETS=bless"
                    ));
                }
                out.push_str(&source);
            }
            Err(e) => {
                problems.push(format!("line {line_no}: {e}"));
                out.push_str(&shown);
            }
        }
        out.push_str(lines[body_start + len]);
        i = body_start + len + 1;
    }
    (out, problems)
}

#[test]
fn shown_code_matches_the_source() {
    let root = root();
    let bless = std::env::var("SNIPPETS").is_ok_and(|v| v == "bless");
    let only = std::env::var("SNIPPETS_ONLY").unwrap_or_default();
    let mut problems = Vec::new();
    let mut snippets = 0;
    let files = markdown_files(&root).into_iter();
    for file in files.filter(|f| f.to_string_lossy().contains(only.as_str())) {
        let md = std::fs::read_to_string(&file).unwrap();
        snippets += md.matches("<!-- snippet:").count();
        let (fixed, found) = check(&root, &md, bless);
        let name = file.strip_prefix(&root).unwrap().display().to_string();
        problems.extend(found.into_iter().map(|p| format!("{name}: {p}")));
        if bless && fixed != md {
            std::fs::write(&file, fixed).unwrap();
            eprintln!("refreshed {name}");
        }
    }
    assert!(
        snippets > 0 || !only.is_empty(),
        "no snippet markers found: the walkthrough shows no checked code"
    );
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn the_checker_sees_drift() {
    let dir = std::env::temp_dir().join(format!("snippets-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("src")).unwrap();
    std::fs::write(
        dir.join("src/a.rs"),
        "fn x() {}\n// ANCHOR: two\nfn a() {}\n// ANCHOR: inner\nfn b() {}\n// ANCHOR_END: inner\n// ANCHOR_END: two\n",
    )
    .unwrap();
    let good = "text\n<!-- snippet: src/a.rs#two -->\n```rust\nfn a() {}\nfn b() {}\n```\nmore\n";
    assert_eq!(check(&dir, good, false), (good.to_string(), vec![]));
    let stale = good.replace("fn b() {}", "fn c() {}");
    let (fixed, problems) = check(&dir, &stale, false);
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert_eq!(fixed, good, "bless would restore the source");
    let missing = good.replace("#two", "#three");
    assert!(check(&dir, &missing, false).1[0].contains("no `// ANCHOR: three`"));
    let unfenced = "<!-- snippet: src/a.rs#two -->\ntext\n";
    assert_eq!(check(&dir, unfenced, false).1.len(), 1);
    std::fs::remove_dir_all(dir).unwrap();
}
