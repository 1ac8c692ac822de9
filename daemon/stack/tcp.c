/*
 * TCP connection lifecycle and the socket API for the app manager:
 * tables, ISN and port selection, open/close, upcalls, introspection.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "tcp_int.h"

/* ---- generated names -------------------------------------------------- */

static const char *const state_names[] = {
#define DN_X(n, s) s,
	DN_TCP_STATES(DN_X)
#undef DN_X
};
static const char *const timer_names[] = {
#define DN_X(n, s) s,
	DN_TCP_TIMERS(DN_X)
#undef DN_X
};
static const char *const drop_names[] = {
#define DN_X(n, s) s,
	DN_TCP_DROPS(DN_X)
#undef DN_X
};
static const char *const counter_names[] = {
#define DN_X(n, s) s,
	DN_TCP_COUNTERS(DN_X)
#undef DN_X
};
static const char *const cc_names[] = {
#define DN_X(n, s) s,
	DN_TCP_CCS(DN_X)
#undef DN_X
};

#define NAME_OF(tab, i) \
	((i) >= 0 && (size_t)(i) < sizeof(tab) / sizeof(tab[0]) ? tab[i] : "?")

const char *dn_tcp_state_name(int s) { return NAME_OF(state_names, s); }
const char *dn_tcp_timer_name(int t) { return NAME_OF(timer_names, t); }
const char *dn_tcp_drop_name(int d) { return NAME_OF(drop_names, d); }
const char *dn_tcp_counter_name(int c) { return NAME_OF(counter_names, c); }
const char *dn_tcp_cc_name(int a) { return NAME_OF(cc_names, a); }

int dn_tcp_cc_from_name(const char *name)
{
	for (int i = 0; i < DN_TCP_NCC; i++)
		if (strcmp(name, cc_names[i]) == 0)
			return i;
	return -1;
}

/* ---- SipHash-2-4: the keyed PRF behind RFC 6528 ISNs, RFC 6056 port
 * offsets, SYN cookies and the connection hash (so a peer cannot aim
 * collisions at one chain). ------------------------------------------- */

static inline uint64_t rotl(uint64_t x, int b)
{
	return (x << b) | (x >> (64 - b));
}

#define SIPROUND(v0, v1, v2, v3)                                   \
	do {                                                       \
		v0 += v1; v1 = rotl(v1, 13); v1 ^= v0; v0 = rotl(v0, 32); \
		v2 += v3; v3 = rotl(v3, 16); v3 ^= v2;             \
		v0 += v3; v3 = rotl(v3, 21); v3 ^= v0;             \
		v2 += v1; v1 = rotl(v1, 17); v1 ^= v2; v2 = rotl(v2, 32); \
	} while (0)

uint64_t dn_tcp_siphash(const uint64_t key[2], const void *data, size_t len)
{
	const uint8_t *p = data;
	uint64_t v0 = 0x736f6d6570736575ull ^ key[0];
	uint64_t v1 = 0x646f72616e646f6dull ^ key[1];
	uint64_t v2 = 0x6c7967656e657261ull ^ key[0];
	uint64_t v3 = 0x7465646279746573ull ^ key[1];
	uint64_t b = (uint64_t)len << 56;
	size_t i = 0;

	for (; i + 8 <= len; i += 8) {
		uint64_t m = 0;
		for (int k = 0; k < 8; k++)
			m |= (uint64_t)p[i + k] << (8 * k);
		v3 ^= m;
		SIPROUND(v0, v1, v2, v3);
		SIPROUND(v0, v1, v2, v3);
		v0 ^= m;
	}
	for (int k = 0; i + k < len; k++)
		b |= (uint64_t)p[i + k] << (8 * k);
	v3 ^= b;
	SIPROUND(v0, v1, v2, v3);
	SIPROUND(v0, v1, v2, v3);
	v0 ^= b;
	v2 ^= 0xff;
	for (int k = 0; k < 4; k++)
		SIPROUND(v0, v1, v2, v3);
	return v0 ^ v1 ^ v2 ^ v3;
}

static uint64_t tuple_hash(const struct dn_tcp *t, uint32_t laddr,
			   uint16_t lport, uint32_t faddr, uint16_t fport,
			   uint32_t extra)
{
	uint32_t w[4] = { laddr, faddr, (uint32_t)lport << 16 | fport, extra };
	return dn_tcp_siphash(t->key, w, sizeof(w));
}

/* ---- the connection table's hash --------------------------------------
 * Every segment looks its connection up, so this hash must be cheap; it must
 * also be keyed, so a peer that picks addresses and ports cannot aim them all
 * at one chain.  Vector multiply-shift (Dietzfelbinger; Thorup, "High Speed
 * Hashing for Integers and Strings", 3.5): with 32-bit inputs x_i and
 * uniformly random 64-bit a_i and b,
 *     h(x) = ((a_0 x_0 + a_1 x_1 + a_2 x_2 + b) mod 2^64) >> (64 - l)
 * is strongly universal into l bits: for any two distinct 4-tuples the
 * chance of one bucket is 2^-l over the key.  We take the full 64-bit sum
 * through a mixing finaliser (below) and then the top l bits.  Four
 * multiplies and a few shifts instead of a SipHash-2-4 (~500 instructions
 * per segment).  The a_i and b
 * come from the SipHash secret, so dn_tcp_set_secret() renews them.  SipHash
 * stays for ISNs, port offsets and SYN cookies, which a peer can observe. */
static void flow_keys(struct dn_tcp *t)
{
	for (uint32_t i = 0; i < 4; i++) {
		uint32_t w[2] = { 0x466c6f77u /* "Flow" */, i };
		t->hkey[i] = dn_tcp_siphash(t->key, w, sizeof(w));
	}
}

static inline uint64_t flow_hash(const struct dn_tcp *t, uint32_t laddr,
				 uint16_t lport, uint32_t faddr, uint16_t fport)
{
	uint64_t h = t->hkey[0] * laddr + t->hkey[1] * faddr +
		     t->hkey[2] * ((uint32_t)lport << 16 | fport) + t->hkey[3];
	/* Multiply-shift alone maps an arithmetic progression (one client's
	 * consecutive ports) to a Weyl sequence, and for a few keys in a
	 * hundred (a_2 / 2^64 close to p/q, q in the thousands) that lands in
	 * q clusters: chains of 8-10 at load 0.76 were seen.  A bijective
	 * xor-shift-multiply finaliser breaks that lattice and keeps distinct
	 * sums distinct. */
	h ^= h >> 32;
	h *= 0xd6e8feb86659fd93ull;
	return h ^ (h >> 32);
}

static void rehash(struct dn_tcp *t, struct dn_tcp_conn **old);

/* ---- init / fini ---------------------------------------------------- */

int dn_tcp_init(struct dn_stack *st)
{
	struct dn_tcp *t = &st->tcp;
	memset(t, 0, sizeof(*t));
	struct dn_tcp_conf *c = &t->conf;
	/* The settings dillnetd.conf can change: the defaults of the one
	 * list (tcp_settings.h), the same the daemon starts with. */
#define DN_X(kind, name, field, scale, def, lo, hi, doc) \
	c->field = (__typeof__(c->field))DN_TCPSET_DEF_##kind(def, scale);
	DN_TCP_SETTINGS(DN_X)
#undef DN_X
	/* The rest are fixed. */
	c->mss_cap = 1460;
	c->rto_init_us = 1000000;
	c->rto_min_us = 200000;
	c->rto_max_us = 60000000ull;
	c->syn_retries = 6;
	c->max_retries = 15;
	c->keepalive = 0;
	c->sack = 1;
	c->timestamps = 1;
	c->wscale = 1;
	c->nodelay = 0;
	c->eph_lo = 32768;
	c->eph_hi = 60999;
	c->passive_rx_max = 1u << 20;
	c->rack = 1;
	c->tlp = 1;

	/* 16,384 buckets to start, whatever max_conns says; the table
	 * doubles as connections come (hash_grow), so a large limit costs
	 * nothing up front. */
	uint32_t bits = 14;
	t->ht = calloc((size_t)1 << bits, sizeof(*t->ht));
	if (!t->ht) {
		return ENOMEM;
	}
	t->ht_bits = (uint8_t)bits;
	t->ht_mask = (1u << bits) - 1;
	/* A placeholder key until dn_tcp_set_secret(): the core makes no OS
	 * calls, so it cannot fetch randomness itself. */
	t->key[0] = 0x9e3779b97f4a7c15ull ^ st->now_us;
	t->key[1] = (uint64_t)(uintptr_t)st ^ 0xc2b2ae3d27d4eb4full;
	flow_keys(t);
	t->wheel.tick = st->now_us / DN_TCP_WHEEL_TICK_US;
	t->wheel.far_tick = t->wheel.tick + DN_TCP_WHEEL_SLOTS / 2;
	return 0;
}

void dn_tcp_set_secret(struct dn_stack *st, const uint8_t key[16])
{
	uint64_t k[2] = { 0, 0 };
	for (int i = 0; i < 8; i++) {
		k[0] |= (uint64_t)key[i] << (8 * i);
		k[1] |= (uint64_t)key[8 + i] << (8 * i);
	}
	/* Rehash existing connections: the bucket depends on the key. */
	struct dn_tcp *t = &st->tcp;
	t->key[0] = k[0];
	t->key[1] = k[1];
	flow_keys(t);
	rehash(t, t->ht);
}

static void conn_free_now(struct dn_tcp_conn *c);

void dn_tcp_fini(struct dn_stack *st)
{
	struct dn_tcp *t = &st->tcp;
	/* Everything goes, reap list or not (its entries are still on the
	 * all list); freed() upcalls calling the API only mark things. */
	t->depth++;
	while (t->all) {
		struct dn_tcp_conn *c = t->all;
		c->flags |= DN_TCPF_FREED;
		conn_free_now(c);
	}
	t->reap = NULL;
	t->nreap = 0;
	t->depth = 0;
	dn_tcp_acct_fini(st);
	free(t->ht);
	t->ht = NULL;
}

/* ---- Rx bursts: one ACK per burst -------------------------------------
 * The daemon hands the stack the frames of one port Rx burst (up to 64)
 * between dn_tcp_rx_begin and dn_tcp_rx_end.  RFC 9293 3.8.6.3 and RFC
 * 1122 4.2.3.2 want an ACK for at least every second full-sized segment;
 * inside a burst that ACK is sent at the burst's end, microseconds later,
 * and covers every segment of the burst (what a GRO/LRO receiver does), so
 * a burst of in-order data costs one ACK instead of one per two segments,
 * and the sender processes one ACK instead of many.  Everything that must
 * be answered at once still is (out-of-order data, a hole filled, a FIN,
 * a full receive ring, window probes: they set DN_TCPF_ACK_NOW), and an
 * ACK never waits for more than DN_TCP_BURST_ACK_SEGS segments. */

bool dn_tcp_ack_at_burst_end(struct dn_tcp_conn *c)
{
	struct dn_tcp *t = &c->st->tcp;
	if (!t->in_burst || c->unacked_segs >= DN_TCP_BURST_ACK_SEGS)
		return false;
	if (c->flags & DN_TCPF_ACK_BURST)
		return true;
	if (t->nackq >= DN_TCP_ACKQ_MAX)
		return false;
	t->ackq[t->nackq++] = c;
	c->flags |= DN_TCPF_ACK_BURST;
	return true;
}

void dn_tcp_rx_begin(struct dn_stack *st)
{
	st->tcp.in_burst = true;
}

void dn_tcp_rx_end(struct dn_stack *st)
{
	struct dn_tcp *t = &st->tcp;
	t->in_burst = false;
	dn_tcp_enter(st);
	for (uint16_t i = 0; i < t->nackq; i++) {
		struct dn_tcp_conn *c = t->ackq[i];
		/* The flag goes when any segment carries the ACK (conn_emit);
		 * an entry without it is spent (or a repeat). */
		if (!c || !(c->flags & DN_TCPF_ACK_BURST))
			continue;
		c->flags &= ~DN_TCPF_ACK_BURST;
		if (!(c->flags & DN_TCPF_FREED))
			dn_tcp_send_ack(c);
	}
	t->nackq = 0;
	dn_tcp_leave(st);
}

/* ---- reentrancy: upcalls may call back into the API (and close the
 * connection being processed), so frees are deferred to the outermost
 * entry point. ------------------------------------------------------- */

void dn_tcp_enter(struct dn_stack *st)
{
	st->tcp.depth++;
}

void dn_tcp_leave(struct dn_stack *st)
{
	struct dn_tcp *t = &st->tcp;
	if (--t->depth > 0)
		return;
	if (t->over_cap) {
		t->depth++;
		dn_tcp_acct_enforce(st);
		t->depth--;
	}
	while (t->reap) {
		struct dn_tcp_conn *c = t->reap;
		t->reap = c->qnext;
		t->nreap--;
		t->depth++;
		conn_free_now(c);
		t->depth--;
	}
}

/* ---- tables --------------------------------------------------------- */

static struct dn_tcp_conn **bucket(struct dn_tcp *t, uint32_t laddr,
				   uint16_t lport, uint32_t faddr,
				   uint16_t fport)
{
	/* The top bits: multiply-shift's universality is for those. */
	return &t->ht[flow_hash(t, laddr, lport, faddr, fport) >>
		      (64 - t->ht_bits)];
}

/* Put every connection of the old chains `old` (the current table or its
 * predecessor) into t->ht, which is zeroed here. */
static void rehash(struct dn_tcp *t, struct dn_tcp_conn **old)
{
	uint32_t n = old == t->ht ? t->ht_mask + 1 : (t->ht_mask + 1) / 2;
	struct dn_tcp_conn *list = NULL;
	for (uint32_t i = 0; i < n; i++)
		while (old[i]) {
			struct dn_tcp_conn *c = old[i];
			old[i] = c->hnext;
			c->hnext = list;
			list = c;
		}
	memset(t->ht, 0, (t->ht_mask + 1) * sizeof(*t->ht));
	while (list) {
		struct dn_tcp_conn *c = list;
		list = c->hnext;
		struct dn_tcp_conn **b = bucket(t, c->laddr, c->lport,
						c->faddr, c->fport);
		c->hnext = *b;
		*b = c;
	}
}

/* Keep the load factor at most 1 (expected chain 1, longest O(log n /
 * log log n)): double the table when it fills.  Each doubling moves every
 * entry once, so the cost per insert is constant on average.  If memory is
 * short the old table stays: lookups get slower, not wrong. */
static void hash_grow(struct dn_tcp *t)
{
	if (t->ht_count <= t->ht_mask + 1 || t->ht_bits >= 31)
		return;
	struct dn_tcp_conn **nt = calloc((size_t)(t->ht_mask + 1) * 2,
					 sizeof(*nt));
	if (!nt)
		return;
	struct dn_tcp_conn **old = t->ht;
	t->ht = nt;
	t->ht_bits++;
	t->ht_mask = t->ht_mask * 2 + 1;
	rehash(t, old);
	free(old);
}

struct dn_tcp_conn *dn_tcp_lookup(struct dn_stack *st, uint32_t laddr,
				  uint16_t lport, uint32_t faddr,
				  uint16_t fport)
{
	struct dn_tcp *t = &st->tcp;
	for (struct dn_tcp_conn *c = *bucket(t, laddr, lport, faddr, fport); c;
	     c = c->hnext)
		if (c->lport == lport && c->fport == fport &&
		    c->laddr == laddr && c->faddr == faddr)
			return c;
	return NULL;
}

void dn_tcp_hash_insert(struct dn_tcp_conn *c)
{
	if (c->flags & DN_TCPF_IN_HASH)
		return;
	struct dn_tcp_conn **b = bucket(&c->st->tcp, c->laddr, c->lport,
					c->faddr, c->fport);
	c->hnext = *b;
	*b = c;
	c->flags |= DN_TCPF_IN_HASH;
	c->st->tcp.ht_count++;
	hash_grow(&c->st->tcp);
}

void dn_tcp_hash_remove(struct dn_tcp_conn *c)
{
	if (!(c->flags & DN_TCPF_IN_HASH))
		return;
	struct dn_tcp_conn **p = bucket(&c->st->tcp, c->laddr, c->lport,
					c->faddr, c->fport);
	for (; *p; p = &(*p)->hnext)
		if (*p == c) {
			*p = c->hnext;
			break;
		}
	c->hnext = NULL;
	c->flags &= ~DN_TCPF_IN_HASH;
	c->st->tcp.ht_count--;
}

static uint32_t lbucket(uint16_t port)
{
	return (port * 2654435761u >> 16) & (DN_TCP_LISTEN_BUCKETS - 1);
}

struct dn_tcp_conn *dn_tcp_lookup_listener(struct dn_stack *st,
					   uint32_t laddr, uint16_t lport)
{
	struct dn_tcp_conn *wild = NULL;
	for (struct dn_tcp_conn *c = st->tcp.listen[lbucket(lport)]; c;
	     c = c->hnext) {
		if (c->lport != lport)
			continue;
		if (c->laddr == laddr)
			return c;
		if (c->laddr == 0)
			wild = c;
	}
	return wild;
}

static bool port_in_use(struct dn_stack *st, uint16_t port)
{
	for (struct dn_tcp_conn *c = st->tcp.listen[lbucket(port)]; c;
	     c = c->hnext)
		if (c->lport == port)
			return true;
	return false;
}

/* ---- allocation ------------------------------------------------------ */

struct dn_tcp_conn *dn_tcp_conn_alloc(struct dn_stack *st)
{
	struct dn_tcp *t = &st->tcp;
	/* Released connections wait for the end of the entry point to be
	 * freed, but no longer count.  A full table first recycles the
	 * oldest TIME-WAIT entry (issue 10 item 3). */
	if (t->nconns - t->nreap >= t->conf.max_conns &&
	    !dn_tcp_acct_make_room(st))
		return NULL;
	struct dn_tcp_conn *c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->st = st;
	c->uid = DN_TCP_UID_NONE;
	c->state = DN_TCP_CLOSED;
	c->anext = t->all;
	if (t->all)
		t->all->aprev = c;
	t->all = c;
	t->nconns++;
	DN_TCP_CTR(st, CONNS_ALLOC);
	return c;
}

static void listener_unlink(struct dn_tcp_conn *l)
{
	struct dn_tcp_conn **p = &l->st->tcp.listen[lbucket(l->lport)];
	for (; *p; p = &(*p)->hnext)
		if (*p == l) {
			*p = l->hnext;
			break;
		}
}

/* Remove a child from its listener's accept queue. */
static void acceptq_remove(struct dn_tcp_conn *c)
{
	struct dn_tcp_conn *l = c->parent;
	if (!l || !(c->flags & DN_TCPF_ACCEPTQ))
		return;
	struct dn_tcp_conn *prev = NULL;
	for (struct dn_tcp_conn *x = l->aq_head; x; prev = x, x = x->qnext) {
		if (x != c)
			continue;
		if (prev)
			prev->qnext = x->qnext;
		else
			l->aq_head = x->qnext;
		if (l->aq_tail == x)
			l->aq_tail = prev;
		l->aq_len--;
		break;
	}
	c->qnext = NULL;
	c->flags &= ~DN_TCPF_ACCEPTQ;
}

static void child_detach(struct dn_tcp_conn *c)
{
	struct dn_tcp_conn *l = c->parent;
	if (!l)
		return;
	acceptq_remove(c);
	if (c->state == DN_TCP_SYN_RECEIVED && l->synq_len)
		l->synq_len--;
	c->parent = NULL;
}

static void conn_free_now(struct dn_tcp_conn *c)
{
	struct dn_stack *st = c->st;
	struct dn_tcp *t = &st->tcp;
	if (c->state == DN_TCP_LISTEN)
		listener_unlink(c);
	dn_tcp_hash_remove(c);
	/* Entries stay after an ACK went out early (flag cleared). */
	for (uint16_t i = 0; i < t->nackq; i++)
		if (t->ackq[i] == c)
			t->ackq[i] = NULL;
	child_detach(c);
	dn_tcp_timer_clear_all(c);
	if (c->aprev)
		c->aprev->anext = c->anext;
	else
		t->all = c->anext;
	if (c->anext)
		c->anext->aprev = c->aprev;
	t->nconns--;
	DN_TCP_CTR(st, CONNS_FREED);
	dn_tcp_acct_forget(c);
	bool tell = c->rx || c->tx || c->owner;
	void *owner = c->owner;
	if (tell && t->up && t->up->freed)
		t->up->freed(t->up_ctx, c, owner);
	dn_tcp_rack_free(c);
	free(c);
}

/* Queue for freeing at the end of the outermost entry point. */
static void conn_release(struct dn_tcp_conn *c)
{
	if (c->flags & DN_TCPF_FREED)
		return;
	struct dn_tcp *t = &c->st->tcp;
	c->flags |= DN_TCPF_FREED;
	c->flags &= ~DN_TCPF_OWNED;
	dn_tcp_hash_remove(c);
	child_detach(c);
	dn_tcp_timer_clear_all(c);
	if (c->state == DN_TCP_LISTEN) {
		listener_unlink(c);
		c->state = DN_TCP_CLOSED;
	}
	dn_tcp_acct_update(c);
	c->qnext = t->reap;
	t->reap = c;
	t->nreap++;
	if (t->depth == 0) {
		dn_tcp_enter(c->st);
		dn_tcp_leave(c->st);
	}
}

/* conf.tw_release: TIME-WAIT needs neither ring (all we sent is
 * acknowledged, nothing more can arrive, and its ACKs advertise from
 * rcv_adv without the rx ring), so an orphan hands them back now and
 * freed() is not called again when the connection goes. */
static void time_wait_release(struct dn_tcp_conn *c)
{
	struct dn_tcp *t = dn_tcp_of(c);
	if (!t->conf.tw_release || !(c->flags & DN_TCPF_ORPHAN) ||
	    (c->flags & (DN_TCPF_OWNED | DN_TCPF_FREED)) ||
	    !(c->rx || c->tx || c->owner))
		return;
	void *owner = c->owner;
	c->rx = c->tx = NULL;
	c->owner = NULL;
	if (t->up && t->up->freed)
		t->up->freed(t->up_ctx, c, owner);
}

void dn_tcp_set_state(struct dn_tcp_conn *c, int state)
{
	struct dn_tcp_conn *l = c->parent;
	if (l && c->state == DN_TCP_SYN_RECEIVED && state != DN_TCP_SYN_RECEIVED &&
	    l->synq_len)
		l->synq_len--;
	c->state = (uint8_t)state;
	if (state == DN_TCP_TIME_WAIT)
		time_wait_release(c);
	dn_tcp_acct_update(c);
}

void dn_tcp_done(struct dn_tcp_conn *c)
{
	dn_tcp_timer_clear_all(c);
	dn_tcp_hash_remove(c);
	dn_tcp_set_state(c, DN_TCP_CLOSED);
	if (!(c->flags & DN_TCPF_OWNED))
		conn_release(c);
}

static void ring_flag(struct dn_tcp_conn *c, uint32_t f)
{
	if (c->rx)
		dn_ring_set_flag(c->rx, f);
	if (c->tx)
		dn_ring_set_flag(c->tx, f);
}

void dn_tcp_drop_conn(struct dn_tcp_conn *c, int err)
{
	struct dn_tcp *t = dn_tcp_of(c);
	if (c->flags & DN_TCPF_FREED)
		return;
	bool connecting = c->state == DN_TCP_SYN_SENT ||
			  (c->state == DN_TCP_SYN_RECEIVED && !c->parent);
	if (connecting)
		DN_TCP_CTR(c->st, ATTEMPT_FAILS);
	c->soft_err = err;
	ring_flag(c, DN_RING_F_RESET);
	bool owned = c->flags & DN_TCPF_OWNED;
	dn_tcp_done(c);
	if (!owned || !t->up)
		return;
	if (connecting) {
		if (t->up->connected)
			t->up->connected(t->up_ctx, c, err);
	} else if (t->up->reset) {
		t->up->reset(t->up_ctx, c, err);
	}
}

/* ---- ISN (RFC 6528) and ports (RFC 6056) ---------------------------- */

uint32_t dn_tcp_isn(struct dn_stack *st, uint32_t laddr, uint16_t lport,
		    uint32_t faddr, uint16_t fport)
{
	/* ISN = M + F(localip, localport, remoteip, remoteport, secretkey),
	 * M a 4 us timer (RFC 6528 3). */
	uint32_t m = (uint32_t)(st->now_us / 4);
	return m + (uint32_t)tuple_hash(&st->tcp, laddr, lport, faddr, fport,
					0x6528);
}

/* RFC 6056 3.3.3 (algorithm 3, simple hash-based): the offset is a keyed
 * hash of the destination, next_ephemeral walks through the range. */
static int pick_port(struct dn_stack *st, uint32_t laddr, uint32_t faddr,
		     uint16_t fport, uint16_t *out)
{
	struct dn_tcp *t = &st->tcp;
	uint32_t lo = t->conf.eph_lo, hi = t->conf.eph_hi;
	if (lo == 0 || hi < lo)
		return -1;
	uint32_t num = hi - lo + 1;
	uint32_t offset = (uint32_t)tuple_hash(t, laddr, 0, faddr, fport, 0x6056);
	for (uint32_t count = 0; count < num; count++) {
		uint16_t port = (uint16_t)(lo + (t->next_ephemeral + offset) % num);
		t->next_ephemeral++;
		if (port_in_use(st, port))
			continue;
		if (faddr && dn_tcp_lookup(st, laddr, port, faddr, fport))
			continue;
		*out = port;
		return 0;
	}
	return -1;
}

/* ---- per-connection parameters ----------------------------------------- */

uint32_t dn_tcp_ts_now(const struct dn_tcp_conn *c)
{
	return (uint32_t)(c->st->now_us / (1000000 / DN_TCP_TS_HZ)) + c->ts_offset;
}

size_t dn_tcp_tx_queued(struct dn_tcp_conn *c)
{
	if (!c->tx)
		return 0;
	size_t n = dn_ring_readable(c->tx);
	if (n == DN_RING_CORRUPT) {
		DN_TCP_CTR(c->st, RING_CORRUPT);
		return 0;
	}
	return n;
}

size_t dn_tcp_rx_space(struct dn_tcp_conn *c)
{
	if (!c->rx)
		return 0;
	size_t n = dn_ring_writable(c->rx);
	if (n == DN_RING_CORRUPT) {
		DN_TCP_CTR(c->st, RING_CORRUPT);
		return 0;
	}
	return n;
}

/* Bytes the app has not read yet.  We are the rx ring's producer, so
 * this is size - writable (readable() is the consumer's call). */
size_t dn_tcp_rx_unread(struct dn_tcp_conn *c)
{
	size_t w = dn_ring_writable(c->rx);
	if (w == DN_RING_CORRUPT)
		return DN_RING_CORRUPT;
	return dn_ring_used(c->rx);
}

uint16_t dn_tcp_our_mss(struct dn_stack *st)
{
	/* RFC 6691 / 9293 3.7.1: MSS = MTU - fixed IP and TCP headers. */
	uint32_t mtu = st->conf.mtu ? st->conf.mtu : 1500;
	uint32_t m = mtu > 40 + DN_TCP_MIN_MSS ? mtu - 40 : DN_TCP_MIN_MSS;
	if (st->tcp.conf.mss_cap && m > st->tcp.conf.mss_cap)
		m = st->tcp.conf.mss_cap;
	return (uint16_t)m;
}

void dn_tcp_conn_init_params(struct dn_tcp_conn *c)
{
	struct dn_tcp *t = dn_tcp_of(c);
	c->rto_us = t->conf.rto_init_us;
	c->adv_mss = dn_tcp_our_mss(c->st);
	c->mss = DN_TCP_DEFAULT_MSS;
	c->peer_mss = DN_TCP_DEFAULT_MSS;
	c->cc = dn_tcp_cc_get(t->conf.cc);
	c->ssthresh = 0x7fffffff;
	if (t->conf.nodelay)
		c->flags |= DN_TCPF_NODELAY;
	if (t->conf.keepalive)
		c->flags |= DN_TCPF_KEEPALIVE;
	c->ts_offset = (uint32_t)tuple_hash(t, c->laddr, c->lport, c->faddr,
					    c->fport, 0x7323);
	c->last_rx_us = c->st->now_us;
}

/* RFC 6928: IW = min(10*MSS, max(2*MSS, 14600)) for 10 segments; other
 * configured counts are taken as they are. */
uint32_t dn_tcp_initial_window(const struct dn_tcp_conn *c)
{
	uint32_t mss = c->mss;
	uint32_t segs = c->st->tcp.conf.init_cwnd_segs;
	uint32_t iw = segs * mss;
	uint32_t cap = 2 * mss > 14600 ? 2 * mss : 14600;
	if (segs > 4 && iw > cap)
		iw = cap;
	if (iw < mss)
		iw = mss;
	return iw;
}

/* Both sides' options are known: effective MSS, windows, cwnd. */
void dn_tcp_established(struct dn_tcp_conn *c)
{
	struct dn_tcp *t = dn_tcp_of(c);
	uint32_t mss = c->peer_mss;
	if (mss > c->adv_mss)
		mss = c->adv_mss;
	if (c->pmtu_mss && mss > c->pmtu_mss)
		mss = c->pmtu_mss;
	/* RFC 6691: the MSS excludes options, so leave room for ours. */
	if (c->flags & DN_TCPF_TS)
		mss -= 12;
	if (mss < DN_TCP_MIN_MSS)
		mss = DN_TCP_MIN_MSS;
	c->mss = (uint16_t)mss;
	c->cwnd = dn_tcp_initial_window(c);
	c->last_tx_us = c->st->now_us;
	c->cc->init(c);
	DN_TCP_CTR(c->st, ESTABLISHED);
	if (c->flags & DN_TCPF_KEEPALIVE)
		dn_tcp_timer_set(c, DN_TCP_T_KEEPALIVE, t->conf.keepalive_idle_us);
}

/* ---- upcall helpers -------------------------------------------------- */

void dn_tcp_upcall_readable(struct dn_tcp_conn *c)
{
	struct dn_tcp *t = dn_tcp_of(c);
	if ((c->flags & DN_TCPF_OWNED) && t->up && t->up->readable)
		t->up->readable(t->up_ctx, c);
}

void dn_tcp_upcall_writable(struct dn_tcp_conn *c)
{
	struct dn_tcp *t = dn_tcp_of(c);
	if ((c->flags & DN_TCPF_OWNED) && t->up && t->up->writable)
		t->up->writable(t->up_ctx, c);
}

void dn_tcp_upcall_eof(struct dn_tcp_conn *c)
{
	struct dn_tcp *t = dn_tcp_of(c);
	if (c->flags & DN_TCPF_EOF_SENT)
		return;
	c->flags |= DN_TCPF_EOF_SENT;
	if (c->rx)
		dn_ring_set_flag(c->rx, DN_RING_F_EOF);
	if ((c->flags & DN_TCPF_OWNED) && t->up && t->up->eof)
		t->up->eof(t->up_ctx, c);
}

bool dn_tcp_child_established(struct dn_tcp_conn *c)
{
	struct dn_tcp *t = dn_tcp_of(c);
	struct dn_tcp_conn *l = c->parent;
	struct dn_ring *rx = NULL, *tx = NULL;
	void *owner = l ? l->owner : NULL;
	if (!l || !t->up || !t->up->attach ||
	    t->up->attach(t->up_ctx, l, c, &rx, &tx, &owner) != 0 || !rx || !tx) {
		DN_TCP_DROP(c->st, NO_MEMORY);
		return false;
	}
	c->rx = rx;
	c->tx = tx;
	c->owner = owner;
	/* Our SYN-ACK offered DN_TCP_SYN_WINDOW before the ring existed, and
	 * a window is never taken back (RFC 9293 3.8.6): a ring that starts
	 * smaller grows to hold it (it is empty, so at once). */
	while (rx->cap < rx->size && DN_SEQ_GT(c->rcv_adv, c->rcv_nxt + rx->cap) &&
	       dn_ring_grow(rx, rx->cap * 2) == 0)
		DN_TCP_CTR(c->st, RX_GROW);
	c->flags |= DN_TCPF_WAS_ATTACHED;
	c->tx_seq = c->iss + 1;
	c->flags |= DN_TCPF_ACCEPTQ;
	c->qnext = NULL;
	if (l->aq_tail)
		l->aq_tail->qnext = c;
	else
		l->aq_head = c;
	l->aq_tail = c;
	l->aq_len++;
	if (t->up->accept_ready && (l->flags & DN_TCPF_OWNED))
		t->up->accept_ready(t->up_ctx, l);
	return true;
}

/* ---- socket API -------------------------------------------------------- */

struct dn_tcp_conn *dn_tcp_listen(struct dn_stack *st, uint32_t ip,
				  uint16_t port, int backlog, void *owner,
				  int *err)
{
	int e = 0;
	struct dn_tcp_conn *c = NULL;
	dn_tcp_enter(st);
	if (ip && st->conf.ip4 && ip != st->conf.ip4) {
		e = EADDRNOTAVAIL;
		goto out;
	}
	if (port == 0) {
		if (pick_port(st, ip, 0, 0, &port) != 0) {
			e = EADDRINUSE;
			goto out;
		}
	} else if (port_in_use(st, port)) {
		e = EADDRINUSE;
		goto out;
	}
	c = dn_tcp_conn_alloc(st);
	if (!c) {
		e = ENOMEM;
		goto out;
	}
	c->laddr = ip;
	c->lport = port;
	c->state = DN_TCP_LISTEN;
	c->owner = owner;
	c->flags |= DN_TCPF_OWNED;
	if (backlog <= 0)
		backlog = 1;
	if (backlog > 65535)
		backlog = 65535;
	c->backlog = (uint32_t)backlog;
	uint32_t b = lbucket(port);
	c->hnext = st->tcp.listen[b];
	st->tcp.listen[b] = c;
out:
	if (err)
		*err = e;
	dn_tcp_leave(st);
	return c;
}

struct dn_tcp_conn *dn_tcp_connect(struct dn_stack *st, uint32_t dst_ip,
				   uint16_t dst_port, uint32_t src_ip,
				   struct dn_ring *rx, struct dn_ring *tx,
				   void *owner, int *err)
{
	return dn_tcp_connect_as(st, dst_ip, dst_port, src_ip, rx, tx, owner,
				 DN_TCP_UID_NONE, err);
}

struct dn_tcp_conn *dn_tcp_connect_as(struct dn_stack *st, uint32_t dst_ip,
				      uint16_t dst_port, uint32_t src_ip,
				      struct dn_ring *rx, struct dn_ring *tx,
				      void *owner, uint32_t uid, int *err)
{
	int e = 0;
	struct dn_tcp_conn *c = NULL;
	uint16_t lport;
	dn_tcp_enter(st);
	if (!dst_ip || !dst_port || !rx || !tx) {
		e = EINVAL;
		goto out;
	}
	if (!src_ip)
		src_ip = st->conf.ip4;
	if (!src_ip) {
		e = EADDRNOTAVAIL;
		goto out;
	}
	if (pick_port(st, src_ip, dst_ip, dst_port, &lport) != 0) {
		e = EADDRNOTAVAIL;
		goto out;
	}
	c = dn_tcp_conn_alloc(st);
	if (!c) {
		e = ENOMEM;
		goto out;
	}
	c->laddr = src_ip;
	c->lport = lport;
	c->faddr = dst_ip;
	c->fport = dst_port;
	c->rx = rx;
	c->tx = tx;
	c->owner = owner;
	c->flags |= DN_TCPF_OWNED | DN_TCPF_WAS_ATTACHED;
	dn_tcp_set_uid(c, uid);
	dn_tcp_conn_init_params(c);
	c->iss = dn_tcp_isn(st, src_ip, lport, dst_ip, dst_port);
	c->snd_una = c->iss;
	c->snd_nxt = c->iss;
	c->snd_max = c->iss;
	c->tx_seq = c->iss + 1;
	c->state = DN_TCP_SYN_SENT;
	dn_tcp_hash_insert(c);
	DN_TCP_CTR(st, ACTIVE_OPENS);
	dn_tcp_send_syn(c);
	if (c->soft_err == ENETUNREACH || c->soft_err == EADDRNOTAVAIL ||
	    c->soft_err == EHOSTUNREACH) {
		/* No route at all, or address resolution failed for this
		 * peer moments ago: fail now rather than after retries. */
		e = c->soft_err;
		c->flags &= ~DN_TCPF_OWNED;
		c->rx = c->tx = NULL;
		c->owner = NULL;
		dn_tcp_done(c);
		c = NULL;
	}
out:
	if (err)
		*err = e;
	dn_tcp_leave(st);
	return c;
}

struct dn_tcp_conn *dn_tcp_accept(struct dn_tcp_conn *l, void *owner)
{
	if (!l || l->state != DN_TCP_LISTEN || !l->aq_head)
		return NULL;
	struct dn_tcp_conn *c = l->aq_head;
	acceptq_remove(c);
	c->parent = NULL;
	c->flags |= DN_TCPF_OWNED;
	if (owner)
		c->owner = owner;
	return c;
}

void dn_tcp_output_kick(struct dn_tcp_conn *c)
{
	if (!c || (c->flags & DN_TCPF_FREED))
		return;
	struct dn_stack *st = c->st;
	dn_tcp_enter(st);
	switch (c->state) {
	case DN_TCP_ESTABLISHED:
	case DN_TCP_CLOSE_WAIT:
	case DN_TCP_FIN_WAIT_1:
	case DN_TCP_FIN_WAIT_2:
	case DN_TCP_CLOSING:
	case DN_TCP_LAST_ACK:
		dn_tcp_output(c);
		break;
	default:
		break;
	}
	dn_tcp_leave(st);
}

void dn_tcp_shutdown_wr(struct dn_tcp_conn *c)
{
	if (!c || (c->flags & (DN_TCPF_FREED | DN_TCPF_FIN_QUEUED)))
		return;
	struct dn_stack *st = c->st;
	dn_tcp_enter(st);
	c->flags |= DN_TCPF_FIN_QUEUED;
	switch (c->state) {
	case DN_TCP_ESTABLISHED:
		dn_tcp_set_state(c, DN_TCP_FIN_WAIT_1);
		dn_tcp_output(c);
		break;
	case DN_TCP_CLOSE_WAIT:
		dn_tcp_set_state(c, DN_TCP_LAST_ACK);
		dn_tcp_output(c);
		break;
	default:
		/* SYN-SENT / SYN-RECEIVED: the FIN goes out once established
		 * (RFC 9293 3.10.4 lets us queue it). */
		break;
	}
	dn_tcp_leave(st);
}

void dn_tcp_abort(struct dn_tcp_conn *c)
{
	if (!c || (c->flags & DN_TCPF_FREED))
		return;
	struct dn_stack *st = c->st;
	dn_tcp_enter(st);
	if (c->state == DN_TCP_LISTEN) {
		dn_tcp_leave(st);
		dn_tcp_close(c);
		return;
	}
	/* RFC 9293 3.10.5: RST in SYN-RECEIVED and synchronized states. */
	if (c->state >= DN_TCP_SYN_RECEIVED && c->state != DN_TCP_TIME_WAIT)
		dn_tcp_send_rst_conn(c);
	ring_flag(c, DN_RING_F_RESET);
	c->flags &= ~DN_TCPF_OWNED;
	dn_tcp_done(c);
	dn_tcp_leave(st);
}

static void close_listener(struct dn_tcp_conn *l)
{
	/* Unaccepted connections die with the listener: established ones get
	 * a RST (they had a handshake), half-open ones just go. */
	for (struct dn_tcp_conn *c = l->st->tcp.all; c; c = c->anext) {
		if (c->parent != l || (c->flags & DN_TCPF_FREED))
			continue;
		if (c->state != DN_TCP_SYN_RECEIVED)
			dn_tcp_send_rst_conn(c);
		dn_tcp_done(c);
	}
	conn_release(l);
}

void dn_tcp_close(struct dn_tcp_conn *c)
{
	if (!c || (c->flags & DN_TCPF_FREED))
		return;
	struct dn_stack *st = c->st;
	dn_tcp_enter(st);
	c->flags &= ~DN_TCPF_OWNED;
	c->flags |= DN_TCPF_ORPHAN;
	dn_tcp_acct_update(c);
	switch (c->state) {
	case DN_TCP_LISTEN:
		close_listener(c);
		break;
	case DN_TCP_CLOSED:
	case DN_TCP_SYN_SENT:
		dn_tcp_done(c);
		break;
	case DN_TCP_TIME_WAIT:
		time_wait_release(c);
		break;   /* finishes on its own */
	default: {
		/* RFC 2525 2.17 / kernel practice: unread data means the app
		 * did not take everything: RST instead of FIN. */
		size_t unread = c->rx ? dn_tcp_rx_unread(c) : 0;
		if (unread == DN_RING_CORRUPT || unread > 0 ||
		    c->state == DN_TCP_SYN_RECEIVED) {
			dn_tcp_send_rst_conn(c);
			ring_flag(c, DN_RING_F_RESET);
			dn_tcp_done(c);
			break;
		}
		if (!(c->flags & DN_TCPF_FIN_QUEUED)) {
			c->flags |= DN_TCPF_FIN_QUEUED;
			if (c->state == DN_TCP_ESTABLISHED)
				dn_tcp_set_state(c, DN_TCP_FIN_WAIT_1);
			else if (c->state == DN_TCP_CLOSE_WAIT)
				dn_tcp_set_state(c, DN_TCP_LAST_ACK);
			dn_tcp_output(c);
		}
		/* An orphan in FIN-WAIT-2 does not wait forever. */
		if (c->state == DN_TCP_FIN_WAIT_2)
			dn_tcp_timer_set(c, DN_TCP_T_LINGER,
					 dn_tcp_of(c)->conf.fin_wait_2_us);
		break;
	}
	}
	dn_tcp_leave(st);
}

void dn_tcp_set_nodelay(struct dn_tcp_conn *c, int on)
{
	if (on)
		c->flags |= DN_TCPF_NODELAY;
	else
		c->flags &= ~DN_TCPF_NODELAY;
	if (on)
		dn_tcp_output_kick(c);
}

void dn_tcp_set_keepalive(struct dn_tcp_conn *c, int on)
{
	if (on) {
		c->flags |= DN_TCPF_KEEPALIVE;
		if (dn_tcp_synchronized(c) && c->state != DN_TCP_TIME_WAIT)
			dn_tcp_timer_set(c, DN_TCP_T_KEEPALIVE,
					 dn_tcp_of(c)->conf.keepalive_idle_us);
	} else {
		c->flags &= ~DN_TCPF_KEEPALIVE;
		dn_tcp_timer_clear(c, DN_TCP_T_KEEPALIVE);
	}
}

/* ---- introspection ----------------------------------------------------- */

int dn_tcp_state(const struct dn_tcp_conn *c)
{
	return c->state;
}

void *dn_tcp_owner(const struct dn_tcp_conn *c)
{
	return c->owner;
}

void dn_tcp_get_addrs(const struct dn_tcp_conn *c, uint32_t *lip,
		      uint16_t *lport, uint32_t *rip, uint16_t *rport)
{
	if (lip)
		*lip = c->laddr;
	if (lport)
		*lport = c->lport;
	if (rip)
		*rip = c->faddr;
	if (rport)
		*rport = c->fport;
}

void dn_tcp_get_info(const struct dn_tcp_conn *cc, struct dn_tcp_conn_info *i)
{
	struct dn_tcp_conn *c = (struct dn_tcp_conn *)cc;
	memset(i, 0, sizeof(*i));
	i->state = c->state;
	i->local_ip = c->laddr;
	i->remote_ip = c->faddr;
	i->local_port = c->lport;
	i->remote_port = c->fport;
	if (c->tx && c->state != DN_TCP_LISTEN) {
		size_t q = dn_tcp_tx_queued(c);
		uint32_t sent = c->snd_nxt - c->tx_seq;
		if (DN_SEQ_LT(c->snd_nxt, c->tx_seq))
			sent = 0;
		if (sent > q)
			sent = (uint32_t)q;
		i->send_q = (uint32_t)q;
		i->unsent = (uint32_t)q - sent;
	}
	if (c->rx && c->state != DN_TCP_LISTEN) {
		i->recv_q = (uint32_t)dn_tcp_rx_unread(c);
	}
	if (c->state == DN_TCP_LISTEN) {
		i->recv_q = c->aq_len;
		i->send_q = c->backlog;
	}
	i->snd_wnd = c->snd_wnd;
	i->rcv_wnd = c->rcv_adv - c->rcv_nxt;
	i->cwnd = c->cwnd;
	i->ssthresh = c->ssthresh;
	i->mss = c->mss;
	i->srtt_us = c->srtt_us;
	i->rttvar_us = c->rttvar_us;
	i->rto_us = c->rto_us;
	i->retransmits = c->retransmits;
	i->backoff = c->backoff;
	i->cc = c->cc == &dn_tcp_cc_newreno ? DN_TCP_CC_NEWRENO : DN_TCP_CC_CUBIC;
	i->sack = !!(c->flags & DN_TCPF_SACK);
	i->timestamps = !!(c->flags & DN_TCPF_TS);
	i->wscale_snd = (c->flags & DN_TCPF_WS) ? c->snd_wscale : -1;
	i->wscale_rcv = (c->flags & DN_TCPF_WS) ? c->rcv_wscale : -1;
	i->owner = c->owner;
}

void dn_tcp_foreach(struct dn_stack *st,
		    int (*cb)(const struct dn_tcp_conn_info *i, void *arg),
		    void *arg)
{
	struct dn_tcp_conn_info info;
	for (struct dn_tcp_conn *c = st->tcp.all; c; c = c->anext) {
		if (c->flags & DN_TCPF_FREED)
			continue;
		dn_tcp_get_info(c, &info);
		if (cb(&info, arg))
			break;
	}
}

void dn_tcp_counters_foreach(const struct dn_stack *st,
			     void (*cb)(const char *name, uint64_t value,
					void *arg),
			     void *arg)
{
	/* Emitted as tcp_<name>: readers select counters by prefix
	 * (dillnetctl show counters tcp), as for the other layers. */
	char buf[64];
	for (int i = 0; i < DN_TCP_NCOUNTERS + DN_TCP_NDROPS; i++) {
		const char *n = i < DN_TCP_NCOUNTERS ? counter_names[i]
			: drop_names[i - DN_TCP_NCOUNTERS];
		size_t k = 0;
		for (const char *p = "tcp_"; *p; p++)
			buf[k++] = *p;
		for (; *n && k < sizeof(buf) - 1; n++)
			buf[k++] = *n;
		buf[k] = 0;
		cb(buf, i < DN_TCP_NCOUNTERS ? st->tcp.ctr[i]
		   : st->tcp.drop[i - DN_TCP_NCOUNTERS], arg);
	}
	/* Gauges: what the caps apply to, now. */
	cb("tcp_time_wait_now", st->tcp.tw.n, arg);
	cb("tcp_orphans_now", st->tcp.orph.n, arg);
}

uint64_t dn_tcp_poll(struct dn_stack *st)
{
	dn_tcp_enter(st);
	uint64_t r = dn_tcp_wheel_poll(st);
	dn_tcp_leave(st);
	return r;
}
