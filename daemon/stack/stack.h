/*
 * The stack core's per-worker context and its boundary to the outside.
 *
 * The stack never calls DPDK or the OS: frames come in through
 * dn_stack_input(), go out through the dn_stack_io table, and time is the
 * now_us field the caller advances.  That lets unit tests feed crafted
 * frames and capture output, and lets the simulation run two stacks over a
 * faulty link in virtual time.  There is no file-scope mutable state: every
 * function takes the struct dn_stack it works on.
 *
 * Errors, the stack's one convention: a function that can fail returns 0 or
 * a positive errno value (the number an app's errno or a reply's result
 * gets); one that makes an object returns it, or NULL with the positive
 * errno in its `int *err` argument.  Lookups and clocks answer with values
 * that are not errors: -1 for "no such index", NULL for "none", UINT64_MAX
 * for "no deadline".  The stack never reads or sets errno.
 */
#ifndef DN_STACK_H
#define DN_STACK_H

#include <stddef.h>
#include <stdint.h>

struct dn_stack;

/*
 * Frame buffers.  `frame` is an opaque handle (an rte_mbuf in the daemon, a
 * malloc'd buffer in tests); `data` points at its first byte (the Ethernet
 * header) and `cap` is the room there.
 */
struct dn_stack_io {
	/* Get an empty frame buffer; NULL when none is free (counted as a drop
	 * by the caller). */
	void *(*alloc)(void *io_ctx, uint8_t **data, uint16_t *cap);
	/* Send len bytes of the frame; takes ownership in every case. */
	void (*xmit)(void *io_ctx, void *frame, uint16_t len);
	/* Give back a frame that will not be sent. */
	void (*release)(void *io_ctx, void *frame);
};

#include "l3.h"   /* struct dn_l3: ARP cache, pending queue, L2/L3 counters */
#include "tcp.h"  /* struct dn_tcp: connection tables, timers, TCP counters */

struct dn_stack_conf {
	uint8_t mac[6];
	uint32_t ip4;          /* host byte order; 0 = unconfigured */
	uint8_t prefix_len;
	uint32_t gateway;      /* host byte order; 0 = none */
	uint16_t mtu;          /* IP MTU, e.g. 1500 */
};

struct dn_stack {
	uint64_t now_us;                 /* set by the caller before each call */
	struct dn_stack_conf conf;
	const struct dn_stack_io *io;
	void *io_ctx;
	struct dn_l3 l3;
	struct dn_tcp tcp;
};

/* Set up a stack (zeroes it, copies conf, initialises l3 and tcp).
 * Returns 0, EINVAL (a NULL argument or io hook) or ENOMEM. */
int dn_stack_init(struct dn_stack *st, const struct dn_stack_conf *conf,
		  const struct dn_stack_io *io, void *io_ctx, uint64_t now_us);
void dn_stack_fini(struct dn_stack *st);

/* One received Ethernet frame.  The stack does not keep `data` after
 * returning (payload it needs is copied). */
void dn_stack_input(struct dn_stack *st, const uint8_t *data, size_t len);

/* Frames of one receive burst (a port's Rx batch) go between these two:
 * ACKs owed for in-order data are sent once at the end (tcp.c).  Input
 * outside a begin/end pair is answered frame by frame. */
void dn_stack_rx_begin(struct dn_stack *st);
void dn_stack_rx_end(struct dn_stack *st);

/* Run timers due at st->now_us (ARP aging and retries, TCP timers).
 * Returns the number of microseconds until the next timer, or UINT64_MAX
 * when none is pending, so an idle poll loop knows how long it may sleep. */
uint64_t dn_stack_poll(struct dn_stack *st);

#endif
