#!/bin/bash
# Per-call cost over TCP (issue 12): ns per bsend/brecv of 64 bytes with
# room or data ready, one thread (build/bench/bench_calls tcp):
#   dillnet  an unprivileged app -> dillnetd on net_tap (default settings)
#            -> kernel server (dn_tcpload kserver) in the tap's namespace
#   kernel   the same program with --kernel: write/read of 64 bytes on a
#            kernel TCP socket to the same kind of server over a veth pair
# The IPC figures come from build/bench/bench_calls itself (run.sh runs it).
# Reports, never fails on speed.
. "$(dirname "$0")/../integ/lib.sh"
CALLS=$B/bench/bench_calls
LOAD=$B/tests/integ/dn_tcpload
for x in "$CALLS" "$LOAD"; do
	[ -x "$x" ] || { echo "bench_calls: $x missing (make all)"; exit 1; }
done

dn_begin bcalls
VA="dnc-a-$$"
VB="dnc-b-$$"
calls_cleanup() {
	set +e
	for n in "$VA" "$VB"; do
		ip netns pids "$n" 2>/dev/null | xargs -r kill -KILL 2>/dev/null
		ip netns del "$n" 2>/dev/null
	done
	dn_cleanup
}
trap calls_cleanup EXIT
dn_ensure_app_user || exit 1

field() {   # field KEY LINE: the word after KEY
	awk -v k="$1" '{ for (i = 1; i < NF; i++) if ($i == k) { print $(i + 1); exit } }' <<<"$2"
}
run_kserver() {   # run_kserver NETNS ADDR: echo on 7000, sink on 7001
	ip netns exec "$1" "$LOAD" --kernel -t 120 kserver "$2" 7000 > "$DN_TMP/ks-$1.out" 2>&1 &
	DN_EXTRA_PIDS="${DN_EXTRA_PIDS:-} $!"
	disown $!
	for _ in $(seq 50); do grep -q listening "$DN_TMP/ks-$1.out" 2>/dev/null && break; sleep 0.1; done
}

# kernel: veth between two namespaces, offloads off like the tap
ip netns add "$VA" && ip netns add "$VB" || exit 1
ip link add vdnc$$ netns "$VA" type veth peer name vdnc$$p netns "$VB"
ip -n "$VA" link set lo up; ip -n "$VB" link set lo up
ip -n "$VA" addr add 198.19.0.1/24 dev vdnc$$
ip -n "$VB" addr add 198.19.0.2/24 dev vdnc$$p
ip -n "$VA" link set vdnc$$ up; ip -n "$VB" link set vdnc$$p up
ip netns exec "$VA" ethtool -K vdnc$$ tx off rx off tso off gso off gro off >/dev/null 2>&1
ip netns exec "$VB" ethtool -K vdnc$$p tx off rx off tso off gso off gro off >/dev/null 2>&1
run_kserver "$VB" 198.19.0.2

# dillnet: daemon on net_tap, kernel server in the tap's namespace
dn_write_conf 'apps = { allowed_groups = [ "dillnet" ]; };'
sed -i '/^sockets = {/,/^};/d' "$DN_CONF"
echo 'sockets = { app_path = "'$DN_APP'"; app_group = "dillnet"; ctl_path = "'$DN_CTL'"; };' >> "$DN_CONF"
DN_LOG_LEVEL=notice dn_start_daemon || exit 1
run_kserver "$DN_NS" "$DN_KERNEL_IP"

d=$(dn_as_app timeout 120 "$CALLS" tcp "$DN_KERNEL_IP" 7000 2>&1)
k=$(ip netns exec "$VA" timeout 120 "$CALLS" --kernel tcp 198.19.0.2 7000 2>&1)
echo "raw: $d | $k"
ratio() { python3 -c 'import sys
try: print("x%.2f" % (float(sys.argv[2]) / float(sys.argv[1])))
except Exception: print("n/a")' "$1" "$2"; }
printf '%-30s %10s %10s %8s\n' "per call, one thread" dillnet kernel k/d
for key in send_ns recv_ns; do
	a=$(field $key "$d"); b=$(field $key "$k")
	printf '%-30s %10s %10s %8s\n' "tcp ${key%_ns} 64 B, ns" "${a:-fail}" "${b:-fail}" "$(ratio "$a" "$b")"
done
echo "(ns per call: lower is better; k/d = kernel / dillnet, higher is better)"
