#!/usr/bin/env bash
# demo.sh - build bus and run the data-plane demo (clients/examples/ring-demo).
#
# Installs missing dependencies (scripts/deps.sh), sets up build/ if it
# does not exist (otherwise reuses it), builds, and runs ring-demo: two
# producer processes and a consumer on one shared-memory queue.
#
# Usage: scripts/demo.sh [ring-demo options...]   (see: scripts/demo.sh --help)
set -euo pipefail

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

echo "==> running ring-demo"
echo
exec build/clients/examples/ring-demo "$@"
