#!/bin/bash
# TCP through the daemon against the kernel, same run, same programs
# (build/tests/integ/dn_tcpload, with --kernel for plain sockets):
#   dillnet  an unprivileged dillnet app -> dillnetd -> DPDK net_tap ->
#            kernel server in the tap's namespace (198.18.0.1)
#   kernel   kernel client in one namespace -> veth pair -> kernel server
#            in another (198.19.0.1 -> 198.19.0.2), offloads off like the tap
# Figures: bulk throughput (client -> server, 64 KiB writes), 64-byte
# request/response (round trips per second, median and p99 latency),
# short connections per second (connect, 64-byte request and reply,
# client closes).  Ratios are dillnet / kernel.  Reports, never fails on
# speed.  Env: BENCH_TCP_MB (1024), BENCH_TCP_RR (50000), BENCH_TCP_CRR (5000).
. "$(dirname "$0")/../integ/lib.sh"
MB=${BENCH_TCP_MB:-1024}
RR=${BENCH_TCP_RR:-50000}
CRR=${BENCH_TCP_CRR:-5000}
LOAD=$B/tests/integ/dn_tcpload
[ -x "$LOAD" ] || { echo "bench_tcp: $LOAD missing (make all)"; exit 1; }

dn_begin btcp
VA="dnb-a-$$"
VB="dnb-b-$$"
bench_cleanup() {
	set +e
	for n in "$VA" "$VB"; do
		ip netns pids "$n" 2>/dev/null | xargs -r kill -KILL 2>/dev/null
		ip netns del "$n" 2>/dev/null
	done
	dn_cleanup
}
trap bench_cleanup EXIT
dn_ensure_app_user || exit 1

field() {   # field KEY LINE: the word after KEY
	awk -v k="$1" '{ for (i = 1; i < NF; i++) if ($i == k) { print $(i + 1); exit } }' <<<"$2"
}
run_kserver() {   # run_kserver NETNS ADDR: echo on 7000, sink on 7001
	ip netns exec "$1" "$LOAD" --kernel -t 280 kserver "$2" 7000 > "$DN_TMP/ks-$1.out" 2>&1 &
	DN_EXTRA_PIDS="${DN_EXTRA_PIDS:-} $!"
	disown $!   # killed by the cleanup; no job notice at exit
	for _ in $(seq 50); do grep -q listening "$DN_TMP/ks-$1.out" 2>/dev/null && break; sleep 0.1; done
}

# --- kernel baseline: veth between two namespaces
ip netns add "$VA" && ip netns add "$VB" || exit 1
ip link add vdnb$$ netns "$VA" type veth peer name vdnb$$p netns "$VB"
ip -n "$VA" link set lo up; ip -n "$VB" link set lo up
ip -n "$VA" addr add 198.19.0.1/24 dev vdnb$$
ip -n "$VB" addr add 198.19.0.2/24 dev vdnb$$p
ip -n "$VA" link set vdnb$$ up; ip -n "$VB" link set vdnb$$p up
ip netns exec "$VA" ethtool -K vdnb$$ tx off rx off tso off gso off gro off >/dev/null 2>&1
ip netns exec "$VB" ethtool -K vdnb$$p tx off rx off tso off gso off gro off >/dev/null 2>&1
run_kserver "$VB" 198.19.0.2
kcli() {   # kcli MODE PORT COUNT
	ip netns exec "$VA" "$LOAD" --kernel -t 120 "$1" 198.19.0.2 "$2" "$3"
}

# --- dillnet: daemon on net_tap (default settings), kernel server in the
# tap's namespace.
start_dillnet() {   # start_dillnet tap|af_packet EXTRA-CONF
	[ -n "${DN_DAEMON_PID:-}" ] && dn_stop_daemon
	ip netns del "$DN_NS" 2>/dev/null; ip netns add "$DN_NS"; ip -n "$DN_NS" link set lo up
	dn_write_conf "$2"
	sed -i '/^sockets = {/,/^};/d' "$DN_CONF"
	echo 'sockets = { app_path = "'$DN_APP'"; app_group = "dillnet"; ctl_path = "'$DN_CTL'"; };' >> "$DN_CONF"
	[ "$1" = af_packet ] && { dn_af_packet_port || exit 1; }
	DN_LOG_LEVEL=notice dn_start_daemon || exit 1
	run_kserver "$DN_NS" "$DN_KERNEL_IP"
}
dcli() {   # dcli MODE PORT COUNT
	dn_as_app "$LOAD" -t 120 "$1" "$DN_KERNEL_IP" "$2" "$3"
}

echo "bench_tcp: $(nproc) online cores; dillnet: app -> dillnetd (lcore 0, adaptive poll) -> kernel,"
echo "  on net_tap (tap) and on net_af_packet over a veth (afp); kernel: kernel -> veth -> kernel;"
echo "  offloads off everywhere; MTU 1500"

for pmd in tap af_packet; do
	start_dillnet $pmd 'apps = { allowed_groups = [ "dillnet" ]; };'
	eval "d_bulk_$pmd=\$(dcli bulk 7001 \"\$MB\" 2>&1)"
	eval "d_rr_$pmd=\$(dcli rr 7000 \"\$RR\" 2>&1)"
	eval "d_crr_$pmd=\$(dcli crr 7000 \"\$CRR\" 2>&1)"
done
k_bulk=$(kcli bulk 7001 "$MB" 2>&1)
k_rr=$(kcli rr 7000 "$RR" 2>&1)
k_crr=$(kcli crr 7000 "$CRR" 2>&1)

echo "raw: dillnet tap: $d_bulk_tap | $d_rr_tap | $d_crr_tap"
echo "raw: dillnet afp: $d_bulk_af_packet | $d_rr_af_packet | $d_crr_af_packet"
echo "raw: kernel:      $k_bulk | $k_rr | $k_crr"
ratio() { python3 -c 'import sys
a, b = sys.argv[1], sys.argv[2]
try: print("x%.2f" % (float(a) / float(b)))
except Exception: print("n/a")' "$1" "$2"; }
printf '%-26s %9s %9s %9s %8s %8s\n' figure tap afp kernel tap/k afp/k
row() {   # row NAME KEY: that field of the three runs' output
	local t a k
	eval "t=\$(field $2 \"\$d_$3_tap\"); a=\$(field $2 \"\$d_$3_af_packet\"); k=\$(field $2 \"\$k_$3\")"
	printf '%-26s %9s %9s %9s %8s %8s\n' "$1" "${t:-fail}" "${a:-fail}" "${k:-fail}" \
		"$(ratio "$t" "$k")" "$(ratio "$a" "$k")"
}
row "bulk ${MB} MiB, MB/s" MBps bulk
row "64 B req/resp, per s" per_sec rr
row "64 B rtt median, us" median_us rr
row "64 B rtt p99, us" p99_us rr
row "short conns ($CRR), per s" per_sec crr
echo "(throughput and rates: higher is better; latency: lower is better)"
