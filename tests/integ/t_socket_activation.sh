#!/bin/bash
# Socket activation the way systemd/dillnetd-{app,ctl}.socket do it, without
# systemd as PID 1: systemd-socket-activate listens on two SOCK_SEQPACKET
# sockets named "app" and "ctl" (the units' FileDescriptorName=), starts
# dillnetd on the first connection, and passes both.  Checks the daemon
# serves dillnetctl on the passed ctl socket (not on the path in its
# configuration), that a client arriving before the daemon is up waits in
# the backlog instead of failing, and that the daemon leaves the passed
# socket files alone at exit (they belong to the socket units).
. "$(dirname "$0")/lib.sh"
dn_begin sockact

if ! command -v systemd-socket-activate >/dev/null; then
	fail "systemd-socket-activate not found (apt-get install systemd)"
	dn_end
	exit 1
fi

# The names must be the ones the units give.
for u in app ctl; do
	check "dillnetd-$u.socket names its descriptor '$u'" \
		grep -qx "FileDescriptorName=$u" "$DN_ROOT/systemd/dillnetd-$u.socket"
done

dn_write_conf
sa_app=$DN_TMP/sa-app.sock
sa_ctl=$DN_TMP/sa-ctl.sock
ip netns exec "$DN_NS" systemd-socket-activate --seqpacket \
	-l "$sa_app" -l "$sa_ctl" --fdname=app:ctl \
	"$B/dillnetd" -c "$DN_CONF" >>"$DN_TMP/daemon.log" 2>&1 &
DN_DAEMON_PID=$!
for _ in $(seq 50); do
	[ -S "$sa_ctl" ] && [ -S "$sa_app" ] && break
	sleep 0.1
done
check "activator listens on both sockets" test -S "$sa_ctl" -a -S "$sa_app"

# The first client starts the daemon and is served once it is ready: the
# whole EAL start-up happens while dillnetctl waits (its 5 s timeout).
t0=$(date +%s%N)
out=$("$B/dillnetctl" -s "$sa_ctl" status 2>&1)
rc=$?
ms=$((($(date +%s%N) - t0) / 1000000))
echo "# first status after activation took ${ms} ms"
check "first dillnetctl status starts and reaches the daemon (exit $rc)" test "$rc" -eq 0
check "status comes from the daemon ($DN_DAEMON_IP/$DN_PREFIX_LEN)" grep -q "$DN_DAEMON_IP/$DN_PREFIX_LEN" <<<"$out"
check "daemon is the activated process" grep -q "^pid  *$DN_DAEMON_PID\$" <<<"$out"
check "daemon did not bind its configured ctl path" test ! -e "$DN_CTL"
json_ok() { python3 -m json.tool >/dev/null <<<"$1"; }
out=$("$B/dillnetctl" -s "$sa_ctl" -j show port 2>&1)
check "second request on the passed socket (valid JSON)" json_ok "$out"

dn_stop_daemon
check "SIGTERM exits 0 (got $DN_RC)" test "$DN_RC" -eq 0
check "passed ctl socket file left for its owner" test -S "$sa_ctl"
dn_end
