# shellcheck shell=bash
# common.sh PREFIX - sourced by the install tests (after they set tag,
# for queues made under a tag of their own).  It makes $tmp, a temporary
# directory named PREFIX.XXXXXX, and sets the exit trap: it kills the
# busd the test left running ($busd_pid), removes the segments of the
# queues named $tag-* and $tmp.  fail says why the test failed, with
# busd's log ($tmp/busd.log) when there is one, and exits 1.

tmp=$(mktemp -d "${TMPDIR:-/tmp}/$1.XXXXXX")
busd_pid=""

cleanup() {
	local st=$?

	if [[ -n "$busd_pid" ]] && kill -0 "$busd_pid" 2>/dev/null; then
		kill -KILL "$busd_pid" 2>/dev/null || true
		wait "$busd_pid" 2>/dev/null || true
	fi
	if [[ -n "${tag:-}" ]]; then
		rm -f /dev/shm/bus.*."$tag"-*.* 2>/dev/null || true
	fi
	rm -rf "$tmp"
	exit "$st"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

fail() {
	echo "FAIL: $*" >&2
	if [[ -f "$tmp/busd.log" ]]; then
		echo "---- busd log ----" >&2
		cat "$tmp/busd.log" >&2
		echo "---- end of busd log ----" >&2
	fi
	exit 1
}
