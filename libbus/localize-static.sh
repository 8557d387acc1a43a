#!/bin/sh
# localize-static.sh - the installed libbus.a: the library's objects linked
# into one (ld -r), every global symbol made local except the functions
# listed in the version script, so that a program linking libbus.a
# statically meets only bus_* names, never the internal seg_*, ring_*,
# num_* or the control protocol's bus_control__* (as with libbus.so).
#
# Usage: localize-static.sh IN.a VERSION-SCRIPT OUT.a
set -eu

if [ $# -ne 3 ]; then
	echo "usage: localize-static.sh IN.a VERSION-SCRIPT OUT.a" >&2
	exit 2
fi
in=$1
syms=$2
out=$3
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# The names between "global:" and "local:", one "name;" a line.
sed -n 's/^[[:space:]]*\(bus_[a-z0-9_]*\);[[:space:]]*$/\1/p' "$syms" >"$tmp/keep"
if [ ! -s "$tmp/keep" ]; then
	echo "localize-static.sh: no bus_* names in $syms" >&2
	exit 1
fi
${LD:-ld} -r --whole-archive "$in" -o "$tmp/libbus.o"
${OBJCOPY:-objcopy} --keep-global-symbols="$tmp/keep" "$tmp/libbus.o"
rm -f "$out"
${AR:-ar} rcs "$out" "$tmp/libbus.o"
