//! The CPU's sense of time, measured on this machine.
//!
//! The tutorial opens with a table of latencies scaled so that one CPU
//! instruction takes one second: then a mutex takes a minute, a system call
//! an hour, a network round trip weeks. The lessons' numbers rest on these
//! costs - why a process pool costs what it costs, why busy polling wastes
//! what it wastes - so this command measures the rows user space can
//! measure, here, and prints them beside the tutorial's figures:
//!
//! ```text
//! cargo run --release -p bench-report -- latency
//! ```
//!
//! Each row runs its operation in batches of about 20 ms and reports the
//! median batch's time per operation. Numbers from a debug build are not
//! meaningful: use `--release`.

use bench_report::numbers::{human_ns, human_scaled, median};
use std::hint::black_box;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::process::ExitCode;
use std::sync::Mutex;
use std::time::{Duration, Instant};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Shorter batches and fewer of them (for tests; the figures get noisier).
    #[arg(long)]
    pub quick: bool,
    /// Print the rows as one JSON array instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// One measured row.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Row {
    pub what: &'static str,
    pub how: &'static str,
    /// Measured time per operation, in nanoseconds.
    pub ns: f64,
    /// The tutorial's figure for the closest row, in nanoseconds, and its label.
    pub tutorial_ns: Option<f64>,
    pub tutorial_label: Option<&'static str>,
}

pub fn run(args: Args) -> ExitCode {
    let budget = if args.quick {
        Budget {
            batch: Duration::from_millis(2),
            batches: 3,
        }
    } else {
        Budget {
            batch: Duration::from_millis(20),
            batches: 7,
        }
    };
    let rows = match measure_all(&budget) {
        Ok(rows) => rows,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    let clock = cpu_clock();
    if args.json {
        println!(
            "{}",
            serde_json::json!({ "cycle_ns": clock.cycle_ns, "clock_source": clock.source, "rows": rows })
        );
    } else {
        print!("{}", render(&rows, &clock));
    }
    ExitCode::SUCCESS
}

/// How long to measure each row.
#[derive(Debug, Clone, Copy)]
pub struct Budget {
    pub batch: Duration,
    pub batches: usize,
}

/// Median time per operation of `op`, run in batches of about `budget.batch`.
fn time_per_op(budget: &Budget, mut op: impl FnMut()) -> f64 {
    // Find a batch size that takes about budget.batch.
    let mut n: u64 = 1;
    loop {
        let t = Instant::now();
        for _ in 0..n {
            op();
        }
        if t.elapsed() >= budget.batch / 4 || n >= 1 << 30 {
            let per = t.elapsed().as_secs_f64() / n as f64;
            n = ((budget.batch.as_secs_f64() / per.max(1e-10)) as u64).max(1);
            break;
        }
        n *= 4;
    }
    let samples: Vec<f64> = (0..budget.batches)
        .map(|_| {
            let t = Instant::now();
            for _ in 0..n {
                op();
            }
            t.elapsed().as_secs_f64() * 1e9 / n as f64
        })
        .collect();
    median(&samples).unwrap_or(f64::NAN)
}

fn measure_all(budget: &Budget) -> std::io::Result<Vec<Row>> {
    let mut rows = Vec::new();
    let mut row = |what, how, ns, tutorial: Option<(&'static str, f64)>| {
        rows.push(Row {
            what,
            how,
            ns,
            tutorial_ns: tutorial.map(|s| s.1),
            tutorial_label: tutorial.map(|s| s.0),
        })
    };

    let mutex = Mutex::new(0u64);
    row(
        "mutex lock + unlock",
        "std::sync::Mutex, uncontended",
        time_per_op(budget, || *black_box(&mutex).lock().unwrap() += 1),
        Some(("lock/unlock a mutex", 25.0)),
    );

    row(
        "memory access (random)",
        "pointer chase through 64 MiB",
        pointer_chase(budget),
        Some(("main memory reference", 100.0)),
    );

    row(
        "system call",
        "getppid(), which the kernel must answer",
        time_per_op(budget, || {
            black_box(nix::unistd::getppid());
        }),
        Some(("context switch / system call", 1_500.0)),
    );

    row(
        "thread context switch",
        "two threads on one CPU ping-ponging a byte over pipes, per switch",
        context_switch(*budget)?,
        Some(("context switch / system call", 1_500.0)),
    );

    row(
        "thread spawn + join",
        "std::thread::spawn of an empty closure, then join",
        time_per_op(budget, || std::thread::spawn(|| {}).join().unwrap()),
        None,
    );

    let true_bin = ["/bin/true", "/usr/bin/true"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists())
        .unwrap_or("true");
    row(
        "process spawn + wait",
        "fork/exec of `true`, then wait",
        time_per_op(budget, || {
            let _ = std::process::Command::new(true_bin).status();
        }),
        None,
    );

    row(
        "loopback TCP round trip",
        "1 byte there and back between two threads over 127.0.0.1",
        tcp_round_trip(budget)?,
        Some(("ping a host in the same data centre", 500_000.0)),
    );

    row(
        "loopback TCP connect + close",
        "connect to 127.0.0.1 (handshake done by the kernel), then close",
        tcp_connect(budget)?,
        None,
    );

    row(
        "read 1 MB from memory",
        "sum a 1 MiB slice of a 64 MiB buffer, sequentially",
        memory_read(budget),
        Some(("read 1 MB sequentially from memory", 250_000.0)),
    );

    row(
        "read 1 MB from a cached file",
        "read() 1 MiB from a file already in the page cache",
        file_read(budget)?,
        Some(("read 1 MB sequentially from SSD", 1_000_000.0)),
    );
    Ok(rows)
}

/// Follow a random cycle through 64 MiB of indices: each load depends on
/// the previous one, so the caches and prefetchers cannot hide the latency.
fn pointer_chase(budget: &Budget) -> f64 {
    const N: usize = 16 * 1024 * 1024; // u32s: 64 MiB
                                       // Sattolo's algorithm gives one cycle through every slot.
    let mut next: Vec<u32> = (0..N as u32).collect();
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    for i in (1..N).rev() {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let j = (seed % i as u64) as usize;
        next.swap(i, j);
    }
    let mut at = 0u32;
    time_per_op(budget, || at = next[black_box(at) as usize])
}

fn context_switch(budget: Budget) -> std::io::Result<f64> {
    use nix::sched::{sched_setaffinity, CpuSet};
    use nix::unistd::Pid;
    let pin = || {
        let mut one = CpuSet::new();
        let _ = one.set(0);
        let _ = sched_setaffinity(Pid::from_raw(0), &one);
    };
    let (mut to_echo_r, mut to_echo_w) = std::io::pipe()?;
    let (mut back_r, mut back_w) = std::io::pipe()?;
    let echo = std::thread::spawn(move || {
        pin();
        let mut b = [0u8; 1];
        while to_echo_r.read_exact(&mut b).is_ok() && b[0] != 0 {
            if back_w.write_all(&b).is_err() {
                break;
            }
        }
    });
    let (tx, rx) = std::sync::mpsc::channel();
    let main = std::thread::spawn(move || {
        pin();
        let mut b = [1u8; 1];
        // One round trip is two switches: to the echo thread and back.
        let per_round = time_per_op(&budget, || {
            to_echo_w.write_all(&[1]).unwrap();
            back_r.read_exact(&mut b).unwrap();
        });
        let _ = to_echo_w.write_all(&[0]);
        let _ = tx.send(per_round / 2.0);
    });
    let _ = main.join();
    let _ = echo.join();
    rx.recv()
        .map_err(|_| std::io::Error::other("the context-switch threads failed"))
}

fn tcp_round_trip(budget: &Budget) -> std::io::Result<f64> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
    let addr = listener.local_addr()?;
    let echo = std::thread::spawn(move || -> std::io::Result<()> {
        let (mut s, _) = listener.accept()?;
        s.set_nodelay(true)?;
        let mut b = [0u8; 1];
        loop {
            if s.read(&mut b)? == 0 {
                return Ok(());
            }
            s.write_all(&b)?;
        }
    });
    let mut s = TcpStream::connect(addr)?;
    s.set_nodelay(true)?;
    let mut b = [0u8; 1];
    let ns = time_per_op(budget, || {
        s.write_all(b"x").unwrap();
        s.read_exact(&mut b).unwrap();
    });
    drop(s);
    let _ = echo.join();
    Ok(ns)
}

fn tcp_connect(budget: &Budget) -> std::io::Result<f64> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
    let addr = listener.local_addr()?;
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let stop2 = stop.clone();
    // The acceptor closes each connection first, so the TIME_WAIT state
    // stays on its side and the client's ephemeral ports are not used up.
    let acceptor = std::thread::spawn(move || {
        for s in listener.incoming() {
            drop(s);
            if stop2.load(std::sync::atomic::Ordering::Relaxed) {
                return;
            }
        }
    });
    let ns = time_per_op(budget, || {
        let mut s = TcpStream::connect(addr).unwrap();
        let _ = s.read(&mut [0u8; 1]); // wait for the acceptor's close
    });
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let _ = TcpStream::connect(addr);
    let _ = acceptor.join();
    Ok(ns)
}

fn memory_read(budget: &Budget) -> f64 {
    const MIB: usize = 1 << 20;
    let buf: Vec<u64> = (0..64 * MIB / 8).map(|i| i as u64).collect();
    let mut chunk = 0usize;
    time_per_op(budget, || {
        // A different MiB each time, so it comes from memory, not cache.
        let words = MIB / 8;
        let slice = &buf[chunk * words..(chunk + 1) * words];
        black_box(slice.iter().fold(0u64, |a, &b| a.wrapping_add(b)));
        chunk = (chunk + 1) % 64;
    })
}

fn file_read(budget: &Budget) -> std::io::Result<f64> {
    const MIB: usize = 1 << 20;
    let path = std::env::temp_dir().join(format!("bench-report-latency-{}", std::process::id()));
    std::fs::write(&path, vec![7u8; 16 * MIB])?;
    let mut file = std::fs::File::open(&path)?;
    let mut sink = vec![0u8; 16 * MIB];
    file.read_exact(&mut sink)?; // into the page cache
    let mut buf = vec![0u8; MIB];
    let mut at = 0usize;
    let ns = time_per_op(budget, || {
        use std::io::{Seek, SeekFrom};
        file.seek(SeekFrom::Start((at * MIB) as u64)).unwrap();
        file.read_exact(&mut buf).unwrap();
        at = (at + 1) % 16;
    });
    let _ = std::fs::remove_file(&path);
    Ok(ns)
}

/// The length of one CPU cycle, the tutorial's "one instruction".
pub struct CpuClock {
    pub cycle_ns: f64,
    pub source: String,
}

/// The clock from /proc/cpuinfo, or the tutorial's 2.6 GHz when it says nothing.
pub fn cpu_clock() -> CpuClock {
    let mhz = std::fs::read_to_string("/proc/cpuinfo").ok().and_then(|s| {
        s.lines()
            .find(|l| l.starts_with("cpu MHz"))
            .and_then(|l| l.split(':').nth(1))
            .and_then(|v| v.trim().parse::<f64>().ok())
    });
    match mhz {
        Some(mhz) if mhz > 100.0 => CpuClock {
            cycle_ns: 1e3 / mhz,
            source: format!("{mhz:.0} MHz from /proc/cpuinfo"),
        },
        _ => CpuClock {
            cycle_ns: 1.0 / 2.6,
            source: "2.6 GHz, the tutorial's CPU (/proc/cpuinfo has no clock)".into(),
        },
    }
}

/// The table: each row, measured here, the tutorial's figure, and both on the
/// scale where one cycle lasts one second.
pub fn render(rows: &[Row], clock: &CpuClock) -> String {
    let mut out = format!(
        "The CPU's sense of time on this machine: one cycle = {:.2} ns ({}), scaled to one second.\n\n",
        clock.cycle_ns, clock.source
    );
    out.push_str(&format!(
        "{:<30} {:>10} {:>14}   {:>10} {:>15}  {}\n",
        "operation", "here", "if 1 cycle=1 s", "tutorial", "tutorial scaled", "tutorial's row"
    ));
    // The tutorial scales by its 2.6 GHz CPU's 0.38 ns instruction.
    let tutorial_cycle = 0.38;
    for r in rows {
        let (tutorial, tutorial_scaled, label) = match (r.tutorial_ns, r.tutorial_label) {
            (Some(s), Some(l)) => (human_ns(s), human_scaled(s / tutorial_cycle), l),
            _ => ("-".into(), "-".into(), ""),
        };
        out.push_str(&format!(
            "{:<30} {:>10} {:>14}   {:>10} {:>15}  {}\n",
            r.what,
            human_ns(r.ns),
            human_scaled(r.ns / clock.cycle_ns),
            tutorial,
            tutorial_scaled,
            label
        ));
    }
    out.push_str(
        "\nEach figure is the median of several ~20 ms batches (--quick: ~2 ms). How each row is measured:\n",
    );
    for r in rows {
        out.push_str(&format!("  {:<30} {}\n", r.what, r.how));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_row_is_measured() {
        let budget = Budget {
            batch: Duration::from_millis(1),
            batches: 1,
        };
        let rows = measure_all(&budget).unwrap();
        let names: Vec<&str> = rows.iter().map(|r| r.what).collect();
        for want in [
            "mutex lock + unlock",
            "system call",
            "thread context switch",
            "thread spawn + join",
            "process spawn + wait",
            "loopback TCP round trip",
            "loopback TCP connect + close",
            "read 1 MB from memory",
            "read 1 MB from a cached file",
        ] {
            assert!(names.contains(&want), "missing row {want}");
        }
        assert!(
            rows.iter().all(|r| r.ns.is_finite() && r.ns > 0.0),
            "{rows:?}"
        );
        let table = render(&rows, &cpu_clock());
        assert_eq!(table.matches('\n').count(), 3 + rows.len() + 2 + rows.len());
    }
}
