/*
 * dn_cat: netcat over dillnet, for the interop tests.
 *
 *   dn_cat connect ADDR PORT     connect through dillnetd
 *   dn_cat listen PORT [PORTFILE]  listen (port 0: the chosen port is
 *                                written to PORTFILE), accept one connection
 *
 * Copies stdin to the connection and then half-closes it (tcp_done), and
 * at the same time copies the connection to stdout until the peer's FIN
 * (brecv's EPIPE); then tcp_close.  Exit 0 only if both directions ended
 * cleanly; errors are printed with the errno name.  -t SECONDS bounds the
 * whole run (default 120).
 */
#include <dillnet.h>

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int64_t deadline;
static int sock = -1;

/* brecv is all-or-nothing, so the receiver asks for one byte at a time
 * only when it has to; most of the stream moves in large reads guarded by
 * a short deadline and retried. */
static void *rx_thread(void *arg)
{
	static char buf[65536];
	int *rc = arg;
	for (;;) {
		if (brecv(sock, buf, 1, deadline) < 0) {
			if (errno == EPIPE)
				break;
			fprintf(stderr, "dn_cat: brecv: %s\n", strerror(errno));
			*rc = 1;
			return NULL;
		}
		if (fwrite(buf, 1, 1, stdout) != 1) {
			*rc = 1;
			return NULL;
		}
		/* Drain what is already there in bigger pieces (deadline 0:
		 * never blocks, all or nothing). */
		size_t want = sizeof(buf);
		while (want >= 1) {
			if (brecv(sock, buf, want, 0) == 0) {
				if (fwrite(buf, 1, want, stdout) != want) {
					*rc = 1;
					return NULL;
				}
				continue;
			}
			if (errno == ETIMEDOUT) {
				want /= 2;
				continue;
			}
			if (errno == EPIPE)
				goto done;
			fprintf(stderr, "dn_cat: brecv: %s\n", strerror(errno));
			*rc = 1;
			return NULL;
		}
	}
done:
	fflush(stdout);
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
	static char buf[65536];
	int tx_rc = 0;
	size_t n;
	while ((n = fread(buf, 1, sizeof(buf), stdin)) > 0) {
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
