/*
 * The stack core: set-up, the one input entry point, timers, and the
 * read-only walkers for the ctl server.  See stack.h for the boundary.
 */
#include <errno.h>
#include <string.h>

#include "stack.h"

static const char *const l3_names[] = {
#define DN_X_(name, desc) #name,
	DN_L3_COUNTERS(DN_X_)
#undef DN_X_
};
static const char *const l3_descs[] = {
#define DN_X_(name, desc) desc,
	DN_L3_COUNTERS(DN_X_)
#undef DN_X_
};

const char *dn_l3_counter_name(unsigned i)
{
	return i < DN_L3_NCOUNTERS ? l3_names[i] : NULL;
}

const char *dn_l3_counter_desc(unsigned i)
{
	return i < DN_L3_NCOUNTERS ? l3_descs[i] : NULL;
}

int dn_stack_init(struct dn_stack *st, const struct dn_stack_conf *conf,
		  const struct dn_stack_io *io, void *io_ctx, uint64_t now_us)
{
	if (!st || !conf || !io || !io->alloc || !io->xmit || !io->release)
		return EINVAL;
	memset(st, 0, sizeof *st);
	st->now_us = now_us;
	st->conf = *conf;
	st->io = io;
	st->io_ctx = io_ctx;
	/* IPv4 needs at least 68 (RFC 791); 0 means the Ethernet default. */
	if (st->conf.mtu == 0)
		st->conf.mtu = 1500;
	if (st->conf.mtu < 68)
		st->conf.mtu = 68;
	if (st->conf.prefix_len > 32)
		st->conf.prefix_len = 32;
	st->l3.netmask = st->conf.prefix_len == 0 ? 0 :
		0xffffffffu << (32 - st->conf.prefix_len);
	dn_arp_init(st);
	st->l3.icmp_tokens = (uint64_t)DN_ICMP_ERR_BURST * 1000000;
	st->l3.icmp_last_us = now_us;
	/* Start the IP ID somewhere that differs between runs of a real
	 * daemon (now_us is wall-ish there) but stays fixed in tests. */
	st->l3.ip_id = (uint16_t)(now_us ^ (now_us >> 16));
	int err = dn_tcp_init(st);
	if (err) {
		dn_arp_fini(st);
		return err;
	}
	return 0;
}

void dn_stack_fini(struct dn_stack *st)
{
	dn_tcp_fini(st);
	dn_arp_fini(st);
	/* Frames from dn_ip4_alloc never sent belong to their caller. */
}

void dn_stack_input(struct dn_stack *st, const uint8_t *data, size_t len)
{
	dn_eth_input(st, data, len);
}

void dn_stack_rx_begin(struct dn_stack *st)
{
	dn_tcp_rx_begin(st);
}

void dn_stack_rx_end(struct dn_stack *st)
{
	dn_tcp_rx_end(st);
}

uint64_t dn_stack_poll(struct dn_stack *st)
{
	uint64_t arp = dn_arp_poll(st);
	uint64_t tcp = dn_tcp_poll(st);
	uint64_t wait = UINT64_MAX;
	if (arp != UINT64_MAX)
		wait = arp > st->now_us ? arp - st->now_us : 0;
	return tcp < wait ? tcp : wait;
}

void dn_stack_counters_foreach(const struct dn_stack *st,
			       void (*cb)(const char *name, uint64_t value,
					  void *arg),
			       void *arg)
{
	const struct dn_l3_counters *c = &st->l3.c;
#define DN_X_(name, desc) cb(#name, c->name, arg);
	DN_L3_COUNTERS(DN_X_)
#undef DN_X_
	dn_tcp_counters_foreach(st, cb, arg);
}
