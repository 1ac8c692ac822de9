/* Unit tests for proto/dn_msg: every rule dn_msg_check enforces, in order,
 * plus the HELLO helpers and the type table itself. */
#include "dn_msg.h"

#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A frame buffer with room for the biggest payload used here. */
struct frame {
	_Alignas(8) uint8_t b[sizeof(struct dn_msg_hdr) + 4096];
	size_t len;
};

static void *payload(struct frame *f)
{
	return f->b + sizeof(struct dn_msg_hdr);
}

/* Build a frame whose header length matches the payload length. */
static void mk(struct frame *f, uint16_t type, uint16_t flags, uint32_t result,
	       const void *pl, uint32_t len)
{
	struct dn_msg_hdr h;
	ck_assert_uint_le(len, sizeof(f->b) - sizeof(h));
	dn_msg_hdr_init(&h, type, flags, len, 42, result);
	memcpy(f->b, &h, sizeof(h));
	if (pl && len)
		memmove(payload(f), pl, len);
	f->len = sizeof(h) + len;
}

static int chk(const struct frame *f, int is_reply)
{
	struct dn_msg_hdr h;
	return dn_msg_check(f->b, f->len, is_reply, &h);
}

START_TEST(test_msg_short_frame)
{
	struct frame f;
	struct dn_msg_hdr h;
	mk(&f, DN_MSG_APP_DETACH, 0, 0, NULL, 0);
	ck_assert_int_eq(dn_msg_check(f.b, 0, 0, &h), EMSGSIZE);
	ck_assert_int_eq(dn_msg_check(f.b, sizeof(h) - 1, 0, &h), EMSGSIZE);
	ck_assert_int_eq(dn_msg_check(f.b, sizeof(h), 0, &h), 0);
	ck_assert_uint_eq(h.type, DN_MSG_APP_DETACH);
	ck_assert_uint_eq(h.req_id, 42);
}
END_TEST

START_TEST(test_msg_oversized_frame)
{
	size_t n = DN_MSG_MAX + 1;
	uint8_t *b = calloc(1, n);
	struct dn_msg_hdr h;
	ck_assert_ptr_nonnull(b);
	/* A list reply exactly DN_MSG_MAX long is fine, one byte more is not,
	 * even with a consistent len field. */
	uint32_t entries = (DN_MSG_MAX - sizeof(h) - sizeof(struct dn_ctl_list)) /
			   sizeof(struct dn_ctl_arp_entry);
	uint32_t len = sizeof(struct dn_ctl_list) + entries * sizeof(struct dn_ctl_arp_entry);
	dn_msg_hdr_init(&h, DN_MSG_CTL_ARP, DN_MSG_F_REPLY, len, 1, 0);
	memcpy(b, &h, sizeof(h));
	memcpy(b + sizeof(h), &entries, sizeof(entries));
	ck_assert_int_eq(dn_msg_check(b, sizeof(h) + len, 1, &h), 0);
	dn_msg_hdr_init(&h, DN_MSG_CTL_ARP, DN_MSG_F_REPLY, n - sizeof(h), 1, 0);
	memcpy(b, &h, sizeof(h));
	ck_assert_int_eq(dn_msg_check(b, n, 1, &h), EMSGSIZE);
	free(b);
}
END_TEST

START_TEST(test_msg_len_mismatch)
{
	struct frame f;
	struct dn_msg_hdr h;
	struct dn_tcp_sock_req rq = { .sock = 5 };
	mk(&f, DN_MSG_TCP_ACCEPT, 0, 0, &rq, sizeof(rq));
	ck_assert_int_eq(chk(&f, 0), 0);
	/* Frame one byte shorter / longer than the header claims. */
	ck_assert_int_eq(dn_msg_check(f.b, f.len - 1, 0, &h), EMSGSIZE);
	ck_assert_int_eq(dn_msg_check(f.b, f.len + 1, 0, &h), EMSGSIZE);
	/* len field huge (would wrap a careless addition). */
	memcpy(&h, f.b, sizeof(h));
	h.len = UINT32_MAX;
	memcpy(f.b, &h, sizeof(h));
	ck_assert_int_eq(chk(&f, 0), EMSGSIZE);
}
END_TEST

START_TEST(test_msg_unknown_type)
{
	struct frame f;
	mk(&f, 0, 0, 0, NULL, 0);
	ck_assert_int_eq(chk(&f, 0), ENOMSG);
	mk(&f, 999, 0, 0, NULL, 0);
	ck_assert_int_eq(chk(&f, 0), ENOMSG);
	ck_assert_int_eq(chk(&f, 1), ENOMSG);
	mk(&f, 0xffff, DN_MSG_F_REPLY, EINVAL, NULL, 0);
	ck_assert_int_eq(chk(&f, 1), ENOMSG);
	ck_assert_ptr_null(dn_msg_type_name(999));
	ck_assert_str_eq(dn_msg_type_name(DN_MSG_TCP_CONNECT), "TCP_CONNECT");
	ck_assert_str_eq(dn_msg_type_name(DN_MSG_CTL_APPS), "CTL_APPS");
}
END_TEST

START_TEST(test_msg_wrong_fixed_size)
{
	struct frame f;
	uint8_t z[256] = { 0 };
	struct dn_tcp_listen_req l = { .port = 80, .backlog = 10 };

	mk(&f, DN_MSG_TCP_LISTEN, 0, 0, &l, sizeof(l));
	ck_assert_int_eq(chk(&f, 0), 0);
	mk(&f, DN_MSG_TCP_LISTEN, 0, 0, &l, sizeof(l) - 1);
	ck_assert_int_eq(chk(&f, 0), EBADMSG);
	mk(&f, DN_MSG_TCP_LISTEN, 0, 0, z, sizeof(l) + 1);
	ck_assert_int_eq(chk(&f, 0), EBADMSG);
	mk(&f, DN_MSG_TCP_LISTEN, 0, 0, NULL, 0);
	ck_assert_int_eq(chk(&f, 0), EBADMSG);
	/* The direction picks the rule: the same payload is wrong as a reply. */
	mk(&f, DN_MSG_TCP_LISTEN, DN_MSG_F_REPLY, 0, &l, sizeof(l));
	ck_assert_int_eq(chk(&f, 1), EBADMSG);
	mk(&f, DN_MSG_TCP_LISTEN, DN_MSG_F_REPLY, 0, z, sizeof(struct dn_tcp_sock_rep));
	ck_assert_int_eq(chk(&f, 1), 0);
	/* A NONE rule means exactly empty. */
	mk(&f, DN_MSG_CTL_STATUS, 0, 0, z, 1);
	ck_assert_int_eq(chk(&f, 0), EBADMSG);
	mk(&f, DN_MSG_CTL_STATUS, 0, 0, NULL, 0);
	ck_assert_int_eq(chk(&f, 0), 0);
	mk(&f, DN_MSG_TCP_CLOSE, DN_MSG_F_REPLY, 0, z, 4);
	ck_assert_int_eq(chk(&f, 1), EBADMSG);
	mk(&f, DN_MSG_TCP_CLOSE, DN_MSG_F_REPLY, 0, NULL, 0);
	ck_assert_int_eq(chk(&f, 1), 0);
	mk(&f, DN_MSG_APP_ATTACH, 0, 0, z, sizeof(struct dn_app_attach_req));
	ck_assert_int_eq(chk(&f, 0), 0);
	mk(&f, DN_MSG_APP_ATTACH, DN_MSG_F_REPLY, 0, z, sizeof(struct dn_app_attach_req));
	ck_assert_int_eq(chk(&f, 1), EBADMSG);
	mk(&f, DN_MSG_APP_ATTACH, DN_MSG_F_REPLY, 0, z, sizeof(struct dn_app_attach_rep));
	ck_assert_int_eq(chk(&f, 1), 0);
}
END_TEST

START_TEST(test_msg_list_count_mismatch)
{
	struct frame f;
	_Alignas(8) uint8_t pl[sizeof(struct dn_ctl_list) + 3 * sizeof(struct dn_ctl_app)];
	struct dn_ctl_list l = { .count = 2 };
	memset(pl, 0, sizeof(pl));
	memcpy(pl, &l, sizeof(l));
	size_t two = sizeof(l) + 2 * sizeof(struct dn_ctl_app);

	mk(&f, DN_MSG_CTL_APPS, DN_MSG_F_REPLY, 0, pl, two);
	ck_assert_int_eq(chk(&f, 1), 0);
	mk(&f, DN_MSG_CTL_APPS, DN_MSG_F_REPLY, 0, pl, two + sizeof(struct dn_ctl_app));
	ck_assert_int_eq(chk(&f, 1), EBADMSG);
	mk(&f, DN_MSG_CTL_APPS, DN_MSG_F_REPLY, 0, pl, two - 1);
	ck_assert_int_eq(chk(&f, 1), EBADMSG);
	/* Shorter than the list header itself. */
	mk(&f, DN_MSG_CTL_APPS, DN_MSG_F_REPLY, 0, pl, sizeof(l) - 1);
	ck_assert_int_eq(chk(&f, 1), EBADMSG);
	/* A count whose product with the entry size overflows 32 bits. */
	l.count = 0x80000000u;
	memcpy(pl, &l, sizeof(l));
	mk(&f, DN_MSG_CTL_APPS, DN_MSG_F_REPLY, 0, pl, sizeof(l));
	ck_assert_int_eq(chk(&f, 1), EBADMSG);
	/* Empty list. */
	l.count = 0;
	memcpy(pl, &l, sizeof(l));
	mk(&f, DN_MSG_CTL_APPS, DN_MSG_F_REPLY, 0, pl, sizeof(l));
	ck_assert_int_eq(chk(&f, 1), 0);
	mk(&f, DN_MSG_CTL_COUNTERS, DN_MSG_F_REPLY, 0, pl, sizeof(l));
	ck_assert_int_eq(chk(&f, 1), 0);
}
END_TEST

START_TEST(test_msg_strings_must_be_terminated)
{
	struct frame f;
	struct dn_msg_hello h;
	dn_msg_hello_init(&h, "app");
	mk(&f, DN_MSG_HELLO, 0, 0, &h, sizeof(h));
	ck_assert_int_eq(chk(&f, 0), 0);
	memset(h.name, 'A', sizeof(h.name));
	mk(&f, DN_MSG_HELLO, 0, 0, &h, sizeof(h));
	ck_assert_int_eq(chk(&f, 0), EBADMSG);
	mk(&f, DN_MSG_HELLO, DN_MSG_F_REPLY, 0, &h, sizeof(h));
	ck_assert_int_eq(chk(&f, 1), EBADMSG);

	struct dn_ctl_loglevel lv;
	memset(&lv, 'x', sizeof(lv));
	mk(&f, DN_MSG_CTL_LOGLEVEL, 0, 0, &lv, sizeof(lv));
	ck_assert_int_eq(chk(&f, 0), EBADMSG);
	lv.level[sizeof(lv.level) - 1] = '\0';
	mk(&f, DN_MSG_CTL_LOGLEVEL, 0, 0, &lv, sizeof(lv));
	ck_assert_int_eq(chk(&f, 0), 0);

	/* Each string of the status reply is checked on its own. */
	struct dn_ctl_status st;
	memset(&st, 0, sizeof(st));
	mk(&f, DN_MSG_CTL_STATUS, DN_MSG_F_REPLY, 0, &st, sizeof(st));
	ck_assert_int_eq(chk(&f, 1), 0);
	memset(st.driver, 'd', sizeof(st.driver));
	mk(&f, DN_MSG_CTL_STATUS, DN_MSG_F_REPLY, 0, &st, sizeof(st));
	ck_assert_int_eq(chk(&f, 1), EBADMSG);
	memset(&st, 0, sizeof(st));
	memset(st.version, 'v', sizeof(st.version));
	mk(&f, DN_MSG_CTL_STATUS, DN_MSG_F_REPLY, 0, &st, sizeof(st));
	ck_assert_int_eq(chk(&f, 1), EBADMSG);
	memset(&st, 0, sizeof(st));
	memset(st.port_name, 'p', sizeof(st.port_name));
	mk(&f, DN_MSG_CTL_STATUS, DN_MSG_F_REPLY, 0, &st, sizeof(st));
	ck_assert_int_eq(chk(&f, 1), EBADMSG);

	struct dn_ctl_port po;
	memset(&po, 0, sizeof(po));
	memset(po.port_name, 'p', sizeof(po.port_name));
	mk(&f, DN_MSG_CTL_PORT, DN_MSG_F_REPLY, 0, &po, sizeof(po));
	ck_assert_int_eq(chk(&f, 1), EBADMSG);

	/* Lists: the second entry's name is the bad one. */
	_Alignas(8) uint8_t pl[sizeof(struct dn_ctl_list) + 2 * sizeof(struct dn_ctl_app)];
	struct dn_ctl_list l = { .count = 2 };
	struct dn_ctl_app a[2];
	memset(a, 0, sizeof(a));
	strcpy(a[0].name, "ok");
	memset(a[1].name, 'n', sizeof(a[1].name));
	memcpy(pl, &l, sizeof(l));
	memcpy(pl + sizeof(l), a, sizeof(a));
	mk(&f, DN_MSG_CTL_APPS, DN_MSG_F_REPLY, 0, pl, sizeof(pl));
	ck_assert_int_eq(chk(&f, 1), EBADMSG);
	a[1].name[5] = '\0';
	memcpy(pl + sizeof(l), a, sizeof(a));
	mk(&f, DN_MSG_CTL_APPS, DN_MSG_F_REPLY, 0, pl, sizeof(pl));
	ck_assert_int_eq(chk(&f, 1), 0);

	_Alignas(8) uint8_t cl[sizeof(struct dn_ctl_list) + sizeof(struct dn_ctl_counter)];
	struct dn_ctl_counter c;
	l.count = 1;
	memset(&c, 'c', sizeof(c));
	memcpy(cl, &l, sizeof(l));
	memcpy(cl + sizeof(l), &c, sizeof(c));
	mk(&f, DN_MSG_CTL_COUNTERS, DN_MSG_F_REPLY, 0, cl, sizeof(cl));
	ck_assert_int_eq(chk(&f, 1), EBADMSG);
}
END_TEST

START_TEST(test_msg_error_reply_has_no_payload)
{
	struct frame f;
	uint8_t z[sizeof(struct dn_tcp_sock_rep)] = { 0 };
	/* An error reply is empty whatever its type's normal reply is. */
	mk(&f, DN_MSG_TCP_CONNECT, DN_MSG_F_REPLY, ECONNREFUSED, NULL, 0);
	ck_assert_int_eq(chk(&f, 1), 0);
	mk(&f, DN_MSG_TCP_CONNECT, DN_MSG_F_REPLY, ECONNREFUSED, z, sizeof(z));
	ck_assert_int_eq(chk(&f, 1), EBADMSG);
	mk(&f, DN_MSG_CTL_APPS, DN_MSG_F_REPLY, EACCES, z, 8);
	ck_assert_int_eq(chk(&f, 1), EBADMSG);
	/* A success reply of a sized type without payload is wrong. */
	mk(&f, DN_MSG_TCP_CONNECT, DN_MSG_F_REPLY, 0, NULL, 0);
	ck_assert_int_eq(chk(&f, 1), EBADMSG);
	/* Requests are not replies: a result field does not exempt them. */
	mk(&f, DN_MSG_TCP_CONNECT, 0, EINVAL, NULL, 0);
	ck_assert_int_eq(chk(&f, 0), EBADMSG);
	struct dn_msg_hdr h;
	mk(&f, DN_MSG_APP_ATTACH, DN_MSG_F_REPLY, EACCES, NULL, 0);
	ck_assert_int_eq(dn_msg_check(f.b, f.len, 1, &h), 0);
	ck_assert_uint_eq(h.result, EACCES);
}
END_TEST

START_TEST(test_msg_hello_version_mismatch_names_both)
{
	struct dn_msg_hello h;
	char err[160];
	dn_msg_hello_init(&h, "tester");
	ck_assert_uint_eq(h.magic, DN_PROTO_MAGIC);
	ck_assert_str_eq(h.name, "tester");
	strcpy(err, "junk");
	ck_assert_int_eq(dn_msg_hello_check(&h, err, sizeof(err)), 0);
	ck_assert_str_eq(err, "");
	/* A different minor is compatible. */
	h.minor = DN_PROTO_MINOR + 7;
	ck_assert_int_eq(dn_msg_hello_check(&h, err, sizeof(err)), 0);

	h.major = DN_PROTO_MAJOR + 1;
	h.minor = 3;
	ck_assert_int_eq(dn_msg_hello_check(&h, err, sizeof(err)), EPROTO);
	char peer[32], ours[32];
	snprintf(peer, sizeof(peer), "%u.3", DN_PROTO_MAJOR + 1);
	snprintf(ours, sizeof(ours), "%u.%u", DN_PROTO_MAJOR, DN_PROTO_MINOR);
	ck_assert_msg(strstr(err, peer) != NULL, "'%s' does not name peer %s", err, peer);
	ck_assert_msg(strstr(err, ours) != NULL, "'%s' does not name ours %s", err, ours);

	dn_msg_hello_init(&h, NULL);
	h.magic = 0x12345678;
	ck_assert_int_eq(dn_msg_hello_check(&h, err, sizeof(err)), EPROTO);
	ck_assert_ptr_nonnull(strstr(err, "magic"));

	/* Overlong names are truncated, still terminated. */
	dn_msg_hello_init(&h, "a-program-name-that-is-far-too-long-for-the-field");
	ck_assert_uint_eq(strlen(h.name), sizeof(h.name) - 1);
}
END_TEST

START_TEST(test_msg_type_table_unique)
{
	static const struct { uint16_t num; const char *name; } t[] = {
#define X(name, num, rq, rp) { num, #name },
		DN_MSG_TYPES(X)
#undef X
	};
	size_t n = sizeof(t) / sizeof(t[0]);
	for (size_t i = 0; i < n; i++) {
		ck_assert_str_eq(dn_msg_type_name(t[i].num), t[i].name);
		for (size_t j = i + 1; j < n; j++) {
			ck_assert_msg(t[i].num != t[j].num, "%s and %s share number %u",
				      t[i].name, t[j].name, t[i].num);
			ck_assert_str_ne(t[i].name, t[j].name);
		}
	}
}
END_TEST

START_TEST(test_msg_hdr_init)
{
	struct dn_msg_hdr h;
	memset(&h, 0xaa, sizeof(h));
	dn_msg_hdr_init(&h, DN_MSG_CTL_KILL_APP, DN_MSG_F_REPLY, 0, 9, ESRCH);
	ck_assert_uint_eq(h.type, DN_MSG_CTL_KILL_APP);
	ck_assert_uint_eq(h.flags, DN_MSG_F_REPLY);
	ck_assert_uint_eq(h.len, 0);
	ck_assert_uint_eq(h.req_id, 9);
	ck_assert_uint_eq(h.result, ESRCH);
}
END_TEST

Suite *msg_suite(void)
{
	Suite *s = suite_create("msg");
	TCase *tc = tcase_create("check");
	tcase_add_test(tc, test_msg_short_frame);
	tcase_add_test(tc, test_msg_oversized_frame);
	tcase_add_test(tc, test_msg_len_mismatch);
	tcase_add_test(tc, test_msg_unknown_type);
	tcase_add_test(tc, test_msg_wrong_fixed_size);
	tcase_add_test(tc, test_msg_list_count_mismatch);
	tcase_add_test(tc, test_msg_strings_must_be_terminated);
	tcase_add_test(tc, test_msg_error_reply_has_no_payload);
	tcase_add_test(tc, test_msg_hello_version_mismatch_names_both);
	tcase_add_test(tc, test_msg_type_table_unique);
	tcase_add_test(tc, test_msg_hdr_init);
	suite_add_tcase(s, tc);
	return s;
}
