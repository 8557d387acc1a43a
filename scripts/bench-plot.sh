#!/usr/bin/env bash
# bench-plot.sh - turn `busbench --json` output into a picture.
#
# Two panels: throughput (messages per second, log scale) per test and
# transport, and ping-pong latency (p50 round trip as a bar, a whisker up
# to p99, log scale) per wait mode and transport.  The title names the
# machine the figures came from, as busbench recorded it.  Missing rows
# (skipped, failed or not selected) are left out.
#
# Usage: scripts/bench-plot.sh [--output FILE] [JSON]
#   JSON           busbench --json output (default: standard input)
#   --output FILE  picture to write, .svg or .png (default: benchmarks.svg)
# Needs jq and gnuplot (Debian packages jq and gnuplot-nox).
set -euo pipefail

usage() {
	sed -n '2,13s/^# \{0,1\}//p' "$0"
}

out=benchmarks.svg
in=-
while (($#)); do
	case "$1" in
		--output | -o)
			if (($# < 2)); then
				echo "bench-plot.sh: $1 needs a value (see --help)" >&2
				exit 2
			fi
			out=$2
			shift 2
			;;
		-h | --help)
			usage
			exit 0
			;;
		-*)
			[[ "$1" == - ]] || {
				echo "bench-plot.sh: unknown option '$1' (see --help)" >&2
				exit 2
			}
			in=-
			shift
			;;
		*)
			in=$1
			shift
			;;
	esac
done

for tool in jq gnuplot; do
	if ! command -v "$tool" >/dev/null 2>&1; then
		pkg=$tool
		[[ $tool == gnuplot ]] && pkg=gnuplot-nox
		echo "bench-plot.sh: $tool not found (Debian package: $pkg)" >&2
		exit 1
	fi
done

case "$out" in
	*.svg) term="svg size 1000,820 dynamic enhanced font 'Helvetica,12' background rgb 'white'" ;;
	*.png) term="pngcairo size 1000,820 enhanced font 'Helvetica,10'" ;;
	*)
		echo "bench-plot.sh: --output: expected a .svg or .png file, got '$out'" >&2
		exit 2
		;;
esac

tmp=$(mktemp -d)
trap 'rm -rf -- "$tmp"' EXIT

if [[ "$in" == - ]]; then
	cat >"$tmp/in.json"
else
	[[ -r "$in" ]] || {
		echo "bench-plot.sh: cannot read '$in'" >&2
		exit 1
	}
	cp -- "$in" "$tmp/in.json"
fi
if ! jq -e '.results | type == "array"' "$tmp/in.json" >/dev/null 2>&1; then
	echo "bench-plot.sh: not busbench --json output (no results array)" >&2
	exit 1
fi

# Throughput: one line per test, one column per transport; "?" = missing.
jq -r '
	["bus", "shm-spsc-limit", "uds", "pipe", "posix-mq"] as $tr
	| .results as $r
	| (["test"] + $tr | @tsv),
	  ([["tp-16", "1x16 B"], ["tp-64", "1x64 B"], ["tp-64-fd", "1x64 B epoll"],
	    ["tp-1k", "1x1 KiB"], ["tp-64k", "1x64 KiB"],
	    ["tp-4x64", "4x64 B"]][] as [$t, $name]
	   | select(any($r[]; .name == $t and .msgs_per_sec != null))
	   | [$name] + [$tr[] as $x
	                 | (first($r[] | select(.name == $t and .transport == $x)
	                                 | .msgs_per_sec // empty) // "?")]
	   | @tsv)
' "$tmp/in.json" >"$tmp/tput.tsv"

# Latency: one line per wait mode, p50 and p99 columns per transport.
jq -r '
	["bus", "shm-spsc-limit", "futex-limit", "uds", "pipe", "posix-mq"] as $tr
	| .results as $r
	| (["test"] + [$tr[] | (. + " p50", . + " p99")] | @tsv),
	  ([["lat-spin", "spinning"], ["lat-default", "default wait"],
	    ["lat-block", "blocking"], ["lat-fd", "descriptor"]][] as [$t, $name]
	   | select(any($r[]; .name == $t and .p50_ns != null))
	   | [$name] + [$tr[] as $x
	                 | (first($r[] | select(.name == $t and .transport == $x)
	                                 | select(.p50_ns != null)) // null) as $row
	                 | if $row then ($row.p50_ns, $row.p99_ns) else ("?", "?") end]
	   | @tsv)
' "$tmp/in.json" >"$tmp/lat.tsv"

title=$(jq -r '
	.machine as $m
	| "busbench \(.busbench): \($m.cpu), \($m.cpus) CPUs, Linux \($m.kernel)"
	  + " - median of \(.runs) runs"
	  + (if .duration_ms then " of \(.duration_ms) ms" else "" end)
' "$tmp/in.json")
# gnuplot's enhanced text treats _ ^ @ & { } as markup.
title=${title//_/\\\\_}

ntput=$(($(wc -l <"$tmp/tput.tsv") - 1))
nlat=$(($(wc -l <"$tmp/lat.tsv") - 1))
if ((ntput < 1 && nlat < 1)); then
	echo "bench-plot.sh: no figures to plot" >&2
	exit 1
fi

{
	cat <<-EOF
		set terminal $term
		set output '$out'
		set datafile separator '\t'
		set datafile missing '?'
		set key autotitle columnheader outside right top vertical
		set style fill solid 0.85 border rgb 'black'
		set grid ytics mytics lc rgb '#dddddd'
		set logscale y
		set format y '10^{%L}'
		set xtics nomirror
		set ytics nomirror
		set linetype 1 lc rgb '#1f77b4'
		set linetype 2 lc rgb '#7f7f7f'
		set linetype 3 lc rgb '#bcbd22'
		set linetype 4 lc rgb '#ff7f0e'
		set linetype 5 lc rgb '#2ca02c'
		set linetype 6 lc rgb '#d62728'
		set multiplot layout 2,1 title "$title" font ',13'
	EOF
	if ((ntput > 0)); then
		cat <<-EOF
			set title 'Throughput (messages per second, higher is better)'
			set style data histograms
			set style histogram clustered gap 1
			set ylabel 'msgs/s'
			plot for [i=2:6] '$tmp/tput.tsv' using i:xtic(1) lt (i == 2 ? 1 : i == 3 ? 2 : i)
		EOF
	fi
	if ((nlat > 0)); then
		cat <<-EOF
			set title 'Ping-pong round trip, 64 B (bar: p50, whisker: p99; lower is better)'
			set style data histograms
			set style histogram errorbars gap 1 lw 1
			set ylabel 'ns'
			plot for [i=0:5] '$tmp/lat.tsv' using (column(2+2*i)):(column(2+2*i)):(column(3+2*i)):xtic(1) \\
				title (i == 0 ? 'bus' : i == 1 ? 'shm-spsc-limit' : i == 2 ? 'futex-limit' : i == 3 ? 'uds' : i == 4 ? 'pipe' : 'posix-mq') lt (i + 1)
		EOF
	fi
	echo "unset multiplot"
} >"$tmp/plot.gp"

if ! gnuplot "$tmp/plot.gp" 2>"$tmp/err"; then
	cat "$tmp/err" >&2
	echo "bench-plot.sh: gnuplot failed" >&2
	exit 1
fi
echo "wrote $out"
