#!/usr/bin/env python3
"""Receive throughput of bus_ipc: a C producer process (bench-producer)
feeds a queue as fast as it takes messages; this process receives them
with recv_batch() and with recv(), and prints messages per second.

usage: BUS_BUILD_DIR=build python3 bindings/python/bench.py
           [--size 64] [--count 2000000] [--batch 256] [--touch]

Starts its own busd ($BUSD, else $BUS_BUILD_DIR/busd/busd) on a private
socket.  --touch reads every payload (bytes(msg)); without it the loop
takes each message's length only.
"""

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bus_ipc  # noqa: E402


def run(bus, sock, producer, mode, args):
    q = "bench-%s" % mode
    bus.create_queue(q, capacity=1 << 20)
    try:
        with bus.consumer(q) as c:
            feeder = subprocess.Popen([producer, sock, q, str(args.size),
                                       str(args.count)])
            got = nbytes = 0
            first = c.recv(timeout=10)  # the clock starts at the first message
            first.release()
            got = 1
            t0 = time.perf_counter()
            if mode == "batch":
                while got < args.count:
                    b = c.recv_batch(args.batch, timeout=10)
                    if args.touch:
                        for m in b:
                            nbytes += len(bytes(m))
                    else:
                        for m in b:
                            nbytes += len(m)
                    got += len(b)
                    b.release()
            else:
                while got < args.count:
                    m = c.recv(timeout=10)
                    nbytes += len(bytes(m)) if args.touch else len(m)
                    m.release()
                    got += 1
            dt = time.perf_counter() - t0
            feeder.wait(timeout=10)
    finally:
        bus.delete_queue(q)
    rate = (got - 1) / dt
    print("%-6s size=%d count=%d%s: %.0f msgs/s (%.1f MB/s), %.3f s" % (
        mode, args.size, args.count,
        " batch=%d" % args.batch if mode == "batch" else "",
        rate, rate * args.size / 1e6, dt))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--count", type=int, default=2000000)
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--touch", action="store_true")
    ap.add_argument("--mode", choices=("batch", "single", "both"),
                    default="both")
    args = ap.parse_args()
    build = os.environ.get("BUS_BUILD_DIR", "")
    busd_path = os.environ.get("BUSD") or os.path.join(build, "busd", "busd")
    producer = os.path.join(build, "bindings", "python", "bench-producer")
    for p in (busd_path, producer):
        if not os.access(p, os.X_OK):
            sys.exit("bench.py: no %s (set BUS_BUILD_DIR to the build "
                     "directory)" % p)
    d = tempfile.mkdtemp(prefix="bus-pybench-")
    sock = os.path.join(d, "busd.sock")
    busd = subprocess.Popen([busd_path, "--socket", sock, "--log-level",
                             "warn"])
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                bus = bus_ipc.Bus(sock)
                break
            except bus_ipc.BusError:
                if time.monotonic() > deadline or busd.poll() is not None:
                    sys.exit("bench.py: busd did not start")
                time.sleep(0.01)
        print("python %s, %s" % (sys.version.split()[0], sys.executable))
        for mode in (("batch", "single") if args.mode == "both"
                     else (args.mode,)):
            run(bus, sock, producer, mode, args)
        bus.close()
    finally:
        busd.send_signal(signal.SIGTERM)
        busd.wait()
        prefix = "bus.%08x." % bus_ipc.type_id(sock)
        for name in os.listdir("/dev/shm"):
            if name.startswith(prefix):
                os.unlink(os.path.join("/dev/shm", name))
        shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    main()
