//! A private busd for the integration tests, on a socket of its own.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bus_ipc::{Bus, QueueOptions, Receiver, Sender};

/// A queue small enough to fill quickly: 4 KiB of ring, payloads up to
/// 256 bytes.
pub const SMALL: QueueOptions = QueueOptions {
    capacity: 4096,
    max_message: 256,
    max_producers: 0,
};

pub struct Busd {
    child: Child,
    dir: PathBuf,
    pub socket: PathBuf,
}

fn busd_path() -> PathBuf {
    if let Some(p) = std::env::var_os("BUSD").filter(|p| !p.is_empty()) {
        return PathBuf::from(p);
    }
    let build = std::env::var_os("BUS_BUILD_DIR")
        .filter(|p| !p.is_empty())
        .map(PathBuf::from)
        .or_else(|| {
            let at_build = env!("BUS_IPC_BUILD_DIR");
            (!at_build.is_empty()).then(|| PathBuf::from(at_build))
        });
    match build {
        Some(b) => b.join("busd").join("busd"),
        None => panic!(
            "no busd to test against: set BUSD to a busd executable, or BUS_BUILD_DIR \
             to a meson build directory holding busd/busd"
        ),
    }
}

impl Busd {
    pub fn start() -> Busd {
        static N: AtomicUsize = AtomicUsize::new(0);
        let busd = busd_path();
        assert!(
            busd.is_file(),
            "no busd at {} (set BUSD or BUS_BUILD_DIR; build it with ninja first)",
            busd.display()
        );
        let dir = std::env::temp_dir().join(format!(
            "bus-ipc-test-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create test directory");
        let socket = dir.join("busd.sock");
        let log = std::fs::File::create(dir.join("busd.log")).expect("busd log");
        let child = Command::new(&busd)
            .arg("--socket")
            .arg(&socket)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("start {}: {}", busd.display(), e));
        let mut d = Busd { child, dir, socket };
        let t0 = Instant::now();
        loop {
            if Bus::open(Some(&d.socket)).is_ok() {
                return d;
            }
            if let Ok(Some(st)) = d.child.try_wait() {
                panic!("busd exited before it served: {}; log:\n{}", st, d.log());
            }
            assert!(t0.elapsed() < Duration::from_secs(10), "busd did not serve in 10 s");
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    pub fn bus(&self) -> Bus {
        Bus::open(Some(&self.socket)).expect("connect to busd")
    }

    /// Creates queue `name` with `opts` and opens a bus, a sender and the
    /// receiver on it.
    pub fn queue(&self, name: &str, opts: &QueueOptions) -> (Bus, Sender, Receiver) {
        let bus = self.bus();
        bus.create_queue(name, opts).unwrap();
        let tx = bus.sender(name).unwrap();
        let rx = bus.receiver(name).unwrap();
        (bus, tx, rx)
    }

    pub fn socket(&self) -> &Path {
        &self.socket
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("busd.log")).unwrap_or_default()
    }
}

impl Drop for Busd {
    fn drop(&mut self) {
        // busd keeps its queues across restarts: delete them, or their
        // segments and wake FIFOs would stay in /dev/shm.
        if let Ok(bus) = Bus::open(Some(&self.socket)) {
            if let Ok(queues) = bus.list_queues() {
                for q in queues {
                    let _ = bus.delete_queue(&q.name);
                }
            }
        }
        unsafe { libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM) };
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
