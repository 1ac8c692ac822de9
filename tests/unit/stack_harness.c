/* Shared helpers for stack unit tests: see stack_harness.h. */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "stack_harness.h"

#define TH_MAGIC 0x7468fa11u

const uint8_t th_mac_us[6] = { 0x02, 0, 0, 0, 0, 0x02 };
const uint8_t th_mac_gw[6] = { 0x02, 0, 0, 0, 0, 0x01 };
const uint8_t th_mac_peer2[6] = { 0x02, 0, 0, 0, 0, 0x03 };
const uint8_t th_mac_bcast[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };

static void *th_alloc(void *ctx, uint8_t **data, uint16_t *cap)
{
	struct th_cap *c = ctx;
	if (c->fail_allocs) {
		if (c->fail_allocs != UINT_MAX)
			c->fail_allocs--;
		return NULL;
	}
	struct th_frame *f = malloc(sizeof *f);
	if (!f)
		return NULL;
	f->magic = TH_MAGIC;
	/* Garbage, so tests notice bytes the stack forgot to write. */
	memset(f->data, 0xa5, sizeof f->data);
	c->allocs++;
	c->outstanding++;
	*data = f->data;
	*cap = c->cap;
	return f;
}

static void th_free(struct th_cap *c, void *frame)
{
	struct th_frame *f = frame;
	if (f->magic != TH_MAGIC)
		abort();   /* double free or a foreign handle */
	f->magic = 0;
	free(f);
	c->outstanding--;
}

static void th_xmit(void *ctx, void *frame, uint16_t len)
{
	struct th_cap *c = ctx;
	struct th_frame *f = frame;
	if (len > c->cap)
		abort();
	if (c->ntx < TH_MAX_TX) {
		c->tx[c->ntx].len = len;
		memcpy(c->tx[c->ntx].data, f->data, len);
		c->ntx++;
	}
	c->xmits++;
	if (c->on_xmit)
		c->on_xmit(c->on_xmit_arg, f->data, len);
	th_free(c, frame);
}

static void th_release(void *ctx, void *frame)
{
	struct th_cap *c = ctx;
	c->releases++;
	th_free(c, frame);
}

const struct dn_stack_io th_io = {
	.alloc = th_alloc,
	.xmit = th_xmit,
	.release = th_release,
};

uint8_t *th_frame_data(void *ctx, void *frame)
{
	(void)ctx;
	return ((struct th_frame *)frame)->data;
}

void *th_frame_new(struct th_cap *c, uint8_t **data)
{
	uint16_t cap;
	return th_alloc(c, data, &cap);
}

void th_cap_init(struct th_cap *c)
{
	memset(c, 0, sizeof *c);
	c->cap = TH_FRAME_CAP;
}

void th_cap_clear(struct th_cap *c)
{
	c->ntx = 0;
}

void th_conf_default(struct dn_stack_conf *conf)
{
	memset(conf, 0, sizeof *conf);
	memcpy(conf->mac, th_mac_us, 6);
	conf->ip4 = TH_IP_US;
	conf->prefix_len = 24;
	conf->gateway = TH_IP_GW;
	conf->mtu = 1500;
}

int th_stack_init(struct dn_stack *st, struct th_cap *c)
{
	struct dn_stack_conf conf;
	th_conf_default(&conf);
	return dn_stack_init(st, &conf, &th_io, c, 0);
}

size_t th_eth(uint8_t *b, const uint8_t dst[6], const uint8_t src[6],
	      uint16_t type)
{
	memcpy(b, dst, 6);
	memcpy(b + 6, src, 6);
	b[12] = (uint8_t)(type >> 8);
	b[13] = (uint8_t)type;
	return 14;
}

size_t th_arp_frame(uint8_t *b, const uint8_t eth_dst[6], uint16_t op,
		    const uint8_t sha[6], uint32_t spa, const uint8_t tha[6],
		    uint32_t tpa)
{
	static const uint8_t zero[6];
	size_t n = th_eth(b, eth_dst, sha, 0x0806);
	uint8_t *a = b + n;
	dn_put16(a, 1);
	dn_put16(a + 2, 0x0800);
	a[4] = 6;
	a[5] = 4;
	dn_put16(a + 6, op);
	memcpy(a + 8, sha, 6);
	dn_put32(a + 14, spa);
	memcpy(a + 18, tha ? tha : zero, 6);
	dn_put32(a + 24, tpa);
	return n + 28;
}

void th_ip4_fix_csum(uint8_t *ip)
{
	size_t hl = (size_t)(ip[0] & 15) * 4;
	ip[10] = ip[11] = 0;
	dn_put16(ip + 10, th_csum_ref(ip, hl));
}

size_t th_ip4_frame(uint8_t *b, uint32_t src, uint32_t dst, uint8_t proto,
		    const void *payload, size_t plen)
{
	size_t n = th_eth(b, th_mac_us, th_mac_gw, 0x0800);
	uint8_t *ip = b + n;
	ip[0] = 0x45;
	ip[1] = 0;
	dn_put16(ip + 2, (uint16_t)(20 + plen));
	dn_put16(ip + 4, 0x1234);
	dn_put16(ip + 6, 0);
	ip[8] = 64;
	ip[9] = proto;
	dn_put32(ip + 12, src);
	dn_put32(ip + 16, dst);
	th_ip4_fix_csum(ip);
	if (plen)
		memcpy(ip + 20, payload, plen);
	return n + 20 + plen;
}

size_t th_echo_frame(uint8_t *b, uint32_t src, uint32_t dst, uint16_t id,
		     uint16_t seq, const void *payload, size_t plen)
{
	uint8_t m[TH_FRAME_CAP];
	m[0] = 8;
	m[1] = 0;
	m[2] = m[3] = 0;
	dn_put16(m + 4, id);
	dn_put16(m + 6, seq);
	if (plen)
		memcpy(m + 8, payload, plen);
	dn_put16(m + 2, th_csum_ref(m, 8 + plen));
	return th_ip4_frame(b, src, dst, 1, m, 8 + plen);
}

uint16_t th_csum_ref(const uint8_t *p, size_t len)
{
	uint32_t s = 0;
	for (size_t i = 0; i < len; i++)
		s += (i & 1) ? p[i] : (uint32_t)p[i] << 8;
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return (uint16_t)~s;
}

void th_learn(struct dn_stack *st, struct th_cap *c, uint32_t ip,
	      const uint8_t mac[6])
{
	uint8_t b[64];
	size_t n = th_arp_frame(b, th_mac_bcast, 1, mac, ip, NULL, TH_IP_US);
	dn_stack_input(st, b, n);
	th_cap_clear(c);
}

static void sum_cb(const char *name, uint64_t v, void *arg)
{
	(void)name;
	*(uint64_t *)arg += v;
}

uint64_t th_l3_total(const struct dn_stack *st)
{
	uint64_t t = 0;
	dn_stack_counters_foreach(st, sum_cb, &t);
	return t;
}
