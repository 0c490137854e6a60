//! `--save DIR`, on every variant: each page's body lands in its file, byte
//! for byte; a directory that cannot be made fails every page, by name.

use std::path::PathBuf;
use workload::{ErrorKind, Plan, Server, ServerConfig};

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("async_await-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

#[test]
fn save_writes_every_page_on_every_variant() {
    let server = Server::start(ServerConfig {
        latency: std::time::Duration::ZERO,
        size: 700,
        ..Default::default()
    })
    .unwrap();
    let root = scratch("save");
    for variant in async_await::LESSON.variants {
        let dir = root.join(variant.name);
        let plan = Plan::new(&server.url(), 3)
            .unwrap()
            .with_options(async_await::SaveFlags {
                save: Some(dir.clone()),
            });
        let report = async_await::LESSON.run(variant, &plan, None);
        assert_eq!(report.ok, 3, "{}: {:?}", variant.name, report.traces);
        for i in 0..3 {
            let saved = std::fs::read(async_await::save_path(&dir, i)).unwrap();
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
                });
        let report = async_await::LESSON.run(variant, &plan, None);
        for t in &report.traces {
            assert_eq!(t.error_kind(), Some(ErrorKind::Io), "{}", variant.name);
            assert!(
                t.error
                    .as_ref()
                    .map(|e| e.detail.as_str())
                    .unwrap()
                    .contains("--save"),
                "{t:?}"
            );
        }
    }
    let _ = std::fs::remove_file(&file);
}
