/*
 * The ctl socket from the client side: connect, HELLO, one request and its
 * reply.  Every reply is checked with dn_msg_check before anything in it is
 * read, then matched against the request's type and id: a daemon with a bug
 * must give a clear protocol error here, not garbage output.
 */
#include "ctl.h"

#include <errno.h>
#include <stddef.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#define PROG "dillnetctl"

int dn_ctl_open(struct dn_ctl_conn *c, const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_LOCAL };
	struct timeval tv = { .tv_sec = DN_CTL_TIMEOUT_S };

	c->fd = -1;
	c->next_id = 1;
	c->path = path;
	if (strlen(path) >= sizeof(sa.sun_path)) {
		fprintf(stderr, PROG ": socket path too long (max %zu bytes): %s\n",
			sizeof(sa.sun_path) - 1, path);
		return DN_EXIT_USAGE;
	}
	memcpy(sa.sun_path, path, strlen(path) + 1);

	c->fd = socket(AF_LOCAL, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (c->fd < 0) {
		fprintf(stderr, PROG ": socket: %s\n", strerror(errno));
		return DN_EXIT_ERROR;
	}
	/* Bounded waits everywhere: a wedged daemon must not hang scripts.
	 * SO_SNDTIMEO also bounds connect() when the listen backlog is full. */
	if (setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0 ||
	    setsockopt(c->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) < 0) {
		fprintf(stderr, PROG ": setsockopt: %s\n", strerror(errno));
		return DN_EXIT_ERROR;
	}
	if (connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)) == 0)
		return DN_EXIT_OK;

	switch (errno) {
	case ENOENT:
		fprintf(stderr, PROG ": dillnetd is not running (no socket at %s)\n", path);
		return DN_EXIT_NOTRUN;
	case ECONNREFUSED:
		fprintf(stderr, PROG ": dillnetd is not running (nothing listening on %s)\n", path);
		return DN_EXIT_NOTRUN;
	case EACCES:
	case EPERM:
		fprintf(stderr, PROG ": permission denied on %s "
			"(the ctl socket is for root or the daemon's admin group)\n", path);
		return DN_EXIT_PERM;
	case EAGAIN:
	case EINPROGRESS:
		fprintf(stderr, PROG ": timed out connecting to dillnetd at %s after %d s\n",
			path, DN_CTL_TIMEOUT_S);
		return DN_EXIT_ERROR;
	case EPROTOTYPE:
		fprintf(stderr, PROG ": %s is not a dillnetd ctl socket (wrong socket type)\n", path);
		return DN_EXIT_ERROR;
	default:
		fprintf(stderr, PROG ": cannot connect to %s: %s\n", path, strerror(errno));
		return DN_EXIT_ERROR;
	}
}

void dn_ctl_close(struct dn_ctl_conn *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
}

static int send_frame(struct dn_ctl_conn *c, uint16_t type, uint32_t id,
		      const void *payload, uint32_t len)
{
	uint8_t frame[sizeof(struct dn_msg_hdr) + 256];
	struct dn_msg_hdr h;

	/* Requests are small; a larger one would be a bug in this program. */
	if (len > sizeof(frame) - sizeof(h)) {
		fprintf(stderr, PROG ": internal error: request too large\n");
		return DN_EXIT_ERROR;
	}
	dn_msg_hdr_init(&h, type, 0, len, id, 0);
	memcpy(frame, &h, sizeof(h));
	if (len)
		memcpy(frame + sizeof(h), payload, len);
	ssize_t n = send(c->fd, frame, sizeof(h) + len, MSG_NOSIGNAL);
	if (n == (ssize_t)(sizeof(h) + len))
		return DN_EXIT_OK;
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
		fprintf(stderr, PROG ": timed out sending to dillnetd after %d s\n", DN_CTL_TIMEOUT_S);
	else if (n < 0 && (errno == EPIPE || errno == ECONNRESET))
		fprintf(stderr, PROG ": dillnetd closed the connection\n");
	else
		fprintf(stderr, PROG ": send: %s\n", n < 0 ? strerror(errno) : "short write");
	return DN_EXIT_ERROR;
}

int dn_ctl_call(struct dn_ctl_conn *c, uint16_t type, const void *payload,
		uint32_t len, struct dn_reply *rep)
{
	const char *tname = dn_msg_type_name(type);
	uint32_t id = c->next_id++;
	int rc = send_frame(c, type, id, payload, len);
	if (rc)
		return rc;

	ssize_t n;
	do
		n = recv(c->fd, c->buf, sizeof(c->buf), 0);
	while (n < 0 && errno == EINTR);
	if (n < 0) {
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			fprintf(stderr, PROG ": timed out waiting for dillnetd's reply to %s after %d s\n",
				tname, DN_CTL_TIMEOUT_S);
		else if (errno == ECONNRESET)
			fprintf(stderr, PROG ": dillnetd closed the connection without replying to %s\n",
				tname);
		else
			fprintf(stderr, PROG ": recv: %s\n", strerror(errno));
		return DN_EXIT_ERROR;
	}
	if (n == 0) {
		fprintf(stderr, PROG ": dillnetd closed the connection without replying to %s\n", tname);
		return DN_EXIT_ERROR;
	}

	int err = dn_msg_check(c->buf, (size_t)n, 1, &rep->hdr);
	if (err) {
		fprintf(stderr, PROG ": protocol error: invalid reply to %s (%zd bytes): %s\n",
			tname, n, strerror(err));
		return DN_EXIT_ERROR;
	}
	if (rep->hdr.type != type || !(rep->hdr.flags & DN_MSG_F_REPLY) || rep->hdr.req_id != id) {
		const char *got = dn_msg_type_name(rep->hdr.type);
		fprintf(stderr, PROG ": protocol error: expected reply to %s id %u, got %s%s id %u\n",
			tname, id, got ? got : "?",
			(rep->hdr.flags & DN_MSG_F_REPLY) ? " reply" : " request", rep->hdr.req_id);
		return DN_EXIT_ERROR;
	}
	rep->payload = c->buf + sizeof(struct dn_msg_hdr);
	rep->len = rep->hdr.len;
	return DN_EXIT_OK;
}

int dn_ctl_hello(struct dn_ctl_conn *c)
{
	struct dn_msg_hello ours, theirs;
	struct dn_reply rep;
	char err[160];

	dn_msg_hello_init(&ours, "dillnetctl");
	int rc = dn_ctl_call(c, DN_MSG_HELLO, &ours, sizeof(ours), &rep);
	if (rc)
		return rc;
	if (rep.hdr.result != 0) {
		/* A refusal carries no payload, so the daemon's version is not
		 * known here; name ours and the reason. */
		fprintf(stderr, PROG ": dillnetd refused HELLO (we speak protocol %u.%u): %s\n",
			DN_PROTO_MAJOR, DN_PROTO_MINOR, strerror((int)rep.hdr.result));
		return DN_EXIT_ERROR;
	}
	memcpy(&theirs, rep.payload, sizeof(theirs));
	if (dn_msg_hello_check(&theirs, err, sizeof(err))) {
		fprintf(stderr, PROG ": %s\n", err);
		return DN_EXIT_ERROR;
	}
	return DN_EXIT_OK;
}
