#include "ctl_handlers.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "tcp.h"

/* The payload rule of every handler below is checked once more here (the
 * server checked it already): a handler called on its own, by a test or
 * a future server, must not read past req. */
static int req_size_ok(uint32_t rl, size_t want)
{
	return rl == want;
}

static int h_status(void *ctx, const void *req, uint32_t rl, void *out, size_t cap, uint32_t *ol)
{
	const struct dn_ctlh *h = ctx;
	struct dn_ctl_status s;
	struct dn_ctl_port pi;
	(void)req;
	if (!req_size_ok(rl, 0))
		return EBADMSG;
	if (cap < sizeof(s))
		return EOVERFLOW;
	memset(&s, 0, sizeof(s));
	memset(&pi, 0, sizeof(pi));
	h->port_info(h->port, &pi);
	snprintf(s.version, sizeof(s.version), "%s", h->version ? h->version : "");
	s.uptime_ms = (h->now_us() - h->start_us) / 1000;
	s.pid = h->pid;
	s.poll_mode = h->busy_poll ? 1 : 0;
	/* The port's strings are copied bounded and re-terminated: the reply
	 * must pass the client's NUL checks whatever the PMD reported. */
	snprintf(s.port_name, sizeof(s.port_name), "%.*s", (int)sizeof(pi.port_name), pi.port_name);
	snprintf(s.driver, sizeof(s.driver), "%.*s", (int)sizeof(pi.driver), pi.driver);
	memcpy(s.mac, pi.mac, 6);
	s.link_up = pi.link_up;
	s.link_speed_mbps = pi.link_speed_mbps;
	s.ip4 = h->st->conf.ip4;
	s.prefix_len = h->st->conf.prefix_len;
	s.gateway = h->st->conf.gateway;
	s.mtu = h->st->conf.mtu;
	s.log_level = h->log->level;
	s.apps = h->apps ? dn_apps_attached(h->apps) : 0;
	s.fault_enabled = h->fault_on && *h->fault_on ? 1 : 0;
	memcpy(out, &s, sizeof(s));
	*ol = sizeof(s);
	return 0;
}

static int h_port(void *ctx, const void *req, uint32_t rl, void *out, size_t cap, uint32_t *ol)
{
	const struct dn_ctlh *h = ctx;
	struct dn_ctl_port pi;
	(void)req;
	if (!req_size_ok(rl, 0))
		return EBADMSG;
	if (cap < sizeof(pi))
		return EOVERFLOW;
	memset(&pi, 0, sizeof(pi));
	h->port_info(h->port, &pi);
	pi.port_name[sizeof(pi.port_name) - 1] = '\0';
	pi.driver[sizeof(pi.driver) - 1] = '\0';
	memcpy(out, &pi, sizeof(pi));
	*ol = sizeof(pi);
	return 0;
}

/* List replies are built in place: a dn_ctl_list header then entries. */
struct list_fill {
	uint8_t *base;
	size_t cap, entry;
	uint32_t count;
	int overflow;
	int truncated;   /* overflow is fine: send the first entries, say so */
};

static void *list_slot(struct list_fill *f)
{
	size_t off = sizeof(struct dn_ctl_list) + (size_t)f->count * f->entry;
	if (off + f->entry > f->cap) {
		f->overflow = 1;
		return NULL;
	}
	f->count++;
	return f->base + off;
}

static void add_counter(const char *name, uint64_t v, void *arg)
{
	struct list_fill *f = arg;
	struct dn_ctl_counter *c = list_slot(f);
	if (!c)
		return;
	memset(c, 0, sizeof(*c));
	snprintf(c->name, sizeof(c->name), "%s", name);
	c->value = v;
}

static int list_done(struct list_fill *f, uint32_t *ol)
{
	struct dn_ctl_list l = { .count = f->count, .flags = f->truncated ? DN_CTL_LIST_TRUNCATED : 0 };
	if (f->overflow && !f->truncated)
		return EOVERFLOW;
	memcpy(f->base, &l, sizeof(l));
	*ol = (uint32_t)(sizeof(l) + (size_t)f->count * f->entry);
	return 0;
}

static int h_counters(void *ctx, const void *req, uint32_t rl, void *out, size_t cap, uint32_t *ol)
{
	const struct dn_ctlh *h = ctx;
	struct list_fill f = { .base = out, .cap = cap, .entry = sizeof(struct dn_ctl_counter) };
	(void)req;
	if (!req_size_ok(rl, 0))
		return EBADMSG;
	if (cap < sizeof(struct dn_ctl_list))
		return EOVERFLOW;
	h->port_counters(h->port, add_counter, &f);
	dn_stack_counters_foreach(h->st, add_counter, &f);
	if (h->fault)
		dn_fault_counters_foreach(h->fault, add_counter, &f);
	if (h->tsock)
		dn_tcpsock_counters_foreach(h->tsock, add_counter, &f);
	if (h->apps)
		dn_apps_counters_foreach(h->apps, add_counter, &f);
	/* All or nothing: a counter missing from `show counters` would read
	 * as a counter that does not exist. */
	return list_done(&f, ol);
}

static void add_arp(const struct dn_arp_view *e, void *arg)
{
	struct list_fill *f = arg;
	struct dn_ctl_arp_entry *o = list_slot(f);
	if (!o)
		return;
	memset(o, 0, sizeof(*o));
	o->ip4 = e->ip;
	memcpy(o->mac, e->mac, 6);
	o->state = (uint8_t)e->state;
	o->age_ms = (uint32_t)(e->age_us / 1000);
	o->queued = e->queued;
}

static int h_arp(void *ctx, const void *req, uint32_t rl, void *out, size_t cap, uint32_t *ol)
{
	const struct dn_ctlh *h = ctx;
	struct list_fill f = { .base = out, .cap = cap, .entry = sizeof(struct dn_ctl_arp_entry) };
	(void)req;
	if (!req_size_ok(rl, 0))
		return EBADMSG;
	if (cap < sizeof(struct dn_ctl_list))
		return EOVERFLOW;
	dn_arp_foreach(h->st, add_arp, &f);
	return list_done(&f, ol);
}

static int h_loglevel(void *ctx, const void *req, uint32_t rl, void *out, size_t cap, uint32_t *ol)
{
	const struct dn_ctlh *h = ctx;
	struct dn_ctl_loglevel l;
	(void)out;
	(void)cap;
	if (!req_size_ok(rl, sizeof(l)))
		return EBADMSG;
	memcpy(&l, req, sizeof(l));
	if (!memchr(l.level, '\0', sizeof(l.level)))
		return EBADMSG;
	int lv = dn_log_level_parse(l.level);
	if (lv < 0)
		return EINVAL;
	h->log->level = (enum dn_log_level)lv;
	dn_notice(h->log, "log level set to %s by dillnetctl", l.level);
	*ol = 0;
	return 0;
}

static int h_apps(void *ctx, const void *req, uint32_t rl, void *out, size_t cap, uint32_t *ol)
{
	const struct dn_ctlh *h = ctx;
	(void)req;
	if (!req_size_ok(rl, 0))
		return EBADMSG;
	if (!h->apps) {
		struct dn_ctl_list l = { 0 };
		if (cap < sizeof(l))
			return EOVERFLOW;
		memcpy(out, &l, sizeof(l));
		*ol = sizeof(l);
		return 0;
	}
	return dn_apps_ctl_list(h->apps, out, cap, ol);
}

static int h_kill_app(void *ctx, const void *req, uint32_t rl, void *out, size_t cap, uint32_t *ol)
{
	const struct dn_ctlh *h = ctx;
	struct dn_ctl_kill_app k;
	(void)out;
	(void)cap;
	if (!req_size_ok(rl, sizeof(k)))
		return EBADMSG;
	memcpy(&k, req, sizeof(k));
	*ol = 0;
	if (!h->apps)
		return ESRCH;
	int r = dn_apps_kill_pid(h->apps, k.pid);
	if (r == 0)
		dn_notice(h->log, "app pid %u detached by dillnetctl", k.pid);
	return r;
}

static int add_conn(const struct dn_tcp_conn_info *i, void *arg)
{
	struct list_fill *f = arg;
	struct dn_ctl_tcpconn *o = list_slot(f);
	if (!o)
		return 1;
	memset(o, 0, sizeof(*o));
	o->local_ip4 = i->local_ip;
	o->remote_ip4 = i->remote_ip;
	o->local_port = i->local_port;
	o->remote_port = i->remote_port;
	o->state = (uint8_t)i->state;
	o->cc = (uint8_t)i->cc;
	o->sack = (uint8_t)i->sack;
	o->timestamps = (uint8_t)i->timestamps;
	o->wscale_snd = (uint8_t)i->wscale_snd;
	o->wscale_rcv = (uint8_t)i->wscale_rcv;
	snprintf(o->state_name, sizeof(o->state_name), "%s", dn_tcp_state_name(i->state));
	snprintf(o->cc_name, sizeof(o->cc_name), "%s", dn_tcp_cc_name(i->cc));
	o->send_q = i->send_q;
	o->unsent = i->unsent;
	o->recv_q = i->recv_q;
	o->snd_wnd = i->snd_wnd;
	o->rcv_wnd = i->rcv_wnd;
	o->cwnd = i->cwnd;
	o->ssthresh = i->ssthresh;
	o->mss = i->mss;
	o->srtt_us = i->srtt_us;
	o->rttvar_us = i->rttvar_us;
	o->rto_us = i->rto_us;
	o->retransmits = i->retransmits;
	dn_tcpsock_owner_of(i->owner, &o->app_pid, &o->app_id);
	return 0;
}

static int h_conns(void *ctx, const void *req, uint32_t rl, void *out, size_t cap, uint32_t *ol)
{
	const struct dn_ctlh *h = ctx;
	struct list_fill f = { .base = out, .cap = cap, .entry = sizeof(struct dn_ctl_tcpconn) };
	(void)req;
	if (!req_size_ok(rl, 0))
		return EBADMSG;
	if (cap < sizeof(struct dn_ctl_list))
		return EOVERFLOW;
	dn_tcp_foreach(h->st, add_conn, &f);
	/* More connections than one reply holds: the first ones, flagged. */
	f.truncated = f.overflow;
	return list_done(&f, ol);
}

static int h_kill_conn(void *ctx, const void *req, uint32_t rl, void *out, size_t cap, uint32_t *ol)
{
	const struct dn_ctlh *h = ctx;
	struct dn_ctl_kill_conn k;
	(void)out;
	(void)cap;
	if (!req_size_ok(rl, sizeof(k)))
		return EBADMSG;
	memcpy(&k, req, sizeof(k));
	*ol = 0;
	unsigned n = dn_tcp_kill(h->st, k.local_ip4, k.local_port, k.remote_ip4, k.remote_port);
	if (n == 0)
		return ESRCH;
	dn_notice(h->log, "dillnetctl reset %u connection(s)", n);
	return 0;
}

const struct dn_ctl_handler_entry dn_ctlh_table[] = {
	{ DN_MSG_CTL_CONNS, h_conns },
	{ DN_MSG_CTL_KILL_CONN, h_kill_conn },
	{ DN_MSG_CTL_APPS, h_apps },
	{ DN_MSG_CTL_KILL_APP, h_kill_app },
	{ DN_MSG_CTL_STATUS, h_status },
	{ DN_MSG_CTL_PORT, h_port },
	{ DN_MSG_CTL_ARP, h_arp },
	{ DN_MSG_CTL_COUNTERS, h_counters },
	{ DN_MSG_CTL_LOGLEVEL, h_loglevel },
};
const size_t dn_ctlh_ntable = sizeof(dn_ctlh_table) / sizeof(dn_ctlh_table[0]);
