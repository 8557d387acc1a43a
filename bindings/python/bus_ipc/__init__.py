"""bus_ipc: Python bindings of libbus, the shared-memory message bus.

Pure ctypes over libbus.so (found through $BUS_LIBRARY, else
$BUS_BUILD_DIR/libbus/libbus.so, else the installed libbus.so.0)::

    import bus_ipc

    with bus_ipc.Bus() as bus:
        bus.create_queue("orders")
        with bus.producer("orders") as p, bus.consumer("orders") as c:
            p.send(b"hello", type=bus_ipc.type_id("demo.Order"))
            with c.recv(timeout=1) as msg:
                print(msg.type, msg.seq, bytes(msg))

Timeouts are in seconds: None waits forever, 0 never waits.
"""

from ._core import (  # noqa: F401
    Batch, Bus, BusError, Consumer, Message, Producer, QueueDeleted,
    QueueEmpty, QueueFull, Timeout, type_id,
)

__version__ = "0.1.0"
__all__ = [
    "Bus", "Producer", "Consumer", "Message", "Batch", "type_id",
    "BusError", "QueueFull", "QueueEmpty", "QueueDeleted", "Timeout",
]
