/*
 * bench_ipc.c: libdillnet IPC against the kernel's AF_LOCAL sockets.
 *
 * Three transports, same run, same sizes, two processes each:
 *   dillnet   ipc_listen/ipc_connect (shared-memory rings)
 *   pair      a blocking AF_LOCAL socketpair with plain write/read
 *   libdill   AF_LOCAL stream sockets at a path, used the way libdill uses
 *             them: non-blocking, try the call, poll() on EAGAIN
 * Figures: throughput with 64 KiB writes and with 64-byte writes, and the
 * median and p99 round trip of a 64-byte ping-pong.  Ratios are dillnet's
 * figure against each kernel baseline (higher is better for throughput,
 * lower for latency).
 *
 * Usage: bench_ipc [scale]   (scale multiplies the amounts; default 1)
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "dillnet.h"

enum { T_DILLNET, T_PAIR, T_LIBDILL, T_N };
static const char *tname[T_N] = { "dillnet", "socketpair", "libdill-style" };

static int64_t ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void die(const char *what)
{
	fprintf(stderr, "bench_ipc: %s: %s\n", what, strerror(errno));
	exit(1);
}

/* ---- one endpoint, whatever the transport ----------------------------- */

struct ep {
	int t;
	int h;      /* dillnet handle or fd */
};

static void ep_send(struct ep *e, const void *buf, size_t len)
{
	const char *p = buf;
	switch (e->t) {
	case T_DILLNET:
		if (bsend(e->h, buf, len, -1) < 0)
			die("bsend");
		return;
	case T_PAIR:
		while (len) {
			ssize_t n = write(e->h, p, len);
			if (n < 0)
				die("write");
			p += n;
			len -= (size_t)n;
		}
		return;
	default:
		while (len) {
			ssize_t n = send(e->h, p, len, MSG_NOSIGNAL);
			if (n > 0) {
				p += n;
				len -= (size_t)n;
				continue;
			}
			if (n < 0 && errno != EAGAIN)
				die("send");
			struct pollfd pf = { e->h, POLLOUT, 0 };
			poll(&pf, 1, -1);
		}
	}
}

static void ep_recv(struct ep *e, void *buf, size_t len)
{
	char *p = buf;
	switch (e->t) {
	case T_DILLNET:
		if (brecv(e->h, buf, len, -1) < 0)
			die("brecv");
		return;
	case T_PAIR:
		while (len) {
			ssize_t n = read(e->h, p, len);
			if (n <= 0)
				die("read");
			p += n;
			len -= (size_t)n;
		}
		return;
	default:
		while (len) {
			ssize_t n = recv(e->h, p, len, 0);
			if (n > 0) {
				p += n;
				len -= (size_t)n;
				continue;
			}
			if (n == 0 || errno != EAGAIN)
				die("recv");
			struct pollfd pf = { e->h, POLLIN, 0 };
			poll(&pf, 1, -1);
		}
	}
}

static void ep_close(struct ep *e)
{
	if (e->t == T_DILLNET)
		ipc_close(e->h, now() + 5000);
	else
		close(e->h);
}

/* Set up a connection: the parent gets *parent, the forked child *child.
 * Returns the child's pid in the parent, 0 in the child. */
static pid_t ep_fork(int t, const char *path, struct ep *me)
{
	me->t = t;
	if (t == T_PAIR) {
		int sv[2];
		if (socketpair(AF_LOCAL, SOCK_STREAM, 0, sv) < 0)
			die("socketpair");
		pid_t pid = fork();
		if (pid < 0)
			die("fork");
		me->h = pid ? sv[0] : sv[1];
		close(pid ? sv[1] : sv[0]);
		return pid;
	}
	unlink(path);
	if (t == T_DILLNET) {
		int l = ipc_listen(path, 8);
		if (l < 0)
			die("ipc_listen");
		pid_t pid = fork();
		if (pid < 0)
			die("fork");
		if (pid == 0) {
			me->h = ipc_connect(path, now() + 5000);
			if (me->h < 0)
				die("ipc_connect");
			return 0;
		}
		me->h = ipc_accept(l, now() + 5000);
		if (me->h < 0)
			die("ipc_accept");
		hclose(l);
		unlink(path);
		return pid;
	}
	struct sockaddr_un su = { .sun_family = AF_LOCAL };
	snprintf(su.sun_path, sizeof(su.sun_path), "%s", path);
	int l = socket(AF_LOCAL, SOCK_STREAM, 0);
	if (l < 0 || bind(l, (struct sockaddr *)&su, sizeof(su)) < 0 ||
	    listen(l, 8) < 0)
		die("listen");
	pid_t pid = fork();
	if (pid < 0)
		die("fork");
	if (pid == 0) {
		close(l);
		me->h = socket(AF_LOCAL, SOCK_STREAM | SOCK_NONBLOCK, 0);
		if (me->h < 0 || connect(me->h, (struct sockaddr *)&su,
					 sizeof(su)) < 0)
			die("connect");
		return 0;
	}
	me->h = accept4(l, NULL, NULL, SOCK_NONBLOCK);
	if (me->h < 0)
		die("accept");
	close(l);
	unlink(path);
	return pid;
}

static void reap(pid_t pid)
{
	int st;
	if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st) ||
	    WEXITSTATUS(st) != 0) {
		fprintf(stderr, "bench_ipc: child failed\n");
		exit(1);
	}
}

/* ---- figures --------------------------------------------------------- */

/* Child streams total bytes in writes of size io; the parent reads them in
 * reads of the same size; MB/s from the parent's first to last byte. */
static double throughput(int t, const char *path, size_t io, uint64_t total)
{
	struct ep e;
	char *buf = malloc(io);
	memset(buf, 0x5a, io);
	pid_t pid = ep_fork(t, path, &e);
	if (pid == 0) {
		for (uint64_t done = 0; done < total; done += io)
			ep_send(&e, buf, io);
		/* Wait for the reader's go-ahead so close does not race. */
		char ack;
		ep_recv(&e, &ack, 1);
		ep_close(&e);
		_exit(0);
	}
	ep_recv(&e, buf, io);
	int64_t t0 = ns();
	for (uint64_t done = io; done < total; done += io)
		ep_recv(&e, buf, io);
	int64_t t1 = ns();
	ep_send(&e, "k", 1);
	ep_close(&e);
	reap(pid);
	free(buf);
	return (double)(total - io) / ((double)(t1 - t0) / 1e9) / 1e6;
}

static int cmp64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return x < y ? -1 : x > y;
}

/* 64-byte ping-pong: median and p99 round trip in microseconds. */
static void pingpong(int t, const char *path, int rounds, double *med,
		     double *p99)
{
	struct ep e;
	char msg[64];
	memset(msg, 1, sizeof(msg));
	int64_t *rtt = malloc(sizeof(int64_t) * (size_t)rounds);
	pid_t pid = ep_fork(t, path, &e);
	int warm = rounds / 10 + 10;
	if (pid == 0) {
		for (int i = 0; i < rounds + warm; i++) {
			ep_recv(&e, msg, sizeof(msg));
			ep_send(&e, msg, sizeof(msg));
		}
		ep_close(&e);
		_exit(0);
	}
	for (int i = 0; i < rounds + warm; i++) {
		int64_t t0 = ns();
		ep_send(&e, msg, sizeof(msg));
		ep_recv(&e, msg, sizeof(msg));
		if (i >= warm)
			rtt[i - warm] = ns() - t0;
	}
	ep_close(&e);
	reap(pid);
	qsort(rtt, (size_t)rounds, sizeof(int64_t), cmp64);
	*med = (double)rtt[rounds / 2] / 1e3;
	*p99 = (double)rtt[(size_t)rounds * 99 / 100] / 1e3;
	free(rtt);
}

int main(int argc, char **argv)
{
	double scale = argc > 1 ? atof(argv[1]) : 1.0;
	if (scale <= 0)
		scale = 1.0;
	signal(SIGPIPE, SIG_IGN);
	char dir[] = "/tmp/bench_ipc.XXXXXX";
	if (!mkdtemp(dir))
		die("mkdtemp");
	char path[128];
	snprintf(path, sizeof(path), "%s/s", dir);

	uint64_t big = (uint64_t)(1024.0 * 1024 * 1024 * scale);
	uint64_t small = (uint64_t)(32.0 * 1024 * 1024 * scale);
	int rounds = (int)(20000 * scale);
	if (rounds < 100)
		rounds = 100;

	double tp64k[T_N], tp64[T_N], med[T_N], p99[T_N];
	for (int t = 0; t < T_N; t++) {
		tp64k[t] = throughput(t, path, 65536, big);
		tp64[t] = throughput(t, path, 64, small);
		pingpong(t, path, rounds, &med[t], &p99[t]);
	}
	rmdir(dir);

	const char *spin = getenv("DILLNET_IPC_SPIN_US");
	printf("bench_ipc: %ld online cores, IPC ring %zu KiB per direction, spin %s us\n",
	       sysconf(_SC_NPROCESSORS_ONLN), IPC_RING_DEFAULT / 1024,
	       spin ? spin : "default");
	printf("%-16s %14s %14s %12s %12s\n", "transport", "64KiB MB/s",
	       "64B MB/s", "rtt med us", "rtt p99 us");
	for (int t = 0; t < T_N; t++)
		printf("%-16s %14.0f %14.1f %12.2f %12.2f\n", tname[t],
		       tp64k[t], tp64[t], med[t], p99[t]);
	for (int t = T_PAIR; t < T_N; t++)
		printf("dillnet vs %-13s throughput 64KiB x%.2f, 64B x%.2f; "
		       "rtt median x%.2f, p99 x%.2f\n", tname[t],
		       tp64k[T_DILLNET] / tp64k[t], tp64[T_DILLNET] / tp64[t],
		       med[T_DILLNET] / med[t], p99[T_DILLNET] / p99[t]);
	return 0;
}
