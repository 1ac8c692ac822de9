/*
 * handle.c: the process-wide handle table and the generic calls on handles.
 *
 * Lifetime: a handle's object holds one reference for the table and one per
 * call currently inside it.  Releasing (hclose, *_close, shutdown) first
 * unlinks the slot so no new call can find it, then marks the object
 * cancelled and lets its kind wake any sleeper, then waits until the calls
 * inside have left before the kind frees anything.  That wait is what makes
 * caller storage (_mem variants) safe to reuse as soon as hclose returns.
 *
 * Lookups take no lock (issue 12: a bsend of 64 bytes costs a few tens of
 * nanoseconds, and the mutex and two reference counts were half of it).
 * The table is an array of chunks that are never moved or freed, so a
 * slot can be read at any time; the object a slot names is protected by a
 * hazard pointer: the calling thread publishes the pointer in its own
 * hazard entry (seq_cst), then reads the slot again.  A releaser unlinks
 * the slot (seq_cst) before it scans every thread's entries, so either
 * the reader sees the slot changed and backs off, or the releaser sees the
 * hazard and waits for the call to leave (Dekker, as in dn_ring).  One
 * locked instruction per lookup instead of four.  A thread nested deeper
 * than DNL_HZ lookups falls back to the reference count, which releasers
 * still wait for.  Changes to the table (insert, unlink, publish) still
 * take the mutex.
 */
#include "handle.h"

#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

/* A cap so a runaway program gets EMFILE instead of exhausting memory. */
#define DNL_MAX_HANDLES (1 << 20)
#define DNL_CHUNK 1024              /* slots per chunk */
#define DNL_NCHUNK (DNL_MAX_HANDLES / DNL_CHUNK)
#define DNL_H_HIDDEN 0x100   /* reserved, not yet visible to lookups */
/* A slot of a reserved handle holds its pointer with this bit set, so
 * lookups (which never read the object's flags) see nothing there. */
#define DNL_SLOT_HIDDEN ((uintptr_t)1)
#define DNL_HZ 4                    /* hazard entries per thread */

typedef _Atomic(uintptr_t) dnl_slot;

static struct {
	pthread_mutex_t mu;
	/* Chunks are allocated under mu and never freed or moved. */
	_Atomic(dnl_slot *) chunk[DNL_NCHUNK];
	int cap;                    /* slots in allocated chunks */
	int low;                    /* no free slot below this index */
	int shut;
} dnl_tab = { .mu = PTHREAD_MUTEX_INITIALIZER };

/* One thread's hazard entries.  Entries are pushed on a list that only
 * grows; a thread that exits gives its entry back for reuse. */
struct dnl_hz {
	_Atomic(struct dnl_handle *) h[DNL_HZ];
	_Atomic int used;
	struct dnl_hz *next;        /* fixed once linked */
};

static _Atomic(struct dnl_hz *) hz_list;
static __thread struct dnl_hz *hz_me;
static pthread_key_t hz_key;
static pthread_once_t hz_once = PTHREAD_ONCE_INIT;

static void hz_exit(void *arg)
{
	struct dnl_hz *z = arg;
	for (int i = 0; i < DNL_HZ; i++)
		atomic_store(&z->h[i], NULL);
	atomic_store(&z->used, 0);
}

/* In a fork child only the forking thread exists: the others' entries
 * would keep their handles "in use" for ever. */
static void hz_atfork_child(void)
{
	for (struct dnl_hz *z = atomic_load(&hz_list); z; z = z->next)
		if (z != hz_me)
			hz_exit(z);
}

static void hz_init(void)
{
	pthread_key_create(&hz_key, hz_exit);
	pthread_atfork(NULL, NULL, hz_atfork_child);
}

/* This thread's entry, or NULL when none can be had (no memory): the
 * caller then uses the reference count. */
static struct dnl_hz *hz_self(void)
{
	if (hz_me)
		return hz_me;
	pthread_once(&hz_once, hz_init);
	struct dnl_hz *z;
	for (z = atomic_load(&hz_list); z; z = z->next) {
		int zero = 0;
		if (atomic_compare_exchange_strong(&z->used, &zero, 1))
			break;
	}
	if (!z) {
		z = calloc(1, sizeof(*z));
		if (!z)
			return NULL;
		atomic_init(&z->used, 1);
		struct dnl_hz *head = atomic_load(&hz_list);
		do
			z->next = head;
		while (!atomic_compare_exchange_weak(&hz_list, &head, z));
	}
	if (pthread_setspecific(hz_key, z) != 0) {
		atomic_store(&z->used, 0);
		return NULL;
	}
	hz_me = z;
	return z;
}

/* Does any thread hold h in a hazard entry?  (After h's slot is unlinked
 * no new entry can name it for more than the reader's re-check.) */
static int hz_held(const struct dnl_handle *h)
{
	for (struct dnl_hz *z = atomic_load(&hz_list); z; z = z->next)
		for (int i = 0; i < DNL_HZ; i++)
			if (atomic_load(&z->h[i]) == h)
				return 1;
	return 0;
}

/* Slot i, allocated (i < cap).  Lock-free: chunks never move. */
static dnl_slot *slot_at(int i)
{
	dnl_slot *c = atomic_load_explicit(&dnl_tab.chunk[i / DNL_CHUNK],
					   memory_order_acquire);
	return c ? &c[i % DNL_CHUNK] : NULL;
}

/* The published handle in slot i (mu held or not), NULL if none. */
static struct dnl_handle *slot_get(int i)
{
	dnl_slot *sl = slot_at(i);
	uintptr_t v = sl ? atomic_load(sl) : 0;
	return (v & DNL_SLOT_HIDDEN) ? NULL : (struct dnl_handle *)v;
}

/* Whatever slot i holds, hidden or not (mu held). */
static struct dnl_handle *slot_any(int i, int *hidden)
{
	uintptr_t v = atomic_load(slot_at(i));
	*hidden = (v & DNL_SLOT_HIDDEN) != 0;
	return (struct dnl_handle *)(v & ~DNL_SLOT_HIDDEN);
}

static void slot_set(int i, struct dnl_handle *h, int hidden)
{
	atomic_store(slot_at(i), (uintptr_t)h | (hidden ? DNL_SLOT_HIDDEN : 0));
}

static void futex_wake_all(_Atomic uint32_t *w)
{
	syscall(SYS_futex, (uint32_t *)w, FUTEX_WAKE_PRIVATE, INT_MAX, NULL,
		NULL, 0);
}

/* Wait until only the table's (or the releaser's) reference is left and
 * no thread holds h in a hazard entry.  The timeout only guards against a
 * wakeup racing with the futex call. */
static void wait_last_ref(struct dnl_handle *h)
{
	uint32_t r;
	while ((r = atomic_load(&h->refs)) != 1 || hz_held(h)) {
		struct timespec ts = { 0, 5 * 1000 * 1000 };
		if (r == 1)
			ts.tv_nsec = 1000 * 1000;   /* hazard: no futex word */
		syscall(SYS_futex, (uint32_t *)&h->refs, FUTEX_WAIT_PRIVATE, r,
			&ts, NULL, 0);
	}
}

static int insert(struct dnl_handle *h, const struct dnl_vtable *vt,
		  int flags, int hidden)
{
	h->vt = vt;
	atomic_init(&h->refs, 1);
	atomic_init(&h->cancelled, 0);
	atomic_init(&h->busy[0], 0);
	atomic_init(&h->busy[1], 0);
	atomic_init(&h->broken[0], 0);
	atomic_init(&h->broken[1], 0);
	h->flags = flags | (hidden ? DNL_H_HIDDEN : 0);

	pthread_mutex_lock(&dnl_tab.mu);
	int err = 0, i, hid;
	if (dnl_tab.shut) {
		err = ECANCELED;
		goto out;
	}
	for (i = dnl_tab.low; i < dnl_tab.cap; i++)
		if (!slot_any(i, &hid))
			break;
	if (i == dnl_tab.cap) {
		if (dnl_tab.cap >= DNL_MAX_HANDLES) {
			err = EMFILE;
			goto out;
		}
		dnl_slot *c = calloc(DNL_CHUNK, sizeof(*c));
		if (!c) {
			err = ENOMEM;
			goto out;
		}
		atomic_store_explicit(&dnl_tab.chunk[dnl_tab.cap / DNL_CHUNK],
				      c, memory_order_release);
		dnl_tab.cap += DNL_CHUNK;
	}
	h->id = i + 1;
	slot_set(i, h, hidden);
	dnl_tab.low = i + 1;
out:
	pthread_mutex_unlock(&dnl_tab.mu);
	if (err) {
		errno = err;
		return -1;
	}
	return h->id;
}

int dnl_handle_add(struct dnl_handle *h, const struct dnl_vtable *vt,
		   int flags)
{
	return insert(h, vt, flags, 0);
}

int dnl_handle_reserve(struct dnl_handle *h, const struct dnl_vtable *vt,
		       int flags)
{
	return insert(h, vt, flags, 1);
}

void dnl_handle_publish(struct dnl_handle *h)
{
	pthread_mutex_lock(&dnl_tab.mu);
	h->flags &= ~DNL_H_HIDDEN;
	int hid;
	if (slot_any(h->id - 1, &hid) == h)
		slot_set(h->id - 1, h, 0);
	pthread_mutex_unlock(&dnl_tab.mu);
}

/* Unlink slot i (mutex held).  seq_cst: see the lookup protocol above. */
static void unlink_slot(int i)
{
	atomic_store(slot_at(i), 0);
	if (i < dnl_tab.low)
		dnl_tab.low = i;
}

static void finish(struct dnl_handle *h)
{
	atomic_store(&h->cancelled, 1);
	if (h->vt->cancel)
		h->vt->cancel(h);
	wait_last_ref(h);
	int fl = h->flags;
	if (h->vt->release)
		h->vt->release(h);
	if (fl & DNL_H_FREE)
		free(h);
}

void dnl_handle_unreserve(struct dnl_handle *h)
{
	pthread_mutex_lock(&dnl_tab.mu);
	unlink_slot(h->id - 1);
	pthread_mutex_unlock(&dnl_tab.mu);
	finish(h);
}

/* The slow lookup: under the mutex, counted in refs.  Also gives the
 * errno of a failed lookup. */
static struct dnl_handle *get_locked_path(int s, int kind)
{
	struct dnl_handle *h = NULL;
	int err = 0;
	pthread_mutex_lock(&dnl_tab.mu);
	if (s < 1 || s > dnl_tab.cap || !(h = slot_get(s - 1))) {
		err = dnl_tab.shut ? ECANCELED : EBADF;
		goto out;
	}
	if (kind != DNL_KIND_ANY && h->vt->kind != kind) {
		h = NULL;
		err = ENOTSUP;
		goto out;
	}
	atomic_fetch_add(&h->refs, 1);
out:
	pthread_mutex_unlock(&dnl_tab.mu);
	if (err)
		errno = err;
	return h;
}

struct dnl_handle *dnl_handle_get(int s, int kind)
{
	struct dnl_hz *z = hz_me ? hz_me : hz_self();
	int k = 0;
	if (z)
		while (k < DNL_HZ && atomic_load_explicit(&z->h[k],
							  memory_order_relaxed))
			k++;
	if (!z || k == DNL_HZ || s < 1 || s > DNL_MAX_HANDLES)
		return get_locked_path(s, kind);
	dnl_slot *sl = slot_at(s - 1);
	if (!sl)
		return get_locked_path(s, kind);
	for (;;) {
		uintptr_t v = atomic_load_explicit(sl, memory_order_acquire);
		if (!v || (v & DNL_SLOT_HIDDEN))
			return get_locked_path(s, kind);
		struct dnl_handle *h = (struct dnl_handle *)v;
		atomic_store(&z->h[k], h);          /* seq_cst: the hazard */
		if (atomic_load(sl) != v) {
			atomic_store_explicit(&z->h[k], NULL, memory_order_release);
			continue;                   /* released or replaced */
		}
		if (kind != DNL_KIND_ANY && h->vt->kind != kind) {
			atomic_store_explicit(&z->h[k], NULL, memory_order_release);
			errno = ENOTSUP;
			return NULL;
		}
		return h;
	}
}

void dnl_handle_put(struct dnl_handle *h)
{
	/* Read the flag before letting go: afterwards the releaser may free
	 * the object at any moment.  The wake itself only passes the address
	 * to the kernel, which does not touch the memory for a private
	 * FUTEX_WAKE.  A release that starts just after the read misses this
	 * wake and notices within its wait timeout. */
	int cancelled = atomic_load_explicit(&h->cancelled, memory_order_acquire);
	_Atomic uint32_t *w = &h->refs;
	struct dnl_hz *z = hz_me;
	int k = DNL_HZ;
	if (z)
		while (k > 0 && atomic_load_explicit(&z->h[k - 1],
						     memory_order_relaxed) != h)
			k--;
	if (k > 0)
		atomic_store_explicit(&z->h[k - 1], NULL, memory_order_release);
	else
		atomic_fetch_sub(w, 1);
	if (cancelled)
		futex_wake_all(w);
}

int dnl_handle_release(int s)
{
	struct dnl_handle *h = NULL;
	pthread_mutex_lock(&dnl_tab.mu);
	if (s >= 1 && s <= dnl_tab.cap && (h = slot_get(s - 1)))
		unlink_slot(s - 1);
	int shut = dnl_tab.shut;
	pthread_mutex_unlock(&dnl_tab.mu);
	if (!h) {
		errno = shut ? ECANCELED : EBADF;
		return -1;
	}
	finish(h);
	return 0;
}

int dnl_lib_shut(void)
{
	pthread_mutex_lock(&dnl_tab.mu);
	int s = dnl_tab.shut;
	pthread_mutex_unlock(&dnl_tab.mu);
	return s;
}

DILLNET_EXPORT void dillnet_shutdown(void)
{
	for (;;) {
		struct dnl_handle *h = NULL;
		struct dnl_handle *hidden[64];
		int nhidden = 0;
		pthread_mutex_lock(&dnl_tab.mu);
		dnl_tab.shut = 1;
		for (int i = 0; i < dnl_tab.cap; i++) {
			int hid;
			struct dnl_handle *x = slot_any(i, &hid);
			if (!x)
				continue;
			if (hid) {
				/* Being set up by another thread: cancel it and
				 * let that thread drop it. */
				if (!atomic_load(&x->cancelled) &&
				    nhidden < 64) {
					atomic_fetch_add(&x->refs, 1);
					hidden[nhidden++] = x;
				}
				continue;
			}
			h = x;
			unlink_slot(i);
			break;
		}
		pthread_mutex_unlock(&dnl_tab.mu);
		for (int i = 0; i < nhidden; i++) {
			atomic_store(&hidden[i]->cancelled, 1);
			if (hidden[i]->vt->cancel)
				hidden[i]->vt->cancel(hidden[i]);
			/* Our own count above, never a hazard entry. */
			atomic_fetch_sub(&hidden[i]->refs, 1);
			futex_wake_all(&hidden[i]->refs);
		}
		/* Hidden handles already cancelled are skipped above, so
		 * going round again while any turned up always ends. */
		if (!h && nhidden == 0)
			break;
		if (h)
			finish(h);
	}
}

int dnl_dir_begin(struct dnl_handle *h, int dir)
{
	if (dnl_handle_cancelled(h)) {
		errno = ECANCELED;
		return -1;
	}
	if (atomic_exchange(&h->busy[dir], 1)) {
		errno = EBUSY;
		return -1;
	}
	if (atomic_load(&h->broken[dir])) {
		atomic_store(&h->busy[dir], 0);
		errno = ECONNRESET;
		return -1;
	}
	return 0;
}

void dnl_dir_end(struct dnl_handle *h, int dir, int rc)
{
	if (rc < 0) {
		switch (errno) {
		case EINVAL:   /* bad arguments: nothing was moved */
		case EPIPE:    /* a clean end is a state, not a failure */
		case EPROTO:   /* ipc_recvfd: data came instead of an fd */
			break;
		default:
			atomic_store(&h->broken[dir], 1);
		}
	}
	/* Release is enough: the next claimer's exchange orders after it,
	 * and a plain store is all x86 needs for it. */
	atomic_store_explicit(&h->busy[dir], 0, memory_order_release);
}

int dnl_handle_done(int s, int kind, int64_t deadline)
{
	struct dnl_handle *h = dnl_handle_get(s, kind);
	if (!h)
		return -1;
	int rc = -1;
	if (!h->vt->done) {
		errno = ENOTSUP;
		goto out;
	}
	if (dnl_dir_begin(h, DNL_SEND) < 0)
		goto out;
	rc = h->vt->done(h, deadline);
	dnl_dir_end(h, DNL_SEND, rc);
out:;
	int e = errno;
	dnl_handle_put(h);
	errno = e;
	return rc;
}

int dnl_handle_close(int s, int kind, int64_t deadline)
{
	struct dnl_handle *h = dnl_handle_get(s, kind);
	if (!h)
		return -1;
	int rc = 0, e = 0;
	if (h->vt->close) {
		/* The orderly part sends and receives: it needs both
		 * directions to itself. */
		if (atomic_exchange(&h->busy[DNL_SEND], 1)) {
			rc = -1;
			e = EBUSY;
		} else {
			if (atomic_exchange(&h->busy[DNL_RECV], 1)) {
				rc = -1;
				e = EBUSY;
			} else if (atomic_load(&h->broken[DNL_SEND]) ||
				   atomic_load(&h->broken[DNL_RECV])) {
				/* As libdill's ipc_close/tcp_close: after any
				 * failed call on the handle the terminal
				 * handshake cannot prove a clean end, so there
				 * is none; the handle is released as by
				 * hclose (the kind's release hook). */
				rc = -1;
				e = ECONNRESET;
				atomic_store(&h->busy[DNL_RECV], 0);
			} else {
				rc = h->vt->close(h, deadline);
				e = errno;
				atomic_store(&h->busy[DNL_RECV], 0);
			}
			atomic_store(&h->busy[DNL_SEND], 0);
		}
	}
	/* Unlink by pointer while our reference keeps the object alive: if
	 * another thread released it meanwhile, the number may already name
	 * a new handle that is not ours to close. */
	int mine = 0;
	pthread_mutex_lock(&dnl_tab.mu);
	if (slot_get(h->id - 1) == h) {
		unlink_slot(h->id - 1);
		mine = 1;
	}
	pthread_mutex_unlock(&dnl_tab.mu);
	dnl_handle_put(h);
	if (mine)
		finish(h);
	errno = e;
	return rc;
}

DILLNET_EXPORT int dillnet_hclose(int h)
{
	return dnl_handle_release(h);
}
