/*
 * Operator reset of connections (dillnetctl kill connection): RST to the
 * peer as in RFC 9293 3.10.5 and ECONNRESET to the owner, who still closes
 * its handle as after any reset.
 */
#include "stack.h"
#include "tcp_int.h"

#include <errno.h>

static int tuple_match(const struct dn_tcp_conn *c, uint32_t lip, uint16_t lport,
		       uint32_t rip, uint16_t rport)
{
	return (!lip || c->laddr == lip) && (!lport || c->lport == lport) &&
	       (!rip || c->faddr == rip) && (!rport || c->fport == rport);
}

unsigned dn_tcp_kill(struct dn_stack *st, uint32_t lip, uint16_t lport,
		     uint32_t rip, uint16_t rport)
{
	struct dn_tcp *t = &st->tcp;
	unsigned n = 0;

	/* Inside enter/leave, dropped connections are reaped only when we
	 * leave, so the list can be walked while resetting. */
	dn_tcp_enter(st);
	for (struct dn_tcp_conn *c = t->all; c; c = c->anext) {
		if (c->state == DN_TCP_LISTEN || c->state == DN_TCP_CLOSED ||
		    c->state == DN_TCP_TIME_WAIT || (c->flags & DN_TCPF_FREED))
			continue;
		if (!tuple_match(c, lip, lport, rip, rport))
			continue;
		/* Sending the RST counts resets_out (tcp_output.c emit). */
		if (c->state >= DN_TCP_SYN_RECEIVED)
			dn_tcp_send_rst_conn(c);
		dn_tcp_drop_conn(c, ECONNRESET);
		n++;
	}
	dn_tcp_leave(st);
	return n;
}
