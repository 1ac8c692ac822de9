/*
 * dillnetctl internals: the connection to dillnetd's ctl socket, the reply
 * views (one output function per format per reply type) and the JSON
 * writer.  Nothing here is shared with the daemon; the wire format lives in
 * proto/dn_msg.h only.
 */
#ifndef DN_CTL_H
#define DN_CTL_H

#include <stdint.h>
#include <stdio.h>

#include "dn_msg.h"

/* Exit statuses, documented in dillnetctl(8). */
enum {
	DN_EXIT_OK      = 0,
	DN_EXIT_ERROR   = 1,   /* daemon error reply, protocol error, timeout */
	DN_EXIT_USAGE   = 2,
	DN_EXIT_NOTRUN  = 3,   /* no socket / nothing listening */
	DN_EXIT_PERM    = 4,   /* not allowed to use the ctl socket */
};

#define DN_CTL_DEFAULT_SOCKET "/run/dillnet/ctl.sock"
#define DN_CTL_TIMEOUT_S      5

/* ---- connection (ctl_conn.c) ----------------------------------------- */

struct dn_ctl_conn {
	int fd;
	uint32_t next_id;
	const char *path;
	/* Receive buffer: one frame, header included.  One byte more than the
	 * largest legal frame so an oversized one is seen, not truncated to a
	 * legal length; aligned so payload structs can be read in place. */
	_Alignas(8) uint8_t buf[DN_MSG_MAX + 1];
};

/* A validated reply: header plus a view of the payload inside conn->buf. */
struct dn_reply {
	struct dn_msg_hdr hdr;
	const uint8_t *payload;
	uint32_t len;
};

/* Each returns a DN_EXIT_* status, having printed the reason to stderr. */
int dn_ctl_open(struct dn_ctl_conn *c, const char *path);
int dn_ctl_hello(struct dn_ctl_conn *c);
/* Send one request and receive its reply, checked with dn_msg_check and
 * against type and request id.  A reply carrying an error result is still
 * returned as DN_EXIT_OK: the caller decides how to report it. */
int dn_ctl_call(struct dn_ctl_conn *c, uint16_t type, const void *payload,
		uint32_t len, struct dn_reply *rep);
void dn_ctl_close(struct dn_ctl_conn *c);

/* ---- output (ctl_out.c) ------------------------------------------------ */

enum dn_fmt { DN_FMT_TEXT, DN_FMT_JSON, DN_FMT_COUNT };

/* What a printer may need besides the reply itself. */
struct dn_out {
	FILE *f;
	enum dn_fmt fmt;
	int argc;             /* command arguments after the command words */
	char **argv;
	const char *done;     /* text for a payload-less success: a printf
	                       * format taking the arguments as one string */
};

typedef void (*dn_print_fn)(const struct dn_out *o, const struct dn_reply *r);

/* Reply views: the X-macro gives each an enum value; ctl_out.c holds the
 * table of printers indexed by view and format. */
#define DN_VIEWS(X) \
	X(STATUS)   \
	X(PORT)     \
	X(ARP)      \
	X(COUNTERS) \
	X(APPS)     \
	X(CONNS)    \
	X(DONE)

enum dn_view {
#define X(n) DN_VIEW_##n,
	DN_VIEWS(X)
#undef X
	DN_VIEW_COUNT
};

void dn_print_reply(const struct dn_out *o, enum dn_view v, const struct dn_reply *r);
/* An error reply: strerror text on stderr ("not supported by this daemon"
 * for ENOMSG, EOPNOTSUPP, ENOSYS), and in JSON mode also an {"error":...}
 * object on stdout so scripts always get one object. */
void dn_print_error(const struct dn_out *o, const char *cmd, uint32_t result);

/* ---- JSON writer (ctl_json.c) ----------------------------------------- */

#define DN_JSON_DEPTH 8

struct dn_json {
	FILE *f;
	int depth;
	int first[DN_JSON_DEPTH];   /* no member written yet at this depth */
};

void dn_json_init(struct dn_json *j, FILE *f);
/* key may be NULL inside arrays. */
void dn_json_obj_begin(struct dn_json *j, const char *key);
void dn_json_obj_end(struct dn_json *j);
void dn_json_arr_begin(struct dn_json *j, const char *key);
void dn_json_arr_end(struct dn_json *j);
/* Strings come from fixed-size wire fields: at most max bytes are read. */
void dn_json_str(struct dn_json *j, const char *key, const char *s, size_t max);
void dn_json_u64(struct dn_json *j, const char *key, uint64_t v);
void dn_json_bool(struct dn_json *j, const char *key, int v);
void dn_json_null(struct dn_json *j, const char *key);
/* Ends the top-level object's line. */
void dn_json_finish(struct dn_json *j);

#endif
