/*
 * The ctl server: AF_LOCAL SOCK_SEQPACKET, root-only by default (0600).
 * It owns framing, HELLO and validation; what a request means is decided
 * by a handler table the daemon passes in, one entry per message type, so
 * the server itself never grows a switch over commands.
 */
#ifndef DN_CTL_H
#define DN_CTL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "dn_msg.h"
#include "evloop.h"
#include "log.h"

#include <sys/epoll.h>

/* A handler fills up to cap bytes of reply payload at out, sets *out_len
 * and returns 0, or returns a positive errno (the reply then carries no
 * payload).  req has been validated by dn_msg_check already. */
typedef int (*dn_ctl_handler)(void *ctx, const void *req, uint32_t req_len,
			      void *out, size_t cap, uint32_t *out_len);

struct dn_ctl_handler_entry {
	uint16_t type;
	dn_ctl_handler fn;
};

struct dn_ctl_conf {
	const char *path;          /* socket path (ignored when listen_fd >= 0) */
	unsigned mode;             /* permission bits, e.g. 0600 */
	int listen_fd;             /* from systemd socket activation, or -1 */
	unsigned max_clients;      /* connections served at once */
	const struct dn_ctl_handler_entry *handlers;
	size_t nhandlers;
	void *ctx;                 /* passed to handlers */
	struct dn_log *log;
};

struct dn_ctl;

/* Bind (unlinking a stale socket only if nothing listens on it), listen and
 * register with the loop.  Returns NULL with errno and a message in err. */
struct dn_ctl *dn_ctl_open(const struct dn_ctl_conf *conf, struct dn_evloop *ev,
			   char *err, size_t errlen);
/* Close all clients and the listener; unlink the path if we created it. */
void dn_ctl_close(struct dn_ctl *c);
unsigned dn_ctl_clients(const struct dn_ctl *c);

/* Serve one request frame from a client that already said HELLO: the
 * validation and dispatch core, exposed for the fuzzer and unit tests.
 * Writes the reply frame to out (cap >= DN_MSG_MAX) and returns its length;
 * returns 0 when the frame is so broken that no reply can be addressed
 * (the caller then drops the client). */
size_t dn_ctl_serve_frame(const struct dn_ctl_conf *conf, const void *frame,
			  size_t len, void *out, size_t cap);

/* Create a listening SOCK_SEQPACKET socket at path with the given mode
 * (also used for the app socket).  A stale socket file is replaced; a live
 * one (another daemon) is refused with EADDRINUSE.  Returns the fd or -1
 * with errno and a message in err. */
int dn_listen_seqpacket(const char *path, unsigned mode, int backlog, char *err, size_t errlen);

#endif
