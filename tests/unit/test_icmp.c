/* ICMP: echo replies, protocol unreachable and its rate limit, errors in. */
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
	th_learn(st, cap, TH_IP_GW, th_mac_gw);
}

static void teardown(void)
{
	dn_stack_fini(st);
	ck_assert_int_eq(cap->outstanding, 0);
	free(st);
	free(cap);
}

static void check_echo_reply(const struct th_txrec *r, const uint8_t *req,
			     size_t reqlen)
{
	const uint8_t *qip = req + 14;
	size_t mlen = dn_get16(qip + 2) - 20;
	const uint8_t *qm = qip + 20;
	ck_assert_mem_eq(r->data, th_mac_gw, 6);
	ck_assert_mem_eq(r->data + 6, th_mac_us, 6);
	const uint8_t *ip = r->data + 14;
	ck_assert_uint_eq(ip[0], 0x45);
	ck_assert_uint_eq(dn_get16(ip + 2), 20 + mlen);
	ck_assert_uint_eq(ip[9], 1);
	ck_assert_uint_eq(dn_get32(ip + 12), dn_get32(qip + 16));
	ck_assert_uint_eq(dn_get32(ip + 16), dn_get32(qip + 12));
	ck_assert_uint_eq(th_csum_ref(ip, 20), 0);
	const uint8_t *m = ip + 20;
	ck_assert_uint_eq(m[0], 0);
	ck_assert_uint_eq(m[1], 0);
	/* Same identifier, sequence number and data (RFC 792). */
	ck_assert_mem_eq(m + 4, qm + 4, mlen - 4);
	ck_assert_uint_eq(th_csum_ref(m, mlen), 0);
	ck_assert_uint_ge(r->len, 14 + 20 + mlen);
	(void)reqlen;
}

START_TEST(test_icmp_echo_reply_bytes_exact)
{
	uint8_t b[256];
	uint8_t pl[56];
	for (int i = 0; i < 56; i++)
		pl[i] = (uint8_t)(i * 3 + 1);
	size_t n = th_echo_frame(b, TH_IP_GW, TH_IP_US, 0xbeef, 7, pl, sizeof pl);
	dn_stack_input(st, b, n);
	ck_assert_uint_eq(cap->ntx, 1);
	check_echo_reply(&cap->tx[0], b, n);
	ck_assert_uint_eq(cap->tx[0].len, 14 + 20 + 64);
	const uint8_t *m = cap->tx[0].data + 34;
	ck_assert_uint_eq(dn_get16(m + 4), 0xbeef);
	ck_assert_uint_eq(dn_get16(m + 6), 7);
	ck_assert_mem_eq(m + 8, pl, sizeof pl);
	/* The checksum is exactly the request's plus 8 << 8 (type 8 -> 0),
	 * in ones' complement arithmetic (RFC 1624). */
	uint32_t want = dn_get16(b + 34 + 2) + 0x0800u;
	want = (want & 0xffff) + (want >> 16);
	ck_assert_uint_eq(dn_get16(m + 2), want);
	ck_assert_uint_eq(st->l3.c.icmp_rx_echo, 1);
	ck_assert_uint_eq(st->l3.c.icmp_tx_echo_reply, 1);
}
END_TEST

START_TEST(test_icmp_echo_reply_odd_and_empty_payloads)
{
	uint8_t b[256], pl[101];
	for (int i = 0; i < 101; i++)
		pl[i] = (uint8_t)(0xff - i);
	size_t lens[] = { 0, 1, 3, 17, 101 };
	for (size_t k = 0; k < 5; k++) {
		size_t n = th_echo_frame(b, TH_IP_GW, TH_IP_US, 1, (uint16_t)k,
					 pl, lens[k]);
		dn_stack_input(st, b, n);
		ck_assert_uint_eq(cap->ntx, k + 1);
		check_echo_reply(&cap->tx[k], b, n);
		ck_assert_mem_eq(cap->tx[k].data + 42, pl, lens[k]);
	}
}
END_TEST

START_TEST(test_icmp_echo_needs_arp_first)
{
	uint8_t b[256];
	size_t n = th_echo_frame(b, TH_IP_PEER2, TH_IP_US, 9, 9, "x", 1);
	memcpy(b + 6, th_mac_peer2, 6);
	dn_stack_input(st, b, n);
	/* A request for the sender goes out, the reply waits for it. */
	ck_assert_uint_eq(cap->ntx, 1);
	ck_assert_uint_eq(dn_get16(cap->tx[0].data + 12), 0x0806);
	th_cap_clear(cap);
	uint8_t a[64];
	size_t an = th_arp_frame(a, th_mac_us, 2, th_mac_peer2, TH_IP_PEER2,
				 th_mac_us, TH_IP_US);
	dn_stack_input(st, a, an);
	ck_assert_uint_eq(cap->ntx, 1);
	ck_assert_mem_eq(cap->tx[0].data, th_mac_peer2, 6);
	ck_assert_uint_eq(cap->tx[0].data[34], 0);
}
END_TEST

START_TEST(test_icmp_echo_to_broadcast_ignored)
{
	uint8_t b[256];
	size_t n = th_echo_frame(b, TH_IP_GW, TH_IP_BCAST, 1, 1, "x", 1);
	dn_stack_input(st, b, n);
	n = th_echo_frame(b, TH_IP_GW, 0xffffffffu, 1, 1, "x", 1);
	memset(b, 0xff, 6);
	dn_stack_input(st, b, n);
	ck_assert_uint_eq(st->l3.c.icmp_rx_echo_bcast, 2);
	ck_assert_uint_eq(cap->ntx, 0);
}
END_TEST

START_TEST(test_icmp_bad_checksum_dropped)
{
	uint8_t b[256];
	size_t n = th_echo_frame(b, TH_IP_GW, TH_IP_US, 1, 1, "abc", 3);
	b[n - 1] ^= 0x10;
	dn_stack_input(st, b, n);
	ck_assert_uint_eq(st->l3.c.icmp_rx_bad_csum, 1);
	ck_assert_uint_eq(cap->ntx, 0);
}
END_TEST

START_TEST(test_icmp_short_dropped)
{
	uint8_t b[256];
	for (size_t l = 0; l < 8; l++) {
		uint8_t m[8] = { 8, 0, 0, 0, 0, 1, 0, 1 };
		size_t n = th_ip4_frame(b, TH_IP_GW, TH_IP_US, 1, m, l);
		dn_stack_input(st, b, n);
	}
	ck_assert_uint_eq(st->l3.c.icmp_rx_short, 8);
	ck_assert_uint_eq(cap->ntx, 0);
}
END_TEST

START_TEST(test_icmp_too_big_echo_not_answered)
{
	/* A 1600-byte echo (peer with a larger MTU) cannot be answered
	 * within our 1500 and is counted. */
	static uint8_t pl[1600 - 28];
	static uint8_t b[1700];
	size_t n = th_echo_frame(b, TH_IP_GW, TH_IP_US, 1, 1, pl, sizeof pl);
	dn_stack_input(st, b, n);
	ck_assert_uint_eq(st->l3.c.icmp_tx_too_big, 1);
	ck_assert_uint_eq(cap->ntx, 0);
}
END_TEST

static void check_unreach(const struct th_txrec *r, const uint8_t *req,
			  size_t quote_payload)
{
	const uint8_t *ip = r->data + 14;
	ck_assert_mem_eq(r->data, th_mac_gw, 6);
	ck_assert_uint_eq(ip[9], 1);
	ck_assert_uint_eq(dn_get32(ip + 12), TH_IP_US);
	ck_assert_uint_eq(dn_get32(ip + 16), TH_IP_GW);
	ck_assert_uint_eq(th_csum_ref(ip, 20), 0);
	size_t mlen = 8 + 20 + quote_payload;
	ck_assert_uint_eq(dn_get16(ip + 2), 20 + mlen);
	const uint8_t *m = ip + 20;
	ck_assert_uint_eq(m[0], 3);
	ck_assert_uint_eq(m[1], 2);
	ck_assert_uint_eq(dn_get32(m + 4), 0);
	ck_assert_mem_eq(m + 8, req + 14, 20 + quote_payload);
	ck_assert_uint_eq(th_csum_ref(m, mlen), 0);
}

START_TEST(test_icmp_protocol_unreachable_quotes_header_plus_8)
{
	uint8_t b[256], pl[30];
	for (int i = 0; i < 30; i++)
		pl[i] = (uint8_t)i;
	size_t n = th_ip4_frame(b, TH_IP_GW, TH_IP_US, 17, pl, sizeof pl);
	dn_stack_input(st, b, n);
	ck_assert_uint_eq(st->l3.c.ip_rx_unknown_proto, 1);
	ck_assert_uint_eq(cap->ntx, 1);
	check_unreach(&cap->tx[0], b, 8);
	ck_assert_uint_eq(st->l3.c.icmp_tx_unreach, 1);
	/* A payload shorter than 8 bytes is quoted whole. */
	n = th_ip4_frame(b, TH_IP_GW, TH_IP_US, 132, pl, 3);
	dn_stack_input(st, b, n);
	ck_assert_uint_eq(cap->ntx, 2);
	check_unreach(&cap->tx[1], b, 3);
}
END_TEST

START_TEST(test_icmp_no_unreach_for_broadcast)
{
	uint8_t b[256];
	size_t n = th_ip4_frame(b, TH_IP_GW, TH_IP_BCAST, 17, "abcdefgh", 8);
	dn_stack_input(st, b, n);
	n = th_ip4_frame(b, TH_IP_GW, 0xffffffffu, 17, "abcdefgh", 8);
	memset(b, 0xff, 6);
	dn_stack_input(st, b, n);
	ck_assert_uint_eq(st->l3.c.ip_rx_unknown_proto, 2);
	ck_assert_uint_eq(cap->ntx, 0);
}
END_TEST

START_TEST(test_icmp_unreach_rate_limited)
{
	uint8_t b[256];
	size_t n = th_ip4_frame(b, TH_IP_GW, TH_IP_US, 17, "abcdefgh", 8);
	for (int i = 0; i < 2 * DN_ICMP_ERR_BURST; i++)
		dn_stack_input(st, b, n);
	ck_assert_uint_eq(cap->ntx, DN_ICMP_ERR_BURST);
	ck_assert_uint_eq(st->l3.c.icmp_tx_rate_limited, DN_ICMP_ERR_BURST);
	/* One token per 1/rate seconds. */
	st->now_us += 1000000 / DN_ICMP_ERR_RATE - 1;
	dn_stack_input(st, b, n);
	ck_assert_uint_eq(cap->ntx, DN_ICMP_ERR_BURST);
	st->now_us += 1;
	dn_stack_input(st, b, n);
	dn_stack_input(st, b, n);
	ck_assert_uint_eq(cap->ntx, DN_ICMP_ERR_BURST + 1);
	/* A long pause refills only up to the burst. */
	st->now_us += 3600ULL * 1000000;
	for (int i = 0; i < 3 * DN_ICMP_ERR_BURST; i++)
		dn_stack_input(st, b, n);
	ck_assert_uint_eq(cap->ntx, 2 * DN_ICMP_ERR_BURST + 1);
}
END_TEST

/* An ICMP error of `type` quoting an IPv4 header + 8 bytes. */
static size_t error_frame(uint8_t *b, uint8_t type, uint8_t code,
			  uint32_t qsrc, uint8_t qproto, size_t qlen)
{
	uint8_t m[128] = { 0 };
	m[0] = type;
	m[1] = code;
	uint8_t *q = m + 8;
	q[0] = 0x45;
	dn_put16(q + 2, 40);
	q[8] = 64;
	q[9] = qproto;
	dn_put32(q + 12, qsrc);
	dn_put32(q + 16, TH_IP_REMOTE);
	dn_put16(q + 20, 40000);
	dn_put16(q + 22, 80);
	dn_put16(m + 2, th_csum_ref(m, 8 + qlen));
	return th_ip4_frame(b, TH_IP_GW, TH_IP_US, 1, m, 8 + qlen);
}

START_TEST(test_icmp_errors_in_checked_and_passed)
{
	uint8_t b[256];
	size_t n = error_frame(b, 3, 1, TH_IP_US, 6, 28);
	dn_stack_input(st, b, n);
	n = error_frame(b, 11, 0, TH_IP_US, 6, 28);
	dn_stack_input(st, b, n);
	ck_assert_uint_eq(st->l3.c.icmp_rx_unreach, 1);
	ck_assert_uint_eq(st->l3.c.icmp_rx_time_exceeded, 1);
	ck_assert_uint_eq(st->l3.c.icmp_rx_bad_quote, 0);
	/* Unusable quotes: too short, not from us, not TCP. */
	for (size_t ql = 0; ql < 28; ql++) {
		n = error_frame(b, 3, 3, TH_IP_US, 6, ql);
		dn_stack_input(st, b, n);
	}
	n = error_frame(b, 3, 3, TH_IP_PEER2, 6, 28);
	dn_stack_input(st, b, n);
	n = error_frame(b, 3, 3, TH_IP_US, 17, 28);
	dn_stack_input(st, b, n);
	ck_assert_uint_eq(st->l3.c.icmp_rx_bad_quote, 30);
	/* Never an ICMP error about an ICMP error. */
	ck_assert_uint_eq(cap->ntx, 0);
}
END_TEST

START_TEST(test_icmp_other_types_ignored)
{
	uint8_t b[256];
	uint8_t m[8] = { 13, 0 };
	dn_put16(m + 2, th_csum_ref(m, 8));
	size_t n = th_ip4_frame(b, TH_IP_GW, TH_IP_US, 1, m, 8);
	dn_stack_input(st, b, n);
	m[0] = 0;
	m[2] = m[3] = 0;
	dn_put16(m + 2, th_csum_ref(m, 8));
	n = th_ip4_frame(b, TH_IP_GW, TH_IP_US, 1, m, 8);
	dn_stack_input(st, b, n);
	ck_assert_uint_eq(st->l3.c.icmp_rx_other, 1);
	ck_assert_uint_eq(st->l3.c.icmp_rx_echo_reply, 1);
	ck_assert_uint_eq(cap->ntx, 0);
}
END_TEST

Suite *icmp_suite(void)
{
	Suite *s = suite_create("icmp");
	TCase *tc = tcase_create("core");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_icmp_echo_reply_bytes_exact);
	tcase_add_test(tc, test_icmp_echo_reply_odd_and_empty_payloads);
	tcase_add_test(tc, test_icmp_echo_needs_arp_first);
	tcase_add_test(tc, test_icmp_echo_to_broadcast_ignored);
	tcase_add_test(tc, test_icmp_bad_checksum_dropped);
	tcase_add_test(tc, test_icmp_short_dropped);
	tcase_add_test(tc, test_icmp_too_big_echo_not_answered);
	tcase_add_test(tc, test_icmp_protocol_unreachable_quotes_header_plus_8);
	tcase_add_test(tc, test_icmp_no_unreach_for_broadcast);
	tcase_add_test(tc, test_icmp_unreach_rate_limited);
	tcase_add_test(tc, test_icmp_errors_in_checked_and_passed);
	tcase_add_test(tc, test_icmp_other_types_ignored);
	suite_add_tcase(s, tc);
	return s;
}
