/*
 * handle.h: libdillnet's handle core (internal).
 *
 * Errors in libdillnet: every public function returns -1 (or NULL) and
 * sets errno, as libdill does, with the values listed in its man page;
 * internal helpers follow the same rule so an errno reaches the caller
 * unchanged.  Results from the daemon (a reply's result, an event's
 * result) are positive errno values and are stored into errno as they are.
 *
 * Every object the API hands out (IPC and TCP connections and listeners,
 * later mTCP sockets) is a small integer naming a slot in one process-wide,
 * thread-safe table.  An object starts with a struct dnl_handle and carries a
 * pointer to a table of functions for its kind (struct dnl_vtable), so new
 * kinds plug in without touching the generic calls (bsend, brecv, hclose...).
 *
 * How a kind uses it (TCP engineers: this is the whole contract):
 *
 *   struct tcp_conn { struct dnl_handle h; ... };   // h must come first
 *   static const struct dnl_vtable tcp_vt = { DNL_KIND_TCP, "tcp",
 *       tcp_bsendl, tcp_brecvl, tcp_done_, tcp_close_, tcp_cancel, tcp_free };
 *
 *   create:  c = malloc (or caller storage); fill it;
 *            s = dnl_handle_add(&c->h, &tcp_vt, DNL_H_FREE or 0);
 *            (or dnl_handle_reserve() first and dnl_handle_publish() after
 *            a long setup, so dillnet_shutdown() can cancel the setup)
 *   use:     h = dnl_handle_get(s, DNL_KIND_TCP);   // EBADF / ENOTSUP
 *            ... dnl_handle_put(h);
 *   bsend/brecv/hclose are generic: they call the vtable.
 *   tcp_done(s, d)  == dnl_handle_done(s, DNL_KIND_TCP, d)
 *   tcp_close(s, d) == dnl_handle_close(s, DNL_KIND_TCP, d)
 *
 * Rules for vtable functions:
 *  - bsendl/brecvl get an already validated iolist and run with the
 *    direction claimed (EBUSY and "broken direction" are handled here).
 *    They return 0 or -1 with errno.  Any failure other than EINVAL, EPIPE,
 *    EPROTO marks that direction broken: later calls get ECONNRESET.
 *  - every blocking wait must end when dnl_handle_cancelled(h) becomes true
 *    (vt->cancel is called right after it does, to wake sleepers) and then
 *    fail with ECANCELED.
 *  - close: the orderly part of tcp_close/ipc_close; the handle is released
 *    afterwards whatever it returns.  It is not called when a direction is
 *    broken: *_close then fails with ECONNRESET at once (libdill's rule).
 *  - release: free the kind's resources (not the memory of the object when
 *    it came from caller storage; the core frees it when DNL_H_FREE).  It
 *    runs once, when no other call is inside the object any more.  It is
 *    what hclose() means for that kind.
 */
#ifndef DNL_HANDLE_H
#define DNL_HANDLE_H

#ifndef DILLNET_DISABLE_RAW_NAMES
#define DILLNET_DISABLE_RAW_NAMES
#endif
#include "dillnet.h"

#include <poll.h>
#include <stdatomic.h>
#include <stdint.h>

enum dnl_kind {
	DNL_KIND_ANY = 0,
	DNL_KIND_IPC_LISTENER,
	DNL_KIND_IPC,
	DNL_KIND_TCP_LISTENER,
	DNL_KIND_TCP,
	DNL_KIND_MTCP,
};

struct dnl_handle;

struct dnl_vtable {
	int kind;
	const char *name;
	int (*bsendl)(struct dnl_handle *h, struct iolist *first,
		      struct iolist *last, int64_t deadline);
	int (*brecvl)(struct dnl_handle *h, struct iolist *first,
		      struct iolist *last, int64_t deadline);
	int (*done)(struct dnl_handle *h, int64_t deadline);
	int (*close)(struct dnl_handle *h, int64_t deadline);
	void (*cancel)(struct dnl_handle *h);
	void (*release)(struct dnl_handle *h);
};

enum { DNL_SEND = 0, DNL_RECV = 1 };

struct dnl_handle {
	const struct dnl_vtable *vt;
	_Atomic uint32_t refs;      /* 1 for the table + 1 per call inside */
	_Atomic int cancelled;
	_Atomic int busy[2];
	_Atomic int broken[2];
	int flags;                  /* DNL_H_* */
	int id;
};

#define DNL_H_FREE 1    /* object was malloc'ed: free() it after release */

/* Table. */
int dnl_handle_add(struct dnl_handle *h, const struct dnl_vtable *vt,
		   int flags);
int dnl_handle_reserve(struct dnl_handle *h, const struct dnl_vtable *vt,
		       int flags);
void dnl_handle_publish(struct dnl_handle *h);
/* Drop a reserved (never published) handle: release + free. */
void dnl_handle_unreserve(struct dnl_handle *h);
struct dnl_handle *dnl_handle_get(int s, int kind);
void dnl_handle_put(struct dnl_handle *h);
int dnl_handle_release(int s);
static inline int dnl_handle_cancelled(const struct dnl_handle *h)
{
	return atomic_load_explicit(&h->cancelled, memory_order_acquire);
}

/* Claim / give back one direction of a handle.  begin fails with EBUSY,
 * ECONNRESET (broken) or ECANCELED.  end records a failure (rc < 0) as
 * described above and keeps errno. */
int dnl_dir_begin(struct dnl_handle *h, int dir);
void dnl_dir_end(struct dnl_handle *h, int dir, int rc);

/* Generic implementations of *_done and *_close for any kind. */
int dnl_handle_done(int s, int kind, int64_t deadline);
int dnl_handle_close(int s, int kind, int64_t deadline);

/* Time helpers (time.c). */
int64_t dnl_now_ns(void);
/* ppoll until an event or the deadline (ms, absolute; <0 forever).
 * Returns poll's count, 0 at the deadline, -1 on error (EINTR retried). */
int dnl_poll_until(struct pollfd *fds, int nfds, int64_t deadline);
/* Nanoseconds left until deadline; INT64_MAX when none; <= 0 when expired. */
int64_t dnl_ns_left(int64_t deadline);

/* The one piece of library-wide state other than the table's contents:
 * set by dillnet_shutdown(). */
int dnl_lib_shut(void);

#endif
