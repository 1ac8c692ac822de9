#!/bin/bash
# Issue 10, items 6, 3 and 4, played by an attacker against a real dillnetd
# on net_tap (daemon on a /16), with a well-behaved app of another uid
# working through each attack:
#  1. ARP (item 6): app A (dillnet-test) connects to 500 unused on-link
#     addresses (198.18.1-2.x, nobody answers; 100 ms deadlines) from 8
#     threads; meanwhile the kernel pings the daemon (40 in 4 s) and app B
#     (dillnet-test2) makes short connections to a kernel echo server for
#     4 s: ping loss <= 5 %, B's exchanges all succeed, arp_src_limited
#     shows A held to its share of unresolved entries.
#  2. TIME-WAIT (item 3): a 512-connection table, 128 TIME-WAIT per uid;
#     A churns short connections from two processes for 4 s; meanwhile B
#     connects out 100 times and its listener takes 100 kernel clients:
#     all succeed, A's oldest TIME-WAIT entries are recycled.
#  3. Challenge ACKs (item 4, CVE-2016-5696): chack_oracle.py spoofs RSTs
#     at a victim connection to B (in and out of its window) while counting
#     the challenge ACKs its own connection draws: the same count either
#     way, and the victim survives.
# Before the stack fixes: 1. lost most pings (the peer's ARP entry
# evicted), 2. failed B's connects with ENOMEM, 3. was a working oracle.
. "$(dirname "$0")/lib.sh"
dn_begin isostack
T_START=$SECONDS
LOAD=$B/tests/integ/dn_tcpload
DN_APP_USER2=dillnet-test2
check "unprivileged app user exists" dn_ensure_app_user
# The second uid: another system user whose primary group is dillnet.
ensure_user2() {
	id "$DN_APP_USER2" >/dev/null 2>&1 && return 0
	systemd-sysusers --inline "u $DN_APP_USER2 -:dillnet \"dillnet test apps, second uid\" - -" &&
		id "$DN_APP_USER2" >/dev/null 2>&1
}
check "second unprivileged app user ($DN_APP_USER2) exists" ensure_user2
as_b() {
	setpriv --reuid="$DN_APP_USER2" --regid=dillnet --init-groups -- \
		env DILLNET_SOCKET="$DN_APP" "$@"
}
# For background use (as_b_bg CMD... &): $! is the app's pid.
as_b_bg() {
	exec setpriv --reuid="$DN_APP_USER2" --regid=dillnet --init-groups -- \
		env DILLNET_SOCKET="$DN_APP" "$@"
}
mkdir "$DN_TMP/app" && chown "$DN_APP_USER2:dillnet" "$DN_TMP/app"
TW_UID=128

DN_PREFIX_LEN=16
dn_write_conf "apps = { allowed_groups = [ \"dillnet\" ]; };
tcp = { max_connections = 512; max_time_wait_per_uid = $TW_UID; time_wait_s = 60; };"
sed -i '/^sockets = {/,/^};/d' "$DN_CONF"
echo 'sockets = { app_path = "'$DN_APP'"; app_group = "dillnet"; ctl_path = "'$DN_CTL'"; };' >> "$DN_CONF"
check "daemon up on 198.18.0.2/16" dn_start_daemon
ctr() { local v; v=$(dn_counter "$1"); echo "${v:-0}"; }

dn_ns "$LOAD" --kernel -t 100 kserver "$DN_KERNEL_IP" 7000 > "$DN_TMP/ks.out" 2>&1 &
KS=$!
as_b_bg "$LOAD" -t 100 aserver 0 "$DN_TMP/app/port" > "$DN_TMP/as.out" 2>&1 &
AS=$!
DN_EXTRA_PIDS="$KS $AS"
disown $KS $AS
dn_until 5 grep -q listening "$DN_TMP/ks.out"
dn_until 5 test -s "$DN_TMP/app/port"
APORT=$(cat "$DN_TMP/app/port" 2>/dev/null)
check "kernel echo server and B's echo server (port ${APORT:-none}) up" test -n "$APORT"
out=$(as_b "$LOAD" -t 10 rr "$DN_KERNEL_IP" 7000 10 2>&1)
check "B reaches the kernel peer before any attack ($out)" test $? -eq 0

# ---------------------------------------------------------------- 1. ARP
lim0=$(ctr arp_src_limited); req0=$(ctr arp_tx_request); fail0=$(ctr arp_resolve_failed)
dn_as_app_bg "$B/tests/integ/dn_scan" 1 500 100 8 80 > "$DN_TMP/scan.out" 2>&1 &
SCAN=$!
DN_EXTRA_PIDS="$KS $AS $SCAN"
sleep 0.3
dn_ns ping -c 40 -i 0.1 -W 1 "$DN_DAEMON_IP" > "$DN_TMP/ping.out" 2>&1 &
PING=$!
# B: rounds of 20 short connections (connect, 64-byte exchange, close)
# until the pings end.
bn=0; bf=0; out=
while kill -0 $PING 2>/dev/null && [ $bn -lt 4000 ]; do
	if o=$(as_b "$LOAD" -t 20 crr "$DN_KERNEL_IP" 7000 20 2>&1); then
		bn=$((bn + 20))
	else
		bf=$((bf + 1)); out="$out $o"
	fi
done
out="B made $bn connections, $bf rounds failed$out"
wait $PING
scan_running=0; kill -0 $SCAN 2>/dev/null && scan_running=1
wait $SCAN; src=$?
loss=$(grep -o '[0-9.]*% packet loss' "$DN_TMP/ping.out" | cut -d% -f1)
rcvd=$(grep -o '[0-9]* received' "$DN_TMP/ping.out" | cut -d' ' -f1)
lim1=$(ctr arp_src_limited); req1=$(ctr arp_tx_request); fail1=$(ctr arp_resolve_failed)
echo "ARP: scan: $(cat "$DN_TMP/scan.out"); still scanning when the pings ended: $scan_running;" \
	"ping: ${rcvd:-?}/40 received, ${loss:-?}% loss; B: $out;" \
	"arp_src_limited +$((lim1 - lim0)) arp_tx_request +$((req1 - req0)) arp_resolve_failed +$((fail1 - fail0))"
check "the attacker's 500 connects all ended ($(cat "$DN_TMP/scan.out"))" \
	grep -q '^tried 500 ' "$DN_TMP/scan.out"
check "the scan (500 x 100 ms deadlines over 8 threads) outlasted the 4 s of pings and B's connects" \
	test $scan_running -eq 1
check "kernel pings during the scan: loss ${loss:-?}% <= 5% (${rcvd:-?}/40)" \
	test -n "$rcvd" -a "${rcvd:-0}" -ge 38
check "B's connections to the kernel peer during the scan all succeeded ($out)" test $bf -eq 0 -a $bn -ge 100
check "the attacker was held to its share of unresolved entries (arp_src_limited +$((lim1 - lim0)))" \
	test $((lim1 - lim0)) -gt 0
check "the daemon did try to resolve the attacker's addresses (arp_tx_request +$((req1 - req0)))" \
	test $((req1 - req0)) -ge 8
dn_ctl show arp > "$DN_TMP/arp.out" 2>&1
check "the kernel peer's ARP entry is still resolved after the scan ($(grep -F "$DN_KERNEL_IP " "$DN_TMP/arp.out" | head -1))" \
	grep -Eiq "^ *$DN_KERNEL_IP .*(reachable|stale)" "$DN_TMP/arp.out"

# ----------------------------------------------------------- 2. TIME-WAIT
churn() {   # churn N: A's short connections for 4 s; "conns N fails F"
	local end=$((SECONDS + 4)) n=0 f=0
	while [ $SECONDS -lt $end ]; do
		if dn_as_app "$LOAD" -t 20 crr "$DN_KERNEL_IP" 7000 100 > /dev/null 2>> "$DN_TMP/churn$1.err"; then
			n=$((n + 100))
		else
			f=$((f + 1))
		fi
	done
	echo "conns $n fails $f"
}
rec0=$(ctr tcp_time_wait_recycled_uid); full0=$(ctr tcp_time_wait_recycled_table_full)
ck0=$(ctr tcp_syncookies_table_full); nomem0=$(ctr tcp_drop_no_memory)
churn 1 > "$DN_TMP/churn1.out" &
C1=$!
churn 2 > "$DN_TMP/churn2.out" &
C2=$!
DN_EXTRA_PIDS="$KS $AS $C1 $C2"
sleep 1
out1=$(as_b "$LOAD" -t 20 crr "$DN_KERNEL_IP" 7000 100 2>&1); rc1=$?
out2=$(dn_ns "$LOAD" --kernel -t 20 crr "$DN_DAEMON_IP" "${APORT:-1}" 100 2>&1); rc2=$?
wait $C1 $C2
tw=$(ctr tcp_time_wait_now)
rec=$(( $(ctr tcp_time_wait_recycled_uid) - rec0 ))
full=$(( $(ctr tcp_time_wait_recycled_table_full) - full0 ))
ck=$(( $(ctr tcp_syncookies_table_full) - ck0 ))
nomem=$(( $(ctr tcp_drop_no_memory) - nomem0 ))
a1=$(cat "$DN_TMP/churn1.out"); a2=$(cat "$DN_TMP/churn2.out")
an=$(( $(echo "$a1" | awk '{print $2}') + $(echo "$a2" | awk '{print $2}') ))
af=$(( $(echo "$a1" | awk '{print $4}') + $(echo "$a2" | awk '{print $4}') ))
echo "TIME-WAIT: A churned $an connections ($a1; $a2); B out: $out1; kernel -> B: $out2;" \
	"time_wait_now $tw, recycled_uid +$rec, recycled_table_full +$full, syncookies_table_full +$ck, drop_no_memory +$nomem"
check "A churned hard (>= $((2 * TW_UID)) connections in 4 s: $an)" test "$an" -ge $((2 * TW_UID))
check "A's churning itself never failed ($af failed runs; $(head -c 200 "$DN_TMP/churn1.err" "$DN_TMP/churn2.err" 2>/dev/null | tr '\n' ' '))" \
	test "$af" -eq 0
check "B's 100 connects out during the churn all succeeded ($out1)" test $rc1 -eq 0
check "100 kernel clients reached B's listener during the churn ($out2)" test $rc2 -eq 0
check "A's oldest TIME-WAIT entries were recycled at its cap ($rec >= $an - $TW_UID)" \
	test "$rec" -ge $((an - TW_UID))
check "TIME-WAIT entries held: $tw <= 2 x $TW_UID (A's cap plus B's)" test "$tw" -le $((2 * TW_UID))
check "no connection refused for lack of memory (drop_no_memory +$nomem)" test "$nomem" -eq 0

# ------------------------------------------------------ 3. challenge ACKs
t0=$SECONDS
dn_ns timeout 60 /usr/bin/python3 "$DN_ROOT/tests/integ/chack_oracle.py" "$DN_TAP" \
	"$DN_KERNEL_IP" "$DN_DAEMON_IP" "${APORT:-1}" "$B/dillnetctl" "$DN_CTL" 3 \
	> "$DN_TMP/oracle.out" 2>&1
orc=$?
echo "chack_oracle.py: $((SECONDS - t0)) s, exit $orc"
while IFS= read -r line; do
	case "$line" in
	"ok - "*) ok "${line#ok - }" ;;
	"FAIL - "*) fail "${line#FAIL - }" ;;
	*) echo "  $line" ;;
	esac
done < "$DN_TMP/oracle.out"
check "chack_oracle.py ran to the end (exit $orc)" test $orc -le 1

# ------------------------------------------------------------- after all
out=$(as_b "$LOAD" -t 10 rr "$DN_KERNEL_IP" 7000 50 2>&1)
check "B still exchanges data with the kernel peer ($out)" test $? -eq 0
check "daemon still alive" kill -0 "$DN_DAEMON_PID"
if [ "$DN_FAIL" -ne 0 ]; then
	dn_ctl show counters arp; dn_ctl show counters tcp
fi
echo "t_isolation_stack took $((SECONDS - T_START)) s"
dn_end
