#!/bin/bash
# test-check-config.sh - busd --check-config: a good config is printed
# back with every setting busd would use (and parses back to the same), a
# bad one is refused with FILE:LINE, a missing one by name; options are
# checked too; nothing is created, locked or bound, even beside a running
# busd.  Environment: BUSD (the busd to test), EXAMPLE (the example
# config).
set -euo pipefail

# shellcheck source-path=SCRIPTDIR source=common.sh
. "$(dirname "${BASH_SOURCE[0]}")/common.sh" bus-check

# expect STATUS PATTERN ARGS...: busd ARGS exits STATUS and its output
# (stdout and stderr) matches the extended regex PATTERN.
expect() {
	local want=$1 pattern=$2 st=0 out

	shift 2
	out=$("$BUSD" "$@" 2>&1) || st=$?
	[[ $st -eq $want ]] || fail "busd $*: status $st, want $want; output:
$out"
	grep -Eq -- "$pattern" <<<"$out" ||
		fail "busd $*: output does not match '$pattern':
$out"
}

sock="$tmp/sub/busd.sock"
uid=$(id -u)

# A config with every key.
cat >"$tmp/good.conf" <<EOF
# comment
[busd]
socket = $tmp/from-config.sock
log-level = warn
max-connections = 17
max-connections-per-uid = 5
max-queues = 9
max-capacity = 64M
default-capacity = 64K
create = uid:4242 gid:4343

[queue orders]
capacity = 4M
max-message = 64K
max-producers = 8
produce = uid:4242 *
consume = uid:$uid
admin = gid:4343

[queue ticks]
EOF

out=$("$BUSD" --check-config --config "$tmp/good.conf" --socket "$sock")
for line in "socket = $sock" 'log-level = warn' 'max-connections = 17' \
            'max-connections-per-uid = 5' 'max-queues = 9' 'max-capacity = 64M' 'default-capacity = 64K' \
            'create = uid:4242 gid:4343' '[queue orders]' 'capacity = 4M' \
            'max-message = 65536' 'max-producers = 8' 'produce = uid:4242 *' \
            "consume = uid:$uid" 'admin = gid:4343' '[queue ticks]' \
            'capacity = 64K' 'max-message = 32736' \
            '# access: shared (socket mode 0666, each request checked by the rules)'; do
	grep -qxF -- "$line" <<<"$out" ||
		fail "--check-config output has no line '$line':
$out"
done
echo "ok: a good config printed with every setting"

# The output is a config: read back, it gives the same settings.
printf '%s\n' "$out" >"$tmp/again.conf"
again=$("$BUSD" --check-config --config "$tmp/again.conf")
diff <(grep -v '^# ' <<<"$out") <(grep -v '^# ' <<<"$again") >&2 ||
	fail "the printed config does not read back to the same settings"
echo "ok: the printed settings read back the same"

# Command-line options win, and are checked.
expect 0 '^log-level = debug$' --check-config --config "$tmp/good.conf" \
	--log-level debug
expect 0 "^socket = $tmp/from-config.sock\$" --check-config \
	--config "$tmp/good.conf"
expect 2 "log level 'loud' is not one of" --check-config --log-level loud
expect 2 "unknown option '--bogus'" --check-config --bogus
expect 2 'option --check-config given twice' --check-config --check-config
expect 1 'socket path too long' --check-config \
	--socket "/$(printf 'x%.0s' {1..120})"
# No config: the defaults, owner-only.
expect 0 '^# access: owner-only' --check-config --socket "$sock"
expect 0 '^max-connections = 256$' --check-config --socket "$sock"
expect 0 '^max-connections-per-uid = 64$' --check-config --socket "$sock"
echo "ok: options checked and applied"

# Bad configs: FILE:LINE and the reason, status 1.
printf '[busd]\nmax-queues = 10\n\n[queue a]\ncapacity = 1000\n' >"$tmp/bad1.conf"
expect 1 "^busd: $tmp/bad1.conf:5: capacity 1000 is not a power of two\$" \
	--check-config --config "$tmp/bad1.conf"
printf '[busd]\nlog-level = info\nfrobnicate = yes\n' >"$tmp/bad2.conf"
expect 1 "^busd: $tmp/bad2.conf:3: unknown key 'frobnicate' in \\[busd\\]\$" \
	--check-config --config "$tmp/bad2.conf"
printf '[queue q]\nproduce = user:no-such-user-here\n' >"$tmp/bad3.conf"
expect 1 "^busd: $tmp/bad3.conf:2: produce: unknown user 'no-such-user-here'\$" \
	--check-config --config "$tmp/bad3.conf"
expect 1 "^busd: $tmp/missing.conf: No such file or directory\$" \
	--check-config --config "$tmp/missing.conf"
expect 1 "^busd: $tmp: not a regular file\$" --check-config --config "$tmp"
echo "ok: bad configs refused with FILE:LINE, a missing one by name"

# Nothing made: the socket's directory, socket and lock never appear.
[[ ! -e "$tmp/sub" ]] || fail "--check-config created $tmp/sub"
[[ ! -e "$tmp/from-config.sock" ]] || fail "--check-config bound a socket"

# Beside a running busd on the same socket: still only a check.
mkdir "$tmp/run"
"$BUSD" --socket "$tmp/run/busd.sock" 2>"$tmp/busd.log" </dev/null &
busd_pid=$!
for ((i = 0; i < 200; i++)); do
	[[ -S "$tmp/run/busd.sock" ]] && break
	sleep 0.05
done
[[ -S "$tmp/run/busd.sock" ]] || fail "busd did not start: $(cat "$tmp/busd.log")"
expect 0 "^socket = $tmp/run/busd.sock\$" --check-config \
	--socket "$tmp/run/busd.sock"
kill -0 "$busd_pid" || fail "busd died during --check-config"
[[ -S "$tmp/run/busd.sock" ]] || fail "--check-config removed the socket"
kill -TERM "$busd_pid"
wait "$busd_pid" || fail "busd exited with status $? on SIGTERM"
busd_pid=""
echo "ok: --check-config beside a running busd touches nothing"

# The example config shipped with the project is valid as it stands.
expect 0 '^# busd .*: the config is valid$' --check-config --config "$EXAMPLE" \
	--socket "$sock"
echo "ok: the example config is valid"

# --help names every long option busd takes.
help=$("$BUSD" --help)
for opt in --socket --config --log-level --check-config --help --version; do
	grep -q -- "$opt" <<<"$help" || fail "busd --help does not mention $opt"
done
echo "ok: busd --help documents every option"
