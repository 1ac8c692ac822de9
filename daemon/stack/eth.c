/*
 * Ethernet II input (IEEE 802.3 framing, RFC 894 for IPv4 over Ethernet).
 *
 * We accept frames for our MAC and broadcast.  We join no multicast group
 * and do not run VLANs, so tagged frames are counted and dropped.  Frames
 * are counted at every step; nothing is logged per packet.
 */
#include <string.h>

#include "stack.h"

void dn_eth_input(struct dn_stack *st, const uint8_t *d, size_t len)
{
	struct dn_l3_counters *c = &st->l3.c;
	c->eth_rx++;
	if (len < DN_ETH_HLEN) {
		c->eth_rx_short++;
		return;
	}
	static const uint8_t bcast[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
	int l2_bcast = memcmp(d, bcast, 6) == 0;
	if (!l2_bcast && memcmp(d, st->conf.mac, 6) != 0) {
		c->eth_rx_not_for_us++;
		return;
	}
	/* A group address is never a valid source, and our own source MAC
	 * means a loop or a spoof. */
	if ((d[6] & 1) || memcmp(d + 6, st->conf.mac, 6) == 0) {
		c->eth_rx_bad_src++;
		return;
	}
	uint16_t type = dn_get16(d + 12);
	const uint8_t *p = d + DN_ETH_HLEN;
	size_t plen = len - DN_ETH_HLEN;
	switch (type) {
	case DN_ETH_P_IP:
		dn_ip4_input(st, p, plen, l2_bcast);
		break;
	case DN_ETH_P_ARP:
		dn_arp_input(st, p, plen);
		break;
	case DN_ETH_P_VLAN:
	case 0x88a8: /* 802.1ad */
		c->eth_rx_vlan++;
		break;
	default:
		/* Includes 802.3 length fields (< 0x0600). */
		c->eth_rx_unknown_type++;
		break;
	}
}
