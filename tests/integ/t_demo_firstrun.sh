#!/bin/bash
# The README's first command on a fresh machine: with group dillnet and
# the demo/test app user absent (removed here when present), tests/demo.sh
# (what `make demo` runs after deps and the build) makes them through the
# project's sysusers files, runs the daemon, moves app traffic both ways
# and exits 0.  Afterwards the group and user exist again, for the tests
# that follow (the EXIT trap remakes them if the demo did not, and any
# other dillnet-test* user it removed).
set -uo pipefail
. "$(dirname "$0")/lib.sh"
DN_NAME=demo_firstrun
if [ "$(id -u)" -ne 0 ]; then
	echo "FAIL - $DN_NAME needs root (it removes and remakes a group and a user)"
	exit 1
fi
out=$(mktemp /tmp/dn-demo-firstrun.XXXXXX)
# Other test users (dillnet-test*) whose primary group is dillnet must go
# too for the group to go; they are remade afterwards, as they were.
extra=()
remake() {
	dn_ensure_app_user >/dev/null 2>&1
	local u
	for u in "${extra[@]}"; do
		id "$u" >/dev/null 2>&1 ||
			systemd-sysusers --inline "u $u -:dillnet \"dillnet test apps\" - -" >/dev/null 2>&1
	done
	rm -f "$out"
}
trap remake EXIT

# The user the demo and the tests use is the one tests/demo.sysusers makes.
check "tests/demo.sysusers makes user $DN_APP_USER in group dillnet" \
	grep -q "^u $DN_APP_USER -:dillnet " "$DN_ROOT/tests/demo.sysusers"

# ---- a machine as fresh as this one can be made: no user, no group
if id "$DN_APP_USER" >/dev/null 2>&1; then
	# userdel refuses while the user runs processes; an earlier test's app
	# may take a moment to go after its daemon did (bounded wait).
	dn_until 10 bash -c "! pgrep -u '$DN_APP_USER' >/dev/null"
	pids=$(pgrep -u "$DN_APP_USER" || true)
	if [ -n "$pids" ]; then
		# Another test's app that outlived it: name it (that test has a
		# cleanup bug) and end it, so this test checks the demo.
		echo "processes of $DN_APP_USER still running, killed: $(ps -o pid=,args= -p "$(echo $pids | tr ' ' ,)")"
		pkill -KILL -u "$DN_APP_USER"
		dn_until 5 bash -c "! pgrep -u '$DN_APP_USER' >/dev/null"
	fi
	check "removed user $DN_APP_USER" userdel "$DN_APP_USER"
else
	echo "user $DN_APP_USER was absent already"
fi
if gid=$(getent group dillnet | cut -d: -f3) && [ -n "$gid" ]; then
	others=
	while IFS=: read -r name _ _ g _; do
		[ "$g" = "$gid" ] || continue
		case $name in
		dillnet-test*) extra+=("$name") ;;
		*) others="$others $name" ;;
		esac
	done < <(getent passwd)
	if [ -n "$others" ]; then
		fail "group dillnet is the primary group of$others, not a test user: not removing it"
		dn_end; exit
	fi
	for u in "${extra[@]}"; do
		check "removed test user $u (remade afterwards)" userdel "$u"
	done
	check "removed group dillnet" groupdel dillnet
else
	echo "group dillnet was absent already"
fi
check "group dillnet absent before the demo" bash -c '! getent group dillnet'
check "user $DN_APP_USER absent before the demo" bash -c "! id '$DN_APP_USER' >/dev/null 2>&1"

# ---- the demo, as the first command
timeout -k 5 120 bash "$DN_ROOT/tests/demo.sh" > "$out" 2>&1
rc=$?
check "tests/demo.sh exits 0 (status $rc; last line: $(tail -n 1 "$out"))" test $rc -eq 0
check "no 'no such group' or 'no such user' in the demo's output" \
	bash -c "! grep -i -e 'no such group' -e 'no such user' '$out'"
check "the demo made group dillnet and user $DN_APP_USER (primary group dillnet)" \
	test "$(id -gn "$DN_APP_USER" 2>/dev/null)" = dillnet
check "apps ran as $DN_APP_USER" grep -q "Apps run as user $DN_APP_USER (uid [0-9]*), group dillnet" "$out"
# The app traffic, as the demo prints it: each side's own words.
check "echo_client -> kernel echo server: the kernel got the app's bytes" \
	grep -qF "kernel echo server: got b'hello from an unprivileged app\\n', echoing" "$out"
check "echo_client -> kernel echo server: the app's exit status 0" \
	grep -q "(echo_client exit status 0)" "$out"
check "http_get fetched the kernel's page through dillnetd" \
	grep -q "^Hello from the Linux kernel side of the namespace." "$out"
check "http_get exit status 0" grep -q "(http_get exit status 0)" "$out"
check "kernel client -> echo_server: both lines echoed by the app" \
	bash -c "grep -qF \"kernel client: sent b'ping from the kernel\\\\n', got back b'ping from the kernel\\\\n'\" '$out' &&
		 grep -qF \"kernel client: sent b'second line\\\\n', got back b'second line\\\\n'\" '$out'"
check "dillnetctl showed the kernel client's connection to the app, established" \
	grep -Eq "^ESTABLISHED +$DN_DAEMON_IP:7070 +198\.18\.0\.1:[0-9]+ " "$out"
check "dillnetd exited with status 0" grep -q "dillnetd exited with status 0" "$out"
if [ "$DN_FAIL" -ne 0 ]; then
	echo "--- demo output (last 60 lines)"; tail -n 60 "$out"
fi
dn_end
