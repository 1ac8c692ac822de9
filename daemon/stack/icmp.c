/*
 * ICMP (RFC 792, host rules RFC 1122 3.2.2).
 *
 * We answer echo requests, pass destination-unreachable and time-exceeded
 * messages that quote our TCP segments to TCP (so connect() learns
 * EHOSTUNREACH and friends), and send protocol-unreachable for protocols we
 * do not run, rate-limited (RFC 1812 4.3.2.8).  Port unreachable is not
 * ours: TCP answers closed ports with RST.
 */
#include <string.h>

#include "stack.h"

#define ICMP_ECHO_REPLY     0
#define ICMP_UNREACH        3
#define ICMP_ECHO           8
#define ICMP_TIME_EXCEEDED  11
#define ICMP_HLEN           8

/* Quote of an ICMP error: an IPv4 header we sent plus at least 8 bytes of
 * its payload (RFC 792).  Only TCP has anything to learn from it. */
static void error_input(struct dn_stack *st, const struct dn_ip4_info *ip,
			uint8_t type, uint8_t code, const uint8_t *q,
			size_t qlen)
{
	struct dn_l3_counters *c = &st->l3.c;
	size_t qh;
	/* RFC 1122 3.2.2: errors are about unicast datagrams we sent; one
	 * sent to a broadcast address is not a real error report. */
	if (ip->bcast || qlen < DN_IP4_HLEN || q[0] >> 4 != 4 ||
	    (qh = (size_t)(q[0] & 0x0f) * 4) < DN_IP4_HLEN ||
	    qlen < qh + 8 || dn_get32(q + 12) != st->conf.ip4 ||
	    q[9] != DN_IPPROTO_TCP) {
		c->icmp_rx_bad_quote++;
		return;
	}
	dn_tcp_icmp_error(st, type, code, q, qlen);
}

static void echo_reply(struct dn_stack *st, const struct dn_ip4_info *ip,
		       const uint8_t *msg, size_t len)
{
	uint8_t *d;
	uint16_t cap;
	void *frame = dn_l2_alloc(st, &d, &cap);
	if (!frame)
		return;
	size_t off = DN_ETH_HLEN + DN_IP4_HLEN;
	if (len > (size_t)cap - off || len > (size_t)st->conf.mtu - DN_IP4_HLEN) {
		st->l3.c.icmp_tx_too_big++;
		st->io->release(st->io_ctx, frame);
		return;
	}
	/* RFC 792: same identifier, sequence number and data; type 0. */
	uint8_t *r = d + off;
	memcpy(r, msg, len);
	r[0] = ICMP_ECHO_REPLY;
	r[1] = 0;
	r[2] = r[3] = 0;
	dn_put16(r + 2, dn_csum(r, len));
	if (dn_ip4_output(st, frame, d, cap, ip->dst, ip->src, DN_IPPROTO_ICMP,
			  len) == 0)
		st->l3.c.icmp_tx_echo_reply++;
}

void dn_icmp_input(struct dn_stack *st, const struct dn_ip4_info *ip,
		   const uint8_t *msg, size_t len)
{
	struct dn_l3_counters *c = &st->l3.c;
	c->icmp_rx++;
	if (len < ICMP_HLEN) {
		c->icmp_rx_short++;
		return;
	}
	if (dn_csum(msg, len) != 0) {
		c->icmp_rx_bad_csum++;
		return;
	}
	uint8_t type = msg[0], code = msg[1];
	switch (type) {
	case ICMP_ECHO:
		c->icmp_rx_echo++;
		/* RFC 1122 3.2.2.6: an echo to a broadcast address MAY be
		 * silently discarded; we do (no smurf amplification). */
		if (ip->bcast) {
			c->icmp_rx_echo_bcast++;
			return;
		}
		echo_reply(st, ip, msg, len);
		break;
	case ICMP_ECHO_REPLY:
		c->icmp_rx_echo_reply++;
		break;
	case ICMP_UNREACH:
		c->icmp_rx_unreach++;
		error_input(st, ip, type, code, msg + ICMP_HLEN, len - ICMP_HLEN);
		break;
	case ICMP_TIME_EXCEEDED:
		c->icmp_rx_time_exceeded++;
		error_input(st, ip, type, code, msg + ICMP_HLEN, len - ICMP_HLEN);
		break;
	default:
		c->icmp_rx_other++;
		break;
	}
}

/* Token bucket (RFC 1812 4.3.2.8) in millionths of a message, so that
 * refills of a few microseconds are not lost to rounding: one message costs
 * 1e6, each microsecond adds DN_ICMP_ERR_RATE, the bucket holds
 * DN_ICMP_ERR_BURST messages. */
static int rate_ok(struct dn_stack *st)
{
	struct dn_l3 *l3 = &st->l3;
	const uint64_t one = 1000000;
	const uint64_t max = (uint64_t)DN_ICMP_ERR_BURST * one;
	uint64_t dt = st->now_us > l3->icmp_last_us ?
		      st->now_us - l3->icmp_last_us : 0;
	l3->icmp_last_us = st->now_us;
	if (dt > max / DN_ICMP_ERR_RATE)   /* also keeps dt * rate small */
		dt = max / DN_ICMP_ERR_RATE;
	l3->icmp_tokens += dt * DN_ICMP_ERR_RATE;
	if (l3->icmp_tokens > max)
		l3->icmp_tokens = max;
	if (l3->icmp_tokens < one)
		return 0;
	l3->icmp_tokens -= one;
	return 1;
}

static int is_icmp_error(const struct dn_ip4_info *ip)
{
	if (ip->proto != DN_IPPROTO_ICMP)
		return 0;
	if (ip->tot_len < ip->hlen + 1u)
		return 1;  /* cannot tell: assume the worst */
	uint8_t t = ip->hdr[ip->hlen];
	/* Query/informational types; everything else is an error. */
	return !(t == 0 || t == 8 || t == 13 || t == 14 || t == 15 ||
		 t == 16 || t == 17 || t == 18);
}

void dn_icmp_send_unreach(struct dn_stack *st, const struct dn_ip4_info *ip,
			  uint8_t code)
{
	struct dn_l3_counters *c = &st->l3.c;
	/* RFC 1122 3.2.2: never about a broadcast, an ICMP error, or a
	 * non-first fragment (fragments never get this far); the source
	 * was already checked to be a unicast host. */
	if (ip->bcast || is_icmp_error(ip) || !dn_ip4_is_local(st, ip->dst))
		return;
	if (!rate_ok(st)) {
		c->icmp_tx_rate_limited++;
		return;
	}
	uint8_t *d;
	uint16_t cap;
	void *frame = dn_l2_alloc(st, &d, &cap);
	if (!frame)
		return;
	/* Quote the IP header and the first 8 bytes of its payload. */
	size_t data8 = ip->tot_len - ip->hlen;
	if (data8 > 8)
		data8 = 8;
	size_t qlen = ip->hlen + data8;
	size_t len = ICMP_HLEN + qlen;
	size_t off = DN_ETH_HLEN + DN_IP4_HLEN;
	if (len > (size_t)cap - off) {
		st->io->release(st->io_ctx, frame);
		c->tx_alloc_fail++;
		return;
	}
	uint8_t *m = d + off;
	m[0] = ICMP_UNREACH;
	m[1] = code;
	memset(m + 2, 0, 6);
	memcpy(m + ICMP_HLEN, ip->hdr, qlen);
	dn_put16(m + 2, dn_csum(m, len));
	if (dn_ip4_output(st, frame, d, cap, ip->dst, ip->src, DN_IPPROTO_ICMP,
			  len) == 0)
		c->icmp_tx_unreach++;
}
