# Sourced by the bindings' test scripts (bindings/python/test.sh,
# bindings/rust/test.sh), which take the same argument.
#
# bindings_build_dir NOT_THERE_EXIT [BUILD_DIR]: sets build to the meson
# build directory BUILD_DIR, else $BUS_BUILD_DIR, made absolute.  Neither
# given: a usage line and exit 2; a directory that is not there: exit
# NOT_THERE_EXIT.
bindings_build_dir() {
	not_there=$1
	dir=${2:-${BUS_BUILD_DIR:-}}
	if [ -z "$dir" ]; then
		echo "usage: $0 BUILD_DIR (or set BUS_BUILD_DIR): a meson build directory with libbus and busd built" >&2
		exit 2
	fi
	if ! build=$(cd "$dir" 2>/dev/null && pwd); then
		echo "$0: no build directory $dir" >&2
		exit "$not_there"
	fi
}
