//! The blocking API against a real busd.

mod common;

use std::time::{Duration, Instant};

use bus_ipc::{type_id, QueueOptions, TryRecvError, TrySendError};
use common::{Busd, SMALL};

#[test]
fn queue_admin() {
    let d = Busd::start();
    let bus = d.bus();
    let opts = QueueOptions {
        capacity: 1 << 16,
        max_message: 1000,
        max_producers: 4,
    };
    let info = bus.create_queue("admin.b", &opts).unwrap();
    assert_eq!(info.name, "admin.b");
    assert_eq!(info.capacity, 1 << 16);
    assert_eq!(info.max_message, 1000);
    assert_eq!(info.max_producers, 4);
    bus.create_queue("admin.a", &QueueOptions::default()).unwrap();
    let e = bus.create_queue("admin.a", &QueueOptions::default()).unwrap_err();
    assert_eq!(e.errno(), libc::EEXIST);
    let names: Vec<String> = bus.list_queues().unwrap().into_iter().map(|q| q.name).collect();
    assert_eq!(names, ["admin.a", "admin.b"]);
    let s = bus.stats("admin.b").unwrap();
    assert_eq!(s.name, "admin.b");
    assert_eq!(s.enqueued, 0);
    bus.delete_queue("admin.a").unwrap();
    assert!(bus.delete_queue("admin.a").unwrap_err().is_not_found());
    assert!(bus.sender("admin.a").unwrap_err().is_not_found());
    assert!(bus.create_queue("bad/name", &QueueOptions::default()).is_err());
    assert!(bus.create_queue("nul\0", &QueueOptions::default()).is_err());
}

#[test]
fn no_busd_is_an_error() {
    let e = bus_ipc::Bus::open(Some(std::path::Path::new("/nonexistent/busd.sock"))).unwrap_err();
    assert!(!e.to_string().is_empty());
}

#[test]
fn send_and_receive() {
    let d = Busd::start();
    let (bus, tx, mut rx) = d.queue("q", &QueueOptions::default());
    assert_eq!(bus.receiver("q").unwrap_err().errno(), libc::EBUSY);
    assert!(matches!(rx.try_recv(), Err(TryRecvError::Empty)));

    tx.send(b"one").unwrap();
    tx.send_typed(type_id("demo.Tick"), b"two").unwrap();
    tx.try_send(b"").unwrap();
    {
        let m = rx.recv().unwrap();
        assert_eq!(&*m, b"one");
        assert_eq!(m.type_id(), 0);
        assert_eq!(m.producer(), tx.slot());
        assert_eq!(m.seq(), 0);
        assert!(m.enqueue_ns() > 0);
        assert!(!m.redelivered());
    }
    let m = rx.try_recv().unwrap();
    assert_eq!(&*m, b"two");
    assert_eq!(m.type_id(), type_id("demo.Tick"));
    assert_eq!(m.seq(), 1);
    drop(m);
    assert_eq!(rx.recv_timeout(Duration::from_millis(100)).unwrap().len(), 0);
    let t0 = Instant::now();
    assert!(rx.recv_timeout(Duration::from_millis(50)).unwrap_err().is_timeout());
    assert!(t0.elapsed() >= Duration::from_millis(45));

    let s = bus.stats("q").unwrap();
    assert_eq!((s.enqueued, s.dequeued, s.depth_msgs), (3, 3, 0));
    assert_eq!(s.producers, 1);
}

#[test]
fn full_queue_and_too_large() {
    let d = Busd::start();
    let bus = d.bus();
    bus.create_queue("small", &SMALL).unwrap();
    let tx = bus.sender("small").unwrap();
    assert_eq!(tx.max_message(), 256);
    assert_eq!(tx.send(&[0u8; 257]).unwrap_err().errno(), libc::EMSGSIZE);
    let mut sent = 0;
    loop {
        match tx.try_send(&[7u8; 200]) {
            Ok(()) => sent += 1,
            Err(TrySendError::Full) => break,
            Err(e) => panic!("{}", e),
        }
    }
    assert!(sent > 0);
    assert!(tx.send_timeout(&[7u8; 200], Duration::from_millis(20)).unwrap_err().is_timeout());
    let mut rx = bus.receiver("small").unwrap();
    let got = rx.try_iter().count();
    assert_eq!(got, sent);
    tx.try_send(b"room again").unwrap();
}

#[test]
fn loans() {
    let d = Busd::start();
    let (bus, mut tx, mut rx) = d.queue("loan", &QueueOptions::default());
    {
        let mut l = tx.reserve(64).unwrap();
        assert_eq!(l.len(), 64);
        l[..5].copy_from_slice(b"hello");
        l.commit(5).unwrap();
    }
    {
        let mut l = tx.reserve(64).unwrap();
        l[0] = b'x';
        // dropped: aborted
    }
    let l = tx.reserve(8).unwrap();
    assert_eq!(l.commit(9).unwrap_err().errno(), libc::EINVAL); // given up
    let mut l = tx.reserve(16).unwrap();
    l[..3].copy_from_slice(b"abc");
    l.commit_typed(42, 3).unwrap();
    tx.send(b"after").unwrap();

    let m = rx.recv().unwrap();
    assert_eq!(&*m, b"hello");
    drop(m);
    let m = rx.recv().unwrap();
    assert_eq!((&*m, m.type_id()), (&b"abc"[..], 42));
    drop(m);
    assert_eq!(&*rx.recv().unwrap(), b"after");
    assert!(matches!(rx.try_recv(), Err(TryRecvError::Empty)));
    assert_eq!(bus.stats("loan").unwrap().aborted, 2);
}

#[test]
fn batches_and_iterators() {
    let d = Busd::start();
    let (bus, tx, mut rx) = d.queue("batch", &QueueOptions::default());
    for i in 0..10u8 {
        tx.send(&[i]).unwrap();
    }
    {
        let b = rx.recv_batch(4, None).unwrap();
        assert_eq!(b.len(), 4);
        let v: Vec<u8> = b.iter().map(|m| m[0]).collect();
        assert_eq!(v, [0, 1, 2, 3]);
        assert_eq!(b.get(3).unwrap().seq(), 3);
        assert!(b.get(4).is_none());
    }
    let rest: Vec<u8> = rx.try_iter().map(|m| m.unwrap().data[0]).collect();
    assert_eq!(rest, [4, 5, 6, 7, 8, 9]);
    assert!(rx.recv_batch(4, Some(Duration::ZERO)).unwrap_err().is_would_block());
    let s = bus.stats("batch").unwrap();
    assert_eq!(s.depth_bytes, 0);

    // iter() ends when the queue is deleted and drained.
    tx.send(b"last").unwrap();
    bus.delete_queue("batch").unwrap();
    assert!(matches!(tx.try_send(b"x"), Err(TrySendError::Deleted)));
    let all: Vec<Vec<u8>> = rx.iter().map(|m| m.unwrap().data).collect();
    assert_eq!(all, [b"last".to_vec()]);
    assert!(matches!(rx.try_recv(), Err(TryRecvError::Deleted)));
}

#[test]
fn clones_are_other_slots_across_threads() {
    let d = Busd::start();
    let (_bus, tx, mut rx) = d.queue("mt", &QueueOptions::default());
    const N: u64 = 20_000;
    let shared = std::sync::Arc::new(tx.clone());
    assert_ne!(shared.slot(), tx.slot());
    let mut threads = Vec::new();
    for t in 0..4u8 {
        let s = shared.clone();
        threads.push(std::thread::spawn(move || {
            for i in 0..N {
                s.send(&[t, (i % 251) as u8]).unwrap();
            }
        }));
    }
    let own = tx.try_clone().unwrap();
    threads.push(std::thread::spawn(move || {
        for _ in 0..N {
            own.send(b"own").unwrap();
        }
    }));
    let mut count = 0;
    while count < 5 * N {
        let m = rx.recv().unwrap();
        assert!(m.len() == 2 || &*m == b"own");
        count += 1;
    }
    for t in threads {
        t.join().unwrap();
    }
    assert!(matches!(rx.try_recv(), Err(TryRecvError::Empty)));
}

#[test]
fn receiver_moves_to_another_thread() {
    let d = Busd::start();
    let (_bus, tx, mut rx) = d.queue("mv", &QueueOptions::default());
    let h = std::thread::spawn(move || rx.recv().unwrap().to_vec());
    std::thread::sleep(Duration::from_millis(20));
    tx.send(b"wake").unwrap();
    assert_eq!(h.join().unwrap(), b"wake");
}
