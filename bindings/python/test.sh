#!/bin/sh
# Runs the bus_ipc tests against a private busd with the system python3
# (/usr/bin/python3) and with the python3 first on PATH when that is
# another interpreter.
#
# usage: bindings/python/test.sh [BUILD_DIR]   (default: $BUS_BUILD_DIR)
#
# Exit 0: every interpreter passed; 1: a failure; 2: bad usage; 77: nothing
# could run (no libbus.so, no busd or no usable python3), with the reason.
set -u

here=$(cd "$(dirname "$0")" && pwd)
. "$here/../build-dir.sh"
bindings_build_dir 77 "$@"
lib=${BUS_LIBRARY:-$build/libbus/libbus.so}
busd=${BUSD:-$build/busd/busd}
if [ ! -f "$lib" ]; then
	echo "bindings/python: SKIP: no libbus.so at $lib (build first, or set BUS_LIBRARY)" >&2
	exit 77
fi
if [ ! -x "$busd" ]; then
	echo "bindings/python: SKIP: no busd at $busd (build first, or set BUSD)" >&2
	exit 77
fi

# The interpreters: the system one, then PATH's if it is another.
pythons=""
seen=""
for py in /usr/bin/python3 "$(command -v python3 || true)"; do
	[ -n "$py" ] && [ -x "$py" ] || continue
	real=$("$py" -c 'import os, sys; print(os.path.realpath(sys.executable))' 2>/dev/null) || continue
	case " $seen " in *" $real "*) continue ;; esac
	seen="$seen $real"
	if ! "$py" -c 'import sys; sys.exit(sys.version_info < (3, 9))'; then
		echo "bindings/python: $py ($real) is older than 3.9: not tested" >&2
		continue
	fi
	pythons="$pythons $py"
done
if [ -z "$pythons" ]; then
	echo "bindings/python: SKIP: no python3 >= 3.9 found" >&2
	exit 77
fi

rc=0
for py in $pythons; do
	echo "== bus_ipc with $py ($("$py" -c 'import sys; print(sys.version.split()[0])'))"
	if ! BUS_BUILD_DIR=$build BUS_LIBRARY=$lib BUSD=$busd \
		BUSCLI=${BUSCLI:-$build/clients/buscli} \
		"$py" -m unittest discover -s "$here/tests" -t "$here/tests" -v; then
		echo "bindings/python: FAILED with $py" >&2
		rc=1
	fi
done
exit $rc
