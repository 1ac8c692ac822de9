#!/bin/bash
# Issue 5: `make install PREFIX=/usr DESTDIR=...` into a temporary tree
# installs everything a distribution package needs, and a program builds
# against the installed header and library through pkg-config alone:
#  - daemon, CLI, library with its soname symlinks, static library,
#    header(s), pkg-config file, sample config, systemd units,
#    sysusers/tmpfiles, every manual page (rendered by tests/man.sh);
#  - the library exports only dillnet_* (and mtcp_*) symbols, soname
#    libdillnet.so.0;
#  - DILLNET_DISABLE_RAW_NAMES leaves the plain libdill names free;
#  - the mTCP examples (epserver.c, epwget.c, written as mTCP's own apps
#    are), copied out of the source tree, build with `pkg-config --cflags
#    --libs libdillnet` alone, and that epserver, run as the unprivileged
#    app user on the installed library, answers HTTP requests through a
#    real dillnetd (root and a namespace for this last part only).
. "$(dirname "$0")/lib.sh"
DN_NAME=install
T0=$SECONDS
DEST=$(mktemp -d /tmp/dn-install.XXXXXX)
trap 'rm -rf "$DEST"' EXIT
P=$DEST/usr

make -s -C "$DN_ROOT" install PREFIX=/usr DESTDIR="$DEST" > "$DEST.log" 2>&1
rc=$?
check "make install PREFIX=/usr DESTDIR=$DEST (exit $rc)" test $rc -eq 0
[ $rc -eq 0 ] || cat "$DEST.log"
rm -f "$DEST.log"

# --- files
for f in sbin/dillnetd sbin/dillnetctl; do
	check "installed /usr/$f, executable" test -x "$P/$f"
done
check "installed libdillnet.so.0.1.0 (regular file)" \
	test -f "$P/lib/libdillnet.so.0.1.0" -a ! -L "$P/lib/libdillnet.so.0.1.0"
check "libdillnet.so.0 -> libdillnet.so.0.1.0" \
	test "$(readlink "$P/lib/libdillnet.so.0")" = libdillnet.so.0.1.0
check "libdillnet.so -> libdillnet.so.0" test "$(readlink "$P/lib/libdillnet.so")" = libdillnet.so.0
check "installed libdillnet.a" test -f "$P/lib/libdillnet.a"
check "installed /usr/include/dillnet.h" test -f "$P/include/dillnet.h"
check "installed /usr/lib/pkgconfig/libdillnet.pc" test -f "$P/lib/pkgconfig/libdillnet.pc"
check "pkg-config file names prefix /usr" grep -qx 'prefix=/usr' "$P/lib/pkgconfig/libdillnet.pc"
check "installed sample config /etc/dillnet/dillnetd.conf" test -f "$DEST/etc/dillnet/dillnetd.conf"
for u in dillnetd.service dillnetd-app.socket dillnetd-ctl.socket; do
	check "installed systemd unit $u" test -f "$P/lib/systemd/system/$u"
done
check "dillnetd.service starts /usr/sbin/dillnetd (@SBINDIR@ replaced)" \
	grep -q '^ExecStart=/usr/sbin/dillnetd ' "$P/lib/systemd/system/dillnetd.service"
check "installed sysusers.d/dillnet.conf" test -f "$P/lib/sysusers.d/dillnet.conf"
check "installed tmpfiles.d/dillnet.conf" test -f "$P/lib/tmpfiles.d/dillnet.conf"
missing=0
for m in "$DN_ROOT"/client-lib/man/*.3 "$DN_ROOT"/daemon/man/*.5 "$DN_ROOT"/daemon/man/*.7 "$DN_ROOT"/daemon/man/*.8; do
	[ -e "$m" ] || continue
	sec=${m##*.}
	[ -f "$P/share/man/man$sec/$(basename "$m")" ] || { echo "missing man page: $(basename "$m")"; missing=$((missing + 1)); }
done
nman=$(ls "$P"/share/man/man[3578]/* 2>/dev/null | wc -l)
check "every manual page installed ($nman pages, $missing missing)" test $missing -eq 0 -a "$nman" -gt 0
out=$("$DN_ROOT/tests/man.sh" "$P"/share/man/man[3578]/* 2>&1)
check "installed manual pages render without warnings ($out)" \
	"$DN_ROOT/tests/man.sh" "$P"/share/man/man[3578]/*

# --- the library's interface
lib=$P/lib/libdillnet.so.0.1.0
soname=$(readelf -d "$lib" | sed -n 's/.*Library soname: \[\(.*\)\]/\1/p')
check "soname is libdillnet.so.0 ($soname)" test "$soname" = libdillnet.so.0
# Defined dynamic symbols; the version node (DILLNET_0.1, type A) is not a
# symbol a program can call.
nm -D --defined-only "$lib" | awk '$2 != "A" {print $3}' | sed 's/@.*//' | sort -u > "$DEST/syms"
bad=$(grep -Ev '^(dillnet_|mtcp_)' "$DEST/syms" | head -5 | tr '\n' ' ')
check "nm -D exports only dillnet_*/mtcp_* ($(wc -l < "$DEST/syms") symbols${bad:+; others: $bad})" \
	test -z "$bad" -a -s "$DEST/syms"
check "exported symbols carry the version DILLNET_0.1" \
	sh -c "objdump -T '$lib' | grep -q 'DILLNET_0.1 *dillnet_tcp_connect'"

# --- build a program with pkg-config against the installed tree only
export PKG_CONFIG_SYSROOT_DIR=$DEST
export PKG_CONFIG_LIBDIR=$P/lib/pkgconfig
export PKG_CONFIG_PATH=$P/lib/pkgconfig
ver=$(pkg-config --modversion libdillnet 2>&1)
check "pkg-config finds libdillnet $ver in the temporary tree" test "$ver" = 0.1.0
cflags=$(echo $(pkg-config --cflags libdillnet))
libs=$(echo $(pkg-config --libs libdillnet))
check "pkg-config --cflags points into the tree ($cflags)" test "$cflags" = "-I$P/include"
check "pkg-config --libs points into the tree ($libs)" test "$libs" = "-L$P/lib -ldillnet"
cat > "$DEST/prog.c" <<'C'
#include <dillnet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#ifndef tcp_connect
#error "<dillnet.h> should map tcp_connect to dillnet_tcp_connect"
#endif

/* Uses the plain libdill names; no daemon is running, so tcp_connect must
 * fail with the attach error, not crash. */
int main(void)
{
	struct ipaddr a;
	char buf[IPADDR_MAXSTRLEN];
	if (ipaddr_remote(&a, "198.18.0.1", 7, IPADDR_IPV4, now() + 1000) < 0)
		return 1;
	printf("%s:%d\n", ipaddr_str(&a, buf), ipaddr_port(&a));
	int s = tcp_connect(&a, now() + 1000);
	printf("tcp_connect: %d %s\n", s, s < 0 ? strerror(errno) : "ok");
	return s < 0 && errno == ENOENT ? 0 : 2;
}
C
# The installed header must not need the project's own build flags.
cc -std=c11 -Wall -Wextra -Werror -pedantic $cflags -o "$DEST/prog" "$DEST/prog.c" $libs \
	> "$DEST/cc.out" 2>&1
rc=$?
check "program compiles (-std=c11 -pedantic -Werror) and links with pkg-config flags only" test $rc -eq 0
[ $rc -eq 0 ] || cat "$DEST/cc.out"
need=$(readelf -d "$DEST/prog" 2>/dev/null | sed -n 's/.*Shared library: \[\(libdillnet[^]]*\)\]/\1/p')
check "program records NEEDED $need (the soname)" test "$need" = libdillnet.so.0
out=$(LD_LIBRARY_PATH=$P/lib DILLNET_SOCKET=$DEST/no-daemon.sock "$DEST/prog" 2>&1)
rc=$?
check "program runs on the installed library: $(echo "$out" | tr '\n' ' ')" test $rc -eq 0
where=$(LD_LIBRARY_PATH=$P/lib ldd "$DEST/prog" | awk '/libdillnet/ {print $3}')
check "it loaded the installed copy ($where)" test "$where" = "$P/lib/libdillnet.so.0"
sflags=$(echo $(pkg-config --static --libs libdillnet))
cc -std=c11 $cflags -o "$DEST/prog_static" "$DEST/prog.c" "$P/lib/libdillnet.a" \
	$(echo "$sflags" | sed 's/-ldillnet//') > "$DEST/cc.out" 2>&1
rc=$?
check "program links against libdillnet.a with pkg-config --static ($sflags)" test $rc -eq 0
[ $rc -eq 0 ] || cat "$DEST/cc.out"

# The README's "A program" builds as the README says (it ran against a
# kernel echo server when written; here it only has to compile and link).
sed -n '/^## A program/,/^## /p' "$DN_ROOT/README.md" | sed -n '/^```c$/,/^```$/p' | sed '1d;$d' \
	> "$DEST/readme.c"
cc -Wall -Wextra -Werror "$DEST/readme.c" -o "$DEST/readme" $cflags $libs > "$DEST/cc.out" 2>&1
rc=$?
check "the README's example program compiles and links ($(wc -l < "$DEST/readme.c") lines)" \
	test $rc -eq 0 -a -s "$DEST/readme.c"
[ $rc -eq 0 ] || cat "$DEST/cc.out"

# --- DILLNET_DISABLE_RAW_NAMES
cat > "$DEST/raw.c" <<'C'
#define DILLNET_DISABLE_RAW_NAMES
#include <dillnet.h>

#if defined(tcp_connect) || defined(bsend) || defined(brecv) || defined(now) || \
	defined(hclose) || defined(ipaddr_remote) || defined(tcp_listen)
#error "DILLNET_DISABLE_RAW_NAMES still defines plain libdill names"
#endif

/* The plain names are free for the program's own use. */
static int tcp_connect(int x) { return x; }

int main(void)
{
	return tcp_connect(0) + (dillnet_now() < 0);
}
C
cc -std=c11 -Wall -Wextra -Werror $cflags -o "$DEST/raw" "$DEST/raw.c" $libs > "$DEST/cc.out" 2>&1
rc=$?
check "with DILLNET_DISABLE_RAW_NAMES no tcp_connect (etc.) macro; the name is free; dillnet_* link" \
	test $rc -eq 0
[ $rc -eq 0 ] || cat "$DEST/cc.out"
check "that program runs" env LD_LIBRARY_PATH="$P/lib" "$DEST/raw"
# --- mTCP programs, built as someone outside the project would: the sources
# alone in a directory of their own, the installed headers and library
# through pkg-config, no flag from this project's Makefile.
mkdir "$DEST/mtcp-apps"
cp "$DN_ROOT"/client-lib/examples/mtcp/epserver.c "$DN_ROOT"/client-lib/examples/mtcp/epwget.c \
	"$DEST/mtcp-apps/"
for app in epserver epwget; do
	( cd "$DEST/mtcp-apps" &&
	  cc -O2 -Wall -Wextra -Werror -o "$app" "$app.c" \
		$(pkg-config --cflags --libs libdillnet) -lpthread ) > "$DEST/cc.out" 2>&1
	rc=$?
	check "mTCP example $app.c builds with \$(pkg-config --cflags --libs libdillnet) -lpthread" \
		test $rc -eq 0
	[ $rc -eq 0 ] || cat "$DEST/cc.out"
done
check "epwget built that way runs on the installed library (usage text)" \
	sh -c "LD_LIBRARY_PATH='$P/lib' '$DEST/mtcp-apps/epwget' 2>&1 | grep -q '^usage: .*epwget'"

# epserver built that way serves a file through dillnetd (needs root).
dn_begin install
trap 'dn_cleanup; rm -rf "$DEST"' EXIT
chmod 0755 "$DEST"
check "unprivileged app user exists" dn_ensure_app_user
dn_write_conf
sed -i '/^sockets = {/,/^};/d' "$DN_CONF"
cat >> "$DN_CONF" <<CONF
sockets = { app_path = "$DN_APP"; app_group = "dillnet"; ctl_path = "$DN_CTL"; };
apps = { allowed_groups = [ "dillnet" ]; };
CONF
check "daemon up" dn_start_daemon
mkdir "$DN_TMP/www"
printf 'served by an mTCP program built against the installed tree\n' > "$DN_TMP/www/hello.txt"
chmod -R a+rX "$DN_TMP/www"
( dn_as_app_bg env LD_LIBRARY_PATH="$P/lib" "$DEST/mtcp-apps/epserver" -p 8080 \
	-d "$DN_TMP/www" -N 1 ) > /dev/null 2> "$DN_TMP/srv.err" &
SRV=$!
DN_EXTRA_PIDS=$SRV
body=
for _ in $(seq 100); do
	body=$(dn_ns curl -s --max-time 2 "http://$DN_DAEMON_IP:8080/hello.txt") && break
	kill -0 $SRV 2>/dev/null || break
	sleep 0.1
done
check "epserver (built from the installed tree) answers GET /hello.txt ($body; $(head -c 200 "$DN_TMP/srv.err" | tr '\n' ' '))" \
	test "$body" = "served by an mTCP program built against the installed tree"
check "it runs on the installed libdillnet ($(grep -o '/[^ ]*libdillnet[^ ]*' /proc/$SRV/maps 2>/dev/null | sort -u | tr '\n' ' '))" \
	grep -q " $P/lib/libdillnet.so.0.1.0\$" /proc/$SRV/maps
check "as the unprivileged app user" test "$(stat -c %U /proc/$SRV)" = "$DN_APP_USER"
kill -TERM $SRV 2>/dev/null
for _ in $(seq 50); do kill -0 $SRV 2>/dev/null || break; sleep 0.1; done
wait $SRV; rc=$?
check "epserver stops on SIGTERM with status 0 (status $rc)" test $rc -eq 0
dn_stop_daemon
echo "t_install: $((SECONDS - T0)) s"
dn_end
