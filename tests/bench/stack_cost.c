/*
 * stack_cost: a deterministic driver for counting the stack's instructions
 * per data segment with callgrind (tests/bench/bench_stack.sh runs it).
 *
 * Two struct dn_stack (A sends, B receives) are wired back to back in one
 * process, in virtual time, with no loss: A's app streams BYTES through one
 * connection (1460-byte MSS, SACK, timestamps, window scaling, CUBIC,
 * delayed ACKs: the defaults), B's app reads everything.  Frames are handed
 * over as buffers from a pool (like mbufs: no copy in the "link").
 *
 * Every step of the transfer goes through one of these functions, so
 * callgrind's inclusive counts split the cost by side:
 *   rx_deliver   B: input of A's data segments (including the ACKs it sends)
 *   rx_kick      B: the stack's reaction to the app reading (window update)
 *   rx_timers    B: timers (delayed ACKs)
 *   tx_deliver   A: input of B's ACKs (including the data segments they
 *                clock out)
 *   tx_kick      A: the stack's reaction to the app writing (output)
 *   tx_timers    A: timers
 * The apps' own copies into and out of the rings are not stack cost and
 * are left out (tx_app and rx_app call the kicks).
 * The handshake and the close run through other functions and are not
 * counted.  The program prints the data segments sent and received so the
 * script can divide.
 *
 * usage: stack_cost [BYTES]   (default 64 MiB)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dn_ring.h"
#include "stack.h"

#define FRAME 2048
#define POOL 16384
#define RING (1u << 20)

struct frame {
	struct frame *next;
	uint16_t len;
	uint8_t data[FRAME];
};

struct side {
	struct dn_stack st;
	struct dn_tcp_upcalls up;
	struct dn_tcp_conn *conn, *listener;
	struct dn_ring_shared *rxsh, *txsh;
	struct dn_ring rx_d, tx_d, rx_a, tx_a;   /* daemon and app views */
	/* Frames this side sent, waiting for the other side. */
	struct frame *q_head, *q_tail;
	uint64_t data_segs;                      /* frames with TCP payload */
	int connected;
};

static struct side A, B;
static struct frame *pool_free;
static uint64_t now_us;

static void *io_alloc(void *ctx, uint8_t **data, uint16_t *cap)
{
	(void)ctx;
	struct frame *f = pool_free;
	if (!f)
		return NULL;
	pool_free = f->next;
	*data = f->data;
	*cap = FRAME;
	return f;
}

static void io_release(void *ctx, void *frame)
{
	(void)ctx;
	struct frame *f = frame;
	f->next = pool_free;
	pool_free = f;
}

/* TCP payload length of an Ethernet/IPv4/TCP frame, 0 for anything else. */
static unsigned tcp_payload(const uint8_t *d, unsigned len)
{
	if (len < 54 || d[12] != 0x08 || d[13] != 0x00 || d[23] != 6)
		return 0;
	unsigned ihl = (d[14] & 15u) * 4, tot = (unsigned)d[16] << 8 | d[17];
	unsigned doff = (d[14 + ihl + 12] >> 4) * 4u;
	return tot > ihl + doff ? tot - ihl - doff : 0;
}

static void io_xmit(void *ctx, void *frame, uint16_t len)
{
	struct side *s = ctx;
	struct frame *f = frame;
	f->len = len;
	f->next = NULL;
	if (s->q_tail)
		s->q_tail->next = f;
	else
		s->q_head = f;
	s->q_tail = f;
	if (tcp_payload(f->data, len))
		s->data_segs++;
}

static const struct dn_stack_io io = {
	.alloc = io_alloc,
	.xmit = io_xmit,
	.release = io_release,
};

/* Hand every frame `from` sent to `to`, in bursts of up to 64 between
 * dn_stack_rx_begin/end as the daemon's poll loop does with a port Rx
 * burst (daemon/main.c). */
#define RX_BURST 64
static void deliver(struct side *from, struct side *to)
{
	struct frame *f = from->q_head;
	from->q_head = from->q_tail = NULL;
	to->st.now_us = now_us;
	while (f) {
		dn_stack_rx_begin(&to->st);
		for (int i = 0; f && i < RX_BURST; i++) {
			struct frame *n = f->next;
			dn_stack_input(&to->st, f->data, f->len);
			io_release(NULL, f);
			f = n;
		}
		dn_stack_rx_end(&to->st);
	}
}

static void poll_side(struct side *s)
{
	s->st.now_us = now_us;
	dn_stack_poll(&s->st);
}

/* ---- upcalls ------------------------------------------------------------ */

static void up_connected(void *ctx, struct dn_tcp_conn *c, int err)
{
	struct side *s = ctx;
	(void)c;
	if (err) {
		fprintf(stderr, "stack_cost: connect failed: %d\n", err);
		exit(1);
	}
	s->connected = 1;
}

static int up_attach(void *ctx, struct dn_tcp_conn *l, struct dn_tcp_conn *c,
		     struct dn_ring **rx, struct dn_ring **tx, void **owner)
{
	struct side *s = ctx;
	(void)l;
	s->conn = c;
	*rx = &s->rx_d;
	*tx = &s->tx_d;
	*owner = s;
	return 0;
}

static void up_accept_ready(void *ctx, struct dn_tcp_conn *l)
{
	struct side *s = ctx;
	if (dn_tcp_accept(l, s))
		s->connected = 1;
}

static void up_nop(void *ctx, struct dn_tcp_conn *c)
{
	(void)ctx;
	(void)c;
}

static void up_reset(void *ctx, struct dn_tcp_conn *c, int err)
{
	(void)ctx;
	(void)c;
	fprintf(stderr, "stack_cost: connection reset (%d)\n", err);
	exit(1);
}

static void up_freed(void *ctx, struct dn_tcp_conn *c, void *owner)
{
	(void)ctx;
	(void)c;
	(void)owner;
}

static void side_init(struct side *s, uint8_t last)
{
	struct dn_stack_conf conf;
	memset(&conf, 0, sizeof(conf));
	uint8_t mac[6] = { 0x02, 0, 0, 0, 0, last };
	memcpy(conf.mac, mac, 6);
	conf.ip4 = 0xc6120000u | last;   /* 198.18.0.x */
	conf.prefix_len = 24;
	conf.mtu = 1500;
	if (dn_stack_init(&s->st, &conf, &io, s, now_us) != 0) {
		fprintf(stderr, "stack_cost: dn_stack_init failed\n");
		exit(1);
	}
	uint8_t key[16];
	for (int i = 0; i < 16; i++)
		key[i] = (uint8_t)(i * 37 + last);
	dn_tcp_set_secret(&s->st, key);
	s->up.connected = up_connected;
	s->up.attach = up_attach;
	s->up.accept_ready = up_accept_ready;
	s->up.readable = up_nop;
	s->up.eof = up_nop;
	s->up.writable = up_nop;
	s->up.reset = up_reset;
	s->up.freed = up_freed;
	s->st.tcp.up = &s->up;
	s->st.tcp.up_ctx = s;
	s->rxsh = aligned_alloc(64, sizeof(*s->rxsh));
	s->txsh = aligned_alloc(64, sizeof(*s->txsh));
	uint8_t *rxd = malloc(RING), *txd = malloc(RING);
	if (!s->rxsh || !s->txsh || !rxd || !txd)
		exit(1);
	dn_ring_shared_init(s->rxsh);
	dn_ring_shared_init(s->txsh);
	dn_ring_attach(&s->rx_d, s->rxsh, rxd, RING);
	dn_ring_attach(&s->rx_a, s->rxsh, rxd, RING);
	dn_ring_attach(&s->tx_d, s->txsh, txd, RING);
	dn_ring_attach(&s->tx_a, s->txsh, txd, RING);
}

/* ---- the measured steps (never inlined: callgrind names them) --------- */

static uint8_t chunk[65536];
static uint64_t to_send, sent, received;

__attribute__((noinline)) static void tx_kick(void) { dn_tcp_output_kick(A.conn); }
__attribute__((noinline)) static void rx_kick(void) { dn_tcp_output_kick(B.conn); }

static void tx_app(void)
{
	size_t room = dn_ring_writable(&A.tx_a);
	if (room && sent < to_send) {
		size_t n = room < sizeof(chunk) ? room : sizeof(chunk);
		if (n > to_send - sent)
			n = (size_t)(to_send - sent);
		sent += dn_ring_write(&A.tx_a, chunk, n);
		tx_kick();
	}
}

static void rx_app(void)
{
	size_t got = dn_ring_read(&B.rx_a, chunk, sizeof(chunk));
	if (got) {
		received += got;
		rx_kick();
	}
}

__attribute__((noinline)) static void rx_deliver(void) { deliver(&A, &B); }
__attribute__((noinline)) static void tx_deliver(void) { deliver(&B, &A); }
__attribute__((noinline)) static void rx_timers(void) { poll_side(&B); }
__attribute__((noinline)) static void tx_timers(void) { poll_side(&A); }

/* Unmeasured: handshake and close. */
static void setup_step(void)
{
	deliver(&A, &B);
	deliver(&B, &A);
	now_us += 50;
	poll_side(&A);
	poll_side(&B);
}

int main(int argc, char **argv)
{
	to_send = argc > 1 ? strtoull(argv[1], NULL, 0) : 64ull << 20;
	for (int i = 0; i < POOL; i++) {
		struct frame *f = malloc(sizeof(*f));
		f->next = pool_free;
		pool_free = f;
	}
	for (size_t i = 0; i < sizeof(chunk); i++)
		chunk[i] = (uint8_t)(i * 7);
	now_us = 1000000;
	side_init(&A, 1);
	side_init(&B, 2);
	int err = 0;
	B.listener = dn_tcp_listen(&B.st, 0, 5001, 16, &B, &err);
	A.st.now_us = now_us;
	A.conn = dn_tcp_connect(&A.st, B.st.conf.ip4, 5001, 0, &A.rx_d, &A.tx_d, &A, &err);
	if (!B.listener || !A.conn) {
		fprintf(stderr, "stack_cost: listen/connect failed: %d\n", err);
		return 1;
	}
	for (int i = 0; i < 1000 && !(A.connected && B.connected); i++)
		setup_step();
	if (!A.connected || !B.connected) {
		fprintf(stderr, "stack_cost: no connection\n");
		return 1;
	}
	uint64_t a0 = A.data_segs, b0 = B.data_segs;
	/* One step: the app writes, the link carries A's frames, B's app
	 * reads, the link carries B's frames, 50 us pass, timers run. */
	uint64_t steps = 0;
	while (received < to_send && steps < 100000000ull) {
		tx_app();
		rx_deliver();
		rx_app();
		tx_deliver();
		now_us += 50;
		tx_timers();
		rx_timers();
		steps++;
	}
	uint64_t data_segs = A.data_segs - a0;
	if (received != to_send || B.data_segs != b0) {
		fprintf(stderr, "stack_cost: received %llu of %llu (B sent %llu data segments)\n",
			(unsigned long long)received, (unsigned long long)to_send,
			(unsigned long long)(B.data_segs - b0));
		return 1;
	}
	/* Close both ends, unmeasured. */
	dn_tcp_close(A.conn);
	dn_tcp_close(B.conn);
	for (int i = 0; i < 100; i++)
		setup_step();
	printf("stack_cost bytes %llu data_segments %llu acks %llu steps %llu\n",
	       (unsigned long long)to_send, (unsigned long long)data_segs,
	       (unsigned long long)B.st.tcp.ctr[DN_TCP_C_SEGS_OUT],
	       (unsigned long long)steps);
	return 0;
}
