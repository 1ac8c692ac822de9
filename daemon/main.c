/*
 * dillnetd: owns one DPDK port and runs the stack on it.
 *
 * One thread runs everything: Rx burst -> (fault injector) -> stack, stack
 * timers, Tx flush, and the control plane (ctl socket, app sockets, signals
 * through a signalfd) on an epoll set.  In adaptive mode the loop sleeps in
 * epoll_wait when no frame and no work came for a while, woken by the port's
 * Rx interrupt fd, a control fd, or the next stack timer; in busy mode it
 * never sleeps.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <systemd/sd-daemon.h>

#include "config.h"
#include "ctl.h"
#include "daemon.h"
#include "evloop.h"
#include "fault.h"
#include "log.h"
#include "port.h"
#include "stack.h"

static uint64_t mono_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: dillnetd [-c FILE] [-t [-v]] [-h] [-V]\n"
		"  -c FILE  configuration file (default %s)\n"
		"  -t       check the configuration file and exit\n"
		"  -v       with -t: print the effective configuration, defaults included\n"
		"  -h       this help\n"
		"  -V       print the version and exit\n",
		DN_CONFIG_DEFAULT_PATH);
}

/* ---- signals: a signalfd on the event loop, so no handler runs at all -- */

static void on_signal(struct dn_evloop *ev, int fd, uint32_t events, void *arg)
{
	struct dn_daemon *d = arg;
	struct signalfd_siginfo si;
	(void)ev;
	(void)events;
	while (read(fd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
		switch (si.ssi_signo) {
		case SIGTERM:
		case SIGINT:
			d->stop = 1;
			break;
		case SIGHUP:
			d->reload = 1;
			break;
		default:
			break;
		}
	}
}

static int setup_signals(struct dn_daemon *d)
{
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	if (sigprocmask(SIG_BLOCK, &set, NULL) < 0)
		return -1;
	signal(SIGPIPE, SIG_IGN);
	d->sigfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
	if (d->sigfd < 0)
		return -1;
	return dn_evloop_add(d->ev, d->sigfd, EPOLLIN, on_signal, d);
}

/* ---- reload ---------------------------------------------------------- */

/* Which group of settings that only a restart applies differs, or NULL.
 * The config struct holds no pointers, so comparing bytes is exact. */
static const char *restart_diff(const struct dn_config *a, const struct dn_config *b)
{
#define DIFF(field) if (memcmp(&a->field, &b->field, sizeof(a->field)) != 0) return #field
	DIFF(eal);
	DIFF(port);
	DIFF(ip);
	DIFF(sockets);
	DIFF(poll);
	DIFF(apps);
	DIFF(tcp);
#undef DIFF
	return NULL;
}

static void reload(struct dn_daemon *d)
{
	char err[512];
	struct dn_config nc;

	sd_notify(0, "RELOADING=1");
	if (dn_config_load_file(&nc, d->config_path, err, sizeof(err)) < 0) {
		dn_err(&d->log, "reload refused, keeping the running configuration: %s", err);
		sd_notify(0, "READY=1");
		return;
	}
	/* Log level and the fault injector change at once; everything that
	 * shapes the port, addresses or sockets needs a restart. */
	d->log.level = nc.log.level;
	dn_daemon_apply_fault(d, &nc);
	const char *needs_restart = restart_diff(&d->cfg, &nc);
	if (needs_restart)
		dn_warn(&d->log, "reload: settings in '%s' changed; they take effect only after a restart",
			needs_restart);
	d->cfg.log = nc.log;
	d->cfg.fault = nc.fault;
	dn_notice(&d->log, "configuration reloaded (log level %s, fault injector %s)",
		  dn_log_level_name(d->log.level), d->fault_on ? "on" : "off");
	sd_notify(0, "READY=1");
}

/* ---- the poll loop --------------------------------------------------- */

static void poll_loop(struct dn_daemon *d)
{
	void *h[64];
	const uint8_t *data[64];
	uint16_t len[64];
	uint64_t last_work = mono_us(), last_link = 0, last_wd = 0, wd_usec = 0;
	int wd = sd_watchdog_enabled(0, &wd_usec) > 0;

	while (!d->stop) {
		uint64_t now = mono_us();
		d->st.now_us = now;
		unsigned n = dn_port_rx(d->port, h, data, len, 64);
		dn_daemon_rx_burst(d, h, data, len, n);
		unsigned cmds = d->apps ? dn_apps_poll(d->apps) : 0;
		uint64_t next_timer = dn_daemon_timers(d);
		dn_port_flush(d->port);
		if (n || cmds)
			last_work = now;

		if (now - last_link > 500000) {
			last_link = now;
			if (dn_port_link_update(d->port))
				dn_notice(&d->log, "link %s", dn_port_link_up(d->port) ? "up" : "down");
		}
		if (wd && now - last_wd >= wd_usec / 2) {
			sd_notify(0, "WATCHDOG=1");
			last_wd = now;
		}

		int timeout = 0;
		int sleeping = 0;
		if (!d->busy_poll && now - last_work >= d->idle_us && next_timer > 0) {
			/* Going to sleep: arm the Rx interrupt, then check once
			 * more so a frame that raced the arming is not stranded
			 * until the next timer. */
			uint64_t t = next_timer;
			if (d->max_sleep_us && t > d->max_sleep_us)
				t = d->max_sleep_us;
			if (wd && t > wd_usec / 4)
				t = wd_usec / 4;
			if (t > 1000000)
				t = 1000000;   /* link state is polled every 0.5 s */
			/* Apps signal our eventfd only once we said we sleep;
			 * a command that raced that announcement is served
			 * now instead. */
			if (d->apps && dn_apps_prepare_sleep(d->apps)) {
				dn_apps_cancel_sleep(d->apps);
				last_work = now;
				continue;
			}
			if (dn_port_intr_arm(d->port) == 0) {
				sleeping = 1;
				timeout = (int)((t + 999) / 1000);
			} else {
				/* No Rx interrupts: sleep in 1 ms steps. */
				timeout = 1;
			}
			if (sleeping) {
				unsigned m = dn_port_rx(d->port, h, data, len, 64);
				if (m) {
					dn_port_intr_disarm(d->port);
					if (d->apps)
						dn_apps_cancel_sleep(d->apps);
					dn_daemon_rx_burst(d, h, data, len, m);
					last_work = now;
					continue;
				}
			}
		}
		if (dn_evloop_run_once(d->ev, timeout) > 0)
			last_work = mono_us();
		if (sleeping)
			dn_port_intr_disarm(d->port);
		if (timeout && d->apps)
			dn_apps_cancel_sleep(d->apps);
		if (d->reload) {
			d->reload = 0;
			reload(d);
		}
	}
}

int main(int argc, char **argv)
{
	struct dn_daemon *d = calloc(1, sizeof(*d));
	const char *cfgpath = DN_CONFIG_DEFAULT_PATH;
	int test_only = 0, verbose = 0, opt, rc = 1;
	char err[1024];

	if (!d)
		return 1;
	while ((opt = getopt(argc, argv, "c:tvhV")) != -1) {
		switch (opt) {
		case 'c': cfgpath = optarg; break;
		case 't': test_only = 1; break;
		case 'v': verbose = 1; break;
		case 'h': usage(stdout); free(d); return 0;
		case 'V': printf("dillnetd %s\n", DN_VERSION); free(d); return 0;
		default: usage(stderr); free(d); return 2;
		}
	}
	if (optind != argc) {
		usage(stderr);
		free(d);
		return 2;
	}
	d->config_path = cfgpath;
	if (dn_config_load_file(&d->cfg, cfgpath, err, sizeof(err)) < 0) {
		fprintf(stderr, "dillnetd: %s\n", err);
		free(d);
		return 1;
	}
	if (test_only) {
		if (verbose)
			dn_config_print(&d->cfg, stdout);
		printf("dillnetd: configuration file %s is valid\n", cfgpath);
		free(d);
		return 0;
	}
	dn_log_init(&d->log, d->cfg.log.level);
	d->start_us = mono_us();
	d->sigfd = -1;
	if (!(d->ev = dn_evloop_new())) {
		dn_err(&d->log, "event loop: %s", strerror(errno));
		goto out_cfg;
	}
	if (setup_signals(d) < 0) {
		dn_err(&d->log, "signals: %s", strerror(errno));
		goto out_ev;
	}
	sd_notify(0, "STATUS=Starting DPDK");
	if (dn_daemon_start(d, err, sizeof(err)) < 0) {
		dn_err(&d->log, "%s", err);
		sd_notifyf(0, "STATUS=Failed: %s", err);
		goto out_ev;
	}
	sd_notifyf(0, "READY=1\nSTATUS=Serving on %s", d->status_line);
	dn_notice(&d->log, "ready: %s", d->status_line);
	poll_loop(d);
	sd_notify(0, "STOPPING=1\nSTATUS=Shutting down");
	dn_notice(&d->log, "shutting down");
	rc = 0;
	dn_daemon_stop(d);
out_ev:
	if (d->sigfd >= 0)
		close(d->sigfd);
	dn_evloop_free(d->ev);
out_cfg:
	free(d);
	return rc;
}
