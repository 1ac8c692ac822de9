/* The app manager; see app.h. */
#include "app.h"

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

/* Commands handled per wakeup before other apps get a turn. */
#define CMD_BUDGET   1024
/* Frames read per readiness callback, for the same reason. */
#define FRAME_BUDGET 16

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
};

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
	if (a->attached) {
		if (m->conf.on_detach)
			m->conf.on_detach(m->conf.ctx, a);
		dn_evloop_del(m->ev, a->dmn_efd);
		if (!a->region_kept)
			dn_region_destroy(&a->region);
		close(a->app_efd);
		close(a->dmn_efd);
	}
	close(a->fd);
	dn_info(m->conf.log, "app %u pid %d uid %u (%s) gone: %s", a->id, (int)a->pid,
		(unsigned)a->uid, a->name[0] ? a->name : "?", a->dead_why);
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

static void efd_signal(int fd)
{
	uint64_t one = 1;
	/* EAGAIN only when the counter is saturated: the app is awake then. */
	if (write(fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		return;
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
		efd_signal(a->app_efd);
	return rc;
}

void dn_app_signal(struct dn_app *a)
{
	if (!a->dead && a->attached)
		efd_signal(a->app_efd);
}

void dn_app_wake_consumer(struct dn_app *a, struct dn_ring *r)
{
	if (!a->dead && a->attached && dn_ring_consumer_needs_wakeup(r))
		efd_signal(a->app_efd);
}

void dn_app_wake_producer(struct dn_app *a, struct dn_ring *r)
{
	if (!a->dead && a->attached && dn_ring_producer_needs_wakeup(r))
		efd_signal(a->app_efd);
}

/* ---- commands --------------------------------------------------------- */

/* Returns the number handled; stops at the budget, an empty ring or a
 * violation. */
static unsigned drain_commands(struct dn_apps *m, struct dn_app *a, unsigned budget)
{
	unsigned n = 0;
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
			struct dn_evt e = { .op = DN_EVT_NOP, .cookie = c.cookie };
			dn_app_event(a, &e);
			continue;
		}
		if (m->conf.on_command) {
			int err = m->conf.on_command(m->conf.ctx, a, &c);
			if (err)
				dn_app_violation(a, "command %s on socket %u: %s",
						 dn_cmd_name(c.op), c.sock, strerror(err));
		}
	}
	return n;
}

static void on_app_efd(struct dn_evloop *ev, int fd, uint32_t events, void *arg)
{
	struct dn_app *a = arg;
	struct dn_apps *m = a->mgr;
	uint64_t v;
	(void)ev;
	(void)events;
	if (a->dead)
		return;
	if (read(fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		return;
	enter(m);
	if (drain_commands(m, a, CMD_BUDGET) == CMD_BUDGET && !a->dead)
		efd_signal(a->dmn_efd);   /* more to do: come back after others */
	leave(m);
}

unsigned dn_apps_poll(struct dn_apps *m)
{
	unsigned total = 0;
	enter(m);
	for (unsigned i = 0; i < m->napps; i++) {
		struct dn_app *a = m->apps[i];
		if (a->attached && !a->dead)
			total += drain_commands(m, a, CMD_BUDGET);
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
	if (dn_evloop_add(m->ev, a->dmn_efd, EPOLLIN, on_app_efd, a) < 0)
		goto fail;
	a->attached = 1;
	a->attach_ms = realtime_ms();

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

	if (a->refused) {
		/* Policy said no at accept (logged then): one error reply to
		 * whatever came first, then hang up. */
		if (n >= sizeof(rq)) {
			memcpy(&rq, m->rxbuf, sizeof(rq));
			reply(a, &rq, (uint32_t)a->refused, NULL, 0, NULL, 0);
		}
		mark_dead(a, a->refused == EACCES ? "refused by policy" : "refused: too many apps");
		return;
	}
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

static void on_listen(struct dn_evloop *ev, int fd, uint32_t events, void *arg)
{
	struct dn_apps *m = arg;
	(void)events;
	int cfd = accept4(fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
	if (cfd < 0)
		return;
	struct ucred cr;
	socklen_t crl = sizeof(cr);
	if (getsockopt(cfd, SOL_SOCKET, SO_PEERCRED, &cr, &crl) < 0) {
		close(cfd);
		return;
	}
	unsigned live = live_apps(m);
	/* Far over the limit: connections that never speak must not pile
	 * up state, so these are not even answered. */
	if (live >= 2 * m->conf.max_apps) {
		dn_warn(m->conf.log, "app pid %d uid %u refused: too many connections",
			(int)cr.pid, (unsigned)cr.uid);
		close(cfd);
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
	struct dn_app *a = calloc(1, sizeof(*a));
	if (!a) {
		close(cfd);
		return;
	}
	a->mgr = m;
	a->id = ++m->next_id;
	a->fd = cfd;
	a->pid = cr.pid;
	a->uid = cr.uid;
	a->gid = cr.gid;
	a->app_efd = a->dmn_efd = -1;
	if (!policy_allows(m, cfd, &cr)) {
		a->refused = EACCES;
		dn_warn(m->conf.log, "app pid %d uid %u gid %u refused: not allowed by policy",
			(int)cr.pid, (unsigned)cr.uid, (unsigned)cr.gid);
	} else if (live >= m->conf.max_apps) {
		a->refused = EAGAIN;
		dn_warn(m->conf.log, "app pid %d uid %u refused: too many apps (%u)",
			(int)cr.pid, (unsigned)cr.uid, m->conf.max_apps);
	}
	if (dn_evloop_add(ev, cfd, EPOLLIN, on_app_fd, a) < 0) {
		close(cfd);
		free(a);
		return;
	}
	m->apps[m->napps++] = a;
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
		if (a->dead)
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
