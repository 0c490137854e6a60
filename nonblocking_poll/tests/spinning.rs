//! What this lesson adds to the shared suite: the sockets really spin
//! (every page is answered "would block" while its server is silent), the
//! sequential variant keeps one page at a time, the round-robin one has them
//! all in flight at once, a handshake that never completes ends at the
//! deadline, and `--cpu-us` work does not stop the pages from ending ok.
//! Behaviour only, never timings.

use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::time::Duration;

use nonblocking_poll::{round_robin, sequential, Spins};
use workload::{ErrorKind, Plan, Server, ServerConfig, Trace};

type Counted = fn(&Plan) -> (Vec<Trace>, Vec<Spins>);
const VARIANTS: [(&str, Counted); 2] = [
    ("sequential", sequential::fetch_all_counted),
    ("round-robin", round_robin::fetch_all_counted),
];

fn slow_server() -> Server {
    Server::start(ServerConfig {
        latency: Duration::from_millis(30),
        ..ServerConfig::default()
    })
    .expect("page server")
}

fn sorted(mut run: (Vec<Trace>, Vec<Spins>)) -> (Vec<Trace>, Vec<Spins>) {
    run.0.sort_by_key(|t| t.page);
    run.1.sort_by_key(|s| s.page);
    run
}

#[test]
fn every_page_is_told_would_block_while_the_server_waits() {
    let server = slow_server();
    for (name, fetch) in VARIANTS {
        let plan = Plan::new(&server.url(), 3).unwrap();
        let (traces, spins) = sorted(fetch(&plan));
        assert_eq!(spins.len(), 3, "{name}: one count per page");
        for (t, s) in traces.iter().zip(&spins) {
            assert!(t.is_ok(), "{name}: {t:?}");
            assert_eq!(s.page, t.page, "{name}: counts follow their page");
            // The server holds back its first byte for 30 ms; a recv that
            // never blocks must have come back empty-handed at least once.
            assert!(s.recv > 0, "{name}: page {} never spun: {s:?}", t.page);
        }
    }
}

/// `--cpu-us` runs inline once a page is complete; every page still ends
/// ok, and still spun while its server was silent.
#[test]
fn pages_with_cpu_work_still_end_ok() {
    let server = slow_server();
    for (name, fetch) in VARIANTS {
        let mut plan = Plan::new(&server.url(), 3).unwrap();
        plan.cpu = Duration::from_millis(5);
        let (traces, spins) = sorted(fetch(&plan));
        assert_eq!(traces.len(), 3, "{name}");
        for (t, s) in traces.iter().zip(&spins) {
            assert!(t.is_ok(), "{name}: {t:?}");
            assert!(s.recv > 0, "{name}: page {} never spun: {s:?}", t.page);
        }
    }
}

#[test]
fn sequential_fetches_one_page_at_a_time() {
    let server = slow_server();
    let plan = Plan::new(&server.url(), 3).unwrap();
    let (traces, _) = sorted(sequential::fetch_all_counted(&plan));
    for pair in traces.windows(2) {
        assert!(
            pair[1].start_ms >= pair[0].done_ms,
            "page {} started before page {} ended: {pair:?}",
            pair[1].page,
            pair[0].page
        );
    }
}

#[test]
fn round_robin_has_every_page_in_flight_at_once() {
    let server = slow_server();
    let plan = Plan::new(&server.url(), 5).unwrap();
    let (traces, _) = round_robin::fetch_all_counted(&plan);
    let last_start = traces.iter().filter_map(|t| t.start_ms).fold(0.0, f64::max);
    let first_end = traces
        .iter()
        .filter_map(|t| t.done_ms)
        .fold(f64::INFINITY, f64::min);
    assert!(
        last_start <= first_end,
        "a page started after another had ended: {traces:?}"
    );
    assert!(traces.iter().all(Trace::is_ok), "{traces:?}");
}

/// A listener whose accept queue is full drops new SYNs, so a connect to it
/// stays "in progress": the connect spin must end at the page's deadline.
#[test]
fn a_handshake_that_never_completes_times_out_while_spinning() {
    let listener =
        socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    listener
        .bind(&SocketAddr::from((Ipv4Addr::LOCALHOST, 0)).into())
        .unwrap();
    listener.listen(0).unwrap();
    let addr = listener.local_addr().unwrap().as_socket().unwrap();
    // Fill the queue (never accepted); the later fillers are dropped.
    let _fillers: Vec<TcpStream> = (0..3)
        .filter_map(|_| TcpStream::connect_timeout(&addr, Duration::from_millis(100)).ok())
        .collect();

    for (name, fetch) in VARIANTS {
        let mut plan = Plan::new(&format!("http://{addr}"), 2).unwrap();
        plan.timeout = Duration::from_millis(300);
        let (traces, spins) = sorted(fetch(&plan));
        for (t, s) in traces.iter().zip(&spins) {
            assert_eq!(t.error_kind(), Some(ErrorKind::Timeout), "{name}: {t:?}");
            assert_eq!(t.connected_ms, None, "{name}: {t:?}");
            assert!(s.connect > 0, "{name}: no connect spin: {s:?}");
        }
    }
}
