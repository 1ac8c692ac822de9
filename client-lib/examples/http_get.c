/*
 * http_get.c: fetch a page over HTTP/1.0 with libdillnet.
 *
 * The program of tcp_connect_mem(3)'s EXAMPLE, with arguments.  Shows:
 * ipaddr_remote, tcp_connect_mem with caller storage (no allocation for the
 * connection object), bsend of the request, and reading until brecv reports
 * the end of the stream with EPIPE: HTTP/1.0 servers close the connection
 * after the response.  The response header is skipped; the body goes to
 * standard output.
 *
 *   http_get HOST PORT PATH
 */
#include <dillnet.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CONNECT_MS 10000   /* for resolving, connecting and sending */
#define IDLE_MS 10000      /* longest silence while receiving */

int main(int argc, char *argv[])
{
	struct ipaddr addr;
	struct tcp_storage mem;    /* must outlive the connection: it does */
	char req[2048];
	char *end;

	if (argc != 4) {
		fprintf(stderr, "usage: %s HOST PORT PATH\n", argv[0]);
		return 2;
	}
	const char *host = argv[1], *path = argv[3];
	long port = strtol(argv[2], &end, 10);
	if (*argv[2] == '\0' || *end != '\0' || port < 1 || port > 65535) {
		fprintf(stderr, "http_get: bad port: %s\n", argv[2]);
		return 2;
	}
	if (path[0] != '/') {
		fprintf(stderr, "http_get: PATH must start with '/'\n");
		return 2;
	}
	/* An IPv6 literal goes in brackets in the Host header. */
	int v6 = strchr(host, ':') != NULL;
	int n = snprintf(req, sizeof(req),
			 "GET %s HTTP/1.0\r\n"
			 "Host: %s%s%s:%ld\r\n"
			 "User-Agent: dillnet-http_get\r\n"
			 "\r\n",
			 path, v6 ? "[" : "", host, v6 ? "]" : "", port);
	if (n < 0 || (size_t)n >= sizeof(req)) {
		fprintf(stderr, "http_get: request too long\n");
		return 2;
	}

	int64_t deadline = now() + CONNECT_MS;
	if (ipaddr_remote(&addr, host, (int)port, 0, deadline) < 0) {
		fprintf(stderr, "http_get: %s: %s\n", host, strerror(errno));
		return 1;
	}
	int s = tcp_connect_mem(&addr, &mem, deadline);
	if (s < 0) {
		perror("http_get: tcp_connect_mem");
		return 1;
	}
	if (bsend(s, req, (size_t)n, deadline) < 0) {
		perror("http_get: bsend");
		hclose(s);
		return 1;
	}

	/* brecv never returns part of a buffer, and the length of the
	 * response is not known in advance, so read one byte at a time until
	 * EPIPE.  Bytes of the blank line that ends the header are counted in
	 * "matched"; everything after it is the body. */
	int matched = 0;
	char c;
	while (brecv(s, &c, 1, now() + IDLE_MS) == 0) {
		if (matched == 4)
			putchar(c);
		else if (c == "\r\n\r\n"[matched])
			matched++;
		else
			matched = c == '\r';
	}
	if (errno != EPIPE) {
		perror("http_get: brecv");
		hclose(s);
		return 1;
	}
	if (matched != 4)
		fprintf(stderr, "http_get: response ended inside the header\n");
	/* The server already sent its FIN: this sends ours and returns. */
	if (tcp_close(s, now() + 1000) < 0)
		perror("http_get: tcp_close");
	fflush(stdout);
	return matched == 4 ? 0 : 1;
}
