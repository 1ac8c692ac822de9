/*
 * dn_probe: small app behaviours for the attach/isolation tests.
 *
 *   dn_probe attach              attach; prints "ok" or the errno name
 *   dn_probe hold N              N listeners on port 0; prints "ready", sleeps
 *   dn_probe restart             blocks in tcp_accept; when the daemon goes
 *                                away prints the errno that call got, then
 *                                retries tcp_listen every 100 ms (20 s max)
 *                                and prints "reattached" once one works
 *   dn_probe echo PORTFILE N     listen on port 0 (written to PORTFILE),
 *                                accept one connection, echo N bytes back
 */
#include <dillnet.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *ename(int e)
{
	switch (e) {
	case EACCES: return "EACCES";
	case ENOENT: return "ENOENT";
	case ECONNREFUSED: return "ECONNREFUSED";
	case ECONNRESET: return "ECONNRESET";
	case ETIMEDOUT: return "ETIMEDOUT";
	case EPROTO: return "EPROTO";
	case EMFILE: return "EMFILE";
	case ECANCELED: return "ECANCELED";
	default: return strerror(e);
	}
}

static int listen0(struct ipaddr *a)
{
	if (ipaddr_local(a, NULL, 0, IPADDR_IPV4) < 0)
		return -1;
	return tcp_listen(a, 16);
}

int main(int argc, char **argv)
{
	struct ipaddr a;
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc >= 2 && strcmp(argv[1], "attach") == 0) {
		if (dillnet_attach(now() + 5000) < 0) {
			printf("%s\n", ename(errno));
			return 1;
		}
		printf("ok\n");
		return 0;
	}
	if (argc >= 3 && strcmp(argv[1], "hold") == 0) {
		int n = atoi(argv[2]);
		for (int i = 0; i < n; i++)
			if (listen0(&a) < 0) {
				printf("%s\n", ename(errno));
				return 1;
			}
		printf("ready\n");
		for (int i = 0; i < 600; i++)
			sleep(1);
		return 0;
	}
	if (argc >= 2 && strcmp(argv[1], "restart") == 0) {
		int l = listen0(&a);
		if (l < 0) {
			printf("%s\n", ename(errno));
			return 1;
		}
		printf("blocked\n");
		if (tcp_accept(l, NULL, now() + 30000) >= 0) {
			printf("accepted?\n");
			return 1;
		}
		printf("accept: %s\n", ename(errno));
		int64_t until = now() + 20000;
		while (now() < until) {
			if (tcp_accept(l, NULL, 0) < 0 && errno != ECONNRESET) {
				printf("old handle: %s\n", ename(errno));
				return 1;
			}
			int l2 = listen0(&a);
			if (l2 >= 0) {
				printf("reattached\n");
				hclose(l2);
				hclose(l);
				return 0;
			}
			msleep(now() + 100);
		}
		printf("never reattached: %s\n", ename(errno));
		return 1;
	}
	if (argc >= 4 && strcmp(argv[1], "echo") == 0) {
		int l = listen0(&a);
		if (l < 0) {
			printf("%s\n", ename(errno));
			return 1;
		}
		FILE *f = fopen(argv[2], "w");
		if (!f)
			return 1;
		fprintf(f, "%d\n", ipaddr_port(&a));
		fclose(f);
		int s = tcp_accept(l, NULL, now() + 30000);
		if (s < 0) {
			printf("accept: %s\n", ename(errno));
			return 1;
		}
		long n = atol(argv[3]);
		static char buf[4096];
		int64_t dl = now() + 120000;
		while (n > 0) {
			size_t k = n < (long)sizeof(buf) ? (size_t)n : sizeof(buf);
			if (brecv(s, buf, k, dl) < 0 || bsend(s, buf, k, dl) < 0) {
				printf("echo: %s\n", ename(errno));
				return 1;
			}
			n -= (long)k;
		}
		tcp_close(s, now() + 5000);
		printf("echoed\n");
		return 0;
	}
	fprintf(stderr, "usage: dn_probe attach | hold N | restart | echo PORTFILE N\n");
	return 2;
}
