//! Sends COUNT demo.Order messages to QUEUE (creating it if need be), with
//! order ids FIRST_ID, FIRST_ID + 1, ...: producers in other languages use
//! other ranges, so a consumer can tell whose each order is.
//! `cargo run --features prost --example order_producer -- QUEUE COUNT [FIRST_ID [SYMBOL]]`.
//!
//! Order i (1-based) has id FIRST_ID + i - 1, quantity 100 i for odd i and
//! -100 i for even i, and price_micros 12 500 000 + 250 000 i: the C example
//! producer's orders, shifted by FIRST_ID - 1.  Prints its producer slot.

use bus_ipc::{Bus, QueueOptions};
use std::process::exit;

mod demo;
use demo::Order;

// Complete in itself, like the other examples: its argument checks and
// attach code repeat theirs deliberately, so that it reads (and copies)
// alone, without a helper module to look up.
fn usage() -> ! {
    eprintln!("usage: order_producer QUEUE COUNT [FIRST_ID [SYMBOL]]");
    exit(2)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 3 || args.len() > 5 {
        usage();
    }
    let queue = &args[1];
    let count: i64 = args[2].parse().unwrap_or_else(|_| usage());
    let first: u64 = args
        .get(3)
        .map_or(Ok(1), |f| f.parse())
        .unwrap_or_else(|_| usage());
    let symbol = args.get(4).map_or("ACME", |s| s.as_str());
    if count < 1 {
        usage();
    }
    let bus = Bus::open(None).unwrap_or_else(|e| {
        eprintln!("order_producer: cannot reach busd: {}", e);
        exit(1)
    });
    match bus.create_queue(queue, &QueueOptions::default()) {
        Ok(_) => {}
        Err(e) if e.errno() == libc::EEXIST => {}
        Err(e) => {
            eprintln!("order_producer: create '{}': {}", queue, e);
            exit(1)
        }
    }
    let tx = bus.sender(queue).unwrap_or_else(|e| {
        eprintln!("order_producer: attach to '{}': {}", queue, e);
        exit(1)
    });
    drop(bus); // busd is not on the data path
    for i in 1..=count {
        let order = Order {
            id: first + (i - 1) as u64,
            symbol: symbol.into(),
            quantity: if i % 2 == 1 { 100 * i } else { -100 * i },
            price_micros: 12_500_000 + 250_000 * i,
        };
        if let Err(e) = tx.send_named(&order) {
            eprintln!("order_producer: send to '{}': {}", queue, e);
            exit(1);
        }
    }
    println!(
        "order_producer: slot {} sent {} demo.Order messages to '{}'",
        tx.slot(),
        count,
        queue
    );
}
