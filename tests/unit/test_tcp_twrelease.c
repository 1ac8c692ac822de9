/* TCP: with conf.tw_release (what dillnetd sets), a connection its owner
 * closed gives its rings back on entering TIME-WAIT instead of after 2MSL,
 * and TIME-WAIT still does its job without them. */
#include <check.h>
#include <string.h>

#include "tcp_harness.h"

static struct tcph h;

static void setup(void)
{
	tcph_init(&h, 1 << 16);
	h.st.tcp.conf.tw_release = 1;
	h.st.tcp.conf.time_wait_us = 2000000;
}
static void teardown(void) { tcph_fini(&h); }

/* Closed first (orphan), then FIN-WAIT-1/2 -> TIME-WAIT: freed() on entry. */
START_TEST(test_tw_release_orphan_active_close)
{
	struct dn_tcp_conn *c = tcph_active_open(&h, 5000, 7, 65535);
	static const char msg[] = "hello";
	ck_assert_uint_eq(tcph_app_write(&h, msg, 5), 5);
	dn_tcp_output_kick(c);
	dn_tcp_close(c);
	struct tcph_out o;
	uint32_t fin_seq = 0;
	while (tcph_next(&h, &o))
		if (o.flags & DN_TH_FIN)
			fin_seq = o.seq + (uint32_t)o.len;
	ck_assert_uint_ne(fin_seq, 0);
	tcph_peer_ack(&h, fin_seq + 1, 65535);
	ck_assert_int_eq(dn_tcp_state(c), DN_TCP_FIN_WAIT_2);
	ck_assert_int_eq(h.n_freed, 0);
	tcph_peer_flags(&h, DN_TH_FIN | DN_TH_ACK);
	ck_assert_int_eq(dn_tcp_state(c), DN_TCP_TIME_WAIT);
	/* The rings are the owner's again, at once. */
	ck_assert_int_eq(h.n_freed, 1);
	ck_assert_ptr_null(dn_tcp_owner(c));
	ck_assert(tcph_next(&h, &o));
	ck_assert_int_eq(o.flags, DN_TH_ACK);
	ck_assert_uint_eq(o.ack, h.peer_seq);
	/* TIME-WAIT still acks a retransmitted FIN, with a window that does
	 * not shrink, and ignores a RST (RFC 1337), all without rings. */
	uint16_t wnd = o.wnd;
	h.peer_seq--;
	tcph_peer_flags(&h, DN_TH_FIN | DN_TH_ACK);
	ck_assert(tcph_next(&h, &o));
	ck_assert_int_eq(o.flags, DN_TH_ACK);
	ck_assert_uint_eq(o.ack, h.peer_seq);
	ck_assert_uint_ge(o.wnd, wnd);
	tcph_peer_flags(&h, DN_TH_RST);
	ck_assert_uint_eq(tcph_drop(&h, DN_TCP_DROP_RST_TIME_WAIT), 1);
	struct dn_tcp_conn_info i;
	dn_tcp_get_info(c, &i);
	ck_assert_int_eq(i.state, DN_TCP_TIME_WAIT);
	ck_assert_uint_eq(i.send_q, 0);
	ck_assert_uint_eq(h.st.tcp.nconns, 1);
	/* 2MSL later it goes, without a second freed(). */
	tcph_advance(&h, 2000000);
	ck_assert_uint_eq(h.st.tcp.nconns, 0);
	ck_assert_int_eq(h.n_freed, 1);
}
END_TEST

/* TIME-WAIT reached while the owner still holds the handle (shutdown,
 * then the peer's FIN): the rings stay until the owner closes. */
START_TEST(test_tw_release_waits_for_owner)
{
	struct dn_tcp_conn *c = tcph_active_open(&h, 5000, 7, 65535);
	dn_tcp_shutdown_wr(c);
	struct tcph_out o;
	ck_assert(tcph_next(&h, &o));
	ck_assert(o.flags & DN_TH_FIN);
	tcph_peer_ack(&h, o.seq + 1, 65535);
	tcph_peer_flags(&h, DN_TH_FIN | DN_TH_ACK);
	ck_assert_int_eq(dn_tcp_state(c), DN_TCP_TIME_WAIT);
	ck_assert_int_eq(h.n_freed, 0);
	ck_assert_ptr_nonnull(dn_tcp_owner(c));
	ck_assert(dn_ring_flags(&h.rx.a) & DN_RING_F_EOF);
	dn_tcp_close(c);
	ck_assert_int_eq(h.n_freed, 1);
	tcph_advance(&h, 2000000);
	ck_assert_uint_eq(h.st.tcp.nconns, 0);
	ck_assert_int_eq(h.n_freed, 1);
}
END_TEST

/* Off (the stack's default): freed() when the connection goes. */
START_TEST(test_tw_release_off_keeps_rings)
{
	h.st.tcp.conf.tw_release = 0;
	struct dn_tcp_conn *c = tcph_active_open(&h, 5000, 7, 65535);
	dn_tcp_close(c);
	struct tcph_out o;
	ck_assert(tcph_next(&h, &o));
	tcph_peer_ack(&h, o.seq + 1, 65535);
	tcph_peer_flags(&h, DN_TH_FIN | DN_TH_ACK);
	ck_assert_int_eq(dn_tcp_state(c), DN_TCP_TIME_WAIT);
	ck_assert_int_eq(h.n_freed, 0);
	tcph_advance(&h, 2000000);
	ck_assert_int_eq(h.n_freed, 1);
}
END_TEST

Suite *tcp_twrelease_suite(void)
{
	Suite *s = suite_create("tcp_twrelease");
	TCase *tc = tcase_create("core");
	tcase_set_timeout(tc, 30);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_tw_release_orphan_active_close);
	tcase_add_test(tc, test_tw_release_waits_for_owner);
	tcase_add_test(tc, test_tw_release_off_keeps_rings);
	suite_add_tcase(s, tc);
	return s;
}
