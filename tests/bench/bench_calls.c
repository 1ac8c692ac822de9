/*
 * bench_calls.c: what one bsend/brecv of 64 bytes costs when nothing has to
 * wait (room in the ring for a send, data already there for a receive),
 * beside the kernel's write/read of 64 bytes measured the same way in the
 * same run.  This is the per-call cost of issue 12, not a throughput: one
 * thread, no peer to race with while the clock runs.
 *
 * Method: a round is BATCH calls of 64 bytes timed together; between
 * rounds the other end is drained or filled with the clock stopped.  The
 * figure is the median round divided by BATCH (the median keeps a round
 * that happened to wait, or was preempted, out of it).
 *
 *   bench_calls                 IPC: ipc_pair in one thread, against a
 *                               blocking AF_LOCAL socketpair
 *   bench_calls tcp ADDR PORT   TCP through dillnetd to the kernel server of
 *                               dn_tcpload kserver (echo on PORT, sink on
 *                               PORT+1); --kernel first: plain sockets
 *                               (tests/bench/bench_calls.sh runs both)
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "dillnet.h"

#define BATCH 128     /* 8 KiB: fits a socketpair's default buffer */
#define ROUNDS 400
#define MSG 64

static int64_t ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void die(const char *what)
{
	fprintf(stderr, "bench_calls: %s: %s\n", what, strerror(errno));
	exit(1);
}

static int cmp64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return x < y ? -1 : x > y;
}

/* Median of the rounds, in ns per call. */
static double per_call(int64_t *t, int n)
{
	qsort(t, (size_t)n, sizeof(*t), cmp64);
	return (double)t[n / 2] / BATCH;
}

/* One transport: how to send and receive 64 bytes, and how to get the
 * other end ready between rounds (clock stopped). */
struct tr {
	const char *name;
	int fd[2];     /* [0] we send on, [1] we receive on */
	int dill;
	int tcp;       /* fd[0] goes to the sink, fd[1] to the echo */
};

static void tr_send(const struct tr *t, int fd, const void *buf, size_t len)
{
	if (t->dill) {
		if (bsend(fd, buf, len, -1) < 0)
			die("bsend");
		return;
	}
	const char *p = buf;
	while (len) {
		ssize_t n = write(fd, p, len);
		if (n <= 0)
			die("write");
		p += n;
		len -= (size_t)n;
	}
}

static void tr_recv(const struct tr *t, int fd, void *buf, size_t len)
{
	if (t->dill) {
		if (brecv(fd, buf, len, -1) < 0)
			die("brecv");
		return;
	}
	char *p = buf;
	while (len) {
		ssize_t n = read(fd, p, len);
		if (n <= 0)
			die("read");
		p += n;
		len -= (size_t)n;
	}
}

static void pause_us(long us)
{
	struct timespec ts = { 0, us * 1000 };
	nanosleep(&ts, NULL);
}

/* Rounds of BATCH sends with room, then BATCH receives with data there. */
static void run(const struct tr *t, double *snd, double *rcv)
{
	static int64_t ts[ROUNDS], tr[ROUNDS];
	static char big[BATCH * MSG], msg[MSG];
	memset(msg, 'x', sizeof(msg));
	for (int r = 0; r < ROUNDS; r++) {
		int64_t t0 = ns();
		for (int i = 0; i < BATCH; i++)
			tr_send(t, t->fd[0], msg, MSG);
		ts[r] = ns() - t0;
		if (t->tcp) {
			/* The sink drains on its own; let it, then have the
			 * echo fill our receive side. */
			tr_send(t, t->fd[1], big, sizeof(big));
			pause_us(3000);
		}
		t0 = ns();
		for (int i = 0; i < BATCH; i++)
			tr_recv(t, t->fd[1], msg, MSG);
		tr[r] = ns() - t0;
	}
	*snd = per_call(ts, ROUNDS);
	*rcv = per_call(tr, ROUNDS);
}

static int tcp_kernel(const char *ip, int port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET,
				  .sin_port = htons((uint16_t)port) };
	if (inet_pton(AF_INET, ip, &sa.sin_addr) != 1)
		die("address");
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		die("connect");
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return fd;
}

static int tcp_dill(const char *ip, int port)
{
	struct ipaddr a;
	if (ipaddr_remote(&a, ip, port, IPADDR_IPV4, -1) < 0)
		die("ipaddr_remote");
	int h = tcp_connect(&a, now() + 5000);
	if (h < 0)
		die("tcp_connect");
	return h;
}

static void report(const char *what, const char *base, double d, double k)
{
	printf("%-34s %8.1f ns  %-22s %8.1f ns  x%.2f\n", what, d, base, k,
	       d > 0 ? k / d : 0.0);
}

int main(int argc, char **argv)
{
	int kernel = argc > 1 && strcmp(argv[1], "--kernel") == 0;
	if (kernel) {
		argv++;
		argc--;
	}
	double ds, dr, ks, kr;
	if (argc >= 4 && strcmp(argv[1], "tcp") == 0) {
		int port = atoi(argv[3]);
		struct tr t = { kernel ? "kernel" : "dillnet", { 0, 0 }, !kernel, 1 };
		t.fd[0] = kernel ? tcp_kernel(argv[2], port + 1) : tcp_dill(argv[2], port + 1);
		t.fd[1] = kernel ? tcp_kernel(argv[2], port) : tcp_dill(argv[2], port);
		run(&t, &ds, &dr);
		/* One line of key value words for the script. */
		printf("%s send_ns %.1f recv_ns %.1f\n", t.name, ds, dr);
		return 0;
	}
	int s[2], k[2];
	if (ipc_pair(s) < 0)
		die("ipc_pair");
	if (socketpair(AF_LOCAL, SOCK_STREAM, 0, k) < 0)
		die("socketpair");
	struct tr d = { "dillnet", { s[0], s[1] }, 1, 0 };
	struct tr kp = { "socketpair", { k[0], k[1] }, 0, 0 };
	/* Alternate to share out whatever else the machine is doing. */
	double a[2][2] = { { 1e18, 1e18 }, { 1e18, 1e18 } };
	for (int rep = 0; rep < 3; rep++) {
		run(&d, &ds, &dr);
		run(&kp, &ks, &kr);
		a[0][0] = ds < a[0][0] ? ds : a[0][0];
		a[0][1] = dr < a[0][1] ? dr : a[0][1];
		a[1][0] = ks < a[1][0] ? ks : a[1][0];
		a[1][1] = kr < a[1][1] ? kr : a[1][1];
	}
	printf("bench_calls: one thread, %d-byte calls with room/data ready, "
	       "median of %d rounds of %d, best of 3 runs; ratio = kernel / dillnet\n",
	       MSG, ROUNDS, BATCH);
	report("ipc bsend 64 B, per call", "socketpair write", a[0][0], a[1][0]);
	report("ipc brecv 64 B, per call", "socketpair read", a[0][1], a[1][1]);
	hclose(s[0]);
	hclose(s[1]);
	return 0;
}
