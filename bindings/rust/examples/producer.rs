//! Sends COUNT messages to QUEUE (creating it if need be):
//! `cargo run --example producer -- QUEUE [COUNT]`. busd's socket is
//! $BUS_SOCKET or the default.

use bus_ipc::{Bus, QueueOptions};
use std::process::exit;

// Complete in itself, like the other examples: its argument checks and
// attach code repeat theirs deliberately, so that it reads (and copies)
// alone, without a helper module to look up.
fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 2 || args.len() > 3 {
        eprintln!("usage: producer QUEUE [COUNT]");
        exit(2);
    }
    let queue = &args[1];
    let count: u64 = args.get(2).map_or(3, |c| c.parse().unwrap_or(0));
    if count == 0 {
        eprintln!("producer: COUNT must be a positive number");
        exit(2);
    }
    let bus = Bus::open(None).unwrap_or_else(|e| {
        eprintln!("producer: cannot reach busd: {}", e);
        exit(1)
    });
    match bus.create_queue(queue, &QueueOptions::default()) {
        Ok(_) => {}
        Err(e) if e.errno() == libc::EEXIST => {}
        Err(e) => {
            eprintln!("producer: create '{}': {}", queue, e);
            exit(1)
        }
    }
    let tx = bus.sender(queue).unwrap_or_else(|e| {
        eprintln!("producer: attach to '{}': {}", queue, e);
        exit(1)
    });
    drop(bus); // busd is not on the data path
    for i in 1..=count {
        if let Err(e) = tx.send(format!("message {}", i).as_bytes()) {
            eprintln!("producer: send to '{}': {}", queue, e);
            exit(1);
        }
    }
    println!("producer: sent {} messages to '{}'", count, queue);
}
