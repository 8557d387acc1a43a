//! recv_async / send_async on a tokio runtime against a real busd.
#![cfg(feature = "tokio")]

mod common;

use std::time::Duration;

use bus_ipc::QueueOptions;
use common::{Busd, SMALL};

#[tokio::test(flavor = "current_thread")]
async fn recv_async_wakes_on_a_send_from_another_thread() {
    let d = Busd::start();
    let (bus, tx, mut rx) = d.queue("a", &QueueOptions::default());
    let t = std::thread::spawn(move || {
        for i in 0..1000u32 {
            if i % 100 == 0 {
                std::thread::sleep(Duration::from_millis(2));
            }
            tx.send(&i.to_le_bytes()).unwrap();
        }
    });
    for i in 0..1000u32 {
        let m = tokio::time::timeout(Duration::from_secs(10), rx.recv_async())
            .await
            .expect("recv_async hung")
            .unwrap();
        assert_eq!(&*m, &i.to_le_bytes());
    }
    t.join().unwrap();
    // Nothing more: a timeout, and the receiver stays usable.
    assert!(tokio::time::timeout(Duration::from_millis(30), rx.recv_async()).await.is_err());
    bus.delete_queue("a").unwrap();
    assert!(rx.recv_async().await.unwrap_err().is_deleted());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_async_waits_for_room() {
    let d = Busd::start();
    let (bus, tx, mut rx) = d.queue("full", &SMALL);
    const N: u32 = 5000;
    // Spawned: the futures are Send.
    let producer = tokio::spawn(async move {
        for i in 0..N {
            tx.send_async(&[(i % 256) as u8; 100]).await.unwrap();
        }
    });
    let consumer = tokio::spawn(async move {
        for i in 0..N {
            let m = rx.recv_async().await.unwrap();
            assert_eq!(m[0], (i % 256) as u8);
            if i % 500 == 0 {
                drop(m);
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
        rx
    });
    tokio::time::timeout(Duration::from_secs(30), producer).await.expect("send_async hung").unwrap();
    let _rx = tokio::time::timeout(Duration::from_secs(30), consumer).await.expect("recv_async hung").unwrap();
    assert!(bus.stats("full").unwrap().full > 0, "the queue never filled");
}
