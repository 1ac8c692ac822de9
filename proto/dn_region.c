/* The per-app shared-memory region: layout, creation, validation and the
 * record rings.  See dn_region.h. */
#include "dn_region.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *const dn_cmd_names[] = {
#define X(name, num, what) [num] = #name,
	DN_CMD_TYPES(X)
#undef X
};
static const char *const dn_evt_names[] = {
#define X(name, num, what) [num] = #name,
	DN_EVT_TYPES(X)
#undef X
};

const char *dn_cmd_name(uint16_t op)
{
	return op < sizeof(dn_cmd_names) / sizeof(dn_cmd_names[0]) ? dn_cmd_names[op] : NULL;
}

const char *dn_evt_name(uint16_t op)
{
	return op < sizeof(dn_evt_names) / sizeof(dn_evt_names[0]) ? dn_evt_names[op] : NULL;
}

static int pow2(uint64_t x)
{
	return x && !(x & (x - 1));
}

static uint64_t round_up(uint64_t x, uint64_t a)
{
	return (x + a - 1) & ~(a - 1);
}

int dn_region_layout(struct dn_region_layout *l, uint32_t nslots,
		     uint32_t rx_size, uint32_t tx_size)
{
	if (nslots > DN_REGION_MAX_SLOTS ||
	    !pow2(rx_size) || rx_size < DN_REGION_MIN_BUF || rx_size > DN_REGION_MAX_BUF ||
	    !pow2(tx_size) || tx_size < DN_REGION_MIN_BUF || tx_size > DN_REGION_MAX_BUF)
		return EINVAL;

	/* 8 records per socket covers a burst of events on every socket
	 * (readable, writable, reset...) without hitting the lost path. */
	uint64_t recs = 256;
	while (recs < (uint64_t)nslots * 8 && recs < 65536)
		recs <<= 1;

	memset(l, 0, sizeof(*l));
	l->nslots = nslots;
	l->rx_size = rx_size;
	l->tx_size = tx_size;
	l->cmd_size = (uint32_t)(recs * sizeof(struct dn_cmd));
	l->evt_size = (uint32_t)(recs * sizeof(struct dn_evt));

	uint64_t off = round_up(sizeof(struct dn_region_hdr), DN_CACHELINE);
	l->cmd_ring_off = off;
	off += round_up(sizeof(struct dn_ring_shared), DN_CACHELINE);
	l->evt_ring_off = off;
	off += round_up(sizeof(struct dn_ring_shared), DN_CACHELINE);
	l->cmd_data_off = off;
	off += l->cmd_size;
	l->evt_data_off = off;
	off += l->evt_size;
	l->slots_off = round_up(off, DN_REGION_PAGE);
	l->slot_size = (uint64_t)DN_SLOT_HDR_SIZE + rx_size + tx_size;
	l->total_size = l->slots_off + (uint64_t)nslots * l->slot_size;
	if (l->total_size > DN_REGION_MAX_SIZE)
		return EINVAL;
	return 0;
}

void dn_region_init(void *base, const struct dn_region_layout *l)
{
	uint8_t *b = base;
	struct dn_region_hdr *h = base;

	memset(h, 0, sizeof(*h));
	h->magic = DN_REGION_MAGIC;
	h->version = DN_REGION_VERSION;
	h->hdr_size = sizeof(*h);
	h->cmd_rec_size = sizeof(struct dn_cmd);
	h->evt_rec_size = sizeof(struct dn_evt);
	h->layout = *l;
	atomic_store_explicit(&h->evt_lost, 0, memory_order_relaxed);
	atomic_store_explicit(&h->cmd_lost, 0, memory_order_relaxed);
	dn_ring_shared_init((struct dn_ring_shared *)(b + l->cmd_ring_off));
	dn_ring_shared_init((struct dn_ring_shared *)(b + l->evt_ring_off));
	/* Slot headers are left alone: the mapping is zero-filled (all-zero
	 * indices are an empty ring) and touching them would commit a page
	 * per slot of a sparse region.  dn_region_slot_get resets a slot
	 * when it hands it out. */
	/* The app maps after receiving the fd over a socket (a full barrier
	 * in practice); the fence documents that the header is complete. */
	atomic_thread_fence(memory_order_release);
}

static int open_rings(struct dn_region *v)
{
	if (dn_ring_attach(&v->cmd, (struct dn_ring_shared *)(v->base + v->l.cmd_ring_off),
			   v->base + v->l.cmd_data_off, v->l.cmd_size) < 0 ||
	    dn_ring_attach(&v->evt, (struct dn_ring_shared *)(v->base + v->l.evt_ring_off),
			   v->base + v->l.evt_data_off, v->l.evt_size) < 0)
		return EPROTO;
	/* Records only: an index off a record boundary is corrupt. */
	if ((v->cmd.tail - v->cmd.head) % sizeof(struct dn_cmd) ||
	    (v->evt.tail - v->evt.head) % sizeof(struct dn_evt))
		return EPROTO;
	return 0;
}

int dn_region_open_daemon(struct dn_region *v, void *base,
			  const struct dn_region_layout *l)
{
	memset(v, 0, sizeof(*v));
	v->memfd = -1;
	v->base = base;
	v->l = *l;
	v->hdr = base;
	return open_rings(v);
}

int dn_region_attach(struct dn_region *v, void *base, size_t mapped_size)
{
	const struct dn_region_hdr *h = base;
	struct dn_region_layout want, got;

	memset(v, 0, sizeof(*v));
	v->memfd = -1;
	if (mapped_size < sizeof(*h))
		return EBADMSG;
	if (h->magic != DN_REGION_MAGIC || h->version != DN_REGION_VERSION)
		return EPROTO;
	if (h->hdr_size != sizeof(*h) || h->cmd_rec_size != sizeof(struct dn_cmd) ||
	    h->evt_rec_size != sizeof(struct dn_evt))
		return EBADMSG;
	/* The layout is a pure function of (nslots, rx, tx) for a given
	 * version: recomputing it and demanding equality checks every offset,
	 * size, alignment and non-overlap at once. */
	memcpy(&got, &h->layout, sizeof(got));
	if (dn_region_layout(&want, got.nslots, got.rx_size, got.tx_size) != 0 ||
	    memcmp(&want, &got, sizeof(want)) != 0 || want.total_size > mapped_size)
		return EBADMSG;
	v->base = base;
	v->l = want;
	v->hdr = base;
	v->memfd = -1;
	int rc = open_rings(v);
	if (rc) {
		memset(v, 0, sizeof(*v));
		v->memfd = -1;
	}
	return rc;
}

int dn_cmd_check(const struct dn_cmd *c)
{
	if (!dn_cmd_name(c->op) || c->flags != 0 || c->arg[0] != 0 || c->arg[1] != 0)
		return EBADMSG;
	if (c->op == DN_CMD_NOP && c->sock != 0)
		return EBADMSG;
	return 0;
}

/* Shared part of the pops: -1 corrupt, 0 empty, 1 one record copied. */
static int pop_rec(struct dn_ring *r, void *rec, size_t sz)
{
	size_t n = dn_ring_readable(r);
	if (n == DN_RING_CORRUPT || n % sz)
		return -1;
	if (n == 0)
		return 0;
	/* Copied once into private memory; only the copy is looked at. */
	return dn_ring_read(r, rec, sz) == sz ? 1 : -1;
}

static int push_rec(struct dn_ring *r, const void *rec, size_t sz,
		    _Atomic uint64_t *lost)
{
	size_t n = dn_ring_writable(r);
	if (n == DN_RING_CORRUPT || n % sz)
		return -1;
	if (n == 0) {
		atomic_fetch_add_explicit(lost, 1, memory_order_release);
		return 0;
	}
	return dn_ring_write(r, rec, sz) == sz ? 1 : -1;
}

int dn_region_cmd_pop(struct dn_region *v, struct dn_cmd *c)
{
	int rc = pop_rec(&v->cmd, c, sizeof(*c));
	if (rc == 1 && dn_cmd_check(c) != 0)
		return -1;
	return rc;
}

int dn_region_evt_push(struct dn_region *v, const struct dn_evt *e)
{
	return push_rec(&v->evt, e, sizeof(*e), &v->hdr->evt_lost);
}

int dn_region_cmd_push(struct dn_region *v, const struct dn_cmd *c)
{
	return push_rec(&v->cmd, c, sizeof(*c), &v->hdr->cmd_lost);
}

int dn_region_evt_pop(struct dn_region *v, struct dn_evt *e)
{
	int rc = pop_rec(&v->evt, e, sizeof(*e));
	if (rc == 1 && !dn_evt_name(e->op))
		return -1;
	return rc;
}

int dn_region_peer_lost(struct dn_region *v, int is_daemon)
{
	_Atomic uint64_t *w = is_daemon ? &v->hdr->cmd_lost : &v->hdr->evt_lost;
	uint64_t now = atomic_load_explicit(w, memory_order_acquire);
	if (now == v->lost_seen)
		return 0;
	v->lost_seen = now;
	return 1;
}

uint64_t dn_region_slot_off(const struct dn_region_layout *l, uint32_t slot)
{
	if (slot >= l->nslots)
		return 0;
	return l->slots_off + (uint64_t)slot * l->slot_size;
}

int dn_region_slot_reset(struct dn_region *v, uint32_t slot)
{
	uint64_t off = dn_region_slot_off(&v->l, slot);
	if (!off)
		return EINVAL;
	struct dn_slot_hdr *s = (struct dn_slot_hdr *)(v->base + off);
	dn_ring_shared_init(&s->rx);
	dn_ring_shared_init(&s->tx);
	/* Small to start with; each ring's producer grows it with use. */
	dn_ring_shared_set_cap(&s->rx, v->l.rx_size < DN_SLOT_INIT_CAP ? 0 : DN_SLOT_INIT_CAP);
	dn_ring_shared_set_cap(&s->tx, v->l.tx_size < DN_SLOT_INIT_CAP ? 0 : DN_SLOT_INIT_CAP);
	return 0;
}

int dn_region_slot_rings(struct dn_region *v, uint32_t slot,
			 struct dn_ring *rx, struct dn_ring *tx)
{
	uint64_t off = dn_region_slot_off(&v->l, slot);
	if (!off)
		return EINVAL;
	struct dn_slot_hdr *s = (struct dn_slot_hdr *)(v->base + off);
	uint8_t *rxd = v->base + off + DN_SLOT_HDR_SIZE;
	if (dn_ring_attach(rx, &s->rx, rxd, v->l.rx_size) < 0 ||
	    dn_ring_attach(tx, &s->tx, rxd + v->l.rx_size, v->l.tx_size) < 0)
		return EPROTO;
	return 0;
}

/* ---- daemon: creating regions, the slot table ------------------------- */

int dn_region_create(struct dn_region *v, const struct dn_region_layout *l,
		     const char *name)
{
	int err;
	void *base = MAP_FAILED;
	int fd = memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (fd < 0)
		return errno;
	/* ftruncate only sets the size: a memfd commits a page when it is
	 * first touched, so a large slot table costs address space only. */
	if (ftruncate(fd, (off_t)l->total_size) < 0)
		goto fail;
	base = mmap(NULL, l->total_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (base == MAP_FAILED)
		goto fail;
	dn_region_init(base, l);
	/* Sealed before the app sees it: an app that could shrink the file
	 * would make the daemon's next access to the mapping a SIGBUS.  Holes
	 * (PUNCH_HOLE with KEEP_SIZE) stay possible: they change no size. */
	if (fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) < 0)
		goto fail;
	if (dn_region_open_daemon(v, base, l) != 0) {
		errno = EPROTO;
		goto fail;
	}
	v->memfd = fd;
	return 0;
fail:
	err = errno ? errno : ENOMEM;
	if (base != MAP_FAILED)
		munmap(base, l->total_size);
	close(fd);
	memset(v, 0, sizeof(*v));
	v->memfd = -1;
	return err;
}

void dn_region_destroy(struct dn_region *v)
{
	if (v->base)
		munmap(v->base, v->l.total_size);
	if (v->memfd >= 0)
		close(v->memfd);
	v->base = NULL;
	v->memfd = -1;
}

uint64_t dn_region_committed(const struct dn_region *v)
{
	struct stat st;
	if (v->memfd < 0 || fstat(v->memfd, &st) < 0)
		return 0;
	return (uint64_t)st.st_blocks * 512u;
}

int dn_slot_table_init(struct dn_slot_table *t, uint32_t nslots)
{
	memset(t, 0, sizeof(*t));
	t->nslots = nslots;
	t->free = malloc((nslots ? nslots : 1) * sizeof(*t->free));
	t->inuse = calloc(nslots ? nslots : 1, 1);
	if (!t->free || !t->inuse) {
		dn_slot_table_fini(t);
		return ENOMEM;
	}
	return 0;
}

void dn_slot_table_fini(struct dn_slot_table *t)
{
	free(t->free);
	free(t->inuse);
	t->free = NULL;
	t->inuse = NULL;
	t->nslots = t->next = t->nfree = t->used = 0;
}

int dn_region_slot_get(struct dn_region *v, struct dn_slot_table *t,
		       uint64_t max_commit, uint32_t *slot)
{
	uint32_t i;
	if (t->nfree == 0 && t->next >= t->nslots)
		return EMFILE;
	/* One fstat per new socket: cheap next to the control round trip
	 * that asked for it. */
	if (max_commit && dn_region_committed(v) > max_commit)
		return ENOMEM;
	if (t->nfree)
		i = t->free[--t->nfree];
	else
		i = t->next++;
	if (dn_region_slot_reset(v, i) != 0) {
		t->free[t->nfree++] = i;
		return EINVAL;
	}
	t->inuse[i] = 1;
	t->used++;
	*slot = i;
	return 0;
}

int dn_region_slot_put(struct dn_region *v, struct dn_slot_table *t, uint32_t slot)
{
	if (slot >= t->nslots || !t->inuse[slot])
		return EINVAL;
	t->inuse[slot] = 0;
	t->used--;
	t->free[t->nfree++] = slot;
	if (v->memfd >= 0) {
		/* The hole reads back as zeros (an empty ring's indices) and is
		 * taken out of every mapping, the app's included.  A failure
		 * only leaves the pages committed until the slot is reused. */
		(void)fallocate(v->memfd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
				(off_t)dn_region_slot_off(&v->l, slot), (off_t)v->l.slot_size);
	}
	return 0;
}
