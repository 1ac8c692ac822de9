#!/bin/bash
# Issue 4: dillnet's TCP against the Linux kernel's, over net_tap in a
# private namespace, with the app running as an unprivileged user:
# kernel client -> dillnet server app and dillnet client app -> kernel
# server, DN_INTEROP_MB (64) MiB each way checked by sha256; clean, with
# the daemon's fault injector (1% and 5% loss plus reordering and
# duplication), and with nftables dropping every 20th segment on the kernel
# side.
. "$(dirname "$0")/lib.sh"
dn_begin interop
MB=${DN_INTEROP_MB:-64}
check "unprivileged app user exists" dn_ensure_app_user
head -c "${MB}M" /dev/urandom > "$DN_TMP/a.bin"
head -c "${MB}M" /dev/urandom > "$DN_TMP/k.bin"
sha_a=$(sha256sum < "$DN_TMP/a.bin" | cut -d' ' -f1)
sha_k=$(sha256sum < "$DN_TMP/k.bin" | cut -d' ' -f1)
chmod 0644 "$DN_TMP"/*.bin
mkdir "$DN_TMP/app" && chown "$DN_APP_USER:dillnet" "$DN_TMP/app"

APPCONF='sockets = { app_path = "'$DN_APP'"; app_group = "dillnet"; ctl_path = "'$DN_CTL'"; };
apps = { allowed_groups = [ "dillnet" ]; };'

restart() {   # restart [fault settings]
	[ -n "${DN_DAEMON_PID:-}" ] && dn_stop_daemon
	ip netns del "$DN_NS"; ip netns add "$DN_NS"; ip -n "$DN_NS" link set lo up
	dn_write_conf "${1:-}"
	sed -i '/^sockets = {/,/^};/d' "$DN_CONF"
	echo "$APPCONF" >> "$DN_CONF"
	dn_start_daemon
}

# one_way NAME: both directions of the stream at once, in both set-ups.
run_pair() {
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

check "daemon up (clean link)" restart
t0=$SECONDS; run_pair clean 5001; echo "clean: $((SECONDS - t0)) s"

for loss in 0.01 0.05; do
	check "daemon up with fault injector, loss $loss" restart "fault = { enabled = true; seed = 7;
  rx = { loss = $loss; reorder = 0.01; duplicate = 0.01; };
  tx = { loss = $loss; reorder = 0.01; duplicate = 0.01; }; };"
	t0=$SECONDS; run_pair "loss $loss" 5002; echo "loss $loss: $((SECONDS - t0)) s"
	dn_ctl show counters fault
done

check "daemon up for the nftables run" restart
dn_ns nft -f - <<NFT
table inet dntest {
  chain out {
    type filter hook output priority 0;
    ip daddr $DN_DAEMON_IP tcp flags & (syn | fin | rst) == 0 numgen inc mod 20 == 0 counter drop
  }
}
NFT
t0=$SECONDS; run_pair "nft drops every 20th" 5003; echo "nft: $((SECONDS - t0)) s"
dn_ns nft list table inet dntest | grep -o 'packets [0-9]*' | head -1 | sed 's/^/nftables dropped: /'
dn_ctl show counters tcp | grep -E "retrans|fast|sack|rto" || true
dn_end
