/*
 * proto_tenant: a hostile tenant for tests/integ/t_isolation.sh.  It speaks
 * the protocol itself (proto/ only, no library), so it can do what the
 * library never would.
 *
 *   DILLNET_SOCKET=PATH proto_tenant MODE ARGS...
 *
 *   idle N SECS [hello]   keep N connections to the app socket open without
 *                         attaching (with "hello": say HELLO, then nothing);
 *                         reconnect each one the daemon closes, for SECS s.
 *                         Prints "idle opened O closed C refused R" (R:
 *                         connections answered with an error).
 *   attach N SECS         attach N times at once (N connections) and hold
 *                         them SECS s.  Prints "attach ok K errno E" (E:
 *                         the first refusal's errno name, or "none").
 *   stream IP PORT SECS   attach, connect to IP:PORT, write an endless byte
 *                         stream into the socket's tx ring for SECS s; when
 *                         the daemon hangs up (dillnetctl kill app) keep
 *                         writing whatever the ring takes for 2 s more.
 *                         Prints "streaming" once the connection is up, and
 *                         at the end "stream published_at_hangup P
 *                         published_total T hangup 0|1" (bytes published to
 *                         the ring when the hang-up was seen, and in all).
 *   flood SECS            attach and flood the command ring with NOPs for
 *                         SECS s, signalling the daemon's eventfd after
 *                         every batch and keeping the event ring's waiting
 *                         flag up (an eventfd write per event, if the
 *                         daemon did not coalesce).  Prints "flooding",
 *                         and "flood sent S answered A" at the end.
 *   spin SECS             the same loop without commands or signals: the
 *                         same CPU use as the flood, nothing for the daemon
 *                         (the flood's baseline on a shared CPU).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "dn_msg.h"
#include "dn_region.h"

static const char *path;

static double mono(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static const char *ename(int e)
{
	switch (e) {
	case 0: return "none";
	case EACCES: return "EACCES";
	case EAGAIN: return "EAGAIN";
	case ENOMEM: return "ENOMEM";
	case EMFILE: return "EMFILE";
	case ECONNRESET: return "ECONNRESET";
	case EPIPE: return "EPIPE";
	default: return strerror(e);
	}
}

static int conn(int nonblock)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | (nonblock ? SOCK_NONBLOCK : 0), 0);
	if (fd < 0)
		return -1;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

static int send_req(int fd, uint16_t type, uint32_t id, const void *p, uint32_t len)
{
	uint8_t buf[512];
	struct dn_msg_hdr h;
	dn_msg_hdr_init(&h, type, 0, len, id, 0);
	memcpy(buf, &h, sizeof(h));
	memcpy(buf + sizeof(h), p, len);
	return send(fd, buf, sizeof(h) + len, MSG_NOSIGNAL) < 0 ? -1 : 0;
}

/* Request/reply on a blocking fd; returns 0, the reply's errno, or -1. */
static int request(int fd, uint16_t type, const void *p, uint32_t len, void *rep,
		   size_t rcap, int *fds, int nfds)
{
	static uint32_t id = 1;
	uint8_t buf[512];
	struct dn_msg_hdr h;
	if (send_req(fd, type, id++, p, len) < 0)
		return -1;
	char cbuf[CMSG_SPACE(sizeof(int) * 4)];
	struct iovec iov = { buf, sizeof(buf) };
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1,
			    .msg_control = cbuf, .msg_controllen = sizeof(cbuf) };
	ssize_t n = recvmsg(fd, &m, MSG_CMSG_CLOEXEC);
	if (n < (ssize_t)sizeof(h))
		return -1;
	memcpy(&h, buf, sizeof(h));
	if (h.result)
		return (int)h.result;
	if (h.len > rcap)
		return -1;
	memcpy(rep, buf + sizeof(h), h.len);
	struct cmsghdr *c = CMSG_FIRSTHDR(&m);
	if (fds && c && c->cmsg_type == SCM_RIGHTS) {
		int k = (int)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
		memcpy(fds, CMSG_DATA(c), sizeof(int) * (size_t)(k < nfds ? k : nfds));
	}
	return 0;
}

struct att {
	int fd, memfd, app_efd, dmn_efd;
	uint8_t *base;
	struct dn_app_attach_rep rep;
	struct dn_region v;
};

/* HELLO + APP_ATTACH on a new connection: 0 or the errno refused with. */
static int attach(struct att *t)
{
	memset(t, 0, sizeof(*t));
	t->fd = conn(0);
	if (t->fd < 0)
		return errno;
	struct dn_msg_hello hello, hrep;
	dn_msg_hello_init(&hello, "proto_tenant");
	int rc = request(t->fd, DN_MSG_HELLO, &hello, sizeof(hello), &hrep, sizeof(hrep), NULL, 0);
	if (rc)
		return rc < 0 ? ECONNRESET : rc;
	struct dn_app_attach_req aq = { 0 };
	int fds[3] = { -1, -1, -1 };
	rc = request(t->fd, DN_MSG_APP_ATTACH, &aq, sizeof(aq), &t->rep, sizeof(t->rep), fds, 3);
	if (rc)
		return rc < 0 ? ECONNRESET : rc;
	t->memfd = fds[0];
	t->app_efd = fds[1];
	t->dmn_efd = fds[2];
	t->base = mmap(NULL, t->rep.region_size, PROT_READ | PROT_WRITE, MAP_SHARED, t->memfd, 0);
	if (t->base == MAP_FAILED || dn_region_attach(&t->v, t->base, t->rep.region_size) != 0) {
		fprintf(stderr, "proto_tenant: cannot map the region\n");
		exit(1);
	}
	return 0;
}

static void signal_daemon(struct att *t)
{
	uint64_t one = 1;
	if (write(t->dmn_efd, &one, sizeof(one)) < 0) {
		/* saturated: the daemon is awake anyway */
	}
}

/* Has the daemon hung up on this connection? (Replies are discarded.) */
static int hung_up(int fd)
{
	char b[512];
	for (;;) {
		ssize_t n = recv(fd, b, sizeof(b), MSG_DONTWAIT);
		if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR))
			return 1;
		if (n < 0)
			return 0;
	}
}

static int mode_idle(int n, double secs, int hello)
{
	int *fd = calloc((size_t)n, sizeof(int));
	unsigned long opened = 0, closed = 0, refused = 0;
	double end = mono() + secs;
	for (int i = 0; i < n; i++)
		fd[i] = -1;
	while (mono() < end) {
		for (int i = 0; i < n; i++) {
			if (fd[i] >= 0) {
				/* A frame from the daemon before we asked is a
				 * refusal; EOF is the hang-up. */
				char b[512];
				ssize_t r = recv(fd[i], b, sizeof(b), MSG_DONTWAIT);
				struct dn_msg_hdr h;
				if (r >= (ssize_t)sizeof(h)) {
					memcpy(&h, b, sizeof(h));
					if (h.result)
						refused++;
					continue;
				}
				if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
					continue;
				close(fd[i]);
				fd[i] = -1;
				closed++;
			}
			fd[i] = conn(1);
			if (fd[i] < 0)
				continue;   /* backlog full: next round */
			opened++;
			if (hello) {
				struct dn_msg_hello hm;
				dn_msg_hello_init(&hm, "idle");
				(void)send_req(fd[i], DN_MSG_HELLO, 1, &hm, sizeof(hm));
			}
		}
		usleep(20000);
	}
	printf("idle opened %lu closed %lu refused %lu\n", opened, closed, refused);
	return 0;
}

static int mode_attach(int n, double secs)
{
	struct att *t = calloc((size_t)n, sizeof(*t));
	int ok = 0, first_err = 0;
	for (int i = 0; i < n; i++) {
		int e = attach(&t[i]);
		if (e == 0)
			ok++;
		else if (!first_err)
			first_err = e;
	}
	printf("attach ok %d errno %s\n", ok, ename(first_err));
	fflush(stdout);
	usleep((useconds_t)(secs * 1e6));
	return 0;
}

static int mode_stream(const char *ip, int port, double secs)
{
	struct att t;
	int e = attach(&t);
	if (e) {
		fprintf(stderr, "proto_tenant: attach: %s\n", ename(e));
		return 1;
	}
	struct dn_tcp_connect_req cq = { .port = (uint16_t)port };
	struct in_addr ia;
	inet_pton(AF_INET, ip, &ia);
	cq.ip4 = ntohl(ia.s_addr);
	struct dn_tcp_sock_rep sr;
	e = request(t.fd, DN_MSG_TCP_CONNECT, &cq, sizeof(cq), &sr, sizeof(sr), NULL, 0);
	if (e) {
		fprintf(stderr, "proto_tenant: connect: %s\n", ename(e < 0 ? ECONNRESET : e));
		return 1;
	}
	struct dn_ring rx, tx;
	if (dn_region_slot_rings(&t.v, sr.slot, &rx, &tx) != 0) {
		fprintf(stderr, "proto_tenant: bad slot %u\n", sr.slot);
		return 1;
	}
	/* Wait for CONNECTED. */
	double until = mono() + 5;
	int up = 0;
	while (!up && mono() < until) {
		struct dn_evt ev;
		while (dn_region_evt_pop(&t.v, &ev) == 1)
			if (ev.op == DN_EVT_CONNECTED && ev.sock == sr.sock)
				up = ev.result == 0 ? 1 : -1;
		if (!up)
			usleep(1000);
	}
	if (up != 1) {
		fprintf(stderr, "proto_tenant: connection did not come up\n");
		return 1;
	}
	printf("streaming\n");
	fflush(stdout);
	/* Printable bytes, "abc...z" over and over: a write of any length
	 * continues the pattern from pos % 26. */
	static uint8_t pat[26 * 1024];
	for (size_t i = 0; i < sizeof(pat); i++)
		pat[i] = (uint8_t)('a' + i % 26);
	uint64_t pos = 0, at_hangup = 0;
	int gone = 0;
	double end = mono() + secs, stop = end;
	while (mono() < stop) {
		size_t w = dn_ring_write(&tx, pat + pos % 26, sizeof(pat) - 26);
		if (w == DN_RING_CORRUPT && gone)
			break;   /* the daemon gave the slot's pages back (zeroed) */
		if (w == DN_RING_CORRUPT) {
			fprintf(stderr, "proto_tenant: tx ring corrupt\n");
			return 1;
		}
		pos += w;
		struct dn_cmd c = { .op = DN_CMD_TX, .sock = sr.sock };
		(void)dn_region_cmd_push(&t.v, &c);
		signal_daemon(&t);
		struct dn_evt ev;
		while (dn_region_evt_pop(&t.v, &ev) == 1)
			;
		if (!gone && hung_up(t.fd)) {
			gone = 1;
			at_hangup = pos;
			stop = mono() + 2;   /* the process lives on, writing */
		}
		if (w == 0)
			usleep(200);
	}
	printf("stream published_at_hangup %llu published_total %llu hangup %d\n",
	       (unsigned long long)at_hangup, (unsigned long long)pos, gone);
	return 0;
}

static int mode_flood(double secs, int flood)
{
	struct att t;
	int e = attach(&t);
	if (e) {
		fprintf(stderr, "proto_tenant: attach: %s\n", ename(e));
		return 1;
	}
	struct dn_ring_shared *evs = (struct dn_ring_shared *)(t.base + t.v.l.evt_ring_off);
	unsigned long sent = 0, answered = 0;
	uint64_t cookie = 0;
	double end = mono() + secs;
	printf("%s\n", flood ? "flooding" : "spinning");
	fflush(stdout);
	while (mono() < end) {
		struct dn_cmd c = { .op = DN_CMD_NOP };
		for (; flood;) {
			c.cookie = ++cookie;
			if (dn_region_cmd_push(&t.v, &c) != 1)
				break;
			sent++;
		}
		struct dn_evt ev;
		while (dn_region_evt_pop(&t.v, &ev) == 1)
			answered += ev.op == DN_EVT_NOP;
		/* "I sleep": the flag stays up however often it is cleared. */
		if (flood) {
			atomic_store(&evs->cons_waiting, 1);
			signal_daemon(&t);
		}
		uint64_t v;
		if (read(t.app_efd, &v, sizeof(v)) < 0) {
			/* nothing pending */
		}
		if (hung_up(t.fd)) {
			fprintf(stderr, "proto_tenant: the daemon hung up on the flood\n");
			break;
		}
		/* The ring holds 512 commands and the daemon takes 16 a pass:
		 * it stays full with a refill every 20 us, and this process
		 * leaves the CPU to the others, so what the test measures is
		 * the daemon's share of work, not CPU scheduling. */
		usleep(20);
	}
	printf("%s sent %lu answered %lu\n", flood ? "flood" : "spin", sent, answered);
	return 0;
}

int main(int argc, char **argv)
{
	path = getenv("DILLNET_SOCKET");
	if (!path || argc < 3) {
		fprintf(stderr, "usage: DILLNET_SOCKET=PATH proto_tenant idle N SECS [hello] | attach N SECS |"
			" stream IP PORT SECS | flood SECS | spin SECS\n");
		return 2;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (!strcmp(argv[1], "idle") && argc >= 4)
		return mode_idle(atoi(argv[2]), atof(argv[3]), argc > 4 && !strcmp(argv[4], "hello"));
	if (!strcmp(argv[1], "attach") && argc == 4)
		return mode_attach(atoi(argv[2]), atof(argv[3]));
	if (!strcmp(argv[1], "stream") && argc == 5)
		return mode_stream(argv[2], atoi(argv[3]), atof(argv[4]));
	if (!strcmp(argv[1], "flood") && argc == 3)
		return mode_flood(atof(argv[2]), 1);
	if (!strcmp(argv[1], "spin") && argc == 3)
		return mode_flood(atof(argv[2]), 0);
	fprintf(stderr, "proto_tenant: bad arguments\n");
	return 2;
}
