/*
 * libFuzzer target: arbitrary TCP segments into a stack that has a
 * listener (port 80) and an established connection (our side of
 * 198.18.0.2:* <-> 198.18.0.1:5000), plus app actions and time.
 *
 * The input is a sequence of records
 *   [ctl][arg][len hi][len lo][len bytes of TCP segment]
 * ctl bits 0-1: target: 0 the connection, 1 the listener, 2 a closed port,
 *               3 leave the ports as they are;
 * ctl bit 2:    patch seq/ack to the connection's current values plus
 *               a small signed offset from arg (gets past the window
 *               checks often enough to reach the deep paths);
 * ctl bit 3:    keep the checksum as given (else fix it up);
 * ctl bits 4-6: an app action after the segment: read, write arg bytes,
 *               shutdown, close, abort, set nodelay, advance time;
 * ctl bit 7:    advance virtual time by arg * 10 ms and poll.
 * The io checks every buffer is sent or released exactly once.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_io.h"
#include "stack.h"
#include "tcp_int.h"

#define RING 4096

struct fz {
	struct fz_io io;
	struct dn_stack st;
	struct dn_tcp_upcalls up;
	struct dn_ring_shared *sh[4];
	uint8_t *data[4];
	struct dn_ring d[4], a[4];
	int rings_given;
	struct dn_tcp_conn *conn, *listener;
	int conn_alive, listener_alive;
};

static int up_attach(void *ctx, struct dn_tcp_conn *l, struct dn_tcp_conn *c,
		     struct dn_ring **rx, struct dn_ring **tx, void **owner)
{
	struct fz *f = ctx;
	(void)l;
	(void)c;
	if (f->rings_given >= 4)
		return -1;
	*rx = &f->d[f->rings_given++];
	*tx = &f->d[f->rings_given++];
	*owner = f;
	return 0;
}

static void up_accept_ready(void *ctx, struct dn_tcp_conn *l)
{
	struct fz *f = ctx;
	struct dn_tcp_conn *c = dn_tcp_accept(l, f);
	/* Accepted connections are closed right away (kernel-like). */
	if (c)
		dn_tcp_close(c);
}

static void up_freed(void *ctx, struct dn_tcp_conn *c, void *owner)
{
	struct fz *f = ctx;
	(void)owner;
	if (c == f->conn)
		f->conn_alive = 0;
	if (c == f->listener)
		f->listener_alive = 0;
}

static void input(struct fz *f, uint32_t src, const uint8_t *seg, size_t len)
{
	struct dn_ip4_info ip;
	memset(&ip, 0, sizeof(ip));
	ip.src = src;
	ip.dst = f->st.conf.ip4;
	ip.proto = 6;
	ip.ttl = 64;
	ip.hlen = 20;
	ip.tot_len = (uint16_t)(20 + len);
	dn_tcp_input(&f->st, &ip, seg, len);
}

static void fix_csum(uint32_t src, uint32_t dst, uint8_t *seg, size_t len)
{
	seg[16] = seg[17] = 0;
	uint32_t sum = dn_ip4_pseudo_sum(src, dst, 6, (uint16_t)len);
	dn_put16(seg + 16, dn_csum_fold(dn_csum_add(sum, seg, len)));
}

static void setup(struct fz *f)
{
	memset(f, 0, sizeof(*f));
	struct dn_stack_conf conf;
	memset(&conf, 0, sizeof(conf));
	const uint8_t mac[6] = { 2, 0, 0, 0, 0, 2 };
	memcpy(conf.mac, mac, 6);
	conf.ip4 = 0xc6120002u;
	conf.prefix_len = 24;
	conf.gateway = 0xc6120001u;
	conf.mtu = 1500;
	if (dn_stack_init(&f->st, &conf, &fz_ops, &f->io, 1000000) != 0)
		abort();
	f->up.attach = up_attach;
	f->up.accept_ready = up_accept_ready;
	f->up.freed = up_freed;
	f->st.tcp.up = &f->up;
	f->st.tcp.up_ctx = f;
	f->st.tcp.conf.syncookies = 1;
	for (int i = 0; i < 4; i++) {
		f->sh[i] = aligned_alloc(64, sizeof(*f->sh[i]));
		f->data[i] = calloc(1, RING);
		dn_ring_shared_init(f->sh[i]);
		dn_ring_attach(&f->d[i], f->sh[i], f->data[i], RING);
		dn_ring_attach(&f->a[i], f->sh[i], f->data[i], RING);
	}
	/* Rings 0/1 for the active connection; 2/3 for one accepted. */
	f->rings_given = 2;

	/* Teach ARP the peer: an ARP request from 198.18.0.1 for us. */
	uint8_t arp[42] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
			    2, 0, 0, 0, 0, 1, 0x08, 0x06,
			    0, 1, 0x08, 0, 6, 4, 0, 1,
			    2, 0, 0, 0, 0, 1, 0xc6, 0x12, 0, 1,
			    0, 0, 0, 0, 0, 0, 0xc6, 0x12, 0, 2 };
	dn_stack_input(&f->st, arp, sizeof(arp));

	int err;
	f->listener = dn_tcp_listen(&f->st, 0, 80, 4, f, &err);
	f->listener_alive = f->listener != NULL;
	f->conn = dn_tcp_connect(&f->st, 0xc6120001u, 5000, 0, &f->d[0],
				 &f->d[1], f, &err);
	if (!f->conn)
		abort();
	f->conn_alive = 1;
	/* Complete the handshake with a SYN,ACK carrying every option. */
	uint8_t syn[40];
	memset(syn, 0, sizeof(syn));
	uint16_t lport;
	dn_tcp_get_addrs(f->conn, NULL, &lport, NULL, NULL);
	dn_put16(syn, 5000);
	dn_put16(syn + 2, lport);
	dn_put32(syn + 4, 7777);
	dn_put32(syn + 8, f->conn->iss + 1);
	syn[12] = 10 << 4;
	syn[13] = DN_TH_SYN | DN_TH_ACK;
	dn_put16(syn + 14, 65535);
	const uint8_t opt[20] = { 2, 4, 5, 0xb4, 4, 2, 8, 10, 0, 0, 0, 1,
				  0, 0, 0, 0, 1, 3, 3, 7 };
	memcpy(syn + 20, opt, 20);
	fix_csum(0xc6120001u, conf.ip4, syn, 40);
	input(f, 0xc6120001u, syn, 40);
}

static void teardown(struct fz *f)
{
	dn_stack_fini(&f->st);
	for (int i = 0; i < 4; i++) {
		free(f->sh[i]);
		free(f->data[i]);
	}
	if (f->io.outstanding != 0)
		abort();
}

static void app(struct fz *f, int action, uint8_t arg)
{
	if (!f->conn_alive)
		return;
	uint8_t buf[RING];
	switch (action) {
	case 1:
		dn_ring_read(&f->a[0], buf, arg * 16u);
		dn_tcp_output_kick(f->conn);
		break;
	case 2:
		memset(buf, arg, sizeof(buf));
		dn_ring_write(&f->a[1], buf, arg * 16u);
		dn_tcp_output_kick(f->conn);
		break;
	case 3:
		dn_tcp_shutdown_wr(f->conn);
		break;
	case 4:
		f->conn_alive = 0;
		dn_tcp_close(f->conn);
		break;
	case 5:
		f->conn_alive = 0;
		dn_tcp_abort(f->conn);
		break;
	case 6:
		dn_tcp_set_nodelay(f->conn, arg & 1);
		dn_tcp_set_keepalive(f->conn, arg & 2);
		break;
	case 7:
		f->st.now_us += (uint64_t)arg * 1000000;
		dn_stack_poll(&f->st);
		break;
	default:
		break;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz *f = malloc(sizeof(*f));
	setup(f);
	size_t i = 0;
	uint8_t seg[1600];
	while (i + 4 <= size) {
		uint8_t ctl = data[i], arg = data[i + 1];
		size_t len = (size_t)data[i + 2] << 8 | data[i + 3];
		i += 4;
		if (len > size - i)
			len = size - i;
		if (len > sizeof(seg))
			len = sizeof(seg);
		memcpy(seg, data + i, len);
		i += len;
		uint32_t src = 0xc6120001u;
		if (len >= 20) {
			int target = ctl & 3;
			uint16_t lport = 0;
			if (f->conn_alive)
				dn_tcp_get_addrs(f->conn, NULL, &lport, NULL, NULL);
			if (target == 0 && f->conn_alive) {
				dn_put16(seg, 5000);
				dn_put16(seg + 2, lport);
			} else if (target == 1) {
				dn_put16(seg + 2, 80);
			} else if (target == 2) {
				dn_put16(seg + 2, 9);
			}
			if ((ctl & 4) && f->conn_alive) {
				int32_t d = (int8_t)arg;
				dn_put32(seg + 4, f->conn->rcv_nxt + (uint32_t)d);
				dn_put32(seg + 8, f->conn->snd_una + (uint32_t)(d * 7));
			}
			if (!(ctl & 8))
				fix_csum(src, f->st.conf.ip4, seg, len);
		}
		input(f, src, seg, len);
		app(f, (ctl >> 4) & 7, arg);
		if (ctl & 0x80) {
			f->st.now_us += (uint64_t)arg * 10000;
			dn_stack_poll(&f->st);
		}
	}
	/* Let everything time out, then tear down. */
	f->st.now_us += 3600ull * 1000000;
	dn_stack_poll(&f->st);
	teardown(f);
	free(f);
	return 0;
}
