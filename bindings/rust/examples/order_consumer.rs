//! Receives COUNT demo.Order messages from QUEUE and prints one line per
//! message: `PRODUCER SEQ ID SYMBOL QUANTITY PRICE_MICROS`.
//! `cargo run --features prost --example order_consumer -- QUEUE COUNT [TIMEOUT_MS]`.
//!
//! Exits 1 if a message is not a demo.Order or does not decode, or if no
//! message comes for TIMEOUT_MS milliseconds (default 30000).

use bus_ipc::Bus;
use std::io::Write;
use std::process::exit;
use std::time::Duration;

mod demo;
use demo::Order;

// Complete in itself, like the other examples: its argument checks and
// attach code repeat theirs deliberately, so that it reads (and copies)
// alone, without a helper module to look up.
fn usage() -> ! {
    eprintln!("usage: order_consumer QUEUE COUNT [TIMEOUT_MS]");
    exit(2)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 3 || args.len() > 4 {
        usage();
    }
    let queue = &args[1];
    let count: u64 = args[2].parse().unwrap_or_else(|_| usage());
    let timeout: u64 = args
        .get(3)
        .map_or(Ok(30_000), |t| t.parse())
        .unwrap_or_else(|_| usage());
    let mut rx = Bus::open(None)
        .and_then(|bus| bus.receiver(queue))
        .unwrap_or_else(|e| {
            eprintln!("order_consumer: attach to '{}': {}", queue, e);
            exit(1)
        });
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    for n in 0..count {
        let msg = match rx.recv_timeout(Duration::from_millis(timeout)) {
            Ok(m) => m,
            Err(e) => {
                let _ = out.flush();
                eprintln!(
                    "order_consumer: receive from '{}' after {} messages: {}",
                    queue, n, e
                );
                exit(1)
            }
        };
        let order: Order = match msg.decode_named() {
            Ok(o) => o,
            Err(_) => {
                let _ = out.flush();
                eprintln!(
                    "order_consumer: producer {} seq {}: not a demo.Order (type {}, {} bytes)",
                    msg.producer(),
                    msg.seq(),
                    msg.type_id(),
                    msg.data().len()
                );
                exit(1)
            }
        };
        let _ = writeln!(
            out,
            "{} {} {} {} {} {}",
            msg.producer(),
            msg.seq(),
            order.id,
            order.symbol,
            order.quantity,
            order.price_micros
        );
    }
    if out.flush().is_err() {
        exit(1);
    }
}
