/* ARP: RFC 826 replies and learning, resolution, queueing, aging. */
#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "stack_harness.h"

static struct dn_stack *st;
static struct th_cap *cap;

static void setup(void)
{
	st = calloc(1, sizeof *st);
	cap = calloc(1, sizeof *cap);
	th_cap_init(cap);
	ck_assert_int_eq(th_stack_init(st, cap), 0);
}

static void teardown(void)
{
	dn_stack_fini(st);
	/* Every buffer the stack took was sent or given back. */
	ck_assert_int_eq(cap->outstanding, 0);
	free(st);
	free(cap);
}

struct find { uint32_t ip; struct dn_arp_view v; int found; unsigned n; };

static void find_cb(const struct dn_arp_view *e, void *arg)
{
	struct find *f = arg;
	f->n++;
	if (e->ip == f->ip) {
		f->v = *e;
		f->found = 1;
	}
}

static struct find arp_find(uint32_t ip)
{
	struct find f = { .ip = ip };
	dn_arp_foreach(st, find_cb, &f);
	return f;
}

/* Send an L4 payload of n bytes through dn_ip4_alloc/dn_ip4_send. */
static int send_udpish(uint32_t dst, uint8_t tag, size_t n)
{
	void *frame;
	size_t room;
	uint8_t *p = dn_ip4_alloc(st, &frame, &room);
	ck_assert_ptr_nonnull(p);
	memset(p, tag, n);
	return dn_ip4_send(st, frame, 0, dst, 253, n);
}

static void check_request(const struct th_txrec *r, uint32_t tpa)
{
	ck_assert_uint_eq(r->len, 60);
	ck_assert_mem_eq(r->data, th_mac_bcast, 6);
	ck_assert_mem_eq(r->data + 6, th_mac_us, 6);
	ck_assert_uint_eq(dn_get16(r->data + 12), 0x0806);
	const uint8_t *a = r->data + 14;
	ck_assert_uint_eq(dn_get16(a), 1);
	ck_assert_uint_eq(dn_get16(a + 2), 0x0800);
	ck_assert_uint_eq(a[4], 6);
	ck_assert_uint_eq(a[5], 4);
	ck_assert_uint_eq(dn_get16(a + 6), 1);
	ck_assert_mem_eq(a + 8, th_mac_us, 6);
	ck_assert_uint_eq(dn_get32(a + 14), TH_IP_US);
	static const uint8_t zero[6];
	ck_assert_mem_eq(a + 18, zero, 6);
	ck_assert_uint_eq(dn_get32(a + 24), tpa);
	for (int i = 42; i < 60; i++)
		ck_assert_uint_eq(r->data[i], 0);
}

START_TEST(test_arp_reply_to_request_for_us)
{
	uint8_t b[64];
	size_t n = th_arp_frame(b, th_mac_bcast, 1, th_mac_gw, TH_IP_GW, NULL,
				TH_IP_US);
	dn_stack_input(st, b, n);
	ck_assert_uint_eq(cap->ntx, 1);
	const struct th_txrec *r = &cap->tx[0];
	ck_assert_uint_eq(r->len, 60);
	ck_assert_mem_eq(r->data, th_mac_gw, 6);
	ck_assert_mem_eq(r->data + 6, th_mac_us, 6);
	ck_assert_uint_eq(dn_get16(r->data + 12), 0x0806);
	const uint8_t *a = r->data + 14;
	ck_assert_uint_eq(dn_get16(a), 1);
	ck_assert_uint_eq(dn_get16(a + 2), 0x0800);
	ck_assert_uint_eq(a[4], 6);
	ck_assert_uint_eq(a[5], 4);
	ck_assert_uint_eq(dn_get16(a + 6), 2);
	ck_assert_mem_eq(a + 8, th_mac_us, 6);
	ck_assert_uint_eq(dn_get32(a + 14), TH_IP_US);
	ck_assert_mem_eq(a + 18, th_mac_gw, 6);
	ck_assert_uint_eq(dn_get32(a + 24), TH_IP_GW);
	for (int i = 42; i < 60; i++)
		ck_assert_uint_eq(r->data[i], 0);
	ck_assert_uint_eq(st->l3.c.arp_rx_request, 1);
	ck_assert_uint_eq(st->l3.c.arp_tx_reply, 1);
	/* RFC 826: the requester is learned. */
	struct find f = arp_find(TH_IP_GW);
	ck_assert(f.found);
	ck_assert_int_eq(f.v.state, DN_ARP_REACHABLE);
	ck_assert_str_eq(f.v.state_name, "reachable");
	ck_assert_mem_eq(f.v.mac, th_mac_gw, 6);
}
END_TEST

START_TEST(test_arp_unicast_request_answered)
{
	uint8_t b[64];
	size_t n = th_arp_frame(b, th_mac_us, 1, th_mac_gw, TH_IP_GW, NULL,
				TH_IP_US);
	dn_stack_input(st, b, n);
	ck_assert_uint_eq(cap->ntx, 1);
	ck_assert_uint_eq(dn_get16(cap->tx[0].data + 20), 2);
}
END_TEST

START_TEST(test_arp_request_for_other_ignored_not_learned)
{
	uint8_t b[64];
	size_t n = th_arp_frame(b, th_mac_bcast, 1, th_mac_gw, TH_IP_GW, NULL,
				TH_IP_PEER2);
	dn_stack_input(st, b, n);
	ck_assert_uint_eq(cap->ntx, 0);
	ck_assert_uint_eq(st->l3.c.arp_rx_not_for_us, 1);
	ck_assert(!arp_find(TH_IP_GW).found);
}
END_TEST

START_TEST(test_arp_truncated_at_every_length)
{
	uint8_t b[64];
	size_t n = th_arp_frame(b, th_mac_bcast, 1, th_mac_gw, TH_IP_GW, NULL,
				TH_IP_US);
	for (size_t l = 0; l < n; l++)
		dn_stack_input(st, b, l);
	ck_assert_uint_eq(cap->ntx, 0);
	ck_assert_uint_eq(st->l3.c.eth_rx_short, 14);
	ck_assert_uint_eq(st->l3.c.arp_rx_bad, 28);
	ck_assert(!arp_find(TH_IP_GW).found);
	/* Trailing padding is fine. */
	memset(b + n, 0, sizeof b - n);
	dn_stack_input(st, b, 60);
	ck_assert_uint_eq(cap->ntx, 1);
}
END_TEST

START_TEST(test_arp_bad_header_fields_dropped)
{
	/* offset in the ARP body, value */
	static const struct { int off; uint8_t v; } bad[] = {
		{ 1, 6 },      /* htype 6 (IEEE 802) */
		{ 0, 1 },      /* htype 0x0101 */
		{ 2, 0x86 },   /* ptype 0x86dd */
		{ 3, 0x06 },   /* ptype 0x0806 */
		{ 4, 8 },      /* hlen 8 */
		{ 4, 0 },      /* hlen 0 */
		{ 5, 16 },     /* plen 16 */
		{ 5, 0 },      /* plen 0 */
		{ 7, 0 },      /* op 0 */
		{ 7, 3 },      /* op 3 (RARP) */
		{ 6, 1 },      /* op 0x0101 */
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		uint8_t b[64];
		size_t n = th_arp_frame(b, th_mac_bcast, 1, th_mac_gw, TH_IP_GW,
					NULL, TH_IP_US);
		b[14 + bad[i].off] = bad[i].v;
		dn_stack_input(st, b, n);
	}
	ck_assert_uint_eq(cap->ntx, 0);
	ck_assert_uint_eq(st->l3.c.arp_rx_bad, sizeof bad / sizeof bad[0]);
	ck_assert(!arp_find(TH_IP_GW).found);
}
END_TEST

START_TEST(test_arp_bad_sender_dropped)
{
	static const uint8_t mcast[6] = { 0x01, 0, 0x5e, 0, 0, 1 };
	static const uint8_t zero[6];
	static const uint32_t bad_ip[] = {
		0xffffffffu, TH_IP_BCAST, 0xe0000001u, 0x7f000001u, 0xf0000001u,
	};
	uint8_t b[64];
	size_t n;
	/* th_arp_frame also uses sha as the Ethernet source, which eth.c
	 * already refuses for group addresses: patch only the ARP field. */
	n = th_arp_frame(b, th_mac_bcast, 1, th_mac_gw, TH_IP_GW, NULL, TH_IP_US);
	memcpy(b + 22, mcast, 6);
	dn_stack_input(st, b, n);
	n = th_arp_frame(b, th_mac_bcast, 1, th_mac_gw, TH_IP_GW, NULL, TH_IP_US);
	memcpy(b + 22, zero, 6);
	dn_stack_input(st, b, n);
	n = th_arp_frame(b, th_mac_bcast, 1, th_mac_gw, TH_IP_GW, NULL, TH_IP_US);
	memcpy(b + 22, th_mac_us, 6);
	dn_stack_input(st, b, n);
	for (size_t i = 0; i < sizeof bad_ip / sizeof bad_ip[0]; i++) {
		n = th_arp_frame(b, th_mac_bcast, 1, th_mac_gw, bad_ip[i], NULL,
				 TH_IP_US);
		dn_stack_input(st, b, n);
	}
	ck_assert_uint_eq(st->l3.c.arp_rx_bad_sender, 3 + sizeof bad_ip / sizeof bad_ip[0]);
	ck_assert_uint_eq(cap->ntx, 0);
	ck_assert_uint_eq(arp_find(0).n, 0);
}
END_TEST

START_TEST(test_arp_offlink_sender_answered_not_learned)
{
	uint8_t b[64];
	size_t n = th_arp_frame(b, th_mac_bcast, 1, th_mac_peer2, TH_IP_REMOTE,
				NULL, TH_IP_US);
	dn_stack_input(st, b, n);
	ck_assert_uint_eq(cap->ntx, 1);
	ck_assert_uint_eq(dn_get32(cap->tx[0].data + 14 + 24), TH_IP_REMOTE);
	ck_assert(!arp_find(TH_IP_REMOTE).found);
	ck_assert_uint_eq(st->l3.c.arp_rx_not_learned, 1);
}
END_TEST

START_TEST(test_arp_probe_answered_not_learned)
{
	/* RFC 5227 probe: sender IP 0, asking for our address: we defend. */
	uint8_t b[64];
	size_t n = th_arp_frame(b, th_mac_bcast, 1, th_mac_gw, 0, NULL, TH_IP_US);
	dn_stack_input(st, b, n);
	ck_assert_uint_eq(cap->ntx, 1);
	ck_assert_uint_eq(dn_get32(cap->tx[0].data + 14 + 24), 0);
	ck_assert_uint_eq(arp_find(0).n, 0);
}
END_TEST

START_TEST(test_arp_gratuitous_updates_known_entry_only)
{
	static const uint8_t newmac[6] = { 0x02, 0, 0, 0, 0, 0x77 };
	uint8_t b[64];
	th_learn(st, cap, TH_IP_GW, th_mac_gw);
	/* Gratuitous request from the gateway with a new MAC. */
	size_t n = th_arp_frame(b, th_mac_bcast, 1, newmac, TH_IP_GW, NULL,
				TH_IP_GW);
	dn_stack_input(st, b, n);
	ck_assert_uint_eq(st->l3.c.arp_gratuitous, 1);
	struct find f = arp_find(TH_IP_GW);
	ck_assert(f.found);
	ck_assert_mem_eq(f.v.mac, newmac, 6);
	/* Gratuitous reply from an unknown host: counted, not learned. */
	n = th_arp_frame(b, th_mac_bcast, 2, th_mac_peer2, TH_IP_PEER2, NULL,
			 TH_IP_PEER2);
	dn_stack_input(st, b, n);
	ck_assert_uint_eq(st->l3.c.arp_gratuitous, 2);
	ck_assert(!arp_find(TH_IP_PEER2).found);
	ck_assert_uint_eq(cap->ntx, 0);
}
END_TEST

START_TEST(test_arp_merge_from_request_for_other)
{
	/* RFC 826: an entry for the sender is updated whatever the target. */
	static const uint8_t newmac[6] = { 0x02, 0, 0, 0, 0, 0x55 };
	uint8_t b[64];
	th_learn(st, cap, TH_IP_GW, th_mac_gw);
	size_t n = th_arp_frame(b, th_mac_bcast, 1, newmac, TH_IP_GW, NULL,
				TH_IP_PEER2);
	dn_stack_input(st, b, n);
	ck_assert_mem_eq(arp_find(TH_IP_GW).v.mac, newmac, 6);
	ck_assert_uint_eq(cap->ntx, 0);
}
END_TEST

START_TEST(test_arp_conflict_counted_not_learned)
{
	uint8_t b[64];
	size_t n = th_arp_frame(b, th_mac_bcast, 1, th_mac_gw, TH_IP_US, NULL,
				TH_IP_US);
	dn_stack_input(st, b, n);
	ck_assert_uint_eq(st->l3.c.arp_rx_conflict, 1);
	ck_assert_uint_eq(cap->ntx, 0);
	ck_assert(!arp_find(TH_IP_US).found);
}
END_TEST

START_TEST(test_arp_announce_gratuitous)
{
	dn_stack_announce(st);
	ck_assert_uint_eq(cap->ntx, 1);
	check_request(&cap->tx[0], TH_IP_US);
	ck_assert_uint_eq(st->l3.c.arp_tx_gratuitous, 1);
}
END_TEST

START_TEST(test_arp_resolve_queue_then_flush_in_order)
{
	ck_assert_int_eq(send_udpish(TH_IP_PEER2, 1, 10), 0);
	ck_assert_int_eq(send_udpish(TH_IP_PEER2, 2, 10), 0);
	ck_assert_uint_eq(cap->ntx, 1);
	check_request(&cap->tx[0], TH_IP_PEER2);
	struct find f = arp_find(TH_IP_PEER2);
	ck_assert_int_eq(f.v.state, DN_ARP_INCOMPLETE);
	ck_assert_uint_eq(f.v.queued, 2);
	th_cap_clear(cap);
	/* The reply releases both frames, oldest first, to the new MAC. */
	uint8_t b[64];
	size_t n = th_arp_frame(b, th_mac_us, 2, th_mac_peer2, TH_IP_PEER2,
				th_mac_us, TH_IP_US);
	dn_stack_input(st, b, n);
	ck_assert_uint_eq(cap->ntx, 2);
	for (unsigned i = 0; i < 2; i++) {
		ck_assert_mem_eq(cap->tx[i].data, th_mac_peer2, 6);
		ck_assert_uint_eq(cap->tx[i].data[34], i + 1);
	}
	ck_assert_uint_eq(st->l3.c.arp_rx_reply, 1);
	ck_assert_int_eq(arp_find(TH_IP_PEER2).v.state, DN_ARP_REACHABLE);
	/* Now sends go straight out. */
	th_cap_clear(cap);
	ck_assert_int_eq(send_udpish(TH_IP_PEER2, 3, 10), 0);
	ck_assert_uint_eq(cap->ntx, 1);
	ck_assert_mem_eq(cap->tx[0].data, th_mac_peer2, 6);
}
END_TEST

START_TEST(test_arp_offlink_resolves_gateway)
{
	ck_assert_int_eq(send_udpish(TH_IP_REMOTE, 1, 10), 0);
	ck_assert_uint_eq(cap->ntx, 1);
	check_request(&cap->tx[0], TH_IP_GW);
	th_cap_clear(cap);
	uint8_t b[64];
	size_t n = th_arp_frame(b, th_mac_us, 2, th_mac_gw, TH_IP_GW, th_mac_us,
				TH_IP_US);
	dn_stack_input(st, b, n);
	ck_assert_uint_eq(cap->ntx, 1);
	ck_assert_mem_eq(cap->tx[0].data, th_mac_gw, 6);
	ck_assert_uint_eq(dn_get32(cap->tx[0].data + 14 + 16), TH_IP_REMOTE);
}
END_TEST

START_TEST(test_arp_queue_overflow_while_resolving)
{
	for (int i = 0; i < DN_ARP_QUEUE_PER; i++)
		ck_assert_int_eq(send_udpish(TH_IP_PEER2, 1, 10), 0);
	ck_assert_int_eq(send_udpish(TH_IP_PEER2, 1, 10), ENOBUFS);
	ck_assert_uint_eq(st->l3.c.arp_queue_overflow, 1);
	ck_assert_uint_eq(st->l3.c.arp_queued, DN_ARP_QUEUE_PER);
	ck_assert_uint_eq(arp_find(TH_IP_PEER2).v.queued, DN_ARP_QUEUE_PER);
	/* Only one request so far, not one per frame. */
	ck_assert_uint_eq(st->l3.c.arp_tx_request, 1);
}
END_TEST

START_TEST(test_arp_queue_global_bound)
{
	/* 17 hosts x 4 frames > 64 in all. */
	unsigned ok = 0, full = 0;
	for (uint32_t h = 10; h < 27; h++)
		for (int i = 0; i < DN_ARP_QUEUE_PER; i++) {
			int r = send_udpish(0xc6120000u | h, 1, 10);
			if (r == 0)
				ok++;
			else if (r == ENOBUFS)
				full++;
		}
	ck_assert_uint_eq(ok, DN_ARP_QUEUE_TOTAL);
	ck_assert_uint_eq(full, 17 * DN_ARP_QUEUE_PER - DN_ARP_QUEUE_TOTAL);
	ck_assert_uint_eq(st->l3.c.arp_queue_overflow, full);
	/* fini (teardown) releases all 64 queued frames. */
}
END_TEST

START_TEST(test_arp_resolution_timeout)
{
	ck_assert_int_eq(send_udpish(TH_IP_PEER2, 1, 10), 0);
	ck_assert_int_eq(send_udpish(TH_IP_PEER2, 2, 10), 0);
	ck_assert_uint_eq(dn_stack_poll(st), DN_ARP_RETRY_US);
	/* Retries at 1 s intervals. */
	st->now_us = 999999;
	dn_stack_poll(st);
	ck_assert_uint_eq(st->l3.c.arp_tx_request, 1);
	st->now_us = 1000000;
	ck_assert_uint_eq(dn_stack_poll(st), DN_ARP_RETRY_US);
	ck_assert_uint_eq(st->l3.c.arp_tx_request, 2);
	st->now_us = 2000000;
	dn_stack_poll(st);
	ck_assert_uint_eq(st->l3.c.arp_tx_request, DN_ARP_MAX_TRIES);
	ck_assert_uint_eq(cap->ntx, DN_ARP_MAX_TRIES);
	for (unsigned i = 0; i < cap->ntx; i++)
		check_request(&cap->tx[i], TH_IP_PEER2);
	st->now_us = 3000000;
	dn_stack_poll(st);
	ck_assert_uint_eq(st->l3.c.arp_resolve_failed, 1);
	ck_assert_uint_eq(st->l3.c.arp_resolve_dropped, 2);
	ck_assert_uint_eq(cap->outstanding, 0);   /* queued frames released */
	ck_assert_uint_eq(cap->ntx, DN_ARP_MAX_TRIES);
	struct find f = arp_find(TH_IP_PEER2);
	ck_assert_int_eq(f.v.state, DN_ARP_FAILED);
	/* Sends fail fast while failed ... */
	ck_assert_int_eq(send_udpish(TH_IP_PEER2, 3, 10), EHOSTUNREACH);
	ck_assert_uint_eq(st->l3.c.arp_unreachable, 1);
	ck_assert_uint_eq(cap->ntx, DN_ARP_MAX_TRIES);
	/* ... then the entry goes and a new attempt starts. */
	st->now_us = 3000000 + DN_ARP_FAILED_US;
	dn_stack_poll(st);
	ck_assert(!arp_find(TH_IP_PEER2).found);
	ck_assert_int_eq(send_udpish(TH_IP_PEER2, 4, 10), 0);
	ck_assert_uint_eq(st->l3.c.arp_tx_request, DN_ARP_MAX_TRIES + 1);
}
END_TEST

START_TEST(test_arp_aging_reachable_stale_evicted)
{
	th_learn(st, cap, TH_IP_PEER2, th_mac_peer2);
	ck_assert_uint_eq(dn_stack_poll(st), DN_ARP_REACHABLE_US);
	st->now_us = DN_ARP_REACHABLE_US - 1;
	dn_stack_poll(st);
	ck_assert_int_eq(arp_find(TH_IP_PEER2).v.state, DN_ARP_REACHABLE);
	st->now_us = DN_ARP_REACHABLE_US;
	dn_stack_poll(st);
	struct find f = arp_find(TH_IP_PEER2);
	ck_assert_int_eq(f.v.state, DN_ARP_STALE);
	ck_assert_str_eq(f.v.state_name, "stale");
	ck_assert_uint_eq(f.v.age_us, DN_ARP_REACHABLE_US);
	/* A stale entry still carries traffic and asks for confirmation,
	 * at most once a second. */
	ck_assert_int_eq(send_udpish(TH_IP_PEER2, 1, 10), 0);
	ck_assert_int_eq(send_udpish(TH_IP_PEER2, 2, 10), 0);
	ck_assert_uint_eq(cap->ntx, 3);
	ck_assert_mem_eq(cap->tx[0].data, th_mac_peer2, 6);
	check_request(&cap->tx[1], TH_IP_PEER2);
	ck_assert_mem_eq(cap->tx[2].data, th_mac_peer2, 6);
	/* No confirmation: evicted after the stale period. */
	st->now_us = DN_ARP_REACHABLE_US + DN_ARP_STALE_US - 1;
	dn_stack_poll(st);
	ck_assert(arp_find(TH_IP_PEER2).found);
	st->now_us = DN_ARP_REACHABLE_US + DN_ARP_STALE_US;
	ck_assert_uint_eq(dn_stack_poll(st), UINT64_MAX);
	ck_assert(!arp_find(TH_IP_PEER2).found);
	ck_assert_uint_eq(st->l3.c.arp_evicted, 1);
}
END_TEST

START_TEST(test_arp_stale_confirmed_by_reply)
{
	th_learn(st, cap, TH_IP_PEER2, th_mac_peer2);
	st->now_us = DN_ARP_REACHABLE_US;
	dn_stack_poll(st);
	ck_assert_int_eq(arp_find(TH_IP_PEER2).v.state, DN_ARP_STALE);
	uint8_t b[64];
	size_t n = th_arp_frame(b, th_mac_us, 2, th_mac_peer2, TH_IP_PEER2,
				th_mac_us, TH_IP_US);
	dn_stack_input(st, b, n);
	ck_assert_int_eq(arp_find(TH_IP_PEER2).v.state, DN_ARP_REACHABLE);
	st->now_us = 2 * DN_ARP_REACHABLE_US - 1;
	dn_stack_poll(st);
	ck_assert_int_eq(arp_find(TH_IP_PEER2).v.state, DN_ARP_REACHABLE);
}
END_TEST

static void full_setup(void)
{
	st = calloc(1, sizeof *st);
	cap = calloc(1, sizeof *cap);
	th_cap_init(cap);
	struct dn_stack_conf conf;
	th_conf_default(&conf);
	conf.prefix_len = 16;
	ck_assert_int_eq(dn_stack_init(st, &conf, &th_io, cap, 0), 0);
}

START_TEST(test_arp_table_full_eviction_counts)
{
	for (uint32_t i = 0; i < DN_ARP_ENTRIES + 1; i++) {
		uint8_t mac[6] = { 0x02, 0, 0, 1, (uint8_t)(i >> 8), (uint8_t)i };
		st->now_us = i;
		th_learn(st, cap, 0xc6120100u + i, mac);
	}
	ck_assert_uint_eq(st->l3.c.arp_evicted, 1);
	ck_assert_uint_eq(arp_find(0).n, DN_ARP_ENTRIES);
	ck_assert(!arp_find(0xc6120100u).found);       /* the oldest went */
	ck_assert(arp_find(0xc6120100u + DN_ARP_ENTRIES).found);
}
END_TEST

START_TEST(test_arp_flood_does_not_evict_gateway_in_use)
{
	th_learn(st, cap, TH_IP_GW, th_mac_gw);
	for (uint32_t i = 0; i < 3 * DN_ARP_ENTRIES; i++) {
		uint8_t mac[6] = { 0x02, 0, 0, 2, (uint8_t)(i >> 8), (uint8_t)i };
		st->now_us += 1000;
		th_learn(st, cap, 0xc6120200u + i, mac);
		if (i % 50 == 0)
			ck_assert_int_eq(send_udpish(TH_IP_REMOTE, 1, 10), 0);
	}
	ck_assert_uint_ge(st->l3.c.arp_evicted, 2 * DN_ARP_ENTRIES);
	struct find f = arp_find(TH_IP_GW);
	ck_assert(f.found);
	ck_assert_mem_eq(f.v.mac, th_mac_gw, 6);
}
END_TEST

START_TEST(test_arp_alloc_failure_counted)
{
	cap->fail_allocs = 1;
	uint8_t b[64];
	size_t n = th_arp_frame(b, th_mac_bcast, 1, th_mac_gw, TH_IP_GW, NULL,
				TH_IP_US);
	dn_stack_input(st, b, n);
	ck_assert_uint_eq(cap->ntx, 0);
	ck_assert_uint_eq(st->l3.c.tx_alloc_fail, 1);
	/* Still learned. */
	ck_assert(arp_find(TH_IP_GW).found);
}
END_TEST

START_TEST(test_arp_unconfigured_stack_silent)
{
	dn_stack_fini(st);
	struct dn_stack_conf conf;
	th_conf_default(&conf);
	conf.ip4 = 0;
	ck_assert_int_eq(dn_stack_init(st, &conf, &th_io, cap, 0), 0);
	uint8_t b[64];
	size_t n = th_arp_frame(b, th_mac_bcast, 1, th_mac_gw, TH_IP_GW, NULL,
				TH_IP_US);
	dn_stack_input(st, b, n);
	dn_stack_announce(st);
	ck_assert_uint_eq(cap->ntx, 0);
}
END_TEST

/* A peer wired directly to the stack: it answers ARP requests for
 * TH_IP_PEER2 from inside xmit, but only once `answer` is set. */
static int answer;
static void peer_on_xmit(void *arg, const uint8_t *d, uint16_t len)
{
	(void)arg;
	if (!answer || len < 42 || dn_get16(d + 12) != 0x0806 ||
	    dn_get16(d + 20) != 1 || dn_get32(d + 38) != TH_IP_PEER2)
		return;
	uint8_t b[64];
	size_t n = th_arp_frame(b, th_mac_us, 2, th_mac_peer2, TH_IP_PEER2,
				th_mac_us, TH_IP_US);
	dn_stack_input(st, b, n);
}

START_TEST(test_arp_reply_inside_retry_keeps_timers)
{
	answer = 0;
	cap->on_xmit = peer_on_xmit;
	ck_assert_int_eq(send_udpish(TH_IP_PEER2, 1, 10), 0);
	ck_assert_uint_eq(cap->ntx, 1);
	/* The retry at 1 s is answered while dn_arp_poll is running. */
	answer = 1;
	st->now_us = DN_ARP_RETRY_US;
	uint64_t wait = dn_stack_poll(st);
	ck_assert_uint_eq(cap->ntx, 3);       /* request, request, data */
	ck_assert_mem_eq(cap->tx[2].data, th_mac_peer2, 6);
	ck_assert_int_eq(arp_find(TH_IP_PEER2).v.state, DN_ARP_REACHABLE);
	/* The new reachable timer is not lost. */
	ck_assert_uint_eq(wait, DN_ARP_REACHABLE_US);
	st->now_us += DN_ARP_REACHABLE_US;
	dn_stack_poll(st);
	ck_assert_int_eq(arp_find(TH_IP_PEER2).v.state, DN_ARP_STALE);
	cap->on_xmit = NULL;
}
END_TEST

START_TEST(test_arp_synchronous_reply_to_first_request)
{
	/* The peer answers from inside xmit: the frame that triggered the
	 * request must already be queued, and go out at once. */
	answer = 1;
	cap->on_xmit = peer_on_xmit;
	ck_assert_int_eq(send_udpish(TH_IP_PEER2, 7, 10), 0);
	ck_assert_uint_eq(cap->ntx, 2);
	check_request(&cap->tx[0], TH_IP_PEER2);
	ck_assert_mem_eq(cap->tx[1].data, th_mac_peer2, 6);
	ck_assert_uint_eq(cap->tx[1].data[34], 7);
	ck_assert_uint_eq(cap->outstanding, 0);
	cap->on_xmit = NULL;
}
END_TEST


/* ---- issue 10 item 6: eviction order and per-source bounds ---------- */

/* Send one frame to dst charged to source src (what TCP does around a
 * connection's segments). */
static int send_as(uint32_t src, uint32_t dst)
{
	st->l3.tx_src = src;
	int r = send_udpish(dst, 1, 10);
	st->l3.tx_src = DN_L3_SRC_NONE;
	return r;
}

static unsigned count_state(enum dn_arp_state s)
{
	unsigned n = 0;
	for (unsigned i = 0; i < DN_ARP_ENTRIES; i++)
		if (st->l3.arp[i].state == s)
			n++;
	return n;
}

/* A /16 with many reachable neighbours, the kernel peer and the gateway
 * among them: connects to unused on-link addresses from many sources
 * (the 82% ping loss) hold at most their share of unresolved
 * entries, evict no neighbour, and another app's resolution still gets
 * in and stays. */
START_TEST(test_arp_unresolved_flood_keeps_reachable_peer)
{
	th_learn(st, cap, TH_IP_GW, th_mac_gw);
	th_learn(st, cap, TH_IP_PEER2, th_mac_peer2);
	for (uint32_t i = 0; i < DN_ARP_ENTRIES / 2; i++) {
		uint8_t mac[6] = { 0x02, 0, 0, 3, (uint8_t)(i >> 8), (uint8_t)i };
		th_learn(st, cap, 0xc6120400u + i, mac);
	}
	unsigned reach = count_state(DN_ARP_REACHABLE);
	ck_assert_uint_eq(reach, DN_ARP_ENTRIES / 2 + 2);
	/* The peer carries traffic, the gateway does not (pinned anyway). */
	st->now_us += 1000;
	ck_assert_int_eq(send_udpish(TH_IP_PEER2, 1, 10), 0);
	unsigned refused = 0;
	for (uint32_t i = 0; i < 2000; i++) {
		st->now_us += 10;
		int r = send_as(1000 + i % 16, 0xc6128000u + i);
		ck_assert(r == 0 || r == ENOBUFS);
		refused += r == ENOBUFS;
		if (i == 1000)   /* a well-behaved app resolves a real host */
			ck_assert_int_eq(send_as(7, 0xc6127777u), 0);
	}
	ck_assert_uint_gt(refused, 0);
	ck_assert_uint_eq(st->l3.c.arp_src_limited, refused);
	ck_assert_uint_eq(count_state(DN_ARP_REACHABLE), reach);
	ck_assert_uint_eq(count_state(DN_ARP_INCOMPLETE), DN_ARP_INCOMPLETE_MAX);
	struct find f = arp_find(0xc6127777u);
	ck_assert(f.found);
	ck_assert_int_eq(f.v.state, DN_ARP_INCOMPLETE);
	ck_assert_uint_eq(f.v.queued, 1);
	f = arp_find(TH_IP_PEER2);
	ck_assert(f.found);
	ck_assert_int_eq(f.v.state, DN_ARP_REACHABLE);
	ck_assert_mem_eq(f.v.mac, th_mac_peer2, 6);
	f = arp_find(TH_IP_GW);
	ck_assert(f.found);
	ck_assert_mem_eq(f.v.mac, th_mac_gw, 6);
	/* The peer still gets its frames without a new resolution. */
	th_cap_clear(cap);
	ck_assert_int_eq(send_udpish(TH_IP_PEER2, 2, 10), 0);
	ck_assert_uint_eq(cap->ntx, 1);
	ck_assert_mem_eq(cap->tx[0].data, th_mac_peer2, 6);
}
END_TEST

/* The old order (unresolved entries ranked above reachable ones) let
 * them push reachable entries out; now a new entry takes an unresolved
 * one's place first. */
START_TEST(test_arp_full_table_evicts_incomplete_before_reachable)
{
	for (uint32_t i = 0; i < DN_ARP_ENTRIES - 1; i++) {
		uint8_t mac[6] = { 0x02, 0, 0, 4, (uint8_t)(i >> 8), (uint8_t)i };
		st->now_us += 1;
		th_learn(st, cap, 0xc6120400u + i, mac);
	}
	st->now_us += 1;
	ck_assert_int_eq(send_as(5, 0xc6129999u), 0);   /* the last free entry */
	ck_assert_uint_eq(count_state(DN_ARP_INCOMPLETE), 1);
	/* A new neighbour learned now evicts the unresolved entry, not the
	 * least recently used reachable one (0xc6120400). */
	uint8_t mac[6] = { 0x02, 0, 0, 5, 0, 1 };
	th_learn(st, cap, 0xc612aaaau, mac);
	ck_assert(!arp_find(0xc6129999u).found);
	ck_assert(arp_find(0xc6120400u).found);
	ck_assert_uint_eq(count_state(DN_ARP_REACHABLE), DN_ARP_ENTRIES);
	ck_assert_uint_eq(st->l3.c.arp_resolve_dropped, 1);   /* its frame */
}
END_TEST

START_TEST(test_arp_gateway_pinned_when_least_recently_used)
{
	th_learn(st, cap, TH_IP_GW, th_mac_gw);       /* oldest, never used */
	for (uint32_t i = 0; i < 2 * DN_ARP_ENTRIES; i++) {
		uint8_t mac[6] = { 0x02, 0, 0, 6, (uint8_t)(i >> 8), (uint8_t)i };
		st->now_us += 1000;
		th_learn(st, cap, 0xc6120400u + i, mac);
	}
	ck_assert_uint_ge(st->l3.c.arp_evicted, DN_ARP_ENTRIES);
	struct find f = arp_find(TH_IP_GW);
	ck_assert(f.found);
	ck_assert_mem_eq(f.v.mac, th_mac_gw, 6);
}
END_TEST

START_TEST(test_arp_incomplete_capped_per_source)
{
	for (uint32_t i = 0; i < DN_ARP_INCOMPLETE_PER_SRC; i++)
		ck_assert_int_eq(send_as(42, 0xc6121000u + i), 0);
	ck_assert_int_eq(send_as(42, 0xc6121100u), ENOBUFS);
	ck_assert_uint_eq(st->l3.c.arp_src_limited, 1);
	ck_assert(!arp_find(0xc6121100u).found);
	ck_assert_uint_eq(st->l3.c.arp_tx_request, DN_ARP_INCOMPLETE_PER_SRC);
	/* Another source is not affected. */
	ck_assert_int_eq(send_as(43, 0xc6121100u), 0);
	/* A failed resolution frees the source's share. */
	for (unsigned t = 1; t <= DN_ARP_MAX_TRIES; t++) {
		st->now_us = t * DN_ARP_RETRY_US;
		dn_stack_poll(st);
	}
	ck_assert_uint_eq(count_state(DN_ARP_INCOMPLETE), 0);
	ck_assert_int_eq(send_as(42, 0xc6121200u), 0);
}
END_TEST

START_TEST(test_arp_incomplete_total_cap_taken_from_busiest)
{
	unsigned nsrc = DN_ARP_INCOMPLETE_MAX / DN_ARP_INCOMPLETE_PER_SRC;
	for (uint32_t s = 0; s < nsrc; s++)
		for (uint32_t i = 0; i < DN_ARP_INCOMPLETE_PER_SRC; i++) {
			st->now_us++;
			ck_assert_int_eq(send_as(100 + s, 0xc6122000u + s * 64 + i), 0);
		}
	ck_assert_uint_eq(count_state(DN_ARP_INCOMPLETE), DN_ARP_INCOMPLETE_MAX);
	/* A new source gets in, at the cost of the oldest attempt of the
	 * busiest source (all equal: the oldest of all, source 100's). */
	st->now_us++;
	ck_assert_int_eq(send_as(7, 0xc6123000u), 0);
	ck_assert_uint_eq(st->l3.c.arp_incomplete_evicted, 1);
	ck_assert(!arp_find(0xc6122000u).found);
	ck_assert_uint_eq(count_state(DN_ARP_INCOMPLETE), DN_ARP_INCOMPLETE_MAX);
	/* Source 7 now has 1, the busiest 8: it may take more ... */
	st->now_us++;
	ck_assert_int_eq(send_as(7, 0xc6123001u), 0);
	ck_assert_uint_eq(st->l3.c.arp_incomplete_evicted, 2);
	/* ... but a source at its share is refused, not let in. */
	st->now_us++;
	ck_assert_int_eq(send_as(100 + nsrc - 1, 0xc6123100u), ENOBUFS);
	ck_assert_uint_eq(st->l3.c.arp_src_limited, 1);
}
END_TEST

START_TEST(test_arp_queue_capped_per_source)
{
	/* Source 9: four addresses x DN_ARP_QUEUE_PER frames = its share. */
	unsigned sent = 0;
	for (uint32_t h = 0; sent < DN_ARP_QUEUE_PER_SRC; h++)
		for (int i = 0; i < DN_ARP_QUEUE_PER; i++, sent++)
			ck_assert_int_eq(send_as(9, 0xc6124000u + h), 0);
	ck_assert_int_eq(send_as(9, 0xc6124100u), ENOBUFS);
	ck_assert_uint_eq(st->l3.c.arp_queue_src_limited, 1);
	/* Another source still queues, also on an entry source 9 started. */
	ck_assert_int_eq(send_as(10, 0xc6124100u), 0);
	ck_assert_uint_eq(arp_find(0xc6124100u).v.queued, 1);
}
END_TEST

/* Frames with no known sender are charged to the destination's hash
 * bucket: addresses in one bucket share DN_ARP_INCOMPLETE_PER_SRC. */
START_TEST(test_arp_unknown_sender_keyed_by_destination_bucket)
{
	uint32_t same[DN_ARP_INCOMPLETE_PER_SRC + 1];
	unsigned n = 0;
	uint32_t other = 0;
	uint32_t b0 = ((uint32_t)(0xc6125000u * 2654435761u)) >> 26;
	for (uint32_t a = 0xc6125000u; n < DN_ARP_INCOMPLETE_PER_SRC + 1; a++) {
		uint32_t b = ((uint32_t)(a * 2654435761u)) >> 26;
		if (b == b0)
			same[n++] = a;
		else if (!other)
			other = a;
	}
	for (unsigned i = 0; i < DN_ARP_INCOMPLETE_PER_SRC; i++)
		ck_assert_int_eq(send_udpish(same[i], 1, 10), 0);
	ck_assert_int_eq(send_udpish(same[DN_ARP_INCOMPLETE_PER_SRC], 1, 10),
			 ENOBUFS);
	ck_assert_uint_eq(st->l3.c.arp_src_limited, 1);
	ck_assert_int_eq(send_udpish(other, 1, 10), 0);
	/* An app's own share is separate. */
	ck_assert_int_eq(send_as(1000, same[DN_ARP_INCOMPLETE_PER_SRC]), 0);
}
END_TEST

/* A table full of reachable neighbours: a source resolving unused
 * addresses holds one entry and churns through it; another source's
 * single attempt is not pushed out by it, and only one reachable entry
 * goes per source. */
START_TEST(test_arp_full_table_unresolved_flood_takes_one_entry)
{
	th_learn(st, cap, TH_IP_GW, th_mac_gw);
	th_learn(st, cap, TH_IP_PEER2, th_mac_peer2);
	for (uint32_t i = 0; i < DN_ARP_ENTRIES - 2; i++) {
		uint8_t mac[6] = { 0x02, 0, 0, 7, (uint8_t)(i >> 8), (uint8_t)i };
		th_learn(st, cap, 0xc6120400u + i, mac);
	}
	ck_assert_uint_eq(count_state(DN_ARP_REACHABLE), DN_ARP_ENTRIES);
	st->now_us += 1000;
	ck_assert_int_eq(send_udpish(TH_IP_PEER2, 1, 10), 0);
	for (uint32_t i = 0; i < 500; i++) {
		st->now_us += 10;
		ck_assert_int_eq(send_as(1000, 0xc6128000u + i), 0);
		if (i == 250)
			ck_assert_int_eq(send_as(7, 0xc6127777u), 0);
	}
	ck_assert_uint_eq(count_state(DN_ARP_INCOMPLETE), 2);
	ck_assert_uint_eq(count_state(DN_ARP_REACHABLE), DN_ARP_ENTRIES - 2);
	struct find f = arp_find(0xc6127777u);
	ck_assert(f.found);
	ck_assert_uint_eq(f.v.queued, 1);
	ck_assert(arp_find(TH_IP_PEER2).found);
	ck_assert(arp_find(TH_IP_GW).found);
}
END_TEST

static void count_cb(const char *name, uint64_t v, void *arg)
{
	unsigned *n = arg;
	(void)v;
	ck_assert_ptr_nonnull(name);
	n[0]++;
	if (!strcmp(name, "arp_queue_overflow") || !strcmp(name, "ip_rx_bad_csum"))
		n[1]++;
}

START_TEST(test_arp_state_numbers_match_ctl_wire)
{
	/* proto/dn_msg.h: 0 incomplete, 1 reachable, 2 stale. */
	ck_assert_int_eq(DN_ARP_INCOMPLETE, 0);
	ck_assert_int_eq(DN_ARP_REACHABLE, 1);
	ck_assert_int_eq(DN_ARP_STALE, 2);
	ck_assert_int_eq(DN_ARP_FAILED, 3);
	ck_assert_str_eq(dn_arp_state_name(DN_ARP_FAILED), "failed");
	ck_assert_str_eq(dn_arp_state_name((enum dn_arp_state)99), "?");
}
END_TEST

START_TEST(test_stack_counters_foreach_walks_names)
{
	unsigned n[2] = { 0, 0 };
	dn_stack_counters_foreach(st, count_cb, n);
	ck_assert_uint_ge(n[0], DN_L3_NCOUNTERS);
	ck_assert_uint_eq(n[1], 2);
	ck_assert_str_eq(dn_l3_counter_name(0), "eth_rx");
	ck_assert_ptr_nonnull(dn_l3_counter_desc(DN_L3_NCOUNTERS - 1));
	ck_assert_ptr_null(dn_l3_counter_name(DN_L3_NCOUNTERS));
}
END_TEST

Suite *arp_suite(void)
{
	Suite *s = suite_create("arp");
	TCase *tc = tcase_create("core");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_arp_reply_to_request_for_us);
	tcase_add_test(tc, test_arp_unicast_request_answered);
	tcase_add_test(tc, test_arp_request_for_other_ignored_not_learned);
	tcase_add_test(tc, test_arp_truncated_at_every_length);
	tcase_add_test(tc, test_arp_bad_header_fields_dropped);
	tcase_add_test(tc, test_arp_bad_sender_dropped);
	tcase_add_test(tc, test_arp_probe_answered_not_learned);
	tcase_add_test(tc, test_arp_offlink_sender_answered_not_learned);
	tcase_add_test(tc, test_arp_gratuitous_updates_known_entry_only);
	tcase_add_test(tc, test_arp_merge_from_request_for_other);
	tcase_add_test(tc, test_arp_conflict_counted_not_learned);
	tcase_add_test(tc, test_arp_announce_gratuitous);
	tcase_add_test(tc, test_arp_resolve_queue_then_flush_in_order);
	tcase_add_test(tc, test_arp_offlink_resolves_gateway);
	tcase_add_test(tc, test_arp_queue_overflow_while_resolving);
	tcase_add_test(tc, test_arp_queue_global_bound);
	tcase_add_test(tc, test_arp_resolution_timeout);
	tcase_add_test(tc, test_arp_aging_reachable_stale_evicted);
	tcase_add_test(tc, test_arp_stale_confirmed_by_reply);
	tcase_add_test(tc, test_arp_alloc_failure_counted);
	tcase_add_test(tc, test_arp_unconfigured_stack_silent);
	tcase_add_test(tc, test_arp_reply_inside_retry_keeps_timers);
	tcase_add_test(tc, test_arp_synchronous_reply_to_first_request);
	tcase_add_test(tc, test_stack_counters_foreach_walks_names);
	tcase_add_test(tc, test_arp_state_numbers_match_ctl_wire);
	suite_add_tcase(s, tc);
	TCase *tf = tcase_create("full");
	tcase_add_checked_fixture(tf, full_setup, teardown);
	tcase_add_test(tf, test_arp_table_full_eviction_counts);
	tcase_add_test(tf, test_arp_flood_does_not_evict_gateway_in_use);
	tcase_add_test(tf, test_arp_unresolved_flood_keeps_reachable_peer);
	tcase_add_test(tf, test_arp_full_table_evicts_incomplete_before_reachable);
	tcase_add_test(tf, test_arp_full_table_unresolved_flood_takes_one_entry);
	tcase_add_test(tf, test_arp_gateway_pinned_when_least_recently_used);
	tcase_add_test(tf, test_arp_incomplete_capped_per_source);
	tcase_add_test(tf, test_arp_incomplete_total_cap_taken_from_busiest);
	tcase_add_test(tf, test_arp_queue_capped_per_source);
	tcase_add_test(tf, test_arp_unknown_sender_keyed_by_destination_bucket);
	suite_add_tcase(s, tf);
	return s;
}
