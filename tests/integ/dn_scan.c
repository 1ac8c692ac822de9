/*
 * dn_scan: the hostile app of t_isolation_stack's ARP check (issue 10
 * item 6).  Connects to N distinct on-link addresses nobody answers,
 * 198.18.(FIRST + i / 250).(1 + i % 250), each with a short deadline,
 * from THREADS threads at once, so that the daemon keeps many neighbour
 * resolutions in flight for this app's uid.
 *
 *   dn_scan FIRST N DEADLINE_MS THREADS PORT
 *
 * Prints "tried T connected C timedout O unreachable U other X" and exits
 * 0 once every attempt has ended (whatever its outcome: the outcomes are
 * the daemon's business, the test looks at its counters); 2 on bad usage.
 */
#include <dillnet.h>

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static int first, count, deadline_ms, nthreads, port;
static int next_i, n_conn, n_tmo, n_unreach, n_other;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;

static void *worker(void *arg)
{
	(void)arg;
	for (;;) {
		pthread_mutex_lock(&mu);
		int i = next_i < count ? next_i++ : -1;
		pthread_mutex_unlock(&mu);
		if (i < 0)
			return NULL;
		char ip[32];
		snprintf(ip, sizeof(ip), "198.18.%d.%d", first + i / 250, 1 + i % 250);
		struct ipaddr a;
		int h = -1, e = 0;
		if (ipaddr_remote(&a, ip, port, IPADDR_IPV4, -1) < 0)
			e = errno;
		else if ((h = tcp_connect(&a, now() + deadline_ms)) < 0)
			e = errno;
		if (h >= 0)
			hclose(h);
		pthread_mutex_lock(&mu);
		if (h >= 0)
			n_conn++;
		else if (e == ETIMEDOUT)
			n_tmo++;
		else if (e == EHOSTUNREACH || e == ENETUNREACH)
			n_unreach++;
		else
			n_other++;
		pthread_mutex_unlock(&mu);
	}
}

int main(int argc, char **argv)
{
	if (argc != 6) {
		fprintf(stderr, "usage: dn_scan FIRST N DEADLINE_MS THREADS PORT\n");
		return 2;
	}
	first = atoi(argv[1]);
	count = atoi(argv[2]);
	deadline_ms = atoi(argv[3]);
	nthreads = atoi(argv[4]);
	port = atoi(argv[5]);
	if (first < 1 || first > 254 || count < 1 || count > 250 * (255 - first) ||
	    deadline_ms < 1 || nthreads < 1 || nthreads > 64 || port < 1 || port > 65535) {
		fprintf(stderr, "dn_scan: argument out of range\n");
		return 2;
	}
	pthread_t t[64];
	for (int k = 0; k < nthreads; k++)
		if (pthread_create(&t[k], NULL, worker, NULL) != 0) {
			fprintf(stderr, "dn_scan: pthread_create failed\n");
			return 1;
		}
	for (int k = 0; k < nthreads; k++)
		pthread_join(t[k], NULL);
	printf("tried %d connected %d timedout %d unreachable %d other %d\n",
	       count, n_conn, n_tmo, n_unreach, n_other);
	return 0;
}
