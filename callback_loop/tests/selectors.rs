//! The three backends, one by one, on a real pair of connected sockets:
//! what they report, when, and what they refuse.
//!
//! `Selector::register` asks for a promise: the descriptor stays open
//! until it is unregistered or the selector is dropped. Each test keeps it
//! by unregistering before its sockets go, or by declaring the sockets
//! before the selector (locals are dropped in reverse order).

use callback_loop::{EpollSelector, Interest, PollSelector, SelectSelector, Selector, FD_SETSIZE};
use std::io::{Read, Write};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::time::Duration;
use workload::ErrorKind;

/// A connected pair: (ours, the peer).
fn pair() -> (TcpStream, TcpStream) {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let ours = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let (peer, _) = listener.accept().unwrap();
    ours.set_nonblocking(true).unwrap();
    (ours, peer)
}

fn backends() -> Vec<(&'static str, Box<dyn Selector>)> {
    vec![
        ("epoll", Box::new(EpollSelector::new().unwrap())),
        ("poll", Box::new(PollSelector::new())),
        ("select", Box::new(SelectSelector::new())),
    ]
}

/// Register `fd`, which must be accepted.
///
/// # Safety
///
/// `Selector::register`'s: `fd` stays open until it is unregistered or the
/// selector is dropped.
unsafe fn watch(selector: &mut dyn Selector, fd: &impl AsFd, interest: Interest) {
    // SAFETY: passed on to our caller.
    unsafe { selector.register(fd.as_fd(), interest) }.unwrap();
}

fn wait(selector: &mut dyn Selector, ms: u64) -> Vec<RawFd> {
    let mut ready = Vec::new();
    selector
        .wait(Some(Duration::from_millis(ms)), &mut ready)
        .unwrap();
    ready
}

#[test]
fn every_backend_is_level_triggered() {
    for (name, mut selector) in backends() {
        let (mut ours, mut peer) = pair();
        let fd = ours.as_raw_fd();
        // SAFETY: `ours` is unregistered at the end of the turn.
        unsafe { watch(&mut *selector, &ours, Interest::Read) };
        assert!(
            wait(&mut *selector, 0).is_empty(),
            "{name}: nothing to read yet"
        );

        peer.write_all(&[7u8; 100]).unwrap();
        assert_eq!(wait(&mut *selector, 5000), [fd], "{name}: bytes arrived");
        // Nothing was read: level-triggered, it is reported again, and again.
        assert_eq!(wait(&mut *selector, 0), [fd], "{name}: still readable");
        assert_eq!(wait(&mut *selector, 0), [fd], "{name}: still readable");

        // Read part of it: still ready. Read the rest: quiet.
        let mut buf = [0u8; 60];
        ours.read_exact(&mut buf).unwrap();
        assert_eq!(wait(&mut *selector, 0), [fd], "{name}: 40 bytes left");
        ours.read_exact(&mut buf[..40]).unwrap();
        assert!(wait(&mut *selector, 0).is_empty(), "{name}: drained");

        // End of file counts as readable.
        drop(peer);
        assert_eq!(wait(&mut *selector, 5000), [fd], "{name}: EOF is readable");
        selector.unregister(ours.as_fd());
    }
}

#[test]
fn write_interest_fires_at_once_and_modify_switches_it_off() {
    for (name, mut selector) in backends() {
        let (ours, _peer) = pair();
        let fd = ours.as_raw_fd();
        // SAFETY: `ours` is unregistered at the end of the turn.
        unsafe { watch(&mut *selector, &ours, Interest::Write) };
        // An idle connected socket has room to write: ready on every wait.
        // This is why the crawler moves to Read once its request is out.
        assert_eq!(wait(&mut *selector, 1000), [fd], "{name}");
        assert_eq!(wait(&mut *selector, 0), [fd], "{name}");
        selector.modify(ours.as_fd(), Interest::Read).unwrap();
        assert!(
            wait(&mut *selector, 0).is_empty(),
            "{name}: now waits to read"
        );
        selector.unregister(ours.as_fd());
    }
}

#[test]
fn unregistered_sockets_are_not_reported() {
    for (name, mut selector) in backends() {
        let (a, mut a_peer) = pair();
        let (b, mut b_peer) = pair();
        let (c, mut c_peer) = pair();
        for s in [&a, &b, &c] {
            // SAFETY: each of the three is unregistered before the turn ends.
            unsafe { watch(&mut *selector, s, Interest::Read) };
        }
        // Remove the first: poll moves its last entry into the hole.
        selector.unregister(a.as_fd());
        for p in [&mut a_peer, &mut b_peer, &mut c_peer] {
            p.write_all(b"x").unwrap();
        }
        std::thread::sleep(Duration::from_millis(50));
        let mut ready = wait(&mut *selector, 1000);
        ready.sort();
        let mut want = vec![b.as_raw_fd(), c.as_raw_fd()];
        want.sort();
        assert_eq!(ready, want, "{name}");
        selector.unregister(c.as_fd());
        assert_eq!(wait(&mut *selector, 0), [b.as_raw_fd()], "{name}");
        selector.unregister(b.as_fd());
    }
}

/// `modify` is safe because it only changes a registration the caller
/// already promised about: a descriptor never registered is refused.
#[test]
fn modify_refuses_a_descriptor_never_registered() {
    for (name, mut selector) in backends() {
        let (ours, _peer) = pair();
        assert!(
            selector.modify(ours.as_fd(), Interest::Read).is_err(),
            "{name}"
        );
        assert!(wait(&mut *selector, 0).is_empty(), "{name}: not watched");
    }
}

/// A copy of `fd` numbered `at_least` or more.
fn dup_at_or_above(fd: &impl AsFd, at_least: usize) -> OwnedFd {
    use nix::fcntl::{fcntl, FcntlArg};
    let raw = fcntl(fd.as_fd(), FcntlArg::F_DUPFD_CLOEXEC(at_least as RawFd)).unwrap();
    // SAFETY: fcntl(F_DUPFD_CLOEXEC) just returned a new descriptor that
    // nothing else owns.
    unsafe { OwnedFd::from_raw_fd(raw) }
}

#[test]
fn select_refuses_a_descriptor_past_fd_setsize_and_the_others_take_it() {
    let limit = workload::raise_fd_limit();
    assert!(
        limit > FD_SETSIZE as u64 + 16,
        "this test needs an open-file limit above {FD_SETSIZE}, have {limit}"
    );
    let (ours, mut peer) = pair();
    let high = dup_at_or_above(&ours, FD_SETSIZE);
    assert!(high.as_raw_fd() as usize >= FD_SETSIZE);

    let mut select = SelectSelector::new();
    // SAFETY: `high` and `ours` are declared before `select`, so they
    // outlive it.
    let e = unsafe { select.register(high.as_fd(), Interest::Read) }.unwrap_err();
    assert_eq!(e.kind, ErrorKind::Resource);
    assert!(e.detail.contains("FD_SETSIZE"), "{e}");
    assert!(e.detail.contains(&high.as_raw_fd().to_string()), "{e}");
    // Refused, so it is not watched, and nothing in select panics.
    select.unregister(high.as_fd());
    // SAFETY: as above, `ours` outlives `select`.
    unsafe { watch(&mut select, &ours, Interest::Read) };
    peer.write_all(b"x").unwrap();
    assert_eq!(wait(&mut select, 5000), [ours.as_raw_fd()]);

    // poll and epoll have no such limit: the same descriptor is watched.
    let others: Vec<Box<dyn Selector>> = vec![
        Box::new(EpollSelector::new().unwrap()),
        Box::new(PollSelector::new()),
    ];
    // `high` is declared before `others`: it outlives every selector.
    for mut selector in others {
        // SAFETY: `high` outlives the selector (see above).
        unsafe { watch(&mut *selector, &high, Interest::Read) };
        assert_eq!(wait(&mut *selector, 5000), [high.as_raw_fd()]);
    }
}
