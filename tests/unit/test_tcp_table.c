/*
 * The connection table (tcp.c): 4-tuple lookups stay short with 100,000
 * connections, the table grows as they come, renewing the secret rehashes
 * every entry, and removal leaves the rest findable.  Probe lengths are
 * counted by walking the chains, never timed.
 */
#include <check.h>
#include <stdlib.h>

#include "tcp_harness.h"

#define NCONN 100000

struct probes {
	uint32_t longest;      /* longest chain */
	double mean_hit;       /* mean probes for a successful lookup */
	uint32_t entries;
};

static struct probes chains(const struct dn_tcp *t)
{
	struct probes p = { 0, 0, 0 };
	uint64_t hit = 0;
	for (uint32_t i = 0; i <= t->ht_mask; i++) {
		uint32_t n = 0;
		for (const struct dn_tcp_conn *c = t->ht[i]; c; c = c->hnext) {
			n++;
			hit += n;   /* the n-th entry takes n probes */
		}
		if (n > p.longest)
			p.longest = n;
		p.entries += n;
	}
	p.mean_hit = p.entries ? (double)hit / p.entries : 0;
	return p;
}

/* Fake connections: only what the table reads. */
static struct dn_tcp_conn *conns_new(struct dn_stack *st, int pattern)
{
	struct dn_tcp_conn *cs = calloc(NCONN, sizeof(*cs));
	ck_assert_ptr_nonnull(cs);
	for (uint32_t i = 0; i < NCONN; i++) {
		struct dn_tcp_conn *c = &cs[i];
		c->st = st;
		c->laddr = TH_IP_US;
		switch (pattern) {
		case 0:   /* one client, every port, a few server ports: the
			   * shape a load generator gives */
			c->lport = (uint16_t)(80 + i / 60000);
			c->faddr = TH_IP_GW;
			c->fport = (uint16_t)(1024 + i % 60000);
			break;
		case 1:   /* our connections out: one server, our ports */
			c->lport = (uint16_t)(1024 + i % 60000);
			c->faddr = TH_IP_REMOTE + i / 60000;
			c->fport = 443;
			break;
		default:  /* many clients on a /16, one port each */
			c->lport = 80;
			c->faddr = 0xc6120000u + i;
			c->fport = (uint16_t)(40000 + (i * 7919) % 20000);
			break;
		}
	}
	return cs;
}

static void check_all_found(struct dn_stack *st, struct dn_tcp_conn *cs)
{
	for (uint32_t i = 0; i < NCONN; i++)
		ck_assert_ptr_eq(dn_tcp_lookup(st, cs[i].laddr, cs[i].lport,
					       cs[i].faddr, cs[i].fport), &cs[i]);
}

START_TEST(test_tcp_table_100000_connections_probe_lengths_bounded)
{
	struct th_cap cap;
	struct dn_stack st;
	th_cap_init(&cap);
	ck_assert_int_eq(th_stack_init(&st, &cap), 0);
	struct dn_tcp *t = &st.tcp;
	uint8_t key[16];
	for (int i = 0; i < 16; i++)
		key[i] = (uint8_t)(i * 37 + _i * 101 + 5);
	dn_tcp_set_secret(&st, key);
	uint32_t start_buckets = t->ht_mask + 1;

	struct dn_tcp_conn *cs = conns_new(&st, _i);
	for (uint32_t i = 0; i < NCONN; i++)
		dn_tcp_hash_insert(&cs[i]);
	ck_assert_uint_eq(t->ht_count, NCONN);
	/* Grown past 100,000 entries: load factor at most 1. */
	ck_assert_uint_gt(t->ht_mask + 1, start_buckets);
	ck_assert_uint_ge(t->ht_mask + 1, NCONN);
	struct probes p = chains(t);
	ck_assert_uint_eq(p.entries, NCONN);
	/* Balls in bins at load <= 1: mean successful probe ~1.4, longest
	 * chain ~8 with a uniform hash; a weak or degenerate hash (a chain
	 * per server port, say) is far past these. */
	ck_assert_msg(p.mean_hit < 2.0, "mean probes %.2f", p.mean_hit);
	ck_assert_msg(p.longest <= 16, "longest chain %u", p.longest);
	check_all_found(&st, cs);
	ck_assert_ptr_null(dn_tcp_lookup(&st, TH_IP_US, 1, TH_IP_PEER2, 1));

	/* A new secret moves every entry and loses none. */
	key[0] ^= 0xff;
	dn_tcp_set_secret(&st, key);
	p = chains(t);
	ck_assert_uint_eq(p.entries, NCONN);
	ck_assert_msg(p.longest <= 16, "longest chain %u after rekey", p.longest);
	check_all_found(&st, cs);

	/* Removing every other one leaves the others reachable. */
	for (uint32_t i = 0; i < NCONN; i += 2)
		dn_tcp_hash_remove(&cs[i]);
	ck_assert_uint_eq(t->ht_count, NCONN / 2);
	for (uint32_t i = 0; i < NCONN; i++)
		ck_assert_ptr_eq(dn_tcp_lookup(&st, cs[i].laddr, cs[i].lport,
					       cs[i].faddr, cs[i].fport),
				 i % 2 ? &cs[i] : NULL);
	for (uint32_t i = 1; i < NCONN; i += 2)
		dn_tcp_hash_remove(&cs[i]);
	ck_assert_uint_eq(chains(t).entries, 0);
	ck_assert_uint_eq(t->ht_count, 0);
	dn_stack_fini(&st);
	free(cs);
}
END_TEST

/* The bucket depends on the key: two secrets spread the same tuples
 * differently (a fixed, unkeyed hash would let a peer aim at one chain). */
START_TEST(test_tcp_table_hash_is_keyed)
{
	struct th_cap cap;
	struct dn_stack st;
	th_cap_init(&cap);
	ck_assert_int_eq(th_stack_init(&st, &cap), 0);
	uint8_t key[16] = { 1 };
	struct dn_tcp_conn c = { .st = &st, .laddr = TH_IP_US, .lport = 80,
				 .faddr = TH_IP_GW, .fport = 1 };
	uint32_t moved = 0;
	for (uint16_t port = 1; port <= 64; port++) {
		c.fport = port;
		dn_tcp_set_secret(&st, key);
		dn_tcp_hash_insert(&c);
		uint32_t b1 = 0;
		while (st.tcp.ht[b1] != &c)
			b1++;
		key[1]++;
		dn_tcp_set_secret(&st, key);
		uint32_t b2 = 0;
		while (st.tcp.ht[b2] != &c)
			b2++;
		ck_assert_ptr_eq(dn_tcp_lookup(&st, c.laddr, c.lport, c.faddr,
					       c.fport), &c);
		dn_tcp_hash_remove(&c);
		moved += b1 != b2;
	}
	/* 2^14 buckets: two keys agree on a tuple's bucket with chance 2^-14. */
	ck_assert_uint_ge(moved, 60);
	dn_stack_fini(&st);
}
END_TEST

Suite *tcp_table_suite(void)
{
	Suite *s = suite_create("tcp_table");
	TCase *tc = tcase_create("table");
	tcase_set_timeout(tc, 60);
	tcase_add_loop_test(tc, test_tcp_table_100000_connections_probe_lengths_bounded, 0, 3);
	tcase_add_test(tc, test_tcp_table_hash_is_keyed);
	suite_add_tcase(s, tc);
	return s;
}
