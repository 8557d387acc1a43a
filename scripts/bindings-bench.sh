#!/usr/bin/env bash
# bindings-bench.sh - the bindings' throughput against C's, in one run.
#
# Receive throughput at 64 B between a producer process and a consumer
# process, one after the other on this machine:
#   C       busbench --transport bus --test tp-64 --no-pin (5 x 500 ms;
#           unpinned, as the others are)
#   Rust    bindings/rust example bench (5,000,000 messages x 5 runs),
#           recv and recv_batch(64), release build
#   Python  bindings/python/bench.py: a C producer process feeding
#           recv_batch(256), then recv(), 2,000,000 messages each
# and prints each figure with Rust's ratio to C's.  Ratios mean more than
# the figures: the machine's pace moves between runs.
#
# Usage: scripts/bindings-bench.sh [BUILD]
#   BUILD  a meson build directory, release preferred (default: build-rel)
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "${1:-build-rel}" && pwd)
for f in "$build/clients/busbench/busbench" "$build/busd/busd" "$build/libbus/libbus.so"; do
	if [[ ! -e "$f" ]]; then
		echo "bindings-bench.sh: $f is missing: build $build first" >&2
		exit 1
	fi
done
cargo=/usr/bin/cargo
[[ -x $cargo ]] || cargo=$(command -v cargo || true)
if [[ -z "$cargo" ]]; then
	echo "bindings-bench.sh: no cargo (scripts/deps.sh installs it)" >&2
	exit 1
fi

tmp=$(mktemp -d)
busd_pid=
cleanup() {
	[[ -n "$busd_pid" ]] && kill "$busd_pid" 2>/dev/null && wait "$busd_pid" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT

echo "== C: busbench tp-64"
"$build/clients/busbench/busbench" --transport bus --test tp-64 --no-pin \
	--json >"$tmp/c.json"
c=$(python3 -c 'import json,sys; r=[x for x in json.load(open(sys.argv[1]))["results"] if x["name"]=="tp-64"][0]; print(r["msgs_per_sec"])' "$tmp/c.json")
printf 'C       recv            %6.2f M msgs/s\n' "$(python3 -c "print($c / 1e6)")"

echo "== Rust: example bench (release)"
(cd "$root/bindings/rust" &&
	BUS_BUILD_DIR="$build" CARGO_TARGET_DIR="$build/rust-target/bench" \
		"$cargo" build --offline --release -q --example bench)
"$build/busd/busd" --socket "$tmp/busd.sock" 2>"$tmp/busd.log" &
busd_pid=$!
for _ in $(seq 100); do [[ -S "$tmp/busd.sock" ]] && break; sleep 0.05; done
BUS_SOCKET="$tmp/busd.sock" "$build/rust-target/bench/release/examples/bench" 5000000 5 |
	tee "$tmp/rust.txt"
for mode in 'recv' 'recv_batch(64)'; do
	r=$(grep -F ", $mode: median" "$tmp/rust.txt" | sed 's/.*median \([0-9.]*\) M.*/\1/')
	printf 'Rust    %-15s %6.2f M msgs/s  %5.1f%% of C\n' "$mode" "$r" \
		"$(python3 -c "print($r * 1e6 / $c * 100)")"
done

echo "== Python: bench.py"
BUS_BUILD_DIR="$build" /usr/bin/python3 "$root/bindings/python/bench.py"
