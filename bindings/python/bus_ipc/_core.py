"""The Python face of libbus: connections, producers, consumers, messages."""

import asyncio
import ctypes
import errno as _errno
import math
import os
import struct

from . import _lib
from ._lib import lib as _clib  # noqa: F401  (keeps the library loaded)

__all__ = [
    "Bus", "Producer", "Consumer", "Message", "Batch", "type_id",
    "BusError", "QueueFull", "QueueEmpty", "QueueDeleted", "Timeout",
]

_INT_MAX = 2**31 - 1


# --- errors ---------------------------------------------------------------

class BusError(OSError):
    """A libbus call failed.  ``.errno`` is the (positive) errno value and
    ``.strerror`` libbus's words for it, with busd's message when it sent
    one."""


class QueueFull(BusError):
    """A send found the queue full and was not allowed to wait (timeout 0)."""


class QueueEmpty(BusError):
    """A receive found the queue empty and was not allowed to wait (timeout 0)."""


class QueueDeleted(BusError):
    """The queue was deleted (a consumer gets this once it has drained it)."""


class Timeout(BusError, TimeoutError):
    """The timeout passed before room or a message arrived."""


def _error(rc, what, detail=None, empty=QueueEmpty):
    err = -rc
    text = _lib.bus_strerror(rc).decode("utf-8", "replace")
    if detail:
        text = "%s (%s)" % (text, detail)
    if what:
        text = "%s: %s" % (what, text)
    if err == _errno.EAGAIN:
        cls = empty
    elif err == _errno.ETIMEDOUT:
        cls = Timeout
    elif err == _errno.EPIPE:
        cls = QueueDeleted
    else:
        cls = BusError
    return cls(err, text)


def _ms(timeout):
    """Seconds (None: forever) to libbus's milliseconds (-1: forever)."""
    if timeout is None:
        return -1
    if timeout <= 0:
        return 0
    return min(_INT_MAX, max(1, math.ceil(timeout * 1000)))


def _name(name):
    if isinstance(name, str):
        name = name.encode()
    if not isinstance(name, bytes):
        raise TypeError("queue name must be str or bytes")
    return name


def _uuid(raw):
    h = bytes(raw).hex()
    return "%s-%s-%s-%s-%s" % (h[:8], h[8:12], h[12:16], h[16:20], h[20:])


def type_id(full_name):
    """The bus type id of a protobuf message by its full name
    (``"demo.Order"``): 32-bit FNV-1a of the name, never 0."""
    return _lib.bus_type_id(_name(full_name))


def _type(t):
    if isinstance(t, (str, bytes)):
        return type_id(t)
    return int(t)


# --- memory views into the ring --------------------------------------------

try:
    _from_memory = ctypes.pythonapi.PyMemoryView_FromMemory
    _from_memory.restype = ctypes.py_object
    _from_memory.argtypes = [ctypes.c_void_p, ctypes.c_ssize_t, ctypes.c_int]
    _PyBUF_READ = 0x100

    def _view(ptr, n):
        return _from_memory(ptr, n, _PyBUF_READ)
except AttributeError:  # no CPython C API: a ctypes array, cast to bytes
    def _view(ptr, n):
        return memoryview((ctypes.c_char * n).from_address(ptr)).cast("B")


_string_at = ctypes.string_at
_MSG = struct.Struct("@PNIIQQI4x16x")  # call_id, reply_to skipped
assert _MSG.size == ctypes.sizeof(_lib.bus_msg), "bus_msg layout mismatch"


class _Received:
    """What Message and Batch share: what a consumer received (its
    ``_consumer`` and the ``_gen`` of the consumer's releases it came in),
    released with the consumer's next release, or by a ``with`` block."""

    __slots__ = ()

    def release(self):
        """Releases this and every other message the consumer holds, unless
        the consumer released them already."""
        if self._consumer._gen == self._gen:
            self._consumer.release()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.release()


class Message(_Received):
    """A received message: a view into the queue's ring.

    ``data`` is a read-only memoryview of the payload, valid until the
    message is released (``release()``, the end of a ``with`` block, the
    consumer's ``release()`` or ``close()``); afterwards it is released too
    and reading ``data`` raises ``ValueError``.  Views sliced from ``data``
    must not outlive the release.  ``bytes(msg)`` copies the payload.

    Releasing returns the space of *every* message the consumer received
    since its last release, as ``bus_release()`` does.
    """

    __slots__ = ("_consumer", "_gen", "_ptr", "_len", "type", "producer",
                 "seq", "enqueue_ns", "_flags", "_mv")

    def __init__(self, consumer, gen, ptr, length, type_, producer, seq,
                 enqueue_ns, flags):
        self._consumer = consumer
        self._gen = gen
        self._ptr = ptr
        self._len = length
        self.type = type_
        self.producer = producer
        self.seq = seq
        self.enqueue_ns = enqueue_ns
        self._flags = flags
        self._mv = None

    @property
    def redelivered(self):
        """True if a consumer died holding this message before."""
        return bool(self._flags & _lib.BUS_MSG_REDELIVERED)

    @property
    def valid(self):
        """Whether the message is not released yet."""
        return self._consumer._gen == self._gen

    @property
    def data(self):
        """The payload, a read-only memoryview into the ring."""
        if self._consumer._gen != self._gen:
            raise ValueError("message released: its data is gone")
        mv = self._mv
        if mv is None:
            c = self._consumer
            if self._len == 0:
                mv = memoryview(b"")
            else:
                mv = _view(self._ptr or 0, self._len)
            self._mv = mv
            c._views.append(mv)
        return mv  # released with the message: use after raises ValueError

    def __len__(self):
        return self._len

    def __bytes__(self):
        if self._consumer._gen != self._gen:
            raise ValueError("message released: its data is gone")
        return _string_at(self._ptr, self._len) if self._len else b""

    def parse(self, message_class):
        """Decodes the payload as a protobuf message of message_class (a
        generated class).  The payload is copied first, so the decoder
        reads memory no producer can change while it decodes."""
        m = message_class()
        m.ParseFromString(bytes(self))
        return m

    def __repr__(self):
        return "<Message type=%d producer=%d seq=%d len=%d%s>" % (
            self.type, self.producer, self.seq, self._len,
            "" if self.valid else " released")


class Batch(_Received, list):
    """The messages of one ``recv_batch()`` call, released together."""

    __slots__ = ("_consumer", "_gen")


# --- asyncio ----------------------------------------------------------------

async def _readable(fd):
    loop = asyncio.get_running_loop()
    fut = loop.create_future()

    def ready():
        if not fut.done():
            fut.set_result(None)

    loop.add_reader(fd, ready)
    try:
        await fut
    finally:
        loop.remove_reader(fd)


# --- handles ----------------------------------------------------------------

class _Handle:
    """What Producer, Consumer and Bus share: a libbus handle, closed once
    (by close(), a with block, or garbage collection)."""

    _what = "handle"

    def _handle(self):
        if not self._h:
            raise ValueError("%s is closed" % self._what)
        return self._h

    def _free(self, h):
        raise NotImplementedError

    def close(self):
        """Closes the handle; later calls do nothing."""
        h, self._h = self._h, None
        if h:
            self._free(h)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass


class Producer(_Handle):
    """A producer attached to one queue (from ``Bus.producer()``).

    Not thread-safe: one handle per thread, or a lock."""

    _what = "producer"

    def __init__(self, handle, queue):
        self._h = handle
        self.queue = queue

    def send(self, data, type=0, timeout=None):
        """Sends data (any bytes-like object) as one message of the given
        type (an int, or a protobuf full name hashed with type_id()).
        timeout: seconds to wait for room in a full queue; None waits
        forever, 0 raises QueueFull at once."""
        h = self._handle()
        if builtin_type(data) is bytes:
            ptr, n = data, len(data)
        else:
            mv = memoryview(data)
            if not mv.contiguous:
                raise ValueError("send: data must be contiguous")
            if mv.readonly:
                ptr = mv.tobytes()
            else:
                ptr = (ctypes.c_char * mv.nbytes).from_buffer(mv)
            n = mv.nbytes
        rc = _lib.bus_send(h, _type(type), ptr, n, _ms(timeout))
        if rc < 0:
            raise _error(rc, "send", empty=QueueFull)

    def send_message(self, msg, timeout=None):
        """Sends a protobuf message, typed type_id(its full name)."""
        self.send(msg.SerializeToString(),
                  type_id(msg.DESCRIPTOR.full_name), timeout)

    async def send_async(self, data, type=0):
        """Sends as send(), waiting for room in the event loop (on
        fileno()) rather than in the call."""
        # The descriptor is armed only by calls made after it was first
        # asked for: ask before trying.
        fd = self.fileno()
        while True:
            try:
                return self.send(data, type, 0)
            except QueueFull:
                pass
            await _readable(fd)

    async def send_message_async(self, msg):
        """send_message() through send_async()."""
        await self.send_async(msg.SerializeToString(),
                              type_id(msg.DESCRIPTOR.full_name))

    def fileno(self):
        """A descriptor that becomes readable when a full queue has room
        again (after a send with timeout 0 found it full).  Owned by the
        producer: do not read or close it."""
        fd = _lib.bus_producer_fd(self._handle())
        if fd < 0:
            raise _error(fd, "producer fd")
        return fd

    @property
    def max_message(self):
        """The largest payload the queue accepts, in bytes."""
        return _lib.bus_producer_max_message(self._handle())

    @property
    def slot(self):
        """This producer's slot: the ``producer`` of its messages."""
        return _lib.bus_producer_slot(self._handle())

    def _free(self, h):
        """Detaches the producer."""
        _lib.bus_producer_close(h)


builtin_type = type


class Consumer(_Handle):
    """The consumer of one queue (from ``Bus.consumer()``).

    Received messages keep their space in the ring until released; a
    consumer that holds too much blocks its producers.  Not thread-safe."""

    _what = "consumer"

    def __init__(self, handle, queue):
        self._h = handle
        self.queue = queue
        self._gen = 0
        self._views = []
        self._one = _lib.bus_msg()
        self._one_ref = ctypes.byref(self._one)
        self._arr = None
        self._raw = None


    def recv(self, timeout=None):
        """Receives the next message.  timeout: seconds; None waits
        forever, 0 raises QueueEmpty at once; Timeout when it passes,
        QueueDeleted once a deleted queue is drained."""
        rc = _lib.bus_recv(self._handle(), self._one_ref, _ms(timeout))
        if rc < 0:
            raise _error(rc, "recv")
        m = self._one
        return Message(self, self._gen, m.data, m.len, m.type, m.producer,
                       m.seq, m.enqueue_ns, m.flags)

    def recv_batch(self, n=64, timeout=None):
        """Receives up to n messages in one call, waiting (as recv()) for
        the first only.  Returns a Batch (a list of Message) to release
        together."""
        h = self._handle()
        if n < 1:
            raise ValueError("recv_batch: n must be at least 1")
        if self._arr is None or len(self._arr) < n:
            self._arr = (_lib.bus_msg * n)()
            self._raw = memoryview(
                (ctypes.c_char * ctypes.sizeof(self._arr)).from_buffer(
                    self._arr)).cast("B")
        rc = _lib.bus_recv_batch(h, self._arr, n, _ms(timeout))
        if rc < 0:
            raise _error(rc, "recv_batch")
        gen = self._gen
        b = Batch([Message(self, gen, *t)
                   for t in _MSG.iter_unpack(self._raw[:rc * _MSG.size])])
        b._consumer = self
        b._gen = gen
        return b

    async def recv_async(self):
        """Receives the next message, waiting in the event loop (on
        fileno()) rather than in the call."""
        # The descriptor is armed only by calls made after it was first
        # asked for: ask before trying.
        fd = self.fileno()
        while True:
            try:
                return self.recv(0)
            except QueueEmpty:
                pass
            await _readable(fd)

    async def recv_batch_async(self, n=64):
        """recv_batch() waiting in the event loop."""
        # The descriptor is armed only by calls made after it was first
        # asked for: ask before trying.
        fd = self.fileno()
        while True:
            try:
                return self.recv_batch(n, 0)
            except QueueEmpty:
                pass
            await _readable(fd)

    def release(self):
        """Gives back every message received since the last release: their
        data views are released and their space returns to producers."""
        self._invalidate()
        if self._h:
            _lib.bus_release(self._h)

    def _invalidate(self):
        self._gen += 1
        views, self._views = self._views, []
        for mv in views:
            mv.release()

    def fileno(self):
        """A descriptor that becomes readable when a message arrives (after
        a receive with timeout 0 found the queue empty).  Owned by the
        consumer: do not read or close it."""
        fd = _lib.bus_consumer_fd(self._handle())
        if fd < 0:
            raise _error(fd, "consumer fd")
        return fd

    def _free(self, h):
        """Detaches the consumer.  Messages not released are delivered
        again to the next consumer, flagged redelivered."""
        self._invalidate()
        _lib.bus_consumer_close(h)


_STATS_FIELDS = (
    "capacity", "max_message", "max_producers", "depth", "depth_bytes",
    "enqueued", "enqueued_bytes", "dequeued", "dequeued_bytes", "producers",
    "consumer_pid", "full", "blocked", "consumer_wakeups", "consumer_sleeps",
    "producer_wakeups", "recovered", "redelivered", "oldest_age_ns", "p50_ns",
    "p99_ns", "p999_ns", "deleted", "broken", "corrupt", "aborted",
    "stalled_ns", "stalled_slot", "stalled_pid", "stalled_alive",
    "requests", "replies", "late_replies", "dead_replies",
)
_BOOLS = ("deleted", "broken", "stalled_alive")


def _stats_dict(st):
    d = {"name": st.name.decode(), "uuid": _uuid(st.uuid)}
    for f in _STATS_FIELDS:
        v = getattr(st, "depth_msgs" if f == "depth" else f)
        if f in _BOOLS:
            v = bool(v)
        d[f] = v
    if d["stalled_slot"] == _lib.BUS_STATS_NO_SLOT:
        d["stalled_slot"] = None
    return d


def _info_dict(i):
    return {
        "name": i.name.decode(), "uuid": _uuid(i.uuid),
        "capacity": i.capacity, "max_message": i.max_message,
        "max_producers": i.max_producers, "created_ns": i.created_ns,
    }


class Bus(_Handle):
    """A connection to busd.

    socket: busd's socket path; None means the default ($BUS_SOCKET, else
    $XDG_RUNTIME_DIR/bus/busd.sock, else /tmp/bus-$UID/busd.sock).
    Producers and consumers opened through it stay usable after close().
    """

    _what = "bus connection"

    def __init__(self, socket=None):
        self._h = None
        path = None if socket is None else os.fsencode(socket)
        h = ctypes.c_void_p()
        rc = _lib.bus_open(path, ctypes.byref(h))
        if rc < 0:
            where = "connect to busd at %s" % (
                socket if socket is not None else "the default socket")
            if -rc in (_errno.ENOENT, _errno.ECONNREFUSED):
                raise BusError(-rc, where + ": no busd there")
            raise _error(rc, where)
        self._h = h

    def _fail(self, rc, what):
        last = _lib.bus_last_error(self._h).decode("utf-8", "replace")
        return _error(rc, what, last or None)

    def create_queue(self, name, capacity=None, max_message=None,
                     max_producers=None):
        """Creates a queue; None takes busd's default for each option.
        Returns its info as a dict (as an entry of list_queues())."""
        opts = _lib.bus_queue_opts(capacity or 0, max_message or 0,
                                   max_producers or 0)
        info = _lib.bus_queue_info()
        rc = _lib.bus_queue_create(self._handle(), _name(name),
                                   ctypes.byref(opts), ctypes.byref(info))
        if rc < 0:
            raise self._fail(rc, "create queue %s" % name)
        return _info_dict(info)

    def delete_queue(self, name):
        """Deletes a queue: producers get QueueDeleted at once, its consumer
        once it has received what is left."""
        rc = _lib.bus_queue_delete(self._handle(), _name(name))
        if rc < 0:
            raise self._fail(rc, "delete queue %s" % name)

    def list_queues(self):
        """Every queue busd serves, sorted by name: a list of dicts with
        name, uuid, capacity, max_message, max_producers, created_ns."""
        cap = 16
        while True:
            arr = (_lib.bus_queue_info * cap)()
            rc = _lib.bus_queue_list(self._handle(), arr, cap)
            if rc < 0:
                raise self._fail(rc, "list queues")
            if rc <= cap:
                return [_info_dict(arr[i]) for i in range(rc)]
            cap = rc

    def stats(self, name):
        """A queue's counters: a dict with the fields of one queue of
        ``buscli stats --json``."""
        st = _lib.bus_stats()
        rc = _lib.bus_queue_stats(self._handle(), _name(name),
                                  ctypes.byref(st))
        if rc < 0:
            raise self._fail(rc, "stats of queue %s" % name)
        return _stats_dict(st)

    def _attach(self, open_fn, cls, what, name):
        """A cls (Producer or Consumer) on the handle open_fn (libbus's
        bus_producer_open or bus_consumer_open) attaches to queue name."""
        h = ctypes.c_void_p()
        rc = open_fn(self._handle(), _name(name), ctypes.byref(h))
        if rc < 0:
            raise self._fail(rc, "%s of queue %s" % (what, name))
        return cls(h, name)

    def producer(self, name):
        """Attaches a new Producer to queue name."""
        return self._attach(_lib.bus_producer_open, Producer, "producer",
                            name)

    def consumer(self, name):
        """Attaches the Consumer of queue name (BusError EBUSY if it has a
        live one)."""
        return self._attach(_lib.bus_consumer_open, Consumer, "consumer",
                            name)

    def _free(self, h):
        """Closes the connection."""
        _lib.bus_close(h)
