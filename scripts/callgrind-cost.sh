#!/usr/bin/env bash
# callgrind-cost.sh - instructions per send+receive pair of bus, counted by
# valgrind --tool=callgrind: a repeatable cost figure, unlike timings.
#
# Builds bus-cost (clients/busbench/cost.c) in the build directory, runs it
# under callgrind with 1000 and 11000 pairs (bus_send + bus_recv +
# bus_release of a 64-byte message, one process, one queue) and divides
# the difference of the two instruction totals by 10000, so that set-up,
# warm-up and exit cancel out.  Prints
#   instructions per send+receive pair (64 B): X
# With --loan the messages go through the loan API instead
# (bus_send_reserve, the payload copied into the record, bus_send_commit),
# and the line says "(64 B, loan API)".
# Counts depend on the compiler and build type (say which with the
# figure).  Under valgrind the clock is read through a system call, not
# the vDSO, so the two clock reads per pair count only glibc's wrapper.
#
# Usage: scripts/callgrind-cost.sh [--build DIR] [--max N] [--size BYTES]
#                                  [--loan] [--annotate]
#   --build DIR   meson build directory (default: build)
#   --max N       exit 1 if the cost is above N instructions
#   --size BYTES  payload bytes (default 64)
#   --loan        send through the loan API (bus-cost --loan)
#   --annotate    also print each function's instructions per pair (self
#                 and inclusive), from a third run that counts only the
#                 measured pairs (--toggle-collect)
# Exit status: 0 measured (and within --max), 1 above --max or a failure,
# 2 bad usage.
set -euo pipefail

usage() {
	sed -n '2,28s/^# \{0,1\}//p' "$0"
}

die() {
	echo "callgrind-cost.sh: $*" >&2
	exit 1
}

root=$(cd "$(dirname "$0")/.." && pwd)
build=build
max=
size=64
annotate=0
loan=()
small=1000
large=11000

while (($#)); do
	case "$1" in
		--build | --max | --size)
			if (($# < 2)); then
				echo "callgrind-cost.sh: $1 needs a value (see --help)" >&2
				exit 2
			fi
			case "$1" in
				--build) build=$2 ;;
				--max) max=$2 ;;
				--size) size=$2 ;;
			esac
			shift 2
			;;
		--annotate)
			annotate=1
			shift
			;;
		--loan)
			loan=(--loan)
			shift
			;;
		-h | --help)
			usage
			exit 0
			;;
		*)
			echo "callgrind-cost.sh: unknown argument '$1' (see --help)" >&2
			exit 2
			;;
	esac
done

if [[ -n "$max" && ! "$max" =~ ^[0-9]+$ ]]; then
	echo "callgrind-cost.sh: --max: expected a whole number, got '$max'" >&2
	exit 2
fi
if [[ ! "$size" =~ ^[0-9]+$ ]]; then
	echo "callgrind-cost.sh: --size: expected a whole number, got '$size'" >&2
	exit 2
fi

command -v valgrind >/dev/null 2>&1 ||
	die "valgrind not found (Debian package: valgrind)"
[[ "$build" = /* ]] || build="$root/$build"
[[ -f "$build/build.ninja" ]] ||
	die "$build is not a meson build directory (meson setup $build)"
sanitize=$(grep -o '"name": "b_sanitize", "value": "[a-z,]*"' \
	"$build/meson-info/intro-buildoptions.json" 2>/dev/null |
	sed 's/.*"value": "//; s/"$//' || true)
if [[ -n "$sanitize" && "$sanitize" != none ]]; then
	die "$build is a sanitizer build ($sanitize), which valgrind cannot run; use one without -Db_sanitize"
fi
ninja -C "$build" clients/busbench/bus-cost >/dev/null ||
	die "cannot build bus-cost in $build"
exe="$build/clients/busbench/bus-cost"

tmp=$(mktemp -d)
trap 'rm -rf -- "$tmp"' EXIT

# Instruction total of one run of bus-cost with $1 pairs (extra valgrind
# options after it).
count() {
	local pairs=$1 out="$tmp/callgrind.$1"
	shift
	if ! valgrind --tool=callgrind --callgrind-out-file="$out" "$@" \
		"$exe" --pairs "$pairs" --size "$size" "${loan[@]}" >"$tmp/log.$pairs" 2>&1; then
		cat "$tmp/log.$pairs" >&2
		die "bus-cost --pairs $pairs failed under valgrind"
	fi
	local total
	total=$(sed -n 's/^totals: *\([0-9]*\).*/\1/p' "$out" | head -n 1)
	[[ -n "$total" ]] || die "no totals in $out"
	echo "$total"
}

a=$(count "$small")
b=$(count "$large")
cost=$(awk -v a="$a" -v b="$b" -v n=$((large - small)) \
	'BEGIN { printf "%.1f", (b - a) / n }')

buildtype=$(grep -o '"name": "buildtype", "value": "[a-z]*"' \
	"$build/meson-info/intro-buildoptions.json" 2>/dev/null |
	sed 's/.*"value": "//; s/"$//' || true)
compiler=$(sed -n 's/^ *"command": "\([^ "]*\).*/\1/p' "$build/compile_commands.json" 2>/dev/null |
	head -n 1)
compiler=$("${compiler:-cc}" --version 2>/dev/null | head -n 1 || true)
label="$size B"
((${#loan[@]})) && label="$size B, loan API"
echo "instructions per send+receive pair ($label): $cost"
echo "  (callgrind totals: $a for $small pairs, $b for $large;" \
	"$(basename "$build"), buildtype ${buildtype:-unknown}, ${compiler:-unknown compiler})"

if ((annotate)); then
	n=10000
	count "$n" --toggle-collect=measured_pairs >/dev/null
	echo
	echo "per pair, by function (self, inclusive), from $n measured pairs:"
	command -v callgrind_annotate >/dev/null 2>&1 ||
		die "callgrind_annotate not found (Debian package: valgrind)"
	# "  1,234 (12.3%)  path/file.c:function [object]" -> "1234 file.c:function"
	for kind in self incl; do
		[[ $kind == self ]] && inc=no || inc=yes
		callgrind_annotate --inclusive="$inc" "$tmp/callgrind.$n" 2>/dev/null |
			sed -n 's/^ *\([0-9,]*\) ([ 0-9.]*%) *\([^ ]*\) \[.*/\1 \2/p' |
			sed 's/ .*\// /; s/ ???:/ /' | tr -d , >"$tmp/$kind"
	done
	awk -v n="$n" '
		NR == FNR { self[$2] = $1; next }
		{
			if ($2 ~ /^(libc-start|libc_start_call_main|\(below|0x)/ || $2 ~ /(^|:)main$/)
				next
			printf "  %8.1f %8.1f  %s\n", self[$2] / n, $1 / n, $2
		}' "$tmp/self" "$tmp/incl" | head -n 30
fi

if [[ -n "$max" ]] && awk -v c="$cost" -v m="$max" 'BEGIN { exit !(c > m) }'; then
	echo "callgrind-cost.sh: $cost instructions per pair is above --max $max" >&2
	exit 1
fi
