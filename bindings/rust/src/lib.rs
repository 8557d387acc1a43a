//! Safe Rust bindings for libbus, a shared-memory message bus.
//!
//! A queue is a shared-memory ring with any number of producers and one
//! consumer; busd creates queues and hands out attachments, and is not on
//! the data path. Connect with [`Bus::open`], then attach a [`Sender`] or
//! the queue's one [`Receiver`]:
//!
//! ```no_run
//! use bus_ipc::{Bus, QueueOptions};
//!
//! # fn main() -> Result<(), bus_ipc::Error> {
//! let bus = Bus::open(None)?; // $BUS_SOCKET, else the default socket
//! bus.create_queue("orders", &QueueOptions::default())?;
//! let tx = bus.sender("orders")?;
//! let mut rx = bus.receiver("orders")?;
//! tx.send(b"hello")?;
//! let msg = rx.recv()?;
//! assert_eq!(&*msg, b"hello");
//! # Ok(())
//! # }
//! ```
//!
//! A received [`Message`] is a view into the ring: it borrows the receiver
//! and gives its space back when dropped, so no view can outlive its
//! release:
//!
//! ```compile_fail
//! # fn f(rx: &mut bus_ipc::Receiver) -> Result<(), bus_ipc::Error> {
//! let first = rx.recv()?;
//! let second = rx.recv()?; // error: `rx` is still borrowed by `first`
//! println!("{:?} {:?}", &*first, &*second);
//! # Ok(())
//! # }
//! ```
//!
//! ```compile_fail
//! # fn f(rx: &mut bus_ipc::Receiver) -> Result<(), bus_ipc::Error> {
//! let bytes: &[u8] = {
//!     let msg = rx.recv()?;
//!     &msg[..] // error: `msg` is released at the end of this block
//! };
//! println!("{:?}", bytes);
//! # Ok(())
//! # }
//! ```
//!
//! Features: `tokio` (on by default) adds [`Receiver::recv_async`] and
//! [`Sender::send_async`] over the handles' event-loop descriptors;
//! `prost` adds protobuf messages typed by [`type_id`] of their full name.

#![deny(missing_docs)]

mod error;
mod ffi;
#[cfg(feature = "prost")]
mod pb;
#[cfg(feature = "tokio")]
mod tokio_io;

use std::ffi::{CStr, CString};
use std::marker::PhantomData;
use std::ops::{Deref, DerefMut};
use std::os::raw::{c_char, c_int};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::ptr::{self, NonNull};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

pub use error::{Error, TryRecvError, TrySendError};
#[cfg(feature = "prost")]
pub use pb::Named;

/// Wait forever.
const FOREVER: c_int = -1;

/// The type id of a message type by its full name (`"demo.Order"`), as
/// `bus_type_id()` computes it: 32-bit FNV-1a over the name's bytes, never
/// 0 (0 means untyped).
pub fn type_id(full_name: &str) -> u32 {
    let mut h: u32 = 2166136261;
    for &b in full_name.as_bytes() {
        h ^= u32::from(b);
        h = h.wrapping_mul(16777619);
    }
    if h == 0 {
        1
    } else {
        h
    }
}

/// Whether `name` is a valid queue name: 1 to 64 characters of
/// `[A-Za-z0-9._-]`.
pub fn name_valid(name: &str) -> bool {
    match CString::new(name) {
        Ok(c) => unsafe { ffi::bus_name_valid(c.as_ptr()) == 1 },
        Err(_) => false,
    }
}

fn cstring(s: &str) -> Result<CString, Error> {
    CString::new(s).map_err(|_| Error::from_errno(libc::EINVAL))
}

fn timeout_ms(d: Duration) -> c_int {
    // Round up, so that a positive timeout never becomes "do not wait".
    let ms = d.as_millis() + u128::from(d.subsec_nanos() % 1_000_000 != 0);
    ms.min(c_int::MAX as u128) as c_int
}

fn spin_ns(d: Duration) -> u32 {
    d.as_nanos().min(u128::from(u32::MAX)) as u32
}

fn name_of(raw: &[c_char]) -> String {
    let bytes: Vec<u8> = raw.iter().take_while(|&&c| c != 0).map(|&c| c as u8).collect();
    String::from_utf8_lossy(&bytes).into_owned()
}

/// Options of a new queue; a zero field takes busd's default.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QueueOptions {
    /// Ring bytes, a power of two.
    pub capacity: u64,
    /// The largest payload, in bytes.
    pub max_message: u32,
    /// How many producers may attach at once.
    pub max_producers: u32,
}

// QueueInfo and Stats are the safe counterparts of ffi::bus_queue_info and
// ffi::bus_stats: the same fields under the same names as in bus.h (and
// libbus(3)), with Rust types where C has none.  That they, and their
// From conversions, look like the ffi structures and like each other is
// deliberate: one field each per field of the C structure.
/// What busd says about a queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueInfo {
    /// The queue's name.
    pub name: String,
    /// The queue's uuid, new with each creation.
    pub uuid: [u8; 16],
    /// Ring bytes.
    pub capacity: u64,
    /// The largest payload, in bytes.
    pub max_message: u32,
    /// Producer slots.
    pub max_producers: u32,
    /// When it was created, in nanoseconds since the epoch.
    pub created_ns: u64,
}

impl From<&ffi::bus_queue_info> for QueueInfo {
    fn from(i: &ffi::bus_queue_info) -> QueueInfo {
        QueueInfo {
            name: name_of(&i.name),
            uuid: i.uuid,
            capacity: i.capacity,
            max_message: i.max_message,
            max_producers: i.max_producers,
            created_ns: i.created_ns,
        }
    }
}

/// A queue's counters, read from its segment (libbus(3) documents each).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stats {
    /// The queue's name.
    pub name: String,
    /// The queue's uuid.
    pub uuid: [u8; 16],
    /// Ring bytes.
    pub capacity: u64,
    /// The largest payload, in bytes.
    pub max_message: u32,
    /// Producer slots.
    pub max_producers: u32,
    /// Bytes claimed and not yet released.
    pub depth_bytes: u64,
    /// Messages enqueued and not yet received.
    pub depth_msgs: u64,
    /// Messages committed by producers.
    pub enqueued: u64,
    /// Payload bytes committed by producers.
    pub enqueued_bytes: u64,
    /// Messages received by consumers.
    pub dequeued: u64,
    /// Payload bytes received by consumers.
    pub dequeued_bytes: u64,
    /// Producers attached now.
    pub producers: u32,
    /// The pid of the live consumer, 0 if none.
    pub consumer_pid: u32,
    /// Sends that found the queue full.
    pub full: u64,
    /// Sends that slept waiting for space.
    pub blocked: u64,
    /// Wakes producers made for the consumer.
    pub consumer_wakeups: u64,
    /// Times the consumer slept on an empty queue.
    pub consumer_sleeps: u64,
    /// Wakes the consumer made for producers.
    pub producer_wakeups: u64,
    /// Records recovered from dead producers.
    pub recovered: u64,
    /// Messages delivered again after a consumer died.
    pub redelivered: u64,
    /// Age of the oldest message waiting, 0 if none.
    pub oldest_age_ns: u64,
    /// Median enqueue-to-receive latency (sampled).
    pub p50_ns: u64,
    /// 99th percentile enqueue-to-receive latency (sampled).
    pub p99_ns: u64,
    /// 99.9th percentile enqueue-to-receive latency (sampled).
    pub p999_ns: u64,
    /// The latency histogram: bucket `b` counts `[2^b, 2^(b+1))` ns.
    pub latency_hist: [u64; 64],
    /// The queue was deleted.
    pub deleted: bool,
    /// A corrupt record stopped the queue.
    pub broken: bool,
    /// Corrupt records reported and skipped.
    pub corrupt: u64,
    /// How long the queue has been stalled behind an uncommitted claim; 0
    /// if not stalled.
    pub stalled_ns: u64,
    /// The producer slot of the stalling claim, if one is named.
    pub stalled_slot: Option<u32>,
    /// The pid of the stalling producer, 0 if none.
    pub stalled_pid: u32,
    /// Whether the stalling producer lives.
    pub stalled_alive: bool,
    /// Loans given up.
    pub aborted: u64,
    /// Requests the queue's consumer received.
    pub requests: u64,
    /// Replies the queue's consumer sent.
    pub replies: u64,
    /// Replies callers dropped: their call had timed out or was cancelled.
    pub late_replies: u64,
    /// Replies refused because the caller had closed or died.
    pub dead_replies: u64,
}

impl From<&ffi::bus_stats> for Stats {
    fn from(s: &ffi::bus_stats) -> Stats {
        Stats {
            name: name_of(&s.name),
            uuid: s.uuid,
            capacity: s.capacity,
            max_message: s.max_message,
            max_producers: s.max_producers,
            depth_bytes: s.depth_bytes,
            depth_msgs: s.depth_msgs,
            enqueued: s.enqueued,
            enqueued_bytes: s.enqueued_bytes,
            dequeued: s.dequeued,
            dequeued_bytes: s.dequeued_bytes,
            producers: s.producers,
            consumer_pid: s.consumer_pid,
            full: s.full,
            blocked: s.blocked,
            consumer_wakeups: s.consumer_wakeups,
            consumer_sleeps: s.consumer_sleeps,
            producer_wakeups: s.producer_wakeups,
            recovered: s.recovered,
            redelivered: s.redelivered,
            oldest_age_ns: s.oldest_age_ns,
            p50_ns: s.p50_ns,
            p99_ns: s.p99_ns,
            p999_ns: s.p999_ns,
            latency_hist: s.latency_hist,
            deleted: s.deleted != 0,
            broken: s.broken != 0,
            corrupt: s.corrupt,
            stalled_ns: s.stalled_ns,
            stalled_slot: if s.stalled_slot == u32::MAX {
                None
            } else {
                Some(s.stalled_slot)
            },
            stalled_pid: s.stalled_pid,
            stalled_alive: s.stalled_alive != 0,
            aborted: s.aborted,
            requests: s.requests,
            replies: s.replies,
            late_replies: s.late_replies,
            dead_replies: s.dead_replies,
        }
    }
}

/// A connection to busd: creates, deletes, lists and attaches queues.
///
/// Handles attached through it ([`Sender`], [`Receiver`]) stay usable
/// after it is dropped: busd is not on the data path. A `Bus` may move
/// between threads but not be shared by them.
pub struct Bus {
    b: NonNull<ffi::bus>,
    socket: Option<PathBuf>,
}

// The connection is used by one thread at a time (Bus is not Sync).
unsafe impl Send for Bus {}

impl Bus {
    /// Connects to busd on `socket`; `None` means the default socket:
    /// `$BUS_SOCKET`, else `$XDG_RUNTIME_DIR/bus/busd.sock`, else
    /// `/tmp/bus-$UID/busd.sock`.
    pub fn open(socket: Option<&Path>) -> Result<Bus, Error> {
        let path = match socket {
            Some(p) => Some(
                CString::new(p.as_os_str().as_bytes())
                    .map_err(|_| Error::from_errno(libc::EINVAL))?,
            ),
            None => None,
        };
        let mut b = ptr::null_mut();
        Error::check(unsafe {
            ffi::bus_open(path.as_ref().map_or(ptr::null(), |p| p.as_ptr()), &mut b)
        })?;
        Ok(Bus {
            b: NonNull::new(b).expect("bus_open returned no handle"),
            socket: socket.map(Path::to_path_buf),
        })
    }

    /// The socket given to [`Bus::open`], `None` for the default.
    pub fn socket(&self) -> Option<&Path> {
        self.socket.as_deref()
    }

    /// The last error message busd sent on this connection (empty if none).
    pub fn last_error(&self) -> String {
        unsafe { CStr::from_ptr(ffi::bus_last_error(self.b.as_ptr())) }
            .to_string_lossy()
            .into_owned()
    }

    /// Creates a queue.
    pub fn create_queue(&self, name: &str, opts: &QueueOptions) -> Result<QueueInfo, Error> {
        let name = cstring(name)?;
        let o = ffi::bus_queue_opts {
            capacity: opts.capacity,
            max_message: opts.max_message,
            max_producers: opts.max_producers,
        };
        let mut info = std::mem::MaybeUninit::<ffi::bus_queue_info>::zeroed();
        Error::check(unsafe {
            ffi::bus_queue_create(self.b.as_ptr(), name.as_ptr(), &o, info.as_mut_ptr())
        })?;
        Ok(QueueInfo::from(unsafe { &info.assume_init() }))
    }

    /// Deletes a queue: its name is gone at once, its senders get
    /// [`TrySendError::Deleted`], its receiver drains what is left first.
    pub fn delete_queue(&self, name: &str) -> Result<(), Error> {
        let name = cstring(name)?;
        Error::check(unsafe { ffi::bus_queue_delete(self.b.as_ptr(), name.as_ptr()) })?;
        Ok(())
    }

    /// The queues, sorted by name.
    pub fn list_queues(&self) -> Result<Vec<QueueInfo>, Error> {
        let mut cap = 16;
        loop {
            let mut v: Vec<ffi::bus_queue_info> = Vec::with_capacity(cap);
            let n = Error::check(unsafe {
                ffi::bus_queue_list(self.b.as_ptr(), v.as_mut_ptr(), cap)
            })? as usize;
            if n <= cap {
                unsafe { v.set_len(n) };
                return Ok(v.iter().map(QueueInfo::from).collect());
            }
            cap = n + 16;
        }
    }

    /// A queue's counters.
    pub fn stats(&self, name: &str) -> Result<Stats, Error> {
        let name = cstring(name)?;
        let mut s = std::mem::MaybeUninit::<ffi::bus_stats>::zeroed();
        Error::check(unsafe {
            ffi::bus_queue_stats(self.b.as_ptr(), name.as_ptr(), s.as_mut_ptr())
        })?;
        Ok(Stats::from(unsafe { &s.assume_init() }))
    }

    /// Attaches a producer to a queue.
    pub fn sender(&self, queue: &str) -> Result<Sender, Error> {
        let cname = cstring(queue)?;
        let mut p = ptr::null_mut();
        Error::check(unsafe { ffi::bus_producer_open(self.b.as_ptr(), cname.as_ptr(), &mut p) })?;
        let p = NonNull::new(p).expect("bus_producer_open returned no handle");
        Ok(Sender {
            max_message: unsafe { ffi::bus_producer_max_message(p.as_ptr()) },
            slot: unsafe { ffi::bus_producer_slot(p.as_ptr()) },
            handle: Mutex::new(Producer(p)),
            queue: queue.to_owned(),
            socket: self.socket.clone(),
            #[cfg(feature = "tokio")]
            afd: Mutex::new(None),
        })
    }

    /// Attaches the queue's consumer: fails with `EBUSY` while another
    /// lives.
    pub fn receiver(&self, queue: &str) -> Result<Receiver, Error> {
        let cname = cstring(queue)?;
        let mut c = ptr::null_mut();
        Error::check(unsafe { ffi::bus_consumer_open(self.b.as_ptr(), cname.as_ptr(), &mut c) })?;
        Ok(Receiver {
            c: NonNull::new(c).expect("bus_consumer_open returned no handle"),
            #[cfg(feature = "tokio")]
            afd: None,
        })
    }
}

impl Drop for Bus {
    fn drop(&mut self) {
        unsafe { ffi::bus_close(self.b.as_ptr()) }
    }
}

impl std::fmt::Debug for Bus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bus").field("socket", &self.socket).finish()
    }
}

/// A producer handle; libbus handles are used by one thread at a time.
struct Producer(NonNull<ffi::bus_producer>);

// The handle is only touched under the Sender's mutex (or through &mut).
unsafe impl Send for Producer {}

/// A producer attached to a queue: sends messages into its ring.
///
/// `Sender` is `Send` and `Sync`: concurrent sends through one `Sender`
/// take turns on a mutex. [`Clone`] attaches another producer (another
/// slot of the queue) through busd, which is what threads that send a lot
/// should each have.
pub struct Sender {
    handle: Mutex<Producer>,
    queue: String,
    socket: Option<PathBuf>,
    max_message: usize,
    slot: u32,
    #[cfg(feature = "tokio")]
    afd: Mutex<Option<std::sync::Arc<tokio_io::Readable>>>,
}

impl Sender {
    fn lock(&self) -> MutexGuard<'_, Producer> {
        // A panic cannot leave the C handle half-changed: ignore poison.
        self.handle.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn send_raw(&self, type_id: u32, data: &[u8], timeout: c_int) -> Result<(), Error> {
        let p = self.lock();
        Error::check(unsafe {
            ffi::bus_send(p.0.as_ptr(), type_id, data.as_ptr().cast(), data.len(), timeout)
        })?;
        Ok(())
    }

    /// Sends an untyped message, waiting for room as long as it takes.
    pub fn send(&self, data: &[u8]) -> Result<(), Error> {
        self.send_raw(0, data, FOREVER)
    }

    /// Sends a message of the given type id (see [`type_id`]), waiting for
    /// room as long as it takes.
    pub fn send_typed(&self, type_id: u32, data: &[u8]) -> Result<(), Error> {
        self.send_raw(type_id, data, FOREVER)
    }

    /// Sends an untyped message if there is room now.
    pub fn try_send(&self, data: &[u8]) -> Result<(), TrySendError> {
        self.send_raw(0, data, 0).map_err(TrySendError::from)
    }

    /// Sends a message of the given type id if there is room now.
    pub fn try_send_typed(&self, type_id: u32, data: &[u8]) -> Result<(), TrySendError> {
        self.send_raw(type_id, data, 0).map_err(TrySendError::from)
    }

    /// Sends an untyped message, waiting at most `timeout` for room (then
    /// an error with [`Error::is_timeout`]).
    pub fn send_timeout(&self, data: &[u8], timeout: Duration) -> Result<(), Error> {
        self.send_raw(0, data, timeout_ms(timeout))
    }

    /// Sends a typed message, waiting at most `timeout` for room.
    pub fn send_typed_timeout(
        &self,
        type_id: u32,
        data: &[u8],
        timeout: Duration,
    ) -> Result<(), Error> {
        self.send_raw(type_id, data, timeout_ms(timeout))
    }

    /// Loans a record of up to `max_len` bytes in the ring, waiting for
    /// room as long as it takes: write the message in place, then
    /// [`Loan::commit`] it. Dropping the loan gives it up.
    ///
    /// The loan borrows the sender mutably, so nothing else can send
    /// through this handle while it is open.
    pub fn reserve(&mut self, max_len: usize) -> Result<Loan<'_>, Error> {
        self.reserve_timeout_ms(max_len, FOREVER)
    }

    /// As [`Sender::reserve`], waiting at most `timeout`.
    pub fn reserve_timeout(&mut self, max_len: usize, timeout: Duration) -> Result<Loan<'_>, Error> {
        self.reserve_timeout_ms(max_len, timeout_ms(timeout))
    }

    fn reserve_timeout_ms(&mut self, max_len: usize, timeout: c_int) -> Result<Loan<'_>, Error> {
        let p = self.handle.get_mut().unwrap_or_else(|e| e.into_inner()).0;
        let mut buf = ptr::null_mut();
        Error::check(unsafe { ffi::bus_send_reserve(p.as_ptr(), max_len, timeout, &mut buf) })?;
        Ok(Loan {
            p,
            buf: buf.cast(),
            len: max_len,
            _sender: PhantomData,
        })
    }

    /// The largest payload the queue accepts, in bytes.
    pub fn max_message(&self) -> usize {
        self.max_message
    }

    /// This producer's slot: the [`Message::producer`] of what it sends.
    pub fn slot(&self) -> u32 {
        self.slot
    }

    /// The queue's name.
    pub fn queue(&self) -> &str {
        &self.queue
    }

    /// How long a send on a full queue spins before it sleeps.
    pub fn set_spin(&self, spin: Duration) {
        let p = self.lock();
        unsafe { ffi::bus_producer_set_spin(p.0.as_ptr(), spin_ns(spin)) };
    }

    /// Attaches another producer to the same queue through busd: a new
    /// slot, with its own handle.
    pub fn try_clone(&self) -> Result<Sender, Error> {
        Bus::open(self.socket.as_deref())?.sender(&self.queue)
    }
}

impl Clone for Sender {
    /// Attaches another producer to the same queue (see
    /// [`Sender::try_clone`]).
    ///
    /// # Panics
    ///
    /// If busd cannot be reached or the queue has no free producer slot;
    /// use [`Sender::try_clone`] to handle that.
    fn clone(&self) -> Sender {
        match self.try_clone() {
            Ok(s) => s,
            Err(e) => panic!("bus_ipc: attach another sender to '{}': {}", self.queue, e),
        }
    }
}

impl Drop for Sender {
    fn drop(&mut self) {
        // Stop watching the descriptor before the handle closes it.
        #[cfg(feature = "tokio")]
        drop(self.afd.get_mut().unwrap_or_else(|e| e.into_inner()).take());
        let p = self.handle.get_mut().unwrap_or_else(|e| e.into_inner()).0;
        unsafe { ffi::bus_producer_close(p.as_ptr()) }
    }
}

impl std::fmt::Debug for Sender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sender")
            .field("queue", &self.queue)
            .field("slot", &self.slot)
            .finish()
    }
}

/// A record loaned in the ring by [`Sender::reserve`]: derefs to its
/// `max_len` bytes. [`Loan::commit`] delivers it; dropping it gives it up.
pub struct Loan<'a> {
    p: NonNull<ffi::bus_producer>,
    buf: *mut u8,
    len: usize,
    _sender: PhantomData<&'a mut Sender>,
}

impl Loan<'_> {
    /// Delivers the first `len` bytes as one untyped message.
    pub fn commit(self, len: usize) -> Result<(), Error> {
        self.commit_typed(0, len)
    }

    /// Delivers the first `len` bytes as one message of the given type id.
    /// On an error (`len` larger than the loan) the loan is given up.
    pub fn commit_typed(self, type_id: u32, len: usize) -> Result<(), Error> {
        let rc = unsafe { ffi::bus_send_commit(self.p.as_ptr(), type_id, len) };
        if rc == 0 {
            std::mem::forget(self);
        }
        Error::check(rc).map(drop)
    }
}

impl Deref for Loan<'_> {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        unsafe { std::slice::from_raw_parts(self.buf, self.len) }
    }
}

impl DerefMut for Loan<'_> {
    fn deref_mut(&mut self) -> &mut [u8] {
        unsafe { std::slice::from_raw_parts_mut(self.buf, self.len) }
    }
}

impl std::fmt::Debug for Loan<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Loan").field("len", &self.len).finish()
    }
}

impl Drop for Loan<'_> {
    fn drop(&mut self) {
        unsafe { ffi::bus_send_abort(self.p.as_ptr()) }
    }
}

/// The consumer of a queue: receives its messages. There is one per queue.
pub struct Receiver {
    c: NonNull<ffi::bus_consumer>,
    #[cfg(feature = "tokio")]
    afd: Option<tokio_io::Readable>,
}

// The handle is only touched through &mut Receiver.
unsafe impl Send for Receiver {}

fn recv_raw(c: NonNull<ffi::bus_consumer>, timeout: c_int) -> Result<ffi::bus_msg, Error> {
    let mut m = ffi::bus_msg::zeroed();
    Error::check(unsafe { ffi::bus_recv(c.as_ptr(), &mut m, timeout) })?;
    Ok(m)
}

impl Receiver {
    fn message(&mut self, m: ffi::bus_msg) -> Message<'_> {
        Message {
            m,
            release: Some(self.c),
            _borrow: PhantomData,
        }
    }

    /// Receives the next message, waiting as long as it takes. An error
    /// with [`Error::is_deleted`] says the queue was deleted and drained.
    pub fn recv(&mut self) -> Result<Message<'_>, Error> {
        let m = recv_raw(self.c, FOREVER)?;
        Ok(self.message(m))
    }

    /// Receives the next message if there is one now.
    pub fn try_recv(&mut self) -> Result<Message<'_>, TryRecvError> {
        let m = recv_raw(self.c, 0)?;
        Ok(self.message(m))
    }

    /// Receives the next message, waiting at most `timeout`.
    pub fn recv_timeout(&mut self, timeout: Duration) -> Result<Message<'_>, Error> {
        let m = recv_raw(self.c, timeout_ms(timeout))?;
        Ok(self.message(m))
    }

    /// Receives up to `max` messages at once, waiting at most `timeout`
    /// (`None`: as long as it takes) for the first. They are released
    /// together when the batch is dropped.
    pub fn recv_batch(
        &mut self,
        max: usize,
        timeout: Option<Duration>,
    ) -> Result<Batch<'_>, Error> {
        let mut msgs = vec![ffi::bus_msg::zeroed(); max.max(1)];
        let t = timeout.map_or(FOREVER, timeout_ms);
        let n = Error::check(unsafe {
            ffi::bus_recv_batch(self.c.as_ptr(), msgs.as_mut_ptr(), msgs.len(), t)
        })?;
        msgs.truncate(n as usize);
        Ok(Batch {
            c: self.c,
            msgs,
            _receiver: PhantomData,
        })
    }

    /// A blocking iterator over copies of the messages, ending when the
    /// queue is deleted and drained. (Views cannot be handed out by an
    /// [`Iterator`]: each would have to be released before the next.)
    pub fn iter(&mut self) -> Iter<'_> {
        Iter {
            rx: self,
            wait: true,
        }
    }

    /// An iterator over copies of the messages waiting now, ending when
    /// the queue is empty (or deleted and drained).
    pub fn try_iter(&mut self) -> Iter<'_> {
        Iter {
            rx: self,
            wait: false,
        }
    }

    /// How long a receive on an empty queue spins before it sleeps.
    pub fn set_spin(&mut self, spin: Duration) {
        unsafe { ffi::bus_consumer_set_spin(self.c.as_ptr(), spin_ns(spin)) };
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        #[cfg(feature = "tokio")]
        drop(self.afd.take());
        unsafe { ffi::bus_consumer_close(self.c.as_ptr()) }
    }
}

impl std::fmt::Debug for Receiver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Receiver").finish_non_exhaustive()
    }
}

/// A received message: a view into the ring, released when dropped.
///
/// It borrows its [`Receiver`] (or [`Batch`]), so it cannot outlive the
/// release. Copy what must be kept: `msg.to_vec()` or
/// [`Message::to_owned_message`].
pub struct Message<'a> {
    m: ffi::bus_msg,
    release: Option<NonNull<ffi::bus_consumer>>,
    _borrow: PhantomData<&'a mut ()>,
}

// A message is its receiver's exclusive borrow plus a read-only view: it
// may go wherever the receiver may go, and be read from any thread.
unsafe impl Send for Message<'_> {}
unsafe impl Sync for Message<'_> {}
// A batch likewise; its views only read.
unsafe impl Send for Batch<'_> {}
unsafe impl Sync for Batch<'_> {}

impl<'a> Message<'a> {
    /// The payload.
    pub fn data(&self) -> &[u8] {
        if self.m.len == 0 {
            return &[];
        }
        unsafe { std::slice::from_raw_parts(self.m.data.cast(), self.m.len) }
    }

    /// The message's type id (0: untyped); see [`type_id`].
    pub fn type_id(&self) -> u32 {
        self.m.type_
    }

    /// The producer slot that sent it.
    pub fn producer(&self) -> u32 {
        self.m.producer
    }

    /// Its sequence number among its producer's messages, from 0.
    pub fn seq(&self) -> u64 {
        self.m.seq
    }

    /// When it was committed: CLOCK_MONOTONIC in nanoseconds.
    pub fn enqueue_ns(&self) -> u64 {
        self.m.enqueue_ns
    }

    /// Whether a consumer died holding it and it is delivered again.
    pub fn redelivered(&self) -> bool {
        self.m.flags & ffi::BUS_MSG_REDELIVERED != 0
    }

    /// A copy of the message that outlives the release.
    pub fn to_owned_message(&self) -> OwnedMessage {
        OwnedMessage {
            data: self.data().to_vec(),
            type_id: self.type_id(),
            producer: self.producer(),
            seq: self.seq(),
            enqueue_ns: self.enqueue_ns(),
            redelivered: self.redelivered(),
        }
    }
}

impl Deref for Message<'_> {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        self.data()
    }
}

impl AsRef<[u8]> for Message<'_> {
    fn as_ref(&self) -> &[u8] {
        self.data()
    }
}

impl Drop for Message<'_> {
    fn drop(&mut self) {
        if let Some(c) = self.release {
            unsafe { ffi::bus_release(c.as_ptr()) }
        }
    }
}

impl std::fmt::Debug for Message<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Message")
            .field("len", &self.m.len)
            .field("type_id", &self.type_id())
            .field("producer", &self.producer())
            .field("seq", &self.seq())
            .field("redelivered", &self.redelivered())
            .finish()
    }
}

/// A copy of a received message, see [`Message::to_owned_message`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnedMessage {
    /// The payload.
    pub data: Vec<u8>,
    /// The type id (0: untyped).
    pub type_id: u32,
    /// The producer slot that sent it.
    pub producer: u32,
    /// Its sequence number among its producer's messages.
    pub seq: u64,
    /// When it was committed: CLOCK_MONOTONIC in nanoseconds.
    pub enqueue_ns: u64,
    /// Whether it is delivered again after a consumer died.
    pub redelivered: bool,
}

impl Deref for OwnedMessage {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.data
    }
}

/// Messages received together by [`Receiver::recv_batch`], released
/// together when dropped.
pub struct Batch<'a> {
    c: NonNull<ffi::bus_consumer>,
    msgs: Vec<ffi::bus_msg>,
    _receiver: PhantomData<&'a mut Receiver>,
}

impl Batch<'_> {
    /// How many messages it holds (at least 1).
    pub fn len(&self) -> usize {
        self.msgs.len()
    }

    /// Whether it holds none (never, for a batch received).
    pub fn is_empty(&self) -> bool {
        self.msgs.is_empty()
    }

    /// The `i`th message.
    pub fn get(&self, i: usize) -> Option<Message<'_>> {
        self.msgs.get(i).map(|&m| Message {
            m,
            release: None,
            _borrow: PhantomData,
        })
    }

    /// The messages, in order.
    pub fn iter(&self) -> impl Iterator<Item = Message<'_>> + '_ {
        self.msgs.iter().map(|&m| Message {
            m,
            release: None,
            _borrow: PhantomData,
        })
    }
}

impl std::fmt::Debug for Batch<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl Drop for Batch<'_> {
    fn drop(&mut self) {
        unsafe { ffi::bus_release(self.c.as_ptr()) }
    }
}

/// An iterator over copies of received messages; see [`Receiver::iter`].
pub struct Iter<'a> {
    rx: &'a mut Receiver,
    wait: bool,
}

impl std::fmt::Debug for Iter<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Iter").field("wait", &self.wait).finish()
    }
}

impl Iterator for Iter<'_> {
    type Item = Result<OwnedMessage, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        let t = if self.wait { FOREVER } else { 0 };
        match recv_raw(self.rx.c, t) {
            Ok(m) => Some(Ok(self.rx.message(m).to_owned_message())),
            Err(e) if e.is_deleted() || (!self.wait && e.is_would_block()) => None,
            Err(e) => Some(Err(e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn type_id_matches_c() {
        for name in ["demo.Order", "demo.Tick", "", "a", "bus_control.Request"] {
            let c = CString::new(name).unwrap();
            assert_eq!(type_id(name), unsafe { ffi::bus_type_id(c.as_ptr()) }, "{}", name);
        }
    }

    #[test]
    fn errors_speak_as_bus_strerror() {
        for errno in [libc::EAGAIN, libc::EPIPE, libc::ENOENT, libc::EUSERS, 9999] {
            let c = unsafe { CStr::from_ptr(ffi::bus_strerror(-errno)) };
            let e = Error::from_errno(-errno);
            assert_eq!(e.to_string(), c.to_str().unwrap());
            assert_eq!(e.errno(), errno);
        }
        assert_eq!(TrySendError::from(Error::from_errno(libc::EAGAIN)), TrySendError::Full);
        assert_eq!(TryRecvError::from(Error::from_errno(libc::EPIPE)), TryRecvError::Deleted);
    }

    #[test]
    fn timeouts_round_up() {
        assert_eq!(timeout_ms(Duration::ZERO), 0);
        assert_eq!(timeout_ms(Duration::from_nanos(1)), 1);
        assert_eq!(timeout_ms(Duration::from_millis(1500)), 1500);
        assert_eq!(timeout_ms(Duration::from_secs(u64::MAX)), c_int::MAX);
    }

    #[test]
    fn names() {
        assert!(name_valid("orders.v1"));
        assert!(!name_valid("no/slash"));
        assert!(!name_valid("nul\0"));
        assert!(!name_valid(""));
    }

    fn is_send<T: Send>() {}
    fn is_sync<T: Sync>() {}

    #[test]
    fn thread_traits() {
        is_send::<Bus>();
        is_send::<Sender>();
        is_sync::<Sender>();
        is_send::<Receiver>();
    }
}
