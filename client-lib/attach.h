/*
 * attach.h: libdillnet's attachment to dillnetd (internal).
 *
 * One attachment ("generation") is one connection to the daemon's app
 * socket, the shared region it handed us, the two eventfds, and a pump
 * thread.  The pump is the only reader of the control socket and of the
 * event ring: it matches replies to requests by req_id, applies events to
 * the per-socket state below, and wakes the threads that sleep on a socket.
 *
 * TCP objects embed a struct dnl_sock.  Everything in it marked "mu" is
 * read and written under its attachment's mutex.
 *
 * When the daemon hangs up (or the region turns out corrupt) the
 * attachment is dead for good: every call on a socket of it fails with
 * ECONNRESET, and the next call that needs the daemon (dnl_att_get)
 * attaches again, as a new generation.
 */
#ifndef DNL_ATTACH_H
#define DNL_ATTACH_H

#include <pthread.h>
#include <stdint.h>

#include "dn_msg.h"
#include "dn_region.h"
#include "handle.h"

struct dnl_att;

/* Level state kept per socket from events (bits of dnl_sock.ev). */
#define DNL_SEV_READABLE   0x01
#define DNL_SEV_WRITABLE   0x02
#define DNL_SEV_ACCEPTABLE 0x04
#define DNL_SEV_CONNECTED  0x08
#define DNL_SEV_RESET      0x10
#define DNL_SEV_CLOSED     0x20

struct dnl_sock {
	struct dnl_att *att;        /* holds a reference while set */
	struct dnl_handle *h;       /* owner, for dillnet_ready and cancel */
	struct dn_ring *rx;         /* slot rings (NULL for listeners): the */
	struct dn_ring *tx;         /* pump only reads their shared indices */
	uint32_t id;                /* daemon's socket id (mu) */
	int registered;             /* in the attachment's table (mu) */
	pthread_cond_t cv;          /* waiters on this socket sleep here */
	int waiters;                /* mu */
	/* DNL_SEV_* seen; written under mu, read without it on the data
	 * path (the results are stored before their bit is set). */
	_Atomic unsigned ev;
	_Atomic int conn_result;    /* EVT_CONNECTED result */
	_Atomic int reset_err;      /* EVT_RESET result, 0 = none */
	int queued;                 /* on the ready list (library mutex) */
	/* Event-driven owners (mtcp): when set, readiness changes go to
	 * notify instead of the dillnet_ready list.  It runs on the pump
	 * (attachment mutex held) or in the thread that set the rings, and
	 * must only take locks ordered after the attachment's. */
	void (*notify)(struct dnl_sock *s);
	int arm;                    /* keep both ring flags raised, as in
				     * event-loop mode (set before the rings) */
	struct dnl_sock *hnext;     /* hash chain (mu) */
	struct dnl_sock *rnext;     /* ready list (library mutex) */
};

/* Current live attachment, attaching first if there is none.  deadline
 * bounds the attach handshake (-1: the library's own cap).  Returns a
 * referenced attachment, or NULL with errno (ENOENT, ECONNREFUSED, EACCES,
 * EPROTO, ETIMEDOUT, ECANCELED, ENFILE, ...). */
struct dnl_att *dnl_att_get(int64_t deadline);
void dnl_att_ref(struct dnl_att *a);
void dnl_att_put(struct dnl_att *a);
int dnl_att_dead(const struct dnl_att *a);
/* Region view of an attachment (slot rings are opened from it). */
struct dn_region *dnl_att_region(struct dnl_att *a);

/* Socket objects.  init takes a reference on a; fini drops it (and
 * unregisters the socket first). */
void dnl_sock_init(struct dnl_sock *s, struct dnl_att *a, struct dnl_handle *h);
void dnl_sock_fini(struct dnl_sock *s);

/*
 * One request/reply on the control socket.  rep/replen: where the reply
 * payload goes (exactly replen bytes expected on success).  reg: when not
 * NULL and the reply succeeds, the pump registers reg under the socket id
 * of the reply (struct dn_tcp_sock_rep) before it looks at any later
 * event, so no event for a new socket is missed.  Waits until deadline;
 * h (may be NULL) cancels the wait.  Returns 0, or -1 with errno: the
 * daemon's result, ECONNRESET (daemon gone), ETIMEDOUT, ECANCELED.  A
 * reply that comes after the caller gave up is handled by the pump (a
 * socket created for nobody is closed with DN_CLOSE_ABORT).
 */
int dnl_att_request(struct dnl_att *a, uint16_t type, const void *req,
		    uint32_t len, void *rep, uint32_t replen,
		    struct dnl_sock *reg, const struct dnl_handle *h,
		    int64_t deadline);
/* Fire and forget (TCP_CLOSE from hclose): the reply is dropped. */
void dnl_att_request_async(struct dnl_att *a, uint16_t type, const void *req,
			   uint32_t len);

/* Push a data-path hint (DN_CMD_TX / DN_CMD_RX) for sock; wakes the daemon
 * only when it said it sleeps.  Never blocks. */
void dnl_att_cmd(struct dnl_att *a, uint16_t op, uint32_t sock);

/* Sleep on s until ready(arg) is true (checked under the attachment's
 * mutex, after announcing the sleep on ring r: DNL_W_CONS sleeps as r's
 * consumer, DNL_W_PROD as its producer, DNL_W_NONE only on events).
 * Returns 0 when ready, else -1 with ETIMEDOUT, ECANCELED (h cancelled) or
 * ECONNRESET (the attachment died). */
enum { DNL_W_NONE, DNL_W_CONS, DNL_W_PROD };
int dnl_sock_wait(struct dnl_sock *s, struct dn_ring *r, int how,
		  int (*ready)(void *), void *arg, int64_t deadline);

/* Hand the socket's slot rings to the attachment (dillnet_ready reads
 * their shared indices; event-loop mode raises their waiting flags). */
void dnl_sock_set_rings(struct dnl_sock *s, struct dn_ring *rx, struct dn_ring *tx);
/* Report s through dillnet_ready (event-loop mode): call once its handle
 * is visible, so a new connection's first bytes are not missed. */
void dnl_sock_changed(struct dnl_sock *s);
/* Read a socket's event state under the attachment mutex. */
unsigned dnl_sock_ev(struct dnl_sock *s, int *conn_result, int *reset_err);
/* Clear bits of a socket's event state. */
void dnl_sock_ev_clear(struct dnl_sock *s, unsigned bits);
/* Wake every thread sleeping on s (hclose from another thread). */
void dnl_sock_wake(struct dnl_sock *s);

/* A line on stderr when DILLNET_DEBUG is set (diagnostics only). */
void dnl_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* tcp.c: the socket of a TCP connection or listener handle. */
struct dnl_sock *dnl_tcp_sock(struct dnl_handle *h);

#endif
