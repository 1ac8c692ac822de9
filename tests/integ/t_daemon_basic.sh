#!/bin/bash
# Issue 2: dillnetd comes up on a DPDK net_tap port with --no-huge in its own
# namespace; the kernel pings it; dillnetctl works (text and JSON); 10,000
# malformed frames are counted and the daemon still answers; a bad config is
# refused with its line; the idle CPU of adaptive and busy mode is measured;
# SIGTERM exits 0 and leaves no files behind.
. "$(dirname "$0")/lib.sh"
dn_begin basic

# --- a bad config is refused with file:line, exit 1, before anything starts
printf 'ip = {\n  address = "198.18.0.2/24";\n  bogus_key = 1;\n};\n' > "$DN_TMP/bad.conf"
out=$("$B/dillnetd" -t -c "$DN_TMP/bad.conf" 2>&1); rc=$?
check "bad config refused with exit 1 (got $rc)" test "$rc" -eq 1
check "bad config message names file:line ($out)" grep -q "bad.conf:3" <<<"$out"
dn_write_conf
out=$("$B/dillnetd" -t -c "$DN_CONF" 2>&1); rc=$?
check "good config accepted by -t ($out)" test "$rc" -eq 0

# --- start and ping
check "daemon starts on net_tap with --no-huge" dn_start_daemon
check "kernel pings the daemon, 0% loss" \
	dn_ns ping -c 20 -i 0.05 -W 1 -q "$DN_DAEMON_IP"
check "large ping (1400 bytes) answered" dn_ns ping -c 3 -s 1400 -W 1 -q "$DN_DAEMON_IP"
mac=$(dn_ns ip neigh show "$DN_DAEMON_IP" dev "$DN_TAP" | awk '{print $3}')
check "kernel learned the daemon's MAC by ARP ($mac)" grep -Eq '^([0-9a-f]{2}:){5}[0-9a-f]{2}$' <<<"$mac"

# --- dillnetctl
st=$(dn_ctl status 2>&1)
check "dillnetctl status shows the address" grep -q "$DN_DAEMON_IP/$DN_PREFIX_LEN" <<<"$st"
check "dillnetctl status shows link up" grep -qi "link.*up" <<<"$st"
check "dillnetctl -j status is valid JSON" sh -c "\"$B/dillnetctl\" -s \"$DN_CTL\" -j status | python3 -m json.tool >/dev/null"
check "dillnetctl -j show counters is valid JSON" sh -c "\"$B/dillnetctl\" -s \"$DN_CTL\" -j show counters | python3 -m json.tool >/dev/null"
check "dillnetctl show port" sh -c "\"$B/dillnetctl\" -s \"$DN_CTL\" show port | grep -q net_tap"
check "dillnetctl show arp lists the kernel" sh -c "\"$B/dillnetctl\" -s \"$DN_CTL\" show arp | grep -q $DN_KERNEL_IP"
check "dillnetctl set log-level debug" sh -c "\"$B/dillnetctl\" -s \"$DN_CTL\" set log-level debug >/dev/null"
check "dillnetctl set log-level rejects nonsense" sh -c "! \"$B/dillnetctl\" -s \"$DN_CTL\" set log-level shouting 2>/dev/null"
dn_ctl set log-level info >/dev/null

# --- malformed frames: counted, daemon carries on
counters_sum() {
	"$B/dillnetctl" -s "$DN_CTL" -j show counters | python3 -c '
import json, re, sys
c = json.load(sys.stdin)["counters"]
drop = re.compile(r"(short|bad|fragment|unknown|trunc|malformed|invalid|not_for_us|error|drop)")
print(sum(x["value"] for x in c if drop.search(x["name"])))'
}
tap_tx() { dn_ns cat "/sys/class/net/$DN_TAP/statistics/tx_packets"; }
before=$(counters_sum)
# A deeper tun queue so a daemon that is a moment late (two busy cores)
# still sees every frame; what the kernel drops anyway is reported.
dn_ns ip link set "$DN_TAP" txqueuelen 20000
drops0=$(dn_ns cat "/sys/class/net/$DN_TAP/statistics/tx_dropped")
tx0=$(tap_tx)
dn_ns /usr/bin/python3 "$DN_ROOT/tests/integ/malformed.py" "$DN_TAP" "$mac" \
	"$DN_KERNEL_IP" "$DN_DAEMON_IP" 10000 7 > "$DN_TMP/malformed.txt"
all_counted() { test $(( $(counters_sum) - before )) -ge 10000; }
dn_until 10 all_counted
sleep 0.3   # and a moment more, so a frame counted twice would show
after=$(counters_sum)
delta=$((after - before))
handed=$(( $(tap_tx) - tx0 ))
echo "kernel handed $handed frames to the tap; the daemon counted $delta drops"
kdrop=$(( $(dn_ns cat "/sys/class/net/$DN_TAP/statistics/tx_dropped") - drops0 ))
echo "kernel tap queue dropped $kdrop"
check "the kernel handed all 10,000 frames to the port ($handed, $kdrop dropped in the kernel)" \
	test "$handed" -ge 10000
# The kernel may slip a frame of its own into the window (an ARP probe
# for the daemon's address, which is answered, not dropped): every one
# of the 10,000 must be counted, and nothing counted twice.
check "every malformed frame the port got was counted as a drop (counted $delta of $handed, 10000 malformed)" \
	test "$delta" -ge 10000 -a "$delta" -le "$handed"
check "daemon still answers ping after malformed frames" \
	dn_ns ping -c 5 -i 0.05 -W 1 -q "$DN_DAEMON_IP"
check "daemon process still alive" kill -0 "$DN_DAEMON_PID"

# --- SIGHUP: log level and fault injector reload; port settings need a restart
sed -i 's/level = "info"/level = "debug"/; s/mtu = 1500/mtu = 1400/' "$DN_CONF"
echo 'fault = { enabled = true; seed = 3; rx = { loss = 0.0; }; };' >> "$DN_CONF"
kill -HUP "$DN_DAEMON_PID"
dn_until 5 grep -q "port.*restart" "$DN_TMP/daemon.log"
st=$(dn_ctl -j status)
check "SIGHUP reloaded the log level" grep -q '"log_level":"debug"' <<<"$st"
check "SIGHUP switched the fault injector on" grep -Eq '"fault(_enabled|_injector)?":(true|"on")' <<<"$st"
check "SIGHUP says which settings need a restart" grep -q "port.*restart" "$DN_TMP/daemon.log"
check "daemon still answers after reload" dn_ns ping -c 2 -i 0.1 -W 1 -q "$DN_DAEMON_IP"
printf 'ip = {\n  address = "bad";\n};\n' >> "$DN_CONF"
kill -HUP "$DN_DAEMON_PID"
dn_until 5 grep -q "reload refused" "$DN_TMP/daemon.log"
check "a broken file on SIGHUP is refused, the daemon keeps running" \
	sh -c "grep -q 'reload refused' '$DN_TMP/daemon.log' && kill -0 $DN_DAEMON_PID"

# --- idle CPU, adaptive mode (the default): an idle daemon must sleep
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
sleep 1
t0=$(cpu_ticks "$DN_DAEMON_PID"); sleep 3; t1=$(cpu_ticks "$DN_DAEMON_PID")
hz=$(getconf CLK_TCK)
adaptive_pct=$(( (t1 - t0) * 100 / (3 * hz) ))
echo "idle CPU, adaptive mode: ${adaptive_pct}% of one core over 3 s"
check "idle daemon in adaptive mode does not spin (${adaptive_pct}% < 10%)" test "$adaptive_pct" -lt 10
# ... and a frame wakes it through the tap's Rx interrupt, not at a timer.
dn_check_rx_wakeups "Rx interrupt"

# --- SIGTERM: exit 0, no files left
prefix_dir=/var/run/dpdk/$DN_FILE_PREFIX
dn_stop_daemon; rc=$DN_RC
check "SIGTERM exits 0 (got $rc)" test "$rc" -eq 0
check "ctl socket removed" test ! -e "$DN_CTL"
check "DPDK runtime dir removed" test ! -e "$prefix_dir"
check "dillnetctl says the daemon is not running (exit 3)" \
	sh -c "\"$B/dillnetctl\" -s \"$DN_CTL\" status >/dev/null 2>&1; test \$? -eq 3"

# --- busy mode: measured, not judged (it spins by design)
dn_write_conf 'poll = { mode = "busy"; };'
ip netns del "$DN_NS"; ip netns add "$DN_NS"; ip -n "$DN_NS" link set lo up
check "daemon starts in busy poll mode" dn_start_daemon
check "busy mode answers ping" dn_ns ping -c 5 -i 0.05 -W 1 -q "$DN_DAEMON_IP"
t0=$(cpu_ticks "$DN_DAEMON_PID"); sleep 2; t1=$(cpu_ticks "$DN_DAEMON_PID")
echo "idle CPU, busy mode: $(( (t1 - t0) * 100 / (2 * hz) ))% of one core over 2 s"
dn_stop_daemon; rc=$DN_RC
check "busy mode: SIGTERM exits 0" test "$rc" -eq 0

dn_end
