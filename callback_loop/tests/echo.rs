//! The `echo_selectors` example's own loop, against several clients at
//! once: each gets back exactly the bytes it sent, and a client that
//! closes is closed on the server's side too.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::Duration;

#[path = "../examples/echo_selectors.rs"]
mod echo_selectors;

#[test]
fn several_clients_each_get_their_bytes_back() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    // The loop runs until the process ends, as the tutorial's does.
    std::thread::spawn(move || echo_selectors::echo_loop(listener));

    let clients: Vec<_> = (0..8)
        .map(|i| {
            std::thread::spawn(move || {
                let mut s = TcpStream::connect(addr).unwrap();
                s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
                for round in 0..5 {
                    let message = format!("client {i}, round {round}: {}", "x".repeat(i * 50));
                    s.write_all(message.as_bytes()).unwrap();
                    let mut back = vec![0u8; message.len()];
                    s.read_exact(&mut back).unwrap();
                    assert_eq!(back, message.as_bytes());
                }
                // Half-close: the server reads end of file and closes too.
                s.shutdown(std::net::Shutdown::Write).unwrap();
                let mut rest = Vec::new();
                s.read_to_end(&mut rest).unwrap();
                assert!(rest.is_empty(), "nothing after the echoes: {rest:?}");
            })
        })
        .collect();
    for c in clients {
        c.join().unwrap();
    }
}
