//! The cpu command through the binary: bad arguments are usage errors
//! found before anything runs, and a tiny run writes `cpu.md` with a row
//! per variant and `cpu.svg` with its two reference lines. Behaviour only,
//! never a timing.

use bench_report::{lesson, table};
use std::path::Path;
use std::process::Output;

mod common;
use common::{out_dir, text};

fn cpu(args: &[&str], out: &Path) -> Output {
    common::run("cpu", args, out)
}

#[test]
fn bad_arguments_are_usage_errors() {
    let out = out_dir("cpu-bad-args");
    for (args, says) in [
        (&["--pages", "0"][..], "--pages"),
        (&["--cpu-us", "0"], "--cpu-us"),
        (&["--cpu-us", "lots"], "--cpu-us"),
        (&["--latency-ms", "soon"], "--latency-ms"),
        (&["--repeat", "0"], "--repeat"),
        (&["--run-up-to-s=-1"], "run-up-to-s"),
        (
            &["--models", "no_such_lesson"],
            "no lesson 'no_such_lesson'",
        ),
        (&["--lesson-args", "sync_blocking"], "LESSON=FLAGS"),
    ] {
        let o = cpu(args, &out);
        assert_eq!(o.status.code(), Some(2), "{args:?}\n{}", text(&o));
        assert!(
            String::from_utf8_lossy(&o.stderr).contains(says),
            "{args:?}\n{}",
            text(&o)
        );
    }
    assert!(!out.exists(), "nothing is written for a usage error");
}

#[test]
fn a_tiny_run_writes_a_row_per_variant_and_the_chart() {
    let out = out_dir("cpu-tiny");
    let o = cpu(
        &[
            "--pages",
            "4",
            "--latency-ms",
            "1",
            "--cpu-us",
            "100",
            "--models",
            "sync_blocking",
        ],
        &out,
    );
    assert!(o.status.success(), "{}", text(&o));
    let md = std::fs::read_to_string(out.join("cpu.md")).unwrap();
    assert!(md.contains("`--cpu-us`"), "{md}");
    let header = [
        "lesson",
        "variant",
        "in flight",
        "status",
        "wall ms",
        "cpu ms",
        "wall / (N x cpu)",
        "ideal I/O ms",
        "beyond I/O ms",
        "the work",
    ];
    let rows = table::parse(&md, &header);
    let variants: Vec<&str> = lesson("sync_blocking")
        .unwrap()
        .variants
        .iter()
        .map(|v| v.name)
        .collect();
    let names: Vec<&str> = rows.iter().map(|r| r[1].as_str()).collect();
    assert_eq!(names, variants, "{md}");
    for r in &rows {
        assert_eq!(r.len(), header.len(), "{r:?}");
        assert_eq!(r[3], "measured", "{md}");
        for col in [4, 5, 6, 7, 8] {
            r[col]
                .parse::<f64>()
                .unwrap_or_else(|_| panic!("'{}' in {r:?}", r[col]));
        }
        assert!(
            [
                "serialised",
                "parallel",
                "one core: cannot tell",
                "cannot tell: other costs exceed the work",
                "not spent: cpu below N x cpu"
            ]
            .contains(&r[9].as_str()),
            "{r:?}"
        );
    }
    let svg = std::fs::read_to_string(out.join("cpu.svg")).unwrap();
    assert!(svg.starts_with("<svg"), "{svg}");
    assert!(svg.contains("N x cpu = ") && svg.contains("N x cpu / cores"));
}
