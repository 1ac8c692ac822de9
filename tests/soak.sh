#!/bin/sh
# Long simulations (make soak): the TCP simulation over many seeds, plain
# and under ASan/UBSan.  SOAK_SEEDS (default 5000) seeds each; a failing
# seed is printed with the command that reruns it alone.
set -u
cd "$(dirname "$0")/.."
seeds=${SOAK_SEEDS:-5000}
rc=0
for bin in build/tests/unit-run build/tests/unit-run-asan; do
	[ -x "$bin" ] || continue
	echo "=== tcp_sim, $seeds seeds: $bin"
	if ! DN_SIM_SEEDS=$seeds CK_RUN_SUITE=tcp_sim "$bin"; then
		rc=1
	fi
done
exit $rc
