//! Throughput at 64 B between a producer process and a consumer process:
//! `cargo run --release --example bench -- [COUNT] [RUNS]`. busd's socket
//! is $BUS_SOCKET or the default; the queue has a 1 MiB ring, as
//! busbench's.

use bus_ipc::{Bus, QueueOptions};
use std::process::{exit, Command};
use std::time::Instant;

const SIZE: usize = 64;

fn produce(queue: &str, count: u64) {
    let tx = Bus::open(None).and_then(|b| b.sender(queue)).expect("attach producer");
    let buf = [0x5au8; SIZE];
    for _ in 0..count {
        tx.send(&buf).expect("send");
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() == 4 && args[1] == "--produce" {
        produce(&args[2], args[3].parse().expect("count"));
        return;
    }
    let count: u64 = args.get(1).map_or(5_000_000, |c| c.parse().expect("COUNT"));
    let runs: usize = args.get(2).map_or(3, |c| c.parse().expect("RUNS"));
    let bus = Bus::open(None).unwrap_or_else(|e| {
        eprintln!("bench: cannot reach busd: {}", e);
        exit(1)
    });
    for batch in [false, true] {
        let mut rates = Vec::new();
        for run in 0..runs {
            let queue = format!("rust-bench-{}-{}-{}", std::process::id(), batch as u8, run);
            let opts = QueueOptions {
                capacity: 1 << 20,
                ..QueueOptions::default()
            };
            bus.create_queue(&queue, &opts).expect("create queue");
            let mut rx = bus.receiver(&queue).expect("attach consumer");
            let mut child = Command::new(std::env::current_exe().expect("own path"))
                .args(["--produce", &queue, &count.to_string()])
                .spawn()
                .expect("start producer");
            let mut got = 0u64;
            let mut bytes = 0usize;
            // Time from the first message on: process start-up is not sent.
            drop(rx.recv().expect("recv"));
            got += 1;
            let t0 = Instant::now();
            while got < count {
                if batch {
                    let b = rx.recv_batch(64, None).expect("recv_batch");
                    for m in b.iter() {
                        bytes += m.len();
                    }
                    got += b.len() as u64;
                } else {
                    let m = rx.recv().expect("recv");
                    bytes += m.len();
                    got += 1;
                }
            }
            let secs = t0.elapsed().as_secs_f64();
            assert!(child.wait().expect("producer").success());
            assert_eq!(bytes as u64, (count - 1) * SIZE as u64);
            drop(rx);
            bus.delete_queue(&queue).expect("delete queue");
            rates.push((count - 1) as f64 / secs);
        }
        rates.sort_by(|a, b| a.partial_cmp(b).unwrap());
        println!(
            "bench: 64 B, {} msgs x {} runs, {}: median {:.2} M msgs/s (min {:.2}, max {:.2})",
            count,
            runs,
            if batch { "recv_batch(64)" } else { "recv" },
            rates[rates.len() / 2] / 1e6,
            rates[0] / 1e6,
            rates[rates.len() - 1] / 1e6
        );
    }
}
