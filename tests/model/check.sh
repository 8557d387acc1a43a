#!/usr/bin/env bash
# check.sh - verify a Promela model with spin and report what it found.
#
# Usage: check.sh [--expect-error] MODEL [-DNAME=VALUE...]
# Builds the verifier (spin -a, cc), runs an exhaustive search for
# assertion violations and invalid end states (a process blocked for
# ever), and prints spin's state count.  Exit 0 when the outcome is the
# expected one: no error, or with --expect-error at least one (a model
# that cannot fail proves nothing).  Exit 77 when spin or cc is missing.
set -euo pipefail

expect_error=0
if [[ "${1:-}" == --expect-error ]]; then
	expect_error=1
	shift
fi
model=${1:?usage: check.sh [--expect-error] MODEL [-DNAME=VALUE...]}
shift

for tool in spin cc; do
	if ! command -v "$tool" >/dev/null 2>&1; then
		echo "check.sh: $tool is not installed (scripts/deps.sh installs it); cannot verify $model"
		exit 77
	fi
done

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
model=$(readlink -f "$model")
cd "$work"
spin "$@" -a "$model" >/dev/null
cc -O2 -w -o pan pan.c
# -m: search depth bound, far above the models' reachable depth.
./pan -m1000000 >out.txt 2>&1 || true

errors=$(sed -n 's/.*errors: \([0-9]*\).*/\1/p' out.txt | head -n 1)
states=$(sed -n 's/^ *\([0-9e+.]*\) states, stored.*/\1/p' out.txt | head -n 1)
depth_hit=$(grep -c "max search depth too small" out.txt || true)
echo "model $(basename "$model") $*: errors ${errors:-?}, states stored ${states:-?}"
if [[ -z "$errors" || "$depth_hit" != 0 ]]; then
	cat out.txt
	echo "check.sh: the search did not complete"
	exit 1
fi
if ((expect_error)); then
	if ((errors == 0)); then
		echo "check.sh: expected the checker to find an error, it found none"
		exit 1
	fi
	grep -m1 -E "invalid end state|assertion violated" out.txt || true
	exit 0
fi
if ((errors != 0)); then
	cat out.txt
	exit 1
fi
