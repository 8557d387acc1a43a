//! A tokio service: serves the messages of QUEUE to TCP clients. It
//! `select!`s over the queue and a TCP listener on one thread: each message
//! received is written, one line, to every client connected.
//!
//! `cargo run --example service -- QUEUE [ADDR] [COUNT]` (ADDR default
//! 127.0.0.1:7878; stops after COUNT messages if given). Try
//! `nc 127.0.0.1 7878` and `cargo run --example producer -- QUEUE 5`.

use bus_ipc::{Bus, QueueOptions};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 2 || args.len() > 4 {
        eprintln!("usage: service QUEUE [ADDR] [COUNT]");
        std::process::exit(2);
    }
    let queue = &args[1];
    let addr = args.get(2).map_or("127.0.0.1:7878", |a| a.as_str());
    let count: Option<u64> = args.get(3).map(|c| c.parse()).transpose()?;

    let bus = Bus::open(None)?;
    match bus.create_queue(queue, &QueueOptions::default()) {
        Err(e) if e.errno() != libc::EEXIST => return Err(e.into()),
        _ => {}
    }
    let mut rx = bus.receiver(queue)?;
    drop(bus);
    let listener = TcpListener::bind(addr).await?;
    println!("service: '{}' to {}", queue, listener.local_addr()?);

    let mut clients: Vec<TcpStream> = Vec::new();
    let mut served = 0u64;
    loop {
        tokio::select! {
            conn = listener.accept() => {
                let (stream, peer) = conn?;
                println!("service: {} connected", peer);
                clients.push(stream);
            }
            msg = rx.recv_async() => {
                let msg = msg?;
                let mut line = msg.to_vec();
                drop(msg); // release the ring space before writing to sockets
                line.push(b'\n');
                let mut alive = Vec::with_capacity(clients.len());
                for mut c in clients.drain(..) {
                    if c.write_all(&line).await.is_ok() {
                        alive.push(c);
                    }
                }
                clients = alive;
                served += 1;
                if Some(served) == count {
                    break;
                }
            }
        }
    }
    println!("service: served {} messages", served);
    Ok(())
}
