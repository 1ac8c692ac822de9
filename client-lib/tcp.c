/*
 * tcp.c: libdill's tcp_* through dillnetd.
 *
 * Set-up and tear-down are control requests (attach.c); bytes go through
 * the socket's slot in the shared region: we produce into the tx ring and
 * consume from the rx ring, without system calls while neither side
 * sleeps.
 *
 * What the daemon must do for this file (decisions beyond the headers):
 *  - TCP_CONNECT: reply once the SYN is queued, then EVT_CONNECTED with 0
 *    or the errno (ECONNREFUSED, ETIMEDOUT, EHOSTUNREACH...).  A failed or
 *    abandoned connect is still closed by the app with TCP_CLOSE
 *    (DN_CLOSE_ABORT); the daemon keeps the id until then.
 *  - TCP_ACCEPT: EAGAIN when the queue is empty; EVT_ACCEPTABLE each time
 *    a connection joins the accept queue.  The app clears its "acceptable"
 *    mark before every TCP_ACCEPT, so an event that races the EAGAIN reply
 *    is not lost.
 *  - Data: after moving the rx tail the daemon sends EVT_READABLE (and
 *    signals the app eventfd) when it finds the rx ring's consumer-waiting
 *    flag set; after moving the tx head, EVT_WRITABLE when it finds the tx
 *    ring's producer-waiting flag set.  EOF and RESET are always reported
 *    (EVT_READABLE / EVT_RESET).  A thread blocked in brecv/bsend raises
 *    the flag before sleeping; in event-loop mode (dillnet_pollfd) the
 *    library keeps both flags raised (attach.c).
 *  - Peer FIN: DN_RING_F_EOF on the rx ring after the last byte.
 *    Connection reset (RST received, or any abort): DN_RING_F_RESET on
 *    both rings of the slot and EVT_RESET with the errno.
 *  - CMD_TX: pushed after each bsend that wrote bytes, and before a bsend
 *    sleeps for room.  CMD_RX: pushed after reading only when the ring
 *    held more than half its size before a read, or when the daemon set
 *    the rx ring's producer-waiting flag (it waits for room), or before a
 *    receive sleeps after such a read.  A daemon that wants to hear about
 *    every freed byte sets the producer-waiting flag.
 *  - tcp_done: all bytes are already in the tx ring (bsend is all or
 *    nothing), the app sets DN_RING_F_EOF on the tx ring and sends
 *    TCP_SHUTDOWN without waiting for the reply; the daemon sends FIN
 *    after the last byte.
 *  - A bsend that fails after publishing part of its message (timeout,
 *    cancel) sets DN_RING_F_RESET on the tx ring (the stream is corrupt:
 *    a daemon that honours the flag aborts at once; dillnetd does not look
 *    yet) and the handle's later TCP_CLOSE is DN_CLOSE_ABORT (RST).
 *  - hclose / the end of tcp_close: TCP_CLOSE with DN_CLOSE_GRACEFUL, fire
 *    and forget (hclose never waits); the daemon sends the queued bytes
 *    and a FIN, or a RST when unread bytes remain in the rx ring, and stops
 *    touching the slot when it sends EVT_CLOSED.  The app never touches the
 *    slot after sending TCP_CLOSE.
 *  - Listener close: TCP_CLOSE (graceful); pending, not accepted
 *    connections are the daemon's to reset.
 *  - Control round trips that do not wait for the network (TCP_ACCEPT,
 *    TCP_CONNECT's own reply) are given at least
 *    DNL_CTL_GRACE_MS even with deadline 0: the daemon answers at once,
 *    and deadline 0 means "do not wait for the network".
 *  - Only IPv4: an IPv6 address is EINVAL (the protocol carries ip4).
 */
#include "attach.h"
#include "iol.h"
#include "sockio.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdalign.h>
#include <stdlib.h>
#include <string.h>

#define DNL_CTL_GRACE_MS 1000

struct tcp_listener {
	struct dnl_handle h;
	struct dnl_sock s;
	int have_id;
};

struct tcp_conn {
	struct dnl_handle h;
	struct dnl_sock s;
	struct dn_ring rx, tx;
	uint32_t slot;
	int have_id;
	int done;               /* tcp_done went through */
	int abort;              /* release with DN_CLOSE_ABORT */
};

_Static_assert(sizeof(struct tcp_conn) <= TCP_SIZE, "TCP_SIZE too small");
_Static_assert(alignof(struct tcp_conn) <= alignof(struct tcp_storage),
	       "tcp_storage alignment");
_Static_assert(sizeof(struct tcp_listener) <= TCP_LISTENER_SIZE,
	       "TCP_LISTENER_SIZE too small");
_Static_assert(alignof(struct tcp_listener) <= alignof(struct tcp_listener_storage),
	       "tcp_listener_storage alignment");

static int64_t ctl_deadline(int64_t deadline)
{
	if (deadline < 0)
		return deadline;
	int64_t min = dillnet_now() + DNL_CTL_GRACE_MS;
	return deadline < min ? min : deadline;
}

/* IPv4 address and port of addr (host order). */
static int addr_v4(const struct ipaddr *addr, uint32_t *ip, uint16_t *port)
{
	if (!addr || dillnet_ipaddr_family(addr) != AF_INET) {
		errno = EINVAL;
		return -1;
	}
	struct sockaddr_in sin;
	memcpy(&sin, dillnet_ipaddr_sockaddr(addr), sizeof(sin));
	*ip = ntohl(sin.sin_addr.s_addr);
	*port = ntohs(sin.sin_port);
	return 0;
}

static void addr_fill(struct ipaddr *addr, uint32_t ip, uint16_t port)
{
	if (!addr)
		return;
	char buf[INET_ADDRSTRLEN];
	struct in_addr in = { htonl(ip) };
	inet_ntop(AF_INET, &in, buf, sizeof(buf));
	dillnet_ipaddr_local(addr, buf, port, IPADDR_IPV4);
}

static int mem_check(const void *mem)
{
	if (!mem || ((uintptr_t)mem % 8) != 0) {
		errno = EINVAL;
		return -1;
	}
	return 0;
}

struct dnl_sock *dnl_tcp_sock(struct dnl_handle *h)
{
	if (h->vt->kind == DNL_KIND_TCP)
		return &((struct tcp_conn *)h)->s;
	if (h->vt->kind == DNL_KIND_TCP_LISTENER)
		return &((struct tcp_listener *)h)->s;
	return NULL;
}

/* ---- listener ------------------------------------------------------- */

static void lst_cancel(struct dnl_handle *h)
{
	struct tcp_listener *l = (struct tcp_listener *)h;
	dnl_sock_wake(&l->s);
}

static void lst_release(struct dnl_handle *h)
{
	struct tcp_listener *l = (struct tcp_listener *)h;
	if (l->have_id && l->s.att) {
		struct dn_tcp_sock_req rq = { l->s.id, DN_CLOSE_GRACEFUL };
		dnl_att_request_async(l->s.att, DN_MSG_TCP_CLOSE, &rq, sizeof(rq));
	}
	dnl_sock_fini(&l->s);
}

static const struct dnl_vtable lst_vt = {
	.kind = DNL_KIND_TCP_LISTENER,
	.name = "tcp listener",
	.cancel = lst_cancel,
	.release = lst_release,
};

static int listen_impl(struct ipaddr *addr, int backlog,
		       struct tcp_listener_storage *mem)
{
	uint32_t ip;
	uint16_t port;
	if (addr_v4(addr, &ip, &port) < 0)
		return -1;
	struct tcp_listener *l = mem ? (struct tcp_listener *)mem : malloc(sizeof(*l));
	if (!l) {
		errno = ENOMEM;
		return -1;
	}
	memset(l, 0, sizeof(*l));
	struct dn_tcp_listen_req rq = { .ip4 = ip, .port = port,
					.backlog = backlog < 0 ? 0 : (uint32_t)backlog };
	struct dn_tcp_sock_rep rep;
	int s = -1, err;
	for (int tries = 0;; tries++) {
		struct dnl_att *a = dnl_att_get(-1);
		if (!a)
			goto fail_nosock;
		dnl_sock_init(&l->s, a, &l->h);
		dnl_att_put(a);
		if (dnl_att_request(a, DN_MSG_TCP_LISTEN, &rq, sizeof(rq), &rep,
				    sizeof(rep), &l->s, NULL, -1) == 0)
			break;
		/* The daemon died under our request: a new one may be up
		 * already, and a creation has nothing to lose by retrying. */
		if (errno != ECONNRESET || tries > 0 || !dnl_att_dead(a))
			goto fail;
		dnl_sock_fini(&l->s);
	}
	l->have_id = 1;
	s = dnl_handle_add(&l->h, &lst_vt, mem ? 0 : DNL_H_FREE);
	if (s < 0)
		goto fail;
	dillnet_ipaddr_setport(addr, rep.local_port);
	return s;
fail:
	err = errno;
	lst_release(&l->h);
	errno = err;
fail_nosock:
	err = errno;
	if (!mem)
		free(l);
	errno = err;
	return -1;
}

DILLNET_EXPORT int dillnet_tcp_listen(struct ipaddr *addr, int backlog)
{
	return listen_impl(addr, backlog, NULL);
}

DILLNET_EXPORT int dillnet_tcp_listen_mem(struct ipaddr *addr, int backlog,
					  struct tcp_listener_storage *mem)
{
	if (mem_check(mem) < 0)
		return -1;
	return listen_impl(addr, backlog, mem);
}

/* ---- connection object ---------------------------------------------- */

static int conn_bsendl(struct dnl_handle *h, struct iolist *first,
		       struct iolist *last, int64_t deadline);
static int conn_brecvl(struct dnl_handle *h, struct iolist *first,
		       struct iolist *last, int64_t deadline);
static int conn_done(struct dnl_handle *h, int64_t deadline);
static int conn_close(struct dnl_handle *h, int64_t deadline);
static void conn_cancel(struct dnl_handle *h);
static void conn_release(struct dnl_handle *h);

static const struct dnl_vtable conn_vt = {
	.kind = DNL_KIND_TCP,
	.name = "tcp",
	.bsendl = conn_bsendl,
	.brecvl = conn_brecvl,
	.done = conn_done,
	.close = conn_close,
	.cancel = conn_cancel,
	.release = conn_release,
};

static void conn_cancel(struct dnl_handle *h)
{
	struct tcp_conn *c = (struct tcp_conn *)h;
	dnl_sock_wake(&c->s);
}

static void conn_release(struct dnl_handle *h)
{
	struct tcp_conn *c = (struct tcp_conn *)h;
	if (c->have_id && c->s.att) {
		struct dn_tcp_sock_req rq = { c->s.id, c->abort ? DN_CLOSE_ABORT
							     : DN_CLOSE_GRACEFUL };
		dnl_att_request_async(c->s.att, DN_MSG_TCP_CLOSE, &rq, sizeof(rq));
	}
	dnl_sock_fini(&c->s);
}

/* Open the slot's rings once the reply named it. */
static int conn_rings(struct tcp_conn *c, uint32_t slot)
{
	c->slot = slot;
	if (dn_region_slot_rings(dnl_att_region(c->s.att), slot, &c->rx,
				 &c->tx) != 0) {
		/* A slot the region does not have: the daemon is broken. */
		c->abort = 1;
		errno = EPROTO;
		return -1;
	}
	dnl_sock_set_rings(&c->s, &c->rx, &c->tx);
	return 0;
}

/* Connection state the data path looks at; 0 fine, else the errno. */
static int conn_broken(struct tcp_conn *c)
{
	return dnl_sock_broken(&c->s);   /* sockio.c, shared with mtcp */
}

/* ready() callbacks for dnl_sock_wait; they run under the attachment's
 * mutex, so the event bits are read directly. */
static int connect_ready(void *arg)
{
	return dnl_connect_ready(&((struct tcp_conn *)arg)->s);
}

static int rx_ready(void *arg)
{
	return dnl_rx_ready(&((struct tcp_conn *)arg)->s);
}

static int tx_ready(void *arg)
{
	return dnl_tx_ready(&((struct tcp_conn *)arg)->s);
}

static int acceptable(void *arg)
{
	struct tcp_listener *l = arg;
	return (l->s.ev & (DNL_SEV_ACCEPTABLE | DNL_SEV_RESET | DNL_SEV_CLOSED)) != 0;
}

static int connect_impl(const struct ipaddr *addr, struct tcp_storage *mem,
			int64_t deadline)
{
	uint32_t ip;
	uint16_t port;
	if (addr_v4(addr, &ip, &port) < 0)
		return -1;
	if (port == 0 || ip == 0) {
		errno = EINVAL;
		return -1;
	}
	struct dnl_att *a = dnl_att_get(deadline);
	if (!a)
		return -1;
	struct tcp_conn *c = mem ? (struct tcp_conn *)mem : malloc(sizeof(*c));
	if (!c) {
		dnl_att_put(a);
		errno = ENOMEM;
		return -1;
	}
	memset(c, 0, sizeof(*c));
	dnl_sock_init(&c->s, a, &c->h);
	dnl_att_put(a);
	int err;
	/* Reserved, so dillnet_shutdown() can cancel the set-up. */
	int s = dnl_handle_reserve(&c->h, &conn_vt, mem ? 0 : DNL_H_FREE);
	if (s < 0) {
		err = errno;
		dnl_sock_fini(&c->s);
		if (!mem)
			free(c);
		errno = err;
		return -1;
	}
	struct dn_tcp_connect_req rq = { .ip4 = ip, .port = port };
	struct dn_tcp_sock_rep rep;
	for (int tries = 0;; tries++) {
		if (dnl_att_request(a, DN_MSG_TCP_CONNECT, &rq, sizeof(rq), &rep,
				    sizeof(rep), &c->s, &c->h,
				    ctl_deadline(deadline)) == 0)
			break;
		/* The daemon died under the request: retry once on a new
		 * attachment (nothing of ours survives in the old daemon). */
		if (errno != ECONNRESET || tries > 0 || !dnl_att_dead(a))
			goto fail;
		struct dnl_att *na = dnl_att_get(deadline);
		if (!na)
			goto fail;
		dnl_sock_fini(&c->s);
		dnl_sock_init(&c->s, na, &c->h);
		dnl_att_put(na);
		a = na;
	}
	c->have_id = 1;
	/* From here every failure closes the daemon's socket with a RST. */
	c->abort = 1;
	if (conn_rings(c, rep.slot) < 0)
		goto fail;
	if (dnl_sock_wait(&c->s, NULL, DNL_W_NONE, connect_ready, c, deadline) < 0)
		goto fail;
	int cres = 0, rerr = 0;
	unsigned ev = dnl_sock_ev(&c->s, &cres, &rerr);
	/* CONNECTED comes first when the handshake finished: a RST that
	 * follows it at once (a peer that accepts and aborts) belongs to
	 * the connection, so connect succeeds and the next call on the
	 * handle reports ECONNRESET, as connect(2) then recv(2) would. */
	if (cres) {
		errno = cres;
		goto fail;
	}
	if (!(ev & DNL_SEV_CONNECTED)) {
		/* Failed before the handshake finished; ECONNREFUSED when
		 * the event saying why was lost. */
		errno = (ev & DNL_SEV_RESET) ? (rerr ? rerr : ECONNRESET) :
		       ECONNREFUSED;
		goto fail;
	}
	c->abort = 0;
	dnl_handle_publish(&c->h);
	dnl_sock_changed(&c->s);
	return s;
fail:
	/* unreserve runs conn_release: TCP_CLOSE if the daemon made one. */
	err = errno;
	dnl_handle_unreserve(&c->h);
	errno = err;
	return -1;
}

DILLNET_EXPORT int dillnet_tcp_connect(const struct ipaddr *addr,
				       int64_t deadline)
{
	return connect_impl(addr, NULL, deadline);
}

DILLNET_EXPORT int dillnet_tcp_connect_mem(const struct ipaddr *addr,
					   struct tcp_storage *mem,
					   int64_t deadline)
{
	if (mem_check(mem) < 0)
		return -1;
	return connect_impl(addr, mem, deadline);
}

static int accept_impl(int s, struct ipaddr *addr, struct tcp_storage *mem,
		       int64_t deadline)
{
	struct dnl_handle *lh = dnl_handle_get(s, DNL_KIND_TCP_LISTENER);
	if (!lh)
		return -1;
	struct tcp_listener *l = (struct tcp_listener *)lh;
	struct tcp_conn *c = NULL;
	int h = -1, err;
	if (dnl_att_dead(l->s.att)) {
		errno = ECONNRESET;
		goto out;
	}
	c = mem ? (struct tcp_conn *)mem : malloc(sizeof(*c));
	if (!c) {
		errno = ENOMEM;
		goto out;
	}
	memset(c, 0, sizeof(*c));
	dnl_sock_init(&c->s, l->s.att, &c->h);
	struct dn_tcp_sock_req rq = { l->s.id, 0 };
	struct dn_tcp_sock_rep rep;
	for (;;) {
		/* Cleared before asking: an EVT_ACCEPTABLE that races the
		 * EAGAIN reply sets it again and we retry. */
		dnl_sock_ev_clear(&l->s, DNL_SEV_ACCEPTABLE);
		if (dnl_att_request(l->s.att, DN_MSG_TCP_ACCEPT, &rq, sizeof(rq),
				    &rep, sizeof(rep), &c->s, lh,
				    ctl_deadline(deadline)) == 0)
			break;
		if (errno != EAGAIN)
			goto fail;
		if (dnl_sock_wait(&l->s, NULL, DNL_W_NONE, acceptable, l,
				  deadline) < 0)
			goto fail;
		int rerr = 0;
		unsigned lev = dnl_sock_ev(&l->s, NULL, &rerr);
		if (lev & (DNL_SEV_RESET | DNL_SEV_CLOSED)) {
			/* The daemon dropped the listener. */
			errno = rerr ? rerr : ECONNRESET;
			goto fail;
		}
	}
	c->have_id = 1;
	if (conn_rings(c, rep.slot) < 0)
		goto fail;
	h = dnl_handle_add(&c->h, &conn_vt, mem ? 0 : DNL_H_FREE);
	if (h < 0) {
		c->abort = 1;
		goto fail;
	}
	dnl_sock_changed(&c->s);
	addr_fill(addr, rep.peer_ip4, rep.peer_port);
	goto out;
fail:
	err = errno;
	conn_release(&c->h);
	if (!mem)
		free(c);
	errno = err;
out:
	err = errno;
	dnl_handle_put(lh);
	errno = err;
	return h;
}

DILLNET_EXPORT int dillnet_tcp_accept(int s, struct ipaddr *addr,
				      int64_t deadline)
{
	return accept_impl(s, addr, NULL, deadline);
}

DILLNET_EXPORT int dillnet_tcp_accept_mem(int s, struct ipaddr *addr,
					  struct tcp_storage *mem,
					  int64_t deadline)
{
	if (mem_check(mem) < 0)
		return -1;
	return accept_impl(s, addr, mem, deadline);
}

/* ---- data path ------------------------------------------------------- */

static size_t iol_total(const struct iolist *first, const struct iolist *last)
{
	size_t n = 0;
	for (const struct iolist *it = first; it; it = it == last ? NULL : it->iol_next)
		n += it->iol_len;
	return n;
}

static int conn_bsendl(struct dnl_handle *h, struct iolist *first,
		       struct iolist *last, int64_t deadline)
{
	struct tcp_conn *c = (struct tcp_conn *)h;
	struct dnl_att *a = c->s.att;
	if (c->done) {
		errno = EPIPE;
		return -1;
	}
	int e = conn_broken(c);
	if (e) {
		errno = e;
		return -1;
	}
	/* Deadline 0: fail before moving anything when it cannot all go. */
	if (deadline == 0)
		dnl_tx_grow(&c->tx, iol_total(first, last), SIZE_MAX);
	size_t room = dn_ring_writable(&c->tx);
	if (room == DN_RING_CORRUPT) {
		errno = ECONNRESET;
		return -1;
	}
	if (deadline == 0 && iol_total(first, last) > room) {
		errno = ETIMEDOUT;
		return -1;
	}
	int moved = 0, kick = 0;
	for (struct iolist *it = first; it; it = it == last ? NULL : it->iol_next) {
		const uint8_t *p = it->iol_base;
		size_t n = it->iol_len;
		while (n) {
			if (dnl_handle_cancelled(h)) {
				errno = ECANCELED;
				goto fail;
			}
			if ((e = conn_broken(c)) != 0) {
				errno = e;
				goto fail;
			}
			if (dnl_sock_ev(&c->s, NULL, NULL) & DNL_SEV_CLOSED) {
				/* The daemon let go of the connection (both
				 * FINs are through): nobody takes bytes any
				 * more. */
				errno = ECONNRESET;
				goto fail;
			}
			size_t w = dn_ring_write(&c->tx, p, n);
			if (w == DN_RING_CORRUPT) {
				errno = ECONNRESET;
				goto fail;
			}
			if (w) {
				moved = kick = 1;
				p += w;
				n -= w;
				continue;
			}
			/* Full: a ring below its size grows (and we go on),
			 * else tell the daemon what is there, then sleep
			 * until it frees room. */
			if (dnl_tx_grow(&c->tx, n, SIZE_MAX))
				continue;
			if (kick) {
				dnl_att_cmd(a, DN_CMD_TX, c->s.id);
				kick = 0;
			}
			if (dnl_sock_wait(&c->s, &c->tx, DNL_W_PROD, tx_ready, c,
					  deadline) < 0)
				goto fail;
		}
	}
	if (kick)
		dnl_att_cmd(a, DN_CMD_TX, c->s.id);
	return 0;
fail:
	if (moved && !dnl_att_dead(a)) {
		/* Half a message is garbage to the peer: the stream is
		 * aborted.  The flag tells a daemon that honours it at once;
		 * the RST at close is certain.  Closing the id now would let
		 * the daemon hand the slot to another socket while this
		 * handle still reads from it. */
		int err = errno;
		c->abort = 1;
		dn_ring_set_flag(&c->tx, DN_RING_F_RESET);
		dnl_att_cmd(a, DN_CMD_TX, c->s.id);
		errno = err;
	}
	return -1;
}

/* Take up to n bytes (p NULL: drop them); see dnl_rx_take. */
static ssize_t rx_take(struct tcp_conn *c, void *p, size_t n, int *rxcmd)
{
	return dnl_rx_take(&c->s, p, n, rxcmd);
}

/* Verdict on an empty rx ring: 0 wait, 1 data appeared, -1 errno. */
static int rx_empty(struct tcp_conn *c)
{
	int e = conn_broken(c);
	if (e) {
		errno = e;
		return -1;
	}
	if (dn_ring_flags(&c->rx) & DN_RING_F_EOF) {
		/* EOF is set after the last publish: only an empty ring
		 * ends the stream. */
		if (dn_ring_readable(&c->rx) != 0)
			return 1;
		errno = EPIPE;
		return -1;
	}
	if (dnl_handle_cancelled(&c->h)) {
		errno = ECANCELED;
		return -1;
	}
	return 0;
}

static int conn_brecvl(struct dnl_handle *h, struct iolist *first,
		       struct iolist *last, int64_t deadline)
{
	struct tcp_conn *c = (struct tcp_conn *)h;
	struct dnl_att *a = c->s.att;
	int e = conn_broken(c);
	if (e) {
		errno = e;
		return -1;
	}
	if (deadline == 0 && !dn_ring_flags(&c->rx)) {
		size_t avail = dn_ring_readable(&c->rx);
		if (avail != DN_RING_CORRUPT && iol_total(first, last) > avail) {
			errno = ETIMEDOUT;
			return -1;
		}
	}
	int rxcmd = 0, rc = 0;
	for (struct iolist *it = first; it; it = it == last ? NULL : it->iol_next) {
		uint8_t *p = it->iol_base;
		size_t n = it->iol_len;
		while (n) {
			if ((e = conn_broken(c)) != 0) {
				errno = e;
				rc = -1;
				goto out;
			}
			ssize_t r = rx_take(c, p, n, &rxcmd);
			if (r < 0) {
				rc = -1;
				goto out;
			}
			if (r) {
				if (p)
					p += r;
				n -= (size_t)r;
				continue;
			}
			int st = rx_empty(c);
			if (st < 0) {
				rc = -1;
				goto out;
			}
			if (st > 0)
				continue;
			if (rxcmd) {
				dnl_att_cmd(a, DN_CMD_RX, c->s.id);
				rxcmd = 0;
			}
			if (dnl_sock_wait(&c->s, &c->rx, DNL_W_CONS, rx_ready, c,
					  deadline) < 0) {
				rc = -1;
				goto out;
			}
		}
	}
out:
	if (rxcmd) {
		e = errno;
		dnl_att_cmd(a, DN_CMD_RX, c->s.id);
		errno = e;
	}
	return rc;
}

static int conn_done(struct dnl_handle *h, int64_t deadline)
{
	struct tcp_conn *c = (struct tcp_conn *)h;
	if (c->done) {
		errno = EPIPE;
		return -1;
	}
	int e = conn_broken(c);
	if (e) {
		errno = e;
		return -1;
	}
	(void)deadline;
	dn_ring_set_flag(&c->tx, DN_RING_F_EOF);
	/* Fire and forget, like shutdown(2), which does not wait for the FIN
	 * either: every byte is in the tx ring already and the daemon sends
	 * the FIN behind the last one.  The daemon's only refusals are for a
	 * socket the library knows to be broken (checked above), so waiting
	 * for the reply would cost a control round trip for nothing. */
	struct dn_tcp_sock_req rq = { c->s.id, 0 };
	dnl_att_request_async(c->s.att, DN_MSG_TCP_SHUTDOWN, &rq, sizeof(rq));
	c->done = 1;
	return 0;
}

/* tcp_close: half-close, then drop input until the peer's FIN. */
static int conn_close(struct dnl_handle *h, int64_t deadline)
{
	struct tcp_conn *c = (struct tcp_conn *)h;
	struct dnl_att *a = c->s.att;
	/* Neither direction is broken here (the core checked). */
	if (!c->done && conn_done(h, deadline) < 0)
		return -1;
	int rxcmd = 0, rc;
	for (;;) {
		ssize_t r = rx_take(c, NULL, SIZE_MAX, &rxcmd);
		if (r < 0) {
			rc = -1;
			break;
		}
		if (r)
			continue;
		int st = rx_empty(c);
		if (st < 0) {
			rc = errno == EPIPE ? 0 : -1;
			break;
		}
		if (st > 0)
			continue;
		if (rxcmd) {
			dnl_att_cmd(a, DN_CMD_RX, c->s.id);
			rxcmd = 0;
		}
		if (dnl_sock_wait(&c->s, &c->rx, DNL_W_CONS, rx_ready, c,
				  deadline) < 0) {
			rc = -1;
			break;
		}
	}
	if (rxcmd) {
		int e = errno;
		dnl_att_cmd(a, DN_CMD_RX, c->s.id);
		errno = e;
	}
	return rc;
}

/* ---- done / close ---------------------------------------------------- */

DILLNET_EXPORT int dillnet_tcp_done(int s, int64_t deadline)
{
	return dnl_handle_done(s, DNL_KIND_TCP, deadline);
}

DILLNET_EXPORT int dillnet_tcp_close(int s, int64_t deadline)
{
	/* Listeners have no close hook: this just releases them. */
	struct dnl_handle *h = dnl_handle_get(s, DNL_KIND_ANY);
	if (!h)
		return -1;
	int kind = h->vt->kind;
	dnl_handle_put(h);
	if (kind != DNL_KIND_TCP && kind != DNL_KIND_TCP_LISTENER) {
		errno = ENOTSUP;
		return -1;
	}
	return dnl_handle_close(s, kind, deadline);
}
