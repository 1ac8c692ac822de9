/*
 * fake_daemon.h: a fake dillnetd for the client library's unit tests
 * (test_tcp_client.c, test_mtcp.c), no daemon, root or NIC needed.
 *
 * The fake runs in a thread of the test process: a real SOCK_SEQPACKET
 * listener at a path, a memfd region built with dn_region_layout /
 * dn_region_init, two eventfds per app, and the same framing checks the
 * daemon makes.  It plays the protocol as the library's comments describe
 * it (attach.c, tcp.c): replies before events, EVT_CONNECTED / ACCEPTABLE
 * / READABLE / WRITABLE / RESET / CLOSED, EOF and RESET ring flags, and
 * wakeups only when the app said it sleeps.  TCP itself is a loopback:
 * bytes move from one socket's tx ring to its peer's rx ring.
 *
 * Magic ports: connecting to port 1 is refused (EVT_CONNECTED with
 * ECONNREFUSED), port 2 never completes, port 3 fails with ENETUNREACH
 * reported before the reply, port 4 times out (EVT_CONNECTED with
 * ETIMEDOUT), port 5 connects and is reset in the same event batch.
 *
 * f_start also sets DILLNET_SOCKET to the fake's path.
 */
#ifndef FAKE_DAEMON_H
#define FAKE_DAEMON_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "dn_msg.h"
#include "dn_region.h"

#define F_APPS 4
#define F_SOCKS 64
#define F_SLOTS 8
#define F_BUF 4096
#define F_PORT_MIN 1024   /* TCP_BIND, TCP_LISTEN: EACCES below (apps.listen_port_min) */

struct fapp {
	int used;
	int fd;
	int hello;
	int attached;
	void *base;
	struct dn_region_layout l;
	struct dn_region reg;
	int app_efd, dmn_efd;
	int slot_used[F_SLOTS];
};

struct fsock {
	int used;
	uint32_t id;
	int app;
	int listener;
	uint16_t port;
	int slot;
	struct dn_ring rx, tx;      /* daemon views: rx producer, tx consumer */
	int peer;                   /* socket index, -1 none */
	int shut, closing, eof_sent;
	int q[8], nq;               /* listener: accept queue */
};

struct fake {
	char path[108];
	int lfd;
	int kick;                   /* eventfd: look at the knobs */
	pthread_t t;
	int running;
	/* knobs, set before start or through the atomics */
	int refuse;                 /* answer the first request with this */
	int bad_major;              /* HELLO reply with another major */
	int emfile;                 /* TCP_* creating a socket: EMFILE */
	int lose_acceptable;        /* drop EVT_ACCEPTABLE as if the ring
				     * were full (evt_lost bumped) */
	_Atomic int stale_take;     /* next transfer: a late flag take (see
				     * f_progress) between its two halves */
	_Atomic int stop, hangup;
	/* stats, read by tests */
	_Atomic int attaches, cmd_tx, cmd_rx, closes, aborts, shutdowns;
	_Atomic int nodelay_on;     /* last TCP_SETOPT NODELAY value + 1 */
	_Atomic int binds;          /* TCP_BIND requests (ports below
				     * F_PORT_MIN: EACCES; an address other
				     * than 0 or 127.0.0.1: EADDRNOTAVAIL) */
	struct fapp apps[F_APPS];
	struct fsock socks[F_SOCKS];
	uint32_t next_id;
	uint16_t next_port;
	_Alignas(16) uint8_t buf[DN_MSG_MAX];   /* frames are checked in place */
};

int f_start(struct fake *f, const char *path);
/* Hang up on every app (the daemon "dies"), keep listening. */
void f_hangup(struct fake *f);
void f_stop(struct fake *f);

#endif
