/* IPv4 input validation, output (dn_ip4_alloc/dn_ip4_send), checksums. */
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
	th_learn(st, cap, TH_IP_GW, th_mac_gw);
}

static void teardown(void)
{
	dn_stack_fini(st);
	ck_assert_int_eq(cap->outstanding, 0);
	free(st);
	free(cap);
}

/* A TCP-ish packet (20 zero bytes) from the gateway to us. */
static size_t tcp_frame(uint8_t *b)
{
	static const uint8_t seg[20];
	return th_ip4_frame(b, TH_IP_GW, TH_IP_US, 6, seg, sizeof seg);
}

/* ---- checksum ----------------------------------------------------------- */

START_TEST(test_csum_rfc1071_example)
{
	/* RFC 1071 section 3: the sum of these bytes is 0xddf2. */
	static const uint8_t d[] = { 0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7 };
	ck_assert_uint_eq(dn_csum(d, sizeof d), (uint16_t)~0xddf2);
	ck_assert_uint_eq(dn_csum_fold(dn_csum_add(0, d, sizeof d)), (uint16_t)~0xddf2);
}
END_TEST

START_TEST(test_csum_matches_reference_all_lengths_and_alignments)
{
	uint8_t buf[600];
	uint64_t x = 88172645463325252ULL;
	for (size_t i = 0; i < sizeof buf; i++) {
		x ^= x << 13; x ^= x >> 7; x ^= x << 17;
		buf[i] = (uint8_t)x;
	}
	for (size_t off = 0; off < 8; off++)
		for (size_t len = 0; len + off <= 300; len++)
			ck_assert_uint_eq(dn_csum(buf + off, len),
					  th_csum_ref(buf + off, len));
	/* All 0xff: the sum must fold to 0xffff, checksum 0. */
	memset(buf, 0xff, sizeof buf);
	ck_assert_uint_eq(dn_csum(buf, sizeof buf), 0);
	ck_assert_uint_eq(dn_csum(buf, 0), 0xffff);
	/* Chained even chunks equal one pass; odd last chunk allowed. */
	for (size_t i = 0; i < sizeof buf; i++)
		buf[i] = (uint8_t)(i * 7 + 3);
	uint32_t s = dn_csum_add(0, buf, 100);
	s = dn_csum_add(s, buf + 100, 250);
	s = dn_csum_add(s, buf + 350, 101);
	ck_assert_uint_eq(dn_csum_fold(s), th_csum_ref(buf, 451));
}
END_TEST

START_TEST(test_csum_large_buffers)
{
	/* The largest IPv4 payload, all ones and random, against the
	 * byte-wise reference. */
	static uint8_t big[65536];
	memset(big, 0xff, sizeof big);
	ck_assert_uint_eq(dn_csum(big, 65535), th_csum_ref(big, 65535));
	ck_assert_uint_eq(dn_csum(big, 65536), th_csum_ref(big, 65536));
	uint64_t x = 1;
	for (size_t i = 0; i < sizeof big; i++) {
		x = x * 6364136223846793005ULL + 1442695040888963407ULL;
		big[i] = (uint8_t)(x >> 56);
	}
	ck_assert_uint_eq(dn_csum(big + 1, 65535), th_csum_ref(big + 1, 65535));
}
END_TEST

/* Every length 0..2048 at every offset 0..15 (so every position of the
 * 64-byte blocks and 8-byte tail words against the buffer's alignment), on
 * random bytes, all-ones (every add carries) and 0xff/0x00 runs, against
 * the byte-wise reference. */
START_TEST(test_csum_exhaustive_lengths_offsets_against_reference)
{
	static uint8_t buf[2048 + 16];
	uint64_t x = 0x9e3779b97f4a7c15ULL;
	for (int pattern = 0; pattern < 3; pattern++) {
		for (size_t i = 0; i < sizeof buf; i++) {
			x ^= x << 13; x ^= x >> 7; x ^= x << 17;
			buf[i] = pattern == 0 ? (uint8_t)x :
				 pattern == 1 ? 0xff :
				 (x & 3) ? 0xff : 0x00;
		}
		for (size_t off = 0; off < 16; off++)
			for (size_t len = 0; len <= 2048; len++)
				ck_assert_msg(dn_csum(buf + off, len) ==
					      th_csum_ref(buf + off, len),
					      "pattern %d off %zu len %zu", pattern,
					      off, len);
	}
}
END_TEST

/* A starting sum near the top of 32 bits (a pseudo-header sum plus earlier
 * chunks) must carry around, and chunks of even lengths chained at random
 * split points equal one pass. */
START_TEST(test_csum_chained_and_large_start_sums)
{
	static uint8_t buf[3000];
	uint64_t x = 12345;
	for (size_t i = 0; i < sizeof buf; i++) {
		x = x * 6364136223846793005ULL + 1442695040888963407ULL;
		buf[i] = (uint8_t)(x >> 56);
	}
	static const uint32_t starts[] = { 0, 1, 0xffff, 0x10000, 0xfffffffeu,
					   0xffffffffu };
	for (size_t k = 0; k < sizeof starts / sizeof starts[0]; k++) {
		for (size_t len = 0; len < 200; len++) {
			/* reference: start folded in as a 16-bit value */
			uint32_t st = starts[k];
			uint64_t f = st;
			while (f >> 16)
				f = (f & 0xffff) + (f >> 16);
			uint32_t ref = (uint16_t)~th_csum_ref(buf + 1, len);
			uint32_t both = (uint32_t)f + ref;
			while (both >> 16)
				both = (both & 0xffff) + (both >> 16);
			ck_assert_uint_eq(dn_csum_fold(dn_csum_add(st, buf + 1, len)),
					  (uint16_t)~both);
		}
	}
	for (int round = 0; round < 200; round++) {
		size_t total = 0;
		uint32_t s = 0;
		while (total < sizeof buf) {
			x = x * 6364136223846793005ULL + 1442695040888963407ULL;
			size_t n = (size_t)(x >> 40) % 300 * 2;
			if (n > sizeof buf - total)
				n = sizeof buf - total;
			s = dn_csum_add(s, buf + total, n);
			total += n;
		}
		ck_assert_uint_eq(dn_csum_fold(s), th_csum_ref(buf, sizeof buf));
	}
}
END_TEST

START_TEST(test_csum_pseudo_header)
{
	uint8_t ph[12 + 21];
	dn_put32(ph, TH_IP_US);
	dn_put32(ph + 4, TH_IP_REMOTE);
	ph[8] = 0;
	ph[9] = 6;
	dn_put16(ph + 10, 21);
	for (int i = 0; i < 21; i++)
		ph[12 + i] = (uint8_t)(0x80 + i);
	uint32_t s = dn_ip4_pseudo_sum(TH_IP_US, TH_IP_REMOTE, 6, 21);
	ck_assert_uint_eq(dn_csum_fold(dn_csum_add(s, ph + 12, 21)),
			  th_csum_ref(ph, sizeof ph));
}
END_TEST

/* ---- input -------------------------------------------------------------- */

START_TEST(test_ipv4_valid_tcp_delivered)
{
	uint8_t b[128];
	size_t n = tcp_frame(b);
	dn_stack_input(st, b, n);
	ck_assert_uint_eq(st->l3.c.ip_rx, 1);
	ck_assert_uint_eq(st->l3.c.ip_rx_delivered, 1);
}
END_TEST

START_TEST(test_ipv4_truncated_at_every_length)
{
	uint8_t b[128];
	size_t n = tcp_frame(b);
	for (size_t l = 0; l < n; l++)
		dn_stack_input(st, b, l);
	ck_assert_uint_eq(st->l3.c.ip_rx_delivered, 0);
	ck_assert_uint_eq(st->l3.c.eth_rx_short, 14);
	ck_assert_uint_eq(st->l3.c.ip_rx_short, 20);
	/* 20 .. n-1 bytes of IP: total length says more than is there. */
	ck_assert_uint_eq(st->l3.c.ip_rx_bad_len, n - 14 - 20);
	ck_assert_uint_eq(cap->ntx, 0);
}
END_TEST

START_TEST(test_ipv4_bad_version_dropped)
{
	uint8_t b[128];
	size_t n = tcp_frame(b);
	b[14] = 0x65;
	th_ip4_fix_csum(b + 14);
	dn_stack_input(st, b, n);
	ck_assert_uint_eq(st->l3.c.ip_rx_bad_version, 1);
	ck_assert_uint_eq(st->l3.c.ip_rx_delivered, 0);
}
END_TEST

START_TEST(test_ipv4_bad_ihl_dropped)
{
	uint8_t b[128];
	for (int ihl = 0; ihl < 5; ihl++) {
		size_t n = tcp_frame(b);
		b[14] = (uint8_t)(0x40 | ihl);
		dn_stack_input(st, b, n);
	}
	/* IHL 15 (60 bytes) beyond a 54-byte frame. */
	size_t n = tcp_frame(b);
	b[14] = 0x4f;
	dn_stack_input(st, b, n);
	ck_assert_uint_eq(st->l3.c.ip_rx_bad_hlen, 6);
	/* IHL 15 within the frame but > total length. */
	n = tcp_frame(b);
	b[14] = 0x4f;
	memset(b + n, 0, 40);
	dn_stack_input(st, b, n + 40);
	ck_assert_uint_eq(st->l3.c.ip_rx_bad_len, 1);
	ck_assert_uint_eq(st->l3.c.ip_rx_delivered, 0);
}
END_TEST

START_TEST(test_ipv4_total_length_longer_than_frame_dropped)
{
	uint8_t b[128];
	size_t n = tcp_frame(b);
	dn_put16(b + 16, (uint16_t)(n - 14 + 1));
	th_ip4_fix_csum(b + 14);
	dn_stack_input(st, b, n);
	ck_assert_uint_eq(st->l3.c.ip_rx_bad_len, 1);
	dn_put16(b + 16, 0xffff);
	th_ip4_fix_csum(b + 14);
	dn_stack_input(st, b, n);
	ck_assert_uint_eq(st->l3.c.ip_rx_bad_len, 2);
	ck_assert_uint_eq(st->l3.c.ip_rx_delivered, 0);
}
END_TEST

START_TEST(test_ipv4_total_length_shorter_than_header_dropped)
{
	uint8_t b[128];
	size_t n = tcp_frame(b);
	for (uint16_t t = 0; t < 20; t++) {
		dn_put16(b + 16, t);
		th_ip4_fix_csum(b + 14);
		dn_stack_input(st, b, n);
	}
	ck_assert_uint_eq(st->l3.c.ip_rx_bad_len, 20);
	ck_assert_uint_eq(st->l3.c.ip_rx_delivered, 0);
}
END_TEST

START_TEST(test_ipv4_padding_after_total_length_ignored)
{
	uint8_t b[128];
	size_t n = tcp_frame(b);
	memset(b + n, 0xee, 30);
	dn_stack_input(st, b, n + 30);
	ck_assert_uint_eq(st->l3.c.ip_rx_delivered, 1);
}
END_TEST

START_TEST(test_ipv4_bad_checksum_dropped_and_counted)
{
	uint8_t b[128];
	size_t n = tcp_frame(b);
	b[14 + 10] ^= 0x01;
	dn_stack_input(st, b, n);
	/* A flipped bit anywhere in the header. */
	n = tcp_frame(b);
	b[14 + 8] ^= 0x40;
	dn_stack_input(st, b, n);
	ck_assert_uint_eq(st->l3.c.ip_rx_bad_csum, 2);
	ck_assert_uint_eq(st->l3.c.ip_rx_delivered, 0);
}
END_TEST

START_TEST(test_ipv4_fragments_dropped_and_counted)
{
	static const uint16_t frag[] = { 0x2000, 0x0001, 0x2001, 0x1fff, 0x6000 };
	uint8_t b[128];
	for (size_t i = 0; i < sizeof frag / sizeof frag[0]; i++) {
		size_t n = tcp_frame(b);
		dn_put16(b + 20, frag[i]);
		th_ip4_fix_csum(b + 14);
		dn_stack_input(st, b, n);
	}
	ck_assert_uint_eq(st->l3.c.ip_rx_fragment, 5);
	/* DF alone is not a fragment. */
	size_t n = tcp_frame(b);
	dn_put16(b + 20, 0x4000);
	th_ip4_fix_csum(b + 14);
	dn_stack_input(st, b, n);
	ck_assert_uint_eq(st->l3.c.ip_rx_delivered, 1);
	/* No ICMP error for fragments either. */
	ck_assert_uint_eq(cap->ntx, 0);
}
END_TEST

START_TEST(test_ipv4_bad_source_dropped)
{
	static const uint32_t bad[] = {
		0, 0x00000001u, 0x7f000001u, 0xe0000001u, 0xf0000001u,
		0xffffffffu, TH_IP_BCAST, TH_IP_US,
	};
	uint8_t b[128];
	static const uint8_t seg[20];
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		size_t n = th_ip4_frame(b, bad[i], TH_IP_US, 6, seg, sizeof seg);
		dn_stack_input(st, b, n);
	}
	ck_assert_uint_eq(st->l3.c.ip_rx_bad_src, sizeof bad / sizeof bad[0]);
	ck_assert_uint_eq(st->l3.c.ip_rx_delivered, 0);
}
END_TEST

START_TEST(test_ipv4_not_for_us_dropped)
{
	uint8_t b[128];
	static const uint8_t seg[20];
	size_t n = th_ip4_frame(b, TH_IP_GW, TH_IP_PEER2, 6, seg, sizeof seg);
	dn_stack_input(st, b, n);
	n = th_ip4_frame(b, TH_IP_GW, 0xe0000001u, 6, seg, sizeof seg);
	dn_stack_input(st, b, n);
	ck_assert_uint_eq(st->l3.c.ip_rx_not_for_us, 2);
	/* Unicast to us inside a link broadcast: RFC 1122 3.3.6. */
	n = tcp_frame(b);
	memset(b, 0xff, 6);
	dn_stack_input(st, b, n);
	ck_assert_uint_eq(st->l3.c.ip_rx_not_for_us, 3);
	ck_assert_uint_eq(st->l3.c.ip_rx_delivered, 0);
}
END_TEST

START_TEST(test_ipv4_broadcasts_accepted)
{
	uint8_t b[128];
	static const uint8_t seg[20];
	size_t n = th_ip4_frame(b, TH_IP_GW, 0xffffffffu, 6, seg, sizeof seg);
	memset(b, 0xff, 6);
	dn_stack_input(st, b, n);
	n = th_ip4_frame(b, TH_IP_GW, TH_IP_BCAST, 6, seg, sizeof seg);
	dn_stack_input(st, b, n);
	ck_assert_uint_eq(st->l3.c.ip_rx_delivered, 2);
}
END_TEST

START_TEST(test_ipv4_options_skipped)
{
	/* An echo request with 4 bytes of options (NOP x3, EOL): answered,
	 * and the reply carries no options. */
	uint8_t b[128];
	size_t n = th_echo_frame(b, TH_IP_GW, TH_IP_US, 1, 2, "abcd", 4);
	uint8_t *ip = b + 14;
	memmove(ip + 24, ip + 20, n - 34);
	ip[20] = ip[21] = ip[22] = 1;
	ip[23] = 0;
	ip[0] = 0x46;
	dn_put16(ip + 2, (uint16_t)(n - 14 + 4));
	th_ip4_fix_csum(ip);
	dn_stack_input(st, b, n + 4);
	ck_assert_uint_eq(cap->ntx, 1);
	ck_assert_uint_eq(cap->tx[0].data[14], 0x45);
	ck_assert_mem_eq(cap->tx[0].data + 34 + 8, "abcd", 4);
}
END_TEST

START_TEST(test_ipv4_low_ttl_accepted)
{
	/* RFC 1122 3.2.1.7: a host must not drop for TTL < 2. */
	uint8_t b[128];
	size_t n = tcp_frame(b);
	b[14 + 8] = 0;
	th_ip4_fix_csum(b + 14);
	dn_stack_input(st, b, n);
	ck_assert_uint_eq(st->l3.c.ip_rx_delivered, 1);
}
END_TEST

/* ---- output ------------------------------------------------------------- */

START_TEST(test_ipv4_send_writes_headers)
{
	void *frame;
	size_t room;
	uint8_t *p = dn_ip4_alloc(st, &frame, &room);
	ck_assert_ptr_nonnull(p);
	ck_assert_uint_eq(room, 1480);
	memcpy(p, "hello, world", 12);
	ck_assert_int_eq(dn_ip4_send(st, frame, 0, TH_IP_GW, 6, 12), 0);
	ck_assert_uint_eq(cap->ntx, 1);
	const uint8_t *d = cap->tx[0].data;
	ck_assert_uint_eq(cap->tx[0].len, 60);   /* padded */
	ck_assert_mem_eq(d, th_mac_gw, 6);
	ck_assert_mem_eq(d + 6, th_mac_us, 6);
	ck_assert_uint_eq(dn_get16(d + 12), 0x0800);
	const uint8_t *ip = d + 14;
	ck_assert_uint_eq(ip[0], 0x45);
	ck_assert_uint_eq(ip[1], 0);
	ck_assert_uint_eq(dn_get16(ip + 2), 32);
	ck_assert_uint_eq(dn_get16(ip + 6), 0x4000);   /* DF */
	ck_assert_uint_eq(ip[8], 64);
	ck_assert_uint_eq(ip[9], 6);
	ck_assert_uint_eq(dn_get32(ip + 12), TH_IP_US);
	ck_assert_uint_eq(dn_get32(ip + 16), TH_IP_GW);
	ck_assert_uint_eq(dn_csum(ip, 20), 0);
	ck_assert_uint_eq(th_csum_ref(ip, 20), 0);
	ck_assert_mem_eq(ip + 20, "hello, world", 12);
	for (int i = 46; i < 60; i++)
		ck_assert_uint_eq(d[i], 0);
	/* The identification advances. */
	uint16_t id0 = dn_get16(ip + 4);
	p = dn_ip4_alloc(st, &frame, &room);
	ck_assert_int_eq(dn_ip4_send(st, frame, TH_IP_US, TH_IP_GW, 6, 0), 0);
	ck_assert_uint_eq(dn_get16(cap->tx[1].data + 18), (uint16_t)(id0 + 1));
	ck_assert_uint_eq(st->l3.c.ip_tx, 2);
}
END_TEST

START_TEST(test_ipv4_send_full_mtu_and_too_big)
{
	void *frame;
	size_t room;
	uint8_t *p = dn_ip4_alloc(st, &frame, &room);
	memset(p, 0x42, room);
	ck_assert_int_eq(dn_ip4_send(st, frame, 0, TH_IP_GW, 6, room), 0);
	ck_assert_uint_eq(cap->tx[0].len, 1514);
	ck_assert_uint_eq(dn_get16(cap->tx[0].data + 16), 1500);
	p = dn_ip4_alloc(st, &frame, &room);
	ck_assert_int_eq(dn_ip4_send(st, frame, 0, TH_IP_GW, 6, room + 1), EMSGSIZE);
	ck_assert_uint_eq(cap->ntx, 1);
}
END_TEST

START_TEST(test_ipv4_small_buffer_limits_room)
{
	cap->cap = 200;
	void *frame;
	size_t room;
	ck_assert_ptr_nonnull(dn_ip4_alloc(st, &frame, &room));
	ck_assert_uint_eq(room, 200 - 34);
	dn_ip4_abandon(st, frame);
	/* An abandoned frame cannot be sent any more. */
	ck_assert_uint_eq(cap->outstanding, 0);
}
END_TEST

START_TEST(test_ipv4_send_unknown_frame_einval)
{
	uint8_t *d;
	void *stray = th_frame_new(cap, &d);
	ck_assert_int_eq(dn_ip4_send(st, stray, 0, TH_IP_GW, 6, 10), EINVAL);
	ck_assert_uint_eq(st->l3.c.ip_tx_bad_frame, 1);
	ck_assert_uint_eq(cap->outstanding, 0);   /* released anyway */
	void *frame;
	size_t room;
	dn_ip4_alloc(st, &frame, &room);
	ck_assert_int_eq(dn_ip4_send(st, frame, 0, TH_IP_GW, 6, 10), 0);
	ck_assert_uint_eq(cap->outstanding, 0);
}
END_TEST

START_TEST(test_ipv4_many_allocated_before_send)
{
	void *f[40];
	size_t room;
	for (int i = 0; i < 40; i++) {
		uint8_t *p = dn_ip4_alloc(st, &f[i], &room);
		p[0] = (uint8_t)i;
	}
	for (int i = 39; i >= 0; i--)
		ck_assert_int_eq(dn_ip4_send(st, f[i], 0, TH_IP_GW, 6, 1), 0);
	ck_assert_uint_eq(cap->ntx, 40);
	for (int i = 0; i < 40; i++)
		ck_assert_uint_eq(cap->tx[i].data[34], 39 - i);
}
END_TEST

START_TEST(test_ipv4_send_no_route)
{
	dn_stack_fini(st);
	struct dn_stack_conf conf;
	th_conf_default(&conf);
	conf.gateway = 0;
	ck_assert_int_eq(dn_stack_init(st, &conf, &th_io, cap, 0), 0);
	void *frame;
	size_t room;
	dn_ip4_alloc(st, &frame, &room);
	ck_assert_int_eq(dn_ip4_send(st, frame, 0, TH_IP_REMOTE, 6, 1), ENETUNREACH);
	dn_ip4_alloc(st, &frame, &room);
	ck_assert_int_eq(dn_ip4_send(st, frame, 0, 0x7f000001u, 6, 1), ENETUNREACH);
	dn_ip4_alloc(st, &frame, &room);
	ck_assert_int_eq(dn_ip4_send(st, frame, 0, TH_IP_US, 6, 1), ENETUNREACH);
	ck_assert_uint_eq(st->l3.c.ip_tx_no_route, 3);
	ck_assert_uint_eq(cap->ntx, 0);
}
END_TEST

START_TEST(test_ipv4_send_unconfigured)
{
	dn_stack_fini(st);
	struct dn_stack_conf conf;
	th_conf_default(&conf);
	conf.ip4 = 0;
	ck_assert_int_eq(dn_stack_init(st, &conf, &th_io, cap, 0), 0);
	void *frame;
	size_t room;
	dn_ip4_alloc(st, &frame, &room);
	ck_assert_int_eq(dn_ip4_send(st, frame, 0, TH_IP_GW, 6, 1), EADDRNOTAVAIL);
	ck_assert_uint_eq(st->l3.c.ip_tx_no_addr, 1);
}
END_TEST

START_TEST(test_ipv4_send_broadcast_no_arp)
{
	void *frame;
	size_t room;
	dn_ip4_alloc(st, &frame, &room);
	ck_assert_int_eq(dn_ip4_send(st, frame, 0, TH_IP_BCAST, 17, 1), 0);
	dn_ip4_alloc(st, &frame, &room);
	ck_assert_int_eq(dn_ip4_send(st, frame, 0, 0xffffffffu, 17, 1), 0);
	dn_ip4_alloc(st, &frame, &room);
	ck_assert_int_eq(dn_ip4_send(st, frame, 0, 0xe0010203u, 17, 1), 0);
	ck_assert_uint_eq(cap->ntx, 3);
	ck_assert_mem_eq(cap->tx[0].data, th_mac_bcast, 6);
	ck_assert_mem_eq(cap->tx[1].data, th_mac_bcast, 6);
	static const uint8_t mc[6] = { 0x01, 0x00, 0x5e, 0x01, 0x02, 0x03 };
	ck_assert_mem_eq(cap->tx[2].data, mc, 6);
	ck_assert_uint_eq(st->l3.c.arp_tx_request, 0);
}
END_TEST

START_TEST(test_ipv4_alloc_failure)
{
	cap->fail_allocs = 1;
	void *frame = (void *)1;
	size_t room = 5;
	ck_assert_ptr_null(dn_ip4_alloc(st, &frame, &room));
	ck_assert_ptr_null(frame);
	ck_assert_uint_eq(room, 0);
	ck_assert_uint_eq(st->l3.c.tx_alloc_fail, 1);
}
END_TEST

START_TEST(test_ipv4_mtu_from_conf)
{
	dn_stack_fini(st);
	struct dn_stack_conf conf;
	th_conf_default(&conf);
	conf.mtu = 576;
	ck_assert_int_eq(dn_stack_init(st, &conf, &th_io, cap, 0), 0);
	void *frame;
	size_t room;
	dn_ip4_alloc(st, &frame, &room);
	ck_assert_uint_eq(room, 556);
	dn_ip4_abandon(st, frame);
}
END_TEST

Suite *ipv4_suite(void)
{
	Suite *s = suite_create("ipv4");
	TCase *tc = tcase_create("csum");
	tcase_add_test(tc, test_csum_rfc1071_example);
	tcase_add_test(tc, test_csum_matches_reference_all_lengths_and_alignments);
	tcase_add_test(tc, test_csum_large_buffers);
	tcase_add_test(tc, test_csum_pseudo_header);
	tcase_add_test(tc, test_csum_exhaustive_lengths_offsets_against_reference);
	tcase_add_test(tc, test_csum_chained_and_large_start_sums);
	suite_add_tcase(s, tc);

	tc = tcase_create("input");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_ipv4_valid_tcp_delivered);
	tcase_add_test(tc, test_ipv4_truncated_at_every_length);
	tcase_add_test(tc, test_ipv4_bad_version_dropped);
	tcase_add_test(tc, test_ipv4_bad_ihl_dropped);
	tcase_add_test(tc, test_ipv4_total_length_longer_than_frame_dropped);
	tcase_add_test(tc, test_ipv4_total_length_shorter_than_header_dropped);
	tcase_add_test(tc, test_ipv4_padding_after_total_length_ignored);
	tcase_add_test(tc, test_ipv4_bad_checksum_dropped_and_counted);
	tcase_add_test(tc, test_ipv4_fragments_dropped_and_counted);
	tcase_add_test(tc, test_ipv4_bad_source_dropped);
	tcase_add_test(tc, test_ipv4_not_for_us_dropped);
	tcase_add_test(tc, test_ipv4_broadcasts_accepted);
	tcase_add_test(tc, test_ipv4_options_skipped);
	tcase_add_test(tc, test_ipv4_low_ttl_accepted);
	suite_add_tcase(s, tc);

	tc = tcase_create("output");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_ipv4_send_writes_headers);
	tcase_add_test(tc, test_ipv4_send_full_mtu_and_too_big);
	tcase_add_test(tc, test_ipv4_small_buffer_limits_room);
	tcase_add_test(tc, test_ipv4_send_unknown_frame_einval);
	tcase_add_test(tc, test_ipv4_many_allocated_before_send);
	tcase_add_test(tc, test_ipv4_send_no_route);
	tcase_add_test(tc, test_ipv4_send_unconfigured);
	tcase_add_test(tc, test_ipv4_send_broadcast_no_arp);
	tcase_add_test(tc, test_ipv4_alloc_failure);
	tcase_add_test(tc, test_ipv4_mtu_from_conf);
	suite_add_tcase(s, tc);
	return s;
}
