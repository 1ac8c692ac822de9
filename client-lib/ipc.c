/*
 * ipc.c: libdill's ipc_* over AF_LOCAL sockets and shared-memory rings.
 *
 * The listener is a real AF_LOCAL stream socket, so every path error is the
 * kernel's own.  Once connected, the bytes go through a pair of dn_ring SPSC
 * rings in a memfd both processes map (see ipc.h for the handshake and the
 * layout); the socket stays open only to pass descriptors and to report the
 * peer's death: the kernel closes it when the peer process goes away, and a
 * poll on it returns POLLHUP at once.
 *
 * Wakeups: a side that finds its ring empty (or full) spins briefly, then
 * sets the ring's waiting flag, re-checks, and sleeps in ppoll() on its
 * eventfd together with the socket.  The other side, after publishing,
 * writes the eventfd only when it finds the flag set (dn_ring's Dekker
 * handshake), so a busy stream makes no system calls at all.  We use
 * eventfds rather than a futex word in the region because a futex cannot be
 * waited on together with the socket: with eventfds one ppoll() sees data,
 * room, the peer's death (POLLHUP) and our own cancellation (hclose from
 * another thread writes the same eventfd), without timeouts or polling.  A
 * wakeup costs one eventfd write, about what a FUTEX_WAKE costs.
 *
 * Closing: hclose() (and the end of ipc_close()) sets EOF on the outgoing
 * ring, so data already written is still delivered and the peer then gets
 * EPIPE, like close(2) on a kernel socket.  If unread input remains it sets
 * RESET on both rings instead, and the peer gets ECONNRESET at once, like a
 * kernel RST.  The incoming ring is always marked RESET so the peer's later
 * sends fail with ECONNRESET instead of filling a ring nobody reads.  A peer
 * that dies sets nothing: its socket's hang-up makes our calls fail with
 * ECONNRESET once the bytes it had published are read.
 *
 * Trust: the two processes may belong to different users, so neither
 * trusts the other.  The acceptor checks that the memfd is a sealed regular
 * file at least as large as the ring sizes it validated (no SIGBUS from a
 * shrink), that the four other descriptors are eventfds, and computes every
 * offset itself; dn_ring validates every index it loads, and a bad one is
 * ECONNRESET.  Known limit: the eventfds' file descriptions are shared, so a
 * hostile peer could clear O_NONBLOCK on them and push a counter to its
 * maximum, making our next wakeup write block; closing that needs futex
 * wakeups, which cannot be polled together with the socket.
 */
#include "handle.h"
#include "dn_efd.h"
#include "iol.h"
#include "ipc.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdalign.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

/* Default spin before sleeping, when the machine has more than one CPU:
 * long enough to cover a peer's reaction time while it is running, short
 * enough not to waste a time slice when it is not. */
#define DNL_IPC_SPIN_DEFAULT_US 50
/* The adaptive budget never drops below this, so a peer that starts
 * answering quickly again is noticed. */
#define DNL_IPC_SPIN_FLOOR_NS 1000
/* How long ipc_accept waits for one client's HELLO before dropping it. */
#define DNL_IPC_HELLO_MS 1000

struct ipc_listener {
	struct dnl_handle h;
	int fd;
	int cancel_fd;  /* eventfd, written once by cancel, never drained */
};

struct ipc_conn {
	struct dnl_handle h;
	int sock;
	int efd[DNL_IPC_NEFD];
	int side;               /* 0 connector, 1 acceptor */
	int64_t spin_ns;        /* upper bound of a spin */
	int64_t spin_cur[2];    /* adaptive budget: [0] waiting for room, [1] data */
	unsigned waits[2];
	void *map;
	size_t maplen;
	struct dn_ring tx, rx;
	int done;               /* ipc_done called: sends fail with EPIPE */
	_Atomic int peer_gone;  /* the socket hung up */
	int have_pend;          /* a received fd not yet handed out */
	int pend_fd;
	uint64_t pend_pos;
};

_Static_assert(sizeof(struct ipc_conn) <= IPC_SIZE, "IPC_SIZE too small");
_Static_assert(alignof(struct ipc_conn) <= alignof(struct ipc_storage),
	       "ipc_storage alignment");
_Static_assert(sizeof(struct ipc_listener) <= IPC_LISTENER_SIZE,
	       "IPC_LISTENER_SIZE too small");
_Static_assert(2 * sizeof(struct ipc_conn) <= IPC_PAIR_SIZE,
	       "IPC_PAIR_SIZE too small");

/* Which eventfd does what, for our side. */
static inline int efd_wait_rx(const struct ipc_conn *c)
{
	return c->efd[2 * (1 - c->side)];
}
static inline int efd_wait_tx(const struct ipc_conn *c)
{
	return c->efd[2 * c->side + 1];
}
static inline int efd_wake_peer_rx(const struct ipc_conn *c)
{
	return c->efd[2 * c->side];
}
static inline int efd_wake_peer_tx(const struct ipc_conn *c)
{
	return c->efd[2 * (1 - c->side) + 1];
}

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("yield");
#endif
}

static int64_t spin_default_ns(void)
{
	const char *e = getenv("DILLNET_IPC_SPIN_US");
	if (e && *e) {
		long v = strtol(e, NULL, 10);
		return v > 0 ? (int64_t)v * 1000 : 0;
	}
	if (sysconf(_SC_NPROCESSORS_ONLN) <= 1)
		return 0;
	return (int64_t)DNL_IPC_SPIN_DEFAULT_US * 1000;
}

static int64_t spin_from_opts(const struct ipc_opts *o)
{
	if (!o || o->spin_us == 0)
		return spin_default_ns();
	if (o->spin_us < 0)
		return 0;
	return (int64_t)o->spin_us * 1000;
}

static int opts_check(const struct ipc_opts *o)
{
	if (!o)
		return 0;
	for (size_t i = 0; i < sizeof(o->rsvd) / sizeof(o->rsvd[0]); i++)
		if (o->rsvd[i])
			goto inval;
	if (o->ring_size && (o->ring_size < IPC_RING_MIN ||
			     o->ring_size > IPC_RING_MAX ||
			     (o->ring_size & (o->ring_size - 1))))
		goto inval;
	return 0;
inval:
	errno = EINVAL;
	return -1;
}

/* Path checks the kernel would not make the way libdill documents them. */
static int path_check(const char *addr, struct sockaddr_un *su)
{
	if (!addr) {
		errno = EINVAL;
		return -1;
	}
	size_t len = strlen(addr);
	if (len == 0) {
		errno = ENOENT;
		return -1;
	}
	if (len >= sizeof(su->sun_path)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	memset(su, 0, sizeof(*su));
	su->sun_family = AF_LOCAL;
	memcpy(su->sun_path, addr, len + 1);
	return 0;
}

static int mem_check(const void *mem)
{
	if (mem && ((uintptr_t)mem % 8) != 0) {
		errno = EINVAL;
		return -1;
	}
	return 0;
}

/* ---- listener -------------------------------------------------------- */

static void lst_cancel(struct dnl_handle *h)
{
	struct ipc_listener *l = (struct ipc_listener *)h;
	dn_efd_signal(l->cancel_fd);
}

static void lst_release(struct dnl_handle *h)
{
	struct ipc_listener *l = (struct ipc_listener *)h;
	close(l->fd);
	close(l->cancel_fd);
}

static const struct dnl_vtable lst_vt = {
	.kind = DNL_KIND_IPC_LISTENER,
	.name = "ipc listener",
	.cancel = lst_cancel,
	.release = lst_release,
};

static int listen_impl(const char *addr, int backlog,
		       struct ipc_listener_storage *mem)
{
	struct sockaddr_un su;
	if (path_check(addr, &su) < 0 || mem_check(mem) < 0)
		return -1;
	int err;
	struct ipc_listener *l = mem ? (struct ipc_listener *)mem
				     : malloc(sizeof(*l));
	if (!l) {
		errno = ENOMEM;
		return -1;
	}
	memset(l, 0, sizeof(*l));
	l->fd = socket(AF_LOCAL, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (l->fd < 0)
		goto fail_mem;
	if (bind(l->fd, (struct sockaddr *)&su, sizeof(su)) < 0)
		goto fail_sock;
	if (listen(l->fd, backlog) < 0)
		goto fail_sock;
	l->cancel_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (l->cancel_fd < 0)
		goto fail_sock;
	int s = dnl_handle_add(&l->h, &lst_vt, mem ? 0 : DNL_H_FREE);
	if (s < 0)
		goto fail_efd;
	return s;
fail_efd:
	err = errno;
	close(l->cancel_fd);
	errno = err;
fail_sock:
	err = errno;
	close(l->fd);
	errno = err;
fail_mem:
	err = errno;
	if (!mem)
		free(l);
	errno = err;
	return -1;
}

DILLNET_EXPORT int dillnet_ipc_listen(const char *addr, int backlog)
{
	return listen_impl(addr, backlog, NULL);
}

DILLNET_EXPORT int dillnet_ipc_listen_mem(const char *addr, int backlog,
					  struct ipc_listener_storage *mem)
{
	if (!mem) {
		errno = EINVAL;
		return -1;
	}
	return listen_impl(addr, backlog, mem);
}

/* ---- connection object ----------------------------------------------- */

static int conn_bsendl(struct dnl_handle *h, struct iolist *first,
		       struct iolist *last, int64_t deadline);
static int conn_brecvl(struct dnl_handle *h, struct iolist *first,
		       struct iolist *last, int64_t deadline);
static int conn_done(struct dnl_handle *h, int64_t deadline);
static int conn_close(struct dnl_handle *h, int64_t deadline);
static void conn_cancel(struct dnl_handle *h);
static void conn_release(struct dnl_handle *h);

static const struct dnl_vtable conn_vt = {
	.kind = DNL_KIND_IPC,
	.name = "ipc",
	.bsendl = conn_bsendl,
	.brecvl = conn_brecvl,
	.done = conn_done,
	.close = conn_close,
	.cancel = conn_cancel,
	.release = conn_release,
};

static void conn_init(struct ipc_conn *c)
{
	memset(c, 0, sizeof(*c));
	c->sock = -1;
	for (int i = 0; i < DNL_IPC_NEFD; i++)
		c->efd[i] = -1;
	c->map = MAP_FAILED;
	c->pend_fd = -1;
}

/* Frees what conn_init + setup acquired; safe on a half-built object. */
static void conn_free_res(struct ipc_conn *c)
{
	if (c->have_pend)
		close(c->pend_fd);
	if (c->map != MAP_FAILED)
		munmap(c->map, c->maplen);
	for (int i = 0; i < DNL_IPC_NEFD; i++)
		if (c->efd[i] >= 0)
			close(c->efd[i]);
	if (c->sock >= 0)
		close(c->sock);
}

/* Attach our private ring views to a mapped region. */
static int conn_attach(struct ipc_conn *c, const uint32_t size[2])
{
	struct dnl_ipc_region *r = c->map;
	uint8_t *base = c->map;
	uint8_t *data[2] = { base + DNL_IPC_HDR, base + DNL_IPC_HDR + size[0] };
	int txr = c->side, rxr = 1 - c->side;
	if (dn_ring_attach(&c->tx, &r->ring[txr], data[txr], size[txr]) < 0 ||
	    dn_ring_attach(&c->rx, &r->ring[rxr], data[rxr], size[rxr]) < 0) {
		errno = EPROTO;
		return -1;
	}
	return 0;
}

/* Create a sealed memfd holding a fresh region; returns the fd. */
static int region_create(const uint32_t size[2], size_t *len)
{
	*len = DNL_IPC_HDR + (size_t)size[0] + size[1];
	int fd = memfd_create("dillnet-ipc", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (fd < 0)
		return -1;
	if (ftruncate(fd, (off_t)*len) < 0)
		goto fail;
	/* The peer cannot shrink it under us (no SIGBUS) nor grow it. */
	if (fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) < 0)
		goto fail;
	struct dnl_ipc_region *r = mmap(NULL, DNL_IPC_HDR, PROT_READ | PROT_WRITE,
					MAP_SHARED, fd, 0);
	if (r == MAP_FAILED)
		goto fail;
	r->magic = DNL_IPC_MAGIC;
	r->version = DNL_IPC_VERSION;
	r->ring_size[0] = size[0];
	r->ring_size[1] = size[1];
	atomic_init(&r->cpu[0], -1);
	atomic_init(&r->cpu[1], -1);
	dn_ring_shared_init(&r->ring[0]);
	dn_ring_shared_init(&r->ring[1]);
	munmap(r, DNL_IPC_HDR);
	return fd;
fail:;
	int e = errno;
	close(fd);
	errno = e;
	return -1;
}

static int region_map(struct ipc_conn *c, int memfd, size_t len)
{
	c->map = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, memfd, 0);
	if (c->map == MAP_FAILED)
		return -1;
	c->maplen = len;
	return 0;
}

static int efds_create(int efd[DNL_IPC_NEFD])
{
	for (int i = 0; i < DNL_IPC_NEFD; i++) {
		efd[i] = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		if (efd[i] < 0)
			return -1;
	}
	return 0;
}

static void ring_sizes(const struct ipc_opts *o, uint32_t size[2])
{
	size_t s = IPC_RING_DEFAULT;
	/* Process-wide default for programs that cannot pass ipc_opts. */
	const char *e = getenv("DILLNET_IPC_RING_KIB");
	if (e && *e) {
		size_t k = (size_t)strtoul(e, NULL, 10) * 1024;
		if (k >= IPC_RING_MIN && k <= IPC_RING_MAX && !(k & (k - 1)))
			s = k;
	}
	if (o && o->ring_size)
		s = o->ring_size;
	size[0] = size[1] = (uint32_t)s;
}

/* ---- waiting --------------------------------------------------------- */

/* Is there something for the receiver (data, a flag, the peer's end)? */
static inline int rx_ready(struct ipc_conn *c)
{
	return dn_ring_readable(&c->rx) != 0 || dn_ring_flags(&c->rx) ||
	       atomic_load_explicit(&c->peer_gone, memory_order_relaxed) ||
	       dnl_handle_cancelled(&c->h);
}

static inline int tx_ready(struct ipc_conn *c)
{
	return dn_ring_writable(&c->tx) != 0 || dn_ring_flags(&c->tx) ||
	       atomic_load_explicit(&c->peer_gone, memory_order_relaxed) ||
	       dnl_handle_cancelled(&c->h);
}

/*
 * Wait until ready(c) may have become true.  Returns 0 (caller re-checks
 * everything) or -1 with ETIMEDOUT.  Cancellation and hang-up are reported
 * through the state ready() looks at, so callers handle them in one place.
 */
static int conn_wait(struct ipc_conn *c, int rx, int64_t deadline)
{
	int (*ready)(struct ipc_conn *) = rx ? rx_ready : tx_ready;
	/* Adaptive spin, per direction: a spin that ends in success doubles
	 * the next budget (up to spin_ns), one that ends in sleep halves it.
	 * When the peer runs on another core the reply comes within the spin
	 * and no system call is made; when both share a core (or the peer is
	 * idle) spinning only delays it, and the budget shrinks to the
	 * floor quickly. */
	int64_t *budget = &c->spin_cur[rx];
	/* A peer last seen on our own CPU cannot answer while we spin
	 * there: sleep at once and let it run. */
	struct dnl_ipc_region *reg = c->map;
	int cpu = sched_getcpu();
	atomic_store_explicit(&reg->cpu[c->side], cpu, memory_order_relaxed);
	int same_cpu = cpu >= 0 && atomic_load_explicit(&reg->cpu[1 - c->side],
						memory_order_relaxed) == cpu;
	if (deadline != 0 && c->spin_ns > 0 && !same_cpu) {
		/* Every 16th wait spins the full time: if both sides sit at
		 * the floor, neither spins long enough to cover the other's
		 * wakeup, and only such a probe gets them spinning again. */
		int64_t b = (++c->waits[rx] & 15) == 0 ? c->spin_ns : *budget;
		int64_t t0 = dnl_now_ns(), end = t0 + b;
		for (unsigned i = 1;; i++) {
			if (ready(c)) {
				*budget = *budget * 2 < c->spin_ns ?
					  *budget * 2 : c->spin_ns;
				return 0;
			}
			cpu_relax();
			if (i % 32 == 0 && dnl_now_ns() >= end)
				break;
		}
		*budget = *budget / 2 > DNL_IPC_SPIN_FLOOR_NS ?
			  *budget / 2 : DNL_IPC_SPIN_FLOOR_NS;
	}
	if (rx)
		dn_ring_cons_prepare_sleep(&c->rx);
	else
		dn_ring_prod_prepare_sleep(&c->tx);
	int rc = 0;
	if (!ready(c)) {
		struct pollfd pf[2] = {
			{ .fd = rx ? efd_wait_rx(c) : efd_wait_tx(c),
			  .events = POLLIN },
			/* events 0: only POLLHUP/POLLERR, i.e. the peer's
			 * end is closed; passed fds do not wake us. */
			{ .fd = c->sock, .events = 0 },
		};
		int n = dnl_poll_until(pf, 2, deadline);
		if (n < 0)
			rc = -1;
		if (n == 0) {
			errno = ETIMEDOUT;
			rc = -1;
		}
		if (n > 0 && pf[0].revents)
			dn_efd_drain(pf[0].fd);
		if (n > 0 && pf[1].revents)
			atomic_store(&c->peer_gone, 1);
	}
	if (rx)
		dn_ring_cons_cancel_sleep(&c->rx);
	else
		dn_ring_prod_cancel_sleep(&c->tx);
	/* A result may have arrived as the deadline expired: prefer it. */
	if (rc < 0 && errno == ETIMEDOUT && ready(c))
		rc = 0;
	return rc;
}

/* ---- data path ------------------------------------------------------- */

/* Bytes in a list the core has already validated. */
static size_t iol_total(const struct iolist *first, const struct iolist *last)
{
	size_t n = 0;
	for (const struct iolist *it = first; it; it = it == last ? NULL : it->iol_next)
		n += it->iol_len;
	return n;
}

static int conn_bsendl(struct dnl_handle *h, struct iolist *first,
		       struct iolist *last, int64_t deadline)
{
	struct ipc_conn *c = (struct ipc_conn *)h;
	if (c->done) {
		errno = EPIPE;
		return -1;
	}
	int moved = 0;
	/* Deadline 0 must not block; when the whole message cannot go now,
	 * fail before moving anything, so the peer's stream stays intact. */
	if (deadline == 0 && iol_total(first, last) > dn_ring_writable(&c->tx) &&
	    !(dn_ring_flags(&c->tx) & DN_RING_F_RESET)) {
		errno = ETIMEDOUT;
		return -1;
	}
	for (struct iolist *it = first; it; it = it == last ? NULL : it->iol_next) {
		const uint8_t *p = it->iol_base;
		size_t n = it->iol_len;
		while (n) {
			if (dnl_handle_cancelled(h)) {
				errno = ECANCELED;
				goto fail;
			}
			if (dn_ring_flags(&c->tx) & DN_RING_F_RESET) {
				errno = ECONNRESET;
				goto fail;
			}
			size_t w = dn_ring_write(&c->tx, p, n);
			if (w == DN_RING_CORRUPT) {
				errno = ECONNRESET;
				goto fail;
			}
			if (w) {
				moved = 1;
				p += w;
				n -= w;
				if (dn_ring_consumer_needs_wakeup(&c->tx))
					dn_efd_signal(efd_wake_peer_rx(c));
				continue;
			}
			if (atomic_load(&c->peer_gone)) {
				errno = ECONNRESET;
				goto fail;
			}
			if (conn_wait(c, 0, deadline) < 0)
				goto fail;
		}
	}
	return 0;
fail:
	/* All or nothing: a message cut in the middle would be read as
	 * garbage, so the peer is told the stream broke. */
	if (moved) {
		int e = errno;
		dn_ring_set_flag(&c->tx, DN_RING_F_RESET);
		dn_efd_signal(efd_wake_peer_rx(c));
		errno = e;
	}
	return -1;
}

/* Receiver's verdict when the ring is empty: 0 keep waiting, else -1 and
 * errno. */
static int rx_empty_state(struct ipc_conn *c)
{
	uint32_t fl = dn_ring_flags(&c->rx);
	if (fl & DN_RING_F_RESET) {
		errno = ECONNRESET;
		return -1;
	}
	/* Flags are set after the last publish, so re-check the ring once
	 * they are seen: only an empty ring ends the stream. */
	if (fl & DN_RING_F_EOF) {
		if (dn_ring_readable(&c->rx) != 0)
			return 0;
		errno = EPIPE;
		return -1;
	}
	if (atomic_load(&c->peer_gone)) {
		if (dn_ring_readable(&c->rx) != 0)
			return 0;
		errno = ECONNRESET;
		return -1;
	}
	if (dnl_handle_cancelled(&c->h)) {
		errno = ECANCELED;
		return -1;
	}
	return 1;
}

static int conn_brecvl(struct dnl_handle *h, struct iolist *first,
		       struct iolist *last, int64_t deadline)
{
	struct ipc_conn *c = (struct ipc_conn *)h;
	/* Deadline 0 with too few bytes queued: fail without consuming any,
	 * unless the stream has ended (then the usual error is reported). */
	if (deadline == 0 && !dn_ring_flags(&c->rx) &&
	    !atomic_load(&c->peer_gone)) {
		size_t avail = dn_ring_readable(&c->rx);
		if (avail != DN_RING_CORRUPT && iol_total(first, last) > avail) {
			errno = ETIMEDOUT;
			return -1;
		}
	}
	for (struct iolist *it = first; it; it = it == last ? NULL : it->iol_next) {
		uint8_t *p = it->iol_base;
		size_t n = it->iol_len;
		while (n) {
			if (dn_ring_flags(&c->rx) & DN_RING_F_RESET) {
				errno = ECONNRESET;
				return -1;
			}
			size_t r = dn_ring_read(&c->rx, p, n);
			if (r == DN_RING_CORRUPT) {
				errno = ECONNRESET;
				return -1;
			}
			if (r) {
				if (p)
					p += r;
				n -= r;
				if (dn_ring_producer_needs_wakeup(&c->rx))
					dn_efd_signal(efd_wake_peer_tx(c));
				continue;
			}
			int st = rx_empty_state(c);
			if (st < 0)
				return -1;
			if (st == 0)
				continue;
			if (conn_wait(c, 1, deadline) < 0)
				return -1;
		}
	}
	return 0;
}

static int conn_done(struct dnl_handle *h, int64_t deadline)
{
	(void)deadline;
	struct ipc_conn *c = (struct ipc_conn *)h;
	if (c->done) {
		errno = EPIPE;
		return -1;
	}
	c->done = 1;
	dn_ring_set_flag(&c->tx, DN_RING_F_EOF);
	if (dn_ring_consumer_needs_wakeup(&c->tx))
		dn_efd_signal(efd_wake_peer_rx(c));
	return 0;
}

/* ipc_close: finish sending, then read and drop input until the peer's
 * end of stream; the core releases the handle afterwards. */
static int conn_close(struct dnl_handle *h, int64_t deadline)
{
	struct ipc_conn *c = (struct ipc_conn *)h;
	/* Neither direction is broken here (the core checked). */
	if (!c->done)
		conn_done(h, deadline);
	for (;;) {
		size_t r = dn_ring_read(&c->rx, NULL, SIZE_MAX);
		if (r == DN_RING_CORRUPT) {
			errno = ECONNRESET;
			return -1;
		}
		if (r) {
			if (dn_ring_producer_needs_wakeup(&c->rx))
				dn_efd_signal(efd_wake_peer_tx(c));
			continue;
		}
		int st = rx_empty_state(c);
		if (st < 0)
			return errno == EPIPE ? 0 : -1;
		if (st == 0)
			continue;
		if (conn_wait(c, 1, deadline) < 0)
			return -1;
	}
}

static void conn_cancel(struct dnl_handle *h)
{
	struct ipc_conn *c = (struct ipc_conn *)h;
	/* Our own sleepers wait on these two; the value is harmless to the
	 * peer's view since only we read them. */
	dn_efd_signal(efd_wait_rx(c));
	dn_efd_signal(efd_wait_tx(c));
}

static void conn_release(struct dnl_handle *h)
{
	struct ipc_conn *c = (struct ipc_conn *)h;
	if (c->map != MAP_FAILED) {
		size_t unread = dn_ring_readable(&c->rx);
		if (unread != 0) {
			/* Unread input: abort, like a kernel RST. */
			dn_ring_set_flag(&c->tx, DN_RING_F_RESET);
		} else if (!c->done) {
			dn_ring_set_flag(&c->tx, DN_RING_F_EOF);
		}
		dn_ring_set_flag(&c->rx, DN_RING_F_RESET);
		dn_efd_signal(efd_wake_peer_rx(c));
		dn_efd_signal(efd_wake_peer_tx(c));
	}
	conn_free_res(c);
}

/* ---- descriptors ------------------------------------------------------ */

DILLNET_EXPORT int dillnet_ipc_sendfd(int s, int fd, int64_t deadline)
{
	struct dnl_handle *h = dnl_handle_get(s, DNL_KIND_IPC);
	if (!h)
		return -1;
	struct ipc_conn *c = (struct ipc_conn *)h;
	int rc = -1;
	if (fd < 0 || fcntl(fd, F_GETFD) < 0) {
		errno = EBADF;
		goto out;
	}
	if (dnl_dir_begin(h, DNL_SEND) < 0)
		goto out;
	if (c->done) {
		errno = EPIPE;
		goto end;
	}
	struct dnl_ipc_fdmsg m = { .pos = c->tx.tail };
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} u;
	memset(&u, 0, sizeof(u));
	struct iovec iov = { &m, sizeof(m) };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1,
			     .msg_control = u.buf,
			     .msg_controllen = sizeof(u.buf) };
	struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(cm), &fd, sizeof(int));
	for (;;) {
		if (dnl_handle_cancelled(h)) {
			errno = ECANCELED;
			goto end;
		}
		if (dn_ring_flags(&c->tx) & DN_RING_F_RESET) {
			errno = ECONNRESET;
			goto end;
		}
		ssize_t n = sendmsg(c->sock, &mh, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (n == (ssize_t)sizeof(m)) {
			rc = 0;
			goto end;
		}
		if (n >= 0 || (errno != EAGAIN && errno != EINTR)) {
			/* A short write cannot happen for 8 bytes on a
			 * stream with room; anything else is a dead peer. */
			errno = (n >= 0 || errno == EPIPE || errno == ECONNRESET ||
				 errno == ENOTCONN) ? ECONNRESET : errno;
			goto end;
		}
		struct pollfd pf[2] = {
			{ .fd = c->sock, .events = POLLOUT },
			{ .fd = efd_wait_tx(c), .events = POLLIN },
		};
		int k = dnl_poll_until(pf, 2, deadline);
		if (k < 0)
			goto end;
		if (k == 0) {
			errno = ETIMEDOUT;
			goto end;
		}
		if (pf[1].revents)
			dn_efd_drain(pf[1].fd);
	}
end:
	dnl_dir_end(h, DNL_SEND, rc);
out:;
	int e = errno;
	dnl_handle_put(h);
	errno = e;
	return rc;
}

/* Read one fd message if one is queued.  1 got one, 0 none, -1 peer gone
 * or broken message (errno ECONNRESET). */
static int fdmsg_try(struct ipc_conn *c)
{
	struct dnl_ipc_fdmsg m;
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} u;
	struct iovec iov = { &m, sizeof(m) };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1,
			     .msg_control = u.buf,
			     .msg_controllen = sizeof(u.buf) };
	ssize_t n = recvmsg(c->sock, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return 0;
	int fd = -1;
	for (struct cmsghdr *cm = CMSG_FIRSTHDR(&mh); n > 0 && cm;
	     cm = CMSG_NXTHDR(&mh, cm)) {
		if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS &&
		    cm->cmsg_len == CMSG_LEN(sizeof(int)))
			memcpy(&fd, CMSG_DATA(cm), sizeof(int));
	}
	if (n != (ssize_t)sizeof(m) || fd < 0 || (mh.msg_flags & MSG_CTRUNC)) {
		/* 0 is the peer's hang-up; anything else breaks our
		 * protocol.  Either way no more descriptors will come. */
		if (fd >= 0)
			close(fd);
		atomic_store(&c->peer_gone, 1);
		errno = ECONNRESET;
		return -1;
	}
	c->have_pend = 1;
	c->pend_fd = fd;
	c->pend_pos = m.pos;
	return 1;
}

DILLNET_EXPORT int dillnet_ipc_recvfd(int s, int64_t deadline)
{
	struct dnl_handle *h = dnl_handle_get(s, DNL_KIND_IPC);
	if (!h)
		return -1;
	struct ipc_conn *c = (struct ipc_conn *)h;
	int rc = -1;
	if (dnl_dir_begin(h, DNL_RECV) < 0)
		goto out;
	for (;;) {
		if (dn_ring_flags(&c->rx) & DN_RING_F_RESET) {
			errno = ECONNRESET;
			goto end;
		}
		/* Look at the ring before the socket: the sender queues the
		 * descriptor before it publishes the bytes that follow it,
		 * so data seen here means its descriptor is already queued. */
		size_t avail = dn_ring_readable(&c->rx);
		if (avail == DN_RING_CORRUPT) {
			errno = ECONNRESET;
			goto end;
		}
		while (!c->have_pend || c->pend_pos < c->rx.head) {
			if (c->have_pend) {
				/* brecv already read past it: dropped, as the
				 * kernel drops fds nobody asked for. */
				close(c->pend_fd);
				c->have_pend = 0;
			}
			int k = atomic_load(&c->peer_gone) ? 0 : fdmsg_try(c);
			if (k <= 0)
				break;
		}
		if (c->have_pend && c->pend_pos == c->rx.head) {
			rc = c->pend_fd;
			c->have_pend = 0;
			goto end;
		}
		if (avail != 0 || c->have_pend) {
			errno = EPROTO;   /* bytes come first */
			goto end;
		}
		int st = rx_empty_state(c);
		if (st < 0)
			goto end;
		if (st == 0)
			continue;
		dn_ring_cons_prepare_sleep(&c->rx);
		struct pollfd pf[2] = {
			{ .fd = c->sock, .events = POLLIN },
			{ .fd = efd_wait_rx(c), .events = POLLIN },
		};
		int k = 0;
		if (!rx_ready(c))
			k = dnl_poll_until(pf, 2, deadline);
		else
			k = 1, pf[0].revents = pf[1].revents = 0;
		dn_ring_cons_cancel_sleep(&c->rx);
		if (k < 0)
			goto end;
		if (k == 0) {
			errno = ETIMEDOUT;
			goto end;
		}
		if (pf[1].revents)
			dn_efd_drain(pf[1].fd);
		if (pf[0].revents & (POLLHUP | POLLERR))
			atomic_store(&c->peer_gone, 1);
	}
end:
	dnl_dir_end(h, DNL_RECV, rc);
out:;
	int e = errno;
	dnl_handle_put(h);
	errno = e;
	return rc;
}

/* ---- connection setup ------------------------------------------------ */

/* Wait for fd to become readable during setup; cancel_fd/ch say how a
 * cancellation (shutdown, or hclose of the listener) reaches us. */
static int setup_wait(int fd, int cancel_fd, const struct dnl_handle *ch,
		      int64_t deadline)
{
	struct pollfd pf[2] = {
		{ .fd = fd, .events = POLLIN },
		{ .fd = cancel_fd, .events = POLLIN },
	};
	int n = dnl_poll_until(pf, 2, deadline);
	if (n < 0)
		return -1;
	if (dnl_handle_cancelled(ch)) {
		errno = ECANCELED;
		return -1;
	}
	if (n == 0) {
		errno = ETIMEDOUT;
		return -1;
	}
	/* cancel_fd is never drained: once cancelled it stays readable for
	 * every thread that waits on it. */
	return 0;
}

static int connect_impl(const char *addr, const struct ipc_opts *opts,
			struct ipc_storage *mem, int64_t deadline)
{
	struct sockaddr_un su;
	if (path_check(addr, &su) < 0 || mem_check(mem) < 0 ||
	    opts_check(opts) < 0)
		return -1;
	struct ipc_conn *c = mem ? (struct ipc_conn *)mem : malloc(sizeof(*c));
	if (!c) {
		errno = ENOMEM;
		return -1;
	}
	conn_init(c);
	c->side = 0;
	c->spin_ns = spin_from_opts(opts);
	c->spin_cur[0] = c->spin_cur[1] = c->spin_ns;
	int memfd = -1, s = -1, err;

	c->sock = socket(AF_LOCAL, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (c->sock < 0)
		goto fail;
	if (efds_create(c->efd) < 0)
		goto fail;
	/* Reserve the handle now so dillnet_shutdown() can cancel us. */
	s = dnl_handle_reserve(&c->h, &conn_vt, mem ? 0 : DNL_H_FREE);
	if (s < 0)
		goto fail;
	/* A non-blocking AF_LOCAL connect either completes at once (the
	 * listener's backlog had room; nobody needs to accept yet) or fails
	 * with EAGAIN when the backlog is full; there is no EINPROGRESS, so
	 * retry in small steps until the deadline, which is what a blocking
	 * connect(2) on a full backlog waits for. */
	while (connect(c->sock, (struct sockaddr *)&su, sizeof(su)) < 0) {
		if (errno == EPROTOTYPE)
			errno = ECONNREFUSED;   /* a datagram socket: no listener */
		if (errno != EAGAIN && errno != EINTR)
			goto fail;
		if (dnl_ns_left(deadline) <= 0) {
			errno = ETIMEDOUT;
			goto fail;
		}
		struct pollfd pf = { .fd = efd_wait_rx(c), .events = POLLIN };
		int64_t step = dnl_now_ns() / 1000000 + 1;
		if (deadline >= 0 && step > deadline)
			step = deadline;
		if (dnl_poll_until(&pf, 1, step) < 0)
			goto fail;
		if (dnl_handle_cancelled(&c->h)) {
			errno = ECANCELED;
			goto fail;
		}
	}
	uint32_t size[2];
	ring_sizes(opts, size);
	memfd = region_create(size, &c->maplen);
	if (memfd < 0)
		goto fail;
	if (region_map(c, memfd, c->maplen) < 0)
		goto fail;
	if (conn_attach(c, size) < 0)
		goto fail;

	struct dnl_ipc_hello hello = { DNL_IPC_MAGIC, DNL_IPC_VERSION,
				       { size[0], size[1] } };
	int fds[1 + DNL_IPC_NEFD] = { memfd, c->efd[0], c->efd[1], c->efd[2],
				      c->efd[3] };
	union {
		char buf[CMSG_SPACE(sizeof(fds))];
		struct cmsghdr align;
	} u;
	memset(&u, 0, sizeof(u));
	struct iovec iov = { &hello, sizeof(hello) };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1,
			     .msg_control = u.buf,
			     .msg_controllen = sizeof(u.buf) };
	struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(fds));
	memcpy(CMSG_DATA(cm), fds, sizeof(fds));
	/* A fresh socket's buffer always has room for this small message,
	 * and an AF_LOCAL stream takes data before the peer is accepted: it
	 * waits in the listener's queue with the connection.  EPIPE (or
	 * ECONNRESET) means the listener went away since connect(). */
	if (sendmsg(c->sock, &mh, MSG_DONTWAIT | MSG_NOSIGNAL) !=
	    (ssize_t)sizeof(hello)) {
		if (errno == EPIPE || errno == EAGAIN)
			errno = ECONNRESET;
		goto fail;
	}
	close(memfd);
	memfd = -1;
	/* Connected, as connect(2) is once the listener's backlog took us:
	 * no wait for ipc_accept.  Bytes sent from now on wait in the ring
	 * until the acceptor maps it; if the listener closes without
	 * accepting, the kernel hangs up our socket and the calls on the
	 * handle fail with ECONNRESET. */
	dnl_handle_publish(&c->h);
	return s;
fail:
	err = errno;
	if (memfd >= 0)
		close(memfd);
	if (s >= 0) {
		/* Release runs conn_release: the half-built state (no ring
		 * attached: map == MAP_FAILED) is handled there. */
		if (c->map != MAP_FAILED && !c->rx.sh) {
			munmap(c->map, c->maplen);
			c->map = MAP_FAILED;
		}
		dnl_handle_unreserve(&c->h);
	} else {
		conn_free_res(c);
		if (!mem)
			free(c);
	}
	errno = err;
	return -1;
}

DILLNET_EXPORT int dillnet_ipc_connect(const char *addr, int64_t deadline)
{
	return connect_impl(addr, NULL, NULL, deadline);
}

DILLNET_EXPORT int dillnet_ipc_connect_mem(const char *addr,
					   struct ipc_storage *mem,
					   int64_t deadline)
{
	if (!mem) {
		errno = EINVAL;
		return -1;
	}
	return connect_impl(addr, NULL, mem, deadline);
}

DILLNET_EXPORT int dillnet_ipc_connect_opts(const char *addr,
					    const struct ipc_opts *opts,
					    struct ipc_storage *mem,
					    int64_t deadline)
{
	return connect_impl(addr, opts, mem, deadline);
}

/* Is fd an eventfd?  The peer chose these descriptors; anything else (a
 * pipe, a socket) could block or mislead our writes. */
static int is_eventfd(int fd)
{
	char p[64], t[64];
	snprintf(p, sizeof(p), "/proc/self/fd/%d", fd);
	ssize_t n = readlink(p, t, sizeof(t) - 1);
	if (n < 0)
		return errno == ENOENT ? 1 : 0; /* no /proc: cannot tell */
	t[n] = 0;
	return strcmp(t, "anon_inode:[eventfd]") == 0;
}

/* Accepting side of the handshake on an accepted socket.  Returns 0, or -1
 * with errno: ETIMEDOUT/ECANCELED (give up) or EPROTO (bad peer: drop it
 * and keep accepting). */
static int accept_handshake(struct ipc_conn *c, struct ipc_listener *l,
			    int64_t deadline)
{
	struct dnl_ipc_hello hello;
	int fds[1 + DNL_IPC_NEFD];
	int nfds = 0, memfd = -1;
	union {
		char buf[CMSG_SPACE(sizeof(fds))];
		struct cmsghdr align;
	} u;
	ssize_t n;
	int64_t client_dl = dillnet_now() + DNL_IPC_HELLO_MS;
	for (;;) {
		struct iovec iov = { &hello, sizeof(hello) };
		struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1,
				     .msg_control = u.buf,
				     .msg_controllen = sizeof(u.buf) };
		n = recvmsg(c->sock, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
		if (n >= 0) {
			for (struct cmsghdr *cm = CMSG_FIRSTHDR(&mh); cm;
			     cm = CMSG_NXTHDR(&mh, cm)) {
				if (cm->cmsg_level != SOL_SOCKET ||
				    cm->cmsg_type != SCM_RIGHTS)
					continue;
				int k = (int)((cm->cmsg_len - CMSG_LEN(0)) /
					      sizeof(int));
				for (int i = 0; i < k; i++) {
					int fd;
					memcpy(&fd, CMSG_DATA(cm) +
					       i * sizeof(int), sizeof(int));
					if (nfds < 1 + DNL_IPC_NEFD)
						fds[nfds++] = fd;
					else
						close(fd);
				}
			}
			if (mh.msg_flags & MSG_CTRUNC)
				n = -2;
			break;
		}
		if (errno != EAGAIN && errno != EINTR)
			break;
		/* A client sends its HELLO right after connecting; one that
		 * stalls must not hold the listener up for long. */
		int64_t dl = deadline;
		if (deadline < 0 || deadline > client_dl)
			dl = client_dl;
		if (setup_wait(c->sock, l->cancel_fd, &l->h, dl) < 0) {
			if (errno == ETIMEDOUT && dl != deadline)
				errno = EPROTO;   /* drop it, keep accepting */
			return -1;
		}
	}
	if (n != (ssize_t)sizeof(hello) || nfds != 1 + DNL_IPC_NEFD ||
	    hello.magic != DNL_IPC_MAGIC || hello.version != DNL_IPC_VERSION)
		goto bad;
	for (int r = 0; r < 2; r++) {
		uint32_t sz = hello.ring_size[r];
		if (sz < IPC_RING_MIN || sz > IPC_RING_MAX || (sz & (sz - 1)))
			goto bad;
	}
	memfd = fds[0];
	size_t len = DNL_IPC_HDR + (size_t)hello.ring_size[0] +
		     hello.ring_size[1];
	struct stat st;
	int seals = fcntl(memfd, F_GET_SEALS);
	if (fstat(memfd, &st) < 0 || !S_ISREG(st.st_mode) ||
	    (size_t)st.st_size < len || seals < 0 || !(seals & F_SEAL_SHRINK))
		goto bad;
	for (int i = 0; i < DNL_IPC_NEFD; i++)
		if (!is_eventfd(fds[1 + i]))
			goto bad;
	if (region_map(c, memfd, len) < 0)
		goto bad;
	if (conn_attach(c, hello.ring_size) < 0)
		goto bad;
	for (int i = 0; i < DNL_IPC_NEFD; i++) {
		c->efd[i] = fds[1 + i];
		/* The file description is shared with the peer; make sure
		 * our writes and drains never block. */
		fcntl(c->efd[i], F_SETFL, O_NONBLOCK);
	}
	close(memfd);
	return 0;
bad:
	/* No answer: the connector is connected already and learns of the
	 * refusal from the hang-up (ECONNRESET on its next call). */
	for (int i = 0; i < nfds; i++)
		close(fds[i]);
	errno = EPROTO;
	return -1;
}

static int accept_impl(int s, const struct ipc_opts *opts,
		       struct ipc_storage *mem, int64_t deadline)
{
	if (mem_check(mem) < 0 || opts_check(opts) < 0)
		return -1;
	struct dnl_handle *lh = dnl_handle_get(s, DNL_KIND_IPC_LISTENER);
	if (!lh)
		return -1;
	struct ipc_listener *l = (struct ipc_listener *)lh;
	struct ipc_conn *c = mem ? (struct ipc_conn *)mem : malloc(sizeof(*c));
	int h = -1, err;
	if (!c) {
		errno = ENOMEM;
		goto out;
	}
	for (;;) {
		conn_init(c);
		c->side = 1;
		c->spin_ns = spin_from_opts(opts);
		c->spin_cur[0] = c->spin_cur[1] = c->spin_ns;
		for (;;) {
			if (dnl_handle_cancelled(lh)) {
				errno = ECANCELED;
				goto fail;
			}
			c->sock = accept4(l->fd, NULL, NULL,
					  SOCK_NONBLOCK | SOCK_CLOEXEC);
			if (c->sock >= 0)
				break;
			if (errno != EAGAIN && errno != EINTR &&
			    errno != ECONNABORTED)
				goto fail;
			struct pollfd pf[2] = {
				{ .fd = l->fd, .events = POLLIN },
				{ .fd = l->cancel_fd, .events = POLLIN },
			};
			int n = dnl_poll_until(pf, 2, deadline);
			if (n < 0)
				goto fail;
			if (dnl_handle_cancelled(lh)) {
				errno = ECANCELED;
				goto fail;
			}
			if (n == 0) {
				errno = ETIMEDOUT;
				goto fail;
			}
		}
		int rc = accept_handshake(c, l, deadline);
		if (rc == 0)
			break;
		err = errno;
		conn_free_res(c);
		if (err != EPROTO) {
			errno = err;
			goto fail_nores;
		}
		/* A broken or hostile client: drop it, keep accepting. */
	}
	h = dnl_handle_add(&c->h, &conn_vt, mem ? 0 : DNL_H_FREE);
	if (h < 0)
		goto fail;
	goto out;
fail:
	err = errno;
	conn_free_res(c);
	errno = err;
fail_nores:
	if (!mem)
		free(c);
out:;
	int e = errno;
	dnl_handle_put(lh);
	errno = e;
	return h;
}

DILLNET_EXPORT int dillnet_ipc_accept(int s, int64_t deadline)
{
	return accept_impl(s, NULL, NULL, deadline);
}

DILLNET_EXPORT int dillnet_ipc_accept_mem(int s, struct ipc_storage *mem,
					  int64_t deadline)
{
	if (!mem) {
		errno = EINVAL;
		return -1;
	}
	return accept_impl(s, NULL, mem, deadline);
}

DILLNET_EXPORT int dillnet_ipc_accept_opts(int s, const struct ipc_opts *opts,
					   struct ipc_storage *mem,
					   int64_t deadline)
{
	return accept_impl(s, opts, mem, deadline);
}

/* ---- pairs ----------------------------------------------------------- */

static int pair_impl(const struct ipc_opts *opts, struct ipc_pair_storage *mem,
		     int s[2])
{
	if (!s || mem_check(mem) < 0 || opts_check(opts) < 0) {
		errno = EINVAL;
		return -1;
	}
	struct ipc_conn *c[2];
	if (mem) {
		c[0] = (struct ipc_conn *)mem;
		c[1] = c[0] + 1;
	} else {
		c[0] = malloc(sizeof(struct ipc_conn));
		c[1] = malloc(sizeof(struct ipc_conn));
	}
	int err, memfd = -1, sv[2], h[2] = { -1, -1 };
	if (!c[0] || !c[1]) {
		errno = ENOMEM;
		goto fail_mem;
	}
	conn_init(c[0]);
	conn_init(c[1]);
	uint32_t size[2];
	ring_sizes(opts, size);
	size_t len;
	if (socketpair(AF_LOCAL, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0,
		       sv) < 0)
		goto fail;
	c[0]->sock = sv[0];
	c[1]->sock = sv[1];
	if (efds_create(c[0]->efd) < 0)
		goto fail;
	for (int i = 0; i < DNL_IPC_NEFD; i++) {
		c[1]->efd[i] = fcntl(c[0]->efd[i], F_DUPFD_CLOEXEC, 0);
		if (c[1]->efd[i] < 0)
			goto fail;
	}
	memfd = region_create(size, &len);
	if (memfd < 0)
		goto fail;
	for (int i = 0; i < 2; i++) {
		c[i]->side = i;
		c[i]->spin_ns = spin_from_opts(opts);
		c[i]->spin_cur[0] = c[i]->spin_cur[1] = c[i]->spin_ns;
		if (region_map(c[i], memfd, len) < 0 ||
		    conn_attach(c[i], size) < 0)
			goto fail;
	}
	close(memfd);
	memfd = -1;
	for (int i = 0; i < 2; i++) {
		h[i] = dnl_handle_add(&c[i]->h, &conn_vt, mem ? 0 : DNL_H_FREE);
		if (h[i] < 0)
			goto fail;
	}
	s[0] = h[0];
	s[1] = h[1];
	return 0;
fail:
	err = errno;
	if (memfd >= 0)
		close(memfd);
	for (int i = 0; i < 2; i++) {
		if (h[i] >= 0) {
			/* Published: hclose frees it (and, when malloc'ed,
			 * its memory). */
			dnl_handle_release(h[i]);
			c[i] = NULL;
		} else {
			conn_free_res(c[i]);
		}
	}
	errno = err;
fail_mem:
	if (!mem) {
		free(c[0]);
		free(c[1]);
	}
	return -1;
}

DILLNET_EXPORT int dillnet_ipc_pair(int s[2])
{
	return pair_impl(NULL, NULL, s);
}

DILLNET_EXPORT int dillnet_ipc_pair_mem(struct ipc_pair_storage *mem, int s[2])
{
	if (!mem) {
		errno = EINVAL;
		return -1;
	}
	return pair_impl(NULL, mem, s);
}

DILLNET_EXPORT int dillnet_ipc_pair_opts(const struct ipc_opts *opts,
					 struct ipc_pair_storage *mem, int s[2])
{
	return pair_impl(opts, mem, s);
}

/* ---- done / close ---------------------------------------------------- */

DILLNET_EXPORT int dillnet_ipc_done(int s, int64_t deadline)
{
	return dnl_handle_done(s, DNL_KIND_IPC, deadline);
}

DILLNET_EXPORT int dillnet_ipc_close(int s, int64_t deadline)
{
	/* Listeners have no close hook: this just releases them. */
	struct dnl_handle *h = dnl_handle_get(s, DNL_KIND_ANY);
	if (!h)
		return -1;
	int kind = h->vt->kind;
	dnl_handle_put(h);
	if (kind != DNL_KIND_IPC && kind != DNL_KIND_IPC_LISTENER) {
		errno = ENOTSUP;
		return -1;
	}
	return dnl_handle_close(s, kind, deadline);
}
