/*
 * dn_ring: SPSC byte ring in shared memory.  See dn_ring.h for the model.
 *
 * Ordering:
 *  - the producer copies bytes in, then stores tail with release; the
 *    consumer loads tail with acquire before copying those bytes out;
 *  - the consumer copies bytes out, then stores head with release; the
 *    producer loads head with acquire before overwriting that space.
 * Each side stores only its own index and keeps the authoritative value of
 * it privately (r->head for the consumer, r->tail for the producer): what
 * the shared copy of its own index says is never read back after attach, so
 * a peer scribbling on it can only hurt itself.
 */
#include "dn_ring.h"

#include <assert.h>
#include <errno.h>
#include <string.h>

void dn_ring_shared_init(struct dn_ring_shared *sh)
{
	atomic_store_explicit(&sh->head, 0, memory_order_relaxed);
	atomic_store_explicit(&sh->tail, 0, memory_order_relaxed);
	atomic_store_explicit(&sh->cons_waiting, 0, memory_order_relaxed);
	atomic_store_explicit(&sh->prod_waiting, 0, memory_order_relaxed);
	atomic_store_explicit(&sh->cap, 0, memory_order_relaxed);
	atomic_store_explicit(&sh->flags, 0, memory_order_release);
}

void dn_ring_shared_set_cap(struct dn_ring_shared *sh, uint32_t cap)
{
	atomic_store_explicit(&sh->cap, cap, memory_order_release);
}

/* The producer's cap word: 0 means the whole data area. */
static inline int cap_ok(uint32_t c, uint32_t size)
{
	return c >= 64 && c <= size && (c & (c - 1)) == 0;
}

static inline uint32_t cap_of(uint32_t word, uint32_t size)
{
	return word ? word : size;
}

int dn_ring_attach(struct dn_ring *r, struct dn_ring_shared *sh, void *data,
		   uint32_t size)
{
	if (!r || !sh || !data || size < 64 || (size & (size - 1)) != 0) {
		errno = EINVAL;
		return -1;
	}
	uint64_t h = atomic_load_explicit(&sh->head, memory_order_acquire);
	uint64_t t = atomic_load_explicit(&sh->tail, memory_order_acquire);
	uint32_t c = cap_of(atomic_load_explicit(&sh->cap, memory_order_acquire), size);
	if (!cap_ok(c, size) || t - h > c) {
		errno = EPROTO;
		return -1;
	}
	r->sh = sh;
	r->data = data;
	r->size = size;
	r->cap = c;
	r->mask = c - 1;
	r->limit = c;
	r->switch_pos = t;
	r->head = h;
	r->tail = t;
	return 0;
}

/*
 * Consumer side: load the producer's tail and accept it only if it lies in
 * [last validated tail, head + size].  Unsigned distances from head make
 * this one comparison pair and immune to 64-bit wrap.
 */
static inline int load_tail(struct dn_ring *r)
{
	uint64_t t = atomic_load_explicit(&r->sh->tail, memory_order_acquire);
	uint64_t d = t - r->head;
	if (d > r->size || d < r->tail - r->head)
		return -1;
	/* After the tail: a cap published with or before these bytes. */
	uint32_t c = cap_of(atomic_load_explicit(&r->sh->cap, memory_order_acquire), r->size);
	if (!cap_ok(c, r->size) || d > c)
		return -1;
	r->cap = c;
	r->mask = c - 1;
	r->tail = t;
	return 0;
}

/* Producer side: head must lie in [last validated head, tail]. */
static inline int load_head(struct dn_ring *r)
{
	uint64_t h = atomic_load_explicit(&r->sh->head, memory_order_acquire);
	if (r->tail - h > r->tail - r->head)
		return -1;
	r->head = h;
	/* The consumer is past the last switch point: it reads with the
	 * new cap only, so the whole of it may be filled. */
	if (r->limit != r->cap && (int64_t)(h - r->switch_pos) >= 0)
		r->limit = r->cap;
	return 0;
}

size_t dn_ring_readable(struct dn_ring *r)
{
	if (load_tail(r) < 0)
		return DN_RING_CORRUPT;
	return (size_t)(r->tail - r->head);
}

size_t dn_ring_writable(struct dn_ring *r)
{
	if (load_head(r) < 0)
		return DN_RING_CORRUPT;
	return (size_t)(r->limit - (r->tail - r->head));
}

/* Copy len (<= size) bytes between buf and the ring at position pos, in at
 * most two pieces around the end of the data area. */
static inline void copy_in(const struct dn_ring *r, uint64_t pos,
			   const void *buf, size_t len)
{
	size_t off = (size_t)(pos & r->mask);
	size_t first = r->cap - off;
	if (first >= len) {
		memcpy(r->data + off, buf, len);
	} else {
		memcpy(r->data + off, buf, first);
		memcpy(r->data, (const uint8_t *)buf + first, len - first);
	}
}

static inline void copy_out(const struct dn_ring *r, uint64_t pos, void *buf,
			    size_t len)
{
	size_t off = (size_t)(pos & r->mask);
	size_t first = r->cap - off;
	if (first >= len) {
		memcpy(buf, r->data + off, len);
	} else {
		memcpy(buf, r->data + off, first);
		memcpy((uint8_t *)buf + first, r->data, len - first);
	}
}

size_t dn_ring_write(struct dn_ring *r, const void *buf, size_t len)
{
	size_t room = r->limit - (size_t)(r->tail - r->head);
	/* The cached head is good enough when it already leaves room; only
	 * touch the consumer's cache line when it does not. */
	if (room < len) {
		if (load_head(r) < 0)
			return DN_RING_CORRUPT;
		room = r->limit - (size_t)(r->tail - r->head);
	}
	size_t n = len < room ? len : room;
	if (n == 0)
		return 0;
	copy_in(r, r->tail, buf, n);
	r->tail += n;
	atomic_store_explicit(&r->sh->tail, r->tail, memory_order_release);
	return n;
}

size_t dn_ring_read(struct dn_ring *r, void *buf, size_t len)
{
	size_t avail = (size_t)(r->tail - r->head);
	if (avail < len) {
		if (load_tail(r) < 0)
			return DN_RING_CORRUPT;
		avail = (size_t)(r->tail - r->head);
	}
	size_t n = len < avail ? len : avail;
	if (n == 0)
		return 0;
	if (buf)
		copy_out(r, r->head, buf, n);
	r->head += n;
	atomic_store_explicit(&r->sh->head, r->head, memory_order_release);
	return n;
}

/*
 * The fine-grained calls trust their caller (the caller has just checked
 * readable/writable).  The asserts catch our own bugs; the clamps keep even
 * a buggy call inside the data area.
 */
void dn_ring_peek_at(const struct dn_ring *r, size_t off, void *buf, size_t len)
{
	assert(off <= r->tail - r->head && len <= r->tail - r->head - off);
	if (len > r->cap)
		len = r->cap;
	copy_out(r, r->head + off, buf, len);
}

void dn_ring_consume(struct dn_ring *r, size_t n)
{
	assert(n <= r->tail - r->head);
	r->head += n;
	atomic_store_explicit(&r->sh->head, r->head, memory_order_release);
}

void dn_ring_write_at(struct dn_ring *r, size_t off, const void *buf, size_t len)
{
	assert(off <= r->limit - (r->tail - r->head) &&
	       len <= r->limit - (r->tail - r->head) - off);
	if (len > r->cap)
		len = r->cap;
	copy_in(r, r->tail + off, buf, len);
}

void dn_ring_produce(struct dn_ring *r, size_t n)
{
	assert(n <= r->limit - (r->tail - r->head));
	r->tail += n;
	atomic_store_explicit(&r->sh->tail, r->tail, memory_order_release);
}

int dn_ring_grow(struct dn_ring *r, uint32_t newcap)
{
	uint32_t old = r->cap;
	if (newcap <= old || !cap_ok(newcap, r->size)) {
		errno = EINVAL;
		return -1;
	}
	if (load_head(r) < 0) {
		errno = EPROTO;
		return -1;
	}
	if (r->limit != r->cap) {
		errno = EBUSY;
		return -1;
	}
	/* Every position the consumer may still read or we may have written
	 * ahead (write_at) lies in [head, head + old).  Where the new mask
	 * puts one elsewhere, that is old + k * old up: copy it there, in
	 * runs that stay contiguous in both mappings.  The old copies stay. */
	uint64_t p = r->head, end = r->head + old;
	uint32_t nmask = newcap - 1;
	while (p < end) {
		size_t o = (size_t)(p & (old - 1)), n = (size_t)(p & nmask);
		size_t run = old - o;
		if (run > newcap - n)
			run = newcap - n;
		if (run > end - p)
			run = (size_t)(end - p);
		if (n != o)
			memcpy(r->data + n, r->data + o, run);
		p += run;
	}
	/* Published before any byte written with the new mask: a consumer
	 * that sees such a byte's tail sees this cap too. */
	atomic_store_explicit(&r->sh->cap, newcap, memory_order_release);
	r->cap = newcap;
	r->mask = nmask;
	r->limit = old;
	r->switch_pos = r->tail;
	/* Already there (an empty ring): nothing to wait for. */
	if (r->head == r->tail)
		r->limit = newcap;
	return 0;
}

/*
 * Sleep/wake handshake (Dekker style): the sleeper stores its flag, fences,
 * then re-reads the ring; the waker publishes its index, fences, then reads
 * the flag.  With both fences seq_cst at least one of them sees the other's
 * store, so a wakeup is never lost.  The waker clears the flag it acts on
 * (exchange) so a burst of publishes costs one system call, and a futex
 * waiting on the flag word with expected value 1 returns at once.
 */
void dn_ring_cons_prepare_sleep(struct dn_ring *r)
{
	atomic_store_explicit(&r->sh->cons_waiting, 1, memory_order_relaxed);
	atomic_thread_fence(memory_order_seq_cst);
}

void dn_ring_cons_cancel_sleep(struct dn_ring *r)
{
	atomic_store_explicit(&r->sh->cons_waiting, 0, memory_order_relaxed);
}

void dn_ring_prod_prepare_sleep(struct dn_ring *r)
{
	atomic_store_explicit(&r->sh->prod_waiting, 1, memory_order_relaxed);
	atomic_thread_fence(memory_order_seq_cst);
}

void dn_ring_prod_cancel_sleep(struct dn_ring *r)
{
	atomic_store_explicit(&r->sh->prod_waiting, 0, memory_order_relaxed);
}

static inline int take_flag(_Atomic uint32_t *w)
{
	atomic_thread_fence(memory_order_seq_cst);
	if (atomic_load_explicit(w, memory_order_relaxed) == 0)
		return 0;
	return atomic_exchange_explicit(w, 0, memory_order_relaxed) != 0;
}

int dn_ring_consumer_needs_wakeup(struct dn_ring *r)
{
	return take_flag(&r->sh->cons_waiting);
}

int dn_ring_producer_needs_wakeup(struct dn_ring *r)
{
	return take_flag(&r->sh->prod_waiting);
}
