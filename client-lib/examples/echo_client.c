/*
 * echo_client.c: a client for echo_server on libdillnet.
 *
 * Shows: ipaddr_remote (a literal or a host name, bounded by a deadline),
 * tcp_connect, bsend of a line and brecv of its echo with deadlines, and
 * tcp_close, which sends our FIN and waits for the server's.
 *
 *   echo_client ADDR PORT [LINE...]
 *
 * Each LINE is sent and its echo printed; without LINE arguments the lines
 * come from standard input.
 */
#include <dillnet.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TIMEOUT_MS 5000

/* Sends one line (len bytes, newline added) and prints what comes back up
 * to and including the echoed newline. */
static int roundtrip(int s, const char *text, size_t len)
{
	struct iolist nl = { "\n", 1, NULL, 0 };
	struct iolist body = { (void *)text, len, &nl, 0 };

	/* One call for text and newline, without copying them together. */
	if (bsendl(s, &body, &nl, now() + TIMEOUT_MS) < 0) {
		perror("echo_client: bsendl");
		return -1;
	}
	for (;;) {
		char c;
		if (brecv(s, &c, 1, now() + TIMEOUT_MS) < 0) {
			perror(errno == EPIPE ? "echo_client: server closed"
					      : "echo_client: brecv");
			return -1;
		}
		putchar(c);
		if (c == '\n')
			break;
	}
	fflush(stdout);
	return 0;
}

int main(int argc, char *argv[])
{
	struct ipaddr addr;
	char *end;
	int rc = 0;

	if (argc < 3) {
		fprintf(stderr, "usage: %s ADDR PORT [LINE...]\n", argv[0]);
		return 2;
	}
	long port = strtol(argv[2], &end, 10);
	if (*argv[2] == '\0' || *end != '\0' || port < 1 || port > 65535) {
		fprintf(stderr, "echo_client: bad port: %s\n", argv[2]);
		return 2;
	}
	if (ipaddr_remote(&addr, argv[1], (int)port, 0,
			  now() + TIMEOUT_MS) < 0) {
		fprintf(stderr, "echo_client: %s: %s\n", argv[1],
			strerror(errno));
		return 1;
	}
	int s = tcp_connect(&addr, now() + TIMEOUT_MS);
	if (s < 0) {
		perror("echo_client: tcp_connect");
		return 1;
	}

	if (argc > 3) {
		for (int i = 3; i < argc && rc == 0; i++)
			rc = roundtrip(s, argv[i], strlen(argv[i]));
	} else {
		char *line = NULL;
		size_t cap = 0;
		ssize_t n;
		while (rc == 0 && (n = getline(&line, &cap, stdin)) >= 0) {
			if (n > 0 && line[n - 1] == '\n')
				n--;
			rc = roundtrip(s, line, (size_t)n);
		}
		free(line);
	}
	if (rc < 0) {
		hclose(s);
		return 1;
	}
	/* Our FIN, then wait for the server's: a clean end on both sides. */
	if (tcp_close(s, now() + TIMEOUT_MS) < 0) {
		perror("echo_client: tcp_close");
		return 1;
	}
	return 0;
}
