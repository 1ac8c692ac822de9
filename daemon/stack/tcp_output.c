/*
 * Segment building and the send policy: options, receive window (with
 * RFC 7323 scaling and RFC 9293 3.8.6.2.2 receiver SWS avoidance), Nagle
 * (RFC 9293 3.7.4) and sender SWS avoidance (3.8.6.2.1), congestion and
 * flow control, SACK-based recovery transmissions (RFC 6675 5).
 *
 * Payload is copied straight from the tx ring (the retransmission buffer)
 * into the frame dn_ip4_alloc hands out.
 */
#include <errno.h>
#include <string.h>

#include "tcp_int.h"

struct seg_out {
	uint32_t seq, ack;
	uint8_t flags;
	uint16_t wnd;
	uint8_t optlen;
	uint8_t opt[DN_TCP_MAX_OPTLEN];
	struct dn_ring *ring;   /* payload source, or NULL */
	size_t off, len;        /* offset from the ring head, length */
};

/* Build and send one segment.  Returns 0 or an errno value. */
static int emit(struct dn_stack *st, uint32_t src, uint32_t dst,
		uint16_t sport, uint16_t dport, const struct seg_out *o)
{
	void *frame;
	size_t room;
	uint8_t *p = dn_ip4_alloc(st, &frame, &room);
	if (!p) {
		DN_TCP_CTR(st, OUT_NOBUF);
		return ENOBUFS;
	}
	size_t hlen = DN_TCP_HLEN + o->optlen;
	size_t l4len = hlen + o->len;
	if (l4len > room || l4len > 0xffff) {
		dn_ip4_abandon(st, frame);
		DN_TCP_CTR(st, OUT_NOBUF);
		return EMSGSIZE;
	}
	dn_put16(p, sport);
	dn_put16(p + 2, dport);
	dn_put32(p + 4, o->seq);
	dn_put32(p + 8, o->ack);
	p[12] = (uint8_t)((hlen / 4) << 4);
	p[13] = o->flags;
	dn_put16(p + 14, o->wnd);
	dn_put16(p + 16, 0);
	dn_put16(p + 18, 0);
	if (o->optlen)
		memcpy(p + DN_TCP_HLEN, o->opt, o->optlen);
	if (o->len)
		dn_ring_peek_at(o->ring, o->off, p + hlen, o->len);
	uint32_t sum = dn_ip4_pseudo_sum(src, dst, DN_IPPROTO_TCP,
					 (uint16_t)l4len);
	sum = dn_csum_add(sum, p, l4len);
	dn_put16(p + 16, dn_csum_fold(sum));
	DN_TCP_CTR(st, SEGS_OUT);
	st->tcp.ctr[DN_TCP_C_BYTES_OUT] += o->len;
	if (o->flags & DN_TH_RST)
		DN_TCP_CTR(st, RESETS_OUT);
	return dn_ip4_send(st, frame, src, dst, DN_IPPROTO_TCP, l4len);
}

/* ---- options ------------------------------------------------------------ */

static void opt_ts(struct dn_tcp_conn *c, struct seg_out *o)
{
	uint8_t *q = o->opt + o->optlen;
	q[0] = 1;
	q[1] = 1;
	q[2] = 8;
	q[3] = 10;
	dn_put32(q + 4, dn_tcp_ts_now(c));
	dn_put32(q + 8, c->ts_recent);
	o->optlen += 12;
}

static void opt_sack(struct dn_tcp_conn *c, struct seg_out *o)
{
	uint32_t blk[4][2];
	/* The peer's MSS bounds payload plus options (RFC 6691); c->mss
	 * already leaves room for timestamps, so SACK blocks only go where
	 * the payload leaves space for them. */
	size_t limit = (size_t)c->mss + ((c->flags & DN_TCPF_TS) ? 12 : 0);
	size_t used = o->optlen + o->len;
	if (used + 12 > limit)
		return;
	int room = (int)((limit - used - 4) / 8);
	int room2 = (DN_TCP_MAX_OPTLEN - o->optlen - 4) / 8;
	if (room2 < room)
		room = room2;
	if (room <= 0)
		return;
	int n = dn_tcp_sack_blocks(c, blk, room > 4 ? 4 : room);
	if (n <= 0)
		return;
	uint8_t *q = o->opt + o->optlen;
	q[0] = 1;
	q[1] = 1;
	q[2] = 5;
	q[3] = (uint8_t)(2 + 8 * n);
	for (int i = 0; i < n; i++) {
		dn_put32(q + 4 + 8 * i, blk[i][0]);
		dn_put32(q + 8 + 8 * i, blk[i][1]);
	}
	o->optlen += (uint8_t)(4 + 8 * n);
}

/* ---- windows ------------------------------------------------------------- */

uint32_t dn_tcp_flight(const struct dn_tcp_conn *c)
{
	return c->snd_max - c->snd_una;
}

uint32_t dn_tcp_unsent(struct dn_tcp_conn *c)
{
	size_t q = dn_tcp_tx_queued(c);
	uint32_t end = c->tx_seq + (uint32_t)q;
	if ((c->flags & DN_TCPF_FIN_SENT) && DN_SEQ_GT(end, c->fin_seq))
		end = c->fin_seq;
	if (DN_SEQ_LEQ(end, c->snd_nxt))
		return 0;
	return end - c->snd_nxt;
}

/* The window to advertise, in bytes (before scaling). */
uint32_t dn_tcp_rcv_window(struct dn_tcp_conn *c)
{
	uint32_t space;
	if (!c->rx) {
		space = DN_TCP_SYN_WINDOW;
	} else {
		size_t s = dn_tcp_rx_space(c);
		space = s > 0x3fffffff ? 0x3fffffff : (uint32_t)s;
		/* After the peer's FIN nothing more can arrive. */
	}
	uint32_t maxw = (uint32_t)0xffff << c->rcv_wscale;
	if (space > maxw)
		space = maxw;
	uint32_t cur = DN_SEQ_GT(c->rcv_adv, c->rcv_nxt) ? c->rcv_adv - c->rcv_nxt : 0;
	if (space > cur && c->rx) {
		/* RFC 9293 3.8.6.2.2: move the right edge only by at least
		 * min(half the buffer, one MSS). */
		uint32_t step = c->rx->cap / 2;
		if (step > c->adv_mss)
			step = c->adv_mss;
		if (space - cur < step)
			space = cur;
	}
	if (space < cur)
		space = cur;   /* never shrink the window (3.8.6) */
	return space;
}

static uint16_t wnd_field(struct dn_tcp_conn *c, bool syn)
{
	uint32_t w = dn_tcp_rcv_window(c);
	if (syn) {
		/* RFC 7323 2.2: the window in a SYN is never scaled. */
		if (w > 0xffff)
			w = 0xffff;
		if (DN_SEQ_GT(c->rcv_nxt + w, c->rcv_adv))
			c->rcv_adv = c->rcv_nxt + w;
		return (uint16_t)w;
	}
	uint32_t f = w >> c->rcv_wscale;
	/* Rounding down must not move the right edge left. */
	if (DN_SEQ_LT(c->rcv_nxt + (f << c->rcv_wscale), c->rcv_adv) && f < 0xffff)
		f++;
	if (f > 0xffff)
		f = 0xffff;
	uint32_t edge = c->rcv_nxt + (f << c->rcv_wscale);
	if (DN_SEQ_GT(edge, c->rcv_adv))
		c->rcv_adv = edge;
	return (uint16_t)f;
}

/* Segment of a connection: fills ack, window and options. */
static int conn_emit(struct dn_tcp_conn *c, uint32_t seq, uint8_t flags,
		     uint32_t data_off, uint32_t len)
{
	struct seg_out o;
	o.seq = seq;
	o.flags = flags;
	o.optlen = 0;
	o.ring = c->tx;
	o.off = data_off;
	o.len = len;
	if (flags & DN_TH_ACK) {
		o.ack = c->rcv_nxt;
		o.wnd = wnd_field(c, false);
	} else {
		o.ack = 0;
		o.wnd = 0;
	}
	if (!(flags & DN_TH_RST)) {
		if (c->flags & DN_TCPF_TS)
			opt_ts(c, &o);
		if ((c->flags & DN_TCPF_SACK) && c->nooo)
			opt_sack(c, &o);
	}
	if (flags & DN_TH_ACK) {
		c->last_ack_sent = c->rcv_nxt;
		c->unacked_segs = 0;
		dn_tcp_timer_clear(c, DN_TCP_T_DELACK);
		c->flags &= ~(DN_TCPF_ACK_NOW | DN_TCPF_ACK_BURST);
	}
	c->st->l3.tx_src = c->uid;   /* ARP charges unresolved work to it */
	int e = emit(c->st, c->laddr, c->faddr, c->lport, c->fport, &o);
	c->st->l3.tx_src = DN_L3_SRC_NONE;
	if (e == ENETUNREACH || e == EHOSTUNREACH)
		c->soft_err = e;
	return e;
}

void dn_tcp_send_ack(struct dn_tcp_conn *c)
{
	if (c->state == DN_TCP_CLOSED || c->state == DN_TCP_LISTEN ||
	    c->state == DN_TCP_SYN_SENT)
		return;
	/* While retransmitting, snd_nxt is behind: a pure ACK carries the
	 * next new sequence number (snd_max), which the peer, possibly
	 * holding the retransmitted range already, finds in its window;
	 * but never past the right edge it advertised. */
	uint32_t seq = c->snd_max;
	uint32_t edge = c->snd_una + c->snd_wnd;
	if (DN_SEQ_GT(seq, edge))
		seq = DN_SEQ_MAX(edge, c->snd_nxt);
	conn_emit(c, seq, DN_TH_ACK, 0, 0);
}

void dn_tcp_send_challenge_ack(struct dn_tcp_conn *c)
{
	struct dn_tcp *t = dn_tcp_of(c);
	uint64_t now = c->st->now_us;
	/* RFC 5961 7: limit challenge ACKs.  First per connection (an
	 * attacker's own connection then learns nothing of another's), then
	 * a per-worker budget each second, drawn at random from
	 * [limit/2, limit/2 + limit) so its exhaustion is no oracle either
	 * (the CVE-2016-5696 fix). */
	if (dn_tcp_oow_limited(c)) {
		DN_TCP_CTR(c->st, CHALLENGE_ACKS_CONN_LIMITED);
		return;
	}
	uint32_t lim = t->conf.challenge_ack_limit;
	if (lim) {
		/* chack_epoch_us: start of this second plus one (0: none). */
		if (t->chack_epoch_us == 0 || now + 1 - t->chack_epoch_us >= 1000000) {
			uint64_t sec[2] = { now / 1000000, 0x5961 };
			t->chack_epoch_us = now + 1;
			t->chack_count = 0;
			t->chack_budget = (lim + 1) / 2 +
				(uint32_t)(dn_tcp_siphash(t->key, sec, sizeof(sec)) % lim);
		}
		if (t->chack_count >= t->chack_budget) {
			DN_TCP_CTR(c->st, CHALLENGE_ACKS_LIMITED);
			return;
		}
		t->chack_count++;
	}
	DN_TCP_CTR(c->st, CHALLENGE_ACKS);
	dn_tcp_send_ack(c);
}

void dn_tcp_send_rst_conn(struct dn_tcp_conn *c)
{
	if (c->state == DN_TCP_CLOSED || c->state == DN_TCP_LISTEN)
		return;
	if (c->state == DN_TCP_SYN_SENT)
		return;   /* nothing synchronized to reset */
	conn_emit(c, c->snd_nxt, DN_TH_RST | DN_TH_ACK, 0, 0);
}

void dn_tcp_send_rst_reply(struct dn_stack *st, const struct dn_tcp_seg *s)
{
	struct seg_out o;
	memset(&o, 0, sizeof(o));
	if (s->flags & DN_TH_RST)
		return;   /* never answer a RST (RFC 9293 3.10.7.1) */
	if (s->flags & DN_TH_ACK) {
		o.seq = s->ack;
		o.flags = DN_TH_RST;
	} else {
		o.seq = 0;
		o.ack = s->seq + s->len + !!(s->flags & DN_TH_SYN) +
			!!(s->flags & DN_TH_FIN);
		o.flags = DN_TH_RST | DN_TH_ACK;
	}
	emit(st, s->dst, s->src, s->dport, s->sport, &o);
}

static void syn_opts(struct dn_tcp_conn *c, struct seg_out *o)
{
	struct dn_tcp *t = dn_tcp_of(c);
	bool active = c->state == DN_TCP_SYN_SENT;
	bool ts = active ? t->conf.timestamps : !!(c->flags & DN_TCPF_TS);
	bool sack = active ? t->conf.sack : !!(c->flags & DN_TCPF_SACK);
	bool ws = active ? t->conf.wscale : !!(c->flags & DN_TCPF_WS);
	uint8_t *q = o->opt;
	q[0] = 2;
	q[1] = 4;
	dn_put16(q + 2, c->adv_mss);
	q += 4;
	if (sack && ts) {
		q[0] = 4;
		q[1] = 2;
		q += 2;
	} else if (sack) {
		q[0] = 1;
		q[1] = 1;
		q[2] = 4;
		q[3] = 2;
		q += 4;
	} else if (ts) {
		q[0] = 1;
		q[1] = 1;
		q += 2;
	}
	if (ts) {
		q[0] = 8;
		q[1] = 10;
		dn_put32(q + 2, dn_tcp_ts_now(c));
		dn_put32(q + 6, active ? 0 : c->ts_recent);
		q += 10;
	}
	if (ws) {
		q[0] = 1;
		q[1] = 3;
		q[2] = 3;
		q[3] = c->rcv_wscale;
		q += 4;
	}
	o->optlen = (uint8_t)(q - o->opt);
}

/* The scale we offer: enough for the rx ring (RFC 7323 2.2). */
uint8_t dn_tcp_pick_wscale(struct dn_tcp_conn *c)
{
	uint32_t size = c->rx ? c->rx->size : c->st->tcp.conf.passive_rx_max;
	uint8_t s = 0;
	while (s < DN_TCP_MAX_WSCALE && ((uint32_t)0xffff << s) < size)
		s++;
	return s;
}

void dn_tcp_send_syn(struct dn_tcp_conn *c)
{
	struct seg_out o;
	memset(&o, 0, sizeof(o));
	bool active = c->state == DN_TCP_SYN_SENT;
	if (active && dn_tcp_of(c)->conf.wscale && c->backoff == 0)
		c->rcv_wscale = dn_tcp_pick_wscale(c);
	o.seq = c->iss;
	o.flags = DN_TH_SYN;
	if (!active) {
		o.flags |= DN_TH_ACK;
		o.ack = c->rcv_nxt;
		c->last_ack_sent = c->rcv_nxt;   /* RFC 7323 4.3 */
	}
	syn_opts(c, &o);
	o.wnd = wnd_field(c, true);
	c->snd_nxt = c->iss + 1;
	if (DN_SEQ_GT(c->snd_nxt, c->snd_max))
		c->snd_max = c->snd_nxt;
	if (c->backoff == 0 && !(c->flags & DN_TCPF_RTT_TIMING)) {
		c->flags |= DN_TCPF_RTT_TIMING;
		c->rtt_seq = c->iss;
		c->rtt_start_us = c->st->now_us;
	}
	if (c->backoff)
		DN_TCP_CTR(c->st, RETRANS_SEGS);
	c->st->l3.tx_src = c->uid;
	int e = emit(c->st, c->laddr, c->faddr, c->lport, c->fport, &o);
	c->st->l3.tx_src = DN_L3_SRC_NONE;
	if (e == ENETUNREACH || e == EHOSTUNREACH || e == EADDRNOTAVAIL)
		c->soft_err = e;
	if (!dn_tcp_timer_on(c, DN_TCP_T_RTX))
		dn_tcp_timer_set(c, DN_TCP_T_RTX, c->rto_us);
}

void dn_tcp_send_syn_cookie(struct dn_stack *st, const struct dn_tcp_seg *s,
			    uint32_t isn, uint16_t mss)
{
	struct seg_out o;
	memset(&o, 0, sizeof(o));
	o.seq = isn;
	o.ack = s->seq + 1;
	o.flags = DN_TH_SYN | DN_TH_ACK;
	o.wnd = DN_TCP_SYN_WINDOW;
	/* Only MSS survives in a cookie; no scaling, SACK or timestamps. */
	o.opt[0] = 2;
	o.opt[1] = 4;
	dn_put16(o.opt + 2, mss);
	o.optlen = 4;
	DN_TCP_CTR(st, SYNCOOKIES_SENT);
	emit(st, s->dst, s->src, s->dport, s->sport, &o);
}

/* RFC 1122 4.2.3.6 keepalive and the zero-window probe: an old sequence
 * number, no data; the peer answers with an ACK carrying its window. */
void dn_tcp_send_probe(struct dn_tcp_conn *c, bool keepalive)
{
	(void)keepalive;
	conn_emit(c, c->snd_una - 1, DN_TH_ACK, 0, 0);
}

/* ---- data ------------------------------------------------------------- */

static void note_sent(struct dn_tcp_conn *c, uint32_t seq, uint32_t len,
		      bool fin)
{
	uint32_t end = seq + len + (fin ? 1 : 0);
	bool rexmit = DN_SEQ_LT(seq, c->snd_max);
	if (rexmit) {
		c->retransmits++;
		DN_TCP_CTR(c->st, RETRANS_SEGS);
		/* Karn: a retransmitted range is useless for timing. */
		if ((c->flags & DN_TCPF_RTT_TIMING) &&
		    DN_SEQ_GEQ(c->rtt_seq, seq) && DN_SEQ_LT(c->rtt_seq, end))
			c->flags &= ~DN_TCPF_RTT_TIMING;
	} else if (!(c->flags & (DN_TCPF_RTT_TIMING | DN_TCPF_TS)) && len) {
		c->flags |= DN_TCPF_RTT_TIMING;
		c->rtt_seq = seq;
		c->rtt_start_us = c->st->now_us;
	}
	if (!rexmit)
		c->last_tx_us = c->st->now_us;
	if (DN_SEQ_GT(end, c->snd_max))
		c->snd_max = end;
	dn_tcp_rack_on_send(c, seq, end, rexmit);
	dn_tcp_timer_rearm_rtx(c);
}

/* Largest payload for the next segment: the MSS, less room for SACK
 * blocks while we hold out-of-order data, so that a receiver that is also
 * sending full segments still reports its holes (RFC 2018 wants the
 * blocks in every ACK while holes exist). */
static uint32_t seg_max(const struct dn_tcp_conn *c)
{
	uint32_t m = c->mss;
	if ((c->flags & DN_TCPF_SACK) && c->nooo) {
		uint32_t nb = c->nooo < 3 ? c->nooo : 3;
		uint32_t room = 4 + 8 * nb;
		if (m > room + DN_TCP_MIN_MSS)
			m -= room;
	}
	return m;
}

/* Send [seq, seq+len) from the ring again (plus FIN if it ends there),
 * at most one segment.  Returns the sequence space actually covered
 * (it may be less than asked: ring, FIN, segment size). */
uint32_t dn_tcp_send_range(struct dn_tcp_conn *c, uint32_t seq, uint32_t len,
			   bool rexmit)
{
	(void)rexmit;
	if (DN_SEQ_LT(seq, c->tx_seq)) {
		uint32_t skip = c->tx_seq - seq;
		if (skip >= len && !(c->flags & DN_TCPF_FIN_SENT))
			return 0;
		seq = c->tx_seq;
		len = skip >= len ? 0 : len - skip;
	}
	size_t q = dn_tcp_tx_queued(c);
	uint32_t data_end = c->tx_seq + (uint32_t)q;
	if ((c->flags & DN_TCPF_FIN_SENT) && DN_SEQ_GT(data_end, c->fin_seq))
		data_end = c->fin_seq;
	/* A retransmission never carries new data: that goes through
	 * dn_tcp_output, within the peer's window. */
	if (DN_SEQ_GT(data_end, c->snd_max))
		data_end = c->snd_max;
	if (DN_SEQ_GT(seq + len, data_end))
		len = DN_SEQ_GT(data_end, seq) ? data_end - seq : 0;
	if (len > seg_max(c))
		len = seg_max(c);
	bool fin = (c->flags & DN_TCPF_FIN_SENT) && seq + len == c->fin_seq;
	if (!len && !fin)
		return 0;
	uint8_t fl = DN_TH_ACK | (fin ? DN_TH_FIN : 0) | (len ? DN_TH_PSH : 0);
	conn_emit(c, seq, fl, seq - c->tx_seq, len);
	note_sent(c, seq, len, fin);
	return len + (fin ? 1 : 0);
}

static bool fin_state(const struct dn_tcp_conn *c)
{
	return c->state == DN_TCP_FIN_WAIT_1 || c->state == DN_TCP_CLOSING ||
	       c->state == DN_TCP_LAST_ACK;
}

/* Send new (or go-back-N) data as the windows allow. */
void dn_tcp_output(struct dn_tcp_conn *c)
{
	if (c->flags & DN_TCPF_FREED)
		return;
	if (c->state < DN_TCP_ESTABLISHED || c->state == DN_TCP_TIME_WAIT ||
	    c->state == DN_TCP_FIN_WAIT_2)
		goto ack;
	bool sackrec = (c->flags & (DN_TCPF_RECOVERY | DN_TCPF_SACK)) ==
		       (DN_TCPF_RECOVERY | DN_TCPF_SACK);
	bool rack = dn_tcp_rack_active(c);
	/* Go-back-N after an RTO skips what the scoreboard (kept with
	 * RACK, RFC 8985 6.3) says the peer has. */
	bool skip_sacked = rack && (c->flags & DN_TCPF_LOSS) && c->nsb;
	bool sent_new = false;
	/* RFC 5681 4.1: after an idle period longer than the RTO, restart
	 * from RW = min(IW, cwnd) rather than burst a stale window. */
	if (c->snd_max == c->snd_una &&
	    c->st->now_us - c->last_tx_us > c->rto_us) {
		uint32_t rw = dn_tcp_initial_window(c);
		if (c->cwnd > rw)
			c->cwnd = rw;
		c->last_tx_us = c->st->now_us;
	}
	for (int guard = 0; guard < 4096; guard++) {
		size_t q = dn_tcp_tx_queued(c);
		uint32_t data_end = c->tx_seq + (uint32_t)q;
		if ((c->flags & DN_TCPF_FIN_SENT) &&
		    DN_SEQ_GT(data_end, c->fin_seq))
			data_end = c->fin_seq;
		uint32_t avail = DN_SEQ_GT(data_end, c->snd_nxt) ?
				 data_end - c->snd_nxt : 0;
		uint32_t clip = avail;   /* up to the next SACKed range */
		if (skip_sacked && DN_SEQ_LT(c->snd_nxt, c->snd_max)) {
			uint32_t run;
			if (dn_tcp_sack_is_sacked(c, c->snd_nxt, &run)) {
				c->snd_nxt = DN_SEQ_MIN(run, c->snd_max);
				continue;
			}
			for (int i = 0; i < c->nsb; i++)
				if (DN_SEQ_GT(c->sb[i].start, c->snd_nxt) &&
				    DN_SEQ_LT(c->sb[i].start, c->snd_nxt + clip))
					clip = c->sb[i].start - c->snd_nxt;
		}

		/* Room: peer window and congestion window. */
		uint32_t wnd_edge = c->snd_una + c->snd_wnd;
		uint32_t usable = DN_SEQ_GT(wnd_edge, c->snd_nxt) ?
				  wnd_edge - c->snd_nxt : 0;
		uint32_t cwnd_room;
		if (sackrec) {
			/* RFC 6675 5 (C): cwnd - pipe.  With RACK, pipe is
			 * what is out and neither SACKed nor marked lost
			 * (retransmissions count again, as new records). */
			uint32_t pipe;
			if (rack) {
				uint32_t out = dn_tcp_flight(c) - c->sacked_bytes;
				uint32_t lost = dn_tcp_rack_lost_bytes(c);
				pipe = out > lost ? out - lost : 0;
			} else {
				pipe = dn_tcp_sack_pipe(c);
			}
			cwnd_room = c->cwnd > pipe ? c->cwnd - pipe : 0;
			if (cwnd_room >= c->mss) {
				uint32_t ls, ll;
				/* NextSeg() rule 1: RACK's lost ranges in
				 * place of IsLost() (RFC 8985 9.2). */
				if (rack ? dn_tcp_rack_next_lost(c, &ls, &ll) :
				    dn_tcp_sack_next_lost(c, &ls, &ll)) {
					if (ll > c->mss)
						ll = c->mss;
					uint32_t n = dn_tcp_send_range(c, ls, ll, true);
					if (!n)
						break;
					if (!rack || DN_SEQ_GT(ls + n, c->high_rxt))
						c->high_rxt = ls + n;
					if (ls == c->snd_una) {
						c->rxt_mark = c->snd_max;
						c->rxt_hole_end = c->high_rxt;
						c->flags |= DN_TCPF_RXT_MARK;
					}
					continue;
				}
			}
		} else if (rack && (c->flags & DN_TCPF_LOSS)) {
			/* After an RTO RACK goes on judging what go-back-N
			 * resent (RFC 8985 6.3): a lost retransmission goes
			 * again first, not at the next RTO.  What is out
			 * counts neither SACKed nor lost bytes. */
			uint32_t fl = c->snd_nxt - c->snd_una;
			uint32_t sk = dn_tcp_sack_bytes_in(c, c->snd_una, c->snd_nxt);
			uint32_t lost = dn_tcp_rack_lost_bytes(c);
			uint32_t out = fl - sk > lost ? fl - sk - lost : 0;
			cwnd_room = c->cwnd > out ? c->cwnd - out : 0;
			uint32_t ls, ll;
			if (cwnd_room >= c->mss &&
			    dn_tcp_rack_next_lost(c, &ls, &ll) &&
			    DN_SEQ_LT(ls, c->snd_nxt)) {
				if (ll > c->mss)
					ll = c->mss;
				if (DN_SEQ_GT(ls + ll, c->snd_nxt))
					ll = c->snd_nxt - ls;
				if (!dn_tcp_send_range(c, ls, ll, true))
					break;
				continue;
			}
		} else {
			uint32_t fl = c->snd_nxt - c->snd_una;
			cwnd_room = c->cwnd > fl ? c->cwnd - fl : 0;
		}
		if (usable > cwnd_room)
			usable = cwnd_room;

		uint32_t smax = seg_max(c);
		uint32_t len = avail;
		if (len > smax)
			len = smax;
		if (len > usable)
			len = usable;
		if (len > clip)
			len = clip;

		bool fin = false;
		if ((c->flags & DN_TCPF_FIN_QUEUED) && fin_state(c) &&
		    len == avail) {
			if (!(c->flags & DN_TCPF_FIN_SENT))
				fin = true;
			else if (c->snd_nxt + len == c->fin_seq)
				fin = true;
		}
		if (len == 0 && !fin) {
			/* RFC 6675 NextSeg() rule 3: nothing lost and no new
			 * data to send: fill a hole below the highest SACK. */
			uint32_t hs, hl;
			if (sackrec && !rack && cwnd_room >= c->mss &&
			    dn_tcp_sack_next_hole(c, &hs, &hl)) {
				if (hl > c->mss)
					hl = c->mss;
				uint32_t n = dn_tcp_send_range(c, hs, hl, true);
				if (!n)
					break;
				c->high_rxt = hs + n;
				continue;
			}
			break;
		}
		if (len < smax && !fin) {
			bool rexmit = DN_SEQ_LT(c->snd_nxt, c->snd_max);
			bool outstanding = c->snd_max != c->snd_una;
			if (len < avail) {
				/* Window-limited (sender SWS, 3.8.6.2.1): wait
				 * for a useful window unless it is at least
				 * half the largest seen, or nothing is in
				 * flight to bring an ACK. */
				if (!rexmit && outstanding &&
				    len < c->max_snd_wnd / 2)
					break;
			} else if (!(c->flags & DN_TCPF_NODELAY) && !rexmit &&
				   outstanding) {
				/* Nagle (RFC 9293 3.7.4): one small segment
				 * in flight at a time. */
				break;
			}
		}
		uint8_t fl = DN_TH_ACK;
		if (fin)
			fl |= DN_TH_FIN;
		if (len && len == avail)
			fl |= DN_TH_PSH;
		uint32_t seq = c->snd_nxt;
		if (DN_SEQ_GEQ(seq, c->snd_max))
			sent_new = true;
		conn_emit(c, seq, fl, seq - c->tx_seq, len);
		c->snd_nxt += len;
		if (fin) {
			c->fin_seq = c->snd_nxt;
			c->flags |= DN_TCPF_FIN_SENT;
			c->snd_nxt++;
		}
		note_sent(c, seq, len, fin);
		if (fin)
			break;
	}
	if (DN_SEQ_GT(c->snd_una, c->snd_nxt))
		c->snd_nxt = c->snd_una;
	dn_tcp_timer_rearm_rtx(c);
	/* RFC 8985 7.2: (re)schedule the probe after new data. */
	if (sent_new)
		dn_tcp_rack_arm(c, true);
ack:
	if (c->flags & DN_TCPF_FREED)
		return;
	if (c->flags & DN_TCPF_ACK_NOW) {
		dn_tcp_send_ack(c);
		return;
	}
	/* Window update: the app freed enough rx space for the right edge to
	 * move (receiver SWS rules are inside dn_tcp_rcv_window). */
	if (c->rx && !(c->flags & DN_TCPF_FIN_RCVD) &&
	    (c->state == DN_TCP_ESTABLISHED || c->state == DN_TCP_FIN_WAIT_1 ||
	     c->state == DN_TCP_FIN_WAIT_2)) {
		uint32_t cur = DN_SEQ_GT(c->rcv_adv, c->rcv_nxt) ?
			       c->rcv_adv - c->rcv_nxt : 0;
		if (dn_tcp_rcv_window(c) > cur && !dn_tcp_ack_at_burst_end(c))
			dn_tcp_send_ack(c);
	}
}
