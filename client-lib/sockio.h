/*
 * sockio.h: data-path helpers for a daemon TCP connection's slot rings
 * (internal), shared by every API that moves bytes through them: the
 * libdill calls (tcp.c, all or nothing) and the mTCP calls (mtcp.c,
 * partial counts, non-blocking).  They work on a struct dnl_sock whose
 * rings were handed over with dnl_sock_set_rings().
 */
#ifndef DNL_SOCKIO_H
#define DNL_SOCKIO_H

#include <sys/types.h>

#include "attach.h"

/* 0 while the connection can still move bytes, else the errno its data
 * path should fail with (ECONNRESET, or the daemon's reset reason). */
int dnl_sock_broken(struct dnl_sock *s);

/* Take up to n bytes from the rx ring (p NULL: drop them).  Returns the
 * count (0 when empty), or -1 with ECONNRESET for a corrupt ring.  Sets
 * *rxcmd when the daemon should hear about the room (DN_CMD_RX): the ring
 * was more than half full, or the daemon said it waits for room. */
ssize_t dnl_rx_take(struct dnl_sock *s, void *p, size_t n, int *rxcmd);

/* The tx ring has less than want bytes of room: double its capacity (up
 * to its size and to most bytes) while that gives room now.  Send-buffer
 * autotuning, app side: a ring starts at DN_SLOT_INIT_CAP and grows only
 * for a writer that has more than fits, one doubling per time the daemon
 * gets through the old capacity (dn_ring_grow's EBUSY).  Returns 1 when it
 * grew. */
int dnl_tx_grow(struct dn_ring *tx, size_t want, size_t most);

/* ready() callbacks for dnl_sock_wait (arg: the struct dnl_sock; they run
 * under the attachment's mutex). */
int dnl_rx_ready(void *sock);      /* bytes, EOF or a reset */
int dnl_tx_ready(void *sock);      /* room, a reset, or the daemon let go */
int dnl_connect_ready(void *sock); /* the connect finished, either way */

#endif
