#!/bin/bash
# Issue 5: libdillnet's API contract proven against the real dillnetd on
# net_tap, the Linux kernel of the namespace as the peer, the app as an
# unprivileged user.  tests/integ/conformance.c holds the cases (deadlines,
# exchange and close, half-close, back-pressure, hclose's close(2)-like
# delivery and RST, tcp_close at its deadline, a peer's RST, port 0, buffer
# sizes, iolists, every errno that can be provoked, an epoll loop on
# dillnet_pollfd serving 100 connections); tests/integ/conf_peer.py is the
# kernel side (echo, sink, pattern, reset, dialer).  Extra arguments name
# the cases to run (default: all).
. "$(dirname "$0")/lib.sh"
dn_begin conform
T0=$SECONDS
# Small enough to reach in a test, large enough for the 100-connection case.
MAX_SOCKETS=128
# An address in the subnet nobody owns: no ARP answer.
UNREACH=198.18.0.77
check "unprivileged app user exists" dn_ensure_app_user
mkdir "$DN_TMP/app" && chown "$DN_APP_USER:dillnet" "$DN_TMP/app"

dn_write_conf
sed -i '/^sockets = {/,/^};/d' "$DN_CONF"
cat >> "$DN_CONF" <<CONF
sockets = { app_path = "$DN_APP"; app_group = "dillnet"; ctl_path = "$DN_CTL"; };
apps = { allowed_groups = [ "dillnet" ]; max_sockets = $MAX_SOCKETS; region_mb = 32;
  rx_buffer = 65536; tx_buffer = 65536; };
tcp = { time_wait_s = 1; };
CONF
check "daemon up" dn_start_daemon

# Bounded: the peers exit on their own after 100 s.
dn_ns /usr/bin/python3 "$DN_ROOT/tests/integ/conf_peer.py" "$DN_KERNEL_IP" "$DN_DAEMON_IP" \
	--lifetime=100 > "$DN_TMP/peer.out" 2>&1 &
DN_EXTRA_PIDS="${DN_EXTRA_PIDS:-} $!"
disown $!   # killed by the trap; no job notice
for _ in $(seq 50); do grep -q ready "$DN_TMP/peer.out" 2>/dev/null && break; sleep 0.1; done
check "kernel-side peers listening" grep -q ready "$DN_TMP/peer.out"

# Each case has its own alarm inside the program; this bounds the whole.
timeout -k 5 90 setpriv --reuid="$DN_APP_USER" --regid=dillnet --init-groups -- \
	env DILLNET_SOCKET="$DN_APP" "$B/tests/integ/conformance" \
	"$DN_KERNEL_IP" "$DN_DAEMON_IP" "$UNREACH" "$MAX_SOCKETS" "$@" \
	> "$DN_TMP/conf.out" 2>&1
rc=$?
cat "$DN_TMP/conf.out"
summary=$(grep '^conformance:' "$DN_TMP/conf.out")
check "conformance program exit $rc (${summary:-no summary line})" test $rc -eq 0
if grep -q '^peer\|^dialer' "$DN_TMP/peer.out"; then
	echo "--- kernel peer notes"; grep '^peer\|^dialer' "$DN_TMP/peer.out"
fi
check "daemon still running" kill -0 "$DN_DAEMON_PID"
# The app is gone: so are its attachment and, after TIME-WAIT (1 s here),
# every connection it had.
gone() {
	local i
	for i in $(seq 50); do
		if [ "$(dn_ctl show apps | grep -c '^[0-9]')" -eq 0 ] &&
		   [ "$(dn_ctl show connections | grep -c '^[A-Z][A-Z-]* ')" -le 1 ]; then
			return 0
		fi
		sleep 0.1
	done
	dn_ctl show apps; dn_ctl show connections
	return 1
}
check "after the program: no app attached, no connection left" gone
echo "t_conformance: $((SECONDS - T0)) s"
dn_end
