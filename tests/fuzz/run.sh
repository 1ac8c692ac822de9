#!/bin/sh
# Run one libFuzzer target for a bounded time:  run.sh BINARY SECONDS
# Corpus: a fresh temp dir (seeded from tests/fuzz/corpus/<target>/ when
# that exists), removed afterwards.  Exits non-zero, with a message saying
# what happened, on a crash, leak, timeout, OOM or a missing binary.
set -u
if [ $# -ne 2 ]; then
	echo "usage: $0 BINARY SECONDS" >&2
	exit 2
fi
bin=$1
secs=$2
name=$(basename "$bin")
if [ ! -x "$bin" ]; then
	echo "fuzz: $bin: not an executable (build it first)" >&2
	exit 2
fi
case $secs in
	''|*[!0-9]*) echo "fuzz: SECONDS must be a whole number" >&2; exit 2 ;;
esac

work=$(mktemp -d "${TMPDIR:-/tmp}/dn-fuzz-$name.XXXXXX") || exit 2
trap 'rm -rf "$work"' EXIT
trap 'exit 130' INT TERM
mkdir -p "$work/corpus" "$work/artifacts"
seed=$(dirname "$0")/corpus/$name
[ -d "$seed" ] && cp -r "$seed/." "$work/corpus/" 2>/dev/null

log=$work/log
# -timeout: one input taking longer than 10 s is a hang.  The outer timeout
# is a backstop should the fuzzer itself not stop.
timeout --kill-after=10 $((secs + 60)) "$bin" \
	-max_total_time="$secs" -rss_limit_mb=2048 -timeout=10 \
	-artifact_prefix="$work/artifacts/" -print_final_stats=1 \
	"$work/corpus" >"$log" 2>&1
rc=$?

if [ $rc -eq 0 ]; then
	runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
	echo "fuzz: $name: ok, ${runs:-?} runs in ${secs}s"
	exit 0
fi
what="failed (exit $rc)"
if grep -q 'ERROR: libFuzzer: timeout' "$log"; then what="an input timed out"
elif grep -q 'ERROR: libFuzzer: out-of-memory' "$log"; then what="out of memory (rss limit)"
elif grep -q 'LeakSanitizer' "$log"; then what="memory leak"
elif grep -q 'ERROR: AddressSanitizer' "$log"; then what="ASan error (crash or bad memory access)"
elif grep -q 'runtime error:' "$log"; then what="UBSan error"
elif grep -q 'deadly signal' "$log"; then what="crash"
elif [ $rc -eq 124 ] || [ $rc -eq 137 ]; then what="did not stop in time"
fi
echo "fuzz: $name: FAILED: $what" >&2
grep -m 1 -E 'ERROR: |runtime error:|SUMMARY:' "$log" >&2
echo "--- last lines of the fuzzer's output:" >&2
tail -n 40 "$log" >&2
for a in "$work"/artifacts/*; do
	[ -e "$a" ] || continue
	keep=$(dirname "$bin")/$(basename "$a")
	cp "$a" "$keep" && echo "fuzz: reproducer kept at $keep (run: $bin $keep)" >&2
done
exit 1
