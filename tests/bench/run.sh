#!/bin/bash
# make bench: every benchmark prints its figure beside a kernel baseline
# measured in the same run, as a ratio.  Benchmarks are not tests: nothing
# here fails because a machine is slow.
set -uo pipefail
cd "$(dirname "$0")/../.."
B=build
echo "dillnet benchmarks on $(nproc) cores, $(uname -r), $(date -u +%Y-%m-%dT%H:%MZ)"
rc=0
for b in $B/bench/bench_*; do
	[ -x "$b" ] || continue
	echo
	echo "=== $(basename "$b")"
	timeout 600 "$b" || { echo "$(basename "$b") failed"; rc=1; }
done
for s in tests/bench/bench_*.sh; do
	[ -f "$s" ] || continue
	echo
	echo "=== $(basename "$s")"
	timeout 900 bash "$s" || { echo "$(basename "$s") failed"; rc=1; }
done
exit $rc
