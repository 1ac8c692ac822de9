/*
 * test_mtcp.c: the mTCP API (mtcp_api.h, mtcp_epoll.h) against the fake
 * daemon (fake_daemon.c): every errno of mtcp_connect that can be
 * provoked, EBADF / ENOTSOCK / EINVAL on the other calls, blocking and
 * non-blocking data with partial counts, epoll's modes, configuration.
 *
 * Each test runs in its own process (Check's fork mode), so mtcp_init's
 * process-wide state starts fresh every time.
 */
#include <check.h>
#include <errno.h>
#include <ftw.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <time.h>
#include <netinet/tcp.h>
#include <unistd.h>

#include "fake_daemon.h"
#include "mtcp_api.h"
#include "mtcp_epoll.h"

static char tdir[64];
static struct fake *fk;

static void dir_setup(void)
{
	strcpy(tdir, "/tmp/dnmtcp.XXXXXX");
	if (!mkdtemp(tdir))
		abort();
}

static int rm_one(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st, (void)flag, (void)ftw;
	return remove(p);
}

static void dir_teardown(void)
{
	nftw(tdir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static void fake_setup(void)
{
	char p[100];
	snprintf(p, sizeof(p), "%s/%d.app.sock", tdir, (int)getpid());
	fk = calloc(1, sizeof(*fk));
	if (!fk || f_start(fk, p) < 0)
		abort();
}

static void fake_teardown(void)
{
	if (fk) {
		f_stop(fk);
		free(fk);
		fk = NULL;
	}
}

static mctx_t setup_ctx(void)
{
	ck_assert_msg(mtcp_init(NULL) == 0, "mtcp_init: %s", strerror(errno));
	mctx_t m = mtcp_create_context(0);
	ck_assert_msg(m != NULL, "mtcp_create_context: %s", strerror(errno));
	return m;
}

static struct sockaddr_in sin_of(int port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port),
				 .sin_addr.s_addr = htonl(0x7f000001) };
	return a;
}

#define SA(x) ((struct sockaddr *)&(x))

/* A listener on a port the fake picks; returns its id, *port the port. */
static int make_listener(mctx_t m, int *port)
{
	int l = mtcp_socket(m, AF_INET, SOCK_STREAM, 0);
	ck_assert_int_ge(l, 0);
	ck_assert_int_eq(mtcp_listen(m, l, 16), 0);
	struct sockaddr_in a;
	socklen_t len = sizeof(a);
	ck_assert_int_eq(mtcp_getsockname(m, l, SA(a), &len), 0);
	*port = ntohs(a.sin_port);
	ck_assert_int_ne(*port, 0);
	return l;
}

/* A connected pair in m: *c connected (blocking), *s accepted. */
static void make_pair(mctx_t m, int *c, int *s, int *l)
{
	int port;
	*l = make_listener(m, &port);
	*c = mtcp_socket(m, AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = sin_of(port);
	ck_assert_msg(mtcp_connect(m, *c, SA(a), sizeof(a)) == 0, "connect: %s",
		      strerror(errno));
	struct sockaddr_in p;
	socklen_t plen = sizeof(p);
	*s = mtcp_accept(m, *l, SA(p), &plen);
	ck_assert_msg(*s >= 0, "accept: %s", strerror(errno));
	ck_assert_int_eq(plen, sizeof(p));
	ck_assert_int_eq(p.sin_family, AF_INET);
}

#define ERRNO_IS(call, e) do { \
	errno = 0; \
	ck_assert_msg((call) == -1 && errno == (e), "%s: errno %s, wanted %s", \
		      #call, strerror(errno), strerror(e)); \
} while (0)

/* ---- mtcp_connect's errors ------------------------------------------- */

START_TEST(test_connect_errnos)
{
	mctx_t m = setup_ctx();
	int port;
	int l = make_listener(m, &port);
	struct sockaddr_in a = sin_of(port);
	int s = mtcp_socket(m, AF_INET, SOCK_STREAM, 0);
	int ep = mtcp_epoll_create(m, 8);

	ERRNO_IS(mtcp_connect(NULL, s, SA(a), sizeof(a)), EINVAL);   /* bad context */
	ERRNO_IS(mtcp_connect(m, s, NULL, sizeof(a)), EFAULT);
	ERRNO_IS(mtcp_connect(m, s, SA(a), 3), EAFNOSUPPORT);
	ERRNO_IS(mtcp_connect(m, s, SA(a), sizeof(a) + 4), EAFNOSUPPORT);
	ERRNO_IS(mtcp_connect(m, 4000, SA(a), sizeof(a)), EBADF);
	ERRNO_IS(mtcp_connect(m, -1, SA(a), sizeof(a)), EBADF);
	ERRNO_IS(mtcp_connect(m, ep, SA(a), sizeof(a)), ENOTSOCK);
	ERRNO_IS(mtcp_connect(m, l, SA(a), sizeof(a)), ENOTSOCK);   /* a listener */
	struct sockaddr_in zero = sin_of(0);
	ERRNO_IS(mtcp_connect(m, s, SA(zero), sizeof(zero)), EINVAL);
	/* Bound to a given local port: the daemon picks the local end. */
	int b = mtcp_socket(m, AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in lp = sin_of(5555);
	ck_assert_int_eq(mtcp_bind(m, b, SA(lp), sizeof(lp)), 0);
	ERRNO_IS(mtcp_connect(m, b, SA(a), sizeof(a)), EINVAL);

	/* EISCONN after a blocking connect. */
	ck_assert_int_eq(mtcp_connect(m, s, SA(a), sizeof(a)), 0);
	ERRNO_IS(mtcp_connect(m, s, SA(a), sizeof(a)), EISCONN);

	/* EINPROGRESS, then EALREADY while it is pending (port 2 never
	 * completes). */
	int p = mtcp_socket(m, AF_INET, SOCK_STREAM, 0);
	ck_assert_int_eq(mtcp_setsock_nonblock(m, p), 0);
	struct sockaddr_in never = sin_of(2);
	ERRNO_IS(mtcp_connect(m, p, SA(never), sizeof(never)), EINPROGRESS);
	ERRNO_IS(mtcp_connect(m, p, SA(never), sizeof(never)), EALREADY);

	/* ETIMEDOUT: the daemon gave up on the handshake (port 4). */
	int t = mtcp_socket(m, AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in slow = sin_of(4);
	ERRNO_IS(mtcp_connect(m, t, SA(slow), sizeof(slow)), ETIMEDOUT);

	/* Connected and reset in one batch (port 5): the connect succeeded,
	 * the reset shows on the first read. */
	int rs = mtcp_socket(m, AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in rst = sin_of(5);
	ck_assert_int_eq(mtcp_connect(m, rs, SA(rst), sizeof(rst)), 0);
	char one;
	ERRNO_IS(mtcp_read(m, rs, &one, 1), ECONNRESET);

	/* ENOMEM: the daemon is out of sockets for this app. */
	fk->emfile = 1;
	int n = mtcp_socket(m, AF_INET, SOCK_STREAM, 0);
	ERRNO_IS(mtcp_connect(m, n, SA(a), sizeof(a)), ENOMEM);
	fk->emfile = 0;

	/* Beyond the page: a refusal is ECONNREFUSED, and the socket may try
	 * again. */
	int r = mtcp_socket(m, AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in refused = sin_of(1);
	ERRNO_IS(mtcp_connect(m, r, SA(refused), sizeof(refused)), ECONNREFUSED);
	ck_assert_int_eq(mtcp_connect(m, r, SA(a), sizeof(a)), 0);

	mtcp_destroy_context(m);
	mtcp_destroy();
}
END_TEST

/* ---- EBADF, ENOTSOCK, EINVAL on every other call ----------------------------- */

START_TEST(test_other_errnos)
{
	mctx_t m = setup_ctx();
	int c, s, l;
	make_pair(m, &c, &s, &l);
	int ep = mtcp_epoll_create(m, 8);
	int fresh = mtcp_socket(m, AF_INET, SOCK_STREAM, 0);
	int closed = mtcp_socket(m, AF_INET, SOCK_STREAM, 0);
	ck_assert_int_eq(mtcp_close(m, closed), 0);
	ck_assert_int_ge(ep, 0);
	char buf[16] = "x";
	struct iovec iov = { buf, sizeof(buf) };
	struct sockaddr_in a = sin_of(80);
	socklen_t alen = sizeof(a);
	int v = 1, nb;
	socklen_t vl = sizeof(v);
	struct mtcp_epoll_event ev = { .events = MTCP_EPOLLIN };
	mctx_t bad = (mctx_t)(void *)&v;

	/* Bad context: EINVAL everywhere. */
	ck_assert_ptr_eq(mtcp_create_context(-1), NULL);
	ERRNO_IS(mtcp_socket(NULL, AF_INET, SOCK_STREAM, 0), EINVAL);
	ERRNO_IS(mtcp_socket(bad, AF_INET, SOCK_STREAM, 0), EINVAL);
	ERRNO_IS(mtcp_bind(NULL, fresh, SA(a), sizeof(a)), EINVAL);
	ERRNO_IS(mtcp_listen(NULL, fresh, 1), EINVAL);
	ERRNO_IS(mtcp_accept(NULL, l, NULL, NULL), EINVAL);
	ERRNO_IS(mtcp_close(NULL, c), EINVAL);
	ERRNO_IS(mtcp_read(NULL, c, buf, 1), EINVAL);
	ERRNO_IS(mtcp_recv(NULL, c, buf, 1, 0), EINVAL);
	ERRNO_IS(mtcp_readv(NULL, c, &iov, 1), EINVAL);
	ERRNO_IS(mtcp_write(NULL, c, buf, 1), EINVAL);
	ERRNO_IS(mtcp_writev(NULL, c, &iov, 1), EINVAL);
	ERRNO_IS(mtcp_setsock_nonblock(NULL, c), EINVAL);
	ERRNO_IS(mtcp_getsockopt(NULL, c, SOL_SOCKET, SO_ERROR, &v, &vl), EINVAL);
	ERRNO_IS(mtcp_setsockopt(NULL, c, SOL_SOCKET, SO_REUSEADDR, &v, sizeof(v)), EINVAL);
	ERRNO_IS(mtcp_socket_ioctl(NULL, c, FIONREAD, &nb), EINVAL);
	ERRNO_IS(mtcp_getsockname(NULL, c, SA(a), &alen), EINVAL);
	ERRNO_IS(mtcp_getpeername(NULL, c, SA(a), &alen), EINVAL);
	ERRNO_IS(mtcp_epoll_create(NULL, 1), EINVAL);
	ERRNO_IS(mtcp_epoll_create1(NULL, 0), EINVAL);
	ERRNO_IS(mtcp_epoll_ctl(NULL, ep, MTCP_EPOLL_CTL_ADD, c, &ev), EINVAL);
	ERRNO_IS(mtcp_epoll_wait(NULL, ep, &ev, 1, 0), EINVAL);
	ERRNO_IS(mtcp_init_rss(NULL, 0, 1, 0, 0), EINVAL);

	/* Unknown or closed id: EBADF. */
	int ids[] = { closed, 9999, -3 };
	for (unsigned i = 0; i < sizeof(ids) / sizeof(ids[0]); i++) {
		int id = ids[i];
		ERRNO_IS(mtcp_bind(m, id, SA(a), sizeof(a)), EBADF);
		ERRNO_IS(mtcp_listen(m, id, 1), EBADF);
		ERRNO_IS(mtcp_accept(m, id, NULL, NULL), EBADF);
		ERRNO_IS(mtcp_close(m, id), EBADF);
		ERRNO_IS(mtcp_abort(m, id), EBADF);
		ERRNO_IS(mtcp_read(m, id, buf, 1), EBADF);
		ERRNO_IS(mtcp_recv(m, id, buf, 1, MSG_PEEK), EBADF);
		ERRNO_IS(mtcp_readv(m, id, &iov, 1), EBADF);
		ERRNO_IS(mtcp_write(m, id, buf, 1), EBADF);
		ERRNO_IS(mtcp_writev(m, id, &iov, 1), EBADF);
		ERRNO_IS(mtcp_setsock_nonblock(m, id), EBADF);
		ERRNO_IS(mtcp_getsockopt(m, id, SOL_SOCKET, SO_ERROR, &v, &vl), EBADF);
		ERRNO_IS(mtcp_setsockopt(m, id, SOL_SOCKET, SO_REUSEADDR, &v, sizeof(v)), EBADF);
		ERRNO_IS(mtcp_socket_ioctl(m, id, FIONREAD, &nb), EBADF);
		ERRNO_IS(mtcp_getsockname(m, id, SA(a), &alen), EBADF);
		ERRNO_IS(mtcp_getpeername(m, id, SA(a), &alen), EBADF);
		ERRNO_IS(mtcp_epoll_ctl(m, id, MTCP_EPOLL_CTL_ADD, c, &ev), EBADF);
		ERRNO_IS(mtcp_epoll_ctl(m, ep, MTCP_EPOLL_CTL_ADD, id, &ev), EBADF);
		ERRNO_IS(mtcp_epoll_wait(m, id, &ev, 1, 0), EBADF);
	}

	/* An epoll id where a socket is needed, or a socket of the wrong
	 * kind: ENOTSOCK. */
	ERRNO_IS(mtcp_bind(m, ep, SA(a), sizeof(a)), ENOTSOCK);
	ERRNO_IS(mtcp_listen(m, ep, 1), ENOTSOCK);
	ERRNO_IS(mtcp_accept(m, ep, NULL, NULL), ENOTSOCK);
	ERRNO_IS(mtcp_read(m, ep, buf, 1), ENOTSOCK);
	ERRNO_IS(mtcp_recv(m, ep, buf, 1, 0), ENOTSOCK);
	ERRNO_IS(mtcp_readv(m, ep, &iov, 1), ENOTSOCK);
	ERRNO_IS(mtcp_write(m, ep, buf, 1), ENOTSOCK);
	ERRNO_IS(mtcp_writev(m, ep, &iov, 1), ENOTSOCK);
	ERRNO_IS(mtcp_setsock_nonblock(m, ep), ENOTSOCK);
	ERRNO_IS(mtcp_getsockopt(m, ep, SOL_SOCKET, SO_ERROR, &v, &vl), ENOTSOCK);
	ERRNO_IS(mtcp_setsockopt(m, ep, SOL_SOCKET, SO_REUSEADDR, &v, sizeof(v)), ENOTSOCK);
	ERRNO_IS(mtcp_socket_ioctl(m, ep, FIONREAD, &nb), ENOTSOCK);
	ERRNO_IS(mtcp_getsockname(m, ep, SA(a), &alen), ENOTSOCK);
	ERRNO_IS(mtcp_getpeername(m, ep, SA(a), &alen), ENOTSOCK);
	ERRNO_IS(mtcp_abort(m, ep), ENOTSOCK);
	ERRNO_IS(mtcp_read(m, l, buf, 1), ENOTSOCK);     /* a listener */
	ERRNO_IS(mtcp_write(m, l, buf, 1), ENOTSOCK);
	ERRNO_IS(mtcp_socket_ioctl(m, l, FIONREAD, &nb), ENOTSOCK);

	/* EINVAL: arguments, and states the call does not apply to. */
	ERRNO_IS(mtcp_socket(m, AF_INET, SOCK_DGRAM, 0), EINVAL);
	ERRNO_IS(mtcp_socket(m, AF_INET6, SOCK_STREAM, 0), EAFNOSUPPORT);
	ERRNO_IS(mtcp_bind(m, fresh, NULL, sizeof(a)), EINVAL);
	ERRNO_IS(mtcp_bind(m, fresh, SA(a), 2), EINVAL);
	ERRNO_IS(mtcp_bind(m, c, SA(a), sizeof(a)), EINVAL);    /* connected */
	ERRNO_IS(mtcp_listen(m, c, 1), EINVAL);                 /* connected */
	ERRNO_IS(mtcp_accept(m, c, NULL, NULL), EINVAL);        /* not listening */
	ERRNO_IS(mtcp_accept(m, l, SA(a), NULL), EINVAL);
	ERRNO_IS(mtcp_recv(m, c, buf, 1, MSG_DONTWAIT), EINVAL);
	ERRNO_IS(mtcp_read(m, c, NULL, 5), EINVAL);
	ERRNO_IS(mtcp_write(m, c, NULL, 5), EINVAL);
	ERRNO_IS(mtcp_readv(m, c, &iov, -1), EINVAL);
	ERRNO_IS(mtcp_writev(m, c, NULL, 1), EINVAL);
	ERRNO_IS(mtcp_getsockopt(m, c, SOL_SOCKET, SO_ERROR, NULL, &vl), EINVAL);
	ERRNO_IS(mtcp_setsockopt(m, c, SOL_SOCKET, SO_REUSEADDR, &v, 1), EINVAL);
	ERRNO_IS(mtcp_socket_ioctl(m, c, 0x5400, &nb), EINVAL);
	ERRNO_IS(mtcp_socket_ioctl(m, c, FIONREAD, NULL), EINVAL);
	ERRNO_IS(mtcp_getsockname(m, c, NULL, &alen), EINVAL);
	ERRNO_IS(mtcp_epoll_create(m, 0), EINVAL);
	ERRNO_IS(mtcp_epoll_create1(m, 12345), EINVAL);
	ERRNO_IS(mtcp_epoll_ctl(m, c, MTCP_EPOLL_CTL_ADD, s, &ev), EINVAL); /* not an epoll */
	ERRNO_IS(mtcp_epoll_ctl(m, ep, MTCP_EPOLL_CTL_ADD, ep, &ev), EINVAL); /* no nesting */
	ERRNO_IS(mtcp_epoll_ctl(m, ep, 99, c, &ev), EINVAL);
	ERRNO_IS(mtcp_epoll_wait(m, c, &ev, 1, 0), EINVAL);
	ERRNO_IS(mtcp_epoll_wait(m, ep, &ev, 0, 0), EINVAL);
	ERRNO_IS(mtcp_epoll_wait(m, ep, NULL, 1, 0), EINVAL);
	ERRNO_IS(mtcp_init_rss(m, 0, 0, 0, 0), EINVAL);
	/* Not connected. */
	ERRNO_IS(mtcp_read(m, fresh, buf, 1), ENOTCONN);
	ERRNO_IS(mtcp_write(m, fresh, buf, 1), ENOTCONN);
	ERRNO_IS(mtcp_getpeername(m, fresh, SA(a), &alen), ENOTCONN);
	/* epoll_ctl's own. */
	ERRNO_IS(mtcp_epoll_ctl(m, ep, MTCP_EPOLL_CTL_MOD, c, &ev), ENOENT);
	ERRNO_IS(mtcp_epoll_ctl(m, ep, MTCP_EPOLL_CTL_DEL, c, NULL), ENOENT);
	ck_assert_int_eq(mtcp_epoll_ctl(m, ep, MTCP_EPOLL_CTL_ADD, c, &ev), 0);
	ERRNO_IS(mtcp_epoll_ctl(m, ep, MTCP_EPOLL_CTL_ADD, c, &ev), EEXIST);
	ERRNO_IS(mtcp_epoll_ctl(m, ep, MTCP_EPOLL_CTL_MOD, c, NULL), EFAULT);
	ck_assert_int_eq(mtcp_init_rss(m, htonl(0x7f000001), 1, htonl(0x7f000001), htons(80)), 0);

	mtcp_destroy_context(m);
	/* A context that is gone: EINVAL, not a crash. */
	ERRNO_IS(mtcp_socket(m, AF_INET, SOCK_STREAM, 0), EINVAL);
	mtcp_destroy();
}
END_TEST

/* ---- data ------------------------------------------------------------------ */

/* Read until n bytes came, waiting in epoll with a bound. */
static void read_n(mctx_t m, int s, char *buf, size_t n)
{
	size_t got = 0;
	for (int i = 0; i < 2000 && got < n; i++) {
		ssize_t r = mtcp_read(m, s, buf + got, n - got);
		if (r > 0)
			got += (size_t)r;
		else if (r < 0 && errno == EAGAIN)
			usleep(1000);
		else
			ck_abort_msg("read: %zd %s", r, strerror(errno));
	}
	ck_assert_uint_eq(got, n);
}

START_TEST(test_data_nonblocking)
{
	mctx_t m = setup_ctx();
	int c, s, l;
	make_pair(m, &c, &s, &l);
	mtcp_setsock_nonblock(m, c);
	mtcp_setsock_nonblock(m, s);
	char buf[3 * F_BUF];
	/* Nothing yet: EAGAIN, and the socket is still fine afterwards. */
	for (int i = 0; i < 3; i++)
		ERRNO_IS(mtcp_read(m, s, buf, sizeof(buf)), EAGAIN);
	ck_assert_int_eq(mtcp_write(m, c, "hello", 5), 5);
	/* A read returns what is there, not what was asked for. */
	memset(buf, 0, sizeof(buf));
	read_n(m, s, buf, 5);
	ck_assert_str_eq(buf, "hello");
	ERRNO_IS(mtcp_read(m, s, buf, sizeof(buf)), EAGAIN);

	/* MSG_PEEK leaves the bytes; FIONREAD counts them; readv spreads. */
	struct iovec wv[2] = { { "abc", 3 }, { "defg", 4 } };
	ck_assert_int_eq(mtcp_writev(m, c, wv, 2), 7);
	int nb = 0;
	for (int i = 0; i < 2000 && nb < 7; i++) {
		ck_assert_int_eq(mtcp_socket_ioctl(m, s, FIONREAD, &nb), 0);
		if (nb < 7)
			usleep(1000);
	}
	ck_assert_int_eq(nb, 7);
	char pk[4] = { 0 };
	ck_assert_int_eq(mtcp_recv(m, s, pk, 3, MSG_PEEK), 3);
	ck_assert_str_eq(pk, "abc");
	char a1[2], a2[10] = { 0 };
	struct iovec rv[2] = { { a1, 2 }, { a2, 9 } };
	ck_assert_int_eq(mtcp_readv(m, s, rv, 2), 7);
	ck_assert(memcmp(a1, "ab", 2) == 0);
	ck_assert_str_eq(a2, "cdefg");

	/* Writes may be partial: the fake's rings hold F_BUF bytes each. */
	static char big[8 * F_BUF];
	for (size_t i = 0; i < sizeof(big); i++)
		big[i] = (char)(i * 7);
	ssize_t w = mtcp_write(m, c, big, sizeof(big));
	ck_assert_int_gt(w, 0);
	ck_assert_int_lt(w, (ssize_t)sizeof(big));
	size_t sent = (size_t)w, got = 0;
	static char in[8 * F_BUF];
	for (int i = 0; i < 20000 && got < sizeof(big); i++) {
		if (sent < sizeof(big)) {
			w = mtcp_write(m, c, big + sent, sizeof(big) - sent);
			if (w > 0)
				sent += (size_t)w;
			else
				ck_assert_int_eq(errno, EAGAIN);
		}
		ssize_t r = mtcp_read(m, s, in + got, sizeof(in) - got);
		if (r > 0)
			got += (size_t)r;
		else if (r < 0 && errno == EAGAIN)
			usleep(200);
		else
			ck_abort_msg("read: %s", strerror(errno));
	}
	ck_assert_uint_eq(got, sizeof(big));
	ck_assert(memcmp(in, big, sizeof(big)) == 0);

	/* End of stream: 0, again and again. */
	ck_assert_int_eq(mtcp_close(m, c), 0);
	ssize_t r = -1;
	for (int i = 0; i < 2000; i++) {
		r = mtcp_read(m, s, buf, sizeof(buf));
		if (r == 0)
			break;
		ck_assert_int_eq(errno, EAGAIN);
		usleep(1000);
	}
	ck_assert_int_eq(r, 0);
	ck_assert_int_eq(mtcp_read(m, s, buf, sizeof(buf)), 0);
	mtcp_destroy_context(m);
	mtcp_destroy();
}
END_TEST

struct later {
	mctx_t m;
	int s;
};

static void *write_later(void *arg)
{
	struct later *lt = arg;
	usleep(100000);
	/* The context is used by the test thread too: only a write here,
	 * which touches nothing the reader does. */
	ssize_t w = mtcp_write(lt->m, lt->s, "late", 4);
	(void)w;
	return NULL;
}

START_TEST(test_blocking_read_waits)
{
	mctx_t m = setup_ctx();
	int c, s, l;
	make_pair(m, &c, &s, &l);
	struct later lt = { m, c };
	pthread_t t;
	pthread_create(&t, NULL, write_later, &lt);
	char buf[16] = { 0 };
	ssize_t r = mtcp_read(m, s, buf, sizeof(buf));
	pthread_join(t, NULL);
	ck_assert_int_eq(r, 4);
	ck_assert_str_eq(buf, "late");
	mtcp_destroy_context(m);
	mtcp_destroy();
}
END_TEST

/* ---- epoll ------------------------------------------------------------------ */

static int64_t ms_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int wait_ev(mctx_t m, int ep, struct mtcp_epoll_event *e, int timeout)
{
	int n;
	do
		n = mtcp_epoll_wait(m, ep, e, 8, timeout);
	while (n < 0 && errno == EINTR);
	return n;
}

START_TEST(test_epoll_modes)
{
	mctx_t m = setup_ctx();
	int c, s, l;
	make_pair(m, &c, &s, &l);
	mtcp_setsock_nonblock(m, s);
	int ep = mtcp_epoll_create1(m, 0);
	struct mtcp_epoll_event ev = { .events = MTCP_EPOLLIN | MTCP_EPOLLET,
				       .data.sockid = s }, e[8];
	ck_assert_int_eq(mtcp_epoll_ctl(m, ep, MTCP_EPOLL_CTL_ADD, s, &ev), 0);
	ck_assert_int_eq(wait_ev(m, ep, e, 0), 0);     /* nothing yet */

	/* Edge-triggered: one report per arrival, even if unread. */
	ck_assert_int_eq(mtcp_write(m, c, "a", 1), 1);
	ck_assert_int_eq(wait_ev(m, ep, e, 2000), 1);
	ck_assert_int_eq(e[0].data.sockid, s);
	ck_assert_uint_eq(e[0].events, MTCP_EPOLLIN);
	ck_assert_int_eq(wait_ev(m, ep, e, 50), 0);
	ck_assert_int_eq(mtcp_write(m, c, "b", 1), 1);
	ck_assert_int_eq(wait_ev(m, ep, e, 2000), 1);

	/* Level-triggered: reported while unread. */
	ev.events = MTCP_EPOLLIN;
	ck_assert_int_eq(mtcp_epoll_ctl(m, ep, MTCP_EPOLL_CTL_MOD, s, &ev), 0);
	ck_assert_int_eq(wait_ev(m, ep, e, 2000), 1);
	ck_assert_int_eq(wait_ev(m, ep, e, 0), 1);
	char buf[8];
	ck_assert_int_eq(mtcp_read(m, s, buf, sizeof(buf)), 2);
	ck_assert_int_eq(wait_ev(m, ep, e, 0), 0);

	/* One-shot: once, then silent until MOD re-arms. */
	ev.events = MTCP_EPOLLIN | MTCP_EPOLLONESHOT;
	ck_assert_int_eq(mtcp_epoll_ctl(m, ep, MTCP_EPOLL_CTL_MOD, s, &ev), 0);
	ck_assert_int_eq(mtcp_write(m, c, "c", 1), 1);
	ck_assert_int_eq(wait_ev(m, ep, e, 2000), 1);
	ck_assert_int_eq(wait_ev(m, ep, e, 50), 0);
	ck_assert_int_eq(mtcp_write(m, c, "d", 1), 1);
	ck_assert_int_eq(wait_ev(m, ep, e, 50), 0);
	ck_assert_int_eq(mtcp_epoll_ctl(m, ep, MTCP_EPOLL_CTL_MOD, s, &ev), 0);
	ck_assert_int_eq(wait_ev(m, ep, e, 2000), 1);
	ck_assert_int_eq(mtcp_read(m, s, buf, sizeof(buf)), 2);

	/* OUT, level: a connected socket with room. */
	ev.events = MTCP_EPOLLOUT;
	ck_assert_int_eq(mtcp_epoll_ctl(m, ep, MTCP_EPOLL_CTL_MOD, s, &ev), 0);
	ck_assert_int_eq(wait_ev(m, ep, e, 2000), 1);
	ck_assert_uint_eq(e[0].events, MTCP_EPOLLOUT);

	/* The peer's FIN: IN | RDHUP. */
	ev.events = MTCP_EPOLLIN | MTCP_EPOLLRDHUP;
	ck_assert_int_eq(mtcp_epoll_ctl(m, ep, MTCP_EPOLL_CTL_MOD, s, &ev), 0);
	ck_assert_int_eq(mtcp_close(m, c), 0);
	int n = 0;
	for (int64_t end = ms_now() + 10000;
	     !(n == 1 && (e[0].events & MTCP_EPOLLRDHUP)) && ms_now() < end; usleep(1000))
		n = wait_ev(m, ep, e, 100);
	ck_assert_int_eq(n, 1);
	ck_assert_uint_eq(e[0].events, MTCP_EPOLLIN | MTCP_EPOLLRDHUP);
	ck_assert_int_eq(mtcp_read(m, s, buf, sizeof(buf)), 0);

	/* DEL: no more reports; closing an epoll id works like a socket's. */
	ck_assert_int_eq(mtcp_epoll_ctl(m, ep, MTCP_EPOLL_CTL_DEL, s, NULL), 0);
	ck_assert_int_eq(wait_ev(m, ep, e, 0), 0);
	ck_assert_int_eq(mtcp_close(m, ep), 0);
	ERRNO_IS(mtcp_epoll_wait(m, ep, e, 8, 0), EBADF);
	mtcp_destroy_context(m);
	mtcp_destroy();
}
END_TEST

START_TEST(test_epoll_err_hup_and_connect)
{
	mctx_t m = setup_ctx();
	int port;
	int l = make_listener(m, &port);
	mtcp_setsock_nonblock(m, l);
	int ep = mtcp_epoll_create(m, 8);
	struct mtcp_epoll_event ev = { .events = MTCP_EPOLLIN, .data.sockid = l }, e[8];
	ck_assert_int_eq(mtcp_epoll_ctl(m, ep, MTCP_EPOLL_CTL_ADD, l, &ev), 0);
	ERRNO_IS(mtcp_accept(m, l, NULL, NULL), EAGAIN);

	/* Non-blocking connect: EINPROGRESS, then OUT with SO_ERROR 0; the
	 * listener reports IN. */
	int c = mtcp_socket(m, AF_INET, SOCK_STREAM, 0);
	mtcp_setsock_nonblock(m, c);
	struct sockaddr_in a = sin_of(port);
	ERRNO_IS(mtcp_connect(m, c, SA(a), sizeof(a)), EINPROGRESS);
	ev.events = MTCP_EPOLLOUT;
	ev.data.sockid = c;
	ck_assert_int_eq(mtcp_epoll_ctl(m, ep, MTCP_EPOLL_CTL_ADD, c, &ev), 0);
	/* Bounded in time, not in rounds: a level-triggered socket that is
	 * ready makes every wait return at once. */
	int got_out = 0, got_in = 0;
	for (int64_t end = ms_now() + 10000; !(got_out && got_in) && ms_now() < end;) {
		int n = wait_ev(m, ep, e, 100);
		if (!(got_out && got_in))
			usleep(1000);
		for (int k = 0; k < n; k++) {
			if (e[k].data.sockid == c && (e[k].events & MTCP_EPOLLOUT))
				got_out = 1;
			if (e[k].data.sockid == l && (e[k].events & MTCP_EPOLLIN))
				got_in = 1;
		}
	}
	ck_assert_msg(got_out && got_in, "out %d in %d", got_out, got_in);
	int err = -1;
	socklen_t len = sizeof(err);
	ck_assert_int_eq(mtcp_getsockopt(m, c, SOL_SOCKET, SO_ERROR, &err, &len), 0);
	ck_assert_int_eq(err, 0);
	int s = mtcp_accept(m, l, NULL, NULL);
	ck_assert_int_ge(s, 0);
	ERRNO_IS(mtcp_accept(m, l, NULL, NULL), EAGAIN);
	struct sockaddr_in pa;
	socklen_t plen = sizeof(pa);
	ck_assert_int_eq(mtcp_getpeername(m, c, SA(pa), &plen), 0);
	ck_assert_int_eq(ntohs(pa.sin_port), port);

	/* A reset (the peer aborts with unread data): ERR | HUP even when
	 * only IN was asked for; SO_ERROR says why, once. */
	ev.events = MTCP_EPOLLIN;
	ck_assert_int_eq(mtcp_epoll_ctl(m, ep, MTCP_EPOLL_CTL_MOD, c, &ev), 0);
	ck_assert_int_eq(mtcp_abort(m, s), 0);
	int n = 0;
	for (int64_t end = ms_now() + 10000; ms_now() < end; usleep(1000)) {
		n = wait_ev(m, ep, e, 100);
		if (n == 1 && e[0].data.sockid == c && (e[0].events & MTCP_EPOLLERR))
			break;
	}
	ck_assert_int_eq(n, 1);
	ck_assert_uint_eq(e[0].events, MTCP_EPOLLIN | MTCP_EPOLLERR | MTCP_EPOLLHUP);
	ck_assert_int_eq(mtcp_getsockopt(m, c, SOL_SOCKET, SO_ERROR, &err, &len), 0);
	ck_assert_int_eq(err, ECONNRESET);
	ck_assert_int_eq(mtcp_getsockopt(m, c, SOL_SOCKET, SO_ERROR, &err, &len), 0);
	ck_assert_int_eq(err, 0);
	char buf[4];
	ERRNO_IS(mtcp_read(m, c, buf, sizeof(buf)), ECONNRESET);

	/* A refused non-blocking connect completes through epoll with ERR
	 * and SO_ERROR. */
	int r = mtcp_socket(m, AF_INET, SOCK_STREAM, 0);
	mtcp_setsock_nonblock(m, r);
	struct sockaddr_in refused = sin_of(1);
	ERRNO_IS(mtcp_connect(m, r, SA(refused), sizeof(refused)), EINPROGRESS);
	ev.events = MTCP_EPOLLOUT;
	ev.data.sockid = r;
	ck_assert_int_eq(mtcp_epoll_ctl(m, ep, MTCP_EPOLL_CTL_ADD, r, &ev), 0);
	int found = 0;
	for (int64_t end = ms_now() + 10000; !found && ms_now() < end; usleep(1000)) {
		n = wait_ev(m, ep, e, 100);
		for (int k = 0; k < n; k++)
			if (e[k].data.sockid == r)
				found = (int)e[k].events;
	}
	ck_assert_uint_eq(found, MTCP_EPOLLOUT | MTCP_EPOLLERR | MTCP_EPOLLHUP);
	ck_assert_int_eq(mtcp_getsockopt(m, r, SOL_SOCKET, SO_ERROR, &err, &len), 0);
	ck_assert_int_eq(err, ECONNREFUSED);
	mtcp_destroy_context(m);
	mtcp_destroy();
}
END_TEST

/* ---- ids, options, configuration, threads --------------------------------- */

START_TEST(test_ids_and_options)
{
	mctx_t m = setup_ctx();
	/* One id space from 0 up: programs index arrays with them.  The order
	 * ids come back in is test_ids_fifo's. */
	int a = mtcp_socket(m, AF_INET, SOCK_STREAM, 0);
	int ep = mtcp_epoll_create(m, 1);
	int b = mtcp_socket(m, AF_INET, SOCK_STREAM, 0);
	ck_assert_int_eq(a, 0);
	ck_assert_int_eq(ep, 1);
	ck_assert_int_eq(b, 2);
	ck_assert_int_eq(mtcp_close(m, ep), 0);
	ck_assert_int_eq(mtcp_socket(m, AF_INET, SOCK_STREAM, 0), 3);

	int v = 1;
	socklen_t vl = sizeof(v);
	ck_assert_int_eq(mtcp_setsockopt(m, a, SOL_SOCKET, SO_REUSEADDR, &v, sizeof(v)), 0);
	ck_assert_int_eq(mtcp_setsockopt(m, a, IPPROTO_TCP, TCP_NODELAY, &(int){ 0 },
					 sizeof(int)), 0);
	/* Kept until the daemon has the socket, then sent (below). */
	ck_assert_int_eq(mtcp_setsockopt(m, a, IPPROTO_TCP, TCP_NODELAY, &v, sizeof(v)), 0);
	ck_assert_int_eq(mtcp_getsockopt(m, a, IPPROTO_TCP, TCP_NODELAY, &v, &vl), 0);
	ck_assert_int_eq(v, 1);
	v = 1;
	ERRNO_IS(mtcp_setsockopt(m, a, SOL_SOCKET, SO_KEEPALIVE, &v, sizeof(v)), ENOPROTOOPT);
	ck_assert_int_eq(mtcp_getsockopt(m, a, SOL_SOCKET, SO_RCVBUF, &v, &vl), 0);
	ck_assert_int_eq(v, F_BUF);
	ck_assert_int_eq(mtcp_setsockopt(m, a, SOL_SOCKET, SO_RCVBUF, &v, sizeof(v)), 0);
	v = 2 * F_BUF;
	ERRNO_IS(mtcp_setsockopt(m, a, SOL_SOCKET, SO_RCVBUF, &v, sizeof(v)), EINVAL);
	ERRNO_IS(mtcp_setsockopt(m, a, SOL_SOCKET, SO_SNDBUF, &v, sizeof(v)), EINVAL);

	/* SO_SNDBUF is honoured: writes stop at it. */
	int c, s, l;
	make_pair(m, &c, &s, &l);
	v = 100;
	ck_assert_int_eq(mtcp_setsockopt(m, c, SOL_SOCKET, SO_SNDBUF, &v, sizeof(v)), 0);
	ck_assert_int_eq(mtcp_getsockopt(m, c, SOL_SOCKET, SO_SNDBUF, &v, &vl), 0);
	ck_assert_int_eq(v, 100);
	mtcp_setsock_nonblock(m, c);
	static char big[F_BUF];
	ssize_t w = mtcp_write(m, c, big, sizeof(big));
	ck_assert_int_gt(w, 0);
	ck_assert_int_le(w, 100);
	/* TCP_NODELAY on a connected socket reaches the daemon at once. */
	v = 1;
	ck_assert_int_eq(mtcp_setsockopt(m, c, IPPROTO_TCP, TCP_NODELAY, &v, sizeof(v)), 0);
	ck_assert_int_eq(fk->nodelay_on, 2);
	v = 0;
	ck_assert_int_eq(mtcp_setsockopt(m, c, IPPROTO_TCP, TCP_NODELAY, &v, sizeof(v)), 0);
	ck_assert_int_eq(fk->nodelay_on, 1);
	mtcp_destroy_context(m);
	mtcp_destroy();
}
END_TEST

/* Free ids are reused first-in-first-out, as mTCP's free socket list:
 * 0, 1, 2, ... first, and a closed id goes to the back, behind every id
 * never used, sockets and epoll instances alike.  An mTCP program that
 * closes one connection, opens the next and then clears the state it kept
 * under the old id must not find the new connection under that id. */
START_TEST(test_ids_fifo)
{
	struct mtcp_conf cf;
	ck_assert_int_eq(mtcp_getconf(&cf), 0);
	cf.num_cores = 1;
	cf.max_concurrency = 8;
	ck_assert_int_eq(mtcp_setconf(&cf), 0);
	mctx_t m = setup_ctx();
	int c, s, l;
	make_pair(m, &c, &s, &l);          /* l 0, c 1, s 2 */
	ck_assert_int_eq(l, 0);
	ck_assert_int_eq(c, 1);
	ck_assert_int_eq(s, 2);
	/* epwget's pattern: close a finished connection, open the next. */
	ck_assert_int_eq(mtcp_close(m, c), 0);
	int next = mtcp_socket(m, AF_INET, SOCK_STREAM, 0);
	ck_assert_int_eq(next, 3);
	ck_assert_int_eq(mtcp_epoll_create(m, 4), 4);
	ck_assert_int_eq(mtcp_close(m, s), 0);
	ck_assert_int_eq(mtcp_close(m, 4), 0);   /* the epoll id, after s */
	/* A non-blocking accept with nothing waiting takes no id: the order
	 * is the same after it (mTCP takes one only for a connection). */
	mtcp_setsock_nonblock(m, l);
	for (int i = 0; i < 3; i++)
		ERRNO_IS(mtcp_accept(m, l, NULL, NULL), EAGAIN);
	/* The ids never used (5, 6, 7), then the closed ones in the order
	 * they were closed (1, 2, 4), whatever kind asks. */
	int want[] = { 5, 6, 7, 1, 2, 4 };
	for (int i = 0; i < 6; i++) {
		int id = i % 2 ? mtcp_epoll_create(m, 4)
			       : mtcp_socket(m, AF_INET, SOCK_STREAM, 0);
		ck_assert_msg(id == want[i], "id %d: got %d, wanted %d", i, id, want[i]);
	}
	ERRNO_IS(mtcp_socket(m, AF_INET, SOCK_STREAM, 0), ENFILE);
	ERRNO_IS(mtcp_epoll_create(m, 4), ENFILE);
	/* Full, then one closed: that one comes back, and only it. */
	ck_assert_int_eq(mtcp_close(m, 6), 0);
	ck_assert_int_eq(mtcp_socket(m, AF_INET, SOCK_STREAM, 0), 6);
	ERRNO_IS(mtcp_socket(m, AF_INET, SOCK_STREAM, 0), ENFILE);
	/* A closed id is unknown until handed out again. */
	ck_assert_int_eq(mtcp_close(m, 3), 0);
	ERRNO_IS(mtcp_close(m, 3), EBADF);
	ck_assert_int_eq(mtcp_socket(m, AF_INET, SOCK_STREAM, 0), 3);
	/* A new context starts at 0 again. */
	mtcp_destroy_context(m);
	m = mtcp_create_context(0);
	ck_assert_ptr_nonnull(m);
	ck_assert_int_eq(mtcp_socket(m, AF_INET, SOCK_STREAM, 0), 0);
	ck_assert_int_eq(mtcp_socket(m, AF_INET, SOCK_STREAM, 0), 1);
	mtcp_destroy_context(m);
	mtcp_destroy();
}
END_TEST

/* mTCP's own close is close(2)-like and returns 0 on a stream that was
 * reset (CloseStreamSocket: a stream already TCP_ST_CLOSED is destroyed
 * and 0 returned), so mtcp_close keeps returning 0 after failed reads
 * and writes, unlike libdill's tcp_close (ECONNRESET).  The id is freed
 * all the same. */
START_TEST(test_mtcp_close_after_failed_read_returns_0)
{
	mctx_t m = setup_ctx();
	int c, s, l;
	make_pair(m, &c, &s, &l);
	ck_assert_int_eq(mtcp_abort(m, s), 0);
	char buf[4];
	ERRNO_IS(mtcp_read(m, c, buf, sizeof(buf)), ECONNRESET);   /* blocks until the RST */
	ck_assert_int_eq(mtcp_write(m, c, "x", 1), -1);
	ck_assert_int_eq(mtcp_close(m, c), 0);
	ERRNO_IS(mtcp_close(m, c), EBADF);
	mtcp_destroy_context(m);
	mtcp_destroy();
}
END_TEST

/* mtcp_bind asks the daemon, as bind(2) checks at once: a port the
 * policy refuses is EACCES and an address not the daemon's EADDRNOTAVAIL,
 * at the bind, and the socket stays unbound.  Address and port 0 need no
 * question. */
START_TEST(test_bind_policy)
{
	mctx_t m = setup_ctx();
	int l = mtcp_socket(m, AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in low = sin_of(F_PORT_MIN - 1), good = sin_of(F_PORT_MIN);
	struct sockaddr_in foreign = sin_of(F_PORT_MIN);
	foreign.sin_addr.s_addr = htonl(0xc6120063);   /* 198.18.0.99 */
	struct sockaddr_in any = { .sin_family = AF_INET };
	ERRNO_IS(mtcp_bind(m, l, SA(low), sizeof(low)), EACCES);
	ck_assert_int_eq(atomic_load(&fk->binds), 1);
	ERRNO_IS(mtcp_bind(m, l, SA(foreign), sizeof(foreign)), EADDRNOTAVAIL);
	ck_assert_int_eq(atomic_load(&fk->binds), 2);
	/* Still unbound: a good port binds and listens there. */
	ck_assert_int_eq(mtcp_bind(m, l, SA(good), sizeof(good)), 0);
	ck_assert_int_eq(atomic_load(&fk->binds), 3);
	ck_assert_int_eq(mtcp_listen(m, l, 4), 0);
	struct sockaddr_in got;
	socklen_t glen = sizeof(got);
	ck_assert_int_eq(mtcp_getsockname(m, l, SA(got), &glen), 0);
	ck_assert_int_eq(ntohs(got.sin_port), F_PORT_MIN);
	int s = mtcp_socket(m, AF_INET, SOCK_STREAM, 0);
	ck_assert_int_eq(mtcp_bind(m, s, SA(any), sizeof(any)), 0);
	ck_assert_int_eq(atomic_load(&fk->binds), 3);
	mtcp_destroy_context(m);
	mtcp_destroy();
}
END_TEST

START_TEST(test_conf)
{
	struct mtcp_conf cf;
	ERRNO_IS(mtcp_getconf(NULL), EINVAL);
	ck_assert_int_eq(mtcp_getconf(&cf), 0);
	ck_assert_int_ge(cf.num_cores, 1);
	/* Contexts need mtcp_init. */
	ck_assert_ptr_eq(mtcp_create_context(0), NULL);
	ck_assert_int_eq(errno, EINVAL);
	cf.num_cores = 3;
	cf.max_concurrency = 16;
	ck_assert_int_eq(mtcp_setconf(&cf), 0);
	struct mtcp_conf bad = cf;
	bad.num_cores = 0;
	ERRNO_IS(mtcp_setconf(&bad), EINVAL);

	/* An mTCP config file: meaningless settings are accepted (and named
	 * on stderr once); dillnet_socket names the daemon; bad values fail. */
	char conf[128], badconf[128];
	snprintf(conf, sizeof(conf), "%s/%d.mtcp.conf", tdir, (int)getpid());
	snprintf(badconf, sizeof(badconf), "%s/%d.bad.conf", tdir, (int)getpid());
	FILE *f = fopen(conf, "w");
	fprintf(f, "# comment\nio = dpdk\nnum_mem_ch = 4\nport = dpdk0\n"
		"num_cores = 8\nmax_concurrency = 32\ndillnet_socket = %s\n", fk->path);
	fclose(f);
	f = fopen(badconf, "w");
	fprintf(f, "num_cores = many\n");
	fclose(f);
	ERRNO_IS(mtcp_init(badconf), EINVAL);
	ERRNO_IS(mtcp_init("/nonexistent/mtcp.conf"), ENOENT);
	setenv("DILLNET_SOCKET", "/nonexistent/app.sock", 1);
	ck_assert_msg(mtcp_init(conf) == 0, "mtcp_init: %s", strerror(errno));
	ERRNO_IS(mtcp_init(conf), EEXIST);
	/* The program's own mtcp_setconf beats the file. */
	ck_assert_int_eq(mtcp_getconf(&cf), 0);
	ck_assert_int_eq(cf.num_cores, 3);
	ck_assert_int_eq(cf.max_concurrency, 16);
	ck_assert_int_eq(cf.rcvbuf_size, F_BUF);
	/* Lowered before creating contexts. */
	cf.num_cores = 2;
	ck_assert_int_eq(mtcp_setconf(&cf), 0);
	mctx_t m0 = mtcp_create_context(0), m1 = mtcp_create_context(1);
	ck_assert_ptr_nonnull(m0);
	ck_assert_ptr_nonnull(m1);
	ck_assert_int_eq(m1->cpu, 1);
	ck_assert_ptr_eq(mtcp_create_context(2), NULL);
	ck_assert_int_eq(errno, EINVAL);
	ck_assert_ptr_eq(mtcp_create_context(1), NULL);
	ck_assert_int_eq(errno, EEXIST);
	/* max_concurrency bounds the ids of a context. */
	int n = 0;
	while (mtcp_socket(m0, AF_INET, SOCK_STREAM, 0) >= 0)
		n++;
	ck_assert_int_eq(n, 16);
	ck_assert_int_eq(errno, ENFILE);
	ck_assert_int_eq(mtcp_core_affinitize(1), 0);
	ERRNO_IS(mtcp_core_affinitize(-1), EINVAL);
	mtcp_destroy();
	ERRNO_IS(mtcp_socket(m0, AF_INET, SOCK_STREAM, 0), EINVAL);
}
END_TEST

static volatile sig_atomic_t got_sig;
static void on_sig(int s)
{
	(void)s;
	got_sig = 1;
}

static void *kill_later(void *arg)
{
	usleep(100000);
	pthread_kill(*(pthread_t *)arg, SIGUSR1);
	return NULL;
}

/* Several threads, one context and one epoll set each, one shared port;
 * a signal interrupts mtcp_epoll_wait with EINTR. */
struct srv {
	int port;
	int cpu;
	int accepted;
	_Atomic int ready;          /* listening */
	_Atomic int *stop;
	mctx_t m;
};

static void *serve(void *arg)
{
	struct srv *sv = arg;
	mctx_t m = sv->m;
	int l = mtcp_socket(m, AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = sin_of(sv->port);
	mtcp_setsock_nonblock(m, l);
	if (mtcp_bind(m, l, SA(a), sizeof(a)) < 0 || mtcp_listen(m, l, 16) < 0) {
		atomic_store(&sv->ready, -1);
		return NULL;
	}
	atomic_store(&sv->ready, 1);
	int ep = mtcp_epoll_create(m, 8);
	struct mtcp_epoll_event ev = { .events = MTCP_EPOLLIN, .data.sockid = l }, e[8];
	mtcp_epoll_ctl(m, ep, MTCP_EPOLL_CTL_ADD, l, &ev);
	/* Until the test has its two answers (bounded: 20 s). */
	for (int i = 0; i < 2000 && !atomic_load(sv->stop); i++) {
		int n = mtcp_epoll_wait(m, ep, e, 8, 10);
		for (int k = 0; k < n; k++) {
			int s;
			while ((s = mtcp_accept(m, l, NULL, NULL)) >= 0) {
				sv->accepted++;
				mtcp_write(m, s, "hi", 2);
			}
		}
	}
	return NULL;
}

START_TEST(test_threads_and_signal)
{
	struct mtcp_conf cf;
	mtcp_getconf(&cf);
	cf.num_cores = 3;
	ck_assert_int_eq(mtcp_setconf(&cf), 0);
	ck_assert_int_eq(mtcp_init(NULL), 0);
	static _Atomic int stop;
	struct srv sv[2] = { { .port = 7777, .cpu = 1, .stop = &stop },
			     { .port = 7777, .cpu = 2, .stop = &stop } };
	pthread_t t[2];
	for (int i = 0; i < 2; i++) {
		sv[i].m = mtcp_create_context(sv[i].cpu);
		ck_assert_ptr_nonnull(sv[i].m);
		pthread_create(&t[i], NULL, serve, &sv[i]);
	}
	mctx_t m = mtcp_create_context(0);
	/* Both contexts listen on the one port (no EADDRINUSE for the
	 * second). */
	for (int i = 0; i < 2000 && !(atomic_load(&sv[0].ready) &&
				     atomic_load(&sv[1].ready)); i++)
		usleep(5000);
	ck_assert_int_eq(atomic_load(&sv[0].ready), 1);
	ck_assert_int_eq(atomic_load(&sv[1].ready), 1);
	int cs[2];
	for (int i = 0; i < 2; i++) {
		cs[i] = mtcp_socket(m, AF_INET, SOCK_STREAM, 0);
		struct sockaddr_in a = sin_of(7777);
		ck_assert_msg(mtcp_connect(m, cs[i], SA(a), sizeof(a)) == 0, "connect: %s",
			      strerror(errno));
		char buf[2];
		ck_assert_int_eq(mtcp_read(m, cs[i], buf, 2), 2);
	}
	atomic_store(&stop, 1);
	for (int i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
	ck_assert_int_eq(sv[0].accepted + sv[1].accepted, 2);

	ck_assert(mtcp_register_signal(SIGUSR1, on_sig) != SIG_ERR);
	int ep = mtcp_epoll_create(m, 1);
	pthread_t self = pthread_self(), k;
	pthread_create(&k, NULL, kill_later, &self);
	struct mtcp_epoll_event e;
	ERRNO_IS(mtcp_epoll_wait(m, ep, &e, 1, 5000), EINTR);
	pthread_join(k, NULL);
	ck_assert(got_sig);
	mtcp_destroy();
}
END_TEST

Suite *mtcp_suite(void)
{
	Suite *s = suite_create("mtcp");
	TCase *tc = tcase_create("fake daemon");
	tcase_add_unchecked_fixture(tc, dir_setup, dir_teardown);
	tcase_add_checked_fixture(tc, fake_setup, fake_teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_connect_errnos);
	tcase_add_test(tc, test_other_errnos);
	tcase_add_test(tc, test_data_nonblocking);
	tcase_add_test(tc, test_blocking_read_waits);
	tcase_add_test(tc, test_epoll_modes);
	tcase_add_test(tc, test_epoll_err_hup_and_connect);
	tcase_add_test(tc, test_ids_and_options);
	tcase_add_test(tc, test_ids_fifo);
	tcase_add_test(tc, test_mtcp_close_after_failed_read_returns_0);
	tcase_add_test(tc, test_bind_policy);
	tcase_add_test(tc, test_conf);
	tcase_add_test(tc, test_threads_and_signal);
	suite_add_tcase(s, tc);
	return s;
}
