/* Unit tests for daemon/ctl_handlers.c: every ctl request type through
 * dn_ctl_serve_frame (the ctl server's validation and dispatch core) with
 * the real handler table, a real stack (tcp_harness), a real fault
 * injector and, for the app requests, a real app manager; only the port
 * (DPDK) is a stand-in behind the two callbacks of struct dn_ctlh.
 * Every reply must pass the checks dillnetctl applies (dn_msg_check). */
#include "ctl_handlers.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "tcp_harness.h"

struct cfx {
	struct tcph t;
	struct dn_fault fault;
	struct dn_tcpsock ts;       /* only its counters are read */
	struct dn_log log;
	struct dn_ctlh h;
	struct dn_ctl_conf conf;
	int fault_on;
	int port_unterminated;      /* the stand-in port reports unterminated names */
	int saved_stderr;
	_Alignas(8) uint8_t out[DN_MSG_MAX];
};

static uint64_t mono_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static void fake_port_info(void *port, struct dn_ctl_port *o)
{
	struct cfx *f = port;
	memset(o, 0, sizeof(*o));
	if (f->port_unterminated) {
		memset(o->port_name, 'p', sizeof(o->port_name));
		memset(o->driver, 'd', sizeof(o->driver));
	} else {
		snprintf(o->port_name, sizeof(o->port_name), "net_tap_unit");
		snprintf(o->driver, sizeof(o->driver), "net_tap");
	}
	memcpy(o->mac, th_mac_us, 6);
	o->link_up = 1;
	o->link_speed_mbps = 10000;
	o->mtu = 1500;
	o->ipackets = 123;
}

static void fake_port_counters(const void *port, dn_ctl_counter_fn cb, void *arg)
{
	(void)port;
	cb("port_unit_drops", 41, arg);
}

static void cfx_init(struct cfx *f)
{
	memset(f, 0, sizeof(*f));
	/* Handlers log (notice); keep the test output clean. */
	fflush(stderr);
	f->saved_stderr = dup(2);
	int nul = open("/dev/null", O_WRONLY | O_CLOEXEC);
	ck_assert_int_ge(nul, 0);
	dup2(nul, 2);
	close(nul);
	tcph_init(&f->t, 4096);
	struct dn_fault_conf fc;
	memset(&fc, 0, sizeof(fc));
	struct dn_fault_hooks fh = { .lower = &th_io, .lower_ctx = f->t.cap,
				     .now_us = &f->t.st.now_us };
	dn_fault_init(&f->fault, &fc, &fh);
	f->ts.cnt.tcpsock_listen = 7;
	dn_log_init(&f->log, DN_LOG_NOTICE);
	f->log.to_journal = 0;
	f->h = (struct dn_ctlh){
		.port = f,
		.port_info = fake_port_info,
		.port_counters = fake_port_counters,
		.st = &f->t.st,
		.fault = &f->fault,
		.tsock = &f->ts,
		.apps = NULL,
		.log = &f->log,
		.version = "9.8.7-unit",
		.now_us = mono_us,
		.start_us = mono_us() - 5000000u,
		.pid = 4242,
		.busy_poll = 1,
		.fault_on = &f->fault_on,
	};
	f->conf = (struct dn_ctl_conf){ .handlers = dn_ctlh_table, .nhandlers = dn_ctlh_ntable,
					.ctx = &f->h, .log = &f->log, .listen_fd = -1 };
}

static void cfx_fini(struct cfx *f)
{
	dn_fault_fini(&f->fault);
	tcph_fini(&f->t);
	fflush(stderr);
	dup2(f->saved_stderr, 2);
	close(f->saved_stderr);
}

/* Serve one request frame (header length field matching the payload);
 * returns the reply's result and checks the reply as dillnetctl would.
 * *rep points at the reply payload, *rep_len its size. */
static uint32_t call_raw(struct cfx *f, uint16_t type, uint16_t flags, const void *pl,
			 uint32_t len, const uint8_t **rep, uint32_t *rep_len)
{
	_Alignas(8) uint8_t req[sizeof(struct dn_msg_hdr) + 256];
	struct dn_msg_hdr h;
	ck_assert_uint_le(len, 256);
	dn_msg_hdr_init(&h, type, flags, len, 99, 0);
	memcpy(req, &h, sizeof(h));
	if (len)
		memcpy(req + sizeof(h), pl, len);
	size_t n = dn_ctl_serve_frame(&f->conf, req, sizeof(h) + len, f->out, sizeof(f->out));
	ck_assert_uint_ge(n, sizeof(h));
	struct dn_msg_hdr rh;
	if (dn_msg_type_name(type)) {
		ck_assert_int_eq(dn_msg_check(f->out, n, 1, &rh), 0);
	} else {
		/* An unknown type's reply cannot pass the type check; it
		 * must still be a bare, well-framed error. */
		ck_assert_uint_eq(n, sizeof(rh));
		memcpy(&rh, f->out, sizeof(rh));
		ck_assert_uint_eq(rh.len, 0);
		ck_assert_uint_ne(rh.result, 0);
	}
	ck_assert_uint_eq(rh.type, type);
	ck_assert_uint_eq(rh.req_id, 99);
	ck_assert(rh.flags & DN_MSG_F_REPLY);
	if (rep)
		*rep = f->out + sizeof(h);
	if (rep_len)
		*rep_len = rh.len;
	return rh.result;
}

static uint32_t call(struct cfx *f, uint16_t type, const void *pl, uint32_t len,
		     const uint8_t **rep, uint32_t *rep_len)
{
	return call_raw(f, type, 0, pl, len, rep, rep_len);
}

static dn_ctl_handler handler_for(uint16_t type)
{
	for (size_t i = 0; i < dn_ctlh_ntable; i++)
		if (dn_ctlh_table[i].type == type)
			return dn_ctlh_table[i].fn;
	return NULL;
}

struct counter_find {
	const char *name;
	uint64_t value;
	int found;
};

static void find_counter(const uint8_t *p, uint32_t len, struct counter_find *cf)
{
	struct dn_ctl_list l;
	memcpy(&l, p, sizeof(l));
	ck_assert_uint_eq(len, sizeof(l) + (size_t)l.count * sizeof(struct dn_ctl_counter));
	for (uint32_t i = 0; i < l.count; i++) {
		struct dn_ctl_counter c;
		memcpy(&c, p + sizeof(l) + i * sizeof(c), sizeof(c));
		if (strcmp(c.name, cf->name) == 0) {
			cf->found = 1;
			cf->value = c.value;
		}
	}
}

START_TEST(test_ctl_table_covers_every_ctl_type_once)
{
	/* Every CTL_* type of the protocol has exactly one handler, and the
	 * table names nothing else (HELLO and app types are not ctl's). */
	unsigned ctl_types = 0;
#define X(name, num, rq, rp) \
	if (strncmp(#name, "CTL_", 4) == 0) { \
		unsigned hits = 0; \
		ctl_types++; \
		for (size_t i = 0; i < dn_ctlh_ntable; i++) \
			hits += dn_ctlh_table[i].type == num; \
		ck_assert_msg(hits == 1, "%s has %u handlers", #name, hits); \
	}
	DN_MSG_TYPES(X)
#undef X
	ck_assert_uint_eq(ctl_types, dn_ctlh_ntable);
}
END_TEST

START_TEST(test_ctl_status_reports_port_stack_and_log)
{
	struct cfx f;
	const uint8_t *p;
	uint32_t n;
	struct dn_ctl_status s;
	cfx_init(&f);
	f.fault_on = 1;
	ck_assert_uint_eq(call(&f, DN_MSG_CTL_STATUS, NULL, 0, &p, &n), 0);
	ck_assert_uint_eq(n, sizeof(s));
	memcpy(&s, p, sizeof(s));
	ck_assert_str_eq(s.version, "9.8.7-unit");
	ck_assert_str_eq(s.port_name, "net_tap_unit");
	ck_assert_str_eq(s.driver, "net_tap");
	ck_assert_mem_eq(s.mac, th_mac_us, 6);
	ck_assert_uint_eq(s.link_up, 1);
	ck_assert_uint_eq(s.link_speed_mbps, 10000);
	ck_assert_uint_eq(s.ip4, TH_IP_US);
	ck_assert_uint_eq(s.prefix_len, 24);
	ck_assert_uint_eq(s.gateway, TH_IP_GW);
	ck_assert_uint_eq(s.mtu, 1500);
	ck_assert_uint_eq(s.pid, 4242);
	ck_assert_uint_eq(s.poll_mode, 1);
	ck_assert_uint_eq(s.log_level, DN_LOG_NOTICE);
	ck_assert_uint_eq(s.apps, 0);
	ck_assert_uint_eq(s.fault_enabled, 1);
	ck_assert_uint_ge(s.uptime_ms, 5000);
	ck_assert_uint_lt(s.uptime_ms, 65000);
	/* The injector switched off by a reload shows at once. */
	f.fault_on = 0;
	ck_assert_uint_eq(call(&f, DN_MSG_CTL_STATUS, NULL, 0, &p, &n), 0);
	memcpy(&s, p, sizeof(s));
	ck_assert_uint_eq(s.fault_enabled, 0);
	cfx_fini(&f);
}
END_TEST

START_TEST(test_ctl_port_names_terminated_whatever_the_pmd_says)
{
	struct cfx f;
	const uint8_t *p;
	uint32_t n;
	struct dn_ctl_port pi;
	struct dn_ctl_status s;
	cfx_init(&f);
	ck_assert_uint_eq(call(&f, DN_MSG_CTL_PORT, NULL, 0, &p, &n), 0);
	ck_assert_uint_eq(n, sizeof(pi));
	memcpy(&pi, p, sizeof(pi));
	ck_assert_str_eq(pi.port_name, "net_tap_unit");
	ck_assert_uint_eq(pi.ipackets, 123);
	/* Unterminated names from the port are cut, so the replies still
	 * pass dn_msg_check (call() checks) instead of failing as EPROTO. */
	f.port_unterminated = 1;
	ck_assert_uint_eq(call(&f, DN_MSG_CTL_PORT, NULL, 0, &p, &n), 0);
	memcpy(&pi, p, sizeof(pi));
	ck_assert_uint_eq(strlen(pi.port_name), sizeof(pi.port_name) - 1);
	ck_assert_uint_eq(strlen(pi.driver), sizeof(pi.driver) - 1);
	ck_assert_uint_eq(call(&f, DN_MSG_CTL_STATUS, NULL, 0, &p, &n), 0);
	memcpy(&s, p, sizeof(s));
	ck_assert_uint_eq(strlen(s.port_name), sizeof(s.port_name) - 1);
	cfx_fini(&f);
}
END_TEST

START_TEST(test_ctl_counters_from_every_source)
{
	struct cfx f;
	const uint8_t *p;
	uint32_t n;
	cfx_init(&f);
	ck_assert_uint_eq(call(&f, DN_MSG_CTL_COUNTERS, NULL, 0, &p, &n), 0);
	struct counter_find port = { "port_unit_drops" }, eth = { "eth_rx" },
			    fault = { "fault_rx_dropped" }, ts = { "tcpsock_listen" };
	find_counter(p, n, &port);
	find_counter(p, n, &eth);
	find_counter(p, n, &fault);
	find_counter(p, n, &ts);
	ck_assert(port.found && port.value == 41);
	/* tcph_init taught the stack the gateway with one ARP request. */
	ck_assert(eth.found && eth.value >= 1);
	ck_assert_msg(fault.found, "no fault_rx_dropped counter");
	ck_assert(ts.found && ts.value == 7);
	/* No injector or bridge: their counters are left out, not invented. */
	f.h.fault = NULL;
	f.h.tsock = NULL;
	ck_assert_uint_eq(call(&f, DN_MSG_CTL_COUNTERS, NULL, 0, &p, &n), 0);
	struct counter_find fault2 = { "fault_rx_dropped" }, ts2 = { "tcpsock_listen" };
	find_counter(p, n, &fault2);
	find_counter(p, n, &ts2);
	ck_assert(!fault2.found && !ts2.found);
	cfx_fini(&f);
}
END_TEST

START_TEST(test_ctl_counters_all_or_nothing_when_cut)
{
	/* A counter list that does not fit is refused (EOVERFLOW), never
	 * sent partly: a missing counter would read as one that is not. */
	struct cfx f;
	uint32_t ol = 0;
	dn_ctl_handler fn = handler_for(DN_MSG_CTL_COUNTERS);
	cfx_init(&f);
	size_t cap = sizeof(struct dn_ctl_list) + 3 * sizeof(struct dn_ctl_counter);
	ck_assert_int_eq(fn(&f.h, NULL, 0, f.out, cap, &ol), EOVERFLOW);
	ck_assert_int_eq(fn(&f.h, NULL, 0, f.out, sizeof(struct dn_ctl_list) - 1, &ol), EOVERFLOW);
	ck_assert_int_eq(fn(&f.h, NULL, 0, f.out, sizeof(f.out), &ol), 0);
	ck_assert_uint_gt(ol, cap);
	cfx_fini(&f);
}
END_TEST

START_TEST(test_ctl_arp_lists_learned_neighbour)
{
	struct cfx f;
	const uint8_t *p;
	uint32_t n;
	struct dn_ctl_list l;
	struct dn_ctl_arp_entry e;
	cfx_init(&f);
	ck_assert_uint_eq(call(&f, DN_MSG_CTL_ARP, NULL, 0, &p, &n), 0);
	memcpy(&l, p, sizeof(l));
	ck_assert_uint_eq(l.count, 1);
	ck_assert_uint_eq(l.flags, 0);
	memcpy(&e, p + sizeof(l), sizeof(e));
	ck_assert_uint_eq(e.ip4, TH_IP_GW);
	ck_assert_mem_eq(e.mac, th_mac_gw, 6);
	/* Two neighbours with room for one: refused, not cut. */
	th_learn(&f.t.st, f.t.cap, TH_IP_PEER2, th_mac_peer2);
	uint32_t ol;
	size_t cap = sizeof(l) + sizeof(e);
	ck_assert_int_eq(handler_for(DN_MSG_CTL_ARP)(&f.h, NULL, 0, f.out, cap, &ol), EOVERFLOW);
	ck_assert_uint_eq(call(&f, DN_MSG_CTL_ARP, NULL, 0, &p, &n), 0);
	memcpy(&l, p, sizeof(l));
	ck_assert_uint_eq(l.count, 2);
	cfx_fini(&f);
}
END_TEST

START_TEST(test_ctl_loglevel_sets_known_levels_only)
{
	struct cfx f;
	struct dn_ctl_loglevel l;
	cfx_init(&f);
	memset(&l, 0, sizeof(l));
	snprintf(l.level, sizeof(l.level), "debug");
	ck_assert_uint_eq(call(&f, DN_MSG_CTL_LOGLEVEL, &l, sizeof(l), NULL, NULL), 0);
	ck_assert_int_eq(f.log.level, DN_LOG_DEBUG);
	/* Meaning: unknown and empty names are EINVAL, the level stays. */
	snprintf(l.level, sizeof(l.level), "loud");
	ck_assert_uint_eq(call(&f, DN_MSG_CTL_LOGLEVEL, &l, sizeof(l), NULL, NULL), EINVAL);
	memset(&l, 0, sizeof(l));
	ck_assert_uint_eq(call(&f, DN_MSG_CTL_LOGLEVEL, &l, sizeof(l), NULL, NULL), EINVAL);
	ck_assert_int_eq(f.log.level, DN_LOG_DEBUG);
	/* Form: not NUL-terminated, or the wrong size: EBADMSG. */
	memset(l.level, 'w', sizeof(l.level));
	ck_assert_uint_eq(call(&f, DN_MSG_CTL_LOGLEVEL, &l, sizeof(l), NULL, NULL), EBADMSG);
	snprintf(l.level, sizeof(l.level), "err");
	ck_assert_uint_eq(call(&f, DN_MSG_CTL_LOGLEVEL, &l, sizeof(l) - 1, NULL, NULL), EBADMSG);
	ck_assert_uint_eq(call(&f, DN_MSG_CTL_LOGLEVEL, NULL, 0, NULL, NULL), EBADMSG);
	ck_assert_int_eq(f.log.level, DN_LOG_DEBUG);
	/* The handler alone checks the terminator too. */
	uint32_t ol;
	memset(l.level, 'w', sizeof(l.level));
	ck_assert_int_eq(handler_for(DN_MSG_CTL_LOGLEVEL)(&f.h, &l, sizeof(l), f.out, 0, &ol), EBADMSG);
	ck_assert_int_eq(f.log.level, DN_LOG_DEBUG);
	cfx_fini(&f);
}
END_TEST

/* n listeners on ports 1000.. with no owner (as an orphan would have). */
static void listeners(struct cfx *f, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		int err = 0;
		ck_assert_ptr_nonnull(dn_tcp_listen(&f->t.st, 0, (uint16_t)(1000 + i), 4, NULL, &err));
	}
}

START_TEST(test_ctl_conns_cut_to_fit_and_flagged)
{
	struct cfx f;
	const uint8_t *p;
	uint32_t n;
	struct dn_ctl_list l;
	struct dn_ctl_tcpconn c;
	cfx_init(&f);
	ck_assert_uint_eq(call(&f, DN_MSG_CTL_CONNS, NULL, 0, &p, &n), 0);
	memcpy(&l, p, sizeof(l));
	ck_assert_uint_eq(l.count, 0);
	listeners(&f, 5);
	ck_assert_uint_eq(call(&f, DN_MSG_CTL_CONNS, NULL, 0, &p, &n), 0);
	memcpy(&l, p, sizeof(l));
	ck_assert_uint_eq(l.count, 5);
	ck_assert_uint_eq(l.flags, 0);
	memcpy(&c, p + sizeof(l), sizeof(c));
	ck_assert_str_eq(c.state_name, "LISTEN");
	ck_assert_uint_ge(c.local_port, 1000);
	ck_assert_uint_le(c.local_port, 1004);
	ck_assert_uint_eq(c.app_pid, 0);
	/* Room for two: the first two, flagged as cut. */
	uint32_t ol;
	size_t cap = sizeof(l) + 2 * sizeof(c) + sizeof(c) / 2;
	ck_assert_int_eq(handler_for(DN_MSG_CTL_CONNS)(&f.h, NULL, 0, f.out, cap, &ol), 0);
	memcpy(&l, f.out, sizeof(l));
	ck_assert_uint_eq(l.count, 2);
	ck_assert_uint_eq(l.flags, DN_CTL_LIST_TRUNCATED);
	ck_assert_uint_eq(ol, sizeof(l) + 2 * sizeof(c));
	/* Room for the header only: an empty list, flagged. */
	ck_assert_int_eq(handler_for(DN_MSG_CTL_CONNS)(&f.h, NULL, 0, f.out, sizeof(l), &ol), 0);
	memcpy(&l, f.out, sizeof(l));
	ck_assert_uint_eq(l.count, 0);
	ck_assert_uint_eq(l.flags, DN_CTL_LIST_TRUNCATED);
	ck_assert_int_eq(handler_for(DN_MSG_CTL_CONNS)(&f.h, NULL, 0, f.out, sizeof(l) - 1, &ol),
			 EOVERFLOW);
	cfx_fini(&f);
}
END_TEST

START_TEST(test_ctl_kill_conn_resets_match_only)
{
	struct cfx f;
	const uint8_t *p;
	uint32_t n;
	struct dn_ctl_list l;
	int err = 0;
	cfx_init(&f);
	struct dn_tcp_conn *c = dn_tcp_connect(&f.t.st, TH_IP_GW, 8080, 0, &f.t.rx.d, &f.t.tx.d,
					       NULL, &err);
	ck_assert_ptr_nonnull(c);
	f.t.rings_used = true;
	listeners(&f, 1);
	ck_assert_uint_eq(call(&f, DN_MSG_CTL_CONNS, NULL, 0, &p, &n), 0);
	memcpy(&l, p, sizeof(l));
	ck_assert_uint_eq(l.count, 2);
	/* Nothing matches (other port; out-of-range-looking values are
	 * just values that match nothing): ESRCH, nothing touched. */
	struct dn_ctl_kill_conn k = { .remote_ip4 = TH_IP_GW, .remote_port = 8081 };
	ck_assert_uint_eq(call(&f, DN_MSG_CTL_KILL_CONN, &k, sizeof(k), NULL, NULL), ESRCH);
	k = (struct dn_ctl_kill_conn){ .local_ip4 = 0xffffffffu, .local_port = 65535,
				       .remote_ip4 = 0xffffffffu, .remote_port = 65535 };
	ck_assert_uint_eq(call(&f, DN_MSG_CTL_KILL_CONN, &k, sizeof(k), NULL, NULL), ESRCH);
	/* Wrong size: EBADMSG before any meaning. */
	k = (struct dn_ctl_kill_conn){ .remote_port = 8080 };
	ck_assert_uint_eq(call(&f, DN_MSG_CTL_KILL_CONN, &k, sizeof(k) - 2, NULL, NULL), EBADMSG);
	ck_assert_int_eq(f.t.n_connected, 0);
	/* The match: dropped (a connect still in SYN-SENT learns it failed
	 * with ECONNRESET); listeners are never killed. */
	ck_assert_uint_eq(call(&f, DN_MSG_CTL_KILL_CONN, &k, sizeof(k), NULL, NULL), 0);
	ck_assert_int_eq(f.t.n_connected, 1);
	ck_assert_int_eq(f.t.connected_err, ECONNRESET);
	ck_assert_uint_eq(call(&f, DN_MSG_CTL_KILL_CONN, &k, sizeof(k), NULL, NULL), ESRCH);
	k = (struct dn_ctl_kill_conn){ 0 };
	ck_assert_uint_eq(call(&f, DN_MSG_CTL_KILL_CONN, &k, sizeof(k), NULL, NULL), ESRCH);
	/* It stays listed, CLOSED, until its owner lets go of the rings. */
	ck_assert_uint_eq(call(&f, DN_MSG_CTL_CONNS, NULL, 0, &p, &n), 0);
	memcpy(&l, p, sizeof(l));
	for (uint32_t i = 0; i < l.count; i++) {
		struct dn_ctl_tcpconn e;
		memcpy(&e, p + sizeof(l) + i * sizeof(e), sizeof(e));
		if (e.remote_port == 8080)
			ck_assert_str_eq(e.state_name, "CLOSED");
		else
			ck_assert_str_eq(e.state_name, "LISTEN");
	}
	cfx_fini(&f);
}
END_TEST

START_TEST(test_ctl_apps_without_manager)
{
	/* Before the app manager is up (or in a build without it): an empty
	 * list and ESRCH, never a NULL dereference. */
	struct cfx f;
	const uint8_t *p;
	uint32_t n;
	struct dn_ctl_list l;
	cfx_init(&f);
	ck_assert_uint_eq(call(&f, DN_MSG_CTL_APPS, NULL, 0, &p, &n), 0);
	ck_assert_uint_eq(n, sizeof(l));
	memcpy(&l, p, sizeof(l));
	ck_assert_uint_eq(l.count, 0);
	struct dn_ctl_kill_app k = { .pid = (uint32_t)getpid() };
	ck_assert_uint_eq(call(&f, DN_MSG_CTL_KILL_APP, &k, sizeof(k), NULL, NULL), ESRCH);
	uint32_t ol;
	ck_assert_int_eq(handler_for(DN_MSG_CTL_APPS)(&f.h, NULL, 0, f.out, sizeof(l) - 1, &ol),
			 EOVERFLOW);
	cfx_fini(&f);
}
END_TEST

START_TEST(test_ctl_apps_list_and_kill_with_manager)
{
	struct cfx f;
	const uint8_t *p;
	uint32_t n;
	struct dn_ctl_list l;
	struct dn_ctl_app a;
	cfx_init(&f);
	/* A real manager on an abstract-namespace listener, one app
	 * connected, greeted and attached. */
	char name[64];
	snprintf(name, sizeof(name), "dn-unit-ctlh-%d", (int)getpid());
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	memcpy(sa.sun_path + 1, name, strlen(name));
	socklen_t sl = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + strlen(name));
	int lfd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	ck_assert_int_ge(lfd, 0);
	ck_assert_int_eq(bind(lfd, (struct sockaddr *)&sa, sl), 0);
	ck_assert_int_eq(listen(lfd, 4), 0);
	struct dn_evloop *ev = dn_evloop_new();
	ck_assert_ptr_nonnull(ev);
	struct dn_app_conf ac = { .listen_fd = lfd, .max_apps = 4, .slots = 2, .rx_size = 4096,
				  .tx_size = 4096, .log = &f.log };
	struct dn_apps *m = dn_apps_open(&ac, ev);
	ck_assert_ptr_nonnull(m);
	f.h.apps = m;
	int cfd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(cfd, 0);
	ck_assert_int_eq(connect(cfd, (struct sockaddr *)&sa, sl), 0);
	_Alignas(8) uint8_t hb[sizeof(struct dn_msg_hdr) + sizeof(struct dn_msg_hello)];
	struct dn_msg_hdr hh;
	struct dn_msg_hello hello;
	dn_msg_hello_init(&hello, "ctlh-app");
	dn_msg_hdr_init(&hh, DN_MSG_HELLO, 0, sizeof(hello), 1, 0);
	memcpy(hb, &hh, sizeof(hh));
	memcpy(hb + sizeof(hh), &hello, sizeof(hello));
	for (int i = 0; i < 5; i++)
		dn_evloop_run_once(ev, 2);
	ck_assert_int_eq(send(cfd, hb, sizeof(hb), MSG_NOSIGNAL), (ssize_t)sizeof(hb));
	for (int i = 0; i < 5; i++)
		dn_evloop_run_once(ev, 2);
	/* Listed once attached (a connection that has not attached is no
	 * app); the reply's fds die with cfd. */
	_Alignas(8) uint8_t ab[sizeof(struct dn_msg_hdr) + sizeof(struct dn_app_attach_req)];
	struct dn_app_attach_req aq = { 0 };
	dn_msg_hdr_init(&hh, DN_MSG_APP_ATTACH, 0, sizeof(aq), 2, 0);
	memcpy(ab, &hh, sizeof(hh));
	memcpy(ab + sizeof(hh), &aq, sizeof(aq));
	ck_assert_int_eq(send(cfd, ab, sizeof(ab), MSG_NOSIGNAL), (ssize_t)sizeof(ab));
	for (int i = 0; i < 5; i++)
		dn_evloop_run_once(ev, 2);

	ck_assert_uint_eq(call(&f, DN_MSG_CTL_APPS, NULL, 0, &p, &n), 0);
	memcpy(&l, p, sizeof(l));
	ck_assert_uint_eq(l.count, 1);
	memcpy(&a, p + sizeof(l), sizeof(a));
	ck_assert_uint_eq(a.pid, (uint32_t)getpid());
	ck_assert_str_eq(a.name, "ctlh-app");
	/* No such pid (0, the largest): ESRCH; the app stays. */
	struct dn_ctl_kill_app k = { .pid = 0 };
	ck_assert_uint_eq(call(&f, DN_MSG_CTL_KILL_APP, &k, sizeof(k), NULL, NULL), ESRCH);
	k.pid = 0xffffffffu;
	ck_assert_uint_eq(call(&f, DN_MSG_CTL_KILL_APP, &k, sizeof(k), NULL, NULL), ESRCH);
	k.pid = (uint32_t)getpid();
	ck_assert_uint_eq(call(&f, DN_MSG_CTL_KILL_APP, &k, sizeof(k) - 4,
			       NULL, NULL), EBADMSG);
	ck_assert_uint_eq(call(&f, DN_MSG_CTL_APPS, NULL, 0, &p, &n), 0);
	memcpy(&l, p, sizeof(l));
	ck_assert_uint_eq(l.count, 1);
	/* The real pid: gone from the list, and a second kill finds none. */
	ck_assert_uint_eq(call(&f, DN_MSG_CTL_KILL_APP, &k, sizeof(k), NULL, NULL), 0);
	ck_assert_uint_eq(call(&f, DN_MSG_CTL_APPS, NULL, 0, &p, &n), 0);
	memcpy(&l, p, sizeof(l));
	ck_assert_uint_eq(l.count, 0);
	ck_assert_uint_eq(call(&f, DN_MSG_CTL_KILL_APP, &k, sizeof(k), NULL, NULL), ESRCH);

	close(cfd);
	for (int i = 0; i < 3; i++)
		dn_evloop_run_once(ev, 2);
	dn_apps_close(m);
	dn_evloop_free(ev);
	close(lfd);
	cfx_fini(&f);
}
END_TEST

START_TEST(test_ctl_malformed_frames_get_errors)
{
	struct cfx f;
	uint8_t junk[64];
	cfx_init(&f);
	memset(junk, 0, sizeof(junk));
	/* Requests without payload, sent with one: EBADMSG for each. */
	static const uint16_t none_types[] = { DN_MSG_CTL_STATUS, DN_MSG_CTL_PORT, DN_MSG_CTL_ARP,
					       DN_MSG_CTL_COUNTERS, DN_MSG_CTL_APPS, DN_MSG_CTL_CONNS };
	for (size_t i = 0; i < sizeof(none_types) / sizeof(none_types[0]); i++)
		ck_assert_uint_eq(call(&f, none_types[i], junk, 4, NULL, NULL), EBADMSG);
	/* Fixed-size requests one byte short or long. */
	ck_assert_uint_eq(call(&f, DN_MSG_CTL_KILL_APP, junk, sizeof(struct dn_ctl_kill_app) + 1,
			       NULL, NULL), EBADMSG);
	ck_assert_uint_eq(call(&f, DN_MSG_CTL_KILL_CONN, junk, sizeof(struct dn_ctl_kill_conn) - 1,
			       NULL, NULL), EBADMSG);
	/* Unknown type: ENOMSG; a known type ctl does not serve (an app
	 * request, HELLO again): EOPNOTSUPP; a "reply" sent as a request:
	 * EBADMSG. */
	ck_assert_uint_eq(call(&f, 999, NULL, 0, NULL, NULL), ENOMSG);
	ck_assert_uint_eq(call(&f, DN_MSG_APP_DETACH, NULL, 0, NULL, NULL), EOPNOTSUPP);
	struct dn_tcp_sock_req sr = { 0 };
	ck_assert_uint_eq(call(&f, DN_MSG_TCP_CLOSE, &sr, sizeof(sr), NULL, NULL), EOPNOTSUPP);
	ck_assert_uint_eq(call_raw(&f, DN_MSG_CTL_STATUS, DN_MSG_F_REPLY, NULL, 0, NULL, NULL),
			  EBADMSG);
	/* Frames that cannot be answered: no reply (the server drops the
	 * client). */
	_Alignas(8) uint8_t fr[sizeof(struct dn_msg_hdr) + 8];
	struct dn_msg_hdr h;
	dn_msg_hdr_init(&h, DN_MSG_CTL_STATUS, 0, 8, 5, 0);
	memcpy(fr, &h, sizeof(h));
	ck_assert_uint_eq(dn_ctl_serve_frame(&f.conf, fr, sizeof(h) - 1, f.out, sizeof(f.out)), 0);
	ck_assert_uint_eq(dn_ctl_serve_frame(&f.conf, fr, sizeof(h), f.out, sizeof(f.out)), 0);
	cfx_fini(&f);
}
END_TEST

START_TEST(test_ctl_every_handler_checks_size_alone)
{
	/* Called directly with a payload size its type never has, each
	 * handler refuses with EBADMSG before reading the payload. */
	struct cfx f;
	_Alignas(8) uint8_t big[512];
	cfx_init(&f);
	memset(big, 'x', sizeof(big));
	for (size_t i = 0; i < dn_ctlh_ntable; i++) {
		uint32_t ol = 12345;
		int r = dn_ctlh_table[i].fn(&f.h, big, 3, f.out, sizeof(f.out), &ol);
		ck_assert_msg(r == EBADMSG, "%s: %d", dn_msg_type_name(dn_ctlh_table[i].type), r);
	}
	ck_assert_int_eq(f.log.level, DN_LOG_NOTICE);
	cfx_fini(&f);
}
END_TEST

Suite *ctl_handlers_suite(void)
{
	Suite *s = suite_create("ctl_handlers");
	TCase *tc = tcase_create("requests");
	tcase_add_test(tc, test_ctl_table_covers_every_ctl_type_once);
	tcase_add_test(tc, test_ctl_status_reports_port_stack_and_log);
	tcase_add_test(tc, test_ctl_port_names_terminated_whatever_the_pmd_says);
	tcase_add_test(tc, test_ctl_counters_from_every_source);
	tcase_add_test(tc, test_ctl_counters_all_or_nothing_when_cut);
	tcase_add_test(tc, test_ctl_arp_lists_learned_neighbour);
	tcase_add_test(tc, test_ctl_loglevel_sets_known_levels_only);
	tcase_add_test(tc, test_ctl_conns_cut_to_fit_and_flagged);
	tcase_add_test(tc, test_ctl_kill_conn_resets_match_only);
	tcase_add_test(tc, test_ctl_apps_without_manager);
	tcase_add_test(tc, test_ctl_apps_list_and_kill_with_manager);
	tcase_add_test(tc, test_ctl_malformed_frames_get_errors);
	tcase_add_test(tc, test_ctl_every_handler_checks_size_alone);
	suite_add_tcase(s, tc);
	return s;
}
