/*
 * Deterministic TCP simulation: two struct dn_stack in one process joined
 * by a link with seeded loss, duplication, reordering (jitter), corruption
 * and delay, in virtual time.  Each seed opens a connection, moves data
 * both ways, half-closes both directions, closes, and checks byte-exact
 * delivery, that both sides free everything, and invariants after every
 * event (snd_una <= snd_nxt <= snd_max, tx ring accounting, OOO ranges
 * inside the rx ring).
 *
 *   DN_SIM_SEEDS=N   number of seeds (default 200; `make soak` sets more)
 *   DN_SIM_SEED=N    run only seed N (printed when a seed fails); with
 *                    DN_SIM_SEEDS, that many seeds starting at N
 *   DN_SIM_TRACE=1|2 print segments delivered (2: also transmitted)
 *   DN_SIM_VERBOSE=1 bulk-test figures and counters summed over seeds
 */
#include <check.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "stack_harness.h"
#include "tcp_int.h"

#define SIM_MAXQ 4096
#define SIM_FRAME 2048

struct sim_pkt {
	uint64_t at;
	uint64_t order;
	int to;                 /* 0: A, 1: B */
	uint16_t len;
	uint8_t data[SIM_FRAME];
};

struct sim;

#define SIM_MAXEP 8   /* endpoints: up to 4 connections, 2 ends each */

/* One end of one connection: its rings and the app driving it. */
struct sim_ep {
	struct sim *sim;
	int side;               /* 0: A, 1: B */
	int idx, peer;          /* indices in sim.ep */
	bool client;
	struct dn_ring_shared *rxsh, *txsh;
	uint8_t *rxdata, *txdata;
	struct dn_ring rx_d, tx_d, rx_a, tx_a;
	uint32_t ring_size;
	bool grow;              /* rings start small; the daemon side grows
				 * rx, the app tx (as dillnetd and libdillnet) */
	struct dn_tcp_conn *conn;
	uint16_t cport;         /* client: its local port */
	uint64_t to_send, sent, received;
	bool shut, eof, closed, freed, connected;
	uint64_t read_every;    /* slow reader: read only this often (us) */
	uint64_t next_read;
	bool early_close;       /* close right after shutdown if the peer
				 * sends nothing: TCP drains the tx ring of
				 * an orphan */
	int err;
};

struct sim_side {
	struct sim *sim;
	int idx;
	struct dn_stack st;
	struct dn_tcp_upcalls up;
	struct dn_tcp_conn *listener;
	uint16_t port;
	uint64_t frames_out;
};

struct sim {
	uint64_t seed;
	uint64_t rng;
	uint64_t now;
	struct sim_side s[2];
	struct sim_ep ep[SIM_MAXEP];
	int nep;
	struct sim_pkt *q;
	int nq;
	uint64_t order;
	double loss, dup, corrupt;
	uint64_t delay, jitter;
	char fail[512];
	int trace;
	/* Fixed scenario instead of a random one (bulk tests). */
	bool fixed;
	uint64_t f_bytes;
	uint32_t f_ring;
	double f_loss;
	uint64_t f_delay;
	int f_cc;
	uint64_t f_rate;          /* bottleneck bytes/s per direction, 0: none */
	uint32_t f_qlimit;        /* its queue, in frames */
	bool f_no_rack;           /* RFC 6675 rules alone, no RACK-TLP */
	uint32_t f_grow_from;     /* >0: rings start at this capacity */
	uint64_t link_free[2];    /* when the bottleneck is free, per direction */
	uint64_t qdrops;
	uint64_t data_done_us;   /* when every stream was delivered */
	uint64_t agg[DN_TCP_NCOUNTERS];   /* counters summed over seeds */
};

static uint64_t rnd(struct sim *m)
{
	/* splitmix64 */
	uint64_t z = (m->rng += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static double rndf(struct sim *m)
{
	return (double)(rnd(m) >> 11) / 9007199254740992.0;
}

static uint64_t rndr(struct sim *m, uint64_t lo, uint64_t hi)
{
	return lo + rnd(m) % (hi - lo + 1);
}

static uint8_t gen_byte(uint64_t seed, int side, uint64_t i)
{
	uint64_t x = i * 0x9e3779b97f4a7c15ull + seed * 31 + (uint64_t)side * 0x1234567;
	x ^= x >> 29;
	x *= 0xbf58476d1ce4e5b9ull;
	return (uint8_t)(x >> 40);
}

#define FAIL(m, ...)                                                   \
	do {                                                           \
		if (!(m)->fail[0])                                     \
			snprintf((m)->fail, sizeof((m)->fail), __VA_ARGS__); \
	} while (0)

/* ---- io: frames go onto the link ---------------------------------------- */

static void trace_pkt(struct sim *m, const struct sim_pkt *p);

struct sim_frame {
	uint32_t magic;
	uint8_t data[SIM_FRAME];
};

static void *sim_alloc(void *ctx, uint8_t **data, uint16_t *cap)
{
	(void)ctx;
	struct sim_frame *f = malloc(sizeof(*f));
	f->magic = 0x51afu;
	*data = f->data;
	*cap = SIM_FRAME;
	return f;
}

static void sim_release(void *ctx, void *frame)
{
	(void)ctx;
	struct sim_frame *f = frame;
	ck_assert_uint_eq(f->magic, 0x51afu);
	f->magic = 0;
	free(f);
}

static void enqueue(struct sim *m, int to, const uint8_t *d, uint16_t len,
		    uint64_t delay)
{
	if (m->nq >= SIM_MAXQ)
		return;   /* link buffer full: a drop */
	struct sim_pkt *p = &m->q[m->nq++];
	p->at = m->now + delay;
	p->order = m->order++;
	p->to = to;
	p->len = len;
	memcpy(p->data, d, len);
}

static void sim_xmit(void *ctx, void *frame, uint16_t len)
{
	struct sim_side *sd = ctx;
	struct sim *m = sd->sim;
	struct sim_frame *f = frame;
	int to = !sd->idx;
	sd->frames_out++;
	if (m->trace > 1 && len <= SIM_FRAME) {
		struct sim_pkt tp;
		tp.to = to;
		tp.len = len;
		memcpy(tp.data, f->data, len);
		fprintf(stderr, "  xmit: ");
		trace_pkt(m, &tp);
	}
	bool ip = len > 14 && f->data[12] == 0x08 && f->data[13] == 0x00;
	if (ip && rndf(m) < m->loss) {
		sim_release(ctx, frame);
		return;
	}
	int copies = (ip && rndf(m) < m->dup) ? 2 : 1;
	for (int k = 0; k < copies; k++) {
		uint8_t buf[SIM_FRAME];
		memcpy(buf, f->data, len);
		/* Corrupt only past the Ethernet header: a flipped
		 * EtherType could turn IPv4 into ARP, which has no checksum
		 * to catch it. */
		if (ip && len > 14 && rndf(m) < m->corrupt) {
			size_t at = 14 + rnd(m) % (len - 14);
			buf[at] ^= (uint8_t)(1u << (rnd(m) % 8));
		}
		uint64_t d = m->delay + (m->jitter ? rnd(m) % (m->jitter + 1) : 0);
		if (m->f_rate) {
			/* A bottleneck with a drop-tail queue: serialise, and
			 * drop when more than f_qlimit frames wait. */
			uint64_t tx_us = (uint64_t)len * 1000000 / m->f_rate;
			uint64_t startt = m->link_free[to] > m->now ?
					  m->link_free[to] : m->now;
			if ((startt - m->now) / (tx_us ? tx_us : 1) >= m->f_qlimit) {
				m->qdrops++;
				continue;
			}
			m->link_free[to] = startt + tx_us;
			d += m->link_free[to] - m->now;
		}
		enqueue(m, to, buf, len, d);
	}
	sim_release(ctx, frame);
}

static const struct dn_stack_io sim_io = {
	.alloc = sim_alloc,
	.xmit = sim_xmit,
	.release = sim_release,
};

/* ---- upcalls -------------------------------------------------------------- */

static void up_connected(void *ctx, struct dn_tcp_conn *c, int err)
{
	struct sim_side *sd = ctx;
	struct sim_ep *e = dn_tcp_owner(c);
	if (err)
		FAIL(sd->sim, "side %d: connect failed: %s", sd->idx, strerror(err));
	if (e)
		e->connected = true;
}

static int up_attach(void *ctx, struct dn_tcp_conn *l, struct dn_tcp_conn *c,
		     struct dn_ring **rx, struct dn_ring **tx, void **owner)
{
	struct sim_side *sd = ctx;
	struct sim *m = sd->sim;
	uint16_t rport;
	(void)l;
	dn_tcp_get_addrs(c, NULL, NULL, NULL, &rport);
	for (int i = 0; i < m->nep; i++) {
		struct sim_ep *e = &m->ep[i];
		if (e->side != sd->idx || e->client || e->conn ||
		    m->ep[e->peer].cport != rport)
			continue;
		e->conn = c;
		*rx = &e->rx_d;
		*tx = &e->tx_d;
		*owner = e;
		return 0;
	}
	FAIL(m, "side %d: unexpected connection from port %u", sd->idx, rport);
	return -1;
}

static void up_accept_ready(void *ctx, struct dn_tcp_conn *l)
{
	(void)ctx;
	struct dn_tcp_conn *c;
	while ((c = dn_tcp_accept(l, NULL)) != NULL) {
		struct sim_ep *e = dn_tcp_owner(c);
		e->connected = true;
	}
}

static void up_nop(void *ctx, struct dn_tcp_conn *c)
{
	(void)ctx;
	(void)c;
}

static void up_reset(void *ctx, struct dn_tcp_conn *c, int err)
{
	struct sim_side *sd = ctx;
	FAIL(sd->sim, "side %d: connection reset: %s (state %s)", sd->idx,
	     strerror(err), dn_tcp_state_name(dn_tcp_state(c)));
	struct sim_ep *e = dn_tcp_owner(c);
	if (e)
		e->err = err;
}

static void up_freed(void *ctx, struct dn_tcp_conn *c, void *owner)
{
	struct sim_side *sd = ctx;
	struct sim_ep *e = owner;
	if (c == sd->listener)
		return;
	if (e && e->conn == c)
		e->freed = true;
}

/* ---- invariants ------------------------------------------------------------ */

static void check_invariants(struct sim *m, struct sim_side *sd)
{
	uint32_t linked = 0;
	for (struct dn_tcp_conn *c = sd->st.tcp.all; c; c = c->anext) {
		linked += c->in_wheel;
		uint64_t e = 0;
		for (int t = 0; t < DN_TCP_NTIMERS; t++)
			if (c->timer[t] && (!e || c->timer[t] < e))
				e = c->timer[t];
		if ((e != 0) != c->in_wheel || (e && e != c->wdeadline))
			FAIL(m, "side %d: timer wheel out of step with timers",
			     sd->idx);
	}
	if (linked != sd->st.tcp.wheel.count)
		FAIL(m, "side %d: wheel count %u, linked %u", sd->idx,
		     sd->st.tcp.wheel.count, linked);
	for (struct dn_tcp_conn *c = sd->st.tcp.all; c; c = c->anext) {
		if (c->state == DN_TCP_LISTEN || c->state == DN_TCP_CLOSED ||
		    (c->flags & DN_TCPF_FREED))
			continue;
		if (DN_SEQ_GT(c->snd_una, c->snd_nxt) ||
		    DN_SEQ_GT(c->snd_nxt, c->snd_max))
			FAIL(m, "side %d: snd_una %u snd_nxt %u snd_max %u in %s",
			     sd->idx, c->snd_una, c->snd_nxt, c->snd_max,
			     dn_tcp_state_name(c->state));
		if (!c->tx || c->state < DN_TCP_ESTABLISHED)
			continue;
		int32_t d = (int32_t)(c->snd_una - c->tx_seq);
		if (d < -1 || d > 1)
			FAIL(m, "side %d: snd_una %u vs ring head seq %u", sd->idx,
			     c->snd_una, c->tx_seq);
		size_t q = dn_ring_readable(c->tx);
		uint32_t inflight = c->snd_max - c->tx_seq;
		uint32_t fin = (c->flags & DN_TCPF_FIN_SENT) &&
			       DN_SEQ_GT(c->snd_max, c->fin_seq) ? 1 : 0;
		if (DN_SEQ_GT(c->snd_max, c->tx_seq) && inflight - fin > q)
			FAIL(m, "side %d: %u bytes in flight but ring holds %zu",
			     sd->idx, inflight - fin, q);
		for (int i = 0; i < c->nooo; i++) {
			uint32_t s = c->ooo[i].start, e = c->ooo[i].end;
			if (!DN_SEQ_GT(s, c->rcv_nxt) || !DN_SEQ_LT(s, e) ||
			    e - c->rcv_nxt > c->rx->size ||
			    (i && !DN_SEQ_GT(s, c->ooo[i - 1].end)))
				FAIL(m, "side %d: bad OOO range %u-%u (rcv_nxt %u)",
				     sd->idx, s, e, c->rcv_nxt);
		}
		if (c->rack.rec) {
			/* RACK's log: well-formed records within what was
			 * sent, and the lost count the scans rely on. */
			unsigned lost = 0;
			for (int i = 0; i < c->rack.nrec; i++) {
				const struct dn_tcp_txrec *x = &c->rack.rec[i];
				lost += !!(x->flags & DN_TCP_TXR_LOST);
				if (!DN_SEQ_LT(x->start, x->end) ||
				    DN_SEQ_GT(x->end, c->snd_max))
					FAIL(m, "side %d: RACK record %u-%u "
					     "(snd_max %u)", sd->idx, x->start,
					     x->end, c->snd_max);
			}
			if (lost != c->rack.nlost)
				FAIL(m, "side %d: RACK nlost %u, counted %u",
				     sd->idx, c->rack.nlost, lost);
		}
		if (c->cwnd < c->mss / 2 || c->mss == 0)
			FAIL(m, "side %d: cwnd %u mss %u", sd->idx, c->cwnd, c->mss);
	}
}

/* ---- the app on each end ---------------------------------------------------- */

static void app_step(struct sim *m, struct sim_ep *e)
{
	if (!e->conn || e->closed || !e->connected)
		return;
	bool kick = false;
	/* Bulk mode: the app keeps the tx ring full. */
	for (int burst = 0; burst < (m->fixed ? 1024 : 1) && e->sent < e->to_send;
	     burst++) {
		uint8_t buf[4096];
		size_t want = e->to_send - e->sent;
		if (want > sizeof(buf))
			want = sizeof(buf);
		/* Writes of varying size exercise Nagle and coalescing. */
		size_t lim = m->fixed ? sizeof(buf) : 1 + rnd(m) % sizeof(buf);
		if (want > lim)
			want = lim;
		size_t room = dn_ring_writable(&e->tx_a);
		/* Send-buffer growth as libdillnet does it (dnl_tx_grow). */
		if (e->grow && want > room && e->tx_a.cap < e->tx_a.size &&
		    dn_ring_grow(&e->tx_a, e->tx_a.cap * 2) == 0)
			room = dn_ring_writable(&e->tx_a);
		if (room == DN_RING_CORRUPT)
			FAIL(m, "ep %d: tx ring corrupt", e->idx);
		if (want > room)
			want = room;
		if (want == 0)
			break;
		for (size_t i = 0; i < want; i++)
			buf[i] = gen_byte(m->seed, e->idx, e->sent + i);
		size_t n = dn_ring_write(&e->tx_a, buf, want);
		if (n == DN_RING_CORRUPT)
			FAIL(m, "ep %d: tx ring corrupt", e->idx);
		else if (n) {
			e->sent += n;
			kick = true;
		}
	}
	uint8_t rb[8192];
	bool may_read = !e->read_every || m->now >= e->next_read;
	if (may_read && e->read_every)
		e->next_read = m->now + e->read_every;
	for (; may_read;) {
		size_t n = dn_ring_read(&e->rx_a, rb, sizeof(rb));
		if (n == DN_RING_CORRUPT) {
			FAIL(m, "ep %d: rx ring corrupt", e->idx);
			break;
		}
		if (!n)
			break;
		for (size_t i = 0; i < n; i++)
			if (rb[i] != gen_byte(m->seed, e->peer, e->received + i)) {
				FAIL(m, "ep %d: byte %" PRIu64 " differs",
				     e->idx, e->received + i);
				break;
			}
		e->received += n;
		kick = true;
	}
	if (kick)
		dn_tcp_output_kick(e->conn);
	if (e->sent == e->to_send && !e->shut) {
		dn_tcp_shutdown_wr(e->conn);
		e->shut = true;
	}
	uint32_t fl = dn_ring_flags(&e->rx_a);
	if ((fl & DN_RING_F_EOF) && dn_ring_readable(&e->rx_a) == 0)
		e->eof = true;
	bool early = e->early_close && e->shut && m->ep[e->peer].to_send == 0;
	if ((e->eof || early) && e->shut && !e->closed) {
		e->closed = true;
		dn_tcp_close(e->conn);
	}
}

/* ---- one seed ---------------------------------------------------------------- */

static void side_init(struct sim *m, int idx, uint32_t ip, const uint8_t *mac,
		      uint16_t mtu)
{
	struct sim_side *sd = &m->s[idx];
	sd->sim = m;
	sd->idx = idx;
	struct dn_stack_conf conf;
	th_conf_default(&conf);
	memcpy(conf.mac, mac, 6);
	conf.ip4 = ip;
	conf.gateway = 0;
	conf.mtu = mtu;
	ck_assert_int_eq(dn_stack_init(&sd->st, &conf, &sim_io, sd, m->now), 0);
	uint8_t key[16];
	for (int i = 0; i < 16; i++)
		key[i] = (uint8_t)rnd(m);
	dn_tcp_set_secret(&sd->st, key);
	struct dn_tcp_conf *tc = &sd->st.tcp.conf;
	tc->cc = rnd(m) % 2 ? DN_TCP_CC_CUBIC : DN_TCP_CC_NEWRENO;
	tc->sack = rnd(m) % 4 != 0;
	tc->timestamps = rnd(m) % 4 != 0;
	tc->wscale = rnd(m) % 4 != 0;
	tc->nodelay = rnd(m) % 2;
	tc->time_wait_us = 2000000;
	tc->delack_us = rndr(m, 1, 200) * 1000;
	tc->max_retries = 30;
	tc->syn_retries = 10;
	tc->mss_cap = (uint16_t)rndr(m, 200, 1460);
	sd->up.connected = up_connected;
	sd->up.attach = up_attach;
	sd->up.accept_ready = up_accept_ready;
	sd->up.readable = up_nop;
	sd->up.eof = up_nop;
	sd->up.writable = up_nop;
	sd->up.reset = up_reset;
	sd->up.freed = up_freed;
	sd->st.tcp.up = &sd->up;
	sd->st.tcp.up_ctx = sd;
	/* RACK-TLP on most seeds, the RFC 6675 rules alone on the rest
	 * (from the seed, so the random stream stays as it was). */
	tc->rack = m->seed % 4 != 3;
	tc->tlp = m->seed % 8 != 5;
	if (getenv("DN_SIM_RACK"))
		tc->rack = (uint8_t)atoi(getenv("DN_SIM_RACK"));
	if (getenv("DN_SIM_TLP"))
		tc->tlp = (uint8_t)atoi(getenv("DN_SIM_TLP"));
	if (m->fixed) {
		tc->rack = tc->tlp = !m->f_no_rack;
		tc->cc = (uint8_t)m->f_cc;
		tc->sack = tc->timestamps = tc->wscale = 1;
		tc->mss_cap = 1460;
		tc->delack_us = 40000;
		tc->keepalive = 0;
	}
}

static void ep_init(struct sim *m, struct sim_ep *e, int side, bool client)
{
	memset(e, 0, sizeof(*e));
	e->sim = m;
	e->side = side;
	e->idx = (int)(e - m->ep);
	e->client = client;
	e->ring_size = m->fixed ? m->f_ring : 1u << rndr(m, 11, 18);
	e->rxsh = aligned_alloc(64, sizeof(*e->rxsh));
	e->txsh = aligned_alloc(64, sizeof(*e->txsh));
	e->rxdata = malloc(e->ring_size);
	e->txdata = malloc(e->ring_size);
	dn_ring_shared_init(e->rxsh);
	dn_ring_shared_init(e->txsh);
	/* A third of the seeds (by the seed, so the random stream stays as
	 * it was) start both rings at a sixteenth of their size and grow
	 * them: growth under loss, reordering and slow readers. */
	uint32_t from = m->fixed ? m->f_grow_from : (m->seed % 3 == 1 ? e->ring_size / 16 : 0);
	if (from >= 64 && from < e->ring_size) {
		e->grow = true;
		dn_ring_shared_set_cap(e->rxsh, from);
		dn_ring_shared_set_cap(e->txsh, from);
	}
	dn_ring_attach(&e->rx_d, e->rxsh, e->rxdata, e->ring_size);
	dn_ring_attach(&e->rx_a, e->rxsh, e->rxdata, e->ring_size);
	dn_ring_attach(&e->tx_d, e->txsh, e->txdata, e->ring_size);
	dn_ring_attach(&e->tx_a, e->txsh, e->txdata, e->ring_size);
	uint64_t big = rnd(m) % 8 == 0 ? 1000000 : 150000;
	e->to_send = rnd(m) % 10 == 0 ? 0 : rndr(m, 1, big);
	if (m->fixed)
		e->to_send = m->f_bytes;
	e->early_close = !m->fixed && rnd(m) % 2;
	/* A quarter of the apps read slowly: zero windows, persist. */
	e->read_every = (!m->fixed && rnd(m) % 4 == 0) ? rndr(m, 1, 300) * 1000 : 0;
}

static void ep_fini(struct sim_ep *e)
{
	free(e->rxsh);
	free(e->txsh);
	free(e->rxdata);
	free(e->txdata);
}

static void side_fini(struct sim_side *sd)
{
	dn_stack_fini(&sd->st);
}

static void trace_pkt(struct sim *m, const struct sim_pkt *p)
{
	const uint8_t *ip = p->data + 14;
	if (p->len >= 42 && p->data[12] == 8 && p->data[13] == 6) {
		fprintf(stderr, "%10.6f %c>%c ARP op %u spa %08x tpa %08x\n",
			(double)m->now / 1e6, p->to ? 'A' : 'B', p->to ? 'B' : 'A',
			dn_get16(ip + 6), dn_get32(ip + 14), dn_get32(ip + 24));
		return;
	}
	if (p->len < 54 || p->data[12] != 8 || p->data[13] != 0 || ip[9] != 6) {
		fprintf(stderr, "non-TCP frame len %u\n", p->len);
		return;
	}
	const uint8_t *t = ip + (ip[0] & 15) * 4;
	size_t l4 = dn_get16(ip + 2) - (size_t)(ip[0] & 15) * 4;
	size_t doff = (size_t)(t[12] >> 4) * 4;
	fprintf(stderr, "%10.6f %c>%c %c%c%c%c%c seq %u ack %u len %zu wnd %u\n",
		(double)m->now / 1e6, p->to ? 'A' : 'B', p->to ? 'B' : 'A',
		t[13] & 2 ? 'S' : '.', t[13] & 16 ? 'A' : '.',
		t[13] & 1 ? 'F' : '.', t[13] & 4 ? 'R' : '.',
		t[13] & 8 ? 'P' : '.', dn_get32(t + 4), dn_get32(t + 8),
		l4 >= doff ? l4 - doff : 0, dn_get16(t + 14));
}

/* Everything due at once is one receive burst per side, as a port Rx
 * burst in the daemon (ACKs owed go out at its end). */
static void deliver_due_burst(struct sim *m);

static void deliver_due(struct sim *m)
{
	dn_stack_rx_begin(&m->s[0].st);
	dn_stack_rx_begin(&m->s[1].st);
	deliver_due_burst(m);
	dn_stack_rx_end(&m->s[0].st);
	dn_stack_rx_end(&m->s[1].st);
}

static void deliver_due_burst(struct sim *m)
{
	for (;;) {
		int best = -1;
		for (int i = 0; i < m->nq; i++)
			if (m->q[i].at <= m->now &&
			    (best < 0 || m->q[i].at < m->q[best].at ||
			     (m->q[i].at == m->q[best].at &&
			      m->q[i].order < m->q[best].order)))
				best = i;
		if (best < 0)
			return;
		struct sim_pkt p = m->q[best];
		m->q[best] = m->q[--m->nq];
		struct sim_side *sd = &m->s[p.to];
		if (m->trace)
			trace_pkt(m, &p);
		dn_stack_input(&sd->st, p.data, p.len);
		check_invariants(m, sd);
	}
}

/* Returns "" on success, else the failure text. */
static const char *run_seed(struct sim *m, uint64_t seed)
{
	memset(m, 0, offsetof(struct sim, q));
	m->data_done_us = 0;
	m->seed = seed;
	m->rng = seed * 0x2545f4914f6cdd1dull + 1;
	m->fail[0] = 0;
	m->nq = 0;
	m->trace = getenv("DN_SIM_TRACE") ? atoi(getenv("DN_SIM_TRACE")) : 0;
	m->now = rndr(m, 0, 1000000000);
	/* Impairments: a clean link for some seeds, nasty ones for others. */
	int level = (int)(rnd(m) % 4);
	m->loss = level ? rndf(m) * 0.04 * level : 0;
	m->dup = level ? rndf(m) * 0.02 * level : 0;
	m->corrupt = level ? rndf(m) * 0.01 * level : 0;
	m->delay = rndr(m, 50, 50000);
	m->jitter = rnd(m) % 2 ? rndr(m, 0, m->delay) : 0;
	uint16_t mtu_a = rnd(m) % 3 ? 1500 : (uint16_t)rndr(m, 576, 1500);
	uint16_t mtu_b = rnd(m) % 3 ? 1500 : (uint16_t)rndr(m, 576, 1500);
	if (m->fixed) {
		level = 0;
		m->loss = m->f_loss;
		m->dup = m->corrupt = 0;
		m->delay = m->f_delay;
		m->jitter = 0;
		mtu_a = mtu_b = 1500;
	}
	side_init(m, 0, TH_IP_US, th_mac_us, mtu_a);
	side_init(m, 1, TH_IP_GW, th_mac_gw, mtu_b);
	/* SYN cookies only on a clean link: with a lost final ACK a cookie
	 * handshake cannot be completed by later data (as in the kernel), and
	 * with reordering data may overtake the final ACK. */
	if (level == 0 && m->jitter == 0 && rnd(m) % 2)
		m->s[1].st.tcp.conf.syncookies = 2;
	/* Keepalive on some connections (short, so it actually probes). */
	for (int i = 0; i < 2; i++)
		if (rnd(m) % 4 == 0) {
			struct dn_tcp_conf *tc = &m->s[i].st.tcp.conf;
			tc->keepalive = 1;
			tc->keepalive_idle_us = rndr(m, 1, 5) * 1000000;
			tc->keepalive_intvl_us = 1000000;
			tc->keepalive_probes = 60;
		}

	/* Teach each side the other's MAC (ARP requests into both). */
	uint8_t b[64];
	size_t n = th_arp_frame(b, th_mac_bcast, 1, th_mac_gw, TH_IP_GW, NULL,
				TH_IP_US);
	dn_stack_input(&m->s[0].st, b, n);
	n = th_arp_frame(b, th_mac_bcast, 1, th_mac_us, TH_IP_US, NULL, TH_IP_GW);
	dn_stack_input(&m->s[1].st, b, n);

	int err;
	for (int i = 0; i < 2; i++) {
		m->s[i].port = (uint16_t)rndr(m, 1, 65535);
		m->s[i].listener = dn_tcp_listen(&m->s[i].st, 0, m->s[i].port, 4,
						 NULL, &err);
		ck_assert_ptr_nonnull(m->s[i].listener);
	}
	/* 1-4 connections (mostly one), each opened by either side. */
	int nconn = m->fixed ? 1 : (rnd(m) % 3 ? 1 : (int)rndr(m, 2, 4));
	m->nep = 2 * nconn;
	for (int k = 0; k < nconn; k++) {
		int cside = m->fixed ? 0 : (int)(rnd(m) % 2);
		struct sim_ep *cl = &m->ep[2 * k], *sv = &m->ep[2 * k + 1];
		ep_init(m, cl, cside, true);
		ep_init(m, sv, !cside, false);
		cl->peer = sv->idx;
		sv->peer = cl->idx;
		uint32_t dst = cside == 0 ? TH_IP_GW : TH_IP_US;
		cl->conn = dn_tcp_connect(&m->s[cside].st, dst, m->s[!cside].port,
					  0, &cl->rx_d, &cl->tx_d, cl, &err);
		ck_assert_ptr_nonnull(cl->conn);
		dn_tcp_get_addrs(cl->conn, NULL, &cl->cport, NULL, NULL);
	}

	uint64_t start = m->now;
	uint64_t limit = start + 3600ull * 1000000;   /* an hour, virtual */
	uint64_t steps = 0;
	while (!m->fail[0]) {
		deliver_due(m);
		for (int i = 0; i < m->nep; i++)
			app_step(m, &m->ep[i]);
		uint64_t next = UINT64_MAX;
		for (int i = 0; i < 2; i++) {
			m->s[i].st.now_us = m->now;
			uint64_t t = dn_stack_poll(&m->s[i].st);
			check_invariants(m, &m->s[i]);
			if (t != UINT64_MAX && m->now + t < next)
				next = m->now + t;
		}
		for (int i = 0; i < m->nq; i++)
			if (m->q[i].at < next)
				next = m->q[i].at;
		for (int i = 0; i < m->nep; i++) {
			struct sim_ep *e = &m->ep[i];
			if (e->read_every && e->conn && !e->closed &&
			    e->next_read > m->now && e->next_read < next)
				next = e->next_read;
		}
		bool delivered = true, done = true;
		for (int i = 0; i < m->nep; i++) {
			struct sim_ep *e = &m->ep[i];
			if (e->received != m->ep[e->peer].to_send)
				delivered = false;
			if (!e->freed)
				done = false;
		}
		if (delivered && !m->data_done_us)
			m->data_done_us = m->now - start;
		if (done)
			break;
		if (next == UINT64_MAX) {
			/* Nothing scheduled: the apps must be able to make
			 * progress, or it is a deadlock. */
			next = m->now + 1000;
			if (++steps > 100000000)
				break;
		}
		if (next <= m->now)
			next = m->now + 1;   /* timers round to ms ticks */
		m->now = next;
		for (int i = 0; i < 2; i++)
			m->s[i].st.now_us = m->now;
		if (m->now > limit) {
			char b[400] = "";
			size_t o = 0;
			for (int i = 0; i < m->nep && o < sizeof(b) - 80; i++) {
				struct sim_ep *e = &m->ep[i];
				o += (size_t)snprintf(b + o, sizeof(b) - o,
					"; ep %d(%c%s) sent %" PRIu64 "/%" PRIu64
					" recv %" PRIu64 " unread %zu%s%s %s", i,
					e->side ? 'B' : 'A',
					e->client ? ",client" : "", e->sent,
					e->to_send, e->received,
					dn_ring_readable(&e->rx_a),
					e->eof ? " eof" : "", e->closed ? " closed" : "",
					e->freed || !e->conn ? "-" :
					dn_tcp_state_name(dn_tcp_state(e->conn)));
			}
			FAIL(m, "not done after an hour of virtual time%s", b);
			break;
		}
	}
	if (m->fail[0] && m->trace)
		for (int i = 0; i < 2; i++)
			for (struct dn_tcp_conn *c = m->s[i].st.tcp.all; c; c = c->anext)
				fprintf(stderr, "side %d %s una %u nxt %u max %u wnd %u "
					"cwnd %u rcv_nxt %u adv %u flags %x timers "
					"%" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRIu64
					" %" PRIu64 " now %" PRIu64 " unsent %u srtt %" PRIu64
					" rttvar %" PRIu64 " rto %" PRIu64 " backoff %u\n",
					i, dn_tcp_state_name(c->state), c->snd_una,
					c->snd_nxt, c->snd_max, c->snd_wnd, c->cwnd,
					c->rcv_nxt, c->rcv_adv, c->flags, c->timer[0],
					c->timer[1], c->timer[2], c->timer[3],
					c->timer[4], m->now, c->tx ? dn_tcp_unsent(c) : 0,
					c->srtt_us, c->rttvar_us, c->rto_us, c->backoff);
	if (!m->fail[0]) {
		for (int i = 0; i < m->nep; i++)
			if (m->ep[i].received != m->ep[m->ep[i].peer].to_send)
				FAIL(m, "ep %d received %" PRIu64 " of %" PRIu64,
				     i, m->ep[i].received,
				     m->ep[m->ep[i].peer].to_send);
		if (m->s[0].st.tcp.nconns != 1 || m->s[1].st.tcp.nconns != 1)
			FAIL(m, "connections left: A %u B %u (1 = the listener)",
			     m->s[0].st.tcp.nconns, m->s[1].st.tcp.nconns);
	}
	for (int i = 0; i < 2; i++) {
		dn_tcp_close(m->s[i].listener);
		for (int k = 0; k < DN_TCP_NCOUNTERS; k++)
			m->agg[k] += m->s[i].st.tcp.ctr[k];
		side_fini(&m->s[i]);
	}
	for (int i = 0; i < m->nep; i++)
		ep_fini(&m->ep[i]);
	return m->fail;
}

/* Bulk transfers on a clean (or lightly lossy) link: the windows and the
 * congestion control must get the data through in a sane virtual time. */
static uint64_t bulk_run(int cc, double loss, uint64_t bytes, uint64_t delay,
			 uint64_t rate, uint32_t qlimit, bool no_rack,
			 uint32_t grow_from, uint64_t *rtos, uint64_t *grows)
{
	struct sim *m = calloc(1, sizeof(*m));
	m->q = malloc(sizeof(struct sim_pkt) * SIM_MAXQ);
	struct sim_pkt *q = m->q;
	m->fixed = true;
	m->f_bytes = bytes;
	m->f_ring = 1u << 20;
	m->f_loss = loss;
	m->f_delay = delay;
	m->f_cc = cc;
	m->f_rate = rate;
	m->f_qlimit = qlimit;
	m->f_no_rack = no_rack;
	m->f_grow_from = grow_from;
	m->link_free[0] = m->link_free[1] = 0;
	m->qdrops = 0;
	const char *r = run_seed(m, 424242);
	m->q = q;
	ck_assert_msg(r[0] == 0, "bulk %s loss %.3f: %s", dn_tcp_cc_name(cc),
		      loss, r);
	uint64_t t = m->data_done_us;
	if (getenv("DN_SIM_VERBOSE"))
		fprintf(stderr, "bulk %s loss %.3f rate %" PRIu64 ": %" PRIu64
			" bytes each way in %" PRIu64 " us virtual, retransmits A %"
			PRIu64 " B %" PRIu64 ", RTOs %" PRIu64 ", queue drops %"
			PRIu64 "\n", dn_tcp_cc_name(cc), loss, rate, bytes, t,
			m->s[0].st.tcp.ctr[DN_TCP_C_RETRANS_SEGS],
			m->s[1].st.tcp.ctr[DN_TCP_C_RETRANS_SEGS],
			m->s[0].st.tcp.ctr[DN_TCP_C_RTO_FIRED] +
			m->s[1].st.tcp.ctr[DN_TCP_C_RTO_FIRED], m->qdrops);
	if (getenv("DN_SIM_VERBOSE"))
		for (int i = 0; i < 2; i++)
			fprintf(stderr, "  side %d: fast_retrans %" PRIu64 " sack_rec %"
				PRIu64 " lost_rxt %" PRIu64 " dupsegs %" PRIu64
				" ooo %" PRIu64 "\n", i,
				m->s[i].st.tcp.ctr[DN_TCP_C_FAST_RETRANS],
				m->s[i].st.tcp.ctr[DN_TCP_C_SACK_RECOVERIES],
				m->s[i].st.tcp.ctr[DN_TCP_C_LOST_RETRANS],
				m->s[i].st.tcp.ctr[DN_TCP_C_DUP_SEGS],
				m->s[i].st.tcp.ctr[DN_TCP_C_OOO_SEGS]);
	for (int i = 0; i < 2 && getenv("DN_SIM_VERBOSE"); i++)
		fprintf(stderr, "  side %d: ooo_full %" PRIu64 "\n", i,
			m->s[i].st.tcp.drop[DN_TCP_DROP_OOO_FULL]);
	if (rtos)
		*rtos = m->s[0].st.tcp.ctr[DN_TCP_C_RTO_FIRED] +
			m->s[1].st.tcp.ctr[DN_TCP_C_RTO_FIRED];
	if (grows)
		*grows = m->s[0].st.tcp.ctr[DN_TCP_C_RX_GROW] +
			 m->s[1].st.tcp.ctr[DN_TCP_C_RX_GROW];
	free(m->q);
	free(m);
	return t;
}

static uint64_t bulk_opt(int cc, double loss, uint64_t bytes, uint64_t delay,
			 uint64_t rate, uint32_t qlimit, bool no_rack,
			 uint64_t *rtos)
{
	return bulk_run(cc, loss, bytes, delay, rate, qlimit, no_rack, 0, rtos, NULL);
}

static uint64_t bulk_rate(int cc, double loss, uint64_t bytes, uint64_t delay,
			  uint64_t rate, uint32_t qlimit, uint64_t *rtos)
{
	return bulk_opt(cc, loss, bytes, delay, rate, qlimit, false, rtos);
}

static uint64_t bulk(int cc, double loss, uint64_t bytes, uint64_t delay)
{
	return bulk_rate(cc, loss, bytes, delay, 0, 0, NULL);
}

START_TEST(test_tcp_sim_bulk_bottleneck)
{
	/* 10 Mbit/s each way, 20 ms RTT, 40-frame drop-tail queue: losses
	 * come from congestion.  3 MB each way needs 2.4 s at line rate;
	 * recovery must keep the pipe busy without a stream of RTOs. */
	for (int cc = 0; cc < DN_TCP_NCC; cc++) {
		uint64_t rtos = 0;
		uint64_t t = bulk_rate(cc, 0, 3000000, 10000, 1250000, 40, &rtos);
		ck_assert_msg(t > 2400000 && t < 6000000, "%s took %" PRIu64 " us",
			      dn_tcp_cc_name(cc), t);
		ck_assert_msg(rtos <= 20, "%s: %" PRIu64 " RTOs", dn_tcp_cc_name(cc),
			      rtos);
	}
}
END_TEST

START_TEST(test_tcp_sim_bulk_clean)
{
	/* 4 MB each way over a 10 ms RTT with 1 MiB rings: slow start
	 * reaches the window in a few RTTs; well under a second. */
	uint64_t t = bulk(DN_TCP_CC_CUBIC, 0, 4000000, 5000);
	ck_assert_msg(t > 0 && t < 1000000, "cubic took %" PRIu64 " us", t);
	t = bulk(DN_TCP_CC_NEWRENO, 0, 4000000, 5000);
	ck_assert_msg(t > 0 && t < 1000000, "newreno took %" PRIu64 " us", t);
}
END_TEST

START_TEST(test_tcp_sim_bulk_growing_rings)
{
	/* As bulk_clean, the 1 MiB rings starting at 16 KiB (dillnetd's
	 * slots): the receiver doubles its ring each time the sender fills
	 * the window over a round trip, six times to 1 MiB on each side
	 * (today 150 ms virtual against 110 ms with full rings). */
	uint64_t grows = 0;
	uint64_t t = bulk_run(DN_TCP_CC_CUBIC, 0, 4000000, 5000, 0, 0, false, 16384, NULL, &grows);
	ck_assert_msg(t > 0 && t < 500000, "cubic took %" PRIu64 " us", t);
	ck_assert_uint_eq(grows, 12);
	/* And with 1% loss (growth next to out-of-order data). */
	t = bulk_run(DN_TCP_CC_CUBIC, 0.01, 2000000, 5000, 0, 0, false, 16384, NULL, &grows);
	ck_assert_msg(t > 0 && t < 20000000, "lossy took %" PRIu64 " us", t);
	ck_assert_uint_ge(grows, 2);
}
END_TEST

START_TEST(test_tcp_sim_bulk_lossy)
{
	/* 1% loss: recovery keeps it moving (no RTO storms). */
	uint64_t t = bulk(DN_TCP_CC_CUBIC, 0.01, 2000000, 5000);
	ck_assert_msg(t > 0 && t < 20000000, "cubic took %" PRIu64 " us", t);
	t = bulk(DN_TCP_CC_NEWRENO, 0.01, 2000000, 5000);
	ck_assert_msg(t > 0 && t < 20000000, "newreno took %" PRIu64 " us", t);
}
END_TEST

START_TEST(test_tcp_sim_bulk_loss5)
{
	/* 5% loss each way on a 100 us RTT (the daemon's loss5 interop
	 * case): every RTO costs 200 ms, some 2000 RTTs.  Without RACK-TLP
	 * lost retransmissions and tail losses wait for the RTO; with it
	 * they are found within an RTT or two and RTOs become rare. */
	for (int cc = 0; cc < DN_TCP_NCC; cc++) {
		uint64_t rtos = 0, rtos_off = 0;
		uint64_t t = bulk_opt(cc, 0.05, 1000000, 50, 0, 0, false, &rtos);
		uint64_t t_off = bulk_opt(cc, 0.05, 1000000, 50, 0, 0, true,
					  &rtos_off);
		if (getenv("DN_SIM_VERBOSE"))
			fprintf(stderr, "loss5 %s: RACK-TLP %" PRIu64 " us %" PRIu64
				" RTOs; RFC 6675 alone %" PRIu64 " us %" PRIu64
				" RTOs\n", dn_tcp_cc_name(cc), t, rtos, t_off,
				rtos_off);
		ck_assert_msg(t > 0 && t < 2000000, "%s took %" PRIu64 " us",
			      dn_tcp_cc_name(cc), t);
		ck_assert_msg(rtos <= 5, "%s: %" PRIu64 " RTOs",
			      dn_tcp_cc_name(cc), rtos);
		ck_assert_msg(t_off > 0, "%s without RACK-TLP failed",
			      dn_tcp_cc_name(cc));
	}
}
END_TEST

START_TEST(test_tcp_sim_seeds)
{
	struct sim *m = calloc(1, sizeof(*m));
	m->q = malloc(sizeof(struct sim_pkt) * SIM_MAXQ);
	const char *one = getenv("DN_SIM_SEED");
	const char *cnt = getenv("DN_SIM_SEEDS");
	uint64_t first = 1, count = 200;
	if (cnt && *cnt)
		count = strtoull(cnt, NULL, 0);
	if (one && *one) {
		/* One seed; with DN_SIM_SEEDS too, that many from it. */
		first = strtoull(one, NULL, 0);
		if (!(cnt && *cnt))
			count = 1;
	}
	int failures = 0;
	char msg[1024] = "";
	for (uint64_t s = first; s < first + count; s++) {
		struct sim_pkt *q = m->q;
		const char *r = run_seed(m, s);
		m->q = q;
		if (r[0]) {
			if (!failures)
				snprintf(msg, sizeof(msg),
					 "tcp_sim seed %" PRIu64 " failed: %s\n"
					 "  rerun alone: DN_SIM_SEED=%" PRIu64
					 " CK_RUN_SUITE=tcp_sim build/tests/unit-run",
					 s, r, s);
			fprintf(stderr, "tcp_sim: seed %" PRIu64 " FAILED: %s "
				"(rerun: DN_SIM_SEED=%" PRIu64
				" CK_RUN_SUITE=tcp_sim build/tests/unit-run)\n",
				s, r, s);
			failures++;
		}
	}
	if (getenv("DN_SIM_VERBOSE"))
		for (int k = 0; k < DN_TCP_NCOUNTERS; k++)
			fprintf(stderr, "tcp_sim total %s %" PRIu64 "\n",
				dn_tcp_counter_name(k), m->agg[k]);
	free(m->q);
	free(m);
	ck_assert_msg(failures == 0, "%d seed(s) failed; first: %s", failures, msg);
}
END_TEST

Suite *tcp_sim_suite(void)
{
	Suite *s = suite_create("tcp_sim");
	TCase *tc = tcase_create("sim");
	tcase_set_timeout(tc, 600);
	tcase_add_test(tc, test_tcp_sim_seeds);
	tcase_add_test(tc, test_tcp_sim_bulk_clean);
	tcase_add_test(tc, test_tcp_sim_bulk_lossy);
	tcase_add_test(tc, test_tcp_sim_bulk_growing_rings);
	tcase_add_test(tc, test_tcp_sim_bulk_bottleneck);
	tcase_add_test(tc, test_tcp_sim_bulk_loss5);
	suite_add_tcase(s, tc);
	return s;
}
