/*
 * conformance: libdillnet's TCP contract (API-CONTRACT.md and the tcp_*(3),
 * bsend(3)/brecv(3), hclose(3), dillnet_pollfd(3) pages) checked against
 * the real dillnetd, with the Linux kernel as the peer.
 *
 *   conformance KERNEL_IP DAEMON_IP UNREACH_IP MAX_SOCKETS [CASE...]
 *
 * KERNEL_IP runs tests/integ/conf_peer.py (echo 7001, sink 7002, pattern
 * 7003, query 7004, reset 7005, dialer 7010; see there); DAEMON_IP is the
 * daemon's address (kernel clients dial it); UNREACH_IP and the address
 * after it are in the daemon's subnet and owned by nobody (no ARP answer);
 * MAX_SOCKETS is the daemon's apps.max_sockets, which must be free when the
 * program starts.  Without CASE arguments every case runs.
 *
 * Threads stand in for libdill's coroutines.  Each case prints "ok - ..." or
 * "FAIL - ..." lines; the last line is "conformance: N passed, M failed" and
 * the exit status is non-zero on any failure.  Every call has a deadline and
 * every case runs under an alarm, so the program cannot hang.  Timing
 * checks (expiry within LATE_MS of the deadline, deadline 0 within LATE_MS)
 * may take up to TIMING_TRIES attempts on a loaded machine, and say so.
 *
 * A receive that fails, a timeout (even with deadline 0) included, breaks
 * its direction for good: the cases never probe a connection they still
 * need with a receive that may time out.
 */
#include <dillnet.h>

#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

#define P_ECHO 7001
#define P_SINK 7002
#define P_PATTERN 7003
#define P_QUERY 7004
#define P_RESET 7005
#define P_DIALER 7010
#define P_REFUSED 7099       /* nothing listens there */

#define LATE_MS 20           /* the contract: expiry within 20 ms */
#define TIMING_TRIES 3       /* a timing case may be retried, and says so */
#define CASE_ALARM_S 40      /* no case may take longer */

static const char *kernel_ip, *daemon_ip, *unreach_ip;
static int max_sockets;
static int npass, nfail;
static const char *cur_case = "";

/* ---- reporting ---------------------------------------------------------- */

static void ok(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	printf("ok - %s: ", cur_case);
	vprintf(fmt, ap);
	printf("\n");
	va_end(ap);
	npass++;
}

static void fail(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	printf("FAIL - %s: ", cur_case);
	vprintf(fmt, ap);
	printf("\n");
	va_end(ap);
	nfail++;
}

/* The errno name, for messages that must say which error came. */
static const char *en(int e)
{
	switch (e) {
	case 0: return "no error";
	case EINVAL: return "EINVAL";
	case EBADF: return "EBADF";
	case ENOTSUP: return "ENOTSUP";
	case EPIPE: return "EPIPE";
	case ECONNRESET: return "ECONNRESET";
	case ECONNREFUSED: return "ECONNREFUSED";
	case ETIMEDOUT: return "ETIMEDOUT";
	case EHOSTUNREACH: return "EHOSTUNREACH";
	case EADDRINUSE: return "EADDRINUSE";
	case EMFILE: return "EMFILE";
	case ENFILE: return "ENFILE";
	case ECANCELED: return "ECANCELED";
	case EBUSY: return "EBUSY";
	case ENOMEM: return "ENOMEM";
	case EACCES: return "EACCES";
	case ENOENT: return "ENOENT";
	case EPROTO: return "EPROTO";
	default: return strerror(e);
	}
}

/* rc must be -1 with errno want. */
static int expect_err(int rc, int want, const char *what)
{
	int e = errno;
	if (rc == -1 && e == want) {
		ok("%s -> %s", what, en(want));
		return 1;
	}
	if (rc == -1)
		fail("%s -> %s, expected %s", what, en(e), en(want));
	else
		fail("%s -> %d (success), expected %s", what, rc, en(want));
	return 0;
}

static int expect_ok(int rc, const char *what)
{
	if (rc >= 0) {
		ok("%s", what);
		return 1;
	}
	fail("%s -> %s", what, en(errno));
	return 0;
}

static void on_alarm(int sig)
{
	(void)sig;
	char msg[256];
	int n = snprintf(msg, sizeof(msg),
			 "FAIL - %s: did not finish within %d s (aborting)\n",
			 cur_case, CASE_ALARM_S);
	if (write(1, msg, (size_t)n) < 0)
		_exit(3);
	_exit(3);
}

/* ---- helpers ------------------------------------------------------------ */

/* Microseconds on the clock now() reads (CLOCK_MONOTONIC). */
static int64_t now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void fill_pattern(uint8_t *p, size_t n, size_t off)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)((off + i) % 251);
}

static int is_pattern(const uint8_t *p, size_t n, size_t off)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != (uint8_t)((off + i) % 251))
			return 0;
	return 1;
}

static void put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void addr_of(struct ipaddr *a, const char *ip, int port)
{
	if (ipaddr_remote(a, ip, port, IPADDR_IPV4, now() + 1000) < 0) {
		fprintf(stderr, "conformance: ipaddr_remote %s: %s\n", ip, strerror(errno));
		exit(2);
	}
}

/* A connection to a kernel service, or -1 (reported). */
static int dial(int port)
{
	struct ipaddr a;
	addr_of(&a, kernel_ip, port);
	int s = tcp_connect(&a, now() + 5000);
	if (s < 0)
		fail("tcp_connect to %s:%d -> %s", kernel_ip, port, en(errno));
	return s;
}

/* A connection to the pattern service that will send n bytes and record
 * what we send under tag. */
static int dial_pattern(uint32_t n, uint32_t tag)
{
	int s = dial(P_PATTERN);
	if (s < 0)
		return -1;
	uint8_t hdr[8];
	put32(hdr, n);
	put32(hdr + 4, tag);
	if (bsend(s, hdr, 8, now() + 2000) < 0) {
		fail("bsend of the pattern header -> %s", en(errno));
		hclose(s);
		return -1;
	}
	return s;
}

/* What the pattern service recorded for tag: bytes received, -1 corrupt,
 * -2 nothing recorded, -3 the query itself failed. */
static int64_t query_tag(uint32_t tag)
{
	int s = dial(P_QUERY);
	if (s < 0)
		return -3;
	uint8_t b[8];
	put32(b, tag);
	int64_t v = -3;
	if (bsend(s, b, 4, now() + 2000) == 0 && brecv(s, b, 8, now() + 7000) == 0) {
		uint64_t u = (uint64_t)get32(b) << 32 | get32(b + 4);
		v = (int64_t)u;
	}
	tcp_close(s, now() + 2000);
	return v;
}

/* Kernel clients of the dialer connect to our port: sends the command on
 * ctl (a connection to the dialer); the answer comes later on ctl. */
static int dialer_cmd(int ctl, uint32_t port, uint32_t count, uint32_t nbytes)
{
	uint8_t cmd[16];
	put32(cmd, 1);
	put32(cmd + 4, port);
	put32(cmd + 8, count);
	put32(cmd + 12, nbytes);
	return bsend(ctl, cmd, sizeof(cmd), now() + 2000);
}

/* ---- EMFILE at the per-app socket limit (runs first: no socket open) ---- */

static void case_emfile(void)
{
	int *ls = calloc((size_t)max_sockets + 1, sizeof(int));
	int n = 0, err = 0;
	if (!ls) {
		fail("out of memory");
		return;
	}
	struct ipaddr a;
	while (n <= max_sockets) {
		ipaddr_local(&a, NULL, 0, IPADDR_IPV4);
		int l = tcp_listen(&a, 1);
		if (l < 0) {
			err = errno;
			break;
		}
		ls[n++] = l;
	}
	if (n == max_sockets && err == EMFILE)
		ok("%d listeners (apps.max_sockets), the next tcp_listen -> EMFILE", n);
	else
		fail("%d listeners before %s; expected %d then EMFILE", n, en(err), max_sockets);
	struct ipaddr e;
	addr_of(&e, kernel_ip, P_ECHO);
	int c = tcp_connect(&e, now() + 3000);
	expect_err(c, EMFILE, "tcp_connect at the limit");
	if (c >= 0)
		hclose(c);
	/* The limit is a count, not a leak: one closed, one more fits. */
	if (n > 0) {
		hclose(ls[--n]);
		ipaddr_local(&a, NULL, 0, IPADDR_IPV4);
		int l = tcp_listen(&a, 1);
		if (expect_ok(l, "after one hclose a new tcp_listen succeeds"))
			ls[n++] = l;
	}
	int bad = 0;
	for (int i = 0; i < n; i++)
		if (tcp_close(ls[i], now() + 1000) != 0)
			bad++;
	if (bad == 0)
		ok("tcp_close on %d listeners returns 0", n);
	else
		fail("tcp_close failed on %d of %d listeners", bad, n);
	free(ls);
}

/* ---- the pollable fd drives an epoll loop: 100 connections at once ------ */

#define EP_CONNS 100
#define EP_MSG 1000

struct ep_conn {
	int h;
	int state;      /* 0 waiting for the message, 1 for the FIN, 2 done */
};

static void case_epoll(void)
{
	/* Earlier cases' connections in TIME-WAIT (1 s here) still count
	 * against apps.max_sockets: let them go first. */
	msleep(now() + 1200);
	int pfd = dillnet_pollfd();
	if (pfd < 0) {
		fail("dillnet_pollfd -> %s", en(errno));
		return;
	}
	if (dillnet_pollfd() != pfd)
		fail("dillnet_pollfd returned another descriptor the second time");
	int ep = epoll_create1(EPOLL_CLOEXEC);
	struct epoll_event ev = { .events = EPOLLIN, .data.fd = pfd };
	if (ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, pfd, &ev) < 0) {
		fail("epoll set-up: %s", strerror(errno));
		if (ep >= 0)
			close(ep);
		return;
	}
	struct ipaddr la;
	ipaddr_local(&la, NULL, 0, IPADDR_IPV4);
	int l = tcp_listen(&la, 128);
	if (l < 0) {
		fail("tcp_listen -> %s", en(errno));
		close(ep);
		return;
	}
	int ctl = dial(P_DIALER);
	if (ctl < 0) {
		hclose(l);
		close(ep);
		return;
	}
	if (dialer_cmd(ctl, (uint32_t)ipaddr_port(&la), EP_CONNS, EP_MSG) < 0) {
		fail("dialer command -> %s", en(errno));
		hclose(ctl);
		hclose(l);
		close(ep);
		return;
	}
	static struct ep_conn conns[EP_CONNS + 8];
	int nconns = 0, nopen = 0, maxopen = 0, served = 0, errs = 0;
	int wakeups = 0, reports = 0;
	int have_reply = 0;
	uint8_t reply[8];
	int64_t end = now() + 30000;
	while (now() < end && !(have_reply && served + errs >= nconns && nconns > 0 && nopen == 0)) {
		struct epoll_event out;
		int k = epoll_wait(ep, &out, 1, 200);
		if (k < 0 && errno != EINTR) {
			fail("epoll_wait: %s", strerror(errno));
			break;
		}
		if (k <= 0)
			continue;
		wakeups++;
		struct dillnet_ready r[64];
		int n;
		while ((n = dillnet_ready(r, 64)) > 0) {
			reports += n;
			for (int i = 0; i < n; i++) {
				int h = r[i].h, evs = r[i].events;
				if (h == l) {
					if (!(evs & DILLNET_IN))
						continue;
					/* Deadline 0 drains the accept queue
					 * without waiting; the listener stays
					 * usable after the ETIMEDOUT. */
					int c;
					while ((c = tcp_accept(l, NULL, 0)) >= 0) {
						if (nconns == EP_CONNS + 8) {
							hclose(c);
							continue;
						}
						conns[nconns].h = c;
						conns[nconns++].state = 0;
						if (++nopen > maxopen)
							maxopen = nopen;
					}
					if (errno != ETIMEDOUT) {
						fail("tcp_accept(deadline 0) -> %s", en(errno));
						errs++;
					}
					continue;
				}
				if (h == ctl) {
					if ((evs & DILLNET_IN) && !have_reply) {
						if (brecv(ctl, reply, 8, now() + 5000) < 0) {
							fail("dialer reply -> %s", en(errno));
							end = 0;
						}
						have_reply = 1;
					}
					continue;
				}
				struct ep_conn *c = NULL;
				for (int j = 0; j < nconns; j++)
					if (conns[j].h == h && conns[j].state != 2)
						c = &conns[j];
				if (!c || !(evs & (DILLNET_IN | DILLNET_ERR)))
					continue;
				uint8_t buf[EP_MSG];
				int rc = 0;
				if (evs & DILLNET_ERR) {
					rc = -1;
					errno = ECONNRESET;
				} else if (c->state == 0) {
					/* IN says the message is arriving: a
					 * receive is all or nothing, so the rest
					 * of it is waited for, briefly. */
					rc = brecv(h, buf, EP_MSG, now() + 5000);
					if (rc == 0 && !is_pattern(buf, EP_MSG, 0)) {
						rc = -1;
						errno = EPROTO;
					}
					if (rc == 0)
						rc = bsend(h, buf, EP_MSG, now() + 5000);
					if (rc == 0)
						c->state = 1;
				} else {
					rc = brecv(h, buf, 1, now() + 5000);
					if (rc == 0) {
						rc = -1;
						errno = EPROTO;
					} else if (errno == EPIPE) {
						rc = tcp_close(h, now() + 2000);
						c->state = 2;
						nopen--;
						if (rc == 0)
							served++;
						else
							errs++;
						continue;
					}
				}
				if (rc < 0) {
					if (errs < 3)
						fail("connection %d: %s", h, en(errno));
					errs++;
					hclose(h);
					c->state = 2;
					nopen--;
				}
			}
			if (n < 64)
				break;
		}
		if (n < 0) {
			fail("dillnet_ready -> %s", en(errno));
			break;
		}
	}
	uint32_t kok = have_reply ? get32(reply) : 0, kbad = have_reply ? get32(reply + 4) : 0;
	printf("# epoll: %d wakeups, %d reports, %d accepted, at most %d open at once\n",
	       wakeups, reports, nconns, maxopen);
	if (served == EP_CONNS && errs == 0)
		ok("served %d connections from one epoll loop on dillnet_pollfd", served);
	else
		fail("served %d of %d (%d errors)", served, EP_CONNS, errs);
	if (maxopen == EP_CONNS)
		ok("all %d connections open at the same time", maxopen);
	else
		fail("at most %d connections open at once, expected %d", maxopen, EP_CONNS);
	if (have_reply && kok == EP_CONNS && kbad == 0)
		ok("the %d kernel clients got their echo and our FIN", kok);
	else
		fail("kernel clients: %s, %u ok, %u failed", have_reply ? "answered" : "no answer",
		     kok, kbad);
	for (int j = 0; j < nconns; j++)
		if (conns[j].state != 2)
			hclose(conns[j].h);
	/* A reset is reported too: DILLNET_ERR, with IN and OUT. */
	int rs = dial(P_RESET);
	int seen = 0;
	for (int64_t e2 = now() + 5000; rs >= 0 && !seen && now() < e2;) {
		struct epoll_event out;
		if (epoll_wait(ep, &out, 1, 200) <= 0)
			continue;
		struct dillnet_ready r[64];
		int n = dillnet_ready(r, 64);
		for (int i = 0; i < n; i++)
			if (r[i].h == rs && (r[i].events & DILLNET_ERR))
				seen = r[i].events;
	}
	if (seen == (DILLNET_ERR | DILLNET_IN | DILLNET_OUT))
		ok("a peer's RST is reported as DILLNET_ERR|IN|OUT");
	else
		fail("a peer's RST: events %#x reported, expected DILLNET_ERR|IN|OUT", seen);
	if (rs >= 0)
		hclose(rs);
	struct dillnet_ready r1;
	expect_err(dillnet_ready(&r1, 0), EINVAL, "dillnet_ready(out, 0)");
	tcp_close(ctl, now() + 2000);
	tcp_close(l, now() + 1000);
	close(ep);
}

/* ---- port 0 -------------------------------------------------------------- */

static void case_port0(void)
{
	struct ipaddr a;
	ipaddr_local(&a, NULL, 0, IPADDR_IPV4);
	int l = tcp_listen(&a, 8);
	if (!expect_ok(l, "tcp_listen on port 0"))
		return;
	int port = ipaddr_port(&a);
	if (port > 0 && port <= 65535)
		ok("port 0 replaced by the chosen port %d", port);
	else
		fail("ipaddr_port after tcp_listen(port 0) is %d", port);
	struct ipaddr b;
	ipaddr_local(&b, NULL, port, IPADDR_IPV4);
	int l2 = tcp_listen(&b, 8);
	expect_err(l2, EADDRINUSE, "tcp_listen on the same port again");
	if (l2 >= 0)
		hclose(l2);
	/* A second port-0 listener gets another port. */
	struct ipaddr c;
	ipaddr_local(&c, NULL, 0, IPADDR_IPV4);
	int l3 = tcp_listen(&c, 8);
	if (l3 >= 0 && ipaddr_port(&c) != port && ipaddr_port(&c) > 0)
		ok("a second port-0 listener gets another port (%d)", ipaddr_port(&c));
	else
		fail("second port-0 listener: %s, port %d", l3 < 0 ? en(errno) : "ok",
		     ipaddr_port(&c));
	if (l3 >= 0)
		hclose(l3);
	/* An explicit port stays as it was. */
	struct ipaddr d;
	ipaddr_local(&d, daemon_ip, 7500, IPADDR_IPV4);
	int l4 = tcp_listen(&d, 8);
	if (l4 >= 0 && ipaddr_port(&d) == 7500)
		ok("tcp_listen on %s:7500 keeps port 7500", daemon_ip);
	else
		fail("tcp_listen on %s:7500: %s, port %d", daemon_ip,
		     l4 < 0 ? en(errno) : "ok", ipaddr_port(&d));
	if (l4 >= 0)
		expect_ok(tcp_close(l4, now() + 1000), "tcp_close on a listener");
	hclose(l);
}

/* ---- deadlines ------------------------------------------------------------ */

/* A timing measurement: 0 in bounds, 1 out of bounds (may be retried),
 * -1 wrong behaviour (not retried).  Writes a description into msg. */
typedef int (*timing_fn)(char *msg, size_t len);

static void timing_case(const char *what, timing_fn fn)
{
	char msg[256];
	int rc = -1;
	for (int t = 1; t <= TIMING_TRIES; t++) {
		rc = fn(msg, sizeof(msg));
		if (rc <= 0) {
			if (rc == 0)
				ok("%s: %s%s", what, msg,
				   t > 1 ? (t == 2 ? " (attempt 2 of 3)" : " (attempt 3 of 3)") : "");
			else
				fail("%s: %s", what, msg);
			return;
		}
		printf("# %s: attempt %d of %d out of bounds: %s\n", what, t, TIMING_TRIES, msg);
	}
	fail("%s: out of bounds in %d attempts, last: %s", what, TIMING_TRIES, msg);
}

/* Lateness of a return at t_us after an absolute deadline in ms. */
static int late_verdict(int rc, int err, int64_t deadline, int64_t t_us, char *msg,
			size_t len)
{
	double late = (double)(t_us - deadline * 1000) / 1000.0;
	if (rc != -1 || err != ETIMEDOUT) {
		snprintf(msg, len, "returned %d (%s), expected ETIMEDOUT", rc, en(err));
		return -1;
	}
	snprintf(msg, len, "ETIMEDOUT %.1f ms after the deadline", late);
	return late >= 0 && late <= LATE_MS ? 0 : 1;
}

static int t_brecv(char *msg, size_t len)
{
	int s = dial(P_ECHO);
	if (s < 0) {
		snprintf(msg, len, "no connection");
		return -1;
	}
	char b[4];
	int64_t dl = now() + 300;
	int rc = brecv(s, b, sizeof(b), dl);
	int err = errno;
	int64_t t = now_us();
	int v = late_verdict(rc, err, dl, t, msg, len);
	/* The contract: the timed-out direction is broken for good. */
	if (v >= 0 && brecv(s, b, 1, now() + 1000) != -1) {
		snprintf(msg, len, "brecv after the timeout succeeded");
		v = -1;
	} else if (v >= 0 && errno != ECONNRESET) {
		snprintf(msg + strlen(msg), len - strlen(msg),
			 "; but the next brecv gave %s, not ECONNRESET", en(errno));
		v = -1;
	}
	hclose(s);
	return v;
}

static int t_accept(char *msg, size_t len)
{
	struct ipaddr a;
	ipaddr_local(&a, NULL, 0, IPADDR_IPV4);
	int l = tcp_listen(&a, 8);
	if (l < 0) {
		snprintf(msg, len, "tcp_listen -> %s", en(errno));
		return -1;
	}
	int64_t dl = now() + 300;
	int rc = tcp_accept(l, NULL, dl);
	int err = errno;
	int64_t t = now_us();
	hclose(l);
	return late_verdict(rc, err, dl, t, msg, len);
}

static int t_connect(char *msg, size_t len)
{
	struct ipaddr a;
	addr_of(&a, unreach_ip, P_ECHO);
	int64_t dl = now() + 300;
	int rc = tcp_connect(&a, dl);
	int err = errno;
	int64_t t = now_us();
	if (rc >= 0)
		hclose(rc);
	if (rc == -1 && err == EHOSTUNREACH) {
		/* An earlier ARP failure is remembered for a while. */
		snprintf(msg, len, "EHOSTUNREACH (ARP failure remembered) after %.1f ms",
			 (double)(t - (dl - 300) * 1000) / 1000.0);
		return 1;
	}
	return late_verdict(rc, err, dl, t, msg, len);
}

static int t_msleep(char *msg, size_t len)
{
	int64_t dl = now() + 300;
	int rc = msleep(dl);
	int64_t t = now_us();
	double late = (double)(t - dl * 1000) / 1000.0;
	snprintf(msg, len, "returned %d, %.1f ms after the deadline", rc, late);
	if (rc != 0)
		return -1;
	return late >= 0 && late <= LATE_MS ? 0 : 1;
}

static int t_backpressure(char *msg, size_t len)
{
	int s = dial(P_SINK);
	if (s < 0) {
		snprintf(msg, len, "no connection to the sink");
		return -1;
	}
	size_t big = 8u << 20;
	uint8_t *buf = malloc(big);
	memset(buf, 'x', big);
	int64_t dl = now() + 1500;
	int rc = bsend(s, buf, big, dl);
	int err = errno;
	int64_t t = now_us();
	free(buf);
	int v = late_verdict(rc, err, dl, t, msg, len);
	if (v >= 0) {
		size_t m = strlen(msg);
		int r2 = bsend(s, "y", 1, now() + 1000);
		int e2 = errno;
		char c;
		int r3 = brecv(s, &c, 1, now() + 1000);
		int e3 = errno;
		snprintf(msg + m, len - m, "; later bsend %s, brecv %s",
			 r2 ? en(e2) : "succeeded", r3 ? en(e3) : "succeeded");
		if (r2 != -1 || e2 != ECONNRESET || r3 != -1 || e3 != ECONNRESET)
			v = -1;
	}
	hclose(s);
	return v;
}

static void case_deadline(void)
{
	timing_case("brecv with nothing coming, deadline now+300 (then ECONNRESET)", t_brecv);
	timing_case("tcp_accept with nobody connecting, deadline now+300", t_accept);
	timing_case("tcp_connect to an address nobody answers ARP for, deadline now+300",
		    t_connect);
	timing_case("msleep(now+300)", t_msleep);
}

static void case_backpressure(void)
{
	timing_case("8 MiB bsend to a peer that never reads, deadline now+1500",
		    t_backpressure);
}

/* Deadline 0 never blocks: each call returns within LATE_MS.  Each check
 * makes its own connection, so it can be retried as a timing case (a
 * deadline-0 failure breaks the direction it was made in). */
static int zero_verdict(int rc, int err, int want_rc, int want_err, int64_t t0,
			char *msg, size_t len)
{
	double el = (double)(now_us() - t0) / 1000.0;
	int right = want_rc == 0 ? rc >= 0 : (rc == -1 && err == want_err);
	snprintf(msg, len, "%s in %.1f ms%s%s", rc >= 0 ? "success" : en(err), el,
		 right ? "" : ", expected ", right ? "" : (want_rc == 0 ? "success" : en(want_err)));
	if (!right)
		return -1;
	return el <= LATE_MS ? 0 : 1;
}

static int z_bsend_room(char *msg, size_t len)
{
	int s = dial(P_ECHO);
	if (s < 0)
		return snprintf(msg, len, "no connection"), -1;
	int64_t t0 = now_us();
	int rc = bsend(s, "0123456789", 10, 0);
	int v = zero_verdict(rc, errno, 0, 0, t0, msg, len);
	hclose(s);
	return v;
}

static int z_brecv_there(char *msg, size_t len)
{
	int s = dial(P_ECHO);
	if (s < 0)
		return snprintf(msg, len, "no connection"), -1;
	char b[10];
	/* Let the echo come back first. */
	int v = -1;
	if (bsend(s, "0123456789", 10, now() + 1000) == 0 && msleep(now() + 300) == 0) {
		int64_t t0 = now_us();
		int rc = brecv(s, b, 10, 0);
		v = zero_verdict(rc, errno, 0, 0, t0, msg, len);
		if (v == 0 && memcmp(b, "0123456789", 10) != 0) {
			snprintf(msg, len, "other bytes than were sent");
			v = -1;
		}
	} else {
		snprintf(msg, len, "set-up: %s", en(errno));
	}
	hclose(s);
	return v;
}

static int z_bsend_big(char *msg, size_t len)
{
	int s = dial(P_ECHO);
	if (s < 0)
		return snprintf(msg, len, "no connection"), -1;
	/* More than the tx ring holds cannot all go at once. */
	size_t big = 4u << 20;
	uint8_t *buf = calloc(1, big);
	int64_t t0 = now_us();
	int rc = bsend(s, buf, big, 0);
	int v = zero_verdict(rc, errno, -1, ETIMEDOUT, t0, msg, len);
	free(buf);
	hclose(s);
	return v;
}

static int z_brecv_empty(char *msg, size_t len)
{
	int s = dial(P_ECHO);
	if (s < 0)
		return snprintf(msg, len, "no connection"), -1;
	char b;
	int64_t t0 = now_us();
	int rc = brecv(s, &b, 1, 0);
	int v = zero_verdict(rc, errno, -1, ETIMEDOUT, t0, msg, len);
	hclose(s);
	return v;
}

static int z_accept(char *msg, size_t len)
{
	struct ipaddr a;
	ipaddr_local(&a, NULL, 0, IPADDR_IPV4);
	int l = tcp_listen(&a, 8);
	if (l < 0)
		return snprintf(msg, len, "tcp_listen -> %s", en(errno)), -1;
	int64_t t0 = now_us();
	int rc = tcp_accept(l, NULL, 0);
	int v = zero_verdict(rc, errno, -1, ETIMEDOUT, t0, msg, len);
	hclose(l);
	return v;
}

static int z_connect(char *msg, size_t len)
{
	struct ipaddr e;
	addr_of(&e, kernel_ip, P_ECHO);
	int64_t t0 = now_us();
	int rc = tcp_connect(&e, 0);
	int err = errno;
	/* The handshake needs the network, so ETIMEDOUT is expected; a
	 * connection that completes in time is no breach either. */
	int v = zero_verdict(rc, err, rc >= 0 ? 0 : -1, ETIMEDOUT, t0, msg, len);
	if (rc >= 0)
		hclose(rc);
	return v;
}

static int z_msleep(char *msg, size_t len)
{
	int64_t t0 = now_us();
	int rc = msleep(0);
	return zero_verdict(rc, errno, 0, 0, t0, msg, len);
}

static void case_deadline0(void)
{
	timing_case("bsend of 10 bytes with room, deadline 0", z_bsend_room);
	timing_case("brecv of 10 bytes already there, deadline 0", z_brecv_there);
	timing_case("bsend of 4 MiB (more than the ring), deadline 0", z_bsend_big);
	timing_case("brecv with nothing there, deadline 0", z_brecv_empty);
	timing_case("tcp_accept with nothing queued, deadline 0", z_accept);
	timing_case("tcp_connect, deadline 0 (ETIMEDOUT, or success if that fast)", z_connect);
	timing_case("msleep(0)", z_msleep);
}

/* ---- exchange and clean close --------------------------------------------- */

#define XCHG_BYTES (256 * 1024)

struct sender_arg {
	int s;
	size_t n;
	int rc, err;
	int done_rc, done_err;
	int after_rc, after_err;
};

/* Sends n pattern bytes in 4 KiB pieces, then tcp_done, then tries one
 * more bsend (must be EPIPE). */
static void *sender(void *p)
{
	struct sender_arg *a = p;
	uint8_t buf[4096];
	a->rc = 0;
	for (size_t off = 0; off < a->n && a->rc == 0; off += sizeof(buf)) {
		size_t k = a->n - off < sizeof(buf) ? a->n - off : sizeof(buf);
		fill_pattern(buf, k, off);
		a->rc = bsend(a->s, buf, k, now() + 10000);
		a->err = errno;
	}
	a->done_rc = tcp_done(a->s, now() + 5000);
	a->done_err = errno;
	a->after_rc = bsend(a->s, "z", 1, now() + 1000);
	a->after_err = errno;
	return NULL;
}

static void case_exchange(void)
{
	/* Both directions at once through the kernel's echo service. */
	int s = dial(P_ECHO);
	if (s < 0)
		return;
	struct sender_arg sa = { .s = s, .n = XCHG_BYTES };
	pthread_t t;
	pthread_create(&t, NULL, sender, &sa);
	uint8_t buf[3000];
	size_t got = 0;
	int good = 1, rc = 0;
	while (got < XCHG_BYTES) {
		size_t k = XCHG_BYTES - got < sizeof(buf) ? XCHG_BYTES - got : sizeof(buf);
		if ((rc = brecv(s, buf, k, now() + 10000)) < 0)
			break;
		if (!is_pattern(buf, k, got))
			good = 0;
		got += k;
	}
	int err = errno;
	pthread_join(t, NULL);
	if (sa.rc == 0)
		ok("bsend of %d KiB in 4 KiB pieces", XCHG_BYTES / 1024);
	else
		fail("bsend -> %s", en(sa.err));
	if (rc == 0 && good)
		ok("the %d KiB came back intact (read in 3000-byte pieces, both directions at once)",
		   XCHG_BYTES / 1024);
	else
		fail("received %zu bytes, %s, %s", got, good ? "intact" : "corrupt",
		     rc ? en(err) : "ok");
	expect_ok(sa.done_rc == 0 ? 0 : -1, "tcp_done after the data");
	if (sa.after_rc == -1 && sa.after_err == EPIPE)
		ok("bsend after tcp_done -> EPIPE");
	else
		fail("bsend after tcp_done -> %s", sa.after_rc ? en(sa.after_err) : "success");
	expect_err(tcp_done(s, now() + 1000), EPIPE, "tcp_done a second time");
	/* The echo answered our FIN with its own, after the data. */
	char c;
	expect_err(brecv(s, &c, 1, now() + 5000), EPIPE, "brecv after the echoed data");
	expect_err(brecv(s, &c, 1, now() + 1000), EPIPE, "brecv at the end again (a state)");
	int crc = tcp_close(s, now() + 5000);
	if (crc == 0)
		ok("tcp_close returns 0 (both FINs through)");
	else
		fail("tcp_close -> %s", en(errno));

	/* tcp_close without tcp_done: it sends our FIN and waits for theirs. */
	s = dial(P_ECHO);
	if (s < 0)
		return;
	char b[5];
	if (bsend(s, "hello", 5, now() + 2000) == 0 && brecv(s, b, 5, now() + 5000) == 0 &&
	    memcmp(b, "hello", 5) == 0)
		ok("bsend/brecv of a short message");
	else
		fail("short echo -> %s", en(errno));
	if (tcp_close(s, now() + 5000) == 0)
		ok("tcp_close without tcp_done returns 0");
	else
		fail("tcp_close without tcp_done -> %s", en(errno));

	/* tcp_connect_mem: the same in caller storage. */
	static struct tcp_storage mem;
	struct ipaddr e;
	addr_of(&e, kernel_ip, P_ECHO);
	s = tcp_connect_mem(&e, &mem, now() + 5000);
	if (s >= 0 && bsend(s, "mem", 3, now() + 2000) == 0 && brecv(s, b, 3, now() + 5000) == 0 &&
	    memcmp(b, "mem", 3) == 0 && tcp_close(s, now() + 5000) == 0)
		ok("tcp_connect_mem: echo and tcp_close 0");
	else
		fail("tcp_connect_mem path -> %s", en(errno));
}

/* The app as the server: a kernel client connects to our tcp_listen. */
static void case_accept_side(void)
{
	struct ipaddr la;
	ipaddr_local(&la, NULL, 0, IPADDR_IPV4);
	static struct tcp_listener_storage lmem;
	int l = tcp_listen_mem(&la, 8, &lmem);
	if (!expect_ok(l, "tcp_listen_mem on port 0"))
		return;
	/* A timed-out accept leaves the listener usable. */
	expect_err(tcp_accept(l, NULL, 0), ETIMEDOUT, "tcp_accept, deadline 0, nothing queued");
	int ctl = dial(P_DIALER);
	if (ctl < 0) {
		hclose(l);
		return;
	}
	enum { N = 100000 };
	dialer_cmd(ctl, (uint32_t)ipaddr_port(&la), 1, N);
	struct ipaddr peer;
	static struct tcp_storage cmem;
	int s = tcp_accept_mem(l, &peer, &cmem, now() + 10000);
	if (!expect_ok(s, "tcp_accept_mem after a timed-out accept")) {
		hclose(ctl);
		hclose(l);
		return;
	}
	char ps[IPADDR_MAXSTRLEN];
	if (strcmp(ipaddr_str(&peer, ps), kernel_ip) == 0 && ipaddr_port(&peer) > 0)
		ok("tcp_accept reports the peer %s port %d", ps, ipaddr_port(&peer));
	else
		fail("tcp_accept reports the peer %s port %d", ps, ipaddr_port(&peer));
	uint8_t *buf = malloc(N);
	int rc = brecv(s, buf, N, now() + 10000);
	if (rc == 0 && is_pattern(buf, N, 0))
		ok("received %d bytes from the kernel client", N);
	else
		fail("brecv of %d bytes -> %s", N, rc ? en(errno) : "corrupt data");
	rc = bsend(s, buf, N, now() + 10000);
	expect_ok(rc, "sent them back");
	free(buf);
	char c;
	expect_err(brecv(s, &c, 1, now() + 10000), EPIPE, "brecv after the client's FIN");
	if (tcp_close(s, now() + 5000) == 0)
		ok("tcp_close on the accepted connection returns 0");
	else
		fail("tcp_close on the accepted connection -> %s", en(errno));
	uint8_t rep[8];
	if (brecv(ctl, rep, 8, now() + 15000) == 0 && get32(rep) == 1 && get32(rep + 4) == 0)
		ok("the kernel client got its %d bytes back and our FIN", N);
	else
		fail("kernel client report: ok %u failed %u (%s)", get32(rep), get32(rep + 4),
		     en(errno));
	tcp_close(ctl, now() + 2000);
	expect_ok(tcp_close(l, now() + 1000), "tcp_close on the listener");
}

/* ---- half-close from the kernel side: EPIPE after the data, and the other
 * direction still works ----------------------------------------------------- */

static void case_halfclose(void)
{
	const uint32_t tag = 1;
	int s = dial_pattern(5000, tag);
	if (s < 0)
		return;
	uint8_t buf[5000];
	int rc = brecv(s, buf, 5000, now() + 5000);
	if (rc == 0 && is_pattern(buf, 5000, 0))
		ok("5000 bytes before the peer's FIN");
	else
		fail("brecv 5000 -> %s", rc ? en(errno) : "corrupt");
	expect_err(brecv(s, buf, 1, now() + 5000), EPIPE, "then brecv");
	fill_pattern(buf, 3000, 0);
	expect_ok(bsend(s, buf, 3000, now() + 5000),
		  "bsend of 3000 bytes after the peer's FIN (other direction open)");
	if (tcp_close(s, now() + 5000) == 0)
		ok("tcp_close returns 0 (peer's FIN was in already)");
	else
		fail("tcp_close -> %s", en(errno));
	int64_t got = query_tag(tag);
	if (got == 3000)
		ok("the kernel peer received the 3000 bytes and our FIN");
	else
		fail("the kernel peer recorded %lld", (long long)got);
}

/* ---- 5,000 bytes through buffers of several sizes -------------------------- */

static void case_bufsizes(void)
{
	static const size_t sizes[] = { 1, 1000, 2000, 2001, 3000 };
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		size_t k = sizes[i];
		int s = dial_pattern(5000, (uint32_t)(100 + i));
		if (s < 0)
			continue;
		uint8_t buf[3000];
		size_t got = 0;
		int rc = 0, calls = 0, good = 1;
		while (got < 5000) {
			size_t n = 5000 - got < k ? 5000 - got : k;
			if ((rc = brecv(s, buf, n, now() + 5000)) < 0)
				break;
			if (!is_pattern(buf, n, got))
				good = 0;
			got += n;
			calls++;
		}
		int err = errno;
		char c;
		int erc = brecv(s, &c, 1, now() + 5000);
		int eerr = errno;
		int crc = tcp_close(s, now() + 5000);
		if (rc == 0 && good && erc == -1 && eerr == EPIPE && crc == 0)
			ok("5000 bytes with a %zu-byte buffer: %d brecv calls, intact, then EPIPE, tcp_close 0",
			   k, calls);
		else
			fail("%zu-byte buffer: got %zu (%s, %s), end %s, close %s", k, got,
			     rc ? en(err) : "ok", good ? "intact" : "corrupt",
			     erc ? en(eerr) : "more data", crc ? en(errno) : "0");
	}
	/* All or nothing: asking for more than comes before the FIN is EPIPE. */
	int s = dial_pattern(5000, 110);
	if (s < 0)
		return;
	uint8_t buf[3000];
	int rc1 = brecv(s, buf, 3000, now() + 5000);
	int rc2 = brecv(s, buf, 3000, now() + 5000);
	int e2 = errno;
	if (rc1 == 0 && rc2 == -1 && e2 == EPIPE)
		ok("3000 + 3000 of 5000 bytes: the second brecv -> EPIPE (no partial count)");
	else
		fail("3000 + 3000 of 5000: %d, %d (%s)", rc1, rc2, en(e2));
	hclose(s);
}

/* ---- hclose is close(2)-like; tcp_close at its deadline; a peer's RST ---- */

static int t_close_deadline(char *msg, size_t len)
{
	/* The sink never sends its FIN: tcp_close sends ours, waits for
	 * theirs until the deadline, and releases the handle anyway. */
	int s = dial(P_SINK);
	if (s < 0)
		return snprintf(msg, len, "no connection"), -1;
	int64_t dl = now() + 300;
	int rc = tcp_close(s, dl);
	int err = errno;
	int64_t t = now_us();
	int v = late_verdict(rc, err, dl, t, msg, len);
	if (v >= 0 && hclose(s) != -1) {
		snprintf(msg, len, "the handle was still open after tcp_close failed");
		v = -1;
	}
	return v;
}

static void case_close(void)
{
	/* hclose right after bsend: the bytes and a FIN still reach the
	 * peer, from the daemon, after the handle is gone. */
	int s = dial_pattern(0, 200);
	if (s >= 0) {
		uint8_t buf[3000];
		fill_pattern(buf, sizeof(buf), 0);
		int rc = bsend(s, buf, sizeof(buf), now() + 2000);
		int hr = hclose(s);
		int64_t got = query_tag(200);
		if (rc == 0 && hr == 0 && got == 3000)
			ok("bsend 3000 bytes then hclose at once: the kernel peer got all 3000 and a FIN");
		else
			fail("bsend then hclose: bsend %d, hclose %d, the kernel peer recorded %lld", rc,
			     hr, (long long)got);
	}
	/* hclose with input never read: a RST, so the peer knows. */
	s = dial_pattern(5000, 201);
	if (s >= 0) {
		msleep(now() + 300);      /* the 5000 bytes arrive, unread */
		uint8_t buf[100];
		fill_pattern(buf, sizeof(buf), 0);
		int rc = bsend(s, buf, sizeof(buf), now() + 2000);
		msleep(now() + 100);
		int hr = hclose(s);
		int64_t got = query_tag(201);
		if (rc == 0 && hr == 0 && got == -4)
			ok("hclose with unread input: the kernel peer got a RST");
		else
			fail("hclose with unread input: bsend %d, hclose %d, the kernel peer recorded %lld"
			     " (-4 means reset)", rc, hr, (long long)got);
	}
	timing_case("tcp_close to a peer that never sends its FIN, deadline now+300 (handle released)",
		    t_close_deadline);
	/* A peer that resets: ECONNRESET in both directions. */
	s = dial(P_RESET);
	if (s >= 0) {
		char c;
		expect_err(brecv(s, &c, 1, now() + 5000), ECONNRESET, "brecv when the peer resets");
		expect_err(bsend(s, "x", 1, now() + 2000), ECONNRESET, "bsend after the peer's RST");
		expect_err(tcp_close(s, now() + 2000), ECONNRESET, "tcp_close after the peer's RST");
		expect_err(hclose(s), EBADF, "the handle is released by that tcp_close");
	}
}

/* ---- tcp_close after a failed call: ECONNRESET at once (libdill) --------- */

static void case_closefail(void)
{
	/* A send that timed out (the sink never reads): the stream is cut,
	 * so tcp_close does no handshake and fails with ECONNRESET at once,
	 * where it used to wait for a FIN the sink never sends. */
	int s = dial(P_SINK);
	if (s >= 0) {
		size_t big = 8u << 20;
		void *buf = calloc(1, big);
		int rc = bsend(s, buf, big, now() + 300);
		int e = errno;
		free(buf);
		if (rc == -1 && e == ETIMEDOUT)
			ok("bsend of 8 MiB to a sink that never reads -> ETIMEDOUT");
		else
			fail("bsend of 8 MiB to the sink -> %s", rc ? en(e) : "success");
		int64_t t0 = now_us();
		rc = tcp_close(s, now() + 3000);
		e = errno;
		double el = (double)(now_us() - t0) / 1000.0;
		if (rc == -1 && e == ECONNRESET && el < 500)
			ok("tcp_close after that failed bsend -> ECONNRESET in %.1f ms", el);
		else
			fail("tcp_close after a failed bsend -> %s in %.1f ms (want ECONNRESET at once)",
			     rc ? en(e) : "0", el);
		expect_err(hclose(s), EBADF, "the handle is released by that tcp_close");
	}
	/* A receive that timed out (deadline 0, the echo has nothing):
	 * even though the echo peer would answer our FIN with its own. */
	s = dial(P_ECHO);
	if (s >= 0) {
		char c;
		expect_err(brecv(s, &c, 1, 0), ETIMEDOUT, "brecv with deadline 0 on a quiet echo");
		expect_err(tcp_close(s, now() + 3000), ECONNRESET, "tcp_close after that brecv");
		expect_err(hclose(s), EBADF, "the handle is released by that tcp_close");
	}
	/* EINVAL and EPIPE are not failures: a clean close still returns 0. */
	s = dial(P_ECHO);
	if (s >= 0) {
		expect_err(bsendl(s, NULL, NULL, now() + 1000), EINVAL, "bsendl(NULL, NULL)");
		int d = tcp_done(s, now() + 1000);
		expect_err(bsend(s, "x", 1, now() + 1000), EPIPE, "bsend after tcp_done");
		if (d == 0 && tcp_close(s, now() + 5000) == 0)
			ok("tcp_close after EINVAL and EPIPE returns 0");
		else
			fail("tcp_close after EINVAL and EPIPE -> %s", en(errno));
	}
}

/* ---- iolists -------------------------------------------------------------- */

static void case_iolist(void)
{
	int s = dial(P_ECHO);
	if (s < 0)
		return;
	char x[4] = "abc", y[4] = "def", z[4] = "ghi";
	struct iolist c3 = { z, 3, NULL, 0 };
	struct iolist c2 = { y, 3, &c3, 0 };
	struct iolist c1 = { x, 3, &c2, 0 };
	struct iolist lone = { x, 3, NULL, 0 };
	expect_err(bsendl(s, NULL, &c3, now() + 1000), EINVAL, "bsendl(first NULL)");
	expect_err(bsendl(s, &c1, NULL, now() + 1000), EINVAL, "bsendl(last NULL)");
	expect_err(brecvl(s, NULL, &c3, now() + 1000), EINVAL, "brecvl(first NULL)");
	expect_err(brecvl(s, &c1, NULL, now() + 1000), EINVAL, "brecvl(last NULL)");
	expect_err(bsendl(s, &c1, &lone, now() + 1000), EINVAL, "bsendl(last not reachable)");
	expect_err(brecvl(s, &c1, &lone, now() + 1000), EINVAL, "brecvl(last not reachable)");
	/* A loop that never reaches last. */
	struct iolist l2 = { y, 3, NULL, 0 };
	struct iolist l1 = { x, 3, &l2, 0 };
	l2.iol_next = &l1;
	expect_err(bsendl(s, &l1, &lone, now() + 1000), EINVAL, "bsendl(cycle)");
	expect_err(brecvl(s, &l1, &lone, now() + 1000), EINVAL, "brecvl(cycle)");
	c2.iol_rsvd = 1;
	expect_err(bsendl(s, &c1, &c3, now() + 1000), EINVAL, "bsendl(iol_rsvd 1)");
	expect_err(brecvl(s, &c1, &c3, now() + 1000), EINVAL, "brecvl(iol_rsvd 1)");
	c2.iol_rsvd = 0;
	expect_err(bsend(s, NULL, 5, now() + 1000), EINVAL, "bsend(NULL, 5)");
	/* EINVAL moved nothing, so both directions still work. */
	char w[5] = "jklm";
	struct iolist c4 = { w, 4, NULL, 0 };
	c3.iol_next = &c4;
	if (bsendl(s, &c1, &c4, now() + 2000) == 0)
		ok("bsendl of 4 pieces after the EINVALs");
	else
		fail("bsendl of 4 pieces -> %s", en(errno));
	/* 13 bytes "abcdefghijklm": keep 2, skip 4 (NULL), keep 3, skip 4
	 * with brecv(NULL). */
	char r1[2], r2[3];
	struct iolist q3 = { r2, 3, NULL, 0 };
	struct iolist q2 = { NULL, 4, &q3, 0 };
	struct iolist q1 = { r1, 2, &q2, 0 };
	int rc = brecvl(s, &q1, &q3, now() + 5000);
	if (rc == 0 && memcmp(r1, "ab", 2) == 0 && memcmp(r2, "ghi", 3) == 0)
		ok("brecvl with a NULL element skips 4 bytes (\"ab\" + \"ghi\")");
	else
		fail("brecvl with a NULL element -> %s (%.2s %.3s)", rc ? en(errno) : "ok", r1, r2);
	char last;
	rc = brecv(s, NULL, 3, now() + 5000);
	int rc2 = rc == 0 ? brecv(s, &last, 1, now() + 5000) : -1;
	if (rc == 0 && rc2 == 0 && last == 'm')
		ok("brecv(NULL, 3) skips 3 bytes, then 'm'");
	else
		fail("brecv(NULL, 3) -> %s, then %c", rc ? en(errno) : "ok", rc2 == 0 ? last : '?');
	/* libdill's rules: last must end the chain, and an empty list
	 * (NULL, NULL) is not a list. */
	c2.iol_next = &c3;
	expect_err(bsendl(s, &c1, &c2, now() + 1000), EINVAL, "bsendl(last->iol_next not NULL)");
	expect_err(brecvl(s, &q1, &q1, now() + 1000), EINVAL, "brecvl(last->iol_next not NULL)");
	expect_err(bsendl(s, NULL, NULL, now() + 1000), EINVAL, "bsendl(NULL, NULL)");
	expect_err(brecvl(s, NULL, NULL, now() + 1000), EINVAL, "brecvl(NULL, NULL)");
	/* None of them sent a byte: the echo returns only "xyz". */
	if (bsend(s, "xyz", 3, now() + 2000) == 0 && brecv(s, r2, 3, now() + 5000) == 0 &&
	    memcmp(r2, "xyz", 3) == 0)
		ok("after those EINVALs the stream holds only the next bsend's bytes");
	else
		fail("bsend/brecv after the list EINVALs -> %s", en(errno));
	if (tcp_close(s, now() + 5000) == 0)
		ok("tcp_close returns 0 (nothing extra was sent)");
	else
		fail("tcp_close -> %s", en(errno));
}

/* ---- documented errnos ------------------------------------------------------ */

struct blocker {
	int h;
	int kind;       /* 0 brecv, 1 tcp_accept, 2 bsend */
	int rc, err;
	volatile int started;
};

static void *block_thread(void *p)
{
	struct blocker *b = p;
	b->started = 1;
	if (b->kind == 0) {
		char c;
		b->rc = brecv(b->h, &c, 1, now() + 10000);
	} else if (b->kind == 1) {
		b->rc = tcp_accept(b->h, NULL, now() + 10000);
	} else {
		size_t big = 8u << 20;
		void *buf = calloc(1, big);
		b->rc = bsend(b->h, buf, big, now() + 10000);
		free(buf);
	}
	b->err = errno;
	return NULL;
}

static void cancel_one(const char *what, int h, int kind, int busy_check)
{
	struct blocker b = { .h = h, .kind = kind };
	pthread_t t;
	pthread_create(&t, NULL, block_thread, &b);
	msleep(now() + 300);
	if (busy_check && kind == 0) {
		char c;
		expect_err(brecv(h, &c, 1, now() + 500), EBUSY,
			   "a second thread receiving on the same handle");
	} else if (busy_check && kind == 2) {
		expect_err(bsend(h, "x", 1, now() + 500), EBUSY,
			   "a second thread sending on the same handle");
	}
	int64_t t0 = now_us();
	int hr = hclose(h);
	pthread_join(t, NULL);
	double el = (double)(now_us() - t0) / 1000.0;
	if (hr == 0 && b.rc == -1 && b.err == ECANCELED)
		ok("%s blocked in another thread, hclose -> ECANCELED (%.1f ms)", what, el);
	else
		fail("%s, hclose %d: the blocked call returned %d (%s)", what, hr, b.rc, en(b.err));
	if (b.rc >= 0 && kind == 1)
		hclose(b.rc);
}

static void case_errno(void)
{
	struct ipaddr a;

	/* ECONNREFUSED: the kernel answers the SYN with a RST. */
	addr_of(&a, kernel_ip, P_REFUSED);
	int s = tcp_connect(&a, now() + 5000);
	expect_err(s, ECONNREFUSED, "tcp_connect to a kernel port nobody listens on");
	if (s >= 0)
		hclose(s);

	/* Nobody answers ARP: EHOSTUNREACH once ARP gives up (three requests
	 * a second apart), long before this deadline.  Another address than
	 * the timing case's, whose failure the ARP cache may still hold. */
	char ub[32];
	struct in_addr ua;
	inet_pton(AF_INET, unreach_ip, &ua);
	ua.s_addr = htonl(ntohl(ua.s_addr) + 1);
	inet_ntop(AF_INET, &ua, ub, sizeof(ub));
	addr_of(&a, ub, P_ECHO);
	int64_t t0 = now_us();
	s = tcp_connect(&a, now() + 10000);
	int err = errno;
	double el = (double)(now_us() - t0) / 1000.0;
	if (s == -1 && err == EHOSTUNREACH)
		ok("tcp_connect to %s (no ARP answer) -> %s after %.0f ms", ub, en(err), el);
	else
		fail("tcp_connect to %s -> %s", ub, s >= 0 ? "success" : en(err));
	if (s >= 0)
		hclose(s);

	/* EINVAL */
	expect_err(tcp_connect(NULL, now() + 1000), EINVAL, "tcp_connect(NULL)");
	addr_of(&a, kernel_ip, 0);
	expect_err(tcp_connect(&a, now() + 1000), EINVAL, "tcp_connect to port 0");
	struct ipaddr v6;
	if (ipaddr_local(&v6, "::1", 7001, IPADDR_IPV6) == 0) {
		expect_err(tcp_connect(&v6, now() + 1000), EINVAL, "tcp_connect to an IPv6 address");
		expect_err(tcp_listen(&v6, 8), EINVAL, "tcp_listen on an IPv6 address");
	} else {
		fail("ipaddr_local(\"::1\") -> %s", en(errno));
	}
	expect_err(tcp_listen(NULL, 8), EINVAL, "tcp_listen(NULL)");
	addr_of(&a, kernel_ip, P_ECHO);
	expect_err(tcp_connect_mem(&a, NULL, now() + 1000), EINVAL, "tcp_connect_mem(mem NULL)");
	expect_err(ipaddr_local(&a, NULL, 70000, 0), EINVAL, "ipaddr_local(port 70000)");
	/* Not an address literal: libdill then tries it as an interface name. */
	int r = ipaddr_local(&a, "198.18.0.300", 80, IPADDR_IPV4);
	err = errno;
	if (r == -1 && (err == EINVAL || err == ENODEV))
		ok("ipaddr_local(\"198.18.0.300\") -> %s", en(err));
	else
		fail("ipaddr_local(\"198.18.0.300\") -> %s", r ? en(err) : "success");

	/* EBADF */
	expect_err(bsend(123456, "x", 1, now() + 1000), EBADF, "bsend on a number that is no handle");
	expect_err(brecv(-1, ub, 1, now() + 1000), EBADF, "brecv(-1)");
	expect_err(tcp_accept(123456, NULL, now() + 1000), EBADF, "tcp_accept on no handle");
	expect_err(tcp_close(123456, now() + 1000), EBADF, "tcp_close on no handle");
	expect_err(tcp_done(123456, now() + 1000), EBADF, "tcp_done on no handle");
	struct ipaddr la;
	ipaddr_local(&la, NULL, 0, IPADDR_IPV4);
	int l = tcp_listen(&la, 8);
	if (l >= 0) {
		hclose(l);
		expect_err(hclose(l), EBADF, "hclose of a closed handle");
		expect_err(tcp_accept(l, NULL, now() + 1000), EBADF, "tcp_accept on a closed listener");
	}

	/* ENOTSUP: a handle of another kind. */
	ipaddr_local(&la, NULL, 0, IPADDR_IPV4);
	l = tcp_listen(&la, 8);
	int c = dial(P_ECHO);
	int p[2] = { -1, -1 };
	if (l >= 0 && c >= 0 && ipc_pair(p) == 0) {
		expect_err(bsend(l, "x", 1, now() + 1000), ENOTSUP, "bsend on a listener");
		expect_err(brecv(l, ub, 1, now() + 1000), ENOTSUP, "brecv on a listener");
		expect_err(tcp_done(l, now() + 1000), ENOTSUP, "tcp_done on a listener");
		expect_err(tcp_accept(c, NULL, now() + 1000), ENOTSUP, "tcp_accept on a connection");
		expect_err(tcp_accept(p[0], NULL, now() + 1000), ENOTSUP, "tcp_accept on an IPC handle");
		expect_err(tcp_done(p[0], now() + 1000), ENOTSUP, "tcp_done on an IPC handle");
		expect_err(tcp_close(p[0], now() + 1000), ENOTSUP, "tcp_close on an IPC handle");
		/* tcp_close left the IPC handle open. */
		if (bsend(p[0], "k", 1, now() + 1000) == 0 && brecv(p[1], ub, 1, now() + 1000) == 0)
			ok("the IPC handle still works after tcp_close refused it");
		else
			fail("the IPC handle after tcp_close -> %s", en(errno));
		/* The connection is unharmed by those calls. */
		if (bsend(c, "ok", 2, now() + 1000) == 0 && brecv(c, ub, 2, now() + 5000) == 0 &&
		    tcp_close(c, now() + 5000) == 0)
			ok("the connection works after the ENOTSUP calls; tcp_close 0");
		else
			fail("the connection after ENOTSUP calls -> %s", en(errno));
		c = -1;
	} else {
		fail("set-up for ENOTSUP: listener %d, connection %d, ipc_pair %s", l, c, en(errno));
	}
	if (p[0] >= 0) {
		hclose(p[0]);
		hclose(p[1]);
	}
	if (c >= 0)
		hclose(c);
	if (l >= 0)
		hclose(l);

	/* ECANCELED (and EBUSY): another thread closes the handle. */
	c = dial(P_ECHO);
	if (c >= 0)
		cancel_one("brecv", c, 0, 1);
	ipaddr_local(&la, NULL, 0, IPADDR_IPV4);
	l = tcp_listen(&la, 8);
	if (l >= 0)
		cancel_one("tcp_accept", l, 1, 0);
	c = dial(P_SINK);
	if (c >= 0)
		cancel_one("bsend of 8 MiB to a peer that never reads", c, 2, 1);
}

/* ---- dillnet_shutdown (last: the library stays shut down) ---------------- */

static void case_shutdown(void)
{
	int c = dial(P_ECHO);
	struct ipaddr la;
	ipaddr_local(&la, NULL, 0, IPADDR_IPV4);
	int l = tcp_listen(&la, 8);
	if (c < 0 || l < 0) {
		fail("set-up: connection %d, listener %d", c, l);
		return;
	}
	struct blocker b1 = { .h = c, .kind = 0 }, b2 = { .h = l, .kind = 1 };
	pthread_t t1, t2;
	pthread_create(&t1, NULL, block_thread, &b1);
	pthread_create(&t2, NULL, block_thread, &b2);
	msleep(now() + 300);
	dillnet_shutdown();
	pthread_join(t1, NULL);
	pthread_join(t2, NULL);
	if (b1.rc == -1 && b1.err == ECANCELED && b2.rc == -1 && b2.err == ECANCELED)
		ok("dillnet_shutdown cancels a blocked brecv and a blocked tcp_accept (ECANCELED)");
	else
		fail("dillnet_shutdown: brecv %d (%s), tcp_accept %d (%s)", b1.rc, en(b1.err), b2.rc,
		     en(b2.err));
	struct ipaddr e;
	addr_of(&e, kernel_ip, P_ECHO);
	expect_err(tcp_connect(&e, now() + 1000), ECANCELED, "tcp_connect after dillnet_shutdown");
	ipaddr_local(&la, NULL, 0, IPADDR_IPV4);
	expect_err(tcp_listen(&la, 8), ECANCELED, "tcp_listen after dillnet_shutdown");
	int h = hclose(c);
	if (h == -1 && (errno == ECANCELED || errno == EBADF))
		ok("hclose after dillnet_shutdown -> %s (the handle is gone)", en(errno));
	else
		fail("hclose after dillnet_shutdown -> %s", h ? en(errno) : "success");
}

/* ---- main ------------------------------------------------------------------ */

struct tcase {
	const char *name;
	void (*fn)(void);
};

static const struct tcase cases[] = {
	/* emfile first: it needs the app to have no socket at all. */
	{ "emfile", case_emfile },
	{ "port0", case_port0 },
	{ "deadline", case_deadline },
	{ "deadline0", case_deadline0 },
	{ "exchange", case_exchange },
	{ "accept", case_accept_side },
	{ "halfclose", case_halfclose },
	{ "bufsizes", case_bufsizes },
	{ "backpressure", case_backpressure },
	{ "close", case_close },
	{ "closefail", case_closefail },
	{ "iolist", case_iolist },
	{ "errno", case_errno },
	/* epoll last: dillnet_pollfd switches the library into event-loop
	 * mode for good, and every case before runs in plain blocking mode,
	 * the common one. */
	{ "epoll", case_epoll },
	{ "shutdown", case_shutdown },
};

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc < 5) {
		fprintf(stderr, "usage: conformance KERNEL_IP DAEMON_IP UNREACH_IP MAX_SOCKETS [CASE...]\n");
		return 2;
	}
	kernel_ip = argv[1];
	daemon_ip = argv[2];
	unreach_ip = argv[3];
	max_sockets = atoi(argv[4]);
	/* The contract is for unprivileged apps; say what this one is. */
	printf("# running as uid %d gid %d\n", (int)getuid(), (int)getgid());
	signal(SIGALRM, on_alarm);
	signal(SIGPIPE, SIG_IGN);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int want = argc == 5;
		for (int j = 5; j < argc; j++)
			if (strcmp(argv[j], cases[i].name) == 0)
				want = 1;
		if (!want)
			continue;
		cur_case = cases[i].name;
		int64_t t0 = now();
		alarm(CASE_ALARM_S);
		cases[i].fn();
		alarm(0);
		printf("# %s: %lld ms\n", cur_case, (long long)(now() - t0));
	}
	printf("conformance: %d passed, %d failed\n", npass, nfail);
	return nfail ? 1 : 0;
}
