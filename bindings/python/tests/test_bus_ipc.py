"""Tests of bus_ipc against a real busd on a private socket.

busd is $BUSD, else $BUS_BUILD_DIR/busd/busd; without one every test
fails (setUpModule), it never passes silently.
"""

import asyncio
import errno
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
PKG_DIR = os.path.dirname(HERE)
sys.path.insert(0, PKG_DIR)

import bus_ipc  # noqa: E402
from busd_proc import BusdProcess  # noqa: E402

BUILD = os.environ.get("BUS_BUILD_DIR", "")
SRC_ROOT = os.path.dirname(os.path.dirname(PKG_DIR))
busd = None  # the private busd: its Popen, socket and dir


def _program(env, rel):
    p = os.environ.get(env) or (os.path.join(BUILD, rel) if BUILD else "")
    return p if p and os.access(p, os.X_OK) else None


class _Busd(BusdProcess):
    def __init__(self, path):
        self.dir = tempfile.mkdtemp(prefix="bus-py-")
        try:
            super().__init__(path, self.dir)
        except RuntimeError:
            self.stop()
            raise

    def serves(self):
        try:
            bus_ipc.Bus(self.socket).close()
            return True
        except bus_ipc.BusError:
            return False

    def stop(self):
        self.terminate()
        # busd leaves its queues' segments for the next busd: remove them
        prefix = "bus.%08x." % bus_ipc.type_id(self.socket)
        for name in os.listdir("/dev/shm"):
            if name.startswith(prefix):
                try:
                    os.unlink(os.path.join("/dev/shm", name))
                except OSError:
                    pass
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)


def setUpModule():
    global busd
    path = _program("BUSD", "busd/busd")
    if not path:
        raise RuntimeError(
            "no busd to test against: set BUSD to busd or BUS_BUILD_DIR to "
            "a meson build directory holding busd/busd")
    busd = _Busd(path)


def tearDownModule():
    if busd:
        code = busd.proc.poll()
        busd.stop()
        if code is not None:
            raise RuntimeError("busd died during the tests (%d)" % code)


def _child_env():
    env = dict(os.environ)
    env["PYTHONPATH"] = PKG_DIR + os.pathsep + env.get("PYTHONPATH", "")
    return env


# A producer in another process: argv socket, queue, count, delay_s, size,
# tag.  Message i is (tag, i) as two 32-bit numbers, repeated to size.
PRODUCER = r"""
import sys, time, bus_ipc
sock, queue = sys.argv[1], sys.argv[2]
count, delay, size, tag = int(sys.argv[3]), float(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6])
with bus_ipc.Bus(sock) as bus, bus.producer(queue) as p:
    time.sleep(delay)
    for i in range(count):
        p.send((tag.to_bytes(4, "little") + i.to_bytes(4, "little")) * (size // 8),
               type=7, timeout=10)
"""


def spawn_producer(queue, count, delay=0.0, size=16, tag=0):
    return subprocess.Popen(
        [sys.executable, "-c", PRODUCER, busd.socket, queue, str(count),
         str(delay), str(size), str(tag)],
        env=_child_env())


class Base(unittest.TestCase):
    n = 0

    def setUp(self):
        self.bus = bus_ipc.Bus(busd.socket)
        Base.n += 1
        self.q = "py%d-%s" % (Base.n, self._testMethodName[5:30])

    def tearDown(self):
        try:
            self.bus.delete_queue(self.q)
        except bus_ipc.BusError:
            pass
        self.bus.close()


class TestBasics(Base):
    def test_type_id(self):
        h = 2166136261
        for b in b"demo.Order":
            h = ((h ^ b) * 16777619) & 0xFFFFFFFF
        self.assertEqual(bus_ipc.type_id("demo.Order"), h)
        self.assertEqual(bus_ipc.type_id(b"demo.Order"), h)

    def test_queue_admin(self):
        info = self.bus.create_queue(self.q, capacity=4096, max_producers=3)
        self.assertEqual(info["name"], self.q)
        self.assertEqual(info["capacity"], 4096)
        self.assertEqual(info["max_producers"], 3)
        names = [q["name"] for q in self.bus.list_queues()]
        self.assertIn(self.q, names)
        with self.assertRaises(bus_ipc.BusError) as cm:
            self.bus.create_queue(self.q)
        self.assertEqual(cm.exception.errno, errno.EEXIST)
        self.bus.delete_queue(self.q)
        self.assertNotIn(self.q, [q["name"] for q in self.bus.list_queues()])
        with self.assertRaises(bus_ipc.BusError) as cm:
            self.bus.delete_queue(self.q)
        self.assertEqual(cm.exception.errno, errno.ENOENT)

    def test_connect_refused(self):
        with self.assertRaises(bus_ipc.BusError) as cm:
            bus_ipc.Bus(os.path.join(busd.dir, "nobody.sock"))
        self.assertIn(cm.exception.errno, (errno.ENOENT, errno.ECONNREFUSED))

    def test_send_recv(self):
        self.bus.create_queue(self.q)
        with self.bus.producer(self.q) as p, self.bus.consumer(self.q) as c:
            p.send(b"hello", type=5)
            p.send(bytearray(b"world"), type="demo.Tick")
            p.send(memoryview(b"xxview")[2:])
            with c.recv(timeout=1) as m:
                self.assertEqual(bytes(m), b"hello")
                self.assertEqual(m.data.tobytes(), b"hello")
                self.assertTrue(m.data.readonly)
                self.assertEqual((m.type, m.producer, m.seq), (5, p.slot, 0))
                self.assertFalse(m.redelivered)
                self.assertGreater(m.enqueue_ns, 0)
                self.assertEqual(len(m), 5)
            m2 = c.recv(0)
            self.assertEqual((bytes(m2), m2.type, m2.seq),
                             (b"world", bus_ipc.type_id("demo.Tick"), 1))
            m3 = c.recv(0)
            self.assertEqual(bytes(m3), b"view")
            m3.release()
            self.assertFalse(m2.valid)
            with self.assertRaises(bus_ipc.QueueEmpty) as cm:
                c.recv(0)
            self.assertEqual(cm.exception.errno, errno.EAGAIN)
            t0 = time.monotonic()
            with self.assertRaises(bus_ipc.Timeout):
                c.recv(timeout=0.05)
            self.assertGreaterEqual(time.monotonic() - t0, 0.04)

    def test_data_after_release_raises(self):
        self.bus.create_queue(self.q)
        with self.bus.producer(self.q) as p, self.bus.consumer(self.q) as c:
            p.send(b"abc")
            p.send(b"def")
            m = c.recv(0)
            view = m.data
            with c.recv(0) as m2:  # releases m as well
                self.assertEqual(bytes(m2), b"def")
            with self.assertRaises(ValueError):
                m.data
            with self.assertRaises(ValueError):
                bytes(view)
            with self.assertRaises(ValueError):
                view[0]
            p.send(b"ghi")
            m = c.recv(0)
            view = m.data
        with self.assertRaises(ValueError):  # the consumer's close too
            view.tobytes()

    def test_recv_batch(self):
        self.bus.create_queue(self.q)
        with self.bus.producer(self.q) as p, self.bus.consumer(self.q) as c:
            for i in range(10):
                p.send(b"m%d" % i, type=i)
            with c.recv_batch(4) as b:
                self.assertEqual([bytes(m) for m in b], [b"m0", b"m1", b"m2", b"m3"])
                self.assertEqual([m.seq for m in b], [0, 1, 2, 3])
                st = self.bus.stats(self.q)
                self.assertEqual((st["dequeued"], st["depth"]), (4, 6))
                held = st["depth_bytes"]
            self.assertFalse(b[0].valid)
            self.assertLess(self.bus.stats(self.q)["depth_bytes"], held)
            b = c.recv_batch(100, timeout=0)
            self.assertEqual([m.type for m in b], list(range(4, 10)))
            b.release()
            with self.assertRaises(bus_ipc.QueueEmpty):
                c.recv_batch(8, timeout=0)

    def test_full_and_errors(self):
        self.bus.create_queue(self.q, capacity=256)
        with self.bus.producer(self.q) as p:
            with self.assertRaises(bus_ipc.BusError) as cm:
                p.send(b"x" * (p.max_message + 1))
            self.assertEqual(cm.exception.errno, errno.EMSGSIZE)
            with self.assertRaises(bus_ipc.QueueFull):
                for _ in range(100):
                    p.send(b"y" * 32, timeout=0)
            with self.assertRaises(bus_ipc.Timeout):
                p.send(b"y" * 32, timeout=0.02)
            st = self.bus.stats(self.q)
            self.assertGreaterEqual(st["full"], 2)
            with self.bus.consumer(self.q):
                with self.assertRaises(bus_ipc.BusError) as cm:
                    self.bus.consumer(self.q)
                self.assertEqual(cm.exception.errno, errno.EBUSY)

    def test_deleted(self):
        self.bus.create_queue(self.q)
        with self.bus.producer(self.q) as p, self.bus.consumer(self.q) as c:
            p.send(b"last")
            self.bus.delete_queue(self.q)
            with self.assertRaises(bus_ipc.QueueDeleted):
                p.send(b"more")
            with c.recv(1) as m:
                self.assertEqual(bytes(m), b"last")
            with self.assertRaises(bus_ipc.QueueDeleted) as cm:
                c.recv(1)
            self.assertEqual(cm.exception.errno, errno.EPIPE)

    def test_redelivered(self):
        self.bus.create_queue(self.q)
        with self.bus.producer(self.q) as p:
            p.send(b"again")
            with self.bus.consumer(self.q) as c:
                self.assertEqual(bytes(c.recv(1)), b"again")
            with self.bus.consumer(self.q) as c:
                with c.recv(1) as m:
                    self.assertEqual(bytes(m), b"again")
                    self.assertTrue(m.redelivered)

    def test_stats_fields_match_buscli(self):
        self.bus.create_queue(self.q, capacity=4096)
        with self.bus.producer(self.q) as p:
            p.send(b"12345678")
            st = self.bus.stats(self.q)
        self.assertEqual(st["name"], self.q)
        self.assertEqual((st["enqueued"], st["enqueued_bytes"], st["depth"]),
                         (1, 8, 1))
        self.assertIsNone(st["stalled_slot"])
        buscli = _program("BUSCLI", "clients/buscli")
        if not buscli:
            self.skipTest("no buscli ($BUSCLI or $BUS_BUILD_DIR/clients/buscli)")
        out = subprocess.run([buscli, "--socket", busd.socket, "stats", self.q,
                              "--json"], check=True, capture_output=True,
                             text=True).stdout
        ref = json.loads(out)["queues"][0]
        self.assertEqual(list(st), list(ref))
        for k in ("name", "uuid", "capacity", "enqueued", "depth",
                  "stalled_slot", "deleted"):
            self.assertEqual(st[k], ref[k], k)

    def test_fileno(self):
        self.bus.create_queue(self.q)
        with self.bus.producer(self.q) as p, self.bus.consumer(self.q) as c:
            self.assertIsInstance(c.fileno(), int)
            self.assertIsInstance(p.fileno(), int)
            self.assertGreaterEqual(c.fileno(), 0)
            self.assertGreaterEqual(p.fileno(), 0)


class TestProcesses(Base):
    def test_many_producer_processes(self):
        self.bus.create_queue(self.q, capacity=4096)
        count, nproc = 500, 4
        with self.bus.consumer(self.q) as c:
            procs = [spawn_producer(self.q, count, size=32, tag=t)
                     for t in range(nproc)]
            seen = {}
            got = 0
            while got < count * nproc:
                with c.recv_batch(64, timeout=20) as batch:
                    for m in batch:
                        self.assertEqual(m.type, 7)
                        head = bytes(m.data[:8])
                        tag = int.from_bytes(head[:4], "little")
                        i = int.from_bytes(head[4:], "little")
                        self.assertEqual(bytes(m), head * 4)
                        # per producer: in order, exactly once
                        self.assertEqual(seen.get(tag, -1) + 1, i)
                        seen[tag] = i
                        got += 1
            for pr in procs:
                pr.wait(timeout=20)
                self.assertEqual(pr.returncode, 0)
        self.assertEqual(len(seen), nproc)
        self.assertEqual(self.bus.stats(self.q)["dequeued"], count * nproc)


class TestAsync(Base):
    def test_recv_async_woken_by_other_process(self):
        self.bus.create_queue(self.q)

        async def main(c):
            task = asyncio.ensure_future(c.recv_async())
            await asyncio.sleep(0.05)
            self.assertFalse(task.done())
            proc = spawn_producer(self.q, 3, delay=0.2)
            m = await asyncio.wait_for(task, 20)
            self.assertEqual((m.type, m.seq), (7, 0))
            m.release()
            b = await asyncio.wait_for(c.recv_batch_async(8), 20)
            n = len(b)
            b.release()
            while n < 2:
                m = await asyncio.wait_for(c.recv_async(), 20)
                m.release()
                n += 1
            await asyncio.get_running_loop().run_in_executor(None, proc.wait)
            self.assertEqual(proc.returncode, 0)

        with self.bus.consumer(self.q) as c:
            asyncio.run(main(c))
            self.assertGreaterEqual(self.bus.stats(self.q)["consumer_sleeps"], 0)

    def test_send_async_woken_by_release(self):
        self.bus.create_queue(self.q, capacity=256)

        async def main(p, c):
            n = 0
            try:
                while True:
                    p.send(b"z" * 32, timeout=0)
                    n += 1
            except bus_ipc.QueueFull:
                pass
            loop = asyncio.get_running_loop()
            released = []

            def drain():
                b = c.recv_batch(64, 0)
                released.append(len(b))
                b.release()

            loop.call_later(0.2, drain)
            t0 = loop.time()
            await asyncio.wait_for(p.send_async(b"after", type=9), 20)
            self.assertEqual(released, [n])
            self.assertGreaterEqual(loop.time() - t0, 0.15)
            with c.recv(1) as m:
                self.assertEqual((bytes(m), m.type), (b"after", 9))

        with self.bus.producer(self.q) as p, self.bus.consumer(self.q) as c:
            asyncio.run(main(p, c))


def _demo_pb2(tmp):
    protoc = shutil.which("protoc")
    if not protoc:
        return None, "protoc not found"
    try:
        import google.protobuf  # noqa: F401
    except ImportError:
        return None, "the protobuf package is not installed for %s" % sys.executable
    proto_dir = os.path.join(SRC_ROOT, "clients", "examples")
    r = subprocess.run([protoc, "--proto_path=" + proto_dir,
                        "--python_out=" + tmp,
                        os.path.join(proto_dir, "demo.proto")],
                       capture_output=True, text=True)
    if r.returncode != 0:
        return None, "protoc failed: " + r.stderr
    sys.path.insert(0, tmp)
    try:
        import demo_pb2
    except Exception as e:  # generated code too new for this protobuf
        return None, "demo_pb2 does not import: %s" % e
    finally:
        sys.path.remove(tmp)
    return demo_pb2, None


class TestProtobuf(Base):
    def test_round_trip(self):
        with tempfile.TemporaryDirectory() as tmp:
            demo_pb2, why = _demo_pb2(tmp)
            if demo_pb2 is None:
                self.skipTest(why)
            self.bus.create_queue(self.q)
            with self.bus.producer(self.q) as p, self.bus.consumer(self.q) as c:
                order = demo_pb2.Order(id=42, symbol="ACME", quantity=-3,
                                       price_micros=1234500)
                p.send_message(order)
                with c.recv(1) as m:
                    self.assertEqual(m.type, bus_ipc.type_id("demo.Order"))
                    back = m.parse(demo_pb2.Order)
                self.assertEqual(back, order)
                self.assertEqual(back.symbol, "ACME")

                async def go():
                    await p.send_message_async(demo_pb2.Tick(symbol="X"))
                    return await c.recv_async()
                m = asyncio.run(go())
                self.assertEqual(m.parse(demo_pb2.Tick).symbol, "X")
                m.release()


class TestNoProtobufImport(unittest.TestCase):
    def test_imports_without_protobuf(self):
        code = ("import sys; sys.modules['google'] = None; "
                "sys.modules['google.protobuf'] = None; import bus_ipc; "
                "assert 'google.protobuf' not in [m for m in sys.modules "
                "if sys.modules[m] is not None]; print('ok')")
        r = subprocess.run([sys.executable, "-c", code], env=_child_env(),
                           capture_output=True, text=True)
        self.assertEqual(r.stdout.strip(), "ok", r.stderr)


if __name__ == "__main__":
    unittest.main()
