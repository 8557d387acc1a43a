//! Receives COUNT messages from QUEUE and prints them:
//! `cargo run --example consumer -- QUEUE [COUNT]`. busd's socket is
//! $BUS_SOCKET or the default.

use bus_ipc::Bus;
use std::process::exit;

// Complete in itself, like the other examples: its argument checks and
// attach code repeat theirs deliberately, so that it reads (and copies)
// alone, without a helper module to look up.
fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 2 || args.len() > 3 {
        eprintln!("usage: consumer QUEUE [COUNT]");
        exit(2);
    }
    let queue = &args[1];
    let count: u64 = args.get(2).map_or(3, |c| c.parse().unwrap_or(0));
    if count == 0 {
        eprintln!("consumer: COUNT must be a positive number");
        exit(2);
    }
    let mut rx = Bus::open(None)
        .and_then(|bus| bus.receiver(queue))
        .unwrap_or_else(|e| {
            eprintln!("consumer: attach to '{}': {}", queue, e);
            exit(1)
        });
    for _ in 0..count {
        let msg = match rx.recv() {
            Ok(m) => m,
            Err(e) => {
                eprintln!("consumer: receive from '{}': {}", queue, e);
                exit(1)
            }
        };
        println!(
            "consumer: producer {} seq {}: {}",
            msg.producer(),
            msg.seq(),
            String::from_utf8_lossy(&msg)
        );
        // msg is released here, as it goes out of scope
    }
}
