/*
 * ipc.h: wire format of libdillnet's IPC connections (internal).
 *
 * A connection starts as an AF_LOCAL stream socket.  The connecting side
 * creates the shared region (a sealed memfd) and four eventfds and sends
 * them in one HELLO message with SCM_RIGHTS, right after connect(2) and
 * before anyone accepts (an AF_LOCAL stream queues data for a connection
 * still in the listener's backlog), and is connected from then on: like
 * connect(2), ipc_connect does not wait for ipc_accept, and its bytes wait
 * in the ring.  The accepting side finishes the set-up when it takes the
 * connection: it reads HELLO, checks everything it got and maps the region.
 * There is no answer; an acceptor that refuses a HELLO hangs up, which the
 * connector sees as ECONNRESET.  After HELLO the socket carries only
 * ipc_sendfd() messages; its hang-up tells either side at once that the
 * other one is gone.
 *
 * Region layout (offsets computed privately by each side from the ring
 * sizes in HELLO, never read back from the region):
 *   [0, 4096)                       struct dnl_ipc_region
 *   [4096, 4096 + size0)            data of ring 0 (connector -> acceptor)
 *   [4096 + size0, + size1)         data of ring 1 (acceptor -> connector)
 *
 * Eventfds, indexed 2*ring + role: role 0 wakes the ring's consumer (data
 * or EOF arrived), role 1 wakes its producer (room appeared).
 */
#ifndef DNL_IPC_H
#define DNL_IPC_H

#include <stdatomic.h>
#include <stdint.h>

#include "dn_ring.h"

#define DNL_IPC_MAGIC 0x444e4950u      /* "DNIP" */
#define DNL_IPC_VERSION 2u          /* 2: no ACK, connect does not wait */
#define DNL_IPC_HDR 4096u
#define DNL_IPC_NEFD 4

struct dnl_ipc_region {
	uint32_t magic;
	uint32_t version;
	uint32_t ring_size[2];      /* informational only */
	struct dn_ring_shared ring[2];
	/* CPU each side last waited on (a hint for spinning; never trusted
	 * for anything else). */
	_Alignas(DN_CACHELINE) _Atomic int32_t cpu[2];
};

_Static_assert(sizeof(struct dnl_ipc_region) <= DNL_IPC_HDR,
	       "IPC region header must fit in its page");

struct dnl_ipc_hello {
	uint32_t magic;
	uint32_t version;
	uint32_t ring_size[2];
};

/* One ipc_sendfd(): the byte position in the sender's stream where the
 * descriptor sits, with the descriptor attached. */
struct dnl_ipc_fdmsg {
	uint64_t pos;
};

#endif
