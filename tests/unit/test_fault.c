/* Fault injector: pass-through, determinism, and each impairment. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "fault.h"
#include "stack_harness.h"

#define NREC 20000

/* Receive-side sink: records the sequence number in each frame's first
 * 4 bytes and frees the frame through the capture io. */
struct rxrec {
	struct th_cap *cap;
	unsigned n;
	uint32_t seq[NREC];
	uint64_t at[NREC];
	uint16_t len[NREC];
	uint8_t byte[NREC][64];
	const uint64_t *clock;
};

static struct th_cap *cap;
static struct rxrec *rec;
static struct dn_fault *f;
static uint64_t now;

static void rx_deliver(void *ctx, void *frame, uint8_t *data, uint16_t len)
{
	struct rxrec *r = ctx;
	if (r->n < NREC) {
		r->seq[r->n] = dn_get32(data);
		r->at[r->n] = *r->clock;
		r->len[r->n] = len;
		memcpy(r->byte[r->n], data, len < 64 ? len : 64);
		r->n++;
	}
	th_io.release(r->cap, frame);
}

static void setup(void)
{
	cap = calloc(1, sizeof *cap);
	th_cap_init(cap);
	rec = calloc(1, sizeof *rec);
	rec->cap = cap;
	rec->clock = &now;
	f = calloc(1, sizeof *f);
	now = 0;
}

static void teardown(void)
{
	dn_fault_fini(f);
	/* Every frame came out, or was dropped and released. */
	ck_assert_int_eq(cap->outstanding, 0);
	free(f);
	free(rec);
	free(cap);
}

static void start(const struct dn_fault_conf *conf)
{
	struct dn_fault_hooks h = {
		.lower = &th_io,
		.lower_ctx = cap,
		.frame_data = th_frame_data,
		.rx_deliver = rx_deliver,
		.rx_ctx = rec,
		.now_us = &now,
	};
	dn_fault_init(f, conf, &h);
}

/* One 64-byte frame numbered seq into the rx side. */
static void rx_one(uint32_t seq)
{
	uint8_t *d;
	void *fr = th_frame_new(cap, &d);
	memset(d, 0, 64);
	dn_put32(d, seq);
	for (int i = 4; i < 64; i++)
		d[i] = (uint8_t)(seq + i);
	dn_fault_rx(f, fr, d, 64);
}

/* Same through the tx side (as the stack would, via dn_fault_io). */
static void tx_one(uint32_t seq, uint16_t len)
{
	uint8_t *d;
	uint16_t c;
	void *fr = dn_fault_io.alloc(f, &d, &c);
	memset(d, 0, len);
	dn_put32(d, seq);
	dn_fault_io.xmit(f, fr, len);
}

START_TEST(test_fault_off_passes_through)
{
	start(NULL);
	for (uint32_t i = 0; i < 100; i++)
		rx_one(i);
	for (uint32_t i = 0; i < 100; i++)
		tx_one(i, 60);
	ck_assert_uint_eq(rec->n, 100);
	for (uint32_t i = 0; i < 100; i++)
		ck_assert_uint_eq(rec->seq[i], i);
	ck_assert_uint_eq(cap->ntx, 100);
	ck_assert_uint_eq(dn_fault_poll(f), UINT64_MAX);
	ck_assert_uint_eq(f->rx.c.passed, 100);
	ck_assert_uint_eq(f->tx.c.passed, 100);
}
END_TEST

/* Run 2000 frames with every impairment on; returns a fingerprint. */
static uint64_t run_mixed(uint64_t seed)
{
	struct dn_fault_conf c = { .seed = seed };
	c.rx.loss = 0.1;
	c.rx.dup = 0.1;
	c.rx.reorder = 0.1;
	c.rx.delay_us = 100;
	c.rx.jitter_us = 300;
	c.rx.corrupt = 0.1;
	rec->n = 0;
	start(&c);
	for (uint32_t i = 0; i < 2000; i++) {
		now += 50;
		dn_fault_poll(f);
		rx_one(i);
	}
	now += 1000000;
	dn_fault_poll(f);
	uint64_t h = 1469598103934665603ULL;
	for (unsigned i = 0; i < rec->n; i++) {
		h = (h ^ rec->seq[i]) * 1099511628211ULL;
		h = (h ^ rec->at[i]) * 1099511628211ULL;
		for (int k = 0; k < 64; k++)
			h = (h ^ rec->byte[i][k]) * 1099511628211ULL;
	}
	dn_fault_fini(f);
	return h ^ rec->n;
}

START_TEST(test_fault_deterministic_for_seed)
{
	uint64_t a = run_mixed(42);
	now = 0;
	uint64_t b = run_mixed(42);
	now = 0;
	uint64_t c = run_mixed(43);
	ck_assert_uint_eq(a, b);
	ck_assert_uint_ne(a, c);
	start(NULL);
}
END_TEST

START_TEST(test_fault_loss_probability)
{
	struct dn_fault_conf c = { .seed = 1 };
	c.rx.loss = 0.25;
	start(&c);
	for (uint32_t i = 0; i < 10000; i++)
		rx_one(i);
	ck_assert_uint_eq(rec->n + f->rx.c.dropped, 10000);
	ck_assert_uint_gt(f->rx.c.dropped, 2300);
	ck_assert_uint_lt(f->rx.c.dropped, 2700);
	/* Survivors keep their order. */
	for (unsigned i = 1; i < rec->n; i++)
		ck_assert_uint_lt(rec->seq[i - 1], rec->seq[i]);
}
END_TEST

START_TEST(test_fault_total_loss_tx_releases_frames)
{
	struct dn_fault_conf c = { .seed = 1 };
	c.tx.loss = 1.0;
	start(&c);
	for (uint32_t i = 0; i < 50; i++)
		tx_one(i, 60);
	ck_assert_uint_eq(cap->ntx, 0);
	ck_assert_uint_eq(f->tx.c.dropped, 50);
	ck_assert_uint_eq(cap->releases, 50);
	/* rx untouched. */
	rx_one(1);
	ck_assert_uint_eq(rec->n, 1);
}
END_TEST

START_TEST(test_fault_duplication)
{
	struct dn_fault_conf c = { .seed = 7 };
	c.rx.dup = 1.0;
	c.tx.dup = 1.0;
	start(&c);
	for (uint32_t i = 0; i < 10; i++)
		rx_one(i);
	ck_assert_uint_eq(rec->n, 20);
	for (unsigned i = 0; i < 20; i++) {
		ck_assert_uint_eq(rec->seq[i], i / 2);
		ck_assert_mem_eq(rec->byte[i], rec->byte[i & ~1u], 64);
	}
	for (uint32_t i = 0; i < 10; i++)
		tx_one(i, 100);
	ck_assert_uint_eq(cap->ntx, 20);
	ck_assert_uint_eq(f->rx.c.duplicated, 10);
	ck_assert_uint_eq(f->tx.c.duplicated, 10);
	/* Without data access tx duplication is skipped, not faked. */
	dn_fault_fini(f);
	struct dn_fault_hooks h = { .lower = &th_io, .lower_ctx = cap,
				    .rx_deliver = rx_deliver, .rx_ctx = rec,
				    .now_us = &now };
	dn_fault_init(f, &c, &h);
	th_cap_clear(cap);
	tx_one(1, 100);
	ck_assert_uint_eq(cap->ntx, 1);
	ck_assert_uint_eq(f->tx.c.dup_fail, 1);
}
END_TEST

START_TEST(test_fault_reordering)
{
	struct dn_fault_conf c = { .seed = 3 };
	c.rx.reorder = 0.2;
	c.rx.reorder_gap = 2;
	start(&c);
	for (uint32_t i = 0; i < 1000; i++)
		rx_one(i);
	now += 1000000;
	dn_fault_poll(f);
	ck_assert_uint_eq(rec->n, 1000);
	unsigned inversions = 0;
	uint8_t seen[1000] = { 0 };
	for (unsigned i = 0; i < rec->n; i++) {
		ck_assert(!seen[rec->seq[i]]);
		seen[rec->seq[i]] = 1;
		if (i && rec->seq[i] < rec->seq[i - 1])
			inversions++;
	}
	ck_assert_uint_gt(f->rx.c.reordered, 150);
	ck_assert_uint_gt(inversions, 100);
	/* Nothing lost, nothing still held. */
	ck_assert_uint_eq(dn_fault_poll(f), UINT64_MAX);
}
END_TEST

START_TEST(test_fault_reorder_gap_exact)
{
	/* Every frame is held until one more frame passes, or 500 us: with
	 * nothing passing, the deadline releases the first, and that
	 * release counts as a passing frame for the second. */
	struct dn_fault_conf c = { .seed = 3 };
	c.rx.reorder = 1.0;
	c.rx.reorder_gap = 1;
	c.rx.reorder_max_us = 500;
	start(&c);
	rx_one(0);
	rx_one(1);
	ck_assert_uint_eq(rec->n, 0);
	ck_assert_uint_eq(dn_fault_poll(f), 500);
	now = 500;
	dn_fault_poll(f);
	/* 0 goes at its deadline; that counts as one passing, which lets
	 * 1 go too. */
	ck_assert_uint_eq(rec->n, 2);
	ck_assert_uint_eq(rec->seq[0], 0);
	ck_assert_uint_eq(rec->seq[1], 1);
}
END_TEST

START_TEST(test_fault_delay_fixed_keeps_order)
{
	struct dn_fault_conf c = { .seed = 9 };
	c.tx.delay_us = 1000;
	start(&c);
	tx_one(0, 60);
	now = 10;
	tx_one(1, 60);
	ck_assert_uint_eq(cap->ntx, 0);
	ck_assert_uint_eq(dn_fault_poll(f), 990);
	now = 999;
	dn_fault_poll(f);
	ck_assert_uint_eq(cap->ntx, 0);
	now = 1000;
	ck_assert_uint_eq(dn_fault_poll(f), 10);
	ck_assert_uint_eq(cap->ntx, 1);
	now = 1010;
	ck_assert_uint_eq(dn_fault_poll(f), UINT64_MAX);
	ck_assert_uint_eq(cap->ntx, 2);
	ck_assert_uint_eq(dn_get32(cap->tx[0].data), 0);
	ck_assert_uint_eq(dn_get32(cap->tx[1].data), 1);
	ck_assert_uint_eq(f->tx.c.delayed, 2);
}
END_TEST

START_TEST(test_fault_jitter_bounded)
{
	struct dn_fault_conf c = { .seed = 11 };
	c.rx.delay_us = 200;
	c.rx.jitter_us = 100;
	start(&c);
	uint64_t sent[500];
	for (uint32_t i = 0; i < 500; i++) {
		sent[i] = now;
		rx_one(i);
		for (int k = 0; k < 10; k++) {
			now += 1;
			dn_fault_poll(f);
		}
	}
	for (int k = 0; k < 400; k++) {
		now += 1;
		dn_fault_poll(f);
	}
	ck_assert_uint_eq(rec->n, 500);
	uint64_t mn = UINT64_MAX, mx = 0;
	for (unsigned i = 0; i < rec->n; i++) {
		uint64_t d = rec->at[i] - sent[rec->seq[i]];
		mn = d < mn ? d : mn;
		mx = d > mx ? d : mx;
	}
	ck_assert_uint_ge(mn, 200);
	ck_assert_uint_le(mx, 300);
	ck_assert_uint_gt(mx - mn, 50);   /* it does vary */
}
END_TEST

START_TEST(test_fault_corruption_flips_one_bit)
{
	struct dn_fault_conf c = { .seed = 5 };
	c.rx.corrupt = 1.0;
	start(&c);
	for (uint32_t i = 0; i < 200; i++)
		rx_one(i << 8);   /* seq bytes mostly zero */
	ck_assert_uint_eq(rec->n, 200);
	ck_assert_uint_eq(f->rx.c.corrupted, 200);
	for (unsigned i = 0; i < rec->n; i++) {
		/* Rebuild the original from its index. */
		uint8_t want[64] = { 0 };
		dn_put32(want, i << 8);
		for (int k = 4; k < 64; k++)
			want[k] = (uint8_t)((i << 8) + k);
		int bits = 0;
		for (int k = 0; k < 64; k++)
			bits += __builtin_popcount(want[k] ^ rec->byte[i][k]);
		ck_assert_int_eq(bits, 1);
	}
}
END_TEST

START_TEST(test_fault_rate_limit)
{
	struct dn_fault_conf c = { .seed = 5 };
	c.tx.rate_bytes_per_s = 100000;   /* 100 B per ms */
	c.tx.burst_bytes = 3000;
	start(&c);
	for (uint32_t i = 0; i < 10; i++)
		tx_one(i, 1000);
	ck_assert_uint_eq(cap->ntx, 3);
	ck_assert_uint_eq(f->tx.c.rate_dropped, 7);
	now += 9999;   /* 999.9 bytes: not enough */
	tx_one(10, 1000);
	ck_assert_uint_eq(cap->ntx, 3);
	now += 10000;
	tx_one(11, 1000);
	ck_assert_uint_eq(cap->ntx, 4);
	/* Long-run rate: 1000 frames of 1000 B offered over 1 s at 2x the
	 * rate: about half pass. */
	now += 1000000;
	unsigned before = cap->xmits;
	for (uint32_t i = 0; i < 200; i++) {
		now += 5000;
		tx_one(i, 1000);
	}
	unsigned passed = cap->xmits - before;
	ck_assert_uint_ge(passed, 100);
	ck_assert_uint_le(passed, 104);
}
END_TEST

START_TEST(test_fault_fini_releases_held)
{
	struct dn_fault_conf c = { .seed = 5 };
	c.rx.delay_us = 1000;
	c.tx.delay_us = 1000;
	start(&c);
	for (uint32_t i = 0; i < 20; i++) {
		rx_one(i);
		tx_one(i, 60);
	}
	ck_assert_uint_eq(f->rx.nheld, 20);
	ck_assert_uint_eq(f->tx.nheld, 20);
	/* teardown's dn_fault_fini releases all 40 */
}
END_TEST

START_TEST(test_fault_hold_overflow)
{
	struct dn_fault_conf c = { .seed = 5 };
	c.rx.delay_us = 1000;
	start(&c);
	for (uint32_t i = 0; i < DN_FAULT_HOLD_MAX + 10; i++)
		rx_one(i);
	ck_assert_uint_eq(f->rx.c.hold_overflow, 10);
	now = 1000;
	dn_fault_poll(f);
	ck_assert_uint_eq(rec->n, DN_FAULT_HOLD_MAX);
}
END_TEST

START_TEST(test_fault_extreme_conf_is_safe)
{
	struct dn_fault_conf c = { .seed = UINT64_MAX };
	c.rx.rate_bytes_per_s = UINT64_MAX;
	c.rx.burst_bytes = UINT32_MAX;
	c.rx.jitter_us = UINT64_MAX;
	c.rx.loss = __builtin_nan("");
	c.rx.dup = -1;
	c.rx.corrupt = 2.0;   /* > 1: always */
	start(&c);
	for (uint32_t i = 0; i < 50; i++)
		rx_one(i);
	now = UINT64_MAX / 2;
	dn_fault_poll(f);
	ck_assert_uint_eq(rec->n, 50);
	ck_assert_uint_eq(f->rx.c.corrupted, 50);
	ck_assert_uint_eq(f->rx.c.dropped + f->rx.c.duplicated, 0);
}
END_TEST

static void name_cb(const char *name, uint64_t v, void *arg)
{
	(void)v;
	unsigned *n = arg;
	if (!strcmp(name, "fault_rx_dropped") || !strcmp(name, "fault_tx_dropped") ||
	    !strcmp(name, "fault_tx_rate_dropped") ||
	    !strcmp(name, "fault_rx_reordered"))
		(*n)++;
}

START_TEST(test_fault_counters_named)
{
	start(NULL);
	unsigned n = 0;
	dn_fault_counters_foreach(f, name_cb, &n);
	ck_assert_uint_eq(n, 4);
}
END_TEST

/* The injector under a real stack: ARP requests and replies pass the tx
 * side; with tx loss 1 nothing leaves but everything is counted. */
START_TEST(test_fault_wraps_stack_io)
{
	struct dn_fault_conf c = { .seed = 5 };
	c.tx.loss = 1.0;
	start(&c);
	struct dn_stack *st = calloc(1, sizeof *st);
	struct dn_stack_conf sc;
	th_conf_default(&sc);
	ck_assert_int_eq(dn_stack_init(st, &sc, &dn_fault_io, f, 0), 0);
	dn_stack_announce(st);
	uint8_t b[64];
	size_t n = th_arp_frame(b, th_mac_bcast, 1, th_mac_gw, TH_IP_GW, NULL,
				TH_IP_US);
	dn_stack_input(st, b, n);
	ck_assert_uint_eq(cap->ntx, 0);
	ck_assert_uint_eq(f->tx.c.dropped, 2);
	c.tx.loss = 0;
	dn_fault_set_conf(f, &c);
	dn_stack_input(st, b, n);
	ck_assert_uint_eq(cap->ntx, 1);
	dn_stack_fini(st);
	free(st);
}
END_TEST

/* Two stacks, each transmitting through its own injector onto a "wire"
 * (the capture io's record) that the loop delivers to the other side. */
struct side {
	struct dn_stack st;
	struct dn_fault f;
	struct th_cap cap;
	unsigned head;     /* next recorded frame to deliver */
};

static unsigned pump(struct side *from, struct side *to)
{
	unsigned n = 0;
	while (from->head < from->cap.ntx) {
		struct th_txrec *r = &from->cap.tx[from->head++];
		dn_stack_input(&to->st, r->data, r->len);
		n++;
	}
	if (from->head == from->cap.ntx) {
		from->head = 0;
		th_cap_clear(&from->cap);
	}
	return n;
}

static void side_init(struct side *s, const uint8_t mac[6], uint32_t ip,
		      const struct dn_fault_conf *fc)
{
	th_cap_init(&s->cap);
	struct dn_fault_hooks h = {
		.lower = &th_io, .lower_ctx = &s->cap,
		.frame_data = th_frame_data, .now_us = &s->st.now_us,
	};
	dn_fault_init(&s->f, fc, &h);
	struct dn_stack_conf c;
	th_conf_default(&c);
	memcpy(c.mac, mac, 6);
	c.ip4 = ip;
	ck_assert_int_eq(dn_stack_init(&s->st, &c, &dn_fault_io, &s->f, 0), 0);
}

static int send_echo(struct side *s, uint32_t dst, uint16_t seq)
{
	void *frame;
	size_t room;
	uint8_t *m = dn_ip4_alloc(&s->st, &frame, &room);
	if (!m)
		return -1;
	memset(m, 0, 40);
	m[0] = 8;
	dn_put16(m + 4, 0x4242);
	dn_put16(m + 6, seq);
	memcpy(m + 8, "dillnet ping payload 0123456789..", 32);
	dn_put16(m + 2, dn_csum(m, 40));
	return dn_ip4_send(&s->st, frame, 0, dst, 1, 40);
}

START_TEST(test_fault_two_stacks_ping_over_bad_link)
{
	struct dn_fault_conf fc = { .seed = 2024 };
	fc.tx.loss = 0.2;
	fc.tx.dup = 0.05;
	fc.tx.reorder = 0.1;
	fc.tx.delay_us = 2000;
	fc.tx.jitter_us = 3000;
	fc.tx.corrupt = 0.05;
	struct side *a = calloc(1, sizeof *a), *b = calloc(1, sizeof *b);
	side_init(a, th_mac_us, TH_IP_US, &fc);
	fc.seed = 2025;
	side_init(b, th_mac_gw, TH_IP_GW, &fc);
	unsigned sent = 0, refused = 0;
	for (uint64_t t = 0; t < 20000000; t += 1000) {
		a->st.now_us = b->st.now_us = t;
		if (t % 20000 == 0 && sent < 300) {
			if (send_echo(a, TH_IP_GW, (uint16_t)sent) != 0)
				refused++;
			sent++;
		}
		dn_stack_poll(&a->st);
		dn_stack_poll(&b->st);
		dn_fault_poll(&a->f);
		dn_fault_poll(&b->f);
		while (pump(a, b) + pump(b, a))
			;
	}
	uint64_t req = b->st.l3.c.icmp_rx_echo, rep = a->st.l3.c.icmp_rx_echo_reply;
	/* About 0.8 of the requests arrive, and 0.8 of their replies; the
	 * corrupted ones die on a checksum (IP, ICMP) or get ignored. */
	ck_assert_uint_gt(req, 180);
	ck_assert_uint_lt(req, 300);
	ck_assert_uint_gt(rep, 130);
	ck_assert_uint_le(rep, req + 20);
	ck_assert_uint_gt(a->f.tx.c.dropped, 0);
	ck_assert_uint_gt(b->f.tx.c.reordered, 0);
	ck_assert_uint_gt(a->st.l3.c.ip_rx_bad_csum + a->st.l3.c.icmp_rx_bad_csum +
			  b->st.l3.c.ip_rx_bad_csum + b->st.l3.c.icmp_rx_bad_csum, 0);
	ck_assert_uint_lt(refused, 10);
	dn_stack_fini(&a->st);
	dn_stack_fini(&b->st);
	dn_fault_fini(&a->f);
	dn_fault_fini(&b->f);
	ck_assert_int_eq(a->cap.outstanding, 0);
	ck_assert_int_eq(b->cap.outstanding, 0);
	free(a);
	free(b);
	start(NULL);
}
END_TEST

Suite *fault_suite(void)
{
	Suite *s = suite_create("fault");
	TCase *tc = tcase_create("core");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_fault_off_passes_through);
	tcase_add_test(tc, test_fault_deterministic_for_seed);
	tcase_add_test(tc, test_fault_loss_probability);
	tcase_add_test(tc, test_fault_total_loss_tx_releases_frames);
	tcase_add_test(tc, test_fault_duplication);
	tcase_add_test(tc, test_fault_reordering);
	tcase_add_test(tc, test_fault_reorder_gap_exact);
	tcase_add_test(tc, test_fault_delay_fixed_keeps_order);
	tcase_add_test(tc, test_fault_jitter_bounded);
	tcase_add_test(tc, test_fault_corruption_flips_one_bit);
	tcase_add_test(tc, test_fault_rate_limit);
	tcase_add_test(tc, test_fault_fini_releases_held);
	tcase_add_test(tc, test_fault_hold_overflow);
	tcase_add_test(tc, test_fault_counters_named);
	tcase_add_test(tc, test_fault_extreme_conf_is_safe);
	tcase_add_test(tc, test_fault_wraps_stack_io);
	tcase_add_test(tc, test_fault_two_stacks_ping_over_bad_link);
	suite_add_tcase(s, tc);
	return s;
}
