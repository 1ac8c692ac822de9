/*
 * dn_stuff: an app that leaves orphans behind (t_orphans.sh).
 *
 *   dn_stuff ADDR PORT N KB
 *
 * Opens N connections to ADDR:PORT and writes up to KB KiB into each
 * (what the peer's window and the socket's tx ring take within half a
 * second per connection), prints "stuffed N BYTES", then exits without
 * closing anything: the daemon closes the connections as at process exit,
 * with whatever the peer did not take still queued.
 */
#include <dillnet.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv)
{
	if (argc != 5) {
		fprintf(stderr, "usage: dn_stuff ADDR PORT N KB\n");
		return 2;
	}
	int n = atoi(argv[3]);
	long kb = atol(argv[4]);
	if (n < 1 || n > 1024 || kb < 1 || kb > 65536) {
		fprintf(stderr, "dn_stuff: N 1..1024, KB 1..65536\n");
		return 2;
	}
	struct ipaddr addr;
	if (ipaddr_remote(&addr, argv[1], atoi(argv[2]), IPADDR_IPV4, now() + 5000) < 0) {
		fprintf(stderr, "dn_stuff: ipaddr_remote: %s\n", strerror(errno));
		return 1;
	}
	static char chunk[16384];
	memset(chunk, 'x', sizeof chunk);
	long long total = 0;
	for (int i = 0; i < n; i++) {
		int s = tcp_connect(&addr, now() + 5000);
		if (s < 0) {
			fprintf(stderr, "dn_stuff: tcp_connect %d: %s\n", i, strerror(errno));
			return 1;
		}
		int64_t dl = now() + 500;
		for (long k = 0; k < kb * 1024 / (long)sizeof chunk; k++) {
			/* A send that times out (the window is shut) ends
			 * this connection's writing; that is the point. */
			if (bsend(s, chunk, sizeof chunk, dl) < 0)
				break;
			total += (long long)sizeof chunk;
		}
	}
	printf("stuffed %d %lld\n", n, total);
	fflush(stdout);
	return 0;   /* no close: the daemon orphans them */
}
