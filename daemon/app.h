/*
 * The app manager: app.sock connections, identity and policy, HELLO,
 * APP_ATTACH (a sealed memfd region + two eventfds sent with SCM_RIGHTS),
 * the app table, the command ring, and cleanup when an app goes away.
 *
 * No DPDK here: this file is linked into unit tests and fuzzers.
 *
 * Lifecycle of one connection:
 *   accept -> SO_PEERCRED (identity; never what a message claims) -> policy
 *   and limits (a refused peer is answered at once, EACCES for policy,
 *   EAGAIN for too many apps, and disconnected; it never takes a place)
 *   -> pending (not an app: capped per uid and in all, oldest closed
 *   first, and closed when not attached within hello_timeout_ms) -> HELLO
 *   -> APP_ATTACH (limits checked again: apps, uid region memory) ->
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

/* What one uid holds, summed over its apps (limits apply to the sums).
 * Shared by the manager (apps, pending, regions) and the TCP layer
 * (sockets, listeners, orphans), which keeps a reference while a departed
 * app's connections finish: those still count against the uid. */
struct dn_uid_use {
	struct dn_apps *mgr;       /* NULL once the manager is gone */
	uint32_t uid;
	uint32_t refs;             /* apps and TCP per-app states using it */
	uint32_t apps;             /* attached, plus departed with live connections */
	uint32_t pending;          /* connections not attached yet */
	uint32_t sockets;          /* departed apps' included */
	uint32_t listeners;
	uint32_t orphans;          /* connections left by departed apps */
	uint64_t region_bytes;     /* attached regions and kept ones */
};
void dn_uid_use_get(struct dn_uid_use *u);
void dn_uid_use_put(struct dn_uid_use *u);
/* The TCP layer unmapped a region it kept (region_kept): the uid is no
 * longer charged for that app and its region. */
void dn_uid_release_kept(struct dn_uid_use *u, uint64_t region_bytes);
/* What one region counts against its uid's apps.per_uid.region_mb: the
 * memory it may commit, not its size.  Regions are sparse (a slot per
 * socket the app may hold, ~8 GiB of address space by default) and commit
 * only touched pages, bounded by apps.region_mb when sockets are made. */
static inline uint64_t dn_region_charge(uint64_t total_size, uint64_t commit_max)
{
	return commit_max && commit_max < total_size ? commit_max : total_size;
}

/* Manager counters (dillnetctl show counters).  X(name, description). */
#define DN_APPS_COUNTERS(X) \
	X(apps_refused_policy, "app connections refused: uid/gid not allowed") \
	X(apps_refused_max_apps, "app connections or attaches refused: apps.max_apps reached") \
	X(apps_refused_uid_apps, "app connections or attaches refused: apps.per_uid.max_apps reached") \
	X(apps_refused_uid_region, "attaches refused: apps.per_uid.region_mb reached") \
	X(apps_pending_timeout, "connections closed: no HELLO and attach within apps.hello_timeout_ms") \
	X(apps_pending_evicted, "unattached connections closed for a newer one (apps.*max_pending)") \
	X(apps_cmd_budget_hit, "passes where an app had more commands than its per-pass budget") \
	X(apps_log_suppressed, "refusal log lines left out by the rate limit")

struct dn_apps_counters {
#define X(n, d) uint64_t n;
	DN_APPS_COUNTERS(X)
#undef X
};

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
	struct dn_uid_use *uidu;   /* its uid's totals (a reference) */
	uint64_t deadline_ms;      /* CLOCK_MONOTONIC: attach by then */
	uint64_t accept_ms;        /* CLOCK_MONOTONIC, for "oldest" */
	int pending;               /* counted in uidu->pending */
	uint32_t limits_logged;    /* DN_LIMIT_* bits already logged */
	uint64_t attach_ms;        /* CLOCK_REALTIME ms when attached */
	int said_hello;
	int attached;
	/* Valid once attached: */
	struct dn_region region;   /* daemon's view; layout is the private copy */
	int app_efd;               /* daemon signals: app wakes */
	int dmn_efd;               /* app signals: daemon wakes (in the evloop,
				    * one-shot: re-armed before the loop sleeps) */
	int efd_fired;
	int nop_woke;              /* nop_wake_tail valid */
	uint64_t nop_wake_tail;    /* event ring tail at the last NOP wakeup */
	/* Kept by the TCP layer: */
	uint32_t sockets;          /* open sockets, for ctl and limits */
	uint32_t listeners;        /* of those, listening */
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
	uint32_t max_apps;         /* attached, plus departed apps whose
				    * connections still finish; 0 = 64 */
	uint32_t max_pending;      /* connections not attached yet; 0 = 64 */
	uint32_t hello_timeout_ms; /* accept to attached; 0 = 2000 */
	uint32_t uid_max_apps;     /* per uid; 0 = 16 */
	uint32_t uid_max_pending;  /* per uid; 0 = 8 */
	uint64_t uid_max_region;   /* bytes per uid; 0 = no limit */
	/* Region per app. */
	uint32_t slots;            /* socket buffer slots; 0 = DN_REGION_DEF_SLOTS */
	uint32_t rx_size, tx_size; /* per slot, powers of two; 0 = defaults */
	uint64_t max_region;       /* bytes; 0 = no limit beyond the layout's */
	uint64_t region_commit_max; /* bytes one region may commit
				     * (apps.region_mb); 0 = its size */
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

/* Drain the attached apps' command rings, at most DN_APPS_CMD_BUDGET
 * commands per app and DN_APPS_PASS_BUDGET in all per call, starting with
 * a different app each call (round robin), so one app flooding its ring
 * delays neither the others nor the port's Rx burst; what is left waits
 * for the next pass (dn_apps_prepare_sleep sees it and keeps the loop
 * awake).  Also closes connections past their attach deadline.  Returns
 * the number of commands handled.  The app's eventfd callback only
 * consumes the wakeup: the loop's next pass calls this. */
#define DN_APPS_CMD_BUDGET  16u
#define DN_APPS_PASS_BUDGET 256u
unsigned dn_apps_poll(struct dn_apps *m);

void dn_apps_counters_foreach(const struct dn_apps *m,
			      void (*cb)(const char *name, uint64_t v, void *arg), void *arg);
/* Log a refusal of a limit, once per app and limit: "app N pid P uid U
 * (name): WHAT refused: LIMIT (N)".  bit: a DN_LIMIT_* value. */
enum { DN_LIMIT_SOCKETS = 1, DN_LIMIT_UID_SOCKETS = 2, DN_LIMIT_LISTENERS = 4,
       DN_LIMIT_UID_LISTENERS = 8, DN_LIMIT_SLOTS = 16 };
void dn_app_limit_log(struct dn_app *a, uint32_t bit, const char *what,
		      const char *limit, uint32_t value);

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
