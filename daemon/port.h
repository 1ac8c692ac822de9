/*
 * The DPDK port layer: EAL start-up, one port with one Rx and one Tx queue,
 * frames handed to the stack as (handle, data, len), transmit batching, link
 * state, Rx interrupts for the adaptive poll mode.  This header does not
 * include DPDK so the rest of the daemon builds without it.
 */
#ifndef DN_PORT_H
#define DN_PORT_H

#include <stddef.h>
#include <stdint.h>

#include "dn_msg.h"
#include "log.h"
#include "stack.h"

struct dn_port;

struct dn_port_conf {
	const char *device;        /* DPDK device name or PCI address; "" = first */
	const uint8_t *mac;        /* override, or NULL */
	uint16_t mtu;
	uint16_t rx_desc, tx_desc;
	uint32_t mbufs;
	int want_rx_intr;          /* adaptive mode: sleep on Rx interrupts */
};

/* rte_eal_init with argv (argv[0] is the program name).  Returns 0, or -1
 * with a message in err. */
int dn_port_eal_init(int argc, char **argv, char *err, size_t errlen);
void dn_port_eal_cleanup(void);

struct dn_port *dn_port_open(const struct dn_port_conf *c, struct dn_log *lg,
			     char *err, size_t errlen);
void dn_port_close(struct dn_port *p);

/* The io table the stack transmits through; its io_ctx is the port. */
const struct dn_stack_io *dn_port_io(void);

/* Receive up to max frames.  For each i: handles[i] is released with
 * dn_port_io()->release when done. */
unsigned dn_port_rx(struct dn_port *p, void **handles, const uint8_t **data,
		    uint16_t *len, unsigned max);
/* The data of a frame handle (for the fault injector's tx side). */
uint8_t *dn_port_frame_data(void *port, void *frame);
/* Send what xmit queued. */
void dn_port_flush(struct dn_port *p);

void dn_port_mac(const struct dn_port *p, uint8_t mac[6]);
uint16_t dn_port_mtu(const struct dn_port *p);
/* Poll link state; returns 1 if it changed since the last call. */
int dn_port_link_update(struct dn_port *p);
int dn_port_link_up(const struct dn_port *p);
void dn_port_info(struct dn_port *p, struct dn_ctl_port *out);

/* Rx interrupts: an fd that becomes readable when frames arrive while
 * armed; -1 when the PMD has none (then the caller sleeps in short steps). */
int dn_port_intr_fd(const struct dn_port *p);
int dn_port_intr_arm(struct dn_port *p);
void dn_port_intr_disarm(struct dn_port *p);
void dn_port_intr_woke(struct dn_port *p);   /* counts port_rx_wakeups */

/* Port-layer drop counters, walked for `dillnetctl show counters`. */
void dn_port_counters_foreach(const struct dn_port *p,
			      void (*cb)(const char *name, uint64_t v, void *arg), void *arg);

#endif
