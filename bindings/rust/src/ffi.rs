//! The C interface of libbus (bus/bus.h), declared by hand.

#![allow(non_camel_case_types)]

use std::os::raw::{c_char, c_int, c_void};

pub const BUS_NAME_MAX: usize = 64;
pub const BUS_STATS_BUCKETS: usize = 64;
pub const BUS_MSG_REDELIVERED: u32 = 0x1;
// Request and reply are not bound yet; the flags stay here with the rest of bus.h.
#[allow(dead_code)]
pub const BUS_MSG_REQUEST: u32 = 0x2;
#[allow(dead_code)]
pub const BUS_MSG_REPLY: u32 = 0x4;

#[repr(C)]
pub struct bus {
    _private: [u8; 0],
}
#[repr(C)]
pub struct bus_producer {
    _private: [u8; 0],
}
#[repr(C)]
pub struct bus_consumer {
    _private: [u8; 0],
}

#[repr(C)]
#[derive(Clone, Copy)]
pub struct bus_msg {
    pub data: *const c_void,
    pub len: usize,
    pub type_: u32,
    pub producer: u32,
    pub seq: u64,
    pub enqueue_ns: u64,
    pub flags: u32,
    pub call_id: u64,
    pub reply_to: u64,
}

impl bus_msg {
    pub const fn zeroed() -> Self {
        bus_msg {
            data: std::ptr::null(),
            len: 0,
            type_: 0,
            producer: 0,
            seq: 0,
            enqueue_ns: 0,
            flags: 0,
            call_id: 0,
            reply_to: 0,
        }
    }
}

// The structures below mirror bus.h's, field for field and in its order
// (repr(C)), so their field lists look alike, each other's and those of
// the safe types in lib.rs (QueueInfo, Stats): deliberately, as the C
// header is the layout they must match.
#[repr(C)]
#[derive(Clone, Copy, Default)]
pub struct bus_queue_opts {
    pub capacity: u64,
    pub max_message: u32,
    pub max_producers: u32,
}

#[repr(C)]
#[derive(Clone, Copy)]
pub struct bus_queue_info {
    pub name: [c_char; BUS_NAME_MAX + 1],
    pub uuid: [u8; 16],
    pub capacity: u64,
    pub max_message: u32,
    pub max_producers: u32,
    pub created_ns: u64,
}

#[repr(C)]
#[derive(Clone, Copy)]
pub struct bus_stats {
    pub name: [c_char; BUS_NAME_MAX + 1],
    pub uuid: [u8; 16],
    pub capacity: u64,
    pub max_message: u32,
    pub max_producers: u32,
    pub depth_bytes: u64,
    pub depth_msgs: u64,
    pub enqueued: u64,
    pub enqueued_bytes: u64,
    pub dequeued: u64,
    pub dequeued_bytes: u64,
    pub producers: u32,
    pub consumer_pid: u32,
    pub full: u64,
    pub blocked: u64,
    pub consumer_wakeups: u64,
    pub consumer_sleeps: u64,
    pub producer_wakeups: u64,
    pub recovered: u64,
    pub redelivered: u64,
    pub oldest_age_ns: u64,
    pub p50_ns: u64,
    pub p99_ns: u64,
    pub p999_ns: u64,
    pub latency_hist: [u64; BUS_STATS_BUCKETS],
    pub deleted: c_int,
    pub broken: c_int,
    pub corrupt: u64,
    pub stalled_ns: u64,
    pub stalled_slot: u32,
    pub stalled_pid: u32,
    pub stalled_alive: c_int,
    pub aborted: u64,
    pub requests: u64,
    pub replies: u64,
    pub late_replies: u64,
    pub dead_replies: u64,
}

extern "C" {
    #[cfg(test)]
    pub fn bus_type_id(full_name: *const c_char) -> u32;
    pub fn bus_strerror(err: c_int) -> *const c_char;
    pub fn bus_name_valid(name: *const c_char) -> c_int;

    pub fn bus_open(socket_path: *const c_char, ret: *mut *mut bus) -> c_int;
    pub fn bus_close(b: *mut bus);
    pub fn bus_last_error(b: *const bus) -> *const c_char;

    pub fn bus_queue_create(
        b: *mut bus,
        name: *const c_char,
        opts: *const bus_queue_opts,
        info: *mut bus_queue_info,
    ) -> c_int;
    pub fn bus_queue_delete(b: *mut bus, name: *const c_char) -> c_int;
    pub fn bus_queue_list(b: *mut bus, out: *mut bus_queue_info, cap: usize) -> c_int;
    pub fn bus_queue_stats(b: *mut bus, name: *const c_char, ret: *mut bus_stats) -> c_int;

    pub fn bus_producer_open(b: *mut bus, queue: *const c_char, ret: *mut *mut bus_producer)
        -> c_int;
    pub fn bus_producer_close(p: *mut bus_producer);
    pub fn bus_send(
        p: *mut bus_producer,
        type_: u32,
        data: *const c_void,
        len: usize,
        timeout_ms: c_int,
    ) -> c_int;
    pub fn bus_send_reserve(
        p: *mut bus_producer,
        max_len: usize,
        timeout_ms: c_int,
        buf: *mut *mut c_void,
    ) -> c_int;
    pub fn bus_send_commit(p: *mut bus_producer, type_: u32, len: usize) -> c_int;
    pub fn bus_send_abort(p: *mut bus_producer);
    pub fn bus_producer_set_spin(p: *mut bus_producer, spin_ns: u32) -> c_int;
    #[cfg(feature = "tokio")]
    pub fn bus_producer_fd(p: *mut bus_producer) -> c_int;
    pub fn bus_producer_max_message(p: *const bus_producer) -> usize;
    pub fn bus_producer_slot(p: *const bus_producer) -> u32;

    pub fn bus_consumer_open(b: *mut bus, queue: *const c_char, ret: *mut *mut bus_consumer)
        -> c_int;
    pub fn bus_consumer_close(c: *mut bus_consumer);
    pub fn bus_recv(c: *mut bus_consumer, ret: *mut bus_msg, timeout_ms: c_int) -> c_int;
    pub fn bus_recv_batch(
        c: *mut bus_consumer,
        msgs: *mut bus_msg,
        n: usize,
        timeout_ms: c_int,
    ) -> c_int;
    pub fn bus_release(c: *mut bus_consumer);
    pub fn bus_consumer_set_spin(c: *mut bus_consumer, spin_ns: u32) -> c_int;
    #[cfg(feature = "tokio")]
    pub fn bus_consumer_fd(c: *mut bus_consumer) -> c_int;
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::mem::size_of;

    // Sizes of the structs as the C compiler lays them out on x86-64 and
    // aarch64 Linux (LP64).
    #[test]
    fn layouts_match_c() {
        assert_eq!(size_of::<bus_msg>(), 64);
        assert_eq!(size_of::<bus_queue_opts>(), 16);
        assert_eq!(size_of::<bus_queue_info>(), 112);
        assert_eq!(size_of::<bus_stats>(), 840);
    }
}
