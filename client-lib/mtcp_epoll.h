/*
 * mtcp_epoll.h: mTCP's epoll over dillnet sockets (see mtcp_epoll_create(3)).
 * The constants have mTCP's (and Linux's) values.
 */
#ifndef MTCP_EPOLL_H
#define MTCP_EPOLL_H

#include <stdint.h>

#include "mtcp_api.h"

#ifdef __cplusplus
extern "C" {
#endif

enum mtcp_epoll_op {
	MTCP_EPOLL_CTL_ADD = 1,
	MTCP_EPOLL_CTL_DEL = 2,
	MTCP_EPOLL_CTL_MOD = 3,
};

enum mtcp_event_type {
	MTCP_EPOLLNONE   = 0x000,
	MTCP_EPOLLIN     = 0x001,
	MTCP_EPOLLPRI    = 0x002,   /* accepted, never reported */
	MTCP_EPOLLOUT    = 0x004,
	MTCP_EPOLLRDNORM = 0x040,
	MTCP_EPOLLRDBAND = 0x080,
	MTCP_EPOLLWRNORM = 0x100,
	MTCP_EPOLLWRBAND = 0x200,
	MTCP_EPOLLMSG    = 0x400,
	MTCP_EPOLLERR    = 0x008,
	MTCP_EPOLLHUP    = 0x010,
	MTCP_EPOLLRDHUP  = 0x2000,
	MTCP_EPOLLONESHOT = (1 << 30),
};
/* Bit 31 does not fit a portable enum. */
#define MTCP_EPOLLET ((uint32_t)1 << 31)

typedef union mtcp_epoll_data {
	void *ptr;
	int sockid;
	uint32_t u32;
	uint64_t u64;
} mtcp_epoll_data_t;

struct mtcp_epoll_event {
	uint32_t events;
	mtcp_epoll_data_t data;
};

DILLNET_EXPORT int mtcp_epoll_create(mctx_t mctx, int size);
DILLNET_EXPORT int mtcp_epoll_create1(mctx_t mctx, int flags);
DILLNET_EXPORT int mtcp_epoll_ctl(mctx_t mctx, int epid, int op, int sockid,
				  struct mtcp_epoll_event *event);
DILLNET_EXPORT int mtcp_epoll_wait(mctx_t mctx, int epid,
				   struct mtcp_epoll_event *events,
				   int maxevents, int timeout);

#ifdef __cplusplus
}
#endif

#endif
