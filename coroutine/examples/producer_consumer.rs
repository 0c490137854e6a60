//! The producer / consumer of 《Python(线程进程3)》 ("yield and coroutines"), twice.
//!
//! 1. With a generator, the tutorial's way: the consumer is a generator, the
//!    producer drives it with `send`. No thread, no lock, no queue: `send`
//!    jumps into the consumer, `yield` jumps back. The generators of the
//!    `generator` crate (the ones may's coroutines are built on) are
//!    *stackful*: the consumer here suspends inside a helper function it
//!    calls, which a Python generator cannot do without `yield from` at
//!    every level.
//! 2. With two may coroutines and two channels, the gevent way: each side
//!    just blocks on a channel, and the switch happens inside the blocking
//!    call.
//!
//! Run it with `cargo run -p coroutine --example producer_consumer`.

// The one `unsafe` code is may's spawn, in `with_may_coroutines`.
#![deny(unsafe_code)]

use generator::{Gn, Scope};
use std::time::Duration;

/// What the consumer receives, and what it answers.
type Message = u32;
type Reply = &'static str;

// ANCHOR: generator
/// The tutorial's `consumer()`: wait for a message, handle it, answer, again.
/// `None` is the tutorial's `if not n: return`. (The `'static` in the scope's
/// type says the generator borrows nothing from its creator.)
fn consumer(mut scope: Scope<'_, 'static, Message, Reply>) -> Reply {
    let mut reply = "";
    // The tutorial's `n = yield r`, but one call deeper: `next_message` does
    // the yield. The whole call chain, this frame included, is frozen on
    // the generator's own stack until the producer sends again.
    while let Some(n) = next_message(&mut scope, reply) {
        println!("[CONSUMER] <- consuming {n}...");
        reply = "200 OK";
    }
    "closed"
}

// ANCHOR: next_message
/// Hand `reply` back to the producer and suspend until the next message.
fn next_message(scope: &mut Scope<'_, 'static, Message, Reply>, reply: Reply) -> Option<Message> {
    scope.yield_(reply)
}
// ANCHOR_END: next_message

/// The tutorial's `produce(c)`.
fn with_a_generator() {
    let mut c = Gn::<Message>::new_scoped(consumer);
    // The tutorial's `next(c)`: run the consumer up to its first yield.
    c.resume();
    for n in 1..=5 {
        println!("[PRODUCER] -> producing {n}...");
        // The tutorial's `c.send(n)`: switch to the consumer, come back with
        // its answer. Same thread, no lock, no queue.
        let r = c.send(n);
        println!("[PRODUCER] consumer returned: {r}");
    }
    // The tutorial's `c.close()`: send "nothing", the consumer returns.
    let last = c.raw_send(None);
    println!("[PRODUCER] consumer ended: {last:?}");
}
// ANCHOR_END: generator

#[allow(unsafe_code)]
/// The same conversation between two may coroutines: each side blocks on a
/// channel, and may switches to the other while it waits, on whatever
/// worker thread is free (gevent's switch on I/O).
fn with_may_coroutines() {
    let (to_consumer, messages) = may::sync::mpsc::channel::<Message>();
    let (to_producer, replies) = may::sync::mpsc::channel::<Reply>();

    // SAFETY: may's rules for a coroutine: it holds no thread-local (nor
    // anything borrowed from one) across a channel call, the only places
    // it suspends; it owns only `Send` values (a receiver and a sender);
    // and its frames (println! and the channel calls) need far less than
    // may's default 32 KiB stack.
    let consumer = unsafe {
        may::coroutine::spawn(move || {
            for n in messages.iter() {
                println!("[CONSUMER] <- consuming {n}...");
                // The tutorial sleeps here; may's sleep suspends this coroutine
                // only, not the worker thread.
                may::coroutine::sleep(Duration::from_millis(100));
                if to_producer.send("200 OK").is_err() {
                    break;
                }
            }
        })
    };
    // SAFETY: as for the consumer: no thread-local across a suspension,
    // only `Send` values, a shallow stack.
    let producer = unsafe {
        may::coroutine::spawn(move || {
            for n in 1..=5 {
                println!("[PRODUCER] -> producing {n}...");
                if to_consumer.send(n).is_err() {
                    break;
                }
                match replies.recv() {
                    Ok(r) => println!("[PRODUCER] consumer returned: {r}"),
                    Err(_) => break,
                }
            }
            // Dropping the sender closes the channel: the consumer's loop
            // ends, the tutorial's `c.close()`.
        })
    };
    for (who, handle) in [("producer", producer), ("consumer", consumer)] {
        if handle.join().is_err() {
            eprintln!("the {who} coroutine panicked");
        }
    }
}

fn main() {
    println!("== a generator and send(), the tutorial's yield");
    with_a_generator();
    println!();
    println!("== two may coroutines and two channels, the gevent way");
    with_may_coroutines();
}
