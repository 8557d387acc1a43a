#!/usr/bin/env bash
# fuzz.sh - run each fuzz target under libFuzzer for a bounded time.
#
# Builds the targets of tests/fuzz with clang, libFuzzer, AddressSanitizer
# and UndefinedBehaviorSanitizer in the build directory build-fuzz (meson,
# c_args -fsanitize=fuzzer-no-link: tests/fuzz/meson.build then links
# fuzz_NAME with -fsanitize=fuzzer), and runs each target for N seconds
# starting from its corpus in tests/fuzz/corpus/NAME.  Inputs it finds go
# to build-fuzz/fuzz-corpus/NAME (kept between runs), never into git's
# corpus unless --merge is given; then only those that add coverage are
# merged in (libFuzzer -merge=1).
#
# Prints per target the executions, the corpus size and the time, from
# libFuzzer's final stats.  Exit status 0 only if every target ran its
# time without a crash, leak, timeout or sanitizer report; a failing input
# is saved under build-fuzz/fuzz-artifacts/NAME/ and named in the output.
#
# Usage: scripts/fuzz.sh [--seconds N] [--merge] [--target NAME]... [--help]
#   --seconds N    run each target N seconds (default 60)
#   --merge        merge new coverage into tests/fuzz/corpus/NAME
#   --target NAME  only this target (segment, ring, control, unpack,
#                  stats); repeatable
set -euo pipefail

usage() {
	sed -n '2,22s/^# \{0,1\}//p' "$0"
}

all_targets=(segment ring control unpack stats)
# Largest input per target: a segment image of a few KiB, the ring's
# 16-byte prefix + 1 KiB, a control packet (the target accepts any size),
# two versions of a payload of up to 4 KiB, the stats reader's 32-byte
# prefix + 1 KiB.
declare -A max_len=([segment]=16384 [ring]=1040 [control]=4096 [unpack]=8192 [stats]=1056)

seconds=60
merge=0
targets=()
while (($#)); do
	case "$1" in
		--seconds)
			if (($# < 2)) || ! [[ "$2" =~ ^[1-9][0-9]{0,6}$ ]]; then
				echo "fuzz.sh: --seconds needs a whole number of seconds, 1 or more" >&2
				exit 2
			fi
			seconds=$2
			shift 2
			;;
		--seconds=*)
			set -- --seconds "${1#--seconds=}" "${@:2}"
			;;
		--merge)
			merge=1
			shift
			;;
		--target)
			if (($# < 2)) || [[ -z "${max_len[$2]+set}" ]]; then
				echo "fuzz.sh: --target needs one of: ${all_targets[*]}" >&2
				exit 2
			fi
			targets+=("$2")
			shift 2
			;;
		-h | --help)
			usage
			exit 0
			;;
		*)
			echo "fuzz.sh: unknown argument '$1' (see --help)" >&2
			exit 2
			;;
	esac
done
if ((${#targets[@]} == 0)); then
	targets=("${all_targets[@]}")
fi

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
dir=build-fuzz

if ! command -v clang >/dev/null 2>&1; then
	echo "fuzz.sh: clang not found (Debian: apt-get install clang libclang-rt-dev)" >&2
	exit 1
fi
if ! grep -qE "^[[:space:]]*subdir\('fuzz'\)" tests/meson.build; then
	echo "fuzz.sh: tests/meson.build does not build tests/fuzz (add subdir('fuzz'))" >&2
	exit 1
fi

say() {
	printf '\n==> %s\n' "$*"
}

opts=(
	-Dbuildtype=debugoptimized
	-Dwerror=true
	-Db_sanitize=address,undefined
	-Db_lundef=false
	"-Dc_args=-fsanitize=fuzzer-no-link -fno-sanitize-recover=all"
)

# The directory must be a clang build: set it up again if it is anything else.
if [[ -d "$dir" && ! -f "$dir/meson-private/coredata.dat" ]]; then
	echo "fuzz.sh: $dir exists but is not a meson build directory; move it away" >&2
	exit 1
fi
if [[ -f "$dir/compile_commands.json" ]]; then
	have=$(sed -n 's/^ *"command": "\([^ "]*\).*/\1/p' "$dir/compile_commands.json" | head -n 1)
	if [[ "$(readlink -f "$(command -v "$have" || echo "$have")")" != \
		"$(readlink -f "$(command -v clang)")" ]]; then
		echo "$dir was not set up with clang: setting it up again"
		rm -rf -- "$dir"
	fi
fi
say "configure $dir (clang, libFuzzer, ASan+UBSan)"
if [[ -d "$dir" ]]; then
	setup=(meson setup --reconfigure "$dir" "${opts[@]}")
else
	setup=(env CC=clang meson setup "$dir" "${opts[@]}")
fi
if ! out=$("${setup[@]}" 2>&1); then
	echo "$out"
	echo "fuzz.sh: cannot configure $dir" >&2
	exit 1
fi

say "build"
ninja -C "$dir" "${targets[@]/#/tests/fuzz/fuzz_}"

# libFuzzer reports crashes itself; the sanitizers must stop at the first
# report and count leaks.  UBSan is compiled not to recover.
export ASAN_OPTIONS=halt_on_error=1:detect_leaks=1:print_stacktrace=1
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1

failed=0
summary=()
for t in "${targets[@]}"; do
	exe="$dir/tests/fuzz/fuzz_$t"
	seeds="tests/fuzz/corpus/$t"
	work="$dir/fuzz-corpus/$t"
	art="$dir/fuzz-artifacts/$t"
	log="$dir/fuzz-$t.log"
	mkdir -p "$work" "$art"

	say "fuzz_$t: ${seconds}s from $seeds (new inputs: $work, log: $log)"
	start=$SECONDS
	status=ok
	if ! "$exe" -max_total_time="$seconds" -print_final_stats=1 -timeout=10 \
		-max_len="${max_len[$t]}" -artifact_prefix="$art/" \
		"$work" "$seeds" >"$log" 2>&1 </dev/null; then
		status=FAILED
		failed=1
	fi
	elapsed=$((SECONDS - start))

	# Status lines: "#N DONE cov: C ft: F corp: FILES/BYTES ..." (none if it
	# failed while loading the corpus).
	status_line=$(grep -E '^#[0-9]+[[:space:]]+(DONE|INITED|NEW|REDUCE|pulse)' "$log" |
		tail -n 1 || true)
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1 || true)
	rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n 1 || true)
	corp=$(sed -n 's/.* corp: \([0-9]*\/[0-9]*[a-zA-Z]*\).*/\1/p' <<<"$status_line")
	cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$status_line")
	printf 'fuzz_%s: %s executions (%s/s) in %ss, corpus %s (files/bytes), coverage %s\n' \
		"$t" "${execs:-?}" "${rate:-?}" "$elapsed" "${corp:-?}" "${cov:-?}"
	if [[ "$status" != ok ]]; then
		echo "fuzz_$t FAILED; the end of its log:"
		tail -n 60 "$log" | sed 's/^/  /'
		found=$(find "$art" -maxdepth 1 -type f -newer "$exe" 2>/dev/null | sort || true)
		if [[ -n "$found" ]]; then
			echo "failing inputs (replay: $dir/tests/fuzz/fuzz_$t FILE):"
			printf '  %s\n' $found
		fi
	elif ((merge)); then
		before=$(find "$seeds" -type f | wc -l)
		if "$exe" -merge=1 -max_len="${max_len[$t]}" "$seeds" "$work" \
			>"$dir/fuzz-$t-merge.log" 2>&1 </dev/null; then
			after=$(find "$seeds" -type f | wc -l)
			bytes=$(du -sb "$seeds" | cut -f1)
			echo "merged $((after - before)) new inputs into $seeds ($after files, $bytes bytes)"
			if ((after > 50 || bytes > 204800)); then
				echo "warning: $seeds is over 50 files or 200 KiB; minimise it (see docs/fuzzing.md)"
			fi
		else
			echo "fuzz_$t: merge failed, see $dir/fuzz-$t-merge.log"
			status="merge FAILED"
			failed=1
		fi
	fi
	summary+=("$(printf 'fuzz_%-8s %-12s %10s execs %4ss corpus %s' "$t" "$status" \
		"${execs:-?}" "$elapsed" "${corp:-?}")")
done

say "summary"
printf '%s\n' "${summary[@]}"
if ((failed)); then
	echo "fuzz: FAILED"
else
	echo "fuzz: ${#targets[@]} targets, ${seconds}s each, no crash"
fi
exit "$failed"
