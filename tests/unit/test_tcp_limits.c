/* TCP limits against one app denying service to others (issue 10 items
 * 2, 3, 4): out-of-window ACK rate limits, the TIME-WAIT caps and their
 * recycling, a full table, orphan retries, the orphan caps and the
 * FIN-WAIT-2 timeout, each driven with crafted segments in virtual time. */
#include <check.h>
#include <string.h>

#include "tcp_harness.h"

static struct tcph h;

static void setup(void)
{
	tcph_init(&h, 1 << 16);
	h.st.tcp.conf.orphan_retries = 3;
}
static void teardown(void) { tcph_fini(&h); }

/* An active open to peer port pp, charged to uid (ESTABLISHED). */
static struct dn_tcp_conn *open_as(uint16_t pp, uint32_t uid, uint16_t wnd)
{
	h.peer_port = pp;
	h.n_connected = 0;
	struct dn_tcp_conn *c = tcph_active_open(&h, 5000u + pp, 0, wnd);
	dn_tcp_set_uid(c, uid);
	return c;
}

/* The owner closes c; the peer acks our FIN and sends its own: c is an
 * orphan in TIME-WAIT (unless a cap recycled it at once). */
static void close_to_time_wait(struct dn_tcp_conn *c)
{
	dn_tcp_close(c);
	struct tcph_out o;
	bool fin = false;
	uint32_t end = 0;
	while (tcph_next(&h, &o))
		if (o.flags & DN_TH_FIN) {
			fin = true;
			end = o.seq + (uint32_t)o.len + 1;
		}
	ck_assert(fin);
	tcph_peer_ack(&h, end, 65535);
	tcph_peer_flags(&h, DN_TH_FIN | DN_TH_ACK);
	tcph_drain(&h);
}

static struct dn_tcp_conn *find(uint16_t lport, uint16_t fport)
{
	return dn_tcp_lookup(&h.st, TH_IP_US, lport, h.peer_ip, fport);
}

static bool sent_rst_to(uint16_t fport)
{
	struct tcph_out o;
	while (tcph_next(&h, &o))
		if ((o.flags & DN_TH_RST) && o.dport == fport)
			return true;
	return false;
}

/* ---- item 4: rate limits ---------------------------------------------- */

START_TEST(test_tcp_oow_ack_rate_limited_per_connection)
{
	tcph_active_open(&h, 5000, 0, 65535);
	/* Pure ACKs far beyond the window: one duplicate ACK, not five. */
	struct tcph_seg s = { .seq = h.peer_seq + 1000000, .ack = h.peer_ack,
			      .flags = DN_TH_ACK, .wnd = 65535 };
	for (int i = 0; i < 5; i++)
		tcph_send(&h, &s);
	ck_assert_int_eq(tcph_pending(&h), 1);
	ck_assert_uint_eq(tcph_ctr(&h, DN_TCP_C_OOW_ACKS), 1);
	ck_assert_uint_eq(tcph_ctr(&h, DN_TCP_C_OOW_ACKS_LIMITED), 4);
	/* Old data is answered all the same: its sender must learn where
	 * we are, and data is no ACK loop. */
	static const char d[50];
	struct tcph_seg old = { .seq = h.peer_seq - 100, .ack = h.peer_ack,
				.flags = DN_TH_ACK, .wnd = 65535, .data = d,
				.len = sizeof d };
	tcph_send(&h, &old);
	ck_assert_int_eq(tcph_pending(&h), 2);
	/* The interval over, a pure ACK is answered again. */
	tcph_advance(&h, 500000);
	tcph_send(&h, &s);
	ck_assert_int_eq(tcph_pending(&h), 3);
}
END_TEST

/* The CVE-2016-5696 oracle: an attacker's own connection drawing
 * challenge ACKs leaves another connection's unchanged. */
START_TEST(test_tcp_challenge_acks_of_one_connection_spare_another)
{
	struct dn_tcp_conn *victim = open_as(1001, DN_TCP_UID_NONE, 65535);
	uint32_t v_seq = h.peer_seq, v_port = h.our_port;
	open_as(1002, DN_TCP_UID_NONE, 65535);
	struct tcph_seg rst = { .seq = h.peer_seq + 7, .flags = DN_TH_RST };
	for (int i = 0; i < 100; i++)
		tcph_send(&h, &rst);
	ck_assert_int_eq(tcph_pending(&h), 1);
	tcph_drain(&h);
	struct tcph_seg vr = { .seq = v_seq + 7, .flags = DN_TH_RST,
			       .sport = 1001, .dport = (uint16_t)v_port };
	tcph_send(&h, &vr);
	struct tcph_out o;
	ck_assert(tcph_next(&h, &o));
	ck_assert_int_eq(o.flags, DN_TH_ACK);
	ck_assert_uint_eq(o.dport, 1001);
	ck_assert_uint_eq(o.ack, v_seq);
	ck_assert_int_eq(dn_tcp_state(victim), DN_TCP_ESTABLISHED);
	ck_assert_uint_eq(tcph_ctr(&h, DN_TCP_C_CHALLENGE_ACKS), 2);
	ck_assert_uint_eq(tcph_ctr(&h, DN_TCP_C_CHALLENGE_ACKS_CONN_LIMITED), 99);
}
END_TEST

/* ---- item 3: TIME-WAIT caps, a full table ------------------------------ */

START_TEST(test_tcp_time_wait_cap_recycles_oldest)
{
	h.st.tcp.conf.max_tw = 4;
	uint16_t lport[6];
	for (int i = 0; i < 6; i++) {
		struct dn_tcp_conn *c = open_as((uint16_t)(1000 + i), DN_TCP_UID_NONE, 65535);
		lport[i] = h.our_port;
		close_to_time_wait(c);
	}
	ck_assert_uint_eq(h.st.tcp.tw.n, 4);
	ck_assert_uint_eq(tcph_ctr(&h, DN_TCP_C_TW_RECYCLED), 2);
	for (int i = 0; i < 6; i++) {
		struct dn_tcp_conn *c = find(lport[i], (uint16_t)(1000 + i));
		if (i < 2) {
			ck_assert_ptr_null(c);
		} else {
			ck_assert_ptr_nonnull(c);
			ck_assert_int_eq(dn_tcp_state(c), DN_TCP_TIME_WAIT);
		}
	}
}
END_TEST

START_TEST(test_tcp_time_wait_cap_per_uid)
{
	h.st.tcp.conf.max_tw_per_uid = 3;
	for (int i = 0; i < 5; i++)
		close_to_time_wait(open_as((uint16_t)(1000 + i), 1000, 65535));
	for (int i = 0; i < 2; i++)
		close_to_time_wait(open_as((uint16_t)(2000 + i), 2000, 65535));
	uint32_t tw, orph;
	dn_tcp_uid_usage(&h.st, 1000, &tw, &orph);
	ck_assert_uint_eq(tw, 3);
	ck_assert_uint_eq(orph, 0);
	dn_tcp_uid_usage(&h.st, 2000, &tw, NULL);
	ck_assert_uint_eq(tw, 2);
	ck_assert_uint_eq(h.st.tcp.tw.n, 5);
	ck_assert_uint_eq(tcph_ctr(&h, DN_TCP_C_TW_RECYCLED_UID), 2);
	ck_assert_uint_eq(tcph_ctr(&h, DN_TCP_C_TW_RECYCLED), 0);
}
END_TEST

/* One owner's TIME-WAIT fills the table: another owner still connects,
 * listens and takes an inbound SYN; the oldest entries make room. */
START_TEST(test_tcp_time_wait_of_one_owner_does_not_stop_another)
{
	h.st.tcp.conf.max_conns = 8;
	for (int i = 0; i < 8; i++)
		close_to_time_wait(open_as((uint16_t)(1000 + i), 1000, 65535));
	ck_assert_uint_eq(h.st.tcp.nconns, 8);
	ck_assert_uint_eq(h.st.tcp.tw.n, 8);
	/* The other owner's connect. */
	int err = -1;
	h.peer_port = 3000;
	struct dn_tcp_conn *c = dn_tcp_connect_as(&h.st, h.peer_ip, 3000, 0,
						  &h.rx.d, &h.tx.d, &h, 2000, &err);
	ck_assert_ptr_nonnull(c);
	ck_assert_int_eq(err, 0);
	struct tcph_out o;
	ck_assert(tcph_next(&h, &o));
	ck_assert_int_eq(o.flags, DN_TH_SYN);
	/* Its listener, and a SYN from the peer to it. */
	struct dn_tcp_conn *l = dn_tcp_listen(&h.st, 0, 8080, 16, &h, &err);
	ck_assert_ptr_nonnull(l);
	dn_tcp_set_uid(l, 2000);
	tcph_drain(&h);
	struct tcph_seg syn = { .seq = 77, .flags = DN_TH_SYN, .wnd = 65535,
				.sport = 4000, .dport = 8080 };
	tcph_send(&h, &syn);
	ck_assert(tcph_next(&h, &o));
	ck_assert_int_eq(o.flags, DN_TH_SYN | DN_TH_ACK);
	ck_assert_uint_eq(o.ack, 78);
	struct dn_tcp_conn *child = find(8080, 4000);
	ck_assert_ptr_nonnull(child);
	ck_assert_int_eq(dn_tcp_state(child), DN_TCP_SYN_RECEIVED);
	ck_assert_uint_eq(tcph_ctr(&h, DN_TCP_C_TW_RECYCLED_ALLOC), 3);
	ck_assert_uint_eq(tcph_ctr(&h, DN_TCP_C_SYNCOOKIES_TABLE_FULL), 0);
	ck_assert_uint_eq(h.st.tcp.nconns, 8);
	dn_tcp_close(l);
}
END_TEST

/* A table full of live connections: the SYN gets a cookie, and the
 * handshake completes once there is room. */
START_TEST(test_tcp_syn_cookie_when_table_full)
{
	h.st.tcp.conf.max_conns = 3;
	int err;
	struct dn_tcp_conn *l = dn_tcp_listen(&h.st, 0, 8080, 16, &h, &err);
	ck_assert_ptr_nonnull(l);
	struct dn_tcp_conn *a = open_as(1000, 1000, 65535);
	open_as(1001, 1000, 65535);
	struct tcph_seg syn = { .seq = 77, .flags = DN_TH_SYN, .wnd = 65535,
				.sport = 4000, .dport = 8080 };
	tcph_send(&h, &syn);
	struct tcph_out o;
	ck_assert(tcph_next(&h, &o));
	ck_assert_int_eq(o.flags, DN_TH_SYN | DN_TH_ACK);
	ck_assert_uint_eq(tcph_ctr(&h, DN_TCP_C_SYNCOOKIES_TABLE_FULL), 1);
	ck_assert_ptr_null(find(8080, 4000));
	uint32_t cookie = o.seq;
	dn_tcp_abort(a);
	tcph_drain(&h);
	h.rings_used = false;   /* attach() may hand out the test's rings */
	struct tcph_seg ack = { .seq = 78, .ack = cookie + 1, .flags = DN_TH_ACK,
				.wnd = 65535, .sport = 4000, .dport = 8080 };
	tcph_send(&h, &ack);
	ck_assert_uint_eq(tcph_ctr(&h, DN_TCP_C_SYNCOOKIES_OK), 1);
	struct dn_tcp_conn *c = find(8080, 4000);
	ck_assert_ptr_nonnull(c);
	ck_assert_int_eq(dn_tcp_state(c), DN_TCP_ESTABLISHED);
	dn_tcp_close(l);
}
END_TEST

/* ---- item 2: orphans ------------------------------------------------- */

/* Runs the clock up to max_us, the peer answering every segment with a
 * zero-window ACK; returns the time it took c's owner to hear freed() (or
 * max_us). */
static uint64_t run_zero_window_peer(uint64_t max_us)
{
	uint64_t start = h.st.now_us;
	int freed = h.n_freed;
	while (h.st.now_us - start < max_us && h.n_freed == freed) {
		tcph_advance(&h, 10000);
		struct tcph_out o;
		bool answer = false;
		while (tcph_next(&h, &o))
			if (!(o.flags & DN_TH_RST))
				answer = true;
		if (answer && h.n_freed == freed) {
			struct tcph_seg a = { .seq = h.peer_seq, .ack = h.peer_ack,
					      .flags = DN_TH_ACK, .wnd = 0 };
			tcph_send(&h, &a);
		}
	}
	return h.st.now_us - start;
}

/* FIN-WAIT-1 behind a zero window that never opens, the peer answering
 * every probe: the orphan gives up after orphan_retries probes. */
START_TEST(test_tcp_orphan_FIN_WAIT_1_zero_window_reset_after_retries)
{
	struct dn_tcp_conn *c = open_as(1000, 1000, 0);
	ck_assert_uint_eq(tcph_app_write(&h, "xxxxxxxxxx", 10), 10);
	dn_tcp_output_kick(c);
	dn_tcp_close(c);
	ck_assert_int_eq(dn_tcp_state(c), DN_TCP_FIN_WAIT_1);
	ck_assert_uint_eq(h.st.tcp.orph.n, 1);
	uint32_t orph;
	dn_tcp_uid_usage(&h.st, 1000, NULL, &orph);
	ck_assert_uint_eq(orph, 1);
	h.cap->ntx = 0;
	h.next_out = 0;
	uint64_t took = run_zero_window_peer(120000000);
	ck_assert_int_eq(h.n_freed, 1);
	ck_assert_uint_lt(took, 10000000);
	ck_assert_uint_eq(tcph_ctr(&h, DN_TCP_C_PERSIST_PROBES), 3);
	ck_assert_uint_eq(tcph_ctr(&h, DN_TCP_C_ORPHANS_RESET_RETRIES), 1);
	ck_assert_uint_eq(h.st.tcp.orph.n, 0);
	ck_assert_uint_eq(h.st.tcp.nconns, 0);
	/* The peer was told with a RST. */
	bool rst = false;
	for (unsigned i = 0; i < h.cap->ntx; i++) {
		struct tcph_out o;
		h.next_out = (int)i;
		if (tcph_next(&h, &o) && (o.flags & DN_TH_RST))
			rst = true;
	}
	ck_assert(rst);
}
END_TEST

/* The same connection still owned probes on (RFC 9293 3.8.6.1). */
START_TEST(test_tcp_owned_zero_window_probes_on)
{
	struct dn_tcp_conn *c = open_as(1000, 1000, 0);
	ck_assert_uint_eq(tcph_app_write(&h, "xxxxxxxxxx", 10), 10);
	dn_tcp_output_kick(c);
	run_zero_window_peer(30000000);
	ck_assert_int_eq(h.n_freed, 0);
	ck_assert_int_eq(dn_tcp_state(c), DN_TCP_ESTABLISHED);
	ck_assert_uint_gt(tcph_ctr(&h, DN_TCP_C_PERSIST_PROBES), 3);
	ck_assert_uint_eq(tcph_ctr(&h, DN_TCP_C_ORPHANS_RESET_RETRIES), 0);
}
END_TEST

/* LAST-ACK behind a zero window: the peer closed, the app wrote and
 * closed. */
START_TEST(test_tcp_orphan_LAST_ACK_zero_window_reset_after_retries)
{
	struct dn_tcp_conn *c = open_as(1000, 1000, 0);
	struct tcph_seg fin = { .seq = h.peer_seq, .ack = h.peer_ack,
				.flags = DN_TH_FIN | DN_TH_ACK, .wnd = 0 };
	tcph_send(&h, &fin);
	h.peer_seq++;
	ck_assert_int_eq(dn_tcp_state(c), DN_TCP_CLOSE_WAIT);
	ck_assert_uint_eq(tcph_app_write(&h, "xxxxxxxxxx", 10), 10);
	dn_tcp_output_kick(c);
	dn_tcp_close(c);
	ck_assert_int_eq(dn_tcp_state(c), DN_TCP_LAST_ACK);
	tcph_drain(&h);
	uint64_t took = run_zero_window_peer(120000000);
	ck_assert_int_eq(h.n_freed, 1);
	ck_assert_uint_lt(took, 10000000);
	ck_assert_uint_eq(tcph_ctr(&h, DN_TCP_C_ORPHANS_RESET_RETRIES), 1);
}
END_TEST

/* FIN-WAIT-1 with the window open and the peer silent: retransmissions
 * of an orphan stop after orphan_retries, not max_retries. */
START_TEST(test_tcp_orphan_FIN_WAIT_1_retransmits_reset_after_retries)
{
	struct dn_tcp_conn *c = open_as(1000, 1000, 65535);
	ck_assert_uint_eq(tcph_app_write(&h, "xxxxxxxxxx", 10), 10);
	dn_tcp_output_kick(c);
	dn_tcp_close(c);
	ck_assert_int_eq(dn_tcp_state(c), DN_TCP_FIN_WAIT_1);
	tcph_drain(&h);
	uint64_t start = h.st.now_us;
	while (h.n_freed == 0 && h.st.now_us - start < 600000000ull)
		tcph_advance(&h, 100000);
	ck_assert_int_eq(h.n_freed, 1);
	ck_assert_uint_eq(tcph_ctr(&h, DN_TCP_C_RTO_FIRED), 3);
	ck_assert_uint_eq(tcph_ctr(&h, DN_TCP_C_ORPHANS_RESET_RETRIES), 1);
	ck_assert_uint_eq(tcph_ctr(&h, DN_TCP_C_TIMEOUTS), 0);
	ck_assert(sent_rst_to(1000));
}
END_TEST

START_TEST(test_tcp_orphan_FIN_WAIT_2_timeout)
{
	h.st.tcp.conf.fin_wait_2_us = 5000000;
	struct dn_tcp_conn *c = open_as(1000, 1000, 65535);
	dn_tcp_close(c);
	struct tcph_out o;
	ck_assert(tcph_next(&h, &o));
	ck_assert(o.flags & DN_TH_FIN);
	tcph_peer_ack(&h, o.seq + 1, 65535);
	ck_assert_int_eq(dn_tcp_state(c), DN_TCP_FIN_WAIT_2);
	ck_assert_uint_eq(h.st.tcp.orph.n, 1);
	tcph_advance(&h, 4990000);
	ck_assert_int_eq(h.n_freed, 0);
	tcph_advance(&h, 10000);
	ck_assert_int_eq(h.n_freed, 1);
	ck_assert_uint_eq(tcph_ctr(&h, DN_TCP_C_FIN_WAIT_2_TIMEOUTS), 1);
	ck_assert_uint_eq(h.st.tcp.orph.n, 0);
	ck_assert_uint_eq(h.st.tcp.nconns, 0);
}
END_TEST

/* Orphans beyond the global cap: the oldest is reset. */
START_TEST(test_tcp_orphan_cap_resets_oldest)
{
	h.st.tcp.conf.max_orphans = 2;
	uint16_t lport[3];
	for (int i = 0; i < 3; i++) {
		struct dn_tcp_conn *c = open_as((uint16_t)(1000 + i), DN_TCP_UID_NONE, 65535);
		lport[i] = h.our_port;
		dn_tcp_close(c);   /* FIN sent, never acked: FIN-WAIT-1 */
	}
	ck_assert_uint_eq(h.st.tcp.orph.n, 2);
	ck_assert_uint_eq(tcph_ctr(&h, DN_TCP_C_ORPHANS_RESET_CAP), 1);
	ck_assert(sent_rst_to(1000));
	ck_assert_ptr_null(find(lport[0], 1000));
	ck_assert_ptr_nonnull(find(lport[1], 1001));
	ck_assert_ptr_nonnull(find(lport[2], 1002));
}
END_TEST

/* One uid's orphans beyond its cap: its own oldest goes, not another
 * uid's. */
START_TEST(test_tcp_orphan_cap_per_uid)
{
	h.st.tcp.conf.max_orphans_per_uid = 1;
	uint16_t lport[3];
	struct dn_tcp_conn *c = open_as(1000, 2000, 65535);
	lport[0] = h.our_port;
	dn_tcp_close(c);
	for (int i = 1; i < 3; i++) {
		c = open_as((uint16_t)(1000 + i), 1000, 65535);
		lport[i] = h.our_port;
		dn_tcp_close(c);
	}
	uint32_t orph;
	dn_tcp_uid_usage(&h.st, 1000, NULL, &orph);
	ck_assert_uint_eq(orph, 1);
	dn_tcp_uid_usage(&h.st, 2000, NULL, &orph);
	ck_assert_uint_eq(orph, 1);
	ck_assert_uint_eq(tcph_ctr(&h, DN_TCP_C_ORPHANS_RESET_UID), 1);
	ck_assert_ptr_nonnull(find(lport[0], 1000));
	ck_assert_ptr_null(find(lport[1], 1001));
	ck_assert_ptr_nonnull(find(lport[2], 1002));
}
END_TEST

/* Gauges in the counter walk. */
static void gauge_cb(const char *name, uint64_t v, void *arg)
{
	uint64_t *g = arg;
	if (!strcmp(name, "tcp_time_wait_now"))
		g[0] = v + 1;
	else if (!strcmp(name, "tcp_orphans_now"))
		g[1] = v + 1;
}

START_TEST(test_tcp_limits_gauges_in_counters)
{
	close_to_time_wait(open_as(1000, 1000, 65535));
	dn_tcp_close(open_as(1001, 1000, 65535));
	uint64_t g[2] = { 0, 0 };
	dn_tcp_counters_foreach(&h.st, gauge_cb, g);
	ck_assert_uint_eq(g[0], 2);
	ck_assert_uint_eq(g[1], 2);
}
END_TEST

Suite *tcp_limits_suite(void)
{
	Suite *s = suite_create("tcp_limits");
	TCase *tc = tcase_create("core");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_tcp_oow_ack_rate_limited_per_connection);
	tcase_add_test(tc, test_tcp_challenge_acks_of_one_connection_spare_another);
	tcase_add_test(tc, test_tcp_time_wait_cap_recycles_oldest);
	tcase_add_test(tc, test_tcp_time_wait_cap_per_uid);
	tcase_add_test(tc, test_tcp_time_wait_of_one_owner_does_not_stop_another);
	tcase_add_test(tc, test_tcp_syn_cookie_when_table_full);
	tcase_add_test(tc, test_tcp_orphan_FIN_WAIT_1_zero_window_reset_after_retries);
	tcase_add_test(tc, test_tcp_owned_zero_window_probes_on);
	tcase_add_test(tc, test_tcp_orphan_LAST_ACK_zero_window_reset_after_retries);
	tcase_add_test(tc, test_tcp_orphan_FIN_WAIT_1_retransmits_reset_after_retries);
	tcase_add_test(tc, test_tcp_orphan_FIN_WAIT_2_timeout);
	tcase_add_test(tc, test_tcp_orphan_cap_resets_oldest);
	tcase_add_test(tc, test_tcp_orphan_cap_per_uid);
	tcase_add_test(tc, test_tcp_limits_gauges_in_counters);
	suite_add_tcase(s, tc);
	return s;
}
