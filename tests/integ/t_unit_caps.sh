#!/bin/bash
# The capability set in systemd/dillnetd.service is enough: run the real
# daemon on net_tap with exactly that bounding set and no_new_privs (what
# CapabilityBoundingSet= and NoNewPrivileges= do under systemd, which is
# not PID 1 here), and check it comes up, answers ping and dillnetctl, and
# stops cleanly.  A capability the daemon needs but the unit drops fails
# here instead of on a production host.
. "$(dirname "$0")/lib.sh"
dn_begin unitcaps

unit=$DN_ROOT/systemd/dillnetd.service
caps=$(sed -n 's/^CapabilityBoundingSet=//p' "$unit")
# setpriv spells CAP_NET_ADMIN as +net_admin.
bset=-all
for c in $caps; do
	c=${c#CAP_}
	bset="$bset,+${c,,}"
done
echo "# unit grants: $caps  (setpriv --bounding-set=$bset)"
check "the unit names a capability bounding set" test -n "$caps"

# The app socket goes to group dillnet, as in production: giving a file
# to a group root is not in is what needs CAP_CHOWN.
check "group dillnet exists" dn_ensure_app_user
dn_write_conf
sed -i 's/app_group = "root";/app_group = "dillnet";/' "$DN_CONF"
ip netns exec "$DN_NS" setpriv --no-new-privs --bounding-set="$bset" --inh-caps=-all \
	"$B/dillnetd" -c "$DN_CONF" >>"$DN_TMP/daemon.log" 2>&1 &
DN_DAEMON_PID=$!
for _ in $(seq 100); do
	[ -S "$DN_CTL" ] && dn_ns ip link show "$DN_TAP" >/dev/null 2>&1 && break
	kill -0 "$DN_DAEMON_PID" 2>/dev/null || break
	sleep 0.1
done
check "daemon starts with only the unit's capabilities" test -S "$DN_CTL"

if [ -S "$DN_CTL" ]; then
	# The kernel's view of the running daemon: nothing beyond the set.
	want=0
	for c in $caps; do
		n=$(awk -v c="${c,,}" 'BEGIN {
			split("chown dac_override dac_read_search fowner fsetid kill setgid setuid setpcap linux_immutable net_bind_service net_broadcast net_admin net_raw ipc_lock ipc_owner sys_module sys_rawio sys_chroot sys_ptrace sys_pacct sys_admin sys_boot sys_nice sys_resource sys_time sys_tty_config mknod lease audit_write audit_control setfcap mac_override mac_admin syslog wake_alarm block_suspend audit_read perfmon bpf checkpoint_restore", n, " ");
			for (i in n) if ("cap_" n[i] == c) print i - 1 }')
		want=$((want | (1 << n)))
	done
	eff=$((16#$(awk '/^CapEff:/ {print $2}' "/proc/$DN_DAEMON_PID/status")))
	check "daemon's effective capabilities are within the unit's set ($(printf '%#x' "$eff") within $(printf '%#x' "$want"))" \
		test $((eff & ~want)) -eq 0
	check "no_new_privs is set" grep -q '^NoNewPrivs:[[:space:]]*1' "/proc/$DN_DAEMON_PID/status"

	dn_ns ip addr add "$DN_KERNEL_IP/$DN_PREFIX_LEN" dev "$DN_TAP"
	dn_ns ip link set "$DN_TAP" up
	dn_ns ethtool -K "$DN_TAP" tx off rx off tso off gso off gro off >/dev/null 2>&1 || true
	check "kernel pings the daemon" dn_ns ping -c 3 -i 0.1 -W 1 -q "$DN_DAEMON_IP"
	check "app socket created and given to group dillnet ($(stat -c '%G %a' "$DN_APP" 2>&1))" \
		test "$(stat -c '%G %a' "$DN_APP" 2>/dev/null)" = "dillnet 660"
	check "dillnetctl status answers" sh -c "\"$B/dillnetctl\" -s \"$DN_CTL\" status | grep -q '$DN_DAEMON_IP/$DN_PREFIX_LEN'"
	dn_stop_daemon
	check "SIGTERM exits 0 (got $DN_RC)" test "$DN_RC" -eq 0
fi

dn_end
