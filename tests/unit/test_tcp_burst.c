/*
 * TCP: ACKs for a receive burst (dn_stack_rx_begin/end, tcp.c).  In-order
 * data owes an ACK for every second segment (RFC 9293 3.8.6.3, RFC 1122
 * 4.2.3.2); inside a burst that ACK goes out once, at the burst's end, and
 * covers the whole burst.  Out-of-order data, a FIN and stretches longer
 * than DN_TCP_BURST_ACK_SEGS are still answered at once; a connection
 * reset inside the burst gets nothing at its end.
 */
#include <check.h>
#include <string.h>

#include "tcp_harness.h"

static struct tcph h;

static void setup(void) { tcph_init(&h, 1 << 17); }
static void teardown(void) { tcph_fini(&h); }

#define SEG 1000
static uint8_t buf[SEG];

static void peer_segs(int n)
{
	for (int i = 0; i < n; i++)
		tcph_peer_data(&h, buf, SEG);
}

START_TEST(test_tcp_burst_one_ack_at_end_for_in_order_data)
{
	tcph_active_open(&h, 5000, 0, 65535);
	struct tcph_out o;
	dn_stack_rx_begin(&h.st);
	peer_segs(10);
	ck_assert_int_eq(tcph_pending(&h), 0);   /* nothing inside the burst */
	dn_stack_rx_end(&h.st);
	ck_assert_int_eq(tcph_pending(&h), 1);
	ck_assert(tcph_next(&h, &o));
	ck_assert_uint_eq(o.flags, DN_TH_ACK);
	ck_assert_uint_eq(o.ack, h.peer_seq);      /* all ten */
	ck_assert_int_eq(h.n_readable > 0, 1);
	/* The delayed-ACK timer went with it: no second ACK later. */
	tcph_advance(&h, 500000);
	ck_assert_int_eq(tcph_pending(&h), 0);

	/* Outside a burst: one ACK per two segments, as before. */
	peer_segs(2);
	ck_assert_int_eq(tcph_pending(&h), 1);
	ck_assert(tcph_next(&h, &o));
	ck_assert_uint_eq(o.ack, h.peer_seq);
	/* One segment alone in a burst: delayed as usual, not sent at the
	 * burst's end. */
	dn_stack_rx_begin(&h.st);
	peer_segs(1);
	dn_stack_rx_end(&h.st);
	ck_assert_int_eq(tcph_pending(&h), 0);
	tcph_advance(&h, 200000);
	ck_assert(tcph_next(&h, &o));
	ck_assert_uint_eq(o.ack, h.peer_seq);
}
END_TEST

START_TEST(test_tcp_burst_out_of_order_acked_at_once)
{
	tcph_active_open(&h, 5000, 4, 65535);   /* SACK */
	struct tcph_out o;
	dn_stack_rx_begin(&h.st);
	peer_segs(2);
	uint32_t edge = h.peer_seq;
	ck_assert_int_eq(tcph_pending(&h), 0);
	h.peer_seq += SEG;                       /* a hole */
	peer_segs(1);
	/* RFC 5681 4.2 / RFC 9293 3.10.7.4: out-of-order data gets an
	 * immediate (duplicate) ACK, inside a burst too. */
	ck_assert_int_eq(tcph_pending(&h), 1);
	ck_assert(tcph_next(&h, &o));
	ck_assert_uint_eq(o.ack, edge);
	ck_assert_uint_gt(o.optlen, 0);          /* with its SACK block */
	peer_segs(1);
	ck_assert_int_eq(tcph_pending(&h), 1);   /* each one */
	tcph_drain(&h);
	dn_stack_rx_end(&h.st);
	/* Those ACKs carried everything in order: nothing left owed. */
	ck_assert_int_eq(tcph_pending(&h), 0);
}
END_TEST

START_TEST(test_tcp_burst_ack_within_44_segments)
{
	tcph_active_open(&h, 5000, 0, 65535);
	struct tcph_out o;
	uint32_t start = h.peer_seq;
	dn_stack_rx_begin(&h.st);
	peer_segs(DN_TCP_BURST_ACK_SEGS - 1);
	ck_assert_int_eq(tcph_pending(&h), 0);
	peer_segs(1);
	ck_assert_int_eq(tcph_pending(&h), 1);
	ck_assert(tcph_next(&h, &o));
	ck_assert_uint_eq(o.ack, start + DN_TCP_BURST_ACK_SEGS * SEG);
	peer_segs(6);
	ck_assert_int_eq(tcph_pending(&h), 0);
	dn_stack_rx_end(&h.st);
	ck_assert(tcph_next(&h, &o));
	ck_assert_uint_eq(o.ack, h.peer_seq);
	ck_assert_int_eq(tcph_pending(&h), 0);
}
END_TEST

START_TEST(test_tcp_burst_fin_acked_at_once)
{
	tcph_active_open(&h, 5000, 0, 65535);
	struct tcph_out o;
	dn_stack_rx_begin(&h.st);
	peer_segs(3);
	tcph_peer_flags(&h, DN_TH_FIN | DN_TH_ACK);
	ck_assert_int_eq(tcph_pending(&h), 1);
	ck_assert(tcph_next(&h, &o));
	ck_assert_uint_eq(o.ack, h.peer_seq);      /* data and FIN */
	dn_stack_rx_end(&h.st);
	ck_assert_int_eq(tcph_pending(&h), 0);
}
END_TEST

START_TEST(test_tcp_burst_reset_inside_burst_nothing_at_end)
{
	struct dn_tcp_conn *c = tcph_active_open(&h, 5000, 0, 65535);
	dn_stack_rx_begin(&h.st);
	peer_segs(2);
	ck_assert(c->flags & DN_TCPF_ACK_BURST);
	tcph_peer_flags(&h, DN_TH_RST);
	ck_assert_int_eq(h.n_reset, 1);
	dn_stack_rx_end(&h.st);
	ck_assert_int_eq(tcph_pending(&h), 0);
	ck_assert_uint_eq(h.st.tcp.nackq, 0);
}
END_TEST

/* More connections owing an ACK than the queue holds: the rest are
 * answered at once, none is lost. */
START_TEST(test_tcp_burst_queue_full_acks_at_once)
{
	struct dn_tcp_conn *c = tcph_active_open(&h, 5000, 0, 65535);
	/* Fill the queue with this connection's entry plus placeholders. */
	dn_stack_rx_begin(&h.st);
	peer_segs(2);
	ck_assert_uint_eq(h.st.tcp.nackq, 1);
	while (h.st.tcp.nackq < DN_TCP_ACKQ_MAX)
		h.st.tcp.ackq[h.st.tcp.nackq++] = NULL;
	dn_stack_rx_end(&h.st);
	struct tcph_out o;
	ck_assert(tcph_next(&h, &o));
	ck_assert_uint_eq(o.ack, h.peer_seq);
	dn_stack_rx_begin(&h.st);
	while (h.st.tcp.nackq < DN_TCP_ACKQ_MAX)
		h.st.tcp.ackq[h.st.tcp.nackq++] = NULL;
	peer_segs(2);
	ck_assert(!(c->flags & DN_TCPF_ACK_BURST));
	ck_assert_int_eq(tcph_pending(&h), 1);   /* sent at once */
	dn_stack_rx_end(&h.st);
	ck_assert(tcph_next(&h, &o));
	ck_assert_uint_eq(o.ack, h.peer_seq);
	ck_assert_int_eq(tcph_pending(&h), 0);
}
END_TEST

Suite *tcp_burst_suite(void)
{
	Suite *s = suite_create("tcp_burst");
	TCase *tc = tcase_create("burst");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_tcp_burst_one_ack_at_end_for_in_order_data);
	tcase_add_test(tc, test_tcp_burst_out_of_order_acked_at_once);
	tcase_add_test(tc, test_tcp_burst_ack_within_44_segments);
	tcase_add_test(tc, test_tcp_burst_fin_acked_at_once);
	tcase_add_test(tc, test_tcp_burst_reset_inside_burst_nothing_at_end);
	tcase_add_test(tc, test_tcp_burst_queue_full_acks_at_once);
	suite_add_tcase(s, tc);
	return s;
}
