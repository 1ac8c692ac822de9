/* Placeholder until the TCP stack lands: ipv4.c hands protocol 6 here. */
#ifndef DN_TCP_H
#define DN_TCP_H
#include <stddef.h>
#include <stdint.h>
struct dn_stack;
struct dn_ip4_info;
struct dn_tcp {
	int unused;
};
int dn_tcp_init(struct dn_stack *st);
void dn_tcp_fini(struct dn_stack *st);
/* A validated IPv4 packet carrying TCP; seg points at the TCP header. */
void dn_tcp_input(struct dn_stack *st, const struct dn_ip4_info *ip,
		  const uint8_t *seg, size_t len);
/* Timers; returns microseconds to the next one or UINT64_MAX. */
uint64_t dn_tcp_poll(struct dn_stack *st);
#endif
