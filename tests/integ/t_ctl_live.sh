#!/bin/bash
# dillnetctl against the real daemon, every command: status fields that
# round-trip (log level set, then read back), counters filtering, the ARP
# entry of the kernel peer, an unprivileged app (dn_cat) in show apps, its
# listener and accepted connection in show connections, kill connection
# (the kernel peer must see the reset; an all-wildcard pattern is refused
# and kills nothing), kill app (the app disappears; a second kill is
# "No such process").  JSON is parsed, not grepped.
. "$(dirname "$0")/lib.sh"
dn_begin ctllive
check "unprivileged app user exists" dn_ensure_app_user

dn_write_conf
sed -i '/^sockets = {/,/^};/d' "$DN_CONF"
cat >>"$DN_CONF" <<CONF
sockets = { app_path = "$DN_APP"; app_group = "dillnet"; app_mode = "0660"; ctl_path = "$DN_CTL"; };
CONF
check "daemon up" dn_start_daemon

# jq-like assertions in python: jcheck DESC EXPR CTL-ARGS...
# no_such RC OUT: exit status 1 and "No such process" in the message.
no_such() { [ "$1" -eq 1 ] && grep -q 'No such process' <<<"$2"; }

jcheck() {
	local desc=$1 expr=$2
	shift 2
	local out
	out=$(dn_ctl -j "$@" 2>&1)
	if python3 -c 'import json,sys; d=json.loads(sys.argv[1]); sys.exit(0 if ('"$expr"') else 1)' "$out" 2>/dev/null; then
		ok "$desc"
	else
		fail "$desc: $out"
	fi
}

jcheck "status: pid, address, link, no apps" \
	"d['pid']==$DN_DAEMON_PID and d['address']=='$DN_DAEMON_IP' and d['prefix_len']==$DN_PREFIX_LEN and d['link_up'] and d['apps']==0" status
check "set log-level debug" sh -c "\"$B/dillnetctl\" -s \"$DN_CTL\" set log-level debug | grep -qx 'log level set to debug'"
jcheck "status reads the new log level back" "d['log_level']=='debug'" status
dn_ctl set log-level info >/dev/null
jcheck "status: log level info again" "d['log_level']=='info'" status

check "kernel pings the daemon" dn_ns ping -c 2 -i 0.2 -W 1 -q "$DN_DAEMON_IP"
jcheck "show arp has the kernel peer" \
	"any(e['address']=='$DN_KERNEL_IP' and e['mac'] for e in d['arp'])" show arp
jcheck "show counters tcp: only tcp counters, at least one" \
	"len(d['counters'])>0 and all(c['name'].startswith('tcp') for c in d['counters'])" show counters tcp
jcheck "show port: the tap, packets counted" "d['port']=='net_tap0' and d['stats']['ipackets']>0" show port

# --- an app listening, a kernel peer connected
(sleep 60 | dn_as_app timeout 60 "$B/tests/integ/dn_cat" -t 60 listen 8080 >"$DN_TMP/cat.out" 2>&1) &
DN_EXTRA_PIDS="$!"
disown "$DN_EXTRA_PIDS"
app_uid=$(id -u "$DN_APP_USER")
# $! is the subshell only: the trap must also kill the pipeline in it
# (sleep, timeout and dn_cat, which outlived the test and kept the app
# user busy for t_demo_firstrun's userdel).
dn_until 5 pgrep -P "$DN_EXTRA_PIDS" >/dev/null
for p in $(pgrep -P "$DN_EXTRA_PIDS"); do
	DN_EXTRA_PIDS="$DN_EXTRA_PIDS $p $(pgrep -P "$p" | tr '\n' ' ')"
done
for _ in $(seq 50); do
	dn_ctl -j show connections 2>/dev/null | grep -q '"LISTEN"' && break
	sleep 0.1
done
jcheck "show apps: dn_cat as the app user" \
	"len(d['apps'])==1 and d['apps'][0]['name']=='dn_cat' and d['apps'][0]['uid']==$app_uid" show apps
jcheck "show connections: the listener on *:8080" \
	"any(c['state']=='LISTEN' and c['local_port']==8080 and c['remote_address'] is None for c in d['connections'])" \
	show connections

# The kernel peer connects, then waits for the reset (bounded).
dn_ns timeout 30 python3 -c '
import socket, sys, time
s = socket.create_connection((sys.argv[1], 8080), timeout=5)
s.sendall(b"hello")
open(sys.argv[2], "w").write("connected\n")
s.settimeout(20)
try:
    r = s.recv(100)
    res = "eof" if r == b"" else "data"
except ConnectionResetError:
    res = "reset"
except socket.timeout:
    res = "timeout"
open(sys.argv[2], "a").write(res + "\n")
' "$DN_DAEMON_IP" "$DN_TMP/peer.out" &
peer=$!
DN_EXTRA_PIDS="$DN_EXTRA_PIDS $peer"
for _ in $(seq 50); do
	dn_ctl -j show connections 2>/dev/null | grep -q '"ESTABLISHED"' && break
	sleep 0.1
done
app_pid=$(dn_ctl -j show apps | python3 -c 'import json,sys; a=json.load(sys.stdin)["apps"]; print(a[0]["pid"] if a else 0)')
jcheck "show connections: established from the kernel, owned by the app" \
	"any(c['state']=='ESTABLISHED' and c['local_port']==8080 and c['remote_address']=='$DN_KERNEL_IP' and c['app_pid']==$app_pid for c in d['connections'])" \
	show connections
check "show connections (text) shows the connection" \
	sh -c "\"$B/dillnetctl\" -s \"$DN_CTL\" show connections | grep -Eq '^ESTABLISHED +$DN_DAEMON_IP:8080 +$DN_KERNEL_IP:[0-9]+ '"

out=$(dn_ctl kill connection '*:*' 2>&1); rc=$?
check "kill connection '*:*' refused with exit 2 ($out)" test "$rc" -eq 2
jcheck "... and the connection is still established" \
	"any(c['state']=='ESTABLISHED' for c in d['connections'])" show connections

out=$(dn_ctl kill connection "$DN_DAEMON_IP:8080" "$DN_KERNEL_IP:*" 2>&1); rc=$?
check "kill connection $DN_DAEMON_IP:8080 $DN_KERNEL_IP:* (exit $rc: $out)" test "$rc" -eq 0
wait "$peer"
check "the kernel peer saw the reset ($(tr '\n' ' ' <"$DN_TMP/peer.out"))" grep -qx reset "$DN_TMP/peer.out"
out=$(dn_ctl kill connection "$DN_DAEMON_IP:9" 2>&1); rc=$?
check "kill connection matching nothing: exit 1, No such process ($out)" no_such "$rc" "$out"

# --- kill app
out=$(dn_ctl kill app "$app_pid" 2>&1); rc=$?
check "kill app $app_pid (exit $rc: $out)" test "$rc" -eq 0
for _ in $(seq 50); do
	dn_ctl -j show apps | grep -q '"apps":\[\]' && break
	sleep 0.1
done
jcheck "show apps is empty after kill app" "d['apps']==[]" show apps
jcheck "status counts no apps" "d['apps']==0" status
out=$(dn_ctl kill app "$app_pid" 2>&1); rc=$?
check "second kill app: exit 1, No such process ($out)" no_such "$rc" "$out"

dn_stop_daemon
check "SIGTERM exits 0 (got $DN_RC)" test "$DN_RC" -eq 0
dn_end
