//! The page server as a process of its own: one process holding both ends
//! of 10,000 connections would need 20,000 descriptors, the hard limit
//! here.

use anyhow::{bail, Context, Result};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// A running page server; stopped (SIGINT, then SIGKILL) when dropped.
pub struct PageServer {
    child: std::process::Child,
    pub url: String,
}

impl PageServer {
    /// Start `bin` on 127.0.0.1:`port` (0: a free one), answering after
    /// `latency_ms`; returns once it has printed the URL it serves.
    pub fn start(bin: &Path, port: u16, latency_ms: u64) -> Result<PageServer> {
        let mut child = Command::new(bin)
            .args([
                "--port",
                &port.to_string(),
                "--latency-ms",
                &latency_ms.to_string(),
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("starting {}", bin.display()))?;
        let stdout = child.stdout.take().expect("piped");
        let stderr = child.stderr.take().expect("piped");
        // Its first line on stdout is the URL it serves.
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut lines = BufReader::new(stdout).lines();
            let _ = tx.send(lines.next());
            for _ in lines {}
        });
        let errors = std::thread::spawn(move || {
            use std::io::Read;
            let mut stderr = stderr;
            let mut text = String::new();
            let _ = (&mut stderr).take(64 * 1024).read_to_string(&mut text);
            let _ = std::io::copy(&mut stderr, &mut std::io::sink());
            text
        });
        let mut server = PageServer {
            child,
            url: String::new(),
        };
        match rx.recv_timeout(Duration::from_secs(20)) {
            Ok(Some(Ok(line))) if line.starts_with("http://") => {
                server.url = line.trim().to_string();
                Ok(server)
            }
            _ => {
                server.stop();
                let why = errors.join().unwrap_or_default();
                bail!(
                    "page-server did not print its URL: {}",
                    why.lines().next().unwrap_or("no message")
                )
            }
        }
    }

    pub fn stop(&mut self) {
        use nix::sys::signal::{kill, Signal};
        let pid = nix::unistd::Pid::from_raw(self.child.id() as i32);
        let _ = kill(pid, Signal::SIGINT);
        let until = Instant::now() + Duration::from_secs(5);
        while Instant::now() < until {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for PageServer {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            self.stop();
        }
    }
}
