/* Unit tests for client-lib/ipaddr.c: every ipaddr_* function and errno,
 * literals of both families, mode filtering, interfaces, the hosts file,
 * and deadlines on name resolution.  Slow or failing resolvers are scripted
 * through the library's internal getaddrinfo hook, so nothing here needs a
 * network, and every lookup that could reach one is bounded by a deadline. */
#include "dillnet.h"

#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <net/if.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Internal test seams of ipaddr.c (not exported from the shared library). */
extern int (*dnl_ipaddr_getaddrinfo)(const char *, const char *,
				     const struct addrinfo *,
				     struct addrinfo **);
extern const char *dnl_ipaddr_hosts_path;

static const char *str(const struct ipaddr *a)
{
	static char buf[IPADDR_MAXSTRLEN];
	const char *s = ipaddr_str(a, buf);
	ck_assert_ptr_nonnull(s);
	return s;
}

/* Fills an ipaddr with a byte pattern that is no address at all. */
static void garbage(struct ipaddr *a)
{
	memset(a, 0xa5, sizeof(*a));
}

/* Tests that swap the resolver or the hosts file put them back, so they
 * also behave when Check runs without fork (CK_FORK=no). */
static int (*real_gai)(const char *, const char *, const struct addrinfo *,
		       struct addrinfo **);
static const char *real_hosts;

static void seams_save(void)
{
	real_gai = dnl_ipaddr_getaddrinfo;
	real_hosts = dnl_ipaddr_hosts_path;
}

static void seams_restore(void)
{
	dnl_ipaddr_getaddrinfo = real_gai;
	dnl_ipaddr_hosts_path = real_hosts;
}

/* ---- ipaddr_local ------------------------------------------------------ */

START_TEST(test_ipaddr_local_any)
{
	struct ipaddr a;
	ck_assert_int_eq(ipaddr_local(&a, NULL, 80, 0), 0);
	ck_assert_int_eq(ipaddr_family(&a), AF_INET);
	ck_assert_str_eq(str(&a), "0.0.0.0");
	ck_assert_int_eq(ipaddr_port(&a), 80);
	ck_assert_int_eq(ipaddr_local(&a, NULL, 80, IPADDR_IPV4), 0);
	ck_assert_str_eq(str(&a), "0.0.0.0");
	ck_assert_int_eq(ipaddr_local(&a, NULL, 80, IPADDR_PREF_IPV4), 0);
	ck_assert_int_eq(ipaddr_family(&a), AF_INET);
	ck_assert_int_eq(ipaddr_local(&a, NULL, 81, IPADDR_IPV6), 0);
	ck_assert_int_eq(ipaddr_family(&a), AF_INET6);
	ck_assert_str_eq(str(&a), "::");
	ck_assert_int_eq(ipaddr_port(&a), 81);
	ck_assert_int_eq(ipaddr_local(&a, NULL, 81, IPADDR_PREF_IPV6), 0);
	ck_assert_int_eq(ipaddr_family(&a), AF_INET6);
}
END_TEST

START_TEST(test_ipaddr_local_literals)
{
	struct ipaddr a;
	ck_assert_int_eq(ipaddr_local(&a, "192.0.2.7", 5555, 0), 0);
	ck_assert_int_eq(ipaddr_family(&a), AF_INET);
	ck_assert_str_eq(str(&a), "192.0.2.7");
	ck_assert_int_eq(ipaddr_port(&a), 5555);
	ck_assert_int_eq(ipaddr_local(&a, "2001:db8::1", 6, IPADDR_IPV6), 0);
	ck_assert_int_eq(ipaddr_family(&a), AF_INET6);
	ck_assert_str_eq(str(&a), "2001:db8::1");
	/* Preference modes take either family for a literal. */
	ck_assert_int_eq(ipaddr_local(&a, "2001:db8::1", 6, 0), 0);
	ck_assert_int_eq(ipaddr_family(&a), AF_INET6);
	ck_assert_int_eq(ipaddr_local(&a, "198.19.2.3", 6, IPADDR_PREF_IPV6), 0);
	ck_assert_int_eq(ipaddr_family(&a), AF_INET);
}
END_TEST

START_TEST(test_ipaddr_local_mode_filters_literals)
{
	struct ipaddr a;
	errno = 0;
	ck_assert_int_eq(ipaddr_local(&a, "2001:db8::1", 1, IPADDR_IPV4), -1);
	ck_assert_int_eq(errno, EADDRNOTAVAIL);
	errno = 0;
	ck_assert_int_eq(ipaddr_local(&a, "127.0.0.1", 1, IPADDR_IPV6), -1);
	ck_assert_int_eq(errno, EADDRNOTAVAIL);
}
END_TEST

START_TEST(test_ipaddr_local_port_range)
{
	struct ipaddr a;
	ck_assert_int_eq(ipaddr_local(&a, "127.0.0.1", 0, 0), 0);
	ck_assert_int_eq(ipaddr_port(&a), 0);
	ck_assert_int_eq(ipaddr_local(&a, "127.0.0.1", 65535, 0), 0);
	ck_assert_int_eq(ipaddr_port(&a), 65535);
	ck_assert_int_eq(ipaddr_local(&a, "::1", 65535, 0), 0);
	ck_assert_int_eq(ipaddr_port(&a), 65535);
	errno = 0;
	ck_assert_int_eq(ipaddr_local(&a, "127.0.0.1", 65536, 0), -1);
	ck_assert_int_eq(errno, EINVAL);
	errno = 0;
	ck_assert_int_eq(ipaddr_local(&a, "127.0.0.1", -1, 0), -1);
	ck_assert_int_eq(errno, EINVAL);
	errno = 0;
	ck_assert_int_eq(ipaddr_local(&a, NULL, 65536, 0), -1);
	ck_assert_int_eq(errno, EINVAL);
}
END_TEST

START_TEST(test_ipaddr_local_bad_args)
{
	struct ipaddr a;
	errno = 0;
	ck_assert_int_eq(ipaddr_local(NULL, "127.0.0.1", 1, 0), -1);
	ck_assert_int_eq(errno, EINVAL);
	errno = 0;
	ck_assert_int_eq(ipaddr_local(&a, "127.0.0.1", 1, 5), -1);
	ck_assert_int_eq(errno, EINVAL);
	errno = 0;
	ck_assert_int_eq(ipaddr_local(&a, "127.0.0.1", 1, -1), -1);
	ck_assert_int_eq(errno, EINVAL);
	/* Strings that can only be broken literals. */
	const char *bad[] = { "", "1.2.3.256", "1.2.3", "1..2.3", "300" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		errno = 0;
		ck_assert_msg(ipaddr_local(&a, bad[i], 1, 0) == -1, "%s",
			      bad[i]);
		ck_assert_msg(errno == EINVAL, "%s: %d", bad[i], errno);
	}
}
END_TEST

START_TEST(test_ipaddr_local_interface_lo)
{
	struct ipaddr a;
	ck_assert_int_eq(ipaddr_local(&a, "lo", 8080, IPADDR_IPV4), 0);
	ck_assert_int_eq(ipaddr_family(&a), AF_INET);
	ck_assert_str_eq(str(&a), "127.0.0.1");
	ck_assert_int_eq(ipaddr_port(&a), 8080);
	ck_assert_int_eq(ipaddr_local(&a, "lo", 8080, 0), 0);
	ck_assert_str_eq(str(&a), "127.0.0.1");
	/* lo has ::1 unless IPv6 is disabled; then the mode finds nothing. */
	errno = 0;
	if (ipaddr_local(&a, "lo", 8080, IPADDR_IPV6) == 0) {
		ck_assert_str_eq(str(&a), "::1");
		ck_assert_int_eq(ipaddr_port(&a), 8080);
		ck_assert_int_eq(ipaddr_local(&a, "lo", 1, IPADDR_PREF_IPV6),
				 0);
		ck_assert_int_eq(ipaddr_family(&a), AF_INET6);
	} else {
		ck_assert_int_eq(errno, EADDRNOTAVAIL);
	}
}
END_TEST

START_TEST(test_ipaddr_local_unknown_interface_enodev)
{
	struct ipaddr a;
	errno = 0;
	ck_assert_int_eq(ipaddr_local(&a, "nosuchif0", 1, 0), -1);
	ck_assert_int_eq(errno, ENODEV);
	errno = 0;
	ck_assert_int_eq(
		ipaddr_local(&a, "an-interface-name-far-too-long", 1, 0), -1);
	ck_assert_int_eq(errno, ENODEV);
	/* A literal's zone must name an interface too. */
	errno = 0;
	ck_assert_int_eq(ipaddr_local(&a, "fe80::1%nosuchif0", 1, 0), -1);
	ck_assert_int_eq(errno, ENODEV);
}
END_TEST

START_TEST(test_ipaddr_local_leaves_addr_alone_on_error)
{
	struct ipaddr a, b;
	ck_assert_int_eq(ipaddr_local(&a, "192.0.2.1", 7, 0), 0);
	b = a;
	ck_assert_int_eq(ipaddr_local(&a, "nosuchif0", 1, 0), -1);
	ck_assert_int_eq(ipaddr_local(&a, "1.2.3.256", 1, 0), -1);
	ck_assert_int_eq(ipaddr_local(&a, "192.0.2.2", 70000, 0), -1);
	ck_assert_int_eq(memcmp(&a, &b, sizeof(a)), 0);
}
END_TEST

/* ---- ipaddr_remote(s): literals ------------------------------------------ */

START_TEST(test_ipaddr_remote_literal_never_blocks)
{
	struct ipaddr a;
	int64_t t0 = now();
	/* Deadline 0 and a deadline long past: literals need no waiting. */
	ck_assert_int_eq(ipaddr_remote(&a, "198.51.100.9", 443, 0, 0), 0);
	ck_assert_str_eq(str(&a), "198.51.100.9");
	ck_assert_int_eq(ipaddr_port(&a), 443);
	ck_assert_int_eq(ipaddr_remote(&a, "2001:db8::42", 443, 0, 1), 0);
	ck_assert_str_eq(str(&a), "2001:db8::42");
	ck_assert_int_eq(ipaddr_remote(&a, "::1", 1, IPADDR_IPV6, -1), 0);
	ck_assert_str_eq(str(&a), "::1");
	ck_assert_int_lt(now() - t0, 100);
}
END_TEST

START_TEST(test_ipaddr_remote_literal_zone)
{
	struct ipaddr a, b;
	unsigned lo = if_nametoindex("lo");
	ck_assert_uint_ne(lo, 0);
	ck_assert_int_eq(ipaddr_remote(&a, "fe80::1%lo", 22, 0, 0), 0);
	ck_assert_int_eq(ipaddr_family(&a), AF_INET6);
	const struct sockaddr_in6 *s6 =
		(const struct sockaddr_in6 *)(const void *)ipaddr_sockaddr(&a);
	ck_assert_uint_eq(s6->sin6_scope_id, lo);
	/* A number names the interface by index. */
	char name[32];
	snprintf(name, sizeof(name), "fe80::1%%%u", lo);
	ck_assert_int_eq(ipaddr_remote(&b, name, 22, 0, 0), 0);
	ck_assert(ipaddr_equal(&a, &b, 0));
	/* The zone takes part in equality; ipaddr_str leaves it out. */
	ck_assert_int_eq(ipaddr_remote(&b, "fe80::1", 22, 0, 0), 0);
	ck_assert(!ipaddr_equal(&a, &b, 0));
	ck_assert_str_eq(str(&a), "fe80::1");
	errno = 0;
	ck_assert_int_eq(ipaddr_remote(&a, "fe80::1%nosuchif0", 22, 0, 0), -1);
	ck_assert_int_eq(errno, ENODEV);
}
END_TEST

START_TEST(test_ipaddr_remote_mode_filters_literals)
{
	struct ipaddr a;
	errno = 0;
	ck_assert_int_eq(ipaddr_remote(&a, "127.0.0.1", 1, IPADDR_IPV6, 0), -1);
	ck_assert_int_eq(errno, EADDRNOTAVAIL);
	errno = 0;
	ck_assert_int_eq(ipaddr_remote(&a, "::1", 1, IPADDR_IPV4, 0), -1);
	ck_assert_int_eq(errno, EADDRNOTAVAIL);
	ck_assert_int_eq(ipaddr_remote(&a, "::1", 1, IPADDR_PREF_IPV4, 0), 0);
	ck_assert_int_eq(ipaddr_remote(&a, "127.0.0.1", 1, IPADDR_PREF_IPV6, 0),
			 0);
	/* ipaddr_remotes reports the same as a count of zero. */
	ck_assert_int_eq(ipaddr_remotes(&a, 1, "::1", 1, IPADDR_IPV4, 0), 0);
	ck_assert_int_eq(ipaddr_remotes(&a, 1, "::1", 1, IPADDR_IPV6, 0), 1);
}
END_TEST

START_TEST(test_ipaddr_remote_bad_args)
{
	struct ipaddr a;
	int64_t t0 = now();
	errno = 0;
	ck_assert_int_eq(ipaddr_remote(NULL, "127.0.0.1", 1, 0, -1), -1);
	ck_assert_int_eq(errno, EINVAL);
	errno = 0;
	ck_assert_int_eq(ipaddr_remote(&a, NULL, 1, 0, -1), -1);
	ck_assert_int_eq(errno, EINVAL);
	errno = 0;
	ck_assert_int_eq(ipaddr_remote(&a, "127.0.0.1", 65536, 0, -1), -1);
	ck_assert_int_eq(errno, EINVAL);
	errno = 0;
	ck_assert_int_eq(ipaddr_remote(&a, "127.0.0.1", -5, 0, -1), -1);
	ck_assert_int_eq(errno, EINVAL);
	errno = 0;
	ck_assert_int_eq(ipaddr_remote(&a, "127.0.0.1", 1, 7, -1), -1);
	ck_assert_int_eq(errno, EINVAL);
	ck_assert_int_eq(ipaddr_remote(&a, "127.0.0.1", 0, 0, -1), 0);
	ck_assert_int_eq(ipaddr_port(&a), 0);
	ck_assert_int_eq(ipaddr_remote(&a, "127.0.0.1", 65535, 0, -1), 0);
	ck_assert_int_eq(ipaddr_port(&a), 65535);
	/* Broken literals are refused without asking the resolver. */
	const char *bad[] = { "", "1.2.3.256", "10.0.0", "::g", "1:2:3",
			      "2001:db8::1%" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		errno = 0;
		ck_assert_msg(ipaddr_remote(&a, bad[i], 1, 0, -1) == -1, "%s",
			      bad[i]);
		ck_assert_msg(errno == EINVAL, "%s: %d", bad[i], errno);
	}
	ck_assert_int_lt(now() - t0, 100);
}
END_TEST

START_TEST(test_ipaddr_remotes_bad_args)
{
	struct ipaddr a[2];
	errno = 0;
	ck_assert_int_eq(ipaddr_remotes(a, 0, "127.0.0.1", 1, 0, -1), -1);
	ck_assert_int_eq(errno, EINVAL);
	errno = 0;
	ck_assert_int_eq(ipaddr_remotes(a, -1, "127.0.0.1", 1, 0, -1), -1);
	ck_assert_int_eq(errno, EINVAL);
	errno = 0;
	ck_assert_int_eq(ipaddr_remotes(NULL, 2, "127.0.0.1", 1, 0, -1), -1);
	ck_assert_int_eq(errno, EINVAL);
	errno = 0;
	ck_assert_int_eq(ipaddr_remotes(a, 2, NULL, 1, 0, -1), -1);
	ck_assert_int_eq(errno, EINVAL);
	errno = 0;
	ck_assert_int_eq(ipaddr_remotes(a, 2, "127.0.0.1", 70000, 0, -1), -1);
	ck_assert_int_eq(errno, EINVAL);
	errno = 0;
	ck_assert_int_eq(ipaddr_remotes(a, 2, "127.0.0.1", 1, 99, -1), -1);
	ck_assert_int_eq(errno, EINVAL);
	ck_assert_int_eq(ipaddr_remotes(a, 2, "127.0.0.1", 1, 0, -1), 1);
}
END_TEST

/* ---- ipaddr_remote(s): the system resolver -------------------------------- */

START_TEST(test_ipaddr_remote_localhost)
{
	struct ipaddr a;
	/* "localhost" is in /etc/hosts: no network involved. */
	ck_assert_int_eq(
		ipaddr_remote(&a, "localhost", 80, IPADDR_IPV4, now() + 5000),
		0);
	ck_assert_str_eq(str(&a), "127.0.0.1");
	ck_assert_int_eq(ipaddr_port(&a), 80);
	ck_assert_int_eq(ipaddr_remote(&a, "localhost", 81, 0, -1), 0);
	ck_assert_str_eq(str(&a), "127.0.0.1");
	ck_assert_int_eq(ipaddr_port(&a), 81);
	ck_assert_int_eq(ipaddr_remote(&a, "LOCALHOST", 81, 0, now() + 5000),
			 0);
	ck_assert_str_eq(str(&a), "127.0.0.1");
}
END_TEST

START_TEST(test_ipaddr_remote_deadline_zero_uses_hosts_file)
{
	struct ipaddr a;
	int64_t t0 = now();
	ck_assert_int_eq(ipaddr_remote(&a, "localhost", 80, IPADDR_IPV4, 0),
			 0);
	ck_assert_str_eq(str(&a), "127.0.0.1");
	ck_assert_int_eq(ipaddr_port(&a), 80);
	/* An expired deadline is the same as 0. */
	ck_assert_int_eq(ipaddr_remote(&a, "localhost.", 80, 0, now() - 10),
			 0);
	ck_assert_str_eq(str(&a), "127.0.0.1");
	ck_assert_int_lt(now() - t0, 100);
}
END_TEST

START_TEST(test_ipaddr_remote_deadline_zero_name_etimedout)
{
	struct ipaddr a;
	int64_t t0 = now();
	/* Not in the hosts file: it would take a DNS query, so no. */
	errno = 0;
	ck_assert_int_eq(ipaddr_remote(&a, "dillnet-test.invalid", 80, 0, 0),
			 -1);
	ck_assert_int_eq(errno, ETIMEDOUT);
	errno = 0;
	ck_assert_int_eq(ipaddr_remotes(&a, 1, "example.invalid", 80, 0, 0),
			 -1);
	ck_assert_int_eq(errno, ETIMEDOUT);
	ck_assert_int_lt(now() - t0, 100);
}
END_TEST

START_TEST(test_ipaddr_remote_hosts_file_parsing)
{
	char path[] = "/tmp/dillnet-hosts-XXXXXX";
	int fd = mkstemp(path);
	ck_assert_int_ge(fd, 0);
	FILE *f = fdopen(fd, "w");
	ck_assert_ptr_nonnull(f);
	fputs("# comment line 198.19.9.9 alpha\n"
	      "\n"
	      "not-an-address alpha\n"
	      "198.18.200.1\talpha Alpha.Example  # trailing comment beta\n"
	      "2001:db8::5 alpha\n"
	      "198.18.200.1 alpha\n"
	      "198.18.200.2 gamma alpha\n"
	      "2001:db8::6 v6only\n",
	      f);
	fclose(f);
	dnl_ipaddr_hosts_path = path;

	struct ipaddr a[8];
	/* Preferred family first, file order within it, duplicates dropped. */
	ck_assert_int_eq(ipaddr_remotes(a, 8, "alpha", 7, 0, 0), 3);
	ck_assert_str_eq(str(&a[0]), "198.18.200.1");
	ck_assert_str_eq(str(&a[1]), "198.18.200.2");
	ck_assert_str_eq(str(&a[2]), "2001:db8::5");
	ck_assert_int_eq(ipaddr_port(&a[2]), 7);
	ck_assert_int_eq(
		ipaddr_remotes(a, 8, "alpha", 7, IPADDR_PREF_IPV6, 0), 3);
	ck_assert_str_eq(str(&a[0]), "2001:db8::5");
	ck_assert_str_eq(str(&a[1]), "198.18.200.1");
	ck_assert_int_eq(ipaddr_remotes(a, 8, "alpha", 7, IPADDR_IPV6, 0), 1);
	ck_assert_int_eq(ipaddr_remotes(a, 2, "alpha", 7, IPADDR_IPV4, 0), 2);
	ck_assert_int_eq(ipaddr_remotes(a, 1, "alpha", 7, IPADDR_IPV4, 0), 1);
	ck_assert_str_eq(str(&a[0]), "198.18.200.1");
	ck_assert_int_eq(ipaddr_remotes(a, 8, "alpha.example.", 7, 0, 0), 1);
	ck_assert_int_eq(ipaddr_remotes(a, 8, "gamma", 7, 0, 0), 1);
	ck_assert_str_eq(str(&a[0]), "198.18.200.2");
	/* Commented-out names do not count. */
	errno = 0;
	ck_assert_int_eq(ipaddr_remotes(a, 8, "beta", 7, 0, 0), -1);
	ck_assert_int_eq(errno, ETIMEDOUT);
	/* Only an IPv6 entry: an IPv4 answer would need DNS. */
	errno = 0;
	ck_assert_int_eq(ipaddr_remote(a, "v6only", 7, IPADDR_IPV4, 0), -1);
	ck_assert_int_eq(errno, ETIMEDOUT);
	ck_assert_int_eq(ipaddr_remote(a, "v6only", 7, IPADDR_PREF_IPV4, 0), 0);
	ck_assert_str_eq(str(&a[0]), "2001:db8::6");
	unlink(path);
	/* No hosts file at all: nothing found without waiting. */
	errno = 0;
	ck_assert_int_eq(ipaddr_remote(a, "alpha", 7, 0, 0), -1);
	ck_assert_int_eq(errno, ETIMEDOUT);
}
END_TEST

START_TEST(test_ipaddr_remote_unresolvable_eaddrnotavail)
{
	struct ipaddr a;
	/* .invalid never resolves (RFC 6761).  Without a network the resolver
	 * usually answers at once; if it hangs instead, the deadline ends the
	 * call and ETIMEDOUT is the right answer. */
	int64_t t0 = now();
	errno = 0;
	ck_assert_int_eq(
		ipaddr_remote(&a, "dillnet-test.invalid", 80, 0, t0 + 3000), -1);
	int64_t took = now() - t0;
	if (errno == ETIMEDOUT)
		ck_assert_int_ge(took, 2990);
	else
		ck_assert_int_eq(errno, EADDRNOTAVAIL);
	ck_assert_int_lt(took, 3500);
	/* ipaddr_remotes says "nothing" with a count of zero. */
	t0 = now();
	errno = 0;
	int n = ipaddr_remotes(&a, 1, "dillnet-test.invalid", 80, 0, t0 + 3000);
	if (n < 0)
		ck_assert_int_eq(errno, ETIMEDOUT);
	else
		ck_assert_int_eq(n, 0);
	ck_assert_int_lt(now() - t0, 3500);
}
END_TEST

/* Scripted resolvers for the getaddrinfo hook. */
static int fake_delay_ms;
static int fake_rc;
static int fake_errno;

static int gai_scripted(const char *name, const char *service,
			const struct addrinfo *hints, struct addrinfo **res)
{
	(void)name;
	(void)service;
	(void)hints;
	(void)res;
	usleep((useconds_t)fake_delay_ms * 1000);
	errno = fake_errno;
	return fake_rc;
}

/* Answers with ::1, 127.0.0.1, 127.0.0.1 again and 192.0.2.1, in that
 * order, whatever the name: real getaddrinfo results chained together so
 * freeaddrinfo can release them. */
static int gai_list(const char *name, const char *service,
		    const struct addrinfo *hints, struct addrinfo **res)
{
	static const char *lits[] = { "::1", "127.0.0.1", "127.0.0.1",
				      "192.0.2.1" };
	struct addrinfo h, *head = NULL, **tail = &head;
	(void)name;
	(void)service;
	(void)hints;
	usleep((useconds_t)fake_delay_ms * 1000);
	memset(&h, 0, sizeof(h));
	h.ai_flags = AI_NUMERICHOST;
	h.ai_socktype = SOCK_STREAM;
	for (size_t i = 0; i < sizeof(lits) / sizeof(lits[0]); i++) {
		struct addrinfo *r;
		ck_assert_int_eq(getaddrinfo(lits[i], NULL, &h, &r), 0);
		*tail = r;
		while (*tail)
			tail = &(*tail)->ai_next;
	}
	*res = head;
	return 0;
}

START_TEST(test_ipaddr_remote_deadline_expires_etimedout)
{
	struct ipaddr a;
	dnl_ipaddr_getaddrinfo = gai_scripted;
	fake_delay_ms = 1500;
	fake_rc = EAI_NONAME;
	int64_t t0 = now();
	errno = 0;
	ck_assert_int_eq(ipaddr_remote(&a, "slow.example", 80, 0, t0 + 200),
			 -1);
	ck_assert_int_eq(errno, ETIMEDOUT);
	int64_t took = now() - t0;
	ck_assert_int_ge(took, 195);
	ck_assert_int_lt(took, 700);
	/* Let the abandoned lookup finish and clean up after itself. */
	usleep(1700 * 1000);
}
END_TEST

START_TEST(test_ipaddr_remote_resolver_thread_result)
{
	struct ipaddr a[4];
	dnl_ipaddr_getaddrinfo = gai_list;
	fake_delay_ms = 50;
	ck_assert_int_eq(
		ipaddr_remotes(a, 4, "many.example", 9, 0, now() + 5000), 3);
	ck_assert_str_eq(str(&a[0]), "127.0.0.1");
	ck_assert_str_eq(str(&a[1]), "192.0.2.1");
	ck_assert_str_eq(str(&a[2]), "::1");
	for (int i = 0; i < 3; i++)
		ck_assert_int_eq(ipaddr_port(&a[i]), 9);
	ck_assert_int_eq(ipaddr_remotes(a, 4, "many.example", 9,
					IPADDR_PREF_IPV6, now() + 5000),
			 3);
	ck_assert_str_eq(str(&a[0]), "::1");
	ck_assert_str_eq(str(&a[1]), "127.0.0.1");
	ck_assert_int_eq(
		ipaddr_remotes(a, 4, "many.example", 9, IPADDR_IPV6, -1), 1);
	ck_assert_int_eq(
		ipaddr_remotes(a, 4, "many.example", 9, IPADDR_IPV4, -1), 2);
	ck_assert_int_eq(
		ipaddr_remotes(a, 1, "many.example", 9, IPADDR_IPV4, -1), 1);
	ck_assert_int_eq(ipaddr_remote(a, "many.example", 9, 0, now() + 5000),
			 0);
	ck_assert_str_eq(str(&a[0]), "127.0.0.1");
}
END_TEST

START_TEST(test_ipaddr_remote_resolver_errors)
{
	struct ipaddr a;
	dnl_ipaddr_getaddrinfo = gai_scripted;
	fake_delay_ms = 0;
	/* Each failure both without a deadline (the caller's own thread)
	 * and with one (the resolver thread). */
	for (int pass = 0; pass < 2; pass++) {
		int64_t d = pass ? now() + 5000 : -1;
		fake_rc = EAI_NONAME;
		errno = 0;
		ck_assert_int_eq(ipaddr_remote(&a, "x.example", 1, 0, d), -1);
		ck_assert_int_eq(errno, EADDRNOTAVAIL);
		ck_assert_int_eq(ipaddr_remotes(&a, 1, "x.example", 1, 0, d), 0);
		fake_rc = EAI_AGAIN;
		errno = 0;
		ck_assert_int_eq(ipaddr_remote(&a, "x.example", 1, 0, d), -1);
		ck_assert_int_eq(errno, EADDRNOTAVAIL);
		fake_rc = EAI_MEMORY;
		errno = 0;
		ck_assert_int_eq(ipaddr_remote(&a, "x.example", 1, 0, d), -1);
		ck_assert_int_eq(errno, ENOMEM);
		fake_rc = EAI_SYSTEM;
		fake_errno = EMFILE;
		errno = 0;
		ck_assert_int_eq(ipaddr_remote(&a, "x.example", 1, 0, d), -1);
		ck_assert_int_eq(errno, EMFILE);
		fake_errno = ECONNREFUSED;
		errno = 0;
		ck_assert_int_eq(ipaddr_remote(&a, "x.example", 1, 0, d), -1);
		ck_assert_int_eq(errno, EADDRNOTAVAIL);
		fake_errno = 0;
	}
}
END_TEST

/* ---- accessors ------------------------------------------------------------ */

START_TEST(test_ipaddr_str_roundtrip)
{
	const char *lits[] = { "0.0.0.0",	  "127.0.0.1",
			       "255.255.255.255", "::",
			       "::1",		  "2001:db8::1:0:0:1",
			       "fe80::1",	  "::ffff:192.0.2.1",
			       "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff" };
	for (size_t i = 0; i < sizeof(lits) / sizeof(lits[0]); i++) {
		struct ipaddr a, b;
		char buf[IPADDR_MAXSTRLEN];
		ck_assert_int_eq(ipaddr_remote(&a, lits[i], 1234, 0, 0), 0);
		ck_assert_ptr_eq(ipaddr_str(&a, buf), buf);
		ck_assert_str_eq(buf, lits[i]);
		ck_assert_int_eq(ipaddr_local(&b, buf, 1234, 0), 0);
		ck_assert(ipaddr_equal(&a, &b, 0));
	}
	struct ipaddr z;
	char buf[IPADDR_MAXSTRLEN];
	memset(&z, 0, sizeof(z));
	errno = 0;
	ck_assert_ptr_null(ipaddr_str(&z, buf));
	ck_assert_int_eq(errno, EINVAL);
	ck_assert_int_eq(ipaddr_local(&z, "::1", 1, 0), 0);
	errno = 0;
	ck_assert_ptr_null(ipaddr_str(&z, NULL));
	ck_assert_int_eq(errno, EINVAL);
	errno = 0;
	ck_assert_ptr_null(ipaddr_str(NULL, buf));
	ck_assert_int_eq(errno, EINVAL);
}
END_TEST

START_TEST(test_ipaddr_family_len_sockaddr)
{
	struct ipaddr a;
	ck_assert_int_eq(ipaddr_local(&a, "192.0.2.3", 4242, 0), 0);
	ck_assert_int_eq(ipaddr_family(&a), AF_INET);
	ck_assert_int_eq(ipaddr_len(&a), (int)sizeof(struct sockaddr_in));
	const struct sockaddr_in *s4 =
		(const struct sockaddr_in *)(const void *)ipaddr_sockaddr(&a);
	ck_assert_ptr_eq((const void *)s4, (const void *)&a);
	ck_assert_int_eq(s4->sin_family, AF_INET);
	ck_assert_uint_eq(ntohs(s4->sin_port), 4242);
	ck_assert_uint_eq(ntohl(s4->sin_addr.s_addr), 0xc0000203u);

	ck_assert_int_eq(ipaddr_local(&a, "2001:db8::3", 4243, 0), 0);
	ck_assert_int_eq(ipaddr_family(&a), AF_INET6);
	ck_assert_int_eq(ipaddr_len(&a), (int)sizeof(struct sockaddr_in6));
	const struct sockaddr_in6 *s6 =
		(const struct sockaddr_in6 *)(const void *)ipaddr_sockaddr(&a);
	ck_assert_int_eq(s6->sin6_family, AF_INET6);
	ck_assert_uint_eq(ntohs(s6->sin6_port), 4243);
	ck_assert_uint_eq(s6->sin6_addr.s6_addr[15], 3);

	/* Never filled in, or garbage: not an address. */
	struct ipaddr z;
	garbage(&z);
	errno = 0;
	ck_assert_int_eq(ipaddr_family(&z), -1);
	ck_assert_int_eq(errno, EINVAL);
	errno = 0;
	ck_assert_int_eq(ipaddr_len(&z), -1);
	ck_assert_int_eq(errno, EINVAL);
	errno = 0;
	ck_assert_ptr_null(ipaddr_sockaddr(&z));
	ck_assert_int_eq(errno, EINVAL);
	errno = 0;
	ck_assert_int_eq(ipaddr_family(NULL), -1);
	ck_assert_int_eq(errno, EINVAL);
	ck_assert_int_eq(ipaddr_len(NULL), -1);
	ck_assert_ptr_null(ipaddr_sockaddr(NULL));
}
END_TEST

START_TEST(test_ipaddr_port_setport)
{
	struct ipaddr a;
	ck_assert_int_eq(ipaddr_local(&a, "127.0.0.1", 1, 0), 0);
	ipaddr_setport(&a, 65535);
	ck_assert_int_eq(ipaddr_port(&a), 65535);
	ipaddr_setport(&a, 0);
	ck_assert_int_eq(ipaddr_port(&a), 0);
	ck_assert_str_eq(str(&a), "127.0.0.1");
	ck_assert_int_eq(ipaddr_local(&a, "::1", 1, 0), 0);
	ipaddr_setport(&a, 8443);
	ck_assert_int_eq(ipaddr_port(&a), 8443);
	ck_assert_str_eq(str(&a), "::1");
	/* Out of range: left alone, errno says why. */
	errno = 0;
	ipaddr_setport(&a, 65536);
	ck_assert_int_eq(errno, EINVAL);
	ck_assert_int_eq(ipaddr_port(&a), 8443);
	ipaddr_setport(&a, -1);
	ck_assert_int_eq(ipaddr_port(&a), 8443);

	struct ipaddr z;
	garbage(&z);
	struct ipaddr copy = z;
	errno = 0;
	ck_assert_int_eq(ipaddr_port(&z), -1);
	ck_assert_int_eq(errno, EINVAL);
	ipaddr_setport(&z, 5);
	ck_assert_int_eq(memcmp(&z, &copy, sizeof(z)), 0);
	ipaddr_setport(NULL, 5);    /* must not crash */
	ck_assert_int_eq(ipaddr_port(NULL), -1);
}
END_TEST

START_TEST(test_ipaddr_equal)
{
	struct ipaddr a, b, c, d;
	ck_assert_int_eq(ipaddr_local(&a, "192.0.2.1", 80, 0), 0);
	ck_assert_int_eq(ipaddr_remote(&b, "192.0.2.1", 80, 0, 0), 0);
	ck_assert(ipaddr_equal(&a, &b, 0));
	ck_assert(ipaddr_equal(&a, &b, 1));
	ipaddr_setport(&b, 81);
	ck_assert(!ipaddr_equal(&a, &b, 0));
	ck_assert(ipaddr_equal(&a, &b, 1));
	ck_assert_int_eq(ipaddr_local(&c, "192.0.2.2", 80, 0), 0);
	ck_assert(!ipaddr_equal(&a, &c, 1));

	ck_assert_int_eq(ipaddr_local(&c, "2001:db8::1", 80, 0), 0);
	ck_assert_int_eq(ipaddr_local(&d, "2001:db8:0::1", 80, 0), 0);
	ck_assert(ipaddr_equal(&c, &d, 0));
	ipaddr_setport(&d, 1);
	ck_assert(!ipaddr_equal(&c, &d, 0));
	ck_assert(ipaddr_equal(&c, &d, 1));
	ck_assert_int_eq(ipaddr_local(&d, "2001:db8::2", 80, 0), 0);
	ck_assert(!ipaddr_equal(&c, &d, 1));

	/* Different families never match, not even the mapped form. */
	ck_assert_int_eq(ipaddr_local(&d, "::ffff:192.0.2.1", 80, 0), 0);
	ck_assert(!ipaddr_equal(&a, &d, 1));
	ck_assert(!ipaddr_equal(&d, &a, 1));

	struct ipaddr z;
	garbage(&z);
	ck_assert(!ipaddr_equal(&a, &z, 1));
	ck_assert(!ipaddr_equal(&z, &z, 1));
	ck_assert(!ipaddr_equal(NULL, &a, 1));
	ck_assert(!ipaddr_equal(&a, NULL, 1));
}
END_TEST

Suite *ipaddr_suite(void)
{
	Suite *s = suite_create("ipaddr");
	TCase *tc = tcase_create("local");
	tcase_add_test(tc, test_ipaddr_local_any);
	tcase_add_test(tc, test_ipaddr_local_literals);
	tcase_add_test(tc, test_ipaddr_local_mode_filters_literals);
	tcase_add_test(tc, test_ipaddr_local_port_range);
	tcase_add_test(tc, test_ipaddr_local_bad_args);
	tcase_add_test(tc, test_ipaddr_local_interface_lo);
	tcase_add_test(tc, test_ipaddr_local_unknown_interface_enodev);
	tcase_add_test(tc, test_ipaddr_local_leaves_addr_alone_on_error);
	suite_add_tcase(s, tc);

	tc = tcase_create("remote");
	/* Lookups are bounded by their deadlines (at most ~3 s each); leave
	 * room for slow machines and the sanitizer build. */
	tcase_set_timeout(tc, 30);
	tcase_add_checked_fixture(tc, seams_save, seams_restore);
	tcase_add_test(tc, test_ipaddr_remote_literal_never_blocks);
	tcase_add_test(tc, test_ipaddr_remote_literal_zone);
	tcase_add_test(tc, test_ipaddr_remote_mode_filters_literals);
	tcase_add_test(tc, test_ipaddr_remote_bad_args);
	tcase_add_test(tc, test_ipaddr_remotes_bad_args);
	tcase_add_test(tc, test_ipaddr_remote_localhost);
	tcase_add_test(tc, test_ipaddr_remote_deadline_zero_uses_hosts_file);
	tcase_add_test(tc, test_ipaddr_remote_deadline_zero_name_etimedout);
	tcase_add_test(tc, test_ipaddr_remote_hosts_file_parsing);
	tcase_add_test(tc, test_ipaddr_remote_unresolvable_eaddrnotavail);
	tcase_add_test(tc, test_ipaddr_remote_deadline_expires_etimedout);
	tcase_add_test(tc, test_ipaddr_remote_resolver_thread_result);
	tcase_add_test(tc, test_ipaddr_remote_resolver_errors);
	suite_add_tcase(s, tc);

	tc = tcase_create("accessors");
	tcase_add_test(tc, test_ipaddr_str_roundtrip);
	tcase_add_test(tc, test_ipaddr_family_len_sockaddr);
	tcase_add_test(tc, test_ipaddr_port_setport);
	tcase_add_test(tc, test_ipaddr_equal);
	suite_add_tcase(s, tc);
	return s;
}
