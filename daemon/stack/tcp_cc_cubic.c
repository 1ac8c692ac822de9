/*
 * CUBIC (RFC 9438).  Window arithmetic is in segments of the current MSS,
 * as the RFC states it; time in seconds.
 */
#include <math.h>

#include "tcp_int.h"

#define CUBIC_C 0.4          /* RFC 9438 4.1 */
#define CUBIC_BETA 0.7       /* RFC 9438 4.6 */

static void cubic_init(struct dn_tcp_conn *c)
{
	struct dn_tcp_cubic_state *s = &c->ccs.cubic;
	s->w_max = 0;
	s->k = 0;
	s->w_est = 0;
	s->cwnd_prior = 0;
	s->epoch_us = 0;
	s->min_rtt_us = 0;
}

static void cubic_on_ack(struct dn_tcp_conn *c, uint32_t acked, uint64_t rtt_us)
{
	struct dn_tcp_cubic_state *s = &c->ccs.cubic;
	uint64_t now = c->st->now_us;

	if (rtt_us && (s->min_rtt_us == 0 || rtt_us < s->min_rtt_us))
		s->min_rtt_us = rtt_us;
	if (c->cwnd < c->ssthresh) {
		dn_tcp_cc_slow_start(c, acked);
		return;
	}
	double mss = c->mss;
	double cwnd = c->cwnd / mss;
	if (s->epoch_us == 0) {
		/* RFC 9438 4.2: a new CA epoch.  Without a previous
		 * congestion event W_max is the current window (K = 0). */
		s->epoch_us = now;
		if (s->w_max < cwnd) {
			s->w_max = cwnd;
			s->k = 0;
		} else {
			s->k = cbrt((s->w_max - cwnd) / CUBIC_C);
		}
		s->w_est = cwnd;
	}
	double rtt = (double)(c->srtt_us ? c->srtt_us : 100000) / 1e6;
	double t = (double)(now - s->epoch_us) / 1e6 + rtt;  /* 4.2: t + RTT */
	double d = t - s->k;
	double target = CUBIC_C * d * d * d + s->w_max;
	if (target > 1.5 * cwnd)   /* 4.4: cap growth per RTT */
		target = 1.5 * cwnd;

	/* 4.3 Reno-friendly region: alpha = 3(1-beta)/(1+beta). */
	double alpha = 3.0 * (1.0 - CUBIC_BETA) / (1.0 + CUBIC_BETA);
	if (s->w_est >= s->cwnd_prior && s->cwnd_prior > 0)
		alpha = 1.0;
	s->w_est += alpha * ((double)acked / mss) / cwnd;

	double inc;
	if (target < s->w_est) {
		inc = (s->w_est - cwnd) * mss;
	} else {
		/* 4.4 concave/convex: (target - cwnd)/cwnd per segment acked. */
		inc = (target - cwnd) / cwnd * (double)acked;
	}
	if (inc > 0)
		c->cwnd += (uint32_t)(inc > 1e8 ? 1e8 : inc);
	if (c->cwnd > (1u << 30))
		c->cwnd = 1u << 30;
}

static uint32_t cubic_ssthresh(struct dn_tcp_conn *c)
{
	struct dn_tcp_cubic_state *s = &c->ccs.cubic;
	double mss = c->mss;
	double cwnd = c->cwnd / mss;

	/* 4.7 fast convergence. */
	if (cwnd < s->w_max)
		s->w_max = cwnd * (1.0 + CUBIC_BETA) / 2.0;
	else
		s->w_max = cwnd;
	s->cwnd_prior = cwnd;
	s->epoch_us = 0;
	/* 4.6: ssthresh = flight_size * beta (at least 2 segments). */
	double fl = (double)dn_tcp_flight(c);
	if (fl < c->cwnd)
		fl = c->cwnd;
	uint32_t ss = (uint32_t)(fl * CUBIC_BETA);
	if (ss < 2u * c->mss)
		ss = 2u * c->mss;
	return ss;
}

static void cubic_on_rto(struct dn_tcp_conn *c)
{
	/* 4.8: treat as a congestion event, then cwnd = 1 segment. */
	c->ssthresh = cubic_ssthresh(c);
	c->cwnd = c->mss;
	c->bytes_acked = 0;
	c->ccs.cubic.epoch_us = 0;
}

static void cubic_exit(struct dn_tcp_conn *c)
{
	c->ccs.cubic.epoch_us = 0;
	c->bytes_acked = 0;
}

const struct dn_tcp_cc_ops dn_tcp_cc_cubic = {
	.name = "cubic",
	.init = cubic_init,
	.on_ack = cubic_on_ack,
	.ssthresh = cubic_ssthresh,
	.on_rto = cubic_on_rto,
	.on_recovery_exit = cubic_exit,
};
