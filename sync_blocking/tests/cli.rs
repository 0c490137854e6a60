//! The command-line contract, through the real binary: JSON fields, exit
//! statuses, usage errors, and `--url` against a server it did not start.

use std::process::{Command, Output};

fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sync_blocking"))
        .args(args)
        .output()
        .expect("the lesson binary runs")
}

fn json(out: &Output) -> serde_json::Value {
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(text.lines().count(), 1, "exactly one JSON line: {text}");
    serde_json::from_str(&text).expect("stdout is one JSON object")
}

#[test]
fn json_carries_every_contract_field() {
    let out = run(&["--pages", "3", "--latency-ms", "5", "--json"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r = json(&out);
    for field in [
        "model",
        "variant",
        "pages",
        "ok",
        "failed",
        "latency_ms",
        "wall_ms",
        "ideal_ms",
        "cpu_ms",
        "max_rss_kb",
        "traces",
    ] {
        assert!(r.get(field).is_some(), "missing {field}");
    }
    assert_eq!(r["model"], "sync_blocking");
    assert_eq!(r["variant"], "blocking");
    assert_eq!((r["pages"].as_u64(), r["ok"].as_u64()), (Some(3), Some(3)));
    assert_eq!(r["ideal_ms"].as_f64(), Some(15.0));
    let traces = r["traces"].as_array().unwrap();
    assert_eq!(traces.len(), 3);
    for (i, t) in traces.iter().enumerate() {
        for field in [
            "page",
            "url",
            "status",
            "bytes",
            "start_ms",
            "connected_ms",
            "first_byte_ms",
            "done_ms",
            "error",
        ] {
            assert!(t.get(field).is_some(), "trace {i} lacks {field}");
        }
        assert_eq!(t["page"].as_u64(), Some(i as u64));
        assert_eq!(t["status"].as_u64(), Some(200));
        assert_eq!(t["bytes"].as_u64(), Some(1256));
        assert!(t["error"].is_null());
    }
}

#[test]
fn url_of_a_separate_server_and_a_failed_page() {
    let server = workload::Server::start(workload::ServerConfig {
        latency: std::time::Duration::ZERO,
        ..Default::default()
    })
    .unwrap();
    let url = server.url();
    let out = run(&["--url", &url, "--pages", "2", "--json"]);
    assert_eq!(out.status.code(), Some(0));
    let r = json(&out);
    assert!(r["ideal_ms"].is_null(), "latency unknown with --url");
    assert!(r["latency_ms"].is_null());
    assert_eq!(server.served(), 2, "the pages came from our server");
    // A page below the base path does not exist: 404, exit 1, named on stderr.
    let out = run(&["--url", &format!("{url}/missing"), "--pages", "1"]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("page 0") && stderr.contains("404"),
        "{stderr}"
    );
}

#[test]
fn usage_errors_exit_2_with_a_message() {
    for (args, says) in [
        (&["--bogus"][..], "unexpected argument"),
        (&["--pages", "0"], "--pages"),
        (&["--pages", "ten"], "--pages"),
        (
            &["--variant", "nope"],
            "invalid value 'nope' for '--variant",
        ),
        (&["--url", "https://example.com"], "only http://"),
        (&["--url", "not a url"], "not a URL"),
        (&["--timeout-ms", "0"], "--timeout-ms"),
        (&["--url", "http://127.0.0.1:1", "--stagger"], "--stagger"),
    ] {
        let out = run(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(says), "{args:?}: {stderr}");
        assert!(out.stdout.is_empty(), "{args:?}: nothing on stdout");
    }
}

#[test]
fn help_explains_flags_and_variants() {
    let out = run(&["--help"]);
    assert_eq!(out.status.code(), Some(0));
    let help = String::from_utf8_lossy(&out.stdout);
    for flag in [
        "--pages",
        "--latency-ms",
        "--size",
        "--url",
        "--workers",
        "--timeout-ms",
        "--max-bytes",
        "--variant",
        "--json",
        "--stagger",
        "blocking",
    ] {
        assert!(help.contains(flag), "--help lacks {flag}");
    }
}

#[test]
fn human_output_is_a_timeline_that_fits_80_columns() {
    let out = run(&["--pages", "4", "--latency-ms", "5"]);
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.lines().all(|l| l.chars().count() <= 80), "{text}");
    assert_eq!(
        text.lines().filter(|l| l.contains("200 1256B")).count(),
        4,
        "{text}"
    );
    assert!(text.contains("wall ") && text.contains("ideal 20 ms") && text.contains("peak RSS"));
}

#[test]
fn peak_rss_is_the_lesson_s_own_not_its_parent_s() {
    // 256 MiB resident in this process when it forks the lesson: a peak
    // taken from ru_maxrss would carry it across exec (as under `cargo run`).
    let ballast = vec![1u8; 256 << 20];
    let out = run(&["--pages", "1", "--latency-ms", "0", "--json"]);
    assert_eq!(std::hint::black_box(&ballast)[12345], 1);
    drop(ballast);
    let peak_kb = json(&out)["max_rss_kb"].as_u64().unwrap();
    assert!(
        peak_kb > 0 && peak_kb < 128 * 1024,
        "peak RSS {peak_kb} KiB"
    );
}

#[test]
fn peak_rss_ignores_what_the_parent_s_children_used() {
    // The kernel hands a process its parent's "largest child" figure; a
    // shell that ran something big before the lesson must not show in it.
    let script = format!(
        "python3 -c 'x = bytearray(200_000_000); x[::4096] = bytes(len(x[::4096]))' 2>/dev/null \
         || head -c 200000000 /dev/zero | tail -c 1 >/dev/null; \
         exec {} --pages 1 --latency-ms 0 --json",
        env!("CARGO_BIN_EXE_sync_blocking")
    );
    let out = Command::new("sh").arg("-c").arg(script).output().unwrap();
    let peak_kb = json(&out)["max_rss_kb"].as_u64().unwrap();
    assert!(
        peak_kb > 0 && peak_kb < 128 * 1024,
        "peak RSS {peak_kb} KiB"
    );
}
