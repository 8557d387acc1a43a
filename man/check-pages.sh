#!/bin/sh
# check-pages.sh - keeps the manual pages honest.
#
#   check-pages.sh options MANDIR BUSD BUSCLI BUSBENCH BUS_H [BUSBRIDGE]
#       Every long option a program's --help defines (and, for buscli, each
#       command's --help) must appear in bold (*--name*) in its page source,
#       a buscli command's options in that command's section; every bus_*
#       function declared in bus.h must appear as *bus_name*( in libbus.3.scd
#       and, if $LIBBUS_LINKS is set, in that list of installed page links.
#   check-pages.sh render PAGE...
#       Each generated page must render with groff (or man -l) without a
#       warning and with its NAME, SYNOPSIS, DESCRIPTION and SEE ALSO.
#   check-pages.sh links FILE.md|DIR...
#       Every relative link [text](path) in the files (for a directory:
#       its *.md files) names a file or directory that exists, relative to
#       the linking file.
#
# POSIX sh, grep and sed only.  Exit 0 when everything holds, 1 with one
# line per problem, 77 when the check cannot run here (and why).
set -u

# Problems are counted in a file: checks inside pipelines run in subshells.
failures=$(mktemp) || exit 1
tmp=$(mktemp) || exit 1
trap 'rm -f "$failures" "$tmp" "$tmp.err"' EXIT
problem() {
	echo "check-pages: $*" >&2
	echo x >> "$failures"
}
failed() {
	[ -s "$failures" ]
}
finish() {
	if failed; then
		echo "check-pages: $(wc -l < "$failures") problem(s)" >&2
		exit 1
	fi
	echo "check-pages: $1"
	exit 0
}

# The long options a help text on stdin defines, one per line, sorted:
# those that start an option line ("  -s, --socket PATH", "      --raw"),
# not other programs' options quoted in the prose ("protoc --decode").
long_options() {
	sed -n 's/^ *\(-[A-Za-z0-9], \)\{0,1\}\(--[a-z][a-z0-9-]*\).*/\2/p' | sort -u
}

# check_in WHAT FILE NAME: every option on stdin appears as *--opt* in FILE.
check_in() {
	n=0
	while read -r opt; do
		n=$((n + 1))
		grep -q -F -e "*$opt*" "$2" ||
			problem "$1: option $opt is missing from $3"
	done
	[ $n -gt 0 ] || problem "$1: --help shows no long option"
}

# The text of section "## NAME" of an scd file, up to the next heading.
section() {
	sed -n "/^## $2\$/,/^#/p" "$1"
}

help_of() {
	out=$("$@" --help 2>&1)
	rc=$?
	if [ $rc -ne 0 ]; then
		problem "'$* --help' exited $rc"
		return 1
	fi
	[ -n "$out" ] || problem "'$* --help' printed nothing"
	printf '%s\n' "$out"
}

check_options() {
	mandir=$1 busd=$2 buscli=$3 busbench=$4 bus_h=$5 busbridge=${6:-}
	for f in busd.8 buscli.1 busbench.1 libbus.3 busbridge.8; do
		[ -r "$mandir/$f.scd" ] || problem "no $mandir/$f.scd"
	done
	failed && exit 1

	help_of "$busd" | long_options |
		check_in busd "$mandir/busd.8.scd" busd.8.scd
	help_of "$busbench" | long_options |
		check_in busbench "$mandir/busbench.1.scd" busbench.1.scd
	help_of "$buscli" | long_options |
		check_in buscli "$mandir/buscli.1.scd" buscli.1.scd
	# busbridge is built only where libnats is; its page exists anyway.
	if [ -n "$busbridge" ]; then
		help_of "$busbridge" | long_options |
			check_in busbridge "$mandir/busbridge.8.scd" busbridge.8.scd
	fi

	# The commands buscli --help lists, each with a section of its own.
	cmds=$("$buscli" --help | sed -n '/^Commands:/,/^$/p' |
		sed -n 's/^  \([a-z][a-z-]*\)  .*/\1/p')
	[ -n "$cmds" ] || problem "buscli --help lists no commands"
	for c in $cmds; do
		section "$mandir/buscli.1.scd" "$c" > "$tmp"
		if [ ! -s "$tmp" ]; then
			problem "buscli: command $c has no section '## $c' in buscli.1.scd"
			continue
		fi
		help_of "$buscli" "$c" | long_options |
			check_in "buscli $c" "$tmp" "buscli.1.scd (## $c)"
	done

	# Public functions: declarations start a line; comments start with ' *'.
	funcs=$(grep -E '^[a-z].*\<bus_[a-z_]+\(' "$bus_h" |
		grep -o -E '\<bus_[a-z_]+\(' | tr -d '(' | sort -u)
	[ -n "$funcs" ] || problem "no bus_* functions found in $bus_h"
	for fn in $funcs; do
		grep -q -F -e "*$fn*(" "$mandir/libbus.3.scd" ||
			problem "libbus: $fn() is not described in libbus.3.scd"
		if [ -n "${LIBBUS_LINKS+set}" ]; then
			case " $LIBBUS_LINKS " in
			*" $fn "*) ;;
			*) problem "libbus: $fn has no page link in man/meson.build" ;;
			esac
		fi
	done
	if [ -n "${LIBBUS_LINKS+set}" ]; then
		for fn in $LIBBUS_LINKS; do
			printf '%s\n' "$funcs" | grep -q -x -F -e "$fn" ||
				problem "libbus: man/meson.build links $fn, which bus.h does not declare"
		done
	fi
	finish "every option and function is documented"
}

check_render() {
	if [ -n "${CHECK_PAGES_SKIP:-}" ]; then
		echo "check-pages: cannot render: $CHECK_PAGES_SKIP"
		exit 77
	fi
	if command -v groff > /dev/null 2>&1; then
		# -P-cbu: plain text, no escape sequences or overstriking
		render() { groff -man -Tutf8 -ww -P-c -P-b -P-u "$1"; }
	elif command -v man > /dev/null 2>&1; then
		render() { MANWIDTH=80 man -l "$1"; }
	else
		echo "check-pages: neither groff nor man is installed: cannot render" \
		     "the pages (install groff-base or man-db)"
		exit 77
	fi
	[ $# -gt 0 ] || { problem "no pages given"; exit 1; }
	out=$tmp
	err=$tmp.err
	for page in "$@"; do
		if ! render "$page" > "$out" 2> "$err"; then
			problem "$(basename "$page"): the renderer failed: $(head -n 3 "$err")"
			continue
		fi
		if [ -s "$err" ]; then
			problem "$(basename "$page"): warnings: $(head -n 3 "$err")"
		fi
		for s in NAME SYNOPSIS DESCRIPTION 'SEE ALSO'; do
			grep -q -x -e "$s" "$out" ||
				problem "$(basename "$page"): no $s section in the output"
		done
	done
	finish "$# page(s) render without a warning"
}

check_links() {
	[ $# -gt 0 ] || { problem "no files given"; exit 1; }
	n=0
	files=0
	for arg in "$@"; do
		if [ -d "$arg" ]; then
			set -- "$@" "$arg"/*.md
		fi
	done
	for md in "$@"; do
		[ -d "$md" ] && continue
		[ -r "$md" ] || { problem "cannot read $md"; continue; }
		files=$((files + 1))
		dir=$(dirname "$md")
		grep -o -e '](\([^)]*\))' "$md" | sed 's/^](\(.*\))$/\1/' > "$tmp"
		while read -r target; do
			case $target in
			http://* | https://* | mailto:* | '#'*) continue ;;
			esac
			n=$((n + 1))
			path=${target%%#*}
			[ -e "$dir/$path" ] ||
				problem "$md: link to $target: no such file"
		done < "$tmp"
	done
	[ $files -gt 0 ] || problem "no markdown files found in $*"
	finish "$n relative link(s) in $files file(s) resolve"
}

case "${1:-}" in
links)
	shift
	check_links "$@"
	;;
options)
	[ $# -eq 6 ] || [ $# -eq 7 ] ||
		{ echo "usage: $0 options MANDIR BUSD BUSCLI BUSBENCH BUS_H [BUSBRIDGE]" >&2; exit 2; }
	shift
	check_options "$@"
	;;
render)
	shift
	check_render "$@"
	;;
*)
	echo "usage: $0 options MANDIR BUSD BUSCLI BUSBENCH BUS_H [BUSBRIDGE] | render PAGE... | links FILE.md..." >&2
	exit 2
	;;
esac
