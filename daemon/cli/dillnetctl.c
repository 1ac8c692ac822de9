/*
 * dillnetctl: the operators' tool for dillnetd.  Connects to the ctl socket,
 * says HELLO, sends one request, prints the one reply as text or JSON.
 *
 * Commands are rows in dn_cmds[]: words, argument count, the message type
 * (by name, looked up in proto's table at run time, so a row for a type the
 * protocol does not have yet compiles and reports "not supported"), an
 * optional request builder and the reply view.  Adding a command is one row
 * (plus a builder if its request has a payload, plus a view if its reply is
 * a new shape).
 */
#include "ctl.h"
#include "log.h"

#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#ifndef DN_VERSION
#define DN_VERSION "unknown"
#endif

#define PROG "dillnetctl"

/* Request builders: check the arguments (usage errors are the operator's,
 * so they exit 2 before anything is sent) and fill the payload. */
typedef int (*dn_build_fn)(int argc, char **argv, void *buf, size_t cap, uint32_t *len);

struct dn_cmd {
	const char *words;   /* space-separated command words */
	const char *args;    /* argument synopsis for usage */
	int min_args, max_args;
	const char *type;    /* message type name in DN_MSG_TYPES */
	dn_build_fn build;   /* NULL: request has no payload */
	enum dn_view view;   /* DN_VIEW_COUNT: no printer in this build yet */
	const char *help;
	const char *done;    /* DN_VIEW_DONE: what success means, "%s" = the args */
};

static const char *const dn_levels[] = {
#define X(n, s, p) s,
	DN_LOG_LEVELS(X)
#undef X
};

static int build_loglevel(int argc, char **argv, void *buf, size_t cap, uint32_t *len)
{
	struct dn_ctl_loglevel l;

	(void)argc;
	if (cap < sizeof(l))
		return DN_EXIT_ERROR;
	for (size_t i = 0; i < sizeof(dn_levels) / sizeof(dn_levels[0]); i++) {
		if (strcmp(argv[0], dn_levels[i]) == 0) {
			memset(&l, 0, sizeof(l));
			snprintf(l.level, sizeof(l.level), "%s", argv[0]);
			memcpy(buf, &l, sizeof(l));
			*len = sizeof(l);
			return DN_EXIT_OK;
		}
	}
	fprintf(stderr, PROG ": unknown log level '%s' (one of:", argv[0]);
	for (size_t i = 0; i < sizeof(dn_levels) / sizeof(dn_levels[0]); i++)
		fprintf(stderr, " %s", dn_levels[i]);
	fprintf(stderr, ")\n");
	return DN_EXIT_USAGE;
}

/* A pid as the kernel has them: decimal, 1 .. 2^22 (PID_MAX_LIMIT). */
static int build_kill_app(int argc, char **argv, void *buf, size_t cap, uint32_t *len)
{
	struct dn_ctl_kill_app k;
	char *end;
	unsigned long v;

	(void)argc;
	if (cap < sizeof(k))
		return DN_EXIT_ERROR;
	errno = 0;
	v = strtoul(argv[0], &end, 10);
	if (argv[0][0] < '0' || argv[0][0] > '9' || *end || errno || v == 0 || v > 4194304) {
		fprintf(stderr, PROG ": '%s' is not a process id\n", argv[0]);
		return DN_EXIT_USAGE;
	}
	memset(&k, 0, sizeof(k));
	k.pid = (uint32_t)v;
	memcpy(buf, &k, sizeof(k));
	*len = sizeof(k);
	return DN_EXIT_OK;
}

/* One end of a connection: ADDR:PORT, where ADDR or PORT may be "*" (or
 * an address of 0.0.0.0, a port of 0): match anything.  Host order, as
 * the wire wants. */
static int parse_endpoint(const char *s, uint32_t *ip, uint16_t *port)
{
	char buf[64], *colon, *end;
	struct in_addr a;
	unsigned long v;

	if (snprintf(buf, sizeof(buf), "%s", s) >= (int)sizeof(buf))
		return -1;
	colon = strrchr(buf, ':');
	if (!colon)
		return -1;
	*colon = '\0';
	if (strcmp(buf, "*") == 0) {
		*ip = 0;
	} else {
		if (inet_pton(AF_INET, buf, &a) != 1)
			return -1;
		*ip = ntohl(a.s_addr);
	}
	if (strcmp(colon + 1, "*") == 0) {
		*port = 0;
		return 0;
	}
	errno = 0;
	v = strtoul(colon + 1, &end, 10);
	if (colon[1] < '0' || colon[1] > '9' || *end || errno || v > 65535)
		return -1;
	*port = (uint16_t)v;
	return 0;
}

static int build_kill_conn(int argc, char **argv, void *buf, size_t cap, uint32_t *len)
{
	struct dn_ctl_kill_conn k;

	if (cap < sizeof(k))
		return DN_EXIT_ERROR;
	memset(&k, 0, sizeof(k));
	if (parse_endpoint(argv[0], &k.local_ip4, &k.local_port) < 0 ||
	    (argc > 1 && parse_endpoint(argv[1], &k.remote_ip4, &k.remote_port) < 0)) {
		fprintf(stderr, PROG ": kill connection: endpoints are ADDR:PORT, "
			"with * for any address or port (e.g. 198.18.0.2:80 198.18.0.1:*)\n");
		return DN_EXIT_USAGE;
	}
	/* All wildcards would reset every connection of every app: almost
	 * certainly a typo, so it is refused rather than obeyed. */
	if (!k.local_ip4 && !k.local_port && !k.remote_ip4 && !k.remote_port) {
		fprintf(stderr, PROG ": kill connection: refusing to match every connection; "
			"name at least one address or port\n");
		return DN_EXIT_USAGE;
	}
	memcpy(buf, &k, sizeof(k));
	*len = sizeof(k);
	return DN_EXIT_OK;
}

static const struct dn_cmd dn_cmds[] = {
	{ "status",          "",          0, 0, "CTL_STATUS",   NULL, DN_VIEW_STATUS,
	  "version, uptime, port, link, address, settings" },
	{ "show port",       "",          0, 0, "CTL_PORT",     NULL, DN_VIEW_PORT,
	  "link state and port statistics" },
	{ "show arp",        "",          0, 0, "CTL_ARP",      NULL, DN_VIEW_ARP,
	  "the ARP table" },
	{ "show counters",   "[PREFIX]",  0, 1, "CTL_COUNTERS", NULL, DN_VIEW_COUNTERS,
	  "stack counters (names starting with PREFIX)" },
	{ "set log-level",   "LEVEL",     1, 1, "CTL_LOGLEVEL", build_loglevel, DN_VIEW_DONE,
	  "err, warn, notice, info or debug",
	  "log level set to %s" },
	{ "show apps",       "",          0, 0, "CTL_APPS",     NULL, DN_VIEW_APPS,
	  "attached applications" },
	{ "kill app",        "PID",       1, 1, "CTL_KILL_APP", build_kill_app, DN_VIEW_DONE,
	  "disconnect the applications of process PID",
	  "applications of pid %s disconnected" },
	{ "show connections", "",         0, 0, "CTL_CONNS",    NULL, DN_VIEW_CONNS,
	  "TCP connections and listeners" },
	{ "kill connection", "LOCAL [REMOTE]", 1, 2, "CTL_KILL_CONN", build_kill_conn, DN_VIEW_DONE,
	  "reset matching connections (ADDR:PORT, *=any)",
	  "connections matching %s reset" },
};
#define DN_NCMDS (sizeof(dn_cmds) / sizeof(dn_cmds[0]))

static void usage(FILE *f)
{
	fprintf(f,
		"usage: " PROG " [-j] [-s SOCKET] COMMAND [ARGS]\n"
		"       " PROG " -h | -V\n"
		"\n"
		"options:\n"
		"  -j, --json          print the reply as one JSON object\n"
		"  -s, --socket PATH   ctl socket (default: $DILLNET_CTL_SOCKET, else\n"
		"                      " DN_CTL_DEFAULT_SOCKET ")\n"
		"  -h, --help          this help\n"
		"  -V, --version       program and protocol version\n"
		"\n"
		"commands:\n");
	for (size_t i = 0; i < DN_NCMDS; i++) {
		char syn[64];
		snprintf(syn, sizeof(syn), "%s%s%s", dn_cmds[i].words,
			 dn_cmds[i].args[0] ? " " : "", dn_cmds[i].args);
		fprintf(f, "  %-31s %s\n", syn, dn_cmds[i].help);
	}
	fprintf(f,
		"\n"
		"exit status: 0 ok, 1 error (daemon error, protocol error, timeout),\n"
		"2 usage, 3 dillnetd not running, 4 permission denied\n");
}

/* Does the command row's words match argv?  Returns how many argv
 * elements it consumed, or 0. */
static int match_words(const char *words, int argc, char **argv)
{
	char buf[64], *save = NULL, *w;
	int n = 0;

	snprintf(buf, sizeof(buf), "%s", words);
	for (w = strtok_r(buf, " ", &save); w; w = strtok_r(NULL, " ", &save)) {
		if (n >= argc || strcmp(argv[n], w) != 0)
			return 0;
		n++;
	}
	return n;
}

/* Message types are named in proto's X-macro; finding them by name at run
 * time lets a row exist before its type does. */
static int type_by_name(const char *name)
{
	for (unsigned t = 0; t <= UINT16_MAX; t++) {
		const char *n = dn_msg_type_name((uint16_t)t);
		if (n && strcmp(n, name) == 0)
			return (int)t;
	}
	return -1;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "json",    no_argument,       NULL, 'j' },
		{ "socket",  required_argument, NULL, 's' },
		{ "help",    no_argument,       NULL, 'h' },
		{ "version", no_argument,       NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	struct dn_out out = { .f = stdout, .fmt = DN_FMT_TEXT };
	const char *path = getenv("DILLNET_CTL_SOCKET");
	int opt;

	if (!path || !*path)
		path = DN_CTL_DEFAULT_SOCKET;
	/* '+': options end at the command, so arguments of commands are never
	 * taken for options. */
	while ((opt = getopt_long(argc, argv, "+jVhs:", longopts, NULL)) != -1) {
		switch (opt) {
		case 'j':
			out.fmt = DN_FMT_JSON;
			break;
		case 's':
			path = optarg;
			break;
		case 'h':
			usage(stdout);
			return fflush(stdout) == 0 && !ferror(stdout) ? DN_EXIT_OK : DN_EXIT_ERROR;
		case 'V':
			printf(PROG " %s (dillnet protocol %u.%u)\n", DN_VERSION,
			       DN_PROTO_MAJOR, DN_PROTO_MINOR);
			return fflush(stdout) == 0 && !ferror(stdout) ? DN_EXIT_OK : DN_EXIT_ERROR;
		default:
			usage(stderr);
			return DN_EXIT_USAGE;
		}
	}
	argc -= optind;
	argv += optind;
	if (argc == 0) {
		fprintf(stderr, PROG ": no command given\n");
		usage(stderr);
		return DN_EXIT_USAGE;
	}
	if (!*path) {
		fprintf(stderr, PROG ": empty socket path\n");
		return DN_EXIT_USAGE;
	}

	const struct dn_cmd *cmd = NULL;
	int used = 0;
	for (size_t i = 0; i < DN_NCMDS; i++) {
		int n = match_words(dn_cmds[i].words, argc, argv);
		if (n > used) {
			used = n;
			cmd = &dn_cmds[i];
		}
	}
	if (!cmd) {
		/* "show" alone, or "show bogus": name the commands it starts. */
		size_t n0 = strlen(argv[0]);
		int any = 0;
		for (size_t i = 0; i < DN_NCMDS; i++) {
			const char *w = dn_cmds[i].words;
			if (strncmp(w, argv[0], n0) != 0 || w[n0] != ' ')
				continue;
			if (!any)
				fprintf(stderr, PROG ": incomplete or unknown command '%s ...'; "
					"one of: %s", argv[0], w);
			else
				fprintf(stderr, ", %s", w);
			any = 1;
		}
		if (any)
			fputc('\n', stderr);
		else
			fprintf(stderr, PROG ": unknown command '%s'\n", argv[0]);
		usage(stderr);
		return DN_EXIT_USAGE;
	}
	out.argc = argc - used;
	out.argv = argv + used;
	out.done = cmd->done;
	if (out.argc < cmd->min_args || out.argc > cmd->max_args) {
		fprintf(stderr, PROG ": %s: wrong number of arguments\n", cmd->words);
		fprintf(stderr, "usage: " PROG " [-j] [-s SOCKET] %s %s\n", cmd->words, cmd->args);
		return DN_EXIT_USAGE;
	}

	/* Arguments are checked before the daemon is asked anything. */
	uint8_t req[256];
	uint32_t req_len = 0;
	int type = type_by_name(cmd->type);
	if (type >= 0 && cmd->build) {
		int rc = cmd->build(out.argc, out.argv, req, sizeof(req), &req_len);
		if (rc)
			return rc;
	}
	/* A row whose type exists but has no view yet is wired up later: to
	 * the operator both mean the same. */
	if (type < 0 || cmd->view == DN_VIEW_COUNT) {
		fprintf(stderr, PROG ": %s: not supported by this daemon "
			"(protocol %u.%u has no %s message)\n",
			cmd->words, DN_PROTO_MAJOR, DN_PROTO_MINOR, cmd->type);
		return DN_EXIT_ERROR;
	}

	/* The connection is large (a full-size receive buffer): keep it off
	 * the stack. */
	static struct dn_ctl_conn conn;
	struct dn_reply rep;
	int rc = dn_ctl_open(&conn, path);
	if (!rc)
		rc = dn_ctl_hello(&conn);
	if (!rc)
		rc = dn_ctl_call(&conn, (uint16_t)type, req, req_len, &rep);
	if (rc) {
		dn_ctl_close(&conn);
		return rc;
	}
	if (rep.hdr.result != 0) {
		dn_print_error(&out, cmd->words, rep.hdr.result);
		/* The daemon's own refusal (SO_PEERCRED policy) is the same
		 * condition as the socket's file mode. */
		rc = (rep.hdr.result == EPERM || rep.hdr.result == EACCES)
			? DN_EXIT_PERM : DN_EXIT_ERROR;
	} else {
		dn_print_reply(&out, cmd->view, &rep);
	}
	dn_ctl_close(&conn);
	/* Output that never arrived (full disk, closed pipe) is a failure. */
	if (fflush(stdout) != 0 || ferror(stdout)) {
		fprintf(stderr, PROG ": writing output: %s\n", strerror(errno));
		return DN_EXIT_ERROR;
	}
	return rc;
}
