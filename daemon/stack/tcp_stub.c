/*
 * TEMPORARY STUBS until the real TCP (daemon/stack/tcp*.c) lands.
 *
 * Every symbol here is weak, so the TCP engineer's definitions override
 * them at link time without a clash; delete this file once they do.
 * dn_tcp_input is a no-op on purpose: closed-port RSTs are TCP's job.
 */
#include "stack.h"

__attribute__((weak)) int dn_tcp_init(struct dn_stack *st)
{
	(void)st;
	return 0;
}

__attribute__((weak)) void dn_tcp_fini(struct dn_stack *st)
{
	(void)st;
}

__attribute__((weak)) void dn_tcp_input(struct dn_stack *st,
					const struct dn_ip4_info *ip,
					const uint8_t *seg, size_t len)
{
	(void)st; (void)ip; (void)seg; (void)len;
}

__attribute__((weak)) uint64_t dn_tcp_poll(struct dn_stack *st)
{
	(void)st;
	return UINT64_MAX;
}

__attribute__((weak)) void dn_tcp_icmp_error(struct dn_stack *st, uint8_t type,
					     uint8_t code,
					     const uint8_t *quoted_ip,
					     size_t len)
{
	(void)st; (void)type; (void)code; (void)quoted_ip; (void)len;
}

__attribute__((weak)) void dn_tcp_counters_foreach(
	const struct dn_stack *st,
	void (*cb)(const char *name, uint64_t value, void *arg), void *arg)
{
	(void)st; (void)cb; (void)arg;
}
