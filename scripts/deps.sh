#!/usr/bin/env bash
# deps.sh - install what bus needs to build and test, on Debian 12.
#
# Installs only the packages that are missing (checked with dpkg-query),
# running `apt-get update` first and only then; does nothing and is quick
# when everything is present.  Runs apt-get as root, or through sudo.
#
# Usage: scripts/deps.sh [--check]
#   --check   list missing packages and exit 1 if any, install nothing
set -euo pipefail

packages=(
	build-essential
	meson
	ninja-build
	pkg-config
	protobuf-c-compiler
	libprotobuf-c-dev
	libcmocka-dev
	uuid-dev
	# clang and the runtimes of its sanitizers (ASan, UBSan, TSan): in
	# Debian 12 they are in libclang-rt-14-dev, which clang only recommends.
	clang
	llvm
	libclang-rt-14-dev
	valgrind
	# the model checker for the wake protocol (tests/model)
	spin
	# protoc --encode/--decode, piped through buscli --raw (tests, README)
	protobuf-compiler
	# man pages are written in scdoc (man/)
	scdoc
	# quality gates: formatting, static analysis, coverage (scripts/lint.sh,
	# scripts/test.sh --coverage)
	clang-format
	clang-tidy
	cppcheck
	gcovr
	# scripts/bench-plot.sh
	gnuplot-nox
	jq
	# busbench's zeromq transport (optional at build time: without it
	# busbench lists the zeromq rows as skipped); libzmq5 is its runtime
	libzmq3-dev
	libzmq5
	# the Rust binding (bindings/rust): Debian's rustc and cargo, and the
	# packaged crates it builds against offline (/usr/share/cargo/registry)
	rustc
	cargo
	librust-libc-dev
	librust-tokio-dev
	librust-tokio-macros-dev
	librust-mio-dev
	librust-socket2-dev
	librust-num-cpus-dev
	librust-bytes-dev
	librust-memchr-dev
	librust-pin-project-lite-dev
	librust-prost-dev
	librust-prost-derive-dev
	# the Python binding (bindings/python): protobuf messages in its tests
	python3-protobuf
	# busbridge (clients/busbridge): the NATS C client, and the JetStream
	# server its tests and benchmark start on loopback ports
	libnats-dev
	nats-server
)

check_only=0
case "${1:-}" in
	'') ;;
	--check) check_only=1 ;;
	-h | --help)
		sed -n '2,9s/^# \{0,1\}//p' "$0"
		exit 0
		;;
	*)
		echo "deps.sh: unknown argument '$1' (see --help)" >&2
		exit 2
		;;
esac

if ! command -v dpkg-query >/dev/null 2>&1; then
	echo "deps.sh: dpkg-query not found: this script installs Debian packages;" \
		"install the equivalents of: ${packages[*]}" >&2
	exit 1
fi

missing=()
for p in "${packages[@]}"; do
	status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
	if [[ "$status" != "install ok installed" ]]; then
		missing+=("$p")
	fi
done

if ((${#missing[@]} == 0)); then
	echo "deps: all ${#packages[@]} packages present"
	exit 0
fi

if ((check_only)); then
	echo "deps: missing: ${missing[*]}"
	exit 1
fi

if ((EUID == 0)); then
	as_root=()
elif command -v sudo >/dev/null 2>&1; then
	as_root=(sudo)
else
	echo "deps.sh: missing ${missing[*]}, and not root and no sudo to install them" >&2
	exit 1
fi

echo "deps: installing ${missing[*]}"
# Retry downloads, and wait for another apt or dpkg (a fresh machine may
# be running its own updates) instead of failing at once.
apt_opts=(-qq -o Acquire::Retries=3 -o DPkg::Lock::Timeout=300)
"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get "${apt_opts[@]}" update
"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get "${apt_opts[@]}" \
	install -y --no-install-recommends "${missing[@]}" >/dev/null
echo "deps: installed ${missing[*]}"
