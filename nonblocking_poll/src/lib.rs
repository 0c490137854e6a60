//! # Lesson 4: non-blocking sockets, and nothing to wait with
//!
//! The seed's `nonblocking_way()`: the same socket calls as lesson 1, but the
//! socket is switched to non-blocking mode first. From then on no call puts
//! the thread to sleep. `connect` sends the SYN and returns at once with
//! "in progress" (EINPROGRESS); `send` and `recv` either do their job at once
//! or return "would block" (EAGAIN, `io::ErrorKind::WouldBlock`) meaning "not
//! now, try again later".
//!
//! "Later" is the problem. Nothing in this lesson tells us when to try
//! again, so the program tries again *immediately*, in a loop: busy polling.
//! Each try is a system call: the CPU switches to kernel mode, the kernel
//! locks the socket, looks at its receive queue, finds it empty, and returns
//! EAGAIN; the program checks its clock and asks again. A 100 ms wait for
//! the server becomes a few hundred thousand identical questions, and the
//! CPU that lesson 1 left idle (or to other programs) is now 100% busy
//! asking them. The summary line's "cpu ... = N% of wall" shows it: near
//! 100% here, near 0% in lesson 1.
//!
//! Two variants use the same single tries (below, in this file):
//!
//! * [`sequential`] (default) is the seed's code: one page after another,
//!   each spinning until it is done. It is as slow as lesson 1 (the waits
//!   still add up) and burns a core on top: not blocking is not the same as
//!   concurrent.
//! * [`round_robin`] keeps every socket open at once and gives each one a
//!   try in turn, in one loop. Now the waits overlap (wall ≈ one latency),
//!   but the loop never sleeps either: still a whole core, whether one page
//!   or a thousand are waiting.
//!
//! What is missing is a way to ask the kernel "wake me when one of these
//! sockets is ready" - readiness notification (select / poll / epoll), the
//! next lesson.
//!
//! The number of "would block" answers per page is counted ([`Spins`]) and,
//! with `--spins always` or on an interactive terminal, printed on stderr.

use std::io::{self, Read};
use std::time::Duration;

use socket2::{Domain, Protocol, SockAddr, Socket, Type};
use workload::{Concurrency, FetchError, Page, Plan};

pub mod round_robin;
pub mod sequential;

/// The lesson's table: its variants, for the binary, the tests and the
/// benchmark.
pub const LESSON: workload::Lesson = workload::Lesson {
    name: "nonblocking_poll",
    about: "Lesson 4: non-blocking sockets and busy polling (the tutorial's nonblocking_way)",
    variants: &[
        workload::Variant::new(
            "sequential",
            "the tutorial's: one page after another, spinning on each call (as slow as blocking, 100% CPU)",
            Concurrency::One,
            sequential::fetch_all,
        )
        .tutorial("busy-poll", 4.3),
        workload::Variant::new(
            "round-robin",
            "every socket at once, each given one try per lap of a spinning loop (concurrent, 100% CPU)",
            Concurrency::All,
            round_robin::fetch_all,
        ),
    ],
    flags: workload::Flags::of::<SpinFlags>(),
};

/// The lesson's own flag.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct SpinFlags {
    /// Print the count of "would block" answers on stderr: auto (when human output
    /// goes to a terminal), always, never
    #[arg(long, value_name = "WHEN", value_enum, default_value_t = ShowSpins::Auto)]
    pub spins: ShowSpins,
}

// ANCHOR: attempt
/// The answer to one non-blocking try: done (with its result), or "not
/// now" - the kernel had nothing for us and we must ask again. (Rust's
/// futures, lesson 7, call the same two answers `Poll::Ready` and
/// `Poll::Pending`.)
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attempt<T> {
    Ready(T),
    NotYet,
}
// ANCHOR_END: attempt

// ANCHOR: open
/// Create a non-blocking socket and start connecting it: the seed's
/// `sock.setblocking(False)` and `sock.connect(...)` inside `try`.
///
/// `connect` on a non-blocking socket sends the SYN and returns at once;
/// the handshake goes on in the kernel without us. The "error"
/// EINPROGRESS is the normal answer and means exactly that. On the loopback
/// interface the handshake sometimes finishes before `connect` returns, so
/// success, or a refusal, can come back at once too.
pub fn open(page: &Page) -> Result<Socket, FetchError> {
    let sock = Socket::new(
        Domain::for_address(page.addr),
        Type::STREAM,
        Some(Protocol::TCP),
    )?;
    sock.set_nonblocking(true)?;
    match sock.connect(&SockAddr::from(page.addr)) {
        Ok(()) => Ok(sock),
        Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => Ok(sock),
        Err(e) => Err(FetchError::from_io(&e)),
    }
}
// ANCHOR_END: open

// ANCHOR: try_connected
/// One try at "is the connection up yet?": `connect` asked again.
///
/// The seed never asks; it starts sending at once and lets the failing
/// `send`s double as the question. We ask it directly, and the kernel's
/// answers to a repeated `connect` say everything: EALREADY "still
/// shaking hands", success (or EISCONN, on a later call) "connected",
/// ECONNREFUSED "nothing listens there". Reading `SO_ERROR` instead would
/// not do on its own: it reads 0 both while the handshake is still going
/// and once it has succeeded; only `poll`/`select` (lesson 5) can tell
/// those apart.
pub fn try_connected(sock: &Socket, page: &Page) -> Result<Attempt<()>, FetchError> {
    match sock.connect(&SockAddr::from(page.addr)) {
        Ok(()) => Ok(Attempt::Ready(())),
        Err(e) => match e.raw_os_error() {
            Some(libc::EISCONN) => Ok(Attempt::Ready(())),
            Some(libc::EALREADY | libc::EINPROGRESS) => Ok(Attempt::NotYet),
            Some(libc::EINTR) => Ok(Attempt::NotYet),
            _ => Err(FetchError::from_io(&e)),
        },
    }
}
// ANCHOR_END: try_connected

// ANCHOR: try_send_recv
/// One try at sending: how many bytes the kernel took into the socket's
/// send buffer, or "not now" when the buffer is full (or the handshake has
/// not finished). It may take fewer bytes than offered; the caller keeps
/// the rest for its next try.
pub fn try_send(sock: &Socket, bytes: &[u8]) -> Result<Attempt<usize>, FetchError> {
    // MSG_NOSIGNAL: a peer that has gone away gives an EPIPE error, not a
    // SIGPIPE signal that would kill the process.
    match sock.send_with_flags(bytes, libc::MSG_NOSIGNAL) {
        Ok(n) => Ok(Attempt::Ready(n)),
        Err(e) => not_yet_or_error(e),
    }
}

/// One try at receiving: the bytes the kernel had queued for us (0 means
/// the server closed the connection: end of file), or "not now" when the
/// queue is empty - which, while the server takes its 100 ms, is the answer
/// almost every time.
pub fn try_recv(sock: &Socket, buf: &mut [u8]) -> Result<Attempt<usize>, FetchError> {
    let mut sock = sock;
    match sock.read(buf) {
        Ok(n) => Ok(Attempt::Ready(n)),
        Err(e) => not_yet_or_error(e),
    }
}

/// "Would block" (EAGAIN) is the non-blocking socket's "not now"; an
/// interrupted call (EINTR) is simply asked again. Anything else is the
/// page's error, named (refused, reset...).
fn not_yet_or_error<T>(e: io::Error) -> Result<Attempt<T>, FetchError> {
    match e.kind() {
        io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted => Ok(Attempt::NotYet),
        _ => Err(FetchError::from_io(&e)),
    }
}
// ANCHOR_END: try_send_recv

// ANCHOR: spins
/// How many times one page got "not now" from the kernel, by call. Each
/// one is a system call that did nothing but tell us to ask again.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Spins {
    pub page: usize,
    pub connect: u64,
    pub send: u64,
    pub recv: u64,
}
// ANCHOR_END: spins

impl Spins {
    pub fn new(page: usize) -> Spins {
        Spins {
            page,
            ..Spins::default()
        }
    }

    pub fn total(&self) -> u64 {
        self.connect + self.send + self.recv
    }
}

/// When to print the spin counts (`--spins WHEN`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum ShowSpins {
    /// When the human report goes to a terminal.
    #[default]
    Auto,
    Always,
    Never,
}

impl ShowSpins {
    /// The plan's `--spins` value.
    pub fn of(plan: &Plan) -> ShowSpins {
        plan.options::<SpinFlags>().spins
    }

    pub fn wanted(self, plan: &Plan) -> bool {
        match self {
            ShowSpins::Auto => plan.progress,
            ShowSpins::Always => true,
            ShowSpins::Never => false,
        }
    }
}

/// The spin report: how many questions the kernel answered with "not now",
/// per page, and how often, over a run that took `wall`.
pub fn spin_report(spins: &[Spins], wall: Duration) -> String {
    let pages = spins.len().max(1) as u64;
    let sum = |f: fn(&Spins) -> u64| spins.iter().map(f).sum::<u64>();
    let (total, connect, send, recv) = (
        sum(Spins::total),
        sum(|s| s.connect),
        sum(|s| s.send),
        sum(|s| s.recv),
    );
    let mut per_page: Vec<u64> = spins.iter().map(Spins::total).collect();
    per_page.sort_unstable();
    let pick = |q: usize| per_page.get(q * (per_page.len().max(1) - 1) / 2).copied();
    let every = if total > 0 {
        format!(
            ", one every {:.2} us of wall time",
            wall.as_secs_f64() * 1e6 / total as f64
        )
    } else {
        String::new()
    };
    let mut out = format!(
        "spins: the kernel answered \"would block\" {} times (connect {}, send {}, recv {}){every}\n",
        group(total),
        group(connect),
        group(send),
        group(recv),
    );
    out.push_str(&format!(
        "spins per page: {} on average; fewest {}, median {}, most {}\n",
        group(total / pages),
        group(pick(0).unwrap_or(0)),
        group(pick(1).unwrap_or(0)),
        group(pick(2).unwrap_or(0)),
    ));
    out
}

/// Print the spin report on stderr if the plan asks for it.
pub fn show_spins(plan: &Plan, spins: &[Spins], wall: Duration) {
    if ShowSpins::of(plan).wanted(plan) {
        eprint!("{}", spin_report(spins, wall));
    }
}

/// 1234567 -> "1,234,567".
fn group(n: u64) -> String {
    let digits: Vec<char> = n.to_string().chars().collect();
    let groups: Vec<String> = digits
        .rchunks(3)
        .rev()
        .map(|g| g.iter().collect())
        .collect();
    groups.join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_grouped() {
        assert_eq!(group(0), "0");
        assert_eq!(group(999), "999");
        assert_eq!(group(1000), "1,000");
        assert_eq!(group(1234567), "1,234,567");
    }

    #[test]
    fn the_report_adds_up_the_pages() {
        let spins = [
            Spins {
                page: 0,
                connect: 1,
                send: 0,
                recv: 999,
            },
            Spins {
                page: 1,
                connect: 0,
                send: 2,
                recv: 2998,
            },
            Spins {
                page: 2,
                connect: 0,
                send: 0,
                recv: 5000,
            },
        ];
        let text = spin_report(&spins, Duration::from_millis(9));
        assert!(
            text.contains("\"would block\" 9,000 times (connect 1, send 2, recv 8,997)"),
            "{text}"
        );
        assert!(text.contains("one every 1.00 us"), "{text}");
        assert!(
            text.contains("3,000 on average; fewest 1,000, median 3,000, most 5,000"),
            "{text}"
        );
    }

    #[test]
    fn the_spins_flag_is_read() {
        let mut plan = Plan::new("http://127.0.0.1:1", 1).unwrap();
        assert_eq!(ShowSpins::of(&plan), ShowSpins::Auto);
        assert!(!ShowSpins::Auto.wanted(&plan));
        plan.progress = true;
        assert!(ShowSpins::Auto.wanted(&plan));
        for (value, want) in [
            ("always", ShowSpins::Always),
            ("never", ShowSpins::Never),
            ("auto", ShowSpins::Auto),
        ] {
            let spins = <ShowSpins as clap::ValueEnum>::from_str(value, false).unwrap();
            let plan = plan.clone().with_options(SpinFlags { spins });
            assert_eq!(ShowSpins::of(&plan), want, "{value}");
        }
    }
}
