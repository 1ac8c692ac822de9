/*
 * attach.c: the attachment to dillnetd (see attach.h) and the library-wide
 * readiness fd (dillnet_pollfd / dillnet_ready).
 *
 * Decisions where the protocol headers are silent (the daemon must match):
 *  - Attach: HELLO (req_id 1) then APP_ATTACH {0, 0} (req_id 2).  A HELLO
 *    reply with an error result is passed through as errno (EACCES for
 *    policy), except EAGAIN ("too many apps"), reported as ENFILE because
 *    retrying at once would not help.  A HELLO reply naming another major
 *    version (dn_msg_hello_check) is EPROTO; so is a malformed reply, a
 *    region that fails dn_region_attach, or an APP_ATTACH reply without
 *    exactly DN_ATTACH_NFDS descriptors (extra descriptors are closed).
 *  - Request ids count up from 3 per attachment and wrap; the daemon echoes
 *    them and otherwise ignores them.
 *  - Ordering: events for a socket may come before or after the reply
 *    that names it.  The pump reads the socket before popping events; an
 *    event for an unknown id makes it read the socket once more, and one
 *    still unknown is kept (the last DNL_STASH of them) and applied when a
 *    reply names that id.  The daemon should still prefer reply first.
 *  - Socket ids should not be reused soon within one attachment (dillnetd
 *    adds a generation): a late event for a closed id would otherwise
 *    land on the new socket (harmless but spurious).
 *  - Every socket id a successful reply returned stays the app's until the
 *    app sends TCP_CLOSE for it (also after a failed connect or a reset);
 *    a reply that arrives after its caller gave up is closed with
 *    DN_CLOSE_ABORT by the pump.
 *  - Wakeups: the pump sleeps on the daemon->app eventfd after setting the
 *    event ring's consumer-waiting flag; a thread blocked on a slot ring
 *    sets that ring's consumer (rx) or producer (tx) waiting flag, and the
 *    daemon signals the same eventfd when it finds one set.  The pump then
 *    wakes every thread sleeping on any socket, which re-check their rings:
 *    cheap, since only sockets with sleepers are touched.
 *  - The app->daemon eventfd is written only when the command ring's
 *    consumer-waiting flag was set (dn_ring_consumer_needs_wakeup), or when
 *    the command ring is full (cmd_lost was bumped: the daemon must rescan).
 *  - Daemon death: POLLHUP / read 0 / a malformed frame / a corrupt ring on
 *    the attachment make it dead: pending requests and sleepers fail with
 *    ECONNRESET, sockets are reported failed by dillnet_ready.
 *
 * fork(): the child never uses the parent's attachment (its pump thread
 * did not survive and the control socket would interleave two processes'
 * requests).  In the child the attachment is dead at once: every call on a
 * TCP handle inherited from the parent fails with ECONNRESET (hclose just
 * forgets it, sending nothing: the parent still owns the connection), and
 * the child's first call that needs the daemon attaches anew with its own
 * region.  The child's dillnet_pollfd() is a new descriptor.
 */
#include "attach.h"
#include "dn_efd.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define DNL_DEFAULT_SOCKET "/run/dillnet/app.sock"
/* Attach handshake cap when the caller has no deadline: a daemon that
 * accepts but never answers must not hang the program forever. */
#define DNL_ATTACH_CAP_MS 10000
#define DNL_HASH 256
#define DNL_MAX_RX_FDS 8
/* Events kept for ids no reply has named yet (see pump_evt_locked). */
#define DNL_STASH 32

struct dnl_pending {
	uint32_t req_id;
	uint16_t type;
	int done;
	int result;
	void *rep;
	uint32_t replen;
	struct dnl_sock *reg;
	struct dnl_pending *next;
};

/* A thread asleep in dnl_sock_wait, on its attachment's wait list (mu),
 * so the pump wakes only threads whose condition now holds. */
struct dnl_waiter {
	struct dnl_sock *s;
	struct dn_ring *r;          /* the ring it sleeps on, or NULL */
	int how;                    /* DNL_W_CONS / DNL_W_PROD / NONE */
	int (*ready)(void *);
	void *arg;
	struct dnl_waiter *next, *prev;
};

struct dnl_att {
	_Atomic int refs;
	_Atomic int dead;
	int forked;                 /* dead because of fork: no cv calls */
	pthread_mutex_t mu;         /* state, pendings, socket table */
	pthread_mutex_t send_mu;    /* one frame at a time on ctl */
	pthread_mutex_t cmd_mu;     /* the command ring has one producer */
	pthread_cond_t req_cv;
	int ctl;                    /* control socket */
	int efd_in;                 /* daemon -> app */
	int efd_out;                /* app -> daemon */
	int stop_efd;               /* ends the pump when we give up */
	void *map;
	size_t maplen;
	struct dn_region reg;
	uint32_t next_req;
	struct dnl_pending *pend;
	struct dnl_sock *tab[DNL_HASH];
	struct dnl_waiter *waitq;   /* threads in dnl_sock_wait (mu) */
	struct dn_evt stash[DNL_STASH];
	int nstash;
	const char *why;            /* pump: why the attachment broke */
	struct dnl_att *lnext;      /* list of all attachments (g.mu) */
	/* dn_msg_check reads payloads in place as structs: keep it aligned. */
	_Alignas(16) uint8_t rxbuf[DN_MSG_MAX];
};

/* Library-wide state. */
static struct {
	pthread_mutex_t mu;         /* cur, ready list, pollfd */
	pthread_mutex_t attach_mu;  /* one attach handshake at a time */
	pthread_mutex_t list_mu;    /* list; order: list_mu, att mu, g.mu */
	struct dnl_att *cur;
	struct dnl_att *list;
	struct dnl_sock *ready;     /* sockets whose readiness changed */
	int pollfd;
	pthread_once_t once;
	_Atomic int evloop;         /* dillnet_pollfd() was called */
} g = {
	.mu = PTHREAD_MUTEX_INITIALIZER,
	.attach_mu = PTHREAD_MUTEX_INITIALIZER,
	.list_mu = PTHREAD_MUTEX_INITIALIZER,
	.pollfd = -1,
	.once = PTHREAD_ONCE_INIT,
};

/* DILLNET_DEBUG=1 in the environment: say on stderr why an attachment
 * ended and what the daemon reported, for operators chasing a reset. */
void dnl_debug(const char *fmt, ...)
{
	static _Atomic int on = -1;
	int v = atomic_load_explicit(&on, memory_order_relaxed);
	if (v < 0) {
		const char *e = getenv("DILLNET_DEBUG");
		v = e && *e && *e != '0';
		atomic_store_explicit(&on, v, memory_order_relaxed);
	}
	if (!v)
		return;
	char buf[256];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	fprintf(stderr, "dillnet[%d]: %s\n", (int)getpid(), buf);
}

static void cond_init_mono(pthread_cond_t *cv)
{
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(cv, &ca);
	pthread_condattr_destroy(&ca);
}

/* Absolute CLOCK_MONOTONIC time of a millisecond deadline. */
static struct timespec ts_of(int64_t deadline)
{
	struct timespec ts = { deadline / 1000, (deadline % 1000) * 1000000 };
	return ts;
}

static int cond_wait_until(pthread_cond_t *cv, pthread_mutex_t *mu,
			    int64_t deadline)
{
	if (deadline < 0)
		return pthread_cond_wait(cv, mu);
	struct timespec ts = ts_of(deadline);
	return pthread_cond_timedwait(cv, mu, &ts);
}

static int expired(int64_t deadline)
{
	return deadline >= 0 && dnl_ns_left(deadline) <= 0;
}

/* ---- ready list (dillnet_pollfd / dillnet_ready) ------------------- */

static int pollfd_get_locked(void)
{
	if (g.pollfd < 0)
		g.pollfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	return g.pollfd;
}

/* Note that s's readiness may have changed (g.mu not held). */
static void ready_note(struct dnl_sock *s)
{
	if (s->notify) {
		s->notify(s);
		return;
	}
	pthread_mutex_lock(&g.mu);
	if (!s->queued && s->h) {
		s->queued = 1;
		s->rnext = g.ready;
		g.ready = s;
		if (g.pollfd >= 0)
			dn_efd_signal(g.pollfd);
	}
	pthread_mutex_unlock(&g.mu);
}

static void ready_unlink(struct dnl_sock *s)
{
	pthread_mutex_lock(&g.mu);
	if (s->queued) {
		for (struct dnl_sock **p = &g.ready; *p; p = &(*p)->rnext)
			if (*p == s) {
				*p = s->rnext;
				break;
			}
		s->queued = 0;
	}
	pthread_mutex_unlock(&g.mu);
}

/*
 * Event-loop mode (once dillnet_pollfd() was called): the daemon sends
 * EVT_READABLE / EVT_WRITABLE only when the app announced it waits (the
 * ring's waiting flag, which the daemon clears as it acts on it), so a
 * bulk transfer costs no event per segment.  A program that waits on the
 * pollfd instead of inside brecv/bsend announces nothing by itself, so the
 * library keeps both flags of every connection raised: at creation, after
 * every READABLE/WRITABLE event, and after a blocked call wakes up.  (mu
 * held.)
 */
static void sock_arm_locked(struct dnl_sock *s)
{
	if (!(s->arm || atomic_load_explicit(&g.evloop, memory_order_relaxed)) ||
	    !s->rx || dnl_att_dead(s->att))
		return;
	dn_ring_cons_prepare_sleep(s->rx);
	dn_ring_prod_prepare_sleep(s->tx);
}

/* ---- attachment lifetime ------------------------------------------- */

void dnl_att_ref(struct dnl_att *a)
{
	atomic_fetch_add(&a->refs, 1);
}

static void att_free(struct dnl_att *a)
{
	pthread_mutex_lock(&g.list_mu);
	for (struct dnl_att **p = &g.list; *p; p = &(*p)->lnext)
		if (*p == a) {
			*p = a->lnext;
			break;
		}
	pthread_mutex_unlock(&g.list_mu);
	if (a->map && a->map != MAP_FAILED)
		munmap(a->map, a->maplen);
	if (a->ctl >= 0)
		close(a->ctl);
	if (a->efd_in >= 0)
		close(a->efd_in);
	if (a->efd_out >= 0)
		close(a->efd_out);
	if (a->stop_efd >= 0)
		close(a->stop_efd);
	if (!a->forked) {
		pthread_cond_destroy(&a->req_cv);
		pthread_mutex_destroy(&a->mu);
		pthread_mutex_destroy(&a->send_mu);
		pthread_mutex_destroy(&a->cmd_mu);
	}
	free(a);
}

void dnl_att_put(struct dnl_att *a)
{
	if (atomic_fetch_sub(&a->refs, 1) == 1)
		att_free(a);
}

int dnl_att_dead(const struct dnl_att *a)
{
	return atomic_load_explicit(&a->dead, memory_order_acquire);
}

struct dn_region *dnl_att_region(struct dnl_att *a)
{
	return &a->reg;
}

/* Make a dead (mu held): fail pendings, wake everyone, report every socket
 * as changed so event-loop programs learn about it. */
static void att_kill_locked(struct dnl_att *a, const char *why)
{
	if (atomic_exchange(&a->dead, 1))
		return;
	dnl_debug("attachment ended: %s", why);
	/* Hang up our end too: the daemon cleans up at once (when it was
	 * us who found the attachment broken), and the pump's poll wakes. */
	shutdown(a->ctl, SHUT_RDWR);
	for (struct dnl_pending *p = a->pend; p; p = p->next)
		if (!p->done) {
			p->done = 1;
			p->result = ECONNRESET;
		}
	pthread_cond_broadcast(&a->req_cv);
	for (int i = 0; i < DNL_HASH; i++)
		for (struct dnl_sock *s = a->tab[i]; s; s = s->hnext) {
			if (s->waiters)
				pthread_cond_broadcast(&s->cv);
			ready_note(s);
		}
	pthread_mutex_lock(&g.mu);
	if (g.cur == a) {
		g.cur = NULL;
		pthread_mutex_unlock(&g.mu);
		dnl_att_put(a);   /* the "current" reference; others remain */
	} else {
		pthread_mutex_unlock(&g.mu);
	}
}

/* ---- socket table --------------------------------------------------- */

static struct dnl_sock *sock_find(struct dnl_att *a, uint32_t id)
{
	for (struct dnl_sock *s = a->tab[id % DNL_HASH]; s; s = s->hnext)
		if (s->id == id)
			return s;
	return NULL;
}

static void sock_insert(struct dnl_att *a, struct dnl_sock *s, uint32_t id)
{
	s->id = id;
	s->hnext = a->tab[id % DNL_HASH];
	a->tab[id % DNL_HASH] = s;
	s->registered = 1;
}

void dnl_sock_init(struct dnl_sock *s, struct dnl_att *a, struct dnl_handle *h)
{
	memset(s, 0, sizeof(*s));
	dnl_att_ref(a);
	s->att = a;
	s->h = h;
	cond_init_mono(&s->cv);
}

void dnl_sock_fini(struct dnl_sock *s)
{
	struct dnl_att *a = s->att;
	if (!a)
		return;
	pthread_mutex_lock(&a->mu);
	if (s->registered) {
		for (struct dnl_sock **p = &a->tab[s->id % DNL_HASH]; *p;
		     p = &(*p)->hnext)
			if (*p == s) {
				*p = s->hnext;
				break;
			}
		s->registered = 0;
	}
	pthread_mutex_unlock(&a->mu);
	ready_unlink(s);
	/* After fork the condvar may count waiters that only existed in the
	 * parent; destroying it could wait for them forever. */
	if (!a->forked)
		pthread_cond_destroy(&s->cv);
	s->att = NULL;
	dnl_att_put(a);
}

void dnl_sock_set_rings(struct dnl_sock *s, struct dn_ring *rx, struct dn_ring *tx)
{
	struct dnl_att *a = s->att;
	pthread_mutex_lock(&a->mu);
	s->rx = rx;
	s->tx = tx;
	sock_arm_locked(s);
	pthread_mutex_unlock(&a->mu);
	if (s->notify || atomic_load(&g.evloop))
		ready_note(s);   /* a new handle: report its levels once */
}

void dnl_sock_changed(struct dnl_sock *s)
{
	if (s->notify || atomic_load(&g.evloop))
		ready_note(s);
}

unsigned dnl_sock_ev(struct dnl_sock *s, int *conn_result, int *reset_err)
{
	/* Lock-free: the data path asks on every call. */
	unsigned ev = atomic_load_explicit(&s->ev, memory_order_acquire);
	if (conn_result)
		*conn_result = (ev & DNL_SEV_CONNECTED) ? s->conn_result : 0;
	if (reset_err)
		*reset_err = (ev & DNL_SEV_RESET) ? s->reset_err : 0;
	return ev;
}

void dnl_sock_ev_clear(struct dnl_sock *s, unsigned bits)
{
	struct dnl_att *a = s->att;
	pthread_mutex_lock(&a->mu);
	s->ev &= ~bits;
	pthread_mutex_unlock(&a->mu);
}

void dnl_sock_wake(struct dnl_sock *s)
{
	struct dnl_att *a = s->att;
	if (!a || a->forked)
		return;
	pthread_mutex_lock(&a->mu);
	pthread_cond_broadcast(&s->cv);
	/* A set-up request of this handle may be waiting for its reply. */
	pthread_cond_broadcast(&a->req_cv);
	pthread_mutex_unlock(&a->mu);
}

/* Raise the sleeping flag of w's ring (mu held): announces the sleep
 * before the last look, so the daemon's next publish signals us
 * (dn_ring's Dekker handshake). */
static void waiter_rearm(struct dnl_waiter *w)
{
	if (w->r && w->how == DNL_W_CONS)
		dn_ring_cons_prepare_sleep(w->r);
	else if (w->r && w->how == DNL_W_PROD)
		dn_ring_prod_prepare_sleep(w->r);
}

int dnl_sock_wait(struct dnl_sock *s, struct dn_ring *r, int how,
		  int (*ready)(void *), void *arg, int64_t deadline)
{
	struct dnl_att *a = s->att;
	int rc = 0;
	struct dnl_waiter w = { s, r, how, ready, arg, NULL, NULL };
	pthread_mutex_lock(&a->mu);
	s->waiters++;
	w.next = a->waitq;
	if (w.next)
		w.next->prev = &w;
	a->waitq = &w;
	for (;;) {
		waiter_rearm(&w);
		if (ready(arg))
			break;
		if (s->h && dnl_handle_cancelled(s->h)) {
			errno = ECANCELED;
			rc = -1;
			break;
		}
		if (dnl_att_dead(a)) {
			errno = ECONNRESET;
			rc = -1;
			break;
		}
		if (expired(deadline)) {
			errno = ETIMEDOUT;
			rc = -1;
			break;
		}
		cond_wait_until(&s->cv, &a->mu, deadline);
	}
	if (r && how == DNL_W_CONS)
		dn_ring_cons_cancel_sleep(r);
	else if (r && how == DNL_W_PROD)
		dn_ring_prod_cancel_sleep(r);
	sock_arm_locked(s);
	if (w.prev)
		w.prev->next = w.next;
	else
		a->waitq = w.next;
	if (w.next)
		w.next->prev = w.prev;
	s->waiters--;
	pthread_mutex_unlock(&a->mu);
	return rc;
}

/* ---- control socket ------------------------------------------------- */

/* Send one frame; waits for room until the deadline (the daemon reads
 * its sockets promptly, so this practically never waits). */
static int ctl_send(struct dnl_att *a, uint16_t type, uint32_t req_id,
		    const void *payload, uint32_t len, int64_t deadline)
{
	uint8_t buf[sizeof(struct dn_msg_hdr) + 64];
	struct dn_msg_hdr h;
	if (len > sizeof(buf) - sizeof(h)) {
		errno = EINVAL;
		return -1;
	}
	dn_msg_hdr_init(&h, type, 0, len, req_id, 0);
	memcpy(buf, &h, sizeof(h));
	if (len)
		memcpy(buf + sizeof(h), payload, len);
	pthread_mutex_lock(&a->send_mu);
	int rc = -1;
	for (;;) {
		ssize_t n = send(a->ctl, buf, sizeof(h) + len,
				 MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n == (ssize_t)(sizeof(h) + len)) {
			rc = 0;
			break;
		}
		if (n >= 0 || (errno != EAGAIN && errno != EINTR)) {
			errno = ECONNRESET;
			break;
		}
		struct pollfd pf = { .fd = a->ctl, .events = POLLOUT };
		int k = dnl_poll_until(&pf, 1, deadline);
		if (k == 0) {
			errno = ETIMEDOUT;
			break;
		}
		if (k < 0)
			break;
	}
	pthread_mutex_unlock(&a->send_mu);
	return rc;
}

static uint32_t next_req_locked(struct dnl_att *a)
{
	uint32_t id = a->next_req++;
	if (a->next_req < 3)
		a->next_req = 3;
	return id;
}

int dnl_att_request(struct dnl_att *a, uint16_t type, const void *req,
		    uint32_t len, void *rep, uint32_t replen,
		    struct dnl_sock *reg, const struct dnl_handle *h,
		    int64_t deadline)
{
	struct dnl_pending p = { .type = type, .rep = rep, .replen = replen,
				 .reg = reg };
	pthread_mutex_lock(&a->mu);
	if (dnl_att_dead(a)) {
		pthread_mutex_unlock(&a->mu);
		errno = ECONNRESET;
		return -1;
	}
	p.req_id = next_req_locked(a);
	p.next = a->pend;
	a->pend = &p;
	pthread_mutex_unlock(&a->mu);

	int rc = ctl_send(a, type, p.req_id, req, len, deadline);
	int err = errno;
	pthread_mutex_lock(&a->mu);
	if (rc < 0 && err == ECONNRESET)
		att_kill_locked(a, "request could not be sent");   /* callers may retry */
	while (rc == 0 && !p.done) {
		if (h && dnl_handle_cancelled(h)) {
			rc = -1;
			err = ECANCELED;
			break;
		}
		if (expired(deadline)) {
			rc = -1;
			err = ETIMEDOUT;
			break;
		}
		cond_wait_until(&a->req_cv, &a->mu, deadline);
	}
	if (p.done && p.result) {
		rc = -1;
		err = p.result;
	} else if (p.done) {
		rc = 0;
	}
	for (struct dnl_pending **pp = &a->pend; *pp; pp = &(*pp)->next)
		if (*pp == &p) {
			*pp = p.next;
			break;
		}
	pthread_mutex_unlock(&a->mu);
	if (rc < 0)
		errno = err;
	return rc;
}

void dnl_att_request_async(struct dnl_att *a, uint16_t type, const void *req,
			   uint32_t len)
{
	if (dnl_att_dead(a))
		return;
	pthread_mutex_lock(&a->mu);
	uint32_t id = next_req_locked(a);
	pthread_mutex_unlock(&a->mu);
	/* Bounded: a daemon that stopped reading must not hang hclose. */
	ctl_send(a, type, id, req, len, dillnet_now() + 1000);
}

void dnl_att_cmd(struct dnl_att *a, uint16_t op, uint32_t sock)
{
	if (dnl_att_dead(a))
		return;
	struct dn_cmd c = { .op = op, .sock = sock };
	pthread_mutex_lock(&a->cmd_mu);
	int rc = dn_region_cmd_push(&a->reg, &c);
	/* Full (cmd_lost bumped): the daemon must look even if it did not
	 * say it sleeps, or it would not notice the loss until later. */
	if (rc == 0 || (rc == 1 && dn_ring_consumer_needs_wakeup(&a->reg.cmd)))
		dn_efd_signal(a->efd_out);
	pthread_mutex_unlock(&a->cmd_mu);
	if (rc < 0) {
		pthread_mutex_lock(&a->mu);
		att_kill_locked(a, "command ring corrupt");
		pthread_mutex_unlock(&a->mu);
	}
}

/* ---- the pump -------------------------------------------------------- */

static void sock_event(struct dnl_sock *s, const struct dn_evt *e);

/* A reply just named socket s: apply the events that came before it. */
static void stash_replay_locked(struct dnl_att *a, struct dnl_sock *s)
{
	int k = 0;
	for (int i = 0; i < a->nstash; i++) {
		if (a->stash[i].sock == s->id)
			sock_event(s, &a->stash[i]);
		else
			a->stash[k++] = a->stash[i];
	}
	a->nstash = k;
}

/* Read every queued control frame (mu held).  Returns -1 when the daemon
 * is gone or broke the protocol. */
static int pump_ctl_locked(struct dnl_att *a)
{
	for (;;) {
		union {
			char buf[CMSG_SPACE(sizeof(int) * DNL_MAX_RX_FDS)];
			struct cmsghdr align;
		} u;
		struct iovec iov = { a->rxbuf, sizeof(a->rxbuf) };
		struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1,
				     .msg_control = u.buf,
				     .msg_controllen = sizeof(u.buf) };
		ssize_t n = recvmsg(a->ctl, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return 0;
		if (n <= 0) {
			a->why = "daemon hung up";
			return -1;
		}
		/* No reply after attach carries descriptors. */
		for (struct cmsghdr *cm = CMSG_FIRSTHDR(&mh); cm;
		     cm = CMSG_NXTHDR(&mh, cm))
			if (cm->cmsg_level == SOL_SOCKET &&
			    cm->cmsg_type == SCM_RIGHTS) {
				int k = (int)((cm->cmsg_len - CMSG_LEN(0)) / sizeof(int));
				for (int i = 0; i < k; i++) {
					int fd;
					memcpy(&fd, CMSG_DATA(cm) + i * sizeof(int),
					       sizeof(int));
					close(fd);
				}
			}
		struct dn_msg_hdr hd;
		if ((mh.msg_flags & MSG_TRUNC) ||
		    dn_msg_check(a->rxbuf, (size_t)n, 1, &hd) != 0 ||
		    !(hd.flags & DN_MSG_F_REPLY)) {
			a->why = "malformed frame from the daemon";
			return -1;
		}
		const uint8_t *pl = a->rxbuf + sizeof(hd);
		struct dnl_pending *p = a->pend;
		while (p && (p->req_id != hd.req_id || p->done))
			p = p->next;
		int mksock = hd.result == 0 && (hd.type == DN_MSG_TCP_LISTEN ||
						hd.type == DN_MSG_TCP_CONNECT ||
						hd.type == DN_MSG_TCP_ACCEPT);
		if (p && p->type != hd.type) {
			a->why = "reply of the wrong type";
			return -1;
		}
		if (!p) {
			/* Nobody waits (gave up, or a fire-and-forget close):
			 * a socket made for nobody is closed at once. */
			if (mksock) {
				struct dn_tcp_sock_rep r;
				memcpy(&r, pl, sizeof(r));
				struct dn_tcp_sock_req cr = { r.sock, DN_CLOSE_ABORT };
				ctl_send(a, DN_MSG_TCP_CLOSE, next_req_locked(a),
					 &cr, sizeof(cr), dillnet_now() + 1000);
			}
			continue;
		}
		p->done = 1;
		p->result = (int)hd.result;
		if (hd.result == 0) {
			if (hd.len != p->replen) {
				p->result = EPROTO;
			} else if (p->replen) {
				memcpy(p->rep, pl, p->replen);
			}
			if (p->result == 0 && p->reg && mksock) {
				struct dn_tcp_sock_rep r;
				memcpy(&r, pl, sizeof(r));
				sock_insert(a, p->reg, r.sock);
				stash_replay_locked(a, p->reg);
			}
		}
		pthread_cond_broadcast(&a->req_cv);
	}
}

static void sock_event(struct dnl_sock *s, const struct dn_evt *e)
{
	switch (e->op) {
	case DN_EVT_READABLE:
		s->ev |= DNL_SEV_READABLE;
		break;
	case DN_EVT_WRITABLE:
		s->ev |= DNL_SEV_WRITABLE;
		break;
	case DN_EVT_CONNECTED:
		s->conn_result = e->result;
		s->ev |= DNL_SEV_CONNECTED;
		break;
	case DN_EVT_ACCEPTABLE:
		s->ev |= DNL_SEV_ACCEPTABLE;
		break;
	case DN_EVT_RESET:
		dnl_debug("socket %u: reset (%s)", s->id, strerror(e->result));
		s->reset_err = e->result > 0 ? e->result : ECONNRESET;
		s->ev |= DNL_SEV_RESET;
		break;
	case DN_EVT_CLOSED:
		s->ev |= DNL_SEV_CLOSED;
		break;
	}
	if (e->op == DN_EVT_READABLE || e->op == DN_EVT_WRITABLE)
		sock_arm_locked(s);
	ready_note(s);
}

/* Pop every event (mu held).  -1: the ring is corrupt. */
static int pump_evt_locked(struct dnl_att *a)
{
	struct dn_evt e;
	int rc;
	while ((rc = dn_region_evt_pop(&a->reg, &e)) == 1) {
		if (e.op == DN_EVT_NOP)
			continue;
		struct dnl_sock *s = sock_find(a, e.sock);
		if (!s) {
			/* The reply naming it may be queued right behind. */
			if (pump_ctl_locked(a) < 0)
				return -1;
			s = sock_find(a, e.sock);
		}
		if (s) {
			sock_event(s, &e);
		} else if (e.op != DN_EVT_CLOSED) {
			/* Still unknown: either a late event for a socket we
			 * closed, or one the daemon pushed while it was still
			 * serving the request that creates the socket (a
			 * connect that fails at once reports EVT_CONNECTED
			 * before the reply is sent).  Keep the last few; the
			 * reply replays them. */
			if (a->nstash == DNL_STASH) {
				memmove(a->stash, a->stash + 1,
					sizeof(a->stash[0]) * (DNL_STASH - 1));
				a->nstash--;
			}
			a->stash[a->nstash++] = e;
		}
	}
	if (rc < 0) {
		a->why = "event ring corrupt or unknown event";
		return -1;
	}
	if (dn_region_peer_lost(&a->reg, 0)) {
		dnl_debug("events were lost: rescanning");
		/* Events were dropped: anything may have happened to any
		 * socket.  Waiters re-check their rings; event-loop users
		 * hear about every socket; listeners retry their accept. */
		for (int i = 0; i < DNL_HASH; i++)
			for (struct dnl_sock *s = a->tab[i]; s; s = s->hnext) {
				s->ev |= DNL_SEV_ACCEPTABLE;
				ready_note(s);
			}
	}
	return 0;
}

/* After a batch: wake the sleepers whose condition now holds.  The
 * wakeup that started the batch does not say which ring moved, so each
 * sleeper's own predicate (a few index and flag reads, no side effects)
 * is asked here: a thousand threads blocked on a thousand sockets cost
 * one context switch per socket that changed, not a thousand.
 *
 * The flag is raised again first, on the sleeper's behalf, as the
 * sleeper itself would on a spurious wakeup.  The daemon publishes and
 * then takes the flag as two steps, so its take can consume a flag that
 * a sleeper raised after it had already seen that publish: the signal
 * then carries nothing new, and without the raise the next publish
 * would find the flag down and signal nobody (a stall that hid behind
 * wake-everyone before).  Raise, fence, look: dn_ring's handshake.
 * Other reasons to wake (cancel, attachment death, deadline) wake
 * directly. */
static void wake_sleepers_locked(struct dnl_att *a)
{
	for (struct dnl_waiter *w = a->waitq; w; w = w->next) {
		waiter_rearm(w);
		if (w->ready(w->arg))
			pthread_cond_broadcast(&w->s->cv);
	}
}

static void *pump_main(void *arg)
{
	struct dnl_att *a = arg;
	for (;;) {
		pthread_mutex_lock(&a->mu);
		a->why = "?";
		int bad = dnl_att_dead(a) || pump_ctl_locked(a) < 0 ||
			  pump_evt_locked(a) < 0;
		wake_sleepers_locked(a);
		if (bad)
			att_kill_locked(a, a->why);
		pthread_mutex_unlock(&a->mu);
		if (bad)
			break;
		dn_ring_cons_prepare_sleep(&a->reg.evt);
		size_t n = dn_ring_readable(&a->reg.evt);
		if (n == 0) {
			struct pollfd pf[3] = {
				{ .fd = a->ctl, .events = POLLIN },
				{ .fd = a->efd_in, .events = POLLIN },
				{ .fd = a->stop_efd, .events = POLLIN },
			};
			int k = poll(pf, 3, -1);
			if (k > 0 && pf[1].revents)
				dn_efd_drain(a->efd_in);
			if (k > 0 && pf[2].revents) {
				dn_ring_cons_cancel_sleep(&a->reg.evt);
				break;
			}
		}
		dn_ring_cons_cancel_sleep(&a->reg.evt);
	}
	dnl_att_put(a);
	return NULL;
}

/* ---- attach handshake ------------------------------------------------ */

static const char *sock_path(void)
{
	const char *p = getenv("DILLNET_SOCKET");
	return p && *p ? p : DNL_DEFAULT_SOCKET;
}

static const char *prog_name(void)
{
	return program_invocation_short_name ? program_invocation_short_name : "";
}

/* Receive one reply frame of the given type and id during the handshake
 * (before the pump runs), with descriptors if fds is not NULL. */
static int hs_recv(struct dnl_att *a, uint16_t type, uint32_t id,
		   void *payload, uint32_t len, int *fds, int *nfds,
		   int64_t deadline)
{
	for (;;) {
		union {
			char buf[CMSG_SPACE(sizeof(int) * DNL_MAX_RX_FDS)];
			struct cmsghdr align;
		} u;
		struct iovec iov = { a->rxbuf, sizeof(a->rxbuf) };
		struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1,
				     .msg_control = u.buf,
				     .msg_controllen = sizeof(u.buf) };
		ssize_t n = recvmsg(a->ctl, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
		if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
			struct pollfd pf = { .fd = a->ctl, .events = POLLIN };
			int k = dnl_poll_until(&pf, 1, deadline);
			if (k < 0)
				return -1;
			if (k == 0) {
				errno = ETIMEDOUT;
				return -1;
			}
			continue;
		}
		if (n < 0)
			return -1;
		/* Collect descriptors first so none leaks on any error. */
		int got = 0;
		for (struct cmsghdr *cm = CMSG_FIRSTHDR(&mh); cm;
		     cm = CMSG_NXTHDR(&mh, cm)) {
			if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
				continue;
			int k = (int)((cm->cmsg_len - CMSG_LEN(0)) / sizeof(int));
			for (int i = 0; i < k; i++) {
				int fd;
				memcpy(&fd, CMSG_DATA(cm) + i * sizeof(int), sizeof(int));
				if (fds && got < DN_ATTACH_NFDS)
					fds[got] = fd;
				else
					close(fd);
				got++;
			}
		}
		/* Extras (a newer daemon's) were closed above; the first
		 * DN_ATTACH_NFDS are ours. */
		if (nfds)
			*nfds = got < DN_ATTACH_NFDS ? got : DN_ATTACH_NFDS;
		if (n == 0) {
			/* Hung up without a word: it refused us. */
			errno = ECONNREFUSED;
			return -1;
		}
		struct dn_msg_hdr hd;
		if ((mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) ||
		    dn_msg_check(a->rxbuf, (size_t)n, 1, &hd) != 0 ||
		    !(hd.flags & DN_MSG_F_REPLY) || hd.type != type ||
		    hd.req_id != id) {
			errno = EPROTO;
			return -1;
		}
		if (hd.result) {
			errno = hd.result == EAGAIN ? ENFILE : (int)hd.result;
			return -1;
		}
		if (hd.len != len) {
			errno = EPROTO;
			return -1;
		}
		memcpy(payload, a->rxbuf + sizeof(hd), len);
		return 0;
	}
}

static int hs_send(struct dnl_att *a, uint16_t type, uint32_t id,
		   const void *payload, uint32_t len, int64_t deadline)
{
	if (ctl_send(a, type, id, payload, len, deadline) < 0) {
		if (errno != ETIMEDOUT)
			errno = ECONNREFUSED;
		return -1;
	}
	return 0;
}

static void atfork_prepare(void);
static void atfork_parent(void);
static void atfork_child(void);

static void once_init(void)
{
	pthread_atfork(atfork_prepare, atfork_parent, atfork_child);
}

static struct dnl_att *att_create(int64_t deadline)
{
	struct sockaddr_un su;
	const char *path = sock_path();
	size_t plen = strlen(path);
	if (plen >= sizeof(su.sun_path)) {
		errno = ENAMETOOLONG;
		return NULL;
	}
	struct dnl_att *a = calloc(1, sizeof(*a));
	if (!a) {
		errno = ENOMEM;
		return NULL;
	}
	atomic_init(&a->refs, 1);
	atomic_init(&a->dead, 0);
	a->ctl = a->efd_in = a->efd_out = a->stop_efd = -1;
	a->next_req = 3;
	pthread_mutex_init(&a->mu, NULL);
	pthread_mutex_init(&a->send_mu, NULL);
	pthread_mutex_init(&a->cmd_mu, NULL);
	cond_init_mono(&a->req_cv);
	int fds[DN_ATTACH_NFDS] = { -1, -1, -1 };
	int nfds = 0, err;

	if (deadline < 0)
		deadline = dillnet_now() + DNL_ATTACH_CAP_MS;
	a->ctl = socket(AF_LOCAL, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (a->ctl < 0)
		goto fail;
	memset(&su, 0, sizeof(su));
	su.sun_family = AF_LOCAL;
	memcpy(su.sun_path, path, plen + 1);
	/* Non-blocking: a full backlog gives EAGAIN (retry until the
	 * deadline), no daemon gives ENOENT or ECONNREFUSED at once. */
	while (connect(a->ctl, (struct sockaddr *)&su, sizeof(su)) < 0) {
		if (errno != EAGAIN && errno != EINTR)
			goto fail;
		if (expired(deadline)) {
			errno = ETIMEDOUT;
			goto fail;
		}
		struct timespec ts = { 0, 1000000 };
		nanosleep(&ts, NULL);
	}
	struct dn_msg_hello hello, peer;
	dn_msg_hello_init(&hello, prog_name());
	if (hs_send(a, DN_MSG_HELLO, 1, &hello, sizeof(hello), deadline) < 0) {
		/* A daemon that refuses us answers at once (HELLO, id 1)
		 * and hangs up, maybe before our HELLO went out: its answer
		 * is still queued and names the reason. */
		int e = errno;
		if (e == ETIMEDOUT ||
		    hs_recv(a, DN_MSG_HELLO, 1, &peer, sizeof(peer), NULL, NULL,
			    dillnet_now()) == 0 ||
		    errno == ETIMEDOUT || errno == ECONNREFUSED || errno == EPROTO)
			errno = e;
		goto fail;
	}
	if (hs_recv(a, DN_MSG_HELLO, 1, &peer, sizeof(peer), NULL, NULL,
		    deadline) < 0)
		goto fail;
	char why[128];
	if (dn_msg_hello_check(&peer, why, sizeof(why)) != 0) {
		errno = EPROTO;
		goto fail;
	}
	struct dn_app_attach_req areq = { 0, 0 };
	struct dn_app_attach_rep arep;
	if (hs_send(a, DN_MSG_APP_ATTACH, 2, &areq, sizeof(areq), deadline) < 0)
		goto fail;
	if (hs_recv(a, DN_MSG_APP_ATTACH, 2, &arep, sizeof(arep), fds, &nfds,
		    deadline) < 0)
		goto fail;
	if (nfds != DN_ATTACH_NFDS || arep.nfds != DN_ATTACH_NFDS ||
	    arep.layout_version != DN_REGION_VERSION ||
	    arep.region_size > DN_REGION_MAX_SIZE) {
		errno = EPROTO;
		goto fail;
	}
	struct stat st;
	if (fstat(fds[0], &st) < 0 || !S_ISREG(st.st_mode) ||
	    (uint64_t)st.st_size < arep.region_size) {
		errno = EPROTO;
		goto fail;
	}
	a->maplen = (size_t)arep.region_size;
	a->map = mmap(NULL, a->maplen, PROT_READ | PROT_WRITE, MAP_SHARED,
		      fds[0], 0);
	if (a->map == MAP_FAILED) {
		a->map = NULL;
		goto fail;
	}
	close(fds[0]);
	fds[0] = -1;
	if (dn_region_attach(&a->reg, a->map, a->maplen) != 0 ||
	    a->reg.l.nslots != arep.nslots || a->reg.l.rx_size != arep.rx_size ||
	    a->reg.l.tx_size != arep.tx_size) {
		errno = EPROTO;
		goto fail;
	}
	a->efd_in = fds[1];
	a->efd_out = fds[2];
	fds[1] = fds[2] = -1;
	/* The flag lives in the shared file description; make sure. */
	fcntl(a->efd_in, F_SETFL, O_NONBLOCK);
	fcntl(a->efd_out, F_SETFL, O_NONBLOCK);
	a->stop_efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (a->stop_efd < 0)
		goto fail;

	pthread_once(&g.once, once_init);
	/* The pump takes no signals meant for the program's threads. */
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	pthread_t t;
	pthread_attr_t at;
	pthread_attr_init(&at);
	pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
	dnl_att_ref(a);   /* the pump's */
	int rc = pthread_create(&t, &at, pump_main, a);
	pthread_attr_destroy(&at);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc) {
		atomic_fetch_sub(&a->refs, 1);
		errno = rc;
		goto fail;
	}
	pthread_mutex_lock(&g.list_mu);
	a->lnext = g.list;
	g.list = a;
	pthread_mutex_unlock(&g.list_mu);
	return a;
fail:
	err = errno;
	for (int i = 0; i < DN_ATTACH_NFDS; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	att_free(a);
	errno = err;
	return NULL;
}

struct dnl_att *dnl_att_get(int64_t deadline)
{
	if (dnl_lib_shut()) {
		errno = ECANCELED;
		return NULL;
	}
	pthread_mutex_lock(&g.mu);
	struct dnl_att *a = g.cur;
	if (a && !dnl_att_dead(a)) {
		dnl_att_ref(a);
		pthread_mutex_unlock(&g.mu);
		/* The pump may not have noticed yet that the daemon went
		 * away; a restarted daemon must not cost the first new call
		 * an ECONNRESET.  One poll(2): cheap next to the request. */
		struct pollfd pf = { .fd = a->ctl, .events = 0 };
		if (poll(&pf, 1, 0) != 1 || !(pf.revents & (POLLHUP | POLLERR)))
			return a;
		pthread_mutex_lock(&a->mu);
		att_kill_locked(a, "daemon hung up (seen at a new call)");
		pthread_mutex_unlock(&a->mu);
		dnl_att_put(a);
	} else {
		pthread_mutex_unlock(&g.mu);
	}

	pthread_mutex_lock(&g.attach_mu);
	pthread_mutex_lock(&g.mu);
	a = g.cur;
	if (a && !dnl_att_dead(a)) {
		/* Another thread attached while we waited. */
		dnl_att_ref(a);
		pthread_mutex_unlock(&g.mu);
		pthread_mutex_unlock(&g.attach_mu);
		return a;
	}
	pthread_mutex_unlock(&g.mu);
	a = att_create(deadline);
	if (a) {
		pthread_mutex_lock(&g.mu);
		g.cur = a;          /* the creation reference becomes cur's */
		dnl_att_ref(a);     /* and the caller gets one */
		pthread_mutex_unlock(&g.mu);
	}
	pthread_mutex_unlock(&g.attach_mu);
	return a;
}

/* ---- fork ------------------------------------------------------------ */

/* Every mutex is taken in the documented order so the child inherits
 * consistent state. */
static void atfork_prepare(void)
{
	pthread_mutex_lock(&g.attach_mu);
	pthread_mutex_lock(&g.list_mu);
	for (struct dnl_att *a = g.list; a; a = a->lnext) {
		pthread_mutex_lock(&a->mu);
		pthread_mutex_lock(&a->send_mu);
		pthread_mutex_lock(&a->cmd_mu);
	}
	pthread_mutex_lock(&g.mu);
}

static void atfork_parent(void)
{
	pthread_mutex_unlock(&g.mu);
	for (struct dnl_att *a = g.list; a; a = a->lnext) {
		pthread_mutex_unlock(&a->cmd_mu);
		pthread_mutex_unlock(&a->send_mu);
		pthread_mutex_unlock(&a->mu);
	}
	pthread_mutex_unlock(&g.list_mu);
	pthread_mutex_unlock(&g.attach_mu);
}

static void atfork_child(void)
{
	/* Only this thread exists now.  Every attachment belongs to the
	 * parent: mark it dead without waking anyone (the condvars may
	 * count the parent's sleepers), and drop our copy of its control
	 * socket so no request of ours can reach the parent's daemon
	 * session.  The mapping stays until the last inherited handle is
	 * closed; nothing writes to it any more. */
	for (struct dnl_att *a = g.list; a; a = a->lnext) {
		pthread_mutex_unlock(&a->cmd_mu);
		pthread_mutex_unlock(&a->send_mu);
		pthread_mutex_unlock(&a->mu);
		a->forked = 1;
		atomic_store(&a->dead, 1);
		if (a->ctl >= 0) {
			close(a->ctl);
			a->ctl = -1;
		}
		for (int i = 0; i < DNL_HASH; i++)
			for (struct dnl_sock *s = a->tab[i]; s; s = s->hnext)
				s->queued = 0;
	}
	g.ready = NULL;
	if (g.cur) {
		/* cur's reference is dropped lazily; the pump's never is
		 * (it did not survive), so these leak by design. */
		g.cur = NULL;
	}
	if (g.pollfd >= 0) {
		close(g.pollfd);
		g.pollfd = -1;
	}
	pthread_mutex_unlock(&g.mu);
	pthread_mutex_unlock(&g.list_mu);
	pthread_mutex_unlock(&g.attach_mu);
}

/* ---- public ---------------------------------------------------------- */

DILLNET_EXPORT int dillnet_attach(int64_t deadline)
{
	struct dnl_att *a = dnl_att_get(deadline);
	if (!a)
		return -1;
	dnl_att_put(a);
	return 0;
}

DILLNET_EXPORT int dillnet_pollfd(void)
{
	if (!atomic_exchange(&g.evloop, 1)) {
		/* Sockets made before: raise their flags now. */
		pthread_mutex_lock(&g.list_mu);
		for (struct dnl_att *a = g.list; a; a = a->lnext) {
			pthread_mutex_lock(&a->mu);
			for (int i = 0; i < DNL_HASH; i++)
				for (struct dnl_sock *t = a->tab[i]; t; t = t->hnext)
					sock_arm_locked(t);
			pthread_mutex_unlock(&a->mu);
		}
		pthread_mutex_unlock(&g.list_mu);
	}
	pthread_mutex_lock(&g.mu);
	int fd = pollfd_get_locked();
	int err = errno;
	/* Changes queued before the fd existed must be seen too. */
	if (fd >= 0 && g.ready)
		dn_efd_signal(fd);
	pthread_mutex_unlock(&g.mu);
	if (fd < 0)
		errno = err;
	return fd;
}

/* Current readiness of one socket for dillnet_ready (its att's mu held). */
static int sock_level(struct dnl_sock *s)
{
	int ev = 0;
	if (dnl_att_dead(s->att) || (s->ev & DNL_SEV_RESET))
		return DILLNET_ERR | DILLNET_IN | DILLNET_OUT;
	if (s->ev & DNL_SEV_ACCEPTABLE)
		ev |= DILLNET_IN;
	if (s->rx) {
		struct dn_ring_shared *rsh = s->rx->sh, *tsh = s->tx->sh;
		uint64_t t = atomic_load_explicit(&rsh->tail, memory_order_acquire);
		uint64_t h = atomic_load_explicit(&rsh->head, memory_order_acquire);
		uint32_t fl = atomic_load_explicit(&rsh->flags, memory_order_acquire) |
			      atomic_load_explicit(&tsh->flags, memory_order_acquire);
		if (t != h || (fl & (DN_RING_F_EOF | DN_RING_F_RESET)))
			ev |= DILLNET_IN;
		if (fl & DN_RING_F_RESET)
			ev |= DILLNET_ERR;
		uint64_t th = atomic_load_explicit(&tsh->head, memory_order_acquire);
		uint64_t tt = atomic_load_explicit(&tsh->tail, memory_order_acquire);
		if (tt - th < s->tx->size)
			ev |= DILLNET_OUT;
	} else if (s->ev & DNL_SEV_CONNECTED) {
		ev |= DILLNET_OUT;
	}
	return ev;
}

DILLNET_EXPORT int dillnet_ready(struct dillnet_ready *out, int max)
{
	if (!out || max <= 0) {
		errno = EINVAL;
		return -1;
	}
	int n = 0;
	pthread_mutex_lock(&g.mu);
	if (g.pollfd >= 0)
		dn_efd_drain(g.pollfd);
	while (g.ready && n < max) {
		struct dnl_sock *s = g.ready;
		g.ready = s->rnext;
		s->queued = 0;
		out[n].h = s->h ? s->h->id : -1;
		out[n].events = 0;
		n++;
	}
	/* More than max changed: stay readable for the rest. */
	if (g.ready && g.pollfd >= 0)
		dn_efd_signal(g.pollfd);
	pthread_mutex_unlock(&g.mu);
	/* Levels are read afterwards, per handle, through the table so a
	 * handle closed meanwhile is simply skipped. */
	int k = 0;
	for (int i = 0; i < n; i++) {
		struct dnl_handle *h = dnl_handle_get(out[i].h, DNL_KIND_ANY);
		if (!h)
			continue;
		struct dnl_sock *s = NULL;
		if (h->vt->kind == DNL_KIND_TCP || h->vt->kind == DNL_KIND_TCP_LISTENER)
			s = dnl_tcp_sock(h);
		if (s && s->att) {
			pthread_mutex_lock(&s->att->mu);
			out[k].h = out[i].h;
			out[k].events = sock_level(s);
			pthread_mutex_unlock(&s->att->mu);
			k++;
		}
		dnl_handle_put(h);
	}
	return k;
}
