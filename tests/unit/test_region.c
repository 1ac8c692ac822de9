/* Unit tests for proto/dn_region: layout, header validation, record rings
 * and slot rings, from both the daemon's and the app's side. */
#include "dn_region.h"

#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static void *map_zero(size_t n)
{
	void *p = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ck_assert_ptr_ne(p, MAP_FAILED);
	return p;
}

START_TEST(test_region_layout_default)
{
	struct dn_region_layout l;
	ck_assert_int_eq(dn_region_layout(&l, DN_REGION_DEF_SLOTS, DN_REGION_DEF_RX,
					  DN_REGION_DEF_TX), 0);
	ck_assert_uint_eq(l.slots_off % DN_REGION_PAGE, 0);
	ck_assert_uint_eq(l.slot_size % DN_REGION_PAGE, 0);
	ck_assert_uint_eq(l.total_size % DN_REGION_PAGE, 0);
	ck_assert_uint_eq(l.slot_size, DN_SLOT_HDR_SIZE + (512u << 10));
	ck_assert_uint_eq(l.total_size, l.slots_off + (uint64_t)DN_REGION_DEF_SLOTS * l.slot_size);
	/* Areas in order, not overlapping, rings after the header. */
	ck_assert_uint_ge(l.cmd_ring_off, sizeof(struct dn_region_hdr));
	ck_assert_uint_ge(l.evt_ring_off, l.cmd_ring_off + sizeof(struct dn_ring_shared));
	ck_assert_uint_ge(l.cmd_data_off, l.evt_ring_off + sizeof(struct dn_ring_shared));
	ck_assert_uint_ge(l.evt_data_off, l.cmd_data_off + l.cmd_size);
	ck_assert_uint_ge(l.slots_off, l.evt_data_off + l.evt_size);
	ck_assert_uint_eq(l.cmd_size % sizeof(struct dn_cmd), 0);
	ck_assert_uint_eq(l.cmd_size & (l.cmd_size - 1), 0);
	/* 8 records per slot, capped at 65,536 records (2 MiB a ring). */
	ck_assert_uint_eq(l.cmd_size / sizeof(struct dn_cmd), 65536);
	ck_assert_uint_eq(dn_region_slot_off(&l, 0), l.slots_off);
	ck_assert_uint_eq(dn_region_slot_off(&l, DN_REGION_DEF_SLOTS - 1),
			  l.slots_off + (uint64_t)(DN_REGION_DEF_SLOTS - 1) * l.slot_size);
	ck_assert_uint_eq(dn_region_slot_off(&l, DN_REGION_DEF_SLOTS), 0);
}
END_TEST

START_TEST(test_region_layout_rejects_bad_sizes)
{
	struct dn_region_layout l;
	ck_assert_int_eq(dn_region_layout(&l, 4, 3000, 4096), EINVAL);
	ck_assert_int_eq(dn_region_layout(&l, 4, 4096, 5000), EINVAL);
	ck_assert_int_eq(dn_region_layout(&l, 4, 2048, 4096), EINVAL);
	ck_assert_int_eq(dn_region_layout(&l, 4, 4096, DN_REGION_MAX_BUF * 2), EINVAL);
	ck_assert_int_eq(dn_region_layout(&l, DN_REGION_MAX_SLOTS + 1, 4096, 4096), EINVAL);
	/* Too big in total. */
	ck_assert_int_eq(dn_region_layout(&l, DN_REGION_MAX_SLOTS, DN_REGION_MAX_BUF,
					  DN_REGION_MAX_BUF), EINVAL);
	ck_assert_int_eq(dn_region_layout(&l, 0, 4096, 4096), 0);
	ck_assert_uint_eq(l.total_size, l.slots_off);
}
END_TEST

struct rfx {
	struct dn_region_layout l;
	uint8_t *base;
	struct dn_region d, a;     /* daemon and app views */
};

static void rfx_init(struct rfx *f, uint32_t nslots)
{
	ck_assert_int_eq(dn_region_layout(&f->l, nslots, 4096, 8192), 0);
	f->base = map_zero(f->l.total_size);
	dn_region_init(f->base, &f->l);
	ck_assert_int_eq(dn_region_open_daemon(&f->d, f->base, &f->l), 0);
	ck_assert_int_eq(dn_region_attach(&f->a, f->base, f->l.total_size), 0);
}

static void rfx_fini(struct rfx *f)
{
	munmap(f->base, f->l.total_size);
}

START_TEST(test_region_attach_validates_header)
{
	struct rfx f;
	struct dn_region v;
	struct dn_region_hdr *h;
	rfx_init(&f, 4);
	h = (struct dn_region_hdr *)f.base;
	ck_assert_uint_eq(h->magic, DN_REGION_MAGIC);
	ck_assert_uint_eq(f.a.l.nslots, 4);
	ck_assert_uint_eq(f.a.l.tx_size, 8192);

	ck_assert_int_eq(dn_region_attach(&v, f.base, f.l.total_size - 1), EBADMSG);
	ck_assert_int_eq(dn_region_attach(&v, f.base, 8), EBADMSG);
	h->magic ^= 1;
	ck_assert_int_eq(dn_region_attach(&v, f.base, f.l.total_size), EPROTO);
	h->magic ^= 1;
	h->version = DN_REGION_VERSION + 1;
	ck_assert_int_eq(dn_region_attach(&v, f.base, f.l.total_size), EPROTO);
	h->version = DN_REGION_VERSION;
	h->layout.evt_data_off += 64;  /* would overlap the slots */
	ck_assert_int_eq(dn_region_attach(&v, f.base, f.l.total_size), EBADMSG);
	h->layout.evt_data_off -= 64;
	h->layout.nslots = 5;          /* more slots than the mapping holds */
	ck_assert_int_eq(dn_region_attach(&v, f.base, f.l.total_size), EBADMSG);
	h->layout.nslots = 4;
	h->cmd_rec_size = 64;
	ck_assert_int_eq(dn_region_attach(&v, f.base, f.l.total_size), EBADMSG);
	h->cmd_rec_size = sizeof(struct dn_cmd);
	ck_assert_int_eq(dn_region_attach(&v, f.base, f.l.total_size), 0);
	rfx_fini(&f);
}
END_TEST

START_TEST(test_region_cmd_and_evt_roundtrip)
{
	struct rfx f;
	struct dn_cmd c = { .op = DN_CMD_TX, .sock = 7, .cookie = 99 }, got;
	struct dn_evt e = { .op = DN_EVT_READABLE, .sock = 7, .arg = 5 }, ge;
	rfx_init(&f, 2);
	ck_assert_int_eq(dn_region_cmd_pop(&f.d, &got), 0);
	ck_assert_int_eq(dn_region_cmd_push(&f.a, &c), 1);
	ck_assert_int_eq(dn_region_cmd_pop(&f.d, &got), 1);
	ck_assert_mem_eq(&got, &c, sizeof(c));
	ck_assert_int_eq(dn_region_cmd_pop(&f.d, &got), 0);
	ck_assert_int_eq(dn_region_evt_pop(&f.a, &ge), 0);
	ck_assert_int_eq(dn_region_evt_push(&f.d, &e), 1);
	ck_assert_int_eq(dn_region_evt_pop(&f.a, &ge), 1);
	ck_assert_mem_eq(&ge, &e, sizeof(e));
	ck_assert_str_eq(dn_cmd_name(DN_CMD_RX), "RX");
	ck_assert_str_eq(dn_evt_name(DN_EVT_CLOSED), "CLOSED");
	ck_assert_ptr_null(dn_cmd_name(0));
	ck_assert_ptr_null(dn_evt_name(200));
	rfx_fini(&f);
}
END_TEST

START_TEST(test_region_full_rings_count_lost)
{
	struct rfx f;
	struct dn_evt e = { .op = DN_EVT_WRITABLE, .sock = 1 }, ge;
	struct dn_cmd c = { .op = DN_CMD_NOP }, gc;
	rfx_init(&f, 1);
	uint32_t n = f.l.evt_size / sizeof(e);
	for (uint32_t i = 0; i < n; i++)
		ck_assert_int_eq(dn_region_evt_push(&f.d, &e), 1);
	ck_assert_int_eq(dn_region_peer_lost(&f.a, 0), 0);
	ck_assert_int_eq(dn_region_evt_push(&f.d, &e), 0);
	ck_assert_int_eq(dn_region_evt_push(&f.d, &e), 0);
	ck_assert_uint_eq(atomic_load(&f.a.hdr->evt_lost), 2);
	ck_assert_int_eq(dn_region_peer_lost(&f.a, 0), 1);
	ck_assert_int_eq(dn_region_peer_lost(&f.a, 0), 0);
	ck_assert_int_eq(dn_region_evt_pop(&f.a, &ge), 1);
	ck_assert_int_eq(dn_region_evt_push(&f.d, &e), 1);

	n = f.l.cmd_size / sizeof(c);
	for (uint32_t i = 0; i < n; i++)
		ck_assert_int_eq(dn_region_cmd_push(&f.a, &c), 1);
	ck_assert_int_eq(dn_region_cmd_push(&f.a, &c), 0);
	ck_assert_int_eq(dn_region_peer_lost(&f.d, 1), 1);
	for (uint32_t i = 0; i < n; i++)
		ck_assert_int_eq(dn_region_cmd_pop(&f.d, &gc), 1);
	ck_assert_int_eq(dn_region_cmd_pop(&f.d, &gc), 0);
	rfx_fini(&f);
}
END_TEST

START_TEST(test_region_bad_commands_are_violations)
{
	struct rfx f;
	struct dn_cmd c, got;
	struct dn_ring_shared *cs;
	rfx_init(&f, 1);
	cs = (struct dn_ring_shared *)(f.base + f.l.cmd_ring_off);

	memset(&c, 0, sizeof(c));
	c.op = 77;
	ck_assert_int_eq(dn_region_cmd_push(&f.a, &c), 1);
	ck_assert_int_eq(dn_region_cmd_pop(&f.d, &got), -1);
	c.op = DN_CMD_TX;
	c.flags = 1;
	ck_assert_int_eq(dn_cmd_check(&c), EBADMSG);
	c.flags = 0;
	c.arg[1] = 3;
	ck_assert_int_eq(dn_cmd_check(&c), EBADMSG);
	c.arg[1] = 0;
	ck_assert_int_eq(dn_cmd_check(&c), 0);
	c.op = DN_CMD_NOP;
	c.sock = 4;
	ck_assert_int_eq(dn_cmd_check(&c), EBADMSG);

	/* Index off a record boundary. */
	uint64_t t = atomic_load(&cs->tail);
	atomic_store(&cs->tail, t + 5);
	ck_assert_int_eq(dn_region_cmd_pop(&f.d, &got), -1);
	/* Index far beyond the ring. */
	atomic_store(&cs->tail, t + f.l.cmd_size + sizeof(c));
	ck_assert_int_eq(dn_region_cmd_pop(&f.d, &got), -1);
	/* Event ring head moved by the app past the daemon's tail. */
	struct dn_ring_shared *es = (struct dn_ring_shared *)(f.base + f.l.evt_ring_off);
	struct dn_evt e = { .op = DN_EVT_NOP };
	atomic_store(&es->head, 32);
	ck_assert_int_eq(dn_region_evt_push(&f.d, &e), -1);
	rfx_fini(&f);
}
END_TEST

START_TEST(test_region_slot_rings_carry_data)
{
	struct rfx f;
	struct dn_ring drx, dtx, arx, atx;
	char buf[16];
	rfx_init(&f, 3);
	ck_assert_int_eq(dn_region_slot_rings(&f.d, 3, &drx, &dtx), EINVAL);
	ck_assert_int_eq(dn_region_slot_reset(&f.d, 3), EINVAL);
	ck_assert_int_eq(dn_region_slot_reset(&f.d, 2), 0);
	ck_assert_int_eq(dn_region_slot_rings(&f.d, 2, &drx, &dtx), 0);
	ck_assert_int_eq(dn_region_slot_rings(&f.a, 2, &arx, &atx), 0);
	ck_assert_uint_eq(dn_ring_writable(&drx), 4096);
	ck_assert_uint_eq(dn_ring_writable(&atx), 8192);
	ck_assert_uint_eq(dn_ring_write(&drx, "to app", 7), 7);
	ck_assert_uint_eq(dn_ring_write(&atx, "to daemon", 10), 10);
	ck_assert_uint_eq(dn_ring_read(&arx, buf, sizeof(buf)), 7);
	ck_assert_str_eq(buf, "to app");
	ck_assert_uint_eq(dn_ring_read(&dtx, buf, sizeof(buf)), 10);
	ck_assert_str_eq(buf, "to daemon");
	/* The last slot's tx data ends exactly at the end of the region. */
	ck_assert_uint_eq(dn_region_slot_off(&f.l, 2) + f.l.slot_size, f.l.total_size);
	/* Corrupt indices found when opening the slot again. */
	struct dn_slot_hdr *s = (struct dn_slot_hdr *)(f.base + dn_region_slot_off(&f.l, 1));
	atomic_store(&s->tx.tail, 1u << 20);
	ck_assert_int_eq(dn_region_slot_rings(&f.d, 1, &drx, &dtx), EPROTO);
	ck_assert_int_eq(dn_region_slot_reset(&f.d, 1), 0);
	ck_assert_int_eq(dn_region_slot_rings(&f.d, 1, &drx, &dtx), 0);
	rfx_fini(&f);
}
END_TEST

/* ---- sparse regions and the slot table (issue 14) ---------------------- */

/* Touch one byte per page of [p, p + n). */
static void touch(uint8_t *p, size_t n)
{
	for (size_t o = 0; o < n; o += DN_REGION_PAGE)
		p[o] = 0x5a;
}

START_TEST(test_region_default_layout_commits_only_what_is_touched)
{
	struct dn_region_layout l;
	struct dn_region v;
	ck_assert_int_eq(dn_region_layout(&l, DN_REGION_DEF_SLOTS, DN_REGION_DEF_RX,
					  DN_REGION_DEF_TX), 0);
	/* 16,384 slots of 516 KiB: about 8 GiB of address space ... */
	ck_assert_uint_gt(l.total_size, 8ull << 30);
	ck_assert_int_eq(dn_region_create(&v, &l, "test-region"), 0);
	ck_assert_int_ge(v.memfd, 0);
	/* ... and only the header and the record rings' index pages
	 * committed: creating it touches no slot. */
	ck_assert_uint_le(dn_region_committed(&v), 64u << 10);
	/* Sealed: the app cannot shrink it under the daemon. */
	ck_assert_int_eq(ftruncate(v.memfd, 4096), -1);
	ck_assert_int_eq(errno, EPERM);
	dn_region_destroy(&v);
	ck_assert_int_eq(v.memfd, -1);
}
END_TEST

START_TEST(test_region_freed_slot_pages_are_punched_out)
{
	struct dn_region_layout l;
	struct dn_region v;
	struct dn_slot_table t;
	struct dn_ring rx, tx;
	uint32_t slot;
	ck_assert_int_eq(dn_region_layout(&l, 1024, 65536, 65536), 0);
	ck_assert_int_eq(dn_region_create(&v, &l, "test-region"), 0);
	ck_assert_int_eq(dn_slot_table_init(&t, l.nslots), 0);
	/* The app's own mapping of the same memfd. */
	uint8_t *app = mmap(NULL, l.total_size, PROT_READ | PROT_WRITE, MAP_SHARED, v.memfd, 0);
	ck_assert_ptr_ne(app, MAP_FAILED);
	uint64_t c0 = dn_region_committed(&v);

	ck_assert_int_eq(dn_region_slot_get(&v, &t, 0, &slot), 0);
	ck_assert_uint_eq(slot, 0);
	/* Getting a slot commits its header page only. */
	ck_assert_uint_eq(dn_region_committed(&v), c0 + DN_REGION_PAGE);
	ck_assert_int_eq(dn_region_slot_rings(&v, slot, &rx, &tx), 0);
	/* A few bytes each way: one page of each ring. */
	ck_assert_uint_eq(dn_ring_write(&rx, "hello", 5), 5);
	uint64_t off = dn_region_slot_off(&l, slot);
	memcpy(app + off + DN_SLOT_HDR_SIZE + l.rx_size, "world", 5);
	ck_assert_uint_eq(dn_region_committed(&v), c0 + 3 * DN_REGION_PAGE);
	/* A full ring commits all its pages: the region grows with use. */
	touch(app + off + DN_SLOT_HDR_SIZE + l.rx_size, l.tx_size);
	ck_assert_uint_eq(dn_region_committed(&v), c0 + 2 * DN_REGION_PAGE + l.tx_size);

	/* Released: every page of the slot goes back, and the app's mapping
	 * reads zeros there (indices of an empty ring, no stale bytes). */
	ck_assert_int_eq(dn_region_slot_put(&v, &t, slot), 0);
	ck_assert_uint_eq(dn_region_committed(&v), c0);
	ck_assert_uint_eq(app[off + DN_SLOT_HDR_SIZE], 0);
	ck_assert_uint_eq(app[off + DN_SLOT_HDR_SIZE + l.rx_size], 0);
	struct dn_slot_hdr *h = (struct dn_slot_hdr *)(app + off);
	ck_assert_uint_eq(atomic_load(&h->rx.tail), 0);
	/* Released twice, or never handed out: refused. */
	ck_assert_int_eq(dn_region_slot_put(&v, &t, slot), EINVAL);
	ck_assert_int_eq(dn_region_slot_put(&v, &t, 7), EINVAL);
	ck_assert_int_eq(dn_region_slot_put(&v, &t, l.nslots), EINVAL);

	munmap(app, l.total_size);
	dn_slot_table_fini(&t);
	dn_region_destroy(&v);
}
END_TEST

START_TEST(test_region_slot_table_exhaustion_is_emfile)
{
	struct rfx f;
	struct dn_slot_table t;
	uint32_t a, b, c, d;
	rfx_init(&f, 3);
	ck_assert_int_eq(dn_slot_table_init(&t, 3), 0);
	ck_assert_int_eq(dn_region_slot_get(&f.d, &t, 0, &a), 0);
	ck_assert_int_eq(dn_region_slot_get(&f.d, &t, 0, &b), 0);
	ck_assert_int_eq(dn_region_slot_get(&f.d, &t, 0, &c), 0);
	ck_assert_uint_eq(a, 0);
	ck_assert_uint_eq(b, 1);
	ck_assert_uint_eq(c, 2);
	ck_assert_uint_eq(t.used, 3);
	ck_assert_int_eq(dn_region_slot_get(&f.d, &t, 0, &d), EMFILE);
	/* A freed slot comes back first, with its indices zeroed even when
	 * the app scribbled on them (no memfd here, so no punch). */
	struct dn_slot_hdr *h = (struct dn_slot_hdr *)(f.base + dn_region_slot_off(&f.l, 1));
	atomic_store(&h->tx.tail, 12345);
	ck_assert_int_eq(dn_region_slot_put(&f.d, &t, 1), 0);
	ck_assert_int_eq(dn_region_slot_get(&f.d, &t, 0, &d), 0);
	ck_assert_uint_eq(d, 1);
	ck_assert_uint_eq(atomic_load(&h->tx.tail), 0);
	ck_assert_int_eq(dn_region_slot_get(&f.d, &t, 0, &d), EMFILE);
	dn_slot_table_fini(&t);
	rfx_fini(&f);
}
END_TEST

START_TEST(test_region_commit_bound_is_enomem)
{
	struct dn_region_layout l;
	struct dn_region v;
	struct dn_slot_table t;
	uint32_t s[8];
	ck_assert_int_eq(dn_region_layout(&l, 8, 65536, 65536), 0);
	ck_assert_int_eq(dn_region_create(&v, &l, "test-region"), 0);
	ck_assert_int_eq(dn_slot_table_init(&t, l.nslots), 0);
	uint64_t bound = dn_region_committed(&v) + 160u * 1024;
	/* Two slots whose traffic filled both rings: 2 x 132 KiB committed. */
	for (int i = 0; i < 2; i++) {
		ck_assert_int_eq(dn_region_slot_get(&v, &t, bound, &s[i]), 0);
		touch(v.base + dn_region_slot_off(&l, s[i]), l.slot_size);
	}
	ck_assert_uint_gt(dn_region_committed(&v), bound);
	/* Slots are left, memory is not. */
	ck_assert_int_eq(dn_region_slot_get(&v, &t, bound, &s[2]), ENOMEM);
	ck_assert_uint_eq(t.used, 2);
	/* No bound: fine. */
	ck_assert_int_eq(dn_region_slot_get(&v, &t, 0, &s[2]), 0);
	ck_assert_int_eq(dn_region_slot_put(&v, &t, s[2]), 0);
	/* A closed connection gives its memory back: new sockets again. */
	ck_assert_int_eq(dn_region_slot_put(&v, &t, s[0]), 0);
	ck_assert_uint_le(dn_region_committed(&v), bound);
	ck_assert_int_eq(dn_region_slot_get(&v, &t, bound, &s[0]), 0);
	dn_slot_table_fini(&t);
	dn_region_destroy(&v);
}
END_TEST

START_TEST(test_region_slot_rings_start_small_and_grow)
{
	struct dn_region_layout l;
	struct dn_region v, app;
	struct dn_slot_table t;
	struct dn_ring drx, dtx, arx, atx;
	uint32_t slot;
	static uint8_t buf[4096];
	ck_assert_int_eq(dn_region_layout(&l, 4, DN_REGION_DEF_RX, DN_REGION_DEF_TX), 0);
	ck_assert_int_eq(dn_region_create(&v, &l, "test-region"), 0);
	ck_assert_int_eq(dn_region_attach(&app, v.base, l.total_size), 0);
	ck_assert_int_eq(dn_slot_table_init(&t, l.nslots), 0);
	ck_assert_int_eq(dn_region_slot_get(&v, &t, 0, &slot), 0);
	ck_assert_int_eq(dn_region_slot_rings(&v, slot, &drx, &dtx), 0);
	ck_assert_int_eq(dn_region_slot_rings(&app, slot, &arx, &atx), 0);
	ck_assert_uint_eq(drx.cap, DN_SLOT_INIT_CAP);
	ck_assert_uint_eq(atx.cap, DN_SLOT_INIT_CAP);
	ck_assert_uint_eq(drx.size, DN_REGION_DEF_RX);
	uint64_t c0 = dn_region_committed(&v);
	/* 1 MiB each way through rings of 256 KiB: only their first 16 KiB
	 * of pages are ever touched. */
	for (int i = 0; i < 256; i++) {
		ck_assert_uint_eq(dn_ring_write(&drx, buf, sizeof(buf)), sizeof(buf));
		ck_assert_uint_eq(dn_ring_read(&arx, buf, sizeof(buf)), sizeof(buf));
		ck_assert_uint_eq(dn_ring_write(&atx, buf, sizeof(buf)), sizeof(buf));
		ck_assert_uint_eq(dn_ring_read(&dtx, buf, sizeof(buf)), sizeof(buf));
	}
	ck_assert_uint_le(dn_region_committed(&v), c0 + 2 * DN_SLOT_INIT_CAP);
	/* Grown by its producer, the tx ring uses more pages, the daemon's
	 * view follows the cap word. */
	ck_assert_int_eq(dn_ring_grow(&atx, 4 * DN_SLOT_INIT_CAP), 0);
	for (int i = 0; i < 64; i++) {
		ck_assert_uint_eq(dn_ring_write(&atx, buf, sizeof(buf)), sizeof(buf));
		ck_assert_uint_eq(dn_ring_read(&dtx, buf, sizeof(buf)), sizeof(buf));
	}
	ck_assert_uint_eq(dtx.cap, 4 * DN_SLOT_INIT_CAP);
	ck_assert_uint_eq(dn_region_committed(&v), c0 + 2 * DN_SLOT_INIT_CAP + 3 * DN_SLOT_INIT_CAP);
	ck_assert_int_eq(dn_region_slot_put(&v, &t, slot), 0);
	dn_slot_table_fini(&t);
	dn_region_destroy(&v);
}
END_TEST

Suite *region_suite(void)
{
	Suite *s = suite_create("region");
	TCase *tc = tcase_create("region");
	tcase_add_test(tc, test_region_layout_default);
	tcase_add_test(tc, test_region_layout_rejects_bad_sizes);
	tcase_add_test(tc, test_region_attach_validates_header);
	tcase_add_test(tc, test_region_cmd_and_evt_roundtrip);
	tcase_add_test(tc, test_region_full_rings_count_lost);
	tcase_add_test(tc, test_region_bad_commands_are_violations);
	tcase_add_test(tc, test_region_slot_rings_carry_data);
	tcase_add_test(tc, test_region_default_layout_commits_only_what_is_touched);
	tcase_add_test(tc, test_region_freed_slot_pages_are_punched_out);
	tcase_add_test(tc, test_region_slot_table_exhaustion_is_emfile);
	tcase_add_test(tc, test_region_commit_bound_is_enomem);
	tcase_add_test(tc, test_region_slot_rings_start_small_and_grow);
	suite_add_tcase(s, tc);
	return s;
}
