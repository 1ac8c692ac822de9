/*
 * epserver: an HTTP/1.1 file server written the way mTCP programs are:
 * one thread and one mTCP context per core, each with its own listener on
 * the same port and its own epoll set, non-blocking sockets, per-socket
 * state in an array indexed by socket id.  Built against libdillnet it
 * runs unprivileged on dillnetd.
 *
 *   epserver -p PORT -d DIR [-N threads] [-f mtcp.conf]
 *
 * Every regular file of DIR is read into memory at start and served as
 * /NAME (GET and HEAD, keep-alive unless the client says close).  SIGINT
 * or SIGTERM stops it.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <mtcp_api.h>
#include <mtcp_epoll.h>

#define MAX_CPUS 16
#define MAX_EVENTS 1024
#define REQ_MAX 4096

struct file {
	char name[256];
	char *data;
	size_t len;
};

struct conn {
	int active;
	char req[REQ_MAX];
	size_t rlen;
	char hdr[256];
	size_t hlen;
	const struct file *f;
	size_t sent;            /* of header + body */
	int head;               /* HEAD: no body */
	int keepalive;
};

struct thread_ctx {
	int core;
	mctx_t mctx;
	int ep;
	struct conn *conns;     /* indexed by socket id */
	long served;
	int failed;             /* set-up failed: the exit status says so */
};

static struct file *files;
static int nfiles;
static int port = 80;
static int core_limit;
static int max_conc;
static pthread_t app_thread[MAX_CPUS];
static volatile sig_atomic_t done[MAX_CPUS];

static const struct file *find_file(const char *path, size_t len)
{
	if (len == 0 || path[0] != '/')
		return NULL;
	for (int i = 0; i < nfiles; i++)
		if (strlen(files[i].name) == len - 1 &&
		    memcmp(files[i].name, path + 1, len - 1) == 0)
			return &files[i];
	return NULL;
}

static void close_conn(struct thread_ctx *t, int s)
{
	mtcp_epoll_ctl(t->mctx, t->ep, MTCP_EPOLL_CTL_DEL, s, NULL);
	mtcp_close(t->mctx, s);
	t->conns[s].active = 0;
}

static void want(struct thread_ctx *t, int s, uint32_t events)
{
	struct mtcp_epoll_event ev = { .events = events, .data.sockid = s };
	mtcp_epoll_ctl(t->mctx, t->ep, MTCP_EPOLL_CTL_MOD, s, &ev);
}

/* Send what fits; returns 1 when the response is out, 0 to wait, -1 on
 * error. */
static int send_more(struct thread_ctx *t, int s)
{
	struct conn *c = &t->conns[s];
	size_t total = c->hlen + (c->head || !c->f ? 0 : c->f->len);
	while (c->sent < total) {
		const char *p;
		size_t n;
		if (c->sent < c->hlen) {
			p = c->hdr + c->sent;
			n = c->hlen - c->sent;
		} else {
			p = c->f->data + (c->sent - c->hlen);
			n = total - c->sent;
		}
		ssize_t w = mtcp_write(t->mctx, s, p, n);
		if (w < 0)
			return errno == EAGAIN ? 0 : -1;
		c->sent += (size_t)w;
	}
	return 1;
}

/* A full request is in c->req: build the response. */
static void start_response(struct conn *c)
{
	char *sp1 = memchr(c->req, ' ', c->rlen);
	char *sp2 = sp1 ? memchr(sp1 + 1, ' ', c->rlen - (size_t)(sp1 + 1 - c->req)) : NULL;
	c->head = sp1 && sp1 - c->req == 4 && memcmp(c->req, "HEAD", 4) == 0;
	int get = sp1 && sp1 - c->req == 3 && memcmp(c->req, "GET", 3) == 0;
	/* HTTP/1.1 keeps the connection unless told otherwise; 1.0 closes. */
	c->keepalive = sp2 && strncmp(sp2 + 1, "HTTP/1.1", 8) == 0;
	for (char *h = strstr(c->req, "\r\n"); h && h[2] != '\r'; h = strstr(h + 2, "\r\n")) {
		if (strncasecmp(h + 2, "Connection:", 11) == 0) {
			const char *v = h + 13;
			while (*v == ' ')
				v++;
			c->keepalive = strncasecmp(v, "close", 5) != 0 &&
				       (c->keepalive || strncasecmp(v, "keep-alive", 10) == 0);
		}
	}
	c->f = sp2 && (get || c->head) ? find_file(sp1 + 1, (size_t)(sp2 - sp1 - 1)) : NULL;
	const char *conn = c->keepalive ? "keep-alive" : "close";
	if (c->f)
		c->hlen = (size_t)snprintf(c->hdr, sizeof(c->hdr),
			"HTTP/1.1 200 OK\r\nContent-Length: %zu\r\n"
			"Content-Type: application/octet-stream\r\nConnection: %s\r\n\r\n",
			c->f->len, conn);
	else
		c->hlen = (size_t)snprintf(c->hdr, sizeof(c->hdr),
			"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: %s\r\n\r\n",
			conn);
	c->sent = 0;
}

static void handle_write(struct thread_ctx *t, int s)
{
	struct conn *c = &t->conns[s];
	int r = send_more(t, s);
	if (r < 0) {
		close_conn(t, s);
		return;
	}
	if (r == 0) {
		want(t, s, MTCP_EPOLLOUT);
		return;
	}
	t->served++;
	if (!c->keepalive) {
		close_conn(t, s);
		return;
	}
	c->rlen = 0;
	c->f = NULL;
	want(t, s, MTCP_EPOLLIN);
}

static void handle_read(struct thread_ctx *t, int s)
{
	struct conn *c = &t->conns[s];
	for (;;) {
		if (c->rlen == REQ_MAX - 1) {
			close_conn(t, s);     /* request too large */
			return;
		}
		ssize_t r = mtcp_read(t->mctx, s, c->req + c->rlen, REQ_MAX - 1 - c->rlen);
		if (r == 0 || (r < 0 && errno != EAGAIN)) {
			close_conn(t, s);
			return;
		}
		if (r < 0)
			return;                 /* EAGAIN: wait for more */
		c->rlen += (size_t)r;
		c->req[c->rlen] = 0;
		if (strstr(c->req, "\r\n\r\n"))
			break;
	}
	start_response(c);
	handle_write(t, s);
}

static void accept_all(struct thread_ctx *t, int listener)
{
	for (;;) {
		int s = mtcp_accept(t->mctx, listener, NULL, NULL);
		if (s < 0) {
			if (errno != EAGAIN)
				perror("mtcp_accept");
			return;
		}
		if (s >= max_conc) {
			mtcp_close(t->mctx, s);
			continue;
		}
		memset(&t->conns[s], 0, sizeof(t->conns[s]));
		t->conns[s].active = 1;
		mtcp_setsock_nonblock(t->mctx, s);
		struct mtcp_epoll_event ev = { .events = MTCP_EPOLLIN, .data.sockid = s };
		mtcp_epoll_ctl(t->mctx, t->ep, MTCP_EPOLL_CTL_ADD, s, &ev);
	}
}

static void *server_thread(void *arg)
{
	struct thread_ctx *t = arg;
	mtcp_core_affinitize(t->core);
	t->mctx = mtcp_create_context(t->core);
	if (!t->mctx) {
		perror("mtcp_create_context");
		t->failed = 1;
		return NULL;
	}
	t->conns = calloc((size_t)max_conc, sizeof(*t->conns));
	t->ep = mtcp_epoll_create(t->mctx, MAX_EVENTS);
	struct mtcp_epoll_event *events = calloc(MAX_EVENTS, sizeof(*events));
	int listener = mtcp_socket(t->mctx, AF_INET, SOCK_STREAM, 0);
	if (!t->conns || !events || t->ep < 0 || listener < 0) {
		perror("epserver: set-up");
		t->failed = 1;
		goto out;
	}
	mtcp_setsock_nonblock(t->mctx, listener);
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port),
				   .sin_addr.s_addr = INADDR_ANY };
	/* A port under the daemon's apps.listen_port_min fails here with
	 * EACCES, as bind(2) does for an unprivileged user. */
	if (mtcp_bind(t->mctx, listener, (struct sockaddr *)&sin, sizeof(sin)) < 0) {
		perror("epserver: mtcp_bind");
		t->failed = 1;
		goto out;
	}
	if (mtcp_listen(t->mctx, listener, 4096) < 0) {
		perror("epserver: mtcp_listen");
		t->failed = 1;
		goto out;
	}
	struct mtcp_epoll_event ev = { .events = MTCP_EPOLLIN, .data.sockid = listener };
	mtcp_epoll_ctl(t->mctx, t->ep, MTCP_EPOLL_CTL_ADD, listener, &ev);
	fprintf(stderr, "epserver: thread %d listening on port %d\n", t->core, port);
	while (!done[t->core]) {
		int n = mtcp_epoll_wait(t->mctx, t->ep, events, MAX_EVENTS, -1);
		if (n < 0) {
			if (errno != EINTR)
				perror("mtcp_epoll_wait");
			continue;
		}
		for (int i = 0; i < n; i++) {
			int s = events[i].data.sockid;
			if (s == listener) {
				accept_all(t, listener);
			} else if (events[i].events & (MTCP_EPOLLERR | MTCP_EPOLLHUP)) {
				close_conn(t, s);
			} else if (events[i].events & MTCP_EPOLLIN) {
				handle_read(t, s);
			} else if (events[i].events & MTCP_EPOLLOUT) {
				handle_write(t, s);
			}
		}
	}
out:
	fprintf(stderr, "epserver: thread %d served %ld responses\n", t->core, t->served);
	free(events);
	free(t->conns);
	mtcp_destroy_context(t->mctx);
	return NULL;
}

static void signal_handler(int signum)
{
	for (int i = 0; i < core_limit; i++) {
		if (pthread_equal(app_thread[i], pthread_self())) {
			done[i] = 1;
		} else if (!done[i]) {
			done[i] = 1;
			pthread_kill(app_thread[i], signum);
		}
	}
}

static int load_files(const char *dir)
{
	DIR *d = opendir(dir);
	if (!d)
		return -1;
	struct dirent *de;
	while ((de = readdir(d))) {
		char path[4096];
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		struct stat st;
		if (de->d_name[0] == '.' || stat(path, &st) < 0 || !S_ISREG(st.st_mode) ||
		    strlen(de->d_name) >= sizeof(files[0].name))
			continue;
		struct file *nf = realloc(files, sizeof(*files) * (size_t)(nfiles + 1));
		if (!nf)
			break;
		files = nf;
		struct file *f = &files[nfiles];
		snprintf(f->name, sizeof(f->name), "%s", de->d_name);
		f->len = (size_t)st.st_size;
		f->data = malloc(f->len ? f->len : 1);
		int fd = open(path, O_RDONLY | O_CLOEXEC);
		size_t got = 0;
		while (fd >= 0 && f->data && got < f->len) {
			ssize_t r = read(fd, f->data + got, f->len - got);
			if (r <= 0)
				break;
			got += (size_t)r;
		}
		if (fd >= 0)
			close(fd);
		if (got == f->len && f->data)
			nfiles++;
	}
	closedir(d);
	return 0;
}

int main(int argc, char **argv)
{
	const char *dir = NULL, *conf = NULL;
	int want_cores = 0, o;
	while ((o = getopt(argc, argv, "p:d:N:f:")) != -1) {
		switch (o) {
		case 'p': port = atoi(optarg); break;
		case 'd': dir = optarg; break;
		case 'N': want_cores = atoi(optarg); break;
		case 'f': conf = optarg; break;
		default:
			fprintf(stderr, "usage: %s -p PORT -d DIR [-N threads] [-f mtcp.conf]\n",
				argv[0]);
			return 2;
		}
	}
	if (!dir || port <= 0 || port > 65535) {
		fprintf(stderr, "usage: %s -p PORT -d DIR [-N threads] [-f mtcp.conf]\n", argv[0]);
		return 2;
	}
	if (load_files(dir) < 0 || nfiles == 0) {
		fprintf(stderr, "epserver: no files to serve in %s\n", dir);
		return 1;
	}
	/* As mTCP programs do: ask for the thread count before init. */
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
	mtcp_register_signal(SIGINT, signal_handler);
	mtcp_register_signal(SIGTERM, signal_handler);
	struct thread_ctx ctx[MAX_CPUS];
	memset(ctx, 0, sizeof(ctx));
	for (int i = 0; i < core_limit; i++) {
		ctx[i].core = i;
		if (pthread_create(&app_thread[i], NULL, server_thread, &ctx[i]) != 0) {
			perror("pthread_create");
			return 1;
		}
	}
	long total = 0;
	int failed = 0;
	for (int i = 0; i < core_limit; i++) {
		pthread_join(app_thread[i], NULL);
		total += ctx[i].served;
		failed += ctx[i].failed;
	}
	fprintf(stderr, "epserver: %ld responses in all\n", total);
	mtcp_destroy();
	return failed ? 1 : 0;
}
