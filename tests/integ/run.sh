#!/bin/bash
# Run every integration test (tests/integ/t_*.sh and the other *.sh checks),
# each bounded in time, and print one summary line.
set -uo pipefail
cd "$(dirname "$0")"
pass=0
fail=0
for t in t_*.sh $(ls *.sh | grep -v -e '^t_' -e '^run.sh$' -e '^lib.sh$'); do
	[ -f "$t" ] || continue
	limit=${DN_TEST_TIMEOUT:-300}
	echo "--- $t"
	if timeout -k 10 "$limit" bash "$t"; then
		pass=$((pass + 1))
	else
		rc=$?
		[ $rc -eq 124 ] && echo "FAIL - $t did not finish within $limit s"
		fail=$((fail + 1))
	fi
done
echo "integration: $pass passed, $fail failed"
[ $fail -eq 0 ]
