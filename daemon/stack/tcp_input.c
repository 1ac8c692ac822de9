/*
 * Segment arrival (RFC 9293 3.10.7) for every state, with the RFC 5961
 * blind-attack checks, RFC 7323 PAWS and timestamps, RFC 6298 RTT
 * sampling, RFC 5681 / 6582 / 6675 loss recovery, out-of-order data kept
 * in place in the rx ring, SYN cookies and ICMP errors.
 */
#include <errno.h>
#include <string.h>

#include "tcp_int.h"

/* ---- RTT (RFC 6298 2) --------------------------------------------------- */

void dn_tcp_rto_sample(struct dn_tcp_conn *c, uint64_t r)
{
	const struct dn_tcp_conf *cf = &c->st->tcp.conf;
	if (r == 0)
		r = 1;
	if (c->srtt_us == 0) {
		c->srtt_us = r;
		c->rttvar_us = r / 2;
	} else {
		uint64_t d = c->srtt_us > r ? c->srtt_us - r : r - c->srtt_us;
		c->rttvar_us = (3 * c->rttvar_us + d) / 4;
		c->srtt_us = (7 * c->srtt_us + r) / 8;
	}
	uint64_t k = 4 * c->rttvar_us;
	if (k < DN_TCP_WHEEL_TICK_US)
		k = DN_TCP_WHEEL_TICK_US;   /* max(G, K*RTTVAR) */
	uint64_t rto = c->srtt_us + k;
	if (rto < cf->rto_min_us)
		rto = cf->rto_min_us;
	if (rto > cf->rto_max_us)
		rto = cf->rto_max_us;
	c->rto_us = rto;
}

/* ---- receive side: data into the rx ring ------------------------------- */

/* Add [s, e) to the out-of-order list; false if it cannot be kept. */
static bool ooo_add(struct dn_tcp_conn *c, uint32_t s, uint32_t e)
{
	/* Merge with overlapping or adjacent ranges. */
	int i = 0;
	struct dn_tcp_range tmp[DN_TCP_OOO_MAX];
	int n = 0;
	for (i = 0; i < c->nooo; i++) {
		struct dn_tcp_range x = c->ooo[i];
		if (DN_SEQ_LT(e, x.start) || DN_SEQ_GT(s, x.end)) {
			tmp[n++] = x;
			continue;
		}
		s = DN_SEQ_MIN(s, x.start);
		e = DN_SEQ_MAX(e, x.end);
	}
	if (n == DN_TCP_OOO_MAX)
		return false;
	int pos = 0;
	while (pos < n && DN_SEQ_LT(tmp[pos].start, s))
		pos++;
	memmove(&tmp[pos + 1], &tmp[pos], (size_t)(n - pos) * sizeof(tmp[0]));
	tmp[pos].start = s;
	tmp[pos].end = e;
	n++;
	memcpy(c->ooo, tmp, (size_t)n * sizeof(tmp[0]));
	c->nooo = (uint8_t)n;
	return true;
}

/* Receive-buffer autotuning (the kernel's tcp_rcv_space_adjust, in
 * spirit): a ring that starts small doubles, up to its size,
 *  - when the sender went past the room it has (the window we offered can
 *    be larger: a window is never taken back), or
 *  - when, over one round trip, more than half of it arrived in order
 *    while the app kept up (less than half of it unread): the window,
 *    not the app, limits the transfer.  A slow reader does not grow it.
 * The window follows the new room once the app has read past the switch
 * point (dn_ring_grow). */
static void rx_grow(struct dn_tcp_conn *c, bool short_of_room, uint32_t got, size_t unread)
{
	if (c->rx->cap >= c->rx->size)
		return;
	bool grow = short_of_room;
	uint64_t rtt = c->srtt_us ? c->srtt_us : 1000;
	c->rcvq_bytes += got;
	if (c->st->now_us - c->rcvq_start_us >= rtt) {
		if (c->rcvq_bytes > c->rx->cap / 2 && unread < c->rx->cap / 2)
			grow = true;
		c->rcvq_start_us = c->st->now_us;
		c->rcvq_bytes = 0;
	}
	if (grow && dn_ring_grow(c->rx, c->rx->cap * 2) == 0)
		DN_TCP_CTR(c->st, RX_GROW);
}

/* Place payload at seq (>= rcv_nxt, inside the window).  Returns the
 * number of bytes newly made readable. */
static uint32_t rx_data(struct dn_tcp_conn *c, uint32_t seq,
			const uint8_t *data, uint32_t len)
{
	if (!c->rx || !len)
		return 0;
	size_t space = dn_tcp_rx_space(c);
	uint32_t off = seq - c->rcv_nxt;
	bool short_of_room = off + (size_t)len > space;
	if (off >= space) {
		if (space != DN_RING_CORRUPT)
			rx_grow(c, true, 0, dn_ring_used(c->rx));
		return 0;
	}
	if (short_of_room)
		len = (uint32_t)(space - off);
	if (off > 0) {
		if (!ooo_add(c, seq, seq + len)) {
			DN_TCP_DROP(c->st, OOO_FULL);
			c->flags |= DN_TCPF_ACK_NOW;
			return 0;
		}
		dn_ring_write_at(c->rx, off, data, len);
		if (short_of_room)
			rx_grow(c, true, 0, dn_ring_used(c->rx));
		c->last_ooo.start = seq;
		c->last_ooo.end = seq + len;
		DN_TCP_CTR(c->st, OOO_SEGS);
		/* RFC 5681 4.2: out-of-order data is acked at once. */
		c->flags |= DN_TCPF_ACK_NOW;
		return 0;
	}
	size_t unread = dn_ring_used(c->rx);   /* space was just loaded */
	dn_ring_write_at(c->rx, 0, data, len);
	uint32_t adv = len;
	bool filled = false;
	while (c->nooo && DN_SEQ_LEQ(c->ooo[0].start, c->rcv_nxt + adv)) {
		if (DN_SEQ_GT(c->ooo[0].end, c->rcv_nxt + adv))
			adv = c->ooo[0].end - c->rcv_nxt;
		memmove(&c->ooo[0], &c->ooo[1],
			(size_t)(c->nooo - 1) * sizeof(c->ooo[0]));
		c->nooo--;
		filled = true;
	}
	if (filled || c->nooo)
		c->flags |= DN_TCPF_ACK_NOW;   /* a hole filled (4.2) */
	dn_ring_produce(c->rx, adv);
	c->rcv_nxt += adv;
	rx_grow(c, short_of_room, adv, unread);
	return adv;
}

/* The peer's FIN is in order: RFC 9293 3.10.7.4 eighth step. */
static void process_fin(struct dn_tcp_conn *c)
{
	const struct dn_tcp_conf *cf = &c->st->tcp.conf;
	c->rcv_nxt++;
	c->flags |= DN_TCPF_FIN_RCVD | DN_TCPF_ACK_NOW;
	c->flags &= ~DN_TCPF_OOO_FIN;
	switch (c->state) {
	case DN_TCP_SYN_RECEIVED:
	case DN_TCP_ESTABLISHED:
		dn_tcp_set_state(c, DN_TCP_CLOSE_WAIT);
		break;
	case DN_TCP_FIN_WAIT_1:
		if ((c->flags & DN_TCPF_FIN_SENT) &&
		    DN_SEQ_GT(c->snd_una, c->fin_seq)) {
			dn_tcp_set_state(c, DN_TCP_TIME_WAIT);
			dn_tcp_timer_clear_all(c);
			dn_tcp_timer_set(c, DN_TCP_T_LINGER, cf->time_wait_us);
		} else {
			dn_tcp_set_state(c, DN_TCP_CLOSING);
		}
		break;
	case DN_TCP_FIN_WAIT_2:
		dn_tcp_set_state(c, DN_TCP_TIME_WAIT);
		dn_tcp_timer_clear_all(c);
		dn_tcp_timer_set(c, DN_TCP_T_LINGER, cf->time_wait_us);
		break;
	default:
		break;
	}
}

/* ---- send side: an acceptable ACK -------------------------------------- */

static uint64_t rtt_from_ack(struct dn_tcp_conn *c, const struct dn_tcp_seg *s)
{
	uint64_t r = 0;
	if ((c->flags & DN_TCPF_TS) && s->opt.ts_ok && s->opt.tsecr &&
	    c->backoff && DN_SEQ_LT(s->opt.tsecr, c->rto_tsval)) {
		/* After an RTO the ACK may echo an earlier transmission (the
		 * peer re-ACKs a duplicate with its old TS.Recent, RFC 7323
		 * 4.3): the sample would include whole RTOs.  Karn's rule,
		 * by timestamp. */
	} else if ((c->flags & DN_TCPF_TS) && s->opt.ts_ok && s->opt.tsecr) {
		/* RFC 7323 4.1: RTTM from the echoed timestamp. */
		uint32_t d = dn_tcp_ts_now(c) - s->opt.tsecr;
		if (d < 0x7fffffff / 1000u)
			r = (uint64_t)d * (1000000 / DN_TCP_TS_HZ);
		if (r == 0)
			r = 500;
	} else if ((c->flags & DN_TCPF_RTT_TIMING) &&
		   DN_SEQ_GT(s->ack, c->rtt_seq)) {
		r = c->st->now_us - c->rtt_start_us;
		c->flags &= ~DN_TCPF_RTT_TIMING;
	}
	if (r)
		dn_tcp_rto_sample(c, r);
	return r;
}

/* Bytes of the tx ring the ACK releases (SYN and FIN take no ring bytes). */
static uint32_t release_tx(struct dn_tcp_conn *c, uint32_t ack)
{
	uint32_t top = ack;
	if ((c->flags & DN_TCPF_FIN_SENT) && DN_SEQ_GT(top, c->fin_seq))
		top = c->fin_seq;
	if (!DN_SEQ_GT(top, c->tx_seq) || !c->tx)
		return 0;
	uint32_t n = top - c->tx_seq;
	size_t q = dn_tcp_tx_queued(c);
	if (n > q)
		n = (uint32_t)q;
	if (n) {
		dn_ring_consume(c->tx, n);
		c->tx_seq += n;
	}
	return n;
}

void dn_tcp_enter_recovery(struct dn_tcp_conn *c)
{
	c->recover = c->snd_max;
	c->ssthresh = c->cc->ssthresh(c);
	c->flags |= DN_TCPF_RECOVERY;
	c->flags &= ~DN_TCPF_RTT_TIMING;
	c->high_rxt = c->snd_una;
	DN_TCP_CTR(c->st, FAST_RETRANS);
	if (c->flags & DN_TCPF_SACK) {
		/* RFC 6675 5 (4.2-4.4): cwnd = ssthresh, retransmit the
		 * first segment, then let pipe govern. */
		DN_TCP_CTR(c->st, SACK_RECOVERIES);
		c->cwnd = c->ssthresh;
		if (dn_tcp_rack_active(c)) {
			/* RACK marked what is lost (RFC 8985 9.3): the first
			 * lost segment goes now (RFC 6675 5 (4.3)), the rest
			 * from the output within cwnd - pipe. */
			uint32_t ls, ll;
			if (dn_tcp_rack_next_lost(c, &ls, &ll)) {
				uint32_t n = dn_tcp_send_range(c, ls,
						ll > c->mss ? c->mss : ll, true);
				if (DN_SEQ_GT(ls + n, c->high_rxt))
					c->high_rxt = ls + n;
			}
			dn_tcp_timer_clear(c, DN_TCP_T_RTX);
			dn_tcp_timer_rearm_rtx(c);
			return;
		}
		uint32_t len = c->mss;
		uint32_t run;
		if (dn_tcp_sack_is_sacked(c, c->snd_una, &run))
			len = 0;
		else if (c->nsb && DN_SEQ_LT(c->sb[0].start, c->snd_una + len))
			len = c->sb[0].start - c->snd_una;
		uint32_t n = len ? dn_tcp_send_range(c, c->snd_una, len, true) : 0;
		if (n) {
			c->high_rxt = c->snd_una + n;
			c->rxt_mark = c->snd_max;
			c->rxt_hole_end = c->high_rxt;
			c->flags |= DN_TCPF_RXT_MARK;
		}
	} else {
		/* RFC 6582 3.2 step 2 / RFC 5681 3.2. */
		dn_tcp_send_range(c, c->snd_una, c->mss, true);
		c->cwnd = c->ssthresh + DN_TCP_DUPTHRESH * c->mss;
	}
	dn_tcp_timer_clear(c, DN_TCP_T_RTX);
	dn_tcp_timer_rearm_rtx(c);
}

/* Returns false when the segment must be dropped. */
static bool process_ack(struct dn_tcp_conn *c, const struct dn_tcp_seg *s,
			uint32_t *tx_freed)
{
	const struct dn_tcp_conf *cf = &c->st->tcp.conf;
	uint32_t ack = s->ack;

	/* RFC 5961 5.2: acceptable ACKs lie in
	 * [SND.UNA - MAX.SND.WND, SND.NXT]; beyond the highest byte sent we
	 * answer with an ACK, too old ones are dropped the same way. */
	if (DN_SEQ_GT(ack, c->snd_max)) {
		DN_TCP_DROP(c->st, ACK_UNSENT);
		dn_tcp_send_challenge_ack(c);
		return false;
	}
	uint32_t mw = c->max_snd_wnd > 65535 ? c->max_snd_wnd : 65535;
	if (DN_SEQ_LT(ack, c->snd_una - mw)) {
		DN_TCP_DROP(c->st, ACK_TOO_OLD);
		dn_tcp_send_challenge_ack(c);
		return false;
	}
	if ((c->flags & DN_TCPF_SACK) && s->opt.nsack) {
		/* Lost retransmission: new data sent after we resent the
		 * hole at snd_una (above rxt_mark) gets SACKed while that
		 * hole stays (later holes' SACKs prove nothing: their
		 * originals were sent before).
		 * Resend it now rather than wait for the RTO (the idea of
		 * RFC 8985, by transmission order instead of time). */
		bool watch = (c->flags & (DN_TCPF_RECOVERY | DN_TCPF_RXT_MARK)) ==
			     (DN_TCPF_RECOVERY | DN_TCPF_RXT_MARK) &&
			     !dn_tcp_rack_active(c);   /* RACK does it by time */
		uint32_t before = 0;
		if (watch)
			before = dn_tcp_sack_bytes_in(c, c->rxt_mark, c->snd_max);
		dn_tcp_sack_update(c, &s->opt);
		if (watch && ack == c->snd_una &&
		    dn_tcp_sack_bytes_in(c, c->rxt_mark, c->snd_max) > before) {
			/* Resend just that hole (the others' retransmissions
			 * may still be on their way) and watch it again. */
			uint32_t len = c->mss;
			if (c->nsb && DN_SEQ_LT(c->sb[0].start, c->snd_una + len))
				len = c->sb[0].start - c->snd_una;
			DN_TCP_CTR(c->st, LOST_RETRANS);
			uint32_t n = 0;
			if (len && !dn_tcp_sack_is_sacked(c, c->snd_una, NULL))
				n = dn_tcp_send_range(c, c->snd_una, len, true);
			if (DN_SEQ_LT(c->high_rxt, c->snd_una + n))
				c->high_rxt = c->snd_una + n;
			c->rxt_mark = c->snd_max;
			c->rxt_hole_end = c->snd_una + n;
		}
	}

	uint32_t wnd = (uint32_t)s->wnd << c->snd_wscale;
	bool wnd_update = DN_SEQ_LT(c->snd_wl1, s->seq) ||
			  (c->snd_wl1 == s->seq && DN_SEQ_LEQ(c->snd_wl2, ack));

	bool rack = dn_tcp_rack_active(c);
	bool advanced = DN_SEQ_GT(ack, c->snd_una);
	if (advanced) {
		uint32_t acked = ack - c->snd_una;
		uint64_t rtt = rtt_from_ack(c, s);
		*tx_freed += release_tx(c, ack);
		c->snd_una = ack;
		if (DN_SEQ_LT(c->snd_nxt, c->snd_una))
			c->snd_nxt = c->snd_una;
		c->backoff = 0;
		c->probes = 0;
		dn_tcp_sack_advance(c);
		if (rack && c->nsb && c->sb[0].start == c->snd_una) {
			/* The ACK stops at data the peer SACKed: it
			 * reneged (RFC 2018 8).  Forget the scoreboard;
			 * after an RTO, go back to snd_una again. */
			dn_tcp_sack_clear(c);
			if (c->flags & DN_TCPF_LOSS)
				c->snd_nxt = c->snd_una;
		}
		if (c->flags & DN_TCPF_LOSS) {
			if (DN_SEQ_GEQ(ack, c->recover))
				c->flags &= ~DN_TCPF_LOSS;
			c->cc->on_ack(c, acked, rtt);
		} else if (c->flags & DN_TCPF_RECOVERY) {
			if (DN_SEQ_GEQ(ack, c->recover)) {
				/* Full ACK: leave recovery (RFC 6582 3.2 step
				 * 3, RFC 6675 5). */
				c->flags &= ~DN_TCPF_RECOVERY;
				if (c->flags & DN_TCPF_SACK) {
					c->cwnd = c->ssthresh;
				} else {
					uint32_t fl = dn_tcp_flight(c) + c->mss;
					c->cwnd = fl < c->ssthresh ? fl : c->ssthresh;
				}
				if (c->cwnd < c->mss)
					c->cwnd = c->mss;
				c->cc->on_recovery_exit(c);
				c->dupacks = 0;
			} else if (c->flags & DN_TCPF_SACK) {
				if (DN_SEQ_LT(c->high_rxt, c->snd_una))
					c->high_rxt = c->snd_una;
				/* The new first hole: if already resent, watch
				 * that retransmission from here on; if not, a
				 * partial ACK says it is lost (RFC 6582 3.2
				 * step 5): resend it even when the SACK blocks
				 * do not (yet) say so. */
				c->flags &= ~DN_TCPF_RXT_MARK;
				uint32_t len = c->mss;
				if (c->nsb && DN_SEQ_LT(c->sb[0].start, c->snd_una + len))
					len = c->sb[0].start - c->snd_una;
				/* With RACK the hole is resent when RACK
				 * marks it lost (RFC 8985 replaces this
				 * rule). */
				if (!rack &&
				    DN_SEQ_LEQ(c->high_rxt, c->snd_una) && len &&
				    !dn_tcp_sack_is_sacked(c, c->snd_una, NULL)) {
					len = dn_tcp_send_range(c, c->snd_una, len, true);
					c->high_rxt = c->snd_una + len;
				}
				c->rxt_hole_end = c->snd_una + len;
				c->rxt_mark = c->snd_max;
				c->flags |= DN_TCPF_RXT_MARK;
			} else {
				/* Partial ACK (RFC 6582 3.2 step 5): resend the
				 * next hole, deflate by the amount acked. */
				dn_tcp_send_range(c, c->snd_una, c->mss, true);
				c->cwnd = c->cwnd > acked ? c->cwnd - acked : c->mss;
				if (acked >= c->mss)
					c->cwnd += c->mss;
			}
		} else {
			c->dupacks = 0;
			c->cc->on_ack(c, acked, rtt);
		}
		/* RFC 6298 5.3: restart the timer on new data acked. */
		dn_tcp_timer_clear(c, DN_TCP_T_RTX);
	} else if (ack == c->snd_una && s->len == 0 &&
		   !(s->flags & (DN_TH_SYN | DN_TH_FIN)) &&
		   c->snd_max != c->snd_una &&
		   (wnd == c->snd_wnd || !wnd_update)) {
		/* RFC 5681 2 duplicate ACK. */
		c->dupacks++;
		if (c->flags & DN_TCPF_RECOVERY) {
			if (!(c->flags & DN_TCPF_SACK))
				c->cwnd += c->mss;   /* inflate (3.2 step 4) */
		} else if (!(c->flags & DN_TCPF_LOSS) && !rack &&
			   (c->dupacks >= DN_TCP_DUPTHRESH ||
			    ((c->flags & DN_TCPF_SACK) &&
			     dn_tcp_sack_loss_detected(c)))) {
			dn_tcp_enter_recovery(c);
		}
	}
	if (rack) {
		/* RFC 8985 6.1-6.2 on every ACK; a loss starts recovery
		 * once per window (9.3: RECOVERY lasts until recover). */
		dn_tcp_rack_on_ack(c);
		if (!(c->flags & (DN_TCPF_RECOVERY | DN_TCPF_LOSS)) &&
		    dn_tcp_rack_lost_bytes(c))
			dn_tcp_enter_recovery(c);
	}

	if (wnd_update) {
		c->snd_wnd = wnd;
		c->snd_wl1 = s->seq;
		c->snd_wl2 = ack;
		if (wnd > c->max_snd_wnd)
			c->max_snd_wnd = wnd;
	}

	/* Our FIN acked? */
	bool fin_acked = (c->flags & DN_TCPF_FIN_SENT) &&
			 DN_SEQ_GT(c->snd_una, c->fin_seq);
	switch (c->state) {
	case DN_TCP_FIN_WAIT_1:
		if (fin_acked) {
			dn_tcp_set_state(c, DN_TCP_FIN_WAIT_2);
			if (!(c->flags & DN_TCPF_OWNED))
				dn_tcp_timer_set(c, DN_TCP_T_LINGER,
						 cf->fin_wait_2_us);
		}
		break;
	case DN_TCP_CLOSING:
		if (fin_acked) {
			dn_tcp_set_state(c, DN_TCP_TIME_WAIT);
			dn_tcp_timer_clear_all(c);
			dn_tcp_timer_set(c, DN_TCP_T_LINGER, cf->time_wait_us);
		}
		break;
	case DN_TCP_LAST_ACK:
		if (fin_acked) {
			dn_tcp_done(c);
			return false;
		}
		break;
	default:
		break;
	}
	if (c->state != DN_TCP_TIME_WAIT) {
		dn_tcp_timer_rearm_rtx(c);
		/* RFC 8985 7.2 (probe after an ACK of new data) and 6.3
		 * (reordering timer). */
		dn_tcp_rack_arm(c, advanced);
	}
	return true;
}

/* ---- options at connection setup ---------------------------------------- */

static void syn_options(struct dn_tcp_conn *c, const struct dn_tcp_seg *s,
			bool we_offered_all)
{
	const struct dn_tcp_conf *cf = &c->st->tcp.conf;
	const struct dn_tcp_opts *o = &s->opt;
	if (o->mss_ok) {
		uint16_t m = o->mss;
		/* MSS 0 or tiny: clamp up rather than send 1-byte segments. */
		c->peer_mss = m < DN_TCP_MIN_MSS ? DN_TCP_MIN_MSS : m;
	} else {
		c->peer_mss = DN_TCP_DEFAULT_MSS;
	}
	if (cf->wscale && o->ws_ok && we_offered_all) {
		c->flags |= DN_TCPF_WS;
		c->snd_wscale = o->ws;
	} else {
		c->flags &= ~DN_TCPF_WS;
		c->snd_wscale = 0;
		c->rcv_wscale = 0;
	}
	if (cf->sack && o->sackok && we_offered_all)
		c->flags |= DN_TCPF_SACK;
	if (cf->timestamps && o->ts_ok && we_offered_all) {
		c->flags |= DN_TCPF_TS;
		c->ts_recent = o->tsval;
		c->ts_recent_us = c->st->now_us;
	}
}

/* ---- LISTEN (RFC 9293 3.10.7.2) and SYN cookies ------------------------ */

static const uint16_t cookie_mss[8] = { 536, 1200, 1360, 1400, 1440, 1460,
					4312, 8960 };

static uint32_t cookie_make(struct dn_stack *st, const struct dn_tcp_seg *s,
			    uint32_t t, uint32_t mssidx)
{
	uint32_t w[6] = { s->src, s->dst, (uint32_t)s->sport << 16 | s->dport,
			  s->seq, t, 0xc00c1e };
	uint32_t h = (uint32_t)dn_tcp_siphash(st->tcp.key, w, sizeof(w));
	return (t & 31) << 27 | mssidx << 24 | (h & 0xffffff);
}

static uint32_t cookie_time(const struct dn_stack *st)
{
	return (uint32_t)(st->now_us / 64000000ull);   /* 64 s periods */
}

/* A child in SYN-RECEIVED for the segment's 4-tuple. */
static struct dn_tcp_conn *new_child(struct dn_stack *st,
				     struct dn_tcp_conn *l,
				     const struct dn_tcp_seg *s)
{
	struct dn_tcp_conn *c = dn_tcp_conn_alloc(st);
	if (!c)
		return NULL;
	dn_tcp_set_uid(c, l->uid);   /* charged to the listener's app */
	c->laddr = s->dst;
	c->lport = s->dport;
	c->faddr = s->src;
	c->fport = s->sport;
	c->parent = l;
	c->flags |= DN_TCPF_PASSIVE;
	dn_tcp_conn_init_params(c);
	c->state = DN_TCP_SYN_RECEIVED;
	l->synq_len++;
	dn_tcp_hash_insert(c);
	DN_TCP_CTR(st, PASSIVE_OPENS);
	return c;
}

static void listen_input(struct dn_stack *st, struct dn_tcp_conn *l,
			 struct dn_tcp_seg *s);
static void conn_input(struct dn_tcp_conn *c, struct dn_tcp_seg *s);

/* SYN,ACK with a cookie for ISN: no state kept. */
static void send_cookie(struct dn_stack *st, const struct dn_tcp_seg *s)
{
	uint16_t pm = s->opt.mss_ok ? s->opt.mss : DN_TCP_DEFAULT_MSS;
	uint16_t ours = dn_tcp_our_mss(st);
	if (pm > ours)
		pm = ours;
	uint32_t idx = 0;
	for (uint32_t i = 0; i < 8; i++)
		if (cookie_mss[i] <= pm)
			idx = i;
	uint32_t isn = cookie_make(st, s, cookie_time(st), idx);
	dn_tcp_send_syn_cookie(st, s, isn, cookie_mss[idx]);
}

/* A duplicate ACK for an out-of-window segment (RFC 9293 3.10.7.4) or
 * one PAWS rejected (RFC 7323 5.3): at most one per connection per
 * conf.invalid_ratelimit_us, shared with challenge ACKs, so a flood of
 * spoofed segments cannot make us a reflector or an oracle.  Segments
 * taking sequence space (data, FIN) without SYN are always answered:
 * they are no part of an ACK loop and their sender needs to hear where
 * we are (as Linux tcp_oow_rate_limited). */
static void send_oow_ack(struct dn_tcp_conn *c, const struct dn_tcp_seg *s)
{
	bool limitable = (s->len == 0 && !(s->flags & DN_TH_FIN)) ||
			 (s->flags & DN_TH_SYN);
	if (limitable && dn_tcp_oow_limited(c)) {
		DN_TCP_CTR(c->st, OOW_ACKS_LIMITED);
		return;
	}
	DN_TCP_CTR(c->st, OOW_ACKS);
	dn_tcp_send_ack(c);
}

static void listen_input(struct dn_stack *st, struct dn_tcp_conn *l,
			 struct dn_tcp_seg *s)
{
	const struct dn_tcp_conf *cf = &st->tcp.conf;
	if (s->flags & DN_TH_RST) {
		DN_TCP_DROP(st, LISTEN_NOSYN);
		return;
	}
	if (s->flags & DN_TH_ACK) {
		/* A cookie coming back? */
		if (cf->syncookies && !(s->flags & DN_TH_SYN)) {
			uint32_t cookie = s->ack - 1;
			uint32_t now_t = cookie_time(st);
			struct dn_tcp_seg orig = *s;
			orig.seq = s->seq - 1;
			for (uint32_t d = 0; d < 2; d++) {
				uint32_t t = now_t - d;
				if ((cookie >> 27) != (t & 31))
					continue;
				uint32_t idx = (cookie >> 24) & 7;
				if (cookie_make(st, &orig, t, idx) != cookie)
					continue;
				if (l->aq_len >= l->backlog) {
					DN_TCP_DROP(st, ACCEPT_QUEUE_FULL);
					return;
				}
				struct dn_tcp_conn *c = new_child(st, l, s);
				if (!c) {
					/* Still no room: the peer
					 * retransmits, the cookie stays
					 * good for a while. */
					DN_TCP_DROP(st, NO_MEMORY);
					return;
				}
				DN_TCP_CTR(st, SYNCOOKIES_OK);
				c->irs = orig.seq;
				c->rcv_nxt = s->seq;
				c->rcv_adv = c->rcv_nxt + DN_TCP_SYN_WINDOW;
				c->iss = cookie;
				c->snd_una = cookie;
				c->snd_nxt = cookie + 1;
				c->snd_max = cookie + 1;
				c->tx_seq = cookie + 1;
				c->peer_mss = cookie_mss[idx];
				c->snd_wl1 = s->seq;
				c->snd_wl2 = s->ack;
				conn_input(c, s);
				return;
			}
			DN_TCP_DROP(st, BAD_COOKIE);
		} else {
			DN_TCP_DROP(st, LISTEN_ACK);
		}
		dn_tcp_send_rst_reply(st, s);
		return;
	}
	if (!(s->flags & DN_TH_SYN)) {
		DN_TCP_DROP(st, LISTEN_NOSYN);
		return;
	}
	if (l->aq_len >= l->backlog) {
		DN_TCP_DROP(st, ACCEPT_QUEUE_FULL);
		return;
	}
	uint32_t synmax = l->backlog < cf->syn_backlog_max ? l->backlog
							   : cf->syn_backlog_max;
	if (synmax < 8)
		synmax = 8;
	if (cf->syncookies == 2 || l->synq_len >= synmax) {
		if (!cf->syncookies) {
			DN_TCP_DROP(st, SYN_QUEUE_FULL);
			return;
		}
		/* SYN flood: answer statelessly. */
		send_cookie(st, s);
		return;
	}
	struct dn_tcp_conn *c = new_child(st, l, s);
	if (!c) {
		/* The connection table is full (and holds no TIME-WAIT entry
		 * to recycle): answer statelessly too, so other apps' and
		 * connections' state cannot keep this listener's peers out
		 * (issue 10 item 3). */
		if (!cf->syncookies) {
			DN_TCP_DROP(st, NO_MEMORY);
			return;
		}
		DN_TCP_CTR(st, SYNCOOKIES_TABLE_FULL);
		send_cookie(st, s);
		return;
	}
	c->irs = s->seq;
	c->rcv_nxt = s->seq + 1;
	/* The advertised right edge starts at RCV.NXT (it only moves
	 * forward in sequence space, so it must start in the right half). */
	c->rcv_adv = c->rcv_nxt;
	c->iss = dn_tcp_isn(st, c->laddr, c->lport, c->faddr, c->fport);
	c->snd_una = c->iss;
	c->snd_nxt = c->iss;
	c->snd_max = c->iss;
	c->tx_seq = c->iss + 1;
	syn_options(c, s, true);
	if (c->flags & DN_TCPF_WS) {
		/* The ring comes with attach(), after the handshake: scale
		 * for the largest one it may be. */
		c->rcv_wscale = dn_tcp_pick_wscale(c);
	}
	c->snd_wnd = s->wnd;   /* never scaled in a SYN (RFC 7323 2.2) */
	c->max_snd_wnd = c->snd_wnd;
	c->snd_wl1 = s->seq;
	c->snd_wl2 = c->iss;
	/* Data in a SYN is not kept; the peer sends it again. */
	dn_tcp_send_syn(c);
}

/* ---- SYN-SENT (RFC 9293 3.10.7.3) ---------------------------------------- */

static void synsent_input(struct dn_tcp_conn *c, struct dn_tcp_seg *s)
{
	struct dn_stack *st = c->st;
	struct dn_tcp *t = &st->tcp;
	bool ack = s->flags & DN_TH_ACK;
	if (ack && (DN_SEQ_LEQ(s->ack, c->iss) || DN_SEQ_GT(s->ack, c->snd_max))) {
		DN_TCP_DROP(st, SYNSENT_BAD_ACK);
		dn_tcp_send_rst_reply(st, s);
		return;
	}
	if (s->flags & DN_TH_RST) {
		if (ack) {
			DN_TCP_CTR(st, RESETS_IN);
			dn_tcp_drop_conn(c, ECONNREFUSED);
		} else {
			DN_TCP_DROP(st, SYNSENT_BAD_ACK);
		}
		return;
	}
	if (!(s->flags & DN_TH_SYN)) {
		DN_TCP_DROP(st, SYNSENT_NOSYN);
		return;
	}
	c->irs = s->seq;
	c->rcv_nxt = s->seq + 1;
	c->rcv_adv = c->rcv_nxt;
	syn_options(c, s, true);
	if (ack) {
		rtt_from_ack(c, s);
		c->snd_una = s->ack;
		c->snd_wnd = (uint32_t)s->wnd;  /* unscaled in a SYN */
		c->max_snd_wnd = c->snd_wnd;
		c->snd_wl1 = s->seq;
		c->snd_wl2 = s->ack;
		/* RFC 6298 5.7: a SYN timed out and no RTT sample came back:
		 * data starts with a 3 s RTO. */
		if (c->backoff && c->srtt_us == 0 && c->rto_us < 3000000)
			c->rto_us = 3000000;
		c->backoff = 0;
		dn_tcp_timer_clear(c, DN_TCP_T_RTX);
		dn_tcp_set_state(c, DN_TCP_ESTABLISHED);
		dn_tcp_established(c);
		if (c->flags & DN_TCPF_FIN_QUEUED)
			dn_tcp_set_state(c, DN_TCP_FIN_WAIT_1);
		c->flags |= DN_TCPF_ACK_NOW;
		if ((c->flags & DN_TCPF_OWNED) && t->up && t->up->connected)
			t->up->connected(t->up_ctx, c, 0);
		dn_tcp_output(c);
		return;
	}
	/* Simultaneous open: SYN-RECEIVED, send SYN,ACK (3.10.7.3). */
	c->snd_wnd = (uint32_t)s->wnd;
	c->max_snd_wnd = c->snd_wnd;
	c->snd_wl1 = s->seq;
	c->snd_wl2 = c->iss;
	dn_tcp_set_state(c, DN_TCP_SYN_RECEIVED);
	dn_tcp_send_syn(c);
}

/* ---- synchronized states and SYN-RECEIVED (3.10.7.4) -------------------- */

static void conn_input(struct dn_tcp_conn *c, struct dn_tcp_seg *s)
{
	struct dn_stack *st = c->st;
	struct dn_tcp *t = &st->tcp;
	const struct dn_tcp_conf *cf = &t->conf;
	bool rst = s->flags & DN_TH_RST;

	/* RFC 7323 5.3 PAWS, before everything else. */
	if ((c->flags & DN_TCPF_TS) && s->opt.ts_ok && !rst &&
	    DN_SEQ_LT(s->opt.tsval, c->ts_recent) &&
	    st->now_us - c->ts_recent_us < DN_TCP_PAWS_IDLE_US) {
		DN_TCP_DROP(st, PAWS);
		send_oow_ack(c, s);
		return;
	}

	/* Our SYN,ACK was lost and the peer repeats its SYN: answer with
	 * the SYN,ACK again rather than a bare ACK. */
	if (c->state == DN_TCP_SYN_RECEIVED && (s->flags & DN_TH_SYN) &&
	    !(s->flags & (DN_TH_ACK | DN_TH_RST)) && s->seq == c->irs) {
		dn_tcp_send_syn(c);
		c->flags &= ~DN_TCPF_RTT_TIMING;   /* Karn: now ambiguous */
		return;
	}

	/* First: sequence number acceptability (3.10.7.4 table). */
	uint32_t seglen = s->len + !!(s->flags & DN_TH_SYN) +
			  !!(s->flags & DN_TH_FIN);
	uint32_t wnd = DN_SEQ_GT(c->rcv_adv, c->rcv_nxt) ? c->rcv_adv - c->rcv_nxt : 0;
	bool ok;
	if (seglen == 0) {
		if (wnd == 0)
			ok = s->seq == c->rcv_nxt;
		else
			ok = DN_SEQ_GEQ(s->seq, c->rcv_nxt) &&
			     DN_SEQ_LT(s->seq, c->rcv_nxt + wnd);
	} else if (wnd == 0) {
		/* Only a bare FIN at RCV.NXT gets in (as the kernel takes
		 * it): it needs no buffer space. */
		ok = s->len == 0 && !(s->flags & DN_TH_SYN) && s->seq == c->rcv_nxt;
	} else {
		uint32_t last = s->seq + seglen - 1;
		ok = (DN_SEQ_GEQ(s->seq, c->rcv_nxt) &&
		      DN_SEQ_LT(s->seq, c->rcv_nxt + wnd)) ||
		     (DN_SEQ_GEQ(last, c->rcv_nxt) &&
		      DN_SEQ_LT(last, c->rcv_nxt + wnd));
	}
	/* A pure ACK (no data, SYN, FIN or RST) exactly at our right edge
	 * is taken too (as the kernel does): a peer that filled our window
	 * sends its ACKs there.  Below RCV.NXT stays out: keepalive and
	 * window probes rely on getting an ACK back for that. */
	if (!ok && seglen == 0 && !rst && (s->flags & DN_TH_ACK) &&
	    dn_tcp_synchronized(c) && wnd && s->seq == c->rcv_nxt + wnd)
		ok = true;
	/* Simultaneous open: the peer's SYN,ACK repeats its SYN at IRS; take
	 * it (the SYN is trimmed below) so its ACK completes the handshake
	 * at once instead of after another round trip. */
	if (!ok && c->state == DN_TCP_SYN_RECEIVED && (s->flags & DN_TH_SYN) &&
	    (s->flags & DN_TH_ACK) && s->seq == c->irs && !rst)
		ok = true;
	if (!ok) {
		if (rst) {
			DN_TCP_DROP(st, RST_OUT_OF_WINDOW);
			return;
		}
		if (seglen && DN_SEQ_LT(s->seq + seglen, c->rcv_nxt + 1))
			DN_TCP_CTR(st, DUP_SEGS);
		DN_TCP_DROP(st, OUT_OF_WINDOW);
		/* Still process the ACK field when the segment is only
		 * beyond a zero window (RFC 9293 3.10.7.4 note: a zero
		 * window must not stop ACK processing). */
		if (wnd == 0 && s->seq == c->rcv_nxt && (s->flags & DN_TH_ACK) &&
		    dn_tcp_synchronized(c)) {
			uint32_t freed = 0;
			if (process_ack(c, s, &freed) && !(c->flags & DN_TCPF_FREED)) {
				dn_tcp_send_ack(c);
				dn_tcp_output(c);
				if (freed)
					dn_tcp_upcall_writable(c);
			}
			return;
		}
		/* TIME-WAIT: a retransmitted FIN means our last ACK was lost;
		 * ACK it again and restart the 2MSL wait (3.10.7.4). */
		if (c->state == DN_TCP_TIME_WAIT && (s->flags & DN_TH_FIN))
			dn_tcp_timer_set(c, DN_TCP_T_LINGER, cf->time_wait_us);
		send_oow_ack(c, s);
		return;
	}

	/* Timestamps: RFC 7323 4.3 (3). */
	if ((c->flags & DN_TCPF_TS) && s->opt.ts_ok &&
	    DN_SEQ_LEQ(s->seq, c->last_ack_sent) &&
	    DN_SEQ_GEQ(s->opt.tsval, c->ts_recent)) {
		c->ts_recent = s->opt.tsval;
		c->ts_recent_us = st->now_us;
	}

	/* Second: RST (RFC 5961 3.2). */
	if (rst) {
		if (c->state == DN_TCP_TIME_WAIT) {
			DN_TCP_DROP(st, RST_TIME_WAIT);   /* RFC 1337 */
			return;
		}
		if (s->seq != c->rcv_nxt) {
			dn_tcp_send_challenge_ack(c);
			return;
		}
		DN_TCP_CTR(st, RESETS_IN);
		switch (c->state) {
		case DN_TCP_SYN_RECEIVED:
			if (c->parent) {   /* back to LISTEN: forget it */
				dn_tcp_done(c);
				return;
			}
			dn_tcp_drop_conn(c, ECONNREFUSED);
			return;
		case DN_TCP_CLOSING:
		case DN_TCP_LAST_ACK:
			dn_tcp_drop_conn(c, ECONNRESET);
			return;
		default:
			dn_tcp_drop_conn(c, ECONNRESET);
			return;
		}
	}

	/* Trim to the window (3.10.7.4, "the segment is trimmed"). */
	if (DN_SEQ_LT(s->seq, c->rcv_nxt)) {
		uint32_t d = c->rcv_nxt - s->seq;
		if (s->flags & DN_TH_SYN) {
			s->flags &= ~DN_TH_SYN;
			s->seq++;
			d--;
		}
		if (d >= s->len) {
			if (d > s->len && (s->flags & DN_TH_FIN))
				s->flags &= ~DN_TH_FIN;   /* an old FIN */
			if (s->len)
				DN_TCP_CTR(st, DUP_SEGS);
			s->data += s->len;
			s->seq += s->len;
			s->len = 0;
			if (s->flags & DN_TH_FIN || seglen)
				c->flags |= DN_TCPF_ACK_NOW;  /* dup: re-ACK */
		} else {
			s->data += d;
			s->len -= d;
			s->seq += d;
			DN_TCP_CTR(st, DUP_SEGS);
			c->flags |= DN_TCPF_ACK_NOW;
		}
	}
	if (s->len && DN_SEQ_GT(s->seq + s->len, c->rcv_nxt + wnd)) {
		s->len = c->rcv_nxt + wnd - s->seq;
		s->flags &= ~DN_TH_FIN;
		c->flags |= DN_TCPF_ACK_NOW;
	}

	/* Fourth: SYN in a synchronized state: RFC 5961 4 challenge ACK. */
	if (s->flags & DN_TH_SYN) {
		dn_tcp_send_challenge_ack(c);
		return;
	}

	/* Fifth: ACK. */
	if (!(s->flags & DN_TH_ACK)) {
		DN_TCP_DROP(st, NO_ACK);
		if (c->flags & DN_TCPF_ACK_NOW)
			dn_tcp_send_ack(c);
		return;
	}
	bool connected_up = false;
	if (c->state == DN_TCP_SYN_RECEIVED) {
		if (!(DN_SEQ_GT(s->ack, c->snd_una) &&
		      DN_SEQ_LEQ(s->ack, c->snd_max))) {
			DN_TCP_DROP(st, BAD_SYNRCVD_ACK);
			dn_tcp_send_rst_reply(st, s);
			return;
		}
		if (c->parent && c->parent->aq_len >= c->parent->backlog) {
			/* Accept queue full: ignore the ACK, the peer
			 * retransmits and we retry (kernel behaviour). */
			DN_TCP_DROP(st, ACCEPT_QUEUE_FULL);
			return;
		}
		c->snd_wnd = (uint32_t)s->wnd << c->snd_wscale;
		c->max_snd_wnd = c->snd_wnd;
		c->snd_wl1 = s->seq;
		c->snd_wl2 = s->ack;
		rtt_from_ack(c, s);
		dn_tcp_set_state(c, DN_TCP_ESTABLISHED);
		dn_tcp_established(c);
		c->backoff = 0;
		if (c->parent) {
			if (!dn_tcp_child_established(c)) {
				dn_tcp_send_rst_conn(c);
				dn_tcp_done(c);
				return;
			}
		} else {
			connected_up = true;
			if (c->flags & DN_TCPF_FIN_QUEUED)
				dn_tcp_set_state(c, DN_TCP_FIN_WAIT_1);
		}
	}
	uint32_t tx_freed = 0;
	if (c->state == DN_TCP_TIME_WAIT) {
		/* Only a retransmitted FIN matters here (below). */
	} else if (!process_ack(c, s, &tx_freed)) {
		if (!(c->flags & DN_TCPF_FREED) && connected_up && t->up &&
		    t->up->connected && (c->flags & DN_TCPF_OWNED))
			t->up->connected(t->up_ctx, c, 0);
		return;
	}

	/* Seventh: segment text. */
	uint32_t readable = 0;
	if (s->len) {
		switch (c->state) {
		case DN_TCP_ESTABLISHED:
		case DN_TCP_FIN_WAIT_1:
		case DN_TCP_FIN_WAIT_2:
			if (c->flags & DN_TCPF_FIN_RCVD) {
				DN_TCP_DROP(st, DATA_AFTER_FIN);
				break;
			}
			if ((c->flags & DN_TCPF_ORPHAN) && !(c->flags & DN_TCPF_OWNED)) {
				/* Nobody will read it: reset (kernel
				 * behaviour after close()). */
				DN_TCP_DROP(st, RX_CLOSED);
				dn_tcp_send_rst_conn(c);
				dn_tcp_drop_conn(c, ECONNRESET);
				return;
			}
			c->last_rx_us = st->now_us;
			st->tcp.ctr[DN_TCP_C_BYTES_IN] += s->len;
			readable = rx_data(c, s->seq, s->data, s->len);
			if (!(c->flags & DN_TCPF_ACK_NOW)) {
				/* Delayed ACK: at least every second full
				 * segment (RFC 5681 4.2), else within
				 * delack_us (< 500 ms, RFC 9293 3.8.6.3). */
				if (++c->unacked_segs >= 2 || readable < s->len) {
					/* Inside an Rx burst the ACK goes
					 * out once at its end (tcp.c); a
					 * full receive ring answers now. */
					if (readable < s->len ||
					    !dn_tcp_ack_at_burst_end(c))
						c->flags |= DN_TCPF_ACK_NOW;
				}
				else if (!dn_tcp_timer_on(c, DN_TCP_T_DELACK))
					dn_tcp_timer_set(c, DN_TCP_T_DELACK,
							 cf->delack_us);
			}
			break;
		default:
			/* After the peer's FIN (3.10.7.4 seventh step):
			 * ignore the text, re-ACK so the peer sees where we
			 * are. */
			DN_TCP_DROP(st, DATA_AFTER_FIN);
			c->flags |= DN_TCPF_ACK_NOW;
			break;
		}
	}
	c->last_rx_us = st->now_us;

	/* Eighth: FIN. */
	bool eof = false;
	if (s->flags & DN_TH_FIN) {
		uint32_t fseq = s->seq + s->len;
		if (c->state == DN_TCP_TIME_WAIT) {
			/* Retransmitted FIN: ACK it, restart 2MSL. */
			c->flags |= DN_TCPF_ACK_NOW;
			dn_tcp_timer_set(c, DN_TCP_T_LINGER, cf->time_wait_us);
		} else if (c->flags & DN_TCPF_FIN_RCVD) {
			c->flags |= DN_TCPF_ACK_NOW;
		} else if (fseq == c->rcv_nxt) {
			process_fin(c);
			eof = true;
		} else if (DN_SEQ_GT(fseq, c->rcv_nxt)) {
			c->flags |= DN_TCPF_OOO_FIN | DN_TCPF_ACK_NOW;
			c->ooo_fin_seq = fseq;
		}
	}
	if ((c->flags & DN_TCPF_OOO_FIN) && !(c->flags & DN_TCPF_FIN_RCVD) &&
	    c->ooo_fin_seq == c->rcv_nxt) {
		process_fin(c);
		eof = true;
	}

	/* Send: data, piggybacked ACK, or a pure ACK. */
	if (c->state == DN_TCP_TIME_WAIT) {
		if (c->flags & DN_TCPF_ACK_NOW)
			dn_tcp_send_ack(c);
	} else {
		dn_tcp_output(c);
	}

	/* Upcalls last: they may re-enter the API. */
	if (connected_up && !(c->flags & DN_TCPF_FREED) &&
	    (c->flags & DN_TCPF_OWNED) && t->up && t->up->connected)
		t->up->connected(t->up_ctx, c, 0);
	if (readable && !(c->flags & DN_TCPF_FREED))
		dn_tcp_upcall_readable(c);
	if (eof && !(c->flags & DN_TCPF_FREED))
		dn_tcp_upcall_eof(c);
	if (tx_freed && !(c->flags & DN_TCPF_FREED))
		dn_tcp_upcall_writable(c);
}

/* ---- entry point ------------------------------------------------------- */

void dn_tcp_input(struct dn_stack *st, const struct dn_ip4_info *ip,
		  const uint8_t *p, size_t len)
{
	dn_tcp_enter(st);
	DN_TCP_CTR(st, SEGS_IN);
	struct dn_tcp_seg s;
	if (len < DN_TCP_HLEN) {
		DN_TCP_DROP(st, SHORT);
		goto out;
	}
	size_t doff = (size_t)(p[12] >> 4) * 4;
	if (doff < DN_TCP_HLEN) {
		DN_TCP_DROP(st, BAD_DOFF);
		goto out;
	}
	if (doff > len) {
		DN_TCP_DROP(st, SHORT);
		goto out;
	}
	uint32_t sum = dn_ip4_pseudo_sum(ip->src, ip->dst, DN_IPPROTO_TCP,
					 (uint16_t)len);
	if (len > 0xffff || dn_csum_fold(dn_csum_add(sum, p, len)) != 0) {
		DN_TCP_DROP(st, BAD_CSUM);
		goto out;
	}
	if (ip->bcast) {
		DN_TCP_DROP(st, NO_SOCKET);   /* never answer broadcasts */
		goto out;
	}
	s.src = ip->src;
	s.dst = ip->dst;
	s.sport = dn_get16(p);
	s.dport = dn_get16(p + 2);
	s.seq = dn_get32(p + 4);
	s.ack = dn_get32(p + 8);
	s.flags = p[13] & 0x3f;
	s.wnd = dn_get16(p + 14);
	s.data = p + doff;
	s.len = (uint32_t)(len - doff);
	dn_tcp_parse_opts(p + DN_TCP_HLEN, doff - DN_TCP_HLEN,
			  (s.flags & DN_TH_SYN) != 0, &s.opt);

	struct dn_tcp_conn *c = dn_tcp_lookup(st, s.dst, s.dport, s.src, s.sport);
	if (c && c->state == DN_TCP_TIME_WAIT && (s.flags & DN_TH_SYN) &&
	    !(s.flags & (DN_TH_ACK | DN_TH_RST)) &&
	    DN_SEQ_GT(s.seq, c->rcv_nxt) &&
	    dn_tcp_lookup_listener(st, s.dst, s.dport)) {
		/* RFC 9293 3.10.7.4 / RFC 6191: a new incarnation may reuse
		 * the 4-tuple when its SYN lies above the old sequence. */
		DN_TCP_CTR(st, TIME_WAIT_REUSE);
		dn_tcp_done(c);
		c = NULL;
	}
	if (!c) {
		struct dn_tcp_conn *l = dn_tcp_lookup_listener(st, s.dst, s.dport);
		if (l) {
			listen_input(st, l, &s);
			goto out;
		}
		/* CLOSED (3.10.7.1): RST unless the segment is one. */
		DN_TCP_DROP(st, NO_SOCKET);
		dn_tcp_send_rst_reply(st, &s);
		goto out;
	}
	if (c->state == DN_TCP_SYN_SENT)
		synsent_input(c, &s);
	else
		conn_input(c, &s);
out:
	dn_tcp_leave(st);
}

/* ---- ICMP errors (RFC 5927, RFC 1122 4.2.3.9) --------------------------- */

void dn_tcp_icmp_error(struct dn_stack *st, uint8_t type, uint8_t code,
		       const uint8_t *q, size_t len)
{
	dn_tcp_enter(st);
	DN_TCP_CTR(st, ICMP_ERRORS);
	if (len < 20 || (q[0] >> 4) != 4) {
		DN_TCP_DROP(st, ICMP_BAD);
		goto out;
	}
	size_t ihl = (size_t)(q[0] & 0xf) * 4;
	if (ihl < 20 || len < ihl + 8) {
		DN_TCP_DROP(st, ICMP_BAD);
		goto out;
	}
	uint32_t src = dn_get32(q + 12), dst = dn_get32(q + 16);
	const uint8_t *th = q + ihl;
	uint16_t sport = dn_get16(th), dport = dn_get16(th + 2);
	uint32_t seq = dn_get32(th + 4);
	struct dn_tcp_conn *c = dn_tcp_lookup(st, src, sport, dst, dport);
	/* RFC 5927 4.1: the quoted sequence number must be in flight. */
	if (!c || DN_SEQ_LT(seq, c->snd_una) || DN_SEQ_GT(seq, c->snd_max)) {
		DN_TCP_DROP(st, ICMP_BAD);
		goto out;
	}
	int err;
	if (type == 3) {
		switch (code) {
		case 0: err = ENETUNREACH; break;
		case 2:
		case 3: err = ECONNREFUSED; break;
		case 4:
			/* Fragmentation needed: the next-hop MTU is in the
			 * ICMP header, which we do not get; count only. */
			DN_TCP_CTR(st, PMTU_UPDATES);
			goto out;
		case 6: err = ENETUNREACH; break;
		default: err = EHOSTUNREACH; break;
		}
	} else {
		err = EHOSTUNREACH;   /* time exceeded: soft */
	}
	if (c->state == DN_TCP_SYN_SENT && type == 3) {
		/* A connection attempt fails at once (as the kernel does). */
		dn_tcp_drop_conn(c, err);
		goto out;
	}
	c->soft_err = err;   /* reported if the connection times out */
out:
	dn_tcp_leave(st);
}
