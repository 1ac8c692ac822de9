#!/bin/bash
# The systemd files under systemd/: unit syntax (systemd-analyze verify,
# which needs no systemd as PID 1), the settings the daemon relies on,
# agreement with the daemon's default socket paths, and the sysusers.d and
# tmpfiles.d snippets applied to a scratch root.  Needs no running systemd
# and changes nothing outside its temporary directory.
set -uo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
sd=$root/systemd
units=(dillnetd.service dillnetd-app.socket dillnetd-ctl.socket)

tmp=$(mktemp -d /tmp/dn-systemd.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
trap 'exit 1' INT TERM HUP

pass=0
fail=0
ok()  { pass=$((pass + 1)); echo "ok - $1"; }
bad() {
	fail=$((fail + 1))
	echo "FAIL - $1"
	[ -s "$tmp/log" ] && sed 's/^/    /' "$tmp/log" | head -20
	return 0
}

for tool in systemd-analyze systemd-sysusers systemd-tmpfiles; do
	if ! command -v "$tool" >/dev/null; then
		echo "FAIL - $tool not found (apt-get install systemd)"
		echo "systemd: 0 passed, 1 failed"
		exit 1
	fi
done
# PID 1 does not matter to anything below; say what we run under.
echo "# PID 1 is $(cat /proc/1/comm 2>/dev/null || echo unknown); $(systemd-analyze --version | head -1)"

# ---- units: install the way the Makefile does -------------------------------
# verify insists that ExecStart's program exists and is executable, so
# @SBINDIR@ points at a stub: this checks the unit files, not the daemon.
unitdir=$tmp/units
mkdir -p "$unitdir" "$tmp/sbin"
printf '#!/bin/sh\nexit 0\n' >"$tmp/sbin/dillnetd"
chmod 0755 "$tmp/sbin/dillnetd"
: >"$tmp/log"
for u in "${units[@]}"; do
	if [ ! -f "$sd/$u" ]; then
		echo "missing $sd/$u" >>"$tmp/log"
		continue
	fi
	sed "s|@SBINDIR@|$tmp/sbin|g" "$sd/$u" >"$unitdir/$u"
done
if [ -s "$tmp/log" ]; then
	bad "all unit files present"
else
	ok "all unit files present"
fi
if grep -n '@[A-Z_]*@' "$unitdir"/* >"$tmp/log"; then
	bad "no placeholder left after substituting @SBINDIR@"
else
	ok "no placeholder left after substituting @SBINDIR@"
fi

# verify reports problems on stderr but often exits 0 ("Unknown key ...,
# ignoring"), so any output at all is a failure.  --man=no: the manual pages
# are not installed here; their presence is checked separately below.
verify() {
	(cd "$unitdir" && timeout 60 systemd-analyze verify --man=no "$@") >"$tmp/log" 2>&1
	local rc=$?
	[ "$rc" -eq 0 ] && [ ! -s "$tmp/log" ]
}
for u in "${units[@]}"; do
	if verify "./$u"; then
		ok "systemd-analyze verify $u: no errors, no warnings"
	else
		bad "systemd-analyze verify $u"
	fi
done
if verify "${units[@]/#/./}"; then
	ok "systemd-analyze verify: all three units together"
else
	bad "systemd-analyze verify: all three units together"
fi

# The check above must be able to fail: a unit with a misspelt key has to
# produce output, or a silent verify would pass anything.
sed 's/^WatchdogSec=/WatchdogSecs=/' "$unitdir/dillnetd.service" >"$unitdir/dillnetd-broken.service"
if verify ./dillnetd-broken.service; then
	bad "verify reports a misspelt key (negative control)"
else
	: >"$tmp/log"
	ok "verify reports a misspelt key (negative control)"
fi
rm -f "$unitdir/dillnetd-broken.service"

# ---- settings the daemon and the design rely on ------------------------------
# has FILE LINE...: each exact line is in the unit.
has() {
	local f=$1 missing=()
	shift
	for line in "$@"; do
		grep -qxF -- "$line" "$unitdir/$f" || missing+=("$line")
	done
	if [ ${#missing[@]} -eq 0 ]; then
		ok "$f: $# required settings present"
	else
		printf '%s\n' "${missing[@]/#/missing: }" >"$tmp/log"
		bad "$f has the required settings"
	fi
}
has dillnetd.service "Type=notify" \
	"ExecStart=$tmp/sbin/dillnetd -c /etc/dillnet/dillnetd.conf" \
	'ExecReload=/bin/kill -HUP $MAINPID' "WatchdogSec=10s" "Restart=on-failure" \
	"RuntimeDirectory=dillnet" "RuntimeDirectoryMode=0755" "LimitMEMLOCK=infinity"
has dillnetd.service "NoNewPrivileges=yes" "ProtectSystem=strict" "ProtectHome=yes" \
	"PrivateTmp=yes" "DevicePolicy=closed" "DeviceAllow=/dev/net/tun rw"
has dillnetd-app.socket "ListenSequentialPacket=/run/dillnet/app.sock" "SocketMode=0660" \
	"SocketGroup=dillnet" "FileDescriptorName=app" "Service=dillnetd.service"
has dillnetd-ctl.socket "ListenSequentialPacket=/run/dillnet/ctl.sock" "SocketMode=0600" \
	"FileDescriptorName=ctl" "Service=dillnetd.service"

# Capabilities: exactly the documented set, nothing broad.
caps=$(sed -n 's/^CapabilityBoundingSet=//p' "$unitdir/dillnetd.service")
if [ "$(tr ' ' '\n' <<<"$caps" | sort | tr '\n' ' ')" = "CAP_CHOWN CAP_IPC_LOCK CAP_NET_ADMIN CAP_NET_RAW " ]; then
	ok "CapabilityBoundingSet is CAP_NET_ADMIN CAP_NET_RAW CAP_IPC_LOCK CAP_CHOWN"
else
	echo "got: $caps" >"$tmp/log"
	bad "CapabilityBoundingSet is the documented minimal set"
fi
# Every capability granted is explained in a comment.
: >"$tmp/log"
for c in $caps; do
	grep -q "^#.*$c " "$sd/dillnetd.service" || echo "no comment explains $c" >>"$tmp/log"
done
if [ -s "$tmp/log" ]; then bad "each capability has a comment saying why"; else ok "each capability has a comment saying why"; fi

# systemd's own view of the parsed service (offline, no PID 1 needed).
if (cd "$unitdir" && timeout 60 systemd-analyze security --offline=yes ./dillnetd.service) >"$tmp/sec" 2>&1; then
	level=$(sed -n 's/.*Overall exposure level for dillnetd.service: \([0-9.]*\) \([A-Z]*\).*/\1 \2/p' "$tmp/sec")
	case $level in
	*" OK"|*" SAFE"|*" MEDIUM")
		ok "systemd-analyze security: exposure $level";;
	*)
		tail -5 "$tmp/sec" >"$tmp/log"
		bad "systemd-analyze security: exposure '$level' (want OK or better than EXPOSED/UNSAFE)";;
	esac
else
	tail -5 "$tmp/sec" >"$tmp/log"
	bad "systemd-analyze security --offline runs"
fi

# The socket paths must be the daemon's defaults, or dillnetctl's default
# and the sample configuration would point elsewhere.
conf=$root/etc/dillnetd.conf
if [ -f "$conf" ]; then
	app=$(sed -n 's/^ *app_path *= *"\([^"]*\)".*/\1/p' "$conf")
	ctl=$(sed -n 's/^ *ctl_path *= *"\([^"]*\)".*/\1/p' "$conf")
	if [ "$app" = /run/dillnet/app.sock ] && [ "$ctl" = /run/dillnet/ctl.sock ]; then
		ok "socket units listen where etc/dillnetd.conf says ($app, $ctl)"
	else
		echo "etc/dillnetd.conf: app_path '$app', ctl_path '$ctl'" >"$tmp/log"
		bad "socket units listen where etc/dillnetd.conf says"
	fi
else
	echo "# etc/dillnetd.conf not present; socket path cross-check skipped"
fi

# Manual pages named in Documentation= exist: verify again with its man
# check on, against a manual tree holding only this repository's pages.
mkdir -p "$tmp/man/man3" "$tmp/man/man5" "$tmp/man/man7" "$tmp/man/man8"
for p in "$root"/daemon/man/*.[3578] "$root"/client-lib/man/*.[3578]; do
	[ -f "$p" ] && cp "$p" "$tmp/man/man${p##*.}/"
done
if (cd "$unitdir" && MANPATH=$tmp/man timeout 60 systemd-analyze verify --man=yes "${units[@]/#/./}") \
	>"$tmp/log" 2>&1 && [ ! -s "$tmp/log" ]; then
	ok "every Documentation=man: page is in the tree (verify --man=yes)"
else
	bad "every Documentation=man: page is in the tree (verify --man=yes)"
fi

# ---- sysusers.d and tmpfiles.d ------------------------------------------------
if timeout 30 systemd-sysusers --dry-run "$sd/dillnet.sysusers" >"$tmp/log" 2>&1; then
	ok "systemd-sysusers --dry-run accepts dillnet.sysusers"
else
	bad "systemd-sysusers --dry-run dillnet.sysusers"
fi
# Applied for real to a scratch root: the group must appear.
mkdir -p "$tmp/root/etc"
if timeout 30 systemd-sysusers --root="$tmp/root" "$sd/dillnet.sysusers" >"$tmp/log" 2>&1 &&
   grep -q '^dillnet:x:[0-9]*:$' "$tmp/root/etc/group"; then
	ok "sysusers creates group dillnet ($(grep '^dillnet:' "$tmp/root/etc/group"))"
else
	bad "sysusers creates group dillnet"
fi
# systemd 252's tmpfiles has no --dry-run: create into the scratch root.
if timeout 30 systemd-tmpfiles --root="$tmp/root" --create "$sd/dillnet.tmpfiles" >"$tmp/log" 2>&1 &&
   [ "$(stat -c '%a %U' "$tmp/root/run/dillnet")" = "755 root" ] &&
   [ "$(stat -c '%a %U' "$tmp/root/run/dpdk")" = "700 root" ]; then
	ok "tmpfiles creates /run/dillnet 0755 and /run/dpdk 0700"
else
	ls -la "$tmp/root/run" >>"$tmp/log" 2>&1
	bad "tmpfiles creates /run/dillnet 0755 and /run/dpdk 0700"
fi

echo "systemd: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
