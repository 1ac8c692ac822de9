/*
 * fake_daemon.c: see fake_daemon.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "fake_daemon.h"

static void f_signal(int fd)
{
	uint64_t one = 1;
	ssize_t n = write(fd, &one, sizeof(one));
	(void)n;
}

static void f_drain(int fd)
{
	uint64_t v;
	ssize_t n = read(fd, &v, sizeof(v));
	(void)n;
}

static void f_reply(struct fake *f, struct fapp *a, const struct dn_msg_hdr *rq,
		    uint32_t result, const void *pl, uint32_t len,
		    const int *fds, int nfds)
{
	struct dn_msg_hdr h;
	uint8_t out[256];
	if (result)
		len = 0;
	dn_msg_hdr_init(&h, rq->type, DN_MSG_F_REPLY, len, rq->req_id, result);
	memcpy(out, &h, sizeof(h));
	if (len)
		memcpy(out + sizeof(h), pl, len);
	struct iovec iov = { out, sizeof(h) + len };
	union {
		char b[CMSG_SPACE(sizeof(int) * 4)];
		struct cmsghdr al;
	} u;
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	if (nfds) {
		memset(&u, 0, sizeof(u));
		mh.msg_control = u.b;
		mh.msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)nfds);
		struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)nfds);
		memcpy(CMSG_DATA(cm), fds, sizeof(int) * (size_t)nfds);
	}
	(void)f;
	ssize_t n = sendmsg(a->fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
	(void)n;
}

static void f_event(struct fake *f, int app, uint16_t op, uint32_t sock, int result)
{
	struct fapp *a = &f->apps[app];
	if (!a->used || !a->attached)
		return;
	struct dn_evt e = { .op = op, .sock = sock, .result = result };
	dn_region_evt_push(&a->reg, &e);
	if (dn_ring_consumer_needs_wakeup(&a->reg.evt))
		f_signal(a->app_efd);
}

static void f_app_free(struct fake *f, int i)
{
	struct fapp *a = &f->apps[i];
	if (!a->used)
		return;
	for (int k = 0; k < F_SOCKS; k++)
		if (f->socks[k].used && f->socks[k].app == i)
			f->socks[k].used = 0;
	close(a->fd);
	if (a->attached) {
		munmap(a->base, a->l.total_size);
		close(a->app_efd);
		close(a->dmn_efd);
	}
	memset(a, 0, sizeof(*a));
}

static int f_sock_new(struct fake *f, int app, int listener)
{
	for (int k = 0; k < F_SOCKS; k++) {
		struct fsock *s = &f->socks[k];
		if (s->used)
			continue;
		memset(s, 0, sizeof(*s));
		s->app = app;
		s->listener = listener;
		s->peer = -1;
		s->slot = -1;
		if (!listener) {
			struct fapp *a = &f->apps[app];
			int sl = -1;
			for (int j = 0; j < F_SLOTS; j++)
				if (!a->slot_used[j]) {
					sl = j;
					break;
				}
			if (sl < 0)
				return -1;
			a->slot_used[sl] = 1;
			s->slot = sl;
			dn_region_slot_reset(&a->reg, (uint32_t)sl);
			dn_region_slot_rings(&a->reg, (uint32_t)sl, &s->rx, &s->tx);
		}
		s->used = 1;
		s->id = f->next_id++;   /* never reused */
		return k;
	}
	return -1;
}

static void f_sock_free(struct fake *f, int k)
{
	struct fsock *s = &f->socks[k];
	if (s->slot >= 0)
		f->apps[s->app].slot_used[s->slot] = 0;
	if (s->peer >= 0 && f->socks[s->peer].used)
		f->socks[s->peer].peer = -1;
	f_event(f, s->app, DN_EVT_CLOSED, s->id, 0);
	s->used = 0;
}

static int f_find(struct fake *f, int app, uint32_t id)
{
	for (int k = 0; k < F_SOCKS; k++)
		if (f->socks[k].used && f->socks[k].app == app && f->socks[k].id == id)
			return k;
	return -1;
}

/* RST towards socket k: flags on both its rings, an event, a wakeup. */
static void f_reset(struct fake *f, int k)
{
	struct fsock *s = &f->socks[k];
	if (!s->used || s->listener)
		return;
	dn_ring_set_flag(&s->rx, DN_RING_F_RESET);
	dn_ring_set_flag(&s->tx, DN_RING_F_RESET);
	s->peer = -1;
	f_event(f, s->app, DN_EVT_RESET, s->id, ECONNRESET);
	f_signal(f->apps[s->app].app_efd);
}

static void rep_of(struct fake *f, int k, struct dn_tcp_sock_rep *r)
{
	struct fsock *s = &f->socks[k];
	memset(r, 0, sizeof(*r));
	r->sock = s->id;
	r->slot = s->slot < 0 ? DN_SLOT_NONE : (uint32_t)s->slot;
	r->local_ip4 = 0x7f000001;
	r->local_port = s->port;
	if (s->peer >= 0) {
		r->peer_ip4 = 0x7f000001;
		r->peer_port = f->socks[s->peer].port;
	}
}

static void f_attach(struct fake *f, int i, const struct dn_msg_hdr *rq)
{
	struct fapp *a = &f->apps[i];
	if (dn_region_layout(&a->l, F_SLOTS, F_BUF, F_BUF) != 0)
		abort();
	int memfd = memfd_create("fake-region", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (memfd < 0 || ftruncate(memfd, (off_t)a->l.total_size) < 0)
		abort();
	a->base = mmap(NULL, a->l.total_size, PROT_READ | PROT_WRITE, MAP_SHARED,
		       memfd, 0);
	if (a->base == MAP_FAILED)
		abort();
	dn_region_init(a->base, &a->l);
	fcntl(memfd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL);
	a->app_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	a->dmn_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (dn_region_open_daemon(&a->reg, a->base, &a->l) != 0)
		abort();
	a->attached = 1;
	struct dn_app_attach_rep rep = {
		.region_size = a->l.total_size, .layout_version = DN_REGION_VERSION,
		.nslots = a->l.nslots, .rx_size = a->l.rx_size,
		.tx_size = a->l.tx_size, .app_id = (uint32_t)i + 1,
		.nfds = DN_ATTACH_NFDS,
	};
	/* One descriptor too many: the library must close extras. */
	int extra = eventfd(0, EFD_CLOEXEC);
	int fds[4] = { memfd, a->app_efd, a->dmn_efd, extra };
	f_reply(f, a, rq, 0, &rep, sizeof(rep), fds, 4);
	close(memfd);
	close(extra);
	atomic_fetch_add(&f->attaches, 1);
}

static void f_request(struct fake *f, int i, const struct dn_msg_hdr *rq,
		      const uint8_t *pl)
{
	struct fapp *a = &f->apps[i];
	struct dn_tcp_sock_rep rep;
	switch (rq->type) {
	case DN_MSG_APP_ATTACH:
		f_attach(f, i, rq);
		return;
	case DN_MSG_TCP_LISTEN: {
		struct dn_tcp_listen_req r;
		memcpy(&r, pl, sizeof(r));
		if (f->emfile) {
			f_reply(f, a, rq, EMFILE, NULL, 0, NULL, 0);
			return;
		}
		if (r.port && r.port < F_PORT_MIN) {
			f_reply(f, a, rq, EACCES, NULL, 0, NULL, 0);
			return;
		}
		uint16_t port = r.port ? r.port : f->next_port++;
		for (int k = 0; k < F_SOCKS; k++)
			if (f->socks[k].used && f->socks[k].listener &&
			    f->socks[k].port == port) {
				f_reply(f, a, rq, EADDRINUSE, NULL, 0, NULL, 0);
				return;
			}
		int k = f_sock_new(f, i, 1);
		f->socks[k].port = port;
		rep_of(f, k, &rep);
		f_reply(f, a, rq, 0, &rep, sizeof(rep), NULL, 0);
		return;
	}
	case DN_MSG_TCP_CONNECT: {
		struct dn_tcp_connect_req r;
		memcpy(&r, pl, sizeof(r));
		int k = f->emfile ? -1 : f_sock_new(f, i, 0);
		if (k < 0) {
			f_reply(f, a, rq, EMFILE, NULL, 0, NULL, 0);
			return;
		}
		f->socks[k].port = f->next_port++;
		int lk = -1;
		for (int j = 0; j < F_SOCKS; j++)
			if (f->socks[j].used && f->socks[j].listener &&
			    f->socks[j].port == r.port)
				lk = j;
		int srv = -1;
		if (lk >= 0 && f->socks[lk].nq < 8)
			srv = f_sock_new(f, f->socks[lk].app, 0);
		if (srv >= 0) {
			f->socks[srv].port = r.port;
			f->socks[srv].peer = k;
			f->socks[k].peer = srv;
		}
		if (r.port == 3) {
			/* Fails at once, reported while the request is still
			 * being served: the event precedes the reply. */
			f_event(f, i, DN_EVT_CONNECTED, f->socks[k].id, ENETUNREACH);
			usleep(20000);   /* the app pops it before the reply */
			rep_of(f, k, &rep);
			f_reply(f, a, rq, 0, &rep, sizeof(rep), NULL, 0);
			return;
		}
		rep_of(f, k, &rep);
		f_reply(f, a, rq, 0, &rep, sizeof(rep), NULL, 0);
		if (r.port == 2)
			return;                     /* never completes */
		if (r.port == 4) {
			f_event(f, i, DN_EVT_CONNECTED, f->socks[k].id, ETIMEDOUT);
			return;
		}
		if (r.port == 5) {
			/* A peer that accepts and aborts at once: the RST
			 * lands in the same event batch as the handshake. */
			f_event(f, i, DN_EVT_CONNECTED, f->socks[k].id, 0);
			f_reset(f, k);
			return;
		}
		if (srv < 0) {
			f_event(f, i, DN_EVT_CONNECTED, f->socks[k].id, ECONNREFUSED);
			return;
		}
		struct fsock *l = &f->socks[lk];
		l->q[l->nq++] = srv;
		f_event(f, i, DN_EVT_CONNECTED, f->socks[k].id, 0);
		if (f->lose_acceptable) {
			struct fapp *la = &f->apps[l->app];
			atomic_fetch_add(&la->reg.hdr->evt_lost, 1);
			f_signal(la->app_efd);
		} else {
			f_event(f, l->app, DN_EVT_ACCEPTABLE, l->id, 0);
		}
		return;
	}
	case DN_MSG_TCP_BIND: {
		struct dn_tcp_bind_req r;
		memcpy(&r, pl, sizeof(r));
		atomic_fetch_add(&f->binds, 1);
		int err = r.flags || r.pad || r.pad2 ? EINVAL
			: r.ip4 && r.ip4 != 0x7f000001 ? EADDRNOTAVAIL
			: r.port && r.port < F_PORT_MIN ? EACCES : 0;
		f_reply(f, a, rq, err, NULL, 0, NULL, 0);
		return;
	}
	case DN_MSG_TCP_SETOPT: {
		struct dn_tcp_setopt_req r;
		memcpy(&r, pl, sizeof(r));
		if (f_find(f, i, r.sock) < 0) {
			f_reply(f, a, rq, EBADF, NULL, 0, NULL, 0);
			return;
		}
		if (r.opt == DN_TCPOPT_NODELAY)
			f->nodelay_on = (int)r.value + 1;
		f_reply(f, a, rq, 0, NULL, 0, NULL, 0);
		return;
	}
	case DN_MSG_TCP_ACCEPT:
	case DN_MSG_TCP_SHUTDOWN:
	case DN_MSG_TCP_CLOSE: {
		struct dn_tcp_sock_req r;
		memcpy(&r, pl, sizeof(r));
		int k = f_find(f, i, r.sock);
		if (k < 0) {
			f_reply(f, a, rq, EBADF, NULL, 0, NULL, 0);
			return;
		}
		struct fsock *s = &f->socks[k];
		if (rq->type == DN_MSG_TCP_ACCEPT) {
			if (!s->listener) {
				f_reply(f, a, rq, EINVAL, NULL, 0, NULL, 0);
				return;
			}
			if (s->nq == 0) {
				f_reply(f, a, rq, EAGAIN, NULL, 0, NULL, 0);
				return;
			}
			int c = s->q[0];
			memmove(s->q, s->q + 1, sizeof(int) * (size_t)--s->nq);
			rep_of(f, c, &rep);
			f_reply(f, a, rq, 0, &rep, sizeof(rep), NULL, 0);
			return;
		}
		if (rq->type == DN_MSG_TCP_SHUTDOWN) {
			s->shut = 1;
			atomic_fetch_add(&f->shutdowns, 1);
			f_reply(f, a, rq, 0, NULL, 0, NULL, 0);
			return;
		}
		atomic_fetch_add(&f->closes, 1);
		f_reply(f, a, rq, 0, NULL, 0, NULL, 0);
		if (s->listener) {
			for (int j = 0; j < s->nq; j++)
				f_reset(f, f->socks[s->q[j]].peer), f_sock_free(f, s->q[j]);
			f_sock_free(f, k);
			return;
		}
		if (r.how == DN_CLOSE_ABORT || dn_ring_writable(&s->rx) != F_BUF ||
		    (dn_ring_flags(&s->tx) & DN_RING_F_RESET)) {
			/* Abort, or unread data: RST. */
			if (r.how == DN_CLOSE_ABORT)
				atomic_fetch_add(&f->aborts, 1);
			if (s->peer >= 0)
				f_reset(f, s->peer);
			f_sock_free(f, k);
			return;
		}
		s->closing = 1;
		return;
	}
	default:
		f_reply(f, a, rq, EOPNOTSUPP, NULL, 0, NULL, 0);
	}
}

static void f_frame(struct fake *f, int i)
{
	struct fapp *a = &f->apps[i];
	ssize_t n = recv(a->fd, f->buf, sizeof(f->buf), MSG_DONTWAIT);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	struct dn_msg_hdr rq;
	if (n <= 0 || dn_msg_check(f->buf, (size_t)n, 0, &rq) != 0) {
		f_app_free(f, i);
		return;
	}
	if (f->refuse) {
		f_reply(f, a, &rq, (uint32_t)f->refuse, NULL, 0, NULL, 0);
		f_app_free(f, i);
		return;
	}
	if (!a->hello) {
		if (rq.type != DN_MSG_HELLO) {
			f_app_free(f, i);
			return;
		}
		struct dn_msg_hello h;
		dn_msg_hello_init(&h, "fake");
		if (f->bad_major)
			h.major = DN_PROTO_MAJOR + 1;
		f_reply(f, a, &rq, 0, &h, sizeof(h), NULL, 0);
		a->hello = 1;
		return;
	}
	if (rq.type != DN_MSG_APP_ATTACH && !a->attached) {
		f_reply(f, a, &rq, ENOTCONN, NULL, 0, NULL, 0);
		return;
	}
	f_request(f, i, &rq, f->buf + sizeof(rq));
}

/* dillnetd publishes and then takes the reader's sleeping flag as two
 * steps, so a take can come late: after the reader saw the publish,
 * consumed it and went back to sleep.  Played out here: the first half is
 * published and signalled; once the reader has taken it all and sleeps
 * again, the flag is taken and signalled with nothing new (the late
 * take); then the second half is published, signalled only if the flag
 * is up again.  A library that leaves the flag down after the empty
 * signal never hears of the second half. */
static void f_stale_take(struct fake *f, struct fsock *p, const uint8_t *buf,
			 size_t m)
{
	struct fapp *pa = &f->apps[p->app];
	size_t h = m / 2;
	dn_ring_write(&p->rx, buf, h);
	if (dn_ring_consumer_needs_wakeup(&p->rx)) {
		f_signal(pa->app_efd);
		f_event(f, p->app, DN_EVT_READABLE, p->id, 0);
	}
	for (int i = 0; i < 2000; i++) {
		if (dn_ring_writable(&p->rx) == p->rx.size &&
		    atomic_load(&p->rx.sh->cons_waiting))
			break;
		usleep(1000);
	}
	if (dn_ring_consumer_needs_wakeup(&p->rx)) {
		f_signal(pa->app_efd);
		f_event(f, p->app, DN_EVT_READABLE, p->id, 0);
	}
	usleep(50000);   /* the app's pump handles the empty signal */
	dn_ring_write(&p->rx, buf + h, m - h);
	if (dn_ring_consumer_needs_wakeup(&p->rx)) {
		f_signal(pa->app_efd);
		f_event(f, p->app, DN_EVT_READABLE, p->id, 0);
	}
}

/* Move bytes between peers; FIN after the last byte; finish closes. */
static void f_progress(struct fake *f)
{
	uint8_t tmp[F_BUF];
	for (int k = 0; k < F_SOCKS; k++) {
		struct fsock *s = &f->socks[k];
		if (!s->used || s->listener)
			continue;
		struct fapp *a = &f->apps[s->app];
		size_t n = dn_ring_readable(&s->tx);
		if (n == DN_RING_CORRUPT)
			continue;
		if (dn_ring_flags(&s->tx) & DN_RING_F_RESET)
			continue;    /* handled at close */
		struct fsock *p = s->peer >= 0 ? &f->socks[s->peer] : NULL;
		if (n && p) {
			size_t room = dn_ring_writable(&p->rx);
			size_t m = n < room ? n : room;
			if (m >= 2 && atomic_exchange(&f->stale_take, 0)) {
				dn_ring_read(&s->tx, tmp, m);
				f_stale_take(f, p, tmp, m);
				continue;
			}
			if (m) {
				dn_ring_read(&s->tx, tmp, m);
				dn_ring_write(&p->rx, tmp, m);
				/* Like dillnetd: readiness only to an app
				 * that said it waits. */
				if (dn_ring_producer_needs_wakeup(&s->tx)) {
					f_signal(a->app_efd);
					f_event(f, s->app, DN_EVT_WRITABLE, s->id, 0);
				}
				if (dn_ring_consumer_needs_wakeup(&p->rx)) {
					f_signal(f->apps[p->app].app_efd);
					f_event(f, p->app, DN_EVT_READABLE, p->id, 0);
				}
			}
			if (m < n)   /* wait for CMD_RX (or our flag) */
				dn_ring_prod_prepare_sleep(&p->rx);
		} else if (n && !p) {
			dn_ring_read(&s->tx, NULL, n);   /* peer gone: drop */
		}
		n = dn_ring_readable(&s->tx);
		if (n == 0 && (s->shut || s->closing) && !s->eof_sent) {
			s->eof_sent = 1;
			if (p) {
				dn_ring_set_flag(&p->rx, DN_RING_F_EOF);
				if (dn_ring_consumer_needs_wakeup(&p->rx))
					f_signal(f->apps[p->app].app_efd);
				f_event(f, p->app, DN_EVT_READABLE, p->id, 0);
			}
		}
		if (s->closing && s->eof_sent)
			f_sock_free(f, k);
	}
}

static void *f_main(void *arg)
{
	struct fake *f = arg;
	while (!atomic_load(&f->stop)) {
		if (atomic_exchange(&f->hangup, 0)) {
			for (int i = 0; i < F_APPS; i++)
				f_app_free(f, i);
		}
		struct pollfd pf[2 + 2 * F_APPS];
		int map[2 + 2 * F_APPS];
		int np = 0, busy = 0;
		pf[np].fd = f->lfd, pf[np].events = POLLIN, map[np++] = -1;
		pf[np].fd = f->kick, pf[np].events = POLLIN, map[np++] = -2;
		for (int i = 0; i < F_APPS; i++) {
			struct fapp *a = &f->apps[i];
			if (!a->used)
				continue;
			pf[np].fd = a->fd, pf[np].events = POLLIN, map[np++] = i;
			if (a->attached) {
				dn_ring_cons_prepare_sleep(&a->reg.cmd);
				if (dn_ring_readable(&a->reg.cmd) != 0)
					busy = 1;
				pf[np].fd = a->dmn_efd, pf[np].events = POLLIN;
				map[np++] = 100 + i;
			}
		}
		/* The 1 s backstop never hides a lost wakeup from a test:
		 * every test waits for far less. */
		int k = poll(pf, (nfds_t)np, busy ? 0 : 1000);
		for (int i = 0; i < F_APPS; i++)
			if (f->apps[i].used && f->apps[i].attached)
				dn_ring_cons_cancel_sleep(&f->apps[i].reg.cmd);
		for (int j = 0; k > 0 && j < np; j++) {
			if (!pf[j].revents)
				continue;
			if (map[j] == -1) {
				int fd = accept4(f->lfd, NULL, NULL,
						 SOCK_CLOEXEC | SOCK_NONBLOCK);
				int i;
				for (i = 0; fd >= 0 && i < F_APPS; i++)
					if (!f->apps[i].used)
						break;
				if (fd >= 0 && i < F_APPS) {
					memset(&f->apps[i], 0, sizeof(f->apps[i]));
					f->apps[i].used = 1;
					f->apps[i].fd = fd;
				} else if (fd >= 0) {
					close(fd);
				}
			} else if (map[j] == -2) {
				f_drain(f->kick);
			} else if (map[j] < 100) {
				if (f->apps[map[j]].used)
					f_frame(f, map[j]);
			} else if (f->apps[map[j] - 100].used) {
				f_drain(pf[j].fd);
			}
		}
		for (int i = 0; i < F_APPS; i++) {
			struct fapp *a = &f->apps[i];
			if (!a->used || !a->attached)
				continue;
			struct dn_cmd c;
			int rc;
			while ((rc = dn_region_cmd_pop(&a->reg, &c)) == 1) {
				if (c.op == DN_CMD_TX)
					atomic_fetch_add(&f->cmd_tx, 1);
				if (c.op == DN_CMD_RX)
					atomic_fetch_add(&f->cmd_rx, 1);
				if (c.op == DN_CMD_NOP) {
					struct dn_evt e = { .op = DN_EVT_NOP,
							    .cookie = c.cookie };
					dn_region_evt_push(&a->reg, &e);
				}
			}
			if (rc < 0)
				f_app_free(f, i);
		}
		f_progress(f);
	}
	return NULL;
}

int f_start(struct fake *f, const char *path)
{
	memset(f, 0, sizeof(*f));
	snprintf(f->path, sizeof(f->path), "%s", path);
	f->next_id = 7;
	f->next_port = 40000;
	f->lfd = socket(AF_LOCAL, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	struct sockaddr_un su = { .sun_family = AF_LOCAL };
	snprintf(su.sun_path, sizeof(su.sun_path), "%s", path);
	unlink(path);
	if (f->lfd < 0 || bind(f->lfd, (struct sockaddr *)&su, sizeof(su)) < 0 ||
	    listen(f->lfd, 16) < 0)
		return -1;
	f->kick = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (pthread_create(&f->t, NULL, f_main, f) != 0)
		return -1;
	f->running = 1;
	setenv("DILLNET_SOCKET", path, 1);
	return 0;
}

/* Hang up on every app (the daemon "dies"), keep listening. */
void f_hangup(struct fake *f)
{
	atomic_store(&f->hangup, 1);
	f_signal(f->kick);
	for (int i = 0; i < 1000 && atomic_load(&f->hangup); i++)
		usleep(1000);
}

void f_stop(struct fake *f)
{
	if (!f->running)
		return;
	atomic_store(&f->stop, 1);
	f_signal(f->kick);
	pthread_join(f->t, NULL);
	for (int i = 0; i < F_APPS; i++)
		f_app_free(f, i);
	close(f->lfd);
	close(f->kick);
	unlink(f->path);
	f->running = 0;
}

