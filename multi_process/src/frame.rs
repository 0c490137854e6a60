//! The wire between the parent and its workers: frames on a pipe.
//!
//! A pipe carries bytes, not messages: one `write` of 5,000 bytes may reach
//! the reader as one `read` of 4,096 and another of 904, and two small
//! writes may arrive glued together. So every message goes in a frame that
//! says how long it is:
//!
//! ```text
//! json_len: u32 big-endian | body_len: u64 big-endian | json | body
//! ```
//!
//! The JSON part says what the message is ([`Job`] one way, [`FromWorker`]
//! the other); the body part carries raw bytes, here the page itself, so a
//! 1 MB page is not turned into 3 MB of JSON numbers. This is what Python's
//! `ProcessPoolExecutor` does with pickle: every argument and every result
//! is serialised, copied through a pipe by the kernel and deserialised.

use crate::stats::WorkerUsage;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::fs::File;
use std::io::{self, BufReader, BufWriter, Read, StdinLock, Write};
use workload::Trace;

/// The first message a worker sends names this protocol, so the parent can
/// tell its own worker from a binary that printed something else.
pub const PROTOCOL: &str = "multi_process/1";

/// The largest JSON part accepted: messages are a few hundred bytes; more
/// means the bytes are not our frames at all.
pub const MAX_JSON: usize = 1 << 20;

const HEADER: usize = 4 + 8;

/// Parent -> worker: fetch page `page` of the plan. (Closing the worker's
/// stdin means "no more work": the worker says goodbye and exits.)
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Job {
    pub page: usize,
}

/// Worker -> parent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "msg", rename_all = "snake_case")]
pub enum FromWorker {
    /// Started and listening: `ready_ms` is on the parent's clock.
    Ready {
        protocol: String,
        worker: usize,
        pid: u32,
        ready_ms: f64,
    },
    /// One page ended; the frame's body part is the page's body.
    Done { trace: Trace },
    /// Stdin closed: the worker's own bill, just before it exits.
    Bye { usage: WorkerUsage },
    /// A prefork worker ([`crate::serve`]) is about to accept its first
    /// connection.
    Serving {
        protocol: String,
        worker: usize,
        pid: u32,
    },
}

/// Write one frame and flush it, so it leaves this process now.
pub fn write_frame(out: &mut impl Write, msg: &impl Serialize, body: &[u8]) -> io::Result<()> {
    let json = serde_json::to_vec(msg).map_err(io::Error::other)?;
    let mut header = [0u8; HEADER];
    header[..4].copy_from_slice(&(json.len() as u32).to_be_bytes());
    header[4..].copy_from_slice(&(body.len() as u64).to_be_bytes());
    out.write_all(&header)?;
    out.write_all(&json)?;
    out.write_all(body)?;
    out.flush()
}

/// The worker's ends of its two pipes: frames to the parent, jobs from it.
/// The pipe to the parent must carry frames and nothing else, so keep a
/// private handle on it and point fd 1 at stderr: a stray `println!` from
/// any library then ends up on the terminal instead of inside a frame.
pub fn worker_ends() -> io::Result<(BufWriter<File>, BufReader<StdinLock<'static>>)> {
    let to_parent = File::from(nix::unistd::dup(io::stdout())?);
    nix::unistd::dup2_stdout(io::stderr())?;
    let to_parent = BufWriter::with_capacity(64 * 1024, to_parent);
    Ok((to_parent, BufReader::new(io::stdin().lock())))
}

/// Read one whole frame, blocking (the worker's side: it has nothing else
/// to do). `None` at a clean end of file between frames.
pub fn read_frame<T: DeserializeOwned>(
    input: &mut impl Read,
    max_body: u64,
) -> io::Result<Option<(T, Vec<u8>)>> {
    let mut header = [0u8; HEADER];
    let mut got = 0;
    while got < HEADER {
        match input.read(&mut header[got..])? {
            0 if got == 0 => return Ok(None),
            0 => return Err(io::ErrorKind::UnexpectedEof.into()),
            n => got += n,
        }
    }
    let (json_len, body_len) = lengths(&header, max_body).map_err(io::Error::other)?;
    let mut json = vec![0u8; json_len];
    input.read_exact(&mut json)?;
    let msg = serde_json::from_slice(&json).map_err(io::Error::other)?;
    let mut body = Vec::new();
    input.take(body_len).read_to_end(&mut body)?;
    if (body.len() as u64) < body_len {
        return Err(io::ErrorKind::UnexpectedEof.into());
    }
    Ok(Some((msg, body)))
}

fn lengths(header: &[u8; HEADER], max_body: u64) -> Result<(usize, u64), String> {
    let json_len = u32::from_be_bytes(header[..4].try_into().unwrap()) as usize;
    let body_len = u64::from_be_bytes(header[4..].try_into().unwrap());
    if json_len == 0 || json_len > MAX_JSON {
        return Err(format!(
            "not a frame (it starts with {:?})",
            String::from_utf8_lossy(header)
        ));
    }
    if body_len > max_body {
        return Err(format!(
            "a frame announces a {body_len}-byte body, more than --max-bytes {max_body}"
        ));
    }
    Ok((json_len, body_len))
}

/// The parent's side: bytes arrive in whatever pieces the pipe gives; the
/// inbox keeps them until a frame is whole. It never blocks, so one parent
/// thread can serve many pipes.
#[derive(Debug, Default)]
pub struct Inbox {
    buf: Vec<u8>,
}

impl Inbox {
    /// Bytes just read from the pipe.
    pub fn push(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// Bytes held that do not yet make a whole frame.
    pub fn pending(&self) -> usize {
        self.buf.len()
    }

    /// The next whole frame, if one has arrived; an error when the bytes
    /// cannot be a frame of ours.
    pub fn next<T: DeserializeOwned>(
        &mut self,
        max_body: u64,
    ) -> Result<Option<(T, Vec<u8>)>, String> {
        let Some(header) = self.buf.first_chunk::<HEADER>() else {
            return Ok(None);
        };
        let (json_len, body_len) = lengths(header, max_body)?;
        let total = HEADER as u64 + json_len as u64 + body_len;
        if (self.buf.len() as u64) < total {
            return Ok(None);
        }
        let json = &self.buf[HEADER..HEADER + json_len];
        let msg = serde_json::from_slice(json).map_err(|e| format!("a frame's JSON: {e}"))?;
        let body = self.buf[HEADER + json_len..total as usize].to_vec();
        self.buf.drain(..total as usize);
        Ok(Some((msg, body)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job() -> Job {
        Job { page: 3 }
    }

    #[test]
    fn a_frame_survives_any_split() {
        let mut wire = Vec::new();
        write_frame(&mut wire, &job(), b"the body").unwrap();
        write_frame(&mut wire, &job(), b"").unwrap();
        for piece in [1, 2, 5, 13, wire.len()] {
            let mut inbox = Inbox::default();
            let mut got = Vec::new();
            for chunk in wire.chunks(piece) {
                inbox.push(chunk);
                while let Some(frame) = inbox.next::<Job>(100).unwrap() {
                    got.push(frame);
                }
            }
            assert_eq!(got.len(), 2, "pieces of {piece}");
            assert_eq!(got[0], (job(), b"the body".to_vec()));
            assert_eq!(got[1], (job(), Vec::new()));
            assert_eq!(inbox.pending(), 0);
        }
    }

    #[test]
    fn blocking_reader_sees_frames_then_eof() {
        let mut wire = Vec::new();
        write_frame(&mut wire, &job(), b"xyz").unwrap();
        let mut input = &wire[..];
        let (j, body) = read_frame::<Job>(&mut input, 100).unwrap().unwrap();
        assert_eq!((j, body), (job(), b"xyz".to_vec()));
        assert!(read_frame::<Job>(&mut input, 100).unwrap().is_none());
        // A frame cut short is an error, not a clean end.
        let mut cut = &wire[..wire.len() - 1];
        assert!(read_frame::<Job>(&mut cut, 100).is_err());
    }

    #[test]
    fn text_is_not_a_frame() {
        let mut inbox = Inbox::default();
        inbox.push(b"running 1 test\ntest foo ... ok\n");
        let e = inbox.next::<Job>(100).unwrap_err();
        assert!(e.contains("not a frame"), "{e}");
    }

    #[test]
    fn a_body_over_the_limit_is_refused_before_it_is_read() {
        let mut wire = Vec::new();
        write_frame(&mut wire, &job(), &[7u8; 50]).unwrap();
        let mut inbox = Inbox::default();
        inbox.push(&wire[..HEADER]);
        let e = inbox.next::<Job>(10).unwrap_err();
        assert!(e.contains("--max-bytes 10"), "{e}");
    }

    #[test]
    fn worker_messages_round_trip() {
        let msg = FromWorker::Bye {
            usage: WorkerUsage {
                user_ms: 1.5,
                max_rss_kb: 3000,
                pss_kb: Some(900),
                ..WorkerUsage::default()
            },
        };
        let mut wire = Vec::new();
        write_frame(&mut wire, &msg, b"").unwrap();
        let mut inbox = Inbox::default();
        inbox.push(&wire);
        assert_eq!(
            inbox.next::<FromWorker>(0).unwrap(),
            Some((msg, Vec::new()))
        );
    }
}
