/*
 * dillnet.h: the public interface of libdillnet.
 *
 * libdillnet offers libdill's socket API (tcp_*, ipc_*, ipaddr_*, bsend,
 * brecv, hclose, now, msleep) without coroutines: every call may block the
 * calling thread until its absolute deadline.  TCP goes through the dillnetd
 * daemon; IPC connects two processes directly over shared memory.
 *
 * Every exported symbol is prefixed with "dillnet_".  Programs written for
 * libdill keep their plain names because this header maps them with macros;
 * define DILLNET_DISABLE_RAW_NAMES before including it to get only the
 * prefixed names (for example when mixing with another library that uses
 * the same plain names).
 *
 * Deadlines are absolute times in milliseconds on the clock of now():
 * -1 blocks as long as needed, 0 performs the operation only if it can be
 * done at once (ETIMEDOUT otherwise).
 */
#ifndef DILLNET_H
#define DILLNET_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The library is built with -fvisibility=hidden; only what is marked here
 * (and listed in libdillnet.map) is exported. */
#if defined(DILLNET_BUILD)
#define DILLNET_EXPORT __attribute__((visibility("default")))
#else
#define DILLNET_EXPORT
#endif

#define DILLNET_VERSION_MAJOR 0
#define DILLNET_VERSION_MINOR 1

/* ---- time ------------------------------------------------------------- */

DILLNET_EXPORT int64_t dillnet_now(void);
DILLNET_EXPORT int dillnet_msleep(int64_t deadline);

/* ---- handles ---------------------------------------------------------- */

DILLNET_EXPORT int dillnet_hclose(int h);

/* Cancels every call blocked in the library, in every thread (they fail with
 * ECANCELED), closes every handle, and makes later calls fail with
 * ECANCELED.  For orderly process shutdown; not part of libdill. */
DILLNET_EXPORT void dillnet_shutdown(void);

/* ---- bytestreams ------------------------------------------------------ */

struct iolist {
	void *iol_base;
	size_t iol_len;
	struct iolist *iol_next;
	int iol_rsvd;
};

DILLNET_EXPORT int dillnet_bsend(int s, const void *buf, size_t len,
				 int64_t deadline);
DILLNET_EXPORT int dillnet_brecv(int s, void *buf, size_t len,
				 int64_t deadline);
DILLNET_EXPORT int dillnet_bsendl(int s, struct iolist *first,
				  struct iolist *last, int64_t deadline);
DILLNET_EXPORT int dillnet_brecvl(int s, struct iolist *first,
				  struct iolist *last, int64_t deadline);

/* ---- IP addresses ----------------------------------------------------- */

#define IPADDR_IPV4 1
#define IPADDR_IPV6 2
#define IPADDR_PREF_IPV4 3
#define IPADDR_PREF_IPV6 4
#define IPADDR_MAXSTRLEN 46

/* Opaque; large enough for a sockaddr_in6. */
struct ipaddr {
	char _data[32] __attribute__((aligned(8)));
};

DILLNET_EXPORT int dillnet_ipaddr_local(struct ipaddr *addr, const char *name,
					int port, int mode);
DILLNET_EXPORT int dillnet_ipaddr_remote(struct ipaddr *addr, const char *name,
					 int port, int mode, int64_t deadline);
DILLNET_EXPORT int dillnet_ipaddr_remotes(struct ipaddr *addrs, int naddrs,
					  const char *name, int port, int mode,
					  int64_t deadline);
DILLNET_EXPORT const char *dillnet_ipaddr_str(const struct ipaddr *addr,
					      char *ipstr);
DILLNET_EXPORT int dillnet_ipaddr_family(const struct ipaddr *addr);
DILLNET_EXPORT const struct sockaddr *dillnet_ipaddr_sockaddr(
	const struct ipaddr *addr);
DILLNET_EXPORT int dillnet_ipaddr_len(const struct ipaddr *addr);
DILLNET_EXPORT int dillnet_ipaddr_port(const struct ipaddr *addr);
DILLNET_EXPORT void dillnet_ipaddr_setport(struct ipaddr *addr, int port);
DILLNET_EXPORT int dillnet_ipaddr_equal(const struct ipaddr *addr1,
					const struct ipaddr *addr2,
					int ignore_port);

/* ---- TCP -------------------------------------------------------------- */

/* Caller storage for the _mem variants: opaque, generously sized so the
 * private objects can grow without an ABI break.  Must outlive the handle. */
#define TCP_SIZE 512
#define TCP_LISTENER_SIZE 512

struct tcp_storage {
	char _data[TCP_SIZE] __attribute__((aligned(64)));
};
struct tcp_listener_storage {
	char _data[TCP_LISTENER_SIZE] __attribute__((aligned(64)));
};

DILLNET_EXPORT int dillnet_tcp_listen(struct ipaddr *addr, int backlog);
DILLNET_EXPORT int dillnet_tcp_listen_mem(struct ipaddr *addr, int backlog,
					  struct tcp_listener_storage *mem);
DILLNET_EXPORT int dillnet_tcp_accept(int s, struct ipaddr *addr,
				      int64_t deadline);
DILLNET_EXPORT int dillnet_tcp_accept_mem(int s, struct ipaddr *addr,
					  struct tcp_storage *mem,
					  int64_t deadline);
DILLNET_EXPORT int dillnet_tcp_connect(const struct ipaddr *addr,
				       int64_t deadline);
DILLNET_EXPORT int dillnet_tcp_connect_mem(const struct ipaddr *addr,
					   struct tcp_storage *mem,
					   int64_t deadline);
DILLNET_EXPORT int dillnet_tcp_done(int s, int64_t deadline);
DILLNET_EXPORT int dillnet_tcp_close(int s, int64_t deadline);

/* ---- the daemon and event loops (extensions) ---------------------------- */

/* Attach to dillnetd now instead of at the first TCP call (see
 * dillnet_attach(3)).  0, or -1 with errno. */
DILLNET_EXPORT int dillnet_attach(int64_t deadline);

/* One descriptor for event loops: readable when the readiness of some TCP
 * handle may have changed; dillnet_ready() then says which. */
DILLNET_EXPORT int dillnet_pollfd(void);

#define DILLNET_IN  0x1   /* brecv/tcp_accept would not wait (data, EOF, a connection) */
#define DILLNET_OUT 0x4   /* bsend has room for at least one byte */
#define DILLNET_ERR 0x8   /* reset, or the daemon went away */

struct dillnet_ready {
	int h;          /* the handle */
	int events;     /* DILLNET_IN | DILLNET_OUT | DILLNET_ERR, now */
};

DILLNET_EXPORT int dillnet_ready(struct dillnet_ready *out, int max);

/* ---- IPC -------------------------------------------------------------- */

/* Sizes of the caller storage for the _mem variants.  Storage must be
 * aligned to 8 bytes at least (the structs below are) and must outlive the
 * handle. */
#define IPC_SIZE 512
#define IPC_LISTENER_SIZE 128
#define IPC_PAIR_SIZE (2 * IPC_SIZE)

struct ipc_storage {
	char _data[IPC_SIZE] __attribute__((aligned(64)));
};
struct ipc_listener_storage {
	char _data[IPC_LISTENER_SIZE] __attribute__((aligned(64)));
};
struct ipc_pair_storage {
	char _data[IPC_PAIR_SIZE] __attribute__((aligned(64)));
};

/* Per-connection tuning, an extension to libdill (see ipc_connect(3)).
 * Zero fields take the defaults. */
struct ipc_opts {
	/* Bytes of shared ring per direction: a power of two between
	 * IPC_RING_MIN and IPC_RING_MAX.  Chosen by the connecting side (or
	 * ipc_pair) for both directions; the accepting side ignores it. */
	size_t ring_size;
	/* Microseconds a blocked call polls the ring before it sleeps in the
	 * kernel; -1 never spins, 0 means the default. */
	int spin_us;
	int rsvd[5];    /* must be 0 */
};
#define IPC_RING_DEFAULT ((size_t)1 << 20)
#define IPC_RING_MIN ((size_t)4096)
#define IPC_RING_MAX ((size_t)1 << 30)

DILLNET_EXPORT int dillnet_ipc_listen(const char *addr, int backlog);
DILLNET_EXPORT int dillnet_ipc_listen_mem(const char *addr, int backlog,
					  struct ipc_listener_storage *mem);
DILLNET_EXPORT int dillnet_ipc_accept(int s, int64_t deadline);
DILLNET_EXPORT int dillnet_ipc_accept_mem(int s, struct ipc_storage *mem,
					  int64_t deadline);
DILLNET_EXPORT int dillnet_ipc_connect(const char *addr, int64_t deadline);
DILLNET_EXPORT int dillnet_ipc_connect_mem(const char *addr,
					   struct ipc_storage *mem,
					   int64_t deadline);
DILLNET_EXPORT int dillnet_ipc_done(int s, int64_t deadline);
DILLNET_EXPORT int dillnet_ipc_close(int s, int64_t deadline);
DILLNET_EXPORT int dillnet_ipc_pair(int s[2]);
DILLNET_EXPORT int dillnet_ipc_pair_mem(struct ipc_pair_storage *mem, int s[2]);
DILLNET_EXPORT int dillnet_ipc_sendfd(int s, int fd, int64_t deadline);
DILLNET_EXPORT int dillnet_ipc_recvfd(int s, int64_t deadline);

/* Extensions: the same with tuning (opts may be NULL; mem may be NULL for
 * library-allocated storage). */
DILLNET_EXPORT int dillnet_ipc_connect_opts(const char *addr,
					    const struct ipc_opts *opts,
					    struct ipc_storage *mem,
					    int64_t deadline);
DILLNET_EXPORT int dillnet_ipc_accept_opts(int s, const struct ipc_opts *opts,
					   struct ipc_storage *mem,
					   int64_t deadline);
DILLNET_EXPORT int dillnet_ipc_pair_opts(const struct ipc_opts *opts,
					 struct ipc_pair_storage *mem, int s[2]);

/* ---- plain libdill names ---------------------------------------------- */

#ifndef DILLNET_DISABLE_RAW_NAMES
#define now dillnet_now
#define msleep dillnet_msleep
#define hclose dillnet_hclose
#define bsend dillnet_bsend
#define brecv dillnet_brecv
#define bsendl dillnet_bsendl
#define brecvl dillnet_brecvl
#define ipaddr_local dillnet_ipaddr_local
#define ipaddr_remote dillnet_ipaddr_remote
#define ipaddr_remotes dillnet_ipaddr_remotes
#define ipaddr_str dillnet_ipaddr_str
#define ipaddr_family dillnet_ipaddr_family
#define ipaddr_sockaddr dillnet_ipaddr_sockaddr
#define ipaddr_len dillnet_ipaddr_len
#define ipaddr_port dillnet_ipaddr_port
#define ipaddr_setport dillnet_ipaddr_setport
#define ipaddr_equal dillnet_ipaddr_equal
#define tcp_listen dillnet_tcp_listen
#define tcp_listen_mem dillnet_tcp_listen_mem
#define tcp_accept dillnet_tcp_accept
#define tcp_accept_mem dillnet_tcp_accept_mem
#define tcp_connect dillnet_tcp_connect
#define tcp_connect_mem dillnet_tcp_connect_mem
#define tcp_done dillnet_tcp_done
#define tcp_close dillnet_tcp_close
#define ipc_listen dillnet_ipc_listen
#define ipc_listen_mem dillnet_ipc_listen_mem
#define ipc_accept dillnet_ipc_accept
#define ipc_accept_mem dillnet_ipc_accept_mem
#define ipc_connect dillnet_ipc_connect
#define ipc_connect_mem dillnet_ipc_connect_mem
#define ipc_done dillnet_ipc_done
#define ipc_close dillnet_ipc_close
#define ipc_pair dillnet_ipc_pair
#define ipc_pair_mem dillnet_ipc_pair_mem
#define ipc_sendfd dillnet_ipc_sendfd
#define ipc_recvfd dillnet_ipc_recvfd
#define ipc_connect_opts dillnet_ipc_connect_opts
#define ipc_accept_opts dillnet_ipc_accept_opts
#define ipc_pair_opts dillnet_ipc_pair_opts
#endif

#ifdef __cplusplus
}
#endif

#endif
