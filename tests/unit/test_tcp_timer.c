/* TCP timer wheel: deadlines a turn or more ahead wait on the far list
 * and still fire on time, and the time to the next deadline ignores them
 * (it was found by walking every entry on every poll, which made 20,000
 * connections in TIME-WAIT cost half the daemon's CPU). */
#include <check.h>

#include "tcp_harness.h"

static struct tcph h;

static void setup(void) { tcph_init(&h, 1 << 16); }
static void teardown(void) { tcph_fini(&h); }

#define TURN_US ((uint64_t)DN_TCP_WHEEL_SLOTS * DN_TCP_WHEEL_TICK_US)

/* One timer, due after several turns: on the far list, then fired within
 * a tick of its deadline, not earlier. */
START_TEST(test_tcp_wheel_far_deadline_fires_on_time)
{
	struct dn_tcp_conn *c = tcph_active_open(&h, 5000, 7, 65535);
	struct dn_tcp_wheel *w = &h.st.tcp.wheel;
	const uint64_t due = 3 * TURN_US + 400000;
	dn_tcp_timer_set(c, DN_TCP_T_DELACK, due);
	ck_assert_uint_eq(w->nfar, 1);
	ck_assert_uint_eq(w->count, 1);
	uint64_t t0 = h.st.now_us;
	struct tcph_out o;
	while (h.st.now_us + 50000 < t0 + due) {
		tcph_advance(&h, 50000);
		ck_assert_msg(!tcph_next(&h, &o), "fired %llu us early",
			      (unsigned long long)(t0 + due - h.st.now_us));
		uint64_t next = dn_tcp_poll(&h.st);
		/* Never asks to sleep past a look at the far list. */
		ck_assert_uint_le(next, TURN_US / 2 + DN_TCP_WHEEL_TICK_US);
		ck_assert_uint_gt(next, 0);
	}
	/* Brought into its slot before its turn came. */
	ck_assert_uint_eq(w->nfar, 0);
	tcph_advance(&h, t0 + due - h.st.now_us + DN_TCP_WHEEL_TICK_US);
	ck_assert(tcph_next(&h, &o));
	ck_assert_int_eq(o.flags, DN_TH_ACK);
	ck_assert(!dn_tcp_timer_on(c, DN_TCP_T_DELACK));
}
END_TEST

/* The next deadline is the near one, however many far ones there are. */
START_TEST(test_tcp_wheel_next_deadline_ignores_far)
{
	struct dn_tcp_conn *c = tcph_active_open(&h, 5000, 7, 65535);
	struct dn_tcp_wheel *w = &h.st.tcp.wheel;
	dn_tcp_timer_set(c, DN_TCP_T_KEEPALIVE, 60000000);
	ck_assert_uint_eq(w->nfar, 1);
	uint64_t next = dn_tcp_poll(&h.st);
	ck_assert_uint_le(next, TURN_US / 2 + DN_TCP_WHEEL_TICK_US);
	/* A nearer timer on the same connection moves it to a slot. */
	dn_tcp_timer_set(c, DN_TCP_T_DELACK, 40000);
	ck_assert_uint_eq(w->nfar, 0);
	next = dn_tcp_poll(&h.st);
	ck_assert_uint_le(next, 40000);
	ck_assert_uint_ge(next, 40000 - DN_TCP_WHEEL_TICK_US);
	/* Fired, the connection goes back to the far list (keepalive). */
	tcph_advance(&h, 41000);
	ck_assert_uint_eq(w->nfar, 1);
	ck_assert_uint_eq(w->count, 1);
	dn_tcp_timer_clear(c, DN_TCP_T_KEEPALIVE);
	ck_assert_uint_eq(w->nfar, 0);
	ck_assert_uint_eq(w->count, 0);
	ck_assert_uint_eq(dn_tcp_poll(&h.st), UINT64_MAX);
}
END_TEST

/* A daemon that was away for many turns (one long gap between polls)
 * fires a far deadline that passed meanwhile on the first poll. */
START_TEST(test_tcp_wheel_long_gap_fires_far_deadline)
{
	struct dn_tcp_conn *c = tcph_active_open(&h, 5000, 7, 65535);
	dn_tcp_timer_set(c, DN_TCP_T_DELACK, 2 * TURN_US + 500000);
	ck_assert_uint_eq(h.st.tcp.wheel.nfar, 1);
	h.st.now_us += 10 * TURN_US;
	dn_tcp_poll(&h.st);
	struct tcph_out o;
	ck_assert(tcph_next(&h, &o));
	ck_assert_int_eq(o.flags, DN_TH_ACK);
	ck_assert(!dn_tcp_timer_on(c, DN_TCP_T_DELACK));
}
END_TEST

/* A connection in TIME-WAIT (2MSL: far) leaves on time. */
START_TEST(test_tcp_wheel_time_wait_expires_on_time)
{
	h.st.tcp.conf.time_wait_us = 2 * TURN_US + 300000;
	struct dn_tcp_conn *c = tcph_active_open(&h, 5000, 7, 65535);
	dn_tcp_shutdown_wr(c);
	struct tcph_out o;
	ck_assert(tcph_next(&h, &o));
	tcph_peer_ack(&h, o.seq + 1, 65535);
	tcph_peer_flags(&h, DN_TH_FIN | DN_TH_ACK);
	ck_assert_int_eq(dn_tcp_state(c), DN_TCP_TIME_WAIT);
	dn_tcp_close(c);
	tcph_drain(&h);
	ck_assert_uint_eq(h.st.tcp.wheel.nfar, 1);
	tcph_advance(&h, h.st.tcp.conf.time_wait_us - 2000);
	ck_assert_uint_eq(h.st.tcp.nconns, 1);
	tcph_advance(&h, 3000);
	ck_assert_uint_eq(h.st.tcp.nconns, 0);
	ck_assert_uint_eq(h.st.tcp.wheel.count, 0);
}
END_TEST

Suite *tcp_timer_suite(void)
{
	Suite *s = suite_create("tcp_timer");
	TCase *tc = tcase_create("wheel");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_tcp_wheel_far_deadline_fires_on_time);
	tcase_add_test(tc, test_tcp_wheel_next_deadline_ignores_far);
	tcase_add_test(tc, test_tcp_wheel_long_gap_fires_far_deadline);
	tcase_add_test(tc, test_tcp_wheel_time_wait_expires_on_time);
	suite_add_tcase(s, tc);
	return s;
}
