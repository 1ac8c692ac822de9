/*
 * TCP timers: one hashed timing wheel per worker (1 ms ticks), one wheel
 * entry per connection keyed by its earliest timer.  Only deadlines within
 * one turn of the wheel sit in its slots, so a slot holds the entries of a
 * single tick and the first non-empty slot (an occupancy bitmap finds it)
 * holds the next deadline.  Later ones (TIME-WAIT's 2MSL, keepalive) wait
 * on a far list that is looked at twice a turn, so thousands of
 * connections in TIME-WAIT cost nothing per tick.
 */
#include <errno.h>

#include "tcp_int.h"

#define MASK (DN_TCP_WHEEL_SLOTS - 1)
#define FAR_SLOT UINT32_MAX

static uint64_t earliest(const struct dn_tcp_conn *c)
{
	uint64_t d = 0;
	for (int t = 0; t < DN_TCP_NTIMERS; t++)
		if (c->timer[t] && (d == 0 || c->timer[t] < d))
			d = c->timer[t];
	return d;
}

static void wheel_unlink(struct dn_tcp_conn *c)
{
	if (!c->in_wheel)
		return;
	struct dn_tcp_wheel *w = &c->st->tcp.wheel;
	struct dn_tcp_conn **head = c->wslot == FAR_SLOT ? &w->far : &w->slot[c->wslot];
	if (c->wprev)
		c->wprev->wnext = c->wnext;
	else
		*head = c->wnext;
	if (c->wnext)
		c->wnext->wprev = c->wprev;
	if (c->wslot == FAR_SLOT)
		w->nfar--;
	else if (!*head)
		w->used[c->wslot / 64] &= ~(1ull << (c->wslot % 64));
	c->wnext = c->wprev = NULL;
	c->in_wheel = false;
	w->count--;
}

static void wheel_link(struct dn_tcp_conn *c, uint64_t deadline)
{
	struct dn_tcp_wheel *w = &c->st->tcp.wheel;
	uint64_t tick = deadline / DN_TCP_WHEEL_TICK_US;
	struct dn_tcp_conn **head;
	/* Overdue: the next slot the poll visits. */
	if (tick < w->tick)
		tick = w->tick;
	if (tick >= w->tick + DN_TCP_WHEEL_SLOTS) {
		c->wslot = FAR_SLOT;
		head = &w->far;
		w->nfar++;
	} else {
		uint32_t s = (uint32_t)(tick & MASK);
		c->wslot = s;
		head = &w->slot[s];
		w->used[s / 64] |= 1ull << (s % 64);
	}
	c->wdeadline = deadline;
	c->wprev = NULL;
	c->wnext = *head;
	if (c->wnext)
		c->wnext->wprev = c;
	*head = c;
	c->in_wheel = true;
	w->count++;
}

/* Entries of the far list that are now due within a turn go to their
 * slots.  Done every half turn, so each is in its slot before its tick. */
static void far_migrate(struct dn_tcp_wheel *w)
{
	struct dn_tcp_conn *c = w->far;
	w->far = NULL;
	w->count -= w->nfar;
	w->nfar = 0;
	while (c) {
		struct dn_tcp_conn *next = c->wnext;
		c->in_wheel = false;
		wheel_link(c, c->wdeadline);
		c = next;
	}
	w->far_tick = w->tick + DN_TCP_WHEEL_SLOTS / 2;
}

/* The first non-empty slot at or after the one for tick w->tick. */
static int first_used_slot(const struct dn_tcp_wheel *w)
{
	const unsigned nw = DN_TCP_WHEEL_SLOTS / 64;
	uint32_t s = (uint32_t)(w->tick & MASK);
	unsigned i = s / 64;
	uint64_t word = w->used[i] & (~0ull << (s % 64));
	for (unsigned k = 0; k <= nw; k++) {
		if (word)
			return (int)(i * 64 + (unsigned)__builtin_ctzll(word));
		i = (i + 1) % nw;
		word = w->used[i];
	}
	return -1;
}

static void relink(struct dn_tcp_conn *c)
{
	uint64_t d = earliest(c);
	if (d == 0 || (c->flags & DN_TCPF_FREED)) {
		wheel_unlink(c);
		return;
	}
	if (c->in_wheel && c->wdeadline == d)
		return;
	wheel_unlink(c);
	wheel_link(c, d);
}

void dn_tcp_timer_set(struct dn_tcp_conn *c, int t, uint64_t delay_us)
{
	if (c->flags & DN_TCPF_FREED)
		return;
	uint64_t d = c->st->now_us + delay_us;
	c->timer[t] = d ? d : 1;
	if (t == DN_TCP_T_RTX)
		c->rack.rtx_kind = DN_TCP_RTX_RTO;   /* callers re-mark PTO/REO */
	relink(c);
}

void dn_tcp_timer_clear(struct dn_tcp_conn *c, int t)
{
	if (t == DN_TCP_T_RTX)
		c->rack.rtx_kind = DN_TCP_RTX_RTO;
	if (!c->timer[t])
		return;
	c->timer[t] = 0;
	relink(c);
}

void dn_tcp_timer_clear_all(struct dn_tcp_conn *c)
{
	for (int t = 0; t < DN_TCP_NTIMERS; t++)
		c->timer[t] = 0;
	c->rack.rtx_kind = DN_TCP_RTX_RTO;
	wheel_unlink(c);
}

bool dn_tcp_timer_on(const struct dn_tcp_conn *c, int t)
{
	return c->timer[t] != 0;
}

/* RFC 6298 5.1-5.3: the retransmission timer runs while data (or SYN/FIN)
 * is outstanding.  Otherwise, if data waits behind a zero window, the
 * persist timer runs (RFC 9293 3.8.6.1). */
void dn_tcp_timer_rearm_rtx(struct dn_tcp_conn *c)
{
	if (c->snd_max != c->snd_una) {
		dn_tcp_timer_clear(c, DN_TCP_T_PERSIST);
		if (!c->timer[DN_TCP_T_RTX])
			dn_tcp_timer_set(c, DN_TCP_T_RTX, c->rto_us);
		return;
	}
	dn_tcp_timer_clear(c, DN_TCP_T_RTX);
	if (c->snd_wnd == 0 && dn_tcp_unsent(c) > 0) {
		if (!c->timer[DN_TCP_T_PERSIST]) {
			c->probes = 0;
			uint64_t d = c->rto_us;
			if (d < DN_TCP_PERSIST_MIN_US)
				d = DN_TCP_PERSIST_MIN_US;
			dn_tcp_timer_set(c, DN_TCP_T_PERSIST, d);
		}
	} else {
		dn_tcp_timer_clear(c, DN_TCP_T_PERSIST);
	}
}

static uint64_t backed_off(const struct dn_tcp_conn *c, uint64_t base)
{
	const struct dn_tcp_conf *cf = &c->st->tcp.conf;
	uint64_t v = base;
	for (int i = 0; i < c->backoff && v < cf->rto_max_us; i++)
		v *= 2;
	return v > cf->rto_max_us ? cf->rto_max_us : v;
}

static void on_rtx(struct dn_tcp_conn *c)
{
	struct dn_stack *st = c->st;
	const struct dn_tcp_conf *cf = &st->tcp.conf;

	if (c->state == DN_TCP_SYN_SENT || c->state == DN_TCP_SYN_RECEIVED) {
		if (++c->backoff > cf->syn_retries) {
			DN_TCP_CTR(st, TIMEOUTS);
			dn_tcp_drop_conn(c, c->soft_err ? c->soft_err : ETIMEDOUT);
			return;
		}
		DN_TCP_CTR(st, RTO_FIRED);
		/* RFC 6298 5.7: after a SYN timeout the RTO for data starts
		 * at 3 s if no sample arrived; we keep the backed-off value. */
		c->rto_us = backed_off(c, cf->rto_init_us);
		c->flags &= ~DN_TCPF_RTT_TIMING;   /* Karn */
		int soft = c->soft_err;
		c->soft_err = 0;
		dn_tcp_send_syn(c);
		if (c->state == DN_TCP_SYN_SENT && c->soft_err == EHOSTUNREACH) {
			/* Address resolution failed for the peer moments
			 * ago (the entry says so): fail the attempt now with
			 * EHOSTUNREACH, as the kernel does, instead of
			 * retrying the SYN for two minutes and reporting
			 * ETIMEDOUT. */
			dn_tcp_drop_conn(c, EHOSTUNREACH);
			return;
		}
		if (!c->soft_err)
			c->soft_err = soft;
		dn_tcp_timer_set(c, DN_TCP_T_RTX, c->rto_us);
		return;
	}
	uint8_t kind = c->rack.rtx_kind;
	c->rack.rtx_kind = DN_TCP_RTX_RTO;
	if (c->snd_max == c->snd_una)
		return;
	if (kind != DN_TCP_RTX_RTO) {
		/* The slot was armed as RFC 8985's probe or reordering
		 * timer, not as the RTO. */
		dn_tcp_rack_timeout(c, kind);
		return;
	}
	/* Behind a zero window our retransmissions are window probes: the
	 * peer is alive as long as it answers, so they do not count towards
	 * giving up (RFC 9293 3.8.6.1: probe a zero window indefinitely). */
	/* An orphan has nobody waiting for it: it gives up after
	 * conf.orphan_retries, zero window or not (Linux
	 * tcp_orphan_retries; RFC 9293 3.8.6.1 lets a TCP close when it
	 * must, and a dead app's connections must not live on forever). */
	bool orphan = dn_tcp_is_orphan(c);
	uint8_t limit = cf->max_retries;
	if (orphan && cf->orphan_retries < limit)
		limit = cf->orphan_retries;
	bool zero_wnd = !orphan && c->snd_wnd == 0 &&
			st->now_us - c->last_rx_us < 2 * cf->rto_max_us;
	if (zero_wnd && c->backoff >= cf->max_retries)
		c->backoff = cf->max_retries - 1;
	if (++c->backoff > limit) {
		if (limit < cf->max_retries)
			DN_TCP_CTR(st, ORPHANS_RESET_RETRIES);
		else
			DN_TCP_CTR(st, TIMEOUTS);
		dn_tcp_send_rst_conn(c);
		dn_tcp_drop_conn(c, c->soft_err ? c->soft_err : ETIMEDOUT);
		return;
	}
	DN_TCP_CTR(st, RTO_FIRED);
	/* RFC 6298 5.5: back off (capped); RFC 5681 3.1: loss window. */
	c->rto_us *= 2;
	if (c->rto_us > cf->rto_max_us)
		c->rto_us = cf->rto_max_us;
	if (c->backoff == 1) {
		c->cc->on_rto(c);
	} else {
		c->cwnd = c->mss;
	}
	c->flags &= ~(DN_TCPF_RTT_TIMING | DN_TCPF_RECOVERY);
	c->flags |= DN_TCPF_LOSS;
	c->recover = c->snd_max;
	c->dupacks = 0;
	if (dn_tcp_rack_active(c)) {
		/* RFC 8985 6.3: what the peer SACKed is not resent; the
		 * go-back-N in dn_tcp_output skips it.  Reneging (RFC 2018
		 * 8) shows as a cumulative ACK stopping at a SACKed range,
		 * and then the scoreboard goes (tcp_input.c). */
		dn_tcp_rack_on_rto(c);
	} else {
		/* The receiver may have reneged (RFC 2018 8): forget SACK
		 * info and resend from snd_una (go-back-N). */
		dn_tcp_sack_clear(c);
	}
	c->snd_nxt = c->snd_una;
	c->high_rxt = c->snd_una;
	c->rto_tsval = dn_tcp_ts_now(c);
	/* RFC 6298 5.4: retransmit the earliest unacknowledged segment, even
	 * if the peer's window is now zero (it then acts as a probe). */
	uint32_t una = c->snd_una;
	/* send_range does not move snd_nxt: do it for what went. */
	c->snd_nxt = una + dn_tcp_send_range(c, una, c->mss, true);
	dn_tcp_output(c);
	dn_tcp_timer_set(c, DN_TCP_T_RTX, c->rto_us);
}

static void on_persist(struct dn_tcp_conn *c)
{
	if (c->snd_wnd != 0 || c->snd_max != c->snd_una) {
		dn_tcp_timer_rearm_rtx(c);
		dn_tcp_output(c);
		return;
	}
	if (dn_tcp_is_orphan(c) && c->probes >= c->st->tcp.conf.orphan_retries) {
		/* A dead app's data behind a window that never opens:
		 * give up as for retransmissions (Linux does the same for
		 * orphans, tcp_probe_timer). */
		DN_TCP_CTR(c->st, ORPHANS_RESET_RETRIES);
		dn_tcp_send_rst_conn(c);
		dn_tcp_drop_conn(c, ETIMEDOUT);
		return;
	}
	DN_TCP_CTR(c->st, PERSIST_PROBES);
	dn_tcp_send_probe(c, false);
	if (c->probes < 30)
		c->probes++;
	/* Exponential backoff of the probe interval (RFC 1122 4.2.2.17),
	 * capped at the maximum RTO; probing continues while the peer
	 * answers. */
	uint64_t d = c->rto_us < DN_TCP_PERSIST_MIN_US ? DN_TCP_PERSIST_MIN_US
						      : c->rto_us;
	for (int i = 1; i < c->probes && d < c->st->tcp.conf.rto_max_us; i++)
		d *= 2;
	if (d > c->st->tcp.conf.rto_max_us)
		d = c->st->tcp.conf.rto_max_us;
	dn_tcp_timer_set(c, DN_TCP_T_PERSIST, d);
}

static void on_keepalive(struct dn_tcp_conn *c)
{
	const struct dn_tcp_conf *cf = &c->st->tcp.conf;
	if (!(c->flags & DN_TCPF_KEEPALIVE))
		return;
	if (c->state != DN_TCP_ESTABLISHED && c->state != DN_TCP_CLOSE_WAIT &&
	    c->state != DN_TCP_FIN_WAIT_2)
		return;
	uint64_t now = c->st->now_us;
	uint64_t idle = now - c->last_rx_us;
	if (idle < cf->keepalive_idle_us) {
		c->probes = 0;
		dn_tcp_timer_set(c, DN_TCP_T_KEEPALIVE,
				 cf->keepalive_idle_us - idle);
		return;
	}
	if (c->probes >= cf->keepalive_probes) {
		DN_TCP_CTR(c->st, KEEPALIVE_TIMEOUTS);
		dn_tcp_send_rst_conn(c);
		dn_tcp_drop_conn(c, ETIMEDOUT);
		return;
	}
	/* RFC 1122 4.2.3.6: SEG.SEQ = SND.NXT-1 with no data elicits an ACK. */
	DN_TCP_CTR(c->st, KEEPALIVE_PROBES);
	dn_tcp_send_probe(c, true);
	c->probes++;
	dn_tcp_timer_set(c, DN_TCP_T_KEEPALIVE, cf->keepalive_intvl_us);
}

static void on_linger(struct dn_tcp_conn *c)
{
	/* TIME-WAIT's 2MSL is over (RFC 9293 3.10.8), or an orphan gave up
	 * waiting in FIN-WAIT-2. */
	if (c->state == DN_TCP_FIN_WAIT_2)
		DN_TCP_CTR(c->st, FIN_WAIT_2_TIMEOUTS);
	if (c->state == DN_TCP_TIME_WAIT || c->state == DN_TCP_FIN_WAIT_2)
		dn_tcp_done(c);
}

static void fire(struct dn_tcp_conn *c, uint64_t now)
{
	for (int t = 0; t < DN_TCP_NTIMERS; t++) {
		if (c->flags & DN_TCPF_FREED)
			return;
		if (!c->timer[t] || c->timer[t] > now)
			continue;
		c->timer[t] = 0;
		switch (t) {
		case DN_TCP_T_RTX: on_rtx(c); break;
		case DN_TCP_T_PERSIST: on_persist(c); break;
		case DN_TCP_T_DELACK:
			DN_TCP_CTR(c->st, DELAYED_ACKS);
			dn_tcp_send_ack(c);
			break;
		case DN_TCP_T_KEEPALIVE: on_keepalive(c); break;
		case DN_TCP_T_LINGER: on_linger(c); break;
		}
	}
}

static void run_slot(struct dn_stack *st, uint32_t s, uint64_t now)
{
	struct dn_tcp_wheel *w = &st->tcp.wheel;
	/* Handlers may relink any connection (upcalls call the API), so
	 * after each change walk the slot again from its head.  An entry
	 * due later within a tick the wheel has passed moves to the next
	 * slot to visit, so it is not left for a whole turn. */
	unsigned guard = 0;
again:
	for (struct dn_tcp_conn *c = w->slot[s]; c; c = c->wnext) {
		if (++guard > 1000000)
			return;
		if (c->wdeadline <= now) {
			wheel_unlink(c);
			fire(c, now);
			if (!(c->flags & DN_TCPF_FREED))
				relink(c);
			goto again;
		}
		if (c->wdeadline / DN_TCP_WHEEL_TICK_US < w->tick &&
		    (w->tick & MASK) != s) {
			wheel_unlink(c);
			wheel_link(c, c->wdeadline);
			goto again;
		}
	}
}

uint64_t dn_tcp_wheel_poll(struct dn_stack *st)
{
	struct dn_tcp_wheel *w = &st->tcp.wheel;
	uint64_t now = st->now_us;
	uint64_t now_tick = now / DN_TCP_WHEEL_TICK_US;

	if (now_tick >= w->tick + DN_TCP_WHEEL_SLOTS) {
		/* Long gap: one full turn visits every slot, with the far
		 * entries that fell due meanwhile moved into the slot of
		 * w->tick, which the turn visits too. */
		uint64_t start = w->tick;
		w->tick = now_tick + 1;
		far_migrate(w);
		for (uint64_t i = 0; i < DN_TCP_WHEEL_SLOTS; i++)
			run_slot(st, (uint32_t)((start + i) & MASK), now);
	} else {
		while (w->tick <= now_tick) {
			uint32_t s = (uint32_t)(w->tick & MASK);
			w->tick++;
			run_slot(st, s, now);
		}
	}

	if (w->tick >= w->far_tick)
		far_migrate(w);

	/* Time to the next deadline: the earliest entry of the first used
	 * slot, or the next look at the far list if that comes first. */
	if (w->count == 0)
		return UINT64_MAX;
	uint64_t best = w->far_tick * DN_TCP_WHEEL_TICK_US;
	int s = first_used_slot(w);
	if (s >= 0)
		for (struct dn_tcp_conn *c = w->slot[s]; c; c = c->wnext)
			if (c->wdeadline < best)
				best = c->wdeadline;
	return best <= now ? 0 : best - now;
}
