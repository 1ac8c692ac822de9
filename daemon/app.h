/*
 * The app manager: app.sock connections, identity and policy, HELLO,
 * APP_ATTACH (a sealed memfd region + two eventfds sent with SCM_RIGHTS),
 * the app table, the command ring, and cleanup when an app goes away.
 *
 * No DPDK here: this file is linked into unit tests and fuzzers.
 *
 * Lifecycle of one connection:
 *   accept -> SO_PEERCRED (identity; never what a message claims) -> policy
 *   -> HELLO (refused apps get their first request answered with EACCES,
 *   too-many-apps with EAGAIN, and are disconnected) -> APP_ATTACH ->
 *   TCP_* requests (dispatched to the handler table the daemon passes in)
 *   and command-ring records -> APP_DETACH, socket close, ctl kill, or a
 *   violation -> detach hook (the TCP layer closes the app's connections)
 *   -> region unmapped, fds closed, state freed, one log line.
 *
 * Violations: a malformed frame, a request before HELLO, a corrupt ring
 * index or an invalid command record.  The app is logged (pid, uid,
 * reason) and disconnected; the daemon and other apps carry on.
 *
 * Re-entrancy: handlers and hooks may call dn_app_violation() or
 * dn_apps_kill_pid() on the app being served; teardown is deferred until
 * the manager's own callback returns, so no app is freed under a caller.
 */
#ifndef DN_APP_H
#define DN_APP_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "dn_msg.h"
#include "dn_region.h"
#include "evloop.h"
#include "log.h"

struct dn_apps;

/* One connected app.  The manager owns it; other daemon code reads the
 * fields and may use `user` and the counters. */
struct dn_app {
	struct dn_apps *mgr;
	uint32_t id;               /* unique per daemon run, for logs and ctl */
	int fd;                    /* app.sock connection */
	pid_t pid;                 /* from SO_PEERCRED */
	uid_t uid;
	gid_t gid;
	char name[32];             /* from HELLO, for logs only */
	uint64_t attach_ms;        /* CLOCK_REALTIME ms when attached */
	int said_hello;
	int refused;               /* errno to answer the first request with */
	int attached;
	/* Valid once attached: */
	struct dn_region region;   /* daemon's view; layout is the private copy */
	int app_efd;               /* daemon signals: app wakes */
	int dmn_efd;               /* app signals: daemon wakes (in the evloop) */
	/* Kept by the TCP layer: */
	uint32_t sockets;          /* open sockets, for ctl and limits */
	uint64_t bytes_in;         /* payload delivered to the app */
	uint64_t bytes_out;        /* payload taken from the app */
	void *user;                /* TCP layer's per-app state */
	/* Set by on_detach to take over the region mapping: the manager then
	 * leaves region.base mapped and the hook's owner destroys it (TCP may
	 * still need a dead app's rings to finish closing its connections
	 * the way the kernel would). */
	int region_kept;
	/* Manager internals: */
	int busy;                  /* inside a callback for this app */
	int dead;                  /* teardown pending */
	char dead_why[96];
};

/* TCP_* requests: fill up to cap bytes of reply payload at out and set
 * *out_len, return 0; or return a positive errno (reply without payload).
 * req was checked by dn_msg_check (exact size) and the app is attached. */
typedef int (*dn_app_handler)(void *ctx, struct dn_app *a, const void *req,
			      uint32_t req_len, void *out, size_t cap,
			      uint32_t *out_len);

struct dn_app_handler_entry {
	uint16_t type;
	dn_app_handler fn;
};

struct dn_app_conf {
	int listen_fd;             /* listening SOCK_SEQPACKET socket (e.g. from
				    * dn_listen_seqpacket or systemd); the
				    * manager does not close it */
	/* Policy.  An app may attach when its uid is in allowed_uids, or its
	 * primary or a supplementary gid is in allowed_gids.  Both lists empty:
	 * the socket file's permissions are the only gate. */
	const uint32_t *allowed_uids;
	unsigned n_uids;
	const uint32_t *allowed_gids;
	unsigned n_gids;
	uint32_t max_apps;         /* attached + connecting; 0 = 64 */
	/* Region per app. */
	uint32_t slots;            /* socket buffer slots; 0 = DN_REGION_DEF_SLOTS */
	uint32_t rx_size, tx_size; /* per slot, powers of two; 0 = defaults */
	uint64_t max_region;       /* bytes; 0 = no limit beyond the layout's */
	/* Dispatch. */
	const struct dn_app_handler_entry *handlers;
	size_t nhandlers;
	/* A command from an app's ring (dn_cmd_check passed, NOP already
	 * answered by the manager; sock NOT checked).  Return 0, or an errno
	 * to treat it as a violation.  NULL: TX/RX are ignored. */
	int (*on_command)(void *ctx, struct dn_app *a, const struct dn_cmd *c);
	/* The app bumped cmd_lost (its command ring was full, so some TX/RX
	 * hints never arrived): look at every socket of the app.  NULL: the
	 * TCP layer relies on its own polling. */
	void (*on_rescan)(void *ctx, struct dn_app *a);
	/* The app goes away (any reason).  Close its connections as the
	 * kernel would at process exit; its region is still mapped. */
	void (*on_detach)(void *ctx, struct dn_app *a);
	void *ctx;
	struct dn_log *log;
};

/* Register the listening fd with ev.  Returns NULL with errno. */
struct dn_apps *dn_apps_open(const struct dn_app_conf *conf, struct dn_evloop *ev);
/* Detach every app (hooks run), then free the manager. */
void dn_apps_close(struct dn_apps *m);

unsigned dn_apps_count(const struct dn_apps *m);       /* connections */
unsigned dn_apps_attached(const struct dn_apps *m);
/* i-th connection, 0 <= i < dn_apps_count(), or NULL. */
struct dn_app *dn_apps_get(struct dn_apps *m, unsigned i);

/* Drain every attached app's command ring (busy-poll mode, or after a
 * wakeup).  Returns the number of commands handled. */
unsigned dn_apps_poll(struct dn_apps *m);

/* Adaptive mode, before blocking in the event loop: announce that the
 * daemon sleeps on every app's command ring (so apps signal dmn_efd).
 * Returns 1 if a ring already holds commands (do not sleep: poll
 * instead); call dn_apps_cancel_sleep() after waking either way. */
int dn_apps_prepare_sleep(struct dn_apps *m);
void dn_apps_cancel_sleep(struct dn_apps *m);

/* Queue an event for the app and signal its eventfd if it sleeps.
 * Returns 1 queued, 0 ring full (counted in evt_lost; the app rescans),
 * -1 the app is gone or corrupted its ring (handled as a violation).
 * After -1 outside a manager callback (handler or hook) the app has been
 * freed already (on_detach ran): do not touch it again. */
int dn_app_event(struct dn_app *a, const struct dn_evt *e);
/* Signal the app's eventfd unconditionally (the caller already consumed
 * the ring's waiting flag with dn_ring_*_needs_wakeup). */
void dn_app_signal(struct dn_app *a);
/* After producing into a slot's rx ring or consuming from its tx ring:
 * signal the app if the ring says it sleeps on it. */
void dn_app_wake_consumer(struct dn_app *a, struct dn_ring *r);
void dn_app_wake_producer(struct dn_app *a, struct dn_ring *r);

/* Log "app pid P uid U (name): protocol violation: reason" and disconnect.
 * Inside a manager callback the teardown waits until that returns;
 * outside one the app is freed (on_detach ran) before this returns. */
void dn_app_violation(struct dn_app *a, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* ctl: CTL_APPS reply payload (struct dn_ctl_list + entries) into out;
 * entries beyond cap are left out (count says how many were written). */
int dn_apps_ctl_list(struct dn_apps *m, void *out, size_t cap, uint32_t *out_len);
/* ctl: CTL_KILL_APP.  Disconnects every app of that pid; 0 or ESRCH. */
int dn_apps_kill_pid(struct dn_apps *m, uint32_t pid);

#endif
