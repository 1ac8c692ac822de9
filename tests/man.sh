#!/bin/sh
# Render every manual page of the project and fail on any groff/man warning.
# Usage: tests/man.sh [page...]   (default: client-lib/man/*.3 daemon/man/*.[578])
cd "$(dirname "$0")/.." || exit 1
if ! command -v man >/dev/null 2>&1; then
	echo "man.sh: man-db is not installed" >&2
	exit 1
fi
[ $# -gt 0 ] || set -- client-lib/man/*.3 daemon/man/*.5 daemon/man/*.7 daemon/man/*.8
fail=0
n=0
for f in "$@"; do
	[ -e "$f" ] || continue
	n=$((n + 1))
	out=$(MANWIDTH=80 man -l --warnings=w "$f" 2>&1 >/dev/null)
	if [ -n "$out" ]; then
		echo "man.sh: $f:" >&2
		echo "$out" >&2
		fail=1
	fi
done
echo "man.sh: $n pages checked, $([ $fail = 0 ] && echo 'no warnings' || echo 'WARNINGS')"
exit $fail
