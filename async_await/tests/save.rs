//! `--save DIR`, on every variant: each page's body lands in its file, byte
//! for byte; nothing already in DIR is followed or overwritten without
//! `--force`; a directory that cannot be used is a usage error on the
//! command line and a named failure of every page for a plan built in code.

use std::path::{Path, PathBuf};
use std::process::Command;
use workload::{ErrorKind, Plan, Server, ServerConfig, Trace};

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("async_await-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn server() -> Server {
    Server::start(ServerConfig {
        latency: std::time::Duration::ZERO,
        size: 700,
        ..Default::default()
    })
    .unwrap()
}

fn save_to(server: &Server, pages: usize, dir: &Path, force: bool) -> Plan {
    Plan::new(&server.url(), pages)
        .unwrap()
        .with_options(async_await::SaveFlags {
            save: Some(dir.to_path_buf()),
            force,
        })
}

/// The named failure's text, or "" for a page that is ok.
fn detail(t: &Trace) -> &str {
    t.error.as_ref().map_or("", |e| e.detail.as_str())
}

#[test]
fn save_writes_every_page_on_every_variant() {
    let server = server();
    let root = scratch("save");
    for variant in async_await::LESSON.variants {
        let dir = root.join(variant.name);
        let plan = save_to(&server, 3, &dir, false);
        let report = async_await::LESSON.run(variant, &plan, None);
        assert_eq!(report.ok, 3, "{}: {:?}", variant.name, report.traces);
        for i in 0..3 {
            let saved = std::fs::read(async_await::save::path(&dir, i)).unwrap();
            assert_eq!(
                saved,
                workload::server::page_body(i, 700),
                "{} page {i}",
                variant.name
            );
        }
    }
    let _ = std::fs::remove_dir_all(&root);
}

/// A symlink already in DIR is never followed: without `--force` its page
/// fails by name; with it, the link itself is replaced by the page's file.
/// Either way the file it points at keeps its bytes.
#[test]
fn a_symlink_in_the_save_dir_is_never_followed() {
    let server = server();
    let root = scratch("symlink");
    for variant in async_await::LESSON.variants {
        for force in [false, true] {
            let dir = root.join(format!("{}-{force}", variant.name));
            std::fs::create_dir_all(&dir).unwrap();
            let victim = root.join(format!("victim-{}-{force}", variant.name));
            std::fs::write(&victim, b"precious").unwrap();
            let link = async_await::save::path(&dir, 0);
            std::os::unix::fs::symlink(&victim, &link).unwrap();

            let plan = save_to(&server, 2, &dir, force);
            let report = async_await::LESSON.run(variant, &plan, None);
            let name = format!("{} force={force}", variant.name);
            assert_eq!(std::fs::read(&victim).unwrap(), b"precious", "{name}");
            assert!(report.traces[1].is_ok(), "{name}: {:?}", report.traces);
            if force {
                assert!(report.traces[0].is_ok(), "{name}: {:?}", report.traces);
                assert!(!std::fs::symlink_metadata(&link).unwrap().is_symlink());
                assert_eq!(
                    std::fs::read(&link).unwrap(),
                    workload::server::page_body(0, 700),
                    "{name}"
                );
            } else {
                let t = &report.traces[0];
                assert_eq!(t.error_kind(), Some(ErrorKind::Io), "{name}: {t:?}");
                assert!(detail(t).contains("exists; give --force"), "{name}: {t:?}");
                assert!(std::fs::symlink_metadata(&link).unwrap().is_symlink());
            }
        }
    }
    let _ = std::fs::remove_dir_all(&root);
}

/// A file already in DIR stays as it was unless `--force` is given.
#[test]
fn an_existing_page_file_is_replaced_only_with_force() {
    let server = server();
    let root = scratch("exists");
    for variant in async_await::LESSON.variants {
        let dir = root.join(variant.name);
        std::fs::create_dir_all(&dir).unwrap();
        let old = async_await::save::path(&dir, 1);
        std::fs::write(&old, b"old").unwrap();

        let report = async_await::LESSON.run(variant, &save_to(&server, 2, &dir, false), None);
        let t = &report.traces[1];
        assert_eq!(
            t.error_kind(),
            Some(ErrorKind::Io),
            "{}: {t:?}",
            variant.name
        );
        assert!(detail(t).contains("page-1.html"), "{t:?}");
        assert!(detail(t).contains("exists; give --force"), "{t:?}");
        assert_eq!(std::fs::read(&old).unwrap(), b"old", "{}", variant.name);

        // Page 0's file is there now too: --force replaces both.
        let report = async_await::LESSON.run(variant, &save_to(&server, 2, &dir, true), None);
        assert_eq!(report.ok, 2, "{}: {:?}", variant.name, report.traces);
        assert_eq!(
            std::fs::read(&old).unwrap(),
            workload::server::page_body(1, 700)
        );
        // Nothing but the two pages: no temporary file left behind.
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 2);
    }
    let _ = std::fs::remove_dir_all(&root);
}

#[test]
fn an_unusable_save_dir_fails_every_page_by_name() {
    let file = scratch("file");
    std::fs::write(&file, b"a file, not a directory").unwrap();
    for variant in async_await::LESSON.variants {
        let plan =
            Plan::new("http://127.0.0.1:9", 2)
                .unwrap()
                .with_options(async_await::SaveFlags {
                    save: Some(file.join("sub")),
                    force: false,
                });
        let report = async_await::LESSON.run(variant, &plan, None);
        for t in &report.traces {
            assert_eq!(t.error_kind(), Some(ErrorKind::Io), "{}", variant.name);
            assert!(detail(t).contains("--save"), "{t:?}");
        }
    }
    let _ = std::fs::remove_file(&file);
}

/// On the command line, a `--save` that cannot take the pages is a usage
/// error (exit 2), found while parsing: no page is fetched, nothing is
/// written. The empty path would otherwise mean the current directory.
#[test]
fn an_unusable_save_dir_is_a_usage_error() {
    let cwd = scratch("cwd");
    std::fs::create_dir_all(&cwd).unwrap();
    for dir in ["", "/proc/nope"] {
        let out = Command::new(env!("CARGO_BIN_EXE_async_await"))
            .args(["--pages", "2", "--latency-ms", "0", "--save", dir])
            .current_dir(&cwd)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "--save '{dir}': {stderr}");
        assert!(stderr.contains("--save"), "--save '{dir}': {stderr}");
        assert_eq!(
            std::fs::read_dir(&cwd).unwrap().count(),
            0,
            "--save '{dir}'"
        );
    }
    let _ = std::fs::remove_dir_all(&cwd);
}
