#!/usr/bin/env bash
# bridge-bench.sh - busbridge against plain libnats, in one run.
#
# Starts its own nats-server (JetStream, a temporary store, a free port on
# 127.0.0.1) and two busd on private sockets (the two hosts, A and B),
# creates a queue on each, then runs build/clients/bridgebench/bridgebench
# round by round:
#   baseline  js_PublishAsync (at most WINDOW in flight) and a durable pull
#             consumer fetching BATCH at a time, acking each message
#   bridge    bus_send into A's queue, busbridge --export to the subject,
#             busbridge --import into B's queue, bus_recv_batch from it
# for each size: N messages as fast as they go (msgs/s, and the latency of
# a loaded path), then LAT messages paced at RATE a second (the latency of
# an idle path).  It also prints the CPU time per message of each process
# (the bench's, each busbridge's, the server's): on a machine with few
# cores that is where a bridge loses throughput.  The two modes alternate within a round (ABBA over the
# rounds), so a change of the machine's pace lands on both; every figure
# is the median of the rounds, the ratio the median of the rounds' ratios.
# Stops everything it started and removes its files (temporary directory,
# the busds' /dev/shm segments) however it ends.
#
# Usage: scripts/bridge-bench.sh [OPTION]...
#   --build DIR         meson build directory (default: build-rel)
#   --busbridge PATH    the busbridge to measure (default: the build's)
#   --messages N        messages per throughput run (default 60000)
#   --rounds R          rounds, each figure the median (default 5)
#   --sizes LIST        comma-separated payload sizes (default 64,1024)
#   --window N          publishes in flight, both modes (default 1024)
#   --batch N           fetch batch, both modes (default 256)
#   --rate R            pace of the latency runs, msgs/s (default 1000)
#   --latency-messages N  messages per latency run, 0: none (default 500)
#   --capacity SIZE     ring size of the two bus queues (default 16M)
#   --bridge-opt ARG    pass ARG to both busbridges (repeatable)
#   --baseline-opt ARG  pass ARG to bridgebench's baseline runs (repeatable),
#                       e.g. --baseline-opt=--headers
#   --baseline-only     run no bridge (no busbridge needed)
#   --save-json FILE    also write every run's row, one JSON object a line
#   --smoke             1 round of 2000 messages (200 paced): checks the
#                       plumbing, not the speed (meson test --suite bench);
#                       exits 77 if a tool it needs is missing
#   -h, --help          print this help
# The defaults take about a minute on 2 cores.  Exit status: 0 every run
# passed (timings never change it), 1 a run failed or something could not
# start, 2 bad usage, 77 (--smoke) a tool is missing.
set -euo pipefail

usage() {
	sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//p}' "$0"
}

die() {
	echo "bridge-bench.sh: $*" >&2
	exit 1
}

# A missing tool: the smoke test cannot run (77), a measurement fails.
missing() {
	echo "bridge-bench.sh: $*" >&2
	((smoke)) && exit 77
	exit 1
}

bad_usage() {
	echo "bridge-bench.sh: $* (see --help)" >&2
	exit 2
}

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=$root/build-rel
messages=60000 rounds=5 sizes=64,1024 window=1024 batch=256
rate=1000 lat_messages=500 capacity=16M baseline_only=0 smoke=0 warmup=1000 save_json='' busbridge=''
bridge_opts=() baseline_opts=()

need_value() {
	[[ $# -ge 2 && -n "$2" ]] || bad_usage "$1 needs a value"
}

is_count() { # is_count NAME VALUE MIN
	if ! [[ "$2" =~ ^[0-9]{1,9}$ ]] || ((10#$2 < $3)); then
		bad_usage "invalid $1 '$2': a whole number from $3 to 999999999"
	fi
}

while (($#)); do
	case "$1" in
	--*=*)
		set -- "${1%%=*}" "${1#*=}" "${@:2}"
		continue
		;;
	--build) need_value "$@"; build=$2; shift ;;
	--busbridge) need_value "$@"; busbridge=$2; shift ;;
	--messages) need_value "$@"; is_count messages "$2" 1; messages=$((10#$2)); shift ;;
	--rounds) need_value "$@"; is_count rounds "$2" 1; rounds=$((10#$2)); shift ;;
	--sizes) need_value "$@"; sizes=$2; shift ;;
	--window) need_value "$@"; is_count window "$2" 1; window=$((10#$2)); shift ;;
	--batch) need_value "$@"; is_count batch "$2" 1; batch=$((10#$2)); shift ;;
	--rate) need_value "$@"; is_count rate "$2" 1; rate=$((10#$2)); shift ;;
	--latency-messages)
		need_value "$@"; is_count "latency message count" "$2" 0
		lat_messages=$((10#$2)); shift ;;
	--capacity) need_value "$@"; capacity=$2; shift ;;
	--bridge-opt) need_value "$@"; bridge_opts+=("--bridge-opt=$2"); shift ;;
	--baseline-opt) need_value "$@"; baseline_opts+=("$2"); shift ;;
	--baseline-only) baseline_only=1 ;;
	--smoke) smoke=1 ;;
	--save-json) need_value "$@"; save_json=$2; shift ;;
	-h | --help) usage; exit 0 ;;
	*) bad_usage "unknown argument '$1'" ;;
	esac
	shift
done
if ((smoke)); then
	rounds=1 messages=2000 lat_messages=200 warmup=100
fi
IFS=, read -r -a size_list <<<"$sizes"
((${#size_list[@]})) || bad_usage "no sizes"
for i in "${!size_list[@]}"; do
	s=${size_list[i]}
	if ! [[ "$s" =~ ^[0-9]{1,7}$ ]] || ((10#$s < 16 || 10#$s > 1048576)); then
		bad_usage "invalid size '$s': bytes, 16 to 1048576"
	fi
	size_list[i]=$((10#$s))
done
sizes=$(IFS=,; echo "${size_list[*]}")

[[ -d "$build" ]] || die "no build directory $build (meson setup build-rel --buildtype=release)"
build=$(cd "$build" && pwd)
bench=$build/clients/bridgebench/bridgebench
busd=$build/busd/busd
buscli=$build/clients/buscli
busbridge=${busbridge:-$build/clients/busbridge/busbridge}
tools=("$bench" "$busd" "$buscli")
((baseline_only)) || tools+=("$busbridge")
for f in "${tools[@]}"; do
	[[ -x "$f" ]] || missing "$f is missing: ninja -C $build (bridgebench and busbridge need libnats-dev)"
done
nats_server=$(command -v nats-server || true)
[[ -n "$nats_server" ]] || missing "nats-server not found (scripts/deps.sh installs it)"
command -v jq >/dev/null || missing "jq not found (scripts/deps.sh installs it)"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/bridge-bench.XXXXXX")
pids=() instances=() queue=
cleanup() {
	local i p
	trap - EXIT INT TERM
	set +e
	# the busds' queues: deleting them removes segments and wake FIFOs
	for i in a b; do
		[[ -S "$tmp/$i/busd.sock" ]] &&
			"$buscli" --socket "$tmp/$i/busd.sock" delete "$queue" >/dev/null 2>&1
	done
	for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
		p=${pids[i]}
		kill "$p" 2>/dev/null && wait "$p" 2>/dev/null
	done
	# whatever a busd that died left behind, its instance's files only
	for i in "${instances[@]}"; do
		find /dev/shm -maxdepth 1 -user "$(id -u)" -name "bus.$i.*" -delete 2>/dev/null
	done
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# a process of ours: stopped (SIGTERM) by cleanup, last started first
start() { # start LOG CMD...
	local log=$1
	shift
	"$@" >"$log" 2>&1 &
	pids+=($!)
}

wait_for() { # wait_for FILE WHAT
	for _ in $(seq 200); do
		[[ -e "$1" ]] && return 0
		sleep 0.05
	done
	die "$2 did not start; its log:$(echo; sed 's/^/  /' "${3:-/dev/null}")"
}

# NATS on a free port of its own choosing, its address in the ports file
mkdir -p "$tmp/nats"
start "$tmp/nats/log" "$nats_server" -js -a 127.0.0.1 -p -1 -sd "$tmp/nats/store" \
	--ports_file_dir "$tmp/nats"
wait_for "$tmp/nats/nats-server_${pids[-1]}.ports" nats-server "$tmp/nats/log"
url=$(jq -r '.nats[0]' "$tmp/nats/nats-server_${pids[-1]}.ports")
nats_pid=${pids[-1]}
[[ "$url" == nats://127.0.0.1:* ]] || die "nats-server: unexpected address '$url'"

queue=bridgebench-$$
for h in a b; do
	mkdir -p "$tmp/$h"
	start "$tmp/$h/busd.log" "$busd" --socket "$tmp/$h/busd.sock" --log-level warn
	wait_for "$tmp/$h/busd.sock" "busd ($h)" "$tmp/$h/busd.log"
	"$buscli" --socket "$tmp/$h/busd.sock" create "$queue" --capacity "$capacity" >/dev/null ||
		die "cannot create queue $queue (capacity $capacity) on busd $h"
done
sock_a=$tmp/a/busd.sock sock_b=$tmp/b/busd.sock
# each busd's instance (a hash of its socket path) names its segments
mapfile -t instances < <(find /dev/shm -maxdepth 1 -user "$(id -u)" -name "bus.*.$queue.*" \
	-printf '%f\n' | sed -n 's/^bus\.\([0-9a-f]\{8\}\)\..*/\1/p' | sort -u)
((${#instances[@]} == 2)) || die "expected the segments of $queue of two busds in /dev/shm"

load() { cut -d' ' -f1 /proc/loadavg; }
psi() { sed -n 's/^some avg10=\([0-9.]*\).*/\1%/p' /proc/pressure/cpu 2>/dev/null || echo '?'; }
load_start=$(load) psi_start=$(psi)

results=$tmp/results.jsonl
: >"$results"
export TMPDIR=$tmp # bridgebench's busbridge state directories

# run ROUND KIND(tp|lat) MODE SIZE
run() {
	local round=$1 kind=$2 mode=$3 size=$4 args
	args=(--nats "$url" --server-pid "$nats_pid" --size "$size" --window "$window"
		--batch "$batch" --json)
	if [[ $kind == tp ]]; then
		args+=(--messages "$messages" --warmup "$warmup")
	else
		args+=(--messages "$lat_messages" --rate "$rate" --warmup 100)
	fi
	if [[ $mode == baseline ]]; then
		args+=(--baseline "${baseline_opts[@]}")
	else
		args+=(--bridge --busbridge "$busbridge" --socket-a "$sock_a" --queue-a "$queue"
			--socket-b "$sock_b" --queue-b "$queue" "${bridge_opts[@]}")
	fi
	if ! "$bench" "${args[@]}" >"$tmp/row" 2>"$tmp/err"; then
		cat "$tmp/err" >&2
		die "bridgebench ${args[*]} failed (round $round)"
	fi
	jq -c --arg kind "$kind" --argjson round "$round" '. + {kind: $kind, round: $round}' \
		"$tmp/row" >>"$results"
	printf '  round %d  %-3s %-8s %5s B  %9.0f msgs/s  p50 %8.3f ms  p99 %8.3f ms\n' \
		"$round" "$kind" "$mode" "$size" "$(jq .msgs_per_sec "$tmp/row")" \
		"$(jq '.p50_us / 1000' "$tmp/row")" "$(jq '.p99_us / 1000' "$tmp/row")" >&2
}

modes=(baseline bridge)
((baseline_only)) && modes=(baseline)
echo "bridge-bench: nats-server $("$nats_server" --version | sed 's/.*v//'), $url," \
	"load average $load_start, CPU pressure $psi_start" >&2
for ((r = 1; r <= rounds; r++)); do
	order=("${modes[@]}")
	if ((r % 2 == 0 && ${#modes[@]} == 2)); then order=(bridge baseline); fi
	for size in "${size_list[@]}"; do
		for m in "${order[@]}"; do run "$r" tp "$m" "$size"; done
		if ((lat_messages)); then
			for m in "${order[@]}"; do run "$r" lat "$m" "$size"; done
		fi
	done
done
load_end=$(load) psi_end=$(psi)
[[ -z "$save_json" ]] || cp "$results" "$save_json"

# The table: medians over the rounds, by jq.
jq -r -s --argjson sizes "[$sizes]" --argjson lat "$lat_messages" --argjson cpus "$(nproc)" \
	--arg head "$(printf '%s' "bridge-bench: median of $rounds rounds; $messages messages per throughput run, window $window, batch $batch; latency runs: $lat_messages messages at $rate msgs/s
machine: $(nproc) CPUs, load average $load_start at start, $load_end at end; CPU pressure (some, avg10) $psi_start at start, $psi_end at end")" '
def median: sort | if length == 0 then null
	elif length % 2 == 1 then .[length / 2 | floor]
	else (.[length / 2 - 1] + .[length / 2]) / 2 end;
def pick($k; $m; $s): map(select(.kind == $k and .mode == $m and .size == $s));
def ms: if . == null then "-" else (. / 1000 * 100 | round / 100 | tostring) end;
def rate: if . == null then "-" elif . >= 1e6 then (. / 1e4 | round / 100 | tostring) + "M"
	elif . >= 1e3 then (. / 100 | round / 10 | tostring) + "K" else (. | round | tostring) end;
def lpad($n): tostring | (" " * ([$n - length, 0] | max)) + .;
# Each size of $sizes with its runs of kind $k: {$s, $b (baseline), $g (bridge)}.
def sides($rows; $k): $sizes[] as $s
	| {$s, b: ($rows | pick($k; "baseline"; $s)), g: ($rows | pick($k; "bridge"; $s))};
def sizecol($s): ($s | tostring) + " B" | lpad(6);
def p50p99($rows): ([$rows[].p50_us] | median | ms) + " / " + ([$rows[].p99_us] | median | ms);
. as $all
| $head,
  "",
  "size      baseline msgs/s  bridge msgs/s   ratio (min-max)  baseline p50/p99 ms  bridge p50/p99 ms",
  (sides($all; "tp") as {$s, $b, $g}
   | ([range(1; 1 + ([$b[].round] | max // 0))] | map(. as $r
        | [($b[] | select(.round == $r) | .msgs_per_sec)] as $x
        | [($g[] | select(.round == $r) | .msgs_per_sec)] as $y
        | if ($x | length) == 1 and ($y | length) == 1 then $y[0] / $x[0] else empty end)) as $ratios
   | sizecol($s)
     + ([$b[].msgs_per_sec] | median | rate | lpad(18))
     + ([$g[].msgs_per_sec] | median | rate | lpad(15))
     + (if ($ratios | length) > 0
        then (($ratios | median * 100 | round / 100 | tostring) + "x" | lpad(8))
             + (" (" + ($ratios | min * 100 | round / 100 | tostring) + "-"
                + ($ratios | max * 100 | round / 100 | tostring) + ")" | lpad(10))
        else ("-" | lpad(8)) + ("" | lpad(10)) end)
     + (p50p99($b) | lpad(21)) + (p50p99($g) | lpad(19))),
  "",
  "CPU per message (us, user + system, medians; the machine has \($cpus) CPUs):",
  "size      baseline: client server  total    bridge: bench export import server  total",
  (sides($all; "tp") as {$s, $b, $g}
   | def us($rows; $k): [$rows[] | .[$k] / (.messages + .warmup) * 1e6] | median
         | if . == null then "-" else (. * 10 | round / 10 | tostring) end;
     def tot($rows; $ks): [$rows[] | ([.[$ks[]]] | add) / (.messages + .warmup) * 1e6]
         | median | if . == null then "-" else (. * 10 | round / 10 | tostring) end;
     sizecol($s)
     + (us($b; "cpu_bench_s") | lpad(17)) + (us($b; "cpu_server_s") | lpad(7))
     + (tot($b; ["cpu_bench_s", "cpu_server_s"]) | lpad(7))
     + (us($g; "cpu_bench_s") | lpad(16)) + (us($g; "cpu_export_s") | lpad(7))
     + (us($g; "cpu_import_s") | lpad(7)) + (us($g; "cpu_server_s") | lpad(7))
     + (tot($g; ["cpu_bench_s", "cpu_export_s", "cpu_import_s", "cpu_server_s"]) | lpad(7))),
  (if $lat > 0 then
     "",
     "latency at a paced rate (ms, send to receive; the throughput runs above measure",
     "it behind the backlog of a saturated path):",
     "size      baseline p50 / p99     bridge p50 / p99",
     (sides($all; "lat") as {$s, $b, $g}
      | sizecol($s) + (p50p99($b) | lpad(21)) + (p50p99($g) | lpad(21)))
   else empty end)
' "$results"
