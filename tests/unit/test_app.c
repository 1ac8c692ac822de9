/* Unit tests for daemon/app.c: a real listening SOCK_SEQPACKET socket in a
 * temp dir, clients in the same process, the event loop pumped by hand.
 * The daemon's log (stderr) is captured to a file so log lines can be
 * checked. */
#include "app.h"

#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

struct afx {
	char dir[64];
	char path[108];
	char logpath[96];
	int lfd;
	int saved_stderr;
	struct dn_evloop *ev;
	struct dn_apps *m;
	struct dn_log log;
	struct dn_app_conf conf;
	uint32_t uids[2], gids[2];
	int detached;
	int rescans;
	int commands;
	int listen_calls;
};

static int h_listen(void *ctx, struct dn_app *a, const void *req, uint32_t len,
		    void *out, size_t cap, uint32_t *out_len)
{
	struct afx *f = ctx;
	struct dn_tcp_listen_req rq;
	struct dn_tcp_sock_rep rep = { .sock = 11, .slot = DN_SLOT_NONE };
	ck_assert_uint_eq(len, sizeof(rq));
	ck_assert_uint_ge(cap, sizeof(rep));
	ck_assert(a->attached);
	memcpy(&rq, req, sizeof(rq));
	f->listen_calls++;
	if (rq.port == 1)
		return EADDRINUSE;
	if (rq.port == 2) {
		*out_len = 3;        /* a buggy handler: reply of the wrong size */
		return 0;
	}
	rep.local_port = rq.port ? rq.port : 40000;
	memcpy(out, &rep, sizeof(rep));
	*out_len = sizeof(rep);
	return 0;
}

static int h_command(void *ctx, struct dn_app *a, const struct dn_cmd *c)
{
	struct afx *f = ctx;
	(void)a;
	f->commands++;
	return c->sock == 666 ? EBADF : 0;
}

static void h_rescan(void *ctx, struct dn_app *a)
{
	struct afx *f = ctx;
	ck_assert(a->attached);
	f->rescans++;
}

static void h_detach(void *ctx, struct dn_app *a)
{
	struct afx *f = ctx;
	ck_assert(a->attached);
	f->detached++;
}

static const struct dn_app_handler_entry handlers[] = {
	{ DN_MSG_TCP_LISTEN, h_listen },
};

/* Build the fixture; policy lists are set by the caller via f->conf
 * before afx_open, defaults otherwise. */
static void afx_init(struct afx *f)
{
	memset(f, 0, sizeof(*f));
	snprintf(f->dir, sizeof(f->dir), "/tmp/dn-test-app.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(f->dir));
	snprintf(f->path, sizeof(f->path), "%s/app.sock", f->dir);
	snprintf(f->logpath, sizeof(f->logpath), "%s/log", f->dir);
	f->conf.slots = 4;
	f->conf.rx_size = 4096;
	f->conf.tx_size = 8192;
	f->conf.max_apps = 4;
	f->conf.handlers = handlers;
	f->conf.nhandlers = 1;
	f->conf.on_command = h_command;
	f->conf.on_detach = h_detach;
	f->conf.on_rescan = h_rescan;
	f->conf.ctx = f;
}

static void afx_open(struct afx *f)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", f->path);
	f->lfd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	ck_assert_int_ge(f->lfd, 0);
	ck_assert_int_eq(bind(f->lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	ck_assert_int_eq(listen(f->lfd, 16), 0);

	fflush(stderr);
	f->saved_stderr = dup(2);
	int lf = open(f->logpath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	ck_assert_int_ge(lf, 0);
	dup2(lf, 2);
	close(lf);
	dn_log_init(&f->log, DN_LOG_DEBUG);
	f->log.to_journal = 0;
	f->conf.log = &f->log;
	f->conf.listen_fd = f->lfd;
	f->ev = dn_evloop_new();
	ck_assert_ptr_nonnull(f->ev);
	f->m = dn_apps_open(&f->conf, f->ev);
	ck_assert_ptr_nonnull(f->m);
}

static void afx_close(struct afx *f)
{
	dn_apps_close(f->m);
	dn_evloop_free(f->ev);
	close(f->lfd);
	fflush(stderr);
	dup2(f->saved_stderr, 2);
	close(f->saved_stderr);
	unlink(f->path);
	unlink(f->logpath);
	rmdir(f->dir);
}

/* The whole log so far, NUL-terminated (static buffer per call site is
 * not needed: the caller frees). */
static char *log_text(struct afx *f)
{
	fflush(stderr);
	FILE *fp = fopen(f->logpath, "r");
	ck_assert_ptr_nonnull(fp);
	char *buf = calloc(1, 65536);
	ck_assert_ptr_nonnull(buf);
	size_t n = fread(buf, 1, 65535, fp);
	buf[n] = '\0';
	fclose(fp);
	return buf;
}

static void assert_log_has(struct afx *f, const char *needle)
{
	char *t = log_text(f);
	ck_assert_msg(strstr(t, needle) != NULL, "log lacks '%s'; log is:\n%s", needle, t);
	free(t);
}

static void pump(struct afx *f, int rounds)
{
	for (int i = 0; i < rounds; i++)
		dn_evloop_run_once(f->ev, 1);
}

static int cli_connect(struct afx *f)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", f->path);
	int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	pump(f, 2);  /* accept */
	return fd;
}

static void cli_send(int fd, uint16_t type, uint32_t req_id, const void *pl, uint32_t len)
{
	uint8_t buf[sizeof(struct dn_msg_hdr) + 512];
	struct dn_msg_hdr h;
	ck_assert_uint_le(len, 512);
	dn_msg_hdr_init(&h, type, 0, len, req_id, 0);
	memcpy(buf, &h, sizeof(h));
	if (len)
		memcpy(buf + sizeof(h), pl, len);
	ck_assert_int_eq(send(fd, buf, sizeof(h) + len, MSG_NOSIGNAL), (ssize_t)(sizeof(h) + len));
}

/* Wait (pumping the daemon) for one frame; returns its length, 0 on EOF.
 * Received fds go to fds[] (up to *nfds, count written back). */
static ssize_t cli_recv(struct afx *f, int fd, void *buf, size_t cap, int *fds, int *nfds)
{
	for (int i = 0; i < 500; i++) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		if (poll(&p, 1, 0) == 1) {
			union {
				char b[CMSG_SPACE(sizeof(int) * 8)];
				struct cmsghdr al;
			} cb;
			struct iovec iov = { .iov_base = buf, .iov_len = cap };
			struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1,
					     .msg_control = cb.b, .msg_controllen = sizeof(cb.b) };
			ssize_t n = recvmsg(fd, &mh, MSG_CMSG_CLOEXEC);
			int got = 0;
			for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c))
				if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
					got = (int)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
					if (fds)
						memcpy(fds, CMSG_DATA(c), sizeof(int) * (size_t)got);
				}
			if (nfds)
				*nfds = got;
			return n < 0 ? 0 : n;
		}
		dn_evloop_run_once(f->ev, 2);
	}
	ck_abort_msg("no reply from the app manager");
	return -1;
}

/* Request/reply; returns the reply's result, payload copied to rep. */
static uint32_t cli_call(struct afx *f, int fd, uint16_t type, const void *pl, uint32_t len,
			 void *rep, uint32_t rep_len, int *fds, int *nfds)
{
	static const uint32_t req_id = 77;
	uint8_t buf[DN_MSG_MAX];
	struct dn_msg_hdr h;
	cli_send(fd, type, req_id, pl, len);
	ssize_t n = cli_recv(f, fd, buf, sizeof(buf), fds, nfds);
	ck_assert_msg(n > 0, "connection closed instead of a %s reply", dn_msg_type_name(type));
	ck_assert_int_eq(dn_msg_check(buf, (size_t)n, 1, &h), 0);
	ck_assert_uint_eq(h.type, type);
	ck_assert_uint_eq(h.req_id, req_id);
	ck_assert(h.flags & DN_MSG_F_REPLY);
	if (h.result == 0 && rep) {
		ck_assert_uint_eq(h.len, rep_len);
		memcpy(rep, buf + sizeof(h), rep_len);
	}
	return h.result;
}

static void cli_hello(struct afx *f, int fd)
{
	struct dn_msg_hello hello, rep;
	dn_msg_hello_init(&hello, "unit-app");
	ck_assert_uint_eq(cli_call(f, fd, DN_MSG_HELLO, &hello, sizeof(hello), &rep,
				   sizeof(rep), NULL, NULL), 0);
	ck_assert_str_eq(rep.name, "dillnetd");
	ck_assert_uint_eq(rep.major, DN_PROTO_MAJOR);
}

struct cli_region {
	struct dn_app_attach_rep rep;
	int memfd, app_efd, dmn_efd;
	void *base;
	struct dn_region v;
};

static void cli_attach(struct afx *f, int fd, struct cli_region *r)
{
	struct dn_app_attach_req rq = { 0 };
	int fds[8], nfds = 0;
	ck_assert_uint_eq(cli_call(f, fd, DN_MSG_APP_ATTACH, &rq, sizeof(rq), &r->rep,
				   sizeof(r->rep), fds, &nfds), 0);
	ck_assert_int_eq(nfds, DN_ATTACH_NFDS);
	ck_assert_uint_eq(r->rep.nfds, DN_ATTACH_NFDS);
	r->memfd = fds[0];
	r->app_efd = fds[1];
	r->dmn_efd = fds[2];
	r->base = mmap(NULL, r->rep.region_size, PROT_READ | PROT_WRITE, MAP_SHARED, r->memfd, 0);
	ck_assert_ptr_ne(r->base, MAP_FAILED);
	ck_assert_int_eq(dn_region_attach(&r->v, r->base, r->rep.region_size), 0);
}

static void cli_region_free(struct cli_region *r)
{
	munmap(r->base, r->rep.region_size);
	close(r->memfd);
	close(r->app_efd);
	close(r->dmn_efd);
}

/* EOF seen by the client: the daemon hung up. */
static void assert_hung_up(struct afx *f, int fd)
{
	uint8_t buf[DN_MSG_MAX];
	ssize_t n;
	/* Drain replies sent before the hang-up. */
	while ((n = cli_recv(f, fd, buf, sizeof(buf), NULL, NULL)) > 0)
		;
	ck_assert_int_eq(n, 0);
}

START_TEST(test_app_hello_attach_region_sealed)
{
	struct afx f;
	struct cli_region r;
	afx_init(&f);
	afx_open(&f);
	int fd = cli_connect(&f);
	ck_assert_uint_eq(dn_apps_count(f.m), 1);
	cli_hello(&f, fd);
	cli_attach(&f, fd, &r);
	ck_assert_uint_eq(dn_apps_attached(f.m), 1);
	ck_assert_uint_eq(r.rep.nslots, 4);
	ck_assert_uint_eq(r.rep.rx_size, 4096);
	ck_assert_uint_eq(r.rep.tx_size, 8192);
	ck_assert_uint_eq(r.rep.layout_version, DN_REGION_VERSION);
	ck_assert_uint_eq(r.v.l.nslots, 4);
	/* Sealed: the app can neither shrink nor grow it, nor unseal. */
	int seals = fcntl(r.memfd, F_GET_SEALS);
	ck_assert_int_eq(seals & (F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL),
			 F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL);
	ck_assert_int_eq(ftruncate(r.memfd, 4096), -1);
	ck_assert_int_eq(errno, EPERM);
	ck_assert_int_eq(ftruncate(r.memfd, (off_t)r.rep.region_size * 2), -1);
	/* The daemon's view is the same memory. */
	struct dn_app *a = dn_apps_get(f.m, 0);
	ck_assert_ptr_nonnull(a);
	ck_assert_int_eq(a->pid, getpid());
	ck_assert_uint_eq(a->uid, getuid());
	ck_assert_str_eq(a->name, "unit-app");
	ck_assert_uint_eq(a->region.l.total_size, r.rep.region_size);
	/* Control characters in the HELLO name never reach the log. */
	{
		int fd3 = cli_connect(&f);
		struct dn_msg_hello h3, rep3;
		dn_msg_hello_init(&h3, "evil\ndillnetd[err]: forged\x1b[2J");
		ck_assert_uint_eq(cli_call(&f, fd3, DN_MSG_HELLO, &h3, sizeof(h3), &rep3,
					   sizeof(rep3), NULL, NULL), 0);
		struct dn_app *a3 = dn_apps_get(f.m, 1);
		ck_assert_ptr_nonnull(a3);
		ck_assert_str_eq(a3->name, "evil?dillnetd[err]: forged?[2J");
		close(fd3);
		pump(&f, 3);
		ck_assert_uint_eq(dn_apps_count(f.m), 1);
	}
	ck_assert_mem_eq(&a->region.l, &r.v.l, sizeof(r.v.l));
	/* A second attach is refused. */
	struct dn_app_attach_req rq = { 0 };
	ck_assert_uint_eq(cli_call(&f, fd, DN_MSG_APP_ATTACH, &rq, sizeof(rq), NULL, 0, NULL, NULL),
			  EISCONN);
	/* Asking for fewer slots is honoured, more is capped (new app). */
	int fd2 = cli_connect(&f);
	cli_hello(&f, fd2);
	struct dn_app_attach_rep rep2;
	int fds[8], nfds;
	rq.want_slots = 2;
	ck_assert_uint_eq(cli_call(&f, fd2, DN_MSG_APP_ATTACH, &rq, sizeof(rq), &rep2,
				   sizeof(rep2), fds, &nfds), 0);
	ck_assert_uint_eq(rep2.nslots, 2);
	for (int i = 0; i < nfds; i++)
		close(fds[i]);
	close(fd2);
	cli_region_free(&r);
	close(fd);
	afx_close(&f);
}
END_TEST

START_TEST(test_app_nop_roundtrip_with_wakeups)
{
	struct afx f;
	struct cli_region r;
	afx_init(&f);
	afx_open(&f);
	int fd = cli_connect(&f);
	cli_hello(&f, fd);
	cli_attach(&f, fd, &r);

	/* Daemon about to sleep: empty rings, so sleeping is fine. */
	ck_assert_int_eq(dn_apps_prepare_sleep(f.m), 0);
	/* App: will sleep on its event ring too. */
	dn_ring_cons_prepare_sleep(&r.v.evt);
	struct dn_cmd c = { .op = DN_CMD_NOP, .cookie = 0xfeedbeef };
	ck_assert_int_eq(dn_region_cmd_push(&r.v, &c), 1);
	/* The daemon announced sleep: the app must signal it. */
	ck_assert_int_eq(dn_ring_consumer_needs_wakeup(&r.v.cmd), 1);
	uint64_t one = 1;
	ck_assert_int_eq(write(r.dmn_efd, &one, sizeof(one)), 8);
	pump(&f, 3);
	dn_apps_cancel_sleep(f.m);
	/* The eventfd woke the loop; its next pass drains the ring. */
	ck_assert_uint_eq(dn_apps_poll(f.m), 1);
	/* The daemon answered and woke the app through its eventfd. */
	struct pollfd p = { .fd = r.app_efd, .events = POLLIN };
	ck_assert_int_eq(poll(&p, 1, 1000), 1);
	dn_ring_cons_cancel_sleep(&r.v.evt);
	struct dn_evt e;
	ck_assert_int_eq(dn_region_evt_pop(&r.v, &e), 1);
	ck_assert_uint_eq(e.op, DN_EVT_NOP);
	ck_assert_uint_eq(e.cookie, 0xfeedbeef);
	ck_assert_int_eq(f.commands, 0);   /* NOP is the manager's own */

	/* TX/RX go to the TCP layer's hook, polled without a wakeup. */
	c.op = DN_CMD_TX;
	c.sock = 5;
	ck_assert_int_eq(dn_region_cmd_push(&r.v, &c), 1);
	c.op = DN_CMD_RX;
	ck_assert_int_eq(dn_region_cmd_push(&r.v, &c), 1);
	ck_assert_uint_eq(dn_apps_poll(f.m), 2);
	ck_assert_int_eq(f.commands, 2);
	ck_assert_uint_eq(dn_apps_poll(f.m), 0);
	/* Pending commands stop the daemon from sleeping. */
	ck_assert_int_eq(dn_region_cmd_push(&r.v, &c), 1);
	ck_assert_int_eq(dn_apps_prepare_sleep(f.m), 1);
	dn_apps_cancel_sleep(f.m);
	ck_assert_uint_eq(dn_apps_poll(f.m), 1);

	/* A full command ring: the app counts what it dropped, the daemon
	 * rescans once per change. */
	uint32_t cap = r.v.l.cmd_size / sizeof(c);
	for (uint32_t i = 0; i < cap; i++)
		ck_assert_int_eq(dn_region_cmd_push(&r.v, &c), 1);
	ck_assert_int_eq(dn_region_cmd_push(&r.v, &c), 0);
	ck_assert_int_eq(f.rescans, 0);
	/* At most the per-app budget per pass. */
	uint32_t got = 0, passes = 0;
	for (unsigned k; (k = dn_apps_poll(f.m)) != 0; passes++) {
		ck_assert_uint_le(k, DN_APPS_CMD_BUDGET);
		got += k;
	}
	ck_assert_uint_eq(got, cap);
	ck_assert_uint_eq(passes, (cap + DN_APPS_CMD_BUDGET - 1) / DN_APPS_CMD_BUDGET);
	ck_assert_int_eq(f.rescans, 1);
	ck_assert_uint_eq(dn_apps_poll(f.m), 0);
	ck_assert_int_eq(f.rescans, 1);

	cli_region_free(&r);
	close(fd);
	afx_close(&f);
}
END_TEST

START_TEST(test_app_policy_refuses_with_eacces_and_logs)
{
	struct afx f;
	char want[64];
	afx_init(&f);
	f.uids[0] = getuid() + 1;
	f.gids[0] = 3999999;
	f.conf.allowed_uids = f.uids;
	f.conf.n_uids = 1;
	f.conf.allowed_gids = f.gids;
	f.conf.n_gids = 1;
	afx_open(&f);
	/* HELLO already sent when the daemon accepts: that request is
	 * answered, and the connection closed at once. */
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", f.path);
	int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	ck_assert_int_eq(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	struct dn_msg_hello hello;
	dn_msg_hello_init(&hello, "intruder");
	ck_assert_uint_eq(cli_call(&f, fd, DN_MSG_HELLO, &hello, sizeof(hello), NULL, 0, NULL, NULL),
			  EACCES);
	assert_hung_up(&f, fd);
	ck_assert_uint_eq(dn_apps_count(f.m), 0);
	close(fd);
	/* Silent: answered with the library's HELLO id and closed, never
	 * holding a place. */
	fd = cli_connect(&f);
	ck_assert_uint_eq(dn_apps_count(f.m), 0);
	{
		uint8_t buf[256];
		struct dn_msg_hdr h;
		ck_assert_int_eq(cli_recv(&f, fd, buf, sizeof(buf), NULL, NULL), (ssize_t)sizeof(h));
		ck_assert_int_eq(dn_msg_check(buf, sizeof(h), 1, &h), 0);
		ck_assert_uint_eq(h.type, DN_MSG_HELLO);
		ck_assert_uint_eq(h.req_id, 1);
		ck_assert_uint_eq(h.result, EACCES);
	}
	assert_hung_up(&f, fd);
	snprintf(want, sizeof(want), "pid %d uid %u", (int)getpid(), (unsigned)getuid());
	assert_log_has(&f, want);
	assert_log_has(&f, "not allowed by policy");
	ck_assert_int_eq(f.detached, 0);
	close(fd);
	afx_close(&f);
}
END_TEST

START_TEST(test_app_policy_allows_listed_uid_or_gid)
{
	struct afx f;
	afx_init(&f);
	f.uids[0] = 3999998;
	f.uids[1] = getuid();
	f.conf.allowed_uids = f.uids;
	f.conf.n_uids = 2;
	afx_open(&f);
	int fd = cli_connect(&f);
	cli_hello(&f, fd);
	close(fd);
	afx_close(&f);

	afx_init(&f);
	f.gids[0] = getgid();
	f.conf.allowed_gids = f.gids;
	f.conf.n_gids = 1;
	afx_open(&f);
	fd = cli_connect(&f);
	cli_hello(&f, fd);
	close(fd);
	afx_close(&f);
}
END_TEST

START_TEST(test_app_hello_version_mismatch)
{
	struct afx f;
	char want[64];
	afx_init(&f);
	afx_open(&f);
	int fd = cli_connect(&f);
	struct dn_msg_hello hello, rep;
	dn_msg_hello_init(&hello, "future-app");
	hello.major = DN_PROTO_MAJOR + 1;
	/* The daemon answers with its own version, then hangs up. */
	ck_assert_uint_eq(cli_call(&f, fd, DN_MSG_HELLO, &hello, sizeof(hello), &rep,
				   sizeof(rep), NULL, NULL), 0);
	ck_assert_uint_eq(rep.major, DN_PROTO_MAJOR);
	assert_hung_up(&f, fd);
	snprintf(want, sizeof(want), "peer speaks %u.%u", DN_PROTO_MAJOR + 1, DN_PROTO_MINOR);
	assert_log_has(&f, want);
	close(fd);
	afx_close(&f);
}
END_TEST

START_TEST(test_app_request_before_hello_is_violation)
{
	struct afx f;
	char want[64];
	afx_init(&f);
	afx_open(&f);
	int fd = cli_connect(&f);
	struct dn_app_attach_req rq = { 0 };
	cli_send(fd, DN_MSG_APP_ATTACH, 1, &rq, sizeof(rq));
	assert_hung_up(&f, fd);
	ck_assert_uint_eq(dn_apps_count(f.m), 0);
	snprintf(want, sizeof(want), "pid %d uid %u", (int)getpid(), (unsigned)getuid());
	assert_log_has(&f, want);
	assert_log_has(&f, "protocol violation: APP_ATTACH before HELLO");
	close(fd);
	afx_close(&f);
}
END_TEST

START_TEST(test_app_malformed_frames_disconnect)
{
	struct afx f;
	afx_init(&f);
	afx_open(&f);
	/* Shorter than a header. */
	int fd = cli_connect(&f);
	cli_hello(&f, fd);
	ck_assert_int_eq(send(fd, "abc", 3, 0), 3);
	assert_hung_up(&f, fd);
	close(fd);
	/* Right type, wrong payload size. */
	fd = cli_connect(&f);
	cli_hello(&f, fd);
	cli_send(fd, DN_MSG_TCP_LISTEN, 2, "xx", 2);
	assert_hung_up(&f, fd);
	close(fd);
	/* Oversized datagram. */
	fd = cli_connect(&f);
	cli_hello(&f, fd);
	int big = DN_MSG_MAX + 100;
	ck_assert_int_eq(setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &big, sizeof(big)), 0);
	char *b = calloc(1, (size_t)big);
	ck_assert_int_eq(send(fd, b, (size_t)big, 0), big);
	free(b);
	assert_hung_up(&f, fd);
	close(fd);
	assert_log_has(&f, "oversized frame");
	ck_assert_uint_eq(dn_apps_count(f.m), 0);
	/* An unknown type from a newer minor version is answered, not fatal. */
	fd = cli_connect(&f);
	cli_hello(&f, fd);
	{
		/* The reply's type is unknown here too, so read the header
		 * without dn_msg_check. */
		uint8_t buf[256];
		struct dn_msg_hdr h;
		cli_send(fd, 999, 5, NULL, 0);
		ck_assert_int_eq(cli_recv(&f, fd, buf, sizeof(buf), NULL, NULL), (ssize_t)sizeof(h));
		memcpy(&h, buf, sizeof(h));
		ck_assert_uint_eq(h.type, 999);
		ck_assert_uint_eq(h.req_id, 5);
		ck_assert_uint_eq(h.result, ENOMSG);
	}
	ck_assert_uint_eq(cli_call(&f, fd, DN_MSG_CTL_STATUS, NULL, 0, NULL, 0, NULL, NULL),
			  EOPNOTSUPP);
	ck_assert_uint_eq(dn_apps_count(f.m), 1);
	close(fd);
	afx_close(&f);
}
END_TEST

static int count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	int n = 0;
	ck_assert_ptr_nonnull(d);
	while (readdir(d))
		n++;
	closedir(d);
	return n;
}

START_TEST(test_app_detach_on_close_frees_state)
{
	struct afx f;
	struct cli_region r;
	afx_init(&f);
	afx_open(&f);
	int fds_before = count_fds();
	int fd = cli_connect(&f);
	cli_hello(&f, fd);
	cli_attach(&f, fd, &r);
	ck_assert_uint_eq(dn_apps_attached(f.m), 1);
	close(fd);
	pump(&f, 5);
	ck_assert_uint_eq(dn_apps_count(f.m), 0);
	ck_assert_int_eq(f.detached, 1);
	assert_log_has(&f, "gone: disconnected");
	/* The daemon closed its eventfd ends: a poll on ours still works but
	 * nothing signals it; the region stays mapped on our side only. */
	ck_assert_ptr_null(dn_apps_get(f.m, 0));
	cli_region_free(&r);

	/* Explicit detach: reply, then hang-up. */
	fd = cli_connect(&f);
	cli_hello(&f, fd);
	cli_attach(&f, fd, &r);
	ck_assert_uint_eq(cli_call(&f, fd, DN_MSG_APP_DETACH, NULL, 0, NULL, 0, NULL, NULL), 0);
	assert_hung_up(&f, fd);
	ck_assert_int_eq(f.detached, 2);
	cli_region_free(&r);
	close(fd);
	/* Every fd the daemon side opened (connection, memfd, eventfds) is
	 * closed again. */
	ck_assert_int_eq(count_fds(), fds_before);
	afx_close(&f);
}
END_TEST

START_TEST(test_app_corrupt_ring_is_violation)
{
	struct afx f;
	struct cli_region r;
	char want[96];
	afx_init(&f);
	afx_open(&f);
	int fd = cli_connect(&f);
	cli_hello(&f, fd);
	cli_attach(&f, fd, &r);
	/* A second, well-behaved app must not be affected. */
	struct cli_region r2;
	int fd2 = cli_connect(&f);
	cli_hello(&f, fd2);
	cli_attach(&f, fd2, &r2);

	struct dn_ring_shared *cs = (struct dn_ring_shared *)((uint8_t *)r.base + r.v.l.cmd_ring_off);
	atomic_store(&cs->tail, 1ull << 40);
	uint64_t one = 1;
	ck_assert_int_eq(write(r.dmn_efd, &one, sizeof(one)), 8);
	pump(&f, 2);
	dn_apps_poll(f.m);
	assert_hung_up(&f, fd);
	ck_assert_int_eq(f.detached, 1);
	snprintf(want, sizeof(want), "pid %d uid %u (unit-app): protocol violation: command ring",
		 (int)getpid(), (unsigned)getuid());
	assert_log_has(&f, want);
	ck_assert_uint_eq(dn_apps_attached(f.m), 1);

	/* A command the TCP layer rejects is a violation too. */
	struct dn_cmd c = { .op = DN_CMD_TX, .sock = 666 };
	ck_assert_int_eq(dn_region_cmd_push(&r2.v, &c), 1);
	dn_apps_poll(f.m);
	assert_hung_up(&f, fd2);
	assert_log_has(&f, "command TX on socket 666");
	ck_assert_uint_eq(dn_apps_count(f.m), 0);
	ck_assert_int_eq(f.detached, 2);
	cli_region_free(&r);
	cli_region_free(&r2);
	close(fd);
	close(fd2);
	afx_close(&f);
}
END_TEST

START_TEST(test_app_tcp_request_dispatch)
{
	struct afx f;
	struct cli_region r;
	struct dn_tcp_listen_req lq = { .port = 0, .backlog = 8 };
	struct dn_tcp_sock_rep rep;
	afx_init(&f);
	afx_open(&f);
	int fd = cli_connect(&f);
	cli_hello(&f, fd);
	ck_assert_uint_eq(cli_call(&f, fd, DN_MSG_TCP_LISTEN, &lq, sizeof(lq), NULL, 0, NULL, NULL),
			  ENOTCONN);
	ck_assert_int_eq(f.listen_calls, 0);
	cli_attach(&f, fd, &r);
	ck_assert_uint_eq(cli_call(&f, fd, DN_MSG_TCP_LISTEN, &lq, sizeof(lq), &rep, sizeof(rep),
				   NULL, NULL), 0);
	ck_assert_uint_eq(rep.local_port, 40000);
	ck_assert_uint_eq(rep.slot, DN_SLOT_NONE);
	lq.port = 1;
	ck_assert_uint_eq(cli_call(&f, fd, DN_MSG_TCP_LISTEN, &lq, sizeof(lq), NULL, 0, NULL, NULL),
			  EADDRINUSE);
	/* A handler's malformed reply never reaches the app. */
	lq.port = 2;
	ck_assert_uint_eq(cli_call(&f, fd, DN_MSG_TCP_LISTEN, &lq, sizeof(lq), NULL, 0, NULL, NULL),
			  EPROTO);
	ck_assert_int_eq(f.listen_calls, 3);
	struct dn_tcp_connect_req cq = { .ip4 = 0xc6120001, .port = 80 };
	ck_assert_uint_eq(cli_call(&f, fd, DN_MSG_TCP_CONNECT, &cq, sizeof(cq), NULL, 0, NULL, NULL),
			  EOPNOTSUPP);
	ck_assert_uint_eq(dn_apps_count(f.m), 1);
	cli_region_free(&r);
	close(fd);
	afx_close(&f);
}
END_TEST

START_TEST(test_app_ctl_list_and_kill)
{
	struct afx f;
	struct cli_region r1, r2;
	afx_init(&f);
	afx_open(&f);
	int fd1 = cli_connect(&f), fd2 = cli_connect(&f);
	cli_hello(&f, fd1);
	cli_hello(&f, fd2);
	cli_attach(&f, fd1, &r1);
	cli_attach(&f, fd2, &r2);
	dn_apps_get(f.m, 0)->bytes_in = 1234;

	_Alignas(8) uint8_t out[sizeof(struct dn_ctl_list) + 4 * sizeof(struct dn_ctl_app)];
	uint32_t olen = 0;
	ck_assert_int_eq(dn_apps_ctl_list(f.m, out, sizeof(out), &olen), 0);
	ck_assert_uint_eq(olen, sizeof(struct dn_ctl_list) + 2 * sizeof(struct dn_ctl_app));
	/* What goes on the wire passes the reply check. */
	_Alignas(8) uint8_t frame[sizeof(struct dn_msg_hdr) + sizeof(out)];
	struct dn_msg_hdr h;
	dn_msg_hdr_init(&h, DN_MSG_CTL_APPS, DN_MSG_F_REPLY, olen, 1, 0);
	memcpy(frame, &h, sizeof(h));
	memcpy(frame + sizeof(h), out, olen);
	ck_assert_int_eq(dn_msg_check(frame, sizeof(h) + olen, 1, &h), 0);
	struct dn_ctl_list l;
	struct dn_ctl_app e[2];
	memcpy(&l, out, sizeof(l));
	memcpy(e, out + sizeof(l), sizeof(e));
	ck_assert_uint_eq(l.count, 2);
	for (int i = 0; i < 2; i++) {
		ck_assert_uint_eq(e[i].pid, (uint32_t)getpid());
		ck_assert_uint_eq(e[i].uid, getuid());
		ck_assert_uint_eq(e[i].region_size, r1.rep.region_size);
		ck_assert_uint_eq(e[i].slots, 4);
		ck_assert_uint_gt(e[i].attach_time_ms, 1600000000000ull);
		ck_assert_str_eq(e[i].name, "unit-app");
	}
	ck_assert_uint_eq(e[0].bytes_in + e[1].bytes_in, 1234);
	/* Room for one entry only: the list is cut, still consistent. */
	ck_assert_int_eq(dn_apps_ctl_list(f.m, out, sizeof(struct dn_ctl_list) +
					  sizeof(struct dn_ctl_app) + 10, &olen), 0);
	memcpy(&l, out, sizeof(l));
	ck_assert_uint_eq(l.count, 1);
	ck_assert_uint_eq(olen, sizeof(l) + sizeof(struct dn_ctl_app));

	ck_assert_int_eq(dn_apps_kill_pid(f.m, 0x7ffffff0u), ESRCH);
	ck_assert_int_eq(dn_apps_kill_pid(f.m, (uint32_t)getpid()), 0);
	ck_assert_uint_eq(dn_apps_count(f.m), 0);
	ck_assert_int_eq(f.detached, 2);
	assert_hung_up(&f, fd1);
	assert_hung_up(&f, fd2);
	assert_log_has(&f, "killed by ctl");
	cli_region_free(&r1);
	cli_region_free(&r2);
	close(fd1);
	close(fd2);
	afx_close(&f);
}
END_TEST

START_TEST(test_app_too_many_apps)
{
	struct afx f;
	afx_init(&f);
	struct cli_region r;
	f.conf.max_apps = 1;
	afx_open(&f);
	/* Two connections before either attaches: neither is an app yet. */
	int fd1 = cli_connect(&f);
	int fd2 = cli_connect(&f);
	cli_hello(&f, fd1);
	cli_hello(&f, fd2);
	cli_attach(&f, fd1, &r);
	struct dn_app_attach_req rq = { 0 };
	ck_assert_uint_eq(cli_call(&f, fd2, DN_MSG_APP_ATTACH, &rq, sizeof(rq), NULL, 0, NULL, NULL),
			  EAGAIN);
	assert_hung_up(&f, fd2);
	assert_log_has(&f, "apps.max_apps (1) reached");
	ck_assert_uint_eq(dn_apps_count(f.m), 1);
	close(fd2);
	/* With the one app attached a new connection is refused at once. */
	fd2 = cli_connect(&f);
	ck_assert_uint_eq(dn_apps_count(f.m), 1);
	assert_hung_up(&f, fd2);
	close(fd2);
	cli_region_free(&r);
	close(fd1);
	afx_close(&f);
}
END_TEST

START_TEST(test_app_events_and_lost_counter)
{
	struct afx f;
	struct cli_region r;
	afx_init(&f);
	afx_open(&f);
	int fd = cli_connect(&f);
	cli_hello(&f, fd);
	cli_attach(&f, fd, &r);
	struct dn_app *a = dn_apps_get(f.m, 0);
	struct dn_evt e = { .op = DN_EVT_READABLE, .sock = 3 }, got;
	uint32_t cap = a->region.l.evt_size / sizeof(e);
	for (uint32_t i = 0; i < cap; i++)
		ck_assert_int_eq(dn_app_event(a, &e), 1);
	ck_assert_int_eq(dn_app_event(a, &e), 0);
	ck_assert_int_eq(dn_region_peer_lost(&r.v, 0), 1);
	ck_assert_int_eq(dn_region_evt_pop(&r.v, &got), 1);
	ck_assert_uint_eq(got.sock, 3);
	/* Slot rings: producing into rx wakes the sleeping app. */
	struct dn_ring drx, dtx, arx, atx;
	ck_assert_int_eq(dn_region_slot_rings(&a->region, 1, &drx, &dtx), 0);
	ck_assert_int_eq(dn_region_slot_rings(&r.v, 1, &arx, &atx), 0);
	dn_ring_cons_prepare_sleep(&arx);
	ck_assert_uint_eq(dn_ring_write(&drx, "hi", 2), 2);
	dn_app_wake_consumer(a, &drx);
	struct pollfd p = { .fd = r.app_efd, .events = POLLIN };
	ck_assert_int_eq(poll(&p, 1, 1000), 1);
	/* Daemon shutdown detaches attached apps through the hook. */
	ck_assert_int_eq(f.detached, 0);
	dn_apps_close(f.m);
	ck_assert_int_eq(f.detached, 1);
	f.m = dn_apps_open(&f.conf, f.ev);
	ck_assert_ptr_nonnull(f.m);
	assert_hung_up(&f, fd);
	cli_region_free(&r);
	close(fd);
	afx_close(&f);
}
END_TEST

Suite *app_suite(void)
{
	Suite *s = suite_create("app");
	TCase *tc = tcase_create("app");
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_app_hello_attach_region_sealed);
	tcase_add_test(tc, test_app_nop_roundtrip_with_wakeups);
	tcase_add_test(tc, test_app_policy_refuses_with_eacces_and_logs);
	tcase_add_test(tc, test_app_policy_allows_listed_uid_or_gid);
	tcase_add_test(tc, test_app_hello_version_mismatch);
	tcase_add_test(tc, test_app_request_before_hello_is_violation);
	tcase_add_test(tc, test_app_malformed_frames_disconnect);
	tcase_add_test(tc, test_app_detach_on_close_frees_state);
	tcase_add_test(tc, test_app_corrupt_ring_is_violation);
	tcase_add_test(tc, test_app_tcp_request_dispatch);
	tcase_add_test(tc, test_app_ctl_list_and_kill);
	tcase_add_test(tc, test_app_too_many_apps);
	tcase_add_test(tc, test_app_events_and_lost_counter);
	suite_add_tcase(s, tc);
	return s;
}
