#include "ctl.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

struct dn_ctl_client {
	int fd;
	int said_hello;
	pid_t pid;
	uid_t uid;
	struct dn_ctl *ctl;
};

struct dn_ctl {
	struct dn_ctl_conf conf;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	int fd;
	int created_path;
	struct dn_evloop *ev;
	struct dn_ctl_client **clients;
	unsigned nclients;
	uint8_t *rxbuf, *txbuf;     /* one frame each; requests are served inline */
};

static void client_drop(struct dn_ctl *c, unsigned i)
{
	struct dn_ctl_client *cl = c->clients[i];
	dn_evloop_del(c->ev, cl->fd);
	close(cl->fd);
	free(cl);
	c->clients[i] = c->clients[--c->nclients];
}

static size_t reply_error(const struct dn_msg_hdr *rq, int err, void *out)
{
	struct dn_msg_hdr h;
	dn_msg_hdr_init(&h, rq->type, DN_MSG_F_REPLY, 0, rq->req_id, (uint32_t)err);
	memcpy(out, &h, sizeof(h));
	return sizeof(h);
}

size_t dn_ctl_serve_frame(const struct dn_ctl_conf *conf, const void *frame,
			  size_t len, void *out, size_t cap)
{
	struct dn_msg_hdr rq;
	int err = dn_msg_check(frame, len, 0, &rq);

	if (err == EMSGSIZE)
		return 0;
	if (len >= sizeof(rq))
		memcpy(&rq, frame, sizeof(rq));
	if (err)
		return reply_error(&rq, err, out);
	if (rq.flags & DN_MSG_F_REPLY)
		return reply_error(&rq, EBADMSG, out);

	const uint8_t *payload = (const uint8_t *)frame + sizeof(rq);
	for (size_t i = 0; i < conf->nhandlers; i++) {
		if (conf->handlers[i].type != rq.type)
			continue;
		uint32_t olen = 0;
		uint8_t *o = (uint8_t *)out + sizeof(struct dn_msg_hdr);
		size_t room = cap - sizeof(struct dn_msg_hdr);
		err = conf->handlers[i].fn(conf->ctx, payload, rq.len, o, room, &olen);
		if (err)
			return reply_error(&rq, err, out);
		if (olen > room)
			return reply_error(&rq, EOVERFLOW, out);
		struct dn_msg_hdr h;
		dn_msg_hdr_init(&h, rq.type, DN_MSG_F_REPLY, olen, rq.req_id, 0);
		memcpy(out, &h, sizeof(h));
		/* Our own reply must pass the checks the client will apply. */
		if (dn_msg_check(out, sizeof(h) + olen, 1, &h) != 0)
			return reply_error(&rq, EPROTO, out);
		return sizeof(h) + olen;
	}
	return reply_error(&rq, EOPNOTSUPP, out);
}

static int serve_hello(struct dn_ctl *c, struct dn_ctl_client *cl, const void *frame, size_t len)
{
	struct dn_msg_hdr rq, h;
	struct dn_msg_hello peer, ours;
	char why[128];
	uint8_t out[sizeof(h) + sizeof(ours)];
	int err = dn_msg_check(frame, len, 0, &rq);

	if (!err && rq.type != DN_MSG_HELLO)
		err = EPROTO;
	if (!err) {
		memcpy(&peer, (const uint8_t *)frame + sizeof(rq), sizeof(peer));
		err = dn_msg_hello_check(&peer, why, sizeof(why));
		if (err)
			dn_warn(c->conf.log, "ctl: client pid %d uid %u refused: %s",
				(int)cl->pid, (unsigned)cl->uid, why);
	} else {
		dn_warn(c->conf.log, "ctl: client pid %d uid %u sent no valid HELLO (%s)",
			(int)cl->pid, (unsigned)cl->uid, strerror(err));
	}
	if (len >= sizeof(rq))
		memcpy(&rq, frame, sizeof(rq));
	else
		memset(&rq, 0, sizeof(rq));
	dn_msg_hello_init(&ours, "dillnetd");
	dn_msg_hdr_init(&h, DN_MSG_HELLO, DN_MSG_F_REPLY, sizeof(ours), rq.req_id, 0);
	memcpy(out, &h, sizeof(h));
	memcpy(out + sizeof(h), &ours, sizeof(ours));
	/* Answer with our version even on mismatch, so the client can say
	 * which versions disagree. */
	if (send(cl->fd, out, sizeof(out), MSG_NOSIGNAL) < 0 || err)
		return -1;
	cl->said_hello = 1;
	return 0;
}

static void on_client(struct dn_evloop *ev, int fd, uint32_t events, void *arg)
{
	struct dn_ctl_client *cl = arg;
	struct dn_ctl *c = cl->ctl;
	unsigned idx;
	(void)ev;
	(void)events;

	for (idx = 0; idx < c->nclients; idx++)
		if (c->clients[idx] == cl)
			break;
	if (idx == c->nclients)
		return;
	/* MSG_TRUNC makes recv report the real datagram length, so an
	 * oversized frame is recognised instead of silently cut. */
	ssize_t n = recv(fd, c->rxbuf, DN_MSG_MAX, MSG_TRUNC | MSG_DONTWAIT);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		client_drop(c, idx);
		return;
	}
	if ((size_t)n > DN_MSG_MAX) {
		struct dn_msg_hdr rq;
		memcpy(&rq, c->rxbuf, sizeof(rq));
		size_t rl = reply_error(&rq, EMSGSIZE, c->txbuf);
		send(fd, c->txbuf, rl, MSG_NOSIGNAL);
		dn_warn(c->conf.log, "ctl: pid %d sent an oversized frame (%zd bytes)", (int)cl->pid, n);
		return;
	}
	if (!cl->said_hello) {
		if (serve_hello(c, cl, c->rxbuf, (size_t)n) < 0)
			client_drop(c, idx);
		return;
	}
	size_t rl = dn_ctl_serve_frame(&c->conf, c->rxbuf, (size_t)n, c->txbuf, DN_MSG_MAX);
	if (rl == 0) {
		dn_warn(c->conf.log, "ctl: pid %d sent an unframed message, disconnected", (int)cl->pid);
		client_drop(c, idx);
		return;
	}
	if (send(fd, c->txbuf, rl, MSG_NOSIGNAL) < 0)
		client_drop(c, idx);
}

static void on_listen(struct dn_evloop *ev, int fd, uint32_t events, void *arg)
{
	struct dn_ctl *c = arg;
	(void)events;
	int cfd = accept4(fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
	if (cfd < 0)
		return;
	struct ucred cr;
	socklen_t crl = sizeof(cr);
	if (getsockopt(cfd, SOL_SOCKET, SO_PEERCRED, &cr, &crl) < 0) {
		close(cfd);
		return;
	}
	if (c->nclients >= c->conf.max_clients) {
		dn_warn(c->conf.log, "ctl: too many clients, refusing pid %d", (int)cr.pid);
		close(cfd);
		return;
	}
	struct dn_ctl_client *cl = calloc(1, sizeof(*cl));
	if (!cl) {
		close(cfd);
		return;
	}
	cl->fd = cfd;
	cl->pid = cr.pid;
	cl->uid = cr.uid;
	cl->ctl = c;
	if (dn_evloop_add(ev, cfd, EPOLLIN, on_client, cl) < 0) {
		close(cfd);
		free(cl);
		return;
	}
	c->clients[c->nclients++] = cl;
}

/* A socket file left by a crashed daemon is removed; one that still has a
 * listener means another daemon runs, which is refused. */
static int clear_stale(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct stat st;
	if (lstat(path, &st) < 0)
		return errno == ENOENT ? 0 : -1;
	if (!S_ISSOCK(st.st_mode)) {
		errno = EEXIST;
		return -1;
	}
	int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	int r = connect(fd, (struct sockaddr *)&sa, sizeof(sa));
	close(fd);
	if (r == 0) {
		errno = EADDRINUSE;
		return -1;
	}
	return unlink(path);
}

int dn_listen_seqpacket(const char *path, unsigned mode, int backlog, char *err, size_t errlen)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	if (strlen(path) >= sizeof(sa.sun_path)) {
		snprintf(err, errlen, "%s: path too long for a socket", path);
		errno = ENAMETOOLONG;
		return -1;
	}
	if (clear_stale(path) < 0) {
		int e = errno;
		snprintf(err, errlen, "%s: %s", path,
			 e == EADDRINUSE ? "another dillnetd is listening there" : strerror(e));
		errno = e;
		return -1;
	}
	int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0) {
		snprintf(err, errlen, "socket: %s", strerror(errno));
		return -1;
	}
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	/* Create it with no access, then chmod: no window where the socket is
	 * reachable with the wrong mode. */
	mode_t old = umask(0777);
	int r = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
	umask(old);
	if (r < 0 || chmod(path, mode) < 0 || listen(fd, backlog) < 0) {
		int e = errno;
		snprintf(err, errlen, "%s: %s", path, strerror(e));
		if (r == 0)
			unlink(path);
		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

struct dn_ctl *dn_ctl_open(const struct dn_ctl_conf *conf, struct dn_evloop *ev,
			   char *err, size_t errlen)
{
	struct dn_ctl *c = calloc(1, sizeof(*c));
	if (!c)
		goto fail;
	c->conf = *conf;
	if (c->conf.max_clients == 0)
		c->conf.max_clients = 16;
	c->ev = ev;
	c->fd = -1;
	c->clients = calloc(c->conf.max_clients, sizeof(*c->clients));
	c->rxbuf = malloc(DN_MSG_MAX);
	c->txbuf = malloc(DN_MSG_MAX);
	if (!c->clients || !c->rxbuf || !c->txbuf) {
		snprintf(err, errlen, "out of memory");
		goto fail_free;
	}
	if (conf->listen_fd >= 0) {
		c->fd = conf->listen_fd;
	} else {
		c->fd = dn_listen_seqpacket(conf->path, conf->mode, 16, err, errlen);
		if (c->fd < 0)
			goto fail_free;
		snprintf(c->path, sizeof(c->path), "%s", conf->path);
		c->created_path = 1;
	}
	if (dn_evloop_add(ev, c->fd, EPOLLIN, on_listen, c) < 0) {
		snprintf(err, errlen, "event loop: %s", strerror(errno));
		goto fail_sock;
	}
	return c;

fail_sock:
	if (c->created_path)
		unlink(c->path);
	close(c->fd);
fail_free:
	free(c->clients);
	free(c->rxbuf);
	free(c->txbuf);
	free(c);
fail:
	return NULL;
}

void dn_ctl_close(struct dn_ctl *c)
{
	if (!c)
		return;
	while (c->nclients)
		client_drop(c, 0);
	dn_evloop_del(c->ev, c->fd);
	close(c->fd);
	if (c->created_path)
		unlink(c->path);
	free(c->clients);
	free(c->rxbuf);
	free(c->txbuf);
	free(c);
}

unsigned dn_ctl_clients(const struct dn_ctl *c)
{
	return c->nclients;
}
