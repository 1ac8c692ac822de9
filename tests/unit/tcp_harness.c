/* TCP test harness: see tcp_harness.h. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "tcp_harness.h"

void tcph_ring_init(struct tcph_ring *r, uint32_t size)
{
	r->sh = aligned_alloc(64, sizeof(*r->sh));
	r->data = calloc(1, size);
	dn_ring_shared_init(r->sh);
	ck_assert_int_eq(dn_ring_attach(&r->d, r->sh, r->data, size), 0);
	ck_assert_int_eq(dn_ring_attach(&r->a, r->sh, r->data, size), 0);
}

void tcph_ring_fini(struct tcph_ring *r)
{
	free(r->sh);
	free(r->data);
	r->sh = NULL;
	r->data = NULL;
}

static struct tcph *H(void *ctx)
{
	return ctx;
}

static void up_connected(void *ctx, struct dn_tcp_conn *c, int err)
{
	H(ctx)->n_connected++;
	H(ctx)->connected_err = err;
	H(ctx)->last_conn = c;
}
static int up_attach(void *ctx, struct dn_tcp_conn *l, struct dn_tcp_conn *c,
		     struct dn_ring **rx, struct dn_ring **tx, void **owner)
{
	struct tcph *h = ctx;
	(void)l;
	h->n_attach++;
	if (h->refuse_attach || h->rings_used)
		return -1;
	h->rings_used = true;
	*rx = &h->rx.d;
	*tx = &h->tx.d;
	*owner = h;
	h->last_conn = c;
	return 0;
}
static void up_accept_ready(void *ctx, struct dn_tcp_conn *l)
{
	(void)l;
	H(ctx)->n_accept_ready++;
}
static void up_readable(void *ctx, struct dn_tcp_conn *c)
{
	(void)c;
	H(ctx)->n_readable++;
}
static void up_eof(void *ctx, struct dn_tcp_conn *c)
{
	(void)c;
	H(ctx)->n_eof++;
}
static void up_writable(void *ctx, struct dn_tcp_conn *c)
{
	(void)c;
	H(ctx)->n_writable++;
}
static void up_reset(void *ctx, struct dn_tcp_conn *c, int err)
{
	(void)c;
	H(ctx)->n_reset++;
	H(ctx)->reset_err = err;
}
static void up_freed(void *ctx, struct dn_tcp_conn *c, void *owner)
{
	(void)c;
	(void)owner;
	H(ctx)->n_freed++;
}

void tcph_init(struct tcph *h, unsigned ring_size)
{
	memset(h, 0, sizeof(*h));
	h->cap = calloc(1, sizeof(*h->cap));
	th_cap_init(h->cap);
	ck_assert_int_eq(th_stack_init(&h->st, h->cap), 0);
	th_learn(&h->st, h->cap, TH_IP_GW, th_mac_gw);
	h->up.connected = up_connected;
	h->up.attach = up_attach;
	h->up.accept_ready = up_accept_ready;
	h->up.readable = up_readable;
	h->up.eof = up_eof;
	h->up.writable = up_writable;
	h->up.reset = up_reset;
	h->up.freed = up_freed;
	h->st.tcp.up = &h->up;
	h->st.tcp.up_ctx = h;
	h->ring_size = ring_size;
	tcph_ring_init(&h->rx, ring_size);
	tcph_ring_init(&h->tx, ring_size);
	h->peer_ip = TH_IP_GW;
	h->peer_port = 40000;
	h->our_port = 80;
}

void tcph_fini(struct tcph *h)
{
	dn_stack_fini(&h->st);
	ck_assert_int_eq(h->cap->outstanding, 0);
	free(h->cap);
	tcph_ring_fini(&h->rx);
	tcph_ring_fini(&h->tx);
}

void tcph_send(struct tcph *h, const struct tcph_seg *s)
{
	uint8_t seg[2048];
	size_t optlen = (s->optlen + 3) & ~(size_t)3;
	size_t hl = 20 + optlen;
	dn_put16(seg, s->sport ? s->sport : h->peer_port);
	dn_put16(seg + 2, s->dport ? s->dport : h->our_port);
	dn_put32(seg + 4, s->seq);
	dn_put32(seg + 8, s->ack);
	seg[12] = (uint8_t)((s->doff_override ? s->doff_override : (int)(hl / 4)) << 4);
	seg[13] = s->flags;
	dn_put16(seg + 14, s->wnd);
	dn_put16(seg + 16, 0);
	dn_put16(seg + 18, 0);
	memset(seg + 20, 0, optlen);
	if (s->optlen)
		memcpy(seg + 20, s->opt, s->optlen);
	if (s->len)
		memcpy(seg + hl, s->data, s->len);
	size_t l4 = hl + s->len;
	uint32_t src = s->src ? s->src : h->peer_ip;
	uint32_t sum = dn_ip4_pseudo_sum(src, TH_IP_US, 6, (uint16_t)l4);
	uint16_t ck = dn_csum_fold(dn_csum_add(sum, seg, l4));
	if (s->bad_csum)
		ck ^= 0x1;
	dn_put16(seg + 16, ck);
	uint8_t frame[2200];
	size_t n = th_ip4_frame(frame, src, TH_IP_US, 6, seg, l4);
	dn_stack_input(&h->st, frame, n);
}

static bool parse(const struct th_txrec *r, struct tcph_out *o)
{
	const uint8_t *f = r->data;
	if (r->len < 14 + 20 + 20 || dn_get16(f + 12) != 0x0800)
		return false;
	const uint8_t *ip = f + 14;
	if (ip[9] != 6)
		return false;
	size_t ihl = (size_t)(ip[0] & 15) * 4;
	size_t tot = dn_get16(ip + 2);
	const uint8_t *t = ip + ihl;
	size_t l4 = tot - ihl;
	memset(o, 0, sizeof(*o));
	o->src = dn_get32(ip + 12);
	o->dst = dn_get32(ip + 16);
	o->sport = dn_get16(t);
	o->dport = dn_get16(t + 2);
	o->seq = dn_get32(t + 4);
	o->ack = dn_get32(t + 8);
	o->flags = t[13];
	o->wnd = dn_get16(t + 14);
	size_t doff = (size_t)(t[12] >> 4) * 4;
	o->optlen = doff - 20;
	dn_tcp_parse_opts(t + 20, doff - 20, (o->flags & DN_TH_SYN) != 0, &o->opt);
	o->len = l4 - doff;
	memcpy(o->data, t + doff, o->len);
	uint32_t sum = dn_ip4_pseudo_sum(o->src, o->dst, 6, (uint16_t)l4);
	o->csum_ok = dn_csum_fold(dn_csum_add(sum, t, l4)) == 0;
	return true;
}

bool tcph_next(struct tcph *h, struct tcph_out *o)
{
	while (h->next_out < (int)h->cap->ntx) {
		const struct th_txrec *r = &h->cap->tx[h->next_out++];
		if (parse(r, o)) {
			ck_assert(o->csum_ok);
			return true;
		}
	}
	return false;
}

int tcph_pending(struct tcph *h)
{
	int n = 0;
	struct tcph_out o;
	for (int i = h->next_out; i < (int)h->cap->ntx; i++)
		if (parse(&h->cap->tx[i], &o))
			n++;
	return n;
}

void tcph_drain(struct tcph *h)
{
	th_cap_clear(h->cap);
	h->next_out = 0;
}

void tcph_advance(struct tcph *h, uint64_t us)
{
	/* Step through in 1 ms increments so timers fire in order. */
	uint64_t end = h->st.now_us + us;
	while (h->st.now_us < end) {
		uint64_t step = end - h->st.now_us;
		if (step > 1000)
			step = 1000;
		h->st.now_us += step;
		dn_stack_poll(&h->st);
	}
}

size_t tcph_opts(uint8_t *b, int mss, int ws, bool sackok, bool ts,
		 uint32_t tsval, uint32_t tsecr)
{
	size_t n = 0;
	if (mss >= 0) {
		b[n++] = 2;
		b[n++] = 4;
		dn_put16(b + n, (uint16_t)mss);
		n += 2;
	}
	if (ws >= 0) {
		b[n++] = 1;
		b[n++] = 3;
		b[n++] = 3;
		b[n++] = (uint8_t)ws;
	}
	if (sackok) {
		b[n++] = 1;
		b[n++] = 1;
		b[n++] = 4;
		b[n++] = 2;
	}
	if (ts) {
		b[n++] = 1;
		b[n++] = 1;
		b[n++] = 8;
		b[n++] = 10;
		dn_put32(b + n, tsval);
		dn_put32(b + n + 4, tsecr);
		n += 8;
	}
	while (n % 4)
		b[n++] = 0;
	return n;
}

struct dn_tcp_conn *tcph_active_open(struct tcph *h, uint32_t peer_isn,
				     int optmask, uint16_t peer_wnd)
{
	return tcph_active_open_ex(h, peer_isn, optmask, peer_wnd, 1460, 0);
}

struct dn_tcp_conn *tcph_active_open_ex(struct tcph *h, uint32_t peer_isn,
					int optmask, uint16_t peer_wnd,
					int peer_mss, uint32_t our_iss)
{
	int err = -1;
	tcph_drain(h);
	h->our_port = 0;
	struct dn_tcp_conn *c = dn_tcp_connect(&h->st, h->peer_ip, h->peer_port,
					       0, &h->rx.d, &h->tx.d, h, &err);
	ck_assert_ptr_nonnull(c);
	ck_assert_int_eq(err, 0);
	h->rings_used = true;
	struct tcph_out o;
	ck_assert(tcph_next(h, &o));
	ck_assert_int_eq(o.flags, DN_TH_SYN);
	h->our_port = o.sport;
	if (our_iss) {
		/* Pretend our ISN was our_iss (sequence wrap tests). */
		c->iss = our_iss;
		c->snd_una = our_iss;
		c->snd_nxt = our_iss + 1;
		c->snd_max = our_iss + 1;
		c->tx_seq = our_iss + 1;
		o.seq = our_iss;
	}
	uint8_t opt[40];
	h->peer_ts = 1000;
	size_t ol = tcph_opts(opt, peer_mss, (optmask & 1) ? 7 : -1, optmask & 4,
			      optmask & 2, h->peer_ts, o.opt.tsval);
	struct tcph_seg s = { .seq = peer_isn, .ack = o.seq + 1,
			      .flags = DN_TH_SYN | DN_TH_ACK, .wnd = peer_wnd,
			      .opt = opt, .optlen = ol };
	tcph_send(h, &s);
	ck_assert_int_eq(dn_tcp_state(c), DN_TCP_ESTABLISHED);
	ck_assert_int_eq(h->n_connected, 1);
	ck_assert_int_eq(h->connected_err, 0);
	ck_assert(tcph_next(h, &o));
	ck_assert_int_eq(o.flags, DN_TH_ACK);
	h->peer_seq = peer_isn + 1;
	h->peer_ack = o.seq;
	tcph_drain(h);
	return c;
}

struct dn_tcp_conn *tcph_passive_open(struct tcph *h, uint16_t port,
				      uint32_t peer_isn, int optmask,
				      struct dn_tcp_conn **listener)
{
	int err = -1;
	tcph_drain(h);
	h->our_port = port;
	struct dn_tcp_conn *l = dn_tcp_listen(&h->st, 0, port, 16, h, &err);
	ck_assert_ptr_nonnull(l);
	ck_assert_int_eq(err, 0);
	if (listener)
		*listener = l;
	uint8_t opt[40];
	h->peer_ts = 1000;
	size_t ol = tcph_opts(opt, 1460, (optmask & 1) ? 7 : -1, optmask & 4,
			      optmask & 2, h->peer_ts, 0);
	struct tcph_seg s = { .seq = peer_isn, .flags = DN_TH_SYN, .wnd = 65535,
			      .opt = opt, .optlen = ol };
	tcph_send(h, &s);
	struct tcph_out o;
	ck_assert(tcph_next(h, &o));
	ck_assert_int_eq(o.flags, DN_TH_SYN | DN_TH_ACK);
	ck_assert_uint_eq(o.ack, peer_isn + 1);
	h->peer_seq = peer_isn + 1;
	h->peer_ack = o.seq + 1;
	h->peer_ts++;
	ol = (optmask & 2) ? tcph_opts(opt, -1, -1, false, true, h->peer_ts,
				       o.opt.tsval) : 0;
	struct tcph_seg a = { .seq = h->peer_seq, .ack = h->peer_ack,
			      .flags = DN_TH_ACK, .wnd = 65535, .opt = opt,
			      .optlen = ol };
	tcph_send(h, &a);
	ck_assert_int_eq(h->n_accept_ready, 1);
	struct dn_tcp_conn *c = dn_tcp_accept(l, h);
	ck_assert_ptr_nonnull(c);
	ck_assert_int_eq(dn_tcp_state(c), DN_TCP_ESTABLISHED);
	tcph_drain(h);
	return c;
}

static size_t ts_opt(struct tcph *h, uint8_t *opt)
{
	/* Timestamps only when the connection negotiated them. */
	struct dn_tcp_conn *c = h->last_conn;
	if (!c || !(c->flags & DN_TCPF_TS))
		return 0;
	h->peer_ts++;
	return tcph_opts(opt, -1, -1, false, true, h->peer_ts, c->ts_recent ?
			 dn_tcp_ts_now(c) : 0);
}

void tcph_peer_data(struct tcph *h, const void *data, size_t len)
{
	uint8_t opt[40];
	size_t ol = ts_opt(h, opt);
	struct tcph_seg s = { .seq = h->peer_seq, .ack = h->peer_ack,
			      .flags = DN_TH_ACK | DN_TH_PSH, .wnd = 65535,
			      .opt = opt, .optlen = ol, .data = data,
			      .len = len };
	tcph_send(h, &s);
	h->peer_seq += (uint32_t)len;
}

void tcph_peer_ack(struct tcph *h, uint32_t ack, uint16_t wnd)
{
	uint8_t opt[40];
	size_t ol = ts_opt(h, opt);
	h->peer_ack = ack;
	struct tcph_seg s = { .seq = h->peer_seq, .ack = ack,
			      .flags = DN_TH_ACK, .wnd = wnd, .opt = opt,
			      .optlen = ol };
	tcph_send(h, &s);
}

void tcph_peer_flags(struct tcph *h, uint8_t flags)
{
	uint8_t opt[40];
	size_t ol = (flags & DN_TH_RST) ? 0 : ts_opt(h, opt);
	struct tcph_seg s = { .seq = h->peer_seq, .ack = h->peer_ack,
			      .flags = flags, .wnd = 65535, .opt = opt,
			      .optlen = ol };
	tcph_send(h, &s);
	if (flags & (DN_TH_FIN | DN_TH_SYN))
		h->peer_seq++;
}

size_t tcph_app_write(struct tcph *h, const void *buf, size_t len)
{
	return dn_ring_write(&h->tx.a, buf, len);
}

size_t tcph_app_read(struct tcph *h, void *buf, size_t len)
{
	return dn_ring_read(&h->rx.a, buf, len);
}

uint64_t tcph_ctr(struct tcph *h, int counter)
{
	return h->st.tcp.ctr[counter];
}

uint64_t tcph_drop(struct tcph *h, int drop)
{
	return h->st.tcp.drop[drop];
}
