/*
 * libFuzzer target: the daemon's side of an app's shared-memory region.
 *
 * The input is a script of steps.  Some steps play a hostile app and write
 * arbitrary bytes anywhere in the region (indices, records, header); the
 * others drive what the daemon does with the region: pop commands, push
 * events, open slot rings, take bytes from a tx ring (peek/consume), put
 * bytes in an rx ring (write_at/produce), hand slots out and take them
 * back through the slot table (never a slot twice, EMFILE only when all
 * are in use).  The daemon follows the calling
 * contract exactly as production code must (only touch what readable /
 * writable just allowed, stop at the first violation), and the region is
 * an exact-size heap block so ASan flags any access outside it.  A step
 * also plays the library's dn_region_attach on the mutated header.
 */
#include "dn_region.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define NSLOTS 3

struct input {
	const uint8_t *p;
	size_t n;
};

static int take(struct input *in, void *out, size_t n)
{
	if (in->n < n)
		return -1;
	memcpy(out, in->p, n);
	in->p += n;
	in->n -= n;
	return 0;
}

static uint32_t take32(struct input *in)
{
	uint32_t v = 0;
	take(in, &v, sizeof(v));
	return v;
}

/* The daemon's private views of the slot rings, opened when a slot is
 * handed out and kept: reopening would reload indices the app can write. */
struct slots {
	struct dn_ring rx[NSLOTS], tx[NSLOTS];
	int open[NSLOTS];
};

/* Daemon drains a slot's tx ring like tcp output would. */
static int daemon_tx(struct dn_region *v, struct slots *s, uint32_t slot,
		     uint32_t a, uint32_t b, uint8_t *scratch)
{
	if (!s->open[slot])
		return 0;
	struct dn_ring *tx = &s->tx[slot];
	size_t n = dn_ring_readable(tx);
	if (n == DN_RING_CORRUPT)
		return -1;
	if (n > v->l.tx_size)
		__builtin_trap();
	if (n) {
		size_t off = a % n;
		size_t len = b % (n - off + 1);
		dn_ring_peek_at(tx, off, scratch, len);
		dn_ring_consume(tx, (a >> 8) % (n + 1));
	}
	return 0;
}

/* Daemon delivers into a slot's rx ring like tcp input would. */
static int daemon_rx(struct dn_region *v, struct slots *s, uint32_t slot,
		     uint32_t a, uint32_t b, const uint8_t *scratch)
{
	if (!s->open[slot])
		return 0;
	struct dn_ring *rx = &s->rx[slot];
	size_t w = dn_ring_writable(rx);
	if (w == DN_RING_CORRUPT)
		return -1;
	if (w > v->l.rx_size)
		__builtin_trap();
	if (w) {
		size_t off = a % w;
		size_t len = b % (w - off + 1);
		dn_ring_write_at(rx, off, scratch, len);
		dn_ring_produce(rx, off + len);
	}
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct dn_region_layout l;
	struct dn_region v, app;
	struct slots sl = { .open = { 0 } };
	struct dn_slot_table tab;
	struct input in = { data, size };

	if (dn_region_layout(&l, NSLOTS, 4096, 4096) != 0)
		__builtin_trap();
	if (dn_slot_table_init(&tab, NSLOTS) != 0)
		return 0;
	uint8_t *base = calloc(1, l.total_size);
	uint8_t *scratch = malloc(8192);
	if (!base || !scratch)
		goto out;
	dn_region_init(base, &l);
	if (dn_region_open_daemon(&v, base, &l) != 0)
		__builtin_trap();

	for (int steps = 0; steps < 256 && in.n; steps++) {
		uint8_t op;
		take(&in, &op, 1);
		switch (op % 9) {
		case 0: {   /* hostile app: write bytes at an offset */
			uint32_t off = take32(&in) % l.total_size;
			uint8_t len = 0;
			take(&in, &len, 1);
			if (len > in.n)
				len = (uint8_t)in.n;
			if (len > l.total_size - off)
				len = (uint8_t)(l.total_size - off);
			take(&in, base + off, len);
			break;
		}
		case 1: {   /* hostile app: set an index it owns (or not) */
			uint64_t val = 0;
			uint8_t which = 0;
			take(&in, &which, 1);
			take(&in, &val, sizeof(val));
			struct dn_ring_shared *sh;
			switch (which % 4) {
			case 0: sh = (struct dn_ring_shared *)(base + l.cmd_ring_off); break;
			case 1: sh = (struct dn_ring_shared *)(base + l.evt_ring_off); break;
			default: {
				struct dn_slot_hdr *s = (struct dn_slot_hdr *)
					(base + dn_region_slot_off(&l, (which >> 2) % NSLOTS));
				sh = (which % 4) == 2 ? &s->tx : &s->rx;
			}
			}
			if (which & 0x80)
				atomic_store(&sh->head, val);
			else
				atomic_store(&sh->tail, val);
			break;
		}
		case 2: {   /* daemon: drain commands */
			struct dn_cmd c;
			int rc;
			for (int i = 0; i < 64 && (rc = dn_region_cmd_pop(&v, &c)) == 1; i++)
				if (dn_cmd_check(&c) != 0)
					__builtin_trap();
			if (rc < 0)
				goto out;   /* violation: the app would be disconnected */
			dn_region_peer_lost(&v, 1);
			break;
		}
		case 3: {   /* daemon: push an event */
			struct dn_evt e = { .op = DN_EVT_READABLE, .sock = take32(&in) };
			if (dn_region_evt_push(&v, &e) < 0)
				goto out;
			break;
		}
		case 4: {
			uint32_t slot = take32(&in), a = take32(&in), b = take32(&in);
			if (daemon_tx(&v, &sl, slot % NSLOTS, a, b, scratch) < 0)
				goto out;
			break;
		}
		case 5: {
			uint32_t slot = take32(&in), a = take32(&in), b = take32(&in);
			if (daemon_rx(&v, &sl, slot % NSLOTS, a, b, scratch) < 0)
				goto out;
			break;
		}
		case 6: {   /* daemon hands out a slot from its table */
			uint32_t slot;
			int err = dn_region_slot_get(&v, &tab, 0, &slot);
			if (err == EMFILE) {
				if (tab.used != NSLOTS)
					__builtin_trap();
				break;
			}
			if (err || slot >= NSLOTS || sl.open[slot])
				__builtin_trap();   /* never a slot in use */
			/* The app may race the reset; a bad index is a violation. */
			sl.open[slot] = dn_region_slot_rings(&v, slot, &sl.rx[slot],
							     &sl.tx[slot]) == 0;
			if (!sl.open[slot])
				goto out;
			break;
		}
		case 8: {   /* daemon releases a slot (or tries one it never gave) */
			uint32_t slot = take32(&in) % (NSLOTS + 1);
			int was = slot < NSLOTS && sl.open[slot];
			int err = dn_region_slot_put(&v, &tab, slot);
			if ((err == 0) != was)
				__builtin_trap();
			if (was)
				sl.open[slot] = 0;
			break;
		}
		case 7: {   /* library: validate the (mutated) header */
			size_t mapped = l.total_size - take32(&in) % 256;
			if (dn_region_attach(&app, base, mapped) == 0) {
				struct dn_evt e;
				if (app.l.total_size > mapped)
					__builtin_trap();
				dn_region_evt_pop(&app, &e);
			}
			break;
		}
		}
	}
out:
	dn_slot_table_fini(&tab);
	free(scratch);
	free(base);
	return 0;
}
