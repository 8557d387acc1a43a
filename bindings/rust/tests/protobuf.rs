//! prost messages typed as the C side types them.
#![cfg(feature = "prost")]

mod common;

use bus_ipc::{type_id, QueueOptions};
use common::Busd;

#[path = "../examples/demo/mod.rs"]
mod demo;
use demo::Order;

#[test]
fn orders_round_trip() {
    let d = Busd::start();
    let (_bus, tx, mut rx) = d.queue("pb", &QueueOptions::default());
    let o = Order {
        id: 7,
        symbol: "ACME".into(),
        quantity: -300,
        price_micros: 12_750_000,
    };
    tx.send_named(&o).unwrap();
    tx.send_message(&o, "demo.Other").unwrap();
    let m = rx.recv().unwrap();
    assert_eq!(m.type_id(), type_id("demo.Order"));
    assert!(m.is::<Order>());
    assert_eq!(m.decode_named::<Order>().unwrap(), o);
    drop(m);
    let m = rx.recv().unwrap();
    assert_eq!(m.decode_named::<Order>().unwrap_err().errno(), libc::EBADMSG);
    assert_eq!(m.decode::<Order>("demo.Other").unwrap(), o);
}
