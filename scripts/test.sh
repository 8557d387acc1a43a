#!/usr/bin/env bash
# test.sh - install what is missing (scripts/deps.sh), then build bus and
# run every test suite in three configurations:
#   build       gcc, -Dwerror=true, buildtype debugoptimized
#   build-asan  clang, AddressSanitizer + UndefinedBehaviorSanitizer
#   build-tsan  clang, ThreadSanitizer
# Each directory is set up if missing (again if made with another
# compiler), reconfigured, built, and tested (meson test; the sanitizer
# builds under meson.build's test setups 'asan' and 'tsan', whose
# *SAN_OPTIONS fail a test on any report).  A full run then fuzzes for a
# bounded time (scripts/fuzz.sh), lints (scripts/lint.sh: clang-tidy,
# cppcheck, formatting) and checks coverage:
#   build-cov   gcc --coverage; every suite but fuzz and install, then a
#               gcovr report in build-cov/coverage/ (coverage.txt,
#               index.html); fails if libbus line coverage is under 85%
# The summary ends with the line `test: N passed, N failed, N skipped`.
# Exit status 0 only if every configuration built, some test ran, none
# failed, and lint and the coverage gate passed; 2 on bad usage.
#
# Usage: scripts/test.sh [--quick] [--lint] [--coverage]
#   --quick     only the first configuration (build): no fuzzing, lint or
#               coverage unless asked for with the options below
#   --lint      run only lint (with --quick: build and lint)
#   --coverage  run only the coverage gate (with --quick: build and it)
# --format-check is accepted and does nothing: lint always checks format.
# Environment: BUS_COVERAGE_MIN (percent, 85), BUS_FUZZ_SECONDS (60).
set -euo pipefail

coverage_min=${BUS_COVERAGE_MIN:-85}
quick=0 want_lint=0 want_cov=0 full=0
for arg in "$@"; do
	case "$arg" in
	--quick) quick=1 ;;
	--lint) want_lint=1 ;;
	--coverage) want_cov=1 ;;
	--format-check) ;; # kept for old command lines
	-h | --help) sed -n '2,26s/^# \{0,1\}//p' "$0" && exit 0 ;;
	*) echo "test.sh: unknown argument '$arg' (see --help)" >&2 && exit 2 ;;
	esac
done

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd) && cd "$root"
"$root/scripts/deps.sh"

# directory | compiler | meson test setup | meson options (every option
# that differs between them, so that reconfiguring a directory sets all)
configs=(
	"build|gcc|-|-Dbuildtype=debugoptimized -Dwerror=true -Db_sanitize=none -Db_lundef=true -Dc_args="
	"build-asan|clang|asan|-Dbuildtype=debugoptimized -Dwerror=true -Db_sanitize=address,undefined -Db_lundef=false -Dc_args=-fno-sanitize-recover=all"
	"build-tsan|clang|tsan|-Dbuildtype=debugoptimized -Dwerror=true -Db_sanitize=thread -Db_lundef=false -Dc_args="
)
if ((quick)); then
	configs=("${configs[0]}")
elif ((want_lint || want_cov)); then
	configs=() # only what was asked for
else
	full=1 want_lint=1 want_cov=1
fi
((want_cov == 0)) || configs+=("build-cov|gcc|-|-Dbuildtype=debug -Dwerror=true -Db_coverage=true -Db_sanitize=none -Db_lundef=true -Dc_args=-fprofile-update=atomic")
say() { printf '\n==> %s\n' "$*"; }

# Sets up (or reconfigures) build directory $1 for compiler $2, options $3...
configure() {
	local dir=$1 cc=$2 want have out && shift 2
	want=$(readlink -f "$(command -v "$cc")")
	if [[ -e $dir && ! -f $dir/meson-private/coredata.dat ]] && ! rmdir "$dir" 2>/dev/null; then
		echo "test.sh: $dir exists but is not a meson build directory; move it away" >&2 && return 1
	fi
	if [[ -d $dir ]]; then # the compiler it was set up with, as a file
		have=$(sed -n 's/^ *"command": "\([^ "]*\).*/\1/p' "$dir/compile_commands.json" 2>/dev/null | head -n 1 || true)
		[[ -z $have ]] || have=$(readlink -f "$(command -v "$have" || echo "$have")")
		if [[ $have != "$want" ]]; then
			echo "$dir was set up with ${have:-an unknown compiler}, not $cc: setting it up again"
			rm -rf -- "$dir"
		fi
	fi
	if [[ ! -d $dir ]]; then
		CC=$cc meson setup "$dir" "$@"
	elif out=$(meson setup --reconfigure "$dir" "$@" 2>&1); then
		echo "reconfigured $dir"
	else
		echo "$out" && return 1
	fi
}

# Prints "passed failed skipped" of meson testlog.json $1 (FAIL, TIMEOUT,
# ERROR, anything new: failed); python3 is there, as meson and gcovr need it.
count_results() {
	[[ -s $1 ]] || { echo "0 0 0" && return; }
	python3 -c 'import json, sys
r = [json.loads(l).get("result", "ERROR") for l in open(sys.argv[1]) if l.strip()]
ok, skip = sum(x in ("OK", "EXPECTEDFAIL") for x in r), r.count("SKIP")
print(ok, len(r) - ok - skip, skip)' "$1"
}

# Writes the gcovr report of build directory $1 to $1/coverage/ and checks
# libbus's line coverage (its own .c files; generated code excluded).
coverage_report() {
	local dir=$1 out=$1/coverage pct
	say "$dir: coverage report"
	rm -rf "$out" && mkdir -p "$out"
	gcovr -r "$root" --object-directory "$dir" \
		--filter 'libbus/.*\.c$' --gcov-exclude '.*\.pb-c\.c.*' \
		--txt "$out/coverage.txt" --html-details "$out/index.html" \
		--json-summary "$out/summary.json" || { echo "test.sh: gcovr failed" >&2 && return 1; }
	cat "$out/coverage.txt"
	pct=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["line_percent"])' "$out/summary.json")
	echo "libbus line coverage: $pct% (at least $coverage_min% required); report: $out/index.html"
	python3 -c 'import sys; sys.exit(float(sys.argv[1]) < float(sys.argv[2]))' "$pct" "$coverage_min"
}

total_pass=0 total_fail=0 total_skip=0 failed=0 none_registered=0 summary=()
list_shm() { find /dev/shm -maxdepth 1 \( -name 'bus-*' -o -name 'bus.*' \) 2>/dev/null | sort || true; }
shm_before=$(list_shm)

for entry in "${configs[@]}"; do
	IFS='|' read -r dir cc setup opts <<<"$entry"
	read -r -a optv <<<"$opts"
	status="" pass=0 fail=0 skip=0 testargs=() log="$dir/meson-logs/testlog.json"
	# meson names a setup's log after it
	[[ $setup == - ]] || testargs=(--setup "$setup") log="$dir/meson-logs/testlog-$setup.json"
	say "$dir: configure ($cc $opts)"
	configure "$dir" "$cc" "${optv[@]}" || status="configure FAILED"
	[[ -n $status ]] || { say "$dir: build" && ninja -C "$dir"; } || status="build FAILED"
	# Coverage: fresh, empty counter files (atomic updates, as threads share
	# them) that every test process can write: e2e-security runs buscli as
	# another user, and libgcov's complaints would break its one-line check.
	# Not fuzz, nor install, whose own program links the installed libbus.a
	# (instrumented here, so it would need libgcov).
	if [[ -z $status && $dir == build-cov ]]; then
		find "$dir" -name '*.gcda' -delete
		while IFS= read -r -d '' f; do
			: >"${f%.gcno}.gcda" && chmod 666 "${f%.gcno}.gcda"
		done < <(find "$dir" -name '*.gcno' -print0)
		testargs+=(--no-suite fuzz --no-suite install)
	fi

	if [[ -z $status ]]; then
		say "$dir: test"
		rm -f "$log"
		meson test -C "$dir" --no-rebuild --print-errorlogs \
			--num-processes 2 "${testargs[@]}" </dev/null || status="tests FAILED"
		# A log that cannot be read counts as one failure.
		counts=$(count_results "$log") || counts="0 1 0"
		read -r pass fail skip <<<"$counts"
		if [[ -n $status ]] && ((fail == 0)); then
			fail=1 # meson test failed without a failed test: count the run
		elif ((fail > 0)); then
			status="tests FAILED"
		elif ((pass + skip == 0)); then
			status="no tests ran" none_registered=1
		fi
	fi
	if [[ -z $status && $dir == build-cov ]] && ! coverage_report "$dir"; then
		status="coverage FAILED"
	fi
	if [[ -z $status ]]; then status=ok; else failed=1; fi
	total_pass=$((total_pass + pass)) total_fail=$((total_fail + fail)) total_skip=$((total_skip + skip))
	summary+=("$(printf '%-11s %-18s %3d passed, %3d failed, %3d skipped' "$dir" "$status" "$pass" "$fail" "$skip")")
done

# Runs step $1 (fuzz or lint): the command $2...; its result joins the summary.
step() {
	local name=$1 t0=$SECONDS && shift
	say "$name ($*)"
	if "$@"; then status=ok; else status=FAILED failed=1; fi
	summary+=("$(printf '%-11s %-18s (%d s)' "$name" "$status" $((SECONDS - t0)))")
}
# The fuzzers proper (suite 'fuzz' only replays their corpora), bounded.
if ((full)); then step fuzz "$root/scripts/fuzz.sh" --seconds "${BUS_FUZZ_SECONDS:-60}"; fi
if ((want_lint)); then
	build="build-lint" # a build made in this run has the compile_commands.json lint needs
	if ((quick || full)) && [[ -f build/compile_commands.json ]]; then build=build; fi
	step lint "$root/scripts/lint.sh" --build "$build" --tidy --cppcheck --format-check
fi

say "summary" && printf '%s\n' "${summary[@]}"

# Segments that appeared during the run and that no running process maps
# (one still mapped belongs to something else that is running now).
leftover=()
while IFS= read -r f; do
	if [[ -n $f ]] && ! grep -qsF -- "$f" /proc/[0-9]*/maps; then leftover+=("$f"); fi
done < <(comm -13 <(echo "$shm_before") <(list_shm))
((${#leftover[@]} == 0)) || { echo "warning: the tests left shared-memory segments behind:" && printf '  %s\n' "${leftover[@]}"; }
# Tests run as root here; a tool that fails to write to -o /dev/null can
# unlink it, and every later redirection then makes a regular file.
[[ -c /dev/null ]] || { echo "test.sh: /dev/null is no longer a character device: something in this run removed it" && failed=1; }

# A run that tests nothing is not a pass (lint alone asks for no tests).
if ((none_registered)); then
	echo "no tests ran: none is registered (meson test found none), and a run that tests nothing is not a pass"
elif ((${#configs[@]} && total_pass + total_fail + total_skip == 0)); then
	echo "no tests ran" && failed=1
elif ((${#configs[@]} && total_pass + total_fail == 0)); then
	echo "every test was skipped: a run that tests nothing is not a pass" && failed=1
fi
echo "test: $total_pass passed, $total_fail failed, $total_skip skipped"
exit "$failed"
