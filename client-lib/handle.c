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
 * Lookups take one mutex.  It is held for a few loads and an increment, so
 * even with several threads per handle it costs far less than the copy of a
 * small message; a lock-free table would need hazard pointers or epochs to
 * free objects safely, which is not worth it here.
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
#define DNL_H_HIDDEN 0x100   /* reserved, not yet visible to lookups */

static struct {
	pthread_mutex_t mu;
	struct dnl_handle **slot;   /* index = handle - 1 */
	int cap;
	int low;                    /* no free slot below this index */
	int shut;
} dnl_tab = { .mu = PTHREAD_MUTEX_INITIALIZER };

static void futex_wake_all(_Atomic uint32_t *w)
{
	syscall(SYS_futex, (uint32_t *)w, FUTEX_WAKE_PRIVATE, INT_MAX, NULL,
		NULL, 0);
}

/* Wait until only the table's (or the releaser's) reference is left.  The
 * timeout only guards against a wakeup racing with the futex call. */
static void wait_last_ref(struct dnl_handle *h)
{
	uint32_t r;
	while ((r = atomic_load(&h->refs)) != 1) {
		struct timespec ts = { 0, 5 * 1000 * 1000 };
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
	int err = 0, i;
	if (dnl_tab.shut) {
		err = ECANCELED;
		goto out;
	}
	for (i = dnl_tab.low; i < dnl_tab.cap; i++)
		if (!dnl_tab.slot[i])
			break;
	if (i == dnl_tab.cap) {
		if (dnl_tab.cap >= DNL_MAX_HANDLES) {
			err = EMFILE;
			goto out;
		}
		int ncap = dnl_tab.cap ? dnl_tab.cap * 2 : 64;
		struct dnl_handle **n = realloc(dnl_tab.slot,
						(size_t)ncap * sizeof(*n));
		if (!n) {
			err = ENOMEM;
			goto out;
		}
		for (int j = dnl_tab.cap; j < ncap; j++)
			n[j] = NULL;
		dnl_tab.slot = n;
		dnl_tab.cap = ncap;
	}
	dnl_tab.slot[i] = h;
	dnl_tab.low = i + 1;
	h->id = i + 1;
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
	pthread_mutex_unlock(&dnl_tab.mu);
}

/* Unlink slot i (mutex held). */
static void unlink_slot(int i)
{
	dnl_tab.slot[i] = NULL;
	if (i < dnl_tab.low)
		dnl_tab.low = i;
}

static void finish(struct dnl_handle *h)
{
	atomic_store_explicit(&h->cancelled, 1, memory_order_release);
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

struct dnl_handle *dnl_handle_get(int s, int kind)
{
	struct dnl_handle *h = NULL;
	int err = 0;
	pthread_mutex_lock(&dnl_tab.mu);
	if (s < 1 || s > dnl_tab.cap || !dnl_tab.slot[s - 1] ||
	    (dnl_tab.slot[s - 1]->flags & DNL_H_HIDDEN)) {
		err = dnl_tab.shut ? ECANCELED : EBADF;
		goto out;
	}
	h = dnl_tab.slot[s - 1];
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

void dnl_handle_put(struct dnl_handle *h)
{
	/* Read the flag before dropping our reference: afterwards the
	 * releaser may free the object at any moment.  The wake itself only
	 * passes the address to the kernel, which does not touch the memory
	 * for a private FUTEX_WAKE.  A release that starts just after the
	 * read misses this wake and notices within its 5 ms wait timeout. */
	int cancelled = atomic_load_explicit(&h->cancelled, memory_order_acquire);
	_Atomic uint32_t *w = &h->refs;
	atomic_fetch_sub(w, 1);
	if (cancelled)
		futex_wake_all(w);
}

int dnl_handle_release(int s)
{
	struct dnl_handle *h = NULL;
	pthread_mutex_lock(&dnl_tab.mu);
	if (s >= 1 && s <= dnl_tab.cap && dnl_tab.slot[s - 1] &&
	    !(dnl_tab.slot[s - 1]->flags & DNL_H_HIDDEN)) {
		h = dnl_tab.slot[s - 1];
		unlink_slot(s - 1);
	}
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
			struct dnl_handle *x = dnl_tab.slot[i];
			if (!x)
				continue;
			if (x->flags & DNL_H_HIDDEN) {
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
			dnl_handle_put(hidden[i]);
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
	atomic_store(&h->busy[dir], 0);
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
	if (dnl_tab.slot[h->id - 1] == h) {
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
