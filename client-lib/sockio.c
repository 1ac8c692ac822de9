/*
 * sockio.c: see sockio.h.  The rules are those of tcp.c's protocol
 * comment: RESET on either ring or an EVT_RESET breaks the connection;
 * EOF on the rx ring counts only once the ring is empty; CMD_RX is worth
 * its cost only when the daemon may be short of window.
 */
#include "sockio.h"

#include <errno.h>

int dnl_sock_broken(struct dnl_sock *s)
{
	if (dnl_att_dead(s->att))
		return ECONNRESET;
	if ((dn_ring_flags(s->rx) | dn_ring_flags(s->tx)) & DN_RING_F_RESET) {
		dnl_debug("socket %u: ring says reset (rx flags %#x, tx flags %#x)",
			  s->id, dn_ring_flags(s->rx), dn_ring_flags(s->tx));
		return ECONNRESET;
	}
	int rerr = 0;
	if (dnl_sock_ev(s, NULL, &rerr) & DNL_SEV_RESET)
		return rerr ? rerr : ECONNRESET;
	return 0;
}

ssize_t dnl_rx_take(struct dnl_sock *s, void *p, size_t n, int *rxcmd)
{
	size_t before = dn_ring_readable(s->rx);
	if (before == DN_RING_CORRUPT) {
		errno = ECONNRESET;
		return -1;
	}
	size_t r = dn_ring_read(s->rx, p, n);
	if (r == DN_RING_CORRUPT) {
		errno = ECONNRESET;
		return -1;
	}
	if (r && (before > s->rx->cap / 2 || dn_ring_producer_needs_wakeup(s->rx)))
		*rxcmd = 1;
	return (ssize_t)r;
}

int dnl_tx_grow(struct dn_ring *tx, size_t want, size_t most)
{
	int grew = 0;
	while (tx->cap < tx->size && tx->cap < most) {
		size_t w = dn_ring_writable(tx);
		if (w == DN_RING_CORRUPT || w >= want || dn_ring_grow(tx, tx->cap * 2) != 0)
			break;
		grew = 1;
	}
	return grew;
}

int dnl_rx_ready(void *sock)
{
	struct dnl_sock *s = sock;
	return dn_ring_readable(s->rx) != 0 || dn_ring_flags(s->rx) ||
	       (dn_ring_flags(s->tx) & DN_RING_F_RESET) ||
	       (s->ev & DNL_SEV_RESET);
}

int dnl_tx_ready(void *sock)
{
	struct dnl_sock *s = sock;
	return dn_ring_writable(s->tx) != 0 ||
	       ((dn_ring_flags(s->rx) | dn_ring_flags(s->tx)) & DN_RING_F_RESET) ||
	       (s->ev & (DNL_SEV_RESET | DNL_SEV_CLOSED));
}

int dnl_connect_ready(void *sock)
{
	struct dnl_sock *s = sock;
	/* The ring flag too: it survives an EVT_CONNECTED the daemon had
	 * to drop (full event ring). */
	return (s->ev & (DNL_SEV_CONNECTED | DNL_SEV_RESET)) != 0 ||
	       (s->rx && ((dn_ring_flags(s->rx) | dn_ring_flags(s->tx)) &
			  DN_RING_F_RESET));
}
