/* Ethernet input: what is accepted, and a counter for every drop. */
#include <check.h>
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
	ck_assert_int_eq(cap->outstanding, 0);
	free(st);
	free(cap);
}

START_TEST(test_eth_short_frames_counted)
{
	uint8_t b[14] = { 0 };
	memcpy(b, th_mac_us, 6);
	for (size_t l = 0; l < 14; l++)
		dn_stack_input(st, b, l);
	ck_assert_uint_eq(st->l3.c.eth_rx, 14);
	ck_assert_uint_eq(st->l3.c.eth_rx_short, 14);
	/* Exactly a header, no payload: reaches the type dispatch. */
	b[12] = 0x08;
	dn_stack_input(st, b, 14);
	ck_assert_uint_eq(st->l3.c.ip_rx_short, 1);
}
END_TEST

START_TEST(test_eth_other_unicast_and_multicast_not_for_us)
{
	static const uint8_t other[6] = { 0x02, 0, 0, 0, 0, 0x99 };
	static const uint8_t mcast[6] = { 0x01, 0x00, 0x5e, 0, 0, 1 };
	static const uint8_t v6mc[6] = { 0x33, 0x33, 0, 0, 0, 1 };
	uint8_t b[60] = { 0 };
	th_eth(b, other, th_mac_gw, 0x0800);
	dn_stack_input(st, b, sizeof b);
	th_eth(b, mcast, th_mac_gw, 0x0800);
	dn_stack_input(st, b, sizeof b);
	th_eth(b, v6mc, th_mac_gw, 0x86dd);
	dn_stack_input(st, b, sizeof b);
	ck_assert_uint_eq(st->l3.c.eth_rx_not_for_us, 3);
	ck_assert_uint_eq(st->l3.c.ip_rx, 0);
}
END_TEST

START_TEST(test_eth_bad_source_dropped)
{
	static const uint8_t mcast[6] = { 0x01, 0, 0, 0, 0, 1 };
	uint8_t b[60];
	size_t n = th_arp_frame(b, th_mac_bcast, 1, th_mac_gw, TH_IP_GW, NULL,
				TH_IP_US);
	memcpy(b + 6, mcast, 6);
	dn_stack_input(st, b, n);
	memcpy(b + 6, th_mac_bcast, 6);
	dn_stack_input(st, b, n);
	memcpy(b + 6, th_mac_us, 6);   /* our own frame looped back */
	dn_stack_input(st, b, n);
	ck_assert_uint_eq(st->l3.c.eth_rx_bad_src, 3);
	ck_assert_uint_eq(st->l3.c.arp_rx, 0);
	ck_assert_uint_eq(cap->ntx, 0);
}
END_TEST

START_TEST(test_eth_vlan_and_unknown_types_dropped)
{
	uint8_t b[60] = { 0 };
	th_eth(b, th_mac_us, th_mac_gw, 0x8100);
	dn_stack_input(st, b, sizeof b);
	th_eth(b, th_mac_us, th_mac_gw, 0x88a8);
	dn_stack_input(st, b, sizeof b);
	ck_assert_uint_eq(st->l3.c.eth_rx_vlan, 2);
	th_eth(b, th_mac_us, th_mac_gw, 0x86dd);   /* IPv6 */
	dn_stack_input(st, b, sizeof b);
	th_eth(b, th_mac_us, th_mac_gw, 0x0040);   /* 802.3 length */
	dn_stack_input(st, b, sizeof b);
	th_eth(b, th_mac_us, th_mac_gw, 0x8035);   /* RARP */
	dn_stack_input(st, b, sizeof b);
	ck_assert_uint_eq(st->l3.c.eth_rx_unknown_type, 3);
	ck_assert_uint_eq(cap->ntx, 0);
}
END_TEST

START_TEST(test_eth_broadcast_and_unicast_accepted)
{
	uint8_t b[60];
	size_t n = th_arp_frame(b, th_mac_bcast, 1, th_mac_gw, TH_IP_GW, NULL,
				TH_IP_US);
	dn_stack_input(st, b, n);
	n = th_arp_frame(b, th_mac_us, 1, th_mac_gw, TH_IP_GW, NULL, TH_IP_US);
	dn_stack_input(st, b, n);
	ck_assert_uint_eq(st->l3.c.arp_rx_request, 2);
	ck_assert_uint_eq(cap->ntx, 2);
}
END_TEST

START_TEST(test_eth_random_frames_never_crash)
{
	/* A deterministic smoke version of the fuzz target. */
	uint8_t b[256];
	uint64_t x = 0x9e3779b97f4a7c15ULL;
	for (int i = 0; i < 20000; i++) {
		x ^= x << 13; x ^= x >> 7; x ^= x << 17;
		size_t n = x % sizeof b;
		for (size_t k = 0; k < n; k++) {
			x ^= x << 13; x ^= x >> 7; x ^= x << 17;
			b[k] = (uint8_t)x;
		}
		/* Aim most at us, with a plausible type. */
		if (n >= 14 && (i & 3)) {
			memcpy(b, (i & 4) ? th_mac_us : th_mac_bcast, 6);
			b[6] = 0x02;
			b[12] = 0x08;
			b[13] = (i & 8) ? 0x06 : 0x00;
			if (!(i & 8) && n >= 34) {
				b[14] = 0x45;
				dn_put16(b + 16, (uint16_t)(n - 14));
				dn_put16(b + 20, 0);
				b[23] = (i & 16) ? 1 : (uint8_t)x;
				dn_put32(b + 26, TH_IP_GW);
				dn_put32(b + 30, TH_IP_US);
				th_ip4_fix_csum(b + 14);
			}
		}
		dn_stack_input(st, b, n);
		st->now_us += 1000;
		dn_stack_poll(st);
	}
	ck_assert_uint_eq(st->l3.c.eth_rx, 20000);
}
END_TEST

Suite *eth_suite(void)
{
	Suite *s = suite_create("eth");
	TCase *tc = tcase_create("core");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_eth_short_frames_counted);
	tcase_add_test(tc, test_eth_other_unicast_and_multicast_not_for_us);
	tcase_add_test(tc, test_eth_bad_source_dropped);
	tcase_add_test(tc, test_eth_vlan_and_unknown_types_dropped);
	tcase_add_test(tc, test_eth_broadcast_and_unicast_accepted);
	tcase_add_test(tc, test_eth_random_frames_never_crash);
	suite_add_tcase(s, tc);
	return s;
}
