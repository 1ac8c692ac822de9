# Shared helpers for integration tests.  Source it, then:
#   dn_begin NAME        make a temp dir, a network namespace and a trap
#   dn_write_conf [extra libconfig text]   write $DN_CONF for net_tap
#   dn_start_daemon      start dillnetd in the namespace, bring the kernel
#                        side of the tap up (198.18.0.1/24, daemon .2)
#   ok/fail/check DESC CMD...   record results;  dn_end prints the summary
# Every test gets its own namespace, DPDK file prefix and socket paths, and
# the trap removes all of them, also when the test fails or is interrupted.
# Addresses: 198.18.0.0/15 only.

DN_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
B=$DN_ROOT/build
DN_PASS=0
DN_FAIL=0
DN_KERNEL_IP=198.18.0.1
DN_DAEMON_IP=198.18.0.2
DN_PREFIX_LEN=24

ok() { DN_PASS=$((DN_PASS + 1)); echo "ok - $*"; }
fail() { DN_FAIL=$((DN_FAIL + 1)); echo "FAIL - $*"; }
# check DESC CMD...: passes when CMD exits 0.
check() {
	local desc=$1; shift
	if "$@"; then ok "$desc"; else fail "$desc"; fi
}

# dn_until SECS CMD...: run CMD every 0.1 s until it succeeds or SECS
# pass; the status is CMD's last.  For waits on a daemon that acts a
# moment later (a signal, a queue of frames), instead of a fixed sleep.
dn_until() {
	local end=$((SECONDS + $1)); shift
	until "$@"; do
		[ $SECONDS -ge $end ] && { "$@"; return; }
		sleep 0.1
	done
}
dn_cleanup() {
	set +e
	if [ -n "${DN_DAEMON_PID:-}" ] && kill -0 "$DN_DAEMON_PID" 2>/dev/null; then
		kill -TERM "$DN_DAEMON_PID" 2>/dev/null
		for _ in $(seq 50); do kill -0 "$DN_DAEMON_PID" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$DN_DAEMON_PID" 2>/dev/null
	fi
	for p in ${DN_EXTRA_PIDS:-}; do kill -KILL "$p" 2>/dev/null; done
	if [ -n "${DN_NS:-}" ]; then
		ip netns pids "$DN_NS" 2>/dev/null | xargs -r kill -KILL 2>/dev/null
		ip netns del "$DN_NS" 2>/dev/null
	fi
	[ -n "${DN_FILE_PREFIX:-}" ] && rm -rf "/var/run/dpdk/$DN_FILE_PREFIX"
	if [ -n "${DN_TMP:-}" ] && [ -d "$DN_TMP" ]; then
		if [ "$DN_FAIL" -ne 0 ] && [ -f "$DN_TMP/daemon.log" ]; then
			echo "--- daemon log (last 30 lines)"; tail -n 30 "$DN_TMP/daemon.log"
		fi
		rm -rf "$DN_TMP"
	fi
}

dn_begin() {
	DN_NAME=$1
	if [ "$(id -u)" -ne 0 ]; then
		echo "FAIL - $DN_NAME needs root (network namespaces, DPDK net_tap); run make check as root"
		exit 1
	fi
	if [ ! -c /dev/net/tun ]; then
		echo "FAIL - $DN_NAME needs /dev/net/tun for DPDK's net_tap"
		exit 1
	fi
	DN_TMP=$(mktemp -d "/tmp/dn-$DN_NAME.XXXXXX")
	chmod 0755 "$DN_TMP"
	DN_NS="dn-$DN_NAME-$$"
	DN_NS=${DN_NS:0:30}
	DN_FILE_PREFIX="dn_${DN_NAME}_$$"
	DN_TAP="dtap$$"
	DN_TAP=${DN_TAP:0:15}
	DN_CONF=$DN_TMP/dillnetd.conf
	DN_CTL=$DN_TMP/ctl.sock
	DN_APP=$DN_TMP/app.sock
	trap dn_cleanup EXIT
	trap 'exit 130' INT TERM
	ip netns add "$DN_NS" || { echo "FAIL - cannot create namespace $DN_NS"; exit 1; }
	ip -n "$DN_NS" link set lo up
	# IPv4 only here: no router solicitations, MLD or DAD frames from the
	# kernel mixed into what the tests count on the tap.
	ip netns exec "$DN_NS" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 \
		net.ipv6.conf.default.disable_ipv6=1 || true
}

# dn_write_conf [extra settings appended inside the top level]
dn_write_conf() {
	cat > "$DN_CONF" <<CONF
eal = {
  lcores = "0";
  hugepages = false;
  memory_mb = 256;
  vdevs = [ "net_tap0,iface=$DN_TAP" ];
  file_prefix = "$DN_FILE_PREFIX";
};
port = {
  device = "net_tap0";
  mtu = 1500;
};
ip = {
  address = "$DN_DAEMON_IP/$DN_PREFIX_LEN";
};
sockets = {
  app_path = "$DN_APP";
  app_group = "root";
  ctl_path = "$DN_CTL";
};
log = {
  level = "${DN_LOG_LEVEL:-info}";
};
${1:-}
CONF
}

# dn_af_packet_port: after dn_write_conf, put the daemon on DPDK's
# net_af_packet instead of net_tap: a veth pair in $DN_NS, the daemon on
# $DVETH, the kernel on $DN_TAP (the name the helpers use for the kernel's
# device).  Checksums in every frame: a veth otherwise hands partial
# checksums and 64 KiB GSO frames to the packet socket.
dn_af_packet_port() {
	local old=$DN_TAP dev
	DN_TAP="dk$$"; DN_TAP=${DN_TAP:0:15}
	DVETH="dd$$"; DVETH=${DVETH:0:15}
	ip -n "$DN_NS" link add "$DN_TAP" type veth peer name "$DVETH" || return 1
	for dev in "$DN_TAP" "$DVETH"; do
		dn_ns ethtool -K "$dev" tx off rx off tso off gso off gro off >/dev/null 2>&1 || true
	done
	ip -n "$DN_NS" link set "$DVETH" up
	sed -i "s|\"net_tap0,iface=$old\"|\"net_af_packet0,iface=$DVETH\"|; s|device = \"net_tap0\"|device = \"net_af_packet0\"|" "$DN_CONF"
	grep -q "net_af_packet0,iface=$DVETH" "$DN_CONF"
}
dn_ns() { ip netns exec "$DN_NS" "$@"; }
# dn_counter NAME: one daemon counter's value, by its exact name.
dn_counter() { dn_ctl show counters "$1" | awk -v n="$1" '$1 == n {print $2}'; }
# dn_check_rx_wakeups HOW: pings to an idle daemon end its sleeps through
# the port (HOW: Rx interrupt, packet socket), not at its next timer.  The
# daemon also wakes for its own timers every few ms and then stays awake
# for poll.idle_us, so a ping may find it awake: of 10, at least half
# must have woken it (a wakeup that never fires counts none).
dn_check_rx_wakeups() {
	local w0 w1 rtts
	w0=$(dn_counter port_rx_wakeups)
	rtts=$(dn_ns ping -c 10 -i 0.3 -W 2 "$DN_DAEMON_IP" | grep -o 'time=[0-9.]*' | cut -c6- | tr '\n' ' ')
	w1=$(dn_counter port_rx_wakeups)
	check "10 pings 0.3 s apart to the idle daemon, at least 5 woke it by $1 (port_rx_wakeups ${w0:-?} -> ${w1:-?}; rtt ms: $rtts)" \
		test $(( ${w1:-0} - ${w0:-0} )) -ge 5
}
dn_ctl() { "$B/dillnetctl" -s "$DN_CTL" "$@"; }

# Start the daemon and wait (bounded) for its ctl socket and the tap.
dn_start_daemon() {
	ip netns exec "$DN_NS" "$B/dillnetd" -c "$DN_CONF" >> "$DN_TMP/daemon.log" 2>&1 &
	DN_DAEMON_PID=$!
	local i
	for i in $(seq 100); do
		if [ -S "$DN_CTL" ] && dn_ns ip link show "$DN_TAP" >/dev/null 2>&1; then
			break
		fi
		if ! kill -0 "$DN_DAEMON_PID" 2>/dev/null; then
			echo "daemon exited early:"; cat "$DN_TMP/daemon.log"
			return 1
		fi
		sleep 0.1
	done
	[ -S "$DN_CTL" ] || { echo "daemon did not create $DN_CTL in 10 s"; return 1; }
	dn_ns ip addr add "$DN_KERNEL_IP/$DN_PREFIX_LEN" dev "$DN_TAP"
	dn_ns ip link set "$DN_TAP" up
	# Without this the kernel hands partial checksums to the tap.
	dn_ns ethtool -K "$DN_TAP" tx off rx off tso off gso off gro off >/dev/null 2>&1 || true
	return 0
}

# Stop the daemon with SIGTERM; its exit status is left in DN_RC.
dn_stop_daemon() {
	kill -TERM "$DN_DAEMON_PID"
	DN_RC=0
	wait "$DN_DAEMON_PID" || DN_RC=$?
	DN_DAEMON_PID=
}

# An unprivileged user in group dillnet for apps, made when absent through
# the project's sysusers files (the group as installed, the user from
# tests/demo.sysusers) and kept: it owns no files.  Apps run with:
# dn_as_app CMD...
DN_APP_USER=dillnet-test
dn_have_app_user() { getent group dillnet >/dev/null && id "$DN_APP_USER" >/dev/null 2>&1; }
dn_ensure_app_user() {
	dn_have_app_user && return 0
	if ! command -v systemd-sysusers >/dev/null; then
		echo "systemd-sysusers not found (Debian's systemd package; make deps)" >&2
		return 1
	fi
	systemd-sysusers "$DN_ROOT/systemd/dillnet.sysusers" "$DN_ROOT/tests/demo.sysusers" &&
		dn_have_app_user
}
# A second unprivileged user in group dillnet (the isolation tests' other
# tenant).  Apps run with: dn_as_app2 CMD...
DN_APP_USER2=dillnet-test2
dn_ensure_app_user2() {
	dn_ensure_app_user || return 1
	id "$DN_APP_USER2" >/dev/null 2>&1 || useradd --system --no-create-home --gid dillnet \
		--shell /usr/sbin/nologin "$DN_APP_USER2"
}
dn_as_app2() {
	setpriv --reuid="$DN_APP_USER2" --regid=dillnet --init-groups -- \
		env DILLNET_SOCKET="$DN_APP" "$@"
}
dn_as_app() {
	setpriv --reuid="$DN_APP_USER" --regid=dillnet --init-groups -- \
		env DILLNET_SOCKET="$DN_APP" "$@"
}
# For background use (dn_as_app_bg CMD... &): the background subshell
# becomes the app, so $! is the app's pid.
dn_as_app_bg() {
	exec setpriv --reuid="$DN_APP_USER" --regid=dillnet --init-groups -- \
		env DILLNET_SOCKET="$DN_APP" "$@"
}

# dn_payloads MB: two random files of MB MiB for dn_run_pair ($DN_TMP/a.bin
# from the app, k.bin from the kernel) and a directory the app may write.
dn_payloads() {
	MB=$1
	head -c "${MB}M" /dev/urandom > "$DN_TMP/a.bin"
	head -c "${MB}M" /dev/urandom > "$DN_TMP/k.bin"
	sha_a=$(sha256sum < "$DN_TMP/a.bin" | cut -d' ' -f1)
	sha_k=$(sha256sum < "$DN_TMP/k.bin" | cut -d' ' -f1)
	chmod 0644 "$DN_TMP"/*.bin
	mkdir -p "$DN_TMP/app" && chown "$DN_APP_USER:dillnet" "$DN_TMP/app"
}
# dn_run_pair NAME PORT: the payloads both ways at once over one
# connection, in both set-ups (dillnet client app -> kernel server, kernel
# client -> dillnet server app), each byte checked by sha256.
dn_run_pair() {
	local name=$1 port=$2
	# dillnet client app -> kernel server
	dn_ns /usr/bin/python3 "$DN_ROOT/tests/integ/kpeer.py" listen "$DN_KERNEL_IP" "$port" \
		"$DN_TMP/k_got.bin" "$DN_TMP/k.bin" --timeout=240 > "$DN_TMP/kpeer.out" 2>&1 &
	local kp=$!
	for _ in $(seq 100); do grep -q listening "$DN_TMP/kpeer.out" 2>/dev/null && break; sleep 0.1; done
	dn_as_app "$B/tests/integ/dn_cat" -t 240 connect "$DN_KERNEL_IP" "$port" \
		< "$DN_TMP/a.bin" > "$DN_TMP/a_got.bin" 2> "$DN_TMP/app.err"
	local arc=$?
	wait $kp; local krc=$?
	check "$name: app->kernel: app exit 0 ($(head -c 200 "$DN_TMP/app.err"))" test $arc -eq 0
	check "$name: app->kernel: kernel got ${MB} MiB intact" grep -q "$sha_a" "$DN_TMP/kpeer.out"
	check "$name: app->kernel: app got ${MB} MiB intact" \
		test "$(sha256sum < "$DN_TMP/a_got.bin" | cut -d' ' -f1)" = "$sha_k"
	check "$name: app->kernel: kernel peer exit 0" test $krc -eq 0

	# kernel client -> dillnet server app
	rm -f "$DN_TMP/app/port"
	dn_as_app "$B/tests/integ/dn_cat" -t 240 listen 0 "$DN_TMP/app/port" \
		< "$DN_TMP/a.bin" > "$DN_TMP/a_got.bin" 2> "$DN_TMP/app.err" &
	local ap=$!
	for _ in $(seq 100); do [ -s "$DN_TMP/app/port" ] && break; sleep 0.1; done
	local lport; lport=$(cat "$DN_TMP/app/port" 2>/dev/null)
	dn_ns /usr/bin/python3 "$DN_ROOT/tests/integ/kpeer.py" connect "$DN_DAEMON_IP" "${lport:-1}" \
		"$DN_TMP/k_got.bin" "$DN_TMP/k.bin" --timeout=240 > "$DN_TMP/kpeer.out" 2>&1
	krc=$?
	wait $ap; arc=$?
	check "$name: kernel->app: app exit 0 ($(head -c 200 "$DN_TMP/app.err"))" test $arc -eq 0
	check "$name: kernel->app: kernel got ${MB} MiB intact" grep -q "$sha_a" "$DN_TMP/kpeer.out"
	check "$name: kernel->app: app got ${MB} MiB intact" \
		test "$(sha256sum < "$DN_TMP/a_got.bin" | cut -d' ' -f1)" = "$sha_k"
	check "$name: kernel->app: kernel peer exit 0" test $krc -eq 0
}

dn_end() {
	echo "$DN_NAME: $DN_PASS passed, $DN_FAIL failed"
	[ "$DN_FAIL" -eq 0 ]
}
