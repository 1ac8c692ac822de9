/*
 * The bridge between apps and the TCP stack: the TCP_* control requests,
 * the command-ring hints, TCP's upcalls turned into events, buffer slots,
 * per-app socket ids and limits, and kernel-like cleanup when an app goes.
 *
 * Socket ids are (generation << 16) | (index + 1): never 0, and an id the
 * app kept after a close does not name the socket that reuses the index.
 * Commands naming a stale id are ignored (they are hints and can race a
 * close legitimately); corrupt ring indices are a violation.
 *
 * A dead app's connections finish the way the kernel's would at process
 * exit (FIN after queued data, RST when unread data remains), so its region
 * stays mapped (app->region_kept) until TCP has released the last of them.
 * "Queued" means queued when the app went: at that moment each socket's
 * ring indices are read one last time and move to daemon memory, so a
 * process that lives on after a kill (or a detach) cannot keep feeding
 * bytes to its old connections through the region it still maps.  Its
 * sockets, listeners and kept region count against its uid (struct
 * dn_uid_use) until the last connection is gone.
 *
 * No DPDK here: linked into unit tests.
 */
#ifndef DN_TCPSOCK_H
#define DN_TCPSOCK_H

#include <stddef.h>
#include <stdint.h>

#include "app.h"
#include "log.h"
#include "stack.h"

struct dn_tcpsock_conf {
	uint32_t max_sockets;       /* per app, listeners included */
	uint64_t region_commit_max; /* bytes an app's region may commit before
				     * new sockets get ENOMEM; 0 = no bound */
	uint32_t max_listeners;     /* per app; 0 = max_sockets */
	uint32_t uid_max_sockets;   /* per uid, departed apps' included; 0 = none */
	uint32_t uid_max_listeners; /* per uid; 0 = none */
	uint16_t listen_port_min;   /* ports apps may listen on (0 always ok) */
	uint16_t listen_port_max;
};

#define DN_TCPSOCK_COUNTERS(X) \
	X(tcpsock_listen, "listeners opened by apps") \
	X(tcpsock_connect, "active opens started by apps") \
	X(tcpsock_accept, "connections handed to apps") \
	X(tcpsock_refused_no_slot, "passive connections refused: app has no free buffer slot or its region is at apps.region_mb") \
	X(tcpsock_refused_limit, "passive connections refused: app at its socket limit") \
	X(tcpsock_stale_cmd, "commands naming a closed or unknown socket (ignored)") \
	X(tcpsock_events_lost, "events the app's event ring had no room for") \
	X(tcpsock_orphans, "connections left to finish after their app went away") \
	X(tcpsock_refused_uid_limit, "sockets refused: the uid at apps.per_uid.max_sockets or max_listeners") \
	X(tcpsock_refused_listeners, "listens refused: the app at apps.max_listeners") \
	X(tcpsock_frozen, "sockets whose send end was fixed when their app went away") \
	X(tcpsock_violations, "apps disconnected for corrupting their rings") \
	X(tcpsock_port_refused, "binds and listens refused: port outside apps.listen_port_min..max")

struct dn_tcpsock_counters {
#define X(n, d) uint64_t n;
	DN_TCPSOCK_COUNTERS(X)
#undef X
};

struct dn_tcpsock {
	struct dn_stack *st;
	struct dn_log *log;
	struct dn_tcpsock_conf conf;
	struct dn_tcpsock_counters cnt;
	struct dn_tcp_upcalls up;
};

/* Install the upcalls on st's TCP. */
void dn_tcpsock_init(struct dn_tcpsock *ts, struct dn_stack *st, struct dn_log *lg,
		     const struct dn_tcpsock_conf *conf);

/* For struct dn_app_conf: the handler table (TCP_LISTEN ... TCP_CLOSE),
 * on_command and on_detach, all with ctx = the struct dn_tcpsock. */
extern const struct dn_app_handler_entry dn_tcpsock_handlers[];
extern const size_t dn_tcpsock_nhandlers;
int dn_tcpsock_on_command(void *ctx, struct dn_app *a, const struct dn_cmd *c);
void dn_tcpsock_on_detach(void *ctx, struct dn_app *a);
void dn_tcpsock_on_rescan(void *ctx, struct dn_app *a);

/* Which app owns a connection, for dillnetctl show connections: fills pid
 * and app id (0 when orphaned or not an app's); returns 0 or -1. */
int dn_tcpsock_owner_of(const void *owner, uint32_t *pid, uint32_t *app_id);

/* Reset connections matching a 4-tuple (0 = any); returns how many.
 * (Implemented with the TCP internals in daemon/stack/tcp_kill.c.) */
unsigned dn_tcp_kill(struct dn_stack *st, uint32_t lip, uint16_t lport,
		     uint32_t rip, uint16_t rport);

void dn_tcpsock_counters_foreach(const struct dn_tcpsock *ts,
				 void (*cb)(const char *name, uint64_t v, void *arg), void *arg);

#endif
