#!/bin/bash
# Run every test `make check` owns, in order, and end with one summary line.
# Each stage prints its own results; a failing stage does not stop the
# others, so one run shows everything that is wrong.
set -uo pipefail
cd "$(dirname "$0")/.."
FUZZ_SECONDS=${1:-20}
B=build
pass=0
fail=0
failed=()

stage() {
	local name=$1; shift
	echo
	echo "=== $name"
	local t0=$SECONDS
	if "$@"; then
		pass=$((pass + 1))
		echo "=== $name: ok ($((SECONDS - t0)) s)"
	else
		fail=$((fail + 1))
		failed+=("$name")
		echo "=== $name: FAILED ($((SECONDS - t0)) s)"
	fi
}

stage "unit tests" $B/tests/unit-run
stage "unit tests under ASan/UBSan" env ASAN_OPTIONS=detect_leaks=1 $B/tests/unit-run-asan
for f in $B/fuzz/fuzz_*; do
	[ -x "$f" ] || continue
	stage "fuzz $(basename "$f") ${FUZZ_SECONDS}s" tests/fuzz/run.sh "$f" "$FUZZ_SECONDS"
done
[ -x tests/man.sh ] && stage "manual pages render cleanly" tests/man.sh
stage "integration" tests/integ/run.sh

echo
if [ $fail -ne 0 ]; then
	echo "failed stages: ${failed[*]}"
fi
echo "check: $pass passed, $fail failed"
[ $fail -eq 0 ]
