/*
 * dillnet TCP: per-worker TCP state and the socket API the daemon's app
 * manager uses.  The app manager never sees TCP internals: it holds opaque
 * struct dn_tcp_conn pointers, calls the functions below and is told about
 * progress through the upcall table it installs in struct dn_tcp.
 *
 * Socket buffers are the app's shared-memory byte rings (proto/dn_ring.h):
 *  - tx ring (app produces, daemon consumes): bytes stay in the ring until
 *    the peer acknowledges them, so the ring is the retransmission buffer;
 *  - rx ring (daemon produces, app consumes): out-of-order data is written
 *    in place past the tail and published once the hole fills; the
 *    advertised window follows the ring's free space.
 * The rings are owned by the owner; TCP uses them until the freed() upcall.
 *
 * Addresses and ports in this API are in host byte order.
 */
#ifndef DN_TCP_H
#define DN_TCP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tcp_settings.h"

struct dn_stack;
struct dn_ip4_info;
struct dn_ring;
struct dn_tcp_conn;

/* ---- X-macro lists: names and strings are generated from these ---- */

/* RFC 9293 3.3.2 states (plus LISTEN for listeners). */
#define DN_TCP_STATES(X)      \
	X(CLOSED, "CLOSED")           \
	X(LISTEN, "LISTEN")           \
	X(SYN_SENT, "SYN-SENT")       \
	X(SYN_RECEIVED, "SYN-RECEIVED") \
	X(ESTABLISHED, "ESTABLISHED") \
	X(FIN_WAIT_1, "FIN-WAIT-1")   \
	X(FIN_WAIT_2, "FIN-WAIT-2")   \
	X(CLOSE_WAIT, "CLOSE-WAIT")   \
	X(CLOSING, "CLOSING")         \
	X(LAST_ACK, "LAST-ACK")       \
	X(TIME_WAIT, "TIME-WAIT")

enum dn_tcp_state {
#define DN_X(n, s) DN_TCP_##n,
	DN_TCP_STATES(DN_X)
#undef DN_X
	DN_TCP_NSTATES
};

/* Per-connection timers. */
#define DN_TCP_TIMERS(X)            \
	X(RTX, "retransmit")        \
	X(PERSIST, "persist")       \
	X(DELACK, "delayed-ack")    \
	X(KEEPALIVE, "keepalive")   \
	X(LINGER, "time-wait/fin-wait-2")

enum dn_tcp_timer {
#define DN_X(n, s) DN_TCP_T_##n,
	DN_TCP_TIMERS(DN_X)
#undef DN_X
	DN_TCP_NTIMERS
};

/* Why an incoming segment was dropped; each one is also a counter. */
#define DN_TCP_DROPS(X)                                   \
	X(SHORT, "drop_short")             /* < 20 bytes or doff past end */  \
	X(BAD_DOFF, "drop_bad_doff")       /* data offset < 5 */              \
	X(BAD_CSUM, "drop_bad_csum")                                          \
	X(NO_SOCKET, "drop_no_socket")     /* answered with RST */            \
	X(LISTEN_ACK, "drop_listen_ack")   /* ACK to listener: RST */         \
	X(LISTEN_NOSYN, "drop_listen_nosyn")                                  \
	X(SYN_QUEUE_FULL, "drop_syn_queue_full")                              \
	X(ACCEPT_QUEUE_FULL, "drop_accept_queue_full")                        \
	X(NO_MEMORY, "drop_no_memory")                                        \
	X(BAD_COOKIE, "drop_bad_cookie")                                      \
	X(SYNSENT_BAD_ACK, "drop_synsent_bad_ack")                            \
	X(SYNSENT_NOSYN, "drop_synsent_nosyn")                                \
	X(PAWS, "drop_paws")                                                  \
	X(OUT_OF_WINDOW, "drop_out_of_window")                                \
	X(RST_OUT_OF_WINDOW, "drop_rst_out_of_window")                        \
	X(RST_TIME_WAIT, "drop_rst_time_wait") /* RFC 1337 */                 \
	X(NO_ACK, "drop_no_ack")                                              \
	X(ACK_TOO_OLD, "drop_ack_too_old")                                    \
	X(ACK_UNSENT, "drop_ack_unsent")                                      \
	X(BAD_SYNRCVD_ACK, "drop_bad_synrcvd_ack")                            \
	X(OOO_FULL, "drop_ooo_full")       /* range list full: data dropped */\
	X(DATA_AFTER_FIN, "drop_data_after_fin")                              \
	X(RX_CLOSED, "drop_data_rx_closed")                                   \
	X(ICMP_BAD, "drop_icmp_bad")

enum dn_tcp_drop {
#define DN_X(n, s) DN_TCP_DROP_##n,
	DN_TCP_DROPS(DN_X)
#undef DN_X
	DN_TCP_NDROPS
};

/* Counters (drops are counted separately, above). */
#define DN_TCP_COUNTERS(X)                         \
	X(SEGS_IN, "segs_in")                      \
	X(SEGS_OUT, "segs_out")                    \
	X(BYTES_IN, "bytes_in")                    \
	X(BYTES_OUT, "bytes_out")                  \
	X(RETRANS_SEGS, "retrans_segs")            \
	X(RTO_FIRED, "rto_fired")                  \
	X(FAST_RETRANS, "fast_retransmits")        \
	X(SACK_RECOVERIES, "sack_recoveries")      \
	X(LOST_RETRANS, "lost_retransmits")        \
	X(RACK_LOST, "rack_marked_lost")           \
	X(RACK_REO_TIMEOUTS, "rack_reo_timeouts")  \
	X(TLP_PROBES, "tlp_probes")                \
	X(TLP_NEW_DATA, "tlp_new_data")            \
	X(ACTIVE_OPENS, "active_opens")            \
	X(PASSIVE_OPENS, "passive_opens")          \
	X(ESTABLISHED, "established")              \
	X(ATTEMPT_FAILS, "attempt_fails")          \
	X(RESETS_IN, "resets_in")                  \
	X(RESETS_OUT, "resets_out")                \
	X(CHALLENGE_ACKS, "challenge_acks")        \
	X(CHALLENGE_ACKS_LIMITED, "challenge_acks_rate_limited") \
	X(SYNCOOKIES_SENT, "syncookies_sent")      \
	X(SYNCOOKIES_OK, "syncookies_ok")          \
	X(DELAYED_ACKS, "delayed_acks")            \
	X(PERSIST_PROBES, "persist_probes")        \
	X(KEEPALIVE_PROBES, "keepalive_probes")    \
	X(KEEPALIVE_TIMEOUTS, "keepalive_timeouts")\
	X(TIMEOUTS, "timeouts")                    \
	X(OOO_SEGS, "ooo_segs")                    \
	X(RX_GROW, "rx_ring_grows")                \
	X(DUP_SEGS, "dup_segs")                    \
	X(TIME_WAIT_REUSE, "time_wait_reuse")      \
	X(ICMP_ERRORS, "icmp_errors")              \
	X(PMTU_UPDATES, "pmtu_updates")            \
	X(OUT_NOBUF, "out_nobuf")                  \
	X(RING_CORRUPT, "ring_corrupt")            \
	X(CONNS_ALLOC, "conns_alloc")              \
	X(CONNS_FREED, "conns_freed")              \
	X(CHALLENGE_ACKS_CONN_LIMITED, "challenge_acks_conn_limited") \
	X(OOW_ACKS, "oow_acks")                    \
	X(OOW_ACKS_LIMITED, "oow_acks_rate_limited") \
	X(TW_RECYCLED, "time_wait_recycled")       \
	X(TW_RECYCLED_UID, "time_wait_recycled_uid") \
	X(TW_RECYCLED_ALLOC, "time_wait_recycled_table_full") \
	X(ORPHANS_RESET_CAP, "orphans_reset_cap")  \
	X(ORPHANS_RESET_UID, "orphans_reset_uid_cap") \
	X(ORPHANS_RESET_RETRIES, "orphans_reset_retries") \
	X(FIN_WAIT_2_TIMEOUTS, "fin_wait_2_timeouts") \
	X(SYNCOOKIES_TABLE_FULL, "syncookies_table_full")

enum dn_tcp_counter {
#define DN_X(n, s) DN_TCP_C_##n,
	DN_TCP_COUNTERS(DN_X)
#undef DN_X
	DN_TCP_NCOUNTERS
};

/* Congestion control algorithms (see tcp_cc.h). */
#define DN_TCP_CCS(X)           \
	X(CUBIC, "cubic")       \
	X(NEWRENO, "newreno")

enum dn_tcp_cc_algo {
#define DN_X(n, s) DN_TCP_CC_##n,
	DN_TCP_CCS(DN_X)
#undef DN_X
	DN_TCP_NCC
};

const char *dn_tcp_state_name(int state);
const char *dn_tcp_timer_name(int timer);
const char *dn_tcp_drop_name(int drop);
const char *dn_tcp_counter_name(int counter);
const char *dn_tcp_cc_name(int algo);
/* Name to value; -1 when unknown (config parsing). */
int dn_tcp_cc_from_name(const char *name);

/* ---- configuration (defaults from dn_tcp_init; edit afterwards) ---- */
struct dn_tcp_conf {
	uint16_t mss_cap;            /* our MSS never exceeds this (and MTU-40) */
	uint16_t init_cwnd_segs;     /* RFC 6928: 10 */
	uint64_t time_wait_us;       /* 2MSL, default 60 s */
	uint64_t fin_wait_2_us;      /* orphaned FIN-WAIT-2 limit, default 60 s */
	uint64_t delack_us;          /* RFC 9293 3.8.6.3: < 500 ms; default 40 ms */
	uint64_t rto_init_us;        /* RFC 6298 2.1: 1 s */
	uint64_t rto_min_us;         /* default 200 ms */
	uint64_t rto_max_us;         /* backoff cap, default 60 s */
	uint8_t syn_retries;         /* SYN / SYN-ACK retransmissions */
	uint8_t max_retries;         /* data retransmissions before ETIMEDOUT */
	uint8_t keepalive;           /* enable on new connections */
	uint8_t keepalive_probes;
	uint64_t keepalive_idle_us;  /* RFC 1122 4.2.3.6: >= 2 h default */
	uint64_t keepalive_intvl_us;
	uint8_t cc;                  /* enum dn_tcp_cc_algo */
	uint8_t sack;                /* offer/accept SACK */
	uint8_t timestamps;          /* offer/accept RFC 7323 timestamps */
	uint8_t wscale;              /* offer window scaling */
	uint8_t syncookies;          /* 0 never, 1 when SYN queue full, 2 always */
	uint8_t nodelay;             /* default for new connections: no Nagle */
	/* RFC 5961 7 / 10: the global challenge ACK budget per second is
	 * drawn anew each second from [limit/2, limit/2 + limit) (as Linux
	 * after CVE-2016-5696), so it tells an off-path observer nothing;
	 * 0: no global budget, only the per-connection interval below. */
	uint32_t challenge_ack_limit;
	/* Per connection: at most one challenge ACK or duplicate ACK for an
	 * out-of-window segment per this interval (Linux
	 * tcp_invalid_ratelimit, 500 ms).  Data segments are always
	 * answered: they are no ACK loop. */
	uint64_t invalid_ratelimit_us;
	/* TIME-WAIT entries in all (Linux tcp_max_tw_buckets) and per uid
	 * (0: no per-uid cap): beyond them the oldest is recycled. */
	uint32_t max_tw;
	uint32_t max_tw_per_uid;
	/* Orphans (closed by the owner, not yet in TIME-WAIT) in all (Linux
	 * tcp_max_orphans) and per uid (0: none): beyond them the oldest is
	 * reset. */
	uint32_t max_orphans;
	uint32_t max_orphans_per_uid;
	/* An orphan gives up after this many retransmissions or zero-window
	 * probes without progress (Linux tcp_orphan_retries). */
	uint8_t orphan_retries;
	uint32_t max_conns;          /* all connections, incl. TIME-WAIT */
	uint16_t syn_backlog_max;    /* cap on a listener's SYN queue */
	uint16_t eph_lo, eph_hi;     /* ephemeral port range, inclusive */
	/* Largest rx ring attach() will give a passive connection: sets the
	 * window scale offered in SYN,ACKs, before the ring is known
	 * (default 1 MiB). */
	uint32_t passive_rx_max;
	/* An orphan (closed by its owner) entering TIME-WAIT gives its rings
	 * and owner back at once through freed(), rather than when the
	 * connection goes after 2MSL: TIME-WAIT needs neither.  Default 0;
	 * the daemon sets it so that closed connections do not hold an app's
	 * sockets and ring memory through TIME-WAIT. */
	uint8_t tw_release;
	/* RFC 8985 RACK: time-based loss detection (SACK connections), with
	 * the SACK scoreboard kept across an RTO.  Default 1; 0 gives the
	 * RFC 6675 DupThresh rules alone. */
	uint8_t rack;
	/* RFC 8985 7 Tail Loss Probe (needs rack).  Default 1. */
	uint8_t tlp;
};

/* ---- upcalls: set by the owner (the app manager) ----
 * ctx is struct dn_tcp.up_ctx.  Upcalls may call back into the API, also
 * dn_tcp_close()/dn_tcp_abort() on the connection at hand: frees are
 * deferred to the end of the outermost TCP entry point (input, poll or
 * API call), so a pointer stays valid until then.  A passive connection
 * gets no readable/eof/writable/reset upcalls before dn_tcp_accept() has
 * returned it (data and EOF that came before are already in its rings);
 * if it dies unaccepted, only freed() is called. */
struct dn_tcp_upcalls {
	/* Active open finished: err 0, ECONNREFUSED (RST), ETIMEDOUT,
	 * EHOSTUNREACH / ENETUNREACH (ICMP).  On error the connection is now
	 * CLOSED; the owner still calls dn_tcp_close() to release it. */
	void (*connected)(void *ctx, struct dn_tcp_conn *c, int err);
	/* A passive connection completed its handshake: give it buffers.
	 * Return 0 and set *rx and *tx (daemon-side views, valid until freed()) and
	 * *owner, or -1 to refuse (the peer gets a RST). */
	int (*attach)(void *ctx, struct dn_tcp_conn *listener,
		      struct dn_tcp_conn *c, struct dn_ring **rx,
		      struct dn_ring **tx, void **owner);
	/* dn_tcp_accept() on the listener will now return a connection. */
	void (*accept_ready)(void *ctx, struct dn_tcp_conn *listener);
	/* New in-order bytes were published in the rx ring. */
	void (*readable)(void *ctx, struct dn_tcp_conn *c);
	/* The peer's FIN: all data is in the rx ring (which is marked EOF). */
	void (*eof)(void *ctx, struct dn_tcp_conn *c);
	/* Acknowledged bytes were consumed from the tx ring: room to write. */
	void (*writable)(void *ctx, struct dn_tcp_conn *c);
	/* The connection broke: ECONNRESET (RST), ETIMEDOUT (retransmissions
	 * or keepalive), EPIPE/EHOSTUNREACH...; rings are marked RESET.  The
	 * connection is CLOSED; the owner still calls dn_tcp_close(). */
	void (*reset)(void *ctx, struct dn_tcp_conn *c, int err);
	/* TCP is done with the connection and its rings; the pointer dies
	 * after this returns.  Called only for connections that had rings
	 * (or an owner), possibly from inside dn_tcp_close(). */
	void (*freed)(void *ctx, struct dn_tcp_conn *c, void *owner);
};

/* ---- per-uid accounting of TIME-WAIT entries and orphans ----
 * A connection carries the uid of the app that opened it (dn_tcp_set_uid,
 * inherited by a listener's children) so what outlives the app is still
 * charged to it.  DN_TCP_UID_NONE: not charged to anyone. */
#define DN_TCP_UID_NONE 0xffffffffu
#define DN_TCP_UID_BUCKETS 64u

struct dn_tcp_clist {                 /* oldest first */
	struct dn_tcp_conn *head, *tail;
	uint32_t n;
};

struct dn_tcp_uidacct {
	uint32_t uid;
	uint32_t refs;                    /* connections tagged with it */
	struct dn_tcp_clist tw, orph;
	struct dn_tcp_uidacct *next;      /* hash chain */
	struct dn_tcp_uidacct *dnext;     /* over a cap: checked on leave */
	bool dirty;
};

/* ---- per-worker state, embedded in struct dn_stack ---- */
#define DN_TCP_WHEEL_SLOTS 1024u      /* power of two */
#define DN_TCP_WHEEL_TICK_US 1000u    /* 1 ms */
#define DN_TCP_LISTEN_BUCKETS 64u

struct dn_tcp_wheel {
	struct dn_tcp_conn *slot[DN_TCP_WHEEL_SLOTS];   /* due within a turn */
	uint64_t used[DN_TCP_WHEEL_SLOTS / 64];         /* non-empty slots */
	struct dn_tcp_conn *far;     /* due a turn or more ahead (TIME-WAIT,
					keepalive): not walked every tick */
	uint64_t tick;               /* next tick to process */
	uint64_t far_tick;           /* tick at which far entries are next
					brought into the slots */
	uint32_t count;              /* connections linked */
	uint32_t nfar;               /* of which on the far list */
};

/* Rx bursts: connections whose ACK waits for the burst's end, at most;
 * and how many in-order segments one such ACK may cover (a stretch ACK no
 * larger than a 64 KiB GRO/LRO aggregate of 1460-byte segments). */
#define DN_TCP_ACKQ_MAX 64
#define DN_TCP_BURST_ACK_SEGS 44

struct dn_tcp {
	struct dn_tcp_conf conf;
	const struct dn_tcp_upcalls *up;
	void *up_ctx;

	/* Connections by 4-tuple: chained hash, keyed multiply-shift (hkey,
	 * from the secret), 2^ht_bits buckets, doubled when ht_count exceeds
	 * them. */
	struct dn_tcp_conn **ht;
	uint32_t ht_mask;
	uint32_t ht_count;
	uint8_t ht_bits;
	uint64_t hkey[4];

	/* Inside an Rx burst; connections owing an ACK at its end (entries
	 * of connections freed meanwhile are NULL). */
	bool in_burst;
	uint16_t nackq;
	struct dn_tcp_conn *ackq[DN_TCP_ACKQ_MAX];
	uint32_t nconns;
	/* Listeners by local port. */
	struct dn_tcp_conn *listen[DN_TCP_LISTEN_BUCKETS];
	/* All connections, for the introspection walker and fini. */
	struct dn_tcp_conn *all;

	/* RFC 6528 / 6056 / cookie secret (SipHash key).  dn_tcp_init derives
	 * a weak one from the clock; the daemon must call dn_tcp_set_secret()
	 * with random bytes (the stack core makes no OS calls). */
	uint64_t key[2];
	/* RFC 6056 algorithm 3: the shared "next_ephemeral" counter. */
	uint32_t next_ephemeral;

	struct dn_tcp_wheel wheel;

	/* Connections released while an upcall may still hold them are
	 * freed when the outermost entry point returns. */
	struct dn_tcp_conn *reap;
	int depth;

	/* RFC 5961 10: challenge ACK budget per second. */
	uint64_t chack_epoch_us;
	uint32_t chack_count;
	uint32_t chack_budget;            /* this second's (randomized) */

	/* TIME-WAIT entries and orphans, oldest first, and per uid. */
	struct dn_tcp_clist tw, orph;
	struct dn_tcp_uidacct *uids[DN_TCP_UID_BUCKETS];
	struct dn_tcp_uidacct *dirty;     /* uids over a cap */
	bool over_cap;                    /* caps to enforce on leave */
	uint32_t nreap;                   /* released, not yet freed */

	uint64_t ctr[DN_TCP_NCOUNTERS];
	uint64_t drop[DN_TCP_NDROPS];
};

/* ---- lifecycle (called by dn_stack_init / fini / poll / l3) ---- */
int dn_tcp_init(struct dn_stack *st);   /* 0 or ENOMEM */
void dn_tcp_fini(struct dn_stack *st);
void dn_tcp_set_secret(struct dn_stack *st, const uint8_t key[16]);
/* A validated IPv4 packet carrying TCP; seg points at the TCP header. */
void dn_tcp_input(struct dn_stack *st, const struct dn_ip4_info *ip,
		  const uint8_t *seg, size_t len);
/* ICMP error quoting one of our segments: quoted_ip is the quoted IPv4
 * header followed by (at least) 8 bytes of TCP header. */
void dn_tcp_icmp_error(struct dn_stack *st, uint8_t type, uint8_t code,
		       const uint8_t *quoted_ip, size_t len);
/* Timers; returns microseconds to the next one or UINT64_MAX. */
uint64_t dn_tcp_poll(struct dn_stack *st);
/* Rx bursts (see dn_stack_rx_begin in stack.h). */
void dn_tcp_rx_begin(struct dn_stack *st);
void dn_tcp_rx_end(struct dn_stack *st);

/* ---- socket API for the app manager ---- */
/* Listen on ip:port (ip 0: any local address; port 0: pick one, see
 * dn_tcp_get_addrs).  backlog bounds the accept queue (and, capped by
 * conf.syn_backlog_max, the SYN queue; beyond it SYN cookies answer).
 * Errors: EADDRINUSE, EADDRNOTAVAIL (ip not ours), ENOMEM. */
struct dn_tcp_conn *dn_tcp_listen(struct dn_stack *st, uint32_t ip,
				  uint16_t port, int backlog, void *owner,
				  int *err);
/* Start an active open.  src_ip 0: the stack's address.  The rings must
 * stay valid until freed().  connected() reports the outcome.  Errors
 * (immediate): EADDRNOTAVAIL (no free port / no source), EINVAL, ENOMEM. */
struct dn_tcp_conn *dn_tcp_connect(struct dn_stack *st, uint32_t dst_ip,
				   uint16_t dst_port, uint32_t src_ip,
				   struct dn_ring *rx, struct dn_ring *tx,
				   void *owner, int *err);
/* dn_tcp_connect, charging the connection to uid (see dn_tcp_set_uid)
 * from its first segment on. */
struct dn_tcp_conn *dn_tcp_connect_as(struct dn_stack *st, uint32_t dst_ip,
				      uint16_t dst_port, uint32_t src_ip,
				      struct dn_ring *rx, struct dn_ring *tx,
				      void *owner, uint32_t uid, int *err);
/* Charge c (and, for a listener, the connections it creates from now on)
 * to uid: its TIME-WAIT entry and its life as an orphan count against
 * the per-uid caps, and its frames against ARP's per-source bounds. */
void dn_tcp_set_uid(struct dn_tcp_conn *c, uint32_t uid);
/* TIME-WAIT entries and orphans charged to uid now. */
void dn_tcp_uid_usage(const struct dn_stack *st, uint32_t uid,
		      uint32_t *time_wait, uint32_t *orphans);
/* Pop a completed connection (rings attached by attach()); NULL if none.
 * owner may replace the owner the attach() upcall gave. */
struct dn_tcp_conn *dn_tcp_accept(struct dn_tcp_conn *listener, void *owner);
/* The app published tx bytes and/or consumed rx bytes. */
void dn_tcp_output_kick(struct dn_tcp_conn *c);
/* No more data from the app: FIN after the queued bytes (tcp_done). */
void dn_tcp_shutdown_wr(struct dn_tcp_conn *c);
/* The owner lets go (kernel close()): FIN after queued data, or RST when
 * unread rx data remains.  TCP finishes in the background and calls
 * freed() when done with the rings.  On a listener: closes it and resets
 * unaccepted connections.  The owner must not use c after this. */
void dn_tcp_close(struct dn_tcp_conn *c);
/* Send RST (if synchronized) and release (freed() is called). */
void dn_tcp_abort(struct dn_tcp_conn *c);
/* Options. */
void dn_tcp_set_nodelay(struct dn_tcp_conn *c, int on);
void dn_tcp_set_keepalive(struct dn_tcp_conn *c, int on);

/* ---- introspection ---- */
struct dn_tcp_conn_info {
	int state;                     /* enum dn_tcp_state */
	uint32_t local_ip, remote_ip;  /* host order */
	uint16_t local_port, remote_port;
	uint32_t send_q;               /* bytes in tx ring not yet acked */
	uint32_t unsent;               /* of which not sent yet */
	uint32_t recv_q;               /* bytes in rx ring not yet read */
	uint32_t snd_wnd, rcv_wnd;
	uint32_t cwnd, ssthresh;       /* bytes */
	uint32_t mss;
	uint64_t srtt_us, rttvar_us, rto_us;
	uint64_t retransmits;          /* segments retransmitted */
	uint32_t backoff;              /* consecutive RTOs */
	int cc;                        /* enum dn_tcp_cc_algo */
	int sack, wscale_snd, wscale_rcv, timestamps;
	void *owner;
};
int dn_tcp_state(const struct dn_tcp_conn *c);
void *dn_tcp_owner(const struct dn_tcp_conn *c);
void dn_tcp_get_info(const struct dn_tcp_conn *c, struct dn_tcp_conn_info *i);
void dn_tcp_get_addrs(const struct dn_tcp_conn *c, uint32_t *lip,
		      uint16_t *lport, uint32_t *rip, uint16_t *rport);
/* Walk every connection and listener; stop when cb returns nonzero. */
void dn_tcp_foreach(struct dn_stack *st,
		    int (*cb)(const struct dn_tcp_conn_info *i, void *arg),
		    void *arg);
/* Every counter and drop reason by name, then DN_TCP_NGAUGES gauges
 * (tcp_time_wait_now, tcp_orphans_now). */
#define DN_TCP_NGAUGES 2
void dn_tcp_counters_foreach(const struct dn_stack *st,
			     void (*cb)(const char *name, uint64_t value,
					void *arg),
			     void *arg);

#endif
