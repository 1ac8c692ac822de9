#!/bin/bash
# Issue 14, capacity: with the default per-app settings (apps.max_sockets,
# apps.region_mb, rx/tx buffers, tcp.max_connections) one unprivileged app
#  - accepts DN_CAP_CONNS (10,000) concurrent connections from kernel
#    clients, a 64-byte record echoed twice on each, all held open at once;
#  - opens DN_CAP_CONNS concurrent connections to a kernel echo server, the
#    same exchange;
#  - while each set is held idle, the memory it costs is measured and
#    printed: the daemon's private memory (RssAnon) plus the pages the
#    app's region commits (st_blocks of the region memfd the daemon holds),
#    over the same figures before the set opened; goal <= 32 KiB each;
#  - the region gives its pages back when the connections close;
#  - wrk holds DN_CAP_WRK (1,000) keep-alive connections against the
#    mTCP-API epserver example for a few seconds: 0 errors.
# Only the test's own knobs differ from the defaults: time_wait_s (so the
# TIME-WAIT entries of one part are gone before the next) and the port's
# queue and mbufs.
. "$(dirname "$0")/lib.sh"
dn_begin capacity
N=${DN_CAP_CONNS:-10000}
WRK_C=${DN_CAP_WRK:-1000}
GOAL_KIB=32
check "unprivileged app user exists" dn_ensure_app_user
mkdir "$DN_TMP/app" && chown "$DN_APP_USER:dillnet" "$DN_TMP/app"
LOAD=$B/tests/integ/dn_tcpload
# 10,000 kernel sockets in one process (the client, the echo server):
# the soft open-file limit up to the hard one, which must leave room.
ulimit -n "$(ulimit -Hn)"
if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt $((N + 100)) ]; then
	fail "open-file limit $(ulimit -n) (hard $(ulimit -Hn)) is below $N kernel sockets + 100"
	dn_end; exit 1
fi

dn_write_conf "tcp = { time_wait_s = 2; };"
sed -i '/^sockets = {/,/^};/d' "$DN_CONF"
echo 'sockets = { app_path = "'$DN_APP'"; app_group = "dillnet"; ctl_path = "'$DN_CTL'"; };' >> "$DN_CONF"
echo 'apps = { allowed_groups = [ "dillnet" ]; };' >> "$DN_CONF"
check "daemon up with the default per-app limits" dn_start_daemon
# Bursts from thousands of connections overflow the default 1,000-frame
# tun queue while the daemon shares two cores with the peers.
dn_ns ip link set "$DN_TAP" txqueuelen 10000

# Daemon memory: private pages (RssAnon) and every app region's committed
# pages (the memfds it holds), in KiB.
d_anon() { awk '/^RssAnon:/ {print $2}' "/proc/$DN_DAEMON_PID/status"; }
d_region() {
	local f t=0 b
	for f in /proc/$DN_DAEMON_PID/fd/*; do
		case $(readlink "$f") in
		/memfd:dillnet-app*) b=$(stat -L -c %b "$f") && t=$((t + b / 2)) ;;
		esac
	done
	echo $t
}
# held_idle NAME OUTFILE: wait (bounded) for "idle N" from a conc run,
# then report and check the memory per connection against BASE_ANON and
# BASE_REGION.
held_idle() {
	local name=$1 out=$2
	dn_until 120 grep -q '^idle' "$out"
	if ! grep -q '^idle' "$out"; then
		fail "$name: $N connections not all open and echoed in time ($(tail -c 300 "$out" | tr '\n' ' '))"
		return 1
	fi
	ok "$name: $N concurrent connections open, first record echoed on each"
	# Delayed ACKs and the last window updates settle first.
	sleep 1
	local anon reg
	anon=$(d_anon); reg=$(d_region)
	local per_anon=$(( (anon - BASE_ANON) * 1024 / N )) per_reg=$(( (reg - BASE_REGION) * 1024 / N ))
	local per=$(( per_anon + per_reg ))
	echo "$name: idle: daemon RssAnon $BASE_ANON -> $anon KiB, regions commit $BASE_REGION -> $reg KiB;" \
	     "per connection: $per_anon + $per_reg = $per bytes"
	check "$name: memory per idle connection $per bytes <= $GOAL_KIB KiB (daemon $per_anon + region $per_reg)" \
		test $per -le $((GOAL_KIB * 1024))
	echo "$name: $(dn_ctl show apps | tail -n +2 | head -3)"
	return 0
}

# A warm-up through the same path first, so that the baselines below
# already hold what any burst touches once (mbufs, tables, heap).
dn_ns "$LOAD" --kernel -t 100 kserver "$DN_KERNEL_IP" 7000 > "$DN_TMP/ks.out" 2>&1 &
KS=$!
DN_EXTRA_PIDS="$KS"
disown $KS
dn_until 5 grep -q listening "$DN_TMP/ks.out"
out=$(dn_as_app "$LOAD" -t 60 conc "$DN_KERNEL_IP" 7000 1000 2>&1)
check "warm-up: 1,000 concurrent app connections to the kernel ($out)" test $? -eq 0
sleep 3   # their TIME-WAIT (2 s) ends

# --- 1: 10,000 kernel clients -> one app (accept side)
( dn_as_app_bg "$LOAD" -t 150 aserver 0 "$DN_TMP/app/port" ) > "$DN_TMP/as.out" 2>&1 &
AS=$!
DN_EXTRA_PIDS="$KS $AS"
dn_until 10 test -s "$DN_TMP/app/port"
port=$(cat "$DN_TMP/app/port" 2>/dev/null)
sleep 0.5
BASE_ANON=$(d_anon); BASE_REGION=$(d_region)
t0=$SECONDS
dn_ns "$LOAD" --kernel -t 120 -H "$DN_TMP/go1" conc "$DN_DAEMON_IP" "${port:-1}" "$N" \
	> "$DN_TMP/kc.out" 2>&1 &
KC=$!
DN_EXTRA_PIDS="$KS $AS $KC"
held_idle "kernel->app" "$DN_TMP/kc.out"
echo "kernel->app: $N open and echoed in $((SECONDS - t0)) s"
touch "$DN_TMP/go1"
wait $KC; rc=$?
echo "kernel->app: $(grep -v '^idle' "$DN_TMP/kc.out" | tail -3 | tr '\n' ' ') ($((SECONDS - t0)) s)"
check "kernel->app: $N connections, both records verified on every one, all ended by FIN" test $rc -eq 0
if [ $rc -ne 0 ]; then
	echo "app server said:"; sort "$DN_TMP/as.out" | uniq -c | head -10
	dn_ctl show counters | grep -E "refused|drop_|resets|violations|syn" | grep -v ' 0$' || true
fi
# Every slot the app held was punched out when TCP released it, while the
# app (and its region) lives on: what stays is at most the pages of the
# command and event rings (2 MiB each) the traffic walked over.
region_back() { [ "$(d_region)" -le $((BASE_REGION + 5 * 1024)) ]; }
dn_until 15 region_back
reg=$(d_region)
check "kernel->app: closed connections gave their region pages back ($reg KiB committed, $BASE_REGION before)" \
	region_back
kill "$AS" 2>/dev/null; wait "$AS" 2>/dev/null

# --- 2: one app -> 10,000 connections to a kernel echo server
sleep 3
BASE_ANON=$(d_anon); BASE_REGION=$(d_region)
t0=$SECONDS
( dn_as_app_bg "$LOAD" -t 120 -H "$DN_TMP/app/go2" conc "$DN_KERNEL_IP" 7000 "$N" ) \
	> "$DN_TMP/ac.out" 2>&1 &
AC=$!
DN_EXTRA_PIDS="$KS $AC"
held_idle "app->kernel" "$DN_TMP/ac.out"
echo "app->kernel: $N open and echoed in $((SECONDS - t0)) s"
touch "$DN_TMP/app/go2"
wait $AC; rc=$?
echo "app->kernel: $(grep -v '^idle' "$DN_TMP/ac.out" | tail -3 | tr '\n' ' ') ($((SECONDS - t0)) s)"
check "app->kernel: $N connections, both records verified on every one, all ended by FIN" test $rc -eq 0
[ $rc -ne 0 ] && { dn_ctl show counters | grep -E "refused|drop_|resets|violations" | grep -v ' 0$' || true; }
kill "$KS" 2>/dev/null

# --- 3: wrk, 1,000 keep-alive connections -> the mTCP-API epserver
mkdir "$DN_TMP/www"
head -c 2048 /dev/urandom > "$DN_TMP/www/f.bin"
chmod -R a+rX "$DN_TMP/www"
printf 'max_concurrency = 4096\n' > "$DN_TMP/mtcp.conf"
chmod a+r "$DN_TMP/mtcp.conf"
( dn_as_app_bg "$B/examples/mtcp/epserver" -p 8080 -d "$DN_TMP/www" -N 1 \
	-f "$DN_TMP/mtcp.conf" ) > "$DN_TMP/srv.out" 2> "$DN_TMP/srv.err" &
SRV=$!
DN_EXTRA_PIDS="$SRV"
up() { dn_ns curl -s -o /dev/null --max-time 2 "http://$DN_DAEMON_IP:8080/f.bin"; }
dn_until 10 up
check "epserver answers" up
dn_ns timeout 60 wrk -t 2 -c "$WRK_C" -d 8s --timeout 10s "http://$DN_DAEMON_IP:8080/f.bin" \
	> "$DN_TMP/wrk.out" 2>&1
wrc=$?
sed 's/^/  wrk: /' "$DN_TMP/wrk.out"
reqs=$(awk '/requests in/ {print $1}' "$DN_TMP/wrk.out")
check "wrk -c $WRK_C against epserver ran (exit $wrc, ${reqs:-no} requests)" \
	test $wrc -eq 0 -a "${reqs:-0}" -gt "$WRK_C"
check "wrk: no socket errors" bash -c "! grep -q 'Socket errors' '$DN_TMP/wrk.out'"
check "wrk: no non-2xx/3xx responses" bash -c "! grep -q 'Non-2xx' '$DN_TMP/wrk.out'"
kill -TERM $SRV 2>/dev/null
for _ in $(seq 50); do kill -0 $SRV 2>/dev/null || break; sleep 0.1; done
kill -KILL $SRV 2>/dev/null
wait $SRV 2>/dev/null
check "daemon still alive" kill -0 "$DN_DAEMON_PID"
dn_end
