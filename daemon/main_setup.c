/*
 * dillnetd start-up and shutdown.  Kept apart
 * from main.c (arguments, signals, the poll loop) to keep each file about
 * one thing.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <grp.h>
#include <sys/epoll.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <systemd/sd-daemon.h>

#include "daemon.h"

/* ---- ctl ---------------------------------------------------------------- */

static uint64_t now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* The port's part of struct dn_ctlh (the handlers themselves are in
 * ctl_handlers.c, away from DPDK, so tests and a fuzzer reach them). */
static void ctl_port_info(void *port, struct dn_ctl_port *out)
{
	dn_port_info(port, out);
}

static void ctl_port_counters(const void *port, dn_ctl_counter_fn cb, void *arg)
{
	dn_port_counters_foreach(port, cb, arg);
}

/* ---- frames and timers --------------------------------------------------- */

void dn_daemon_rx_frame(struct dn_daemon *d, void *h, const uint8_t *data, uint16_t len)
{
	/* Always through the injector: with an all-zero configuration it
	 * hands the frame straight to rx_deliver. */
	dn_fault_rx(&d->fault, h, (uint8_t *)data, len);
}

void dn_daemon_rx_burst(struct dn_daemon *d, void **h, const uint8_t **data,
			const uint16_t *len, unsigned n)
{
	if (!n)
		return;
	dn_stack_rx_begin(&d->st);
	for (unsigned i = 0; i < n; i++)
		dn_daemon_rx_frame(d, h[i], data[i], len[i]);
	dn_stack_rx_end(&d->st);
}

static void rx_deliver(void *ctx, void *frame, uint8_t *data, uint16_t len)
{
	struct dn_daemon *d = ctx;
	dn_stack_input(&d->st, data, len);
	dn_port_io()->release(d->port, frame);
}

uint64_t dn_daemon_timers(struct dn_daemon *d)
{
	uint64_t next = dn_stack_poll(&d->st);
	uint64_t f = dn_fault_poll(&d->fault);
	return f < next ? f : next;
}

/* ---- start and stop ---------------------------------------------------- */

static void on_rx_intr(struct dn_evloop *ev, int fd, uint32_t events, void *arg)
{
	/* Only wakes the loop (and is counted); the next Rx burst reads the
	 * frames. */
	struct dn_daemon *d = arg;
	(void)ev;
	(void)fd;
	(void)events;
	dn_port_intr_woke(d->port);
}

static int mkdir_parent(const char *path)
{
	char buf[256];
	snprintf(buf, sizeof(buf), "%s", path);
	char *dir = dirname(buf);
	if (mkdir(dir, 0755) < 0 && errno != EEXIST)
		return -1;
	return 0;
}

/* Sockets handed over by systemd (dillnetd-ctl.socket, dillnetd-app.socket),
 * found by their FileDescriptorName. */
static int systemd_fd(const char *name)
{
	char **names = NULL;
	int n = sd_listen_fds_with_names(0, &names), fd = -1;
	for (int i = 0; i < n; i++) {
		if (fd < 0 && names && names[i] && strcmp(names[i], name) == 0)
			fd = SD_LISTEN_FDS_START + i;
	}
	if (names) {
		for (int i = 0; i < n; i++)
			free(names[i]);
		free(names);
	}
	return fd;
}

/* The injector follows the file's fault group (dn_config_fault gives an
 * all-zero configuration, which passes every frame through, when the group
 * is disabled). */
void dn_daemon_apply_fault(struct dn_daemon *d, const struct dn_config *c)
{
	struct dn_fault_conf fc;
	dn_config_fault(c, &fc);
	d->fault_on = c->fault.enabled;
	dn_fault_set_conf(&d->fault, &fc);
}

/* The tcp group of the file onto the stack's TCP settings. */
static void tcp_configure(struct dn_daemon *d)
{
	const struct dn_config *c = &d->cfg;
	struct dn_tcp_conf *t = &d->st.tcp.conf;
	uint8_t key[16];

	dn_config_tcp_conf(c, t);
	/* A connection the app closed must not hold the app's socket and
	 * rings through TIME-WAIT: short connections would run out of them. */
	t->tw_release = 1;
	/* RFC 6528 ISNs, RFC 6056 ports and SYN cookies need a secret the
	 * stack core cannot make itself (it makes no OS calls). */
	if (getrandom(key, sizeof(key), 0) == (ssize_t)sizeof(key))
		dn_tcp_set_secret(&d->st, key);
	else
		dn_warn(&d->log, "getrandom failed (%s): TCP secret derived from the clock", strerror(errno));
}

/* The app socket (from systemd, or created with the configured group and
 * mode), the app manager and the TCP bridge. */
static int apps_start(struct dn_daemon *d, char *err, size_t errlen)
{
	const struct dn_config *c = &d->cfg;
	gid_t gid;

	d->app_fd = systemd_fd("app");
	d->app_fd_ours = d->app_fd < 0;
	if (d->app_fd < 0) {
		if (mkdir_parent(c->sockets.app_path) < 0) {
			snprintf(err, errlen, "%s: cannot create its directory: %s",
				 c->sockets.app_path, strerror(errno));
			return -1;
		}
		if (dn_config_group_gid(&c->sockets.app_group, &gid, err, errlen) < 0)
			return -1;
		d->app_fd = dn_listen_seqpacket(c->sockets.app_path, c->sockets.app_mode, 128,
						err, errlen);
		if (d->app_fd < 0)
			return -1;
		if (chown(c->sockets.app_path, (uid_t)-1, gid) < 0) {
			snprintf(err, errlen, "%s: chown to group %u: %s", c->sockets.app_path,
				 (unsigned)gid, strerror(errno));
			goto fail_sock;
		}
	}
	/* Policy lists: uids as written, groups resolved now. */
	d->n_gids = 0;
	for (unsigned i = 0; i < c->apps.allowed_groups.n && i < DN_CONF_LIST_MAX; i++) {
		char e[256];
		if (dn_config_group_gid(&c->apps.allowed_groups.v[i], &gid, e, sizeof(e)) < 0) {
			dn_warn(&d->log, "apps.allowed_groups: %s (ignored)", e);
			continue;
		}
		d->gids[d->n_gids++] = gid;
	}
	struct dn_tcpsock_conf tc = {
		.max_sockets = c->apps.max_sockets,
		.region_commit_max = (uint64_t)c->apps.region_mb << 20,
		.listen_port_min = (uint16_t)c->apps.listen_port_min,
		.listen_port_max = (uint16_t)c->apps.listen_port_max,
		.max_listeners = c->apps.max_listeners,
		.uid_max_sockets = c->apps.per_uid.max_sockets,
		.uid_max_listeners = c->apps.per_uid.max_listeners,
	};
	dn_tcpsock_init(&d->tsock, &d->st, &d->log, &tc);
	/* A slot per socket: the region is sparse (dn_region.h), so its size
	 * is address space and region_mb bounds what it commits.  Only the
	 * layout's own ceiling (DN_REGION_MAX_SIZE, less room for the record
	 * rings) can cut the slot count. */
	uint32_t slots = c->apps.max_sockets;
	uint64_t per_slot = (uint64_t)c->apps.rx_buffer + c->apps.tx_buffer + DN_SLOT_HDR_SIZE;
	uint64_t fit = (DN_REGION_MAX_SIZE - (16u << 20)) / per_slot;
	if (slots > fit) {
		slots = fit ? (uint32_t)fit : 1;
		dn_notice(&d->log, "apps: %u buffer slots per app fit in a region of rx_buffer + tx_buffer"
			  " = %u bytes each (max_sockets is %u)", slots,
			  c->apps.rx_buffer + c->apps.tx_buffer, c->apps.max_sockets);
	}
	struct dn_app_conf ac = {
		.listen_fd = d->app_fd,
		.allowed_uids = c->apps.allowed_uids.v,
		.n_uids = c->apps.allowed_uids.n,
		.allowed_gids = d->gids,
		.n_gids = d->n_gids,
		.max_apps = c->apps.max_apps,
		.max_pending = c->apps.max_pending,
		.hello_timeout_ms = c->apps.hello_timeout_ms,
		.uid_max_apps = c->apps.per_uid.max_apps,
		.uid_max_pending = c->apps.per_uid.max_pending,
		.uid_max_region = (uint64_t)c->apps.per_uid.region_mb << 20,
		.slots = slots,
		.rx_size = c->apps.rx_buffer,
		.tx_size = c->apps.tx_buffer,
		.max_region = 0,
		.region_commit_max = (uint64_t)c->apps.region_mb << 20,
		.handlers = dn_tcpsock_handlers,
		.nhandlers = dn_tcpsock_nhandlers,
		.on_command = dn_tcpsock_on_command,
		.on_detach = dn_tcpsock_on_detach,
		.on_rescan = dn_tcpsock_on_rescan,
		.ctx = &d->tsock,
		.log = &d->log,
	};
	d->apps = dn_apps_open(&ac, d->ev);
	if (!d->apps) {
		snprintf(err, errlen, "app manager: %s", strerror(errno));
		goto fail_sock;
	}
	return 0;

fail_sock:
	close(d->app_fd);
	if (d->app_fd_ours)
		unlink(c->sockets.app_path);
	d->app_fd = -1;
	return -1;
}

static void apps_stop(struct dn_daemon *d)
{
	if (!d->apps)
		return;
	d->ctlh.apps = NULL;
	dn_apps_close(d->apps);
	d->apps = NULL;
	close(d->app_fd);
	if (d->app_fd_ours)
		unlink(d->cfg.sockets.app_path);
	d->app_fd = -1;
}

int dn_daemon_start(struct dn_daemon *d, char *err, size_t errlen)
{
	char **eargv = NULL;
	int eargc = 0;
	struct dn_config *c = &d->cfg;

	if (dn_config_eal_argv(c, &eargv, &eargc) < 0) {
		snprintf(err, errlen, "out of memory building EAL arguments");
		return -1;
	}
	int r = dn_port_eal_init(eargc, eargv, err, errlen);
	/* EAL keeps pointers into argv for its lifetime; it is freed at stop. */
	d->eal_argv = eargv;
	d->eal_argc = eargc;
	if (r < 0)
		return -1;

	struct dn_port_conf pc = {
		.device = c->port.device,
		.mac = c->port.mac.set ? c->port.mac.addr : NULL,
		.mtu = c->port.mtu,
		.rx_desc = c->port.rx_desc,
		.tx_desc = c->port.tx_desc,
		.mbufs = c->port.mbufs,
		.want_rx_intr = c->poll.mode == DN_POLL_ADAPTIVE,
	};
	d->port = dn_port_open(&pc, &d->log, err, errlen);
	if (!d->port)
		goto fail_eal;

	struct dn_stack_conf sc = {
		.ip4 = ntohl(c->ip.address.addr),
		.prefix_len = (uint8_t)c->ip.address.prefix_len,
		.gateway = ntohl(c->ip.gateway),
		.mtu = dn_port_mtu(d->port),
	};
	dn_port_mac(d->port, sc.mac);
	struct dn_fault_conf fc0;
	struct dn_fault_hooks fh = {
		.lower = dn_port_io(),
		.lower_ctx = d->port,
		.frame_data = dn_port_frame_data,
		.rx_deliver = rx_deliver,
		.rx_ctx = d,
		.now_us = &d->st.now_us,
	};
	memset(&fc0, 0, sizeof(fc0));
	d->st.now_us = now_us();
	dn_fault_init(&d->fault, &fc0, &fh);
	dn_daemon_apply_fault(d, c);
	/* The stack always transmits through the injector's io; when the
	 * injector is off it passes frames straight to the port. */
	r = dn_stack_init(&d->st, &sc, &dn_fault_io, &d->fault, d->st.now_us);
	if (r) {
		snprintf(err, errlen, "stack: %s", strerror(r));
		goto fail_port;
	}
	tcp_configure(d);
	d->busy_poll = c->poll.mode == DN_POLL_BUSY;
	d->idle_us = c->poll.idle_us;
	d->max_sleep_us = (uint64_t)c->poll.max_sleep_ms * 1000u;

	d->ctlh = (struct dn_ctlh){
		.port = d->port,
		.port_info = ctl_port_info,
		.port_counters = ctl_port_counters,
		.st = &d->st,
		.fault = &d->fault,
		.tsock = &d->tsock,
		.apps = NULL,          /* set once apps_start has made them */
		.log = &d->log,
		.version = DN_VERSION,
		.now_us = now_us,
		.start_us = d->start_us,
		.pid = (uint32_t)getpid(),
		.busy_poll = d->busy_poll,
		.fault_on = &d->fault_on,
	};
	struct dn_ctl_conf cc = {
		.path = c->sockets.ctl_path,
		.mode = c->sockets.ctl_mode,
		.listen_fd = systemd_fd("ctl"),
		.max_clients = 16,
		.handlers = dn_ctlh_table,
		.nhandlers = dn_ctlh_ntable,
		.ctx = &d->ctlh,
		.log = &d->log,
	};
	if (cc.listen_fd < 0 && mkdir_parent(cc.path) < 0) {
		snprintf(err, errlen, "%s: cannot create its directory: %s", cc.path, strerror(errno));
		goto fail_stack;
	}
	d->ctl = dn_ctl_open(&cc, d->ev, err, errlen);
	if (!d->ctl)
		goto fail_stack;
	if (apps_start(d, err, errlen) < 0)
		goto fail_ctl;
	d->ctlh.apps = d->apps;
	int ifd = dn_port_intr_fd(d->port);
	if (ifd >= 0 && dn_evloop_add(d->ev, ifd, EPOLLIN, on_rx_intr, d) < 0) {
		snprintf(err, errlen, "Rx interrupt fd: %s", strerror(errno));
		goto fail_ctl;
	}
	dn_stack_announce(&d->st);
	dn_port_flush(d->port);

	uint8_t *m = sc.mac;
	snprintf(d->status_line, sizeof(d->status_line),
		 "%s %02x:%02x:%02x:%02x:%02x:%02x %u.%u.%u.%u/%u, %s poll",
		 c->port.device[0] ? c->port.device : "port 0",
		 m[0], m[1], m[2], m[3], m[4], m[5],
		 sc.ip4 >> 24, (sc.ip4 >> 16) & 255, (sc.ip4 >> 8) & 255, sc.ip4 & 255,
		 sc.prefix_len, d->busy_poll ? "busy" : "adaptive");
	return 0;

fail_ctl:
	apps_stop(d);
	dn_ctl_close(d->ctl);
	d->ctl = NULL;
fail_stack:
	dn_stack_fini(&d->st);
fail_port:
	dn_fault_fini(&d->fault);
	dn_port_close(d->port);
	d->port = NULL;
fail_eal:
	dn_port_eal_cleanup();
	dn_config_eal_argv_free(d->eal_argv, eargc);
	d->eal_argv = NULL;
	return -1;
}

void dn_daemon_stop(struct dn_daemon *d)
{
	apps_stop(d);
	dn_ctl_close(d->ctl);
	d->ctl = NULL;
	int ifd = d->port ? dn_port_intr_fd(d->port) : -1;
	if (ifd >= 0)
		dn_evloop_del(d->ev, ifd);
	dn_stack_fini(&d->st);
	dn_fault_fini(&d->fault);
	dn_port_close(d->port);
	d->port = NULL;
	dn_port_eal_cleanup();
	dn_config_eal_argv_free(d->eal_argv, d->eal_argc);
	d->eal_argv = NULL;
}
