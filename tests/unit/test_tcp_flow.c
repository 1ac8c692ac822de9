/* TCP: sequence wrap, windows, persist, Nagle, loss recovery, keepalive,
 * SYN cookies and queues (crafted segments, virtual clock). */
#include <check.h>
#include <errno.h>
#include <stdatomic.h>
#include <string.h>

#include "tcp_harness.h"

static struct tcph h;

static void setup(void) { tcph_init(&h, 1 << 16); }
static void setup_small(void) { tcph_init(&h, 4096); }
static void teardown(void) { tcph_fini(&h); }

static uint8_t pat(size_t i)
{
	return (uint8_t)(i * 7 + 3);
}

START_TEST(test_tcp_seq_wrap_receive)
{
	/* Peer ISN just below 2^32: its data crosses the wrap. */
	tcph_active_open(&h, 0xfffffff0u, 0, 65535);
	ck_assert_uint_eq(h.peer_seq, 0xfffffff1u);
	uint8_t d[40];
	for (size_t i = 0; i < sizeof d; i++)
		d[i] = pat(i);
	/* Second half first (out of order, beyond the wrap). */
	h.peer_seq = 0xfffffff1u + 20;
	tcph_peer_data(&h, d + 20, 20);
	ck_assert_int_eq(h.n_readable, 0);
	h.peer_seq = 0xfffffff1u;
	tcph_peer_data(&h, d, 20);
	ck_assert_int_eq(h.n_readable, 1);
	uint8_t r[64];
	ck_assert_uint_eq(tcph_app_read(&h, r, sizeof r), 40);
	ck_assert(memcmp(r, d, 40) == 0);
	struct tcph_out o;
	ck_assert(tcph_next(&h, &o));
	ck_assert(tcph_next(&h, &o));
	ck_assert_uint_eq(o.ack, 0xfffffff1u + 40);   /* wrapped: 0x19 */
	ck_assert_uint_eq(o.ack, 0x19);
}
END_TEST

START_TEST(test_tcp_passive_seq_halves)
{
	/* Passive opens with the peer's ISN in either half of the sequence
	 * space and data crossing 2^31 and 2^32 (regression: the advertised
	 * edge once started at 0 and stuck). */
	static const uint32_t isns[] = { 0x7ffffff0u, 0xfffffff0u, 0x10u };
	for (size_t k = 0; k < 3; k++) {
		if (k) {
			tcph_fini(&h);
			tcph_init(&h, 1 << 16);
		}
		struct dn_tcp_conn *l;
		struct dn_tcp_conn *c = tcph_passive_open(&h, 80, isns[k], 0, &l);
		uint8_t d[100];
		for (size_t i = 0; i < sizeof d; i++)
			d[i] = pat(i);
		for (int n = 0; n < 3; n++)
			tcph_peer_data(&h, d, sizeof d);
		uint8_t r[400];
		ck_assert_uint_eq(tcph_app_read(&h, r, sizeof r), 300);
		ck_assert(memcmp(r + 200, d, 100) == 0);
		ck_assert_uint_eq(c->rcv_nxt, isns[k] + 301);
		dn_tcp_close(l);
	}
}
END_TEST

START_TEST(test_tcp_seq_wrap_send)
{
	uint32_t iss = 0xffffffffu - 1000;
	struct dn_tcp_conn *c = tcph_active_open_ex(&h, 5000, 0, 65535, 1460, iss);
	ck_assert_uint_eq(h.peer_ack, iss + 1);
	static uint8_t d[4000];
	for (size_t i = 0; i < sizeof d; i++)
		d[i] = pat(i);
	tcph_app_write(&h, d, sizeof d);
	dn_tcp_output_kick(c);
	struct tcph_out o;
	uint32_t seq = iss + 1;
	size_t off = 0;
	while (tcph_next(&h, &o)) {
		ck_assert_uint_eq(o.seq, seq);
		ck_assert(memcmp(o.data, d + off, o.len) == 0);
		seq += (uint32_t)o.len;
		off += o.len;
	}
	/* Two full segments; Nagle holds the short tail until an ACK. */
	ck_assert_uint_eq(off, 2920);
	ck_assert_uint_lt(seq, iss);   /* already wrapped past zero */
	tcph_peer_ack(&h, iss + 1 + 2920, 65535);
	ck_assert_uint_eq(dn_ring_writable(&h.tx.a), h.ring_size - (4000 - 2920));
	ck_assert(tcph_next(&h, &o));
	ck_assert_uint_eq(o.seq, seq);
	ck_assert_uint_eq(o.len, 4000 - 2920);
	ck_assert(memcmp(o.data, d + 2920, o.len) == 0);
	seq += (uint32_t)o.len;
	tcph_peer_ack(&h, seq, 65535);
	ck_assert_uint_eq(dn_ring_writable(&h.tx.a), h.ring_size);
	ck_assert_uint_eq(c->snd_una, seq);
	ck_assert(!dn_tcp_timer_on(c, DN_TCP_T_RTX));
	/* An ACK from before the wrap is a duplicate, not new data. */
	tcph_peer_ack(&h, iss + 10, 65535);
	ck_assert_uint_eq(c->snd_una, seq);
}
END_TEST

START_TEST(test_tcp_zero_window_persist)
{
	struct dn_tcp_conn *c = tcph_active_open(&h, 5000, 0, 0);
	tcph_app_write(&h, "0123456789", 10);
	dn_tcp_output_kick(c);
	ck_assert_int_eq(tcph_pending(&h), 0);   /* window is zero */
	ck_assert(dn_tcp_timer_on(c, DN_TCP_T_PERSIST));
	tcph_advance(&h, c->rto_us > 200000 ? c->rto_us : 200000);
	struct tcph_out o;
	ck_assert(tcph_next(&h, &o));           /* window probe */
	ck_assert_uint_eq(o.len, 0);
	ck_assert_uint_eq(o.seq, h.peer_ack - 1);
	ck_assert_uint_eq(tcph_ctr(&h, DN_TCP_C_PERSIST_PROBES), 1);
	tcph_peer_ack(&h, h.peer_ack, 0);       /* still closed */
	tcph_advance(&h, 10000000);
	ck_assert_int_ge(tcph_pending(&h), 2);  /* probing goes on */
	ck_assert_int_eq(h.n_reset, 0);
	tcph_drain(&h);
	tcph_peer_ack(&h, h.peer_ack, 1000);    /* opens */
	ck_assert(tcph_next(&h, &o));
	ck_assert_uint_eq(o.len, 10);
	ck_assert(memcmp(o.data, "0123456789", 10) == 0);
	ck_assert(!dn_tcp_timer_on(c, DN_TCP_T_PERSIST));
}
END_TEST

START_TEST(test_tcp_receive_window_fills_and_updates)
{
	struct dn_tcp_conn *c = tcph_active_open(&h, 5000, 0, 65535);
	(void)c;
	uint8_t d[1024];
	memset(d, 'x', sizeof d);
	for (int i = 0; i < 4; i++)
		tcph_peer_data(&h, d, sizeof d);
	struct tcph_out o, last;
	while (tcph_next(&h, &o))
		last = o;
	ck_assert_uint_eq(last.wnd, 0);
	ck_assert_uint_eq(last.ack, h.peer_seq);
	/* Data beyond a zero window: dropped, answered with an ACK. */
	tcph_peer_data(&h, "y", 1);
	ck_assert(tcph_next(&h, &o));
	ck_assert_uint_eq(o.wnd, 0);
	ck_assert_uint_eq(o.ack, h.peer_seq - 1);
	h.peer_seq--;
	/* Reading a little does not reopen it (receiver SWS)... */
	uint8_t r[4096];
	ck_assert_uint_eq(tcph_app_read(&h, r, 100), 100);
	dn_tcp_output_kick(c);
	ck_assert(!tcph_next(&h, &o));
	/* ...reading it all does. */
	ck_assert_uint_eq(tcph_app_read(&h, r, sizeof r), 4096 - 100);
	dn_tcp_output_kick(c);
	ck_assert(tcph_next(&h, &o));
	ck_assert_uint_eq(o.wnd, 4096);
}
END_TEST

START_TEST(test_tcp_window_scaling_applied)
{
	struct dn_tcp_conn *c = tcph_active_open(&h, 5000, 1, 65535);
	tcph_peer_ack(&h, h.peer_ack, 100);
	ck_assert_uint_eq(c->snd_wnd, 100u << 7);
	tcph_peer_data(&h, "abc", 3);
	tcph_advance(&h, 100000);
	struct tcph_out o;
	ck_assert(tcph_next(&h, &o));
	/* 64 KiB ring, scale 1: the field is the free space / 2, rounded
	 * up so the right edge does not move left (RFC 7323 2.4). */
	ck_assert_int_eq(c->rcv_wscale, 1);
	ck_assert_uint_eq(o.wnd, (65536 - 3 + 1) >> 1);
}
END_TEST

START_TEST(test_tcp_nagle)
{
	struct dn_tcp_conn *c = tcph_active_open(&h, 5000, 0, 65535);
	struct tcph_out o;
	tcph_app_write(&h, "a", 1);
	dn_tcp_output_kick(c);
	ck_assert(tcph_next(&h, &o));
	ck_assert_uint_eq(o.len, 1);
	tcph_app_write(&h, "b", 1);
	dn_tcp_output_kick(c);
	ck_assert(!tcph_next(&h, &o));           /* held: "a" unacked */
	tcph_app_write(&h, "c", 1);
	dn_tcp_output_kick(c);
	ck_assert(!tcph_next(&h, &o));
	tcph_peer_ack(&h, h.peer_ack + 1, 65535);
	ck_assert(tcph_next(&h, &o));
	ck_assert_uint_eq(o.len, 2);             /* coalesced */
	ck_assert(memcmp(o.data, "bc", 2) == 0);
	dn_tcp_set_nodelay(c, 1);
	tcph_app_write(&h, "d", 1);
	dn_tcp_output_kick(c);
	ck_assert(tcph_next(&h, &o));
	ck_assert_uint_eq(o.len, 1);
}
END_TEST

START_TEST(test_tcp_delayed_ack_piggybacked)
{
	struct dn_tcp_conn *c = tcph_active_open(&h, 5000, 0, 65535);
	tcph_peer_data(&h, "req", 3);
	struct tcph_out o;
	ck_assert(!tcph_next(&h, &o));
	tcph_app_write(&h, "resp", 4);
	dn_tcp_output_kick(c);
	ck_assert(tcph_next(&h, &o));
	ck_assert_uint_eq(o.len, 4);
	ck_assert_uint_eq(o.ack, h.peer_seq);
	tcph_advance(&h, 100000);
	ck_assert(!tcph_next(&h, &o));   /* no separate delayed ACK */
}
END_TEST

START_TEST(test_tcp_fast_retransmit_newreno)
{
	h.st.tcp.conf.cc = DN_TCP_CC_NEWRENO;
	struct dn_tcp_conn *c = tcph_active_open(&h, 5000, 0, 65535);
	static uint8_t d[8 * 1460];
	for (size_t i = 0; i < sizeof d; i++)
		d[i] = pat(i);
	tcph_app_write(&h, d, sizeof d);
	dn_tcp_output_kick(c);
	ck_assert_int_eq(tcph_pending(&h), 8);
	tcph_drain(&h);
	uint32_t una = h.peer_ack;
	/* Segment 1 lost; 2..4 arrive: three duplicate ACKs. */
	for (int i = 0; i < 3; i++)
		tcph_peer_ack(&h, una, 65535);
	struct tcph_out o;
	ck_assert(tcph_next(&h, &o));
	ck_assert_uint_eq(o.seq, una);
	ck_assert_uint_eq(o.len, 1460);
	ck_assert(memcmp(o.data, d, 1460) == 0);
	ck_assert_uint_eq(tcph_ctr(&h, DN_TCP_C_FAST_RETRANS), 1);
	/* RFC 5681 eq. 4 (NewReno): ssthresh = FlightSize / 2. */
	ck_assert_uint_eq(c->ssthresh, 8 * 1460 / 2);
	ck_assert_uint_eq(c->cwnd, c->ssthresh + 3 * 1460);
	tcph_drain(&h);
	/* Partial ACK (segments 1-2): resend segment 3 at once. */
	tcph_peer_ack(&h, una + 2 * 1460, 65535);
	ck_assert(tcph_next(&h, &o));
	ck_assert_uint_eq(o.seq, una + 2 * 1460);
	tcph_drain(&h);
	/* Full ACK ends recovery. */
	tcph_peer_ack(&h, una + 8 * 1460, 65535);
	ck_assert(!(c->flags & DN_TCPF_RECOVERY));
	ck_assert_uint_le(c->cwnd, c->ssthresh);
}
END_TEST

START_TEST(test_tcp_sack_recovery)
{
	h.st.tcp.conf.cc = DN_TCP_CC_CUBIC;
	struct dn_tcp_conn *c = tcph_active_open(&h, 5000, 4, 65535);
	ck_assert(c->flags & DN_TCPF_SACK);
	static uint8_t d[10 * 1460];
	for (size_t i = 0; i < sizeof d; i++)
		d[i] = pat(i);
	tcph_app_write(&h, d, sizeof d);
	dn_tcp_output_kick(c);
	ck_assert_int_eq(tcph_pending(&h), 10);
	tcph_drain(&h);
	uint32_t una = h.peer_ack;
	uint32_t cwnd_before = c->cwnd;
	/* One ACK SACKing segments 2-4: more than 2*SMSS above una is
	 * SACKed, so segment 1 is lost (RFC 6675 IsLost). */
	uint8_t opt[12] = { 1, 1, 5, 10 };
	dn_put32(opt + 4, una + 1460);
	dn_put32(opt + 8, una + 4 * 1460);
	struct tcph_seg s = { .seq = h.peer_seq, .ack = una, .flags = DN_TH_ACK,
			      .wnd = 65535, .opt = opt, .optlen = 12 };
	tcph_send(&h, &s);
	struct tcph_out o;
	ck_assert(tcph_next(&h, &o));
	ck_assert_uint_eq(o.seq, una);
	ck_assert_uint_eq(o.len, 1460);
	ck_assert_uint_eq(tcph_ctr(&h, DN_TCP_C_SACK_RECOVERIES), 1);
	/* CUBIC: ssthresh = 0.7 * cwnd (RFC 9438 4.6). */
	ck_assert_uint_eq(c->ssthresh, (uint32_t)(cwnd_before * 0.7));
	ck_assert(!tcph_next(&h, &o) || o.seq != una + 1460);  /* not SACKed ones */
	tcph_drain(&h);
	tcph_peer_ack(&h, una + 10 * 1460, 65535);
	ck_assert(!(c->flags & DN_TCPF_RECOVERY));
	ck_assert_uint_eq(c->nsb, 0);
}
END_TEST

START_TEST(test_tcp_keepalive)
{
	h.st.tcp.conf.keepalive_idle_us = 10000000;
	h.st.tcp.conf.keepalive_intvl_us = 1000000;
	h.st.tcp.conf.keepalive_probes = 3;
	struct dn_tcp_conn *c = tcph_active_open(&h, 5000, 0, 65535);
	dn_tcp_set_keepalive(c, 1);
	tcph_advance(&h, 10000000);
	struct tcph_out o;
	ck_assert(tcph_next(&h, &o));
	ck_assert_uint_eq(o.seq, h.peer_ack - 1);
	ck_assert_uint_eq(o.len, 0);
	tcph_peer_ack(&h, h.peer_ack, 65535);   /* alive */
	tcph_advance(&h, 5000000);
	ck_assert(!tcph_next(&h, &o));
	tcph_advance(&h, 5000000);
	ck_assert(tcph_next(&h, &o));           /* idle again: probe */
	tcph_advance(&h, 3000000);               /* two more, unanswered */
	ck_assert_int_eq(h.n_reset, 1);
	ck_assert_int_eq(h.reset_err, ETIMEDOUT);
	ck_assert_uint_eq(tcph_ctr(&h, DN_TCP_C_KEEPALIVE_TIMEOUTS), 1);
	dn_tcp_close(c);
}
END_TEST

static uint32_t syn_from(uint16_t port, uint32_t isn, bool mss)
{
	uint8_t opt[4] = { 2, 4, 0x05, 0xb4 };
	struct tcph_seg s = { .seq = isn, .flags = DN_TH_SYN, .wnd = 65535,
			      .sport = port, .opt = mss ? opt : NULL,
			      .optlen = mss ? 4 : 0 };
	tcph_send(&h, &s);
	struct tcph_out o;
	if (!tcph_next(&h, &o))
		return 0;
	ck_assert_int_eq(o.flags, DN_TH_SYN | DN_TH_ACK);
	return o.seq;
}

START_TEST(test_tcp_syn_cookies)
{
	h.st.tcp.conf.syncookies = 2;
	int err;
	struct dn_tcp_conn *l = dn_tcp_listen(&h.st, 0, 80, 8, &h, &err);
	uint32_t cookie = syn_from(1234, 777, true);
	ck_assert_uint_ne(cookie, 0);
	ck_assert_uint_eq(h.st.tcp.nconns, 1);   /* no state kept */
	ck_assert_uint_eq(tcph_ctr(&h, DN_TCP_C_SYNCOOKIES_SENT), 1);
	/* A forged ACK: RST. */
	struct tcph_seg bad = { .seq = 778, .ack = cookie + 2, .flags = DN_TH_ACK,
				.wnd = 1000, .sport = 1234 };
	tcph_send(&h, &bad);
	struct tcph_out o;
	ck_assert(tcph_next(&h, &o));
	ck_assert(o.flags & DN_TH_RST);
	ck_assert_uint_eq(tcph_drop(&h, DN_TCP_DROP_BAD_COOKIE), 1);
	/* The right ACK, with data: connection made, data kept. */
	struct tcph_seg a = { .seq = 778, .ack = cookie + 1, .flags = DN_TH_ACK,
			      .wnd = 1000, .sport = 1234, .data = "hi", .len = 2 };
	tcph_send(&h, &a);
	ck_assert_uint_eq(tcph_ctr(&h, DN_TCP_C_SYNCOOKIES_OK), 1);
	ck_assert_int_eq(h.n_accept_ready, 1);
	struct dn_tcp_conn *c = dn_tcp_accept(l, &h);
	ck_assert_ptr_nonnull(c);
	ck_assert_int_eq(dn_tcp_state(c), DN_TCP_ESTABLISHED);
	char b[4];
	ck_assert_uint_eq(tcph_app_read(&h, b, sizeof b), 2);
	struct dn_tcp_conn_info i;
	dn_tcp_get_info(c, &i);
	ck_assert_uint_eq(i.mss, 1460);
	dn_tcp_abort(c);
	dn_tcp_close(l);
}
END_TEST

START_TEST(test_tcp_syn_queue_full_uses_cookies)
{
	int err;
	struct dn_tcp_conn *l = dn_tcp_listen(&h.st, 0, 80, 8, &h, &err);
	for (int i = 0; i < 8; i++)
		ck_assert_uint_ne(syn_from((uint16_t)(2000 + i), 100, true), 0);
	ck_assert_uint_eq(l->synq_len, 8);
	ck_assert_uint_eq(tcph_ctr(&h, DN_TCP_C_SYNCOOKIES_SENT), 0);
	ck_assert_uint_ne(syn_from(3000, 100, true), 0);
	ck_assert_uint_eq(tcph_ctr(&h, DN_TCP_C_SYNCOOKIES_SENT), 1);
	ck_assert_uint_eq(h.st.tcp.nconns, 9);
	h.st.tcp.conf.syncookies = 0;
	ck_assert_uint_eq(syn_from(3001, 100, true), 0);
	ck_assert_uint_eq(tcph_drop(&h, DN_TCP_DROP_SYN_QUEUE_FULL), 1);
	dn_tcp_close(l);
	ck_assert_uint_eq(h.st.tcp.nconns, 0);
}
END_TEST

START_TEST(test_tcp_accept_queue_full)
{
	int err;
	struct dn_tcp_conn *l = dn_tcp_listen(&h.st, 0, 80, 1, &h, &err);
	uint32_t isn = syn_from(1000, 50, true);
	struct tcph_seg a = { .seq = 51, .ack = isn + 1, .flags = DN_TH_ACK,
			      .wnd = 1000, .sport = 1000 };
	tcph_send(&h, &a);
	ck_assert_int_eq(l->aq_len, 1);
	ck_assert_uint_eq(syn_from(1001, 50, true), 0);
	ck_assert_uint_eq(tcph_drop(&h, DN_TCP_DROP_ACCEPT_QUEUE_FULL), 1);
	/* Closing the listener resets the unaccepted connection. */
	tcph_drain(&h);
	dn_tcp_close(l);
	struct tcph_out o;
	ck_assert(tcph_next(&h, &o));
	ck_assert(o.flags & DN_TH_RST);
	ck_assert_uint_eq(o.dport, 1000);
	ck_assert_int_eq(h.n_freed, 2);   /* child (had rings) + listener */
	ck_assert_uint_eq(h.st.tcp.nconns, 0);
}
END_TEST

START_TEST(test_tcp_attach_refused_resets)
{
	int err;
	h.refuse_attach = true;
	struct dn_tcp_conn *l = dn_tcp_listen(&h.st, 0, 80, 4, &h, &err);
	uint32_t isn = syn_from(1000, 50, true);
	struct tcph_seg a = { .seq = 51, .ack = isn + 1, .flags = DN_TH_ACK,
			      .wnd = 1000, .sport = 1000 };
	tcph_send(&h, &a);
	struct tcph_out o;
	ck_assert(tcph_next(&h, &o));
	ck_assert(o.flags & DN_TH_RST);
	ck_assert_int_eq(h.n_accept_ready, 0);
	ck_assert_uint_eq(h.st.tcp.nconns, 1);
	dn_tcp_close(l);
}
END_TEST

START_TEST(test_tcp_mss_clamped_to_peer)
{
	struct dn_tcp_conn *c = tcph_active_open_ex(&h, 5000, 0, 65535, 536, 0);
	static uint8_t d[3000];
	tcph_app_write(&h, d, sizeof d);
	dn_tcp_output_kick(c);
	struct tcph_out o;
	int n = 0;
	while (tcph_next(&h, &o)) {
		ck_assert_uint_le(o.len, 536);
		n++;
	}
	ck_assert_int_eq(n, 5);          /* the 320-byte tail waits (Nagle) */
	tcph_peer_ack(&h, h.peer_ack + 5 * 536, 65535);
	ck_assert(tcph_next(&h, &o));
	ck_assert_uint_eq(o.len, 3000 - 5 * 536);
}
END_TEST

START_TEST(test_tcp_mss_clamped_to_our_mtu)
{
	h.st.conf.mtu = 576;
	struct dn_tcp_conn *c = tcph_active_open_ex(&h, 5000, 0, 65535, 1460, 0);
	struct dn_tcp_conn_info i;
	dn_tcp_get_info(c, &i);
	ck_assert_uint_eq(i.mss, 536);
}
END_TEST

START_TEST(test_tcp_repeated_syn_gets_syn_ack)
{
	int err;
	struct dn_tcp_conn *l = dn_tcp_listen(&h.st, 0, 80, 4, &h, &err);
	uint32_t a = syn_from(1000, 50, true);
	uint32_t b = syn_from(1000, 50, true);
	ck_assert_uint_eq(a, b);
	ck_assert_uint_eq(h.st.tcp.nconns, 2);
	dn_tcp_close(l);
}
END_TEST

START_TEST(test_tcp_synack_retransmitted)
{
	int err;
	struct dn_tcp_conn *l = dn_tcp_listen(&h.st, 0, 80, 4, &h, &err);
	uint32_t a = syn_from(1000, 50, true);
	tcph_advance(&h, 1000000);
	struct tcph_out o;
	ck_assert(tcph_next(&h, &o));
	ck_assert_int_eq(o.flags, DN_TH_SYN | DN_TH_ACK);
	ck_assert_uint_eq(o.seq, a);
	/* After syn_retries the half-open connection goes quietly. */
	tcph_advance(&h, 200000000);
	ck_assert_uint_eq(h.st.tcp.nconns, 1);
	ck_assert_uint_eq(l->synq_len, 0);
	dn_tcp_close(l);
}
END_TEST

START_TEST(test_tcp_cubic_grows_after_loss)
{
	h.st.tcp.conf.cc = DN_TCP_CC_CUBIC;
	struct dn_tcp_conn *c = tcph_active_open(&h, 5000, 0, 65535);
	c->ssthresh = 10 * c->mss;   /* start in congestion avoidance */
	c->cwnd = 10 * c->mss;
	uint32_t before = c->cwnd;
	for (int i = 0; i < 50; i++) {
		c->cc->on_ack(c, c->mss, 10000);
		h.st.now_us += 10000;
	}
	ck_assert_uint_gt(c->cwnd, before);
	uint32_t ss = c->cc->ssthresh(c);
	ck_assert_uint_lt(ss, c->cwnd);
}
END_TEST

START_TEST(test_tcp_idle_restart_window)
{
	struct dn_tcp_conn *c = tcph_active_open(&h, 5000, 0, 65535);
	static uint8_t d[20 * 1460];
	tcph_app_write(&h, d, sizeof d);
	dn_tcp_output_kick(c);
	struct tcph_out o;
	uint32_t top = 0;
	/* Ack everything as it comes: slow start grows cwnd past IW. */
	for (int round = 0; round < 10 && c->snd_una != c->snd_max; round++) {
		while (tcph_next(&h, &o))
			top = o.seq + (uint32_t)o.len;
		tcph_peer_ack(&h, top, 65535);
	}
	ck_assert_uint_eq(c->snd_una, c->snd_max);
	ck_assert_uint_eq(dn_ring_writable(&h.tx.a), h.ring_size);
	ck_assert_uint_gt(c->cwnd, 10u * 1460);
	/* Idle for longer than the RTO: RFC 5681 4.1 restart window. */
	tcph_advance(&h, c->rto_us + 1000000);
	tcph_drain(&h);
	tcph_app_write(&h, d, sizeof d);
	dn_tcp_output_kick(c);
	ck_assert_int_eq(tcph_pending(&h), 10);
}
END_TEST

START_TEST(test_tcp_ring_corruption_contained)
{
	/* The app owns the other index of each ring and may write garbage:
	 * TCP must notice, count it and not read or write out of bounds. */
	struct dn_tcp_conn *c = tcph_active_open(&h, 5000, 0, 65535);
	atomic_store(&h.tx.sh->tail, (uint64_t)1 << 40);
	dn_tcp_output_kick(c);
	ck_assert_int_eq(tcph_pending(&h), 0);
	ck_assert_uint_ge(tcph_ctr(&h, DN_TCP_C_RING_CORRUPT), 1);
	atomic_store(&h.rx.sh->head, (uint64_t)1 << 41);
	tcph_peer_data(&h, "abc", 3);
	ck_assert_uint_ge(tcph_ctr(&h, DN_TCP_C_RING_CORRUPT), 2);
	struct dn_tcp_conn_info i;
	dn_tcp_get_info(c, &i);   /* introspection copes too */
	dn_tcp_abort(c);
}
END_TEST

START_TEST(test_tcp_info_queues)
{
	struct dn_tcp_conn *c = tcph_active_open(&h, 5000, 0, 65535);
	tcph_peer_data(&h, "xyz", 3);
	tcph_app_write(&h, "0123456789", 10);   /* no kick yet */
	struct dn_tcp_conn_info i;
	dn_tcp_get_info(c, &i);
	ck_assert_uint_eq(i.send_q, 10);
	ck_assert_uint_eq(i.unsent, 10);
	dn_tcp_output_kick(c);
	dn_tcp_get_info(c, &i);
	ck_assert_uint_eq(i.send_q, 10);
	ck_assert_uint_eq(i.unsent, 0);
	ck_assert_uint_eq(i.recv_q, 3);
	ck_assert_ptr_eq(i.owner, &h);
	ck_assert_int_eq(i.cc, DN_TCP_CC_CUBIC);
	ck_assert_uint_eq(i.rto_us, c->rto_us);
}
END_TEST

Suite *tcp_flow_suite(void)
{
	Suite *s = suite_create("tcp_flow");
	TCase *tc = tcase_create("flow");
	tcase_set_timeout(tc, 30);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_tcp_seq_wrap_receive);
	tcase_add_test(tc, test_tcp_seq_wrap_send);
	tcase_add_test(tc, test_tcp_passive_seq_halves);
	tcase_add_test(tc, test_tcp_zero_window_persist);
	tcase_add_test(tc, test_tcp_window_scaling_applied);
	tcase_add_test(tc, test_tcp_nagle);
	tcase_add_test(tc, test_tcp_delayed_ack_piggybacked);
	tcase_add_test(tc, test_tcp_fast_retransmit_newreno);
	tcase_add_test(tc, test_tcp_sack_recovery);
	tcase_add_test(tc, test_tcp_keepalive);
	tcase_add_test(tc, test_tcp_syn_cookies);
	tcase_add_test(tc, test_tcp_syn_queue_full_uses_cookies);
	tcase_add_test(tc, test_tcp_accept_queue_full);
	tcase_add_test(tc, test_tcp_attach_refused_resets);
	tcase_add_test(tc, test_tcp_mss_clamped_to_peer);
	tcase_add_test(tc, test_tcp_mss_clamped_to_our_mtu);
	tcase_add_test(tc, test_tcp_repeated_syn_gets_syn_ack);
	tcase_add_test(tc, test_tcp_synack_retransmitted);
	tcase_add_test(tc, test_tcp_cubic_grows_after_loss);
	tcase_add_test(tc, test_tcp_idle_restart_window);
	tcase_add_test(tc, test_tcp_ring_corruption_contained);
	tcase_add_test(tc, test_tcp_info_queues);
	suite_add_tcase(s, tc);
	TCase *tc2 = tcase_create("small_ring");
	tcase_set_timeout(tc2, 30);
	tcase_add_checked_fixture(tc2, setup_small, teardown);
	tcase_add_test(tc2, test_tcp_receive_window_fills_and_updates);
	suite_add_tcase(s, tc2);
	return s;
}
