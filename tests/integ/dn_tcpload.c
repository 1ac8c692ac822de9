/*
 * dn_tcpload: TCP load generator and servers for the scale tests and the
 * TCP benchmarks.  The same client code runs over dillnet or, with
 * --kernel, over plain kernel sockets, so a figure and its kernel baseline
 * come from one program.
 *
 *   dn_tcpload [--kernel] [-t SECS] [-H FILE] MODE ARGS...
 *
 *   kserver ADDR PORT     (kernel only) echo on PORT, sink on PORT+1, one
 *                         epoll thread; prints "listening" when ready
 *   aserver PORT [PORTFILE]  echo server, a thread per connection (dillnet,
 *                         or kernel with --kernel); port 0 picks one
 *   bulk ADDR PORT MB     stream MB MiB to a sink, wait for its byte count
 *   rr ADDR PORT N        one connection, N 64-byte round trips
 *   crr ADDR PORT N       N connections in a row: connect, 64-byte request,
 *                         64-byte reply checked, close
 *   conc ADDR PORT N      N connections open at the same time, each sends a
 *                         distinct 64-byte record; every reply is checked,
 *                         then all are closed.  With -H FILE, after the
 *                         first round it prints "idle N" and holds every
 *                         connection open until FILE exists (memory
 *                         measurements of idle connections)
 *
 * Echo servers answer each 64-byte record with the same record; the sink
 * counts bytes until the FIN, then sends the count (8 bytes, big endian)
 * and closes.  Records are fixed-size because brecv is all or nothing and
 * a receive that times out breaks the direction for good.
 * Results are printed as "key value" words on one line; exit 0 only if every
 * byte checked out.  -t bounds the whole run (default 120 s).
 */
#include <dillnet.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define REC 64

static int kernel_mode;
static const char *hold_file; /* conc: hold idle connections until it exists */
static int64_t deadline;     /* dillnet clock, ms */
static int64_t deadline_ns;  /* CLOCK_MONOTONIC */

static int64_t ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void die(const char *what)
{
	fprintf(stderr, "dn_tcpload: %s: %s\n", what, strerror(errno));
	exit(1);
}

static int ms_left(void)
{
	int64_t left = (deadline_ns - ns()) / 1000000;
	if (left <= 0) {
		errno = ETIMEDOUT;
		return -1;
	}
	return left > 1000000 ? 1000000 : (int)left;
}

/* ---- one connection, dillnet handle or kernel fd -------------------- */

static int k_wait(int fd, short ev)
{
	int ms = ms_left();
	if (ms < 0)
		return -1;
	struct pollfd pf = { fd, ev, 0 };
	int r = poll(&pf, 1, ms);
	if (r == 0) {
		errno = ETIMEDOUT;
		return -1;
	}
	return r < 0 ? -1 : 0;
}

/* Kernel sockets are non-blocking so the deadline applies to them too. */
static int c_connect(const char *ip, int port)
{
	if (!kernel_mode) {
		struct ipaddr a;
		if (ipaddr_remote(&a, ip, port, IPADDR_IPV4, deadline) < 0)
			return -1;
		return tcp_connect(&a, deadline);
	}
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	if (inet_pton(AF_INET, ip, &sa.sin_addr) != 1) {
		errno = EINVAL;
		return -1;
	}
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -1;
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		if (errno != EINPROGRESS || k_wait(fd, POLLOUT) < 0)
			goto fail;
		int err = 0;
		socklen_t l = sizeof(err);
		getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &l);
		if (err) {
			errno = err;
			goto fail;
		}
	}
	return fd;
fail:;
	int e = errno;
	close(fd);
	errno = e;
	return -1;
}

static int c_send(int h, const void *buf, size_t len)
{
	if (!kernel_mode)
		return bsend(h, buf, len, deadline);
	const char *p = buf;
	while (len) {
		ssize_t n = send(h, p, len, MSG_NOSIGNAL);
		if (n > 0) {
			p += n;
			len -= (size_t)n;
		} else if (n < 0 && errno == EAGAIN) {
			if (k_wait(h, POLLOUT) < 0)
				return -1;
		} else {
			return -1;
		}
	}
	return 0;
}

/* All len bytes; EPIPE at a clean end of stream (as brecv). */
static int c_recv(int h, void *buf, size_t len)
{
	if (!kernel_mode)
		return brecv(h, buf, len, deadline);
	char *p = buf;
	while (len) {
		ssize_t n = recv(h, p, len, 0);
		if (n > 0) {
			p += n;
			len -= (size_t)n;
		} else if (n == 0) {
			errno = EPIPE;
			return -1;
		} else if (errno == EAGAIN) {
			if (k_wait(h, POLLIN) < 0)
				return -1;
		} else {
			return -1;
		}
	}
	return 0;
}

static int c_done(int h)
{
	if (!kernel_mode)
		return tcp_done(h, deadline);
	return shutdown(h, SHUT_WR);
}

static int c_close(int h)
{
	if (!kernel_mode)
		return tcp_close(h, deadline);
	return close(h);
}

/* ---- records ---------------------------------------------------------- */

/* Record i of connection c: recognisable bytes, so a reply that belongs
 * to another connection or another round is caught. */
static void rec_fill(uint8_t *b, uint32_t c, uint32_t i)
{
	for (int k = 0; k < REC; k++)
		b[k] = (uint8_t)(c * 131u + i * 7u + (uint32_t)k * 13u + (uint32_t)(k >> 2));
	memcpy(b, &c, 4);
	memcpy(b + 4, &i, 4);
}

static int rec_check(const uint8_t *got, uint32_t c, uint32_t i)
{
	uint8_t want[REC];
	rec_fill(want, c, i);
	return memcmp(got, want, REC) == 0 ? 0 : -1;
}

/* ---- kernel epoll server: echo on port, sink on port+1 ------------- */

struct kconn {
	int sink;
	uint64_t count;
};

static void set_nonblock(int fd)
{
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
}

/* Blocking write of a small reply on a non-blocking socket. */
static int k_write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;
	while (len) {
		ssize_t n = write(fd, p, len);
		if (n > 0) {
			p += n;
			len -= (size_t)n;
		} else if (n < 0 && errno == EAGAIN) {
			struct pollfd pf = { fd, POLLOUT, 0 };
			if (poll(&pf, 1, 5000) <= 0)
				return -1;
		} else {
			return -1;
		}
	}
	return 0;
}

static int k_listener(const char *ip, int port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	if (inet_pton(AF_INET, ip, &sa.sin_addr) != 1)
		die("address");
	int l = socket(AF_INET, SOCK_STREAM, 0);
	int one = 1;
	setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (l < 0 || bind(l, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(l, 4096) < 0)
		die("listen");
	set_nonblock(l);
	return l;
}

static int kserver(const char *ip, int port)
{
	int l[2] = { k_listener(ip, port), k_listener(ip, port + 1) };
	int ep = epoll_create1(0);
	if (ep < 0)
		die("epoll_create1");
	for (int i = 0; i < 2; i++) {
		struct epoll_event ev = { .events = EPOLLIN, .data.u64 = (uint64_t)i << 32 | (uint32_t)l[i] };
		epoll_ctl(ep, EPOLL_CTL_ADD, l[i], &ev);
	}
	struct rlimit rl;
	getrlimit(RLIMIT_NOFILE, &rl);
	size_t maxfd = rl.rlim_cur > 1u << 20 ? 1u << 20 : rl.rlim_cur;
	struct kconn *conn = calloc(maxfd, sizeof(*conn));
	static char buf[262144];
	printf("listening\n");
	fflush(stdout);
	while (ns() < deadline_ns) {
		struct epoll_event evs[256];
		int n = epoll_wait(ep, evs, 256, 200);
		for (int i = 0; i < n; i++) {
			int fd = (int)(uint32_t)evs[i].data.u64;
			int kind = (int)(evs[i].data.u64 >> 32);
			if (fd == l[0] || fd == l[1]) {
				for (int k = 0; k < 256; k++) {
					int c = accept4(fd, NULL, NULL, SOCK_NONBLOCK);
					if (c < 0)
						break;
					if ((size_t)c >= maxfd) {
						close(c);
						continue;
					}
					int one = 1;
					setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
					conn[c].sink = kind;
					conn[c].count = 0;
					struct epoll_event ev = { .events = EPOLLIN, .data.u64 = (uint64_t)kind << 32 | (uint32_t)c };
					epoll_ctl(ep, EPOLL_CTL_ADD, c, &ev);
				}
				continue;
			}
			for (;;) {
				ssize_t r = read(fd, buf, sizeof(buf));
				if (r > 0) {
					if (conn[fd].sink)
						conn[fd].count += (uint64_t)r;
					else if (k_write_all(fd, buf, (size_t)r) < 0)
						r = -1;
				}
				if (r > 0)
					continue;
				if (r < 0 && errno == EAGAIN)
					break;
				if (r == 0 && conn[fd].sink) {
					uint8_t hdr[8];
					for (int k = 0; k < 8; k++)
						hdr[k] = (uint8_t)(conn[fd].count >> (56 - 8 * k));
					k_write_all(fd, hdr, 8);
				}
				epoll_ctl(ep, EPOLL_CTL_DEL, fd, NULL);
				close(fd);
				break;
			}
		}
	}
	return 0;
}

/* ---- echo server, thread per connection ------------------------------ */

static void *echo_thread(void *arg)
{
	int h = (int)(intptr_t)arg;
	uint8_t rec[REC];
	while (c_recv(h, rec, REC) == 0)
		if (c_send(h, rec, REC) < 0)
			break;
	/* EPIPE: the client finished; close answers its FIN. */
	c_close(h);
	return NULL;
}

static int aserver(int port, const char *portfile)
{
	int l;
	if (!kernel_mode) {
		struct ipaddr a;
		if (ipaddr_local(&a, NULL, port, IPADDR_IPV4) < 0)
			die("ipaddr_local");
		l = tcp_listen(&a, 2048);
		if (l < 0)
			die("tcp_listen");
		port = ipaddr_port(&a);
	} else {
		l = k_listener("0.0.0.0", port);
		struct sockaddr_in sa;
		socklen_t sl = sizeof(sa);
		getsockname(l, (struct sockaddr *)&sa, &sl);
		port = ntohs(sa.sin_port);
	}
	if (portfile) {
		FILE *f = fopen(portfile, "w");
		if (!f || fprintf(f, "%d\n", port) < 0 || fclose(f) != 0)
			die(portfile);
	}
	printf("listening %d\n", port);
	fflush(stdout);
	pthread_attr_t at;
	pthread_attr_init(&at);
	pthread_attr_setstacksize(&at, 128 * 1024);
	pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
	unsigned long accepted = 0;
	for (;;) {
		int c;
		if (!kernel_mode) {
			c = tcp_accept(l, NULL, deadline);
		} else {
			c = accept4(l, NULL, NULL, SOCK_NONBLOCK);
			if (c < 0 && errno == EAGAIN) {
				if (k_wait(l, POLLIN) < 0)
					break;
				continue;
			}
		}
		if (c < 0) {
			if (errno != ETIMEDOUT)
				fprintf(stderr, "dn_tcpload: accept: %s\n", strerror(errno));
			break;
		}
		accepted++;
		pthread_t t;
		if (pthread_create(&t, &at, echo_thread, (void *)(intptr_t)c) != 0) {
			fprintf(stderr, "dn_tcpload: pthread_create failed\n");
			c_close(c);
		}
	}
	printf("accepted %lu\n", accepted);
	return 0;
}

/* ---- clients -------------------------------------------------------- */

static int bulk(const char *ip, int port, long mb)
{
	int h = c_connect(ip, port);
	if (h < 0)
		die("connect");
	static char buf[65536];
	memset(buf, 0x5a, sizeof(buf));
	uint64_t total = (uint64_t)mb << 20;
	int64_t t0 = ns();
	for (uint64_t done = 0; done < total; done += sizeof(buf))
		if (c_send(h, buf, sizeof(buf)) < 0)
			die("send");
	if (c_done(h) < 0)
		die("done");
	uint8_t hdr[8];
	if (c_recv(h, hdr, 8) < 0)
		die("recv count");
	int64_t t1 = ns();
	uint64_t got = 0;
	for (int k = 0; k < 8; k++)
		got = got << 8 | hdr[k];
	c_close(h);
	double s = (double)(t1 - t0) / 1e9;
	printf("bulk bytes %llu secs %.3f MBps %.1f\n", (unsigned long long)total, s,
	       (double)total / s / 1e6);
	if (got != total) {
		fprintf(stderr, "dn_tcpload: sink counted %llu of %llu bytes\n",
			(unsigned long long)got, (unsigned long long)total);
		return 1;
	}
	return 0;
}

static int cmp64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return x < y ? -1 : x > y;
}

static int rr(const char *ip, int port, int n)
{
	int h = c_connect(ip, port);
	if (h < 0)
		die("connect");
	int warm = n / 10 + 10;
	int64_t *rtt = malloc(sizeof(int64_t) * (size_t)n);
	uint8_t out[REC], in[REC];
	int64_t t0 = 0;
	for (int i = 0; i < n + warm; i++) {
		if (i == warm)
			t0 = ns();
		rec_fill(out, 0, (uint32_t)i);
		int64_t a = ns();
		if (c_send(h, out, REC) < 0 || c_recv(h, in, REC) < 0)
			die("round trip");
		if (i >= warm)
			rtt[i - warm] = ns() - a;
		if (rec_check(in, 0, (uint32_t)i) < 0) {
			fprintf(stderr, "dn_tcpload: reply %d corrupt\n", i);
			return 1;
		}
	}
	double s = (double)(ns() - t0) / 1e9;
	c_done(h);
	if (c_recv(h, in, 1) == 0 || errno != EPIPE)
		fprintf(stderr, "dn_tcpload: no clean end of stream\n");
	c_close(h);
	qsort(rtt, (size_t)n, sizeof(int64_t), cmp64);
	printf("rr n %d secs %.3f per_sec %.0f median_us %.1f p99_us %.1f\n", n, s,
	       n / s, rtt[n / 2] / 1e3, rtt[(size_t)n * 99 / 100] / 1e3);
	free(rtt);
	return 0;
}

static int crr(const char *ip, int port, int n)
{
	uint8_t out[REC], in[REC];
	int64_t t0 = ns();
	for (int i = 0; i < n; i++) {
		int h = c_connect(ip, port);
		if (h < 0) {
			fprintf(stderr, "dn_tcpload: connection %d: connect: %s\n", i, strerror(errno));
			return 1;
		}
		rec_fill(out, (uint32_t)i, 1);
		if (c_send(h, out, REC) < 0 || c_recv(h, in, REC) < 0) {
			fprintf(stderr, "dn_tcpload: connection %d: %s\n", i, strerror(errno));
			return 1;
		}
		if (rec_check(in, (uint32_t)i, 1) < 0) {
			fprintf(stderr, "dn_tcpload: connection %d: reply corrupt\n", i);
			return 1;
		}
		/* We close first: TIME-WAIT stays on this side, as for a
		 * typical client. */
		if (c_close(h) < 0 && !kernel_mode) {
			fprintf(stderr, "dn_tcpload: connection %d: close: %s\n", i, strerror(errno));
			return 1;
		}
	}
	double s = (double)(ns() - t0) / 1e9;
	printf("crr n %d secs %.3f per_sec %.0f\n", n, s, n / s);
	return 0;
}

static int conc(const char *ip, int port, int n)
{
	int *h = calloc((size_t)n, sizeof(int));
	uint8_t out[REC], in[REC];
	int bad = 0;
	int64_t t0 = ns();
	for (int i = 0; i < n; i++) {
		h[i] = c_connect(ip, port);
		if (h[i] < 0) {
			fprintf(stderr, "dn_tcpload: connection %d of %d: connect: %s\n", i, n, strerror(errno));
			return 1;
		}
	}
	int64_t t1 = ns();
	/* Every connection has a record in flight before any reply is read. */
	for (int i = 0; i < n; i++) {
		rec_fill(out, (uint32_t)i, 2);
		if (c_send(h[i], out, REC) < 0) {
			fprintf(stderr, "dn_tcpload: connection %d: send: %s\n", i, strerror(errno));
			return 1;
		}
	}
	for (int i = 0; i < n; i++) {
		if (c_recv(h[i], in, REC) < 0) {
			fprintf(stderr, "dn_tcpload: connection %d: recv: %s\n", i, strerror(errno));
			return 1;
		}
		if (rec_check(in, (uint32_t)i, 2) < 0) {
			fprintf(stderr, "dn_tcpload: connection %d: reply corrupt\n", i);
			bad++;
		}
	}
	if (hold_file) {
		printf("idle %d\n", n);
		fflush(stdout);
		while (access(hold_file, F_OK) != 0) {
			if (ns() > deadline_ns) {
				fprintf(stderr, "dn_tcpload: %s did not appear in time\n", hold_file);
				return 1;
			}
			usleep(50000);
		}
	}
	/* A second round on all of them, then an orderly end. */
	for (int i = 0; i < n; i++) {
		rec_fill(out, (uint32_t)i, 3);
		if (c_send(h[i], out, REC) < 0 || c_done(h[i]) < 0) {
			fprintf(stderr, "dn_tcpload: connection %d: send: %s\n", i, strerror(errno));
			return 1;
		}
	}
	int clean = 0;
	for (int i = 0; i < n; i++) {
		if (c_recv(h[i], in, REC) < 0 || rec_check(in, (uint32_t)i, 3) < 0) {
			fprintf(stderr, "dn_tcpload: connection %d: second reply: %s\n", i,
				strerror(errno));
			bad++;
			continue;
		}
		if (c_recv(h[i], in, 1) < 0 && errno == EPIPE)
			clean++;
	}
	for (int i = 0; i < n; i++)
		c_close(h[i]);
	printf("conc n %d connect_secs %.3f total_secs %.3f verified %d clean_eof %d\n", n,
	       (double)(t1 - t0) / 1e9, (double)(ns() - t0) / 1e9, n - bad, clean);
	return bad || clean != n;
}

int main(int argc, char **argv)
{
	int secs = 120;
	int i = 1;
	for (; i < argc && argv[i][0] == '-'; i++) {
		if (strcmp(argv[i], "--kernel") == 0)
			kernel_mode = 1;
		else if (strcmp(argv[i], "-t") == 0 && i + 1 < argc)
			secs = atoi(argv[++i]);
		else if (strcmp(argv[i], "-H") == 0 && i + 1 < argc)
			hold_file = argv[++i];
		else
			break;
	}
	argc -= i;
	argv += i;
	if (argc < 2) {
		fprintf(stderr, "usage: dn_tcpload [--kernel] [-t SECS] [-H FILE] kserver ADDR PORT | aserver PORT [PORTFILE] |\n"
			"       bulk ADDR PORT MB | rr ADDR PORT N | crr ADDR PORT N | conc ADDR PORT N\n");
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	deadline = now() + (int64_t)secs * 1000;
	deadline_ns = ns() + (int64_t)secs * 1000000000;
	/* Room for thousands of kernel sockets. */
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	const char *m = argv[0];
	if (strcmp(m, "kserver") == 0 && argc >= 3)
		return kserver(argv[1], atoi(argv[2]));
	if (strcmp(m, "aserver") == 0)
		return aserver(atoi(argv[1]), argc >= 3 ? argv[2] : NULL);
	if (argc < 4) {
		fprintf(stderr, "dn_tcpload: %s needs ADDR PORT COUNT\n", m);
		return 2;
	}
	if (strcmp(m, "bulk") == 0)
		return bulk(argv[1], atoi(argv[2]), atol(argv[3]));
	if (strcmp(m, "rr") == 0)
		return rr(argv[1], atoi(argv[2]), atoi(argv[3]));
	if (strcmp(m, "crr") == 0)
		return crr(argv[1], atoi(argv[2]), atoi(argv[3]));
	if (strcmp(m, "conc") == 0)
		return conc(argv[1], atoi(argv[2]), atoi(argv[3]));
	fprintf(stderr, "dn_tcpload: unknown mode %s\n", m);
	return 2;
}
