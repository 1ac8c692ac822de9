/*
 * test_ipc.c: libdillnet's IPC, handle core and bytestream rules.
 *
 * Each test makes its own paths (named after its pid) inside one mkdtemp
 * directory per test case; the directory is created and removed by an
 * unchecked fixture, which runs in the runner process, so it is removed even
 * when a test fails or crashes in its forked child.  Tests that change
 * process-wide state (rlimits, uid, dillnet_shutdown) do it in a child they
 * fork themselves, so they also behave under CK_FORK=no.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "dillnet.h"

static char tdir[64];

static void dir_setup(void)
{
	strcpy(tdir, "/tmp/dnipc.XXXXXX");
	if (!mkdtemp(tdir))
		abort();
	/* Traversable by nobody, so EACCES tests fail on the socket's own
	 * mode and not on the directory's. */
	chmod(tdir, 0755);
}

static int rm_one(const char *p, const struct stat *st, int flag,
		  struct FTW *ftw)
{
	(void)st, (void)flag, (void)ftw;
	return remove(p);
}

static void dir_teardown(void)
{
	nftw(tdir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static void tpath(char *buf, size_t n, const char *name)
{
	snprintf(buf, n, "%s/%d.%s", tdir, (int)getpid(), name);
}

static int64_t ms_since(int64_t t0)
{
	return now() - t0;
}

/* Both ipc_connect and ipc_connect_mem (with storage of exactly IPC_SIZE
 * bytes) must fail on path with err.  Returns "" or what went wrong. */
static const char *both_fail(const char *path, int64_t deadline, int err)
{
	static char why[160];
	errno = 0;
	int s = ipc_connect(path, deadline);
	if (s != -1 || errno != err) {
		snprintf(why, sizeof(why), "ipc_connect: %d, %s", s, strerror(errno));
		return why;
	}
	struct ipc_storage *mem = malloc(IPC_SIZE);
	errno = 0;
	s = ipc_connect_mem(path, mem, deadline);
	int e = errno;
	free(mem);
	if (s != -1 || e != err) {
		snprintf(why, sizeof(why), "ipc_connect_mem: %d, %s", s, strerror(e));
		return why;
	}
	return "";
}

#define ck_both_fail(path, deadline, err)                                  \
	do {                                                               \
		const char *w_ = both_fail(path, deadline, err);           \
		ck_assert_msg(!*w_, "%s (wanted %s)", w_, strerror(err));  \
	} while (0)

/* ---- connection helpers --------------------------------------------- */

struct acc {
	int l;
	int h;
	int err;
	int64_t deadline;
	struct ipc_storage *mem;
	pthread_t th;
};

static void *acc_main(void *p)
{
	struct acc *a = p;
	a->h = a->mem ? ipc_accept_mem(a->l, a->mem, a->deadline)
		      : ipc_accept(a->l, a->deadline);
	a->err = errno;
	return NULL;
}

/* A connected pair through a real listener (same process, two threads). */
static void mkconn_opts(int *cs, int *as, const struct ipc_opts *o)
{
	char p[PATH_MAX];
	tpath(p, sizeof(p), "conn");
	unlink(p);
	struct acc a = { .deadline = now() + 2000 };
	a.l = ipc_listen(p, 8);
	ck_assert_int_ge(a.l, 0);
	ck_assert_int_eq(pthread_create(&a.th, NULL, acc_main, &a), 0);
	*cs = o ? ipc_connect_opts(p, o, NULL, now() + 2000)
		: ipc_connect(p, now() + 2000);
	int e = errno;
	pthread_join(a.th, NULL);
	ck_assert_msg(*cs >= 0, "connect: %s", strerror(e));
	ck_assert_msg(a.h >= 0, "accept: %s", strerror(a.err));
	*as = a.h;
	ck_assert_int_eq(hclose(a.l), 0);
}

static void mkconn(int *cs, int *as)
{
	mkconn_opts(cs, as, NULL);
}

/* Run fn in a forked child; returns its exit status (0 = pass). */
static int in_child(int (*fn)(void *), void *arg)
{
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0)
		_exit(fn(arg));
	int st;
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	ck_assert_msg(WIFEXITED(st), "child died by signal %d",
		      WIFSIGNALED(st) ? WTERMSIG(st) : 0);
	return WEXITSTATUS(st);
}

/* Fill path's listener backlog with raw non-blocking AF_LOCAL connects
 * until the kernel says EAGAIN; returns how many it took (fds in fd[]). */
static int fill_backlog(const char *path, int *fd, int max)
{
	struct sockaddr_un su = { .sun_family = AF_LOCAL };
	strcpy(su.sun_path, path);
	int n = 0;
	while (n < max) {
		int f = socket(AF_LOCAL, SOCK_STREAM | SOCK_NONBLOCK, 0);
		ck_assert_int_ge(f, 0);
		if (connect(f, (struct sockaddr *)&su, sizeof(su)) < 0) {
			ck_assert_int_eq(errno, EAGAIN);
			close(f);
			break;
		}
		fd[n++] = f;
	}
	return n;
}

/* ---- ipc_connect errors --------------------------------------------- */

static int connect_as_nobody(void *arg)
{
	const char *p = arg;
	if (setgid(65534) < 0 || setuid(65534) < 0)
		return 100;
	const char *w = both_fail(p, now() + 200, EACCES);
	if (*w)
		fprintf(stderr, "EACCES: %s\n", w);
	return *w ? 101 : 0;
}

static int connect_as_nobody_ok(void *arg)
{
	const char *p = arg;
	if (setgid(65534) < 0 || setuid(65534) < 0)
		return 100;
	/* Reaches the listener: connected (nobody needs to accept). */
	int s = ipc_connect(p, now() + 50);
	return s >= 0 && hclose(s) == 0 ? 0 : 104;
}

START_TEST(test_ipc_connect_EACCES)
{
	ck_assert_msg(geteuid() == 0, "this test must run as root to drop to nobody");
	char p[PATH_MAX];
	tpath(p, sizeof(p), "acc");
	int l = ipc_listen(p, 8);
	ck_assert_int_ge(l, 0);
	/* Control: a writable socket file is reachable by nobody. */
	ck_assert_int_eq(chmod(p, 0666), 0);
	ck_assert_int_eq(in_child(connect_as_nobody_ok, p), 0);
	/* Not writable for nobody: the kernel refuses the connect. */
	ck_assert_int_eq(chmod(p, 0600), 0);
	ck_assert_int_eq(in_child(connect_as_nobody, p), 0);
	hclose(l);
}
END_TEST

START_TEST(test_ipc_connect_ECONNREFUSED)
{
	char p[PATH_MAX];
	tpath(p, sizeof(p), "refused");
	/* A socket file whose socket is gone: nobody listens there. */
	int fd = socket(AF_LOCAL, SOCK_STREAM, 0);
	struct sockaddr_un su = { .sun_family = AF_LOCAL };
	strcpy(su.sun_path, p);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&su, sizeof(su)), 0);
	close(fd);
	int64_t t0 = now();
	ck_both_fail(p, now() + 1000, ECONNREFUSED);
	ck_assert_int_lt(ms_since(t0), 100);
	/* A file that is not a socket refuses too. */
	char f[PATH_MAX];
	tpath(f, sizeof(f), "notsock");
	close(open(f, O_CREAT | O_WRONLY, 0644));
	ck_both_fail(f, now() + 1000, ECONNREFUSED);
}
END_TEST

START_TEST(test_ipc_connect_EINVAL)
{
	ck_assert_int_eq(ipc_connect(NULL, -1), -1);
	ck_assert_int_eq(errno, EINVAL);
	char p[PATH_MAX];
	tpath(p, sizeof(p), "inval");
	ck_assert_int_eq(ipc_connect_mem(p, NULL, -1), -1);
	ck_assert_int_eq(errno, EINVAL);
	/* Misaligned caller storage. */
	static struct ipc_storage st[2];
	ck_assert_int_eq(ipc_connect_mem(p, (struct ipc_storage *)((char *)st + 1), -1), -1);
	ck_assert_int_eq(errno, EINVAL);
	/* Ring size not a power of two, reserved field set. */
	struct ipc_opts o = { .ring_size = 5000 };
	ck_assert_int_eq(ipc_connect_opts(p, &o, NULL, -1), -1);
	ck_assert_int_eq(errno, EINVAL);
	struct ipc_opts o2 = { .rsvd = { 1 } };
	ck_assert_int_eq(ipc_connect_opts(p, &o2, NULL, -1), -1);
	ck_assert_int_eq(errno, EINVAL);
}
END_TEST

START_TEST(test_ipc_connect_ELOOP)
{
	char a[PATH_MAX], b[PATH_MAX];
	tpath(a, sizeof(a), "loopa");
	tpath(b, sizeof(b), "loopb");
	ck_assert_int_eq(symlink(b, a), 0);
	ck_assert_int_eq(symlink(a, b), 0);
	ck_both_fail(a, now() + 1000, ELOOP);
}
END_TEST

START_TEST(test_ipc_connect_ENAMETOOLONG)
{
	struct sockaddr_un su;
	char p[sizeof(su.sun_path) + 32];
	/* Exactly sizeof(sun_path) characters: no room for the NUL. */
	memset(p, 'a', sizeof(su.sun_path));
	p[sizeof(su.sun_path)] = 0;
	ck_both_fail(p, now() + 1000, ENAMETOOLONG);
	memset(p, 'b', sizeof(p) - 1);
	p[sizeof(p) - 1] = 0;
	ck_both_fail(p, now() + 1000, ENAMETOOLONG);
	/* One shorter fits: then it is merely missing. */
	memset(p, 'c', sizeof(su.sun_path) - 1);
	p[sizeof(su.sun_path) - 1] = 0;
	ck_both_fail(p, now() + 1000, ENOENT);
}
END_TEST

START_TEST(test_ipc_connect_ENOENT)
{
	char p[PATH_MAX];
	tpath(p, sizeof(p), "missing");
	ck_both_fail(p, now() + 1000, ENOENT);
	ck_both_fail("", now() + 1000, ENOENT);
	char q[PATH_MAX + 8];
	snprintf(q, sizeof(q), "%s/nodir/sock", tdir);
	ck_both_fail(q, now() + 1000, ENOENT);
}
END_TEST

START_TEST(test_ipc_connect_ENOTDIR)
{
	char f[PATH_MAX], p[PATH_MAX + 8];
	tpath(f, sizeof(f), "file");
	int fd = open(f, O_CREAT | O_WRONLY, 0644);
	ck_assert_int_ge(fd, 0);
	close(fd);
	snprintf(p, sizeof(p), "%s/sock", f);
	ck_both_fail(p, now() + 1000, ENOTDIR);
}
END_TEST

START_TEST(test_ipc_connect_ETIMEDOUT)
{
	char p[PATH_MAX];
	tpath(p, sizeof(p), "slow");
	int l = ipc_listen(p, 0);   /* never accepts */
	ck_assert_int_ge(l, 0);
	/* Connect waits only when the listener's backlog is full. */
	int fd[16];
	int nfill = fill_backlog(p, fd, 16);
	ck_assert_int_ge(nfill, 1);
	int64_t dl = now() + 100;
	ck_assert_int_eq(ipc_connect(p, dl), -1);
	ck_assert_int_eq(errno, ETIMEDOUT);
	int64_t late = now() - dl;
	ck_assert_int_ge(late, 0);
	ck_assert_int_le(late, 20);
	struct ipc_storage *mem = malloc(IPC_SIZE);
	dl = now() + 60;
	ck_assert_int_eq(ipc_connect_mem(p, mem, dl), -1);
	ck_assert_int_eq(errno, ETIMEDOUT);
	late = now() - dl;
	ck_assert_int_ge(late, 0);
	ck_assert_int_le(late, 20);
	free(mem);
	/* Deadline 0 never blocks. */
	int64_t t0 = now();
	ck_assert_int_eq(ipc_connect(p, 0), -1);
	ck_assert_int_eq(errno, ETIMEDOUT);
	ck_assert_int_le(ms_since(t0), 5);
	hclose(l);
	for (int i = 0; i < nfill; i++)
		close(fd[i]);
}
END_TEST

struct conn_arg {
	const char *path;
	int rc, err;
};

static void *connect_main(void *p)
{
	struct conn_arg *a = p;
	a->rc = ipc_connect(a->path, -1);
	a->err = errno;
	return NULL;
}

static void *brecv_main(void *p);
struct blocked {
	int h;
	int rc, err;
	int64_t t_end;
};

static int canceled_connect(void *arg)
{
	struct conn_arg a = { .path = arg };
	pthread_t th, th2;
	/* Also a receive blocked on an established connection. */
	int s[2];
	if (ipc_pair(s) < 0)
		return 99;
	struct blocked b = { .h = s[0] };
	if (pthread_create(&th, NULL, connect_main, &a) ||
	    pthread_create(&th2, NULL, brecv_main, &b))
		return 100;
	usleep(50 * 1000);
	int64_t t0 = now();
	dillnet_shutdown();
	pthread_join(th, NULL);
	pthread_join(th2, NULL);
	if (ms_since(t0) > 100)
		return 101;
	if (a.rc != -1)
		return 102;
	if (a.err != ECANCELED)
		return 103;
	if (b.rc != -1 || b.err != ECANCELED)
		return 105;
	/* Every handle went with the library. */
	if (hclose(s[1]) != -1 || errno != ECANCELED)
		return 106;
	/* The library stays shut: new calls are cancelled too. */
	if (ipc_connect(arg, now() + 100) != -1 || errno != ECANCELED)
		return 104;
	return 0;
}

START_TEST(test_ipc_connect_ECANCELED)
{
	char p[PATH_MAX];
	tpath(p, sizeof(p), "cancel");
	int l = ipc_listen(p, 0);   /* never accepts */
	ck_assert_int_ge(l, 0);
	/* A full backlog: connect blocks. */
	int fd[16];
	int nfill = fill_backlog(p, fd, 16);
	ck_assert_int_ge(nfill, 1);
	ck_assert_int_eq(in_child(canceled_connect, p), 0);
	hclose(l);
	for (int i = 0; i < nfill; i++)
		close(fd[i]);
}
END_TEST

static int emfile_connect(void *arg)
{
	struct rlimit rl = { 64, 64 };
	if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
		return 100;
	/* Storage first: malloc must not need a descriptor later. */
	struct ipc_storage *mem = malloc(IPC_SIZE);
	int fd = open("/dev/null", O_RDONLY);
	if (fd < 0 || !mem)
		return 100;
	while (dup(fd) >= 0)
		;
	if (errno != EMFILE)
		return 101;
	if (ipc_connect(arg, now() + 1000) != -1 || errno != EMFILE)
		return 102;
	if (ipc_connect_mem(arg, mem, now() + 1000) != -1 || errno != EMFILE)
		return 103;
	/* One descriptor free is not enough either: a connection needs
	 * several, and a failure half way must not leak any. */
	close(fd);
	if (ipc_connect(arg, now() + 1000) != -1 || errno != EMFILE)
		return 104;
	if (open("/dev/null", O_RDONLY) < 0)
		return 105;
	return 0;
}

START_TEST(test_ipc_connect_EMFILE)
{
	char p[PATH_MAX];
	tpath(p, sizeof(p), "emfile");
	int l = ipc_listen(p, 8);
	ck_assert_int_ge(l, 0);
	ck_assert_int_eq(in_child(emfile_connect, p), 0);
	hclose(l);
}
END_TEST

START_TEST(test_ipc_connect_ECONNRESET)
{
	/* A plain AF_LOCAL listener that hangs up on the handshake. */
	char p[PATH_MAX];
	tpath(p, sizeof(p), "reset");
	int fd = socket(AF_LOCAL, SOCK_STREAM, 0);
	struct sockaddr_un su = { .sun_family = AF_LOCAL };
	strcpy(su.sun_path, p);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&su, sizeof(su)), 0);
	ck_assert_int_eq(listen(fd, 8), 0);
	pid_t pid = fork();
	if (pid == 0) {
		int c = accept(fd, NULL, NULL);
		close(c);
		_exit(0);
	}
	/* Connect does not wait for the accept: the hang-up shows either
	 * at connect (the listener was quicker than our HELLO) or on the
	 * first call on the handle. */
	int s = ipc_connect(p, now() + 2000);
	if (s < 0) {
		ck_assert_int_eq(errno, ECONNRESET);
	} else {
		char b;
		ck_assert_int_eq(brecv(s, &b, 1, now() + 2000), -1);
		ck_assert_int_eq(errno, ECONNRESET);
		hclose(s);
	}
	waitpid(pid, NULL, 0);
	close(fd);
}
END_TEST

START_TEST(test_ipc_connect_mem_exact)
{
	char p[PATH_MAX];
	tpath(p, sizeof(p), "mem");
	/* Storage of exactly the documented sizes, from malloc so ASan sees
	 * any byte past the end. */
	struct ipc_listener_storage *lm = malloc(IPC_LISTENER_SIZE);
	struct ipc_storage *cm = malloc(IPC_SIZE);
	struct ipc_storage *am = malloc(IPC_SIZE);
	ck_assert_ptr_nonnull(lm);
	ck_assert_ptr_nonnull(cm);
	ck_assert_ptr_nonnull(am);
	struct acc a = { .deadline = now() + 2000, .mem = am };
	a.l = ipc_listen_mem(p, 8, lm);
	ck_assert_int_ge(a.l, 0);
	ck_assert_int_eq(pthread_create(&a.th, NULL, acc_main, &a), 0);
	int c = ipc_connect_mem(p, cm, now() + 2000);
	pthread_join(a.th, NULL);
	ck_assert_int_ge(c, 0);
	ck_assert_int_ge(a.h, 0);
	ck_assert_int_eq(bsend(c, "ping", 4, now() + 1000), 0);
	char buf[4];
	ck_assert_int_eq(brecv(a.h, buf, 4, now() + 1000), 0);
	ck_assert_int_eq(memcmp(buf, "ping", 4), 0);
	ck_assert_int_eq(hclose(c), 0);
	ck_assert_int_eq(hclose(a.h), 0);
	ck_assert_int_eq(hclose(a.l), 0);
	free(lm);
	free(cm);
	free(am);

	struct ipc_pair_storage *pm = malloc(IPC_PAIR_SIZE);
	int s[2];
	ck_assert_int_eq(ipc_pair_mem(pm, s), 0);
	ck_assert_int_eq(bsend(s[1], "pong", 4, now() + 1000), 0);
	ck_assert_int_eq(brecv(s[0], buf, 4, now() + 1000), 0);
	ck_assert_int_eq(memcmp(buf, "pong", 4), 0);
	hclose(s[0]);
	hclose(s[1]);
	free(pm);
}
END_TEST

/* ---- connect does not wait for accept (AF_LOCAL, libdill) ------------- */

/* One thread: listen, connect, send, then accept and receive; and the
 * other way.  kind 0 ipc_connect/ipc_accept, 1 the _mem variants with
 * storage of exactly IPC_SIZE, 2 the _opts variants with a small ring. */
static void before_accept_one_thread(int kind)
{
	char p[PATH_MAX];
	tpath(p, sizeof(p), "early");
	unlink(p);
	int l = ipc_listen(p, 8);
	ck_assert_int_ge(l, 0);
	struct ipc_storage *cm = malloc(IPC_SIZE), *am = malloc(IPC_SIZE);
	struct ipc_opts o = { .ring_size = 4096 };
	int64_t t0 = now();
	int c = kind == 0 ? ipc_connect(p, now() + 1000) :
		kind == 1 ? ipc_connect_mem(p, cm, now() + 1000) :
			    ipc_connect_opts(p, &o, NULL, now() + 1000);
	ck_assert_msg(c >= 0, "connect: %s", strerror(errno));
	ck_assert_int_lt(ms_since(t0), 100);   /* did not wait for an accept */
	ck_assert_int_eq(bsend(c, "early bytes", 11, now() + 1000), 0);
	int a = kind == 0 ? ipc_accept(l, now() + 1000) :
		kind == 1 ? ipc_accept_mem(l, am, now() + 1000) :
			    ipc_accept_opts(l, &o, NULL, now() + 1000);
	ck_assert_msg(a >= 0, "accept: %s", strerror(errno));
	char b[11];
	ck_assert_int_eq(brecv(a, b, 11, now() + 1000), 0);
	ck_assert_int_eq(memcmp(b, "early bytes", 11), 0);
	ck_assert_int_eq(bsend(a, "back", 4, now() + 1000), 0);
	ck_assert_int_eq(brecv(c, b, 4, now() + 1000), 0);
	ck_assert_int_eq(memcmp(b, "back", 4), 0);
	ck_assert_int_eq(ipc_done(a, now() + 1000), 0);
	ck_assert_int_eq(ipc_close(c, now() + 1000), 0);
	ck_assert_int_eq(ipc_close(a, now() + 1000), 0);
	ck_assert_int_eq(hclose(l), 0);
	free(cm);
	free(am);
}

START_TEST(test_ipc_connect_before_accept_single_thread)
{
	before_accept_one_thread(0);
}
END_TEST

START_TEST(test_ipc_connect_mem_before_accept_single_thread)
{
	before_accept_one_thread(1);
}
END_TEST

START_TEST(test_ipc_connect_opts_before_accept_single_thread)
{
	before_accept_one_thread(2);
}
END_TEST

/* The backlog is the kernel's own: as many ipc_connects succeed at once
 * (deadline 0) as raw AF_LOCAL connects do on a listener of the same
 * backlog, the next one waits until its deadline, and one accept makes
 * room for it. */
START_TEST(test_ipc_connect_backlog_full_ETIMEDOUT)
{
	char p[PATH_MAX], k[PATH_MAX];
	tpath(k, sizeof(k), "kbl");
	tpath(p, sizeof(p), "bl");
	int kl = socket(AF_LOCAL, SOCK_STREAM, 0);
	struct sockaddr_un su = { .sun_family = AF_LOCAL };
	strcpy(su.sun_path, k);
	ck_assert_int_eq(bind(kl, (struct sockaddr *)&su, sizeof(su)), 0);
	ck_assert_int_eq(listen(kl, 3), 0);
	int kfd[16];
	int kn = fill_backlog(k, kfd, 16);
	ck_assert_int_ge(kn, 3);
	int l = ipc_listen(p, 3);
	ck_assert_int_ge(l, 0);
	int c[16], n = 0;
	while (n < 16 && (c[n] = ipc_connect(p, 0)) >= 0)
		n++;
	ck_assert_int_eq(errno, ETIMEDOUT);
	ck_assert_int_eq(n, kn);
	int64_t dl = now() + 60;
	ck_assert_int_eq(ipc_connect(p, dl), -1);
	ck_assert_int_eq(errno, ETIMEDOUT);
	ck_assert_int_ge(now(), dl);
	ck_assert_int_le(now() - dl, 20);
	int a = ipc_accept(l, now() + 1000);
	ck_assert_int_ge(a, 0);
	int last = ipc_connect(p, now() + 1000);
	ck_assert_int_ge(last, 0);
	hclose(last);
	hclose(a);
	for (int i = 0; i < n; i++)
		hclose(c[i]);
	for (int i = 0; i < kn; i++)
		close(kfd[i]);
	close(kl);
	hclose(l);
}
END_TEST

struct late_acc {
	int l, h;
};

static void *accept_late(void *arg)
{
	struct late_acc *x = arg;
	usleep(100 * 1000);
	x->h = ipc_accept(x->l, now() + 2000);
	return NULL;
}

START_TEST(test_ipc_connect_waits_for_backlog_room)
{
	char p[PATH_MAX];
	tpath(p, sizeof(p), "room");
	int l = ipc_listen(p, 0);
	ck_assert_int_ge(l, 0);
	int fd[16];
	int nfill = fill_backlog(p, fd, 16);
	ck_assert_int_ge(nfill, 1);
	/* Accepting one of the raw clients makes room: the waiting connect
	 * completes then, not at its deadline.  (The raw client sends no
	 * HELLO, so the accept waits for it and drops it; it is still taken
	 * out of the backlog.) */
	struct late_acc x = { l, -1 };
	pthread_t th;
	pthread_create(&th, NULL, accept_late, &x);
	int64_t t0 = now();
	int c = ipc_connect(p, now() + 5000);
	ck_assert_msg(c >= 0, "connect: %s", strerror(errno));
	ck_assert_int_lt(ms_since(t0), 2000);
	ck_assert_int_ge(ms_since(t0), 50);
	pthread_join(th, NULL);
	/* The accept dropped the silent raw client(s) and took ours. */
	ck_assert_int_ge(x.h, 0);
	ck_assert_int_eq(bsend(c, "r", 1, now() + 1000), 0);
	char b;
	ck_assert_int_eq(brecv(x.h, &b, 1, now() + 1000), 0);
	hclose(c);
	hclose(x.h);
	for (int i = 0; i < nfill; i++)
		close(fd[i]);
	hclose(l);
}
END_TEST

/* Peer death before the accept: the listener goes away without taking
 * the connection; the connector's calls fail with ECONNRESET, at once. */
START_TEST(test_ipc_connect_listener_closed_before_accept_ECONNRESET)
{
	char p[PATH_MAX];
	tpath(p, sizeof(p), "gone");
	int l = ipc_listen(p, 8);
	ck_assert_int_ge(l, 0);
	int c = ipc_connect(p, now() + 1000);
	ck_assert_int_ge(c, 0);
	ck_assert_int_eq(bsend(c, "lost", 4, now() + 1000), 0);
	ck_assert_int_eq(hclose(l), 0);
	int64_t t0 = now();
	char b;
	ck_assert_int_eq(brecv(c, &b, 1, now() + 2000), -1);
	ck_assert_int_eq(errno, ECONNRESET);
	ck_assert_int_lt(ms_since(t0), 100);
	static char big[1 << 20];
	ck_assert_int_eq(bsend(c, big, sizeof(big), now() + 2000), -1);
	ck_assert_int_eq(errno, ECONNRESET);
	ck_assert_int_eq(ipc_close(c, now() + 1000), -1);
	ck_assert_int_eq(errno, ECONNRESET);
}
END_TEST

/* connect, send, hclose, all before the accept: the acceptor still gets
 * the bytes and then a clean end, as with AF_LOCAL sockets. */
START_TEST(test_ipc_connect_send_close_before_accept_delivers)
{
	char p[PATH_MAX];
	tpath(p, sizeof(p), "gift");
	int l = ipc_listen(p, 8);
	ck_assert_int_ge(l, 0);
	int c = ipc_connect(p, now() + 1000);
	ck_assert_int_ge(c, 0);
	ck_assert_int_eq(bsend(c, "parting", 7, now() + 1000), 0);
	ck_assert_int_eq(hclose(c), 0);
	int a = ipc_accept(l, now() + 1000);
	ck_assert_int_ge(a, 0);
	char b[7];
	ck_assert_int_eq(brecv(a, b, 7, now() + 1000), 0);
	ck_assert_int_eq(memcmp(b, "parting", 7), 0);
	ck_assert_int_eq(brecv(a, b, 1, now() + 1000), -1);
	ck_assert_int_eq(errno, EPIPE);
	hclose(a);
	hclose(l);
}
END_TEST

/* ---- ipc_listen / ipc_accept ------------------------------------------ */

static int listen_as_nobody(void *arg)
{
	if (setgid(65534) < 0 || setuid(65534) < 0)
		return 100;
	if (ipc_listen(arg, 8) != -1)
		return 101;
	return errno == EACCES ? 0 : 102;
}

START_TEST(test_ipc_listen_errors)
{
	char p[PATH_MAX], f[PATH_MAX], q[PATH_MAX + 8];
	tpath(p, sizeof(p), "busy");
	int l = ipc_listen(p, 8);
	ck_assert_int_ge(l, 0);
	ck_assert_int_eq(ipc_listen(p, 8), -1);
	ck_assert_int_eq(errno, EADDRINUSE);
	hclose(l);
	ck_assert_int_eq(ipc_listen(NULL, 8), -1);
	ck_assert_int_eq(errno, EINVAL);
	snprintf(q, sizeof(q), "%s/nodir/x", tdir);
	ck_assert_int_eq(ipc_listen(q, 8), -1);
	ck_assert_int_eq(errno, ENOENT);
	tpath(f, sizeof(f), "plain");
	close(open(f, O_CREAT | O_WRONLY, 0644));
	snprintf(q, sizeof(q), "%s/x", f);
	ck_assert_int_eq(ipc_listen(q, 8), -1);
	ck_assert_int_eq(errno, ENOTDIR);
	char longp[200];
	memset(longp, 'x', sizeof(longp) - 1);
	longp[sizeof(longp) - 1] = 0;
	ck_assert_int_eq(ipc_listen(longp, 8), -1);
	ck_assert_int_eq(errno, ENAMETOOLONG);
	/* A loop of symbolic links in a directory component. */
	char la[PATH_MAX], lb[PATH_MAX];
	tpath(la, sizeof(la), "lla");
	tpath(lb, sizeof(lb), "llb");
	ck_assert_int_eq(symlink(lb, la), 0);
	ck_assert_int_eq(symlink(la, lb), 0);
	snprintf(q, sizeof(q), "%s/x", la);
	ck_assert_int_eq(ipc_listen(q, 8), -1);
	ck_assert_int_eq(errno, ELOOP);
	/* nobody cannot create a socket file in our directory. */
	tpath(p, sizeof(p), "denied");
	ck_assert_int_eq(in_child(listen_as_nobody, p), 0);
}
END_TEST

struct hc_arg {
	int h;
	int delay_ms;
};

static void *hclose_later(void *p)
{
	struct hc_arg *a = p;
	usleep((useconds_t)a->delay_ms * 1000);
	hclose(a->h);
	return NULL;
}

START_TEST(test_ipc_accept_deadlines)
{
	char p[PATH_MAX];
	tpath(p, sizeof(p), "accdl");
	int l = ipc_listen(p, 8);
	ck_assert_int_ge(l, 0);
	int64_t dl = now() + 60;
	ck_assert_int_eq(ipc_accept(l, dl), -1);
	ck_assert_int_eq(errno, ETIMEDOUT);
	ck_assert_int_le(now() - dl, 20);
	int64_t t0 = now();
	ck_assert_int_eq(ipc_accept(l, 0), -1);
	ck_assert_int_eq(errno, ETIMEDOUT);
	ck_assert_int_le(ms_since(t0), 5);
	/* hclose from another thread cancels a blocked accept. */
	struct hc_arg a = { l, 50 };
	pthread_t th;
	pthread_create(&th, NULL, hclose_later, &a);
	t0 = now();
	ck_assert_int_eq(ipc_accept(l, -1), -1);
	ck_assert_int_eq(errno, ECANCELED);
	ck_assert_int_lt(ms_since(t0), 200);
	pthread_join(th, NULL);
	ck_assert_int_eq(hclose(l), -1);
	ck_assert_int_eq(errno, EBADF);
}
END_TEST

static int raw_connect(const char *path)
{
	int fd = socket(AF_LOCAL, SOCK_STREAM, 0);
	struct sockaddr_un su = { .sun_family = AF_LOCAL };
	strcpy(su.sun_path, path);
	if (connect(fd, (struct sockaddr *)&su, sizeof(su)) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

START_TEST(test_ipc_accept_bad_clients)
{
	char p[PATH_MAX];
	tpath(p, sizeof(p), "bad");
	int l = ipc_listen(p, 8);
	ck_assert_int_ge(l, 0);
	/* One sends garbage, one sends nothing at all, then a real client:
	 * accept drops the first at once, the second after its grace time,
	 * and returns the third. */
	int g = raw_connect(p);
	ck_assert_int_ge(g, 0);
	ck_assert_int_eq(write(g, "garbage garbage!", 16), 16);
	int q = raw_connect(p);
	ck_assert_int_ge(q, 0);
	struct conn_arg ca = { .path = p };
	pthread_t th;
	pthread_create(&th, NULL, connect_main, &ca);
	int64_t t0 = now();
	int s = ipc_accept(l, now() + 5000);
	ck_assert_int_ge(s, 0);
	ck_assert_int_lt(ms_since(t0), 2500);
	pthread_join(th, NULL);
	ck_assert_int_ge(ca.rc, 0);
	ck_assert_int_eq(bsend(ca.rc, "ok", 2, now() + 1000), 0);
	char b[2];
	ck_assert_int_eq(brecv(s, b, 2, now() + 1000), 0);
	/* Both bad clients were hung up on. */
	char junk[64];
	ssize_t n;
	while ((n = read(g, junk, sizeof(junk))) > 0)
		;
	ck_assert_int_eq(n, 0);
	ck_assert_int_eq(read(q, junk, sizeof(junk)), 0);
	close(g);
	close(q);
	hclose(s);
	hclose(ca.rc);
	hclose(l);
}
END_TEST

/* ---- data ------------------------------------------------------------ */

START_TEST(test_ipc_exchange)
{
	int c, a;
	mkconn(&c, &a);
	char buf[64];
	ck_assert_int_eq(bsend(c, "hello", 5, now() + 1000), 0);
	ck_assert_int_eq(brecv(a, buf, 5, now() + 1000), 0);
	ck_assert_int_eq(memcmp(buf, "hello", 5), 0);
	ck_assert_int_eq(bsend(a, "world!", 6, now() + 1000), 0);
	ck_assert_int_eq(brecv(c, buf, 6, now() + 1000), 0);
	ck_assert_int_eq(memcmp(buf, "world!", 6), 0);
	/* Zero-length calls succeed without moving anything. */
	ck_assert_int_eq(bsend(a, buf, 0, 0), 0);
	ck_assert_int_eq(brecv(c, buf, 0, 0), 0);
	ck_assert_int_eq(hclose(c), 0);
	ck_assert_int_eq(hclose(a), 0);
}
END_TEST

static int echo_child(void *arg)
{
	int c = ipc_connect(arg, now() + 2000);
	if (c < 0)
		return 100;
	char buf[1000];
	for (;;) {
		uint32_t n;
		if (brecv(c, &n, 4, now() + 2000) < 0) {
			if (errno != EPIPE)
				return 101;
			/* A clean end: hclose sends our EOF. */
			return hclose(c) == 0 ? 0 : 104;
		}
		if (n > sizeof(buf) || brecv(c, buf, n, now() + 2000) < 0)
			return 102;
		if (bsend(c, &n, 4, now() + 2000) < 0 ||
		    bsend(c, buf, n, now() + 2000) < 0)
			return 103;
	}
}

START_TEST(test_ipc_exchange_process)
{
	char p[PATH_MAX];
	tpath(p, sizeof(p), "echo");
	int l = ipc_listen(p, 8);
	ck_assert_int_ge(l, 0);
	pid_t pid = fork();
	if (pid == 0)
		_exit(echo_child(p));
	int s = ipc_accept(l, now() + 2000);
	ck_assert_int_ge(s, 0);
	char out[1000], in[1000];
	for (uint32_t n = 1; n <= sizeof(out); n += 37) {
		for (uint32_t i = 0; i < n; i++)
			out[i] = (char)(n * 7 + i);
		ck_assert_int_eq(bsend(s, &n, 4, now() + 1000), 0);
		ck_assert_int_eq(bsend(s, out, n, now() + 1000), 0);
		uint32_t m;
		ck_assert_int_eq(brecv(s, &m, 4, now() + 1000), 0);
		ck_assert_uint_eq(m, n);
		ck_assert_int_eq(brecv(s, in, n, now() + 1000), 0);
		ck_assert_int_eq(memcmp(in, out, n), 0);
	}
	ck_assert_int_eq(ipc_done(s, now() + 1000), 0);
	int st;
	waitpid(pid, &st, 0);
	ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	/* The child closed after its EPIPE: its hclose sent a clean EOF. */
	char b;
	ck_assert_int_eq(brecv(s, &b, 1, now() + 1000), -1);
	ck_assert_int_eq(errno, EPIPE);
	hclose(s);
	hclose(l);
}
END_TEST

START_TEST(test_ipc_half_close)
{
	int c, a;
	mkconn(&c, &a);
	char buf[16];
	ck_assert_int_eq(bsend(c, "last", 4, now() + 1000), 0);
	ck_assert_int_eq(ipc_done(c, now() + 1000), 0);
	/* Our own sends are over: EPIPE, and it stays EPIPE. */
	ck_assert_int_eq(bsend(c, "x", 1, now() + 1000), -1);
	ck_assert_int_eq(errno, EPIPE);
	ck_assert_int_eq(bsend(c, "x", 1, now() + 1000), -1);
	ck_assert_int_eq(errno, EPIPE);
	ck_assert_int_eq(ipc_done(c, now() + 1000), -1);
	ck_assert_int_eq(errno, EPIPE);
	/* The peer reads what was sent, then EPIPE. */
	ck_assert_int_eq(brecv(a, buf, 4, now() + 1000), 0);
	ck_assert_int_eq(memcmp(buf, "last", 4), 0);
	ck_assert_int_eq(brecv(a, buf, 1, now() + 1000), -1);
	ck_assert_int_eq(errno, EPIPE);
	ck_assert_int_eq(brecv(a, buf, 1, 0), -1);
	ck_assert_int_eq(errno, EPIPE);
	/* The other direction still works. */
	ck_assert_int_eq(bsend(a, "back", 4, now() + 1000), 0);
	ck_assert_int_eq(brecv(c, buf, 4, now() + 1000), 0);
	ck_assert_int_eq(memcmp(buf, "back", 4), 0);
	/* A receive asking for more than remains fails with EPIPE. */
	ck_assert_int_eq(bsend(a, "ab", 2, now() + 1000), 0);
	ck_assert_int_eq(ipc_done(a, now() + 1000), 0);
	ck_assert_int_eq(brecv(c, buf, 3, now() + 1000), -1);
	ck_assert_int_eq(errno, EPIPE);
	hclose(c);
	hclose(a);
}
END_TEST

struct closer {
	int h;
	int rc, err;
	int64_t deadline;
};

static void *close_main(void *p)
{
	struct closer *x = p;
	x->rc = ipc_close(x->h, x->deadline);
	x->err = errno;
	return NULL;
}

START_TEST(test_ipc_clean_close)
{
	int c, a;
	mkconn(&c, &a);
	ck_assert_int_eq(bsend(c, "bye", 3, now() + 1000), 0);
	ck_assert_int_eq(bsend(a, "unread by c", 11, now() + 1000), 0);
	/* Both sides close at once: each sends its EOF, drops what it did
	 * not read, and returns 0 when the peer's EOF arrives. */
	struct closer x = { c, 0, 0, now() + 1000 };
	pthread_t th;
	pthread_create(&th, NULL, close_main, &x);
	char buf[3];
	ck_assert_int_eq(brecv(a, buf, 3, now() + 1000), 0);
	ck_assert_int_eq(ipc_close(a, now() + 1000), 0);
	pthread_join(th, NULL);
	ck_assert_int_eq(x.rc, 0);
	/* Both handles are gone. */
	ck_assert_int_eq(hclose(c), -1);
	ck_assert_int_eq(errno, EBADF);
	ck_assert_int_eq(hclose(a), -1);
	ck_assert_int_eq(errno, EBADF);
}
END_TEST

START_TEST(test_ipc_close_ETIMEDOUT)
{
	int c, a;
	mkconn(&c, &a);
	/* The peer never ends its side: close waits until the deadline,
	 * fails, and still releases the handle. */
	int64_t dl = now() + 50;
	ck_assert_int_eq(ipc_close(c, dl), -1);
	ck_assert_int_eq(errno, ETIMEDOUT);
	ck_assert_int_le(now() - dl, 20);
	ck_assert_int_eq(bsend(c, "x", 1, 0), -1);
	ck_assert_int_eq(errno, EBADF);
	/* c's close sent EOF, then c went away cleanly. */
	char b;
	ck_assert_int_eq(brecv(a, &b, 1, now() + 1000), -1);
	ck_assert_int_eq(errno, EPIPE);
	/* Sending into a closed peer is a reset. */
	ck_assert_int_eq(bsend(a, "x", 1, now() + 1000), -1);
	ck_assert_int_eq(errno, ECONNRESET);
	hclose(a);
}
END_TEST

/* libdill's ipc_close: after any failed call on the handle, close returns
 * ECONNRESET (and releases the handle), even when the peer would complete
 * the terminal handshake.  Before, a failed send was ignored and close
 * returned 0 once the peer's EOF came. */
START_TEST(test_ipc_close_after_failed_bsend_ECONNRESET)
{
	int s[2];
	ck_assert_int_eq(ipc_pair(s), 0);
	/* The peer goes away with nothing unread: our sends now fail, and
	 * its hclose left a clean EOF on our receive side. */
	ck_assert_int_eq(hclose(s[1]), 0);
	ck_assert_int_eq(bsend(s[0], "x", 1, now() + 1000), -1);
	ck_assert_int_eq(errno, ECONNRESET);
	errno = 0;
	ck_assert_int_eq(ipc_close(s[0], now() + 1000), -1);
	ck_assert_int_eq(errno, ECONNRESET);
	ck_assert_int_eq(hclose(s[0]), -1);   /* released all the same */
	ck_assert_int_eq(errno, EBADF);
}
END_TEST

START_TEST(test_ipc_close_after_bsend_ETIMEDOUT_ECONNRESET)
{
	int c, a;
	struct ipc_opts o = { .ring_size = 4096 };
	mkconn_opts(&c, &a, &o);
	static char big[16384];
	ck_assert_int_eq(bsend(c, big, sizeof(big), now() + 30), -1);
	ck_assert_int_eq(errno, ETIMEDOUT);
	/* The peer ends its half cleanly: an orderly close could finish,
	 * but the cut message makes it a failure. */
	ck_assert_int_eq(ipc_done(a, now() + 1000), 0);
	int64_t t0 = now();
	ck_assert_int_eq(ipc_close(c, now() + 1000), -1);
	ck_assert_int_eq(errno, ECONNRESET);
	ck_assert_int_lt(ms_since(t0), 100);   /* no handshake attempted */
	/* The peer learns of the cut message too. */
	static char sink[4096];
	while (brecv(a, sink, sizeof(sink), now() + 1000) == 0)
		;
	ck_assert_int_eq(errno, ECONNRESET);
	hclose(a);
}
END_TEST

START_TEST(test_ipc_close_after_brecv_ETIMEDOUT_ECONNRESET)
{
	int s[2];
	ck_assert_int_eq(ipc_pair(s), 0);
	char b;
	ck_assert_int_eq(brecv(s[0], &b, 1, 0), -1);
	ck_assert_int_eq(errno, ETIMEDOUT);
	ck_assert_int_eq(ipc_done(s[1], now() + 1000), 0);
	ck_assert_int_eq(ipc_close(s[0], now() + 1000), -1);
	ck_assert_int_eq(errno, ECONNRESET);
	ck_assert_int_eq(hclose(s[0]), -1);
	ck_assert_int_eq(errno, EBADF);
	hclose(s[1]);
}
END_TEST

/* What is not a failure does not count: EINVAL (nothing moved), EPIPE
 * (a clean end), ipc_recvfd's EPROTO (bytes came first). */
START_TEST(test_ipc_close_after_EINVAL_EPIPE_EPROTO_returns_0)
{
	int s[2];
	ck_assert_int_eq(ipc_pair(s), 0);
	ck_assert_int_eq(bsendl(s[0], NULL, NULL, 0), -1);
	ck_assert_int_eq(errno, EINVAL);
	ck_assert_int_eq(bsend(s[1], "d", 1, 0), 0);
	ck_assert_int_eq(ipc_recvfd(s[0], 0), -1);
	ck_assert_int_eq(errno, EPROTO);
	ck_assert_int_eq(ipc_done(s[0], 0), 0);
	ck_assert_int_eq(bsend(s[0], "x", 1, 0), -1);
	ck_assert_int_eq(errno, EPIPE);
	ck_assert_int_eq(ipc_done(s[1], 0), 0);
	ck_assert_int_eq(ipc_close(s[0], now() + 1000), 0);   /* drops "d" */
	hclose(s[1]);
}
END_TEST

START_TEST(test_ipc_hclose_delivers)
{
	int c, a;
	mkconn(&c, &a);
	/* hclose is like close(2): queued bytes still reach the peer, then
	 * it sees a clean end. */
	static char big[300000], got[300000];
	for (size_t i = 0; i < sizeof(big); i++)
		big[i] = (char)(i * 31);
	ck_assert_int_eq(bsend(c, big, sizeof(big), now() + 1000), 0);
	ck_assert_int_eq(hclose(c), 0);
	ck_assert_int_eq(brecv(a, got, sizeof(got), now() + 1000), 0);
	ck_assert_int_eq(memcmp(big, got, sizeof(big)), 0);
	ck_assert_int_eq(brecv(a, got, 1, now() + 1000), -1);
	ck_assert_int_eq(errno, EPIPE);
	hclose(a);
}
END_TEST

START_TEST(test_ipc_hclose_unread_resets)
{
	int c, a;
	mkconn(&c, &a);
	ck_assert_int_eq(bsend(c, "pending", 7, now() + 1000), 0);
	ck_assert_int_eq(bsend(a, "data", 4, now() + 1000), 0);
	/* a closes with unread input: like a kernel RST, c loses even the
	 * bytes a had sent. */
	ck_assert_int_eq(hclose(a), 0);
	char b[4];
	ck_assert_int_eq(brecv(c, b, 4, now() + 1000), -1);
	ck_assert_int_eq(errno, ECONNRESET);
	ck_assert_int_eq(bsend(c, "x", 1, now() + 1000), -1);
	ck_assert_int_eq(errno, ECONNRESET);
	hclose(c);
}
END_TEST

START_TEST(test_ipc_backpressure)
{
	int c, a;
	struct ipc_opts o = { .ring_size = 4096 };
	mkconn_opts(&c, &a, &o);
	static char big[1 << 20];
	/* The peer never reads: the ring fills and bsend fails at its
	 * deadline, within 20 ms. */
	int64_t dl = now() + 100;
	ck_assert_int_eq(bsend(c, big, sizeof(big), dl), -1);
	ck_assert_int_eq(errno, ETIMEDOUT);
	int64_t late = now() - dl;
	ck_assert_int_ge(late, 0);
	ck_assert_int_le(late, 20);
	/* The direction is unusable from now on. */
	ck_assert_int_eq(bsend(c, big, 1, now() + 100), -1);
	ck_assert_int_eq(errno, ECONNRESET);
	ck_assert_int_eq(bsend(c, big, 1, 0), -1);
	ck_assert_int_eq(errno, ECONNRESET);
	/* The other direction is not affected. */
	ck_assert_int_eq(bsend(a, "ok", 2, now() + 1000), 0);
	char b[2];
	ck_assert_int_eq(brecv(c, b, 2, now() + 1000), 0);
	/* The peer learns that the stream was cut mid-message. */
	char sink[4096];
	int rc;
	while ((rc = brecv(a, sink, sizeof(sink), now() + 1000)) == 0)
		;
	ck_assert_int_eq(errno, ECONNRESET);
	hclose(c);
	hclose(a);
}
END_TEST

START_TEST(test_ipc_deadlines)
{
	int s[2];
	ck_assert_int_eq(ipc_pair(s), 0);
	char b[8];
	/* 0: never blocks. */
	int64_t t0 = now();
	ck_assert_int_eq(brecv(s[0], b, 1, 0), -1);
	ck_assert_int_eq(errno, ETIMEDOUT);
	ck_assert_int_le(ms_since(t0), 5);
	/* Even that failure leaves the direction unusable. */
	ck_assert_int_eq(bsend(s[1], "abcd", 4, 0), 0);
	ck_assert_int_eq(brecv(s[0], b, 4, 0), -1);
	ck_assert_int_eq(errno, ECONNRESET);
	/* ... and 0 succeeds when it can. */
	ck_assert_int_eq(bsend(s[0], "abcd", 4, 0), 0);
	ck_assert_int_eq(brecv(s[1], b, 4, 0), 0);
	ck_assert_int_eq(memcmp(b, "abcd", 4), 0);
	hclose(s[0]);
	hclose(s[1]);
	/* Expiry within 20 ms of the deadline. */
	ck_assert_int_eq(ipc_pair(s), 0);
	int64_t dl = now() + 80;
	ck_assert_int_eq(brecv(s[1], b, 1, dl), -1);
	ck_assert_int_eq(errno, ETIMEDOUT);
	int64_t late = now() - dl;
	ck_assert_int_ge(late, 0);
	ck_assert_int_le(late, 20);
	/* A failure breaks that direction only. */
	ck_assert_int_eq(brecv(s[1], b, 1, now() + 100), -1);
	ck_assert_int_eq(errno, ECONNRESET);
	ck_assert_int_eq(bsend(s[1], "z", 1, 0), 0);
	ck_assert_int_eq(brecv(s[0], b, 1, 0), 0);
	hclose(s[0]);
	hclose(s[1]);
	/* 0 and a message larger than the room: ETIMEDOUT at once, and
	 * nothing was sent, so the peer's stream is intact. */
	struct ipc_opts o = { .ring_size = 4096 };
	ck_assert_int_eq(ipc_pair_opts(&o, NULL, s), 0);
	static char big[8192];
	ck_assert_int_eq(bsend(s[0], "head", 4, 0), 0);
	t0 = now();
	ck_assert_int_eq(bsend(s[0], big, sizeof(big), 0), -1);
	ck_assert_int_eq(errno, ETIMEDOUT);
	ck_assert_int_le(ms_since(t0), 5);
	/* A receive with 0 asking for more than is there takes nothing. */
	ck_assert_int_eq(brecv(s[1], big, 5, 0), -1);
	ck_assert_int_eq(errno, ETIMEDOUT);
	hclose(s[0]);
	hclose(s[1]);
	ck_assert_int_eq(ipc_pair_opts(&o, NULL, s), 0);
	ck_assert_int_eq(bsend(s[0], "head", 4, 0), 0);
	ck_assert_int_eq(bsend(s[0], big, sizeof(big), 0), -1);
	ck_assert_int_eq(brecv(s[1], b, 4, 0), 0);
	ck_assert_int_eq(memcmp(b, "head", 4), 0);
	ck_assert_int_eq(brecv(s[1], b, 1, now() + 20), -1);
	ck_assert_int_eq(errno, ETIMEDOUT);
	/* msleep honours its deadline too. */
	dl = now() + 30;
	ck_assert_int_eq(msleep(dl), 0);
	ck_assert_int_ge(now(), dl);
	ck_assert_int_le(now() - dl, 20);
	hclose(s[0]);
	hclose(s[1]);
}
END_TEST

START_TEST(test_ipc_skip)
{
	int s[2];
	ck_assert_int_eq(ipc_pair(s), 0);
	ck_assert_int_eq(bsend(s[0], "0123456789", 10, 0), 0);
	char b[4];
	ck_assert_int_eq(brecv(s[1], NULL, 3, 0), 0);
	ck_assert_int_eq(brecv(s[1], b, 4, 0), 0);
	ck_assert_int_eq(memcmp(b, "3456", 4), 0);
	ck_assert_int_eq(brecv(s[1], NULL, 3, 0), 0);
	ck_assert_int_eq(brecv(s[1], b, 1, 0), -1);
	ck_assert_int_eq(errno, ETIMEDOUT);
	/* A NULL buffer with a length is not valid on send. */
	ck_assert_int_eq(bsend(s[0], NULL, 3, 0), -1);
	ck_assert_int_eq(errno, EINVAL);
	hclose(s[0]);
	hclose(s[1]);
}
END_TEST

START_TEST(test_ipc_iolist)
{
	int s[2];
	ck_assert_int_eq(ipc_pair(s), 0);
	struct iolist i3 = { "ghij", 4, NULL, 0 };
	struct iolist i2 = { "", 0, &i3, 0 };
	struct iolist i1 = { "abcdef", 6, &i2, 0 };
	ck_assert_int_eq(bsendl(s[0], &i1, &i3, now() + 1000), 0);
	char x[3], y[5];
	struct iolist r3 = { y, 5, NULL, 0 };
	struct iolist r2 = { NULL, 2, &r3, 0 };   /* skip "de" */
	struct iolist r1 = { x, 3, &r2, 0 };
	ck_assert_int_eq(brecvl(s[1], &r1, &r3, now() + 1000), 0);
	ck_assert_int_eq(memcmp(x, "abc", 3), 0);
	ck_assert_int_eq(memcmp(y, "fghij", 5), 0);
	/* Nothing else was queued. */
	char z[6];
	ck_assert_int_eq(brecv(s[1], z, 1, 0), -1);
	ck_assert_int_eq(errno, ETIMEDOUT);

	/* EINVAL cases, on a fresh pair so the failed brecv above does not
	 * interfere; none of them breaks the stream. */
	hclose(s[0]);
	hclose(s[1]);
	ck_assert_int_eq(ipc_pair(s), 0);
	ck_assert_int_eq(bsendl(s[0], NULL, &i1, 0), -1);
	ck_assert_int_eq(errno, EINVAL);
	ck_assert_int_eq(bsendl(s[0], &i1, NULL, 0), -1);
	ck_assert_int_eq(errno, EINVAL);
	ck_assert_int_eq(brecvl(s[1], NULL, &r1, 0), -1);
	ck_assert_int_eq(errno, EINVAL);
	ck_assert_int_eq(brecvl(s[1], &r1, NULL, 0), -1);
	ck_assert_int_eq(errno, EINVAL);
	struct iolist other = { "q", 1, NULL, 0 };
	ck_assert_int_eq(bsendl(s[0], &i1, &other, 0), -1);  /* unreachable */
	ck_assert_int_eq(errno, EINVAL);
	struct iolist c2, c1 = { "a", 1, &c2, 0 };
	c2 = (struct iolist){ "b", 1, &c1, 0 };
	ck_assert_int_eq(bsendl(s[0], &c1, &other, 0), -1);  /* cycle */
	ck_assert_int_eq(errno, EINVAL);
	struct iolist self = { "s", 1, NULL, 0 };
	self.iol_next = &self;
	ck_assert_int_eq(brecvl(s[1], &self, &other, 0), -1);
	ck_assert_int_eq(errno, EINVAL);
	i2.iol_rsvd = 1;
	ck_assert_int_eq(bsendl(s[0], &i1, &i3, 0), -1);
	ck_assert_int_eq(errno, EINVAL);
	i2.iol_rsvd = 0;
	/* Still usable. */
	ck_assert_int_eq(bsendl(s[0], &i1, &i3, 0), 0);
	char all[10];
	ck_assert_int_eq(brecv(s[1], all, 10, 0), 0);
	ck_assert_int_eq(memcmp(all, "abcdefghij", 10), 0);
	hclose(s[0]);
	hclose(s[1]);
}
END_TEST

/* libdill's bsendl(3)/brecvl(3) rules, one finding each.  Every case:
 * EINVAL, nothing moved, and both directions still work afterwards (an
 * EINVAL does not break a direction). */

static void ck_iol_einval(int rc, const char *what)
{
	int e = errno;
	ck_assert_msg(rc == -1 && e == EINVAL, "%s: %d, %s (wanted EINVAL)",
		      what, rc, strerror(e));
}

/* The list's last element still links on: libdill refuses it (the old
 * code sent first..last and ignored the rest). */
START_TEST(test_bsendl_last_next_not_NULL_EINVAL)
{
	int s[2];
	ck_assert_int_eq(ipc_pair(s), 0);
	struct iolist i2 = { "cd", 2, NULL, 0 };
	struct iolist i1 = { "ab", 2, &i2, 0 };
	ck_iol_einval(bsendl(s[0], &i1, &i1, 0), "bsendl(first, first) with first->iol_next set");
	/* Nothing went: a receive with deadline 0 finds the ring empty. */
	char b[4];
	struct iolist r = { b, 1, NULL, 0 };
	ck_assert_int_eq(brecvl(s[1], &r, &r, 0), -1);
	ck_assert_int_eq(errno, ETIMEDOUT);
	hclose(s[0]);
	hclose(s[1]);
	/* The same list ending where it should goes through. */
	ck_assert_int_eq(ipc_pair(s), 0);
	ck_assert_int_eq(bsendl(s[0], &i1, &i2, 0), 0);
	ck_assert_int_eq(brecv(s[1], b, 4, 0), 0);
	ck_assert_int_eq(memcmp(b, "abcd", 4), 0);
	hclose(s[0]);
	hclose(s[1]);
}
END_TEST

START_TEST(test_brecvl_last_next_not_NULL_EINVAL)
{
	int s[2];
	ck_assert_int_eq(ipc_pair(s), 0);
	ck_assert_int_eq(bsend(s[0], "abcd", 4, 0), 0);
	char x[2], y[2];
	struct iolist r2 = { y, 2, NULL, 0 };
	struct iolist r1 = { x, 2, &r2, 0 };
	ck_iol_einval(brecvl(s[1], &r1, &r1, 0), "brecvl(first, first) with first->iol_next set");
	/* Nothing was consumed and the direction is not broken. */
	ck_assert_int_eq(brecvl(s[1], &r1, &r2, 0), 0);
	ck_assert_int_eq(memcmp(x, "ab", 2), 0);
	ck_assert_int_eq(memcmp(y, "cd", 2), 0);
	hclose(s[0]);
	hclose(s[1]);
}
END_TEST

/* bsendl(s, NULL, NULL) used to succeed as an empty send. */
START_TEST(test_bsendl_null_both_EINVAL)
{
	int s[2];
	ck_assert_int_eq(ipc_pair(s), 0);
	ck_iol_einval(bsendl(s[0], NULL, NULL, 0), "bsendl(NULL, NULL)");
	ck_iol_einval(bsendl(s[0], NULL, NULL, -1), "bsendl(NULL, NULL, -1)");
	ck_assert_int_eq(bsend(s[0], "z", 1, 0), 0);   /* not broken */
	char b;
	ck_assert_int_eq(brecv(s[1], &b, 1, 0), 0);
	ck_assert_int_eq(b, 'z');
	hclose(s[0]);
	hclose(s[1]);
}
END_TEST

START_TEST(test_brecvl_null_both_EINVAL)
{
	int s[2];
	ck_assert_int_eq(ipc_pair(s), 0);
	ck_assert_int_eq(bsend(s[0], "z", 1, 0), 0);
	ck_iol_einval(brecvl(s[1], NULL, NULL, 0), "brecvl(NULL, NULL)");
	char b;
	ck_assert_int_eq(brecv(s[1], &b, 1, 0), 0);    /* not consumed */
	ck_assert_int_eq(b, 'z');
	hclose(s[0]);
	hclose(s[1]);
}
END_TEST

START_TEST(test_bsendl_null_first_EINVAL)
{
	int s[2];
	ck_assert_int_eq(ipc_pair(s), 0);
	struct iolist i = { "a", 1, NULL, 0 };
	ck_iol_einval(bsendl(s[0], NULL, &i, 0), "bsendl(NULL, last)");
	ck_iol_einval(brecvl(s[1], NULL, &i, 0), "brecvl(NULL, last)");
	/* Neither moved a byte nor broke its direction: the next byte
	 * through is 'q', not the list's 'a'. */
	ck_assert_int_eq(bsend(s[0], "q", 1, 0), 0);
	char b = 0;
	ck_assert_int_eq(brecv(s[1], &b, 1, 0), 0);
	ck_assert_int_eq(b, 'q');
	hclose(s[0]);
	hclose(s[1]);
}
END_TEST

START_TEST(test_bsendl_null_last_EINVAL)
{
	int s[2];
	ck_assert_int_eq(ipc_pair(s), 0);
	struct iolist i = { "a", 1, NULL, 0 };
	ck_iol_einval(bsendl(s[0], &i, NULL, 0), "bsendl(first, NULL)");
	ck_iol_einval(brecvl(s[1], &i, NULL, 0), "brecvl(first, NULL)");
	/* Neither moved a byte nor broke its direction: the next byte
	 * through is 'q', not the list's 'a'. */
	ck_assert_int_eq(bsend(s[0], "q", 1, 0), 0);
	char b = 0;
	ck_assert_int_eq(brecv(s[1], &b, 1, 0), 0);
	ck_assert_int_eq(b, 'q');
	hclose(s[0]);
	hclose(s[1]);
}
END_TEST

/* The rules are the same for every kind: checked before the kind runs,
 * and after the handle lookup (EBADF and ENOTSUP come first, as in
 * libdill). */
START_TEST(test_bsendl_einval_after_EBADF_ENOTSUP)
{
	ck_assert_int_eq(bsendl(123456, NULL, NULL, 0), -1);
	ck_assert_int_eq(errno, EBADF);
	char p[PATH_MAX];
	tpath(p, sizeof(p), "iolkind");
	int l = ipc_listen(p, 8);
	ck_assert_int_ge(l, 0);
	ck_assert_int_eq(brecvl(l, NULL, NULL, 0), -1);
	ck_assert_int_eq(errno, ENOTSUP);
	hclose(l);
}
END_TEST

static int fd_says(int fd, const char *want)
{
	char b[16] = { 0 };
	ssize_t n = read(fd, b, strlen(want));
	return n == (ssize_t)strlen(want) && memcmp(b, want, (size_t)n) == 0;
}

START_TEST(test_ipc_fd_passing)
{
	int c, a;
	mkconn(&c, &a);
	int p1[2], p2[2];
	ck_assert_int_eq(pipe(p1), 0);
	ck_assert_int_eq(pipe(p2), 0);
	ck_assert_int_eq(write(p1[1], "one", 3), 3);
	ck_assert_int_eq(write(p2[1], "two", 3), 3);
	ck_assert_int_eq(bsend(c, "AB", 2, now() + 1000), 0);
	ck_assert_int_eq(ipc_sendfd(c, p1[0], now() + 1000), 0);
	ck_assert_int_eq(bsend(c, "CD", 2, now() + 1000), 0);
	ck_assert_int_eq(ipc_sendfd(c, p2[0], now() + 1000), 0);
	ck_assert_int_eq(ipc_sendfd(c, p2[0], now() + 1000), 0);
	ck_assert_int_eq(bsend(c, "E", 1, now() + 1000), 0);
	close(p1[0]);
	close(p2[0]);
	char b[2];
	/* Bytes come before the first descriptor. */
	ck_assert_int_eq(ipc_recvfd(a, now() + 1000), -1);
	ck_assert_int_eq(errno, EPROTO);
	ck_assert_int_eq(brecv(a, b, 2, now() + 1000), 0);
	ck_assert_int_eq(memcmp(b, "AB", 2), 0);
	int f1 = ipc_recvfd(a, now() + 1000);
	ck_assert_int_ge(f1, 0);
	ck_assert(fd_says(f1, "one"));
	ck_assert_int_eq(ipc_recvfd(a, 0), -1);
	ck_assert_int_eq(errno, EPROTO);
	ck_assert_int_eq(brecv(a, b, 2, now() + 1000), 0);
	ck_assert_int_eq(memcmp(b, "CD", 2), 0);
	int f2 = ipc_recvfd(a, now() + 1000);
	ck_assert_int_ge(f2, 0);
	int f3 = ipc_recvfd(a, now() + 1000);
	ck_assert_int_ge(f3, 0);
	ck_assert(fd_says(f3, "two"));
	ck_assert_int_eq(brecv(a, b, 1, now() + 1000), 0);
	ck_assert_int_eq(b[0], 'E');
	/* Nothing more: recvfd waits for its deadline. */
	ck_assert_int_eq(ipc_recvfd(a, now() + 30), -1);
	ck_assert_int_eq(errno, ETIMEDOUT);
	/* Errors: not a descriptor; after done, EPIPE. */
	ck_assert_int_eq(ipc_sendfd(c, 12345, 0), -1);
	ck_assert_int_eq(errno, EBADF);
	ck_assert_int_eq(ipc_done(c, 0), 0);
	ck_assert_int_eq(ipc_sendfd(c, p1[1], 0), -1);
	ck_assert_int_eq(errno, EPIPE);
	close(f1);
	close(f2);
	close(f3);
	close(p1[1]);
	close(p2[1]);
	hclose(c);
	hclose(a);
}
END_TEST

static int flood_child(void *arg)
{
	int c = ipc_connect(arg, now() + 2000);
	if (c < 0)
		return 100;
	char buf[65536];
	memset(buf, 'f', sizeof(buf));
	for (;;)
		if (bsend(c, buf, sizeof(buf), -1) < 0)
			return 101;
}

START_TEST(test_ipc_peer_killed)
{
	char p[PATH_MAX];
	tpath(p, sizeof(p), "kill");
	int l = ipc_listen(p, 8);
	ck_assert_int_ge(l, 0);
	pid_t pid = fork();
	if (pid == 0)
		_exit(flood_child(p));
	int s = ipc_accept(l, now() + 2000);
	ck_assert_int_ge(s, 0);
	static char buf[65536];
	for (int i = 0; i < 64; i++)
		ck_assert_int_eq(brecv(s, buf, sizeof(buf), now() + 2000), 0);
	ck_assert_int_eq(kill(pid, SIGKILL), 0);
	int64_t t0 = now();
	int rc;
	while ((rc = brecv(s, buf, 1000, now() + 5000)) == 0)
		;
	ck_assert_int_eq(errno, ECONNRESET);
	ck_assert_int_lt(ms_since(t0), 100);
	/* And later calls, both directions. */
	ck_assert_int_eq(brecv(s, buf, 1, now() + 1000), -1);
	ck_assert_int_eq(errno, ECONNRESET);
	int64_t t1 = now();
	while (bsend(s, buf, sizeof(buf), now() + 5000) == 0)
		;
	ck_assert_int_eq(errno, ECONNRESET);
	ck_assert_int_lt(ms_since(t1), 100);
	waitpid(pid, NULL, 0);
	hclose(s);
	hclose(l);
}
END_TEST

/* ---- handle core ----------------------------------------------------- */

static void *brecv_main(void *p)
{
	struct blocked *b = p;
	char c;
	b->rc = brecv(b->h, &c, 1, -1);
	b->err = errno;
	b->t_end = now();
	return NULL;
}

START_TEST(test_ipc_EBUSY_ECANCELED)
{
	int s[2];
	ck_assert_int_eq(ipc_pair(s), 0);
	struct blocked b = { .h = s[0] };
	pthread_t th;
	pthread_create(&th, NULL, brecv_main, &b);
	usleep(50 * 1000);
	char c;
	/* Another receive while one is in progress. */
	ck_assert_int_eq(brecv(s[0], &c, 1, 0), -1);
	ck_assert_int_eq(errno, EBUSY);
	/* Sending is a different direction: fine. */
	ck_assert_int_eq(bsend(s[0], "x", 1, 0), 0);
	/* Closing the handle cancels the blocked call. */
	int64_t t0 = now();
	ck_assert_int_eq(hclose(s[0]), 0);
	pthread_join(th, NULL);
	ck_assert_int_eq(b.rc, -1);
	ck_assert_int_eq(b.err, ECANCELED);
	ck_assert_int_lt(b.t_end - t0, 50);
	hclose(s[1]);
}
END_TEST

START_TEST(test_ipc_EBADF_ENOTSUP)
{
	char b[1] = { 0 };
	ck_assert_int_eq(bsend(123456, b, 1, 0), -1);
	ck_assert_int_eq(errno, EBADF);
	ck_assert_int_eq(brecv(-1, b, 1, 0), -1);
	ck_assert_int_eq(errno, EBADF);
	ck_assert_int_eq(hclose(0), -1);
	ck_assert_int_eq(errno, EBADF);
	char p[PATH_MAX];
	tpath(p, sizeof(p), "kind");
	int l = ipc_listen(p, 8);
	ck_assert_int_ge(l, 0);
	ck_assert_int_eq(bsend(l, b, 1, 0), -1);
	ck_assert_int_eq(errno, ENOTSUP);
	ck_assert_int_eq(brecv(l, b, 1, 0), -1);
	ck_assert_int_eq(errno, ENOTSUP);
	ck_assert_int_eq(ipc_done(l, 0), -1);
	ck_assert_int_eq(errno, ENOTSUP);
	ck_assert_int_eq(ipc_sendfd(l, 0, 0), -1);
	ck_assert_int_eq(errno, ENOTSUP);
	int s[2];
	ck_assert_int_eq(ipc_pair(s), 0);
	ck_assert_int_eq(ipc_accept(s[0], 0), -1);
	ck_assert_int_eq(errno, ENOTSUP);
	/* ipc_close on a listener just closes it. */
	ck_assert_int_eq(ipc_close(l, 0), 0);
	ck_assert_int_eq(hclose(l), -1);
	ck_assert_int_eq(errno, EBADF);
	hclose(s[0]);
	hclose(s[1]);
	/* Handle numbers are reused but stale ones fail, not alias. */
	ck_assert_int_eq(bsend(s[0], b, 1, 0), -1);
	ck_assert_int_eq(errno, EBADF);
}
END_TEST

static int count_fds(void)
{
	int n = 0;
	for (int fd = 0; fd < 1024; fd++)
		if (fcntl(fd, F_GETFD) >= 0)
			n++;
	return n;
}

START_TEST(test_ipc_no_fd_leak)
{
	char p[PATH_MAX];
	tpath(p, sizeof(p), "leak");
	int before = count_fds();
	for (int i = 0; i < 3; i++) {
		int c, a, s[2];
		mkconn(&c, &a);
		ck_assert_int_eq(bsend(c, "x", 1, 0), 0);
		ck_assert_int_eq(hclose(c), 0);
		ck_assert_int_eq(ipc_close(a, now() + 1000), 0);  /* drops x */
		ck_assert_int_eq(ipc_pair(s), 0);
		ck_assert_int_eq(ipc_close(s[0], 0), -1);
		ck_assert_int_eq(hclose(s[1]), 0);
		/* Failed set-ups release what they took. */
		ck_assert_int_eq(ipc_connect(p, now() + 100), -1);
		int l = ipc_listen(p, 0);
		ck_assert_int_ge(l, 0);
		/* One connected and closed before the accept; the next ones
		 * time out on the full backlog. */
		int c2 = ipc_connect(p, now() + 20);
		ck_assert_int_ge(c2, 0);
		ck_assert_int_eq(hclose(c2), 0);
		int fd[16];
		int nfill = fill_backlog(p, fd, 16);
		ck_assert_int_eq(ipc_connect(p, now() + 20), -1);
		ck_assert_int_eq(errno, ETIMEDOUT);
		int a2 = ipc_accept(l, 0);   /* c2: set up, then EOF */
		ck_assert_int_ge(a2, 0);
		char b;
		ck_assert_int_eq(brecv(a2, &b, 1, 0), -1);
		ck_assert_int_eq(errno, EPIPE);
		ck_assert_int_eq(hclose(a2), 0);
		ck_assert_int_eq(hclose(l), 0);
		for (int k = 0; k < nfill; k++)
			close(fd[k]);
		unlink(p);
	}
	ck_assert_int_eq(count_fds(), before);
}
END_TEST

struct sender {
	int h;
	size_t len;
	int rc, err;
};

static void *bsend_main(void *p)
{
	struct sender *x = p;
	char *buf = calloc(1, x->len);
	x->rc = bsend(x->h, buf, x->len, -1);
	x->err = errno;
	free(buf);
	return NULL;
}

START_TEST(test_ipc_send_EBUSY_ECANCELED)
{
	int s[2];
	struct ipc_opts o = { .ring_size = 4096 };
	ck_assert_int_eq(ipc_pair_opts(&o, NULL, s), 0);
	/* A sender blocked on a full ring... */
	struct sender x = { .h = s[0], .len = 100000 };
	pthread_t th;
	pthread_create(&th, NULL, bsend_main, &x);
	usleep(50 * 1000);
	ck_assert_int_eq(bsend(s[0], "y", 1, 0), -1);
	ck_assert_int_eq(errno, EBUSY);
	ck_assert_int_eq(ipc_done(s[0], 0), -1);
	ck_assert_int_eq(errno, EBUSY);
	/* ...is cancelled by hclose from another thread. */
	int64_t t0 = now();
	ck_assert_int_eq(hclose(s[0]), 0);
	pthread_join(th, NULL);
	ck_assert_int_eq(x.rc, -1);
	ck_assert_int_eq(x.err, ECANCELED);
	ck_assert_int_lt(ms_since(t0), 50);
	/* s[1] gets the bytes that made it into the ring, then a reset:
	 * the cancelled message was cut in the middle. */
	char buf[4096];
	int rc;
	while ((rc = brecv(s[1], buf, sizeof(buf), now() + 1000)) == 0)
		;
	ck_assert_int_eq(errno, ECONNRESET);
	hclose(s[1]);
}
END_TEST

/* ---- 4 GiB, two threads per side, two processes ---------------------- */

/* Byte p of a direction's stream: a cheap, position-keyed pattern, so any
 * lost, duplicated or reordered byte shows. */
static inline uint64_t pat_word(uint64_t w, uint64_t seed)
{
	uint64_t z = (w + seed) * 0x9e3779b97f4a7c15ull;
	return z ^ (z >> 29);
}

static void pat_fill(uint8_t *buf, uint64_t pos, size_t len, uint64_t seed)
{
	size_t i = 0;
	while (i < len && ((pos + i) & 7)) {
		uint64_t w = pat_word((pos + i) >> 3, seed);
		buf[i] = (uint8_t)(w >> (8 * ((pos + i) & 7)));
		i++;
	}
	for (; i + 8 <= len; i += 8) {
		uint64_t w = pat_word((pos + i) >> 3, seed);
		memcpy(buf + i, &w, 8);
	}
	for (; i < len; i++) {
		uint64_t w = pat_word((pos + i) >> 3, seed);
		buf[i] = (uint8_t)(w >> (8 * ((pos + i) & 7)));
	}
}

static uint64_t xrand(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

#define BIG_TOTAL (4ull << 30)
#define BIG_MAXIO (256u << 10)

struct mover {
	int h;
	uint64_t seed;     /* pattern of the stream this thread handles */
	uint64_t rseed;    /* sizes */
	int ok;
	char msg[128];
};

/* Random sizes: mostly small, sometimes large, to cross the ring's end in
 * every way. */
static size_t rand_size(uint64_t *r)
{
	uint64_t x = xrand(r);
	switch (x & 3) {
	case 0: return 1 + (size_t)((x >> 8) % 64);
	case 1: return 1 + (size_t)((x >> 8) % 4096);
	default: return 1 + (size_t)((x >> 8) % BIG_MAXIO);
	}
}

static void *sender_main(void *p)
{
	struct mover *m = p;
	uint8_t *buf = malloc(BIG_MAXIO);
	uint64_t pos = 0, r = m->rseed;
	while (pos < BIG_TOTAL) {
		size_t n = rand_size(&r);
		if (n > BIG_TOTAL - pos)
			n = (size_t)(BIG_TOTAL - pos);
		pat_fill(buf, pos, n, m->seed);
		if (bsend(m->h, buf, n, now() + 30000) < 0) {
			snprintf(m->msg, sizeof(m->msg), "bsend at %llu: %s",
				 (unsigned long long)pos, strerror(errno));
			free(buf);
			return NULL;
		}
		pos += n;
	}
	free(buf);
	m->ok = 1;
	return NULL;
}

static void *receiver_main(void *p)
{
	struct mover *m = p;
	uint8_t *buf = malloc(BIG_MAXIO), *want = malloc(BIG_MAXIO);
	uint64_t pos = 0, r = m->rseed;
	while (pos < BIG_TOTAL) {
		size_t n = rand_size(&r);
		if (n > BIG_TOTAL - pos)
			n = (size_t)(BIG_TOTAL - pos);
		if (brecv(m->h, buf, n, now() + 30000) < 0) {
			snprintf(m->msg, sizeof(m->msg), "brecv at %llu: %s",
				 (unsigned long long)pos, strerror(errno));
			goto out;
		}
		pat_fill(want, pos, n, m->seed);
		if (memcmp(buf, want, n) != 0) {
			size_t i = 0;
			while (buf[i] == want[i])
				i++;
			snprintf(m->msg, sizeof(m->msg),
				 "byte %llu differs", (unsigned long long)(pos + i));
			goto out;
		}
		pos += n;
	}
	m->ok = 1;
out:
	free(buf);
	free(want);
	return NULL;
}

/* One side: send stream `out`, receive stream `in`, on two threads. */
static int two_threads(int h, uint64_t out, uint64_t in, char *msg, size_t n)
{
	struct mover s = { .h = h, .seed = out, .rseed = out * 3 + 1 };
	struct mover r = { .h = h, .seed = in, .rseed = in * 5 + 7 };
	pthread_t ts, tr;
	pthread_create(&ts, NULL, sender_main, &s);
	pthread_create(&tr, NULL, receiver_main, &r);
	pthread_join(ts, NULL);
	pthread_join(tr, NULL);
	snprintf(msg, n, "%s %s", s.msg, r.msg);
	return s.ok && r.ok;
}

static int big_child(void *arg)
{
	int c = ipc_connect(arg, now() + 2000);
	if (c < 0)
		return 100;
	char msg[300];
	if (!two_threads(c, 11, 22, msg, sizeof(msg))) {
		fprintf(stderr, "child: %s\n", msg);
		return 101;
	}
	/* Both streams done: a clean close on both sides. */
	return ipc_close(c, now() + 5000) == 0 ? 0 : 102;
}

START_TEST(test_ipc_4gib_two_threads)
{
	char p[PATH_MAX];
	tpath(p, sizeof(p), "big");
	int l = ipc_listen(p, 8);
	ck_assert_int_ge(l, 0);
	pid_t pid = fork();
	if (pid == 0)
		_exit(big_child(p));
	int s = ipc_accept(l, now() + 2000);
	ck_assert_int_ge(s, 0);
	int64_t t0 = now();
	char msg[300];
	int ok = two_threads(s, 22, 11, msg, sizeof(msg));
	ck_assert_msg(ok, "parent: %s", msg);
	ck_assert_int_eq(ipc_close(s, now() + 5000), 0);
	int st;
	waitpid(pid, &st, 0);
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child status %d", st);
	fprintf(stderr, "ipc 4 GiB each way, two threads per side: %lld ms\n",
		(long long)ms_since(t0));
	hclose(l);
}
END_TEST

Suite *ipc_suite(void)
{
	Suite *s = suite_create("ipc");
	TCase *tc = tcase_create("connect_errors");
	tcase_add_unchecked_fixture(tc, dir_setup, dir_teardown);
	tcase_add_test(tc, test_ipc_connect_EACCES);
	tcase_add_test(tc, test_ipc_connect_ECONNREFUSED);
	tcase_add_test(tc, test_ipc_connect_EINVAL);
	tcase_add_test(tc, test_ipc_connect_ELOOP);
	tcase_add_test(tc, test_ipc_connect_ENAMETOOLONG);
	tcase_add_test(tc, test_ipc_connect_ENOENT);
	tcase_add_test(tc, test_ipc_connect_ENOTDIR);
	tcase_add_test(tc, test_ipc_connect_ETIMEDOUT);
	tcase_add_test(tc, test_ipc_connect_ECANCELED);
	tcase_add_test(tc, test_ipc_connect_EMFILE);
	tcase_add_test(tc, test_ipc_connect_ECONNRESET);
	tcase_add_test(tc, test_ipc_connect_mem_exact);
	tcase_add_test(tc, test_ipc_listen_errors);
	tcase_add_test(tc, test_ipc_accept_deadlines);
	tcase_add_test(tc, test_ipc_accept_bad_clients);
	suite_add_tcase(s, tc);

	tc = tcase_create("connect_before_accept");
	tcase_add_unchecked_fixture(tc, dir_setup, dir_teardown);
	tcase_set_timeout(tc, 20);
	tcase_add_test(tc, test_ipc_connect_before_accept_single_thread);
	tcase_add_test(tc, test_ipc_connect_mem_before_accept_single_thread);
	tcase_add_test(tc, test_ipc_connect_opts_before_accept_single_thread);
	tcase_add_test(tc, test_ipc_connect_backlog_full_ETIMEDOUT);
	tcase_add_test(tc, test_ipc_connect_waits_for_backlog_room);
	tcase_add_test(tc, test_ipc_connect_listener_closed_before_accept_ECONNRESET);
	tcase_add_test(tc, test_ipc_connect_send_close_before_accept_delivers);
	suite_add_tcase(s, tc);

	tc = tcase_create("stream");
	tcase_add_unchecked_fixture(tc, dir_setup, dir_teardown);
	tcase_set_timeout(tc, 20);
	tcase_add_test(tc, test_ipc_exchange);
	tcase_add_test(tc, test_ipc_exchange_process);
	tcase_add_test(tc, test_ipc_half_close);
	tcase_add_test(tc, test_ipc_clean_close);
	tcase_add_test(tc, test_ipc_close_ETIMEDOUT);
	tcase_add_test(tc, test_ipc_close_after_failed_bsend_ECONNRESET);
	tcase_add_test(tc, test_ipc_close_after_bsend_ETIMEDOUT_ECONNRESET);
	tcase_add_test(tc, test_ipc_close_after_brecv_ETIMEDOUT_ECONNRESET);
	tcase_add_test(tc, test_ipc_close_after_EINVAL_EPIPE_EPROTO_returns_0);
	tcase_add_test(tc, test_ipc_hclose_delivers);
	tcase_add_test(tc, test_ipc_hclose_unread_resets);
	tcase_add_test(tc, test_ipc_backpressure);
	tcase_add_test(tc, test_ipc_deadlines);
	tcase_add_test(tc, test_ipc_skip);
	tcase_add_test(tc, test_ipc_iolist);
	tcase_add_test(tc, test_ipc_fd_passing);
	tcase_add_test(tc, test_ipc_peer_killed);
	tcase_add_test(tc, test_ipc_EBUSY_ECANCELED);
	tcase_add_test(tc, test_ipc_EBADF_ENOTSUP);
	tcase_add_test(tc, test_ipc_no_fd_leak);
	tcase_add_test(tc, test_ipc_send_EBUSY_ECANCELED);
	suite_add_tcase(s, tc);

	tc = tcase_create("iolist_rules");
	tcase_add_unchecked_fixture(tc, dir_setup, dir_teardown);
	tcase_add_test(tc, test_bsendl_last_next_not_NULL_EINVAL);
	tcase_add_test(tc, test_brecvl_last_next_not_NULL_EINVAL);
	tcase_add_test(tc, test_bsendl_null_both_EINVAL);
	tcase_add_test(tc, test_brecvl_null_both_EINVAL);
	tcase_add_test(tc, test_bsendl_null_first_EINVAL);
	tcase_add_test(tc, test_bsendl_null_last_EINVAL);
	tcase_add_test(tc, test_bsendl_einval_after_EBADF_ENOTSUP);
	suite_add_tcase(s, tc);

	tc = tcase_create("bulk");
	tcase_add_unchecked_fixture(tc, dir_setup, dir_teardown);
	tcase_set_timeout(tc, 240);
	tcase_add_test(tc, test_ipc_4gib_two_threads);
	suite_add_tcase(s, tc);
	return s;
}
