/* TCP option parsing: every length edge case (tcp_opt.c). */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "tcp_harness.h"

static struct dn_tcp_opts parse(const uint8_t *p, size_t n, bool syn)
{
	struct dn_tcp_opts o;
	dn_tcp_parse_opts(p, n, syn, &o);
	return o;
}

START_TEST(test_tcp_opt_empty)
{
	struct dn_tcp_opts o = parse(NULL, 0, true);
	ck_assert(!o.mss_ok && !o.ws_ok && !o.sackok && !o.ts_ok);
}
END_TEST

START_TEST(test_tcp_opt_len0_stops)
{
	/* Length 0 would loop forever if trusted. */
	uint8_t p[] = { 2, 0, 2, 4, 5, 0xb4 };
	struct dn_tcp_opts o = parse(p, sizeof p, true);
	ck_assert(!o.mss_ok);
}
END_TEST

START_TEST(test_tcp_opt_len1_stops)
{
	uint8_t p[] = { 3, 1, 3, 3, 7, 0 };
	struct dn_tcp_opts o = parse(p, sizeof p, true);
	ck_assert(!o.ws_ok);
}
END_TEST

START_TEST(test_tcp_opt_len_past_header)
{
	uint8_t p[] = { 1, 1, 8, 10, 0, 0, 0, 1 };  /* TS cut short */
	struct dn_tcp_opts o = parse(p, sizeof p, false);
	ck_assert(!o.ts_ok);
	uint8_t q[] = { 2, 255, 5, 0xb4 };
	o = parse(q, sizeof q, true);
	ck_assert(!o.mss_ok);
}
END_TEST

START_TEST(test_tcp_opt_kind_without_length)
{
	uint8_t p[] = { 1, 1, 1, 2 };   /* MSS kind as the last byte */
	struct dn_tcp_opts o = parse(p, sizeof p, true);
	ck_assert(!o.mss_ok);
}
END_TEST

START_TEST(test_tcp_opt_mss_zero)
{
	uint8_t p[] = { 2, 4, 0, 0 };
	struct dn_tcp_opts o = parse(p, sizeof p, true);
	ck_assert(o.mss_ok);
	ck_assert_uint_eq(o.mss, 0);
}
END_TEST

START_TEST(test_tcp_opt_mss_wrong_length_ignored)
{
	uint8_t p[] = { 2, 3, 5, 1, 1, 1 };
	struct dn_tcp_opts o = parse(p, sizeof p, true);
	ck_assert(!o.mss_ok);
	uint8_t q[] = { 2, 6, 5, 0xb4, 0, 0 };
	o = parse(q, sizeof q, true);
	ck_assert(!o.mss_ok);
}
END_TEST

START_TEST(test_tcp_opt_wscale_clamped_to_14)
{
	uint8_t p[] = { 1, 3, 3, 15 };
	struct dn_tcp_opts o = parse(p, sizeof p, true);
	ck_assert(o.ws_ok);
	ck_assert_uint_eq(o.ws, 14);
	p[3] = 255;
	o = parse(p, sizeof p, true);
	ck_assert_uint_eq(o.ws, 14);
	p[3] = 14;
	o = parse(p, sizeof p, true);
	ck_assert_uint_eq(o.ws, 14);
}
END_TEST

START_TEST(test_tcp_opt_syn_only_options_ignored_later)
{
	uint8_t p[] = { 2, 4, 5, 0xb4, 1, 3, 3, 7, 4, 2, 0, 0 };
	struct dn_tcp_opts o = parse(p, sizeof p, false);
	ck_assert(!o.mss_ok && !o.ws_ok && !o.sackok);
	o = parse(p, sizeof p, true);
	ck_assert(o.mss_ok && o.ws_ok && o.sackok);
	ck_assert_uint_eq(o.mss, 1460);
	ck_assert_uint_eq(o.ws, 7);
}
END_TEST

START_TEST(test_tcp_opt_ts_wrong_length_ignored)
{
	uint8_t p[] = { 8, 8, 0, 0, 0, 1, 0, 0 };
	struct dn_tcp_opts o = parse(p, sizeof p, false);
	ck_assert(!o.ts_ok);
	uint8_t q[] = { 1, 1, 8, 10, 0, 0, 0, 9, 0, 0, 0, 7 };
	o = parse(q, sizeof q, false);
	ck_assert(o.ts_ok);
	ck_assert_uint_eq(o.tsval, 9);
	ck_assert_uint_eq(o.tsecr, 7);
}
END_TEST

START_TEST(test_tcp_opt_sack_lengths)
{
	uint8_t p[40] = { 1, 1, 5, 34 };
	for (int i = 0; i < 32; i++)
		p[4 + i] = (uint8_t)i;
	struct dn_tcp_opts o = parse(p, 36, false);
	ck_assert_int_eq(o.nsack, 4);
	ck_assert_uint_eq(o.sack[1][0], 0x08090a0bu);
	p[3] = 11;   /* not 8n+2 */
	o = parse(p, 36, false);
	ck_assert_int_eq(o.nsack, 0);
	p[3] = 2;    /* no blocks */
	o = parse(p, 36, false);
	ck_assert_int_eq(o.nsack, 0);
	p[3] = 10;
	o = parse(p, 36, true);  /* SACK on a SYN: ignored */
	ck_assert_int_eq(o.nsack, 0);
}
END_TEST

START_TEST(test_tcp_opt_eol_stops)
{
	uint8_t p[] = { 0, 2, 4, 5, 0xb4 };
	struct dn_tcp_opts o = parse(p, sizeof p, true);
	ck_assert(!o.mss_ok);
}
END_TEST

START_TEST(test_tcp_opt_unknown_kind_skipped)
{
	uint8_t p[] = { 99, 4, 0, 0, 2, 4, 2, 0 };
	struct dn_tcp_opts o = parse(p, sizeof p, true);
	ck_assert(o.mss_ok);
	ck_assert_uint_eq(o.mss, 512);
}
END_TEST

START_TEST(test_tcp_opt_every_kind_and_length)
{
	/* No combination reads past the buffer (ASan checks the bounds:
	 * the buffer is exactly as long as the options). */
	static const int kinds[] = { 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 30,
				     99, 254, 255 };
	static const size_t sizes[] = { 1, 2, 3, 4, 10, 12, 40 };
	for (size_t ki = 0; ki < sizeof kinds / sizeof kinds[0]; ki++)
		for (int len = 0; len < 256; len++)
			for (size_t si = 0; si < sizeof sizes / sizeof sizes[0]; si++) {
				int kind = kinds[ki];
				size_t n = sizes[si];
				uint8_t *p = malloc(n);
				memset(p, (int)(kind ^ len), n);
				p[0] = (uint8_t)kind;
				if (n > 1)
					p[1] = (uint8_t)len;
				struct dn_tcp_opts o = parse(p, n, kind & 1);
				ck_assert_int_le(o.nsack, 4);
				ck_assert_int_le(o.ws, 14);
				free(p);
			}
}
END_TEST

static struct tcph h;
static void setup(void) { tcph_init(&h, 1 << 16); }
static void teardown(void) { tcph_fini(&h); }

START_TEST(test_tcp_opt_mss_zero_clamped_in_connection)
{
	int err;
	struct dn_tcp_conn *l = dn_tcp_listen(&h.st, 0, 80, 4, &h, &err);
	uint8_t opt[4] = { 2, 4, 0, 0 };
	struct tcph_seg s = { .seq = 10, .flags = DN_TH_SYN, .wnd = 65535,
			      .opt = opt, .optlen = 4 };
	tcph_send(&h, &s);
	struct tcph_out o;
	ck_assert(tcph_next(&h, &o));
	struct tcph_seg a = { .seq = 11, .ack = o.seq + 1, .flags = DN_TH_ACK,
			      .wnd = 65535 };
	tcph_send(&h, &a);
	struct dn_tcp_conn *c = dn_tcp_accept(l, &h);
	ck_assert_ptr_nonnull(c);
	struct dn_tcp_conn_info i;
	dn_tcp_get_info(c, &i);
	ck_assert_uint_ge(i.mss, 64);
	dn_tcp_close(l);
	dn_tcp_abort(c);
}
END_TEST

START_TEST(test_tcp_opt_garbage_in_syn_still_answered)
{
	int err;
	struct dn_tcp_conn *l = dn_tcp_listen(&h.st, 0, 80, 4, &h, &err);
	uint8_t opt[8] = { 2, 0, 3, 1, 8, 200, 4, 9 };
	struct tcph_seg s = { .seq = 10, .flags = DN_TH_SYN, .wnd = 65535,
			      .opt = opt, .optlen = 8 };
	tcph_send(&h, &s);
	struct tcph_out o;
	ck_assert(tcph_next(&h, &o));
	ck_assert_int_eq(o.flags, DN_TH_SYN | DN_TH_ACK);
	/* Nothing was negotiated: the reply offers only MSS. */
	ck_assert(o.opt.mss_ok);
	ck_assert(!o.opt.ws_ok && !o.opt.ts_ok && !o.opt.sackok);
	dn_tcp_close(l);
}
END_TEST

Suite *tcp_opt_suite(void)
{
	Suite *s = suite_create("tcp_opt");
	TCase *tc = tcase_create("parse");
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_tcp_opt_empty);
	tcase_add_test(tc, test_tcp_opt_len0_stops);
	tcase_add_test(tc, test_tcp_opt_len1_stops);
	tcase_add_test(tc, test_tcp_opt_len_past_header);
	tcase_add_test(tc, test_tcp_opt_kind_without_length);
	tcase_add_test(tc, test_tcp_opt_mss_zero);
	tcase_add_test(tc, test_tcp_opt_mss_wrong_length_ignored);
	tcase_add_test(tc, test_tcp_opt_wscale_clamped_to_14);
	tcase_add_test(tc, test_tcp_opt_syn_only_options_ignored_later);
	tcase_add_test(tc, test_tcp_opt_ts_wrong_length_ignored);
	tcase_add_test(tc, test_tcp_opt_sack_lengths);
	tcase_add_test(tc, test_tcp_opt_eol_stops);
	tcase_add_test(tc, test_tcp_opt_unknown_kind_skipped);
	tcase_add_test(tc, test_tcp_opt_every_kind_and_length);
	suite_add_tcase(s, tc);
	TCase *tc2 = tcase_create("conn");
	tcase_set_timeout(tc2, 30);
	tcase_add_checked_fixture(tc2, setup, teardown);
	tcase_add_test(tc2, test_tcp_opt_mss_zero_clamped_in_connection);
	tcase_add_test(tc2, test_tcp_opt_garbage_in_syn_still_answered);
	suite_add_tcase(s, tc2);
	return s;
}
