/*
 * Congestion control behind a table of functions.  The generic code in
 * tcp_input.c owns loss detection and the recovery procedures (RFC 5681,
 * RFC 6582 NewReno fast recovery, RFC 6675 SACK recovery); an algorithm
 * decides how cwnd grows outside recovery and what ssthresh becomes on a
 * congestion event.  CUBIC (RFC 9438) is the default.
 */
#ifndef DN_TCP_CC_H
#define DN_TCP_CC_H

#include <stdint.h>

struct dn_tcp_conn;

struct dn_tcp_cubic_state {
	double w_max;          /* segments, before the last reduction */
	double k;              /* seconds */
	double w_est;          /* Reno-friendly estimate, segments */
	double cwnd_prior;
	uint64_t epoch_us;     /* start of the congestion-avoidance epoch, 0: none */
	uint64_t min_rtt_us;
};

struct dn_tcp_reno_state {
	uint32_t unused;
};

union dn_tcp_cc_state {
	struct dn_tcp_cubic_state cubic;
	struct dn_tcp_reno_state reno;
};

struct dn_tcp_cc_ops {
	const char *name;
	void (*init)(struct dn_tcp_conn *c);
	/* New data acked outside recovery: grow cwnd (slow start or CA). */
	void (*on_ack)(struct dn_tcp_conn *c, uint32_t acked, uint64_t rtt_us);
	/* Congestion event (fast retransmit): return the new ssthresh. */
	uint32_t (*ssthresh)(struct dn_tcp_conn *c);
	/* Retransmission timeout: RFC 5681 3.1 eq. 4, cwnd = 1 MSS. */
	void (*on_rto)(struct dn_tcp_conn *c);
	/* Recovery finished (full ACK). */
	void (*on_recovery_exit)(struct dn_tcp_conn *c);
};

extern const struct dn_tcp_cc_ops dn_tcp_cc_newreno;
extern const struct dn_tcp_cc_ops dn_tcp_cc_cubic;

const struct dn_tcp_cc_ops *dn_tcp_cc_get(int algo);
/* Shared helpers. */
void dn_tcp_cc_slow_start(struct dn_tcp_conn *c, uint32_t acked);

#endif
