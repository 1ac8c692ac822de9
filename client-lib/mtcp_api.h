/*
 * mtcp_api.h: mTCP's socket API on top of dillnetd (libdillnet).
 *
 * Programs written for mTCP include this header (and <mtcp_epoll.h>), link
 * with -ldillnet and run unprivileged: the per-core context, the integer
 * socket ids and the calls are mTCP's, the TCP/IP stack is the shared
 * dillnetd daemon's.  What differs from mTCP is in each call's manual page
 * (mtcp_init(3) gives the overview).
 *
 * This header does not include <dillnet.h>, so none of libdill's plain
 * names (now, bsend, ...) are defined behind an mTCP program's back.
 */
#ifndef MTCP_API_H
#define MTCP_API_H

#include <netinet/in.h>
#include <signal.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>

#ifdef __cplusplus
extern "C" {
#endif

#ifndef DILLNET_EXPORT
#if defined(DILLNET_BUILD)
#define DILLNET_EXPORT __attribute__((visibility("default")))
#else
#define DILLNET_EXPORT
#endif
#endif

/* The kinds an id can name (mTCP's numbering; MTCP_SOCK_PROXY and
 * MTCP_SOCK_PIPE are never used here). */
enum socket_type {
	MTCP_SOCK_UNUSED,
	MTCP_SOCK_STREAM,
	MTCP_SOCK_PROXY,
	MTCP_SOCK_LISTENER,
	MTCP_SOCK_EPOLL,
	MTCP_SOCK_PIPE,
};

struct mtcp_conf {
	int num_cores;          /* contexts the program may create (cpu ids) */
	int max_concurrency;    /* ids (sockets + epolls) per context */
	int max_num_buffers;    /* kept, no meaning here */
	int rcvbuf_size;        /* the daemon's receive ring, read only */
	int sndbuf_size;        /* default SO_SNDBUF (at most the tx ring) */
	int tcp_timewait;       /* kept, the daemon's business */
	int tcp_timeout;        /* kept, the daemon's business */
};

/* A per-core context.  Programs only pass it around (and may read cpu). */
struct mtcp_context {
	int cpu;
};
typedef struct mtcp_context *mctx_t;

typedef void (*mtcp_sighandler_t)(int);

DILLNET_EXPORT int mtcp_init(const char *config_file);
DILLNET_EXPORT void mtcp_destroy(void);
DILLNET_EXPORT int mtcp_getconf(struct mtcp_conf *conf);
DILLNET_EXPORT int mtcp_setconf(const struct mtcp_conf *conf);
DILLNET_EXPORT int mtcp_core_affinitize(int cpu);
DILLNET_EXPORT mctx_t mtcp_create_context(int cpu);
DILLNET_EXPORT void mtcp_destroy_context(mctx_t mctx);
DILLNET_EXPORT mtcp_sighandler_t mtcp_register_signal(int signum,
						      mtcp_sighandler_t handler);

DILLNET_EXPORT int mtcp_socket(mctx_t mctx, int domain, int type, int protocol);
DILLNET_EXPORT int mtcp_bind(mctx_t mctx, int sockid,
			     const struct sockaddr *addr, socklen_t addrlen);
DILLNET_EXPORT int mtcp_listen(mctx_t mctx, int sockid, int backlog);
DILLNET_EXPORT int mtcp_accept(mctx_t mctx, int sockid, struct sockaddr *addr,
			       socklen_t *addrlen);
DILLNET_EXPORT int mtcp_connect(mctx_t mctx, int sockid,
				const struct sockaddr *addr, socklen_t addrlen);
DILLNET_EXPORT int mtcp_close(mctx_t mctx, int sockid);
DILLNET_EXPORT int mtcp_abort(mctx_t mctx, int sockid);
DILLNET_EXPORT int mtcp_init_rss(mctx_t mctx, in_addr_t saddr_base,
				 int num_addr, in_addr_t daddr, in_addr_t dport);

DILLNET_EXPORT int mtcp_getsockopt(mctx_t mctx, int sockid, int level,
				   int optname, void *optval, socklen_t *optlen);
DILLNET_EXPORT int mtcp_setsockopt(mctx_t mctx, int sockid, int level,
				   int optname, const void *optval,
				   socklen_t optlen);
DILLNET_EXPORT int mtcp_setsock_nonblock(mctx_t mctx, int sockid);
DILLNET_EXPORT int mtcp_socket_ioctl(mctx_t mctx, int sockid, int request,
				     void *argp);
DILLNET_EXPORT int mtcp_getsockname(mctx_t mctx, int sockid,
				    struct sockaddr *addr, socklen_t *addrlen);
DILLNET_EXPORT int mtcp_getpeername(mctx_t mctx, int sockid,
				    struct sockaddr *addr, socklen_t *addrlen);

DILLNET_EXPORT ssize_t mtcp_read(mctx_t mctx, int sockid, char *buf, size_t len);
DILLNET_EXPORT ssize_t mtcp_recv(mctx_t mctx, int sockid, char *buf, size_t len,
				 int flags);
DILLNET_EXPORT int mtcp_readv(mctx_t mctx, int sockid, const struct iovec *iov,
			      int numIOV);
DILLNET_EXPORT ssize_t mtcp_write(mctx_t mctx, int sockid, const char *buf,
				  size_t len);
DILLNET_EXPORT int mtcp_writev(mctx_t mctx, int sockid, const struct iovec *iov,
			       int numIOV);

#ifdef __cplusplus
}
#endif

#endif
