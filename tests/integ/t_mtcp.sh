#!/bin/bash
# Issue 7: mTCP programs on dillnetd, unprivileged, against the kernel's TCP
# in the namespace:
#  - the epoll HTTP server example (2 threads, one context each, one shared
#    port) answers curl: DN_MTCP_REQS (2000) requests over 50 parallel
#    connections, every body checked;
#  - the wget-like example fetches 200 files from python's http.server in
#    parallel, every file checked;
#  - edge-triggered epoll misses nothing: a kernel peer sends 100 MiB in
#    bursts with pauses while the app reads until EAGAIN on every event
#    (and sends 100 MiB back the same way), both checked by sha256.
. "$(dirname "$0")/lib.sh"
dn_begin mtcp
REQS=${DN_MTCP_REQS:-2000}
ET_MB=${DN_MTCP_ET_MB:-100}
check "unprivileged app user exists" dn_ensure_app_user
mkdir "$DN_TMP/app" && chown "$DN_APP_USER:dillnet" "$DN_TMP/app"
dn_write_conf
sed -i '/^sockets = {/,/^};/d' "$DN_CONF"
cat >> "$DN_CONF" <<CONF
sockets = { app_path = "$DN_APP"; app_group = "dillnet"; ctl_path = "$DN_CTL"; };
apps = { allowed_groups = [ "dillnet" ]; };
CONF
check "daemon up" dn_start_daemon

# ---- a port the policy refuses (apps.listen_port_min, 1024 by default) ---------
# mtcp_bind fails with EACCES (as bind(2) would), the server says so and
# exits 1, and the daemon's log names the app, its uid and pid, the port
# and the limit.
mkdir -p "$DN_TMP/www0" && echo hi > "$DN_TMP/www0/x" && chmod -R a+rX "$DN_TMP/www0"
( dn_as_app_bg "$B/examples/mtcp/epserver" -p 80 -d "$DN_TMP/www0" -N 1 ) \
	> /dev/null 2> "$DN_TMP/srv80.err" &
p80=$!
for _ in $(seq 100); do kill -0 $p80 2>/dev/null || break; sleep 0.1; done
kill -KILL $p80 2>/dev/null
wait $p80; rc80=$?
uid=$(id -u "$DN_APP_USER")
check "epserver -p 80: mtcp_bind fails with EACCES ($(tr '\n' ' ' < "$DN_TMP/srv80.err"))" \
	grep -q "epserver: mtcp_bind: Permission denied" "$DN_TMP/srv80.err"
check "epserver -p 80 exits 1 (status $rc80)" test $rc80 -eq 1
check "daemon log: bind on port 80 refused, with uid $uid, pid $p80 and the limit ($(grep -m1 'port 80 refused' "$DN_TMP/daemon.log"))" \
	grep -Eq "pid $p80 uid $uid \(epserver\): bind on port 80 refused \(EACCES\): apps.listen_port_min is 1024" \
	"$DN_TMP/daemon.log"
# libdill's tcp_listen on the same port: EACCES and the same kind of line.
dn_as_app timeout 20 "$B/tests/integ/dn_cat" -t 5 listen 80 "$DN_TMP/app/p80" \
	< /dev/null > /dev/null 2> "$DN_TMP/cat80.err"
check "tcp_listen on port 80 refused ($(head -c 200 "$DN_TMP/cat80.err"))" \
	grep -q "Permission denied" "$DN_TMP/cat80.err"
check "daemon log: listen on port 80 refused, with uid $uid and the limit" \
	grep -Eq "uid $uid \(dn_cat\): listen on port 80 refused \(EACCES\): apps.listen_port_min is 1024" \
	"$DN_TMP/daemon.log"
check "counter tcpsock_port_refused is 2" test "$(dn_counter tcpsock_port_refused)" = 2

# ---- epoll HTTP server <- curl ------------------------------------------------
mkdir "$DN_TMP/www"
for i in 0 1 2 3 4 5 6 7; do
	# sizes from a few bytes to ~300 KiB, so bodies span many segments
	head -c $(( (i * i * 4800) + 7 )) /dev/urandom > "$DN_TMP/www/f$i.bin"
done
chmod -R a+rX "$DN_TMP/www"
# An mTCP-style config file: settings with no meaning here are reported.
cat > "$DN_TMP/mtcp.conf" <<CONF
# mTCP configuration
io = dpdk
num_cores = 2
num_mem_ch = 4
port = dpdk0
max_concurrency = 4096
max_num_buffers = 4096
rcvbuf = 8192
sndbuf = 65536
tcp_timeout = 30
tcp_timewait = 0
stat_print = dpdk0
CONF
chmod a+r "$DN_TMP/mtcp.conf"
( dn_as_app_bg "$B/examples/mtcp/epserver" -p 8080 -d "$DN_TMP/www" -N 2 \
	-f "$DN_TMP/mtcp.conf" ) > "$DN_TMP/srv.out" 2> "$DN_TMP/srv.err" &
SRV=$!
DN_EXTRA_PIDS="$SRV"
up=1
for _ in $(seq 100); do
	dn_ns curl -s -o /dev/null --max-time 2 "http://$DN_DAEMON_IP:8080/f0.bin" && { up=0; break; }
	kill -0 $SRV 2>/dev/null || break
	sleep 0.1
done
check "epserver answers ($(head -c 300 "$DN_TMP/srv.err" | tr '\n' ' '))" test $up -eq 0
check "ignored config settings reported on stderr" grep -q 'num_mem_ch' "$DN_TMP/srv.err"
check "each ignored setting reported once" test "$(grep -c '"rcvbuf"' "$DN_TMP/srv.err")" -eq 1

# REQS requests spread over the 8 files, 50 at a time on reused connections.
mkdir "$DN_TMP/got"
: > "$DN_TMP/curl.cfg"
for n in $(seq 0 $((REQS - 1))); do
	printf 'url = "http://%s:8080/f%d.bin"\noutput = "%s/got/r%d.f%d"\n' \
		"$DN_DAEMON_IP" $((n % 8)) "$DN_TMP" "$n" $((n % 8)) >> "$DN_TMP/curl.cfg"
done
t0=$SECONDS
dn_ns timeout 120 curl -s -S --no-progress-meter --fail --parallel --parallel-max 50 --max-time 60 \
	-K "$DN_TMP/curl.cfg" 2> "$DN_TMP/curl.err"
crc=$?
echo "curl: $REQS requests in $((SECONDS - t0)) s"
check "curl: $REQS requests over 50 parallel connections exit 0 ($(head -c 200 "$DN_TMP/curl.err"))" \
	test $crc -eq 0
bad=0; cnt=0
for i in 0 1 2 3 4 5 6 7; do
	want=$(sha256sum < "$DN_TMP/www/f$i.bin" | cut -d' ' -f1)
	for f in "$DN_TMP"/got/r*.f$i; do
		[ -e "$f" ] || continue
		cnt=$((cnt + 1))
		[ "$(sha256sum < "$f" | cut -d' ' -f1)" = "$want" ] || bad=$((bad + 1))
	done
done
check "curl: all $REQS bodies arrived ($cnt)" test $cnt -eq "$REQS"
check "curl: every body intact ($bad bad)" test $bad -eq 0
check "404 for an unknown file" \
	test "$(dn_ns curl -s -o /dev/null -w '%{http_code}' --max-time 5 "http://$DN_DAEMON_IP:8080/nope")" = 404
kill -TERM $SRV 2>/dev/null
for _ in $(seq 50); do kill -0 $SRV 2>/dev/null || break; sleep 0.1; done
kill -0 $SRV 2>/dev/null && kill -KILL $SRV
wait $SRV 2>/dev/null
check "epserver: both threads listened on the one port" \
	test "$(grep -c 'listening on port 8080' "$DN_TMP/srv.err")" -eq 2
check "epserver stopped on SIGTERM ($(tail -n 3 "$DN_TMP/srv.err" | tr '\n' ' '))" \
	grep -q "responses in all" "$DN_TMP/srv.err"

# ---- wget-like client -> python http.server -------------------------------------
mkdir "$DN_TMP/kwww" "$DN_TMP/app/fetched"
chown "$DN_APP_USER:dillnet" "$DN_TMP/app/fetched"
: > "$DN_TMP/list"
for i in $(seq 0 199); do
	head -c $(( (i * 997) % 70000 + 1 )) /dev/urandom > "$DN_TMP/kwww/k$i.bin"
	echo "/k$i.bin" >> "$DN_TMP/list"
done
chmod a+r "$DN_TMP/list"
( cd "$DN_TMP/kwww" && exec ip netns exec "$DN_NS" /usr/bin/python3 -m http.server \
	--bind "$DN_KERNEL_IP" 8000 ) > "$DN_TMP/pyhttp.log" 2>&1 &
PY=$!
DN_EXTRA_PIDS="$SRV $PY"
for _ in $(seq 50); do
	dn_ns curl -s -o /dev/null --max-time 1 "http://$DN_KERNEL_IP:8000/list" 2>/dev/null; \
	dn_ns curl -s -o /dev/null --max-time 1 "http://$DN_KERNEL_IP:8000/k0.bin" && break
	sleep 0.1
done
t0=$SECONDS
dn_as_app timeout 120 "$B/examples/mtcp/epwget" -N 2 -c 20 -o "$DN_TMP/app/fetched" \
	-l "$DN_TMP/list" "$DN_KERNEL_IP" 8000 > "$DN_TMP/wget.out" 2> "$DN_TMP/wget.err"
wrc=$?
echo "epwget: 200 files in $((SECONDS - t0)) s: $(cat "$DN_TMP/wget.out")"
check "epwget exit 0 ($(head -c 300 "$DN_TMP/wget.err" | tr '\n' ' '))" test $wrc -eq 0
bad=0
for i in $(seq 0 199); do
	cmp -s "$DN_TMP/kwww/k$i.bin" "$DN_TMP/app/fetched/k$i.bin" || bad=$((bad + 1))
done
check "epwget: all 200 files intact ($bad bad)" test $bad -eq 0
kill $PY 2>/dev/null; wait $PY 2>/dev/null

# ---- edge-triggered epoll, bursts ------------------------------------------------
head -c "${ET_MB}M" /dev/urandom > "$DN_TMP/k_send.bin"
head -c "${ET_MB}M" /dev/urandom > "$DN_TMP/a_send.bin"
chmod a+r "$DN_TMP"/*_send.bin
cat > "$DN_TMP/burst.py" <<'PY'
# Kernel peer: accept one connection, send a file in bursts of random size
# with random pauses, and receive everything the app sends (sha256).
import hashlib, random, socket, sys, threading, time
ip, port, path = sys.argv[1], int(sys.argv[2]), sys.argv[3]
data = open(path, 'rb').read()
ls = socket.socket(); ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
ls.bind((ip, port)); ls.listen(1); ls.settimeout(60)
print("listening", flush=True)
c, _ = ls.accept(); c.settimeout(60)
h = hashlib.sha256(); got = [0]
def rx():
    while True:
        b = c.recv(1 << 16)
        if not b:
            break
        h.update(b); got[0] += len(b)
t = threading.Thread(target=rx); t.start()
rnd = random.Random(7); off = 0; bursts = 0
while off < len(data):
    n = rnd.choice([1, 17, 1460, 4096, 65536, 200000, 1 << 20])
    c.sendall(data[off:off + n]); off += n; bursts += 1
    if rnd.random() < 0.3:
        time.sleep(rnd.random() * 0.004)
c.shutdown(socket.SHUT_WR)
t.join(120)
print("bursts %d received %d sha256 %s" % (bursts, got[0], h.hexdigest()), flush=True)
PY
dn_ns /usr/bin/python3 "$DN_TMP/burst.py" "$DN_KERNEL_IP" 9000 "$DN_TMP/k_send.bin" \
	> "$DN_TMP/burst.out" 2>&1 &
BP=$!
DN_EXTRA_PIDS="$SRV $BP"
for _ in $(seq 50); do grep -q listening "$DN_TMP/burst.out" 2>/dev/null && break; sleep 0.1; done
t0=$SECONDS
dn_as_app timeout 150 "$B/tests/integ/mtcp_et" "$DN_KERNEL_IP" 9000 "$DN_TMP/app/et.bin" \
	"$DN_TMP/a_send.bin" 2> "$DN_TMP/et.err"
erc=$?
wait $BP; brc=$?
echo "edge-triggered: $((SECONDS - t0)) s: $(cat "$DN_TMP/et.err" | tr '\n' ' ') / $(tail -n 1 "$DN_TMP/burst.out")"
check "ET reader exit 0 ($(head -c 300 "$DN_TMP/et.err" | tr '\n' ' '))" test $erc -eq 0
check "ET reader got ${ET_MB} MiB in bursts intact" \
	test "$(sha256sum < "$DN_TMP/app/et.bin" | cut -d' ' -f1)" = \
	     "$(sha256sum < "$DN_TMP/k_send.bin" | cut -d' ' -f1)"
check "kernel got the app's ${ET_MB} MiB (ET writer) intact (peer exit $brc)" \
	grep -q "$(sha256sum < "$DN_TMP/a_send.bin" | cut -d' ' -f1)" "$DN_TMP/burst.out"
dn_end
