/*
 * mtcp.c: mTCP's API (mtcp_api.h, mtcp_epoll.h) on dillnet's attach core.
 *
 * What maps to what:
 *  - A context (mctx_t) is a table of integer ids below max_concurrency,
 *    because mTCP programs index their own arrays by socket id.  Sockets
 *    and epoll instances share it.  Free ids form a first-in-first-out
 *    list, as in mTCP (0, 1, 2, ... at first; a closed id goes to the
 *    back): programs that close one socket, open the next and only then
 *    drop the state they keep under the old id rely on not getting the
 *    old id straight back.  A context is
 *    used by one thread at a time, as in mTCP; the only other thread that
 *    touches it is the attachment's pump, through notify (below), under
 *    the context's mutex.  Contexts live in a static array and are never
 *    freed, so a stale mctx_t is EINVAL, not a use after free.
 *  - A stream socket is a struct dnl_sock of its own once it connects or
 *    is accepted: control requests through dnl_att_request, bytes through
 *    the slot rings with sockio.h's helpers.  Unlike libdill's bsend and
 *    brecv (the handle core), reads and writes move what they can and
 *    return the count; a read that finds nothing gives EAGAIN on a
 *    non-blocking socket and leaves the socket as it was.
 *  - mtcp_bind only records the address: the daemon creates a listener at
 *    TCP_LISTEN and picks a connection's local end at TCP_CONNECT.
 *  - Listeners are shared per (address, port) within the process: mTCP
 *    servers listen on the same port once per core and let the NIC's RSS
 *    spread connections; here the contexts' listeners take turns at one
 *    daemon listener, every context is told when a connection waits, and
 *    whoever asks first gets it.
 *  - Readiness: every mtcp socket keeps both ring flags raised (attach.c's
 *    "arm", as in event-loop mode), so the daemon reports every change
 *    with an event.  The pump then calls notify, which queues the socket
 *    on its epoll instance's ready list and wakes the context's waiter.
 *    mtcp_epoll_wait computes each queued socket's level from the rings
 *    and event bits; level-triggered entries stay queued while they are
 *    ready, edge-triggered ones wait for the next notify.  Because the pump
 *    re-arms a flag before it notifies, data that arrived without an event
 *    (the flag was down) is visible by the time the program looks, so an
 *    edge-triggered reader that reads until EAGAIN misses nothing.
 *  - mtcp_epoll_wait sleeps in poll(2) on the context's eventfd so a
 *    signal interrupts it (EINTR), which mTCP programs rely on to stop.
 *
 * Lock order: attachment mutex (pump) -> lst_mu -> context mutex.  Nothing
 * here calls into attach.c while holding a context mutex.
 */
#include "attach.h"
#include "dn_efd.h"
#include "mtcp_api.h"
#include "mtcp_epoll.h"
#include "sockio.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <sched.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <netinet/tcp.h>
#include <unistd.h>

#define DNL_MTCP_MAX_CTX 64
#define DNL_MTCP_DEF_CONC 10000
#define DNL_MTCP_MAX_CONC (1 << 20)
/* Requests the daemon answers at once still get a bounded wait, so a hung
 * daemon cannot hang a non-blocking call forever. */
#define DNL_MTCP_CTL_MS 5000

#define EV_BAD (MTCP_EPOLLIN | MTCP_EPOLLOUT | MTCP_EPOLLERR | MTCP_EPOLLHUP | \
		MTCP_EPOLLRDHUP)
#define EV_FLAGS ((uint32_t)MTCP_EPOLLET | (uint32_t)MTCP_EPOLLONESHOT)

#define container_of(p, T, m) ((T *)((char *)(p) - offsetof(T, m)))

enum { K_FREE = 0, K_STREAM, K_LISTENER, K_EPOLL };
enum { ST_NEW, ST_CONNECTING, ST_CONNECTED, ST_FAILED };

struct mctx_i;
struct ep;
struct lsh;

/* A socket id (stream or listener). */
struct ms {
	struct dnl_sock s;          /* streams with a daemon socket */
	struct dn_ring rx, tx;
	struct mctx_i *ctx;
	int id;
	int kind;                   /* K_STREAM or K_LISTENER */
	int state;                  /* ST_* (streams) */
	int nonblock;
	int inited;                 /* s was dnl_sock_init'ed */
	int have_id;                /* the daemon made a socket for s */
	int err;                    /* ST_FAILED: why */
	int err_told;               /* SO_ERROR already gave it */
	int more;                   /* listener: the last accept worked */
	int bound;
	uint32_t lip, pip;          /* host order */
	uint16_t lport, pport;
	uint32_t sndcap;            /* SO_SNDBUF: bytes in the tx ring at most */
	int nodelay;                /* TCP_NODELAY as set; sent once there is a
				     * daemon socket */
	struct lsh *lsh;            /* listeners */
	/* epoll registration (context mutex) */
	struct ep *ep;
	uint32_t ep_events;
	int ep_off;                 /* EPOLLONESHOT fired: disabled until MOD */
	mtcp_epoll_data_t ep_data;
	int ep_queued;
	struct ms *ep_prev, *ep_next;
	struct ms *lnext;           /* users of the same lsh (lst_mu) */
};

static int send_nodelay(struct ms *m);

/* A daemon listener shared by the listeners of every context on it. */
struct lsh {
	struct dnl_sock s;
	uint32_t ip;
	uint16_t port;              /* as asked (0: the daemon picked lport) */
	uint16_t lport;
	int refs;                   /* lst_mu */
	unsigned turn;              /* lst_mu: who is told first */
	struct ms *users;           /* lst_mu */
	struct lsh *next;           /* lst_mu */
};

struct ep {
	int id;
	struct ms *head, *tail;     /* ready list (context mutex) */
	int nq;
};

struct slot {
	int kind;
	void *p;
	int next_free;              /* the free list's next id, or -1 */
};

struct mctx_i {
	struct mtcp_context pub;    /* what the program sees */
	int live;
	pthread_mutex_t mu;
	int efd;                    /* wakes mtcp_epoll_wait */
	_Atomic int sleeping;
	struct slot *tab;
	int ntab;
	int free_head, free_tail;   /* FIFO of free ids (-1: none) */
};

static struct mctx_i ctxs[DNL_MTCP_MAX_CTX];

static struct {
	pthread_mutex_t mu;         /* conf, init, context creation */
	int inited;
	struct mtcp_conf conf;
	int prog_set;               /* mtcp_setconf was called */
	uint32_t rx_size, tx_size;  /* the daemon's slot rings */
} G = {
	.mu = PTHREAD_MUTEX_INITIALIZER,
	.conf = {
		.num_cores = 0,
		.max_concurrency = DNL_MTCP_DEF_CONC,
		.max_num_buffers = DNL_MTCP_DEF_CONC,
		.rcvbuf_size = (int)DN_REGION_DEF_RX,
		.sndbuf_size = (int)DN_REGION_DEF_TX,
		.tcp_timewait = 0,
		.tcp_timeout = 30,
	},
	.rx_size = DN_REGION_DEF_RX,
	.tx_size = DN_REGION_DEF_TX,
};

static pthread_mutex_t lst_mu = PTHREAD_MUTEX_INITIALIZER;
static struct lsh *lst_list;

static int ncpus(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	return n < 1 ? 1 : n > DNL_MTCP_MAX_CTX ? DNL_MTCP_MAX_CTX : (int)n;
}

static void conf_defaults_locked(void)
{
	if (G.conf.num_cores <= 0)
		G.conf.num_cores = ncpus();
}

static int64_t ctl_deadline(void)
{
	return dillnet_now() + DNL_MTCP_CTL_MS;
}

/* ---- contexts and ids ---------------------------------------------------- */

static struct mctx_i *ctx_of(mctx_t m)
{
	uintptr_t p = (uintptr_t)m, b = (uintptr_t)ctxs;
	if (!m || p < b || p >= b + sizeof(ctxs) ||
	    (p - b) % sizeof(ctxs[0]) != 0) {
		errno = EINVAL;
		return NULL;
	}
	struct mctx_i *c = (struct mctx_i *)m;
	if (!c->live) {
		errno = EINVAL;
		return NULL;
	}
	return c;
}

/* Ids are taken from the free list's head and given back at its tail. */
static int id_alloc(struct mctx_i *c, int kind, void *p)
{
	int i = c->free_head;
	if (i < 0) {
		errno = ENFILE;   /* mTCP's word for "no free socket id" */
		return -1;
	}
	c->free_head = c->tab[i].next_free;
	if (c->free_head < 0)
		c->free_tail = -1;
	c->tab[i].kind = kind;
	c->tab[i].p = p;
	c->tab[i].next_free = -1;
	return i;
}

static void id_free(struct mctx_i *c, int id)
{
	c->tab[id].kind = K_FREE;
	c->tab[id].p = NULL;
	c->tab[id].next_free = -1;
	if (c->free_tail < 0)
		c->free_head = id;
	else
		c->tab[c->free_tail].next_free = id;
	c->free_tail = id;
}

/* Give back an id that was taken but never reached the program (an accept
 * that failed): to the head, as if it had not been taken.  mTCP takes an
 * id only once a connection is there, so a non-blocking accept loop that
 * ends in EAGAIN must not move ids to the back. */
static void id_unget(struct mctx_i *c, int id)
{
	c->tab[id].kind = K_FREE;
	c->tab[id].p = NULL;
	c->tab[id].next_free = c->free_head;
	c->free_head = id;
	if (c->free_tail < 0)
		c->free_tail = id;
}

/* Look an id up.  want: K_STREAM, K_LISTENER, K_EPOLL, or -1 for a socket
 * of either kind.  Unknown id: EBADF; another kind: ENOTSOCK (an epoll id
 * where a socket is needed, or a socket of the wrong kind). */
static void *id_get(struct mctx_i *c, int id, int want, int *kind)
{
	if (id < 0 || id >= c->ntab || c->tab[id].kind == K_FREE) {
		errno = EBADF;
		return NULL;
	}
	int k = c->tab[id].kind;
	if (kind)
		*kind = k;
	if (want == -1 ? k == K_EPOLL : k != want) {
		errno = ENOTSOCK;
		return NULL;
	}
	return c->tab[id].p;
}

/* ---- readiness ------------------------------------------------------------ */

static void ep_enqueue_locked(struct ms *m)
{
	struct ep *e = m->ep;
	if (!e || m->ep_queued || m->ep_off)
		return;
	m->ep_queued = 1;
	m->ep_next = NULL;
	m->ep_prev = e->tail;
	if (e->tail)
		e->tail->ep_next = m;
	else
		e->head = m;
	e->tail = m;
	e->nq++;
}

static void ep_dequeue_locked(struct ms *m)
{
	struct ep *e = m->ep;
	if (!e || !m->ep_queued)
		return;
	if (m->ep_prev)
		m->ep_prev->ep_next = m->ep_next;
	else
		e->head = m->ep_next;
	if (m->ep_next)
		m->ep_next->ep_prev = m->ep_prev;
	else
		e->tail = m->ep_prev;
	m->ep_prev = m->ep_next = NULL;
	m->ep_queued = 0;
	e->nq--;
}

/* Readiness of m may have changed: queue it for its epoll's next look. */
static void ms_note(struct ms *m)
{
	struct mctx_i *c = m->ctx;
	pthread_mutex_lock(&c->mu);
	if (m->ep) {
		ep_enqueue_locked(m);
		if (atomic_load(&c->sleeping))
			dn_efd_signal(c->efd);
	}
	pthread_mutex_unlock(&c->mu);
}

static void stream_notify(struct dnl_sock *s)
{
	ms_note(container_of(s, struct ms, s));
}

/* Every context listening on the port hears about a waiting connection;
 * who hears first turns round, so the contexts' threads take turns at
 * waking first and connections spread over them (mTCP's RSS does that in
 * the NIC). */
static void lsh_notify(struct dnl_sock *s)
{
	struct lsh *l = container_of(s, struct lsh, s);
	pthread_mutex_lock(&lst_mu);
	int n = 0;
	for (struct ms *m = l->users; m; m = m->lnext)
		n++;
	int first = n ? (int)(l->turn++ % (unsigned)n) : 0, i = 0;
	for (struct ms *m = l->users; m; m = m->lnext, i++)
		if (i >= first)
			ms_note(m);
	i = 0;
	for (struct ms *m = l->users; m && i < first; m = m->lnext, i++)
		ms_note(m);
	pthread_mutex_unlock(&lst_mu);
}

/* Bytes mtcp_write may add now (SO_SNDBUF caps the ring's fill level). */
static size_t tx_room(struct ms *m)
{
	size_t w = dn_ring_writable(&m->tx);
	if (w == DN_RING_CORRUPT)
		return 0;
	size_t used = dn_ring_used(&m->tx);
	if (used >= m->sndcap)
		return 0;
	size_t cap = m->sndcap - used;
	return w < cap ? w : cap;
}

/* Connect finished?  Moves ST_CONNECTING on (owner thread only). */
static void ms_refresh(struct ms *m)
{
	if (m->state != ST_CONNECTING)
		return;
	int cres = 0, rerr = 0;
	unsigned ev = dnl_sock_ev(&m->s, &cres, &rerr);
	if (dnl_att_dead(m->s.att)) {
		m->state = ST_FAILED;
		m->err = ECONNRESET;
	} else if (ev & DNL_SEV_CONNECTED) {
		/* Before a RST that may follow: the connection was made and
		 * its reset shows on the next read or write. */
		m->state = cres ? ST_FAILED : ST_CONNECTED;
		m->err = cres;
	} else if (ev & DNL_SEV_RESET) {
		m->state = ST_FAILED;
		m->err = rerr ? rerr : ECONNREFUSED;
	} else if ((dn_ring_flags(&m->rx) | dn_ring_flags(&m->tx)) &
		   DN_RING_F_RESET) {
		/* Failed, and the event saying why was lost. */
		m->state = ST_FAILED;
		m->err = ECONNREFUSED;
	}
}

/* Level of a socket now, as epoll events. */
static uint32_t ms_level(struct ms *m)
{
	if (m->kind == K_LISTENER) {
		struct lsh *l = m->lsh;
		if (dnl_att_dead(l->s.att))
			return MTCP_EPOLLERR | MTCP_EPOLLHUP;
		unsigned ev = dnl_sock_ev(&l->s, NULL, NULL);
		if (ev & (DNL_SEV_RESET | DNL_SEV_CLOSED))
			return MTCP_EPOLLIN | MTCP_EPOLLERR | MTCP_EPOLLHUP;
		return (ev & DNL_SEV_ACCEPTABLE) || m->more ? MTCP_EPOLLIN : 0;
	}
	if (!m->have_id)
		return 0;
	ms_refresh(m);
	if (m->state == ST_FAILED)
		return EV_BAD;
	if (m->state == ST_CONNECTING)
		return 0;
	if (dnl_sock_broken(&m->s))
		return EV_BAD;
	uint32_t lv = 0;
	size_t r = dn_ring_readable(&m->rx);
	if (r == DN_RING_CORRUPT)
		return EV_BAD;
	if (r)
		lv |= MTCP_EPOLLIN;
	if (dn_ring_flags(&m->rx) & DN_RING_F_EOF)
		lv |= MTCP_EPOLLIN | MTCP_EPOLLRDHUP;
	if (!(dnl_sock_ev(&m->s, NULL, NULL) & DNL_SEV_CLOSED) && tx_room(m))
		lv |= MTCP_EPOLLOUT;
	return lv;
}

/* ---- configuration ---------------------------------------------------- */

/* Settings of an mTCP config file with no meaning here: each is named on
 * stderr once per process. */
static void note_ignored(const char *key, const char *why)
{
	static char seen[32][40];
	static int nseen;
	for (int i = 0; i < nseen; i++)
		if (strcmp(seen[i], key) == 0)
			return;
	if (nseen < 32)
		snprintf(seen[nseen++], sizeof(seen[0]), "%s", key);
	fprintf(stderr, "libdillnet mtcp: setting \"%s\" ignored: %s\n", key, why);
}

static char *trim(char *s)
{
	while (isspace((unsigned char)*s))
		s++;
	char *e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		*--e = 0;
	return s;
}

static int parse_int(const char *v, int lo, int hi, int *out)
{
	char *end;
	errno = 0;
	long x = strtol(v, &end, 10);
	if (errno || end == v || *trim(end) || x < lo || x > hi)
		return -1;
	*out = (int)x;
	return 0;
}

static int load_config(const char *path, struct mtcp_conf *cf, char *sock,
		       size_t socklen)
{
	FILE *f = fopen(path, "re");
	if (!f)
		return -1;
	char line[512];
	int lineno = 0, rc = 0;
	while (fgets(line, sizeof(line), f)) {
		lineno++;
		char *h = strchr(line, '#');
		if (h)
			*h = 0;
		char *k = trim(line);
		if (!*k)
			continue;
		char *eq = strchr(k, '=');
		if (!eq) {
			fprintf(stderr, "libdillnet mtcp: %s:%d: expected key = value\n",
				path, lineno);
			rc = -1;
			break;
		}
		*eq = 0;
		char *v = trim(eq + 1);
		k = trim(k);
		int bad = 0;
		if (strcmp(k, "num_cores") == 0) {
			bad = parse_int(v, 1, DNL_MTCP_MAX_CTX, &cf->num_cores);
		} else if (strcmp(k, "max_concurrency") == 0) {
			bad = parse_int(v, 1, DNL_MTCP_MAX_CONC, &cf->max_concurrency);
		} else if (strcmp(k, "sndbuf") == 0) {
			bad = parse_int(v, 1, 1 << 30, &cf->sndbuf_size);
		} else if (strcmp(k, "dillnet_socket") == 0) {
			if (strlen(v) >= socklen)
				bad = 1;
			else
				snprintf(sock, socklen, "%s", v);
		} else if (strcmp(k, "rcvbuf") == 0) {
			note_ignored(k, "the receive window is the daemon's ring");
		} else if (strcmp(k, "max_num_buffers") == 0 ||
			   strcmp(k, "tcp_timeout") == 0 ||
			   strcmp(k, "tcp_timewait") == 0) {
			note_ignored(k, "dillnetd's own configuration decides");
		} else {
			note_ignored(k, "no meaning with dillnetd (NIC, queues and "
					"memory belong to the daemon)");
		}
		if (bad) {
			fprintf(stderr, "libdillnet mtcp: %s:%d: bad value for %s\n",
				path, lineno, k);
			rc = -1;
			break;
		}
	}
	fclose(f);
	if (rc < 0)
		errno = EINVAL;
	return rc;
}

DILLNET_EXPORT int mtcp_init(const char *config_file)
{
	pthread_mutex_lock(&G.mu);
	int rc = -1;
	if (G.inited) {
		errno = EEXIST;
		goto out;
	}
	struct mtcp_conf cf = G.conf;
	char sock[108] = "";
	if (config_file && load_config(config_file, &cf, sock, sizeof(sock)) < 0)
		goto out;
	/* What the program chose with mtcp_setconf beats the file. */
	if (!G.prog_set)
		G.conf = cf;
	else
		G.conf.sndbuf_size = cf.sndbuf_size;
	if (G.conf.num_cores <= 0)
		G.conf.num_cores = ncpus();
	/* The config file names the daemon: mtcp_init runs before the
	 * program starts threads, and attach.c reads the environment. */
	if (*sock)
		setenv("DILLNET_SOCKET", sock, 1);
	struct dnl_att *a = dnl_att_get(-1);
	if (!a)
		goto out;
	struct dn_region *r = dnl_att_region(a);
	G.rx_size = r->l.rx_size;
	G.tx_size = r->l.tx_size;
	dnl_att_put(a);
	G.conf.rcvbuf_size = (int)G.rx_size;
	if (G.conf.sndbuf_size <= 0 || (uint32_t)G.conf.sndbuf_size > G.tx_size)
		G.conf.sndbuf_size = (int)G.tx_size;
	G.inited = 1;
	rc = 0;
out:
	pthread_mutex_unlock(&G.mu);
	return rc;
}

DILLNET_EXPORT void mtcp_destroy(void)
{
	for (int i = 0; i < DNL_MTCP_MAX_CTX; i++)
		if (ctxs[i].live)
			mtcp_destroy_context(&ctxs[i].pub);
	pthread_mutex_lock(&G.mu);
	G.inited = 0;
	pthread_mutex_unlock(&G.mu);
}

DILLNET_EXPORT int mtcp_getconf(struct mtcp_conf *conf)
{
	if (!conf) {
		errno = EINVAL;
		return -1;
	}
	pthread_mutex_lock(&G.mu);
	conf_defaults_locked();
	*conf = G.conf;
	pthread_mutex_unlock(&G.mu);
	return 0;
}

DILLNET_EXPORT int mtcp_setconf(const struct mtcp_conf *conf)
{
	if (!conf || conf->num_cores < 1 || conf->num_cores > DNL_MTCP_MAX_CTX ||
	    conf->max_concurrency < 1 || conf->max_concurrency > DNL_MTCP_MAX_CONC ||
	    conf->sndbuf_size < 1) {
		errno = EINVAL;
		return -1;
	}
	pthread_mutex_lock(&G.mu);
	conf_defaults_locked();
	if (conf->rcvbuf_size != G.conf.rcvbuf_size)
		note_ignored("rcvbuf_size", "the receive window is the daemon's ring");
	if (conf->max_num_buffers != G.conf.max_num_buffers ||
	    conf->tcp_timeout != G.conf.tcp_timeout ||
	    conf->tcp_timewait != G.conf.tcp_timewait)
		note_ignored("max_num_buffers/tcp_timeout/tcp_timewait",
			     "dillnetd's own configuration decides");
	int rcv = G.conf.rcvbuf_size;
	G.conf = *conf;
	G.conf.rcvbuf_size = rcv;
	if ((uint32_t)G.conf.sndbuf_size > G.tx_size)
		G.conf.sndbuf_size = (int)G.tx_size;
	G.prog_set = 1;
	pthread_mutex_unlock(&G.mu);
	return 0;
}

DILLNET_EXPORT int mtcp_core_affinitize(int cpu)
{
	if (cpu < 0) {
		errno = EINVAL;
		return -1;
	}
	/* No NIC queue belongs to a core here: pinning only keeps the thread
	 * on one CPU, wrapped onto the CPUs that exist. */
	cpu_set_t set;
	CPU_ZERO(&set);
	CPU_SET(cpu % ncpus(), &set);
	int rc = pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
	if (rc) {
		errno = rc;
		return -1;
	}
	return 0;
}

DILLNET_EXPORT mtcp_sighandler_t mtcp_register_signal(int signum,
						      mtcp_sighandler_t handler)
{
	/* No SA_RESTART: mtcp_epoll_wait must return EINTR so the program's
	 * loop sees the flag its handler set. */
	struct sigaction sa, old;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = handler;
	sigemptyset(&sa.sa_mask);
	if (sigaction(signum, &sa, &old) < 0)
		return SIG_ERR;
	return old.sa_handler;
}

DILLNET_EXPORT mctx_t mtcp_create_context(int cpu)
{
	pthread_mutex_lock(&G.mu);
	struct mctx_i *c = NULL;
	if (!G.inited || cpu < 0 || cpu >= G.conf.num_cores) {
		errno = EINVAL;
		goto out;
	}
	for (int i = 0; i < DNL_MTCP_MAX_CTX; i++)
		if (ctxs[i].live && ctxs[i].pub.cpu == cpu) {
			errno = EEXIST;
			goto out;
		}
	for (int i = 0; i < DNL_MTCP_MAX_CTX && !c; i++)
		if (!ctxs[i].live)
			c = &ctxs[i];
	if (!c) {
		errno = ENOMEM;
		goto out;
	}
	memset(c, 0, sizeof(*c));
	c->tab = calloc((size_t)G.conf.max_concurrency, sizeof(c->tab[0]));
	c->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (!c->tab || c->efd < 0) {
		int err = c->efd < 0 ? errno : ENOMEM;
		free(c->tab);
		if (c->efd >= 0)
			close(c->efd);
		c = NULL;
		errno = err;
		goto out;
	}
	c->ntab = G.conf.max_concurrency;
	for (int i = 0; i < c->ntab; i++)
		c->tab[i].next_free = i + 1 < c->ntab ? i + 1 : -1;
	c->free_head = 0;   /* max_concurrency >= 1 */
	c->free_tail = c->ntab - 1;
	c->pub.cpu = cpu;
	pthread_mutex_init(&c->mu, NULL);
	c->live = 1;
out:
	pthread_mutex_unlock(&G.mu);
	return c ? &c->pub : NULL;
}

static int close_id(struct mctx_i *c, int id, int abort);

DILLNET_EXPORT void mtcp_destroy_context(mctx_t mctx)
{
	struct mctx_i *c = ctx_of(mctx);
	if (!c)
		return;
	for (int i = 0; i < c->ntab; i++)
		if (c->tab[i].kind != K_FREE)
			close_id(c, i, 0);
	pthread_mutex_lock(&G.mu);
	c->live = 0;
	free(c->tab);
	c->tab = NULL;
	c->ntab = 0;
	close(c->efd);
	pthread_mutex_destroy(&c->mu);
	pthread_mutex_unlock(&G.mu);
}

/* ---- sockets --------------------------------------------------------------- */

/* A new stream socket in state ST_NEW with its id; NULL with errno. */
static struct ms *ms_new(struct mctx_i *c, uint32_t sndcap)
{
	struct ms *m = calloc(1, sizeof(*m));
	if (!m) {
		errno = ENOMEM;
		return NULL;
	}
	m->ctx = c;
	m->kind = K_STREAM;
	m->state = ST_NEW;
	m->sndcap = sndcap;
	int id = id_alloc(c, K_STREAM, m);
	if (id < 0) {
		free(m);
		return NULL;
	}
	m->id = id;
	return m;
}

DILLNET_EXPORT int mtcp_socket(mctx_t mctx, int domain, int type, int protocol)
{
	struct mctx_i *c = ctx_of(mctx);
	if (!c)
		return -1;
	if (domain != AF_INET) {
		errno = EAFNOSUPPORT;
		return -1;
	}
	if ((type & ~SOCK_NONBLOCK) != SOCK_STREAM ||
	    (protocol != 0 && protocol != IPPROTO_TCP)) {
		errno = EINVAL;
		return -1;
	}
	pthread_mutex_lock(&G.mu);
	uint32_t sndcap = (uint32_t)G.conf.sndbuf_size;
	pthread_mutex_unlock(&G.mu);
	struct ms *m = ms_new(c, sndcap);
	if (!m)
		return -1;
	m->nonblock = (type & SOCK_NONBLOCK) != 0;
	return m->id;
}

static int sin_get(const struct sockaddr *addr, socklen_t addrlen,
		   uint32_t *ip, uint16_t *port, int lenerr)
{
	if (addrlen != sizeof(struct sockaddr_in)) {
		errno = lenerr;
		return -1;
	}
	struct sockaddr_in sin;
	memcpy(&sin, addr, sizeof(sin));
	if (sin.sin_family != AF_INET) {
		errno = EAFNOSUPPORT;
		return -1;
	}
	*ip = ntohl(sin.sin_addr.s_addr);
	*port = ntohs(sin.sin_port);
	return 0;
}

static int sin_put(struct sockaddr *addr, socklen_t *addrlen, uint32_t ip,
		   uint16_t port)
{
	if (!addr || !addrlen) {
		errno = EINVAL;
		return -1;
	}
	struct sockaddr_in sin;
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(ip);
	sin.sin_port = htons(port);
	/* As getsockname(2): truncate to the caller's size, say the real one. */
	size_t n = *addrlen < sizeof(sin) ? *addrlen : sizeof(sin);
	memcpy(addr, &sin, n);
	*addrlen = sizeof(sin);
	return 0;
}

/* The daemon's TCP_BIND check for ip:port; 0, or -1 with errno. */
static int bind_ask(uint32_t ip, uint16_t port)
{
	struct dnl_att *a = dnl_att_get(-1);
	if (!a)
		return -1;
	struct dn_tcp_bind_req rq = { .ip4 = ip, .port = port };
	int r = dnl_att_request(a, DN_MSG_TCP_BIND, &rq, sizeof(rq), NULL, 0, NULL,
				NULL, ctl_deadline());
	int err = errno;
	dnl_att_put(a);
	errno = err;
	return r;
}

DILLNET_EXPORT int mtcp_bind(mctx_t mctx, int sockid, const struct sockaddr *addr,
			     socklen_t addrlen)
{
	struct mctx_i *c = ctx_of(mctx);
	if (!c)
		return -1;
	struct ms *m = id_get(c, sockid, K_STREAM, NULL);
	if (!m)
		return -1;
	if (!addr || m->state != ST_NEW || m->bound) {
		errno = EINVAL;
		return -1;
	}
	uint32_t ip;
	uint16_t port;
	if (sin_get(addr, addrlen, &ip, &port, EINVAL) < 0)
		return -1;
	/* As bind(2), a port the daemon's policy refuses (EACCES) or an
	 * address not the daemon's (EADDRNOTAVAIL) fails here, where mTCP
	 * programs look, and the daemon logs the refusal.  The port is not
	 * reserved: mtcp_listen claims it. */
	if ((ip || port) && bind_ask(ip, port) < 0)
		return -1;
	m->lip = ip;
	m->lport = port;
	m->bound = 1;
	return 0;
}

static void lsh_put(struct lsh *l)
{
	pthread_mutex_lock(&lst_mu);
	int last = --l->refs == 0;
	if (last)
		for (struct lsh **p = &lst_list; *p; p = &(*p)->next)
			if (*p == l) {
				*p = l->next;
				break;
			}
	pthread_mutex_unlock(&lst_mu);
	if (!last)
		return;
	if (l->s.att && l->s.registered) {
		struct dn_tcp_sock_req rq = { l->s.id, DN_CLOSE_GRACEFUL };
		dnl_att_request_async(l->s.att, DN_MSG_TCP_CLOSE, &rq, sizeof(rq));
	}
	dnl_sock_fini(&l->s);
	free(l);
}

static struct lsh *lsh_get_locked(uint32_t ip, uint16_t port, int backlog);

/* The process's daemon listener for ip:port, made if needed.  A listener
 * whose attachment died is not reused (the daemon behind it is gone). */
static struct lsh *lsh_get(uint32_t ip, uint16_t port, int backlog)
{
	/* One creation at a time, the request included: two contexts that
	 * listen on the same port at once must not both ask the daemon (the
	 * second would get EADDRINUSE).  lst_mu itself cannot be held over a
	 * request: the pump takes it to notify. */
	static pthread_mutex_t make_mu = PTHREAD_MUTEX_INITIALIZER;
	pthread_mutex_lock(&make_mu);
	struct lsh *l = lsh_get_locked(ip, port, backlog);
	pthread_mutex_unlock(&make_mu);
	return l;
}

static struct lsh *lsh_get_locked(uint32_t ip, uint16_t port, int backlog)
{
	pthread_mutex_lock(&lst_mu);
	for (struct lsh *l = lst_list; port && l; l = l->next)
		if (l->ip == ip && l->port == port && !dnl_att_dead(l->s.att)) {
			l->refs++;
			pthread_mutex_unlock(&lst_mu);
			return l;
		}
	pthread_mutex_unlock(&lst_mu);
	struct lsh *l = calloc(1, sizeof(*l));
	if (!l) {
		errno = ENOMEM;
		return NULL;
	}
	struct dnl_att *a = dnl_att_get(-1);
	if (!a) {
		free(l);
		return NULL;
	}
	dnl_sock_init(&l->s, a, NULL);
	dnl_att_put(a);
	l->s.notify = lsh_notify;
	struct dn_tcp_listen_req rq = { .ip4 = ip, .port = port,
					.backlog = backlog < 0 ? 0 : (uint32_t)backlog };
	struct dn_tcp_sock_rep rep;
	if (dnl_att_request(a, DN_MSG_TCP_LISTEN, &rq, sizeof(rq), &rep,
			    sizeof(rep), &l->s, NULL, ctl_deadline()) < 0) {
		int err = errno;
		dnl_sock_fini(&l->s);
		free(l);
		errno = err;
		return NULL;
	}
	l->ip = ip;
	l->port = port;
	l->lport = rep.local_port;
	l->refs = 1;
	pthread_mutex_lock(&lst_mu);
	l->next = lst_list;
	lst_list = l;
	pthread_mutex_unlock(&lst_mu);
	return l;
}

DILLNET_EXPORT int mtcp_listen(mctx_t mctx, int sockid, int backlog)
{
	struct mctx_i *c = ctx_of(mctx);
	if (!c)
		return -1;
	int kind;
	struct ms *m = id_get(c, sockid, -1, &kind);
	if (!m)
		return -1;
	if (kind == K_LISTENER)
		return 0;   /* as listen(2): listening again is fine */
	if (m->state != ST_NEW) {
		errno = EINVAL;
		return -1;
	}
	struct lsh *l = lsh_get(m->lip, m->lport, backlog);
	if (!l)
		return -1;
	m->lsh = l;
	m->kind = K_LISTENER;
	m->lport = l->lport;
	c->tab[sockid].kind = K_LISTENER;
	pthread_mutex_lock(&lst_mu);
	m->lnext = l->users;
	l->users = m;
	pthread_mutex_unlock(&lst_mu);
	return 0;
}

/* Give s its slot rings and make it an event-driven mtcp stream. */
static int ms_rings(struct ms *m, uint32_t slot)
{
	if (dn_region_slot_rings(dnl_att_region(m->s.att), slot, &m->rx,
				 &m->tx) != 0) {
		errno = EPROTO;
		return -1;
	}
	if (m->sndcap > m->tx.size)
		m->sndcap = m->tx.size;
	dnl_sock_set_rings(&m->s, &m->rx, &m->tx);
	return 0;
}

static void ms_sock_init(struct ms *m, struct dnl_att *a)
{
	dnl_sock_init(&m->s, a, NULL);
	m->s.notify = stream_notify;
	m->s.arm = 1;
	m->inited = 1;
}

/* Drop the daemon side of a stream (close: graceful unless abort). */
static void ms_release(struct ms *m, int abort)
{
	if (!m->inited)
		return;
	if (m->have_id && !dnl_att_dead(m->s.att)) {
		struct dn_tcp_sock_req rq = { m->s.id, abort ? DN_CLOSE_ABORT
							     : DN_CLOSE_GRACEFUL };
		dnl_att_request_async(m->s.att, DN_MSG_TCP_CLOSE, &rq, sizeof(rq));
	}
	dnl_sock_fini(&m->s);
	m->inited = 0;
	m->have_id = 0;
}

static int acceptable(void *arg)
{
	struct lsh *l = arg;
	return (l->s.ev & (DNL_SEV_ACCEPTABLE | DNL_SEV_RESET | DNL_SEV_CLOSED)) != 0;
}

DILLNET_EXPORT int mtcp_accept(mctx_t mctx, int sockid, struct sockaddr *addr,
			       socklen_t *addrlen)
{
	struct mctx_i *c = ctx_of(mctx);
	if (!c)
		return -1;
	int kind;
	struct ms *lm = id_get(c, sockid, -1, &kind);
	if (!lm)
		return -1;
	if (kind != K_LISTENER) {
		errno = EINVAL;   /* accept(2): not listening */
		return -1;
	}
	if (addr && !addrlen) {
		errno = EINVAL;
		return -1;
	}
	struct lsh *l = lm->lsh;
	if (dnl_att_dead(l->s.att)) {
		errno = ECONNRESET;
		return -1;
	}
	struct ms *m = ms_new(c, lm->sndcap);
	if (!m)
		return -1;
	int id = m->id;
	ms_sock_init(m, l->s.att);
	struct dn_tcp_sock_req rq = { l->s.id, 0 };
	struct dn_tcp_sock_rep rep;
	for (;;) {
		/* Cleared before asking: an EVT_ACCEPTABLE racing the EAGAIN
		 * reply sets it again. */
		dnl_sock_ev_clear(&l->s, DNL_SEV_ACCEPTABLE);
		if (dnl_att_request(l->s.att, DN_MSG_TCP_ACCEPT, &rq, sizeof(rq),
				    &rep, sizeof(rep), &m->s, NULL,
				    ctl_deadline()) == 0)
			break;
		if (errno != EAGAIN)
			goto fail;
		lm->more = 0;
		if (lm->nonblock)
			goto fail;
		if (dnl_sock_wait(&l->s, NULL, DNL_W_NONE, acceptable, l, -1) < 0)
			goto fail;
		int rerr = 0;
		if (dnl_sock_ev(&l->s, NULL, &rerr) & (DNL_SEV_RESET | DNL_SEV_CLOSED)) {
			errno = rerr ? rerr : ECONNRESET;
			goto fail;
		}
	}
	/* More may wait: level-triggered epoll reports the listener until an
	 * accept says EAGAIN. */
	lm->more = 1;
	m->have_id = 1;
	m->state = ST_CONNECTED;
	m->nodelay = lm->nodelay;
	if (m->nodelay)
		(void)send_nodelay(m);
	m->lip = rep.local_ip4;
	m->lport = rep.local_port;
	m->pip = rep.peer_ip4;
	m->pport = rep.peer_port;
	if (ms_rings(m, rep.slot) < 0) {
		ms_release(m, 1);
		goto fail_nosock;
	}
	if (addr)
		sin_put(addr, addrlen, m->pip, m->pport);
	return id;
fail:
	ms_release(m, 1);
fail_nosock:;
	int err = errno;
	id_unget(c, id);
	free(m);
	errno = err;
	return -1;
}

static int conn_wait_ready(void *arg)
{
	return dnl_connect_ready(&((struct ms *)arg)->s);
}

/* Errors of the daemon's set-up that mean "out of resources" are ENOMEM
 * for mtcp_connect, which has no EMFILE. */
static int connect_errno(int e)
{
	return e == EMFILE || e == ENFILE || e == ENOBUFS ? ENOMEM : e;
}

DILLNET_EXPORT int mtcp_connect(mctx_t mctx, int sockid,
				const struct sockaddr *addr, socklen_t addrlen)
{
	struct mctx_i *c = ctx_of(mctx);
	if (!c)
		return -1;
	struct ms *m = id_get(c, sockid, K_STREAM, NULL);
	if (!m)
		return -1;
	if (!addr) {
		errno = EFAULT;
		return -1;
	}
	uint32_t ip;
	uint16_t port;
	if (sin_get(addr, addrlen, &ip, &port, EAFNOSUPPORT) < 0)
		return -1;
	ms_refresh(m);
	if (m->state == ST_CONNECTING) {
		errno = EALREADY;
		return -1;
	}
	if (m->state == ST_CONNECTED) {
		errno = EISCONN;
		return -1;
	}
	if (m->state == ST_FAILED) {
		/* A new attempt on a socket whose last one failed. */
		ms_release(m, 1);
		m->state = ST_NEW;
		m->err = m->err_told = 0;
	}
	/* The daemon picks the local end: a socket bound to a given port
	 * or address cannot have it. */
	if ((m->bound && (m->lport || m->lip)) || ip == 0 || port == 0) {
		errno = EINVAL;
		return -1;
	}
	struct dnl_att *a = dnl_att_get(-1);
	if (!a)
		return -1;
	ms_sock_init(m, a);
	dnl_att_put(a);
	struct dn_tcp_connect_req rq = { .ip4 = ip, .port = port };
	struct dn_tcp_sock_rep rep;
	if (dnl_att_request(a, DN_MSG_TCP_CONNECT, &rq, sizeof(rq), &rep,
			    sizeof(rep), &m->s, NULL, ctl_deadline()) < 0) {
		int err = connect_errno(errno);
		ms_release(m, 1);
		errno = err;
		return -1;
	}
	m->have_id = 1;
	m->lip = rep.local_ip4;
	m->lport = rep.local_port;
	m->pip = ip;
	m->pport = port;
	m->state = ST_CONNECTING;
	/* The SYN is queued already; Nagle only matters for data, which
	 * cannot be sent before this request is answered. */
	if (m->nodelay)
		(void)send_nodelay(m);
	if (ms_rings(m, rep.slot) < 0) {
		int err = errno;
		ms_release(m, 1);
		m->state = ST_NEW;
		errno = err;
		return -1;
	}
	if (m->nonblock) {
		errno = EINPROGRESS;
		return -1;
	}
	if (dnl_sock_wait(&m->s, NULL, DNL_W_NONE, conn_wait_ready, m, -1) < 0) {
		m->state = ST_FAILED;
		m->err = errno;
		m->err_told = 1;
		return -1;
	}
	ms_refresh(m);
	if (m->state == ST_CONNECTING) {
		/* Woken by a reset flag without a verdict. */
		m->state = ST_FAILED;
		m->err = ECONNREFUSED;
	}
	if (m->state == ST_FAILED) {
		m->err_told = 1;
		errno = m->err;
		return -1;
	}
	return 0;
}

static int close_id(struct mctx_i *c, int id, int abort)
{
	int kind = c->tab[id].kind;
	void *p = c->tab[id].p;
	if (kind == K_EPOLL) {
		struct ep *e = p;
		pthread_mutex_lock(&c->mu);
		for (int i = 0; i < c->ntab; i++) {
			int k = c->tab[i].kind;
			if (k != K_STREAM && k != K_LISTENER)
				continue;
			struct ms *m = c->tab[i].p;
			if (m->ep == e) {
				ep_dequeue_locked(m);
				m->ep = NULL;
			}
		}
		pthread_mutex_unlock(&c->mu);
		free(e);
		id_free(c, id);
		return 0;
	}
	struct ms *m = p;
	if (kind == K_LISTENER) {
		pthread_mutex_lock(&lst_mu);
		for (struct ms **q = &m->lsh->users; *q; q = &(*q)->lnext)
			if (*q == m) {
				*q = m->lnext;
				break;
			}
		pthread_mutex_unlock(&lst_mu);
		lsh_put(m->lsh);
	} else {
		/* A connect still pending is abandoned with a RST. */
		ms_release(m, abort || m->state != ST_CONNECTED);
	}
	/* No notify can come any more: drop the epoll registration. */
	pthread_mutex_lock(&c->mu);
	ep_dequeue_locked(m);
	m->ep = NULL;
	pthread_mutex_unlock(&c->mu);
	id_free(c, id);
	free(m);
	return 0;
}

DILLNET_EXPORT int mtcp_close(mctx_t mctx, int sockid)
{
	struct mctx_i *c = ctx_of(mctx);
	if (!c)
		return -1;
	if (!id_get(c, sockid, K_EPOLL, NULL) && errno == EBADF)
		return -1;
	return close_id(c, sockid, 0);
}

DILLNET_EXPORT int mtcp_abort(mctx_t mctx, int sockid)
{
	struct mctx_i *c = ctx_of(mctx);
	if (!c)
		return -1;
	if (!id_get(c, sockid, -1, NULL))
		return -1;
	return close_id(c, sockid, 1);
}

DILLNET_EXPORT int mtcp_init_rss(mctx_t mctx, in_addr_t saddr_base,
				 int num_addr, in_addr_t daddr, in_addr_t dport)
{
	/* With mTCP this reserves source ports whose RSS hash brings the
	 * replies to this core's NIC queue.  dillnetd picks every local port
	 * itself and runs one receive path, so there is nothing to reserve:
	 * the arguments are checked and kept nowhere. */
	(void)saddr_base, (void)daddr, (void)dport;
	if (!ctx_of(mctx))
		return -1;
	if (num_addr < 1) {
		errno = EINVAL;
		return -1;
	}
	return 0;
}

/* ---- options ------------------------------------------------------------ */

DILLNET_EXPORT int mtcp_setsock_nonblock(mctx_t mctx, int sockid)
{
	struct mctx_i *c = ctx_of(mctx);
	if (!c)
		return -1;
	struct ms *m = id_get(c, sockid, -1, NULL);
	if (!m)
		return -1;
	m->nonblock = 1;
	return 0;
}

static int opt_int(const void *v, socklen_t len, int *out)
{
	if (!v || len < sizeof(int)) {
		errno = EINVAL;
		return -1;
	}
	memcpy(out, v, sizeof(int));
	return 0;
}

DILLNET_EXPORT int mtcp_getsockopt(mctx_t mctx, int sockid, int level,
				   int optname, void *optval, socklen_t *optlen)
{
	struct mctx_i *c = ctx_of(mctx);
	if (!c)
		return -1;
	struct ms *m = id_get(c, sockid, -1, NULL);
	if (!m)
		return -1;
	if (!optval || !optlen || *optlen < sizeof(int)) {
		errno = EINVAL;
		return -1;
	}
	int v;
	if (level == SOL_SOCKET && optname == SO_ERROR) {
		v = 0;
		if (m->kind == K_STREAM && m->have_id) {
			ms_refresh(m);
			if (m->state == ST_FAILED && !m->err_told) {
				v = m->err;
				m->err_told = 1;
			} else if (m->state == ST_CONNECTED && !m->err_told &&
				   (v = dnl_sock_broken(&m->s)) != 0) {
				m->err_told = 1;
			}
		}
	} else if (level == SOL_SOCKET && optname == SO_TYPE) {
		v = SOCK_STREAM;
	} else if (level == SOL_SOCKET && optname == SO_REUSEADDR) {
		v = 1;
	} else if (level == SOL_SOCKET && optname == SO_RCVBUF) {
		v = (int)G.rx_size;
	} else if (level == SOL_SOCKET && optname == SO_SNDBUF) {
		v = (int)m->sndcap;
	} else if (level == IPPROTO_TCP && optname == TCP_NODELAY) {
		v = m->nodelay;
	} else {
		errno = ENOPROTOOPT;
		return -1;
	}
	memcpy(optval, &v, sizeof(v));
	*optlen = sizeof(v);
	return 0;
}

/* Tell the daemon the socket's TCP_NODELAY. */
static int send_nodelay(struct ms *m)
{
	struct dn_tcp_setopt_req rq = { .sock = m->s.id, .opt = DN_TCPOPT_NODELAY,
					.value = (uint32_t)m->nodelay };
	return dnl_att_request(m->s.att, DN_MSG_TCP_SETOPT, &rq, sizeof(rq), NULL, 0,
			       NULL, NULL, ctl_deadline());
}

DILLNET_EXPORT int mtcp_setsockopt(mctx_t mctx, int sockid, int level,
				   int optname, const void *optval,
				   socklen_t optlen)
{
	struct mctx_i *c = ctx_of(mctx);
	if (!c)
		return -1;
	struct ms *m = id_get(c, sockid, -1, NULL);
	if (!m)
		return -1;
	int v;
	if (opt_int(optval, optlen, &v) < 0)
		return -1;
	if (level == SOL_SOCKET && optname == SO_REUSEADDR) {
		/* dillnetd never lets connections in TIME_WAIT block a new
		 * listener, which is what SO_REUSEADDR asks; it cannot be
		 * made stricter. */
		if (!v) {
			errno = ENOPROTOOPT;
			return -1;
		}
		return 0;
	}
	if (level == IPPROTO_TCP && optname == TCP_NODELAY) {
		/* Nagle runs in the daemon: the setting travels as TCP_SETOPT
		 * now if the daemon has the socket, else once it has.  On a
		 * listener it is kept for the connections it accepts, as
		 * accepted sockets inherit it from the listener on Linux. */
		m->nodelay = v != 0;
		return m->kind == K_STREAM && m->have_id ? send_nodelay(m) : 0;
	}
	if (level == SOL_SOCKET && optname == SO_SNDBUF) {
		/* Honoured by capping what mtcp_write puts in the tx ring. */
		if (v < 1 || (uint32_t)v > G.tx_size) {
			errno = EINVAL;
			return -1;
		}
		m->sndcap = (uint32_t)v;
		return 0;
	}
	if (level == SOL_SOCKET && optname == SO_RCVBUF) {
		/* The window follows the daemon's ring: only its size is true. */
		if ((uint32_t)v != G.rx_size) {
			errno = EINVAL;
			return -1;
		}
		return 0;
	}
	errno = ENOPROTOOPT;
	return -1;
}

/* A stream usable for data: NEW is ENOTCONN, a failed connect its error. */
static struct ms *data_sock(struct mctx_i *c, int id)
{
	int kind;
	struct ms *m = id_get(c, id, -1, &kind);
	if (!m)
		return NULL;
	if (kind != K_STREAM) {
		errno = ENOTSOCK;
		return NULL;
	}
	ms_refresh(m);
	if (m->state == ST_NEW) {
		errno = ENOTCONN;
		return NULL;
	}
	if (m->state == ST_FAILED) {
		errno = m->err ? m->err : ECONNRESET;
		return NULL;
	}
	return m;
}

DILLNET_EXPORT int mtcp_socket_ioctl(mctx_t mctx, int sockid, int request,
				     void *argp)
{
	struct mctx_i *c = ctx_of(mctx);
	if (!c)
		return -1;
	struct ms *m = data_sock(c, sockid);
	if (!m)
		return -1;
	if (request != FIONREAD || !argp) {
		errno = EINVAL;
		return -1;
	}
	size_t n = m->state == ST_CONNECTED ? dn_ring_readable(&m->rx) : 0;
	if (n == DN_RING_CORRUPT) {
		errno = ECONNRESET;
		return -1;
	}
	int v = n > 0x7fffffff ? 0x7fffffff : (int)n;
	memcpy(argp, &v, sizeof(v));
	return 0;
}

DILLNET_EXPORT int mtcp_getsockname(mctx_t mctx, int sockid,
				    struct sockaddr *addr, socklen_t *addrlen)
{
	struct mctx_i *c = ctx_of(mctx);
	if (!c)
		return -1;
	struct ms *m = id_get(c, sockid, -1, NULL);
	if (!m)
		return -1;
	return sin_put(addr, addrlen, m->lip, m->lport);
}

DILLNET_EXPORT int mtcp_getpeername(mctx_t mctx, int sockid,
				    struct sockaddr *addr, socklen_t *addrlen)
{
	struct mctx_i *c = ctx_of(mctx);
	if (!c)
		return -1;
	struct ms *m = id_get(c, sockid, -1, NULL);
	if (!m)
		return -1;
	ms_refresh(m);
	if (m->kind != K_STREAM || m->state != ST_CONNECTED) {
		errno = ENOTCONN;
		return -1;
	}
	return sin_put(addr, addrlen, m->pip, m->pport);
}

/* ---- data ------------------------------------------------------------------ */

static int iov_check(const struct iovec *iov, int cnt)
{
	if (cnt < 0 || cnt > IOV_MAX || (cnt && !iov)) {
		errno = EINVAL;
		return -1;
	}
	return 0;
}

static int rx_wait_ready(void *arg)
{
	return dnl_rx_ready(&((struct ms *)arg)->s);
}

static int tx_wait_ready(void *arg)
{
	struct ms *m = arg;
	/* dnl_tx_ready's conditions, with SO_SNDBUF's cap on the room. */
	return tx_room(m) != 0 ||
	       (dnl_tx_ready(&m->s) && dn_ring_writable(&m->tx) == 0);
}

/* Wait (blocking sockets) until a connect in progress has its verdict;
 * 0 when connected. */
static int wait_connected(struct ms *m)
{
	if (m->state != ST_CONNECTING)
		return 0;
	if (m->nonblock) {
		errno = EAGAIN;
		return -1;
	}
	if (dnl_sock_wait(&m->s, NULL, DNL_W_NONE, conn_wait_ready, m, -1) < 0)
		return -1;
	ms_refresh(m);
	if (m->state == ST_CONNECTING) {
		m->state = ST_FAILED;
		m->err = ECONNREFUSED;
	}
	if (m->state == ST_FAILED) {
		errno = m->err;
		return -1;
	}
	return 0;
}

static ssize_t do_recv(struct mctx_i *c, int sockid, const struct iovec *iov,
		       int cnt, int peek)
{
	struct ms *m = data_sock(c, sockid);
	if (!m)
		return -1;
	if (wait_connected(m) < 0)
		return -1;
	size_t want = 0;
	for (int i = 0; i < cnt; i++)
		want += iov[i].iov_len;
	for (;;) {
		int e = dnl_sock_broken(&m->s);
		if (e) {
			errno = e;
			return -1;
		}
		size_t avail = dn_ring_readable(&m->rx);
		if (avail == DN_RING_CORRUPT) {
			errno = ECONNRESET;
			return -1;
		}
		if (avail && want) {
			size_t got = 0;
			int rxcmd = 0;
			for (int i = 0; i < cnt && got < avail; i++) {
				size_t n = iov[i].iov_len;
				if (n > avail - got)
					n = avail - got;
				if (!n)
					continue;
				if (peek) {
					dn_ring_peek_at(&m->rx, got, iov[i].iov_base, n);
				} else if (dnl_rx_take(&m->s, iov[i].iov_base, n,
						       &rxcmd) != (ssize_t)n) {
					errno = ECONNRESET;
					return -1;
				}
				got += n;
			}
			if (rxcmd)
				dnl_att_cmd(m->s.att, DN_CMD_RX, m->s.id);
			return (ssize_t)got;
		}
		if (!want)
			return 0;
		/* EOF counts once the ring is empty (the flag follows the
		 * last byte's publication). */
		if (dn_ring_flags(&m->rx) & DN_RING_F_EOF) {
			if (dn_ring_readable(&m->rx) != 0)
				continue;
			dnl_debug("mtcp socket %d (daemon %u): end of stream, rx flags %#x, "
				  "events %#x", m->id, m->s.id, dn_ring_flags(&m->rx),
				  dnl_sock_ev(&m->s, NULL, NULL));
			return 0;
		}
		if (m->nonblock) {
			errno = EAGAIN;
			return -1;
		}
		if (dnl_sock_wait(&m->s, &m->rx, DNL_W_CONS, rx_wait_ready, m, -1) < 0)
			return -1;
	}
}

DILLNET_EXPORT ssize_t mtcp_read(mctx_t mctx, int sockid, char *buf, size_t len)
{
	struct mctx_i *c = ctx_of(mctx);
	if (!c)
		return -1;
	if (!buf && len) {
		errno = EINVAL;
		return -1;
	}
	struct iovec v = { buf, len };
	return do_recv(c, sockid, &v, 1, 0);
}

DILLNET_EXPORT ssize_t mtcp_recv(mctx_t mctx, int sockid, char *buf, size_t len,
				 int flags)
{
	struct mctx_i *c = ctx_of(mctx);
	if (!c)
		return -1;
	if ((flags & ~MSG_PEEK) || (!buf && len)) {
		errno = EINVAL;
		return -1;
	}
	struct iovec v = { buf, len };
	return do_recv(c, sockid, &v, 1, flags == MSG_PEEK);
}

DILLNET_EXPORT int mtcp_readv(mctx_t mctx, int sockid, const struct iovec *iov,
			      int numIOV)
{
	struct mctx_i *c = ctx_of(mctx);
	if (!c)
		return -1;
	if (iov_check(iov, numIOV) < 0)
		return -1;
	ssize_t n = do_recv(c, sockid, iov, numIOV, 0);
	return n > 0x7fffffff ? 0x7fffffff : (int)n;
}

static ssize_t do_send(struct mctx_i *c, int sockid, const struct iovec *iov,
		       int cnt)
{
	struct ms *m = data_sock(c, sockid);
	if (!m)
		return -1;
	if (wait_connected(m) < 0)
		return -1;
	size_t total = 0, want = 0;
	for (int i = 0; i < cnt; i++)
		want += iov[i].iov_len;
	int kick = 0, vi = 0;
	size_t voff = 0;
	ssize_t rc;
	for (;;) {
		int e = dnl_sock_broken(&m->s);
		if (!e && (dnl_sock_ev(&m->s, NULL, NULL) & DNL_SEV_CLOSED))
			e = EPIPE;   /* the daemon let go: nobody takes bytes */
		if (e) {
			errno = e;
			rc = total ? (ssize_t)total : -1;
			break;
		}
		size_t room = tx_room(m);
		if (room < want - total && dnl_tx_grow(&m->tx, want - total, m->sndcap))
			room = tx_room(m);
		while (room && vi < cnt) {
			size_t n = iov[vi].iov_len - voff;
			if (n > room)
				n = room;
			size_t w = n ? dn_ring_write(&m->tx,
						     (const char *)iov[vi].iov_base + voff, n)
				     : 0;
			if (w == DN_RING_CORRUPT) {
				errno = ECONNRESET;
				rc = total ? (ssize_t)total : -1;
				goto out;
			}
			total += w;
			room -= w;
			voff += w;
			kick |= w != 0;
			if (voff == iov[vi].iov_len) {
				vi++;
				voff = 0;
			} else if (w < n) {
				break;
			}
		}
		if (total == want) {
			rc = (ssize_t)total;
			break;
		}
		if (m->nonblock) {
			if (total) {
				rc = (ssize_t)total;
			} else {
				errno = EAGAIN;
				rc = -1;
			}
			break;
		}
		/* Full: tell the daemon what is there, then sleep for room. */
		if (kick) {
			dnl_att_cmd(m->s.att, DN_CMD_TX, m->s.id);
			kick = 0;
		}
		if (dnl_sock_wait(&m->s, &m->tx, DNL_W_PROD, tx_wait_ready, m, -1) < 0) {
			rc = total ? (ssize_t)total : -1;
			break;
		}
	}
out:
	if (kick) {
		int err = errno;
		dnl_att_cmd(m->s.att, DN_CMD_TX, m->s.id);
		errno = err;
	}
	return rc;
}

DILLNET_EXPORT ssize_t mtcp_write(mctx_t mctx, int sockid, const char *buf,
				  size_t len)
{
	struct mctx_i *c = ctx_of(mctx);
	if (!c)
		return -1;
	if (!buf && len) {
		errno = EINVAL;
		return -1;
	}
	struct iovec v = { (void *)buf, len };
	return do_send(c, sockid, &v, 1);
}

DILLNET_EXPORT int mtcp_writev(mctx_t mctx, int sockid, const struct iovec *iov,
			       int numIOV)
{
	struct mctx_i *c = ctx_of(mctx);
	if (!c)
		return -1;
	if (iov_check(iov, numIOV) < 0)
		return -1;
	ssize_t n = do_send(c, sockid, iov, numIOV);
	return n > 0x7fffffff ? 0x7fffffff : (int)n;
}

/* ---- epoll ------------------------------------------------------------------ */

DILLNET_EXPORT int mtcp_epoll_create(mctx_t mctx, int size)
{
	struct mctx_i *c = ctx_of(mctx);
	if (!c)
		return -1;
	if (size <= 0) {
		errno = EINVAL;
		return -1;
	}
	struct ep *e = calloc(1, sizeof(*e));
	if (!e) {
		errno = ENOMEM;
		return -1;
	}
	int id = id_alloc(c, K_EPOLL, e);
	if (id < 0) {
		free(e);
		return -1;
	}
	e->id = id;
	return id;
}

DILLNET_EXPORT int mtcp_epoll_create1(mctx_t mctx, int flags)
{
	if (flags & ~O_CLOEXEC) {
		if (ctx_of(mctx))
			errno = EINVAL;
		return -1;
	}
	return mtcp_epoll_create(mctx, 1);
}

DILLNET_EXPORT int mtcp_epoll_ctl(mctx_t mctx, int epid, int op, int sockid,
				  struct mtcp_epoll_event *event)
{
	struct mctx_i *c = ctx_of(mctx);
	if (!c)
		return -1;
	struct ep *e = id_get(c, epid, K_EPOLL, NULL);
	if (!e) {
		if (errno == ENOTSOCK)
			errno = EINVAL;   /* epoll_ctl(2): not an epoll */
		return -1;
	}
	int kind;
	struct ms *m = id_get(c, sockid, -1, &kind);
	if (!m) {
		if (errno == ENOTSOCK)
			errno = EINVAL;   /* no nesting of epoll instances */
		return -1;
	}
	if ((op == MTCP_EPOLL_CTL_ADD || op == MTCP_EPOLL_CTL_MOD) && !event) {
		errno = EFAULT;
		return -1;
	}
	int rc = 0;
	pthread_mutex_lock(&c->mu);
	switch (op) {
	case MTCP_EPOLL_CTL_ADD:
		if (m->ep) {
			errno = EEXIST;
			rc = -1;
			break;
		}
		m->ep = e;
		m->ep_events = event->events;
		m->ep_data = event->data;
		m->ep_off = 0;
		ep_enqueue_locked(m);   /* report what is ready already */
		break;
	case MTCP_EPOLL_CTL_MOD:
		if (m->ep != e) {
			errno = ENOENT;
			rc = -1;
			break;
		}
		m->ep_events = event->events;
		m->ep_data = event->data;
		m->ep_off = 0;
		ep_enqueue_locked(m);
		break;
	case MTCP_EPOLL_CTL_DEL:
		if (m->ep != e) {
			errno = ENOENT;
			rc = -1;
			break;
		}
		ep_dequeue_locked(m);
		m->ep = NULL;
		break;
	default:
		errno = EINVAL;
		rc = -1;
	}
	pthread_mutex_unlock(&c->mu);
	return rc;
}

/* Report what the queued sockets have now (context mutex held). */
static int ep_harvest_locked(struct ep *e, struct mtcp_epoll_event *out, int max)
{
	int n = 0, len = e->nq;
	for (int i = 0; i < len && n < max && e->head; i++) {
		struct ms *m = e->head;
		ep_dequeue_locked(m);
		uint32_t want = (m->ep_events & ~EV_FLAGS) | MTCP_EPOLLERR |
				MTCP_EPOLLHUP;
		uint32_t lv = ms_level(m) & want;
		if (!lv)
			continue;
		out[n].events = lv;
		out[n].data = m->ep_data;
		n++;
		if (m->ep_events & MTCP_EPOLLONESHOT)
			m->ep_off = 1;
		else if (!(m->ep_events & MTCP_EPOLLET))
			ep_enqueue_locked(m);   /* level: look again next time */
	}
	return n;
}

DILLNET_EXPORT int mtcp_epoll_wait(mctx_t mctx, int epid,
				   struct mtcp_epoll_event *events,
				   int maxevents, int timeout)
{
	struct mctx_i *c = ctx_of(mctx);
	if (!c)
		return -1;
	struct ep *e = id_get(c, epid, K_EPOLL, NULL);
	if (!e) {
		if (errno == ENOTSOCK)
			errno = EINVAL;
		return -1;
	}
	if (!events || maxevents <= 0) {
		errno = EINVAL;
		return -1;
	}
	int64_t deadline = timeout < 0 ? -1 : dillnet_now() + timeout;
	for (;;) {
		pthread_mutex_lock(&c->mu);
		int n = ep_harvest_locked(e, events, maxevents);
		if (n > 0 || timeout == 0) {
			pthread_mutex_unlock(&c->mu);
			return n;
		}
		/* Announced under the mutex: a notify after this sees it and
		 * signals the eventfd, so the poll below cannot miss it. */
		atomic_store(&c->sleeping, 1);
		pthread_mutex_unlock(&c->mu);
		int ms = -1;
		if (deadline >= 0) {
			int64_t left = deadline - dillnet_now();
			if (left <= 0) {
				atomic_store(&c->sleeping, 0);
				return 0;
			}
			ms = left > 0x7fffffff ? 0x7fffffff : (int)left;
		}
		struct pollfd pf = { .fd = c->efd, .events = POLLIN };
		int k = poll(&pf, 1, ms);
		int err = errno;
		atomic_store(&c->sleeping, 0);
		uint64_t v;
		ssize_t r = read(c->efd, &v, sizeof(v));
		(void)r;
		if (k < 0) {
			errno = err;   /* EINTR: a signal, as mTCP programs expect */
			return -1;
		}
	}
}
