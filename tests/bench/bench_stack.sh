#!/bin/bash
# Stack cost: instructions per data segment received and sent, counted by
# callgrind in a deterministic two-stack run (build/bench/stack_cost: no
# loss, one connection, 1460-byte MSS, SACK, timestamps, window scaling,
# CUBIC, delayed ACKs).  Repeatable on a noisy machine: same binary, same
# count.  The receive figure includes the ACKs the receiver sends; the send
# figure includes processing the ACKs that clock the data out.  The apps'
# copies into and out of the rings, the handshake and the close are left
# out.  No kernel baseline: callgrind cannot see into the kernel.
# Env: BENCH_STACK_BYTES (16 MiB).
set -uo pipefail
cd "$(dirname "$0")/../.."
BIN=build/bench/stack_cost
BYTES=${BENCH_STACK_BYTES:-16777216}
command -v valgrind >/dev/null || { echo "bench_stack: valgrind not installed (make deps)"; exit 1; }
[ -x "$BIN" ] || { echo "bench_stack: $BIN missing (make all)"; exit 1; }
tmp=$(mktemp -d /tmp/bench_stack.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
out=$(valgrind --tool=callgrind --callgrind-out-file="$tmp/cg.out" "$BIN" "$BYTES" 2>"$tmp/vg.err") || {
	echo "bench_stack: stack_cost failed under callgrind:"; tail -5 "$tmp/vg.err"; exit 1; }
callgrind_annotate --inclusive=yes --threshold=100 "$tmp/cg.out" > "$tmp/incl.txt" 2>/dev/null
segs=$(awk '{ for (i = 1; i < NF; i++) if ($i == "data_segments") print $(i + 1) }' <<<"$out")
incl() {   # incl FUNCTION: inclusive instructions of a driver step
	awk -v f="stack_cost.c:$1 " 'index($0, f) && $0 !~ /=>/ { gsub(",", "", $1); print $1; exit }' "$tmp/incl.txt"
}
rx=$(( $(incl rx_deliver) + $(incl rx_kick) + $(incl rx_timers) ))
tx=$(( $(incl tx_deliver) + $(incl tx_kick) + $(incl tx_timers) ))
echo "bench_stack: $(nproc) online cores (figures are instruction counts: independent of them)"
echo "$out"
echo "$BYTES bytes in $segs data segments of one connection, valgrind $(valgrind --version)"
printf 'instructions per data segment received: %6d  (input %d, window updates %d, timers %d)\n' \
	$((rx / segs)) $(( $(incl rx_deliver) / segs )) $(( $(incl rx_kick) / segs )) $(( $(incl rx_timers) / segs ))
printf 'instructions per data segment sent:     %6d  (ACK input %d, output on app write %d, timers %d)\n' \
	$((tx / segs)) $(( $(incl tx_deliver) / segs )) $(( $(incl tx_kick) / segs )) $(( $(incl tx_timers) / segs ))
echo "heaviest functions by own instructions (both sides):"
# awk stops printing after 12 rows but reads to the end: a reader that quits
# early (head) kills the writer with SIGPIPE, and under pipefail that made the
# whole script (and make bench) fail.
callgrind_annotate --threshold=100 "$tmp/cg.out" 2>/dev/null |
	awk '/daemon\/stack|proto\// && /\(/ && n++ < 12 { gsub(",", "", $1); printf "  %8d per segment  %s\n", $1 / '"$segs"', $NF == "" ? $0 : $(NF - 1) }' |
	sed 's|\[.*||; s|/work/[^ ]*/\(daemon\|proto\)/|\1/|'
