"""Loading libbus and declaring its functions and structures (ctypes)."""

import ctypes
import ctypes.util
import os

BUS_NAME_MAX = 64
BUS_STATS_BUCKETS = 64
BUS_STATS_NO_SLOT = 0xFFFFFFFF
BUS_MSG_REDELIVERED = 0x1
BUS_MSG_REQUEST = 0x2
BUS_MSG_REPLY = 0x4


# The structures mirror bus.h's, field for field and in its order (ctypes
# lays them out as the C compiler does): their field lists look alike, and
# like the Rust binding's (bindings/rust/src/ffi.rs), deliberately.
class bus_msg(ctypes.Structure):
    _fields_ = [
        ("data", ctypes.c_void_p),
        ("len", ctypes.c_size_t),
        ("type", ctypes.c_uint32),
        ("producer", ctypes.c_uint32),
        ("seq", ctypes.c_uint64),
        ("enqueue_ns", ctypes.c_uint64),
        ("flags", ctypes.c_uint32),
        ("call_id", ctypes.c_uint64),
        ("reply_to", ctypes.c_uint64),
    ]


class bus_queue_opts(ctypes.Structure):
    _fields_ = [
        ("capacity", ctypes.c_uint64),
        ("max_message", ctypes.c_uint32),
        ("max_producers", ctypes.c_uint32),
    ]


# The fields bus_queue_info and bus_stats begin with, in bus.h's order.
_QUEUE_FIELDS = [
    ("name", ctypes.c_char * (BUS_NAME_MAX + 1)),
    ("uuid", ctypes.c_uint8 * 16),
    ("capacity", ctypes.c_uint64),
    ("max_message", ctypes.c_uint32),
    ("max_producers", ctypes.c_uint32),
]


class bus_queue_info(ctypes.Structure):
    _fields_ = _QUEUE_FIELDS + [
        ("created_ns", ctypes.c_uint64),
    ]


class bus_stats(ctypes.Structure):
    _fields_ = _QUEUE_FIELDS + [
        ("depth_bytes", ctypes.c_uint64),
        ("depth_msgs", ctypes.c_uint64),
        ("enqueued", ctypes.c_uint64),
        ("enqueued_bytes", ctypes.c_uint64),
        ("dequeued", ctypes.c_uint64),
        ("dequeued_bytes", ctypes.c_uint64),
        ("producers", ctypes.c_uint32),
        ("consumer_pid", ctypes.c_uint32),
        ("full", ctypes.c_uint64),
        ("blocked", ctypes.c_uint64),
        ("consumer_wakeups", ctypes.c_uint64),
        ("consumer_sleeps", ctypes.c_uint64),
        ("producer_wakeups", ctypes.c_uint64),
        ("recovered", ctypes.c_uint64),
        ("redelivered", ctypes.c_uint64),
        ("oldest_age_ns", ctypes.c_uint64),
        ("p50_ns", ctypes.c_uint64),
        ("p99_ns", ctypes.c_uint64),
        ("p999_ns", ctypes.c_uint64),
        ("latency_hist", ctypes.c_uint64 * BUS_STATS_BUCKETS),
        ("deleted", ctypes.c_int),
        ("broken", ctypes.c_int),
        ("corrupt", ctypes.c_uint64),
        ("stalled_ns", ctypes.c_uint64),
        ("stalled_slot", ctypes.c_uint32),
        ("stalled_pid", ctypes.c_uint32),
        ("stalled_alive", ctypes.c_int),
        ("aborted", ctypes.c_uint64),
        ("requests", ctypes.c_uint64),
        ("replies", ctypes.c_uint64),
        ("late_replies", ctypes.c_uint64),
        ("dead_replies", ctypes.c_uint64),
    ]


def _candidates():
    """Where to look for libbus, in order."""
    env = os.environ.get("BUS_LIBRARY")
    if env:
        # An explicit choice is the only one: a wrong path must fail loudly.
        return [env]
    out = []
    build = os.environ.get("BUS_BUILD_DIR")
    if build:
        out.append(os.path.join(build, "libbus", "libbus.so"))
    try:
        from . import _paths  # written by meson install

        out.append(os.path.join(_paths.LIBDIR, "libbus.so.0"))
    except ImportError:
        pass
    out.append("libbus.so.0")
    found = ctypes.util.find_library("bus")
    if found:
        out.append(found)
    return out


def _load():
    errors = []
    for path in _candidates():
        if os.sep in path and not os.path.exists(path):
            errors.append("%s: no such file" % path)
            continue
        try:
            return ctypes.CDLL(path)
        except OSError as e:
            errors.append(str(e))
    raise ImportError(
        "bus_ipc: cannot load libbus (set BUS_LIBRARY to libbus.so, or "
        "BUS_BUILD_DIR to a meson build directory): " + "; ".join(errors))


lib = _load()

_P = ctypes.c_void_p
_I = ctypes.c_int
_PP = ctypes.POINTER(ctypes.c_void_p)


def _fn(name, restype, *argtypes):
    f = getattr(lib, name)
    f.restype = restype
    f.argtypes = list(argtypes)
    return f


bus_type_id = _fn("bus_type_id", ctypes.c_uint32, ctypes.c_char_p)
bus_strerror = _fn("bus_strerror", ctypes.c_char_p, _I)
bus_name_valid = _fn("bus_name_valid", _I, ctypes.c_char_p)
bus_open = _fn("bus_open", _I, ctypes.c_char_p, _PP)
bus_close = _fn("bus_close", None, _P)
bus_last_error = _fn("bus_last_error", ctypes.c_char_p, _P)
bus_queue_create = _fn("bus_queue_create", _I, _P, ctypes.c_char_p,
                       ctypes.POINTER(bus_queue_opts),
                       ctypes.POINTER(bus_queue_info))
bus_queue_delete = _fn("bus_queue_delete", _I, _P, ctypes.c_char_p)
bus_queue_list = _fn("bus_queue_list", _I, _P,
                     ctypes.POINTER(bus_queue_info), ctypes.c_size_t)
bus_queue_stats = _fn("bus_queue_stats", _I, _P, ctypes.c_char_p,
                      ctypes.POINTER(bus_stats))
bus_producer_open = _fn("bus_producer_open", _I, _P, ctypes.c_char_p, _PP)
bus_producer_close = _fn("bus_producer_close", None, _P)
bus_send = _fn("bus_send", _I, _P, ctypes.c_uint32, ctypes.c_void_p,
               ctypes.c_size_t, _I)
bus_producer_fd = _fn("bus_producer_fd", _I, _P)
bus_producer_max_message = _fn("bus_producer_max_message", ctypes.c_size_t, _P)
bus_producer_slot = _fn("bus_producer_slot", ctypes.c_uint32, _P)
bus_consumer_open = _fn("bus_consumer_open", _I, _P, ctypes.c_char_p, _PP)
bus_consumer_close = _fn("bus_consumer_close", None, _P)
bus_recv = _fn("bus_recv", _I, _P, ctypes.POINTER(bus_msg), _I)
bus_recv_batch = _fn("bus_recv_batch", _I, _P, ctypes.POINTER(bus_msg),
                     ctypes.c_size_t, _I)
bus_release = _fn("bus_release", None, _P)
bus_consumer_fd = _fn("bus_consumer_fd", _I, _P)
