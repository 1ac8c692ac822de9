/*
 * RACK-TLP (RFC 8985, daemon/stack/tcp_rack.c) with crafted segments on a
 * virtual clock; also the tcp_ counter names and dn_tcp_kill's counting.
 */
#include <check.h>
#include <errno.h>
#include <string.h>

#include "tcp_harness.h"
#include "tcpsock.h"

static struct tcph h;

static void setup(void) { tcph_init(&h, 1 << 16); }
static void teardown(void) { tcph_fini(&h); }

#define MSS 1460u

/* A SACK-only connection (no timestamps: RTT from the segment timing)
 * with an RTT sample of 10 ms, then nsegs full segments written, the
 * first cwnd (11 segments) of them sent at now. */
static struct dn_tcp_conn *open_and_send(unsigned nsegs)
{
	struct dn_tcp_conn *c = tcph_active_open(&h, 5000, 4, 65535);
	ck_assert(c->flags & DN_TCPF_SACK);
	static uint8_t d[32 * MSS];
	ck_assert_uint_le(nsegs, 32);
	tcph_app_write(&h, d, MSS);
	dn_tcp_output_kick(c);
	tcph_drain(&h);
	tcph_advance(&h, 10000);
	tcph_peer_ack(&h, c->snd_max, 65535);
	tcph_drain(&h);
	ck_assert_uint_eq(c->srtt_us, 10000);
	for (size_t i = 0; i < nsegs * MSS; i++)
		d[i] = (uint8_t)(i * 7);
	tcph_app_write(&h, d, nsegs * MSS);
	dn_tcp_output_kick(c);
	return c;
}

/* The peer's ACK of ack with SACK blocks [l, r) given in segment numbers
 * (segment 0 starts at una). */
static void sack_ack(uint32_t una, uint32_t ack, int n, const unsigned *blk)
{
	uint8_t opt[4 + 8 * 4] = { 1, 1, 5, (uint8_t)(2 + 8 * n) };
	for (int i = 0; i < n; i++) {
		dn_put32(opt + 4 + 8 * i, una + blk[2 * i] * MSS);
		dn_put32(opt + 8 + 8 * i, una + blk[2 * i + 1] * MSS);
	}
	struct tcph_seg s = { .seq = h.peer_seq, .ack = ack, .flags = DN_TH_ACK,
			      .wnd = 65535, .opt = opt,
			      .optlen = (size_t)(4 + 8 * n) };
	tcph_send(&h, &s);
}

/* Next data segment sent; fails if none. */
static struct tcph_out next_data(void)
{
	struct tcph_out o;
	for (;;) {
		ck_assert_msg(tcph_next(&h, &o), "no segment sent");
		if (o.len || (o.flags & DN_TH_FIN))
			return o;
	}
}

START_TEST(test_tcp_rack_marks_lost_after_later_delivery)
{
	struct dn_tcp_conn *c = open_and_send(10);
	ck_assert_int_eq(tcph_pending(&h), 10);
	tcph_drain(&h);
	uint32_t una = c->snd_una;
	tcph_advance(&h, 1000);
	/* Segments 1-3 delivered, all sent with segment 0 and after it in
	 * sequence: 0 is lost (3 SACKed: no reordering window). */
	unsigned b1[] = { 1, 4 };
	sack_ack(una, una, 1, b1);
	ck_assert(c->flags & DN_TCPF_RECOVERY);
	ck_assert_uint_eq(tcph_ctr(&h, DN_TCP_C_RACK_LOST), 1);
	struct tcph_out o = next_data();
	ck_assert_uint_eq(o.seq, una);
	ck_assert_uint_eq(o.len, MSS);
	/* Segments 4.. were not marked: nothing after them was delivered. */
	ck_assert(!tcph_next(&h, &o) || o.seq != una + 4 * MSS);
}
END_TEST

START_TEST(test_tcp_rack_marks_lost_retransmission)
{
	struct dn_tcp_conn *c = open_and_send(16);
	tcph_drain(&h);
	uint32_t una = c->snd_una;
	uint32_t sent = c->snd_max;
	tcph_advance(&h, 1000);
	unsigned b1[] = { 1, 4 };
	sack_ack(una, una, 1, b1);          /* t=1ms: segment 0 resent */
	struct tcph_out o = next_data();
	ck_assert_uint_eq(o.seq, una);
	tcph_drain(&h);
	tcph_advance(&h, 1000);
	/* t=2ms: everything first sent is SACKed; new data goes out now,
	 * after the retransmission. */
	unsigned b2[] = { 1, (sent - una) / MSS };
	sack_ack(una, una, 1, b2);
	ck_assert_uint_eq(c->snd_una, una);
	ck_assert(DN_SEQ_GT(c->snd_max, sent));
	uint32_t max2 = c->snd_max;
	tcph_drain(&h);
	ck_assert_uint_eq(tcph_ctr(&h, DN_TCP_C_RACK_LOST), 1);
	tcph_advance(&h, 1000);
	/* t=3ms: new data sent at 2ms is SACKed but the retransmission from
	 * 1ms is still missing: it was lost too.  Resent now, no RTO. */
	unsigned b3[] = { 1, (max2 - una) / MSS };
	sack_ack(una, una, 1, b3);
	ck_assert_uint_eq(tcph_ctr(&h, DN_TCP_C_RACK_LOST), 2);
	o = next_data();
	ck_assert_uint_eq(o.seq, una);
	ck_assert_uint_eq(o.len, MSS);
	ck_assert_uint_eq(tcph_ctr(&h, DN_TCP_C_RTO_FIRED), 0);
	/* Its ACK ends the episode. */
	tcph_drain(&h);
	tcph_peer_ack(&h, max2, 65535);
	ck_assert(!(c->flags & DN_TCPF_RECOVERY));
	ck_assert_uint_eq(c->rack.nrec, (uint16_t)((c->snd_max - max2) / MSS));
}
END_TEST

START_TEST(test_tcp_rack_reordering_window_timer)
{
	struct dn_tcp_conn *c = open_and_send(4);
	tcph_drain(&h);
	uint32_t una = c->snd_una;
	/* An RTT sample of 4 ms for segment 0 (min RTT 4 ms). */
	tcph_advance(&h, 4000);
	tcph_peer_ack(&h, una + MSS, 65535);
	tcph_drain(&h);
	ck_assert_uint_eq(c->rack.min_rtt_us, 4000);
	/* Segment 2 SACKed, 1 missing: one SACKed segment is not enough to
	 * skip the reordering window (min RTT / 4 = 1 ms, RFC 8985 6.2). */
	unsigned b[] = { 2, 3 };
	sack_ack(una, una + MSS, 1, b);
	ck_assert(!(c->flags & DN_TCPF_RECOVERY));
	ck_assert_uint_eq(tcph_ctr(&h, DN_TCP_C_RACK_LOST), 0);
	ck_assert_uint_eq(c->rack.rtx_kind, DN_TCP_RTX_REO);
	ck_assert_int_eq(tcph_pending(&h), 0);
	/* The reordering timer marks it lost and recovery resends it. */
	tcph_advance(&h, 2000);
	ck_assert_uint_eq(tcph_ctr(&h, DN_TCP_C_RACK_REO_TIMEOUTS), 1);
	ck_assert_uint_eq(tcph_ctr(&h, DN_TCP_C_RACK_LOST), 1);
	ck_assert(c->flags & DN_TCPF_RECOVERY);
	struct tcph_out o = next_data();
	ck_assert_uint_eq(o.seq, una + MSS);
	ck_assert_uint_eq(tcph_ctr(&h, DN_TCP_C_RTO_FIRED), 0);
}
END_TEST

START_TEST(test_tcp_tlp_fires_after_pto)
{
	struct dn_tcp_conn *c = open_and_send(4);
	ck_assert_int_eq(tcph_pending(&h), 4);
	tcph_drain(&h);
	uint32_t una = c->snd_una;
	ck_assert_uint_eq(c->rack.rtx_kind, DN_TCP_RTX_PTO);
	uint64_t pto = 2 * c->srtt_us + 2000;   /* 7.2, more than one segment */
	if (pto > c->rto_us)
		pto = c->rto_us;
	ck_assert_uint_lt(pto, c->rto_us);
	tcph_advance(&h, pto - 1000);
	ck_assert_int_eq(tcph_pending(&h), 0);
	tcph_advance(&h, 2000);
	/* No new data: the last segment again (7.3). */
	ck_assert_uint_eq(tcph_ctr(&h, DN_TCP_C_TLP_PROBES), 1);
	struct tcph_out o = next_data();
	ck_assert_uint_eq(o.seq, una + 3 * MSS);
	ck_assert_uint_eq(o.len, MSS);
	ck_assert_int_eq(tcph_pending(&h), 0);
	ck_assert(c->rack.tlp_inflight);
	ck_assert_uint_eq(c->rack.rtx_kind, DN_TCP_RTX_RTO);
	/* Its ACK, an RTT later (sooner would be ambiguous: RFC 8985 6.1
	 * step 2), SACKs the probe: RACK finds 0-2 lost at once. */
	tcph_advance(&h, 10000);
	unsigned b[] = { 3, 4 };
	sack_ack(una, una, 1, b);
	ck_assert(c->flags & DN_TCPF_RECOVERY);
	ck_assert_uint_eq(tcph_ctr(&h, DN_TCP_C_RACK_LOST), 3);
	o = next_data();
	ck_assert_uint_eq(o.seq, una);
	ck_assert_uint_eq(tcph_ctr(&h, DN_TCP_C_RTO_FIRED), 0);
}
END_TEST

START_TEST(test_tcp_tlp_sends_new_data_then_rto)
{
	struct dn_tcp_conn *c = open_and_send(14);
	ck_assert_int_eq(tcph_pending(&h), 11);   /* the window */
	tcph_drain(&h);
	uint32_t top = c->snd_max;
	tcph_advance(&h, c->rto_us - 1000);
	/* 7.3: new data first, whatever cwnd says. */
	ck_assert_uint_eq(tcph_ctr(&h, DN_TCP_C_TLP_PROBES), 1);
	ck_assert_uint_eq(tcph_ctr(&h, DN_TCP_C_TLP_NEW_DATA), 1);
	struct tcph_out o = next_data();
	ck_assert_uint_eq(o.seq, top);
	ck_assert_int_eq(tcph_pending(&h), 0);
	/* One probe per episode; then the RTO, a full RTO after it. */
	tcph_advance(&h, c->rto_us + 1000);
	ck_assert_uint_eq(tcph_ctr(&h, DN_TCP_C_TLP_PROBES), 1);
	ck_assert_uint_eq(tcph_ctr(&h, DN_TCP_C_RTO_FIRED), 1);
	ck_assert(c->flags & DN_TCPF_LOSS);
}
END_TEST

START_TEST(test_tcp_rack_off_keeps_rfc6675)
{
	h.st.tcp.conf.rack = 0;
	struct dn_tcp_conn *c = open_and_send(10);
	tcph_drain(&h);
	ck_assert_ptr_null(c->rack.rec);
	uint32_t una = c->snd_una;
	/* Two SACKed segments: not lost by IsLost, and no RACK either. */
	unsigned b[] = { 1, 3 };
	sack_ack(una, una, 1, b);
	ck_assert(!(c->flags & DN_TCPF_RECOVERY));
	ck_assert_int_eq(tcph_pending(&h), 0);
	/* No probe timer either: the RTO. */
	tcph_advance(&h, c->rto_us + 1000);
	ck_assert_uint_eq(tcph_ctr(&h, DN_TCP_C_TLP_PROBES), 0);
	ck_assert_uint_eq(tcph_ctr(&h, DN_TCP_C_RTO_FIRED), 1);
}
END_TEST

START_TEST(test_tcp_rack_rto_keeps_sacked)
{
	struct dn_tcp_conn *c = open_and_send(6);
	tcph_drain(&h);
	uint32_t una = c->snd_una;
	/* 2-3 SACKed; then silence until the RTO. */
	unsigned b[] = { 2, 4 };
	sack_ack(una, una, 1, b);
	tcph_drain(&h);
	c->rack.tlp_inflight = true;   /* keep the probe out of the way */
	tcph_advance(&h, c->rto_us + 1000);
	ck_assert_uint_eq(tcph_ctr(&h, DN_TCP_C_RTO_FIRED), 1);
	ck_assert_uint_eq(c->nsb, 1);
	struct tcph_out o = next_data();
	ck_assert_uint_eq(o.seq, una);
	/* Go-back-N skips the SACKed segments 2-3 (RFC 8985 6.3). */
	tcph_drain(&h);
	tcph_peer_ack(&h, una + MSS, 65535);
	tcph_peer_ack(&h, una + 4 * MSS, 65535);
	bool saw4 = false;
	while (tcph_next(&h, &o)) {
		if (!o.len)
			continue;
		ck_assert_msg(o.seq != una + 2 * MSS && o.seq != una + 3 * MSS,
			      "SACKed segment resent after the RTO");
		saw4 |= o.seq == una + 4 * MSS;
	}
	ck_assert(saw4);
}
END_TEST

static void name_cb(const char *name, uint64_t v, void *arg)
{
	int *n = arg;
	(void)v;
	ck_assert_msg(strncmp(name, "tcp_", 4) == 0, "counter %s", name);
	if (strcmp(name, "tcp_rto_fired") == 0 ||
	    strcmp(name, "tcp_drop_paws") == 0 ||
	    strcmp(name, "tcp_tlp_probes") == 0)
		(*n)++;
}

START_TEST(test_tcp_counters_named_with_prefix)
{
	int n = 0;
	dn_tcp_counters_foreach(&h.st, name_cb, &n);
	ck_assert_int_eq(n, 3);
}
END_TEST

START_TEST(test_tcp_kill_counts_one_reset)
{
	tcph_active_open(&h, 5000, 4, 65535);
	uint64_t before = tcph_ctr(&h, DN_TCP_C_RESETS_OUT);
	ck_assert_uint_eq(dn_tcp_kill(&h.st, 0, 0, 0, 0), 1);
	ck_assert_uint_eq(tcph_ctr(&h, DN_TCP_C_RESETS_OUT), before + 1);
	struct tcph_out o;
	ck_assert(tcph_next(&h, &o));
	ck_assert(o.flags & DN_TH_RST);
}
END_TEST

Suite *tcp_rack_suite(void)
{
	Suite *s = suite_create("tcp_rack");
	TCase *tc = tcase_create("rack");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_tcp_rack_marks_lost_after_later_delivery);
	tcase_add_test(tc, test_tcp_rack_marks_lost_retransmission);
	tcase_add_test(tc, test_tcp_rack_reordering_window_timer);
	tcase_add_test(tc, test_tcp_tlp_fires_after_pto);
	tcase_add_test(tc, test_tcp_tlp_sends_new_data_then_rto);
	tcase_add_test(tc, test_tcp_rack_off_keeps_rfc6675);
	tcase_add_test(tc, test_tcp_rack_rto_keeps_sacked);
	tcase_add_test(tc, test_tcp_counters_named_with_prefix);
	tcase_add_test(tc, test_tcp_kill_counts_one_reset);
	suite_add_tcase(s, tc);
	return s;
}
