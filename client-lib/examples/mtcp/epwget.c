/*
 * epwget: fetch many files over HTTP in parallel, written the way mTCP
 * programs are: one thread and one mTCP context per core, each keeping up
 * to CONC non-blocking connections in flight through its own epoll set.
 * Built against libdillnet it runs unprivileged on dillnetd.
 *
 *   epwget [-N threads] [-c conc] [-o outdir] [-l listfile] [-f mtcp.conf]
 *          IP PORT [path...]
 *
 * Each path (from the command line, or one per line in listfile) is one
 * GET on its own connection; the body goes to OUTDIR/<last part of the
 * path>.  The exit status is 0 only when every fetch got a 200 with the
 * whole body its Content-Length announced.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <mtcp_api.h>
#include <mtcp_epoll.h>

#define MAX_CPUS 16
#define MAX_EVENTS 1024
#define HDR_MAX 8192

struct flow {
	int active;
	int idx;                /* which path */
	int fd;                 /* output file */
	char hdr[HDR_MAX];
	size_t hlen;
	int in_body;
	long long clen;         /* -1: until the end */
	long long got;
	int status;
	char req[1024];
	size_t rlen, rsent;
};

struct thread_ctx {
	int core;
	mctx_t mctx;
	int ep;
	struct flow *flows;     /* indexed by socket id */
	int next;               /* next path of this thread (stride core_limit) */
	int inflight;
	int ok, failed;
};

static char **paths;
static int npaths;
static const char *outdir = ".";
static struct sockaddr_in daddr;
static int core_limit = 1;
static int conc = 16;
static int max_conc;

static void finish(struct thread_ctx *t, int s, int good)
{
	struct flow *f = &t->flows[s];
	if (good && f->status == 200 && (f->clen < 0 || f->got == f->clen)) {
		t->ok++;
	} else {
		t->failed++;
		fprintf(stderr, "epwget: %s: status %d, %lld of %lld bytes\n",
			paths[f->idx], f->status, f->got, f->clen);
	}
	if (f->fd >= 0)
		close(f->fd);
	mtcp_epoll_ctl(t->mctx, t->ep, MTCP_EPOLL_CTL_DEL, s, NULL);
	mtcp_close(t->mctx, s);
	f->active = 0;
	t->inflight--;
}

static int start_one(struct thread_ctx *t)
{
	if (t->next >= npaths)
		return 0;
	int idx = t->next;
	t->next += core_limit;
	int s = mtcp_socket(t->mctx, AF_INET, SOCK_STREAM, 0);
	if (s < 0 || s >= max_conc) {
		perror("mtcp_socket");
		if (s >= 0)
			mtcp_close(t->mctx, s);
		t->failed++;
		return -1;
	}
	mtcp_setsock_nonblock(t->mctx, s);
	struct flow *f = &t->flows[s];
	memset(f, 0, sizeof(*f));
	f->active = 1;
	f->idx = idx;
	f->clen = -1;
	const char *base = strrchr(paths[idx], '/');
	base = base ? base + 1 : paths[idx];
	char out[4096];
	snprintf(out, sizeof(out), "%s/%s", outdir, *base ? base : "index.html");
	f->fd = open(out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	char ip[INET_ADDRSTRLEN];
	inet_ntop(AF_INET, &daddr.sin_addr, ip, sizeof(ip));
	f->rlen = (size_t)snprintf(f->req, sizeof(f->req),
		"GET %s HTTP/1.0\r\nHost: %s\r\nUser-Agent: epwget (dillnet)\r\n"
		"Connection: close\r\n\r\n", paths[idx], ip);
	t->inflight++;
	int r = mtcp_connect(t->mctx, s, (struct sockaddr *)&daddr, sizeof(daddr));
	if (r < 0 && errno != EINPROGRESS) {
		perror("mtcp_connect");
		finish(t, s, 0);
		return -1;
	}
	struct mtcp_epoll_event ev = { .events = MTCP_EPOLLOUT, .data.sockid = s };
	mtcp_epoll_ctl(t->mctx, t->ep, MTCP_EPOLL_CTL_ADD, s, &ev);
	return 1;
}

static void on_writable(struct thread_ctx *t, int s)
{
	struct flow *f = &t->flows[s];
	int err = 0;
	socklen_t len = sizeof(err);
	if (f->rsent == 0 &&
	    (mtcp_getsockopt(t->mctx, s, SOL_SOCKET, SO_ERROR, &err, &len) < 0 || err)) {
		fprintf(stderr, "epwget: connect: %s\n", strerror(err ? err : errno));
		finish(t, s, 0);
		return;
	}
	while (f->rsent < f->rlen) {
		ssize_t w = mtcp_write(t->mctx, s, f->req + f->rsent, f->rlen - f->rsent);
		if (w < 0) {
			if (errno == EAGAIN)
				return;
			fprintf(stderr, "epwget: %s: sending the request: %s\n",
				paths[f->idx], strerror(errno));
			finish(t, s, 0);
			return;
		}
		f->rsent += (size_t)w;
	}
	struct mtcp_epoll_event ev = { .events = MTCP_EPOLLIN, .data.sockid = s };
	mtcp_epoll_ctl(t->mctx, t->ep, MTCP_EPOLL_CTL_MOD, s, &ev);
}

static int body(struct flow *f, const char *p, size_t n)
{
	f->got += (long long)n;
	while (n && f->fd >= 0) {
		ssize_t w = write(f->fd, p, n);
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

static void on_readable(struct thread_ctx *t, int s)
{
	struct flow *f = &t->flows[s];
	char buf[65536];
	for (;;) {
		ssize_t r = mtcp_read(t->mctx, s, buf, sizeof(buf));
		if (r < 0 && errno == EAGAIN)
			return;
		if (r <= 0) {
			if (r < 0)
				fprintf(stderr, "epwget: %s: %s\n", paths[f->idx],
					strerror(errno));
			finish(t, s, r == 0);
			return;
		}
		if (f->in_body) {
			if (body(f, buf, (size_t)r) < 0) {
				finish(t, s, 0);
				return;
			}
			continue;
		}
		/* The header goes to f->hdr; whatever of this read does not
		 * fit there is body (or a header too long to take). */
		size_t n = (size_t)r, room = HDR_MAX - 1 - f->hlen;
		size_t take = n < room ? n : room;
		memcpy(f->hdr + f->hlen, buf, take);
		f->hlen += take;
		f->hdr[f->hlen] = 0;
		char *end = strstr(f->hdr, "\r\n\r\n");
		if (!end) {
			if (f->hlen == HDR_MAX - 1) {
				fprintf(stderr, "epwget: %s: header too long\n", paths[f->idx]);
				finish(t, s, 0);
				return;
			}
			continue;
		}
		f->in_body = 1;
		sscanf(f->hdr, "HTTP/%*d.%*d %d", &f->status);
		for (char *h = strstr(f->hdr, "\r\n"); h && h < end; h = strstr(h + 2, "\r\n"))
			if (strncasecmp(h + 2, "Content-Length:", 15) == 0)
				f->clen = atoll(h + 17);
		size_t hdr_end = (size_t)(end + 4 - f->hdr);
		if (body(f, f->hdr + hdr_end, f->hlen - hdr_end) < 0 ||
		    body(f, buf + take, n - take) < 0) {
			finish(t, s, 0);
			return;
		}
	}
}

static void *client_thread(void *arg)
{
	struct thread_ctx *t = arg;
	mtcp_core_affinitize(t->core);
	t->mctx = mtcp_create_context(t->core);
	if (!t->mctx) {
		perror("mtcp_create_context");
		return NULL;
	}
	t->flows = calloc((size_t)max_conc, sizeof(*t->flows));
	t->ep = mtcp_epoll_create(t->mctx, MAX_EVENTS);
	struct mtcp_epoll_event *events = calloc(MAX_EVENTS, sizeof(*events));
	if (!t->flows || !events || t->ep < 0) {
		perror("epwget: set-up");
		goto out;
	}
	t->next = t->core;
	for (;;) {
		while (t->inflight < conc && start_one(t) != 0)
			;
		if (t->inflight == 0)
			break;
		/* A server that stops answering must not hang us for ever. */
		int n = mtcp_epoll_wait(t->mctx, t->ep, events, MAX_EVENTS, 30000);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			perror("mtcp_epoll_wait");
			break;
		}
		if (n == 0) {
			fprintf(stderr, "epwget: thread %d: nothing for 30 s, giving up\n", t->core);
			break;
		}
		for (int i = 0; i < n; i++) {
			int s = events[i].data.sockid;
			if (!t->flows[s].active)
				continue;
			if (events[i].events & MTCP_EPOLLIN)
				on_readable(t, s);
			else if (events[i].events & (MTCP_EPOLLERR | MTCP_EPOLLHUP)) {
				int err = 0;
				socklen_t len = sizeof(err);
				mtcp_getsockopt(t->mctx, s, SOL_SOCKET, SO_ERROR, &err, &len);
				fprintf(stderr, "epwget: %s: %s\n", paths[t->flows[s].idx],
					strerror(err));
				finish(t, s, 0);
			}
			else if (events[i].events & MTCP_EPOLLOUT)
				on_writable(t, s);
		}
	}
out:
	t->failed += t->inflight;
	free(events);
	free(t->flows);
	mtcp_destroy_context(t->mctx);
	return NULL;
}

int main(int argc, char **argv)
{
	const char *list = NULL, *conf = NULL;
	int want_cores = 0, o;
	while ((o = getopt(argc, argv, "N:c:o:l:f:")) != -1) {
		switch (o) {
		case 'N': want_cores = atoi(optarg); break;
		case 'c': conc = atoi(optarg); break;
		case 'o': outdir = optarg; break;
		case 'l': list = optarg; break;
		case 'f': conf = optarg; break;
		default: goto usage;
		}
	}
	if (argc - optind < 2 || conc < 1)
		goto usage;
	daddr.sin_family = AF_INET;
	daddr.sin_port = htons((uint16_t)atoi(argv[optind + 1]));
	if (inet_pton(AF_INET, argv[optind], &daddr.sin_addr) != 1)
		goto usage;
	paths = argv + optind + 2;
	npaths = argc - optind - 2;
	if (list) {
		FILE *lf = fopen(list, "r");
		if (!lf) {
			perror(list);
			return 1;
		}
		char line[2048];
		npaths = 0;
		paths = NULL;
		while (fgets(line, sizeof(line), lf)) {
			line[strcspn(line, "\r\n")] = 0;
			if (!*line)
				continue;
			char **np = realloc(paths, sizeof(*paths) * (size_t)(npaths + 1));
			if (!np)
				return 1;
			paths = np;
			paths[npaths++] = strdup(line);
		}
		fclose(lf);
	}
	if (npaths == 0)
		goto usage;

	struct mtcp_conf mcfg;
	mtcp_getconf(&mcfg);
	if (want_cores > 0) {
		mcfg.num_cores = want_cores > MAX_CPUS ? MAX_CPUS : want_cores;
		mtcp_setconf(&mcfg);
	}
	if (mtcp_init(conf) < 0) {
		perror("mtcp_init");
		return 1;
	}
	mtcp_getconf(&mcfg);
	core_limit = mcfg.num_cores > MAX_CPUS ? MAX_CPUS : mcfg.num_cores;
	max_conc = mcfg.max_concurrency;
	if (conc > max_conc - 1)
		conc = max_conc - 1;
	pthread_t th[MAX_CPUS];
	struct thread_ctx ctx[MAX_CPUS];
	memset(ctx, 0, sizeof(ctx));
	for (int i = 0; i < core_limit; i++) {
		ctx[i].core = i;
		if (pthread_create(&th[i], NULL, client_thread, &ctx[i]) != 0) {
			perror("pthread_create");
			return 1;
		}
	}
	int ok = 0, failed = 0;
	for (int i = 0; i < core_limit; i++) {
		pthread_join(th[i], NULL);
		ok += ctx[i].ok;
		failed += ctx[i].failed;
	}
	mtcp_destroy();
	printf("epwget: %d fetched, %d failed\n", ok, failed);
	return failed || ok != npaths ? 1 : 0;
usage:
	fprintf(stderr, "usage: %s [-N threads] [-c conc] [-o outdir] [-l listfile] "
		"[-f mtcp.conf] IP PORT [path...]\n", argv[0]);
	return 2;
}
