#!/bin/sh
# install-config.sh EXAMPLE TARGET - meson install step: put the example
# config at TARGET (an absolute path, under $DESTDIR if set) unless a
# config is there already, so reinstalling never overwrites an edited one.
set -eu
example=$1
target=${DESTDIR:-}$2
if [ -n "${MESON_INSTALL_DRY_RUN:-}" ]; then
	exit 0
fi
if [ -e "$target" ]; then
	echo "Keeping existing config $target"
	exit 0
fi
mkdir -p "$(dirname "$target")"
cp "$example" "$target"
chmod 0644 "$target"
echo "Installing $example to $target"
