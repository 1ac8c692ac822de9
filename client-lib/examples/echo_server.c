/*
 * echo_server.c: a line echo server on libdillnet.
 *
 * Shows: tcp_listen on a port given on the command line (0 lets dillnetd
 * pick one, read back with ipaddr_port), tcp_accept in a loop, one thread
 * per connection, brecv/bsend with deadlines (a client idle for a minute is
 * dropped), and tcp_close for an orderly end once the client has sent its
 * FIN, hclose when the connection failed.
 *
 *   echo_server PORT
 *
 * Try it with echo_client, or with any TCP client on a host the daemon's
 * network reaches: every line sent comes back.
 */
#include <dillnet.h>

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define IDLE_MS 60000      /* drop a client silent for this long */
#define CLOSE_MS 2000      /* time the client gets to finish at the end */
#define LINE_LEN 4096      /* longer lines are echoed in pieces */

/* Echoes one connection, line by line, until the client stops sending. */
static void *serve(void *arg)
{
	int s = (int)(intptr_t)arg;
	char line[LINE_LEN];
	size_t len = 0;
	int err;

	for (;;) {
		char c;
		/* brecv is all or nothing: it returns no partial buffers, so a
		 * line-oriented reader takes one byte at a time. */
		if (brecv(s, &c, 1, now() + IDLE_MS) < 0) {
			err = errno;
			break;
		}
		line[len++] = c;
		if (c == '\n' || len == sizeof(line)) {
			if (bsend(s, line, len, now() + IDLE_MS) < 0) {
				err = errno;
				goto failed;
			}
			len = 0;
		}
	}
	if (err != EPIPE)
		goto failed;
	/* EPIPE: the client sent its FIN.  Echo a last line that had no
	 * newline, then close in order: our FIN follows the data. */
	if (len > 0 && bsend(s, line, len, now() + IDLE_MS) < 0) {
		err = errno;
		goto failed;
	}
	if (tcp_close(s, now() + CLOSE_MS) < 0)
		fprintf(stderr, "echo_server: close: %s\n", strerror(errno));
	return NULL;
failed:
	if (err != ECONNRESET)
		fprintf(stderr, "echo_server: connection: %s\n", strerror(err));
	/* Nothing more to say to this peer; let go at once. */
	hclose(s);
	return NULL;
}

int main(int argc, char *argv[])
{
	struct ipaddr addr, peer;
	char buf[IPADDR_MAXSTRLEN];
	pthread_attr_t attr;
	char *end;

	if (argc != 2) {
		fprintf(stderr, "usage: %s PORT\n", argv[0]);
		return 2;
	}
	long port = strtol(argv[1], &end, 10);
	if (*argv[1] == '\0' || *end != '\0' || port < 0 || port > 65535) {
		fprintf(stderr, "echo_server: bad port: %s\n", argv[1]);
		return 2;
	}
	/* NULL: every address of the daemon's host. */
	if (ipaddr_local(&addr, NULL, (int)port, 0) < 0) {
		perror("echo_server: ipaddr_local");
		return 1;
	}
	int ls = tcp_listen(&addr, 64);
	if (ls < 0) {
		perror("echo_server: tcp_listen");
		return 1;
	}
	printf("listening on port %d\n", ipaddr_port(&addr));
	fflush(stdout);

	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	for (;;) {
		int s = tcp_accept(ls, &peer, -1);
		if (s < 0) {
			if (errno == EMFILE || errno == ENFILE ||
			    errno == ENOMEM) {
				/* Out of room for now: back off, retry. */
				perror("echo_server: tcp_accept");
				msleep(now() + 100);
				continue;
			}
			/* ECONNRESET: dillnetd went away and took the
			 * listener with it.  Anything else is a bug. */
			perror("echo_server: tcp_accept");
			break;
		}
		printf("connection from %s port %d\n", ipaddr_str(&peer, buf),
		       ipaddr_port(&peer));
		fflush(stdout);
		pthread_t tid;
		int rc = pthread_create(&tid, &attr, serve, (void *)(intptr_t)s);
		if (rc != 0) {
			fprintf(stderr, "echo_server: pthread_create: %s\n",
				strerror(rc));
			hclose(s);
		}
	}
	pthread_attr_destroy(&attr);
	tcp_close(ls, -1);
	return 1;
}
