/*
 * TCP state x event matrix (RFC 9293 3.10.7): for every state, what a
 * RST (exactly at RCV.NXT and elsewhere in the window), a SYN, data and a
 * FIN from the peer do.  Test names: test_tcp_<event>_in_<STATE>.
 */
#include <check.h>
#include <errno.h>
#include <string.h>

#include "tcp_harness.h"

static struct tcph h;

static void setup(void) { tcph_init(&h, 1 << 16); }
static void teardown(void) { tcph_fini(&h); }

/* Drive a connection into state st; returns it with output drained. */
static struct dn_tcp_conn *goto_state(int st)
{
	struct dn_tcp_conn *c = NULL;
	struct tcph_out o;
	int err;
	switch (st) {
	case DN_TCP_SYN_SENT:
		h.our_port = 0;
		c = dn_tcp_connect(&h.st, h.peer_ip, h.peer_port, 0, &h.rx.d,
				   &h.tx.d, &h, &err);
		ck_assert(tcph_next(&h, &o));
		h.our_port = o.sport;
		h.peer_seq = 9000;
		h.peer_ack = o.seq + 1;
		break;
	case DN_TCP_SYN_RECEIVED: {
		h.our_port = 80;
		ck_assert_ptr_nonnull(dn_tcp_listen(&h.st, 0, 80, 4, &h, &err));
		struct tcph_seg s = { .seq = 9000, .flags = DN_TH_SYN, .wnd = 65535 };
		tcph_send(&h, &s);
		ck_assert(tcph_next(&h, &o));
		h.peer_seq = 9001;
		h.peer_ack = o.seq + 1;
		c = dn_tcp_lookup(&h.st, TH_IP_US, 80, h.peer_ip, h.peer_port);
		break;
	}
	default:
		c = tcph_active_open(&h, 9000, 0, 65535);
		break;
	}
	ck_assert_ptr_nonnull(c);
	switch (st) {
	case DN_TCP_FIN_WAIT_1:
	case DN_TCP_FIN_WAIT_2:
	case DN_TCP_CLOSING:
	case DN_TCP_TIME_WAIT:
		dn_tcp_shutdown_wr(c);
		ck_assert(tcph_next(&h, &o));
		ck_assert(o.flags & DN_TH_FIN);
		if (st == DN_TCP_CLOSING) {
			tcph_peer_flags(&h, DN_TH_FIN | DN_TH_ACK);
			break;
		}
		if (st == DN_TCP_FIN_WAIT_1)
			break;
		tcph_peer_ack(&h, o.seq + 1, 65535);
		if (st == DN_TCP_TIME_WAIT)
			tcph_peer_flags(&h, DN_TH_FIN | DN_TH_ACK);
		break;
	case DN_TCP_CLOSE_WAIT:
	case DN_TCP_LAST_ACK:
		tcph_peer_flags(&h, DN_TH_FIN | DN_TH_ACK);
		if (st == DN_TCP_LAST_ACK)
			dn_tcp_shutdown_wr(c);
		break;
	default:
		break;
	}
	ck_assert_str_eq(dn_tcp_state_name(dn_tcp_state(c)), dn_tcp_state_name(st));
	tcph_drain(&h);
	h.n_reset = h.n_readable = h.n_eof = 0;
	return c;
}

static void send_raw(uint32_t seq, uint8_t flags, const void *d, size_t n)
{
	struct tcph_seg s = { .seq = seq, .ack = h.peer_ack, .flags = flags,
			      .wnd = 65535, .data = d, .len = n };
	tcph_send(&h, &s);
}

static bool synchronized(int st)
{
	return st >= DN_TCP_ESTABLISHED;
}

/* ---- RST exactly at RCV.NXT ---------------------------------------------- */
static void rst_case(int st)
{
	struct dn_tcp_conn *c = goto_state(st);
	send_raw(h.peer_seq, DN_TH_RST | (st == DN_TCP_SYN_SENT ? 0 : DN_TH_ACK),
		 NULL, 0);
	struct tcph_out o;
	ck_assert(!tcph_next(&h, &o));   /* a RST is never answered */
	switch (st) {
	case DN_TCP_SYN_SENT:            /* no ACK: ignored (3.10.7.3) */
	case DN_TCP_TIME_WAIT:           /* RFC 1337 */
		ck_assert_int_eq(dn_tcp_state(c), st);
		ck_assert_int_eq(h.n_reset, 0);
		break;
	case DN_TCP_SYN_RECEIVED:        /* passive: back to LISTEN */
		ck_assert_ptr_null(dn_tcp_lookup(&h.st, TH_IP_US, 80, h.peer_ip,
						 h.peer_port));
		break;
	default:
		ck_assert_int_eq(dn_tcp_state(c), DN_TCP_CLOSED);
		ck_assert_int_eq(h.n_reset, 1);
		ck_assert_int_eq(h.reset_err, ECONNRESET);
		break;
	}
}

/* ---- RST in the window but not at RCV.NXT: RFC 5961 challenge ACK -------- */
static void rst_inwin_case(int st)
{
	struct dn_tcp_conn *c = goto_state(st);
	send_raw(h.peer_seq + 100, DN_TH_RST, NULL, 0);
	struct tcph_out o;
	if (st == DN_TCP_SYN_SENT || st == DN_TCP_TIME_WAIT) {
		ck_assert(!tcph_next(&h, &o));
	} else {
		ck_assert(tcph_next(&h, &o));
		ck_assert_int_eq(o.flags, DN_TH_ACK);
		ck_assert_uint_eq(o.ack, h.peer_seq);
	}
	ck_assert_int_eq(dn_tcp_state(c), st);
}

/* ---- SYN ------------------------------------------------------------------ */
static void syn_case(int st)
{
	struct dn_tcp_conn *c = goto_state(st);
	struct tcph_out o;
	if (st == DN_TCP_SYN_SENT) {
		send_raw(h.peer_seq, DN_TH_SYN, NULL, 0);   /* simultaneous open */
		ck_assert_int_eq(dn_tcp_state(c), DN_TCP_SYN_RECEIVED);
		ck_assert(tcph_next(&h, &o));
		ck_assert_int_eq(o.flags, DN_TH_SYN | DN_TH_ACK);
		return;
	}
	if (st == DN_TCP_SYN_RECEIVED) {
		send_raw(h.peer_seq - 1, DN_TH_SYN, NULL, 0);  /* repeated SYN */
		ck_assert(tcph_next(&h, &o));
		ck_assert_int_eq(o.flags, DN_TH_SYN | DN_TH_ACK);
		ck_assert_int_eq(dn_tcp_state(c), st);
		return;
	}
	/* Synchronized: challenge ACK, nothing else (RFC 5961 4.2). */
	send_raw(h.peer_seq + 10, DN_TH_SYN, NULL, 0);
	ck_assert(tcph_next(&h, &o));
	ck_assert_int_eq(o.flags, DN_TH_ACK);
	ck_assert_int_eq(dn_tcp_state(c), st);
	ck_assert_int_eq(h.n_reset, 0);
}

/* ---- data ------------------------------------------------------------------ */
static void data_case(int st)
{
	struct dn_tcp_conn *c = goto_state(st);
	struct tcph_out o;
	if (st == DN_TCP_SYN_SENT) {
		send_raw(h.peer_seq, DN_TH_ACK, "zz", 2);   /* no SYN: dropped */
		ck_assert_int_eq(dn_tcp_state(c), st);
		ck_assert_uint_eq(tcph_drop(&h, DN_TCP_DROP_SYNSENT_NOSYN), 1);
		return;
	}
	send_raw(h.peer_seq, DN_TH_ACK | DN_TH_PSH, "data", 4);
	switch (st) {
	case DN_TCP_SYN_RECEIVED:   /* the ACK completes the handshake */
	case DN_TCP_ESTABLISHED:
	case DN_TCP_FIN_WAIT_1:
	case DN_TCP_FIN_WAIT_2: {
		char b[8];
		ck_assert_uint_eq(dn_ring_read(&h.rx.a, b, sizeof b), 4);
		ck_assert(memcmp(b, "data", 4) == 0);
		if (st == DN_TCP_SYN_RECEIVED)
			ck_assert_int_eq(dn_tcp_state(c), DN_TCP_ESTABLISHED);
		break;
	}
	default:
		/* After the peer's FIN: ignored, answered with an ACK. */
		ck_assert(tcph_next(&h, &o));
		ck_assert_int_eq(o.flags & (DN_TH_RST | DN_TH_SYN), 0);
		ck_assert_uint_eq(c->rcv_nxt, h.peer_seq);
		ck_assert_int_eq(dn_tcp_state(c), st);
		break;
	}
}

/* ---- FIN ------------------------------------------------------------------- */
static void fin_case(int st)
{
	struct dn_tcp_conn *c = goto_state(st);
	struct tcph_out o;
	bool fin_seen = st >= DN_TCP_CLOSE_WAIT && st != DN_TCP_FIN_WAIT_2;
	/* A FIN at RCV.NXT, or a retransmission of the one already seen. */
	uint32_t seq = fin_seen ? h.peer_seq - 1 : h.peer_seq;
	send_raw(seq, DN_TH_FIN | (st == DN_TCP_SYN_SENT ? 0 : DN_TH_ACK), NULL, 0);
	int want;
	switch (st) {
	case DN_TCP_SYN_SENT: want = DN_TCP_SYN_SENT; break;
	case DN_TCP_SYN_RECEIVED: want = DN_TCP_CLOSE_WAIT; break;
	case DN_TCP_ESTABLISHED: want = DN_TCP_CLOSE_WAIT; break;
	case DN_TCP_FIN_WAIT_1: want = DN_TCP_CLOSING; break;
	case DN_TCP_FIN_WAIT_2: want = DN_TCP_TIME_WAIT; break;
	default: want = st; break;
	}
	ck_assert_str_eq(dn_tcp_state_name(dn_tcp_state(c)), dn_tcp_state_name(want));
	if (synchronized(st) || st == DN_TCP_SYN_RECEIVED) {
		ck_assert(tcph_next(&h, &o));   /* FIN acked */
		ck_assert_uint_eq(o.ack, fin_seen ? h.peer_seq : h.peer_seq + 1);
	}
}

#define STATES(X) X(SYN_SENT) X(SYN_RECEIVED) X(ESTABLISHED) X(FIN_WAIT_1) \
	X(FIN_WAIT_2) X(CLOSE_WAIT) X(CLOSING) X(LAST_ACK) X(TIME_WAIT)

#define DEF(S)                                                             \
	START_TEST(test_tcp_rst_in_##S) { rst_case(DN_TCP_##S); } END_TEST       \
	START_TEST(test_tcp_rst_inwindow_in_##S) { rst_inwin_case(DN_TCP_##S); } END_TEST \
	START_TEST(test_tcp_syn_in_##S) { syn_case(DN_TCP_##S); } END_TEST       \
	START_TEST(test_tcp_data_in_##S) { data_case(DN_TCP_##S); } END_TEST     \
	START_TEST(test_tcp_fin_in_##S) { fin_case(DN_TCP_##S); } END_TEST
STATES(DEF)
#undef DEF

Suite *tcp_states_suite(void)
{
	Suite *s = suite_create("tcp_states");
	TCase *tc = tcase_create("matrix");
	tcase_set_timeout(tc, 30);
	tcase_add_checked_fixture(tc, setup, teardown);
#define ADD(S)                                          \
	tcase_add_test(tc, test_tcp_rst_in_##S);        \
	tcase_add_test(tc, test_tcp_rst_inwindow_in_##S); \
	tcase_add_test(tc, test_tcp_syn_in_##S);        \
	tcase_add_test(tc, test_tcp_data_in_##S);       \
	tcase_add_test(tc, test_tcp_fin_in_##S);
	STATES(ADD)
#undef ADD
	suite_add_tcase(s, tc);
	return s;
}
