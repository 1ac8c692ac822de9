# dillnet: one non-recursive GNU Makefile for the daemon, the ctl CLI, the
# client library, tests, fuzzers and benchmarks.
#
#   make            build everything
#   make deps       install missing Debian packages (idempotent)
#   make check      deps + build + unit (plain and ASan/UBSan) + fuzz smoke
#                   + integration tests
#   make demo       deps + build + show dillnetd on a net_tap port
#   make fuzz       longer fuzz runs        make soak   long simulations
#   make bench      benchmarks with kernel baselines
#   make install    PREFIX=/usr/local DESTDIR=

PREFIX    ?= /usr/local
DESTDIR   ?=
BINDIR    ?= $(PREFIX)/bin
SBINDIR   ?= $(PREFIX)/sbin
LIBDIR    ?= $(PREFIX)/lib
INCDIR    ?= $(PREFIX)/include
MANDIR    ?= $(PREFIX)/share/man
SYSCONFDIR ?= /etc
UNITDIR   ?= $(PREFIX)/lib/systemd/system
SYSUSERSDIR ?= $(PREFIX)/lib/sysusers.d
TMPFILESDIR ?= $(PREFIX)/lib/tmpfiles.d

VERSION   := 0.1.0
SOMAJOR   := 0
CC        ?= cc
CLANG     ?= clang
B         := build

PKG_CFLAGS = $(shell pkg-config --cflags $(1) 2>/dev/null)
PKG_LIBS   = $(shell pkg-config --libs $(1) 2>/dev/null)

WARN      := -Wall -Wextra -Werror -Wno-missing-field-initializers
CFLAGS    ?= -O2 -g
BASEFLAGS := -std=gnu11 $(WARN) -D_GNU_SOURCE -DDN_VERSION='"$(VERSION)"' \
             -Iproto -Idaemon -Idaemon/stack -Iclient-lib -I$(B)/gen
SANFLAGS  := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined

# --- sources -------------------------------------------------------------
# Files that include DPDK or call the port layer (daemon/main*.c,
# daemon/port*.c): only these get DPDK's flags.  Everything
# else in daemon/ builds without DPDK so unit tests and fuzzers can link it.
DPDK_SRC    := $(wildcard daemon/main*.c daemon/port*.c)
PROTO_SRC   := $(sort $(wildcard proto/*.c))
STACK_SRC   := $(sort $(wildcard daemon/stack/*.c))
DCORE_SRC   := $(filter-out $(DPDK_SRC),$(sort $(wildcard daemon/*.c)))
CLI_SRC     := $(sort $(wildcard daemon/cli/*.c))
LIB_SRC     := $(sort $(wildcard client-lib/*.c))
UNIT_SRC    := $(sort $(wildcard tests/unit/*.c))
FUZZ_SRC    := $(sort $(wildcard tests/fuzz/fuzz_*.c))
INTEG_C     := $(sort $(wildcard tests/integ/*.c))
BENCH_C     := $(sort $(wildcard tests/bench/*.c))
# mTCP examples (client-lib/examples/mtcp/) go to $(B)/examples/mtcp/ by the
# same rule.
EXAMPLE_C   := $(sort $(wildcard client-lib/examples/*.c client-lib/examples/mtcp/*.c))
MAN3        := $(sort $(wildcard client-lib/man/*.3))
MAN58       := $(sort $(wildcard daemon/man/*.5 daemon/man/*.7 daemon/man/*.8))

obj  = $(patsubst %.c,$(B)/obj/%.o,$(1))
pic  = $(patsubst %.c,$(B)/pic/%.o,$(1))
asan = $(patsubst %.c,$(B)/asan/%.o,$(1))

CORE_LIBS := $(call PKG_LIBS,libconfig libsystemd) -lpthread -lm
DPDK_LIBS  = $(call PKG_LIBS,libdpdk)
CHECK_LIBS = $(call PKG_LIBS,check)

DILLNETD   := $(B)/dillnetd
DILLNETCTL := $(B)/dillnetctl
LIBSO      := $(B)/libdillnet.so.$(VERSION)
LIBA       := $(B)/libdillnet.a
UNITRUN    := $(B)/tests/unit-run
UNITASAN   := $(B)/tests/unit-run-asan
FUZZ_BIN   := $(patsubst tests/fuzz/%.c,$(B)/fuzz/%,$(FUZZ_SRC))
INTEG_BIN  := $(patsubst tests/integ/%.c,$(B)/tests/integ/%,$(INTEG_C))
BENCH_BIN  := $(patsubst tests/bench/%.c,$(B)/bench/%,$(BENCH_C))
EXAMPLES   := $(patsubst client-lib/examples/%.c,$(B)/examples/%,$(EXAMPLE_C))

.PHONY: all deps check check-build check-run unit fuzz-smoke fuzz integ demo \
        bench soak install clean
all: $(DILLNETD) $(DILLNETCTL) $(LIBSO) $(LIBA) $(B)/libdillnet.pc $(EXAMPLES) \
     $(INTEG_BIN) $(BENCH_BIN)

# --- compile rules ------------------------------------------------------
$(call obj,$(DPDK_SRC)): XFLAGS = $(call PKG_CFLAGS,libdpdk) -Wno-error=deprecated-declarations
$(B)/obj/%.o: %.c | $(B)/gen/suites.h
	@mkdir -p $(dir $@)
	$(CC) $(BASEFLAGS) $(CFLAGS) $(XFLAGS) $(call PKG_CFLAGS,libconfig libsystemd check) -MMD -MP -c $< -o $@
$(B)/pic/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(BASEFLAGS) $(CFLAGS) -fPIC -fvisibility=hidden -DDILLNET_BUILD -MMD -MP -c $< -o $@
$(B)/asan/%.o: %.c | $(B)/gen/suites.h
	@mkdir -p $(dir $@)
	$(CC) $(BASEFLAGS) -O1 -g $(SANFLAGS) $(call PKG_CFLAGS,libconfig libsystemd check) -MMD -MP -c $< -o $@

# Check suites register themselves: every tests/unit file that defines
# "Suite *NAME_suite(void)" is picked up here, so no list can drift.
$(B)/gen/suites.h: $(UNIT_SRC)
	@mkdir -p $(dir $@)
	@grep -ho '^Suite \*[a-z0-9_]*_suite(void)' $(UNIT_SRC) /dev/null \
	  | sed 's/^Suite \*\([a-z0-9_]*\)_suite(void)/X(\1)/' | sort -u > $@.tmp
	@if ! cmp -s $@.tmp $@; then mv $@.tmp $@; else rm -f $@.tmp; fi

# --- binaries -------------------------------------------------------------
$(DILLNETD): $(call obj,$(DPDK_SRC) $(DCORE_SRC) $(STACK_SRC) $(PROTO_SRC))
	$(CC) $(CFLAGS) -o $@ $^ $(DPDK_LIBS) $(CORE_LIBS)
$(DILLNETCTL): $(call obj,$(CLI_SRC) $(PROTO_SRC))
	$(CC) $(CFLAGS) -o $@ $^ -lm

$(LIBSO): $(call pic,$(LIB_SRC) $(PROTO_SRC)) client-lib/libdillnet.map
	$(CC) -shared -Wl,-soname,libdillnet.so.$(SOMAJOR) -Wl,--version-script=client-lib/libdillnet.map \
	  -Wl,--no-undefined -o $@ $(filter %.o,$^) -lpthread
	ln -sf libdillnet.so.$(VERSION) $(B)/libdillnet.so.$(SOMAJOR)
	ln -sf libdillnet.so.$(SOMAJOR) $(B)/libdillnet.so
$(LIBA): $(call pic,$(LIB_SRC) $(PROTO_SRC))
	rm -f $@; ar rcs $@ $^
$(B)/libdillnet.pc: client-lib/libdillnet.pc.in Makefile
	sed -e 's|@PREFIX@|$(PREFIX)|;s|@LIBDIR@|$(LIBDIR)|;s|@INCDIR@|$(INCDIR)|;s|@VERSION@|$(VERSION)|' $< > $@

# Apps, examples and test programs link the shared library as users do.
APP_LINK = -L$(B) -Wl,-rpath,'$$ORIGIN/..' -Wl,-rpath,$(abspath $(B)) -ldillnet -lpthread
$(B)/examples/%: client-lib/examples/%.c $(LIBSO) client-lib/dillnet.h
	@mkdir -p $(dir $@)
	$(CC) $(BASEFLAGS) $(CFLAGS) -o $@ $< $(APP_LINK)
# Test programs that speak the protocol themselves (hostile apps) build
# with proto/ instead of the library.
$(B)/tests/integ/proto_%: tests/integ/proto_%.c $(PROTO_SRC)
	@mkdir -p $(dir $@)
	$(CC) $(BASEFLAGS) $(CFLAGS) -o $@ $< $(PROTO_SRC)
$(B)/tests/integ/%: tests/integ/%.c $(LIBSO) $(LIBA)
	@mkdir -p $(dir $@)
	$(CC) $(BASEFLAGS) $(CFLAGS) -o $@ $< $(APP_LINK)
$(B)/bench/%: tests/bench/%.c $(LIBSO) $(LIBA)
	@mkdir -p $(dir $@)
	$(CC) $(BASEFLAGS) $(CFLAGS) -o $@ $< $(filter $(B)/obj/%.o,$^) $(APP_LINK) -lm
# bench_ring drives proto/ directly; those symbols are hidden in the library.
$(B)/bench/bench_ring: $(call obj,proto/dn_ring.c proto/dn_region.c)
# Stack-cost drivers link the daemon's own stack objects (same flags as
# dillnetd), not the library; tests/bench/bench_stack.sh runs them under
# callgrind.
$(B)/bench/stack_%: tests/bench/stack_%.c $(call obj,$(STACK_SRC) $(PROTO_SRC))
	@mkdir -p $(dir $@)
	$(CC) $(BASEFLAGS) $(CFLAGS) -o $@ $< $(filter %.o,$^) -lm

# Unit tests link the non-DPDK daemon core, the stack, proto and the
# client library's objects directly, once plain and once under ASan/UBSan.
UNIT_OBJS = $(call obj,$(UNIT_SRC) $(DCORE_SRC) $(STACK_SRC) $(PROTO_SRC) $(LIB_SRC))
UNIT_ASAN = $(call asan,$(UNIT_SRC) $(DCORE_SRC) $(STACK_SRC) $(PROTO_SRC) $(LIB_SRC))
$(UNITRUN): $(UNIT_OBJS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -o $@ $^ $(CHECK_LIBS) $(CORE_LIBS)
$(UNITASAN): $(UNIT_ASAN)
	@mkdir -p $(dir $@)
	$(CC) -g $(SANFLAGS) -o $@ $^ $(CHECK_LIBS) $(CORE_LIBS)

# libFuzzer targets: clang, ASan, everything that is not DPDK.
FUZZ_DEPS := $(DCORE_SRC) $(STACK_SRC) $(PROTO_SRC)
$(B)/fuzz/%: tests/fuzz/%.c $(FUZZ_DEPS)
	@mkdir -p $(dir $@)
	$(CLANG) -std=gnu11 -g -O1 -D_GNU_SOURCE -DDN_FUZZ -Iproto -Idaemon -Idaemon/stack -Iclient-lib \
	  -fsanitize=fuzzer,address,undefined $(call PKG_CFLAGS,libconfig libsystemd) \
	  -o $@ $< $(FUZZ_DEPS) $(CORE_LIBS)

-include $(shell find $(B) -name '*.d' 2>/dev/null)

# --- top-level targets ---------------------------------------------------
deps:
	@tests/deps.sh

check:
	@tests/deps.sh
	@$(MAKE) --no-print-directory check-build
	@$(MAKE) --no-print-directory check-run

check-build: all $(UNITRUN) $(UNITASAN) $(FUZZ_BIN)

FUZZ_SECONDS ?= 20
check-run:
	@tests/check.sh $(FUZZ_SECONDS)

unit: $(UNITRUN) $(UNITASAN)
	$(UNITRUN) && $(UNITASAN)

fuzz: $(FUZZ_BIN)
	@for f in $(FUZZ_BIN); do tests/fuzz/run.sh $$f 600 || exit 1; done

integ: all
	@tests/integ/run.sh

demo:
	@tests/deps.sh
	@$(MAKE) --no-print-directory all
	@tests/demo.sh

soak: all $(UNITRUN)
	@tests/soak.sh

bench:
	@tests/deps.sh
	@$(MAKE) --no-print-directory all
	@tests/bench/run.sh

install: all
	install -d $(DESTDIR)$(SBINDIR) $(DESTDIR)$(BINDIR) $(DESTDIR)$(LIBDIR)/pkgconfig \
	  $(DESTDIR)$(INCDIR) $(DESTDIR)$(MANDIR)/man3 $(DESTDIR)$(MANDIR)/man5 $(DESTDIR)$(MANDIR)/man7 \
	  $(DESTDIR)$(MANDIR)/man8 \
	  $(DESTDIR)$(SYSCONFDIR)/dillnet $(DESTDIR)$(UNITDIR) $(DESTDIR)$(SYSUSERSDIR) $(DESTDIR)$(TMPFILESDIR)
	install -m 0755 $(DILLNETD) $(DESTDIR)$(SBINDIR)/dillnetd
	install -m 0755 $(DILLNETCTL) $(DESTDIR)$(SBINDIR)/dillnetctl
	install -m 0755 $(LIBSO) $(DESTDIR)$(LIBDIR)/
	ln -sf libdillnet.so.$(VERSION) $(DESTDIR)$(LIBDIR)/libdillnet.so.$(SOMAJOR)
	ln -sf libdillnet.so.$(SOMAJOR) $(DESTDIR)$(LIBDIR)/libdillnet.so
	install -m 0644 $(LIBA) $(DESTDIR)$(LIBDIR)/
	# Generated here, not copied from $(B): that one keeps the PREFIX of
	# whichever build made it last.
	sed -e 's|@PREFIX@|$(PREFIX)|;s|@LIBDIR@|$(LIBDIR)|;s|@INCDIR@|$(INCDIR)|;s|@VERSION@|$(VERSION)|' \
	  client-lib/libdillnet.pc.in > $(DESTDIR)$(LIBDIR)/pkgconfig/libdillnet.pc
	chmod 0644 $(DESTDIR)$(LIBDIR)/pkgconfig/libdillnet.pc
	install -m 0644 $(wildcard client-lib/dillnet.h client-lib/mtcp_api.h client-lib/mtcp_epoll.h) $(DESTDIR)$(INCDIR)/
	$(if $(MAN3),install -m 0644 $(MAN3) $(DESTDIR)$(MANDIR)/man3/)
	$(if $(filter %.5,$(MAN58)),install -m 0644 $(filter %.5,$(MAN58)) $(DESTDIR)$(MANDIR)/man5/)
	$(if $(filter %.7,$(MAN58)),install -m 0644 $(filter %.7,$(MAN58)) $(DESTDIR)$(MANDIR)/man7/)
	$(if $(filter %.8,$(MAN58)),install -m 0644 $(filter %.8,$(MAN58)) $(DESTDIR)$(MANDIR)/man8/)
	test -e $(DESTDIR)$(SYSCONFDIR)/dillnet/dillnetd.conf || \
	  install -m 0644 etc/dillnetd.conf $(DESTDIR)$(SYSCONFDIR)/dillnet/dillnetd.conf
	sed 's|@SBINDIR@|$(SBINDIR)|g' systemd/dillnetd.service > $(DESTDIR)$(UNITDIR)/dillnetd.service
	install -m 0644 systemd/dillnetd-app.socket systemd/dillnetd-ctl.socket $(DESTDIR)$(UNITDIR)/ 2>/dev/null || true
	install -m 0644 systemd/dillnet.sysusers $(DESTDIR)$(SYSUSERSDIR)/dillnet.conf
	install -m 0644 systemd/dillnet.tmpfiles $(DESTDIR)$(TMPFILESDIR)/dillnet.conf

clean:
	rm -rf $(B)
