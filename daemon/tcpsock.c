#include "tcpsock.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "dn_msg.h"
#include "dn_region.h"

enum sock_kind { SK_LISTENER = 1, SK_CONN };

struct sock_app;

struct sock {
	uint32_t id;
	uint8_t kind;
	uint8_t app_closed;       /* app sent TCP_CLOSE or went away */
	uint8_t visible;          /* the app knows its id (connect, or accepted) */
	uint8_t reset_sent;
	uint8_t orphan;           /* counted in the uid's orphans */
	struct dn_ring_shared *frozen; /* daemon-owned indices once the app went */
	struct dn_tcp_conn *conn; /* NULL once TCP freed it */
	struct sock_app *sa;
	uint32_t slot;            /* DN_SLOT_NONE for listeners */
	struct dn_ring rx, tx;    /* daemon-side views, private indices */
	uint64_t rx_tail_seen;    /* for bytes_in / bytes_out accounting */
	uint64_t tx_head_seen;
};

/* Per-app state (app->user).  Outlives the app while orphaned
 * connections still use its region. */
struct sock_app {
	struct dn_tcpsock *ts;
	struct dn_app *app;       /* NULL once the app is gone */
	pid_t pid;
	uint32_t uid;             /* TCP charges what outlives the app to it */
	uint32_t app_id;
	struct dn_region *region; /* &app->region, or &kept below */
	struct dn_region kept;    /* copy of the view once the app is gone */
	struct dn_uid_use *uidu;  /* the uid's totals (a reference) */
	uint32_t listeners;
	struct sock **socks;      /* index -> socket */
	uint16_t *gen;
	uint32_t cap;             /* table size */
	uint32_t live;            /* sockets TCP still holds or the app owns */
	struct dn_slot_table slots;
};

/* ---- tables ----------------------------------------------------------- */

static struct sock_app *app_state(struct dn_tcpsock *ts, struct dn_app *a)
{
	if (a->user)
		return a->user;
	struct sock_app *sa = calloc(1, sizeof(*sa));
	if (!sa)
		return NULL;
	sa->ts = ts;
	sa->app = a;
	sa->uidu = a->uidu;
	sa->pid = a->pid;
	sa->uid = (uint32_t)a->uid;
	sa->app_id = a->id;
	sa->region = &a->region;
	sa->cap = ts->conf.max_sockets ? ts->conf.max_sockets : 1024;
	if (sa->cap > 65535)
		sa->cap = 65535;
	sa->socks = calloc(sa->cap, sizeof(*sa->socks));
	sa->gen = calloc(sa->cap, sizeof(*sa->gen));
	if (!sa->socks || !sa->gen || dn_slot_table_init(&sa->slots, a->region.l.nslots) != 0) {
		free(sa->socks);
		free(sa->gen);
		dn_slot_table_fini(&sa->slots);
		free(sa);
		return NULL;
	}
	if (sa->uidu)
		dn_uid_use_get(sa->uidu);
	a->user = sa;
	return sa;
}

static void app_state_free(struct sock_app *sa)
{
	if (!sa->app) {
		/* The app is gone and TCP released its last connection: the
		 * region mapping we kept can go now, and the uid stops paying
		 * for it. */
		if (sa->uidu)
			dn_uid_release_kept(sa->uidu, dn_region_charge(sa->kept.l.total_size,
								       sa->ts->conf.region_commit_max));
		dn_region_destroy(&sa->kept);
	} else {
		sa->app->user = NULL;
	}
	if (sa->uidu)
		dn_uid_use_put(sa->uidu);
	free(sa->socks);
	free(sa->gen);
	dn_slot_table_fini(&sa->slots);
	free(sa);
}

/* The limits a new socket must fit, per app and per uid; a refusal is
 * logged once per app and limit.  EMFILE, as for a process out of fds. */
static int sock_limits(struct sock_app *sa, uint8_t kind)
{
	struct dn_tcpsock *ts = sa->ts;
	struct dn_uid_use *u = sa->uidu;
	struct dn_app *a = sa->app;
	const char *what = kind == SK_LISTENER ? "listen" : "connection";
	if (u && ts->conf.uid_max_sockets && u->sockets >= ts->conf.uid_max_sockets) {
		ts->cnt.tcpsock_refused_uid_limit++;
		if (a)
			dn_app_limit_log(a, DN_LIMIT_UID_SOCKETS, what, "apps.per_uid.max_sockets",
					 ts->conf.uid_max_sockets);
		return EMFILE;
	}
	if (kind != SK_LISTENER)
		return 0;
	uint32_t maxl = ts->conf.max_listeners ? ts->conf.max_listeners : sa->cap;
	if (sa->listeners >= maxl) {
		ts->cnt.tcpsock_refused_listeners++;
		if (a)
			dn_app_limit_log(a, DN_LIMIT_LISTENERS, what, "apps.max_listeners", maxl);
		return EMFILE;
	}
	if (u && ts->conf.uid_max_listeners && u->listeners >= ts->conf.uid_max_listeners) {
		ts->cnt.tcpsock_refused_uid_limit++;
		if (a)
			dn_app_limit_log(a, DN_LIMIT_UID_LISTENERS, what,
					 "apps.per_uid.max_listeners", ts->conf.uid_max_listeners);
		return EMFILE;
	}
	return 0;
}

static struct sock *sock_new(struct sock_app *sa, uint8_t kind, int *err)
{
	uint32_t i;
	if ((*err = sock_limits(sa, kind)) != 0)
		return NULL;
	for (i = 0; i < sa->cap; i++)
		if (!sa->socks[i])
			break;
	if (i == sa->cap) {
		*err = EMFILE;
		if (sa->app)
			dn_app_limit_log(sa->app, DN_LIMIT_SOCKETS,
					 kind == SK_LISTENER ? "listen" : "connection",
					 "apps.max_sockets", sa->cap);
		return NULL;
	}
	struct sock *s = calloc(1, sizeof(*s));
	if (!s) {
		*err = ENOMEM;
		return NULL;
	}
	sa->gen[i]++;
	s->id = ((uint32_t)sa->gen[i] << 16) | (i + 1);
	s->kind = kind;
	s->sa = sa;
	s->slot = DN_SLOT_NONE;
	sa->socks[i] = s;
	sa->live++;
	if (sa->app)
		sa->app->sockets++;
	if (sa->uidu)
		sa->uidu->sockets++;
	if (kind == SK_LISTENER) {
		sa->listeners++;
		if (sa->app)
			sa->app->listeners++;
		if (sa->uidu)
			sa->uidu->listeners++;
	}
	return s;
}

static struct sock *sock_find(struct sock_app *sa, uint32_t id)
{
	uint32_t i = (id & 0xffff);
	if (i == 0 || i > sa->cap)
		return NULL;
	struct sock *s = sa->socks[i - 1];
	if (!s || s->id != id || s->app_closed)
		return NULL;
	return s;
}

/* A buffer slot for s: EMFILE when the app has none left, ENOMEM when its
 * region already commits apps.region_mb (dn_region_slot_get). */
static int slot_alloc(struct sock_app *sa, struct sock *s)
{
	uint32_t i;
	int err = dn_region_slot_get(sa->region, &sa->slots, sa->ts->conf.region_commit_max, &i);
	if (err)
		return err;
	if (dn_region_slot_rings(sa->region, i, &s->rx, &s->tx) != 0) {
		dn_region_slot_put(sa->region, &sa->slots, i);
		return EPROTO;
	}
	s->slot = i;
	s->rx_tail_seen = s->rx.tail;
	s->tx_head_seen = s->tx.head;
	return 0;
}

/* TCP is done with the socket (or it never reached TCP): drop it. */
static void sock_release(struct sock *s)
{
	struct sock_app *sa = s->sa;
	uint32_t i = (s->id & 0xffff) - 1;
	/* The slot's pages go back to the system (punched out). */
	if (s->slot != DN_SLOT_NONE)
		dn_region_slot_put(sa->region, &sa->slots, s->slot);
	sa->socks[i] = NULL;
	if (sa->app && sa->app->sockets)
		sa->app->sockets--;
	if (sa->uidu) {
		sa->uidu->sockets--;
		if (s->orphan)
			sa->uidu->orphans--;
	}
	if (s->kind == SK_LISTENER) {
		sa->listeners--;
		if (sa->app && sa->app->listeners)
			sa->app->listeners--;
		if (sa->uidu)
			sa->uidu->listeners--;
	}
	free(s->frozen);
	free(s);
	if (--sa->live == 0 && !sa->app)
		app_state_free(sa);
}

/* ---- events ----------------------------------------------------------- */

static void push_evt(struct sock *s, uint16_t op, int result, uint64_t arg)
{
	struct sock_app *sa = s->sa;
	if (!sa->app || s->app_closed)
		return;
	struct dn_evt e = { .op = op, .sock = s->id, .result = result, .arg = arg };
	int r = dn_app_event(sa->app, &e);
	if (r == 0)
		sa->ts->cnt.tcpsock_events_lost++;
	/* r < 0: the app corrupted its event ring and the manager is
	 * disconnecting it; on_detach takes care of this socket. */
}

static struct sock *conn_sock(struct dn_tcp_conn *c)
{
	return dn_tcp_owner(c);
}

static void up_connected(void *ctx, struct dn_tcp_conn *c, int err)
{
	(void)ctx;
	struct sock *s = conn_sock(c);
	if (s)
		push_evt(s, DN_EVT_CONNECTED, err, 0);
}

static int up_attach(void *ctx, struct dn_tcp_conn *listener, struct dn_tcp_conn *c,
		     struct dn_ring **rx, struct dn_ring **tx, void **owner)
{
	struct dn_tcpsock *ts = ctx;
	struct sock *l = dn_tcp_owner(listener);
	int err;
	(void)c;
	if (!l || l->app_closed || !l->sa->app)
		return -1;
	struct sock *s = sock_new(l->sa, SK_CONN, &err);
	if (!s) {
		ts->cnt.tcpsock_refused_limit++;
		return -1;
	}
	if (slot_alloc(l->sa, s) != 0) {
		ts->cnt.tcpsock_refused_no_slot++;
		sock_release(s);
		return -1;
	}
	*rx = &s->rx;
	*tx = &s->tx;
	*owner = s;
	return 0;
}

static void up_accept_ready(void *ctx, struct dn_tcp_conn *listener)
{
	(void)ctx;
	struct sock *l = dn_tcp_owner(listener);
	if (l)
		push_evt(l, DN_EVT_ACCEPTABLE, 0, 0);
}

static void account(struct sock *s)
{
	struct sock_app *sa = s->sa;
	if (!sa->app)
		return;
	sa->app->bytes_in += s->rx.tail - s->rx_tail_seen;
	s->rx_tail_seen = s->rx.tail;
	sa->app->bytes_out += s->tx.head - s->tx_head_seen;
	s->tx_head_seen = s->tx.head;
}

/* Readiness goes to the app only when it said it waits (the ring's waiting
 * flag): a bulk transfer costs no event per segment. */
static void up_readable(void *ctx, struct dn_tcp_conn *c)
{
	(void)ctx;
	struct sock *s = conn_sock(c);
	if (!s || !s->visible || !s->sa->app)
		return;
	account(s);
	/* needs_wakeup consumes the flag, so the signal is unconditional. */
	if (dn_ring_consumer_needs_wakeup(&s->rx)) {
		dn_app_signal(s->sa->app);
		push_evt(s, DN_EVT_READABLE, 0, 0);   /* last: may tear the app down */
	}
}

static void up_eof(void *ctx, struct dn_tcp_conn *c)
{
	(void)ctx;
	struct sock *s = conn_sock(c);
	if (!s || !s->visible || !s->sa->app)
		return;
	/* The EOF flag is set; always tell, a reader may be about to sleep. */
	dn_app_signal(s->sa->app);
	push_evt(s, DN_EVT_READABLE, 0, 1);
}

static void up_writable(void *ctx, struct dn_tcp_conn *c)
{
	(void)ctx;
	struct sock *s = conn_sock(c);
	if (!s || !s->visible || !s->sa->app)
		return;
	account(s);
	if (dn_ring_producer_needs_wakeup(&s->tx)) {
		dn_app_signal(s->sa->app);
		push_evt(s, DN_EVT_WRITABLE, 0, 0);
	}
}

static void up_reset(void *ctx, struct dn_tcp_conn *c, int err)
{
	(void)ctx;
	struct sock *s = conn_sock(c);
	if (!s || !s->visible || s->reset_sent)
		return;
	s->reset_sent = 1;
	if (s->sa->app)
		dn_app_signal(s->sa->app);
	push_evt(s, DN_EVT_RESET, err ? err : ECONNRESET, 0);
}

static void up_freed(void *ctx, struct dn_tcp_conn *c, void *owner)
{
	(void)ctx;
	(void)c;
	struct sock *s = owner;
	if (!s)
		return;
	s->conn = NULL;
	/* An unaccepted or app-closed socket is gone now; otherwise the app
	 * still holds the id until it closes it. */
	if (s->app_closed || !s->visible || !s->sa->app) {
		sock_release(s);
		return;
	}
	push_evt(s, DN_EVT_CLOSED, 0, 0);   /* last: may tear the app down */
}

void dn_tcpsock_init(struct dn_tcpsock *ts, struct dn_stack *st, struct dn_log *lg,
		     const struct dn_tcpsock_conf *conf)
{
	memset(ts, 0, sizeof(*ts));
	ts->st = st;
	ts->log = lg;
	ts->conf = *conf;
	ts->up.connected = up_connected;
	ts->up.attach = up_attach;
	ts->up.accept_ready = up_accept_ready;
	ts->up.readable = up_readable;
	ts->up.eof = up_eof;
	ts->up.writable = up_writable;
	ts->up.reset = up_reset;
	ts->up.freed = up_freed;
	st->tcp.up = &ts->up;
	st->tcp.up_ctx = ts;
}

/* ---- requests ------------------------------------------------------------ */

static void fill_rep(struct sock *s, struct dn_tcp_sock_rep *r)
{
	memset(r, 0, sizeof(*r));
	r->sock = s->id;
	r->slot = s->slot;
	if (s->conn)
		dn_tcp_get_addrs(s->conn, &r->local_ip4, &r->local_port, &r->peer_ip4, &r->peer_port);
}

/* May app a bind or listen on ip:port?  A refused port is logged (a
 * request from the app, not a packet): the program may say nothing, and
 * the admin reading the log should see who asked for what and the limit. */
static int bind_check(struct dn_tcpsock *ts, struct dn_app *a, uint32_t ip, uint16_t port,
		      const char *what)
{
	if (ip && ip != ts->st->conf.ip4)
		return EADDRNOTAVAIL;
	if (!port)
		return 0;
	unsigned lo = ts->conf.listen_port_min, hi = ts->conf.listen_port_max;
	if (port >= lo && port <= hi)
		return 0;
	ts->cnt.tcpsock_port_refused++;
	dn_warn(ts->log, "app %u pid %d uid %u (%s): %s on port %u refused (EACCES): "
		"apps.listen_port_%s is %u", a->id, (int)a->pid, (unsigned)a->uid,
		a->name[0] ? a->name : "?", what, (unsigned)port,
		port < lo ? "min" : "max", port < lo ? lo : hi);
	return EACCES;
}

static int h_bind(void *ctx, struct dn_app *a, const void *req, uint32_t rl,
		  void *out, size_t cap, uint32_t *ol)
{
	struct dn_tcpsock *ts = ctx;
	struct dn_tcp_bind_req q;
	(void)rl, (void)out, (void)cap;
	memcpy(&q, req, sizeof(q));
	if (q.flags || q.pad || q.pad2)
		return EINVAL;
	*ol = 0;
	return bind_check(ts, a, q.ip4, q.port, "bind");
}

static int h_listen(void *ctx, struct dn_app *a, const void *req, uint32_t rl,
		    void *out, size_t cap, uint32_t *ol)
{
	struct dn_tcpsock *ts = ctx;
	struct dn_tcp_listen_req q;
	int err;
	(void)rl;
	memcpy(&q, req, sizeof(q));
	if (q.flags || cap < sizeof(struct dn_tcp_sock_rep))
		return EINVAL;
	if ((err = bind_check(ts, a, q.ip4, q.port, "listen")) != 0)
		return err;
	if (q.backlog > 65535)
		q.backlog = 65535;
	struct sock_app *sa = app_state(ts, a);
	if (!sa)
		return ENOMEM;
	struct sock *s = sock_new(sa, SK_LISTENER, &err);
	if (!s)
		return err;
	s->conn = dn_tcp_listen(ts->st, q.ip4, q.port, (int)q.backlog, s, &err);
	if (!s->conn) {
		sock_release(s);
		return err ? err : ENOMEM;
	}
	dn_tcp_set_uid(s->conn, sa->uid);   /* and the connections it accepts */
	s->visible = 1;
	ts->cnt.tcpsock_listen++;
	fill_rep(s, out);
	*ol = sizeof(struct dn_tcp_sock_rep);
	return 0;
}

static int h_connect(void *ctx, struct dn_app *a, const void *req, uint32_t rl,
		     void *out, size_t cap, uint32_t *ol)
{
	struct dn_tcpsock *ts = ctx;
	struct dn_tcp_connect_req q;
	int err;
	(void)rl;
	memcpy(&q, req, sizeof(q));
	if (q.flags || q.port == 0 || q.ip4 == 0 || cap < sizeof(struct dn_tcp_sock_rep))
		return EINVAL;
	struct sock_app *sa = app_state(ts, a);
	if (!sa)
		return ENOMEM;
	struct sock *s = sock_new(sa, SK_CONN, &err);
	if (!s)
		return err;
	if ((err = slot_alloc(sa, s)) != 0) {
		sock_release(s);
		return err;
	}
	s->visible = 1;
	s->conn = dn_tcp_connect_as(ts->st, q.ip4, q.port, 0, &s->rx, &s->tx, s,
				    sa->uid, &err);
	if (!s->conn) {
		sock_release(s);
		return err ? err : ENOMEM;
	}
	ts->cnt.tcpsock_connect++;
	fill_rep(s, out);
	*ol = sizeof(struct dn_tcp_sock_rep);
	return 0;
}

/* The socket a request names, or NULL (the caller answers EBADF). */
static struct sock *req_sock(struct dn_app *a, const void *req, struct dn_tcp_sock_req *q)
{
	memcpy(q, req, sizeof(*q));
	struct sock_app *sa = a->user;
	return sa ? sock_find(sa, q->sock) : NULL;
}

static int h_accept(void *ctx, struct dn_app *a, const void *req, uint32_t rl,
		    void *out, size_t cap, uint32_t *ol)
{
	struct dn_tcpsock *ts = ctx;
	struct dn_tcp_sock_req q;
	(void)rl;
	struct sock *l = req_sock(a, req, &q);
	if (!l || cap < sizeof(struct dn_tcp_sock_rep))
		return EBADF;
	if (l->kind != SK_LISTENER || !l->conn)
		return EINVAL;
	struct dn_tcp_conn *c = dn_tcp_accept(l->conn, NULL);
	if (!c)
		return EAGAIN;
	struct sock *s = dn_tcp_owner(c);
	s->conn = c;
	s->visible = 1;
	ts->cnt.tcpsock_accept++;
	fill_rep(s, out);
	*ol = sizeof(struct dn_tcp_sock_rep);
	/* Anything that arrived before the app knew the socket is in the ring
	 * already; the app looks at the ring before it waits. */
	return 0;
}

static int h_shutdown(void *ctx, struct dn_app *a, const void *req, uint32_t rl,
		      void *out, size_t cap, uint32_t *ol)
{
	struct dn_tcp_sock_req q;
	(void)ctx;
	(void)rl;
	(void)out;
	(void)cap;
	struct sock *s = req_sock(a, req, &q);
	if (!s)
		return EBADF;
	if (s->kind != SK_CONN || q.how)
		return EINVAL;
	if (!s->conn)
		return ECONNRESET;
	dn_tcp_shutdown_wr(s->conn);
	*ol = 0;
	return 0;
}

/* The app lets go of a socket: as close(2) would. */
static void sock_close(struct sock *s, int abort)
{
	s->app_closed = 1;
	if (!s->conn) {
		sock_release(s);
		return;
	}
	struct dn_tcp_conn *c = s->conn;
	if (abort)
		dn_tcp_abort(c);
	else
		dn_tcp_close(c);
	/* freed() releases the socket, maybe already inside the call above. */
}

static int h_close(void *ctx, struct dn_app *a, const void *req, uint32_t rl,
		   void *out, size_t cap, uint32_t *ol)
{
	struct dn_tcp_sock_req q;
	(void)ctx;
	(void)rl;
	(void)out;
	(void)cap;
	struct sock *s = req_sock(a, req, &q);
	if (!s)
		return EBADF;
	if (q.how != DN_CLOSE_GRACEFUL && q.how != DN_CLOSE_ABORT)
		return EINVAL;
	sock_close(s, q.how == DN_CLOSE_ABORT);
	*ol = 0;
	return 0;
}

static int h_setopt(void *ctx, struct dn_app *a, const void *req, uint32_t rl,
		    void *out, size_t cap, uint32_t *ol)
{
	struct dn_tcp_setopt_req q;
	(void)ctx;
	(void)rl;
	(void)out;
	(void)cap;
	memcpy(&q, req, sizeof(q));
	struct sock_app *sa = a->user;
	struct sock *s = sa ? sock_find(sa, q.sock) : NULL;
	if (!s)
		return EBADF;
	if (s->kind != SK_CONN || q.pad || q.pad2 || q.value > 1)
		return EINVAL;
	if (!s->conn)
		return ECONNRESET;
	switch (q.opt) {
	case DN_TCPOPT_NODELAY:
		dn_tcp_set_nodelay(s->conn, (int)q.value);
		break;
	case DN_TCPOPT_KEEPALIVE:
		dn_tcp_set_keepalive(s->conn, (int)q.value);
		break;
	default:
		return EINVAL;
	}
	*ol = 0;
	return 0;
}

const struct dn_app_handler_entry dn_tcpsock_handlers[] = {
	{ DN_MSG_TCP_SETOPT, h_setopt },
	{ DN_MSG_TCP_BIND, h_bind },
	{ DN_MSG_TCP_LISTEN, h_listen },
	{ DN_MSG_TCP_CONNECT, h_connect },
	{ DN_MSG_TCP_ACCEPT, h_accept },
	{ DN_MSG_TCP_SHUTDOWN, h_shutdown },
	{ DN_MSG_TCP_CLOSE, h_close },
};
const size_t dn_tcpsock_nhandlers = sizeof(dn_tcpsock_handlers) / sizeof(dn_tcpsock_handlers[0]);

int dn_tcpsock_on_command(void *ctx, struct dn_app *a, const struct dn_cmd *c)
{
	struct dn_tcpsock *ts = ctx;
	struct sock_app *sa = a->user;
	struct sock *s = sa ? sock_find(sa, c->sock) : NULL;
	if (!s || s->kind != SK_CONN || !s->conn) {
		ts->cnt.tcpsock_stale_cmd++;
		return 0;
	}
	/* Validate the app-written indices here, where a bad one can be
	 * blamed on the app; TCP alone would only see an empty ring. */
	if (dn_ring_readable(&s->tx) == DN_RING_CORRUPT ||
	    dn_ring_writable(&s->rx) == DN_RING_CORRUPT) {
		ts->cnt.tcpsock_violations++;
		return EPROTO;
	}
	dn_tcp_output_kick(s->conn);
	account(s);
	return 0;
}

/* The app's command ring overflowed, so hints were lost: look at every
 * connection's rings as if each had sent TX and RX. */
void dn_tcpsock_on_rescan(void *ctx, struct dn_app *a)
{
	struct sock_app *sa = a->user;
	if (!sa)
		return;
	for (uint32_t i = 0; i < sa->cap; i++) {
		struct sock *s = sa->socks[i];
		if (!s || s->kind != SK_CONN || !s->conn || s->app_closed)
			continue;
		struct dn_cmd c = { .op = DN_CMD_TX, .sock = s->id };
		if (dn_tcpsock_on_command(ctx, a, &c) != 0) {
			dn_app_violation(a, "corrupt ring indices on socket %u", s->id);
			return;
		}
	}
}

/* The app is gone (closed, detached, killed): read the app's ring indices
 * one last time, now, and keep them in daemon memory from here on.  The
 * tx tail fixes what the connection may still send (what the app had
 * published at this moment); the rx head says what it left unread (a
 * reset, as close(2) would).  The process may live on and keep writing
 * the region it still maps: neither the stack nor anything else here
 * reads its indices again.  The bytes themselves stay in the region
 * until sent and acknowledged (the retransmission buffer). */
static int sock_freeze(struct sock *s)
{
	if (s->slot == DN_SLOT_NONE || s->frozen)
		return 0;
	struct dn_ring_shared *f = aligned_alloc(DN_CACHELINE, 2 * sizeof(*f));
	if (!f)
		return -1;
	/* Last loads; an index found corrupt leaves the last valid one. */
	(void)dn_ring_readable(&s->tx);
	(void)dn_ring_writable(&s->rx);
	dn_ring_shared_init(&f[0]);
	dn_ring_shared_init(&f[1]);
	atomic_store(&f[0].head, s->rx.head);
	atomic_store(&f[0].tail, s->rx.tail);
	atomic_store(&f[0].flags, dn_ring_flags(&s->rx));
	atomic_store(&f[1].head, s->tx.head);
	atomic_store(&f[1].tail, s->tx.tail);
	atomic_store(&f[1].flags, dn_ring_flags(&s->tx));
	s->rx.sh = &f[0];
	s->tx.sh = &f[1];
	s->frozen = f;
	s->sa->ts->cnt.tcpsock_frozen++;
	return 0;
}

void dn_tcpsock_on_detach(void *ctx, struct dn_app *a)
{
	struct dn_tcpsock *ts = ctx;
	struct sock_app *sa = a->user;
	if (!sa)
		return;
	/* From here on no event goes to the app and its region is ours. */
	sa->kept = a->region;
	sa->region = &sa->kept;
	sa->app = NULL;
	a->user = NULL;
	/* Hold a reference while closing: sockets released on the way must
	 * not free sa (or unmap the region) under this loop. */
	sa->live++;
	/* Every socket's send end is fixed before any close runs. */
	for (uint32_t i = 0; i < sa->cap; i++) {
		struct sock *s = sa->socks[i];
		if (!s || s->app_closed)
			continue;
		if (sock_freeze(s) != 0 && s->conn) {
			/* No memory to keep the indices: a reset stops the
			 * connection just as surely. */
			s->app_closed = 1;
			dn_tcp_abort(s->conn);
		}
	}
	/* What is left counts as the uid's orphans until released. */
	for (uint32_t i = 0; i < sa->cap; i++) {
		struct sock *s = sa->socks[i];
		if (s && !s->orphan && sa->uidu) {
			s->orphan = 1;
			sa->uidu->orphans++;
		}
	}
	/* Listeners first, so their unaccepted connections are reset, then
	 * every connection the app held closes as at process exit. */
	for (int pass = 0; pass < 2; pass++) {
		for (uint32_t i = 0; i < sa->cap && sa->live; i++) {
			struct sock *s = sa->socks[i];
			if (!s || s->app_closed)
				continue;
			if ((pass == 0) != (s->kind == SK_LISTENER))
				continue;
			if (pass == 1 && s->conn)
				ts->cnt.tcpsock_orphans++;
			if (!s->visible)
				continue;   /* unaccepted: its listener's close resets it */
			sock_close(s, 0);
		}
	}
	if (--sa->live) {
		a->region_kept = 1;
	} else {
		/* Nothing left: the manager unmaps the region as usual. */
		if (sa->uidu)
			dn_uid_use_put(sa->uidu);
		free(sa->socks);
		free(sa->gen);
		dn_slot_table_fini(&sa->slots);
		free(sa);
	}
}

int dn_tcpsock_owner_of(const void *owner, uint32_t *pid, uint32_t *app_id)
{
	const struct sock *s = owner;
	if (!s)
		return -1;
	*pid = s->sa->app ? (uint32_t)s->sa->pid : 0;
	*app_id = s->sa->app ? s->sa->app_id : 0;
	return 0;
}

void dn_tcpsock_counters_foreach(const struct dn_tcpsock *ts,
				 void (*cb)(const char *name, uint64_t v, void *arg), void *arg)
{
#define X(n, d) cb(#n, ts->cnt.n, arg);
	DN_TCPSOCK_COUNTERS(X)
#undef X
}
