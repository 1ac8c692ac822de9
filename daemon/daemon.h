/*
 * The daemon's top-level state, shared by main.c and main_setup.c.
 *
 * Errors in the daemon core (daemon/, not the stack): request handlers
 * and hooks (app.sock TCP_*, ctl.sock CTL_*, command records) return 0 or
 * a positive errno, which the reply carries unchanged as its result.
 * Functions that set things up or call the OS (config load, sockets, the
 * app manager, start-up) return -1 or NULL with errno set and, where a
 * person will read it, a message in (err, errlen).
 */
#ifndef DN_DAEMON_H
#define DN_DAEMON_H

#include <stdint.h>

#include "config.h"
#include "app.h"
#include "ctl.h"
#include "ctl_handlers.h"
#include "evloop.h"
#include "fault.h"
#include "log.h"
#include "port.h"
#include "stack.h"
#include "tcpsock.h"

struct dn_daemon {
	struct dn_config cfg;
	const char *config_path;
	struct dn_log log;
	struct dn_evloop *ev;
	int sigfd;
	int stop, reload;            /* set by the signalfd callback */
	uint64_t start_us;
	struct dn_port *port;
	struct dn_stack st;
	struct dn_fault fault;
	int fault_on;
	struct dn_ctl *ctl;
	struct dn_ctlh ctlh;         /* what the ctl handlers see (ctl_handlers.h) */
	struct dn_apps *apps;
	struct dn_tcpsock tsock;
	int app_fd, app_fd_ours;
	uint32_t gids[DN_CONF_LIST_MAX];
	unsigned n_gids;
	int busy_poll;
	uint64_t idle_us, max_sleep_us;
	char status_line[160];
	int eal_argc;
	char **eal_argv;          /* EAL keeps pointers into it */
};

int dn_daemon_start(struct dn_daemon *d, char *err, size_t errlen);
void dn_daemon_stop(struct dn_daemon *d);
/* One received frame: through the fault injector when on, then the stack;
 * the frame is released in every case. */
void dn_daemon_rx_frame(struct dn_daemon *d, void *h, const uint8_t *data, uint16_t len);
/* One port Rx burst: the stack sends the ACKs it owes once, at the end. */
void dn_daemon_rx_burst(struct dn_daemon *d, void **h, const uint8_t **data,
			const uint16_t *len, unsigned n);
/* Run due timers (stack, fault injector); microseconds to the next one. */
uint64_t dn_daemon_timers(struct dn_daemon *d);
void dn_daemon_apply_fault(struct dn_daemon *d, const struct dn_config *c);

#endif
