#!/bin/bash
# Issue 2: dillnetd on another PMD than net_tap: DPDK's net_af_packet on
# one end of a veth pair, the kernel on the other, both in a private
# namespace.  ARP both ways, ping, TCP both ways checked by sha256, round
# trips, the port in dillnetctl, the idle daemon not spinning (this PMD has
# no Rx interrupts: the idle loop waits on the PMD's packet socket), SIGTERM.
. "$(dirname "$0")/lib.sh"
dn_begin afpkt
check "unprivileged app user exists" dn_ensure_app_user
dn_payloads "${DN_AFPKT_MB:-16}"
LOAD=$B/tests/integ/dn_tcpload

dn_write_conf
sed -i '/^sockets = {/,/^};/d' "$DN_CONF"
echo 'sockets = { app_path = "'$DN_APP'"; app_group = "dillnet"; ctl_path = "'$DN_CTL'"; };
apps = { allowed_groups = [ "dillnet" ]; };' >> "$DN_CONF"
check "veth pair in the namespace, config names net_af_packet0 on its daemon end" \
	dn_af_packet_port
dmac=$(dn_ns cat "/sys/class/net/$DVETH/address")
check "daemon up on net_af_packet" dn_start_daemon

# The daemon reads the link state every 0.5 s, and the kernel's end of the
# veth (hence the carrier) came up only after the daemon started.
port_up() {
	port_json=$(dn_ctl -j show port)
	python3 -c '
import json, sys
d = json.loads(sys.argv[1])
sys.exit(not (d["port"] == "net_af_packet0" and d["driver"] == "net_af_packet" and d["link_up"] is True))' "$port_json"
}
dn_until 5 port_up
check "show port: net_af_packet0, link up ($port_json)" port_up
check "daemon answers ping over the veth" dn_ns ping -c 5 -i 0.05 -W 1 -q "$DN_DAEMON_IP"
kmac=$(dn_ns ip neigh show "$DN_DAEMON_IP" dev "$DN_TAP" | awk '{print $3}')
check "kernel resolved the daemon to the veth's MAC ($kmac = $dmac)" test "$kmac" = "$dmac"
check "daemon's ARP cache holds the kernel" \
	sh -c "\"$B/dillnetctl\" -s \"$DN_CTL\" show arp | grep -q '$DN_KERNEL_IP'"

t0=$SECONDS; dn_run_pair "af_packet" 5001; echo "$MB MiB each way, both set-ups: $((SECONDS - t0)) s"

rm -f "$DN_TMP/app/port"
dn_as_app_bg "$LOAD" -t 60 aserver 0 "$DN_TMP/app/port" > "$DN_TMP/as.out" 2>&1 &
AS=$!
DN_EXTRA_PIDS="$AS"
disown $AS
dn_until 10 test -s "$DN_TMP/app/port"
port=$(cat "$DN_TMP/app/port" 2>/dev/null)
out=$(dn_ns "$LOAD" --kernel -t 30 rr "$DN_DAEMON_IP" "${port:-1}" 500 2>&1)
check "500 round trips kernel -> app echo server ($out)" test $? -eq 0
out=$(dn_ns "$LOAD" --kernel -t 30 conc "$DN_DAEMON_IP" "${port:-1}" 100 2>&1)
check "100 concurrent kernel connections to the app ($out)" test $? -eq 0
kill "$AS" 2>/dev/null

grep -E "idle sleeps|Rx interrupts" "$DN_TMP/daemon.log" | sed 's/^/  log: /'
check "idle loop sleeps on the packet socket (no timed steps)" \
	grep -q "idle sleeps wait on the packet socket" "$DN_TMP/daemon.log"
# A frame to an idle daemon must wake it through the socket, not at its
# next timer.
dn_check_rx_wakeups "the packet socket"
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
sleep 1
t0=$(cpu_ticks "$DN_DAEMON_PID"); sleep 3; t1=$(cpu_ticks "$DN_DAEMON_PID")
pct=$(( (t1 - t0) * 100 / (3 * $(getconf CLK_TCK)) ))
echo "idle CPU on net_af_packet: ${pct}% of one core over 3 s"
check "idle daemon on net_af_packet does not spin (${pct}% < 10%)" test "$pct" -lt 10

dn_ctl show port | sed 's/^/  /'
dn_stop_daemon
check "SIGTERM exits 0 (got $DN_RC)" test "$DN_RC" -eq 0
dn_end
