/*
 * ARP (RFC 826) for IPv4 over Ethernet, with the cache behaviour of
 * RFC 1122 2.3.2: entries age out, a bounded number of requests is sent
 * (at most one per second per address, 2.3.2.1), and only a few frames
 * wait for a resolution (2.3.2.2, "SHOULD save at least one").
 *
 * The cache is a fixed table of DN_ARP_ENTRIES with hash chains, so an
 * entry never moves and its pending frames hang off it by index.
 *
 * States: INCOMPLETE (request sent, frames may wait) -> REACHABLE (learned
 * or confirmed) -> STALE after DN_ARP_REACHABLE_US (still used; using it
 * sends a refresh request at most once a second) -> evicted after another
 * DN_ARP_STALE_US without confirmation.  An INCOMPLETE entry that gets no
 * reply after DN_ARP_MAX_TRIES requests becomes FAILED: its frames are
 * dropped and sends answer EHOSTUNREACH until it is freed DN_ARP_FAILED_US
 * later.
 *
 * A full table evicts what costs least to lose: failed entries, then
 * unresolved ones, then stale, then reachable, least recently used first
 * within a rank; the gateway's entry is never evicted for another (every
 * off-link peer depends on it).  Unresolved work is bounded per source
 * (l3.h: DN_ARP_*_PER_SRC), so an app resolving unused on-link addresses
 * only ever displaces its own attempts, never a neighbour in use.
 */
#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "stack.h"

#define ARP_LEN 28

static const uint8_t bcast_mac[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };

static unsigned arp_hash(uint32_t ip)
{
	return (uint32_t)(ip * 2654435761u) >> 26;   /* 64 buckets */
}

_Static_assert(DN_ARP_BUCKETS == 64, "arp_hash assumes 64 buckets");
_Static_assert(DN_ARP_ENTRIES < DN_ARP_NIL, "entry index fits in u16");

static void set_timer(struct dn_l3 *l3, struct dn_arp_entry *e, uint64_t t)
{
	e->timer_us = t;
	if (t < l3->arp_next_us)
		l3->arp_next_us = t;
}

void dn_arp_init(struct dn_stack *st)
{
	struct dn_l3 *l3 = &st->l3;
	for (unsigned i = 0; i < DN_ARP_BUCKETS; i++)
		l3->arp_bucket[i] = DN_ARP_NIL;
	for (unsigned i = 0; i < DN_ARP_ENTRIES; i++) {
		l3->arp[i].state = DN_ARP_FREE;
		l3->arp[i].next = (uint16_t)(i + 1 < DN_ARP_ENTRIES ? i + 1 : DN_ARP_NIL);
	}
	l3->arp_free = 0;
	l3->arp_used = 0;
	l3->arp_next_us = UINT64_MAX;
	for (unsigned i = 0; i < DN_ARP_QUEUE_TOTAL; i++)
		l3->pend[i].next = (uint16_t)(i + 1 < DN_ARP_QUEUE_TOTAL ? i + 1 : DN_ARP_NIL);
	l3->pend_free = 0;
	l3->pend_used = 0;
	l3->tx_src = DN_L3_SRC_NONE;
}

/* The source charged for a frame to next hop nh (see l3.h). */
static uint32_t src_key(const struct dn_l3 *l3, uint32_t nh)
{
	if (l3->tx_src != DN_L3_SRC_NONE && l3->tx_src < DN_L3_SRC_BUCKET)
		return l3->tx_src;
	return DN_L3_SRC_BUCKET | arp_hash(nh);
}

static struct dn_arp_entry *lookup(struct dn_l3 *l3, uint32_t ip)
{
	for (uint16_t i = l3->arp_bucket[arp_hash(ip)]; i != DN_ARP_NIL;
	     i = l3->arp[i].next)
		if (l3->arp[i].ip == ip)
			return &l3->arp[i];
	return NULL;
}

/* Drop every frame waiting on e; returns how many. */
static unsigned queue_drop(struct dn_stack *st, struct dn_arp_entry *e)
{
	struct dn_l3 *l3 = &st->l3;
	unsigned n = 0;
	uint16_t i = e->q_head;
	while (i != DN_ARP_NIL) {
		struct dn_arp_pending *p = &l3->pend[i];
		uint16_t nx = p->next;
		st->io->release(st->io_ctx, p->frame);
		p->frame = NULL;
		p->next = l3->pend_free;
		l3->pend_free = i;
		l3->pend_used--;
		n++;
		i = nx;
	}
	e->q_head = e->q_tail = DN_ARP_NIL;
	e->q_len = 0;
	return n;
}

/* Resolution of e failed: every frame waiting on it is dropped, and TCP
 * hears about each of its own as if an ICMP host unreachable had come back
 * for it (what the kernel does on a neighbour failure), so a connection
 * attempt to a host that never answers fails now with EHOSTUNREACH.  The
 * entry is FAILED already: anything TCP sends meanwhile is refused, not
 * queued here again. */
static unsigned queue_fail(struct dn_stack *st, struct dn_arp_entry *e)
{
	struct dn_l3 *l3 = &st->l3;
	unsigned n = 0;
	uint16_t i = e->q_head;
	e->q_head = e->q_tail = DN_ARP_NIL;
	e->q_len = 0;
	while (i != DN_ARP_NIL) {
		struct dn_arp_pending *p = &l3->pend[i];
		uint16_t nx = p->next;
		void *frame = p->frame;
		const uint8_t *d = p->data;
		uint16_t len = p->len;
		p->frame = NULL;
		p->next = l3->pend_free;
		l3->pend_free = i;
		l3->pend_used--;
		/* Ethernet II, IPv4 from us, TCP, header plus 8 bytes. */
		if (len >= 14 + 20 + 8 && d[12] == 0x08 && d[13] == 0x00 &&
		    d[14] >> 4 == 4 && d[14 + 9] == 6 &&
		    (size_t)len >= 14 + (size_t)(d[14] & 0x0f) * 4 + 8)
			dn_tcp_icmp_error(st, 3, 1, d + 14, (size_t)len - 14);
		st->io->release(st->io_ctx, frame);
		n++;
		i = nx;
	}
	return n;
}

/* Send every frame waiting on e, oldest first, to its (now known) MAC. */
static void queue_flush(struct dn_stack *st, struct dn_arp_entry *e)
{
	struct dn_l3 *l3 = &st->l3;
	uint16_t i = e->q_head;
	e->q_head = e->q_tail = DN_ARP_NIL;
	e->q_len = 0;
	while (i != DN_ARP_NIL) {
		struct dn_arp_pending *p = &l3->pend[i];
		uint16_t nx = p->next;
		void *frame = p->frame;
		memcpy(p->data, e->mac, 6);
		p->frame = NULL;
		p->next = l3->pend_free;
		l3->pend_free = i;
		l3->pend_used--;
		st->io->xmit(st->io_ctx, frame, p->len);
		i = nx;
	}
}

static void entry_free(struct dn_stack *st, struct dn_arp_entry *e)
{
	struct dn_l3 *l3 = &st->l3;
	uint16_t idx = (uint16_t)(e - l3->arp);
	uint16_t *pp = &l3->arp_bucket[arp_hash(e->ip)];
	while (*pp != DN_ARP_NIL && *pp != idx)
		pp = &l3->arp[*pp].next;
	if (*pp == idx)
		*pp = e->next;
	l3->c.arp_resolve_dropped += queue_drop(st, e);
	memset(e, 0, sizeof *e);
	e->state = DN_ARP_FREE;
	e->next = l3->arp_free;
	l3->arp_free = idx;
	l3->arp_used--;
}

/* Rank for eviction when the table is full: lower goes first.  An entry
 * that never resolved costs nothing to lose (a request is all it took);
 * a reachable one carries traffic.  Among unresolved entries, the new
 * entry's source gives up its own first, so a source that keeps asking
 * about unused addresses churns through its own attempts, not others'. */
static int evict_rank(const struct dn_arp_entry *e, uint32_t src)
{
	switch (e->state) {
	case DN_ARP_FAILED:     return 0;
	case DN_ARP_INCOMPLETE: return e->src == src ? 1 : 2;
	case DN_ARP_STALE:      return 3;
	default:                return 4;   /* REACHABLE */
	}
}

static struct dn_arp_entry *entry_new(struct dn_stack *st, uint32_t ip,
				      uint32_t src)
{
	struct dn_l3 *l3 = &st->l3;
	if (l3->arp_free == DN_ARP_NIL) {
		/* Full: evict the least useful entry, least recently used
		 * first within a rank.  The gateway is pinned. */
		struct dn_arp_entry *v = NULL;
		for (unsigned i = 0; i < DN_ARP_ENTRIES; i++) {
			struct dn_arp_entry *e = &l3->arp[i];
			if (st->conf.gateway && e->ip == st->conf.gateway)
				continue;
			int re = evict_rank(e, src), rv = v ? evict_rank(v, src) : 0;
			if (!v || re < rv || (re == rv && e->used_us < v->used_us))
				v = e;
		}
		l3->c.arp_evicted++;
		entry_free(st, v);
	}
	uint16_t idx = l3->arp_free;
	struct dn_arp_entry *e = &l3->arp[idx];
	l3->arp_free = e->next;
	l3->arp_used++;
	memset(e, 0, sizeof *e);
	e->ip = ip;
	e->q_head = e->q_tail = DN_ARP_NIL;
	e->updated_us = st->now_us;
	e->used_us = st->now_us;
	unsigned h = arp_hash(ip);
	e->next = l3->arp_bucket[h];
	l3->arp_bucket[h] = idx;
	return e;
}

static void entry_confirm(struct dn_stack *st, struct dn_arp_entry *e,
			  const uint8_t *mac)
{
	memcpy(e->mac, mac, 6);
	e->state = DN_ARP_REACHABLE;
	e->tries = 0;
	e->updated_us = st->now_us;
	set_timer(&st->l3, e, st->now_us + DN_ARP_REACHABLE_US);
	st->l3.c.arp_learned++;
	if (e->q_len)
		queue_flush(st, e);
}

/* ---- output ------------------------------------------------------------- */

void dn_arp_send(struct dn_stack *st, uint16_t op, const uint8_t *tha,
		 uint32_t tpa, const uint8_t *eth_dst)
{
	uint8_t *d;
	uint16_t cap;
	void *frame = st->io->alloc(st->io_ctx, &d, &cap);
	if (!frame) {
		st->l3.c.tx_alloc_fail++;
		return;
	}
	if (cap < DN_ETH_HLEN + ARP_LEN) {
		st->io->release(st->io_ctx, frame);
		st->l3.c.tx_alloc_fail++;
		return;
	}
	memcpy(d, eth_dst ? eth_dst : bcast_mac, 6);
	memcpy(d + 6, st->conf.mac, 6);
	dn_put16(d + 12, DN_ETH_P_ARP);
	uint8_t *a = d + DN_ETH_HLEN;
	dn_put16(a, 1);                 /* htype Ethernet */
	dn_put16(a + 2, DN_ETH_P_IP);   /* ptype IPv4 */
	a[4] = 6;
	a[5] = 4;
	dn_put16(a + 6, op);
	memcpy(a + 8, st->conf.mac, 6);
	dn_put32(a + 14, st->conf.ip4);
	if (tha)
		memcpy(a + 18, tha, 6);
	else
		memset(a + 18, 0, 6);
	dn_put32(a + 24, tpa);
	uint16_t len = DN_ETH_HLEN + ARP_LEN;
	if (cap >= DN_ETH_ZLEN) {
		memset(d + len, 0, DN_ETH_ZLEN - len);
		len = DN_ETH_ZLEN;
	}
	st->io->xmit(st->io_ctx, frame, len);
}

static void send_request(struct dn_stack *st, uint32_t ip)
{
	st->l3.c.arp_tx_request++;
	dn_arp_send(st, 1, NULL, ip, NULL);
}

void dn_stack_announce(struct dn_stack *st)
{
	if (st->conf.ip4 == 0)
		return;
	/* RFC 5227 2.3: an ARP request with sender and target IP both ours
	 * and a zero target MAC, broadcast. */
	st->l3.c.arp_tx_gratuitous++;
	dn_arp_send(st, 1, NULL, st->conf.ip4, NULL);
}

static int queue_add(struct dn_stack *st, struct dn_arp_entry *e,
		     void *frame, uint8_t *data, uint16_t len)
{
	struct dn_l3 *l3 = &st->l3;
	if (e->q_len >= DN_ARP_QUEUE_PER || l3->pend_free == DN_ARP_NIL) {
		l3->c.arp_queue_overflow++;
		st->io->release(st->io_ctx, frame);
		return ENOBUFS;
	}
	uint32_t src = src_key(l3, e->ip);
	unsigned mine = 0;
	for (unsigned k = 0; k < DN_ARP_QUEUE_TOTAL; k++)
		if (l3->pend[k].frame && l3->pend[k].src == src)
			mine++;
	if (mine >= DN_ARP_QUEUE_PER_SRC) {
		l3->c.arp_queue_src_limited++;
		st->io->release(st->io_ctx, frame);
		return ENOBUFS;
	}
	uint16_t i = l3->pend_free;
	struct dn_arp_pending *p = &l3->pend[i];
	l3->pend_free = p->next;
	l3->pend_used++;
	p->src = src;
	p->frame = frame;
	p->data = data;
	p->len = len;
	p->next = DN_ARP_NIL;
	if (e->q_tail == DN_ARP_NIL)
		e->q_head = i;
	else
		l3->pend[e->q_tail].next = i;
	e->q_tail = i;
	e->q_len++;
	l3->c.arp_queued++;
	return 0;
}

/*
 * Every request is sent last, after the entry and the frame are in their
 * final place: io->xmit may feed a reply back into the stack before it
 * returns (two stacks wired directly), and that reply must find the frame
 * queued so it can flush it.
 */
/* May src start resolving another address?  Each source may have
 * DN_ARP_INCOMPLETE_PER_SRC unresolved entries.  When all sources
 * together reach DN_ARP_INCOMPLETE_MAX, a source with fewer than the
 * busiest one takes the busiest one's oldest attempt; otherwise it waits
 * (its frame is dropped and the sender retries, as after any loss). */
static void full_table_make_room(struct dn_stack *st, uint32_t src,
				 const uint16_t *idx, unsigned n, unsigned mine);

static bool incomplete_admit(struct dn_stack *st, uint32_t src)
{
	struct dn_l3 *l3 = &st->l3;
	uint16_t idx[DN_ARP_ENTRIES];
	unsigned n = 0, mine = 0;
	for (unsigned i = 0; i < DN_ARP_ENTRIES; i++) {
		if (l3->arp[i].state != DN_ARP_INCOMPLETE)
			continue;
		idx[n++] = (uint16_t)i;
		if (l3->arp[i].src == src)
			mine++;
	}
	if (mine >= DN_ARP_INCOMPLETE_PER_SRC) {
		l3->c.arp_src_limited++;
		return false;
	}
	if (n < DN_ARP_INCOMPLETE_MAX) {
		if (l3->arp_free == DN_ARP_NIL)
			full_table_make_room(st, src, idx, n, mine);
		return true;
	}
	/* The busiest source (at most DN_ARP_INCOMPLETE_MAX entries to
	 * compare, and only when the cap is reached). */
	struct dn_arp_entry *v = NULL;
	unsigned vcount = 0;
	for (unsigned a = 0; a < n; a++) {
		struct dn_arp_entry *e = &l3->arp[idx[a]];
		unsigned cnt = 0;
		for (unsigned b = 0; b < n; b++)
			if (l3->arp[idx[b]].src == e->src)
				cnt++;
		if (cnt > vcount || (cnt == vcount && e->updated_us < v->updated_us)) {
			v = e;
			vcount = cnt;
		}
	}
	if (!v || vcount <= mine) {
		l3->c.arp_src_limited++;
		return false;
	}
	l3->c.arp_incomplete_evicted++;
	entry_free(st, v);
	return true;
}

/* The table is full and src may start another resolution: free the entry
 * it takes.  In order: a failed entry; src's own oldest attempt; the
 * oldest attempt of a source with at least two more than src; only then
 * the least recently used stale, then reachable entry (never the
 * gateway's).  A source that keeps asking about unused addresses so holds
 * one entry and churns through it, and another source's single attempt
 * is not pushed out by it.  idx/n: the unresolved entries, mine: src's. */
static void full_table_make_room(struct dn_stack *st, uint32_t src,
				 const uint16_t *idx, unsigned n, unsigned mine)
{
	struct dn_l3 *l3 = &st->l3;
	struct dn_arp_entry *v = NULL, *own = NULL, *other = NULL;
	for (unsigned i = 0; i < DN_ARP_ENTRIES; i++) {
		struct dn_arp_entry *e = &l3->arp[i];
		if (e->state == DN_ARP_FAILED && (!v || e->used_us < v->used_us))
			v = e;
	}
	for (unsigned a = 0; !v && a < n; a++) {
		struct dn_arp_entry *e = &l3->arp[idx[a]];
		if (e->src == src) {
			if (!own || e->updated_us < own->updated_us)
				own = e;
			continue;
		}
		unsigned cnt = 0;
		for (unsigned b = 0; b < n; b++)
			if (l3->arp[idx[b]].src == e->src)
				cnt++;
		if (cnt >= mine + 2 && (!other || e->updated_us < other->updated_us))
			other = e;
	}
	if (!v)
		v = own ? own : other;
	/* Last, stale before reachable, least recently used first. */
	for (unsigned k = 0; !own && !other && k < DN_ARP_ENTRIES; k++) {
		struct dn_arp_entry *e = &l3->arp[k];
		if (e->state != DN_ARP_STALE && e->state != DN_ARP_REACHABLE)
			continue;
		if (st->conf.gateway && e->ip == st->conf.gateway)
			continue;
		if (v && v->state == DN_ARP_FAILED)
			break;
		bool es = e->state == DN_ARP_STALE, vs = v && v->state == DN_ARP_STALE;
		if (!v || (es && !vs) || (es == vs && e->used_us < v->used_us))
			v = e;
	}
	if (!v)
		return;   /* entry_new's own rule then applies */
	l3->c.arp_evicted++;
	entry_free(st, v);
}

int dn_arp_output(struct dn_stack *st, uint32_t nh, void *frame,
		  uint8_t *data, uint16_t len)
{
	struct dn_l3 *l3 = &st->l3;
	struct dn_arp_entry *e = lookup(l3, nh);
	if (!e) {
		uint32_t src = src_key(l3, nh);
		if (!incomplete_admit(st, src)) {
			st->io->release(st->io_ctx, frame);
			return ENOBUFS;
		}
		e = entry_new(st, nh, src);
		e->src = src;
		e->state = DN_ARP_INCOMPLETE;
		e->tries = 1;
		set_timer(l3, e, st->now_us + DN_ARP_RETRY_US);
		int r = queue_add(st, e, frame, data, len);
		send_request(st, nh);
		return r;
	}
	switch (e->state) {
	case DN_ARP_REACHABLE:
	case DN_ARP_STALE:
		e->used_us = st->now_us;
		memcpy(data, e->mac, 6);
		st->io->xmit(st->io_ctx, frame, len);
		/* A stale entry is still used, and asked about again, at
		 * most once a second (RFC 1122 2.3.2.1).  Look it up anew:
		 * the xmit above may have changed the cache. */
		e = lookup(l3, nh);
		if (e && e->state == DN_ARP_STALE &&
		    (st->now_us - e->refresh_us >= DN_ARP_REFRESH_US ||
		     e->refresh_us == 0)) {
			e->refresh_us = st->now_us;
			send_request(st, nh);
		}
		return 0;
	case DN_ARP_FAILED:
		l3->c.arp_unreachable++;
		st->io->release(st->io_ctx, frame);
		return EHOSTUNREACH;
	default: /* INCOMPLETE */
		return queue_add(st, e, frame, data, len);
	}
}

/* ---- input -------------------------------------------------------------- */

static int bad_sender_ip(const struct dn_stack *st, uint32_t a)
{
	uint8_t top = (uint8_t)(a >> 24);
	return top == 127 || top >= 224 || dn_ip4_is_bcast(st, a);
}

void dn_arp_input(struct dn_stack *st, const uint8_t *a, size_t len)
{
	struct dn_l3 *l3 = &st->l3;
	l3->c.arp_rx++;
	/* Trailing bytes (Ethernet padding) are ignored. */
	if (len < ARP_LEN || dn_get16(a) != 1 || dn_get16(a + 2) != DN_ETH_P_IP ||
	    a[4] != 6 || a[5] != 4) {
		l3->c.arp_rx_bad++;
		return;
	}
	uint16_t op = dn_get16(a + 6);
	if (op != 1 && op != 2) {
		l3->c.arp_rx_bad++;
		return;
	}
	const uint8_t *sha = a + 8;
	uint32_t spa = dn_get32(a + 14);
	uint32_t tpa = dn_get32(a + 24);
	static const uint8_t zero[6];
	if ((sha[0] & 1) || memcmp(sha, zero, 6) == 0 ||
	    memcmp(sha, st->conf.mac, 6) == 0 || bad_sender_ip(st, spa)) {
		l3->c.arp_rx_bad_sender++;
		return;
	}
	uint32_t me = st->conf.ip4;
	if (spa != 0 && spa == tpa)
		l3->c.arp_gratuitous++;
	if (me != 0 && spa == me) {
		/* Someone else claims our address (RFC 5227 2.4).  Do not
		 * learn it; the operator sees the counter. */
		l3->c.arp_rx_conflict++;
		return;
	}
	/* RFC 826 "merge": update an existing entry for the sender whatever
	 * the target; spa 0 is an RFC 5227 probe and teaches nothing. */
	int merged = 0;
	struct dn_arp_entry *e = spa ? lookup(l3, spa) : NULL;
	if (e) {
		entry_confirm(st, e, sha);
		merged = 1;
	}
	if (me == 0 || tpa != me) {
		if (op == 1 && spa != tpa)
			l3->c.arp_rx_not_for_us++;
		else if (op == 2)
			l3->c.arp_rx_not_for_us++;
		return;
	}
	/* Addressed to us: learn the sender (RFC 826), then answer.  Only
	 * on-link senders are cached: we never send to anyone else directly,
	 * and caching them would let any sender evict useful entries. */
	if (!merged && spa != 0) {
		if (((spa ^ me) & l3->netmask) == 0 || spa == st->conf.gateway) {
			e = entry_new(st, spa, DN_L3_SRC_NONE);
			entry_confirm(st, e, sha);
		} else {
			l3->c.arp_rx_not_learned++;
		}
	}
	if (op == 1) {
		l3->c.arp_rx_request++;
		l3->c.arp_tx_reply++;
		dn_arp_send(st, 2, sha, spa, sha);
	} else {
		l3->c.arp_rx_reply++;
	}
}

/* ---- timers ------------------------------------------------------------- */

uint64_t dn_arp_poll(struct dn_stack *st)
{
	struct dn_l3 *l3 = &st->l3;
	uint64_t now = st->now_us;
	if (now < l3->arp_next_us)
		return l3->arp_next_us;
	/* Requests sent below may come back synchronously (a simulation
	 * wiring two stacks directly) and set timers on entries already
	 * scanned: those lower arp_next_us through set_timer meanwhile. */
	l3->arp_next_us = UINT64_MAX;
	uint64_t next = UINT64_MAX;
	for (unsigned i = 0; i < DN_ARP_ENTRIES; i++) {
		struct dn_arp_entry *e = &l3->arp[i];
		if (e->state == DN_ARP_FREE)
			continue;
		if (e->timer_us <= now) {
			switch (e->state) {
			case DN_ARP_INCOMPLETE:
				if (e->tries >= DN_ARP_MAX_TRIES) {
					l3->c.arp_resolve_failed++;
					e->state = DN_ARP_FAILED;
					e->timer_us = now + DN_ARP_FAILED_US;
					l3->c.arp_resolve_dropped += queue_fail(st, e);
				} else {
					e->tries++;
					e->timer_us = now + DN_ARP_RETRY_US;
					send_request(st, e->ip);
				}
				break;
			case DN_ARP_REACHABLE:
				e->state = DN_ARP_STALE;
				e->timer_us = e->updated_us + DN_ARP_REACHABLE_US +
					      DN_ARP_STALE_US;
				if (e->timer_us <= now)
					e->timer_us = now + 1;
				break;
			case DN_ARP_STALE:
				l3->c.arp_evicted++;
				entry_free(st, e);
				continue;
			default: /* FAILED */
				entry_free(st, e);
				continue;
			}
		}
		if (e->timer_us < next)
			next = e->timer_us;
	}
	if (next < l3->arp_next_us)
		l3->arp_next_us = next;
	return l3->arp_next_us;
}

void dn_arp_fini(struct dn_stack *st)
{
	struct dn_l3 *l3 = &st->l3;
	for (unsigned i = 0; i < DN_ARP_ENTRIES; i++)
		if (l3->arp[i].state != DN_ARP_FREE)
			queue_drop(st, &l3->arp[i]);
}

/* ---- views -------------------------------------------------------------- */

const char *dn_arp_state_name(enum dn_arp_state s)
{
	static const char *const names[] = {
#define DN_X_(name, str) str,
		DN_ARP_STATES(DN_X_)
#undef DN_X_
	};
	if ((unsigned)s < sizeof names / sizeof names[0])
		return names[s];
	return "?";
}

void dn_arp_foreach(const struct dn_stack *st,
		    void (*cb)(const struct dn_arp_view *e, void *arg),
		    void *arg)
{
	const struct dn_l3 *l3 = &st->l3;
	for (unsigned i = 0; i < DN_ARP_ENTRIES; i++) {
		const struct dn_arp_entry *e = &l3->arp[i];
		if (e->state == DN_ARP_FREE)
			continue;
		struct dn_arp_view v = {
			.ip = e->ip,
			.state = (enum dn_arp_state)e->state,
			.state_name = dn_arp_state_name((enum dn_arp_state)e->state),
			.age_us = st->now_us >= e->updated_us ?
				  st->now_us - e->updated_us : 0,
			.expires_us = e->timer_us > st->now_us ?
				      e->timer_us - st->now_us : 0,
			.queued = e->q_len,
			.tries = e->tries,
		};
		if (e->state == DN_ARP_REACHABLE || e->state == DN_ARP_STALE)
			memcpy(v.mac, e->mac, 6);
		cb(&v, arg);
	}
}
