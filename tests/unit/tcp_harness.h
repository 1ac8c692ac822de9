/*
 * TCP unit-test harness on top of stack_harness: a stack with the capture
 * io and the peer's MAC learned, shared-memory rings for the connection
 * under test, a recorder for the TCP upcalls, a builder for the peer's
 * segments and a parser for what the stack sent.  Virtual clock.
 */
#ifndef TCP_HARNESS_H
#define TCP_HARNESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "stack_harness.h"
#include "tcp_int.h"

struct tcph_ring {
	struct dn_ring_shared *sh;
	uint8_t *data;
	struct dn_ring d;   /* daemon's view (given to TCP) */
	struct dn_ring a;   /* app's view (the test reads/writes) */
};

void tcph_ring_init(struct tcph_ring *r, uint32_t size);
void tcph_ring_fini(struct tcph_ring *r);

struct tcph {
	struct dn_stack st;
	struct th_cap *cap;
	struct dn_tcp_upcalls up;
	unsigned ring_size;
	struct tcph_ring rx, tx;
	bool rings_used;
	bool refuse_attach;
	/* Upcall record. */
	int n_connected, connected_err;
	int n_accept_ready, n_readable, n_eof, n_writable;
	int n_reset, reset_err, n_freed, n_attach;
	struct dn_tcp_conn *last_conn;
	/* Peer side of the connection under test. */
	uint32_t peer_ip;
	uint16_t peer_port, our_port;
	uint32_t peer_seq;   /* next seq the peer sends */
	uint32_t peer_ack;   /* what the peer acks (our seq) */
	uint32_t peer_ts;
	int next_out;        /* next captured frame to read */
};

struct tcph_seg {
	uint32_t seq, ack;
	uint8_t flags;
	uint16_t wnd;
	const uint8_t *opt;
	size_t optlen;
	const void *data;
	size_t len;
	uint32_t src;        /* 0: peer_ip */
	uint16_t sport, dport; /* 0: peer_port / our_port */
	bool bad_csum;
	int doff_override;   /* nonzero: raw data offset nibble */
};

struct tcph_out {
	uint32_t src, dst;
	uint16_t sport, dport;
	uint32_t seq, ack;
	uint8_t flags;
	uint16_t wnd;
	struct dn_tcp_opts opt;
	size_t optlen;
	uint8_t data[2048];
	size_t len;
	bool csum_ok;
};

/* ring_size: rx/tx rings (power of two). */
void tcph_init(struct tcph *h, unsigned ring_size);
void tcph_fini(struct tcph *h);
void tcph_send(struct tcph *h, const struct tcph_seg *s);
/* Next TCP segment the stack sent since the last call; false if none. */
bool tcph_next(struct tcph *h, struct tcph_out *o);
/* Count TCP segments not read yet. */
int tcph_pending(struct tcph *h);
void tcph_drain(struct tcph *h);
/* Advance the virtual clock and run timers. */
void tcph_advance(struct tcph *h, uint64_t us);

/* Open a connection from us to the peer; the peer answers SYN-ACK with
 * the given options (bit 0 ws, 1 ts, 2 sack) and isn.  Returns the conn
 * in ESTABLISHED with the captured frames drained. */
struct dn_tcp_conn *tcph_active_open(struct tcph *h, uint32_t peer_isn,
				     int optmask, uint16_t peer_wnd);
/* Same with the peer's MSS option (-1: none) and, if nonzero, our ISN
 * forced to our_iss (patched in before the SYN,ACK). */
struct dn_tcp_conn *tcph_active_open_ex(struct tcph *h, uint32_t peer_isn,
					int optmask, uint16_t peer_wnd,
					int peer_mss, uint32_t our_iss);
/* A listener on port and a completed passive open from the peer. */
struct dn_tcp_conn *tcph_passive_open(struct tcph *h, uint16_t port,
				      uint32_t peer_isn, int optmask,
				      struct dn_tcp_conn **listener);
/* Peer sends data (ACK set, acking peer_ack), advancing peer_seq. */
void tcph_peer_data(struct tcph *h, const void *data, size_t len);
void tcph_peer_ack(struct tcph *h, uint32_t ack, uint16_t wnd);
void tcph_peer_flags(struct tcph *h, uint8_t flags);
/* App side of the rings. */
size_t tcph_app_write(struct tcph *h, const void *buf, size_t len);
size_t tcph_app_read(struct tcph *h, void *buf, size_t len);
uint64_t tcph_ctr(struct tcph *h, int counter);
uint64_t tcph_drop(struct tcph *h, int drop);
/* Builds an options block: returns length (padded to 4). */
size_t tcph_opts(uint8_t *b, int mss, int ws, bool sackok, bool ts,
		 uint32_t tsval, uint32_t tsecr);

#endif
