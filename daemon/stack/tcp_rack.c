/*
 * RACK-TLP loss detection (RFC 8985) for SACK connections.
 *
 * RACK (6): every transmission is logged with its time; a segment is lost
 * when one sent sufficiently later (by more than the reordering window,
 * 6.2) has been delivered (cumulatively ACKed or SACKed).  Because the
 * judgement is by transmission time, a lost retransmission is detected the
 * same way as a lost original, and so is a loss near the tail once
 * anything sent after it is delivered.
 *
 * TLP (7): when new data or an ACK leaves data outstanding, a probe timer
 * (PTO, about two RTTs) sends one segment (new data if the windows allow,
 * else the highest one again) so that a loss at the tail elicits an ACK,
 * with SACK blocks, that RACK can use, instead of waiting for the RTO.
 *
 * Marking only: the retransmissions themselves go out through the RFC 6675
 * recovery in dn_tcp_output (NextSeg takes RACK-lost ranges first, pipe
 * discounts them), and the congestion response is the usual one, once per
 * window (RFC 8985 9.3).  The RTX timer slot carries the RTO, the PTO or
 * the reordering timeout (6.3), as one timer.
 *
 * The log is an unordered array (sizes are small; every pass is linear).
 * When it is full, new data is merged into the last record sent (its
 * earlier time makes that record look older: at worst a spurious
 * retransmission), retransmissions go unlogged (their loss is then left
 * to the RTO).
 */
#include <stdlib.h>

#include "tcp_int.h"

/* RFC 8985 7.2: worst-case delayed ACK time when one segment is in
 * flight (the peer may hold its ACK for it). */
#define WCDELACK_US 200000ull
/* PTO slack with more in flight: two timer ticks, so that on a short
 * path the 1 ms wheel does not fire before an ACK for two segments could
 * be back. */
#define PTO_SLACK_US (2ull * DN_TCP_WHEEL_TICK_US)

bool dn_tcp_rack_active(const struct dn_tcp_conn *c)
{
	return c->rack.rec && c->st->tcp.conf.rack &&
	       (c->flags & DN_TCPF_SACK);
}

void dn_tcp_rack_free(struct dn_tcp_conn *c)
{
	free(c->rack.rec);
	c->rack.rec = NULL;
	c->rack.nrec = 0;
}

static void rec_remove(struct dn_tcp_rack *r, int i)
{
	if (r->rec[i].flags & DN_TCP_TXR_LOST)
		r->nlost--;
	r->nrec--;
	if (i != r->nrec) {
		r->rec[i] = r->rec[r->nrec];
		if (r->last == r->nrec)
			r->last = (uint16_t)i;
	}
}

static void rec_append(struct dn_tcp_rack *r, uint32_t start, uint32_t end,
		       uint64_t t, uint8_t flags)
{
	struct dn_tcp_txrec *x = &r->rec[r->nrec];
	x->start = start;
	x->end = end;
	x->xmit_us = t;
	x->flags = flags;
	if (flags & DN_TCP_TXR_LOST)
		r->nlost++;
	r->last = r->nrec++;
}

void dn_tcp_rack_on_send(struct dn_tcp_conn *c, uint32_t seq, uint32_t end,
			 bool rexmit)
{
	struct dn_tcp_rack *r = &c->rack;
	if (!c->st->tcp.conf.rack || !(c->flags & DN_TCPF_SACK) ||
	    !DN_SEQ_LT(seq, end))
		return;
	if (!r->rec) {
		r->rec = calloc(DN_TCP_RACK_RECS, sizeof(r->rec[0]));
		if (!r->rec)
			return;   /* RACK off for this connection */
		r->nrec = 0;
		r->reo_wnd_mult = 1;
	}
	uint64_t now = c->st->now_us;
	if (rexmit) {
		/* The new transmission supersedes what the older records say
		 * about these bytes (their times and lost marks). */
		for (int i = 0; i < r->nrec;) {
			struct dn_tcp_txrec *x = &r->rec[i];
			if (!DN_SEQ_LT(x->start, end) || !DN_SEQ_GT(x->end, seq)) {
				i++;
				continue;
			}
			if (DN_SEQ_LT(x->start, seq) && DN_SEQ_GT(x->end, end)) {
				struct dn_tcp_txrec tail = *x;
				x->end = seq;
				if (r->nrec < DN_TCP_RACK_RECS)
					rec_append(r, end, tail.end, tail.xmit_us,
						   (uint8_t)tail.flags);
			} else if (DN_SEQ_LT(x->start, seq)) {
				x->end = seq;
			} else if (DN_SEQ_GT(x->end, end)) {
				x->start = end;
			} else {
				rec_remove(r, i);
				continue;
			}
			i++;
		}
	}
	if (r->nrec < DN_TCP_RACK_RECS) {
		rec_append(r, seq, end, now, rexmit ? DN_TCP_TXR_RETRANS : 0);
		return;
	}
	if (!rexmit && r->nrec && r->rec[r->last].end == seq &&
	    !(r->rec[r->last].flags & DN_TCP_TXR_LOST))
		r->rec[r->last].end = end;
}

void dn_tcp_rack_on_rto(struct dn_tcp_conn *c)
{
	/* RFC 8985 6.3 marks everything unSACKed lost on an RTO; here the
	 * go-back-N after the RTO resends all of it (skipping SACKed
	 * ranges) and logs it anew, so the old records go. */
	c->rack.nrec = 0;
	c->rack.nlost = 0;
	c->rack.last = 0;
	c->rack.reo_deadline = 0;
	c->rack.tlp_inflight = false;
}

/* RFC 8985 6.2 RACK_reo_wnd(). */
static uint64_t reo_wnd(const struct dn_tcp_conn *c)
{
	const struct dn_tcp_rack *r = &c->rack;
	if (!r->reordering_seen) {
		if (c->flags & (DN_TCPF_RECOVERY | DN_TCPF_LOSS))
			return 0;
		if (c->sacked_bytes >= (uint32_t)DN_TCP_DUPTHRESH * c->mss)
			return 0;
	}
	uint64_t w = (uint64_t)r->reo_wnd_mult * r->min_rtt_us / 4;
	if (c->srtt_us && w > c->srtt_us)
		w = c->srtt_us;
	return w;
}

/* RFC 8985 6.1 RACK_update() for one newly delivered record, plus the
 * reordering detection of 6.2 (delivered below the highest delivered
 * sequence, without having been retransmitted). */
static void delivered(struct dn_tcp_conn *c, const struct dn_tcp_txrec *x,
		      uint32_t fack, bool fack_valid)
{
	struct dn_tcp_rack *r = &c->rack;
	uint64_t now = c->st->now_us;
	uint64_t t = x->xmit_us;
	uint64_t rtt = now > t ? now - t : 0;
	bool rexmit = x->flags & DN_TCP_TXR_RETRANS;
	if (!rexmit && fack_valid && DN_SEQ_LT(x->end, fack))
		r->reordering_seen = true;
	if (!r->fack_valid || DN_SEQ_GT(x->end, r->fack)) {
		r->fack = x->end;
		r->fack_valid = true;
	}
	if (rexmit) {
		/* Step 2: an ACK sooner than the minimum RTT after a
		 * retransmission is for the original: ambiguous, skip. */
		if (!r->min_rtt_us || rtt < r->min_rtt_us)
			return;
	} else if (!r->min_rtt_us || rtt < r->min_rtt_us) {
		r->min_rtt_us = rtt ? rtt : 1;
	}
	if (!r->xmit_valid || t > r->xmit_us ||
	    (t == r->xmit_us && DN_SEQ_GT(x->end, r->end_seq))) {
		r->xmit_valid = true;
		r->xmit_us = t;
		r->end_seq = x->end;
		r->rtt_us = rtt;
	}
}

/* RFC 8985 6.2 RACK_detect_loss(): returns records newly marked lost and
 * sets the reordering timer for those not yet overdue. */
static uint32_t detect_loss(struct dn_tcp_conn *c)
{
	struct dn_tcp_rack *r = &c->rack;
	uint64_t now = c->st->now_us;
	r->reo_deadline = 0;
	if (!r->xmit_valid)
		return 0;   /* nothing delivered yet */
	uint64_t reo = reo_wnd(c);
	uint64_t wait = 0;
	uint32_t n = 0;
	for (int i = 0; i < r->nrec; i++) {
		struct dn_tcp_txrec *x = &r->rec[i];
		if (x->flags & DN_TCP_TXR_LOST)
			continue;
		if (!(x->xmit_us < r->xmit_us ||
		      (x->xmit_us == r->xmit_us && DN_SEQ_GT(r->end_seq, x->end))))
			continue;   /* not sent before the latest delivered */
		uint64_t due = x->xmit_us + r->rtt_us + reo;
		if (due <= now) {
			x->flags |= DN_TCP_TXR_LOST;
			r->nlost++;
			n++;
		} else if (due - now > wait) {
			wait = due - now;
		}
	}
	if (wait)
		r->reo_deadline = now + wait;
	c->st->tcp.ctr[DN_TCP_C_RACK_LOST] += n;
	return n;
}

uint32_t dn_tcp_rack_on_ack(struct dn_tcp_conn *c)
{
	struct dn_tcp_rack *r = &c->rack;
	if (!dn_tcp_rack_active(c))
		return 0;
	/* 7.4: the probe's episode ends once what it covered is acked. */
	if (r->tlp_inflight && DN_SEQ_GEQ(c->snd_una, r->tlp_end_seq))
		r->tlp_inflight = false;
	uint32_t fack = r->fack;
	bool fack_valid = r->fack_valid;
	for (int i = 0; i < r->nrec;) {
		struct dn_tcp_txrec *x = &r->rec[i];
		bool full = DN_SEQ_LEQ(x->end, c->snd_una);
		bool part = false;
		if (!full) {
			uint32_t a = DN_SEQ_MAX(x->start, c->snd_una);
			uint32_t sk = dn_tcp_sack_bytes_in(c, a, x->end);
			full = sk == x->end - a;
			part = sk || a != x->start;
		}
		if (full || (part && !(x->flags & DN_TCP_TXR_SEEN)))
			delivered(c, x, fack, fack_valid);
		if (full) {
			rec_remove(r, i);
			continue;
		}
		if (part)
			x->flags |= DN_TCP_TXR_SEEN;
		i++;
	}
	return detect_loss(c);
}

/* First unSACKed byte of [a, end) and the run up to the next SACKed one. */
static bool unsacked_run(const struct dn_tcp_conn *c, uint32_t a, uint32_t end,
			 uint32_t *s, uint32_t *e)
{
	uint32_t run;
	while (DN_SEQ_LT(a, end) && dn_tcp_sack_is_sacked(c, a, &run))
		a = run;
	if (!DN_SEQ_LT(a, end))
		return false;
	uint32_t b = end;
	for (int i = 0; i < c->nsb; i++)
		if (DN_SEQ_GT(c->sb[i].start, a) && DN_SEQ_LT(c->sb[i].start, b))
			b = c->sb[i].start;
	*s = a;
	*e = b;
	return true;
}

bool dn_tcp_rack_next_lost(const struct dn_tcp_conn *c, uint32_t *seq,
			   uint32_t *len)
{
	const struct dn_tcp_rack *r = &c->rack;
	bool found = false;
	if (!r->nlost)
		return false;
	uint32_t bs = 0, be = 0;
	for (int i = 0; i < r->nrec; i++) {
		const struct dn_tcp_txrec *x = &r->rec[i];
		uint32_t s, e;
		if (!(x->flags & DN_TCP_TXR_LOST))
			continue;
		if (!unsacked_run(c, DN_SEQ_MAX(x->start, c->snd_una), x->end,
				  &s, &e))
			continue;
		if (!found || DN_SEQ_LT(s, bs)) {
			bs = s;
			be = e;
			found = true;
		}
	}
	if (found) {
		*seq = bs;
		*len = be - bs;
	}
	return found;
}

uint32_t dn_tcp_rack_lost_bytes(const struct dn_tcp_conn *c)
{
	const struct dn_tcp_rack *r = &c->rack;
	uint32_t n = 0;
	if (!r->nlost)
		return 0;
	for (int i = 0; i < r->nrec; i++) {
		const struct dn_tcp_txrec *x = &r->rec[i];
		if (!(x->flags & DN_TCP_TXR_LOST))
			continue;
		uint32_t a = DN_SEQ_MAX(x->start, c->snd_una);
		if (!DN_SEQ_LT(a, x->end))
			continue;
		n += (x->end - a) - dn_tcp_sack_bytes_in(c, a, x->end);
	}
	return n;
}

static bool data_state(const struct dn_tcp_conn *c)
{
	switch (c->state) {
	case DN_TCP_ESTABLISHED:
	case DN_TCP_CLOSE_WAIT:
	case DN_TCP_FIN_WAIT_1:
	case DN_TCP_CLOSING:
	case DN_TCP_LAST_ACK:
		return true;
	default:
		return false;
	}
}

/* RFC 8985 7.2: when a probe may be scheduled. */
static bool tlp_allowed(const struct dn_tcp_conn *c)
{
	return c->st->tcp.conf.tlp && !c->rack.tlp_inflight &&
	       !(c->flags & (DN_TCPF_RECOVERY | DN_TCPF_LOSS)) &&
	       c->srtt_us && c->backoff == 0 && data_state(c);
}

void dn_tcp_rack_arm(struct dn_tcp_conn *c, bool restart_pto)
{
	struct dn_tcp_rack *r = &c->rack;
	if (!dn_tcp_rack_active(c) || c->snd_max == c->snd_una ||
	    !data_state(c) || (c->flags & DN_TCPF_FREED))
		return;
	uint64_t now = c->st->now_us;
	uint64_t cur = c->timer[DN_TCP_T_RTX];
	if (r->reo_deadline > now) {
		/* 6.3: the reordering timer, unless the RTO comes first. */
		if (r->rtx_kind == DN_TCP_RTX_REO && cur == r->reo_deadline)
			return;
		if (r->rtx_kind != DN_TCP_RTX_RTO || !cur ||
		    r->reo_deadline < cur) {
			dn_tcp_timer_set(c, DN_TCP_T_RTX, r->reo_deadline - now);
			r->rtx_kind = DN_TCP_RTX_REO;
		}
		return;
	}
	if (r->rtx_kind == DN_TCP_RTX_REO) {
		dn_tcp_timer_set(c, DN_TCP_T_RTX, c->rto_us);   /* kind RTO */
		cur = c->timer[DN_TCP_T_RTX];
	}
	if (!tlp_allowed(c)) {
		if (r->rtx_kind == DN_TCP_RTX_PTO)
			dn_tcp_timer_set(c, DN_TCP_T_RTX, c->rto_us);
		return;
	}
	if (!restart_pto && r->rtx_kind == DN_TCP_RTX_PTO)
		return;
	if (!restart_pto && r->rtx_kind == DN_TCP_RTX_RTO && cur)
		return;
	/* 7.2: PTO = 2 SRTT, plus the peer's delayed ACK when one segment
	 * is all that is in flight; never later than the RTO would be. */
	uint64_t pto = 2 * c->srtt_us;
	if (c->snd_max - c->snd_una <= c->mss)
		pto += WCDELACK_US;
	else
		pto += PTO_SLACK_US;
	uint64_t rto_left = c->rto_us;
	if (r->rtx_kind == DN_TCP_RTX_RTO && cur && cur > now &&
	    cur - now < rto_left)
		rto_left = cur - now;
	if (pto > rto_left)
		pto = rto_left;
	dn_tcp_timer_set(c, DN_TCP_T_RTX, pto);
	r->rtx_kind = DN_TCP_RTX_PTO;
}

/* RFC 8985 7.3: send the probe. */
static void tlp_send(struct dn_tcp_conn *c)
{
	struct dn_tcp_rack *r = &c->rack;
	DN_TCP_CTR(c->st, TLP_PROBES);
	/* No second probe before this one is answered (7.4); set first so
	 * that the output below does not schedule one. */
	r->tlp_inflight = true;
	uint32_t top = c->snd_max;
	uint32_t unsent = dn_tcp_unsent(c);
	uint32_t edge = c->snd_una + c->snd_wnd;
	uint32_t want = unsent < c->mss ? unsent : c->mss;
	if (unsent && c->snd_nxt == c->snd_max && DN_SEQ_GT(edge, c->snd_nxt) &&
	    edge - c->snd_nxt >= want) {
		/* New data, whatever cwnd says (one segment). */
		uint32_t saved = c->cwnd;
		uint32_t fl = c->snd_nxt - c->snd_una;
		if (c->cwnd < fl + want)
			c->cwnd = fl + want;
		dn_tcp_output(c);
		c->cwnd = saved;
		if (c->flags & DN_TCPF_FREED)
			return;
	}
	if (c->snd_max != top) {
		DN_TCP_CTR(c->st, TLP_NEW_DATA);
	} else {
		/* The highest segment again (with the FIN if it is there). */
		uint32_t dtop = top;
		if ((c->flags & DN_TCPF_FIN_SENT) && DN_SEQ_GT(dtop, c->fin_seq))
			dtop = c->fin_seq;
		uint32_t len = DN_SEQ_GT(dtop, c->snd_una) ? dtop - c->snd_una : 0;
		if (len > c->mss)
			len = c->mss;
		dn_tcp_send_range(c, dtop - len, len, true);
	}
	r->tlp_end_seq = c->snd_max;
	/* 7.3: after the probe, the RTO. */
	dn_tcp_timer_set(c, DN_TCP_T_RTX, c->rto_us);
}

void dn_tcp_rack_timeout(struct dn_tcp_conn *c, uint8_t kind)
{
	struct dn_tcp_rack *r = &c->rack;
	if (kind == DN_TCP_RTX_PTO) {
		if (tlp_allowed(c) && dn_tcp_rack_active(c)) {
			tlp_send(c);
			return;
		}
	} else if (dn_tcp_rack_active(c)) {
		/* 6.3 RACK_reo_timeout(): the window has passed for the
		 * segments RACK was waiting on. */
		DN_TCP_CTR(c->st, RACK_REO_TIMEOUTS);
		detect_loss(c);
		if (!(c->flags & (DN_TCPF_RECOVERY | DN_TCPF_LOSS)) &&
		    dn_tcp_rack_lost_bytes(c))
			dn_tcp_enter_recovery(c);
		dn_tcp_output(c);
		if (c->flags & DN_TCPF_FREED)
			return;
		dn_tcp_timer_rearm_rtx(c);
		dn_tcp_rack_arm(c, false);
		return;
	}
	(void)r;
	dn_tcp_timer_set(c, DN_TCP_T_RTX, c->rto_us);
}
