#!/bin/bash
# Issue 10 item 2: orphans that never die.  An unprivileged app writes into
# connections to a kernel peer that never reads (small SO_RCVBUF, so its
# window closes) and exits; the daemon closes them as at process exit and
# they become orphans in FIN-WAIT-1 with data queued behind a zero window.
# With short limits in the config they must go: one over the per-uid cap at
# once, the rest after tcp.orphan_retries zero-window probes; and orphans
# to a peer that acks our FIN but never sends its own leave FIN-WAIT-2
# after tcp.fin_timeout_s.  Shown by `dillnetctl show connections`, show
# apps, the counters and the daemon's RSS coming back near its start.
. "$(dirname "$0")/lib.sh"
dn_begin orphans
T_START=$SECONDS
check "unprivileged app user exists" dn_ensure_app_user
STUFF=$B/tests/integ/dn_stuff
N=8
PER_UID=6
RETRIES=3
FIN_S=3

dn_write_conf "apps = { allowed_groups = [ \"dillnet\" ]; };
tcp = { orphan_retries = $RETRIES; fin_timeout_s = $FIN_S; max_orphans = 64;
  max_orphans_per_uid = $PER_UID; };"
sed -i '/^sockets = {/,/^};/d' "$DN_CONF"
echo 'sockets = { app_path = "'$DN_APP'"; app_group = "dillnet"; ctl_path = "'$DN_CTL'"; };' >> "$DN_CONF"
check "daemon up with short orphan limits" dn_start_daemon

rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$DN_DAEMON_PID/status"; }
ctr() { v=$(dn_counter "$1"); echo "${v:-0}"; }
# conns STATE: connections in that state (the ctl list, JSON).
conns() {
	dn_ctl -j show connections | python3 -c '
import json, sys
print(sum(1 for c in json.load(sys.stdin)["connections"] if c["state"] == sys.argv[1]))' "$1"
}
apps() { dn_ctl -j show apps | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["apps"]))'; }

# Kernel peers: 7100 never reads (4 KiB receive buffer); 7101 reads
# everything and never closes.  Both keep their sockets until killed.
cat > "$DN_TMP/kpeer.py" <<'PY'
import select, socket, sys
ls = []
for port, rcvbuf in ((7100, 4096), (7101, 0)):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if rcvbuf:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    s.bind((sys.argv[1], port))
    s.listen(64)
    ls.append(s)
print("listening", flush=True)
readers, held = [ls[1]], []
while True:
    r, _, _ = select.select(ls[:1] + readers, [], [], 1.0)
    for s in r:
        if s is ls[0]:
            held.append(s.accept()[0])          # never read
        elif s is ls[1]:
            readers.append(s.accept()[0])
        else:
            try:
                if not s.recv(65536):           # FIN: keep ours open
                    readers.remove(s)
                    held.append(s)
            except OSError:
                readers.remove(s)
PY
dn_ns python3 "$DN_TMP/kpeer.py" "$DN_KERNEL_IP" > "$DN_TMP/kpeer.out" 2>&1 &
KP=$!
DN_EXTRA_PIDS="$KP"
disown $KP
dn_until 5 grep -q listening "$DN_TMP/kpeer.out"
sleep 0.5
rss0=$(rss_kb)

# --- 1: FIN-WAIT-1 behind a zero window
out=$(dn_as_app "$STUFF" "$DN_KERNEL_IP" 7100 $N 256 2>&1); rc=$?
echo "app: $out"
check "the app wrote into $N connections and exited" test $rc -eq 0
t0=$(date +%s%N)
rss1=$(rss_kb)
fw1=$(conns FIN-WAIT-1)
echo "after the app left: FIN-WAIT-1 $fw1, apps attached $(apps), orphans now $(ctr tcp_orphans_now), RSS $rss0 -> $rss1 KiB"
dn_ctl show connections | head -12
check "its connections live on as orphans in FIN-WAIT-1 (at most $PER_UID: $fw1)" \
	test "$fw1" -ge 1 -a "$fw1" -le $PER_UID
check "the per-uid cap reset the oldest $((N - PER_UID)) at once (tcp_orphans_reset_uid_cap $(ctr tcp_orphans_reset_uid_cap))" \
	test "$(ctr tcp_orphans_reset_uid_cap)" -eq $((N - PER_UID))
check "show apps: the departed app holds no app slot ($(apps) attached)" test "$(apps)" -eq 0
gone() { [ "$(conns FIN-WAIT-1)" -eq 0 ] && [ "$(ctr tcp_orphans_now)" -eq 0 ]; }
dn_until 20 gone
dt=$(( ($(date +%s%N) - t0) / 1000000 ))
echo "orphans gone after $dt ms; tcp_orphans_reset_retries $(ctr tcp_orphans_reset_retries), tcp_persist_probes $(ctr tcp_persist_probes)"
check "no FIN-WAIT-1 connection and no orphan left within 20 s ($dt ms)" gone
check "the rest were reset after $RETRIES zero-window probes (tcp_orphans_reset_retries $(ctr tcp_orphans_reset_retries))" \
	test "$(ctr tcp_orphans_reset_retries)" -eq "$fw1"

# --- 2: FIN-WAIT-2, the peer never sends its FIN
out=$(dn_as_app "$STUFF" "$DN_KERNEL_IP" 7101 $((PER_UID - 2)) 64 2>&1); rc=$?
echo "app: $out"
check "a second app run wrote into $((PER_UID - 2)) connections and exited" \
	test $rc -eq 0 -a "$out" = "stuffed $((PER_UID - 2)) $(( (PER_UID - 2) * 65536 ))"
# (a function: dn_until reruns its command, not the expanded words)
fw2_is() { test "$(conns FIN-WAIT-2)" -eq "$1"; }
dn_until 5 fw2_is $((PER_UID - 2))
check "they wait in FIN-WAIT-2 ($(conns FIN-WAIT-2))" test "$(conns FIN-WAIT-2)" -eq $((PER_UID - 2))
t0=$(date +%s%N)
dn_until $((FIN_S + 5)) fw2_is 0
dt=$(( ($(date +%s%N) - t0) / 1000000 ))
check "gone after tcp.fin_timeout_s = $FIN_S s ($dt ms; tcp_fin_wait_2_timeouts $(ctr tcp_fin_wait_2_timeouts))" \
	test "$(conns FIN-WAIT-2)" -eq 0 -a "$(ctr tcp_fin_wait_2_timeouts)" -eq $((PER_UID - 2)) \
	-a "$dt" -le $(( (FIN_S + 2) * 1000 ))
check "no connection left at all ($(( $(ctr tcp_conns_alloc) - $(ctr tcp_conns_freed) )) held)" \
	test "$(ctr tcp_conns_alloc)" -eq "$(ctr tcp_conns_freed)"

sleep 0.5
rss2=$(rss_kb)
echo "daemon RSS: start $rss0 KiB, with orphans $rss1 KiB, after $rss2 KiB"
check "the daemon's RSS came back near its start ($rss0 -> $rss2 KiB, within 8 MiB)" \
	test "$rss2" -le $((rss0 + 8192))
check "daemon still alive" kill -0 "$DN_DAEMON_PID"
echo "t_orphans took $((SECONDS - T_START)) s"
dn_end
