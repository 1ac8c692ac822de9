/*
 * test_ipc_handle.c: the handle core on its own, with a toy handle kind, so
 * the rules every kind (IPC now, TCP and mTCP later) relies on are checked
 * apart from any transport.
 */
#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "handle.h"
#include "iol.h"

/* A toy kind: sends "succeed" unless told to fail with a given errno;
 * receives block until cancelled. */
struct toy {
	struct dnl_handle h;
	int fail_errno;
	int released;
	int *release_count;
	_Atomic int in_recv;
	int cancel_fd[2];
};

static int toy_bsendl(struct dnl_handle *h, struct iolist *f,
		      struct iolist *l, int64_t d)
{
	(void)f, (void)l, (void)d;
	struct toy *t = (struct toy *)h;
	if (t->fail_errno) {
		errno = t->fail_errno;
		return -1;
	}
	return 0;
}

static int toy_brecvl(struct dnl_handle *h, struct iolist *f,
		      struct iolist *l, int64_t d)
{
	(void)f, (void)l, (void)d;
	struct toy *t = (struct toy *)h;
	atomic_store(&t->in_recv, 1);
	char c;
	/* Sleeps until cancel writes the pipe, as a real kind sleeps until
	 * its wakeup. */
	while (!dnl_handle_cancelled(h))
		if (read(t->cancel_fd[0], &c, 1) < 0)
			break;
	usleep(20 * 1000);   /* still inside when hclose wants to free */
	atomic_store(&t->in_recv, 0);
	errno = ECANCELED;
	return -1;
}

static void toy_cancel(struct dnl_handle *h)
{
	struct toy *t = (struct toy *)h;
	ssize_t n = write(t->cancel_fd[1], "c", 1);
	(void)n;
}

static void toy_release(struct dnl_handle *h)
{
	struct toy *t = (struct toy *)h;
	/* No call may be inside any more. */
	ck_assert_int_eq(atomic_load(&t->in_recv), 0);
	t->released++;
	if (t->release_count)
		(*t->release_count)++;
	close(t->cancel_fd[0]);
	close(t->cancel_fd[1]);
}

static const struct dnl_vtable toy_vt = {
	.kind = DNL_KIND_MTCP,   /* any kind number the tests do not use */
	.name = "toy",
	.bsendl = toy_bsendl,
	.brecvl = toy_brecvl,
	.cancel = toy_cancel,
	.release = toy_release,
};

static const struct dnl_vtable mute_vt = {
	.kind = DNL_KIND_TCP_LISTENER,
	.name = "mute",
};

static int toy_new(struct toy *t, int flags)
{
	memset(t, 0, sizeof(*t));
	ck_assert_int_eq(pipe(t->cancel_fd), 0);
	return dnl_handle_add(&t->h, &toy_vt, flags);
}

START_TEST(test_ipc_handle_lookup)
{
	struct toy t;
	int h = toy_new(&t, 0);
	ck_assert_int_gt(h, 0);
	struct dnl_handle *p = dnl_handle_get(h, DNL_KIND_ANY);
	ck_assert_ptr_eq(p, &t.h);
	dnl_handle_put(p);
	ck_assert_ptr_eq(dnl_handle_get(h, DNL_KIND_IPC), NULL);
	ck_assert_int_eq(errno, ENOTSUP);
	ck_assert_ptr_eq(dnl_handle_get(h + 1000, DNL_KIND_ANY), NULL);
	ck_assert_int_eq(errno, EBADF);
	ck_assert_int_eq(dillnet_hclose(h), 0);
	ck_assert_int_eq(t.released, 1);
	ck_assert_int_eq(dillnet_hclose(h), -1);
	ck_assert_int_eq(errno, EBADF);
	/* The lowest free number is reused. */
	struct toy u;
	ck_assert_int_eq(toy_new(&u, 0), h);
	dillnet_hclose(h);
}
END_TEST

START_TEST(test_ipc_handle_free_flag)
{
	struct toy *t = malloc(sizeof(*t));
	int count = 0;
	int h = toy_new(t, DNL_H_FREE);
	t->release_count = &count;
	ck_assert_int_eq(dillnet_hclose(h), 0);
	ck_assert_int_eq(count, 1);   /* t was freed: ASan would object */
}
END_TEST

START_TEST(test_ipc_handle_reserve)
{
	struct toy t;
	memset(&t, 0, sizeof(t));
	ck_assert_int_eq(pipe(t.cancel_fd), 0);
	int h = dnl_handle_reserve(&t.h, &toy_vt, 0);
	ck_assert_int_gt(h, 0);
	/* Invisible until published. */
	ck_assert_int_eq(dillnet_bsend(h, "x", 1, 0), -1);
	ck_assert_int_eq(errno, EBADF);
	ck_assert_int_eq(dillnet_hclose(h), -1);
	ck_assert_int_eq(errno, EBADF);
	dnl_handle_publish(&t.h);
	ck_assert_int_eq(dillnet_bsend(h, "x", 1, 0), 0);
	ck_assert_int_eq(dillnet_hclose(h), 0);
	/* Unreserve releases without publishing. */
	struct toy u;
	memset(&u, 0, sizeof(u));
	ck_assert_int_eq(pipe(u.cancel_fd), 0);
	int h2 = dnl_handle_reserve(&u.h, &toy_vt, 0);
	ck_assert_int_gt(h2, 0);
	dnl_handle_unreserve(&u.h);
	ck_assert_int_eq(u.released, 1);
}
END_TEST

START_TEST(test_ipc_handle_ENOTSUP)
{
	struct dnl_handle m;
	int h = dnl_handle_add(&m, &mute_vt, 0);
	char b[1] = { 0 };
	ck_assert_int_eq(dillnet_bsend(h, b, 1, 0), -1);
	ck_assert_int_eq(errno, ENOTSUP);
	ck_assert_int_eq(dillnet_brecv(h, b, 1, 0), -1);
	ck_assert_int_eq(errno, ENOTSUP);
	ck_assert_int_eq(dnl_handle_done(h, DNL_KIND_ANY, 0), -1);
	ck_assert_int_eq(errno, ENOTSUP);
	/* A kind without close: *_close just releases. */
	ck_assert_int_eq(dnl_handle_close(h, DNL_KIND_TCP_LISTENER, 0), 0);
	ck_assert_int_eq(dillnet_hclose(h), -1);
	ck_assert_int_eq(errno, EBADF);
}
END_TEST

START_TEST(test_ipc_handle_broken_direction)
{
	struct toy t;
	int h = toy_new(&t, 0);
	/* These are not failures of the stream: the direction stays. */
	int keep[] = { EINVAL, EPIPE, EPROTO };
	for (size_t i = 0; i < sizeof(keep) / sizeof(keep[0]); i++) {
		t.fail_errno = keep[i];
		ck_assert_int_eq(dillnet_bsend(h, "x", 1, 0), -1);
		ck_assert_int_eq(errno, keep[i]);
		t.fail_errno = 0;
		ck_assert_int_eq(dillnet_bsend(h, "x", 1, 0), 0);
	}
	/* This one is: later calls get ECONNRESET without reaching the kind. */
	t.fail_errno = ETIMEDOUT;
	ck_assert_int_eq(dillnet_bsend(h, "x", 1, 0), -1);
	ck_assert_int_eq(errno, ETIMEDOUT);
	t.fail_errno = 0;
	ck_assert_int_eq(dillnet_bsend(h, "x", 1, 0), -1);
	ck_assert_int_eq(errno, ECONNRESET);
	/* A bad list is rejected before the kind is called. */
	struct toy u;
	int h2 = toy_new(&u, 0);
	struct iolist a = { "a", 1, NULL, 1 };
	ck_assert_int_eq(dillnet_bsendl(h2, &a, &a, 0), -1);
	ck_assert_int_eq(errno, EINVAL);
	a.iol_rsvd = 0;
	ck_assert_int_eq(dillnet_bsendl(h2, &a, &a, 0), 0);
	dillnet_hclose(h);
	dillnet_hclose(h2);
}
END_TEST

struct call {
	int h;
	int rc, err;
};

static void *recv_main(void *p)
{
	struct call *c = p;
	char b;
	c->rc = dillnet_brecv(c->h, &b, 1, -1);
	c->err = errno;
	return NULL;
}

START_TEST(test_ipc_handle_close_waits)
{
	struct toy t;
	int h = toy_new(&t, 0);
	struct call c = { .h = h };
	pthread_t th;
	pthread_create(&th, NULL, recv_main, &c);
	while (!atomic_load(&t.in_recv))
		usleep(1000);
	char b;
	ck_assert_int_eq(dillnet_brecv(h, &b, 1, 0), -1);
	ck_assert_int_eq(errno, EBUSY);
	/* hclose cancels the call and returns only after it has left (the
	 * release hook asserts that), so t could be reused right away. */
	ck_assert_int_eq(dillnet_hclose(h), 0);
	ck_assert_int_eq(t.released, 1);
	pthread_join(th, NULL);
	ck_assert_int_eq(c.rc, -1);
	ck_assert_int_eq(c.err, ECANCELED);
}
END_TEST

START_TEST(test_ipc_handle_iolist_check)
{
	size_t total;
	struct iolist c = { NULL, 5, NULL, 0 };
	struct iolist b = { "bb", 2, &c, 0 };
	struct iolist a = { "a", 1, &b, 0 };
	ck_assert_int_eq(dnl_iol_check(&a, &c, 0, &total), 0);
	ck_assert_uint_eq(total, 8);
	/* NULL base with a length: fine to receive into, not to send. */
	ck_assert_int_eq(dnl_iol_check(&a, &c, 1, &total), -1);
	/* No empty list (libdill's bsendl(3)): both NULL is EINVAL. */
	ck_assert_int_eq(dnl_iol_check(NULL, NULL, 1, &total), -1);
	ck_assert_int_eq(errno, EINVAL);
	ck_assert_int_eq(dnl_iol_check(NULL, NULL, 0, &total), -1);
	/* last must end the chain. */
	ck_assert_int_eq(dnl_iol_check(&a, &b, 0, &total), -1);
	ck_assert_int_eq(errno, EINVAL);
	ck_assert_int_eq(dnl_iol_check(&a, NULL, 0, &total), -1);
	ck_assert_int_eq(dnl_iol_check(NULL, &a, 0, &total), -1);
	/* Cycles of every length, with last outside the cycle. */
	struct iolist ring[7], out = { "o", 1, NULL, 0 };
	for (int n = 1; n <= 7; n++) {
		for (int i = 0; i < n; i++)
			ring[i] = (struct iolist){ "r", 1, &ring[(i + 1) % n], 0 };
		ck_assert_int_eq(dnl_iol_check(&ring[0], &out, 0, &total), -1);
		ck_assert_int_eq(errno, EINVAL);
		/* A last inside it links on: EINVAL as well. */
		ck_assert_int_eq(dnl_iol_check(&ring[0], &ring[n - 1], 0, &total), -1);
		ck_assert_int_eq(errno, EINVAL);
		/* Cut after last: the same chain is valid. */
		ring[n - 1].iol_next = NULL;
		ck_assert_int_eq(dnl_iol_check(&ring[0], &ring[n - 1], 0, &total), 0);
		ck_assert_uint_eq(total, (size_t)n);
	}
	/* Lengths that overflow size_t. */
	struct iolist y = { NULL, SIZE_MAX, NULL, 0 };
	struct iolist x = { NULL, 2, &y, 0 };
	ck_assert_int_eq(dnl_iol_check(&x, &y, 0, &total), -1);
}
END_TEST

/* Lookups take no lock (hazard entries): a lookup racing with hclose and
 * with the slot's reuse must get the old object (still alive), the new
 * one, or EBADF, never freed memory (ASan checks that in the -asan run). */
struct hammer {
	int lo, hi;
	_Atomic int stop;
	_Atomic long ok, bad;
	int bad_errno;
};

static void *hammer_main(void *arg)
{
	struct hammer *m = arg;
	char b = 0;
	while (!atomic_load(&m->stop))
		for (int s = m->lo; s <= m->hi; s++) {
			if (dillnet_bsend(s, &b, 1, 0) == 0) {
				atomic_fetch_add(&m->ok, 1);
			} else if (errno != EBADF && errno != EBUSY &&
				   errno != ECANCELED) {
				m->bad_errno = errno;
				atomic_fetch_add(&m->bad, 1);
			}
		}
	return NULL;
}

START_TEST(test_ipc_handle_lookup_races_release)
{
	enum { N = 8, THREADS = 3 };
	int ids[N];
	for (int i = 0; i < N; i++) {
		struct toy *t = malloc(sizeof(*t));
		ids[i] = toy_new(t, DNL_H_FREE);
		ck_assert_int_gt(ids[i], 0);
	}
	struct hammer m = { .lo = ids[0], .hi = ids[0] + 2 * N };
	pthread_t th[THREADS];
	for (int i = 0; i < THREADS; i++)
		pthread_create(&th[i], NULL, hammer_main, &m);
	int64_t end = dillnet_now() + 300;
	long rounds = 0;
	while (dillnet_now() < end) {
		int k = (int)(rounds++ % N);
		ck_assert_int_eq(dillnet_hclose(ids[k]), 0);
		struct toy *t = malloc(sizeof(*t));
		ids[k] = toy_new(t, DNL_H_FREE);   /* takes the freed number */
		ck_assert_int_gt(ids[k], 0);
	}
	atomic_store(&m.stop, 1);
	for (int i = 0; i < THREADS; i++)
		pthread_join(th[i], NULL);
	for (int i = 0; i < N; i++)
		ck_assert_int_eq(dillnet_hclose(ids[i]), 0);
	ck_assert_msg(atomic_load(&m.bad) == 0, "unexpected errno %d",
		      m.bad_errno);
	ck_assert_int_gt(atomic_load(&m.ok), 0);
	ck_assert_int_gt(rounds, 10);
}
END_TEST

struct holder {
	int h, depth;
	_Atomic int holding, go;
};

static void *holder_main(void *arg)
{
	struct holder *o = arg;
	struct dnl_handle *p[8];
	for (int i = 0; i < o->depth; i++)
		p[i] = dnl_handle_get(o->h, DNL_KIND_ANY);
	atomic_store(&o->holding, 1);
	while (!atomic_load(&o->go))
		usleep(1000);
	for (int i = o->depth - 1; i >= 0; i--)
		if (p[i])
			dnl_handle_put(p[i]);
	return NULL;
}

struct closer {
	int h, rc;
	_Atomic int done;
};

static void *closer_main(void *arg)
{
	struct closer *c = arg;
	c->rc = dillnet_hclose(c->h);
	atomic_store(&c->done, 1);
	return NULL;
}

/* hclose waits for a lookup held in another thread, whether it sits in a
 * hazard entry (depth 1) or, nested deeper than the entries go, in the
 * reference count (depth 8). */
START_TEST(test_ipc_handle_close_waits_for_lookup)
{
	for (int depth = 1; depth <= 8; depth += 7) {
		struct toy t;
		struct holder o = { .h = toy_new(&t, 0), .depth = depth };
		pthread_t a, b;
		pthread_create(&a, NULL, holder_main, &o);
		while (!atomic_load(&o.holding))
			usleep(1000);
		struct closer c = { .h = o.h };
		pthread_create(&b, NULL, closer_main, &c);
		usleep(50 * 1000);
		ck_assert_int_eq(atomic_load(&c.done), 0);
		ck_assert_int_eq(t.released, 0);
		atomic_store(&o.go, 1);
		pthread_join(a, NULL);
		pthread_join(b, NULL);
		ck_assert_int_eq(c.rc, 0);
		ck_assert_int_eq(t.released, 1);
	}
}
END_TEST

Suite *ipc_handle_suite(void)
{
	Suite *s = suite_create("ipc_handle");
	TCase *tc = tcase_create("core");
	tcase_add_test(tc, test_ipc_handle_lookup);
	tcase_add_test(tc, test_ipc_handle_free_flag);
	tcase_add_test(tc, test_ipc_handle_reserve);
	tcase_add_test(tc, test_ipc_handle_ENOTSUP);
	tcase_add_test(tc, test_ipc_handle_broken_direction);
	tcase_add_test(tc, test_ipc_handle_close_waits);
	tcase_add_test(tc, test_ipc_handle_iolist_check);
	tcase_add_test(tc, test_ipc_handle_lookup_races_release);
	tcase_add_test(tc, test_ipc_handle_close_waits_for_lookup);
	suite_add_tcase(s, tc);
	return s;
}
