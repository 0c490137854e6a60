//! The hand-written future beside the compiler's: their sizes (printed;
//! `cargo test -p async_await --test handmade -- --nocapture` shows them)
//! and what holds of them whatever the machine. The variant's behaviour is
//! the conformance suite's (`tests/conformance.rs` runs every variant).

use std::mem::{size_of, size_of_val};
use std::net::SocketAddr;

use async_await::handmade::Fetch;
use async_await::mini::{self, Reactor};
use workload::{Clock, Plan, ResponseReader, Trace};

fn plan() -> Plan {
    Plan::new("http://127.0.0.1:9/", 1).unwrap()
}

fn unpin<F: Unpin>(_: &F) {}

#[test]
fn the_handmade_future_is_no_larger_than_its_largest_state_and_a_tag() {
    let reactor = Reactor::new().unwrap();
    let plan = plan();
    let page = plan.page(0);
    let mut trace = Trace::start(&page, Clock::start());
    let handmade = Fetch::new(&reactor, &plan, &page, &mut trace, false);
    // No state borrows another, so it may move between polls (this line
    // does not compile if that stops being true).
    unpin(&handmade);
    let handmade_size = size_of_val(&handmade);
    drop(handmade);
    let compiled = mini::fetch(&reactor, &plan, &page, &mut trace, false);
    let compiled_size = size_of_val(&compiled);
    drop(compiled);

    // Each state's fields laid end to end (as `Fetch`'s variants list them).
    let (socket, bytes, reader) = (
        size_of::<mini::Socket>(),
        size_of::<Vec<u8>>(),
        size_of::<ResponseReader>(),
    );
    let (reference, addr) = (size_of::<&Trace>(), size_of::<SocketAddr>());
    let states = [
        ("Start", reference + addr + bytes + reader + reference),
        ("Connecting", socket + bytes + reader + reference),
        (
            "Sending",
            socket + bytes + size_of::<usize>() + reader + reference,
        ),
        ("Receiving", socket + reader + reference),
    ];
    let (largest, fields) = states.into_iter().max_by_key(|s| s.1).unwrap();
    println!("largest state: {largest}, {fields} bytes of fields");
    println!(
        "hand-written Fetch: {handmade_size} bytes; compiler's fetch(..): {compiled_size} bytes"
    );
    let tag = size_of::<usize>();
    assert!(handmade_size > 0 && compiled_size > 0);
    assert!(
        handmade_size <= fields + tag,
        "{handmade_size} bytes, more than {largest} ({fields}) and a tag ({tag})"
    );
}

/// A future polled after it finished says so instead of panicking.
#[test]
fn polled_after_done_is_an_error() {
    use std::future::Future;
    use std::task::{Context, Waker};
    let mut done = Fetch::Done;
    let poll = std::pin::Pin::new(&mut done).poll(&mut Context::from_waker(Waker::noop()));
    assert!(matches!(poll, std::task::Poll::Ready(Err(_))));
}

/// Driven by its sockets alone, with no deadline timer that could wake the
/// task by chance, every page still ends: each wait left its waker with
/// the reactor. A lost waker makes the reactor report that nothing can
/// wake the tasks left.
#[test]
fn sockets_alone_wake_the_fetch() {
    use async_await::mini::Executor;
    use std::cell::RefCell;
    use std::time::Duration;
    use workload::{Server, ServerConfig};

    // Some latency, so that the first read finds nothing and must wait.
    let server = Server::start(ServerConfig {
        latency: Duration::from_millis(20),
        ..Default::default()
    })
    .unwrap();
    let plan = Plan::new(&server.url(), 3).unwrap();
    let reactor = Reactor::new().unwrap();
    let ended = RefCell::new(Vec::new());
    let mut executor = Executor::new();
    for page in plan.all_pages() {
        let (reactor, plan, ended) = (&reactor, &plan, &ended);
        executor.spawn(async move {
            let mut trace = Trace::start(&page, Clock::start());
            let result = Fetch::new(reactor, plan, &page, &mut trace, false).await;
            ended.borrow_mut().push(result.map(|body| body.bytes));
        });
    }
    executor
        .run(&reactor)
        .expect("every wait is woken by its socket");
    drop(executor);
    let ended = ended.into_inner();
    assert_eq!(ended.len(), 3);
    for result in ended {
        assert_eq!(result.unwrap(), plan.size as u64);
    }
}
