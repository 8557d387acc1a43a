#!/usr/bin/env bash
# test.sh - build bus and run every test suite in three configurations.
#
#   build       gcc, -Dwerror=true, buildtype debugoptimized
#   build-asan  clang, AddressSanitizer + UndefinedBehaviorSanitizer
#   build-tsan  clang, ThreadSanitizer
#
# Each build directory is set up if missing, reconfigured with the options
# above if present, and set up again from scratch if it was made with
# another compiler.  Every suite runs in each (meson test), and a summary
# per configuration ends with one line:
#   test: N passed, N failed, N skipped
# Then, in a full run, the bounded fuzzers, the static checks
# (scripts/lint.sh: clang-tidy and cppcheck) and the coverage gate:
#   build-cov   gcc with --coverage; every suite but fuzz, then a gcovr
#               report in build-cov/coverage/ (coverage.txt, index.html);
#               fails if libbus line coverage is under 85%
# Exit status 0 only if every configuration built, at least one test ran,
# none failed, and lint and the coverage gate passed.
#
# Usage: scripts/test.sh [--quick] [--lint] [--coverage] [--format-check]
#   --quick         only the first configuration (build): no fuzzing, lint
#                   or coverage unless asked for with the options below
#   --lint          run only lint (with --quick: build and lint)
#   --coverage      run only the coverage gate (with --quick: build and it)
#   --format-check  lint also checks formatting (scripts/lint.sh
#                   --format-check)
# BUS_COVERAGE_MIN overrides the coverage gate's 85 (percent).
set -euo pipefail

usage() {
	sed -n '2,31s/^# \{0,1\}//p' "$0"
}

# Set to 1 once the tree is formatted with .clang-format: every run that
# lints then checks formatting too.
format_check=1
# The coverage gate: libbus line coverage, percent.
coverage_min=${BUS_COVERAGE_MIN:-85}

quick=0 want_lint=0 want_cov=0
for arg in "$@"; do
	case "$arg" in
		--quick) quick=1 ;;
		--lint) want_lint=1 ;;
		--coverage) want_cov=1 ;;
		--format-check) format_check=1 ;;
		-h | --help)
			usage
			exit 0
			;;
		*)
			echo "test.sh: unknown argument '$arg' (see --help)" >&2
			exit 2
			;;
	esac
done

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

"$root/scripts/deps.sh"

# Sanitizer reports fail the test that triggered them.  UBSan is also
# compiled with -fno-sanitize-recover, so any report aborts.
export ASAN_OPTIONS=halt_on_error=1:abort_on_error=1:print_stacktrace=1:detect_leaks=1
export UBSAN_OPTIONS=halt_on_error=1:abort_on_error=1:print_stacktrace=1
export TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1

# name | compiler | meson options (every option that differs between them,
# so that reconfiguring a directory sets all of them)
configs=(
	"build|gcc|-Dbuildtype=debugoptimized -Dwerror=true -Db_sanitize=none -Db_lundef=true -Dc_args="
	"build-asan|clang|-Dbuildtype=debugoptimized -Dwerror=true -Db_sanitize=address,undefined -Db_lundef=false -Dc_args=-fno-sanitize-recover=all"
	"build-tsan|clang|-Dbuildtype=debugoptimized -Dwerror=true -Db_sanitize=thread -Db_lundef=false -Dc_args="
)
if ((quick)); then
	configs=("${configs[0]}")
elif ((want_lint || want_cov)); then
	configs=() # only what was asked for
fi
# A full run does everything.
full=0
if ((!quick && !want_lint && !want_cov)); then
	full=1 want_lint=1 want_cov=1
fi
cov_config="build-cov|gcc|-Dbuildtype=debug -Dwerror=true -Db_coverage=true -Db_sanitize=none -Db_lundef=true -Dc_args=-fprofile-update=atomic"
if ((want_cov)); then
	configs+=("$cov_config")
fi

say() {
	printf '\n==> %s\n' "$*"
}

# The compiler a build directory was set up with, resolved to a file.
dir_compiler() {
	local cmd
	cmd=$(sed -n 's/^ *"command": "\([^ "]*\).*/\1/p' "$1/compile_commands.json" 2>/dev/null | head -n 1)
	[[ -n "$cmd" ]] && readlink -f "$(command -v "$cmd" || echo "$cmd")"
}

# Sets up (or reconfigures) build directory $1 for compiler $2, options $3...
configure() {
	local dir=$1 cc=$2
	shift 2
	local want have
	want=$(readlink -f "$(command -v "$cc")")

	if [[ -e "$dir" && ! -f "$dir/meson-private/coredata.dat" ]]; then
		if [[ -d "$dir" && -z "$(ls -A "$dir")" ]]; then
			rmdir "$dir"
		else
			echo "test.sh: $dir exists but is not a meson build directory; move it away" >&2
			return 1
		fi
	fi
	if [[ -d "$dir" ]]; then
		have=$(dir_compiler "$dir" || true)
		if [[ "$have" != "$want" ]]; then
			echo "$dir was set up with ${have:-an unknown compiler}, not $cc: setting it up again"
			rm -rf -- "$dir"
		fi
	fi
	if [[ -d "$dir" ]]; then
		local out
		if ! out=$(meson setup --reconfigure "$dir" "$@" 2>&1); then
			echo "$out"
			return 1
		fi
		echo "reconfigured $dir"
	else
		CC=$cc meson setup "$dir" "$@"
	fi
}

# Can ThreadSanitizer programs start here?  Prints the command prefix that
# lets them ("" or a setarch call), or fails.
tsan_prefix() {
	local tmp out
	tmp=$(mktemp -d)
	printf 'int main(void) { return 0; }\n' >"$tmp/probe.c"
	if ! clang -fsanitize=thread -o "$tmp/probe" "$tmp/probe.c" 2>"$tmp/err"; then
		echo "test.sh: cannot build a ThreadSanitizer program:" >&2
		cat "$tmp/err" >&2
		rm -rf "$tmp"
		return 1
	fi
	if out=$("$tmp/probe" 2>&1); then
		rm -rf "$tmp"
		echo ""
		return 0
	fi
	# TSan needs a memory layout that high ASLR entropy can break.
	if setarch "$(uname -m)" -R "$tmp/probe" >/dev/null 2>&1; then
		echo "ThreadSanitizer cannot start with ASLR here; running its tests with ASLR off" >&2
		rm -rf "$tmp"
		echo "setarch $(uname -m) -R"
		return 0
	fi
	echo "test.sh: ThreadSanitizer programs cannot start here: $out" >&2
	rm -rf "$tmp"
	return 1
}

# Counts results in a meson testlog.json: prints "passed failed skipped".
count_results() {
	local log=$1
	if [[ ! -s "$log" ]]; then
		echo "0 0 0"
	elif command -v python3 >/dev/null 2>&1; then
		python3 - "$log" <<-'EOF'
			import json, sys
			ok = bad = skip = 0
			with open(sys.argv[1]) as f:
			    for line in f:
			        line = line.strip()
			        if not line:
			            continue
			        r = json.loads(line).get("result", "ERROR")
			        if r in ("OK", "EXPECTEDFAIL"):
			            ok += 1
			        elif r == "SKIP":
			            skip += 1
			        else:  # FAIL, TIMEOUT, ERROR, UNEXPECTEDPASS, anything new
			            bad += 1
			print(ok, bad, skip)
		EOF
	else
		local ok skip all
		ok=$(grep -cE '"result": *"(OK|EXPECTEDFAIL)"' "$log" || true)
		skip=$(grep -cE '"result": *"SKIP"' "$log" || true)
		all=$(grep -c '"result"' "$log" || true)
		echo "$ok $((all - ok - skip)) $skip"
	fi
}

# Writes the gcovr report of build directory $1 to $1/coverage/ and checks
# libbus's line coverage (its own .c files; generated code excluded).
coverage_report() {
	local dir=$1 out=$1/coverage pct
	if ! command -v gcovr >/dev/null 2>&1; then
		echo "test.sh: gcovr not found (scripts/deps.sh installs it)" >&2
		return 1
	fi
	say "$dir: coverage report"
	rm -rf "$out"
	mkdir -p "$out"
	if ! gcovr -r "$root" --object-directory "$dir" \
		--filter 'libbus/.*\.c$' --gcov-exclude '.*\.pb-c\.c.*' \
		--txt "$out/coverage.txt" --html-details "$out/index.html" \
		--json-summary "$out/summary.json"; then
		echo "test.sh: gcovr failed" >&2
		return 1
	fi
	cat "$out/coverage.txt"
	pct=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["line_percent"])' \
		"$out/summary.json")
	echo "libbus line coverage: $pct% (at least $coverage_min% required); report: $out/index.html"
	python3 -c 'import sys; sys.exit(float(sys.argv[1]) < float(sys.argv[2]))' "$pct" "$coverage_min"
}

total_pass=0
total_fail=0
total_skip=0
failed=0
none_registered=0
summary=()
shm_before=$(find /dev/shm -maxdepth 1 \( -name 'bus-*' -o -name 'bus.*' \) 2>/dev/null | sort || true)

for entry in "${configs[@]}"; do
	IFS='|' read -r dir cc opts <<<"$entry"
	read -r -a optv <<<"$opts"
	status=""

	say "$dir: configure ($cc $opts)"
	if ! configure "$dir" "$cc" "${optv[@]}"; then
		status="configure FAILED"
	fi

	if [[ -z "$status" ]]; then
		say "$dir: build"
		if ! ninja -C "$dir"; then
			status="build FAILED"
		fi
	fi

	prefix=()
	if [[ -z "$status" && "$dir" == build-tsan ]]; then
		if p=$(tsan_prefix); then
			read -r -a prefix <<<"$p"
		else
			status="ThreadSanitizer unusable"
		fi
	fi

	# Coverage: fresh, empty counter files (atomic updates, set above,
	# because threads share them) that every test process can write, since
	# e2e-security runs buscli as another user and libgcov's complaints on
	# stderr would break its one-line check.  Not the fuzzers, nor install,
	# which links a program of its own against the installed libbus.a
	# (instrumented here, so it would need libgcov).
	testargs=()
	if [[ "$dir" == build-cov && -z "$status" ]]; then
		find "$dir" -name '*.gcda' -delete
		while IFS= read -r -d '' f; do
			: >"${f%.gcno}.gcda"
			chmod 666 "${f%.gcno}.gcda"
		done < <(find "$dir" -name '*.gcno' -print0)
		testargs=(--no-suite fuzz --no-suite install)
	fi

	pass=0 fail=0 skip=0
	if [[ -z "$status" ]]; then
		say "$dir: test"
		rm -f "$dir/meson-logs/testlog.json"
		if ! "${prefix[@]}" meson test -C "$dir" --no-rebuild --print-errorlogs \
			--num-processes 2 "${testargs[@]}" </dev/null; then
			status="tests FAILED"
		fi
		# A log that cannot be read counts as one failure.
		counts=$(count_results "$dir/meson-logs/testlog.json") || counts="0 1 0"
		read -r pass fail skip <<<"$counts"
		if [[ -n "$status" && $fail -eq 0 ]]; then
			fail=1 # meson test failed without a failed test: count the run
		elif [[ -z "$status" && $fail -gt 0 ]]; then
			status="tests FAILED"
		elif [[ -z "$status" && $((pass + fail + skip)) -eq 0 ]]; then
			status="no tests ran"
			none_registered=1
		fi
	fi

	if [[ "$dir" == build-cov && -z "$status" ]] && ! coverage_report "$dir"; then
		status="coverage FAILED"
	fi

	if [[ -n "$status" ]]; then
		failed=1
	else
		status="ok"
	fi
	total_pass=$((total_pass + pass))
	total_fail=$((total_fail + fail))
	total_skip=$((total_skip + skip))
	summary+=("$(printf '%-11s %-18s %3d passed, %3d failed, %3d skipped' \
		"$dir" "$status" "$pass" "$fail" "$skip")")
done

# The fuzzers proper (their corpora are replayed above as suite 'fuzz'):
# a bounded run of each, BUS_FUZZ_SECONDS (default 60) per target.
if ((full)); then
	say "fuzz (libFuzzer, ${BUS_FUZZ_SECONDS:-60} s per target)"
	if "$root/scripts/fuzz.sh" --seconds "${BUS_FUZZ_SECONDS:-60}"; then
		summary+=("$(printf '%-11s %-18s' fuzz ok)")
	else
		summary+=("$(printf '%-11s %-18s' fuzz FAILED)")
		failed=1
	fi
fi

if ((want_lint)); then
	lintargs=(--build build-lint)
	# A configuration already built here has the compile_commands.json lint needs.
	if [[ -f build/compile_commands.json ]] && printf '%s\n' "${configs[@]}" | grep -q '^build|'; then
		lintargs=(--build build)
	fi
	if ((format_check)); then
		lintargs+=(--tidy --cppcheck --format-check)
	fi
	say "lint (scripts/lint.sh ${lintargs[*]})"
	lint_t0=$SECONDS
	if "$root/scripts/lint.sh" "${lintargs[@]}"; then
		summary+=("$(printf '%-11s %-18s (%d s)' lint ok $((SECONDS - lint_t0)))")
	else
		summary+=("$(printf '%-11s %-18s (%d s)' lint FAILED $((SECONDS - lint_t0)))")
		failed=1
	fi
fi

say "summary"
printf '%s\n' "${summary[@]}"

# Segments that appeared during the run and that no running process maps
# (one still mapped belongs to something else that is running now).
shm_after=$(find /dev/shm -maxdepth 1 \( -name 'bus-*' -o -name 'bus.*' \) 2>/dev/null | sort || true)
leftover=()
while IFS= read -r f; do
	if [[ -n "$f" ]] && ! grep -qsF -- "$f" /proc/[0-9]*/maps; then
		leftover+=("$f")
	fi
done < <(comm -13 <(echo "$shm_before") <(echo "$shm_after"))
if ((${#leftover[@]})); then
	echo "warning: the tests left shared-memory segments behind:"
	printf '  %s\n' "${leftover[@]}"
fi

# Tests run as root here; a tool that fails to write to -o /dev/null can
# unlink it, and every later redirection then makes a regular file.
if [[ ! -c /dev/null ]]; then
	echo "test.sh: /dev/null is no longer a character device: something in this run removed it"
	failed=1
fi

ran=$((total_pass + total_fail + total_skip))
if ((${#configs[@]} == 0)); then
	: # lint only: no tests were asked for
elif ((none_registered)); then
	echo "no tests ran: none is registered (meson test found none), and a run that tests nothing is not a pass"
elif ((ran == 0)); then
	echo "no tests ran"
	failed=1
elif ((total_pass == 0 && total_fail == 0)); then
	echo "every test was skipped: a run that tests nothing is not a pass"
	failed=1
fi

echo "test: $total_pass passed, $total_fail failed, $total_skip skipped"
exit "$failed"
