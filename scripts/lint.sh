#!/usr/bin/env bash
# lint.sh - static checks of bus's own C sources.
#
#   clang-tidy  the checks in .clang-tidy, over every source file of the
#               build's compile_commands.json that lies in this tree
#               (generated *.pb-c.c excluded: protoc-c's code, not ours)
#   cppcheck    --enable=warning,performance,portability, same files
#   format      clang-format with .clang-format, over every tracked *.c/*.h
#
# Any finding fails the run (exit 1); exit 2 on bad usage or missing tools.
#
# Usage: scripts/lint.sh [--build DIR] [--tidy] [--cppcheck]
#                        [--format-check | --format-fix] [--help]
#   --build DIR     build directory whose compile_commands.json is used; set
#                   up (gcc) and built if missing, since the sources include
#                   generated protobuf headers (default: build-lint)
#   --tidy          run clang-tidy only (with --cppcheck: both)
#   --cppcheck      run cppcheck only (with --tidy: both)
#   --format-check  report files clang-format would change
#   --format-fix    reformat those files in place
# Without a mode it runs clang-tidy and cppcheck.
set -euo pipefail

usage() {
	sed -n '2,23s/^# \{0,1\}//p' "$0"
}

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=build-lint
tidy=0 cppc=0 fmt_check=0 fmt_fix=0
while (($#)); do
	case "$1" in
	--build)
		[[ $# -ge 2 ]] || { echo "lint.sh: --build needs a directory" >&2; exit 2; }
		build=$2
		shift
		;;
	--tidy) tidy=1 ;;
	--cppcheck) cppc=1 ;;
	--format-check) fmt_check=1 ;;
	--format-fix) fmt_fix=1 ;;
	-h | --help)
		usage
		exit 0
		;;
	*)
		echo "lint.sh: unknown argument '$1' (see --help)" >&2
		exit 2
		;;
	esac
	shift
done
if ((!tidy && !cppc && !fmt_check && !fmt_fix)); then
	tidy=1 cppc=1
fi
cd "$root"
jobs=$(nproc 2>/dev/null || echo 2)
failed=0

need() {
	if ! command -v "$1" >/dev/null 2>&1; then
		echo "lint.sh: $1 not found (scripts/deps.sh installs it)" >&2
		exit 2
	fi
}

# Tracked C files, or every C file outside build directories when this is
# not a git checkout.
c_files() {
	if git -C "$root" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
		git -C "$root" ls-files -z --cached --others --exclude-standard -- '*.c' '*.h'
	else
		find . -path './build*' -prune -o \( -name '*.c' -o -name '*.h' \) -print0 |
			sed -z 's|^\./||'
	fi
}

if ((fmt_check || fmt_fix)); then
	need clang-format
	printf '==> clang-format (%s)\n' "$(clang-format --version | head -n 1)"
	changed=0
	while IFS= read -r -d '' f; do
		[[ -f "$f" ]] || continue
		if ! clang-format --style=file --dry-run -Werror "$f" >/dev/null 2>&1; then
			if ((fmt_fix)); then
				clang-format --style=file -i "$f"
				echo "formatted $f"
			else
				n=$(clang-format --style=file "$f" | diff "$f" - | grep -c '^<' || true)
				echo "$f: $n line(s) would change"
				changed=$((changed + 1))
			fi
		fi
	done < <(c_files)
	if ((changed)); then
		echo "clang-format: $changed file(s) not formatted (scripts/lint.sh --format-fix)"
		failed=1
	else
		echo "clang-format: ok"
	fi
fi

if ((tidy || cppc)); then
	if [[ ! -f "$build/compile_commands.json" ]]; then
		printf '==> setting up %s\n' "$build"
		CC=${CC:-gcc} meson setup "$build" >/dev/null
	fi
	# Generated headers (proto/*.pb-c.h) must exist before analysis.
	ninja -C "$build" >/dev/null
	builddir=$(cd "$build" && pwd)
	srcs=$(mktemp)
	trap 'rm -f "$srcs"' EXIT
	# Our translation units: inside this tree, not in the build directory,
	# not generated.
	python3 - "$builddir/compile_commands.json" "$root" "$builddir" >"$srcs" <<-'EOF'
		import json, os, sys
		db, root, build = sys.argv[1:]
		seen = set()
		for e in json.load(open(db)):
		    f = os.path.normpath(os.path.join(e["directory"], e["file"]))
		    if f in seen or not f.startswith(root + "/") or f.startswith(build + "/"):
		        continue
		    if f.endswith(".pb-c.c"):
		        continue
		    seen.add(f)
		    print(f)
	EOF
	if [[ ! -s "$srcs" ]]; then
		echo "lint.sh: no sources of this tree in $build/compile_commands.json" >&2
		exit 2
	fi
fi

if ((tidy)); then
	need clang-tidy
	printf '==> clang-tidy (%s files, %s)\n' "$(wc -l <"$srcs")" \
		"$(clang-tidy --version | sed -n 's/.*LLVM version/LLVM/p' | head -n 1)"
	# tests/: cmocka's failed assertions longjmp out, which the analyzer
	# cannot know, so it follows paths past a failed assert_*() (see
	# .clang-tidy).  The other checks still apply there.
	tidy_run() {
		xargs -0 -r -n 4 -P "$jobs" clang-tidy -p "$builddir" --quiet \
			--extra-arg=-Wno-unknown-warning-option "$@" 2>/dev/null
	}
	out=$(mktemp)
	rc=0
	{ grep -v "^$root/tests/" "$srcs" || true; } | tr '\n' '\0' | tidy_run >"$out" || rc=1
	{ grep "^$root/tests/" "$srcs" || true; } | tr '\n' '\0' |
		tidy_run --checks='-clang-analyzer-*' >>"$out" || rc=1
	n=$(grep -cE '(warning|error): .*\[[^]]+\]$' "$out" || true)
	sed "s|$builddir/\.\./||g; s|$root/||g; s|^\.\./||" "$out"
	rm -f "$out"
	if ((rc || n)); then
		echo "clang-tidy: $n finding(s)"
		failed=1
	else
		echo "clang-tidy: ok"
	fi
fi

if ((cppc)); then
	need cppcheck
	printf '==> cppcheck (%s)\n' "$(cppcheck --version)"
	# Suppressed, with the reason:
	#   missingIncludeSystem        system headers are not given to cppcheck
	#   varFuncNullUB               NULL ends execl()-style lists; glibc
	#                               defines it as (void *)0, a pointer
	#   preprocessorErrorDirective  (in *.pb-c.h) their protobuf-c version
	#                               check needs the system headers above
	#   unmatchedSuppression        a file may not hit an inline suppression
	rc=0
	out=$(cppcheck --project="$builddir/compile_commands.json" -i "$builddir" \
		--enable=warning,performance,portability --inline-suppr \
		--error-exitcode=1 --quiet -j "$jobs" -D_GNU_SOURCE \
		--suppress=missingIncludeSystem --suppress=varFuncNullUB \
		--suppress='preprocessorErrorDirective:*.pb-c.h' \
		--suppress=unmatchedSuppression \
		--template='{file}:{line}: {severity}: {message} [{id}]' 2>&1) || rc=1
	if [[ -n "$out" ]]; then
		sed "s|$builddir/\\.\\./||g; s|$root/||g" <<<"$out" | sort -u
		rc=1
	fi
	if ((rc)); then
		echo "cppcheck: findings above"
		failed=1
	else
		echo "cppcheck: ok"
	fi
fi

exit "$failed"
