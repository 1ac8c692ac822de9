#!/bin/bash
# Issue 10 item 3: one app fills the connection table with TIME-WAIT.
# A small table (tcp.max_connections 64) and a per-uid TIME-WAIT cap of 16:
# an unprivileged app churns 300 short connections (it closes first, so
# each leaves a TIME-WAIT entry on the daemon's side; 60 s of TIME-WAIT
# would hold all of them), yet every one of its connects succeeds, it never
# holds more than 16 TIME-WAIT entries, and a second app (another uid)
# still connects out and takes connections from kernel clients on its
# listener.  Then again without the per-uid cap: the full table recycles
# its oldest TIME-WAIT entry for each new connection.  Before the fix the
# 65th connect failed with ENOMEM and SYNs to the other app's listener were
# dropped.
. "$(dirname "$0")/lib.sh"
dn_begin timewait
T_START=$SECONDS
check "unprivileged app user exists" dn_ensure_app_user
mkdir "$DN_TMP/app" && chown "$DN_APP_USER:dillnet" "$DN_TMP/app"
LOAD=$B/tests/integ/dn_tcpload
CHURN=300
TW_UID=16

# Two uids: dillnet-test, and root as the well-behaved second app.
dn_write_conf "apps = { allowed_groups = [ \"dillnet\" ]; allowed_uids = [ 0 ]; };
tcp = { max_connections = 64; max_time_wait_per_uid = $TW_UID; time_wait_s = 60; };"
sed -i '/^sockets = {/,/^};/d' "$DN_CONF"
echo 'sockets = { app_path = "'$DN_APP'"; app_group = "dillnet"; ctl_path = "'$DN_CTL'"; };' >> "$DN_CONF"
check "daemon up with a 64-connection table" dn_start_daemon
ctr() { v=$(dn_counter "$1"); echo "${v:-0}"; }
as_root() { env DILLNET_SOCKET="$DN_APP" "$@"; }

dn_ns "$LOAD" --kernel -t 60 kserver "$DN_KERNEL_IP" 7000 > "$DN_TMP/ks.out" 2>&1 &
KS=$!
DN_EXTRA_PIDS="$KS"
disown $KS
dn_until 5 grep -q listening "$DN_TMP/ks.out"

# --- the churning app
out=$(dn_as_app "$LOAD" -t 60 crr "$DN_KERNEL_IP" 7000 $CHURN 2>&1); rc=$?
echo "churning app: $out"
check "all $CHURN short connections of one app succeeded in a 64-connection table" test $rc -eq 0
tw=$(ctr tcp_time_wait_now)
rec=$(ctr tcp_time_wait_recycled_uid)
echo "TIME-WAIT now $tw, recycled for the uid cap $rec, for a full table $(ctr tcp_time_wait_recycled_table_full)"
check "the app holds at most $TW_UID TIME-WAIT entries ($tw)" test "$tw" -le $TW_UID -a "$tw" -ge 1
check "its oldest were recycled ($rec >= $((CHURN - TW_UID)))" test "$rec" -ge $((CHURN - TW_UID))

# --- the other app (root): out and in
out=$(as_root "$LOAD" -t 30 crr "$DN_KERNEL_IP" 7000 40 2>&1); rc=$?
echo "second app, out: $out"
check "another uid's 40 connects succeed" test $rc -eq 0
as_root "$LOAD" -t 30 aserver 0 "$DN_TMP/app/port" > "$DN_TMP/as.out" 2>&1 &
AS=$!
DN_EXTRA_PIDS="$KS $AS"
dn_until 5 test -s "$DN_TMP/app/port"
port=$(cat "$DN_TMP/app/port" 2>/dev/null)
out=$(dn_ns "$LOAD" --kernel -t 30 crr "$DN_DAEMON_IP" "${port:-1}" 40 2>&1); rc=$?
echo "kernel clients to the second app: $out"
check "40 kernel clients get through to the other app's listener" test $rc -eq 0
# And the first app again, with the table holding the others' entries.
out=$(dn_as_app "$LOAD" -t 30 crr "$DN_KERNEL_IP" 7000 100 2>&1); rc=$?
check "the churning app goes on (100 more)" test $rc -eq 0
dn_ctl show counters tcp | grep -E "time_wait|syncookies|drop_no_memory|attempt_fails" || true
check "no connection attempt failed for lack of memory (tcp_drop_no_memory $(ctr tcp_drop_no_memory))" \
	test "$(ctr tcp_drop_no_memory)" -eq 0
check "daemon still alive" kill -0 "$DN_DAEMON_PID"
kill "$AS" "$KS" 2>/dev/null

# --- no per-uid cap: the full table itself recycles the oldest TIME-WAIT
dn_stop_daemon
sed -i "s/max_time_wait_per_uid = $TW_UID/max_time_wait_per_uid = 0/" "$DN_CONF"
check "daemon restarted without a per-uid TIME-WAIT cap" dn_start_daemon
dn_ns "$LOAD" --kernel -t 60 kserver "$DN_KERNEL_IP" 7000 > "$DN_TMP/ks2.out" 2>&1 &
KS=$!
DN_EXTRA_PIDS="$KS"
disown $KS
dn_until 5 grep -q listening "$DN_TMP/ks2.out"
out=$(dn_as_app "$LOAD" -t 60 crr "$DN_KERNEL_IP" 7000 $CHURN 2>&1); rc=$?
echo "churning app: $out"
full=$(ctr tcp_time_wait_recycled_table_full)
check "all $CHURN connections succeed, the full table recycling the oldest TIME-WAIT ($full times)" \
	test $rc -eq 0 -a "$full" -ge $((CHURN - 64))
out=$(as_root "$LOAD" -t 30 crr "$DN_KERNEL_IP" 7000 40 2>&1); rc=$?
check "another uid's 40 connects succeed in the table full of the first's TIME-WAIT" test $rc -eq 0
as_root "$LOAD" -t 30 aserver 0 "$DN_TMP/app/port2" > "$DN_TMP/as2.out" 2>&1 &
AS=$!
DN_EXTRA_PIDS="$KS $AS"
dn_until 5 test -s "$DN_TMP/app/port2"
port=$(cat "$DN_TMP/app/port2" 2>/dev/null)
out=$(dn_ns "$LOAD" --kernel -t 30 crr "$DN_DAEMON_IP" "${port:-1}" 40 2>&1); rc=$?
check "and 40 kernel clients reach its listener ($out)" test $rc -eq 0
check "daemon still alive" kill -0 "$DN_DAEMON_PID"
kill "$AS" "$KS" 2>/dev/null
echo "t_time_wait took $((SECONDS - T_START)) s"
dn_end
