#!/bin/sh
# Builds and tests the Rust bindings against a meson build directory:
#   bindings/rust/test.sh BUILD_DIR     (or BUS_BUILD_DIR=BUILD_DIR)
# with Debian's cargo and rustc (1.63) and, when another cargo comes first
# on PATH, with that one too.  Offline: crates come from Debian's
# librust-*-dev packages.  Exits 77 when there is no Rust toolchain.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
. "$here/../build-dir.sh"
bindings_build_dir 1 "$@"
if [ ! -e "$build/libbus/libbus.so" ] || [ ! -x "$build/busd/busd" ]; then
	echo "$0: $build has no libbus/libbus.so or busd/busd: run ninja -C $build first" >&2
	exit 1
fi
export BUS_BUILD_DIR="$build"
unset BUSD

debian_cargo=/usr/bin/cargo
debian_rustc=/usr/bin/rustc
if [ ! -x "$debian_cargo" ] || [ ! -x "$debian_rustc" ]; then
	if ! command -v cargo >/dev/null 2>&1; then
		echo "$0: skipped: no cargo/rustc (install Debian's cargo and rustc)" >&2
		exit 77
	fi
	debian_cargo=
fi
if [ ! -d /usr/share/cargo/registry ]; then
	echo "$0: skipped: no Debian crate registry in /usr/share/cargo/registry (librust-*-dev)" >&2
	exit 77
fi

cd "$here"
run() { # NAME PATH-PREFIX
	name=$1
	target="$build/rust-target/$name"
	echo "== $name: $(PATH=$2 cargo --version), $(PATH=$2 rustc --version)"
	PATH=$2 CARGO_TARGET_DIR="$target" cargo build --offline --all-features --all-targets
	PATH=$2 CARGO_TARGET_DIR="$target" cargo test --offline --all-features
	PATH=$2 CARGO_TARGET_DIR="$target" cargo test --offline --no-default-features --lib
	PATH=$2 CARGO_TARGET_DIR="$target" RUSTDOCFLAGS="-D warnings" \
		cargo doc --offline --no-deps --all-features
	echo "== $name: ok"
}

if [ -n "$debian_cargo" ]; then
	run debian "/usr/bin:$PATH"
fi
newer=$(command -v cargo || true)
if [ -n "$newer" ] && [ "$newer" != /usr/bin/cargo ] && [ "$newer" != /bin/cargo ]; then
	run newer "$PATH"
fi
echo "rust bindings: all passed"
