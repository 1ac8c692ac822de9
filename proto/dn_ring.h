/*
 * dn_ring: single-producer single-consumer byte ring that lives in shared
 * memory.  Both the daemon and libdillnet use it (TCP socket buffers, command
 * and event rings, IPC streams).
 *
 * Layout in shared memory: a struct dn_ring_shared (indices, each on its own
 * cache line) and, elsewhere, a data area of `size` bytes (a power of two).
 * Each side keeps a private struct dn_ring holding the pointers, the size and
 * its own cached copies of the indices.  The size is never read back from
 * shared memory: a side that does not trust the other (the daemon) validates
 * every index it loads against its private copies and the size.
 *
 * Indices are free-running 64-bit byte counts; the byte at position p lives
 * at data[p & (cap-1)].  readable = tail - head, writable = cap - readable.
 *
 * Capacity: the data area holds `size` bytes, but the ring may use only
 * the first `cap` of them (a power of two, 64 <= cap <= size), so a ring
 * that never needed more touches only cap bytes' worth of pages.  The
 * producer owns cap (shared word 0 means cap = size) and grows it with
 * dn_ring_grow(): it copies each byte of the current window whose position
 * has a new mask bit set to its new place (the upper part, which no
 * old-cap reader looks at), then publishes the new cap before any byte
 * written with it.  A consumer loads cap after every tail it loads, so it
 * uses the new cap for every byte past the switch point S (the tail at
 * growth), and either cap for bytes before S (both copies are there).
 * Until the consumer's head reaches S the producer still fills no more
 * than the old cap ahead of head: a byte it writes at q lands on the
 * old-cap place of q - old cap, which is below head then.  A consumer
 * that does not trust the producer (the daemon on a tx ring) checks the
 * cap it loads (power of two, <= its private size): a wrong one can only
 * garble the producer's own stream.
 *
 * Wakeups: a side about to sleep sets its "waiting" flag, issues a full
 * fence, re-checks the ring and only then sleeps.  The other side, after
 * publishing, issues a full fence and checks the flag: a system call (futex
 * or eventfd write) is needed only when the flag is set.
 */
#ifndef DN_RING_H
#define DN_RING_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#define DN_CACHELINE 64

struct dn_ring_shared {
	_Alignas(DN_CACHELINE) _Atomic uint64_t head;   /* written by consumer */
	_Atomic uint32_t cons_waiting;                  /* consumer sleeps for data */
	_Alignas(DN_CACHELINE) _Atomic uint64_t tail;   /* written by producer */
	_Atomic uint32_t prod_waiting;                  /* producer sleeps for room */
	_Atomic uint32_t cap;                           /* producer: capacity, 0 = size */
	_Alignas(DN_CACHELINE) _Atomic uint32_t flags;  /* DN_RING_F_*, either side */
};

/* Flags either side may set; sticky. */
#define DN_RING_F_EOF    1u  /* producer will write no more (FIN / done) */
#define DN_RING_F_RESET  2u  /* stream broken: both sides fail further I/O */

/* Private view, one per side. */
struct dn_ring {
	struct dn_ring_shared *sh;
	uint8_t *data;
	uint32_t size;      /* data area, power of two, private copy */
	uint32_t cap;       /* capacity in use (<= size); mask = cap - 1 */
	uint32_t mask;
	uint32_t limit;     /* producer: fill bound, cap or the old cap until
			     * head passes switch_pos */
	uint64_t switch_pos;/* producer: tail at the last growth */
	uint64_t head;      /* last validated head */
	uint64_t tail;      /* last validated tail */
};

/* Result of an index check: the other side wrote something impossible. */
#define DN_RING_CORRUPT ((size_t)-1)

/* Zero the shared part. Call once by whoever creates the ring. */
void dn_ring_shared_init(struct dn_ring_shared *sh);

/* Set up a private view.  size must be a power of two >= 64; returns -1
 * (EINVAL) otherwise.  Loads and validates the current indices and
 * capacity (-1 with EPROTO when tail - head > size or the cap word is not
 * 0 or a power of two from 64 to size). */
int dn_ring_attach(struct dn_ring *r, struct dn_ring_shared *sh, void *data,
		   uint32_t size);

/* Bytes available to the consumer / free for the producer.  Both load the
 * other side's index and validate it (monotonic, within size of the local
 * one; the consumer also the producer's cap); DN_RING_CORRUPT when
 * invalid.  writable is below limit, not size. */
size_t dn_ring_readable(struct dn_ring *r);
size_t dn_ring_writable(struct dn_ring *r);

/* Producer: copy up to len bytes in and publish them (release).  Returns the
 * count written (may be short, 0 when full) or DN_RING_CORRUPT. */
size_t dn_ring_write(struct dn_ring *r, const void *buf, size_t len);

/* Consumer: copy up to len bytes out (buf NULL: discard) and publish the new
 * head.  Returns the count or DN_RING_CORRUPT. */
size_t dn_ring_read(struct dn_ring *r, void *buf, size_t len);

/* Finer-grained calls for TCP, where the tx ring doubles as the
 * retransmission buffer and the rx ring holds out-of-order data in place:
 *  - peek_at: consumer copies len bytes starting off bytes past head without
 *    consuming (caller guarantees off+len <= readable);
 *  - consume: consumer advances head by n (n <= readable);
 *  - write_at: producer copies bytes to tail+off without publishing
 *    (caller guarantees off+len <= writable);
 *  - produce: producer advances tail by n and publishes. */
void dn_ring_peek_at(const struct dn_ring *r, size_t off, void *buf, size_t len);
void dn_ring_consume(struct dn_ring *r, size_t n);
void dn_ring_write_at(struct dn_ring *r, size_t off, const void *buf, size_t len);
void dn_ring_produce(struct dn_ring *r, size_t n);

/* Producer: set the capacity of a ring nobody uses yet (after
 * dn_ring_shared_init, before either side attaches).  cap as for grow. */
void dn_ring_shared_set_cap(struct dn_ring_shared *sh, uint32_t cap);

/* Producer: grow the capacity to newcap (a power of two above cap, at most
 * size), moving the live bytes as described above; bytes already written
 * past tail (write_at) move too.  Returns 0, or -1 with EINVAL (bad
 * newcap), EBUSY (the last growth is not through yet: the consumer's head
 * has not reached its switch point) or EPROTO (corrupt head). */
int dn_ring_grow(struct dn_ring *r, uint32_t newcap);

/* Producer, after writable(): bytes in the ring (tail - head). */
static inline size_t dn_ring_used(const struct dn_ring *r)
{
	return (size_t)(r->tail - r->head);
}

/* Wakeup protocol helpers.  prepare_sleep sets the flag with a full fence;
 * the caller then re-checks readable/writable before sleeping and calls
 * cancel_sleep after waking.  *_needs_wakeup are called by the side that
 * just published: true when the other side announced it sleeps; the flag is
 * cleared then, so a burst of publishes costs one wakeup.  The flag word is
 * also usable as a futex word (wait while it is 1). */
void dn_ring_cons_prepare_sleep(struct dn_ring *r);
void dn_ring_cons_cancel_sleep(struct dn_ring *r);
void dn_ring_prod_prepare_sleep(struct dn_ring *r);
void dn_ring_prod_cancel_sleep(struct dn_ring *r);
int dn_ring_consumer_needs_wakeup(struct dn_ring *r);  /* after produce */
int dn_ring_producer_needs_wakeup(struct dn_ring *r);  /* after consume */

static inline void dn_ring_set_flag(struct dn_ring *r, uint32_t f)
{
	atomic_fetch_or_explicit(&r->sh->flags, f, memory_order_release);
}
static inline uint32_t dn_ring_flags(const struct dn_ring *r)
{
	return atomic_load_explicit(&r->sh->flags, memory_order_acquire);
}

#endif
