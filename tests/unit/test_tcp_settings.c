/* Unit tests for the one list of TCP settings (daemon/stack/tcp_settings.h):
 * the config schema, the stack's defaults and the copy from the file onto
 * the stack all come from it, so they cannot disagree. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "stack_harness.h"

#define ADDR "ip: { address = \"198.18.0.2/24\"; };\n"

/* Fields of struct dn_tcp_conf the list names, as uint64_t. */
struct tcp_vals {
#define X(kind, name, field, scale, def, lo, hi, doc) uint64_t name;
	DN_TCP_SETTINGS(X)
#undef X
};

static void vals_of(const struct dn_tcp_conf *t, struct tcp_vals *v)
{
#define X(kind, name, field, scale, def, lo, hi, doc) v->name = (uint64_t)t->field;
	DN_TCP_SETTINGS(X)
#undef X
}

START_TEST(test_tcp_settings_stack_defaults_are_the_daemons)
{
	/* A stack made without a file (tests, fuzzers) runs with the values
	 * dillnetd gets from a file that sets nothing in the tcp group. */
	struct dn_config cfg;
	struct th_cap cap;
	struct dn_stack *st = calloc(1, sizeof(*st));
	struct dn_tcp_conf from_file;
	struct tcp_vals a, b;
	ck_assert_ptr_nonnull(st);
	char err[512];
	ck_assert_msg(dn_config_load_string(&cfg, ADDR, "t", err, sizeof(err)) == 0, "%s", err);
	th_cap_init(&cap);
	ck_assert_int_eq(th_stack_init(st, &cap), 0);
	memset(&from_file, 0xa5, sizeof(from_file));
	dn_config_tcp_conf(&cfg, &from_file);
	vals_of(&st->tcp.conf, &a);
	vals_of(&from_file, &b);
#define X(kind, name, field, scale, def, lo, hi, doc) \
	ck_assert_msg(a.name == b.name, "tcp." #name ": stack default %llu, file default %llu", \
		      (unsigned long long)a.name, (unsigned long long)b.name);
	DN_TCP_SETTINGS(X)
#undef X
	/* The three that used to differ, pinned to the file's values. */
	ck_assert_uint_eq(st->tcp.conf.max_conns, 131072);
	ck_assert_uint_eq(st->tcp.conf.max_tw_per_uid, 4096);
	ck_assert_uint_eq(st->tcp.conf.max_orphans_per_uid, 1024);
	ck_assert_uint_eq(st->tcp.conf.time_wait_us, 60000000u);
	ck_assert_uint_eq(st->tcp.conf.cc, DN_TCP_CC_CUBIC);
	ck_assert_uint_eq(st->tcp.conf.syncookies, 1);
	dn_stack_fini(st);
	free(st);
}
END_TEST

START_TEST(test_tcp_settings_file_values_reach_the_stack_scaled)
{
	/* Every setting at its maximum (false, newreno): each arrives in the
	 * stack's units, and settings the list does not name are untouched. */
	char text[4096];
	size_t n = (size_t)snprintf(text, sizeof(text), "%stcp: {\n", ADDR);
#define SET_INT(name, hi)  n += (size_t)snprintf(text + n, sizeof(text) - n, "  " #name " = %lld;\n", (long long)(hi));
#define SET_BOOL(name, hi) n += (size_t)snprintf(text + n, sizeof(text) - n, "  " #name " = false;\n");
#define SET_CC(name, hi)   n += (size_t)snprintf(text + n, sizeof(text) - n, "  " #name " = \"newreno\";\n");
#define X(kind, name, field, scale, def, lo, hi, doc) SET_##kind(name, hi)
	DN_TCP_SETTINGS(X)
#undef X
	n += (size_t)snprintf(text + n, sizeof(text) - n, "};\n");
	ck_assert_uint_lt(n, sizeof(text));
	struct dn_config cfg;
	char err[1024];
	ck_assert_msg(dn_config_load_string(&cfg, text, "t", err, sizeof(err)) == 0, "%s\n%s", err, text);
	struct dn_tcp_conf t;
	memset(&t, 0, sizeof(t));
	t.mss_cap = 1234;
	t.rto_min_us = 777;
	t.tw_release = 1;
	dn_config_tcp_conf(&cfg, &t);
#define CHK_INT(name, field, scale, hi) \
	ck_assert_msg((uint64_t)t.field == (uint64_t)(hi) * (scale), "tcp." #name " -> " #field ": %llu", \
		      (unsigned long long)t.field);
#define CHK_BOOL(name, field, scale, hi) ck_assert_msg(t.field == 0, "tcp." #name);
#define CHK_CC(name, field, scale, hi) ck_assert_uint_eq(t.field, DN_TCP_CC_NEWRENO);
#define X(kind, name, field, scale, def, lo, hi, doc) CHK_##kind(name, field, scale, hi)
	DN_TCP_SETTINGS(X)
#undef X
	ck_assert_uint_eq(t.time_wait_us, 240u * 1000000u);
	ck_assert_uint_eq(t.delack_us, 500u * 1000u);
	ck_assert_uint_eq(t.keepalive_probes, 127);
	ck_assert_uint_eq(t.mss_cap, 1234);
	ck_assert_uint_eq(t.rto_min_us, 777);
	ck_assert_uint_eq(t.tw_release, 1);
}
END_TEST

START_TEST(test_tcp_settings_every_one_in_the_schema)
{
	/* Each list entry is a schema key with its range, default and doc;
	 * and the schema's tcp group holds nothing else. */
	unsigned in_schema = 0, in_list = 0;
	for (size_t i = 0; dn_config_key(i); i++)
		in_schema += strncmp(dn_config_key(i)->path, "tcp.", 4) == 0;
#define X(kind, name, field, scale, dflt, lo, hi, text_) { \
		const struct dn_config_key *k = NULL; \
		in_list++; \
		for (size_t i = 0; dn_config_key(i); i++) \
			if (strcmp(dn_config_key(i)->path, "tcp." #name) == 0) \
				k = dn_config_key(i); \
		ck_assert_msg(k != NULL, "tcp." #name " not in the schema"); \
		ck_assert_str_eq(k->doc, text_); \
		ck_assert_ptr_nonnull(strstr(k->def, #dflt)); \
	}
	DN_TCP_SETTINGS(X)
#undef X
	ck_assert_uint_eq(in_schema, in_list);
	/* Out of range by one is refused for every integer setting. */
	char text[512], err[512];
	struct dn_config cfg;
#define RANGE_INT(name, lo, hi) \
	snprintf(text, sizeof(text), "%stcp: { " #name " = %lld; };\n", ADDR, (long long)(hi) + 1); \
	ck_assert_msg(dn_config_load_string(&cfg, text, "t", err, sizeof(err)) == -1, "tcp." #name " above max"); \
	if ((lo) > 0) { \
		snprintf(text, sizeof(text), "%stcp: { " #name " = %lld; };\n", ADDR, (long long)(lo) - 1); \
		ck_assert_msg(dn_config_load_string(&cfg, text, "t", err, sizeof(err)) == -1, "tcp." #name " below min"); \
	}
#define RANGE_BOOL(name, lo, hi)
#define RANGE_CC(name, lo, hi)
#define X(kind, name, field, scale, def, lo, hi, doc) RANGE_##kind(name, lo, hi)
	DN_TCP_SETTINGS(X)
#undef X
}
END_TEST

Suite *tcp_settings_suite(void)
{
	Suite *s = suite_create("tcp_settings");
	TCase *tc = tcase_create("list");
	tcase_add_test(tc, test_tcp_settings_stack_defaults_are_the_daemons);
	tcase_add_test(tc, test_tcp_settings_file_values_reach_the_stack_scaled);
	tcase_add_test(tc, test_tcp_settings_every_one_in_the_schema);
	suite_add_tcase(s, tc);
	return s;
}
