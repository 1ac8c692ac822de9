/*
 * Internals shared by the tcp*.c files.  Not for the app manager.
 */
#ifndef DN_TCP_INT_H
#define DN_TCP_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "stack.h"
#include "dn_ring.h"
#include "tcp_cc.h"

/* Sequence space comparisons (RFC 9293 3.4): modulo 2^32. */
#define DN_SEQ_LT(a, b)  ((int32_t)((uint32_t)(a) - (uint32_t)(b)) < 0)
#define DN_SEQ_LEQ(a, b) ((int32_t)((uint32_t)(a) - (uint32_t)(b)) <= 0)
#define DN_SEQ_GT(a, b)  DN_SEQ_LT(b, a)
#define DN_SEQ_GEQ(a, b) DN_SEQ_LEQ(b, a)
#define DN_SEQ_MAX(a, b) (DN_SEQ_GT(a, b) ? (a) : (b))
#define DN_SEQ_MIN(a, b) (DN_SEQ_LT(a, b) ? (a) : (b))

/* TCP header flags. */
#define DN_TH_FIN 0x01
#define DN_TH_SYN 0x02
#define DN_TH_RST 0x04
#define DN_TH_PSH 0x08
#define DN_TH_ACK 0x10
#define DN_TH_URG 0x20

#define DN_TCP_HLEN 20
#define DN_TCP_MAX_OPTLEN 40
#define DN_TCP_MAX_WSCALE 14       /* RFC 7323 2.3 */
#define DN_TCP_DEFAULT_MSS 536     /* RFC 9293 3.7.1 when no MSS option */
#define DN_TCP_MIN_MSS 88          /* floor against tiny MSS / PMTU abuse */
#define DN_TCP_OOO_MAX 32          /* out-of-order ranges kept per conn */
#define DN_TCP_SACK_MAX 32         /* scoreboard ranges per conn */
#define DN_TCP_DUPTHRESH 3         /* RFC 5681 / 6675 */
#define DN_TCP_TS_HZ 1000          /* timestamp clock: 1 ms (RFC 7323 5.4) */
#define DN_TCP_PAWS_IDLE_US (24ull * 24 * 3600 * 1000000) /* RFC 7323 5.5 */
#define DN_TCP_PERSIST_MIN_US 200000ull
#define DN_TCP_SYN_WINDOW 65535u   /* window in SYN segments is unscaled */

/* Parsed options (tcp_opt.c). */
struct dn_tcp_opts {
	uint8_t mss_ok, ws_ok, sackok, ts_ok;
	uint16_t mss;
	uint8_t ws;
	uint32_t tsval, tsecr;
	uint8_t nsack;
	uint32_t sack[4][2];
};

/* A segment being processed (tcp_input.c). */
struct dn_tcp_seg {
	uint32_t src, dst;       /* host order */
	uint16_t sport, dport;
	uint32_t seq, ack;
	uint16_t wnd;
	uint8_t flags;
	const uint8_t *data;
	uint32_t len;            /* payload bytes */
	struct dn_tcp_opts opt;
};

struct dn_tcp_range { uint32_t start, end; };

/* Connection flags. */
#define DN_TCPF_NODELAY     0x0001
#define DN_TCPF_KEEPALIVE   0x0002
#define DN_TCPF_FIN_QUEUED  0x0004  /* app shut down writing */
#define DN_TCPF_FIN_SENT    0x0008  /* FIN has a sequence number */
#define DN_TCPF_ORPHAN      0x0010  /* owner closed it */
#define DN_TCPF_ACK_NOW     0x0020  /* send an ACK at the end of input */
#define DN_TCPF_PASSIVE     0x0040  /* created by a listener */
#define DN_TCPF_ACCEPTQ     0x0080  /* on the listener's accept queue */
#define DN_TCPF_SACK        0x0100  /* SACK negotiated */
#define DN_TCPF_TS          0x0200  /* timestamps negotiated */
#define DN_TCPF_WS          0x0400  /* window scaling negotiated */
#define DN_TCPF_RECOVERY    0x0800  /* in fast recovery */
#define DN_TCPF_RTT_TIMING  0x1000  /* timing rtt_seq (no timestamps) */
#define DN_TCPF_EOF_SENT    0x2000  /* eof upcall delivered */
#define DN_TCPF_CONNECT_UP  0x4000  /* connected upcall pending */
#define DN_TCPF_IN_HASH     0x8000
#define DN_TCPF_FIN_RCVD    0x10000 /* peer's FIN processed */
#define DN_TCPF_OOO_FIN     0x20000 /* FIN seen beyond a hole */
#define DN_TCPF_FREED       0x40000 /* being freed */
#define DN_TCPF_WAS_ATTACHED 0x80000 /* rings belong to an owner */
#define DN_TCPF_LOSS        0x100000 /* after RTO: go-back-N */
#define DN_TCPF_OWNED       0x200000 /* the owner holds a handle */
#define DN_TCPF_RXT_MARK    0x400000 /* rxt_mark valid */
#define DN_TCPF_ACK_BURST   0x800000 /* on tcp.ackq: ACK at the Rx burst's end */

/* RACK-TLP (RFC 8985, tcp_rack.c): a log of transmissions with their
 * times, one record per segment sent (allocated with the first one). */
#define DN_TCP_RACK_RECS 512
#define DN_TCP_TXR_RETRANS 0x01  /* a retransmission */
#define DN_TCP_TXR_LOST    0x02  /* RACK says lost; not resent since */
#define DN_TCP_TXR_SEEN    0x04  /* partly SACKed: delivery counted */
struct dn_tcp_txrec {
	uint32_t start, end;         /* sequence space sent (FIN counts) */
	uint64_t xmit_us : 56;       /* when */
	uint64_t flags : 8;
};
/* What the RTX timer slot is armed for (RFC 8985 keeps one timer). */
#define DN_TCP_RTX_RTO 0
#define DN_TCP_RTX_PTO 1         /* 7.2 probe timeout */
#define DN_TCP_RTX_REO 2         /* 6.3 reordering window timeout */
struct dn_tcp_rack {
	struct dn_tcp_txrec *rec;    /* NULL: not in use */
	uint16_t nrec, last;         /* count; last appended (coalescing) */
	uint64_t xmit_us;            /* RACK.xmit_ts */
	bool xmit_valid;             /* something was delivered */
	uint32_t end_seq;            /* RACK.end_seq */
	uint64_t rtt_us;             /* RACK.rtt */
	uint64_t min_rtt_us;         /* RACK.min_RTT (0: none) */
	uint32_t fack;               /* RACK.fack: highest end delivered */
	bool fack_valid;
	bool reordering_seen;        /* RACK.reordering_seen */
	uint8_t reo_wnd_mult;
	uint64_t reo_deadline;       /* absolute us; 0: none */
	uint16_t nlost;              /* records flagged LOST (0: skip scans) */
	bool tlp_inflight;           /* TLP.end_seq valid (7.4) */
	uint32_t tlp_end_seq;
	uint8_t rtx_kind;            /* DN_TCP_RTX_* */
};

struct dn_tcp_conn {
	struct dn_stack *st;
	struct dn_tcp_conn *hnext;            /* 4-tuple hash chain */
	struct dn_tcp_conn *anext, *aprev;    /* list of all */
	struct dn_tcp_conn *wnext, *wprev;    /* wheel slot list */
	uint64_t wdeadline;                   /* when linked in the wheel */
	uint32_t wslot;
	bool in_wheel;

	uint32_t laddr, faddr;
	uint16_t lport, fport;
	uint8_t state;
	uint32_t flags;
	void *owner;
	struct dn_ring *rx, *tx;

	/* Listener. */
	struct dn_tcp_conn *parent;           /* child: its listener */
	struct dn_tcp_conn *qnext;            /* accept queue link */
	struct dn_tcp_conn *aq_head, *aq_tail;
	uint32_t backlog, aq_len, synq_len;

	/* Send sequence space (RFC 9293 3.3.1). */
	uint32_t iss, snd_una, snd_nxt, snd_max, snd_wnd, snd_wl1, snd_wl2;
	uint32_t max_snd_wnd;
	uint32_t tx_seq;         /* sequence number of the tx ring's head byte */
	uint32_t fin_seq;        /* valid with FIN_SENT */
	uint8_t snd_wscale, rcv_wscale;
	uint16_t mss;            /* max payload per segment we send */
	uint16_t peer_mss;       /* from the MSS option (or 536) */
	uint16_t adv_mss;        /* what we advertised */
	uint16_t pmtu_mss;       /* from ICMP frag-needed, 0 none */

	/* Receive sequence space. */
	uint32_t irs, rcv_nxt, rcv_adv;  /* rcv_adv: right edge advertised */
	uint32_t ooo_fin_seq;
	struct dn_tcp_range ooo[DN_TCP_OOO_MAX];   /* sorted, disjoint */
	uint8_t nooo;
	uint8_t unacked_segs;    /* full segments received since last ACK */
	/* Most recent OOO range first, for SACK blocks (RFC 2018 4). */
	struct dn_tcp_range last_ooo;
	/* Receive-ring growth: in-order bytes since rcvq_start_us. */
	uint64_t rcvq_start_us;
	uint32_t rcvq_bytes;

	/* Timestamps (RFC 7323). */
	uint32_t ts_recent, ts_offset;
	uint64_t ts_recent_us;
	uint32_t last_ack_sent;

	/* RTT / RTO (RFC 6298). */
	uint64_t srtt_us, rttvar_us, rto_us;
	uint32_t rtt_seq;
	uint64_t rtt_start_us;
	uint8_t backoff;         /* consecutive RTO expirations */
	uint8_t probes;          /* keepalive / persist probes unanswered */
	uint64_t last_rx_us;
	uint64_t last_tx_us;     /* last new data sent (idle restart) */
	uint32_t rto_tsval;      /* our TSval when the RTO last resent */

	/* Congestion control. */
	uint32_t cwnd, ssthresh;
	uint32_t recover;        /* NewReno / RFC 6675 RecoveryPoint */
	uint32_t high_rxt;       /* RFC 6675 HighRxt */
	uint32_t rxt_mark;       /* snd_max when snd_una's hole was resent */
	uint32_t rxt_hole_end;   /* end of that retransmission */
	uint32_t dupacks;
	uint32_t bytes_acked;    /* for CA byte counting */
	const struct dn_tcp_cc_ops *cc;
	union dn_tcp_cc_state ccs;

	/* SACK scoreboard (tcp_sack.c): SACKed ranges above snd_una. */
	struct dn_tcp_range sb[DN_TCP_SACK_MAX];
	uint8_t nsb;
	uint32_t sacked_bytes;

	struct dn_tcp_rack rack;

	uint64_t timer[DN_TCP_NTIMERS];       /* absolute us; 0 = off */
	uint64_t retransmits;
	int soft_err;

	/* Accounting (tcp.c): the uid charged, and the TIME-WAIT or orphan
	 * lists the connection is on (global and the uid's). */
	uint32_t uid;
	struct dn_tcp_uidacct *acct;
	uint8_t aclass;                       /* DN_TCP_AC_* */
	struct dn_tcp_conn *gnext, *gprev, *unext, *uprev;
	/* Last challenge ACK or out-of-window duplicate ACK (rate limit). */
	uint64_t last_oow_us;
};

#define DN_TCP_AC_NONE   0
#define DN_TCP_AC_TW     1
#define DN_TCP_AC_ORPHAN 2

/* Closed by its owner, nobody to tell: limits for orphans apply. */
static inline bool dn_tcp_is_orphan(const struct dn_tcp_conn *c)
{
	return (c->flags & (DN_TCPF_ORPHAN | DN_TCPF_OWNED)) == DN_TCPF_ORPHAN;
}

static inline struct dn_tcp *dn_tcp_of(struct dn_tcp_conn *c)
{
	return &c->st->tcp;
}
#define DN_TCP_CTR(st, n) ((st)->tcp.ctr[DN_TCP_C_##n]++)
#define DN_TCP_DROP(st, n) ((st)->tcp.drop[DN_TCP_DROP_##n]++)

static inline bool dn_tcp_synchronized(const struct dn_tcp_conn *c)
{
	return c->state >= DN_TCP_ESTABLISHED;
}

/* tcp.c */
void dn_tcp_enter(struct dn_stack *st);
void dn_tcp_leave(struct dn_stack *st);
uint64_t dn_tcp_siphash(const uint64_t key[2], const void *data, size_t len);
struct dn_tcp_conn *dn_tcp_lookup(struct dn_stack *st, uint32_t laddr,
				  uint16_t lport, uint32_t faddr,
				  uint16_t fport);
struct dn_tcp_conn *dn_tcp_lookup_listener(struct dn_stack *st,
					   uint32_t laddr, uint16_t lport);
struct dn_tcp_conn *dn_tcp_conn_alloc(struct dn_stack *st);
void dn_tcp_hash_insert(struct dn_tcp_conn *c);
void dn_tcp_hash_remove(struct dn_tcp_conn *c);
/* Inside an Rx burst (dn_stack_rx_begin/end): queue c's owed ACK for the
 * burst's end.  False when it must go now (no burst, queue full, or
 * DN_TCP_BURST_ACK_SEGS segments unacknowledged). */
bool dn_tcp_ack_at_burst_end(struct dn_tcp_conn *c);
void dn_tcp_set_state(struct dn_tcp_conn *c, int state);
/* The connection is finished from TCP's side: CLOSED, upcalls done; frees
 * it if the owner has let go (orphan) or it never had an owner. */
void dn_tcp_done(struct dn_tcp_conn *c);
/* Put c on the TIME-WAIT or orphan lists its state and flags call for. */
void dn_tcp_acct_update(struct dn_tcp_conn *c);
/* Per connection rate limit of challenge / out-of-window ACKs: true when
 * one went out less than conf.invalid_ratelimit_us ago (else notes now). */
bool dn_tcp_oow_limited(struct dn_tcp_conn *c);
/* tcp_acct.c: caps over, enforced on leave; room in a full table;
 * a connection going; everything going. */
void dn_tcp_acct_enforce(struct dn_stack *st);
bool dn_tcp_acct_make_room(struct dn_stack *st);
void dn_tcp_acct_forget(struct dn_tcp_conn *c);
void dn_tcp_acct_fini(struct dn_stack *st);
/* Fatal error on a connection: notify the owner, go to CLOSED. */
void dn_tcp_drop_conn(struct dn_tcp_conn *c, int err);
uint32_t dn_tcp_isn(struct dn_stack *st, uint32_t laddr, uint16_t lport,
		    uint32_t faddr, uint16_t fport);
void dn_tcp_conn_init_params(struct dn_tcp_conn *c);
void dn_tcp_established(struct dn_tcp_conn *c);
uint32_t dn_tcp_initial_window(const struct dn_tcp_conn *c);
/* Child finished the handshake: attach rings, queue for accept.  Returns
 * false (and resets the child) when refused. */
bool dn_tcp_child_established(struct dn_tcp_conn *c);
void dn_tcp_upcall_readable(struct dn_tcp_conn *c);
void dn_tcp_upcall_writable(struct dn_tcp_conn *c);
void dn_tcp_upcall_eof(struct dn_tcp_conn *c);
uint32_t dn_tcp_ts_now(const struct dn_tcp_conn *c);
size_t dn_tcp_tx_queued(struct dn_tcp_conn *c);  /* ring bytes, 0 if bad */
size_t dn_tcp_rx_space(struct dn_tcp_conn *c);
size_t dn_tcp_rx_unread(struct dn_tcp_conn *c);

/* tcp_opt.c */
void dn_tcp_parse_opts(const uint8_t *p, size_t len, bool syn,
		       struct dn_tcp_opts *o);

/* tcp_output.c */
/* Send what the windows allow (and FIN); may send nothing. */
void dn_tcp_output(struct dn_tcp_conn *c);
void dn_tcp_send_ack(struct dn_tcp_conn *c);
void dn_tcp_send_syn(struct dn_tcp_conn *c);    /* SYN or SYN-ACK */
void dn_tcp_send_rst_conn(struct dn_tcp_conn *c);
/* Reply RST to a segment without a connection (RFC 9293 3.10.7.1). */
void dn_tcp_send_rst_reply(struct dn_stack *st, const struct dn_tcp_seg *s);
/* Retransmit len bytes starting at seq (data only, FIN if it is there). */
uint32_t dn_tcp_send_range(struct dn_tcp_conn *c, uint32_t seq, uint32_t len,
			   bool rexmit);
void dn_tcp_send_challenge_ack(struct dn_tcp_conn *c);
void dn_tcp_send_probe(struct dn_tcp_conn *c, bool keepalive);
uint32_t dn_tcp_rcv_window(struct dn_tcp_conn *c);
void dn_tcp_send_syn_cookie(struct dn_stack *st, const struct dn_tcp_seg *s,
			    uint32_t isn, uint16_t mss);
uint16_t dn_tcp_our_mss(struct dn_stack *st);
uint8_t dn_tcp_pick_wscale(struct dn_tcp_conn *c);
uint32_t dn_tcp_flight(const struct dn_tcp_conn *c);
/* Data bytes in the tx ring not sent yet. */
uint32_t dn_tcp_unsent(struct dn_tcp_conn *c);

/* tcp_input.c */
void dn_tcp_rto_sample(struct dn_tcp_conn *c, uint64_t rtt_us);
/* Start fast recovery (once per window: callers check RECOVERY/LOSS). */
void dn_tcp_enter_recovery(struct dn_tcp_conn *c);

/* tcp_rack.c: RACK-TLP (RFC 8985) */
/* RACK applies: enabled, SACK negotiated and the log allocated. */
bool dn_tcp_rack_active(const struct dn_tcp_conn *c);
void dn_tcp_rack_free(struct dn_tcp_conn *c);
/* [seq, end) went out now (end includes a FIN). */
void dn_tcp_rack_on_send(struct dn_tcp_conn *c, uint32_t seq, uint32_t end,
			 bool rexmit);
/* After an ACK updated snd_una and the scoreboard: RACK update (6.1),
 * loss detection (6.2); returns the number of records newly marked lost. */
uint32_t dn_tcp_rack_on_ack(struct dn_tcp_conn *c);
/* Lowest lost range not resent since it was marked, at most one MSS. */
bool dn_tcp_rack_next_lost(const struct dn_tcp_conn *c, uint32_t *seq,
			   uint32_t *len);
/* Unsacked bytes above snd_una marked lost and not resent (for pipe). */
uint32_t dn_tcp_rack_lost_bytes(const struct dn_tcp_conn *c);
/* RTO: every record is resent by go-back-N; forget them (6.3). */
void dn_tcp_rack_on_rto(struct dn_tcp_conn *c);
/* Arm the RTX slot for a PTO or the reordering timer where they apply
 * (after an ACK, or after new data went out). */
void dn_tcp_rack_arm(struct dn_tcp_conn *c, bool new_data);
/* The RTX slot fired armed as kind (PTO or REO). */
void dn_tcp_rack_timeout(struct dn_tcp_conn *c, uint8_t kind);

/* tcp_timer.c */
void dn_tcp_timer_set(struct dn_tcp_conn *c, int t, uint64_t delay_us);
void dn_tcp_timer_clear(struct dn_tcp_conn *c, int t);
void dn_tcp_timer_clear_all(struct dn_tcp_conn *c);
bool dn_tcp_timer_on(const struct dn_tcp_conn *c, int t);
/* Arm the RTX timer if data is outstanding, else persist if needed. */
void dn_tcp_timer_rearm_rtx(struct dn_tcp_conn *c);
uint64_t dn_tcp_wheel_poll(struct dn_stack *st);

/* tcp_sack.c */
void dn_tcp_sack_update(struct dn_tcp_conn *c, const struct dn_tcp_opts *o);
void dn_tcp_sack_advance(struct dn_tcp_conn *c);   /* after snd_una moved */
void dn_tcp_sack_clear(struct dn_tcp_conn *c);
bool dn_tcp_sack_is_sacked(const struct dn_tcp_conn *c, uint32_t seq,
			   uint32_t *run_end);
uint32_t dn_tcp_sack_pipe(const struct dn_tcp_conn *c);
/* RFC 6675 NextSeg() for retransmission: a lost, unSACKed, not yet
 * retransmitted range; false when none. */
bool dn_tcp_sack_next_lost(const struct dn_tcp_conn *c, uint32_t *seq,
			   uint32_t *len);
bool dn_tcp_sack_next_hole(const struct dn_tcp_conn *c, uint32_t *seq,
			   uint32_t *len);
bool dn_tcp_sack_loss_detected(const struct dn_tcp_conn *c);
uint32_t dn_tcp_sack_bytes_in(const struct dn_tcp_conn *c, uint32_t a,
			      uint32_t b);
/* Receiver side: SACK blocks to send. */
int dn_tcp_sack_blocks(const struct dn_tcp_conn *c, uint32_t blk[][2],
		       int max);

#endif
