//! Every socket at once, advanced by one spinning loop.
//!
//! To overlap the waits no page may keep the thread: each page gets one
//! try, and whatever the answer, the loop moves on to the next page. So a
//! page can no longer remember where it is by where the code is (inside the
//! connect loop, the send loop, the recv loop): it writes it down in a
//! [`Fetch`], a small state machine with its socket, its stage and its
//! half-read response. The waits overlap, but the loop still never sleeps.

use socket2::Socket;
use workload::{Clock, Deadline, FetchError, Page, Plan, ResponseReader, Trace};

use crate::{open, spins, try_connected, try_recv, try_send, Attempt, Spins};

/// Every page at once, spun in one loop (the spin counts printed when
/// `--spins` asks).
pub fn fetch_all(plan: &Plan) -> Vec<Trace> {
    spins::shown(plan, fetch_all_counted)
}

// ANCHOR: round_robin
/// The same, returning how many "would block" answers each page got.
pub fn fetch_all_counted(plan: &Plan) -> (Vec<Trace>, Vec<Spins>) {
    let clock = Clock::start();
    let mut ended = Vec::with_capacity(plan.pages);

    // Start every connection before waiting for any: N SYNs go out at
    // once. A page whose socket cannot even be opened (refused at once, out
    // of descriptors) ends on the spot.
    let mut live: Vec<Fetch> = Vec::with_capacity(plan.pages);
    for page in plan.all_pages() {
        let trace = Trace::start(&page, clock);
        match open(&page) {
            Ok(sock) => live.push(Fetch::new(plan, page, sock, trace)),
            Err(e) => ended.push((trace.finish(Err(e)), Spins::new(page.index))),
        }
    }

    // One buffer serves every socket: each read is fed to its page's
    // reader before the loop moves on.
    let mut buf = [0u8; 4096];

    // The spinning loop. One lap = one try per unfinished page. While the
    // servers are silent every try is a system call answered EAGAIN, and
    // the loop goes straight on to the next lap: it never sleeps, so the
    // CPU stays at 100% until the last page has ended.
    while !live.is_empty() {
        let mut i = 0;
        while i < live.len() {
            match live[i].step(&mut buf) {
                Ok(Attempt::NotYet) => i += 1,
                result => {
                    // The page has ended, ok or failed. swap_remove keeps
                    // the lap O(pages): the last page takes the ended one's
                    // place and is tried next.
                    let fetch = live.swap_remove(i);
                    ended.push(fetch.finish(plan, result.map(|_ready| ())));
                }
            }
        }
    }
    ended.into_iter().unzip()
}
// ANCHOR_END: round_robin

// ANCHOR: fetch_state
/// Where one page is, between two of its tries.
enum Stage {
    /// The SYN has gone; waiting for the handshake to finish.
    Connecting,
    /// Connected; `sent` bytes of the request are in the kernel.
    Sending { sent: usize },
    /// The request is out; feeding the response to the reader.
    Receiving,
}

/// One page in flight: what the sequential version kept on its stack
/// (socket, position in the code, bytes read so far), kept in a struct so
/// the loop can leave the page and come back to it.
pub struct Fetch {
    page: Page,
    sock: Socket,
    stage: Stage,
    request: Vec<u8>,
    response: ResponseReader,
    deadline: Deadline,
    trace: Trace,
    spins: Spins,
}
// ANCHOR_END: fetch_state

impl Fetch {
    /// A page whose socket is open and connecting.
    pub fn new(plan: &Plan, page: Page, sock: Socket, trace: Trace) -> Fetch {
        Fetch {
            request: page.request(),
            spins: Spins::new(page.index),
            page,
            sock,
            stage: Stage::Connecting,
            response: ResponseReader::new(plan.max_bytes),
            deadline: Deadline::after(plan.timeout),
            trace,
        }
    }

    // ANCHOR: step
    /// Give the page one try: exactly one non-blocking system call for the
    /// stage it is in. The page answers like the system call does:
    /// `NotYet` (come back next lap) or `Ready` (its response is complete);
    /// an error ends the page too. (A future's `poll`, in lesson 7, has
    /// this very shape.)
    pub fn step(&mut self, buf: &mut [u8]) -> Result<Attempt<()>, FetchError> {
        // The deadline is checked on every visit: as in the sequential
        // version, our own clock is the only thing that ends a silent page.
        self.deadline.remaining()?;
        match self.stage {
            Stage::Connecting => match try_connected(&self.sock, &self.page)? {
                Attempt::NotYet => self.spins.connect += 1,
                Attempt::Ready(()) => {
                    self.trace.connected();
                    self.stage = Stage::Sending { sent: 0 };
                }
            },
            Stage::Sending { sent } => match try_send(&self.sock, &self.request[sent..])? {
                Attempt::NotYet => self.spins.send += 1,
                Attempt::Ready(n) if sent + n == self.request.len() => {
                    self.stage = Stage::Receiving;
                }
                Attempt::Ready(n) => self.stage = Stage::Sending { sent: sent + n },
            },
            Stage::Receiving => match try_recv(&self.sock, buf)? {
                Attempt::NotYet => self.spins.recv += 1,
                Attempt::Ready(n) => {
                    if n > 0 {
                        self.trace.first_byte();
                    }
                    if self.response.feed(&buf[..n])?.is_done() {
                        return Ok(Attempt::Ready(()));
                    }
                }
            },
        }
        Ok(Attempt::NotYet)
    }
    // ANCHOR_END: step

    /// The page has ended: close the socket and stamp its trace. A complete
    /// response gets its `--cpu-us` of computing here, inline on the loop's
    /// one thread: meanwhile no other socket gets a try.
    fn finish(self, plan: &Plan, result: Result<(), FetchError>) -> (Trace, Spins) {
        let result = result.and_then(|()| self.response.finish());
        if let Ok(body) = &result {
            workload::cpu::spend(plan.cpu, body);
        }
        (self.trace.finish(result), self.spins)
    }
}
