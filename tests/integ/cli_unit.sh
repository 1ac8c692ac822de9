#!/bin/bash
# dillnetctl on its own: exit statuses and messages with no daemon, and the
# full request/reply path against tests/integ/fake_ctl.py, a stand-in ctl
# server that packs frames from proto/dn_msg.h independently of the C code
# (so framing and struct layout are checked from both sides), plus JSON
# validity with python3 -m json.tool.  Needs no root, DPDK or daemon.
set -uo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
CTL=${DILLNETCTL:-$root/build/dillnetctl}
PY=$(command -v python3 || echo /usr/bin/python3)

if [ ! -x "$CTL" ]; then
	echo "FAIL - $CTL is not built (make build/dillnetctl)"
	echo "cli: 0 passed, 1 failed"
	exit 1
fi

tmp=$(mktemp -d /tmp/dn-cli.XXXXXX)
srv_pid=
cleanup() {
	if [ -n "$srv_pid" ]; then
		kill "$srv_pid" 2>/dev/null
		wait "$srv_pid" 2>/dev/null
	fi
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP

pass=0
fail=0
ok()  { pass=$((pass + 1)); echo "ok - $1"; }
bad() {
	fail=$((fail + 1))
	echo "FAIL - $1"
	for f in "$tmp/out" "$tmp/err"; do
		[ -s "$f" ] && sed "s|^|    $(basename "$f"): |" "$f" | head -8
	done
	return 0
}

# run ARGS...: dillnetctl with stdout/stderr captured, bounded in time;
# sets rc and ms (how long it took).
run() {
	local t0
	t0=$(date +%s%N)
	timeout 20 "$CTL" "$@" >"$tmp/out" 2>"$tmp/err"
	rc=$?
	ms=$((($(date +%s%N) - t0) / 1000000))
}

# expect NAME RC [FILE PATTERN]...: exit status and fixed strings in output.
expect() {
	local name=$1 want=$2
	shift 2
	if [ "$rc" != "$want" ]; then
		bad "$name (exit $rc, want $want)"
		return
	fi
	while [ $# -ge 2 ]; do
		if ! grep -qF -- "$2" "$tmp/$1"; then
			bad "$name ($1 lacks: $2)"
			return
		fi
		shift 2
	done
	ok "$name"
}

# json NAME PYTHON-EXPR: stdout is valid JSON (json.tool) and the
# expression holds for it, as `d`.
json() {
	local name=$1 expr=$2
	if [ "$rc" != 0 ]; then
		bad "$name (exit $rc)"
	elif ! "$PY" -m json.tool "$tmp/out" >/dev/null 2>"$tmp/jerr"; then
		cp "$tmp/jerr" "$tmp/err"
		bad "$name (not valid JSON)"
	elif [ "$(wc -l <"$tmp/out")" != 1 ]; then
		bad "$name (want exactly one line, one object)"
	elif ! "$PY" -c "import json,sys; d=json.load(open(sys.argv[1])); sys.exit(0 if ($expr) else 1)" \
		"$tmp/out" 2>"$tmp/jerr"; then
		cat "$tmp/jerr" >>"$tmp/err"
		bad "$name (JSON content: $expr)"
	else
		ok "$name"
	fi
}

sock=$tmp/ctl.sock
# start_srv SCENARIO: fake server on $sock, waiting (bounded) until it
# listens.
start_srv() {
	rm -f "$sock" "$tmp/srv.log"
	"$PY" "$here/fake_ctl.py" "$sock" "$1" "$tmp/srv.log" &
	srv_pid=$!
	for _ in $(seq 50); do
		[ -S "$sock" ] && return 0
		sleep 0.1
	done
	echo "fake server did not start"
	return 1
}
# stop_srv: it exits by itself after one client; kill it if it did not.
stop_srv() {
	[ -n "$srv_pid" ] || return 0
	for _ in $(seq 30); do
		kill -0 "$srv_pid" 2>/dev/null || break
		sleep 0.1
	done
	kill "$srv_pid" 2>/dev/null
	wait "$srv_pid" 2>/dev/null
	srv_pid=
}
# served SCENARIO ARGS...: run dillnetctl against a fresh fake server.
served() {
	local scen=$1
	shift
	start_srv "$scen" || { rc=99; return; }
	run -s "$sock" "$@"
	stop_srv
}

# ---- no daemon needed -----------------------------------------------------

run -h
expect "-h prints usage and every command" 0 out "usage: dillnetctl" out "show counters [PREFIX]" \
	out "set log-level LEVEL" out "kill app PID"
run --help
expect "--help" 0 out "usage: dillnetctl"
run -V
expect "-V prints version and protocol" 0 out "dillnetctl 0.1.0 (dillnet protocol 1."
run
expect "no command: usage, exit 2" 2 err "no command given" err "usage: dillnetctl"
run frobnicate
expect "unknown command: exit 2" 2 err "unknown command 'frobnicate'" err "usage:"
run show
expect "incomplete command 'show': exit 2, lists the show commands" 2 \
	err "incomplete or unknown command 'show ...'; one of: show port, show arp"
run -x status
expect "unknown option: exit 2" 2 err "usage:"
run -s
expect "-s without path: exit 2" 2 err "usage:"
run status extra
expect "too many arguments: exit 2" 2 err "status: wrong number of arguments"
run set log-level
expect "missing argument: exit 2" 2 err "set log-level: wrong number of arguments"
run show counters tcp ip
expect "show counters takes one prefix: exit 2" 2 err "wrong number of arguments"
run -s "$tmp/none.sock" set log-level loud
expect "bad log level: exit 2 before connecting" 2 err "unknown log level 'loud'"

run -s "$tmp/none.sock" status
expect "no socket: exit 3" 3 err "dillnetd is not running (no socket at $tmp/none.sock)"
DILLNET_CTL_SOCKET=$tmp/env.sock run status
expect "DILLNET_CTL_SOCKET is used" 3 err "no socket at $tmp/env.sock"
DILLNET_CTL_SOCKET=$tmp/env.sock run -s "$tmp/opt.sock" status
expect "-s overrides DILLNET_CTL_SOCKET" 3 err "no socket at $tmp/opt.sock"
run -s "$tmp/$(printf 'x%.0s' $(seq 120)).sock" status
expect "socket path too long: exit 2" 2 err "socket path too long"

# A socket file nobody listens on: what a crashed daemon leaves behind.
"$PY" -c 'import socket,sys; socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET).bind(sys.argv[1])' \
	"$tmp/stale.sock"
run -s "$tmp/stale.sock" status
expect "stale socket (ECONNREFUSED): exit 3" 3 err "dillnetd is not running (nothing listening on $tmp/stale.sock)"

# A stream socket is not the ctl socket.
"$PY" -c 'import socket,sys,time; s=socket.socket(socket.AF_UNIX, socket.SOCK_STREAM); s.bind(sys.argv[1]); s.listen(1); time.sleep(3)' \
	"$tmp/stream.sock" &
spid=$!
for _ in $(seq 50); do [ -S "$tmp/stream.sock" ] && break; sleep 0.1; done
run -s "$tmp/stream.sock" status
kill "$spid" 2>/dev/null; wait "$spid" 2>/dev/null
expect "wrong socket type: exit 1" 1 err "not a dillnetd ctl socket"

# Permission denied: a 0600 socket owned by someone else.  As root, use
# nobody; otherwise the mode alone refuses us.
start_srv ok
chmod 0600 "$sock"
chmod 0755 "$tmp"
if [ "$(id -u)" = 0 ]; then
	if setpriv --reuid=nobody --regid=nogroup --clear-groups test -x "$CTL" 2>/dev/null; then
		timeout 20 setpriv --reuid=nobody --regid=nogroup --clear-groups "$CTL" -s "$sock" status \
			>"$tmp/out" 2>"$tmp/err"
		rc=$?
		expect "permission denied: exit 4" 4 err "permission denied on $sock"
	else
		echo "skip - permission test: nobody cannot execute $CTL"
	fi
else
	chmod 0000 "$sock"
	run -s "$sock" status
	expect "permission denied: exit 4" 4 err "permission denied on $sock"
fi
chmod 0700 "$tmp"
stop_srv

# Commands whose message types the protocol does not have yet must say so.
for c in "show apps:CTL_APPS" "kill app 1:CTL_KILL_APP" \
	 "show connections:CTL_CONNS" "kill connection 1:CTL_KILL_CONN"; do
	words=${c%%:*}
	type=${c##*:}
	if grep -q "X($type," "$root/proto/dn_msg.h"; then
		continue
	fi
	# shellcheck disable=SC2086
	run -s "$tmp/none.sock" $words
	expect "'$words' without $type: not supported" 1 err "not supported by this daemon"
done

# Writing output that cannot be written is a failure.
timeout 20 "$CTL" -h >/dev/full 2>"$tmp/err"
rc=$?
expect "-h to /dev/full: exit 1" 1

# ---- manual pages ------------------------------------------------------------

for page in "$root/daemon/man/dillnetctl.8" "$root/daemon/man/dillnetd.8"; do
	name=$(basename "$page")
	if ! command -v man >/dev/null; then
		echo "skip - $name: man not installed (apt-get install man-db groff-base)"
		continue
	fi
	rc=0
	MANWIDTH=80 timeout 20 man -l --warnings=w "$page" >"$tmp/out" 2>"$tmp/err" || rc=$?
	if [ "$rc" = 0 ] && [ ! -s "$tmp/err" ] && grep -q SYNOPSIS "$tmp/out"; then
		ok "$name renders without warnings"
	else
		bad "$name renders without warnings (exit $rc)"
	fi
done
# Every command in the program's own usage is documented in its page.
if [ -f "$root/daemon/man/dillnetctl.8" ]; then
	# The words of each command: the synopsis column, minus its
	# arguments (upper case or bracketed).
	"$CTL" -h | awk '/^commands:/ { on = 1; next } on && /^$/ { exit }
		on { sub(/^  /, ""); sub(/  .*/, ""); w = "";
		     n = split($0, t, " ");
		     for (i = 1; i <= n; i++) if (t[i] !~ /^[A-Z[]/) w = w (w ? " " : "") t[i];
		     print w }' >"$tmp/cmds"
	: >"$tmp/err"
	MANWIDTH=200 man -l "$root/daemon/man/dillnetctl.8" 2>/dev/null | sed 's/\xe2\x80\x90/-/g' >"$tmp/page"
	while read -r c; do
		grep -q "^       $c\b" "$tmp/page" || echo "not documented: $c" >>"$tmp/err"
	done <"$tmp/cmds"
	if [ -s "$tmp/cmds" ] && [ ! -s "$tmp/err" ]; then
		ok "dillnetctl.8 documents all $(wc -l <"$tmp/cmds") commands of -h"
	else
		bad "dillnetctl.8 documents every command of -h"
	fi
fi

# ---- against the fake server --------------------------------------------

served ok status
expect "status (text)" 0 out "0.1.0" out "1d 01:01:01" out "4242" out "net_tap0" \
	out "02:00:00:00:00:02" out "up, 10000 Mb/s" out "198.18.0.2/24" out "198.18.0.1" \
	out "1500" out "adaptive" out "info" out "off"
if grep -q "hello magic=0x444e4554 version=1.0 name=dillnetctl" "$tmp/srv.log" &&
   grep -q "hello type=1 len=48 id=1" "$tmp/srv.log" &&
   grep -q "request type=16 flags=0 len=0 id=2" "$tmp/srv.log"; then
	ok "HELLO and request frames as the server saw them"
else
	cp "$tmp/srv.log" "$tmp/err"
	bad "HELLO and request frames as the server saw them"
fi

served ok -j status
json "status -j" 'd["version"]=="0.1.0" and d["uptime_ms"]==90061000 and d["pid"]==4242 and d["link_up"] is True and d["address"]=="198.18.0.2" and d["prefix_len"]==24 and d["gateway"]=="198.18.0.1" and d["log_level"]=="info" and d["poll_mode"]=="adaptive" and d["fault_injector"] is False and d["apps"]==2'

served ok show port
expect "show port (text), control bytes shown as \\xNN" 0 out "full duplex" out "rx_nombuf" \
	out "18446744073709551615" out 'tap "x" \x5c \x01\x09\xff'
if LC_ALL=C grep -q $'[\x01\t\xff]' "$tmp/out"; then
	bad "show port (text) passes raw control bytes to the terminal"
else
	ok "show port (text) has no raw control bytes"
fi
served ok -j show port
json "show port -j: hostile name escaped, u64 max exact" \
	'd["port"]=="tap \"x\" \\ \x01\t\ufffd" and d["stats"]["rx_nombuf"]==2**64-1 and d["stats"]["ipackets"]==10 and d["full_duplex"] is True'

served ok show arp
expect "show arp (text)" 0 out "198.18.0.1" out "02:00:00:00:00:01" out "reachable" \
	out "198.18.0.9" out "incomplete"
served ok -j show arp
json "show arp -j: array of entries" \
	'len(d["arp"])==2 and d["arp"][0]["mac"]=="02:00:00:00:00:01" and d["arp"][1]["mac"] is None and d["arp"][1]["state"]=="incomplete" and d["arp"][1]["queued"]==3'

served ok show counters
expect "show counters (text)" 0 out "tcp_rx_segments" out "ip_rx_packets" out 'odd "name"'
served ok show counters tcp
if [ "$rc" = 0 ] && grep -q tcp_rx_bad_csum "$tmp/out" && ! grep -q ip_rx_packets "$tmp/out"; then
	ok "show counters tcp filters by prefix"
else
	bad "show counters tcp filters by prefix (exit $rc)"
fi
served ok -j show counters
json "show counters -j" 'len(d["counters"])==4 and {"name":"odd \"name\"","value":7} in d["counters"]'
served ok -j show counters tcp
json "show counters tcp -j" '[c["name"] for c in d["counters"]]==["tcp_rx_segments","tcp_rx_bad_csum"]'

served ok set log-level debug
expect "set log-level debug" 0 out "log level set to debug"
if grep -q "request type=20 flags=0 len=16 id=2" "$tmp/srv.log" && grep -qx "level=debug" "$tmp/srv.log"; then
	ok "set log-level sends CTL_LOGLEVEL with the level"
else
	cp "$tmp/srv.log" "$tmp/err"
	bad "set log-level sends CTL_LOGLEVEL with the level"
fi
served ok -j set log-level warn
json "set log-level -j" 'd["ok"] is True and d["args"]==["warn"]'

if grep -q "X(CTL_APPS," "$root/proto/dn_msg.h"; then
	served ok show apps
	expect "show apps (text), app-chosen name escaped" 0 out "1234" out "web" out "67108864" \
		out 'evil\x1b[2J"\x5c'
	if [ "$rc" = 0 ] && grep -q "^PID" "$tmp/out" && ! LC_ALL=C grep -q $'\x1b' "$tmp/out"; then
		ok "show apps (text) has a header and no raw escape byte"
	else
		bad "show apps (text) has a header and no raw escape byte"
	fi
	served ok -j show apps
	json "show apps -j" 'len(d["apps"])==2 and d["apps"][0]["pid"]==1234 and d["apps"][0]["attach_time_ms"]==1700000000000 and d["apps"][1]["name"]=="evil\x1b[2J\"\\" and d["apps"][0]["region_size"]==1<<26 and d["apps"][0]["listeners"]==1 and d["apps"][0]["uid_apps"]==2 and d["apps"][0]["uid_pending"]==1 and d["apps"][0]["uid_sockets"]==7 and d["apps"][0]["uid_listeners"]==1 and d["apps"][0]["uid_orphans"]==4 and d["apps"][0]["uid_region"]==3<<26'
fi
if grep -q "X(CTL_KILL_APP," "$root/proto/dn_msg.h"; then
	run -s "$tmp/none.sock" kill app 12x
	expect "kill app with a non-numeric pid: exit 2" 2 err "'12x' is not a process id"
	run -s "$tmp/none.sock" kill app 0
	expect "kill app 0: exit 2" 2 err "'0' is not a process id"
	served ok kill app 1234
	expect "kill app 1234" 0 out "applications of pid 1234 disconnected"
	if grep -qx "kill pid=1234 pad=0" "$tmp/srv.log" && grep -q "request type=22 flags=0 len=8 id=2" "$tmp/srv.log"; then
		ok "kill app sends CTL_KILL_APP with the pid"
	else
		cp "$tmp/srv.log" "$tmp/err"
		bad "kill app sends CTL_KILL_APP with the pid"
	fi
	served esrch kill app 999
	expect "kill app of a pid with no app: strerror, exit 1" 1 err "kill app: No such process"
fi

if grep -q "X(CTL_CONNS," "$root/proto/dn_msg.h"; then
	served ok show connections
	expect "show connections (text)" 0 out "ESTABLISHED" out "198.18.0.2:80" out "198.18.0.1:40000" \
		out "1.234" out "201.234" out "cubic" out "LISTEN" out "*:8080" out "*:*"
	served ok -j show connections
	json "show connections -j" 'len(d["connections"])==2 and d["connections"][0]["local_address"]=="198.18.0.2" and d["connections"][0]["remote_port"]==40000 and d["connections"][0]["srtt_us"]==1234 and d["connections"][0]["ssthresh"]==2**31 and d["connections"][0]["sack"] is True and d["connections"][0]["app_pid"]==1234 and d["connections"][1]["remote_address"] is None and d["connections"][1]["app_pid"] is None and d["connections"][1]["state"]=="LISTEN"'
fi
if grep -q "X(CTL_KILL_CONN," "$root/proto/dn_msg.h"; then
	for bad_args in "*:*" "*:* *:*" "198.18.0.2" "198.18.0.2:70000" "host:80" "198.18.0.2:-1" "1.2.3.4:80 5.6.7.8:9 x"; do
		# shellcheck disable=SC2086
		run -s "$tmp/none.sock" kill connection $bad_args
		expect "kill connection '$bad_args': exit 2" 2
	done
	served ok kill connection 198.18.0.2:80 '198.18.0.1:*'
	expect "kill connection 198.18.0.2:80 198.18.0.1:*" 0 out "198.18.0.2:80 198.18.0.1:* reset"
	if grep -qx "kill conn 198.18.0.2:80 198.18.0.1:0 pad=0" "$tmp/srv.log"; then
		ok "kill connection sends the 4-tuple in host order, * as 0"
	else
		cp "$tmp/srv.log" "$tmp/err"
		bad "kill connection sends the 4-tuple in host order, * as 0"
	fi
	served ok kill connection '*:8080'
	if [ "$rc" = 0 ] && grep -qx "kill conn 0.0.0.0:8080 0.0.0.0:0 pad=0" "$tmp/srv.log"; then
		ok "kill connection with a local port only"
	else
		cp "$tmp/srv.log" "$tmp/err"
		bad "kill connection with a local port only (exit $rc)"
	fi
	served esrch kill connection '*:9'
	expect "kill connection matching nothing: exit 1" 1 err "No such process"
fi

# ---- the daemon says no, or misbehaves -----------------------------------

served major status
expect "major version mismatch names both versions" 1 err "peer speaks 9.3, we speak 1.0"
served hello_refused status
expect "HELLO refused" 1 err "dillnetd refused HELLO (we speak protocol 1.0)"
served error status
expect "error reply: strerror, exit 1" 1 err "dillnetctl: status: Invalid argument"
served error -j show arp
if [ "$rc" = 1 ] && "$PY" -c 'import json,sys; d=json.load(open(sys.argv[1])); sys.exit(0 if d["error"]["errno"]==22 else 1)' "$tmp/out" 2>/dev/null; then
	ok "error reply with -j: JSON error object, exit 1"
else
	bad "error reply with -j: JSON error object, exit 1 (exit $rc)"
fi
served eperm status
expect "EPERM reply: exit 4" 4 err "Operation not permitted"
served unsupported show port
expect "EOPNOTSUPP reply: not supported" 1 err "show port: not supported by this daemon"
served unsupported -j show port
json_err() {
	[ "$rc" = 1 ] && "$PY" -c 'import json,sys; d=json.load(open(sys.argv[1])); sys.exit(0 if d["error"]["errno"]==int(sys.argv[2]) else 1)' "$tmp/out" "$1" 2>/dev/null
}
if json_err 95; then
	ok "EOPNOTSUPP reply with -j: JSON error object"
else
	bad "EOPNOTSUPP reply with -j: JSON error object (exit $rc)"
fi
served badid status
expect "reply with the wrong request id" 1 err "protocol error: expected reply to CTL_STATUS id 2"
served badtype status
expect "reply of the wrong type" 1 err "protocol error: expected reply to CTL_STATUS"
served notreply status
expect "reply without the reply flag" 1 err "protocol error"
served badsize status
expect "reply with a wrong payload size" 1 err "invalid reply to CTL_STATUS" err "Bad message"
served badsize show counters
expect "list reply with a count/size mismatch" 1 err "invalid reply to CTL_COUNTERS"
served badlen status
expect "header length disagreeing with the frame" 1 err "invalid reply"
served badstr status
expect "unterminated string in reply" 1 err "invalid reply"
served close status
expect "daemon closes after HELLO" 1 err "closed the connection"

served silent status
if [ "$rc" = 1 ] && grep -qF "timed out waiting for dillnetd's reply to CTL_STATUS after 5 s" "$tmp/err" &&
   [ "$ms" -ge 4500 ] && [ "$ms" -le 6500 ]; then
	ok "silent daemon: timeout after 5 s, exit 1 (${ms} ms)"
else
	bad "silent daemon: timeout after 5 s, exit 1 (exit $rc, ${ms} ms)"
fi

echo "cli: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
