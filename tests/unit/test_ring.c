/* Unit tests for proto/dn_ring: single-thread semantics, index validation,
 * the wakeup handshake, and a two-thread stress run checked byte for byte. */
#include "dn_ring.h"

#include <check.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#define RSZ 256u

struct fixture {
	struct dn_ring_shared sh;
	uint8_t data[RSZ];
	struct dn_ring prod, cons;
};

static void fx_init(struct fixture *f)
{
	memset(f, 0, sizeof(*f));
	dn_ring_shared_init(&f->sh);
	ck_assert_int_eq(dn_ring_attach(&f->prod, &f->sh, f->data, RSZ), 0);
	ck_assert_int_eq(dn_ring_attach(&f->cons, &f->sh, f->data, RSZ), 0);
}

static void fill_seq(uint8_t *b, size_t n, unsigned start)
{
	for (size_t i = 0; i < n; i++)
		b[i] = (uint8_t)(start + i);
}

START_TEST(test_ring_attach_rejects_bad_size)
{
	struct dn_ring_shared sh;
	uint8_t data[128];
	struct dn_ring r;
	dn_ring_shared_init(&sh);
	errno = 0;
	ck_assert_int_eq(dn_ring_attach(&r, &sh, data, 100), -1);
	ck_assert_int_eq(errno, EINVAL);
	ck_assert_int_eq(dn_ring_attach(&r, &sh, data, 32), -1);
	ck_assert_int_eq(dn_ring_attach(&r, &sh, data, 0), -1);
	ck_assert_int_eq(dn_ring_attach(&r, &sh, NULL, 64), -1);
	ck_assert_int_eq(dn_ring_attach(&r, &sh, data, 128), 0);
	ck_assert_uint_eq(r.mask, 127);
}
END_TEST

START_TEST(test_ring_attach_rejects_corrupt_indices)
{
	struct dn_ring_shared sh;
	uint8_t data[64];
	struct dn_ring r;
	dn_ring_shared_init(&sh);
	atomic_store(&sh.head, 10);
	atomic_store(&sh.tail, 10 + 65);
	errno = 0;
	ck_assert_int_eq(dn_ring_attach(&r, &sh, data, 64), -1);
	ck_assert_int_eq(errno, EPROTO);
	atomic_store(&sh.tail, 5);   /* tail behind head */
	ck_assert_int_eq(dn_ring_attach(&r, &sh, data, 64), -1);
	atomic_store(&sh.tail, 74);  /* exactly full is fine */
	ck_assert_int_eq(dn_ring_attach(&r, &sh, data, 64), 0);
	ck_assert_uint_eq(dn_ring_readable(&r), 64);
}
END_TEST

START_TEST(test_ring_empty_and_full)
{
	struct fixture f;
	uint8_t in[RSZ + 10], out[RSZ + 10];
	fx_init(&f);
	ck_assert_uint_eq(dn_ring_readable(&f.cons), 0);
	ck_assert_uint_eq(dn_ring_writable(&f.prod), RSZ);
	ck_assert_uint_eq(dn_ring_read(&f.cons, out, sizeof(out)), 0);
	fill_seq(in, sizeof(in), 7);
	ck_assert_uint_eq(dn_ring_write(&f.prod, in, RSZ), RSZ);
	ck_assert_uint_eq(dn_ring_writable(&f.prod), 0);
	ck_assert_uint_eq(dn_ring_write(&f.prod, in, 1), 0);
	ck_assert_uint_eq(dn_ring_readable(&f.cons), RSZ);
	ck_assert_uint_eq(dn_ring_read(&f.cons, out, sizeof(out)), RSZ);
	ck_assert_mem_eq(in, out, RSZ);
	ck_assert_uint_eq(dn_ring_readable(&f.cons), 0);
	ck_assert_uint_eq(dn_ring_writable(&f.prod), RSZ);
}
END_TEST

START_TEST(test_ring_write_wraps_around)
{
	struct fixture f;
	uint8_t in[200], out[200];
	fx_init(&f);
	/* Move the indices near the end of the data area. */
	fill_seq(in, sizeof(in), 0);
	ck_assert_uint_eq(dn_ring_write(&f.prod, in, 200), 200);
	ck_assert_uint_eq(dn_ring_read(&f.cons, out, 200), 200);
	/* This write starts at offset 200 and wraps after 56 bytes. */
	fill_seq(in, sizeof(in), 99);
	ck_assert_uint_eq(dn_ring_write(&f.prod, in, 150), 150);
	ck_assert_mem_eq(f.data + 200, in, 56);
	ck_assert_mem_eq(f.data, in + 56, 94);
	memset(out, 0, sizeof(out));
	ck_assert_uint_eq(dn_ring_read(&f.cons, out, 150), 150);
	ck_assert_mem_eq(out, in, 150);
	ck_assert_uint_eq(atomic_load(&f.sh.head), 350);
	ck_assert_uint_eq(atomic_load(&f.sh.tail), 350);
}
END_TEST

START_TEST(test_ring_partial_write)
{
	struct fixture f;
	uint8_t in[RSZ], out[RSZ];
	fx_init(&f);
	fill_seq(in, sizeof(in), 3);
	ck_assert_uint_eq(dn_ring_write(&f.prod, in, 200), 200);
	/* Only 56 bytes of room: the write is short, not refused. */
	ck_assert_uint_eq(dn_ring_write(&f.prod, in, 100), 56);
	ck_assert_uint_eq(dn_ring_read(&f.cons, out, 10), 10);
	ck_assert_mem_eq(out, in, 10);
	/* Room the consumer freed is found although the cached head is stale. */
	ck_assert_uint_eq(dn_ring_write(&f.prod, in + 56, 100), 10);
	ck_assert_uint_eq(dn_ring_readable(&f.cons), RSZ);
	/* Partial read too. */
	ck_assert_uint_eq(dn_ring_read(&f.cons, out, 190), 190);
	ck_assert_mem_eq(out, in + 10, 190);
	ck_assert_uint_eq(dn_ring_read(&f.cons, out, RSZ), 66);
	ck_assert_mem_eq(out, in, 56);
	ck_assert_mem_eq(out + 56, in + 56, 10);
}
END_TEST

START_TEST(test_ring_read_null_skips)
{
	struct fixture f;
	uint8_t in[100], out[100];
	fx_init(&f);
	fill_seq(in, sizeof(in), 0);
	ck_assert_uint_eq(dn_ring_write(&f.prod, in, 100), 100);
	ck_assert_uint_eq(dn_ring_read(&f.cons, NULL, 30), 30);
	ck_assert_uint_eq(dn_ring_readable(&f.cons), 70);
	ck_assert_uint_eq(dn_ring_read(&f.cons, out, 10), 10);
	ck_assert_mem_eq(out, in + 30, 10);
	ck_assert_uint_eq(dn_ring_read(&f.cons, NULL, 1000), 60);
	ck_assert_uint_eq(dn_ring_readable(&f.cons), 0);
	ck_assert_uint_eq(dn_ring_writable(&f.prod), RSZ);
}
END_TEST

START_TEST(test_ring_peek_consume_write_at_produce)
{
	struct fixture f;
	uint8_t a[40], b[40], out[80], junk[230] = { 0 };
	fx_init(&f);
	/* Start near the end so the fine-grained calls also wrap. */
	ck_assert_uint_eq(dn_ring_write(&f.prod, junk, 230), 230);
	ck_assert_uint_eq(dn_ring_read(&f.cons, NULL, 230), 230);
	ck_assert_uint_eq(dn_ring_writable(&f.prod), RSZ);
	fill_seq(a, sizeof(a), 1);
	fill_seq(b, sizeof(b), 101);
	/* Out of order: the second segment first, then the hole. */
	dn_ring_write_at(&f.prod, 40, b, 40);
	ck_assert_uint_eq(dn_ring_readable(&f.cons), 0);   /* not published */
	dn_ring_write_at(&f.prod, 0, a, 40);
	dn_ring_produce(&f.prod, 80);
	ck_assert_uint_eq(dn_ring_readable(&f.cons), 80);
	/* Peek without consuming, at offsets, like a retransmission would. */
	dn_ring_peek_at(&f.cons, 40, out, 40);
	ck_assert_mem_eq(out, b, 40);
	dn_ring_peek_at(&f.cons, 10, out, 50);
	ck_assert_mem_eq(out, a + 10, 30);
	ck_assert_mem_eq(out + 30, b, 20);
	ck_assert_uint_eq(dn_ring_readable(&f.cons), 80);
	dn_ring_consume(&f.cons, 40);
	ck_assert_uint_eq(dn_ring_readable(&f.cons), 40);
	ck_assert_uint_eq(dn_ring_writable(&f.prod), RSZ - 40);
	dn_ring_peek_at(&f.cons, 0, out, 40);
	ck_assert_mem_eq(out, b, 40);
	dn_ring_consume(&f.cons, 40);
	ck_assert_uint_eq(dn_ring_writable(&f.prod), RSZ);
	ck_assert_uint_eq(atomic_load(&f.sh.head), 310);
}
END_TEST

START_TEST(test_ring_corrupt_tail_more_than_size_ahead)
{
	struct fixture f;
	uint8_t out[16];
	fx_init(&f);
	atomic_store(&f.sh.tail, RSZ + 1);
	ck_assert_uint_eq(dn_ring_readable(&f.cons), DN_RING_CORRUPT);
	ck_assert_uint_eq(dn_ring_read(&f.cons, out, 16), DN_RING_CORRUPT);
	/* The private copy is untouched: a later valid value is accepted. */
	atomic_store(&f.sh.tail, RSZ);
	ck_assert_uint_eq(dn_ring_readable(&f.cons), RSZ);
	/* Huge values (wrapping the unsigned distance) are caught too. */
	atomic_store(&f.sh.tail, UINT64_MAX);
	ck_assert_uint_eq(dn_ring_readable(&f.cons), DN_RING_CORRUPT);
}
END_TEST

START_TEST(test_ring_corrupt_tail_goes_backwards)
{
	struct fixture f;
	uint8_t in[100];
	fx_init(&f);
	ck_assert_uint_eq(dn_ring_write(&f.prod, in, 100), 100);
	ck_assert_uint_eq(dn_ring_readable(&f.cons), 100);
	ck_assert_uint_eq(dn_ring_read(&f.cons, NULL, 20), 20);
	/* Still ahead of head, but behind a tail already seen. */
	atomic_store(&f.sh.tail, 50);
	ck_assert_uint_eq(dn_ring_readable(&f.cons), DN_RING_CORRUPT);
	/* Behind head. */
	atomic_store(&f.sh.tail, 10);
	ck_assert_uint_eq(dn_ring_readable(&f.cons), DN_RING_CORRUPT);
	atomic_store(&f.sh.tail, 100);
	ck_assert_uint_eq(dn_ring_readable(&f.cons), 80);
}
END_TEST

START_TEST(test_ring_corrupt_head_beyond_tail)
{
	struct fixture f;
	uint8_t in[RSZ];
	fx_init(&f);
	ck_assert_uint_eq(dn_ring_write(&f.prod, in, 50), 50);
	atomic_store(&f.sh.head, 51);
	ck_assert_uint_eq(dn_ring_writable(&f.prod), DN_RING_CORRUPT);
	/* The write path must validate when it needs the head: fill first so
	 * the cached head cannot satisfy it. */
	ck_assert_uint_eq(dn_ring_write(&f.prod, in, RSZ), DN_RING_CORRUPT);
	atomic_store(&f.sh.head, 50);
	ck_assert_uint_eq(dn_ring_writable(&f.prod), RSZ);
}
END_TEST

START_TEST(test_ring_corrupt_head_goes_backwards)
{
	struct fixture f;
	uint8_t in[100];
	fx_init(&f);
	ck_assert_uint_eq(dn_ring_write(&f.prod, in, 100), 100);
	ck_assert_uint_eq(dn_ring_read(&f.cons, NULL, 60), 60);
	ck_assert_uint_eq(dn_ring_writable(&f.prod), RSZ - 40);
	atomic_store(&f.sh.head, 59);
	ck_assert_uint_eq(dn_ring_writable(&f.prod), DN_RING_CORRUPT);
	atomic_store(&f.sh.head, UINT64_MAX);
	ck_assert_uint_eq(dn_ring_writable(&f.prod), DN_RING_CORRUPT);
	atomic_store(&f.sh.head, 60);
	ck_assert_uint_eq(dn_ring_writable(&f.prod), RSZ - 40);
}
END_TEST

START_TEST(test_ring_own_index_never_read_back)
{
	struct fixture f;
	uint8_t in[10] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10 }, out[10];
	fx_init(&f);
	/* A peer scribbling on the producer's own index in shared memory does
	 * not move the producer: its next publish overwrites the scribble. */
	atomic_store(&f.sh.tail, 5000);
	ck_assert_uint_eq(dn_ring_write(&f.prod, in, 10), 10);
	ck_assert_uint_eq(atomic_load(&f.sh.tail), 10);
	ck_assert_uint_eq(dn_ring_read(&f.cons, out, 10), 10);
	ck_assert_mem_eq(in, out, 10);
}
END_TEST

START_TEST(test_ring_flags)
{
	struct fixture f;
	fx_init(&f);
	ck_assert_uint_eq(dn_ring_flags(&f.cons), 0);
	dn_ring_set_flag(&f.prod, DN_RING_F_EOF);
	ck_assert_uint_eq(dn_ring_flags(&f.cons), DN_RING_F_EOF);
	dn_ring_set_flag(&f.cons, DN_RING_F_RESET);
	ck_assert_uint_eq(dn_ring_flags(&f.prod), DN_RING_F_EOF | DN_RING_F_RESET);
	dn_ring_set_flag(&f.prod, DN_RING_F_EOF);   /* sticky, idempotent */
	ck_assert_uint_eq(dn_ring_flags(&f.prod), DN_RING_F_EOF | DN_RING_F_RESET);
	dn_ring_shared_init(&f.sh);
	ck_assert_uint_eq(dn_ring_flags(&f.prod), 0);
}
END_TEST

START_TEST(test_ring_wakeup_flags_single_thread)
{
	struct fixture f;
	uint8_t b[8] = { 0 };
	fx_init(&f);
	ck_assert_int_eq(dn_ring_consumer_needs_wakeup(&f.prod), 0);
	ck_assert_int_eq(dn_ring_producer_needs_wakeup(&f.cons), 0);
	dn_ring_cons_prepare_sleep(&f.cons);
	ck_assert_uint_eq(atomic_load(&f.sh.cons_waiting), 1);
	ck_assert_uint_eq(dn_ring_write(&f.prod, b, 8), 8);
	ck_assert_int_eq(dn_ring_consumer_needs_wakeup(&f.prod), 1);
	/* One wakeup per sleep: the flag was taken. */
	ck_assert_int_eq(dn_ring_consumer_needs_wakeup(&f.prod), 0);
	dn_ring_cons_cancel_sleep(&f.cons);
	ck_assert_uint_eq(atomic_load(&f.sh.cons_waiting), 0);

	dn_ring_prod_prepare_sleep(&f.prod);
	ck_assert_int_eq(dn_ring_consumer_needs_wakeup(&f.prod), 0);
	ck_assert_uint_eq(dn_ring_read(&f.cons, NULL, 8), 8);
	ck_assert_int_eq(dn_ring_producer_needs_wakeup(&f.cons), 1);
	ck_assert_int_eq(dn_ring_producer_needs_wakeup(&f.cons), 0);
	/* A sleeper that wakes on its own cancels; no wakeup is then owed. */
	dn_ring_prod_prepare_sleep(&f.prod);
	dn_ring_prod_cancel_sleep(&f.prod);
	ck_assert_int_eq(dn_ring_producer_needs_wakeup(&f.cons), 0);
}
END_TEST

/* ---- threaded tests --------------------------------------------------- */

/* Hot loops avoid ck_assert on success: Check records the location of
 * every passing assertion through a pipe to the parent, a system call each,
 * which would dominate the stress run. */
#define HOT_CHECK(cond, ...) do { if (!(cond)) ck_abort_msg(__VA_ARGS__); } while (0)

static void efd_signal(int fd)
{
	uint64_t one = 1;
	HOT_CHECK(write(fd, &one, sizeof(one)) == (ssize_t)sizeof(one), "eventfd write failed");
}

/* Wait for the eventfd; a lost wakeup shows up as a 10 s timeout. */
static void efd_wait(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	int rc = poll(&p, 1, 10000);
	HOT_CHECK(rc == 1, "lost wakeup: eventfd not signalled within 10 s");
	uint64_t v;
	HOT_CHECK(read(fd, &v, sizeof(v)) == (ssize_t)sizeof(v), "eventfd read failed");
}

/* Pattern: byte at stream position p is pat[p % PAT_PERIOD].  The period is
 * prime so it never lines up with the ring size or the chunk sizes, and the
 * check is one memcmp against a slice of the table. */
#define PAT_PERIOD 65521u
#define MAX_CHUNK  (48u * 1024)

struct stress {
	struct dn_ring_shared sh;
	uint8_t *data;
	uint32_t size;
	uint8_t *pat;          /* PAT_PERIOD + MAX_CHUNK bytes */
	uint64_t total;
	int cons_efd, prod_efd;
	uint64_t seed;
	uint64_t sleeps;       /* producer side, for information */
	uint32_t grow_from;    /* >0: start at this capacity, grow when full */
	uint32_t grows;
};

static uint64_t xorshift(uint64_t *s)
{
	uint64_t x = *s;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	*s = x;
	return x;
}

static void *stress_producer(void *arg)
{
	struct stress *st = arg;
	struct dn_ring r;
	uint64_t rnd = st->seed, pos = 0;
	int spins = 0;

	ck_assert_int_eq(dn_ring_attach(&r, &st->sh, st->data, st->size), 0);
	while (pos < st->total) {
		size_t len = 1 + xorshift(&rnd) % MAX_CHUNK;
		if (len > st->total - pos)
			len = st->total - pos;
		size_t n = dn_ring_write(&r, st->pat + pos % PAT_PERIOD, len);
		HOT_CHECK(n != DN_RING_CORRUPT, "producer saw a corrupt head");
		pos += n;
		/* Short of room: grow while the consumer reads on the other
		 * thread (EBUSY until it is past the last switch point). */
		if (st->grow_from && n < len && r.cap < r.size && dn_ring_grow(&r, r.cap * 2) == 0)
			st->grows++;
		if (n && dn_ring_consumer_needs_wakeup(&r))
			efd_signal(st->cons_efd);
		if (n)
			spins = 0;
		else if (++spins > 64) {
			dn_ring_prod_prepare_sleep(&r);
			if (dn_ring_writable(&r) == 0) {
				st->sleeps++;
				efd_wait(st->prod_efd);
			}
			dn_ring_prod_cancel_sleep(&r);
			spins = 0;
		}
	}
	return NULL;
}

static void *stress_consumer(void *arg)
{
	struct stress *st = arg;
	struct dn_ring r;
	uint64_t rnd = st->seed ^ 0x9e3779b97f4a7c15ull, pos = 0;
	uint8_t *buf = malloc(MAX_CHUNK);
	int spins = 0;

	ck_assert_ptr_nonnull(buf);
	ck_assert_int_eq(dn_ring_attach(&r, &st->sh, st->data, st->size), 0);
	while (pos < st->total) {
		size_t len = 1 + xorshift(&rnd) % MAX_CHUNK;
		size_t n = dn_ring_read(&r, buf, len);
		HOT_CHECK(n != DN_RING_CORRUPT, "consumer saw a corrupt tail");
		if (n) {
			HOT_CHECK(memcmp(buf, st->pat + pos % PAT_PERIOD, n) == 0,
				      "data mismatch in chunk at stream position %llu",
				      (unsigned long long)pos);
			pos += n;
			if (dn_ring_producer_needs_wakeup(&r))
				efd_signal(st->prod_efd);
			spins = 0;
		} else if (++spins > 64) {
			dn_ring_cons_prepare_sleep(&r);
			if (dn_ring_readable(&r) == 0)
				efd_wait(st->cons_efd);
			dn_ring_cons_cancel_sleep(&r);
			spins = 0;
		}
	}
	ck_assert_uint_eq(dn_ring_readable(&r), 0);
	free(buf);
	return NULL;
}

static void run_stress_cap(uint32_t ring_size, uint32_t cap, uint64_t total, uint64_t seed)
{
	struct stress *st = calloc(1, sizeof(*st));
	ck_assert_ptr_nonnull(st);
	st->size = ring_size;
	st->data = malloc(ring_size);
	st->pat = malloc(PAT_PERIOD + MAX_CHUNK);
	ck_assert_ptr_nonnull(st->data);
	ck_assert_ptr_nonnull(st->pat);
	uint64_t prs = seed * 2654435761u + 1;
	for (size_t i = 0; i < PAT_PERIOD; i++)
		st->pat[i] = (uint8_t)(xorshift(&prs) >> 24);
	memcpy(st->pat + PAT_PERIOD, st->pat, MAX_CHUNK);
	st->total = total;
	st->seed = seed;
	st->cons_efd = eventfd(0, EFD_CLOEXEC);
	st->prod_efd = eventfd(0, EFD_CLOEXEC);
	ck_assert_int_ge(st->cons_efd, 0);
	ck_assert_int_ge(st->prod_efd, 0);
	dn_ring_shared_init(&st->sh);
	if (cap) {
		st->grow_from = cap;
		dn_ring_shared_set_cap(&st->sh, cap);
	}

	pthread_t p, c;
	ck_assert_int_eq(pthread_create(&c, NULL, stress_consumer, st), 0);
	ck_assert_int_eq(pthread_create(&p, NULL, stress_producer, st), 0);
	ck_assert_int_eq(pthread_join(p, NULL), 0);
	ck_assert_int_eq(pthread_join(c, NULL), 0);
	ck_assert_uint_eq(atomic_load(&st->sh.tail), total);
	ck_assert_uint_eq(atomic_load(&st->sh.head), total);
	if (cap) {
		/* Grown all the way, one doubling at a time. */
		ck_assert_uint_eq(atomic_load(&st->sh.cap), ring_size);
		ck_assert_uint_eq(1u << st->grows, ring_size / cap);
	}
	close(st->cons_efd);
	close(st->prod_efd);
	free(st->pat);
	free(st->data);
	free(st);
}

static void run_stress(uint32_t ring_size, uint64_t total, uint64_t seed)
{
	run_stress_cap(ring_size, 0, total, seed);
}

/* Ping-pong where both sides go to sleep whenever their ring is empty:
 * every message crosses the sleep/wake handshake, so a lost wakeup shows
 * up as efd_wait's timeout. */
struct pingpong {
	struct dn_ring_shared ab, ba;
	uint8_t abd[64], bad[64];
	int a_efd, b_efd;   /* wake A / wake B */
	unsigned rounds;
};

static void pp_recv(struct dn_ring *r, int efd, uint8_t *v)
{
	for (;;) {
		size_t n = dn_ring_read(r, v, 1);
		HOT_CHECK(n != DN_RING_CORRUPT, "corrupt index");
		if (n == 1)
			return;
		dn_ring_cons_prepare_sleep(r);
		if (dn_ring_readable(r) == 0)
			efd_wait(efd);
		dn_ring_cons_cancel_sleep(r);
	}
}

static void pp_send(struct dn_ring *r, int efd, uint8_t v)
{
	HOT_CHECK(dn_ring_write(r, &v, 1) == 1, "ring unexpectedly full");
	if (dn_ring_consumer_needs_wakeup(r))
		efd_signal(efd);
}

static void *pp_b(void *arg)
{
	struct pingpong *pp = arg;
	struct dn_ring in, out;
	uint8_t v;
	dn_ring_attach(&in, &pp->ab, pp->abd, sizeof(pp->abd));
	dn_ring_attach(&out, &pp->ba, pp->bad, sizeof(pp->bad));
	for (unsigned i = 0; i < pp->rounds; i++) {
		pp_recv(&in, pp->b_efd, &v);
		HOT_CHECK(v == (uint8_t)i, "B got %u, want %u", v, i & 0xff);
		pp_send(&out, pp->a_efd, (uint8_t)(v + 1));
	}
	return NULL;
}

START_TEST(test_ring_wakeup_pingpong_always_sleeping)
{
	struct pingpong *pp = calloc(1, sizeof(*pp));
	struct dn_ring out, in;
	pthread_t th;
	uint8_t v;
	ck_assert_ptr_nonnull(pp);
	pp->rounds = 20000;
	pp->a_efd = eventfd(0, EFD_CLOEXEC);
	pp->b_efd = eventfd(0, EFD_CLOEXEC);
	ck_assert_int_ge(pp->a_efd, 0);
	ck_assert_int_ge(pp->b_efd, 0);
	dn_ring_shared_init(&pp->ab);
	dn_ring_shared_init(&pp->ba);
	ck_assert_int_eq(dn_ring_attach(&out, &pp->ab, pp->abd, sizeof(pp->abd)), 0);
	ck_assert_int_eq(dn_ring_attach(&in, &pp->ba, pp->bad, sizeof(pp->bad)), 0);
	ck_assert_int_eq(pthread_create(&th, NULL, pp_b, pp), 0);
	for (unsigned i = 0; i < pp->rounds; i++) {
		pp_send(&out, pp->b_efd, (uint8_t)i);
		pp_recv(&in, pp->a_efd, &v);
		HOT_CHECK(v == (uint8_t)(i + 1), "A got %u, want %u", v, (i + 1) & 0xff);
	}
	ck_assert_int_eq(pthread_join(th, NULL), 0);
	ck_assert_uint_eq(atomic_load(&pp->ab.head), pp->rounds);
	ck_assert_uint_eq(atomic_load(&pp->ba.tail), pp->rounds);
	close(pp->a_efd);
	close(pp->b_efd);
	free(pp);
}
END_TEST

START_TEST(test_ring_stress_two_threads_1gib)
{
	run_stress(64 * 1024, 1ull << 30, 20261121);
}
END_TEST

/* Small ring, tiny chunks: many more wrap-arounds and sleeps per byte. */
START_TEST(test_ring_stress_small_ring)
{
	run_stress(64, 16u << 20, 7);
}
END_TEST


/* ---- capacity: start small, grow (issue 14) ---------------------------- */

struct capfx {
	struct dn_ring_shared sh;
	uint8_t data[1024];
	struct dn_ring prod, cons;
};

static void cap_init(struct capfx *f, uint32_t cap)
{
	memset(f, 0, sizeof(*f));
	dn_ring_shared_init(&f->sh);
	dn_ring_shared_set_cap(&f->sh, cap);
	ck_assert_int_eq(dn_ring_attach(&f->prod, &f->sh, f->data, sizeof(f->data)), 0);
	ck_assert_int_eq(dn_ring_attach(&f->cons, &f->sh, f->data, sizeof(f->data)), 0);
}

START_TEST(test_ring_capacity_bounds_fill_and_pages)
{
	struct capfx f;
	uint8_t in[300], out[300];
	cap_init(&f, 128);
	ck_assert_uint_eq(f.prod.cap, 128);
	ck_assert_uint_eq(f.cons.cap, 128);
	ck_assert_uint_eq(dn_ring_writable(&f.prod), 128);
	/* Many wraps: only data[0, 128) is ever written. */
	memset(f.data, 0xee, sizeof(f.data));
	for (unsigned i = 0; i < 50; i++) {
		fill_seq(in, 100, i);
		ck_assert_uint_eq(dn_ring_write(&f.prod, in, 100), 100);
		ck_assert_uint_eq(dn_ring_read(&f.cons, out, 100), 100);
		ck_assert_mem_eq(in, out, 100);
	}
	for (size_t i = 128; i < sizeof(f.data); i++)
		ck_assert_uint_eq(f.data[i], 0xee);
	ck_assert_uint_eq(dn_ring_write(&f.prod, in, 300), 128);
}
END_TEST

START_TEST(test_ring_grow_keeps_bytes_and_waits_for_the_switch)
{
	struct capfx f;
	uint8_t in[1024], out[1024];
	cap_init(&f, 128);
	/* Positions 100..228 live: they wrap in the 128 ring. */
	fill_seq(in, 100, 0);
	ck_assert_uint_eq(dn_ring_write(&f.prod, in, 100), 100);
	ck_assert_uint_eq(dn_ring_read(&f.cons, out, 100), 100);
	fill_seq(in, 128, 100);
	ck_assert_uint_eq(dn_ring_write(&f.prod, in, 128), 128);
	/* The consumer saw the tail (and cap 128) before the growth. */
	ck_assert_uint_eq(dn_ring_readable(&f.cons), 128);
	ck_assert_int_eq(dn_ring_grow(&f.prod, 512), 0);
	ck_assert_uint_eq(atomic_load(&f.sh.cap), 512);
	/* Not past the switch point: still the old capacity ahead of head. */
	ck_assert_uint_eq(dn_ring_writable(&f.prod), 0);
	errno = 0;
	ck_assert_int_eq(dn_ring_grow(&f.prod, 1024), -1);
	ck_assert_int_eq(errno, EBUSY);
	/* Half read with the stale cap 128: intact. */
	ck_assert_uint_eq(dn_ring_read(&f.cons, out, 64), 64);
	ck_assert_mem_eq(out, in, 64);
	ck_assert_uint_eq(f.cons.cap, 128);
	/* Room the consumer freed below the switch point is fillable. */
	ck_assert_uint_eq(dn_ring_writable(&f.prod), 64);
	fill_seq(in + 128, 64, 228);
	ck_assert_uint_eq(dn_ring_write(&f.prod, in + 128, 64), 64);
	/* The new tail comes with cap 512: the rest and the new bytes. */
	ck_assert_uint_eq(dn_ring_read(&f.cons, out, 1024), 128);
	ck_assert_uint_eq(f.cons.cap, 512);
	ck_assert_mem_eq(out, in + 64, 128);
	/* Past the switch point: the whole new capacity. */
	ck_assert_uint_eq(dn_ring_writable(&f.prod), 512);
	ck_assert_int_eq(dn_ring_grow(&f.prod, 1024), 0);
	/* An empty ring needs no wait. */
	ck_assert_uint_eq(dn_ring_writable(&f.prod), 1024);
	fill_seq(in, 1000, 7);
	ck_assert_uint_eq(dn_ring_write(&f.prod, in, 1000), 1000);
	ck_assert_uint_eq(dn_ring_read(&f.cons, out, 1000), 1000);
	ck_assert_mem_eq(in, out, 1000);
}
END_TEST

START_TEST(test_ring_grow_moves_bytes_written_ahead)
{
	struct capfx f;
	uint8_t a[64], b[32], out[256], z[120] = { 0 };
	cap_init(&f, 128);
	ck_assert_uint_eq(dn_ring_write(&f.prod, z, 120), 120);
	ck_assert_uint_eq(dn_ring_read(&f.cons, NULL, 120), 120);
	/* In-order bytes, then out-of-order ones 40 past the tail. */
	fill_seq(a, 64, 1);
	fill_seq(b, 32, 200);
	ck_assert_uint_eq(dn_ring_writable(&f.prod), 128);
	dn_ring_write_at(&f.prod, 0, a, 24);
	dn_ring_produce(&f.prod, 24);
	dn_ring_write_at(&f.prod, 40, b, 32);
	ck_assert_int_eq(dn_ring_grow(&f.prod, 256), 0);
	/* The hole filled after the growth, with the new mask. */
	dn_ring_write_at(&f.prod, 0, a + 24, 40);
	dn_ring_produce(&f.prod, 72);
	ck_assert_uint_eq(dn_ring_read(&f.cons, out, 256), 96);
	ck_assert_mem_eq(out, a, 64);
	ck_assert_mem_eq(out + 64, b, 32);
}
END_TEST

START_TEST(test_ring_bad_capacity_is_corrupt)
{
	struct capfx f;
	cap_init(&f, 128);
	errno = 0;
	ck_assert_int_eq(dn_ring_grow(&f.prod, 128), -1);
	ck_assert_int_eq(errno, EINVAL);
	ck_assert_int_eq(dn_ring_grow(&f.prod, 384), -1);
	ck_assert_int_eq(dn_ring_grow(&f.prod, 2048), -1);
	/* A consumer checks the producer's cap word on every tail load. */
	ck_assert_uint_eq(dn_ring_write(&f.prod, "x", 1), 1);
	atomic_store(&f.sh.cap, 2048);           /* beyond the data area */
	ck_assert_uint_eq(dn_ring_readable(&f.cons), DN_RING_CORRUPT);
	atomic_store(&f.sh.cap, 96);             /* not a power of two */
	ck_assert_uint_eq(dn_ring_readable(&f.cons), DN_RING_CORRUPT);
	atomic_store(&f.sh.cap, 32);             /* below the minimum */
	ck_assert_uint_eq(dn_ring_readable(&f.cons), DN_RING_CORRUPT);
	struct dn_ring r;
	errno = 0;
	ck_assert_int_eq(dn_ring_attach(&r, &f.sh, f.data, sizeof(f.data)), -1);
	ck_assert_int_eq(errno, EPROTO);
	/* More bytes than the cap says: corrupt too. */
	atomic_store(&f.sh.cap, 64);
	atomic_store(&f.sh.tail, 100);
	ck_assert_uint_eq(dn_ring_readable(&f.cons), DN_RING_CORRUPT);
	atomic_store(&f.sh.cap, 0);              /* 0: the whole area */
	ck_assert_uint_eq(dn_ring_readable(&f.cons), 100);
	ck_assert_uint_eq(f.cons.cap, sizeof(f.data));
}
END_TEST

/* Two threads: the producer grows the ring from 64 bytes to 256 KiB while
 * the consumer reads; every byte is checked. */
START_TEST(test_ring_stress_growing)
{
	run_stress_cap(256 * 1024, 64, 64u << 20, 4242);
}
END_TEST

Suite *ring_suite(void)
{
	Suite *s = suite_create("ring");
	TCase *tc = tcase_create("basic");
	tcase_add_test(tc, test_ring_attach_rejects_bad_size);
	tcase_add_test(tc, test_ring_attach_rejects_corrupt_indices);
	tcase_add_test(tc, test_ring_empty_and_full);
	tcase_add_test(tc, test_ring_write_wraps_around);
	tcase_add_test(tc, test_ring_partial_write);
	tcase_add_test(tc, test_ring_read_null_skips);
	tcase_add_test(tc, test_ring_peek_consume_write_at_produce);
	tcase_add_test(tc, test_ring_corrupt_tail_more_than_size_ahead);
	tcase_add_test(tc, test_ring_corrupt_tail_goes_backwards);
	tcase_add_test(tc, test_ring_corrupt_head_beyond_tail);
	tcase_add_test(tc, test_ring_corrupt_head_goes_backwards);
	tcase_add_test(tc, test_ring_own_index_never_read_back);
	tcase_add_test(tc, test_ring_capacity_bounds_fill_and_pages);
	tcase_add_test(tc, test_ring_grow_keeps_bytes_and_waits_for_the_switch);
	tcase_add_test(tc, test_ring_grow_moves_bytes_written_ahead);
	tcase_add_test(tc, test_ring_bad_capacity_is_corrupt);
	tcase_add_test(tc, test_ring_stress_growing);
	tcase_add_test(tc, test_ring_flags);
	tcase_add_test(tc, test_ring_wakeup_flags_single_thread);
	suite_add_tcase(s, tc);

	TCase *st = tcase_create("stress");
	tcase_set_timeout(st, 120);
	tcase_add_test(st, test_ring_wakeup_pingpong_always_sleeping);
	tcase_add_test(st, test_ring_stress_two_threads_1gib);
	tcase_add_test(st, test_ring_stress_small_ring);
	suite_add_tcase(s, st);
	return s;
}
