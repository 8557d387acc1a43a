//! Protobuf over the bus: sends demo.Order messages (the C examples'
//! clients/examples/demo.proto) and decodes them back.
//! `cargo run --features prost --example orders -- QUEUE [COUNT]`.

use bus_ipc::{Bus, QueueOptions};

mod demo;
use demo::Order;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let queue = args.get(1).map_or("orders", |q| q.as_str());
    let count: u64 = args.get(2).map_or(Ok(3), |c| c.parse())?;
    let bus = Bus::open(None)?;
    match bus.create_queue(queue, &QueueOptions::default()) {
        Err(e) if e.errno() != libc::EEXIST => return Err(e.into()),
        _ => {}
    }
    let tx = bus.sender(queue)?;
    let mut rx = bus.receiver(queue)?;
    for i in 1..=count as i64 {
        let order = Order {
            id: i as u64,
            symbol: "ACME".into(),
            quantity: if i % 2 == 1 { 100 * i } else { -100 * i },
            price_micros: 12_500_000 + 250_000 * i,
        };
        tx.send_named(&order)?;
    }
    for _ in 0..count {
        let msg = rx.recv()?;
        let o: Order = msg.decode_named()?;
        println!(
            "orders: #{} {} {} @ {:.2}",
            o.id,
            o.symbol,
            o.quantity,
            o.price_micros as f64 / 1e6
        );
    }
    Ok(())
}
