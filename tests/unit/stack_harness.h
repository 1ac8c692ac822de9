/*
 * Shared helpers for stack unit tests (L2/L3 and TCP): a capture io that
 * records every transmitted frame and tracks buffer ownership, a default
 * stack configuration, and frame builders.  All addresses are host order.
 */
#ifndef TH_STACK_HARNESS_H
#define TH_STACK_HARNESS_H

#include <stddef.h>
#include <stdint.h>

#include "stack.h"

#define TH_FRAME_CAP 2048
#define TH_MAX_TX    256

/* The frame handle the capture io hands out (malloc'd). */
struct th_frame {
	uint32_t magic;
	uint8_t data[TH_FRAME_CAP];
};

struct th_txrec {
	uint16_t len;
	uint8_t data[TH_FRAME_CAP];
};

struct th_cap {
	unsigned ntx;             /* frames recorded in tx[] */
	unsigned xmits;           /* all xmit calls (also beyond TH_MAX_TX) */
	unsigned allocs, releases;
	long outstanding;         /* allocated and not yet xmitted/released */
	unsigned fail_allocs;     /* fail this many next allocs (UINT_MAX: all) */
	uint16_t cap;             /* capacity to report (default TH_FRAME_CAP) */
	/* Optional: called for every transmitted frame after it is recorded
	 * (and before its buffer is freed); may feed frames back into a
	 * stack synchronously, as a directly wired peer would. */
	void (*on_xmit)(void *arg, const uint8_t *data, uint16_t len);
	void *on_xmit_arg;
	struct th_txrec tx[TH_MAX_TX];
};

extern const struct dn_stack_io th_io;

/* Addresses of the default topology (198.18.0.0/24, DESIGN.md 7). */
#define TH_IP_US     0xc6120002u   /* 198.18.0.2 */
#define TH_IP_GW     0xc6120001u   /* 198.18.0.1, also "the peer" */
#define TH_IP_PEER2  0xc6120003u   /* 198.18.0.3 */
#define TH_IP_BCAST  0xc61200ffu   /* 198.18.0.255 */
#define TH_IP_REMOTE 0xc6130101u   /* 198.19.1.1, off-link */
extern const uint8_t th_mac_us[6];    /* 02:00:00:00:00:02 */
extern const uint8_t th_mac_gw[6];    /* 02:00:00:00:00:01 */
extern const uint8_t th_mac_peer2[6]; /* 02:00:00:00:00:03 */
extern const uint8_t th_mac_bcast[6];

void th_cap_init(struct th_cap *c);
void th_cap_clear(struct th_cap *c);        /* forget recorded frames */
/* Default conf: th_mac_us, TH_IP_US/24, gateway TH_IP_GW, MTU 1500. */
void th_conf_default(struct dn_stack_conf *conf);
/* dn_stack_init with the capture io and the default conf at now_us=0. */
int th_stack_init(struct dn_stack *st, struct th_cap *c);
/* Teach the stack ip -> mac (an ARP request from it for us), then forget
 * the reply it caused. */
void th_learn(struct dn_stack *st, struct th_cap *c, uint32_t ip,
	      const uint8_t mac[6]);
/* For struct dn_fault_hooks.frame_data. */
uint8_t *th_frame_data(void *ctx, void *frame);
/* A frame from the capture io for tests that feed the fault injector. */
void *th_frame_new(struct th_cap *c, uint8_t **data);

/* Builders: write into b, return the length written. */
size_t th_eth(uint8_t *b, const uint8_t dst[6], const uint8_t src[6],
	      uint16_t type);
size_t th_arp_frame(uint8_t *b, const uint8_t eth_dst[6], uint16_t op,
		    const uint8_t sha[6], uint32_t spa, const uint8_t tha[6],
		    uint32_t tpa);
/* Ethernet (gw MAC -> our MAC) + 20-byte IPv4 header + payload; valid
 * checksum, DF clear, TTL 64. */
size_t th_ip4_frame(uint8_t *b, uint32_t src, uint32_t dst, uint8_t proto,
		    const void *payload, size_t plen);
/* Echo request from src to dst (over th_ip4_frame). */
size_t th_echo_frame(uint8_t *b, uint32_t src, uint32_t dst, uint16_t id,
		     uint16_t seq, const void *payload, size_t plen);
/* Recompute the IPv4 header checksum of the header at ip. */
void th_ip4_fix_csum(uint8_t *ip);
/* Reference RFC 1071 checksum, byte by byte (for cross-checking). */
uint16_t th_csum_ref(const uint8_t *p, size_t len);
/* Sum of all L3 counters (to check that something, anything, counted). */
uint64_t th_l3_total(const struct dn_stack *st);

#endif
