//! The docs' links lead somewhere the reader has: every relative link in a
//! Markdown file of the repository names a file inside the repository, and
//! a `#anchor` on a Markdown file names one of its headings.

use std::collections::BTreeSet;
use std::path::{Component, Path, PathBuf};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workload sits in the workspace")
        .to_path_buf()
}

/// Every Markdown file of the repository, outside `target/` and hidden folders.
fn markdown_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let path = e.path();
        let name = e.file_name().to_string_lossy().to_string();
        if name.starts_with('.') || name == "target" {
            continue;
        }
        if path.is_dir() {
            markdown_files(&path, out);
        } else if name.ends_with(".md") {
            out.push(path);
        }
    }
}

/// GitHub's anchor for a heading: lower case, spaces to '-', most
/// punctuation dropped.
fn anchor(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter_map(|c| match c {
            ' ' => Some('-'),
            c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
            _ => None,
        })
        .collect()
}

fn anchors(md: &str) -> BTreeSet<String> {
    let mut fenced = false;
    let mut set = BTreeSet::new();
    for line in md.lines() {
        if line.starts_with("```") {
            fenced = !fenced;
        }
        if !fenced && line.starts_with('#') {
            set.insert(anchor(line.trim_start_matches('#')));
        }
    }
    set
}

/// The targets of the inline links `[text](target)` outside code.
fn links(md: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let mut fenced = false;
    for (i, line) in md.lines().enumerate() {
        if line.starts_with("```") {
            fenced = !fenced;
            continue;
        }
        if fenced {
            continue;
        }
        let mut rest = line;
        while let Some(at) = rest.find("](") {
            let after = &rest[at + 2..];
            let Some(end) = after.find(')') else { break };
            out.push((i + 1, after[..end].to_string()));
            rest = &after[end..];
        }
    }
    out
}

/// `path` with `.` and `..` folded, or `None` if it climbs above its start.
fn normalise(path: &Path) -> Option<PathBuf> {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::ParentDir => {
                if !out.pop() {
                    return None;
                }
            }
            Component::CurDir => {}
            other => out.push(other),
        }
    }
    Some(out)
}

#[test]
fn every_relative_link_leads_inside_the_repository() {
    let root = root();
    let mut files = Vec::new();
    markdown_files(&root, &mut files);
    assert!(!files.is_empty());
    let mut problems = Vec::new();
    for file in &files {
        let md = std::fs::read_to_string(file).unwrap();
        let here = file.parent().unwrap().strip_prefix(&root).unwrap();
        let name = file.strip_prefix(&root).unwrap().display().to_string();
        for (line, target) in links(&md) {
            if target.contains("://") || target.starts_with("mailto:") {
                continue;
            }
            let (path, fragment) = match target.split_once('#') {
                Some((p, f)) => (p, Some(f)),
                None => (target.as_str(), None),
            };
            let resolved = if path.is_empty() {
                Some(file.strip_prefix(&root).unwrap().to_path_buf())
            } else {
                normalise(&here.join(path))
            };
            let Some(resolved) = resolved else {
                problems.push(format!(
                    "{name}:{line}: {target} leads outside the repository"
                ));
                continue;
            };
            let full = root.join(&resolved);
            if !full.exists() {
                problems.push(format!("{name}:{line}: {target}: no such file"));
                continue;
            }
            if let (Some(fragment), true) =
                (fragment, resolved.extension().is_some_and(|e| e == "md"))
            {
                let text = std::fs::read_to_string(&full).unwrap();
                if !anchors(&text).contains(fragment) {
                    problems.push(format!(
                        "{name}:{line}: {target}: no heading for #{fragment}"
                    ));
                }
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn the_checker_knows_github_anchors() {
    assert_eq!(
        anchor(" Level-triggered and edge-triggered"),
        "level-triggered-and-edge-triggered"
    );
    assert_eq!(anchor(" 1. Blocking: one page"), "1-blocking-one-page");
    assert_eq!(anchor(" async / await"), "async--await");
    assert_eq!(normalise(Path::new("a/../../b")), None);
    let md = "see [x](a.md#b) and [y](c.md)\n```\n[z](no.md)\n```\n";
    assert_eq!(
        links(md),
        [(1, "a.md#b".to_string()), (1, "c.md".to_string())]
    );
}
