/*
 * NewReno (RFC 5681 congestion avoidance; the fast recovery of RFC 6582
 * lives in tcp_input.c and is shared with CUBIC).
 */
#include "tcp_int.h"

const struct dn_tcp_cc_ops *dn_tcp_cc_get(int algo)
{
	return algo == DN_TCP_CC_NEWRENO ? &dn_tcp_cc_newreno : &dn_tcp_cc_cubic;
}

/* RFC 5681 3.1 with appropriate byte counting (RFC 3465, L = 2*SMSS):
 * cwnd grows by the bytes acked, at most 2 SMSS per ACK. */
void dn_tcp_cc_slow_start(struct dn_tcp_conn *c, uint32_t acked)
{
	uint32_t inc = acked < 2u * c->mss ? acked : 2u * c->mss;
	c->cwnd += inc;
	if (c->cwnd > (1u << 30))
		c->cwnd = 1u << 30;
}

static void reno_init(struct dn_tcp_conn *c)
{
	(void)c;
}

static void reno_on_ack(struct dn_tcp_conn *c, uint32_t acked, uint64_t rtt_us)
{
	(void)rtt_us;
	if (c->cwnd < c->ssthresh) {
		dn_tcp_cc_slow_start(c, acked);
		return;
	}
	/* RFC 5681 3.1 congestion avoidance: about one SMSS per RTT, by byte
	 * counting so stretch ACKs do not slow growth. */
	c->bytes_acked += acked;
	if (c->bytes_acked >= c->cwnd) {
		c->bytes_acked -= c->cwnd;
		c->cwnd += c->mss;
	}
}

/* RFC 5681 eq. 4: ssthresh = max(FlightSize / 2, 2*SMSS). */
static uint32_t reno_ssthresh(struct dn_tcp_conn *c)
{
	uint32_t flight = dn_tcp_flight(c);
	uint32_t half = flight / 2;
	return half > 2u * c->mss ? half : 2u * c->mss;
}

static void reno_on_rto(struct dn_tcp_conn *c)
{
	c->ssthresh = reno_ssthresh(c);
	c->cwnd = c->mss;   /* loss window, RFC 5681 3.1 */
	c->bytes_acked = 0;
}

static void reno_exit(struct dn_tcp_conn *c)
{
	c->bytes_acked = 0;
}

const struct dn_tcp_cc_ops dn_tcp_cc_newreno = {
	.name = "newreno",
	.init = reno_init,
	.on_ack = reno_on_ack,
	.ssthresh = reno_ssthresh,
	.on_rto = reno_on_rto,
	.on_recovery_exit = reno_exit,
};
