#!/bin/bash
# Sourced by tests/demo.sh once dillnetd is up (configured with app_group
# dillnet): the product, TCP for unprivileged apps through the daemon, with
# the Linux kernel of the namespace on the other side.  Uses lib.sh's
# functions and demo.sh's `say`; every wait is bounded.

demo_tcp() {
	local ex=$B/examples
	mkdir -p "$DN_TMP/www" "$DN_TMP/app"
	chown "$DN_APP_USER:dillnet" "$DN_TMP/app"
	echo "Apps run as user $DN_APP_USER (uid $(id -u "$DN_APP_USER")), group dillnet," \
		"with DILLNET_SOCKET=$DN_APP"

	# --- 1. app -> kernel: echo_client against a kernel echo server
	say "App -> kernel: echo_client (unprivileged) connects through dillnetd to a kernel echo server at $DN_KERNEL_IP:7000"
	dn_ns timeout 20 /usr/bin/python3 -c '
import socket, sys
ls = socket.socket(); ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
ls.bind((sys.argv[1], 7000)); ls.listen(4); ls.settimeout(15)
print("kernel echo server listening", flush=True)
s, peer = ls.accept(); s.settimeout(15)
print("kernel echo server: connection from %s port %d" % peer, flush=True)
while True:
    b = s.recv(4096)
    if not b:
        break
    print("kernel echo server: got %r, echoing" % b, flush=True)
    s.sendall(b)
print("kernel echo server: client sent its FIN; closing", flush=True)
s.close()
' "$DN_KERNEL_IP" > "$DN_TMP/kecho.out" 2>&1 &
	local kp=$!
	for _ in $(seq 50); do grep -q listening "$DN_TMP/kecho.out" 2>/dev/null && break; sleep 0.1; done
	echo "\$ echo_client $DN_KERNEL_IP 7000 'hello from an unprivileged app' 'through dillnetd'"
	dn_as_app timeout 20 "$ex/echo_client" "$DN_KERNEL_IP" 7000 \
		"hello from an unprivileged app" "through dillnetd"
	local rc=$?
	echo "(echo_client exit status $rc)"
	demo_step echo_client $rc
	wait $kp
	demo_step "kernel-echo-server" $?
	sed 's/^/    | /' "$DN_TMP/kecho.out"

	# --- 2. app -> kernel: http_get against python's HTTP server
	say "App -> kernel: http_get fetches a page from a kernel HTTP server at $DN_KERNEL_IP:8080"
	printf 'Hello from the Linux kernel side of the namespace.\nServed by python3 -m http.server, fetched by an app through dillnetd.\n' \
		> "$DN_TMP/www/hello.txt"
	chmod -R a+rX "$DN_TMP/www"
	dn_ns timeout 20 /usr/bin/python3 -m http.server 8080 --bind "$DN_KERNEL_IP" \
		--directory "$DN_TMP/www" > "$DN_TMP/http.out" 2>&1 &
	local hp=$!
	for _ in $(seq 50); do
		dn_ns python3 -c "import socket,sys; socket.create_connection(('$DN_KERNEL_IP', 8080), 1)" \
			2>/dev/null && break
		sleep 0.1
	done
	echo "\$ http_get $DN_KERNEL_IP 8080 /hello.txt"
	dn_as_app timeout 20 "$ex/http_get" "$DN_KERNEL_IP" 8080 /hello.txt
	rc=$?
	echo "(http_get exit status $rc)"
	demo_step http_get $rc
	kill "$hp" 2>/dev/null; wait "$hp" 2>/dev/null
	grep -h "GET" "$DN_TMP/http.out" | sed 's/^/    | server log: /'

	# --- 3. kernel -> app: a kernel client reaches echo_server's tcp_listen
	say "Kernel -> app: echo_server (unprivileged) listens through dillnetd on $DN_DAEMON_IP:7070; a kernel client connects"
	dn_as_app_bg timeout 30 "$ex/echo_server" 7070 > "$DN_TMP/app/server.out" 2>&1 &
	local sp=$!
	for _ in $(seq 50); do grep -q listening "$DN_TMP/app/server.out" 2>/dev/null && break; sleep 0.1; done
	sed 's/^/    | echo_server: /' "$DN_TMP/app/server.out"
	# The client holds its connection open for a moment so the daemon's
	# tables can be shown with it in them.
	dn_ns timeout 20 /usr/bin/python3 -c '
import socket, sys, time
s = socket.create_connection((sys.argv[1], 7070), timeout=10)
print("kernel client: connected to %s port %d from port %d" % (sys.argv[1], 7070, s.getsockname()[1]), flush=True)
for line in (b"ping from the kernel\n", b"second line\n"):
    s.sendall(line)
    got = b""
    while not got.endswith(b"\n"):
        b = s.recv(4096)
        if not b:
            break
        got += b
    print("kernel client: sent %r, got back %r" % (line, got), flush=True)
time.sleep(1.5)
s.shutdown(socket.SHUT_WR)
print("kernel client: end of stream from the app: %r" % s.recv(1), flush=True)
s.close()
' "$DN_DAEMON_IP" > "$DN_TMP/kclient.out" 2>&1 &
	local cp=$!
	for _ in $(seq 50); do grep -q "second line" "$DN_TMP/kclient.out" 2>/dev/null && break; sleep 0.1; done
	say "dillnetctl show connections (the kernel client's connection is open)"
	dn_ctl show connections
	say "dillnetctl show apps"
	dn_ctl show apps
	wait $cp
	demo_step "kernel-client" $?
	sed 's/^/    | /' "$DN_TMP/kclient.out"
	sleep 0.2
	sed -n '2,$p' "$DN_TMP/app/server.out" | sed 's/^/    | echo_server: /'
	kill -TERM "$sp" 2>/dev/null; wait "$sp" 2>/dev/null
	sleep 0.3
	say "dillnetctl show apps (echo_server stopped: its sockets are gone with it)"
	dn_ctl show apps
	say "dillnetctl show counters (TCP excerpt)"
	dn_ctl show counters | grep -E "^(NAME|tcp_(active_opens|passive_opens|established|attempt_fails|segs_in|segs_out|bytes_in|bytes_out|retrans_segs)) " || true
}
demo_tcp
