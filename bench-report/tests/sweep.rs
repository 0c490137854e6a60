//! The sweep, end to end, through the binary: `sweep --quick` writes every
//! file, with a row for every lesson variant and values that parse; a run
//! past its time limit is killed and the table says so; bad input is a
//! usage error found before anything is measured; a sweep in which no cell
//! produced a figure exits 1. Nothing here asserts a timing.

use bench_report::{table, LESSONS};
use std::path::Path;
use std::process::Output;

mod common;
use common::{out_dir, text};

fn sweep(args: &[&str], out: &Path) -> Output {
    common::run("sweep", args, out)
}

fn number(cell: &str) -> f64 {
    cell.parse::<f64>()
        .unwrap_or_else(|_| panic!("'{cell}' is not a number"))
}

#[test]
fn quick_sweep_writes_a_row_for_every_variant() {
    let out = out_dir("sweep-quick");
    let o = sweep(&["--quick"], &out);
    assert!(o.status.success(), "{}", text(&o));

    let variants: Vec<(&str, &str)> = LESSONS
        .iter()
        .flat_map(|l| l.variants.iter().map(move |v| (l.name, v.name)))
        .collect();

    for f in [
        "sweep.md",
        "sweep.json",
        "sweep-wall.svg",
        "sweep-cpu.svg",
        "sweep-rss.svg",
    ] {
        assert!(out.join(f).is_file(), "{f} missing\n{}", text(&o));
    }
    for svg in ["sweep-wall.svg", "sweep-cpu.svg", "sweep-rss.svg"] {
        let s = std::fs::read_to_string(out.join(svg)).unwrap();
        assert!(
            s.starts_with("<svg") && s.trim_end().ends_with("</svg>"),
            "{svg}"
        );
    }

    let md = std::fs::read_to_string(out.join("sweep.md")).unwrap();
    // The N x variant table: one row per variant, a cell per N.
    let wall = table::parse(&md, &["lesson", "variant", "N=10", "N=40"]);
    let names: Vec<(&str, &str)> = wall
        .iter()
        .map(|r| (r[0].as_str(), r[1].as_str()))
        .collect();
    assert_eq!(names, variants, "{md}");
    assert!(wall
        .iter()
        .all(|r| r.len() == 4 && !r[2].is_empty() && !r[3].is_empty()));

    // Every figure: one row per variant and N, numbers where measured.
    let details = table::parse(&md, &["lesson", "variant", "N", "in flight", "status"]);
    assert_eq!(details.len(), variants.len() * 2, "{md}");
    let mut measured = 0;
    for r in &details {
        let pages = number(&r[2]);
        assert!(pages == 10.0 || pages == 40.0, "{r:?}");
        assert!(number(&r[3]) >= 1.0, "{r:?}");
        assert!(number(&r[6]) > 0.0, "ideal: {r:?}");
        match r[4].as_str() {
            "measured" => {
                measured += 1;
                for col in [5, 7, 8, 9, 10, 11, 12, 14, 15] {
                    number(&r[col]);
                }
                assert!(number(&r[11]) > 0.0, "peak RSS: {r:?}");
            }
            "estimated" | "not run" | "not available" | "failed" => assert_eq!(r[5], "-", "{r:?}"),
            other => panic!("status '{other}' in {r:?}"),
        }
    }
    assert!(measured > 0, "{md}");

    // Lesson 1 runs at N=10 (200 ms ideal) and is estimated at N=40 (800 ms,
    // over the quick sweep's 0.5 s): both paths of the decision are taken.
    let blocking = |n: &str| {
        details
            .iter()
            .find(|r| r[0] == "sync_blocking" && r[2] == n)
            .unwrap()
            .clone()
    };
    assert_eq!(blocking("10")[4], "measured", "{md}");
    assert_eq!(blocking("40")[4], "estimated", "{md}");
    assert!(
        md.contains("estimated, not run: one page at a time"),
        "{md}"
    );

    // One timeline per lesson at the smallest N.
    for l in LESSONS {
        let f = out.join(format!("timeline-{}.svg", l.name));
        assert!(f.is_file(), "{} missing\n{md}", f.display());
        let s = std::fs::read_to_string(&f).unwrap();
        assert!(s.contains("page 0"), "{}", f.display());
    }

    // The JSON holds the same cells.
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("sweep.json")).unwrap()).unwrap();
    let cells = json["cells"].as_array().unwrap();
    assert_eq!(cells.len(), variants.len() * 2);
    for c in cells {
        assert!(
            c["wall_ms"].is_f64() || c["reason"].is_string(),
            "a cell with neither a time nor a reason: {c}"
        );
    }
}

#[test]
fn a_run_past_its_time_limit_is_killed_and_the_table_says_so() {
    let out = out_dir("sweep-time-limit");
    // Three pages one after another at 3 s each would take 9 s.
    let o = sweep(
        &[
            "--models",
            "sync_blocking",
            "--pages",
            "3",
            "--latency-ms",
            "3000",
            "--run-up-to-s",
            "60",
            "--time-limit-s",
            "1",
        ],
        &out,
    );
    // No cell produced a figure: exit 1, and the report says why.
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let md = std::fs::read_to_string(out.join("sweep.md")).unwrap();
    let details = table::parse(&md, &["lesson", "variant", "N", "in flight", "status"]);
    assert_eq!(details.len(), LESSONS[0].variants.len(), "{md}");
    assert!(details.iter().all(|r| r[4] == "failed"), "{md}");
    assert!(md.contains("killed at the 1 s time limit"), "{md}");
}

#[test]
fn bad_models_are_a_usage_error_with_the_choices() {
    let out = out_dir("sweep-bad-models");
    let o = sweep(&["--models", "no_such_lesson"], &out);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("no lesson 'no_such_lesson'"), "{err}");
    assert!(err.contains("sync_blocking"), "{err}");
    assert!(!out.exists(), "nothing is written for a usage error");

    let o = sweep(&["--models", "sync_blocking/no_such_variant"], &out);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(String::from_utf8_lossy(&o.stderr).contains("no variant 'no_such_variant'"));

    let o = sweep(&["--lesson-args", "coroutine"], &out);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(String::from_utf8_lossy(&o.stderr).contains("LESSON=FLAGS"));
    assert!(!out.exists());
}

/// A sweep of one cheap cell, with `args` after it.
fn small(extra: &[&str]) -> Vec<String> {
    let mut args: Vec<String> = [
        "--models",
        "sync_blocking",
        "--pages",
        "2",
        "--latency-ms",
        "1",
    ]
    .map(String::from)
    .to_vec();
    args.extend(extra.iter().map(|a| a.to_string()));
    args
}

fn sweep_strings(args: &[String], out: &Path) -> Output {
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    sweep(&args, out)
}

/// Nothing was measured: the page server never started.
fn measured_nothing(o: &Output) -> bool {
    !String::from_utf8_lossy(&o.stderr).contains("page-server at")
}

#[test]
fn an_unusable_out_folder_is_refused_before_anything_is_measured() {
    let base = out_dir("sweep-bad-out");
    std::fs::create_dir_all(&base).unwrap();
    let file = base.join("a-file");
    std::fs::write(&file, "not a folder").unwrap();
    for bad in [file.clone(), file.join("below")] {
        let o = sweep_strings(&small(&[]), &bad);
        assert_eq!(o.status.code(), Some(2), "{}", text(&o));
        assert!(measured_nothing(&o), "{}", text(&o));
        assert!(
            String::from_utf8_lossy(&o.stderr).contains("--out"),
            "{}",
            text(&o)
        );
    }
    let real = base.join("real");
    std::fs::create_dir_all(&real).unwrap();
    let link = base.join("link");
    std::os::unix::fs::symlink(&real, &link).unwrap();
    let o = sweep_strings(&small(&[]), &link);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("symlink"),
        "{}",
        text(&o)
    );
    assert!(measured_nothing(&o), "{}", text(&o));
    assert_eq!(std::fs::read_dir(&real).unwrap().count(), 0);
}

#[test]
fn reports_go_neither_through_a_symlink_nor_over_an_unrelated_file() {
    let base = out_dir("sweep-foreign-files");
    let through = base.join("through");
    std::fs::create_dir_all(&through).unwrap();
    let victim = base.join("victim.txt");
    std::fs::write(&victim, "precious").unwrap();
    std::os::unix::fs::symlink(&victim, through.join("sweep.md")).unwrap();
    let o = sweep_strings(&small(&[]), &through);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(measured_nothing(&o), "{}", text(&o));
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious");

    let foreign = base.join("foreign");
    std::fs::create_dir_all(&foreign).unwrap();
    std::fs::write(foreign.join("sweep.json"), "my own notes").unwrap();
    let o = sweep_strings(&small(&[]), &foreign);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("not written by bench-report"),
        "{}",
        text(&o)
    );
    assert_eq!(
        std::fs::read_to_string(foreign.join("sweep.json")).unwrap(),
        "my own notes"
    );
}

#[test]
fn a_sweep_in_which_every_cell_failed_exits_1_and_says_why() {
    let out = out_dir("sweep-all-failed");
    let o = sweep_strings(
        &small(&["--lesson-args", "sync_blocking=--no-such-flag"]),
        &out,
    );
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let md = std::fs::read_to_string(out.join("sweep.md")).unwrap();
    let details = table::parse(&md, &["lesson", "variant", "N", "in flight", "status"]);
    assert!(
        !details.is_empty() && details.iter().all(|r| r[4] == "failed"),
        "{md}"
    );
    assert!(md.contains("--no-such-flag"), "{md}");
}

#[test]
fn a_missing_binary_folder_gets_advice_that_fits_it() {
    let out = out_dir("sweep-no-bin-dir");
    let o = sweep_strings(&small(&["--bin-dir", "/nonexistent", "--no-build"]), &out);
    assert_ne!(o.status.code(), Some(0), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!err.contains("--profile"), "{err}");
    assert!(
        err.contains("build the lesson binaries into it, or drop --no-build"),
        "{err}"
    );
}
