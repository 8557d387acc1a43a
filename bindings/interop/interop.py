#!/usr/bin/env python3
"""Cross-language interop: demo.Order protobuf messages between the C
example producer, the Rust binding (bus-ipc with prost), the Python
binding (bus_ipc with protoc's demo_pb2) and `buscli recv --json`, all
through one private busd.

 1. One queue, three producers at once: clients/examples/producer (C,
    order ids 1..), bindings/rust/examples/order_producer (ids 1000001..)
    and this script's Python producer (ids 2000001..).  The queue's ring is
    small, so all three are attached and blocked on it before the Rust
    consumer (bindings/rust/examples/order_consumer) drains it.  Checked:
    every order exactly once, each message typed bus_type_id("demo.Order")
    and decoded by prost to the fields its producer sent, per producer slot
    seq rising by exactly 1, and each producer's orders in the order sent.
 2. The Rust producer's orders consumed by Python (decoded with demo_pb2)
    and, the same orders sent again, by `buscli recv --json` (payload
    decoded with `protoc --decode=demo.Order`): the same checks, and the
    same bytes and fields on both sides.
 3. The queues are deleted through busd, which then stops cleanly and
    leaves nothing of them in /dev/shm.

Environment: BUS_BUILD_DIR (the meson build directory), BUSD, BUSCLI,
PRODUCER (the C example producer; defaults under BUS_BUILD_DIR), PROTOC
(default: protoc on PATH), SRCDIR (the source tree).  The Rust examples
are built with cargo, offline, into BUS_BUILD_DIR/rust-target/debian as
bindings/rust/test.sh builds them (Debian's cargo; with another cargo,
rust-target/newer), so this is quick once that test has run.

Exit 0: passed; 1: failed; 77: skipped (no cargo, no Debian crate
registry, no protoc or no python3 with the protobuf module), with why.
"""

import base64
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "python", "tests"))
from busd_proc import BusdProcess  # noqa: E402  (the Python tests' busd)
SKIP = 77

C_FIRST, RUST_FIRST, PY_FIRST = 1, 1000001, 2000001
C_SYMBOL, RUST_SYMBOL, PY_SYMBOL = "ACME", "RUST", "PY"
COUNT = 2000      # orders per producer in part 1
COUNT2 = 100      # orders in part 2 (each decoded by one protoc run)
PART2_FIRST = 3000001
PART2_SYMBOL = "RUST2"
CAPACITY = "4K"   # small: the producers block until the consumer drains
WAIT = 60         # seconds any one step may take


def order_fields(first, symbol, i):
    """Order i (1-based) of a producer whose first id is first: what the C
    example producer sends for first = 1, shifted by first - 1."""
    return (first + i - 1, symbol, 100 * i if i % 2 else -100 * i,
            12500000 + 250000 * i)


def fnv1a(name):
    h = 2166136261
    for b in name.encode():
        h = ((h ^ b) * 16777619) & 0xFFFFFFFF
    return h or 1


ORDER_TYPE = fnv1a("demo.Order")


# --- the Python side, run as a child under a python3 with protobuf ---------

def py_child(argv):
    import bus_ipc
    import demo_pb2

    mode, queue, count = argv[0], argv[1], int(argv[2])
    if bus_ipc.type_id("demo.Order") != ORDER_TYPE:
        print("bus_ipc.type_id('demo.Order') = %d, want %d" %
              (bus_ipc.type_id("demo.Order"), ORDER_TYPE), file=sys.stderr)
        return 1
    with bus_ipc.Bus() as bus:
        if mode == "produce":
            first, symbol = int(argv[3]), argv[4]
            with bus.producer(queue) as p:
                for i in range(1, count + 1):
                    oid, sym, qty, price = order_fields(first, symbol, i)
                    p.send_message(demo_pb2.Order(
                        id=oid, symbol=sym, quantity=qty, price_micros=price))
                print(json.dumps({"slot": p.slot}))
            return 0
        with bus.consumer(queue) as c:
            for _ in range(count):
                with c.recv(timeout=WAIT) as m:
                    o = m.parse(demo_pb2.Order)
                    print(json.dumps({
                        "type": m.type, "producer": m.producer, "seq": m.seq,
                        "id": o.id, "symbol": o.symbol,
                        "quantity": o.quantity,
                        "price_micros": o.price_micros,
                        "hex": bytes(m).hex()}))
    return 0


# --- the driver ------------------------------------------------------------

class Failed(Exception):
    pass


def check(cond, fmt, *args):
    if not cond:
        raise Failed(fmt % args if args else fmt)


def log(fmt, *args):
    print(fmt % args if args else fmt, flush=True)


def program(env, default):
    p = os.environ.get(env) or default
    if not (p and os.access(p, os.X_OK)):
        raise Failed("no %s at %s (build first, or set %s)" % (env, p, env))
    return p


def run(argv, timeout=WAIT, **kw):
    r = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       universal_newlines=True, timeout=timeout, **kw)
    if r.returncode != 0:
        raise Failed("%s exited %d:\n%s%s" % (" ".join(argv), r.returncode,
                                               r.stdout[-2000:], r.stderr[-4000:]))
    return r.stdout


def python_with_protobuf():
    seen = []
    for py in ["/usr/bin/python3", sys.executable, shutil.which("python3")]:
        if not py or not os.access(py, os.X_OK) or py in seen:
            continue
        seen.append(py)
        if subprocess.run([py, "-c", "import google.protobuf"],
                          stdout=subprocess.DEVNULL,
                          stderr=subprocess.DEVNULL).returncode == 0:
            return py
    return None


def cargo_setup(build):
    """(cargo argv prefix, environment) as bindings/rust/test.sh builds, or
    a reason to skip."""
    if not os.path.isdir("/usr/share/cargo/registry"):
        return None, "no Debian crate registry in /usr/share/cargo/registry (librust-*-dev)"
    env = dict(os.environ)
    env.pop("BUSD", None)
    env["BUS_BUILD_DIR"] = build
    if os.access("/usr/bin/cargo", os.X_OK) and os.access("/usr/bin/rustc", os.X_OK):
        env["PATH"] = "/usr/bin:" + env.get("PATH", "")
        env["CARGO_TARGET_DIR"] = os.path.join(build, "rust-target", "debian")
        return (["/usr/bin/cargo"], env), None
    cargo = shutil.which("cargo")
    if not cargo:
        return None, "no cargo/rustc (install Debian's cargo and rustc)"
    env["CARGO_TARGET_DIR"] = os.path.join(build, "rust-target", "newer")
    return ([cargo], env), None


class Busd(BusdProcess):
    error = Failed
    poll_s = 0.02

    def __init__(self, busd, buscli, tmp):
        self.buscli = buscli
        super().__init__(busd, tmp)

    def serves(self):
        return subprocess.run(self.cli("list"), stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL).returncode == 0

    def cli(self, *args):
        return [self.buscli, "--socket", self.socket] + list(args)

    def log_text(self):
        return super().log_text()[-4000:]

    def stop(self):
        """SIGTERM; busd must exit 0."""
        if not self.terminate():
            raise Failed("busd did not stop on SIGTERM in 20 s")
        rc = self.proc.returncode
        text = self.log_text() if rc != 0 else ""
        self.log.close()
        if rc != 0:
            raise Failed("busd exited %d on SIGTERM:\n%s" % (rc, text))


def spawn(argv, env, outdir, name):
    out = open(os.path.join(outdir, name + ".out"), "w+")
    err = open(os.path.join(outdir, name + ".err"), "w+")
    return (name, subprocess.Popen(argv, stdout=out, stderr=err, env=env), out, err)


def finish(child, deadline):
    """Waits for a spawned child; its stdout, or Failed."""
    name, proc, out, err = child
    try:
        proc.wait(max(1, deadline - time.monotonic()))
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        err.seek(0)
        raise Failed("%s did not finish in time:\n%s" % (name, err.read()[-4000:]))
    out.seek(0)
    err.seek(0)
    text, etext = out.read(), err.read()
    out.close()
    err.close()
    if proc.returncode != 0:
        raise Failed("%s exited %d:\n%s%s" % (name, proc.returncode,
                                               text[-2000:], etext[-4000:]))
    return text


def check_orders(rows, producers, what):
    """rows: (slot, seq, type, id, symbol, quantity, price_micros) in the
    order received.  producers: {name: (first id, symbol, count)}.  Checks
    exactly once, the fields, per-slot seq + 1 and per-producer order.
    Returns {name: slot}."""
    ranges = {}
    for name, (first, symbol, count) in producers.items():
        ranges[name] = (first, first + count)
    total = sum(c for _, _, c in producers.values())
    check(len(rows) == total, "%s: %d messages received, %d sent", what,
          len(rows), total)
    seen = set()
    last_seq = {}
    last_id = {}
    slots = {}
    for slot, seq, type_, oid, symbol, qty, price in rows:
        check(type_ == ORDER_TYPE, "%s: order %d typed %d, not demo.Order (%d)",
              what, oid, type_, ORDER_TYPE)
        check(oid not in seen, "%s: order %d received twice", what, oid)
        seen.add(oid)
        name = next((n for n, (lo, hi) in ranges.items() if lo <= oid < hi), None)
        check(name is not None, "%s: order id %d was never sent", what, oid)
        first, sym, _ = producers[name]
        want = order_fields(first, sym, oid - first + 1)
        check((oid, symbol, qty, price) == want,
              "%s: %s's order decoded as %r, sent as %r", what, name,
              (oid, symbol, qty, price), want)
        if slot in last_seq:
            check(seq == last_seq[slot] + 1,
                  "%s: producer slot %d: seq %d after seq %d", what, slot, seq,
                  last_seq[slot])
        last_seq[slot] = seq
        check(oid == last_id.get(name, first - 1) + 1,
              "%s: %s's order %d after order %d (out of order)", what, name,
              oid, last_id.get(name, first - 1))
        last_id[name] = oid
        check(slots.setdefault(name, slot) == slot,
              "%s: %s's orders came from slots %d and %d", what, name,
              slots[name], slot)
    # Exactly the orders sent: with the counts above, every id once.
    want_ids = set()
    for first, _, count in producers.values():
        want_ids.update(range(first, first + count))
    check(seen == want_ids, "%s: the orders received are not those sent", what)
    return slots


def queue_files(queue, uuid):
    """This queue's names in /dev/shm (its segment and .wake FIFO)."""
    mark = ".%s.%s." % (queue, uuid.replace("-", ""))
    try:
        return [n for n in os.listdir("/dev/shm") if mark in n + "."]
    except OSError:
        return []


QUEUE1, QUEUE2 = "interop-orders", "interop-rust-out"


def part1(bus, tmp, producer_c, rust, py, pyenv, env):
    q = QUEUE1
    run(bus.cli("create", q, "--capacity", CAPACITY))
    kids = [
        spawn([producer_c, q, str(COUNT)], env, tmp, "C producer"),
        spawn([rust["order_producer"], q, str(COUNT), str(RUST_FIRST), RUST_SYMBOL],
              env, tmp, "Rust producer"),
        spawn([py, os.path.abspath(__file__), "produce", q, str(COUNT),
               str(PY_FIRST), PY_SYMBOL], pyenv, tmp, "Python producer"),
    ]
    # All three attached (and blocked on the full ring) before the consumer
    # starts, so they send at the same time.
    deadline = time.monotonic() + 20
    while True:
        st = json.loads(run(bus.cli("stats", q, "--json")))
        n = st["queues"][0]["producers"]
        if n == 3 or time.monotonic() > deadline or any(
                k[1].poll() is not None for k in kids):
            break
        time.sleep(0.02)
    try:
        if n != 3:
            for k in kids:  # one that failed to start says why
                if k[1].poll() is not None:
                    finish(k, time.monotonic())
        check(n == 3, "%d producers attached to the queue at once, want 3", n)
        t0 = time.monotonic()
        kids.append(spawn([rust["order_consumer"], q, str(3 * COUNT),
                           str(WAIT * 1000)], env, tmp, "Rust consumer"))
        deadline = time.monotonic() + WAIT * 2
        outs = {k[0]: finish(k, deadline) for k in kids}
    finally:
        for k in kids:  # none outlives a failure
            if k[1].poll() is None:
                k[1].kill()
                k[1].wait()
    elapsed = time.monotonic() - t0
    rows = []
    for line in outs["Rust consumer"].splitlines():
        slot, seq, oid, symbol, qty, price = line.split(" ")
        rows.append((int(slot), int(seq), ORDER_TYPE, int(oid), symbol,
                     int(qty), int(price)))
    slots = check_orders(rows, {
        "C producer": (C_FIRST, C_SYMBOL, COUNT),
        "Rust producer": (RUST_FIRST, RUST_SYMBOL, COUNT),
        "Python producer": (PY_FIRST, PY_SYMBOL, COUNT),
    }, "C + Rust + Python -> Rust")
    check(len(set(slots.values())) == 3, "two producers shared a slot: %r", slots)
    rust_slot = int(outs["Rust producer"].split("slot ")[1].split()[0])
    check(slots["Rust producer"] == rust_slot,
          "the Rust producer says slot %d, its orders came from slot %d",
          rust_slot, slots["Rust producer"])
    py_slot = json.loads(outs["Python producer"])["slot"]
    check(slots["Python producer"] == py_slot,
          "the Python producer says slot %d, its orders came from slot %d",
          py_slot, slots["Python producer"])
    switches = sum(1 for a, b in zip(rows, rows[1:]) if a[0] != b[0])
    log("ok: C, Rust and Python producers -> Rust consumer: %d demo.Orders "
        "exactly once, in per-producer order (slots %s; %d producer switches "
        "in the stream; %.2f s)", len(rows),
        ", ".join("%s %d" % (n.split()[0], s) for n, s in sorted(slots.items())),
        switches, elapsed)


def part2(bus, tmp, rust, py, pyenv, env, protoc, proto_dir):
    q = QUEUE2
    rust_send = [rust["order_producer"], q, str(COUNT2), str(PART2_FIRST), PART2_SYMBOL]
    want = {"Rust producer": (PART2_FIRST, PART2_SYMBOL, COUNT2)}

    # Rust -> Python.
    out = run(rust_send, env=env)
    slot = int(out.split("slot ")[1].split()[0])
    out = run([py, os.path.abspath(__file__), "consume", q, str(COUNT2)], env=pyenv)
    py_rows, py_bytes = [], {}
    for line in out.splitlines():
        m = json.loads(line)
        py_rows.append((m["producer"], m["seq"], m["type"], m["id"], m["symbol"],
                        m["quantity"], m["price_micros"]))
        py_bytes[m["id"]] = bytes.fromhex(m["hex"])
    slots = check_orders(py_rows, want, "Rust -> Python")
    check(slots["Rust producer"] == slot, "Rust -> Python: sent from slot %d, "
          "received from slot %d", slot, slots["Rust producer"])
    log("ok: Rust producer -> Python consumer: %d demo.Orders decoded with "
        "demo_pb2, exactly once, in order", len(py_rows))

    # The same orders again, Rust -> buscli recv --json -> protoc --decode.
    run(rust_send, env=env)
    out = run(bus.cli("recv", q, "--json", "-n", str(COUNT2), "-T", str(WAIT * 1000)))
    cli_rows = []
    encodings = set()
    for line in out.splitlines():
        m = json.loads(line)
        encodings.add(m["encoding"])
        if m["encoding"] == "base64":
            data = base64.b64decode(m["payload"], validate=True)
        else:
            check(m["encoding"] == "utf-8", "buscli: encoding %r", m["encoding"])
            data = m["payload"].encode("utf-8")
        check(len(data) == m["len"], "buscli: payload of %d bytes, len %d",
              len(data), m["len"])
        text = subprocess.run(
            [protoc, "--proto_path=" + proto_dir, "--decode=demo.Order",
             "demo.proto"], input=data, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, timeout=WAIT)
        check(text.returncode == 0, "protoc --decode=demo.Order failed on "
              "producer %d seq %d: %s", m["producer"], m["seq"],
              text.stderr.decode(errors="replace"))
        f = {"id": 0, "symbol": "", "quantity": 0, "price_micros": 0}
        for fl in text.stdout.decode().splitlines():
            k, _, v = fl.partition(": ")
            check(k in f, "protoc printed an unknown field: %r", fl)
            f[k] = json.loads(v) if k == "symbol" else int(v)
        cli_rows.append((m["producer"], m["seq"], m["type"], f["id"], f["symbol"],
                         f["quantity"], f["price_micros"]))
        check(py_bytes.get(f["id"]) == data, "order %d: buscli got other bytes "
              "than Python did", f["id"])
    check_orders(cli_rows, want, "Rust -> buscli")
    # Both receivers saw the same orders decoded to the same fields.
    check([r[3:] for r in cli_rows] == [r[3:] for r in py_rows],
          "buscli and Python decoded different orders")
    log("ok: Rust producer -> buscli recv --json (payloads as %s) -> protoc "
        "--decode: %d demo.Orders, the same bytes and fields as Python got",
        " and ".join(sorted(encodings)), len(cli_rows))
    return q


def main():
    build = os.environ.get("BUS_BUILD_DIR")
    if not build:
        print("interop: set BUS_BUILD_DIR to the meson build directory", file=sys.stderr)
        return 2
    build = os.path.abspath(build)
    src = os.environ.get("SRCDIR") or os.path.dirname(os.path.dirname(HERE))
    protoc = os.environ.get("PROTOC") or shutil.which("protoc")
    if not protoc:
        print("interop: SKIP: no protoc (protobuf-compiler)", file=sys.stderr)
        return SKIP
    py = python_with_protobuf()
    if not py:
        print("interop: SKIP: no python3 with the protobuf module (python3-protobuf)",
              file=sys.stderr)
        return SKIP
    cargo, why = cargo_setup(build)
    if not cargo:
        print("interop: SKIP: %s" % why, file=sys.stderr)
        return SKIP
    busd = program("BUSD", os.path.join(build, "busd", "busd"))
    buscli = program("BUSCLI", os.path.join(build, "clients", "buscli"))
    producer_c = program("PRODUCER", os.path.join(build, "clients", "examples", "producer"))
    lib = os.path.join(build, "libbus", "libbus.so")
    check(os.path.exists(lib), "no libbus.so at %s", lib)

    t0 = time.monotonic()
    cargo_argv, cargo_env = cargo
    rust_dir = os.path.join(src, "bindings", "rust")
    r = subprocess.run(cargo_argv + ["build", "--offline", "--all-features",
                                     "--example", "order_producer",
                                     "--example", "order_consumer"],
                       cwd=rust_dir, env=cargo_env, timeout=900)
    check(r.returncode == 0, "cargo build of the Rust examples failed")
    examples = os.path.join(cargo_env["CARGO_TARGET_DIR"], "debug", "examples")
    rust = {n: os.path.join(examples, n) for n in ("order_producer", "order_consumer")}
    log("Rust examples built (%.1f s)", time.monotonic() - t0)

    tmp = tempfile.mkdtemp(prefix="bus-interop-")
    bus = None
    queues = [QUEUE1, QUEUE2]
    try:
        proto_dir = os.path.join(src, "clients", "examples")
        gen = os.path.join(tmp, "gen")
        os.mkdir(gen)
        run([protoc, "--proto_path=" + proto_dir, "--python_out=" + gen, "demo.proto"])
        bus = Busd(busd, buscli, tmp)
        env = dict(os.environ, BUS_SOCKET=bus.socket)
        pyenv = dict(env, BUS_LIBRARY=lib, BUS_BUILD_DIR=build,
                     PYTHONPATH=os.pathsep.join(
                         [gen, os.path.join(src, "bindings", "python")]))
        pyenv.pop("PYTHONHOME", None)
        t1 = time.monotonic()
        part1(bus, tmp, producer_c, rust, py, pyenv, env)
        part2(bus, tmp, rust, py, pyenv, env, protoc, proto_dir)
        log("exchanges took %.1f s", time.monotonic() - t1)

        # Delete the queues through busd, stop it, and find nothing left.
        info = json.loads(run(bus.cli("list", "--json")))["queues"]
        uuids = {i["name"]: i["uuid"] for i in info}
        for q in queues:
            check(queue_files(q, uuids[q]), "queue %s has no segment in /dev/shm", q)
            run(bus.cli("delete", q))
        bus.stop()
        left = [f for q in queues for f in queue_files(q, uuids[q])]
        check(not left, "left in /dev/shm after delete and stop: %s", ", ".join(left))
        bus = None
        log("ok: queues deleted, busd stopped, nothing left in /dev/shm")
    finally:
        if bus is not None:
            try:
                for q in queues:
                    subprocess.run(bus.cli("delete", q), stdout=subprocess.DEVNULL,
                                   stderr=subprocess.DEVNULL, timeout=10)
                bus.stop()
            except Exception as e:  # the failure already raised is the one to see
                print("interop: cleanup: %s" % e, file=sys.stderr)
        shutil.rmtree(tmp, ignore_errors=True)
    log("interop: all passed (%.1f s)", time.monotonic() - t0)
    return 0


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] in ("produce", "consume"):
        sys.exit(py_child(sys.argv[1:]))
    try:
        sys.exit(main())
    except (Failed, subprocess.TimeoutExpired) as e:
        print("interop: FAILED: %s" % e, file=sys.stderr)
        sys.exit(1)
