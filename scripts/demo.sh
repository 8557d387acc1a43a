#!/usr/bin/env bash
# demo.sh - bus from a fresh machine to messages moving between processes.
#
# Installs missing dependencies (scripts/deps.sh), sets up build/ if it
# does not exist (otherwise reuses it) and builds.  Then it starts busd on
# a private socket in a temporary directory and shows, command by command:
# creating a queue with buscli, publishing text lines with buscli and
# demo.Order protobuf messages with the small C producer
# (clients/examples/producer.c), receiving them with buscli, the queue's
# stats, the list of queues, deleting the queue, and stopping busd with
# SIGTERM (it must exit 0).  Whatever happens, the exit trap stops busd
# and removes the temporary directory and the demo's queue.
#
# Usage: scripts/demo.sh [--help]
set -euo pipefail

usage() {
	sed -n '2,13s/^# \{0,1\}//p' "$0"
}

case "${1:-}" in
	'') ;;
	-h | --help)
		usage
		exit 0
		;;
	*)
		echo "demo.sh: unknown argument '$1' (see --help)" >&2
		exit 2
		;;
esac

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

"$root/scripts/deps.sh"

# Runs a step quietly; shows its output only if it fails.
quiet() {
	local out
	if ! out=$("$@" 2>&1); then
		echo "$out" >&2
		echo "demo.sh: failed: $*" >&2
		exit 1
	fi
}

if [[ ! -f build/meson-private/coredata.dat ]]; then
	echo "==> setting up build/"
	quiet meson setup build
fi
echo "==> building in build/"
quiet ninja -C build

# The programs of the story, by their short names.
export PATH="$root/build/busd:$root/build/clients:$root/build/clients/examples:$PATH"

queue=demo.orders
tmp=$(mktemp -d "${TMPDIR:-/tmp}/bus-demo.XXXXXX")
socket="$tmp/busd.sock"
# buscli and the examples find busd through $BUS_SOCKET (or --socket).
export BUS_SOCKET="$socket"
busd_pid=""

# 32-bit FNV-1a of a string, as libbus hashes type names and socket paths
# (bus_type_id(); 0 becomes 1).
fnv1a() {
	local LC_ALL=C s=$1 h=2166136261 i c
	for ((i = 0; i < ${#s}; i++)); do
		printf -v c '%d' "'${s:i:1}"
		h=$(((h ^ (c & 0xff)) * 16777619 & 0xffffffff))
	done
	echo $((h == 0 ? 1 : h))
}

# busd's segments are /dev/shm/bus.<instance>.<queue>.<uuid>.u<uid>, instance
# being the hash of the socket path in 8 hex digits.
instance() {
	printf '%08x' "$(fnv1a "$1")"
}

cleanup() {
	local status=$?
	trap - EXIT INT TERM
	if [[ -n "$busd_pid" ]] && kill -0 "$busd_pid" 2>/dev/null; then
		buscli delete "$queue" >/dev/null 2>&1 || true
		kill -TERM "$busd_pid" 2>/dev/null || true
		wait "$busd_pid" 2>/dev/null || true
	fi
	# a queue left by a busd that died: remove its segment by name
	rm -f /dev/shm/"bus.$(instance "$socket").$queue."* 2>/dev/null || true
	if ((status != 0)) && [[ -s "$tmp/busd.log" ]]; then
		echo "==> busd's log" >&2
		cat "$tmp/busd.log" >&2
	fi
	rm -rf -- "$tmp"
	exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Shows a command, then runs it.
run() {
	printf '\n$ %s\n' "$*"
	"$@"
}

# Shows a shell pipeline, then runs it.
run_sh() {
	printf '\n$ %s\n' "$1"
	bash -c "$1"
}

say() {
	printf '\n==> %s\n' "$*"
}

say "starting busd on a private socket (its log goes to $tmp/busd.log)"
printf '\n$ busd --socket %s &\n' "$socket"
busd --socket "$socket" 2>"$tmp/busd.log" &
busd_pid=$!
# busd renames its socket into place only once it accepts connections.
for ((i = 0; i < 200; i++)); do
	[[ -S "$socket" ]] && break
	if ! kill -0 "$busd_pid" 2>/dev/null; then
		echo "demo.sh: busd exited before it was ready" >&2
		exit 1
	fi
	sleep 0.05
done
if [[ ! -S "$socket" ]]; then
	echo "demo.sh: busd did not create $socket within 10 s" >&2
	exit 1
fi
echo "busd is ready (pid $busd_pid); buscli finds it through BUS_SOCKET=$socket"

say "a queue: a 64 KiB ring in shared memory, one consumer, any number of producers"
run buscli create "$queue" --capacity 64K

say "two text messages, one per line of stdin"
run_sh "printf 'hello\nworld\n' | buscli publish $queue"

say "three demo.Order protobuf messages from a C producer (clients/examples/producer.c)"
run producer "$queue" 3

say "five messages wait in the queue"
run buscli stats "$queue"

say "receive them; --json shows each message's fields (the orders are binary protobuf, so base64)"
run buscli recv "$queue" --count 5 --timeout 2000 --json
echo "(type $(fnv1a demo.Order) is bus_type_id(\"demo.Order\"); type 0 is untyped text)"

say "the counters after the traffic: enqueued, dequeued, latency"
run buscli stats "$queue"

say "every queue busd serves"
run buscli list

say "delete the queue: its segment leaves /dev/shm"
run buscli delete "$queue"

say "stop busd with SIGTERM"
printf '\n$ kill -TERM %s\n' "$busd_pid"
kill -TERM "$busd_pid"
busd_status=0
wait "$busd_pid" || busd_status=$?
busd_pid=""
if ((busd_status != 0)); then
	echo "demo.sh: busd exited with status $busd_status" >&2
	exit 1
fi
echo "busd exited with status 0"

say "what busd logged"
cat "$tmp/busd.log"
echo
echo "demo: ok"
