/*
 * dn_cat: netcat over dillnet, for the interop tests.
 *
 *   dn_cat connect ADDR PORT     connect through dillnetd
 *   dn_cat listen PORT [PORTFILE]  listen (port 0: the chosen port is
 *                                written to PORTFILE), accept one connection
 *
 * Sends stdin framed as an 8-byte big-endian length and
 * the bytes, then half-closes (tcp_done); at the same time receives one
 * such frame to stdout and expects the peer's FIN after it (brecv's
 * EPIPE); then tcp_close.  Exit 0 only if both directions ended
 * cleanly; errors are printed with the errno name.  -t SECONDS bounds the
 * whole run (default 120).
 */
#include <dillnet.h>

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int64_t deadline;
static int sock = -1;

/* brecv is all or nothing, and a receive that times out breaks the
 * direction for good (the libdill contract), so a stream of unknown length
 * is framed: an 8-byte big-endian length, the bytes, then the FIN. */
static int recv_exact(void *buf, size_t n)
{
	if (brecv(sock, buf, n, deadline) < 0) {
		fprintf(stderr, "dn_cat: brecv: %s\n", strerror(errno));
		return -1;
	}
	return 0;
}

static void *rx_thread(void *arg)
{
	static char buf[65536];
	int *rc = arg;
	uint8_t hdr[8];
	*rc = 1;
	if (recv_exact(hdr, 8) < 0)
		return NULL;
	uint64_t left = 0;
	for (int i = 0; i < 8; i++)
		left = left << 8 | hdr[i];
	while (left) {
		size_t k = left < sizeof(buf) ? (size_t)left : sizeof(buf);
		if (recv_exact(buf, k) < 0 || fwrite(buf, 1, k, stdout) != k)
			return NULL;
		left -= k;
	}
	fflush(stdout);
	/* Then the peer's FIN: EPIPE, not more data. */
	if (brecv(sock, buf, 1, deadline) == 0 || errno != EPIPE) {
		fprintf(stderr, "dn_cat: expected the end of the stream, got %s\n",
			errno ? strerror(errno) : "more data");
		return NULL;
	}
	*rc = 0;
	return NULL;
}

int main(int argc, char **argv)
{
	int secs = 120, opt;
	while ((opt = getopt(argc, argv, "t:")) != -1) {
		if (opt == 't')
			secs = atoi(optarg);
		else
			return 2;
	}
	argc -= optind;
	argv += optind;
	if (argc < 2) {
		fprintf(stderr, "usage: dn_cat [-t SECONDS] connect ADDR PORT | listen PORT [PORTFILE]\n");
		return 2;
	}
	deadline = now() + (int64_t)secs * 1000;
	struct ipaddr addr;
	if (strcmp(argv[0], "connect") == 0 && argc >= 3) {
		if (ipaddr_remote(&addr, argv[1], atoi(argv[2]), IPADDR_IPV4, deadline) < 0) {
			fprintf(stderr, "dn_cat: ipaddr_remote: %s\n", strerror(errno));
			return 1;
		}
		sock = tcp_connect(&addr, deadline);
		if (sock < 0) {
			fprintf(stderr, "dn_cat: tcp_connect: %s\n", strerror(errno));
			return 1;
		}
	} else if (strcmp(argv[0], "listen") == 0) {
		if (ipaddr_local(&addr, NULL, atoi(argv[1]), IPADDR_IPV4) < 0) {
			fprintf(stderr, "dn_cat: ipaddr_local: %s\n", strerror(errno));
			return 1;
		}
		int l = tcp_listen(&addr, 10);
		if (l < 0) {
			fprintf(stderr, "dn_cat: tcp_listen: %s\n", strerror(errno));
			return 1;
		}
		if (argc >= 3) {
			FILE *f = fopen(argv[2], "w");
			if (!f || fprintf(f, "%d\n", ipaddr_port(&addr)) < 0 || fclose(f) != 0) {
				fprintf(stderr, "dn_cat: %s: %s\n", argv[2], strerror(errno));
				return 1;
			}
		}
		sock = tcp_accept(l, NULL, deadline);
		if (sock < 0) {
			fprintf(stderr, "dn_cat: tcp_accept: %s\n", strerror(errno));
			return 1;
		}
		hclose(l);
	} else {
		fprintf(stderr, "dn_cat: unknown mode %s\n", argv[0]);
		return 2;
	}

	pthread_t t;
	int rx_rc = 1;
	if (pthread_create(&t, NULL, rx_thread, &rx_rc) != 0)
		return 1;
	/* The length goes first: a regular file is sent as it is read; any
	 * other stdin (a pipe) is read to its end first. */
	static char buf[65536];
	int tx_rc = 0;
	struct stat stt;
	char *mem = NULL;
	size_t memlen = 0, memcap = 0;
	uint64_t total;
	if (fstat(0, &stt) == 0 && S_ISREG(stt.st_mode)) {
		total = (uint64_t)stt.st_size;
	} else {
		size_t n;
		while ((n = fread(buf, 1, sizeof(buf), stdin)) > 0) {
			if (memlen + n > memcap) {
				memcap = memcap ? memcap * 2 : sizeof(buf);
				char *m = realloc(mem, memcap);
				if (!m)
					return 1;
				mem = m;
			}
			memcpy(mem + memlen, buf, n);
			memlen += n;
		}
		total = memlen;
	}
	uint8_t hdr[8];
	for (int i = 0; i < 8; i++)
		hdr[i] = (uint8_t)(total >> (56 - 8 * i));
	if (bsend(sock, hdr, 8, deadline) < 0) {
		fprintf(stderr, "dn_cat: bsend: %s\n", strerror(errno));
		tx_rc = 1;
	}
	if (!tx_rc && mem && memlen && bsend(sock, mem, memlen, deadline) < 0) {
		fprintf(stderr, "dn_cat: bsend: %s\n", strerror(errno));
		tx_rc = 1;
	}
	free(mem);
	size_t n;
	while (!tx_rc && !memlen && (n = fread(buf, 1, sizeof(buf), stdin)) > 0) {
		if (bsend(sock, buf, n, deadline) < 0) {
			fprintf(stderr, "dn_cat: bsend: %s\n", strerror(errno));
			tx_rc = 1;
			break;
		}
	}
	if (!tx_rc && tcp_done(sock, deadline) < 0) {
		fprintf(stderr, "dn_cat: tcp_done: %s\n", strerror(errno));
		tx_rc = 1;
	}
	pthread_join(t, NULL);
	if (tcp_close(sock, deadline) < 0 && !tx_rc && !rx_rc) {
		fprintf(stderr, "dn_cat: tcp_close: %s\n", strerror(errno));
		return 1;
	}
	return tx_rc || rx_rc;
}
