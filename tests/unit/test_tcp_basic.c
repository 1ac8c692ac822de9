/* TCP: handshakes, RSTs, data, close, per state (crafted segments). */
#include <check.h>
#include <errno.h>
#include <string.h>

#include "tcp_harness.h"

static struct tcph h;

static void setup(void) { tcph_init(&h, 1 << 16); }
static void teardown(void) { tcph_fini(&h); }

START_TEST(test_tcp_active_open_options)
{
	struct dn_tcp_conn *c = tcph_active_open(&h, 5000, 7, 65535);
	struct dn_tcp_conn_info i;
	dn_tcp_get_info(c, &i);
	ck_assert_int_eq(i.state, DN_TCP_ESTABLISHED);
	ck_assert_int_eq(i.sack, 1);
	ck_assert_int_eq(i.timestamps, 1);
	ck_assert_int_eq(i.wscale_snd, 7);
	ck_assert_int_eq(i.mss, 1460 - 12);
	/* RFC 6928 IW10 = min(10*MSS, max(2*MSS, 14600)). */
	ck_assert_uint_eq(i.cwnd, 10 * (1460 - 12));
	ck_assert_int_eq(tcph_ctr(&h, DN_TCP_C_ACTIVE_OPENS), 1);
}
END_TEST

START_TEST(test_tcp_syn_has_options)
{
	int err;
	struct dn_tcp_conn *c = dn_tcp_connect(&h.st, TH_IP_GW, 80, 0, &h.rx.d,
					       &h.tx.d, &h, &err);
	ck_assert_ptr_nonnull(c);
	struct tcph_out o;
	ck_assert(tcph_next(&h, &o));
	ck_assert_int_eq(o.flags, DN_TH_SYN);
	ck_assert(o.opt.mss_ok);
	ck_assert_int_eq(o.opt.mss, 1460);
	ck_assert(o.opt.ws_ok && o.opt.sackok && o.opt.ts_ok);
	ck_assert_int_eq(dn_tcp_state(c), DN_TCP_SYN_SENT);
	ck_assert_uint_ge(o.sport, 32768);
	ck_assert_uint_le(o.sport, 60999);
	dn_tcp_close(c);
	ck_assert_int_eq(h.n_freed, 1);
}
END_TEST

START_TEST(test_tcp_passive_open)
{
	struct dn_tcp_conn *l;
	struct dn_tcp_conn *c = tcph_passive_open(&h, 80, 777, 7, &l);
	ck_assert_int_eq(dn_tcp_state(l), DN_TCP_LISTEN);
	ck_assert_ptr_null(dn_tcp_accept(l, &h));
	uint32_t lip, rip;
	uint16_t lp, rp;
	dn_tcp_get_addrs(c, &lip, &lp, &rip, &rp);
	ck_assert_uint_eq(lip, TH_IP_US);
	ck_assert_uint_eq(lp, 80);
	ck_assert_uint_eq(rip, TH_IP_GW);
	ck_assert_uint_eq(rp, 40000);
	dn_tcp_close(l);
}
END_TEST

START_TEST(test_tcp_rst_in_SYN_SENT)
{
	int err;
	struct dn_tcp_conn *c = dn_tcp_connect(&h.st, TH_IP_GW, 80, 0, &h.rx.d,
					       &h.tx.d, &h, &err);
	struct tcph_out o;
	ck_assert(tcph_next(&h, &o));
	h.our_port = o.sport;
	h.peer_port = 80;
	/* RST without ACK: ignored (3.10.7.3). */
	struct tcph_seg s = { .seq = 0, .flags = DN_TH_RST };
	tcph_send(&h, &s);
	ck_assert_int_eq(dn_tcp_state(c), DN_TCP_SYN_SENT);
	/* RST with an unacceptable ACK: ignored too. */
	struct tcph_seg s2 = { .ack = o.seq + 5, .flags = DN_TH_RST | DN_TH_ACK };
	tcph_send(&h, &s2);
	ck_assert_int_eq(dn_tcp_state(c), DN_TCP_SYN_SENT);
	/* RST,ACK acking the SYN: refused. */
	struct tcph_seg s3 = { .ack = o.seq + 1, .flags = DN_TH_RST | DN_TH_ACK };
	tcph_send(&h, &s3);
	ck_assert_int_eq(dn_tcp_state(c), DN_TCP_CLOSED);
	ck_assert_int_eq(h.n_connected, 1);
	ck_assert_int_eq(h.connected_err, ECONNREFUSED);
	dn_tcp_close(c);
	ck_assert_int_eq(h.n_freed, 1);
}
END_TEST

START_TEST(test_tcp_bad_ack_in_SYN_SENT)
{
	int err;
	struct dn_tcp_conn *c = dn_tcp_connect(&h.st, TH_IP_GW, 80, 0, &h.rx.d,
					       &h.tx.d, &h, &err);
	struct tcph_out o;
	ck_assert(tcph_next(&h, &o));
	h.our_port = o.sport;
	h.peer_port = 80;
	struct tcph_seg s = { .seq = 99, .ack = o.seq + 1000,
			      .flags = DN_TH_SYN | DN_TH_ACK, .wnd = 1000 };
	tcph_send(&h, &s);
	ck_assert(tcph_next(&h, &o));
	ck_assert_int_eq(o.flags, DN_TH_RST);
	ck_assert_uint_eq(o.seq, s.ack);
	ck_assert_int_eq(dn_tcp_state(c), DN_TCP_SYN_SENT);
	dn_tcp_abort(c);
}
END_TEST

START_TEST(test_tcp_simultaneous_open)
{
	int err;
	struct dn_tcp_conn *c = dn_tcp_connect(&h.st, TH_IP_GW, 80, 0, &h.rx.d,
					       &h.tx.d, &h, &err);
	struct tcph_out o;
	ck_assert(tcph_next(&h, &o));
	h.our_port = o.sport;
	h.peer_port = 80;
	uint32_t iss = o.seq;
	struct tcph_seg s = { .seq = 1000, .flags = DN_TH_SYN, .wnd = 8192 };
	tcph_send(&h, &s);
	ck_assert_int_eq(dn_tcp_state(c), DN_TCP_SYN_RECEIVED);
	ck_assert(tcph_next(&h, &o));
	ck_assert_int_eq(o.flags, DN_TH_SYN | DN_TH_ACK);
	ck_assert_uint_eq(o.seq, iss);
	ck_assert_uint_eq(o.ack, 1001);
	struct tcph_seg a = { .seq = 1001, .ack = iss + 1,
			      .flags = DN_TH_SYN | DN_TH_ACK, .wnd = 8192 };
	/* The peer's SYN,ACK (its answer to our SYN): seq 1000 again. */
	a.seq = 1000;
	tcph_send(&h, &a);
	ck_assert_int_eq(dn_tcp_state(c), DN_TCP_ESTABLISHED);
	ck_assert_int_eq(h.n_connected, 1);
	ck_assert_int_eq(h.connected_err, 0);
	dn_tcp_abort(c);
}
END_TEST

START_TEST(test_tcp_syn_timeout)
{
	int err;
	h.st.tcp.conf.syn_retries = 3;
	struct dn_tcp_conn *c = dn_tcp_connect(&h.st, TH_IP_GW, 80, 0, &h.rx.d,
					       &h.tx.d, &h, &err);
	ck_assert_ptr_nonnull(c);
	struct tcph_out o;
	ck_assert(tcph_next(&h, &o));
	/* Retransmissions after 1, 2, 4 s (RFC 6298 2.1, 5.5). */
	tcph_advance(&h, 999000);
	ck_assert_int_eq(tcph_pending(&h), 0);
	tcph_advance(&h, 1000);
	ck_assert_int_eq(tcph_pending(&h), 1);
	tcph_drain(&h);
	tcph_advance(&h, 1999000);
	ck_assert_int_eq(tcph_pending(&h), 0);
	tcph_advance(&h, 1000);
	ck_assert_int_eq(tcph_pending(&h), 1);
	tcph_advance(&h, 4000000);
	ck_assert_int_eq(h.n_connected, 0);
	tcph_advance(&h, 8000000);
	ck_assert_int_eq(h.n_connected, 1);
	ck_assert_int_eq(h.connected_err, ETIMEDOUT);
	ck_assert_int_eq(dn_tcp_state(c), DN_TCP_CLOSED);
	dn_tcp_close(c);
}
END_TEST

START_TEST(test_tcp_rst_for_closed_port)
{
	/* SYN to a closed port: <SEQ=0><ACK=SEG.SEQ+SEG.LEN><RST,ACK>. */
	struct tcph_seg s = { .seq = 100, .flags = DN_TH_SYN, .wnd = 100,
			      .dport = 9 };
	tcph_send(&h, &s);
	struct tcph_out o;
	ck_assert(tcph_next(&h, &o));
	ck_assert_int_eq(o.flags, DN_TH_RST | DN_TH_ACK);
	ck_assert_uint_eq(o.seq, 0);
	ck_assert_uint_eq(o.ack, 101);
	ck_assert_uint_eq(o.sport, 9);
	/* Data with ACK: <SEQ=SEG.ACK><RST>. */
	struct tcph_seg d = { .seq = 100, .ack = 5555, .flags = DN_TH_ACK,
			      .dport = 9, .data = "abc", .len = 3 };
	tcph_send(&h, &d);
	ck_assert(tcph_next(&h, &o));
	ck_assert_int_eq(o.flags, DN_TH_RST);
	ck_assert_uint_eq(o.seq, 5555);
	/* A RST is never answered. */
	struct tcph_seg r = { .seq = 1, .flags = DN_TH_RST, .dport = 9 };
	tcph_send(&h, &r);
	ck_assert(!tcph_next(&h, &o));
	ck_assert_uint_eq(tcph_drop(&h, DN_TCP_DROP_NO_SOCKET), 3);
}
END_TEST

START_TEST(test_tcp_bad_checksum_dropped)
{
	struct tcph_seg s = { .seq = 100, .flags = DN_TH_SYN, .dport = 9,
			      .bad_csum = true };
	tcph_send(&h, &s);
	struct tcph_out o;
	ck_assert(!tcph_next(&h, &o));
	ck_assert_uint_eq(tcph_drop(&h, DN_TCP_DROP_BAD_CSUM), 1);
}
END_TEST

START_TEST(test_tcp_bad_doff_dropped)
{
	struct tcph_seg s = { .seq = 100, .flags = DN_TH_SYN, .dport = 9,
			      .doff_override = 4 };
	tcph_send(&h, &s);
	struct tcph_seg s2 = { .seq = 100, .flags = DN_TH_SYN, .dport = 9,
			       .doff_override = 15 };
	tcph_send(&h, &s2);
	struct tcph_out o;
	ck_assert(!tcph_next(&h, &o));
	ck_assert_uint_eq(tcph_drop(&h, DN_TCP_DROP_BAD_DOFF), 1);
	ck_assert_uint_eq(tcph_drop(&h, DN_TCP_DROP_SHORT), 1);
}
END_TEST

START_TEST(test_tcp_data_in_order_and_delayed_ack)
{
	struct dn_tcp_conn *c = tcph_active_open(&h, 5000, 7, 65535);
	(void)c;
	tcph_peer_data(&h, "hello", 5);
	ck_assert_int_eq(h.n_readable, 1);
	char buf[16];
	ck_assert_uint_eq(tcph_app_read(&h, buf, sizeof buf), 5);
	ck_assert(memcmp(buf, "hello", 5) == 0);
	/* One small segment: the ACK is delayed. */
	ck_assert_int_eq(tcph_pending(&h), 0);
	tcph_advance(&h, 39000);
	ck_assert_int_eq(tcph_pending(&h), 0);
	tcph_advance(&h, 1000);
	struct tcph_out o;
	ck_assert(tcph_next(&h, &o));
	ck_assert_int_eq(o.flags, DN_TH_ACK);
	ck_assert_uint_eq(o.ack, 5006);
	/* Two segments: ACK at once (RFC 5681 4.2). */
	tcph_peer_data(&h, "aa", 2);
	tcph_peer_data(&h, "bb", 2);
	ck_assert(tcph_next(&h, &o));
	ck_assert_uint_eq(o.ack, 5010);
}
END_TEST

START_TEST(test_tcp_ooo_data_and_sack_blocks)
{
	tcph_active_open(&h, 5000, 7, 65535);
	uint32_t base = h.peer_seq;
	h.peer_seq = base + 4;
	tcph_peer_data(&h, "EFGH", 4);   /* hole at base..base+4 */
	ck_assert_int_eq(h.n_readable, 0);
	struct tcph_out o;
	ck_assert(tcph_next(&h, &o));   /* immediate dup ACK with SACK */
	ck_assert_uint_eq(o.ack, base);
	ck_assert_int_eq(o.opt.nsack, 1);
	ck_assert_uint_eq(o.opt.sack[0][0], base + 4);
	ck_assert_uint_eq(o.opt.sack[0][1], base + 8);
	h.peer_seq = base + 12;
	tcph_peer_data(&h, "MNOP", 4);
	ck_assert(tcph_next(&h, &o));
	ck_assert_int_eq(o.opt.nsack, 2);
	ck_assert_uint_eq(o.opt.sack[0][0], base + 12);   /* latest first */
	h.peer_seq = base;
	tcph_peer_data(&h, "ABCD", 4);
	ck_assert(tcph_next(&h, &o));
	ck_assert_uint_eq(o.ack, base + 8);
	ck_assert_int_eq(o.opt.nsack, 1);
	h.peer_seq = base + 8;
	tcph_peer_data(&h, "IJKL", 4);
	ck_assert(tcph_next(&h, &o));
	ck_assert_uint_eq(o.ack, base + 16);
	ck_assert_int_eq(o.opt.nsack, 0);
	char buf[32];
	ck_assert_uint_eq(tcph_app_read(&h, buf, sizeof buf), 16);
	ck_assert(memcmp(buf, "ABCDEFGHIJKLMNOP", 16) == 0);
}
END_TEST

START_TEST(test_tcp_send_and_ack_releases_ring)
{
	struct dn_tcp_conn *c = tcph_active_open(&h, 5000, 7, 65535);
	ck_assert_uint_eq(tcph_app_write(&h, "request", 7), 7);
	dn_tcp_output_kick(c);
	struct tcph_out o;
	ck_assert(tcph_next(&h, &o));
	ck_assert_uint_eq(o.len, 7);
	ck_assert(memcmp(o.data, "request", 7) == 0);
	ck_assert(o.flags & DN_TH_PSH);
	/* Kept in the ring for retransmission until acked. */
	ck_assert_uint_eq(dn_ring_writable(&h.tx.a), h.ring_size - 7);
	tcph_peer_ack(&h, o.seq + 7, 65535);
	ck_assert_uint_eq(dn_ring_writable(&h.tx.a), h.ring_size);
	ck_assert_int_eq(h.n_writable, 1);
	ck_assert(!dn_tcp_timer_on(c, DN_TCP_T_RTX));
}
END_TEST

START_TEST(test_tcp_initial_window_10_segments)
{
	struct dn_tcp_conn *c = tcph_active_open(&h, 5000, 0, 65535);
	static uint8_t big[60000];
	for (size_t i = 0; i < sizeof big; i++)
		big[i] = (uint8_t)i;
	ck_assert_uint_eq(tcph_app_write(&h, big, sizeof big), sizeof big);
	dn_tcp_output_kick(c);
	/* No options: MSS 1460, IW = min(10*1460, max(2920, 14600)). */
	ck_assert_int_eq(tcph_pending(&h), 10);
	struct tcph_out o;
	uint32_t first = 0;
	for (int i = 0; i < 10; i++) {
		ck_assert(tcph_next(&h, &o));
		if (i == 0)
			first = o.seq;
		ck_assert_uint_eq(o.len, 1460);
		ck_assert_uint_eq(o.seq, first + 1460u * i);
		ck_assert(memcmp(o.data, big + 1460 * i, 1460) == 0);
	}
}
END_TEST

START_TEST(test_tcp_rto_retransmit_and_backoff)
{
	struct dn_tcp_conn *c = tcph_active_open(&h, 5000, 0, 65535);
	tcph_app_write(&h, "x", 1);
	dn_tcp_output_kick(c);
	struct tcph_out o;
	ck_assert(tcph_next(&h, &o));
	uint32_t seq = o.seq;
	uint64_t rto = c->rto_us;
	tcph_advance(&h, rto);
	ck_assert(tcph_next(&h, &o));
	ck_assert_uint_eq(o.seq, seq);
	ck_assert_uint_eq(o.len, 1);
	ck_assert_uint_eq(c->rto_us, 2 * rto);
	tcph_advance(&h, 2 * rto - 1000);
	ck_assert(!tcph_next(&h, &o));
	tcph_advance(&h, 1000);
	ck_assert(tcph_next(&h, &o));
	ck_assert_uint_eq(c->retransmits, 2);
	ck_assert_uint_eq(c->cwnd, c->mss);
	tcph_peer_ack(&h, seq + 1, 65535);
	ck_assert_int_eq(c->backoff, 0);
}
END_TEST

START_TEST(test_tcp_retransmit_gives_up)
{
	h.st.tcp.conf.max_retries = 2;
	struct dn_tcp_conn *c = tcph_active_open(&h, 5000, 0, 65535);
	tcph_app_write(&h, "x", 1);
	dn_tcp_output_kick(c);
	tcph_advance(&h, 60000000);
	ck_assert_int_eq(h.n_reset, 1);
	ck_assert_int_eq(h.reset_err, ETIMEDOUT);
	ck_assert_int_eq(dn_tcp_state(c), DN_TCP_CLOSED);
	ck_assert(dn_ring_flags(&h.rx.a) & DN_RING_F_RESET);
	dn_tcp_close(c);
}
END_TEST

START_TEST(test_tcp_close_active_TIME_WAIT)
{
	struct dn_tcp_conn *c = tcph_active_open(&h, 5000, 7, 65535);
	h.st.tcp.conf.time_wait_us = 2000000;
	dn_tcp_close(c);
	struct tcph_out o;
	ck_assert(tcph_next(&h, &o));
	ck_assert_int_eq(o.flags, DN_TH_FIN | DN_TH_ACK);
	ck_assert_int_eq(dn_tcp_state(c), DN_TCP_FIN_WAIT_1);
	tcph_peer_ack(&h, o.seq + 1, 65535);
	ck_assert_int_eq(dn_tcp_state(c), DN_TCP_FIN_WAIT_2);
	tcph_peer_flags(&h, DN_TH_FIN | DN_TH_ACK);
	ck_assert_int_eq(dn_tcp_state(c), DN_TCP_TIME_WAIT);
	ck_assert(tcph_next(&h, &o));
	ck_assert_int_eq(o.flags, DN_TH_ACK);
	ck_assert_uint_eq(o.ack, h.peer_seq);
	/* A retransmitted FIN is acked again. */
	h.peer_seq--;
	tcph_peer_flags(&h, DN_TH_FIN | DN_TH_ACK);
	ck_assert(tcph_next(&h, &o));
	ck_assert_int_eq(o.flags, DN_TH_ACK);
	/* RFC 1337: RST in TIME-WAIT is ignored. */
	tcph_peer_flags(&h, DN_TH_RST);
	ck_assert_uint_eq(tcph_drop(&h, DN_TCP_DROP_RST_TIME_WAIT), 1);
	ck_assert_int_eq(h.n_freed, 0);
	tcph_advance(&h, 2000000);
	ck_assert_int_eq(h.n_freed, 1);
}
END_TEST

START_TEST(test_tcp_close_passive_LAST_ACK)
{
	struct dn_tcp_conn *c = tcph_active_open(&h, 5000, 7, 65535);
	tcph_peer_flags(&h, DN_TH_FIN | DN_TH_ACK);
	ck_assert_int_eq(dn_tcp_state(c), DN_TCP_CLOSE_WAIT);
	ck_assert_int_eq(h.n_eof, 1);
	ck_assert(dn_ring_flags(&h.rx.a) & DN_RING_F_EOF);
	struct tcph_out o;
	ck_assert(tcph_next(&h, &o));   /* FIN acked at once */
	ck_assert_uint_eq(o.ack, h.peer_seq);
	dn_tcp_shutdown_wr(c);
	ck_assert_int_eq(dn_tcp_state(c), DN_TCP_LAST_ACK);
	ck_assert(tcph_next(&h, &o));
	ck_assert(o.flags & DN_TH_FIN);
	tcph_peer_ack(&h, o.seq + 1, 65535);
	ck_assert_int_eq(dn_tcp_state(c), DN_TCP_CLOSED);
	ck_assert_int_eq(h.n_freed, 0);   /* owner still holds it */
	dn_tcp_close(c);
	ck_assert_int_eq(h.n_freed, 1);
}
END_TEST

START_TEST(test_tcp_simultaneous_close_CLOSING)
{
	struct dn_tcp_conn *c = tcph_active_open(&h, 5000, 7, 65535);
	dn_tcp_shutdown_wr(c);
	struct tcph_out o;
	ck_assert(tcph_next(&h, &o));
	uint32_t fin = o.seq;
	/* Peer's FIN crosses ours (does not ack it). */
	tcph_peer_flags(&h, DN_TH_FIN | DN_TH_ACK);
	ck_assert_int_eq(dn_tcp_state(c), DN_TCP_CLOSING);
	tcph_peer_ack(&h, fin + 1, 65535);
	ck_assert_int_eq(dn_tcp_state(c), DN_TCP_TIME_WAIT);
	dn_tcp_close(c);
	tcph_advance(&h, h.st.tcp.conf.time_wait_us);
	ck_assert_int_eq(h.n_freed, 1);
}
END_TEST

START_TEST(test_tcp_fin_then_ack_in_FIN_WAIT_1)
{
	struct dn_tcp_conn *c = tcph_active_open(&h, 5000, 7, 65535);
	dn_tcp_shutdown_wr(c);
	struct tcph_out o;
	ck_assert(tcph_next(&h, &o));
	h.peer_ack = o.seq + 1;
	tcph_peer_flags(&h, DN_TH_FIN | DN_TH_ACK);   /* FIN + ACK of ours */
	ck_assert_int_eq(dn_tcp_state(c), DN_TCP_TIME_WAIT);
	dn_tcp_abort(c);
}
END_TEST

START_TEST(test_tcp_rst_in_ESTABLISHED)
{
	struct dn_tcp_conn *c = tcph_active_open(&h, 5000, 7, 65535);
	struct tcph_out o;
	/* Out of window: dropped silently. */
	struct tcph_seg s = { .seq = h.peer_seq + 1000000, .flags = DN_TH_RST };
	tcph_send(&h, &s);
	ck_assert(!tcph_next(&h, &o));
	ck_assert_uint_eq(tcph_drop(&h, DN_TCP_DROP_RST_OUT_OF_WINDOW), 1);
	/* In window but not RCV.NXT: challenge ACK (RFC 5961 3.2). */
	s.seq = h.peer_seq + 10;
	tcph_send(&h, &s);
	ck_assert(tcph_next(&h, &o));
	ck_assert_int_eq(o.flags, DN_TH_ACK);
	ck_assert_uint_eq(o.ack, h.peer_seq);
	ck_assert_int_eq(dn_tcp_state(c), DN_TCP_ESTABLISHED);
	ck_assert_uint_eq(tcph_ctr(&h, DN_TCP_C_CHALLENGE_ACKS), 1);
	/* Exactly RCV.NXT: reset. */
	s.seq = h.peer_seq;
	tcph_send(&h, &s);
	ck_assert_int_eq(dn_tcp_state(c), DN_TCP_CLOSED);
	ck_assert_int_eq(h.n_reset, 1);
	ck_assert_int_eq(h.reset_err, ECONNRESET);
	ck_assert(dn_ring_flags(&h.tx.a) & DN_RING_F_RESET);
	dn_tcp_close(c);
	ck_assert_int_eq(h.n_freed, 1);
}
END_TEST

START_TEST(test_tcp_rst_in_SYN_RECEIVED)
{
	int err;
	struct dn_tcp_conn *l = dn_tcp_listen(&h.st, 0, 80, 4, &h, &err);
	struct tcph_seg s = { .seq = 100, .flags = DN_TH_SYN, .wnd = 1000 };
	tcph_send(&h, &s);
	ck_assert_int_eq(h.st.tcp.nconns, 2);
	struct tcph_seg r = { .seq = 101, .flags = DN_TH_RST };
	tcph_send(&h, &r);
	/* Back to LISTEN: the half-open child is gone. */
	ck_assert_int_eq(h.st.tcp.nconns, 1);
	ck_assert_int_eq(l->synq_len, 0);
	dn_tcp_close(l);
}
END_TEST

START_TEST(test_tcp_syn_in_ESTABLISHED_challenge_ack)
{
	struct dn_tcp_conn *c = tcph_active_open(&h, 5000, 0, 65535);
	struct tcph_seg s = { .seq = h.peer_seq + 5, .flags = DN_TH_SYN,
			      .wnd = 1000 };
	tcph_send(&h, &s);
	struct tcph_out o;
	ck_assert(tcph_next(&h, &o));
	ck_assert_int_eq(o.flags, DN_TH_ACK);
	ck_assert_uint_eq(o.ack, h.peer_seq);
	ck_assert_int_eq(dn_tcp_state(c), DN_TCP_ESTABLISHED);
}
END_TEST

START_TEST(test_tcp_challenge_ack_rate_limited_per_connection)
{
	/* RFC 5961 7: at most one challenge ACK per connection per
	 * invalid_ratelimit_us (500 ms), before any global budget. */
	tcph_active_open(&h, 5000, 0, 65535);
	struct tcph_seg s = { .seq = h.peer_seq + 5, .flags = DN_TH_RST };
	for (int i = 0; i < 10; i++)
		tcph_send(&h, &s);
	ck_assert_int_eq(tcph_pending(&h), 1);
	ck_assert_uint_eq(tcph_ctr(&h, DN_TCP_C_CHALLENGE_ACKS), 1);
	ck_assert_uint_eq(tcph_ctr(&h, DN_TCP_C_CHALLENGE_ACKS_CONN_LIMITED), 9);
	ck_assert_uint_eq(tcph_ctr(&h, DN_TCP_C_CHALLENGE_ACKS_LIMITED), 0);
	tcph_advance(&h, 499000);
	tcph_send(&h, &s);
	ck_assert_int_eq(tcph_pending(&h), 1);
	tcph_advance(&h, 1000);
	tcph_send(&h, &s);
	ck_assert_int_eq(tcph_pending(&h), 2);
}
END_TEST

START_TEST(test_tcp_challenge_ack_global_budget_randomized)
{
	/* No per-connection limit: the global budget alone, drawn each
	 * second from [limit/2, limit/2 + limit). */
	h.st.tcp.conf.invalid_ratelimit_us = 0;
	h.st.tcp.conf.challenge_ack_limit = 8;
	tcph_active_open(&h, 5000, 0, 65535);
	struct tcph_seg s = { .seq = h.peer_seq + 5, .flags = DN_TH_RST };
	bool differ = false;
	int first = -1;
	for (int sec = 0; sec < 20; sec++) {
		tcph_drain(&h);
		for (int i = 0; i < 30; i++)
			tcph_send(&h, &s);
		int n = tcph_pending(&h);
		ck_assert_int_ge(n, 4);
		ck_assert_int_lt(n, 12);
		if (first < 0)
			first = n;
		else if (n != first)
			differ = true;
		tcph_advance(&h, 1000000);
	}
	ck_assert(differ);   /* 20 equal draws of 8 values: (1/8)^19 */
	ck_assert_uint_gt(tcph_ctr(&h, DN_TCP_C_CHALLENGE_ACKS_LIMITED), 0);
}
END_TEST

START_TEST(test_tcp_ack_of_unsent_data)
{
	struct dn_tcp_conn *c = tcph_active_open(&h, 5000, 0, 65535);
	tcph_peer_ack(&h, h.peer_ack + 100, 65535);
	struct tcph_out o;
	ck_assert(tcph_next(&h, &o));
	ck_assert_int_eq(o.flags, DN_TH_ACK);
	ck_assert_uint_eq(tcph_drop(&h, DN_TCP_DROP_ACK_UNSENT), 1);
	ck_assert_uint_eq(c->snd_una, h.peer_ack - 100);
}
END_TEST

START_TEST(test_tcp_paws_drops_old_timestamp)
{
	struct dn_tcp_conn *c = tcph_active_open(&h, 5000, 7, 65535);
	tcph_peer_data(&h, "a", 1);
	uint8_t opt[40];
	size_t ol = tcph_opts(opt, -1, -1, false, true, 5, 0);  /* old */
	struct tcph_seg s = { .seq = h.peer_seq, .ack = h.peer_ack,
			      .flags = DN_TH_ACK, .wnd = 65535, .opt = opt,
			      .optlen = ol, .data = "b", .len = 1 };
	tcph_send(&h, &s);
	ck_assert_uint_eq(tcph_drop(&h, DN_TCP_DROP_PAWS), 1);
	ck_assert_uint_eq(c->rcv_nxt, h.peer_seq);
}
END_TEST

START_TEST(test_tcp_out_of_window_data_acked)
{
	struct dn_tcp_conn *c = tcph_active_open(&h, 5000, 0, 65535);
	struct tcph_seg s = { .seq = h.peer_seq + 200000, .ack = h.peer_ack,
			      .flags = DN_TH_ACK, .wnd = 65535, .data = "zz",
			      .len = 2 };
	tcph_send(&h, &s);
	struct tcph_out o;
	ck_assert(tcph_next(&h, &o));
	ck_assert_uint_eq(o.ack, h.peer_seq);
	ck_assert_uint_eq(c->rcv_nxt, h.peer_seq);
	/* An old duplicate too. */
	s.seq = h.peer_seq - 10;
	tcph_send(&h, &s);
	ck_assert(tcph_next(&h, &o));
	ck_assert_uint_eq(o.ack, h.peer_seq);
}
END_TEST

START_TEST(test_tcp_close_with_unread_data_sends_rst)
{
	struct dn_tcp_conn *c = tcph_active_open(&h, 5000, 0, 65535);
	tcph_peer_data(&h, "unread", 6);
	tcph_drain(&h);
	dn_tcp_close(c);
	struct tcph_out o;
	ck_assert(tcph_next(&h, &o));
	ck_assert(o.flags & DN_TH_RST);
	ck_assert_int_eq(h.n_freed, 1);
}
END_TEST

START_TEST(test_tcp_abort_sends_rst)
{
	struct dn_tcp_conn *c = tcph_active_open(&h, 5000, 0, 65535);
	dn_tcp_abort(c);
	struct tcph_out o;
	ck_assert(tcph_next(&h, &o));
	ck_assert(o.flags & DN_TH_RST);
	ck_assert_uint_eq(o.seq, h.peer_ack);
	ck_assert_int_eq(h.n_freed, 1);
	ck_assert_int_eq(h.st.tcp.nconns, 0);
}
END_TEST

START_TEST(test_tcp_orphan_data_after_close_resets)
{
	struct dn_tcp_conn *c = tcph_active_open(&h, 5000, 0, 65535);
	dn_tcp_close(c);
	struct tcph_out o;
	ck_assert(tcph_next(&h, &o));
	ck_assert(o.flags & DN_TH_FIN);
	tcph_peer_data(&h, "late", 4);
	ck_assert(tcph_next(&h, &o));
	ck_assert(o.flags & DN_TH_RST);
	ck_assert_int_eq(h.n_freed, 1);
}
END_TEST

START_TEST(test_tcp_fin_wait_2_orphan_timeout)
{
	struct dn_tcp_conn *c = tcph_active_open(&h, 5000, 0, 65535);
	h.st.tcp.conf.fin_wait_2_us = 3000000;
	dn_tcp_close(c);
	struct tcph_out o;
	ck_assert(tcph_next(&h, &o));
	tcph_peer_ack(&h, o.seq + 1, 65535);
	ck_assert_int_eq(h.n_freed, 0);
	tcph_advance(&h, 3000000);
	ck_assert_int_eq(h.n_freed, 1);
}
END_TEST

START_TEST(test_tcp_listen_errors)
{
	int err;
	struct dn_tcp_conn *l = dn_tcp_listen(&h.st, 0, 80, 4, &h, &err);
	ck_assert_ptr_nonnull(l);
	ck_assert_ptr_null(dn_tcp_listen(&h.st, 0, 80, 4, &h, &err));
	ck_assert_int_eq(err, EADDRINUSE);
	ck_assert_ptr_null(dn_tcp_listen(&h.st, 0x01020304, 81, 4, &h, &err));
	ck_assert_int_eq(err, EADDRNOTAVAIL);
	struct dn_tcp_conn *l2 = dn_tcp_listen(&h.st, 0, 0, 4, &h, &err);
	ck_assert_ptr_nonnull(l2);
	uint16_t p;
	dn_tcp_get_addrs(l2, NULL, &p, NULL, NULL);
	ck_assert_uint_ge(p, 32768);
	dn_tcp_close(l);
	dn_tcp_close(l2);
	ck_assert_int_eq(h.n_freed, 2);
}
END_TEST

START_TEST(test_tcp_connect_errors)
{
	int err;
	ck_assert_ptr_null(dn_tcp_connect(&h.st, 0, 80, 0, &h.rx.d, &h.tx.d,
					  &h, &err));
	ck_assert_int_eq(err, EINVAL);
	ck_assert_ptr_null(dn_tcp_connect(&h.st, TH_IP_GW, 80, 0, NULL,
					  &h.tx.d, &h, &err));
	ck_assert_int_eq(err, EINVAL);
}
END_TEST

START_TEST(test_tcp_icmp_unreach_in_SYN_SENT)
{
	int err;
	struct dn_tcp_conn *c = dn_tcp_connect(&h.st, TH_IP_GW, 80, 0, &h.rx.d,
					       &h.tx.d, &h, &err);
	struct tcph_out o;
	ck_assert(tcph_next(&h, &o));
	uint8_t q[28];
	memset(q, 0, sizeof q);
	q[0] = 0x45;
	q[9] = 6;
	dn_put32(q + 12, TH_IP_US);
	dn_put32(q + 16, TH_IP_GW);
	dn_put16(q + 20, o.sport);
	dn_put16(q + 22, 80);
	dn_put32(q + 24, o.seq + 77);   /* not in flight: ignored */
	dn_tcp_icmp_error(&h.st, 3, 1, q, sizeof q);
	ck_assert_int_eq(dn_tcp_state(c), DN_TCP_SYN_SENT);
	dn_put32(q + 24, o.seq);
	dn_tcp_icmp_error(&h.st, 3, 1, q, sizeof q);
	ck_assert_int_eq(dn_tcp_state(c), DN_TCP_CLOSED);
	ck_assert_int_eq(h.connected_err, EHOSTUNREACH);
	dn_tcp_close(c);
}
END_TEST

/* A peer on the link that never answers ARP: the attempt fails with
 * EHOSTUNREACH once resolution gives up (three requests a second apart),
 * as the kernel's connect does, not with ETIMEDOUT two minutes later; and
 * while the failure is remembered a new attempt fails at once. */
START_TEST(test_tcp_arp_failure_in_SYN_SENT)
{
	int err = 0;
	uint32_t silent = TH_IP_GW + 8;
	struct dn_tcp_conn *c = dn_tcp_connect(&h.st, silent, 80, 0, &h.rx.d,
					       &h.tx.d, &h, &err);
	ck_assert_ptr_nonnull(c);
	for (int i = 0; i < 20 && dn_tcp_state(c) == DN_TCP_SYN_SENT; i++) {
		tcph_advance(&h, 500000);
		tcph_drain(&h);
	}
	ck_assert_int_eq(dn_tcp_state(c), DN_TCP_CLOSED);
	ck_assert_int_eq(h.connected_err, EHOSTUNREACH);
	/* Failed with the third ARP request unanswered (3 s), by the queued
	 * SYN's local host-unreachable, not at a later retransmission. */
	ck_assert_uint_le(h.st.now_us, 3500000);
	dn_tcp_close(c);
	ck_assert_ptr_null(dn_tcp_connect(&h.st, silent, 81, 0, &h.rx.d, &h.tx.d,
					  &h, &err));
	ck_assert_int_eq(err, EHOSTUNREACH);
}
END_TEST

START_TEST(test_tcp_time_wait_reuse_by_new_syn)
{
	struct dn_tcp_conn *l;
	struct dn_tcp_conn *c = tcph_passive_open(&h, 80, 1000, 0, &l);
	dn_tcp_close(c);
	struct tcph_out o;
	ck_assert(tcph_next(&h, &o));
	tcph_peer_ack(&h, o.seq + 1, 65535);
	tcph_peer_flags(&h, DN_TH_FIN | DN_TH_ACK);
	ck_assert_int_eq(dn_tcp_state(c), DN_TCP_TIME_WAIT);
	tcph_drain(&h);
	struct tcph_seg s = { .seq = h.peer_seq + 100000, .flags = DN_TH_SYN,
			      .wnd = 1000 };
	tcph_send(&h, &s);
	ck_assert_uint_eq(tcph_ctr(&h, DN_TCP_C_TIME_WAIT_REUSE), 1);
	ck_assert(tcph_next(&h, &o));
	ck_assert_int_eq(o.flags, DN_TH_SYN | DN_TH_ACK);
	dn_tcp_close(l);
}
END_TEST

static int walk_cb(const struct dn_tcp_conn_info *i, void *arg)
{
	int *n = arg;
	(*n)++;
	ck_assert(i->state == DN_TCP_ESTABLISHED || i->state == DN_TCP_LISTEN);
	return 0;
}

static void ctr_cb(const char *name, uint64_t v, void *arg)
{
	int *n = arg;
	(void)v;
	ck_assert(name && *name);
	(*n)++;
}

START_TEST(test_tcp_introspection)
{
	struct dn_tcp_conn *l;
	tcph_passive_open(&h, 80, 1000, 7, &l);
	int n = 0;
	dn_tcp_foreach(&h.st, walk_cb, &n);
	ck_assert_int_eq(n, 2);
	n = 0;
	dn_tcp_counters_foreach(&h.st, ctr_cb, &n);
	ck_assert_int_eq(n, DN_TCP_NCOUNTERS + DN_TCP_NDROPS + DN_TCP_NGAUGES);
	ck_assert_str_eq(dn_tcp_state_name(DN_TCP_TIME_WAIT), "TIME-WAIT");
	ck_assert_str_eq(dn_tcp_cc_name(DN_TCP_CC_CUBIC), "cubic");
	ck_assert_int_eq(dn_tcp_cc_from_name("newreno"), DN_TCP_CC_NEWRENO);
	ck_assert_str_eq(dn_tcp_drop_name(DN_TCP_DROP_PAWS), "drop_paws");
	ck_assert_str_eq(dn_tcp_timer_name(DN_TCP_T_PERSIST), "persist");
	ck_assert_str_eq(dn_tcp_counter_name(DN_TCP_C_SEGS_IN), "segs_in");
	dn_tcp_close(l);
}
END_TEST

Suite *tcp_basic_suite(void)
{
	Suite *s = suite_create("tcp_basic");
	TCase *tc = tcase_create("core");
	tcase_set_timeout(tc, 30);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_tcp_active_open_options);
	tcase_add_test(tc, test_tcp_syn_has_options);
	tcase_add_test(tc, test_tcp_passive_open);
	tcase_add_test(tc, test_tcp_rst_in_SYN_SENT);
	tcase_add_test(tc, test_tcp_bad_ack_in_SYN_SENT);
	tcase_add_test(tc, test_tcp_simultaneous_open);
	tcase_add_test(tc, test_tcp_syn_timeout);
	tcase_add_test(tc, test_tcp_rst_for_closed_port);
	tcase_add_test(tc, test_tcp_bad_checksum_dropped);
	tcase_add_test(tc, test_tcp_bad_doff_dropped);
	tcase_add_test(tc, test_tcp_data_in_order_and_delayed_ack);
	tcase_add_test(tc, test_tcp_ooo_data_and_sack_blocks);
	tcase_add_test(tc, test_tcp_send_and_ack_releases_ring);
	tcase_add_test(tc, test_tcp_initial_window_10_segments);
	tcase_add_test(tc, test_tcp_rto_retransmit_and_backoff);
	tcase_add_test(tc, test_tcp_retransmit_gives_up);
	tcase_add_test(tc, test_tcp_close_active_TIME_WAIT);
	tcase_add_test(tc, test_tcp_close_passive_LAST_ACK);
	tcase_add_test(tc, test_tcp_simultaneous_close_CLOSING);
	tcase_add_test(tc, test_tcp_fin_then_ack_in_FIN_WAIT_1);
	tcase_add_test(tc, test_tcp_rst_in_ESTABLISHED);
	tcase_add_test(tc, test_tcp_rst_in_SYN_RECEIVED);
	tcase_add_test(tc, test_tcp_syn_in_ESTABLISHED_challenge_ack);
	tcase_add_test(tc, test_tcp_challenge_ack_rate_limited_per_connection);
	tcase_add_test(tc, test_tcp_challenge_ack_global_budget_randomized);
	tcase_add_test(tc, test_tcp_ack_of_unsent_data);
	tcase_add_test(tc, test_tcp_paws_drops_old_timestamp);
	tcase_add_test(tc, test_tcp_out_of_window_data_acked);
	tcase_add_test(tc, test_tcp_close_with_unread_data_sends_rst);
	tcase_add_test(tc, test_tcp_abort_sends_rst);
	tcase_add_test(tc, test_tcp_orphan_data_after_close_resets);
	tcase_add_test(tc, test_tcp_fin_wait_2_orphan_timeout);
	tcase_add_test(tc, test_tcp_listen_errors);
	tcase_add_test(tc, test_tcp_connect_errors);
	tcase_add_test(tc, test_tcp_icmp_unreach_in_SYN_SENT);
	tcase_add_test(tc, test_tcp_arp_failure_in_SYN_SENT);
	tcase_add_test(tc, test_tcp_time_wait_reuse_by_new_syn);
	tcase_add_test(tc, test_tcp_introspection);
	suite_add_tcase(s, tc);
	return s;
}
