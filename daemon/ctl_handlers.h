/*
 * What each ctl request means (dillnetctl status, show ..., set log-level,
 * kill ...): the handler table given to the ctl server (ctl.h).
 *
 * No DPDK and no file-scope state: everything a handler reads or changes is
 * reached through struct dn_ctlh, which the daemon fills once at start-up
 * and a unit test or fuzzer fills with its own parts.  The port lives in
 * DPDK code, so it is reached through two callbacks; the stack, fault
 * injector, TCP bridge and app manager are DPDK-free and used directly.
 *
 * dn_ctl_serve_frame has checked every request (frame length, exact size,
 * NUL-terminated strings) before a handler runs; the handlers check again
 * what they rely on (size, terminator) so they stay safe called alone, and
 * then check meaning (unknown log level: EINVAL; no such app or
 * connection: ESRCH).  Errors are positive errno values (ctl.h).
 */
#ifndef DN_CTL_HANDLERS_H
#define DN_CTL_HANDLERS_H

#include <stddef.h>
#include <stdint.h>

#include "app.h"
#include "ctl.h"
#include "fault.h"
#include "log.h"
#include "stack.h"
#include "tcpsock.h"

typedef void (*dn_ctl_counter_fn)(const char *name, uint64_t value, void *arg);

struct dn_ctlh {
	/* The port (DPDK): its description and its drop counters. */
	void *port;
	void (*port_info)(void *port, struct dn_ctl_port *out);
	void (*port_counters)(const void *port, dn_ctl_counter_fn cb, void *arg);

	struct dn_stack *st;          /* addresses, ARP, TCP, stack counters */
	const struct dn_fault *fault; /* NULL: no fault_* counters */
	struct dn_tcpsock *tsock;     /* NULL: no tcpsock_* counters */
	struct dn_apps *apps;         /* NULL until the app manager is up */
	struct dn_log *log;           /* CTL_LOGLEVEL sets its level */

	/* For CTL_STATUS. */
	const char *version;
	uint64_t (*now_us)(void);     /* CLOCK_MONOTONIC, as start_us */
	uint64_t start_us;
	uint32_t pid;
	int busy_poll;                /* poll mode: fixed until a restart */
	const int *fault_on;          /* live: a reload may switch it */
};

/* The table for struct dn_ctl_conf (ctx = a struct dn_ctlh). */
extern const struct dn_ctl_handler_entry dn_ctlh_table[];
extern const size_t dn_ctlh_ntable;

#endif
