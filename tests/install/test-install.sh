#!/bin/bash
# test-install.sh MODE - the project as a user gets it.
#
#   outside  meson install into a temporary DESTDIR, then: every file in
#            its place; libbus.so's soname and exported names; a program
#            built outside the project with only <bus/bus.h> and
#            pkg-config (shared, and static with --static) talks to the
#            installed busd through a queue the installed buscli made;
#            busd's log lines; the installed unit's ExecStart and
#            ExecStartPre accepted by the installed busd; the examples'
#            Makefile (when there is one) building against the install.
#   unit     the generated busd.service through systemd-analyze verify,
#            with its paths pointed at the build tree (exit 77 without
#            systemd-analyze).
#
# Environment (tests/install/meson.build sets it): MESON, BUILD_ROOT,
# SOURCE_ROOT, VERSION, PREFIX, BINDIR, SBINDIR, LIBDIR, INCLUDEDIR,
# DATADIR, SYSCONFDIR (absolute), UNITDIR, CC, SANITIZE.
#
# Whatever happens, the exit trap stops the busd it started and removes
# its temporary directory and its queues' segments.
set -euo pipefail

mode=${1:-}
# Only what is installed: nothing from the build tree (meson test points
# LD_LIBRARY_PATH there).
unset LD_LIBRARY_PATH
# Queue names unique to this run: leftovers are found by name.
tag="inst$$"
# shellcheck source-path=SCRIPTDIR source=common.sh
. "$(dirname "${BASH_SOURCE[0]}")/common.sh" bus-install

# Runs a command that must succeed; its output goes to stderr on failure.
run() {
	local out

	if ! out=$("$@" 2>&1); then
		fail "$* failed:
$out"
	fi
}

# The extra compiler flags a sanitized libbus needs in its users.
san_flags=()
if [[ "${SANITIZE:-none}" != none ]]; then
	san_flags=("-fsanitize=$SANITIZE")
fi
read -r -a cc <<<"${CC:-cc}"

# The value of KEY= in a unit file (the last one, as systemd does).
unit_value() {
	sed -n "s/^$2=//p" "$1" | tail -n 1
}

# Rewrites every absolute path under $PREFIX in a command line to the
# same path under root $1 (DESTDIR, or the build tree's stand-ins).
map_paths() {
	local root=$1 word out=()

	shift
	for word in "$@"; do
		case "$word" in
		"$PREFIX"/*) out+=("$root$word") ;;
		*) out+=("$word") ;;
		esac
	done
	printf '%s\n' "${out[@]}"
}

# verify_unit UNIT PROGRAM EXAMPLE: the unit from the build tree, run
# with the program built here and the example config, passes verify.
verify_unit() {
	local unit=$1 prog=$2 example=$3 copy out

	copy="$tmp/$(basename "$unit")"
	[[ -f "$unit" ]] || fail "the build made no $unit"
	sed -e "s|^\(ExecStart[A-Za-z]*=\)[^ ]*|\1$prog|" \
	    -e "s|--config [^ ]*|--config $example|" \
	    "$unit" >"$copy"
	# verify exits 0 on settings it ignores, so any word from it fails.
	if ! out=$(systemd-analyze verify --man=no "$copy" 2>&1) ||
	   [[ -n "$out" ]]; then
		fail "systemd-analyze verify $(basename "$unit"):
$out"
	fi
	echo "ok: systemd-analyze verify accepts $(basename "$unit")"
}

test_unit_verify() {
	if ! command -v systemd-analyze >/dev/null; then
		echo "SKIP: systemd-analyze is not installed (package systemd):" \
		     "cannot verify busd.service"
		exit 77
	fi
	verify_unit "$BUILD_ROOT/busd/busd.service" "$BUILD_ROOT/busd/busd" \
		"$SOURCE_ROOT/busd/busd.conf.example"
	# busbridge is built where libnats is (BUSBRIDGE is set then).
	if [[ -n "${BUSBRIDGE:-}" ]]; then
		verify_unit "$BUILD_ROOT/clients/busbridge/busbridge.service" \
			"$BUSBRIDGE" "$SOURCE_ROOT/clients/busbridge/busbridge.conf.example"
	fi
}

# --- outside ---

dest="$tmp/dest"
lib="$dest$LIBDIR"

check_files() {
	local f

	for f in "$SBINDIR/busd" "$BINDIR/buscli" "$BINDIR/busbench"; do
		[[ -x "$dest$f" ]] || fail "not installed: $f"
	done
	for f in "$LIBDIR/libbus.a" "$LIBDIR/libbus.so" "$LIBDIR/libbus.so.0" \
	         "$LIBDIR/libbus.so.$VERSION" "$LIBDIR/pkgconfig/libbus.pc" \
	         "$INCLUDEDIR/bus/bus.h" "$DATADIR/bus/proto/envelope.proto" \
	         "$DATADIR/bus/proto/control.proto" \
	         "$DATADIR/doc/bus/busd.conf.example" \
	         "$SYSCONFDIR/bus/busd.conf"; do
		[[ -f "$dest$f" ]] || fail "not installed: $f"
	done
	[[ "$(readlink "$lib/libbus.so")" == libbus.so.0 ]] ||
		fail "libbus.so does not point to libbus.so.0"
	[[ "$(readlink "$lib/libbus.so.0")" == "libbus.so.$VERSION" ]] ||
		fail "libbus.so.0 does not point to libbus.so.$VERSION"
	cmp -s "$dest$SYSCONFDIR/bus/busd.conf" \
	       "$dest$DATADIR/doc/bus/busd.conf.example" ||
		fail "the installed busd.conf is not the example"
	if [[ "$UNITDIR" != no ]]; then
		[[ -f "$dest$UNITDIR/busd.service" ]] ||
			fail "not installed: $UNITDIR/busd.service"
	fi
	if [[ -n "${BUSBRIDGE:-}" ]]; then
		[[ -x "$dest$SBINDIR/busbridge" ]] || fail "not installed: $SBINDIR/busbridge"
		f="$DATADIR/doc/bus/busbridge.conf.example"
		[[ -f "$dest$f" ]] || fail "not installed: $f"
		"$dest$SBINDIR/busbridge" --check-config --config "$dest$f" \
			--state-dir "$tmp/bridge-state" >/dev/null ||
			fail "the installed busbridge refuses the installed example config"
		if [[ "$UNITDIR" != no ]]; then
			[[ -f "$dest$UNITDIR/busbridge.service" ]] ||
				fail "not installed: $UNITDIR/busbridge.service"
		fi
	fi
	echo "ok: every file installed"
}

# Exported names: only bus_*, in version LIBBUS_0; every function that
# bus.h declares is among them.
check_exports() {
	local so="$lib/libbus.so.$VERSION" soname bad fn

	soname=$(readelf -d "$so" | sed -n 's/.*(SONAME).*\[\(.*\)\].*/\1/p')
	[[ "$soname" == libbus.so.0 ]] || fail "soname is '$soname', not libbus.so.0"
	# Newer nm add @@VERSION to the names.
	nm -D --defined-only "$so" | awk '$2 != "A" { sub(/@.*/, "", $3); print $3 }' \
		>"$tmp/exports"
	[[ -s "$tmp/exports" ]] || fail "libbus.so exports nothing"
	bad=$(grep -v '^bus_' "$tmp/exports" || true)
	[[ -z "$bad" ]] || fail "libbus.so exports names outside bus_*: $bad"
	nm -D --defined-only --with-symbol-versions "$so" 2>/dev/null |
		grep -q ' bus_open@@LIBBUS_0$' ||
		fail "bus_open is not in symbol version LIBBUS_0"
	sed -n 's/^[a-z].*[ *]\(bus_[a-z0-9_]*\)(.*/\1/p' \
		"$dest$INCLUDEDIR/bus/bus.h" | sort -u >"$tmp/declared"
	[[ $(wc -l <"$tmp/declared") -ge 20 ]] ||
		fail "found only $(wc -l <"$tmp/declared") functions in bus.h"
	while read -r fn; do
		grep -qx "$fn" "$tmp/exports" ||
			fail "bus.h declares $fn but libbus.so does not export it"
	done <"$tmp/declared"
	# ...and nothing else: not the control protocol's bus_control__* code.
	bad=$(sort -u "$tmp/exports" | comm -23 - "$tmp/declared")
	[[ -z "$bad" ]] || fail "libbus.so exports names bus.h does not declare: $bad"
	# libbus.a too defines no other global name (localize-static.sh).
	nm -g --defined-only "$lib/libbus.a" | awk 'NF == 3 { print $3 }' |
		sort -u >"$tmp/static-exports"
	bad=$(comm -3 "$tmp/static-exports" "$tmp/declared")
	[[ -z "$bad" ]] || fail "libbus.a's global names differ from bus.h's functions: $bad"
	echo "ok: soname libbus.so.0, $(wc -l <"$tmp/exports") names, exactly" \
	     "the functions of bus.h"
}

# pkg-config sees the DESTDIR tree as a system root: -I and -L get it.
pc() {
	PKG_CONFIG_PATH="$lib/pkgconfig" PKG_CONFIG_SYSROOT_DIR="$dest" \
		pkg-config "$@"
}

build_outside() {
	local src="$SOURCE_ROOT/tests/install/outside.c" cflags libs

	command -v pkg-config >/dev/null || fail "pkg-config is not installed"
	[[ "$(pc --modversion libbus)" == "$VERSION" ]] ||
		fail "pkg-config libbus --modversion: $(pc --modversion libbus)"
	cflags=$(pc --cflags libbus) libs=$(pc --libs libbus)
	# shellcheck disable=SC2086 # pkg-config's flags are words
	run "${cc[@]}" -std=c11 -Wall -Wextra -Wpedantic -Werror "${san_flags[@]}" \
		-o "$tmp/outside" "$src" $cflags $libs
	readelf -d "$tmp/outside" | grep -q 'NEEDED.*\[libbus\.so\.0\]' ||
		fail "outside is not linked with libbus.so.0"
	# Static: --static's libraries, with libbus.a itself.
	libs=$(pc --static --libs libbus)
	libs=${libs//-lbus /-l:libbus.a }
	# shellcheck disable=SC2086
	run "${cc[@]}" -std=c11 -Wall -Wextra -Werror "${san_flags[@]}" \
		-o "$tmp/outside-static" "$src" $cflags $libs
	if readelf -d "$tmp/outside-static" | grep -q 'NEEDED.*libbus'; then
		fail "outside-static needs libbus.so"
	fi
	echo "ok: outside.c built with pkg-config: cflags '$cflags'," \
	     "static libs '$libs'"
}

start_busd() {
	local i

	mkdir -p "$tmp/run"
	"$dest$SBINDIR/busd" --socket "$sock" --log-level debug "$@" \
		2>"$tmp/busd.log" </dev/null &
	busd_pid=$!
	for ((i = 0; i < 200; i++)); do
		[[ -S "$sock" ]] && return 0
		kill -0 "$busd_pid" 2>/dev/null || fail "the installed busd exited"
		sleep 0.05
	done
	fail "the installed busd did not make its socket in 10 s"
}

stop_busd() {
	local st=0

	kill -TERM "$busd_pid"
	wait "$busd_pid" || st=$?
	busd_pid=""
	[[ $st -eq 0 ]] || fail "busd exited with status $st on SIGTERM"
}

# A garbage control packet, for the packet.bad log event.  Python is the
# only thing at hand that speaks SOCK_SEQPACKET.
send_garbage() {
	if ! command -v python3 >/dev/null; then
		echo "note: python3 not found: no malformed packet sent"
		return 1
	fi
	python3 - "$sock" <<-'EOF'
	import socket, sys
	s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
	s.connect(sys.argv[1])
	s.send(b"\xff\xff\xff not a request")
	s.settimeout(10)
	s.recv(65536)
	EOF
}

# Every line: ts, level, event, msg first, in that order; then the events
# of a queue's life, each once or more.
check_log() {
	local log="$tmp/busd.log" bad ev

	bad=$(grep -Evn '^ts=[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{6}Z level=(error|warn|info|debug) event=[a-z_]+(\.[a-z_]+)* msg="[^"]*"( [a-z_]+=("[^"]*"|[^ "]*))*$' \
	      "$log" || true)
	[[ -z "$bad" ]] || fail "busd log lines not in the format:
$bad"
	for ev in start client.open client.close queue.create attach detach \
	          queue.delete request.failed "${extra_events[@]}" shutdown stop; do
		grep -q " event=$ev " "$log" ||
			grep -q " event=$ev\$" "$log" ||
			fail "busd logged no event=$ev"
	done
	grep -q ' event=attach .*role=producer' "$log" ||
		fail "no attach of a producer logged"
	grep -q ' event=attach .*role=consumer' "$log" ||
		fail "no attach of a consumer logged"
	grep -q ' event=shutdown msg="stopping" signal=TERM$' "$log" ||
		fail "no shutdown signal=TERM logged"
	echo "ok: $(wc -l <"$log") log lines in the format, with" \
	     "start queue.create attach detach queue.delete request.failed" \
	     "${extra_events[*]} shutdown stop"
}

# The unit's command lines, with their paths moved into DESTDIR, run with
# --check-config: the binary is there and accepts every option given.
check_unit_commands() {
	local unit="$dest$UNITDIR/busd.service" key line out

	if [[ "$UNITDIR" == no ]]; then
		echo "note: configured with -Dsystemd_unit_dir=no: no unit to check"
		return
	fi
	for key in ExecStart ExecStartPre; do
		line=$(unit_value "$unit" "$key")
		[[ -n "$line" ]] || fail "busd.service has no $key="
		read -r -a words <<<"$line"
		[[ "${words[0]}" == "$SBINDIR/busd" ]] ||
			fail "$key= runs ${words[0]}, not $SBINDIR/busd"
		mapfile -t words < <(map_paths "$dest" "${words[@]}")
		[[ " ${words[*]} " == *" --check-config "* ]] ||
			words+=(--check-config)
		if ! out=$("${words[@]}" 2>&1); then
			fail "busd.service $key= with --check-config: $out"
		fi
		grep -qx 'socket = /run/bus/busd.sock' <<<"$out" ||
			fail "$key= does not use /run/bus/busd.sock: $out"
	done
	for line in 'RuntimeDirectory=bus' 'Restart=on-failure' \
	            'User=[a-z_][a-z0-9_-]*' 'RemoveIPC=no'; do
		grep -qx "$line" "$unit" || fail "busd.service has no line $line"
	done
	if grep -q '^DynamicUser=yes' "$unit"; then
		fail "busd.service has DynamicUser=yes (its RemoveIPC kills the queues)"
	fi
	echo "ok: busd.service's ExecStart and ExecStartPre accepted by the" \
	     "installed busd"
}

# The examples' own Makefile, against the install: optional.
check_examples() {
	local ex="$SOURCE_ROOT/clients/examples" out

	if [[ ! -f "$ex/Makefile" ]]; then
		echo "note: clients/examples/Makefile not found: standalone" \
		     "build of the examples not tried"
		return
	fi
	if ! command -v protoc-c >/dev/null || ! command -v make >/dev/null; then
		echo "note: make or protoc-c not found: standalone build of the" \
		     "examples not tried"
		return
	fi
	mkdir "$tmp/examples"
	cp "$ex"/Makefile "$ex"/*.c "$ex"/*.proto "$tmp/examples/"
	# pkg-config's variables in the environment: make 4.3's $(shell) does
	# not see variables given on make's command line.
	run env PKG_CONFIG_PATH="$lib/pkgconfig" PKG_CONFIG_SYSROOT_DIR="$dest" \
		make -C "$tmp/examples" CC="${cc[*]}" \
		CFLAGS="-O2 -g ${san_flags[*]}" LDFLAGS="${san_flags[*]}" \
		producer consumer
	run "$buscli" create "$tag-ex"
	run "$tmp/examples/producer" "$tag-ex" 4
	out=$("$tmp/examples/consumer" "$tag-ex" 4 2>&1) ||
		fail "the standalone consumer failed: $out"
	[[ $(grep -c '^order [1-4]: ACME ' <<<"$out") -eq 4 ]] ||
		fail "the standalone consumer printed: $out"
	run "$buscli" delete "$tag-ex"
	echo "ok: clients/examples built alone with its Makefile; producer and" \
	     "consumer exchanged 4 orders"
}

test_outside() {
	local count=2000 out

	# --no-rebuild: a build while other tests run their programs is no
	# test's business.  meson test builds only what tests depend on, and
	# the manual pages are not among them: a build directory where ninja
	# never ran has none to install.
	if ! out=$("$MESON" install -C "$BUILD_ROOT" --no-rebuild \
	           --destdir "$dest" --quiet 2>&1); then
		fail "meson install failed (run ninja -C $BUILD_ROOT first if" \
		     "something was not built):
$out"
	fi
	check_files
	check_exports
	build_outside
	check_unit_commands

	sock="$tmp/run/busd.sock"
	buscli="$dest$BINDIR/buscli"
	export BUS_SOCKET="$sock"
	start_busd
	run "$buscli" create "$tag-a" --capacity 64K
	run "$buscli" create "$tag-b" --capacity 4K
	out=$(LD_LIBRARY_PATH="$lib" "$tmp/outside" "$tag-a" "$count" 2>&1) ||
		fail "outside (shared libbus): $out"
	echo "ok: $out"
	out=$("$tmp/outside-static" "$tag-b" "$count" 2>&1) ||
		fail "outside (static libbus): $out"
	echo "ok (static): $out"
	check_examples
	# Failures the log must show.
	extra_events=()
	if "$buscli" delete "$tag-none" 2>/dev/null; then
		fail "deleting a queue that does not exist succeeded"
	fi
	if send_garbage; then
		extra_events+=(packet.bad)
	fi
	run "$buscli" delete "$tag-a"
	run "$buscli" delete "$tag-b"
	out=$("$buscli" list)
	if grep -q "$tag" <<<"$out"; then
		fail "queues left after delete: $out"
	fi
	stop_busd
	[[ ! -e "$sock" ]] || fail "busd left its socket behind"
	check_access_denied
	check_log
}

# Another uid refused by the rules: the access.denied event.  Needs root
# to act as that uid.
check_access_denied() {
	local conf="$tmp/denied.conf"

	if [[ $(id -u) -ne 0 ]] || ! command -v setpriv >/dev/null; then
		echo "note: not root (or no setpriv): access.denied not provoked"
		return
	fi
	# Rights for uid 1 make the socket 0666; uid 65534 has none.
	printf '[busd]\ncreate = uid:1\n' >"$conf"
	chmod 0755 "$tmp" "$tmp/run"
	mv "$tmp/busd.log" "$tmp/busd.log.1"
	start_busd --config "$conf"
	if setpriv --reuid=65534 --regid=65534 --clear-groups \
	    "$buscli" create "$tag-denied" 2>"$tmp/denied.err"; then
		fail "uid 65534 created a queue it has no right to"
	fi
	grep -q "may not" "$tmp/denied.err" ||
		fail "refusal not explained: $(cat "$tmp/denied.err")"
	stop_busd
	grep -q ' event=access.denied .*uid=65534 ' "$tmp/busd.log" ||
		fail "no access.denied event for uid 65534"
	cat "$tmp/busd.log" >>"$tmp/busd.log.1"
	mv "$tmp/busd.log.1" "$tmp/busd.log"
	extra_events+=(access.denied)
}

case "$mode" in
outside) test_outside ;;
unit) test_unit_verify ;;
*)
	echo "usage: test-install.sh outside|unit" >&2
	exit 2
	;;
esac
