#!/bin/bash
# make demo: start dillnetd in its own network namespace on a DPDK net_tap
# port, show it working against the Linux kernel there, and clean up.
set -uo pipefail
. "$(dirname "$0")/integ/lib.sh"
dn_begin demo
say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
# Steps that did not work, named at the end (the demo's exit status).
demo_failed=
demo_step() { [ "$2" -eq 0 ] || demo_failed="$demo_failed $1"; }

# Apps attach as an unprivileged user in group dillnet: on a first run
# both are made here from the project's sysusers files.
say "Group dillnet and app user $DN_APP_USER (systemd-sysusers systemd/dillnet.sysusers tests/demo.sysusers)"
dn_ensure_app_user || { echo "demo: cannot create group dillnet and user $DN_APP_USER"; exit 1; }
echo "group dillnet: $(getent group dillnet); user $DN_APP_USER: $(id "$DN_APP_USER")"

dn_write_conf
# Apps attach as unprivileged users in group dillnet (tests/demo_tcp.sh).
sed -i '/^sockets = {/,/^};/d' "$DN_CONF"
cat >> "$DN_CONF" <<CONF
sockets = { app_path = "$DN_APP"; app_group = "dillnet"; ctl_path = "$DN_CTL"; };
apps = { allowed_groups = [ "dillnet" ]; };
CONF
say "Configuration ($DN_CONF)"
cat "$DN_CONF"
say "Starting dillnetd in namespace $DN_NS on net_tap ($DN_TAP), --no-huge"
dn_start_daemon || exit 1
sleep 0.3
say "dillnetctl status"
dn_ctl status
say "The kernel in the namespace pings the daemon at $DN_DAEMON_IP"
dn_ns ping -c 3 -i 0.2 "$DN_DAEMON_IP"
demo_step ping $?
say "dillnetctl show arp"
dn_ctl show arp
say "dillnetctl show counters ip"
dn_ctl show counters ip
if [ -x "$DN_ROOT/tests/demo_tcp.sh" ]; then
	. "$DN_ROOT/tests/demo_tcp.sh"
fi
say "Stopping dillnetd (SIGTERM)"
dn_stop_daemon; rc=$DN_RC
echo "dillnetd exited with status $rc"
demo_step "dillnetd-exit" "$rc"
say "Done; namespace, sockets and DPDK files are removed on exit"
if [ -n "$demo_failed" ]; then
	echo "demo: FAILED:$demo_failed"
	exit 1
fi
