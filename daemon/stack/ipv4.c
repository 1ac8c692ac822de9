/*
 * IPv4 (RFC 791, host requirements RFC 1122 3.2.1 and 3.3) and the
 * Internet checksum (RFC 1071).
 *
 * Input validates the header before any field is trusted, drops (and
 * counts) fragments since there is no reassembly, and hands ICMP and TCP
 * their payload.  Output writes the header in front of an L4 payload that
 * the caller built in place, so nothing is copied.
 */
#include <errno.h>
#include <string.h>

#include "stack.h"

/* ---- checksum ----------------------------------------------------------- */

/*
 * RFC 1071 section 2: the ones'-complement sum is independent of byte
 * order (2(B)) and may be computed on any word size with the carries out of
 * the top added back in ("end-around carry", 2(C)), then folded to 16 bits.
 * So we add native 64-bit loads with end-around carry, fold, and swap to
 * big-endian word order at the end.  Unaligned loads are fine: the sum is of
 * the bytes in order from `data`, not of aligned words.
 *
 * On x86-64 the 64-byte blocks are one add-with-carry chain (one
 * instruction per 8 bytes, the carry never leaves the flags inside a
 * block); elsewhere the carry is recovered with a compare.  A segment of
 * 1,480 bytes costs ~250 instructions instead of ~1,350 for 32-bit halves
 * into 64-bit accumulators.
 */
static inline uint64_t add_eac(uint64_t a, uint64_t b)
{
	a += b;
	return a + (a < b);   /* end-around carry */
}

static uint64_t sum_blocks64(uint64_t acc, const uint8_t *p, size_t n)
{
#if defined(__x86_64__) && defined(__GNUC__)
	for (; n; n--, p += 64)
		__asm__("addq 0(%[p]), %[a]\n\t"
			"adcq 8(%[p]), %[a]\n\t"
			"adcq 16(%[p]), %[a]\n\t"
			"adcq 24(%[p]), %[a]\n\t"
			"adcq 32(%[p]), %[a]\n\t"
			"adcq 40(%[p]), %[a]\n\t"
			"adcq 48(%[p]), %[a]\n\t"
			"adcq 56(%[p]), %[a]\n\t"
			"adcq $0, %[a]"
			: [a] "+r"(acc)
			: [p] "r"(p), "m"(*(const uint8_t (*)[64])p)
			: "cc");
#else
	for (; n; n--, p += 64) {
		uint64_t w[8];
		memcpy(w, p, sizeof w);
		for (int i = 0; i < 8; i++)
			acc = add_eac(acc, w[i]);
	}
#endif
	return acc;
}

uint32_t dn_csum_add(uint32_t sum, const void *data, size_t len)
{
	const uint8_t *p = data;
	uint64_t acc = sum_blocks64(0, p, len / 64);
	p += len & ~(size_t)63;
	len &= 63;
	while (len >= 8) {
		uint64_t w;
		memcpy(&w, p, 8);
		acc = add_eac(acc, w);
		p += 8;
		len -= 8;
	}
	/* Under 8 bytes left: gather them into one zero-padded word, in
	 * memory order, so the last partial word goes in like the others.  An
	 * odd last byte is the high-order byte of a zero-padded big-endian
	 * 16-bit word (RFC 1071 4.1): in memory order that is simply its
	 * place with a zero after it. */
	if (len) {
		uint64_t w = 0;
		uint8_t *wb = (uint8_t *)&w;
		if (len & 4) {
			memcpy(wb, p, 4);
			wb += 4;
			p += 4;
		}
		if (len & 2) {
			memcpy(wb, p, 2);
			wb += 2;
			p += 2;
		}
		if (len & 1)
			*wb = *p;
		acc = add_eac(acc, w);
	}
	/* Fold 64 -> 32 -> 16 bits, each step with end-around carry. */
	uint64_t t = (acc & 0xffffffffu) + (acc >> 32);
	t = (t & 0xffffffffu) + (t >> 32);
	t = (t & 0xffff) + (t >> 16);
	t = (t & 0xffff) + (t >> 16);
	uint16_t s = (uint16_t)t;
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	s = (uint16_t)(s << 8 | s >> 8);
#endif
	t = (uint64_t)sum + s;
	return (uint32_t)((t & 0xffffffffu) + (t >> 32));
}

uint16_t dn_csum_fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

uint16_t dn_csum(const void *data, size_t len)
{
	return dn_csum_fold(dn_csum_add(0, data, len));
}

uint32_t dn_ip4_pseudo_sum(uint32_t src, uint32_t dst, uint8_t proto,
			   uint16_t l4len)
{
	return (src >> 16) + (src & 0xffff) + (dst >> 16) + (dst & 0xffff) +
	       proto + l4len;
}

/* ---- addresses ---------------------------------------------------------- */

int dn_ip4_is_local(const struct dn_stack *st, uint32_t addr)
{
	return st->conf.ip4 != 0 && addr == st->conf.ip4;
}

/* Limited broadcast, or the directed broadcast of our subnet (RFC 1122
 * 3.2.1.3; /31 and /32 have none, RFC 3021). */
int dn_ip4_is_bcast(const struct dn_stack *st, uint32_t addr)
{
	if (addr == 0xffffffffu)
		return 1;
	if (st->conf.ip4 == 0 || st->conf.prefix_len >= 31)
		return 0;
	uint32_t m = st->l3.netmask;
	return (addr & m) == (st->conf.ip4 & m) && (addr | m) == 0xffffffffu;
}

/* Sources a host must not accept (RFC 1122 3.2.1.3, RFC 1812 5.3.7):
 * "this network" 0/8, loopback 127/8, multicast 224/4, reserved 240/4
 * (which holds 255.255.255.255), our subnet's broadcast, and ourselves. */
static int bad_source(const struct dn_stack *st, uint32_t a)
{
	uint8_t top = (uint8_t)(a >> 24);
	if (top == 0 || top == 127 || top >= 224)
		return 1;
	if (dn_ip4_is_bcast(st, a))
		return 1;
	return dn_ip4_is_local(st, a);
}

/* ---- input -------------------------------------------------------------- */

void dn_ip4_input(struct dn_stack *st, const uint8_t *pkt, size_t len,
		  int l2_bcast)
{
	struct dn_l3_counters *c = &st->l3.c;
	c->ip_rx++;
	if (len < DN_IP4_HLEN) {
		c->ip_rx_short++;
		return;
	}
	if (pkt[0] >> 4 != 4) {
		c->ip_rx_bad_version++;
		return;
	}
	size_t hlen = (size_t)(pkt[0] & 0x0f) * 4;
	if (hlen < DN_IP4_HLEN || hlen > len) {
		c->ip_rx_bad_hlen++;
		return;
	}
	/* Ethernet pads short frames, so bytes after tot_len are ignored;
	 * a tot_len beyond the frame means truncation. */
	size_t tot = dn_get16(pkt + 2);
	if (tot < hlen || tot > len) {
		c->ip_rx_bad_len++;
		return;
	}
	if (dn_csum(pkt, hlen) != 0) {
		c->ip_rx_bad_csum++;
		return;
	}
	/* No reassembly: any fragment (MF set or offset != 0) is dropped. */
	uint16_t frag = dn_get16(pkt + 6);
	if (frag & 0x3fff) {
		c->ip_rx_fragment++;
		return;
	}
	struct dn_ip4_info ip = {
		.src = dn_get32(pkt + 12),
		.dst = dn_get32(pkt + 16),
		.proto = pkt[9],
		.ttl = pkt[8],
		.tos = pkt[1],
		.hlen = (uint8_t)hlen,
		.tot_len = (uint16_t)tot,
		.id = dn_get16(pkt + 4),
		.hdr = pkt,
	};
	if (bad_source(st, ip.src)) {
		c->ip_rx_bad_src++;
		return;
	}
	if (dn_ip4_is_local(st, ip.dst)) {
		/* RFC 1122 3.3.6: a unicast datagram that came in a link-layer
		 * broadcast SHOULD be discarded. */
		if (l2_bcast) {
			c->ip_rx_not_for_us++;
			return;
		}
	} else if (dn_ip4_is_bcast(st, ip.dst)) {
		ip.bcast = 1;
	} else {
		c->ip_rx_not_for_us++;
		return;
	}
	/* TTL is not checked: RFC 1122 3.2.1.7, a host MUST NOT discard a
	 * datagram just because its TTL is below 2.  Options are skipped
	 * (hlen); unknown ones MUST be ignored (RFC 1122 3.2.1.8). */
	const uint8_t *l4 = pkt + hlen;
	size_t l4len = tot - hlen;
	switch (ip.proto) {
	case DN_IPPROTO_ICMP:
		c->ip_rx_delivered++;
		dn_icmp_input(st, &ip, l4, l4len);
		break;
	case DN_IPPROTO_TCP:
		c->ip_rx_delivered++;
		dn_tcp_input(st, &ip, l4, l4len);
		break;
	default:
		c->ip_rx_unknown_proto++;
		/* RFC 1122 3.2.2.1: protocol unreachable (code 2). */
		dn_icmp_send_unreach(st, &ip, 2);
		break;
	}
}

/* ---- output ------------------------------------------------------------- */

static uint16_t ip_mtu(const struct dn_stack *st)
{
	return st->conf.mtu;
}

void *dn_l2_alloc(struct dn_stack *st, uint8_t **data, uint16_t *cap)
{
	void *frame = st->io->alloc(st->io_ctx, data, cap);
	if (!frame) {
		st->l3.c.tx_alloc_fail++;
		return NULL;
	}
	if (*cap < DN_ETH_HLEN + DN_IP4_HLEN + 8) {
		/* Too small to be of any use: treat as no buffer. */
		st->io->release(st->io_ctx, frame);
		st->l3.c.tx_alloc_fail++;
		return NULL;
	}
	return frame;
}

uint8_t *dn_ip4_alloc(struct dn_stack *st, void **frame, size_t *room)
{
	uint8_t *data;
	uint16_t cap;
	void *f = dn_l2_alloc(st, &data, &cap);
	if (!f) {
		*frame = NULL;
		*room = 0;
		return NULL;
	}
	size_t r = (size_t)cap - DN_ETH_HLEN - DN_IP4_HLEN;
	size_t mr = (size_t)ip_mtu(st) - DN_IP4_HLEN;
	*room = r < mr ? r : mr;
	*frame = f;
	struct dn_l3 *l3 = &st->l3;
	unsigned i = l3->txs_next++ % DN_IP4_TX_SLOTS;
	l3->txs[i].frame = f;
	l3->txs[i].data = data;
	l3->txs[i].cap = cap;
	return data + DN_ETH_HLEN + DN_IP4_HLEN;
}

/* Find (and forget) the slot of a frame from dn_ip4_alloc, newest first:
 * senders normally send what they just allocated, so this is one step. */
static int txs_take(struct dn_l3 *l3, void *frame, uint8_t **data,
		    uint16_t *cap)
{
	for (unsigned k = 1; k <= DN_IP4_TX_SLOTS; k++) {
		unsigned i = (l3->txs_next - k) % DN_IP4_TX_SLOTS;
		if (l3->txs[i].frame == frame) {
			*data = l3->txs[i].data;
			*cap = l3->txs[i].cap;
			l3->txs[i].frame = NULL;
			return 0;
		}
	}
	return -1;
}

void dn_ip4_abandon(struct dn_stack *st, void *frame)
{
	uint8_t *data;
	uint16_t cap;
	if (!frame)
		return;
	(void)txs_take(&st->l3, frame, &data, &cap);
	st->io->release(st->io_ctx, frame);
}

int dn_ip4_send(struct dn_stack *st, void *frame, uint32_t src, uint32_t dst,
		uint8_t proto, size_t l4len)
{
	uint8_t *data;
	uint16_t cap;
	if (!frame)
		return EINVAL;
	if (txs_take(&st->l3, frame, &data, &cap) < 0) {
		st->l3.c.ip_tx_bad_frame++;
		st->io->release(st->io_ctx, frame);
		return EINVAL;
	}
	return dn_ip4_output(st, frame, data, cap, src, dst, proto, l4len);
}

int dn_ip4_output(struct dn_stack *st, void *frame, uint8_t *data,
		  uint16_t cap, uint32_t src, uint32_t dst, uint8_t proto,
		  size_t l4len)
{
	struct dn_l3 *l3 = &st->l3;
	uint32_t me = st->conf.ip4;
	int err;

	if (me == 0) {
		l3->c.ip_tx_no_addr++;
		err = EADDRNOTAVAIL;
		goto drop;
	}
	if (src == 0)
		src = me;
	if (l4len > (size_t)ip_mtu(st) - DN_IP4_HLEN ||
	    l4len > (size_t)cap - DN_ETH_HLEN - DN_IP4_HLEN) {
		l3->c.ip_tx_bad_frame++;
		err = EMSGSIZE;
		goto drop;
	}

	/* Next hop (RFC 1122 3.3.1.1): on-link by prefix, else the gateway.
	 * Broadcasts and multicast map straight to a link address. */
	uint8_t *eth = data;
	uint32_t nh = 0;
	int direct = 0;
	uint8_t top = (uint8_t)(dst >> 24);
	if (dn_ip4_is_bcast(st, dst)) {
		memset(eth, 0xff, 6);
		direct = 1;
	} else if (top >= 224 && top < 240) {
		/* RFC 1112 6.4: 01:00:5e + low 23 bits of the group. */
		eth[0] = 0x01; eth[1] = 0x00; eth[2] = 0x5e;
		eth[3] = (uint8_t)((dst >> 16) & 0x7f);
		eth[4] = (uint8_t)(dst >> 8);
		eth[5] = (uint8_t)dst;
		direct = 1;
	} else if (dst == 0 || top == 127 || top >= 240 || dst == me) {
		/* No loopback path in this stack. */
		l3->c.ip_tx_no_route++;
		err = ENETUNREACH;
		goto drop;
	} else if (((dst ^ me) & l3->netmask) == 0) {
		nh = dst;
	} else if (st->conf.gateway) {
		nh = st->conf.gateway;
	} else {
		l3->c.ip_tx_no_route++;
		err = ENETUNREACH;
		goto drop;
	}

	memcpy(eth + 6, st->conf.mac, 6);
	dn_put16(eth + 12, DN_ETH_P_IP);

	uint8_t *ip = data + DN_ETH_HLEN;
	uint16_t tot = (uint16_t)(DN_IP4_HLEN + l4len);
	ip[0] = 0x45;
	ip[1] = 0;
	dn_put16(ip + 2, tot);
	dn_put16(ip + 4, l3->ip_id++);
	/* DF: we never fragment; the ID only has to be unique for
	 * non-atomic datagrams (RFC 6864 4.1), but we still count it. */
	dn_put16(ip + 6, 0x4000);
	ip[8] = DN_IP4_DEFAULT_TTL;
	ip[9] = proto;
	ip[10] = ip[11] = 0;
	dn_put32(ip + 12, src);
	dn_put32(ip + 16, dst);
	dn_put16(ip + 10, dn_csum(ip, DN_IP4_HLEN));

	size_t len = DN_ETH_HLEN + (size_t)tot;
	if (len < DN_ETH_ZLEN && cap >= DN_ETH_ZLEN) {
		memset(data + len, 0, DN_ETH_ZLEN - len);
		len = DN_ETH_ZLEN;
	}
	l3->c.ip_tx++;
	if (direct) {
		st->io->xmit(st->io_ctx, frame, (uint16_t)len);
		return 0;
	}
	return dn_arp_output(st, nh, frame, data, (uint16_t)len);

drop:
	st->io->release(st->io_ctx, frame);
	return err;
}
