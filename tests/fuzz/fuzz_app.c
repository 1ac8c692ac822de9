/*
 * libFuzzer target: the daemon's app manager as a hostile app sees it.
 *
 * Per input: a fresh manager on an abstract-namespace SOCK_SEQPACKET
 * listener (no files), one client connection, then a script of steps:
 * send a valid HELLO, send a valid ATTACH (and map the region it returns),
 * send an arbitrary frame (optionally with a consistent length field),
 * scribble on the region and signal the daemon's eventfd, poll the command
 * rings, or kill the app through the ctl entry point.  The event loop is
 * pumped after every step and replies are read and checked.  The manager
 * must never crash, leak (LeakSanitizer) or leave fds behind.
 */
#include "app.h"

#include <errno.h>
#include <stddef.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

struct in {
	const uint8_t *p;
	size_t n;
};

static size_t take(struct in *in, void *out, size_t n)
{
	if (n > in->n)
		n = in->n;
	memcpy(out, in->p, n);
	in->p += n;
	in->n -= n;
	return n;
}

static uint8_t take8(struct in *in)
{
	uint8_t v = 0;
	take(in, &v, 1);
	return v;
}

static int h_any(void *ctx, struct dn_app *a, const void *req, uint32_t len,
		 void *out, size_t cap, uint32_t *out_len)
{
	struct dn_tcp_sock_rep rep = { .sock = 1, .slot = 0 };
	(void)ctx;
	(void)req;
	(void)len;
	if (cap < sizeof(rep) || !a->attached)
		__builtin_trap();
	memcpy(out, &rep, sizeof(rep));
	*out_len = sizeof(rep);
	return 0;
}

static int h_cmd(void *ctx, struct dn_app *a, const struct dn_cmd *c)
{
	(void)ctx;
	(void)a;
	return c->sock > 100 ? EBADF : 0;
}

static const struct dn_app_handler_entry handlers[] = {
	{ DN_MSG_TCP_LISTEN, h_any },
	{ DN_MSG_TCP_CONNECT, h_any },
	{ DN_MSG_TCP_ACCEPT, h_any },
};

struct cli {
	int fd;
	int fds[DN_ATTACH_NFDS];
	int nfds;
	void *base;
	size_t size;
};

static void pump(struct dn_evloop *ev)
{
	for (int i = 0; i < 3; i++)
		if (dn_evloop_run_once(ev, 0) <= 0)
			break;
}

/* Read every pending reply; keep the fds of an attach reply. */
static void drain(struct cli *c, uint8_t *buf)
{
	for (;;) {
		union {
			char b[CMSG_SPACE(sizeof(int) * 8)];
			struct cmsghdr al;
		} cb;
		struct iovec iov = { .iov_base = buf, .iov_len = DN_MSG_MAX };
		struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1,
				     .msg_control = cb.b, .msg_controllen = sizeof(cb.b) };
		ssize_t n = recvmsg(c->fd, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
		if (n <= 0)
			return;
		struct dn_msg_hdr h;
		if ((size_t)n < sizeof(h))
			__builtin_trap();   /* the daemon never sends short frames */
		memcpy(&h, buf, sizeof(h));
		if (!(h.flags & DN_MSG_F_REPLY) || h.len != (size_t)n - sizeof(h))
			__builtin_trap();
		if (dn_msg_type_name(h.type) && dn_msg_check(buf, (size_t)n, 1, &h) != 0)
			__builtin_trap();   /* our replies pass our own check */
		for (struct cmsghdr *cm = CMSG_FIRSTHDR(&mh); cm; cm = CMSG_NXTHDR(&mh, cm)) {
			if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
				continue;
			int k = (int)((cm->cmsg_len - CMSG_LEN(0)) / sizeof(int));
			int got[8];
			memcpy(got, CMSG_DATA(cm), sizeof(int) * (size_t)k);
			if (k != DN_ATTACH_NFDS || c->nfds || h.type != DN_MSG_APP_ATTACH)
				__builtin_trap();   /* fds only with the one attach */
			memcpy(c->fds, got, sizeof(c->fds));
			c->nfds = k;
			struct dn_app_attach_rep rep;
			memcpy(&rep, buf + sizeof(h), sizeof(rep));
			c->size = rep.region_size;
			c->base = mmap(NULL, c->size, PROT_READ | PROT_WRITE, MAP_SHARED, c->fds[0], 0);
			if (c->base == MAP_FAILED)
				c->base = NULL;
		}
	}
}

static void send_frame(int fd, uint16_t type, const void *pl, uint32_t len, uint8_t *buf)
{
	struct dn_msg_hdr h;
	dn_msg_hdr_init(&h, type, 0, len, 1, 0);
	memcpy(buf, &h, sizeof(h));
	memcpy(buf + sizeof(h), pl, len);
	send(fd, buf, sizeof(h) + len, MSG_NOSIGNAL | MSG_DONTWAIT);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct in in = { data, size };
	struct dn_log log = { .level = DN_LOG_ERR, .to_journal = 0 };  /* quiet */
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct cli c = { .fd = -1 };
	uint8_t *buf = malloc(DN_MSG_MAX + 64);
	struct dn_evloop *ev = dn_evloop_new();
	struct dn_apps *m = NULL;
	int lfd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (!buf || !ev || lfd < 0)
		__builtin_trap();
	/* Abstract name: nothing on disk to clean up. */
	snprintf(sa.sun_path + 1, sizeof(sa.sun_path) - 1, "dn-fuzz-app-%d", (int)getpid());
	socklen_t salen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 +
				      strlen(sa.sun_path + 1));
	if (bind(lfd, (struct sockaddr *)&sa, salen) < 0 || listen(lfd, 4) < 0)
		__builtin_trap();
	struct dn_app_conf conf = {
		.listen_fd = lfd, .max_apps = 2, .slots = 2, .rx_size = 4096, .tx_size = 4096,
		.handlers = handlers, .nhandlers = 3, .on_command = h_cmd, .log = &log,
	};
	m = dn_apps_open(&conf, ev);
	if (!m)
		__builtin_trap();
	c.fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (c.fd < 0 || connect(c.fd, (struct sockaddr *)&sa, salen) < 0)
		__builtin_trap();
	pump(ev);

	for (int step = 0; step < 64 && in.n; step++) {
		uint8_t op = take8(&in);
		switch (op % 6) {
		case 0: {
			struct dn_msg_hello h;
			dn_msg_hello_init(&h, "fuzz");
			send_frame(c.fd, DN_MSG_HELLO, &h, sizeof(h), buf);
			break;
		}
		case 1: {
			struct dn_app_attach_req rq = { .want_slots = take8(&in) % 4 };
			send_frame(c.fd, DN_MSG_APP_ATTACH, &rq, sizeof(rq), buf);
			break;
		}
		case 2: {   /* arbitrary frame */
			uint16_t len = 0;
			take(&in, &len, sizeof(len));
			len %= 512;
			uint8_t raw[512 + sizeof(struct dn_msg_hdr)];
			size_t n = take(&in, raw, len);
			if ((op & 0x80) && n >= sizeof(struct dn_msg_hdr)) {
				struct dn_msg_hdr h;
				memcpy(&h, raw, sizeof(h));
				h.len = (uint32_t)(n - sizeof(h));
				h.flags &= (uint16_t)~DN_MSG_F_REPLY;
				memcpy(raw, &h, sizeof(h));
			}
			send(c.fd, raw, n, MSG_NOSIGNAL | MSG_DONTWAIT);
			break;
		}
		case 3: {   /* scribble on the region, then wake the daemon */
			if (!c.base)
				break;
			uint32_t off = 0;
			take(&in, &off, sizeof(off));
			off %= (uint32_t)c.size;
			uint8_t len = take8(&in);
			if (len > c.size - off)
				len = (uint8_t)(c.size - off);
			take(&in, (uint8_t *)c.base + off, len);
			uint64_t one = 1;
			if (write(c.fds[2], &one, sizeof(one)) < 0)
				break;
			break;
		}
		case 4:
			if (c.base) {
				struct dn_region v;
				struct dn_cmd cmd = { .op = (uint16_t)(1 + take8(&in) % 4) };
				take(&in, &cmd.sock, 1);
				if (dn_region_attach(&v, c.base, c.size) == 0)
					dn_region_cmd_push(&v, &cmd);
			}
			dn_apps_poll(m);
			break;
		case 5:
			if (op & 0x80)
				dn_apps_kill_pid(m, (uint32_t)getpid());
			else {
				uint32_t olen;
				dn_apps_ctl_list(m, buf, DN_MSG_MAX, &olen);
			}
			break;
		}
		pump(ev);
		drain(&c, buf);
	}

	close(c.fd);
	for (int i = 0; i < 100 && dn_apps_count(m) != 0; i++)
		dn_evloop_run_once(ev, 1);
	if (dn_apps_count(m) != 0)
		__builtin_trap();   /* a closed app must be gone */
	dn_apps_close(m);
	dn_evloop_free(ev);
	close(lfd);
	if (c.base)
		munmap(c.base, c.size);
	for (int i = 0; i < c.nfds; i++)
		close(c.fds[i]);
	free(buf);
	return 0;
}
