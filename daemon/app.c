/* The app manager; see app.h. */
#include "app.h"
#include "dn_efd.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/sockios.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* Frames read per readiness callback, so one app's requests do not hold
 * up the loop. */
#define FRAME_BUDGET 16
/* Connections accepted per readiness callback of the listening socket. */
#define ACCEPT_BUDGET 16
/* Refusal log lines per second; the rest are counted, and summed up in
 * the next line logged. */
#define REFUSAL_LOGS_PER_S 10
#define LOG_KINDS 3

struct dn_apps {
	struct dn_app_conf conf;
	uint32_t *uids, *gids;       /* private copies of the policy lists */
	struct dn_evloop *ev;
	struct dn_app **apps;
	unsigned napps, cap;
	uint32_t next_id;
	/* Callbacks of the manager nest (a handler may kill an app); apps are
	 * freed only when the outermost one returns. */
	int depth;
	int reaping;
	uint8_t *rxbuf, *txbuf;      /* one frame each */
	struct dn_uid_use **use;     /* per-uid totals of uids with state */
	unsigned nuse, capuse;
	unsigned npending;           /* connections not attached yet */
	unsigned rr;                 /* round-robin start of dn_apps_poll */
	uint64_t next_sweep_ms;      /* next look for expired deadlines */
	uint64_t log_window_ms[LOG_KINDS]; /* refusal log rate limit, per kind */
	unsigned log_n[LOG_KINDS];
	uint64_t log_dropped[LOG_KINDS];
	struct dn_apps_counters cnt;
};

static uint64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* ---- per-uid totals --------------------------------------------------- */

static struct dn_uid_use *uid_find(struct dn_apps *m, uint32_t uid)
{
	for (unsigned i = 0; i < m->nuse; i++)
		if (m->use[i]->uid == uid)
			return m->use[i];
	return NULL;
}

/* Found or made with no reference: the caller takes one at once. */
static struct dn_uid_use *uid_get_or_new(struct dn_apps *m, uint32_t uid)
{
	struct dn_uid_use *u = uid_find(m, uid);
	if (u)
		return u;
	if (m->nuse == m->capuse) {
		unsigned nc = m->capuse ? 2 * m->capuse : 16;
		struct dn_uid_use **n = realloc(m->use, nc * sizeof(*n));
		if (!n)
			return NULL;
		m->use = n;
		m->capuse = nc;
	}
	u = calloc(1, sizeof(*u));
	if (!u)
		return NULL;
	u->mgr = m;
	u->uid = uid;
	m->use[m->nuse++] = u;
	return u;
}

void dn_uid_use_get(struct dn_uid_use *u)
{
	u->refs++;
}

void dn_uid_use_put(struct dn_uid_use *u)
{
	if (--u->refs)
		return;
	struct dn_apps *m = u->mgr;
	for (unsigned i = 0; m && i < m->nuse; i++) {
		if (m->use[i] == u) {
			m->use[i] = m->use[--m->nuse];
			break;
		}
	}
	free(u);
}

void dn_uid_release_kept(struct dn_uid_use *u, uint64_t region_bytes)
{
	if (u->apps)
		u->apps--;
	u->region_bytes -= region_bytes < u->region_bytes ? region_bytes : u->region_bytes;
}

/* Apps counted against apps.max_apps: attached ones and departed ones
 * whose connections still finish, of every uid. */
static unsigned apps_in_use(const struct dn_apps *m)
{
	unsigned n = 0;
	for (unsigned i = 0; i < m->nuse; i++)
		n += m->use[i]->apps;
	return n;
}

static void unpend(struct dn_app *a)
{
	if (!a->pending)
		return;
	a->pending = 0;
	a->mgr->npending--;
	a->uidu->pending--;
}

/* At most REFUSAL_LOGS_PER_S lines a second of each kind: a user
 * hammering the socket must not flood the journal, nor crowd out the
 * lines of another kind (a policy refusal behind a flood of evictions). */
enum { LOGK_POLICY, LOGK_LIMIT, LOGK_PENDING, LOGK_N };
_Static_assert(LOGK_N == LOG_KINDS, "one rate limit per kind");
static const char *const logk_name[LOGK_N] = { "policy refusals", "limit refusals",
						"closed unattached connections" };

static int refusal_log_ok(struct dn_apps *m, int kind)
{
	uint64_t now = mono_ms();
	if (now - m->log_window_ms[kind] >= 1000) {
		if (m->log_dropped[kind])
			dn_warn(m->conf.log, "%llu more %s not logged (rate limit)",
				(unsigned long long)m->log_dropped[kind], logk_name[kind]);
		m->log_window_ms[kind] = now;
		m->log_n[kind] = 0;
		m->log_dropped[kind] = 0;
	}
	if (m->log_n[kind] < REFUSAL_LOGS_PER_S) {
		m->log_n[kind]++;
		return 1;
	}
	m->log_dropped[kind]++;
	m->cnt.apps_log_suppressed++;
	return 0;
}

void dn_app_limit_log(struct dn_app *a, uint32_t bit, const char *what,
		      const char *limit, uint32_t value)
{
	if (a->limits_logged & bit)
		return;
	a->limits_logged |= bit;
	dn_warn(a->mgr->conf.log, "app %u pid %d uid %u (%s): %s refused: %s (%u)",
		a->id, (int)a->pid, (unsigned)a->uid, a->name[0] ? a->name : "?",
		what, limit, value);
}

static uint64_t realtime_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* ---- teardown --------------------------------------------------------- */

static void app_free(struct dn_apps *m, struct dn_app *a)
{
	dn_evloop_del(m->ev, a->fd);
	unpend(a);
	if (a->attached) {
		if (m->conf.on_detach)
			m->conf.on_detach(m->conf.ctx, a);
		dn_evloop_del(m->ev, a->dmn_efd);
		/* A kept region stays charged to the uid (an app and its
		 * bytes) until its keeper calls dn_uid_release_kept. */
		if (!a->region_kept) {
			dn_uid_release_kept(a->uidu, dn_region_charge(a->region.l.total_size,
								       m->conf.region_commit_max));
			dn_region_destroy(&a->region);
		}
		close(a->app_efd);
		close(a->dmn_efd);
	}
	close(a->fd);
	dn_info(m->conf.log, "app %u pid %d uid %u (%s) gone: %s", a->id, (int)a->pid,
		(unsigned)a->uid, a->name[0] ? a->name : "?", a->dead_why);
	dn_uid_use_put(a->uidu);
	free(a);
}

static void reap(struct dn_apps *m)
{
	if (m->reaping)
		return;
	m->reaping = 1;
	/* Detach hooks may mark further apps dead: loop until none is. */
	for (unsigned i = 0; i < m->napps;) {
		struct dn_app *a = m->apps[i];
		if (!a->dead) {
			i++;
			continue;
		}
		m->apps[i] = m->apps[--m->napps];
		app_free(m, a);
		i = 0;
	}
	m->reaping = 0;
}

static void enter(struct dn_apps *m)
{
	m->depth++;
}

static void leave(struct dn_apps *m)
{
	if (--m->depth == 0)
		reap(m);
}

static void mark_dead(struct dn_app *a, const char *why)
{
	if (a->dead)
		return;
	a->dead = 1;
	unpend(a);   /* its place is free at once, not at the reap */
	snprintf(a->dead_why, sizeof(a->dead_why), "%s", why);
}

void dn_app_violation(struct dn_app *a, const char *fmt, ...)
{
	char why[160];
	va_list ap;
	if (a->dead)
		return;
	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	dn_warn(a->mgr->conf.log, "app %u pid %d uid %u (%s): protocol violation: %s; disconnecting",
		a->id, (int)a->pid, (unsigned)a->uid, a->name[0] ? a->name : "?", why);
	char d[96];
	snprintf(d, sizeof(d), "violation: %.80s", why);
	mark_dead(a, d);
	enter(a->mgr);
	leave(a->mgr);
}

/* ---- sending ---------------------------------------------------------- */

/* The daemon never blocks on an app: a reply that does not fit in the
 * socket buffer means the app does not read its replies. */
static int send_frame(struct dn_app *a, const void *buf, size_t len, const int *fds, int nfds)
{
	struct iovec iov = { .iov_base = (void *)buf, .iov_len = len };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	union {
		char buf[CMSG_SPACE(sizeof(int) * DN_ATTACH_NFDS)];
		struct cmsghdr align;
	} cbuf;
	if (nfds > 0) {
		memset(&cbuf, 0, sizeof(cbuf));
		mh.msg_control = cbuf.buf;
		mh.msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)nfds);
		struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)nfds);
		memcpy(CMSG_DATA(cm), fds, sizeof(int) * (size_t)nfds);
	}
	ssize_t r = sendmsg(a->fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
	if (r == (ssize_t)len)
		return 0;
	if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
		dn_app_violation(a, "does not read its replies (socket buffer full)");
	else
		mark_dead(a, "connection lost while replying");
	return -1;
}

static void reply(struct dn_app *a, const struct dn_msg_hdr *rq, uint32_t result,
		  const void *payload, uint32_t len, const int *fds, int nfds)
{
	struct dn_apps *m = a->mgr;
	struct dn_msg_hdr h;
	if (result)
		len = 0;
	dn_msg_hdr_init(&h, rq->type, DN_MSG_F_REPLY, len, rq->req_id, result);
	memcpy(m->txbuf, &h, sizeof(h));
	if (len && payload != m->txbuf + sizeof(h))
		memcpy(m->txbuf + sizeof(h), payload, len);
	send_frame(a, m->txbuf, sizeof(h) + len, fds, nfds);
}

/* ---- events and wakeups ----------------------------------------------- */

int dn_app_event(struct dn_app *a, const struct dn_evt *e)
{
	if (a->dead || !a->attached)
		return -1;
	int rc = dn_region_evt_push(&a->region, e);
	if (rc < 0) {
		dn_app_violation(a, "event ring head invalid");
		return -1;
	}
	if (dn_ring_consumer_needs_wakeup(&a->region.evt))
		dn_efd_signal(a->app_efd);
	return rc;
}

void dn_app_signal(struct dn_app *a)
{
	if (!a->dead && a->attached)
		dn_efd_signal(a->app_efd);
}

void dn_app_wake_consumer(struct dn_app *a, struct dn_ring *r)
{
	if (!a->dead && a->attached && dn_ring_consumer_needs_wakeup(r))
		dn_efd_signal(a->app_efd);
}

void dn_app_wake_producer(struct dn_app *a, struct dn_ring *r)
{
	if (!a->dead && a->attached && dn_ring_producer_needs_wakeup(r))
		dn_efd_signal(a->app_efd);
}

/* ---- commands --------------------------------------------------------- */

/* Returns the number handled; stops at the budget, an empty ring or a
 * violation. */
static unsigned drain_commands(struct dn_apps *m, struct dn_app *a, unsigned budget)
{
	unsigned n = 0, nops = 0;
	struct dn_cmd c;
	/* Checked before draining: hints lost before this point are covered
	 * by the rescan, later ones by the commands that follow. */
	if (dn_region_peer_lost(&a->region, 1) && m->conf.on_rescan)
		m->conf.on_rescan(m->conf.ctx, a);
	while (n < budget && !a->dead) {
		int rc = dn_region_cmd_pop(&a->region, &c);
		if (rc == 0)
			break;
		if (rc < 0) {
			dn_app_violation(a, "command ring: invalid index or record (op %u)", c.op);
			break;
		}
		n++;
		if (c.op == DN_CMD_NOP) {
			/* Queued without a wakeup each: an app that keeps its
			 * waiting flag up would get an eventfd write per NOP.
			 * One wakeup after the batch covers them all. */
			struct dn_evt e = { .op = DN_EVT_NOP, .cookie = c.cookie };
			if (dn_region_evt_push(&a->region, &e) < 0) {
				dn_app_violation(a, "event ring head invalid");
				break;
			}
			nops++;
			continue;
		}
		if (m->conf.on_command) {
			int err = m->conf.on_command(m->conf.ctx, a, &c);
			if (err)
				dn_app_violation(a, "command %s on socket %u: %s",
						 dn_cmd_name(c.op), c.sock, strerror(err));
		}
	}
	if (nops && !a->dead && dn_ring_consumer_needs_wakeup(&a->region.evt)) {
		/* Not while the app has yet to consume up to our previous
		 * wakeup: its head, loaded after its flag (which it raised
		 * after storing that head), shows events it had not taken
		 * when it raised the flag, so its re-check before sleeping
		 * finds these too.  An app that keeps the flag up while
		 * awake gets a write per wakeup it uses, not one per pass. */
		uint64_t head = atomic_load_explicit(&a->region.evt.sh->head, memory_order_acquire);
		if (!a->nop_woke || (int64_t)(head - a->nop_wake_tail) >= 0) {
			dn_efd_signal(a->app_efd);
			a->nop_woke = 1;
			a->nop_wake_tail = a->region.evt.tail;
		}
	}
	return n;
}

/* The app's eventfd is registered one-shot: it fires once, then stays
 * quiet until dn_apps_prepare_sleep drains and re-arms it.  An app that
 * signals without end (it should only when the daemon said it sleeps)
 * thus costs nothing while the loop is awake, not a read per pass; the
 * loop's next pass drains the ring in dn_apps_poll, within the per-app
 * budget and in turn with the other apps. */
#define EFD_EVENTS (EPOLLIN | EPOLLONESHOT)
static void on_app_efd(struct dn_evloop *ev, int fd, uint32_t events, void *arg)
{
	struct dn_app *a = arg;
	(void)ev;
	(void)fd;
	(void)events;
	a->efd_fired = 1;
}

static void efd_rearm(struct dn_app *a)
{
	uint64_t v;
	if (!a->efd_fired)
		return;
	a->efd_fired = 0;
	if (read(a->dmn_efd, &v, sizeof(v)) < 0 && errno != EAGAIN) {
		/* nothing to drain */
	}
	dn_evloop_mod(a->mgr->ev, a->dmn_efd, EFD_EVENTS);
}

/* Connections that did not attach in time go; their places are free. */
static void sweep_deadlines(struct dn_apps *m)
{
	uint64_t now = mono_ms();
	if (now < m->next_sweep_ms)
		return;
	m->next_sweep_ms = now + 50;
	for (unsigned i = 0; i < m->napps; i++) {
		struct dn_app *a = m->apps[i];
		if (a->dead || a->attached || now < a->deadline_ms)
			continue;
		m->cnt.apps_pending_timeout++;
		if (refusal_log_ok(m, LOGK_PENDING))
			dn_warn(m->conf.log, "app pid %d uid %u: no HELLO and attach within %u ms (apps.hello_timeout_ms); closing",
				(int)a->pid, (unsigned)a->uid, m->conf.hello_timeout_ms);
		mark_dead(a, "attach deadline passed");
	}
}

unsigned dn_apps_poll(struct dn_apps *m)
{
	unsigned total = 0;
	enter(m);
	sweep_deadlines(m);
	unsigned n = m->napps;
	unsigned start = n ? m->rr % n : 0;
	m->rr++;
	for (unsigned k = 0; k < n && total < DN_APPS_PASS_BUDGET; k++) {
		unsigned i = (start + k) % n;
		if (i >= m->napps)
			break;   /* a hook removed apps: the rest next pass */
		struct dn_app *a = m->apps[i];
		if (!a->attached || a->dead)
			continue;
		unsigned budget = DN_APPS_PASS_BUDGET - total;
		if (budget > DN_APPS_CMD_BUDGET)
			budget = DN_APPS_CMD_BUDGET;
		unsigned got = drain_commands(m, a, budget);
		if (got == DN_APPS_CMD_BUDGET)
			m->cnt.apps_cmd_budget_hit++;
		total += got;
	}
	leave(m);
	return total;
}

int dn_apps_prepare_sleep(struct dn_apps *m)
{
	int busy = 0;
	for (unsigned i = 0; i < m->napps; i++) {
		struct dn_app *a = m->apps[i];
		if (!a->attached || a->dead)
			continue;
		/* Re-armed before the flag goes up: a signal after this
		 * point wakes the loop. */
		efd_rearm(a);
		dn_ring_cons_prepare_sleep(&a->region.cmd);
		/* Non-zero includes DN_RING_CORRUPT: the poll that follows
		 * finds and reports it. */
		if (dn_ring_readable(&a->region.cmd) != 0)
			busy = 1;
	}
	return busy;
}

void dn_apps_cancel_sleep(struct dn_apps *m)
{
	for (unsigned i = 0; i < m->napps; i++) {
		struct dn_app *a = m->apps[i];
		if (a->attached && !a->dead)
			dn_ring_cons_cancel_sleep(&a->region.cmd);
	}
}

/* ---- requests --------------------------------------------------------- */

static int do_attach(struct dn_apps *m, struct dn_app *a, const struct dn_msg_hdr *rq,
		     const struct dn_app_attach_req *req)
{
	struct dn_region_layout l;
	uint32_t slots = m->conf.slots;
	int err;

	if (req->flags != 0)
		return EINVAL;
	if (req->want_slots && req->want_slots < slots)
		slots = req->want_slots;
	err = dn_region_layout(&l, slots, m->conf.rx_size, m->conf.tx_size);
	if (err)
		return err;
	if (m->conf.max_region && l.total_size > m->conf.max_region)
		return ENOMEM;
	/* The limits again, now that the app asks for the memory: pending
	 * connections of one uid may all say HELLO at once. */
	struct dn_uid_use *u = a->uidu;
	if (apps_in_use(m) >= m->conf.max_apps) {
		m->cnt.apps_refused_max_apps++;
		if (refusal_log_ok(m, LOGK_LIMIT))
			dn_warn(m->conf.log, "app pid %d uid %u (%s) attach refused: apps.max_apps (%u) reached",
				(int)a->pid, (unsigned)a->uid, a->name, m->conf.max_apps);
		return EAGAIN;
	}
	if (u->apps >= m->conf.uid_max_apps) {
		m->cnt.apps_refused_uid_apps++;
		if (refusal_log_ok(m, LOGK_LIMIT))
			dn_warn(m->conf.log, "app pid %d uid %u (%s) attach refused: apps.per_uid.max_apps (%u) reached",
				(int)a->pid, (unsigned)a->uid, a->name, m->conf.uid_max_apps);
		return EAGAIN;
	}
	uint64_t charge = dn_region_charge(l.total_size, m->conf.region_commit_max);
	if (m->conf.uid_max_region && u->region_bytes + charge > m->conf.uid_max_region) {
		m->cnt.apps_refused_uid_region++;
		if (refusal_log_ok(m, LOGK_LIMIT))
			dn_warn(m->conf.log, "app pid %d uid %u (%s) attach refused: apps.per_uid.region_mb (%llu MiB) reached",
				(int)a->pid, (unsigned)a->uid, a->name,
				(unsigned long long)(m->conf.uid_max_region >> 20));
		return ENOMEM;
	}

	a->app_efd = a->dmn_efd = -1;
	/* A sealed sparse memfd (dn_region.h): the daemon keeps the fd to
	 * punch freed slots out and to read what the region commits. */
	err = dn_region_create(&a->region, &l, "dillnet-app");
	if (err) {
		errno = err;
		goto fail;
	}
	a->app_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	a->dmn_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (a->app_efd < 0 || a->dmn_efd < 0)
		goto fail;
	if (dn_evloop_add(m->ev, a->dmn_efd, EFD_EVENTS, on_app_efd, a) < 0)
		goto fail;
	a->attached = 1;
	a->attach_ms = realtime_ms();
	unpend(a);
	u->apps++;
	u->region_bytes += charge;

	struct dn_app_attach_rep rep = {
		.region_size = l.total_size,
		.layout_version = DN_REGION_VERSION,
		.nslots = l.nslots,
		.rx_size = l.rx_size,
		.tx_size = l.tx_size,
		.app_id = a->id,
		.nfds = DN_ATTACH_NFDS,
	};
	int fds[DN_ATTACH_NFDS] = { a->region.memfd, a->app_efd, a->dmn_efd };
	reply(a, rq, 0, &rep, sizeof(rep), fds, DN_ATTACH_NFDS);
	dn_info(m->conf.log, "app %u pid %d uid %u (%s) attached: %u slots, region %llu bytes",
		a->id, (int)a->pid, (unsigned)a->uid, a->name, l.nslots,
		(unsigned long long)l.total_size);
	return 0;

fail:
	err = errno ? errno : ENOMEM;
	if (a->app_efd >= 0)
		close(a->app_efd);
	if (a->dmn_efd >= 0)
		close(a->dmn_efd);
	a->app_efd = a->dmn_efd = -1;
	if (a->region.base)
		dn_region_destroy(&a->region);
	memset(&a->region, 0, sizeof(a->region));
	dn_err(m->conf.log, "app %u pid %d: attach failed: %s", a->id, (int)a->pid, strerror(err));
	return err;
}

static void serve_hello(struct dn_apps *m, struct dn_app *a, const struct dn_msg_hdr *rq,
			const uint8_t *payload)
{
	struct dn_msg_hello peer, ours;
	char why[128];
	if (rq->type != DN_MSG_HELLO) {
		dn_app_violation(a, "%s before HELLO", dn_msg_type_name(rq->type));
		return;
	}
	memcpy(&peer, payload, sizeof(peer));
	snprintf(a->name, sizeof(a->name), "%s", peer.name);
	/* The name goes into log lines: no control characters, so an app
	 * cannot forge lines (a newline) or mess up a terminal. */
	for (char *p = a->name; *p; p++)
		if ((unsigned char)*p < 0x20 || (unsigned char)*p >= 0x7f)
			*p = '?';
	int err = dn_msg_hello_check(&peer, why, sizeof(why));
	dn_msg_hello_init(&ours, "dillnetd");
	/* Answer with our version even on a mismatch so the app can name
	 * both versions too; then hang up. */
	reply(a, rq, 0, &ours, sizeof(ours), NULL, 0);
	if (err) {
		dn_warn(m->conf.log, "app pid %d uid %u (%s) refused: %s", (int)a->pid,
			(unsigned)a->uid, a->name, why);
		mark_dead(a, "HELLO refused");
		return;
	}
	a->said_hello = 1;
}

static void serve_frame(struct dn_apps *m, struct dn_app *a, size_t n)
{
	struct dn_msg_hdr rq;
	int err = dn_msg_check(m->rxbuf, n, 0, &rq);

	if (err == ENOMSG && a->said_hello) {
		memcpy(&rq, m->rxbuf, sizeof(rq));
		/* A type from a newer minor version: not an attack. */
		reply(a, &rq, ENOMSG, NULL, 0, NULL, 0);
		return;
	}
	if (err) {
		dn_app_violation(a, "malformed frame (%s)", strerror(err));
		return;
	}
	if (rq.flags & DN_MSG_F_REPLY) {
		dn_app_violation(a, "sent a reply as a request");
		return;
	}
	const uint8_t *payload = m->rxbuf + sizeof(rq);
	if (!a->said_hello) {
		serve_hello(m, a, &rq, payload);
		return;
	}
	switch (rq.type) {
	case DN_MSG_HELLO:
		reply(a, &rq, EISCONN, NULL, 0, NULL, 0);
		return;
	case DN_MSG_APP_ATTACH: {
		struct dn_app_attach_req req;
		memcpy(&req, payload, sizeof(req));
		if (a->attached) {
			reply(a, &rq, EISCONN, NULL, 0, NULL, 0);
			return;
		}
		err = do_attach(m, a, &rq, &req);
		if (err)
			reply(a, &rq, (uint32_t)err, NULL, 0, NULL, 0);
		/* Over a limit: answered, and closed at once. */
		if (err == EAGAIN || err == ENOMEM)
			mark_dead(a, err == EAGAIN ? "attach refused: too many apps" :
				  "attach refused: uid region memory");
		return;
	}
	case DN_MSG_APP_DETACH:
		reply(a, &rq, 0, NULL, 0, NULL, 0);
		mark_dead(a, "detached");
		return;
	default:
		break;
	}
	dn_app_handler fn = NULL;
	for (size_t i = 0; i < m->conf.nhandlers; i++)
		if (m->conf.handlers[i].type == rq.type)
			fn = m->conf.handlers[i].fn;
	if (!fn) {
		reply(a, &rq, EOPNOTSUPP, NULL, 0, NULL, 0);
		return;
	}
	if (!a->attached) {
		reply(a, &rq, ENOTCONN, NULL, 0, NULL, 0);
		return;
	}
	uint8_t *out = m->txbuf + sizeof(struct dn_msg_hdr);
	uint32_t olen = 0;
	err = fn(m->conf.ctx, a, payload, rq.len, out, DN_MSG_MAX - sizeof(struct dn_msg_hdr), &olen);
	if (a->dead)
		return;
	if (!err) {
		/* Our own reply must pass the check the app will apply. */
		struct dn_msg_hdr h;
		dn_msg_hdr_init(&h, rq.type, DN_MSG_F_REPLY, olen, rq.req_id, 0);
		memcpy(m->txbuf, &h, sizeof(h));
		if (olen > DN_MSG_MAX - sizeof(h) ||
		    dn_msg_check(m->txbuf, sizeof(h) + olen, 1, &h) != 0) {
			dn_err(m->conf.log, "app: handler for %s built a bad reply (%u bytes)",
			       dn_msg_type_name(rq.type), olen);
			err = EPROTO;
		}
	}
	reply(a, &rq, (uint32_t)err, out, err ? 0 : olen, NULL, 0);
}

/* Is there surely room for one more reply in the app socket?  A reply
 * that does not fit is the app's violation (send_frame), but an app with
 * many calls in flight at once (a thousand threads closing their
 * connections together) is not misbehaving: it is only slower to read its
 * replies than we are to write them.  So a request is read only while its
 * reply fits; otherwise the daemon waits for EPOLLOUT, and an app that
 * never reads just stops being served.  Always true with nothing queued,
 * so a small send buffer cannot stall an app. */
static int reply_room(int fd)
{
	int queued = 0, sndbuf = 0;
	socklen_t l = sizeof(sndbuf);
	if (ioctl(fd, SIOCOUTQ, &queued) < 0 ||
	    getsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, &l) < 0)
		return 1;
	/* A whole frame plus the kernel's per-message overhead. */
	return queued == 0 || queued + DN_MSG_MAX + 4096 <= sndbuf;
}

static void on_app_fd(struct dn_evloop *ev, int fd, uint32_t events, void *arg)
{
	struct dn_app *a = arg;
	struct dn_apps *m = a->mgr;
	if (a->dead)
		return;
	if (events & EPOLLOUT)
		dn_evloop_mod(ev, fd, EPOLLIN);   /* replies drained: read again */
	enter(m);
	for (int i = 0; i < FRAME_BUDGET && !a->dead; i++) {
		if (!reply_room(fd)) {
			dn_evloop_mod(ev, fd, EPOLLOUT);
			break;
		}
		/* Plain recv: fds an app might attach are discarded by the
		 * kernel, never installed here.  MSG_TRUNC reports the real
		 * length so an oversized frame is seen, not silently cut. */
		ssize_t n = recv(fd, m->rxbuf, DN_MSG_MAX, MSG_TRUNC | MSG_DONTWAIT);
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
			break;
		if (n <= 0) {
			mark_dead(a, n == 0 ? "disconnected" : "connection error");
			break;
		}
		if ((size_t)n > DN_MSG_MAX) {
			dn_app_violation(a, "oversized frame (%zd bytes)", n);
			break;
		}
		serve_frame(m, a, (size_t)n);
	}
	leave(m);
}

/* ---- accept and policy ------------------------------------------------ */

static int in_list(const uint32_t *v, unsigned n, uint32_t x)
{
	for (unsigned i = 0; i < n; i++)
		if (v[i] == x)
			return 1;
	return 0;
}

static int policy_allows(const struct dn_apps *m, int fd, const struct ucred *cr)
{
	if (m->conf.n_uids == 0 && m->conf.n_gids == 0)
		return 1;
	if (in_list(m->uids, m->conf.n_uids, cr->uid) || in_list(m->gids, m->conf.n_gids, cr->gid))
		return 1;
	if (m->conf.n_gids == 0)
		return 0;
	/* Supplementary groups of the peer, as they were at connect time. */
	gid_t small[64], *g = small;
	socklen_t len = sizeof(small);
	int ok = 0;
	if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, g, &len) < 0) {
		if (errno != ERANGE || !(g = malloc(len)))
			return 0;
		if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, g, &len) < 0)
			goto out;
	}
	for (size_t i = 0; i < len / sizeof(gid_t); i++)
		if (in_list(m->gids, m->conf.n_gids, g[i]))
			ok = 1;
out:
	if (g != small)
		free(g);
	return ok;
}

static unsigned live_apps(const struct dn_apps *m)
{
	unsigned n = 0;
	for (unsigned i = 0; i < m->napps; i++)
		n += !m->apps[i]->dead;
	return n;
}

/* Answer a refused peer with the reason and hang up at once: its first
 * frame if it already sent one (the library sends HELLO right after
 * connect), else a HELLO reply with the library's handshake id 1.  The
 * connection never enters the table. */
static void refuse_now(struct dn_apps *m, int fd, int err)
{
	struct dn_msg_hdr h;
	uint16_t type = DN_MSG_HELLO;
	uint32_t id = 1;
	ssize_t n = recv(fd, m->rxbuf, DN_MSG_MAX, MSG_DONTWAIT | MSG_TRUNC);
	if (n >= (ssize_t)sizeof(h)) {
		memcpy(&h, m->rxbuf, sizeof(h));
		type = h.type;
		id = h.req_id;
	}
	dn_msg_hdr_init(&h, type, DN_MSG_F_REPLY, 0, id, (uint32_t)err);
	if (send(fd, &h, sizeof(h), MSG_DONTWAIT | MSG_NOSIGNAL) < 0) {
		/* Gone or not reading: closing is all that is left. */
	}
	close(fd);
}

/* Make room for one more unattached connection of u: its own oldest
 * beyond the per-uid cap, else the oldest of the uid holding the most
 * beyond the total cap.  Idle connections thus cost their uid only. */
static void make_pending_room(struct dn_apps *m, struct dn_uid_use *u)
{
	for (int pass = 0; pass < 2; pass++) {
		struct dn_uid_use *victim_uid = NULL;
		if (u->pending >= m->conf.uid_max_pending) {
			victim_uid = u;
		} else if (m->npending >= m->conf.max_pending) {
			victim_uid = u;
			for (unsigned i = 0; i < m->nuse; i++)
				if (m->use[i]->pending > victim_uid->pending)
					victim_uid = m->use[i];
		} else {
			return;
		}
		struct dn_app *old = NULL;
		for (unsigned i = 0; i < m->napps; i++) {
			struct dn_app *a = m->apps[i];
			if (a->pending && a->uidu == victim_uid &&
			    (!old || a->accept_ms < old->accept_ms || (a->accept_ms == old->accept_ms && a->id < old->id)))
				old = a;
		}
		if (!old)
			return;
		m->cnt.apps_pending_evicted++;
		if (refusal_log_ok(m, LOGK_PENDING))
			dn_warn(m->conf.log, "app pid %d uid %u: unattached connection closed for a newer one (%s)",
				(int)old->pid, (unsigned)old->uid,
				victim_uid == u && u->pending >= m->conf.uid_max_pending ?
				"apps.per_uid.max_pending" : "apps.max_pending");
		mark_dead(old, "closed for a newer connection (pending limit)");
	}
}

static void accept_one(struct dn_apps *m, int cfd)
{
	struct ucred cr;
	socklen_t crl = sizeof(cr);
	if (getsockopt(cfd, SOL_SOCKET, SO_PEERCRED, &cr, &crl) < 0) {
		close(cfd);
		return;
	}
	struct dn_uid_use *u = uid_find(m, cr.uid);
	int err = 0;
	if (!policy_allows(m, cfd, &cr)) {
		err = EACCES;
		m->cnt.apps_refused_policy++;
		if (refusal_log_ok(m, LOGK_POLICY))
			dn_warn(m->conf.log, "app pid %d uid %u gid %u refused: not allowed by policy",
				(int)cr.pid, (unsigned)cr.uid, (unsigned)cr.gid);
	} else if (apps_in_use(m) >= m->conf.max_apps) {
		err = EAGAIN;
		m->cnt.apps_refused_max_apps++;
		if (refusal_log_ok(m, LOGK_LIMIT))
			dn_warn(m->conf.log, "app pid %d uid %u refused: too many apps (apps.max_apps %u)",
				(int)cr.pid, (unsigned)cr.uid, m->conf.max_apps);
	} else if (u && u->apps >= m->conf.uid_max_apps) {
		err = EAGAIN;
		m->cnt.apps_refused_uid_apps++;
		if (refusal_log_ok(m, LOGK_LIMIT))
			dn_warn(m->conf.log, "app pid %d uid %u refused: too many apps of this uid (apps.per_uid.max_apps %u)",
				(int)cr.pid, (unsigned)cr.uid, m->conf.uid_max_apps);
	}
	if (err) {
		refuse_now(m, cfd, err);
		return;
	}
	if (m->napps == m->cap) {
		unsigned nc = m->cap ? 2 * m->cap : 16;
		struct dn_app **na = realloc(m->apps, nc * sizeof(*na));
		if (!na) {
			close(cfd);
			return;
		}
		m->apps = na;
		m->cap = nc;
	}
	if (!(u = uid_get_or_new(m, cr.uid))) {
		close(cfd);
		return;
	}
	dn_uid_use_get(u);
	make_pending_room(m, u);
	struct dn_app *a = calloc(1, sizeof(*a));
	if (!a) {
		dn_uid_use_put(u);
		close(cfd);
		return;
	}
	a->mgr = m;
	a->id = ++m->next_id;
	a->fd = cfd;
	a->pid = cr.pid;
	a->uid = cr.uid;
	a->gid = cr.gid;
	a->uidu = u;
	a->app_efd = a->dmn_efd = -1;
	a->accept_ms = mono_ms();
	a->deadline_ms = a->accept_ms + m->conf.hello_timeout_ms;
	if (dn_evloop_add(m->ev, cfd, EPOLLIN, on_app_fd, a) < 0) {
		dn_uid_use_put(u);
		close(cfd);
		free(a);
		return;
	}
	a->pending = 1;
	u->pending++;
	m->npending++;
	m->apps[m->napps++] = a;
}

static void on_listen(struct dn_evloop *ev, int fd, uint32_t events, void *arg)
{
	struct dn_apps *m = arg;
	(void)ev;
	(void)events;
	/* Evictions mark apps dead: reap them when done, not under us. */
	enter(m);
	for (int i = 0; i < ACCEPT_BUDGET; i++) {
		int cfd = accept4(fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
		if (cfd < 0)
			break;
		accept_one(m, cfd);
	}
	leave(m);
}

/* ---- manager ---------------------------------------------------------- */

static uint32_t *copy_list(const uint32_t *v, unsigned n)
{
	uint32_t *c = malloc((n ? n : 1) * sizeof(*c));
	if (c && n)
		memcpy(c, v, n * sizeof(*c));
	return c;
}

struct dn_apps *dn_apps_open(const struct dn_app_conf *conf, struct dn_evloop *ev)
{
	struct dn_region_layout l;
	struct dn_apps *m = calloc(1, sizeof(*m));
	if (!m)
		return NULL;
	m->conf = *conf;
	if (!m->conf.max_apps)
		m->conf.max_apps = 64;
	if (!m->conf.max_pending)
		m->conf.max_pending = 64;
	if (!m->conf.hello_timeout_ms)
		m->conf.hello_timeout_ms = 2000;
	if (!m->conf.uid_max_apps)
		m->conf.uid_max_apps = 16;
	if (!m->conf.uid_max_pending)
		m->conf.uid_max_pending = 8;
	if (!m->conf.slots)
		m->conf.slots = DN_REGION_DEF_SLOTS;
	if (!m->conf.rx_size)
		m->conf.rx_size = DN_REGION_DEF_RX;
	if (!m->conf.tx_size)
		m->conf.tx_size = DN_REGION_DEF_TX;
	/* Refuse a configuration no app could attach with, now rather than
	 * at every attach. */
	if (dn_region_layout(&l, m->conf.slots, m->conf.rx_size, m->conf.tx_size) != 0 ||
	    (m->conf.max_region && l.total_size > m->conf.max_region)) {
		free(m);
		errno = EINVAL;
		return NULL;
	}
	m->uids = copy_list(conf->allowed_uids, conf->n_uids);
	m->gids = copy_list(conf->allowed_gids, conf->n_gids);
	m->rxbuf = malloc(DN_MSG_MAX);
	m->txbuf = malloc(DN_MSG_MAX);
	m->ev = ev;
	if (!m->uids || !m->gids || !m->rxbuf || !m->txbuf ||
	    dn_evloop_add(ev, conf->listen_fd, EPOLLIN, on_listen, m) < 0) {
		int e = errno ? errno : ENOMEM;
		free(m->uids);
		free(m->gids);
		free(m->rxbuf);
		free(m->txbuf);
		free(m);
		errno = e;
		return NULL;
	}
	return m;
}

void dn_apps_close(struct dn_apps *m)
{
	if (!m)
		return;
	for (unsigned i = 0; i < m->napps; i++)
		mark_dead(m->apps[i], "daemon shutting down");
	m->depth = 0;
	reap(m);
	dn_evloop_del(m->ev, m->conf.listen_fd);
	/* Totals the TCP layer still holds (departed apps' connections)
	 * outlive the manager: they leave its table. */
	for (unsigned i = 0; i < m->nuse; i++)
		m->use[i]->mgr = NULL;
	free(m->use);
	free(m->apps);
	free(m->uids);
	free(m->gids);
	free(m->rxbuf);
	free(m->txbuf);
	free(m);
}

unsigned dn_apps_count(const struct dn_apps *m)
{
	return live_apps(m);
}

unsigned dn_apps_attached(const struct dn_apps *m)
{
	unsigned n = 0;
	for (unsigned i = 0; i < m->napps; i++)
		n += m->apps[i]->attached && !m->apps[i]->dead;
	return n;
}

struct dn_app *dn_apps_get(struct dn_apps *m, unsigned i)
{
	for (unsigned k = 0; k < m->napps; k++) {
		if (m->apps[k]->dead)
			continue;
		if (i-- == 0)
			return m->apps[k];
	}
	return NULL;
}

int dn_apps_ctl_list(struct dn_apps *m, void *out, size_t cap, uint32_t *out_len)
{
	struct dn_ctl_list l = { 0 };
	uint8_t *p = out;
	size_t off = sizeof(l);
	if (cap < sizeof(l))
		return EMSGSIZE;
	for (unsigned i = 0; i < m->napps; i++) {
		const struct dn_app *a = m->apps[i];
		/* Connections that have not attached are no apps (their
		 * number is the uid_pending column). */
		if (a->dead || !a->attached)
			continue;
		if (off + sizeof(struct dn_ctl_app) > cap)
			break;
		struct dn_ctl_app e = {
			.pid = (uint32_t)a->pid,
			.uid = (uint32_t)a->uid,
			.gid = (uint32_t)a->gid,
			.app_id = a->id,
			.attach_time_ms = a->attach_ms,
			.sockets = a->sockets,
			.slots = a->attached ? a->region.l.nslots : 0,
			.region_size = a->attached ? a->region.l.total_size : 0,
			.bytes_in = a->bytes_in,
			.bytes_out = a->bytes_out,
			.listeners = a->listeners,
			.uid_apps = a->uidu->apps,
			.uid_pending = a->uidu->pending,
			.uid_sockets = a->uidu->sockets,
			.uid_listeners = a->uidu->listeners,
			.uid_orphans = a->uidu->orphans,
			.uid_region = a->uidu->region_bytes,
		};
		snprintf(e.name, sizeof(e.name), "%s", a->name);
		memcpy(p + off, &e, sizeof(e));
		off += sizeof(e);
		l.count++;
	}
	memcpy(p, &l, sizeof(l));
	*out_len = (uint32_t)off;
	return 0;
}

int dn_apps_kill_pid(struct dn_apps *m, uint32_t pid)
{
	int found = 0;
	enter(m);
	for (unsigned i = 0; i < m->napps; i++) {
		struct dn_app *a = m->apps[i];
		if (a->dead || (uint32_t)a->pid != pid)
			continue;
		dn_notice(m->conf.log, "app %u pid %d uid %u (%s) killed by ctl request",
			  a->id, (int)a->pid, (unsigned)a->uid, a->name);
		mark_dead(a, "killed by ctl");
		found = 1;
	}
	leave(m);
	return found ? 0 : ESRCH;
}

void dn_apps_counters_foreach(const struct dn_apps *m,
			      void (*cb)(const char *name, uint64_t v, void *arg), void *arg)
{
#define X(n, d) cb(#n, m->cnt.n, arg);
	DN_APPS_COUNTERS(X)
#undef X
}
