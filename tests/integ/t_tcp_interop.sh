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
check "unprivileged app user exists" dn_ensure_app_user
dn_payloads "${DN_INTEROP_MB:-64}"

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

check "daemon up (clean link)" restart
t0=$SECONDS; dn_run_pair clean 5001; echo "clean: $((SECONDS - t0)) s"

for loss in 0.01 0.05; do
	check "daemon up with fault injector, loss $loss" restart "fault = { enabled = true; seed = 7;
  rx = { loss = $loss; reorder = 0.01; duplicate = 0.01; };
  tx = { loss = $loss; reorder = 0.01; duplicate = 0.01; }; };"
	t0=$SECONDS; dn_run_pair "loss $loss" 5002; echo "loss $loss: $((SECONDS - t0)) s"
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
t0=$SECONDS; dn_run_pair "nft drops every 20th" 5003; echo "nft: $((SECONDS - t0)) s"
dn_ns nft list table inet dntest | grep -o 'packets [0-9]*' | head -1 | sed 's/^/nftables dropped: /'
dn_ctl show counters tcp | grep -E "retrans|fast|sack|rto" || true
dn_end
